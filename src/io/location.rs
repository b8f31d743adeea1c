//! Where a table's files live: the one place that maps the absolute URIs recorded in
//! metadata to keys of the table's store, and back (docs/format.md §1: readers need
//! absolute URIs, so metadata keeps recording `file:///abs/table/...`).
//!
//! A [`TableLocation`] is the store a table was *opened* at (its root URL) plus what its
//! metadata has recorded. Metadata records absolute URIs (`location`, manifest lists,
//! manifests, data files, metadata log), so a table that was copied (`cp -a`, a
//! restored backup) or moved (`mv`) still names its old directory. This module owns what
//! that means for such a table. Promises:
//!
//! * Every URI floe writes is `root URL/key` ([`TableLocation::uri`]);
//!   [`TableLocation::confined_key`] refuses any recorded URI that does not lie strictly
//!   below the table root (another scheme or host, `..`, a relative path), so nothing
//!   read from metadata can make floe write or delete elsewhere.
//! * A recorded location is compared with the opened root canonically (symlinks
//!   resolved, `file:` spellings and trailing slashes ignored): a table opened through a
//!   link is not relocated; a copy or a moved table is.
//! * [`TableLocation::resolve`] maps every URI under a location this table's metadata
//!   has recorded (the newest one, and older ones seen in older versions) to the same
//!   key under the opened root, so a copy reads its own files, never the original's. A
//!   relative path is a key under the root. A file outside every such location is read
//!   where it is (through a store built for its own root by [`crate::io::open_store`])
//!   only when the table is not relocated; otherwise it is [`Error::TableRelocated`],
//!   naming both locations.
//! * [`TableLocation::check_not_relocated`] is what every commit and every destructive
//!   maintenance operation calls: until the table is relocated (`Table::relocate`),
//!   they fail with [`Error::TableRelocated`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::io::storage::{Key, Storage};
use crate::io::{StorageOptions, StoreUrl, canonical_url, open_store, uri_scheme};

/// A file named in metadata, resolved for reading: the store that holds it and its key
/// there (the table's own store for every file under the table root).
#[derive(Debug, Clone)]
pub struct FileRef {
    /// The store holding the file.
    pub store: Arc<dyn Storage>,
    /// Its key in `store`.
    pub key: Key,
    /// The file lies outside the table root (read where it is).
    pub external: bool,
}

impl FileRef {
    /// How the file is named in errors (its local path, or its URL).
    pub fn path(&self) -> PathBuf {
        self.store.display_path(Some(&self.key))
    }

    /// Its URL (`root/key` of its store).
    pub fn url(&self) -> String {
        self.store.url(&self.key)
    }

    /// The whole file.
    pub fn read(&self) -> Result<bytes::Bytes> {
        self.store.read(&self.key).map_err(|e| Error::io(self.path(), e))
    }

    /// What identifies the file when comparing references: its key for a file of the
    /// table, its URL for one outside.
    pub fn id(&self) -> String {
        if self.external { self.url() } else { self.key.to_string() }
    }
}

/// A table's root and the locations its metadata recorded (see the module docs).
#[derive(Debug, Clone)]
pub struct TableLocation {
    store: Arc<dyn Storage>,
    root: UriPath,
    /// The store's root URL followed by `/`, when its spelling has no `.` or `..`
    /// segment and it names a directory below the store's authority: a URI that
    /// starts with it maps to the key after it (see `confined_key`).
    root_prefix: Option<String>,
    display_root: PathBuf,
    options: Arc<StorageOptions>,
    /// Stores for files outside the table root, by authority (`file`, `s3://bucket`).
    external: Arc<Mutex<HashMap<String, Arc<dyn Storage>>>>,
    /// What this table's metadata records (shared by clones: one handle's view).
    recorded: Arc<Mutex<Recorded>>,
}

/// The locations a table's metadata files have recorded, as seen by one handle.
#[derive(Debug, Default)]
struct Recorded {
    /// Every distinct `location` met in this table's metadata.
    seen: Vec<RecordedLocation>,
    /// The location the handle's current metadata records, when it is not the opened
    /// root.
    current_elsewhere: Option<String>,
}

#[derive(Debug)]
struct RecordedLocation {
    /// As written in metadata.
    uri: String,
    /// Parsed and lexically normalized (at least one named segment).
    path: UriPath,
    /// It names the opened root (possibly through a symlink).
    here: bool,
}

/// A URI split into what identifies its namespace and its normalized path segments.
#[derive(Debug, Clone, PartialEq, Eq)]
struct UriPath {
    /// `file` for local paths and `file:` URIs; `scheme://host` for other URLs.
    authority: String,
    /// A plain relative path (no scheme, no leading `/`).
    relative: bool,
    /// The path's segments, `.` removed and `..` resolved lexically.
    segments: Vec<String>,
    /// The path held a `..` segment before normalizing.
    climbs: bool,
}

impl UriPath {
    /// Parses a recorded URI the way floe and the readers it shares tables with do:
    /// `file:///x`, `file:/x` (Java's form), `file://localhost/x`, a plain `/x` or a
    /// relative path; `scheme://host/x` for other URLs. Taken literally (no `%XX`
    /// decoding).
    fn parse(uri: &str) -> UriPath {
        let mut url = true;
        let (authority, path) = if let Some(r) = uri.strip_prefix("file://") {
            ("file".to_string(), r.strip_prefix("localhost").unwrap_or(r))
        } else if let Some(r) = uri.strip_prefix("file:") {
            ("file".to_string(), r)
        } else if let Some(scheme) = uri_scheme(uri).filter(|s| !s.eq_ignore_ascii_case("file")) {
            let rest = &uri[scheme.len() + 1..];
            match rest.strip_prefix("//") {
                Some(after) => {
                    let (host, path) = after.split_at(after.find('/').unwrap_or(after.len()));
                    (format!("{}://{host}", scheme.to_ascii_lowercase()), path)
                }
                None => (scheme.to_ascii_lowercase(), rest),
            }
        } else {
            url = false;
            ("file".to_string(), uri)
        };
        let relative = !url && !path.starts_with('/');
        let mut segments: Vec<String> = Vec::new();
        let mut climbs = false;
        for s in path.split('/') {
            match s {
                "" | "." => {}
                ".." => {
                    climbs = true;
                    segments.pop();
                }
                other => segments.push(other.to_string()),
            }
        }
        UriPath { authority, relative, segments, climbs }
    }

    /// The segments below `base`, if this path lies under it (or is it).
    fn below(&self, base: &UriPath) -> Option<&[String]> {
        (self.authority == base.authority && self.relative == base.relative)
            .then(|| self.segments.strip_prefix(base.segments.as_slice()))
            .flatten()
    }
}

fn key_of(segments: &[String]) -> Option<Key> {
    Key::from_segments(segments.iter().map(String::as_str)).ok()
}

impl TableLocation {
    /// The table rooted at `store`'s root. `options` build the stores of files outside
    /// the root.
    pub fn new(store: Arc<dyn Storage>, options: StorageOptions) -> TableLocation {
        let root = UriPath::parse(store.root_url());
        // Only a root with a named last segment, so the `/` added follows a name (the
        // root `/` is `file://`, whose trailing slashes belong to the authority).
        let url = store.root_url().trim_end_matches('/');
        let root_prefix =
            (!root.segments.is_empty() && !url.split('/').any(|s| s == "." || s == "..")).then(|| format!("{url}/"));
        let display_root = store.display_path(None);
        TableLocation {
            store,
            root,
            root_prefix,
            display_root,
            options: Arc::new(options),
            external: Arc::default(),
            recorded: Arc::default(),
        }
    }

    /// The table's store.
    pub fn store(&self) -> &Arc<dyn Storage> {
        &self.store
    }

    /// The table root as a local path (the root URL for a store that is not local).
    pub fn root(&self) -> &Path {
        &self.display_root
    }

    /// `metadata`
    pub fn metadata_dir(&self) -> Key {
        Key::known("metadata")
    }

    /// `data`
    pub fn data_dir(&self) -> Key {
        Key::known("data")
    }

    /// `metadata/v<N>.metadata.json`
    pub fn version_file(&self, version: u64) -> Key {
        Key::known(format!("metadata/v{version}.metadata.json"))
    }

    /// `metadata/version-hint.text`
    pub fn hint_file(&self) -> Key {
        Key::known("metadata/version-hint.text")
    }

    /// `.locks/metadata.lock` (the file datashard locks around its commit).
    pub fn lock_file(&self) -> Key {
        Key::known(".locks/metadata.lock")
    }

    /// The table's `location` URI.
    pub fn root_uri(&self) -> String {
        self.store.root_url().to_string()
    }

    /// The URI recorded in metadata for `key`.
    pub fn uri(&self, key: &Key) -> String {
        self.store.url(key)
    }

    /// How `key` is named in errors and reports (its local path).
    pub fn path(&self, key: &Key) -> PathBuf {
        self.store.display_path(Some(key))
    }

    /// `key` as a [`FileRef`] of the table's store.
    pub fn file(&self, key: Key) -> FileRef {
        FileRef { store: self.store.clone(), key, external: false }
    }

    /// The version `<N>` of a metadata-log entry that names one of this table's version
    /// files (`metadata/v<N>.metadata.json` below the root), as [`Self::confined_key`] and
    /// [`parse_version_file`] would find it; `None` for anything else. Every commit asks
    /// of the ~100 entries of its metadata log, so the common spelling is read without
    /// building a key.
    pub(crate) fn version_named(&self, uri: &str) -> Option<u64> {
        // The common case without building a key: what `confined_key` gives for the
        // root's own spelling followed by `metadata/<name>` (a valid key).
        if let Some(rest) = self.root_prefix.as_deref().and_then(|p| uri.strip_prefix(p))
            && let Some(v) = rest.strip_prefix("metadata/").and_then(parse_version_file)
        {
            return Some(v);
        }
        let key = self.confined_key(uri).ok()?;
        if key.parent().as_ref() != Some(&self.metadata_dir()) {
            return None;
        }
        parse_version_file(key.name())
    }

    /// The key of a file named by a URI from metadata, for writing or deleting:
    /// refuses ([`Error::PathEscapesTable`]) anything not strictly below the root.
    pub fn confined_key(&self, uri: &str) -> Result<Key> {
        // The common case, every file floe names itself: the root URL as the store
        // spells it, then a valid key. Parsing would give the same key (the root's
        // spelling has no `.`/`..` segment and a key has none, nor empty ones), at the
        // cost of a string per segment; metadata names up to a few hundred files.
        if let Some(rest) = self.root_prefix.as_deref().and_then(|p| uri.strip_prefix(p))
            && let Ok(key) = Key::new(rest)
        {
            return Ok(key);
        }
        self.confined_key_parsed(uri)
    }

    /// [`confined_key`](Self::confined_key) by parsing `uri` (every spelling).
    fn confined_key_parsed(&self, uri: &str) -> Result<Key> {
        let escapes = || Error::PathEscapesTable { path: uri.to_string(), root: self.display_root.clone() };
        let p = UriPath::parse(uri);
        if p.relative || p.climbs {
            return Err(escapes());
        }
        match p.below(&self.root) {
            Some(rest) if !rest.is_empty() => key_of(rest).ok_or_else(escapes),
            _ => Err(escapes()),
        }
    }

    /// Records that this table's metadata names `recorded` as its location (any
    /// version: the newest, an older one read for time travel or maintenance). Files
    /// under it are then read under the opened root. Returns whether `recorded` names
    /// the opened root.
    pub(crate) fn observe(&self, recorded: &str) -> bool {
        let mut state = crate::sync::lock(&self.recorded);
        self.observe_locked(&mut state, recorded)
    }

    fn observe_locked(&self, state: &mut Recorded, recorded: &str) -> bool {
        if let Some(r) = state.seen.iter().find(|r| r.uri == recorded) {
            return r.here;
        }
        let path = UriPath::parse(recorded);
        let same = |p: &UriPath| p.authority == self.root.authority && !p.relative && p.segments == self.root.segments;
        let here = same(&path)
            || (path.authority == "file"
                && StoreUrl::parse(Path::new(recorded))
                    .ok()
                    .and_then(|u| canonical_url(&u))
                    .is_some_and(|c| same(&UriPath::parse(&c))));
        // A location without a named segment ("", "/", "file:///") would capture every
        // path: it is never used to map files.
        if !path.segments.is_empty() {
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

    /// The location the handle's current metadata records, when it is not this root
    /// (the table was copied or moved here and not yet relocated).
    pub fn relocated_from(&self) -> Option<String> {
        crate::sync::lock(&self.recorded).current_elsewhere.clone()
    }

    /// `Ok` when metadata recording `recorded` may be committed on or maintained from
    /// this root; [`Error::TableRelocated`] when the table was copied or moved here
    /// (writes and destructive maintenance wait for `Table::relocate`).
    pub fn check_not_relocated(&self, recorded: &str) -> Result<()> {
        if self.observe(recorded) {
            return Ok(());
        }
        Err(Error::TableRelocated { recorded: recorded.to_string(), opened: self.display_root.clone(), file: None })
    }

    /// Where to read a file named in metadata (see the module docs): a URI under a
    /// location this table's metadata recorded maps to the same key under the opened
    /// root; a relative path is a key under the root; anything else is read where it
    /// is, unless the table is relocated ([`Error::TableRelocated`]).
    pub fn resolve(&self, uri: &str) -> Result<FileRef> {
        let p = UriPath::parse(uri);
        let not_a_file = || {
            Error::io(
                PathBuf::from(uri),
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "names a table location, not a file in it"),
            )
        };
        let state = crate::sync::lock(&self.recorded);
        let under = state
            .seen
            .iter()
            .filter_map(|r| p.below(&r.path).map(|rest| (r.path.segments.len(), rest)))
            .max_by_key(|(len, _)| *len);
        let rest = match under {
            Some((_, rest)) => Some(rest),
            None if p.relative => Some(p.segments.as_slice()),
            None => p.below(&self.root),
        };
        if let Some(rest) = rest {
            return key_of(rest).map(|k| self.file(k)).ok_or_else(not_a_file);
        }
        if let Some(recorded) = &state.current_elsewhere {
            return Err(Error::TableRelocated {
                recorded: recorded.clone(),
                opened: self.display_root.clone(),
                file: Some(uri.to_string()),
            });
        }
        drop(state);
        let key = key_of(&p.segments).ok_or_else(not_a_file)?;
        Ok(FileRef { store: self.external_store(&p.authority)?, key, external: true })
    }

    /// The store rooted at the top of `authority` (`file:///` for local files).
    fn external_store(&self, authority: &str) -> Result<Arc<dyn Storage>> {
        let mut stores = crate::sync::lock(&self.external);
        if let Some(s) = stores.get(authority) {
            return Ok(s.clone());
        }
        let root = if authority == "file" { "file:///".to_string() } else { format!("{authority}/") };
        let store = open_store(&StoreUrl::parse(Path::new(&root))?, &self.options)?;
        stores.insert(authority.to_string(), store.clone());
        Ok(store)
    }
}

/// A local file named by its path, as a [`FileRef`] of a store rooted at its
/// directory (for reading files that belong to no table: imports, tests, tools).
pub fn local_file(path: &Path) -> Result<FileRef> {
    let name = path.file_name().and_then(|n| n.to_str());
    let key = name.and_then(|n| Key::new(n).ok()).ok_or_else(|| {
        Error::InvalidArgument(format!("{} does not name a file (or its name is not UTF-8)", path.display()))
    })?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let store: Arc<dyn Storage> = Arc::new(crate::io::local::LocalStorage::new(dir));
    Ok(FileRef { store, key, external: true })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::local::LocalStorage;

    fn at(root: &str) -> TableLocation {
        TableLocation::new(Arc::new(LocalStorage::new(root)), StorageOptions::new())
    }

    fn key_path(loc: &TableLocation, uri: &str) -> PathBuf {
        loc.resolve(uri).unwrap().path()
    }

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
        let loc = at("/t/x");
        assert_eq!(loc.confined_key("file:///t/x/data/a.parquet").unwrap().as_str(), "data/a.parquet");
        assert_eq!(loc.confined_key("file:/t/x/data/a.parquet").unwrap().as_str(), "data/a.parquet");
        assert_eq!(loc.uri(&Key::new("data/a b.parquet").unwrap()), "file:///t/x/data/a b.parquet");
        for bad in [
            "file:///t/x/../y/a.parquet",
            "file:///etc/passwd",
            "data/a.parquet",
            "file:///t/x",
            "file:///t/xy/a",
            "s3://t/x/a",
        ] {
            assert!(matches!(loc.confined_key(bad), Err(Error::PathEscapesTable { .. })), "{bad}");
        }
    }

    proptest::proptest! {
        /// The shortcut for URIs under the root's own spelling maps every URI as
        /// parsing does (same key, or refused), and so does `version_named`'s.
        #[test]
        fn confined_key_shortcut_agrees_with_parsing(
            root in proptest::sample::select(vec![
                "/t/x", "/t/x/", "/t/./x", "/t/../x", "/t//x", "/",
                "memory://m/t/x", "memory://m/t/../x", "memory://m/t/./x", "memory://m", "memory://m/",
            ]),
            head in proptest::sample::select(vec![
                "file:///t/x/", "file:///t/x", "file:/t/x/", "file://localhost/t/x/", "/t/x/", "file:///t/./x/",
                "file:///t/../x/", "file:///t//x/", "file:///x/", "file:///", "s3://t/x/", "t/x/", "",
                "memory://m/t/x/", "memory://m/t/../x/", "memory://m/t/./x/", "memory://m/x/", "memory://m/",
                "MEMORY://m/t/x/",
            ]),
            own in proptest::bool::ANY,
            segments in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "data", "b.parquet", ".", "..", "", "n\0l", "x", "metadata", "v3.metadata.json",
                    "v3x.metadata.json",
                ]),
                0..5,
            ),
        ) {
            let loc = match root.strip_prefix("memory://m") {
                // A store's root URL is taken as given (object stores do not normalize it).
                Some(_) => TableLocation::new(
                    Arc::new(
                        crate::io::object::ObjectStorage::new(
                            Arc::new(object_store::memory::InMemory::new()),
                            root,
                            "t/x",
                        )
                        .unwrap(),
                    ),
                    StorageOptions::new(),
                ),
                None => at(root),
            };
            // Half the time under the root URL exactly as the store spells it.
            let head = if own { format!("{}/", loc.store().root_url()) } else { head.to_string() };
            let uri = format!("{head}{}", segments.join("/"));
            let fast = loc.confined_key(&uri).map_err(|e| e.to_string());
            let parsed = loc.confined_key_parsed(&uri).map_err(|e| e.to_string());
            proptest::prop_assert_eq!(fast, parsed, "{}", uri);
            let version = loc
                .confined_key_parsed(&uri)
                .ok()
                .filter(|k| k.parent().as_ref() == Some(&loc.metadata_dir()))
                .and_then(|k| parse_version_file(k.name()));
            proptest::prop_assert_eq!(loc.version_named(&uri), version, "{}", uri);
        }
    }

    #[test]
    fn relocated_reads_map_under_the_root() {
        let loc = at("/new/t");
        loc.set_current("file:///old/t/");
        assert_eq!(loc.relocated_from().as_deref(), Some("file:///old/t/"));
        assert!(loc.check_not_relocated("file:///old/t/").is_err());
        assert!(loc.check_not_relocated("file:///new/t").is_ok());
        assert_eq!(key_path(&loc, "file:///old/t/data/a.parquet"), PathBuf::from("/new/t/data/a.parquet"));
        assert_eq!(key_path(&loc, "/old/t/data/a.parquet"), PathBuf::from("/new/t/data/a.parquet"));
        assert_eq!(key_path(&loc, "file:///new/t/data/b"), PathBuf::from("/new/t/data/b"));
        assert_eq!(key_path(&loc, "data/c"), PathBuf::from("/new/t/data/c"));
        assert!(!loc.resolve("data/c").unwrap().external);
        // `..` cannot climb out of the recorded location into someone else's files.
        assert!(matches!(
            loc.resolve("file:///old/t/../other/data/x"),
            Err(Error::TableRelocated { file: Some(_), .. })
        ));
        assert!(matches!(loc.resolve("file:///etc/passwd"), Err(Error::TableRelocated { .. })));
        // Once the current metadata is at home, older locations still map; others are read as they are.
        loc.set_current("file:///new/t");
        assert_eq!(loc.relocated_from(), None);
        assert_eq!(key_path(&loc, "file:///old/t/data/a"), PathBuf::from("/new/t/data/a"));
        let outside = loc.resolve("file:///elsewhere/x").unwrap();
        assert!(outside.external);
        assert_eq!((outside.path(), outside.url()), (PathBuf::from("/elsewhere/x"), "file:///elsewhere/x".into()));
        // A location without a named component maps nothing.
        loc.observe("file:///");
        assert_eq!(key_path(&loc, "file:///elsewhere/x"), PathBuf::from("/elsewhere/x"));
        // A file outside on a scheme floe has no backend for is refused.
        assert!(matches!(loc.resolve("http://h/t/x"), Err(Error::UnsupportedLocation { .. })));
    }
}
