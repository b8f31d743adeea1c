//! floe: transactional Apache Iceberg v2 tables in a plain directory.
//!
//! Many processes append to, read and maintain one table at the same time with no
//! server and no lock service. See `docs/format.md` for the on-disk format and the
//! commit protocol.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod spec;

pub use error::{Conflict, Error, Result};
