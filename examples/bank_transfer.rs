//! Bank transfers between two tables of a warehouse, by real OS processes at once,
//! checked by a reader that must never see money appear or vanish.
//!
//! `cargo run --release --example bank_transfer -- [--procs 4] [--transfers 50] [--dir DIR] [--relaxed]`
//!
//! The parent creates a warehouse (default: a fresh folder under ./target) with two
//! account tables, `bank.checking` and `bank.savings`, and re-executes this binary once
//! per worker. Each worker makes `--transfers` transfers: one multi-table transaction
//! that appends `(id, -amount)` to checking and `(id, +amount)` to savings. While they
//! run, the parent reads consistent snapshots of the warehouse in a loop and checks that
//! the total over both tables is 0 and that every transfer is in both tables or in
//! neither. At the end it checks that every transfer is in both tables exactly once and
//! prints transactions/s, lost races and the publish window (commit point to last table
//! published) p50/p99. Exit status 1 on any violation.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use floe::arrow::array::{Array, Float64Array, Int64Array, RecordBatch};
use floe::arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
use floe::{Durability, PrimitiveType, Schema, TableOptions, Warehouse, WarehouseSnapshot};

struct Args {
    procs: usize,
    transfers: usize,
    dir: std::path::PathBuf,
    relaxed: bool,
    child: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { procs: 4, transfers: 50, dir: std::path::PathBuf::new(), relaxed: false, child: None };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--procs" => a.procs = val("--procs")?.parse().map_err(|e| format!("--procs: {e}"))?,
            "--transfers" => a.transfers = val("--transfers")?.parse().map_err(|e| format!("--transfers: {e}"))?,
            "--dir" => a.dir = val("--dir")?.into(),
            "--relaxed" => a.relaxed = true,
            "--child" => a.child = Some(val("--child")?.parse().map_err(|e| format!("--child: {e}"))?),
            "-h" | "--help" => {
                println!("usage: bank_transfer [--procs N] [--transfers M] [--dir DIR] [--relaxed]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

fn options(relaxed: bool) -> TableOptions {
    let d = if relaxed { Durability::Relaxed } else { Durability::Durable };
    TableOptions::default().durability(d).retry(floe::RetryPolicy::default().with_max_attempts(10_000))
}

fn row(id: i64, amount: f64) -> RecordBatch {
    let schema = Arc::new(ArrowSchema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("amount", DataType::Float64, false),
    ]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![id])), Arc::new(Float64Array::from(vec![amount]))])
        .expect("a valid batch")
}

/// Transfer ids and the total of one table at a snapshot.
fn read(snap: &WarehouseSnapshot, table: &str) -> floe::Result<(Vec<i64>, f64)> {
    let mut ids = Vec::new();
    let mut total = 0.0;
    for b in snap.scan(table)?.select(["id", "amount"]).to_batches()? {
        let (Some(id), Some(amount)) =
            (b.column(0).as_any().downcast_ref::<Int64Array>(), b.column(1).as_any().downcast_ref::<Float64Array>())
        else {
            return Err(floe::Error::InvalidArgument("unexpected column types".into()));
        };
        for i in 0..id.len() {
            ids.push(id.value(i));
            total += amount.value(i);
        }
    }
    ids.sort_unstable();
    Ok((ids, total))
}

fn child(a: &Args, n: usize) -> floe::Result<()> {
    let wh = Warehouse::open_with(&a.dir, options(a.relaxed))?;
    for i in 0..a.transfers {
        let id = (n * 1_000_000 + i) as i64;
        let amount = 1.0 + (id % 100) as f64;
        let mut tx = wh.transaction();
        tx.table("bank.checking")?.append(&row(id, -amount))?;
        tx.table("bank.savings")?.append(&row(id, amount))?;
        let c = tx.commit()?;
        // One line per transaction for the parent's statistics.
        println!("{} {} {}", c.attempts - 1, c.publish_window.as_micros(), c.elapsed.as_micros());
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let mut a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bank_transfer: {e}");
            std::process::exit(2);
        }
    };
    if let Some(n) = a.child {
        if let Err(e) = child(&a, n) {
            eprintln!("worker {n}: {e}");
            std::process::exit(1);
        }
        return;
    }
    if a.dir.as_os_str().is_empty() {
        a.dir = std::path::PathBuf::from(format!("target/bank_transfer-{}", std::process::id()));
    }
    if let Err(e) = run(&a) {
        eprintln!("bank_transfer: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let wh = Warehouse::create_with(&a.dir, options(a.relaxed))?;
    let schema =
        Schema::builder().required("id", PrimitiveType::Long).required("amount", PrimitiveType::Double).build()?;
    wh.create_table("bank.checking", schema.clone())?;
    wh.create_table("bank.savings", schema)?;
    println!("warehouse {}: {} workers x {} transfers", a.dir.display(), a.procs, a.transfers);

    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut kids = Vec::new();
    for n in 0..a.procs {
        let mut cmd = Command::new(&exe);
        cmd.args(["--child", &n.to_string(), "--transfers", &a.transfers.to_string(), "--dir"]).arg(&a.dir);
        if a.relaxed {
            cmd.arg("--relaxed");
        }
        kids.push(cmd.stdout(Stdio::piped()).spawn()?);
    }
    // The reader: every snapshot must balance while the workers run.
    let mut snapshots = 0u64;
    let mut violations = 0u64;
    let mut outputs = Vec::new();
    loop {
        let snap = wh.snapshot()?;
        let (c, tc) = read(&snap, "bank.checking")?;
        let (s, ts) = read(&snap, "bank.savings")?;
        snapshots += 1;
        if c != s || (tc + ts).abs() > 1e-9 {
            violations += 1;
            eprintln!(
                "VIOLATION at catalog v{}: totals {tc} + {ts}, {} vs {} transfers",
                snap.version(),
                c.len(),
                s.len()
            );
        }
        let mut running = false;
        for k in &mut kids {
            running |= k.try_wait()?.is_none();
        }
        if !running {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed();
    let mut failed_workers = 0;
    for k in kids {
        let out = k.wait_with_output()?;
        if !out.status.success() {
            failed_workers += 1;
        }
        outputs.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let (mut lost, mut windows, mut latencies) = (0u64, Vec::new(), Vec::new());
    for line in outputs.iter().flat_map(|o| o.lines()) {
        let f: Vec<u64> = line.split(' ').filter_map(|x| x.parse().ok()).collect();
        if let [l, w, e] = f[..] {
            lost += l;
            windows.push(w);
            latencies.push(e);
        }
    }
    windows.sort_unstable();
    latencies.sort_unstable();

    // Every transfer is in both tables exactly once.
    let snap = wh.snapshot()?;
    let (c, tc) = read(&snap, "bank.checking")?;
    let (s, ts) = read(&snap, "bank.savings")?;
    let expected = a.procs * a.transfers;
    let unique: HashSet<i64> = c.iter().copied().collect();
    let ok = violations == 0
        && failed_workers == 0
        && c == s
        && (tc + ts).abs() < 1e-9
        && unique.len() == c.len()
        && c.len() == expected
        && windows.len() == expected;
    println!(
        "{expected} transfers in {:.2} s: {:.0} transactions/s, {lost} lost races retried; latency p50 {:.2} ms p99 {:.2} ms; publish window p50 {} us p99 {} us",
        elapsed.as_secs_f64(),
        expected as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5) as f64 / 1000.0,
        percentile(&latencies, 0.99) as f64 / 1000.0,
        percentile(&windows, 0.5),
        percentile(&windows, 0.99),
    );
    println!(
        "reader: {snapshots} snapshots, {violations} violations; at the end catalog v{}: {} transfers in checking, {} in savings, total {:.2}",
        snap.version(),
        c.len(),
        s.len(),
        tc + ts
    );
    if !ok {
        return Err("the bank does not balance (see above)".into());
    }
    println!("OK: every snapshot balanced and every transfer is in both tables exactly once");
    Ok(())
}
