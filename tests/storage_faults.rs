//! Fault-injecting storage conformance suite (tantivy / object_store style).
//!
//! Two halves:
//!
//! 1. **The `Storage` contract** (write-once, exclusive create and publish, fsync of files
//!    and directories, listing, deletes confined to the root), checked by one function
//!    against the real [`LocalStorage`] and against [`FaultStorage`] in pass-through mode.
//! 2. **A commit under a failure at every k**: [`FaultStorage`] counts every operation
//!    (reads, lists, creates, each streamed write of a data file, fsyncs, links, deletes,
//!    locks) and fails the k-th one with EIO, ENOSPC, a short (torn) write, or an error
//!    *after* the operation succeeded (for `link_temp` that is the ambiguous commit
//!    point). For every k up to the number of operations a clean commit performs, in
//!    durable and relaxed mode, for a plain commit and for one that must rebase over a
//!    concurrent commit, the test then checks through a fresh handle on the real file
//!    system: the table opens; the versions are contiguous; it holds the whole commit or
//!    none of it; the caller got `Ok` only if the commit landed (and for every error but
//!    `CommitStateUnknown`, it did not land); every file the metadata references exists
//!    with its recorded size; and a new append succeeds.
//!
//! `FLOE_FAULT_SUMMARY=1` prints the number of injected faults and outcomes.

mod common;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{batch, ids, schema};
use floe::storage::{ListEntry, LocalStorage, LockGuard, NewFile, Storage};
use floe::{Durability, Error, Table, TableOptions};

// ---------------------------------------------------------------------------------------
// The fault-injecting storage
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// The operation fails with EIO and does nothing.
    Eio,
    /// The operation fails with ENOSPC and does nothing.
    Enospc,
    /// Part of the bytes reach the file, then the operation fails (a torn write; the
    /// partial file is left behind). Non-writing operations fail like EIO.
    ShortWrite,
    /// The operation takes full effect, then reports EIO (a lost acknowledgement; on
    /// `link_temp` this is the ambiguous commit point).
    AfterSuccess,
}

const KINDS: [Kind; 4] = [Kind::Eio, Kind::Enospc, Kind::ShortWrite, Kind::AfterSuccess];

/// Shared counters (data-file writers hold them too).
#[derive(Debug)]
struct Faults {
    armed: AtomicBool,
    ops: AtomicU64,
    fail_at: AtomicU64,
    kind: Mutex<Kind>,
    fired: Mutex<Option<String>>,
    /// When set, only operations of this name (and, if given, on a path with this
    /// file name) are counted and can fail.
    only: Mutex<Option<(&'static str, Option<&'static str>)>>,
    /// Every counted operation from `fail_at` on fails, not only the `fail_at`-th.
    repeat: AtomicBool,
}

impl Faults {
    /// Counts an operation; `Some(kind)` when this one must fail.
    fn op(&self, what: &str, path: &Path) -> Option<Kind> {
        if !self.armed.load(Ordering::SeqCst) {
            return None;
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if let Some((op, file)) = *self.only.lock().unwrap()
            && (op != what || file.is_some_and(|f| f != name))
        {
            return None;
        }
        let n = self.ops.fetch_add(1, Ordering::SeqCst);
        let fail_at = self.fail_at.load(Ordering::SeqCst);
        if n != fail_at && !(self.repeat.load(Ordering::SeqCst) && n > fail_at) {
            return None;
        }
        let kind = *self.kind.lock().unwrap();
        *self.fired.lock().unwrap() = Some(format!("{what} {name}"));
        Some(kind)
    }
}

fn injected(kind: Kind) -> io::Error {
    match kind {
        Kind::Enospc | Kind::ShortWrite => io::Error::from_raw_os_error(28),
        Kind::Eio | Kind::AfterSuccess => io::Error::from_raw_os_error(5),
    }
}

/// [`LocalStorage`] that fails the k-th operation once armed.
#[derive(Debug)]
struct FaultStorage {
    inner: LocalStorage,
    faults: Arc<Faults>,
}

impl FaultStorage {
    fn new(root: &Path) -> Arc<FaultStorage> {
        Arc::new(FaultStorage {
            inner: LocalStorage::new(root),
            faults: Arc::new(Faults {
                armed: AtomicBool::new(false),
                ops: AtomicU64::new(0),
                fail_at: AtomicU64::new(u64::MAX),
                kind: Mutex::new(Kind::Eio),
                fired: Mutex::new(None),
                only: Mutex::new(None),
                repeat: AtomicBool::new(false),
            }),
        })
    }
    /// Starts counting; the `fail_at`-th operation (0-based) fails with `kind`.
    fn arm(&self, kind: Kind, fail_at: u64) {
        *self.faults.kind.lock().unwrap() = kind;
        *self.faults.fired.lock().unwrap() = None;
        self.faults.fail_at.store(fail_at, Ordering::SeqCst);
        self.faults.ops.store(0, Ordering::SeqCst);
        self.faults.armed.store(true, Ordering::SeqCst);
    }
    /// Like [`FaultStorage::arm`], counting only operations named `what` (`link_temp`,
    /// `sync_dir`, …).
    fn arm_only(&self, what: &'static str, kind: Kind, fail_at: u64) {
        *self.faults.only.lock().unwrap() = Some((what, None));
        self.arm(kind, fail_at);
    }
    /// Fails every operation named `what` on a path whose file name is `file`, from
    /// now until disarmed.
    fn arm_always(&self, what: &'static str, file: &'static str, kind: Kind) {
        *self.faults.only.lock().unwrap() = Some((what, Some(file)));
        self.faults.repeat.store(true, Ordering::SeqCst);
        self.arm(kind, 0);
    }
    /// Stops counting; returns (operations counted, the operation that failed).
    fn disarm(&self) -> (u64, Option<String>) {
        self.faults.armed.store(false, Ordering::SeqCst);
        (self.faults.ops.load(Ordering::SeqCst), self.faults.fired.lock().unwrap().take())
    }
    fn op(&self, what: &str, path: &Path) -> Option<Kind> {
        self.faults.op(what, path)
    }
}

/// Writes the first half of `bytes` to a fresh file at `path` (a torn write).
fn torn(path: &Path, bytes: &[u8]) {
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        let _ = f.write_all(&bytes[..bytes.len() / 2]);
    }
}

struct FaultFile {
    inner: Box<dyn NewFile>,
    faults: Arc<Faults>,
    path: PathBuf,
}

impl Write for FaultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.faults.op("write", &self.path) {
            None => self.inner.write(buf),
            Some(Kind::ShortWrite) => {
                let _ = self.inner.write_all(&buf[..buf.len() / 2]);
                Err(injected(Kind::ShortWrite))
            }
            Some(Kind::AfterSuccess) => {
                self.inner.write_all(buf)?;
                Err(injected(Kind::AfterSuccess))
            }
            Some(k) => Err(injected(k)),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl NewFile for FaultFile {
    fn complete(&mut self, durable: bool) -> io::Result<()> {
        match self.faults.op("complete", &self.path) {
            None => self.inner.complete(durable),
            Some(Kind::AfterSuccess) => {
                self.inner.complete(durable)?;
                Err(injected(Kind::AfterSuccess))
            }
            Some(k) => Err(injected(k)),
        }
    }
}

/// Runs `f` and then fails for `AfterSuccess`, fails without running it otherwise.
fn after<T>(kind: Option<Kind>, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    match kind {
        None => f(),
        Some(Kind::AfterSuccess) => {
            f()?;
            Err(injected(Kind::AfterSuccess))
        }
        Some(k) => Err(injected(k)),
    }
}

impl Storage for FaultStorage {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        after(self.op("read", path), || self.inner.read(path))
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        after(self.op("exists", path), || self.inner.exists(path))
    }
    fn write_new(&self, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
        match self.op("write_new", path) {
            Some(Kind::ShortWrite) => {
                torn(path, bytes);
                Err(injected(Kind::ShortWrite))
            }
            k => after(k, || self.inner.write_new(path, bytes, durable)),
        }
    }
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn NewFile>> {
        let file = after(self.op("create_new", path), || self.inner.create_new(path))?;
        Ok(Box::new(FaultFile { inner: file, faults: self.faults.clone(), path: path.to_path_buf() }))
    }
    fn sync_file(&self, path: &Path) -> io::Result<()> {
        after(self.op("sync_file", path), || self.inner.sync_file(path))
    }
    fn write_temp(&self, final_path: &Path, bytes: &[u8], durable: bool) -> io::Result<PathBuf> {
        match self.op("write_temp", final_path) {
            Some(Kind::ShortWrite) => {
                let name = final_path.file_name().unwrap().to_string_lossy();
                torn(&final_path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple())), bytes);
                Err(injected(Kind::ShortWrite))
            }
            k => after(k, || self.inner.write_temp(final_path, bytes, durable)),
        }
    }
    fn link_temp(&self, temp: &Path, final_path: &Path) -> io::Result<()> {
        match self.op("link_temp", final_path) {
            None => self.inner.link_temp(temp, final_path),
            Some(Kind::AfterSuccess) => {
                self.inner.link_temp(temp, final_path)?;
                Err(injected(Kind::AfterSuccess))
            }
            Some(k) => {
                let _ = std::fs::remove_file(temp);
                Err(injected(k))
            }
        }
    }
    fn replace_advisory(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        after(self.op("replace_advisory", path), || self.inner.replace_advisory(path, bytes))
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        after(self.op("sync_dir", dir), || self.inner.sync_dir(dir))
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        after(self.op("create_dir_all", dir), || self.inner.create_dir_all(dir))
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<ListEntry>> {
        after(self.op("list", dir), || self.inner.list(dir))
    }
    fn delete(&self, path: &Path) -> io::Result<()> {
        after(self.op("delete", path), || self.inner.delete(path))
    }
    fn try_lock_exclusive(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        after(self.op("try_lock", path), || self.inner.try_lock_exclusive(path))
    }
    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard> {
        after(self.op("lock", path), || self.inner.lock_exclusive(path))
    }
}

// ---------------------------------------------------------------------------------------
// 1. The Storage contract, against LocalStorage and the fault storage (pass-through)
// ---------------------------------------------------------------------------------------

#[track_caller]
fn kind(r: io::Result<()>) -> io::ErrorKind {
    r.expect_err("the operation must fail").kind()
}

fn contract(s: &dyn Storage, root: &Path, outside: &Path) {
    let a = root.join("a");
    // Write-once: exclusive create, never overwrite.
    s.write_new(&a, b"one", true).unwrap();
    assert_eq!(kind(s.write_new(&a, b"two", false)), io::ErrorKind::AlreadyExists);
    assert_eq!(s.read(&a).unwrap(), b"one");
    assert!(s.create_new(&a).err().map(|e| e.kind()) == Some(io::ErrorKind::AlreadyExists));
    // Streaming create: bytes land, complete() fsyncs, the name is then taken.
    let b = root.join("b");
    let mut f = s.create_new(&b).unwrap();
    f.write_all(b"stream").unwrap();
    f.write_all(b"ed").unwrap();
    f.complete(true).unwrap();
    drop(f);
    assert_eq!(s.read(&b).unwrap(), b"streamed");
    s.sync_file(&b).unwrap();
    assert_eq!(kind(s.create_new(&b).map(drop)), io::ErrorKind::AlreadyExists);
    // Exclusive publish: a complete file or AlreadyExists, the temp file is gone either way.
    let v = root.join("v1");
    s.publish_exclusive(&v, b"first", true).unwrap();
    assert_eq!(kind(s.publish_exclusive(&v, b"second", true)), io::ErrorKind::AlreadyExists);
    assert_eq!(s.read(&v).unwrap(), b"first");
    let t = s.write_temp(&v, b"third", false).unwrap();
    assert_eq!(kind(s.link_temp(&t, &v)), io::ErrorKind::AlreadyExists);
    assert!(!s.exists(&t).unwrap(), "link_temp removes the temp file");
    // Directories: create, fsync, list (names and sizes).
    let d = root.join("d/e");
    s.create_dir_all(&d).unwrap();
    s.sync_dir(&d).unwrap();
    s.sync_dir(root).unwrap();
    s.write_new(&d.join("x"), b"12345", false).unwrap();
    let listed = s.list(&d).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].name.as_str(), listed[0].size, listed[0].is_dir), ("x", 5, false));
    assert!(s.list(root).unwrap().iter().any(|e| e.name == "d" && e.is_dir));
    assert!(!s.list(root).unwrap().iter().any(|e| e.name.ends_with(".tmp")), "no temp file left");
    assert_eq!(s.list(&root.join("nope")).unwrap_err().kind(), io::ErrorKind::NotFound);
    // Advisory replace overwrites (the only method allowed to).
    let h = root.join("hint");
    s.replace_advisory(&h, b"1").unwrap();
    s.replace_advisory(&h, b"2").unwrap();
    assert_eq!(s.read(&h).unwrap(), b"2");
    // Deletes.
    s.delete(&a).unwrap();
    assert!(!s.exists(&a).unwrap());
    assert_eq!(kind(s.delete(&a)), io::ErrorKind::NotFound);
    // Locks: exclusive while held.
    let l = root.join("lock");
    let g = s.try_lock_exclusive(&l).unwrap().expect("free lock");
    assert!(s.try_lock_exclusive(&l).unwrap().is_none(), "held lock is exclusive");
    drop(g);
    assert!(s.try_lock_exclusive(&l).unwrap().is_some());
    // Confinement: writes, creates, links and deletes outside the root are refused,
    // lexically and through a symlinked directory; reads are not confined.
    let victim = outside.join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(outside, root.join("escape")).unwrap();
    let escapes = [victim.clone(), root.join("../outside-file"), root.join("escape/victim"), root.join("escape/new")];
    for p in &escapes {
        let denied = io::ErrorKind::PermissionDenied;
        assert_eq!(kind(s.write_new(p, b"x", false)), denied, "write_new {p:?}");
        assert_eq!(kind(s.create_new(p).map(drop)), denied, "create_new {p:?}");
        assert_eq!(kind(s.write_temp(p, b"x", false).map(drop)), denied, "write_temp {p:?}");
        assert_eq!(kind(s.publish_exclusive(p, b"x", false)), denied, "publish {p:?}");
        assert_eq!(kind(s.replace_advisory(p, b"x")), denied, "replace {p:?}");
        assert_eq!(kind(s.delete(p)), denied, "delete {p:?}");
        assert_eq!(kind(s.create_dir_all(&p.join("sub"))), denied, "mkdir {p:?}");
    }
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(!outside.join("new").exists());
    assert_eq!(s.read(&victim).unwrap(), b"keep");
}

#[test]
fn local_storage_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    contract(&LocalStorage::new(&root), &root, &outside);
}

#[test]
fn fault_storage_passes_the_contract_when_not_failing() {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let s = FaultStorage::new(&root);
    s.arm(Kind::Eio, u64::MAX);
    contract(s.as_ref(), &root, &outside);
    assert!(s.disarm().0 > 30, "the fault storage counted the contract's operations");
}

#[test]
fn a_table_through_a_symlinked_directory_works_and_stays_confined() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    Table::create(&real, schema()).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let t = Table::open(&link).unwrap();
    t.append(&[batch(0, 3)]).unwrap();
    assert_eq!(ids(&Table::open(&real).unwrap()), vec![0, 1, 2]);
    assert_eq!(ids(&Table::open(&link).unwrap()), vec![0, 1, 2]);
}

// ---------------------------------------------------------------------------------------
// 2. A commit under a failure at every k
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    /// The transaction's base is the newest version.
    Plain,
    /// Another commit lands between staging and commit: the commit must rebase.
    Rebase,
    /// A table partitioned by `bucket[2](id)`: the commit writes one data file per
    /// partition directory (`data/id_bucket=<n>/`), created with its first file.
    Partitioned,
}

#[derive(Default, Debug)]
struct Tally {
    runs: u64,
    faults: u64,
    ok: u64,
    failed: u64,
    unknown: u64,
    unknown_landed: u64,
    orphans: u64,
    by_op: BTreeMap<String, u64>,
}

fn options(durable: bool) -> TableOptions {
    let d = if durable { Durability::Durable } else { Durability::Relaxed };
    TableOptions::default().durability(d).property("floe.commit.retain-snapshots", "0")
}

/// Parquet files under the table's data directory (partition directories included),
/// and manifests / manifest lists under metadata.
fn data_and_avro_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, ext, out);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join("data"), "parquet", &mut out);
    walk(&root.join("metadata"), "avro", &mut out);
    out
}

/// Every file referenced by any snapshot (manifest lists, manifests, data files) exists
/// with its recorded size; returns the set of referenced paths.
fn check_references(t: &Table, what: &str) -> std::collections::HashSet<PathBuf> {
    let mut live = std::collections::HashSet::new();
    for snap in t.snapshots() {
        let list = floe::testing::uri_to_path(&snap.manifest_list);
        assert!(list.exists(), "{what}: manifest list {list:?} missing");
        live.insert(list);
        for m in t.manifests(&snap).unwrap() {
            let p = floe::testing::uri_to_path(&m.manifest_path);
            let len = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{what}: manifest {p:?}: {e}")).len();
            assert_eq!(len as i64, m.manifest_length, "{what}: manifest {p:?} incomplete");
            live.insert(p);
        }
    }
    for f in t.scan().plan().unwrap().files {
        let p = floe::testing::uri_to_path(&f.file_path);
        let len = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{what}: data file {p:?}: {e}")).len();
        assert_eq!(len as i64, f.file_size_in_bytes, "{what}: data file {p:?} incomplete");
        live.insert(p);
    }
    live
}

/// One commit with the `k`-th operation failing with `kind`; checks every invariant.
/// Returns false when `k` was past the last operation (no fault fired).
fn run_one(durable: bool, scenario: Scenario, kind: Kind, k: u64, tally: &mut Tally) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let plain = if scenario == Scenario::Partitioned {
        let spec = floe::spec::PartitionSpec::builder(&schema()).bucket("id", 2).build().unwrap();
        Table::create_with(&path, schema(), options(durable).partition_spec(spec)).unwrap()
    } else {
        Table::create_with(&path, schema(), options(durable)).unwrap()
    };
    plain.append(&[batch(0, 2)]).unwrap();
    let real = std::fs::canonicalize(&path).unwrap();
    let storage = FaultStorage::new(&real);
    let table = Table::open_with(&path, options(durable).storage(storage.clone())).unwrap();

    let mut expected_before = vec![0, 1];
    storage.arm(kind, k);
    let mut tx = table.new_transaction();
    let commit_id = tx.commit_id();
    let staged = tx.append(&batch(100, 3));
    if scenario == Scenario::Rebase {
        // Not counted: the concurrent writer uses the real storage.
        plain.append(&[batch(50, 1)]).unwrap();
        expected_before.push(50);
    }
    let res = match staged {
        Ok(()) => tx.commit(),
        Err(e) => {
            drop(tx);
            Err(e)
        }
    };
    let (ops, fired) = storage.disarm();
    let what = format!("durable={durable} {scenario:?} {kind:?} k={k} ({fired:?}, result {res:?})");
    let Some(fired) = fired else {
        assert!(res.is_ok(), "{what}: no fault fired but the commit failed");
        assert!(k >= ops, "{what}");
        return false;
    };
    tally.runs += 1;
    tally.faults += 1;
    *tally.by_op.entry(format!("{kind:?} {}", fired.split(' ').next().unwrap_or(""))).or_default() += 1;

    // The table opens through a fresh handle on the real file system.
    let fresh = Table::open(&path).unwrap_or_else(|e| panic!("{what}: table does not open: {e}"));
    // Versions are contiguous.
    for v in 1..=fresh.version() {
        assert!(real.join(format!("metadata/v{v}.metadata.json")).exists(), "{what}: v{v} missing");
    }
    let landed: Vec<_> = fresh.snapshots().into_iter().filter(|s| s.commit_id() == Some(commit_id.as_str())).collect();
    assert!(landed.len() <= 1, "{what}: commit present {} times", landed.len());
    let landed = landed.len() == 1;
    match &res {
        Ok(report) => {
            tally.ok += 1;
            assert!(landed, "{what}: Ok but the commit is not in the table");
            let md = fresh.metadata_at_version(report.version).unwrap();
            assert_eq!(md.current_snapshot().unwrap().commit_id(), Some(commit_id.as_str()), "{what}");
        }
        Err(_) if kind == Kind::AfterSuccess && fired.starts_with("link_temp") => {
            panic!("{what}: the version was created (ambiguous error), the outcome must be resolved as Ok")
        }
        Err(Error::CommitStateUnknown { commit_id: c, .. }) => {
            assert_eq!(c, &commit_id);
            tally.unknown += 1;
            tally.unknown_landed += landed as u64;
        }
        Err(_) => {
            tally.failed += 1;
            assert!(!landed, "{what}: reported failed but the commit landed");
        }
    }
    // The whole commit or none of it; nothing twice.
    let mut expected = expected_before;
    if landed {
        expected.extend([100, 101, 102]);
    }
    expected.sort();
    assert_eq!(ids(&fresh), expected, "{what}");
    // Every referenced file exists and is complete.
    let live = check_references(&fresh, &what);
    // Orphans (unreferenced files the failure left) are never referenced; the failed
    // transaction removes its own files unless the fault hit one of those deletes.
    let orphans = data_and_avro_files(&real).iter().filter(|p| !live.contains(*p)).count() as u64;
    if !fired.starts_with("delete") {
        assert_eq!(orphans, 0, "{what}: the failed commit left files behind");
    }
    tally.orphans += orphans;
    // A new append succeeds, through the faulty handle too.
    table.append(&[batch(200, 1)]).unwrap_or_else(|e| panic!("{what}: next append failed: {e}"));
    expected.push(200);
    assert_eq!(ids(&Table::open(&path).unwrap()), expected, "{what}");
    true
}

fn every_k(durable: bool, scenario: Scenario) -> Tally {
    let mut tally = Tally::default();
    for kind in KINDS {
        let mut k = 0;
        while run_one(durable, scenario, kind, k, &mut tally) {
            k += 1;
        }
        assert!(k > 10, "a commit performs more than 10 storage operations ({k})");
    }
    if std::env::var_os("FLOE_FAULT_SUMMARY").is_some() {
        eprintln!("durable={durable} {scenario:?}: {tally:#?}");
    }
    tally
}

#[test]
fn durable_commit_survives_a_fault_at_every_operation() {
    let t = every_k(true, Scenario::Plain);
    assert!(t.ok > 0 && t.failed > 0, "{t:?}");
}

#[test]
fn relaxed_commit_survives_a_fault_at_every_operation() {
    every_k(false, Scenario::Plain);
}

#[test]
fn rebasing_commit_survives_a_fault_at_every_operation() {
    every_k(true, Scenario::Rebase);
}

#[test]
fn partitioned_commit_survives_a_fault_at_every_operation() {
    every_k(true, Scenario::Partitioned);
}

// ---------------------------------------------------------------------------------------
// 3. Metadata-only commits at an ambiguous commit point
// ---------------------------------------------------------------------------------------

/// Every kind of metadata-only commit (no new snapshot: nothing carries a commit id in a
/// snapshot summary), its effect, and a check that the effect is in the table.
type MetadataCommit = (&'static str, fn(&Table, &[i64]) -> floe::Result<u64>, fn(&Table, &[i64]) -> bool);

fn metadata_commits() -> Vec<MetadataCommit> {
    use floe::spec::Transform;
    use floe::{ExpireOptions, PrimitiveType};
    vec![
        (
            "schema change",
            |t, _| Ok(t.update_schema().add_column("extra", PrimitiveType::Int).commit()?.version),
            |t, _| t.schema().fields().iter().any(|f| f.name == "extra"),
        ),
        (
            "spec change",
            |t, _| Ok(t.update_spec().add_field("id", Transform::Bucket(4)).commit()?.version),
            |t, _| t.metadata().default_spec().is_some_and(|s| s.fields.len() == 1),
        ),
        ("tag", |t, s| Ok(t.create_tag("v1", s[0])?.versions()[0]), |t, s| t.tags().get("v1") == Some(&s[0])),
        (
            "remove tag",
            |t, s| {
                t.create_tag("gone", s[0])?;
                Ok(t.remove_tag("gone")?.versions()[0])
            },
            |t, _| !t.tags().contains_key("gone"),
        ),
        (
            "rollback",
            |t, s| Ok(t.rollback_to(s[0])?.versions()[0]),
            |t, s| t.current_snapshot().map(|c| c.snapshot_id) == Some(s[0]),
        ),
        (
            "set current",
            |t, s| {
                t.rollback_to(s[0])?;
                Ok(t.set_current(s[2])?.versions()[0])
            },
            |t, s| t.current_snapshot().map(|c| c.snapshot_id) == Some(s[2]),
        ),
        (
            "expiry",
            |t, _| {
                Ok(t.expire_snapshots(
                    &ExpireOptions::default()
                        .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                        .retain_last(1),
                )?
                .versions()[0])
            },
            |t, s| t.snapshots().len() == 1 && t.current_snapshot().map(|c| c.snapshot_id) == Some(s[2]),
        ),
    ]
}

/// An error after the link succeeded (the ambiguous commit point) on a metadata-only
/// commit of every kind is resolved as `Ok`: the caller learns the change is in the
/// table, at the version it reports, once, instead of a lost race (`ConcurrentModification`,
/// "ref already exists") for its own change.
#[test]
fn ambiguous_metadata_only_commits_of_every_kind_resolve_as_ok() {
    for (what, commit, present) in metadata_commits() {
        for durable in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t");
            let plain = Table::create_with(&path, schema(), options(durable)).unwrap();
            for k in 0..3 {
                plain.append(&[batch(k * 10, 2)]).unwrap();
            }
            let snaps: Vec<i64> = plain.snapshots().iter().map(|s| s.snapshot_id).collect();
            let storage = FaultStorage::new(&std::fs::canonicalize(&path).unwrap());
            let table = Table::open_with(&path, options(durable).storage(storage.clone())).unwrap();
            let before = table.version();
            // The last link of the operation (its change; "remove tag" and "set current"
            // link a preparatory version first) reports EIO after it succeeded.
            let links = if matches!(what, "remove tag" | "set current") { 1 } else { 0 };
            storage.arm_only("link_temp", Kind::AfterSuccess, links);
            let res = commit(&table, &snaps);
            let (_, fired) = storage.disarm();
            let ctx = format!("{what} (durable={durable}, fault {fired:?})");
            assert!(fired.is_some_and(|f| f.starts_with("link_temp")), "{ctx}: the fault fired at the link");
            let version = res.unwrap_or_else(|e| panic!("{ctx}: the change landed, the outcome must be Ok: {e}"));
            let fresh = Table::open(&path).unwrap();
            assert_eq!(fresh.version(), version, "{ctx}: exactly the reported version, nothing after it");
            assert_eq!(version, before + 1 + links, "{ctx}");
            assert!(present(&fresh, &snaps), "{ctx}: the change is in the table");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. A durable commit whose directory fsync fails
// ---------------------------------------------------------------------------------------

/// When the fsync of `metadata/` after the commit point keeps failing, a durable commit
/// is not reported as a plain success: `Error::CommittedNotDurable` names the version
/// and commit id, says it is committed (`is_committed`), and the commit is in the table
/// once; the handle goes on from it. (A relaxed commit never fsyncs, so it is `Ok`.)
#[test]
fn a_failed_directory_fsync_after_the_commit_point_is_committed_not_durable() {
    for kind in [Kind::Eio, Kind::AfterSuccess] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        Table::create_with(&path, schema(), options(true)).unwrap().append(&[batch(0, 2)]).unwrap();
        let storage = FaultStorage::new(&std::fs::canonicalize(&path).unwrap());
        let table = Table::open_with(&path, options(true).storage(storage.clone())).unwrap();
        storage.arm_always("sync_dir", "metadata", kind);
        let mut tx = table.new_transaction();
        let commit_id = tx.commit_id();
        tx.append(&batch(10, 3)).unwrap();
        let res = tx.commit();
        let (syncs, fired) = storage.disarm();
        assert!(fired.is_some() && syncs >= 2, "{kind:?}: the metadata fsync failed ({syncs} tries)");
        match res {
            Err(ref e @ Error::CommittedNotDurable { version, commit_id: ref c, .. }) => {
                assert_eq!((version, c.as_str()), (3, commit_id.as_str()), "{kind:?}");
                assert!(e.is_committed(), "{kind:?}");
                assert!(e.to_string().contains("do not retry"), "{e}");
            }
            other => panic!("{kind:?}: expected CommittedNotDurable, got {other:?}"),
        }
        let fresh = Table::open(&path).unwrap();
        assert_eq!(fresh.version(), 3);
        assert_eq!(fresh.current_snapshot().unwrap().commit_id(), Some(commit_id.as_str()));
        assert_eq!(ids(&fresh), vec![0, 1, 10, 11, 12]);
        // Its files were kept (it is committed) and the handle goes on from it.
        check_references(&fresh, "after CommittedNotDurable");
        assert_eq!(table.version(), 3);
        table.append(&[batch(20, 1)]).unwrap();
        assert_eq!(ids(&Table::open(&path).unwrap()), vec![0, 1, 10, 11, 12, 20]);
    }
    // Relaxed: no fsync, a plain Ok.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), options(false)).unwrap();
    let storage = FaultStorage::new(&std::fs::canonicalize(&path).unwrap());
    let table = Table::open_with(&path, options(false).storage(storage.clone())).unwrap();
    storage.arm_always("sync_dir", "metadata", Kind::Eio);
    table.append(&[batch(0, 1)]).unwrap();
    assert_eq!(storage.disarm().1, None, "a relaxed commit does not fsync metadata/");
}
