//! Reading input files into batches of a table's schema (feature `import`).
//!
//! Owns everything between "a file someone has" and "a batch [`crate::Transaction::append`]
//! accepts": Parquet, CSV with a header row, and newline-delimited JSON, streamed in
//! batches of bounded size (a file of any size is read in constant memory). Promises:
//!
//! - CSV values are parsed **as the table's column types** (no guessing): a value that
//!   does not fit gives [`Error::InvalidInput`] naming the file, the row (1-based, the
//!   first row after the header is row 1) and the column. CSV parsing (quoting,
//!   escapes) is arrow-csv's; the typed conversion is arrow-cast's, so `true`/`false`,
//!   ISO dates, RFC 3339 timestamps and decimals read as they do elsewhere in Arrow.
//!   An empty field is a null. Nothing is rounded: a decimal with more fraction digits
//!   than the column's scale, or a time finer than microseconds, is refused.
//! - NDJSON is decoded by arrow-json against the table schema; an error names the line.
//!   Keys not in the table schema are refused rather than silently dropped, and decimals
//!   are checked against the column's scale as for CSV.
//! - Parquet files are matched to the table by column name with the same lossless
//!   conversions as [`crate::write::conform_batch`].
//! - A null in a required column is reported with the first row that holds it.
//!
//! It also turns a schema written as text (`id:long!,name:string`) or taken from a
//! sample file into a [`Schema`] for [`crate::Table::create`].

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{Array, ArrayRef, Decimal128Array, FixedSizeBinaryArray, RecordBatch, StringArray};
use arrow_cast::CastOptions;
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::error::{Error, Result};
use crate::spec::types::{NestedField, PrimitiveType, Schema, Type, primitive_to_arrow};
use crate::write::conform_batch;

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
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
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

enum Source {
    Parquet {
        reader: ParquetRecordBatchReader,
        total_rows: u64,
    },
    Csv {
        reader: Box<arrow_csv::reader::Reader<Counting<File>>>,
        columns: Vec<(String, PrimitiveType)>,
    },
    Json {
        lines: BufReader<Counting<File>>,
        builder_schema: SchemaRef,
        uuid_columns: Vec<(String, PrimitiveType)>,
        required: Vec<String>,
        line: u64,
    },
}

/// Streams one input file as batches in the table's Arrow schema.
///
/// ```no_run
/// # fn main() -> floe::Result<()> {
/// let table = floe::Table::open("./events")?;
/// let mut tx = table.new_transaction();
/// for batch in floe::import::FileReader::open("new.csv".as_ref(), &table.schema(), None)? {
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
        let batch_rows = batch_rows.max(1);
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let bytes_total = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bytes_read = Arc::new(AtomicU64::new(0));
        let source = match format {
            FileFormat::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| invalid(path, None, None, format!("not a readable Parquet file: {e}")))?;
                let total_rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
                let reader = builder
                    .with_batch_size(batch_rows)
                    .build()
                    .map_err(|e| invalid(path, None, None, format!("not a readable Parquet file: {e}")))?;
                Source::Parquet { reader, total_rows }
            }
            FileFormat::Csv => open_csv(path, file, schema, batch_rows, &bytes_read)?,
            FileFormat::Json => {
                let (builder_schema, uuid_columns) = json_schema(path, schema)?;
                let lines = BufReader::new(Counting { inner: file, count: bytes_read.clone() });
                let required = schema.fields().iter().filter(|f| f.required).map(|f| f.name.clone()).collect();
                Source::Json { lines, builder_schema, uuid_columns, required, line: 0 }
            }
        };
        Ok(FileReader {
            path: path.to_path_buf(),
            format,
            schema: schema.clone(),
            source,
            batch_rows,
            rows: 0,
            bytes_total,
            bytes_read,
            failed: false,
        })
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
            Source::Json { lines, builder_schema, uuid_columns, required, line } => {
                match read_json_batch(&path, lines, builder_schema, uuid_columns, required, line, self.batch_rows)? {
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
        conform_batch(&self.schema, batch).map_err(|e| match e {
            Error::SchemaMismatch { field, reason } => invalid(&self.path, None, Some(&field), reason),
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

// ------------------------------------------------------------------------ CSV

fn open_csv(path: &Path, mut file: File, schema: &Schema, batch_rows: usize, count: &Arc<AtomicU64>) -> Result<Source> {
    // The header alone, to know which table columns the file has and in what order.
    let format = arrow_csv::reader::Format::default().with_header(true);
    let (header, _) = format
        .infer_schema(&mut file, Some(0))
        .map_err(|e| invalid(path, None, None, format!("cannot read the CSV header: {e}")))?;
    file.rewind().map_err(|e| Error::io(path, e))?;
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
        let array = text_to_type(path, text, ty, name, first_row)?;
        fields.push(Field::new(name, array.data_type().clone(), true));
        arrays.push(array);
    }
    Ok(RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), arrays)?)
}

/// Parses a text column as `ty`; an unparsable value is an error naming its row.
fn text_to_type(path: &Path, text: &ArrayRef, ty: &PrimitiveType, column: &str, first_row: u64) -> Result<ArrayRef> {
    let strings = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| invalid(path, None, Some(column), format!("expected text, found {}", text.data_type())))?;
    let bad = |i: usize| {
        invalid(
            path,
            Some(first_row + i as u64 + 1),
            Some(column),
            format!("cannot read {:?} as {ty}", strings.value(i)),
        )
    };
    match ty {
        PrimitiveType::String => Ok(text.clone()),
        PrimitiveType::Uuid => {
            let mut values: Vec<Option<[u8; 16]>> = Vec::with_capacity(strings.len());
            for i in 0..strings.len() {
                if strings.is_null(i) {
                    values.push(None);
                } else {
                    let u = uuid::Uuid::parse_str(strings.value(i).trim()).map_err(|_| bad(i))?;
                    values.push(Some(*u.as_bytes()));
                }
            }
            let array = FixedSizeBinaryArray::try_from_sparse_iter_with_size(values.into_iter(), 16)?;
            Ok(Arc::new(array))
        }
        _ => {
            if let PrimitiveType::Decimal { scale, .. } = ty {
                // arrow-cast rounds extra fraction digits; a value that does not fit the
                // column's scale is refused instead of silently changed.
                if let Some(i) = (0..strings.len())
                    .find(|&i| !strings.is_null(i) && fraction_digits(strings.value(i)) > *scale as usize)
                {
                    return Err(invalid(
                        path,
                        Some(first_row + i as u64 + 1),
                        Some(column),
                        format!(
                            "{:?} has more than {scale} digit(s) after the decimal point for {ty}",
                            strings.value(i)
                        ),
                    ));
                }
            }
            if matches!(ty, PrimitiveType::Time | PrimitiveType::Timestamp | PrimitiveType::Timestamptz)
                && let Some(i) =
                    (0..strings.len()).find(|&i| !strings.is_null(i) && subsecond_digits(strings.value(i)) > 6)
            {
                // Iceberg keeps microseconds; arrow-cast would drop the rest silently.
                return Err(invalid(
                    path,
                    Some(first_row + i as u64 + 1),
                    Some(column),
                    format!("{:?} is more precise than the microseconds a {ty} holds", strings.value(i)),
                ));
            }
            let target = parse_target(ty);
            // safe = true: unparsable values become nulls; a null where the text was
            // not null is the first bad value.
            let opts = CastOptions { safe: true, ..CastOptions::default() };
            let out = arrow_cast::cast_with_options(text, &target, &opts)?;
            if let Some(i) = (0..strings.len()).find(|&i| !strings.is_null(i) && out.is_null(i)) {
                return Err(bad(i));
            }
            Ok(out)
        }
    }
}

/// Significant digits after the decimal point in a plain decimal literal (`1.2500` has
/// 2); exponent forms are left to the parser.
fn fraction_digits(text: &str) -> usize {
    let t = text.trim();
    if t.contains(['e', 'E']) {
        return 0;
    }
    t.split_once('.').map_or(0, |(_, frac)| frac.trim_end_matches('0').len())
}

/// Significant digits of the fraction of a second in a time or date-time literal
/// (`10:00:00.120` has 2).
fn subsecond_digits(text: &str) -> usize {
    let Some(colon) = text.find(':') else { return 0 };
    let rest = &text[colon..];
    let Some(dot) = rest.find('.') else { return 0 };
    let digits: String = rest[dot + 1..].chars().take_while(char::is_ascii_digit).collect();
    digits.trim_end_matches('0').len()
}

/// The Arrow type text is parsed into: the table's, except that `timestamptz` parses
/// with the offset `+00:00` (arrow-cast cannot resolve the zone name `UTC` without the
/// time-zone database; the instants are the same and conform_batch relabels them).
fn parse_target(ty: &PrimitiveType) -> DataType {
    match ty {
        PrimitiveType::Timestamptz => DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("+00:00".into())),
        other => primitive_to_arrow(other),
    }
}

// ------------------------------------------------------------------------ JSON

/// The schema arrow-json decodes with: the table's, top-level columns nullable (a
/// missing key is a null, reported with its row by the required-column check), uuid
/// columns as text and decimals at a wider scale (both converted afterwards, by
/// `convert_columns`).
fn json_schema(path: &Path, schema: &Schema) -> Result<(SchemaRef, Vec<(String, PrimitiveType)>)> {
    let arrow = schema.to_arrow();
    let mut uuid_columns = Vec::new();
    let mut fields = Vec::with_capacity(arrow.fields().len());
    for (f, nf) in arrow.fields().iter().zip(schema.fields()) {
        let field = match &nf.field_type {
            Type::Primitive(PrimitiveType::Uuid) => {
                uuid_columns.push((nf.name.clone(), PrimitiveType::Uuid));
                Field::new(f.name(), DataType::Utf8, true)
            }
            Type::Primitive(p @ (PrimitiveType::Binary | PrimitiveType::Fixed(_))) => {
                return Err(invalid(
                    path,
                    None,
                    Some(&nf.name),
                    format!("{p} columns cannot be read from JSON; use Parquet"),
                ));
            }
            Type::Primitive(p @ PrimitiveType::Timestamptz) => Field::new(f.name(), parse_target(p), true),
            Type::Primitive(p @ PrimitiveType::Decimal { precision, scale }) => {
                // arrow-json truncates extra fraction digits: decode with the widest
                // scale that still holds the column's integer digits, then narrow
                // exactly (or refuse) in `convert_columns`.
                uuid_columns.push((nf.name.clone(), p.clone()));
                let wide = 38 - (precision - scale) as i8;
                Field::new(f.name(), DataType::Decimal128(38, wide), true)
            }
            _ => f.as_ref().clone().with_nullable(true),
        };
        fields.push(field);
    }
    Ok((Arc::new(ArrowSchema::new(fields)), uuid_columns))
}

fn json_decoder(schema: &SchemaRef, batch_rows: usize) -> Result<arrow_json::reader::Decoder> {
    Ok(arrow_json::ReaderBuilder::new(schema.clone())
        .with_batch_size(batch_rows)
        .with_strict_mode(true)
        .build_decoder()?)
}

/// Reads up to `batch_rows` non-blank lines and decodes them. On a decoding error, the
/// lines are decoded one by one to name the first bad line.
fn read_json_batch(
    path: &Path,
    lines: &mut BufReader<Counting<File>>,
    schema: &SchemaRef,
    uuid_columns: &[(String, PrimitiveType)],
    required: &[String],
    line: &mut u64,
    batch_rows: usize,
) -> Result<Option<RecordBatch>> {
    let mut buf: Vec<u8> = Vec::new();
    let mut starts: Vec<(u64, usize)> = Vec::new(); // (line number, offset in buf)
    let mut text = Vec::new();
    while starts.len() < batch_rows {
        text.clear();
        let n = lines.read_until(b'\n', &mut text).map_err(|e| Error::io(path, e))?;
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
    let batch = convert_columns(path, batch, uuid_columns, &starts)?;
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

/// Converts the columns arrow-json decoded in a stand-in type (see `json_schema`) to the
/// table's type; errors name the line.
fn convert_columns(
    path: &Path,
    batch: RecordBatch,
    columns_to_convert: &[(String, PrimitiveType)],
    starts: &[(u64, usize)],
) -> Result<RecordBatch> {
    if columns_to_convert.is_empty() {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    // Rows are counted from 1 within the batch; turn them into line numbers.
    let at_line = |e: Error| match e {
        Error::InvalidInput { path, row: Some(r), column, reason } => Error::InvalidInput {
            path,
            row: starts.get((r as usize).saturating_sub(1)).map(|(l, _)| *l),
            column,
            reason,
        },
        e => e,
    };
    for (name, ty) in columns_to_convert {
        let Ok(i) = schema.index_of(name) else { continue };
        let converted = match ty {
            PrimitiveType::Decimal { precision, scale } => narrow_decimal(path, &columns[i], *precision, *scale, name),
            _ => text_to_type(path, &columns[i], ty, name, 0),
        }
        .map_err(at_line)?;
        fields[i] = Field::new(name, converted.data_type().clone(), true);
        columns[i] = converted;
    }
    Ok(RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns)?)
}

/// A wide-scale decimal column narrowed to `decimal(precision, scale)` exactly: a value
/// with more fraction digits, or too many digits, is an error naming its row.
fn narrow_decimal(path: &Path, array: &ArrayRef, precision: u32, scale: u32, column: &str) -> Result<ArrayRef> {
    let wide = array
        .as_any()
        .downcast_ref::<Decimal128Array>()
        .ok_or_else(|| invalid(path, None, Some(column), format!("expected decimals, found {}", array.data_type())))?;
    let from_scale = wide.scale().max(0) as u32;
    let factor = 10i128.pow(from_scale.saturating_sub(scale));
    let limit = 10i128.pow(precision);
    let mut out: Vec<Option<i128>> = Vec::with_capacity(wide.len());
    for i in 0..wide.len() {
        if wide.is_null(i) {
            out.push(None);
            continue;
        }
        let v = wide.value(i);
        let bad = |why: String| invalid(path, Some(i as u64 + 1), Some(column), why);
        let shown = || {
            let t = wide.value_as_string(i);
            if t.contains('.') { t.trim_end_matches('0').trim_end_matches('.').to_string() } else { t }
        };
        if v % factor != 0 {
            return Err(bad(format!(
                "{} has more than {scale} digit(s) after the decimal point for decimal({precision}, {scale})",
                shown()
            )));
        }
        let n = v / factor;
        if n.abs() >= limit {
            return Err(bad(format!("{} does not fit decimal({precision}, {scale})", shown())));
        }
        out.push(Some(n));
    }
    let narrow = Decimal128Array::from(out).with_precision_and_scale(precision as u8, scale as i8)?;
    Ok(Arc::new(narrow))
}

#[cfg(test)]
mod tests {
    use super::*;

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
