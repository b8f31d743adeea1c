//! TPC-H through DataFusion: floe tables (`floe-datafusion`) against DataFusion over
//! the very same Parquet files registered as plain listing tables (the physical floor
//! for this engine), measured in the same run.
//!
//! `cargo bench -p floe-datafusion --bench tpch` — scale factor `FLOE_TPCH_SF` (default
//! 1), `FLOE_TPCH_RUNS` runs per query (default 3, the median is reported), data kept
//! in `FLOE_TPCH_DIR` (default `target/tpch-sf<SF>`) and reused when present. Prints
//! per-query medians and the floe / raw ratio, then the totals.

#[path = "../tpch/generate.rs"]
mod generate;
#[path = "../tpch/queries.rs"]
mod queries;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use datafusion::prelude::{ParquetReadOptions, SessionContext};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target").join(format!("tpch-sf{sf}"))
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
        floe_datafusion::register_root(&floe_ctx, &dir).expect("root");
        let raw_ctx = SessionContext::new();
        for t in generate::TABLES {
            let data = format!("{}/", dir.join(t).join("data").display());
            raw_ctx.register_parquet(t, &data, ParquetReadOptions::default()).await.expect("register");
        }
        println!(
            "TPC-H SF {sf}, median of {runs} run(s), target_partitions {}",
            floe_ctx.state().config().target_partitions()
        );
        println!("{:>4} {:>10} {:>10} {:>7} {:>6}", "q", "floe ms", "raw ms", "ratio", "rows");
        let (mut tf, mut tr) = (Duration::ZERO, Duration::ZERO);
        for (n, q) in queries::QUERIES {
            // Warm both (footer caches, page cache) once before timing.
            time(&floe_ctx, q, 1).await;
            time(&raw_ctx, q, 1).await;
            let (f, rows) = time(&floe_ctx, q, runs).await;
            let (r, _) = time(&raw_ctx, q, runs).await;
            tf += f;
            tr += r;
            println!(
                "{n:>4} {:>10.1} {:>10.1} {:>7.2} {rows:>6}",
                f.as_secs_f64() * 1e3,
                r.as_secs_f64() * 1e3,
                f.as_secs_f64() / r.as_secs_f64().max(1e-9)
            );
        }
        println!(
            "total {:>9.1} {:>10.1} {:>7.2}   (floe / raw listing table, same files)",
            tf.as_secs_f64() * 1e3,
            tr.as_secs_f64() * 1e3,
            tf.as_secs_f64() / tr.as_secs_f64().max(1e-9)
        );
    });
}
