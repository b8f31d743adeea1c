//! The storage contract: the one trait every byte floe reads or writes goes through.
//!
//! A [`Storage`] is a flat namespace of immutable-once-complete objects under one root
//! URL (`file:///abs/table`; later `s3://bucket/prefix`). Objects are named by
//! [`Key`]s relative to that root: `/`-separated, never absolute, never `..`. The
//! table, transaction, scan, data and maintenance layers name no path and open no file
//! themselves: metadata, manifests, manifest lists, version hints, locks and Parquet
//! data files (footers and column chunks included) all go through this trait, so a
//! fault-injecting wrapper (`crate::io::fault`, feature `testing`) reaches every
//! operation of a commit, and a new backend is a new implementation of this trait.
//!
//! # The contract
//!
//! Every implementation keeps every clause below; `floe::storage::conformance` (feature
//! `testing`) checks each one and is what a backend's own tests call.
//!
//! **Keys and confinement.**
//! * Every operation acts on the object named by `root_url()/key` and nothing else. A
//!   backend never reads, writes, creates, deletes or locks anything outside its root:
//!   [`Key`] rules out `..` and absolute names, and a backend whose namespace has links
//!   (the local file system's symlinks) refuses with `PermissionDenied` any write,
//!   create, publish, delete, lock or directory creation that would land outside the
//!   root through one. Reads follow links (a table may link its data elsewhere).
//! * [`Storage::url`] of a key is `root_url()` + `/` + the key, byte for byte: it is
//!   what floe records in metadata, and what other readers (pyiceberg, DuckDB, Spark)
//!   open.
//!
//! **Reads.**
//! * [`Storage::read`] returns the whole object; [`Storage::open_read`] returns a
//!   [`RandomAccess`] handle whose `read_range(a..b)` returns exactly `b - a` bytes
//!   starting at `a` or fails (`UnexpectedEof` past the end); a handle reads the
//!   object as it was when opened or fails, never a mix of two versions.
//!   [`ParquetSource`] adapts a handle to the Parquet reader, which then fetches the
//!   footer and only the column chunks it decodes.
//! * [`Storage::head`] gives size and modification time; a missing key is `NotFound`
//!   from every read (never an empty object).
//!
//! **Writes of new objects (write-once).**
//! * [`Storage::put_new`] and [`Storage::create_new`] create an object that did not
//!   exist and fail with `AlreadyExists` otherwise (checked atomically by backends with
//!   [`Capabilities::atomic_exclusive_create`]; a streamed create may report it only at
//!   [`NewFile::complete`]). No method overwrites an object except
//!   [`Storage::put_advisory`].
//! * An object is complete, and may be named by metadata, only once `put_new` or
//!   `NewFile::complete` returned `Ok`. A write that failed part-way may leave a partial
//!   object (local) or none (an object store's multipart upload); the caller deletes the
//!   key, and `NotFound` from that delete is fine.
//!
//! **The commit point (exclusive publish).**
//! * [`Storage::stage_exclusive`] prepares the complete bytes of an object;
//!   [`Storage::publish_staged`] makes them appear under their key atomically, or fails
//!   with `AlreadyExists` if the key is taken. Readers never see a partial object under
//!   the key. Any other error from `publish_staged` is *ambiguous*: the object may or
//!   may not have been created, and the caller resolves it by reading the key back and
//!   comparing bytes. So is `AlreadyExists` from a backend with
//!   [`Capabilities::retries_writes`] (its retry of a write that landed sees the
//!   write's own object). Staging and publishing are two calls so a commit can write
//!   everything, check what must be checked, and only then take the commit point; on
//!   the local file system they are a temp file (fsynced) and `link(2)`, which never
//!   replaces (never `rename`); an object store stages nothing (the bytes stay in
//!   memory) and publishes with one conditional PUT (`If-None-Match: *`).
//!   [`Storage::discard_staged`] drops a staged object that will not be published.
//!   `publish_staged` consumes its [`Staged`] and leaves no temporary object behind,
//!   whatever it returns.
//!
//! **Advisory objects.** [`Storage::put_advisory`] replaces an object whole (readers see
//! the old or the new bytes, never a mix). It is only for hints (`version-hint.text`),
//! never a commit point.
//!
//! **Durability.** With [`Capabilities::fsync`], bytes are on stable storage after
//! `put_new`/`stage_exclusive` with `durable`, [`NewFile::complete`]`(true)` or
//! [`Storage::sync_file`]; a new name is durable after [`Storage::sync_dir`] of its
//! directory (and a new directory's name after `sync_dir` of its parent;
//! [`Storage::sync_root_entry`] for the root's own name). Without `fsync`, every
//! write is as durable as the backend makes it when the call returns (an object store:
//! durable), and the sync methods succeed doing nothing.
//!
//! **Directories.** With [`Capabilities::directories`], a key's parent directory must
//! exist before an object is created under it (`create_new`/`put_new` fail with
//! `NotFound` otherwise; [`Storage::create_dir_all`] makes it). Without it there are
//! no directories: `create_dir_all` succeeds doing nothing and every key can be
//! written.
//!
//! **Listing.** [`Storage::list`] returns every object under a prefix (segment-wise:
//! `data` lists `data/x`, not `database/x`), recursively, with size and modification
//! time, in no particular order. A prefix with nothing under it is an empty listing,
//! not an error. The listing may include temporary objects of writers in progress or
//! crashed (`.<name>.<uuid>.tmp`, also a handle's side object for an advisory key, see
//! [`Storage::put_advisory`]), which callers never mistake for committed objects.
//! A backend with links never follows one: it reports it in [`Listing::skipped`], as it
//! does a name that is not a valid key (not UTF-8).
//!
//! **Deletes.** [`Storage::delete`] removes one object; a missing key is `NotFound`.
//!
//! **Locks.** With [`Capabilities::advisory_lock`], [`Storage::try_lock_exclusive`] and
//! [`Storage::lock_exclusive`] take an exclusive advisory lock named by a key, held
//! until the [`LockGuard`] drops (or the process dies). Correctness never depends on
//! it. Without it both fail with `Unsupported`, and callers do not ask.
//!
//! **Capabilities** ([`Storage::capabilities`]) are constant for a backend and honest:
//! a backend that cannot fsync, lock, create atomically or keep directories says so,
//! and callers branch on capabilities, never on the backend's type. floe refuses to
//! commit to a store without [`Capabilities::atomic_exclusive_create`].
//!
//! **Concurrency.** Every method may be called from many threads at once. The batch
//! forms ([`Storage::read_many`], [`Storage::put_new_many`], [`Storage::delete_many`])
//! have the same per-item semantics as their single forms, results in item order; the
//! defaults run them on floe's bounded pool (a remote backend may do better).
//!
//! # Sync, and async backends
//!
//! The contract is synchronous: floe's public API is synchronous and its commit
//! protocol is a sequence of dependent steps. An asynchronous backend (object_store)
//! implements it by running its futures on a small runtime of its own threads and
//! waiting for the result on a channel, never by blocking on the caller's runtime, so
//! the synchronous API works inside and outside a tokio runtime (docs/design.md, "I/O,
//! async and the storage contract").

use std::any::Any;
use std::fmt::{self, Debug};
use std::io::{self, Read};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

pub use crate::io::key::Key;

/// What a backend can do (see the module docs, "Capabilities").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// Writes become durable only through explicit syncs, which the backend performs
    /// (`sync_file`, `sync_dir`, `durable` flags). Without it, a write is as durable as
    /// the backend makes it when the call returns, and syncs do nothing.
    pub fsync: bool,
    /// Real directories: a parent must exist before an object is created under it, and
    /// a new name is durable only after its directory is synced.
    pub directories: bool,
    /// `try_lock_exclusive` / `lock_exclusive` work.
    pub advisory_lock: bool,
    /// `put_new`, `create_new` and `publish_staged` fail with `AlreadyExists` iff the
    /// key exists, atomically under concurrent writers (exactly one winner). floe does
    /// not commit to a store without it.
    pub atomic_exclusive_create: bool,
    /// The namespace has links (symlinks), which reads follow and listings report as
    /// skipped, and which writes refuse when they lead outside the root.
    pub links: bool,
    /// The backend may retry a write whose first try landed (an HTTP client after a
    /// lost response), so `AlreadyExists` from an exclusive create may be this very
    /// write: the caller reads the key back before calling it a lost race.
    pub retries_writes: bool,
}

impl Capabilities {
    /// No capability at all (an honest starting point for a new backend).
    pub fn none() -> Capabilities {
        Capabilities::default()
    }

    /// Everything the local file system offers.
    pub fn local_file_system() -> Capabilities {
        Capabilities {
            fsync: true,
            directories: true,
            advisory_lock: true,
            atomic_exclusive_create: true,
            links: true,
            retries_writes: false,
        }
    }

    /// Sets [`Capabilities::fsync`].
    pub fn with_fsync(mut self, yes: bool) -> Self {
        self.fsync = yes;
        self
    }

    /// Sets [`Capabilities::directories`].
    pub fn with_directories(mut self, yes: bool) -> Self {
        self.directories = yes;
        self
    }

    /// Sets [`Capabilities::advisory_lock`].
    pub fn with_advisory_lock(mut self, yes: bool) -> Self {
        self.advisory_lock = yes;
        self
    }

    /// Sets [`Capabilities::atomic_exclusive_create`].
    pub fn with_atomic_exclusive_create(mut self, yes: bool) -> Self {
        self.atomic_exclusive_create = yes;
        self
    }

    /// Sets [`Capabilities::links`].
    pub fn with_links(mut self, yes: bool) -> Self {
        self.links = yes;
        self
    }

    /// Sets [`Capabilities::retries_writes`].
    pub fn with_retries_writes(mut self, yes: bool) -> Self {
        self.retries_writes = yes;
        self
    }
}

/// Size and modification time of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's key.
    pub key: Key,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the backend reports it.
    pub modified: Option<SystemTime>,
}

/// Why a listing passed over an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// A symbolic link: never followed, never listed as an object.
    Link,
    /// A name that is not a valid [`Key`] (not UTF-8).
    InvalidName,
}

/// An entry a listing passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry's name relative to the root (lossy when it is not UTF-8).
    pub name: String,
    /// Why.
    pub reason: SkipReason,
}

/// What [`Storage::list`] found under a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Every object, in no particular order.
    pub objects: Vec<ObjectMeta>,
    /// Entries that are not objects floe may touch (links, invalid names).
    pub skipped: Vec<Skipped>,
}

/// A held advisory lock; released on drop (and by the OS if the process dies).
pub struct LockGuard {
    _held: Option<Box<dyn Any + Send>>,
}

impl Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}

impl LockGuard {
    /// A guard holding `held` (whatever keeps the lock: a file handle, a lease).
    pub fn new(held: impl Any + Send) -> Self {
        LockGuard { _held: Some(Box::new(held)) }
    }

    /// A guard that holds nothing.
    pub fn none() -> Self {
        LockGuard { _held: None }
    }
}

/// An object being created by [`Storage::create_new`]: bytes go in through
/// [`io::Write`] (an object store uploads parts as they fill: memory stays bounded).
pub trait NewFile: io::Write + Send {
    /// Flushes everything written and, when `durable` (and the backend has
    /// [`Capabilities::fsync`]), syncs the contents. The object is complete once this
    /// returns `Ok`; nothing is written after it.
    fn complete(&mut self, durable: bool) -> io::Result<()>;

    /// Starts [`complete`](Self::complete) and returns the wait for it, so the caller
    /// can overlap the upload with other work (an object store sends a small object's
    /// one PUT in the background). The object is complete once
    /// [`PendingWrite::wait`] returns `Ok`; dropping the `PendingWrite` waits too, so
    /// the object is never deleted under its own upload. The default completes now.
    fn complete_later(&mut self, durable: bool) -> io::Result<PendingWrite> {
        self.complete(durable).map(|()| PendingWrite::done())
    }

    /// Makes what was written so far durable where the backend can before the end (a
    /// local file: flush and `fdatasync`), so that [`complete`](Self::complete) has less
    /// left to sync; a writer calls it while it would otherwise wait. The caller must
    /// heed its error: once a sync has failed, a later one on another descriptor (the
    /// commit's) may not report it. The default does nothing (an object store's upload
    /// completes at the end).
    fn sync_so_far(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A write in flight ([`NewFile::complete_later`]): [`wait`](Self::wait) for its
/// outcome. Dropped without a wait, it still waits (and ignores the outcome).
#[must_use = "the write is complete only once `wait` returns Ok"]
pub struct PendingWrite {
    wait: Option<Box<dyn FnOnce() -> io::Result<()> + Send>>,
}

impl Debug for PendingWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.wait.is_some() { "PendingWrite(in flight)" } else { "PendingWrite(done)" })
    }
}

impl PendingWrite {
    /// A write that has completed already.
    pub fn done() -> Self {
        PendingWrite { wait: None }
    }

    /// A write whose outcome `wait` blocks for.
    pub fn new(wait: impl FnOnce() -> io::Result<()> + Send + 'static) -> Self {
        PendingWrite { wait: Some(Box::new(wait)) }
    }

    /// Blocks until the write is complete; its error if it failed.
    pub fn wait(mut self) -> io::Result<()> {
        match self.wait.take() {
            Some(w) => w(),
            None => Ok(()),
        }
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if let Some(w) = self.wait.take() {
            let _ = w();
        }
    }
}

/// An open object for ranged reads ([`Storage::open_read`]).
pub trait RandomAccess: Send + Sync + Debug {
    /// The object's size in bytes.
    fn size(&self) -> u64;
    /// Exactly the bytes of `range`, or an error (`UnexpectedEof` past the end).
    fn read_range(&self, range: Range<u64>) -> io::Result<Bytes>;
}

/// An object prepared by [`Storage::stage_exclusive`], to be published with
/// [`Storage::publish_staged`] or dropped with [`Storage::discard_staged`].
///
/// A backend either wrote the bytes to a temporary object (`temp`) or keeps them in
/// memory for one conditional PUT (`bytes`).
#[derive(Debug)]
pub struct Staged {
    key: Key,
    temp: Option<Key>,
    bytes: Option<Bytes>,
}

impl Staged {
    /// Staged in the temporary object `temp`, to be published as `key`.
    pub fn in_temp(key: Key, temp: Key) -> Staged {
        Staged { key, temp: Some(temp), bytes: None }
    }

    /// Staged in memory, to be published as `key` with one conditional write.
    pub fn in_memory(key: Key, bytes: Bytes) -> Staged {
        Staged { key, temp: None, bytes: Some(bytes) }
    }

    /// The key it will be published as.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The temporary object holding the bytes, if any.
    pub fn temp(&self) -> Option<&Key> {
        self.temp.as_ref()
    }

    /// The bytes held in memory, if any.
    pub fn bytes(&self) -> Option<&Bytes> {
        self.bytes.as_ref()
    }
}

/// The operations floe performs on stored objects. See the module docs for the
/// contract every implementation keeps.
pub trait Storage: Send + Sync + Debug {
    /// The root every key is relative to, as a URL without a trailing `/`
    /// (`file:///abs/table`).
    fn root_url(&self) -> &str;

    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;

    /// The URL of `key`: `root_url()/key`, as recorded in metadata.
    fn url(&self, key: &Key) -> String {
        format!("{}/{}", self.root_url(), key)
    }

    /// How `key` (the root for `None`) is named in errors and reports: the local path
    /// for the file system, the URL otherwise.
    fn display_path(&self, key: Option<&Key>) -> PathBuf {
        match key {
            Some(k) => PathBuf::from(self.url(k)),
            None => PathBuf::from(self.root_url()),
        }
    }

    /// The `object_store` store and object path `key` is kept at, for a backend built
    /// on an object store, so other readers (a query engine) can read the same object
    /// through the same store. `None` for other backends (the local file system).
    #[cfg(feature = "object-store")]
    #[allow(clippy::type_complexity)] // (store URL, store, object path): read once, by a query engine
    fn object_store_path(&self, key: &Key) -> Option<(Arc<dyn object_store::ObjectStore>, object_store::path::Path)> {
        let _ = key;
        None
    }

    /// The whole object.
    fn read(&self, key: &Key) -> io::Result<Bytes>;

    /// Opens `key` for ranged reads. `size_hint` is the size the caller already knows
    /// (a manifest records it), which a remote backend may use instead of asking.
    fn open_read(&self, key: &Key, size_hint: Option<u64>) -> io::Result<Arc<dyn RandomAccess>>;

    /// Exactly the bytes of `range` of `key`.
    fn read_range(&self, key: &Key, range: Range<u64>) -> io::Result<Bytes> {
        self.open_read(key, None)?.read_range(range)
    }

    /// Size and modification time of `key` (`NotFound` if it does not exist).
    fn head(&self, key: &Key) -> io::Result<ObjectMeta>;

    /// Whether `key` exists.
    fn exists(&self, key: &Key) -> io::Result<bool> {
        match self.head(key) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// [`Storage::read`] of every key, results in key order, at most `max_workers`
    /// at a time.
    fn read_many(&self, keys: &[Key], max_workers: usize) -> Vec<io::Result<Bytes>> {
        pooled(keys, max_workers, |k| self.read(k))
    }

    /// Creates `key` holding `bytes`; `AlreadyExists` if it exists.
    fn put_new(&self, key: &Key, bytes: &[u8], durable: bool) -> io::Result<()>;

    /// [`Storage::put_new`] of every item, results in item order, at most
    /// `max_workers` at a time.
    fn put_new_many(&self, items: &[(Key, Vec<u8>)], durable: bool, max_workers: usize) -> Vec<io::Result<()>> {
        pooled(items, max_workers, |(k, b)| self.put_new(k, b, durable))
    }

    /// Creates `key` exclusively for a streamed write (Parquet data files).
    fn create_new(&self, key: &Key) -> io::Result<Box<dyn NewFile>>;

    /// Makes the contents of a complete object this process wrote durable (nothing
    /// without [`Capabilities::fsync`]).
    fn sync_file(&self, key: &Key) -> io::Result<()>;

    /// The first half of an exclusive publish: prepares `bytes` to appear as `key`
    /// (synced when `durable`).
    fn stage_exclusive(&self, key: &Key, bytes: &[u8], durable: bool) -> io::Result<Staged>;

    /// The commit point: makes the staged bytes appear as their key atomically, or
    /// `AlreadyExists` if it is taken; any other error is ambiguous. Leaves nothing
    /// temporary behind. The new name is durable after [`Storage::sync_dir`].
    fn publish_staged(&self, staged: Staged) -> io::Result<()>;

    /// Drops a staged object that will not be published.
    fn discard_staged(&self, staged: Staged) -> io::Result<()>;

    /// Atomically creates `key` holding `bytes`, or `AlreadyExists`. When `durable`,
    /// the object and its name are durable before this returns.
    fn publish_exclusive(&self, key: &Key, bytes: &[u8], durable: bool) -> io::Result<()> {
        let staged = self.stage_exclusive(key, bytes, durable)?;
        self.publish_staged(staged)?;
        if durable {
            self.sync_dir(key.parent().as_ref())?;
        }
        Ok(())
    }

    /// Replaces `key` whole (readers see the old or the new bytes). Only for advisory
    /// objects such as the version hint. A backend may keep one temporary object
    /// (`.<name>.<id>.tmp`) beside the key per handle, to reuse for the next write; it
    /// then lists it in [`Storage::kept_by_handle`].
    fn put_advisory(&self, key: &Key, bytes: &[u8]) -> io::Result<()>;

    /// The temporary objects this handle keeps for its own later use (the side objects
    /// of [`Storage::put_advisory`]). Orphan cleanup through this handle leaves them;
    /// another handle's cleanup may delete them (the handle makes them again). None by
    /// default.
    fn kept_by_handle(&self) -> Vec<Key> {
        Vec::new()
    }

    /// Creates the directory `dir` (the root for `None`) and its parents (nothing
    /// without [`Capabilities::directories`]).
    fn create_dir_all(&self, dir: Option<&Key>) -> io::Result<()>;

    /// Makes the names in directory `dir` (the root for `None`) durable (nothing
    /// without [`Capabilities::fsync`] and [`Capabilities::directories`]).
    fn sync_dir(&self, dir: Option<&Key>) -> io::Result<()>;

    /// Makes the root's own name durable in its parent directory (a root this process
    /// just created).
    fn sync_root_entry(&self) -> io::Result<()> {
        Ok(())
    }

    /// Every object under `prefix` (all of them for `None`), recursively.
    fn list(&self, prefix: Option<&Key>) -> io::Result<Listing>;

    /// [`Storage::list`], keeping only the objects whose key `wanted` accepts (skipped
    /// entries are reported as by `list`). For a caller that needs a few kinds of
    /// file from a large directory: a backend that pays to describe each object (a
    /// local file system: one `lstat` for its size and time) asks `wanted` first. The
    /// default lists everything and filters.
    fn list_where(&self, prefix: Option<&Key>, wanted: &dyn Fn(&Key) -> bool) -> io::Result<Listing> {
        let mut listing = self.list(prefix)?;
        listing.objects.retain(|o| wanted(&o.key));
        Ok(listing)
    }

    /// Deletes `key` (`NotFound` if it does not exist).
    fn delete(&self, key: &Key) -> io::Result<()>;

    /// [`Storage::delete`] of every key, results in key order, at most `max_workers`
    /// at a time. A backend that deletes in batches (an object store's bulk delete,
    /// which deletes a missing key quietly) may report a key that did not exist as
    /// deleted (`Ok`) instead of `NotFound`: callers treat both as gone.
    fn delete_many(&self, keys: &[Key], max_workers: usize) -> Vec<io::Result<()>> {
        pooled(keys, max_workers, |k| self.delete(k))
    }

    /// Tries to take the advisory lock `key`; `Ok(None)` when another holder has it.
    fn try_lock_exclusive(&self, key: &Key) -> io::Result<Option<LockGuard>>;

    /// Takes the advisory lock `key`, blocking until it is free.
    fn lock_exclusive(&self, key: &Key) -> io::Result<LockGuard>;
}

/// `f` on every item on floe's bounded pool; a panic becomes that item's error.
fn pooled<T: Sync, R: Send>(
    items: &[T],
    max_workers: usize,
    f: impl Fn(&T) -> io::Result<R> + Sync,
) -> Vec<io::Result<R>> {
    crate::sync::map(items, max_workers, f)
        .into_iter()
        .map(|r| r.unwrap_or_else(|why| Err(io::Error::other(format!("storage worker panicked: {why}")))))
        .collect()
}

/// The error a backend returns for an operation its capabilities rule out.
pub fn unsupported(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, format!("{what} is not supported by this storage"))
}

// ---------------------------------------------------------------------------------------
// Parquet through the store
// ---------------------------------------------------------------------------------------

/// Bytes fetched at a time for the sequential reads the Parquet reader makes (page
/// headers): the capacity of the `BufReader` it puts around a `File`.
const SEQUENTIAL_READ_BYTES: u64 = 8 * 1024;

/// A [`RandomAccess`] handle as Parquet's [`ChunkReader`](parquet::file::reader::ChunkReader):
/// the footer and the column chunks and pages the reader decodes are fetched with
/// ranged reads through the store, nothing else.
#[derive(Debug, Clone)]
pub struct ParquetSource {
    handle: Arc<dyn RandomAccess>,
}

impl ParquetSource {
    /// Wraps an open object.
    pub fn new(handle: Arc<dyn RandomAccess>) -> Self {
        ParquetSource { handle }
    }
}

impl parquet::file::reader::Length for ParquetSource {
    fn len(&self) -> u64 {
        self.handle.size()
    }
}

impl parquet::file::reader::ChunkReader for ParquetSource {
    type T = SequentialRead;

    fn get_read(&self, start: u64) -> parquet::errors::Result<SequentialRead> {
        let size = self.handle.size();
        if start > size {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "Expected to read at offset {start}, while file has length {size}"
            )));
        }
        Ok(SequentialRead { handle: self.handle.clone(), pos: start, end: size, buf: Bytes::new() })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let end = start.checked_add(length as u64).filter(|e| *e <= self.handle.size()).ok_or_else(|| {
            parquet::errors::ParquetError::EOF(format!(
                "Expected to read {length} bytes at offset {start}, while file has length {}",
                self.handle.size()
            ))
        })?;
        Ok(self.handle.read_range(start..end)?)
    }
}

/// Sequential reads from an offset to the end of an object, fetched in windows.
#[derive(Debug)]
pub struct SequentialRead {
    handle: Arc<dyn RandomAccess>,
    pos: u64,
    end: u64,
    buf: Bytes,
}

impl Read for SequentialRead {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.buf.is_empty() {
            if self.pos >= self.end || out.is_empty() {
                return Ok(0);
            }
            let want = (out.len() as u64).max(SEQUENTIAL_READ_BYTES).min(self.end - self.pos);
            self.buf = self.handle.read_range(self.pos..self.pos + want)?;
            self.pos += want;
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf[..n]);
        self.buf = self.buf.slice(n..);
        Ok(n)
    }
}
