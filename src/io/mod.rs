//! Where bytes live: the storage contract every file operation goes through and the
//! table's locations (the URIs recorded in metadata and the paths they name).

pub mod location;
pub mod storage;
