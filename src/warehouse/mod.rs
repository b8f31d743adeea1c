//! Warehouses: many tables under one root, committed together atomically through one
//! catalog log, with no server (docs/transactions.md).
//!
//! Layout: `<root>/_floe/catalog/v<K>.json` (the log, [`catalog`]) and one Iceberg table
//! directory per table (`<root>/<name>`, namespaces `a.b` as `a/b`).
//!
//! The protocol of a [`WarehouseTransaction`] commit, and what it promises:
//! 1. Read the newest catalog version `K`. Every table the transaction touches is rolled
//!    forward first (its `v<N>` published from the staged file the catalog names, if a
//!    writer died before publishing it), and a `v<N+1>` the catalog does not know is
//!    reported ([`WarehouseError::ForeignVersion`]), never overwritten.
//! 2. Each table's next version is built by the table's own transaction machinery
//!    (same conflict rules, rebase and [`crate::RetryPolicy`]) and its metadata written
//!    to `metadata/floe-staged-<txn>-<attempt>.metadata.json`: a name that does not
//!    start with `v`, so no Iceberg reader sees it. Tables are staged in parallel
//!    (bounded threads): they are independent until the commit point.
//! 3. The commit point: the exclusive create of `catalog/v<K+1>.json` naming each
//!    table's new version and staged file, and the transaction id. Losing it to a
//!    transaction that touched none of our tables retries at `K+2` with the same staged
//!    files; otherwise the touched tables are rebuilt on their new versions. On
//!    `AlreadyExists` (or an ambiguous error) the version is read back: our id means
//!    our create landed.
//! 4. Each table's `v<N+1>.metadata.json` is created exclusively with the staged bytes
//!    (tables in parallel, never before step 3), then its hint. `commit` returns only after every table is
//!    published. A process that dies after step 3 leaves the transaction committed:
//!    any later writer touching the table, [`Warehouse::open`] (for recent versions)
//!    and [`Warehouse::repair`] (for all) roll it forward; never back.
//!
//! floe readers ([`Warehouse::snapshot`]) read every table at one catalog version, from
//! `v<N>` or, while it is unpublished, from the staged file: they never see part of a
//! transaction. Iceberg readers see each table at a committed version; across tables
//! they may see one ahead of another while a commit publishes.

pub(crate) mod catalog;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use arrow_array::RecordBatch;

use crate::error::{Error, Result, WarehouseError};
use crate::io::storage::{Key, Staged, Storage};
use crate::io::{StoreUrl, open_store};
use crate::ops::maintenance::{CompactOptions, ExpireOptions, MaintenanceReport, MergeManifestsOptions, OrphanOptions};
use crate::scan::Scan;
use crate::spec::metadata::{PartitionSpec, TableMetadata};
use crate::spec::types::Schema;
use crate::sync::lock;
use crate::table::{Table, TableOptions, TableState, load_version, now_ms, properties};
use crate::txn::{CommitReport, Prepared, Transaction};
use catalog::{CatalogState, Entry, FORMAT, Log, Record};

/// The age below which [`Warehouse::expire_catalog`] keeps catalog versions unless
/// told otherwise (as a table keeps snapshots: 5 days).
const DEFAULT_CATALOG_AGE: Duration = Duration::from_secs(5 * 86_400);

/// How many recent catalog versions [`Warehouse::open`] rolls forward.
const OPEN_ROLL_FORWARD: u64 = 64;

/// A warehouse: tables by name under one root, with multi-table transactions.
/// Clone it freely; clones share the cached catalog and table handles.
#[derive(Debug, Clone)]
pub struct Warehouse {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    root_url: String,
    log: Log,
    options: TableOptions,
    /// The newest catalog state this handle has read.
    state: Mutex<Arc<CatalogState>>,
    /// Table handles by location.
    tables: Mutex<HashMap<String, Table>>,
    /// Versions [`Warehouse::open`] published (reported by the next `repair`).
    rolled_forward: Mutex<Vec<(String, u64)>>,
}

/// One table of [`Warehouse::tables`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableInfo {
    /// Its name (`ns.name` with a namespace).
    pub name: String,
    /// Its directory, which Iceberg readers open.
    pub path: PathBuf,
    /// The table version the catalog holds for it.
    pub version: u64,
}

/// What [`WarehouseTransaction::commit`] did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WarehouseCommit {
    /// The catalog version that is this transaction's commit point.
    pub catalog_version: u64,
    /// The transaction id recorded in it.
    pub txn: String,
    /// Each table's commit (its new version, snapshot, rows).
    pub tables: BTreeMap<String, CommitReport>,
    /// Catalog creates tried (1 = no race lost).
    pub attempts: u32,
    /// Time from the commit point to the last table's `v<N+1>` being published: how
    /// long Iceberg readers could see one table ahead of another.
    pub publish_window: Duration,
    /// Time from `commit()` to its return.
    pub elapsed: Duration,
}

/// What [`Warehouse::expire_catalog`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogExpireReport {
    /// The newest catalog version when it ran.
    pub catalog_version: u64,
    /// The oldest catalog version kept (the floor): time travel reaches back to it.
    pub oldest_version: u64,
    /// Catalog versions deleted (with `dry_run`: that would be).
    pub deleted_versions: usize,
    /// Old checkpoints deleted (with `dry_run`: that would be).
    pub deleted_checkpoints: usize,
    /// Nothing was changed.
    pub dry_run: bool,
}

/// What [`Warehouse::repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The catalog version repaired to.
    pub catalog_version: u64,
    /// Tables whose version was published by this repair, or by opening the warehouse
    /// handle it ran on: `(name, version)`.
    pub published: Vec<(String, u64)>,
}

impl Warehouse {
    /// Creates a warehouse at `root` (a directory that may exist, holding no warehouse).
    pub fn create(root: impl AsRef<Path>) -> Result<Warehouse> {
        Warehouse::create_with(root, TableOptions::default())
    }

    /// [`Warehouse::create`] with the options its tables are opened and committed with
    /// (durability, retry policy, write options).
    pub fn create_with(root: impl AsRef<Path>, options: TableOptions) -> Result<Warehouse> {
        let wh = Warehouse::handle(root.as_ref(), options)?;
        wh.inner.log.ensure_dir()?;
        let init = Record {
            format: FORMAT.into(),
            version: 1,
            txn: uuid::Uuid::new_v4().to_string(),
            timestamp_ms: now_ms(),
            operation: "init".into(),
            parent: None,
            dropped: Vec::new(),
            changes: BTreeMap::new(),
        };
        match wh.inner.log.create(&init, wh.durable()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(WarehouseError::Exists { root: wh.inner.root_url.clone() }.into());
            }
            Err(e) => return Err(Error::io(wh.inner.root.join("_floe/catalog/v1.json"), e)),
        }
        wh.inner.log.hint(1);
        wh.refresh()?;
        Ok(wh)
    }

    /// Opens the warehouse at `root`, rolling forward the transactions of its recent
    /// catalog versions that a writer left unpublished.
    pub fn open(root: impl AsRef<Path>) -> Result<Warehouse> {
        Warehouse::open_with(root, TableOptions::default())
    }

    /// [`Warehouse::open`] with options (see [`Warehouse::create_with`]).
    pub fn open_with(root: impl AsRef<Path>, options: TableOptions) -> Result<Warehouse> {
        let wh = Warehouse::handle(root.as_ref(), options)?;
        let state = wh.refresh()?;
        if state.version == 0 {
            return Err(WarehouseError::NotFound { root: wh.inner.root_url.clone() }.into());
        }
        // Recent transactions only: older ones were rolled forward by whoever opened
        // the warehouse since, and `repair` covers everything.
        let from = state.version.saturating_sub(OPEN_ROLL_FORWARD) + 1;
        let mut recent: BTreeMap<String, Entry> = BTreeMap::new();
        for k in from..=state.version {
            if let Some(r) = wh.inner.log.read(k)? {
                for d in &r.dropped {
                    recent.remove(d);
                }
                recent.extend(r.changes.into_iter().filter(|(_, e)| e.staged.is_some()));
            }
        }
        for (name, _) in recent {
            if let Some(e) = state.tables.get(&name)
                && wh.roll_forward(&name, e)?
            {
                lock(&wh.inner.rolled_forward).push((name.clone(), e.version));
            }
        }
        Ok(wh)
    }

    /// Opens the warehouse at `root`, creating it if there is none.
    pub fn create_or_open(root: impl AsRef<Path>) -> Result<Warehouse> {
        match Warehouse::open(root.as_ref()) {
            Err(Error::Warehouse(WarehouseError::NotFound { .. })) => match Warehouse::create(root.as_ref()) {
                Err(Error::Warehouse(WarehouseError::Exists { .. })) => Warehouse::open(root),
                r => r,
            },
            r => r,
        }
    }

    fn handle(root: &Path, mut options: TableOptions) -> Result<Warehouse> {
        let url = StoreUrl::parse(root)?;
        let store = open_store(&url, &options.storage_options)?;
        // Each table opens its own store at its directory.
        options.storage = None;
        let root = url.local_path().map(Path::to_path_buf).unwrap_or_else(|| root.to_path_buf());
        Ok(Warehouse {
            inner: Arc::new(Inner {
                root,
                root_url: store.root_url().to_string(),
                log: Log::new(store),
                options,
                state: Mutex::new(Arc::new(CatalogState::default())),
                tables: Mutex::new(HashMap::new()),
                rolled_forward: Mutex::new(Vec::new()),
            }),
        })
    }

    fn durable(&self) -> bool {
        self.inner.options.durability.is_durable()
    }

    fn store(&self) -> &Arc<dyn Storage> {
        self.inner.log.store()
    }

    /// The warehouse root.
    pub fn path(&self) -> &Path {
        &self.inner.root
    }

    /// The newest catalog version.
    pub fn version(&self) -> Result<u64> {
        Ok(self.refresh()?.version)
    }

    /// Reads the catalog up to its newest version.
    fn refresh(&self) -> Result<Arc<CatalogState>> {
        let cached = lock(&self.inner.state).clone();
        let head = self.inner.log.head(cached.version)?;
        if head == cached.version {
            return Ok(cached);
        }
        // Far behind (or the versions after ours were expired, or one of them is a
        // stray version a stalled writer is about to withdraw): from a checkpoint.
        let state = if cached.version == 0 || head - cached.version > catalog::CHECKPOINT_EVERY {
            self.inner.log.state_at(head)?
        } else {
            let mut s = (*cached).clone();
            match self.inner.log.advance(&mut s, head) {
                Ok(()) => s,
                Err(_) => self.inner.log.state_at(head)?,
            }
        };
        let state = Arc::new(state);
        let mut slot = lock(&self.inner.state);
        if slot.version < state.version {
            *slot = state.clone();
        }
        Ok(state)
    }

    /// The table handle for a catalog entry (opened once per location).
    fn open_table(&self, entry: &Entry) -> Result<Table> {
        if let Some(t) = lock(&self.inner.tables).get(&entry.location) {
            return Ok(t.clone());
        }
        let t = Table::open_with(self.inner.root.join(&entry.location), self.inner.options.clone())?;
        lock(&self.inner.tables).insert(entry.location.clone(), t.clone());
        Ok(t)
    }

    /// Creates an empty, unpartitioned table `name` (`ns.name` for a namespace).
    pub fn create_table(&self, name: &str, schema: Schema) -> Result<Table> {
        self.create_table_partitioned(name, schema, PartitionSpec::unpartitioned())
    }

    /// Creates an empty table `name` partitioned by `spec`.
    pub fn create_table_partitioned(&self, name: &str, schema: Schema, spec: PartitionSpec) -> Result<Table> {
        self.create_table_with(name, schema, self.inner.options.clone().partition_spec(spec))
    }

    /// Creates an empty table `name` with `options` (its properties and partition
    /// spec; the warehouse's own options open and commit it afterwards).
    pub fn create_table_with(&self, name: &str, schema: Schema, options: TableOptions) -> Result<Table> {
        let segments = check_name(name)?;
        let state = self.refresh()?;
        if state.tables.contains_key(name) {
            return Err(WarehouseError::TableExists { name: name.into() }.into());
        }
        // The directory is the name, unless a dropped or renamed table still holds it.
        let mut location = segments.join("/");
        if self.holds_files(&location)? {
            location = format!("{location}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        }
        let mut options = options.property(properties::WAREHOUSE, self.inner.root_url.clone());
        options.storage = None;
        let table = Table::create_with(self.inner.root.join(&location), schema, options)?;
        let entry = Entry { location: location.clone(), version: table.version(), staged: None };
        let res = self.commit_catalog("create", |s| {
            if s.tables.contains_key(name) {
                return Err(WarehouseError::TableExists { name: name.into() }.into());
            }
            Ok((Vec::new(), BTreeMap::from([(name.to_string(), entry.clone())])))
        });
        if let Err(e) = res {
            // Not in the catalog: the table we created is nobody's.
            let loc = table.location();
            for k in [loc.version_file(1), loc.hint_file()] {
                let _ = table.storage().delete(&k);
            }
            return Err(e);
        }
        // A handle whose later transactions start from the catalog's version.
        let table = Table::open_with(self.inner.root.join(&location), self.inner.options.clone())?;
        lock(&self.inner.tables).insert(location, table.clone());
        Ok(table)
    }

    /// Whether anything is stored under `location` (an old table's files).
    fn holds_files(&self, location: &str) -> Result<bool> {
        let key = Key::new(location).map_err(|e| Error::InvalidArgument(format!("{location}: {e}")))?;
        match self.store().list(Some(&key)) {
            Ok(l) => Ok(!l.objects.is_empty()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io(self.inner.root.join(location), e)),
        }
    }

    /// The table `name` at the newest catalog version, for reading (its handle reads
    /// the table's newest published version; use [`Warehouse::snapshot`] for reads
    /// consistent across tables). Commits to it go through [`Warehouse::transaction`].
    pub fn table(&self, name: &str) -> Result<Table> {
        let state = self.refresh()?;
        let entry = state.tables.get(name).ok_or_else(|| WarehouseError::TableNotFound { name: name.into() })?;
        self.roll_forward(name, entry)?;
        let t = self.open_table(entry)?;
        t.refresh()?;
        Ok(t)
    }

    /// Every table at the newest catalog version, by name.
    pub fn tables(&self) -> Result<Vec<TableInfo>> {
        let state = self.refresh()?;
        Ok(state
            .tables
            .iter()
            .map(|(name, e)| TableInfo {
                name: name.clone(),
                path: self.inner.root.join(&e.location),
                version: e.version,
            })
            .collect())
    }

    /// Removes `name` from the warehouse. Its files stay on disk (older snapshots of
    /// the warehouse still read them); the name may be reused.
    pub fn drop_table(&self, name: &str) -> Result<()> {
        self.commit_catalog("drop", |s| {
            if !s.tables.contains_key(name) {
                return Err(WarehouseError::TableNotFound { name: name.into() }.into());
            }
            Ok((vec![name.to_string()], BTreeMap::new()))
        })
        .map(|_| ())
    }

    /// [`Warehouse::drop_table`], then deletes every file of the table (all objects
    /// under its directory); returns how many. The drop is committed first, so no
    /// floe reader of the current catalog names the table any more; warehouse
    /// snapshots pinned at an older catalog version can no longer read it, and an
    /// Iceberg reader pointed at its directory finds nothing. A writer still inside a
    /// transaction on the table fails at commit (`TableNotFound`); data files it
    /// writes after the purge are left under the removed directory.
    pub fn drop_table_purge(&self, name: &str) -> Result<usize> {
        let mut location = None;
        self.commit_catalog("drop", |s| {
            let e = s.tables.get(name).ok_or_else(|| WarehouseError::TableNotFound { name: name.into() })?;
            location = Some(e.location.clone());
            Ok((vec![name.to_string()], BTreeMap::new()))
        })?;
        let Some(location) = location else { return Ok(0) };
        lock(&self.inner.tables).remove(&location);
        let dir = Key::new(location.as_str()).map_err(|e| Error::InvalidArgument(format!("{location}: {e}")))?;
        let store = self.store();
        let listing = store.list(Some(&dir)).map_err(|e| Error::io(self.inner.root.join(&location), e))?;
        let keys: Vec<Key> = listing.objects.into_iter().map(|o| o.key).filter(|k| k.starts_with(&dir)).collect();
        let mut deleted = 0;
        for (key, r) in keys.iter().zip(store.delete_many(&keys, 8)) {
            match r {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(self.inner.root.join(key.as_str()), e)),
            }
        }
        Ok(deleted)
    }

    /// Renames `from` to `to` (the table's directory stays where it is).
    pub fn rename_table(&self, from: &str, to: &str) -> Result<()> {
        check_name(to)?;
        self.commit_catalog("rename", |s| {
            let e = s.tables.get(from).ok_or_else(|| WarehouseError::TableNotFound { name: from.into() })?;
            if s.tables.contains_key(to) {
                return Err(WarehouseError::TableExists { name: to.into() }.into());
            }
            // A pending publish of the table is finished before its entry moves.
            self.roll_forward(from, e)?;
            let moved = Entry { location: e.location.clone(), version: e.version, staged: None };
            Ok((vec![from.to_string()], BTreeMap::from([(to.to_string(), moved)])))
        })
        .map(|_| ())
    }

    /// Commits a catalog-only change (create, drop, rename) decided on the newest
    /// state, retrying on lost races until the retry policy's budget runs out.
    fn commit_catalog<F>(&self, operation: &str, mut decide: F) -> Result<u64>
    where
        F: FnMut(&CatalogState) -> Result<(Vec<String>, BTreeMap<String, Entry>)>,
    {
        let retry = self.inner.options.retry;
        let started = Instant::now();
        let txn = uuid::Uuid::new_v4().to_string();
        let mut lost = 0u32;
        loop {
            let state = self.refresh()?;
            let (dropped, changes) = decide(&state)?;
            let record = Record {
                format: FORMAT.into(),
                version: state.version + 1,
                txn: txn.clone(),
                timestamp_ms: now_ms().max(state.timestamp_ms + 1),
                operation: operation.into(),
                parent: state.txn.clone(),
                dropped,
                changes,
            };
            if self.create_record(&record)? {
                self.after_catalog_commit(record.version);
                return Ok(record.version);
            }
            lost += 1;
            if started.elapsed() >= retry.total_budget {
                return Err(Error::ConcurrentModification {
                    base_version: state.version,
                    attempted_version: record.version,
                    conflicting: Vec::new(),
                    retries_exhausted: true,
                });
            }
            std::thread::sleep(retry.backoff(lost));
        }
    }

    /// Creates catalog version `record.version`: `Ok(true)` if it holds our record
    /// (created now, or found with our transaction id), `Ok(false)` if another's.
    ///
    /// A create that succeeds below the catalog's floor re-created a version that
    /// [`Warehouse::expire_catalog`] deleted (this writer stalled from before the
    /// expiry until after it): it is withdrawn and reported as a lost race, so the
    /// caller re-reads the catalog and commits at the real head.
    fn create_record(&self, record: &Record) -> Result<bool> {
        let ours = match self.inner.log.create(record, self.durable()) {
            Ok(()) => true,
            Err(err) => match self.inner.log.read(record.version) {
                Ok(Some(r)) => r.txn == record.txn,
                Ok(None) if err.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(Error::io(
                        self.inner.root.join(format!("_floe/catalog/v{}.json", record.version)),
                        err,
                    ));
                }
                Ok(None) | Err(_) => {
                    return Err(WarehouseError::CommitStateUnknown {
                        version: record.version,
                        txn: record.txn.clone(),
                        source: err,
                    }
                    .into());
                }
            },
        };
        if !ours {
            return Ok(false);
        }
        let floor = self.inner.log.floor().map_err(|e| WarehouseError::CommitStateUnknown {
            version: record.version,
            txn: record.txn.clone(),
            source: std::io::Error::other(format!("reading the catalog's floor: {e}")),
        })?;
        if record.version < floor {
            tracing::warn!(
                "catalog v{} was re-created below the floor v{floor} (this writer stalled across an expiry): withdrawn, retrying",
                record.version
            );
            self.inner.log.withdraw(record.version);
            return Ok(false);
        }
        Ok(true)
    }

    /// The warehouse's advisory commit lock (`_floe/.locks/catalog.lock`), waited for
    /// up to `wait`; `None` when the store has no locks, it failed, or the wait ran out
    /// (the commit then goes on without it).
    fn lock_catalog(&self, wait: Duration) -> Option<crate::io::storage::LockGuard> {
        if !self.inner.options.advisory_lock || !self.store().capabilities().advisory_lock {
            return None;
        }
        let key = Key::known("_floe/.locks/catalog.lock");
        if self.store().capabilities().directories {
            let dir = Key::known("_floe/.locks");
            if self.store().create_dir_all(Some(&dir)).is_err() {
                return None;
            }
        }
        match self.store().try_lock_exclusive(&key) {
            Ok(Some(g)) => return Some(g),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!("catalog lock unavailable ({e}); committing without it");
                return None;
            }
        }
        // A blocking lock on a helper thread, so the kernel hands it over the moment it
        // is released and the wait can still time out (as a table's commit lock does).
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let store = self.store().clone();
        let spawned = std::thread::Builder::new().name("floe-catalog-lock".into()).spawn(move || {
            let _ = tx.send(store.lock_exclusive(&key));
        });
        if spawned.is_err() {
            return None;
        }
        match rx.recv_timeout(wait) {
            Ok(Ok(g)) => Some(g),
            _ => None,
        }
    }

    fn after_catalog_commit(&self, version: u64) {
        self.inner.log.hint(version);
        if let Ok(state) = self.refresh()
            && state.version == version
        {
            self.inner.log.maybe_checkpoint(&state);
        }
    }

    /// Publishes the table's catalog version if a writer left it unpublished.
    /// `Ok(true)` if this call published it.
    fn roll_forward(&self, name: &str, entry: &Entry) -> Result<bool> {
        let table = self.open_table(entry)?;
        let loc = table.location();
        let key = loc.version_file(entry.version);
        if table.storage().exists(&key).map_err(|e| Error::io(loc.path(&key), e))? {
            return Ok(false);
        }
        let Some(staged) = &entry.staged else {
            return Err(WarehouseError::CorruptCatalog {
                path: loc.path(&key),
                reason: format!("table {name:?}: v{} is missing and the catalog names no staged file", entry.version),
            }
            .into());
        };
        let staged_key = Key::new(staged.as_str()).map_err(|e| Error::InvalidArgument(format!("{staged}: {e}")))?;
        let bytes = table.storage().read(&staged_key).map_err(|e| Error::io(loc.path(&staged_key), e))?;
        let published = self.publish(name, &table, entry.version, &bytes, None)?;
        if published {
            tracing::info!(
                "rolled {name:?} forward to v{} (committed in the catalog, left unpublished)",
                entry.version
            );
        }
        Ok(published)
    }

    /// Creates `v<version>` of `table` with `bytes`, then moves its hint. `Ok(false)` if
    /// it already held exactly these bytes (another process published it first).
    /// `staged`, when given, holds `bytes` already staged for `v<version>` (the commit
    /// staged it before its commit point, so the publish window is one link).
    fn publish(&self, name: &str, table: &Table, version: u64, bytes: &[u8], staged: Option<Staged>) -> Result<bool> {
        let loc = table.location();
        let key = loc.version_file(version);
        let durable = self.durable();
        let outcome = match staged {
            Some(s) => table.storage().publish_staged(s),
            None => table.storage().publish_exclusive(&key, bytes, durable),
        };
        let created = match outcome {
            Ok(()) => true,
            Err(err) => match table.storage().read(&key) {
                Ok(found) if found.as_ref() == bytes => false,
                Ok(found) => {
                    return Err(WarehouseError::ForeignVersion {
                        table: name.into(),
                        version,
                        detail: format!(
                            "it differs from the staged metadata the catalog committed ({} bytes, expected {})",
                            found.len(),
                            bytes.len()
                        ),
                    }
                    .into());
                }
                Err(_) => return Err(Error::io(loc.path(&key), err)),
            },
        };
        if created && durable {
            sync_metadata_dir(table)?;
        }
        let hint = loc.hint_file();
        let current = table
            .storage()
            .read(&hint)
            .ok()
            .and_then(|b| std::str::from_utf8(&b).ok().and_then(|s| s.trim().parse::<u64>().ok()));
        if current.is_none_or(|h| h < version) {
            let _ = table.storage().put_advisory(&hint, version.to_string().as_bytes());
        }
        Ok(created)
    }

    /// Publishes every table whose catalog version is unpublished (after a writer
    /// died between the commit point and its publishes), at the newest catalog version.
    pub fn repair(&self) -> Result<RepairReport> {
        let state = self.refresh()?;
        let mut published = std::mem::take(&mut *lock(&self.inner.rolled_forward));
        for (name, e) in &state.tables {
            if self.roll_forward(name, e)? {
                published.push((name.clone(), e.version));
            }
        }
        Ok(RepairReport { catalog_version: state.version, published })
    }

    /// The table's state at a catalog entry: `v<N>`, or the staged file the catalog
    /// committed while `v<N>` is unpublished.
    fn entry_state(&self, table: &Table, entry: &Entry) -> Result<TableState> {
        let loc = table.location();
        match load_version(loc, entry.version) {
            Ok(s) => return Ok(s),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let Some(staged) = &entry.staged else {
            return Err(WarehouseError::CorruptCatalog {
                path: loc.path(&loc.version_file(entry.version)),
                reason: format!("v{} is missing and the catalog names no staged file", entry.version),
            }
            .into());
        };
        let key = Key::new(staged.as_str()).map_err(|e| Error::InvalidArgument(format!("{staged}: {e}")))?;
        let path = loc.path(&key);
        let bytes = table.storage().read(&key).map_err(|e| Error::io(&path, e))?;
        let metadata = TableMetadata::from_json_bytes(&path, &bytes)?;
        Ok(TableState { version: entry.version, metadata: Arc::new(metadata), metadata_key: key, metadata_path: path })
    }

    /// A consistent read point at the newest catalog version.
    pub fn snapshot(&self) -> Result<WarehouseSnapshot> {
        Ok(WarehouseSnapshot { warehouse: self.clone(), state: self.refresh()? })
    }

    /// The read point at catalog version `version` (time travel across tables).
    pub fn snapshot_at(&self, version: u64) -> Result<WarehouseSnapshot> {
        let head = self.refresh()?;
        if version == 0 || version > head.version {
            return Err(WarehouseError::NoSuchVersion { version, newest: head.version }.into());
        }
        if version == head.version {
            return Ok(WarehouseSnapshot { warehouse: self.clone(), state: head });
        }
        let expired = |floor: u64| -> Error { WarehouseError::VersionExpired { version, oldest: floor }.into() };
        let floor = self.inner.log.floor()?;
        if version < floor {
            return Err(expired(floor));
        }
        match self.inner.log.state_at(version) {
            Ok(state) => Ok(WarehouseSnapshot { warehouse: self.clone(), state: Arc::new(state) }),
            Err(e) => match self.inner.log.floor() {
                // Expired while we read it.
                Ok(floor) if version < floor => Err(expired(floor)),
                _ => Err(e),
            },
        }
    }

    /// The read point of the newest catalog version committed at or before `time`.
    pub fn snapshot_as_of(&self, time: SystemTime) -> Result<WarehouseSnapshot> {
        let head = self.refresh()?;
        let ms = time.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let floor = self.inner.log.floor()?;
        match self.inner.log.version_as_of(ms, head.version, floor)? {
            Some(k) => self.snapshot_at(k),
            None => Err(WarehouseError::NoSuchVersion { version: 0, newest: head.version }.into()),
        }
    }

    /// Starts a multi-table transaction.
    pub fn transaction(&self) -> WarehouseTransaction {
        WarehouseTransaction {
            warehouse: self.clone(),
            tables: BTreeMap::new(),
            retry: self.inner.options.retry,
            txn: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// The warehouse a table belongs to (its [`properties::WAREHOUSE`]) and its name
    /// there; `None` for a table outside any warehouse (or dropped from it).
    ///
    /// A table whose recorded warehouse does not hold it (the warehouse was copied or
    /// moved, and the original may be gone) belongs to the warehouse whose root is the
    /// nearest ancestor of its directory holding it, so commits reach that warehouse
    /// and get its answer ([`WarehouseError::Relocated`] until it is relocated).
    pub fn of_table(table: &Table) -> Result<Option<(Warehouse, String)>> {
        let Some(root) = table.properties().get(properties::WAREHOUSE).cloned() else { return Ok(None) };
        let holding = |wh: Warehouse| -> Result<Option<(Warehouse, String)>> {
            let found = wh.tables()?.into_iter().find(|t| t.path == table.path()).map(|t| t.name);
            Ok(found.map(|name| (wh, name)))
        };
        match Warehouse::open(Path::new(&root)) {
            Ok(wh) => {
                if let Some(found) = holding(wh)? {
                    return Ok(Some(found));
                }
            }
            Err(Error::Warehouse(WarehouseError::NotFound { .. })) => {}
            Err(e) => return Err(e),
        }
        for dir in table.path().ancestors().skip(1) {
            if dir.as_os_str().is_empty() {
                break;
            }
            match Warehouse::open(dir) {
                Ok(wh) => return holding(wh),
                Err(Error::Warehouse(WarehouseError::NotFound { .. })) => {}
                Err(_) => break,
            }
        }
        Ok(None)
    }

    /// Commits a transaction started on a warehouse table's own handle through the
    /// warehouse (a multi-table commit of one table); a table outside any warehouse
    /// commits as usual. What the `floe` command does for every write.
    pub fn commit_table_transaction(tx: Transaction) -> Result<CommitReport> {
        let Some((wh, name)) = Warehouse::of_table(tx.table())? else { return tx.commit() };
        let mut wtx = wh.transaction();
        wtx.add(&name, tx)?;
        let mut c = wtx.commit()?;
        c.tables.remove(&name).ok_or_else(|| WarehouseError::TableNotFound { name }.into())
    }

    /// Compacts table `name` ([`Table::compact`]); each rewrite commits as a one-table
    /// warehouse transaction, so snapshots and the catalog see it like any write.
    pub fn compact(&self, name: &str, opts: &CompactOptions) -> Result<MaintenanceReport> {
        self.table(name)?.compact_via(opts, &|tx| self.commit_one(name, tx))
    }

    /// Expires old snapshots of table `name` ([`Table::expire_snapshots`]), the metadata
    /// change committed through the catalog. Older warehouse snapshots that pinned an
    /// expired table snapshot can no longer read that table (as time travel on a plain
    /// table cannot).
    pub fn expire_snapshots(&self, name: &str, opts: &ExpireOptions) -> Result<MaintenanceReport> {
        self.table(name)?.expire_snapshots_via(opts, &|tx| self.commit_one(name, tx))
    }

    /// Rolls table `name` back to an ancestor snapshot ([`Table::rollback_to`]) in a
    /// one-table warehouse transaction.
    pub fn rollback_to(&self, name: &str, snapshot_id: i64) -> Result<MaintenanceReport> {
        self.table(name)?.set_current_via(snapshot_id, true, &|tx| self.commit_one(name, tx))
    }

    /// Makes any retained snapshot of table `name` current ([`Table::set_current`]) in
    /// a one-table warehouse transaction.
    pub fn set_current(&self, name: &str, snapshot_id: i64) -> Result<MaintenanceReport> {
        self.table(name)?.set_current_via(snapshot_id, false, &|tx| self.commit_one(name, tx))
    }

    /// Folds table `name`'s small manifests into one ([`Table::merge_manifests`]) in a
    /// one-table warehouse transaction.
    pub fn merge_manifests(&self, name: &str, opts: &MergeManifestsOptions) -> Result<MaintenanceReport> {
        self.table(name)?.merge_manifests_via(opts, &|tx| self.commit_one(name, tx))
    }

    /// Tags a snapshot of table `name` ([`Table::create_tag`]) in a one-table
    /// warehouse transaction.
    pub fn create_tag(&self, name: &str, tag: &str, snapshot_id: i64) -> Result<MaintenanceReport> {
        self.table(name)?.create_tag_via(tag, snapshot_id, &|tx| self.commit_one(name, tx))
    }

    /// Removes a tag of table `name` ([`Table::remove_tag`]) in a one-table warehouse
    /// transaction.
    pub fn remove_tag(&self, name: &str, tag: &str) -> Result<MaintenanceReport> {
        self.table(name)?.remove_tag_via(tag, &|tx| self.commit_one(name, tx))
    }

    /// Removes orphan files of table `name` ([`Table::remove_orphans`]), reading the
    /// catalog: the table's committed transactions are rolled forward first (so their
    /// files are reachable from its published metadata, however old), and the staged
    /// metadata files that catalog versions name are kept. Staged files of
    /// transactions that never reached the catalog are orphans like any other file
    /// older than the grace period.
    pub fn remove_orphans(&self, name: &str, opts: &OrphanOptions) -> Result<MaintenanceReport> {
        let state = self.refresh()?;
        let entry = state.tables.get(name).ok_or_else(|| WarehouseError::TableNotFound { name: name.into() })?;
        if self.roll_forward(name, entry)? {
            lock(&self.inner.rolled_forward).push((name.to_string(), entry.version));
        }
        let table = self.open_table(entry)?;
        // Every catalog version still stored (older ones were folded into a
        // checkpoint by `expire_catalog`, which published their tables' versions
        // first), and the entry the current map holds.
        let mut keep = HashSet::new();
        if let Some(key) = entry.staged.as_deref().and_then(|s| Key::new(s).ok()) {
            keep.insert(key);
        }
        for k in self.inner.log.floor()?..=state.version {
            let Some(record) = self.inner.log.read(k)? else { continue };
            for e in record.changes.values().filter(|e| e.location == entry.location) {
                if let Some(key) = e.staged.as_deref().and_then(|s| Key::new(s).ok()) {
                    keep.insert(key);
                }
            }
        }
        table.remove_orphans_keeping(opts, &keep)
    }

    /// Deletes old catalog versions: the log's files (one per transaction) would
    /// otherwise accumulate forever. Versions are kept when they are among the newest
    /// `opts.retain_last` (default 1) or committed after the age cut-off
    /// (`opts.older_than` / `opts.before`, default 5 days); of the rest, everything
    /// below the newest checkpoint version `R` (a multiple of 64) that the retention
    /// allows is deleted, after `c<R>.json` is made durable and `R` recorded as the
    /// catalog's floor. Every table's committed version is published first
    /// ([`Warehouse::repair`]), so nothing needs a deleted version to be rolled forward.
    ///
    /// Afterwards [`Warehouse::snapshot_at`] below `R` is
    /// [`WarehouseError::VersionExpired`]. Safe while writers run: a writer that
    /// stalled from before the expiry until after it and re-creates a deleted version
    /// number withdraws it and commits at the real head (docs/transactions.md).
    pub fn expire_catalog(&self, opts: &ExpireOptions) -> Result<CatalogExpireReport> {
        let head = self.refresh()?.version;
        let floor = self.inner.log.floor()?;
        let now = SystemTime::now();
        let mut cutoff = opts.before.unwrap_or(now);
        if let Some(age) = opts.older_than {
            cutoff = cutoff.min(now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH));
        } else if opts.before.is_none() {
            cutoff = now.checked_sub(DEFAULT_CATALOG_AGE).unwrap_or(SystemTime::UNIX_EPOCH);
        }
        let cutoff_ms = cutoff.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        let keep = opts.retain_last.unwrap_or(1).max(1) as u64;
        // Deleted versions are below `R`: all older than the cut-off (`R - 1 <= V`)
        // and not among the newest `keep` (`R - 1 <= head - keep`).
        let by_count = (head + 1).saturating_sub(keep);
        let by_age = self.inner.log.version_as_of(cutoff_ms, head, floor)?.map_or(0, |v| v + 1);
        let target = by_count.min(by_age).min(head) / catalog::CHECKPOINT_EVERY * catalog::CHECKPOINT_EVERY;
        let mut report = CatalogExpireReport {
            catalog_version: head,
            oldest_version: floor,
            deleted_versions: 0,
            deleted_checkpoints: 0,
            dry_run: opts.dry_run,
        };
        if target <= floor {
            return Ok(report);
        }
        if !opts.dry_run {
            self.repair()?;
        }
        let (versions, checkpoints) = self.inner.log.expire(target, self.durable(), opts.dry_run)?;
        report.oldest_version = target;
        report.deleted_versions = versions;
        report.deleted_checkpoints = checkpoints;
        Ok(report)
    }

    /// The warehouse root its tables record, when it is not this one: the warehouse
    /// was copied or moved here (`cp -a`, a restored backup, `mv`). Reads work; commits
    /// fail with [`WarehouseError::Relocated`] until [`Warehouse::relocate`].
    pub fn relocated_from(&self) -> Result<Option<String>> {
        let state = self.refresh()?;
        for (name, e) in &state.tables {
            let table = self.open_table(e)?;
            let recorded = table.properties().get(properties::WAREHOUSE).cloned();
            if table.relocated_from().is_some() || recorded.as_deref() != Some(self.inner.root_url.as_str()) {
                tracing::debug!("table {name:?} records the warehouse at {recorded:?}");
                return Ok(Some(recorded.unwrap_or_else(|| table.relocated_from().unwrap_or_default())));
            }
        }
        Ok(None)
    }

    /// Makes a warehouse that was copied or moved here ([`Warehouse::relocated_from`])
    /// a warehouse of its own, in one multi-table transaction: every table is
    /// relocated ([`Table::relocate`]: new manifests and manifest lists naming the
    /// files under this root, its location and metadata log set to it) and records
    /// this root. All tables move at one catalog version or none does. `Ok(None)` when
    /// nothing needed it. The catalog itself names tables by their directory relative
    /// to the root, so it needs no change. Relocating one table of a warehouse alone is
    /// refused ([`WarehouseError::ManagedTable`]): the tables move together.
    pub fn relocate(&self) -> Result<Option<WarehouseCommit>> {
        // Every committed version published first: relocation builds on `v<N>`.
        self.repair()?;
        let state = self.refresh()?;
        let mut wtx = self.transaction();
        for (name, e) in &state.tables {
            let table = self.open_table(e)?;
            table.refresh()?;
            let (_, tx) = table.relocation(false)?;
            let records_us = table.properties().get(properties::WAREHOUSE) == Some(&self.inner.root_url);
            let mut tx = match tx {
                Some(tx) => tx,
                None if records_us => continue,
                None => table.new_transaction(),
            };
            if !records_us {
                tx.set_property(properties::WAREHOUSE, self.inner.root_url.clone());
            }
            wtx.add(name, tx)?;
        }
        if wtx.tables.is_empty() {
            return Ok(None);
        }
        wtx.commit().map(Some)
    }

    /// [`WarehouseError::Relocated`] for `e` when it says `table` was copied here.
    fn relocated_error(&self, table: &Table, e: Error) -> Error {
        match e {
            Error::TableRelocated { recorded, .. } => {
                let from = table.properties().get(properties::WAREHOUSE).cloned().unwrap_or(recorded);
                WarehouseError::Relocated { root: self.inner.root_url.clone(), recorded: from }.into()
            }
            e => e,
        }
    }

    /// Commits `tx` (on this warehouse's table `name`) as a one-table transaction.
    fn commit_one(&self, name: &str, tx: Transaction) -> Result<CommitReport> {
        let mut wtx = self.transaction();
        wtx.add(name, tx)?;
        let mut c = wtx.commit()?;
        c.tables.remove(name).ok_or_else(|| WarehouseError::TableNotFound { name: name.into() }.into())
    }

    /// Appends `batches` to `name` in one transaction (a multi-table commit of one table).
    pub fn append(&self, name: &str, batches: &[RecordBatch]) -> Result<WarehouseCommit> {
        let mut tx = self.transaction();
        let t = tx.table(name)?;
        for b in batches {
            t.append(b)?;
        }
        tx.commit()
    }
}

/// What staging one table of a transaction gave.
enum Staging {
    /// A newer catalog version moved the table meanwhile: re-read and retry.
    Raced,
    /// Its next version, the staged metadata file's key, and the same bytes staged
    /// for `v<N+1>`.
    New(Box<Prepared>, Key, Staged),
}

/// The catalog entry naming `p` staged at `key`.
fn staged_entry(location: &str, p: &Prepared, key: &Key) -> Entry {
    Entry { location: location.to_string(), version: p.version, staged: Some(key.as_str().to_string()) }
}

impl Warehouse {
    /// Builds and stages table `name`'s next version on its catalog `entry`: rolls a
    /// pending publish forward, checks for a foreign `v<N+1>`, rebases the table's
    /// transaction by its conflict rules, writes the staged metadata and stages the
    /// same bytes for `v<N+1>`. Runs on a worker thread per table.
    fn stage_table(
        &self,
        name: &str,
        entry: &Entry,
        tx: &mut Transaction,
        txn: &str,
        attempt: u32,
        durable: bool,
    ) -> Result<Staging> {
        self.roll_forward(name, entry)?;
        let table = tx.table().clone();
        let loc = table.location();
        let next = loc.version_file(entry.version + 1);
        if table.storage().exists(&next).map_err(|e| Error::io(loc.path(&next), e))? {
            // A version the catalog we read does not name: a newer catalog version (a
            // race), or a foreign writer.
            let s = self.refresh()?;
            if s.tables.get(name).is_some_and(|e| e.version > entry.version) {
                return Ok(Staging::Raced);
            }
            return Err(WarehouseError::ForeignVersion {
                table: name.into(),
                version: entry.version + 1,
                detail: format!("the catalog holds v{}", entry.version),
            }
            .into());
        }
        let latest = self.entry_state(&table, entry)?;
        let p = match tx.prepare_on(&latest) {
            Ok(p) => p,
            Err(e @ Error::ConcurrentModification { .. }) => {
                return Err(WarehouseError::ConcurrentModification { table: name.into(), source: Box::new(e) }.into());
            }
            Err(e) => return Err(self.relocated_error(&table, e)),
        };
        let key = Key::known(format!("metadata/floe-staged-{txn}-{attempt}.metadata.json"));
        table.storage().put_new(&key, &p.bytes, durable).map_err(|e| Error::io(loc.path(&key), e))?;
        let version_key = loc.version_file(p.version);
        let staged = match table.storage().stage_exclusive(&version_key, &p.bytes, durable) {
            Ok(s) => s,
            Err(e) => {
                let _ = table.storage().delete(&key);
                return Err(Error::io(loc.path(&version_key), e));
            }
        };
        Ok(Staging::New(Box::new(p), key, staged))
    }
}

/// fsyncs a table's `metadata/` directory where the backend has directories to sync.
fn sync_metadata_dir(table: &Table) -> Result<()> {
    let caps = table.storage().capabilities();
    if caps.fsync && caps.directories {
        let dir = table.location().metadata_dir();
        table.storage().sync_dir(Some(&dir)).map_err(|e| Error::io(table.location().path(&dir), e))?;
    }
    Ok(())
}

/// A table name: `.`-separated parts of ASCII letters, digits, `_` and `-`, not
/// starting with `-` or `.`, at most 200 bytes; `_floe` is reserved.
fn check_name(name: &str) -> Result<Vec<&str>> {
    let bad =
        |reason: &str| -> Error { WarehouseError::InvalidName { name: name.into(), reason: reason.into() }.into() };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > 200 {
        return Err(bad("longer than 200 bytes"));
    }
    let parts: Vec<&str> = name.split('.').collect();
    for p in &parts {
        if p.is_empty() {
            return Err(bad("empty part between dots"));
        }
        if p.starts_with('-') {
            return Err(bad("a part starts with '-'"));
        }
        if !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(bad("only ASCII letters, digits, '_', '-' and '.' between parts"));
        }
    }
    if parts[0] == "_floe" {
        return Err(bad("_floe is reserved for the catalog"));
    }
    Ok(parts)
}

/// A consistent read point: every table as of one catalog version.
#[derive(Debug, Clone)]
pub struct WarehouseSnapshot {
    warehouse: Warehouse,
    state: Arc<CatalogState>,
}

impl WarehouseSnapshot {
    /// The catalog version read.
    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// When that version was committed.
    pub fn timestamp(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.state.timestamp_ms.max(0) as u64)
    }

    /// The tables at this point, by name.
    pub fn table_names(&self) -> Vec<String> {
        self.state.tables.keys().cloned().collect()
    }

    /// The table version `name` has at this point.
    pub fn table_version(&self, name: &str) -> Result<u64> {
        Ok(self.entry(name)?.version)
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        self.state.tables.get(name).ok_or_else(|| WarehouseError::TableNotFound { name: name.into() }.into())
    }

    /// A read-only handle on `name` as of this point.
    pub fn table(&self, name: &str) -> Result<Table> {
        let entry = self.entry(name)?;
        let table = self.warehouse.open_table(entry)?;
        let state = self.warehouse.entry_state(&table, entry)?;
        Ok(table.pinned(state))
    }

    /// A scan of `name` as of this point.
    pub fn scan(&self, name: &str) -> Result<Scan> {
        Ok(self.table(name)?.scan())
    }
}

/// A multi-table transaction: stage changes on each table through
/// [`WarehouseTransaction::table`], then [`WarehouseTransaction::commit`] them atomically.
#[derive(Debug)]
pub struct WarehouseTransaction {
    warehouse: Warehouse,
    /// Per table: its catalog location and its transaction.
    tables: BTreeMap<String, (String, Transaction)>,
    retry: crate::table::RetryPolicy,
    txn: String,
}

impl WarehouseTransaction {
    /// The retry policy for lost races (default: the warehouse's options).
    pub fn with_retry(mut self, retry: crate::table::RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The transaction id recorded in the catalog at commit.
    pub fn id(&self) -> &str {
        &self.txn
    }

    /// The transaction of table `name` in this multi-table transaction, pinned to its
    /// version at the newest catalog version when first asked for: `append`, `upsert`,
    /// `delete`, `overwrite`, … stage on it as on one table.
    pub fn table(&mut self, name: &str) -> Result<&mut Transaction> {
        if !self.tables.contains_key(name) {
            let wh = &self.warehouse;
            let state = wh.refresh()?;
            let entry = state.tables.get(name).ok_or_else(|| WarehouseError::TableNotFound { name: name.into() })?;
            wh.roll_forward(name, entry)?;
            let table = wh.open_table(entry)?;
            let base = wh.entry_state(&table, entry)?;
            if let Some(recorded) = table.relocated_from() {
                // The warehouse was copied or moved: answer for the warehouse, not the table.
                let e = Error::TableRelocated { recorded, opened: table.path().to_path_buf(), file: None };
                return Err(wh.relocated_error(&table, e));
            }
            let tx = Transaction::new(table, base);
            self.tables.insert(name.to_string(), (entry.location.clone(), tx));
        }
        match self.tables.get_mut(name) {
            Some((_, tx)) => Ok(tx),
            None => Err(WarehouseError::TableNotFound { name: name.into() }.into()),
        }
    }

    /// Adds a transaction started on a table handle (e.g. [`Table::new_transaction`] on
    /// [`Warehouse::table`]) as table `name`'s part of this transaction. It is rebased by
    /// the table's conflict rules if the table moved since it began.
    pub fn add(&mut self, name: &str, tx: Transaction) -> Result<()> {
        let wh = &self.warehouse;
        let state = wh.refresh()?;
        let entry = state.tables.get(name).ok_or_else(|| WarehouseError::TableNotFound { name: name.into() })?;
        if tx.table().path() != wh.inner.root.join(&entry.location).as_path() {
            return Err(Error::InvalidArgument(format!(
                "the transaction is on {}, not on the warehouse's table {name:?}",
                tx.table().path().display()
            )));
        }
        if self.tables.contains_key(name) {
            return Err(Error::InvalidArgument(format!("table {name:?} is already in this transaction")));
        }
        self.tables.insert(name.to_string(), (entry.location.clone(), tx));
        Ok(())
    }

    /// Commits every table's changes atomically (the protocol in the module docs).
    /// `Ok` means the transaction is in the catalog and every table is published.
    /// A conflict on a table is [`WarehouseError::ConcurrentModification`] naming it;
    /// then nothing of the transaction is committed.
    pub fn commit(mut self) -> Result<WarehouseCommit> {
        if self.tables.is_empty() {
            return Err(Error::InvalidArgument("the warehouse transaction touches no table".into()));
        }
        let started = Instant::now();
        let wh = self.warehouse.clone();
        let durable = wh.durable();
        // Per table: the prepared version, its staged metadata key, and the same bytes
        // staged for `v<N+1>` (published by one link after the commit point).
        let mut prepared: BTreeMap<String, (Prepared, Key)> = BTreeMap::new();
        let mut to_publish: BTreeMap<String, Staged> = BTreeMap::new();
        let mut attempts = 0u32;
        let mut lost = 0u32;
        // Queue behind other committers of this warehouse (advisory: correctness never
        // depends on it; it turns lost races, each a rebuild of every touched table,
        // into waiting). Held until our tables are published.
        for (name, (_, tx)) in self.tables.iter_mut() {
            tx.prestage_for_prepare().map_err(|e| match e {
                e @ Error::ConcurrentModification { .. } => {
                    WarehouseError::ConcurrentModification { table: name.clone(), source: Box::new(e) }.into()
                }
                e => e,
            })?;
        }
        let guard = wh.lock_catalog(self.retry.lock_timeout.min(self.retry.total_budget));
        let result = 'attempts: loop {
            attempts += 1;
            let state = wh.refresh()?;
            let mut changes = BTreeMap::new();
            let mut raced = false;
            // Which tables need (re)staging: those not untouched since we staged them.
            let mut work = Vec::new();
            for (name, (location, tx)) in self.tables.iter_mut() {
                let entry = match state.tables.get(name) {
                    Some(e) if &e.location == location => e,
                    _ => break 'attempts Err(WarehouseError::TableNotFound { name: name.clone() }.into()),
                };
                if let Some((p, k)) = prepared.get(name)
                    && p.version == entry.version + 1
                {
                    // Untouched since we prepared it: the staged file still holds.
                    changes.insert(name.clone(), staged_entry(location, p, k));
                    continue;
                }
                work.push((name.clone(), location.clone(), entry.clone(), Mutex::new(tx)));
            }
            // Each table's next version is built and staged on its own thread (bounded):
            // the tables are independent until the commit point.
            let threads = wh.inner.options.write.io_threads;
            let staged = crate::sync::map(&work, threads, |(name, _, entry, tx)| {
                let mut tx = lock(tx);
                wh.stage_table(name, entry, &mut tx, &self.txn, attempts, durable)
            });
            // Every table's outcome is recorded (so the failure path below cleans up
            // what the others staged); the first error, in name order, ends the commit.
            let mut failed = None;
            for ((name, location, _, tx), r) in work.iter().zip(staged) {
                let r = r.map_err(|why| Error::InvalidArgument(format!("staging table {name:?} panicked: {why}")));
                match r.and_then(|r| r) {
                    Ok(Staging::Raced) => raced = true,
                    Ok(Staging::New(p, key, s)) => {
                        let table = lock(tx).table().clone();
                        if let Some(old) = to_publish.insert(name.clone(), s) {
                            let _ = table.storage().discard_staged(old);
                        }
                        changes.insert(name.clone(), staged_entry(location, &p, &key));
                        if let Some((_, old)) = prepared.insert(name.clone(), (*p, key)) {
                            let _ = table.storage().delete(&old);
                        }
                    }
                    Err(e) => {
                        failed.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = failed {
                break 'attempts Err(e);
            }
            if !raced && durable {
                // The staged files' (and manifests') directory entries must survive a
                // power cut before the catalog names them.
                for (name, (_, tx)) in &self.tables {
                    if changes.contains_key(name)
                        && let Err(e) = sync_metadata_dir(tx.table())
                    {
                        break 'attempts Err(e);
                    }
                }
            }
            if !raced {
                crate::crashpoint::hit("mt-staged");
                let record = Record {
                    format: FORMAT.into(),
                    version: state.version + 1,
                    txn: self.txn.clone(),
                    timestamp_ms: now_ms().max(state.timestamp_ms + 1),
                    operation: "commit".into(),
                    parent: state.txn.clone(),
                    dropped: Vec::new(),
                    changes,
                };
                match wh.create_record(&record) {
                    Ok(true) => break Ok(record.version),
                    Ok(false) => {}
                    Err(e) => {
                        if matches!(e, Error::Warehouse(WarehouseError::CommitStateUnknown { .. })) {
                            // The catalog may name our files: never delete them.
                            for (name, (p, _)) in &prepared {
                                if let Some((_, tx)) = self.tables.get_mut(name) {
                                    tx.mark_committed(p);
                                }
                            }
                            prepared.clear();
                        }
                        break Err(e);
                    }
                }
            }
            lost += 1;
            if attempts >= self.retry.max_attempts || started.elapsed() >= self.retry.total_budget {
                let name = self.tables.keys().next().cloned().unwrap_or_default();
                break Err(WarehouseError::ConcurrentModification {
                    table: name,
                    source: Box::new(Error::ConcurrentModification {
                        base_version: state.version,
                        attempted_version: state.version + 1,
                        conflicting: Vec::new(),
                        retries_exhausted: true,
                    }),
                }
                .into());
            }
            std::thread::sleep(self.retry.backoff(lost));
        };
        let catalog_version = match result {
            Ok(k) => k,
            Err(e) => {
                // Not committed: staged metadata is nobody's (data files go with the
                // table transactions' drop).
                for (name, (_, key)) in &prepared {
                    if let Some((_, tx)) = self.tables.get(name) {
                        let _ = tx.table().storage().delete(key);
                    }
                }
                for (name, s) in to_publish {
                    if let Some((_, tx)) = self.tables.get(&name) {
                        let _ = tx.table().storage().discard_staged(s);
                    }
                }
                return Err(e);
            }
        };
        crate::crashpoint::hit("mt-committed");
        let committed_at = Instant::now();
        for (name, (p, _)) in &prepared {
            if let Some((_, tx)) = self.tables.get_mut(name) {
                tx.mark_committed(p);
            }
        }
        // Publish every table (each its own commit point for Iceberg readers), on
        // bounded threads: after the catalog commit the order between tables carries
        // nothing (floe readers read the catalog), and each publish is one link or PUT.
        let jobs: Vec<(&String, &Prepared, Table, Mutex<Option<Staged>>)> = prepared
            .iter()
            .filter_map(|(name, (p, _))| {
                let (_, tx) = self.tables.get(name)?;
                Some((name, p, tx.table().clone(), Mutex::new(to_publish.remove(name))))
            })
            .collect();
        let published = crate::sync::map(&jobs, wh.inner.options.write.io_threads, |(name, p, table, staged)| {
            let staged = lock(staged).take();
            let r = wh.publish(name, table, p.version, &p.bytes, staged);
            crate::crashpoint::hit("mt-published");
            r
        });
        for ((name, ..), r) in jobs.iter().zip(published) {
            r.map_err(|why| Error::InvalidArgument(format!("publishing table {name:?} panicked: {why}")))??;
        }
        let publish_window = committed_at.elapsed();
        drop(guard);
        wh.after_catalog_commit(catalog_version);
        let elapsed = started.elapsed();
        let mut reports = BTreeMap::new();
        for (name, (p, _)) in &prepared {
            if let Some((_, tx)) = self.tables.get_mut(name) {
                reports.insert(name.clone(), tx.finish_published(p, elapsed, lost));
            }
        }
        crate::crashpoint::hit("mt-done");
        Ok(WarehouseCommit {
            catalog_version,
            txn: self.txn.clone(),
            tables: reports,
            attempts,
            publish_window,
            elapsed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(version: u64, txn: &str) -> Record {
        Record {
            format: FORMAT.into(),
            version,
            txn: txn.into(),
            timestamp_ms: now_ms(),
            operation: "commit".into(),
            parent: None,
            dropped: Vec::new(),
            changes: BTreeMap::new(),
        }
    }

    /// The read-back rule at the commit point: a create that finds the version taken
    /// recognises its own transaction id (a retried create that had landed) and a
    /// stranger's (a lost race); the file is never replaced.
    #[test]
    fn landed_create_is_recognised_by_transaction_id() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::create(dir.path()).unwrap();
        let ours = record(2, "ours");
        assert!(wh.create_record(&ours).unwrap(), "created");
        assert!(wh.create_record(&ours).unwrap(), "taken, by our own landed create");
        assert!(!wh.create_record(&record(2, "theirs")).unwrap(), "taken by another transaction");
        assert_eq!(wh.inner.log.read(2).unwrap().unwrap().txn, "ours");
        assert!(wh.transaction().commit().is_err(), "an empty transaction commits nothing");
        assert_eq!(wh.version().unwrap(), 2);
    }
}
