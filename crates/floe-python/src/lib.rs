//! `floe._floe`: the compiled half of floe's Python package.
//!
//! Owns the boundary between Python and the floe library: tables, transactions and
//! scans as Python classes, Arrow data in and out through the Arrow C data / C stream
//! interface (PyCapsules, no copies through Python objects), and floe's errors as the
//! Python exceptions of `floe._errors` carrying the same fields as attributes.
//!
//! Promises: every call that commits, scans or maintains a table runs with the GIL
//! released (`Python::detach`), so Python threads and processes run in parallel; a
//! `Table` handle is shared freely between threads (floe's `Table` is `Send + Sync`);
//! bad input from Python is a typed exception and writes nothing. The friendly API
//! (`floe.create_table`, `Scan`, pandas/polars conversion, the datashard layer) is the
//! pure-Python package in `python/floe`, built on this module.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_array::ffi_stream::ArrowArrayStreamReader;
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_pyarrow::{FromPyArrow, IntoPyArrow, PyArrowType};
use arrow_schema::{ArrowError, SchemaRef};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use floe::{
    CompactOptions, ConflictKind, Durability, ExpireOptions, OrphanOptions, PartitionSpec, Predicate, Schema,
    TableOptions, Transform,
};

// ---------------------------------------------------------------------------------------
// Errors

/// The snake_case name of a conflict kind: the Python side's `conflict_kinds` strings.
fn conflict_kind_name(kind: &ConflictKind) -> &'static str {
    match kind {
        ConflictKind::CommittedSinceBase { .. } => "committed_since_base",
        ConflictKind::MatchingFileAdded { .. } => "matching_file_added",
        ConflictKind::MatchingFileRemoved { .. } => "matching_file_removed",
        ConflictKind::FileNoLongerLive { .. } => "file_no_longer_live",
        ConflictKind::HistoryRewritten => "history_rewritten",
        ConflictKind::SchemaChanged { .. } => "schema_changed",
        ConflictKind::SpecChanged { .. } => "spec_changed",
        ConflictKind::Custom { .. } => "custom",
        _ => "other",
    }
}

/// The exception class (in `floe._errors`) a floe error is raised as.
fn exception_class(e: &floe::Error) -> &'static str {
    use floe::Error as E;
    match e {
        E::ConcurrentModification { .. } => "ConcurrentModificationException",
        E::CommitStateUnknown { .. } => "CommitStateUnknown",
        E::CommittedNotDurable { .. } => "CommittedNotDurable",
        E::CommitFilesMissing { .. } => "CommitFilesMissing",
        E::TransactionTooOld { .. } => "TransactionTooOld",
        E::NullInRequiredField { .. } => "NullInRequiredField",
        E::SchemaMismatch { .. } => "SchemaMismatch",
        E::TableNotFound { .. } => "TableNotFound",
        E::TableExists { .. } => "TableExists",
        E::NotFound { .. } => "NotFound",
        E::Predicate(_) => "InvalidFilter",
        E::InvalidArgument(_) | E::InvalidInput { .. } => "InvalidArgument",
        E::Unsupported { .. } | E::UnsupportedLocation { .. } => "Unsupported",
        E::CorruptMetadata { .. } | E::TableUuidChanged { .. } | E::TableRelocated { .. } => "CorruptTable",
        E::Io { .. } => "StorageError",
        _ => "FloeError",
    }
}

/// Builds the Python exception for `e`: its class from `floe._errors`, its message floe's
/// `Display`, and the variant's fields as attributes.
fn build_exception(py: Python<'_>, e: &floe::Error) -> PyResult<PyErr> {
    use floe::Error as E;
    let errors = py.import("floe._errors")?;
    let exc = errors.getattr(exception_class(e))?.call1((e.to_string(),))?;
    match e {
        E::ConcurrentModification { base_version, attempted_version, conflicting, retries_exhausted, .. } => {
            exc.setattr("base_version", base_version)?;
            exc.setattr("attempted_version", attempted_version)?;
            exc.setattr("retries_exhausted", retries_exhausted)?;
            let kinds: Vec<&str> = conflicting.iter().map(|c| conflict_kind_name(&c.kind)).collect();
            exc.setattr("conflict_kinds", kinds)?;
            let list = PyList::empty(py);
            for c in conflicting {
                let d = PyDict::new(py);
                d.set_item("version", c.version)?;
                d.set_item("operation", c.operation.clone())?;
                d.set_item("kind", conflict_kind_name(&c.kind))?;
                d.set_item("detail", c.to_string())?;
                list.append(d)?;
            }
            exc.setattr("conflicts", list)?;
        }
        E::CommitStateUnknown { version, commit_id, .. }
        | E::CommittedNotDurable { version, commit_id, .. }
        | E::CommitFilesMissing { version, commit_id, .. } => {
            exc.setattr("version", version)?;
            exc.setattr("commit_id", commit_id)?;
        }
        E::NullInRequiredField { field, null_count, .. } => {
            exc.setattr("field", field)?;
            exc.setattr("null_count", null_count)?;
        }
        E::SchemaMismatch { field, reason, .. } => {
            exc.setattr("field", field)?;
            exc.setattr("reason", reason)?;
        }
        E::TableNotFound { path, .. } | E::TableExists { path, .. } => {
            exc.setattr("path", path.display().to_string())?;
        }
        _ => {}
    }
    exc.setattr("committed", e.is_committed())?;
    Ok(PyErr::from_value(exc))
}

fn floe_err(py: Python<'_>, e: floe::Error) -> PyErr {
    build_exception(py, &e).unwrap_or_else(|err| err)
}

/// `Result<T, floe::Error>` → `PyResult<T>` with the Python exception of the error.
trait IntoPy<T> {
    fn py(self, py: Python<'_>) -> PyResult<T>;
}
impl<T> IntoPy<T> for floe::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| floe_err(py, e))
    }
}

fn parse_filter(py: Python<'_>, text: &str) -> PyResult<Predicate> {
    Predicate::parse(text).map_err(|e| floe_err(py, floe::Error::from(e)))
}

// ---------------------------------------------------------------------------------------
// Arrow in

/// Reads every batch of an Arrow C stream (anything with `__arrow_c_stream__`, or a
/// `pyarrow.RecordBatchReader`). The stream is drained with the GIL released; a producer
/// implemented in Python takes the GIL itself when it needs it.
fn read_batches(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    let has_stream = data.hasattr("__arrow_c_stream__")?;
    let reader = match ArrowArrayStreamReader::from_pyarrow_bound(data) {
        Ok(r) => r,
        Err(e) if !has_stream => {
            let type_name = data.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            return Err(PyTypeError::new_err(format!(
                "expected Arrow data (a pyarrow Table, RecordBatch or RecordBatchReader, a pandas or polars \
                 DataFrame, or any object with __arrow_c_stream__), got {type_name}: {e}"
            )));
        }
        Err(e) => return Err(e),
    };
    py.detach(|| reader.collect::<Result<Vec<_>, ArrowError>>())
        .map_err(|e| PyValueError::new_err(format!("reading the Arrow stream failed: {e}")))
}

// ---------------------------------------------------------------------------------------
// Reports

/// What one commit did (floe's `CommitReport`).
#[pyclass(frozen, get_all, skip_from_py_object, name = "CommitReport", module = "floe._floe")]
#[derive(Clone)]
struct PyCommitReport {
    /// The table version this commit created.
    version: u64,
    snapshot_id: i64,
    sequence_number: i64,
    commit_id: String,
    added_files: usize,
    added_records: i64,
    removed_files: usize,
    removed_records: i64,
    /// Attempts it took (1 = no conflict on the way).
    attempts: u32,
    conflicts: u32,
    /// Commits by others this one was rebased over.
    rebased_over: u64,
    elapsed: Duration,
    /// For row-level operations (delete, upsert, insert_if_absent, overwrite).
    rows_added: Option<u64>,
    rows_removed: Option<u64>,
    rows_copied: Option<u64>,
    files_rewritten: Option<usize>,
    keys_skipped: Option<usize>,
}

#[pymethods]
impl PyCommitReport {
    fn __repr__(&self) -> String {
        format!(
            "CommitReport(version={}, snapshot_id={}, added_records={}, removed_records={}, attempts={})",
            self.version, self.snapshot_id, self.added_records, self.removed_records, self.attempts
        )
    }
}

impl From<floe::CommitReport> for PyCommitReport {
    fn from(r: floe::CommitReport) -> Self {
        let rows = r.rows.clone();
        PyCommitReport {
            version: r.version,
            snapshot_id: r.snapshot_id,
            sequence_number: r.sequence_number,
            commit_id: r.commit_id,
            added_files: r.added_files,
            added_records: r.added_records,
            removed_files: r.removed_files,
            removed_records: r.removed_records,
            attempts: r.attempts,
            conflicts: r.conflicts,
            rebased_over: r.rebased_over,
            elapsed: r.elapsed,
            rows_added: rows.as_ref().map(|c| c.rows_added),
            rows_removed: rows.as_ref().map(|c| c.rows_removed),
            rows_copied: rows.as_ref().map(|c| c.rows_copied),
            files_rewritten: rows.as_ref().map(|c| c.files_rewritten),
            keys_skipped: rows.as_ref().map(|c| c.keys_skipped.len()),
        }
    }
}

/// What one maintenance run did (floe's `MaintenanceReport`).
#[pyclass(frozen, get_all, name = "MaintenanceReport", module = "floe._floe")]
struct PyMaintenanceReport {
    operation: String,
    dry_run: bool,
    commits: Vec<PyCommitReport>,
    data_files_added: usize,
    data_files_removed: usize,
    rows_rewritten: i64,
    snapshots_expired: usize,
    metadata_files_removed: usize,
    other_files_removed: usize,
    bytes_added: u64,
    bytes_removed: u64,
    deleted_paths: Vec<String>,
    skipped: Vec<String>,
    elapsed: Duration,
}

#[pymethods]
impl PyMaintenanceReport {
    fn __repr__(&self) -> String {
        format!(
            "MaintenanceReport(operation={:?}, dry_run={}, commits={}, data_files_added={}, data_files_removed={}, \
             snapshots_expired={}, deleted_paths={})",
            self.operation,
            self.dry_run,
            self.commits.len(),
            self.data_files_added,
            self.data_files_removed,
            self.snapshots_expired,
            self.deleted_paths.len()
        )
    }
}

impl From<floe::MaintenanceReport> for PyMaintenanceReport {
    fn from(r: floe::MaintenanceReport) -> Self {
        PyMaintenanceReport {
            operation: r.operation,
            dry_run: r.dry_run,
            commits: r.commits.into_iter().map(Into::into).collect(),
            data_files_added: r.data_files_added,
            data_files_removed: r.data_files_removed,
            rows_rewritten: r.rows_rewritten,
            snapshots_expired: r.snapshots_expired,
            metadata_files_removed: r.metadata_files_removed,
            other_files_removed: r.other_files_removed,
            bytes_added: r.bytes_added,
            bytes_removed: r.bytes_removed,
            deleted_paths: r.deleted_paths.iter().map(|p| p.display().to_string()).collect(),
            skipped: r.skipped,
            elapsed: r.elapsed,
        }
    }
}

/// One snapshot of the table (an Iceberg snapshot).
#[pyclass(frozen, get_all, name = "Snapshot", module = "floe._floe")]
struct PySnapshot {
    snapshot_id: i64,
    parent_snapshot_id: Option<i64>,
    sequence_number: i64,
    /// When it was committed (a timezone-aware UTC datetime).
    timestamp: SystemTime,
    /// `append`, `overwrite`, `delete` or `replace`.
    operation: String,
    schema_id: Option<i32>,
    summary: BTreeMap<String, String>,
    manifest_list: String,
}

#[pymethods]
impl PySnapshot {
    fn __repr__(&self) -> String {
        format!(
            "Snapshot(snapshot_id={}, parent_snapshot_id={:?}, sequence_number={}, operation={:?})",
            self.snapshot_id, self.parent_snapshot_id, self.sequence_number, self.operation
        )
    }
}

impl From<&floe::spec::Snapshot> for PySnapshot {
    fn from(s: &floe::spec::Snapshot) -> Self {
        PySnapshot {
            snapshot_id: s.snapshot_id,
            parent_snapshot_id: s.parent_snapshot_id,
            sequence_number: s.sequence_number,
            timestamp: s.timestamp(),
            operation: s.operation().to_string(),
            schema_id: s.schema_id,
            summary: s.summary.clone(),
            manifest_list: s.manifest_list.clone(),
        }
    }
}

/// One entry of the table's history: the snapshots that were current, oldest first.
#[pyclass(frozen, get_all, name = "HistoryEntry", module = "floe._floe")]
struct PyHistoryEntry {
    snapshot_id: i64,
    parent_snapshot_id: Option<i64>,
    timestamp: SystemTime,
    operation: Option<String>,
    summary: BTreeMap<String, String>,
}

#[pymethods]
impl PyHistoryEntry {
    fn __repr__(&self) -> String {
        let op = self.operation.as_deref().unwrap_or("None");
        format!("HistoryEntry(snapshot_id={}, operation={op:?})", self.snapshot_id)
    }
}

// ---------------------------------------------------------------------------------------
// Scans

/// A scan's batches as an Arrow `RecordBatchReader` (exported over the C stream
/// interface): floe errors surface as Arrow errors carrying floe's message.
struct ScanReader {
    schema: SchemaRef,
    iter: floe::ScanIter,
}

impl Iterator for ScanReader {
    type Item = Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.iter.next().map(|r| r.map_err(|e| ArrowError::ExternalError(Box::new(e))))
    }
}

impl RecordBatchReader for ScanReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

fn system_time_from_ms(ms: i64) -> PyResult<SystemTime> {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .ok_or_else(|| PyValueError::new_err(format!("as_of must be after 1970-01-01, got {ms} ms")))
}

fn duration_from_secs(name: &str, secs: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .map_err(|_| PyValueError::new_err(format!("{name} must be a non-negative number of seconds, got {secs}")))
}

// ---------------------------------------------------------------------------------------
// Table

/// A handle on one floe table. Cheap to share: threads may use one handle at once.
#[pyclass(frozen, name = "Table", module = "floe._floe")]
struct PyTable {
    inner: floe::Table,
    /// How this handle's commits fsync (the Python spelling: `"durable"`/`"relaxed"`).
    durability: Durability,
}

/// `"durable"` (fsync every file and directory a commit writes: survives a power cut)
/// or `"relaxed"` (no fsync: survives a process crash, not a power cut).
fn durability_from_py(py: Python<'_>, durability: &str) -> PyResult<Durability> {
    match durability {
        "durable" => Ok(Durability::Durable),
        "relaxed" => Ok(Durability::Relaxed),
        other => Err(floe_err(
            py,
            floe::Error::InvalidArgument(format!("durability must be \"durable\" or \"relaxed\", got {other:?}")),
        )),
    }
}

fn durability_name(d: Durability) -> &'static str {
    match d {
        Durability::Relaxed => "relaxed",
        _ => "durable",
    }
}

/// A table schema from Python: Iceberg schema JSON text (from `floe.Schema`) or anything
/// pyarrow accepts as a schema (field ids are assigned 1, 2, 3 …).
fn schema_from_py(py: Python<'_>, schema: &Bound<'_, PyAny>) -> PyResult<Schema> {
    if let Ok(text) = schema.extract::<String>() {
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("schema JSON: {e}")))?;
        return Schema::from_json(&value).map_err(|e| floe_err(py, floe::Error::InvalidArgument(e)));
    }
    let arrow = PyArrowType::<arrow_schema::Schema>::extract(schema.as_borrowed()).map_err(|_| {
        let type_name = schema.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        PyTypeError::new_err(format!("schema must be a pyarrow.Schema or a floe.Schema, got {type_name}"))
    })?;
    Schema::from_arrow(&arrow.0).py(py)
}

/// A partition spec from `(column, transform)` pairs; transforms in Iceberg's spelling
/// (`identity`, `year`, `month`, `day`, `hour`, `bucket[N]`, `truncate[W]`).
fn spec_from_py(py: Python<'_>, schema: &Schema, partition_by: Vec<(String, String)>) -> PyResult<PartitionSpec> {
    let mut builder = PartitionSpec::builder(schema);
    for (column, transform) in partition_by {
        builder = builder.add(column, Transform::parse(&transform).py(py)?);
    }
    builder.build().py(py)
}

#[allow(clippy::too_many_arguments)]
impl PyTable {
    fn build_scan(
        &self,
        py: Python<'_>,
        columns: Option<Vec<String>>,
        filter: Option<&str>,
        snapshot_id: Option<i64>,
        version: Option<u64>,
        as_of_ms: Option<i64>,
        batch_size: Option<usize>,
    ) -> PyResult<floe::Scan> {
        let mut scan = self.inner.scan();
        if let Some(columns) = columns {
            scan = scan.select(columns);
        }
        if let Some(filter) = filter {
            scan = scan.filter(parse_filter(py, filter)?);
        }
        if let Some(id) = snapshot_id {
            scan = scan.snapshot_id(id);
        }
        if let Some(v) = version {
            scan = scan.as_of_version(v);
        }
        if let Some(ms) = as_of_ms {
            scan = scan.as_of(system_time_from_ms(ms)?);
        }
        if let Some(n) = batch_size {
            if n == 0 {
                return Err(PyValueError::new_err("batch_size must be positive"));
            }
            scan = scan.batch_size(n);
        }
        Ok(scan)
    }
}

#[pymethods]
impl PyTable {
    /// Creates a table at `location` (an empty or missing directory).
    #[staticmethod]
    #[pyo3(signature = (location, schema, partition_by=None, properties=None, exist_ok=false, durability="durable"))]
    fn create(
        py: Python<'_>,
        location: String,
        schema: &Bound<'_, PyAny>,
        partition_by: Option<Vec<(String, String)>>,
        properties: Option<BTreeMap<String, String>>,
        exist_ok: bool,
        durability: &str,
    ) -> PyResult<PyTable> {
        let durability = durability_from_py(py, durability)?;
        let schema = schema_from_py(py, schema)?;
        let mut options = TableOptions::default().durability(durability);
        if let Some(partition_by) = partition_by {
            options = options.partition_spec(spec_from_py(py, &schema, partition_by)?);
        }
        for (k, v) in properties.unwrap_or_default() {
            options = options.property(k, v);
        }
        let table = py
            .detach(|| {
                if exist_ok {
                    floe::Table::create_or_open_with(&location, schema, options)
                } else {
                    floe::Table::create_with(&location, schema, options)
                }
            })
            .py(py)?;
        Ok(PyTable { inner: table, durability })
    }

    /// Opens the table at `location`; `durability` applies to this handle's commits.
    #[staticmethod]
    #[pyo3(signature = (location, durability="durable"))]
    fn open(py: Python<'_>, location: String, durability: &str) -> PyResult<PyTable> {
        let durability = durability_from_py(py, durability)?;
        let options = TableOptions::default().durability(durability);
        let table = py.detach(|| floe::Table::open_with(&location, options)).py(py)?;
        Ok(PyTable { inner: table, durability })
    }

    /// `"durable"` or `"relaxed"`: whether this handle's commits fsync.
    #[getter]
    fn durability(&self) -> &'static str {
        durability_name(self.durability)
    }

    /// The table's directory.
    #[getter]
    fn location(&self) -> String {
        self.inner.path().display().to_string()
    }

    /// The table version this handle last saw (call `refresh()` to see newer commits).
    #[getter]
    fn version(&self) -> u64 {
        self.inner.version()
    }

    /// The current schema as Iceberg schema JSON text.
    fn schema_json(&self) -> String {
        self.inner.schema().to_json().to_string()
    }

    /// The current schema as a `pyarrow.Schema` (field ids in `PARQUET:field_id`).
    fn arrow_schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyArrowType(self.inner.schema().to_arrow()).into_pyobject(py)
    }

    /// Table properties.
    fn properties(&self) -> BTreeMap<String, String> {
        self.inner.properties()
    }

    /// Reloads the latest table metadata.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.inner.refresh()).py(py)
    }

    /// Appends Arrow data in one commit.
    fn append(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<PyCommitReport> {
        let batches = read_batches(py, data)?;
        let report = py.detach(|| self.inner.append(&batches)).py(py)?;
        Ok(report.into())
    }

    /// Deletes the rows matching `filter` in one commit.
    fn delete(&self, py: Python<'_>, filter: &str) -> PyResult<PyCommitReport> {
        let predicate = parse_filter(py, filter)?;
        Ok(py.detach(|| self.inner.delete(predicate)).py(py)?.into())
    }

    /// Replaces the rows matching `filter` (every row when `None`) with `data`.
    #[pyo3(signature = (data, filter=None))]
    fn overwrite(&self, py: Python<'_>, data: &Bound<'_, PyAny>, filter: Option<&str>) -> PyResult<PyCommitReport> {
        let predicate = match filter {
            Some(f) => parse_filter(py, f)?,
            None => Predicate::parse("true").map_err(|e| floe_err(py, e.into()))?,
        };
        let batches = read_batches(py, data)?;
        Ok(py.detach(|| self.inner.overwrite(predicate, &batches)).py(py)?.into())
    }

    /// Inserts `data`, replacing the rows whose key (`on`) matches.
    fn upsert(&self, py: Python<'_>, data: &Bound<'_, PyAny>, on: Vec<String>) -> PyResult<PyCommitReport> {
        let batches = read_batches(py, data)?;
        let keys: Vec<&str> = on.iter().map(String::as_str).collect();
        Ok(py.detach(|| self.inner.upsert(&keys, &batches)).py(py)?.into())
    }

    /// Inserts the rows of `data` whose key (`on`) is not in the table yet.
    fn insert_if_absent(&self, py: Python<'_>, data: &Bound<'_, PyAny>, on: Vec<String>) -> PyResult<PyCommitReport> {
        let batches = read_batches(py, data)?;
        let keys: Vec<&str> = on.iter().map(String::as_str).collect();
        Ok(py.detach(|| self.inner.insert_if_absent(&keys, &batches)).py(py)?.into())
    }

    /// A scan as a streaming `pyarrow.RecordBatchReader`: files are read as batches are
    /// pulled (pyarrow pulls with the GIL released).
    #[pyo3(signature = (columns=None, filter=None, snapshot_id=None, version=None, as_of_ms=None, batch_size=None))]
    #[allow(clippy::too_many_arguments)]
    fn scan_reader<'py>(
        &self,
        py: Python<'py>,
        columns: Option<Vec<String>>,
        filter: Option<&str>,
        snapshot_id: Option<i64>,
        version: Option<u64>,
        as_of_ms: Option<i64>,
        batch_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let scan = self.build_scan(py, columns, filter, snapshot_id, version, as_of_ms, batch_size)?;
        let (schema, iter) = py
            .detach(|| -> floe::Result<_> {
                let schema = Arc::new(scan.arrow_schema()?);
                Ok((schema, scan.to_iter()?))
            })
            .py(py)?;
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(ScanReader { schema, iter });
        reader.into_pyarrow(py)
    }

    /// A scan read whole (files in parallel, GIL released) into a `pyarrow.Table`.
    #[pyo3(signature = (columns=None, filter=None, snapshot_id=None, version=None, as_of_ms=None, batch_size=None))]
    #[allow(clippy::too_many_arguments)]
    fn scan_table<'py>(
        &self,
        py: Python<'py>,
        columns: Option<Vec<String>>,
        filter: Option<&str>,
        snapshot_id: Option<i64>,
        version: Option<u64>,
        as_of_ms: Option<i64>,
        batch_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let scan = self.build_scan(py, columns, filter, snapshot_id, version, as_of_ms, batch_size)?;
        let (schema, batches) =
            py.detach(|| -> floe::Result<_> { Ok((Arc::new(scan.arrow_schema()?), scan.to_batches()?)) }).py(py)?;
        let reader: Box<dyn RecordBatchReader + Send> =
            Box::new(RecordBatchIterator::new(batches.into_iter().map(Ok), schema));
        reader.into_pyarrow(py)?.call_method0("read_all")
    }

    /// The number of rows a scan would return.
    #[pyo3(signature = (filter=None, snapshot_id=None, version=None, as_of_ms=None))]
    fn count(
        &self,
        py: Python<'_>,
        filter: Option<&str>,
        snapshot_id: Option<i64>,
        version: Option<u64>,
        as_of_ms: Option<i64>,
    ) -> PyResult<i64> {
        let scan = self.build_scan(py, None, filter, snapshot_id, version, as_of_ms, None)?;
        py.detach(|| scan.count()).py(py)
    }

    /// The snapshots that were current, oldest first.
    fn history(&self) -> Vec<PyHistoryEntry> {
        self.inner
            .history()
            .into_iter()
            .map(|h| PyHistoryEntry {
                snapshot_id: h.snapshot_id,
                parent_snapshot_id: h.parent_snapshot_id,
                timestamp: h.timestamp,
                operation: h.operation,
                summary: h.summary,
            })
            .collect()
    }

    /// Every snapshot the metadata holds.
    fn snapshots(&self) -> Vec<PySnapshot> {
        self.inner.snapshots().iter().map(PySnapshot::from).collect()
    }

    /// The current snapshot (`None` for an empty table).
    fn current_snapshot(&self) -> Option<PySnapshot> {
        self.inner.current_snapshot().as_ref().map(PySnapshot::from)
    }

    /// Commit counters and latencies of this handle (and its clones) since it was opened.
    fn commit_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.commit_stats();
        let d = PyDict::new(py);
        d.set_item("commits", s.commits)?;
        d.set_item("attempts", s.attempts)?;
        d.set_item("conflicts", s.conflicts)?;
        d.set_item("conflicts_unresolvable", s.conflicts_unresolvable)?;
        d.set_item("rebased", s.rebased)?;
        d.set_item("retries_succeeded", s.retries_succeeded)?;
        d.set_item("retries_exhausted", s.retries_exhausted)?;
        d.set_item("conflict_rate", s.conflict_rate())?;
        d.set_item("latency_p50", s.latency_p50)?;
        d.set_item("latency_p90", s.latency_p90)?;
        d.set_item("latency_p99", s.latency_p99)?;
        d.set_item("latency_max", s.latency_max)?;
        Ok(d)
    }

    /// Rewrites small data files into larger ones.
    #[pyo3(signature = (target_file_size=None, min_input_files=None, filter=None, dry_run=false))]
    fn compact(
        &self,
        py: Python<'_>,
        target_file_size: Option<u64>,
        min_input_files: Option<usize>,
        filter: Option<&str>,
        dry_run: bool,
    ) -> PyResult<PyMaintenanceReport> {
        let mut opts = CompactOptions::default().dry_run(dry_run);
        if let Some(n) = target_file_size {
            opts = opts.target_file_size(n);
        }
        if let Some(n) = min_input_files {
            opts = opts.min_input_files(n);
        }
        if let Some(f) = filter {
            opts = opts.matching(parse_filter(py, f)?);
        }
        Ok(py.detach(|| self.inner.compact(&opts)).py(py)?.into())
    }

    /// Expires snapshots older than `older_than` seconds (or all but the last
    /// `retain_last`) and deletes the files only they referenced.
    #[pyo3(signature = (older_than=None, retain_last=None, dry_run=false))]
    fn expire_snapshots(
        &self,
        py: Python<'_>,
        older_than: Option<f64>,
        retain_last: Option<usize>,
        dry_run: bool,
    ) -> PyResult<PyMaintenanceReport> {
        let mut opts = ExpireOptions::default().dry_run(dry_run);
        if let Some(s) = older_than {
            opts = opts.older_than(duration_from_secs("older_than", s)?);
        }
        if let Some(n) = retain_last {
            opts = opts.retain_last(n);
        }
        Ok(py.detach(|| self.inner.expire_snapshots(&opts)).py(py)?.into())
    }

    /// Deletes files under the table no snapshot references, older than `older_than` seconds.
    #[pyo3(signature = (older_than=None, dry_run=false, allow_short_grace=false))]
    fn remove_orphans(
        &self,
        py: Python<'_>,
        older_than: Option<f64>,
        dry_run: bool,
        allow_short_grace: bool,
    ) -> PyResult<PyMaintenanceReport> {
        let mut opts = OrphanOptions::default().dry_run(dry_run).allow_short_grace(allow_short_grace);
        if let Some(s) = older_than {
            opts = opts.older_than(duration_from_secs("older_than", s)?);
        }
        Ok(py.detach(|| self.inner.remove_orphans(&opts)).py(py)?.into())
    }

    /// Makes an earlier snapshot (an ancestor of the current one) current again.
    fn rollback_to(&self, py: Python<'_>, snapshot_id: i64) -> PyResult<PyMaintenanceReport> {
        Ok(py.detach(|| self.inner.rollback_to(snapshot_id)).py(py)?.into())
    }

    /// Tags a snapshot (the current one when `snapshot_id` is `None`).
    #[pyo3(signature = (name, snapshot_id=None))]
    fn create_tag(&self, py: Python<'_>, name: &str, snapshot_id: Option<i64>) -> PyResult<PyMaintenanceReport> {
        let id =
            match snapshot_id {
                Some(id) => id,
                None => self.inner.current_snapshot().map(|s| s.snapshot_id).ok_or_else(|| {
                    floe_err(py, floe::Error::InvalidArgument("the table has no snapshot to tag".into()))
                })?,
            };
        Ok(py.detach(|| self.inner.create_tag(name, id)).py(py)?.into())
    }

    /// Removes a tag.
    fn remove_tag(&self, py: Python<'_>, name: &str) -> PyResult<PyMaintenanceReport> {
        Ok(py.detach(|| self.inner.remove_tag(name)).py(py)?.into())
    }

    /// Tags by name, with the snapshot each points at.
    fn tags(&self) -> BTreeMap<String, i64> {
        self.inner.tags()
    }

    /// Starts a transaction on the current version.
    fn transaction(&self) -> PyTransaction {
        PyTransaction { inner: Mutex::new(Some(self.inner.new_transaction())), report: Mutex::new(None) }
    }

    fn __repr__(&self) -> String {
        format!("floe.Table({:?}, version={})", self.inner.path().display().to_string(), self.inner.version())
    }
}

// ---------------------------------------------------------------------------------------
// Transactions

/// Changes staged against one table version, committed at once (`commit()`, or leaving a
/// `with` block without an exception). The mutex is only ever taken with the GIL
/// released, so a thread waiting for it never holds the GIL another thread needs.
#[pyclass(frozen, name = "Transaction", module = "floe._floe")]
struct PyTransaction {
    inner: Mutex<Option<floe::Transaction>>,
    report: Mutex<Option<PyCommitReport>>,
}

impl PyTransaction {
    /// Runs `f` on the open transaction with the GIL released.
    fn with_open<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut floe::Transaction) -> floe::Result<T> + Send,
    ) -> PyResult<T> {
        let result = py.detach(|| {
            let mut guard = self.inner.lock().map_err(|_| None)?;
            match guard.as_mut() {
                Some(tx) => f(tx).map_err(Some),
                None => Err(None),
            }
        });
        match result {
            Ok(v) => Ok(v),
            Err(Some(e)) => Err(floe_err(py, e)),
            Err(None) => Err(PyRuntimeError::new_err("the transaction is already committed or aborted")),
        }
    }

    fn take(&self, py: Python<'_>) -> Option<floe::Transaction> {
        py.detach(|| self.inner.lock().ok().and_then(|mut g| g.take()))
    }
}

#[pymethods]
impl PyTransaction {
    /// Stages Arrow data to append.
    fn append(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let batches = read_batches(py, data)?;
        self.with_open(py, |tx| batches.iter().try_for_each(|b| tx.append(b)))
    }

    /// Stages deleting the rows matching `filter`; returns the number of rows removed.
    fn delete(&self, py: Python<'_>, filter: &str) -> PyResult<u64> {
        let predicate = parse_filter(py, filter)?;
        self.with_open(py, |tx| tx.delete(predicate)).map(|c| c.rows_removed)
    }

    /// Stages replacing the rows matching `filter` (all rows when `None`) with `data`.
    #[pyo3(signature = (data, filter=None))]
    fn overwrite(&self, py: Python<'_>, data: &Bound<'_, PyAny>, filter: Option<&str>) -> PyResult<u64> {
        let predicate = filter.map(|f| parse_filter(py, f)).transpose()?;
        let batches = read_batches(py, data)?;
        self.with_open(py, |tx| match predicate {
            Some(p) => tx.overwrite(p, &batches),
            None => tx.overwrite_all(&batches),
        })
        .map(|c| c.rows_removed)
    }

    /// Stages an upsert keyed on `on`; returns the number of rows added.
    fn upsert(&self, py: Python<'_>, data: &Bound<'_, PyAny>, on: Vec<String>) -> PyResult<u64> {
        let batches = read_batches(py, data)?;
        self.with_open(py, |tx| {
            let keys: Vec<&str> = on.iter().map(String::as_str).collect();
            tx.upsert(&keys, &batches)
        })
        .map(|c| c.rows_added)
    }

    /// Stages inserting the rows whose key is absent; returns the number of rows added.
    fn insert_if_absent(&self, py: Python<'_>, data: &Bound<'_, PyAny>, on: Vec<String>) -> PyResult<u64> {
        let batches = read_batches(py, data)?;
        self.with_open(py, |tx| {
            let keys: Vec<&str> = on.iter().map(String::as_str).collect();
            tx.insert_if_absent(&keys, &batches)
        })
        .map(|c| c.rows_added)
    }

    /// Sets a snapshot summary property recorded with the commit.
    fn set_property(&self, py: Python<'_>, key: String, value: String) -> PyResult<()> {
        self.with_open(py, |tx| {
            tx.set_property(key, value);
            Ok(())
        })
    }

    /// The table version this transaction is based on.
    #[getter]
    fn base_version(&self, py: Python<'_>) -> PyResult<u64> {
        self.with_open(py, |tx| Ok(tx.base_version()))
    }

    /// Commits the staged changes (rebasing over concurrent commits that do not conflict).
    fn commit(&self, py: Python<'_>) -> PyResult<PyCommitReport> {
        let tx =
            self.take(py).ok_or_else(|| PyRuntimeError::new_err("the transaction is already committed or aborted"))?;
        let report: PyCommitReport = py.detach(|| tx.commit()).py(py)?.into();
        if let Ok(mut slot) = self.report.lock() {
            *slot = Some(report.clone());
        }
        Ok(report)
    }

    /// Drops the staged changes (files already written are left to `remove_orphans`).
    fn abort(&self, py: Python<'_>) {
        if let Some(tx) = self.take(py) {
            py.detach(|| tx.abort());
        }
    }

    /// The report of the commit, once committed.
    #[getter]
    fn report(&self) -> Option<PyCommitReport> {
        self.report.lock().ok().and_then(|r| r.clone())
    }

    /// Whether the transaction is still open.
    #[getter]
    fn is_open(&self, py: Python<'_>) -> bool {
        py.detach(|| self.inner.lock().map(|g| g.is_some()).unwrap_or(false))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commits when the block ends normally (unless already committed), aborts when it
    /// raises; never swallows the block's exception.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if exc_type.is_some_and(|t| !t.is_none()) {
            self.abort(py);
        } else if self.is_open(py) {
            self.commit(py)?;
        }
        Ok(false)
    }
}

/// The compiled module `floe._floe`.
#[pymodule]
fn _floe(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTable>()?;
    m.add_class::<PyTransaction>()?;
    m.add_class::<PyCommitReport>()?;
    m.add_class::<PyMaintenanceReport>()?;
    m.add_class::<PySnapshot>()?;
    m.add_class::<PyHistoryEntry>()?;
    m.add("FLOE_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
