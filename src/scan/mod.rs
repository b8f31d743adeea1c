//! Scans: choose a snapshot (current, by id, by version, by time), plan its data
//! files from the manifests, and read them projected onto the selected columns.
//!
//! A filter ([`Scan::filter`], a [`Predicate`]) is bound to the snapshot's schema and
//! prunes in steps, each counted in [`ScanMetrics`]: (1) manifests whose partition
//! summaries rule the predicate out are not read; (2) data files whose partition values
//! or column bounds / null counts rule it out are not planned; (3) row groups (Parquet
//! statistics) and pages (Parquet page index) that rule it out are not decoded; (4) the
//! rows read are filtered exactly with Arrow kernels. Statistics are matched by field
//! id, so files written before a rename prune correctly.
//!
//! Row-level deletes (merge-on-read, `deletes.rs`): every planned data file carries the
//! position and equality delete files that apply to it ([`ScanPlan::deletes`]); reading
//! the file drops the rows they delete before the filter runs, on every read path
//! (scans, counts, `Table::get`, row-level operations). A file with position deletes is
//! pruned like any other: each row's position in the file is its row group's first row
//! plus its offset there (`RowPositions`), however many row groups and pages pruning
//! skipped, so the deleted positions are matched exactly.
//!
//! Promises: a scan reads one consistent snapshot, pinned when it is planned, even
//! while other processes commit; output batches all have exactly the projected Arrow
//! schema (`Schema::to_arrow` of the selected columns, field ids included); a filtered
//! scan returns exactly the rows for which the predicate is true, the same with and
//! without pruning ([`Scan::prune`]); reading streams file by file. With fewer files than
//! threads (one large file), each file's row groups are decoded on the spare threads in
//! parallel, in file order, with at most that many row groups decoded ahead of the
//! consumer (the memory bound; see `docs/design.md`, "Scans use the cores").

mod deletes;
mod prune;

use std::sync::Arc;
use std::time::SystemTime;

use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::Schema as ArrowSchema;

use crate::data::read::{
    DataFileReader, NameMapping, ReadOptions, open_data, open_data_with_metadata, open_source,
    read_footer_with_page_index,
};
use crate::error::{Error, Result};
use crate::expr::{BoundPredicate, Predicate, partition_summary_stats, partition_value_stats};
use crate::scan::prune::prune_file;
use crate::spec::manifest::{DataContent, EntryStatus, ManifestContent, ManifestFile, read_manifest};
use crate::spec::metadata::{PartitionSpec, Snapshot, TableMetadata};
use crate::spec::types::{NestedField, Schema};
use crate::table::{Table, load_manifest_list, properties, read_files};

pub use crate::spec::manifest::DataFile;
pub use deletes::{DEFAULT_EQUALITY_DELETE_MAX_ROWS, DeleteFile, EQUALITY_DELETE_MAX_ROWS};
pub(crate) use deletes::{DELETE_FILE_PATH_ID, path_in_bounds, position_delete_schema};

use deletes::{DeleteIndex, DeleteReader, FileDeletes, RowPositions};

#[derive(Debug, Clone)]
enum Selection {
    Current,
    SnapshotId(i64),
    Version(u64),
    Timestamp(i64),
}

/// A scan under construction. Cheap to build; nothing is read until planned.
#[derive(Debug, Clone)]
pub struct Scan {
    table: Table,
    columns: Option<Vec<String>>,
    selection: Selection,
    batch_size: usize,
    threads: usize,
    filter: Option<Predicate>,
    prune: bool,
}

/// What a scan read and what pruning let it skip. Planning fills the manifest and file
/// counts; reading adds the row-group and row counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScanMetrics {
    /// Manifests in the snapshot's manifest list.
    pub manifests: usize,
    /// Manifests not read: their partition summaries rule the filter out.
    pub manifests_skipped: usize,
    /// Live data files in the snapshot (those of skipped manifests counted from the
    /// manifest list).
    pub files: usize,
    /// Files not planned because of their partition values (or their manifest's
    /// partition summaries).
    pub files_skipped_by_partition: usize,
    /// Files not planned because of their column bounds and null counts.
    pub files_skipped_by_metrics: usize,
    /// Files planned for reading.
    pub files_planned: usize,
    /// Planned files whose footer was read but none of whose row groups can match.
    pub files_skipped_by_row_groups: usize,
    /// Planned files whose data was decoded.
    pub files_read: usize,
    /// Row groups in the files whose footer was read.
    pub row_groups: usize,
    /// Of those, row groups not decoded (statistics or page index rule the filter out).
    pub row_groups_skipped: usize,
    /// Rows of decoded row groups that the page index let the reader skip.
    pub rows_skipped_by_page_index: u64,
    /// Rows decoded.
    pub rows_read: u64,
    /// Rows returned (after the exact filter).
    pub rows_matched: u64,
    /// Distinct delete files that apply to the planned files.
    pub delete_files: usize,
    /// Rows decoded and then dropped because a delete file deletes them.
    pub rows_deleted: u64,
}

impl ScanMetrics {
    fn add_read(&mut self, o: &ScanMetrics) {
        self.files_skipped_by_row_groups += o.files_skipped_by_row_groups;
        self.files_read += o.files_read;
        self.row_groups += o.row_groups;
        self.row_groups_skipped += o.row_groups_skipped;
        self.rows_skipped_by_page_index += o.rows_skipped_by_page_index;
        self.rows_read += o.rows_read;
        self.rows_matched += o.rows_matched;
        self.rows_deleted += o.rows_deleted;
    }

    /// Row groups decoded.
    pub fn row_groups_read(&self) -> usize {
        self.row_groups - self.row_groups_skipped
    }
}

/// Planned data files, the delete files of each, and the spec of each.
type PlannedFiles = (Vec<DataFile>, Vec<Vec<Arc<DeleteFile>>>, Vec<i32>);

/// One file's batches and what reading it cost.
type FileOutput = (Vec<RecordBatch>, ScanMetrics);

/// A planned scan: the snapshot, the projected schema and the files to read.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScanPlan {
    /// The snapshot read (`None` for an empty table).
    pub snapshot: Option<Snapshot>,
    /// The projected table schema.
    pub schema: Schema,
    /// The data files to read (live, and not pruned), oldest commit first.
    pub files: Vec<DataFile>,
    /// For each of `files` (same index), the delete files that apply to it (empty for
    /// most files; see [`ScanPlan::file_deletes`]).
    pub deletes: Vec<Vec<Arc<DeleteFile>>>,
    /// For each of `files`, the partition spec it was written with.
    pub(crate) spec_ids: Vec<i32>,
    /// The filter bound to the snapshot's schema (`None`: every row).
    pub(crate) filter: Option<BoundPredicate>,
    /// Planning counts (manifests and files read and skipped).
    pub metrics: ScanMetrics,
    /// Whether row groups and pages are pruned when reading.
    prune: bool,
    /// `schema` plus the filter's columns that are not selected (appended).
    read_schema: Schema,
    name_mapping: Option<Arc<NameMapping>>,
    /// Where the table was opened (turns recorded data file URIs into paths to read).
    location: crate::io::location::TableLocation,
    /// Reads the delete files (and caches hashed equality deletes for this plan).
    delete_reader: Arc<DeleteReader>,
}

impl ScanPlan {
    /// Total rows according to the manifests, *before* row-level deletes: exact only when
    /// [`ScanPlan::has_deletes`] is false ([`Scan::count`] is always exact).
    pub fn record_count(&self) -> i64 {
        self.files.iter().map(|f| f.record_count).sum()
    }

    /// Whether any planned file has delete files that apply to it.
    pub fn has_deletes(&self) -> bool {
        self.deletes.iter().any(|d| !d.is_empty())
    }

    /// The delete files that apply to the planned file at `index` (empty when none, or
    /// when `index` is out of range).
    pub fn file_deletes(&self, index: usize) -> &[Arc<DeleteFile>] {
        self.deletes.get(index).map(Vec::as_slice).unwrap_or_default()
    }

    /// Reads every live row (deletes applied, no filter) of the planned file at `index`
    /// with `schema` (a projection of the table schema), each batch with the positions
    /// of its rows in the file. Row-level operations read files this way.
    pub(crate) fn read_live_rows(&self, index: usize, schema: &Schema) -> Result<Vec<(RecordBatch, Vec<u64>)>> {
        let file = self.files.get(index).ok_or_else(|| Error::InvalidArgument(format!("no planned file {index}")))?;
        let deletes = self.load_deletes(index, file)?;
        let read_schema = with_equality_columns(schema, &self.delete_reader.schema, self.file_deletes(index))?;
        let data = self.location.resolve(&file.file_path)?;
        let size = u64::try_from(file.file_size_in_bytes).ok().filter(|s| *s > 0);
        let reader = open_data(&data, size, &read_schema, self.name_mapping.as_deref(), &ReadOptions::default())?;
        let mut out = Vec::new();
        let mut next: u64 = 0;
        let width = schema.fields().len();
        for b in reader {
            let b = b?;
            let n = b.num_rows() as u64;
            let mut positions: Vec<u64> = (next..next + n).collect();
            let mut b = b;
            if let Some(d) = &deletes
                && let Some(mask) = d.keep_mask(&b, &positions, &read_schema)?
            {
                b = arrow_select::filter::filter_record_batch(&b, &mask)?;
                positions =
                    positions.into_iter().zip(mask.values().iter()).filter(|(_, k)| *k).map(|(p, _)| p).collect();
            }
            next += n;
            if b.num_columns() != width {
                let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(b.num_rows()));
                b = RecordBatch::try_new_with_options(
                    Arc::new(schema.to_arrow()),
                    b.columns()[..width].to_vec(),
                    &options,
                )?;
            }
            out.push((b, positions));
        }
        Ok(out)
    }

    /// For merge-on-read row-level operations: the positions of the live rows of the
    /// planned file at `index` that `matches` selects, and how many live rows the file
    /// has. Reads only `columns` (a projection of the table schema holding what
    /// `matches` needs), skips the row groups and pages the plan's filter rules out
    /// (positions stay exact across them), and materialises nothing else. `None` when
    /// equality deletes apply to the file: which rows are live is then only known by
    /// reading every row ([`ScanPlan::read_live_rows`]).
    pub(crate) fn matching_positions(
        &self,
        index: usize,
        columns: &Schema,
        matches: &(dyn Fn(&RecordBatch) -> Result<BooleanArray> + Sync),
    ) -> Result<Option<FileMatches>> {
        let file = self.files.get(index).ok_or_else(|| Error::InvalidArgument(format!("no planned file {index}")))?;
        let deletes = self.load_deletes(index, file)?;
        if deletes.as_ref().is_some_and(FileDeletes::has_equality) {
            return Ok(None);
        }
        let data = self.location.resolve(&file.file_path)?;
        let size = u64::try_from(file.file_size_in_bytes).ok().filter(|s| *s > 0);
        let mapping = self.name_mapping.as_deref();
        let path = data.path();
        let source = open_source(&data, size)?;
        let md = read_footer_with_page_index(&source, &path)?;
        // The footer's row counts, not the manifest's: a file is only removed whole
        // when every row it really holds matched.
        let mut rows: Vec<u64> = Vec::with_capacity(md.num_row_groups());
        for (i, rg) in md.row_groups().iter().enumerate() {
            rows.push(u64::try_from(rg.num_rows()).map_err(|_| Error::Parquet {
                path: path.clone(),
                source: parquet::errors::ParquetError::General(format!("row group {i} claims {} rows", rg.num_rows())),
            })?);
        }
        let total: u64 = rows.iter().sum();
        let live_rows = total - deletes.as_ref().map_or(0, |d| d.positions_deleted_below(total));
        let mut out = FileMatches { positions: Vec::new(), live_rows };
        let (row_groups, selection) = match (&self.filter, self.prune) {
            (Some(pred), true) => {
                let pruned = prune_file(&md, pred, file, mapping);
                (pruned.row_groups, pruned.selection)
            }
            _ => ((0..rows.len()).collect(), None),
        };
        if row_groups.is_empty() {
            return Ok(Some(out));
        }
        let mut positions = RowPositions::of(&rows, &row_groups, selection.as_ref());
        let opts = ReadOptions { row_groups: Some(row_groups), row_selection: selection, ..ReadOptions::default() };
        let reader = open_data_with_metadata(source, &path, md, columns, mapping, &opts)?;
        for b in reader {
            let b = b?;
            let pos = positions.take(b.num_rows());
            if pos.len() != b.num_rows() {
                return Err(Error::InvalidArgument(format!(
                    "{}: more rows read than the footer holds",
                    path.display()
                )));
            }
            let (b, pos) = match deletes.as_ref().map(|d| d.keep_mask(&b, &pos, columns)).transpose()?.flatten() {
                Some(keep) => {
                    let pos: Vec<u64> =
                        pos.iter().zip(keep.values().iter()).filter(|(_, k)| *k).map(|(p, _)| *p).collect();
                    (arrow_select::filter::filter_record_batch(&b, &keep)?, pos)
                }
                None => (b, pos),
            };
            let mask = matches(&b)?;
            if mask.true_count() > 0 {
                out.positions.extend(pos.iter().zip(mask.iter()).filter(|(_, m)| *m == Some(true)).map(|(p, _)| *p));
            }
        }
        Ok(Some(out))
    }

    fn load_deletes(&self, index: usize, file: &DataFile) -> Result<Option<FileDeletes>> {
        let list = self.file_deletes(index);
        if list.is_empty() {
            return Ok(None);
        }
        let d = self.delete_reader.load(list, &file.file_path)?;
        Ok((!d.is_empty()).then_some(d))
    }

    /// Reads the planned file at `index` (a position in `files`): row-group and page
    /// pruning, then the exact filter. Returns its batches and what was read.
    pub fn read_file(&self, index: usize, batch_size: usize) -> Result<(Vec<RecordBatch>, ScanMetrics)> {
        self.read_file_with(index, &ReadOptions { batch_size, ..ReadOptions::default() })
    }

    /// [`ScanPlan::read_file`] with read options (the batch size, and the threads that
    /// decode the file's row groups).
    pub(crate) fn read_file_with(&self, index: usize, opts: &ReadOptions) -> Result<(Vec<RecordBatch>, ScanMetrics)> {
        let mut metrics = ScanMetrics::default();
        let file = self.files.get(index).ok_or_else(|| Error::InvalidArgument(format!("no planned file {index}")))?;
        let mut out = Vec::new();
        if let Some(mut r) = FileRead::open(self, index, file, opts, &mut metrics)? {
            for b in r.by_ref() {
                out.push(b?);
            }
            metrics.add_read(&r.metrics);
        }
        Ok((out, metrics))
    }
}

/// The rows of one data file a row-level operation selects (see
/// [`ScanPlan::matching_positions`]).
#[derive(Debug, Default)]
pub(crate) struct FileMatches {
    /// Positions in the file of the live rows selected, ascending.
    pub(crate) positions: Vec<u64>,
    /// Live rows in the file (its rows less those position deletes delete).
    pub(crate) live_rows: u64,
}

/// One planned file being read: pruned row groups, the exact filter, then the
/// projection onto the selected columns.
struct FileRead {
    reader: DataFileReader,
    filter: Option<BoundPredicate>,
    output: Option<arrow_schema::SchemaRef>,
    metrics: ScanMetrics,
    /// The deletes that apply to the file, and the schema batches are read with.
    deletes: Option<(FileDeletes, Schema)>,
    /// With position deletes: the positions in the file of the rows still to be read
    /// (exact across the row groups and pages pruning skipped).
    positions: Option<RowPositions>,
}

impl FileRead {
    /// `None` when pruning shows no row of the file can match.
    fn open(
        plan: &ScanPlan,
        index: usize,
        file: &DataFile,
        opts: &ReadOptions,
        acc: &mut ScanMetrics,
    ) -> Result<Option<FileRead>> {
        let deletes = plan.load_deletes(index, file)?;
        let prune = plan.prune;
        // Files with position deletes track each row's position in the file, through
        // whatever row groups and pages pruning skips.
        let track = deletes.as_ref().is_some_and(FileDeletes::has_positions);
        let mut positions = None;
        // Relative paths (some writers) are relative to the table root; the files of a
        // copied or moved table are read under the directory it was opened at.
        let data = plan.location.resolve(&file.file_path)?;
        let size = u64::try_from(file.file_size_in_bytes).ok().filter(|s| *s > 0);
        let mapping = plan.name_mapping.as_deref();
        let mut metrics = ScanMetrics::default();
        let reader = match (&plan.filter, prune) {
            (Some(pred), true) => {
                let path = data.path();
                let source = open_source(&data, size)?;
                let md = read_footer_with_page_index(&source, &path)?;
                let pruned = prune_file(&md, pred, file, mapping);
                metrics.row_groups += pruned.row_groups_total;
                metrics.row_groups_skipped += pruned.row_groups_total - pruned.row_groups.len();
                metrics.rows_skipped_by_page_index += pruned.rows_skipped_by_pages;
                if pruned.row_groups.is_empty() && pruned.row_groups_total > 0 {
                    metrics.files_skipped_by_row_groups += 1;
                    acc.add_read(&metrics);
                    return Ok(None);
                }
                if track {
                    let rows: Vec<u64> =
                        md.row_groups().iter().map(|rg| u64::try_from(rg.num_rows()).unwrap_or(0)).collect();
                    positions = Some(RowPositions::of(&rows, &pruned.row_groups, pruned.selection.as_ref()));
                }
                let opts = ReadOptions {
                    row_groups: Some(pruned.row_groups),
                    row_selection: pruned.selection,
                    ..opts.clone()
                };
                open_data_with_metadata(source, &path, md, &plan.read_schema, mapping, &opts)?
            }
            _ => {
                if track {
                    // The whole file, in order.
                    positions = Some(RowPositions::all(u64::MAX));
                }
                open_data(&data, size, &plan.read_schema, mapping, opts)?
            }
        };
        metrics.files_read += 1;
        let output =
            (plan.read_schema.fields().len() != plan.schema.fields().len()).then(|| Arc::new(plan.schema.to_arrow()));
        let deletes = deletes.map(|d| (d, plan.read_schema.clone()));
        Ok(Some(FileRead { reader, filter: plan.filter.clone(), output, metrics, deletes, positions }))
    }

    fn process(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        self.metrics.rows_read += batch.num_rows() as u64;
        let positions = match self.positions.as_mut() {
            Some(p) => p.take(batch.num_rows()),
            // No position deletes: equality deletes need no positions.
            None => Vec::new(),
        };
        let batch = match &self.deletes {
            Some((d, schema)) => match d.keep_mask(&batch, &positions, schema)? {
                Some(mask) => {
                    self.metrics.rows_deleted += (batch.num_rows() - mask.true_count()) as u64;
                    arrow_select::filter::filter_record_batch(&batch, &mask)?
                }
                None => batch,
            },
            None => batch,
        };
        let batch = match &self.filter {
            Some(pred) => {
                let mask = pred.evaluate(&batch)?;
                if mask.true_count() == batch.num_rows() {
                    batch
                } else {
                    arrow_select::filter::filter_record_batch(&batch, &mask)?
                }
            }
            None => batch,
        };
        self.metrics.rows_matched += batch.num_rows() as u64;
        match &self.output {
            // Filter-only columns were appended after the selected ones: drop them.
            Some(schema) => {
                let columns = batch.columns()[..schema.fields().len()].to_vec();
                let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
                Ok(RecordBatch::try_new_with_options(Arc::clone(schema), columns, &options)?)
            }
            None => Ok(batch),
        }
    }
}

impl Iterator for FileRead {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let batch = match self.reader.next()? {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            match self.process(batch) {
                // Skip batches the filter or deletes emptied, but not an empty file's
                // only batch.
                Ok(b) if b.num_rows() == 0 && (self.filter.is_some() || self.deletes.is_some()) => continue,
                other => return Some(other),
            }
        }
    }
}

impl Scan {
    pub(crate) fn new(table: Table) -> Scan {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
        Scan {
            table,
            columns: None,
            selection: Selection::Current,
            batch_size: 8192,
            threads,
            filter: None,
            prune: true,
        }
    }

    /// Returns only the rows for which `predicate` is true (SQL semantics: a comparison
    /// with null is not true). Several calls combine with `and`. The predicate is bound
    /// to the schema of the snapshot read when the scan is planned; an unknown column or
    /// a literal that does not fit its column is [`Error::Predicate`].
    ///
    /// ```no_run
    /// # fn main() -> floe::Result<()> {
    /// use floe::expr::{col, Predicate};
    /// let table = floe::Table::open("./events")?;
    /// let rows = table.scan().filter(col("id").gt(5).and(col("name").eq("a"))).to_batches()?;
    /// let same = table.scan().filter(Predicate::parse("id > 5 and name = 'a'")?).to_batches()?;
    /// # Ok(()) }
    /// ```
    pub fn filter(mut self, predicate: Predicate) -> Self {
        self.filter = Some(match self.filter.take() {
            Some(p) => p.and(predicate),
            None => predicate,
        });
        self
    }

    /// Turns pruning by statistics on (default) or off. Off, every live file and row
    /// group is read and only the exact row filter applies: the results are the same,
    /// only slower (a baseline for tests and benchmarks).
    pub fn prune(mut self, on: bool) -> Self {
        self.prune = on;
        self
    }

    /// Reads only these columns, in this order.
    pub fn select<I, S>(mut self, columns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.columns = Some(columns.into_iter().map(Into::into).collect());
        self
    }

    /// Reads the snapshot with this id.
    pub fn snapshot_id(mut self, id: i64) -> Self {
        self.selection = Selection::SnapshotId(id);
        self
    }

    /// Reads the current snapshot of version `v<N>`.
    pub fn as_of_version(mut self, version: u64) -> Self {
        self.selection = Selection::Version(version);
        self
    }

    /// Reads the snapshot that was current at `time` (the snapshot log's entry at or
    /// before it, to the millisecond). [`Error::NotFound`] when no snapshot was current
    /// then.
    pub fn as_of(mut self, time: SystemTime) -> Self {
        self.selection = Selection::Timestamp(crate::spec::metadata::time_to_ms(time));
        self
    }

    /// Rows per output batch (default 8192).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Decoding threads (default: the machine's cores, max 8). [`Scan::to_batches`]
    /// reads up to this many files at once, and gives the threads left over when there
    /// are fewer files to decoding each file's row groups in parallel; [`Scan::to_iter`]
    /// reads one file at a time with its row groups on up to this many threads. The
    /// output (rows, order) does not depend on it; `threads(1)` decodes on the calling
    /// thread.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Resolves the snapshot and lists the live data files.
    pub fn plan(&self) -> Result<ScanPlan> {
        let (metadata, snapshot, table_schema, schema) = self.resolve_schema()?;
        let name_mapping = match metadata.properties.get(properties::NAME_MAPPING) {
            Some(json) => match NameMapping::parse(json) {
                Ok(m) => Some(Arc::new(m)),
                Err(e) => {
                    // Only files without field ids need it; those fail with a clear
                    // "no name mapping" error, and this says why.
                    tracing::warn!("ignoring unreadable {}: {e}", properties::NAME_MAPPING);
                    None
                }
            },
            None => None,
        };
        let filter = match &self.filter {
            Some(p) => Some(p.bind(&table_schema)?),
            None => None,
        };
        // Filter columns that are not selected are read too, after the selected ones.
        let mut read_schema = schema.clone();
        if let Some(f) = &filter {
            let mut fields = schema.fields().to_vec();
            for id in f.field_ids() {
                if !fields.iter().any(|x| x.id == id)
                    && let Some(field) = table_schema.fields().iter().find(|x| x.id == id)
                {
                    fields.push(field.clone());
                }
            }
            if fields.len() != schema.fields().len() {
                read_schema = Schema::new(fields)?;
                read_schema.schema_id = schema.schema_id;
            }
        }
        let mut metrics = ScanMetrics::default();
        let pruning = if self.prune { filter.as_ref() } else { None };
        let (files, deletes, spec_ids) = match &snapshot {
            Some(s) => self.live_files(s, &metadata, pruning, &mut metrics)?,
            None => (Vec::new(), Vec::new(), Vec::new()),
        };
        metrics.files_planned = files.len();
        let mut distinct: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for d in deletes.iter().flatten() {
            distinct.insert(d.file.file_path.as_str());
        }
        metrics.delete_files = distinct.len();
        // Equality delete columns that are not read yet are read too, after the rest.
        let all_deletes: Vec<Arc<DeleteFile>> = deletes.iter().flatten().cloned().collect();
        let read_schema = with_equality_columns(&read_schema, &table_schema, &all_deletes)?;
        let location = self.table.location().clone();
        let max_rows =
            metadata.property_i64(EQUALITY_DELETE_MAX_ROWS, DEFAULT_EQUALITY_DELETE_MAX_ROWS as i64).max(0) as u64;
        let delete_reader = Arc::new(DeleteReader::new(location.clone(), table_schema, name_mapping.clone(), max_rows));
        Ok(ScanPlan {
            snapshot,
            schema,
            files,
            deletes,
            spec_ids,
            filter,
            metrics,
            prune: self.prune,
            read_schema,
            name_mapping,
            location,
            delete_reader,
        })
    }

    /// Reads everything into memory like [`Scan::to_batches`], and reports what was read
    /// and skipped.
    pub fn to_batches_with_metrics(&self) -> Result<(Vec<RecordBatch>, ScanMetrics)> {
        let plan = self.plan()?;
        let n = plan.files.len();
        let threads = self.threads.min(n).max(1);
        // Threads left over when there are fewer files than threads decode the row
        // groups of each file in parallel (one large file uses every core).
        let opts =
            ReadOptions { batch_size: self.batch_size, threads: self.threads / threads, ..ReadOptions::default() };
        let mut per_file: Vec<Option<Result<FileOutput>>> = (0..n).map(|_| None).collect();
        if threads <= 1 {
            for (i, slot) in per_file.iter_mut().enumerate() {
                *slot = Some(plan.read_file_with(i, &opts));
            }
        } else {
            // A bounded pool (crate::sync) takes files from a shared queue; results
            // come back in plan order.
            let indices: Vec<usize> = (0..n).collect();
            let results = crate::sync::map(&indices, threads, |&i| plan.read_file_with(i, &opts));
            for (slot, r) in per_file.iter_mut().zip(results) {
                // A reader panicked (a bug, not bad input: decoding is guarded): surface it.
                *slot =
                    Some(r.unwrap_or_else(|why| Err(Error::InvalidArgument(format!("scan worker panicked: {why}")))));
            }
        }
        let mut metrics = plan.metrics.clone();
        let mut out = Vec::new();
        for r in per_file.into_iter().flatten() {
            let (batches, m) = r?;
            metrics.add_read(&m);
            out.extend(batches);
        }
        Ok((out, metrics))
    }

    /// The projected Arrow schema of the output (from the metadata alone, like
    /// [`Scan::snapshot_and_schema`]).
    pub fn arrow_schema(&self) -> Result<ArrowSchema> {
        Ok(self.snapshot_and_schema()?.1.to_arrow())
    }

    /// The snapshot this scan reads (`None`: the table has none yet) and the schema of
    /// its output (the selected columns in order, field ids included), from the table
    /// metadata alone: unlike [`Scan::plan`] it reads no manifest, so a caller that only
    /// needs to know what a scan would return (a SQL planner, a schema check) pays
    /// nothing per data file. Errors as [`Scan::plan`] for a snapshot that does not
    /// exist or a column that is not in the schema.
    pub fn snapshot_and_schema(&self) -> Result<(Option<Snapshot>, Schema)> {
        let (_, snapshot, _, schema) = self.resolve_schema()?;
        Ok((snapshot, schema))
    }

    /// The metadata and snapshot read, the snapshot's table schema, and that schema
    /// projected onto the selected columns.
    fn resolve_schema(&self) -> Result<(Arc<TableMetadata>, Option<Snapshot>, Schema, Schema)> {
        let (metadata, snapshot) = self.resolve()?;
        let schema_id = match (&self.selection, &snapshot) {
            // Time travel reads with the schema of that snapshot.
            (Selection::Current, _) | (_, None) => metadata.current_schema_id,
            (_, Some(s)) => s.schema_id.unwrap_or(metadata.current_schema_id),
        };
        let table_schema = metadata.schema(schema_id).unwrap_or_else(|| metadata.current_schema()).clone();
        let schema = project(&table_schema, self.columns.as_deref())?;
        Ok((metadata, snapshot, table_schema, schema))
    }

    /// Reads everything into memory, files in parallel, in plan order.
    pub fn to_batches(&self) -> Result<Vec<RecordBatch>> {
        Ok(self.to_batches_with_metrics()?.0)
    }

    /// A streaming iterator over the batches, one file at a time.
    pub fn to_iter(&self) -> Result<ScanIter> {
        let plan = self.plan()?;
        // One file at a time, its row groups decoded on up to `threads` threads.
        let opts = ReadOptions { batch_size: self.batch_size, threads: self.threads, ..ReadOptions::default() };
        Ok(ScanIter::new(plan, opts))
    }

    /// Counts rows: from the manifests alone without a filter or delete files; otherwise
    /// by reading only the filter's (and equality deletes') columns of the files pruning
    /// keeps.
    pub fn count(&self) -> Result<i64> {
        if self.filter.is_none() {
            let plan = self.plan()?;
            if !plan.has_deletes() {
                return Ok(plan.record_count());
            }
        }
        let scan = self.clone().select(Vec::<String>::new());
        let (_, metrics) = scan.to_batches_with_metrics()?;
        Ok(i64::try_from(metrics.rows_matched).unwrap_or(i64::MAX))
    }

    fn resolve(&self) -> Result<(Arc<TableMetadata>, Option<Snapshot>)> {
        let metadata = self.table.metadata();
        match &self.selection {
            Selection::Current => {
                let snap = metadata.current_snapshot().cloned();
                Ok((metadata, snap))
            }
            Selection::SnapshotId(id) => {
                let snap = metadata
                    .snapshot(*id)
                    .cloned()
                    .ok_or_else(|| Error::NotFound { what: format!("snapshot {id} (expired or never existed)") })?;
                Ok((metadata, Some(snap)))
            }
            Selection::Version(v) => {
                let md = self.table.metadata_at_version(*v)?;
                let snap = md.current_snapshot().cloned();
                Ok((md, snap))
            }
            Selection::Timestamp(ts) => {
                let entry = metadata
                    .snapshot_log
                    .iter()
                    .filter(|e| e.timestamp_ms <= *ts)
                    .max_by_key(|e| e.timestamp_ms)
                    .ok_or_else(|| Error::NotFound { what: format!("a snapshot current at {ts} ms") })?;
                let snap = metadata.snapshot(entry.snapshot_id).cloned().ok_or_else(|| Error::NotFound {
                    what: format!("snapshot {} current at {ts} ms (expired)", entry.snapshot_id),
                })?;
                Ok((metadata, Some(snap)))
            }
        }
    }

    fn live_files(
        &self,
        snapshot: &Snapshot,
        metadata: &TableMetadata,
        filter: Option<&BoundPredicate>,
        metrics: &mut ScanMetrics,
    ) -> Result<PlannedFiles> {
        let table = &self.table;
        let manifests = load_manifest_list(table.location(), snapshot)?;
        metrics.manifests = manifests.len();
        let schema = metadata
            .schema(snapshot.schema_id.unwrap_or(metadata.current_schema_id))
            .unwrap_or_else(|| metadata.current_schema());
        // The filter projected onto each partition spec met (inclusive projection).
        let mut projected: Vec<(i32, Option<PartitionSpec>, BoundPredicate)> = Vec::new();
        // (data sequence number, file): sorted below so rows come back oldest commit
        // first, whatever order the manifest list has (newest manifest first).
        let mut files: Vec<(i64, i32, DataFile)> = Vec::new();
        let mut index = DeleteIndex::default();
        // First which manifests to read (partition summaries prune whole manifests),
        // then read them all at once (concurrently on a remote store), then decode.
        let mut to_read: Vec<(&ManifestFile, Option<usize>)> = Vec::new();
        for m in &manifests {
            let part = match filter {
                Some(f) => {
                    if !projected.iter().any(|(id, _, _)| *id == m.partition_spec_id) {
                        let spec = metadata.partition_specs.iter().find(|s| s.spec_id == m.partition_spec_id).cloned();
                        let p = match &spec {
                            Some(spec) if !spec.fields.is_empty() => f.project(spec),
                            _ => BoundPredicate::True,
                        };
                        projected.push((m.partition_spec_id, spec, p));
                    }
                    projected.iter().position(|(id, spec, p)| {
                        *id == m.partition_spec_id && spec.is_some() && *p != BoundPredicate::True
                    })
                }
                None => None,
            };
            if let (Some(i), Some(summaries), ManifestContent::Data) = (part, &m.partitions, m.content)
                && let (_, Some(spec), p) = &projected[i]
                && !p.might_match(&|id| partition_summary_stats(spec, schema, summaries, id))
            {
                metrics.manifests_skipped += 1;
                let live = (m.added_files_count.max(0) + m.existing_files_count.max(0)) as usize;
                metrics.files += live;
                metrics.files_skipped_by_partition += live;
                continue;
            }
            to_read.push((m, part));
        }
        let uris: Vec<&str> = to_read.iter().map(|(m, _)| m.manifest_path.as_str()).collect();
        let read = read_files(table, &uris)?;
        for ((m, part), (file, bytes)) in to_read.into_iter().zip(read) {
            let part = part.and_then(|i| match &projected[i] {
                (_, Some(spec), p) => Some((spec, p)),
                _ => None,
            });
            let manifest = read_manifest(&file.path(), &bytes, Some(m))?;
            if m.content == ManifestContent::Deletes {
                let unpartitioned = metadata
                    .partition_specs
                    .iter()
                    .find(|s| s.spec_id == m.partition_spec_id)
                    .is_none_or(|s| s.fields.is_empty());
                for e in manifest.entries {
                    if e.status == EntryStatus::Deleted {
                        continue;
                    }
                    if e.data_file.key_metadata.is_some() || m.key_metadata.is_some() {
                        return Err(Error::Unsupported {
                            what: format!("encrypted delete files ({})", e.data_file.file_path),
                        });
                    }
                    // Refused when planned, whether or not a data file it applies to
                    // is read: a scan must not be right only by luck.
                    if !e.data_file.file_format.eq_ignore_ascii_case("parquet") {
                        let v3 = e.data_file.file_format.eq_ignore_ascii_case("puffin");
                        return Err(Error::Unsupported {
                            what: if v3 {
                                format!("Iceberg v3 deletion vectors (Puffin delete file {})", e.data_file.file_path)
                            } else {
                                format!("{} delete files ({})", e.data_file.file_format, e.data_file.file_path)
                            },
                        });
                    }
                    let sequence_number = e.sequence_number.unwrap_or(m.sequence_number);
                    index.add(
                        DeleteFile { file: e.data_file, sequence_number, spec_id: m.partition_spec_id },
                        unpartitioned,
                    );
                }
                continue;
            }
            for e in manifest.entries {
                if e.status == EntryStatus::Deleted {
                    continue;
                }
                if e.data_file.content != DataContent::Data {
                    return Err(Error::CorruptMetadata {
                        path: file.path(),
                        reason: format!("delete file {} listed in a data manifest", e.data_file.file_path),
                    });
                }
                // Reading these as Parquet would give a confusing error or wrong rows.
                if !e.data_file.file_format.eq_ignore_ascii_case("parquet") {
                    return Err(Error::Unsupported {
                        what: format!("{} data files ({})", e.data_file.file_format, e.data_file.file_path),
                    });
                }
                if e.data_file.key_metadata.is_some() || m.key_metadata.is_some() {
                    return Err(Error::Unsupported {
                        what: format!("encrypted data files ({})", e.data_file.file_path),
                    });
                }
                metrics.files += 1;
                if let Some((spec, p)) = part
                    && !p.might_match(&|id| {
                        partition_value_stats(spec, schema, &e.data_file.partition, e.data_file.record_count, id)
                    })
                {
                    metrics.files_skipped_by_partition += 1;
                    continue;
                }
                if let Some(f) = filter
                    && !f.might_match_file(&e.data_file)
                {
                    metrics.files_skipped_by_metrics += 1;
                    continue;
                }
                files.push((e.sequence_number.unwrap_or(m.sequence_number), m.partition_spec_id, e.data_file));
            }
        }
        files.sort_by_key(|(seq, _, _)| *seq);
        let deletes = files.iter().map(|(seq, spec, f)| index.for_data(*seq, *spec, f)).collect();
        let spec_ids = files.iter().map(|(_, spec, _)| *spec).collect();
        Ok((files.into_iter().map(|(_, _, f)| f).collect(), deletes, spec_ids))
    }
}

/// `schema` plus the columns of `table` that the equality delete files in `deletes`
/// compare and `schema` lacks (appended).
fn with_equality_columns(schema: &Schema, table: &Schema, deletes: &[Arc<DeleteFile>]) -> Result<Schema> {
    let mut fields = schema.fields().to_vec();
    for d in deletes {
        for id in d.file.equality_ids.iter().flatten() {
            if !fields.iter().any(|f| f.id == *id)
                && let Some(f) = table.fields().iter().find(|f| f.id == *id)
            {
                fields.push(f.clone());
            }
        }
    }
    if fields.len() == schema.fields().len() {
        return Ok(schema.clone());
    }
    let mut s = Schema::new(fields)?;
    s.schema_id = schema.schema_id;
    Ok(s)
}

/// The table schema restricted to `columns` (all when `None`), in the given order.
fn project(schema: &Schema, columns: Option<&[String]>) -> Result<Schema> {
    let Some(columns) = columns else { return Ok(schema.clone()) };
    let mut fields: Vec<NestedField> = Vec::with_capacity(columns.len());
    for c in columns {
        let f = schema
            .field_by_name(c)
            .ok_or_else(|| Error::InvalidArgument(format!("no column {c:?} in the table schema")))?;
        if fields.iter().any(|x| x.id == f.id) {
            return Err(Error::InvalidArgument(format!("column {c:?} selected twice")));
        }
        fields.push(f.clone());
    }
    let mut s = Schema::new(fields)?;
    s.schema_id = schema.schema_id;
    Ok(s)
}

/// Streams a planned scan's batches, one data file at a time.
pub struct ScanIter {
    plan: ScanPlan,
    opts: ReadOptions,
    next_file: usize,
    current: Option<FileRead>,
    metrics: ScanMetrics,
    failed: bool,
}

impl std::fmt::Debug for ScanIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanIter").field("files", &self.plan.files.len()).field("next_file", &self.next_file).finish()
    }
}

impl ScanIter {
    fn new(plan: ScanPlan, opts: ReadOptions) -> ScanIter {
        let metrics = plan.metrics.clone();
        ScanIter { plan, opts, next_file: 0, current: None, metrics, failed: false }
    }

    /// The plan being read.
    pub fn plan(&self) -> &ScanPlan {
        &self.plan
    }

    /// What has been read and skipped so far (complete once the iterator is exhausted).
    pub fn metrics(&self) -> ScanMetrics {
        let mut m = self.metrics.clone();
        if let Some(r) = &self.current {
            m.add_read(&r.metrics);
        }
        m
    }
}

impl Iterator for ScanIter {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(r) = self.current.as_mut() {
                match r.next() {
                    Some(Ok(b)) => return Some(Ok(b)),
                    Some(Err(e)) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                    None => {
                        if let Some(done) = self.current.take() {
                            self.metrics.add_read(&done.metrics);
                        }
                    }
                }
            }
            let file = self.plan.files.get(self.next_file)?;
            self.next_file += 1;
            match FileRead::open(&self.plan, self.next_file - 1, file, &self.opts, &mut self.metrics) {
                Ok(r) => self.current = r,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl Table {
    /// A scan of the current snapshot (as this handle last saw it).
    pub fn scan(&self) -> Scan {
        Scan::new(self.clone())
    }
}
