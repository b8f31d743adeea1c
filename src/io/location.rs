//! Where a table's files live, and the mapping between paths and the absolute
//! `file://` URIs recorded in metadata (docs/format.md §1: readers need absolute paths).
//!
//! A [`TableLocation`] is the directory a table was *opened* at. Metadata records
//! absolute URIs (`location`, manifest lists, manifests, data files, metadata log), so
//! a table that was copied (`cp -a`, a restored backup) or moved (`mv`) still names
//! its old directory. This module is the one place that turns a recorded URI into a
//! local path, and owns what that means for such a table. Promises:
//!
//! * Every URI floe writes is absolute; [`TableLocation::confined_path`] refuses any
//!   recorded location that resolves outside the table root, so nothing read from
//!   metadata can make floe write or delete elsewhere.
//! * Only local directories are table locations: a path, or a `file:` URI
//!   (`file:///abs`, `file:/abs`). Any other scheme (`s3://`, `gs://`, `http://`, …)
//!   is refused by [`TableLocation::new`] with [`Error::UnsupportedLocation`] before
//!   anything is created.
//! * A recorded location is compared with the opened directory canonically (symlinks
//!   resolved, `file:` spellings and trailing slashes ignored): a table opened through
//!   a link is not relocated; a copy or a moved table is.
//! * [`TableLocation::read_path`] resolves every URI under a location this table's
//!   metadata has recorded (the newest one, and older ones seen in older versions) to
//!   the same relative path under the opened root, so a copy reads its own files,
//!   never the original's. A file outside every such location is read where it is
//!   only when the table is not relocated; otherwise it is
//!   [`Error::TableRelocated`], naming both locations.
//! * [`TableLocation::check_not_relocated`] is what every commit and every
//!   destructive maintenance operation calls: until the table is relocated
//!   (`Table::relocate`), they fail with [`Error::TableRelocated`].

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// The standard folders of one table.
#[derive(Debug, Clone)]
pub struct TableLocation {
    root: PathBuf,
    /// What this table's metadata records (shared by clones: one handle's view).
    recorded: Arc<Mutex<Recorded>>,
}

/// The locations a table's metadata files have recorded, as seen by one handle.
#[derive(Debug, Default)]
struct Recorded {
    /// Every distinct `location` met in this table's metadata.
    seen: Vec<RecordedLocation>,
    /// The location the handle's current metadata records, when it is not the opened
    /// directory.
    current_elsewhere: Option<String>,
}

#[derive(Debug)]
struct RecordedLocation {
    /// As written in metadata.
    uri: String,
    /// Its path, lexically normalized (at least one named component).
    path: PathBuf,
    /// It names the opened directory (possibly through a symlink).
    here: bool,
}

impl TableLocation {
    /// A table rooted at `root`: a local path or a `file:` URI (made absolute; symlinks
    /// in it resolved when the directory exists, so a table opened through a link is
    /// the same table). Any other URI scheme is [`Error::UnsupportedLocation`].
    pub fn new(root: &Path) -> Result<TableLocation> {
        let root = local_path(root)?;
        let abs = if root.is_absolute() {
            root
        } else {
            std::env::current_dir().map_err(|e| Error::io(&root, e))?.join(&root)
        };
        let abs = normalize(&abs);
        let root = std::fs::canonicalize(&abs).unwrap_or(abs);
        Ok(TableLocation { root, recorded: Arc::default() })
    }

    /// The table root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/metadata`
    pub fn metadata_dir(&self) -> PathBuf {
        self.root.join("metadata")
    }

    /// `<root>/data`
    pub fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `<root>/metadata/v<N>.metadata.json`
    pub fn version_file(&self, version: u64) -> PathBuf {
        self.metadata_dir().join(format!("v{version}.metadata.json"))
    }

    /// `<root>/metadata/version-hint.text`
    pub fn hint_file(&self) -> PathBuf {
        self.metadata_dir().join("version-hint.text")
    }

    /// `<root>/.locks/metadata.lock` (the file datashard locks around its commit).
    pub fn lock_file(&self) -> PathBuf {
        self.root.join(".locks").join("metadata.lock")
    }

    /// The table's `location` URI.
    pub fn root_uri(&self) -> String {
        path_to_uri(&self.root)
    }

    /// A path inside the table named by a URI from metadata, refusing anything that
    /// escapes the root.
    pub fn confined_path(&self, uri: &str) -> Result<PathBuf> {
        let path = uri_to_path(uri);
        let escapes = || Error::PathEscapesTable { path: uri.to_string(), root: self.root.clone() };
        if !path.is_absolute() || path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(escapes());
        }
        if !crate::io::storage::is_within(&self.root, &path) {
            return Err(escapes());
        }
        Ok(path)
    }

    /// Records that this table's metadata names `recorded` as its location (any
    /// version: the newest, an older one read for time travel or maintenance). Files
    /// under it are then read under the opened root. Returns whether `recorded` names
    /// the opened directory.
    pub(crate) fn observe(&self, recorded: &str) -> bool {
        let mut state = crate::sync::lock(&self.recorded);
        self.observe_locked(&mut state, recorded)
    }

    fn observe_locked(&self, state: &mut Recorded, recorded: &str) -> bool {
        if let Some(r) = state.seen.iter().find(|r| r.uri == recorded) {
            return r.here;
        }
        let path = normalize(&uri_to_path(recorded));
        let here = path == self.root || std::fs::canonicalize(&path).is_ok_and(|p| p == self.root);
        // A location without a named component ("", "/", "file:///") would capture
        // every path: it is never used to map files.
        if path.components().any(|c| matches!(c, Component::Normal(_))) {
            state.seen.push(RecordedLocation { uri: recorded.to_string(), path, here });
        }
        here
    }

    /// Records the location the handle's current metadata names (see
    /// [`TableLocation::relocated_from`]).
    pub(crate) fn set_current(&self, recorded: &str) {
        let mut state = crate::sync::lock(&self.recorded);
        let here = self.observe_locked(&mut state, recorded);
        state.current_elsewhere = (!here).then(|| recorded.to_string());
    }

    /// The location the handle's current metadata records, when it is not this
    /// directory (the table was copied or moved here and not yet relocated).
    pub fn relocated_from(&self) -> Option<String> {
        crate::sync::lock(&self.recorded).current_elsewhere.clone()
    }

    /// `Ok` when metadata recording `recorded` may be committed on or maintained from
    /// this directory; [`Error::TableRelocated`] when the table was copied or moved
    /// here (writes and destructive maintenance wait for `Table::relocate`).
    pub fn check_not_relocated(&self, recorded: &str) -> Result<()> {
        if self.observe(recorded) {
            return Ok(());
        }
        Err(Error::TableRelocated { recorded: recorded.to_string(), opened: self.root.clone(), file: None })
    }

    /// The local path to read a file named in metadata at. A URI under a location this
    /// table's metadata recorded maps to the same relative path under the opened root
    /// (a copy reads its own files); a relative path is relative to the root. Anything
    /// else is read where it is, unless the table is relocated: then it is
    /// [`Error::TableRelocated`] (it could be another table's file). Writes and
    /// deletes go through [`TableLocation::confined_path`] as well.
    pub fn read_path(&self, uri: &str) -> Result<PathBuf> {
        let path = normalize(&uri_to_path(uri));
        let state = crate::sync::lock(&self.recorded);
        let under = state.seen.iter().filter(|r| path.starts_with(&r.path)).max_by_key(|r| r.path.components().count());
        if let Some(r) = under {
            // `under` was chosen by `starts_with`, so the prefix always strips.
            let rel = path.strip_prefix(&r.path).unwrap_or(Path::new(""));
            return Ok(self.root.join(rel));
        }
        if path.starts_with(&self.root) {
            return Ok(path);
        }
        if !path.is_absolute() {
            return Ok(self.root.join(path));
        }
        match &state.current_elsewhere {
            Some(recorded) => Err(Error::TableRelocated {
                recorded: recorded.clone(),
                opened: self.root.clone(),
                file: Some(uri.to_string()),
            }),
            None => Ok(path),
        }
    }

    /// `path` relative to the table root, or the whole path when it lies outside:
    /// how maintenance compares files (a recorded URI and a listed file are the same
    /// file when their paths relative to the root agree).
    pub fn relative(&self, path: &Path) -> PathBuf {
        path.strip_prefix(&self.root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
    }
}

/// The scheme of a URI-looking location (`s3` of `s3://bucket/x`, `file` of
/// `file:/x`): RFC 3986 letters, at least two (so nothing like a drive letter), then
/// `:/`. `None` for a plain path.
pub fn uri_scheme(location: &str) -> Option<&str> {
    let (scheme, rest) = location.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    let valid = first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && scheme.len() >= 2;
    (valid && rest.starts_with('/')).then_some(scheme)
}

/// The local directory a caller's location names: a path as given, or a `file:` URI
/// (`file:///abs`, `file:/abs`, `file://localhost/abs`) as its absolute path. Any
/// other scheme, or a `file:` URI naming another host, is
/// [`Error::UnsupportedLocation`]: until object stores are supported, `s3://b/t` must
/// not quietly become a local folder named `s3:`.
pub fn local_path(location: &Path) -> Result<PathBuf> {
    let Some(text) = location.to_str() else { return Ok(location.to_path_buf()) };
    let Some(scheme) = uri_scheme(text) else { return Ok(location.to_path_buf()) };
    let unsupported = || Error::UnsupportedLocation { location: text.to_string(), scheme: scheme.to_string() };
    if !scheme.eq_ignore_ascii_case("file") {
        return Err(unsupported());
    }
    // uri_to_path matches the scheme in lower case, as floe writes it.
    let lowered = format!("file{}", &text[scheme.len()..]);
    let path = uri_to_path(&lowered);
    if !path.is_absolute() {
        // file://host/x: another machine's file.
        return Err(unsupported());
    }
    Ok(path)
}

/// Parses a version file name `v<N>.metadata.json`. Versions above 2^62 are not
/// versions floe could have written (the next one must be computable): `None`.
pub fn parse_version_file(name: &str) -> Option<u64> {
    let n = name.strip_prefix('v')?.strip_suffix(".metadata.json")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok().filter(|v| *v <= 1 << 62)
}

/// `file://` + absolute path.
pub fn path_to_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The local path a location names: `file:///x`, `file:/x` (Java's form) or `/x`.
/// The path is taken literally, as pyiceberg and datashard do: floe writes paths
/// unescaped, so decoding `%XX` would break tables whose directory names hold `%`.
pub fn uri_to_path(uri: &str) -> PathBuf {
    let rest = if let Some(r) = uri.strip_prefix("file://") {
        // file://localhost/x is legal too.
        r.strip_prefix("localhost").unwrap_or(r)
    } else if let Some(r) = uri.strip_prefix("file:") {
        r
    } else {
        uri
    };
    PathBuf::from(rest)
}

/// Removes `.` and resolves `..` lexically.
fn normalize(path: &Path) -> PathBuf {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names() {
        assert_eq!(parse_version_file("v12.metadata.json"), Some(12));
        assert_eq!(parse_version_file("v.metadata.json"), None);
        assert_eq!(parse_version_file("v1x.metadata.json"), None);
        assert_eq!(parse_version_file("00000-abc.metadata.json"), None);
    }

    #[test]
    fn uris() {
        assert_eq!(uri_to_path("file:///a/b"), PathBuf::from("/a/b"));
        assert_eq!(uri_to_path("file:/a/b"), PathBuf::from("/a/b"));
        assert_eq!(uri_to_path("/a/b%41c"), PathBuf::from("/a/b%41c"));
        let loc = TableLocation { root: PathBuf::from("/t/x"), recorded: Arc::default() };
        assert!(loc.confined_path("file:///t/x/data/a.parquet").is_ok());
        assert!(loc.confined_path("file:///t/x/../y/a.parquet").is_err());
        assert!(loc.confined_path("file:///etc/passwd").is_err());
        assert!(loc.confined_path("data/a.parquet").is_err());
    }

    #[test]
    fn schemes() {
        assert_eq!(uri_scheme("s3://b/t"), Some("s3"));
        assert_eq!(uri_scheme("abfss://c@a/t"), Some("abfss"));
        assert_eq!(uri_scheme("file:/x"), Some("file"));
        assert_eq!(uri_scheme("C:/x"), None, "a drive letter is not a scheme");
        assert_eq!(uri_scheme("./s3://b"), None);
        assert_eq!(uri_scheme("dir:name"), None);
        assert_eq!(uri_scheme("/abs/s3://x"), None);
        assert_eq!(local_path(Path::new("file:///a/b")).unwrap(), PathBuf::from("/a/b"));
        assert_eq!(local_path(Path::new("FILE:/a/b")).unwrap(), PathBuf::from("/a/b"));
        assert_eq!(local_path(Path::new("file://localhost/a")).unwrap(), PathBuf::from("/a"));
        assert_eq!(local_path(Path::new("rel/dir")).unwrap(), PathBuf::from("rel/dir"));
        for bad in ["s3://b/t", "gs://b/t", "http://h/t", "file://host/t"] {
            assert!(matches!(local_path(Path::new(bad)), Err(Error::UnsupportedLocation { .. })), "{bad}");
        }
    }

    #[test]
    fn relocated_reads_map_under_the_root() {
        let loc = TableLocation { root: PathBuf::from("/new/t"), recorded: Arc::default() };
        loc.set_current("file:///old/t/");
        assert_eq!(loc.relocated_from().as_deref(), Some("file:///old/t/"));
        assert!(loc.check_not_relocated("file:///old/t/").is_err());
        assert!(loc.check_not_relocated("file:///new/t").is_ok());
        assert_eq!(loc.read_path("file:///old/t/data/a.parquet").unwrap(), PathBuf::from("/new/t/data/a.parquet"));
        assert_eq!(loc.read_path("/old/t/data/a.parquet").unwrap(), PathBuf::from("/new/t/data/a.parquet"));
        assert_eq!(loc.read_path("file:///new/t/data/b").unwrap(), PathBuf::from("/new/t/data/b"));
        assert_eq!(loc.read_path("data/c").unwrap(), PathBuf::from("/new/t/data/c"));
        // `..` cannot climb out of the recorded location into someone else's files.
        assert!(matches!(
            loc.read_path("file:///old/t/../other/data/x"),
            Err(Error::TableRelocated { file: Some(_), .. })
        ));
        assert!(matches!(loc.read_path("file:///etc/passwd"), Err(Error::TableRelocated { .. })));
        // Once the current metadata is at home, older locations still map; others are read as they are.
        loc.set_current("file:///new/t");
        assert_eq!(loc.relocated_from(), None);
        assert_eq!(loc.read_path("file:///old/t/data/a").unwrap(), PathBuf::from("/new/t/data/a"));
        assert_eq!(loc.read_path("file:///elsewhere/x").unwrap(), PathBuf::from("/elsewhere/x"));
        // A location without a named component maps nothing.
        loc.observe("file:///");
        assert_eq!(loc.read_path("file:///elsewhere/x").unwrap(), PathBuf::from("/elsewhere/x"));
    }
}
