//! Row-level changes: delete and overwrite by predicate, upsert and insert-if-absent by
//! key, and lookups by key; by copy-on-write, or by merge-on-read when the table's
//! `write.*.mode` property says so.
//!
//! Merge-on-read writes a position delete file per data file with changed rows. To find
//! those rows it decodes only the columns the predicate or keys need, only in the row
//! groups and pages whose statistics may match (positions stay exact across the ones
//! skipped), files in parallel on up to [`crate::sync::cpu_workers`] threads, each
//! writing its delete file as soon as its positions are known; no other column is
//! decoded and no row copied. A file whose every live row matches is removed instead.
//!
//! Copy-on-write: a data file holding rows to change is never edited: it is removed (a `DELETED`
//! manifest entry) and, if some of its rows stay, those rows are written to a new file
//! in the same transaction. Which files to read comes from a pruned scan of the
//! transaction's base snapshot ([`crate::Scan::filter`]); which rows change is decided
//! exactly, row by row.
//!
//! Concurrency (docs/conflicts.md): every operation here declares what it
//! read. The commit loop already refuses to rebase when a file this transaction removes
//! was removed or rewritten by a commit that landed first, or when the schema or
//! partition spec changed. Under [`Isolation::Serializable`] (the default) an operation
//! also conflicts when a commit that landed first *added* files that may hold rows
//! matching its predicate or keys, judged by those files' column bounds and partition
//! values (so writers of disjoint key ranges or partitions do not conflict);
//! `insert_if_absent` also conflicts when such files were *removed* (a key it saw may be
//! gone). Under [`Isolation::Snapshot`] those added rows are simply kept.
//!
//! Promises: a row-level operation must be the first change staged in its transaction
//! (a typed error otherwise, because it reads the base snapshot and would not see rows
//! staged before it); nothing is visible until commit; keys must be non-null and, in one
//! call, unique (`upsert`) or are de-duplicated first-wins (`insert_if_absent`). Keys
//! are converted to the key columns' types by the table's exact rules, then encoded and
//! hashed in arrow-row's format (as partition tuples are): two keys are equal when every
//! value is, floats by their IEEE 754 total order (`-0.0` is not `0.0`, NaN is NaN), as
//! in predicates; a row whose key has a null matches no key.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_row::{Row, RowConverter, Rows, SortField};
use arrow_select::filter::filter_record_batch;

use crate::data::write::conform_batch;
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::expr::{BoundPredicate, Literal, Predicate, col, partition_value_stats};
use crate::scan::ScanPlan;
use crate::spec::manifest::DataFile;
use crate::spec::metadata::TableMetadata;
use crate::spec::transform::datum_at;
use crate::spec::types::{PrimitiveType, Schema, primitive_to_arrow};
use crate::spec::values::Datum;
use crate::table::{Table, properties};
use crate::txn::conflict::ConflictContext;
use crate::txn::deletes::{PositionDeleteWriter, WrittenDelete};
use crate::txn::{CommitReport, Transaction};

/// How strictly a row-level operation checks commits that landed after it read the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Conflict when a concurrent commit added rows that may match what this operation
    /// read (its predicate or keys): the result is as if the transactions ran one after
    /// the other. The default.
    #[default]
    Serializable,
    /// Only conflict on files both transactions changed (and schema/spec changes); rows
    /// added concurrently that match the predicate survive.
    Snapshot,
}

/// What a row-level operation staged, and (in [`CommitReport::rows`]) what its commit
/// changed.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RowChanges {
    /// Data files read because they may hold affected rows.
    pub files_scanned: usize,
    /// Files removed whole (every row affected).
    pub files_removed: usize,
    /// Files removed and rewritten without the affected rows.
    pub files_rewritten: usize,
    /// Rows deleted or replaced.
    pub rows_removed: u64,
    /// Unaffected rows copied from rewritten files into new files.
    pub rows_copied: u64,
    /// New rows written (overwrite, upsert, insert-if-absent).
    pub rows_added: u64,
    /// Merge-on-read: position delete files written (one per data file with deleted
    /// rows that keeps some rows; such files are neither removed nor rewritten).
    pub delete_files_added: usize,
    /// Insert-if-absent: keys not inserted because the table already held them (or an
    /// earlier row of the same call did), in input order, one `Vec` of key values per
    /// skipped row.
    pub keys_skipped: Vec<Vec<Datum>>,
}

impl RowChanges {
    /// Adds `other`'s counts (and skipped keys) to these.
    pub(crate) fn add(&mut self, other: &RowChanges) {
        self.files_scanned += other.files_scanned;
        self.files_removed += other.files_removed;
        self.files_rewritten += other.files_rewritten;
        self.rows_removed += other.rows_removed;
        self.rows_copied += other.rows_copied;
        self.rows_added += other.rows_added;
        self.delete_files_added += other.delete_files_added;
        self.keys_skipped.extend(other.keys_skipped.iter().cloned());
    }
}

/// Row-level operations on a transaction with a chosen [`Isolation`]
/// (see [`Transaction::with_isolation`]).
#[derive(Debug)]
pub struct RowOps<'a> {
    tx: &'a mut Transaction,
    isolation: Isolation,
}

impl Transaction {
    /// Row-level operations checked with `isolation` instead of the default
    /// [`Isolation::Serializable`]: `tx.with_isolation(Isolation::Snapshot).delete(p)`.
    pub fn with_isolation(&mut self, isolation: Isolation) -> RowOps<'_> {
        RowOps { tx: self, isolation }
    }

    /// Deletes the rows for which `predicate` is true (serializable). Files whose rows
    /// all match are removed; files with some matching rows are rewritten without them.
    ///
    /// ```no_run
    /// # fn main() -> floe::Result<()> {
    /// use floe::expr::col;
    /// let table = floe::Table::open("./events")?;
    /// let mut tx = table.new_transaction();
    /// let changes = tx.delete(col("day").lt("2024-01-01"))?;
    /// tx.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn delete(&mut self, predicate: Predicate) -> Result<RowChanges> {
        self.with_isolation(Isolation::Serializable).delete(predicate)
    }

    /// Replaces the rows matching `predicate` with `batches`, atomically (serializable).
    pub fn overwrite(&mut self, predicate: Predicate, batches: &[RecordBatch]) -> Result<RowChanges> {
        self.with_isolation(Isolation::Serializable).overwrite(predicate, batches)
    }

    /// Replaces the rows matching `predicate` with `batches` as SQL's `UPDATE` does
    /// (serializable): [`Transaction::overwrite`], except that Iceberg's
    /// `write.update.mode` (not `write.delete.mode`) chooses copy-on-write or
    /// merge-on-read for the rows replaced. `batches` are the updated rows.
    pub fn update(&mut self, predicate: Predicate, batches: &[RecordBatch]) -> Result<RowChanges> {
        self.with_isolation(Isolation::Serializable).update(predicate, batches)
    }

    /// Replaces every row of the table with `batches` (serializable).
    pub fn overwrite_all(&mut self, batches: &[RecordBatch]) -> Result<RowChanges> {
        self.with_isolation(Isolation::Serializable).overwrite_all(batches)
    }

    /// Inserts `batches`, replacing the rows whose `key_columns` values they carry
    /// (serializable).
    pub fn upsert(&mut self, key_columns: &[&str], batches: &[RecordBatch]) -> Result<RowChanges> {
        self.with_isolation(Isolation::Serializable).upsert(key_columns, batches)
    }

    /// Inserts only the rows of `batches` whose key is not in the table yet (the first
    /// submission counts), reporting the skipped keys (serializable).
    pub fn insert_if_absent(&mut self, key_columns: &[&str], batches: &[RecordBatch]) -> Result<RowChanges> {
        self.with_isolation(Isolation::Serializable).insert_if_absent(key_columns, batches)
    }
}

impl RowOps<'_> {
    /// See [`Transaction::delete`].
    pub fn delete(self, predicate: Predicate) -> Result<RowChanges> {
        let tx = self.tx;
        first_change(tx)?;
        let md = Arc::clone(tx.base_metadata());
        let bound = predicate.bind(md.current_schema())?;
        let matcher = bound.clone();
        let columns = columns_of(md.current_schema(), &bound);
        let changes =
            rewrite_matching(tx, &predicate, &|b: &RecordBatch| matcher.evaluate(b), columns.as_ref(), Mode::DELETE)?;
        add_read_validator(tx, self.isolation, bound, false);
        tx.record_rows(&changes);
        Ok(changes)
    }

    /// See [`Transaction::overwrite`].
    pub fn overwrite(self, predicate: Predicate, batches: &[RecordBatch]) -> Result<RowChanges> {
        self.replace(predicate, batches, Mode::DELETE)
    }

    /// See [`Transaction::update`].
    pub fn update(self, predicate: Predicate, batches: &[RecordBatch]) -> Result<RowChanges> {
        self.replace(predicate, batches, Mode::UPDATE)
    }

    fn replace(self, predicate: Predicate, batches: &[RecordBatch], mode: Mode) -> Result<RowChanges> {
        let tx = self.tx;
        first_change(tx)?;
        let md = Arc::clone(tx.base_metadata());
        // Check the new rows before anything is written.
        let conformed = conform_all(md.current_schema(), batches)?;
        let bound = predicate.bind(md.current_schema())?;
        let matcher = bound.clone();
        let columns = columns_of(md.current_schema(), &bound);
        let mut changes =
            rewrite_matching(tx, &predicate, &|b: &RecordBatch| matcher.evaluate(b), columns.as_ref(), mode)?;
        for b in &conformed {
            tx.append(b)?;
            changes.rows_added += b.num_rows() as u64;
        }
        add_read_validator(tx, self.isolation, bound, false);
        tx.set_operation(crate::txn::Operation::Overwrite);
        tx.record_rows(&changes);
        Ok(changes)
    }

    /// See [`Transaction::overwrite_all`].
    pub fn overwrite_all(self, batches: &[RecordBatch]) -> Result<RowChanges> {
        self.overwrite(Predicate::True, batches)
    }

    /// See [`Transaction::upsert`]. A key given twice in one call is an
    /// [`Error::InvalidArgument`].
    pub fn upsert(self, key_columns: &[&str], batches: &[RecordBatch]) -> Result<RowChanges> {
        let tx = self.tx;
        first_change(tx)?;
        let md = Arc::clone(tx.base_metadata());
        let schema = md.current_schema();
        let conformed = conform_all(schema, batches)?;
        let mut keys = KeySet::new(schema, key_columns)?;
        for b in &conformed {
            let batch_keys = keys.non_null_keys_of(b)?;
            for (row, key) in batch_keys.rows.iter().enumerate() {
                if !keys.insert(key) {
                    return Err(Error::InvalidArgument(format!(
                        "upsert: key {} appears twice in the input (row {row} of a batch)",
                        show_key(&batch_keys.datums(&keys.columns, row))
                    )));
                }
            }
        }
        if keys.is_empty() {
            tx.record_rows(&RowChanges::default());
            return Ok(RowChanges::default());
        }
        let filter = keys.predicate()?;
        // Keys are probed against the key columns alone.
        let names: Vec<String> = keys.columns.iter().map(|(n, _)| n.clone()).collect();
        let key_columns = projection(schema, &names);
        let mut changes =
            rewrite_matching(tx, &filter, &|b: &RecordBatch| keys.mask(b), key_columns.as_ref(), Mode::MERGE)?;
        for b in &conformed {
            tx.append(b)?;
            changes.rows_added += b.num_rows() as u64;
        }
        let bound = filter.bind(schema)?;
        add_read_validator(tx, self.isolation, bound, false);
        tx.record_rows(&changes);
        Ok(changes)
    }

    /// See [`Transaction::insert_if_absent`].
    pub fn insert_if_absent(self, key_columns: &[&str], batches: &[RecordBatch]) -> Result<RowChanges> {
        let tx = self.tx;
        first_change(tx)?;
        let md = Arc::clone(tx.base_metadata());
        let schema = md.current_schema();
        let conformed = conform_all(schema, batches)?;
        let mut input = KeySet::new(schema, key_columns)?;
        let mut per_batch = Vec::with_capacity(conformed.len());
        for b in &conformed {
            let keys = input.non_null_keys_of(b)?;
            for key in keys.rows.iter() {
                input.insert(key);
            }
            per_batch.push(keys);
        }
        let mut out = RowChanges::default();
        if input.is_empty() {
            tx.record_rows(&out);
            return Ok(out);
        }
        // The keys the base already holds.
        let filter = input.predicate()?;
        let mut taken = input.existing_in(tx.table(), tx.base_version(), &md, &filter, &mut out)?;
        for (b, keys) in conformed.iter().zip(per_batch) {
            let mut keep = Vec::with_capacity(keys.rows.num_rows());
            for (row, key) in keys.rows.iter().enumerate() {
                if taken.insert(key.as_ref().into()) {
                    keep.push(true);
                } else {
                    keep.push(false);
                    out.keys_skipped.push(keys.datums(&input.columns, row));
                }
            }
            let mask = BooleanArray::from(keep);
            let rows = filter_record_batch(b, &mask)?;
            if rows.num_rows() > 0 {
                tx.append(&rows)?;
                out.rows_added += rows.num_rows() as u64;
            }
        }
        let bound = filter.bind(schema)?;
        add_read_validator(tx, self.isolation, bound, true);
        tx.record_rows(&out);
        Ok(out)
    }
}

impl Table {
    /// The rows whose `key_columns` values equal one of the rows of `keys` (a batch with
    /// at least those columns; other columns are ignored). Reads only the files, row
    /// groups and pages whose statistics may hold the keys.
    pub fn get(&self, key_columns: &[&str], keys: &RecordBatch) -> Result<Vec<RecordBatch>> {
        let md = self.metadata();
        let mut set = KeySet::new(md.current_schema(), key_columns)?;
        for k in set.non_null_keys_of(keys)?.rows.iter() {
            set.insert(k);
        }
        if set.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for b in self.scan().filter(set.predicate()?).to_batches()? {
            let mask = set.mask(&b)?;
            if mask.true_count() == b.num_rows() {
                out.push(b);
            } else if mask.true_count() > 0 {
                out.push(filter_record_batch(&b, &mask)?);
            }
        }
        Ok(out)
    }

    /// [`Transaction::delete`] in its own transaction, retried from a fresh read when a
    /// concurrent commit conflicts, under the handle's [`crate::RetryPolicy`]: up to
    /// `max_attempts` reads and commits in all (so [`crate::RetryPolicy::none`] fails at
    /// the first conflict), within `total_budget`, with its jittered backoff between.
    /// The report's [`CommitReport::rows`] says what changed.
    pub fn delete(&self, predicate: Predicate) -> Result<CommitReport> {
        self.retry_row_op(|tx| tx.delete(predicate.clone()))
    }

    /// [`Transaction::overwrite`] in its own transaction, retried like [`Table::delete`].
    pub fn overwrite(&self, predicate: Predicate, batches: &[RecordBatch]) -> Result<CommitReport> {
        self.retry_row_op(|tx| tx.overwrite(predicate.clone(), batches))
    }

    /// [`Transaction::upsert`] in its own transaction, retried like [`Table::delete`].
    pub fn upsert(&self, key_columns: &[&str], batches: &[RecordBatch]) -> Result<CommitReport> {
        self.retry_row_op(|tx| tx.upsert(key_columns, batches))
    }

    /// [`Transaction::insert_if_absent`] in its own transaction, retried like
    /// [`Table::delete`]; the report's [`CommitReport::rows`] lists the skipped keys.
    pub fn insert_if_absent(&self, key_columns: &[&str], batches: &[RecordBatch]) -> Result<CommitReport> {
        self.retry_row_op(|tx| tx.insert_if_absent(key_columns, batches))
    }

    fn retry_row_op(&self, mut op: impl FnMut(&mut Transaction) -> Result<RowChanges>) -> Result<CommitReport> {
        // The same policy the handle's transactions use for lost races: a caller who
        // asked for no retries (compare-and-commit) gets none here either.
        let policy = self.inner.options.retry;
        let started = std::time::Instant::now();
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            self.refresh()?;
            let mut tx = self.new_transaction();
            op(&mut tx)?;
            match tx.commit() {
                Ok(report) => return Ok(report),
                Err(e)
                    if e.is_concurrent_modification()
                        && attempt < policy.max_attempts
                        && started.elapsed() < policy.total_budget =>
                {
                    // Re-read and redo: what we read is stale.
                    std::thread::sleep(policy.backoff(attempt));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn first_change(tx: &Transaction) -> Result<()> {
    if tx.has_file_changes() {
        return Err(Error::InvalidArgument(
            "a row-level operation must be the first change in its transaction (it reads the base snapshot)".into(),
        ));
    }
    Ok(())
}

fn conform_all(schema: &Schema, batches: &[RecordBatch]) -> Result<Vec<RecordBatch>> {
    batches.iter().map(|b| conform_batch(schema, b)).collect()
}

/// Which table properties choose between copy-on-write and merge-on-read.
struct Mode(&'static [&'static str]);

impl Mode {
    /// `delete` and `overwrite`: Iceberg's `write.delete.mode`.
    const DELETE: Mode = Mode(&[properties::WRITE_DELETE_MODE]);
    /// `update` (SQL's UPDATE): `write.update.mode`.
    const UPDATE: Mode = Mode(&[properties::WRITE_UPDATE_MODE]);
    /// `upsert` (Iceberg's MERGE INTO / UPDATE): `write.merge.mode` or `write.update.mode`.
    const MERGE: Mode = Mode(&[properties::WRITE_MERGE_MODE, properties::WRITE_UPDATE_MODE]);

    fn merge_on_read(&self, md: &TableMetadata) -> bool {
        self.0.iter().any(|p| super::deletes::merge_on_read(md, p))
    }
}

/// The top-level columns `bound` reads, as a projection of `schema` (`None` when it
/// reads a nested field: then every column is read).
fn columns_of(schema: &Schema, bound: &BoundPredicate) -> Option<Schema> {
    let mut names = Vec::new();
    for id in bound.field_ids() {
        names.push(schema.fields().iter().find(|f| f.id == id)?.name.clone());
    }
    projection(schema, &names)
}

/// `schema` restricted to the top-level columns `names` (`None` if one is not there).
fn projection(schema: &Schema, names: &[String]) -> Option<Schema> {
    let fields =
        names.iter().map(|n| schema.fields().iter().find(|f| &f.name == n).cloned()).collect::<Option<Vec<_>>>()?;
    let mut s = Schema::new(fields).ok()?;
    s.schema_id = schema.schema_id;
    Some(s)
}

/// The row-level matcher: true for the rows of a batch that the operation changes.
type Matcher<'a> = &'a (dyn Fn(&RecordBatch) -> Result<BooleanArray> + Sync);

/// Reads every file of the base snapshot that `filter` may match (its deletes applied);
/// for each in which `matches` selects rows: copy-on-write removes it and re-appends its
/// other rows; merge-on-read writes a position delete file for the selected rows (or
/// removes the file when every live row is selected). `columns` are the columns
/// `matches` needs (`None`: all).
fn rewrite_matching(
    tx: &mut Transaction,
    filter: &Predicate,
    matches: Matcher<'_>,
    columns: Option<&Schema>,
    mode: Mode,
) -> Result<RowChanges> {
    let md = Arc::clone(tx.base_metadata());
    let mut changes = RowChanges::default();
    if md.current_snapshot_id.is_none() {
        return Ok(changes);
    }
    let plan = tx.table().scan().as_of_version(tx.base_version()).filter(filter.clone()).plan()?;
    let schema = md.current_schema().clone();
    if mode.merge_on_read(&md) {
        return mark_matching(tx, &plan, matches, columns.unwrap_or(&schema));
    }
    let mut removed: Vec<DataFile> = Vec::new();
    for (index, file) in plan.files.iter().enumerate() {
        changes.files_scanned += 1;
        let mut kept = Vec::new();
        let mut matched = 0u64;
        for (b, _) in plan.read_live_rows(index, &schema)? {
            let mask = matches(&b)?;
            let n = mask.true_count();
            matched += n as u64;
            if n < b.num_rows() {
                kept.push(if n == 0 { b } else { filter_record_batch(&b, &arrow_arith::boolean::not(&mask)?)? });
            }
        }
        if matched == 0 {
            continue;
        }
        changes.rows_removed += matched;
        if kept.is_empty() {
            changes.files_removed += 1;
        } else {
            changes.files_rewritten += 1;
            for b in &kept {
                changes.rows_copied += b.num_rows() as u64;
                tx.append(b)?;
            }
        }
        removed.push(file.clone());
    }
    tx.remove_files(removed)?;
    Ok(changes)
}

/// What merge-on-read does to one planned file.
enum Marked {
    /// No row matched.
    Untouched,
    /// Every live row matched (this many): the file is removed.
    Remove(u64),
    /// Some rows matched (this many): a position delete file deletes them.
    Deletes(u64, Box<WrittenDelete>),
    /// Equality deletes apply: decided row by row after the parallel pass.
    Slow,
}

/// Merge-on-read: finds the positions of the rows `matches` selects in every planned
/// file, reading only `columns` and only the row groups and pages the filter may
/// match, files in parallel (bounded by the cores); writes one position delete file
/// per file with matches (in the same pass), or removes a file all of whose live rows
/// match. No other column is decoded and no row is copied.
fn mark_matching(tx: &mut Transaction, plan: &ScanPlan, matches: Matcher<'_>, columns: &Schema) -> Result<RowChanges> {
    let mut changes = RowChanges::default();
    let writer = tx.position_delete_writer(plan.files.len())?;
    let indices: Vec<usize> = (0..plan.files.len()).collect();
    let marked = crate::sync::map(&indices, crate::sync::cpu_workers(), |&i| -> Result<Marked> {
        let Some(m) = plan.matching_positions(i, columns, matches)? else { return Ok(Marked::Slow) };
        let n = m.positions.len() as u64;
        Ok(if n == 0 {
            Marked::Untouched
        } else if n >= m.live_rows {
            Marked::Remove(n)
        } else {
            Marked::Deletes(n, Box::new(writer.write(i, &plan.files[i], &m.positions)))
        })
    });
    let mut removed: Vec<DataFile> = Vec::new();
    let mut failed: Option<Error> = None;
    for (i, r) in marked.into_iter().enumerate() {
        changes.files_scanned += 1;
        let file = &plan.files[i];
        // Every written file is staged (or its keys kept for cleanup) before the
        // first error is returned.
        let r = r.unwrap_or_else(|why| Err(Error::InvalidArgument(format!("row-level worker panicked: {why}"))));
        let r = match r {
            Ok(Marked::Slow) => mark_slow(plan, i, columns, matches, &writer),
            other => other,
        };
        match r {
            Ok(Marked::Untouched) | Ok(Marked::Slow) => {}
            Ok(Marked::Remove(n)) => {
                changes.rows_removed += n;
                changes.files_removed += 1;
                removed.push(file.clone());
            }
            Ok(Marked::Deletes(n, written)) => match tx.stage_written_delete(plan.spec_ids[i], file, *written) {
                Ok(()) => {
                    changes.rows_removed += n;
                    changes.delete_files_added += 1;
                }
                Err(e) => {
                    failed.get_or_insert(e);
                }
            },
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    tx.remove_files(removed)?;
    Ok(changes)
}

/// [`mark_matching`] for a file with equality deletes: every live row is read (the
/// projected columns only, no pruning) to know which are live.
fn mark_slow(
    plan: &ScanPlan,
    index: usize,
    columns: &Schema,
    matches: Matcher<'_>,
    writer: &PositionDeleteWriter,
) -> Result<Marked> {
    let mut live = 0u64;
    let mut positions: Vec<u64> = Vec::new();
    for (b, pos) in plan.read_live_rows(index, columns)? {
        live += b.num_rows() as u64;
        let mask = matches(&b)?;
        if mask.true_count() > 0 {
            positions.extend(pos.iter().zip(mask.iter()).filter(|(_, m)| *m == Some(true)).map(|(p, _)| *p));
        }
    }
    let n = positions.len() as u64;
    Ok(if n == 0 {
        Marked::Untouched
    } else if n >= live {
        Marked::Remove(n)
    } else {
        Marked::Deletes(n, Box::new(writer.write(index, &plan.files[index], &positions)))
    })
}

/// Under serializable isolation: a conflict when a landed commit added (or, with
/// `removed_too`, removed) a file that may hold rows matching `read`.
fn add_read_validator(tx: &mut Transaction, isolation: Isolation, read: BoundPredicate, removed_too: bool) {
    if isolation == Isolation::Snapshot || read == BoundPredicate::False {
        return;
    }
    tx.add_validator(move |ctx: &ConflictContext<'_>| {
        let mut out: Vec<Conflict> = Vec::new();
        let md = ctx.latest_metadata();
        for c in ctx.landed()? {
            let files = c.added.iter().map(|f| ("added", f));
            let removed = c.removed.iter().filter(|_| removed_too).map(|f| ("removed", f));
            if let Some((how, f)) = files.chain(removed).find(|(_, f)| file_may_match(&read, f, md, ctx)) {
                let (snapshot_id, path) = (c.snapshot_id, f.file_path.clone());
                let kind = if how == "added" {
                    ConflictKind::MatchingFileAdded { snapshot_id, path }
                } else {
                    ConflictKind::MatchingFileRemoved { snapshot_id, path }
                };
                out.push(ctx.conflict_with(c, kind));
            }
        }
        Ok(out)
    });
}

fn file_may_match(read: &BoundPredicate, f: &DataFile, md: &TableMetadata, ctx: &ConflictContext<'_>) -> bool {
    if !read.might_match_file(f) {
        return false;
    }
    // Partition values judge only when the file's spec is known for sure: the default
    // spec, unchanged since the base (a spec change conflicts anyway).
    if ctx.spec_changed() {
        return true;
    }
    let Some(spec) = md.default_spec() else { return true };
    if spec.fields.is_empty() || f.partition.len() != spec.fields.len() {
        return true;
    }
    let projected = read.project(spec);
    let schema = md.current_schema();
    projected.might_match(&|id| partition_value_stats(spec, schema, &f.partition, f.record_count, id))
}

// ---------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------

/// The key columns of a batch, conformed to the table's types, and their keys in
/// arrow-row's format (equal bytes exactly when every key value is equal, with floats
/// compared by their IEEE 754 total order: `-0.0` and `0.0` are different keys).
struct BatchKeys {
    arrays: Vec<ArrayRef>,
    rows: Rows,
}

impl BatchKeys {
    /// The key of row `row` as values (for messages and reports).
    fn datums(&self, columns: &[(String, PrimitiveType)], row: usize) -> Vec<Datum> {
        self.arrays.iter().zip(columns).filter_map(|(a, (_, ty))| datum_at(a.as_ref(), row, ty)).collect()
    }

    /// True where no key column is null.
    fn valid(&self) -> Option<NullBuffer> {
        self.arrays.iter().fold(None, |acc, a| NullBuffer::union(acc.as_ref(), a.logical_nulls().as_ref()))
    }
}

/// A set of key tuples over some columns, with a pruning predicate and an exact matcher.
/// Keys are encoded and hashed in arrow-row's format.
struct KeySet {
    /// (name, type) of each key column.
    columns: Vec<(String, PrimitiveType)>,
    converter: RowConverter,
    /// The distinct keys, in the order they were added.
    keys: Rows,
    /// The bytes of every key in `keys`.
    index: HashSet<Box<[u8]>>,
}

impl KeySet {
    fn new(schema: &Schema, key_columns: &[&str]) -> Result<KeySet> {
        if key_columns.is_empty() {
            return Err(Error::InvalidArgument("at least one key column is needed".into()));
        }
        let mut columns = Vec::new();
        for c in key_columns {
            let f = schema
                .field_by_name(c)
                .ok_or_else(|| Error::InvalidArgument(format!("key column {c:?} is not in the table schema")))?;
            let ty = f
                .field_type
                .as_primitive()
                .ok_or_else(|| Error::InvalidArgument(format!("key column {c:?} is not a primitive column")))?;
            if columns.iter().any(|(n, _)| n == c) {
                return Err(Error::InvalidArgument(format!("key column {c:?} given twice")));
            }
            columns.push((c.to_string(), ty.clone()));
        }
        let converter =
            RowConverter::new(columns.iter().map(|(_, ty)| SortField::new(primitive_to_arrow(ty))).collect())?;
        let keys = converter.empty_rows(0, 0);
        Ok(KeySet { columns, converter, keys, index: HashSet::new() })
    }

    fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The keys of every row of `batch` (which holds at least the key columns,
    /// castable to their types); null key values included.
    fn keys_of(&self, batch: &RecordBatch) -> Result<BatchKeys> {
        let arrays = self
            .columns
            .iter()
            .map(|(name, ty)| {
                let a = batch.column_by_name(name).ok_or_else(|| Error::SchemaMismatch {
                    field: name.clone(),
                    reason: "key column missing from the batch".into(),
                })?;
                // The table's exact conversions: a key that would change (2.9 into a
                // long) is refused rather than looked up as another key.
                crate::data::write::conform_column(a, ty, name)
            })
            .collect::<Result<Vec<_>>>()?;
        let rows = self.converter.convert_columns(&arrays)?;
        Ok(BatchKeys { arrays, rows })
    }

    /// [`keys_of`](Self::keys_of), refusing a null key value (naming the first row
    /// that has one).
    fn non_null_keys_of(&self, batch: &RecordBatch) -> Result<BatchKeys> {
        let keys = self.keys_of(batch)?;
        let first_null = keys
            .arrays
            .iter()
            .zip(&self.columns)
            .filter_map(|(a, (name, _))| {
                a.logical_nulls().and_then(|n| n.iter().position(|valid| !valid)).map(|row| (row, name))
            })
            .min_by_key(|(row, _)| *row);
        if let Some((row, name)) = first_null {
            return Err(Error::InvalidArgument(format!("key column {name:?} is null in row {row}")));
        }
        Ok(keys)
    }

    /// Adds a key; false if it was there already.
    fn insert(&mut self, key: Row<'_>) -> bool {
        if self.index.contains(key.as_ref()) {
            return false;
        }
        self.index.insert(key.as_ref().into());
        // ok: every row here comes from `self.converter`
        self.keys.push(key);
        true
    }

    fn contains(&self, key: Row<'_>) -> bool {
        self.index.contains(key.as_ref())
    }

    /// `k1 in (…) and k2 in (…)`: a superset of the keys, for pruning.
    fn predicate(&self) -> Result<Predicate> {
        let arrays = self.converter.convert_rows(self.keys.iter())?;
        let mut p: Option<Predicate> = None;
        for (a, (name, ty)) in arrays.iter().zip(&self.columns) {
            let values = (0..a.len()).filter_map(|i| datum_at(a.as_ref(), i, ty)).map(Literal::Typed);
            let leaf = col(name.clone()).is_in(values);
            p = Some(match p {
                Some(p) => p.and(leaf),
                None => leaf,
            });
        }
        Ok(p.unwrap_or(Predicate::False))
    }

    /// True for the rows of `batch` whose key is in the set (a key with a null is in
    /// no set).
    fn mask(&self, batch: &RecordBatch) -> Result<BooleanArray> {
        let keys = self.keys_of(batch)?;
        let valid = keys.valid();
        Ok((0..batch.num_rows())
            .map(|row| Some(valid.as_ref().is_none_or(|v| v.is_valid(row)) && self.contains(keys.rows.row(row))))
            .collect())
    }

    /// The keys of the set present in the base snapshot, as arrow-row bytes.
    fn existing_in(
        &self,
        table: &Table,
        base_version: u64,
        md: &TableMetadata,
        filter: &Predicate,
        changes: &mut RowChanges,
    ) -> Result<HashSet<Box<[u8]>>> {
        let mut out = HashSet::new();
        if md.current_snapshot_id.is_none() {
            return Ok(out);
        }
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        let scan = table.scan().as_of_version(base_version).select(names).filter(filter.clone());
        let (batches, metrics) = scan.to_batches_with_metrics()?;
        changes.files_scanned += metrics.files_read;
        for b in batches {
            let keys = self.keys_of(&b)?;
            let valid = keys.valid();
            for (row, key) in keys.rows.iter().enumerate() {
                if valid.as_ref().is_none_or(|v| v.is_valid(row)) && self.contains(key) {
                    out.insert(key.as_ref().into());
                }
            }
        }
        Ok(out)
    }
}

fn show_key(key: &[Datum]) -> String {
    let parts: Vec<String> = key.iter().map(|d| d.to_string()).collect();
    format!("({})", parts.join(", "))
}
