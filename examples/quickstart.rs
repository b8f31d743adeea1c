//! Create a table, append twice, scan, time travel, and print the rows.
//!
//! `cargo run --example quickstart [DIR]` (default: a fresh folder under ./target).

use std::sync::Arc;

use arrow::util::pretty::pretty_format_batches;
use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use floe::Table;
use floe::spec::{PrimitiveType, Schema};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("target/quickstart").join(uuid_like()));
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("score", PrimitiveType::Double)
        .build()?;
    let table = Table::create_or_open(&dir, schema.clone())?;

    let arrow = Arc::new(schema.to_arrow());
    let first = RecordBatch::try_new(
        arrow.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["ada", "grace"])),
            Arc::new(Float64Array::from(vec![9.5, 8.0])),
        ],
    )?;
    let r1 = table.append(&[first])?;
    println!("committed v{} (snapshot {}) in {:?}", r1.version, r1.snapshot_id, r1.elapsed);

    let mut tx = table.new_transaction();
    tx.append(&RecordBatch::try_new(
        arrow,
        vec![
            Arc::new(Int64Array::from(vec![3])),
            Arc::new(StringArray::from(vec![Some("edsger")])),
            Arc::new(Float64Array::from(vec![None::<f64>])),
        ],
    )?)?;
    let r2 = tx.commit()?;
    println!("committed v{} after {} attempt(s)", r2.version, r2.attempts);

    println!("\ncurrent snapshot, columns id and name:");
    println!("{}", pretty_format_batches(&table.scan().select(["id", "name"]).to_batches()?)?);
    println!("time travel to snapshot {}:", r1.snapshot_id);
    println!("{}", pretty_format_batches(&table.scan().snapshot_id(r1.snapshot_id).to_batches()?)?);
    for h in table.history() {
        let at = h.timestamp.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
        println!("history: {} at {at} ms: {}", h.snapshot_id, h.operation.as_deref().unwrap_or("?"));
    }
    println!("\ntable at {}", table.path().display());
    Ok(())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("events-{nanos}")
}
