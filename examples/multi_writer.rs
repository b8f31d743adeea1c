//! A worker pool of real OS processes appending to one table at once.
//!
//! `cargo run --release --example multi_writer -- [--procs 8] [--batches 50] [--rows 1] [--dir DIR] [--relaxed]`
//!
//! The parent creates the table (default: a fresh folder under ./target), re-executes
//! this binary once per worker, waits, then verifies that exactly procs × batches
//! batches are present, each once, and prints commits/s, lost races, retries and
//! latency percentiles. Exit status 1 on any lost or duplicated row.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use floe::{Durability, PrimitiveType, Schema, Table, TableOptions};

struct Args {
    procs: usize,
    batches: usize,
    rows: usize,
    dir: std::path::PathBuf,
    relaxed: bool,
    child: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { procs: 8, batches: 50, rows: 1, dir: std::path::PathBuf::new(), relaxed: false, child: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--procs" => a.procs = val("--procs")?.parse().map_err(|e| format!("--procs: {e}"))?,
            "--batches" => a.batches = val("--batches")?.parse().map_err(|e| format!("--batches: {e}"))?,
            "--rows" => a.rows = val("--rows")?.parse().map_err(|e| format!("--rows: {e}"))?,
            "--dir" => a.dir = val("--dir")?.into(),
            "--relaxed" => a.relaxed = true,
            "--child" => a.child = Some(val("--child")?.parse().map_err(|e| format!("--child: {e}"))?),
            "-h" | "--help" => {
                println!("usage: multi_writer [--procs N] [--batches M] [--rows R] [--dir DIR] [--relaxed]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.dir.as_os_str().is_empty() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        a.dir = std::path::PathBuf::from("target/multi_writer").join(format!("table-{nanos}"));
    }
    Ok(a)
}

fn schema() -> Schema {
    Schema::builder()
        .required("id", PrimitiveType::Long)
        .required("worker", PrimitiveType::Long)
        .optional("payload", PrimitiveType::String)
        .build()
        .unwrap_or_else(|e| panic!("static schema is valid: {e}"))
}

fn options(relaxed: bool) -> TableOptions {
    TableOptions::default().durability(if relaxed { Durability::Relaxed } else { Durability::Durable })
}

fn child(args: &Args, worker: usize) -> Result<(), Box<dyn std::error::Error>> {
    let table = Table::open_with(&args.dir, options(args.relaxed))?;
    let arrow = Arc::new(table.schema().to_arrow());
    for b in 0..args.batches {
        let base = ((worker * args.batches + b) * args.rows) as i64;
        let ids: Vec<i64> = (base..base + args.rows as i64).collect();
        let batch = RecordBatch::try_new(
            arrow.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Int64Array::from(vec![worker as i64; ids.len()])),
                Arc::new(StringArray::from(ids.iter().map(|i| format!("w{worker}-b{b}-{i}")).collect::<Vec<_>>())),
            ],
        )?;
        let r = table.append(&[batch])?;
        println!("ACK {} {} {} {} {}", r.version, r.attempts, r.conflicts, r.elapsed.as_micros(), r.rebased_over);
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("multi_writer: {e}");
            std::process::exit(2);
        }
    };
    if let Some(w) = args.child {
        if let Err(e) = child(&args, w) {
            eprintln!("worker {w}: {e}");
            std::process::exit(1);
        }
        return;
    }
    match parent(&args) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("multi_writer: {e}");
            std::process::exit(1);
        }
    }
}

fn parent(args: &Args) -> Result<bool, Box<dyn std::error::Error>> {
    let table = Table::create_with(&args.dir, schema(), options(args.relaxed))?;
    let exe = std::env::current_exe()?;
    println!(
        "{} processes x {} appends of {} row(s) into {} ({})",
        args.procs,
        args.batches,
        args.rows,
        table.path().display(),
        if args.relaxed { "relaxed, no fsync" } else { "durable" }
    );
    let start = Instant::now();
    let children = (0..args.procs)
        .map(|w| {
            let mut c = Command::new(&exe);
            c.args([
                "--child",
                &w.to_string(),
                "--batches",
                &args.batches.to_string(),
                "--rows",
                &args.rows.to_string(),
            ]);
            c.arg("--dir").arg(table.path());
            if args.relaxed {
                c.arg("--relaxed");
            }
            c.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut acks = Vec::new();
    let mut failed_workers = 0;
    for c in children {
        let out = c.wait_with_output()?;
        if !out.status.success() {
            failed_workers += 1;
        }
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(rest) = line.strip_prefix("ACK ") {
                let v: Vec<u64> = rest.split(' ').filter_map(|x| x.parse().ok()).collect();
                if v.len() == 5 {
                    acks.push(v);
                }
            }
        }
    }
    let wall = start.elapsed();

    // Verify from a fresh handle.
    let table = Table::open(table.path())?;
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for b in table.scan().select(["id"]).to_batches()? {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().ok_or("id column is not Int64")?;
        for i in 0..ids.len() {
            *counts.entry(ids.value(i)).or_default() += 1;
        }
    }
    let expected_rows = args.procs * args.batches * args.rows;
    let missing = (0..expected_rows as i64).filter(|i| !counts.contains_key(i)).count();
    let duplicated = counts.values().filter(|c| **c > 1).count();
    let commits = acks.len();
    let lost_races: u64 = acks.iter().map(|a| a[2]).sum();
    let retried = acks.iter().filter(|a| a[2] > 0).count();
    let rebased = acks.iter().filter(|a| a[4] > 0).count();
    let mut lat: Vec<Duration> = acks.iter().map(|a| Duration::from_micros(a[3])).collect();
    lat.sort();
    let pct =
        |p: f64| lat.get(((lat.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or_default();

    println!(
        "commits          {commits} in {:.2} s = {:.0} commits/s",
        wall.as_secs_f64(),
        commits as f64 / wall.as_secs_f64()
    );
    println!("rebased commits  {rebased} (another writer committed after their base; rebased, no work lost)");
    println!("lost races       {lost_races} (version taken at the link; {retried} commits needed a retry)");
    println!("failed workers   {failed_workers}");
    println!("commit latency   p50 {:?}  p90 {:?}  p99 {:?}  max {:?}", pct(0.5), pct(0.9), pct(0.99), pct(1.0));
    println!("table version    v{} ({} snapshots retained)", table.version(), table.snapshots().len());
    let ok = missing == 0 && duplicated == 0 && commits == args.procs * args.batches && failed_workers == 0;
    println!(
        "verification     {} rows expected, {} present, {missing} missing, {duplicated} duplicated: {}",
        expected_rows,
        counts.len(),
        if ok { "OK" } else { "FAILED" }
    );
    Ok(ok)
}
