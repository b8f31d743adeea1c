//! Reading input files into batches of a table's schema (feature `import`).
//!
//! Owns everything between "a file someone has" and "a batch [`floe::Transaction::append`]
//! accepts": Parquet, CSV with a header row, and newline-delimited JSON, streamed in
//! batches of bounded size (a file of any size is read in constant memory), from a file
//! or from standard input ([`FileReader::open_stdin`]: CSV and JSON are streamed as they
//! arrive, and nothing is ever rewound; Parquet, whose footer comes last, is first
//! copied to an anonymous temporary file). Promises:
//!
//! - **Every value is stored exactly as written, or the file is refused.** A value that
//!   does not fit its column exactly gives [`Error::InvalidInput`] naming the file, the
//!   row (CSV: 1-based, the first row after the header is row 1; NDJSON: the line) and
//!   the column (a dotted path for nested JSON values), and nothing is committed:
//!   a fraction into an `int`/`long` (`2.9`, `2.5e0`; `2.0` and `1e3` are whole),
//!   an integer outside the column's range, a decimal with more fraction digits than
//!   the column's scale or more integer digits than its precision leaves, a number a
//!   `float`/`double` cannot hold (it would become infinity, or zero), a date with a time
//!   of day, a time or timestamp finer than microseconds, a time outside a day. (A
//!   `float`/`double` takes the nearest representable value, as every reader does.)
//! - Text (every CSV field, and every JSON number, date, time, timestamp and uuid) goes
//!   through one exact parser (`parse_column`), whatever the format: numbers
//!   are read digit by digit (no detour through a binary float), temporal values by
//!   the library's grammar, the one predicates use (`floe::expr::date_from_text` and
//!   siblings: arrow-cast's parsers with the precision checks; ISO dates, RFC 3339
//!   timestamps read as elsewhere in Arrow, an offset converted to UTC). An integer
//!   for a date, time or timestamp is the Iceberg stored value (days since
//!   1970-01-01, microseconds since midnight, microseconds since 1970-01-01T00:00Z).
//!   CSV parsing (quoting, escapes) is arrow-csv's; an empty field is a null.
//! - NDJSON is decoded by arrow-json against the table schema, numbers and temporal
//!   values kept as their text (at any depth) for the parser above; a JSON number or
//!   boolean given for a `string` column is stored as its JSON text. Keys not in the
//!   table schema are refused rather than silently dropped.
//! - Parquet files (and batches given to [`floe::Transaction::append`]) are matched to
//!   the table by column name with the exact conversions of
//!   [`Schema::conform`] (widening only, or a value-by-value check); a value
//!   that fails that check is reported with its row.
//! - A null in a required column is reported with the first row that holds it.
//!
//! It also turns a schema written as text (`id:long!,name:string`) or taken from a
//! sample file into a [`Schema`] for [`floe::Table::create`].

use std::fs::File;
use std::io::{BufRead, BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::cast::AsArray;
use arrow_array::{
    Array, ArrayRef, Date32Array, Decimal128Array, FixedSizeBinaryArray, Float32Array, Float64Array, Int32Array,
    Int64Array, ListArray, MapArray, RecordBatch, RecordBatchOptions, StringArray, StructArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use arrow_buffer::OffsetBuffer;
use arrow_cast::CastOptions;
use arrow_schema::{DataType, Field, FieldRef, Fields, Schema as ArrowSchema, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use floe::expr::{Offsets, TemporalTextError};
use floe::spec::{NestedField, PrimitiveType, Schema, Type};
use floe::{Error, Result};

/// Rows per batch unless told otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 64 * 1024;

/// The input formats floe reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// Newline-delimited JSON: one object per line.
    Json,
}

impl FileFormat {
    /// The format for a file name: `.parquet`/`.parq`/`.pq`, `.csv`, `.json`/`.ndjson`/`.jsonl`.
    pub fn from_path(path: &Path) -> Result<FileFormat> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        match ext.as_str() {
            "parquet" | "parq" | "pq" => Ok(FileFormat::Parquet),
            "csv" => Ok(FileFormat::Csv),
            "json" | "ndjson" | "jsonl" => Ok(FileFormat::Json),
            _ => Err(invalid(
                path,
                None,
                None,
                "unknown file type (expected .parquet, .csv, or .json/.ndjson/.jsonl; or name the format)",
            )),
        }
    }

    /// Parses a format name (`parquet`, `csv`, `json`, `ndjson`, `jsonl`).
    pub fn from_name(name: &str) -> Option<FileFormat> {
        match name.to_ascii_lowercase().as_str() {
            "parquet" => Some(FileFormat::Parquet),
            "csv" => Some(FileFormat::Csv),
            "json" | "ndjson" | "jsonl" => Some(FileFormat::Json),
            _ => None,
        }
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
        }
    }
}

fn invalid(path: &Path, row: Option<u64>, column: Option<&str>, reason: impl Into<String>) -> Error {
    Error::InvalidInput { path: path.to_path_buf(), row, column: column.map(str::to_string), reason: reason.into() }
}

// ------------------------------------------------------------------------ schemas

/// Parses a schema written as `name:type[!],…`, e.g. `id:long!,name:string,ts:timestamptz`.
///
/// Types are Iceberg primitive type names (`boolean int long float double date time
/// timestamp timestamptz string uuid binary decimal(P,S) fixed[N]`); a trailing `!`
/// makes the column required. Field ids are assigned 1, 2, 3 … in order.
pub fn parse_schema(text: &str) -> Result<Schema> {
    let mut fields = Vec::new();
    for (i, item) in split_top_level(text).into_iter().enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let bad = |why: &str| {
            Error::InvalidArgument(format!("schema column {item:?}: {why} (expected NAME:TYPE or NAME:TYPE!)"))
        };
        let (name, ty) = item.split_once(':').ok_or_else(|| bad("no ':' between name and type"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(bad("empty column name"));
        }
        let ty = ty.trim();
        let (ty, required) = match ty.strip_suffix('!') {
            Some(t) => (t.trim(), true),
            None => (ty, false),
        };
        let ty: PrimitiveType = ty.to_ascii_lowercase().parse().map_err(|e: String| bad(&e))?;
        fields.push(NestedField {
            id: i as i32 + 1,
            name: name.to_string(),
            required,
            field_type: Type::Primitive(ty),
            doc: None,
        });
    }
    if fields.is_empty() {
        return Err(Error::InvalidArgument("the schema has no columns".into()));
    }
    // Ids must be dense even when empty items were skipped.
    for (i, f) in fields.iter_mut().enumerate() {
        f.id = i as i32 + 1;
    }
    Schema::new(fields)
}

/// Splits on commas outside parentheses and brackets (`decimal(10, 2)` and
/// `bucket(16, id)` stay whole): the list syntax of schema and partition texts.
pub fn split_top_level(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// The schema of a sample file, for creating a table like it. Parquet: its Arrow schema
/// (required where the file's columns are non-nullable). CSV (header row) and NDJSON:
/// types inferred from the first 1,000 records, every column optional. Columns with only
/// nulls become `string`.
pub fn schema_of_file(path: &Path, format: Option<FileFormat>) -> Result<Schema> {
    let format = match format {
        Some(f) => f,
        None => FileFormat::from_path(path)?,
    };
    let file = File::open(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let arrow = match format {
        FileFormat::Parquet => ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| invalid(path, None, None, format!("not a readable Parquet file: {e}")))?
            .schema()
            .as_ref()
            .clone(),
        FileFormat::Csv => {
            let (s, _) = arrow_csv::reader::Format::default()
                .with_header(true)
                .infer_schema(file, Some(1000))
                .map_err(|e| invalid(path, None, None, format!("cannot read CSV: {e}")))?;
            s
        }
        FileFormat::Json => {
            let mut reader = BufReader::new(file);
            let (s, _) = arrow_json::reader::infer_json_schema_from_seekable(&mut reader, Some(1000))
                .map_err(|e| invalid(path, None, None, format!("cannot read newline-delimited JSON: {e}")))?;
            s
        }
    };
    if arrow.fields().is_empty() {
        return Err(invalid(path, None, None, "the file has no columns"));
    }
    let fields: Vec<Field> = arrow
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Null => f.as_ref().clone().with_data_type(DataType::Utf8).with_nullable(true),
            _ => f.as_ref().clone(),
        })
        .collect();
    Schema::from_arrow(&ArrowSchema::new(fields)).map_err(|e| match e {
        Error::SchemaMismatch { field, reason } => invalid(path, None, Some(&field), reason),
        e => e,
    })
}

// ------------------------------------------------------------------------ reading

/// Counts bytes read from the inner reader (for progress bars).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The bytes of a CSV or JSON input: a file, or standard input.
type Stream = Box<dyn Read + Send>;

/// Keeps a copy of every byte read through it, so the bytes consumed while reading a
/// CSV header can be read again: standard input cannot be rewound.
struct Recording<R> {
    inner: R,
    seen: Vec<u8>,
}

impl<R: Read> Read for Recording<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

enum Source {
    Parquet { reader: ParquetRecordBatchReader, total_rows: u64 },
    Csv { reader: Box<arrow_csv::reader::Reader<Counting<Stream>>>, columns: Vec<(String, PrimitiveType)> },
    Json { lines: BufReader<Counting<Stream>>, builder_schema: SchemaRef, required: Vec<String>, line: u64 },
}

/// Streams one input file as batches in the table's Arrow schema.
///
/// ```no_run
/// # fn main() -> floe::Result<()> {
/// let table = floe::Table::open("./events")?;
/// let mut tx = table.new_transaction();
/// for batch in floe_cli::import::FileReader::open("new.csv".as_ref(), &table.schema(), None)? {
///     tx.append(&batch?)?;
/// }
/// tx.commit()?;
/// # Ok(()) }
/// ```
pub struct FileReader {
    path: PathBuf,
    format: FileFormat,
    schema: Schema,
    source: Source,
    /// The columns the input names itself (CSV header, Parquet schema).
    columns: Option<Vec<String>>,
    batch_rows: usize,
    rows: u64,
    bytes_total: u64,
    bytes_read: Arc<AtomicU64>,
    failed: bool,
}

impl std::fmt::Debug for FileReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("rows", &self.rows)
            .finish()
    }
}

/// The name standard input goes by in reports and errors.
pub const STDIN_NAME: &str = "<stdin>";

impl FileReader {
    /// Opens `path` for appending to a table with `schema`. The format comes from the
    /// file name unless given.
    pub fn open(path: &Path, schema: &Schema, format: Option<FileFormat>) -> Result<FileReader> {
        FileReader::open_with(path, schema, format, DEFAULT_BATCH_ROWS)
    }

    /// [`FileReader::open`] with a batch size in rows.
    pub fn open_with(
        path: &Path,
        schema: &Schema,
        format: Option<FileFormat>,
        batch_rows: usize,
    ) -> Result<FileReader> {
        let format = match format {
            Some(f) => f,
            None => FileFormat::from_path(path)?,
        };
        let file = File::open(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
        let bytes_total = file.metadata().map(|m| m.len()).unwrap_or(0);
        FileReader::from_file(path.to_path_buf(), file, bytes_total, schema, format, batch_rows)
    }

    /// Reads standard input, which names no format: `format` is required. CSV and
    /// newline-delimited JSON are streamed as they arrive; Parquet, whose footer comes
    /// last, is first copied to an anonymous temporary file (removed when the reader
    /// is dropped). Errors name the input [`STDIN_NAME`].
    pub fn open_stdin(schema: &Schema, format: FileFormat, batch_rows: usize) -> Result<FileReader> {
        let path = PathBuf::from(STDIN_NAME);
        let io = |e| Error::Io { path: path.clone(), source: e };
        match format {
            FileFormat::Parquet => {
                let mut file = tempfile::tempfile().map_err(io)?;
                let bytes_total = std::io::copy(&mut std::io::stdin().lock(), &mut file).map_err(io)?;
                file.rewind().map_err(io)?;
                FileReader::from_file(path.clone(), file, bytes_total, schema, format, batch_rows)
            }
            FileFormat::Csv | FileFormat::Json => {
                FileReader::from_stream(path.clone(), Box::new(std::io::stdin()), 0, schema, format, batch_rows)
            }
        }
    }

    fn from_file(
        path: PathBuf,
        file: File,
        bytes_total: u64,
        schema: &Schema,
        format: FileFormat,
        batch_rows: usize,
    ) -> Result<FileReader> {
        if format != FileFormat::Parquet {
            // A text row takes at least a byte (its line end; the last may have none), so
            // a regular file holds at most `bytes_total + 1` rows: a smaller batch holds
            // them all the same. The CSV decoder zeroes buffers for a whole batch up front
            // (2 MiB at 64 Ki rows of two columns), which was a fifth of a one-row `floe
            // append`. A pipe or a device reports no length: its batch stays as asked.
            let regular = file.metadata().is_ok_and(|m| m.is_file());
            let most = usize::try_from(bytes_total.saturating_add(1)).unwrap_or(usize::MAX);
            let batch_rows = if regular { batch_rows.min(most) } else { batch_rows };
            return FileReader::from_stream(path, Box::new(file), bytes_total, schema, format, batch_rows);
        }
        let batch_rows = batch_rows.max(1);
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| invalid(&path, None, None, format!("not a readable Parquet file: {e}")))?;
        let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
        let columns = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
        let reader = builder
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| invalid(&path, None, None, format!("not a readable Parquet file: {e}")))?;
        let source = Source::Parquet { reader, total_rows };
        Ok(FileReader::new(path, format, schema, source, Some(columns), batch_rows, bytes_total, Arc::default()))
    }

    fn from_stream(
        path: PathBuf,
        stream: Stream,
        bytes_total: u64,
        schema: &Schema,
        format: FileFormat,
        batch_rows: usize,
    ) -> Result<FileReader> {
        let batch_rows = batch_rows.max(1);
        let bytes_read = Arc::new(AtomicU64::new(0));
        let (source, columns) = match format {
            FileFormat::Csv => {
                let source = open_csv(&path, stream, schema, batch_rows, &bytes_read)?;
                let columns = match &source {
                    Source::Csv { columns, .. } => Some(columns.iter().map(|(n, _)| n.clone()).collect()),
                    _ => None,
                };
                (source, columns)
            }
            FileFormat::Json => {
                let builder_schema = json_schema(&path, schema)?;
                let lines = BufReader::new(Counting { inner: stream, count: bytes_read.clone() });
                let required = schema.fields().iter().filter(|f| f.required).map(|f| f.name.clone()).collect();
                (Source::Json { lines, builder_schema, required, line: 0 }, None)
            }
            FileFormat::Parquet => {
                return Err(invalid(&path, None, None, "Parquet cannot be read as a stream (internal)"));
            }
        };
        Ok(FileReader::new(path, format, schema, source, columns, batch_rows, bytes_total, bytes_read))
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        path: PathBuf,
        format: FileFormat,
        schema: &Schema,
        source: Source,
        columns: Option<Vec<String>>,
        batch_rows: usize,
        bytes_total: u64,
        bytes_read: Arc<AtomicU64>,
    ) -> FileReader {
        FileReader {
            path,
            format,
            schema: schema.clone(),
            source,
            columns,
            batch_rows,
            rows: 0,
            bytes_total,
            bytes_read,
            failed: false,
        }
    }

    /// The input's name: its path, or [`STDIN_NAME`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The columns the input names itself, in its order: a CSV file's header, a
    /// Parquet file's schema. `None` for newline-delimited JSON, where each line names
    /// its own (a column a line leaves out is null there).
    pub fn columns(&self) -> Option<&[String]> {
        self.columns.as_deref()
    }

    /// The file's format.
    pub fn format(&self) -> FileFormat {
        self.format
    }

    /// The file's size in bytes.
    pub fn bytes_total(&self) -> u64 {
        self.bytes_total
    }

    /// Bytes consumed so far (estimated from rows for Parquet).
    pub fn bytes_read(&self) -> u64 {
        match &self.source {
            Source::Parquet { total_rows, .. } if *total_rows > 0 => {
                (self.bytes_total as f64 * (self.rows as f64 / *total_rows as f64)) as u64
            }
            _ => self.bytes_read.load(Ordering::Relaxed).min(self.bytes_total),
        }
    }

    /// Rows returned so far.
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let first_row = self.rows;
        let path = self.path.clone();
        let raw = match &mut self.source {
            Source::Parquet { reader, .. } => match reader.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(invalid(&path, None, None, format!("reading Parquet: {e}"))),
                Some(Ok(b)) => b,
            },
            Source::Csv { reader, columns } => match reader.next() {
                None => return Ok(None),
                Some(Err(e)) => return Err(invalid(&path, None, None, format!("reading CSV: {e}"))),
                Some(Ok(b)) => typed_csv_batch(&path, &b, columns, first_row)?,
            },
            Source::Json { lines, builder_schema, required, line } => {
                match read_json_batch(&path, lines, builder_schema, &self.schema, required, line, self.batch_rows)? {
                    None => return Ok(None),
                    Some(b) => b,
                }
            }
        };
        let batch = self.conform(&raw, first_row)?;
        self.rows += batch.num_rows() as u64;
        Ok(Some(batch))
    }

    /// Conforms a batch to the table schema, naming the file, column and (for nulls)
    /// the first offending row in errors.
    fn conform(&self, batch: &RecordBatch, first_row: u64) -> Result<RecordBatch> {
        // Rows are numbered per record (for JSON, top-level required nulls were already
        // reported by line number in read_json_batch).
        self.schema.conform(batch).map_err(|e| match e {
            Error::SchemaMismatch { field, reason } => {
                let row = first_bad_row(&self.schema, batch).map(|k| first_row + k);
                invalid(&self.path, row, Some(&field), reason)
            }
            Error::NullInRequiredField { field, null_count } => {
                let row = batch
                    .schema()
                    .index_of(&field)
                    .ok()
                    .and_then(|i| first_null(batch.column(i).as_ref()))
                    .map(|i| first_row + i as u64 + 1);
                let reason = format!("null in required column ({null_count} null(s) in this batch)");
                invalid(
                    &self.path,
                    row,
                    Some(&field),
                    if row.is_none() { reason } else { "null in required column".into() },
                )
            }
            e => e,
        })
    }
}

impl Iterator for FileReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            match self.next_batch() {
                Ok(Some(b)) if b.num_rows() == 0 => continue,
                Ok(Some(b)) => return Some(Ok(b)),
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

fn first_null(array: &dyn Array) -> Option<usize> {
    (0..array.len()).find(|&i| array.is_null(i))
}

/// For a batch [`Schema::conform`] refused: the 1-based row whose value failed a
/// value-by-value check (a nanosecond timestamp that is not a whole microsecond), found
/// by bisecting prefixes; `None` when the column's type itself is refused (an empty
/// batch of that type fails too).
fn first_bad_row(schema: &Schema, batch: &RecordBatch) -> Option<u64> {
    let fails = |rows: usize| schema.conform(&batch.slice(0, rows)).is_err();
    if fails(0) || !fails(batch.num_rows()) {
        return None;
    }
    // Invariant: the first `ok` rows conform, the first `bad` rows do not.
    let (mut ok, mut bad) = (0, batch.num_rows());
    while bad - ok > 1 {
        let mid = ok + (bad - ok) / 2;
        if fails(mid) { bad = mid } else { ok = mid }
    }
    Some(bad as u64)
}

// ------------------------------------------------------------------------ CSV

fn open_csv(path: &Path, stream: Stream, schema: &Schema, batch_rows: usize, count: &Arc<AtomicU64>) -> Result<Source> {
    // The header alone, to know which table columns the file has and in what order.
    // The bytes read for it are read again by the record reader (nothing is rewound,
    // so standard input works the same as a file).
    let format = arrow_csv::reader::Format::default().with_header(true);
    let mut recording = Recording { inner: stream, seen: Vec::new() };
    let (header, _) = format
        .infer_schema(&mut recording, Some(0))
        .map_err(|e| invalid(path, None, None, format!("cannot read the CSV header: {e}")))?;
    let Recording { inner, seen } = recording;
    let file: Stream = Box::new(Cursor::new(seen).chain(inner));
    if header.fields().is_empty() || header.fields().iter().all(|f| f.name().is_empty()) {
        return Err(invalid(path, None, None, "empty CSV file: expected a header row naming the columns"));
    }
    let mut columns = Vec::with_capacity(header.fields().len());
    for f in header.fields() {
        let name = f.name();
        if columns.iter().any(|(n, _): &(String, PrimitiveType)| n == name) {
            return Err(invalid(path, None, Some(name), "the header names this column twice"));
        }
        let field = schema.field_by_name(name).ok_or_else(|| {
            let known: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
            invalid(path, None, Some(name), format!("not a column of the table (columns: {})", known.join(", ")))
        })?;
        let Type::Primitive(p) = &field.field_type else {
            return Err(invalid(
                path,
                None,
                Some(name),
                "nested (struct/list/map) columns cannot be read from CSV; use JSON or Parquet",
            ));
        };
        if matches!(p, PrimitiveType::Binary | PrimitiveType::Fixed(_)) {
            return Err(invalid(path, None, Some(name), format!("{p} columns cannot be read from CSV; use Parquet")));
        }
        columns.push((name.clone(), p.clone()));
    }
    // Every column as text: arrow-csv splits records, arrow-cast converts each column
    // to the table's type so a failure can be pinned to one row and column.
    let text_schema = Arc::new(ArrowSchema::new(
        columns.iter().map(|(n, _)| Field::new(n, DataType::Utf8, true)).collect::<Vec<_>>(),
    ));
    let reader = arrow_csv::ReaderBuilder::new(text_schema)
        .with_header(true)
        .with_batch_size(batch_rows)
        .build(Counting { inner: file, count: count.clone() })
        .map_err(|e| invalid(path, None, None, format!("cannot read CSV: {e}")))?;
    Ok(Source::Csv { reader: Box::new(reader), columns })
}

/// Converts an all-text CSV batch to the table's types.
fn typed_csv_batch(
    path: &Path,
    batch: &RecordBatch,
    columns: &[(String, PrimitiveType)],
    first_row: u64,
) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays = Vec::with_capacity(columns.len());
    for ((name, ty), text) in columns.iter().zip(batch.columns()) {
        let strings = text
            .as_string_opt::<i32>()
            .ok_or_else(|| invalid(path, None, Some(name), format!("expected text, found {}", text.data_type())))?;
        let array = parse_column(strings, ty)
            .map_err(|b| invalid(path, Some(first_row + b.index as u64 + 1), Some(name), b.reason))?;
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)?)
}

// ------------------------------------------------------------------------ exact values from text

/// A text value that does not fit its column: where it is in the column, and why.
struct BadValue {
    index: usize,
    reason: String,
}

/// Reads a text column as the Iceberg primitive `ty`, exactly (the rules are in the
/// module doc): every value becomes the value its text says, or the column is refused at
/// the first value that does not fit. Nulls stay null; text is trimmed of surrounding
/// whitespace except for `string` columns. The one place CSV fields and JSON values
/// become typed values.
fn parse_column(strings: &StringArray, ty: &PrimitiveType) -> std::result::Result<ArrayRef, BadValue> {
    use PrimitiveType as P;
    Ok(match ty {
        P::String => Arc::new(strings.clone()),
        P::Boolean => {
            // arrow-cast's spellings (true/false, t/f, yes/no, 1/0, …); safe = true turns a
            // value it cannot read into a null, reported here.
            let opts = CastOptions { safe: true, ..CastOptions::default() };
            let out = arrow_cast::cast_with_options(strings, &DataType::Boolean, &opts)
                .map_err(|e| BadValue { index: 0, reason: e.to_string() })?;
            if let Some(i) = (0..strings.len()).find(|&i| strings.is_valid(i) && out.is_null(i)) {
                return Err(BadValue { index: i, reason: cannot(strings.value(i), ty, None) });
            }
            out
        }
        P::Int => Arc::new(Int32Array::from(each(strings, |t| {
            whole(t, ty, i128::from(i32::MIN), i128::from(i32::MAX)).map(|v| v as i32) // ok: range-checked
        })?)),
        P::Long => Arc::new(Int64Array::from(each(strings, |t| {
            whole(t, ty, i128::from(i64::MIN), i128::from(i64::MAX)).map(|v| v as i64) // ok: range-checked
        })?)),
        P::Float => Arc::new(Float32Array::from(each(strings, |t| {
            let v: f32 = t.parse().map_err(|_| cannot(t, ty, None))?;
            check_float(t, ty, v.is_infinite(), v == 0.0).map(|()| v)
        })?)),
        P::Double => Arc::new(Float64Array::from(each(strings, |t| {
            let v: f64 = t.parse().map_err(|_| cannot(t, ty, None))?;
            check_float(t, ty, v.is_infinite(), v == 0.0).map(|()| v)
        })?)),
        P::Decimal { precision, scale } => {
            let values = each(strings, |t| decimal(t, ty, *precision, *scale))?;
            let array = Decimal128Array::from(values)
                .with_precision_and_scale(*precision as u8, *scale as i8)
                .map_err(|e| BadValue { index: 0, reason: e.to_string() })?;
            Arc::new(array)
        }
        P::Date => Arc::new(Date32Array::from(each(strings, |t| date(t, ty))?)),
        P::Time => Arc::new(Time64MicrosecondArray::from(each(strings, |t| time(t, ty))?)),
        P::Timestamp | P::Timestamptz => timestamps(strings, ty)?,
        P::Uuid => {
            let values =
                each(strings, |t| uuid::Uuid::parse_str(t).map(|u| *u.as_bytes()).map_err(|_| cannot(t, ty, None)))?;
            let array = FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), 16)
                .map_err(|e| BadValue { index: 0, reason: e.to_string() })?;
            Arc::new(array)
        }
        // Refused when the file is opened (text has no exact byte form for them).
        P::Binary | P::Fixed(_) => {
            return Err(BadValue { index: 0, reason: format!("{ty} columns cannot be read from text; use Parquet") });
        }
    })
}

/// `f` applied to every non-null (trimmed) value; the first error stops it.
fn each<T>(
    strings: &StringArray,
    f: impl Fn(&str) -> std::result::Result<T, String>,
) -> std::result::Result<Vec<Option<T>>, BadValue> {
    let mut out = Vec::with_capacity(strings.len());
    for i in 0..strings.len() {
        if strings.is_null(i) {
            out.push(None);
        } else {
            out.push(Some(f(strings.value(i).trim()).map_err(|reason| BadValue { index: i, reason })?));
        }
    }
    Ok(out)
}

fn cannot(text: &str, ty: &PrimitiveType, why: Option<&str>) -> String {
    match why {
        Some(why) => format!("cannot read {text:?} as {ty}: {why}"),
        None => format!("cannot read {text:?} as {ty}"),
    }
}

/// A decimal number read exactly from text (`[+-]digits[.digits][(e|E)[+-]digits]`):
/// `±digits × 10^exponent`, with no leading or trailing zeros in `digits` (none at all
/// for zero).
struct ExactNumber {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

/// Why an [`ExactNumber`] is not an integer of at most 38 digits.
enum Inexact {
    Fraction,
    TooBig,
}

impl ExactNumber {
    fn parse(text: &str) -> Option<ExactNumber> {
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let mut exponent: i64 = match exp {
            None => 0,
            Some(e) => {
                let (sign, digits) = match e.as_bytes().first() {
                    Some(b'-') => (-1, &e[1..]),
                    Some(b'+') => (1, &e[1..]),
                    _ => (1, e),
                };
                if digits.is_empty() || !all_digits(digits) {
                    return None;
                }
                // Past 10^15 the number is out of every range anyway; no overflow.
                let magnitude: i64 = if digits.len() > 15 { 10i64.pow(15) } else { digits.parse().ok()? };
                sign * magnitude
            }
        };
        exponent = exponent.checked_sub(i64::try_from(frac.len()).ok()?)?;
        let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).skip_while(|&b| b == b'0').collect();
        while digits.last() == Some(&b'0') {
            digits.pop();
            exponent += 1;
        }
        Some(ExactNumber { negative: negative && !digits.is_empty(), digits, exponent })
    }

    /// The value times 10^`scale`, when that is an integer of at most 38 digits.
    fn scaled(&self, scale: i64) -> std::result::Result<i128, Inexact> {
        if self.digits.is_empty() {
            return Ok(0);
        }
        let exp = self.exponent.saturating_add(scale);
        // No trailing zeros: a negative exponent leaves a non-zero fraction.
        if exp < 0 {
            return Err(Inexact::Fraction);
        }
        if self.digits.len() as i64 + exp > 38 {
            return Err(Inexact::TooBig);
        }
        // At most 38 digits: below i128::MAX (about 1.7 × 10^38).
        let mut v: i128 = 0;
        for d in &self.digits {
            v = v * 10 + i128::from(d - b'0');
        }
        for _ in 0..exp {
            v *= 10;
        }
        Ok(if self.negative { -v } else { v })
    }
}

/// An integer in `min..=max`, written with or without a fraction or exponent (`2.0`,
/// `1e3`) as long as the value is whole.
fn whole(text: &str, ty: &PrimitiveType, min: i128, max: i128) -> std::result::Result<i128, String> {
    let n = ExactNumber::parse(text).ok_or_else(|| cannot(text, ty, None))?;
    match n.scaled(0) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        Ok(_) | Err(Inexact::TooBig) => Err(cannot(text, ty, Some("out of range"))),
        Err(Inexact::Fraction) => Err(cannot(text, ty, Some("not a whole number"))),
    }
}

/// The unscaled value of `decimal(precision, scale)`: no rounding, no overflow.
fn decimal(text: &str, ty: &PrimitiveType, precision: u32, scale: u32) -> std::result::Result<i128, String> {
    let n = ExactNumber::parse(text).ok_or_else(|| cannot(text, ty, None))?;
    let too_big = || {
        cannot(
            text,
            ty,
            Some(&format!("more than {} digit(s) before the decimal point", precision.saturating_sub(scale))),
        )
    };
    match n.scaled(i64::from(scale)) {
        Ok(v) if v.unsigned_abs() < 10u128.pow(precision.min(38)) => Ok(v),
        Ok(_) | Err(Inexact::TooBig) => Err(too_big()),
        Err(Inexact::Fraction) => {
            Err(cannot(text, ty, Some(&format!("more than {scale} digit(s) after the decimal point"))))
        }
    }
}

/// A float or double parsed from `text` (the nearest value) is refused when a finite
/// number became infinite or a non-zero one became zero.
fn check_float(text: &str, ty: &PrimitiveType, infinite: bool, zero: bool) -> std::result::Result<(), String> {
    let unsigned = text.trim_start_matches(['+', '-']);
    let infinity_literal = unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
    let nonzero = ExactNumber::parse(text).is_some_and(|n| !n.digits.is_empty());
    if (infinite && !infinity_literal) || (zero && nonzero) {
        return Err(cannot(text, ty, Some("out of range")));
    }
    Ok(())
}

/// An optional sign and digits only: the Iceberg stored value of a temporal column.
fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Why a temporal text was refused, in this module's words.
fn temporal(text: &str, ty: &PrimitiveType, e: TemporalTextError) -> String {
    match e {
        TemporalTextError::Syntax => cannot(text, ty, None),
        other => cannot(text, ty, Some(&other.to_string())),
    }
}

fn date(text: &str, ty: &PrimitiveType) -> std::result::Result<i32, String> {
    if is_integer_literal(text) {
        // ok: range-checked
        return whole(text, ty, i128::from(i32::MIN), i128::from(i32::MAX)).map(|v| v as i32);
    }
    floe::expr::date_from_text(text).map_err(|e| temporal(text, ty, e))
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn time(text: &str, ty: &PrimitiveType) -> std::result::Result<i64, String> {
    if is_integer_literal(text) {
        // ok: range-checked
        let micros = whole(text, ty, i128::from(i64::MIN), i128::from(i64::MAX)).map(|v| v as i64)?;
        if !(0..MICROS_PER_DAY).contains(&micros) {
            return Err(cannot(text, ty, Some("not a time of day")));
        }
        return Ok(micros);
    }
    floe::expr::time_from_text(text).map_err(|e| temporal(text, ty, e))
}

/// Timestamps: an integer is microseconds since the epoch; other text is read by the
/// library's timestamp grammar, an offset applied (for a `timestamp` column too, the
/// value is then the UTC time, as Arrow's casts do).
fn timestamps(strings: &StringArray, ty: &PrimitiveType) -> std::result::Result<ArrayRef, BadValue> {
    let micros = each(strings, |t| {
        if is_integer_literal(t) {
            // ok: range-checked
            return whole(t, ty, i128::from(i64::MIN), i128::from(i64::MAX)).map(|v| v as i64);
        }
        floe::expr::timestamp_from_text(t, Offsets::ToUtc).map_err(|e| temporal(t, ty, e))
    })?;
    let DataType::Timestamp(_, tz) = ty.to_arrow() else {
        return Err(BadValue { index: 0, reason: format!("{ty} is not a timestamp type") });
    };
    Ok(Arc::new(TimestampMicrosecondArray::from(micros).with_timezone_opt(tz)))
}

// ------------------------------------------------------------------------ JSON

/// The schema arrow-json decodes with: the table's, top-level columns nullable (a
/// missing key is a null, reported with its line by the required-column check), and
/// every leaf `parse_column` reads from text decoded as that text (see `stand_in`).
fn json_schema(path: &Path, schema: &Schema) -> Result<SchemaRef> {
    let arrow = schema.to_arrow();
    let mut fields = Vec::with_capacity(arrow.fields().len());
    for (f, nf) in arrow.fields().iter().zip(schema.fields()) {
        if let Type::Primitive(p @ (PrimitiveType::Binary | PrimitiveType::Fixed(_))) = &nf.field_type {
            return Err(invalid(
                path,
                None,
                Some(&nf.name),
                format!("{p} columns cannot be read from JSON; use Parquet"),
            ));
        }
        let ty = stand_in(f.data_type(), &nf.field_type);
        fields.push(f.as_ref().clone().with_data_type(ty).with_nullable(true));
    }
    Ok(Arc::new(ArrowSchema::new(fields)))
}

/// Whether JSON values of a primitive column are read as text by `parse_column` (all
/// but booleans, strings and bytes, which arrow-json decodes exactly itself).
fn reads_as_text(p: &PrimitiveType) -> bool {
    !matches!(p, PrimitiveType::Boolean | PrimitiveType::String | PrimitiveType::Binary | PrimitiveType::Fixed(_))
}

/// The Arrow type arrow-json decodes a value of Iceberg type `ty` (Arrow type `dt`) as:
/// the same, except that leaves `reads_as_text` are `Utf8` at any depth. With
/// `coerce_primitive`, arrow-json hands a JSON number over as the text it was written
/// as, so no value passes through arrow-json's own conversions (which truncate `2.9`
/// into a long and drop digits past a decimal's scale or a timestamp's microseconds).
fn stand_in(dt: &DataType, ty: &Type) -> DataType {
    let with = |f: &FieldRef, ty: &Type| Arc::new(f.as_ref().clone().with_data_type(stand_in(f.data_type(), ty)));
    match (ty, dt) {
        (Type::Primitive(p), _) if reads_as_text(p) => DataType::Utf8,
        (Type::Struct(st), DataType::Struct(fields)) if fields.len() == st.fields.len() => {
            DataType::Struct(fields.iter().zip(&st.fields).map(|(f, nf)| with(f, &nf.field_type)).collect())
        }
        (Type::List(l), DataType::List(element)) => DataType::List(with(element, &l.element)),
        (Type::Map(m), DataType::Map(entries, sorted)) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                let kv: Fields = vec![with(&kv[0], &m.key), with(&kv[1], &m.value)].into();
                DataType::Map(Arc::new(entries.as_ref().clone().with_data_type(DataType::Struct(kv))), *sorted)
            }
            _ => dt.clone(),
        },
        _ => dt.clone(),
    }
}

fn json_decoder(schema: &SchemaRef, batch_rows: usize) -> Result<arrow_json::reader::Decoder> {
    Ok(arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(batch_rows)
        .with_strict_mode(true)
        .with_coerce_primitive(true)
        .build_decoder()?)
}

/// Reads up to `batch_rows` non-blank lines and decodes them. On a decoding error, the
/// lines are decoded one by one to name the first bad line.
fn read_json_batch(
    path: &Path,
    lines: &mut BufReader<Counting<Stream>>,
    schema: &SchemaRef,
    table: &Schema,
    required: &[String],
    line: &mut u64,
    batch_rows: usize,
) -> Result<Option<RecordBatch>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut starts: Vec<(u64, usize)> = Vec::new(); // (line number, offset in buf)
    let mut text = Vec::new();
    while starts.len() < batch_rows {
        text.clear();
        let n = lines.read_until(b'\n', &mut text).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
        if n == 0 {
            break;
        }
        *line += 1;
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        starts.push((*line, buf.len()));
        buf.extend_from_slice(&text);
        if buf.last() != Some(&b'\n') {
            buf.push(b'\n');
        }
    }
    if starts.is_empty() {
        return Ok(None);
    }
    let decoded = decode_json(schema, &buf, starts.len());
    let batch = match decoded {
        Ok(b) => b,
        Err(_) => {
            // Find the first line that fails on its own.
            for (k, (line_no, off)) in starts.iter().enumerate() {
                let end = starts.get(k + 1).map_or(buf.len(), |(_, o)| *o);
                if let Err(e) = decode_json(schema, &buf[*off..end], 1) {
                    return Err(invalid(path, Some(*line_no), None, json_reason(&e)));
                }
            }
            // Each line decodes alone but not together: report the batch.
            let e = decode_json(schema, &buf, starts.len()).err().map(|e| json_reason(&e)).unwrap_or_default();
            return Err(invalid(path, Some(starts[0].0), None, e));
        }
    };
    let batch = convert_json(path, batch, table, &starts)?;
    // Nulls (or missing keys) in required columns, named by line number.
    for name in required {
        if let Ok(i) = batch.schema().index_of(name)
            && let Some(r) = first_null(batch.column(i).as_ref())
        {
            let line = starts.get(r).map(|(l, _)| *l);
            return Err(invalid(path, line, Some(name), "null or missing value in required column"));
        }
    }
    Ok(Some(batch))
}

fn decode_json(schema: &SchemaRef, bytes: &[u8], rows: usize) -> Result<RecordBatch> {
    let mut decoder = json_decoder(schema, rows.max(1))?;
    let mut off = 0;
    while off < bytes.len() {
        let n = decoder.decode(&bytes[off..])?;
        if n == 0 {
            break;
        }
        off += n;
    }
    let batch = decoder.flush()?;
    Ok(batch.unwrap_or_else(|| RecordBatch::new_empty(schema.clone())))
}

fn json_reason(e: &Error) -> String {
    match e {
        Error::Arrow(a) => a.to_string(),
        e => e.to_string(),
    }
}

/// Why a decoded JSON column could not be converted: a value that does not fit (its
/// index in the array being converted, the column path, the reason), or anything else.
enum Unfit {
    Value { index: usize, column: String, reason: String },
    Other(Error),
}

impl From<arrow_schema::ArrowError> for Unfit {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Unfit::Other(e.into())
    }
}

impl Unfit {
    /// The same error with the index of a list or map value turned into the index of
    /// the row (list, map) holding it.
    fn in_row_of(self, offsets: &OffsetBuffer<i32>) -> Unfit {
        match self {
            Unfit::Value { index, column, reason } => {
                let row = offsets.partition_point(|&o| usize::try_from(o).is_ok_and(|o| o <= index));
                Unfit::Value { index: row.saturating_sub(1), column, reason }
            }
            other => other,
        }
    }
}

/// Converts the text stand-ins of a decoded JSON batch to the table's types; a value
/// that does not fit names its line and column path.
fn convert_json(path: &Path, batch: RecordBatch, table: &Schema, starts: &[(u64, usize)]) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for ((f, column), nf) in schema.fields().iter().zip(batch.columns()).zip(table.fields()) {
        let converted = convert_text(column, &nf.field_type, &nf.name).map_err(|e| match e {
            Unfit::Value { index, column, reason } => {
                invalid(path, starts.get(index).map(|(l, _)| *l), Some(&column), reason)
            }
            Unfit::Other(e) => e,
        })?;
        fields.push(f.as_ref().clone().with_data_type(converted.data_type().clone()));
        columns.push(converted);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(Arc::new(ArrowSchema::new(fields)), columns, &options)?)
}

/// `array` (decoded with `stand_in`'s type for `ty`) with its text leaves parsed by
/// `parse_column`. Recurses once per level of the table's nesting.
fn convert_text(array: &ArrayRef, ty: &Type, column: &str) -> std::result::Result<ArrayRef, Unfit> {
    let shape = || Unfit::Other(invalid_shape(column, array.data_type()));
    match ty {
        Type::Primitive(p) if reads_as_text(p) => {
            let strings = array.as_string_opt::<i32>().ok_or_else(shape)?;
            parse_column(strings, p).map_err(|b| Unfit::Value {
                index: b.index,
                column: column.to_string(),
                reason: b.reason,
            })
        }
        Type::Primitive(_) => Ok(array.clone()),
        Type::Struct(st) => {
            let s = array.as_struct_opt().ok_or_else(shape)?;
            let mut fields = Vec::with_capacity(st.fields.len());
            let mut children = Vec::with_capacity(st.fields.len());
            for ((f, child), nf) in s.fields().iter().zip(s.columns()).zip(&st.fields) {
                let c = convert_text(child, &nf.field_type, &format!("{column}.{}", nf.name))?;
                fields.push(Arc::new(f.as_ref().clone().with_data_type(c.data_type().clone())));
                children.push(c);
            }
            Ok(Arc::new(StructArray::try_new_with_length(fields.into(), children, s.nulls().cloned(), s.len())?))
        }
        Type::List(l) => {
            let list = array.as_list_opt::<i32>().ok_or_else(shape)?;
            let DataType::List(element) = list.data_type() else { return Err(shape()) };
            let values = convert_text(list.values(), &l.element, &format!("{column}.element"))
                .map_err(|e| e.in_row_of(list.offsets()))?;
            let element = Arc::new(element.as_ref().clone().with_data_type(values.data_type().clone()));
            Ok(Arc::new(ListArray::try_new(element, list.offsets().clone(), values, list.nulls().cloned())?))
        }
        Type::Map(m) => {
            let map = array.as_map_opt().ok_or_else(shape)?;
            let DataType::Map(entries_field, sorted) = map.data_type() else { return Err(shape()) };
            let DataType::Struct(kv) = entries_field.data_type() else { return Err(shape()) };
            let entries = map.entries();
            if kv.len() != 2 || entries.num_columns() != 2 {
                return Err(shape());
            }
            let keys = convert_text(entries.column(0), &m.key, &format!("{column}.key"))
                .map_err(|e| e.in_row_of(map.offsets()))?;
            let values = convert_text(entries.column(1), &m.value, &format!("{column}.value"))
                .map_err(|e| e.in_row_of(map.offsets()))?;
            let kv: Fields = vec![
                Arc::new(kv[0].as_ref().clone().with_data_type(keys.data_type().clone())),
                Arc::new(kv[1].as_ref().clone().with_data_type(values.data_type().clone())),
            ]
            .into();
            let entries = StructArray::try_new(kv.clone(), vec![keys, values], entries.nulls().cloned())?;
            let entries_field = Arc::new(entries_field.as_ref().clone().with_data_type(DataType::Struct(kv)));
            Ok(Arc::new(MapArray::try_new(
                entries_field,
                map.offsets().clone(),
                entries,
                map.nulls().cloned(),
                *sorted,
            )?))
        }
    }
}

/// arrow-json returned something other than the stand-in type asked for (a bug).
fn invalid_shape(column: &str, got: &DataType) -> Error {
    Error::SchemaMismatch { field: column.to_string(), reason: format!("the JSON decoder returned {got}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::types::{Date32Type, TimestampMicrosecondType};

    #[test]
    fn schema_text() {
        let s = parse_schema(" id:long! , name:string,price:decimal(10, 2),raw:fixed[4], ts:TIMESTAMPTZ").unwrap();
        let f = s.fields();
        assert_eq!(f.len(), 5);
        assert_eq!((f[0].id, f[0].name.as_str(), f[0].required), (1, "id", true));
        assert_eq!(f[0].field_type, Type::Primitive(PrimitiveType::Long));
        assert!(!f[1].required);
        assert_eq!(f[2].field_type, Type::Primitive(PrimitiveType::Decimal { precision: 10, scale: 2 }));
        assert_eq!(f[3].field_type, Type::Primitive(PrimitiveType::Fixed(4)));
        assert_eq!(f[4].field_type, Type::Primitive(PrimitiveType::Timestamptz));
        // A trailing comma is tolerated; ids stay dense.
        let s = parse_schema("a:int,,b:int,").unwrap();
        assert_eq!(s.fields().iter().map(|f| f.id).collect::<Vec<_>>(), [1, 2]);
        for bad in ["", "a", "a:", ":int", "a:integer", "a:decimal(50,2)", "a:int,a:long", "a:int!!"] {
            assert!(parse_schema(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn format_from_name_and_path() {
        assert_eq!(FileFormat::from_path(Path::new("x.PARQUET")).unwrap(), FileFormat::Parquet);
        assert_eq!(FileFormat::from_path(Path::new("x.jsonl")).unwrap(), FileFormat::Json);
        assert!(matches!(FileFormat::from_path(Path::new("x.tsv")), Err(Error::InvalidInput { .. })));
        assert_eq!(FileFormat::from_name("ndjson"), Some(FileFormat::Json));
        assert_eq!(FileFormat::from_name("xml"), None);
    }

    #[test]
    fn exact_numbers() {
        let n = |t: &str, scale: i64| {
            ExactNumber::parse(t).map(|n| n.scaled(scale).map_err(|e| matches!(e, Inexact::Fraction)))
        };
        assert_eq!(n("00012.3400", 2), Some(Ok(1234)));
        assert_eq!(n("-1.5e1", 0), Some(Ok(-15)));
        assert_eq!(n("1.", 0), Some(Ok(1)));
        assert_eq!(n(".5", 1), Some(Ok(5)));
        assert_eq!(n("-0.000", 0), Some(Ok(0)));
        assert_eq!(n("+7E+2", 0), Some(Ok(700)));
        assert_eq!(n("1.05", 1), Some(Err(true)), "a fraction left over");
        assert_eq!(n("1e-400", 5), Some(Err(true)));
        assert_eq!(n("1e400", 0), Some(Err(false)), "too big");
        assert_eq!(n("1e9999999999999999999", 0), Some(Err(false)), "a huge exponent saturates");
        assert_eq!(n("99999999999999999999999999999999999999", 0), Some(Ok(10i128.pow(38) - 1)));
        assert_eq!(n("999999999999999999999999999999999999990", 0), Some(Err(false)));
        for bad in ["", ".", "-", "e5", "1e", "1e+", "1.2.3", "1_000", "0x10", " 1", "nan", "inf", "--1"] {
            assert!(ExactNumber::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn json_values_of_every_type_go_through_text() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::from_json(&serde_json::json!({"type": "struct", "fields": [
            {"id": 1, "name": "u", "required": false, "type": "uuid"},
            {"id": 2, "name": "dec", "required": false, "type": "decimal(4, 1)"},
            {"id": 3, "name": "s", "required": false, "type": "string"},
            {"id": 4, "name": "b", "required": false, "type": "boolean"},
            {"id": 5, "name": "tz", "required": false, "type": "timestamptz"},
            {"id": 6, "name": "m", "required": false, "type": {"type": "map", "key-id": 7, "key": "int",
                "value-id": 8, "value": "date", "value-required": false}}
        ]}))
        .unwrap();
        let path = dir.path().join("a.ndjson");
        std::fs::write(
            &path,
            "{\"u\": \"f81d4fae-7dec-11d0-a765-00a0c91e6bf6\", \"dec\": 123.40, \"s\": 5.10, \"b\": true, \
             \"tz\": \"2024-01-01T01:00:00+01:00\", \"m\": {\"7\": \"2024-01-02\", \"-1\": 0}}\n{}\n",
        )
        .unwrap();
        let batches: Vec<RecordBatch> = FileReader::open(&path, &schema, None).unwrap().collect::<Result<_>>().unwrap();
        let b = &batches[0];
        assert_eq!(b.num_rows(), 2);
        assert_eq!(b.column(0).as_fixed_size_binary().value(0)[0], 0xf8);
        assert_eq!(b.column(1).as_primitive::<arrow_array::types::Decimal128Type>().value(0), 1234);
        assert_eq!(b.column(2).as_string::<i32>().value(0), "5.10", "a number for a string column: its text");
        assert_eq!(b.column(4).as_primitive::<TimestampMicrosecondType>().value(0), 1_704_067_200_000_000);
        let m = b.column(5).as_map();
        assert_eq!(m.keys().as_primitive::<arrow_array::types::Int32Type>().values().to_vec(), vec![7, -1]);
        assert_eq!(m.values().as_primitive::<Date32Type>().values().to_vec(), vec![19_724, 0]);
        assert!(b.columns().iter().all(|c| c.is_null(1)));
        // A map key that is not an int names the line and the key path.
        std::fs::write(&path, "{}\n{\"m\": {\"1.5\": null}}\n").unwrap();
        let err = FileReader::open(&path, &schema, None).unwrap().find_map(|r| r.err()).unwrap();
        assert!(matches!(&err, Error::InvalidInput { row: Some(2), column: Some(c), .. } if c == "m.key"), "{err:?}");
    }

    #[test]
    fn csv_rows_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let schema = parse_schema("id:long!,flag:boolean,day:date").unwrap();
        let path = dir.path().join("a.csv");
        std::fs::write(&path, "flag,id\ntrue,1\n,2\nno,3\n").unwrap();
        let batches: Vec<RecordBatch> =
            FileReader::open_with(&path, &schema, None, 2).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
        assert_eq!(batches[0].schema().fields().len(), 3, "conformed: the missing optional column is added");
        std::fs::write(&path, "id,day\n1,2024-01-01\n2,2024-01-01\n3,nope\n").unwrap();
        let err = FileReader::open_with(&path, &schema, None, 2).unwrap().find_map(|r| r.err()).unwrap();
        match err {
            Error::InvalidInput { row, column, .. } => {
                assert_eq!(row, Some(3));
                assert_eq!(column.as_deref(), Some("day"));
            }
            e => panic!("unexpected {e}"),
        }
    }
}
