//! The entry point shared by the cargo-fuzz target (`fuzz/fuzz_targets/open_metadata.rs`)
//! and the stable-toolchain driver (`tests/fuzz_open.rs`): open a table whose newest
//! metadata file holds arbitrary bytes, and use it as far as it opens.
//!
//! Promise checked: any bytes give a table or a typed error, never a panic, an abort or
//! a hang, and nothing outside the table directory is touched.

use std::path::{Path, PathBuf};

use floe::Table;

/// A table directory reused for every input (`metadata/` and `data/` exist).
pub fn table_dir() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("floe-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("metadata")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        dir
    })
}

/// Removes everything an earlier input left in the table directory.
fn reset(dir: &Path) {
    for sub in ["metadata", "data"] {
        let _ = std::fs::remove_dir_all(dir.join(sub));
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
}

/// One row of (id long, name string, value double).
fn row() -> arrow_array::RecordBatch {
    use std::sync::Arc;
    let schema = arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false),
        arrow_schema::Field::new("name", arrow_schema::DataType::Utf8, true),
        arrow_schema::Field::new("value", arrow_schema::DataType::Float64, true),
    ]);
    let cols: Vec<arrow_array::ArrayRef> = vec![
        Arc::new(arrow_array::Int64Array::from(vec![1])),
        Arc::new(arrow_array::StringArray::from(vec!["x"])),
        Arc::new(arrow_array::Float64Array::from(vec![1.0])),
    ];
    arrow_array::RecordBatch::try_new(Arc::new(schema), cols).unwrap()
}

/// Decodes `bytes` as metadata, then opens a table whose only version holds them,
/// plans a scan, reads history, refreshes and appends a row (every write confined to
/// the table directory).
pub fn open_metadata(bytes: &[u8]) {
    let _ = floe::testing::metadata_from_json(Path::new("fuzz.metadata.json"), bytes);
    let dir = table_dir();
    reset(dir);
    let v1 = dir.join("metadata/v1.metadata.json");
    std::fs::write(&v1, bytes).unwrap();
    if let Ok(t) = Table::open(dir) {
        let _ = t.scan().plan();
        let _ = t.history();
        let _ = t.refresh();
        let _ = t.metadata_at_version(1);
        let _ = t.append(&[row()]);
        let _ = t.scan().to_batches();
    }
    let _ = Table::open_metadata_file(&v1).map(|t| t.scan().count());
}
