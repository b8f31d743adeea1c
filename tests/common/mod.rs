//! Shared helpers for the integration tests: a small schema, batch builders, and a
//! way for a test to re-execute its own binary as a child process.
#![allow(dead_code)]

use std::sync::Arc;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use floe::spec::types::{PrimitiveType, Schema};
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
