//! floe: transactional Apache Iceberg v2 tables in a plain directory.
//!
//! Many processes append to, read and maintain one table at the same time with no
//! server and no lock service. On disk a floe table is an Apache Iceberg v2
//! file-system table, so pyiceberg, DuckDB and Spark read it as it is. See
//! `docs/format.md` for the format and the commit protocol.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use floe::arrow::array::{Int64Array, RecordBatch};
//! use floe::{PrimitiveType, Schema, Table};
//!
//! let schema = Schema::builder().required("id", PrimitiveType::Long).build()?;
//! let table = Table::create_or_open("./events", schema.clone())?;
//! let batch = RecordBatch::try_new(Arc::new(schema.to_arrow()), vec![Arc::new(Int64Array::from(vec![1, 2]))])?;
//! let report = table.append(&[batch])?;            // one durable commit: a CommitReport
//! let rows = table.scan().select(["id"]).to_batches()?;
//! # Ok(()) }
//! ```
//!
//! The public API: the table and its options ([`Table`], [`TableOptions`]),
//! transactions ([`Transaction`]), scans ([`Scan`]), schemas and types ([`Schema`],
//! [`PrimitiveType`]), partition specs ([`PartitionSpec`], [`Transform`]), predicates
//! ([`col`], [`Predicate`], more in [`expr`]), maintenance options, one report shape
//! ([`CommitReport`] per commit, [`MaintenanceReport`] per maintenance run) and errors
//! ([`Error`], [`ConflictKind`]). The Iceberg model types a user reads (snapshots, data
//! files, the metadata view) are in [`spec`]; the storage contract in [`storage`]; the
//! Arrow and Parquet crates floe is built on are re-exported as [`arrow`] and
//! [`parquet`]. Everything else is internal. `api/floe.txt` lists the public API and
//! `tests/public_api.rs` fails when it changes unannounced.
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
mod warehouse;

/// The storage contract every byte of a table goes through: what a backend implements
/// to hold a table's files ([`TableOptions::storage`]), the keys it is addressed by, and
/// the local file-system backend. With the cargo feature `testing`: `conformance`, the
/// contract's test suite any backend's tests call, and `fault`, a fault-injecting
/// wrapper around any store (both outside the stability promise of `api/floe.txt`).
pub mod storage {
    pub use crate::io::key::{Key, KeyError};
    pub use crate::io::local::LocalStorage;
    #[cfg(feature = "object-store")]
    pub use crate::io::object::ObjectStorage;
    pub use crate::io::storage::{
        Capabilities, Listing, LockGuard, NewFile, ObjectMeta, PendingWrite, RandomAccess, SkipReason, Skipped, Staged,
        Storage, unsupported,
    };
    pub use crate::io::{StorageOptions, StoreUrl, open_store};
    #[cfg(feature = "testing")]
    pub use crate::io::{conformance, fault};
}

/// The `object_store` crate the object-store backend is built on (0.13, the one
/// DataFusion 55 uses), for wrapping or building stores by hand
/// ([`storage::ObjectStorage::new`]).
#[cfg(feature = "object-store")]
pub use object_store;

/// The Arrow crate floe is built on (`arrow` 59, without its optional features):
/// batches for [`Table::append`] and from [`Scan`] are `floe::arrow::array::RecordBatch`,
/// so a user builds them without matching Arrow versions by hand.
pub use arrow;
/// The Parquet crate floe writes data files with (`parquet` 59), e.g. for
/// [`WriteOptions::compression`]'s `floe::parquet::basic::Compression`.
pub use parquet;

pub use error::{Conflict, ConflictKind, Error, PredicateError, Result, WarehouseError};
pub use expr::{Predicate, col};
pub use spec::{NestedField, PartitionSpec, PrimitiveType, Schema, Transform, Type};

pub use data::partition::PartitionSpecBuilder;
pub use data::write::WriteOptions;
pub use ops::maintenance::{CompactOptions, ExpireOptions, MaintenanceReport, MergeManifestsOptions, OrphanOptions};
pub use ops::relocate::Relocation;
pub use ops::verify::{Problem, ProblemKind, VerifyReport};
pub use scan::{
    DEFAULT_EQUALITY_DELETE_MAX_ROWS, DeleteFile, EQUALITY_DELETE_MAX_ROWS, Scan, ScanIter, ScanMetrics, ScanPlan,
};
pub use table::stats::CommitStats;
pub use table::{Durability, HistoryEntry, RetryPolicy, Table, TableOptions, properties};
pub use txn::conflict::{ConflictContext, LandedCommit};
pub use txn::evolution::{SchemaMode, SchemaUpdate, SpecUpdate};
pub use txn::rowops::{Isolation, RowChanges, RowOps};
pub use txn::{CommitReport, Operation, Transaction};
pub use warehouse::{
    CatalogExpireReport, RepairReport, TableInfo, Warehouse, WarehouseCommit, WarehouseSnapshot, WarehouseTransaction,
};
