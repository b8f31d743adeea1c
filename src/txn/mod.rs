//! Transactions: staged changes, the commit loop, conflict rules and retry policy.
//!
//! A [`Transaction`] is pinned to the version it started from (its base). Staging
//! writes data files and, at commit, one manifest for them; neither is visible until
//! the commit point. The commit point is the exclusive creation of
//! `v<L+1>.metadata.json` for the newest version `L`. On a lost race the staged data
//! files and manifest are reused and only the manifest list and metadata are rebuilt
//! on the new base, if the conflict rules (docs/conflicts.md) say the transaction still
//! holds; otherwise the caller gets [`Error::ConcurrentModification`] and every file
//! the transaction wrote is deleted (or left as an unreferenced orphan if deletion
//! fails). Promises:
//!
//! * `commit` returns `Ok` only if the version it reports holds this transaction's
//!   snapshot (or metadata change), exactly once; an I/O error after the commit point
//!   may have been reached is resolved by re-reading the version and comparing it with
//!   the exact bytes this attempt tried to publish (every kind of commit, metadata-only
//!   ones too).
//! * Right after the link, every file the commit adds is checked to exist (one
//!   `exists` each); if orphan cleanup removed one while the writer was paused before
//!   its link, a follow-up commit reverts the snapshot and the caller gets
//!   [`Error::CommitFilesMissing`], never `Ok`.
//! * A durable commit whose `metadata/` fsync after the commit point fails is
//!   [`Error::CommittedNotDurable`] (committed, visible, durability unknown), never a
//!   plain `Ok` and never "not committed".
//! * Correctness never depends on the advisory lock; the lock only queues committers
//!   so contention costs waiting instead of wasted writes.
//! * No commit (metadata-only ones included) lands on metadata that records another
//!   directory than the one the table was opened at (a copied or moved table):
//!   [`Error::TableRelocated`] before anything is staged, and again on the newest
//!   version of every attempt. Only the relocation commit ([`crate::ops::relocate`]) may.

mod cleanup;
pub(crate) mod conflict;
mod deletes;
pub(crate) mod evolution;
pub(crate) mod rowops;

use rowops::RowChanges;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;

use crate::data::partition::{StagedWriter, dirs_to_sync, partition_summaries};
use crate::data::write::PendingUpload;
use crate::data::write::conform_batch;
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::io::location::TableLocation;
use crate::io::storage::{Key, LockGuard, Staged};
use crate::spec::manifest::{
    DataContent, DataFile, EntryStatus, ManifestContent, ManifestEntry, ManifestFile, ManifestWriteContext,
    read_manifest, write_manifest, write_manifest_list,
};
use crate::spec::metadata::{
    ATTEMPT_KEY, COMMIT_ID_KEY, MetadataLogEntry, REBASED_OVER_KEY, Snapshot, SnapshotLogEntry, SnapshotRef,
    TableMetadata,
};
use crate::spec::types::Schema;
use crate::table::Premerged;
use crate::table::stats::Outcome;
use crate::table::{
    RetryPolicy, Table, TableState, check_writable, find_latest_version, is_object_store, list_versions,
    load_manifest_list, load_version, now_ms, probe_past, properties, read_files_at, state_from_bytes,
};
use crate::txn::conflict::{ConflictContext, Validator, append_conflicts, rewrite_conflicts};
use crate::txn::evolution::{SchemaMode, merged_schema, register_merge};

impl Table {
    /// Starts a transaction pinned to the current snapshot of this handle.
    /// Call [`Table::refresh`] first to start from the newest version.
    pub fn new_transaction(&self) -> Transaction {
        Transaction::new(self.clone(), self.state())
    }

    /// Appends batches in one transaction (rebased onto the newest version at commit).
    pub fn append(&self, batches: &[RecordBatch]) -> Result<CommitReport> {
        let mut tx = self.new_transaction();
        for b in batches {
            tx.append(b)?;
        }
        tx.commit()
    }
}

/// What a successful commit did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommitReport {
    /// The version created (`v<N>.metadata.json`).
    pub version: u64,
    /// The new snapshot.
    pub snapshot_id: i64,
    /// Its sequence number.
    pub sequence_number: i64,
    /// The transaction's commit id, stored in the snapshot summary (`floe.commit-id`)
    /// of a commit that makes a snapshot (a metadata-only commit records none).
    pub commit_id: String,
    /// Version-file creation attempts (1 = no race lost).
    pub attempts: u32,
    /// Races lost before succeeding (each was rebased).
    pub conflicts: u32,
    /// Versions other writers committed between this transaction's base and its
    /// commit, which it was rebased over (with the advisory lock, a rebase usually
    /// happens without losing a race: the newer version is seen before trying).
    pub rebased_over: u64,
    /// Data files added.
    pub added_files: usize,
    /// Rows added.
    pub added_records: i64,
    /// Data files removed.
    pub removed_files: usize,
    /// Rows in the removed data files.
    pub removed_records: i64,
    /// What the transaction's row-level operation changed (delete, overwrite, upsert,
    /// insert-if-absent: rows removed, copied and added, keys skipped); `None` for
    /// appends and metadata changes.
    pub rows: Option<RowChanges>,
    /// Time from `commit()` to the version being durable.
    pub elapsed: Duration,
}

/// What a snapshot did, as its summary's `operation` records it (Iceberg's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Only added data files.
    Append,
    /// Replaced files without changing the table's rows (compaction).
    Replace,
    /// Added and removed files (a logical overwrite of some rows).
    Overwrite,
    /// Only removed files (or rewrote them without some rows).
    Delete,
}

impl Operation {
    /// The summary value: `append`, `replace`, `overwrite` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Append => "append",
            Operation::Replace => "replace",
            Operation::Overwrite => "overwrite",
            Operation::Delete => "delete",
        }
    }
}

/// A change to the table metadata, applied to the newest metadata on every attempt
/// (so it is re-applied, not replayed, when the transaction is rebased).
pub type MetadataUpdate = dyn FnMut(&mut TableMetadata) -> Result<()> + Send;

/// A set of staged changes pinned to a base version.
pub struct Transaction {
    table: Table,
    base: TableState,
    commit_id: uuid::Uuid,
    snapshot_id: i64,
    retry: RetryPolicy,
    writer: Option<StagedWriter>,
    data_files: Vec<DataFile>,
    /// Data files and our manifest: live once committed, deleted if not.
    created: Vec<Key>,
    /// Manifest lists and merged manifests of attempts that lost a race: never live.
    attempt_garbage: Vec<Key>,
    /// Our manifest and the sequence number it was written for.
    our_manifest: Option<(i64, ManifestFile)>,
    /// Background fsync of data files and write of our manifest (durable mode).
    prestage: Option<crate::sync::Job<Result<()>>>,
    /// Data files still uploading (an object store's one PUT of a small file, sent
    /// while the manifests are built and written): waited for with the prestage.
    uploading: Vec<PendingUpload>,
    /// A manifest merge built in the background (`merge_ahead`), taken from the
    /// handle by an attempt: used if the attempt's parent still lists what it folds.
    premerged: Option<Premerged>,
    manifests_written: u32,
    committed: bool,
    /// Live data files (of the base) this transaction removes, by path.
    removed: Vec<DataFile>,
    operation: Option<Operation>,
    validators: Vec<Arc<Validator>>,
    updates: Vec<Box<MetadataUpdate>>,
    /// What the row-level operations of this transaction changed (for the report).
    rows: Option<RowChanges>,
    /// When the transaction began: it refuses to commit past
    /// `floe.transaction.max-age-ms` (orphan cleanup's guarantee rests on it).
    created_at: Instant,
    /// Explicit manifest merging (maintenance): merge at this many small manifests.
    merge_min_count: Option<usize>,
    /// Files staged with [`Transaction::stage_data_files`] created the data directory.
    staged_created_dir: bool,
    /// How `append` treats columns the schema lacks.
    schema_mode: SchemaMode,
    /// The schema with columns merged in by [`SchemaMode::Merge`], if any.
    merged_schema: Option<Schema>,
    /// A writer finished early (schema merge) had created the data directory.
    finished_created_dir: bool,
    /// This is the relocation commit (`Table::relocate`): the one commit allowed on
    /// a table whose metadata records another directory.
    relocating: bool,
    /// The advisory lock, handed over by the transaction this one reverts (it still
    /// holds it, and a second `flock` of the same file in one process would wait).
    inherited_lock: Option<LockGuard>,
    /// Set up for [`Transaction::prepare_on`] (writer finished, data durable): the
    /// rows and bytes added.
    prepared_totals: Option<(i64, i64)>,
    /// Attempts made through [`Transaction::prepare_on`].
    prepare_attempts: u32,
    /// Delete files staged (merge-on-read), see `deletes.rs`.
    delete_files: Vec<deletes::StagedDelete>,
    /// Data files our position deletes name: they must be live at commit.
    delete_targets: Vec<String>,
    /// Writing a delete file created the data directory.
    delete_dir_created: bool,
    /// Delete file names used so far (`<commit id>-<kind>-deletes-<n>`), reserved
    /// before parallel writes so no two writes share a name.
    delete_file_names: usize,
    /// Live delete files this transaction drops (compaction applied them).
    removed_deletes: Vec<DataFile>,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("base_version", &self.base.version)
            .field("commit_id", &self.commit_id)
            .field("snapshot_id", &self.snapshot_id)
            .field("staged_files", &self.data_files.len())
            .field("removed_files", &self.removed.len())
            .field("operation", &self.operation)
            .finish()
    }
}

impl Transaction {
    pub(crate) fn new(table: Table, base: TableState) -> Transaction {
        let retry = table.inner.options.retry;
        let commit_id = uuid::Uuid::new_v4();
        Transaction {
            snapshot_id: new_snapshot_id(),
            table,
            base,
            commit_id,
            retry,
            writer: None,
            data_files: Vec::new(),
            created: Vec::new(),
            attempt_garbage: Vec::new(),
            our_manifest: None,
            prestage: None,
            uploading: Vec::new(),
            premerged: None,
            manifests_written: 0,
            committed: false,
            removed: Vec::new(),
            operation: None,
            validators: Vec::new(),
            updates: Vec::new(),
            rows: None,
            created_at: Instant::now(),
            merge_min_count: None,
            staged_created_dir: false,
            schema_mode: SchemaMode::Strict,
            merged_schema: None,
            finished_created_dir: false,
            relocating: false,
            inherited_lock: None,
            prepared_totals: None,
            prepare_attempts: 0,
            delete_files: Vec::new(),
            delete_targets: Vec::new(),
            delete_dir_created: false,
            delete_file_names: 0,
            removed_deletes: Vec::new(),
        }
    }

    /// Marks this transaction as the relocation commit: the one allowed on metadata
    /// that records another location than the directory the table was opened at.
    pub(crate) fn allow_relocated(&mut self) {
        self.relocating = true;
    }

    /// Refuses work on a table copied or moved here and not yet relocated.
    fn check_location(&self, metadata: &TableMetadata) -> Result<()> {
        if self.relocating { Ok(()) } else { self.table.check_not_relocated(metadata) }
    }

    /// Stages data files written by the caller (maintenance writes compacted files
    /// itself, one writer per partition). `paths` are every file the caller created
    /// for them: they become this transaction's to delete if it does not commit.
    pub(crate) fn stage_data_files(&mut self, files: Vec<DataFile>, paths: Vec<Key>, created_dir: bool) {
        self.created.extend(paths);
        self.data_files.extend(files);
        self.staged_created_dir |= created_dir;
    }

    /// Makes files the caller writes for this transaction's commit (relocation's
    /// manifests and manifest lists) its own: deleted unless it commits.
    pub(crate) fn adopt_files(&mut self, paths: Vec<Key>) {
        self.created.extend(paths);
    }

    /// Makes this transaction fold the parent's small data manifests into one when
    /// there are at least `min_count` (>= 2) of them, whatever the table's
    /// commit-time merge settings.
    pub(crate) fn force_manifest_merge(&mut self, min_count: usize) {
        self.merge_min_count = Some(min_count.max(2));
    }

    /// The version this transaction is based on.
    pub fn base_version(&self) -> u64 {
        self.base.version
    }

    /// The commit id that will be stored in the snapshot summary.
    pub fn commit_id(&self) -> String {
        self.commit_id.to_string()
    }

    /// Overrides the retry policy for this transaction.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The table this transaction commits to.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Whether anything is staged yet (files added or removed).
    /// Records what a row-level operation staged, for [`CommitReport::rows`].
    pub(crate) fn record_rows(&mut self, changes: &RowChanges) {
        self.rows.get_or_insert_with(RowChanges::default).add(changes);
    }

    pub(crate) fn has_file_changes(&self) -> bool {
        self.writer.is_some()
            || !self.data_files.is_empty()
            || !self.removed.is_empty()
            || !self.delete_files.is_empty()
    }

    /// Refuses staging on a read-only handle or a copied table not yet relocated.
    pub(crate) fn check_can_write(&self) -> Result<()> {
        if self.table.inner.read_only {
            return Err(read_only_error());
        }
        self.check_location(&self.base.metadata)
    }

    /// The metadata this transaction read (its base version's).
    pub(crate) fn base_metadata(&self) -> &Arc<TableMetadata> {
        &self.base.metadata
    }

    /// The snapshot this transaction read (`None` for an empty table).
    pub fn base_snapshot_id(&self) -> Option<i64> {
        self.base.metadata.current_snapshot_id
    }

    /// Stages the removal of live data files of the base snapshot (as listed by
    /// [`crate::Scan::plan`] on it), matched by path. At commit their manifest
    /// entries become `DELETED`; if a concurrent commit removed or rewrote one of
    /// them first, the commit fails with [`Error::ConcurrentModification`]. The
    /// files themselves stay on disk for time travel until snapshots are expired.
    pub fn remove_files<I: IntoIterator<Item = DataFile>>(&mut self, files: I) -> Result<()> {
        if self.table.inner.read_only {
            return Err(read_only_error());
        }
        self.check_location(&self.base.metadata)?;
        for f in files {
            self.table.location().confined_key(&f.file_path)?;
            if !self.removed.iter().any(|r| r.file_path == f.file_path) {
                self.removed.push(f);
            }
        }
        Ok(())
    }

    /// Records what the commit does (the snapshot summary's `operation`). Without
    /// it: `append` when only adding, `delete` when only removing, `overwrite` when
    /// both. Compaction sets [`Operation::Replace`].
    pub fn set_operation(&mut self, op: Operation) {
        self.operation = Some(op);
    }

    /// Adds a conflict check run whenever this transaction is about to be rebased
    /// over commits that landed after its base. Returning conflicts fails the commit
    /// with [`Error::ConcurrentModification`]; nothing is written.
    pub fn add_validator<F>(&mut self, check: F)
    where
        F: Fn(&ConflictContext<'_>) -> Result<Vec<Conflict>> + Send + Sync + 'static,
    {
        self.validators.push(Arc::new(check));
    }

    /// Adds a change to the table metadata (schema, partition spec, properties,
    /// refs, snapshots), applied to the newest metadata on every attempt before this
    /// transaction's snapshot, if any, is added. A transaction with updates and no
    /// file changes commits a new version without a new snapshot. Crate-internal (and
    /// `floe::testing::update_metadata`): the public changes are
    /// [`Transaction::set_property`], [`Table::update_schema`], [`Table::update_spec`]
    /// and maintenance.
    pub(crate) fn update_metadata<F>(&mut self, update: F)
    where
        F: FnMut(&mut TableMetadata) -> Result<()> + Send + 'static,
    {
        self.updates.push(Box::new(update));
    }

    /// Sets a table property in this transaction's commit (re-applied on the newest
    /// metadata if the transaction is rebased: the last commit to set a key wins). A
    /// transaction with no file changes commits a new version without a new snapshot.
    pub fn set_property(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let (key, value) = (key.into(), value.into());
        self.update_metadata(move |md| {
            md.properties.insert(key.clone(), value.clone());
            Ok(())
        });
    }

    /// Removes a table property in this transaction's commit (see
    /// [`Transaction::set_property`]).
    pub fn remove_property(&mut self, key: impl Into<String>) {
        let key = key.into();
        self.update_metadata(move |md| {
            md.properties.remove(&key);
            Ok(())
        });
    }

    /// Sets how [`Transaction::append`] treats batch columns the table schema lacks:
    /// [`SchemaMode::Strict`] (the default) refuses them with
    /// [`Error::SchemaMismatch`]; [`SchemaMode::Merge`] adds them as optional columns
    /// in this transaction's commit (which then conflicts with a concurrent schema
    /// change).
    pub fn set_schema_mode(&mut self, mode: SchemaMode) {
        self.schema_mode = mode;
    }

    /// The operation this transaction will record.
    pub fn operation(&self) -> Operation {
        if let Some(op) = self.operation {
            return op;
        }
        let adds = !self.data_files.is_empty() || self.writer.is_some();
        let removes = !self.removed.is_empty() || !self.delete_files.is_empty();
        match (adds, !removes) {
            (_, true) => Operation::Append,
            (false, false) => Operation::Delete,
            (true, false) => Operation::Overwrite,
        }
    }

    /// No file changes and only metadata updates: commits without a snapshot.
    fn metadata_only(&self) -> bool {
        !self.updates.is_empty()
            && self.removed.is_empty()
            && self.data_files.is_empty()
            && self.delete_files.is_empty()
            && self.operation.is_none()
    }

    /// The conflicts that stop a rebase from `base` onto `latest` (docs/conflicts.md).
    fn rebase_conflicts(&self, latest: &TableState) -> Result<Vec<Conflict>> {
        let plain_append = self.removed.is_empty()
            && self.validators.is_empty()
            && self.updates.is_empty()
            && self.delete_files.is_empty();
        if plain_append {
            return Ok(append_conflicts(&self.base, latest));
        }
        let ctx = ConflictContext::new(&self.table, &self.base, latest);
        // A replace (compaction) keeps the table's rows: it is correct on any base
        // where every file it removes is still live (checked when the manifests are
        // rewritten), so expired or rolled-back history between its base and the
        // newest version does not stop it. Every other removal needs the history.
        let needs_history = self.operation() != Operation::Replace;
        let mut out = if !self.removed.is_empty() || !self.delete_files.is_empty() {
            rewrite_conflicts(&ctx, needs_history)?
        } else if !self.data_files.is_empty() {
            append_conflicts(&self.base, latest)
        } else {
            Vec::new()
        };
        for v in &self.validators {
            out.extend(v(&ctx)?);
        }
        Ok(out)
    }

    /// Stages a batch. Checks it against the base schema (typed errors, nothing
    /// written on a bad batch) and writes it to this transaction's data file(s).
    pub fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.table.inner.read_only {
            return Err(read_only_error());
        }
        // Before anything is written: a copied or moved table must not grow files
        // that its metadata would name under the original's location.
        self.check_location(&self.base.metadata)?;
        let metadata = self.base.metadata.clone();
        if self.schema_mode == SchemaMode::Merge {
            let current = self.merged_schema.as_ref().unwrap_or(metadata.current_schema());
            if let Some(wider) = merged_schema(&metadata, current, &batch.schema())? {
                // Conform first: a bad batch changes nothing.
                conform_batch(&wider, batch)?;
                // Files written so far keep the narrower schema (they lack only the
                // new optional columns); the next ones are written with the wider one.
                if let Some(w) = self.writer.take() {
                    self.finished_created_dir |= w.created_dir();
                    self.data_files.extend(w.finish()?);
                }
                self.merged_schema = Some(wider);
            }
        }
        let schema = self.merged_schema.as_ref().unwrap_or(metadata.current_schema());
        let conformed = conform_batch(schema, batch)?;
        if conformed.num_rows() == 0 {
            return Ok(());
        }
        if self.writer.is_none() {
            let mut opts = self.table.inner.options.write.clone();
            // The commit fsyncs data files itself, in parallel with its other work; a
            // large file is synced as it is written, so that fsync has little left.
            opts.durable = false;
            opts.sync_early = self.table.inner.options.durability.is_durable();
            if let Some(target) = metadata.properties.get(properties::TARGET_FILE_SIZE).and_then(|v| v.parse().ok()) {
                opts.target_file_size_bytes = target;
            }
            let dir = self.table.location().data_dir();
            let prefix = match &self.merged_schema {
                // A writer started after a schema merge must not reuse file names.
                Some(s) => format!("{}-c{}", self.commit_id.simple(), s.fields().len()),
                None => self.commit_id.simple().to_string(),
            };
            let storage = self.table.inner.storage.clone();
            let uuid_annotation = !datashard_writes_here(&metadata);
            let spec = metadata.default_spec();
            self.writer = Some(StagedWriter::new(storage, dir, &prefix, schema, spec, opts, uuid_annotation)?);
        }
        if let Some(w) = self.writer.as_mut() {
            let res = w.write(&conformed);
            self.created = w.created_keys();
            res?;
        }
        crate::crashpoint::hit("staged");
        Ok(())
    }

    /// Commits, rebasing over concurrent commits when that is safe, under the retry
    /// policy.
    ///
    /// `Ok` means the commit is in the table at the reported version and, with
    /// [`crate::Durability::Durable`], on stable storage. Two errors do **not** mean
    /// "not committed": [`Error::CommittedNotDurable`] (it is in the table, but the
    /// fsync after the commit point failed: never retry it) and
    /// [`Error::CommitStateUnknown`] (look for the commit id before retrying). Every
    /// other error means nothing of this transaction is in the table.
    pub fn commit(mut self) -> Result<CommitReport> {
        let res = self.commit_inner();
        if res.is_ok() {
            self.committed = true;
        }
        res
    }

    /// Commits only if no other commit landed since the transaction began.
    pub fn commit_if_current(self) -> Result<CommitReport> {
        self.with_retry(RetryPolicy::none()).commit()
    }

    /// Discards the transaction and deletes the files it staged.
    pub fn abort(self) {
        // Drop does the cleanup.
    }

    fn commit_inner(&mut self) -> Result<CommitReport> {
        let started = Instant::now();
        if self.table.inner.read_only {
            return Err(read_only_error());
        }
        self.check_location(&self.base.metadata)?;
        check_managed(&self.table, &self.base.metadata)?;
        check_writable(self.table.storage())?;
        let table = self.table.clone();
        let durable = table.inner.options.durability.is_durable();
        let mut created_data_dir = self.staged_created_dir || self.finished_created_dir || self.delete_dir_created;
        if let Some(schema) = self.merged_schema.clone() {
            register_merge(self, self.base.metadata.current_schema_id, schema);
        }
        if let Some(w) = self.writer.take() {
            created_data_dir |= w.created_dir();
            // The last file's upload may still be in flight: the manifest needs only
            // its path and statistics, so the data file's PUT overlaps the manifests'
            // (joined with the prestage, before the commit point).
            let (files, uploading) = w.finish_later()?;
            self.data_files.extend(files);
            self.uploading = uploading;
        }
        let added_records: i64 = self.data_files.iter().map(|f| f.record_count).sum();
        let added_size: i64 = self.data_files.iter().map(|f| f.file_size_in_bytes).sum();

        // Make the data files durable and write our manifest (for the sequence number
        // we will most likely get) in the background while we queue for the lock and
        // build the metadata; joined before the commit point.
        self.prestage = self.start_prestage(durable, created_data_dir)?;
        self.start_premerge();

        let mut attempts: u32 = 0;
        let mut lost: u32 = 0;
        let mut lineage_base = self.base.clone();
        let mut force_list = false;
        // On an object store, where every check is a request, the first attempt builds on
        // the newest version this handle knows without probing: the conditional create of
        // `v<N+1>` is itself the probe for `v<N+1>` (taken: read it back, rebase, probe
        // on), and the check after it (`in_lineage`) rules out a create that filled a hole
        // (docs/object-stores.md, "Costs"). On a local disk every check is made.
        let mut probe = !is_object_store(table.storage());
        // `lineage_base` was just read back from the store (a lost race): probing starts
        // past it without checking it again.
        let mut base_read_back = false;
        // The version this transaction last tried to create (or would have).
        let mut attempted = self.base.version + 1;
        loop {
            attempts += 1;
            let attempt_started = Instant::now();
            let guard = self.acquire_lock(started);
            let latest = if probe {
                self.latest_state(&lineage_base, force_list, base_read_back)?
            } else {
                self.known_state(&lineage_base)
            };
            probe = true;
            // Every commit kind, metadata-only ones too, is refused on a table copied
            // or moved here (its metadata names the original's files and location).
            self.check_location(&latest.metadata)?;
            check_managed(&table, &latest.metadata)?;
            if latest.version != self.base.version {
                if self.retry.max_attempts <= 1 {
                    drop(guard);
                    return Err(self.fail_conflict(
                        attempted,
                        attempts,
                        lost,
                        describe_landed(&table, &self.base, &latest),
                        false,
                    ));
                }
                let conflicts = self.rebase_conflicts(&latest)?;
                if !conflicts.is_empty() {
                    drop(guard);
                    return Err(self.fail_conflict(attempted, attempts, lost, conflicts, false));
                }
            }
            let next_version = latest.version + 1;
            attempted = next_version;
            let built = match self.build_metadata(&latest, attempts, added_records, added_size)? {
                Ok(b) => b,
                Err(mut conflicts) => {
                    drop(guard);
                    for c in &mut conflicts {
                        c.version = latest.version;
                    }
                    return Err(self.fail_conflict(next_version, attempts, lost, conflicts, false));
                }
            };
            let key = table.location().version_file(next_version);
            let path = table.location().path(&key);
            // Every file of this attempt (manifests, manifest list, metadata temp)
            // is written and fsynced in parallel: on a journaling file system the
            // fsyncs share a journal commit, which keeps the time spent holding the
            // commit lock close to one fsync.
            // The exact bytes published are this commit's identity when the link's
            // outcome is ambiguous (resolve_ambiguous), for every kind of commit.
            let metadata_bytes = built.metadata.to_json_bytes()?;
            let staged = self.write_attempt_files(&built, &metadata_bytes, &key, durable)?;
            crate::crashpoint::hit("attempt-written");
            if let Err(e) = self.join_prestage() {
                let _ = table.storage().discard_staged(staged);
                return Err(e);
            }
            if let Err(e) = self.check_age(&latest) {
                let _ = table.storage().discard_staged(staged);
                return Err(e);
            }
            crate::crashpoint::hit("prestaged");
            let outcome = table.storage().publish_staged(staged);
            let mut hole = false;
            // The hint was written while the lineage was checked (object stores).
            let mut hint_written = false;
            // The winner's bytes of `next_version` when it was read back (a lost race).
            let mut winner = None;
            let landed = match outcome {
                Ok(()) => {
                    let (in_lineage, hint) = self.check_lineage_with_hint(latest.version, next_version, &key, &built);
                    hint_written = hint;
                    hole = !in_lineage;
                    !hole
                }
                // Taken by another writer: a lost race (unless the store may have
                // retried our own landed write; then the bytes decide, below).
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && !table.storage().capabilities().retries_writes =>
                {
                    false
                }
                Err(e) => match self.resolve_ambiguous(next_version, &metadata_bytes, e) {
                    Ok(Resolved::Landed) => true,
                    Ok(Resolved::Lost(bytes)) => {
                        winner = bytes;
                        false
                    }
                    Err(e) => {
                        if matches!(e, Error::CommitStateUnknown { .. }) {
                            // The version may reference our files: never delete them.
                            // At worst they are orphans for maintenance.
                            self.committed = true;
                            self.attempt_garbage.clear();
                        }
                        return Err(e);
                    }
                },
            };
            if landed {
                crate::crashpoint::hit("linked");
                // Files written before a pause (between the age check and the link)
                // longer than orphan cleanup's grace period may be gone: a version
                // naming them must not be acknowledged. Checked under the lock, so
                // lock-taking writers have not built on it yet.
                let missing = self.missing_added_files(&built);
                if !missing.is_empty() {
                    let published = TableState {
                        version: next_version,
                        metadata: Arc::new(built.metadata),
                        metadata_key: key,
                        metadata_path: path,
                    };
                    return Err(self.revert_missing(published, missing, guard));
                }
                // Later committers may build on our version before our directory
                // fsync: their own directory fsync persists our entry too, and none
                // of us acknowledges before fsyncing. So the lock can go now.
                drop(guard);
                let not_durable = if durable { self.sync_metadata_dir().err() } else { None };
                crate::crashpoint::hit("synced");
                let live: Vec<&Key> = built.writes.iter().map(|(p, _)| p).collect();
                self.attempt_garbage.retain(|p| !live.contains(&p));
                // A merged manifest built for a base this commit did not land on (deleted
                // if an attempt that lost its race wrote it).
                if let Some(p) = self.premerged.take()
                    && !premerge_used(&built, &p)
                {
                    self.created.retain(|c| c != &p.key);
                    if p.bytes.is_none() {
                        self.attempt_garbage.push(p.key);
                    }
                }
                let state = TableState {
                    version: next_version,
                    metadata: Arc::new(built.metadata),
                    metadata_key: key,
                    metadata_path: path,
                };
                self.after_commit(&latest, &state, built.manifests.clone(), hint_written);
                let elapsed = started.elapsed();
                let rebased_over = next_version - self.base.version - 1;
                table.inner.stats.record(attempts as u64, lost as u64, rebased_over, Outcome::Committed, elapsed);
                let snapshot = state.metadata.current_snapshot_id.unwrap_or(self.snapshot_id);
                if let Some(source) = not_durable {
                    // Visible, so never deleted or reported as not committed; but not a
                    // plain success either (docs/reliability.md).
                    self.committed = true;
                    return Err(Error::CommittedNotDurable {
                        version: next_version,
                        commit_id: self.commit_id.to_string(),
                        source,
                    });
                }
                crate::crashpoint::hit("committed");
                return Ok(CommitReport {
                    version: next_version,
                    snapshot_id: snapshot,
                    sequence_number: state.metadata.last_sequence_number,
                    commit_id: self.commit_id.to_string(),
                    attempts,
                    conflicts: lost,
                    rebased_over,
                    added_files: self.data_files.len(),
                    added_records,
                    removed_files: self.removed.len(),
                    removed_records: self.removed.iter().map(|f| f.record_count).sum(),
                    rows: self.rows.clone(),
                    elapsed,
                });
            }
            // Lost the race for next_version: the manifest list of this attempt is
            // garbage; everything else is reused.
            drop(guard);
            lost += 1;
            force_list = hole;
            lineage_base = latest;
            base_read_back = false;
            // The winner, read back to tell it from our own landed write, is the next base:
            // no second GET of it, and probing starts past it.
            if let Some(bytes) = winner
                && let Ok(state) = state_from_bytes(table.location(), next_version, &bytes)
            {
                table.check_uuid(&self.base, &state)?;
                table.install(state.clone());
                lineage_base = state;
                base_read_back = true;
            }
            if attempts >= self.retry.max_attempts || started.elapsed() >= self.retry.total_budget {
                let latest = self.latest_state(&lineage_base, force_list, base_read_back)?;
                let exhausted = self.retry.max_attempts > 1;
                let conflicts = if exhausted { Vec::new() } else { describe_landed(&table, &self.base, &latest) };
                return Err(self.fail_conflict(attempted, attempts, lost, conflicts, exhausted));
            }
            let wait = if is_object_store(table.storage()) {
                self.retry.slotted_backoff(lost, attempt_started.elapsed())
            } else {
                self.retry.backoff(lost)
            };
            std::thread::sleep(wait);
        }
    }

    /// Refuses to link when the transaction has been open longer than the table's
    /// `floe.transaction.max-age-ms`: orphan cleanup deletes unreferenced files
    /// older than its grace period (1 day by default, refused below the max age),
    /// so a transaction must land while its oldest file is younger than that.
    fn check_age(&self, latest: &TableState) -> Result<()> {
        let max_age_ms = latest
            .metadata
            .property_i64(properties::TRANSACTION_MAX_AGE_MS, properties::DEFAULT_TRANSACTION_MAX_AGE_MS)
            .max(0) as u64;
        let age_ms = self.created_at.elapsed().as_millis().min(u64::MAX as u128) as u64;
        if age_ms > max_age_ms {
            return Err(Error::TransactionTooOld {
                age: Duration::from_millis(age_ms),
                max_age: Duration::from_millis(max_age_ms),
            });
        }
        Ok(())
    }

    /// The manifest of our data files for sequence number `seq`. Written once and
    /// reused by every attempt that gets the same sequence number; rewritten (it is
    /// small) when a rebase moves it. Entries carry explicit sequence numbers rather
    /// than inheriting them: datashard's manifest compaction turns inherited added
    /// entries into existing entries with null sequence numbers, which DuckDB
    /// rejects (interop/NOTES.md). A new manifest is added to `writes`.
    fn our_manifest(&mut self, seq: i64, writes: &mut Vec<(Key, Vec<u8>)>) -> Result<Option<ManifestFile>> {
        if self.data_files.is_empty() {
            return Ok(None);
        }
        if let Some((cached_seq, m)) = &self.our_manifest
            && *cached_seq == seq
        {
            return Ok(Some(m.clone()));
        }
        if let Some((_, old)) = self.our_manifest.take()
            && let Ok(p) = self.table.location().confined_key(&old.manifest_path)
        {
            self.created.retain(|c| c != &p);
            self.attempt_garbage.push(p);
        }
        let (m, path, bytes) = self.encode_our_manifest(seq)?;
        // Ours for the rest of the transaction: deleted by Drop unless committed.
        self.created.push(path.clone());
        writes.push((path, bytes));
        self.our_manifest = Some((seq, m.clone()));
        Ok(Some(m))
    }

    /// Starts the work that does not depend on the newest version: fsync of the data
    /// files and their directory, and writing our manifest for the predicted sequence
    /// number. Durable mode runs it on a background thread; relaxed mode inline.
    fn start_prestage(
        &mut self,
        durable: bool,
        created_data_dir: bool,
    ) -> Result<Option<crate::sync::Job<Result<()>>>> {
        let predicted = self.base.metadata.last_sequence_number + 1;
        let mut writes = Vec::new();
        self.our_manifest(predicted, &mut writes)?;
        let storage = self.table.inner.storage.clone();
        let location = self.table.location().clone();
        if !durable {
            for (k, b) in &writes {
                storage.put_new(k, b, false).map_err(|e| Error::io(location.path(k), e))?;
            }
            return Ok(None);
        }
        let caps = storage.capabilities();
        // Without fsync a completed write is already durable: only our manifest is left.
        let data_files: Vec<Key> = if caps.fsync {
            let deletes = self.delete_files.iter().map(|d| &d.file);
            self.data_files.iter().chain(deletes).filter_map(|f| location.confined_key(&f.file_path).ok()).collect()
        } else {
            Vec::new()
        };
        // Partition directories (and data/) hold new entries too.
        let dirs =
            if caps.fsync && caps.directories { dirs_to_sync(&location.data_dir(), &data_files) } else { Vec::new() };
        let sync_root = created_data_dir && caps.fsync && caps.directories;
        let io_threads = self.table.inner.options.write.io_threads;
        let job = move || -> Result<()> {
            // Every fsync (files, then directories) and our manifest, on a bounded pool:
            // the thread count does not grow with the number of files.
            enum Step {
                File(Key),
                Manifests(Vec<(Key, Vec<u8>)>),
                Dir(Option<Key>),
            }
            let mut steps: Vec<Step> = data_files.into_iter().map(Step::File).collect();
            steps.push(Step::Manifests(writes));
            steps.extend(dirs.into_iter().map(|d| Step::Dir(Some(d))));
            if sync_root {
                steps.push(Step::Dir(None));
            }
            let results = crate::sync::map_owned(steps, io_threads, move |step| match step {
                Step::File(k) => storage.sync_file(k).map_err(|e| Error::io(location.path(k), e)),
                Step::Manifests(writes) => {
                    for (k, b) in writes {
                        storage.put_new(k, b, true).map_err(|e| Error::io(location.path(k), e))?;
                    }
                    Ok(())
                }
                Step::Dir(d) => {
                    storage.sync_dir(d.as_ref()).map_err(|e| Error::io(storage.display_path(d.as_ref()), e))
                }
            });
            for r in results {
                r.unwrap_or_else(|why| Err(Error::InvalidArgument(format!("fsync worker panicked: {why}"))))?;
            }
            Ok(())
        };
        // On the pool; a join before any thread took it runs it on the committing thread.
        Ok(Some(crate::sync::spawn(job)))
    }

    /// Makes sure the manifest merge the base's current snapshot calls for is being built
    /// in the background (`merge_ahead`), unless this transaction merges explicitly
    /// (maintenance) or removes files (its rewritten manifests are merged next time).
    fn start_premerge(&mut self) {
        if self.merge_min_count.is_some() || !self.removed.is_empty() || !self.removed_deletes.is_empty() {
            return;
        }
        let md = self.base.metadata.clone();
        let Some(parent) = md.current_snapshot() else { return };
        let Ok(parent_manifests) = cached_manifest_list(&self.table, parent) else { return };
        merge_ahead(&self.table, md, parent_manifests, MergeTrigger::Late);
    }

    /// Waits for the background stage; its error fails the commit (nothing is linked).
    fn join_prestage(&mut self) -> Result<()> {
        let mut first = Ok(());
        for up in self.uploading.drain(..) {
            if let Err(e) = up.wait()
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        let staged = match self.prestage.take() {
            None => Ok(()),
            Some(h) => {
                h.join().unwrap_or_else(|why| Err(Error::InvalidArgument(format!("background fsync panicked: {why}"))))
            }
        };
        first.and(staged)
    }

    fn next_manifest_path(&mut self) -> Key {
        let k = self.manifests_written;
        self.manifests_written += 1;
        Key::known(format!("metadata/{}-m{k}.avro", self.commit_id))
    }

    fn encode_our_manifest(&mut self, seq: i64) -> Result<(ManifestFile, Key, Vec<u8>)> {
        let md = &self.base.metadata;
        let spec = md.default_spec().cloned().unwrap_or_else(crate::spec::metadata::PartitionSpec::unpartitioned);
        let entries: Vec<ManifestEntry> = self
            .data_files
            .iter()
            .map(|f| ManifestEntry {
                status: EntryStatus::Added,
                snapshot_id: Some(self.snapshot_id),
                sequence_number: Some(seq),
                file_sequence_number: Some(seq),
                data_file: f.clone(),
            })
            .collect();
        let schema = self.merged_schema.as_ref().unwrap_or(md.current_schema());
        let ctx = ManifestWriteContext { schema, spec: &spec, content: ManifestContent::Data };
        let bytes = write_manifest(&ctx, &entries)?;
        let partitions = partition_summaries(&spec, schema, &self.data_files)?;
        let path = self.next_manifest_path();
        let m = ManifestFile {
            manifest_path: self.table.location().uri(&path),
            manifest_length: bytes.len() as i64,
            partition_spec_id: spec.spec_id,
            content: ManifestContent::Data,
            sequence_number: seq,
            min_sequence_number: seq,
            added_snapshot_id: self.snapshot_id,
            added_files_count: self.data_files.len() as i32,
            existing_files_count: 0,
            deleted_files_count: 0,
            added_rows_count: self.data_files.iter().map(|f| f.record_count).sum(),
            existing_rows_count: 0,
            deleted_rows_count: 0,
            partitions: Some(partitions),
            key_metadata: None,
        };
        Ok((m, path, bytes))
    }

    /// Writes this attempt's files and the metadata temp file, fsynced when durable,
    /// in parallel. Returns the temp file to link. Every path is registered for
    /// cleanup before it is written.
    fn write_attempt_files(
        &mut self,
        built: &Built,
        metadata_bytes: &[u8],
        version_key: &Key,
        durable: bool,
    ) -> Result<Staged> {
        for (p, _) in &built.writes {
            if !self.created.contains(p) {
                self.attempt_garbage.push(p.clone());
            }
        }
        let storage = self.table.storage();
        let location = self.table.location();
        if !durable || built.writes.is_empty() {
            for (k, b) in &built.writes {
                storage.put_new(k, b, durable).map_err(|e| Error::io(location.path(k), e))?;
            }
            return storage
                .stage_exclusive(version_key, metadata_bytes, durable)
                .map_err(|e| Error::io(location.path(version_key), e));
        }
        // The attempt's files and the staged metadata (`None`), on the pool (the jobs own
        // copies of their bytes, a few KiB): on a journaling file system their fsyncs
        // share a journal commit; on an object store the PUTs overlap.
        let jobs: Vec<Option<(Key, Vec<u8>)>> = built.writes.iter().cloned().map(Some).chain([None]).collect();
        let (store, location) = (self.table.inner.storage.clone(), location.clone());
        let (version_key, metadata_bytes) = (version_key.clone(), metadata_bytes.to_vec());
        let results = crate::sync::map_owned(jobs, self.table.inner.options.write.io_threads, move |job| match job {
            Some((k, b)) => store.put_new(k, b, durable).map(|()| None).map_err(|e| Error::io(location.path(k), e)),
            None => store
                .stage_exclusive(&version_key, &metadata_bytes, durable)
                .map(Some)
                .map_err(|e| Error::io(location.path(&version_key), e)),
        });
        let jobs_kinds: Vec<bool> = built.writes.iter().map(|_| true).chain([false]).collect();
        let mut staged = Err(Error::InvalidArgument("metadata not staged".into()));
        let mut first_err = None;
        for (is_write, r) in jobs_kinds.into_iter().zip(results) {
            let r = r.unwrap_or_else(|why| Err(Error::InvalidArgument(format!("file writer panicked: {why}"))));
            match (is_write, r) {
                (false, Ok(Some(t))) => staged = Ok(t),
                (false, Ok(None)) => {}
                (false, Err(e)) => staged = Err(e),
                (true, Err(e)) => {
                    first_err.get_or_insert(e);
                }
                (true, Ok(_)) => {}
            }
        }
        match (staged, first_err) {
            (Ok(t), None) => Ok(t),
            (Ok(t), Some(e)) => {
                let _ = storage.discard_staged(t);
                Err(e)
            }
            (Err(e), _) => Err(e),
        }
    }

    /// Makes the new version's directory entry durable. The version is already
    /// visible to everyone, so a failure here cannot un-commit it; it is retried
    /// once, and a second failure is the caller's [`Error::CommittedNotDurable`].
    fn sync_metadata_dir(&self) -> std::io::Result<()> {
        let dir = self.table.location().metadata_dir();
        let caps = self.table.storage().capabilities();
        if !(caps.fsync && caps.directories) {
            // A published object is durable and there is no directory entry to sync.
            return Ok(());
        }
        let shown = self.table.location().path(&dir);
        let sync = || {
            if crate::crashpoint::fail("sync-metadata-dir") {
                return Err(std::io::Error::other("fsync failure injected by FLOE_FAIL_POINT"));
            }
            self.table.storage().sync_dir(Some(&dir))
        };
        if let Err(e) = sync() {
            tracing::warn!("fsync of {} failed ({e}); retrying", shown.display());
            if let Err(e) = sync() {
                tracing::error!(
                    "fsync of {} failed twice ({e}); the commit is visible but may not survive a power cut",
                    shown.display()
                );
                return Err(e);
            }
        }
        Ok(())
    }

    /// The files this commit adds that are missing right after its link: one `exists`
    /// per data file, manifest and manifest list it wrote (a metadata-only commit adds
    /// none). An `exists` that fails counts as present: only a file known to be gone
    /// makes the commit revert.
    ///
    /// On an object store (one request per `exists`) the checks are made only when the
    /// commit could have been paused long enough: orphan cleanup's grace period is at
    /// least the transaction max age plus an hour (unless `allow_short_grace`), every
    /// file of ours was written after the transaction began, and `check_age` allowed
    /// the link only within the max age; if the link also completed within it, none of
    /// our files was ever old enough to be deleted (the hour is the margin for clocks).
    fn missing_added_files(&self, built: &Built) -> Vec<PathBuf> {
        if built.manifests.is_none() {
            return Vec::new();
        }
        if is_object_store(self.table.storage()) {
            let max_age_ms = built
                .metadata
                .property_i64(properties::TRANSACTION_MAX_AGE_MS, properties::DEFAULT_TRANSACTION_MAX_AGE_MS)
                .max(0) as u128;
            if self.created_at.elapsed().as_millis() <= max_age_ms {
                return Vec::new();
            }
        }
        let location = self.table.location();
        let mut added: Vec<Key> =
            self.data_files.iter().filter_map(|f| location.confined_key(&f.file_path).ok()).collect();
        added.extend(built.writes.iter().map(|(p, _)| p.clone()));
        if let Some(p) = &self.premerged
            && premerge_used(built, p)
        {
            added.push(p.key.clone());
        }
        if let Some((_, m)) = &self.our_manifest
            && let Ok(p) = location.confined_key(&m.manifest_path)
            && !added.contains(&p)
        {
            added.push(p);
        }
        added
            .into_iter()
            .filter(|p| matches!(self.table.storage().exists(p), Ok(false)))
            .map(|p| location.path(&p))
            .collect()
    }

    /// Our version `published` names files that are gone (see
    /// [`Error::CommitFilesMissing`]). Reverts its snapshot with a metadata-only
    /// follow-up commit on top of it (the current snapshot goes back to its parent;
    /// only if ours is still current), under the lock we still hold, and returns the
    /// error to report. If the revert did not land, nothing of ours is deleted: the
    /// current snapshot references it.
    fn revert_missing(&mut self, published: TableState, missing: Vec<PathBuf>, guard: Option<LockGuard>) -> Error {
        let version = published.version;
        tracing::error!(
            "v{version} was published but {} file(s) it adds are gone (e.g. {}); reverting its snapshot",
            missing.len(),
            missing.first().map(|p| p.display().to_string()).unwrap_or_default()
        );
        let snapshot_id = self.snapshot_id;
        // A repair, not the caller's transaction: it rebases (RetryPolicy::none() of
        // the caller must not stop it) and does not age out.
        let mut revert = Transaction::new(self.table.clone(), published).with_retry(RetryPolicy::default());
        revert.inherited_lock = guard;
        revert.update_metadata(move |md| revert_snapshot(md, snapshot_id));
        let reverted_in = match revert.commit() {
            Ok(r) => Some(r.version),
            Err(Error::CommittedNotDurable { version, .. }) => Some(version),
            Err(e) => {
                tracing::error!("could not revert v{version}: {e}");
                None
            }
        };
        if reverted_in.is_none() {
            // Referenced by the current snapshot: never delete (Drop would).
            self.committed = true;
            self.attempt_garbage.clear();
        }
        Error::CommitFilesMissing { version, commit_id: self.commit_id.to_string(), missing, reverted_in }
    }

    /// Waits for the advisory lock up to the policy's lock timeout, then goes on
    /// without it (correctness does not need it).
    fn acquire_lock(&mut self, started: Instant) -> Option<LockGuard> {
        if let Some(g) = self.inherited_lock.take() {
            return Some(g);
        }
        if !self.table.inner.options.advisory_lock || !self.table.storage().capabilities().advisory_lock {
            return None;
        }
        let path = self.table.location().lock_file();
        match self.table.storage().try_lock_exclusive(&path) {
            Ok(Some(g)) => return Some(g),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!("advisory lock unavailable ({e}); committing without it");
                return None;
            }
        }
        // Contended: wait in a blocking flock so the kernel hands the lock over the
        // moment it is released (polling would leave it idle between polls), on a
        // pool thread so the wait can time out. A helper that gets the lock after
        // we gave up finds the channel closed and releases it at once. (With every pool
        // thread busy the helper may not start in time: the commit then goes ahead
        // without the lock, which costs at most a lost race.)
        let wait = self.retry.lock_timeout.min(self.retry.total_budget).saturating_sub(started.elapsed());
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let storage = self.table.inner.storage.clone();
        crate::sync::spawn_detached(move || {
            let _ = tx.send(storage.lock_exclusive(&path));
        });
        match rx.recv_timeout(wait) {
            Ok(Ok(g)) => Some(g),
            Ok(Err(e)) => {
                tracing::debug!("advisory lock failed ({e}); committing without it");
                None
            }
            Err(_) => {
                tracing::warn!("advisory lock not acquired within {wait:?}; committing without it");
                None
            }
        }
    }

    /// The newest version this handle knows at or after `known`, without a request:
    /// the handle's cached state when another transaction of the handle has moved it
    /// past `known` (it was checked for the table's uuid when installed).
    fn known_state(&self, known: &TableState) -> TableState {
        let cached = self.table.state();
        if cached.version > known.version && cached.metadata.table_uuid == known.metadata.table_uuid {
            cached
        } else {
            known.clone()
        }
    }

    /// The newest version at or after `known`, loaded. `known_exists`: `known` was just
    /// read from the store, so only the versions after it are probed.
    /// The newest version past `known` (which exists), on an object store: each next
    /// version is read with a GET rather than probed with a HEAD, so the newest one's
    /// bytes are in hand when the first missing version answers `NotFound` (a loser
    /// that is one version behind pays one GET, not a HEAD and a GET).
    fn read_past(&self, known: &TableState) -> Result<TableState> {
        let table = &self.table;
        let location = table.location();
        let mut newest: Option<(u64, bytes::Bytes)> = None;
        let mut n = known.version;
        loop {
            let key = location.version_file(n + 1);
            match table.storage().read(&key) {
                Ok(bytes) => {
                    n += 1;
                    newest = Some((n, bytes));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(Error::io(location.path(&key), e)),
            }
        }
        let Some((version, bytes)) = newest else { return Ok(known.clone()) };
        let state = state_from_bytes(location, version, &bytes)?;
        table.check_uuid(&self.base, &state)?;
        table.install(state.clone());
        Ok(state)
    }

    fn latest_state(&self, known: &TableState, force_list: bool, known_exists: bool) -> Result<TableState> {
        let table = &self.table;
        if known_exists && !force_list && is_object_store(table.storage()) {
            return self.read_past(known);
        }
        let latest = if known_exists && !force_list {
            probe_past(table.location(), known.version)?
        } else {
            find_latest_version(table.location(), known.version, force_list)?
                .ok_or_else(|| Error::TableNotFound { path: table.path().to_path_buf() })?
        };
        if latest == known.version {
            return Ok(known.clone());
        }
        let cached = table.state();
        let state = if cached.version == latest { cached } else { load_version(table.location(), latest)? };
        table.check_uuid(&self.base, &state)?;
        table.install(state.clone());
        Ok(state)
    }

    /// This attempt's metadata on top of `latest`, or the conflicts that stop it
    /// (a file this transaction removes is no longer live).
    fn build_metadata(
        &mut self,
        latest: &TableState,
        attempt: u32,
        added_records: i64,
        added_size: i64,
    ) -> Result<Attempt<Built>> {
        let table = self.table.clone();
        let md = &latest.metadata;
        let mut new_md: TableMetadata = (**md).clone();
        for update in &mut self.updates {
            update(&mut new_md)?;
        }
        remember_datashard(&mut new_md, md);
        let now = now_ms().max(md.last_updated_ms + 1);
        if self.metadata_only() {
            new_md.last_updated_ms = now;
            push_metadata_log(&mut new_md, latest, table.location());
            return Ok(Ok(Built { metadata: new_md, writes: Vec::new(), manifests: None }));
        }
        if md.snapshot(self.snapshot_id).is_some() {
            return Err(Error::corrupt(
                &latest.metadata_path,
                format!("snapshot id {} already exists", self.snapshot_id),
            ));
        }
        let sequence_number = md.last_sequence_number + 1;
        let parent = md.current_snapshot();
        let mut writes: Vec<(Key, Vec<u8>)> = Vec::new();
        let mut manifests: Vec<ManifestFile> = Vec::new();
        if let Some(m) = self.our_manifest(sequence_number, &mut writes)? {
            manifests.push(m);
        }
        let parent_manifests = match parent {
            Some(p) => cached_manifest_list(&table, p)?,
            None => Arc::new(Vec::new()),
        };
        if !self.delete_files.is_empty() || !self.removed.is_empty() {
            let conflicts = self.delete_conflicts(&parent_manifests)?;
            if !conflicts.is_empty() {
                return Ok(Err(conflicts));
            }
            if !self.delete_files.is_empty() {
                manifests.extend(self.delete_manifests(&new_md, sequence_number, &mut writes)?);
            }
        }
        let mut removed = Removed::default();
        if !self.removed.is_empty() || !self.removed_deletes.is_empty() {
            // Merging waits for the next commit: the rewritten manifests are not on
            // disk yet for it to read.
            match self.rewrite_for_removals(&new_md, &parent_manifests, sequence_number, &mut writes)? {
                Ok((rewritten, r)) => {
                    manifests.extend(rewritten);
                    removed = r;
                }
                Err(conflicts) => return Ok(Err(conflicts)),
            }
        } else {
            let forced = self.merge_min_count.is_some();
            if !forced
                && self.premerged.is_none()
                && let Some(p) = table.inner.merge_ahead.take_ready()
            {
                // Ours from now on: deleted with the transaction unless a landing attempt
                // names it (only an attempt that uses it writes it).
                self.created.push(p.key.clone());
                self.premerged = Some(p);
            }
            let premerged = self.premerged.as_mut().filter(|p| {
                !forced
                    && p.schema_id == new_md.current_schema_id
                    && Some(p.spec_id) == md.default_spec().map(|s| s.spec_id)
                    && {
                        // The parent's paths are hashed only when a merge is at hand,
                        // not on every commit.
                        let parent_paths: std::collections::HashSet<&str> =
                            parent_manifests.iter().map(|m| m.manifest_path.as_str()).collect();
                        p.replaces.iter().all(|r| parent_paths.contains(r.as_str()))
                    }
            });
            let min_count = md.property_i64(properties::MANIFEST_MIN_COUNT_TO_MERGE, 100).max(2) as usize;
            if let Some(p) = premerged {
                // Built in the background from this parent or an ancestor that listed
                // every manifest it folds: it replaces those, and only the sequence
                // number and snapshot of the commit that adds it are known now.
                let mut merged = p.merged.clone();
                merged.sequence_number = sequence_number;
                merged.added_snapshot_id = self.snapshot_id;
                manifests.push(merged);
                manifests.extend(parent_manifests.iter().filter(|m| !p.replaces.contains(&m.manifest_path)).cloned());
                // Written with this attempt's other files (their fsyncs overlap).
                if let Some(bytes) = p.bytes.take() {
                    writes.push((p.key.clone(), bytes));
                }
            } else if !forced && parent_manifests.len() < 2 * min_count {
                // No merge under the lock unless the list grew far past the threshold: a
                // merge that is due is built in the background (by the writer whose
                // commit made it due, or by this one once the list is well past it) and
                // added by a later commit.
                merge_ahead(&table, md.clone(), parent_manifests.clone(), MergeTrigger::Late);
                manifests.extend(parent_manifests.iter().cloned());
            } else {
                let merge_path = self.next_manifest_path();
                let io_threads = table.inner.options.write.io_threads;
                match maybe_merge(
                    table.location(),
                    io_threads,
                    md,
                    &parent_manifests,
                    self.snapshot_id,
                    &merge_path,
                    self.merge_min_count,
                )? {
                    Some((merged_list, bytes)) => {
                        manifests.extend(merged_list);
                        writes.push((merge_path, bytes));
                    }
                    None => manifests.extend(parent_manifests.iter().cloned()),
                }
            }
        }

        let mut summary = self.summary(parent, &manifests, added_records, added_size, &removed);
        // How this commit got in, for `floe stats`: which attempt of this transaction
        // landed, and how many versions other writers committed since its base.
        summary.insert(ATTEMPT_KEY.to_string(), attempt.to_string());
        summary.insert(REBASED_OVER_KEY.to_string(), latest.version.saturating_sub(self.base.version).to_string());
        let list_path = Key::known(format!("metadata/snap-{}-{}-{}.avro", self.snapshot_id, attempt, self.commit_id));
        let list_bytes =
            write_manifest_list(self.snapshot_id, parent.map(|p| p.snapshot_id), sequence_number, &manifests)?;
        writes.push((list_path.clone(), list_bytes));

        let snapshot = Snapshot {
            snapshot_id: self.snapshot_id,
            parent_snapshot_id: parent.map(|p| p.snapshot_id),
            sequence_number,
            timestamp_ms: now,
            manifest_list: table.location().uri(&list_path),
            summary,
            schema_id: Some(new_md.current_schema_id),
            from_datashard: Default::default(),
        };
        new_md.last_sequence_number = sequence_number;
        new_md.last_updated_ms = now;
        new_md.current_snapshot_id = Some(self.snapshot_id);
        new_md.snapshots.push(Arc::new(snapshot));
        new_md.snapshot_log.push(SnapshotLogEntry { timestamp_ms: now, snapshot_id: self.snapshot_id });
        new_md.refs.insert(
            "main".into(),
            SnapshotRef { snapshot_id: self.snapshot_id, ref_type: "branch".into(), extra: BTreeMap::new() },
        );
        push_metadata_log(&mut new_md, latest, table.location());
        retain_snapshots(&mut new_md);
        Ok(Ok(Built { metadata: new_md, writes, manifests: Some(Arc::new(manifests)) }))
    }

    /// Rewrites the parent's manifests that list files this transaction removes:
    /// those entries become `DELETED` (by this snapshot), the others `EXISTING`
    /// with their sequence numbers kept; entries deleted by earlier snapshots are
    /// dropped. Every removed file must be live in the parent, or the result is the
    /// conflicts naming the ones that are not.
    fn rewrite_for_removals(
        &mut self,
        md: &TableMetadata,
        parent: &[ManifestFile],
        seq: i64,
        writes: &mut Vec<(Key, Vec<u8>)>,
    ) -> Result<Attempt<(Vec<ManifestFile>, Removed)>> {
        let table = self.table.clone();
        let wanted: std::collections::HashSet<&str> =
            self.removed.iter().chain(&self.removed_deletes).map(|f| f.file_path.as_str()).collect();
        let mut removed = Removed::default();
        let mut found: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut out = Vec::with_capacity(parent.len());
        let mut rewrites: Vec<(ManifestFile, Vec<ManifestEntry>)> = Vec::new();
        let keep_deleted = writes_deleted_entries(md);
        for m in parent {
            let skip = match m.content {
                ManifestContent::Data => false,
                ManifestContent::Deletes => self.removed_deletes.is_empty(),
            };
            if skip || m.added_files_count + m.existing_files_count == 0 {
                out.push(m.clone());
                continue;
            }
            let file = table.location().resolve(&m.manifest_path)?;
            let manifest = read_manifest(&file.path(), &file.read()?, Some(m))?;
            let hits = manifest
                .entries
                .iter()
                .any(|e| e.status != EntryStatus::Deleted && wanted.contains(e.data_file.file_path.as_str()));
            if !hits {
                out.push(m.clone());
                continue;
            }
            let mut entries = Vec::with_capacity(manifest.entries.len());
            for mut e in manifest.entries {
                if e.status == EntryStatus::Deleted {
                    continue;
                }
                if wanted.contains(e.data_file.file_path.as_str()) && found.insert(e.data_file.file_path.clone()) {
                    if m.content == ManifestContent::Data {
                        removed.files += 1;
                        removed.records += e.data_file.record_count;
                    }
                    removed.bytes += e.data_file.file_size_in_bytes;
                    if !keep_deleted {
                        continue;
                    }
                    e.status = EntryStatus::Deleted;
                    e.snapshot_id = Some(self.snapshot_id);
                } else {
                    e.status = EntryStatus::Existing;
                }
                entries.push(e);
            }
            rewrites.push((m.clone(), entries));
        }
        let missing: Vec<Conflict> = self
            .removed
            .iter()
            .chain(&self.removed_deletes)
            .filter(|f| !found.contains(&f.file_path))
            .map(|f| Conflict::new(0, None, ConflictKind::FileNoLongerLive { path: f.file_path.clone() }))
            .collect();
        if !missing.is_empty() {
            return Ok(Err(missing));
        }
        let schema = md.current_schema();
        for (old, entries) in rewrites {
            if entries.is_empty() {
                // Every file it listed was removed and none is recorded as DELETED.
                continue;
            }
            let spec = md.partition_specs.iter().find(|s| s.spec_id == old.partition_spec_id).ok_or_else(|| {
                Error::corrupt(&old.manifest_path, format!("unknown spec id {}", old.partition_spec_id))
            })?;
            let ctx = ManifestWriteContext { schema, spec, content: old.content };
            let bytes = write_manifest(&ctx, &entries)?;
            let path = self.next_manifest_path();
            let live = entries.iter().filter(|e| e.status == EntryStatus::Existing);
            let deleted = entries.iter().filter(|e| e.status == EntryStatus::Deleted);
            out.push(ManifestFile {
                manifest_path: table.location().uri(&path),
                manifest_length: bytes.len() as i64,
                partition_spec_id: spec.spec_id,
                content: old.content,
                sequence_number: seq,
                min_sequence_number: live.clone().filter_map(|e| e.sequence_number).min().unwrap_or(seq),
                added_snapshot_id: self.snapshot_id,
                added_files_count: 0,
                existing_files_count: live.clone().count() as i32,
                deleted_files_count: deleted.clone().count() as i32,
                added_rows_count: 0,
                existing_rows_count: live.map(|e| e.data_file.record_count).sum(),
                deleted_rows_count: deleted.map(|e| e.data_file.record_count).sum(),
                partitions: if spec.fields.is_empty() { Some(Vec::new()) } else { old.partitions.clone() },
                key_metadata: None,
            });
            writes.push((path, bytes));
        }
        Ok(Ok((out, removed)))
    }

    fn summary(
        &self,
        parent: Option<&Snapshot>,
        manifests: &[ManifestFile],
        added_records: i64,
        added_size: i64,
        removed: &Removed,
    ) -> BTreeMap<String, String> {
        let mut s = BTreeMap::new();
        s.insert("operation".to_string(), self.operation().as_str().to_string());
        s.insert(COMMIT_ID_KEY.to_string(), self.commit_id.to_string());
        s.insert("added-data-files".into(), self.data_files.len().to_string());
        s.insert("added-records".into(), added_records.to_string());
        s.insert("added-files-size".into(), added_size.to_string());
        if removed.files > 0 {
            s.insert("deleted-data-files".into(), removed.files.to_string());
            s.insert("deleted-records".into(), removed.records.to_string());
            s.insert("removed-files-size".into(), removed.bytes.to_string());
        }
        // Partitions of the added files (removals count as at least one).
        let mut changed = crate::data::partition::distinct_partitions(&self.data_files);
        if removed.files > 0 {
            changed = changed.max(1);
        }
        s.insert("changed-partition-count".into(), changed.to_string());
        let data = manifests.iter().filter(|m| m.content == ManifestContent::Data);
        let (files, records) = data.fold((0i64, 0i64), |(f, r), m| {
            (
                f + m.added_files_count as i64 + m.existing_files_count as i64,
                r + m.added_rows_count + m.existing_rows_count,
            )
        });
        s.insert("total-data-files".into(), files.to_string());
        s.insert("total-records".into(), records.to_string());
        if let Some(prev) = parent.map_or(Some(0), |p| p.summary_i64("total-files-size")) {
            s.insert("total-files-size".into(), (prev + added_size - removed.bytes).max(0).to_string());
        }
        let count = |c: DataContent| self.delete_files.iter().filter(move |d| d.file.content == c);
        let pos_files = count(DataContent::PositionDeletes).count() as i64;
        let eq_files = count(DataContent::EqualityDeletes).count() as i64;
        let pos_rows: i64 = count(DataContent::PositionDeletes).map(|d| d.file.record_count).sum();
        let eq_rows: i64 = count(DataContent::EqualityDeletes).map(|d| d.file.record_count).sum();
        if !self.delete_files.is_empty() {
            s.insert("added-delete-files".into(), (pos_files + eq_files).to_string());
            if pos_files > 0 {
                s.insert("added-position-delete-files".into(), pos_files.to_string());
                s.insert("added-position-deletes".into(), pos_rows.to_string());
            }
            if eq_files > 0 {
                s.insert("added-equality-delete-files".into(), eq_files.to_string());
                s.insert("added-equality-deletes".into(), eq_rows.to_string());
            }
        }
        let gone = |c: DataContent| self.removed_deletes.iter().filter(move |d| d.content == c);
        let gone_files = self.removed_deletes.len() as i64;
        let gone_pos: i64 = gone(DataContent::PositionDeletes).map(|d| d.record_count).sum();
        let gone_eq: i64 = gone(DataContent::EqualityDeletes).map(|d| d.record_count).sum();
        if gone_files > 0 {
            s.insert("removed-delete-files".into(), gone_files.to_string());
        }
        for (key, added) in [
            ("total-delete-files", pos_files + eq_files - gone_files),
            ("total-position-deletes", pos_rows - gone_pos),
            ("total-equality-deletes", eq_rows - gone_eq),
        ] {
            let prev = parent.map_or(Some(0), |p| p.summary_i64(key));
            if let Some(v) = prev {
                s.insert(key.into(), (v + added).max(0).to_string());
            }
        }
        s
    }

    /// After a successful link, make sure `v<N>` did not fill a hole left by the
    /// deletion of an old metadata file (possible only for a writer whose view is
    /// more than `previous-versions-max` versions old and whose hint was unusable):
    /// if `v<N+1>` exists and was not built on our snapshot, our file is not in the
    /// table's lineage. Withdraw it and report a lost race.
    fn check_not_a_hole(&self, version: u64, key: &Key, ours: &TableMetadata) -> bool {
        match self.next_built_on_us(version, key, ours) {
            // No version after ours, or someone simply committed on top of us already.
            // (An unanswered check cannot tell; the link succeeded and holes need a
            // view 100+ versions old.)
            None | Some(true) => true,
            Some(false) => {
                tracing::warn!("v{version} was re-created after cleanup; withdrawing it");
                let _ = self.table.storage().delete(key);
                false
            }
        }
    }

    /// The link failed with an error that is not EEXIST (or with EEXIST from a store
    /// that retries writes, whose retry may have met our own version): it may or may
    /// not have happened. Re-read the version and compare it with the exact bytes we tried to
    /// publish. That identifies every kind of commit, metadata-only ones (schema or
    /// spec change, tag, rollback, expiry) too, which have no snapshot summary to carry
    /// a commit id; a snapshot commit's bytes hold its random snapshot id and commit
    /// id, so no other writer's version can equal them. Another writer's
    /// metadata-only version is byte-equal only if it made the very same change on the
    /// same base in the same millisecond, which then is in the table as we asked.
    /// `Ok(true)`: it landed (the caller makes it durable); `Ok(false)`: another
    /// writer's version (a lost race).
    ///
    /// The version is read directly (a missing one is `NotFound`), without a `HEAD`
    /// first; another writer's bytes are returned so the caller rebases on them without
    /// reading them again.
    fn resolve_ambiguous(&self, version: u64, published: &[u8], err: std::io::Error) -> Result<Resolved> {
        let table = &self.table;
        let key = table.location().version_file(version);
        let unknown = |err| Error::CommitStateUnknown { version, commit_id: self.commit_id.to_string(), source: err };
        match table.storage().read(&key) {
            Ok(bytes) if bytes == published => Ok(Resolved::Landed),
            Ok(bytes) => Ok(Resolved::Lost(Some(bytes))),
            // `AlreadyExists` for a key that does not exist: an object store's 409 to a
            // conditional create that did not land (S3's ConditionalRequestConflict).
            // Nothing was published: a new attempt.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && err.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok(Resolved::Lost(None))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::io(table.location().path(&key), err)),
            Err(_) => Err(unknown(err)),
        }
    }

    /// After a successful create of `v<version>` on top of `v<base>`: is it in the
    /// table's lineage? On a local disk the probes before the create saw `v<base>` as
    /// the newest version, and `check_not_a_hole` covers the rest. On an object store
    /// the first attempt did not probe, so the check is made here, after the create:
    /// `v<base>` still exists. Versions are deleted oldest first (expiry keeps the
    /// newest `previous-versions-max`), so while `v<base>` exists every version after it
    /// does too, and our create could only succeed because `v<version>` never existed:
    /// it is the successor of `v<base>`. A missing `v<base>` means a hole (we filled a
    /// version expired long ago) or a table deleted under us, unless the version after
    /// ours is already built on us (expiry then ran past `v<base>` legitimately).
    /// Withdrawn (deleted) when not in the lineage. A failed check cannot tell; the
    /// create succeeded, so it counts as landed, as `check_not_a_hole` does.
    fn in_lineage(&self, base: u64, version: u64, key: &Key, ours: &TableMetadata) -> bool {
        let table = &self.table;
        if !is_object_store(table.storage()) {
            return self.check_not_a_hole(version, key, ours);
        }
        match table.storage().exists(&table.location().version_file(base)) {
            Ok(true) | Err(_) => true,
            Ok(false) => {
                if self.next_built_on_us(version, key, ours) == Some(true) {
                    // Expiry ran past `v<base>` after others built on us.
                    return true;
                }
                tracing::warn!("v{base} is gone: v{version} is not in the table's lineage; withdrawing it");
                let _ = table.storage().delete(key);
                false
            }
        }
    }

    /// Whether `v<version+1>` was built on our `v<version>` (`ours`): `None` when it does
    /// not exist; `Some(true)` as well when it cannot be checked (a request failed: never
    /// withdraw a version on a guess). The name of `v<version>` in its metadata log
    /// proves nothing (a version built on the expired `v<version>` we re-created names
    /// the same file): it must hold our snapshot (random id), or, for a commit without
    /// a snapshot, log our file with our metadata's `last-updated-ms`.
    fn next_built_on_us(&self, version: u64, key: &Key, ours: &TableMetadata) -> Option<bool> {
        let table = &self.table;
        let next = table.location().version_file(version + 1);
        match table.storage().exists(&next) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(_) => return Some(true),
        }
        let uri = table.location().uri(key);
        Some(
            load_version(table.location(), version + 1)
                .map(|s| {
                    if ours.snapshot(self.snapshot_id).is_some() {
                        s.metadata.snapshot(self.snapshot_id).is_some()
                    } else {
                        s.metadata
                            .metadata_log
                            .iter()
                            .any(|e| e.metadata_file == uri && e.timestamp_ms == ours.last_updated_ms)
                    }
                })
                .unwrap_or(true),
        )
    }

    /// [`in_lineage`](Self::in_lineage) after the create of `v<version>`; on an object
    /// store the version hint's PUT runs at the same time (the two requests are
    /// independent, and the hint is advisory), so the commit waits one round trip, not
    /// two. The acknowledgement still waits for the lineage check. A version withdrawn
    /// by the check takes the hint we wrote with it (deleted: a missing hint costs
    /// floe a listing; a hint naming a missing version would stop pyiceberg and DuckDB
    /// until the next commit). Returns (in the lineage, hint written).
    fn check_lineage_with_hint(&self, base: u64, version: u64, key: &Key, built: &Built) -> (bool, bool) {
        let table = &self.table;
        if !is_object_store(table.storage()) {
            return (self.in_lineage(base, version, key, &built.metadata), false);
        }
        let hint = table.location().hint_file();
        let (in_lineage, hint_written) = std::thread::scope(|s| {
            let put = std::thread::Builder::new()
                .name("floe-hint".into())
                .spawn_scoped(s, || table.storage().put_advisory(&hint, version.to_string().as_bytes()));
            let in_lineage = self.in_lineage(base, version, key, &built.metadata);
            let written = match put {
                Ok(h) => match h.join() {
                    Ok(Ok(())) => true,
                    Ok(Err(e)) => {
                        tracing::debug!("could not update the version hint: {e}");
                        false
                    }
                    Err(_) => false,
                },
                // No thread: written after the check, in after_commit.
                Err(_) => false,
            };
            (in_lineage, written)
        });
        if !in_lineage && hint_written {
            let _ = table.storage().delete_many(std::slice::from_ref(&hint), 1);
        }
        (in_lineage, hint_written)
    }

    fn after_commit(
        &mut self,
        previous: &TableState,
        state: &TableState,
        manifests: Option<Arc<Vec<ManifestFile>>>,
        hint_written: bool,
    ) {
        let table = self.table.clone();
        // Data files and our manifest are live now; lost attempts' files are not.
        self.created.clear();
        // One bulk delete (on an object store one request, with no HEAD per file).
        let garbage: Vec<Key> = self.attempt_garbage.drain(..).collect();
        if !garbage.is_empty() {
            let _ = table.storage().delete_many(&garbage, table.inner.options.write.io_threads);
        }
        // The hint only ever moves forward (datashard does the same): readers that
        // trust it (pyiceberg, DuckDB) should not be sent back to an older version by
        // a slow writer. But a hint past the newest version (a hand edit, a restored
        // backup, a table rolled back by copying) names no file at all, and those
        // readers then cannot open the table: a hint ahead of ours is kept only if its
        // version exists (one extra `exists`, only when the hint is ahead). An
        // unreadable or unparsable hint is rewritten. Correctness never depends on it.
        let hint = table.location().hint_file();
        // On an object store the hint is overwritten without reading it first (one GET
        // less per commit): the read-then-write was never atomic against concurrent
        // committers anyway, so "forward only" holds for one writer at a time; a hint
        // briefly behind costs readers forward probes, never a wrong answer.
        let current_hint = if is_object_store(table.storage()) {
            None
        } else {
            table
                .storage()
                .read(&hint)
                .ok()
                .and_then(|b| std::str::from_utf8(&b).ok().and_then(|s| s.trim().parse::<u64>().ok()))
        };
        let rewrite = match current_hint {
            None => !hint_written,
            Some(h) if h <= state.version => h < state.version,
            Some(h) => matches!(table.storage().exists(&table.location().version_file(h)), Ok(false)),
        };
        if rewrite && let Err(e) = table.storage().put_advisory(&hint, state.version.to_string().as_bytes()) {
            tracing::debug!("could not update the version hint: {e}");
        }
        if state.metadata.property_bool(properties::DELETE_AFTER_COMMIT, false) {
            let dropped: Vec<Key> = left_the_log(&previous.metadata.metadata_log, &state.metadata.metadata_log)
                .into_iter()
                .filter_map(|e| table.location().confined_key(&e.metadata_file).ok())
                .collect();
            retire_versions(&table, dropped, state);
        }
        if let (Some(snap), Some(manifests)) = (state.metadata.current_snapshot(), manifests) {
            // The next commit's merge, while the caller does something else: built at once
            // by the commit that made it due (its parent's list, still the handle's
            // decoded one, did not call for one), by the others only once the list is
            // well past the threshold.
            let parent_list = previous.metadata.current_snapshot().and_then(|p| peek_manifest_list(&table, p));
            let trigger = match parent_list {
                Some(parent) if !merge_due(&previous.metadata, &parent, MergeTrigger::Due) => MergeTrigger::Due,
                _ => MergeTrigger::Late,
            };
            cleanup::remember(&table, &snap.manifest_list, &manifests, state.version);
            *crate::sync::lock(&table.inner.manifest_cache) = Some((snap.manifest_list.clone(), manifests.clone()));
            merge_ahead(&table, state.metadata.clone(), manifests, trigger);
        }
        table.install(state.clone());
        // Off the caller's path: a bounded pass on a background thread.
        cleanup::after_commit(&table, state);
    }

    fn fail_conflict(
        &mut self,
        attempted_version: u64,
        attempts: u32,
        lost: u32,
        conflicting: Vec<Conflict>,
        exhausted: bool,
    ) -> Error {
        let outcome = if exhausted { Outcome::Exhausted } else { Outcome::Conflict };
        self.table.inner.stats.record(attempts as u64, lost as u64, 0, outcome, Duration::ZERO);
        Error::ConcurrentModification {
            base_version: self.base.version,
            attempted_version,
            conflicting,
            retries_exhausted: exhausted,
        }
    }
}

/// A table's next version built by [`Transaction::prepare_on`] for a warehouse commit:
/// its manifests and manifest list are written, its metadata is not published.
pub(crate) struct Prepared {
    /// The version it is for (`latest + 1`).
    pub version: u64,
    /// The exact metadata bytes to publish at `v<version>.metadata.json`.
    pub bytes: Vec<u8>,
    /// The state it was built on.
    pub latest: TableState,
    metadata: Arc<TableMetadata>,
    writes: Vec<Key>,
    manifests: Option<Arc<Vec<ManifestFile>>>,
}

/// The seam the warehouse (src/warehouse) commits through: the same staging, conflict
/// rules and metadata building as [`Transaction::commit`], with the commit point and
/// the publish left to the caller (the warehouse's catalog, then `v<N+1>`).
impl Transaction {
    /// Finishes the data files, makes them durable and writes our manifest: the part of
    /// a commit that needs no base, done once (before a warehouse takes its commit lock).
    pub(crate) fn prestage_for_prepare(&mut self) -> Result<()> {
        if self.prepared_totals.is_some() {
            return Ok(());
        }
        let durable = self.table.inner.options.durability.is_durable();
        let mut created_data_dir = self.staged_created_dir || self.finished_created_dir;
        if let Some(schema) = self.merged_schema.clone() {
            register_merge(self, self.base.metadata.current_schema_id, schema);
        }
        if let Some(w) = self.writer.take() {
            created_data_dir |= w.created_dir();
            self.data_files.extend(w.finish()?);
        }
        let records: i64 = self.data_files.iter().map(|f| f.record_count).sum();
        let size: i64 = self.data_files.iter().map(|f| f.file_size_in_bytes).sum();
        self.prestage = self.start_prestage(durable, created_data_dir)?;
        self.join_prestage()?;
        self.prepared_totals = Some((records, size));
        Ok(())
    }

    /// Builds this transaction's next version on top of `latest` (the table's newest
    /// version in the warehouse's catalog) and writes every file it needs except the
    /// metadata. A base older than `latest` is rebased by the table's conflict rules;
    /// conflicts are [`Error::ConcurrentModification`]. Call again with a newer
    /// `latest` after losing a race; files of superseded attempts are garbage.
    pub(crate) fn prepare_on(&mut self, latest: &TableState) -> Result<Prepared> {
        if self.table.inner.read_only {
            return Err(read_only_error());
        }
        self.check_location(&latest.metadata)?;
        check_writable(self.table.storage())?;
        self.prestage_for_prepare()?;
        let durable = self.table.inner.options.durability.is_durable();
        let (added_records, added_size) = self.prepared_totals.unwrap_or((0, 0));
        self.prepare_attempts += 1;
        let attempt = self.prepare_attempts;
        let next_version = latest.version + 1;
        if latest.version != self.base.version {
            let conflicts = self.rebase_conflicts(latest)?;
            if !conflicts.is_empty() {
                return Err(self.fail_conflict(next_version, attempt, attempt - 1, conflicts, false));
            }
        }
        let built = match self.build_metadata(latest, attempt, added_records, added_size)? {
            Ok(b) => b,
            Err(mut conflicts) => {
                for c in &mut conflicts {
                    c.version = latest.version;
                }
                return Err(self.fail_conflict(next_version, attempt, attempt - 1, conflicts, false));
            }
        };
        let bytes = built.metadata.to_json_bytes()?;
        for (p, _) in &built.writes {
            if !self.created.contains(p) {
                self.attempt_garbage.push(p.clone());
            }
        }
        let storage = self.table.storage();
        let location = self.table.location();
        for (k, b) in &built.writes {
            storage.put_new(k, b, durable).map_err(|e| Error::io(location.path(k), e))?;
        }
        self.check_age(latest)?;
        Ok(Prepared {
            version: next_version,
            bytes,
            latest: latest.clone(),
            metadata: Arc::new(built.metadata),
            writes: built.writes.into_iter().map(|(k, _)| k).collect(),
            manifests: built.manifests,
        })
    }

    /// The warehouse's commit point holds `prepared` (it may not be published yet):
    /// nothing this transaction wrote may be deleted any more.
    pub(crate) fn mark_committed(&mut self, prepared: &Prepared) {
        self.committed = true;
        self.attempt_garbage.retain(|p| !prepared.writes.contains(p));
    }

    /// `prepared` is published at `v<version>`: the hint moves, the handle installs it,
    /// superseded attempts' files are deleted, and the report is built.
    pub(crate) fn finish_published(&mut self, prepared: &Prepared, elapsed: Duration, lost: u32) -> CommitReport {
        self.mark_committed(prepared);
        let key = self.table.location().version_file(prepared.version);
        let state = TableState {
            version: prepared.version,
            metadata_path: self.table.location().path(&key),
            metadata_key: key,
            metadata: prepared.metadata.clone(),
        };
        self.after_commit(&prepared.latest, &state, prepared.manifests.clone(), false);
        let (added_records, _) = self.prepared_totals.unwrap_or((0, 0));
        let rebased_over = prepared.version - self.base.version - 1;
        self.table.inner.stats.record(
            self.prepare_attempts as u64,
            lost as u64,
            rebased_over,
            Outcome::Committed,
            elapsed,
        );
        CommitReport {
            version: prepared.version,
            snapshot_id: state.metadata.current_snapshot_id.unwrap_or(self.snapshot_id),
            sequence_number: state.metadata.last_sequence_number,
            commit_id: self.commit_id.to_string(),
            attempts: self.prepare_attempts,
            conflicts: lost,
            rebased_over,
            added_files: self.data_files.len(),
            added_records,
            removed_files: self.removed.len(),
            removed_records: self.removed.iter().map(|f| f.record_count).sum(),
            rows: self.rows.clone(),
            elapsed,
        }
    }
}

/// A table a warehouse manages ([`properties::WAREHOUSE`]) is only committed to through
/// the warehouse's catalog: a `v<N+1>` created directly would be a foreign version the
/// catalog does not know.
fn check_managed(table: &Table, md: &TableMetadata) -> Result<()> {
    match md.properties.get(properties::WAREHOUSE) {
        Some(root) => Err(Error::Warehouse(crate::error::WarehouseError::ManagedTable {
            table: table.path().to_path_buf(),
            warehouse: root.clone(),
        })),
        None => Ok(()),
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // Files the background stage is still writing must exist before we delete them.
        let _ = self.join_prestage();
        // A merged manifest no attempt wrote: nothing to delete.
        if let Some(p) = &self.premerged
            && p.bytes.is_some()
        {
            self.created.retain(|c| c != &p.key);
        }
        for p in self.attempt_garbage.drain(..) {
            let _ = self.table.storage().delete(&p);
        }
        if self.committed {
            return;
        }
        if let Some(w) = self.writer.take() {
            for p in w.abort() {
                if !self.created.contains(&p) {
                    self.created.push(p);
                }
            }
        }
        for p in self.created.drain(..) {
            let _ = self.table.storage().delete(&p);
        }
    }
}

/// One attempt's new metadata and the files it needs written before the link.
struct Built {
    metadata: TableMetadata,
    /// Manifests and the manifest list to write, in any order.
    writes: Vec<(Key, Vec<u8>)>,
    /// The new snapshot's manifests (`None` for a metadata-only commit).
    manifests: Option<Arc<Vec<ManifestFile>>>,
}

/// Whether the snapshot `built` names the premerged manifest.
fn premerge_used(built: &Built, p: &Premerged) -> bool {
    let uri = &p.merged.manifest_path;
    built.manifests.as_ref().is_some_and(|ms| ms.iter().any(|m| &m.manifest_path == uri))
}

/// When a handle builds a merge ahead (`merge_ahead`).
///
/// Every writer that sees a list calling for a merge could build it, and with many
/// processes committing they all did at once: each read the ~90 manifests the merge folds
/// (P = 16 on 2 cores: the commits around each merge point took twice as long). The merge
/// is one commit's work, so it is built at once only by the writer whose commit made it
/// due ([`MergeTrigger::Due`]); the others build one only once the list has grown
/// [`late_merge_slack`] past the threshold ([`MergeTrigger::Late`]: that writer may have
/// exited or be slow), and only a list twice the threshold is merged under the lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum MergeTrigger {
    /// At `commit.manifest.min-count-to-merge` small manifests.
    Due,
    /// At `min-count-to-merge` + [`late_merge_slack`].
    Late,
}

/// How far past `min_count` a list grows before any writer builds the merge (half of
/// `min_count`: a merge built by the writer that made it due lands within that many
/// commits unless that writer is gone).
fn late_merge_slack(min_count: usize) -> usize {
    min_count / 2
}

/// Starts building in the background the merge a commit on the snapshot whose manifests
/// are `manifests` calls for (at `trigger`), unless one is already being built or waits to be used.
/// Returns whether a merge is pending (being built or waiting).
fn merge_ahead(
    table: &Table,
    md: Arc<TableMetadata>,
    manifests: Arc<Vec<ManifestFile>>,
    trigger: MergeTrigger,
) -> bool {
    let mut slot = crate::sync::lock(&table.inner.merge_ahead.slot);
    if slot.is_some() {
        return true;
    }
    if !merge_due(&md, &manifests, trigger) {
        return false;
    }
    let key = Key::known(format!("metadata/{}-m0.avro", uuid::Uuid::new_v4()));
    // The location, not the handle: a job holding the handle would keep it alive past
    // the caller's last drop (which waits for the handle's cleanup pass).
    let location = table.location().clone();
    let io_threads = table.inner.options.write.io_threads;
    *slot = Some(crate::sync::spawn(move || -> Result<Option<Premerged>> {
        // The adding snapshot is not known yet: 0 here, set by the commit that adds it.
        let Some((list, bytes)) = maybe_merge(&location, io_threads, &md, &manifests, 0, &key, None)? else {
            return Ok(None);
        };
        let Some(merged) = list.first().cloned() else { return Ok(None) };
        let kept: std::collections::HashSet<&str> = list.iter().skip(1).map(|m| m.manifest_path.as_str()).collect();
        let replaces =
            manifests.iter().filter(|m| !kept.contains(m.manifest_path.as_str())).map(|m| m.manifest_path.clone());
        Ok(Some(Premerged {
            schema_id: md.current_schema_id,
            spec_id: md.default_spec().map_or(0, |s| s.spec_id),
            replaces: replaces.collect(),
            merged,
            key,
            bytes: Some(bytes),
        }))
    }));
    true
}

/// One attempt's result, or the conflicts that stop it.
type Attempt<T> = std::result::Result<T, Vec<Conflict>>;

/// What the removals of one attempt took out of the table.
#[derive(Debug, Default)]
struct Removed {
    files: i64,
    records: i64,
    bytes: i64,
}

/// Whether removals are recorded as `DELETED` entries (see
/// [`properties::WRITE_DELETED_ENTRIES`]).
fn writes_deleted_entries(md: &TableMetadata) -> bool {
    match md.properties.get(properties::WRITE_DELETED_ENTRIES) {
        Some(v) => !v.eq_ignore_ascii_case("false"),
        None => !has_datashard_snapshots(md),
    }
}

/// Removes snapshot `id` from `md` if it is the current snapshot: the current
/// snapshot (and `main`) go back to its parent, its snapshot-log entry and any ref to
/// it are dropped. Fails if a later commit has made another snapshot current.
fn revert_snapshot(md: &mut TableMetadata, id: i64) -> Result<()> {
    if md.current_snapshot_id != Some(id) {
        return Err(Error::Unsupported {
            what: format!("reverting snapshot {id}: it is no longer the current snapshot (a later commit built on it)"),
        });
    }
    let parent = md.snapshot(id).and_then(|s| s.parent_snapshot_id).filter(|p| md.snapshot(*p).is_some());
    let main_extra = md.refs.get("main").map(|r| r.extra.clone()).unwrap_or_default();
    md.snapshots.retain(|s| s.snapshot_id != id);
    md.snapshot_log.retain(|e| e.snapshot_id != id);
    md.refs.retain(|_, r| r.snapshot_id != id);
    md.current_snapshot_id = parent;
    if let Some(p) = parent {
        md.refs.insert("main".into(), SnapshotRef { snapshot_id: p, ref_type: "branch".into(), extra: main_extra });
    }
    Ok(())
}

/// Whether a snapshot of `md` was written by datashard (its summary has `datashard.`
/// keys).
fn has_datashard_snapshots(md: &TableMetadata) -> bool {
    // Worked out once per metadata (a commit asks several times) and per snapshot (a
    // snapshot is shared by the versions that retain it).
    *md.datashard_snapshots.get_or_init(|| md.snapshots.iter().any(|s| s.is_datashard()))
}

/// Whether datashard writes to this table: the base has a datashard snapshot, or
/// [`properties::WRITE_DELETED_ENTRIES`] is `false` (written by the first commit that
/// saw one, see [`remember_datashard`], or set by a user whose table datashard
/// shares). Data files for such a table leave uuid columns without the Parquet `UUID`
/// logical type, which datashard 0.11.2 cannot read beside its own uuid files.
pub(crate) fn datashard_writes_here(md: &TableMetadata) -> bool {
    md.properties.get(properties::WRITE_DELETED_ENTRIES).is_some_and(|v| v.eq_ignore_ascii_case("false"))
        || has_datashard_snapshots(md)
}

/// Makes "datashard writes to this table" durable: the default of
/// [`properties::WRITE_DELETED_ENTRIES`] is inferred from datashard's snapshots, which
/// leave the metadata (the commit-time trim, expiry), after which floe would write
/// `DELETED` entries that datashard reads as live rows. So every commit (metadata-only
/// ones too) whose base has such a snapshot and no explicit property writes it as
/// `false` into the new version; an explicit value is never changed.
fn remember_datashard(new_md: &mut TableMetadata, base: &TableMetadata) {
    if !new_md.properties.contains_key(properties::WRITE_DELETED_ENTRIES) && has_datashard_snapshots(base) {
        new_md.properties.insert(properties::WRITE_DELETED_ENTRIES.to_string(), "false".to_string());
    }
}

/// The entries of the `previous` metadata log that the `next` one no longer names.
///
/// A commit's log is its parent's with the oldest entries dropped and the parent
/// appended, so the entries that left are those before the first entry of `next`, when
/// the rest of `previous` opens `next`; found that way with a few string comparisons
/// (every commit asks, of ~100 entries). Any other pair of logs (another engine's
/// edits) is compared by name.
fn left_the_log<'a>(previous: &'a [MetadataLogEntry], next: &[MetadataLogEntry]) -> Vec<&'a MetadataLogEntry> {
    let start = next.first().and_then(|first| previous.iter().position(|e| e == first));
    if let Some(start) = start
        && next.len() >= previous.len() - start
        && previous[start..] == next[..previous.len() - start]
    {
        return previous[..start].iter().collect();
    }
    let keep: std::collections::HashSet<&str> = next.iter().map(|e| e.metadata_file.as_str()).collect();
    previous.iter().filter(|e| !keep.contains(e.metadata_file.as_str())).collect()
}

/// Deletes stray version files below the kept window after a commit (only called
/// with `write.metadata.delete-after-commit.enabled`). Each commit deletes the
/// versions its own metadata log pushed out; a writer killed between its link and
/// that cleanup, a failed delete, or another engine's commit leaves a version below
/// the window that no later log names, so no later commit would delete it.
///
/// The window's floor `F` is the lower of the lowest `v<k>` the new metadata log names
/// and `N - previous-versions-max` (a version in the log is never deleted, nor one of
/// the newest `previous-versions-max` if another engine wrote a shorter log; with no
/// parsable `v<k>` entry nothing is). The commit
/// path stays cheap: a full sweep (one listing of `metadata/`, deleting every
/// `v<k>.metadata.json` with `k < F`) runs only when `v<F-1>` or `v<F-2>` exists (two
/// `exists` per commit: the versions the previous two commits should have deleted, so
/// a killed writer's stray is found by the next commit), or once every
/// `write.metadata.previous-versions-max` versions (strays from other causes, at the
/// amortized cost of one listing per that many commits; on an object store, where the
/// two checks are requests, only this). Best effort: errors are ignored (orphan cleanup
/// also removes old version files).
fn sweep_stray_versions(location: &TableLocation, io_threads: usize, state: &TableState) {
    let floor = state.metadata.metadata_log.iter().filter_map(|e| location.version_named(&e.metadata_file)).min();
    let Some(floor) = floor else { return };
    let max_prev = state.metadata.property_i64(properties::PREVIOUS_VERSIONS_MAX, 100).max(1) as u64;
    let floor = floor.min(state.version.saturating_sub(max_prev));
    let store = location.store().as_ref();
    let exists = |k: u64| matches!(store.exists(&location.version_file(k)), Ok(true));
    // On an object store each check is a request (two per commit): there the periodic
    // listing alone finds strays, within `previous-versions-max` commits.
    let suspect =
        !is_object_store(store) && (1..=2).filter_map(|d| floor.checked_sub(d)).filter(|k| *k >= 1).any(exists);
    if !suspect && !state.version.is_multiple_of(max_prev) {
        return;
    }
    let Ok(versions) = list_versions(location) else { return };
    let strays: Vec<Key> = versions.into_iter().filter(|k| *k < floor).map(|k| location.version_file(k)).collect();
    let _ = store.delete_many(&strays, io_threads);
}

/// Deletes the version files that left the metadata log with the commit of `state`
/// (`dropped`), then sweeps stray versions, on the worker pool once the commit returns.
///
/// Why not before returning: on a disk mounted with online discard, unlinking a version
/// file that was fsynced waits for the device (~0.15 ms of a durable single-row append
/// on the test machine, docs/benchmarks.md); off the caller's path it overlaps the
/// caller's next steps instead. Nothing depends on these files being gone: they are
/// outside the log, so no reader or writer is sent to them, and a process that dies
/// first leaves strays the next commit's sweep (or orphan cleanup) deletes. A handle
/// has one such job at a time: a commit joins the previous one first (done by then
/// unless the device is behind, which it then waits for) and the handle's last drop
/// joins the last one.
fn retire_versions(table: &Table, dropped: Vec<Key>, state: &TableState) {
    let mut slot = crate::sync::lock(&table.inner.retiring);
    if let Some(previous) = slot.take() {
        let _ = previous.join();
    }
    // The location, not the handle: a job holding the handle would keep it alive past
    // the caller's last drop (which waits for this job).
    let location = table.location().clone();
    let io_threads = table.inner.options.write.io_threads;
    let state = state.clone();
    *slot = Some(crate::sync::spawn(move || {
        // One `delete_many`: on an object store a bulk delete without a HEAD first.
        if !dropped.is_empty() {
            let _ = location.store().delete_many(&dropped, io_threads);
        }
        sweep_stray_versions(&location, io_threads, &state);
    }));
}

/// The URI of the metadata file of `state`, as the metadata log records it.
fn previous_uri(location: &TableLocation, state: &TableState) -> String {
    location.uri(&state.metadata_key)
}

/// Records the superseded metadata file in the metadata log, trimmed to
/// `write.metadata.previous-versions-max`.
pub(crate) fn push_metadata_log(md: &mut TableMetadata, previous: &TableState, location: &TableLocation) {
    if previous.version > 0 {
        md.metadata_log.push(MetadataLogEntry {
            timestamp_ms: previous.metadata.last_updated_ms,
            metadata_file: previous_uri(location, previous),
        });
    }
    let max_prev = md.property_i64(properties::PREVIOUS_VERSIONS_MAX, 100).max(1) as usize;
    if md.metadata_log.len() > max_prev {
        let excess = md.metadata_log.len() - max_prev;
        md.metadata_log.drain(..excess);
    }
}

/// How an ambiguous commit point turned out.
enum Resolved {
    /// Our bytes are the version.
    Landed,
    /// Another writer's version (its bytes when read), or none at all (a 409 to a
    /// create that did not land).
    Lost(Option<bytes::Bytes>),
}

fn read_only_error() -> Error {
    Error::Unsupported {
        what: "committing to a table opened from a catalog-style metadata file (no v<N> version sequence)".into(),
    }
}

/// A random positive 63-bit snapshot id.
fn new_snapshot_id() -> i64 {
    let (hi, lo) = uuid::Uuid::new_v4().as_u64_pair();
    ((hi ^ lo) & (i64::MAX as u64)).max(1) as i64
}

/// What landed between `base` and `latest`, for a compare-and-commit error.
fn describe_landed(table: &Table, base: &TableState, latest: &TableState) -> Vec<Conflict> {
    let mut out = Vec::new();
    let first = base.version + 1;
    let last = latest.version;
    for v in first..=last.min(first + 31) {
        let op = if v == latest.version { Some(latest.clone()) } else { load_version(table.location(), v).ok() }
            .and_then(|s| s.metadata.current_snapshot().map(|sn| (sn.snapshot_id, sn.operation().to_string())));
        let (snapshot_id, operation) = op.map_or((None, None), |(id, op)| (Some(id), Some(op)));
        out.push(Conflict::new(v, operation, ConflictKind::CommittedSinceBase { snapshot_id }));
    }
    out
}

/// Keeps the newest `floe.commit.retain-snapshots` snapshots (0 = all), plus any
/// snapshot a ref points at. Expired snapshots' files are left for maintenance.
fn retain_snapshots(md: &mut TableMetadata) {
    let keep = md.property_i64(properties::RETAIN_SNAPSHOTS, 0);
    if keep <= 0 || md.snapshots.len() as i64 <= keep {
        return;
    }
    let mut by_age: Vec<(i64, i64)> = md.snapshots.iter().map(|s| (s.sequence_number, s.snapshot_id)).collect();
    by_age.sort();
    let cut = by_age.len() - keep as usize;
    let referenced: std::collections::HashSet<i64> = md.refs.values().map(|r| r.snapshot_id).collect();
    let expired: std::collections::HashSet<i64> =
        by_age[..cut].iter().map(|(_, id)| *id).filter(|id| !referenced.contains(id)).collect();
    md.snapshots.retain(|s| !expired.contains(&s.snapshot_id));
    md.snapshot_log.retain(|e| !expired.contains(&e.snapshot_id));
}

/// The parent snapshot's manifests, from the handle's cache when it is the one we
/// committed last (the common single-writer case reads nothing). Matched by list URI,
/// so a relocated snapshot (same id, rewritten list) is read again.
fn cached_manifest_list(table: &Table, snapshot: &Snapshot) -> Result<Arc<Vec<ManifestFile>>> {
    if let Some((uri, list)) = crate::sync::lock(&table.inner.manifest_cache).as_ref()
        && *uri == snapshot.manifest_list
    {
        return Ok(list.clone());
    }
    let list = Arc::new(load_manifest_list(table.location(), snapshot)?);
    *crate::sync::lock(&table.inner.manifest_cache) = Some((snapshot.manifest_list.clone(), list.clone()));
    Ok(list)
}

/// The manifests of `snapshot` if the handle has them decoded (no I/O).
fn peek_manifest_list(table: &Table, snapshot: &Snapshot) -> Option<Arc<Vec<ManifestFile>>> {
    let cache = crate::sync::lock(&table.inner.manifest_cache);
    cache.as_ref().filter(|(uri, _)| *uri == snapshot.manifest_list).map(|(_, list)| list.clone())
}

/// Whether a commit on `parent` would merge (commit-time merging, no forced count), at
/// `trigger`.
fn merge_due(md: &TableMetadata, parent: &[ManifestFile], trigger: MergeTrigger) -> bool {
    if !md.property_bool(properties::MANIFEST_MERGE_ENABLED, true) {
        return false;
    }
    let min_count = md.property_i64(properties::MANIFEST_MIN_COUNT_TO_MERGE, 100).max(2) as usize;
    let target = md.property_i64(properties::MANIFEST_TARGET_SIZE, 8 * 1024 * 1024);
    let Some(spec) = md.default_spec() else { return false };
    let small = parent.iter().filter(|m| {
        m.content == ManifestContent::Data && m.partition_spec_id == spec.spec_id && m.manifest_length < target
    });
    let slack = if trigger == MergeTrigger::Late { late_merge_slack(min_count) } else { 0 };
    small.count() >= min_count + slack
}

/// Commit-time manifest merging: once the parent has `commit.manifest.min-count-to-merge`
/// manifests, fold the small data manifests of the default spec into one, so the
/// manifest list (rewritten on every commit) stays bounded.
fn maybe_merge(
    location: &TableLocation,
    io_threads: usize,
    md: &TableMetadata,
    parent: &[ManifestFile],
    snapshot_id: i64,
    path: &Key,
    forced_min_count: Option<usize>,
) -> Result<Option<(Vec<ManifestFile>, Vec<u8>)>> {
    if forced_min_count.is_none() && !md.property_bool(properties::MANIFEST_MERGE_ENABLED, true) {
        return Ok(None);
    }
    let min_count = match forced_min_count {
        Some(n) => n.max(2),
        None => md.property_i64(properties::MANIFEST_MIN_COUNT_TO_MERGE, 100).max(2) as usize,
    };
    let target = md.property_i64(properties::MANIFEST_TARGET_SIZE, 8 * 1024 * 1024);
    let Some(spec) = md.default_spec() else { return Ok(None) };
    let (small, rest): (Vec<&ManifestFile>, Vec<&ManifestFile>) = parent.iter().partition(|m| {
        m.content == ManifestContent::Data && m.partition_spec_id == spec.spec_id && m.manifest_length < target
    });
    if small.len() < min_count {
        return Ok(None);
    }
    // At commit time, merge in tiers so a merged manifest is not rewritten by the next
    // merge (which made the merge cost grow with the table): manifests are grouped by
    // level (log base f of their file count, f = ceil(sqrt(min_count))), and only the
    // lowest level with at least f members is merged. With at most a few levels of
    // fewer than f manifests each, that level exists whenever the count reaches
    // min_count, so the list stays below min_count as before; each entry is rewritten
    // once per level. `Table::merge_manifests` (forced) still merges every small one.
    let (small, rest) = if forced_min_count.is_some() { (small, rest) } else { tier(small, rest, min_count) };
    if small.len() < 2 {
        return Ok(None);
    }
    let mut entries = Vec::new();
    let uris: Vec<&str> = small.iter().map(|m| m.manifest_path.as_str()).collect();
    for (m, (file, bytes)) in small.iter().zip(read_files_at(location, io_threads, &uris)?) {
        let manifest = read_manifest(&file.path(), &bytes, Some(m))?;
        for mut e in manifest.entries {
            if e.status == EntryStatus::Deleted {
                continue;
            }
            e.status = EntryStatus::Existing;
            entries.push(e);
        }
    }
    let schema = md.current_schema();
    let ctx = ManifestWriteContext { schema, spec, content: ManifestContent::Data };
    let bytes = write_manifest(&ctx, &entries)?;
    let min_seq = entries.iter().filter_map(|e| e.sequence_number).min().unwrap_or(0);
    let merged = ManifestFile {
        manifest_path: location.uri(path),
        manifest_length: bytes.len() as i64,
        partition_spec_id: spec.spec_id,
        content: ManifestContent::Data,
        sequence_number: md.last_sequence_number + 1,
        min_sequence_number: min_seq,
        added_snapshot_id: snapshot_id,
        added_files_count: 0,
        existing_files_count: entries.len() as i32,
        deleted_files_count: 0,
        added_rows_count: 0,
        existing_rows_count: entries.iter().map(|e| e.data_file.record_count).sum(),
        deleted_rows_count: 0,
        partitions: Some(partition_summaries(spec, schema, entries.iter().map(|e| &e.data_file))?),
        key_metadata: None,
    };
    let mut out = vec![merged];
    out.extend(rest.into_iter().cloned());
    Ok(Some((out, bytes)))
}

/// The manifests of the lowest tier with at least f = ceil(sqrt(min_count)) members
/// (to merge), and all the others (kept as they are, in their order).
fn tier<'a>(
    small: Vec<&'a ManifestFile>,
    mut rest: Vec<&'a ManifestFile>,
    min_count: usize,
) -> (Vec<&'a ManifestFile>, Vec<&'a ManifestFile>) {
    let f = ((min_count as f64).sqrt().ceil() as i64).max(2);
    let level = |m: &ManifestFile| {
        let files = (m.added_files_count as i64 + m.existing_files_count as i64 + m.deleted_files_count as i64).max(1);
        let (mut l, mut n) = (0u32, files);
        while n >= f {
            n /= f;
            l += 1;
        }
        l
    };
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for m in &small {
        *counts.entry(level(m)).or_default() += 1;
    }
    let Some(chosen) = counts.iter().find(|(_, c)| **c as i64 >= f).map(|(l, _)| *l) else {
        rest.extend(small);
        return (Vec::new(), rest);
    };
    let (merge, keep): (Vec<&ManifestFile>, Vec<&ManifestFile>) = small.into_iter().partition(|m| level(m) == chosen);
    rest.extend(keep);
    (merge, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table whose snapshots have these summary keys (besides `operation`).
    fn with_summaries(summaries: &[&[&str]]) -> TableMetadata {
        let snapshots: Vec<String> = summaries
            .iter()
            .enumerate()
            .map(|(i, keys)| {
                let extra: String = keys.iter().map(|k| format!(r#","{k}":"1""#)).collect();
                format!(
                    r#"{{"snapshot-id":{},"sequence-number":1,"timestamp-ms":1,"manifest-list":"file:///t/m{i}.avro","summary":{{"operation":"append"{extra}}}}}"#,
                    i + 1
                )
            })
            .collect();
        let json = format!(
            r#"{{"format-version":2,"table-uuid":"u","location":"file:///t","last-sequence-number":1,
            "last-updated-ms":1,"last-column-id":1,"schemas":[{{"type":"struct","schema-id":0,"fields":[
            {{"id":1,"name":"id","required":true,"type":"long"}}]}}],"current-schema-id":0,
            "partition-specs":[{{"spec-id":0,"fields":[]}}],"default-spec-id":0,"last-partition-id":999,
            "sort-orders":[{{"order-id":0,"fields":[]}}],"default-sort-order-id":0,"snapshots":[{}]}}"#,
            snapshots.join(",")
        );
        TableMetadata::from_json_bytes(std::path::Path::new("v1.metadata.json"), json.as_bytes()).unwrap()
    }

    #[test]
    fn a_datashard_snapshot_is_one_with_any_datashard_key() {
        let cases: [(&[&[&str]], bool); 7] = [
            (&[], false),
            (&[&["added-records", "total-records"]], false),
            (&[&["datashard", "datashardx", "datashard-x", "zz"]], false),
            (&[&["added-records"], &["datashard.transaction-id"]], true),
            (&[&["datashard."]], true),
            (&[&["a", "datashard.z", "zz"], &[]], true),
            (&[&["datashardz", "datashard.a"]], true),
        ];
        for (summaries, want) in cases {
            let md = with_summaries(summaries);
            assert_eq!(has_datashard_snapshots(&md), want, "{summaries:?}");
            assert_eq!(datashard_writes_here(&md), want, "{summaries:?}");
        }
    }

    /// The entries a commit's log dropped: the oldest ones in the usual sliding window,
    /// and, for logs another engine edited, every entry the new log does not name.
    #[test]
    fn left_the_log_finds_the_dropped_entries() {
        let e = |v: u64| MetadataLogEntry {
            timestamp_ms: v as i64,
            metadata_file: format!("file:///t/metadata/v{v}.metadata.json"),
        };
        let log = |vs: &[u64]| vs.iter().map(|v| e(*v)).collect::<Vec<_>>();
        let left = |p: &[u64], n: &[u64]| {
            left_the_log(&log(p), &log(n)).into_iter().map(|x| x.timestamp_ms as u64).collect::<Vec<_>>()
        };
        assert_eq!(left(&[1, 2, 3], &[2, 3, 4]), [1]);
        assert_eq!(left(&[1, 2, 3], &[3, 4]), [1, 2]);
        assert_eq!(left(&[1, 2, 3], &[1, 2, 3, 4]), Vec::<u64>::new());
        assert_eq!(left(&[1, 2, 3], &[4]), [1, 2, 3], "a window of one");
        assert_eq!(left(&[], &[4]), Vec::<u64>::new());
        assert_eq!(left(&[1, 2], &[]), [1, 2]);
        // Not a window: compared by name.
        assert_eq!(left(&[1, 2, 3], &[2, 9, 3]), [1]);
        assert_eq!(left(&[1, 2, 3, 2], &[2, 3, 4]), [1]);
        let mut edited = log(&[2, 3]);
        edited[1].timestamp_ms = 99;
        assert_eq!(left_the_log(&log(&[1, 2, 3]), &edited).len(), 1, "same files, another time: only v1 left");
    }

    /// The answer is worked out once per metadata, and a clone (what a commit edits)
    /// works it out again: a datashard snapshot added to the clone of metadata already
    /// asked is seen.
    #[test]
    fn the_datashard_answer_is_not_carried_into_an_edited_clone() {
        let md = with_summaries(&[&["added-records"]]);
        assert!(!has_datashard_snapshots(&md));
        let mut edited = md.clone();
        let theirs = with_summaries(&[&["datashard.transaction-id"]]);
        edited.snapshots.push(theirs.snapshots[0].clone());
        assert!(has_datashard_snapshots(&edited));
        assert!(!has_datashard_snapshots(&md), "the original keeps its own answer");
        assert_eq!(edited.clone(), edited, "the cached answer takes no part in equality");
    }
}
