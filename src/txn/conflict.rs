//! Conflict detection on rebase: what landed between a transaction's base and the
//! newest version, and the rules (docs/conflicts.md) that decide
//! whether the transaction may be rebased over it.
//!
//! Promises: [`ConflictContext::landed`] lists every snapshot committed on the
//! current branch after the base, oldest first, with the data files each one added
//! and removed, read from the manifests those snapshots wrote; when that history can
//! no longer be reconstructed (snapshots expired meanwhile, history rolled back) it
//! says so with [`ConflictContext::history_rewritten`] rather than guessing, and the
//! default rules treat that as a conflict for anything but a plain append.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::error::{Conflict, ConflictKind, Result};
use crate::spec::manifest::{DataFile, EntryStatus, ManifestContent, read_manifest};
use crate::spec::metadata::TableMetadata;
use crate::table::{Table, TableState, load_manifest_list};

/// A snapshot that was committed after a transaction's base.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LandedCommit {
    /// Its snapshot id.
    pub snapshot_id: i64,
    /// Its sequence number.
    pub sequence_number: i64,
    /// The summary's `operation` (`append`, `overwrite`, `delete`, `replace`).
    pub operation: String,
    /// Data files it added.
    pub added: Vec<DataFile>,
    /// Data files it removed.
    pub removed: Vec<DataFile>,
    /// Delete files (merge-on-read) it added.
    pub added_deletes: Vec<DataFile>,
}

/// What a validator sees when its transaction is about to be rebased: the base it
/// read, the newest version it would commit on, and (lazily) what landed between.
pub struct ConflictContext<'a> {
    table: &'a Table,
    base: &'a TableState,
    latest: &'a TableState,
    landed: OnceLock<std::result::Result<(Vec<LandedCommit>, bool), String>>,
}

impl std::fmt::Debug for ConflictContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConflictContext")
            .field("base_version", &self.base.version)
            .field("latest_version", &self.latest.version)
            .finish()
    }
}

impl<'a> ConflictContext<'a> {
    pub(crate) fn new(table: &'a Table, base: &'a TableState, latest: &'a TableState) -> Self {
        ConflictContext { table, base, latest, landed: OnceLock::new() }
    }

    /// The version the transaction started from.
    pub fn base_version(&self) -> u64 {
        self.base.version
    }

    /// The version the transaction would now commit on top of.
    pub fn latest_version(&self) -> u64 {
        self.latest.version
    }

    /// The metadata the transaction read.
    pub fn base_metadata(&self) -> &TableMetadata {
        &self.base.metadata
    }

    /// The newest metadata.
    pub fn latest_metadata(&self) -> &TableMetadata {
        &self.latest.metadata
    }

    /// Whether the current schema changed since the base.
    pub fn schema_changed(&self) -> bool {
        self.base.metadata.current_schema_id != self.latest.metadata.current_schema_id
    }

    /// Whether the default partition spec changed since the base.
    pub fn spec_changed(&self) -> bool {
        self.base.metadata.default_spec_id != self.latest.metadata.default_spec_id
    }

    /// Snapshots committed on the current branch after the base, oldest first.
    pub fn landed(&self) -> Result<&[LandedCommit]> {
        match self.landed_inner() {
            Ok((v, _)) => Ok(v),
            Err(e) => Err(crate::error::Error::corrupt(&self.latest.metadata_path, e.clone())),
        }
    }

    /// True when the newest current snapshot does not descend from the base's (a
    /// rollback, or history expired faster than it could be followed): the landed
    /// changes cannot be listed completely.
    pub fn history_rewritten(&self) -> Result<bool> {
        match self.landed_inner() {
            Ok((_, rewritten)) => Ok(*rewritten),
            Err(e) => Err(crate::error::Error::corrupt(&self.latest.metadata_path, e.clone())),
        }
    }

    /// A conflict found at the newest version, not tied to one landed commit (a
    /// validator's rule is [`ConflictKind::Custom`]).
    pub fn conflict(&self, kind: ConflictKind) -> Conflict {
        Conflict::new(self.latest.version, None, kind)
    }

    /// A conflict with one landed commit (its operation is recorded).
    pub fn conflict_with(&self, landed: &LandedCommit, kind: ConflictKind) -> Conflict {
        Conflict::new(self.latest.version, Some(landed.operation.clone()), kind)
    }

    /// A schema change since the base.
    pub(crate) fn schema_conflict(&self) -> Conflict {
        self.conflict(ConflictKind::SchemaChanged {
            base_schema_id: self.base.metadata.current_schema_id,
            schema_id: self.latest.metadata.current_schema_id,
        })
    }

    /// A spec change since the base.
    pub(crate) fn spec_conflict(&self) -> Conflict {
        self.conflict(ConflictKind::SpecChanged {
            base_spec_id: self.base.metadata.default_spec_id,
            spec_id: self.latest.metadata.default_spec_id,
        })
    }

    fn landed_inner(&self) -> &std::result::Result<(Vec<LandedCommit>, bool), String> {
        self.landed.get_or_init(|| self.compute_landed().map_err(|e| e.to_string()))
    }

    fn compute_landed(&self) -> Result<(Vec<LandedCommit>, bool)> {
        let base_md = &self.base.metadata;
        let md = &self.latest.metadata;
        let base_snapshot = base_md.current_snapshot_id;
        let floor = base_md.last_sequence_number;
        let mut chain = Vec::new();
        let mut reached_base = base_snapshot.is_none();
        let mut cursor = md.current_snapshot();
        let mut seen = HashSet::new();
        while let Some(s) = cursor {
            if Some(s.snapshot_id) == base_snapshot {
                reached_base = true;
                break;
            }
            if s.sequence_number <= floor || !seen.insert(s.snapshot_id) {
                break;
            }
            chain.push(s);
            cursor = s.parent_snapshot_id.and_then(|p| md.snapshot(p));
        }
        chain.reverse();
        let mut out = Vec::with_capacity(chain.len());
        for s in chain {
            let mut landed = LandedCommit {
                snapshot_id: s.snapshot_id,
                sequence_number: s.sequence_number,
                operation: s.operation().to_string(),
                added: Vec::new(),
                removed: Vec::new(),
                added_deletes: Vec::new(),
            };
            for m in load_manifest_list(self.table.location(), s)? {
                if m.added_snapshot_id != s.snapshot_id {
                    continue;
                }
                let file = self.table.location().resolve(&m.manifest_path)?;
                for e in read_manifest(&file.path(), &file.read()?, Some(&m))?.entries {
                    if e.snapshot_id != Some(s.snapshot_id) {
                        continue;
                    }
                    if m.content == ManifestContent::Deletes {
                        if e.status == EntryStatus::Added {
                            landed.added_deletes.push(e.data_file);
                        }
                        continue;
                    }
                    match e.status {
                        EntryStatus::Added => landed.added.push(e.data_file),
                        EntryStatus::Deleted => landed.removed.push(e.data_file),
                        EntryStatus::Existing => {}
                    }
                }
            }
            out.push(landed);
        }
        Ok((out, !reached_base))
    }
}

/// A check run on every rebase; returns the conflicts it finds (empty = rebase).
pub type Validator = dyn Fn(&ConflictContext<'_>) -> Result<Vec<Conflict>> + Send + Sync;

/// docs/conflicts.md, the append row: an append rebases over anything except a schema
/// change that no longer accepts its files, or the loss of the spec its files were written with.
pub(crate) fn append_conflicts(base: &TableState, latest: &TableState) -> Vec<Conflict> {
    let mut out = Vec::new();
    let (b, l) = (&base.metadata, &latest.metadata);
    if l.current_schema_id != b.current_schema_id && !l.current_schema().accepts_files_of(b.current_schema()) {
        out.push(Conflict::new(
            latest.version,
            None,
            ConflictKind::SchemaChanged { base_schema_id: b.current_schema_id, schema_id: l.current_schema_id },
        ));
    }
    // Our files keep the spec they were written with (the manifest records its id), as
    // Iceberg allows for files of any of a table's specs: a new default spec does not
    // stop the rebase as long as ours is still one of the table's specs.
    if l.default_spec_id != b.default_spec_id && !l.partition_specs.iter().any(|s| s.spec_id == b.default_spec_id) {
        out.push(Conflict::new(
            latest.version,
            None,
            ConflictKind::SpecChanged { base_spec_id: b.default_spec_id, spec_id: l.default_spec_id },
        ));
    }
    out
}

/// The rules every transaction that removes files obeys, whatever else it checks:
/// it conflicts with a schema or spec change and, when `check_history`, with
/// rewritten history (a replace that keeps the rows does not need the history). (A
/// file it removes having been removed concurrently is found when its manifests are
/// rewritten on the new base.)
pub(crate) fn rewrite_conflicts(ctx: &ConflictContext<'_>, check_history: bool) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    if ctx.schema_changed() {
        out.push(ctx.schema_conflict());
    }
    if ctx.spec_changed() {
        out.push(ctx.spec_conflict());
    }
    if check_history && ctx.history_rewritten()? {
        out.push(ctx.conflict(ConflictKind::HistoryRewritten));
    }
    Ok(out)
}
