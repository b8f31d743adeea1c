//! Opening, creating and refreshing a table; snapshots, history and properties.
//!
//! A [`Table`] is a cheap, cloneable handle (share it across threads). It caches the
//! newest metadata it has seen; [`Table::refresh`] rolls it forward. Finding the newest
//! version never trusts the hint alone: it reads `version-hint.text`, then probes
//! `v<N+1>`, `v<N+2>` … until one is missing, and lists the directory only when there
//! is no usable hint (docs/format.md §4).

pub(crate) mod stats;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::Rng;

use crate::data::write::WriteOptions;
use crate::error::{Error, Result};
use crate::io::location::{FileRef, TableLocation, parse_version_file};
use crate::io::storage::{Key, Storage};
use crate::io::{StorageOptions, StoreUrl, open_store};
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
#[non_exhaustive]
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
    /// The storage to use; `None` = the one floe builds for the location's scheme (the
    /// local file system). A given storage must be rooted at the table's location.
    pub storage: Option<Arc<dyn Storage>>,
    /// Options for building the storage (and the stores of files outside the table),
    /// keyed as the backend documents them. The local file system takes none.
    pub storage_options: StorageOptions,
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
            storage_options: StorageOptions::new(),
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

    /// Uses a custom storage (fault injection in tests), rooted at the table location.
    pub fn storage(mut self, s: Arc<dyn Storage>) -> Self {
        self.storage = Some(s);
        self
    }

    /// Sets [`TableOptions::advisory_lock`].
    pub fn advisory_lock(mut self, yes: bool) -> Self {
        self.advisory_lock = yes;
        self
    }

    /// Sets the Parquet writing options.
    pub fn write(mut self, write: WriteOptions) -> Self {
        self.write = write;
        self
    }

    /// Sets an option for building the storage.
    pub fn storage_option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.storage_options.insert(key.into(), value.into());
        self
    }
}

/// How a transaction retries after losing the race for a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Attempts to create a version file, the first included (1 = never retry, and
    /// never rebase: compare-and-commit).
    pub max_attempts: u32,
    /// First backoff delay (doubles each retry, with full jitter). On an object store
    /// the backoff is slotted instead (a random number of attempt-long slots, 4, 8,
    /// 16, … to choose from) and this is the shortest slot; zero turns backoff off.
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

    /// Sets [`RetryPolicy::lock_timeout`].
    pub fn with_lock_timeout(mut self, d: Duration) -> Self {
        self.lock_timeout = d;
        self
    }

    /// Sets the backoff delays.
    pub fn with_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// The wait before retry number `retry` (1-based) on an object store, where every
    /// writer's attempt takes about the same few round trips (`attempt`, the last one's
    /// duration): a random whole number of attempts among 4, 8, 16, … slots (Lance's
    /// slotted backoff), so that after a lost race the losers spread over the next few
    /// attempt-long windows instead of all retrying at once and mostly losing again.
    /// Between [`base_delay`](Self::base_delay) per slot and
    /// [`max_delay`](Self::max_delay) in all; zero when `base_delay` is zero.
    pub(crate) fn slotted_backoff(&self, retry: u32, attempt: Duration) -> Duration {
        if self.base_delay.is_zero() {
            return Duration::ZERO;
        }
        let slots = 1u32 << (retry + 1).min(10);
        let slot = rand::rng().random_range(0..slots);
        let unit = attempt.clamp(self.base_delay, self.max_delay.max(self.base_delay));
        unit.saturating_mul(slot).min(self.max_delay)
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
    /// floe: the table belongs to the warehouse at this root (set by
    /// `Warehouse::create_table`); it is committed to only through that warehouse's
    /// catalog (`floe::Warehouse::transaction`), and a direct `Table` commit is refused
    /// with `WarehouseError::ManagedTable`.
    pub const WAREHOUSE: &str = "floe.warehouse";
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
    /// floe: every this many versions (default 50; 0 = never), the committer of a
    /// version that is a multiple of it deletes, after its commit returned, the
    /// manifest lists and manifests that only snapshots outside every kept metadata
    /// version named (docs/maintenance.md, "Commit-time cleanup"). Needs
    /// `write.metadata.delete-after-commit.enabled`.
    pub const CLEANUP_INTERVAL: &str = "floe.commit.cleanup-interval";
    /// Default of [`CLEANUP_INTERVAL`]. A pass lists all of `metadata/` (~600 files with
    /// the default retention), so its cost per commit is that listing divided by the
    /// interval: at 10 it was 18 % of a single-row append's CPU (perf, docs/benchmarks.md),
    /// at 50 it is 4 %, for up to 40 more dead lists waiting between passes.
    pub const DEFAULT_CLEANUP_INTERVAL: i64 = 50;
    /// floe: commit-time cleanup deletes a trimmed snapshot's manifest list only if it
    /// was written this long before the oldest kept metadata version was built: the
    /// allowance for clocks (default 1,000 ms on a local file system, 300,000 ms on an
    /// object store, which stamps objects with its own clock).
    pub const CLEANUP_MARGIN_MS: &str = "floe.commit.cleanup-margin-ms";
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
    /// `copy-on-write` (default) or `merge-on-read`: how `delete` and `overwrite` by
    /// predicate change rows (Iceberg key). Merge-on-read writes position delete files
    /// instead of rewriting data files; it is ignored (copy-on-write) on tables
    /// datashard writes to, since datashard reads no delete files.
    pub const WRITE_DELETE_MODE: &str = "write.delete.mode";
    /// Like [`WRITE_DELETE_MODE`], for `upsert` (Iceberg key; `write.merge.mode` too).
    pub const WRITE_UPDATE_MODE: &str = "write.update.mode";
    /// Like [`WRITE_DELETE_MODE`], for `upsert` (Iceberg's MERGE INTO; Iceberg key).
    pub const WRITE_MERGE_MODE: &str = "write.merge.mode";
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
    pub(crate) fn defaults() -> Vec<(&'static str, &'static str)> {
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
    /// The metadata file's key in the table's store.
    pub metadata_key: Key,
    /// How it is named in errors and reports (its local path).
    pub metadata_path: PathBuf,
}

#[derive(Debug)]
pub(crate) struct TableInner {
    pub location: TableLocation,
    pub storage: Arc<dyn Storage>,
    pub options: TableOptions,
    pub state: Mutex<TableState>,
    pub stats: StatsRecorder,
    /// The manifest list of the snapshot this handle committed last (an immutable file).
    /// Keyed by the manifest list's URI, not the snapshot id: relocation rewrites a
    /// snapshot's list under the same id, and a list cached by id would then name the
    /// old directory's manifests in the next commit.
    pub manifest_cache: Mutex<Option<(String, Arc<Vec<ManifestFile>>)>>,
    /// Opened from an explicit catalog-style metadata file: no versions to commit to.
    pub read_only: bool,
    /// The commit-time cleanup of trimmed snapshots' metadata files (src/txn/cleanup.rs).
    pub cleanup: CleanupSlot,
    /// The manifest merge this handle's commits call for, built in the background for the
    /// next commit to use (src/txn/mod.rs, `merge_ahead`).
    pub merge_ahead: MergeAhead,
    /// The deletion of the version files that left the metadata log with this handle's
    /// last commit (`retire_versions` in src/txn/mod.rs), on the worker pool.
    pub retiring: Mutex<Option<crate::sync::Job<()>>>,
}

/// The background cleanup pass a handle may have running, and the manifests each
/// manifest list names (lists are immutable, so the cache is valid by key).
#[derive(Debug, Default)]
pub(crate) struct CleanupSlot {
    pub running: Mutex<Option<crate::sync::Job<()>>>,
    pub lists: ListCache,
}

/// What a handle knows of the manifest lists it has seen, by key (src/txn/cleanup.rs):
/// the manifests each names and, for a list its own commit published, the version that
/// commit created.
pub(crate) type ListCache = Arc<Mutex<std::collections::HashMap<Key, Listed>>>;

/// One manifest list as a handle's [`ListCache`] holds it.
#[derive(Debug)]
pub(crate) struct Listed {
    pub manifests: Arc<Vec<Key>>,
    /// A version this handle's commit linked that names the list (recorded after the
    /// commit; never for a list only read).
    pub named_by: Option<u64>,
}

/// A manifest merge built in the background (`merge_ahead` in src/txn/mod.rs) for some snapshot: the
/// merged manifest of the small manifests it folds.
pub(crate) struct Premerged {
    pub schema_id: i32,
    pub spec_id: i32,
    /// The manifests it folds (paths): it may replace them in any snapshot whose list
    /// still names every one (manifest files never change; a commit that removes files
    /// rewrites theirs under new names).
    pub replaces: std::collections::HashSet<String>,
    /// Its manifest-list entry; the sequence number and the adding snapshot are set by
    /// the commit that adds it.
    pub merged: ManifestFile,
    pub key: Key,
    /// The merged manifest's bytes until the first attempt that names it writes them.
    pub bytes: Option<Vec<u8>>,
}

/// The manifest merge a handle's next commit will likely need, built on the worker pool
/// (by `merge_ahead` in src/txn/mod.rs) while the handle is between commits or staging,
/// so no commit waits for reading the ~90 manifests a merge folds: one started after a
/// commit is usually done when the next commit builds its snapshot, and one not done yet
/// is left for the commit after that (a merge stays valid while the snapshots list every
/// manifest it folds). Built at once only by the handle whose commit made the merge due
/// (`MergeTrigger` in src/txn/mod.rs). Only a manifest list grown to twice
/// `commit.manifest.min-count-to-merge` is merged under the commit lock.
#[derive(Debug, Default)]
pub(crate) struct MergeAhead {
    pub slot: Mutex<Option<crate::sync::Job<Result<Option<Premerged>>>>>,
}

impl MergeAhead {
    /// The merge built in the background, if it is done (a failed one is dropped: the
    /// merge is built again for a later commit).
    pub fn take_ready(&self) -> Option<Premerged> {
        let mut slot = crate::sync::lock(&self.slot);
        if !slot.as_ref().is_some_and(|j| j.is_finished()) {
            return None;
        }
        match slot.take()?.join() {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::debug!("manifest merge built in the background failed ({e}); merging later");
                None
            }
            Err(why) => {
                tracing::debug!("manifest merge built in the background panicked ({why}); merging later");
                None
            }
        }
    }
}

impl Drop for TableInner {
    /// The last handle waits for its deletion of retired version files and its cleanup
    /// pass (bounded work), so a process that drops its tables before exiting never
    /// leaves one half done.
    fn drop(&mut self) {
        self.join_background();
    }
}

impl TableInner {
    /// Waits for the deletion of retired version files and the cleanup pass this handle
    /// started after its commits, if any.
    pub(crate) fn join_background(&self) {
        if let Some(h) = lock(&self.retiring).take() {
            let _ = h.join();
        }
        if let Some(h) = lock(&self.cleanup.running).take() {
            let _ = h.join();
        }
    }
}

/// A handle on one table. Clone it freely; clones share state and statistics.
#[derive(Debug, Clone)]
pub struct Table {
    pub(crate) inner: Arc<TableInner>,
}

/// One row of [`Table::history`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HistoryEntry {
    /// When the snapshot became current.
    pub timestamp: SystemTime,
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
    /// use floe::PartitionSpec;
    /// use floe::{PrimitiveType, Schema};
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
        let url = StoreUrl::parse(path.as_ref())?;
        let store = storage_for(&url, &options)?;
        check_writable(store.as_ref())?;
        store.create_dir_all(None).map_err(|e| Error::io(store.display_path(None), e))?;
        // Re-resolve now that the directory exists (symlinks in the path). Every key
        // below is under the resolved root (creating a table through a symlinked
        // parent used to fail: metadata/ was named through the link).
        let store = if options.storage.is_some() { store } else { storage_for(&url, &options)? };
        let location = TableLocation::new(store.clone(), options.storage_options.clone());
        if find_latest_version(&location, 0, false)?.is_some() {
            return Err(Error::TableExists { path: location.root().to_path_buf() });
        }
        refuse_compressed_metadata(&location)?;
        check_conditional_create(&location)?;
        for dir in [location.metadata_dir(), location.data_dir()] {
            store.create_dir_all(Some(&dir)).map_err(|e| Error::io(location.path(&dir), e))?;
        }

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
            datashard_snapshots: Default::default(),
        };
        let key1 = location.version_file(1);
        let path1 = location.path(&key1);
        let durable = options.durability.is_durable();
        let bytes = metadata.to_json_bytes()?;
        match store.publish_exclusive(&key1, &bytes, durable) {
            Ok(()) => {}
            // A store that retries writes may see its own landed v1: the bytes decide.
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && !(store.capabilities().retries_writes
                        && store.read(&key1).is_ok_and(|b| b[..] == bytes[..])) =>
            {
                return Err(Error::TableExists { path: location.root().to_path_buf() });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(&path1, e)),
        }
        if durable && store.capabilities().fsync && store.capabilities().directories {
            // v1's own entry is synced by publish_exclusive; the new folders' entries
            // (and the root's, if we just made it) need their parents synced too.
            let root = location.root().to_path_buf();
            store.sync_dir(None).map_err(|e| Error::io(&root, e))?;
            store.sync_root_entry().map_err(|e| Error::io(root.parent().unwrap_or(&root), e))?;
        }
        let _ = store.put_advisory(&location.hint_file(), b"1");
        let state = TableState { version: 1, metadata: Arc::new(metadata), metadata_key: key1, metadata_path: path1 };
        Ok(Table::from_parts(location, options, state, false))
    }

    /// Opens the table at `path` (its newest version).
    pub fn open(path: impl AsRef<Path>) -> Result<Table> {
        Table::open_with(path, TableOptions::default())
    }

    /// Opens with options.
    pub fn open_with(path: impl AsRef<Path>, options: TableOptions) -> Result<Table> {
        let url = StoreUrl::parse(path.as_ref())?;
        let location = TableLocation::new(storage_for(&url, &options)?, options.storage_options.clone());
        let Some(version) = find_latest_version(&location, 0, false)? else {
            refuse_compressed_metadata(&location)?;
            return Err(Error::TableNotFound { path: location.root().to_path_buf() });
        };
        let state = load_version(&location, version)?;
        Ok(Table::from_parts(location, options, state, false))
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
        Table::open_metadata_file_with(file, TableOptions::default())
    }

    /// [`Table::open_metadata_file`] with options: the storage options of a file in a
    /// bucket (`s3://b/t/metadata/00001-<uuid>.metadata.json`), as [`Table::open_with`]
    /// takes them.
    pub fn open_metadata_file_with(file: impl AsRef<Path>, options: TableOptions) -> Result<Table> {
        let url = StoreUrl::parse(file.as_ref())?;
        // The file with symlinks resolved: its own directory decides the table root.
        let url = match crate::io::canonical_url(&url) {
            Some(real) => StoreUrl::parse(Path::new(&real))?,
            None => url,
        };
        // `<root>/metadata/<name>`: the root is the directory above the file's.
        let (dir, name) = url.as_str().rsplit_once('/').unwrap_or(("", url.as_str()));
        let (root, parent) = dir.rsplit_once('/').unwrap_or((dir, ""));
        let key = Key::from_segments([parent, name].into_iter().filter(|s| !s.is_empty()))
            .map_err(|e| Error::InvalidArgument(format!("{}: {e}", file.as_ref().display())))?;
        let root = if root.ends_with(':') || root.ends_with("//") { format!("{root}/") } else { root.to_string() };
        let store = open_store(&StoreUrl::parse(Path::new(&root))?, &options.storage_options)?;
        let location = TableLocation::new(store, options.storage_options.clone());
        let path = location.path(&key);
        let bytes = location.store().read(&key).map_err(|e| Error::io(&path, e))?;
        let metadata = TableMetadata::from_json_bytes(&path, &bytes)?;
        let version = parse_version_file(key.name());
        let state = TableState {
            version: version.unwrap_or(0),
            metadata: Arc::new(metadata),
            metadata_key: key,
            metadata_path: path,
        };
        Ok(Table::from_parts(location, options, state, version.is_none()))
    }

    fn from_parts(location: TableLocation, options: TableOptions, state: TableState, read_only: bool) -> Table {
        location.set_current(&state.metadata.location);
        Table {
            inner: Arc::new(TableInner {
                storage: location.store().clone(),
                location,
                options,
                state: Mutex::new(state),
                stats: StatsRecorder::default(),
                manifest_cache: Mutex::new(None),
                read_only,
                cleanup: CleanupSlot::default(),
                merge_ahead: MergeAhead::default(),
                retiring: Mutex::new(None),
            }),
        }
    }

    /// A read-only handle on this table pinned to `state` (a warehouse snapshot's
    /// version of it, possibly read from a staged file not yet published).
    pub(crate) fn pinned(&self, state: TableState) -> Table {
        Table::from_parts(self.inner.location.clone(), self.inner.options.clone(), state, true)
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
        let latest = find_latest_version(&self.inner.location, current.version, false)?
            .ok_or_else(|| Error::TableNotFound { path: self.inner.location.root().to_path_buf() })?;
        if latest != current.version {
            let state = load_version(&self.inner.location, latest)?;
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
        let mut s: Vec<Snapshot> = self.metadata().snapshots.iter().map(|s| Snapshot::clone(s)).collect();
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
                    timestamp: e.timestamp(),
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
        load_manifest_list(&self.inner.location, snapshot)
    }

    /// Loads the metadata of an older version `v<N>` (for time travel by version).
    pub fn metadata_at_version(&self, version: u64) -> Result<Arc<TableMetadata>> {
        let key = self.inner.location.version_file(version);
        match self.inner.storage.exists(&key) {
            Ok(true) => {}
            Ok(false) => return Err(Error::NotFound { what: format!("version {version} (v{version}.metadata.json)") }),
            Err(e) => return Err(Error::io(self.inner.location.path(&key), e)),
        }
        Ok(load_version(&self.inner.location, version)?.metadata)
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

    /// The local path a location recorded in this table's metadata is read at (a data
    /// file's [`DataFile::file_path`](crate::spec::DataFile::file_path), a manifest, a
    /// manifest list, a metadata file): a file of a copied or moved table is read under
    /// [`Table::path`], never at the original; a relative location is relative to the
    /// table root.
    ///
    /// Errors: [`Error::TableRelocated`] for a location outside a copied table's
    /// recorded location (it could be another table's file).
    pub fn resolve_path(&self, uri: &str) -> Result<PathBuf> {
        Ok(self.inner.location.resolve(uri)?.path())
    }

    /// A read-only handle on exactly the version this handle sees now (same storage,
    /// nothing read): reads through it see one snapshot and one schema however many
    /// commits land meanwhile, and it never refreshes.
    pub fn pin(&self) -> Table {
        self.pinned(self.state())
    }

    /// Where a file named in this table's metadata (a data file's
    /// [`DataFile::file_path`](crate::spec::DataFile::file_path)) lives in
    /// `object_store` terms, for a table in a bucket: the store's URL
    /// (`scheme://authority`, e.g. `s3://bucket`), the store, and the object's path in
    /// it. `None` for a file on the local file system (read it at
    /// [`Table::resolve_path`]).
    #[cfg(feature = "object-store")]
    #[allow(clippy::type_complexity)] // (store URL, store, object path): read once, by a query engine
    pub fn object_location(
        &self,
        uri: &str,
    ) -> Result<Option<(String, Arc<dyn object_store::ObjectStore>, object_store::path::Path)>> {
        let file = self.inner.location.resolve(uri)?;
        let Some((store, path)) = file.store.object_store_path(&file.key) else { return Ok(None) };
        let root = file.store.root_url();
        let base = match root.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()),
            None => return Err(Error::InvalidArgument(format!("{root} is not a URL of the form scheme://bucket"))),
        };
        Ok(Some((base, store, path)))
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

/// The store of a table at `url`: the options' storage (which must be rooted there), or
/// the one [`open_store`] builds.
fn storage_for(url: &StoreUrl, options: &TableOptions) -> Result<Arc<dyn Storage>> {
    let Some(given) = &options.storage else { return open_store(url, &options.storage_options) };
    let canonical = crate::io::canonical_url(url).unwrap_or_else(|| url.as_str().to_string());
    if given.root_url() != canonical && given.root_url() != url.as_str() {
        return Err(Error::InvalidArgument(format!(
            "the storage in TableOptions is rooted at {}, not at the table location {}",
            given.root_url(),
            url.as_str()
        )));
    }
    Ok(given.clone())
}

/// A remote store ([`Capabilities::retries_writes`](crate::io::storage::Capabilities))
/// may be a server that claims conditional creates but ignores them (S3-compatible
/// servers that drop `If-None-Match`): creating a table there creates one probe object
/// twice, and a second `Ok` refuses the store before anything else is written. Three
/// requests, once per table.
fn check_conditional_create(location: &TableLocation) -> Result<()> {
    let store = location.store();
    if !store.capabilities().retries_writes {
        return Ok(());
    }
    let probe = location.metadata_dir().join(&format!(".floe-conditional-create-probe-{}", uuid::Uuid::new_v4()));
    let probe = probe.map_err(|e| Error::InvalidArgument(e.to_string()))?;
    let path = location.path(&probe);
    store.put_new(&probe, b"1", false).map_err(|e| Error::io(&path, e))?;
    let second = store.put_new(&probe, b"2", false);
    let _ = store.delete(&probe);
    match second {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(&path, e)),
        Ok(()) => Err(Error::Unsupported {
            what: format!(
                "writing to {}: the store accepted a second conditional create of one object (it ignores \
                 If-None-Match), so floe's commit point would not be one",
                store.root_url()
            ),
        }),
    }
}

/// Commits need an exclusive create that is atomic under concurrent writers.
pub(crate) fn check_writable(store: &dyn Storage) -> Result<()> {
    if store.capabilities().atomic_exclusive_create {
        return Ok(());
    }
    Err(Error::Unsupported {
        what: format!(
            "writing to {}: the store does not create objects exclusively and atomically, \
             which floe's commit point needs",
            store.root_url()
        ),
    })
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The newest `v<N>`: hint, then forward probes; a listing only without a usable hint.
/// `known` is a version the caller already saw (probing starts past it).
///
/// On an object store, where each check is a request, a handle that already knows a
/// version (`known > 0`) does not read the hint: it checks `v<known>` and probes past
/// it, as it would with a stale hint. That is the hint-less path the commit protocol
/// already covers (a version created in a hole left by deleted old versions is caught
/// after the commit point, `Transaction::in_lineage`); the hint only saves probes to a handle
/// that is many versions behind.
pub(crate) fn find_latest_version(location: &TableLocation, known: u64, force_list: bool) -> Result<Option<u64>> {
    let storage = location.store();
    let read_hint = known == 0 || force_list || !is_object_store(storage.as_ref());
    let hint = match read_hint.then(|| storage.read(&location.hint_file())) {
        Some(Ok(bytes)) => std::str::from_utf8(&bytes).ok().and_then(|s| s.trim().parse::<u64>().ok()),
        _ => None,
    };
    let exists = |v: u64| -> Result<bool> {
        let k = location.version_file(v);
        storage.exists(&k).map_err(|e| Error::io(location.path(&k), e))
    };
    let start = match hint.map(|h| h.max(known)).or((known > 0).then_some(known)) {
        Some(s) if !force_list && s > 0 && exists(s)? => Some(s),
        _ => None,
    };
    let mut n = match start {
        Some(s) => s,
        None => match list_versions(location)?.into_iter().max() {
            Some(max) => max,
            None => return Ok(None),
        },
    };
    while exists(n + 1)? {
        n += 1;
    }
    Ok(Some(n))
}

/// The newest version at or after `known`, which the caller knows exists (it has just
/// read it): forward probes only, no check of `known` itself and no hint.
pub(crate) fn probe_past(location: &TableLocation, known: u64) -> Result<u64> {
    let storage = location.store();
    let mut n = known;
    loop {
        let k = location.version_file(n + 1);
        if !storage.exists(&k).map_err(|e| Error::io(location.path(&k), e))? {
            return Ok(n);
        }
        n += 1;
    }
}

/// An object store: no directories, and every check is a network request (on a local
/// disk the same checks cost microseconds, and are always made).
pub(crate) fn is_object_store(storage: &dyn Storage) -> bool {
    !storage.capabilities().directories
}

/// The version numbers of the `v<N>.metadata.json` files in `metadata/` (a missing
/// folder has none).
pub(crate) fn list_versions(location: &TableLocation) -> Result<Vec<u64>> {
    let dir = location.metadata_dir();
    let is_version = |k: &Key| k.parent().as_ref() == Some(&dir) && parse_version_file(k.name()).is_some();
    let listing =
        location.store().list_where(Some(&dir), &is_version).map_err(|e| Error::io(location.path(&dir), e))?;
    Ok(listing.objects.iter().filter_map(|o| parse_version_file(o.key.name())).collect())
}

/// Refuses a table whose metadata is gzip-compressed (`v<N>.gz.metadata.json`, or the
/// older `v<N>.metadata.json.gz`: what Iceberg's Hadoop tables write under the property
/// `write.metadata.compression-codec=gzip`). floe reads and writes only plain
/// `v<N>.metadata.json`; taking such a directory for "no table" would let a create lay
/// a second, empty table beside the real one. Called only where no plain version exists.
fn refuse_compressed_metadata(location: &TableLocation) -> Result<()> {
    let dir = location.metadata_dir();
    let listing = location.store().list(Some(&dir)).map_err(|e| Error::io(location.path(&dir), e))?;
    let compressed = listing.objects.iter().filter(|o| o.key.parent().as_ref() == Some(&dir)).find(|o| {
        let name = o.key.name();
        name.strip_suffix(".gz.metadata.json").or_else(|| name.strip_suffix(".metadata.json.gz")).is_some_and(|v| {
            v.strip_prefix('v').is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    });
    match compressed {
        Some(o) => Err(Error::Unsupported {
            what: format!(
                "gzip-compressed table metadata ({}; written under write.metadata.compression-codec=gzip): \
                 floe reads only plain v<N>.metadata.json — have the writer set the property to none",
                location.path(&o.key).display()
            ),
        }),
        None => Ok(()),
    }
}

/// Reads and decodes `v<version>.metadata.json`.
pub(crate) fn load_version(location: &TableLocation, version: u64) -> Result<TableState> {
    let key = location.version_file(version);
    let path = location.path(&key);
    let bytes = location.store().read(&key).map_err(|e| Error::io(&path, e))?;
    state_from_bytes(location, version, &bytes)
}

/// Decodes the bytes of `v<version>.metadata.json` (read by the caller).
pub(crate) fn state_from_bytes(location: &TableLocation, version: u64, bytes: &[u8]) -> Result<TableState> {
    let key = location.version_file(version);
    let path = location.path(&key);
    let metadata = TableMetadata::from_json_bytes(&path, bytes)?;
    // Files this version names under its recorded location are read under ours.
    location.observe(&metadata.location);
    Ok(TableState { version, metadata: Arc::new(metadata), metadata_key: key, metadata_path: path })
}

/// Reads a snapshot's manifest list.
pub(crate) fn load_manifest_list(location: &TableLocation, snapshot: &Snapshot) -> Result<Vec<ManifestFile>> {
    let file = location.resolve(&snapshot.manifest_list)?;
    let bytes = file.read()?;
    read_manifest_list(&file.path(), &bytes)
}

/// Reads the files `uris` name (the manifests of a snapshot), in order: the table's own
/// with one [`Storage::read_many`] on the I/O pool (concurrent requests on a remote
/// store), any outside the table one by one.
pub(crate) fn read_files(table: &Table, uris: &[&str]) -> Result<Vec<(FileRef, bytes::Bytes)>> {
    read_files_at(table.location(), table.inner.options.write.io_threads, uris)
}

/// [`read_files`] for work that holds the table's location rather than a handle.
pub(crate) fn read_files_at(
    location: &TableLocation,
    io_threads: usize,
    uris: &[&str],
) -> Result<Vec<(FileRef, bytes::Bytes)>> {
    let files: Vec<FileRef> = uris.iter().map(|u| location.resolve(u)).collect::<Result<_>>()?;
    let keys: Vec<Key> = files.iter().filter(|f| !f.external).map(|f| f.key.clone()).collect();
    let mut own = location.store().read_many(&keys, io_threads).into_iter();
    files
        .into_iter()
        .map(|f| {
            let bytes = if f.external {
                f.read()?
            } else {
                match own.next() {
                    Some(r) => r.map_err(|e| Error::io(f.path(), e))?,
                    None => {
                        return Err(Error::io(f.path(), std::io::Error::other("read_many returned too few results")));
                    }
                }
            };
            Ok((f, bytes))
        })
        .collect()
}
