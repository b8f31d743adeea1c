//! [`Key`]: the name of an object relative to a store's root.
//!
//! A key is one or more `/`-separated segments, each non-empty, none `.` or `..`, no
//! NUL; it never starts or ends with `/`. So a key can only name something *below* the
//! root: validation is where confinement starts (a backend with links adds its own
//! checks). Prefixes are segment-wise: `data` is a prefix of `data/x`, not of
//! `database/x`.

use std::fmt;

/// The name of an object relative to a store's root (see the module docs).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(String);

/// Why a string is not a [`Key`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid storage key {key:?}: {reason}")]
pub struct KeyError {
    /// The string given.
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl From<KeyError> for std::io::Error {
    fn from(e: KeyError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, e)
    }
}

fn check_segment(s: &str) -> Result<(), &'static str> {
    match s {
        "" => Err("empty segment (leading, trailing or doubled `/`)"),
        "." | ".." => Err("`.` and `..` segments are not allowed"),
        _ if s.contains('\0') => Err("NUL byte"),
        _ => Ok(()),
    }
}

impl Key {
    /// Validates `key`.
    pub fn new(key: impl Into<String>) -> Result<Key, KeyError> {
        let key = key.into();
        if let Err(reason) = key.split('/').try_for_each(check_segment) {
            return Err(KeyError { key, reason });
        }
        Ok(Key(key))
    }

    /// A key floe spells itself from constant segments and numbers (`metadata`,
    /// `metadata/v3.metadata.json`); checked in debug builds.
    pub(crate) fn known(key: impl Into<String>) -> Key {
        let key = key.into();
        debug_assert!(Key::new(key.clone()).is_ok(), "{key:?} is not a valid key");
        Key(key)
    }

    /// The key of `segments` joined by `/` (each validated).
    pub fn from_segments<'a>(segments: impl IntoIterator<Item = &'a str>) -> Result<Key, KeyError> {
        let joined: Vec<&str> = segments.into_iter().collect();
        Key::new(joined.join("/"))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `self/child`, where `child` may itself hold several segments.
    pub fn join(&self, child: &str) -> Result<Key, KeyError> {
        Key::new(format!("{}/{child}", self.0))
    }

    /// The key without its last segment; `None` for a one-segment key (its parent is
    /// the root).
    pub fn parent(&self) -> Option<Key> {
        self.0.rsplit_once('/').map(|(p, _)| Key(p.to_string()))
    }

    /// The last segment.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('/').map_or(&self.0, |(_, n)| n)
    }

    /// The segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// Whether `prefix` is this key or a segment-wise prefix of it.
    pub fn starts_with(&self, prefix: &Key) -> bool {
        self.strip_prefix(prefix).is_some() || self == prefix
    }

    /// The rest of the key below `prefix` (segment-wise), if it is strictly below.
    pub fn strip_prefix(&self, prefix: &Key) -> Option<&str> {
        self.0.strip_prefix(prefix.as_str())?.strip_prefix('/')
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Key {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Key, KeyError> {
        Key::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_and_prefixes() {
        for good in ["a", "metadata/v1.metadata.json", "data/x=1/f.parquet", ".locks/metadata.lock", "a..b"] {
            assert_eq!(Key::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "/a", "a/", "a//b", "../a", "a/../b", "./a", "a/.", "a\0b"] {
            assert!(Key::new(bad).is_err(), "{bad:?}");
        }
        let k = Key::new("data/x/f.parquet").unwrap();
        assert_eq!(k.name(), "f.parquet");
        assert_eq!(k.parent().unwrap().as_str(), "data/x");
        assert_eq!(Key::new("a").unwrap().parent(), None);
        let data = Key::new("data").unwrap();
        assert!(k.starts_with(&data));
        assert_eq!(k.strip_prefix(&data), Some("x/f.parquet"));
        assert!(!Key::new("database/x").unwrap().starts_with(&data));
        assert!(data.starts_with(&data));
        assert_eq!(data.strip_prefix(&data), None);
        assert_eq!(data.join("a/b").unwrap().as_str(), "data/a/b");
        assert!(data.join("../x").is_err());
    }
}
