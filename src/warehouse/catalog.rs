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
    tables: BTreeMap<String, Entry>,
}

/// The catalog at one version: the warehouse's consistent point.
#[derive(Debug, Clone, Default)]
pub(crate) struct CatalogState {
    pub version: u64,
    pub timestamp_ms: i64,
    pub tables: BTreeMap<String, Entry>,
}

impl CatalogState {
    fn apply(&mut self, r: &Record) {
        for d in &r.dropped {
            self.tables.remove(d);
        }
        for (name, e) in &r.changes {
            self.tables.insert(name.clone(), e.clone());
        }
        self.version = r.version;
        self.timestamp_ms = r.timestamp_ms;
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
        let (_, checkpoints) = self.listing()?;
        let mut state = CatalogState::default();
        for &c in checkpoints.iter().rev().filter(|&&c| c <= k) {
            if let Some(s) = self.read_checkpoint(c) {
                state = s;
                break;
            }
        }
        self.advance(&mut state, k)?;
        Ok(state)
    }

    /// Applies versions `state.version + 1 ..= to`.
    pub(crate) fn advance(&self, state: &mut CatalogState, to: u64) -> Result<()> {
        for k in state.version + 1..=to {
            let r = self.read(k)?.ok_or_else(|| WarehouseError::CorruptCatalog {
                path: self.path(&version_key(k)),
                reason: format!("catalog version {k} is missing below version {to}"),
            })?;
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
            tables: cp.tables,
        })
    }

    /// Writes the checkpoint of `state` if its version is due one (best effort: a
    /// missing checkpoint only makes readers read more versions).
    pub(crate) fn maybe_checkpoint(&self, state: &CatalogState) {
        if state.version == 0 || !state.version.is_multiple_of(CHECKPOINT_EVERY) {
            return;
        }
        let cp = Checkpoint {
            format: FORMAT.into(),
            version: state.version,
            timestamp_ms: state.timestamp_ms,
            tables: state.tables.clone(),
        };
        if let Ok(bytes) = serde_json::to_vec(&cp) {
            let _ = self.store.publish_exclusive(&checkpoint_key(state.version), &bytes, false);
        }
    }

    /// The newest version whose timestamp is at or before `ms` (binary search over the
    /// log; timestamps increase strictly along it), `None` if every version is later.
    pub(crate) fn version_as_of(&self, ms: i64, head: u64) -> Result<Option<u64>> {
        let ts = |k: u64| -> Result<i64> {
            self.read(k)?.map(|r| r.timestamp_ms).ok_or_else(|| {
                WarehouseError::CorruptCatalog {
                    path: self.path(&version_key(k)),
                    reason: format!("catalog version {k} is missing below version {head}"),
                }
                .into()
            })
        };
        if head == 0 || ts(1)? > ms {
            return Ok(None);
        }
        let (mut lo, mut hi) = (1, head);
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
