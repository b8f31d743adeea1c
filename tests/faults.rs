//! Storage faults around the commit point: an error before the link leaves nothing
//! visible and reports failure; an error after the link (the ambiguous case) is
//! resolved by re-reading the version and comparing commit ids, and reported as Ok.

mod common;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{batch, ids, relaxed, schema};
use floe::storage::{ListEntry, LocalStorage, LockGuard, Storage};
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

#[derive(Debug)]
struct Faulty {
    inner: LocalStorage,
    fault: std::sync::Mutex<Fault>,
    publishes: AtomicU32,
}

impl Faulty {
    fn new(root: &Path) -> Arc<Faulty> {
        Arc::new(Faulty {
            inner: LocalStorage::new(root),
            fault: std::sync::Mutex::new(Fault::None),
            publishes: AtomicU32::new(0),
        })
    }
    fn set(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }
    fn get(&self) -> Fault {
        *self.fault.lock().unwrap()
    }
}

fn eio() -> io::Error {
    io::Error::other("injected EIO")
}

impl Storage for Faulty {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if self.get() == Fault::AfterLinkUnreadable && name.ends_with(".metadata.json") {
            return Err(eio());
        }
        self.inner.read(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn write_new(&self, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if self.get() == Fault::ManifestList && name.starts_with("snap-") {
            return Err(eio());
        }
        self.inner.write_new(path, bytes, durable)
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn floe::storage::NewFile>> {
        self.inner.create_new(path)
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_file(path)
    }
    fn write_temp(&self, final_path: &Path, bytes: &[u8], durable: bool) -> io::Result<std::path::PathBuf> {
        self.inner.write_temp(final_path, bytes, durable)
    }
    fn link_temp(&self, temp: &Path, final_path: &Path) -> io::Result<()> {
        self.publishes.fetch_add(1, Ordering::SeqCst);
        match self.get() {
            Fault::BeforeLink => {
                self.set(Fault::None);
                let _ = std::fs::remove_file(temp);
                Err(eio())
            }
            Fault::AfterLink => {
                self.set(Fault::None);
                self.inner.link_temp(temp, final_path)?;
                Err(eio())
            }
            Fault::AfterLinkUnreadable => {
                self.inner.link_temp(temp, final_path)?;
                Err(eio())
            }
            Fault::AlwaysTaken => {
                let _ = std::fs::remove_file(temp);
                Err(io::Error::from(io::ErrorKind::AlreadyExists))
            }
            Fault::TakenOnce => {
                self.set(Fault::None);
                let _ = std::fs::remove_file(temp);
                Err(io::Error::from(io::ErrorKind::AlreadyExists))
            }
            _ => self.inner.link_temp(temp, final_path),
        }
    }
    fn replace_advisory(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.inner.replace_advisory(path, bytes)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<ListEntry>> {
        self.inner.list(dir)
    }
    fn delete(&self, path: &Path) -> io::Result<()> {
        self.inner.delete(path)
    }
    fn try_lock_exclusive(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        self.inner.try_lock_exclusive(path)
    }
    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard> {
        self.inner.lock_exclusive(path)
    }
}

fn setup() -> (tempfile::TempDir, Table, Arc<Faulty>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), relaxed()).unwrap();
    let real = std::fs::canonicalize(&path).unwrap();
    let storage = Faulty::new(&real);
    let table = Table::open_with(&path, relaxed().storage(storage.clone())).unwrap();
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
    let before = storage.publishes.load(Ordering::SeqCst);
    let err = table.append(&[batch(10, 2)]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(storage.publishes.load(Ordering::SeqCst), before, "no version attempted");
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
