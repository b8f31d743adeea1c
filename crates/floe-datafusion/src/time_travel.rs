//! Time travel in SQL: the table function `floe_scan`.
//!
//! ```sql
//! SELECT * FROM floe_scan('events')                                -- current snapshot
//! SELECT * FROM floe_scan('events', 'version', 3)                  -- table version v3
//! SELECT * FROM floe_scan('events', 'snapshot', 4187342343212)     -- a snapshot id
//! SELECT * FROM floe_scan('events', 'timestamp', '2026-01-31T12:00:00Z')  -- or epoch ms
//! ```
//!
//! The first argument is a table name the session's [`FloeSchemaProvider`] knows (a
//! registered table or a sub-directory of the root) or a table directory.
//!
//! Promises: an unknown table, selector or value is a planning error naming it; the
//! result reads exactly the selected snapshot with that snapshot's schema.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::common::{Result, ScalarValue, plan_err};
use datafusion::datasource::TableProvider;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use floe::expr::{Offsets, timestamp_from_text};

use crate::catalog::FloeSchemaProvider;
use crate::provider::{FloeTableProvider, external};

/// The `floe_scan` table function (see the module docs).
#[derive(Debug)]
pub struct FloeScanFunction {
    tables: Arc<FloeSchemaProvider>,
}

impl FloeScanFunction {
    /// Resolves table names through `tables`.
    pub fn new(tables: Arc<FloeSchemaProvider>) -> FloeScanFunction {
        FloeScanFunction { tables }
    }
}

/// Registers `floe_scan` on `ctx`, resolving names through `tables`.
pub fn register_time_travel(ctx: &SessionContext, tables: Arc<FloeSchemaProvider>) {
    ctx.register_udtf("floe_scan", Arc::new(FloeScanFunction::new(tables)));
}

fn text(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    }
}

fn integer(e: &Expr) -> Option<i64> {
    match e {
        Expr::Literal(ScalarValue::Int64(Some(v)), _) => Some(*v),
        Expr::Literal(ScalarValue::Int32(Some(v)), _) => Some(i64::from(*v)),
        Expr::Literal(ScalarValue::UInt64(Some(v)), _) => i64::try_from(*v).ok(),
        Expr::Negative(inner) => integer(inner).map(|v| -v),
        _ => None,
    }
}

impl TableFunctionImpl for FloeScanFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        let Some(name) = exprs.first().and_then(text) else {
            return plan_err!(
                "floe_scan('table' [, 'version'|'snapshot'|'timestamp', value]): the table name is a string"
            );
        };
        let Some(table) = self.tables.resolve(&name) else {
            return plan_err!("floe_scan: no floe table {name:?}");
        };
        let builder = FloeTableProvider::builder(table);
        let builder = match (exprs.get(1).and_then(text).as_deref(), exprs.get(2), exprs.len()) {
            (None, None, 1) => builder,
            (Some("version"), Some(v), 3) => match integer(v).and_then(|v| u64::try_from(v).ok()) {
                Some(v) => builder.version(v),
                None => return plan_err!("floe_scan: a version is a non-negative integer"),
            },
            (Some("snapshot"), Some(v), 3) => match integer(v) {
                Some(v) => builder.snapshot_id(v),
                None => return plan_err!("floe_scan: a snapshot id is an integer"),
            },
            (Some("timestamp"), Some(v), 3) => {
                let ms = match (integer(v), text(v)) {
                    (Some(ms), _) => ms,
                    (None, Some(t)) => match timestamp_from_text(&t, Offsets::ToUtc) {
                        Ok(us) => us.div_euclid(1000),
                        Err(e) => return plan_err!("floe_scan: timestamp {t:?}: {e}"),
                    },
                    _ => return plan_err!("floe_scan: a timestamp is epoch milliseconds or RFC 3339 text"),
                };
                let t = if ms >= 0 {
                    SystemTime::UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
                } else {
                    SystemTime::UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
                };
                builder.as_of(t)
            }
            _ => {
                return plan_err!(
                    "floe_scan('table' [, 'version'|'snapshot'|'timestamp', value]): unknown selector or wrong arguments"
                );
            }
        };
        Ok(Arc::new(builder.build().map_err(external)?))
    }
}
