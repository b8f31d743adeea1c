//! Merge-on-read through the public API: position and equality delete files written by
//! floe (`Transaction::delete_positions`, `Transaction::delete_equal`, and the row-level
//! operations under `write.*.mode = merge-on-read`) are honoured by every read path
//! (scans with projection and filters, time travel, counts, `get`), follow the spec's
//! sequence-number rules, and commit only when no deleted row can come back.

mod common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch};
use floe::expr::col;
use floe::{Error, RetryPolicy, Table, TableOptions};

use common::{batch, ids, mor, relaxed, rows, schema};

/// 4 files of 100 rows: ids 0..400, file k = k*100..(k+1)*100.
fn four_files(dir: &std::path::Path, options: TableOptions) -> Table {
    let table = Table::create_with(dir.join("t"), schema(), options).unwrap();
    for k in 0..4 {
        table.append(&[batch(k * 100, 100)]).unwrap();
    }
    table
}

/// The live data file whose `id` bounds hold `id`, and the row position of `id` in it
/// (files hold consecutive ids).
fn file_of(table: &Table, id: i64) -> String {
    let plan = table.scan().plan().unwrap();
    let bound = |m: &std::collections::BTreeMap<i32, Vec<u8>>| i64::from_le_bytes(m[&1].clone().try_into().unwrap());
    let f = plan.files.iter().find(|f| bound(&f.lower_bounds) <= id && id <= bound(&f.upper_bounds)).unwrap();
    f.file_path.clone()
}

fn key_batch(keys: &[i64]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(keys.to_vec()))],
    )
    .unwrap()
}

fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out: Vec<i64> =
        batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    out.sort();
    out
}

fn all_but(n: i64, gone: &[i64]) -> Vec<i64> {
    (0..n).filter(|i| !gone.contains(i)).collect()
}

#[test]
fn position_deletes_apply_to_scans_counts_get_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path(), relaxed());
    let before = table.version();
    let mut tx = table.new_transaction();
    tx.delete_positions(&file_of(&table, 0), &[0, 5, 99]).unwrap();
    tx.delete_positions(&file_of(&table, 250), &[50]).unwrap();
    tx.commit().unwrap();

    let gone = [0, 5, 99, 250];
    assert_eq!(ids(&table), all_but(400, &gone));
    assert_eq!(table.scan().count().unwrap(), 396);
    // Manifests alone still say 400: the plan says it has deletes.
    let plan = table.scan().plan().unwrap();
    assert!(plan.has_deletes());
    assert_eq!(plan.record_count(), 400);
    assert_eq!(plan.file_deletes(0).len(), 1, "the delete file of file 0 applies to it only");
    assert_eq!(plan.file_deletes(1).len(), 0);
    assert_eq!(plan.metrics.delete_files, 2);

    // Filters, with and without pruning, and projections that leave out the id.
    for prune in [true, false] {
        let (b, m) = table.scan().filter(col("id").lt(10)).prune(prune).to_batches_with_metrics().unwrap();
        assert_eq!(ids_of(&b), vec![1, 2, 3, 4, 6, 7, 8, 9], "prune={prune}");
        // File 0 has position deletes: it is read whole, so all three deleted rows
        // are decoded and dropped.
        // Unpruned, file 2 is read too (one more deleted row).
        assert_eq!(m.rows_deleted, if prune { 3 } else { 4 }, "prune={prune}");
    }
    assert_eq!(table.scan().filter(col("id").lt(10)).count().unwrap(), 8);
    let names = table.scan().select(["name"]).to_batches().unwrap();
    assert_eq!(names.iter().map(|b| b.num_rows()).sum::<usize>(), 396);
    let streamed: usize = table.scan().batch_size(7).to_iter().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(streamed, 396);

    // get: a deleted key is not found, its neighbour is.
    assert!(table.get(&["id"], &key_batch(&[5])).unwrap().iter().all(|b| b.num_rows() == 0));
    assert_eq!(ids_of(&table.get(&["id"], &key_batch(&[5, 6, 250, 251])).unwrap()), vec![6, 251]);

    // Time travel to before the deletes sees every row.
    assert_eq!(table.scan().as_of_version(before).count().unwrap(), 400);
    assert_eq!(ids_of(&table.scan().as_of_version(before).to_batches().unwrap()), all_but(400, &[]));
}

#[test]
fn equality_deletes_apply_only_to_older_data() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    table.append(&[batch(0, 100)]).unwrap();
    let mut tx = table.new_transaction();
    tx.delete_equal(&["id"], &key_batch(&[1, 2, 150])).unwrap();
    // Rows appended in the same commit as the equality deletes are not deleted by them
    // (strictly smaller sequence numbers only).
    tx.append(&rows(&[150], "same-commit")).unwrap();
    tx.commit().unwrap();
    // Appended after the deletes: kept too.
    table.append(&[rows(&[1], "later")]).unwrap();
    let got = ids(&table);
    let mut want: Vec<i64> = all_but(100, &[1, 2]);
    want.extend([1, 150]);
    want.sort();
    assert_eq!(got, want);
    assert_eq!(table.scan().count().unwrap(), 100);
    // Equality columns not selected are read for the deletes and not returned.
    let b = table.scan().select(["name"]).to_batches().unwrap();
    assert!(b.iter().all(|b| b.num_columns() == 1));
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 100);
    assert_eq!(table.scan().filter(col("id").lt(3)).count().unwrap(), 2, "ids 0 and the later 1");
}

#[test]
fn equality_deletes_past_the_cap_are_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let options = relaxed().property(floe::EQUALITY_DELETE_MAX_ROWS, "2");
    let table = Table::create_with(dir.path().join("t"), schema(), options).unwrap();
    table.append(&[batch(0, 10)]).unwrap();
    let mut tx = table.new_transaction();
    tx.delete_equal(&["id"], &key_batch(&[1, 2, 3])).unwrap();
    tx.commit().unwrap();
    match table.scan().to_batches() {
        Err(Error::ResourceLimit { limit: 2, property, .. }) => assert_eq!(property, floe::EQUALITY_DELETE_MAX_ROWS),
        other => panic!("expected ResourceLimit, got {other:?}"),
    }
}

#[test]
fn merge_on_read_delete_and_upsert_write_position_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path(), mor(relaxed()));
    let files_before: Vec<String> = table.scan().plan().unwrap().files.iter().map(|f| f.file_path.clone()).collect();

    let report = table.delete(col("id").gt(9).and(col("id").lt(20))).unwrap();
    let rows_changed = report.rows.unwrap();
    assert_eq!(rows_changed.rows_removed, 10);
    assert_eq!(rows_changed.rows_copied, 0, "merge-on-read copies nothing");
    assert_eq!(rows_changed.delete_files_added, 1);
    let files_after: Vec<String> = table.scan().plan().unwrap().files.iter().map(|f| f.file_path.clone()).collect();
    assert_eq!(files_before, files_after, "no data file rewritten");
    assert_eq!(ids(&table), (0..400).filter(|i| !(10..20).contains(i)).collect::<Vec<_>>());

    // Upsert keys 5..15 (10..15 were deleted: they come back as new rows) and 395..405.
    let keys: Vec<i64> = (5..15).chain(395..405).collect();
    let report = table.upsert(&["id"], &[rows(&keys, "new")]).unwrap();
    let r = report.rows.unwrap();
    assert_eq!(r.rows_removed, 10, "5..10 and 395..400 replaced");
    assert_eq!(r.rows_added, 20);
    let mut want: Vec<i64> = (0..405).filter(|i| !(15..20).contains(i)).collect();
    want.sort();
    assert_eq!(ids(&table), want);
    let got = table.get(&["id"], &key_batch(&[7, 397, 100])).unwrap();
    let mut names: Vec<String> = got
        .iter()
        .flat_map(|b| {
            (0..b.num_rows()).map(|i| b.column(1).as_string::<i32>().value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    assert_eq!(names, vec!["new-397", "new-7", "row-100"]);

    // A delete that matches a whole file's remaining rows removes the file.
    table.delete(col("id").gt(299).and(col("id").lt(395))).unwrap();
    assert_eq!(table.scan().count().unwrap(), want.len() as i64 - 95);
    // Copy-on-write again: deleted rows stay deleted when a file with deletes is rewritten.
    let mut tx = table.new_transaction();
    tx.set_property("write.delete.mode", "copy-on-write");
    tx.commit().unwrap();
    table.delete(col("id").eq(0)).unwrap();
    let left = ids(&table);
    assert!(!left.contains(&0), "{left:?}");
    assert!(!left.contains(&17), "{left:?}");
    assert!(!left.contains(&300), "{left:?}");
    assert_eq!(left.len() as i64, table.scan().count().unwrap());
}

#[test]
fn deletes_for_a_file_removed_concurrently_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path(), relaxed().retry(RetryPolicy::default()));
    let target = file_of(&table, 0);
    // Ours: position deletes on file 0.
    let mut ours = table.new_transaction();
    ours.delete_positions(&target, &[1]).unwrap();
    // Theirs lands first: copy-on-write removes file 0 (rewriting its other rows).
    table.delete(col("id").eq(50)).unwrap();
    match ours.commit() {
        Err(e) if e.is_concurrent_modification() => assert!(e.to_string().contains("no longer live"), "{e}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(ids(&table).contains(&1), "our delete did not land");

    // The other way round: a copy-on-write delete of a file that concurrently got
    // position deletes would resurrect the deleted row.
    let target = file_of(&table, 160);
    let other = Table::open(dir.path().join("t")).unwrap();
    let mut cow = table.new_transaction();
    cow.delete(col("id").eq(160)).unwrap();
    let mut tx = other.new_transaction();
    tx.delete_positions(&target, &[70]).unwrap(); // id 170
    tx.commit().unwrap();
    match cow.commit() {
        Err(e) if e.is_concurrent_modification() => assert!(e.to_string().contains("may delete rows"), "{e}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    table.refresh().unwrap();
    let left = ids(&table);
    assert!(!left.contains(&170) && left.contains(&160));
}

#[test]
fn bad_delete_requests_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path(), relaxed());
    let v = table.version();
    let mut tx = table.new_transaction();
    assert!(matches!(tx.delete_positions("file:///nope.parquet", &[0]), Err(Error::InvalidArgument(_))));
    assert!(matches!(tx.delete_positions(&file_of(&table, 0), &[100]), Err(Error::InvalidArgument(_))));
    assert!(matches!(tx.delete_equal(&["nope"], &key_batch(&[1])), Err(Error::InvalidArgument(_))));
    assert!(matches!(tx.delete_equal(&[], &key_batch(&[1])), Err(Error::InvalidArgument(_))));
    tx.abort();
    assert_eq!(table.version(), v);
    assert_eq!(table.scan().count().unwrap(), 400);
}

#[test]
fn compaction_applies_deletes_drops_them_and_maintenance_keeps_them_referenced() {
    use floe::{CompactOptions, ExpireOptions, OrphanOptions};
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path(), mor(relaxed()));
    table.delete(col("id").gt(9).and(col("id").lt(20))).unwrap(); // file 0: position deletes
    table.delete(col("id").eq(150)).unwrap(); // file 1: position deletes
    let mut tx = table.new_transaction();
    tx.delete_equal(&["id"], &key_batch(&[250, 350])).unwrap(); // global: files 0..3
    tx.commit().unwrap();
    let want = ids(&table);
    assert_eq!(want.len(), 400 - 10 - 1 - 2);

    // Orphan cleanup (zero grace) and verification see the delete files as referenced.
    let orphans = table
        .remove_orphans(&OrphanOptions::default().older_than(std::time::Duration::ZERO).allow_short_grace(true))
        .unwrap();
    assert!(orphans.deleted_paths.is_empty(), "{:?}", orphans.deleted_paths);
    assert!(table.verify_deep().unwrap().is_ok());
    assert_eq!(ids(&table), want);

    // No file is small here (fraction 0): without applying deletes there is nothing to
    // do; with a threshold of 2 delete files only file 0 (position + equality) and
    // file 1 qualify, so the global equality delete file stays.
    let none_small = || CompactOptions::default().small_file_fraction(0.0);
    let r = table.compact(&none_small().apply_deletes(false)).unwrap();
    assert_eq!(r.data_files_added, 0, "{r}");
    let r = table.compact(&none_small().delete_file_threshold(2)).unwrap();
    assert_eq!(r.data_files_removed, 2, "{r}");
    assert_eq!(r.delete_files_removed, 2, "the two position delete files: {r:?}");
    assert_eq!(r.rows_deleted, 11, "{r:?}");
    assert_eq!(ids(&table), want);
    assert!(table.scan().plan().unwrap().has_deletes(), "the equality delete still applies to files 2 and 3");

    // Threshold 1 (the default): the rest goes, and the equality delete file with it.
    let r = table.compact(&none_small()).unwrap();
    assert_eq!(r.delete_files_removed, 1, "{r:?}");
    assert_eq!(r.rows_deleted, 2, "{r:?}");
    let plan = table.scan().plan().unwrap();
    assert!(!plan.has_deletes());
    assert_eq!(plan.record_count(), want.len() as i64, "manifests are exact again");
    assert_eq!(ids(&table), want);
    let snap = table.current_snapshot().unwrap();
    assert_eq!(snap.summary.get("total-delete-files").map(String::as_str), Some("0"), "{:?}", snap.summary);

    // Expiry deletes the applied delete files with their snapshots; the rows stay.
    let r = table
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    assert!(r.deleted_paths.iter().any(|p| p.to_string_lossy().contains("deletes-")), "{:?}", r.deleted_paths);
    assert_eq!(ids(&table), want);
    assert!(table.verify_deep().unwrap().is_ok());
}

/// Partition-scoped matching on a bucketed table: merge-on-read deletes in several
/// partitions (and a spec change afterwards) remove exactly the rows asked for, with
/// and without partition pruning, and each delete file carries its data file's
/// partition and spec.
#[test]
fn position_deletes_on_a_partitioned_table_match_by_partition() {
    use floe::PartitionSpec;
    let dir = tempfile::tempdir().unwrap();
    let s = schema();
    let spec = PartitionSpec::builder(&s).bucket("id", 4).build().unwrap();
    let table = Table::create_partitioned(dir.path().join("t"), s, spec, mor(relaxed())).unwrap();
    table.append(&[batch(0, 200)]).unwrap();
    table.append(&[batch(200, 200)]).unwrap();
    let r = table.delete(col("id").is_in(vec![3i64, 77, 150, 201, 399])).unwrap();
    assert!(r.rows.unwrap().delete_files_added >= 3, "one per touched data file");
    let gone = [3, 77, 150, 201, 399];
    assert_eq!(ids(&table), all_but(400, &gone));
    for id in gone {
        assert_eq!(table.scan().filter(col("id").eq(id)).count().unwrap(), 0, "{id}");
    }
    assert_eq!(table.scan().filter(col("id").eq(4)).count().unwrap(), 1);
    // Every delete file has its data file's partition (spec and value).
    let plan = table.scan().plan().unwrap();
    for (i, f) in plan.files.iter().enumerate() {
        for d in plan.file_deletes(i) {
            assert_eq!(d.file.partition, f.partition);
            assert_eq!(d.spec_id, 0);
        }
    }
    // After a spec change (unpartitioned), the old files' deletes still apply by their
    // own spec; rows of new files with the same ids are not deleted.
    table.update_spec().remove_field("id_bucket").commit().unwrap();
    table.append(&[rows(&[3, 150], "new")]).unwrap();
    let mut want = all_but(400, &gone);
    want.extend([3, 150]);
    want.sort();
    assert_eq!(ids(&table), want);
    // A merge-on-read delete on the new spec's file is scoped to spec 1.
    table.delete(col("name").eq("new-3")).unwrap();
    want.retain(|i| *i != 3);
    assert_eq!(ids(&table), want);
    let plan = table.scan().plan().unwrap();
    assert!(plan.file_deletes(plan.files.len() - 1).iter().all(|d| d.spec_id == 1));
}

/// Two merge-on-read deletes of different rows of the same file, from transactions on
/// the same base: the second rebases over the first (copy-on-write would conflict, both
/// removing the file), and both rows are gone.
#[test]
fn concurrent_merge_on_read_deletes_in_one_file_both_commit() {
    let dir = tempfile::tempdir().unwrap();
    let table = four_files(dir.path(), mor(relaxed()));
    let mut a = table.new_transaction();
    a.delete(col("id").eq(10)).unwrap();
    let mut b = table.new_transaction();
    b.delete(col("id").eq(20)).unwrap();
    a.commit().unwrap();
    let r = b.commit().unwrap();
    assert!(r.rebased_over >= 1);
    table.refresh().unwrap();
    assert_eq!(ids(&table), all_but(400, &[10, 20]));
}
