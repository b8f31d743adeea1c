//! Test support, compiled only with the `testing` cargo feature: the codecs and file
//! readers/writers that floe's own tests, benches and sample generators use to look
//! inside a table's files or to forge hostile ones.
//!
//! Nothing here is part of the public API or its stability promise (it is not in
//! `api/floe.txt`): a user reads a table through [`crate::Table`] and [`crate::Scan`].
//! floe's test targets enable the feature through a dev-dependency on the crate itself.

pub use crate::data::read::{
    DataFileReader, MappedField, NameMapping, ReadOptions, open_data_file, read_parquet_metadata,
};
pub use crate::data::write::{
    DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_OPEN_FILES, DataFileWriter, ICEBERG_SCHEMA_KEY, conform_batch,
    data_file_from_parquet_metadata,
};
pub use crate::io::location::{parse_version_file, uri_to_path};
pub use crate::spec::manifest::{
    Manifest, ManifestEntry, ManifestWriteContext, read_manifest, read_manifest_list, write_manifest,
    write_manifest_list,
};
pub use crate::spec::transform::datum_at;
pub use crate::spec::types::primitive_to_arrow;
pub use crate::sync::{DEFAULT_IO_THREADS, MAX_CPU_WORKERS};

use std::path::Path;

use crate::Result;
use crate::spec::TableMetadata;

/// The rows of `batch` (of `schema`'s Arrow schema) that `predicate` selects, as a
/// scan evaluates it.
pub fn evaluate(
    predicate: &crate::Predicate,
    schema: &crate::Schema,
    batch: &arrow_array::RecordBatch,
) -> Result<arrow_array::BooleanArray> {
    predicate.bind(schema)?.evaluate(batch)
}

/// Decodes a metadata file's bytes (`path` names it in errors), as opening a table does.
pub fn metadata_from_json(path: &Path, bytes: &[u8]) -> Result<TableMetadata> {
    TableMetadata::from_json_bytes(path, bytes)
}

/// Encodes metadata as a commit writes it.
pub fn metadata_to_json(md: &TableMetadata) -> Result<Vec<u8>> {
    md.to_json_bytes()
}
