//! The file-system contract floe's commit protocol stands on.
//!
//! [`Storage`] is everything the table, transaction, write and scan layers may do to
//! files they create or delete: metadata, manifests, manifest lists *and* Parquet data
//! files all go through it, so a fault-injecting implementation (tests/faults.rs) reaches
//! every write of a commit. Its contract, which every implementation must keep (the
//! conformance suite in `tests/faults.rs` checks it against [`LocalStorage`]):
//!
//! * **Write-once.** [`Storage::write_new`] and [`Storage::create_new`] create a file
//!   that did not exist and fail with `AlreadyExists` otherwise (exclusive create); no
//!   method overwrites a file except [`Storage::replace_advisory`], which is only for the
//!   advisory version hint. A file is only trusted once complete: a writer that failed
//!   part-way leaves a file the caller deletes (or maintenance removes as an orphan);
//!   no metadata references a file before it was written completely.
//! * **Exclusive publish.** [`Storage::publish_exclusive`] (= [`Storage::write_temp`] +
//!   [`Storage::link_temp`]) makes a complete file appear at its final name atomically,
//!   or fails with `AlreadyExists` if the name is taken. Readers never see a partial
//!   file under the final name. On the local file system this is temp file + fsync +
//!   `link(2)` (never `rename`, which overwrites). An error other than `AlreadyExists`
//!   from `link_temp` is *ambiguous*: the name may or may not have been created, and
//!   the caller resolves it by reading the file back.
//! * **Durability.** With `durable = true` (or after [`Storage::sync_file`] /
//!   [`NewFile::complete`]`(true)`) a file's bytes are on stable storage; a new
//!   directory entry is on stable storage after [`Storage::sync_dir`] of its directory
//!   (and a new directory's entry after `sync_dir` of its parent). `publish_exclusive`
//!   with `durable` does both.
//! * **Listing.** [`Storage::list`] returns the entries of one directory (names, sizes,
//!   mtimes), possibly including temp files (`.<name>.<uuid>.tmp`) and orphans of
//!   crashed writers, which callers must never mistake for committed files.
//! * **Confinement.** Writes, creates, links and deletes are refused
//!   (`PermissionDenied`) for paths outside the root given at construction, lexically
//!   (`..`, other absolute paths) and after resolving symlinks of the parent directory.
//!
//! Paths are absolute. Reads may go anywhere (a table may reference files it did not
//! write); the table layer decides what it trusts.

use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

/// One directory entry from [`Storage::list`].
#[derive(Debug, Clone)]
pub struct ListEntry {
    /// File name (not the full path).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when the platform reports it.
    pub modified: Option<SystemTime>,
    /// True for directories.
    pub is_dir: bool,
}

/// A held advisory lock; released on drop (and by the kernel if the process dies).
pub struct LockGuard {
    _file: Option<File>,
}

impl Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockGuard")
    }
}

impl LockGuard {
    /// A guard that holds nothing (storage without locks).
    pub fn none() -> Self {
        LockGuard { _file: None }
    }
}

/// A file being created by [`Storage::create_new`]: bytes go in through [`io::Write`].
pub trait NewFile: io::Write + Send {
    /// Flushes everything written and, when `durable`, fsyncs the file's contents. The
    /// file is complete once this returns `Ok`; nothing is written after it.
    fn complete(&mut self, durable: bool) -> io::Result<()>;
}

impl NewFile for File {
    fn complete(&mut self, durable: bool) -> io::Result<()> {
        self.flush()?;
        if durable { self.sync_all() } else { Ok(()) }
    }
}

/// The operations floe performs on files. See the module docs for the contract.
pub trait Storage: Send + Sync + Debug {
    /// The whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Whether a file exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Creates `path` with `bytes`; `AlreadyExists` if it exists. Fsynced if `durable`.
    fn write_new(&self, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()>;
    /// Creates `path` exclusively (`AlreadyExists` if the name is taken) for streaming
    /// writes (Parquet data files). Until [`NewFile::complete`] returns `Ok` the file is
    /// incomplete; a caller whose write fails deletes it.
    fn create_new(&self, path: &Path) -> io::Result<Box<dyn NewFile>>;
    /// Fsyncs the contents of a complete file this process wrote without durability.
    fn sync_file(&self, path: &Path) -> io::Result<()>;
    /// Writes `bytes` to a new temporary file beside `final_path` (fsynced when
    /// `durable`) and returns its path: the first half of an exclusive publish.
    fn write_temp(&self, final_path: &Path, bytes: &[u8], durable: bool) -> io::Result<PathBuf>;
    /// Atomically gives the complete file `temp` the name `final_path`, failing with
    /// `AlreadyExists` if the name is taken; `temp` is removed either way. The new
    /// directory entry is durable only after [`Storage::sync_dir`].
    fn link_temp(&self, temp: &Path, final_path: &Path) -> io::Result<()>;
    /// Atomically creates `path` holding `bytes`, or fails with `AlreadyExists`.
    /// When `durable`, the file and its directory entry are synced before returning.
    fn publish_exclusive(&self, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
        let temp = self.write_temp(path, bytes, durable)?;
        self.link_temp(&temp, path)?;
        if durable && let Some(dir) = path.parent() {
            self.sync_dir(dir)?;
        }
        Ok(())
    }
    /// Replaces `path` atomically (temp + rename). Only for advisory files.
    fn replace_advisory(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Fsyncs a directory so entries created in it survive a power cut.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Entries of a directory (`NotFound` if it does not exist).
    fn list(&self, dir: &Path) -> io::Result<Vec<ListEntry>>;
    /// Deletes a file.
    fn delete(&self, path: &Path) -> io::Result<()>;
    /// Tries to take an exclusive advisory lock on `path` (created if needed);
    /// `Ok(None)` when another holder has it.
    fn try_lock_exclusive(&self, path: &Path) -> io::Result<Option<LockGuard>>;
    /// Takes an exclusive advisory lock on `path`, blocking until it is free.
    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard>;
}

/// The local file system, confined to one root directory.
#[derive(Debug)]
pub struct LocalStorage {
    root: PathBuf,
    /// The root with symlinks resolved, computed once it exists (confinement checks
    /// run on every write; a data-file writer's root may not exist yet at construction).
    real_root: std::sync::OnceLock<PathBuf>,
}

impl Clone for LocalStorage {
    fn clone(&self) -> Self {
        LocalStorage { root: self.root.clone(), real_root: self.real_root.clone() }
    }
}

impl LocalStorage {
    /// Storage whose writes and deletes are confined to `root` (absolute).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let real_root = std::sync::OnceLock::new();
        if let Ok(real) = fs::canonicalize(&root) {
            let _ = real_root.set(real);
        }
        LocalStorage { root, real_root }
    }

    /// The confinement root.
    pub fn root(&self) -> &Path {
        &self.root
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

    fn check_confined(&self, path: &Path) -> io::Result<()> {
        if !is_within(&self.root, path) {
            return Err(escape_error(path, &self.root));
        }
        let Some(parent) = path.parent() else { return Ok(()) };
        // Lexically inside; a symlink between the root and the file could still lead
        // out. lstat each directory below the root (one or two per file: cheap, and
        // unlike a cache it sees a directory swapped for a symlink later); a component
        // that does not exist ends the walk (nothing below it exists yet).
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
        // A symlink inside the table: allowed only if it resolves inside the root. The
        // nearest existing ancestor of the parent decides (a parent that does not exist
        // yet would be created below it: create_dir_all must not escape either).
        for dir in parent.ancestors() {
            if !dir.starts_with(&self.root) {
                return Ok(());
            }
            if let Ok(real) = fs::canonicalize(dir) {
                return if real.starts_with(self.real_root()) { Ok(()) } else { Err(escape_error(path, &self.root)) };
            }
        }
        Ok(())
    }
}

fn escape_error(path: &Path, root: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} is outside the table root {}", path.display(), root.display()),
    )
}

/// True when `path` is lexically inside `root` (no `..` components, absolute, prefix).
pub fn is_within(root: &Path, path: &Path) -> bool {
    path.is_absolute()
        && !path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        && path.starts_with(root)
        && path != root
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

impl Storage for LocalStorage {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        fs::read(path)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn write_new(&self, path: &Path, bytes: &[u8], durable: bool) -> io::Result<()> {
        self.check_confined(path)?;
        let res = write_file(path, bytes, durable);
        if res.is_err() {
            // Do not leave a partial file under a name someone may trust; a failure
            // with AlreadyExists created nothing of ours.
            if !matches!(&res, Err(e) if e.kind() == io::ErrorKind::AlreadyExists) {
                let _ = fs::remove_file(path);
            }
        }
        res
    }

    fn create_new(&self, path: &Path) -> io::Result<Box<dyn NewFile>> {
        self.check_confined(path)?;
        Ok(Box::new(OpenOptions::new().write(true).create_new(true).open(path)?))
    }

    fn sync_file(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }

    fn write_temp(&self, final_path: &Path, bytes: &[u8], durable: bool) -> io::Result<PathBuf> {
        self.check_confined(final_path)?;
        let tmp = temp_name(final_path);
        if let Err(e) = write_file(&tmp, bytes, durable) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(tmp)
    }

    fn link_temp(&self, temp: &Path, final_path: &Path) -> io::Result<()> {
        self.check_confined(final_path)?;
        // link(2) fails with EEXIST instead of replacing: this is the commit point.
        let linked = fs::hard_link(temp, final_path);
        let _ = fs::remove_file(temp);
        linked
    }

    fn replace_advisory(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.check_confined(path)?;
        let tmp = temp_name(path);
        if let Err(e) = write_file(&tmp, bytes, false) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        let res = fs::rename(&tmp, path);
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sync_directory(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        if dir != self.root {
            self.check_confined(dir)?;
        }
        fs::create_dir_all(dir)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<ListEntry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else { continue };
            // A file may vanish between readdir and stat (a concurrent cleanup).
            let Ok(meta) = entry.metadata() else { continue };
            out.push(ListEntry { name, size: meta.len(), modified: meta.modified().ok(), is_dir: meta.is_dir() });
        }
        Ok(out)
    }

    fn delete(&self, path: &Path) -> io::Result<()> {
        self.check_confined(path)?;
        fs::remove_file(path)
    }

    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard> {
        let file = self.open_lock_file(path)?;
        file.lock()?;
        Ok(LockGuard { _file: Some(file) })
    }

    fn try_lock_exclusive(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        let file = self.open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LockGuard { _file: Some(file) })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

impl LocalStorage {
    fn open_lock_file(&self, path: &Path) -> io::Result<File> {
        self.check_confined(path)?;
        let open = || OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path);
        let file = match open() {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                open()?
            }
            Err(e) => return Err(e),
        };
        Ok(file)
    }
}

fn sync_directory(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confinement_is_lexical_and_real() {
        let root = Path::new("/t/table");
        assert!(is_within(root, Path::new("/t/table/data/x.parquet")));
        assert!(!is_within(root, Path::new("/t/table/../other/x")));
        assert!(!is_within(root, Path::new("/t/tablex/x")));
        assert!(!is_within(root, Path::new("data/x")));
        assert!(!is_within(root, root));
    }

    #[test]
    fn symlinked_parent_escaping_root_is_refused() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("evil")).unwrap();
        let s = LocalStorage::new(root.path());
        let err = s.write_new(&root.path().join("evil/x"), b"x", false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(!outside.path().join("x").exists());
        // A directory that does not exist yet below the symlink: its nearest existing
        // ancestor decides (this used to be created outside the root).
        let err = s.create_dir_all(&root.path().join("evil/new/deeper")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(!outside.path().join("new").exists());
        // A root that does not exist yet can be created with its subdirectories.
        let fresh = root.path().join("fresh");
        let s = LocalStorage::new(&fresh);
        s.create_dir_all(&fresh.join("a/b")).unwrap();
        s.write_new(&fresh.join("a/b/x"), b"x", false).unwrap();
    }
}
