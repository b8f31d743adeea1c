//! [`FloeSchemaProvider`]: a directory of floe tables as one DataFusion schema, so
//! `SELECT … FROM events JOIN users USING (id)` works after registering the root.
//!
//! Promises: every sub-directory of the root that holds a table (`metadata/` with a
//! `v<N>.metadata.json`) is a table named like the directory; each lookup builds a
//! fresh [`FloeTableProvider`], so each statement sees the newest snapshot when it is
//! planned (and one snapshot throughout); tables registered explicitly
//! ([`SchemaProvider::register_table`], e.g. `floe sql --table`) take precedence over
//! directories of the same name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use datafusion::catalog::SchemaProvider;
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::datasource::TableProvider;
use floe::Table;

use crate::provider::{FloeTableProvider, external};

/// A directory whose sub-directories are floe tables (see the module docs).
#[derive(Debug)]
pub struct FloeSchemaProvider {
    root: Option<PathBuf>,
    registered: RwLock<BTreeMap<String, Arc<dyn TableProvider>>>,
    /// Tables named by location ([`FloeSchemaProvider::register_location`]).
    locations: RwLock<BTreeMap<String, PathBuf>>,
    /// Providers built by lookups since the last [`FloeSchemaProvider::take_planned`].
    built: Mutex<Vec<(String, Arc<FloeTableProvider>)>>,
}

impl FloeSchemaProvider {
    /// The tables under `root`.
    pub fn new(root: impl AsRef<Path>) -> FloeSchemaProvider {
        FloeSchemaProvider {
            root: Some(root.as_ref().to_path_buf()),
            registered: RwLock::default(),
            locations: RwLock::default(),
            built: Mutex::default(),
        }
    }

    /// No directory: only tables registered by name.
    pub fn empty() -> FloeSchemaProvider {
        FloeSchemaProvider {
            root: None,
            registered: RwLock::default(),
            locations: RwLock::default(),
            built: Mutex::default(),
        }
    }

    /// Names the table at `dir` `name`. Like the root's tables, each lookup pins the
    /// newest snapshot then (so a statement after an `INSERT` sees its rows).
    pub fn register_location(&self, name: impl Into<String>, dir: impl AsRef<Path>) {
        if let Ok(mut l) = self.locations.write() {
            l.insert(name.into(), dir.as_ref().to_path_buf());
        }
    }

    /// The providers lookups built since the last call, by table name (their
    /// [`FloeTableProvider::planning_metrics`] say what floe's pruning skipped).
    pub fn take_planned(&self) -> Vec<(String, Arc<FloeTableProvider>)> {
        self.built.lock().map(|mut b| std::mem::take(&mut *b)).unwrap_or_default()
    }

    /// The table `name` refers to: one registered by name (a [`FloeTableProvider`]), a
    /// sub-directory of the root, or else `name` read as a table directory itself.
    pub fn resolve(&self, name: &str) -> Option<Table> {
        if let Some(t) = self.registered.read().ok().and_then(|r| r.get(name).cloned()) {
            let any: &dyn std::any::Any = t.as_ref();
            return any.downcast_ref::<FloeTableProvider>().map(|p| p.table().clone());
        }
        let dir = self
            .located(name)
            .or_else(|| self.dir_of(name))
            .or_else(|| is_table(Path::new(name)).then(|| PathBuf::from(name)))?;
        Table::open(dir).ok()
    }

    fn located(&self, name: &str) -> Option<PathBuf> {
        self.locations.read().ok().and_then(|l| l.get(name).cloned())
    }

    fn dir_of(&self, name: &str) -> Option<PathBuf> {
        let root = self.root.as_ref()?;
        // A table name is one path component, never a way out of the root.
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return None;
        }
        let dir = root.join(name);
        is_table(&dir).then_some(dir)
    }
}

/// Whether `dir` holds a floe / Iceberg file-system table.
pub fn is_table(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir.join("metadata")) else { return false };
    entries.flatten().any(|e| e.file_name().to_string_lossy().ends_with(".metadata.json"))
}

#[async_trait]
impl SchemaProvider for FloeSchemaProvider {
    fn table_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.registered.read().map(|r| r.keys().cloned().collect()).unwrap_or_default();
        if let Ok(l) = self.locations.read() {
            names.extend(l.keys().filter(|k| !names.contains(k)).cloned().collect::<Vec<_>>());
        }
        if let Some(root) = &self.root
            && let Ok(entries) = std::fs::read_dir(root)
        {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if is_table(&e.path()) && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names.sort();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(t) = self.registered.read().ok().and_then(|r| r.get(name).cloned()) {
            return Ok(Some(t));
        }
        let Some(dir) = self.located(name).or_else(|| self.dir_of(name)) else { return Ok(None) };
        let provider = tokio::task::spawn_blocking(move || {
            let table = Table::open(&dir)?;
            FloeTableProvider::try_new(table)
        })
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
            || self.dir_of(name).is_some()
    }
}
