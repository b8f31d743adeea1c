//! Tables in a warehouse (`floe::Warehouse`, docs/transactions.md): how a table
//! argument names one (`ROOT/name`, `ROOT/ns/name` or `--warehouse ROOT name`), and
//! the warehouse commands `create-warehouse`, `tables`, `repair`, `drop` and `rename`,
//! and on a warehouse root `expire` (old catalog versions) and `relocate` (a copied or
//! moved warehouse).
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

pub(crate) fn is_warehouse(dir: &Path) -> bool {
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

#[derive(Debug, Args)]
pub struct DropArgs {
    /// The table: `ROOT/name`, `ROOT/ns/name`, or a name with `--warehouse ROOT`.
    pub(crate) table: PathBuf,
    /// Also delete every file under the table's directory (after the drop commits).
    #[arg(long)]
    pub(crate) purge: bool,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The table: `ROOT/name`, `ROOT/ns/name`, or a name with `--warehouse ROOT`.
    pub(crate) table: PathBuf,
    /// The new name (`ns.name`), or a path under the same root (`ROOT/ns/name`).
    pub(crate) new_name: PathBuf,
}

/// The warehouse and name of a `drop`/`rename` TABLE argument (which must name one).
fn located(arg: &Path, warehouse: Option<&Path>, what: &str) -> Result<(PathBuf, String), Failure> {
    locate(arg, warehouse)?.ok_or_else(|| {
        Failure::usage(format!(
            "{} is not a table in a warehouse: `floe {what}` takes ROOT/name or --warehouse ROOT name",
            arg.display()
        ))
    })
}

pub fn drop(o: &Out, a: &DropArgs, warehouse: Option<&Path>) -> CmdResult {
    let (root, name) = located(&a.table, warehouse, "drop")?;
    let wh = Warehouse::open(&root)?;
    let deleted = if a.purge { Some(wh.drop_table_purge(&name)?) } else { wh.drop_table(&name).map(|()| None)? };
    let version = wh.version()?;
    if o.json {
        o.json(&json!({"root": wh.path(), "table": name, "catalog_version": version, "purged_files": deleted}))?;
        return Ok(());
    }
    match deleted {
        Some(n) => o.line(&format!("dropped {name} at catalog v{version}; deleted {n} file(s)"))?,
        None => o.line(&format!("dropped {name} at catalog v{version}; its files stay (--purge deletes them)"))?,
    }
    Ok(())
}

pub fn rename(o: &Out, a: &RenameArgs, warehouse: Option<&Path>) -> CmdResult {
    let (root, from) = located(&a.table, warehouse, "rename")?;
    // The new name as a path under the same root, or as a name.
    let to = match warehouse {
        None if a.new_name.components().count() > 1 => match locate(&a.new_name, None)? {
            Some((r, n)) if same_dir(&r, &root) => n,
            _ => {
                return Err(Failure::usage(format!(
                    "{} is not under the warehouse root {}",
                    a.new_name.display(),
                    root.display()
                )));
            }
        },
        _ => a
            .new_name
            .to_str()
            .ok_or_else(|| Failure::usage(format!("table name {:?} is not UTF-8", a.new_name)))?
            .to_string(),
    };
    let wh = Warehouse::open(&root)?;
    wh.rename_table(&from, &to)?;
    let version = wh.version()?;
    if o.json {
        o.json(&json!({"root": wh.path(), "from": from, "to": to, "catalog_version": version}))?;
    } else {
        o.line(&format!("renamed {from} to {to} at catalog v{version}"))?;
    }
    Ok(())
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
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
    let relocated_from = wh.relocated_from()?;
    if o.json {
        let rows: Vec<_> = list.iter().map(|t| json!({"name": t.name, "path": t.path, "version": t.version})).collect();
        o.json(&json!({
            "root": wh.path(),
            "catalog_version": snap.version(),
            "tables": rows,
            "relocated_from": relocated_from,
        }))?;
        return Ok(());
    }
    if let Some(from) = &relocated_from {
        eprintln!(
            "floe: this warehouse was copied or moved from {from}; reads work, commits are refused until \
             `floe relocate {}`",
            wh.path().display()
        );
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

/// `floe expire ROOT`: deletes old catalog versions (`Warehouse::expire_catalog`), with
/// the same retention options as expiring a table's snapshots.
pub fn expire_catalog(o: &Out, root: &Path, opts: &floe::ExpireOptions) -> CmdResult {
    let wh = Warehouse::open(root)?;
    let r = wh.expire_catalog(opts)?;
    if o.json {
        o.json(&json!({
            "root": wh.path(),
            "catalog_version": r.catalog_version,
            "oldest_version": r.oldest_version,
            "deleted_versions": r.deleted_versions,
            "deleted_checkpoints": r.deleted_checkpoints,
            "dry_run": r.dry_run,
        }))?;
        return Ok(());
    }
    let verb = if r.dry_run { "would delete" } else { "deleted" };
    o.line(&format!(
        "catalog v{}: {verb} {} old catalog version(s) and {} checkpoint(s); time travel reaches back to v{}",
        r.catalog_version, r.deleted_versions, r.deleted_checkpoints, r.oldest_version
    ))?;
    Ok(())
}

/// `floe relocate ROOT`: makes a copied or moved warehouse one of its own
/// (`Warehouse::relocate`: every table relocated in one multi-table transaction).
pub fn relocate(o: &Out, root: &Path, dry_run: bool) -> CmdResult {
    let wh = Warehouse::open(root)?;
    let from = wh.relocated_from()?;
    let commit = match (&from, dry_run) {
        (Some(_), false) => wh.relocate()?,
        _ => None,
    };
    if o.json {
        let tables: Option<Vec<_>> =
            commit.as_ref().map(|c| c.tables.iter().map(|(n, r)| json!({"table": n, "version": r.version})).collect());
        o.json(&json!({
            "operation": "relocate",
            "root": wh.path(),
            "dry_run": dry_run,
            "needed": from.is_some(),
            "recorded": from,
            "catalog_version": commit.as_ref().map(|c| c.catalog_version),
            "tables": tables,
        }))?;
        return Ok(());
    }
    match (from, commit) {
        (None, _) => {
            o.line(&format!("relocate: nothing to do, the warehouse's tables already record {}", wh.path().display()))?
        }
        (Some(from), None) => {
            o.line(&format!("relocate (dry run): would relocate the warehouse from {from} to {}", wh.path().display()))?
        }
        (Some(from), Some(c)) => o.line(&format!(
            "relocate: moved the warehouse from {from} to {}: {} table(s) at catalog v{}",
            wh.path().display(),
            c.tables.len(),
            c.catalog_version
        ))?,
    }
    Ok(())
}
