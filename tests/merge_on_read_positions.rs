//! Row positions under pruning, merge-on-read: deletes and upserts find their rows by
//! reading only the key or predicate columns of the row groups that may match, and
//! scans of a file with position deletes still skip row groups by statistics. Either
//! way a row's position is its row group's first row plus its offset, so the rows
//! deleted are exactly the rows asked for, on row-group boundaries and past skipped
//! row groups. Every step is checked against a copy-on-write table given the same
//! operations.
//!
//! One data file of 10,000 rows (`id` = its position) in row groups of 700 rows.

mod common;

use arrow_array::{Int64Array, StringArray};
use floe::expr::col;
use floe::{Table, TableOptions, WriteOptions};

use common::{batch, ids, mor, relaxed, rows, schema};

const ROWS: usize = 10_000;
const RG_ROWS: usize = 700; // 15 row groups, the last one short

fn one_file_table(dir: &std::path::Path, name: &str, options: TableOptions) -> Table {
    let options = options.write(WriteOptions::default().row_group_size(RG_ROWS));
    let table = Table::create_with(dir.join(name), schema(), options).unwrap();
    table.append(&[batch(0, ROWS)]).unwrap();
    table
}

/// (id, name) of every row, sorted: names tell an upserted row from the original.
fn id_names(table: &Table, scan: impl Fn(&Table) -> floe::Scan) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for b in scan(table).select(["id", "name"]).to_batches().unwrap() {
        let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let name = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            out.push((id.value(i), name.value(i).to_string()));
        }
    }
    out.sort();
    out
}

fn same(cow: &Table, mor: &Table, scan: impl Fn(&Table) -> floe::Scan) -> Vec<(i64, String)> {
    let want = id_names(cow, &scan);
    assert_eq!(id_names(mor, &scan), want);
    want
}

#[test]
fn deletes_and_upserts_past_pruned_row_groups_hit_exactly_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let cow = one_file_table(dir.path(), "cow", relaxed());
    let mor = one_file_table(dir.path(), "mor", mor(relaxed()));
    let file = mor.scan().plan().unwrap().files[0].file_path.clone();

    // Row-group boundaries (699 | 700, 1399 | 1400, 9799 | 9800), the first and last
    // rows; the predicate's statistics rule out every other row group, so the rows are
    // found in row groups read after skipped ones.
    let boundary = vec![0i64, 699, 700, 1_399, 1_400, 9_799, 9_800, 9_999];
    for t in [&cow, &mor] {
        let r = t.delete(col("id").is_in(boundary.clone())).unwrap().rows.unwrap();
        assert_eq!(r.rows_removed, boundary.len() as u64);
    }
    let r = mor.delete(col("id").eq(5_000i64)).unwrap().rows.unwrap();
    assert_eq!((r.rows_removed, r.delete_files_added, r.rows_copied), (1, 1, 0));
    cow.delete(col("id").eq(5_000i64)).unwrap();
    let plan = mor.scan().plan().unwrap();
    assert_eq!(plan.files.len(), 1, "merge-on-read rewrote no data file");
    assert_eq!(plan.files[0].file_path, file);
    assert_eq!(plan.file_deletes(0).len(), 2);
    let want: Vec<i64> = (0..ROWS as i64).filter(|i| !boundary.contains(i) && *i != 5_000).collect();
    assert_eq!(ids(&mor), want);
    same(&cow, &mor, |t| t.scan());

    // A range inside one row group, and one across a boundary (a row already deleted
    // in it is not deleted twice).
    for t in [&cow, &mor] {
        t.delete(col("id").ge(1_234i64).and(col("id").lt(1_300i64))).unwrap();
        let r = t.delete(col("id").ge(2_090i64).and(col("id").le(2_110i64))).unwrap().rows.unwrap();
        assert_eq!(r.rows_removed, 21);
        let r = t.delete(col("id").ge(695i64).and(col("id").le(705i64))).unwrap().rows.unwrap();
        assert_eq!(r.rows_removed, 9, "699 and 700 were already gone");
    }
    same(&cow, &mor, |t| t.scan());

    // Upsert: keys in pruned-around row groups, a deleted key (comes back as a new
    // row), a new key.
    let keys = [701i64, 702, 7_000, 9_800, 9_998, 20_000];
    for t in [&cow, &mor] {
        let r = t.upsert(&["id"], &[rows(&keys, "new")]).unwrap().rows.unwrap();
        assert_eq!((r.rows_removed, r.rows_added), (2, 6), "701, 702 and 9,800 were deleted");
    }
    let got = same(&cow, &mor, |t| t.scan());
    assert!(got.contains(&(7_000, "new-7000".into())));
    assert!(got.contains(&(9_800, "new-9800".into())));
    assert!(!got.contains(&(7_000, "row-7000".into())));
    assert!(got.contains(&(6_999, "row-6999".into())));
    assert_eq!(mor.scan().count().unwrap(), cow.scan().count().unwrap());
    assert_eq!(mor.scan().plan().unwrap().files[0].file_path, file, "still the original data file");
}

#[test]
fn filtered_scans_of_a_file_with_position_deletes_skip_row_groups() {
    let dir = tempfile::tempdir().unwrap();
    let cow = one_file_table(dir.path(), "cow", relaxed());
    let mor = one_file_table(dir.path(), "mor", mor(relaxed()));
    let gone = vec![0i64, 1, 699, 700, 701, 1_399, 1_400, 4_242, 9_799, 9_800, 9_999];
    for t in [&cow, &mor] {
        t.delete(col("id").is_in(gone.clone())).unwrap();
    }
    assert!(mor.scan().plan().unwrap().has_deletes());
    for filter in [
        col("id").ge(690i64).and(col("id").lt(710i64)),
        col("id").ge(1_390i64).and(col("id").le(1_410i64)),
        col("id").ge(4_200i64).and(col("id").lt(4_300i64)),
        col("id").ge(9_790i64),
        col("id").is_in(vec![5i64, 700, 701, 702, 9_999]),
    ] {
        for threads in [1, 4] {
            let f = filter.clone();
            let want = same(&cow, &mor, move |t| t.scan().threads(threads).batch_size(256).filter(f.clone()));
            assert!(!want.is_empty());
            assert!(want.iter().all(|(id, _)| !gone.contains(id)));
            let (_, m) = mor.scan().threads(threads).filter(filter.clone()).to_batches_with_metrics().unwrap();
            assert_eq!(m.row_groups, 15);
            assert!(m.row_groups_skipped >= 12, "row groups skipped despite the deletes: {m:?}");
            assert!(m.rows_deleted > 0, "{m:?}");
        }
    }
    // Streaming reads agree.
    let streamed: usize = mor
        .scan()
        .filter(col("id").ge(690i64).and(col("id").lt(710i64)))
        .to_iter()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert_eq!(streamed, 20 - 3);
}

#[test]
fn equality_deleted_rows_are_not_deleted_again_and_a_fully_matched_file_goes() {
    let dir = tempfile::tempdir().unwrap();
    let options = mor(relaxed()).write(WriteOptions::default().row_group_size(RG_ROWS));
    let table = Table::create_with(dir.path().join("t"), schema(), options).unwrap();
    table.append(&[batch(0, 1_000)]).unwrap();
    table.append(&[batch(1_000, 1_000)]).unwrap();
    let mut tx = table.new_transaction();
    tx.delete_equal(&["id"], &rows(&[10, 11, 1_500], "k")).unwrap();
    tx.commit().unwrap();
    // 10 and 11 are gone already: only 12..20 are deleted by this delete.
    let r = table.delete(col("id").ge(10i64).and(col("id").lt(20i64))).unwrap().rows.unwrap();
    assert_eq!((r.rows_removed, r.delete_files_added), (8, 1));
    // Every live row of the second file (1,500 is equality-deleted): the file goes.
    let r = table.delete(col("id").ge(1_000i64)).unwrap().rows.unwrap();
    assert_eq!((r.rows_removed, r.files_removed, r.delete_files_added), (999, 1, 0));
    assert_eq!(table.scan().plan().unwrap().files.len(), 1);
    // A file with position deletes only, fully matched, goes too.
    let r = table.delete(col("id").lt(1_000i64)).unwrap().rows.unwrap();
    assert_eq!((r.rows_removed, r.files_removed), (1_000 - 10, 1));
    assert!(ids(&table).is_empty());
    assert_eq!(table.scan().count().unwrap(), 0);
}
