//! floe: transactional Apache Iceberg v2 tables in a plain directory.
//!
//! Many processes append to, read and maintain one table at the same time with no
//! server and no lock service. On disk a floe table is an Apache Iceberg v2
//! file-system table, so pyiceberg, DuckDB and Spark read it as it is. See
//! `docs/format.md` for the format and the commit protocol.
//!
//! ```no_run
//! # fn main() -> floe::Result<()> {
//! use floe::spec::types::{PrimitiveType, Schema};
//! let schema = Schema::builder().required("id", PrimitiveType::Long).build()?;
//! let table = floe::Table::create_or_open("./events", schema)?;
//! # let batch: arrow_array::RecordBatch = unimplemented!();
//! let report = table.append(&[batch])?;            // one durable commit
//! let rows = table.scan().select(["id"]).to_batches()?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod conflict;
mod crashpoint;
pub mod error;
pub mod evolution;
pub mod expr;
#[cfg(feature = "import")]
pub mod import;
pub mod location;
pub mod maintenance;
pub mod partition;
pub mod pool;
mod prune;
pub mod read;
pub mod relocate;
pub mod rowops;
pub mod scan;
pub mod spec;
pub mod stats;
pub mod storage;
pub mod table;
pub mod transaction;
pub mod verify;
pub mod write;

pub use conflict::{ConflictContext, LandedCommit};
pub use error::{Conflict, Error, Result};
pub use evolution::{SchemaMode, SchemaUpdate, SpecUpdate};
pub use maintenance::{CompactOptions, ExpireOptions, MaintenanceReport, MergeManifestsOptions, OrphanOptions};
pub use relocate::RelocateReport;
pub use rowops::{InsertIfAbsent, Isolation, RowChanges, RowOps};
pub use scan::{Scan, ScanIter, ScanMetrics, ScanPlan};
pub use stats::CommitStats;
pub use table::{Durability, HistoryEntry, Table, TableOptions};
pub use transaction::{CommitReport, Operation, RetryPolicy, Transaction};
pub use verify::{Problem, ProblemKind, VerifyReport};
