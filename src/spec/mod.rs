//! The Iceberg v2 format: types and schemas, table metadata JSON, manifest and
//! manifest-list Avro codecs, single-value encodings. Pure data and codecs: nothing in
//! here touches the file system.

mod avro;
pub mod manifest;
pub mod metadata;
pub mod transform;
pub mod types;
pub mod values;
