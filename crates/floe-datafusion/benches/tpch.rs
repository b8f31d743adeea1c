//! TPC-H through DataFusion: floe tables (`floe-datafusion`) against DataFusion over
//! the very same Parquet files registered as plain listing tables (the physical floor
//! for this engine), and against DuckDB reading the same floe tables with
//! `iceberg_scan` (from the interop venv, `$FLOE_VENV_PYTHON`; the column is left out,
//! with a notice, when it is unset), all measured in the same run. DuckDB runs in its
//! own process with as many threads as DataFusion has partitions; its times are
//! `execute` + `fetchall` inside that process (no process start-up), after one warm run.
//!
//! `cargo bench -p floe-datafusion --bench tpch --profile bench-opt` — scale factor
//! `FLOE_TPCH_SF` (default 1), `FLOE_TPCH_RUNS` runs per query (default 3, the median is
//! reported), data kept in `FLOE_TPCH_DIR` (default `target/tpch-sf<SF>-bymonth`) and
//! reused when present. `lineitem` and `orders` are partitioned by month of their date
//! (`tpch/generate.rs`), so date-range queries let floe skip manifests and files. Prints
//! per-query medians, the floe / raw ratio, and floe's planning counts (data files
//! planned of the snapshot's files, manifests read of the manifests, summed over the
//! query's table scans), then the totals and the totals of the queries where floe's
//! manifests pruned files. `FLOE_TPCH_QUERIES=1,6,14` runs only those queries;
//! `FLOE_TPCH_RAW_UTF8=1` has the listing table read strings as `Utf8` like floe's
//! provider (DataFusion's default is `Utf8View`), to measure what the string type costs.

#[path = "../tpch/duckdb.rs"]
mod duckdb;
#[path = "../tpch/generate.rs"]
mod generate;
#[path = "../tpch/queries.rs"]
mod queries;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn median_ms(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

async fn time(ctx: &SessionContext, q: &str, runs: usize) -> (Duration, usize) {
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let b = ctx.sql(q).await.expect("plan").collect().await.expect("run");
        times.push(t.elapsed());
        rows = b.iter().map(|b| b.num_rows()).sum();
    }
    (median(times), rows)
}

fn main() {
    let sf: f64 = std::env::var("FLOE_TPCH_SF").ok().and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let runs: usize = std::env::var("FLOE_TPCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(3).max(1);
    let dir = std::env::var("FLOE_TPCH_DIR").map(PathBuf::from).unwrap_or_else(|_| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target").join(format!("tpch-sf{sf}-bymonth"))
    });
    if !dir.join("lineitem").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data dir");
        let t = Instant::now();
        generate::generate(&dir, sf);
        eprintln!("generated SF {sf} into {} in {:.1?}", dir.display(), t.elapsed());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let floe_ctx = SessionContext::new();
        let floe_schema =
            floe_datafusion::register_root_with(&floe_ctx, &dir, floe::TableOptions::default()).expect("root");
        // floe's planning counts of the scans planned since the last call.
        let planned = || {
            let mut m = floe::ScanMetrics::default();
            for (_, p) in floe_schema.take_planned() {
                let p = p.planning_metrics();
                m.manifests += p.manifests;
                m.manifests_skipped += p.manifests_skipped;
                m.files += p.files;
                m.files_planned += p.files_planned;
            }
            m
        };
        let raw_utf8 = std::env::var_os("FLOE_TPCH_RAW_UTF8").is_some_and(|v| v != "0");
        let raw_ctx = SessionContext::new_with_config(
            SessionConfig::new().set_bool("datafusion.execution.parquet.schema_force_view_types", !raw_utf8),
        );
        for t in generate::TABLES {
            let data = format!("{}/", dir.join(t).join("data").display());
            raw_ctx.register_parquet(t, &data, ParquetReadOptions::default()).await.expect("register");
        }
        let partitions = floe_ctx.state().config().target_partitions();
        let only: Option<Vec<u32>> = std::env::var("FLOE_TPCH_QUERIES")
            .ok()
            .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect());
        let chosen: Vec<(u32, &str)> =
            queries::QUERIES.iter().copied().filter(|(n, _)| only.as_ref().is_none_or(|o| o.contains(n))).collect();
        // DuckDB first (its own process), warm run dropped: runs + 1 per query.
        let duck = duckdb::python("TPC-H bench")
            .map(|py| duckdb::run(&py, &dir, &generate::TABLES, &chosen, runs + 1, partitions));
        let duck_ms = |n: u32| -> Option<f64> {
            let t = duck.as_ref()?.times_ms.get(&n)?;
            Some(median_ms(t.get(1..).unwrap_or(t)))
        };
        println!(
            "TPC-H SF {sf}, median of {runs} run(s), target_partitions {partitions}{}{}",
            if raw_utf8 { ", raw strings as Utf8" } else { "" },
            duck.as_ref().map_or(String::from(", DuckDB skipped"), |d| format!(", DuckDB {} iceberg_scan", d.version))
        );
        println!(
            "{:>5} {:>10} {:>10} {:>11} {:>10} {:>11} {:>6} {:>11} {:>11}",
            "q", "floe ms", "raw ms", "floe/raw", "duckdb ms", "floe/duckdb", "rows", "files", "manifests"
        );
        let (mut tf, mut tr, mut td) = (Duration::ZERO, Duration::ZERO, 0.0f64);
        // Queries where floe's manifests pruned data files: floe and raw totals.
        let (mut pf, mut pr, mut pruned_queries) = (Duration::ZERO, Duration::ZERO, Vec::new());
        for &(n, q) in &chosen {
            // Warm both (footer caches, page cache) once before timing.
            planned();
            time(&floe_ctx, q, 1).await;
            let m = planned();
            time(&raw_ctx, q, 1).await;
            let (f, rows) = time(&floe_ctx, q, runs).await;
            planned();
            let (r, _) = time(&raw_ctx, q, runs).await;
            tf += f;
            tr += r;
            if m.files_planned < m.files {
                pf += f;
                pr += r;
                pruned_queries.push(n);
            }
            if let Some(d) = &duck {
                // The same answer size (the TPC-H test compares the rows themselves).
                let dn = d.results.get(&n).map_or(0, Vec::len);
                assert_eq!(dn, rows, "Q{n}: DuckDB returned {dn} rows, floe {rows}");
            }
            let (fm, rm) = (f.as_secs_f64() * 1e3, r.as_secs_f64() * 1e3);
            let (d, dr) = match duck_ms(n) {
                Some(d) => {
                    td += d;
                    (format!("{d:.1}"), format!("{:.2}", fm / d.max(1e-9)))
                }
                None => ("-".into(), "-".into()),
            };
            let files = format!("{}/{}", m.files_planned, m.files);
            let manifests = format!("{}/{}", m.manifests - m.manifests_skipped, m.manifests);
            println!(
                "{n:>5} {fm:>10.1} {rm:>10.1} {:>11.2} {d:>10} {dr:>11} {rows:>6} {files:>11} {manifests:>11}",
                fm / rm.max(1e-9)
            );
        }
        let (fm, rm) = (tf.as_secs_f64() * 1e3, tr.as_secs_f64() * 1e3);
        let (d, dr) = if duck.is_some() {
            (format!("{td:.1}"), format!("{:.2}", fm / td.max(1e-9)))
        } else {
            ("-".into(), "-".into())
        };
        println!("{:>5} {fm:>10.1} {rm:>10.1} {:>11.2} {d:>10} {dr:>11}", "total", fm / rm.max(1e-9));
        let (pfm, prm) = (pf.as_secs_f64() * 1e3, pr.as_secs_f64() * 1e3);
        println!(
            "pruned {pfm:>8.1} {prm:>10.1} {:>11.2}   (queries where floe planned fewer files than the snapshot \
             holds: {pruned_queries:?})",
            pfm / prm.max(1e-9)
        );
        println!("(floe: DataFusion over floe tables; raw: DataFusion over the same files as a listing table;");
        println!(" files: data files floe planned / files in the scanned snapshots; manifests: read / listed)");
    });
}
