//! Table maintenance that runs while writers write: compaction, manifest merging,
//! snapshot expiry, orphan-file cleanup, rollback and tags.
//!
//! Every operation is an ordinary floe transaction (or none), so it queues and rebases
//! like any commit and never needs writers to stop. Promises:
//!
//! * **Compaction** ([`Table::compact`]) commits `replace` snapshots that keep every
//!   row: it rebases over any concurrent append, and conflicts only when a file it
//!   rewrites was removed by a concurrent commit (that group is skipped and reported).
//!   Large jobs commit in groups of at most [`CompactOptions::max_commit_bytes`].
//! * **Expiry** ([`Table::expire_snapshots`]) first commits metadata without the
//!   expired snapshots, and only after that commit landed deletes the manifest lists,
//!   manifests and data files that no snapshot of the newest metadata references
//!   (reachability is computed from every retained snapshot's manifest list). The
//!   current snapshot and every snapshot a ref (branch or tag) names are never expired.
//! * **Orphan cleanup** ([`Table::remove_orphans`]) deletes only regular files under the
//!   table root that nothing references (no snapshot of the newest metadata, nor of any
//!   metadata file in its metadata log) and that are older than the grace period. It
//!   never follows symlinks, never deletes the version hint, lock files or fresh
//!   datashard `metadata/inflight/*.inflight` markers or the files they name. In-flight
//!   floe transactions are safe because a transaction refuses to commit once it has
//!   been open longer than `floe.transaction.max-age-ms` (12 h by default) and the grace
//!   period (1 day by default) may not be shorter than that plus an hour: any file an
//!   uncommitted transaction may still publish is younger than the grace period. A
//!   writer paused past the grace period between that check and its commit point
//!   finds its files gone right after its link and reverts its snapshot
//!   (`Error::CommitFilesMissing`): never an acknowledged commit with missing files.
//! * **Unreadable is not unreferenced.** Expiry and orphan cleanup read every file
//!   that could reference something before deleting anything; a read or decode failure
//!   stops them with a typed error naming the file. Only a file that no longer exists
//!   is skipped, and only when no snapshot the newest metadata retains names it.
//! * **Rollback** ([`Table::rollback_to`], [`Table::set_current`]) and tags
//!   ([`Table::create_tag`], [`Table::remove_tag`]) are metadata-only commits.
//! * Files are compared by their path relative to the table root (every recorded URI
//!   resolved by [`crate::io::location::TableLocation::resolve`]), never by the URI's
//!   spelling. Every operation here, dry runs included, refuses a table that was copied
//!   or moved and not relocated ([`Error::TableRelocated`]; see [`crate::ops::relocate`]).
//!
//! Every operation takes `dry_run` and returns a [`MaintenanceReport`] saying what it
//! did (or would do). See `docs/maintenance.md`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crate::data::read::{NameMapping, ReadOptions, open_data};
use crate::data::write::DataFileWriter;
use crate::error::{Error, Result};
use crate::io::location::FileRef;
use crate::io::storage::{Key, SkipReason};
use crate::ops::relocate::Relocation;
use crate::spec::manifest::{DataFile, EntryStatus, ManifestContent, ManifestFile, read_manifest};
use crate::spec::metadata::{Snapshot, SnapshotLogEntry, SnapshotRef, TableMetadata, time_to_ms};
use crate::table::{Table, load_manifest_list, now_ms, properties};
use crate::txn::{CommitReport, Operation, Transaction, datashard_writes_here};

/// Default compaction target when neither the options nor the table set one (128 MiB).
pub const DEFAULT_COMPACTION_TARGET_BYTES: u64 = 128 * 1024 * 1024;
/// Iceberg's default for `history.expire.max-snapshot-age-ms` (5 days).
pub const DEFAULT_MAX_SNAPSHOT_AGE_MS: i64 = 5 * 24 * 3600 * 1000;
/// Iceberg's default for `history.expire.min-snapshots-to-keep`.
pub const DEFAULT_MIN_SNAPSHOTS_TO_KEEP: i64 = 1;
/// Default grace period of orphan cleanup (1 day).
pub const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Where datashard writers put their in-flight markers (relative to the table root).
pub const INFLIGHT_MARKER_DIR: &str = "metadata/inflight";

/// How a maintenance operation commits its transaction: [`Transaction::commit`] for a
/// table of its own, the warehouse's catalog for a table a warehouse manages.
pub(crate) type Committer<'a> = &'a dyn Fn(Transaction) -> Result<CommitReport>;

/// What a maintenance operation did (or, with `dry_run`, would do). Counts of
/// "removed" data files for compaction mean removed from the table (the files stay
/// on disk for time travel until expiry); for expiry and orphan cleanup they mean
/// deleted from disk.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct MaintenanceReport {
    /// `compact`, `merge-manifests`, `expire-snapshots`, `remove-orphans`, `rollback`,
    /// `set-current`, `create-tag`, `remove-tag`.
    pub operation: String,
    /// Nothing was changed; the counts say what would have been.
    pub dry_run: bool,
    /// Data files removed (from the table for compaction; from disk otherwise).
    pub data_files_removed: usize,
    /// Data files added (compaction output).
    pub data_files_added: usize,
    /// Manifests, manifest lists and metadata files deleted from disk.
    pub metadata_files_removed: usize,
    /// Manifests before and after (manifest merging).
    pub manifests_before: usize,
    /// Manifests after (manifest merging).
    pub manifests_after: usize,
    /// Other files deleted (orphan cleanup: temp files, stale markers, strays).
    pub other_files_removed: usize,
    /// Bytes of the files counted as removed.
    pub bytes_removed: u64,
    /// Bytes of the files added.
    pub bytes_added: u64,
    /// Rows rewritten (compaction).
    pub rows_rewritten: i64,
    /// Compaction: row-level delete files dropped (applied to every data file they
    /// named, all rewritten).
    pub delete_files_removed: usize,
    /// Compaction: deleted rows left out of the rewritten files.
    pub rows_deleted: u64,
    /// Snapshots removed from metadata.
    pub snapshots_expired: usize,
    /// The commits this operation made, in order: each reported as a transaction's
    /// commit is ([`Table::append`] returns the same shape).
    pub commits: Vec<CommitReport>,
    /// Every file deleted (or that would be).
    pub deleted_paths: Vec<PathBuf>,
    /// Work not done and why (conflicting groups, files outside the table, ...).
    pub skipped: Vec<String>,
    /// [`Table::relocate`]: what it rewrote.
    pub relocation: Option<Relocation>,
    /// Wall time.
    pub elapsed: Duration,
}

impl MaintenanceReport {
    pub(crate) fn new(operation: &str, dry_run: bool) -> Self {
        MaintenanceReport { operation: operation.to_string(), dry_run, ..MaintenanceReport::default() }
    }

    /// The versions this operation committed, in order.
    pub fn versions(&self) -> Vec<u64> {
        self.commits.iter().map(|c| c.version).collect()
    }
}

impl std::fmt::Display for MaintenanceReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.dry_run { "would remove" } else { "removed" };
        write!(
            f,
            "{}{}: {verb} {} data file(s), {} metadata file(s), {} other file(s) ({} bytes); \
             added {} data file(s) ({} bytes)",
            self.operation,
            if self.dry_run { " (dry run)" } else { "" },
            self.data_files_removed,
            self.metadata_files_removed,
            self.other_files_removed,
            self.bytes_removed,
            self.data_files_added,
            self.bytes_added,
        )?;
        if self.rows_rewritten > 0 {
            write!(f, "; {} row(s) rewritten", self.rows_rewritten)?;
        }
        if self.snapshots_expired > 0 {
            write!(f, "; {} snapshot(s) expired", self.snapshots_expired)?;
        }
        if self.manifests_before > 0 {
            write!(f, "; manifests {} -> {}", self.manifests_before, self.manifests_after)?;
        }
        if let Some(r) = &self.relocation {
            write!(
                f,
                "; from {}: {} manifest list(s), {} manifest(s), {} data file path(s) rewritten",
                r.recorded, r.snapshots, r.manifests, r.data_files
            )?;
        }
        if !self.commits.is_empty() {
            let v: Vec<String> = self.commits.iter().map(|c| format!("v{}", c.version)).collect();
            write!(f, "; committed {}", v.join(", "))?;
        }
        if !self.skipped.is_empty() {
            write!(f, "; skipped {}", self.skipped.len())?;
        }
        write!(f, " in {:.3}s", self.elapsed.as_secs_f64())
    }
}

/// Chooses which live data files compaction may rewrite.
pub type FileFilter = Arc<dyn Fn(&DataFile) -> bool + Send + Sync>;

/// How [`Table::compact`] works.
#[derive(Clone)]
#[non_exhaustive]
pub struct CompactOptions {
    /// Output file size. `None`: the table's `write.target-file-size-bytes`, else
    /// 128 MiB.
    pub target_file_size_bytes: Option<u64>,
    /// Files at least this fraction of the target are left alone (default 0.75).
    pub small_file_fraction: f64,
    /// A group (one output file's worth of inputs) needs at least this many inputs
    /// to be worth rewriting (default 2).
    pub min_input_files: usize,
    /// Input bytes per commit: a long job commits every this many bytes so it never
    /// holds a huge set of removals that a concurrent delete could invalidate
    /// (default 1 GiB).
    pub max_commit_bytes: u64,
    /// Only files this accepts are rewritten (a predicate on partition values or
    /// column bounds; the `floe::expr` predicate type converts to one).
    pub filter: Option<FileFilter>,
    /// Only files that may hold rows matching this (see [`CompactOptions::matching`]).
    pub predicate: Option<crate::expr::Predicate>,
    /// Plan only.
    pub dry_run: bool,
    /// Also rewrite data files that row-level delete files apply to (whatever their
    /// size; see [`CompactOptions::delete_file_threshold`]), leaving the deleted rows
    /// out and dropping delete files that no longer apply to any live data file
    /// (default true). Deletes are always applied to the files compaction rewrites.
    pub apply_deletes: bool,
    /// A data file is rewritten for its deletes when at least this many delete files
    /// apply to it. `None`: the table property `floe.compact.delete-file-threshold`,
    /// else 1.
    pub delete_file_threshold: Option<usize>,
}

/// Table property: the default of [`CompactOptions::delete_file_threshold`].
pub const COMPACT_DELETE_FILE_THRESHOLD: &str = "floe.compact.delete-file-threshold";

impl Default for CompactOptions {
    fn default() -> Self {
        CompactOptions {
            target_file_size_bytes: None,
            small_file_fraction: 0.75,
            min_input_files: 2,
            max_commit_bytes: 1024 * 1024 * 1024,
            filter: None,
            predicate: None,
            dry_run: false,
            apply_deletes: true,
            delete_file_threshold: None,
        }
    }
}

impl std::fmt::Debug for CompactOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompactOptions")
            .field("target_file_size_bytes", &self.target_file_size_bytes)
            .field("small_file_fraction", &self.small_file_fraction)
            .field("min_input_files", &self.min_input_files)
            .field("max_commit_bytes", &self.max_commit_bytes)
            .field("filter", &self.filter.as_ref().map(|_| "<fn>"))
            .field("predicate", &self.predicate.as_ref().map(|p| p.to_string()))
            .field("dry_run", &self.dry_run)
            .field("apply_deletes", &self.apply_deletes)
            .field("delete_file_threshold", &self.delete_file_threshold)
            .finish()
    }
}

impl CompactOptions {
    /// Sets [`CompactOptions::apply_deletes`].
    pub fn apply_deletes(mut self, yes: bool) -> Self {
        self.apply_deletes = yes;
        self
    }

    /// Sets [`CompactOptions::delete_file_threshold`].
    pub fn delete_file_threshold(mut self, n: usize) -> Self {
        self.delete_file_threshold = Some(n.max(1));
        self
    }

    /// Rewrite only files `filter` accepts.
    pub fn filter(mut self, filter: impl Fn(&DataFile) -> bool + Send + Sync + 'static) -> Self {
        self.filter = Some(Arc::new(filter));
        self
    }

    /// Rewrite only files that may hold rows matching `predicate` (judged by their
    /// column bounds and counts, as scans prune). The predicate is bound to the
    /// table's current schema when compaction runs: an unknown column or a literal of
    /// the wrong type is [`crate::Error::Predicate`], and nothing is rewritten.
    pub fn matching(mut self, predicate: crate::expr::Predicate) -> Self {
        self.predicate = Some(predicate);
        self
    }

    /// Sets the output file size.
    pub fn target_file_size(mut self, bytes: u64) -> Self {
        self.target_file_size_bytes = Some(bytes.max(1));
        self
    }

    /// Sets [`CompactOptions::small_file_fraction`].
    pub fn small_file_fraction(mut self, fraction: f64) -> Self {
        self.small_file_fraction = fraction;
        self
    }

    /// Sets [`CompactOptions::min_input_files`].
    pub fn min_input_files(mut self, n: usize) -> Self {
        self.min_input_files = n;
        self
    }

    /// Sets [`CompactOptions::max_commit_bytes`].
    pub fn max_commit_bytes(mut self, bytes: u64) -> Self {
        self.max_commit_bytes = bytes;
        self
    }

    /// Sets dry run.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// How [`Table::merge_manifests`] works.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MergeManifestsOptions {
    /// Merge when the current snapshot has at least this many small data manifests
    /// of the default spec (default 2: any).
    pub min_count: usize,
    /// Plan only.
    pub dry_run: bool,
}

impl Default for MergeManifestsOptions {
    fn default() -> Self {
        MergeManifestsOptions { min_count: 2, dry_run: false }
    }
}

impl MergeManifestsOptions {
    /// Sets [`MergeManifestsOptions::min_count`].
    pub fn min_count(mut self, n: usize) -> Self {
        self.min_count = n;
        self
    }

    /// Sets dry run.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// How [`Table::expire_snapshots`] works.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExpireOptions {
    /// Expire snapshots committed longer ago than this. With neither this nor
    /// [`ExpireOptions::before`]: the table's `history.expire.max-snapshot-age-ms`
    /// (default 5 days).
    pub older_than: Option<Duration>,
    /// Expire snapshots committed before this time. With [`ExpireOptions::older_than`]
    /// as well, a snapshot must be older than both.
    pub before: Option<SystemTime>,
    /// Always keep the newest this many snapshots. `None`: the table's
    /// `history.expire.min-snapshots-to-keep` (default 1).
    pub retain_last: Option<usize>,
    /// Plan only.
    pub dry_run: bool,
}

impl ExpireOptions {
    /// Expire snapshots committed longer ago than `age`.
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }

    /// Expire snapshots committed before `time`.
    pub fn before(mut self, time: SystemTime) -> Self {
        self.before = Some(time);
        self
    }

    /// Keep at least the newest `n` snapshots.
    pub fn retain_last(mut self, n: usize) -> Self {
        self.retain_last = Some(n);
        self
    }

    /// Sets dry run.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// How [`Table::remove_orphans`] works.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OrphanOptions {
    /// Only files last modified longer ago than this are deleted (default 1 day).
    pub older_than: Duration,
    /// Allow a grace period shorter than the table's transaction max age plus an
    /// hour (tests; a shorter grace can delete a slow in-flight transaction's files).
    pub allow_short_grace: bool,
    /// Plan only.
    pub dry_run: bool,
}

impl Default for OrphanOptions {
    fn default() -> Self {
        OrphanOptions { older_than: DEFAULT_ORPHAN_GRACE, allow_short_grace: false, dry_run: false }
    }
}

impl OrphanOptions {
    /// Sets the grace period.
    pub fn older_than(mut self, d: Duration) -> Self {
        self.older_than = d;
        self
    }

    /// Sets [`OrphanOptions::allow_short_grace`].
    pub fn allow_short_grace(mut self, yes: bool) -> Self {
        self.allow_short_grace = yes;
        self
    }

    /// Sets dry run.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }
}

/// A live data file with what compaction groups it by.
#[derive(Debug, Clone)]
struct LiveFile {
    spec_id: i32,
    file: DataFile,
    /// Delete files that apply to it.
    deletes: usize,
}

/// Every live data file of `snapshot` with its manifest's spec id and how many delete
/// files apply to it, oldest first.
fn live_files(table: &Table, snapshot: &Snapshot) -> Result<Vec<LiveFile>> {
    let plan = table.scan().snapshot_id(snapshot.snapshot_id).select(Vec::<String>::new()).plan()?;
    Ok(plan
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| LiveFile { spec_id: plan.spec_ids[i], file: f.clone(), deletes: plan.file_deletes(i).len() })
        .collect())
}

/// One output file's inputs.
#[derive(Debug, Clone)]
struct Bin {
    partition: Vec<Option<crate::spec::values::Datum>>,
    inputs: Vec<DataFile>,
    /// Some input is rewritten for its deletes (worth it even alone).
    for_deletes: bool,
}

impl Bin {
    fn bytes(&self) -> u64 {
        self.inputs.iter().map(|f| f.file_size_in_bytes.max(0) as u64).sum()
    }
}

impl Table {
    /// Bin-packs small live data files into files near the target size, per
    /// (partition spec, partition value), committing `replace` snapshots that keep
    /// every row. Rebases over concurrent appends; a group whose inputs were removed
    /// by a concurrent commit is skipped (reported in `skipped`), the others commit.
    pub fn compact(&self, opts: &CompactOptions) -> Result<MaintenanceReport> {
        self.compact_via(opts, &Transaction::commit)
    }

    /// [`Table::compact`] committing each group through `commit` (a warehouse routes
    /// them through its catalog).
    pub(crate) fn compact_via(&self, opts: &CompactOptions, commit: Committer<'_>) -> Result<MaintenanceReport> {
        let started = Instant::now();
        let mut report = MaintenanceReport::new("compact", opts.dry_run);
        self.refresh()?;
        let md = self.metadata();
        // Destructive or not, nothing runs on a copied or moved table until it is
        // relocated: its metadata names the original's files.
        self.check_not_relocated(&md)?;
        let Some(snapshot) = md.current_snapshot().cloned() else {
            report.elapsed = started.elapsed();
            return Ok(report);
        };
        let target = opts
            .target_file_size_bytes
            .or_else(|| md.properties.get(properties::TARGET_FILE_SIZE).and_then(|v| v.parse().ok()))
            .unwrap_or(DEFAULT_COMPACTION_TARGET_BYTES)
            .max(1);
        let small_limit = (target as f64 * opts.small_file_fraction.clamp(0.0, 1.0)) as i64;
        let bound = match &opts.predicate {
            Some(p) => Some(p.bind(md.current_schema()).map_err(crate::Error::Predicate)?),
            None => None,
        };
        let threshold = opts
            .delete_file_threshold
            .unwrap_or_else(|| md.property_i64(COMPACT_DELETE_FILE_THRESHOLD, 1).max(1) as usize);
        let mut groups: BTreeMap<(i32, String), Bin> = BTreeMap::new();
        for lf in live_files(self, &snapshot)? {
            let for_deletes = opts.apply_deletes && lf.deletes >= threshold;
            if lf.file.file_size_in_bytes >= small_limit && !for_deletes {
                continue;
            }
            if let Some(filter) = &opts.filter
                && !filter(&lf.file)
            {
                continue;
            }
            if let Some(p) = &bound
                && !p.might_match_file(&lf.file)
            {
                continue;
            }
            let key = (lf.spec_id, format!("{:?}", lf.file.partition));
            let g = groups.entry(key).or_insert_with(|| Bin {
                partition: lf.file.partition.clone(),
                inputs: Vec::new(),
                for_deletes: false,
            });
            g.inputs.push(lf.file);
            g.for_deletes |= for_deletes;
        }
        // Bins: consecutive (oldest first) files of one group up to the target.
        let mut bins: Vec<Bin> = Vec::new();
        for ((spec_id, _), group) in groups {
            if spec_id != md.default_spec_id {
                report.skipped.push(format!(
                    "{} file(s) of partition spec {spec_id} (not the default spec {}; rewriting them \
                     into the new spec is not implemented)",
                    group.inputs.len(),
                    md.default_spec_id
                ));
                continue;
            }
            let empty = || Bin { partition: group.partition.clone(), inputs: Vec::new(), for_deletes: false };
            let mut bin = empty();
            for f in group.inputs {
                let size = f.file_size_in_bytes.max(0) as u64;
                if !bin.inputs.is_empty() && bin.bytes() + size > target {
                    let full = std::mem::replace(&mut bin, empty());
                    bins.push(full);
                }
                bin.inputs.push(f);
            }
            bin.for_deletes = group.for_deletes;
            bins.push(bin);
        }
        // A bin with deletes to apply is worth rewriting even with one input. (Which
        // bin of a group holds the file with deletes is not tracked: the whole group's
        // bins count, a little more work, never less.)
        bins.retain(|b| b.for_deletes || b.inputs.len() >= opts.min_input_files.max(2));
        // Commit groups: consecutive bins up to max_commit_bytes of input.
        let mut commits: Vec<Vec<Bin>> = Vec::new();
        let mut current: Vec<Bin> = Vec::new();
        let mut current_bytes = 0u64;
        for bin in bins {
            if !current.is_empty() && current_bytes + bin.bytes() > opts.max_commit_bytes {
                commits.push(std::mem::take(&mut current));
                current_bytes = 0;
            }
            current_bytes += bin.bytes();
            current.push(bin);
        }
        if !current.is_empty() {
            commits.push(current);
        }
        if opts.dry_run {
            for bins in &commits {
                for b in bins {
                    report.data_files_removed += b.inputs.len();
                    report.data_files_added += 1;
                    report.bytes_removed += b.bytes();
                    report.rows_rewritten += b.inputs.iter().map(|f| f.record_count).sum::<i64>();
                }
            }
            report.elapsed = started.elapsed();
            return Ok(report);
        }
        for bins in commits {
            match self.compact_commit(&bins, target, opts.apply_deletes, commit) {
                Ok((r, added_bytes, dropped, rows_deleted)) => {
                    report.delete_files_removed += dropped;
                    report.rows_deleted += rows_deleted;
                    report.data_files_removed += r.removed_files;
                    report.data_files_added += r.added_files;
                    report.rows_rewritten += r.removed_records;
                    report.bytes_removed += bins.iter().map(Bin::bytes).sum::<u64>();
                    report.bytes_added += added_bytes;
                    report.commits.push(r);
                }
                Err(e) if e.is_concurrent_modification() => {
                    let files: usize = bins.iter().map(|b| b.inputs.len()).sum();
                    report.skipped.push(format!("a group of {files} file(s): {e}"));
                }
                // An input deleted under us (expired after a concurrent removal): the
                // commit would have conflicted anyway.
                Err(Error::Io { path, source }) if source.kind() == std::io::ErrorKind::NotFound => {
                    report.skipped.push(format!("a group whose input {} is gone", path.display()));
                }
                Err(e) => return Err(e),
            }
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Rewrites one commit group as one `replace` transaction, deletes applied; with
    /// `drop_deletes`, also drops the delete files that applied only to its inputs.
    /// Returns the commit, bytes added, delete files dropped and deleted rows left out.
    fn compact_commit(
        &self,
        bins: &[Bin],
        target: u64,
        drop_deletes: bool,
        commit: Committer<'_>,
    ) -> Result<(CommitReport, u64, usize, u64)> {
        self.refresh()?;
        let mut tx = self.new_transaction();
        tx.set_operation(Operation::Replace);
        tx.remove_files(bins.iter().flat_map(|b| b.inputs.iter().cloned()))?;
        // The deletes as of the transaction's base: a delete file committed after it
        // that applies to an input makes the commit conflict (DeletesAdded).
        let plan = self.scan().as_of_version(tx.base_version()).select(Vec::<String>::new()).plan()?;
        let index: std::collections::HashMap<&str, usize> =
            plan.files.iter().enumerate().map(|(i, f)| (f.file_path.as_str(), i)).collect();
        let inputs: std::collections::HashSet<&str> =
            bins.iter().flat_map(|b| b.inputs.iter().map(|f| f.file_path.as_str())).collect();
        let mut dropped = 0usize;
        if drop_deletes {
            // A delete file goes when every live data file it applies to is an input.
            let mut applies: std::collections::HashMap<&str, (DataFile, bool)> = std::collections::HashMap::new();
            for (i, f) in plan.files.iter().enumerate() {
                for d in plan.file_deletes(i) {
                    let e = applies.entry(d.file.file_path.as_str()).or_insert_with(|| (d.file.clone(), true));
                    e.1 &= inputs.contains(f.file_path.as_str());
                }
            }
            let drop: Vec<DataFile> = applies.into_values().filter(|(_, all)| *all).map(|(f, _)| f).collect();
            dropped = drop.len();
            tx.remove_delete_files(drop)?;
        }
        let mut rows_deleted = 0u64;
        let md = self.metadata();
        let schema = md.current_schema().clone();
        let name_mapping = md.properties.get(properties::NAME_MAPPING).and_then(|j| NameMapping::parse(j).ok());
        let mut write_opts = self.inner.options.write.clone();
        write_opts.target_file_size_bytes = target;
        // The transaction fsyncs staged files itself at commit (large ones are synced
        // as they are written, so that fsync has little left).
        write_opts.durable = false;
        write_opts.sync_early = self.inner.options.durability.is_durable();
        let prefix = uuid::Uuid::new_v4().simple().to_string();
        let dir = self.location().data_dir();
        let mut added_bytes = 0u64;
        for (i, bin) in bins.iter().enumerate() {
            // Through the table's storage: confinement and fault injection apply.
            let mut writer = DataFileWriter::with_storage(
                self.inner.storage.clone(),
                Some(dir.clone()),
                &format!("{prefix}-c{i}"),
                &schema,
                write_opts.clone(),
            );
            if datashard_writes_here(&md) {
                writer = writer.without_uuid_annotation();
            }
            let mut written = || -> Result<()> {
                for f in &bin.inputs {
                    let with_deletes = index.get(f.file_path.as_str()).filter(|i| !plan.file_deletes(**i).is_empty());
                    if let Some(&i) = with_deletes {
                        let mut kept = 0u64;
                        for (batch, _) in plan.read_live_rows(i, &schema)? {
                            kept += batch.num_rows() as u64;
                            writer.write(&batch)?;
                        }
                        rows_deleted += u64::try_from(f.record_count).unwrap_or(0).saturating_sub(kept);
                        continue;
                    }
                    let data = self.location().resolve(&f.file_path)?;
                    let size = u64::try_from(f.file_size_in_bytes).ok().filter(|s| *s > 0);
                    let reader = open_data(&data, size, &schema, name_mapping.as_ref(), &ReadOptions::default())?;
                    for batch in reader {
                        writer.write(&batch?)?;
                    }
                }
                Ok(())
            };
            if let Err(e) = written() {
                for p in writer.abort() {
                    let _ = self.storage().delete(&p);
                }
                return Err(e);
            }
            let paths = writer.created_keys().to_vec();
            let created_dir = writer.created_dir();
            match writer.finish() {
                Ok(mut files) => {
                    for f in &mut files {
                        f.partition = bin.partition.clone();
                        added_bytes += f.file_size_in_bytes.max(0) as u64;
                    }
                    tx.stage_data_files(files, paths, created_dir);
                }
                Err(e) => {
                    for p in paths {
                        let _ = self.storage().delete(&p);
                    }
                    return Err(e);
                }
            }
        }
        Ok((commit(tx)?, added_bytes, dropped, rows_deleted))
    }

    /// Folds the current snapshot's small data manifests into one, as a `replace`
    /// snapshot that changes no rows (commits also do this on their own at
    /// `commit.manifest.min-count-to-merge`). Rebases over concurrent commits.
    pub fn merge_manifests(&self, opts: &MergeManifestsOptions) -> Result<MaintenanceReport> {
        self.merge_manifests_via(opts, &Transaction::commit)
    }

    /// [`Table::merge_manifests`] committing through `commit`.
    pub(crate) fn merge_manifests_via(
        &self,
        opts: &MergeManifestsOptions,
        commit: Committer<'_>,
    ) -> Result<MaintenanceReport> {
        let started = Instant::now();
        let mut report = MaintenanceReport::new("merge-manifests", opts.dry_run);
        self.refresh()?;
        let md = self.metadata();
        // Destructive or not, nothing runs on a copied or moved table until it is
        // relocated: its metadata names the original's files.
        self.check_not_relocated(&md)?;
        let Some(snapshot) = md.current_snapshot().cloned() else {
            report.elapsed = started.elapsed();
            return Ok(report);
        };
        let manifests = load_manifest_list(self.location(), &snapshot)?;
        let target = md.property_i64(properties::MANIFEST_TARGET_SIZE, 8 * 1024 * 1024);
        let small = manifests
            .iter()
            .filter(|m| {
                m.content == ManifestContent::Data
                    && m.partition_spec_id == md.default_spec_id
                    && m.manifest_length < target
            })
            .count();
        report.manifests_before = manifests.len();
        let min_count = opts.min_count.max(2);
        if small < min_count {
            report.manifests_after = manifests.len();
            report.elapsed = started.elapsed();
            return Ok(report);
        }
        if opts.dry_run {
            report.manifests_after = manifests.len() - small + 1;
            report.elapsed = started.elapsed();
            return Ok(report);
        }
        let mut tx = self.new_transaction();
        tx.set_operation(Operation::Replace);
        tx.force_manifest_merge(min_count);
        let r = commit(tx)?;
        report.commits.push(r);
        if let Some(s) = self.current_snapshot() {
            report.manifests_after = self.manifests(&s)?.len();
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Removes old snapshots from metadata, then deletes the files only they
    /// referenced. See the module docs for what is kept.
    pub fn expire_snapshots(&self, opts: &ExpireOptions) -> Result<MaintenanceReport> {
        self.expire_snapshots_via(opts, &Transaction::commit)
    }

    /// [`Table::expire_snapshots`] committing through `commit`.
    pub(crate) fn expire_snapshots_via(
        &self,
        opts: &ExpireOptions,
        commit: Committer<'_>,
    ) -> Result<MaintenanceReport> {
        let started = Instant::now();
        let mut report = MaintenanceReport::new("expire-snapshots", opts.dry_run);
        self.refresh()?;
        let md = self.metadata();
        // Destructive or not, nothing runs on a copied or moved table until it is
        // relocated: its metadata names the original's files.
        self.check_not_relocated(&md)?;
        let age_ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let older_than = match (opts.older_than, opts.before) {
            (None, None) => now_ms() - md.property_i64(properties::MAX_SNAPSHOT_AGE_MS, DEFAULT_MAX_SNAPSHOT_AGE_MS),
            (age, before) => {
                let by_age = age.map_or(i64::MAX, |d| now_ms().saturating_sub(age_ms(d)));
                by_age.min(before.map_or(i64::MAX, time_to_ms))
            }
        };
        let retain_last = opts
            .retain_last
            .unwrap_or_else(|| {
                md.property_i64(properties::MIN_SNAPSHOTS_TO_KEEP, DEFAULT_MIN_SNAPSHOTS_TO_KEEP).max(1) as usize
            })
            .max(1);

        let (expired, retained_md): (Vec<Arc<Snapshot>>, Arc<TableMetadata>) = if opts.dry_run {
            let expired = select_expired(&md, older_than, retain_last);
            let ids: HashSet<i64> = expired.iter().map(|s| s.snapshot_id).collect();
            let mut after = (*md).clone();
            after.snapshots.retain(|s| !ids.contains(&s.snapshot_id));
            (expired, Arc::new(after))
        } else {
            let removed: Arc<Mutex<Vec<Arc<Snapshot>>>> = Arc::default();
            let sink = removed.clone();
            let mut tx = self.new_transaction();
            tx.update_metadata(move |md| {
                // Chosen again on the newest metadata on every attempt.
                let expired = select_expired(md, older_than, retain_last);
                let ids: HashSet<i64> = expired.iter().map(|s| s.snapshot_id).collect();
                md.snapshots.retain(|s| !ids.contains(&s.snapshot_id));
                md.snapshot_log.retain(|e| !ids.contains(&e.snapshot_id));
                *crate::sync::lock(&sink) = expired;
                Ok(())
            });
            // Nothing to expire: no commit, but the collection below still runs, so a
            // run that stopped after its commit (an unreadable file) is finished by the
            // next one.
            if !select_expired(&md, older_than, retain_last).is_empty() {
                let r = commit(tx)?;
                report.commits.push(r);
            }
            // Deletion only after the commit landed, against the newest metadata
            // (which includes anything committed since).
            self.refresh()?;
            let expired = std::mem::take(&mut *crate::sync::lock(&removed));
            (expired, self.metadata())
        };
        report.snapshots_expired = expired.len();

        // Snapshots commits already dropped from metadata
        // (`floe.commit.retain-snapshots`) are still named by the metadata files in
        // the metadata log: their files are collected here too, under the same age
        // rule. Older ones are left to orphan cleanup.
        let mut candidates: Vec<Arc<Snapshot>> = expired;
        let live_ids: HashSet<i64> = retained_md.snapshots.iter().map(|s| s.snapshot_id).collect();
        let mut seen: HashSet<i64> = candidates.iter().map(|s| s.snapshot_id).collect();
        for entry in &retained_md.metadata_log {
            let file = self.location().resolve(&entry.metadata_file)?;
            let Some(old) = self.read_logged_metadata(&file)? else { continue };
            // Its files are read under our root even if it names an older location.
            self.location().observe(&old.location);
            for s in old.snapshots {
                if !live_ids.contains(&s.snapshot_id) && s.timestamp_ms < older_than && seen.insert(s.snapshot_id) {
                    candidates.push(s);
                }
            }
        }
        let reachable = Reachable::of_snapshots(self, &retained_md.snapshots, false, &HashSet::new())?;
        let mut to_delete: Vec<(FileRef, u64, Kind)> = Vec::new();
        // Files are compared by their key under the table root, never by the URI
        // spelling (an older version may name an older location of this table).
        let mut queued: HashSet<String> = HashSet::new();
        for s in &candidates {
            let list_file = self.location().resolve(&s.manifest_list)?;
            let id = list_file.id();
            if !reachable.manifest_lists.contains(&id) && queued.insert(id) {
                to_delete.push((list_file, 0, Kind::Metadata));
            }
            let list = match load_manifest_list(self.location(), s) {
                Ok(l) => l,
                // Already deleted (an earlier expiry, or a datashard GC).
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for m in list {
                let manifest = self.location().resolve(&m.manifest_path)?;
                let id = manifest.id();
                if reachable.manifests.contains(&id) || !queued.insert(id) {
                    continue;
                }
                let bytes = match manifest.store.read(&manifest.key) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(Error::io(manifest.path(), e)),
                };
                let entries = read_manifest(&manifest.path(), &bytes, Some(&m))?.entries;
                to_delete.push((manifest, m.manifest_length.max(0) as u64, Kind::Metadata));
                for e in entries {
                    let f = e.data_file;
                    let file = self.location().resolve(&f.file_path)?;
                    let key = file.id();
                    if !reachable.data_files.contains(&key) && queued.insert(key) {
                        to_delete.push((file, f.file_size_in_bytes.max(0) as u64, Kind::Data));
                    }
                }
            }
        }
        self.delete_files(to_delete, &mut report);
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Deletes files under the table root that nothing references and that are
    /// older than the grace period. See the module docs for what is never deleted.
    pub fn remove_orphans(&self, opts: &OrphanOptions) -> Result<MaintenanceReport> {
        self.remove_orphans_keeping(opts, &HashSet::new())
    }

    /// [`Table::remove_orphans`] that also keeps `also_keep` (a warehouse keeps the
    /// staged metadata files its catalog names).
    pub(crate) fn remove_orphans_keeping(
        &self,
        opts: &OrphanOptions,
        also_keep: &HashSet<Key>,
    ) -> Result<MaintenanceReport> {
        let started = Instant::now();
        let mut report = MaintenanceReport::new("remove-orphans", opts.dry_run);
        if self.inner.read_only {
            return Err(Error::Unsupported {
                what: "orphan cleanup of a table opened from a catalog-style metadata file".into(),
            });
        }
        self.refresh()?;
        let md = self.metadata();
        // Destructive or not, nothing runs on a copied or moved table until it is
        // relocated: its metadata names the original's files.
        self.check_not_relocated(&md)?;
        let max_tx_age_ms =
            md.property_i64(properties::TRANSACTION_MAX_AGE_MS, properties::DEFAULT_TRANSACTION_MAX_AGE_MS).max(0);
        let min_grace = Duration::from_millis(max_tx_age_ms as u64) + Duration::from_secs(3600);
        if opts.older_than < min_grace && !opts.allow_short_grace {
            return Err(Error::InvalidArgument(format!(
                "a grace period of {:?} is shorter than the table's transaction max age ({} ms) plus 1 h: \
                 an in-flight transaction's files could be deleted",
                opts.older_than, max_tx_age_ms
            )));
        }
        let cutoff = SystemTime::now().checked_sub(opts.older_than).unwrap_or(SystemTime::UNIX_EPOCH);
        let version = self.version();

        // Everything the newest metadata and the metadata files in its log reference.
        let mut all_snapshots: Vec<Arc<Snapshot>> = md.snapshots.clone();
        let mut keep: HashSet<String> = HashSet::new();
        keep.insert(self.state().metadata_key.to_string());
        let mut snapshot_ids: HashSet<i64> = all_snapshots.iter().map(|s| s.snapshot_id).collect();
        // Snapshots only older metadata files name: their files may be gone already
        // (expired); those of the newest metadata's snapshots must be there.
        let mut logged_only: HashSet<i64> = HashSet::new();
        for entry in &md.metadata_log {
            let file = self.location().resolve(&entry.metadata_file)?;
            keep.insert(file.id());
            let Some(old) = self.read_logged_metadata(&file)? else { continue };
            // Its files are read under our root even if it names an older location.
            self.location().observe(&old.location);
            for s in old.snapshots {
                if snapshot_ids.insert(s.snapshot_id) {
                    logged_only.insert(s.snapshot_id);
                    all_snapshots.push(s);
                }
            }
        }
        let reachable = Reachable::of_snapshots(self, &all_snapshots, true, &logged_only)?;
        let max_prev = md.property_i64(properties::PREVIOUS_VERSIONS_MAX, 100).max(1) as u64;
        let protected = self.inflight_protection(cutoff)?;

        let metadata_dir = self.location().metadata_dir();
        let hint = self.location().hint_file();
        // What is never a candidate: the lock files, the hint, this handle's own side
        // file for the hint, and every file something references or protects. Asked
        // before a local listing `lstat`s a file, so a large table's referenced data
        // files are not described at all.
        let own: HashSet<Key> = self.storage().kept_by_handle().into_iter().collect();
        let candidate = |key: &Key| {
            if key.segments().next() == Some(".locks") || *key == hint || own.contains(key) {
                return false;
            }
            let id = key.to_string();
            !(reachable.contains(&id) || keep.contains(&id) || protected.contains(key) || also_keep.contains(key))
        };
        // Every object under the root, never following a symlink (reported instead).
        let listing = self.storage().list_where(None, &candidate).map_err(|e| Error::io(self.location().root(), e))?;
        for skipped in &listing.skipped {
            let shown = self.location().root().join(&skipped.name);
            report.skipped.push(match skipped.reason {
                SkipReason::Link => format!("{} is a symlink; not followed", shown.display()),
                _ => format!("{}: its name is not valid UTF-8; not examined", shown.display()),
            });
        }
        let mut to_delete: Vec<(FileRef, u64, Kind)> = Vec::new();
        for object in listing.objects {
            let key = object.key;
            let name = key.name().to_string();
            let in_metadata_dir = key.parent().as_ref() == Some(&metadata_dir);
            if in_metadata_dir && let Some(n) = crate::io::location::parse_version_file(&name) {
                // Version files: those within previous-versions-max of the newest are
                // kept whatever their age (plus anything newer than what we read);
                // older superseded ones go whatever their age.
                if n + max_prev > version {
                    continue;
                }
                to_delete.push((self.location().file(key), object.size, Kind::Metadata));
                continue;
            }
            let young = object.modified.map(|m| m > cutoff).unwrap_or(true);
            if young {
                continue;
            }
            let kind = if name.ends_with(".parquet") || name.ends_with(".orc") {
                Kind::Data
            } else if name.ends_with(".avro") || name.ends_with(".metadata.json") {
                Kind::Metadata
            } else {
                Kind::Other
            };
            to_delete.push((self.location().file(key), object.size, kind));
        }
        self.delete_files(to_delete, &mut report);
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// An older metadata file named in the metadata log, or `None` when it no longer
    /// exists (a commit's cleanup or the user removed it). Any other failure (an I/O
    /// error, a file that does not decode) is an error: what that version references
    /// cannot be known, so nothing may be deleted as unreferenced.
    fn read_logged_metadata(&self, file: &FileRef) -> Result<Option<TableMetadata>> {
        match file.store.read(&file.key) {
            Ok(bytes) => TableMetadata::from_json_bytes(&file.path(), &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(file.path(), e)),
        }
    }

    /// Whether the newest metadata (re-read now) still retains `snapshot_id`: a file of
    /// a snapshot a concurrent expiry removed may be gone; one of a retained snapshot
    /// must not be.
    fn still_retained(&self, snapshot_id: i64) -> Result<bool> {
        self.refresh()?;
        Ok(self.metadata().snapshot(snapshot_id).is_some())
    }

    /// Paths named by datashard in-flight markers modified after `cutoff`, and the
    /// markers themselves. Older markers are abandoned (datashard's own timeout is
    /// 1 day) and are orphans like any other file.
    fn inflight_protection(&self, cutoff: SystemTime) -> Result<HashSet<Key>> {
        let location = self.location();
        let dir = Key::known(INFLIGHT_MARKER_DIR);
        let mut out = HashSet::new();
        // A listing reports regular files only (a symlinked marker protects nothing).
        let listing = self.storage().list(Some(&dir)).map_err(|e| Error::io(location.path(&dir), e))?;
        for marker in listing.objects {
            if marker.key.parent().as_ref() != Some(&dir) {
                continue;
            }
            let Some(stem) = marker.key.name().strip_suffix(".inflight").map(str::to_string) else { continue };
            if marker.modified.map(|m| m <= cutoff).unwrap_or(false) {
                continue;
            }
            // A marker that vanished since the listing was resolved by its writer; one
            // that cannot be read may protect anything: stop.
            let payload = match self.storage().read(&marker.key) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io(location.path(&marker.key), e)),
            };
            out.insert(marker.key.clone());
            // The payload names the file, relative to the table root (or with the
            // root's leading slash stripped); old markers (not JSON) name `data/<stem>`.
            let target = serde_json::from_slice::<serde_json::Value>(&payload)
                .ok()
                .and_then(|v| v.get("file_path").and_then(|p| p.as_str()).map(str::to_string));
            match target {
                Some(t) => {
                    let t = t.strip_prefix("file://").unwrap_or(&t);
                    let trimmed = t.trim_start_matches('/');
                    // As an absolute path under the root, and as a path relative to it.
                    if let Ok(k) = location.confined_key(&format!("file:///{trimmed}")) {
                        out.insert(k);
                    }
                    if let Ok(k) = Key::new(trimmed) {
                        out.insert(k);
                    }
                }
                None => {
                    if let Ok(k) = Key::new(format!("data/{stem}")) {
                        out.insert(k);
                    }
                }
            }
        }
        Ok(out)
    }

    /// Deletes the chosen files (the choice, with its grace and "unreadable is not
    /// unreferenced" rules, is the caller's). The table's own files go in one
    /// [`Storage::delete_many`](crate::io::storage::Storage::delete_many): on an object
    /// store, batched deletes (S3 `DeleteObjects`, up to 1000 keys a request) with no
    /// `HEAD` first; on a local disk, one `unlink` each. A size the caller does not know
    /// (a manifest list) is looked up only where that is cheap (a local disk); on an
    /// object store it is left out of `bytes_removed` rather than cost a request.
    fn delete_files(&self, files: Vec<(FileRef, u64, Kind)>, report: &mut MaintenanceReport) {
        let table_store = self.storage();
        let cheap_head = table_store.capabilities().directories;
        let mut own: Vec<(FileRef, u64, Kind)> = Vec::new();
        let mut others: Vec<(FileRef, u64, Kind)> = Vec::new();
        for (file, size, kind) in files {
            if file.external {
                report.skipped.push(format!("{} is outside the table; not deleted", file.path().display()));
                continue;
            }
            let size =
                if size > 0 || !cheap_head { size } else { file.store.head(&file.key).map(|m| m.size).unwrap_or(0) };
            if file.store.root_url() == table_store.root_url() {
                own.push((file, size, kind));
            } else {
                others.push((file, size, kind));
            }
        }
        let outcomes: Vec<std::io::Result<()>> = if report.dry_run {
            own.iter().chain(&others).map(|_| Ok(())).collect()
        } else {
            let keys: Vec<Key> = own.iter().map(|(f, _, _)| f.key.clone()).collect();
            let mut out = table_store.delete_many(&keys, self.inner.options.write.io_threads);
            out.extend(others.iter().map(|(f, _, _)| f.store.delete(&f.key)));
            out
        };
        for ((file, size, kind), outcome) in own.into_iter().chain(others).zip(outcomes) {
            let path = file.path();
            match outcome {
                Ok(()) => {}
                // Already gone (a concurrent cleanup): not counted.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    report.skipped.push(format!("could not delete {}: {e}", path.display()));
                    continue;
                }
            }
            match kind {
                Kind::Data => report.data_files_removed += 1,
                Kind::Metadata => report.metadata_files_removed += 1,
                Kind::Other => report.other_files_removed += 1,
            }
            report.bytes_removed += size;
            report.deleted_paths.push(path);
        }
    }

    /// Makes `snapshot_id`, an ancestor of the current snapshot, current again (a new
    /// version; later snapshots stay in metadata until expired).
    pub fn rollback_to(&self, snapshot_id: i64) -> Result<MaintenanceReport> {
        self.set_current_via(snapshot_id, true, &Transaction::commit)
    }

    /// Makes any retained snapshot current (a new version).
    pub fn set_current(&self, snapshot_id: i64) -> Result<MaintenanceReport> {
        self.set_current_via(snapshot_id, false, &Transaction::commit)
    }

    /// [`Table::rollback_to`] (`ancestor_only`) or [`Table::set_current`], committing
    /// through `commit`.
    pub(crate) fn set_current_via(
        &self,
        snapshot_id: i64,
        ancestor_only: bool,
        commit: Committer<'_>,
    ) -> Result<MaintenanceReport> {
        let op = if ancestor_only { "rollback" } else { "set-current" };
        let started = Instant::now();
        let mut report = MaintenanceReport::new(op, false);
        self.refresh()?;
        self.check_not_relocated(&self.metadata())?;
        let mut tx = self.new_transaction();
        tx.update_metadata(move |md| {
            if md.snapshot(snapshot_id).is_none() {
                return Err(Error::NotFound { what: format!("snapshot {snapshot_id} (expired or never existed)") });
            }
            if ancestor_only && !is_ancestor(md, snapshot_id) {
                return Err(Error::InvalidArgument(format!(
                    "snapshot {snapshot_id} is not an ancestor of the current snapshot (use set_current)"
                )));
            }
            let now = now_ms().max(md.last_updated_ms + 1);
            md.current_snapshot_id = Some(snapshot_id);
            md.refs
                .insert("main".into(), SnapshotRef { snapshot_id, ref_type: "branch".into(), extra: BTreeMap::new() });
            md.snapshot_log.push(SnapshotLogEntry { timestamp_ms: now, snapshot_id });
            Ok(())
        });
        let r = commit(tx)?;
        report.commits.push(r);
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Names `snapshot_id` with a tag (an Iceberg `refs` entry of type `tag`). Tagged
    /// snapshots are never expired. Fails if the name is taken.
    pub fn create_tag(&self, name: &str, snapshot_id: i64) -> Result<MaintenanceReport> {
        self.create_tag_via(name, snapshot_id, &Transaction::commit)
    }

    /// [`Table::create_tag`] committing through `commit`.
    pub(crate) fn create_tag_via(
        &self,
        name: &str,
        snapshot_id: i64,
        commit: Committer<'_>,
    ) -> Result<MaintenanceReport> {
        let started = Instant::now();
        if name.is_empty() || name == "main" {
            return Err(Error::InvalidArgument(format!("{name:?} cannot be a tag name")));
        }
        let mut report = MaintenanceReport::new("create-tag", false);
        self.refresh()?;
        self.check_not_relocated(&self.metadata())?;
        let tag = name.to_string();
        let mut tx = self.new_transaction();
        tx.update_metadata(move |md| {
            if md.snapshot(snapshot_id).is_none() {
                return Err(Error::NotFound { what: format!("snapshot {snapshot_id} (expired or never existed)") });
            }
            if md.refs.contains_key(&tag) {
                return Err(Error::InvalidArgument(format!("ref {tag:?} already exists")));
            }
            md.refs.insert(tag.clone(), SnapshotRef { snapshot_id, ref_type: "tag".into(), extra: BTreeMap::new() });
            Ok(())
        });
        report.commits.push(commit(tx)?);
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Removes a tag (its snapshot becomes expirable).
    pub fn remove_tag(&self, name: &str) -> Result<MaintenanceReport> {
        self.remove_tag_via(name, &Transaction::commit)
    }

    /// [`Table::remove_tag`] committing through `commit`.
    pub(crate) fn remove_tag_via(&self, name: &str, commit: Committer<'_>) -> Result<MaintenanceReport> {
        let started = Instant::now();
        let mut report = MaintenanceReport::new("remove-tag", false);
        self.refresh()?;
        self.check_not_relocated(&self.metadata())?;
        let tag = name.to_string();
        let mut tx = self.new_transaction();
        tx.update_metadata(move |md| match md.refs.get(&tag) {
            Some(r) if r.ref_type == "tag" => {
                md.refs.remove(&tag);
                Ok(())
            }
            Some(_) => Err(Error::InvalidArgument(format!("ref {tag:?} is a branch, not a tag"))),
            None => Err(Error::NotFound { what: format!("tag {tag:?}") }),
        });
        report.commits.push(commit(tx)?);
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Tags: name → snapshot id.
    pub fn tags(&self) -> BTreeMap<String, i64> {
        self.metadata()
            .refs
            .iter()
            .filter(|(_, r)| r.ref_type == "tag")
            .map(|(n, r)| (n.clone(), r.snapshot_id))
            .collect()
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Data,
    Metadata,
    Other,
}

/// Whether `id` is the current snapshot or one of its ancestors.
fn is_ancestor(md: &TableMetadata, id: i64) -> bool {
    let mut cursor = md.current_snapshot();
    let mut seen = HashSet::new();
    while let Some(s) = cursor {
        if s.snapshot_id == id {
            return true;
        }
        if !seen.insert(s.snapshot_id) {
            return false;
        }
        cursor = s.parent_snapshot_id.and_then(|p| md.snapshot(p));
    }
    false
}

/// The snapshots to expire: older than `older_than`, not current, not named by a
/// ref, not among the newest `retain_last`.
fn select_expired(md: &TableMetadata, older_than: i64, retain_last: usize) -> Vec<Arc<Snapshot>> {
    let mut keep: HashSet<i64> = md.refs.values().map(|r| r.snapshot_id).collect();
    keep.extend(md.current_snapshot_id);
    let mut by_age: Vec<&Arc<Snapshot>> = md.snapshots.iter().collect();
    by_age.sort_by_key(|s| std::cmp::Reverse((s.sequence_number, s.timestamp_ms)));
    keep.extend(by_age.iter().take(retain_last).map(|s| s.snapshot_id));
    md.snapshots.iter().filter(|s| !keep.contains(&s.snapshot_id) && s.timestamp_ms < older_than).cloned().collect()
}

/// Files referenced by a set of snapshots, by [`FileRef::id`]: their key under the table
/// root (resolved with [`crate::io::location::TableLocation::resolve`], so a URI naming
/// an older location of this table, or spelling the root differently, is the same
/// file), or the URL of a file outside it.
#[derive(Debug, Default)]
struct Reachable {
    manifest_lists: HashSet<String>,
    manifests: HashSet<String>,
    /// Data files live (`ADDED`/`EXISTING`) in some snapshot; with `any_status`,
    /// also those only listed as `DELETED`.
    data_files: HashSet<String>,
}

impl Reachable {
    /// Everything `snapshots` reference (see [`Reachable`]; metadata may name an older
    /// location of the same table). Any read or decode failure is an error (what an
    /// unreadable file references is unknown, so nothing may be called unreferenced),
    /// with one exception: a file that does not exist is skipped when every snapshot
    /// naming it is in `may_be_gone` (snapshots only older metadata files name, whose
    /// files expiry may have deleted) or is no longer retained by the newest metadata (a
    /// concurrent expiry). A missing file of a retained snapshot is an error.
    fn of_snapshots(
        table: &Table,
        snapshots: &[Arc<Snapshot>],
        any_status: bool,
        may_be_gone: &HashSet<i64>,
    ) -> Result<Reachable> {
        let location = table.location();
        let mut r = Reachable::default();
        // Each manifest with the snapshots whose files must exist that name it.
        let mut manifests: HashMap<String, (FileRef, ManifestFile, Vec<i64>)> = HashMap::new();
        let gone_is_fine = |ids: &[i64]| -> Result<bool> {
            for &id in ids {
                if table.still_retained(id)? {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        for s in snapshots {
            let list_file = location.resolve(&s.manifest_list)?;
            if !r.manifest_lists.insert(list_file.id()) {
                continue;
            }
            let required: Vec<i64> =
                if may_be_gone.contains(&s.snapshot_id) { Vec::new() } else { vec![s.snapshot_id] };
            let list = match load_manifest_list(location, s) {
                Ok(l) => l,
                Err(Error::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound && gone_is_fine(&required)? =>
                {
                    continue;
                }
                Err(e) => return Err(e),
            };
            for m in list {
                let file = location.resolve(&m.manifest_path)?;
                let slot = manifests.entry(file.id()).or_insert_with(|| (file, m, Vec::new()));
                slot.2.extend(&required);
            }
        }
        for (id, (file, m, required)) in manifests {
            r.manifests.insert(id);
            let bytes = match file.store.read(&file.key) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && gone_is_fine(&required)? => continue,
                Err(e) => return Err(Error::io(file.path(), e)),
            };
            for e in read_manifest(&file.path(), &bytes, Some(&m))?.entries {
                if any_status || e.status != EntryStatus::Deleted {
                    r.data_files.insert(location.resolve(&e.data_file.file_path)?.id());
                }
            }
        }
        Ok(r)
    }

    /// Whether the file with this id is referenced.
    fn contains(&self, id: &str) -> bool {
        self.manifest_lists.contains(id) || self.manifests.contains(id) || self.data_files.contains(id)
    }
}
