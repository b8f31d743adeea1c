//! Bad input gets a typed error and changes nothing on disk.

mod common;

use std::sync::Arc;

use arrow_array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use common::{batch, relaxed, schema, tree};
use floe::{Error, Table};

fn table(dir: &tempfile::TempDir) -> Table {
    let t = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    t.append(&[batch(0, 3)]).unwrap();
    t
}

fn assert_untouched(t: &Table, before: &[String], err: Error, check: impl Fn(&Error) -> bool) {
    assert!(check(&err), "unexpected error: {err:?}");
    assert_eq!(tree(t.path()), before, "nothing may be written on {err}");
    assert_eq!(Table::open(t.path()).unwrap().version(), 2);
}

fn rb(fields: Vec<Field>, cols: Vec<arrow_array::ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), cols).unwrap()
}

/// id long!, i int, l long, dec decimal(5,2), ts timestamp.
fn exact_schema() -> floe::spec::Schema {
    use floe::spec::{PrimitiveType as P, Schema};
    Schema::builder()
        .required("id", P::Long)
        .optional("i", P::Int)
        .optional("l", P::Long)
        .optional("dec", P::Decimal { precision: 5, scale: 2 })
        .optional("ts", P::Timestamp)
        .build()
        .unwrap()
}

#[test]
fn wrong_type_is_a_schema_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let before = tree(t.path());
    let bad = rb(vec![Field::new("id", DataType::Utf8, false)], vec![Arc::new(StringArray::from(vec!["x"]))]);
    let err = t.append(&[bad]).unwrap_err();
    assert_untouched(&t, &before, err, |e| matches!(e, Error::SchemaMismatch { field, .. } if field == "id"));
}

#[test]
fn missing_required_column_is_a_schema_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let before = tree(t.path());
    let bad = rb(vec![Field::new("value", DataType::Float64, true)], vec![Arc::new(Float64Array::from(vec![1.0]))]);
    let err = t.append(&[bad]).unwrap_err();
    assert_untouched(&t, &before, err, |e| matches!(e, Error::SchemaMismatch { field, .. } if field == "id"));
}

#[test]
fn missing_optional_column_is_filled_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let ok = rb(vec![Field::new("id", DataType::Int64, false)], vec![Arc::new(Int64Array::from(vec![9]))]);
    t.append(&[ok]).unwrap();
    assert_eq!(common::ids(&t), vec![0, 1, 2, 9]);
}

#[test]
fn extra_column_is_a_schema_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let before = tree(t.path());
    let bad = rb(
        vec![Field::new("id", DataType::Int64, false), Field::new("surprise", DataType::Int32, true)],
        vec![Arc::new(Int64Array::from(vec![1])), Arc::new(Int32Array::from(vec![1]))],
    );
    let err = t.append(&[bad]).unwrap_err();
    assert_untouched(&t, &before, err, |e| matches!(e, Error::SchemaMismatch { field, .. } if field == "surprise"));
}

#[test]
fn null_in_required_field_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let before = tree(t.path());
    let bad =
        rb(vec![Field::new("id", DataType::Int64, true)], vec![Arc::new(Int64Array::from(vec![Some(1), None, None]))]);
    let err = t.append(&[bad]).unwrap_err();
    assert_untouched(
        &t,
        &before,
        err,
        |e| matches!(e, Error::NullInRequiredField { field, null_count: 2 } if field == "id"),
    );
}

#[test]
fn a_bad_batch_after_a_good_one_aborts_the_whole_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let before = tree(t.path());
    let mut tx = t.new_transaction();
    tx.append(&batch(10, 5)).unwrap();
    let bad = rb(vec![Field::new("id", DataType::Utf8, false)], vec![Arc::new(StringArray::from(vec!["x"]))]);
    assert!(tx.append(&bad).is_err());
    drop(tx);
    assert_eq!(tree(t.path()), before);
}

fn corrupt_latest(t: &Table, f: impl Fn(Vec<u8>) -> Vec<u8>) -> std::path::PathBuf {
    let p = t.path().join("metadata/v2.metadata.json");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, f(bytes)).unwrap();
    p
}

#[test]
fn corrupt_and_truncated_metadata_are_typed_errors() {
    type Mutation = Box<dyn Fn(Vec<u8>) -> Vec<u8>>;
    let cases: Vec<(&str, Mutation)> = vec![
        ("truncated", Box::new(|b: Vec<u8>| b[..b.len() / 2].to_vec())),
        ("empty", Box::new(|_| Vec::new())),
        ("garbage", Box::new(|_| b"\x00\xffnot json".to_vec())),
        ("wrong shape", Box::new(|_| br#"{"format-version":2,"table-uuid":5}"#.to_vec())),
        (
            "dangling current snapshot",
            Box::new(|b: Vec<u8>| {
                let mut v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                v["current-snapshot-id"] = serde_json::json!(12345);
                serde_json::to_vec(&v).unwrap()
            }),
        ),
    ];
    for (name, f) in cases {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        let p = corrupt_latest(&t, f);
        let before = tree(t.path());
        match Table::open(t.path()) {
            Err(Error::CorruptMetadata { path, .. }) => assert_eq!(path, p, "{name}"),
            other => panic!("{name}: expected CorruptMetadata, got {other:?}"),
        }
        assert!(matches!(Table::open_metadata_file(&p), Err(Error::CorruptMetadata { .. })), "{name}");
        assert_eq!(tree(t.path()), before, "{name}: nothing written");
    }
}

#[test]
fn corrupt_manifest_list_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let list = t.resolve_path(&t.current_snapshot().unwrap().manifest_list).unwrap();
    let bytes = std::fs::read(&list).unwrap();
    std::fs::write(&list, &bytes[..bytes.len() - 7]).unwrap();
    let err = t.scan().to_batches().unwrap_err();
    assert!(matches!(err, Error::CorruptMetadata { .. }), "{err:?}");
}

#[test]
fn unsupported_format_versions_are_refused() {
    for v in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let t = table(&dir);
        corrupt_latest(&t, |b| {
            let mut m: serde_json::Value = serde_json::from_slice(&b).unwrap();
            m["format-version"] = serde_json::json!(v);
            serde_json::to_vec(&m).unwrap()
        });
        let err = Table::open(t.path()).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "v{v}: {err:?}");
    }
}

#[test]
fn a_version_with_another_table_uuid_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    // Another table's v3 lands in our directory.
    let other = Table::create_with(dir.path().join("other"), schema(), relaxed()).unwrap();
    other.append(&[batch(0, 1)]).unwrap();
    other.append(&[batch(1, 1)]).unwrap();
    std::fs::copy(other.path().join("metadata/v3.metadata.json"), t.path().join("metadata/v3.metadata.json")).unwrap();
    let err = t.refresh().unwrap_err();
    assert!(matches!(err, Error::TableUuidChanged { .. }), "{err:?}");
    let err = t.append(&[batch(9, 1)]).unwrap_err();
    assert!(matches!(err, Error::TableUuidChanged { .. }), "{err:?}");
}

#[test]
fn metadata_paths_escaping_the_root_are_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.metadata.json");
    std::fs::write(&victim, b"precious").unwrap();
    let t = Table::create_with(
        dir.path().join("t"),
        schema(),
        relaxed().property("write.metadata.previous-versions-max", "1"),
    )
    .unwrap();
    t.append(&[batch(0, 1)]).unwrap();
    // Forge a metadata log entry pointing outside the table.
    corrupt_latest(&t, |b| {
        let mut m: serde_json::Value = serde_json::from_slice(&b).unwrap();
        m["metadata-log"] =
            serde_json::json!([{"timestamp-ms": 1, "metadata-file": format!("file://{}", victim.display())}]);
        serde_json::to_vec(&m).unwrap()
    });
    let t = Table::open_with(t.path(), relaxed()).unwrap();
    t.append(&[batch(1, 1)]).unwrap();
    t.append(&[batch(2, 1)]).unwrap();
    // The version files that left the log are deleted after an append returns.
    floe::testing::settle(&t);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
}

// ------------------------------------------------------------------ exact values

/// `Table::append` converts an Arrow type only where no value can change (widening, or a
/// value-by-value check for nanosecond timestamps); anything else is
/// `Error::SchemaMismatch` naming the column, and nothing is written.
#[test]
fn append_converts_arrow_types_only_exactly() {
    use arrow_array::{ArrayRef, Decimal128Array, TimestampNanosecondArray, UInt64Array};
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create_with(dir.path().join("t"), exact_schema(), relaxed()).unwrap();
    let before = tree(t.path());
    let one = |name: &str, array: ArrayRef| {
        rb(
            vec![Field::new("id", DataType::Int64, false), Field::new(name, array.data_type().clone(), true)],
            vec![Arc::new(Int64Array::from(vec![1])), array],
        )
    };
    let refused: Vec<(&str, ArrayRef)> = vec![
        ("l", Arc::new(Float64Array::from(vec![2.0]))),
        ("l", Arc::new(UInt64Array::from(vec![2]))),
        ("l", Arc::new(StringArray::from(vec!["2"]))),
        ("i", Arc::new(Int64Array::from(vec![2]))),
        ("dec", Arc::new(Float64Array::from(vec![0.5]))),
        ("dec", Arc::new(Decimal128Array::from(vec![12_345]).with_precision_and_scale(10, 4).unwrap())),
        ("dec", Arc::new(Decimal128Array::from(vec![1]).with_precision_and_scale(7, 2).unwrap())),
        ("ts", Arc::new(TimestampNanosecondArray::from(vec![1_001]))),
    ];
    for (name, array) in refused {
        let what = format!("{name} from {}", array.data_type());
        let err = t.append(&[one(name, array)]).unwrap_err();
        assert!(matches!(&err, Error::SchemaMismatch { field, .. } if field == name), "{what}: {err:?}");
        assert_eq!(tree(t.path()), before, "{what}: nothing may be written");
        assert_eq!(Table::open(t.path()).unwrap().version(), 1, "{what}");
    }
    // Exact conversions are accepted.
    t.append(&[
        one("l", Arc::new(Int32Array::from(vec![7]))),
        one("dec", Arc::new(Decimal128Array::from(vec![5]).with_precision_and_scale(3, 1).unwrap())),
        one("ts", Arc::new(TimestampNanosecondArray::from(vec![2_000]))),
    ])
    .unwrap();
}

/// `Table::get` with keys of another Arrow type converts them exactly too: a `Float64`
/// key is refused for a `long` column instead of being truncated into another key.
#[test]
fn get_converts_key_types_only_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let t = table(&dir);
    let keys = |array: arrow_array::ArrayRef| rb(vec![Field::new("id", array.data_type().clone(), true)], vec![array]);
    let err = t.get(&["id"], &keys(Arc::new(Float64Array::from(vec![2.9])))).unwrap_err();
    assert!(matches!(&err, Error::SchemaMismatch { field, .. } if field == "id"), "{err:?}");
    let found = t.get(&["id"], &keys(Arc::new(Int32Array::from(vec![2])))).unwrap();
    assert_eq!(found.iter().map(RecordBatch::num_rows).sum::<usize>(), 1);
}
