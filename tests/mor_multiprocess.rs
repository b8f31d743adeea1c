//! Merge-on-read under real concurrency: two processes append, two delete rows with
//! merge-on-read (position delete files) and one compacts (applying and dropping delete
//! files), all at once on one table. Afterwards the table holds exactly the initial rows
//! plus every acknowledged append, minus every acknowledged delete: nothing lost, no
//! deleted row resurrected (by a compaction that rewrote a file whose deletes landed
//! meanwhile, or by deletes aimed at a file compaction had just replaced), each row once.
//!
//! The test binary re-executes itself: `child_entry` does a child's work when
//! `FLOE_CHILD` is set and nothing otherwise.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use floe::expr::col;
use floe::{CompactOptions, Durability, RetryPolicy, Table, TableOptions};
use rand::Rng;

use common::{batch, ids, schema};

const INITIAL_FILES: i64 = 10;
const ROWS_PER_FILE: i64 = 20;
const APPENDS: i64 = 12;
const DELETES: usize = 10;

fn options() -> TableOptions {
    TableOptions::default()
        .durability(Durability::Relaxed)
        .retry(RetryPolicy::default().with_max_attempts(1000).with_total_budget(Duration::from_secs(120)))
}

#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_CHILD") else { return };
    let path = std::env::var("FLOE_TABLE").unwrap();
    let proc_no: i64 = std::env::var("FLOE_PROC").unwrap().parse().unwrap();
    let table = Table::open_with(&path, options()).unwrap();
    let go = std::path::Path::new(&path).with_extension("go");
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut rng = rand::rng();
    match role.as_str() {
        "appender" => {
            for i in 0..APPENDS {
                let id = 1_000_000 * (proc_no + 1) + i;
                table.append(&[batch(id, 1)]).unwrap();
                println!("ACK {id}");
            }
        }
        "deleter" => {
            // Ids of the initial rows with this deleter's parity: disjoint between
            // deleters, so an acknowledged delete is this process's alone.
            let mut mine: Vec<i64> = (0..INITIAL_FILES * ROWS_PER_FILE).filter(|i| i % 2 == proc_no % 2).collect();
            for _ in 0..DELETES {
                let a = mine.swap_remove(rng.random_range(0..mine.len()));
                let b = mine.swap_remove(rng.random_range(0..mine.len()));
                table.delete(col("id").eq(a).or(col("id").eq(b))).unwrap();
                println!("DEL {a}");
                println!("DEL {b}");
            }
        }
        "compactor" => {
            for _ in 0..6 {
                // Small bins and commits: most groups do not meet a concurrent delete.
                let opts = CompactOptions::default().target_file_size(4000).max_commit_bytes(4000);
                let r = table.compact(&opts).unwrap();
                println!("COMPACT {} {} {}", r.data_files_removed, r.delete_files_removed, r.skipped.len());
                std::thread::sleep(Duration::from_millis(rng.random_range(20..120)));
            }
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn appends_merge_on_read_deletes_and_compaction_from_several_processes() {
    if std::env::var("FLOE_CHILD").is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let table = Table::create_with(&path, schema(), options().property("write.delete.mode", "merge-on-read")).unwrap();
    for k in 0..INITIAL_FILES {
        table.append(&[batch(k * ROWS_PER_FILE, ROWS_PER_FILE as usize)]).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let roles = [("appender", 0), ("appender", 1), ("deleter", 0), ("deleter", 1), ("compactor", 0)];
    let children: Vec<_> = roles
        .iter()
        .map(|(role, p)| {
            Command::new(&exe)
                .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
                .env("FLOE_CHILD", role)
                .env("FLOE_TABLE", &path)
                .env("FLOE_PROC", p.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    std::fs::write(path.with_extension("go"), b"").unwrap();
    let mut want: BTreeMap<i64, usize> = (0..INITIAL_FILES * ROWS_PER_FILE).map(|i| (i, 1)).collect();
    let mut deleted = Vec::new();
    let mut compactions = 0;
    for (child, (role, _)) in children.into_iter().zip(roles) {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{role} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        for line in stdout.lines() {
            // The harness prints "test child_entry ... " before the first line.
            let start = ["ACK ", "DEL ", "COMPACT "].iter().filter_map(|m| line.find(m)).min().unwrap_or(0);
            let mut w = line[start..].split_whitespace();
            match (w.next(), w.next().and_then(|v| v.parse::<i64>().ok())) {
                (Some("ACK"), Some(id)) => *want.entry(id).or_default() += 1,
                (Some("DEL"), Some(id)) => {
                    assert_eq!(want.remove(&id), Some(1), "{id} deleted twice or never there");
                    deleted.push(id);
                }
                (Some("COMPACT"), Some(_)) => {
                    compactions += 1;
                    eprintln!("{}", &line[start..]);
                }
                _ => {}
            }
        }
    }
    assert_eq!(deleted.len(), 2 * 2 * DELETES);
    assert_eq!(compactions, 6);
    let check = |table: &Table, when: &str| {
        table.refresh().unwrap();
        let mut got: BTreeMap<i64, usize> = BTreeMap::new();
        for id in ids(table) {
            *got.entry(id).or_default() += 1;
        }
        let resurrected: Vec<i64> = deleted.iter().copied().filter(|d| got.contains_key(d)).collect();
        assert!(resurrected.is_empty(), "{when}: deleted rows came back: {resurrected:?}");
        assert_eq!(got, want, "{when}: every acknowledged row exactly once");
        assert_eq!(table.scan().count().unwrap(), want.len() as i64, "{when}");
    };
    check(&table, "after the race");
    assert!(table.verify_deep().unwrap().is_ok());
    // A last compaction applies every delete that is left.
    table.compact(&CompactOptions::default()).unwrap();
    check(&table, "after a final compaction");
    assert!(!table.scan().plan().unwrap().has_deletes());
}
