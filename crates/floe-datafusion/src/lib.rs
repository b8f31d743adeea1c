//! floe tables as Apache DataFusion tables: SQL over transactional Iceberg v2 tables.
//!
//! - [`FloeTableProvider`]: one table, its snapshot pinned when the provider is built,
//!   time travel by snapshot id, version or time. Scans are planned by floe (manifests
//!   and data files pruned by partition values and column bounds) and executed by
//!   DataFusion's Parquet reader (parallel file groups, row-group and page pruning,
//!   projection, limit); columns are matched by Iceberg field id ([`field_ids`]), so
//!   renamed, dropped, re-added, reordered and widened columns read correctly, also
//!   from files written before the change. `INSERT INTO` / `INSERT OVERWRITE`,
//!   `DELETE FROM … WHERE` and `UPDATE … SET … WHERE` commit once through floe's own
//!   operations ([`check_dml`] guards the last two against conditions on other tables).
//! - [`FloeSchemaProvider`]: a directory or bucket prefix whose children are tables, or
//!   a warehouse read at one catalog version ([`register_root`], [`register_root_with`]).
//! - [`register_time_travel`]: the SQL table function `floe_scan('name', 'version', 3)`.
//!
//! The core `floe` crate does not depend on DataFusion; this crate does (DataFusion 55,
//! Arrow/Parquet 59: the same Arrow floe is built on). See `docs/sql.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod catalog;
mod dml;
pub mod field_ids;
mod filter;
mod insert;
mod merge_read;
mod provider;
mod time_travel;

use std::path::Path;
use std::sync::Arc;

pub use catalog::{FloeSchemaProvider, is_table};
pub use dml::check_dml;
pub use filter::to_predicate;
pub use merge_read::FloeReadExec;
pub use provider::{FloeTableProvider, FloeTableProviderBuilder, PlannedFile, ReadPath, Selection};
pub use time_travel::{FloeScanFunction, register_time_travel};

use datafusion::common::Result;
use datafusion::prelude::SessionContext;

/// Makes the tables under `root` the session's default schema, so they are queried by
/// their names: a local directory's sub-directories that are tables, or a warehouse's
/// tables (`_floe/catalog`), all read at one catalog version. Tables registered by name
/// afterwards ([`SessionContext::register_table`]) sit beside them.
pub fn register_root(ctx: &SessionContext, root: impl AsRef<Path>) -> Result<()> {
    register_root_with(ctx, root, floe::TableOptions::default()).map(|_| ())
}

/// [`register_root`] for any root floe opens — a local directory or a store URL
/// (`s3://bucket/prefix`, `az://…`, `memory://…`) — with `options` (storage options
/// for a bucket); returns the schema provider (for
/// [`FloeSchemaProvider::refresh`] on a warehouse).
pub fn register_root_with(
    ctx: &SessionContext,
    root: impl AsRef<Path>,
    options: floe::TableOptions,
) -> Result<Arc<FloeSchemaProvider>> {
    let schema = Arc::new(FloeSchemaProvider::open(root, options).map_err(provider::external)?);
    install(ctx, schema.clone())?;
    Ok(schema)
}

/// Makes an empty [`FloeSchemaProvider`] the default schema (tables are then added by
/// name), so `floe_scan` finds them.
pub fn install(ctx: &SessionContext, schema: Arc<FloeSchemaProvider>) -> Result<()> {
    let state = ctx.state();
    let options = state.config_options();
    let catalog_name = options.catalog.default_catalog.clone();
    let schema_name = options.catalog.default_schema.clone();
    let Some(catalog) = ctx.catalog(&catalog_name) else {
        return datafusion::common::plan_err!("no default catalog {catalog_name}");
    };
    catalog.register_schema(&schema_name, schema)?;
    Ok(())
}
