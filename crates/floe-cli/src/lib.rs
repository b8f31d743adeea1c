//! The `floe` command's library part: [`import`] reads CSV, newline-delimited JSON and
//! Parquet files into Arrow batches of a table's schema, refusing any value that does not
//! fit its column exactly. The command itself is `src/main.rs`.
//!
//! This library exists for the command and its tests; it is not a public API (the
//! library's is `floe`'s, recorded in `api/floe.txt`) and may change with any release.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod import;
