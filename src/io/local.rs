//! [`LocalStorage`]: the storage contract on a local file system, confined to one root
//! directory. The only module of floe that touches `std::fs`.
//!
//! What it keeps, beyond the contract in [`crate::io::storage`]:
//!
//! * **The commit point is `link(2)`**, never `rename(2)`: a staged object is a temp
//!   file `.<name>.<uuid>.tmp` beside its key (fsynced when durable), published by a
//!   hard link that fails with `EEXIST` instead of replacing, then the temp name is
//!   removed. Exactly one of N racing publishers wins a key.
//! * **fsync of files and directories** exactly where the caller asks (`durable`,
//!   [`Storage::sync_file`], [`Storage::sync_dir`], [`Storage::sync_root_entry`]), so a
//!   commit can write many files without syncing and sync them in parallel, and sync a
//!   directory once for many new names.
//! * **Confinement to the root**, lexically (a [`Key`] cannot climb out) and through
//!   symlinks: every write, create, publish, delete, lock and directory creation checks
//!   with `lstat` that no directory between the root and the object is a symlink
//!   leading outside the root (a symlink that stays inside is allowed). Reads follow
//!   symlinks.
//! * **Listings never follow symlinks**: a symlink (to a file or a directory) is
//!   reported in [`Listing::skipped`], so orphan cleanup can neither descend into nor
//!   delete anything a link points at.
//! * **The advisory lock** is `flock(2)` on a lock file (`File::lock`), released by the
//!   kernel when the process dies.
//! * **Advisory files are swapped in, not renamed over** (Linux, macOS): each storage
//!   handle keeps one side file per advisory key, named like a temp file
//!   (`.<name>.<uuid>.tmp`), writes the new contents into it and exchanges the two names
//!   atomically (`renameat2(RENAME_EXCHANGE)`). The version hint is rewritten on every
//!   commit, and a temp file + `rename` created one inode and freed another each time;
//!   on ext4 without a journal, every inode freed in the last minute is skipped, one by
//!   one, by every later file creation, so that churn slowed all of a commit's files
//!   (measured in docs/benchmarks.md). Readers see the old or the new contents, as with
//!   `rename`. The side file is removed when the last clone of the handle drops; one
//!   left by a crashed process is a temp file to orphan cleanup. Where the file system
//!   refuses the exchange, temp file + `rename` as before.
//!
//! Why hand-written rather than `object_store::local::LocalFileSystem` (0.14): that
//! store follows symlinks in listings and writes, including ones that resolve outside
//! its root (its docs say so), where floe must neither follow nor write through them;
//! it has no lock; its fsync is one switch that syncs every write and its directory
//! inside the write call, where floe's commit writes data files unsynced, syncs them in
//! parallel on its I/O pool and syncs a directory once for many names; its conditional
//! create stages and links in one call, where floe's commit stages, checks (the
//! transaction's age, its prestage) and only then takes the commit point; and it is
//! async, so a local table would need a runtime for every call. Each of those is a
//! guarantee floe documents, so the local backend implements the contract directly on
//! `std::fs` (some 400 lines).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::io::storage::{
    Capabilities, Key, Listing, LockGuard, NewFile, ObjectMeta, RandomAccess, SkipReason, Skipped, Staged, Storage,
};

/// The local file system under one root directory (see the module docs).
#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
    url: String,
    /// The root with symlinks resolved, computed once it exists (confinement checks run
    /// on every write; a root may not exist yet at construction).
    real_root: Arc<OnceLock<PathBuf>>,
    /// The side files advisory writes are swapped in through (see the module docs).
    sides: Arc<AdvisorySides>,
}

/// The side file of each advisory file this handle (and its clones) wrote, with the
/// process that made it: a process forked from this one uses side files of its own.
#[derive(Debug)]
struct AdvisorySides {
    files: Mutex<HashMap<PathBuf, (u32, PathBuf)>>,
    /// Cleared when the file system refuses an exchange: temp file + `rename` from then on.
    exchange: AtomicBool,
}

impl AdvisorySides {
    fn new() -> AdvisorySides {
        AdvisorySides { files: Mutex::new(HashMap::new()), exchange: AtomicBool::new(exchange::AVAILABLE) }
    }

    /// Replaces `path`'s contents with `bytes` by exchanging it with its side file;
    /// false when that was not done (the caller falls back to temp file + `rename`).
    fn swap_in(&self, path: &Path, bytes: &[u8]) -> bool {
        if !self.exchange.load(Ordering::Relaxed) {
            return false;
        }
        let pid = std::process::id();
        let mut files = crate::sync::lock(&self.files);
        let side = match files.get(path) {
            Some((owner, side)) if *owner == pid => side.clone(),
            _ => {
                let side = temp_name(path);
                files.insert(path.to_path_buf(), (pid, side.clone()));
                side
            }
        };
        match exchange::exchange_in(&side, path, bytes) {
            Ok(()) => true,
            Err(e) => {
                if exchange::unsupported(&e) {
                    self.exchange.store(false, Ordering::Relaxed);
                }
                let _ = fs::remove_file(&side);
                files.remove(path);
                false
            }
        }
    }
}

impl Drop for AdvisorySides {
    fn drop(&mut self) {
        let pid = std::process::id();
        let files = self.files.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (owner, side) in files.values() {
            if *owner == pid {
                let _ = fs::remove_file(side);
            }
        }
    }
}

/// Name exchange where the system has it (`renameat2(RENAME_EXCHANGE)` on Linux,
/// `renameatx_np(RENAME_SWAP)` on Apple systems, both through `rustix`).
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
mod exchange {
    use std::fs::{self, OpenOptions};
    use std::io;
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::path::Path;

    /// Whether [`exchange_in`] can succeed here at all.
    pub(super) const AVAILABLE: bool = true;

    /// Writes `bytes` into the side file `side` and exchanges it with `path` (made by a
    /// rename when `path` does not exist yet). The side file is overwritten in place
    /// and then cut to length, never emptied first: a reader that opened `path` before
    /// the previous exchange still holds this inode, and reads a committed version's
    /// number, not an empty file.
    pub(super) fn exchange_in(side: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
        // Reused, so opened without O_EXCL: a symlink put in its place is refused, not
        // followed out of the root.
        let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
        let f = OpenOptions::new().write(true).create(true).custom_flags(nofollow).open(side)?;
        f.write_all_at(bytes, 0)?;
        f.set_len(bytes.len() as u64)?;
        drop(f);
        let cwd = rustix::fs::CWD;
        match rustix::fs::renameat_with(cwd, side, cwd, path, rustix::fs::RenameFlags::EXCHANGE) {
            Ok(()) => Ok(()),
            Err(rustix::io::Errno::NOENT) if fs::symlink_metadata(side).is_ok() => fs::rename(side, path),
            Err(e) => Err(e.into()),
        }
    }

    /// True for the errors of a file system (or kernel) without name exchange.
    pub(super) fn unsupported(e: &io::Error) -> bool {
        let unsupported = [rustix::io::Errno::INVAL, rustix::io::Errno::NOSYS, rustix::io::Errno::OPNOTSUPP];
        e.kind() == io::ErrorKind::Unsupported
            || e.raw_os_error().is_some_and(|code| unsupported.iter().any(|u| u.raw_os_error() == code))
    }
}

/// Elsewhere: no exchange, advisory files are replaced by temp file + `rename`.
#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
mod exchange {
    use std::io;
    use std::path::Path;

    pub(super) const AVAILABLE: bool = false;

    pub(super) fn exchange_in(_side: &Path, _path: &Path, _bytes: &[u8]) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn unsupported(_e: &io::Error) -> bool {
        true
    }
}

impl LocalStorage {
    /// Storage rooted at `root` (made absolute and lexically normalized; symlinks in it
    /// resolved when it exists, so a root reached through a link is the same root).
    pub fn new(root: impl AsRef<Path>) -> LocalStorage {
        let root = root.as_ref();
        let abs = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir().map(|d| d.join(root)).unwrap_or_else(|_| root.to_path_buf())
        };
        let abs = normalize(&abs);
        let root = fs::canonicalize(&abs).unwrap_or(abs);
        let real_root = OnceLock::new();
        if let Ok(real) = fs::canonicalize(&root) {
            let _ = real_root.set(real);
        }
        let url = path_url(&root);
        LocalStorage { root, url, real_root: Arc::new(real_root), sides: Arc::new(AdvisorySides::new()) }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The path of `key` under the root.
    pub fn path_of(&self, key: &Key) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn dir_path(&self, dir: Option<&Key>) -> PathBuf {
        dir.map_or_else(|| self.root.clone(), |k| self.path_of(k))
    }

    /// The root with symlinks resolved; the lexical root while it does not exist.
    fn real_root(&self) -> PathBuf {
        if let Some(r) = self.real_root.get() {
            return r.clone();
        }
        match fs::canonicalize(&self.root) {
            Ok(real) => self.real_root.get_or_init(|| real).clone(),
            Err(_) => self.root.clone(),
        }
    }

    /// Refuses (`PermissionDenied`) a write at `path` (below the root by construction)
    /// that a symlink between the root and it would take outside the root.
    fn check_confined(&self, path: &Path) -> io::Result<()> {
        let Some(parent) = path.parent() else { return Ok(()) };
        // lstat each directory below the root (one or two per file: cheap, and unlike a
        // cache it sees a directory swapped for a symlink later); a component that does
        // not exist ends the walk (nothing below it exists yet).
        let Ok(rel) = parent.strip_prefix(&self.root) else { return Ok(()) };
        let mut dir = self.root.clone();
        let mut symlink = false;
        for c in rel.components() {
            dir.push(c);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    symlink = true;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        if !symlink {
            return Ok(());
        }
        // A symlink inside the root: allowed only if it resolves inside the root. The
        // nearest existing ancestor of the parent decides (a parent that does not exist
        // yet would be created below it: create_dir_all must not escape either).
        for dir in parent.ancestors() {
            if !dir.starts_with(&self.root) {
                return Ok(());
            }
            if let Ok(real) = fs::canonicalize(dir) {
                return if real.starts_with(self.real_root()) { Ok(()) } else { Err(self.escape_error(path)) };
            }
        }
        Ok(())
    }

    fn escape_error(&self, path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is outside the storage root {}", path.display(), self.root.display()),
        )
    }

    /// The confined path of `key` for a write.
    fn writable(&self, key: &Key) -> io::Result<PathBuf> {
        let path = self.path_of(key);
        self.check_confined(&path)?;
        Ok(path)
    }

    fn open_lock_file(&self, key: &Key) -> io::Result<File> {
        let path = self.writable(key)?;
        let open = || OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path);
        match open() {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                open()
            }
            Err(e) => Err(e),
        }
    }

    fn walk(&self, dir: &Path, wanted: &dyn Fn(&Key) -> bool, out: &mut Listing) -> io::Result<()> {
        let entries = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // A file may vanish between readdir and a look at it (a concurrent cleanup).
        let gone = |e: &io::Error| e.kind() == io::ErrorKind::NotFound;
        for entry in entries {
            let entry = entry?;
            // The type comes with the directory entry on most file systems (an lstat
            // otherwise); it is never a link's target.
            let ft = match entry.file_type() {
                Ok(ft) => ft,
                Err(e) if gone(&e) => continue,
                Err(e) => return Err(e),
            };
            let path = entry.path();
            let rel = path.strip_prefix(&self.root).unwrap_or(&path);
            if ft.is_symlink() {
                out.skipped.push(Skipped { name: rel.to_string_lossy().into_owned(), reason: SkipReason::Link });
            } else if ft.is_dir() {
                self.walk(&path, wanted, out)?;
            } else if ft.is_file() {
                let Some(Ok(key)) = rel.to_str().map(Key::new) else {
                    let name = rel.to_string_lossy().into_owned();
                    out.skipped.push(Skipped { name, reason: SkipReason::InvalidName });
                    continue;
                };
                if !wanted(&key) {
                    continue;
                }
                // Size and time: an lstat relative to the open directory
                // (`DirEntry::metadata`), only for the files the caller wants.
                let meta = match entry.metadata() {
                    Ok(m) => m,
                    Err(e) if gone(&e) => continue,
                    Err(e) => return Err(e),
                };
                out.objects.push(ObjectMeta { key, size: meta.len(), modified: meta.modified().ok() });
            }
        }
        Ok(())
    }
}

/// `file://` + the absolute path (literally: floe records paths unescaped).
fn path_url(path: &Path) -> String {
    let text = path.display().to_string();
    format!("file://{}", text.trim_end_matches('/'))
}

/// Removes `.` and resolves `..` lexically.
pub(crate) fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The path with symlinks resolved, when it exists (how two spellings of one local
/// directory are recognised as the same).
pub(crate) fn canonical(path: &Path) -> Option<PathBuf> {
    fs::canonicalize(path).ok()
}

fn temp_name(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()))
}

fn write_file(path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(bytes)?;
    if durable {
        f.sync_all()?;
    }
    Ok(())
}

fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// An open local file for ranged reads (`pread`).
#[derive(Debug)]
struct LocalRead {
    file: File,
    size: u64,
}

impl RandomAccess for LocalRead {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_range(&self, range: Range<u64>) -> io::Result<Bytes> {
        let len = range.end.checked_sub(range.start).filter(|_| range.end <= self.size).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("range {range:?} is past the end of a {}-byte file", self.size),
            )
        })?;
        let mut buf = vec![0u8; len as usize];
        self.file.read_exact_at(&mut buf, range.start)?;
        Ok(buf.into())
    }
}

struct LocalNewFile(File);

impl Write for LocalNewFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl NewFile for LocalNewFile {
    fn complete(&mut self, durable: bool) -> io::Result<()> {
        self.0.flush()?;
        if durable { self.0.sync_all() } else { Ok(()) }
    }

    fn sync_so_far(&mut self) -> io::Result<()> {
        self.0.flush()?;
        self.0.sync_data()
    }
}

impl Storage for LocalStorage {
    fn root_url(&self) -> &str {
        &self.url
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::local_file_system()
    }

    fn display_path(&self, key: Option<&Key>) -> PathBuf {
        self.dir_path(key)
    }

    fn read(&self, key: &Key) -> io::Result<Bytes> {
        fs::read(self.path_of(key)).map(Bytes::from)
    }

    fn open_read(&self, key: &Key, _size_hint: Option<u64>) -> io::Result<Arc<dyn RandomAccess>> {
        // The size comes from the open file: a hint is not trusted over the disk.
        let file = File::open(self.path_of(key))?;
        let size = file.metadata()?.len();
        Ok(Arc::new(LocalRead { file, size }))
    }

    fn head(&self, key: &Key) -> io::Result<ObjectMeta> {
        let meta = fs::metadata(self.path_of(key))?;
        if meta.is_dir() {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, format!("{key} is a directory, not an object")));
        }
        Ok(ObjectMeta { key: key.clone(), size: meta.len(), modified: meta.modified().ok() })
    }

    fn exists(&self, key: &Key) -> io::Result<bool> {
        self.path_of(key).try_exists()
    }

    fn put_new(&self, key: &Key, bytes: &[u8], durable: bool) -> io::Result<()> {
        let path = self.writable(key)?;
        let res = write_file(&path, bytes, durable);
        if let Err(e) = &res
            && e.kind() != io::ErrorKind::AlreadyExists
        {
            // Do not leave a partial file under a name someone may trust; a failure
            // with AlreadyExists created nothing of ours.
            let _ = fs::remove_file(&path);
        }
        res
    }

    fn create_new(&self, key: &Key) -> io::Result<Box<dyn NewFile>> {
        let path = self.writable(key)?;
        Ok(Box::new(LocalNewFile(OpenOptions::new().write(true).create_new(true).open(path)?)))
    }

    fn sync_file(&self, key: &Key) -> io::Result<()> {
        File::open(self.path_of(key))?.sync_all()
    }

    fn stage_exclusive(&self, key: &Key, bytes: &[u8], durable: bool) -> io::Result<Staged> {
        let path = self.writable(key)?;
        let tmp = temp_name(&path);
        if let Err(e) = write_file(&tmp, bytes, durable) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // temp_name keeps the file beside its key and its name a valid segment.
        let temp = match key.parent() {
            Some(dir) => dir.join(&tmp.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
            None => Key::new(tmp.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
        };
        match temp {
            Ok(temp) => Ok(Staged::in_temp(key.clone(), temp)),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e.into())
            }
        }
    }

    fn publish_staged(&self, staged: Staged) -> io::Result<()> {
        let Some(temp) = staged.temp() else {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not staged by this storage"));
        };
        let temp = self.path_of(temp);
        let path = match self.writable(staged.key()) {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
        };
        // link(2) fails with EEXIST instead of replacing: this is the commit point.
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        linked
    }

    fn discard_staged(&self, staged: Staged) -> io::Result<()> {
        match staged.temp() {
            Some(temp) => fs::remove_file(self.path_of(temp)),
            None => Ok(()),
        }
    }

    fn put_advisory(&self, key: &Key, bytes: &[u8]) -> io::Result<()> {
        let path = self.writable(key)?;
        if self.sides.swap_in(&path, bytes) {
            return Ok(());
        }
        let tmp = temp_name(&path);
        if let Err(e) = write_file(&tmp, bytes, false) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        // rename replaces atomically: readers see the old or the new hint.
        let res = fs::rename(&tmp, &path);
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    fn kept_by_handle(&self) -> Vec<Key> {
        let pid = std::process::id();
        let files = crate::sync::lock(&self.sides.files);
        files
            .values()
            .filter(|(owner, _)| *owner == pid)
            .filter_map(|(_, side)| side.strip_prefix(&self.root).ok()?.to_str().and_then(|k| Key::new(k).ok()))
            .collect()
    }

    fn create_dir_all(&self, dir: Option<&Key>) -> io::Result<()> {
        let path = self.dir_path(dir);
        if dir.is_some() {
            self.check_confined(&path.join("x"))?;
        }
        fs::create_dir_all(path)
    }

    fn sync_dir(&self, dir: Option<&Key>) -> io::Result<()> {
        sync_directory(&self.dir_path(dir))
    }

    fn sync_root_entry(&self) -> io::Result<()> {
        match self.root.parent() {
            Some(parent) => sync_directory(parent),
            None => Ok(()),
        }
    }

    fn list(&self, prefix: Option<&Key>) -> io::Result<Listing> {
        self.list_where(prefix, &|_| true)
    }

    fn list_where(&self, prefix: Option<&Key>, wanted: &dyn Fn(&Key) -> bool) -> io::Result<Listing> {
        let mut out = Listing::default();
        let dir = self.dir_path(prefix);
        // The prefix itself may be a symlink: it is not followed either.
        if prefix.is_some() && fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
            let name = prefix.map(|p| p.to_string()).unwrap_or_default();
            out.skipped.push(Skipped { name, reason: SkipReason::Link });
            return Ok(out);
        }
        self.walk(&dir, wanted, &mut out)?;
        Ok(out)
    }

    fn delete(&self, key: &Key) -> io::Result<()> {
        fs::remove_file(self.writable(key)?)
    }

    fn try_lock_exclusive(&self, key: &Key) -> io::Result<Option<LockGuard>> {
        let file = self.open_lock_file(key)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LockGuard::new(file))),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }

    fn lock_exclusive(&self, key: &Key) -> io::Result<LockGuard> {
        let file = self.open_lock_file(key)?;
        file.lock()?;
        Ok(LockGuard::new(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Key {
        Key::new(s).unwrap()
    }

    #[test]
    fn symlinked_parent_escaping_root_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("evil")).unwrap();
        let s = LocalStorage::new(root.path());
        let err = s.put_new(&key("evil/x"), b"x", false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(!outside.path().join("x").exists());
        // A directory that does not exist yet below the symlink: its nearest existing
        // ancestor decides (this used to be created outside the root).
        let err = s.create_dir_all(Some(&key("evil/new/deeper"))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(!outside.path().join("new").exists());
        // A root that does not exist yet can be created with its subdirectories.
        let fresh = root.path().join("fresh");
        let s = LocalStorage::new(&fresh);
        s.create_dir_all(Some(&key("a/b"))).unwrap();
        s.put_new(&key("a/b/x"), b"x", false).unwrap();
        assert_eq!(&s.read(&key("a/b/x")).unwrap()[..], b"x");
    }

    /// The hint's contents are swapped in through one side file per handle: every
    /// write is read back whole (longer and shorter), no other file is made, the side
    /// file goes when the handle does, and a symlink put in its place is neither
    /// followed nor written through.
    #[test]
    fn advisory_writes_swap_through_one_side_file() {
        let root = tempfile::tempdir().unwrap();
        let hint = key("metadata/version-hint.text");
        let files = || {
            let mut names: Vec<String> = fs::read_dir(root.path().join("metadata"))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        let s = LocalStorage::new(root.path());
        s.create_dir_all(hint.parent().as_ref()).unwrap();
        for bytes in [&b"9"[..], b"10", b"1000", b"999", b"1001"] {
            s.put_advisory(&hint, bytes).unwrap();
            assert_eq!(&s.read(&hint).unwrap()[..], bytes);
        }
        let names = files();
        let side = names.iter().find(|n| n.starts_with(".version-hint.text.") && n.ends_with(".tmp"));
        if exchange::AVAILABLE {
            // The exchange kept one side file, holding the previous contents.
            assert_eq!(names.len(), 2, "{names:?}");
            let side = side.unwrap();
            assert_eq!(fs::read(root.path().join("metadata").join(side)).unwrap(), b"999");
            // One inode each, swapped back and forth: nothing is created or freed.
            let inode = |p: &Path| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
            let before = [inode(&s.path_of(&hint)), inode(&root.path().join("metadata").join(side))];
            s.put_advisory(&hint, b"1002").unwrap();
            let after = [inode(&s.path_of(&hint)), inode(&root.path().join("metadata").join(side))];
            assert_eq!(after, [before[1], before[0]]);
            // A clone shares the side file; the last one dropped removes it.
            let clone = s.clone();
            drop(s);
            assert_eq!(files().len(), 2);
            clone.put_advisory(&hint, b"1003").unwrap();
            drop(clone);
            assert_eq!(files(), ["version-hint.text"]);
            assert_eq!(fs::read(root.path().join("metadata/version-hint.text")).unwrap(), b"1003");
        } else {
            assert_eq!(names, ["version-hint.text"]);
        }

        // A symlink in the side file's place: refused, then the write falls back to a
        // temp file + rename; the link's target outside is untouched.
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("target");
        fs::write(&target, b"outside").unwrap();
        let s = LocalStorage::new(root.path());
        s.put_advisory(&hint, b"1004").unwrap();
        for name in files() {
            if name != "version-hint.text" {
                let side = root.path().join("metadata").join(&name);
                fs::remove_file(&side).unwrap();
                std::os::unix::fs::symlink(&target, &side).unwrap();
            }
        }
        s.put_advisory(&hint, b"1005").unwrap();
        assert_eq!(&s.read(&hint).unwrap()[..], b"1005");
        assert_eq!(fs::read(&target).unwrap(), b"outside");
        assert!(!fs::symlink_metadata(s.path_of(&hint)).unwrap().file_type().is_symlink());
    }

    #[test]
    fn urls_are_literal_paths() {
        let s = LocalStorage::new("/t/a b%41/../c");
        assert_eq!(s.root_url(), "file:///t/c");
        assert_eq!(s.url(&key("data/x y.parquet")), "file:///t/c/data/x y.parquet");
        assert_eq!(LocalStorage::new("/").root_url(), "file://");
        assert_eq!(LocalStorage::new("/").url(&key("etc/x")), "file:///etc/x");
    }
}

/// Plain-file helpers for floe's unit tests, which build and damage fixture files
/// (kept here so `std::fs` stays inside the local backend).
#[cfg(test)]
pub(crate) mod test_fs {
    use std::path::Path;

    pub(crate) fn read(path: impl AsRef<Path>) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    pub(crate) fn read_to_string(path: impl AsRef<Path>) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    pub(crate) fn write(path: impl AsRef<Path>, bytes: impl AsRef<[u8]>) {
        std::fs::write(path, bytes).unwrap()
    }

    pub(crate) fn create(path: impl AsRef<Path>) -> std::fs::File {
        std::fs::File::create(path).unwrap()
    }

    pub(crate) fn open(path: impl AsRef<Path>) -> std::fs::File {
        std::fs::File::open(path).unwrap()
    }

    pub(crate) fn len(path: impl AsRef<Path>) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }
}
