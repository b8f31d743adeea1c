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
    Manifest, ManifestEntry, ManifestWriteContext, read_manifest, read_manifest_list, read_manifest_list_paths,
    write_manifest, write_manifest_list,
};
pub use crate::spec::transform::datum_at;
pub use crate::spec::types::primitive_to_arrow;
pub use crate::sync::{DEFAULT_IO_THREADS, MAX_CPU_WORKERS};

use std::collections::BTreeMap;
use std::path::Path;

use crate::spec::{Schema, Snapshot, SnapshotLogEntry, TableMetadata};
use crate::{Result, Transaction};

/// Waits for the work `table`'s handle does in the background after its commits (the
/// deletion of the version files that left the metadata log, its commit-time cleanup
/// pass), as its last drop does: for tests that count what a commit did to the store.
pub fn settle(table: &crate::Table) {
    table.inner.join_background();
}

/// Adds a raw change to `tx`'s metadata, applied to the newest metadata on every
/// attempt (what schema, spec, property and maintenance commits are built on): for
/// tests that forge metadata states no public operation makes.
pub fn update_metadata<F>(tx: &mut Transaction, update: F)
where
    F: FnMut(&mut TableMetadata) -> Result<()> + Send + 'static,
{
    tx.update_metadata(update);
}

/// Raw edits of metadata fields, for [`update_metadata`] closures and codec tests.
impl TableMetadata {
    /// The properties, to edit.
    pub fn properties_mut(&mut self) -> &mut BTreeMap<String, String> {
        &mut self.properties
    }

    /// The schemas, to edit.
    pub fn schemas_mut(&mut self) -> &mut Vec<Schema> {
        &mut self.schemas
    }

    /// Sets the current schema id.
    pub fn set_current_schema_id(&mut self, id: i32) {
        self.current_schema_id = id;
    }

    /// The snapshots, to edit.
    pub fn snapshots_mut(&mut self) -> &mut Vec<std::sync::Arc<Snapshot>> {
        &mut self.snapshots
    }

    /// The snapshot log, to edit.
    pub fn snapshot_log_mut(&mut self) -> &mut Vec<SnapshotLogEntry> {
        &mut self.snapshot_log
    }

    /// Keys floe does not interpret, to edit.
    pub fn extra_mut(&mut self) -> &mut BTreeMap<String, serde_json::Value> {
        &mut self.extra
    }

    /// Sets `last-updated-ms`.
    pub fn set_last_updated_ms(&mut self, ms: i64) {
        self.last_updated_ms = ms;
    }
}

/// [`read_manifest_list_paths`]' fast path alone (the skipping reader, without the
/// fallback to the full decode), so tests can tell that it, not the fallback, answered.
pub fn read_manifest_list_paths_skipping(path: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    crate::spec::manifest::manifest_list_paths_skipping(path, bytes)
}

/// Decodes a metadata file's bytes (`path` names it in errors), as opening a table does.
pub fn metadata_from_json(path: &Path, bytes: &[u8]) -> Result<TableMetadata> {
    TableMetadata::from_json_bytes(path, bytes)
}

/// Encodes metadata as a commit writes it.
pub fn metadata_to_json(md: &TableMetadata) -> Result<Vec<u8>> {
    md.to_json_bytes()
}
