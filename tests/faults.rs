//! Storage faults around the commit point: an error before the link leaves nothing
//! visible and reports failure; an error after the link (the ambiguous case) is
//! resolved by re-reading the version and comparing commit ids, and reported as Ok.

mod common;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{batch, ids, relaxed, schema};
use floe::storage::LocalStorage;
use floe::storage::Storage;
use floe::storage::fault::{Fault as Kind, FaultStorage, Op, Rule};
use floe::{Error, RetryPolicy, Table};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    None,
    /// Fail the next version publish before anything is created.
    BeforeLink,
    /// Create the version, then report an I/O error (lost acknowledgement).
    AfterLink,
    /// Fail every write of a manifest list.
    ManifestList,
    /// Report every version as taken (a writer that always loses the race).
    AlwaysTaken,
    /// Report the next version as taken once.
    TakenOnce,
    /// Create the version, report an I/O error, and fail reads of version files, so
    /// the outcome cannot be resolved.
    AfterLinkUnreadable,
}

/// The public fault-injecting store, driven by the scenarios above.
#[derive(Debug)]
struct Faulty {
    store: Arc<FaultStorage>,
    fault: Mutex<Fault>,
    /// File names whose reads fail with EIO (a bad sector under one file).
    unreadable: Mutex<Vec<String>>,
}

impl Faulty {
    fn new(root: &Path) -> Arc<Faulty> {
        Arc::new(Faulty {
            store: FaultStorage::new(Arc::new(LocalStorage::new(root))),
            fault: Mutex::new(Fault::None),
            unreadable: Mutex::new(Vec::new()),
        })
    }
    fn storage(&self) -> Arc<dyn Storage> {
        self.store.clone()
    }
    fn set(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
        self.rearm();
    }
    /// Reads of files with these names fail with EIO from now on.
    fn fail_reads_of(&self, names: &[String]) {
        *self.unreadable.lock().unwrap() = names.to_vec();
        self.rearm();
    }
    /// Version publishes attempted so far.
    fn publishes(&self) -> u64 {
        self.store.calls(Op::Publish)
    }
    fn rearm(&self) {
        self.store.disarm();
        let publish = Rule::new(Kind::Eio).op(Op::Publish);
        match *self.fault.lock().unwrap() {
            Fault::None => {}
            Fault::BeforeLink => self.store.inject(publish),
            Fault::AfterLink => self.store.inject(Rule::new(Kind::AfterSuccess).op(Op::Publish)),
            Fault::ManifestList => self.store.inject(Rule::new(Kind::Eio).op(Op::PutNew).name_prefix("snap-").always()),
            Fault::AlwaysTaken => self.store.inject(Rule::new(Kind::AlreadyExists).op(Op::Publish).always()),
            Fault::TakenOnce => self.store.inject(Rule::new(Kind::AlreadyExists).op(Op::Publish)),
            Fault::AfterLinkUnreadable => {
                self.store.inject(Rule::new(Kind::AfterSuccess).op(Op::Publish).always());
                self.store.inject(Rule::new(Kind::Eio).op(Op::Read).suffix(".metadata.json").always());
            }
        }
        for name in self.unreadable.lock().unwrap().iter() {
            self.store.inject(Rule::new(Kind::Eio).op(Op::Read).name(name.clone()).always());
        }
    }
}

fn setup() -> (tempfile::TempDir, Table, Arc<Faulty>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), relaxed()).unwrap();
    let real = std::fs::canonicalize(&path).unwrap();
    let storage = Faulty::new(&real);
    let table = Table::open_with(&path, relaxed().storage(storage.storage())).unwrap();
    table.append(&[batch(0, 2)]).unwrap();
    (dir, table, storage)
}

#[test]
fn an_error_before_the_commit_point_is_a_failure_and_leaves_nothing() {
    let (_dir, table, storage) = setup();
    storage.set(Fault::BeforeLink);
    let err = table.append(&[batch(10, 2)]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(fresh.version(), 2);
    assert_eq!(ids(&fresh), vec![0, 1]);
    // The failed transaction's data files, manifest and manifest list were cleaned up.
    let data = std::fs::read_dir(table.path().join("data")).unwrap().count();
    assert_eq!(data, fresh.scan().plan().unwrap().files.len());
    let lists = std::fs::read_dir(table.path().join("metadata"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("snap-"))
        .count();
    assert_eq!(lists, 1, "only the committed snapshot's manifest list remains");
    // And the table keeps working.
    table.append(&[batch(10, 2)]).unwrap();
    assert_eq!(ids(&Table::open(table.path()).unwrap()), vec![0, 1, 10, 11]);
}

#[test]
fn an_error_after_the_commit_point_is_resolved_as_committed() {
    let (_dir, table, storage) = setup();
    storage.set(Fault::AfterLink);
    let report = table.append(&[batch(10, 2)]).expect("the commit landed, so it must be reported Ok");
    assert_eq!(report.version, 3);
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(fresh.version(), 3);
    assert_eq!(fresh.current_snapshot().unwrap().commit_id(), Some(report.commit_id.as_str()));
    assert_eq!(ids(&fresh), vec![0, 1, 10, 11], "present exactly once");
    // Its data files were not mistaken for garbage.
    fresh.scan().to_batches().unwrap();
}

#[test]
fn a_failed_manifest_list_write_fails_cleanly() {
    let (_dir, table, storage) = setup();
    storage.set(Fault::ManifestList);
    let before = storage.publishes();
    let err = table.append(&[batch(10, 2)]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(storage.publishes(), before, "no version attempted");
    storage.set(Fault::None);
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(ids(&fresh), vec![0, 1]);
    let data = std::fs::read_dir(table.path().join("data")).unwrap().count();
    assert_eq!(data, fresh.scan().plan().unwrap().files.len());
}

#[test]
fn a_lost_race_is_retried_and_counted() {
    let (_dir, table, storage) = setup();
    storage.set(Fault::TakenOnce);
    let report = table.append(&[batch(10, 1)]).unwrap();
    assert_eq!(report.attempts, 2);
    assert_eq!(report.conflicts, 1);
    let stats = table.commit_stats();
    assert_eq!(stats.retries_succeeded, 1);
    assert_eq!(stats.conflicts, 1);
    assert!(stats.conflict_rate() > 0.0);
    assert_eq!(ids(&Table::open(table.path()).unwrap()), vec![0, 1, 10]);
}

#[test]
fn an_exhausted_retry_policy_is_a_concurrent_modification_and_leaves_nothing() {
    let (_dir, table, storage) = setup();
    storage.set(Fault::AlwaysTaken);
    let policy = RetryPolicy::default()
        .with_max_attempts(4)
        .with_delays(std::time::Duration::from_millis(1), std::time::Duration::from_millis(4));
    let mut tx = table.new_transaction().with_retry(policy);
    tx.append(&batch(10, 1)).unwrap();
    let started = std::time::Instant::now();
    match tx.commit().unwrap_err() {
        Error::ConcurrentModification { retries_exhausted, base_version, .. } => {
            assert!(retries_exhausted);
            assert_eq!(base_version, 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let stats = table.commit_stats();
    assert_eq!(stats.retries_exhausted, 1);
    assert_eq!(stats.attempts, 1 + 4, "one earlier commit plus four attempts");
    storage.set(Fault::None);
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(ids(&fresh), vec![0, 1]);
    let data = std::fs::read_dir(table.path().join("data")).unwrap().count();
    assert_eq!(data, fresh.scan().plan().unwrap().files.len(), "staged files removed");
    let meta: Vec<String> = std::fs::read_dir(table.path().join("metadata"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".avro"))
        .collect();
    assert_eq!(meta.len(), 2, "only the committed manifest and list remain: {meta:?}");
}

#[test]
fn a_time_budget_bounds_the_retries() {
    let (_dir, table, storage) = setup();
    storage.set(Fault::AlwaysTaken);
    let policy =
        RetryPolicy::default().with_max_attempts(1_000_000).with_total_budget(std::time::Duration::from_millis(200));
    let mut tx = table.new_transaction().with_retry(policy);
    tx.append(&batch(10, 1)).unwrap();
    let started = std::time::Instant::now();
    assert!(tx.commit().unwrap_err().is_concurrent_modification());
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[test]
fn an_unresolvable_outcome_is_reported_as_unknown_and_keeps_the_files() {
    let (_dir, table, storage) = setup();
    storage.set(Fault::AfterLinkUnreadable);
    let mut tx = table.new_transaction();
    tx.append(&batch(10, 2)).unwrap();
    let commit_id = tx.commit_id();
    match tx.commit().unwrap_err() {
        Error::CommitStateUnknown { version, commit_id: id, .. } => {
            assert_eq!(version, 3);
            assert_eq!(id, commit_id);
        }
        other => panic!("expected CommitStateUnknown, got {other:?}"),
    }
    storage.set(Fault::None);
    // It did land, and nothing it references was cleaned up.
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(fresh.current_snapshot().unwrap().commit_id(), Some(commit_id.as_str()));
    assert_eq!(ids(&fresh), vec![0, 1, 10, 11]);
}

// ---------------------------------------------------------------------------------------
// Maintenance that meets unreadable metadata: it stops before deleting anything.
// ---------------------------------------------------------------------------------------

/// A table (on `Faulty` storage) whose older snapshots were trimmed from the newest
/// metadata by `floe.commit.retain-snapshots` and whose first files were compacted away:
/// those files are referenced only by older metadata versions in the metadata log. Every
/// file is two hours old.
fn trimmed_table() -> (tempfile::TempDir, Table, Arc<Faulty>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), relaxed().property("floe.commit.retain-snapshots", "2")).unwrap();
    let real = std::fs::canonicalize(&path).unwrap();
    let storage = Faulty::new(&real);
    let table = Table::open_with(&path, relaxed().storage(storage.storage())).unwrap();
    for i in 0..6 {
        table.append(&[batch(i * 10, 10)]).unwrap();
    }
    table.merge_manifests(&floe::MergeManifestsOptions::default()).unwrap();
    table.compact(&floe::CompactOptions::default()).unwrap();
    table.merge_manifests(&floe::MergeManifestsOptions::default()).unwrap();
    table.append(&[batch(100, 1)]).unwrap();
    table.append(&[batch(101, 1)]).unwrap();
    age_all(&real, std::time::Duration::from_secs(7200));
    (dir, table, storage)
}

fn age_all(root: &Path, age: std::time::Duration) {
    for rel in common::tree(root) {
        let f = std::fs::File::options().write(true).open(root.join(rel)).unwrap();
        f.set_modified(std::time::SystemTime::now() - age).unwrap();
    }
}

/// Names of the version files older than the newest one.
fn old_versions(table: &Table) -> Vec<String> {
    (1..table.version()).map(|v| format!("v{v}.metadata.json")).collect()
}

fn orphan_opts() -> floe::OrphanOptions {
    floe::OrphanOptions::default().older_than(std::time::Duration::from_secs(3600)).allow_short_grace(true)
}

#[test]
fn orphan_cleanup_stops_on_an_unreadable_old_metadata_version_and_deletes_nothing() {
    let (_dir, table, storage) = trimmed_table();
    let before = common::tree(table.path());
    // Without a fault the trimmed snapshots' files are referenced by the metadata log:
    // nothing is an orphan.
    let dry = table.remove_orphans(&orphan_opts().dry_run(true)).unwrap();
    assert!(dry.deleted_paths.is_empty(), "{:?}", dry.deleted_paths);

    // EIO on the older versions: what they reference is unknown, so nothing may go.
    storage.fail_reads_of(&old_versions(&table));
    for dry_run in [true, false] {
        match table.remove_orphans(&orphan_opts().dry_run(dry_run)) {
            Err(Error::Io { path, .. }) => {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                assert!(old_versions(&table).contains(&name), "{path:?}");
            }
            other => panic!("dry run {dry_run}: expected Error::Io naming an old version, got {other:?}"),
        }
    }
    assert_eq!(common::tree(table.path()), before, "nothing deleted");

    // A corrupt old version is the same: an error, nothing deleted.
    storage.fail_reads_of(&[]);
    let v2 = table.path().join("metadata/v2.metadata.json");
    std::fs::write(&v2, b"{ not json").unwrap();
    age_all(table.path(), std::time::Duration::from_secs(7200));
    match table.remove_orphans(&orphan_opts()) {
        Err(Error::CorruptMetadata { path, .. }) => assert_eq!(path, v2),
        other => panic!("expected CorruptMetadata for v2, got {other:?}"),
    }
    assert_eq!(common::tree(table.path()), before, "nothing deleted");

    // A version that is gone (removed by the user or a commit's cleanup) is skipped.
    std::fs::remove_file(&v2).unwrap();
    table.remove_orphans(&orphan_opts()).unwrap();
    assert_eq!(ids(&Table::open(table.path()).unwrap()).len(), 62);
}

#[test]
fn orphan_cleanup_stops_on_a_missing_or_unreadable_manifest_list_of_a_live_snapshot() {
    let (dir, table, storage) = setup();
    for i in 1..4 {
        table.append(&[batch(i * 10, 2)]).unwrap();
    }
    let real = std::fs::canonicalize(table.path()).unwrap();
    age_all(&real, std::time::Duration::from_secs(7200));
    let before = common::tree(table.path());
    let list = table.resolve_path(&table.current_snapshot().unwrap().manifest_list).unwrap();

    // Unreadable (EIO through the storage).
    storage.fail_reads_of(&[list.file_name().unwrap().to_string_lossy().into_owned()]);
    match table.remove_orphans(&orphan_opts()) {
        Err(Error::Io { path, .. }) => assert_eq!(path, list),
        other => panic!("expected Error::Io naming the manifest list, got {other:?}"),
    }
    storage.fail_reads_of(&[]);
    assert_eq!(common::tree(table.path()), before, "nothing deleted");

    // Missing: a live snapshot's list is never "nothing referenced".
    let aside = dir.path().join("list.aside");
    std::fs::rename(&list, &aside).unwrap();
    match table.remove_orphans(&orphan_opts()) {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, list);
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected Error::Io (NotFound) naming the manifest list, got {other:?}"),
    }
    std::fs::rename(&aside, &list).unwrap();
    assert_eq!(common::tree(table.path()), before, "nothing deleted");
    assert_eq!(ids(&Table::open(table.path()).unwrap()).len(), 8);
}

#[test]
fn expiry_stops_on_unreadable_metadata_and_deletes_nothing() {
    // An unreadable old version in the metadata log.
    let (_dir, table, storage) = trimmed_table();
    let before = common::tree(table.path());
    storage.fail_reads_of(&old_versions(&table));
    let opts = floe::ExpireOptions::default()
        .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .retain_last(1);
    match table.expire_snapshots(&opts) {
        Err(Error::Io { path, .. }) => {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(old_versions(&table).contains(&name), "{path:?}");
        }
        other => panic!("expected Error::Io naming an old version, got {other:?}"),
    }
    storage.fail_reads_of(&[]);
    let after = common::tree(table.path());
    let lost: Vec<&String> = before.iter().filter(|p| !after.contains(p)).collect();
    assert!(lost.is_empty(), "nothing deleted, but {lost:?} went");

    // An unreadable manifest list of a retained snapshot.
    let (_dir2, table, storage) = trimmed_table();
    let before = common::tree(table.path());
    let list = table.resolve_path(&table.current_snapshot().unwrap().manifest_list).unwrap();
    storage.fail_reads_of(&[list.file_name().unwrap().to_string_lossy().into_owned()]);
    match table.expire_snapshots(&opts) {
        Err(Error::Io { path, .. }) => assert_eq!(path, list),
        other => panic!("expected Error::Io naming the manifest list, got {other:?}"),
    }
    storage.fail_reads_of(&[]);
    let after = common::tree(table.path());
    let lost: Vec<&String> = before.iter().filter(|p| !after.contains(p)).collect();
    assert!(lost.is_empty(), "nothing deleted, but {lost:?} went");
    // With the fault gone, expiry finishes the job (the metadata log still names what
    // the expired snapshots referenced).
    let report = table.expire_snapshots(&opts).unwrap();
    assert!(report.data_files_removed > 0, "{report}");
    assert_eq!(ids(&Table::open(table.path()).unwrap()).len(), 62);
}
