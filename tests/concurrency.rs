//! Concurrency model checks: threads and processes appending, scanning and refreshing at
//! once. Readers check that every scan sees one consistent snapshot (rows read ==
//! the snapshot summary's `total-records`, and the snapshot's own rows all present)
//! while writers commit; at the end nothing acknowledged is lost or duplicated.
//!
//! The process test re-executes this binary (`child_entry`): 16 writer processes and 2
//! reader processes, plus 2 reader threads. The suite runs 16 × 20 durable appends to
//! keep its time small on 2 cores; `FLOE_CONC_APPENDS=50` runs the 16 × 50 of the
//! reliability issue (`FLOE_CONC_PROCS` changes the 16).

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arrow_array::{Array, Int64Array};
use common::{batch, ids, schema};
use floe::{Durability, Table, TableOptions};

/// One consistent read: the rows of the snapshot the scan planned equal its summary's
/// total-records, no id twice. Returns (rows, snapshot version marker).
fn consistent_read(t: &Table) -> (i64, Option<i64>) {
    let iter = t.scan().select(["id"]).to_iter().unwrap();
    let snap = iter.plan().snapshot.clone();
    let mut seen = HashSet::new();
    let mut rows = 0i64;
    for b in iter {
        let b = b.unwrap();
        let col = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..col.len() {
            assert!(seen.insert(col.value(i)), "id {} read twice in one scan", col.value(i));
        }
        rows += b.num_rows() as i64;
    }
    let expected = snap.as_ref().and_then(|s| s.summary_i64("total-records")).unwrap_or(0);
    assert_eq!(rows, expected, "scan of snapshot {:?} is not consistent", snap.as_ref().map(|s| s.snapshot_id));
    (rows, snap.map(|s| s.sequence_number))
}

/// Child side: `writer` appends FLOE_CONC_APPENDS single-row batches and prints
/// `ACK <commit-id> <id>`; `reader` refreshes and scans until the stop file exists and
/// prints `READS <n>`.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_CONC_CHILD") else { return };
    let path = std::env::var("FLOE_TABLE").unwrap();
    let table = Table::open_with(&path, TableOptions::default().durability(Durability::Durable)).unwrap();
    match role.as_str() {
        "writer" => {
            let proc_no: i64 = std::env::var("FLOE_PROC").unwrap().parse().unwrap();
            let appends: i64 = std::env::var("FLOE_CONC_APPENDS").unwrap().parse().unwrap();
            for i in 0..appends {
                let id = proc_no * 100_000 + i;
                match table.append(&[batch(id, 1)]) {
                    Ok(r) => println!("ACK {} {id}", r.commit_id),
                    Err(e) => println!("FAIL {e}"),
                }
            }
        }
        "reader" => {
            let stop = std::path::PathBuf::from(std::env::var("FLOE_STOP").unwrap());
            let (mut reads, mut last) = (0u64, (0i64, None));
            while !stop.exists() {
                table.refresh().unwrap();
                let r = consistent_read(&table);
                // Refresh never goes back in time.
                assert!(r.1 >= last.1 && r.0 >= last.0, "reader went back from {last:?} to {r:?}");
                last = r;
                reads += 1;
            }
            println!("READS {reads}");
        }
        other => panic!("unknown role {other}"),
    }
}

fn tagged<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    line.find(tag).map(|i| &line[i + tag.len()..])
}

#[test]
fn sixteen_writer_processes_with_readers_lose_nothing() {
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (procs, appends) = (env("FLOE_CONC_PROCS", 16), env("FLOE_CONC_APPENDS", 20));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), TableOptions::default().property("floe.commit.retain-snapshots", "0")).unwrap();
    let stop = dir.path().join("stop");
    let exe = std::env::current_exe().unwrap();
    let child = |role: &str, p: usize| {
        Command::new(&exe)
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env("FLOE_CONC_CHILD", role)
            .env("FLOE_TABLE", &path)
            .env("FLOE_PROC", p.to_string())
            .env("FLOE_CONC_APPENDS", appends.to_string())
            .env("FLOE_STOP", &stop)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let readers: Vec<_> = (0..2).map(|p| child("reader", p)).collect();
    let writers: Vec<_> = (0..procs).map(|p| child("writer", p)).collect();
    // Threads of this process read at the same time.
    let done = Arc::new(AtomicBool::new(false));
    let thread_reads = Arc::new(AtomicU64::new(0));
    let thread_readers: Vec<_> = (0..2)
        .map(|_| {
            let (done, n, path) = (done.clone(), thread_reads.clone(), path.clone());
            std::thread::spawn(move || {
                let t = Table::open(&path).unwrap();
                while !done.load(Ordering::SeqCst) {
                    t.refresh().unwrap();
                    consistent_read(&t);
                    n.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut lines = Vec::new();
    for w in writers {
        let out = w.wait_with_output().unwrap();
        assert!(out.status.success(), "writer failed: {:?}", out.status);
        lines.extend(String::from_utf8(out.stdout).unwrap().lines().map(str::to_string));
    }
    std::fs::write(&stop, b"").unwrap();
    done.store(true, Ordering::SeqCst);
    for t in thread_readers {
        t.join().unwrap();
    }
    let mut process_reads = 0u64;
    for r in readers {
        let out = r.wait_with_output().unwrap();
        assert!(out.status.success(), "reader failed: {:?}", out.status);
        for l in String::from_utf8(out.stdout).unwrap().lines() {
            if let Some(n) = tagged(l, "READS ") {
                process_reads += n.trim().parse::<u64>().unwrap();
            }
        }
    }
    let failures: Vec<&str> = lines.iter().filter_map(|l| tagged(l, "FAIL ")).collect();
    assert!(failures.is_empty(), "failed appends: {failures:?}");
    let acked: Vec<(String, i64)> = lines
        .iter()
        .filter_map(|l| tagged(l, "ACK "))
        .map(|l| {
            let (c, id) = l.split_once(' ').unwrap();
            (c.to_string(), id.trim().parse().unwrap())
        })
        .collect();
    assert_eq!(acked.len(), procs * appends);
    let table = Table::open(&path).unwrap();
    assert_eq!(table.version() as usize, 1 + procs * appends, "one version per commit");
    let commits: HashSet<String> = table.snapshots().iter().filter_map(|s| s.commit_id().map(String::from)).collect();
    let lost = acked.iter().filter(|(c, _)| !commits.contains(c)).count();
    assert_eq!(lost, 0, "lost commits");
    let mut expected: Vec<i64> = acked.iter().map(|a| a.1).collect();
    expected.sort();
    assert_eq!(ids(&table), expected, "rows lost or duplicated");
    consistent_read(&table);
    eprintln!(
        "{procs} processes x {appends} appends: 0 failures, 0 lost; {process_reads} consistent scans by 2 reader \
         processes, {} by 2 reader threads",
        thread_reads.load(Ordering::Relaxed)
    );
}

#[test]
fn threads_sharing_one_handle_append_scan_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let opts = TableOptions::default().durability(Durability::Relaxed).property("floe.commit.retain-snapshots", "0");
    let table = Table::create_with(&path, schema(), opts).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..3)
        .map(|i| {
            // One reader shares the writers' handle; two have their own.
            let t = if i == 0 { table.clone() } else { Table::open(&path).unwrap() };
            let (done, reads) = (done.clone(), reads.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    t.refresh().unwrap();
                    consistent_read(&t);
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..4i64)
        .map(|w| {
            let t = table.clone();
            std::thread::spawn(move || {
                (0..25i64).map(|i| t.append(&[batch(w * 1000 + 2 * i, 2)]).unwrap().commit_id).collect::<Vec<_>>()
            })
        })
        .collect();
    let acked: Vec<String> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    done.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    let fresh = Table::open(&path).unwrap();
    let commits: HashSet<String> = fresh.snapshots().iter().filter_map(|s| s.commit_id().map(String::from)).collect();
    assert!(acked.iter().all(|c| commits.contains(c)));
    assert_eq!(ids(&fresh).len(), 4 * 25 * 2);
    assert_eq!(fresh.version(), 1 + 100);
    assert!(reads.load(Ordering::Relaxed) > 0);
}
