//! Where bytes live: the storage contract every byte goes through ([`storage`]), its
//! keys ([`key`]), the local backend ([`local`]), the table's locations ([`location`]:
//! recorded URIs ↔ keys), and, in this file, the one place a location given by a
//! caller becomes a store: [`StoreUrl::parse`] and [`open_store`].
//!
//! With the cargo feature `testing`: `conformance`, the contract's test suite that any
//! backend's tests call, and `fault`, a fault-injecting wrapper around any store (plain
//! names, not links: the modules are not built without the feature).
//!
//! Promises:
//! * A location is a plain path or a URL. A path (relative ones against the current
//!   directory) and a `file:` URL (`file:///abs`, `file:/abs`, `file://localhost/abs`)
//!   name a local directory; the scheme is matched case-insensitively; paths are taken
//!   literally (no `%XX` decoding: floe writes paths unescaped, as pyiceberg and
//!   datashard read them).
//! * [`open_store`] builds the backend for a location's scheme: `file` always; with the
//!   cargo feature `object-store` the object-store backend (`object`) for `memory://`,
//!   and with `s3`, `gcs`, `azure` for `s3://`/`s3a://`, `gs://`, and
//!   `az://`/`azure://`/`abfs://`/`abfss://`/`adl://`, configured from the environment
//!   and the caller's options (object_store's config keys). Every other scheme (or one
//!   whose feature is off, `http://`, …) and a `file:` URL naming another host is
//!   [`Error::UnsupportedLocation`] before anything is touched: `s3://b/t` never quietly
//!   becomes a local folder named `s3:`.

#[cfg(feature = "testing")]
pub mod conformance;
#[cfg(feature = "testing")]
pub mod fault;
pub mod key;
pub mod local;
pub mod location;
#[cfg(feature = "object-store")]
pub mod object;
pub mod storage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::io::local::LocalStorage;
use crate::io::storage::Storage;

/// Options for building a store, keyed as the backend documents them (object_store's
/// config keys for object stores). The local file system takes none.
pub type StorageOptions = BTreeMap<String, String>;

/// A caller's location parsed into a scheme and a root URL (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// The scheme as written (errors name it so).
    scheme: String,
    /// The location as the caller gave it.
    given: String,
    url: String,
    /// For `file`: the absolute, lexically normalized path.
    local: Option<PathBuf>,
}

impl StoreUrl {
    /// Parses a location. A local path is made absolute (not yet resolved through
    /// symlinks: the backend does that). Unsupported schemes parse (the scheme is
    /// known); [`open_store`] refuses them.
    pub fn parse(location: &Path) -> Result<StoreUrl> {
        let Some(text) = location.to_str() else {
            // Not UTF-8: only a local path can be that.
            return StoreUrl::local(location);
        };
        let Some(scheme) = uri_scheme(text) else { return StoreUrl::local(location) };
        let unsupported = || Error::UnsupportedLocation { location: text.to_string(), scheme: scheme.to_string() };
        if !scheme.eq_ignore_ascii_case("file") {
            return Ok(StoreUrl {
                scheme: scheme.to_string(),
                given: text.to_string(),
                url: text.trim_end_matches('/').to_string(),
                local: None,
            });
        }
        // uri_to_path matches the scheme in lower case, as floe writes it.
        let lowered = format!("file{}", &text[scheme.len()..]);
        let path = location::uri_to_path(&lowered);
        if !path.is_absolute() {
            // file://host/x: another machine's file.
            return Err(unsupported());
        }
        StoreUrl::local(&path)
    }

    fn local(path: &Path) -> Result<StoreUrl> {
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir().map_err(|e| Error::io(path, e))?.join(path)
        };
        let abs = local::normalize(&abs);
        if abs.to_str().is_none() {
            // Metadata records locations as text.
            return Err(Error::InvalidArgument(format!("table location {abs:?} is not valid UTF-8")));
        }
        let url = format!("file://{}", abs.display().to_string().trim_end_matches('/'));
        Ok(StoreUrl { scheme: "file".into(), given: path.display().to_string(), url, local: Some(abs) })
    }

    /// The scheme as written (`file` for local paths and `file:` URLs; `s3`, `S3A`, …).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The root URL, without a trailing `/`.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The local directory of a `file` URL.
    pub fn local_path(&self) -> Option<&Path> {
        self.local.as_deref()
    }
}

/// The backend for `url` (see the module docs): [`LocalStorage`] for `file`, the
/// object-store backend for the schemes of the enabled features,
/// [`Error::UnsupportedLocation`] for every other scheme.
pub fn open_store(url: &StoreUrl, options: &StorageOptions) -> Result<Arc<dyn Storage>> {
    match (url.scheme(), url.local_path()) {
        ("file", Some(path)) => {
            if let Some(key) = options.keys().next() {
                return Err(Error::InvalidArgument(format!(
                    "storage option {key:?} is not understood by the local file system (it takes none)"
                )));
            }
            Ok(Arc::new(LocalStorage::new(path)))
        }
        (scheme, _) => {
            #[cfg(feature = "object-store")]
            if let Some(store) = object::open(scheme, url.as_str(), options) {
                return store;
            }
            Err(Error::UnsupportedLocation { location: url.given.clone(), scheme: scheme.to_string() })
        }
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

/// The same location spelled canonically, when it can be resolved (a local directory
/// through symlinks): how a recorded location is recognised as the opened one.
pub(crate) fn canonical_url(url: &StoreUrl) -> Option<String> {
    let path = url.local_path()?;
    let real = local::canonical(path)?;
    Some(format!("file://{}", real.display().to_string().trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<StoreUrl> {
        StoreUrl::parse(Path::new(s))
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
        assert_eq!(parse("file:///a/b").unwrap().local_path(), Some(Path::new("/a/b")));
        assert_eq!(parse("FILE:/a/b").unwrap().as_str(), "file:///a/b");
        assert_eq!(parse("file://localhost/a").unwrap().local_path(), Some(Path::new("/a")));
        let rel = parse("rel/dir").unwrap();
        assert!(rel.local_path().unwrap().ends_with("rel/dir") && rel.local_path().unwrap().is_absolute());
        assert!(matches!(parse("file://host/t"), Err(Error::UnsupportedLocation { .. })));
        for bad in ["http://h/t", "ftp://h/t"] {
            let url = parse(bad).unwrap();
            assert!(
                matches!(open_store(&url, &StorageOptions::new()), Err(Error::UnsupportedLocation { .. })),
                "{bad}"
            );
        }
        let opts: StorageOptions = [("aws_region".to_string(), "x".to_string())].into();
        assert!(matches!(open_store(&parse("/tmp/x").unwrap(), &opts), Err(Error::InvalidArgument(_))));
    }
}
