//! Relocating a table that was copied or moved: [`Table::relocate`].
//!
//! Metadata records absolute URIs, so a copied (`cp -a`, a restored backup) or moved
//! (`mv`) table still names its old directory: its `location`, every snapshot's
//! manifest list, every manifest, every data file and the metadata log. floe detects
//! this when it opens the table ([`crate::io::location`]): reads use the copy's own files,
//! and commits and destructive maintenance are refused with
//! [`Error::TableRelocated`]. Relocation is the explicit step that makes the copy a
//! table of its own, in the spirit of Iceberg's rewrite-table-path:
//!
//! * every manifest of every retained snapshot is rewritten with its data file paths
//!   under the directory the table was opened at, and every manifest list with the
//!   new manifests (new files, written through the table's storage; the originals
//!   are never modified);
//! * one new version is committed by the ordinary exclusive-create commit point
//!   (compare-and-commit: it is refused, and its new files deleted, if anything else
//!   committed since it read the table) whose `location`, manifest lists and metadata
//!   log (and any statistics files) point at the new directory. Nothing else changes:
//!   same table uuid, snapshots, sequence numbers, schemas, specs, refs and rows.
//!
//! The manifests and manifest lists it replaced are still named by the older version
//! files in the metadata log (time travel to an older *version* reads them, mapped to
//! this directory) until expiry or orphan cleanup removes them: the newest version no
//! longer references them. Time travel by snapshot id or timestamp uses the rewritten
//! lists. After relocation the table is independent of the
//! original: deleting or moving the original changes nothing, and every reader
//! (pyiceberg, DuckDB, datashard) reads the copy's own files.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::io::storage::Key;
use crate::ops::maintenance::MaintenanceReport;
use crate::spec::manifest::{ManifestFile, ManifestWriteContext, read_manifest, write_manifest, write_manifest_list};
use crate::spec::metadata::{PartitionSpec, TableMetadata};
use crate::spec::types::Schema;
use crate::table::RetryPolicy;
use crate::table::{Table, load_manifest_list};
use crate::txn::Transaction;

/// What [`Table::relocate`] rewrote (or, as a dry run, would rewrite): the details of
/// its [`MaintenanceReport::relocation`]. The report's `commits` holds the version it
/// committed, `dry_run` and `elapsed` the rest.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Relocation {
    /// The location the metadata recorded before.
    pub recorded: String,
    /// The directory the table was opened at (its location afterwards).
    pub opened: PathBuf,
    /// False when the metadata already records this directory: nothing to do.
    pub needed: bool,
    /// Snapshots whose manifest lists were rewritten.
    pub snapshots: usize,
    /// Manifests rewritten (each once, however many snapshots share it).
    pub manifests: usize,
    /// Data file paths rewritten (manifest entries).
    pub data_files: usize,
    /// Metadata-log entries rewritten.
    pub metadata_log: usize,
    /// Every file written (manifests and manifest lists).
    pub written: Vec<PathBuf>,
}

/// The rewritten metadata pieces and the files they need.
struct Plan {
    /// Snapshot id → its new manifest list URI.
    lists: HashMap<i64, String>,
    /// Files to write, in any order.
    writes: Vec<(Key, Vec<u8>)>,
    manifests: usize,
    data_files: usize,
}

impl Table {
    /// Points the metadata of a table that was copied or moved here (see
    /// [`Table::relocated_from`]) at the directory it was opened at, in one new
    /// version: new manifests and manifest lists naming the files under this
    /// directory, and `location` and the metadata log set to it. See the
    /// docs/maintenance.md. A table already at home is left alone
    /// (`needed` is false). Fails with [`Error::ConcurrentModification`] (nothing
    /// changed) if another commit landed while it ran; run it again.
    ///
    /// ```no_run
    /// # fn main() -> floe::Result<()> {
    /// // After `cp -a events events-copy`:
    /// let copy = floe::Table::open("./events-copy")?;
    /// assert!(copy.relocated_from().is_some());
    /// let report = copy.relocate()?;
    /// assert!(copy.relocated_from().is_none());
    /// # Ok(()) }
    /// ```
    pub fn relocate(&self) -> Result<MaintenanceReport> {
        self.relocate_inner(false)
    }

    /// What [`Table::relocate`] would rewrite; changes nothing.
    pub fn relocate_dry_run(&self) -> Result<MaintenanceReport> {
        self.relocate_inner(true)
    }

    fn relocate_inner(&self, dry_run: bool) -> Result<MaintenanceReport> {
        let started = Instant::now();
        let (mut report, tx) = self.relocation(dry_run)?;
        if let Some(tx) = tx {
            report.commits.push(tx.commit()?);
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// The relocation's report and, when one is needed and this is no dry run, its
    /// transaction (its new manifests written, owned by it: deleted unless it commits),
    /// for the caller to commit (a warehouse commits every table's in one transaction).
    pub(crate) fn relocation(&self, dry_run: bool) -> Result<(MaintenanceReport, Option<Transaction>)> {
        let started = Instant::now();
        if self.inner.read_only {
            return Err(Error::Unsupported {
                what: "relocating a table opened from a catalog-style metadata file".into(),
            });
        }
        self.refresh()?;
        // Compare-and-commit: the plan below is built from exactly this version.
        let mut tx = self.new_transaction().with_retry(RetryPolicy::none());
        tx.allow_relocated();
        let md = Arc::clone(tx.base_metadata());
        let report = MaintenanceReport::new("relocate", dry_run);
        let mut details =
            Relocation { recorded: md.location.clone(), opened: self.path().to_path_buf(), ..Relocation::default() };
        let finish = |mut report: MaintenanceReport, details: Relocation| {
            report.relocation = Some(details);
            report.elapsed = started.elapsed();
            report
        };
        if self.location().observe(&md.location) {
            return Ok((finish(report, details), None));
        }
        details.needed = true;
        let plan = self.plan_relocation(&md, &tx.commit_id())?;
        let log: Vec<String> = md
            .metadata_log
            .iter()
            .map(|e| Ok(self.location().resolve(&e.metadata_file)?.url()))
            .collect::<Result<_>>()?;
        let statistics = relocated_statistics(self, &md)?;
        details.snapshots = plan.lists.len();
        details.manifests = plan.manifests;
        details.data_files = plan.data_files;
        details.metadata_log = log.len();
        details.written = plan.writes.iter().map(|(k, _)| self.location().path(k)).collect();
        if dry_run {
            return Ok((finish(report, details), None));
        }

        let durable = self.inner.options.durability.is_durable();
        // The transaction owns the new files from here: deleted unless it commits.
        tx.adopt_files(plan.writes.iter().map(|(k, _)| k.clone()).collect());
        // Independent new files: one batch (concurrent PUTs on a remote store).
        let io_threads = self.inner.options.write.io_threads;
        for ((key, _), r) in plan.writes.iter().zip(self.storage().put_new_many(&plan.writes, durable, io_threads)) {
            r.map_err(|e| Error::io(self.location().path(key), e))?;
        }
        let recorded = md.location.clone();
        let root_uri = self.location().root_uri();
        let lists = plan.lists;
        tx.update_metadata(move |md| {
            if md.location != recorded {
                return Err(Error::InvalidArgument(format!(
                    "the table's location changed from {recorded} to {} while relocating",
                    md.location
                )));
            }
            for s in &mut md.snapshots {
                let new = lists.get(&s.snapshot_id).ok_or_else(|| Error::NotFound {
                    what: format!("snapshot {} was not relocated (committed concurrently?)", s.snapshot_id),
                })?;
                Arc::make_mut(s).manifest_list = new.clone();
            }
            if md.metadata_log.len() != log.len() {
                return Err(Error::InvalidArgument("the metadata log changed while relocating".into()));
            }
            for (entry, uri) in md.metadata_log.iter_mut().zip(&log) {
                entry.metadata_file = uri.clone();
            }
            md.extra.extend(statistics.clone());
            md.location = root_uri.clone();
            Ok(())
        });
        Ok((finish(report, details), Some(tx)))
    }

    /// New manifests (every data file path mapped under the root) and manifest lists
    /// for every snapshot of `md`.
    fn plan_relocation(&self, md: &TableMetadata, commit_id: &str) -> Result<Plan> {
        let location = self.location();
        let mut plan = Plan { lists: HashMap::new(), writes: Vec::new(), manifests: 0, data_files: 0 };
        // Old manifest (resolved path) → its rewritten manifest-list row.
        let mut rewritten: HashMap<String, ManifestFile> = HashMap::new();
        for snapshot in &md.snapshots {
            let list = load_manifest_list(location, snapshot)?;
            let mut rows = Vec::with_capacity(list.len());
            for m in list {
                let old = location.resolve(&m.manifest_path)?;
                if let Some(row) = rewritten.get(&old.id()) {
                    rows.push(row.clone());
                    continue;
                }
                let old_path = old.path();
                let bytes = old.read()?;
                let mut entries = read_manifest(&old_path, &bytes, Some(&m))?.entries;
                for e in &mut entries {
                    e.data_file.file_path = location.resolve(&e.data_file.file_path)?.url();
                }
                let spec = md.partition_specs.iter().find(|s| s.spec_id == m.partition_spec_id).ok_or_else(|| {
                    Error::corrupt(&old_path, format!("unknown partition spec id {}", m.partition_spec_id))
                })?;
                let schema = schema_for(md, spec);
                let ctx = ManifestWriteContext { schema, spec, content: m.content };
                let new_bytes = write_manifest(&ctx, &entries)?;
                let new_path = Key::known(format!("metadata/{commit_id}-r{}.avro", plan.manifests));
                plan.manifests += 1;
                plan.data_files += entries.len();
                let row = ManifestFile {
                    manifest_path: location.uri(&new_path),
                    manifest_length: new_bytes.len() as i64,
                    ..m
                };
                plan.writes.push((new_path, new_bytes));
                rewritten.insert(old.id(), row.clone());
                rows.push(row);
            }
            let list_bytes = write_manifest_list(
                snapshot.snapshot_id,
                snapshot.parent_snapshot_id,
                snapshot.sequence_number,
                &rows,
            )?;
            let list_path = Key::known(format!("metadata/snap-{}-0-{commit_id}.avro", snapshot.snapshot_id));
            plan.lists.insert(snapshot.snapshot_id, location.uri(&list_path));
            plan.writes.push((list_path, list_bytes));
        }
        Ok(plan)
    }
}

/// The schema to write a manifest of `spec` with: the current one when it holds every
/// source column of the spec, else the newest that does (a spec of an older schema).
fn schema_for<'a>(md: &'a TableMetadata, spec: &PartitionSpec) -> &'a Schema {
    let fits = |s: &Schema| spec.fields.iter().all(|f| s.field_by_id(f.source_id).is_some());
    let current = md.current_schema();
    if fits(current) {
        return current;
    }
    md.schemas.iter().rev().find(|s| fits(s)).unwrap_or(current)
}

/// The `statistics` and `partition-statistics` entries (kept as other engines wrote
/// them) with their `statistics-path` mapped under the root; empty when there are none.
fn relocated_statistics(table: &Table, md: &TableMetadata) -> Result<BTreeMap<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for key in ["statistics", "partition-statistics"] {
        let Some(serde_json::Value::Array(items)) = md.extra.get(key) else { continue };
        let mut items = items.clone();
        for item in &mut items {
            if let Some(serde_json::Value::String(path)) = item.get_mut("statistics-path") {
                *path = table.location().resolve(path)?.url();
            }
        }
        out.insert(key.to_string(), serde_json::Value::Array(items));
    }
    Ok(out)
}
