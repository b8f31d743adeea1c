//! The `floe` command: inspect and change floe / Apache Iceberg file-system tables from
//! the shell.
//!
//! A thin layer over the library: every command is a few calls to `floe::Table`,
//! `floe::Scan`, `floe_cli::import` and `Table::verify`, plus rendering. This file owns the
//! argument grammar (clap), the exit codes and the one-line error report; `out.rs`
//! owns rendering (tables, JSON, colour, progress); the `cmd_*` files own the commands.
//!
//! Maintenance (`compact`, `expire`, `remove-orphans`, `rollback`, tags) and the
//! row-level `delete` live in `cmd_maint.rs`; `upsert`, `insert-if-absent` and
//! `overwrite` in `cmd_rows.rs` (their key checks in `keys.rs`); schema and
//! partition-spec evolution (`alter`) in `cmd_alter.rs`. `input.rs` owns the input
//! arguments the commands that take rows share (files, `-` for stdin, `--format`,
//! `--dry-run`).
//!
//! Exit codes: 0 ok; 1 the table failed verification, a commit conflict was not
//! resolved, a commit's outcome or durability is not known (`CommitStateUnknown`;
//! `CommittedNotDurable`: committed and visible, but the fsync after the commit point
//! failed — the message says not to retry), a published commit was reverted because
//! files it adds had been deleted (`CommitFilesMissing`), the table's metadata is
//! corrupt, or the table was copied or moved and must be relocated first; 2 bad usage
//! or bad input. Errors are
//! one line on stderr (`--verbose` adds the cause chain); a panic is caught and
//! reported as one line too.

mod cmd_alter;
mod cmd_maint;
mod cmd_read;
mod cmd_rows;
mod cmd_scan;
mod cmd_sql;
mod cmd_write;
mod input;
mod keys;
mod out;
mod wh;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Inspect and change floe tables (Apache Iceberg v2 tables in a plain directory).
#[derive(Debug, Parser)]
#[command(
    name = "floe",
    version,
    about = "Inspect and change floe / Apache Iceberg v2 file-system tables",
    long_about = "Inspect and change floe tables: Apache Iceberg v2 tables that live in a plain \
directory (also those written by pyiceberg, datashard, Spark or DuckDB in the same layout).\n\n\
Every command takes --json for scripts; the commands that change rows, the schema or files take --dry-run. TABLE is the table's directory, or one \
metadata file (metadata/v3.metadata.json, or a catalog's 00001-<uuid>.metadata.json) to \
read exactly that version.",
    after_help = "Exit status: 0 ok; 1 verification failed, a commit conflict was not resolved, a commit's \
outcome or durability is not known (the message says whether it is in the table), or the table's metadata \
is corrupt; 2 bad usage or bad input.\nNO_COLOR=1 turns colour off; progress bars \
and colour appear only on a terminal.",
    after_long_help = "Examples:\n  \
floe create ./events --schema 'id:long!,name:string,ts:timestamptz'\n  \
floe append ./events new.csv more.parquet\n  \
floe upsert ./events --key id changes.csv\n  \
floe alter ./events add-column country string\n  \
floe scan ./events --select id,name --limit 10\n  \
floe history ./events --json\n  \
floe verify ./events --deep\n  \
floe delete ./events --where 'id = 7'\n  \
floe compact ./events && floe expire ./events --older-than 7d && floe remove-orphans ./events\n\n\
Exit status: 0 ok; 1 verification failed, a commit conflict was not resolved, or the \
table's metadata is corrupt; 2 bad usage or bad input.\nNO_COLOR=1 turns colour off; progress bars \
and colour appear only on a terminal."
)]
struct Cli {
    /// On error, print the whole chain of causes.
    #[arg(short, long, global = true)]
    verbose: bool,

    /// Print JSON instead of text (one document on stdout).
    #[arg(long, global = true)]
    json: bool,

    /// An option for the table's store, as object_store names it (`aws_endpoint=…`,
    /// `aws_region=…`, `google_service_account=…`, `azure_storage_account_name=…`);
    /// repeatable. Credentials also come from the usual AWS_*, GOOGLE_*, AZURE_* variables.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", global = true)]
    storage_option: Vec<String>,

    /// The warehouse the TABLE argument is a name in (`--warehouse ./wh orders`); without
    /// it, `ROOT/name` under a warehouse root names the table too.
    #[arg(long, global = true, value_name = "ROOT")]
    warehouse: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,

    /// `floe create` of a table in a warehouse: (root, name).
    #[arg(skip)]
    create_in: Option<(PathBuf, String)>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an empty table.
    #[command(after_help = "Examples:\n  \
floe create ./events --schema 'id:long!,name:string,ts:timestamptz'\n  \
floe create ./prices --schema 'sku:string!,price:decimal(10,2),day:date'\n  \
floe create ./copy --like sample.parquet\n  \
floe create ./logs --schema 'ts:timestamptz!,level:string,msg:string' --partition 'day(ts),level'\n\n\
Types: boolean int long float double decimal(P,S) date time timestamp timestamptz string uuid \
binary fixed[N]. A trailing ! makes a column required.")]
    Create(CreateArgs),

    /// Append Parquet, CSV or newline-delimited JSON files (or stdin) in one commit.
    #[command(after_help = "Examples:\n  \
floe append ./events day1.csv\n  \
floe append ./events part-0.parquet part-1.parquet events.ndjson\n  \
floe append ./events export.txt --format csv\n  \
producer | floe append ./events - --format json\n  \
floe append ./events day2.csv --dry-run\n\n\
All files go into one commit: either every row is added or none is. CSV needs a header \
row naming table columns; values are read as the table's types and a value that does not \
fit is reported with its row and column. Missing optional columns are null. `-` reads \
standard input (--format says how).")]
    Append(AppendArgs),

    /// Replace the rows whose key the input has, insert the rest (one commit).
    #[command(after_help = "Examples:\n  \
floe upsert ./events --key id changes.csv\n  \
floe upsert ./events --key region,id eu.parquet us.parquet --dry-run\n  \
producer | floe upsert ./events --key id - --format json --json\n\n\
Each key may appear once in the input; a key must not be null. Table rows with a key \
the input has are replaced (their files rewritten without them), all input rows are \
added. A concurrent commit that adds rows with these keys is a conflict (retried from a \
fresh read). Input rows are held in memory.")]
    Upsert(cmd_rows::KeyedArgs),

    /// Insert only the rows whose key is not in the table yet; report the skipped ones.
    #[command(after_help = "Examples:\n  \
floe insert-if-absent ./events --key id new.csv\n  \
floe insert-if-absent ./events --key id - --format csv --json < new.csv\n\n\
A key already in the table, or given earlier in the input, is skipped (the first row \
wins). Nothing is committed when every key is present. Input rows are held in memory.")]
    InsertIfAbsent(cmd_rows::KeyedArgs),

    /// Replace the rows matching a predicate (or every row) with the input's rows.
    #[command(after_help = "Examples:\n  \
floe overwrite ./events --where \"day = '2026-01-05'\" day5.csv\n  \
floe overwrite ./events full-export.parquet          # replaces every row\n  \
floe overwrite ./events --where \"region = 'eu'\" - --format json --dry-run\n\n\
One commit: the matching rows go (files rewritten without them), the input's rows come \
in. With --where every new row must match the predicate, so running the same command \
again replaces them. Input rows are held in memory.")]
    Overwrite(cmd_rows::OverwriteArgs),

    /// Evolve the schema (add, rename, drop, widen columns) or the partition spec.
    #[command(after_help = "Examples:\n  \
floe alter ./events add-column country string --after name\n  \
floe alter ./events rename-column name label\n  \
floe alter ./events widen n long\n  \
floe alter ./events drop-column notes --dry-run\n  \
floe alter ./events rename-column value amount add-column value double   # one commit\n  \
floe alter ./events set-partition 'day(ts), bucket(16, id)'\n  \
floe alter ./events set-partition none\n\n\
Column changes given together are one commit. Only the metadata changes: old files \
are read by field id, so renamed columns are found, added ones read as null and widened \
values are cast. Format v2 allows optional new columns only, and widening int to long, \
float to double, decimal(P,S) to decimal(P',S). A new partition spec applies to new \
data; files already written keep theirs. `floe alter TABLE add-column --help` and so on \
show each change's options.")]
    Alter(cmd_alter::AlterArgs),

    /// Read rows (current snapshot, or an older one).
    #[command(after_help = "Examples:\n  \
floe scan ./events --limit 20\n  \
floe scan ./events --select id,name --format csv > rows.csv\n  \
floe scan ./events --where \"id > 5 and name is not null\" --select id\n  \
floe scan ./events --where \"ts >= '2026-01-05T10:00:00Z'\" --verbose   # pruning counts on stderr\n  \
floe scan ./events --where 'id = 7' --explain    # which files would be read, no rows\n  \
floe scan ./events --version 3 --format json\n  \
floe scan ./events --as-of '2026-01-02 10:00:00' --output old.parquet\n\n\
Default format: a table on a terminal (first 100 rows unless --limit), CSV when piped, \
and for --output the format its extension names.")]
    Scan(cmd_scan::ScanArgs),

    /// Run SQL over tables (DataFusion): SELECT, joins, EXPLAIN ANALYZE, INSERT INTO,
    /// DELETE, UPDATE.
    #[command(after_help = "Examples:\n  \
floe sql --table events=./events \"SELECT region, count(*) FROM events GROUP BY region\"\n  \
floe sql --root ./warehouse 'SELECT * FROM events JOIN users USING (id) LIMIT 10'\n  \
floe sql --root ./warehouse -f report.sql --output report.parquet\n  \
echo 'SELECT count(*) FROM events' | floe sql -t events=./events --format json\n  \
floe sql -t events=./events \"SELECT * FROM floe_scan('events', 'version', 3)\"\n  \
floe sql -t events=./events 'EXPLAIN ANALYZE SELECT * FROM events WHERE id < 10'\n  \
floe sql -t events=./events 'INSERT INTO events SELECT * FROM events WHERE id < 10'\n  \
floe sql -t events=./events \"UPDATE events SET amount = 0 WHERE region = 'eu' AND id < 10\"\n  \
floe sql --storage-option aws_endpoint=http://127.0.0.1:8333 --root s3://lake/tables 'SHOW TABLES'\n\n\
Tables: --table NAME=LOCATION (repeatable; a directory or a URL such as s3://bucket/t) \
and/or --root DIR|URL (its children that are tables, by name; or a warehouse: its tables, \
each statement reading all of them at one catalog version). DELETE/UPDATE take a WHERE \
floe can state exactly (column op literal, IN, BETWEEN, IS NULL, AND/OR/NOT) and commit \
once through floe. Time travel: floe_scan('name', 'version'|'snapshot'|'timestamp', \
value). Several statements separated by ; run in order, each on the newest snapshot. \
EXPLAIN ANALYZE adds what floe's planning pruned (manifests, files); DataFusion's own \
counts show row groups and pages pruned. Output formats as for `floe scan`.")]
    Sql(cmd_sql::SqlArgs),

    /// Location, format version, schema, partition spec, properties, totals.
    #[command(after_help = "Examples:\n  floe info ./events\n  floe info ./events/metadata/v3.metadata.json --json")]
    Info(TableArg),

    /// The snapshot log: which snapshot was current when, with what it changed.
    #[command(after_help = "Examples:\n  floe history ./events\n  floe history ./events --json | jq '.[].snapshot_id'")]
    History(TableArg),

    /// The snapshots still in the metadata (time-travel targets).
    #[command(after_help = "Examples:\n  floe snapshots ./events\n  floe snapshots ./events --json")]
    Snapshots(TableArg),

    /// Data files of a snapshot with rows, size, partition and column bounds.
    #[command(
        after_help = "Examples:\n  floe files ./events\n  floe files ./events --snapshot 2729321390947741347 --json"
    )]
    Files(FilesArgs),

    /// Commit statistics recorded by the table's writers, and its growth.
    #[command(after_help = "Examples:\n  floe stats ./events\n  floe stats ./events --json\n\n\
Attempts, lost races and rebases come from the snapshot summaries floe writers record \
(floe.commit.attempt, floe.commit.rebased-over); other writers' commits are counted but \
have no such detail.")]
    Stats(TableArg),

    /// Check every referenced file; exit status 1 with a list of problems.
    #[command(after_help = "Examples:\n  floe verify ./events\n  floe verify ./events --deep --json\n\n\
Checks all retained snapshots: manifest lists, manifests and data files exist, sizes and \
row/file counts agree with the metadata. --deep also reads every row of every data file.")]
    Verify(VerifyArgs),

    /// Delete the rows matching a predicate (one commit; files rewritten as needed).
    #[command(after_help = "Examples:\n  \
floe delete ./events --where 'id = 7'\n  \
floe delete ./events --where \"ts < '2026-01-01T00:00:00Z'\" --dry-run\n\n\
Files whose every row matches are removed; files with some matching rows are rewritten \
without them. A concurrent commit that adds or changes matching rows is a conflict (the \
delete is retried from a fresh read). --dry-run only counts the matching rows.")]
    Delete(cmd_maint::DeleteArgs),

    /// Bin-pack small data files into files near a target size (same rows).
    #[command(after_help = "Examples:\n  \
floe compact ./events --dry-run\n  \
floe compact ./events --target-size 64M\n  \
floe compact ./events --where \"day < '2026-01-01'\" --json\n\n\
Commits `replace` snapshots that change no rows, so it never conflicts with concurrent \
appends. The old files stay on disk for time travel until `floe expire` removes the \
snapshots that reference them.")]
    Compact(cmd_maint::CompactArgs),

    /// Fold small manifests of the current snapshot into one (same files).
    #[command(
        after_help = "Examples:\n  floe merge-manifests ./events\n  floe merge-manifests ./events --dry-run --json"
    )]
    MergeManifests(cmd_maint::MergeManifestsArgs),

    /// Remove old snapshots from the metadata and delete the files only they used.
    #[command(after_help = "Examples:\n  \
floe expire ./events --dry-run\n  \
floe expire ./events --older-than 7d --retain-last 10\n  \
floe expire ./events --older-than '2026-01-01 00:00:00' --json\n\n\
The current snapshot and tagged snapshots are always kept. Without options the table's \
policy applies (history.expire.max-snapshot-age-ms, 5 days; \
history.expire.min-snapshots-to-keep, 1).\n\n\
Given a warehouse root (`floe expire ./wh --older-than 7d`), it deletes the warehouse's \
old catalog versions instead (default: older than 5 days; the newest is always kept); \
time travel across tables then reaches back to the oldest kept version.")]
    Expire(cmd_maint::ExpireArgs),

    /// Delete files under the table that nothing references, after a grace period.
    #[command(after_help = "Examples:\n  \
floe remove-orphans ./events --dry-run\n  \
floe remove-orphans ./events --older-than 3d\n\n\
Files newer than the grace period (default 1 day) are never deleted, so an in-flight \
transaction's files survive; the grace must exceed the table's transaction max age plus \
an hour unless --allow-short-grace is given.")]
    RemoveOrphans(cmd_maint::OrphanArgs),

    /// Make an ancestor of the current snapshot current again (a new commit).
    #[command(after_help = "Examples:\n  \
floe rollback ./events 2729321390947741347\n  \
floe rollback ./events \"$(floe history ./events --json | jq '.[-2].snapshot_id')\"\n\n\
Later snapshots stay in the metadata (time travel still reads them) until expired. \
`floe set-current` also accepts snapshots that are not ancestors.")]
    Rollback(cmd_maint::SnapshotArgs),

    /// Make any retained snapshot current (a new commit).
    #[command(after_help = "Examples:\n  floe set-current ./events 2729321390947741347 --json")]
    SetCurrent(cmd_maint::SnapshotArgs),

    /// Name a snapshot with a tag (never expired), remove a tag, or list tags.
    #[command(after_help = "Examples:\n  \
floe tag ./events before-backfill              # tags the current snapshot\n  \
floe tag ./events release-1 2729321390947741347\n  \
floe tag ./events --remove before-backfill\n  \
floe tag ./events --json                        # lists the tags")]
    Tag(cmd_maint::TagArgs),

    /// Point a copied or moved table's metadata at the directory it is in now.
    #[command(after_help = "Examples:\n  \
cp -a ./events ./events-copy && floe relocate ./events-copy\n  \
mv ./events /data/events && floe relocate /data/events --dry-run\n\n\
Metadata records absolute paths, so a copied, restored or moved table still names its \
old directory. floe reads such a table's own files, but refuses commits and maintenance on \
it (exit status 1) until it is relocated. Relocation commits one new version whose \
location, manifest lists, manifests and metadata log name the new directory; afterwards \
the copy is independent of the original. Nothing to do (exit 0) for a table at home.")]
    Relocate(cmd_maint::RelocateArgs),

    /// Create an empty warehouse: a root for many tables with multi-table transactions.
    #[command(after_help = "Examples:\n  \
floe create-warehouse ./wh\n  \
floe create ./wh/orders --schema 'id:long!,sku:string,qty:int'\n  \
floe append ./wh/orders day1.csv        # or: floe append --warehouse ./wh orders day1.csv\n  \
floe tables ./wh\n\n\
Tables are named by their path under the root (`ROOT/sales/orders` is `sales.orders`). \
docs/transactions.md describes the catalog and its guarantees.")]
    CreateWarehouse(wh::RootArgs),

    /// List a warehouse's tables (name, version, directory) at its newest catalog version.
    #[command(after_help = "Examples:\n  floe tables ./wh\n  floe tables ./wh --json")]
    Tables(wh::RootArgs),

    /// Publish every table version a writer committed to the catalog but died before
    /// publishing (roll forward; never back).
    #[command(after_help = "Examples:\n  floe repair ./wh\n  floe repair ./wh --json\n\n\
Any floe writer does this for the tables it touches, and opening the warehouse does it \
for recent transactions; `repair` does it for every table, e.g. before Iceberg readers \
(pyiceberg, DuckDB, Spark) read a warehouse whose writer crashed.")]
    Repair(wh::RootArgs),

    /// Remove a table from its warehouse (`--purge`: and delete its files).
    #[command(after_help = "Examples:\n  \
floe drop ./wh/orders\n  \
floe drop --warehouse ./wh sales.returns --purge\n\n\
Without --purge the table's files stay (warehouse snapshots taken before the drop still \
read them; the name may be reused). With --purge the drop is committed first, then every \
file under the table's directory is deleted. Only warehouse tables can be dropped: a \
plain table is its directory.")]
    Drop(wh::DropArgs),

    /// Rename a table in its warehouse (its directory stays where it is).
    #[command(after_help = "Examples:\n  \
floe rename ./wh/orders orders_2025\n  \
floe rename --warehouse ./wh sales.returns sales.refunds\n  \
floe rename ./wh/orders ./wh/archive/orders   # the new name as a path under the root")]
    Rename(wh::RenameArgs),
}

impl Command {
    /// The TABLE argument of a command that takes one.
    fn table_arg(&mut self) -> Option<&mut PathBuf> {
        Some(match self {
            Command::Create(a) => &mut a.table,
            Command::Append(a) => &mut a.table,
            Command::Upsert(a) | Command::InsertIfAbsent(a) => &mut a.table,
            Command::Overwrite(a) => &mut a.table,
            Command::Alter(a) => &mut a.table,
            Command::Scan(a) => &mut a.table,
            Command::Info(a) | Command::History(a) | Command::Snapshots(a) | Command::Stats(a) => &mut a.table,
            Command::Files(a) => &mut a.table,
            Command::Verify(a) => &mut a.table,
            Command::Delete(a) => &mut a.table,
            Command::Compact(a) => &mut a.table,
            Command::MergeManifests(a) => &mut a.table,
            Command::Expire(a) => &mut a.table,
            Command::RemoveOrphans(a) => &mut a.table,
            Command::Rollback(a) | Command::SetCurrent(a) => &mut a.table,
            Command::Tag(a) => &mut a.table,
            Command::Relocate(a) => &mut a.table,
            // `floe sql` names its tables with --table NAME=LOCATION and --root.
            // `drop` and `rename` name a table in its warehouse, not a directory.
            Command::CreateWarehouse(_)
            | Command::Tables(_)
            | Command::Repair(_)
            | Command::Sql(_)
            | Command::Drop(_)
            | Command::Rename(_) => return None,
        })
    }
}

/// Replaces a TABLE argument that names a warehouse table with the table's directory
/// (for `create`: remembers where to create it).
fn resolve_table(cli: &mut Cli) -> Result<(), Failure> {
    let warehouse = cli.warehouse.clone();
    let is_create = matches!(cli.command, Command::Create(_));
    if matches!(cli.command, Command::Drop(_) | Command::Rename(_)) {
        return Ok(());
    }
    let Some(arg) = cli.command.table_arg() else {
        return match warehouse {
            Some(_) => Err(Failure::usage("--warehouse is for commands that take a TABLE")),
            None => Ok(()),
        };
    };
    let Some((root, name)) = wh::locate(arg, warehouse.as_deref())? else { return Ok(()) };
    if is_create {
        cli.create_in = Some((root, name));
    } else {
        *arg = wh::table_dir(&root, &name)?;
    }
    Ok(())
}

/// A table argument alone.
#[derive(Debug, Args)]
struct TableArg {
    /// The table directory (or one metadata file).
    table: PathBuf,
}

#[derive(Debug, Args)]
struct CreateArgs {
    /// The directory to create the table in (may exist, must hold no table).
    table: PathBuf,
    /// Columns as NAME:TYPE[!],… (! = required), e.g. 'id:long!,name:string'.
    #[arg(long, conflicts_with = "like", required_unless_present = "like")]
    schema: Option<String>,
    /// Take the schema from a Parquet, CSV (header) or NDJSON file.
    #[arg(long, value_name = "FILE")]
    like: Option<PathBuf>,
    /// A table property KEY=VALUE (repeatable).
    #[arg(long = "property", short = 'p', value_name = "KEY=VALUE")]
    properties: Vec<String>,
    /// Partition fields, comma-separated or repeated: COLUMN (identity), year(COL),
    /// month(COL), day(COL), hour(COL), bucket(N, COL), truncate(W, COL).
    #[arg(long, value_name = "FIELDS")]
    partition: Vec<String>,
}

#[derive(Debug, Args)]
struct AppendArgs {
    /// The table directory.
    table: PathBuf,
    #[command(flatten)]
    input: input::InputArgs,
}

#[derive(Debug, Args)]
struct FilesArgs {
    /// The table directory (or one metadata file).
    table: PathBuf,
    /// A retained snapshot id (default: the current snapshot).
    #[arg(long)]
    snapshot: Option<i64>,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// The table directory (or one metadata file).
    table: PathBuf,
    /// Also read every row of every data file.
    #[arg(long)]
    deep: bool,
}

/// How a command failed: the exit code and the error.
pub struct Failure {
    code: u8,
    error: Box<dyn std::error::Error + Send + Sync>,
}

impl Failure {
    /// Bad usage or input (exit 2).
    pub fn usage(msg: impl Into<String>) -> Failure {
        Failure { code: 2, error: msg.into().into() }
    }

    /// A `--where` predicate that does not parse or bind (exit 2). The message quotes
    /// the predicate, shortened when long (a generated one can be megabytes).
    pub fn bad_where(text: &str, e: impl std::fmt::Display) -> Failure {
        const SHOWN: usize = 60;
        let shown = if text.chars().count() > SHOWN + 20 {
            let head: String = text.chars().take(SHOWN).collect();
            format!("{head:?}… ({} characters)", text.chars().count())
        } else {
            format!("{text:?}")
        };
        Failure::usage(format!("--where {shown}: {e}"))
    }

    /// The table is not healthy (exit 1), already reported on stdout.
    pub fn unhealthy(msg: impl Into<String>) -> Failure {
        Failure { code: 1, error: msg.into().into() }
    }
}

impl From<floe::Error> for Failure {
    fn from(e: floe::Error) -> Failure {
        use floe::Error as E;
        // A table of a copied warehouse: the fix is relocating the warehouse, not it.
        if let E::TableRelocated { recorded, opened, .. } = &e
            && let Some(root) = opened.ancestors().skip(1).find(|d| wh::is_warehouse(d))
        {
            let msg = format!(
                "the warehouse at {} was copied or moved ({} records {recorded}): commits are refused until \
                 `floe relocate {}` relocates all its tables",
                root.display(),
                opened.display(),
                root.display()
            );
            return Failure { code: 1, error: msg.into() };
        }
        let code = match &e {
            E::Warehouse(
                floe::WarehouseError::ConcurrentModification { .. }
                | floe::WarehouseError::Relocated { .. }
                | floe::WarehouseError::ForeignVersion { .. }
                | floe::WarehouseError::CorruptCatalog { .. }
                | floe::WarehouseError::CommitStateUnknown { .. },
            )
            | E::ConcurrentModification { .. }
            | E::CommitStateUnknown { .. }
            | E::CommittedNotDurable { .. }
            | E::CommitFilesMissing { .. }
            | E::CorruptMetadata { .. }
            | E::TableRelocated { .. } => 1,
            _ => 2,
        };
        Failure { code, error: Box::new(e) }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure { code: 2, error: Box::new(e) }
    }
}

pub type CmdResult = Result<(), Failure>;

fn run(cli: &Cli) -> CmdResult {
    let o = out::Out::new(cli.json);
    match &cli.command {
        Command::Create(a) => cmd_write::create(&o, a, cli.create_in.as_ref()),
        Command::Append(a) => cmd_write::append(&o, a),
        Command::Upsert(a) => cmd_rows::upsert(&o, a),
        Command::InsertIfAbsent(a) => cmd_rows::insert_if_absent(&o, a),
        Command::Overwrite(a) => cmd_rows::overwrite(&o, a),
        Command::Alter(a) => cmd_alter::alter(&o, a),
        Command::Scan(a) => cmd_scan::scan(&o, a, cli.verbose),
        Command::Sql(a) => cmd_sql::sql(&o, a),
        Command::Info(a) => cmd_read::info(&o, &a.table),
        Command::History(a) => cmd_read::history(&o, &a.table),
        Command::Snapshots(a) => cmd_read::snapshots(&o, &a.table),
        Command::Files(a) => cmd_read::files(&o, &a.table, a.snapshot),
        Command::Stats(a) => cmd_read::stats(&o, &a.table),
        Command::Verify(a) => cmd_read::verify(&o, &a.table, a.deep),
        Command::Delete(a) => cmd_maint::delete(&o, a),
        Command::Compact(a) => cmd_maint::compact(&o, a, cli.verbose),
        Command::MergeManifests(a) => cmd_maint::merge_manifests(&o, a, cli.verbose),
        Command::Expire(a) => cmd_maint::expire(&o, a, cli.verbose),
        Command::RemoveOrphans(a) => cmd_maint::remove_orphans(&o, a, cli.verbose),
        Command::Rollback(a) => cmd_maint::rollback(&o, a),
        Command::SetCurrent(a) => cmd_maint::set_current(&o, a),
        Command::Tag(a) => cmd_maint::tag(&o, a),
        Command::Relocate(a) => cmd_maint::relocate(&o, a),
        Command::CreateWarehouse(a) => wh::create_warehouse(&o, a),
        Command::Tables(a) => wh::tables(&o, a),
        Command::Repair(a) => wh::repair(&o, a),
        Command::Drop(a) => wh::drop(&o, a, cli.warehouse.as_deref()),
        Command::Rename(a) => wh::rename(&o, a, cli.warehouse.as_deref()),
    }
}

fn main() -> ExitCode {
    // A panic is a bug, but the user still gets one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("floe: internal error (please report): {msg}");
    }));
    let mut cli = Cli::parse();
    let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        input::set_storage_options(&cli.storage_option)?;
        resolve_table(&mut cli)
    })) {
        Ok(Ok(())) => std::panic::catch_unwind(|| run(&cli)),
        Ok(Err(f)) => Ok(Err(f)),
        Err(e) => Err(e),
    };
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(f)) => {
            if let Some(io) = f.error.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                // `floe scan … | head`: the reader has what it wanted.
                return ExitCode::SUCCESS;
            }
            // `floe alter t add-column a int --verbose`: flags after a chained change.
            let verbose =
                cli.verbose || matches!(&cli.command, Command::Alter(a) if cmd_alter::trailing_flags(a).verbose);
            out::report_error(f.error.as_ref(), verbose);
            ExitCode::from(f.code)
        }
        Err(_) => ExitCode::from(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: floe::Error) -> u8 {
        Failure::from(e).code
    }

    #[test]
    fn exit_codes() {
        let conflict = floe::Error::ConcurrentModification {
            base_version: 1,
            attempted_version: 2,
            conflicting: Vec::new(),
            retries_exhausted: true,
        };
        assert_eq!(code(conflict), 1, "an unresolved conflict");
        assert_eq!(code(floe::Error::CorruptMetadata { path: "v1.metadata.json".into(), reason: "x".into() }), 1);
        let not_durable = floe::Error::CommittedNotDurable {
            version: 3,
            commit_id: "c".into(),
            source: std::io::Error::other("fsync"),
        };
        assert_eq!(code(not_durable), 1, "committed, durability unknown");
        let missing = floe::Error::CommitFilesMissing {
            version: 3,
            commit_id: "c".into(),
            missing: vec![],
            reverted_in: Some(4),
        };
        assert_eq!(code(missing), 1, "published, files gone, reverted");
        assert_eq!(code(floe::Error::TableNotFound { path: "t".into() }), 2);
        let relocated = floe::Error::TableRelocated { recorded: "file:///a".into(), opened: "/b".into(), file: None };
        assert_eq!(code(relocated), 1, "a copied table must be relocated first");
        let s3 = floe::Error::UnsupportedLocation { location: "s3://b/t".into(), scheme: "s3".into() };
        assert_eq!(code(s3), 2, "a URL is bad usage");
        assert_eq!(
            code(floe::Error::InvalidInput { path: "a.csv".into(), row: Some(1), column: None, reason: "x".into() }),
            2
        );
        assert_eq!(code(floe::Error::InvalidArgument("x".into())), 2);
        assert_eq!(Failure::unhealthy("x").code, 1);
        assert_eq!(Failure::usage("x").code, 2);
    }

    #[test]
    fn clap_definition_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
