//! [`FaultStorage`]: wraps any [`Storage`] and makes chosen operations fail, for tests
//! of what floe does when storage fails at any point of a commit (feature `testing`).
//!
//! Every operation of the contract is counted and can be failed, named by [`Op`]:
//! reads, heads, ranged reads, each streamed write of a data file and its completion,
//! creates, fsyncs, stages, the commit point (`publish`), advisory writes, listings,
//! deletes and locks. The batch forms are not overridden: their defaults call the
//! single forms, so every item is an operation of its own. A [`Rule`] says which
//! operations fail (an operation kind, a key's last segment or suffix) and when (the
//! k-th matching one, or every one from the k-th on), and how ([`Fault`]): an error that
//! does nothing, a torn write that leaves half the bytes, or an error *after* the
//! operation took full effect (a lost acknowledgement: on `publish` the ambiguous
//! commit point). Without rules it passes everything through unchanged, so the
//! conformance suite holds for it as for the store it wraps.

use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::io::{self, Write};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::io::storage::{Capabilities, Key, Listing, LockGuard, NewFile, ObjectMeta, RandomAccess, Staged, Storage};

/// How an operation fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Fails with EIO and does nothing.
    Eio,
    /// Fails with ENOSPC and does nothing.
    Enospc,
    /// Part of the bytes reach the object, then the operation fails (a torn write; the
    /// partial object is left behind). Operations that write nothing fail like EIO.
    ShortWrite,
    /// The operation takes full effect, then reports EIO (a lost acknowledgement).
    AfterSuccess,
    /// Fails with `AlreadyExists` and does nothing (a publish that lost a race).
    AlreadyExists,
}

impl Fault {
    /// Every fault that models an I/O failure (not [`Fault::AlreadyExists`]).
    pub const IO: [Fault; 4] = [Fault::Eio, Fault::Enospc, Fault::ShortWrite, Fault::AfterSuccess];

    fn error(self) -> io::Error {
        match self {
            Fault::Enospc | Fault::ShortWrite => io::Error::from_raw_os_error(28),
            Fault::Eio | Fault::AfterSuccess => io::Error::from_raw_os_error(5),
            Fault::AlreadyExists => io::Error::new(io::ErrorKind::AlreadyExists, "injected: the key is taken"),
        }
    }
}

/// The operations of the contract, as [`FaultStorage`] counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`Storage::read`].
    Read,
    /// [`Storage::open_read`].
    OpenRead,
    /// [`RandomAccess::read_range`] on a handle from `open_read`.
    ReadRange,
    /// [`Storage::head`].
    Head,
    /// [`Storage::exists`].
    Exists,
    /// [`Storage::put_new`].
    PutNew,
    /// [`Storage::create_new`].
    CreateNew,
    /// One `write` to a [`NewFile`].
    Write,
    /// [`NewFile::complete`].
    Complete,
    /// [`Storage::sync_file`].
    SyncFile,
    /// [`Storage::stage_exclusive`].
    Stage,
    /// [`Storage::publish_staged`]: the commit point.
    Publish,
    /// [`Storage::put_advisory`].
    PutAdvisory,
    /// [`Storage::create_dir_all`].
    CreateDir,
    /// [`Storage::sync_dir`].
    SyncDir,
    /// [`Storage::sync_root_entry`].
    SyncRootEntry,
    /// [`Storage::list`].
    List,
    /// [`Storage::delete`].
    Delete,
    /// [`Storage::try_lock_exclusive`].
    TryLock,
    /// [`Storage::lock_exclusive`].
    Lock,
}

impl Op {
    /// The operation's name (`publish`, `sync_dir`, …), as reports show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::OpenRead => "open_read",
            Op::ReadRange => "read_range",
            Op::Head => "head",
            Op::Exists => "exists",
            Op::PutNew => "put_new",
            Op::CreateNew => "create_new",
            Op::Write => "write",
            Op::Complete => "complete",
            Op::SyncFile => "sync_file",
            Op::Stage => "stage",
            Op::Publish => "publish",
            Op::PutAdvisory => "put_advisory",
            Op::CreateDir => "create_dir",
            Op::SyncDir => "sync_dir",
            Op::SyncRootEntry => "sync_root_entry",
            Op::List => "list",
            Op::Delete => "delete",
            Op::TryLock => "try_lock",
            Op::Lock => "lock",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which operations fail, when and how. Built with [`Rule::new`] and its setters.
#[derive(Debug, Clone)]
pub struct Rule {
    fault: Fault,
    op: Option<Op>,
    name: Option<String>,
    prefix: Option<String>,
    suffix: Option<String>,
    at: u64,
    repeat: bool,
}

impl Rule {
    /// Fails the first operation of any kind with `fault`.
    pub fn new(fault: Fault) -> Rule {
        Rule { fault, op: None, name: None, prefix: None, suffix: None, at: 0, repeat: false }
    }

    /// Only operations of kind `op` match.
    pub fn op(mut self, op: Op) -> Rule {
        self.op = Some(op);
        self
    }

    /// Only operations on a key whose last segment is `name` match (a directory's own
    /// name for `sync_dir`; the empty name for the root).
    pub fn name(mut self, name: impl Into<String>) -> Rule {
        self.name = Some(name.into());
        self
    }

    /// Only operations on a key whose last segment starts with `prefix` match.
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Rule {
        self.prefix = Some(prefix.into());
        self
    }

    /// Only operations on a key ending with `suffix` match.
    pub fn suffix(mut self, suffix: impl Into<String>) -> Rule {
        self.suffix = Some(suffix.into());
        self
    }

    /// The `k`-th matching operation fails (0-based; the first by default).
    pub fn at(mut self, k: u64) -> Rule {
        self.at = k;
        self
    }

    /// Every matching operation from the `at`-th on fails, not only that one.
    pub fn always(mut self) -> Rule {
        self.repeat = true;
        self
    }

    fn matches(&self, op: Op, key: &str) -> bool {
        let name = key.rsplit('/').next().unwrap_or(key);
        self.op.is_none_or(|o| o == op)
            && self.name.as_deref().is_none_or(|n| n == name)
            && self.prefix.as_deref().is_none_or(|p| name.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<(Rule, u64)>,
    counted: u64,
    fired: Option<String>,
}

/// A function run once, just before the next operation of a kind.
type Hook = Box<dyn FnOnce() + Send>;

/// The shared rule book (data-file writers and read handles hold it too): the rules,
/// the calls per operation kind, and the hooks waiting to run.
#[derive(Default)]
struct Faults(Mutex<State>, Mutex<HashMap<Op, u64>>, Mutex<Vec<(Op, Hook)>>);

impl Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Faults").field(&self.0).field(&self.1).finish_non_exhaustive()
    }
}

impl Faults {
    /// Counts an operation (running a hook waiting for it first); `Some(fault)` when it
    /// must fail.
    fn op(&self, op: Op, key: &str) -> Option<Fault> {
        let hook = {
            let mut hooks = crate::sync::lock(&self.2);
            hooks.iter().position(|(o, _)| *o == op).map(|i| hooks.remove(i).1)
        };
        if let Some(hook) = hook {
            hook();
        }
        *crate::sync::lock(&self.1).entry(op).or_default() += 1;
        let mut state = crate::sync::lock(&self.0);
        let mut matched = false;
        let mut fires = None;
        for (rule, seen) in &mut state.rules {
            if !rule.matches(op, key) {
                continue;
            }
            matched = true;
            let n = *seen;
            *seen += 1;
            if fires.is_none() && (n == rule.at || (rule.repeat && n > rule.at)) {
                fires = Some(rule.fault);
            }
        }
        state.counted += matched as u64;
        if let Some(f) = fires
            && state.fired.is_none()
        {
            let name = key.rsplit('/').next().unwrap_or(key);
            state.fired = Some(format!("{op} {name}"));
            return Some(f);
        }
        fires
    }
}

/// A [`Storage`] that fails operations by [`Rule`]s (see the module docs).
pub struct FaultStorage {
    inner: Arc<dyn Storage>,
    faults: Arc<Faults>,
}

impl Debug for FaultStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultStorage").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl FaultStorage {
    /// Wraps `inner`, passing everything through until a rule is added.
    pub fn new(inner: Arc<dyn Storage>) -> Arc<FaultStorage> {
        Arc::new(FaultStorage { inner, faults: Arc::default() })
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn Storage> {
        &self.inner
    }

    /// Adds a rule (rules act together; the first that fires decides the fault).
    pub fn inject(&self, rule: Rule) {
        crate::sync::lock(&self.faults.0).rules.push((rule, 0));
    }

    /// Replaces every rule by one: the `k`-th operation of any kind (0-based) fails
    /// with `fault`; counting starts now.
    pub fn arm(&self, fault: Fault, k: u64) {
        self.disarm();
        self.inject(Rule::new(fault).at(k));
    }

    /// Like [`FaultStorage::arm`], counting only operations of kind `op`.
    pub fn arm_only(&self, op: Op, fault: Fault, k: u64) {
        self.disarm();
        self.inject(Rule::new(fault).op(op).at(k));
    }

    /// Fails every operation of kind `op` on a key whose last segment is `name`, from
    /// now until disarmed.
    pub fn arm_always(&self, op: Op, name: &str, fault: Fault) {
        self.disarm();
        self.inject(Rule::new(fault).op(op).name(name).always());
    }

    /// Removes every rule; returns how many operations the rules matched and which
    /// operation failed first (`"<op> <name>"`).
    pub fn disarm(&self) -> (u64, Option<String>) {
        let mut state = crate::sync::lock(&self.faults.0);
        let out = (state.counted, state.fired.take());
        *state = State::default();
        out
    }

    /// Runs `hook` once, just before the next operation of kind `op` (a concurrent
    /// commit at a chosen moment of this one, say), outside every lock of this store.
    pub fn before(&self, op: Op, hook: impl FnOnce() + Send + 'static) {
        crate::sync::lock(&self.faults.2).push((op, Box::new(hook)));
    }

    /// How many operations of kind `op` this store has seen since it was made
    /// (whatever the rules).
    pub fn calls(&self, op: Op) -> u64 {
        crate::sync::lock(&self.faults.1).get(&op).copied().unwrap_or(0)
    }

    fn op(&self, op: Op, key: &str) -> Option<Fault> {
        self.faults.op(op, key)
    }

    /// Writes the first half of `bytes` to a new object `key` and leaves it incomplete.
    fn torn(&self, key: &Key, bytes: &[u8]) {
        if let Ok(mut f) = self.inner.create_new(key) {
            let _ = f.write_all(&bytes[..bytes.len() / 2]);
            let _ = f.flush();
        }
    }
}

/// Runs `f`, then fails for `AfterSuccess`; fails without running it otherwise.
fn after<T>(fault: Option<Fault>, f: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    match fault {
        None => f(),
        Some(Fault::AfterSuccess) => {
            f()?;
            Err(Fault::AfterSuccess.error())
        }
        Some(k) => Err(k.error()),
    }
}

fn dir_name(dir: Option<&Key>) -> &str {
    dir.map_or("", |k| k.as_str())
}

struct FaultFile {
    inner: Box<dyn NewFile>,
    faults: Arc<Faults>,
    key: Key,
}

impl Write for FaultFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.faults.op(Op::Write, self.key.as_str()) {
            None => self.inner.write(buf),
            Some(Fault::ShortWrite) => {
                let _ = self.inner.write_all(&buf[..buf.len() / 2]);
                Err(Fault::ShortWrite.error())
            }
            Some(Fault::AfterSuccess) => {
                self.inner.write_all(buf)?;
                Err(Fault::AfterSuccess.error())
            }
            Some(k) => Err(k.error()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl NewFile for FaultFile {
    fn complete(&mut self, durable: bool) -> io::Result<()> {
        after(self.faults.op(Op::Complete, self.key.as_str()), || self.inner.complete(durable))
    }

    /// Counted (and failed) as an [`Op::SyncFile`].
    fn sync_so_far(&mut self) -> io::Result<()> {
        after(self.faults.op(Op::SyncFile, self.key.as_str()), || self.inner.sync_so_far())
    }
}

#[derive(Debug)]
struct FaultRead {
    inner: Arc<dyn RandomAccess>,
    faults: Arc<Faults>,
    key: Key,
}

impl RandomAccess for FaultRead {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn read_range(&self, range: Range<u64>) -> io::Result<Bytes> {
        after(self.faults.op(Op::ReadRange, self.key.as_str()), || self.inner.read_range(range))
    }
}

impl Storage for FaultStorage {
    fn root_url(&self) -> &str {
        self.inner.root_url()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn url(&self, key: &Key) -> String {
        self.inner.url(key)
    }

    fn display_path(&self, key: Option<&Key>) -> PathBuf {
        self.inner.display_path(key)
    }

    fn read(&self, key: &Key) -> io::Result<Bytes> {
        after(self.op(Op::Read, key.as_str()), || self.inner.read(key))
    }

    fn open_read(&self, key: &Key, size_hint: Option<u64>) -> io::Result<Arc<dyn RandomAccess>> {
        let inner = after(self.op(Op::OpenRead, key.as_str()), || self.inner.open_read(key, size_hint))?;
        Ok(Arc::new(FaultRead { inner, faults: self.faults.clone(), key: key.clone() }))
    }

    fn head(&self, key: &Key) -> io::Result<ObjectMeta> {
        after(self.op(Op::Head, key.as_str()), || self.inner.head(key))
    }

    fn exists(&self, key: &Key) -> io::Result<bool> {
        after(self.op(Op::Exists, key.as_str()), || self.inner.exists(key))
    }

    fn put_new(&self, key: &Key, bytes: &[u8], durable: bool) -> io::Result<()> {
        match self.op(Op::PutNew, key.as_str()) {
            Some(Fault::ShortWrite) => {
                self.torn(key, bytes);
                Err(Fault::ShortWrite.error())
            }
            k => after(k, || self.inner.put_new(key, bytes, durable)),
        }
    }

    fn create_new(&self, key: &Key) -> io::Result<Box<dyn NewFile>> {
        let file = after(self.op(Op::CreateNew, key.as_str()), || self.inner.create_new(key))?;
        Ok(Box::new(FaultFile { inner: file, faults: self.faults.clone(), key: key.clone() }))
    }

    fn sync_file(&self, key: &Key) -> io::Result<()> {
        after(self.op(Op::SyncFile, key.as_str()), || self.inner.sync_file(key))
    }

    fn stage_exclusive(&self, key: &Key, bytes: &[u8], durable: bool) -> io::Result<Staged> {
        match self.op(Op::Stage, key.as_str()) {
            Some(Fault::ShortWrite) => {
                // A torn temporary object beside the key, as a crashed writer leaves.
                let temp = format!(".{}.{}.tmp", key.name(), uuid::Uuid::new_v4().simple());
                let temp = match key.parent() {
                    Some(dir) => dir.join(&temp),
                    None => Key::new(temp),
                };
                if let Ok(temp) = temp {
                    self.torn(&temp, bytes);
                }
                Err(Fault::ShortWrite.error())
            }
            Some(Fault::AfterSuccess) => {
                // The stage worked but the caller never learns it: drop it again.
                let staged = self.inner.stage_exclusive(key, bytes, durable)?;
                let _ = self.inner.discard_staged(staged);
                Err(Fault::AfterSuccess.error())
            }
            k => after(k, || self.inner.stage_exclusive(key, bytes, durable)),
        }
    }

    fn publish_staged(&self, staged: Staged) -> io::Result<()> {
        match self.op(Op::Publish, staged.key().as_str()) {
            None => self.inner.publish_staged(staged),
            Some(Fault::AfterSuccess) => {
                self.inner.publish_staged(staged)?;
                Err(Fault::AfterSuccess.error())
            }
            Some(k) => {
                // Nothing is published, and nothing temporary stays behind.
                let _ = self.inner.discard_staged(staged);
                Err(k.error())
            }
        }
    }

    fn discard_staged(&self, staged: Staged) -> io::Result<()> {
        self.inner.discard_staged(staged)
    }

    fn put_advisory(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        after(self.op(Op::PutAdvisory, key.as_str()), || self.inner.put_advisory(key, bytes))
    }

    fn kept_by_handle(&self) -> Vec<Key> {
        self.inner.kept_by_handle()
    }

    fn create_dir_all(&self, dir: Option<&Key>) -> io::Result<()> {
        after(self.op(Op::CreateDir, dir_name(dir)), || self.inner.create_dir_all(dir))
    }

    fn sync_dir(&self, dir: Option<&Key>) -> io::Result<()> {
        after(self.op(Op::SyncDir, dir_name(dir)), || self.inner.sync_dir(dir))
    }

    fn sync_root_entry(&self) -> io::Result<()> {
        after(self.op(Op::SyncRootEntry, ""), || self.inner.sync_root_entry())
    }

    fn list(&self, prefix: Option<&Key>) -> io::Result<Listing> {
        after(self.op(Op::List, dir_name(prefix)), || self.inner.list(prefix))
    }

    fn list_where(&self, prefix: Option<&Key>, wanted: &dyn Fn(&Key) -> bool) -> io::Result<Listing> {
        after(self.op(Op::List, dir_name(prefix)), || self.inner.list_where(prefix, wanted))
    }

    fn delete(&self, key: &Key) -> io::Result<()> {
        after(self.op(Op::Delete, key.as_str()), || self.inner.delete(key))
    }

    fn try_lock_exclusive(&self, key: &Key) -> io::Result<Option<LockGuard>> {
        after(self.op(Op::TryLock, key.as_str()), || self.inner.try_lock_exclusive(key))
    }

    fn lock_exclusive(&self, key: &Key) -> io::Result<LockGuard> {
        after(self.op(Op::Lock, key.as_str()), || self.inner.lock_exclusive(key))
    }
}
