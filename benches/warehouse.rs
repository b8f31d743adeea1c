//! Multi-table transactions (docs/transactions.md) against single-table commits,
//! measured in the same run.
//!
//! ```text
//! cargo bench --bench warehouse -- [--quick] [--relaxed] [--keep]
//! ```
//!
//! For P = 1 and 8 writer processes (this binary re-executed with `--child`, released
//! together by a start file):
//!
//! * baseline: each process makes C single-row appends to one plain table
//!   (`Table::append`), the commit path a single table already has;
//! * for T = 1, 2 and 8 tables per transaction: each process makes C warehouse
//!   transactions appending one row to each of the same T tables (so every transaction
//!   touches every other one's tables, the worst case for the catalog log).
//!
//! Printed per row: transactions/s and its ratio to the baseline's commits/s, latency
//! p50/p99, lost catalog races, and the publish window (commit point to the last
//! table's `v<N+1>` published: how long Iceberg readers may see the tables apart) p50/p99.
//! Everything runs under `target/bench-warehouse/` (removed unless `--keep`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use floe::{Durability, PrimitiveType, Schema, Table, TableOptions, Warehouse};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn options(relaxed: bool) -> TableOptions {
    let d = if relaxed { Durability::Relaxed } else { Durability::Durable };
    TableOptions::default().durability(d).retry(floe::RetryPolicy::default().with_max_attempts(100_000))
}

fn schema() -> BoxResult<Schema> {
    Ok(Schema::builder().required("id", PrimitiveType::Long).build()?)
}

fn row(id: i64) -> BoxResult<RecordBatch> {
    let s = Arc::new(ArrowSchema::new(vec![Field::new("id", DataType::Int64, false)]));
    Ok(RecordBatch::try_new(s, vec![Arc::new(Int64Array::from(vec![id]))])?)
}

fn table_name(i: usize) -> String {
    format!("t{i}")
}

/// `--child plain|wh DIR TABLES COMMITS ID START_FILE RELAXED`: prints one line per
/// commit: `latency_us window_us lost`.
fn child(args: &[String]) -> BoxResult<()> {
    let [kind, dir, tables, commits, id, start, relaxed] = args else { return Err("bad child arguments".into()) };
    let (tables, commits, id): (usize, usize, i64) = (tables.parse()?, commits.parse()?, id.parse()?);
    let opts = options(relaxed == "1");
    let plain = if kind == "plain" { Some(Table::open_with(dir, opts.clone())?) } else { None };
    let wh = if kind == "wh" { Some(Warehouse::open_with(dir, opts)?) } else { None };
    while !Path::new(start).exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut out = String::new();
    for i in 0..commits {
        let rid = id * 1_000_000 + i as i64;
        let t0 = Instant::now();
        if let Some(t) = &plain {
            let r = t.append(&[row(rid)?])?;
            out.push_str(&format!("{} 0 {}\n", t0.elapsed().as_micros(), r.conflicts));
        } else if let Some(wh) = &wh {
            let mut tx = wh.transaction();
            for t in 0..tables {
                tx.table(&table_name(t))?.append(&row(rid)?)?;
            }
            let c = tx.commit()?;
            out.push_str(&format!(
                "{} {} {}\n",
                t0.elapsed().as_micros(),
                c.publish_window.as_micros(),
                c.attempts - 1
            ));
        }
    }
    print!("{out}");
    Ok(())
}

struct Run {
    per_s: f64,
    latency: Vec<u64>,
    window: Vec<u64>,
    lost: u64,
}

fn pct(v: &[u64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

fn run(kind: &str, dir: &Path, tables: usize, procs: usize, commits: usize, relaxed: bool) -> BoxResult<Run> {
    let exe = std::env::current_exe()?;
    let start = dir.join("start");
    let mut kids: Vec<Child> = Vec::new();
    for p in 0..procs {
        kids.push(
            Command::new(&exe)
                .arg("--child")
                .args([kind, &dir.display().to_string(), &tables.to_string(), &commits.to_string(), &p.to_string()])
                .arg(&start)
                .arg(if relaxed { "1" } else { "0" })
                .stdout(Stdio::piped())
                .spawn()?,
        );
    }
    // Let the children open their handles, then release them together.
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    std::fs::write(&start, b"go")?;
    let mut latency = Vec::new();
    let mut window = Vec::new();
    let mut lost = 0;
    for k in kids {
        let out = k.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("a {kind} child failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let f: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
            if let [l, w, r] = f[..] {
                latency.push(l);
                window.push(w);
                lost += r;
            }
        }
    }
    let elapsed = t0.elapsed();
    latency.sort_unstable();
    window.sort_unstable();
    if latency.len() != procs * commits {
        return Err(format!("{kind}: {} of {} commits reported", latency.len(), procs * commits).into());
    }
    Ok(Run { per_s: (procs * commits) as f64 / elapsed.as_secs_f64(), latency, window, lost })
}

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let relaxed = args.iter().any(|a| a == "--relaxed");
    let keep = args.iter().any(|a| a == "--keep");
    let commits = if quick { 10 } else { 40 };
    let base = PathBuf::from("target/bench-warehouse");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base)?;
    println!(
        "warehouse transactions vs single-table commits ({}, {commits} commits per process)\n",
        if relaxed { "relaxed" } else { "durable" }
    );
    println!(
        "| P | commit | per s | vs single-table | p50 ms | p99 ms | lost races | publish window p50 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut n = 0;
    for procs in [1usize, 8] {
        n += 1;
        let dir = base.join(format!("plain-{n}"));
        Table::create_with(&dir, schema()?, options(relaxed))?;
        let b = run("plain", &dir, 1, procs, commits, relaxed)?;
        println!(
            "| {procs} | single table | {:.1} | 1.00 | {:.2} | {:.2} | {} | - | - |",
            b.per_s,
            pct(&b.latency, 0.5),
            pct(&b.latency, 0.99),
            b.lost
        );
        for tables in [1usize, 2, 8] {
            n += 1;
            let dir = base.join(format!("wh-{n}"));
            let wh = Warehouse::create_with(&dir, options(relaxed))?;
            for t in 0..tables {
                wh.create_table(&table_name(t), schema()?)?;
            }
            let r = run("wh", &dir, tables, procs, commits, relaxed)?;
            println!(
                "| {procs} | warehouse, T={tables} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {:.2} | {:.2} |",
                r.per_s,
                r.per_s / b.per_s,
                pct(&r.latency, 0.5),
                pct(&r.latency, 0.99),
                r.lost,
                pct(&r.window, 0.5),
                pct(&r.window, 0.99)
            );
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&base);
    }
    Ok(())
}
