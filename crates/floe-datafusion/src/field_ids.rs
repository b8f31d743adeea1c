//! Columns matched by Iceberg field id, not by name, when DataFusion reads a data file.
//!
//! DataFusion's Parquet reader resolves each column of the table schema in a file's own
//! schema through a [`PhysicalExprAdapter`]; its default matches by *name*. A floe table
//! evolves by field id: a renamed column keeps its id (older files carry the old name),
//! a dropped-then-re-added column gets a new id (older files carry a different column of
//! the same name), and a widened column (int → long, float → double) keeps its id with
//! the older, narrower type. This adapter looks every column reference of the projection
//! and of the pushed-down predicate up by the `PARQUET:field_id` both schemas carry
//! (floe writes ids into every data file; floe's Arrow schemas carry them as field
//! metadata), and then:
//! - found: the file's column (whatever its name), cast to the table type if it differs;
//! - not in the file: a typed null (the column was added after the file was written);
//! - a table column without an id (never the case for floe's own schemas): by name, as
//!   DataFusion would.
//!
//! Promises: a file column is never matched to a table column with a different field
//! id; row-group and page pruning see the rewritten expressions, so they use the file's
//! real statistics for renamed columns too.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, SchemaRef};
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};

/// The Arrow field metadata key holding a column's Iceberg field id (arrow-rs's Parquet
/// reader and floe's `Schema::to_arrow` both use it).
pub const FIELD_ID_KEY: &str = "PARQUET:field_id";

/// The field id of an Arrow field, if it carries one.
pub fn field_id(field: &Field) -> Option<i32> {
    field.metadata().get(FIELD_ID_KEY).and_then(|v| v.parse().ok())
}

/// Creates a [`FieldIdAdapter`] per file (see the module docs).
#[derive(Debug, Default, Clone)]
pub struct FieldIdAdapterFactory;

impl PhysicalExprAdapterFactory for FieldIdAdapterFactory {
    fn create(&self, logical: SchemaRef, physical: SchemaRef) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let mut by_id = HashMap::new();
        for (i, f) in physical.fields().iter().enumerate() {
            if let Some(id) = field_id(f) {
                by_id.insert(id, i);
            }
        }
        let by_name = DefaultPhysicalExprAdapterFactory.create(Arc::clone(&logical), Arc::clone(&physical))?;
        Ok(Arc::new(FieldIdAdapter { logical, physical, by_id, by_name }))
    }
}

/// Rewrites one scan's expressions onto one file's schema by field id.
#[derive(Debug)]
pub struct FieldIdAdapter {
    logical: SchemaRef,
    physical: SchemaRef,
    /// Field id → column index in the file's schema.
    by_id: HashMap<i32, usize>,
    /// For table columns without a field id.
    by_name: Arc<dyn PhysicalExprAdapter>,
}

impl FieldIdAdapter {
    fn rewrite_column(&self, column: &Column) -> Result<Option<Arc<dyn PhysicalExpr>>> {
        let Ok(logical) = self.logical.field_with_name(column.name()) else {
            return Ok(None);
        };
        let Some(id) = field_id(logical) else {
            return Ok(None);
        };
        let Some(&index) = self.by_id.get(&id) else {
            // Added after this file was written: every row of the file reads null.
            let null = ScalarValue::try_from(logical.data_type())?;
            return Ok(Some(Arc::new(Literal::new(null))));
        };
        let file_field = self.physical.field(index);
        let col: Arc<dyn PhysicalExpr> = Arc::new(Column::new(file_field.name(), index));
        if file_field.data_type() == logical.data_type() {
            return Ok(Some(col));
        }
        // A widened column (int → long, float → double, decimal precision) or a type the
        // reader produced differently: cast to the table's type.
        Ok(Some(Arc::new(CastExpr::new_with_target_field(col, Arc::new(logical.clone()), None))))
    }
}

impl PhysicalExprAdapter for FieldIdAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let mut unresolved = false;
        let out = expr
            .transform_down(|e| {
                if let Some(c) = e.downcast_ref::<Column>() {
                    return match self.rewrite_column(c)? {
                        Some(new) => {
                            Ok(Transformed::new(new, true, datafusion::common::tree_node::TreeNodeRecursion::Jump))
                        }
                        None => {
                            unresolved = true;
                            Ok(Transformed::no(e))
                        }
                    };
                }
                Ok(Transformed::no(e))
            })
            .data()?;
        if unresolved {
            // Columns without field ids: DataFusion's own name matching for those (the
            // columns rewritten above already point into the file and are left alone).
            return self.by_name.rewrite(out);
        }
        Ok(out)
    }
}
