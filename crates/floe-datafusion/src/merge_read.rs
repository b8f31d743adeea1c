//! [`FloeReadExec`]: the data files that have row-level deletes (merge-on-read), read
//! through floe's own reader so deleted rows never reach DataFusion.
//!
//! Promises: every batch it yields is a planned file's live rows (position and equality
//! deletes applied by floe), projected to the columns DataFusion asked for, in the
//! provider's Arrow schema; files are spread over a few partitions, each reading its
//! files one at a time on a blocking thread. It reports no statistics (row counts after
//! deletes are unknown until read). Files without deletes do not come here: they go to
//! DataFusion's Parquet reader. With a LIMIT hint a partition stops opening files once
//! it has yielded that many rows (a file is never read in part: deletes may empty any
//! stretch of it), and its last batch is cut to the hint; `EXPLAIN ANALYZE` shows
//! `files_read`, `files_skipped_by_limit` and `output_batches`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use floe::ScanPlan;
use futures::{StreamExt, TryStreamExt};

use crate::provider::external;

/// Reads some files of a floe [`ScanPlan`] (by index) with floe's reader.
#[derive(Debug)]
pub struct FloeReadExec {
    plan: Arc<ScanPlan>,
    /// Indices into `plan.files`, one list per output partition.
    groups: Vec<Vec<usize>>,
    schema: SchemaRef,
    batch_size: usize,
    /// Rows each partition needs at most (DataFusion's LIMIT hint).
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl FloeReadExec {
    /// Reads files `indices` of `plan` over at most `partitions` partitions, yielding
    /// batches with `schema` (the projection of the provider's schema that `plan` was
    /// planned with: same columns, same order).
    pub(crate) fn new(
        plan: Arc<ScanPlan>,
        indices: Vec<usize>,
        partitions: usize,
        schema: SchemaRef,
        batch_size: usize,
    ) -> Self {
        let n = partitions.max(1).min(indices.len().max(1));
        let mut groups: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (k, i) in indices.into_iter().enumerate() {
            groups[k % n].push(i);
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(n),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        FloeReadExec {
            plan,
            groups,
            schema,
            batch_size: batch_size.max(1),
            limit: None,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// Each partition stops reading once it has yielded `limit` rows.
    pub(crate) fn with_limit(mut self, limit: Option<usize>) -> Self {
        self.limit = limit;
        self
    }

    /// How many data files it reads.
    pub fn files(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }
}

impl DisplayAs for FloeReadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deletes: usize = self.groups.iter().flatten().map(|i| self.plan.file_deletes(*i).len()).sum();
        write!(f, "FloeReadExec: files={}, delete_files={deletes}", self.files())?;
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        f.write_str(" (merge-on-read, floe reader)")
    }
}

impl ExecutionPlan for FloeReadExec {
    fn name(&self) -> &str {
        "FloeReadExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() { Ok(self) } else { internal_err!("FloeReadExec has no children") }
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(indices) = self.groups.get(partition).cloned() else {
            return internal_err!("FloeReadExec has no partition {partition}");
        };
        let plan = Arc::clone(&self.plan);
        let schema = Arc::clone(&self.schema);
        let batch_size = self.batch_size;
        let out_schema = Arc::clone(&schema);
        let limit = self.limit.unwrap_or(usize::MAX);
        let files_read = MetricBuilder::new(&self.metrics).counter("files_read", partition);
        let files_skipped = MetricBuilder::new(&self.metrics).counter("files_skipped_by_limit", partition);
        let batches_out = MetricBuilder::new(&self.metrics).counter("output_batches", partition);
        // Rows yielded so far by this partition (its files are read one after another).
        let yielded = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&yielded);
        let stream = futures::stream::iter(indices)
            .then(move |i| {
                let plan = Arc::clone(&plan);
                let schema = Arc::clone(&schema);
                let (files_read, files_skipped) = (files_read.clone(), files_skipped.clone());
                let done = seen.load(Ordering::Relaxed) >= limit;
                async move {
                    if done {
                        files_skipped.add(1);
                        return Ok(Vec::new());
                    }
                    files_read.add(1);
                    let read = tokio::task::spawn_blocking(move || plan.read_file(i, batch_size))
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?
                        .map_err(external)?;
                    read.0.iter().map(|b| conform(b, &schema)).collect::<Result<Vec<_>>>()
                }
            })
            .map_ok(move |batches: Vec<RecordBatch>| {
                // Cut to the hint: later files are then skipped unread.
                let mut out = Vec::with_capacity(batches.len());
                for b in batches {
                    let so_far = yielded.load(Ordering::Relaxed);
                    if so_far >= limit {
                        break;
                    }
                    let b = if b.num_rows() > limit - so_far { b.slice(0, limit - so_far) } else { b };
                    yielded.fetch_add(b.num_rows(), Ordering::Relaxed);
                    batches_out.add(1);
                    out.push(Ok(b));
                }
                futures::stream::iter(out)
            })
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(out_schema, stream)))
    }
}

/// floe's batch relabelled with the provider's schema (the same columns in the same
/// order; field metadata and nullability may be spelled differently).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return internal_err!("floe read {} columns, expected {}", batch.num_columns(), schema.fields().len());
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(Arc::clone(schema), batch.columns().to_vec(), &options)?)
}
