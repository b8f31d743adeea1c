//! Real OS processes committing to one table at once. The test binary re-executes
//! itself: `child_entry` does the child's work when `FLOE_CHILD` is set and nothing
//! otherwise.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};

use common::{batch, ids, schema};
use floe::{Durability, Table, TableOptions};

const PROCS: usize = 8;
const APPENDS: usize = 50;
/// Compare-and-commit attempts per process.
const CAS_TRIES: usize = 20;

/// Child side. `writer`: append APPENDS single-row batches with ids `proc*10_000 + i`,
/// printing `ACK <version> <commit-id> <id>` for every commit that returned Ok. `cas`:
/// CAS_TRIES compare-and-commits, each reported as `CAS ok <base> <version> <attempts>
/// <rebased-over> <commit-id> <id>` or `CAS conflict <base> <error's base> <error's
/// attempted version>`.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_CHILD") else { return };
    let path = std::env::var("FLOE_TABLE").unwrap();
    let proc_no: i64 = std::env::var("FLOE_PROC").unwrap().parse().unwrap();
    let table = Table::open_with(&path, TableOptions::default().durability(Durability::Durable)).unwrap();
    match role.as_str() {
        "writer" => {
            for i in 0..APPENDS as i64 {
                let id = proc_no * 10_000 + i;
                let report = table.append(&[batch(id, 1)]).unwrap();
                println!("ACK {} {} {}", report.version, report.commit_id, id);
            }
            let s = table.commit_stats();
            println!("STATS {} {} {}", s.commits, s.conflicts, s.retries_succeeded);
        }
        "cas" => {
            // Compare-and-commit: every outcome is reported with the version the
            // transaction was based on, so the parent can check that a success landed
            // right after its base (never rebased) and a refusal was a lost race.
            wait_for_start(&path);
            for i in 0..CAS_TRIES as i64 {
                table.refresh().unwrap();
                let mut tx = table.new_transaction();
                let base = tx.base_version();
                tx.append(&batch(proc_no * 10_000 + i, 1)).unwrap();
                match tx.commit_if_current() {
                    Ok(r) => println!(
                        "CAS ok {base} {} {} {} {} {}",
                        r.version,
                        r.attempts,
                        r.rebased_over,
                        r.commit_id,
                        proc_no * 10_000 + i
                    ),
                    Err(floe::Error::ConcurrentModification { base_version, attempted_version, .. }) => {
                        println!("CAS conflict {base} {base_version} {attempted_version}")
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        other => panic!("unknown role {other}"),
    }
}

/// The text after `tag` on a child's output line. libtest prints "test child_entry ... "
/// without a newline before the test runs, so a tag may not start the line.
fn tagged<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    line.find(tag).map(|i| &line[i + tag.len()..])
}

/// The file a child waits for before it starts (so the children really overlap).
fn start_flag(table: &str) -> std::path::PathBuf {
    std::path::Path::new(table).with_extension("go")
}

fn wait_for_start(table: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !start_flag(table).exists() {
        assert!(std::time::Instant::now() < deadline, "never told to start");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

fn spawn(role: &str, table: &std::path::Path, procs: usize) -> Vec<String> {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..procs)
        .map(|p| {
            Command::new(&exe)
                .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
                .env("FLOE_CHILD", role)
                .env("FLOE_TABLE", table)
                .env("FLOE_PROC", p.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap()
        })
        .collect();
    // Every child is running (or about to): let them go at once.
    std::fs::write(start_flag(table.to_str().unwrap()), b"").unwrap();
    let mut lines = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {:?}", out.status);
        lines.extend(String::from_utf8(out.stdout).unwrap().lines().map(str::to_string));
    }
    lines
}

#[test]
fn eight_processes_fifty_appends_each_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    // Keep every version and snapshot so the whole lineage can be checked.
    let opts = TableOptions::default()
        .property("write.metadata.previous-versions-max", "10000")
        .property("floe.commit.retain-snapshots", "0");
    Table::create_with(&path, schema(), opts).unwrap();
    let lines = spawn("writer", &path, PROCS);

    let acks: Vec<(u64, String, i64)> = lines
        .iter()
        .filter_map(|l| tagged(l, "ACK "))
        .map(|l| {
            let mut it = l.split(' ');
            (it.next().unwrap().parse().unwrap(), it.next().unwrap().to_string(), it.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(acks.len(), PROCS * APPENDS);

    let table = Table::open(&path).unwrap();
    // Versions are contiguous: v1..v401, every commit owns exactly one.
    assert_eq!(table.version(), 1 + (PROCS * APPENDS) as u64);
    let mut versions: Vec<u64> = acks.iter().map(|a| a.0).collect();
    versions.sort();
    versions.dedup();
    assert_eq!(versions, (2..=1 + (PROCS * APPENDS) as u64).collect::<Vec<_>>());
    for v in 1..=table.version() {
        assert!(path.join(format!("metadata/v{v}.metadata.json")).exists(), "v{v} missing");
    }
    // Every acknowledged commit is present exactly once, at the version it reported.
    let by_commit: HashMap<String, i64> =
        table.snapshots().iter().filter_map(|s| s.commit_id().map(|c| (c.to_string(), s.snapshot_id))).collect();
    if by_commit.len() != PROCS * APPENDS {
        for (v, commit, _) in &acks {
            if !by_commit.contains_key(commit) {
                let md = table.metadata_at_version(*v).unwrap();
                let next = table.metadata_at_version(*v + 1).unwrap();
                eprintln!(
                    "missing v{v}: snap {:?} parent {:?}; v{} snap {:?} parent {:?} n_snaps {} vs {}",
                    md.current_snapshot_id(),
                    md.current_snapshot().unwrap().parent_snapshot_id,
                    v + 1,
                    next.current_snapshot_id(),
                    next.current_snapshot().unwrap().parent_snapshot_id,
                    md.snapshots().len(),
                    next.snapshots().len()
                );
            }
        }
    }
    assert_eq!(by_commit.len(), PROCS * APPENDS);
    for (v, commit, _) in &acks {
        assert!(by_commit.contains_key(commit), "acknowledged commit {commit} missing");
        let md = table.metadata_at_version(*v).unwrap();
        assert_eq!(md.current_snapshot().unwrap().commit_id(), Some(commit.as_str()), "v{v}");
    }
    // The snapshot chain is linear: each snapshot's parent is the previous one.
    let snaps = table.snapshots();
    for w in snaps.windows(2) {
        assert_eq!(w[1].parent_snapshot_id, Some(w[0].snapshot_id));
        assert_eq!(w[1].sequence_number, w[0].sequence_number + 1);
    }
    // No row lost, none duplicated.
    let mut expected: Vec<i64> = acks.iter().map(|a| a.2).collect();
    expected.sort();
    assert_eq!(ids(&table), expected);

    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for l in lines.iter().filter_map(|l| tagged(l, "STATS ")) {
        let v: Vec<u64> = l.split(' ').map(|x| x.parse().unwrap()).collect();
        *totals.entry("commits").or_default() += v[0];
        *totals.entry("lost races").or_default() += v[1];
    }
    assert_eq!(totals["commits"], (PROCS * APPENDS) as u64);
    eprintln!("8x50: {totals:?}");
}

#[test]
fn compare_and_commit_across_processes_never_rebases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), TableOptions::default().property("floe.commit.retain-snapshots", "0")).unwrap();
    let lines = spawn("cas", &path, 4);
    let mut committed: Vec<(u64, String, i64)> = Vec::new();
    let mut conflicts = 0usize;
    for l in lines.iter().filter_map(|l| tagged(l, "CAS ")) {
        let f: Vec<&str> = l.split(' ').collect();
        let num = |i: usize| -> u64 { f[i].parse().unwrap() };
        match f[0] {
            "ok" => {
                let (base, version, attempts, rebased_over) = (num(1), num(2), num(3), num(4));
                // A compare-and-commit lands exactly on top of the version it read, in
                // one attempt, or not at all.
                assert_eq!(version, base + 1, "committed v{version} on base v{base}: it was rebased ({l})");
                assert_eq!(attempts, 1, "{l}");
                assert_eq!(rebased_over, 0, "{l}");
                committed.push((version, f[5].to_string(), f[6].parse().unwrap()));
            }
            "conflict" => {
                let (base, reported_base, attempted) = (num(1), num(2), num(3));
                assert_eq!(reported_base, base, "{l}");
                assert_eq!(attempted, base + 1, "a refused compare-and-commit only tried v{}: {l}", base + 1);
                conflicts += 1;
            }
            other => panic!("unexpected child line {other:?}: {l}"),
        }
    }
    assert_eq!(committed.len() + conflicts, 4 * CAS_TRIES);
    assert!(conflicts > 0, "the processes never raced: the test proved nothing");
    let table = Table::open(&path).unwrap();
    // Exactly the successful ones landed, each owning its version.
    assert_eq!(table.version() as usize, 1 + committed.len());
    let mut versions: Vec<u64> = committed.iter().map(|c| c.0).collect();
    versions.sort();
    assert_eq!(versions, (2..=table.version()).collect::<Vec<_>>());
    for (v, commit, _) in &committed {
        let md = table.metadata_at_version(*v).unwrap();
        assert_eq!(md.current_snapshot().unwrap().commit_id(), Some(commit.as_str()), "v{v}");
    }
    let mut expected: Vec<i64> = committed.iter().map(|c| c.2).collect();
    expected.sort();
    assert_eq!(ids(&table), expected);
    eprintln!("compare-and-commit: {} committed, {conflicts} refused", committed.len());
}

// SIGKILL crash cycles live in tests/crash.rs.
