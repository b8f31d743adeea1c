//! Opening, creating and refreshing a table; snapshots, history and properties.
//!
//! A [`Table`] is a cheap, cloneable handle (share it across threads). It caches the
//! newest metadata it has seen; [`Table::refresh`] rolls it forward. Finding the newest
//! version never trusts the hint alone: it reads `version-hint.text`, then probes
//! `v<N+1>`, `v<N+2>` … until one is missing, and lists the directory only when there
//! is no usable hint (docs/format.md §4).

pub mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;

use crate::data::write::WriteOptions;
use crate::error::{Error, Result};
use crate::io::location::{TableLocation, parse_version_file};
use crate::io::storage::{LocalStorage, Storage};
use crate::spec::manifest::{ManifestFile, read_manifest_list};
use crate::spec::metadata::{PartitionSpec, Snapshot, SnapshotRef, SortOrder, TableMetadata};
use crate::spec::types::Schema;
use crate::sync::lock;
use crate::table::stats::{CommitStats, StatsRecorder};

/// Whether commits fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every data file, manifest, manifest list and metadata file is fsynced, and the
    /// metadata directory after the commit point. Survives a power cut.
    #[default]
    Durable,
    /// No fsyncs: for scratch tables and tests. Still atomic and safe against
    /// concurrent writers and process crashes, not against power loss.
    Relaxed,
}

impl Durability {
    pub(crate) fn is_durable(self) -> bool {
        self == Durability::Durable
    }
}

/// How a handle commits. Defaults are durable, retrying, and lock-queued.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// fsync or not.
    pub durability: Durability,
    /// Retry policy for transactions started from this handle.
    pub retry: RetryPolicy,
    /// Queue committers on the advisory `.locks/metadata.lock` (correctness never
    /// depends on it; it turns wasted attempts into waiting).
    pub advisory_lock: bool,
    /// Parquet writing options.
    pub write: WriteOptions,
    /// Properties set on a table this handle creates (merged over floe's defaults).
    pub properties: BTreeMap<String, String>,
    /// The storage to use; `None` = the local file system.
    pub storage: Option<Arc<dyn Storage>>,
    /// The partition spec of a table this handle creates (`None` = unpartitioned).
    /// Ignored when opening.
    pub partition_spec: Option<PartitionSpec>,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            durability: Durability::Durable,
            retry: RetryPolicy::default(),
            advisory_lock: true,
            write: WriteOptions::default(),
            properties: BTreeMap::new(),
            storage: None,
            partition_spec: None,
        }
    }
}

impl TableOptions {
    /// Sets durability.
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, r: RetryPolicy) -> Self {
        self.retry = r;
        self
    }

    /// Sets a table property (used on create).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Partitions a table this handle creates by `spec` (see
    /// [`PartitionSpec::builder`]); appends then split rows by partition.
    pub fn partition_spec(mut self, spec: PartitionSpec) -> Self {
        self.partition_spec = Some(spec);
        self
    }

    /// Uses a custom storage (fault injection in tests).
    pub fn storage(mut self, s: Arc<dyn Storage>) -> Self {
        self.storage = Some(s);
        self
    }
}

/// How a transaction retries after losing the race for a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts to create a version file, the first included (1 = never retry, and
    /// never rebase: compare-and-commit).
    pub max_attempts: u32,
    /// First backoff delay (doubles each retry, with full jitter).
    pub base_delay: Duration,
    /// Cap on one backoff delay.
    pub max_delay: Duration,
    /// Total time a commit may spend retrying before giving up.
    pub total_budget: Duration,
    /// How long to wait for the advisory commit lock before committing without it.
    pub lock_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 100,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(200),
            total_budget: Duration::from_secs(60),
            lock_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retry and no rebase: the commit succeeds only if no other commit landed
    /// since the transaction began (compare-and-commit).
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::default() }
    }

    /// Sets the attempt limit.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Sets the total time budget.
    pub fn with_total_budget(mut self, d: Duration) -> Self {
        self.total_budget = d;
        self
    }

    /// Sets the backoff delays.
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// Full-jitter exponential backoff before retry number `retry` (1-based).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32 << retry.min(16));
        let cap = exp.min(self.max_delay);
        let nanos = cap.as_nanos().min(u64::MAX as u128) as u64;
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::rng().random_range(nanos / 4..=nanos))
    }
}

/// Property keys floe reads, with the defaults it writes on create.
pub mod properties {
    /// Delete superseded metadata files after a commit (Iceberg key).
    pub const DELETE_AFTER_COMMIT: &str = "write.metadata.delete-after-commit.enabled";
    /// How many previous metadata files to keep (Iceberg key).
    pub const PREVIOUS_VERSIONS_MAX: &str = "write.metadata.previous-versions-max";
    /// Merge manifests during commit when their count reaches this (Iceberg key).
    pub const MANIFEST_MIN_COUNT_TO_MERGE: &str = "commit.manifest.min-count-to-merge";
    /// Whether to merge manifests during commits (Iceberg key).
    pub const MANIFEST_MERGE_ENABLED: &str = "commit.manifest-merge.enabled";
    /// Target size of merged manifests (Iceberg key).
    pub const MANIFEST_TARGET_SIZE: &str = "commit.manifest.target-size-bytes";
    /// floe: how many snapshots a commit keeps in metadata (0 = all).
    pub const RETAIN_SNAPSHOTS: &str = "floe.commit.retain-snapshots";
    /// The name mapping for files without field ids (Iceberg key).
    pub const NAME_MAPPING: &str = "schema.name-mapping.default";
    /// floe: whether a commit that removes files lists them as `DELETED` manifest
    /// entries (the spec's way, default `true`). datashard 0.11.2 ignores entry
    /// status and reads such files as live, so on tables datashard reads set it to
    /// `false`; when unset it defaults to `false` for tables datashard has written
    /// to (a snapshot summary with `datashard.` keys), and the first floe commit that
    /// sees such a snapshot writes `false` explicitly, so the table remembers it after
    /// datashard's snapshots leave the metadata. Readers that follow the spec see the
    /// same rows either way; only the record of which files left is lost. While it is
    /// `false` (or datashard snapshots are in the metadata), uuid columns are written
    /// without the Parquet `UUID` logical type, which datashard 0.11.2 cannot read
    /// beside its own uuid files (docs/format.md §3).
    pub const WRITE_DELETED_ENTRIES: &str = "floe.write.deleted-entries";
    /// Target data file size (Iceberg key).
    pub const TARGET_FILE_SIZE: &str = "write.target-file-size-bytes";
    /// floe: a transaction open longer than this refuses to commit (default 12 h),
    /// so its files are never older than the orphan-cleanup grace period (1 day).
    pub const TRANSACTION_MAX_AGE_MS: &str = "floe.transaction.max-age-ms";
    /// Default of [`TRANSACTION_MAX_AGE_MS`].
    pub const DEFAULT_TRANSACTION_MAX_AGE_MS: i64 = 12 * 3600 * 1000;
    /// Snapshots older than this may be expired (Iceberg key; default 5 days).
    pub const MAX_SNAPSHOT_AGE_MS: &str = "history.expire.max-snapshot-age-ms";
    /// Snapshots always kept by expiry (Iceberg key; default 1).
    pub const MIN_SNAPSHOTS_TO_KEEP: &str = "history.expire.min-snapshots-to-keep";

    /// floe's defaults for a new table: bounded metadata so commit cost stays flat.
    pub fn defaults() -> Vec<(&'static str, &'static str)> {
        vec![
            (DELETE_AFTER_COMMIT, "true"),
            (PREVIOUS_VERSIONS_MAX, "100"),
            (MANIFEST_MERGE_ENABLED, "true"),
            (MANIFEST_MIN_COUNT_TO_MERGE, "100"),
            (RETAIN_SNAPSHOTS, "100"),
            ("write.format.default", "parquet"),
            ("write.parquet.compression-codec", "zstd"),
        ]
    }
}

/// One consistent state of the table: a version and its metadata.
#[derive(Debug, Clone)]
pub(crate) struct TableState {
    /// Version number (`v<N>`); 0 for a table opened from a catalog-style file.
    pub version: u64,
    pub metadata: Arc<TableMetadata>,
    pub metadata_path: PathBuf,
}

#[derive(Debug)]
pub(crate) struct TableInner {
    pub location: TableLocation,
    pub storage: Arc<dyn Storage>,
    pub options: TableOptions,
    pub state: Mutex<TableState>,
    pub stats: StatsRecorder,
    /// The manifest list of the snapshot this handle committed last (immutable file,
    /// so caching it by snapshot id is always valid).
    pub manifest_cache: Mutex<Option<(i64, Arc<Vec<ManifestFile>>)>>,
    /// Opened from an explicit catalog-style metadata file: no versions to commit to.
    pub read_only: bool,
}

/// A handle on one table. Clone it freely; clones share state and statistics.
#[derive(Debug, Clone)]
pub struct Table {
    pub(crate) inner: Arc<TableInner>,
}

/// One row of [`Table::history`].
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// When the snapshot became current.
    pub timestamp_ms: i64,
    /// The snapshot.
    pub snapshot_id: i64,
    /// Its parent.
    pub parent_snapshot_id: Option<i64>,
    /// Operation (`append`, …), when the snapshot is still retained.
    pub operation: Option<String>,
    /// Summary counters, when retained.
    pub summary: BTreeMap<String, String>,
}

impl Table {
    /// Creates a new table at `path` (the directory may exist but must hold no table).
    pub fn create(path: impl AsRef<Path>, schema: Schema) -> Result<Table> {
        Table::create_with(path, schema, TableOptions::default())
    }

    /// Creates a table with options (partitioned when
    /// [`TableOptions::partition_spec`] is set).
    pub fn create_with(path: impl AsRef<Path>, schema: Schema, options: TableOptions) -> Result<Table> {
        let spec = options.partition_spec.clone().unwrap_or_else(PartitionSpec::unpartitioned);
        Table::create_partitioned(path, schema, spec, options)
    }

    /// Creates a table partitioned by `spec` (built with [`PartitionSpec::builder`] over
    /// the same schema). Appends split their rows by partition and write them under
    /// `data/<field>=<value>/…`.
    ///
    /// ```no_run
    /// # fn main() -> floe::Result<()> {
    /// use floe::spec::metadata::PartitionSpec;
    /// use floe::spec::types::{PrimitiveType, Schema};
    /// let schema = Schema::builder()
    ///     .required("id", PrimitiveType::Long)
    ///     .required("ts", PrimitiveType::Timestamptz)
    ///     .build()?;
    /// let spec = PartitionSpec::builder(&schema).day("ts").bucket("id", 8).build()?;
    /// let table = floe::Table::create_partitioned("./events", schema, spec, floe::TableOptions::default())?;
    /// # Ok(()) }
    /// ```
    pub fn create_partitioned(
        path: impl AsRef<Path>,
        schema: Schema,
        spec: PartitionSpec,
        options: TableOptions,
    ) -> Result<Table> {
        // Refuse a spec that does not fit the schema before anything is written.
        crate::data::partition::validate_spec(&schema, &spec)?;
        let location = TableLocation::new(path.as_ref())?;
        let storage = storage_for(&location, &options);
        storage.create_dir_all(location.root()).map_err(|e| Error::io(location.root(), e))?;
        // Re-resolve now that the directory exists (symlinks in the path). Every path
        // below is taken from the resolved location (creating a table through a
        // symlinked parent used to fail: metadata/ was named through the link).
        let location = TableLocation::new(location.root())?;
        let storage = storage_for(&location, &options);
        let metadata_dir = location.metadata_dir();
        if find_latest_version(storage.as_ref(), &location, 0, false)?.is_some() {
            return Err(Error::TableExists { path: location.root().to_path_buf() });
        }
        storage.create_dir_all(&metadata_dir).map_err(|e| Error::io(&metadata_dir, e))?;
        let data_dir = location.data_dir();
        storage.create_dir_all(&data_dir).map_err(|e| Error::io(&data_dir, e))?;

        let mut schema = schema;
        schema.schema_id = 0;
        let mut props: BTreeMap<String, String> =
            properties::defaults().into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        props.insert(properties::NAME_MAPPING.to_string(), schema.name_mapping_json());
        props.extend(options.properties.clone());
        let now = now_ms();
        let metadata = TableMetadata {
            format_version: 2,
            table_uuid: uuid::Uuid::new_v4().to_string(),
            location: location.root_uri(),
            last_sequence_number: 0,
            last_updated_ms: now,
            last_column_id: schema.highest_field_id(),
            current_schema_id: 0,
            schemas: vec![schema],
            last_partition_id: spec.fields.iter().map(|f| f.field_id).max().unwrap_or(999),
            default_spec_id: spec.spec_id,
            partition_specs: vec![spec],
            properties: props,
            current_snapshot_id: None,
            snapshots: Vec::new(),
            snapshot_log: Vec::new(),
            metadata_log: Vec::new(),
            sort_orders: vec![SortOrder { order_id: 0, fields: Vec::new() }],
            default_sort_order_id: 0,
            refs: BTreeMap::new(),
            extra: BTreeMap::new(),
        };
        let path1 = location.version_file(1);
        let durable = options.durability.is_durable();
        let bytes = metadata.to_json_bytes()?;
        match storage.publish_exclusive(&path1, &bytes, durable) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::TableExists { path: location.root().to_path_buf() });
            }
            Err(e) => return Err(Error::io(&path1, e)),
        }
        if durable {
            // v1's own entry is synced by publish_exclusive; the new folders' entries
            // (and the root's, if we just made it) need their parents synced too.
            for dir in [Some(location.root()), location.root().parent()].into_iter().flatten() {
                storage.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
            }
        }
        let _ = storage.replace_advisory(&location.hint_file(), b"1");
        let state = TableState { version: 1, metadata: Arc::new(metadata), metadata_path: path1 };
        Ok(Table::from_parts(location, storage, options, state, false))
    }

    /// Opens the table at `path` (its newest version).
    pub fn open(path: impl AsRef<Path>) -> Result<Table> {
        Table::open_with(path, TableOptions::default())
    }

    /// Opens with options.
    pub fn open_with(path: impl AsRef<Path>, options: TableOptions) -> Result<Table> {
        let location = TableLocation::new(path.as_ref())?;
        let storage = storage_for(&location, &options);
        let Some(version) = find_latest_version(storage.as_ref(), &location, 0, false)? else {
            return Err(Error::TableNotFound { path: location.root().to_path_buf() });
        };
        let state = load_version(storage.as_ref(), &location, version)?;
        Ok(Table::from_parts(location, storage, options, state, false))
    }

    /// Opens the table at `path`, creating it with `schema` if there is none.
    /// If another process creates it at the same moment, opens theirs.
    pub fn create_or_open(path: impl AsRef<Path>, schema: Schema) -> Result<Table> {
        Table::create_or_open_with(path, schema, TableOptions::default())
    }

    /// [`Table::create_or_open`] with options.
    pub fn create_or_open_with(path: impl AsRef<Path>, schema: Schema, options: TableOptions) -> Result<Table> {
        match Table::open_with(path.as_ref(), options.clone()) {
            Ok(t) => Ok(t),
            Err(Error::TableNotFound { .. }) => match Table::create_with(path.as_ref(), schema, options.clone()) {
                Ok(t) => Ok(t),
                Err(Error::TableExists { .. }) => Table::open_with(path, options),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Opens a table from one explicit metadata file, e.g. the catalog-style
    /// `metadata/00000-<uuid>.metadata.json` pyiceberg's SQL catalog writes. The handle
    /// reads that version; it cannot commit (there is no version sequence to extend)
    /// unless the file is a `v<N>.metadata.json`, in which case this is [`Table::open`]
    /// pinned to that version until refreshed.
    pub fn open_metadata_file(file: impl AsRef<Path>) -> Result<Table> {
        let file = crate::io::location::local_path(file.as_ref())?;
        let file = file.as_path();
        let file = std::fs::canonicalize(file).map_err(|e| Error::io(file, e))?;
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
        let metadata = TableMetadata::from_json_bytes(&file, &bytes)?;
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let version = parse_version_file(name);
        let root = crate::io::location::uri_to_path(&metadata.location);
        // Trust the metadata's own location only if the file actually sits in it.
        let root = if file
            .parent()
            .and_then(Path::parent)
            .is_some_and(|p| std::fs::canonicalize(&root).map(|r| r == p).unwrap_or(false))
        {
            root
        } else {
            file.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or(root)
        };
        let location = TableLocation::new(&root)?;
        let options = TableOptions::default();
        let storage = storage_for(&location, &options);
        let state = TableState { version: version.unwrap_or(0), metadata: Arc::new(metadata), metadata_path: file };
        Ok(Table::from_parts(location, storage, options, state, version.is_none()))
    }

    fn from_parts(
        location: TableLocation,
        storage: Arc<dyn Storage>,
        options: TableOptions,
        state: TableState,
        read_only: bool,
    ) -> Table {
        location.set_current(&state.metadata.location);
        Table {
            inner: Arc::new(TableInner {
                location,
                storage,
                options,
                state: Mutex::new(state),
                stats: StatsRecorder::default(),
                manifest_cache: Mutex::new(None),
                read_only,
            }),
        }
    }

    pub(crate) fn state(&self) -> TableState {
        lock(&self.inner.state).clone()
    }

    /// Reloads the newest version (rolling forward past a stale hint).
    pub fn refresh(&self) -> Result<()> {
        if self.inner.read_only {
            return Ok(());
        }
        let current = self.state();
        let latest = find_latest_version(self.inner.storage.as_ref(), &self.inner.location, current.version, false)?
            .ok_or_else(|| Error::TableNotFound { path: self.inner.location.root().to_path_buf() })?;
        if latest != current.version {
            let state = load_version(self.inner.storage.as_ref(), &self.inner.location, latest)?;
            self.check_uuid(&current, &state)?;
            self.install(state);
        }
        Ok(())
    }

    pub(crate) fn check_uuid(&self, old: &TableState, new: &TableState) -> Result<()> {
        if old.metadata.table_uuid != new.metadata.table_uuid {
            return Err(Error::TableUuidChanged {
                path: new.metadata_path.clone(),
                expected: old.metadata.table_uuid.clone(),
                found: new.metadata.table_uuid.clone(),
            });
        }
        Ok(())
    }

    /// Installs a newer state (never goes backwards).
    pub(crate) fn install(&self, state: TableState) {
        let mut guard = lock(&self.inner.state);
        if state.version >= guard.version {
            self.inner.location.set_current(&state.metadata.location);
            *guard = state;
        }
    }

    /// The table root directory.
    pub fn path(&self) -> &Path {
        self.inner.location.root()
    }

    /// The version (`N` of `v<N>.metadata.json`) this handle last saw.
    pub fn version(&self) -> u64 {
        self.state().version
    }

    /// The metadata this handle last saw.
    pub fn metadata(&self) -> Arc<TableMetadata> {
        self.state().metadata
    }

    /// The path of the metadata file this handle last saw.
    pub fn metadata_path(&self) -> PathBuf {
        self.state().metadata_path
    }

    /// The current schema.
    pub fn schema(&self) -> Schema {
        self.metadata().current_schema().clone()
    }

    /// Table properties.
    pub fn properties(&self) -> BTreeMap<String, String> {
        self.metadata().properties.clone()
    }

    /// The current snapshot (`None` for an empty table).
    pub fn current_snapshot(&self) -> Option<Snapshot> {
        self.metadata().current_snapshot().cloned()
    }

    /// Retained snapshots, oldest first.
    pub fn snapshots(&self) -> Vec<Snapshot> {
        let mut s = self.metadata().snapshots.clone();
        s.sort_by_key(|s| (s.sequence_number, s.timestamp_ms));
        s
    }

    /// A named reference (`main`, a tag or branch).
    pub fn reference(&self, name: &str) -> Option<SnapshotRef> {
        self.metadata().refs.get(name).cloned()
    }

    /// The snapshot log: which snapshot was current when, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        let md = self.metadata();
        md.snapshot_log
            .iter()
            .map(|e| {
                let snap = md.snapshot(e.snapshot_id);
                HistoryEntry {
                    timestamp_ms: e.timestamp_ms,
                    snapshot_id: e.snapshot_id,
                    parent_snapshot_id: snap.and_then(|s| s.parent_snapshot_id),
                    operation: snap.map(|s| s.operation().to_string()),
                    summary: snap.map(|s| s.summary.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Commit statistics of this handle (and its clones) in this process.
    pub fn commit_stats(&self) -> CommitStats {
        self.inner.stats.snapshot()
    }

    /// The manifests of a snapshot.
    pub fn manifests(&self, snapshot: &Snapshot) -> Result<Vec<ManifestFile>> {
        load_manifest_list(self.inner.storage.as_ref(), &self.inner.location, snapshot)
    }

    /// Loads the metadata of an older version `v<N>` (for time travel by version).
    pub fn metadata_at_version(&self, version: u64) -> Result<Arc<TableMetadata>> {
        let path = self.inner.location.version_file(version);
        match self.inner.storage.exists(&path) {
            Ok(true) => {}
            Ok(false) => return Err(Error::NotFound { what: format!("version {version} (v{version}.metadata.json)") }),
            Err(e) => return Err(Error::io(&path, e)),
        }
        Ok(load_version(self.inner.storage.as_ref(), &self.inner.location, version)?.metadata)
    }

    pub(crate) fn location(&self) -> &TableLocation {
        &self.inner.location
    }

    /// The location the table's metadata records, when it is not the directory the
    /// table was opened at: the table was copied or moved here (a restored backup,
    /// `cp -a`, `mv`). Reads then use the files under [`Table::path`]; commits and
    /// destructive maintenance fail with [`Error::TableRelocated`] until
    /// [`Table::relocate`] rewrites the metadata for this directory.
    pub fn relocated_from(&self) -> Option<String> {
        self.inner.location.relocated_from()
    }

    /// The local path a URI recorded in this table's metadata is read at (a file of a
    /// copied or moved table is read under [`Table::path`], never at the original).
    pub fn resolve_path(&self, uri: &str) -> Result<PathBuf> {
        self.inner.location.read_path(uri)
    }

    /// `Ok` when `metadata` (a version of this table) may be committed on or
    /// maintained from the directory the table was opened at.
    pub(crate) fn check_not_relocated(&self, metadata: &TableMetadata) -> Result<()> {
        self.inner.location.check_not_relocated(&metadata.location)
    }

    pub(crate) fn storage(&self) -> &dyn Storage {
        self.inner.storage.as_ref()
    }
}

fn storage_for(location: &TableLocation, options: &TableOptions) -> Arc<dyn Storage> {
    options.storage.clone().unwrap_or_else(|| Arc::new(LocalStorage::new(location.root())))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The newest `v<N>`: hint, then forward probes; a listing only without a usable hint.
/// `known` is a version the caller already saw (probing starts past it).
pub(crate) fn find_latest_version(
    storage: &dyn Storage,
    location: &TableLocation,
    known: u64,
    force_list: bool,
) -> Result<Option<u64>> {
    let hint_path = location.hint_file();
    let hint = match storage.read(&hint_path) {
        Ok(bytes) => std::str::from_utf8(&bytes).ok().and_then(|s| s.trim().parse::<u64>().ok()),
        Err(_) => None,
    };
    let exists = |v: u64| -> Result<bool> {
        let p = location.version_file(v);
        storage.exists(&p).map_err(|e| Error::io(p, e))
    };
    let start = match hint.map(|h| h.max(known)).or((known > 0).then_some(known)) {
        Some(s) if !force_list && s > 0 && exists(s)? => Some(s),
        _ => None,
    };
    let mut n = match start {
        Some(s) => s,
        None => {
            let dir = location.metadata_dir();
            let entries = match storage.list(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io(dir, e)),
            };
            match entries.iter().filter_map(|e| parse_version_file(&e.name)).max() {
                Some(max) => max,
                None => return Ok(None),
            }
        }
    };
    while exists(n + 1)? {
        n += 1;
    }
    Ok(Some(n))
}

/// Reads and decodes `v<version>.metadata.json`.
pub(crate) fn load_version(storage: &dyn Storage, location: &TableLocation, version: u64) -> Result<TableState> {
    let path = location.version_file(version);
    let bytes = storage.read(&path).map_err(|e| Error::io(&path, e))?;
    let metadata = TableMetadata::from_json_bytes(&path, &bytes)?;
    // Files this version names under its recorded location are read under ours.
    location.observe(&metadata.location);
    Ok(TableState { version, metadata: Arc::new(metadata), metadata_path: path })
}

/// Reads a snapshot's manifest list.
pub(crate) fn load_manifest_list(
    storage: &dyn Storage,
    location: &TableLocation,
    snapshot: &Snapshot,
) -> Result<Vec<ManifestFile>> {
    let path = read_path(location, &snapshot.manifest_list)?;
    let bytes = storage.read(&path).map_err(|e| Error::io(&path, e))?;
    read_manifest_list(&path, &bytes)
}

/// The local path of a file named in metadata, for reading: every reader goes
/// through [`TableLocation::read_path`], which maps the files of a copied or moved
/// table to the directory it was opened at. Writes and deletes go through
/// [`TableLocation::confined_path`] as well.
pub(crate) fn read_path(location: &TableLocation, uri: &str) -> Result<PathBuf> {
    location.read_path(uri)
}
