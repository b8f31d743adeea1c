//! `INSERT INTO t …` and `INSERT OVERWRITE t …`: the rows DataFusion produces become
//! floe data files (Parquet with field ids and column statistics, written by floe) in
//! ONE floe commit: an append, or for `INSERT OVERWRITE` an overwrite of every row.
//!
//! Promises: a statement commits once or not at all (an error in the input stream or
//! the commit leaves the table unchanged); concurrent inserts from any number of
//! processes all land (floe's commit retries lost races; appends never conflict); the
//! rows are committed with the table's current schema, whatever snapshot the provider
//! was pinned to for reading; a warehouse table commits through its warehouse. The count row DataFusion returns is the rows written.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result, not_impl_err, plan_err};
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use floe::{Predicate, Table};
use futures::StreamExt;

use crate::provider::{FloeTableProvider, Selection, external};

pub(crate) fn plan(
    provider: &FloeTableProvider,
    input: Arc<dyn ExecutionPlan>,
    op: InsertOp,
) -> Result<Arc<dyn ExecutionPlan>> {
    if *provider.selection() != Selection::Current {
        return plan_err!("cannot insert into a time-travel view of a floe table");
    }
    let overwrite = match op {
        InsertOp::Append => false,
        InsertOp::Overwrite => true,
        InsertOp::Replace => return not_impl_err!("INSERT OR REPLACE is not supported by floe tables"),
    };
    let sink = FloeSink { table: provider.table().clone(), schema: provider.schema_ref(), overwrite };
    Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
}

/// Collects the input, then commits it through floe.
struct FloeSink {
    table: Table,
    schema: SchemaRef,
    overwrite: bool,
}

impl fmt::Debug for FloeSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FloeSink").field("table", &self.table.path()).field("overwrite", &self.overwrite).finish()
    }
}

impl DisplayAs for FloeSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = if self.overwrite { "overwrite" } else { "append" };
        write!(f, "FloeSink: {op} {}", self.table.path().display())
    }
}

#[async_trait]
impl DataSink for FloeSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(&self, mut data: SendableRecordBatchStream, _context: &Arc<TaskContext>) -> Result<u64> {
        let mut batches = Vec::new();
        let mut rows = 0u64;
        while let Some(b) = data.next().await {
            let b = conform(&b?, &self.schema)?;
            rows += b.num_rows() as u64;
            if b.num_rows() > 0 {
                batches.push(b);
            }
        }
        let table = self.table.clone();
        let overwrite = self.overwrite;
        tokio::task::spawn_blocking(move || {
            // A warehouse table is committed to only through its warehouse's catalog.
            if floe::Warehouse::of_table(&table)?.is_some() {
                return crate::dml::commit_row_op(&table, &|tx: &mut floe::Transaction| {
                    if overwrite {
                        return tx.overwrite_all(&batches);
                    }
                    for b in &batches {
                        tx.append(b)?;
                    }
                    Ok(floe::RowChanges::default())
                })
                .map(|_| ());
            }
            if overwrite {
                table.overwrite(Predicate::True, &batches).map(|_| ())
            } else if batches.is_empty() {
                Ok(())
            } else {
                table.append(&batches).map(|_| ())
            }
        })
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?
        .map_err(external)?;
        Ok(rows)
    }
}

/// The batch with the table's Arrow schema (field ids, types; DataFusion's own batches
/// carry no field ids and may use other string or integer widths).
fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.num_columns() != schema.fields().len() {
        return plan_err!("INSERT gives {} columns, the table has {}", batch.num_columns(), schema.fields().len());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(Arc::clone(c)) } else { cast(c, f.data_type()) })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
