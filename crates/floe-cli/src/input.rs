//! The inputs of the commands that write rows (`append`, `upsert`, `insert-if-absent`,
//! `overwrite`): file names, `-` for standard input, `--format`, `--batch-rows`,
//! `--no-sync` and `--dry-run`, shared so the four commands read input the same way.
//!
//! Promises: every input is opened (and a CSV header checked against the table) before
//! any row is read or anything written; `-` is refused without `--format` (standard
//! input has no name to tell its format by) and when given twice (it can be read only
//! once). Files are opened before standard input, so a missing file fails at once
//! rather than after the producer on the other end of the pipe has run.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use clap::Args;
use floe::spec::Schema;
use floe::{Durability, TableOptions};
use floe_cli::import::{FileFormat, FileReader};

use crate::Failure;

/// The file name that means standard input.
pub const STDIN_ARG: &str = "-";

/// The `--storage-option KEY=VALUE` pairs of this run (object_store's config keys).
static STORAGE_OPTIONS: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();

/// Records the `--storage-option` values (`KEY=VALUE`); a value without `=` is a usage error.
pub fn set_storage_options(given: &[String]) -> Result<(), Failure> {
    let mut pairs = Vec::new();
    for o in given {
        let (k, v) = o
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| Failure::usage(format!("--storage-option {o:?}: expected KEY=VALUE")))?;
        pairs.push((k.trim().to_string(), v.to_string()));
    }
    let _ = STORAGE_OPTIONS.set(pairs);
    Ok(())
}

/// Table options carrying the run's storage options (every table is opened with them).
pub fn base_options() -> TableOptions {
    let mut opts = TableOptions::default();
    for (k, v) in STORAGE_OPTIONS.get().into_iter().flatten() {
        opts = opts.storage_option(k.clone(), v.clone());
    }
    opts
}

#[derive(Debug, Args)]
pub struct InputArgs {
    /// Input files (.parquet, .csv, .json/.ndjson/.jsonl); `-` reads standard input
    /// (needs --format).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The input format: required for standard input (`-`); for files it overrides
    /// what the file names say.
    #[arg(long, value_parser = ["parquet", "csv", "json", "ndjson", "jsonl"])]
    pub format: Option<String>,
    /// Rows per batch while reading.
    #[arg(long, default_value_t = floe_cli::import::DEFAULT_BATCH_ROWS, value_name = "ROWS")]
    pub batch_rows: usize,
    /// Skip the fsyncs (scratch tables only: not safe against power loss).
    #[arg(long)]
    pub no_sync: bool,
    /// Read and check every input and report what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl InputArgs {
    /// Table options for these inputs (`--no-sync`).
    pub fn table_options(&self) -> TableOptions {
        let opts = base_options();
        if self.no_sync { opts.durability(Durability::Relaxed) } else { opts }
    }

    fn format(&self) -> Result<Option<FileFormat>, Failure> {
        match self.format.as_deref() {
            Some(name) => FileFormat::from_name(name)
                .map(Some)
                .ok_or_else(|| Failure::usage(format!("unknown --format {name:?}"))),
            None => Ok(None),
        }
    }

    /// Opens every input for `schema`, in the order given.
    pub fn open(&self, schema: &Schema) -> Result<Vec<FileReader>, Failure> {
        let format = self.format()?;
        let is_stdin = |p: &Path| p.as_os_str() == STDIN_ARG;
        let stdin_count = self.files.iter().filter(|p| is_stdin(p)).count();
        if stdin_count > 1 {
            return Err(Failure::usage("standard input (-) can be read only once"));
        }
        let stdin_format = match (stdin_count, format) {
            (0, _) => None,
            (_, Some(f)) => Some(f),
            (_, None) => {
                return Err(Failure::usage(
                    "reading standard input (-) needs --format csv, json or parquet: it has no name to tell the \
                     format by",
                ));
            }
        };
        let mut readers: Vec<Option<FileReader>> = Vec::with_capacity(self.files.len());
        for f in &self.files {
            readers.push(if is_stdin(f) {
                None
            } else {
                Some(FileReader::open_with(f, schema, format, self.batch_rows)?)
            });
        }
        let mut out = Vec::with_capacity(readers.len());
        for r in readers {
            match (r, stdin_format) {
                (Some(r), _) => out.push(r),
                (None, Some(f)) => out.push(FileReader::open_stdin(schema, f, self.batch_rows)?),
                (None, None) => return Err(Failure::usage("standard input without a format (internal)")),
            }
        }
        Ok(out)
    }

    /// Opens and reads every input into memory: what the row-level operations take.
    pub fn load(&self, schema: &Schema) -> Result<Vec<Loaded>, Failure> {
        let mut out = Vec::new();
        for mut r in self.open(schema)? {
            let mut batches = Vec::new();
            for b in r.by_ref() {
                batches.push(b?);
            }
            out.push(Loaded {
                name: r.path().display().to_string(),
                format: r.format().name(),
                rows: r.rows_read(),
                columns: r.columns().map(<[String]>::to_vec),
                batches,
            });
        }
        Ok(out)
    }
}

/// One input read into batches of the table's schema.
#[derive(Debug)]
pub struct Loaded {
    /// Its path as given, or `<stdin>`.
    pub name: String,
    pub format: &'static str,
    pub rows: u64,
    /// The columns it names itself (CSV header, Parquet schema); `None` for JSON.
    pub columns: Option<Vec<String>>,
    pub batches: Vec<RecordBatch>,
}

impl Loaded {
    /// Every batch of every input, in order.
    pub fn all_batches(inputs: &[Loaded]) -> Vec<RecordBatch> {
        inputs.iter().flat_map(|i| i.batches.iter().cloned()).collect()
    }

    pub fn total_rows(inputs: &[Loaded]) -> u64 {
        inputs.iter().map(|i| i.rows).sum()
    }

    /// The `inputs` part of a JSON report.
    pub fn json(inputs: &[Loaded]) -> serde_json::Value {
        inputs.iter().map(|i| serde_json::json!({"path": i.name, "format": i.format, "rows": i.rows})).collect()
    }

    /// `  NAME (FORMAT): N row(s)` lines.
    pub fn text(inputs: &[Loaded]) -> String {
        inputs.iter().map(|i| format!("  {} ({}): {} row(s)\n", i.name, i.format, i.rows)).collect()
    }
}
