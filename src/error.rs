//! The one public error type.
//!
//! Every fallible floe call returns [`Error`]. Variants are structured (paths, versions,
//! field names) so callers can match on them; none carries a bare `String` as its only
//! content except where the text *is* the information (a parse message from a codec).

use std::path::PathBuf;

/// Result alias used across floe.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A concurrent commit that made ours unsafe to rebase: which version, what it did, and
/// why the two cannot both hold ([`ConflictKind`], the part to match on). `Display`
/// gives the human message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conflict {
    /// The version the conflict was found at: the commit that landed first, or the
    /// newest of several.
    pub version: u64,
    /// The landed commit's snapshot operation as its summary records it (`append`,
    /// `overwrite`, `delete`, `replace`, or another engine's value); `None` for a change
    /// of the metadata alone (schema, partition spec, properties, refs) or when the
    /// conflict is not tied to one commit.
    pub operation: Option<String>,
    /// Why the two cannot both hold.
    pub kind: ConflictKind,
}

impl Conflict {
    /// A conflict found at `version`, of the commit with `operation` (see the fields).
    pub fn new(version: u64, operation: Option<String>, kind: ConflictKind) -> Conflict {
        Conflict { version, operation, kind }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v{} ({}): {}", self.version, self.operation.as_deref().unwrap_or("metadata"), self.kind)
    }
}

/// Why a transaction cannot be rebased over a commit that landed first
/// (docs/conflicts.md has the rules). `Display` gives the human message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConflictKind {
    /// The table's schema changed since the transaction read it (for a plain append:
    /// to one that no longer accepts files written with the schema it read).
    #[error("the schema changed from {base_schema_id} to {schema_id} since this transaction read the table")]
    SchemaChanged {
        /// The schema the transaction read.
        base_schema_id: i32,
        /// The table's schema now.
        schema_id: i32,
    },
    /// The default partition spec changed since the transaction began (for a plain
    /// append: the spec its files were written with is gone from the table).
    #[error("the partition spec changed from {base_spec_id} to {spec_id} since this transaction began")]
    SpecChanged {
        /// The spec the transaction read.
        base_spec_id: i32,
        /// The table's default spec now.
        spec_id: i32,
    },
    /// The current snapshot no longer descends from the one the transaction read
    /// (a rollback, or history expired faster than it could be followed): what landed
    /// cannot be listed.
    #[error("the current snapshot no longer descends from this transaction's base (rollback or expiry)")]
    HistoryRewritten,
    /// A file this transaction removes is no longer live: a concurrent commit removed
    /// or rewrote it.
    #[error("{path} is no longer live (removed or rewritten by a concurrent commit)")]
    FileNoLongerLive {
        /// The file's location.
        path: String,
    },
    /// A concurrent commit added a delete file that may delete rows of a data file this
    /// transaction removes (and rewrites): rebasing would bring those rows back.
    #[error("{delete_file} was added concurrently and may delete rows of {path}, which this transaction removes")]
    DeletesAdded {
        /// The data file this transaction removes.
        path: String,
        /// The delete file that landed.
        delete_file: String,
    },
    /// Under serializable isolation: a concurrent commit added a file that may hold
    /// rows matching what this transaction read.
    #[error("snapshot {snapshot_id} added {path}, which may hold rows this transaction read (serializable isolation)")]
    MatchingFileAdded {
        /// The landed snapshot.
        snapshot_id: i64,
        /// The added file's location.
        path: String,
    },
    /// Under serializable isolation: a concurrent commit removed a file that may hold
    /// rows matching what this transaction read.
    #[error(
        "snapshot {snapshot_id} removed {path}, which may hold rows this transaction read (serializable isolation)"
    )]
    MatchingFileRemoved {
        /// The landed snapshot.
        snapshot_id: i64,
        /// The removed file's location.
        path: String,
    },
    /// A commit landed after the transaction began, and the transaction does not rebase
    /// over any: a schema or spec change, or a compare-and-commit
    /// ([`crate::RetryPolicy::none`], [`crate::Transaction::commit_if_current`]).
    #[error("{} was committed after this transaction began", fmt_snapshot(*snapshot_id))]
    CommittedSinceBase {
        /// The landed commit's snapshot (`None` for a change of the metadata alone).
        snapshot_id: Option<i64>,
    },
    /// A rule of a validator ([`crate::Transaction::add_validator`]).
    #[error("{reason}")]
    Custom {
        /// The validator's explanation.
        reason: String,
    },
}

fn fmt_snapshot(id: Option<i64>) -> String {
    match id {
        Some(id) => format!("snapshot {id}"),
        None => "a metadata change".to_string(),
    }
}

/// Why a predicate could not be parsed or bound.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PredicateError {
    /// The text is not a predicate.
    #[error("predicate syntax error at position {position}: expected {expected}, found {found}")]
    Parse {
        /// 0-based character offset of the offending token.
        position: usize,
        /// What the parser expected there.
        expected: String,
        /// What it found (the token, or `end of input`).
        found: String,
    },
    /// The predicate names a column the schema does not have.
    #[error("predicate refers to unknown column {column:?}")]
    UnknownColumn {
        /// The name used.
        column: String,
    },
    /// The column is a struct, list or map; predicates apply to primitive columns.
    #[error("predicate column {column:?} has type {column_type}; predicates apply to primitive columns")]
    NotPrimitive {
        /// The column.
        column: String,
        /// Its type.
        column_type: String,
    },
    /// A literal does not fit the column's type (`name = 5` on a string column, an int
    /// literal out of range, a malformed date, too many decimal places).
    #[error("literal {literal} does not fit column {column:?} of type {column_type}: {reason}")]
    LiteralType {
        /// The column.
        column: String,
        /// Its type.
        column_type: String,
        /// The literal as written.
        literal: String,
        /// Why it does not fit.
        reason: String,
    },
    /// The predicate nests deeper than floe handles: parentheses and `not` in text
    /// beyond [`MAX_TEXT_NESTING`](crate::expr::MAX_TEXT_NESTING) levels, or and/or/not nodes beyond [`MAX_DEPTH`](crate::expr::MAX_DEPTH).
    #[error("predicate nested too deeply: more than {limit} levels{}", position.map(|p| format!(" (at position {p})")).unwrap_or_default())]
    TooDeep {
        /// The limit that was exceeded.
        limit: usize,
        /// For text, the 0-based character offset where the limit was passed.
        position: Option<usize>,
    },
}

/// What a warehouse operation (`floe::Warehouse`, docs/transactions.md) reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WarehouseError {
    /// No warehouse at this root (no `_floe/catalog/v1.json`).
    #[error("no warehouse at {root}")]
    NotFound {
        /// The root given.
        root: String,
    },
    /// `Warehouse::create` on a root that already holds one.
    #[error("a warehouse already exists at {root}")]
    Exists {
        /// The root given.
        root: String,
    },
    /// No table of this name in the warehouse (at the catalog version read).
    #[error("no table {name:?} in the warehouse")]
    TableNotFound {
        /// The name asked for.
        name: String,
    },
    /// A table of this name already exists.
    #[error("table {name:?} already exists in the warehouse")]
    TableExists {
        /// The name.
        name: String,
    },
    /// A table name that is empty, too long, or has characters other than ASCII
    /// letters, digits, `_` and `-` in its `.`-separated parts.
    #[error("invalid table name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A table's `v<N>.metadata.json` was not written by the warehouse (another writer
    /// committed to the table directly). floe never overwrites it; the table needs a
    /// person's decision.
    #[error("table {table:?}: v{version}.metadata.json was not written through the warehouse catalog ({detail})")]
    ForeignVersion {
        /// The table.
        table: String,
        /// The version found.
        version: u64,
        /// What was found.
        detail: String,
    },
    /// A direct commit on a table that a warehouse manages (see
    /// `floe::properties::WAREHOUSE`).
    #[error("{} belongs to the warehouse at {warehouse}: commit through Warehouse::transaction", table.display())]
    ManagedTable {
        /// The table's directory.
        table: std::path::PathBuf,
        /// The warehouse root recorded in the table.
        warehouse: String,
    },
    /// A conflict on one table of a multi-table transaction; nothing of the
    /// transaction is committed. `source` is the table's
    /// [`Error::ConcurrentModification`].
    #[error("table {table:?}: {source}")]
    ConcurrentModification {
        /// The table whose conflict stopped the transaction.
        table: String,
        /// The table's conflict.
        #[source]
        source: Box<Error>,
    },
    /// A catalog file that cannot be decoded.
    #[error("corrupt warehouse catalog {}: {reason}", path.display())]
    CorruptCatalog {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The catalog version asked for does not exist (time travel before the
    /// warehouse, or past its newest version).
    #[error("no catalog version {version} (newest is {newest})")]
    NoSuchVersion {
        /// Asked for.
        version: u64,
        /// The newest.
        newest: u64,
    },
    /// The catalog version asked for was deleted by `Warehouse::expire_catalog`
    /// (time travel reaches back to `oldest`).
    #[error("catalog version {version} was expired (the oldest kept is {oldest})")]
    VersionExpired {
        /// Asked for.
        version: u64,
        /// The oldest catalog version kept.
        oldest: u64,
    },
    /// The warehouse was copied or moved here: its tables' metadata still names the
    /// original root. Reads work; commits wait for `Warehouse::relocate` (`floe
    /// relocate ROOT`).
    #[error(
        "the warehouse at {root} was copied or moved from {recorded}: its tables still name the original; \
         run `floe relocate {root}` (Warehouse::relocate) before committing to it"
    )]
    Relocated {
        /// This warehouse's root.
        root: String,
        /// The root its tables record.
        recorded: String,
    },
    /// The commit point's create failed in a way that leaves its outcome unknown
    /// (the catalog file could not be read back). Look for the transaction id in the
    /// catalog (`floe tables --log`) before retrying.
    #[error("commit state unknown for transaction {txn} at catalog v{version}: {source}")]
    CommitStateUnknown {
        /// The catalog version that may hold the transaction.
        version: u64,
        /// The transaction id.
        txn: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Every error floe reports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Another commit landed first and ours could not be rebased (or the retry policy
    /// ran out). Nothing of this transaction is visible in the table.
    #[error(
        "concurrent modification: transaction based on v{base_version} lost the race for v{attempted_version}{}",
        fmt_conflicts(conflicting, *retries_exhausted)
    )]
    ConcurrentModification {
        /// The version the transaction started from.
        base_version: u64,
        /// The last version it tried to create.
        attempted_version: u64,
        /// The commits that made it unsafe (empty when the retry budget ran out).
        conflicting: Vec<Conflict>,
        /// True when the commit was still rebaseable but the retry policy was exhausted.
        retries_exhausted: bool,
    },

    /// Arrow data does not fit the table schema.
    #[error("schema mismatch at {field}: {reason}")]
    SchemaMismatch {
        /// Column name (dotted path for nested fields), or `<batch>` for the whole batch.
        field: String,
        /// What is wrong.
        reason: String,
    },

    /// A required field holds nulls.
    #[error("required field {field} contains {null_count} null value(s)")]
    NullInRequiredField {
        /// Column name.
        field: String,
        /// How many nulls were found.
        null_count: usize,
    },

    /// No table at this location.
    #[error("no table at {path}")]
    TableNotFound {
        /// The table root that was opened.
        path: PathBuf,
    },

    /// `create` found a table already there.
    #[error("a table already exists at {path}")]
    TableExists {
        /// The table root.
        path: PathBuf,
    },

    /// A metadata, manifest-list or manifest file could not be decoded.
    #[error("corrupt metadata in {path}: {reason}")]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },

    /// A newer metadata version belongs to a different table.
    #[error("table uuid changed in {path}: expected {expected}, found {found}")]
    TableUuidChanged {
        /// The metadata file with the foreign uuid.
        path: PathBuf,
        /// The uuid the handle was opened with.
        expected: String,
        /// The uuid found.
        found: String,
    },

    /// The table uses a feature floe does not implement (yet).
    #[error("unsupported: {what}")]
    Unsupported {
        /// The feature.
        what: String,
    },

    /// A read needed more memory than a table property allows (for example the rows of
    /// equality delete files hashed for one scan, `floe.read.equality-delete-max-rows`).
    /// Nothing was changed; raise the property or compact the table's deletes away.
    #[error("{what}: more than the limit of {limit} set by the table property {property}")]
    ResourceLimit {
        /// What grew past the limit.
        what: String,
        /// The limit.
        limit: u64,
        /// The table property that sets it.
        property: String,
    },

    /// A path recorded in metadata (or given by a caller) lies outside the table root.
    #[error("path {path} escapes the table root {root}")]
    PathEscapesTable {
        /// The offending path.
        path: String,
        /// The table root.
        root: PathBuf,
    },

    /// The table's metadata records another directory as its location: the table was
    /// copied (`cp -a`, a restored backup) or moved to the directory it was opened at.
    /// Reads use the files under the opened directory; commits and destructive
    /// maintenance are refused until `Table::relocate` (`floe relocate`) rewrites the
    /// metadata for the new place. Also returned when such a table's metadata names a
    /// file outside its recorded location (`file`), which floe will not read.
    #[error(
        "the table at {} records its location as {recorded}: it was copied or moved here{}; \
         writes and maintenance are refused until `floe relocate {}` (Table::relocate) points its metadata at {}",
        opened.display(),
        fmt_outside(file.as_deref()),
        opened.display(),
        opened.display()
    )]
    TableRelocated {
        /// The location the metadata records.
        recorded: String,
        /// The directory the table was opened at.
        opened: PathBuf,
        /// A file named in metadata outside the recorded location (a read that was
        /// refused), if that is what failed.
        file: Option<String>,
    },

    /// A table location that is not a local directory: a URI with a scheme other than
    /// `file:` (`s3://`, `gs://`, `abfss://`, `http://`, …), or a `file:` URI naming
    /// another host. floe tables live in local directories; nothing was created.
    #[error(
        "unsupported table location {location} (scheme {scheme}:): floe tables live in a local directory; \
         give a path or a file:///absolute/path URI"
    )]
    UnsupportedLocation {
        /// The location as given.
        location: String,
        /// Its URI scheme.
        scheme: String,
    },

    /// A snapshot, version or timestamp asked for does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was asked for.
        what: String,
    },

    /// The transaction stayed open longer than `floe.transaction.max-age-ms`: its
    /// staged files may be older than the orphan-cleanup grace period, so it is not
    /// committed (nothing was linked; its files are deleted).
    #[error(
        "transaction open for {} ms, more than the table's limit of {} ms",
        age.as_millis(),
        max_age.as_millis()
    )]
    TransactionTooOld {
        /// How long it was open.
        age: std::time::Duration,
        /// The limit (`floe.transaction.max-age-ms`).
        max_age: std::time::Duration,
    },

    /// A caller argument is invalid (empty column list, unknown column, …).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The commit point may or may not have been reached and re-reading could not tell.
    #[error("commit outcome unknown for v{version} (commit id {commit_id}): {source}")]
    CommitStateUnknown {
        /// The version file that may have been created.
        version: u64,
        /// The transaction's commit id: stored in the snapshot summary
        /// (`floe.commit-id`) of a commit that makes a snapshot; a metadata-only commit
        /// records none (look for its change in `v<version>`).
        commit_id: String,
        /// The I/O error that made the outcome ambiguous.
        #[source]
        source: std::io::Error,
    },

    /// Table metadata could not be encoded as a valid metadata file (for example a
    /// key of `crate::spec::metadata::TableMetadata::extra` that shadows one floe
    /// writes itself). Nothing was published: no version file was created.
    #[error("cannot encode the table metadata: {reason}")]
    MetadataEncode {
        /// What is wrong with it.
        reason: String,
    },

    /// **The commit is in the table**, visible to every reader at `version`, but the
    /// fsync of `metadata/` after the commit point failed (twice), so it is not known
    /// to survive a power cut or an OS crash. This is not a failed commit: do not
    /// retry it (a retry would apply it a second time). Only a durable commit
    /// ([`crate::Durability::Durable`]) reports it; everything after the commit point
    /// (version hint, cleanup, the handle's state) was done as for `Ok`.
    /// [`Error::is_committed`] is true for it.
    #[error(
        "committed as v{version} (commit id {commit_id}) and visible to readers, but not known to be durable:          the fsync of the metadata directory failed ({source}), so the commit may not survive a power cut;          do not retry it (that would apply it twice)"
    )]
    CommittedNotDurable {
        /// The version the commit created (`v<N>.metadata.json`).
        version: u64,
        /// The transaction's commit id (as in [`crate::CommitReport::commit_id`]).
        commit_id: String,
        /// The fsync error.
        #[source]
        source: std::io::Error,
    },

    /// The commit was published as `v<version>`, but files it adds (data files,
    /// manifests, its manifest list) were found deleted right after, e.g. by orphan
    /// cleanup while this writer was paused (SIGSTOP, a suspended VM) past the grace
    /// period between its age check and its commit point. The commit is **not** in the
    /// table when `reverted_in` is set: a follow-up commit (that version) removed its
    /// snapshot again, and the operation may be redone. With `reverted_in: None` the
    /// revert failed (a later commit had already built on it, or an I/O error): the
    /// current snapshot references the missing files (`floe verify` lists them); roll
    /// back with [`crate::Table::rollback_to`].
    #[error(
        "v{version} (commit id {commit_id}) was published, but {} file(s) it adds had been deleted meanwhile \
         (first: {}), e.g. by orphan cleanup while this writer was paused; {}",
        missing.len(),
        missing.first().map(|p| p.display().to_string()).unwrap_or_default(),
        fmt_reverted(*reverted_in)
    )]
    CommitFilesMissing {
        /// The version the commit created.
        version: u64,
        /// The transaction's commit id.
        commit_id: String,
        /// The files found missing.
        missing: Vec<PathBuf>,
        /// The version that reverted the commit's snapshot, if the revert landed.
        reverted_in: Option<u64>,
    },

    /// An input file (CSV, newline-delimited JSON, Parquet) does not fit the table.
    /// Names the file and, where known, the row (1-based, not counting a CSV header)
    /// and the column.
    #[error("{}{}: {reason}", path.display(), fmt_position(*row, column.as_deref()))]
    InvalidInput {
        /// The input file.
        path: PathBuf,
        /// The row, counted from 1 (for CSV, the first row after the header).
        row: Option<u64>,
        /// The column.
        column: Option<String>,
        /// What is wrong.
        reason: String,
    },

    /// File-system error.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Parquet encode/decode error.
    #[error("parquet error on {path}: {source}")]
    Parquet {
        /// The data file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A predicate could not be parsed or does not fit the table schema.
    #[error(transparent)]
    Predicate(PredicateError),

    /// A warehouse operation failed (docs/transactions.md).
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),

    /// Arrow compute error while preparing or reading batches.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

fn fmt_position(row: Option<u64>, column: Option<&str>) -> String {
    match (row, column) {
        (Some(r), Some(c)) => format!(": row {r}, column {c}"),
        (Some(r), None) => format!(": row {r}"),
        (None, Some(c)) => format!(": column {c}"),
        (None, None) => String::new(),
    }
}

fn fmt_outside(file: Option<&str>) -> String {
    match file {
        Some(f) => format!(" and names {f}, outside that location, which is not read"),
        None => String::new(),
    }
}

fn fmt_reverted(reverted_in: Option<u64>) -> String {
    match reverted_in {
        Some(v) => format!("reverted in v{v}: the commit is not in the table"),
        None => "the revert failed: the current snapshot references missing files (roll it back)".to_string(),
    }
}

fn fmt_conflicts(conflicts: &[Conflict], exhausted: bool) -> String {
    if exhausted {
        return ": retry policy exhausted".to_string();
    }
    if conflicts.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = conflicts.iter().map(|c| c.to_string()).collect();
    format!("; conflicts with {}", parts.join(", "))
}

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A corrupt-metadata error for `path`.
    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::CorruptMetadata { path: path.into(), reason: reason.to_string() }
    }

    /// True for [`Error::ConcurrentModification`].
    pub fn is_concurrent_modification(&self) -> bool {
        matches!(
            self,
            Error::ConcurrentModification { .. } | Error::Warehouse(WarehouseError::ConcurrentModification { .. })
        )
    }

    /// True when the error reports a commit that **is in the table**
    /// ([`Error::CommittedNotDurable`]): the operation must not be retried.
    pub fn is_committed(&self) -> bool {
        matches!(self, Error::CommittedNotDurable { .. })
    }
}
