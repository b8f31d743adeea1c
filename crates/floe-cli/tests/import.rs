//! The library part of the command: `floe_cli::import` reads CSV, NDJSON and Parquet files
//! into batches of a table's schema, refusing every value that does not fit exactly.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use floe::Error;

fn rb(fields: Vec<Field>, cols: Vec<arrow_array::ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), cols).unwrap()
}

/// id long!, i int, l long, dec decimal(5,2), ts timestamp.
fn exact_schema() -> floe::spec::Schema {
    floe_cli::import::parse_schema("id:long!,i:int,l:long,dec:decimal(5,2),ts:timestamp").unwrap()
}

/// A Parquet file with columns `id` (Int64) and `name` of `array`'s type, rows 1 and 2.
fn parquet_file(path: &std::path::Path, name: &str, array: arrow_array::ArrayRef) {
    let batch = rb(
        vec![Field::new("id", DataType::Int64, false), Field::new(name, array.data_type().clone(), true)],
        vec![Arc::new(Int64Array::from(vec![1, 2])), array],
    );
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The first error reading `path` for `schema` through the library's import API.
fn import_error(path: &std::path::Path, schema: &floe::spec::Schema) -> Error {
    let reader = floe_cli::import::FileReader::open(path, schema, None).unwrap();
    let mut errors = reader.filter_map(|b| b.err());
    errors.next().unwrap_or_else(|| panic!("{} was read without an error", path.display()))
}

/// Through `floe_cli::import::FileReader` (what `floe append` uses), a value that does not
/// fit its column exactly is `Error::InvalidInput` naming the file, the row (line) and
/// the column, in CSV, NDJSON and Parquet alike; a Parquet column whose type cannot be
/// stored exactly names the column (every row is affected).
#[test]
fn import_refuses_inexact_values_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let schema = exact_schema();
    let at = |name: &str| dir.path().join(name);
    std::fs::write(at("l.csv"), "id,l\n1,1\n2,2.9\n").unwrap();
    std::fs::write(at("l.ndjson"), "{\"id\": 1, \"l\": 1}\n{\"id\": 2, \"l\": 2.9}\n").unwrap();
    std::fs::write(at("i.ndjson"), "{\"id\": 1}\n{\"id\": 2, \"i\": 300000000000}\n").unwrap();
    std::fs::write(at("dec.ndjson"), "{\"id\": 1}\n{\"id\": 2, \"dec\": 1.001}\n").unwrap();
    std::fs::write(at("ts.ndjson"), "{\"id\": 1}\n{\"id\": 2, \"ts\": \"2024-01-01T00:00:00.0000001\"}\n").unwrap();
    std::fs::write(at("ts-number.ndjson"), "{\"id\": 1}\n{\"id\": 2, \"ts\": 1.5}\n").unwrap();
    // A nanosecond timestamp that is not a whole microsecond, in the second row.
    let ns = arrow_array::TimestampNanosecondArray::from(vec![1_000, 1_001]);
    parquet_file(&at("ts.parquet"), "ts", Arc::new(ns));
    for (name, column) in [
        ("l.csv", "l"),
        ("l.ndjson", "l"),
        ("i.ndjson", "i"),
        ("dec.ndjson", "dec"),
        ("ts.ndjson", "ts"),
        ("ts-number.ndjson", "ts"),
        ("ts.parquet", "ts"),
    ] {
        match import_error(&at(name), &schema) {
            Error::InvalidInput { path, row, column: c, reason } => {
                assert_eq!(path, at(name));
                assert_eq!(row, Some(2), "{name}: {reason}");
                assert_eq!(c.as_deref(), Some(column), "{name}: {reason}");
            }
            e => panic!("{name}: {e:?}"),
        }
    }
    // Types that cannot hold every value exactly: refused for the column.
    parquet_file(&at("f.parquet"), "l", Arc::new(Float64Array::from(vec![1.0, 2.9])));
    parquet_file(&at("i64.parquet"), "i", Arc::new(Int64Array::from(vec![1, 2])));
    for (name, column) in [("f.parquet", "l"), ("i64.parquet", "i")] {
        match import_error(&at(name), &schema) {
            Error::InvalidInput { row: None, column: Some(c), reason, .. } => {
                assert_eq!(c, column, "{name}");
                assert!(reason.contains("cannot be stored losslessly"), "{name}: {reason}");
            }
            e => panic!("{name}: {e:?}"),
        }
    }
}

/// A text file's batches hold at most the rows asked for; a regular file's size bounds
/// its rows, so a small file is read in one batch whatever was asked, while a pipe,
/// which has no size, is read in batches of the size asked (not of one row).
#[test]
#[cfg(unix)]
fn text_inputs_are_batched_by_the_rows_asked_for_files_and_pipes_alike() {
    use floe_cli::import::{FileFormat, FileReader};
    let dir = tempfile::tempdir().unwrap();
    let schema = floe_cli::import::parse_schema("id:long!").unwrap();
    let csv: String = std::iter::once("id\n".to_string()).chain((0..2500).map(|i| format!("{i}\n"))).collect();
    let sizes = |reader: FileReader| -> Vec<usize> { reader.map(|b| b.unwrap().num_rows()).collect() };

    let file = dir.path().join("ids.csv");
    std::fs::write(&file, &csv).unwrap();
    let reader = FileReader::open_with(&file, &schema, None, floe_cli::import::DEFAULT_BATCH_ROWS).unwrap();
    assert_eq!(sizes(reader), vec![2500]);
    assert_eq!(sizes(FileReader::open_with(&file, &schema, None, 1000).unwrap()), vec![1000, 1000, 500]);

    let fifo = dir.path().join("ids.pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let writer = {
        let (fifo, csv) = (fifo.clone(), csv.clone());
        std::thread::spawn(move || std::fs::write(fifo, csv).unwrap())
    };
    let reader = FileReader::open_with(&fifo, &schema, Some(FileFormat::Csv), 1000).unwrap();
    assert_eq!(sizes(reader), vec![1000, 1000, 500]);
    writer.join().unwrap();
}
