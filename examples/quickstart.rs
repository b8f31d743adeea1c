//! Create a table, append twice, scan, time travel, and print the rows.
//!
//! `cargo run --example quickstart [DIR]` (default: a fresh folder under ./target).
//!
//! Needs only the `floe` crate: Arrow comes re-exported as `floe::arrow`.

use std::sync::Arc;

use floe::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use floe::arrow::util::display::{ArrayFormatter, FormatOptions};
use floe::{PrimitiveType, Schema, Table};

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
    print_rows(&table.scan().select(["id", "name"]).to_batches()?)?;
    println!("time travel to snapshot {}:", r1.snapshot_id);
    print_rows(&table.scan().snapshot_id(r1.snapshot_id).to_batches()?)?;
    for h in table.history() {
        let at = h.timestamp.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
        println!("history: {} at {at} ms: {}", h.snapshot_id, h.operation.as_deref().unwrap_or("?"));
    }
    println!("\ntable at {}", table.path().display());
    Ok(())
}

/// One line per row: `column=value` pairs.
fn print_rows(batches: &[RecordBatch]) -> Result<(), Box<dyn std::error::Error>> {
    let options = FormatOptions::default().with_null("null");
    for batch in batches {
        let columns = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let fields: Vec<String> = batch
                .schema()
                .fields()
                .iter()
                .zip(&columns)
                .map(|(f, c)| format!("{}={}", f.name(), c.value(row)))
                .collect();
            println!("  {}", fields.join("  "));
        }
    }
    Ok(())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("events-{nanos}")
}
