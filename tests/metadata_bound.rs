//! Commit-time cleanup (src/txn/cleanup.rs): `metadata/` stays bounded without manual
//! maintenance, and nothing a retained snapshot, a kept metadata version or a reader
//! of one needs is deleted. The paused-writer case (a real SIGSTOP) is in
//! tests/crash.rs; pyiceberg and DuckDB reading after many appends in tests/interop.rs.

mod common;

use std::path::Path;

use common::{batch, ids, relaxed, schema};
use floe::{Table, TableOptions};

/// Manifest lists and other manifests directly in `metadata/`.
fn avro_files(table: &Path) -> (Vec<String>, Vec<String>) {
    let mut lists = Vec::new();
    let mut manifests = Vec::new();
    for e in std::fs::read_dir(table.join("metadata")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if !name.ends_with(".avro") {
            continue;
        }
        if name.starts_with("snap-") { lists.push(name) } else { manifests.push(name) }
    }
    (lists, manifests)
}

fn options(retain: u32, previous: u32, interval: u32) -> TableOptions {
    relaxed()
        .property("floe.commit.retain-snapshots", retain.to_string())
        .property("write.metadata.previous-versions-max", previous.to_string())
        .property("floe.commit.cleanup-interval", interval.to_string())
        .property("floe.commit.cleanup-margin-ms", "0")
}

/// `n` single-row appends, the last from a fresh handle (a handle skips a pass while
/// its previous one still runs; a fresh one has none), then dropped, which waits for
/// its pass.
fn append_many(path: &Path, opts: TableOptions, n: i64) {
    let table = Table::create_with(path, schema(), opts).unwrap();
    for i in 0..n - 1 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    drop(table);
    Table::open(path).unwrap().append(&[batch(n - 1, 1)]).unwrap();
}

/// The manifest lists the newest metadata and its oldest kept version name.
fn named_lists(table: &Table) -> Vec<String> {
    let md = table.metadata();
    let oldest = md.metadata_log().iter().map(|e| e.metadata_file.clone()).min_by_key(|f| {
        let name = f.rsplit('/').next().unwrap_or_default();
        name.trim_start_matches('v').split('.').next().unwrap_or_default().parse::<u64>().unwrap_or(u64::MAX)
    });
    let mut out: Vec<String> = md.snapshots().iter().map(|s| s.manifest_list.clone()).collect();
    if let Some(f) = oldest {
        let v: u64 = f.rsplit('/').next().unwrap().trim_start_matches('v').split('.').next().unwrap().parse().unwrap();
        out.extend(table.metadata_at_version(v).unwrap().snapshots().iter().map(|s| s.manifest_list.clone()));
    }
    let mut names: Vec<String> = out.iter().map(|u| u.rsplit('/').next().unwrap().to_string()).collect();
    names.sort();
    names.dedup();
    names
}

/// Every retained snapshot and the newest 11 versions (one row per append since v1)
/// scan with the rows they recorded, and the table verifies clean.
fn assert_kept_history_reads(table: &Table) {
    for s in table.snapshots() {
        let rows: usize =
            table.scan().snapshot_id(s.snapshot_id).to_batches().unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as i64, s.summary_i64("total-records").unwrap());
    }
    let newest = table.version();
    for v in newest - 10..=newest {
        let rows: usize = table.scan().as_of_version(v).to_batches().unwrap().iter().map(|b| b.num_rows()).sum();
        assert_eq!(rows as u64, v - 1, "version {v}");
    }
    let report = table.verify().unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
}

#[test]
fn commits_bound_metadata_and_keep_every_kept_version_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (bounded, unbounded) = (dir.path().join("bounded"), dir.path().join("unbounded"));
    append_many(&bounded, options(10, 10, 5), 399);
    // The same history with cleanup off: every trimmed snapshot's files stay.
    append_many(&unbounded, options(10, 10, 0), 399);

    let (lists, manifests) = avro_files(&unbounded);
    assert_eq!(lists.len(), 399, "without cleanup every manifest list stays");
    assert!(manifests.len() >= 399, "{}", manifests.len());

    let (lists, manifests) = avro_files(&bounded);
    let table = Table::open(&bounded).unwrap();
    // Kept (v400 ran the last pass): the newest metadata's 10 snapshots and the oldest
    // kept version's 10.
    assert!(lists.len() <= 20, "{} manifest lists left: {lists:?}", lists.len());
    // Every list on disk is one a kept version names.
    let named = named_lists(&table);
    let extra: Vec<&String> = lists.iter().filter(|l| !named.contains(l)).collect();
    assert!(extra.is_empty(), "{extra:?}");
    // Manifests: the current snapshot's (up to 100 before a merge) and the kept lists'.
    assert!(manifests.len() < 150, "{} manifests left", manifests.len());

    // Nothing a kept version needs is gone: every retained snapshot and every version
    // in the metadata log scans, and the table verifies clean.
    assert_eq!(ids(&table), (0..399).collect::<Vec<_>>());
    assert_kept_history_reads(&table);
    // Orphan cleanup with no grace finds nothing more of the trimmed snapshots than
    // the lists of the last passes' window.
    table.append(&[batch(399, 1)]).unwrap();
    assert_eq!(ids(&Table::open(&bounded).unwrap()).len(), 400);
}

#[test]
fn readers_pinned_to_a_retained_snapshot_keep_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let table = Table::create_with(&path, schema(), options(1000, 5, 1)).unwrap();
    for i in 0..3 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    let pinned = table.pin();
    let early = table.current_snapshot().unwrap().snapshot_id;
    let writer = Table::open_with(&path, options(1000, 5, 1)).unwrap();
    for i in 3..120 {
        writer.append(&[batch(i, 1)]).unwrap();
        if i % 20 == 0 {
            // The reader pinned before the appends keeps reading its snapshot.
            assert_eq!(ids(&pinned), vec![0, 1, 2]);
        }
    }
    drop(writer);
    assert_eq!(ids(&pinned), vec![0, 1, 2]);
    let fresh = Table::open(&path).unwrap();
    let rows: usize = fresh.scan().snapshot_id(early).to_batches().unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 3);
    // All 120 snapshots are retained: every list stays.
    assert_eq!(avro_files(&path).0.len(), 120);
    assert!(fresh.verify().unwrap().problems.is_empty());
}

#[test]
fn cleanup_leaves_tables_without_delete_after_commit_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    append_many(&path, options(5, 5, 1).property("write.metadata.delete-after-commit.enabled", "false"), 60);
    // Old version files stay, so time travel by version reaches every snapshot.
    assert_eq!(avro_files(&path).0.len(), 60);
    let table = Table::open(&path).unwrap();
    let rows: usize = table.scan().as_of_version(3).to_batches().unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2);
}

/// A handle deletes the lists its own commits published once their versions are below
/// the kept window, without waiting for the clock margin (a writer doing ~800 commits/s
/// kept a second of lists and their manifests: over a third of `metadata/` after 10,000
/// appends). With a margin of an hour the age rule deletes nothing here, so what goes
/// goes by that rule alone; another handle's lists, which this one never linked, stay
/// for the age rule. Every retained snapshot and kept version still scans.
#[test]
fn a_handle_deletes_its_own_trimmed_lists_without_waiting_for_the_clock_margin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let opts = options(10, 10, 5).property("floe.commit.cleanup-margin-ms", "3600000");
    let table = Table::create_with(&path, schema(), opts).unwrap();
    // Another writer's 20 commits first: its lists are trimmed long before the end.
    let other = Table::open(&path).unwrap();
    let mut others = Vec::new();
    for i in 0..20 {
        other.append(&[batch(i, 1)]).unwrap();
        others.push(format!("snap-{}-", other.current_snapshot().unwrap().snapshot_id));
    }
    drop(other);
    for i in 20..300 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    floe::testing::settle(&table);
    let (lists, _) = avro_files(&path);
    let named = named_lists(&table);
    let extra: Vec<&String> = lists.iter().filter(|l| !named.contains(l)).collect();
    let (foreign, own): (Vec<&String>, Vec<&String>) =
        extra.into_iter().partition(|l| others.iter().any(|o| l.starts_with(o.as_str())));
    // The other writer's: all kept (the age rule waits an hour).
    assert_eq!(foreign.len(), 20, "{foreign:?}");
    // This handle's: at most the commits since its last pass (every 5 versions; a pass
    // is skipped while the previous one runs), not the 260 trimmed ones.
    assert!(own.len() <= 15, "{} of this handle's trimmed lists left, e.g. {:?}", own.len(), &own[..5.min(own.len())]);
    assert_eq!(ids(&table), (0..300).collect::<Vec<_>>());
    assert_kept_history_reads(&table);
}

/// A version committed by a writer whose clock runs ten minutes fast (another machine)
/// stamps every later version ahead of the clock too: `last-updated-ms` never goes
/// back. Commit-time cleanup, running in the background while the handle commits on,
/// still deletes only what no kept version needs (it once took the lists of snapshots
/// committed after its pass started for dead: they looked older than the oldest kept
/// version's stamp). Every retained snapshot and kept version scans, the table verifies.
#[test]
fn a_writer_with_a_fast_clock_does_not_make_cleanup_delete_live_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let opts = relaxed()
        .property("floe.commit.retain-snapshots", "5")
        .property("write.metadata.previous-versions-max", "5")
        .property("floe.commit.cleanup-interval", "1");
    let table = Table::create_with(&path, schema(), opts).unwrap();
    table.append(&[batch(0, 1)]).unwrap();
    // v3: v2's metadata as a writer ten minutes ahead stamps it.
    let v2 = path.join("metadata/v2.metadata.json");
    let mut md = floe::testing::metadata_from_json(&v2, &std::fs::read(&v2).unwrap()).unwrap();
    md.set_last_updated_ms(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 + 600_000,
    );
    std::fs::write(path.join("metadata/v3.metadata.json"), floe::testing::metadata_to_json(&md).unwrap()).unwrap();
    for i in 1..300 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    drop(table);
    let fresh = Table::open(&path).unwrap();
    assert_eq!(fresh.version(), 302);
    let report = fresh.verify().unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert_eq!(ids(&fresh), (0..300).collect::<Vec<_>>());
    for s in fresh.snapshots() {
        fresh.scan().snapshot_id(s.snapshot_id).to_batches().unwrap();
    }
    for v in 297..=302 {
        fresh.scan().as_of_version(v).to_batches().unwrap();
    }
}

/// The version files that leave the metadata log are deleted off the caller's path
/// (`retire_versions` in src/txn/mod.rs): an append returns while that delete is held
/// up, the handle's last drop waits for it, and then the file is gone.
#[test]
fn versions_that_leave_the_log_are_deleted_after_the_append_returns_and_before_the_last_drop() {
    use std::sync::{Arc, mpsc};
    use std::time::{Duration, Instant};

    use floe::storage::LocalStorage;
    use floe::storage::fault::{FaultStorage, Op};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    // The log keeps 3 versions; no cleanup pass (its deletes would take the hook).
    drop(Table::create_with(&path, schema(), options(10, 3, 0)).unwrap());
    let store = FaultStorage::new(Arc::new(LocalStorage::new(std::fs::canonicalize(&path).unwrap())));
    let table = Table::open_with(&path, options(10, 3, 0).storage(store.clone())).unwrap();
    for i in 0..3 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    // v4's log is [v1, v2, v3]; v5's drops v1.
    let v1 = path.join("metadata/v1.metadata.json");
    assert!(v1.exists());
    let deletes = store.calls(Op::Delete);
    let (release, held) = mpsc::channel::<()>();
    store.before(Op::Delete, move || {
        let _ = held.recv_timeout(Duration::from_secs(20));
    });
    let started = Instant::now();
    table.append(&[batch(3, 1)]).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "the append waited for the held delete");
    assert_eq!(table.version(), 5);
    assert!(v1.exists(), "deleted before the append returned");

    // The last drop waits for the held delete.
    let dropping = std::thread::spawn(move || drop(table));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!dropping.is_finished(), "the last drop did not wait for the version file's delete");
    release.send(()).unwrap();
    dropping.join().unwrap();
    assert!(!v1.exists(), "v1 left the log and is still there");
    assert_eq!(store.calls(Op::Delete), deletes + 1);
    let versions = std::fs::read_dir(path.join("metadata"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".metadata.json"))
        .count();
    assert_eq!(versions, 4, "v2..v5 kept");
    assert_eq!(ids(&Table::open(&path).unwrap()), vec![0, 1, 2, 3]);
}
