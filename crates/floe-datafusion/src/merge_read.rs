//! [`FloeReadExec`]: the data files that have row-level deletes (merge-on-read), read
//! through floe's own reader so deleted rows never reach DataFusion.
//!
//! Promises: every batch it yields is a planned file's live rows (position and equality
//! deletes applied by floe), projected to the columns DataFusion asked for, in the
//! provider's Arrow schema; files are spread over a few partitions, each reading its
//! files one at a time on a blocking thread. It reports no statistics (row counts after
//! deletes are unknown until read). Files without deletes do not come here: they go to
//! DataFusion's Parquet reader.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result, internal_err};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
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
    properties: Arc<PlanProperties>,
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
        FloeReadExec { plan, groups, schema, batch_size: batch_size.max(1), properties }
    }

    /// How many data files it reads.
    pub fn files(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }
}

impl DisplayAs for FloeReadExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let deletes: usize = self.groups.iter().flatten().map(|i| self.plan.file_deletes(*i).len()).sum();
        write!(f, "FloeReadExec: files={}, delete_files={deletes} (merge-on-read, floe reader)", self.files())
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

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(indices) = self.groups.get(partition).cloned() else {
            return internal_err!("FloeReadExec has no partition {partition}");
        };
        let plan = Arc::clone(&self.plan);
        let schema = Arc::clone(&self.schema);
        let batch_size = self.batch_size;
        let out_schema = Arc::clone(&schema);
        let stream = futures::stream::iter(indices)
            .then(move |i| {
                let plan = Arc::clone(&plan);
                let schema = Arc::clone(&schema);
                async move {
                    let read = tokio::task::spawn_blocking(move || plan.read_file(i, batch_size))
                        .await
                        .map_err(|e| DataFusionError::External(Box::new(e)))?
                        .map_err(external)?;
                    read.0.iter().map(|b| conform(b, &schema)).collect::<Result<Vec<_>>>()
                }
            })
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
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
