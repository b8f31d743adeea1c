//! The row-level commands that take input rows: `upsert`, `insert-if-absent` and
//! `overwrite`, each one commit through the library (`Table::upsert`,
//! `Table::insert_if_absent`, `Table::overwrite`, which retry from a fresh read when a
//! concurrent commit conflicts).
//!
//! Promises: every input is read and checked before anything is written: values
//! against the table's schema (the importer), keys present, non-null and (upsert)
//! unique (`keys.rs`), and for `overwrite --where` every new row matching the predicate
//! (otherwise a rerun of the same command would not replace it, and the rows would pile
//! up). Any of these is exit status 2 naming the input and row, with nothing written.
//! `--dry-run` computes what would change (rows and files of the table, rows added) by
//! scanning the table only, and writes nothing at all. Input rows are held in memory:
//! the library takes them as one set.

use std::path::PathBuf;
use std::time::Instant;

use arrow_array::Array;
use clap::Args;
use floe::expr::Predicate;
use floe::{CommitReport, RowChanges, Table};
use serde_json::{Value, json};

use crate::input::{InputArgs, Loaded};
use crate::keys::Keys;
use crate::out::{Out, rel_uri};
use crate::{CmdResult, Failure};

#[derive(Debug, Args)]
pub struct KeyedArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// The key columns, comma-separated: rows are matched on these.
    #[arg(long, value_name = "COLUMNS", required = true)]
    key: String,
    #[command(flatten)]
    input: InputArgs,
}

#[derive(Debug, Args)]
pub struct OverwriteArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// Replace only the rows where this predicate is true (floe::expr syntax); every
    /// new row must match it too. Without it, every row of the table is replaced.
    #[arg(long = "where", value_name = "PREDICATE")]
    filter: Option<String>,
    #[command(flatten)]
    input: InputArgs,
}

/// What a row operation changed, or would: the library's `RowChanges`, and per file
/// what a dry run found.
#[derive(Default)]
struct Changes {
    files_scanned: usize,
    files_removed: usize,
    files_rewritten: usize,
    rows_removed: u64,
    rows_copied: u64,
    rows_added: u64,
    /// Dry run only: (path, rows in the file, rows matched).
    files: Vec<(String, i64, u64)>,
}

impl From<&RowChanges> for Changes {
    fn from(c: &RowChanges) -> Changes {
        Changes {
            files_scanned: c.files_scanned,
            files_removed: c.files_removed,
            files_rewritten: c.files_rewritten,
            rows_removed: c.rows_removed,
            rows_copied: c.rows_copied,
            rows_added: c.rows_added,
            files: Vec::new(),
        }
    }
}

impl Changes {
    /// The changes a dry run found: files whose every row matched are removed, the
    /// others rewritten without the matched rows (as the library does).
    fn planned(files_scanned: usize, files: Vec<(String, i64, u64)>, rows_added: u64) -> Changes {
        let mut c = Changes { files_scanned, rows_added, ..Changes::default() };
        for (_, rows, matched) in &files {
            c.rows_removed += matched;
            if *matched >= u64::try_from(*rows).unwrap_or(0) {
                c.files_removed += 1;
            } else {
                c.files_rewritten += 1;
                c.rows_copied += u64::try_from(*rows).unwrap_or(0) - matched;
            }
        }
        c.files = files;
        c
    }

    fn json(&self) -> serde_json::Map<String, Value> {
        let mut m = serde_json::Map::new();
        m.insert("rows_added".into(), json!(self.rows_added));
        m.insert("rows_removed".into(), json!(self.rows_removed));
        m.insert("rows_copied".into(), json!(self.rows_copied));
        m.insert("files_scanned".into(), json!(self.files_scanned));
        m.insert("files_removed".into(), json!(self.files_removed));
        m.insert("files_rewritten".into(), json!(self.files_rewritten));
        m
    }

    /// The dry run's per-file list.
    fn files_json(&self, table: &Table) -> Value {
        self.files
            .iter()
            .map(|(path, rows, matched)| {
                let whole = *matched >= u64::try_from(*rows).unwrap_or(0);
                json!({
                    "path": rel_uri(table, path),
                    "rows": rows,
                    "rows_matched": matched,
                    "action": if whole { "remove" } else { "rewrite" },
                })
            })
            .collect()
    }

    /// `N file(s) scanned, …` and, for a dry run, one line per file.
    fn text(&self, table: &Table) -> String {
        let mut s = format!(
            "  {} file(s) scanned, {} removed whole, {} rewritten ({} row(s) copied)\n",
            self.files_scanned, self.files_removed, self.files_rewritten, self.rows_copied
        );
        for (path, rows, matched) in &self.files {
            let whole = *matched >= u64::try_from(*rows).unwrap_or(0);
            let verb = if whole { "would remove " } else { "would rewrite" };
            s.push_str(&format!("  {verb} {} ({matched} of {rows} row(s) match)\n", rel_uri(table, path)));
        }
        s
    }
}

/// The JSON report every row command prints: the commit (nulls when nothing was
/// committed), the changes, the inputs, a dry run's files, then `extra`.
fn report_json(
    op: &str,
    table: &Table,
    dry_run: bool,
    report: Option<(&CommitReport, f64)>,
    changes: &Changes,
    inputs: &[Loaded],
    extra: Vec<(&str, Value)>,
) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("operation".into(), json!(op));
    m.insert("dry_run".into(), json!(dry_run));
    m.insert("version".into(), json!(report.map(|(r, _)| r.version)));
    m.insert("snapshot_id".into(), json!(report.map(|(r, _)| r.snapshot_id)));
    m.insert("sequence_number".into(), json!(report.map(|(r, _)| r.sequence_number)));
    m.insert("commit_id".into(), json!(report.map(|(r, _)| r.commit_id.clone())));
    m.extend(changes.json());
    m.insert("data_files_added".into(), json!(report.map(|(r, _)| r.added_files)));
    m.insert("attempts".into(), json!(report.map(|(r, _)| r.attempts)));
    m.insert("elapsed_ms".into(), json!(report.map(|(_, ms)| ms)));
    m.insert("inputs".into(), Loaded::json(inputs));
    if dry_run {
        m.insert("files".into(), changes.files_json(table));
    }
    for (k, v) in extra {
        m.insert(k.into(), v);
    }
    Value::Object(m)
}

/// `committed vN (snapshot S, sequence Q): WHAT` or `(dry run) OP would WHAT; nothing written`.
fn headline(op: &str, report: Option<&CommitReport>, what: &str) -> String {
    match report {
        Some(r) => {
            format!("committed v{} (snapshot {}, sequence {}): {what}\n", r.version, r.snapshot_id, r.sequence_number)
        }
        None => format!("(dry run) {op} would {what}; nothing written\n"),
    }
}

fn tail(report: Option<(&CommitReport, f64)>) -> String {
    match report {
        Some((r, ms)) => format!("  attempts {}, {ms:.1} ms, commit id {}\n", r.attempts, r.commit_id),
        None => String::new(),
    }
}

/// Prints that nothing was committed (and why), as text or JSON (the usual shape,
/// with nulls for the commit).
fn nothing(
    o: &Out,
    op: &str,
    table: &Table,
    dry_run: bool,
    why: &str,
    inputs: &[Loaded],
    extra: Vec<(&str, Value)>,
) -> CmdResult {
    if o.json {
        o.json(&report_json(op, table, dry_run, None, &Changes::default(), inputs, extra))?;
    } else {
        o.line(&format!("{why}: nothing {}", if dry_run { "would be committed" } else { "committed" }))?;
    }
    Ok(())
}

pub fn upsert(o: &Out, a: &KeyedArgs) -> CmdResult {
    let table = Table::open_with(&a.table, a.input.table_options())?;
    let schema = table.schema();
    let keys = Keys::new(&schema, &a.key)?;
    let inputs = a.input.load(&schema)?;
    let checked = keys.check(&inputs, true)?;
    let rows = Loaded::total_rows(&inputs);
    if rows == 0 {
        return nothing(o, "upsert", &table, a.input.dry_run, "no rows in the input", &inputs, vec![]);
    }
    let (changes, report) = if a.input.dry_run {
        let existing = keys.existing(&table, &inputs, &checked)?;
        (Changes::planned(existing.files_scanned, existing.files, rows), None)
    } else {
        let started = Instant::now();
        let mut tx = table.new_transaction();
        tx.upsert(&keys.names(), &Loaded::all_batches(&inputs))?;
        let report = floe::Warehouse::commit_table_transaction(tx)?;
        let changes = report.rows.clone().unwrap_or_default();
        (Changes::from(&changes), Some((report, started.elapsed().as_secs_f64() * 1000.0)))
    };
    let report = report.as_ref().map(|(r, ms)| (r, *ms));
    if o.json {
        o.json(&report_json(
            "upsert",
            &table,
            a.input.dry_run,
            report,
            &changes,
            &inputs,
            vec![("key", json!(keys.names()))],
        ))?;
        return Ok(());
    }
    let what = format!(
        "{} {} row(s), replacing {} existing row(s)",
        if report.is_some() { "upserted" } else { "write" },
        changes.rows_added,
        changes.rows_removed
    );
    let mut text = headline("upsert", report.map(|(r, _)| r), &what);
    text.push_str(&Loaded::text(&inputs));
    text.push_str(&changes.text(&table));
    text.push_str(&tail(report));
    o.print(&text)?;
    Ok(())
}

/// Skipped keys shown in text output (all of them are in the JSON).
const SKIPPED_SHOWN: usize = 10;

pub fn insert_if_absent(o: &Out, a: &KeyedArgs) -> CmdResult {
    let table = Table::open_with(&a.table, a.input.table_options())?;
    let schema = table.schema();
    let keys = Keys::new(&schema, &a.key)?;
    let inputs = a.input.load(&schema)?;
    let checked = keys.check(&inputs, false)?;
    if Loaded::total_rows(&inputs) == 0 {
        return nothing(o, "insert-if-absent", &table, a.input.dry_run, "no rows in the input", &inputs, vec![]);
    }
    // Which keys the table holds: the whole of a dry run, and what keeps a run in which
    // every key is present from committing an empty snapshot.
    let existing = keys.existing(&table, &inputs, &checked)?;
    let (would_insert, would_skip) = keys.absent(&inputs, &checked, &existing)?;
    let skipped_json = |inserted: u64, skipped: &[Vec<floe::spec::Datum>]| -> Vec<(&str, Value)> {
        vec![
            ("key", json!(keys.names())),
            ("inserted", json!(inserted)),
            ("skipped", json!(skipped.len())),
            ("skipped_keys", skipped.iter().map(|k| keys.json(k)).collect()),
        ]
    };
    if would_insert == 0 && !a.input.dry_run {
        return nothing(
            o,
            "insert-if-absent",
            &table,
            false,
            &format!("every key is in the table or earlier in the input ({} row(s) skipped)", would_skip.len()),
            &inputs,
            skipped_json(0, &would_skip),
        );
    }
    let (changes, skipped, report) = if a.input.dry_run {
        let files = Changes { files_scanned: existing.files_scanned, rows_added: would_insert, ..Changes::default() };
        (files, would_skip, None)
    } else {
        let started = Instant::now();
        let mut tx = table.new_transaction();
        tx.insert_if_absent(&keys.names(), &Loaded::all_batches(&inputs))?;
        let report = floe::Warehouse::commit_table_transaction(tx)?;
        let r = report.rows.clone().unwrap_or_default();
        (Changes::from(&r), r.keys_skipped, Some((report, started.elapsed().as_secs_f64() * 1000.0)))
    };
    let report = report.as_ref().map(|(r, ms)| (r, *ms));
    if o.json {
        let extra = skipped_json(changes.rows_added, &skipped);
        o.json(&report_json("insert-if-absent", &table, a.input.dry_run, report, &changes, &inputs, extra))?;
        return Ok(());
    }
    let what = format!(
        "{} {} row(s), skipped {} (key in the table or earlier in the input)",
        if report.is_some() { "inserted" } else { "insert" },
        changes.rows_added,
        skipped.len()
    );
    let mut text = headline("insert-if-absent", report.map(|(r, _)| r), &what);
    text.push_str(&Loaded::text(&inputs));
    for k in skipped.iter().take(SKIPPED_SHOWN) {
        text.push_str(&format!("  skipped {}\n", keys.show(k)));
    }
    if skipped.len() > SKIPPED_SHOWN {
        text.push_str(&format!("  … and {} more (--json lists them all)\n", skipped.len() - SKIPPED_SHOWN));
    }
    text.push_str(&tail(report));
    o.print(&text)?;
    Ok(())
}

pub fn overwrite(o: &Out, a: &OverwriteArgs) -> CmdResult {
    let predicate = match &a.filter {
        Some(text) => Some(Predicate::parse(text).map_err(|e| Failure::bad_where(text, e))?),
        None => None,
    };
    let table = Table::open_with(&a.table, a.input.table_options())?;
    let schema = table.schema();
    if let (Some(p), Some(text)) = (&predicate, &a.filter) {
        p.check(&schema).map_err(|e| Failure::bad_where(text, e))?;
    }
    let inputs = a.input.load(&schema)?;
    if let (Some(p), Some(text)) = (&predicate, &a.filter) {
        rows_match(&inputs, p, &schema, text)?;
    }
    let rows = Loaded::total_rows(&inputs);
    let predicate = predicate.unwrap_or(Predicate::True);
    let extra = || vec![("where", json!(a.filter))];
    // What the predicate matches: the whole of a dry run, and (with no input rows)
    // what keeps an overwrite that changes nothing from committing an empty snapshot.
    let planned = if a.input.dry_run || rows == 0 { Some(matching(&table, &predicate, rows)?) } else { None };
    if let Some(p) = &planned
        && p.rows_removed == 0
        && rows == 0
    {
        return nothing(
            o,
            "overwrite",
            &table,
            a.input.dry_run,
            "no rows match and the input has none",
            &inputs,
            extra(),
        );
    }
    let (changes, report) = match planned {
        Some(p) if a.input.dry_run => (p, None),
        _ => {
            let started = Instant::now();
            let mut tx = table.new_transaction();
            tx.overwrite(predicate, &Loaded::all_batches(&inputs))?;
            let report = floe::Warehouse::commit_table_transaction(tx)?;
            let changes = report.rows.clone().unwrap_or_default();
            (Changes::from(&changes), Some((report, started.elapsed().as_secs_f64() * 1000.0)))
        }
    };
    let report = report.as_ref().map(|(r, ms)| (r, *ms));
    if o.json {
        o.json(&report_json("overwrite", &table, a.input.dry_run, report, &changes, &inputs, extra()))?;
        return Ok(());
    }
    let scope = match &a.filter {
        Some(text) => format!("the {} row(s) matching {text:?}", changes.rows_removed),
        None => format!("all {} row(s)", changes.rows_removed),
    };
    let what =
        format!("{} {scope} with {} row(s)", if report.is_some() { "replaced" } else { "replace" }, changes.rows_added);
    let mut text = headline("overwrite", report.map(|(r, _)| r), &what);
    text.push_str(&Loaded::text(&inputs));
    text.push_str(&changes.text(&table));
    text.push_str(&tail(report));
    o.print(&text)?;
    Ok(())
}

/// Every input row must satisfy the `--where` predicate.
fn rows_match(inputs: &[Loaded], predicate: &Predicate, schema: &floe::Schema, text: &str) -> Result<(), Failure> {
    for input in inputs {
        let mut row0 = 0u64;
        for b in &input.batches {
            let mask = predicate.evaluate(schema, b)?;
            if let Some(r) = (0..mask.len()).find(|&r| !(mask.is_valid(r) && mask.value(r))) {
                return Err(floe::Error::InvalidInput {
                    path: PathBuf::from(&input.name),
                    row: Some(row0 + r as u64 + 1),
                    column: None,
                    reason: format!(
                        "the row does not match --where {text:?}: overwrite replaces the rows the predicate matches, \
                         so every new row must match it (or a rerun would not replace it)"
                    ),
                }
                .into());
            }
            row0 += b.num_rows() as u64;
        }
    }
    Ok(())
}

/// The rows and files of the current snapshot that `predicate` matches, read with
/// only the predicate's columns; nothing is written.
fn matching(table: &Table, predicate: &Predicate, rows_added: u64) -> Result<Changes, Failure> {
    if table.current_snapshot().is_none() {
        return Ok(Changes { rows_added, ..Changes::default() });
    }
    let columns = predicate.columns();
    let mut scan = table.scan().filter(predicate.clone());
    if !columns.is_empty() {
        scan = scan.select(columns);
    }
    let plan = scan.plan()?;
    let mut files = Vec::new();
    for (i, f) in plan.files.iter().enumerate() {
        let matched: u64 = if *predicate == Predicate::True {
            u64::try_from(f.record_count).unwrap_or(0)
        } else {
            let (batches, _) = plan.read_file(i, floe_cli::import::DEFAULT_BATCH_ROWS)?;
            batches.iter().map(|b| b.num_rows() as u64).sum()
        };
        if matched > 0 {
            files.push((f.file_path.clone(), f.record_count, matched));
        }
    }
    Ok(Changes::planned(plan.files.len(), files, rows_added))
}
