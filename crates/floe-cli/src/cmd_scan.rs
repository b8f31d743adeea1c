//! `floe scan`: read rows of the current snapshot or an older one, as a text table,
//! CSV, newline-delimited JSON or Parquet.
//!
//! Rows stream one data file at a time (memory is about one file's batches), except
//! for the text table, which holds the rows it shows. `build_scan` is the one place
//! that turns arguments into a `floe::Scan`; `--where` is `Scan::filter`, so pruning
//! by partition values, column statistics, row groups and pages applies, and
//! `--verbose` reports what it skipped (one line on stderr).

use std::cell::RefCell;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_array::{Array, RecordBatch, StringArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};
use clap::{Args, ValueEnum};
use floe::expr::Predicate;
use floe::{Scan, ScanIter, ScanMetrics, Table};

use crate::cmd_read::open_table;
use crate::out::{Out, rel_uri};
use crate::{CmdResult, Failure};

/// Rows a text table shows when no --limit is given.
const TABLE_DEFAULT_ROWS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutFormat {
    /// A text table (for people).
    Table,
    /// CSV with a header row.
    Csv,
    /// Newline-delimited JSON: one object per row.
    Json,
    /// Apache Parquet (needs --output or a pipe).
    Parquet,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The table directory (or one metadata file).
    pub(crate) table: PathBuf,
    /// Columns to read, in this order (default: all).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    select: Vec<String>,
    /// Keep only rows where this predicate is true (floe::expr syntax), e.g.
    /// "id > 5 and name is not null", "day between '2026-01-01' and '2026-01-31'".
    #[arg(long = "where", value_name = "PREDICATE")]
    filter: Option<String>,
    /// Stop after this many rows.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Read this retained snapshot.
    #[arg(long, value_name = "ID", group = "when")]
    snapshot: Option<i64>,
    /// Read the current snapshot of version N (metadata/vN.metadata.json).
    #[arg(long, value_name = "N", group = "when")]
    version: Option<u64>,
    /// Read the snapshot current at this time: milliseconds since the epoch, or a date
    /// and time in UTC ('2026-01-02 10:00:00', RFC 3339 with an offset also works).
    #[arg(long, value_name = "TIMESTAMP", group = "when")]
    as_of: Option<String>,
    /// Output format (default: table on a terminal, CSV when piped, or what --output's
    /// extension says).
    #[arg(long, value_enum)]
    format: Option<OutFormat>,
    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Plan only: print which files would be read and what pruning skipped (no rows).
    #[arg(long, conflicts_with_all = ["output", "format", "limit"])]
    explain: bool,
}

/// Milliseconds since the epoch from a number or a UTC date-time string.
pub fn parse_as_of(text: &str) -> Result<i64, Failure> {
    if let Ok(ms) = text.trim().parse::<i64>() {
        return Ok(ms);
    }
    let strings = StringArray::from(vec![text.trim()]);
    let target = DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()));
    let opts = arrow_cast::CastOptions { safe: false, ..Default::default() };
    let parsed = arrow_cast::cast_with_options(&strings, &target, &opts).map_err(|_| {
        Failure::usage(format!(
            "--as-of {text:?}: expected milliseconds since the epoch or a UTC date-time like '2026-01-02 10:00:00'"
        ))
    })?;
    parsed
        .as_any()
        .downcast_ref::<arrow_array::TimestampMillisecondArray>()
        .filter(|a| a.is_valid(0))
        .map(|a| a.value(0))
        .ok_or_else(|| Failure::usage(format!("--as-of {text:?}: not a date-time")))
}

/// Arguments -> a scan. `--where` becomes `Scan::filter`, so manifests, files, row
/// groups and pages its statistics rule out are never read.
fn build_scan(table: &Table, a: &ScanArgs) -> Result<Scan, Failure> {
    let mut scan = table.scan();
    let selected: Vec<String> = a.select.iter().map(|c| c.trim().to_string()).collect();
    if !selected.is_empty() {
        scan = scan.select(selected);
    }
    if let Some(text) = &a.filter {
        let predicate = Predicate::parse(text).map_err(|e| Failure::bad_where(text, e))?;
        if a.snapshot.is_none() && a.version.is_none() && a.as_of.is_none() {
            // Name the bad column now; an older snapshot's schema is checked by planning.
            predicate.check(&table.schema()).map_err(|e| Failure::bad_where(text, e))?;
        }
        scan = scan.filter(predicate);
    }
    if let Some(id) = a.snapshot {
        scan = scan.snapshot_id(id);
    } else if let Some(v) = a.version {
        scan = scan.as_of_version(v);
    } else if let Some(t) = &a.as_of {
        scan = scan.as_of(crate::out::from_epoch_ms(parse_as_of(t)?));
    }
    Ok(scan)
}

/// A scan iterator that keeps its latest metrics where the caller can read them after
/// the rows are written (for `--verbose`).
struct Metered {
    iter: ScanIter,
    metrics: Rc<RefCell<ScanMetrics>>,
}

impl Iterator for Metered {
    type Item = floe::Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = self.iter.next();
        *self.metrics.borrow_mut() = self.iter.metrics();
        item
    }
}

/// One line on stderr: what the scan read and what pruning skipped.
fn report_metrics(m: &ScanMetrics) {
    eprintln!(
        "scan: manifests {} ({} skipped); files {} ({} skipped by partition, {} by column stats, {} by row groups), \
         {} read; row groups {} ({} skipped); rows {} read, {} skipped by page index, {} matched",
        m.manifests,
        m.manifests_skipped,
        m.files,
        m.files_skipped_by_partition,
        m.files_skipped_by_metrics,
        m.files_skipped_by_row_groups,
        m.files_read,
        m.row_groups,
        m.row_groups_skipped,
        m.rows_read,
        m.rows_skipped_by_page_index,
        m.rows_matched,
    );
}

fn format_for(o: &Out, a: &ScanArgs) -> Result<OutFormat, Failure> {
    choose_format(o, a.format, a.output.as_deref())
}

/// The output format: --json, else --format, else --output's extension, else a table on
/// a terminal and CSV when piped (`floe scan` and `floe sql` alike).
pub fn choose_format(o: &Out, format: Option<OutFormat>, output: Option<&Path>) -> Result<OutFormat, Failure> {
    if o.json {
        return Ok(OutFormat::Json);
    }
    if let Some(f) = format {
        return Ok(f);
    }
    if let Some(path) = output {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        return match ext.as_str() {
            "csv" => Ok(OutFormat::Csv),
            "json" | "ndjson" | "jsonl" => Ok(OutFormat::Json),
            "parquet" | "parq" | "pq" => Ok(OutFormat::Parquet),
            _ => Err(Failure::usage(format!(
                "--output {}: cannot tell the format from the name; add --format csv|json|parquet|table",
                path.display()
            ))),
        };
    }
    Ok(if o.stdout_tty { OutFormat::Table } else { OutFormat::Csv })
}

pub fn scan(o: &Out, a: &ScanArgs, verbose: bool) -> CmdResult {
    if a.explain {
        return explain(o, a);
    }
    let format = format_for(o, a)?;
    if format == OutFormat::Parquet && a.output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::usage("Parquet is binary: give --output FILE or pipe the output"));
    }
    let table = open_table(&a.table)?;
    let scan = build_scan(&table, a)?;
    let iter = scan.to_iter()?;
    // With a filter the number of matching rows is unknown until read.
    let total = if a.filter.is_some() { None } else { Some(iter.plan().record_count().max(0) as usize) };
    let schema = Arc::new(iter.plan().schema.to_arrow());
    let metrics = Rc::new(RefCell::new(iter.metrics()));
    let iter = Metered { iter, metrics: metrics.clone() };
    let limit = match (a.limit, format) {
        (Some(n), _) => Some(n),
        (None, OutFormat::Table) => Some(TABLE_DEFAULT_ROWS),
        (None, _) => None,
    };
    // Batches, cut at the limit.
    let mut left = limit.unwrap_or(usize::MAX);
    let batches = iter.map_while(move |b| {
        if left == 0 {
            return None;
        }
        Some(b.map(|b| {
            let n = b.num_rows().min(left);
            left -= n;
            b.slice(0, n)
        }))
    });

    let broken = Arc::new(AtomicBool::new(false));
    let (sink, partial): (Box<dyn Write + Send>, Option<&Path>) = match &a.output {
        Some(p) => (Box::new(std::io::BufWriter::new(File::create(p)?)), Some(p.as_path())),
        None => {
            let watched = PipeWatch { inner: std::io::stdout(), broken: broken.clone() };
            (Box::new(std::io::BufWriter::new(watched)), None)
        }
    };
    let result = write_rows(o, format, schema, batches, sink, total, limit);
    if verbose {
        report_metrics(&metrics.borrow());
    }
    if result.is_err() && broken.load(Ordering::Relaxed) {
        // `floe scan … | head`: the reader has what it wanted. The writers wrap the
        // I/O error in their own error types, hence the flag.
        return Ok(());
    }
    if result.is_err()
        && let Some(p) = partial
    {
        // No half-written output file.
        let _ = std::fs::remove_file(p);
    }
    result
}

/// `--explain`: the plan (snapshot, filter, files to read) and the planning metrics.
fn explain(o: &Out, a: &ScanArgs) -> CmdResult {
    let table = open_table(&a.table)?;
    let scan = build_scan(&table, a)?;
    let plan = scan.plan()?;
    let m = &plan.metrics;
    let snapshot = plan.snapshot.as_ref().map(|s| s.snapshot_id);
    let filter = a.filter.as_deref().map(Predicate::parse).transpose().ok().flatten().map(|p| p.to_string());
    if o.json {
        let files: Vec<serde_json::Value> = plan
            .files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "path": rel_uri(&table, &f.file_path),
                    "record_count": f.record_count,
                    "file_size_in_bytes": f.file_size_in_bytes,
                })
            })
            .collect();
        o.json(&serde_json::json!({
            "snapshot_id": snapshot,
            "filter": filter,
            "manifests": m.manifests,
            "manifests_skipped": m.manifests_skipped,
            "files": m.files,
            "files_skipped_by_partition": m.files_skipped_by_partition,
            "files_skipped_by_metrics": m.files_skipped_by_metrics,
            "files_planned": m.files_planned,
            "planned_record_count": plan.record_count(),
            "planned_files": files,
        }))?;
        return Ok(());
    }
    let mut text = match snapshot {
        Some(id) => format!("snapshot {id}"),
        None => "empty table (no snapshot)".to_string(),
    };
    if let Some(f) = &filter {
        text.push_str(&format!(", filter {f}"));
    }
    text.push_str(&format!(
        "\nmanifests {} ({} skipped); files {} ({} skipped by partition, {} by column stats); \
         {} to read with {} row(s) before row-group pruning and the exact filter\n",
        m.manifests,
        m.manifests_skipped,
        m.files,
        m.files_skipped_by_partition,
        m.files_skipped_by_metrics,
        m.files_planned,
        plan.record_count(),
    ));
    let rows: Vec<Vec<String>> = plan
        .files
        .iter()
        .map(|f| vec![rel_uri(&table, &f.file_path), f.record_count.to_string(), f.file_size_in_bytes.to_string()])
        .collect();
    if !rows.is_empty() {
        text.push_str(&o.table(&["path", "rows", "bytes"], rows, &[1, 2]));
    }
    o.print(&text)?;
    Ok(())
}

/// Writes rows to `output` (or stdout) in `format`; a closed pipe ends quietly and a
/// failed write leaves no partial output file (`floe sql`'s results).
pub fn emit_rows(
    o: &Out,
    format: OutFormat,
    schema: arrow_schema::SchemaRef,
    batches: Vec<RecordBatch>,
    output: Option<&Path>,
    limit: Option<usize>,
) -> CmdResult {
    if format == OutFormat::Parquet && output.is_none() && std::io::stdout().is_terminal() {
        return Err(Failure::usage("Parquet is binary: give --output FILE or pipe the output"));
    }
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut left = limit.unwrap_or(usize::MAX);
    let batches = batches.into_iter().map_while(move |b| {
        if left == 0 {
            return None;
        }
        let n = b.num_rows().min(left);
        left -= n;
        Some(Ok(b.slice(0, n)))
    });
    let broken = Arc::new(AtomicBool::new(false));
    let sink: Box<dyn Write + Send> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(File::create(p)?)),
        None => Box::new(std::io::BufWriter::new(PipeWatch { inner: std::io::stdout(), broken: broken.clone() })),
    };
    let result = write_rows(o, format, schema, batches, sink, Some(total), limit);
    if result.is_err() && broken.load(Ordering::Relaxed) {
        return Ok(());
    }
    if result.is_err()
        && let Some(p) = output
    {
        let _ = std::fs::remove_file(p);
    }
    result
}

/// Remembers whether stdout's reader went away (EPIPE).
struct PipeWatch<W> {
    inner: W,
    broken: Arc<AtomicBool>,
}

impl<W: Write> PipeWatch<W> {
    fn watch<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.broken.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<W: Write> Write for PipeWatch<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.watch(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.watch(r)
    }
}

fn write_rows(
    o: &Out,
    format: OutFormat,
    schema: arrow_schema::SchemaRef,
    batches: impl Iterator<Item = floe::Result<RecordBatch>>,
    mut sink: Box<dyn Write + Send>,
    total: Option<usize>,
    limit: Option<usize>,
) -> CmdResult {
    // Text formats render instants with the offset +00:00 (see `utc_as_offset`).
    let text_schema = if format == OutFormat::Parquet { schema.clone() } else { utc_as_offset_schema(&schema) };
    let batches = batches.map(move |b| if format == OutFormat::Parquet { b } else { b.and_then(utc_as_offset) });
    let schema = text_schema;
    match format {
        OutFormat::Csv => {
            let mut w = arrow_csv::WriterBuilder::new().with_header(true).build(&mut sink);
            let mut wrote = false;
            for b in batches {
                w.write(&b?).map_err(arrow_err)?;
                wrote = true;
            }
            if !wrote {
                // The header alone, so an empty result is still a valid CSV.
                w.write(&RecordBatch::new_empty(schema)).map_err(arrow_err)?;
            }
        }
        OutFormat::Json => {
            // Nulls written out: every row object has every selected column.
            let mut w = arrow_json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow_json::writer::LineDelimited>(&mut sink);
            for b in batches {
                w.write(&b?).map_err(arrow_err)?;
            }
            w.finish().map_err(arrow_err)?;
        }
        OutFormat::Parquet => {
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut sink, schema, None).map_err(parquet_err)?;
            for b in batches {
                w.write(&b?).map_err(parquet_err)?;
            }
            w.close().map_err(parquet_err)?;
        }
        OutFormat::Table => {
            let mut rows: Vec<Vec<String>> = Vec::new();
            let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let opts = FormatOptions::default().with_null("null");
            for b in batches {
                let b = b?;
                let formatters = b
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(arrow_err)?;
                for i in 0..b.num_rows() {
                    rows.push(formatters.iter().map(|f| f.value(i).to_string()).collect());
                }
            }
            let shown = rows.len();
            let right: Vec<usize> = schema
                .fields()
                .iter()
                .enumerate()
                .filter(|(_, f)| f.data_type().is_numeric())
                .map(|(i, _)| i)
                .collect();
            let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
            let mut text = o.table(&header_refs, rows, &right);
            let cut = limit.is_some_and(|l| shown == l);
            if cut && total.is_some_and(|t| t > shown) {
                let total = total.unwrap_or_default();
                text.push_str(&format!("({shown} of {total} rows; --limit N for more, --format csv for all)\n"));
            } else if cut && total.is_none() {
                text.push_str(&format!("(first {shown} matching rows; --limit N for more, --format csv for all)\n"));
            } else {
                text.push_str(&format!("({shown} row{})\n", if shown == 1 { "" } else { "s" }));
            }
            sink.write_all(text.as_bytes())?;
        }
    }
    sink.flush()?;
    Ok(())
}

/// Timestamps labelled with the zone name `UTC` relabelled as offset `+00:00`: the
/// same instants, but arrow's formatters resolve zone names only with the time-zone
/// database, which floe does not pull in.
fn utc_as_offset(batch: RecordBatch) -> floe::Result<RecordBatch> {
    let schema = utc_as_offset_schema(&batch.schema());
    if schema == batch.schema() {
        return Ok(batch);
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| if c.data_type() == f.data_type() { Ok(c.clone()) } else { arrow_cast::cast(c, f.data_type()) })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn utc_as_offset_schema(schema: &arrow_schema::SchemaRef) -> arrow_schema::SchemaRef {
    if !schema.fields().iter().any(|f| is_utc_name(f.data_type())) {
        return schema.clone();
    }
    let fields: Vec<arrow_schema::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(unit, Some(_)) if is_utc_name(f.data_type()) => {
                f.as_ref().clone().with_data_type(DataType::Timestamp(*unit, Some("+00:00".into())))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(arrow_schema::Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn is_utc_name(dt: &DataType) -> bool {
    matches!(dt, DataType::Timestamp(_, Some(tz)) if tz.eq_ignore_ascii_case("utc") || tz.as_ref() == "Etc/UTC")
}

fn arrow_err(e: arrow_schema::ArrowError) -> Failure {
    // Writing to a closed pipe surfaces as an Arrow I/O error: keep it an I/O error so
    // `floe scan … | head` ends quietly.
    match e {
        arrow_schema::ArrowError::IoError(_, io) => Failure::from(io),
        e => Failure::from(floe::Error::Arrow(e)),
    }
}

fn parquet_err(e: parquet::errors::ParquetError) -> Failure {
    Failure::usage(format!("writing Parquet: {e}"))
}
