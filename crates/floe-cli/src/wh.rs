//! Tables in a warehouse (`floe::Warehouse`, docs/transactions.md): how a table
//! argument names one (`ROOT/name`, `ROOT/ns/name` or `--warehouse ROOT name`), and
//! the warehouse commands `create-warehouse`, `tables` and `repair`.
//!
//! A table argument under a warehouse root (a directory holding `_floe/catalog/`) is
//! looked up by name in the warehouse's catalog and replaced by the table's directory,
//! so every command reads it as any table; writes then commit through the warehouse
//! (`Warehouse::commit_table_transaction`), because a warehouse table is committed to
//! only through its catalog. `floe create ROOT/name` creates the table in the warehouse.

use std::path::{Path, PathBuf};

use clap::Args;
use floe::Warehouse;
use serde_json::json;

use crate::out::Out;
use crate::{CmdResult, Failure};

#[derive(Debug, Args)]
pub struct RootArgs {
    /// The warehouse root directory.
    pub(crate) root: PathBuf,
}

fn is_warehouse(dir: &Path) -> bool {
    dir.join("_floe/catalog/v1.json").is_file()
}

/// The warehouse and table name a table argument names, if it names one: with
/// `--warehouse ROOT` the argument is the name; otherwise the nearest ancestor holding a
/// warehouse is the root and the rest of the path is the name (`/` read as `.`).
pub fn locate(arg: &Path, warehouse: Option<&Path>) -> Result<Option<(PathBuf, String)>, Failure> {
    if let Some(root) = warehouse {
        let name = arg.to_str().ok_or_else(|| Failure::usage(format!("table name {arg:?} is not UTF-8")))?;
        return Ok(Some((root.to_path_buf(), name.to_string())));
    }
    for root in arg.ancestors().skip(1) {
        if root.as_os_str().is_empty() {
            break;
        }
        if is_warehouse(root) {
            let rest = arg.strip_prefix(root).map_err(|e| Failure::usage(e.to_string()))?;
            let parts: Option<Vec<&str>> = rest.components().map(|c| c.as_os_str().to_str()).collect();
            let parts = parts.ok_or_else(|| Failure::usage(format!("table name {rest:?} is not UTF-8")))?;
            return Ok(Some((root.to_path_buf(), parts.join("."))));
        }
    }
    Ok(None)
}

/// The directory of table `name` in the warehouse at `root`.
pub fn table_dir(root: &Path, name: &str) -> Result<PathBuf, Failure> {
    let wh = Warehouse::open(root)?;
    Ok(wh.table(name)?.path().to_path_buf())
}

pub fn create_warehouse(o: &Out, a: &RootArgs) -> CmdResult {
    let wh = Warehouse::create(&a.root)?;
    if o.json {
        o.json(&json!({"root": wh.path(), "catalog_version": wh.version()?}))?;
    } else {
        o.line(&format!("created warehouse {}", wh.path().display()))?;
    }
    Ok(())
}

pub fn tables(o: &Out, a: &RootArgs) -> CmdResult {
    let wh = Warehouse::open(&a.root)?;
    let snap = wh.snapshot()?;
    let list = wh.tables()?;
    if o.json {
        let rows: Vec<_> = list.iter().map(|t| json!({"name": t.name, "path": t.path, "version": t.version})).collect();
        o.json(&json!({"root": wh.path(), "catalog_version": snap.version(), "tables": rows}))?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            let rel = t.path.strip_prefix(wh.path()).unwrap_or(&t.path).display().to_string();
            vec![t.name.clone(), format!("v{}", t.version), rel]
        })
        .collect();
    let mut text =
        format!("warehouse {} at catalog v{}: {} table(s)\n", wh.path().display(), snap.version(), list.len());
    text.push_str(&o.table(&["name", "version", "directory"], rows, &[]));
    o.print(&text)?;
    Ok(())
}

pub fn repair(o: &Out, a: &RootArgs) -> CmdResult {
    let wh = Warehouse::open(&a.root)?;
    let r = wh.repair()?;
    if o.json {
        let published: Vec<_> = r.published.iter().map(|(n, v)| json!({"table": n, "version": v})).collect();
        o.json(&json!({"catalog_version": r.catalog_version, "published": published}))?;
        return Ok(());
    }
    if r.published.is_empty() {
        o.line(&format!("catalog v{}: every table is published; nothing to repair", r.catalog_version))?;
    } else {
        let mut text = format!("catalog v{}: published {} table version(s)\n", r.catalog_version, r.published.len());
        for (n, v) in &r.published {
            text.push_str(&format!("  {n} v{v}\n"));
        }
        o.print(&text)?;
    }
    Ok(())
}
