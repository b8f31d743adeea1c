//! Table maintenance: compaction, manifest merging, snapshot expiry, orphan cleanup,
//! rollback and tags (`maintenance`), verification (`verify`) and relocation of a copied
//! or moved table (`relocate`). Each is built on transactions and scans, never the other
//! way round.

pub(crate) mod maintenance;
pub(crate) mod relocate;
pub(crate) mod verify;
