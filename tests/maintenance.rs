//! Maintenance while writers write: compaction, manifest merging, snapshot expiry,
//! orphan cleanup, rollback and tags. The multi-writer tests use real processes: the
//! test binary re-executes itself (`child_entry` does the child's work when
//! `FLOE_CHILD` is set) and children are killed with SIGKILL.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{batch, ids, relaxed, schema};
use floe::{CompactOptions, Error, ExpireOptions, MergeManifestsOptions, OrphanOptions, Table, TableOptions};

/// Child side. Roles: `writer` (FLOE_COUNT single-row appends, `ACK <id>` each),
/// `endless` (appends until killed), `stall` (stages a batch, prints the staged file
/// names and sleeps until killed: a transaction in flight).
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_CHILD") else { return };
    let path = std::env::var("FLOE_TABLE").unwrap();
    let proc_no: i64 = std::env::var("FLOE_PROC").unwrap().parse().unwrap();
    let table = Table::open(&path).unwrap();
    match role.as_str() {
        "writer" => {
            let n: i64 = std::env::var("FLOE_COUNT").unwrap().parse().unwrap();
            for i in 0..n {
                let id = proc_no * 100_000 + i;
                table.append(&[batch(id, 1)]).unwrap();
                println!("ACK {id}");
            }
        }
        "endless" => {
            for i in 0.. {
                let id = proc_no * 100_000 + i;
                table.append(&[batch(id, 1)]).unwrap();
                println!("ACK {id}");
            }
        }
        "stall" => {
            let mut tx = table.new_transaction();
            tx.append(&batch(proc_no * 100_000, 1000)).unwrap();
            for e in std::fs::read_dir(Path::new(&path).join("data")).unwrap().flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.contains(&tx.commit_id().replace('-', "")) {
                    println!("STAGED {}", e.path().display());
                }
            }
            println!("READY");
            std::thread::sleep(Duration::from_secs(3600));
            drop(tx);
        }
        other => panic!("unknown role {other}"),
    }
}

fn tagged<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
    line.find(tag).map(|i| &line[i + tag.len()..])
}

fn spawn(role: &str, table: &Path, proc_no: usize, count: usize) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("FLOE_CHILD", role)
        .env("FLOE_TABLE", table)
        .env("FLOE_PROC", proc_no.to_string())
        .env("FLOE_COUNT", count.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn acks(out: &[u8]) -> Vec<i64> {
    BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| tagged(&l, "ACK ").and_then(|x| x.parse().ok()))
        .collect()
}

fn table_with_appends(n: i64) -> (tempfile::TempDir, Table) {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    for i in 0..n {
        table.append(&[batch(i * 10, 10)]).unwrap();
    }
    (dir, table)
}

fn live_paths(table: &Table) -> Vec<PathBuf> {
    table.scan().plan().unwrap().files.iter().map(|f| table.resolve_path(&f.file_path).unwrap()).collect()
}

/// Every file the current snapshot needs exists with its recorded size.
fn assert_live_files_exist(table: &Table, context: &str) {
    for f in table.scan().plan().unwrap().files {
        let p = table.resolve_path(&f.file_path).unwrap();
        let len = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{context}: {p:?} missing: {e}")).len();
        assert_eq!(len as i64, f.file_size_in_bytes, "{context}: {p:?}");
    }
}

/// Sets a file's modification time `age` into the past.
fn age_file(p: &Path, age: Duration) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn compaction_rewrites_small_files_into_one_and_keeps_every_row() {
    let (_d, table) = table_with_appends(20);
    let before = ids(&table);
    let old_files = live_paths(&table);
    assert_eq!(old_files.len(), 20);

    let dry = table.compact(&CompactOptions::default().dry_run(true)).unwrap();
    assert!(dry.dry_run);
    assert_eq!((dry.data_files_removed, dry.data_files_added, dry.rows_rewritten), (20, 1, 200));
    assert!(dry.versions().is_empty());
    assert_eq!(live_paths(&table).len(), 20, "a dry run changes nothing");

    let report = table.compact(&CompactOptions::default()).unwrap();
    eprintln!("{report}");
    assert_eq!((report.data_files_removed, report.data_files_added, report.rows_rewritten), (20, 1, 200));
    assert_eq!(report.versions().len(), 1);
    assert!(report.bytes_added > 0 && report.bytes_removed > 0);
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(ids(&fresh), before);
    assert_eq!(live_paths(&fresh).len(), 1);
    let snap = fresh.current_snapshot().unwrap();
    assert_eq!(snap.operation(), "replace");
    assert_eq!(snap.summary_i64("total-records"), Some(200));
    // The inputs stay on disk for time travel until expiry.
    assert!(old_files.iter().all(|p| p.exists()));
    assert_eq!(fresh.scan().snapshot_id(snap.parent_snapshot_id.unwrap()).count().unwrap(), 200);
    // Nothing left to do.
    let again = table.compact(&CompactOptions::default()).unwrap();
    assert_eq!(again.data_files_removed, 0);
    assert!(again.versions().is_empty());
}

#[test]
fn compaction_honours_target_size_filter_and_commit_groups() {
    let (_d, table) = table_with_appends(12);
    let size = table.scan().plan().unwrap().files[0].file_size_in_bytes as u64;
    // Bins of ~3 files; a commit every ~2 bins.
    let opts = CompactOptions::default().max_commit_bytes(size * 7).target_file_size(size * 3 + size / 2);
    let report = table.compact(&opts).unwrap();
    assert_eq!(report.data_files_removed, 12);
    assert_eq!(report.data_files_added, 4);
    assert_eq!(report.versions().len(), 2, "{report}");
    assert_eq!(ids(&table), (0..120).collect::<Vec<_>>());

    // Only files whose ids start below 50 (by their lower bound on column 1).
    let (_d2, table) = table_with_appends(10);
    let opts = CompactOptions::default().filter(|f| {
        let lower = f.lower_bounds.get(&1).map(|b| i64::from_le_bytes(b[..8].try_into().unwrap()));
        lower.is_some_and(|v| v < 50)
    });
    let report = table.compact(&opts).unwrap();
    assert_eq!((report.data_files_removed, report.data_files_added), (5, 1));
    assert_eq!(live_paths(&table).len(), 6);
    assert_eq!(ids(&table), (0..100).collect::<Vec<_>>());
}

#[test]
fn compaction_rebases_over_history_it_cannot_follow() {
    // Expiry removes the compaction's base snapshot while it works: a replace only
    // needs its inputs to be live, so it still commits.
    let (_d, table) = table_with_appends(4);
    let files = table.scan().plan().unwrap().files;
    let mut tx = table.new_transaction();
    tx.set_operation(floe::Operation::Replace);
    tx.remove_files(files).unwrap();
    tx.append(&batch(0, 40)).unwrap();
    let other = Table::open(table.path()).unwrap();
    other.append(&[batch(1000, 1)]).unwrap();
    other
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    assert_eq!(other.snapshots().len(), 1);
    tx.commit().unwrap();
    assert_eq!(ids(&table).len(), 41);
}

#[test]
fn merge_manifests_folds_them_into_one() {
    let (_d, table) = table_with_appends(15);
    let snap = table.current_snapshot().unwrap();
    assert_eq!(table.manifests(&snap).unwrap().len(), 15);
    let dry = table.merge_manifests(&MergeManifestsOptions::default().dry_run(true)).unwrap();
    assert_eq!((dry.manifests_before, dry.manifests_after), (15, 1));
    assert_eq!(table.version(), 16);
    let report = table.merge_manifests(&MergeManifestsOptions::default()).unwrap();
    eprintln!("{report}");
    assert_eq!((report.manifests_before, report.manifests_after), (15, 1));
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(fresh.manifests(&fresh.current_snapshot().unwrap()).unwrap().len(), 1);
    assert_eq!(fresh.current_snapshot().unwrap().operation(), "replace");
    assert_eq!(ids(&fresh), (0..150).collect::<Vec<_>>());
    // Appends and removals keep working on top of the merged manifest.
    fresh.append(&[batch(5000, 1)]).unwrap();
    let report = fresh.compact(&CompactOptions::default()).unwrap();
    assert_eq!(report.data_files_removed, 16);
    assert_eq!(ids(&fresh).len(), 151);
}

#[test]
fn expiry_deletes_only_what_expired_snapshots_alone_referenced() {
    let (_d, table) = table_with_appends(10);
    let tagged_snapshot = table.snapshots()[2].snapshot_id;
    table.create_tag("audit", tagged_snapshot).unwrap();
    assert_eq!(table.tags().get("audit"), Some(&tagged_snapshot));
    let small_files = live_paths(&table);
    table.compact(&CompactOptions::default()).unwrap();
    let compacted = live_paths(&table);

    let dry = table.expire_snapshots(
        &ExpireOptions::default()
            .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
            .retain_last(1)
            .dry_run(true),
    );
    let dry = dry.unwrap();
    assert_eq!(dry.snapshots_expired, 9, "11 snapshots, minus the current one and the tagged one");
    assert!(dry.deleted_paths.iter().all(|p| p.exists()), "a dry run deletes nothing");
    assert_eq!(table.snapshots().len(), 12 - 1);

    let report = table
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    eprintln!("{report}");
    assert_eq!(report.snapshots_expired, 9);
    let fresh = Table::open(table.path()).unwrap();
    let kept: HashSet<i64> = fresh.snapshots().iter().map(|s| s.snapshot_id).collect();
    assert_eq!(kept.len(), 2);
    assert!(kept.contains(&tagged_snapshot));
    // The tagged snapshot's 3 files stay; the other 7 small files are gone.
    assert_eq!(report.data_files_removed, 7, "{report}");
    let tagged_files: Vec<PathBuf> = fresh
        .scan()
        .snapshot_id(tagged_snapshot)
        .plan()
        .unwrap()
        .files
        .iter()
        .map(|f| fresh.resolve_path(&f.file_path).unwrap())
        .collect();
    for p in &small_files {
        assert_eq!(p.exists(), tagged_files.contains(p), "{p:?}");
    }
    assert!(compacted.iter().all(|p| p.exists()));
    assert!(report.deleted_paths.iter().all(|p| !p.exists()));
    assert_eq!(ids(&fresh), (0..100).collect::<Vec<_>>());
    assert_eq!(fresh.scan().snapshot_id(tagged_snapshot).count().unwrap(), 30);
    assert_live_files_exist(&fresh, "after expiry");

    // Untagging makes it expirable.
    fresh.remove_tag("audit").unwrap();
    let report = fresh
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    assert_eq!((report.snapshots_expired, report.data_files_removed), (1, 3));
    assert!(small_files.iter().all(|p| !p.exists()));
    assert_eq!(ids(&fresh), (0..100).collect::<Vec<_>>());
    // Default policy: nothing is 5 days old.
    let report = fresh.expire_snapshots(&ExpireOptions::default()).unwrap();
    assert_eq!(report.snapshots_expired, 0);
}

#[test]
fn expiry_collects_snapshots_that_commits_already_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let opts = relaxed().property("floe.commit.retain-snapshots", "5");
    let table = Table::create_with(dir.path().join("t"), schema(), opts).unwrap();
    for i in 0..12 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    // Merge and compact so old manifests and files become unreferenced.
    table.merge_manifests(&MergeManifestsOptions::default()).unwrap();
    table.compact(&CompactOptions::default()).unwrap();
    assert_eq!(table.snapshots().len(), 5);
    let report = table
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    eprintln!("{report}");
    assert_eq!(report.snapshots_expired, 4);
    assert_eq!(report.data_files_removed, 12, "the 12 small files, most of them only in trimmed snapshots");
    let data: Vec<_> = std::fs::read_dir(table.path().join("data")).unwrap().flatten().collect();
    assert_eq!(data.len(), 1);
    assert_eq!(ids(&Table::open(table.path()).unwrap()), (0..12).collect::<Vec<_>>());
}

#[test]
fn orphan_cleanup_removes_only_old_unreferenced_files() {
    let (dir, table) = table_with_appends(3);
    let root = table.path().to_path_buf();
    let stray_old = root.join("data/stray-old.parquet");
    let stray_young = root.join("data/stray-young.parquet");
    let temp_old = root.join("metadata/.v9.metadata.json.abc.tmp");
    let marked = root.join("data/datashard-staged.parquet");
    let marker = root.join("metadata/inflight/datashard-staged.parquet.inflight");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    for p in [&stray_old, &stray_young, &temp_old, &marked] {
        std::fs::write(p, b"x").unwrap();
    }
    let rel = marked.to_str().unwrap().trim_start_matches('/');
    std::fs::write(&marker, format!("{{\"file_path\": \"{rel}\"}}")).unwrap();
    // A symlink to a directory outside the table, holding an old file.
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("precious.parquet"), b"keep").unwrap();
    age_file(&outside.join("precious.parquet"), Duration::from_secs(7200));
    std::os::unix::fs::symlink(&outside, root.join("data/link")).unwrap();
    let hour = Duration::from_secs(3600);
    for p in [&stray_old, &temp_old, &marked] {
        age_file(p, 2 * hour);
    }
    // Everything the table references is old too.
    for p in common::tree(&root) {
        let p = root.join(p);
        if std::fs::symlink_metadata(&p).unwrap().is_file() && p != stray_young && p != marker {
            age_file(&p, 2 * hour);
        }
    }

    // The default grace is a day; shorter ones must be asked for.
    assert!(matches!(table.remove_orphans(&OrphanOptions::default().older_than(hour)), Err(Error::InvalidArgument(_))));
    let opts = OrphanOptions::default().older_than(hour).allow_short_grace(true);
    let dry = table.remove_orphans(&opts.clone().dry_run(true)).unwrap();
    assert_eq!(dry.deleted_paths.len(), 2, "{:?}", dry.deleted_paths);
    assert!(stray_old.exists());
    let report = table.remove_orphans(&opts).unwrap();
    eprintln!("{report}");
    let mut deleted = report.deleted_paths.clone();
    deleted.sort();
    let mut want = vec![stray_old.clone(), temp_old.clone()];
    want.sort();
    assert_eq!(deleted, want);
    assert!(stray_young.exists() && marked.exists() && marker.exists());
    assert!(outside.join("precious.parquet").exists());
    assert!(root.join("metadata/version-hint.text").exists());
    assert!(report.skipped.iter().any(|s| s.contains("symlink")));
    assert_eq!(ids(&Table::open(&root).unwrap()), (0..30).collect::<Vec<_>>());

    // An abandoned marker (older than the grace) no longer protects its file.
    age_file(&marker, 2 * hour);
    let report = table.remove_orphans(&opts).unwrap();
    assert!(report.deleted_paths.contains(&marked) && report.deleted_paths.contains(&marker));
}

/// The handle's side file for the version hint (a temp file it reuses at every commit)
/// is not an orphan to its own cleanup, even with no grace; another handle's cleanup may
/// delete it, and the next commit still moves the hint forward (making another).
#[test]
fn orphan_cleanup_leaves_the_handles_own_hint_side_file() {
    let (_dir, table) = table_with_appends(3);
    let side_files = || -> Vec<String> {
        std::fs::read_dir(table.path().join("metadata"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with(".version-hint.text.") && n.ends_with(".tmp"))
            .collect()
    };
    let hint = || std::fs::read_to_string(table.path().join("metadata/version-hint.text")).unwrap();
    let no_grace = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
    let own = side_files();
    if cfg!(target_os = "linux") {
        assert_eq!(own.len(), 1, "one side file on Linux: {own:?}");
    }
    let report = table.remove_orphans(&no_grace).unwrap();
    assert!(report.deleted_paths.is_empty(), "{report}");
    assert_eq!(side_files(), own);

    let other = Table::open(table.path()).unwrap();
    let report = other.remove_orphans(&no_grace).unwrap();
    assert_eq!(report.deleted_paths.len(), own.len(), "{report}");
    assert!(side_files().is_empty());
    table.append(&[batch(30, 10)]).unwrap();
    assert_eq!(hint(), table.version().to_string());
    assert_eq!(side_files().len(), own.len());
    assert_eq!(ids(&Table::open(table.path()).unwrap()), (0..40).collect::<Vec<_>>());
}

#[test]
fn orphan_cleanup_removes_superseded_version_files_beyond_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    // Keep old metadata files on disk (as a foreign writer might), at most 3 in the log.
    let opts = relaxed()
        .property("write.metadata.delete-after-commit.enabled", "false")
        .property("write.metadata.previous-versions-max", "3");
    let table = Table::create_with(dir.path().join("t"), schema(), opts).unwrap();
    for i in 0..8 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    assert!(table.path().join("metadata/v1.metadata.json").exists());
    let opts = OrphanOptions::default().older_than(Duration::from_secs(3600)).allow_short_grace(true);
    let report = table.remove_orphans(&opts).unwrap();
    let versions: Vec<u64> =
        (1..=9).filter(|v| table.path().join(format!("metadata/v{v}.metadata.json")).exists()).collect();
    assert_eq!(versions, vec![6, 7, 8, 9], "{report}");
    assert_eq!(report.metadata_files_removed, 5);
    assert_eq!(ids(&Table::open(table.path()).unwrap()).len(), 8);
}

#[test]
fn rollback_and_set_current_are_new_commits() {
    let (_d, table) = table_with_appends(3);
    let snaps = table.snapshots();
    let first = snaps[0].snapshot_id;
    let third = snaps[2].snapshot_id;
    let v = table.version();
    let report = table.rollback_to(first).unwrap();
    assert_eq!(report.versions(), vec![v + 1]);
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(fresh.current_snapshot().unwrap().snapshot_id, first);
    assert_eq!(fresh.reference("main").unwrap().snapshot_id, first);
    assert_eq!(ids(&fresh), (0..10).collect::<Vec<_>>());
    assert_eq!(fresh.history().last().unwrap().snapshot_id, first);
    // The later snapshots are still there: set_current moves forward again.
    assert!(matches!(fresh.rollback_to(third), Err(Error::InvalidArgument(_))));
    fresh.set_current(third).unwrap();
    assert_eq!(ids(&fresh), (0..30).collect::<Vec<_>>());
    fresh.rollback_to(first).unwrap();
    // A write after a rollback builds on the rolled-back state.
    fresh.append(&[batch(500, 1)]).unwrap();
    let mut want: Vec<i64> = (0..10).collect();
    want.push(500);
    assert_eq!(ids(&Table::open(table.path()).unwrap()), want);
    assert!(matches!(fresh.set_current(12345), Err(Error::NotFound { .. })));
    assert!(matches!(fresh.create_tag("main", first), Err(Error::InvalidArgument(_))));
    fresh.create_tag("t", first).unwrap();
    assert!(matches!(fresh.create_tag("t", first), Err(Error::InvalidArgument(_))));
    assert!(matches!(fresh.remove_tag("nope"), Err(Error::NotFound { .. })));
}

#[test]
fn a_transaction_open_past_the_max_age_does_not_commit() {
    let dir = tempfile::tempdir().unwrap();
    let opts = relaxed().property("floe.transaction.max-age-ms", "100");
    let table = Table::create_with(dir.path().join("t"), schema(), opts).unwrap();
    let mut tx = table.new_transaction();
    tx.append(&batch(0, 5)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let v = table.version();
    assert!(matches!(tx.commit(), Err(Error::TransactionTooOld { .. })));
    assert_eq!(Table::open(table.path()).unwrap().version(), v);
    assert!(common::tree(&table.path().join("data")).is_empty(), "its files were deleted");
    table.append(&[batch(0, 5)]).unwrap();
}

/// Four processes append while the parent compacts over and over: every row is
/// present exactly once, there are fewer files after, and the rows are the same as
/// the uncompacted snapshot's.
#[test]
fn compaction_while_four_processes_append() {
    const PROCS: usize = 4;
    const APPENDS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), TableOptions::default()).unwrap();
    let children: Vec<Child> = (0..PROCS).map(|p| spawn("writer", &path, p, APPENDS)).collect();
    let table = Table::open(&path).unwrap();
    let mut rounds = 0;
    let mut compacted_files = 0;
    let mut skipped = 0;
    let done = |children: &mut Vec<Child>| children.iter_mut().all(|c| c.try_wait().unwrap().is_some());
    let mut children = children;
    while !done(&mut children) {
        let report = table.compact(&CompactOptions::default()).unwrap();
        rounds += 1;
        compacted_files += report.data_files_removed;
        skipped += report.skipped.len();
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut acked = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        acked.extend(acks(&out.stdout));
    }
    acked.sort();
    assert_eq!(acked.len(), PROCS * APPENDS);
    table.refresh().unwrap();
    let before_files = table.scan().plan().unwrap().files.len();
    let uncompacted = table.current_snapshot().unwrap().snapshot_id;
    let report = table.compact(&CompactOptions::default()).unwrap();
    compacted_files += report.data_files_removed;
    let fresh = Table::open(&path).unwrap();
    let after_files = fresh.scan().plan().unwrap().files.len();
    eprintln!(
        "{rounds} compactions during the appends rewrote {compacted_files} files ({skipped} groups skipped); \
         {before_files} -> {after_files} files at the end"
    );
    assert_eq!(after_files, 1);
    assert!(compacted_files > before_files, "compaction ran during the appends too");
    assert_eq!(ids(&fresh), acked, "every acknowledged row exactly once");
    let mut before: Vec<i64> = Vec::new();
    for b in fresh.scan().snapshot_id(uncompacted).select(["id"]).to_batches().unwrap() {
        let col = b.column(0).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap();
        before.extend(col.values().iter().copied());
    }
    before.sort();
    assert_eq!(before, acked);
    // Whole rows are identical, not just ids.
    let sorted_rows = |t: &Table, snap: Option<i64>| {
        let scan = match snap {
            Some(s) => t.scan().snapshot_id(s),
            None => t.scan(),
        };
        let batches = scan.to_batches().unwrap();
        let mut rows: Vec<String> = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                rows.push(
                    (0..b.num_columns())
                        .map(|c| arrow_cast::display::array_value_to_string(b.column(c), i).unwrap())
                        .collect::<Vec<_>>()
                        .join("|"),
                );
            }
        }
        rows.sort();
        rows
    };
    assert_eq!(sorted_rows(&fresh, None), sorted_rows(&fresh, Some(uncompacted)));
    let replaces = fresh.history().iter().filter(|h| h.operation.as_deref() == Some("replace")).count();
    assert!(replaces >= 1);
}

/// Expiry and orphan cleanup run over and over while writers append; a writer is
/// SIGKILLed with a transaction in flight. No file a live snapshot needs is ever
/// deleted (every scan succeeds, every acknowledged row is there); the killed
/// writer's staged files survive cleanup until the grace period has passed, then go.
#[test]
fn expiry_and_orphan_cleanup_while_writers_run_and_one_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    // Transactions may stay open at most 1 s, so a 3 s grace is safe.
    let opts = TableOptions::default().property("floe.transaction.max-age-ms", "1000");
    Table::create_with(&path, schema(), opts).unwrap();
    let grace = Duration::from_secs(3);

    let mut stall = spawn("stall", &path, 9, 0);
    let mut staged: Vec<PathBuf> = Vec::new();
    {
        let stdout = stall.stdout.as_mut().unwrap();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(p) = tagged(&line, "STAGED ") {
                staged.push(PathBuf::from(p));
            }
            if line.contains("READY") {
                break;
            }
        }
    }
    assert!(!staged.is_empty() && staged.iter().all(|p| p.exists()));
    let staged_mtime = staged.iter().map(|p| std::fs::metadata(p).unwrap().modified().unwrap()).max().unwrap();
    stall.kill().unwrap(); // SIGKILL: no destructor runs
    stall.wait().unwrap();

    let mut writers: Vec<Child> = (0..3).map(|p| spawn("endless", &path, p, 0)).collect();
    let table = Table::open(&path).unwrap();
    let orphan_opts = OrphanOptions::default().older_than(grace).allow_short_grace(true);
    let started = std::time::Instant::now();
    let mut deleted_total = 0;
    let mut staged_seen_deleted_at = None;
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let e = table
            .expire_snapshots(
                &ExpireOptions::default()
                    .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                    .retain_last(1),
            )
            .unwrap();
        let o = table.remove_orphans(&orphan_opts).unwrap();
        deleted_total += e.deleted_paths.len() + o.deleted_paths.len();
        for p in &o.deleted_paths {
            if staged.contains(p) {
                let age = SystemTime::now().duration_since(staged_mtime).unwrap_or_default();
                staged_seen_deleted_at.get_or_insert(age);
            }
        }
        if staged_seen_deleted_at.is_none() {
            // Not yet past the grace: the killed writer's files are still there.
            assert!(staged.iter().all(|p| p.exists()), "staged file removed before the grace period");
        }
        // Every scan of the newest version finds all its files.
        let reader = Table::open(&path).unwrap();
        assert_live_files_exist(&reader, "during cleanup");
        reader.scan().to_batches().unwrap();
        rounds += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    for w in writers.iter_mut() {
        w.kill().unwrap();
    }
    let mut acked = Vec::new();
    for w in writers {
        acked.extend(acks(&w.wait_with_output().unwrap().stdout));
    }
    let table = Table::open(&path).unwrap();
    assert_live_files_exist(&table, "at the end");
    let present = ids(&table);
    for id in &acked {
        assert!(present.binary_search(id).is_ok(), "acknowledged row {id} missing");
    }
    let at = staged_seen_deleted_at.expect("the killed writer's files were removed once the grace had passed");
    assert!(staged.iter().all(|p| !p.exists()));
    eprintln!(
        "{rounds} cleanup rounds with 3 writers ({} acknowledged appends): {deleted_total} files deleted; \
         the killed writer's {} staged file(s) went at age {at:?} (grace {grace:?})",
        acked.len(),
        staged.len()
    );
    assert!(at >= grace, "removed at age {at:?}, before the grace period");
    assert!(deleted_total > 0);
    // The table takes commits and one more full cleanup leaves it readable.
    table.append(&[batch(-5, 1)]).unwrap();
    table
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    assert_eq!(table.snapshots().len(), 1);
    let present = ids(&table);
    assert!(present.len() > acked.len() && present.binary_search(&-5).is_ok());
}

#[test]
fn expiry_keeps_files_that_a_retained_merged_manifest_relists() {
    // After a merge the current snapshot lists every file in a new manifest: the
    // expired snapshots' manifests go, their data files must stay.
    let (_d, table) = table_with_appends(6);
    let files = live_paths(&table);
    table.merge_manifests(&MergeManifestsOptions::default()).unwrap();
    let report = table
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    assert_eq!(report.snapshots_expired, 6);
    assert_eq!(report.data_files_removed, 0, "{report}");
    assert_eq!(report.metadata_files_removed, 12, "6 manifest lists and 6 manifests: {report}");
    assert!(files.iter().all(|p| p.exists()));
    assert_live_files_exist(&Table::open(table.path()).unwrap(), "after expiry");
    assert_eq!(ids(&table), (0..60).collect::<Vec<_>>());
}

#[test]
fn compaction_groups_by_partition() {
    use floe::spec::PartitionSpec;
    let dir = tempfile::tempdir().unwrap();
    let s = schema();
    let spec = PartitionSpec::builder(&s).bucket("id", 2).build().unwrap();
    let table = Table::create_with(dir.path().join("t"), s, relaxed().partition_spec(spec)).unwrap();
    for i in 0..12 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    let before = table.scan().plan().unwrap().files;
    assert_eq!(before.len(), 12);
    let partitions: HashSet<String> = before.iter().map(|f| format!("{:?}", f.partition)).collect();
    assert_eq!(partitions.len(), 2);
    let report = table.compact(&CompactOptions::default()).unwrap();
    assert_eq!((report.data_files_removed, report.data_files_added), (12, 2), "{report}");
    let fresh = Table::open(table.path()).unwrap();
    let after = fresh.scan().plan().unwrap().files;
    let after_partitions: HashSet<String> = after.iter().map(|f| format!("{:?}", f.partition)).collect();
    assert_eq!(after_partitions, partitions, "one output file per partition, with its partition value");
    assert_eq!(ids(&fresh), (0..12).collect::<Vec<_>>());
    // Each output holds exactly the rows of its partition (rows with the same bucket).
    for f in &after {
        let same: i64 = before.iter().filter(|b| b.partition == f.partition).map(|b| b.record_count).sum();
        assert_eq!(f.record_count, same);
    }
}

#[test]
fn compaction_by_predicate_rewrites_only_files_that_may_match() {
    use floe::expr::{Predicate, col};
    let (_d, table) = table_with_appends(10);
    // Files hold ids [0,10), [10,20), ...: `id >= 30 and id < 70` may match four.
    let report = table.compact(&CompactOptions::default().matching(col("id").ge(30).and(col("id").lt(70)))).unwrap();
    assert_eq!((report.data_files_removed, report.data_files_added), (4, 1), "{report}");
    assert_eq!(live_paths(&table).len(), 7);
    assert_eq!(ids(&table), (0..100).collect::<Vec<_>>());

    // The text syntax works the same; a bad column or literal is a typed error and
    // changes nothing.
    let version = table.version();
    let p = Predicate::parse("nope = 1").unwrap();
    assert!(matches!(table.compact(&CompactOptions::default().matching(p)), Err(Error::Predicate(_))));
    let p = Predicate::parse("id = 'x'").unwrap();
    assert!(matches!(table.compact(&CompactOptions::default().matching(p)), Err(Error::Predicate(_))));
    assert_eq!(Table::open(table.path()).unwrap().version(), version);
}
