//! Eight real processes upsert random keys of one small key space into one table at
//! once (serializable isolation, retrying from a fresh read on a conflict). The final
//! table must equal a serial execution of the acknowledged upserts in commit order:
//! every key exactly once (no duplicate key), holding the value of the last
//! acknowledged upsert of that key (no lost update). `FLOE_UPSERT_SNAPSHOT=1` runs the
//! children with snapshot isolation, under which this check fails (duplicate keys): the
//! test can fail.
//!
//! The test binary re-executes itself: `child_entry` does a child's work when
//! `FLOE_CHILD` is set and nothing otherwise.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Int64Array, RecordBatch};
use floe::spec::{PrimitiveType, Schema};
use floe::{Durability, Table, TableOptions};
use rand::Rng;

const PROCS: usize = 8;
const UPSERTS: usize = 12;
const KEYS: i64 = 24;

fn schema() -> Schema {
    Schema::builder().required("k", PrimitiveType::Long).required("v", PrimitiveType::Long).build().unwrap()
}

fn kv(pairs: &[(i64, i64)]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(schema().to_arrow()),
        vec![
            Arc::new(Int64Array::from(pairs.iter().map(|p| p.0).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(pairs.iter().map(|p| p.1).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

/// Child: UPSERTS upserts, alternately of a hot key (`1000 + i`, shared by all
/// processes) and of 1–3 distinct random keys, each value unique
/// (`proc * 1_000_000 + i * 10 + j`); prints `ACK <version> k=v,k=v…` per commit.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_CHILD") else { return };
    assert_eq!(role, "upserter");
    let path = std::env::var("FLOE_TABLE").unwrap();
    let proc_no: i64 = std::env::var("FLOE_PROC").unwrap().parse().unwrap();
    let table = Table::open_with(&path, TableOptions::default().durability(Durability::Relaxed)).unwrap();
    let mut rng = rand::rng();
    // Start together: wait for the parent's go file.
    let go = std::path::Path::new(&path).with_extension("go");
    while !go.exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    for i in 0..UPSERTS as i64 {
        // Even rounds: the next new key (one above the highest key >= 1000 read at the
        // transaction's base), which every process competes for; without serializable
        // validation two processes would both insert it. Odd rounds: 1-3 random keys of
        // a small space (mostly updates of existing keys).
        let hot = i % 2 == 0;
        let n = if hot { 0 } else { rng.random_range(1..=3) };
        let mut pairs: Vec<(i64, i64)> = Vec::new();
        while pairs.len() < n {
            let k = rng.random_range(0..KEYS);
            if !pairs.iter().any(|p| p.0 == k) {
                pairs.push((k, proc_no * 1_000_000 + i * 10 + pairs.len() as i64));
            }
        }
        let mut conflicts = 0;
        loop {
            table.refresh().unwrap();
            let mut tx = table.new_transaction();
            if hot {
                let next = next_hot_key(&table, tx.base_version());
                pairs = vec![(next, proc_no * 1_000_000 + i * 10 + 9)];
            }
            // FLOE_UPSERT_SNAPSHOT=1 weakens the isolation: the check below must then fail
            // (duplicate hot keys), which shows the test can fail.
            if std::env::var("FLOE_UPSERT_SNAPSHOT").is_ok() {
                tx.with_isolation(floe::Isolation::Snapshot).upsert(&["k"], &[kv(&pairs)]).unwrap();
            } else {
                tx.upsert(&["k"], &[kv(&pairs)]).unwrap();
            }
            match tx.commit() {
                Ok(report) => {
                    let body: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    println!("ACK {} {}", report.version, body.join(","));
                    break;
                }
                Err(e) if e.is_concurrent_modification() => {
                    conflicts += 1;
                    assert!(conflicts < 500, "livelock: {e}");
                    std::thread::sleep(std::time::Duration::from_millis(rng.random_range(1..20)));
                }
                Err(e) => panic!("upsert failed: {e}"),
            }
        }
        println!("CONFLICTS {conflicts}");
    }
}

/// One above the highest key >= 1000 at `version` (1000 if none).
fn next_hot_key(table: &Table, version: u64) -> i64 {
    let scan = table.scan().as_of_version(version).select(["k"]).filter(floe::expr::col("k").ge(1000));
    let mut max = 999;
    for b in scan.to_batches().unwrap() {
        for k in b.column(0).as_primitive::<Int64Type>().values() {
            max = max.max(*k);
        }
    }
    max + 1
}

fn tagged<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    line.find(tag).map(|i| &line[i + tag.len()..])
}

#[test]
fn eight_processes_upserting_equal_a_serial_execution() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let table = Table::create_with(&path, schema(), TableOptions::default().durability(Durability::Relaxed)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCS)
        .map(|p| {
            Command::new(&exe)
                .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
                .env("FLOE_CHILD", "upserter")
                .env("FLOE_TABLE", &path)
                .env("FLOE_PROC", p.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::fs::write(path.with_extension("go"), b"go").unwrap();
    let mut acks: Vec<(u64, Vec<(i64, i64)>)> = Vec::new();
    let mut conflicts = 0u64;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {:?}", out.status);
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            if let Some(rest) = tagged(line, "ACK ") {
                let (version, body) = rest.split_once(' ').unwrap();
                let pairs = body
                    .split(',')
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap();
                        (k.parse().unwrap(), v.parse().unwrap())
                    })
                    .collect();
                acks.push((version.parse().unwrap(), pairs));
            } else if let Some(n) = tagged(line, "CONFLICTS ") {
                conflicts += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    assert_eq!(acks.len(), PROCS * UPSERTS, "every upsert was acknowledged once");
    // Versions are the commit order: unique, one per acknowledged upsert.
    acks.sort_by_key(|(v, _)| *v);
    for w in acks.windows(2) {
        assert!(w[0].0 < w[1].0, "two upserts acknowledged version {}", w[0].0);
    }
    let mut serial: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, pairs) in &acks {
        for (k, v) in pairs {
            serial.insert(*k, *v);
        }
    }
    table.refresh().unwrap();
    let mut actual: Vec<(i64, i64)> = Vec::new();
    for b in table.scan().to_batches().unwrap() {
        let (k, v) = (b.column(0).as_primitive::<Int64Type>(), b.column(1).as_primitive::<Int64Type>());
        for i in 0..b.num_rows() {
            actual.push((k.value(i), v.value(i)));
        }
    }
    actual.sort();
    let expected: Vec<(i64, i64)> = serial.into_iter().collect();
    assert_eq!(actual, expected, "final table vs serial execution in commit order");
    eprintln!("{} upserts by {PROCS} processes, {conflicts} conflicts retried", acks.len());
}
