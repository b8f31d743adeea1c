//! Manifests and manifest lists: the Iceberg v2 Avro files that list data files.
//!
//! Owns the in-memory model ([`ManifestFile`], [`ManifestEntry`], [`DataFile`]) and
//! the Avro codecs for both file kinds, with the spec's field ids and the
//! `"logicalType": "map"` annotation on int-keyed maps (ICEBERG-NOTES.md trap 4).
//!
//! Promises: decoding never panics on arbitrary bytes (typed `CorruptMetadata`),
//! tolerates fields it does not know (datashard's 9001–9003) and applies the spec's
//! inheritance of snapshot ids and sequence numbers for entries that leave them null.

use std::collections::BTreeMap;

use super::values::Datum;

/// What a manifest lists: data files or delete files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestContent {
    /// Data files (0).
    Data,
    /// Delete files (1).
    Deletes,
}

/// A manifest entry's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// 0: carried over from an earlier snapshot.
    Existing,
    /// 1: added by the snapshot that wrote the manifest.
    Added,
    /// 2: removed by the snapshot that wrote the manifest.
    Deleted,
}

/// What a data file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataContent {
    /// 0: rows.
    Data,
    /// 1: position deletes.
    PositionDeletes,
    /// 2: equality deletes.
    EqualityDeletes,
}

/// One data file and its statistics (the manifest's `data_file` struct, field 2).
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// 134: content type.
    pub content: DataContent,
    /// 100: absolute location (`file:///...`).
    pub file_path: String,
    /// 101: `PARQUET`, `AVRO` or `ORC`.
    pub file_format: String,
    /// 102: partition values, in the order of the partition spec's fields.
    pub partition: Vec<Option<Datum>>,
    /// 103: rows.
    pub record_count: i64,
    /// 104: bytes.
    pub file_size_in_bytes: i64,
    /// 108: bytes per column id.
    pub column_sizes: BTreeMap<i32, i64>,
    /// 109: values (nulls included) per column id.
    pub value_counts: BTreeMap<i32, i64>,
    /// 110: nulls per column id.
    pub null_value_counts: BTreeMap<i32, i64>,
    /// 137: NaNs per column id.
    pub nan_value_counts: BTreeMap<i32, i64>,
    /// 125: lower bounds, single-value binary encoding.
    pub lower_bounds: BTreeMap<i32, Vec<u8>>,
    /// 128: upper bounds, single-value binary encoding.
    pub upper_bounds: BTreeMap<i32, Vec<u8>>,
    /// 131: encryption key metadata.
    pub key_metadata: Option<Vec<u8>>,
    /// 132: split offsets (row-group starts).
    pub split_offsets: Option<Vec<i64>>,
    /// 135: equality ids (equality deletes only).
    pub equality_ids: Option<Vec<i32>>,
    /// 140: sort order id.
    pub sort_order_id: Option<i32>,
}

/// One row of a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestEntry {
    /// 0: status.
    pub status: EntryStatus,
    /// 1: snapshot that added or deleted the file (inherited when null on disk).
    pub snapshot_id: Option<i64>,
    /// 3: data sequence number (inherited when null on disk and status is ADDED).
    pub sequence_number: Option<i64>,
    /// 4: file sequence number (inherited likewise).
    pub file_sequence_number: Option<i64>,
    /// 2: the file.
    pub data_file: DataFile,
}

/// Partition field summary in a manifest-list row (field 508).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSummary {
    /// 509
    pub contains_null: bool,
    /// 518
    pub contains_nan: Option<bool>,
    /// 510: single-value encoding.
    pub lower_bound: Option<Vec<u8>>,
    /// 511: single-value encoding.
    pub upper_bound: Option<Vec<u8>>,
}

/// One row of a manifest list: a manifest and its counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestFile {
    /// 500: absolute location.
    pub manifest_path: String,
    /// 501: bytes.
    pub manifest_length: i64,
    /// 502
    pub partition_spec_id: i32,
    /// 517
    pub content: ManifestContent,
    /// 515: sequence number of the snapshot that added the manifest.
    pub sequence_number: i64,
    /// 516: smallest data sequence number of its live files.
    pub min_sequence_number: i64,
    /// 503
    pub added_snapshot_id: i64,
    /// 504
    pub added_files_count: i32,
    /// 505
    pub existing_files_count: i32,
    /// 506
    pub deleted_files_count: i32,
    /// 512
    pub added_rows_count: i64,
    /// 513
    pub existing_rows_count: i64,
    /// 514
    pub deleted_rows_count: i64,
    /// 507
    pub partitions: Option<Vec<FieldSummary>>,
    /// 519
    pub key_metadata: Option<Vec<u8>>,
}
