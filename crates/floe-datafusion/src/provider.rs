//! [`FloeTableProvider`]: one floe table (one pinned snapshot) as a DataFusion table.
//!
//! A scan translates the filters it can into a floe predicate, lets floe plan the
//! snapshot (manifests pruned by partition summaries, data files by partition values,
//! column bounds and null counts), and hands the surviving files to DataFusion's own
//! Parquet execution (`DataSourceExec` over a `ParquetSource`): file groups across
//! `target_partitions`, projection, limit, row-group and page pruning and late
//! materialisation all come from DataFusion. Columns are matched by field id
//! ([`crate::field_ids`]).
//!
//! Promises: every query through one provider sees the snapshot pinned when it was
//! built (later commits are not seen until a new provider is built); the schema is that
//! snapshot's (the current schema for the current snapshot); a filter reported `Exact`
//! is fully decided by floe's pruning (identity-partition columns of a table that has
//! only ever had one partition spec), every other filter is `Inexact` and re-checked by
//! DataFusion. Where the files live: data file locations come from floe's planning and
//! are read through the object store registered for [`FloeTableProvider::object_store_url`]:
//! the local file system (`file://`, which DataFusion registers by default), or, for a
//! table in a bucket, floe's own store for the table, registered by each scan in the
//! session's `RuntimeEnv` under the bucket's URL (`s3://bucket`).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::{ColumnStatistics, DataFusionError, Result, ScalarValue, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use floe::object_store::ObjectStore;
use floe::spec::{DataFile, Datum, Snapshot};
use floe::{PrimitiveType, Scan, ScanMetrics, ScanPlan, Schema, Table, Type};

use crate::field_ids::FieldIdAdapterFactory;
use crate::filter;
use crate::merge_read::FloeReadExec;

/// Which snapshot a provider reads.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Selection {
    /// The current snapshot when the provider is built.
    Current,
    /// The snapshot with this id.
    SnapshotId(i64),
    /// The current snapshot of table version `v<N>`.
    Version(u64),
    /// The snapshot current at this time (to the millisecond, as Iceberg's snapshot log).
    Timestamp(SystemTime),
}

/// Builds a [`FloeTableProvider`]: the table and which snapshot to pin.
#[derive(Debug, Clone)]
pub struct FloeTableProviderBuilder {
    table: Table,
    selection: Selection,
}

impl FloeTableProviderBuilder {
    /// Reads the snapshot with this id (time travel).
    pub fn snapshot_id(mut self, id: i64) -> Self {
        self.selection = Selection::SnapshotId(id);
        self
    }

    /// Reads the current snapshot of table version `v<N>` (time travel).
    pub fn version(mut self, version: u64) -> Self {
        self.selection = Selection::Version(version);
        self
    }

    /// Reads the snapshot that was current at `time` (time travel).
    pub fn as_of(mut self, time: SystemTime) -> Self {
        self.selection = Selection::Timestamp(time);
        self
    }

    /// Pins the snapshot and its schema, from the table metadata alone: no manifest is
    /// read here (a catalog builds a provider per statement; each scan reads the
    /// manifests it needs, and whole-table statistics are read on first request).
    ///
    /// Errors: the snapshot does not exist (expired, never existed, no snapshot then),
    /// or the table's metadata cannot be read.
    pub fn build(self) -> floe::Result<FloeTableProvider> {
        // A read-only handle on exactly the version seen now: the current schema and
        // snapshot stay fixed however many commits land while queries run.
        let pinned = self.table.pin();
        let (snapshot, schema) = selected(pinned.scan(), &self.selection).snapshot_and_schema()?;
        let arrow: SchemaRef = Arc::new(schema.to_arrow());
        let metadata = pinned.metadata();
        // A table in a bucket: its data files are read through floe's own store.
        let store = match pinned.object_location(&pinned.metadata_path().to_string_lossy())? {
            Some((base, store, _)) => {
                let url = ObjectStoreUrl::parse(&base)
                    .map_err(|e| floe::Error::InvalidArgument(format!("{base}: not a store URL: {e}")))?;
                Some((url, store))
            }
            None => None,
        };
        // Identity partitions decide a filter exactly only when every file was written
        // under the same spec (a table that has only ever had one).
        let exact_columns = match metadata.partition_specs() {
            [spec] => spec
                .fields
                .iter()
                .filter(|f| f.transform == "identity")
                .filter_map(|f| schema.field_by_id(f.source_id).map(|c| c.name.clone()))
                .collect(),
            _ => HashSet::new(),
        };
        Ok(FloeTableProvider {
            table: self.table,
            pinned,
            selection: self.selection,
            snapshot,
            schema,
            arrow,
            statistics: OnceLock::new(),
            exact_columns,
            counters: Arc::new(Mutex::new(ScanMetrics::default())),
            store,
        })
    }
}

/// One floe table as a DataFusion [`TableProvider`] (see the module docs).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use datafusion::prelude::SessionContext;
/// use floe_datafusion::FloeTableProvider;
///
/// let ctx = SessionContext::new();
/// let events = floe::Table::open("./events")?;
/// ctx.register_table("events", Arc::new(FloeTableProvider::try_new(events.clone())?))?;
/// // Time travel: the table as it was at version 3.
/// ctx.register_table("events_v3", Arc::new(FloeTableProvider::builder(events).version(3).build()?))?;
/// let df = ctx.sql("SELECT count(*) FROM events WHERE day = DATE '2024-01-31'").await?;
/// df.show().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FloeTableProvider {
    /// The handle inserts commit through.
    table: Table,
    /// A handle pinned to the version seen at build.
    pinned: Table,
    selection: Selection,
    snapshot: Option<Snapshot>,
    schema: Schema,
    arrow: SchemaRef,
    /// Of the whole pinned snapshot, from the manifests, read on the first call to
    /// [`TableProvider::statistics`] (DataFusion's own planner does not ask; each scan
    /// reports the statistics of the files it planned).
    statistics: OnceLock<Option<Statistics>>,
    /// Columns whose filters floe's pruning decides exactly.
    exact_columns: HashSet<String>,
    counters: Arc<Mutex<ScanMetrics>>,
    /// The object store of a table in a bucket (`None`: the local file system).
    store: Option<(ObjectStoreUrl, Arc<dyn ObjectStore>)>,
}

impl FloeTableProvider {
    /// The table's current snapshot, pinned now.
    pub fn try_new(table: Table) -> floe::Result<FloeTableProvider> {
        Self::builder(table).build()
    }

    /// A builder, for time travel.
    pub fn builder(table: Table) -> FloeTableProviderBuilder {
        FloeTableProviderBuilder { table, selection: Selection::Current }
    }

    /// The pinned snapshot (`None`: the table has none yet).
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Which snapshot the provider was built for.
    pub fn selection(&self) -> &Selection {
        &self.selection
    }

    /// The table schema the provider exposes (field ids included).
    pub fn table_schema(&self) -> &Schema {
        &self.schema
    }

    /// The table handle (inserts commit through it).
    pub fn table(&self) -> &Table {
        &self.table
    }

    pub(crate) fn schema_ref(&self) -> SchemaRef {
        // Inserts commit with the table's current schema.
        Arc::new(self.table.schema().to_arrow())
    }

    /// The object store DataFusion reads the data files through: `file:///` for a
    /// local table, the bucket's URL (`s3://bucket`) for a table in a bucket (each scan
    /// registers floe's store for the table under it in the session's `RuntimeEnv`).
    pub fn object_store_url(&self) -> ObjectStoreUrl {
        match &self.store {
            Some((url, _)) => url.clone(),
            None => ObjectStoreUrl::local_filesystem(),
        }
    }

    /// floe's planning counts summed over every scan this provider has planned:
    /// manifests and files read and skipped by partition values and column bounds
    /// (row-group and page pruning inside DataFusion's reader show in
    /// `EXPLAIN ANALYZE` as `row_groups_pruned_statistics` and `page_index_rows_pruned`).
    pub fn planning_metrics(&self) -> ScanMetrics {
        self.counters.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Plans the pinned snapshot with `filters` (the translatable ones): the data files
    /// that survive floe's pruning, oldest commit first, each with how it is read.
    pub async fn plan_files(&self, filters: &[Expr]) -> Result<Vec<PlannedFile>> {
        Ok(self.plan_scan(filters, None).await?.1)
    }

    /// floe's plan of the pinned snapshot for `filters` and the columns `projection`
    /// (indices into the provider's schema; `None`: all), and the planned files.
    async fn plan_scan(
        &self,
        filters: &[Expr],
        projection: Option<&Vec<usize>>,
    ) -> Result<(ScanPlan, Vec<PlannedFile>)> {
        let mut scan = selected(self.pinned.scan(), &self.selection);
        if let Some(p) = projection {
            let fields = self.schema.fields();
            let mut names = Vec::with_capacity(p.len());
            for i in p {
                match fields.get(*i) {
                    Some(f) => names.push(f.name.clone()),
                    None => return datafusion::common::plan_err!("no column {i} in the floe table"),
                }
            }
            scan = scan.select(names);
        }
        if let Some(p) = filter::conjunction(filters, &self.schema) {
            scan = scan.filter(p);
        }
        let plan = tokio::task::spawn_blocking(move || scan.plan())
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
            .map_err(external)?;
        if let Ok(mut c) = self.counters.lock() {
            add_planning(&mut c, &plan.metrics);
        }
        let files = plan
            .files
            .iter()
            .enumerate()
            .map(|(i, file)| {
                let location = match &self.store {
                    Some((url, _)) => match self.pinned.object_location(&file.file_path).map_err(external)? {
                        Some((base, _, path)) if url.as_str().trim_end_matches('/') == base => path.to_string(),
                        _ => {
                            return datafusion::common::not_impl_err!(
                                "data file {} is outside the table's store {}",
                                file.file_path,
                                url.as_str()
                            );
                        }
                    },
                    None => self.pinned.resolve_path(&file.file_path).map_err(external)?.to_string_lossy().into_owned(),
                };
                // A file with delete files is read by floe, which applies them.
                let read = if plan.file_deletes(i).is_empty() { ReadPath::Parquet } else { ReadPath::Floe };
                Ok(PlannedFile { location, read, file: file.clone() })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((plan, files))
    }

    fn is_exact(&self, e: &Expr) -> bool {
        fn simple(e: &Expr, cols: &HashSet<String>) -> bool {
            use datafusion::logical_expr::{BinaryExpr, Operator};
            match e {
                Expr::BinaryExpr(BinaryExpr { left, op: Operator::And, right }) => {
                    simple(left, cols) && simple(right, cols)
                }
                Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                    matches!(op, Operator::Eq | Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq)
                        && matches!(
                            (filter::column(left), filter::column(right)),
                            (Some(c), None) | (None, Some(c)) if cols.contains(&c)
                        )
                }
                Expr::InList(l) => !l.negated && filter::column(&l.expr).is_some_and(|c| cols.contains(&c)),
                Expr::IsNull(x) | Expr::IsNotNull(x) => filter::column(x).is_some_and(|c| cols.contains(&c)),
                _ => false,
            }
        }
        !self.exact_columns.is_empty()
            && simple(e, &self.exact_columns)
            && filter::to_predicate(e).is_some_and(|p| p.check(&self.schema).is_ok())
    }
}

/// One data file a scan reads, as floe planned it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlannedFile {
    /// The manifest's entry (size, record count, partition values, column bounds).
    pub file: DataFile,
    /// Where it is read, in the provider's object store.
    pub location: String,
    /// How it is read.
    pub read: ReadPath,
}

/// How a planned file is read: plain Parquet by DataFusion, or, when delete files apply
/// to it (merge-on-read), by floe's own reader, which drops the deleted rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadPath {
    /// DataFusion's Parquet reader (row-group and page pruning, projection by field id).
    Parquet,
    /// floe's reader (position and equality deletes applied), streamed into DataFusion
    /// by [`crate::FloeReadExec`].
    Floe,
}

#[async_trait]
impl TableProvider for FloeTableProvider {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.arrow)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if self.is_exact(f) { TableProviderFilterPushDown::Exact } else { TableProviderFilterPushDown::Inexact }
            })
            .collect())
    }

    /// Row count and null counts of the whole pinned snapshot. The first call plans the
    /// snapshot (reads its manifests, blocking); `None` if they cannot be read.
    fn statistics(&self) -> Option<Statistics> {
        self.statistics
            .get_or_init(|| {
                let plan = selected(self.pinned.scan(), &self.selection).plan().ok()?;
                Some(statistics(&self.schema, &self.arrow, &plan.files, plan.has_deletes()))
            })
            .clone()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let (plan, planned) = self.plan_scan(filters, projection).await?;
        let out_schema = match projection {
            Some(p) => Arc::new(self.arrow.project(p)?),
            None => Arc::clone(&self.arrow),
        };
        if planned.is_empty() {
            return Ok(Arc::new(EmptyExec::new(out_schema)));
        }
        let target = state.config().target_partitions();
        let (parquet, floe_read): (Vec<(usize, PlannedFile)>, Vec<(usize, PlannedFile)>) =
            planned.into_iter().enumerate().partition(|(_, p)| p.read == ReadPath::Parquet);
        let mut parts: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !parquet.is_empty() {
            let planned: Vec<PlannedFile> = parquet.into_iter().map(|(_, p)| p).collect();
            let files: Vec<DataFile> = planned.iter().map(|p| p.file.clone()).collect();
            let stats = statistics(&self.schema, &self.arrow, &files, false);
            let groups = file_groups(&planned, target);
            if let Some((url, store)) = &self.store {
                // DataFusion finds stores by URL in the session's registry.
                state.runtime_env().register_object_store(url.as_ref(), Arc::clone(store));
            }
            let source = ParquetSource::new(Arc::clone(&self.arrow));
            let config = FileScanConfigBuilder::new(self.object_store_url(), Arc::new(source))
                .with_file_groups(groups)
                .with_statistics(stats)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .with_expr_adapter(Some(Arc::new(FieldIdAdapterFactory)))
                .build();
            // The session's Parquet options (pushdown_filters, page index, …), DataFusion's
            // cached footer reader.
            let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
            parts.push(format.create_physical_plan(state, config).await?);
        }
        if !floe_read.is_empty() {
            let indices: Vec<usize> = floe_read.into_iter().map(|(i, _)| i).collect();
            let batch_size = state.config().batch_size();
            let exec = FloeReadExec::new(Arc::new(plan), indices, target, Arc::clone(&out_schema), batch_size)
                .with_limit(limit);
            parts.push(Arc::new(exec));
        }
        match parts.len() {
            1 => Ok(parts.remove(0)),
            _ => UnionExec::try_new(parts),
        }
    }

    async fn insert_into(
        &self,
        _state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::insert::plan(self, input, insert_op)
    }

    async fn delete_from(&self, _state: &dyn Session, filters: Vec<Expr>) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dml::delete(self, filters)
    }

    async fn truncate(&self, _state: &dyn Session) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dml::truncate(self)
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        crate::dml::update(self, state, assignments, filters)
    }
}

/// `scan` reading `selection`.
fn selected(scan: Scan, selection: &Selection) -> Scan {
    match selection {
        Selection::Current => scan,
        Selection::SnapshotId(id) => scan.snapshot_id(*id),
        Selection::Version(v) => scan.as_of_version(*v),
        Selection::Timestamp(time) => scan.as_of(*time),
    }
}

pub(crate) fn external(e: floe::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

fn add_planning(acc: &mut ScanMetrics, m: &ScanMetrics) {
    acc.manifests += m.manifests;
    acc.manifests_skipped += m.manifests_skipped;
    acc.files += m.files;
    acc.files_skipped_by_partition += m.files_skipped_by_partition;
    acc.files_skipped_by_metrics += m.files_skipped_by_metrics;
    acc.files_planned += m.files_planned;
}

/// Files spread over at most `target` groups, largest first onto the lightest group, so
/// each of DataFusion's partitions reads about the same number of bytes.
fn file_groups(files: &[PlannedFile], target: usize) -> Vec<FileGroup> {
    let n = target.max(1).min(files.len());
    let mut order: Vec<&PlannedFile> = files.iter().collect();
    order.sort_by_key(|f| std::cmp::Reverse(f.file.file_size_in_bytes));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in order {
        let size = u64::try_from(f.file.file_size_in_bytes).unwrap_or(0);
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += size;
            g.1.push(PartitionedFile::new(f.location.clone(), size));
        }
    }
    groups.into_iter().map(|(_, files)| FileGroup::new(files)).collect()
}

/// Table statistics from the manifests: row count and null counts where every file
/// records them (exact, unless row-level deletes apply: then only upper bounds), and
/// min/max from the column bounds (inexact: strings are truncated).
fn statistics(schema: &Schema, arrow: &SchemaRef, files: &[DataFile], deletes: bool) -> Statistics {
    let count = |n: usize| if deletes { Precision::Inexact(n) } else { Precision::Exact(n) };
    let rows: i64 = files.iter().map(|f| f.record_count.max(0)).sum();
    let bytes: i64 = files.iter().map(|f| f.file_size_in_bytes.max(0)).sum();
    let columns = schema
        .fields()
        .iter()
        .zip(arrow.fields())
        .map(|(field, af)| {
            let mut c = ColumnStatistics::new_unknown();
            let nulls: Option<i64> = files.iter().map(|f| f.null_value_counts.get(&field.id).copied()).sum();
            if let Some(n) = nulls.and_then(|n| usize::try_from(n).ok()) {
                c.null_count = count(n);
            }
            if let Type::Primitive(p) = &field.field_type
                && !files.is_empty()
            {
                let lo = fold_bound(files, field.id, p, af.data_type(), true);
                let hi = fold_bound(files, field.id, p, af.data_type(), false);
                if let Some(v) = lo {
                    c.min_value = Precision::Inexact(v);
                }
                if let Some(v) = hi {
                    c.max_value = Precision::Inexact(v);
                }
            }
            c
        })
        .collect();
    Statistics {
        num_rows: count(usize::try_from(rows).unwrap_or(usize::MAX)),
        total_byte_size: Precision::Inexact(usize::try_from(bytes).unwrap_or(usize::MAX)),
        column_statistics: columns,
    }
}

/// The smallest lower (or largest upper) bound of column `id` over `files`, when every
/// file records one.
fn fold_bound(files: &[DataFile], id: i32, ty: &PrimitiveType, dt: &DataType, lower: bool) -> Option<ScalarValue> {
    let mut best: Option<Datum> = None;
    for f in files {
        let map = if lower { &f.lower_bounds } else { &f.upper_bounds };
        let d = Datum::from_bytes(ty, map.get(&id)?).ok()?;
        best = Some(match best {
            None => d,
            Some(b) => {
                let ord = d.compare(&b)?;
                if (lower && ord.is_lt()) || (!lower && ord.is_gt()) { d } else { b }
            }
        });
    }
    to_scalar(&best?, dt)
}

fn to_scalar(d: &Datum, dt: &DataType) -> Option<ScalarValue> {
    let v = match d {
        Datum::Boolean(b) => ScalarValue::Boolean(Some(*b)),
        Datum::Int(x) => ScalarValue::Int32(Some(*x)),
        Datum::Long(x) => ScalarValue::Int64(Some(*x)),
        Datum::Float(x) => ScalarValue::Float32(Some(*x)),
        Datum::Double(x) => ScalarValue::Float64(Some(*x)),
        Datum::Date(x) => ScalarValue::Date32(Some(*x)),
        Datum::String(s) => ScalarValue::Utf8(Some(s.clone())),
        Datum::Decimal(x) => match dt {
            DataType::Decimal128(p, s) => ScalarValue::Decimal128(Some(*x), *p, *s),
            _ => return None,
        },
        Datum::Timestamp(x) => ScalarValue::TimestampMicrosecond(Some(*x), None),
        Datum::Timestamptz(x) => ScalarValue::TimestampMicrosecond(Some(*x), Some("UTC".into())),
        _ => return None,
    };
    // Only report a bound whose type is exactly the column's (a widened column's old
    // bounds are cast; anything else is left unknown).
    if &v.data_type() == dt { Some(v) } else { v.cast_to(dt).ok() }
}
