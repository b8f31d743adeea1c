//! Parallel decode of one large data file: a scan that decodes the row groups of one
//! file on several threads returns exactly what the sequential path returns (same rows,
//! same order) with projection, filters and pruning, position and equality deletes; a
//! corrupt row group is still a typed error.
//!
//! `threads(1)` is the sequential path; `threads(4)` on a one-file table decodes the
//! file's row groups on up to 4 threads. The parallel path yields no batch spanning two
//! row groups, which is how these tests see that it ran.

mod common;

use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray};
use arrow_select::concat::concat_batches;
use floe::expr::col;
use floe::{Error, Table, TableOptions, WriteOptions};

use common::{batch, relaxed, schema};

const ROWS: usize = 10_000;
const RG_ROWS: usize = 700; // 15 row groups, the last one short

/// One data file of ROWS rows in row groups of RG_ROWS.
fn one_file_table(dir: &std::path::Path, options: TableOptions) -> Table {
    let options = options.write(WriteOptions::default().row_group_size(RG_ROWS));
    let table = Table::create_with(dir.join("t"), schema(), options).unwrap();
    table.append(&[batch(0, ROWS)]).unwrap();
    assert_eq!(table.scan().plan().unwrap().files.len(), 1);
    table
}

fn all(batches: &[RecordBatch], table: &Table, columns: Option<&[&str]>) -> RecordBatch {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => {
            let scan = table.scan();
            let scan = match columns {
                Some(c) => scan.select(c.iter().copied()),
                None => scan,
            };
            Arc::new(scan.arrow_schema().unwrap())
        }
    };
    concat_batches(&schema, batches).unwrap()
}

fn sizes(batches: &[RecordBatch]) -> Vec<usize> {
    batches.iter().map(|b| b.num_rows()).collect()
}

fn streamed(scan: floe::Scan) -> Vec<RecordBatch> {
    scan.to_iter().unwrap().map(|b| b.unwrap()).collect()
}

/// Sequential and parallel, in memory and streamed: the same rows in the same order.
fn same_both_ways(table: &Table, make: impl Fn() -> floe::Scan, columns: Option<&[&str]>) -> RecordBatch {
    let seq = make().threads(1).batch_size(512).to_batches().unwrap();
    let par = make().threads(4).batch_size(512).to_batches().unwrap();
    let seq_stream = streamed(make().threads(1).batch_size(512));
    let par_stream = streamed(make().threads(4).batch_size(512));
    let expected = all(&seq, table, columns);
    assert_eq!(all(&par, table, columns), expected);
    assert_eq!(all(&seq_stream, table, columns), expected);
    assert_eq!(all(&par_stream, table, columns), expected);
    assert!(par.iter().chain(&par_stream).all(|b| b.num_rows() <= 512));
    expected
}

fn ids_of(b: &RecordBatch) -> Vec<i64> {
    b.column_by_name("id").unwrap().as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()
}

#[test]
fn full_scan_and_projection_match_the_sequential_path() {
    let dir = tempfile::tempdir().unwrap();
    let table = one_file_table(dir.path(), relaxed());
    let full = same_both_ways(&table, || table.scan(), None);
    assert_eq!(ids_of(&full), (0..ROWS as i64).collect::<Vec<_>>(), "file order kept");
    let names = full.column_by_name("name").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    assert_eq!(names.value(7_001), "row-7001");

    // The parallel path ran: its batches end at row-group boundaries (700 = 512 + 188).
    let par = sizes(&table.scan().threads(4).batch_size(512).to_batches().unwrap());
    assert_eq!(&par[..4], &[512, 188, 512, 188]);

    let projected = same_both_ways(&table, || table.scan().select(["value", "id"]), Some(&["value", "id"]));
    assert_eq!(projected.num_columns(), 2);
    assert_eq!(projected.schema().field(0).name(), "value");
    assert_eq!(ids_of(&projected), (0..ROWS as i64).collect::<Vec<_>>());
}

#[test]
fn filtered_scans_keep_their_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let table = one_file_table(dir.path(), relaxed());
    let filter = || col("id").ge(1_234i64).and(col("id").lt(8_000i64));
    let got = same_both_ways(&table, || table.scan().filter(filter()), None);
    assert_eq!(ids_of(&got), (1_234..8_000).collect::<Vec<_>>());
    let (_, seq) = table.scan().threads(1).filter(filter()).to_batches_with_metrics().unwrap();
    let (_, par) = table.scan().threads(4).filter(filter()).to_batches_with_metrics().unwrap();
    assert_eq!(seq.row_groups_skipped, par.row_groups_skipped);
    assert_eq!(par.row_groups_skipped, 1 + 3, "row groups 0 and 12..14 hold no match");
    // Nothing matches: every row group pruned, both ways.
    let none = same_both_ways(&table, || table.scan().filter(col("id").gt(1_000_000i64)), None);
    assert_eq!(none.num_rows(), 0);
}

#[test]
fn position_and_equality_deletes_apply_at_the_right_rows() {
    let dir = tempfile::tempdir().unwrap();
    let options = relaxed().property("write.delete.mode", "merge-on-read");
    let table = one_file_table(dir.path(), options);
    let file = table.scan().plan().unwrap().files[0].file_path.clone();
    // Positions at and around row-group boundaries, and the last row.
    let positions = [0u64, 1, 699, 700, 701, 1_399, 1_400, 5_000, 9_799, 9_800, 9_999];
    let mut tx = table.new_transaction();
    tx.delete_positions(&file, &positions).unwrap();
    tx.commit().unwrap();
    let keys = RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![2i64, 3_333, 7_777]))],
    )
    .unwrap();
    let mut tx = table.new_transaction();
    tx.delete_equal(&["id"], &keys).unwrap();
    tx.commit().unwrap();

    let mut gone: Vec<i64> = positions.iter().map(|&p| p as i64).collect();
    gone.extend([2, 3_333, 7_777]);
    let expected: Vec<i64> = (0..ROWS as i64).filter(|i| !gone.contains(i)).collect();
    let got = same_both_ways(&table, || table.scan(), None);
    assert_eq!(ids_of(&got), expected);
    let projected = same_both_ways(&table, || table.scan().select(["value"]), Some(&["value"]));
    assert_eq!(projected.num_rows(), expected.len());
    let filtered = same_both_ways(&table, || table.scan().filter(col("id").lt(1_500i64)), None);
    assert_eq!(ids_of(&filtered), expected.iter().copied().filter(|&i| i < 1_500).collect::<Vec<_>>());
}

#[test]
fn a_corrupt_row_group_is_a_typed_error_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let table = one_file_table(dir.path(), relaxed().write(WriteOptions::default().row_group_size(RG_ROWS)));
    let uri = table.scan().plan().unwrap().files[0].file_path.clone();
    let path = std::path::PathBuf::from(uri.strip_prefix("file://").unwrap_or(&uri));
    // Overwrite the data of row group 9's `name` chunk (past its first page header).
    let md = parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let md = parquet::file::reader::FileReader::metadata(&md).clone();
    let (start, len) = md.row_group(9).column(1).byte_range();
    let mut bytes = std::fs::read(&path).unwrap();
    let from = (start + 40) as usize;
    let to = (start + len) as usize;
    assert!(to > from + 16, "chunk of {len} bytes");
    bytes[from..to].iter_mut().enumerate().for_each(|(i, b)| *b = (i as u8).wrapping_mul(151) ^ 0x5a);
    std::fs::write(&path, &bytes).unwrap();

    for threads in [1, 4] {
        let err = table.scan().threads(threads).to_batches().unwrap_err();
        assert!(matches!(err, Error::Parquet { .. }), "threads {threads}: {err:?}");
        // Streaming: the rows of the good row groups before it, then the error, then nothing.
        let mut it = table.scan().threads(threads).batch_size(512).to_iter().unwrap();
        let mut rows = 0;
        let err = loop {
            match it.next() {
                Some(Ok(b)) => rows += b.num_rows(),
                Some(Err(e)) => break e,
                None => panic!("threads {threads}: the corrupt row group was read without error"),
            }
        };
        assert!(matches!(err, Error::Parquet { .. }), "threads {threads}: {err:?}");
        assert!(rows <= 9 * RG_ROWS + 512, "threads {threads}: {rows} rows before the error");
        assert!(it.next().is_none());
    }
}
