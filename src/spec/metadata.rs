//! Table metadata JSON (`metadata/v<N>.metadata.json`), per the Iceberg v2 spec.
//!
//! Promises: decoding rejects anything that is not format-version 2 with a typed
//! error; unknown top-level keys written by other engines are kept and written back
//! unchanged; every key third-party readers were measured to need is always written
//! (docs/format.md §2 lists what readers require).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::types::Schema;
use crate::error::{Error, Result};

/// Summary key floe stores its commit id under (resolves ambiguous commits).
pub const COMMIT_ID_KEY: &str = "floe.commit-id";
/// Snapshot summary key: which attempt of its transaction created the snapshot
/// (1 = no race lost).
pub const ATTEMPT_KEY: &str = "floe.commit.attempt";
/// Snapshot summary key: how many versions other writers committed between the
/// transaction's base and this snapshot (the commit was rebased over them).
pub const REBASED_OVER_KEY: &str = "floe.commit.rebased-over";

/// Iceberg's timestamps (milliseconds since the Unix epoch) as a point in time, the one
/// type the public API uses for them. Out-of-range values (not seen from a real clock)
/// saturate at the epoch.
pub(crate) fn ms_to_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 { SystemTime::UNIX_EPOCH.checked_add(d) } else { SystemTime::UNIX_EPOCH.checked_sub(d) };
    t.unwrap_or(SystemTime::UNIX_EPOCH)
}

/// A point in time as Iceberg's milliseconds since the Unix epoch (saturating).
pub(crate) fn time_to_ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map(|ms| -ms).unwrap_or(i64::MIN),
    }
}

/// A partition field (`source-id`, `field-id`, `name`, `transform`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PartitionField {
    /// Source column id.
    pub source_id: i32,
    /// Partition field id (1000 and up).
    pub field_id: i32,
    /// Partition field name.
    pub name: String,
    /// Transform (`identity`, `bucket[N]`, `day`, …).
    pub transform: String,
}

/// A partition spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PartitionSpec {
    /// Spec id.
    pub spec_id: i32,
    /// Fields (empty = unpartitioned).
    #[serde(default)]
    pub fields: Vec<PartitionField>,
}

impl PartitionSpec {
    /// The unpartitioned spec, id 0.
    pub fn unpartitioned() -> Self {
        PartitionSpec { spec_id: 0, fields: Vec::new() }
    }
}

/// A sort order (floe writes only the unsorted order, id 0, but keeps others').
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SortOrder {
    /// Order id.
    pub order_id: i32,
    /// Sort fields, kept as JSON.
    #[serde(default)]
    pub fields: Vec<Value>,
}

/// A snapshot of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Snapshot {
    /// Snapshot id (random positive 63-bit).
    pub snapshot_id: i64,
    /// Parent snapshot id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_snapshot_id: Option<i64>,
    /// Data sequence number assigned to this snapshot's new files.
    #[serde(default)]
    pub sequence_number: i64,
    /// Commit time, ms since the epoch ([`Snapshot::timestamp`]).
    pub(crate) timestamp_ms: i64,
    /// Absolute location of the manifest list.
    pub manifest_list: String,
    /// Operation and counters; always has `operation`.
    #[serde(default)]
    pub summary: BTreeMap<String, String>,
    /// Schema id current when the snapshot was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<i32>,
    /// Whether datashard wrote it (a summary key under `datashard.`), worked out once:
    /// snapshots are shared between versions, and every commit asks of all retained
    /// ones (`crate::txn::datashard_writes_here`).
    #[serde(skip)]
    pub(crate) from_datashard: Derived<bool>,
}

impl Snapshot {
    /// When the snapshot was committed.
    pub fn timestamp(&self) -> SystemTime {
        ms_to_time(self.timestamp_ms)
    }

    /// The summary's `operation` (`append`, `overwrite`, `replace`, `delete`).
    pub fn operation(&self) -> &str {
        self.summary.get("operation").map(String::as_str).unwrap_or("unknown")
    }

    /// Whether datashard wrote this snapshot: its summary has a key under `datashard.`.
    pub(crate) fn is_datashard(&self) -> bool {
        // The summary is ordered: the first key from `datashard.` on tells.
        const PREFIX: &str = "datashard.";
        *self.from_datashard.get_or_init(|| {
            self.summary
                .range::<str, _>((std::ops::Bound::Included(PREFIX), std::ops::Bound::Unbounded))
                .next()
                .is_some_and(|(k, _)| k.starts_with(PREFIX))
        })
    }

    /// The floe commit id, if a floe writer made this snapshot.
    pub fn commit_id(&self) -> Option<&str> {
        self.summary.get(COMMIT_ID_KEY).map(String::as_str)
    }

    /// A summary counter as a number.
    pub fn summary_i64(&self, key: &str) -> Option<i64> {
        self.summary.get(key).and_then(|v| v.parse().ok())
    }
}

/// `snapshot-log` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapshotLogEntry {
    /// When the snapshot became current, ms since the epoch ([`SnapshotLogEntry::timestamp`]).
    pub(crate) timestamp_ms: i64,
    /// The snapshot.
    pub snapshot_id: i64,
}

impl SnapshotLogEntry {
    /// When the snapshot became current.
    pub fn timestamp(&self) -> SystemTime {
        ms_to_time(self.timestamp_ms)
    }
}

/// `metadata-log` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct MetadataLogEntry {
    /// That metadata file's `last-updated-ms` ([`MetadataLogEntry::timestamp`]).
    pub(crate) timestamp_ms: i64,
    /// Absolute location of the previous metadata file.
    pub metadata_file: String,
}

impl MetadataLogEntry {
    /// When that metadata file was written (its `last-updated-ms`).
    pub fn timestamp(&self) -> SystemTime {
        ms_to_time(self.timestamp_ms)
    }
}

/// A named reference (`main`, branches, tags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SnapshotRef {
    /// The snapshot it points at.
    pub snapshot_id: i64,
    /// `branch` or `tag`.
    #[serde(rename = "type")]
    pub ref_type: String,
    /// Other keys (retention settings), kept as written.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Table metadata, format version 2: a read-only view (a table's metadata changes only
/// through commits). Timestamps are [`SystemTime`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TableMetadata {
    /// Always 2.
    pub(crate) format_version: u8,
    /// Table identity; must never change between versions.
    pub(crate) table_uuid: String,
    /// Absolute table location (`file:///...`).
    pub(crate) location: String,
    /// Highest sequence number assigned.
    pub(crate) last_sequence_number: i64,
    /// Last change, ms since the epoch.
    pub(crate) last_updated_ms: i64,
    /// Highest field id ever assigned.
    pub(crate) last_column_id: i32,
    /// All schemas.
    pub(crate) schemas: Vec<Schema>,
    /// Current schema id.
    pub(crate) current_schema_id: i32,
    /// All partition specs.
    pub(crate) partition_specs: Vec<PartitionSpec>,
    /// Default spec id.
    pub(crate) default_spec_id: i32,
    /// Highest partition field id ever assigned.
    pub(crate) last_partition_id: i32,
    /// Table properties.
    #[serde(default)]
    pub(crate) properties: BTreeMap<String, String>,
    /// Current snapshot (`-1` / absent = empty table).
    #[serde(default, deserialize_with = "de_snapshot_id", serialize_with = "ser_snapshot_id")]
    pub(crate) current_snapshot_id: Option<i64>,
    /// Retained snapshots. Shared between versions: a commit's new metadata holds the
    /// same snapshots as its parent plus one, so each is an `Arc` (cloning the
    /// metadata copies pointers, not 100 summaries of 17 strings each: that clone and
    /// its drop were 18 % of a single-row append's CPU). Written through
    /// [`ser_snapshots`], which reuses each unchanged snapshot's JSON.
    #[serde(default, serialize_with = "ser_snapshots")]
    pub(crate) snapshots: Vec<Arc<Snapshot>>,
    /// History of the current snapshot.
    #[serde(default)]
    pub(crate) snapshot_log: Vec<SnapshotLogEntry>,
    /// Previous metadata files.
    #[serde(default)]
    pub(crate) metadata_log: Vec<MetadataLogEntry>,
    /// Sort orders.
    pub(crate) sort_orders: Vec<SortOrder>,
    /// Default sort order id.
    pub(crate) default_sort_order_id: i32,
    /// References; `main` is the current snapshot.
    #[serde(default)]
    pub(crate) refs: BTreeMap<String, SnapshotRef>,
    /// Keys floe does not interpret (statistics, partition-statistics, engine extras),
    /// written back unchanged.
    #[serde(flatten)]
    pub(crate) extra: BTreeMap<String, Value>,
    /// Whether a retained snapshot is datashard's (`crate::txn::datashard_writes_here`),
    /// worked out once: a commit asks two or three times, and the answer looks into the
    /// summary of each of the 100 retained snapshots, ~4 % of a single-row append's CPU
    /// (perf, `peers append --system floe-relaxed`).
    #[serde(skip)]
    pub(crate) datashard_snapshots: Derived<bool>,
}

/// A value derived from the [`TableMetadata`] or [`Snapshot`] that holds it, computed
/// at most once.
///
/// The crate changes metadata and snapshots only by cloning a version's and editing
/// the clone before it is shared (`Arc`; `Arc::make_mut` clones too), and asks for
/// derived values only of ones that no longer change; so a clone starts empty, and
/// the value takes no part in equality, printing or encoding.
#[derive(Default)]
pub(crate) struct Derived<T>(std::sync::OnceLock<T>);

impl<T> Derived<T> {
    /// The value, computed by `f` the first time.
    pub(crate) fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(f)
    }
}

impl<T> Clone for Derived<T> {
    fn clone(&self) -> Self {
        Derived(std::sync::OnceLock::new())
    }
}

impl<T> PartialEq for Derived<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> std::fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

/// Every top-level key [`TableMetadata`] writes from its own fields (not from `extra`).
const WRITTEN_KEYS: [&str; 19] = [
    "format-version",
    "table-uuid",
    "location",
    "last-sequence-number",
    "last-updated-ms",
    "last-column-id",
    "schemas",
    "current-schema-id",
    "partition-specs",
    "default-spec-id",
    "last-partition-id",
    "properties",
    "current-snapshot-id",
    "snapshots",
    "snapshot-log",
    "metadata-log",
    "sort-orders",
    "default-sort-order-id",
    "refs",
];

fn unsupported_version(path: &Path, v: u64) -> Error {
    Error::Unsupported { what: format!("Iceberg format-version {v} (floe reads and writes v2) in {}", path.display()) }
}

fn de_snapshot_id<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    let v: Option<i64> = Option::deserialize(d)?;
    Ok(v.filter(|id| *id != -1))
}

fn ser_snapshot_id<S: serde::Serializer>(v: &Option<i64>, s: S) -> std::result::Result<S::Ok, S::Error> {
    // Java and datashard write -1 for "no snapshot"; some readers reject null.
    s.serialize_i64(v.unwrap_or(-1))
}

/// Writes the snapshots, each from [`snapshot_json`].
fn ser_snapshots<S: serde::Serializer>(snaps: &[Arc<Snapshot>], s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::{Error as _, SerializeSeq};
    let mut seq = s.serialize_seq(Some(snaps.len()))?;
    for snap in snaps {
        seq.serialize_element(&*snapshot_json(snap).map_err(S::Error::custom)?)?;
    }
    seq.end()
}

/// Snapshots the JSON cache holds at most (about 1 KB each, plus the snapshot).
const SNAPSHOT_JSON_CACHE: usize = 1024;

/// Encoded snapshots by id, with the snapshot each was encoded from.
type SnapshotJsonCache = HashMap<i64, (Arc<Snapshot>, Arc<serde_json::value::RawValue>)>;

/// A snapshot's JSON, from a process-wide cache when this very snapshot was encoded
/// before.
///
/// Why: every commit writes the whole metadata, whose ~100 retained snapshots are the
/// same as in the version before; encoding their summaries again (string escaping)
/// was 10 % of a single-row append's CPU after the clone went. A cached entry is used
/// only for the same allocation (`Arc::ptr_eq`: the cache holds a reference, so the
/// address cannot be reused, and a shared `Arc` cannot change in place —
/// `Arc::make_mut` copies it) or an equal snapshot, so the bytes are always those the
/// derived encoder would produce. The cache is bounded (cleared when full): a process
/// with many tables only encodes more.
fn snapshot_json(snap: &Arc<Snapshot>) -> serde_json::Result<Arc<serde_json::value::RawValue>> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<SnapshotJsonCache>> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some((cached, json)) = crate::sync::lock(cache).get(&snap.snapshot_id)
        && (Arc::ptr_eq(cached, snap) || **cached == **snap)
    {
        return Ok(json.clone());
    }
    let json: Arc<serde_json::value::RawValue> = serde_json::value::to_raw_value(&**snap)?.into();
    let mut cache = crate::sync::lock(cache);
    if cache.len() >= SNAPSHOT_JSON_CACHE {
        cache.clear();
    }
    cache.insert(snap.snapshot_id, (snap.clone(), json.clone()));
    Ok(json)
}

/// Snapshots the decoding cache holds at most (their JSON text, about 1 KB each, plus the
/// snapshot).
const SNAPSHOT_DECODE_CACHE: usize = 1024;

/// Decoded snapshots by the exact JSON text they were decoded from.
type SnapshotDecodeCache = HashMap<Box<str>, Arc<Snapshot>>;

/// A metadata file decoded with its snapshots shared with the versions this process
/// decoded before, or `None` for anything but a well-formed object (the caller then
/// decodes the usual way, which reports the error).
///
/// Why: under contention every commit decodes the version that beat it, ~86 KB of JSON
/// of which nearly all is the 100 retained snapshots, all but the newest few already
/// decoded by this process from an earlier version (decoding was about a fifth of a
/// commit-lock hold at 8 writers, docs/benchmarks.md "Where a contended commit's time
/// goes"). So the top-level members are read unparsed, every member but `snapshots` is
/// decoded as usual (the derived decoder, from a document without `snapshots`), and each
/// snapshot whose exact text was decoded before is the same `Arc` again. A snapshot is
/// cached only by the text it was decoded from (decoding is a function of the text), so
/// the result is always what decoding the whole file would give; the cache is bounded
/// (cleared when full).
fn decode_sharing_snapshots(bytes: &[u8]) -> Option<TableMetadata> {
    let members: RawMembers<'_> = serde_json::from_slice(bytes).ok()?;
    let mut snapshots = None;
    let mut rest = Vec::with_capacity(bytes.len() / 4);
    rest.push(b'{');
    for (key, value) in &members.0 {
        if key == "snapshots" {
            if snapshots.replace(*value).is_some() {
                return None;
            }
            continue;
        }
        if rest.len() > 1 {
            rest.push(b',');
        }
        serde_json::to_writer(&mut rest, key).ok()?;
        rest.push(b':');
        rest.extend_from_slice(value.get().as_bytes());
    }
    rest.push(b'}');
    let mut md: TableMetadata = serde_json::from_slice(&rest).ok()?;
    if let Some(raw) = snapshots {
        let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(raw.get()).ok()?;
        static CACHE: std::sync::OnceLock<std::sync::Mutex<SnapshotDecodeCache>> = std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let text = item.get();
            if let Some(snap) = crate::sync::lock(cache).get(text) {
                out.push(snap.clone());
                continue;
            }
            let snap = Arc::new(serde_json::from_str::<Snapshot>(text).ok()?);
            let mut cache = crate::sync::lock(cache);
            if cache.len() >= SNAPSHOT_DECODE_CACHE {
                cache.clear();
            }
            cache.insert(text.into(), snap.clone());
            out.push(snap);
        }
        md.snapshots = out;
    }
    Some(md)
}

/// An object's members in order, their values not parsed (borrowed from the input).
struct RawMembers<'a>(Vec<(String, &'a serde_json::value::RawValue)>);

impl<'de> Deserialize<'de> for RawMembers<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = RawMembers<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'de serde_json::value::RawValue>()? {
                    out.push(entry);
                }
                Ok(RawMembers(out))
            }
        }
        d.deserialize_map(Members)
    }
}

impl TableMetadata {
    /// Decodes and validates a metadata file's bytes.
    pub(crate) fn from_json_bytes(path: &Path, bytes: &[u8]) -> Result<TableMetadata> {
        // The common case decodes into the typed struct, reusing the snapshots this
        // process decoded before (this runs on every commit that follows another
        // writer's). Only a failure pays for the plain typed decode, which reports it,
        // and an untyped parse to tell "not v2" (unsupported) from "broken" (corrupt).
        let decoded = match decode_sharing_snapshots(bytes) {
            Some(md) => Ok(md),
            None => serde_json::from_slice(bytes),
        };
        let md: TableMetadata = match decoded {
            Ok(md) => md,
            Err(e) => {
                let version = serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .and_then(|raw| raw.get("format-version").and_then(Value::as_u64));
                return Err(match version {
                    Some(v) if v != 2 => unsupported_version(path, v),
                    _ => Error::corrupt(path, e),
                });
            }
        };
        if md.format_version != 2 {
            return Err(unsupported_version(path, md.format_version as u64));
        }
        md.validate().map_err(|reason| Error::corrupt(path, reason))?;
        Ok(md)
    }

    /// Compact JSON bytes (compact keeps commit cost low; readers do not care).
    ///
    /// Fails with [`Error::MetadataEncode`] rather than produce bytes that are not a
    /// valid metadata file: a key in [`TableMetadata::extra`] that is also one of the
    /// keys floe writes itself would appear twice (floe's own decoder, and any strict
    /// JSON reader, then refuses the file; lenient ones silently take either value),
    /// and a serializer error must never turn into an empty file at the commit point.
    pub(crate) fn to_json_bytes(&self) -> Result<Vec<u8>> {
        if let Some(key) = self.extra.keys().find(|k| WRITTEN_KEYS.contains(&k.as_str())) {
            return Err(Error::MetadataEncode {
                reason: format!("the extra key {key:?} shadows a key floe writes itself (it would appear twice)"),
            });
        }
        let bytes = serde_json::to_vec(self).map_err(|e| Error::MetadataEncode { reason: e.to_string() })?;
        if bytes.is_empty() {
            return Err(Error::MetadataEncode { reason: "the encoder produced no bytes".into() });
        }
        Ok(bytes)
    }

    fn validate(&self) -> std::result::Result<(), String> {
        // Counters the next commit increments must have room to (found by fuzzing:
        // i64::MAX overflowed in the commit path).
        if !(0..i64::MAX).contains(&self.last_sequence_number) {
            return Err(format!("last-sequence-number {} out of range", self.last_sequence_number));
        }
        if self.last_updated_ms == i64::MAX {
            return Err("last-updated-ms out of range".into());
        }
        if self.last_column_id == i32::MAX || self.last_partition_id == i32::MAX {
            return Err("last-column-id or last-partition-id out of range".into());
        }
        if self.schemas.iter().all(|s| s.schema_id != self.current_schema_id) {
            return Err(format!("current-schema-id {} names no schema", self.current_schema_id));
        }
        if self.partition_specs.iter().all(|s| s.spec_id != self.default_spec_id) {
            return Err(format!("default-spec-id {} names no spec", self.default_spec_id));
        }
        if let Some(id) = self.current_snapshot_id
            && self.snapshot(id).is_none()
        {
            return Err(format!("current-snapshot-id {id} names no snapshot"));
        }
        let mut seen = HashMap::new();
        for s in &self.snapshots {
            if seen.insert(s.snapshot_id, ()).is_some() {
                return Err(format!("snapshot id {} appears twice", s.snapshot_id));
            }
            if !s.summary.contains_key("operation") {
                return Err(format!("snapshot {} has no summary operation", s.snapshot_id));
            }
        }
        Ok(())
    }

    /// The format version (always 2).
    pub fn format_version(&self) -> u8 {
        self.format_version
    }

    /// The table's identity; never changes between versions.
    pub fn table_uuid(&self) -> &str {
        &self.table_uuid
    }

    /// The table location the metadata records (`file:///...`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The highest sequence number assigned.
    pub fn last_sequence_number(&self) -> i64 {
        self.last_sequence_number
    }

    /// When this metadata was written.
    pub fn last_updated(&self) -> SystemTime {
        ms_to_time(self.last_updated_ms)
    }

    /// The highest field id ever assigned.
    pub fn last_column_id(&self) -> i32 {
        self.last_column_id
    }

    /// Every schema the table has had that is still recorded.
    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    /// The id of the current schema.
    pub fn current_schema_id(&self) -> i32 {
        self.current_schema_id
    }

    /// Every partition spec.
    pub fn partition_specs(&self) -> &[PartitionSpec] {
        &self.partition_specs
    }

    /// The id of the default partition spec (the one new files are written with).
    pub fn default_spec_id(&self) -> i32 {
        self.default_spec_id
    }

    /// The highest partition field id ever assigned.
    pub fn last_partition_id(&self) -> i32 {
        self.last_partition_id
    }

    /// The table properties.
    pub fn properties(&self) -> &BTreeMap<String, String> {
        &self.properties
    }

    /// The current snapshot's id (`None`: the table has no snapshot).
    pub fn current_snapshot_id(&self) -> Option<i64> {
        self.current_snapshot_id
    }

    /// The retained snapshots.
    pub fn snapshots(&self) -> &[Arc<Snapshot>] {
        &self.snapshots
    }

    /// Which snapshot was current when, oldest first.
    pub fn snapshot_log(&self) -> &[SnapshotLogEntry] {
        &self.snapshot_log
    }

    /// The previous metadata files still recorded, oldest first.
    pub fn metadata_log(&self) -> &[MetadataLogEntry] {
        &self.metadata_log
    }

    /// The sort orders.
    pub fn sort_orders(&self) -> &[SortOrder] {
        &self.sort_orders
    }

    /// The default sort order's id.
    pub fn default_sort_order_id(&self) -> i32 {
        self.default_sort_order_id
    }

    /// Named references (`main`, branches, tags).
    pub fn refs(&self) -> &BTreeMap<String, SnapshotRef> {
        &self.refs
    }

    /// The current schema.
    pub fn current_schema(&self) -> &Schema {
        // validate() guarantees it exists; fall back to the first for safety.
        self.schema(self.current_schema_id).unwrap_or(&self.schemas[0])
    }

    /// A schema by id.
    pub fn schema(&self, id: i32) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.schema_id == id)
    }

    /// The default partition spec.
    pub fn default_spec(&self) -> Option<&PartitionSpec> {
        self.partition_specs.iter().find(|s| s.spec_id == self.default_spec_id)
    }

    /// A snapshot by id.
    pub fn snapshot(&self, id: i64) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.snapshot_id == id).map(|s| &**s)
    }

    /// The current snapshot.
    pub fn current_snapshot(&self) -> Option<&Snapshot> {
        self.current_snapshot_id.and_then(|id| self.snapshot(id))
    }

    /// A property parsed as a number, or `default`.
    pub(crate) fn property_i64(&self, key: &str, default: i64) -> i64 {
        self.properties.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// A property parsed as a boolean, or `default`.
    pub(crate) fn property_bool(&self, key: &str, default: bool) -> bool {
        self.properties.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> TableMetadata {
        let json = r#"{"format-version":2,"table-uuid":"u","location":"file:///t","last-sequence-number":0,
            "last-updated-ms":1,"last-column-id":1,"schemas":[{"type":"struct","schema-id":0,"fields":[
            {"id":1,"name":"id","required":true,"type":"long"}]}],"current-schema-id":0,
            "partition-specs":[{"spec-id":0,"fields":[]}],"default-spec-id":0,"last-partition-id":999,
            "sort-orders":[{"order-id":0,"fields":[]}],"default-sort-order-id":0}"#;
        TableMetadata::from_json_bytes(Path::new("v1.metadata.json"), json.as_bytes()).unwrap()
    }

    #[test]
    fn written_keys_are_exactly_the_fields_keys() {
        let md = minimal();
        let Value::Object(map) = serde_json::to_value(&md).unwrap() else { panic!("not an object") };
        let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
        keys.sort();
        let mut written = WRITTEN_KEYS.to_vec();
        written.sort();
        assert_eq!(keys, written);
    }

    /// The snapshot JSON cache never writes stale bytes: a snapshot changed through
    /// `Arc::make_mut` (as relocation does), or a different snapshot under a reused
    /// id, is encoded afresh, and cached output equals the derived encoder's.
    #[test]
    fn cached_snapshot_json_follows_every_change() {
        let mut md = minimal();
        let snap = |id: i64, list: &str| Snapshot {
            snapshot_id: id,
            parent_snapshot_id: None,
            sequence_number: 1,
            timestamp_ms: 5,
            manifest_list: list.into(),
            summary: BTreeMap::from([("operation".to_string(), "append\"\\x".to_string())]),
            schema_id: Some(0),
            from_datashard: Default::default(),
        };
        let id = 0x5eed_cafe_1234;
        md.snapshots.push(Arc::new(snap(id, "file:///t/metadata/a.avro")));
        md.current_snapshot_id = Some(id);
        let encode = |md: &TableMetadata| String::from_utf8(md.to_json_bytes().unwrap()).unwrap();
        let derived = |md: &TableMetadata| {
            let Value::Object(map) = serde_json::to_value(md).unwrap() else { panic!("not an object") };
            let plain: Vec<Value> = md.snapshots.iter().map(|s| serde_json::to_value(&**s).unwrap()).collect();
            assert_eq!(map["snapshots"], Value::Array(plain));
        };
        let first = encode(&md);
        assert_eq!(encode(&md), first, "a cached encoding is the same");
        derived(&md);
        assert!(first.contains("metadata/a.avro"));
        // Changed in place (the cache holds a reference, so this copies).
        Arc::make_mut(&mut md.snapshots[0]).manifest_list = "file:///t/metadata/b.avro".into();
        let second = encode(&md);
        assert!(second.contains("metadata/b.avro") && !second.contains("metadata/a.avro"), "{second}");
        derived(&md);
        // Another snapshot with the same id (another table), and back.
        md.snapshots[0] = Arc::new(snap(id, "file:///other/metadata/c.avro"));
        assert!(encode(&md).contains("other/metadata/c.avro"));
        md.snapshots[0] = Arc::new(snap(id, "file:///t/metadata/b.avro"));
        assert_eq!(encode(&md), second);
        assert_eq!(TableMetadata::from_json_bytes(Path::new("v"), second.as_bytes()).unwrap(), md);
    }

    #[test]
    fn decoding_shares_the_snapshots_decoded_before_and_equals_a_plain_decode() {
        let mut md = minimal();
        md.extra.insert("weird \"key\"\n".into(), Value::from(vec![1, 2]));
        md.properties.insert("k".into(), "v".into());
        let snap = |id: i64, list: &str, op: &str| {
            Arc::new(Snapshot {
                snapshot_id: id,
                parent_snapshot_id: (id > 1).then_some(id - 1),
                sequence_number: id,
                timestamp_ms: 5,
                manifest_list: list.into(),
                summary: BTreeMap::from([("operation".to_string(), op.to_string())]),
                schema_id: Some(0),
                from_datashard: Default::default(),
            })
        };
        // Ids no other test uses (the caches are process-wide).
        let base = 0x0dec_0de0_0000;
        for k in 0..3 {
            md.snapshots.push(snap(base + k, &format!("file:///t/metadata/{k}.avro"), "append"));
        }
        md.current_snapshot_id = Some(base + 2);
        let plain = |bytes: &[u8]| serde_json::from_slice::<TableMetadata>(bytes).unwrap();
        let first_bytes = md.to_json_bytes().unwrap();
        let first = TableMetadata::from_json_bytes(Path::new("v1"), &first_bytes).unwrap();
        assert_eq!(first, plain(&first_bytes));
        assert_eq!(first, md);

        // The next version: one snapshot more, one changed (same id, other text).
        md.snapshots.push(snap(base + 3, "file:///t/metadata/3.avro", "append"));
        md.snapshots[1] = snap(base + 1, "file:///t/metadata/1.avro", "overwrite");
        md.current_snapshot_id = Some(base + 3);
        let second_bytes = md.to_json_bytes().unwrap();
        let second = TableMetadata::from_json_bytes(Path::new("v2"), &second_bytes).unwrap();
        assert_eq!(second, plain(&second_bytes));
        assert_eq!(second, md);
        assert!(Arc::ptr_eq(&first.snapshots[0], &second.snapshots[0]), "unchanged text: the same snapshot");
        assert!(Arc::ptr_eq(&first.snapshots[2], &second.snapshots[2]));
        assert!(!Arc::ptr_eq(&first.snapshots[1], &second.snapshots[1]), "changed text: decoded again");
        assert_eq!(second.snapshots[1].operation(), "overwrite");

        // What the plain decoder refuses is still refused, with its error.
        let text = String::from_utf8(second_bytes).unwrap();
        let twice = text.replacen("\"snapshots\":", "\"snapshots\":[],\"snapshots\":", 1);
        assert!(matches!(
            TableMetadata::from_json_bytes(Path::new("v"), twice.as_bytes()),
            Err(Error::CorruptMetadata { .. })
        ));
        let broken = text.replacen("\"manifest-list\"", "\"manifest-lost\"", 1);
        assert!(matches!(
            TableMetadata::from_json_bytes(Path::new("v"), broken.as_bytes()),
            Err(Error::CorruptMetadata { .. })
        ));
        let null = text.replacen("\"snapshots\":[", "\"snapshots\":null,\"x\":[", 1);
        assert!(TableMetadata::from_json_bytes(Path::new("v"), null.as_bytes()).is_err());
    }

    #[test]
    fn an_extra_key_shadowing_a_field_is_an_encode_error() {
        let mut md = minimal();
        md.extra.insert("statistics".into(), Value::Array(Vec::new()));
        let bytes = md.to_json_bytes().unwrap();
        assert_eq!(TableMetadata::from_json_bytes(Path::new("v"), &bytes).unwrap(), md);
        md.extra.insert("location".into(), Value::String("file:///elsewhere".into()));
        assert!(matches!(md.to_json_bytes(), Err(Error::MetadataEncode { .. })));
    }
}
