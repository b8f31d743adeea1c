//! Shared helpers for the integration tests: a small schema, batch builders, and a
//! way for a test to re-execute its own binary as a child process.
#![allow(dead_code)]

use std::sync::Arc;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use floe::spec::{PrimitiveType, Schema};
use floe::{Durability, Table, TableOptions};

/// id long required, name string, value double.
pub fn schema() -> Schema {
    Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("value", PrimitiveType::Double)
        .build()
        .unwrap()
}

/// Rows `start..start+n` of the test schema.
pub fn batch(start: i64, n: usize) -> RecordBatch {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("row-{i}")).collect();
    let values: Vec<f64> = ids.iter().map(|i| *i as f64 * 1.5).collect();
    RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("value", DataType::Float64, true),
        ])),
        vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(names)), Arc::new(Float64Array::from(values))],
    )
    .unwrap()
}

pub fn relaxed() -> TableOptions {
    TableOptions::default().durability(Durability::Relaxed)
}

/// Deletes and row-level merges write delete files (merge-on-read) instead of rewriting
/// data files.
pub fn mor(options: TableOptions) -> TableOptions {
    options.property("write.delete.mode", "merge-on-read").property("write.merge.mode", "merge-on-read")
}

/// Rows of the test schema with the given ids, named `<tag>-<id>` (so an upserted row
/// can be told from the original), value = id.
pub fn rows(ids: &[i64], tag: &str) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(schema().to_arrow()),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(ids.iter().map(|i| format!("{tag}-{i}")).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(ids.iter().map(|i| *i as f64).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

/// All `id` values of the current snapshot, sorted.
pub fn ids(table: &Table) -> Vec<i64> {
    let batches = table.scan().select(["id"]).to_batches().unwrap();
    let mut out = Vec::new();
    for b in batches {
        let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..col.len() {
            out.push(col.value(i));
        }
    }
    out.sort();
    out
}

/// Every file below `dir`, relative, sorted (to prove "nothing written").
pub fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(base, &p, out);
                } else {
                    out.push(p.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// How a damaged Parquet file makes the parquet crate fail when its rows are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The decoder panics (a bug in the crate that a corrupt file triggers).
    Panic,
    /// The decoder returns an error.
    Error,
}

/// Decodes every row of a Parquet file held in memory, as `floe verify --deep` does;
/// `None` when the decoder panicked.
fn decode_outcome(bytes: &[u8]) -> Option<Result<i64, String>> {
    let bytes = bytes::Bytes::copy_from_slice(bytes);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| e.to_string())?
            .with_batch_size(8192)
            .build()
            .map_err(|e| e.to_string())?;
        let mut rows = 0i64;
        for b in reader {
            rows += b.map_err(|e| e.to_string())?.num_rows() as i64;
        }
        Ok(rows)
    }))
    .ok()
}

/// `count` damaged copies of the Parquet file `good`, each with one byte of its data
/// pages overwritten (the footer stays intact, so the file opens and its size is
/// unchanged) so that decoding its rows fails the way `want` says. Found by trying
/// bytes in file order, so it does not depend on the writer's exact layout.
///
/// The search runs the decoder on damaged bytes: with `Damage::Panic` the panics it
/// catches print their messages to the test's captured output.
pub fn damaged_copies(good: &[u8], want: Damage, count: usize) -> Vec<Vec<u8>> {
    let footer_len = u32::from_le_bytes(good[good.len() - 8..good.len() - 4].try_into().unwrap()) as usize;
    let data_end = good.len() - 8 - footer_len;
    let mut out = Vec::new();
    for at in 4..data_end {
        for byte in [0x7f_u8, 0xff, 0x00, 0x80, 0x40, 0x01] {
            if good[at] == byte {
                continue;
            }
            let mut bad = good.to_vec();
            bad[at] = byte;
            let got = match decode_outcome(&bad) {
                None => Damage::Panic,
                Some(Err(_)) => Damage::Error,
                Some(Ok(_)) => continue,
            };
            if got == want {
                out.push(bad);
                if out.len() == count {
                    return out;
                }
                // One per offset: the next copy differs in where it is damaged.
                break;
            }
        }
    }
    panic!(
        "found {} of {count} one-byte changes that make the parquet decoder {want:?} (if the crate no longer \
         panics on corrupt pages, the panic half of the tests using this has nothing left to prove)",
        out.len()
    );
}

/// A table with uuid columns at every depth (top level, struct field, list element, map
/// value) and a `fixed[16]` column that is not a uuid, and one batch of it.
pub fn uuid_table_batch() -> (Schema, RecordBatch) {
    use arrow_array::builder::{FixedSizeBinaryBuilder, ListBuilder, MapBuilder, StringBuilder};
    use arrow_array::{ArrayRef, StructArray};
    let schema = Schema::from_json(&serde_json::json!({
        "type": "struct", "schema-id": 0, "fields": [
            {"id": 1, "name": "id", "required": true, "type": "long"},
            {"id": 2, "name": "u", "required": false, "type": "uuid"},
            {"id": 3, "name": "fx", "required": false, "type": "fixed[16]"},
            {"id": 4, "name": "s", "required": false, "type": {"type": "struct", "fields": [
                {"id": 5, "name": "su", "required": false, "type": "uuid"}]}},
            {"id": 6, "name": "l", "required": false, "type": {"type": "list", "element-id": 7,
                "element-required": false, "element": "uuid"}},
            {"id": 8, "name": "m", "required": false, "type": {"type": "map", "key-id": 9, "key": "string",
                "value-id": 10, "value-required": false, "value": "uuid"}}
        ]
    }))
    .unwrap();
    let u = |b: u8| [b; 16];
    let mut top = FixedSizeBinaryBuilder::new(16);
    let mut fx = FixedSizeBinaryBuilder::new(16);
    let mut su = FixedSizeBinaryBuilder::new(16);
    let mut list = ListBuilder::new(FixedSizeBinaryBuilder::new(16));
    let mut map = MapBuilder::new(None, StringBuilder::new(), FixedSizeBinaryBuilder::new(16));
    for i in 0..3u8 {
        top.append_value(u(i)).unwrap();
        fx.append_value(u(100 + i)).unwrap();
        su.append_value(u(10 + i)).unwrap();
        list.values().append_value(u(20 + i)).unwrap();
        list.values().append_null();
        list.append(true);
        map.keys().append_value(format!("k{i}"));
        map.values().append_value(u(30 + i)).unwrap();
        map.append(true).unwrap();
    }
    let s = StructArray::from(vec![(
        Arc::new(Field::new("su", DataType::FixedSizeBinary(16), true)),
        Arc::new(su.finish()) as ArrayRef,
    )]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![0, 1, 2])),
        Arc::new(top.finish()),
        Arc::new(fx.finish()),
        Arc::new(s),
        Arc::new(list.finish()),
        Arc::new(map.finish()),
    ];
    let fields: Vec<Field> = columns
        .iter()
        .zip(["id", "u", "fx", "s", "l", "m"])
        .map(|(c, n)| Field::new(n, c.data_type().clone(), n != "id"))
        .collect();
    (schema, RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns).unwrap())
}
