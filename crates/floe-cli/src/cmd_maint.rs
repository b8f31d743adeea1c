//! The maintenance commands (`compact`, `merge-manifests`, `expire`, `remove-orphans`,
//! `rollback`, `set-current`, `tag`, `relocate`) and the row-level `delete`.
//!
//! Each is one call to the library (`Table::compact`, `Table::expire_snapshots`, …,
//! `Table::delete`) plus rendering: the report's one line, then (dry run or
//! `--verbose`) every file deleted or that would be, then anything skipped and why.
//! `--json` prints the whole report. Argument parsing (durations, time stamps,
//! predicates) happens before the table is opened, so bad input changes nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use floe::expr::Predicate;
use floe::{CompactOptions, ExpireOptions, MaintenanceReport, MergeManifestsOptions, OrphanOptions, Table};
use serde_json::{Value, json};

use crate::cmd_scan::parse_as_of;
use crate::out::{Out, from_epoch_ms};
use crate::{CmdResult, Failure};

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// Output file size in bytes (suffixes K, M, G = KiB, MiB, GiB). Default: the
    /// table's write.target-file-size-bytes, else 128M.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    target_size: Option<u64>,
    /// Rewrite only files whose statistics say they may hold rows matching this
    /// predicate (floe::expr syntax), e.g. "day < '2026-01-01'".
    #[arg(long = "where", value_name = "PREDICATE")]
    filter: Option<String>,
    /// Report what would be rewritten; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct MergeManifestsArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// Merge only when at least this many small manifests exist.
    #[arg(long, value_name = "N", default_value_t = 2)]
    min_count: usize,
    /// Report what would be merged; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ExpireArgs {
    /// The table directory, or a warehouse root (then its old catalog versions).
    pub(crate) table: PathBuf,
    /// Expire snapshots older than this: a duration back from now (7d, 12h, 30m, 90s,
    /// 500ms) or a time (milliseconds since the epoch, or a UTC date-time). Default:
    /// the table's history.expire.max-snapshot-age-ms (5 days).
    #[arg(long, value_name = "DURATION|TIMESTAMP")]
    older_than: Option<String>,
    /// Always keep the newest N snapshots. Default: the table's
    /// history.expire.min-snapshots-to-keep (1).
    #[arg(long, value_name = "N")]
    retain_last: Option<usize>,
    /// Report what would be expired and deleted; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct OrphanArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// Grace period: only files last modified longer ago than this are deleted
    /// (7d, 36h, 90m, …; default 1d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    older_than: Option<Duration>,
    /// Allow a grace period shorter than the table's transaction max age plus an hour.
    /// Unsafe while writers run: an in-flight transaction's files could be deleted.
    #[arg(long)]
    allow_short_grace: bool,
    /// List what would be deleted; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// The snapshot to make current (see `floe snapshots`).
    snapshot_id: i64,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// The tag name. Without one, the tags are listed.
    name: Option<String>,
    /// The snapshot to tag (default: the current snapshot).
    #[arg(conflicts_with = "remove")]
    snapshot_id: Option<i64>,
    /// Remove the tag NAME instead (its snapshot becomes expirable).
    #[arg(long, requires = "name")]
    remove: bool,
}

#[derive(Debug, Args)]
pub struct RelocateArgs {
    /// The table directory (a copy, or a table moved here).
    pub(crate) table: PathBuf,
    /// Report what would be rewritten; change nothing.
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The table directory.
    pub(crate) table: PathBuf,
    /// Delete the rows where this predicate is true (floe::expr syntax), e.g.
    /// "id = 7", "ts < '2026-01-01T00:00:00Z'". Required: there is no implicit
    /// "delete everything" (use --where true for that).
    #[arg(long = "where", value_name = "PREDICATE", required = true)]
    filter: String,
    /// Count the matching rows; delete nothing.
    #[arg(long)]
    dry_run: bool,
}

/// `512`, `64K`, `128M`, `1G` (binary units; a trailing `B`/`iB` is allowed).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let upper = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let (num, mult) = match upper.chars().last() {
        Some('K') => (&upper[..upper.len() - 1], 1u64 << 10),
        Some('M') => (&upper[..upper.len() - 1], 1 << 20),
        Some('G') => (&upper[..upper.len() - 1], 1 << 30),
        Some('T') => (&upper[..upper.len() - 1], 1 << 40),
        _ => (upper, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| format!("{text:?}: expected bytes like 134217728, 64K, 128M or 1G"))?;
    match n.checked_mul(mult) {
        Some(0) => Err(format!("{text:?}: the size must be positive")),
        Some(v) => Ok(v),
        None => Err(format!("{text:?}: too large")),
    }
}

/// `90s`, `30m`, `12h`, `7d`, `2w`, `500ms`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || format!("{text:?}: expected a duration like 500ms, 90s, 30m, 12h, 7d or 2w");
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let ms_per: u64 = match unit.trim() {
        "ms" => 1,
        "" | "s" | "sec" | "secs" => 1000,
        "m" | "min" | "mins" => 60_000,
        "h" | "hr" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        "w" | "week" | "weeks" => 7 * 86_400_000,
        _ => return Err(bad()),
    };
    n.checked_mul(ms_per).map(Duration::from_millis).ok_or_else(|| format!("{text:?}: too large"))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `--older-than` of `expire`: a duration back from now, else a time stamp.
fn parse_cutoff(text: &str) -> Result<i64, Failure> {
    if let Ok(d) = parse_duration(text) {
        // A bare number is a duration in seconds only when small; epoch milliseconds
        // (13 digits) are a time stamp.
        let bare = text.trim().chars().all(|c| c.is_ascii_digit());
        if !bare || text.trim().len() < 10 {
            let back = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            return Ok(now_ms().saturating_sub(back));
        }
    }
    parse_as_of(text).map_err(|_| {
        Failure::usage(format!(
            "--older-than {text:?}: expected a duration (7d, 12h, 30m) or a time \
             (milliseconds since the epoch, or a UTC date-time like '2026-01-02 10:00:00')"
        ))
    })
}

fn parse_predicate(text: &str) -> Result<Predicate, Failure> {
    Predicate::parse(text).map_err(|e| Failure::bad_where(text, e))
}

/// The line for an operation that only commits metadata (rollback, tags): the
/// report's file counts are all zero there.
fn metadata_only_line(r: &MaintenanceReport) -> String {
    let v: Vec<String> = r.versions().iter().map(|v| format!("v{v}")).collect();
    format!("{}: committed {} in {:.3}s", r.operation, v.join(", "), r.elapsed.as_secs_f64())
}

/// A path relative to the table root when under it.
fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).map(|r| r.display().to_string()).unwrap_or_else(|_| p.display().to_string())
}

fn report_json(table: &Table, r: &MaintenanceReport) -> Value {
    let root = table.path();
    json!({
        "operation": r.operation,
        "dry_run": r.dry_run,
        "data_files_removed": r.data_files_removed,
        "data_files_added": r.data_files_added,
        "metadata_files_removed": r.metadata_files_removed,
        "other_files_removed": r.other_files_removed,
        "manifests_before": r.manifests_before,
        "manifests_after": r.manifests_after,
        "bytes_removed": r.bytes_removed,
        "bytes_added": r.bytes_added,
        "rows_rewritten": r.rows_rewritten,
        "snapshots_expired": r.snapshots_expired,
        "versions": r.versions(),
        "deleted_paths": r.deleted_paths.iter().map(|p| rel(root, p)).collect::<Vec<_>>(),
        "skipped": r.skipped,
        "elapsed_ms": r.elapsed.as_secs_f64() * 1000.0,
    })
}

/// The report's line; then, on a dry run or with `verbose`, the files; then what was skipped.
fn print_report(o: &Out, table: &Table, r: &MaintenanceReport, verbose: bool) -> CmdResult {
    if o.json {
        o.json(&report_json(table, r))?;
        return Ok(());
    }
    let mut text = format!("{r}\n");
    if (r.dry_run || verbose) && !r.deleted_paths.is_empty() {
        let verb = if r.dry_run { "would delete" } else { "deleted" };
        for p in &r.deleted_paths {
            text.push_str(&format!("  {verb} {}\n", rel(table.path(), p)));
        }
    }
    for s in &r.skipped {
        text.push_str(&format!("  skipped: {s}\n"));
    }
    o.print(&text)?;
    Ok(())
}

pub fn compact(o: &Out, a: &CompactArgs, verbose: bool) -> CmdResult {
    let predicate = a.filter.as_deref().map(parse_predicate).transpose()?;
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let mut opts = CompactOptions::default().dry_run(a.dry_run);
    if let Some(bytes) = a.target_size {
        opts = opts.target_file_size(bytes);
    }
    if let (Some(p), Some(text)) = (predicate, &a.filter) {
        // Bound here too, for a usage error naming the flag; compaction binds it again.
        p.check(&table.schema()).map_err(|e| Failure::bad_where(text, e))?;
        opts = opts.matching(p);
    }
    let r = match floe::Warehouse::of_table(&table)? {
        Some((wh, name)) => wh.compact(&name, &opts)?,
        None => table.compact(&opts)?,
    };
    print_report(o, &table, &r, verbose)
}

pub fn merge_manifests(o: &Out, a: &MergeManifestsArgs, verbose: bool) -> CmdResult {
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let opts = MergeManifestsOptions::default().min_count(a.min_count.max(2)).dry_run(a.dry_run);
    let r = match floe::Warehouse::of_table(&table)? {
        Some((wh, name)) => wh.merge_manifests(&name, &opts)?,
        None => table.merge_manifests(&opts)?,
    };
    print_report(o, &table, &r, verbose)
}

pub fn expire(o: &Out, a: &ExpireArgs, verbose: bool) -> CmdResult {
    let mut opts = ExpireOptions::default().dry_run(a.dry_run);
    if let Some(text) = &a.older_than {
        opts = opts.before(from_epoch_ms(parse_cutoff(text)?));
    }
    if let Some(n) = a.retain_last {
        opts = opts.retain_last(n);
    }
    if crate::wh::is_warehouse(&a.table) {
        return crate::wh::expire_catalog(o, &a.table, &opts);
    }
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let r = match floe::Warehouse::of_table(&table)? {
        Some((wh, name)) => wh.expire_snapshots(&name, &opts)?,
        None => table.expire_snapshots(&opts)?,
    };
    print_report(o, &table, &r, verbose)
}

pub fn remove_orphans(o: &Out, a: &OrphanArgs, verbose: bool) -> CmdResult {
    let mut opts = OrphanOptions::default().dry_run(a.dry_run);
    if let Some(d) = a.older_than {
        opts = opts.older_than(d);
    }
    opts.allow_short_grace = a.allow_short_grace;
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    // A warehouse table's orphans are judged with its catalog (committed but
    // unpublished transactions, staged files the catalog names).
    let r = match floe::Warehouse::of_table(&table)? {
        Some((wh, name)) => wh.remove_orphans(&name, &opts)?,
        None => table.remove_orphans(&opts)?,
    };
    print_report(o, &table, &r, verbose)
}

pub fn rollback(o: &Out, a: &SnapshotArgs) -> CmdResult {
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let r = match floe::Warehouse::of_table(&table)? {
        Some((wh, name)) => wh.rollback_to(&name, a.snapshot_id)?,
        None => table.rollback_to(a.snapshot_id)?,
    };
    print_current(o, &table, &r)
}

pub fn set_current(o: &Out, a: &SnapshotArgs) -> CmdResult {
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let r = match floe::Warehouse::of_table(&table)? {
        Some((wh, name)) => wh.set_current(&name, a.snapshot_id)?,
        None => table.set_current(a.snapshot_id)?,
    };
    print_current(o, &table, &r)
}

/// After rollback / set-current: the report and the snapshot now current.
fn print_current(o: &Out, table: &Table, r: &MaintenanceReport) -> CmdResult {
    // A warehouse table was committed through another handle: read its newest version.
    table.refresh()?;
    let current = table.metadata().current_snapshot_id();
    if o.json {
        let mut v = report_json(table, r);
        v["current_snapshot_id"] = json!(current);
        o.json(&v)?;
        return Ok(());
    }
    o.line(&metadata_only_line(r))?;
    if let Some(id) = current {
        o.line(&format!("current snapshot is now {id}"))?;
    }
    Ok(())
}

pub fn tag(o: &Out, a: &TagArgs) -> CmdResult {
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    let Some(name) = &a.name else {
        let tags = table.tags();
        if o.json {
            o.json(&json!(tags))?;
        } else if tags.is_empty() {
            o.line("no tags")?;
        } else {
            let rows = tags.iter().map(|(n, id)| vec![n.clone(), id.to_string()]).collect();
            o.print(&o.table(&["tag", "snapshot_id"], rows, &[1]))?;
        }
        return Ok(());
    };
    let warehouse = floe::Warehouse::of_table(&table)?;
    let r = if a.remove {
        match &warehouse {
            Some((wh, t)) => wh.remove_tag(t, name)?,
            None => table.remove_tag(name)?,
        }
    } else {
        let id = match a.snapshot_id {
            Some(id) => id,
            None => table
                .metadata()
                .current_snapshot_id()
                .ok_or_else(|| Failure::usage("the table has no snapshot to tag yet; give SNAPSHOT_ID"))?,
        };
        match &warehouse {
            Some((wh, t)) => wh.create_tag(t, name, id)?,
            None => table.create_tag(name, id)?,
        }
    };
    // Committed through the warehouse's own handle: read the new version here.
    table.refresh()?;
    if o.json {
        o.json(&report_json(&table, &r))?;
    } else {
        o.line(&metadata_only_line(&r))?;
        match (a.remove, table.tags().get(name)) {
            (false, Some(id)) => o.line(&format!("tag {name} -> snapshot {id}"))?,
            (true, _) => o.line(&format!("tag {name} removed"))?,
            _ => {}
        }
    }
    Ok(())
}

pub fn relocate(o: &Out, a: &RelocateArgs) -> CmdResult {
    if crate::wh::is_warehouse(&a.table) {
        return crate::wh::relocate(o, &a.table, a.dry_run);
    }
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    if let Some((wh, name)) = floe::Warehouse::of_table(&table)? {
        return Err(Failure::usage(format!(
            "{name} is a table of the warehouse at {}: its tables move together; run `floe relocate {}`",
            wh.path().display(),
            wh.path().display()
        )));
    }
    let report = if a.dry_run { table.relocate_dry_run()? } else { table.relocate()? };
    let r = report.relocation.clone().unwrap_or_default();
    let version = report.versions().first().copied();
    if o.json {
        o.json(&json!({
            "operation": "relocate",
            "dry_run": report.dry_run,
            "needed": r.needed,
            "recorded": r.recorded,
            "opened": r.opened,
            "version": version,
            "snapshots": r.snapshots,
            "manifests": r.manifests,
            "data_files": r.data_files,
            "metadata_log": r.metadata_log,
            "written": r.written.iter().map(|p| rel(table.path(), p)).collect::<Vec<_>>(),
            "elapsed_ms": report.elapsed.as_secs_f64() * 1000.0,
        }))?;
        return Ok(());
    }
    if !r.needed {
        o.line(&format!("relocate: nothing to do, the table's location is already {}", r.opened.display()))?;
        return Ok(());
    }
    let what = format!(
        "{} snapshot(s), {} manifest(s), {} data file path(s), {} metadata-log file(s) from {} to {}",
        r.snapshots,
        r.manifests,
        r.data_files,
        r.metadata_log,
        r.recorded,
        r.opened.display()
    );
    match version {
        Some(v) => o.line(&format!("relocate: committed v{v}: {what} in {:.3}s", report.elapsed.as_secs_f64()))?,
        None => o.line(&format!("relocate (dry run): would rewrite {what}"))?,
    }
    Ok(())
}

pub fn delete(o: &Out, a: &DeleteArgs) -> CmdResult {
    let predicate = parse_predicate(&a.filter)?;
    let table = Table::open_with(&a.table, crate::input::base_options())?;
    predicate.check(&table.schema()).map_err(|e| Failure::bad_where(&a.filter, e))?;
    // Counting first keeps a no-match delete from committing an empty snapshot (and is
    // the whole of a dry run). Pruning makes it cheap when statistics rule files out.
    let matching = table.scan().filter(predicate.clone()).count()?;
    if a.dry_run || matching == 0 {
        let what = if a.dry_run { "(dry run) would delete" } else { "nothing committed:" };
        if o.json {
            o.json(&json!({"dry_run": a.dry_run, "version": null, "rows_matched": matching}))?;
        } else if a.dry_run {
            o.line(&format!("{what} {matching} row(s)"))?;
        } else {
            o.line(&format!("{what} no rows match"))?;
        }
        return Ok(());
    }
    let started = std::time::Instant::now();
    let mut tx = table.new_transaction();
    tx.delete(predicate)?;
    let report = floe::Warehouse::commit_table_transaction(tx)?;
    let changes = report.rows.clone().unwrap_or_default();
    let elapsed = started.elapsed();
    if o.json {
        o.json(&json!({
            "dry_run": false,
            "version": report.version,
            "snapshot_id": report.snapshot_id,
            "rows_removed": changes.rows_removed,
            "rows_copied": changes.rows_copied,
            "files_scanned": changes.files_scanned,
            "files_removed": changes.files_removed,
            "files_rewritten": changes.files_rewritten,
            "attempts": report.attempts,
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
        }))?;
        return Ok(());
    }
    o.print(&format!(
        "committed v{} (snapshot {}): deleted {} row(s)\n  {} file(s) scanned, {} removed whole, {} rewritten \
         ({} row(s) copied), attempts {}, {:.1} ms\n",
        report.version,
        report.snapshot_id,
        changes.rows_removed,
        changes.files_scanned,
        changes.files_removed,
        changes.files_rewritten,
        changes.rows_copied,
        report.attempts,
        elapsed.as_secs_f64() * 1000.0,
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_durations() {
        assert_eq!(parse_bytes("512"), Ok(512));
        assert_eq!(parse_bytes("64K"), Ok(64 << 10));
        assert_eq!(parse_bytes("128MiB"), Ok(128 << 20));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert!(parse_bytes("0").is_err());
        assert!(parse_bytes("lots").is_err());
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3y").is_err());
    }
}
