//! [`FloeSchemaProvider`]: a root of floe tables as one DataFusion schema, so
//! `SELECT … FROM events JOIN users USING (id)` works after registering the root.
//!
//! A root is a local directory or a store URL (`s3://bucket/prefix`, `az://…`,
//! `memory://…`, opened with the provider's [`TableOptions`]) whose children that hold
//! a table (`<name>/metadata/v<N>.metadata.json`) are tables named like the child; or
//! a floe warehouse (`_floe/catalog`), whose catalog names the tables.
//!
//! Promises: for a plain root each lookup builds a fresh [`FloeTableProvider`], so each
//! statement sees the newest snapshot when it is planned (and one snapshot throughout);
//! for a warehouse every table is read at ONE catalog version (a
//! [`floe::WarehouseSnapshot`], one consistent point across tables) taken when the
//! provider is opened and moved forward only by [`FloeSchemaProvider::refresh`] (which
//! `floe sql` calls before each statement); tables registered explicitly
//! ([`SchemaProvider::register_table`], e.g. `floe sql --table`) take precedence over
//! children of the same name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::datasource::TableProvider;
use floe::storage::{StoreUrl, open_store};
use floe::{Table, TableOptions, Warehouse, WarehouseError, WarehouseSnapshot};

use crate::provider::{FloeTableProvider, external};

/// Where the tables of a [`FloeSchemaProvider`] come from.
#[derive(Debug)]
enum Root {
    /// Only tables registered by name.
    None,
    /// A directory or store URL whose children are tables.
    Tables(PathBuf),
    /// A warehouse, read at one catalog version.
    Warehouse { warehouse: Warehouse, snapshot: RwLock<WarehouseSnapshot> },
}

/// A root of floe tables (see the module docs).
#[derive(Debug)]
pub struct FloeSchemaProvider {
    root: Root,
    /// How tables (and a store root) are opened: storage options, retry policy.
    options: TableOptions,
    registered: RwLock<BTreeMap<String, Arc<dyn TableProvider>>>,
    /// Tables named by location ([`FloeSchemaProvider::register_location`]).
    locations: RwLock<BTreeMap<String, PathBuf>>,
    /// Providers built by lookups since the last [`FloeSchemaProvider::take_planned`].
    built: Mutex<Vec<(String, Arc<FloeTableProvider>)>>,
}

impl FloeSchemaProvider {
    fn with_root(root: Root, options: TableOptions) -> FloeSchemaProvider {
        FloeSchemaProvider {
            root,
            options,
            registered: RwLock::default(),
            locations: RwLock::default(),
            built: Mutex::default(),
        }
    }

    /// The tables under the local directory `root` (its sub-directories that are
    /// tables). For a warehouse or a store URL use [`FloeSchemaProvider::open`].
    pub fn new(root: impl AsRef<Path>) -> FloeSchemaProvider {
        Self::with_root(Root::Tables(root.as_ref().to_path_buf()), TableOptions::default())
    }

    /// No root: only tables registered by name or location, opened with `options`.
    pub fn empty() -> FloeSchemaProvider {
        Self::with_root(Root::None, TableOptions::default())
    }

    /// [`FloeSchemaProvider::empty`] whose locations are opened with `options` (the
    /// storage options of tables in buckets).
    pub fn empty_with(options: TableOptions) -> FloeSchemaProvider {
        Self::with_root(Root::None, options)
    }

    /// The tables at `root`, a local directory or a store URL (`s3://bucket/prefix`,
    /// opened with `options`' storage options): a warehouse's tables at its newest
    /// catalog version when `root` holds a warehouse, else the children of `root` that
    /// are tables.
    ///
    /// Errors: the storage cannot be reached or the warehouse's catalog cannot be read.
    pub fn open(root: impl AsRef<Path>, options: TableOptions) -> floe::Result<FloeSchemaProvider> {
        let root = root.as_ref();
        match Warehouse::open_with(root, options.clone()) {
            Ok(warehouse) => {
                let snapshot = RwLock::new(warehouse.snapshot()?);
                Ok(Self::with_root(Root::Warehouse { warehouse, snapshot }, options))
            }
            Err(floe::Error::Warehouse(WarehouseError::NotFound { .. })) => {
                Ok(Self::with_root(Root::Tables(root.to_path_buf()), options))
            }
            Err(e) => Err(e),
        }
    }

    /// A warehouse root: moves the read point to the newest catalog version (every
    /// table is read there until the next call). Nothing for other roots (their
    /// lookups already read the newest snapshot).
    pub fn refresh(&self) -> floe::Result<()> {
        if let Root::Warehouse { warehouse, snapshot } = &self.root {
            let now = warehouse.snapshot()?;
            if let Ok(mut s) = snapshot.write() {
                *s = now;
            }
        }
        Ok(())
    }

    /// The catalog version a warehouse root is read at (`None`: not a warehouse).
    pub fn warehouse_version(&self) -> Option<u64> {
        match &self.root {
            Root::Warehouse { snapshot, .. } => snapshot.read().ok().map(|s| s.version()),
            _ => None,
        }
    }

    /// Names the table at `location` (a directory or a store URL, opened with the
    /// provider's options) `name`. Like a root's tables, each lookup pins the newest
    /// snapshot then (so a statement after an `INSERT` sees its rows).
    pub fn register_location(&self, name: impl Into<String>, location: impl AsRef<Path>) {
        if let Ok(mut l) = self.locations.write() {
            l.insert(name.into(), location.as_ref().to_path_buf());
        }
    }

    /// The providers lookups built since the last call, by table name (their
    /// [`FloeTableProvider::planning_metrics`] say what floe's pruning skipped).
    pub fn take_planned(&self) -> Vec<(String, Arc<FloeTableProvider>)> {
        self.built.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
    }

    /// The table `name` refers to: one registered by name (a [`FloeTableProvider`]), a
    /// location, a table of the root, or else `name` read as a table directory itself.
    pub fn resolve(&self, name: &str) -> Option<Table> {
        if let Some(t) = self.registered.read().ok().and_then(|r| r.get(name).cloned()) {
            let any: &dyn std::any::Any = t.as_ref();
            return any.downcast_ref::<FloeTableProvider>().map(|p| p.table().clone());
        }
        if let Some(t) = self.open_table(name).ok().flatten() {
            return Some(t);
        }
        is_table(Path::new(name)).then(|| Table::open_with(name, self.options.clone()).ok()).flatten()
    }

    fn located(&self, name: &str) -> Option<PathBuf> {
        self.locations.read().ok().and_then(|l| l.get(name).cloned())
    }

    /// The table `name` of a location or the root (`None`: there is none), opened now.
    fn open_table(&self, name: &str) -> floe::Result<Option<Table>> {
        if let Some(loc) = self.located(name) {
            return Table::open_with(&loc, self.options.clone()).map(Some);
        }
        match &self.root {
            Root::None => Ok(None),
            Root::Tables(root) => match child(root, name) {
                Some(dir) if self.root_has(name) => Table::open_with(&dir, self.options.clone()).map(Some),
                _ => Ok(None),
            },
            Root::Warehouse { snapshot, .. } => {
                let Ok(snap) = snapshot.read().map(|s| s.clone()) else { return Ok(None) };
                if !snap.table_names().iter().any(|n| n == name) {
                    return Ok(None);
                }
                snap.table(name).map(Some)
            }
        }
    }

    fn root_dir(&self) -> Option<PathBuf> {
        match &self.root {
            Root::Tables(r) => Some(r.clone()),
            _ => None,
        }
    }

    /// Whether the root (not a warehouse) has a table `name`.
    fn root_has(&self, name: &str) -> bool {
        let Root::Tables(root) = &self.root else { return false };
        let Some(dir) = child(root, name) else { return false };
        match StoreUrl::parse(root) {
            Ok(url) if url.local_path().is_some() => is_table(&dir),
            Ok(_) => self.root_tables().iter().any(|n| n == name),
            Err(_) => false,
        }
    }

    /// The names of the root's tables (empty when it cannot be listed).
    fn root_tables(&self) -> Vec<String> {
        match &self.root {
            Root::None => Vec::new(),
            Root::Warehouse { snapshot, .. } => snapshot.read().map(|s| s.table_names()).unwrap_or_default(),
            Root::Tables(root) => {
                let Ok(url) = StoreUrl::parse(root) else { return Vec::new() };
                if let Some(local) = url.local_path() {
                    let Ok(entries) = std::fs::read_dir(local) else { return Vec::new() };
                    return entries
                        .flatten()
                        .filter(|e| is_table(&e.path()))
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect();
                }
                // A bucket prefix has no directories: a child is a table when it holds
                // `metadata/v<N>.metadata.json`.
                let Ok(store) = open_store(&url, &self.options.storage_options) else { return Vec::new() };
                let Ok(listing) = store.list(None) else { return Vec::new() };
                let mut names: Vec<String> = listing
                    .objects
                    .iter()
                    .filter_map(|o| {
                        let parts: Vec<&str> = o.key.segments().collect();
                        match parts.as_slice() {
                            [name, "metadata", file] if is_version_file(file) => Some(name.to_string()),
                            _ => None,
                        }
                    })
                    .collect();
                names.sort();
                names.dedup();
                names
            }
        }
    }
}

/// `root/name` when `name` is one path component (never a way out of the root).
fn child(root: &Path, name: &str) -> Option<PathBuf> {
    if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
        return None;
    }
    Some(root.join(name))
}

fn is_version_file(name: &str) -> bool {
    name.strip_prefix('v')
        .and_then(|n| n.strip_suffix(".metadata.json"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether the local directory `dir` holds a floe / Iceberg file-system table.
pub fn is_table(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir.join("metadata")) else { return false };
    entries.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".metadata.json"))
}

#[async_trait]
impl SchemaProvider for FloeSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.registered.read().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        if let Ok(l) = self.locations.read() {
            names.extend(l.keys().cloned());
        }
        names.extend(self.root_tables());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.registered.read().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(Some(t));
        }
        let table = match &self.root {
            // A warehouse snapshot is in memory: opening its table reads one file.
            Root::Warehouse { .. } if self.located(name).is_none() => self.open_table(name).map_err(external)?,
            _ => {
                if self.located(name).is_none() && !self.root_has(name) {
                    return Ok(None);
                }
                let loc = self.located(name);
                let (root, options, name_owned) = (self.root_dir(), self.options.clone(), name.to_string());
                tokio::task::spawn_blocking(move || -> floe::Result<Option<Table>> {
                    let path = match (loc, root) {
                        (Some(l), _) => l,
                        (None, Some(r)) => r.join(&name_owned),
                        (None, None) => return Ok(None),
                    };
                    Table::open_with(&path, options).map(Some)
                })
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .map_err(external)?
            }
        };
        let Some(table) = table else { return Ok(None) };
        let provider = tokio::task::spawn_blocking(move || FloeTableProvider::try_new(table))
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .map_err(external)?;
        let provider = Arc::new(provider);
        if let Ok(mut b) = self.built.lock() {
            b.push((name.to_string(), provider.clone()));
        }
        Ok(Some(provider))
    }

    fn register_table(&self, name: String, table: Arc<dyn TableProvider>) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.registered.write() {
            Ok(mut r) => Ok(r.insert(name, table)),
            Err(_) => exec_err!("table registry poisoned"),
        }
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.registered.write() {
            Ok(mut r) => Ok(r.remove(name)),
            Err(_) => exec_err!("table registry poisoned"),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.registered.read().map(|r| r.contains_key(name)).unwrap_or(false)
            || self.located(name).is_some()
            || match &self.root {
                Root::Warehouse { snapshot, .. } => {
                    snapshot.read().map(|s| s.table_names().iter().any(|n| n == name)).unwrap_or(false)
                }
                _ => self.root_has(name),
            }
    }
}
