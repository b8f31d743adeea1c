//! `floe sql`: SQL over floe tables with DataFusion (through `floe-datafusion`).
//!
//! Tables are named by `--table NAME=LOCATION` (repeatable; a directory or a URL such
//! as `s3://bucket/t`, opened with `--storage-option`s) and/or `--root DIR|URL`, whose
//! children that are tables are named like the child (a warehouse root: its tables,
//! each statement reading all of them at one catalog version); `floe_scan('name',
//! 'version', 3)` reads an older snapshot. The query comes from the argument, `-f FILE`
//! or standard input, and may hold several statements separated by `;` (each one sees
//! the newest snapshot when it is planned, so a `SELECT` after an `INSERT` sees its
//! rows). Results are written like `floe scan`'s (a table on a terminal, CSV when piped,
//! `--format`, `--output`); `EXPLAIN` / `EXPLAIN ANALYZE` print DataFusion's plan
//! (with the Parquet reader's row-group and page pruning counts under ANALYZE) followed
//! by what floe's planning pruned per table (manifests, files).

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, StringArray};
use clap::Args;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::DFParser;
use floe_datafusion::{FloeSchemaProvider, check_dml, install, register_time_travel};

use crate::cmd_scan::{OutFormat, choose_format, emit_rows};
use crate::out::Out;
use crate::{CmdResult, Failure};

#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The SQL text (one or more statements separated by `;`); omitted: -f or stdin.
    query: Option<String>,
    /// Read the SQL from this file (`-` for standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE", conflicts_with = "query")]
    file: Option<PathBuf>,
    /// A table for the query: NAME=LOCATION (repeatable).
    #[arg(long = "table", short = 't', value_name = "NAME=LOCATION")]
    tables: Vec<String>,
    /// A root of tables: a directory or URL whose children are tables (named like the
    /// child), or a warehouse (its tables at one catalog version).
    #[arg(long, value_name = "DIR|URL")]
    root: Option<PathBuf>,
    /// Output format (default: table on a terminal, CSV when piped, or what --output's
    /// extension says).
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Write the (last statement's) result to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Show at most this many rows of a result (a terminal table shows 100 by default).
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

fn sql_err(e: impl std::fmt::Display) -> Failure {
    Failure::usage(format!("sql: {e}"))
}

pub fn sql(o: &Out, a: &SqlArgs) -> CmdResult {
    let text = match (&a.query, &a.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) if f.as_os_str() == "-" => read_stdin()?,
        (None, Some(f)) => {
            std::fs::read_to_string(f).map_err(|e| Failure::usage(format!("-f {}: {e}", f.display())))?
        }
        (None, None) => read_stdin()?,
    };
    let options = crate::input::base_options();
    let schema = Arc::new(match &a.root {
        Some(r) if is_local(r) && !r.is_dir() => {
            return Err(Failure::usage(format!("--root {}: not a directory", r.display())));
        }
        Some(r) => FloeSchemaProvider::open(r, options.clone())
            .map_err(|e| Failure::usage(format!("--root {}: {e}", r.display())))?,
        None => FloeSchemaProvider::empty_with(options.clone()),
    });
    for t in &a.tables {
        let Some((name, loc)) = t.split_once('=') else {
            return Err(Failure::usage(format!("--table {t}: expected NAME=LOCATION")));
        };
        let path = PathBuf::from(loc);
        if name.is_empty() {
            return Err(Failure::usage(format!("--table {t}: expected NAME=LOCATION")));
        }
        if is_local(&path) && !floe_datafusion::is_table(&path) {
            return Err(Failure::usage(format!("--table {t}: {loc} is not a table directory")));
        }
        // A URL is checked by opening it: a missing table fails here, not mid-query.
        if !is_local(&path) {
            floe::Table::open_with(&path, options.clone()).map_err(|e| Failure::usage(format!("--table {t}: {e}")))?;
        }
        schema.register_location(name, path);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(o, a, &text, schema))
}

/// Whether `location` is a local path (not a store URL such as `s3://…`).
fn is_local(location: &std::path::Path) -> bool {
    floe::storage::StoreUrl::parse(location).map(|u| u.local_path().is_some()).unwrap_or(true)
}

fn read_stdin() -> Result<String, Failure> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    Ok(s)
}

async fn run(o: &Out, a: &SqlArgs, text: &str, schema: Arc<FloeSchemaProvider>) -> CmdResult {
    // information_schema: SHOW TABLES, SHOW COLUMNS FROM t.
    let config = SessionConfig::new().with_information_schema(true);
    let ctx = SessionContext::new_with_config(config);
    install(&ctx, schema.clone()).map_err(sql_err)?;
    register_time_travel(&ctx, schema.clone());
    let statements = DFParser::parse_sql(text).map_err(sql_err)?;
    if statements.is_empty() {
        return Err(Failure::usage("sql: no statement given"));
    }
    let n = statements.len();
    for (i, statement) in statements.into_iter().enumerate() {
        // A warehouse root: this statement reads every table at the newest catalog
        // version (one consistent point across tables).
        schema.refresh().map_err(sql_err)?;
        let state = ctx.state();
        let plan = state.statement_to_plan(statement).await.map_err(sql_err)?;
        // DELETE / UPDATE: refuse a WHERE that reads another table or that the optimizer
        // folds to "no row" (either would reach the table as a wider condition).
        // `EXPLAIN ANALYZE DELETE …` runs the statement too.
        use datafusion::logical_expr::LogicalPlan;
        let inner = match &plan {
            LogicalPlan::Explain(e) => e.plan.as_ref(),
            LogicalPlan::Analyze(a) => a.input.as_ref(),
            p => p,
        };
        let inner = match inner {
            LogicalPlan::Analyze(a) => a.input.as_ref(),
            p => p,
        };
        if matches!(inner, LogicalPlan::Dml(_)) {
            check_dml(inner).map_err(sql_err)?;
            check_dml(&state.optimize(inner).map_err(sql_err)?).map_err(sql_err)?;
        }
        let df = ctx.execute_logical_plan(plan).await.map_err(sql_err)?;
        let out_schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(sql_err)?;
        let is_explain = out_schema.fields().len() == 2
            && out_schema.field(0).name() == "plan_type"
            && out_schema.field(1).name() == "plan";
        if is_explain && !o.json && a.format.is_none() && a.output.is_none() {
            print_explain(&batches, &schema)?;
            continue;
        }
        // Only the last statement's rows go to --output; earlier ones are printed.
        let output = if i + 1 == n { a.output.as_deref() } else { None };
        let format = choose_format(o, a.format, output)?;
        let limit = match (a.limit, format) {
            (Some(l), _) => Some(l),
            (None, OutFormat::Table) => Some(100),
            (None, _) => None,
        };
        emit_rows(o, format, out_schema, batches, output, limit)?;
        schema.take_planned();
    }
    Ok(())
}

/// DataFusion's plan text, then floe's pruning per table.
fn print_explain(batches: &[RecordBatch], schema: &FloeSchemaProvider) -> CmdResult {
    let mut out = String::new();
    for b in batches {
        let (Some(kind), Some(plan)) =
            (b.column(0).as_any().downcast_ref::<StringArray>(), b.column(1).as_any().downcast_ref::<StringArray>())
        else {
            continue;
        };
        for r in 0..b.num_rows() {
            out.push_str(&format!("{}:\n{}\n", kind.value(r), plan.value(r)));
        }
    }
    for (name, p) in schema.take_planned() {
        let m = p.planning_metrics();
        if m.manifests == 0 && m.files == 0 {
            continue;
        }
        out.push_str(&format!(
            "floe planning {name}: manifests {} ({} skipped); files {} ({} skipped by partition, {} by column stats); {} read\n",
            m.manifests, m.manifests_skipped, m.files, m.files_skipped_by_partition, m.files_skipped_by_metrics, m.files_planned
        ));
    }
    print!("{out}");
    Ok(())
}
