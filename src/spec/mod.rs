//! The Iceberg v2 format: types and schemas, table metadata JSON, manifest and
//! manifest-list Avro codecs, single-value encodings. Pure data and codecs: nothing in
//! here touches the file system.
//!
//! This module is a public namespace: it re-exports the model types a user reads (the
//! schema and its types, the table metadata and its snapshots, partition specs, data
//! files and manifests, single values). The codecs stay inside the crate: a user reads a
//! table through [`crate::Table`], never by decoding its files.

mod avro;
pub(crate) mod manifest;
pub(crate) mod metadata;
pub(crate) mod transform;
pub(crate) mod types;
pub(crate) mod values;

pub use manifest::{DataContent, DataFile, EntryStatus, FieldSummary, ManifestContent, ManifestFile};
pub use metadata::{
    ATTEMPT_KEY, COMMIT_ID_KEY, MetadataLogEntry, PartitionField, PartitionSpec, REBASED_OVER_KEY, Snapshot,
    SnapshotLogEntry, SnapshotRef, SortOrder, TableMetadata,
};
pub use transform::Transform;
pub use types::{ListType, MapType, NestedField, PrimitiveType, Schema, SchemaBuilder, StructType, Type};
pub use values::Datum;
