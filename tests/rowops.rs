//! Row-level operations (copy-on-write delete, overwrite, upsert, insert-if-absent, get)
//! through the public API, and every cell of the conflict matrix in docs/conflicts.md that involves
//! them, each by interleaving two real transactions on one table.

mod common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use floe::Operation;
use floe::expr::{Predicate, col};
use floe::spec::EntryStatus;
use floe::spec::PrimitiveType;
use floe::testing::read_manifest;
use floe::{Error, Isolation, Table};

use common::{batch, ids, relaxed, rows, schema};

/// 4 files of 100 rows: ids 0..400, file k = k*100..(k+1)*100.
fn four_files(dir: &std::path::Path) -> Table {
    let table = Table::create_with(dir.join("t"), schema(), relaxed()).unwrap();
    for k in 0..4 {
        table.append(&[batch(k * 100, 100)]).unwrap();
    }
    table
}

fn live_files(table: &Table) -> usize {
    table.scan().plan().unwrap().files.len()
}

/// Rows (id, name, value) for the test schema.
/// id → name, sorted by id.
fn names(table: &Table) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in table.scan().select(["id", "name"]).to_batches().unwrap() {
        let ids = b.column(0).as_primitive::<Int64Type>();
        let names = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            out.push((ids.value(i), names.value(i).to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn delete_removes_whole_files_and_rewrites_partial_ones() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    let mut tx = table.new_transaction();
    // File 1 (100..200) wholly, file 2 (200..300) partly.
    let changes = tx.delete(col("id").between(100, 249)).unwrap();
    assert_eq!(changes.files_scanned, 2);
    assert_eq!((changes.files_removed, changes.files_rewritten), (1, 1));
    assert_eq!((changes.rows_removed, changes.rows_copied), (150, 50));
    // Nothing visible before the commit.
    assert_eq!(ids(&table).len(), 400);
    let report = tx.commit().unwrap();
    assert_eq!((report.removed_files, report.removed_records), (2, 200));
    let expected: Vec<i64> = (0..100).chain(250..400).collect();
    assert_eq!(ids(&table), expected);
    assert_eq!(live_files(&table), 3);

    // The snapshot records the operation and the spec's deleted-* counts, and the
    // manifests hold DELETED entries for the two files.
    let snap = table.current_snapshot().unwrap();
    assert_eq!(snap.operation(), "overwrite");
    assert_eq!(snap.summary_i64("deleted-data-files"), Some(2));
    assert_eq!(snap.summary_i64("deleted-records"), Some(200));
    assert_eq!(snap.summary_i64("added-records"), Some(50));
    assert_eq!(snap.summary_i64("total-records"), Some(250));
    let mut deleted = 0;
    for m in table.manifests(&snap).unwrap() {
        let path = floe::testing::uri_to_path(&m.manifest_path);
        let manifest = read_manifest(&path, &std::fs::read(&path).unwrap(), Some(&m)).unwrap();
        deleted += manifest.entries.iter().filter(|e| e.status == EntryStatus::Deleted).count();
    }
    assert_eq!(deleted, 2);

    // A delete that only removes whole files is a `delete` snapshot.
    let report = table.delete(col("id").lt(100)).unwrap();
    let changes = report.rows.clone().unwrap_or_default();
    assert_eq!((changes.files_removed, changes.files_rewritten, changes.rows_copied), (1, 0, 0));
    assert_eq!(report.removed_records, 100);
    assert_eq!(table.current_snapshot().unwrap().operation(), "delete");
    assert_eq!(ids(&table), (250..400).collect::<Vec<_>>());

    // Matching nothing changes nothing.
    let changes = table.delete(col("id").gt(10_000)).unwrap().rows.unwrap_or_default();
    assert_eq!(changes, floe::RowChanges::default());
    assert_eq!(ids(&table).len(), 150);

    // Time travel still sees the deleted rows.
    assert_eq!(table.scan().as_of_version(5).count().unwrap(), 400);
}

#[test]
fn delete_uses_sql_semantics_and_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    let b = RecordBatch::try_new(
        Arc::new(schema().to_arrow()),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(StringArray::from(vec![Some("a"), None, Some("b")])),
            Arc::new(Float64Array::from(vec![None, None, None])),
        ],
    )
    .unwrap();
    table.append(&[b]).unwrap();
    // `name != 'a'` does not select the null row: it stays.
    table.delete(col("name").ne("a")).unwrap();
    assert_eq!(ids(&table), vec![1, 2]);
    table.delete(Predicate::parse("name is null").unwrap()).unwrap();
    assert_eq!(ids(&table), vec![1]);
    let before = common::tree(dir.path());
    assert!(matches!(table.delete(col("nope").eq(1)), Err(Error::Predicate(_))));
    assert!(matches!(table.delete(col("id").eq("x")), Err(Error::Predicate(_))));
    assert_eq!(common::tree(dir.path()), before, "a bad predicate writes nothing");
    // A row-level operation must come first in its transaction.
    let mut tx = table.new_transaction();
    tx.append(&batch(9, 1)).unwrap();
    assert!(matches!(tx.delete(col("id").eq(1)), Err(Error::InvalidArgument(_))));
}

#[test]
fn overwrite_and_overwrite_all() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    let report = table.overwrite(col("id").lt(150), &[rows(&[1000, 1001], "new")]).unwrap();
    let changes = report.rows.clone().unwrap_or_default();
    assert_eq!((changes.rows_removed, changes.rows_added, changes.rows_copied), (150, 2, 50));
    assert_eq!(report.added_records, 52);
    assert_eq!(table.current_snapshot().unwrap().operation(), "overwrite");
    let ids_now = ids(&table);
    assert_eq!(ids_now.len(), 252);
    assert!(ids_now.contains(&1000) && !ids_now.contains(&149) && ids_now.contains(&150));

    let mut tx = table.new_transaction();
    let changes = tx.overwrite_all(&[rows(&[7], "only")]).unwrap();
    assert_eq!((changes.rows_removed, changes.rows_added), (252, 1));
    tx.commit().unwrap();
    assert_eq!(names(&table), vec![(7, "only-7".to_string())]);
    assert_eq!(table.current_snapshot().unwrap().summary_i64("total-records"), Some(1));
}

#[test]
fn upsert_replaces_existing_keys_and_inserts_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    let changes = table.upsert(&["id"], &[rows(&[5, 150, 999], "v2")]).unwrap().rows.unwrap_or_default();
    assert_eq!((changes.rows_removed, changes.rows_added), (2, 3));
    assert_eq!(changes.files_scanned, 2, "only the files whose bounds hold 5 or 150 are read");
    let all = names(&table);
    assert_eq!(all.len(), 401);
    assert!(all.contains(&(5, "v2-5".into())) && all.contains(&(999, "v2-999".into())));
    assert!(all.contains(&(6, "row-6".into())));
    assert_eq!(all.iter().filter(|(i, _)| *i == 150).count(), 1);

    // get by key.
    let got = table.get(&["id"], &rows(&[150, 6, 4242], "k")).unwrap();
    let mut got_names: Vec<String> =
        got.iter().flat_map(|b| b.column(1).as_string::<i32>().iter().map(|s| s.unwrap().to_string())).collect();
    got_names.sort();
    assert_eq!(got_names, vec!["row-6".to_string(), "v2-150".to_string()]);

    // Duplicate or null keys in one call are refused before anything is written.
    assert!(matches!(table.upsert(&["id"], &[rows(&[1, 1], "x")]), Err(Error::InvalidArgument(_))));
    assert!(matches!(table.upsert(&["nope"], &[rows(&[1], "x")]), Err(Error::InvalidArgument(_))));
}

#[test]
fn composite_keys() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    // Key (id, name).
    table.append(&[rows(&[1, 2, 3], "a")]).unwrap();
    table.append(&[rows(&[1, 2], "b")]).unwrap();
    let mut upd = rows(&[2], "a");
    upd = RecordBatch::try_new(
        upd.schema(),
        vec![upd.column(0).clone(), upd.column(1).clone(), Arc::new(Float64Array::from(vec![42.0]))],
    )
    .unwrap();
    table.upsert(&["id", "name"], &[upd]).unwrap();
    let got = table.get(&["id", "name"], &rows(&[2], "a")).unwrap();
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert_eq!(got[0].column(2).as_primitive::<Float64Type>().value(0), 42.0);
    assert_eq!(ids(&table), vec![1, 1, 2, 2, 3]);
}

#[test]
fn insert_if_absent_keeps_the_first_submission() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    let r = table.insert_if_absent(&["id"], &[rows(&[1, 2, 2], "first")]).unwrap().rows.unwrap_or_default();
    assert_eq!(r.rows_added, 2);
    assert_eq!(r.keys_skipped, vec![vec![floe::spec::Datum::Long(2)]]);
    let r = table.insert_if_absent(&["id"], &[rows(&[2, 3], "second")]).unwrap().rows.unwrap_or_default();
    assert_eq!(r.rows_added, 1);
    assert_eq!(r.keys_skipped, vec![vec![floe::spec::Datum::Long(2)]]);
    assert_eq!(names(&table), vec![(1, "first-1".into()), (2, "first-2".into()), (3, "second-3".into())]);
}

/// Keys of several types, composite, matched exactly: a string, a decimal, a
/// timestamptz, a uuid and a double (`-0.0` and `0.0` are different keys, NaN equals
/// NaN, as in predicates); a key with a null is refused in the input and matches no
/// row of the table.
#[test]
fn keys_of_every_kind_match_exactly() {
    use arrow_array::{Decimal128Array, FixedSizeBinaryArray, TimestampMicrosecondArray};
    use floe::spec::{Datum, Schema};
    let schema = Schema::builder()
        .optional("s", PrimitiveType::String)
        .optional("dec", PrimitiveType::Decimal { precision: 10, scale: 2 })
        .optional("tz", PrimitiveType::Timestamptz)
        .optional("u", PrimitiveType::Uuid)
        .optional("f", PrimitiveType::Double)
        .optional("v", PrimitiveType::Long)
        .build()
        .unwrap();
    type Key<'a> = (Option<&'a str>, i128, i64, u8, f64);
    let batch = |keys: &[Key<'_>], v: i64| {
        RecordBatch::try_new(
            Arc::new(schema.to_arrow()),
            vec![
                Arc::new(StringArray::from(keys.iter().map(|k| k.0).collect::<Vec<_>>())),
                Arc::new(
                    Decimal128Array::from(keys.iter().map(|k| k.1).collect::<Vec<_>>())
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
                Arc::new(
                    TimestampMicrosecondArray::from(keys.iter().map(|k| k.2).collect::<Vec<_>>()).with_timezone("UTC"),
                ),
                Arc::new(FixedSizeBinaryArray::try_from_iter(keys.iter().map(|k| [k.3; 16])).unwrap()),
                Arc::new(Float64Array::from(keys.iter().map(|k| k.4).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(vec![v; keys.len()])),
            ],
        )
        .unwrap()
    };
    let key_columns = ["s", "dec", "tz", "u", "f"];
    let base: Vec<Key<'_>> = vec![
        (Some("a"), 100, 1, 1, 0.0),
        (Some("a"), 100, 1, 1, -0.0),
        (Some("b"), -5, -1, 2, f64::NAN),
        (None, 1, 1, 1, 1.0),
    ];
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema.clone(), relaxed()).unwrap();
    table.append(&[batch(&base, 0)]).unwrap();
    let values = |table: &Table| {
        let mut out: Vec<i64> = table
            .scan()
            .select(["v"])
            .to_batches()
            .unwrap()
            .iter()
            .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        out.sort();
        out
    };

    // 0.0 replaces only 0.0; NaN replaces NaN; a new key is inserted; the row whose
    // `s` is null, read from the same file, matches no key and is kept.
    let c = table
        .upsert(&key_columns, &[batch(&[base[0], base[2], (Some("c"), 0, 0, 0, 0.0)], 1)])
        .unwrap()
        .rows
        .unwrap_or_default();
    assert_eq!((c.rows_removed, c.rows_added), (2, 3));
    assert_eq!(values(&table), vec![0, 0, 1, 1, 1]);
    let got = table.get(&key_columns, &batch(&[base[1], base[2], (Some("a"), 100, 2, 1, 0.0)], 9)).unwrap();
    let got: Vec<i64> = got.iter().flat_map(|b| b.column(5).as_primitive::<Int64Type>().values().to_vec()).collect();
    assert_eq!(got.len(), 2, "-0.0 and NaN found, the other timestamp not: {got:?}");

    // A null key value is refused, naming its column and row, before anything is written.
    let version = table.version();
    for r in [
        table.upsert(&key_columns, &[batch(&[base[0], base[3]], 2)]).map(|_| ()),
        table.insert_if_absent(&key_columns, &[batch(&[base[0], base[3]], 2)]).map(|_| ()),
        table.get(&key_columns, &batch(&[base[3]], 2)).map(|_| ()),
    ] {
        let e = r.unwrap_err();
        assert!(matches!(&e, Error::InvalidArgument(m) if m.contains("\"s\" is null in row")), "{e:?}");
    }
    assert_eq!(table.version(), version);
    // insert_if_absent skips only keys the table holds (-0.0 is not 0.0), reporting
    // them as values.
    let r = table.insert_if_absent(&["f", "v"], &[batch(&[base[3], base[0]], 0)]).unwrap().rows.unwrap_or_default();
    assert_eq!(r.rows_added, 1);
    assert_eq!(r.keys_skipped, vec![vec![Datum::Double(1.0), Datum::Long(0)]]);
}

// ---------------------------------------------------------------------------------------
// The conflict matrix (docs/conflicts.md). Rows: this transaction; columns: what landed first.
// ---------------------------------------------------------------------------------------

fn assert_conflict<T: std::fmt::Debug>(r: Result<T, Error>, cell: &str) {
    match r {
        Err(e) if e.is_concurrent_modification() => {}
        other => panic!("{cell}: expected ConcurrentModification, got {other:?}"),
    }
}

/// A compaction: rewrite the given files' rows into one new file (operation replace).
fn compact(table: &Table, pred: Predicate) -> floe::Transaction {
    let mut tx = table.new_transaction();
    let files = table.scan().filter(pred.clone()).plan().unwrap().files;
    let data = table.scan().filter(pred).to_batches().unwrap();
    tx.remove_files(files).unwrap();
    for b in &data {
        tx.append(b).unwrap();
    }
    tx.set_operation(Operation::Replace);
    tx
}

/// A schema change: add an optional column.
fn add_column(table: &Table) -> floe::Transaction {
    table.update_schema().add_column("extra", PrimitiveType::String).into_transaction().unwrap()
}

/// Expire every snapshot but the current one.
fn expire_old(table: &Table) -> floe::Transaction {
    let mut tx = table.new_transaction();
    floe::testing::update_metadata(&mut tx, |md| {
        let cur = md.current_snapshot_id();
        md.snapshots_mut().retain(|s| Some(s.snapshot_id) == cur);
        md.snapshot_log_mut().retain(|e| Some(e.snapshot_id) == cur);
        Ok(())
    });
    tx
}

#[test]
fn matrix_delete_vs_append() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    // Serializable: an append that may hold matching rows conflicts.
    let mut ours = table.new_transaction();
    ours.delete(col("id").lt(50)).unwrap();
    table.append(&[rows(&[10], "late")]).unwrap();
    assert_conflict(ours.commit(), "delete × append (matching, serializable)");
    assert!(ids(&table).contains(&0), "the failed delete left nothing");

    // An append whose bounds exclude the predicate does not conflict (no false conflict).
    let mut ours = table.new_transaction();
    ours.delete(col("id").lt(50)).unwrap();
    table.append(&[rows(&[5000, 5001], "far")]).unwrap();
    let report = ours.commit().unwrap();
    assert_eq!(report.rebased_over, 1);
    let now = ids(&table);
    // Row 10 (appended before this transaction began) is deleted; the far rows stay.
    assert!(!now.contains(&10) && !now.contains(&0) && now.contains(&5000));

    // Snapshot isolation: the matching append rebases and its rows survive.
    let mut ours = table.new_transaction();
    ours.with_isolation(Isolation::Snapshot).delete(col("id").lt(100)).unwrap();
    table.append(&[rows(&[20], "late")]).unwrap();
    ours.commit().unwrap();
    let now = ids(&table);
    assert!(now.contains(&20) && !now.contains(&10) && !now.contains(&60));
}

#[test]
fn matrix_delete_vs_delete_and_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    // Both touch file 0: conflict.
    let mut ours = table.new_transaction();
    ours.delete(col("id").lt(10)).unwrap();
    table.delete(col("id").between(50, 60)).unwrap();
    assert_conflict(ours.commit(), "delete × delete (common file)");
    // Different files: rebase.
    let mut ours = table.new_transaction();
    ours.delete(col("id").between(100, 110)).unwrap();
    table.delete(col("id").between(300, 310)).unwrap();
    ours.commit().unwrap();
    let now = ids(&table);
    assert!(!now.contains(&105) && !now.contains(&305) && now.contains(&0));
    // Overwrite against an overwrite of a common file: conflict.
    let mut ours = table.new_transaction();
    ours.overwrite(col("id").eq(200), &[rows(&[200], "ours")]).unwrap();
    table.overwrite(col("id").eq(201), &[rows(&[201], "theirs")]).unwrap();
    assert_conflict(ours.commit(), "overwrite × overwrite (common file)");
    // Overwrite against a landed overwrite that added rows matching ours: conflict
    // (serializable), even though no file is common.
    let mut ours = table.new_transaction();
    ours.overwrite(col("id").ge(390), &[rows(&[390], "ours")]).unwrap();
    table.overwrite(col("id").eq(-1), &[rows(&[395], "theirs")]).unwrap();
    assert_conflict(ours.commit(), "overwrite × overwrite (added matching rows)");
}

#[test]
fn matrix_delete_vs_compaction_schema_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    // A compaction that rewrote a file we delete from: conflict.
    let mut ours = table.new_transaction();
    ours.delete(col("id").eq(150)).unwrap();
    compact(&table, col("id").ge(100).and(col("id").lt(300))).commit().unwrap();
    assert_conflict(ours.commit(), "delete × compaction (common file)");
    // A compaction of other files: rebase. (Its rewritten file holds ids 100..300 and
    // would match `id >= 350` only by bounds if they overlapped; they do not.)
    let mut ours = table.new_transaction();
    ours.delete(col("id").ge(350)).unwrap();
    compact(&table, col("id").lt(100)).commit().unwrap();
    ours.commit().unwrap();
    assert_eq!(ids(&table).len(), 350);
    // A schema change: conflict.
    let mut ours = table.new_transaction();
    ours.delete(col("id").eq(5)).unwrap();
    add_column(&table).commit().unwrap();
    assert_conflict(ours.commit(), "delete × schema change");
    // Expiring snapshots older than our base: rebase.
    table.refresh().unwrap();
    let mut ours = table.new_transaction();
    ours.delete(col("id").eq(5)).unwrap();
    expire_old(&table).commit().unwrap();
    ours.commit().unwrap();
    assert!(!ids(&table).contains(&5));
}

#[test]
fn matrix_append_compaction_and_schema_vs_delete() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    // append × delete: rebase.
    let mut ours = table.new_transaction();
    ours.append(&rows(&[7777], "a")).unwrap();
    table.delete(col("id").lt(100)).unwrap();
    ours.commit().unwrap();
    assert!(ids(&table).contains(&7777) && !ids(&table).contains(&1));
    // compaction × delete that deleted a file it rewrites: conflict.
    let ours = compact(&table, col("id").ge(100).and(col("id").lt(200)));
    table.delete(col("id").eq(150)).unwrap();
    assert_conflict(ours.commit(), "compaction × delete (common file)");
    // compaction × delete of other files: rebase.
    let ours = compact(&table, col("id").ge(200).and(col("id").lt(300)));
    table.delete(col("id").eq(350)).unwrap();
    ours.commit().unwrap();
}

/// docs/conflicts.md, last row: a schema change conflicts with a delete that landed first.
#[test]
fn matrix_schema_change_vs_delete() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    let ours = add_column(&table);
    table.delete(col("id").eq(360)).unwrap();
    assert_conflict(ours.commit(), "schema change × delete");
}

#[test]
fn matrix_upsert_and_insert_if_absent() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path());
    // Two upserts of the same new key: the second conflicts (no duplicate key).
    let mut ours = table.new_transaction();
    ours.upsert(&["id"], &[rows(&[1000], "ours")]).unwrap();
    table.upsert(&["id"], &[rows(&[1000], "theirs")]).unwrap();
    assert_conflict(ours.commit(), "upsert × upsert (same new key)");
    // Same existing key: conflict too (common file).
    let mut ours = table.new_transaction();
    ours.upsert(&["id"], &[rows(&[5], "ours")]).unwrap();
    table.upsert(&["id"], &[rows(&[5], "theirs")]).unwrap();
    assert_conflict(ours.commit(), "upsert × upsert (same existing key)");
    // Disjoint keys in disjoint files: rebase.
    let mut ours = table.new_transaction();
    ours.upsert(&["id"], &[rows(&[150], "ours")]).unwrap();
    table.upsert(&["id"], &[rows(&[350], "theirs")]).unwrap();
    ours.commit().unwrap();
    let all = names(&table);
    assert!(all.contains(&(150, "ours-150".into())) && all.contains(&(350, "theirs-350".into())));
    assert_eq!(all.iter().filter(|(i, _)| *i == 1000).count(), 1);
    // Snapshot isolation lets the duplicate through (that is what it means).
    let mut ours = table.new_transaction();
    ours.with_isolation(Isolation::Snapshot).upsert(&["id"], &[rows(&[2000], "ours")]).unwrap();
    table.upsert(&["id"], &[rows(&[2000], "theirs")]).unwrap();
    ours.commit().unwrap();
    assert_eq!(ids(&table).iter().filter(|i| **i == 2000).count(), 2);

    // insert_if_absent × a landed insert of the same key: conflict (first one wins).
    let mut ours = table.new_transaction();
    let r = ours.insert_if_absent(&["id"], &[rows(&[3000], "ours")]).unwrap();
    assert!(r.keys_skipped.is_empty());
    table.insert_if_absent(&["id"], &[rows(&[3000], "theirs")]).unwrap();
    assert_conflict(ours.commit(), "insert_if_absent × insert_if_absent");
    // insert_if_absent × a landed delete of a key it saw (and skipped): conflict.
    let mut ours = table.new_transaction();
    let r = ours.insert_if_absent(&["id"], &[rows(&[3000], "again")]).unwrap();
    assert_eq!(r.keys_skipped.len(), 1);
    table.delete(col("id").eq(3000)).unwrap();
    assert_conflict(ours.commit(), "insert_if_absent × delete of a seen key");
    // upsert × a schema change: conflict.
    let mut ours = table.new_transaction();
    ours.upsert(&["id"], &[rows(&[6], "ours")]).unwrap();
    add_column(&table).commit().unwrap();
    assert_conflict(ours.commit(), "upsert × schema change");
}

/// Writers scoped to different partitions never conflict: serializable deletes and
/// overwrites judge the other's added files by their partition values.
#[test]
fn partition_scoped_writers_do_not_conflict() {
    use floe::spec::PartitionSpec;
    let dir = tempfile::tempdir().unwrap();
    let schema = schema();
    let spec = PartitionSpec::builder(&schema).identity("name").build().unwrap();
    let table = Table::create_partitioned(dir.path().join("t"), schema, spec, relaxed()).unwrap();
    let tagged = |ids: std::ops::Range<i64>, part: &str| {
        let ids: Vec<i64> = ids.collect();
        RecordBatch::try_new(
            Arc::new(common::schema().to_arrow()),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from(vec![part; ids.len()])),
                Arc::new(Float64Array::from(ids.iter().map(|i| *i as f64).collect::<Vec<_>>())),
            ],
        )
        .unwrap()
    };
    table.append(&[tagged(0..100, "eu"), tagged(0..100, "us")]).unwrap();
    // Same id ranges in both partitions: only the partition values tell them apart.
    let mut eu = table.new_transaction();
    let c = eu.overwrite(col("name").eq("eu").and(col("id").lt(50)), &[tagged(0..10, "eu")]).unwrap();
    assert_eq!(c.files_scanned, 1, "only the eu file is read");
    let mut us = table.new_transaction();
    us.delete(col("name").eq("us").and(col("id").lt(50))).unwrap();
    us.commit().unwrap();
    eu.commit().unwrap();
    assert_eq!(table.scan().filter(col("name").eq("eu")).count().unwrap(), 60);
    assert_eq!(table.scan().filter(col("name").eq("us")).count().unwrap(), 50);
    // In one partition, an added row that matches conflicts; one that does not, not.
    let mut a = table.new_transaction();
    a.delete(col("name").eq("us").and(col("id").eq(60))).unwrap();
    table.overwrite(col("name").eq("us").and(col("id").eq(999)), &[tagged(999..1000, "us")]).unwrap();
    a.commit().unwrap();
    let mut a = table.new_transaction();
    a.delete(col("name").eq("us").and(col("id").eq(61))).unwrap();
    table.overwrite(col("name").eq("us").and(col("id").eq(998)), &[tagged(61..62, "us")]).unwrap();
    assert_conflict(a.commit(), "delete × overwrite adding a matching row in the same partition");
}

/// `Table::delete` (and the other row-level helpers) redo a conflicting operation under
/// the handle's `RetryPolicy`: with `RetryPolicy::none()` a concurrent commit adding a
/// matching row fails it at once; with a generous policy it is redone from a fresh read
/// and deletes that row too.
#[test]
fn row_operation_retries_follow_the_handles_retry_policy() {
    for (policy, redone) in
        [(floe::RetryPolicy::none(), false), (floe::RetryPolicy::default().with_max_attempts(20), true)]
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        Table::create_with(&path, schema(), relaxed()).unwrap().append(&[batch(0, 10)]).unwrap();
        // Runs a hook once, the next time a version is staged (inside a commit, just
        // before its link): a concurrent commit at a chosen moment.
        let local = floe::storage::LocalStorage::new(std::fs::canonicalize(&path).unwrap());
        let storage = floe::storage::fault::FaultStorage::new(Arc::new(local));
        let table = Table::open_with(&path, relaxed().retry(policy).storage(storage.clone())).unwrap();
        // The concurrent writer does not queue on the advisory lock the row operation
        // holds while it writes its temp file.
        let mut other_options = relaxed();
        other_options.advisory_lock = false;
        let other = Table::open_with(&path, other_options).unwrap();
        storage.before(floe::storage::fault::Op::Stage, move || {
            other.append(&[batch(50, 3)]).unwrap();
        });
        let res = table.delete(col("id").lt(100));
        let fresh = Table::open(&path).unwrap();
        if redone {
            let report = res.unwrap_or_else(|e| panic!("{policy:?}: redone from a fresh read: {e}"));
            let changes = report.rows.clone().expect("a delete reports its row changes");
            assert_eq!(changes.rows_removed, 13, "{policy:?}: the concurrently added rows are deleted too");
            assert_eq!(report.version, 4);
            assert!(ids(&fresh).is_empty());
        } else {
            let e = res.expect_err("RetryPolicy::none(): no redo after the conflict");
            assert!(e.is_concurrent_modification(), "{e:?}");
            assert_eq!(ids(&fresh), vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 50, 51, 52]);
            assert_eq!(fresh.version(), 3, "nothing of the row operation committed");
        }
    }
}
