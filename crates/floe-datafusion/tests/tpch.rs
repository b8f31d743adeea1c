//! All 22 TPC-H queries through `floe-datafusion` over floe tables, compared row for row
//! with DataFusion over the very same Parquet data files registered as plain listing
//! tables (the files floe wrote, read without floe's planning, field-id mapping or
//! statistics), and with DuckDB reading the same floe tables through `iceberg_scan`
//! (another engine, another Iceberg reader: in the query's ORDER BY order, numbers
//! within a float tolerance). Scale factor 0.05 by default, about a minute in a debug
//! build (`FLOE_TPCH_SF` overrides); every query returns rows at it. DuckDB comes from
//! the interop venv (`$FLOE_VENV_PYTHON`); without it that comparison is skipped with a
//! loud notice, unless `$FLOE_VENV_REQUIRED` is set (then it fails).

#[path = "../tpch/duckdb.rs"]
mod duckdb;
#[path = "../tpch/generate.rs"]
mod generate;
#[path = "../tpch/queries.rs"]
mod queries;

use datafusion::arrow::array::{Array, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap()).collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect::<Vec<_>>().join("|"));
        }
    }
    // Ties in ORDER BY may come in any order: compare as multisets.
    out.sort();
    out
}

/// One value of a result row, engine-neutral.
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Num(f64),
    Text(String),
}

impl Cell {
    fn same(&self, other: &Cell) -> bool {
        match (self, other) {
            (Cell::Null, Cell::Null) => true,
            // Decimal vs double arithmetic and different averaging: a relative tolerance,
            // plus an absolute one for averages DataFusion rounds to the decimal's scale.
            (Cell::Num(a), Cell::Num(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) + 1e-4,
            (Cell::Text(a), Cell::Text(b)) => a == b,
            _ => false,
        }
    }
}

/// DataFusion's rows, in order: numbers (integers, floats, decimals) as f64, the rest
/// as text (dates as YYYY-MM-DD).
fn cells(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<Box<dyn Fn(usize) -> Cell>> = b
            .columns()
            .iter()
            .map(|c| -> Box<dyn Fn(usize) -> Cell> {
                let c = std::sync::Arc::clone(c);
                if c.data_type().is_numeric() {
                    let f = cast(&c, &DataType::Float64).unwrap();
                    Box::new(move |r| {
                        let f = f.as_any().downcast_ref::<Float64Array>().unwrap();
                        if f.is_null(r) { Cell::Null } else { Cell::Num(f.value(r)) }
                    })
                } else {
                    Box::new(move |r| {
                        if c.is_null(r) {
                            return Cell::Null;
                        }
                        let opts = FormatOptions::default();
                        let fmt = ArrayFormatter::try_new(c.as_ref(), &opts).unwrap();
                        Cell::Text(fmt.value(r).to_string())
                    })
                }
            })
            .collect();
        for r in 0..b.num_rows() {
            out.push(cols.iter().map(|f| f(r)).collect());
        }
    }
    out
}

fn duck_cells(rows: &[Vec<serde_json::Value>]) -> Vec<Vec<Cell>> {
    use serde_json::Value;
    rows.iter()
        .map(|r| {
            r.iter()
                .map(|v| match v {
                    Value::Null => Cell::Null,
                    Value::Number(n) => Cell::Num(n.as_f64().unwrap_or(f64::NAN)),
                    Value::String(s) => Cell::Text(s.clone()),
                    other => Cell::Text(other.to_string()),
                })
                .collect()
        })
        .collect()
}

/// Whether two results agree row for row in order (ORDER BY), each value within tolerance.
fn agree(got: &[Vec<Cell>], want: &[Vec<Cell>]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} rows vs {}", got.len(), want.len()));
    }
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if g.len() != w.len() || !g.iter().zip(w).all(|(a, b)| a.same(b)) {
            return Err(format!("row {i}: {g:?} vs {w:?}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tpch_22_queries_match_datafusion_on_the_same_files() {
    let sf: f64 = std::env::var("FLOE_TPCH_SF").ok().and_then(|s| s.parse().ok()).unwrap_or(0.05);
    let root = tempfile::tempdir().unwrap();
    generate::generate(root.path(), sf);
    let floe_ctx = SessionContext::new();
    let floe_schema =
        floe_datafusion::register_root_with(&floe_ctx, root.path(), floe::TableOptions::default()).unwrap();
    let raw_ctx = SessionContext::new();
    for t in generate::TABLES {
        let data = format!("{}/", root.path().join(t).join("data").display());
        raw_ctx.register_parquet(t, &data, ParquetReadOptions::default()).await.unwrap();
    }
    let duck = duckdb::python("TPC-H test")
        .map(|py| duckdb::run(&py, root.path(), &generate::TABLES, &queries::QUERIES, 1, 2));
    let mut nonempty = 0;
    for (n, q) in queries::QUERIES {
        let batches = floe_ctx.sql(q).await.unwrap_or_else(|e| panic!("Q{n}: {e}")).collect().await.unwrap();
        let got = rows(&batches);
        let want = rows(&raw_ctx.sql(q).await.unwrap().collect().await.unwrap_or_else(|e| panic!("Q{n} raw: {e}")));
        assert_eq!(got, want, "Q{n}");
        if let Some(d) = &duck {
            let theirs = duck_cells(d.results.get(&n).unwrap_or_else(|| panic!("DuckDB ran no Q{n}")));
            if let Err(e) = agree(&cells(&batches), &theirs) {
                panic!("Q{n}: floe-datafusion and DuckDB {} (iceberg_scan) differ: {e}", d.version);
            }
        }
        if !got.is_empty() {
            nonempty += 1;
        }
        floe_schema.take_planned();
    }
    // At SF 0.05 every query returns rows (the comparison is not vacuous).
    eprintln!(
        "TPC-H SF {sf}: {nonempty} of 22 queries return rows; DuckDB compared: {}",
        duck.as_ref().map_or("no (skipped)".to_string(), |d| format!("yes, {}", d.version))
    );
    if sf >= 0.05 {
        assert_eq!(nonempty, 22);
    }

    // The layout the bench's selective queries rely on: `lineitem` is partitioned by
    // month of `l_shipdate` and committed one year per manifest, so Q6 (one year of
    // ship dates) reads one manifest of seven and plans that year's twelve files of 83+.
    floe_schema.take_planned();
    let q6 = queries::QUERIES.iter().find(|(n, _)| *n == 6).map(|(_, q)| *q).unwrap();
    floe_ctx.sql(q6).await.unwrap().collect().await.unwrap();
    let planned = floe_schema.take_planned();
    let lineitem: Vec<_> = planned.iter().filter(|(name, _)| name == "lineitem").collect();
    assert_eq!(lineitem.len(), 1, "Q6 scans lineitem once");
    let m = lineitem[0].1.planning_metrics();
    assert_eq!((m.manifests, m.manifests - m.manifests_skipped), (7, 1), "Q6 manifests: {m:?}");
    // Ship dates run from 1992-01 to 1998-12 (the last month may be empty at small scale).
    assert!(m.files >= 83 && m.files_planned == 12, "Q6 files: {m:?}");
}
