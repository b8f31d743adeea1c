//! The warehouse's catalog log: `<root>/_floe/catalog/v<K>.json`, one file per catalog
//! version, each created exclusively (the commit point of every warehouse change), plus
//! checkpoints `c<K>.json` (the whole table map at `K`, written after `K` commits when
//! `K` is a multiple of [`CHECKPOINT_EVERY`]) and an advisory `version-hint.text`.
//!
//! Promises:
//! * A catalog version records only what changed (tables added or moved to a new
//!   version, tables dropped), so its size does not grow with the number of tables; the
//!   map at any `K` is the newest checkpoint at or below `K` plus the versions after it.
//!   A missing or unreadable checkpoint only costs reading more versions.
//! * Old versions can be deleted ([`Log::expire`]) below a **floor** `R`: a checkpoint
//!   version that is kept, with `c<R>.json` durable before anything below it goes.
//!   The floor is recorded first, as an exclusively created marker
//!   `_floe/catalog/floor/f<R>.json`, so a stalled writer that re-creates a deleted
//!   version number (its exclusive create succeeds on a missing key) finds the marker
//!   right after its create and withdraws it: a version below the floor is never a
//!   commit ([`Log::floor`]). Each version also names its parent's transaction id, so
//!   a reader applying versions one after another detects such a stray version in the
//!   moment before it is withdrawn.
//! * Everything goes through [`Storage`]: exclusive create ([`Storage::publish_exclusive`])
//!   for versions and checkpoints, `list`/`read`/`exists` to find them, `put_advisory`
//!   for the hint. No path is opened directly, so the log works on any backend with an
//!   atomic exclusive create.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, WarehouseError};
use crate::io::storage::{Key, Storage};

/// The `format` of every catalog version and checkpoint this code writes.
pub(crate) const FORMAT: &str = "floe-catalog-1";
/// A checkpoint is written after every catalog version that is a multiple of this.
pub(crate) const CHECKPOINT_EVERY: u64 = 64;

/// One table in the catalog: where it lives (relative to the warehouse root), the table
/// version the catalog holds for it, and the staged metadata file that version was
/// committed with (relative to the table's directory), which is what `v<version>` must
/// contain once published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    pub location: String,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged: Option<String>,
}

/// One catalog version (`v<K>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub format: String,
    pub version: u64,
    /// The transaction id: a writer that finds `v<K>` taken reads it back, and its own
    /// id there means its create landed.
    pub txn: String,
    /// Milliseconds since the epoch, strictly increasing along the log.
    pub timestamp_ms: i64,
    /// `init`, `create`, `drop`, `rename` or `commit`.
    pub operation: String,
    /// The transaction id of version `version - 1` this one was decided on (absent in
    /// version 1 and in logs written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Tables removed (applied before `changes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
    /// Tables added or moved to a new version.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changes: BTreeMap<String, Entry>,
}

/// A checkpoint (`c<K>.json`): the whole map at `K`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checkpoint {
    format: String,
    version: u64,
    timestamp_ms: i64,
    /// The transaction id of version `version` (so the next version's parent checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    txn: Option<String>,
    tables: BTreeMap<String, Entry>,
}

/// The catalog at one version: the warehouse's consistent point.
#[derive(Debug, Clone, Default)]
pub(crate) struct CatalogState {
    pub version: u64,
    pub timestamp_ms: i64,
    /// The transaction id of `version` (`None` for a checkpoint that did not record it).
    pub txn: Option<String>,
    pub tables: BTreeMap<String, Entry>,
}

impl CatalogState {
    /// Whether `r` was decided on this state: its parent is this version's transaction
    /// (unknowable when either side did not record it: then yes).
    fn is_parent_of(&self, r: &Record) -> bool {
        match (&self.txn, &r.parent) {
            (Some(ours), Some(parent)) => ours == parent,
            _ => true,
        }
    }

    fn apply(&mut self, r: &Record) {
        for d in &r.dropped {
            self.tables.remove(d);
        }
        for (name, e) in &r.changes {
            self.tables.insert(name.clone(), e.clone());
        }
        self.version = r.version;
        self.timestamp_ms = r.timestamp_ms;
        self.txn = Some(r.txn.clone());
    }
}

/// The catalog log of one warehouse.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    store: Arc<dyn Storage>,
}

pub(crate) fn dir() -> Key {
    Key::known("_floe/catalog")
}

fn version_key(k: u64) -> Key {
    Key::known(format!("_floe/catalog/v{k}.json"))
}

fn checkpoint_key(k: u64) -> Key {
    Key::known(format!("_floe/catalog/c{k}.json"))
}

fn floor_dir() -> Key {
    Key::known("_floe/catalog/floor")
}

fn floor_key(r: u64) -> Key {
    Key::known(format!("_floe/catalog/floor/f{r}.json"))
}

fn hint_key() -> Key {
    Key::known("_floe/catalog/version-hint.text")
}

fn parse_name(name: &str, prefix: char) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(".json")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

impl Log {
    pub(crate) fn new(store: Arc<dyn Storage>) -> Log {
        Log { store }
    }

    pub(crate) fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    fn path(&self, key: &Key) -> std::path::PathBuf {
        self.store.display_path(Some(key))
    }

    /// Makes `_floe/catalog/` where the backend has directories.
    pub(crate) fn ensure_dir(&self) -> Result<()> {
        if self.store.capabilities().directories {
            self.store.create_dir_all(Some(&dir())).map_err(|e| Error::io(self.path(&dir()), e))?;
        }
        Ok(())
    }

    /// Catalog version `k`, `None` if it does not exist.
    pub(crate) fn read(&self, k: u64) -> Result<Option<Record>> {
        let key = version_key(k);
        let bytes = match self.store.read(&key) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(self.path(&key), e)),
        };
        let corrupt = |reason: String| WarehouseError::CorruptCatalog { path: self.path(&key), reason };
        let r: Record = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        if r.format != FORMAT {
            return Err(corrupt(format!("format {:?}, expected {FORMAT:?}", r.format)).into());
        }
        if r.version != k {
            return Err(corrupt(format!("records version {} in the file of version {k}", r.version)).into());
        }
        Ok(Some(r))
    }

    /// Creates catalog version `r.version` exclusively: the commit point.
    /// `AlreadyExists` means another writer's version (or, on a store that retries
    /// writes, possibly ours: the caller reads it back).
    pub(crate) fn create(&self, r: &Record, durable: bool) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(r).map_err(io::Error::other)?;
        self.store.publish_exclusive(&version_key(r.version), &bytes, durable)?;
        if durable {
            self.store.sync_dir(Some(&dir()))?;
        }
        Ok(())
    }

    /// Moves the advisory hint forward to `k` (best effort).
    pub(crate) fn hint(&self, k: u64) {
        let current = self.read_hint().unwrap_or(0);
        if current < k {
            let _ = self.store.put_advisory(&hint_key(), k.to_string().as_bytes());
        }
    }

    fn read_hint(&self) -> Option<u64> {
        let b = self.store.read(&hint_key()).ok()?;
        std::str::from_utf8(&b).ok()?.trim().parse().ok()
    }

    /// Versions and checkpoints present, each sorted.
    fn listing(&self) -> Result<(Vec<u64>, Vec<u64>)> {
        let listing = self.store.list(Some(&dir())).map_err(|e| Error::io(self.path(&dir()), e))?;
        let mut versions = Vec::new();
        let mut checkpoints = Vec::new();
        for o in &listing.objects {
            if o.key.parent().as_ref() != Some(&dir()) {
                continue;
            }
            if let Some(k) = parse_name(o.key.name(), 'v') {
                versions.push(k);
            } else if let Some(k) = parse_name(o.key.name(), 'c') {
                checkpoints.push(k);
            }
        }
        versions.sort_unstable();
        checkpoints.sort_unstable();
        Ok((versions, checkpoints))
    }

    /// The newest catalog version at or after `known` (0 if the log is empty): hint,
    /// then forward probes (as Iceberg readers find `v<N>`), a listing without a hint.
    pub(crate) fn head(&self, known: u64) -> Result<u64> {
        let exists = |k: u64| -> Result<bool> {
            let key = version_key(k);
            self.store.exists(&key).map_err(|e| Error::io(self.path(&key), e))
        };
        let start = self.read_hint().unwrap_or(0).max(known);
        let mut k =
            if start > 0 && exists(start)? { start } else { self.listing()?.0.last().copied().unwrap_or(0).max(known) };
        while exists(k + 1)? {
            k += 1;
        }
        Ok(k)
    }

    /// The map at version `k` (which must exist), from the newest readable checkpoint
    /// at or below it.
    pub(crate) fn state_at(&self, k: u64) -> Result<CatalogState> {
        // An expiry running meanwhile may delete the versions after the checkpoint we
        // chose (it checkpointed a newer one first): list again and retry.
        let mut tries = 0;
        loop {
            tries += 1;
            let (_, checkpoints) = self.listing()?;
            let mut state = CatalogState::default();
            for &c in checkpoints.iter().rev().filter(|&&c| c <= k) {
                if let Some(s) = self.read_checkpoint(c) {
                    state = s;
                    break;
                }
            }
            match self.advance(&mut state, k) {
                Ok(()) => return Ok(state),
                Err(e) if tries >= 3 => return Err(e),
                Err(_) => {}
            }
        }
    }

    /// Applies versions `state.version + 1 ..= to`.
    pub(crate) fn advance(&self, state: &mut CatalogState, to: u64) -> Result<()> {
        for k in state.version + 1..=to {
            let r = self.read(k)?.ok_or_else(|| WarehouseError::CorruptCatalog {
                path: self.path(&version_key(k)),
                reason: format!("catalog version {k} is missing below version {to}"),
            })?;
            if !state.is_parent_of(&r) {
                return Err(WarehouseError::CorruptCatalog {
                    path: self.path(&version_key(k)),
                    reason: format!("catalog version {k} was not decided on version {}", state.version),
                }
                .into());
            }
            state.apply(&r);
        }
        Ok(())
    }

    fn read_checkpoint(&self, c: u64) -> Option<CatalogState> {
        let b = self.store.read(&checkpoint_key(c)).ok()?;
        let cp: Checkpoint = serde_json::from_slice(&b).ok()?;
        (cp.format == FORMAT && cp.version == c).then_some(CatalogState {
            version: cp.version,
            timestamp_ms: cp.timestamp_ms,
            txn: cp.txn,
            tables: cp.tables,
        })
    }

    /// Writes the checkpoint of `state` if its version is due one (best effort: a
    /// missing checkpoint only makes readers read more versions).
    pub(crate) fn maybe_checkpoint(&self, state: &CatalogState) {
        if state.version == 0 || !state.version.is_multiple_of(CHECKPOINT_EVERY) {
            return;
        }
        let _ = self.write_checkpoint(state, false);
    }

    /// Creates checkpoint `c<state.version>` (`AlreadyExists` if it is there).
    fn write_checkpoint(&self, state: &CatalogState, durable: bool) -> io::Result<()> {
        let cp = Checkpoint {
            format: FORMAT.into(),
            version: state.version,
            timestamp_ms: state.timestamp_ms,
            txn: state.txn.clone(),
            tables: state.tables.clone(),
        };
        let bytes = serde_json::to_vec(&cp).map_err(io::Error::other)?;
        self.store.publish_exclusive(&checkpoint_key(state.version), &bytes, durable)
    }

    /// The floor: the oldest catalog version kept (versions below it may be deleted
    /// and are never commits); 1 when the log was never expired. One listing of the
    /// small `floor/` folder.
    pub(crate) fn floor(&self) -> Result<u64> {
        let listing = match self.store.list(Some(&floor_dir())) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(1),
            Err(e) => return Err(Error::io(self.path(&floor_dir()), e)),
        };
        Ok(listing
            .objects
            .iter()
            .filter(|o| o.key.parent().as_ref() == Some(&floor_dir()))
            .filter_map(|o| parse_name(o.key.name(), 'f'))
            .max()
            .unwrap_or(1)
            .max(1))
    }

    /// Withdraws a version this process created that turned out to be below the floor.
    pub(crate) fn withdraw(&self, k: u64) {
        let _ = self.store.delete(&version_key(k));
    }

    /// Deletes the catalog below `floor` (a checkpoint version at or below the head):
    /// makes `c<floor>` exist and durable, records the floor marker, then deletes every
    /// version, checkpoint and older floor marker below it. Returns the versions and
    /// checkpoints deleted (or, with `dry_run`, that would be).
    pub(crate) fn expire(&self, floor: u64, durable: bool, dry_run: bool) -> Result<(usize, usize)> {
        let (versions, checkpoints) = self.listing()?;
        let old_versions: Vec<u64> = versions.iter().copied().filter(|&k| k < floor).collect();
        let old_checkpoints: Vec<u64> = checkpoints.iter().copied().filter(|&c| c < floor).collect();
        if dry_run {
            return Ok((old_versions.len(), old_checkpoints.len()));
        }
        // 1. The checkpoint that replaces everything below the floor, durable.
        if self.read_checkpoint(floor).is_none() {
            let state = self.state_at(floor)?;
            match self.write_checkpoint(&state, durable) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(self.path(&checkpoint_key(floor)), e)),
            }
            if self.read_checkpoint(floor).is_none() {
                return Err(WarehouseError::CorruptCatalog {
                    path: self.path(&checkpoint_key(floor)),
                    reason: "the checkpoint the catalog would be expired to cannot be read".into(),
                }
                .into());
            }
        }
        let sync = |key: &Key| -> Result<()> {
            if durable && self.store.capabilities().fsync {
                self.store.sync_file(key).map_err(|e| Error::io(self.path(key), e))?;
            }
            Ok(())
        };
        let sync_dir = |d: &Key| -> Result<()> {
            if durable {
                self.store.sync_dir(Some(d)).map_err(|e| Error::io(self.path(d), e))?;
            }
            Ok(())
        };
        sync(&checkpoint_key(floor))?;
        sync_dir(&dir())?;
        // 2. The floor marker, before any delete: a writer that re-creates a deleted
        //    version finds it (see the module docs).
        if self.store.capabilities().directories {
            self.store.create_dir_all(Some(&floor_dir())).map_err(|e| Error::io(self.path(&floor_dir()), e))?;
        }
        let marker = serde_json::json!({"format": FORMAT, "floor": floor}).to_string();
        match self.store.put_new(&floor_key(floor), marker.as_bytes(), durable) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(self.path(&floor_key(floor)), e)),
        }
        sync_dir(&floor_dir())?;
        // 3. Everything below it, oldest first.
        let mut keys: Vec<Key> = old_versions.iter().map(|&k| version_key(k)).collect();
        keys.extend(old_checkpoints.iter().map(|&c| checkpoint_key(c)));
        let mut deleted = (0, 0);
        for (i, (key, r)) in keys.iter().zip(self.store.delete_many(&keys, 8)).enumerate() {
            match r {
                Ok(()) if i < old_versions.len() => deleted.0 += 1,
                Ok(()) => deleted.1 += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(self.path(key), e)),
            }
        }
        // Older markers only after ours exists (the highest one is never deleted).
        if let Ok(l) = self.store.list(Some(&floor_dir())) {
            let old: Vec<Key> = l
                .objects
                .into_iter()
                .filter(|o| parse_name(o.key.name(), 'f').is_some_and(|r| r < floor))
                .map(|o| o.key)
                .collect();
            let _ = self.store.delete_many(&old, 8);
        }
        Ok(deleted)
    }

    /// The newest version whose timestamp is at or before `ms` (binary search over the
    /// log; timestamps increase strictly along it), `None` if every version is later.
    pub(crate) fn version_as_of(&self, ms: i64, head: u64, floor: u64) -> Result<Option<u64>> {
        let ts = |k: u64| -> Result<i64> {
            self.read(k)?.map(|r| r.timestamp_ms).ok_or_else(|| {
                WarehouseError::CorruptCatalog {
                    path: self.path(&version_key(k)),
                    reason: format!("catalog version {k} is missing below version {head}"),
                }
                .into()
            })
        };
        let floor = floor.max(1);
        if head < floor || ts(floor)? > ms {
            return Ok(None);
        }
        let (mut lo, mut hi) = (floor, head);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if ts(mid)? <= ms {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok(Some(lo))
    }
}
