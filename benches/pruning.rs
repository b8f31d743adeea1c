//! Pruning and row-level benchmarks on a table of 10M rows in 1,000 files, each figure
//! against a baseline measured in this run:
//!
//! 1. point lookup by key, against the same lookup with pruning off (every file read,
//!    rows filtered exactly);
//! 2. upsert of 10k keys (clustered: consecutive ids; random: spread over the table),
//!    against a full rewrite (scan everything, replace, `overwrite_all`);
//! 3. delete by predicate (1% of the rows, a contiguous id range), against a full
//!    rewrite without those rows.
//!
//! ```text
//! cargo bench --bench pruning -- [--rows N] [--files N] [--lookups N] [--keep]
//! ```
//!
//! The table (id long sorted within and across files, 16-char string, double) is built
//! in `target/bench-pruning/` with relaxed durability, one commit per file. Printed:
//! files and row groups read per lookup (pruned: the one file whose bounds hold the
//! key) and median times, then the ratio. Medians over `--lookups` random keys for the
//! pruned lookup and over 3 runs for the full scan.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use floe::expr::col;
use floe::spec::{PrimitiveType, Schema};
use floe::{Durability, Table, TableOptions};
use rand::Rng;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows = arg(&args, "--rows", 10_000_000);
    let files = arg(&args, "--files", 1000).max(1);
    let lookups = arg(&args, "--lookups", 21).max(1);
    let per_file = rows / files;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-pruning");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;

    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("value", PrimitiveType::Double)
        .build()?;
    let table =
        Table::create_with(dir.join("t"), schema.clone(), TableOptions::default().durability(Durability::Relaxed))?;
    let arrow = Arc::new(schema.to_arrow());
    let t0 = Instant::now();
    for f in 0..files {
        let start = (f * per_file) as i64;
        let ids: Vec<i64> = (start..start + per_file as i64).collect();
        let names: Vec<String> = ids.iter().map(|i| format!("name-{i:011}")).collect();
        let values: Vec<f64> = ids.iter().map(|i| *i as f64 * 0.5).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&arrow),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(Float64Array::from(values)),
            ],
        )?;
        table.append(&[batch])?;
    }
    println!("built {rows} rows in {files} files ({per_file} rows each) in {:.1} s", t0.elapsed().as_secs_f64());

    let total = (per_file * files) as i64;
    let mut rng = rand::rng();
    let mut pruned = Vec::new();
    let mut read = (0usize, 0usize, 0usize, 0u64);
    for _ in 0..lookups {
        let key = rng.random_range(0..total);
        let t = Instant::now();
        let (batches, m) = table.scan().filter(col("id").eq(key)).to_batches_with_metrics()?;
        pruned.push(t.elapsed());
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        assert_eq!(n, 1, "key {key}");
        read = (m.files_read, m.row_groups_read(), m.files_skipped_by_metrics, m.rows_read);
    }
    let mut full = Vec::new();
    let mut full_read = (0usize, 0u64);
    for _ in 0..3 {
        let key = rng.random_range(0..total);
        let t = Instant::now();
        let (batches, m) = table.scan().filter(col("id").eq(key)).prune(false).to_batches_with_metrics()?;
        full.push(t.elapsed());
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
        full_read = (m.files_read, m.rows_read);
    }
    let (p, f) = (median(pruned), median(full));
    println!(
        "point lookup, pruned: {:.2} ms median of {lookups}; files read {} (skipped by bounds {}), row groups read {}, rows decoded {}",
        p.as_secs_f64() * 1e3,
        read.0,
        read.2,
        read.1,
        read.3
    );
    println!(
        "point lookup, pruning off (full scan + exact filter): {:.1} ms median of 3; files read {}, rows decoded {}",
        f.as_secs_f64() * 1e3,
        full_read.0,
        full_read.1
    );
    println!("speed-up: {:.0}x", f.as_secs_f64() / p.as_secs_f64());

    // Baseline for the row-level figures: rewrite the whole table (scan all, keep the
    // rows not matching, overwrite_all), the cost of a naive copy-on-write.
    let full_rewrite = |pred: floe::expr::Predicate| -> BoxResult<Duration> {
        let t = Instant::now();
        let keep = table.scan().filter(pred.not()).to_batches()?;
        let mut tx = table.new_transaction();
        tx.overwrite_all(&keep)?;
        tx.commit()?;
        Ok(t.elapsed())
    };
    let kv = |ids: Vec<i64>| -> BoxResult<RecordBatch> {
        let names: Vec<String> = ids.iter().map(|i| format!("new-{i:011}")).collect();
        let values: Vec<f64> = ids.iter().map(|i| *i as f64).collect();
        Ok(RecordBatch::try_new(
            Arc::clone(&arrow),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(names)),
                Arc::new(Float64Array::from(values)),
            ],
        )?)
    };
    let keys = 10_000.min(total as usize);
    let start = rng.random_range(0..total - keys as i64);
    let clustered: Vec<i64> = (start..start + keys as i64).collect();
    let t = Instant::now();
    let c = table.upsert(&["id"], &[kv(clustered.clone())?])?.rows.unwrap_or_default();
    let up_clustered = t.elapsed();
    println!(
        "upsert {keys} clustered keys: {:.0} ms; files read {}, rewritten {}, rows replaced {}, rows copied {}",
        up_clustered.as_secs_f64() * 1e3,
        c.files_scanned,
        c.files_rewritten + c.files_removed,
        c.rows_removed,
        c.rows_copied
    );
    let span = (total / 100).max(1);
    let lo = rng.random_range(0..total - span);
    let t = Instant::now();
    let c = table.delete(col("id").between(lo, lo + span - 1))?.rows.unwrap_or_default();
    let del = t.elapsed();
    println!(
        "delete 1% by predicate (id between {lo} and {}): {:.0} ms; files read {}, removed {}, rewritten {}, rows deleted {}",
        lo + span - 1,
        del.as_secs_f64() * 1e3,
        c.files_scanned,
        c.files_removed,
        c.files_rewritten,
        c.rows_removed
    );
    let mut random: Vec<i64> = (0..keys).map(|_| rng.random_range(0..total)).collect();
    random.sort();
    random.dedup();
    let t = Instant::now();
    let c = table.upsert(&["id"], &[kv(random.clone())?])?.rows.unwrap_or_default();
    let up_random = t.elapsed();
    println!(
        "upsert {} random keys: {:.0} ms; files read {}, rewritten {}, rows replaced {}, rows copied {}",
        random.len(),
        up_random.as_secs_f64() * 1e3,
        c.files_scanned,
        c.files_rewritten + c.files_removed,
        c.rows_removed,
        c.rows_copied
    );
    // The baselines last: a full rewrite leaves a few large files behind.
    let base = full_rewrite(col("id").is_in(clustered))?;
    println!(
        "baseline full rewrite (10M rows): {:.0} ms -> upsert clustered {:.0}x faster, random {:.1}x",
        base.as_secs_f64() * 1e3,
        base.as_secs_f64() / up_clustered.as_secs_f64(),
        base.as_secs_f64() / up_random.as_secs_f64()
    );

    let lo2 = rng.random_range(0..total - span);
    let base = full_rewrite(col("id").between(lo2, lo2 + span - 1))?;
    println!(
        "baseline full rewrite without 1%: {:.0} ms -> delete {:.0}x faster",
        base.as_secs_f64() * 1e3,
        base.as_secs_f64() / del.as_secs_f64()
    );
    if !args.iter().any(|a| a == "--keep") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
