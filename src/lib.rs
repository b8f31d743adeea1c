//! floe: transactional Apache Iceberg v2 tables in a plain directory.
//!
//! Many processes append to, read and maintain one table at the same time with no
//! server and no lock service. On disk a floe table is an Apache Iceberg v2
//! file-system table, so pyiceberg, DuckDB and Spark read it as it is. See
//! `docs/format.md` for the format and the commit protocol.
//!
//! ```no_run
//! # fn main() -> floe::Result<()> {
//! use floe::{PrimitiveType, Schema};
//! let schema = Schema::builder().required("id", PrimitiveType::Long).build()?;
//! let table = floe::Table::create_or_open("./events", schema)?;
//! # let batch: arrow_array::RecordBatch = unimplemented!();
//! let report = table.append(&[batch])?;            // one durable commit
//! let rows = table.scan().select(["id"]).to_batches()?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![warn(unnameable_types)]

mod crashpoint;
mod data;
mod error;
pub mod expr;
mod io;
mod ops;
mod scan;
pub mod spec;
mod sync;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod txn;

/// The storage contract: what a backend implements to hold a table's files
/// ([`TableOptions::storage`]), and the local file-system backend.
pub mod storage {
    pub use crate::io::storage::{ListEntry, LocalStorage, LockGuard, NewFile, Storage};
}

pub use error::{Conflict, ConflictKind, Error, PredicateError, Result};
pub use expr::{Predicate, col};
pub use spec::{NestedField, PartitionSpec, PrimitiveType, Schema, Transform, Type};

pub use data::write::WriteOptions;
pub use ops::maintenance::{CompactOptions, ExpireOptions, MaintenanceReport, MergeManifestsOptions, OrphanOptions};
pub use ops::relocate::Relocation;
pub use ops::verify::{Problem, ProblemKind, VerifyReport};
pub use scan::{Scan, ScanIter, ScanMetrics, ScanPlan};
pub use table::stats::CommitStats;
pub use table::{Durability, HistoryEntry, RetryPolicy, Table, TableOptions, properties};
pub use txn::conflict::{ConflictContext, LandedCommit};
pub use txn::evolution::{SchemaMode, SchemaUpdate, SpecUpdate};
pub use txn::rowops::{Isolation, RowChanges, RowOps};
pub use txn::{CommitReport, Operation, Transaction};
