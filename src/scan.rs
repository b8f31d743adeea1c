//! Scans: choose a snapshot (current, by id, by version, by time), plan its data
//! files from the manifests, and read them projected onto the selected columns.
//!
//! Promises: a scan reads one consistent snapshot, pinned when it is planned, even
//! while other processes commit; output batches all have exactly the projected Arrow
//! schema (`Schema::to_arrow` of the selected columns, field ids included); reading
//! streams file by file and never holds more than one file's batch in flight per
//! reader thread.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::Schema as ArrowSchema;

use crate::error::{Error, Result};
use crate::read::{DataFileReader, NameMapping, ReadOptions, open_data_file};
use crate::spec::manifest::{DataContent, EntryStatus, ManifestContent, read_manifest};
use crate::spec::metadata::{Snapshot, TableMetadata};
use crate::spec::types::{NestedField, Schema};
use crate::table::{Table, load_manifest_list, properties, read_path};

pub use crate::spec::manifest::DataFile;

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
}

/// A planned scan: the snapshot, the projected schema and the files to read.
#[derive(Debug, Clone)]
pub struct ScanPlan {
    /// The snapshot read (`None` for an empty table).
    pub snapshot: Option<Snapshot>,
    /// The projected table schema.
    pub schema: Schema,
    /// The live data files, oldest commit first.
    pub files: Vec<DataFile>,
    name_mapping: Option<Arc<NameMapping>>,
}

impl ScanPlan {
    /// Total rows according to the manifests.
    pub fn record_count(&self) -> i64 {
        self.files.iter().map(|f| f.record_count).sum()
    }
}

impl Scan {
    pub(crate) fn new(table: Table) -> Scan {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
        Scan { table, columns: None, selection: Selection::Current, batch_size: 8192, threads }
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

    /// Reads the snapshot that was current at `timestamp_ms` (ms since the epoch).
    pub fn as_of_timestamp(mut self, timestamp_ms: i64) -> Self {
        self.selection = Selection::Timestamp(timestamp_ms);
        self
    }

    /// Rows per output batch (default 8192).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }

    /// Reader threads for [`Scan::to_batches`] (default: the machine's cores, max 8).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Resolves the snapshot and lists the live data files.
    pub fn plan(&self) -> Result<ScanPlan> {
        let (metadata, snapshot) = self.resolve()?;
        let schema_id = match (&self.selection, &snapshot) {
            // Time travel reads with the schema of that snapshot.
            (Selection::Current, _) | (_, None) => metadata.current_schema_id,
            (_, Some(s)) => s.schema_id.unwrap_or(metadata.current_schema_id),
        };
        let table_schema = metadata.schema(schema_id).unwrap_or_else(|| metadata.current_schema()).clone();
        let schema = project(&table_schema, self.columns.as_deref())?;
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
        let files = match &snapshot {
            Some(s) => self.live_files(s)?,
            None => Vec::new(),
        };
        Ok(ScanPlan { snapshot, schema, files, name_mapping })
    }

    /// The projected Arrow schema of the output.
    pub fn arrow_schema(&self) -> Result<ArrowSchema> {
        Ok(self.plan()?.schema.to_arrow())
    }

    /// Reads everything into memory, files in parallel, in plan order.
    pub fn to_batches(&self) -> Result<Vec<RecordBatch>> {
        let plan = self.plan()?;
        let opts = ReadOptions { batch_size: self.batch_size, ..ReadOptions::default() };
        let threads = self.threads.min(plan.files.len()).max(1);
        if threads <= 1 {
            return ScanIter::new(plan, opts).collect();
        }
        // Each worker takes every n-th file; results are put back in plan order.
        let paths: Vec<PathBuf> = plan.files.iter().map(|f| read_path(self.table.location(), &f.file_path)).collect();
        let mut per_file: Vec<Option<Result<Vec<RecordBatch>>>> = (0..paths.len()).map(|_| None).collect();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    let paths = &paths;
                    let plan = &plan;
                    let opts = &opts;
                    scope.spawn(move || {
                        let mut out = Vec::new();
                        for i in (w..paths.len()).step_by(threads) {
                            let res = open_data_file(&paths[i], &plan.schema, plan.name_mapping.as_deref(), opts)
                                .and_then(|r| r.collect::<Result<Vec<_>>>());
                            out.push((i, res));
                        }
                        out
                    })
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(results) => {
                        for (i, r) in results {
                            per_file[i] = Some(r);
                        }
                    }
                    Err(_) => {
                        // A reader thread panicked (a bug, not bad input): surface it.
                        per_file.push(Some(Err(Error::InvalidArgument("scan worker panicked".into()))));
                    }
                }
            }
        });
        let mut out = Vec::new();
        for r in per_file.into_iter().flatten() {
            out.extend(r?);
        }
        Ok(out)
    }

    /// A streaming iterator over the batches, one file at a time.
    pub fn to_iter(&self) -> Result<ScanIter> {
        let plan = self.plan()?;
        let opts = ReadOptions { batch_size: self.batch_size, ..ReadOptions::default() };
        Ok(ScanIter::new(plan, opts))
    }

    /// Counts rows by reading manifests only.
    pub fn count(&self) -> Result<i64> {
        Ok(self.plan()?.record_count())
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

    fn live_files(&self, snapshot: &Snapshot) -> Result<Vec<DataFile>> {
        let table = &self.table;
        let manifests = load_manifest_list(table.storage(), table.location(), snapshot)?;
        // (data sequence number, file): sorted below so rows come back oldest commit
        // first, whatever order the manifest list has (newest manifest first).
        let mut files: Vec<(i64, DataFile)> = Vec::new();
        for m in &manifests {
            let path = read_path(table.location(), &m.manifest_path);
            let bytes = table.storage().read(&path).map_err(|e| Error::io(&path, e))?;
            let manifest = read_manifest(&path, &bytes, Some(m))?;
            if m.content == ManifestContent::Deletes {
                if manifest.entries.iter().any(|e| e.status != EntryStatus::Deleted) {
                    return Err(Error::Unsupported {
                        what: "tables with row-level delete files (merge-on-read)".into(),
                    });
                }
                continue;
            }
            for e in manifest.entries {
                if e.status == EntryStatus::Deleted {
                    continue;
                }
                if e.data_file.content != DataContent::Data {
                    return Err(Error::Unsupported {
                        what: "tables with row-level delete files (merge-on-read)".into(),
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
                files.push((e.sequence_number.unwrap_or(m.sequence_number), e.data_file));
            }
        }
        files.sort_by_key(|(seq, _)| *seq);
        Ok(files.into_iter().map(|(_, f)| f).collect())
    }
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
    current: Option<DataFileReader>,
    failed: bool,
}

impl std::fmt::Debug for ScanIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanIter").field("files", &self.plan.files.len()).field("next_file", &self.next_file).finish()
    }
}

impl ScanIter {
    fn new(plan: ScanPlan, opts: ReadOptions) -> ScanIter {
        ScanIter { plan, opts, next_file: 0, current: None, failed: false }
    }

    /// The plan being read.
    pub fn plan(&self) -> &ScanPlan {
        &self.plan
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
                    None => self.current = None,
                }
            }
            let file = self.plan.files.get(self.next_file)?;
            self.next_file += 1;
            let path = crate::location::uri_to_path(&file.file_path);
            match open_data_file(&path, &self.plan.schema, self.plan.name_mapping.as_deref(), &self.opts) {
                Ok(r) => self.current = Some(r),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
