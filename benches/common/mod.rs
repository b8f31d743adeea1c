//! What the benches share: the benchmark table's schema, its deterministic data (the
//! Python peers in bench/peers.py generate byte-identical rows), and the raw Parquet
//! write that is the physical baseline of a bulk append.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, SchemaRef};
use floe::WriteOptions;
use floe::spec::{PrimitiveType, Schema};
use floe::testing::ICEBERG_SCHEMA_KEY;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

/// Must match floe's writer (`ROW_GROUP_MAX_BYTES` in src/write.rs).
pub const ROW_GROUP_MAX_BYTES: usize = 128 * 1024 * 1024;

pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// id long, name string (16 hex chars), value double: all required.
pub fn bench_schema() -> Schema {
    Schema::builder()
        .required("id", PrimitiveType::Long)
        .required("name", PrimitiveType::String)
        .required("value", PrimitiveType::Double)
        .build()
        .expect("static schema is valid")
}

pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Rows `start..start+len`: the name and value are derived from a hash of the id.
pub fn make_batch(arrow: &SchemaRef, start: i64, len: usize) -> Result<RecordBatch, ArrowError> {
    let ids: Vec<i64> = (start..start + len as i64).collect();
    let hashes: Vec<u64> = ids.iter().map(|&i| splitmix64(i as u64)).collect();
    let names = StringArray::from_iter_values(hashes.iter().map(|h| format!("{h:016x}")));
    let values = Float64Array::from_iter_values(hashes.iter().map(|h| (h >> 11) as f64 / (1u64 << 53) as f64));
    let columns: Vec<Arc<dyn Array>> = vec![Arc::new(Int64Array::from(ids)), Arc::new(names), Arc::new(values)];
    RecordBatch::try_new(arrow.clone(), columns)
}

/// The writer properties floe's data files use, for the raw baseline.
pub fn raw_writer_properties(schema: &Schema, opts: &WriteOptions) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(opts.compression)
        .set_max_row_group_row_count(Some(opts.row_group_size.max(1)))
        .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(Some(vec![KeyValue::new(ICEBERG_SCHEMA_KEY.to_string(), schema.to_json().to_string())]))
        .build()
}

/// One durable write of `batches` to a new file: the physical floor of a bulk append.
pub fn raw_write(path: &Path, batches: &[RecordBatch], props: &WriterProperties) -> BoxResult<()> {
    let first = batches.first().ok_or("nothing to write")?;
    let file = OpenOptions::new().write(true).create_new(true).open(path)?;
    let mut writer = ArrowWriter::try_new(file, first.schema(), Some(props.clone()))?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    writer.inner().sync_all()?;
    Ok(())
}
