//! Data files: Arrow batches to Parquet files with Iceberg field ids and column
//! statistics (`write`), rows split by partition (`partition`), and Parquet files back to
//! batches of a table's schema with projection and row-group/page pruning (`read`).

pub(crate) mod partition;
pub(crate) mod read;
pub(crate) mod write;
