//! SIGKILL crash cycles with real processes (sled style).
//!
//! Every cycle starts 8 writer processes (this test binary re-executed: `child_entry`)
//! appending uniquely keyed batches to one durable table. Each writer appends a line
//! `ACK <version> <commit-id> <first-id> <rows>` to its own append-only log (one
//! `write(2)` on an `O_APPEND` file) for every commit that returned `Ok`, before going
//! on. Some writers are given a crash point inside the commit path
//! (`FLOE_CRASH_POINT=<phase>:<n>`, see `src/crashpoint.rs`: they abort the n-th time
//! they reach that phase, e.g. right after linking `v<N>.metadata.json` and before the
//! directory fsync); the parent SIGKILLs a random subset at random moments and the rest
//! at the end of the cycle. Then it checks every invariant:
//!
//! 1. the table opens;
//! 2. the version files are exactly `v1..=vN` (contiguous) and the table is at `vN`;
//! 3. every acknowledged commit is in the table exactly once, at the version it reported;
//! 4. every row of every acknowledged commit is present, and no row is present twice;
//!    a commit reported failed (other than "outcome unknown") is absent;
//! 5. every file referenced by metadata (manifest lists, manifests, data files) exists
//!    with its recorded size, and the scan's row count equals the snapshot's
//!    `total-records`;
//! 6. a new append succeeds (and is itself checked by the next cycle).
//!
//! In about half the cycles a ninth process runs maintenance in a loop while the
//! writers append: compaction (a `replace` commit through the same commit path, with
//! its own crash point sometimes) and orphan cleanup with a 4 s grace period (the table's
//! `floe.transaction.max-age-ms` is 2 s, so an in-flight transaction's files are never
//! old enough to be removed). It is killed like the writers. The invariants above must
//! hold with it: compaction keeps every row once, and orphan cleanup removes only files
//! no snapshot references (orphans of killed writers, once old enough). After each
//! table's last cycle the parent runs `remove_orphans` itself (every process is dead)
//! and checks that no orphan is left and every invariant still holds.
//!
//! `FLOE_CRASH_CYCLES` sets the number of cycles (default 50); the table is recreated
//! every 25 cycles so the check stays proportional to one table's history.
//! The final line printed (`--nocapture`) has the counts.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{batch, ids, schema};
use floe::{CompactOptions, Durability, Error, OrphanOptions, Table, TableOptions};

const WRITERS: usize = 8;
const CYCLES_PER_TABLE: usize = 25;
/// Orphan cleanup's grace in the maintenance process; the table's transaction max age
/// is half of it.
const ORPHAN_GRACE: Duration = Duration::from_secs(4);
const PHASES: [&str; 7] = ["staged", "prestaged", "attempt-written", "linked", "synced", "committed", "any"];

/// Child side: appends until killed, logging every acknowledged commit.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_CRASH_CHILD") else { return };
    if role == "maint" {
        return maintenance_child();
    }
    if role == "once" {
        return once_child();
    }
    assert_eq!(role, "writer");
    let path = std::env::var("FLOE_TABLE").unwrap();
    let base: i64 = std::env::var("FLOE_ID_BASE").unwrap().parse().unwrap();
    let log_path = std::env::var("FLOE_ACK_LOG").unwrap();
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
    let table = Table::open_with(&path, TableOptions::default().durability(Durability::Durable)).unwrap();
    for i in 0i64.. {
        let rows = 1 + (i % 3) as usize;
        let first = base + i * 10;
        let mut tx = table.new_transaction();
        let commit_id = tx.commit_id();
        let res = tx.append(&batch(first, rows)).and_then(|()| tx.commit());
        // One write(2) per line, before the next commit starts.
        let line = match res {
            Ok(r) => format!("ACK {} {} {first} {rows}\n", r.version, r.commit_id),
            Err(Error::CommitStateUnknown { .. }) => format!("UNKNOWN {commit_id}\n"),
            Err(e) => format!("FAIL {commit_id} {}\n", e.to_string().replace('\n', " ")),
        };
        log.write_all(line.as_bytes()).unwrap();
    }
}

/// Child side: one append of `FLOE_ID_BASE`, `FLOE_ID_BASE + 1`, then exits, logging
/// `ACK <version> <commit-id>` or `ERR <commit-id> <error>` (or dying at its crash point,
/// or stopping there with `…:stop`).
fn once_child() {
    let path = std::env::var("FLOE_TABLE").unwrap();
    let base: i64 = std::env::var("FLOE_ID_BASE").unwrap().parse().unwrap();
    let log_path = std::env::var("FLOE_ACK_LOG").unwrap();
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
    let mut options = TableOptions::default().durability(Durability::Relaxed);
    // Its table is shared with a parent that commits while this child is stopped.
    options.advisory_lock = false;
    let table = Table::open_with(&path, options).unwrap();
    let mut tx = table.new_transaction();
    let commit_id = tx.commit_id();
    let line = match tx.append(&batch(base, 2)).and_then(|()| tx.commit()) {
        Ok(r) => format!("ACK {} {}\n", r.version, r.commit_id),
        Err(e) => format!("ERR {commit_id} {}\n", format!("{e:?}").replace('\n', " ")),
    };
    log.write_all(line.as_bytes()).unwrap();
}

/// Child side: compaction or orphan cleanup (`FLOE_ID_BASE` 1 or 0: one task per
/// process, so each gets whole cycles) in a loop until killed, logging what each pass
/// committed and deleted.
fn maintenance_child() {
    let compact = std::env::var("FLOE_ID_BASE").is_ok_and(|v| v == "1");
    let path = std::env::var("FLOE_TABLE").unwrap();
    let log_path = std::env::var("FLOE_ACK_LOG").unwrap();
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
    let table = Table::open_with(&path, TableOptions::default().durability(Durability::Durable)).unwrap();
    let orphans = OrphanOptions::default().older_than(ORPHAN_GRACE).allow_short_grace(true);
    loop {
        let line = if compact {
            match table.compact(&CompactOptions::default()) {
                Ok(r) => format!("MAINT compact {} {}\n", r.versions().len(), r.data_files_removed),
                Err(e) => format!("MAINTFAIL compact {}\n", e.to_string().replace('\n', " ")),
            }
        } else {
            match table.remove_orphans(&orphans) {
                Ok(r) => format!(
                    "MAINT orphans 0 {}\n",
                    r.data_files_removed + r.metadata_files_removed + r.other_files_removed
                ),
                Err(e) => format!("MAINTFAIL orphans {}\n", e.to_string().replace('\n', " ")),
            }
        };
        log.write_all(line.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Ack {
    version: u64,
    commit_id: String,
    first: i64,
    rows: i64,
}

#[derive(Default)]
struct Totals {
    cycles: usize,
    acked_commits: usize,
    acked_rows: i64,
    failed: usize,
    unknown: usize,
    crash_points: usize,
    /// Writers that died at their crash point (SIGABRT) rather than by SIGKILL.
    crashed_in_commit: usize,
    sigkills: usize,
    orphans: usize,
    max_versions: u64,
    maintenance_processes: usize,
    compactions: usize,
    compaction_commits: usize,
    files_compacted: usize,
    orphans_removed: usize,
    maintenance_errors: usize,
    orphans_cleaned: usize,
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn spawn_writer(table: &Path, log: &Path, id_base: i64, crash_point: Option<String>) -> Child {
    spawn_child("writer", table, log, id_base, crash_point)
}

fn spawn_child(role: &str, table: &Path, log: &Path, id_base: i64, crash_point: Option<String>) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("FLOE_CRASH_CHILD", role)
        .env("FLOE_TABLE", table)
        .env("FLOE_ACK_LOG", log)
        .env("FLOE_ID_BASE", id_base.to_string())
        .env_remove("FLOE_CRASH_POINT")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(p) = crash_point {
        cmd.env("FLOE_CRASH_POINT", p);
    }
    cmd.spawn().unwrap()
}

/// SIGKILLs a writer (unless it already died at its crash point) and counts how it died.
fn reap(c: &mut Child, totals: &mut Totals) {
    use std::os::unix::process::ExitStatusExt;
    let _ = c.kill();
    match c.wait().ok().and_then(|s| s.signal()) {
        Some(6) => totals.crashed_in_commit += 1,
        Some(9) => totals.sigkills += 1,
        other => panic!("writer ended with {other:?} (it appends until killed)"),
    }
}

fn parse_log(path: &Path, acks: &mut Vec<Ack>, failed: &mut HashSet<String>, totals: &mut Totals) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "ACK" if f.len() == 5 => acks.push(Ack {
                version: f[1].parse().unwrap(),
                commit_id: f[2].to_string(),
                first: f[3].parse().unwrap(),
                rows: f[4].parse().unwrap(),
            }),
            "FAIL" => {
                totals.failed += 1;
                failed.insert(f[1].to_string());
            }
            "UNKNOWN" => totals.unknown += 1,
            "MAINT" if f.len() == 4 => {
                let (commits, files): (usize, usize) = (f[2].parse().unwrap_or(0), f[3].parse().unwrap_or(0));
                if f[1] == "compact" {
                    totals.compactions += 1;
                    totals.compaction_commits += commits;
                    totals.files_compacted += files;
                } else {
                    totals.orphans_removed += files;
                }
            }
            "MAINTFAIL" => totals.maintenance_errors += 1,
            // A line torn by the kill: the process died inside write(2), before the
            // commit was acknowledged to anyone.
            _ => {}
        }
    }
}

/// Checks every invariant after a cycle; returns the number of orphan files.
fn check(path: &Path, acks: &[Ack], failed: &HashSet<String>, cycle: usize) -> (usize, u64) {
    let what = format!("cycle {cycle}");
    let table = Table::open(path).unwrap_or_else(|e| panic!("{what}: table does not open: {e}"));
    // Contiguous versions.
    let mut versions: Vec<u64> = std::fs::read_dir(path.join("metadata"))
        .unwrap()
        .filter_map(|e| floe::testing::parse_version_file(&e.unwrap().file_name().to_string_lossy()))
        .collect();
    versions.sort();
    assert_eq!(versions, (1..=table.version()).collect::<Vec<_>>(), "{what}: versions not contiguous");

    // Every acknowledged commit exactly once, at the version it reported.
    let snaps = table.snapshots();
    let mut by_commit: HashMap<&str, usize> = HashMap::new();
    for s in &snaps {
        if let Some(c) = s.commit_id() {
            *by_commit.entry(c).or_default() += 1;
        }
    }
    for a in acks {
        assert_eq!(
            by_commit.get(a.commit_id.as_str()),
            Some(&1),
            "{what}: acked commit {} not present once",
            a.commit_id
        );
        let md = table.metadata_at_version(a.version).unwrap();
        assert_eq!(md.current_snapshot().unwrap().commit_id(), Some(a.commit_id.as_str()), "{what}: v{}", a.version);
    }
    for c in failed {
        assert!(!by_commit.contains_key(c.as_str()), "{what}: commit {c} reported failed but present");
    }
    // Rows: acknowledged ones present, none twice, count matches the snapshot summary.
    let present = ids(&table);
    let unique: HashSet<i64> = present.iter().copied().collect();
    assert_eq!(unique.len(), present.len(), "{what}: a row is present twice");
    for a in acks {
        for id in a.first..a.first + a.rows {
            assert!(unique.contains(&id), "{what}: row {id} of acked commit {} missing", a.commit_id);
        }
    }
    if let Some(s) = table.current_snapshot() {
        assert_eq!(s.summary_i64("total-records"), Some(present.len() as i64), "{what}: total-records");
    }
    // Every referenced file exists and is complete.
    let mut live = HashSet::new();
    for s in &snaps {
        let list = table.resolve_path(&s.manifest_list).unwrap();
        assert!(list.exists(), "{what}: manifest list {list:?} missing");
        live.insert(list);
        for m in table.manifests(s).unwrap() {
            let p = table.resolve_path(&m.manifest_path).unwrap();
            let len = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{what}: {p:?}: {e}")).len();
            assert_eq!(len as i64, m.manifest_length, "{what}: manifest {p:?} incomplete");
            if live.insert(p.clone()) {
                // Data files an older snapshot still lists (compaction removed them from
                // the current one) are referenced, not orphans.
                let bytes = std::fs::read(&p).unwrap();
                for e in floe::testing::read_manifest(&p, &bytes, Some(&m)).unwrap().entries {
                    if e.status != floe::spec::EntryStatus::Deleted {
                        live.insert(table.resolve_path(&e.data_file.file_path).unwrap());
                    }
                }
            }
        }
    }
    for f in table.scan().plan().unwrap().files {
        let p = table.resolve_path(&f.file_path).unwrap();
        let len = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{what}: {p:?}: {e}")).len();
        assert_eq!(len as i64, f.file_size_in_bytes, "{what}: data file {p:?} incomplete");
        live.insert(p);
    }
    // Orphans of killed writers: never referenced (checked above), counted.
    let mut orphans = 0;
    for dir in ["data", "metadata"] {
        for e in std::fs::read_dir(path.join(dir)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let is_candidate = name.ends_with(".parquet") || name.ends_with(".avro") || name.ends_with(".tmp");
            if is_candidate && !live.contains(&e.path()) {
                if std::env::var_os("FLOE_CRASH_SHOW_ORPHANS").is_some() {
                    eprintln!("{what}: orphan {dir}/{name}");
                }
                orphans += 1;
            }
        }
    }
    (orphans, table.version())
}

#[test]
fn sigkilled_writers_never_lose_an_acknowledged_commit() {
    let cycles: usize = std::env::var("FLOE_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let seed = std::env::var("FLOE_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15);
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut path = PathBuf::new();
    let mut acks: Vec<Ack> = Vec::new();
    let mut failed: HashSet<String> = HashSet::new();
    let mut sentinel = -1i64;
    for cycle in 0..cycles {
        if cycle % CYCLES_PER_TABLE == 0 {
            path = dir.path().join(format!("t{}", cycle / CYCLES_PER_TABLE));
            let opts = TableOptions::default()
                .property("floe.transaction.max-age-ms", (ORPHAN_GRACE.as_millis() / 2).to_string())
                .property("write.metadata.previous-versions-max", "100000")
                .property("floe.commit.retain-snapshots", "0");
            Table::create_with(&path, schema(), opts).unwrap();
            acks.clear();
            failed.clear();
        }
        let logs: Vec<PathBuf> = (0..WRITERS).map(|p| dir.path().join(format!("ack-{cycle}-{p}.log"))).collect();
        let mut children: Vec<Option<Child>> = (0..WRITERS)
            .map(|p| {
                let crash = if rng.below(2) == 0 {
                    totals.crash_points += 1;
                    let phase = PHASES[rng.below(PHASES.len() as u64) as usize];
                    let n = if phase == "any" { 1 + rng.below(30) } else { 1 + rng.below(4) };
                    Some(format!("{phase}:{n}"))
                } else {
                    None
                };
                let id_base = (cycle as i64 + 1) * 10_000_000 + p as i64 * 1_000_000;
                Some(spawn_writer(&path, &logs[p], id_base, crash))
            })
            .collect();
        let mut logs = logs;
        if rng.below(2) == 0 {
            let log = dir.path().join(format!("maint-{cycle}.log"));
            let crash = (rng.below(3) == 0).then(|| {
                totals.crash_points += 1;
                let phase = PHASES[rng.below(PHASES.len() as u64 - 1) as usize];
                format!("{phase}:{}", 1 + rng.below(3))
            });
            let task = rng.below(2) as i64;
            children.push(Some(spawn_child("maint", &path, &log, task, crash)));
            logs.push(log);
            totals.maintenance_processes += 1;
        }
        // SIGKILL a random subset at random moments, then the rest.
        let end = Instant::now() + Duration::from_millis(150 + rng.below(400));
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10 + rng.below(60)));
            let p = rng.below(children.len() as u64 * 3) as usize;
            if let Some(Some(c)) = children.get_mut(p) {
                reap(c, &mut totals);
                children[p] = None;
            }
        }
        for c in children.iter_mut().flatten() {
            reap(c, &mut totals);
        }
        let before = acks.len();
        for log in &logs {
            parse_log(log, &mut acks, &mut failed, &mut totals);
            let _ = std::fs::remove_file(log);
        }
        totals.acked_commits += acks.len() - before;
        totals.acked_rows += acks[before..].iter().map(|a| a.rows).sum::<i64>();

        let (orphans, version) = check(&path, &acks, &failed, cycle);
        // Orphans accumulate over a table's cycles: count them at its last check, then
        // prove maintenance can clean them all (every process is dead, so no grace is
        // needed) without touching anything the table references.
        if (cycle + 1) % CYCLES_PER_TABLE == 0 || cycle + 1 == cycles {
            totals.orphans += orphans;
            let cleanup = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
            let report = Table::open(&path).unwrap().remove_orphans(&cleanup).unwrap();
            totals.orphans_cleaned +=
                report.data_files_removed + report.metadata_files_removed + report.other_files_removed;
            let (left, _) = check(&path, &acks, &failed, cycle);
            assert_eq!(left, 0, "cycle {cycle}: orphans left after remove_orphans: {report}");
        }
        totals.max_versions = totals.max_versions.max(version);

        // A new append succeeds; it becomes an acknowledged commit the next cycles check.
        let table = Table::open(&path).unwrap();
        let r = table.append(&[batch(sentinel, 1)]).unwrap_or_else(|e| panic!("cycle {cycle}: append failed: {e}"));
        acks.push(Ack { version: r.version, commit_id: r.commit_id, first: sentinel, rows: 1 });
        sentinel -= 1;
        totals.cycles += 1;
        if totals.cycles % 50 == 0 {
            eprintln!(
                "progress: {} cycles, {} acknowledged commits, {:.0}s, 0 violations",
                totals.cycles,
                totals.acked_commits,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let t = &totals;
    eprintln!(
        "crash cycles: {} cycles in {:.1}s, {} writer processes, {} acknowledged commits ({} rows), \
         {} crash points armed, {} writers died at one inside the commit path, {} SIGKILLed, {} failed / {} unknown commits reported, \
         {} orphan files left in the tables (never referenced), max {} versions per table; \
         {} maintenance processes ran {} compactions ({} replace commits, {} files compacted) and removed {} orphans \
         ({} maintenance errors, e.g. conflicts); remove_orphans after each table's last cycle deleted {}, leaving 0; 0 violations",
        t.cycles,
        started.elapsed().as_secs_f64(),
        t.cycles * WRITERS,
        t.acked_commits,
        t.acked_rows,
        t.crash_points,
        t.crashed_in_commit,
        t.sigkills,
        t.failed,
        t.unknown,
        t.orphans,
        t.max_versions,
        t.maintenance_processes,
        t.compactions,
        t.compaction_commits,
        t.files_compacted,
        t.orphans_removed,
        t.maintenance_errors,
        t.orphans_cleaned,
    );
    assert!(t.acked_commits > 0, "the writers never got a commit through");
}

/// Version files (`v<N>.metadata.json`) in a table's `metadata/`, sorted.
fn version_files(table: &Path) -> Vec<u64> {
    let mut out: Vec<u64> = std::fs::read_dir(table.join("metadata"))
        .unwrap()
        .flatten()
        .filter_map(|e| floe::testing::parse_version_file(&e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// One append of `batch(first, n)`, then waits for the deletes the handle runs after it
/// (the version files that left the log and strays: `retire_versions`).
fn append_settled(table: &Table, first: i64, n: usize) {
    table.append(&[batch(first, n)]).unwrap();
    floe::testing::settle(table);
}

/// Asserts every version the current metadata log names is on disk (the kept window is
/// never swept).
fn assert_window_kept(table: &Table) {
    for e in table.metadata().metadata_log() {
        assert!(table.resolve_path(&e.metadata_file).unwrap().exists(), "{} was deleted", e.metadata_file);
    }
}

/// Stray version files below the kept window — left by a writer killed between its link
/// and its cleanup, or by another engine — are deleted by later commits (never a version
/// in the metadata-log window, never anything with delete-after-commit disabled): at the
/// next commit when one of the two versions below the window is a stray, otherwise at the
/// next version that is a multiple of `write.metadata.previous-versions-max`.
#[test]
fn commits_delete_stray_version_files_below_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let opts =
        TableOptions::default().durability(Durability::Relaxed).property("write.metadata.previous-versions-max", "3");
    let table = Table::create_with(&path, schema(), opts.clone()).unwrap();
    for k in 0..5 {
        append_settled(&table, k * 10, 1);
    }
    assert_eq!(version_files(&path), [3, 4, 5, 6]);
    let version_file = |v: u64| path.join(format!("metadata/v{v}.metadata.json"));

    // A writer killed after its link (v7), before deleting the version it pushed out (v3).
    let log = dir.path().join("once.log");
    let mut child = spawn_child("once", &path, &log, 1000, Some("synced:1".into()));
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(6), "died at its crash point");
    assert_eq!(version_files(&path), [3, 4, 5, 6, 7], "v3 is a stray below the window v4..v6");
    // And an old stray, e.g. another engine's.
    std::fs::copy(version_file(7), version_file(1)).unwrap();

    append_settled(&table, 100, 1); // v8, window v5..v7
    assert_eq!(version_files(&path), [5, 6, 7, 8], "the killed writer's stray and the old one are gone");
    assert_window_kept(&table);

    // A stray no probe finds stays until the next multiple of previous-versions-max.
    std::fs::copy(version_file(8), version_file(1)).unwrap();
    append_settled(&table, 101, 1); // v9: a multiple of 3
    assert_eq!(version_files(&path), [6, 7, 8, 9]);
    std::fs::copy(version_file(9), version_file(2)).unwrap();
    append_settled(&table, 102, 1); // v10
    append_settled(&table, 103, 1); // v11
    assert_eq!(version_files(&path), [2, 8, 9, 10, 11], "no listing on an ordinary commit");
    append_settled(&table, 104, 1); // v12
    assert_eq!(version_files(&path), [9, 10, 11, 12]);
    assert_window_kept(&table);

    // With delete-after-commit disabled nothing is deleted.
    let mut tx = table.new_transaction();
    tx.set_property("write.metadata.delete-after-commit.enabled", "false");
    tx.commit().unwrap(); // v13
    floe::testing::settle(&table);
    std::fs::copy(version_file(13), version_file(1)).unwrap();
    for k in 0..3 {
        append_settled(&table, 200 + k, 1); // v14..v16 (v15 a multiple of 3)
    }
    assert_eq!(version_files(&path), [1, 9, 10, 11, 12, 13, 14, 15, 16]);
    let fresh = Table::open(&path).unwrap();
    assert_eq!(fresh.version(), 16);
    assert_eq!(ids(&fresh), [0, 10, 20, 30, 40, 100, 101, 102, 103, 104, 200, 201, 202, 1000, 1001]);
}

/// The state letter of a process (`T` = stopped), from `/proc/<pid>/stat`.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

fn signal(sig: &str, pid: u32) {
    let ok = Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} {pid}");
}

/// A writer stopped (a real SIGSTOP) just before its link — after its age check — while
/// orphan cleanup deletes its staged files (zero grace: as if the pause outlasted the
/// grace period) and another writer commits, so that after SIGCONT its link fails, it
/// rebases and links a version naming the deleted data file. It must never be
/// acknowledged: it reports `CommitFilesMissing`, a follow-up commit reverts its
/// snapshot, and the table is consistent (every referenced file exists, the rows are
/// the other writers').
#[test]
fn a_writer_paused_before_its_link_while_orphan_cleanup_runs_is_never_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let table = Table::create_with(&path, schema(), TableOptions::default().durability(Durability::Relaxed)).unwrap();
    table.append(&[batch(0, 2)]).unwrap();
    let log = dir.path().join("once.log");
    let mut child = spawn_child("once", &path, &log, 1000, Some("prestaged:1:stop".into()));
    let deadline = Instant::now() + Duration::from_secs(120);
    while process_state(child.id()) != Some('T') {
        assert!(child.try_wait().unwrap().is_none(), "the writer ended instead of stopping");
        assert!(Instant::now() < deadline, "the writer never reached its stop point");
        std::thread::sleep(Duration::from_millis(10));
    }
    // While it is stopped: another commit, then orphan cleanup with no grace period.
    table.append(&[batch(10, 1)]).unwrap();
    let opts = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
    let report = table.remove_orphans(&opts).unwrap();
    assert!(report.data_files_removed >= 1, "the paused writer's data file was deleted: {report}");
    signal("-CONT", child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "the writer exits normally: {status:?}");
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(!line.starts_with("ACK"), "a commit naming deleted files was acknowledged: {line}");
    assert!(line.contains("CommitFilesMissing") && line.contains("reverted_in: Some("), "{line}");

    let fresh = Table::open(&path).unwrap();
    assert_eq!(ids(&fresh), vec![0, 1, 10], "the paused writer's rows are not in the table");
    let verify = fresh.verify().unwrap();
    assert!(verify.problems.is_empty(), "{verify:?}");
    fresh.append(&[batch(20, 1)]).unwrap();
    assert_eq!(ids(&Table::open(&path).unwrap()), vec![0, 1, 10, 20]);
}

/// A writer stopped (real SIGSTOP) just before its link, built on `v2`, while other
/// commits trim snapshots and commit-time cleanup (src/txn/cleanup.rs) deletes every
/// manifest list no kept version names — its own unpublished attempt list included,
/// which is older than the oldest kept version. After SIGCONT its link fails (the
/// version exists), it rebases with new files and is acknowledged; the table verifies
/// clean and holds every row once. Nothing the kept versions name was deleted.
#[test]
fn a_writer_paused_across_commit_time_cleanup_rebases_and_never_references_a_deleted_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let options = TableOptions::default()
        .durability(Durability::Relaxed)
        .property("floe.commit.retain-snapshots", "2")
        .property("write.metadata.previous-versions-max", "8")
        .property("floe.commit.cleanup-interval", "1")
        .property("floe.commit.cleanup-margin-ms", "0");
    let table = Table::create_with(&path, schema(), options).unwrap();
    table.append(&[batch(0, 2)]).unwrap();
    let lists = |p: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(p.join("metadata"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("snap-"))
            .collect();
        v.sort();
        v
    };
    let before = lists(&path);
    let log = dir.path().join("once.log");
    let mut child = spawn_child("once", &path, &log, 1000, Some("prestaged:1:stop".into()));
    let deadline = Instant::now() + Duration::from_secs(120);
    while process_state(child.id()) != Some('T') {
        assert!(child.try_wait().unwrap().is_none(), "the writer ended instead of stopping");
        assert!(Instant::now() < deadline, "the writer never reached its stop point");
        std::thread::sleep(Duration::from_millis(10));
    }
    let attempt: Vec<String> = lists(&path).into_iter().filter(|l| !before.contains(l)).collect();
    assert_eq!(attempt.len(), 1, "the paused writer's attempt list: {attempt:?}");
    std::thread::sleep(Duration::from_millis(50));
    // v3..v10, then v11 from a fresh handle whose pass surely runs (dropping a handle
    // waits for its pass). v11's metadata log keeps v3..v10.
    for i in 0..8 {
        table.append(&[batch(10 + i, 1)]).unwrap();
    }
    drop(table);
    let other = Table::open(&path).unwrap();
    other.append(&[batch(20, 1)]).unwrap();
    assert_eq!(other.version(), 11);
    drop(other);
    let left = lists(&path);
    assert!(!left.contains(&attempt[0]), "the paused writer's unpublished list was cleaned up");
    // The ten committed snapshots' lists stay: each is named by a kept version (v3..v11).
    assert_eq!(left.len(), 10, "{left:?}");

    signal("-CONT", child.id());
    let status = child.wait().unwrap();
    assert!(status.success(), "the writer exits normally: {status:?}");
    let line = std::fs::read_to_string(&log).unwrap();
    assert!(line.starts_with("ACK 12 "), "the writer rebased and committed v12: {line}");
    let fresh = Table::open(&path).unwrap();
    let mut want: Vec<i64> = vec![0, 1, 1000, 1001, 20];
    want.extend(10..18);
    want.sort();
    assert_eq!(ids(&fresh), want);
    let verify = fresh.verify().unwrap();
    assert!(verify.problems.is_empty(), "{verify:?}");
    for v in 4..=12 {
        fresh.scan().as_of_version(v).to_batches().unwrap();
    }
}
