//! The object-store backend (cargo feature `object-store`; the clouds with `s3`, `gcs`,
//! `azure`): floe's [`Storage`] contract on any `object_store` store, so a table lives
//! in a bucket as it lives in a directory.
//!
//! Promises:
//! * **Keys are object names under the root's prefix, unescaped.** `s3://b/t` with key
//!   `data/a b.parquet` is the object `t/data/a b.parquet`, which is what
//!   `Storage::url` records and what other readers open (`object_store::path::Path::parse`,
//!   never its escaping `From` conversion).
//! * **The commit point is a conditional create.** `put_new`, `publish_staged` and a small
//!   `create_new` are one `PutMode::Create` PUT (S3 `If-None-Match: *`, GCS
//!   `ifGenerationMatch=0`, Azure `If-None-Match: *`); staging keeps the bytes in memory.
//!   object_store retries a PUT whose first try may have landed (and S3 answers 409 to
//!   some concurrent conditional writes, which object_store reports as `AlreadyExists`),
//!   so the backend reports [`Capabilities::retries_writes`] and callers read the key back
//!   before calling `AlreadyExists` a lost race.
//! * **Honest capabilities**: no fsync and no directories (a completed PUT is durable and
//!   keys need no parents), no links, no advisory lock (there is none to take), atomic
//!   exclusive create (the server's conditional PUT; `tests/object_store.rs` races it).
//! * **Bounded memory on streamed writes**: a data file is buffered up to one part; a
//!   file that outgrows it becomes a multipart upload, one part in flight while the next
//!   fills. A streamed create that never completes aborts its upload. A file that fits
//!   in one part is one conditional PUT, which `complete_later` sends in the background
//!   (a commit overlaps it with its manifest PUTs).
//! * **Reads**: a handle from `open_read` pins the object's ETag when it asked for the
//!   size (a changed object fails instead of mixing versions); a size given by the
//!   caller (a manifest records it) saves the HEAD. Every ranged read returns exactly the
//!   bytes asked for, or fails (a short body is `UnexpectedEof`).
//! * **Sync over async without the caller's runtime.** Every call runs its future on
//!   one process-wide runtime of [`RUNTIME_THREADS`] threads owned by this module and waits
//!   on a channel: callable from plain threads and from inside any tokio runtime (even a
//!   current-thread one), never `block_on` on the caller's runtime.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, MultipartUpload, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};

use crate::error::{Error, Result};
use crate::io::StorageOptions;
use crate::io::storage::{
    Capabilities, Key, Listing, LockGuard, NewFile, ObjectMeta, PendingWrite, RandomAccess, SkipReason, Skipped,
    Staged, Storage, unsupported,
};

/// Threads of the runtime every object-store call runs on (shared by all stores of a
/// process; requests of one call and of concurrent callers interleave on it).
pub const RUNTIME_THREADS: usize = 4;

/// A streamed create buffers this much before it becomes a multipart upload; each
/// part is this size (S3 needs at least 5 MiB per part but the last).
const PART_BYTES: usize = 8 * 1024 * 1024;

fn runtime() -> io::Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("floe-object-store")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| io::Error::other(format!("cannot start the object-store runtime: {e}")))
}

/// The whole object, or an error: a body shorter than the object (a connection cut
/// short) is `UnexpectedEof`, never fewer bytes (a commit's read-back compares bytes).
async fn whole(store: Arc<dyn ObjectStore>, path: ObjectPath) -> object_store::Result<Bytes> {
    let got = store.get(&path).await?;
    let expected = got.range.end - got.range.start;
    let bytes = got.bytes().await?;
    if bytes.len() as u64 != expected {
        return Err(object_store::Error::Generic {
            store: "floe",
            source: Box::new(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{path}: read {} of {expected} bytes", bytes.len()),
            )),
        });
    }
    Ok(bytes)
}

/// Runs `fut` on the backend's runtime and waits for its output on this thread.
fn run<T: Send + 'static>(fut: impl Future<Output = T> + Send + 'static) -> io::Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| io::Error::other("the object-store request was dropped (its task panicked)"))
}

/// An object_store error as the contract's `io::Error` kinds.
pub(crate) fn to_io(e: object_store::Error) -> io::Error {
    use object_store::Error as E;
    let kind = match &e {
        E::NotFound { .. } => io::ErrorKind::NotFound,
        E::AlreadyExists { .. } => io::ErrorKind::AlreadyExists,
        E::Precondition { .. } => io::ErrorKind::AlreadyExists,
        E::NotSupported { .. } | E::NotImplemented { .. } => io::ErrorKind::Unsupported,
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
        E::InvalidPath { .. } => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}

/// floe's storage on an object store, rooted at a URL (`s3://bucket/prefix`).
pub struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    root_url: String,
    /// The root's object-name prefix, without a trailing `/` (empty for a bucket root).
    prefix: String,
    caps: Capabilities,
}

impl fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStorage").field("root_url", &self.root_url).field("store", &self.store).finish()
    }
}

impl ObjectStorage {
    /// A store rooted at `root_url` whose objects are named `prefix/key` in `store`. The
    /// store must create conditionally (`PutMode::Create`) and atomically; see
    /// [`ObjectStorage::with_capabilities`] for one that does not.
    pub fn new(store: Arc<dyn ObjectStore>, root_url: &str, prefix: &str) -> Result<ObjectStorage> {
        let prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            ObjectPath::parse(&prefix)
                .map_err(|e| Error::InvalidArgument(format!("{root_url} does not name an object prefix: {e}")))?;
        }
        Ok(ObjectStorage {
            store,
            root_url: root_url.trim_end_matches('/').to_string(),
            prefix,
            caps: Capabilities::none().with_atomic_exclusive_create(true).with_retries_writes(true),
        })
    }

    /// Replaces the capabilities reported (a store known not to honour conditional
    /// creates is `with_atomic_exclusive_create(false)`, and floe refuses to commit).
    pub fn with_capabilities(mut self, caps: Capabilities) -> ObjectStorage {
        self.caps = caps;
        self
    }

    /// The object_store store underneath.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn path(&self, key: &Key) -> io::Result<ObjectPath> {
        let name = if self.prefix.is_empty() { key.as_str().to_string() } else { format!("{}/{}", self.prefix, key) };
        ObjectPath::parse(&name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }

    fn key_of(&self, path: &ObjectPath) -> Option<std::result::Result<Key, String>> {
        let raw = path.as_ref();
        let rest = if self.prefix.is_empty() { raw } else { raw.strip_prefix(&self.prefix)?.strip_prefix('/')? };
        Some(Key::new(rest).map_err(|_| rest.to_string()))
    }

    fn put(&self, key: &Key, bytes: Bytes, mode: PutMode) -> io::Result<()> {
        let path = self.path(key)?;
        let store = self.store.clone();
        run(async move { store.put_opts(&path, PutPayload::from(bytes), PutOptions::from(mode)).await })?
            .map(|_| ())
            .map_err(to_io)
    }
}

impl Storage for ObjectStorage {
    fn root_url(&self) -> &str {
        &self.root_url
    }

    fn object_store_path(&self, key: &Key) -> Option<(Arc<dyn ObjectStore>, ObjectPath)> {
        Some((Arc::clone(&self.store), self.path(key).ok()?))
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn read(&self, key: &Key) -> io::Result<Bytes> {
        let path = self.path(key)?;
        let store = self.store.clone();
        run(async move { whole(store, path).await })?.map_err(to_io)
    }

    fn open_read(&self, key: &Key, size_hint: Option<u64>) -> io::Result<Arc<dyn RandomAccess>> {
        let path = self.path(key)?;
        let (size, e_tag) = match size_hint {
            Some(size) => (size, None),
            None => {
                let store = self.store.clone();
                let p = path.clone();
                let meta = run(async move { store.head(&p).await })?.map_err(to_io)?;
                (meta.size, meta.e_tag)
            }
        };
        Ok(Arc::new(ObjectRead { store: self.store.clone(), path, size, e_tag }))
    }

    fn read_range(&self, key: &Key, range: Range<u64>) -> io::Result<Bytes> {
        let handle = ObjectRead { store: self.store.clone(), path: self.path(key)?, size: u64::MAX, e_tag: None };
        handle.read_range(range)
    }

    fn head(&self, key: &Key) -> io::Result<ObjectMeta> {
        let path = self.path(key)?;
        let store = self.store.clone();
        let meta = run(async move { store.head(&path).await })?.map_err(to_io)?;
        Ok(ObjectMeta { key: key.clone(), size: meta.size, modified: Some(SystemTime::from(meta.last_modified)) })
    }

    fn read_many(&self, keys: &[Key], max_workers: usize) -> Vec<io::Result<Bytes>> {
        // The GETs run concurrently on the backend's runtime, at most `max_workers` at a time.
        let paths: Vec<io::Result<ObjectPath>> = keys.iter().map(|k| self.path(k)).collect();
        let store = self.store.clone();
        let width = max_workers.max(1);
        let todo: Vec<(usize, ObjectPath)> =
            paths.iter().enumerate().filter_map(|(i, p)| p.as_ref().ok().map(|p| (i, p.clone()))).collect();
        let fetched = run(async move {
            use futures::StreamExt;
            futures::stream::iter(todo.into_iter().map(|(i, p)| {
                let store = store.clone();
                async move { (i, whole(store, p).await) }
            }))
            .buffer_unordered(width)
            .collect::<Vec<_>>()
            .await
        });
        let mut out: Vec<Option<io::Result<Bytes>>> = paths.into_iter().map(|p| p.err().map(Err)).collect();
        match fetched {
            Ok(results) => {
                for (i, r) in results {
                    out[i] = Some(r.map_err(to_io));
                }
            }
            Err(e) => {
                let why = e.to_string();
                for o in out.iter_mut().filter(|o| o.is_none()) {
                    *o = Some(Err(io::Error::other(why.clone())));
                }
            }
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| Err(io::Error::other("read was not run")))).collect()
    }

    fn put_new(&self, key: &Key, bytes: &[u8], _durable: bool) -> io::Result<()> {
        self.put(key, Bytes::copy_from_slice(bytes), PutMode::Create)
    }

    fn create_new(&self, key: &Key) -> io::Result<Box<dyn NewFile>> {
        Ok(Box::new(ObjectNewFile {
            store: self.store.clone(),
            path: self.path(key)?,
            buf: Vec::new(),
            upload: None,
            in_flight: None,
            done: false,
        }))
    }

    fn sync_file(&self, _key: &Key) -> io::Result<()> {
        Ok(())
    }

    fn stage_exclusive(&self, key: &Key, bytes: &[u8], _durable: bool) -> io::Result<Staged> {
        self.path(key)?;
        Ok(Staged::in_memory(key.clone(), Bytes::copy_from_slice(bytes)))
    }

    fn publish_staged(&self, staged: Staged) -> io::Result<()> {
        let Some(bytes) = staged.bytes().cloned() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "staged by another backend"));
        };
        self.put(staged.key(), bytes, PutMode::Create)
    }

    fn discard_staged(&self, _staged: Staged) -> io::Result<()> {
        Ok(())
    }

    fn put_advisory(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        self.put(key, Bytes::copy_from_slice(bytes), PutMode::Overwrite)
    }

    fn create_dir_all(&self, _dir: Option<&Key>) -> io::Result<()> {
        Ok(())
    }

    fn sync_dir(&self, _dir: Option<&Key>) -> io::Result<()> {
        Ok(())
    }

    fn list(&self, prefix: Option<&Key>) -> io::Result<Listing> {
        let under = match prefix {
            Some(k) => Some(self.path(k)?),
            None if self.prefix.is_empty() => None,
            None => Some(ObjectPath::parse(&self.prefix).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?),
        };
        let store = self.store.clone();
        let metas = run(async move { store.list(under.as_ref()).try_collect::<Vec<_>>().await })?.map_err(to_io)?;
        let mut listing = Listing::default();
        for m in metas {
            match self.key_of(&m.location) {
                Some(Ok(key)) => listing.objects.push(ObjectMeta {
                    key,
                    size: m.size,
                    modified: Some(SystemTime::from(m.last_modified)),
                }),
                Some(Err(name)) => listing.skipped.push(Skipped { name, reason: SkipReason::InvalidName }),
                None => {}
            }
        }
        Ok(listing)
    }

    fn delete(&self, key: &Key) -> io::Result<()> {
        // Object stores delete a missing key quietly; the contract says `NotFound`.
        let path = self.path(key)?;
        let store = self.store.clone();
        run(async move {
            store.head(&path).await?;
            store.delete(&path).await
        })?
        .map_err(to_io)
    }

    fn delete_many(&self, keys: &[Key], _max_workers: usize) -> Vec<io::Result<()>> {
        // object_store's bulk delete: S3 `DeleteObjects` (1000 keys a request), Azure
        // blob batches, one DELETE each elsewhere; no HEAD first, so a key that did not
        // exist is reported deleted (the contract allows it for `delete_many`).
        if keys.is_empty() {
            return Vec::new();
        }
        let paths: Vec<io::Result<ObjectPath>> = keys.iter().map(|k| self.path(k)).collect();
        let todo: Vec<ObjectPath> = paths.iter().filter_map(|p| p.as_ref().ok().cloned()).collect();
        let store = self.store.clone();
        let outcome = run(async move {
            use futures::StreamExt;
            let input = futures::stream::iter(todo.into_iter().map(Ok)).boxed();
            store.delete_stream(input).collect::<Vec<_>>().await
        });
        let (deleted, failure) = match outcome {
            Ok(results) => {
                let mut deleted = std::collections::HashSet::new();
                let mut failure = None;
                for r in results {
                    match r {
                        Ok(p) => {
                            deleted.insert(p);
                        }
                        // A missing key is gone, which is what was asked.
                        Err(object_store::Error::NotFound { path, .. }) => {
                            if let Ok(p) = ObjectPath::parse(&path) {
                                deleted.insert(p);
                            }
                        }
                        Err(e) => {
                            failure.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                (deleted, failure)
            }
            Err(e) => (Default::default(), Some(e.to_string())),
        };
        paths
            .into_iter()
            .map(|p| match p {
                Err(e) => Err(e),
                Ok(p) if deleted.contains(&p) => Ok(()),
                Ok(_) => Err(io::Error::other(failure.clone().unwrap_or_else(|| "not deleted".to_string()))),
            })
            .collect()
    }

    fn try_lock_exclusive(&self, _key: &Key) -> io::Result<Option<LockGuard>> {
        Err(unsupported("an advisory lock on an object store"))
    }

    fn lock_exclusive(&self, _key: &Key) -> io::Result<LockGuard> {
        Err(unsupported("an advisory lock on an object store"))
    }
}

/// An object open for ranged reads.
struct ObjectRead {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    size: u64,
    /// The version the handle reads, when its size came from a HEAD.
    e_tag: Option<String>,
}

impl fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectRead").field("path", &self.path).field("size", &self.size).finish()
    }
}

impl RandomAccess for ObjectRead {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_range(&self, range: Range<u64>) -> io::Result<Bytes> {
        if range.start > range.end {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad range {range:?}")));
        }
        if range.end > self.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("range {range:?} is past the end of {} ({} bytes)", self.path, self.size),
            ));
        }
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let store = self.store.clone();
        let path = self.path.clone();
        let opts = GetOptions {
            range: Some(GetRange::Bounded(range.clone())),
            if_match: self.e_tag.clone(),
            ..Default::default()
        };
        let got = run(async move { store.get_opts(&path, opts).await?.bytes().await })?.map_err(|e| match e {
            // A range past the end of an object of unknown size.
            object_store::Error::Generic { .. } if self.size == u64::MAX => {
                io::Error::new(io::ErrorKind::UnexpectedEof, e)
            }
            e => to_io(e),
        })?;
        let want = range.end - range.start;
        if got.len() as u64 != want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{} returned {} bytes for a range of {want}", self.path, got.len()),
            ));
        }
        Ok(got)
    }
}

/// A streamed create: one buffer, then a multipart upload once it outgrows a part.
struct ObjectNewFile {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    buf: Vec<u8>,
    upload: Option<Box<dyn MultipartUpload>>,
    /// The part being uploaded while the next one fills.
    in_flight: Option<std::sync::mpsc::Receiver<object_store::Result<()>>>,
    done: bool,
}

impl ObjectNewFile {
    fn wait_in_flight(&mut self) -> io::Result<()> {
        if let Some(rx) = self.in_flight.take() {
            rx.recv().map_err(|_| io::Error::other("a part upload was dropped"))?.map_err(to_io)?;
        }
        Ok(())
    }

    /// Sends the buffer as the next part (starting the upload if needed).
    fn send_part(&mut self) -> io::Result<()> {
        if self.upload.is_none() {
            // Not atomic (a multipart upload cannot be conditional everywhere), but data
            // files have fresh random names: a taken name is a bug worth reporting.
            let store = self.store.clone();
            let path = self.path.clone();
            let exists = run(async move { store.head(&path).await })?;
            if exists.is_ok() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("{} exists", self.path)));
            }
            let store = self.store.clone();
            let path = self.path.clone();
            let upload = run(async move { store.put_multipart(&path).await })?.map_err(to_io)?;
            self.upload = Some(upload);
        }
        self.wait_in_flight()?;
        let part = PutPayload::from(std::mem::take(&mut self.buf));
        let Some(upload) = self.upload.as_mut() else { return Err(io::Error::other("no upload")) };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let fut = upload.put_part(part);
        runtime()?.spawn(async move {
            let _ = tx.send(fut.await);
        });
        self.in_flight = Some(rx);
        Ok(())
    }
}

impl Write for ObjectNewFile {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.done {
            return Err(io::Error::other("write after complete"));
        }
        let room = PART_BYTES - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= PART_BYTES {
            self.send_part()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl NewFile for ObjectNewFile {
    fn complete(&mut self, _durable: bool) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        if self.upload.is_none() {
            let store = self.store.clone();
            let path = self.path.clone();
            let body = PutPayload::from(std::mem::take(&mut self.buf));
            run(async move { store.put_opts(&path, body, PutOptions::from(PutMode::Create)).await })?.map_err(to_io)?;
            self.done = true;
            return Ok(());
        }
        if !self.buf.is_empty() {
            self.send_part()?;
        }
        self.wait_in_flight()?;
        let Some(mut upload) = self.upload.take() else { return Err(io::Error::other("no upload")) };
        run(async move { upload.complete().await })?.map_err(to_io)?;
        self.done = true;
        Ok(())
    }

    fn complete_later(&mut self, durable: bool) -> io::Result<PendingWrite> {
        if self.done || self.upload.is_some() {
            // A multipart upload completes in place (its parts are already out).
            return self.complete(durable).map(|()| PendingWrite::done());
        }
        // A small object is one PUT: sent on the runtime now, waited for by the caller.
        let store = self.store.clone();
        let path = self.path.clone();
        let body = PutPayload::from(std::mem::take(&mut self.buf));
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime()?.spawn(async move {
            let _ = tx.send(store.put_opts(&path, body, PutOptions::from(PutMode::Create)).await);
        });
        self.done = true;
        Ok(PendingWrite::new(move || {
            rx.recv()
                .map_err(|_| io::Error::other("the upload was dropped (its task panicked)"))?
                .map(|_| ())
                .map_err(to_io)
        }))
    }
}

impl Drop for ObjectNewFile {
    fn drop(&mut self) {
        // An unfinished upload's parts are billed until aborted.
        if let Some(mut upload) = self.upload.take()
            && let Ok(rt) = runtime()
        {
            rt.spawn(async move { upload.abort().await });
        }
    }
}

/// In-memory stores by name (`memory://name`), shared within the process so a table
/// opened twice sees one store (for tests and examples).
fn memory_store(name: &str) -> Arc<dyn ObjectStore> {
    static STORES: OnceLock<Mutex<HashMap<String, Arc<dyn ObjectStore>>>> = OnceLock::new();
    let mut stores = crate::sync::lock(STORES.get_or_init(Default::default));
    stores.entry(name.to_string()).or_insert_with(|| Arc::new(object_store::memory::InMemory::new())).clone()
}

/// Splits `scheme://authority/prefix` into authority and prefix.
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (_, rest) = url.split_once("://")?;
    Some(rest.split_once('/').unwrap_or((rest, "")))
}

/// Builds the store for an object-store URL (`s3://`, `s3a://`, `gs://`, `az://`,
/// `azure://`, `abfs://`, `abfss://`, `adl://`, `memory://`), with `options` keyed as
/// object_store's config keys (`aws_endpoint`, `google_service_account`,
/// `azure_storage_account_name`, …) over the environment's (`AWS_*`, `GOOGLE_*`,
/// `AZURE_*`). `None` for a scheme this build has no backend for.
pub(crate) fn open(scheme: &str, url: &str, options: &StorageOptions) -> Option<Result<Arc<dyn Storage>>> {
    let scheme = scheme.to_ascii_lowercase();
    let Some((authority, prefix)) = split_url(url) else {
        return Some(Err(Error::InvalidArgument(format!("{url} is not a URL of the form scheme://bucket/prefix"))));
    };
    let bad_option = |key: &str, e: &dyn fmt::Display| {
        Error::InvalidArgument(format!("storage option {key:?} is not understood for {scheme}:// ({e})"))
    };
    let built: Result<Arc<dyn ObjectStore>> = match scheme.as_str() {
        "memory" => {
            if let Some(key) = options.keys().next() {
                return Some(Err(bad_option(key, &"the in-memory store takes none")));
            }
            Ok(memory_store(authority))
        }
        #[cfg(feature = "s3")]
        "s3" | "s3a" => (|| {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut b = AmazonS3Builder::from_env().with_url(url);
            for (k, v) in options {
                let key: AmazonS3ConfigKey = k.to_ascii_lowercase().parse().map_err(|e| bad_option(k, &e))?;
                b = b.with_config(key, v);
            }
            Ok(Arc::new(b.build().map_err(|e| Error::InvalidArgument(format!("{url}: {e}")))?) as Arc<dyn ObjectStore>)
        })(),
        #[cfg(feature = "gcs")]
        "gs" => (|| {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(url);
            for (k, v) in options {
                let key: GoogleConfigKey = k.to_ascii_lowercase().parse().map_err(|e| bad_option(k, &e))?;
                b = b.with_config(key, v);
            }
            Ok(Arc::new(b.build().map_err(|e| Error::InvalidArgument(format!("{url}: {e}")))?) as Arc<dyn ObjectStore>)
        })(),
        #[cfg(feature = "azure")]
        "az" | "azure" | "abfs" | "abfss" | "adl" => (|| {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let mut b = MicrosoftAzureBuilder::from_env().with_url(url);
            for (k, v) in options {
                let key: AzureConfigKey = k.to_ascii_lowercase().parse().map_err(|e| bad_option(k, &e))?;
                b = b.with_config(key, v);
            }
            Ok(Arc::new(b.build().map_err(|e| Error::InvalidArgument(format!("{url}: {e}")))?) as Arc<dyn ObjectStore>)
        })(),
        _ => return None,
    };
    Some(built.and_then(|store| ObjectStorage::new(store, url, prefix).map(|s| Arc::new(s) as Arc<dyn Storage>)))
}
