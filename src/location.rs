//! Where a table's files live, and the mapping between paths and the absolute
//! `file://` URIs recorded in metadata (ICEBERG-NOTES.md trap 1).
//!
//! Promises: every URI floe writes is absolute; [`TableLocation::confined_path`] refuses
//! any recorded location that resolves outside the table root, so nothing read from
//! metadata can make floe write or delete elsewhere.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The standard folders of one table.
#[derive(Debug, Clone)]
pub struct TableLocation {
    root: PathBuf,
}

impl TableLocation {
    /// A table rooted at `root` (made absolute; symlinks in it resolved when the
    /// directory exists, so a table opened through a link is the same table).
    pub fn new(root: &Path) -> Result<TableLocation> {
        let abs = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir().map_err(|e| Error::io(root, e))?.join(root)
        };
        let abs = normalize(&abs);
        let root = std::fs::canonicalize(&abs).unwrap_or(abs);
        Ok(TableLocation { root })
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
        if !crate::storage::is_within(&self.root, &path) {
            return Err(escapes());
        }
        Ok(path)
    }
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
        let loc = TableLocation { root: PathBuf::from("/t/x") };
        assert!(loc.confined_path("file:///t/x/data/a.parquet").is_ok());
        assert!(loc.confined_path("file:///t/x/../y/a.parquet").is_err());
        assert!(loc.confined_path("file:///etc/passwd").is_err());
        assert!(loc.confined_path("data/a.parquet").is_err());
    }
}
