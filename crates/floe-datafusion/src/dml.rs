//! `DELETE FROM t WHERE …` and `UPDATE t SET … WHERE …` on a floe table: DataFusion
//! 55's `TableProvider::delete_from` / `update` hooks mapped to floe's own row-level
//! operations (`Transaction::delete`, `Transaction::update`), so the table's
//! `write.delete.mode` / `write.update.mode` (copy-on-write or merge-on-read) and
//! floe's conflict rules apply.
//!
//! Promises:
//! - The `WHERE` clause is translated into ONE floe predicate, exactly (SQL semantics: a
//!   row whose condition is null is not touched). A condition floe's predicate language
//!   cannot state (functions, arithmetic, `LIKE`, column-to-column comparisons, …) is
//!   refused with a plan error naming it, before anything is read or written: floe never
//!   deletes or rewrites a superset of the rows asked for. A statement whose `WHERE`
//!   needs another table (a subquery, `UPDATE … FROM`), or that DataFusion folded to
//!   "no row" (handed to the provider as no condition at all), is refused by
//!   [`check_dml`].
//! - Nothing happens at planning time: the work runs when the plan is executed (so
//!   `EXPLAIN DELETE …` changes nothing), in one floe commit; the count row is the rows
//!   deleted or updated.
//! - The statement reads and commits on the table's newest version (not the provider's
//!   pinned snapshot); a concurrent commit that touched the same rows is a conflict
//!   (serializable) and the whole statement is redone from a fresh read, under floe's
//!   default retry policy; `UPDATE` computes its new rows from what that attempt read.
//! - A warehouse table commits through its warehouse's catalog.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, DataFusionError, Result, internal_err, plan_err};
use datafusion::execution::context::ExecutionProps;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::WriteOp;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, create_physical_expr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use floe::{CommitReport, Predicate, RetryPolicy, RowChanges, Table, Transaction, Warehouse};

use crate::filter;
use crate::provider::{FloeTableProvider, Selection, external};

/// Refuses a `DELETE` / `UPDATE` whose condition would not reach the table intact:
/// a `WHERE` clause that reads another table (a subquery, `UPDATE … FROM`; DataFusion
/// hands a table provider only the conditions on the target table itself, so the rest
/// would be lost), or one DataFusion's optimizer folded to "no row" (`WHERE false`:
/// the provider would be handed no condition at all, which means every row). Either
/// way a superset of the rows would change. `floe sql` calls it on every statement;
/// call it on the optimized plan before executing it from Rust
/// (`ctx.state().optimize(&plan)`), whenever statements come from users.
pub fn check_dml(plan: &LogicalPlan) -> Result<()> {
    let mut bad: Option<String> = None;
    plan.apply(|node| {
        if let LogicalPlan::Dml(d) = node
            && matches!(d.op, WriteOp::Delete | WriteOp::Update)
        {
            let mut scans = 0usize;
            d.input.apply(|n| {
                match n {
                    LogicalPlan::TableScan(_) => scans += 1,
                    LogicalPlan::Join(_) | LogicalPlan::Subquery(_) => scans += 2,
                    LogicalPlan::Filter(f) if f.predicate.exists(|e| Ok(is_subquery(e)))? => scans += 2,
                    _ => {}
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
            if scans == 0 {
                // DataFusion folded the WHERE clause to "no row" (`WHERE false`, `id = 1
                // AND id = 2`, `IS NULL` on a required column): the provider would then
                // be handed no condition at all, which reads as "every row".
                bad = Some(format!(
                    "{} on floe table {}: the WHERE clause can match no row (DataFusion plans it as empty and \
                     would hand the table no condition, i.e. every row); nothing was changed",
                    d.op, d.table_name
                ));
                return Ok(TreeNodeRecursion::Stop);
            }
            if scans > 1 {
                bad = Some(format!(
                    "{} on floe table {}: a WHERE clause that reads another table (subquery, join, FROM) is not \
                     supported; state the condition on the table's own columns",
                    d.op, d.table_name
                ));
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match bad {
        Some(m) => plan_err!("{m}"),
        None => Ok(()),
    }
}

fn is_subquery(e: &Expr) -> bool {
    matches!(e, Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_) | Expr::SetComparison(_))
}

/// The `WHERE` conjuncts as one floe predicate, or an error naming the first that
/// cannot be stated exactly.
fn predicate(op: &str, filters: &[Expr], provider: &FloeTableProvider) -> Result<Predicate> {
    let mut out = Predicate::True;
    for f in filters {
        let Some(p) = filter::to_predicate(f) else {
            return plan_err!(
                "{op} on a floe table: the condition `{f}` cannot be stated as a floe predicate (supported: \
                 column op literal with = <> < <= > >=, IN, BETWEEN, IS [NOT] NULL, AND/OR/NOT of those); nothing \
                 was changed"
            );
        };
        if let Err(e) = p.check(provider.table_schema()) {
            return plan_err!("{op} on a floe table: the condition `{f}`: {e}; nothing was changed");
        }
        out = if out == Predicate::True { p } else { out.and(p) };
    }
    Ok(out)
}

fn writable(op: &str, provider: &FloeTableProvider) -> Result<()> {
    if *provider.selection() != Selection::Current {
        return plan_err!("cannot {op} a time-travel view of a floe table");
    }
    Ok(())
}

/// The plan of `DELETE FROM t WHERE filters`.
pub(crate) fn delete(provider: &FloeTableProvider, filters: Vec<Expr>) -> Result<Arc<dyn ExecutionPlan>> {
    writable("DELETE FROM", provider)?;
    let pred = predicate("DELETE", &filters, provider)?;
    let table = provider.table().clone();
    let label = format!("FloeDmlExec: delete where {pred}");
    let work = move || -> floe::Result<u64> {
        let report = commit_row_op(&table, &|tx: &mut Transaction| tx.delete(pred.clone()))?;
        Ok(report.rows.map(|r| r.rows_removed).unwrap_or(0))
    };
    Ok(Arc::new(DmlExec::new(label, Arc::new(work))))
}

/// The plan of `TRUNCATE t`: every row deleted, in one commit (the table's
/// `write.delete.mode` decides how, as for `DELETE FROM t`).
pub(crate) fn truncate(provider: &FloeTableProvider) -> Result<Arc<dyn ExecutionPlan>> {
    writable("TRUNCATE", provider)?;
    delete(provider, Vec::new())
}

/// The plan of `UPDATE t SET assignments WHERE filters`.
pub(crate) fn update(
    provider: &FloeTableProvider,
    state: &dyn Session,
    assignments: Vec<(String, Expr)>,
    filters: Vec<Expr>,
) -> Result<Arc<dyn ExecutionPlan>> {
    writable("UPDATE", provider)?;
    let pred = predicate("UPDATE", &filters, provider)?;
    for (name, _) in &assignments {
        if provider.table_schema().field_by_name(name).is_none() {
            return plan_err!("UPDATE: the floe table has no column {name}");
        }
    }
    let table = provider.table().clone();
    let props = state.execution_props().clone();
    let label = format!(
        "FloeDmlExec: update set {} where {pred}",
        assignments.iter().map(|(n, e)| format!("{n} = {e}")).collect::<Vec<_>>().join(", ")
    );
    let work = move || -> floe::Result<u64> {
        let report = commit_row_op(&table, &|tx: &mut Transaction| {
            // The rows to change, read at this attempt's base snapshot, so a retry
            // after a conflict recomputes them from what it reads.
            let rows = match tx.base_snapshot_id() {
                Some(id) => tx.table().scan().snapshot_id(id).filter(pred.clone()).to_batches()?,
                None => Vec::new(),
            };
            let updated = rows.iter().map(|b| assign(b, &assignments, &props)).collect::<Result<Vec<_>, _>>()?;
            tx.update(pred.clone(), &updated)
        })?;
        Ok(report.rows.map(|r| r.rows_added).unwrap_or(0))
    };
    Ok(Arc::new(DmlExec::new(label, Arc::new(work))))
}

/// `batch` with each assigned column replaced by its expression evaluated on the row
/// (cast to the column's type); the other columns unchanged.
fn assign(batch: &RecordBatch, assignments: &[(String, Expr)], props: &ExecutionProps) -> floe::Result<RecordBatch> {
    let bad = |e: DataFusionError| floe::Error::InvalidArgument(format!("UPDATE: {e}"));
    let schema = batch.schema();
    let df_schema = DFSchema::try_from(Arc::clone(&schema)).map_err(bad)?;
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for (name, expr) in assignments {
        let Ok(i) = schema.index_of(name) else {
            return Err(floe::Error::InvalidArgument(format!("UPDATE: no column {name} in the rows read")));
        };
        let physical =
            create_physical_expr(expr, &df_schema, props, &PhysicalPlanningContext::default()).map_err(bad)?;
        let value = physical.evaluate(batch).map_err(bad)?.into_array(batch.num_rows()).map_err(bad)?;
        let ty = schema.field(i).data_type();
        columns[i] = if value.data_type() == ty {
            value
        } else {
            cast(&value, ty).map_err(|e| floe::Error::InvalidArgument(format!("UPDATE {name}: {e}")))?
        };
    }
    RecordBatch::try_new(schema, columns).map_err(|e| floe::Error::InvalidArgument(format!("UPDATE: {e}")))
}

/// Runs `op` in a fresh transaction on the table's newest version and commits it
/// (through the warehouse for a warehouse table), redoing both from a fresh read when a
/// concurrent commit conflicts, under floe's default retry policy.
pub(crate) fn commit_row_op(
    table: &Table,
    op: &dyn Fn(&mut Transaction) -> floe::Result<RowChanges>,
) -> floe::Result<CommitReport> {
    let policy = RetryPolicy::default();
    let started = Instant::now();
    let warehouse = Warehouse::of_table(table)?;
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let result = match &warehouse {
            Some((wh, name)) => {
                let mut tx = wh.table(name)?.new_transaction();
                op(&mut tx)?;
                Warehouse::commit_table_transaction(tx)
            }
            None => {
                table.refresh()?;
                let mut tx = table.new_transaction();
                op(&mut tx)?;
                tx.commit()
            }
        };
        match result {
            Err(e)
                if e.is_concurrent_modification()
                    && attempt < policy.max_attempts
                    && started.elapsed() < policy.total_budget =>
            {
                let delay = policy.base_delay.saturating_mul(1 << attempt.min(8)).min(policy.max_delay);
                std::thread::sleep(delay);
            }
            r => return r,
        }
    }
}

type Work = Arc<dyn Fn() -> floe::Result<u64> + Send + Sync>;

/// Runs a row-level statement when executed and yields DataFusion's DML result: one
/// row, `count`, the rows changed.
struct DmlExec {
    label: String,
    work: Work,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl DmlExec {
    fn new(label: String, work: Work) -> Self {
        let schema: SchemaRef = Arc::new(ArrowSchema::new(vec![Field::new("count", DataType::UInt64, false)]));
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        DmlExec { label, work, schema, properties }
    }
}

impl fmt::Debug for DmlExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmlExec").field("label", &self.label).finish()
    }
}

impl DisplayAs for DmlExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label)
    }
}

impl ExecutionPlan for DmlExec {
    fn name(&self) -> &str {
        "FloeDmlExec"
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
        if children.is_empty() { Ok(self) } else { internal_err!("FloeDmlExec has no children") }
    }

    fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("FloeDmlExec has one partition, not {partition}");
        }
        let work = Arc::clone(&self.work);
        let schema = Arc::clone(&self.schema);
        let out = Arc::clone(&schema);
        let stream = futures::stream::once(async move {
            let n = tokio::task::spawn_blocking(move || work())
                .await
                .map_err(|e| DataFusionError::External(Box::new(e)))?
                .map_err(external)?;
            Ok(RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![n]))])?)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(out, stream)))
    }
}
