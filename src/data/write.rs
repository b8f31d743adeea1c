//! Arrow → Parquet data files: schema conformance, file rolling and Iceberg column
//! statistics.
//!
//! Owns three things:
//! - [`conform_batch`]: checks an Arrow batch against the table [`Schema`] and reshapes it
//!   to exactly the Arrow schema of [`Schema::to_arrow`] (order, types, field-id
//!   metadata), casting only where no value can change.
//! - [`DataFileWriter`]: streams conformed batches into immutable Parquet files
//!   (`<prefix>-<n>.parquet`, created exclusively, fsync'ed when durable), rolling to a new
//!   file at the target size, encoding columns and row groups on several threads, and
//!   describes each file as a manifest [`DataFile`]. All of
//!   its file I/O goes through a [`Storage`] (the table's, so fault injection and root
//!   confinement apply to data files too; an object store uploads a file in parts as it
//!   is written).
//! - [`data_file_from_parquet_metadata`]: turns a Parquet footer into a [`DataFile`]
//!   (also used to import Parquet files written elsewhere).
//!
//! Promises:
//! - Bad input never reaches disk: a missing required column, an unknown column, a type
//!   that cannot be stored losslessly, or a null in a required field (nested ones
//!   included) is a typed error before anything is written.
//! - Conforming a batch that already has the table's types copies no data; column
//!   statistics come from the footer the Parquet writer produces, so writing costs no
//!   extra pass over the data (NaN counts for float/double columns are the only per-value
//!   work the Parquet footer cannot supply).
//! - Every written column carries its Iceberg field id in the Parquet schema, and the
//!   footer's key-value metadata carries the schema JSON under `iceberg.schema`. Types
//!   follow the spec's Parquet mapping, including the `UUID` logical type on uuid
//!   columns (`fixed_len_byte_array(16)`), which Arrow alone would leave unannotated;
//!   on tables datashard writes to, the writer is asked to leave it off
//!   ([`DataFileWriter::without_uuid_annotation`]: datashard 0.11.2 cannot read
//!   annotated and its own uuid files in one scan).
//! - Column bounds are valid bounds (every non-null, non-NaN value lies within them):
//!   strings are truncated to 16 characters and binary to 16 bytes (Iceberg's default
//!   `truncate(16)` metrics mode), with the upper bound incremented, or dropped when no
//!   short upper bound exists.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date64Type, Float32Type, Float64Type, Time32MillisecondType, Time32SecondType, Time64NanosecondType,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{
    Array, ArrayRef, ListArray, MapArray, PrimitiveArray, RecordBatch, RecordBatchOptions, StructArray, new_null_array,
};
use arrow_buffer::{NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_cast::cast::{CastOptions, can_cast_types, cast_with_options};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriter, ArrowWriterOptions, compute_leaves,
};
use parquet::basic::{
    Compression, ConvertedType, Encoding, LogicalType, PageType, TimeUnit as ParquetTimeUnit, Type as PhysicalType,
    ZstdLevel,
};
use parquet::file::metadata::{ColumnChunkMetaData, KeyValue, PageEncodingStats, ParquetMetaData};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{ColumnDescriptor, SchemaDescriptor, Type as ParquetType, TypePtr};

use crate::error::{Error, Result};
use crate::io::local::LocalStorage;
use crate::io::storage::{Key, NewFile, PendingWrite, Storage};
use crate::spec::manifest::{DataContent, DataFile};
use crate::spec::types::{ListType, MapType, NestedField, PrimitiveType, Schema, StructType, Type};
use crate::spec::values::Datum;
use crate::sync::Job;

/// Iceberg's default `write.metadata.metrics.default` is `truncate(16)`.
const BOUND_TRUNCATE_LENGTH: usize = 16;

/// Iceberg's default `write.parquet.row-group-size-bytes` (128 MiB): caps the memory a
/// row group buffers when rows are wide, whatever the row-count limit says.
const ROW_GROUP_MAX_BYTES: usize = 128 * 1024 * 1024;

/// Rows written before the first size check of a new file (to learn the row width).
const PROBE_ROWS: usize = 8 * 1024;

/// Smallest slice handed to the Parquet writer between size checks (its own mini-batch).
const MIN_CHUNK_ROWS: usize = 1024;

/// Smallest slice (in bytes of Arrow data) whose columns are encoded on several threads:
/// below it a thread costs more than it saves (a single-row append never spawns one).
const PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// The footer key that carries the Iceberg schema JSON (what Java Iceberg writes too).
pub const ICEBERG_SCHEMA_KEY: &str = "iceberg.schema";

/// How data files are written.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WriteOptions {
    /// Roll to a new file once a file reaches this many bytes (estimated while writing,
    /// so files end near, not exactly at, this size). Default 512 MiB, Iceberg's
    /// `write.target-file-size-bytes`.
    pub target_file_size_bytes: u64,
    /// Rows per row group at most. Default 1 Mi rows (the Parquet crate's default); a row
    /// group is also closed at 128 MiB of encoded data (Iceberg's
    /// `write.parquet.row-group-size-bytes`).
    pub row_group_size: usize,
    /// Page compression. Default ZSTD level 1: Iceberg's default codec is zstd, and on
    /// 1M rows of (i64, 16-char string, f64) level 1 costs ~10% more CPU than Snappy for
    /// files ~40% smaller (17.3 vs 28.3 MiB), so less to write, fsync and read back (see
    /// the `compression` figure of `benches/write_speed.rs`).
    pub compression: Compression,
    /// A column whose first row group compressed by less than this fraction of its
    /// bytes is written uncompressed in the rest of the file (each column chunk names its
    /// own codec, so every reader handles it). Default 0.1: below a 10 % saving the
    /// CPU to compress and to decompress again on every read (zstd decodes such data
    /// at ~0.9 GB/s per core here) outweighs the bytes saved even for a reader fetching
    /// them from an object store at 100 MB/s. 0 keeps `compression` on every column.
    pub min_compression_saving: f64,
    /// fsync each file (and its directory) before it is reported as written. Default true.
    pub durable: bool,
    /// Partitioned writes: at most this many Parquet files open at once (one per
    /// partition being written). When a row for another partition arrives, the file of
    /// the partition written least recently is finished; a later row for that
    /// partition starts a new file. Default `DEFAULT_MAX_OPEN_FILES` (64).
    pub max_open_files: usize,
    /// Partitioned writes: at most this many bytes of rows buffered in memory across
    /// the open files' row groups; above it, the largest buffered row group is written
    /// out (the file stays open). Default `DEFAULT_MAX_BUFFERED_BYTES` (256 MiB).
    pub max_buffered_bytes: u64,
    /// Threads a commit uses to fsync its data files and directories and to write its
    /// manifests, manifest list and metadata, whatever the number of files. Default
    /// `crate::sync::DEFAULT_IO_THREADS` (16).
    pub io_threads: usize,
    /// Threads that encode a file: each slice written is split by column and the
    /// columns are encoded and compressed on up to this many threads (the calling
    /// thread included); after a file's first row group, whole row groups are encoded
    /// on up to this many pool threads at once (not in partitioned appends), so a large
    /// append uses every core while still writing one file. Within a file the bytes are
    /// the same whatever the count (each column chunk is encoded by one thread, with the
    /// same calls in the same order); a multi-file append may roll to the next file at
    /// another row. Up to this many row groups are held encoded at once. Default: the
    /// machine's cores, at most `crate::sync::MAX_CPU_WORKERS` (8); 1 encodes on the
    /// calling thread only, with a sequential writer's memory.
    pub encode_threads: usize,
    /// The files will be synced by the caller (a durable commit fsyncs them itself):
    /// sync what the row-group pipeline has written out as it goes (on the calling
    /// thread, while the encoders work), so the final sync has little left. Implied by
    /// `durable`.
    pub(crate) sync_early: bool,
}

/// Default of [`WriteOptions::min_compression_saving`] (10 %).
pub const DEFAULT_MIN_COMPRESSION_SAVING: f64 = 0.1;
/// Default of [`WriteOptions::max_open_files`].
pub const DEFAULT_MAX_OPEN_FILES: usize = 64;
/// Default of [`WriteOptions::max_buffered_bytes`] (256 MiB).
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 256 * 1024 * 1024;

impl WriteOptions {
    /// Sets [`WriteOptions::target_file_size_bytes`].
    pub fn target_file_size(mut self, bytes: u64) -> Self {
        self.target_file_size_bytes = bytes;
        self
    }

    /// Sets [`WriteOptions::row_group_size`] (rows).
    pub fn row_group_size(mut self, rows: usize) -> Self {
        self.row_group_size = rows;
        self
    }

    /// Sets [`WriteOptions::compression`].
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets [`WriteOptions::min_compression_saving`] (a fraction, clamped to 0..=1).
    pub fn min_compression_saving(mut self, fraction: f64) -> Self {
        self.min_compression_saving = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        self
    }

    /// Sets [`WriteOptions::durable`].
    pub fn durable(mut self, yes: bool) -> Self {
        self.durable = yes;
        self
    }

    /// Sets [`WriteOptions::max_open_files`].
    pub fn max_open_files(mut self, n: usize) -> Self {
        self.max_open_files = n;
        self
    }

    /// Sets [`WriteOptions::max_buffered_bytes`].
    pub fn max_buffered_bytes(mut self, bytes: u64) -> Self {
        self.max_buffered_bytes = bytes;
        self
    }

    /// Sets [`WriteOptions::io_threads`].
    pub fn io_threads(mut self, n: usize) -> Self {
        self.io_threads = n;
        self
    }

    /// Sets [`WriteOptions::encode_threads`] (0 is taken as 1).
    pub fn encode_threads(mut self, n: usize) -> Self {
        self.encode_threads = n.max(1);
        self
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            target_file_size_bytes: 512 * 1024 * 1024,
            row_group_size: 1024 * 1024,
            compression: Compression::ZSTD(ZstdLevel::default()),
            min_compression_saving: DEFAULT_MIN_COMPRESSION_SAVING,
            durable: true,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            io_threads: crate::sync::DEFAULT_IO_THREADS,
            encode_threads: crate::sync::cpu_workers(),
            sync_early: false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Conformance
// ---------------------------------------------------------------------------------------

/// Checks one batch against the table schema and returns it reshaped to the table's Arrow
/// schema ([`Schema::to_arrow`]): columns in schema order with the schema's types and
/// `PARQUET:field_id` metadata.
///
/// Columns are matched by name (nested struct fields too). Missing optional columns and
/// struct fields are filled with nulls. Arrow types are converted only when no value can
/// change: integer widening, `float`→`double`, decimals to a scale/precision that holds
/// them, `LargeUtf8`/`Utf8View`→`Utf8`, `LargeBinary`/`BinaryView`/`FixedSizeBinary`→
/// `Binary`, dictionary unpacking, `LargeList`/`FixedSizeList`→`List`, coarser time units to
/// microseconds, and nanoseconds (or `Date64` milliseconds) only when every value is
/// exact. Timestamps with any time zone are stored as `timestamptz` (Arrow timestamps are
/// UTC instants, so the zone is only a label); zone-less ones only as `timestamp`.
///
/// Errors: [`Error::SchemaMismatch`] for a missing required column, a column the schema
/// does not have, or a type that cannot be stored losslessly (naming the field and both
/// types); [`Error::NullInRequiredField`] for nulls in a required field, at any depth.
///
/// When the batch already has the table's types this copies no data.
pub fn conform_batch(schema: &Schema, batch: &RecordBatch) -> Result<RecordBatch> {
    conform_to(schema, &Arc::new(schema.to_arrow()), batch)
}

impl Schema {
    /// `batch` converted to this schema exactly as [`crate::Table::append`] converts it
    /// (see `conform_batch`'s rules): columns matched by name, types converted only
    /// where every value is kept exactly, nulls refused in required fields. For code
    /// that prepares batches before appending them (an importer reporting the row of a
    /// bad value).
    ///
    /// Errors: [`Error::SchemaMismatch`], [`Error::NullInRequiredField`].
    pub fn conform(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        conform_batch(self, batch)
    }
}

fn conform_to(schema: &Schema, target: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let source = batch.schema();
    // Where each table column sits in the batch. A batch already on the table schema
    // (the common case: conformed once, then handed to the writer) skips the name map.
    let positions: Vec<Option<usize>> = if Arc::ptr_eq(&source, target) || source.fields() == target.fields() {
        (0..target.fields().len()).map(Some).collect()
    } else {
        let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(source.fields().len());
        for (i, f) in source.fields().iter().enumerate() {
            if by_name.insert(f.name().as_str(), i).is_some() {
                return Err(mismatch(f.name(), "the batch has two columns with this name"));
            }
        }
        let positions: Vec<Option<usize>> =
            schema.fields().iter().map(|f| by_name.get(f.name.as_str()).copied()).collect();
        if positions.iter().flatten().count() < source.fields().len() {
            let known: HashSet<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
            if let Some(extra) = source.fields().iter().find(|f| !known.contains(f.name().as_str())) {
                return Err(mismatch(extra.name(), "column is not in the table schema"));
            }
        }
        positions
    };
    let mut columns = Vec::with_capacity(target.fields().len());
    for ((field, target_field), position) in schema.fields().iter().zip(target.fields()).zip(positions) {
        let column = match position {
            Some(i) => conform_array(batch.column(i), &field.field_type, target_field, &field.name)?,
            None if field.required => {
                return Err(mismatch(&field.name, "required column is missing from the batch"));
            }
            None => new_null_array(target_field.data_type(), batch.num_rows()),
        };
        if field.required {
            let nulls = column.logical_null_count();
            if nulls > 0 {
                return Err(Error::NullInRequiredField { field: field.name.clone(), null_count: nulls });
            }
        }
        columns.push(column);
    }
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(target.clone(), columns, &options)?)
}

fn mismatch(field: &str, reason: impl Into<String>) -> Error {
    Error::SchemaMismatch { field: field.to_string(), reason: reason.into() }
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::Primitive(p) => p.to_string(),
        Type::Struct(_) => "struct".into(),
        Type::List(_) => "list".into(),
        Type::Map(_) => "map".into(),
    }
}

fn type_mismatch(path: &str, source: &DataType, ty: &Type, target: &DataType) -> Error {
    mismatch(
        path,
        format!("Arrow type {source} cannot be stored losslessly as Iceberg {} (Arrow {target})", type_name(ty)),
    )
}

/// Conforms one array (of any depth) to `target`. Checks required *children*; the
/// caller checks the array's own nulls, because whether they are allowed depends on
/// the parent's validity.
fn conform_array(array: &ArrayRef, ty: &Type, target: &Field, path: &str) -> Result<ArrayRef> {
    // Fast path: exactly the table's type. Only nested required fields need a look.
    if array.data_type() == target.data_type() {
        check_nested_nulls(array, ty, path)?;
        return Ok(array.clone());
    }
    match array.data_type() {
        DataType::Null => return Ok(new_null_array(target.data_type(), array.len())),
        DataType::Dictionary(_, value_type) => {
            // Unpacking a dictionary keeps every value; then conform the values' type.
            let unpacked = cast_lossless(array, value_type, path)?;
            return conform_array(&unpacked, ty, target, path);
        }
        _ => {}
    }
    match ty {
        Type::Primitive(p) => conform_primitive(array, p, ty, target.data_type(), path),
        Type::Struct(st) => conform_struct(array, st, ty, target.data_type(), path),
        Type::List(l) => conform_list(array, l, ty, target.data_type(), path),
        Type::Map(m) => conform_map(array, m, ty, target.data_type(), path),
    }
}

/// One column conformed to the Iceberg primitive `ty` by [`conform_batch`]'s rules (exact
/// conversions only); `name` names it in errors. For callers holding values of a column
/// outside a batch of the table (lookup keys).
pub(crate) fn conform_column(array: &ArrayRef, ty: &PrimitiveType, name: &str) -> Result<ArrayRef> {
    let target = Field::new(name, crate::spec::types::primitive_to_arrow(ty), true);
    conform_array(array, &Type::Primitive(ty.clone()), &target, name)
}

fn cast_lossless(array: &ArrayRef, to: &DataType, path: &str) -> Result<ArrayRef> {
    // `safe: false` turns any overflow into an error instead of a silent null.
    let options = CastOptions { safe: false, ..Default::default() };
    cast_with_options(array, to, &options)
        .map_err(|e| mismatch(path, format!("cannot convert Arrow {} to {to}: {e}", array.data_type())))
}

fn conform_primitive(
    array: &ArrayRef,
    p: &PrimitiveType,
    ty: &Type,
    target: &DataType,
    path: &str,
) -> Result<ArrayRef> {
    use DataType as D;
    let source = array.data_type();
    let fail = || type_mismatch(path, source, ty, target);
    let widen = match (p, source) {
        (PrimitiveType::Int, D::Int8 | D::Int16 | D::UInt8 | D::UInt16) => true,
        (PrimitiveType::Long, D::Int8 | D::Int16 | D::Int32 | D::UInt8 | D::UInt16 | D::UInt32) => true,
        (PrimitiveType::Float, D::Float16) => true,
        (PrimitiveType::Double, D::Float16 | D::Float32) => true,
        (PrimitiveType::String, D::LargeUtf8 | D::Utf8View) => true,
        (PrimitiveType::Binary, D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_)) => true,
        (
            PrimitiveType::Decimal { precision, scale },
            D::Decimal32(p, s) | D::Decimal64(p, s) | D::Decimal128(p, s) | D::Decimal256(p, s),
        ) => {
            // Lossless when the scale does not shrink and the integer digits still fit.
            let (p, s) = (i64::from(*p), i64::from(*s));
            let (tp, ts) = (i64::from(*precision), i64::from(*scale));
            s >= 0 && ts >= s && p - s <= tp - ts
        }
        _ => false,
    };
    if widen {
        return cast_lossless(array, target, path);
    }
    let inexact = |what: &str, v: i64| {
        mismatch(path, format!("{what} {v} in Arrow {source} cannot be stored as Iceberg {p} without losing precision"))
    };
    match (p, source) {
        (PrimitiveType::Date, D::Date64) => {
            const MS_PER_DAY: i64 = 86_400_000;
            let days = array.as_primitive::<Date64Type>().try_unary::<_, arrow_array::types::Date32Type, _>(|ms| {
                if ms % MS_PER_DAY == 0 { i32::try_from(ms / MS_PER_DAY).map_err(|_| ms) } else { Err(ms) }
            });
            Ok(Arc::new(days.map_err(|ms| inexact("millisecond date", ms))?))
        }
        (PrimitiveType::Time, D::Time32(TimeUnit::Second)) => Ok(Arc::new(
            array
                .as_primitive::<Time32SecondType>()
                .unary::<_, arrow_array::types::Time64MicrosecondType>(|s| i64::from(s) * 1_000_000),
        )),
        (PrimitiveType::Time, D::Time32(TimeUnit::Millisecond)) => Ok(Arc::new(
            array
                .as_primitive::<Time32MillisecondType>()
                .unary::<_, arrow_array::types::Time64MicrosecondType>(|ms| i64::from(ms) * 1000),
        )),
        (PrimitiveType::Time, D::Time64(TimeUnit::Nanosecond)) => {
            let micros = array
                .as_primitive::<Time64NanosecondType>()
                .try_unary::<_, arrow_array::types::Time64MicrosecondType, _>(|ns| {
                    if ns % 1000 == 0 { Ok(ns / 1000) } else { Err(ns) }
                });
            Ok(Arc::new(micros.map_err(|ns| inexact("nanosecond time", ns))?))
        }
        (PrimitiveType::Timestamp, D::Timestamp(unit, None))
        | (PrimitiveType::Timestamptz, D::Timestamp(unit, Some(_))) => {
            let D::Timestamp(_, target_tz) = target else {
                return Err(fail());
            };
            let micros = timestamp_to_micros(array, *unit).map_err(|v| inexact("nanosecond timestamp", v))?;
            Ok(Arc::new(micros.with_timezone_opt(target_tz.clone())))
        }
        _ => Err(fail()),
    }
}

/// Rescales any timestamp array to microseconds: multiplying (overflow is an error) or
/// dividing only when exact. A zone relabel of a microsecond array copies nothing.
fn timestamp_to_micros(
    array: &ArrayRef,
    unit: TimeUnit,
) -> std::result::Result<PrimitiveArray<TimestampMicrosecondType>, i64> {
    Ok(match unit {
        TimeUnit::Second => {
            array.as_primitive::<TimestampSecondType>().try_unary(|s| s.checked_mul(1_000_000).ok_or(s))?
        }
        TimeUnit::Millisecond => {
            array.as_primitive::<TimestampMillisecondType>().try_unary(|ms| ms.checked_mul(1000).ok_or(ms))?
        }
        TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().clone(),
        TimeUnit::Nanosecond => array
            .as_primitive::<TimestampNanosecondType>()
            .try_unary(|ns| if ns % 1000 == 0 { Ok(ns / 1000) } else { Err(ns) })?,
    })
}

fn conform_struct(array: &ArrayRef, st: &StructType, ty: &Type, target: &DataType, path: &str) -> Result<ArrayRef> {
    let (Some(source), DataType::Struct(target_fields)) = (array.as_struct_opt(), target) else {
        return Err(type_mismatch(path, array.data_type(), ty, target));
    };
    for f in source.fields() {
        if !st.fields.iter().any(|nf| nf.name == *f.name()) {
            return Err(mismatch(&format!("{path}.{}", f.name()), "field is not in the table schema"));
        }
    }
    let mut children = Vec::with_capacity(st.fields.len());
    for (nf, tf) in st.fields.iter().zip(target_fields.iter()) {
        let child_path = format!("{path}.{}", nf.name);
        let child = match source.column_by_name(&nf.name) {
            Some(c) => conform_array(c, &nf.field_type, tf, &child_path)?,
            None if nf.required => {
                return Err(mismatch(&child_path, "required field is missing from the batch"));
            }
            None => new_null_array(tf.data_type(), source.len()),
        };
        if nf.required {
            check_required_child(&child, source.nulls(), &child_path)?;
        }
        children.push(child);
    }
    Ok(Arc::new(StructArray::try_new_with_length(
        target_fields.clone(),
        children,
        source.nulls().cloned(),
        source.len(),
    )?))
}

fn conform_list(array: &ArrayRef, l: &ListType, ty: &Type, target: &DataType, path: &str) -> Result<ArrayRef> {
    let DataType::List(target_element) = target else {
        return Err(type_mismatch(path, array.data_type(), ty, target));
    };
    let list: ListArray = match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().clone(),
        DataType::LargeList(f) | DataType::FixedSizeList(f, _) | DataType::ListView(f) | DataType::LargeListView(f) => {
            let to = DataType::List(f.clone());
            if !can_cast_types(array.data_type(), &to) {
                return Err(type_mismatch(path, array.data_type(), ty, target));
            }
            cast_lossless(array, &to, path)?.as_list::<i32>().clone()
        }
        _ => return Err(type_mismatch(path, array.data_type(), ty, target)),
    };
    let (_, offsets, values, nulls) = list.into_parts();
    let element_path = format!("{path}.element");
    let values = conform_array(&values, &l.element, target_element, &element_path)?;
    let (offsets, mut children) = if l.element_required {
        required_ranged_children(offsets, vec![(values, element_path)])?
    } else {
        (offsets, vec![values])
    };
    let values = children.pop().ok_or_else(|| mismatch(path, "list without values"))?;
    Ok(Arc::new(ListArray::try_new(target_element.clone(), offsets, values, nulls)?))
}

fn conform_map(array: &ArrayRef, m: &MapType, ty: &Type, target: &DataType, path: &str) -> Result<ArrayRef> {
    let (Some(source), DataType::Map(target_entries, _)) = (array.as_map_opt(), target) else {
        return Err(type_mismatch(path, array.data_type(), ty, target));
    };
    let DataType::Struct(target_kv) = target_entries.data_type() else {
        return Err(type_mismatch(path, array.data_type(), ty, target));
    };
    let entries = source.entries();
    if entries.num_columns() != 2 || target_kv.len() != 2 {
        return Err(type_mismatch(path, array.data_type(), ty, target));
    }
    // Key and value are matched by position: Arrow writers name them differently
    // (`keys`/`values`, `key`/`value`).
    let key_path = format!("{path}.key");
    let value_path = format!("{path}.value");
    let keys = conform_array(entries.column(0), &m.key, &target_kv[0], &key_path)?;
    let values = conform_array(entries.column(1), &m.value, &target_kv[1], &value_path)?;
    let offsets = source.offsets().clone();
    let (offsets, mut children) = if m.value_required {
        required_ranged_children(offsets, vec![(keys, key_path), (values, value_path)])?
    } else {
        required_ranged_children(offsets, vec![(keys, key_path)]).map(|(o, mut c)| {
            c.push(values);
            (o, c)
        })?
    };
    let values = children.pop().ok_or_else(|| mismatch(path, "map without values"))?;
    let keys = children.pop().ok_or_else(|| mismatch(path, "map without keys"))?;
    let kv = StructArray::try_new(target_kv.clone(), vec![keys, values], None)?;
    Ok(Arc::new(MapArray::try_new(target_entries.clone(), offsets, kv, source.nulls().cloned(), false)?))
}

/// Rejects nulls in required list elements / map keys / map values within the range the
/// offsets use. When the only nulls lie outside that range (a sliced list), narrows the
/// children to the range and rebases the offsets, because Arrow's constructors reject a
/// non-nullable child with any null at all.
fn required_ranged_children(
    offsets: OffsetBuffer<i32>,
    children: Vec<(ArrayRef, String)>,
) -> Result<(OffsetBuffer<i32>, Vec<ArrayRef>)> {
    let start = offsets.first().copied().unwrap_or(0).max(0) as usize;
    let end = offsets.last().copied().unwrap_or(0).max(0) as usize;
    let mut narrow = false;
    for (child, child_path) in &children {
        if child.logical_null_count() == 0 {
            continue;
        }
        let in_range = child.slice(start, end.saturating_sub(start)).logical_null_count();
        if in_range > 0 {
            return Err(Error::NullInRequiredField { field: child_path.clone(), null_count: in_range });
        }
        narrow = true;
    }
    if !narrow {
        return Ok((offsets, children.into_iter().map(|(c, _)| c).collect()));
    }
    let rebased: ScalarBuffer<i32> = offsets.iter().map(|o| o - start as i32).collect();
    let children = children.into_iter().map(|(c, _)| c.slice(start, end - start)).collect();
    Ok((OffsetBuffer::new(rebased), children))
}

/// Counts nulls of a required child where its parent is valid (a child slot under a
/// null parent is absent, not null) and fails if there are any.
fn check_required_child(child: &ArrayRef, parent_nulls: Option<&NullBuffer>, path: &str) -> Result<()> {
    let Some(child_nulls) = child.logical_nulls().filter(|n| n.null_count() > 0) else {
        return Ok(());
    };
    let count = match parent_nulls {
        None => child_nulls.null_count(),
        Some(parent) => (parent.inner() & &!child_nulls.inner()).count_set_bits(),
    };
    if count > 0 {
        return Err(Error::NullInRequiredField { field: path.to_string(), null_count: count });
    }
    Ok(())
}

/// Required-field checks for an array whose type already matches: walks only nested
/// types, and does per-value work only where a required child actually holds nulls.
fn check_nested_nulls(array: &ArrayRef, ty: &Type, path: &str) -> Result<()> {
    match ty {
        Type::Primitive(_) => Ok(()),
        Type::Struct(st) => {
            let Some(s) = array.as_struct_opt() else {
                return Ok(());
            };
            for (nf, child) in st.fields.iter().zip(s.columns()) {
                let child_path = format!("{path}.{}", nf.name);
                if nf.required {
                    check_required_child(child, s.nulls(), &child_path)?;
                }
                check_nested_nulls(child, &nf.field_type, &child_path)?;
            }
            Ok(())
        }
        Type::List(l) => {
            let Some(list) = array.as_list_opt::<i32>() else {
                return Ok(());
            };
            let element_path = format!("{path}.element");
            if l.element_required {
                required_ranged_children(list.offsets().clone(), vec![(list.values().clone(), element_path.clone())])?;
            }
            check_nested_nulls(list.values(), &l.element, &element_path)
        }
        Type::Map(m) => {
            let Some(map) = array.as_map_opt() else {
                return Ok(());
            };
            let (key_path, value_path) = (format!("{path}.key"), format!("{path}.value"));
            let mut required = vec![(map.keys().clone(), key_path.clone())];
            if m.value_required {
                required.push((map.values().clone(), value_path.clone()));
            }
            required_ranged_children(map.offsets().clone(), required)?;
            check_nested_nulls(map.keys(), &m.key, &key_path)?;
            check_nested_nulls(map.values(), &m.value, &value_path)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// A float/double column outside lists and maps whose NaNs the writer counts: the
/// Parquet footer has no NaN count (and its min/max skip NaNs).
#[derive(Debug, Clone)]
struct NanLeaf {
    field_id: i32,
    /// Column index, then struct child indices down to the leaf.
    indices: Vec<usize>,
}

fn collect_nan_leaves(fields: &[NestedField], prefix: &mut Vec<usize>, out: &mut Vec<NanLeaf>) {
    for (i, f) in fields.iter().enumerate() {
        prefix.push(i);
        match &f.field_type {
            Type::Primitive(PrimitiveType::Float | PrimitiveType::Double) => {
                out.push(NanLeaf { field_id: f.id, indices: prefix.clone() })
            }
            Type::Struct(st) => collect_nan_leaves(&st.fields, prefix, out),
            _ => {}
        }
        prefix.pop();
    }
}

/// NaNs among the values Parquet will store: slots under a null (self or ancestor) are
/// not written, so they are not counted.
fn count_nans(batch: &RecordBatch, leaf: &NanLeaf) -> i64 {
    let Some((&first, rest)) = leaf.indices.split_first() else {
        return 0;
    };
    let mut array = batch.column(first).clone();
    let mut valid: Option<NullBuffer> = array.nulls().cloned();
    for &i in rest {
        let Some(s) = array.as_struct_opt() else {
            return 0;
        };
        let child = s.column(i).clone();
        valid = NullBuffer::union(valid.as_ref(), child.nulls());
        array = child;
    }
    fn count<T: Copy>(values: &[T], valid: Option<&NullBuffer>, is_nan: impl Fn(T) -> bool) -> i64 {
        let n = match valid {
            None => values.iter().filter(|v| is_nan(**v)).count(),
            Some(nulls) => values.iter().zip(nulls.iter()).filter(|(v, ok)| *ok && is_nan(**v)).count(),
        };
        n as i64
    }
    if let Some(a) = array.as_primitive_opt::<Float64Type>() {
        count(a.values(), valid.as_ref(), f64::is_nan)
    } else if let Some(a) = array.as_primitive_opt::<Float32Type>() {
        count(a.values(), valid.as_ref(), f32::is_nan)
    } else {
        0
    }
}

// ---------------------------------------------------------------------------------------
// Parallel Parquet encoding: columns, then pipelined row groups
// ---------------------------------------------------------------------------------------

/// One Parquet file being written: the row-group logic of the Parquet crate's
/// `ArrowWriter` (a row group is closed at `max_row_group_row_count` rows or at
/// `max_row_group_bytes` of estimated encoded data, a slice being split to respect
/// both), with the encoding spread over up to `threads` threads in two ways:
///
/// - **Columns**: the file's first row group (and every row group when row groups are
///   not pipelined) is encoded by the calling thread, each slice's top-level columns
///   (with all their leaves) split across threads, balanced by their bytes.
/// - **Row groups** ([`Pipeline`]): once the file has a row group written out, the
///   rows of each following row group are gathered (slices of the caller's batches,
///   no copy) and the whole row group is encoded by one pool thread, column after
///   column, up to `threads` row groups at once. The calling thread writes the oldest
///   one out a column chunk at a time, as its job closes them ([`ChunkFlow`]). Columns
///   rarely balance (one string column can cost more than all the others together);
///   whole row groups always do.
///   The first row group is not pipelined so that the encoded width the file-size
///   estimate uses is measured, not guessed.
///
/// Why not `ArrowWriter`: it encodes one column after another on the calling thread,
/// so a large append used one core. Every column writer sees the same calls in the
/// same order as in a sequential write, so a file is byte-for-byte the same whatever
/// the thread count (tests compare) as long as the caller's slices are the same; the
/// caller sizes its slices by [`in_progress_size`](Self::in_progress_size), which is
/// an estimate while row groups are pipelined, so where a file rolls over may differ.
/// Memory: without pipelining, the row group in progress, encoded (no input is
/// buffered); with it, the column chunk being encoded in each row group in flight,
/// the closed chunks of row groups waiting behind the oldest (about half a row group
/// of them, then a job waits: [`ChunkFlow`]), and the input slices of the row groups
/// in flight and the one being gathered (references to the caller's batches). The
/// oldest row group's closed chunks go straight to the file, so the encoded data held
/// is about one row group, what a sequential writer holds (heaptrack of a 4M-row
/// bench append, streamed before the stagger: peak live heap within 2 MB of the
/// Parquet crate's `ArrowWriter`).
struct ParquetFileWriter {
    out: Output,
    encoder: RowGroupEncoder,
    pipeline: Option<Pipeline>,
}

/// The file being written, and what went out to it.
struct Output {
    file: SerializedFileWriter<Box<dyn NewFile>>,
    /// Arrow bytes of the rows in the row groups written out (for the width estimate).
    input_written: usize,
    /// Sync what the pipeline writes out as it goes ([`Output::sync_written`]).
    sync_early: bool,
}

/// The row-group logic, shared by the calling thread and the pipeline's jobs.
struct RowGroupEncoder {
    factory: Arc<ArrowRowGroupWriterFactory>,
    /// The file's Parquet schema and properties (to make a factory without the
    /// dictionaries and compression that did not pay, see
    /// [`RowGroupEncoder::learn_from_first_row_group`]).
    file_schema: TypePtr,
    props: Arc<WriterProperties>,
    /// True until the file's first row group is closed.
    first: bool,
    /// [`WriteOptions::min_compression_saving`].
    min_compression_saving: f64,
    arrow: SchemaRef,
    /// Leaf columns (column writers) of each top-level field, in order.
    leaves: Arc<[usize]>,
    in_progress: Option<RowGroupInProgress>,
    /// The file's first rows while they take under [`TINY_ROW_GROUP_BYTES`] (see
    /// [`RowGroupEncoder::write`]), and their Arrow bytes. Only the file's own encoder
    /// holds rows (`holds_tiny`), never a pipelined row group's.
    held: Vec<RecordBatch>,
    held_bytes: usize,
    holds_tiny: bool,
    /// The index the next row group's column writers are created with (the Parquet
    /// crate keys only encryption on it, which floe does not use).
    next_index: usize,
    max_rows: usize,
    max_bytes: usize,
    threads: usize,
}

struct RowGroupInProgress {
    writers: Vec<ArrowColumnWriter>,
    rows: usize,
    /// Arrow bytes of the rows written into it.
    input_bytes: usize,
}

impl RowGroupInProgress {
    fn estimated_bytes(&self) -> usize {
        self.writers.iter().map(ArrowColumnWriter::get_estimated_total_bytes).sum()
    }

    /// Closes the column writers: the row group's column chunks, ready to be written out.
    fn close(self) -> ParquetResult<EncodedRowGroup> {
        let chunks = self.writers.into_iter().map(ArrowColumnWriter::close).collect::<ParquetResult<_>>()?;
        Ok(EncodedRowGroup { chunks, input_bytes: self.input_bytes })
    }
}

/// A row group's encoded column chunks.
struct EncodedRowGroup {
    chunks: Vec<ArrowColumnChunk>,
    input_bytes: usize,
}

type ParquetResult<T> = std::result::Result<T, parquet::errors::ParquetError>;

/// Arrow bytes under which a file's first rows are held back and, if nothing more comes
/// before the row group closes, encoded without compression whatever the properties say:
/// at that size zstd saves at most a few hundred bytes, less than the file's own footer,
/// while setting up its contexts (a compressor and a decompressor per column chunk) was
/// ~5 % of a single-row append's CPU (perf, `peers append`). Each column chunk records
/// its codec; readers need nothing special.
const TINY_ROW_GROUP_BYTES: usize = 1024;

/// Arrow bytes of a batch's rows (what its slices reference, not what they keep alive).
fn input_bytes(batch: &RecordBatch) -> usize {
    column_bytes(batch).iter().sum()
}

/// Arrow bytes of each column of a batch's rows.
fn column_bytes(batch: &RecordBatch) -> Vec<usize> {
    batch.columns().iter().map(array_bytes).collect()
}

/// Arrow bytes of an array's rows.
fn array_bytes(array: &ArrayRef) -> usize {
    array.to_data().get_slice_memory_size().unwrap_or(0)
}

impl RowGroupEncoder {
    /// Rows in the row group in progress (held rows included).
    fn rows(&self) -> usize {
        self.in_progress.as_ref().map_or(0, |rg| rg.rows) + self.held.iter().map(RecordBatch::num_rows).sum::<usize>()
    }

    /// Encodes `batch` into the row group in progress, handing every row group that
    /// fills up to `full`.
    ///
    /// A file's first rows are held, not encoded, while they take under
    /// [`TINY_ROW_GROUP_BYTES`]: column writers fix their codec when they are created,
    /// and only once the row group closes is it known whether it stayed that small
    /// ([`RowGroupEncoder::close_held`] then encodes it uncompressed). More rows encode
    /// the held ones first, with the file's properties.
    fn write(
        &mut self,
        batch: &RecordBatch,
        mut full: impl FnMut(EncodedRowGroup) -> ParquetResult<()>,
    ) -> ParquetResult<()> {
        if self.holds_tiny && self.in_progress.is_none() {
            let bytes = input_bytes(batch);
            // Held rows are one row group: never more than a row group may hold.
            if self.held_bytes.saturating_add(bytes) < TINY_ROW_GROUP_BYTES
                && self.rows().saturating_add(batch.num_rows()) <= self.max_rows
            {
                self.held.push(batch.clone());
                self.held_bytes += bytes;
                return Ok(());
            }
            // From here on the file is not tiny: nothing is held again.
            self.holds_tiny = false;
            for held in std::mem::take(&mut self.held) {
                self.encode(&held, &mut full)?;
            }
            self.held_bytes = 0;
        }
        self.encode(batch, &mut full)
    }

    /// Encodes the held rows (if any) as one row group without compression: the row
    /// group closes while they are still all there is. (Held rows fit one row group;
    /// every row group `encode` closes is returned all the same.)
    fn close_held(&mut self) -> ParquetResult<Vec<EncodedRowGroup>> {
        self.holds_tiny = false;
        if self.held.is_empty() {
            return Ok(Vec::new());
        }
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        let props = (*self.props).clone().into_builder().set_compression(Compression::UNCOMPRESSED).build();
        let writers = self.factory_for(Arc::new(props))?.create_column_writers(self.next_index)?;
        self.next_index += 1;
        // The held rows go into a row group in progress with those writers, as any rows.
        self.in_progress = Some(RowGroupInProgress { writers, rows: 0, input_bytes: 0 });
        let mut closed = Vec::with_capacity(1);
        for b in &held {
            self.encode(b, |rg| {
                closed.push(rg);
                Ok(())
            })?;
        }
        if let Some(rg) = self.in_progress.take() {
            closed.push(self.close(rg)?);
        }
        Ok(closed)
    }

    /// A row-group writer factory for `props`. The factory takes its schema and
    /// properties from a file writer: one over nothing, with the file's schema (its
    /// magic bytes go to the sink; the row groups are still written out to the real
    /// file).
    fn factory_for(&self, props: Arc<WriterProperties>) -> ParquetResult<ArrowRowGroupWriterFactory> {
        let stand_in = SerializedFileWriter::new(std::io::sink(), self.file_schema.clone(), props)?;
        Ok(ArrowRowGroupWriterFactory::new(&stand_in, self.arrow.clone()))
    }

    /// [`RowGroupEncoder::write`] without holding rows back.
    fn encode(
        &mut self,
        batch: &RecordBatch,
        mut full: impl FnMut(EncodedRowGroup) -> ParquetResult<()>,
    ) -> ParquetResult<()> {
        let total = batch.num_rows();
        let mut offset = 0;
        while offset < total {
            let rg = match &mut self.in_progress {
                Some(rg) => rg,
                slot => {
                    let writers = self.factory.create_column_writers(self.next_index)?;
                    self.next_index += 1;
                    slot.insert(RowGroupInProgress { writers, rows: 0, input_bytes: 0 })
                }
            };
            let mut take = (total - offset).min(self.max_rows.saturating_sub(rg.rows));
            if rg.rows > 0 {
                // Split so the row group stops near its byte limit, at the average
                // encoded row width so far.
                let current = rg.estimated_bytes();
                let fit = match current.checked_div(rg.rows).filter(|w| *w > 0) {
                    _ if current >= self.max_bytes => 0,
                    Some(width) => (self.max_bytes - current) / width,
                    None => take,
                };
                take = take.min(fit);
            }
            if take == 0 {
                if let Some(rg) = self.in_progress.take() {
                    full(self.close(rg)?)?;
                }
                continue;
            }
            let slice = if offset == 0 && take == total { batch.clone() } else { batch.slice(offset, take) };
            let cost = column_bytes(&slice);
            encode_columns(&mut rg.writers, &self.leaves, &self.arrow, &slice, &cost, self.threads)?;
            rg.rows += take;
            rg.input_bytes += cost.iter().sum::<usize>();
            offset += take;
            if (rg.rows >= self.max_rows || rg.estimated_bytes() >= self.max_bytes)
                && let Some(rg) = self.in_progress.take()
            {
                full(self.close(rg)?)?;
            }
        }
        Ok(())
    }

    /// Closes a row group's column writers; the file's first row group teaches which
    /// columns to write without a dictionary from then on.
    fn close(&mut self, rg: RowGroupInProgress) -> ParquetResult<EncodedRowGroup> {
        let rg = rg.close()?;
        if std::mem::take(&mut self.first) {
            self.learn_from_first_row_group(&rg)?;
        }
        Ok(rg)
    }

    /// Changes the properties of the file's later row groups after what `rg` (its first
    /// row group) showed: work that did not pay there is not done again.
    ///
    /// - **Dictionaries**: off on every column whose dictionary outgrew its page limit
    ///   and fell back to plain pages. The Parquet writer attempts a dictionary in every
    ///   column chunk and gives up only after interning values up to the limit: on a
    ///   column of mostly distinct values (ids, hashes, free text, measurements) that is
    ///   work thrown away in every row group (about 6 % of a bulk append's CPU in a
    ///   profile of the bench table).
    /// - **Compression**: off on every column whose compressed chunk saved less than
    ///   [`WriteOptions::min_compression_saving`] of its bytes (random floats, hashes,
    ///   already-compressed blobs). zstd spends as much CPU on such a column as on any
    ///   other, and every reader pays again to decompress it: in the bench table's
    ///   `value` column (random doubles, 6 % saved) decompression was ~46 % of the CPU
    ///   samples of a projection onto it (perf, docs/design.md).
    ///
    /// Each column chunk records its own encodings and codec, so readers need nothing
    /// special; a column that behaves otherwise later in the file keeps this file's
    /// choice (the next file learns again).
    fn learn_from_first_row_group(&mut self, rg: &EncodedRowGroup) -> ParquetResult<()> {
        let mut builder = None;
        for chunk in &rg.chunks {
            let m = &chunk.close().metadata;
            if dictionary_fell_back(m.page_encoding_stats().map(Vec::as_slice).unwrap_or_default()) {
                let b = builder.take().unwrap_or_else(|| (*self.props).clone().into_builder());
                builder = Some(b.set_column_dictionary_enabled(m.column_path().clone(), false));
            }
            if compression_did_not_pay(m, self.min_compression_saving) {
                let b = builder.take().unwrap_or_else(|| (*self.props).clone().into_builder());
                builder = Some(b.set_column_compression(m.column_path().clone(), Compression::UNCOMPRESSED));
            }
        }
        let Some(builder) = builder else { return Ok(()) };
        self.props = Arc::new(builder.build());
        self.factory = Arc::new(self.factory_for(self.props.clone())?);
        Ok(())
    }

    /// An encoder for one pipelined row group: the same limits, its own writers, one
    /// thread.
    fn for_job(&mut self) -> RowGroupEncoder {
        let job = RowGroupEncoder {
            factory: self.factory.clone(),
            file_schema: self.file_schema.clone(),
            props: self.props.clone(),
            first: self.first,
            min_compression_saving: self.min_compression_saving,
            arrow: self.arrow.clone(),
            leaves: self.leaves.clone(),
            in_progress: None,
            held: Vec::new(),
            held_bytes: 0,
            holds_tiny: false,
            next_index: self.next_index,
            max_rows: self.max_rows,
            max_bytes: self.max_bytes,
            threads: 1,
        };
        self.next_index += 1;
        job
    }

    /// Encodes gathered slices into row groups (one, unless its encoded bytes reach
    /// the byte limit first).
    fn encode_all(mut self, slices: &[RecordBatch]) -> ParquetResult<Vec<EncodedRowGroup>> {
        let mut out = Vec::with_capacity(1);
        for s in slices {
            self.write(s, |rg| {
                out.push(rg);
                Ok(())
            })?;
        }
        if let Some(rg) = self.in_progress.take() {
            out.push(self.close(rg)?);
        }
        Ok(out)
    }

    /// Encodes gathered slices into one row group column by column (each top-level
    /// field with its leaves over all the slices), sending each column chunk to the
    /// thread that writes the file as soon as it is closed, so the chunks of the row
    /// group being written out do not wait in memory (see [`Pipeline`]). Each column
    /// writer gets the same calls in the same order as in [`RowGroupEncoder::write`],
    /// so the chunks are the same bytes.
    fn encode_streaming(self, slices: &[RecordBatch], out: &ChunkSender) -> ParquetResult<()> {
        out.wait_for_predecessor();
        let mut writers = self.factory.create_column_writers(self.next_index)?.into_iter();
        for (field, n) in self.leaves.iter().enumerate() {
            let mut mine: Vec<ArrowColumnWriter> = writers.by_ref().take(*n).collect();
            out.wait_for_room();
            for s in slices {
                write_field(&self.arrow, s, field, &mut mine)?;
                out.encoded(s.columns().get(field).map_or(0, array_bytes));
            }
            for w in mine {
                out.send(w.close()?)?;
            }
        }
        Ok(())
    }
}

/// Writes one top-level field of `batch` (all its leaves) into its column writers.
fn write_field(
    arrow: &SchemaRef,
    batch: &RecordBatch,
    field: usize,
    writers: &mut [ArrowColumnWriter],
) -> ParquetResult<()> {
    let (Some(f), Some(column)) = (arrow.fields().get(field), batch.columns().get(field)) else {
        return Err(parquet::errors::ParquetError::General(format!("no column {field} in the batch")));
    };
    let leaves = compute_leaves(f, column)?;
    if leaves.len() != writers.len() {
        return Err(parquet::errors::ParquetError::General(format!(
            "column {} has {} leaves, the file {}",
            f.name(),
            leaves.len(),
            writers.len()
        )));
    }
    for (leaf, w) in leaves.iter().zip(writers.iter_mut()) {
        w.write(leaf)?;
    }
    Ok(())
}

/// How a pipelined row group's column chunks reach the thread that writes the file,
/// and the two rules that bound how many wait there.
///
/// The thread writing the file takes the chunks of the oldest row group in flight as
/// its job closes them. A newer row group's chunks must wait until every older one is
/// written out, so:
///
/// - **Staggered starts.** A job starts once the job before it has encoded 1/depth of
///   its input. Jobs dispatched together (the pipeline's first ones) would otherwise
///   run in step, and each newer one would have its whole row group encoded, waiting,
///   by the time the one before it is written out; staggered, it has about half. Later
///   jobs are dispatched as older ones finish, which keeps the stagger.
/// - **Budget.** A job that is not the oldest stops before starting its next column
///   while more than `budget` bytes of its chunks wait (half an average row group of
///   the file), until the writer starts taking them.
///
/// The oldest job never waits (the one before it has ended, and the writer takes its
/// chunks), so the jobs are never all waiting; a waiting job costs a thread's time
/// only at the pipeline's start (the stagger) or when a row group's columns come out
/// very unequal. Measured on the bench's 10M-row append (tmpfs, `peers bulk`, 5
/// interleaved runs, medians): peak memory over the data 50 MiB when whole row groups
/// were handed over, 33 and 35 MiB (two sets) streamed without these rules, 31 MiB
/// with them.
struct ChunkFlow {
    state: std::sync::Mutex<FlowState>,
    changed: std::sync::Condvar,
}

struct FlowState {
    /// Encoded bytes sent so far.
    sent: usize,
    /// Arrow bytes of input encoded so far.
    encoded: usize,
    /// The job ended, or will never run.
    ended: bool,
    /// Bytes that may wait before the job stops.
    budget: usize,
    /// The writer takes this row group's chunks now, or has given up on them: the job
    /// never stops again.
    draining: bool,
}

/// The encoding job's end of a [`ChunkFlow`]. Dropping it (the job ended, or will
/// never run) releases the job after it.
struct ChunkSender {
    tx: std::sync::mpsc::Sender<ArrowColumnChunk>,
    flow: Arc<ChunkFlow>,
    /// The row group before this one, and how much of its input it must have encoded
    /// before this one starts.
    after: Option<(Arc<ChunkFlow>, usize)>,
}

/// The writing thread's end of a [`ChunkFlow`]. Dropping it releases the job.
struct ChunkReceiver {
    rx: std::sync::mpsc::Receiver<ArrowColumnChunk>,
    flow: Arc<ChunkFlow>,
}

fn chunk_flow(budget: usize, after: Option<(Arc<ChunkFlow>, usize)>) -> (ChunkSender, ChunkReceiver) {
    let flow = Arc::new(ChunkFlow {
        state: std::sync::Mutex::new(FlowState { sent: 0, encoded: 0, ended: false, budget, draining: false }),
        changed: std::sync::Condvar::new(),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    (ChunkSender { tx, flow: flow.clone(), after }, ChunkReceiver { rx, flow })
}

impl ChunkSender {
    /// Waits until the row group before this one has encoded its share of its input
    /// (or ended), so row groups in flight run staggered (see [`ChunkFlow`]).
    fn wait_for_predecessor(&self) {
        let Some((before, need)) = &self.after else { return };
        let mut s = crate::sync::lock(&before.state);
        while !s.ended && s.encoded < *need {
            s = before.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Records `bytes` more of input encoded (for the job after this one).
    fn encoded(&self, bytes: usize) {
        crate::sync::lock(&self.flow.state).encoded += bytes;
        self.flow.changed.notify_all();
    }

    /// Waits while more than the budget of this row group's chunks wait for the writer.
    fn wait_for_room(&self) {
        let mut s = crate::sync::lock(&self.flow.state);
        while !s.draining && s.sent > s.budget {
            s = self.flow.changed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn send(&self, chunk: ArrowColumnChunk) -> ParquetResult<()> {
        let bytes = usize::try_from(chunk.close().metadata.compressed_size()).unwrap_or(0);
        crate::sync::lock(&self.flow.state).sent += bytes;
        self.tx
            .send(chunk)
            .map_err(|_| parquet::errors::ParquetError::General("the file writer stopped taking this row group".into()))
    }
}

impl ChunkReceiver {
    /// The writer takes the chunks from now on: the job need not stop for room.
    fn drain(&self) {
        crate::sync::lock(&self.flow.state).draining = true;
        self.flow.changed.notify_all();
    }
}

impl Drop for ChunkSender {
    fn drop(&mut self) {
        crate::sync::lock(&self.flow.state).ended = true;
        self.flow.changed.notify_all();
    }
}

impl Drop for ChunkReceiver {
    fn drop(&mut self) {
        // A job never waits for a writer that is gone (an error, or the write dropped).
        self.drain();
    }
}

/// A row group being encoded by a pool thread.
struct InFlight {
    /// Arrow bytes of its rows.
    input_bytes: usize,
    job: Job<ParquetResult<()>>,
    chunks: ChunkReceiver,
}

/// Row groups encoded on pool threads (see [`ParquetFileWriter`]).
struct Pipeline {
    /// Slices of the row group being gathered.
    gathered: Vec<RecordBatch>,
    gathered_rows: usize,
    gathered_bytes: usize,
    /// Row groups being encoded, oldest first.
    in_flight: std::collections::VecDeque<InFlight>,
    /// Row groups encoded at once at most.
    depth: usize,
}

impl Pipeline {
    fn input_bytes(&self) -> usize {
        self.gathered_bytes + self.in_flight.iter().map(|f| f.input_bytes).sum::<usize>()
    }
}

impl Output {
    /// Writes an encoded row group out to the file.
    fn append(&mut self, rg: EncodedRowGroup) -> ParquetResult<()> {
        self.input_written += rg.input_bytes;
        let mut out = self.file.next_row_group()?;
        for chunk in rg.chunks {
            chunk.append_to_row_group(&mut out)?;
        }
        out.close()?;
        Ok(())
    }

    /// With `sync_early`, makes what was written out so far durable now (on the calling
    /// thread: the pipeline calls it when that thread would otherwise wait for the
    /// encoders), so the sync at the end of the file has little left: a large durable
    /// append's data reaches the disk while it is still being encoded. An error here is
    /// the write's: a later sync on another descriptor (the commit's) may not report it
    /// again.
    fn sync_written(&mut self) -> ParquetResult<()> {
        if !self.sync_early {
            return Ok(());
        }
        self.file.flush()?;
        self.file.inner_mut().sync_so_far()?;
        Ok(())
    }
}

impl ParquetFileWriter {
    fn try_new(
        file: Box<dyn NewFile>,
        arrow: SchemaRef,
        options: ArrowWriterOptions,
        threads: usize,
        pipeline: bool,
        sync_early: bool,
        min_compression_saving: f64,
    ) -> ParquetResult<Self> {
        // ArrowWriter builds the file writer exactly as before (Parquet schema, the
        // embedded Arrow schema, properties); only the encoding loop is ours.
        let (file, factory) =
            ArrowWriter::try_new_with_options(file, arrow.clone(), options)?.into_serialized_writer()?;
        let descr = file.schema_descr();
        let mut leaves = vec![0; arrow.fields().len()];
        for i in 0..descr.num_columns() {
            if let Some(n) = leaves.get_mut(descr.get_column_root_idx(i)) {
                *n += 1;
            }
        }
        let props = file.properties();
        let max_rows = props.max_row_group_row_count().unwrap_or(usize::MAX).max(1);
        let max_bytes = props.max_row_group_bytes().unwrap_or(usize::MAX).max(1);
        let encoder = RowGroupEncoder {
            factory: Arc::new(factory),
            file_schema: descr.root_schema_ptr(),
            props: props.clone(),
            first: true,
            min_compression_saving,
            arrow,
            leaves: leaves.into(),
            in_progress: None,
            held: Vec::new(),
            held_bytes: 0,
            holds_tiny: true,
            next_index: 0,
            max_rows,
            max_bytes,
            threads,
        };
        let pipeline = (pipeline && threads > 1).then(|| Pipeline {
            gathered: Vec::new(),
            gathered_rows: 0,
            gathered_bytes: 0,
            in_flight: Default::default(),
            depth: threads,
        });
        let out = Output { file, input_written: 0, sync_early };
        Ok(ParquetFileWriter { out, encoder, pipeline })
    }

    fn bytes_written(&self) -> usize {
        self.out.file.bytes_written()
    }

    /// Estimated encoded size of the rows not written out yet: the row group in
    /// progress, or the pipelined rows at the encoded width of the row groups written.
    fn in_progress_size(&self) -> usize {
        let mut size =
            self.encoder.in_progress.as_ref().map_or(0, RowGroupInProgress::estimated_bytes) + self.encoder.held_bytes;
        if let Some(p) = &self.pipeline {
            let input = p.input_bytes();
            if input > 0 {
                let ratio = match self.out.input_written {
                    0 => 1.0,
                    n => self.out.file.bytes_written() as f64 / n as f64,
                };
                size += (input as f64 * ratio) as usize;
            }
        }
        size
    }

    /// Memory the rows not written out yet hold (the pipeline's as their input bytes).
    fn memory_size(&self) -> usize {
        let encoding = self
            .encoder
            .in_progress
            .as_ref()
            .map_or(0, |rg| rg.writers.iter().map(ArrowColumnWriter::memory_size).sum::<usize>())
            + self.encoder.held_bytes;
        encoding + self.pipeline.as_ref().map_or(0, Pipeline::input_bytes)
    }

    fn write(&mut self, batch: &RecordBatch) -> ParquetResult<()> {
        let ParquetFileWriter { out, encoder, pipeline } = self;
        let total = batch.num_rows();
        let mut offset = 0;
        while offset < total {
            match pipeline {
                Some(p) if encoder.in_progress.is_none() && !out.file.flushed_row_groups().is_empty() => {
                    let rest = if offset == 0 { batch.clone() } else { batch.slice(offset, total - offset) };
                    return Self::gather(out, encoder, p, &rest);
                }
                _ => {
                    // With a pipeline, fill the row group in progress only, so the
                    // pipeline takes over at the next row group.
                    let take = match pipeline {
                        Some(_) => (total - offset).min(encoder.max_rows.saturating_sub(encoder.rows()).max(1)),
                        None => total - offset,
                    };
                    let slice = if offset == 0 && take == total { batch.clone() } else { batch.slice(offset, take) };
                    encoder.write(&slice, |rg| out.append(rg))?;
                    offset += take;
                }
            }
        }
        Ok(())
    }

    /// Adds `batch` to the pipeline's row group being gathered, handing each full one
    /// to a pool thread.
    fn gather(
        out: &mut Output,
        encoder: &mut RowGroupEncoder,
        p: &mut Pipeline,
        batch: &RecordBatch,
    ) -> ParquetResult<()> {
        let total = batch.num_rows();
        let width = input_bytes(batch) / total.max(1);
        let mut offset = 0;
        while offset < total {
            let mut take = (total - offset).min(encoder.max_rows.saturating_sub(p.gathered_rows));
            // Gathered input is bounded by the byte limit too (wide rows).
            if let Some(fit) = encoder.max_bytes.saturating_sub(p.gathered_bytes).checked_div(width) {
                take = take.min(fit);
            }
            let take = take.max(1);
            let slice = if offset == 0 && take == total { batch.clone() } else { batch.slice(offset, take) };
            p.gathered_bytes += input_bytes(&slice);
            p.gathered_rows += take;
            p.gathered.push(slice);
            offset += take;
            if p.gathered_rows >= encoder.max_rows || p.gathered_bytes >= encoder.max_bytes {
                Self::dispatch(out, encoder, p)?;
            }
        }
        Ok(())
    }

    /// Hands the gathered row group to a pool thread, first writing out the oldest
    /// row groups in flight while `depth` are.
    fn dispatch(out: &mut Output, encoder: &mut RowGroupEncoder, p: &mut Pipeline) -> ParquetResult<()> {
        while p.in_flight.len() > p.depth {
            Self::write_oldest(out, p)?;
        }
        // At `depth` in flight, the oldest is waited for and written out before the next
        // starts (at most `depth` row groups encoded, and one more held, at once), but
        // synced after, while the encoders are busy.
        let sync = p.in_flight.len() >= p.depth;
        if sync {
            Self::write_oldest(out, p)?;
        }
        let slices = std::mem::take(&mut p.gathered);
        let bytes = std::mem::take(&mut p.gathered_bytes);
        p.gathered_rows = 0;
        if !slices.is_empty() {
            let job = encoder.for_job();
            #[cfg(test)]
            PIPELINED_ROW_GROUPS.with(|n| n.set(n.get() + 1));
            // Half an average row group of this file may wait, and a row group starts
            // once the one before it has encoded 1/depth of its input (see `ChunkFlow`).
            let written = out.file.flushed_row_groups().len().max(1);
            let after = p.in_flight.back().map(|f| (f.chunks.flow.clone(), f.input_bytes / p.depth.max(1)));
            let (sender, chunks) = chunk_flow(out.file.bytes_written() / written / 2, after);
            let job = crate::sync::spawn(move || job.encode_streaming(&slices, &sender));
            p.in_flight.push_back(InFlight { input_bytes: bytes, job, chunks });
        }
        if sync {
            out.sync_written()?;
        }
        Ok(())
    }

    /// Writes out the oldest row group in flight, each column chunk as its job sends it.
    fn write_oldest(out: &mut Output, p: &mut Pipeline) -> ParquetResult<()> {
        let Some(InFlight { input_bytes, job, chunks }) = p.in_flight.pop_front() else {
            return Ok(());
        };
        chunks.drain();
        // A job no pool thread has started runs here (its chunks then wait in the
        // channel), so this never waits for a free thread.
        job.start_here();
        let mut rg = out.file.next_row_group()?;
        let appended = chunks.rx.iter().try_for_each(|chunk| chunk.append_to_row_group(&mut rg));
        drop(chunks);
        let encoded = job
            .join()
            .map_err(|panic| parquet::errors::ParquetError::General(format!("encoding a row group panicked: {panic}")));
        // The writer's own error first (a full disk): the job then only saw the writer
        // stop. Otherwise the job's error explains a row group that ended early.
        appended?;
        encoded??;
        rg.close()?;
        out.input_written += input_bytes;
        Ok(())
    }

    /// Writes every row not written out yet (the row group in progress, the pipeline's).
    fn flush(&mut self) -> ParquetResult<()> {
        let ParquetFileWriter { out, encoder, pipeline } = self;
        for rg in encoder.close_held()? {
            out.append(rg)?;
        }
        if let Some(rg) = encoder.in_progress.take() {
            out.append(encoder.close(rg)?)?;
        }
        if let Some(p) = pipeline {
            if p.in_flight.is_empty() && !p.gathered.is_empty() {
                // Nothing else to overlap with: the calling thread encodes the last row
                // group, its columns spread over the threads.
                let slices = std::mem::take(&mut p.gathered);
                (p.gathered_rows, p.gathered_bytes) = (0, 0);
                let mut job = encoder.for_job();
                job.threads = encoder.threads;
                for rg in job.encode_all(&slices)? {
                    out.append(rg)?;
                }
            }
            Self::dispatch(out, encoder, p)?;
            while !p.in_flight.is_empty() {
                Self::write_oldest(out, p)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> ParquetResult<ParquetMetaData> {
        self.flush()?;
        self.out.file.finish()
    }

    fn inner_mut(&mut self) -> &mut Box<dyn NewFile> {
        self.out.file.inner_mut()
    }
}

#[cfg(test)]
thread_local! {
    /// Row groups this thread handed to the pipeline (tests check it ran).
    static PIPELINED_ROW_GROUPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Chunks of fewer uncompressed bytes than this are not judged (a page or so: its header
/// and a short sample would decide for the whole file).
const COMPRESSION_JUDGED_MIN_BYTES: i64 = 64 * 1024;

/// True when a compressed column chunk saved less than `min_saving` (a fraction) of its
/// uncompressed bytes.
fn compression_did_not_pay(m: &ColumnChunkMetaData, min_saving: f64) -> bool {
    let (compressed, uncompressed) = (m.compressed_size(), m.uncompressed_size());
    m.compression() != Compression::UNCOMPRESSED
        && uncompressed >= COMPRESSION_JUDGED_MIN_BYTES
        && (compressed as f64) > (uncompressed as f64) * (1.0 - min_saving)
}

/// True when a column chunk with these page encodings attempted a dictionary and fell
/// back: a dictionary page, and data pages not encoded with it.
fn dictionary_fell_back(stats: &[PageEncodingStats]) -> bool {
    let data = |t: &PageType| matches!(t, PageType::DATA_PAGE | PageType::DATA_PAGE_V2);
    stats.iter().any(|s| s.page_type == PageType::DICTIONARY_PAGE)
        && stats
            .iter()
            .any(|s| data(&s.page_type) && !matches!(s.encoding, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY))
}

/// Top-level fields (by index) with their column writers.
type FieldWriters<'a> = Vec<(usize, &'a mut [ArrowColumnWriter])>;

/// Encodes one slice into the row group's column writers: each top-level field's
/// leaves by one thread, fields spread over up to `threads` threads (the largest by
/// `cost`, the columns' bytes, first, each to the least loaded thread). Small slices
/// stay on the calling thread.
fn encode_columns(
    writers: &mut [ArrowColumnWriter],
    leaves: &[usize],
    arrow: &SchemaRef,
    batch: &RecordBatch,
    cost: &[usize],
    threads: usize,
) -> ParquetResult<()> {
    let mut per_field: FieldWriters<'_> = Vec::with_capacity(leaves.len());
    let mut rest = writers;
    for (i, n) in leaves.iter().enumerate() {
        let k = (*n).min(rest.len());
        let (mine, tail) = std::mem::take(&mut rest).split_at_mut(k);
        per_field.push((i, mine));
        rest = tail;
    }
    let encode = |field: usize, writers: &mut [ArrowColumnWriter]| write_field(arrow, batch, field, writers);
    let threads = threads.min(per_field.len());
    if threads <= 1 || cost.iter().sum::<usize>() < PARALLEL_MIN_BYTES {
        for (field, w) in per_field {
            encode(field, w)?;
        }
        return Ok(());
    }
    #[cfg(test)]
    PARALLEL_SLICES.with(|n| n.set(n.get() + 1));
    // Largest field first, each to the least loaded group.
    per_field.sort_by_key(|(field, _)| std::cmp::Reverse(cost.get(*field).copied().unwrap_or(0)));
    let mut groups: Vec<(usize, FieldWriters<'_>)> = (0..threads).map(|_| (0, Vec::new())).collect();
    for (field, w) in per_field {
        if let Some(g) = groups.iter_mut().min_by_key(|(load, _)| *load) {
            g.0 += cost.get(field).copied().unwrap_or(0);
            g.1.push((field, w));
        }
    }
    let groups: Vec<std::sync::Mutex<FieldWriters<'_>>> =
        groups.into_iter().filter(|(_, g)| !g.is_empty()).map(|(_, g)| std::sync::Mutex::new(g)).collect();
    let results = crate::sync::map(&groups, threads, |group| -> ParquetResult<()> {
        let mut group = crate::sync::lock(group);
        for (field, w) in group.iter_mut() {
            encode(*field, w)?;
        }
        Ok(())
    });
    for r in results {
        r.map_err(|panic| parquet::errors::ParquetError::General(format!("encoding a column panicked: {panic}")))??;
    }
    Ok(())
}

#[cfg(test)]
thread_local! {
    /// Slices this thread encoded on several threads (tests check the parallel path ran).
    static PARALLEL_SLICES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

struct OpenFile {
    key: Key,
    path: PathBuf,
    writer: ParquetFileWriter,
    rows: usize,
    nan_counts: Vec<i64>,
}

/// Writes conformed batches into Parquet data files under one directory, rolling to a new
/// file at [`WriteOptions::target_file_size_bytes`].
///
/// Files are named `<prefix>-<n>.parquet` (n = 0, 1, …) and created exclusively: an
/// existing file is never overwritten (the write fails instead). If anything fails, the
/// files in [`created_keys`](Self::created_keys) (or returned by
/// [`abort`](Self::abort)) are the caller's to delete; none of them is referenced by any
/// table metadata yet.
pub struct DataFileWriter {
    storage: Arc<dyn Storage>,
    dir: Option<Key>,
    prefix: String,
    schema: Schema,
    arrow: SchemaRef,
    /// The Parquet schema files are written with, when it differs from the Arrow
    /// writer's own conversion of `arrow` (uuid annotations, see `parquet_schema`).
    parquet_schema: Option<SchemaDescriptor>,
    props: WriterProperties,
    opts: WriteOptions,
    nan_leaves: Vec<NanLeaf>,
    current: Option<OpenFile>,
    next_index: usize,
    created: Vec<Key>,
    created_dir: bool,
    finished: Vec<DataFile>,
    /// Whether row groups after a file's first are encoded on pool threads (see
    /// `ParquetFileWriter`); off for partitioned writes.
    pipeline_row_groups: bool,
}

impl std::fmt::Debug for DataFileWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataFileWriter")
            .field("dir", &self.dir)
            .field("prefix", &self.prefix)
            .field("opts", &self.opts)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

// `new` and `arrow_schema` serve the `testing` feature's users (the write_speed bench).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
impl DataFileWriter {
    /// A writer for files `dir/<file_prefix>-<n>.parquet` holding rows of `schema`,
    /// on the local file system confined to `dir` (see [`with_storage`](Self::with_storage)).
    /// Nothing is created until the first non-empty batch.
    pub fn new(dir: &Path, file_prefix: &str, schema: &Schema, opts: WriteOptions) -> Self {
        Self::with_storage(Arc::new(LocalStorage::new(dir)), None, file_prefix, schema, opts)
    }

    /// Like [`new`](Self::new), writing `dir/<file_prefix>-<n>.parquet` (`dir` a key of
    /// `storage`, its root for `None`) through `storage` (a table's).
    pub fn with_storage(
        storage: Arc<dyn Storage>,
        dir: Option<Key>,
        file_prefix: &str,
        schema: &Schema,
        opts: WriteOptions,
    ) -> Self {
        let props = WriterProperties::builder()
            .set_compression(opts.compression)
            .set_max_row_group_row_count(Some(opts.row_group_size.max(1)))
            .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
            // Page-level statistics give chunk statistics (our column bounds) plus the
            // page index readers prune pages with.
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_key_value_metadata(Some(vec![KeyValue::new(
                ICEBERG_SCHEMA_KEY.to_string(),
                schema.json_text().to_string(),
            )]))
            .build();
        let mut nan_leaves = Vec::new();
        collect_nan_leaves(schema.fields(), &mut Vec::new(), &mut nan_leaves);
        let arrow = Arc::new(schema.to_arrow());
        DataFileWriter {
            storage,
            dir,
            prefix: file_prefix.to_string(),
            schema: schema.clone(),
            parquet_schema: parquet_schema(schema, &arrow),
            arrow,
            props,
            opts,
            nan_leaves,
            current: None,
            next_index: 0,
            created: Vec::new(),
            created_dir: false,
            finished: Vec::new(),
            pipeline_row_groups: true,
        }
    }

    /// Leaves uuid columns without the Parquet `UUID` logical type (a bare
    /// `fixed_len_byte_array(16)`, as floe wrote them before and datashard writes
    /// them). For tables datashard writes to: pyarrow reads an annotated column as
    /// `arrow.uuid`, which datashard 0.11.2 cannot combine with its own uuid files in
    /// one scan. Call before the first write.
    pub(crate) fn without_uuid_annotation(mut self) -> Self {
        self.parquet_schema = None;
        self
    }

    /// Encodes every row group on the calling thread (columns still spread over
    /// `encode_threads`). For partitioned writes: many files are open at once, each
    /// flushed when the writers' buffered bytes exceed their bound, and a pipeline
    /// would hold input batches instead of encoded pages.
    pub(crate) fn without_row_group_pipelining(mut self) -> Self {
        self.pipeline_row_groups = false;
        self
    }

    /// The table's Arrow schema that written batches have.
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.arrow
    }

    /// Every file this writer created so far, including one still being written (keys
    /// of its storage).
    pub fn created_keys(&self) -> &[Key] {
        &self.created
    }

    /// True when this writer had to create its directory (a caller that syncs files
    /// itself must then also sync the directory's parent).
    pub fn created_dir(&self) -> bool {
        self.created_dir
    }

    /// Writes one batch (conformed by [`conform_batch`]; a batch that is not is conformed
    /// here, which copies nothing when its types already match).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        // Conform again: cheap for a conformed batch (a schema comparison), and the
        // Parquet writer trusts the batch's layout blindly (a foreign one would make it
        // fail deep inside or, worse, write columns under the wrong ids).
        let batch = conform_to(&self.schema, &self.arrow, batch)?;
        let total = batch.num_rows();
        let target = self.opts.target_file_size_bytes;
        let mut offset = 0;
        while offset < total {
            if self.current.is_none() {
                self.open_next()?;
            }
            let Some(file) = self.current.as_mut() else {
                break;
            };
            // Size the slice so the file stops near the target: rows that still fit at
            // the average encoded row width so far (a probe slice for a fresh file).
            let written = (file.writer.bytes_written() + file.writer.in_progress_size()) as u64;
            let rows = if file.rows == 0 || written == 0 {
                PROBE_ROWS
            } else {
                let per_row = (written / file.rows as u64).max(1);
                (target.saturating_sub(written) / per_row + 1).min(usize::MAX as u64) as usize
            };
            let rows = rows.max(MIN_CHUNK_ROWS).min(total - offset);
            let slice = batch.slice(offset, rows);
            for (leaf, n) in self.nan_leaves.iter().zip(file.nan_counts.iter_mut()) {
                *n += count_nans(&slice, leaf);
            }
            file.writer.write(&slice).map_err(|e| Error::Parquet { path: file.path.clone(), source: e })?;
            file.rows += rows;
            offset += rows;
            let written = (file.writer.bytes_written() + file.writer.in_progress_size()) as u64;
            if written >= target {
                self.close_current()?;
            }
        }
        Ok(())
    }

    /// Closes the last file, fsyncs (when durable) and describes every file written.
    pub fn finish(self) -> Result<Vec<DataFile>> {
        let (files, pending) = self.finish_later()?;
        if let Some(p) = pending {
            p.wait()?;
        }
        Ok(files)
    }

    /// Like [`finish`](Self::finish), but the last file's upload may still be in flight
    /// (an object store's one PUT of a small file): the caller overlaps it with other
    /// work and waits for it before naming the file in a commit.
    pub(crate) fn finish_later(mut self) -> Result<(Vec<DataFile>, Option<PendingUpload>)> {
        let pending = self.close_current_with(true)?;
        if self.opts.durable && !self.created.is_empty() {
            // The new directory entries must survive a power cut too.
            self.sync_dir(self.dir.as_ref())?;
            if self.created_dir {
                match &self.dir {
                    Some(dir) => self.sync_dir(dir.parent().as_ref())?,
                    None => {
                        self.storage.sync_root_entry().map_err(|e| Error::io(self.storage.display_path(None), e))?
                    }
                }
            }
        }
        Ok((std::mem::take(&mut self.finished), pending))
    }

    /// True while a file is open (created and not yet finished).
    pub(crate) fn has_open_file(&self) -> bool {
        self.current.is_some()
    }

    /// Bytes the open file's writer holds in memory (its in-progress row group).
    pub(crate) fn buffered_bytes(&self) -> u64 {
        self.current.as_ref().map_or(0, |f| f.writer.memory_size() as u64)
    }

    /// Writes the open file's buffered rows out as a row group (the file stays open).
    pub(crate) fn flush_row_group(&mut self) -> Result<()> {
        match self.current.as_mut() {
            Some(f) => f.writer.flush().map_err(|e| Error::Parquet { path: f.path.clone(), source: e }),
            None => Ok(()),
        }
    }

    /// Finishes the open file now (it is reported by [`finish`](Self::finish) like any
    /// other); the next row written starts a new file.
    pub(crate) fn close_file(&mut self) -> Result<()> {
        self.close_current()
    }

    /// Stops without finishing the open file (which is left without a footer) and returns
    /// every key created, for the caller to delete.
    pub fn abort(mut self) -> Vec<Key> {
        self.current = None;
        std::mem::take(&mut self.created)
    }

    fn open_next(&mut self) -> Result<()> {
        let name = format!("{}-{}.parquet", self.prefix, self.next_index);
        let key = match &self.dir {
            Some(dir) => dir.join(&name),
            None => Key::new(name),
        }
        .map_err(|e| Error::InvalidArgument(format!("data file name: {e}")))?;
        let path = self.storage.display_path(Some(&key));
        self.next_index += 1;
        // create_new: never overwrite a file someone else (or an earlier attempt) wrote.
        let create = || self.storage.create_new(&key);
        let file = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The data (or partition) directory appears with its first file.
                self.storage
                    .create_dir_all(self.dir.as_ref())
                    .map_err(|e| Error::io(self.storage.display_path(self.dir.as_ref()), e))?;
                self.created_dir = true;
                create()
            }
            other => other,
        };
        let file = match file {
            Ok(f) => f,
            // Another error may come after the file was created (an ambiguous create):
            // the name is ours (unique prefix), so it is registered for cleanup.
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                self.created.push(key);
                return Err(Error::io(&path, e));
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        self.created.push(key.clone());
        let mut options = ArrowWriterOptions::new().with_properties(self.props.clone());
        if let Some(descr) = &self.parquet_schema {
            options = options.with_parquet_schema(descr.clone());
        }
        let threads = self.opts.encode_threads.max(1);
        let sync_early = self.opts.durable || self.opts.sync_early;
        let writer = ParquetFileWriter::try_new(
            file,
            self.arrow.clone(),
            options,
            threads,
            self.pipeline_row_groups,
            sync_early,
            self.opts.min_compression_saving,
        )
        .map_err(|e| Error::Parquet { path: path.clone(), source: e })?;
        let nan_counts = vec![0; self.nan_leaves.len()];
        self.current = Some(OpenFile { key, path, writer, rows: 0, nan_counts });
        Ok(())
    }

    fn close_current(&mut self) -> Result<()> {
        match self.close_current_with(false)? {
            Some(p) => p.wait(),
            None => Ok(()),
        }
    }

    /// Closes the open file; with `later`, its upload may still be in flight (returned).
    fn close_current_with(&mut self, later: bool) -> Result<Option<PendingUpload>> {
        let Some(mut open) = self.current.take() else {
            return Ok(None);
        };
        let parquet_err = |e| Error::Parquet { path: open.path.clone(), source: e };
        let meta = open.writer.finish().map_err(parquet_err)?;
        // Flushes (a failed flush is an error here, not lost in a drop) and fsyncs.
        let pending = if later {
            let wait =
                open.writer.inner_mut().complete_later(self.opts.durable).map_err(|e| Error::io(&open.path, e))?;
            Some(PendingUpload { path: open.path.clone(), wait })
        } else {
            open.writer.inner_mut().complete(self.opts.durable).map_err(|e| Error::io(&open.path, e))?;
            None
        };
        let size = open.writer.bytes_written() as u64;
        let uri = self.storage.url(&open.key);
        let mut data_file = data_file_from_parquet_metadata(&uri, size, &meta, &self.schema);
        for (leaf, n) in self.nan_leaves.iter().zip(&open.nan_counts) {
            data_file.nan_value_counts.insert(leaf.field_id, *n);
        }
        self.finished.push(data_file);
        Ok(pending)
    }
}

/// A data file whose upload is still in flight ([`DataFileWriter::finish_later`]).
#[derive(Debug)]
pub(crate) struct PendingUpload {
    pub(crate) path: PathBuf,
    pub(crate) wait: PendingWrite,
}

impl PendingUpload {
    /// Waits for the upload; its error names the file.
    pub(crate) fn wait(self) -> Result<()> {
        self.wait.wait().map_err(|e| Error::io(&self.path, e))
    }
}

impl DataFileWriter {
    fn sync_dir(&self, dir: Option<&Key>) -> Result<()> {
        self.storage.sync_dir(dir).map_err(|e| Error::io(self.storage.display_path(dir), e))
    }
}

// ---------------------------------------------------------------------------------------
// Statistics from the Parquet footer
// ---------------------------------------------------------------------------------------

/// Primitive columns that get metrics: top-level ones and struct fields, by id and by
/// name path (for files without field ids). List and map leaves get none: their counts
/// are of elements, not rows, and Iceberg readers may not prune on them.
struct MetricLeaves {
    by_id: HashMap<i32, PrimitiveType>,
    by_path: HashMap<Vec<String>, i32>,
}

/// The Parquet schema for `schema`'s files when the Arrow writer's own conversion of
/// `arrow` is not enough: Arrow has no uuid type (a uuid column is `FixedSizeBinary(16)`
/// there, which converts to a bare `fixed_len_byte_array(16)`), and the Iceberg spec maps
/// uuid to `fixed_len_byte_array(16)` with the `UUID` logical type. `None` for a schema
/// without uuid columns, or when the conversion fails (the writer then reports that
/// same conversion error when it opens a file).
fn parquet_schema(schema: &Schema, arrow: &ArrowSchema) -> Option<SchemaDescriptor> {
    fn uuid_ids(ty: &Type, id: i32, out: &mut HashSet<i32>) {
        match ty {
            Type::Primitive(PrimitiveType::Uuid) => {
                out.insert(id);
            }
            Type::Primitive(_) => {}
            Type::Struct(st) => st.fields.iter().for_each(|f| uuid_ids(&f.field_type, f.id, out)),
            Type::List(l) => uuid_ids(&l.element, l.element_id, out),
            Type::Map(m) => {
                uuid_ids(&m.key, m.key_id, out);
                uuid_ids(&m.value, m.value_id, out);
            }
        }
    }
    let mut ids = HashSet::new();
    for f in schema.fields() {
        uuid_ids(&f.field_type, f.id, &mut ids);
    }
    if ids.is_empty() {
        return None;
    }
    let descr = ArrowSchemaConverter::new().convert(arrow).ok()?;
    let root = annotate_uuids(&descr.root_schema_ptr(), &ids).ok()?;
    Some(SchemaDescriptor::new(root))
}

/// `t` with the `UUID` logical type on every `fixed_len_byte_array(16)` leaf whose field
/// id is in `ids`; everything else (names, repetition, ids, other annotations) as it was.
fn annotate_uuids(t: &TypePtr, ids: &HashSet<i32>) -> parquet::errors::Result<TypePtr> {
    match t.as_ref() {
        ParquetType::PrimitiveType {
            basic_info,
            physical_type: PhysicalType::FIXED_LEN_BYTE_ARRAY,
            type_length: 16,
            ..
        } if basic_info.has_id() && ids.contains(&basic_info.id()) && basic_info.has_repetition() => {
            let leaf = ParquetType::primitive_type_builder(basic_info.name(), PhysicalType::FIXED_LEN_BYTE_ARRAY)
                .with_length(16)
                .with_repetition(basic_info.repetition())
                .with_logical_type(Some(LogicalType::Uuid))
                .with_id(Some(basic_info.id()))
                .build()?;
            Ok(Arc::new(leaf))
        }
        ParquetType::PrimitiveType { .. } => Ok(t.clone()),
        ParquetType::GroupType { basic_info, fields } => {
            let fields = fields.iter().map(|f| annotate_uuids(f, ids)).collect::<parquet::errors::Result<Vec<_>>>()?;
            let mut group = ParquetType::group_type_builder(basic_info.name())
                .with_fields(fields)
                .with_converted_type(basic_info.converted_type())
                .with_logical_type(basic_info.logical_type_ref().cloned())
                .with_id(basic_info.has_id().then(|| basic_info.id()));
            if basic_info.has_repetition() {
                group = group.with_repetition(basic_info.repetition());
            }
            Ok(Arc::new(group.build()?))
        }
    }
}

fn metric_leaves(schema: &Schema) -> MetricLeaves {
    fn walk(fields: &[NestedField], prefix: &mut Vec<String>, out: &mut MetricLeaves) {
        for f in fields {
            prefix.push(f.name.clone());
            match &f.field_type {
                Type::Primitive(p) => {
                    out.by_id.insert(f.id, p.clone());
                    out.by_path.insert(prefix.clone(), f.id);
                }
                Type::Struct(st) => walk(&st.fields, prefix, out),
                Type::List(_) | Type::Map(_) => {}
            }
            prefix.pop();
        }
    }
    let mut out = MetricLeaves { by_id: HashMap::new(), by_path: HashMap::new() };
    walk(schema.fields(), &mut Vec::new(), &mut out);
    out
}

#[derive(Default)]
struct ColumnAcc {
    size: i64,
    values: i64,
    nulls: Option<i64>,
    lower: Option<Datum>,
    upper: Option<Datum>,
    /// False once some row group holds values without usable min/max.
    bounds_known: bool,
}

/// Describes a Parquet file as a manifest [`DataFile`] from its footer alone: record
/// count, size, split offsets (row-group starts) and, per primitive column outside lists
/// and maps (by field id, or by name path when the file has no ids), compressed size,
/// value count, null count and bounds (strings/binary truncated to 16). NaN counts are
/// not in Parquet footers, so `nan_value_counts` stays empty here.
pub fn data_file_from_parquet_metadata(
    path_uri: &str,
    file_size: u64,
    meta: &ParquetMetaData,
    schema: &Schema,
) -> DataFile {
    let leaves = metric_leaves(schema);
    let descr = meta.file_metadata().schema_descr();
    // (parquet column index, field id, type)
    let mut columns: Vec<(usize, i32, &PrimitiveType)> = Vec::new();
    for (i, col) in descr.columns().iter().enumerate() {
        if col.max_rep_level() > 0 {
            continue;
        }
        let info = col.self_type().get_basic_info();
        let id = if info.has_id() { Some(info.id()) } else { leaves.by_path.get(col.path().parts()).copied() };
        if let Some((id, ty)) = id.and_then(|id| leaves.by_id.get(&id).map(|ty| (id, ty))) {
            columns.push((i, id, ty));
        }
    }
    let mut accs: Vec<ColumnAcc> =
        columns.iter().map(|_| ColumnAcc { nulls: Some(0), bounds_known: true, ..Default::default() }).collect();
    let mut split_offsets = Vec::with_capacity(meta.num_row_groups());
    for rg in meta.row_groups() {
        if let Some(first) = rg.columns().first() {
            // A row group starts at its first column's dictionary page, if any.
            split_offsets.push(first.dictionary_page_offset().unwrap_or_else(|| first.data_page_offset()));
        }
        for ((i, _, ty), acc) in columns.iter().zip(accs.iter_mut()) {
            let Some(chunk) = rg.columns().get(*i) else {
                continue;
            };
            acc.size += chunk.compressed_size();
            acc.values += chunk.num_values();
            let stats = chunk.statistics();
            let nulls = stats.and_then(Statistics::null_count_opt).map(|n| n as i64);
            acc.nulls = acc.nulls.zip(nulls).map(|(a, b)| a + b);
            match stats.and_then(|s| stat_bounds(s, ty, chunk.column_descr())) {
                Some((lo, hi)) => {
                    if acc.lower.as_ref().is_none_or(|cur| lo.compare(cur) == Some(std::cmp::Ordering::Less)) {
                        acc.lower = Some(lo);
                    }
                    if acc.upper.as_ref().is_none_or(|cur| hi.compare(cur) == Some(std::cmp::Ordering::Greater)) {
                        acc.upper = Some(hi);
                    }
                }
                // A row group of nulls only has no min/max and needs none.
                None if nulls == Some(chunk.num_values()) => {}
                None => acc.bounds_known = false,
            }
        }
    }
    let mut data_file = DataFile {
        content: DataContent::Data,
        file_path: path_uri.to_string(),
        file_format: "PARQUET".to_string(),
        partition: Vec::new(),
        record_count: meta.file_metadata().num_rows(),
        file_size_in_bytes: i64::try_from(file_size).unwrap_or(i64::MAX),
        column_sizes: BTreeMap::new(),
        value_counts: BTreeMap::new(),
        null_value_counts: BTreeMap::new(),
        nan_value_counts: BTreeMap::new(),
        lower_bounds: BTreeMap::new(),
        upper_bounds: BTreeMap::new(),
        key_metadata: None,
        split_offsets: Some(split_offsets),
        equality_ids: None,
        sort_order_id: None,
    };
    for ((_, id, ty), acc) in columns.iter().zip(accs) {
        data_file.column_sizes.insert(*id, acc.size);
        data_file.value_counts.insert(*id, acc.values);
        if let Some(n) = acc.nulls {
            data_file.null_value_counts.insert(*id, n);
        }
        if !acc.bounds_known {
            continue;
        }
        if let Some(lo) = acc.lower.and_then(|d| truncate_lower(d, ty)) {
            data_file.lower_bounds.insert(*id, lo.to_bytes());
        }
        if let Some(hi) = acc.upper.and_then(|d| truncate_upper(d, ty)) {
            data_file.upper_bounds.insert(*id, hi.to_bytes());
        }
    }
    data_file
}

/// Units per second of a Parquet time/timestamp column (None when unknown).
fn time_units_per_second(descr: &ColumnDescriptor) -> Option<i64> {
    match descr.logical_type_ref() {
        Some(LogicalType::Time(t)) | Some(LogicalType::Timestamp(t)) => Some(match t.unit {
            ParquetTimeUnit::MILLIS => 1_000,
            ParquetTimeUnit::MICROS => 1_000_000,
            ParquetTimeUnit::NANOS => 1_000_000_000,
        }),
        Some(_) => None,
        None => match descr.converted_type() {
            ConvertedType::TIME_MILLIS | ConvertedType::TIMESTAMP_MILLIS => Some(1_000),
            ConvertedType::TIME_MICROS | ConvertedType::TIMESTAMP_MICROS => Some(1_000_000),
            _ => None,
        },
    }
}

/// A row group's (min, max) as Iceberg values of type `ty`, or None when the statistics
/// cannot give valid bounds (absent, NaN, legacy signed byte order, unknown unit, …).
pub(crate) fn stat_bounds(stats: &Statistics, ty: &PrimitiveType, descr: &ColumnDescriptor) -> Option<(Datum, Datum)> {
    use PrimitiveType as P;
    use Statistics as S;
    // Old writers filled the deprecated min/max of byte columns with a signed byte order.
    if stats.is_min_max_deprecated() && matches!(stats, S::ByteArray(_) | S::FixedLenByteArray(_)) {
        return None;
    }
    fn pair<T: ?Sized, U>(min: Option<&T>, max: Option<&T>, f: impl Fn(&T) -> Option<U>) -> Option<(U, U)> {
        Some((f(min?)?, f(max?)?))
    }
    let micros = |lo: i64, hi: i64| -> Option<(i64, i64)> {
        // Convert conservatively: floor the lower bound, ceil the upper one.
        match time_units_per_second(descr)? {
            1_000 => Some((lo.checked_mul(1000)?, hi.checked_mul(1000)?)),
            1_000_000 => Some((lo, hi)),
            1_000_000_000 => Some((lo.div_euclid(1000), hi.div_euclid(1000) + i64::from(hi.rem_euclid(1000) != 0))),
            _ => None,
        }
    };
    match (ty, stats) {
        (P::Boolean, S::Boolean(s)) => pair(s.min_opt(), s.max_opt(), |v| Some(Datum::Boolean(*v))),
        (P::Int, S::Int32(s)) => pair(s.min_opt(), s.max_opt(), |v| Some(Datum::Int(*v))),
        (P::Long, S::Int64(s)) => pair(s.min_opt(), s.max_opt(), |v| Some(Datum::Long(*v))),
        (P::Long, S::Int32(s)) => pair(s.min_opt(), s.max_opt(), |v| Some(Datum::Long(i64::from(*v)))),
        (P::Float, S::Float(s)) => pair(s.min_opt(), s.max_opt(), |v| (!v.is_nan()).then_some(Datum::Float(*v))),
        (P::Double, S::Double(s)) => pair(s.min_opt(), s.max_opt(), |v| (!v.is_nan()).then_some(Datum::Double(*v))),
        (P::Double, S::Float(s)) => {
            pair(s.min_opt(), s.max_opt(), |v| (!v.is_nan()).then_some(Datum::Double(f64::from(*v))))
        }
        (P::Date, S::Int32(s)) => pair(s.min_opt(), s.max_opt(), |v| Some(Datum::Date(*v))),
        (P::Time | P::Timestamp | P::Timestamptz, S::Int64(s)) => {
            let (lo, hi) = micros(*s.min_opt()?, *s.max_opt()?)?;
            Some(match ty {
                P::Time => (Datum::Time(lo), Datum::Time(hi)),
                P::Timestamp => (Datum::Timestamp(lo), Datum::Timestamp(hi)),
                _ => (Datum::Timestamptz(lo), Datum::Timestamptz(hi)),
            })
        }
        (P::Time, S::Int32(s)) => {
            let (lo, hi) = micros(i64::from(*s.min_opt()?), i64::from(*s.max_opt()?))?;
            Some((Datum::Time(lo), Datum::Time(hi)))
        }
        (P::Decimal { .. }, S::Int32(s)) => pair(s.min_opt(), s.max_opt(), |v| Some(Datum::Decimal(i128::from(*v)))),
        (P::Decimal { .. }, S::Int64(s)) => pair(s.min_opt(), s.max_opt(), |v| Some(Datum::Decimal(i128::from(*v)))),
        (P::Decimal { .. }, S::FixedLenByteArray(_) | S::ByteArray(_)) => {
            pair(stats.min_bytes_opt(), stats.max_bytes_opt(), |b: &[u8]| Datum::from_bytes(ty, b).ok())
        }
        (P::String, S::ByteArray(_)) => pair(stats.min_bytes_opt(), stats.max_bytes_opt(), |b: &[u8]| {
            std::str::from_utf8(b).ok().map(|s| Datum::String(s.into()))
        }),
        (P::Binary, S::ByteArray(_) | S::FixedLenByteArray(_)) => {
            pair(stats.min_bytes_opt(), stats.max_bytes_opt(), |b: &[u8]| Some(Datum::Binary(b.to_vec())))
        }
        (P::Uuid | P::Fixed(_), S::FixedLenByteArray(_)) => {
            pair(stats.min_bytes_opt(), stats.max_bytes_opt(), |b: &[u8]| Datum::from_bytes(ty, b).ok())
        }
        _ => None,
    }
}

/// Iceberg `truncate(16)` lower bound: a prefix is ≤ the value.
fn truncate_lower(d: Datum, ty: &PrimitiveType) -> Option<Datum> {
    match (d, ty) {
        (Datum::String(s), PrimitiveType::String) => {
            Some(Datum::String(s.chars().take(BOUND_TRUNCATE_LENGTH).collect()))
        }
        (Datum::Binary(mut b), PrimitiveType::Binary) => {
            b.truncate(BOUND_TRUNCATE_LENGTH);
            Some(Datum::Binary(b))
        }
        (d, _) => Some(d),
    }
}

/// Iceberg `truncate(16)` upper bound: the prefix with its last character (byte)
/// incremented, carrying leftwards past characters that cannot grow; None if none can.
fn truncate_upper(d: Datum, ty: &PrimitiveType) -> Option<Datum> {
    match (d, ty) {
        (Datum::String(s), PrimitiveType::String) => {
            if s.chars().nth(BOUND_TRUNCATE_LENGTH).is_none() {
                return Some(Datum::String(s));
            }
            let mut chars: Vec<char> = s.chars().take(BOUND_TRUNCATE_LENGTH).collect();
            while let Some(last) = chars.pop() {
                if let Some(next) = next_char(last) {
                    chars.push(next);
                    return Some(Datum::String(chars.into_iter().collect()));
                }
            }
            None
        }
        (Datum::Binary(b), PrimitiveType::Binary) => {
            if b.len() <= BOUND_TRUNCATE_LENGTH {
                return Some(Datum::Binary(b));
            }
            let mut prefix = b[..BOUND_TRUNCATE_LENGTH].to_vec();
            while let Some(last) = prefix.pop() {
                if last < u8::MAX {
                    prefix.push(last + 1);
                    return Some(Datum::Binary(prefix));
                }
            }
            None
        }
        (d, _) => Some(d),
    }
}

/// The next Unicode scalar value (skipping the surrogate gap), if any.
fn next_char(c: char) -> Option<char> {
    let next = u32::from(c) + 1;
    char::from_u32(if (0xD800..0xE000).contains(&next) { 0xE000 } else { next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::PARQUET_FIELD_ID_KEY;
    use arrow_array::builder::{Int32Builder, ListBuilder, MapBuilder, StringBuilder};
    use arrow_array::types::Int64Type;
    use arrow_array::{
        BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray, Float32Array, Float64Array,
        Int32Array, Int64Array, LargeStringArray, StringArray, StringViewArray, Time64MicrosecondArray,
        TimestampMicrosecondArray, TimestampNanosecondArray,
    };
    use arrow_schema::Schema as ArrowSchema;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn opts() -> WriteOptions {
        WriteOptions { durable: false, ..Default::default() }
    }

    fn batch(fields: Vec<Field>, columns: Vec<ArrayRef>) -> RecordBatch {
        RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns).unwrap()
    }

    fn simple_schema() -> Schema {
        Schema::new(vec![
            NestedField::required(1, "id", PrimitiveType::Long),
            NestedField::optional(2, "name", PrimitiveType::String),
            NestedField::optional(3, "score", PrimitiveType::Double),
        ])
        .unwrap()
    }

    fn nested_schema() -> Schema {
        Schema::new(vec![
            NestedField::required(1, "id", PrimitiveType::Long),
            NestedField::optional(
                2,
                "s",
                Type::Struct(StructType {
                    fields: vec![
                        NestedField::required(3, "x", PrimitiveType::Int),
                        NestedField::optional(4, "y", PrimitiveType::Double),
                    ],
                }),
            ),
            NestedField::optional(
                5,
                "l",
                Type::List(ListType {
                    element_id: 6,
                    element_required: true,
                    element: Box::new(PrimitiveType::Long.into()),
                }),
            ),
            NestedField::optional(
                7,
                "m",
                Type::Map(MapType {
                    key_id: 8,
                    key: Box::new(PrimitiveType::String.into()),
                    value_id: 9,
                    value_required: false,
                    value: Box::new(PrimitiveType::Int.into()),
                }),
            ),
        ])
        .unwrap()
    }

    fn read_back(path_uri: &str) -> RecordBatch {
        let path = path_uri.strip_prefix("file://").unwrap();
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(crate::io::local::test_fs::open(path)).unwrap().build().unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap()
    }

    fn write_all(dir: &Path, schema: &Schema, batches: &[RecordBatch], opts: WriteOptions) -> Vec<DataFile> {
        let mut w = DataFileWriter::new(dir, "f", schema, opts);
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap()
    }

    // ---------------- conform_batch ----------------

    #[test]
    fn conform_is_zero_copy_when_types_match() {
        let schema = simple_schema();
        let target = schema.to_arrow();
        let b = RecordBatch::try_new(
            Arc::new(target.clone()),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Float64Array::from(vec![0.5, 1.5])),
            ],
        )
        .unwrap();
        let out = conform_batch(&schema, &b).unwrap();
        for i in 0..3 {
            assert!(Arc::ptr_eq(out.column(i), b.column(i)), "column {i} was copied");
        }
        assert_eq!(out.schema().as_ref(), &target);
    }

    #[test]
    fn conform_reorders_fills_optional_and_attaches_ids() {
        let schema = simple_schema();
        // Columns out of order, `name` missing, no field-id metadata, nullable id.
        let b = batch(
            vec![Field::new("score", DataType::Float64, true), Field::new("id", DataType::Int64, true)],
            vec![Arc::new(Float64Array::from(vec![1.0, 2.0])), Arc::new(Int64Array::from(vec![7, 8]))],
        );
        let out = conform_batch(&schema, &b).unwrap();
        assert_eq!(out.schema().as_ref(), &schema.to_arrow());
        assert_eq!(out.column(0).as_primitive::<Int64Type>().values(), &[7, 8]);
        assert_eq!(out.column(1).null_count(), 2);
        assert_eq!(out.schema().field(2).metadata().get(PARQUET_FIELD_ID_KEY).unwrap(), "3");
        // Still zero-copy for columns whose type matched.
        assert!(Arc::ptr_eq(out.column(0), b.column(1)));
    }

    #[test]
    fn conform_rejects_missing_required_column() {
        let b = batch(vec![Field::new("name", DataType::Utf8, true)], vec![Arc::new(StringArray::from(vec!["a"]))]);
        match conform_batch(&simple_schema(), &b) {
            Err(Error::SchemaMismatch { field, reason }) => {
                assert_eq!(field, "id");
                assert!(reason.contains("missing"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conform_rejects_extra_column() {
        let b = batch(
            vec![Field::new("id", DataType::Int64, false), Field::new("bogus", DataType::Int64, true)],
            vec![Arc::new(Int64Array::from(vec![1])), Arc::new(Int64Array::from(vec![1]))],
        );
        match conform_batch(&simple_schema(), &b) {
            Err(Error::SchemaMismatch { field, .. }) => assert_eq!(field, "bogus"),
            other => panic!("{other:?}"),
        }
        // Extra nested field too.
        let schema = nested_schema();
        let s = StructArray::from(vec![
            (Arc::new(Field::new("x", DataType::Int32, false)), Arc::new(Int32Array::from(vec![1])) as ArrayRef),
            (Arc::new(Field::new("z", DataType::Int32, false)), Arc::new(Int32Array::from(vec![1])) as ArrayRef),
        ]);
        let b = batch(
            vec![Field::new("id", DataType::Int64, false), Field::new("s", s.data_type().clone(), true)],
            vec![Arc::new(Int64Array::from(vec![1])), Arc::new(s)],
        );
        match conform_batch(&schema, &b) {
            Err(Error::SchemaMismatch { field, .. }) => assert_eq!(field, "s.z"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn conform_rejects_wrong_types_naming_both() {
        let b = batch(vec![Field::new("id", DataType::Utf8, false)], vec![Arc::new(StringArray::from(vec!["1"]))]);
        match conform_batch(&simple_schema(), &b) {
            Err(Error::SchemaMismatch { field, reason }) => {
                assert_eq!(field, "id");
                assert!(reason.contains("Utf8") && reason.contains("long") && reason.contains("Int64"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Narrowing is refused even when the values would fit.
        let schema = Schema::new(vec![NestedField::required(1, "i", PrimitiveType::Int)]).unwrap();
        let b = batch(vec![Field::new("i", DataType::Int64, false)], vec![Arc::new(Int64Array::from(vec![1]))]);
        assert!(matches!(conform_batch(&schema, &b), Err(Error::SchemaMismatch { .. })));
        // A naive timestamp is not an instant.
        let schema = Schema::new(vec![NestedField::required(1, "t", PrimitiveType::Timestamptz)]).unwrap();
        let b = batch(
            vec![Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), false)],
            vec![Arc::new(TimestampMicrosecondArray::from(vec![1]))],
        );
        assert!(matches!(conform_batch(&schema, &b), Err(Error::SchemaMismatch { .. })));
        // Decimal scale may not shrink.
        let schema =
            Schema::new(vec![NestedField::required(1, "d", PrimitiveType::Decimal { precision: 10, scale: 1 })])
                .unwrap();
        let arr = Decimal128Array::from(vec![125]).with_precision_and_scale(5, 2).unwrap();
        let b = batch(vec![Field::new("d", arr.data_type().clone(), false)], vec![Arc::new(arr)]);
        assert!(matches!(conform_batch(&schema, &b), Err(Error::SchemaMismatch { .. })));
    }

    #[test]
    fn conform_casts_losslessly() {
        let schema = Schema::new(vec![
            NestedField::required(1, "l", PrimitiveType::Long),
            NestedField::required(2, "s", PrimitiveType::String),
            NestedField::required(3, "v", PrimitiveType::String),
            NestedField::required(4, "tz", PrimitiveType::Timestamptz),
            NestedField::required(5, "ns", PrimitiveType::Timestamp),
            NestedField::required(6, "d", PrimitiveType::Decimal { precision: 12, scale: 3 }),
        ])
        .unwrap();
        let tz = TimestampMicrosecondArray::from(vec![5, 6]).with_timezone("+00:00");
        let dec = Decimal128Array::from(vec![125, -1]).with_precision_and_scale(5, 2).unwrap();
        let b = batch(
            vec![
                Field::new("l", DataType::Int32, false),
                Field::new("s", DataType::LargeUtf8, false),
                Field::new("v", DataType::Utf8View, false),
                Field::new("tz", tz.data_type().clone(), false),
                Field::new("ns", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
                Field::new("d", dec.data_type().clone(), false),
            ],
            vec![
                Arc::new(Int32Array::from(vec![1, -2])),
                Arc::new(LargeStringArray::from(vec!["a", "b"])),
                Arc::new(StringViewArray::from(vec!["c", "a string longer than twelve bytes"])),
                Arc::new(tz.clone()),
                Arc::new(TimestampNanosecondArray::from(vec![3000, -4000])),
                Arc::new(dec),
            ],
        );
        let out = conform_batch(&schema, &b).unwrap();
        assert_eq!(out.schema().as_ref(), &schema.to_arrow());
        assert_eq!(out.column(0).as_primitive::<Int64Type>().values(), &[1, -2]);
        assert_eq!(out.column(2).as_string::<i32>().value(1), "a string longer than twelve bytes");
        // A zone relabel shares the value buffer.
        let relabeled = out.column(3).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(relabeled.values().inner().as_ptr(), tz.values().inner().as_ptr());
        assert_eq!(out.column(4).as_primitive::<TimestampMicrosecondType>().values(), &[3, -4]);
        let d = out.column(5).as_primitive::<arrow_array::types::Decimal128Type>();
        assert_eq!(d.values(), &[1250, -10]);

        // Nanoseconds that are not whole microseconds are refused.
        let schema = Schema::new(vec![NestedField::required(1, "ns", PrimitiveType::Timestamp)]).unwrap();
        let b = batch(
            vec![Field::new("ns", DataType::Timestamp(TimeUnit::Nanosecond, None), true)],
            vec![Arc::new(TimestampNanosecondArray::from(vec![Some(1000), Some(1001)]))],
        );
        match conform_batch(&schema, &b) {
            Err(Error::SchemaMismatch { field, reason }) => {
                assert_eq!(field, "ns");
                assert!(reason.contains("1001"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // ... but a garbage value under a null is ignored.
        let arr = TimestampNanosecondArray::new(vec![1000, 1001].into(), Some(NullBuffer::from(vec![true, false])));
        let b = batch(vec![Field::new("ns", arr.data_type().clone(), true)], vec![Arc::new(arr)]);
        let schema = Schema::new(vec![NestedField::optional(1, "ns", PrimitiveType::Timestamp)]).unwrap();
        assert!(conform_batch(&schema, &b).is_ok());
    }

    #[test]
    fn conform_rejects_nulls_in_required() {
        let b = batch(
            vec![Field::new("id", DataType::Int64, true)],
            vec![Arc::new(Int64Array::from(vec![Some(1), None, None]))],
        );
        match conform_batch(&simple_schema(), &b) {
            Err(Error::NullInRequiredField { field, null_count }) => {
                assert_eq!(field, "id");
                assert_eq!(null_count, 2);
            }
            other => panic!("{other:?}"),
        }
        // (Arrow itself refuses a batch whose non-nullable column holds nulls, so a batch
        // that already has the table schema cannot carry them.)
    }

    fn struct_batch(x: Vec<Option<i32>>, parent_valid: Option<Vec<bool>>) -> RecordBatch {
        let n = x.len();
        let xf = Arc::new(Field::new("x", DataType::Int32, true));
        let s = StructArray::try_new(
            vec![xf].into(),
            vec![Arc::new(Int32Array::from(x)) as ArrayRef],
            parent_valid.map(NullBuffer::from),
        )
        .unwrap();
        batch(
            vec![Field::new("id", DataType::Int64, false), Field::new("s", s.data_type().clone(), true)],
            vec![Arc::new(Int64Array::from_iter_values(0..n as i64)), Arc::new(s)],
        )
    }

    #[test]
    fn conform_rejects_nested_required_child_null() {
        let schema = nested_schema();
        // x is null where s is valid: a violation.
        match conform_batch(&schema, &struct_batch(vec![Some(1), None, None], Some(vec![true, true, false]))) {
            Err(Error::NullInRequiredField { field, null_count }) => {
                assert_eq!(field, "s.x");
                assert_eq!(null_count, 1);
            }
            other => panic!("{other:?}"),
        }
        // x null only where s itself is null: fine, and y is filled with nulls.
        let out = conform_batch(&schema, &struct_batch(vec![Some(1), None], Some(vec![true, false]))).unwrap();
        assert_eq!(out.schema().as_ref(), &schema.to_arrow());
        let s = out.column(1).as_struct();
        assert_eq!(s.column(1).null_count(), 2);
        // Missing required child.
        let s = StructArray::from(vec![(
            Arc::new(Field::new("y", DataType::Float64, true)),
            Arc::new(Float64Array::from(vec![1.0])) as ArrayRef,
        )]);
        let b = batch(
            vec![Field::new("id", DataType::Int64, false), Field::new("s", s.data_type().clone(), true)],
            vec![Arc::new(Int64Array::from(vec![1])), Arc::new(s)],
        );
        match conform_batch(&schema, &b) {
            Err(Error::SchemaMismatch { field, .. }) => assert_eq!(field, "s.x"),
            other => panic!("{other:?}"),
        }
        // A required list element that is null.
        let mut lb = ListBuilder::new(arrow_array::builder::Int64Builder::new());
        lb.values().append_value(1);
        lb.values().append_null();
        lb.append(true);
        let l = lb.finish();
        let b = batch(
            vec![Field::new("id", DataType::Int64, false), Field::new("l", l.data_type().clone(), true)],
            vec![Arc::new(Int64Array::from(vec![1])), Arc::new(l)],
        );
        match conform_batch(&schema, &b) {
            Err(Error::NullInRequiredField { field, null_count }) => {
                assert_eq!(field, "l.element");
                assert_eq!(null_count, 1);
            }
            other => panic!("{other:?}"),
        }
        // Exact table type with the required child null only under a null parent:
        // accepted and passed through without a copy.
        let target = schema.to_arrow();
        let DataType::Struct(fields) = target.field(1).data_type() else { panic!() };
        let s: ArrayRef = Arc::new(
            StructArray::try_new(
                fields.clone(),
                vec![
                    Arc::new(Int32Array::from(vec![None, Some(2)])) as ArrayRef,
                    Arc::new(Float64Array::from(vec![None, Some(2.0)])) as ArrayRef,
                ],
                Some(NullBuffer::from(vec![false, true])),
            )
            .unwrap(),
        );
        let b = RecordBatch::try_new(
            Arc::new(ArrowSchema::new(vec![target.field(0).clone(), target.field(1).clone()])),
            vec![Arc::new(Int64Array::from(vec![1, 2])), s.clone()],
        )
        .unwrap();
        let out = conform_batch(&schema, &b).unwrap();
        assert!(Arc::ptr_eq(out.column(1), &s));
    }

    // ---------------- writing ----------------

    fn uuid_bytes(i: u8) -> [u8; 16] {
        let mut u = [0u8; 16];
        u[0] = i;
        u[15] = 0xff - i;
        u
    }

    /// (column, type, array, expected min, expected max, nulls)
    fn all_primitive_columns() -> Vec<(&'static str, PrimitiveType, ArrayRef, Datum, Datum, i64)> {
        use PrimitiveType as P;
        let long = "a long string value that exceeds sixteen characters";
        vec![
            (
                "bool",
                P::Boolean,
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
                Datum::Boolean(false),
                Datum::Boolean(true),
                1,
            ),
            (
                "int",
                P::Int,
                Arc::new(Int32Array::from(vec![Some(5), Some(-3), None])),
                Datum::Int(-3),
                Datum::Int(5),
                1,
            ),
            (
                "long",
                P::Long,
                Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(9), None])),
                Datum::Long(i64::MIN),
                Datum::Long(9),
                1,
            ),
            (
                "float",
                P::Float,
                Arc::new(Float32Array::from(vec![Some(1.5), Some(-2.5), None])),
                Datum::Float(-2.5),
                Datum::Float(1.5),
                1,
            ),
            (
                "double",
                P::Double,
                Arc::new(Float64Array::from(vec![Some(1e300), None, Some(-0.25)])),
                Datum::Double(-0.25),
                Datum::Double(1e300),
                1,
            ),
            (
                "dec9",
                P::Decimal { precision: 9, scale: 2 },
                Arc::new(
                    Decimal128Array::from(vec![Some(-12345), Some(99), None]).with_precision_and_scale(9, 2).unwrap(),
                ),
                Datum::Decimal(-12345),
                Datum::Decimal(99),
                1,
            ),
            (
                "dec18",
                P::Decimal { precision: 18, scale: 3 },
                Arc::new(
                    Decimal128Array::from(vec![Some(10i128.pow(17)), None, Some(-5)])
                        .with_precision_and_scale(18, 3)
                        .unwrap(),
                ),
                Datum::Decimal(-5),
                Datum::Decimal(10i128.pow(17)),
                1,
            ),
            (
                "dec38",
                P::Decimal { precision: 38, scale: 10 },
                Arc::new(
                    Decimal128Array::from(vec![Some(-(10i128.pow(37))), Some(42), None])
                        .with_precision_and_scale(38, 10)
                        .unwrap(),
                ),
                Datum::Decimal(-(10i128.pow(37))),
                Datum::Decimal(42),
                1,
            ),
            (
                "date",
                P::Date,
                Arc::new(Date32Array::from(vec![None, Some(17486), Some(-1)])),
                Datum::Date(-1),
                Datum::Date(17486),
                1,
            ),
            (
                "time",
                P::Time,
                Arc::new(Time64MicrosecondArray::from(vec![Some(1), Some(86_399_999_999), None])),
                Datum::Time(1),
                Datum::Time(86_399_999_999),
                1,
            ),
            (
                "ts",
                P::Timestamp,
                Arc::new(TimestampMicrosecondArray::from(vec![Some(-5), None, Some(1_700_000_000_000_000)])),
                Datum::Timestamp(-5),
                Datum::Timestamp(1_700_000_000_000_000),
                1,
            ),
            (
                "tstz",
                P::Timestamptz,
                Arc::new(TimestampMicrosecondArray::from(vec![Some(3), Some(2), None]).with_timezone("UTC")),
                Datum::Timestamptz(2),
                Datum::Timestamptz(3),
                1,
            ),
            (
                "str",
                P::String,
                Arc::new(StringArray::from(vec![Some("b"), Some(long), None])),
                Datum::String("a long string va".into()),
                Datum::String("b".into()),
                1,
            ),
            (
                "uuid",
                P::Uuid,
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        vec![Some(uuid_bytes(9)), None, Some(uuid_bytes(200))].into_iter(),
                        16,
                    )
                    .unwrap(),
                ),
                Datum::Uuid(uuid_bytes(9)),
                Datum::Uuid(uuid_bytes(200)),
                1,
            ),
            (
                "fixed",
                P::Fixed(3),
                Arc::new(
                    FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                        vec![Some([1u8, 2, 3]), Some([0xff, 0, 0]), None].into_iter(),
                        3,
                    )
                    .unwrap(),
                ),
                Datum::Fixed(vec![1, 2, 3]),
                Datum::Fixed(vec![0xff, 0, 0]),
                1,
            ),
            (
                "bin",
                P::Binary,
                Arc::new(BinaryArray::from(vec![Some(&[0x80u8][..]), Some(&[0x7f, 0xff][..]), None])),
                Datum::Binary(vec![0x7f, 0xff]),
                Datum::Binary(vec![0x80]),
                1,
            ),
        ]
    }

    #[test]
    fn every_primitive_round_trips_with_stats() {
        let dir = tempfile::tempdir().unwrap();
        let cols = all_primitive_columns();
        let schema = Schema::new(
            cols.iter()
                .enumerate()
                .map(|(i, (name, ty, ..))| NestedField::optional(i as i32 + 1, *name, ty.clone()))
                .collect(),
        )
        .unwrap();
        let b = batch(
            cols.iter().map(|(name, _, a, ..)| Field::new(*name, a.data_type().clone(), true)).collect(),
            cols.iter().map(|(_, _, a, ..)| a.clone()).collect(),
        );
        let conformed = conform_batch(&schema, &b).unwrap();
        let files = write_all(dir.path(), &schema, std::slice::from_ref(&conformed), opts());
        assert_eq!(files.len(), 1);
        let df = &files[0];
        assert_eq!(df.record_count, 3);
        assert_eq!(df.file_format, "PARQUET");
        assert_eq!(df.content, DataContent::Data);
        let back = read_back(&df.file_path);
        assert_eq!(back.num_rows(), 3);
        for (i, (name, ty, _, lo, hi, nulls)) in cols.iter().enumerate() {
            let id = i as i32 + 1;
            assert_eq!(
                back.column(i).to_data(),
                conformed.column(i).to_data(),
                "column {name} differs after reading back"
            );
            assert_eq!(df.value_counts[&id], 3, "{name}");
            assert_eq!(df.null_value_counts[&id], *nulls, "{name}");
            assert!(df.column_sizes[&id] > 0, "{name}");
            let lower = Datum::from_bytes(ty, &df.lower_bounds[&id]).unwrap();
            let upper = Datum::from_bytes(ty, &df.upper_bounds[&id]).unwrap();
            assert_eq!(&lower, lo, "{name} lower");
            assert_eq!(&upper, hi, "{name} upper");
        }
        // NaN counts only for float/double.
        assert_eq!(df.nan_value_counts.keys().copied().collect::<Vec<_>>(), vec![4, 5]);
    }

    #[test]
    fn stats_nan_nested_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let schema = nested_schema();
        let y = Float64Array::from(vec![Some(f64::NAN), Some(2.0), Some(f64::NAN), None]);
        let s = StructArray::try_new(
            vec![Field::new("x", DataType::Int32, false), Field::new("y", DataType::Float64, true)].into(),
            vec![Arc::new(Int32Array::from(vec![1, 2, 3, 4])) as ArrayRef, Arc::new(y)],
            // The third row's struct is null: its NaN is not stored and not counted.
            Some(NullBuffer::from(vec![true, true, false, true])),
        )
        .unwrap();
        let mut lb = ListBuilder::new(arrow_array::builder::Int64Builder::new());
        for _ in 0..4 {
            lb.values().append_value(1);
            lb.append(true);
        }
        let mut mb = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        for _ in 0..4 {
            mb.keys().append_value("k");
            mb.values().append_value(1);
            mb.append(true).unwrap();
        }
        let l = lb.finish();
        let m = mb.finish();
        let b = batch(
            vec![
                Field::new("id", DataType::Int64, false),
                Field::new("s", s.data_type().clone(), true),
                Field::new("l", l.data_type().clone(), true),
                Field::new("m", m.data_type().clone(), true),
            ],
            vec![Arc::new(Int64Array::from(vec![4, 3, 2, 1])), Arc::new(s), Arc::new(l), Arc::new(m)],
        );
        let files = write_all(dir.path(), &schema, std::slice::from_ref(&b), opts());
        let df = &files[0];
        let back = read_back(&df.file_path);
        let conformed = conform_batch(&schema, &b).unwrap();
        for i in 0..4 {
            assert_eq!(back.column(i).to_data(), conformed.column(i).to_data(), "column {i}");
        }
        // Struct leaves have metrics; list and map leaves (6, 8, 9) have none.
        let ids: Vec<i32> = df.value_counts.keys().copied().collect();
        assert_eq!(ids, vec![1, 3, 4]);
        assert_eq!(df.nan_value_counts.get(&4), Some(&1));
        // y: null in row 3 (parent null) and row 4.
        assert_eq!(df.null_value_counts[&4], 2);
        assert_eq!(Datum::from_bytes(&PrimitiveType::Double, &df.lower_bounds[&4]).unwrap(), Datum::Double(2.0));
        assert_eq!(Datum::from_bytes(&PrimitiveType::Double, &df.upper_bounds[&4]).unwrap(), Datum::Double(2.0));
        assert_eq!(Datum::from_bytes(&PrimitiveType::Long, &df.lower_bounds[&1]).unwrap(), Datum::Long(1));
        assert_eq!(Datum::from_bytes(&PrimitiveType::Long, &df.upper_bounds[&1]).unwrap(), Datum::Long(4));
    }

    #[test]
    fn string_bounds_truncate_to_sixteen_chars() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Schema::new(vec![NestedField::required(1, "s", PrimitiveType::String)]).unwrap();
        let values = vec!["zzzzzzzzzzzzzzzzzzzz", "ééééééééééééééééé-tail", "aaaaaaaaaaaaaaaaaaaaaab", "b"];
        let b = batch(vec![Field::new("s", DataType::Utf8, false)], vec![Arc::new(StringArray::from(values.clone()))]);
        let df = &write_all(dir.path(), &schema, &[b], opts())[0];
        let lo = Datum::from_bytes(&PrimitiveType::String, &df.lower_bounds[&1]).unwrap();
        let hi = Datum::from_bytes(&PrimitiveType::String, &df.upper_bounds[&1]).unwrap();
        assert_eq!(lo, Datum::String("a".repeat(16)));
        // Max "éé…" (17 é) truncates to 16 chars with the last incremented.
        assert_eq!(hi, Datum::String(format!("{}ê", "é".repeat(15))));
        for v in values {
            let d = Datum::String(v.into());
            assert_ne!(d.compare(&lo), Some(std::cmp::Ordering::Less), "{v}");
            assert_ne!(d.compare(&hi), Some(std::cmp::Ordering::Greater), "{v}");
        }
    }

    #[test]
    fn truncation_helpers() {
        let s = |v: &str| Datum::String(v.into());
        assert_eq!(truncate_upper(s("short"), &PrimitiveType::String), Some(s("short")));
        assert_eq!(
            truncate_upper(s(&"a".repeat(17)), &PrimitiveType::String),
            Some(s(&format!("{}b", "a".repeat(15))))
        );
        // The last character cannot grow: carry into the previous one.
        let max = char::MAX.to_string();
        let v = format!("{}{}", "a".repeat(15), max.repeat(3));
        assert_eq!(truncate_upper(s(&v), &PrimitiveType::String), Some(s(&format!("{}b", "a".repeat(14)))));
        assert_eq!(truncate_upper(s(&max.repeat(17)), &PrimitiveType::String), None);
        // Surrogate gap is skipped.
        assert_eq!(next_char('\u{d7ff}'), Some('\u{e000}'));
        let b = |v: Vec<u8>| Datum::Binary(v);
        let mut v = vec![1u8; 15];
        v.extend([0xff, 0xff, 0x05]);
        let mut expect = vec![1u8; 14];
        expect.push(2);
        assert_eq!(truncate_upper(b(v.clone()), &PrimitiveType::Binary), Some(b(expect)));
        assert_eq!(truncate_lower(b(v.clone()), &PrimitiveType::Binary), Some(b(v[..16].to_vec())));
        assert_eq!(truncate_upper(b(vec![0xff; 20]), &PrimitiveType::Binary), None);
        // Fixed and uuid are never truncated.
        assert_eq!(
            truncate_upper(Datum::Fixed(vec![9; 20]), &PrimitiveType::Fixed(20)),
            Some(Datum::Fixed(vec![9; 20]))
        );
    }

    #[test]
    fn parquet_schema_carries_field_ids_and_iceberg_schema() {
        let dir = tempfile::tempdir().unwrap();
        let schema = nested_schema();
        let b = conform_batch(&schema, &struct_batch(vec![Some(1)], None)).unwrap();
        let df = &write_all(dir.path(), &schema, &[b], opts())[0];
        let path = df.file_path.strip_prefix("file://").unwrap();
        let reader = SerializedFileReader::new(crate::io::local::test_fs::open(path)).unwrap();
        let meta = reader.metadata().file_metadata();
        let mut ids = Vec::new();
        fn walk(t: &parquet::schema::types::Type, ids: &mut Vec<(String, i32)>) {
            if t.get_basic_info().has_id() {
                ids.push((t.name().to_string(), t.get_basic_info().id()));
            }
            if t.is_group() {
                for f in t.get_fields() {
                    walk(f, ids);
                }
            }
        }
        for f in meta.schema().get_fields() {
            walk(f, &mut ids);
        }
        let found: Vec<i32> = ids.iter().map(|(_, id)| *id).collect();
        assert_eq!(found, vec![1, 2, 3, 4, 5, 6, 7, 8, 9], "{ids:?}");
        for col in meta.schema_descr().columns() {
            assert!(col.self_type().get_basic_info().has_id(), "{:?}", col.path());
        }
        let kv = meta.key_value_metadata().unwrap();
        let json = &kv.iter().find(|k| k.key == ICEBERG_SCHEMA_KEY).unwrap().value;
        let parsed: Schema = serde_json::from_str(json.as_deref().unwrap()).unwrap();
        assert_eq!(parsed, schema);
    }

    /// A large nested batch (struct, list, map, NaNs, nulls) conformed to `nested_schema`.
    fn big_nested_batch(n: i32) -> RecordBatch {
        use arrow_array::builder::{Float64Builder, Int64Builder, StructBuilder};
        let schema = nested_schema();
        let arrow = schema.to_arrow();
        let DataType::Struct(s_fields) = arrow.field(1).data_type().clone() else { unreachable!() };
        let mut s = StructBuilder::from_fields(s_fields, n as usize);
        let mut l = ListBuilder::new(Int64Builder::new());
        let mut m = MapBuilder::new(None, StringBuilder::new(), Int32Builder::new());
        for i in 0..n {
            s.field_builder::<Int32Builder>(0).unwrap().append_value(i.wrapping_mul(7919) % 1000);
            let y = s.field_builder::<Float64Builder>(1).unwrap();
            match i % 11 {
                0 => y.append_null(),
                1 => y.append_value(f64::NAN),
                _ => y.append_value(f64::from(i) * 0.5),
            }
            s.append(true);
            for k in 0..(i % 4) {
                l.values().append_value(i64::from(i) * 10 + i64::from(k));
            }
            l.append(i % 13 != 0);
            for k in 0..(i % 3) {
                m.keys().append_value(format!("key-{k}-{}", i % 17));
                m.values().append_value(i + k);
            }
            m.append(true).unwrap();
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| i64::from(i) * 3))),
            Arc::new(s.finish()),
            Arc::new(l.finish()),
            Arc::new(m.finish()),
        ];
        let fields: Vec<Field> = columns
            .iter()
            .zip(arrow.fields())
            .map(|(c, f)| Field::new(f.name(), c.data_type().clone(), f.is_nullable()))
            .collect();
        conform_batch(&schema, &batch(fields, columns)).unwrap()
    }

    #[test]
    fn parallel_encoding_writes_the_same_files() {
        // One file: the first row group's columns are encoded on several threads, the
        // following row groups each on a pool thread, and the bytes are those of a
        // sequential write.
        let schema = nested_schema();
        let batches = [big_nested_batch(30_000), big_nested_batch(45_000)];
        let o = WriteOptions { row_group_size: 7_000, ..opts() };
        let (seq_dir, par_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let seq = write_all(seq_dir.path(), &schema, &batches, o.clone().encode_threads(1));
        let (slices, pipelined) = (PARALLEL_SLICES.with(|n| n.get()), PIPELINED_ROW_GROUPS.with(|n| n.get()));
        let par = write_all(par_dir.path(), &schema, &batches, o.encode_threads(4));
        assert!(PARALLEL_SLICES.with(|n| n.get()) > slices, "the column-parallel path did not run");
        assert_eq!(PIPELINED_ROW_GROUPS.with(|n| n.get()) - pipelined, 10, "row groups 2 to 11 of 11 are pipelined");
        assert_eq!((seq.len(), par.len()), (1, 1));
        let bytes = |df: &DataFile| std::fs::read(df.file_path.strip_prefix("file://").unwrap()).unwrap();
        assert!(bytes(&seq[0]) == bytes(&par[0]), "the files differ");
        assert_eq!(DataFile { file_path: par[0].file_path.clone(), ..seq[0].clone() }, par[0]);
        assert_eq!(par[0].split_offsets.as_ref().map(Vec::len), Some(11));
        assert_eq!(seq[0].nan_value_counts.get(&4), par[0].nan_value_counts.get(&4));
    }

    /// A closed column chunk of `n` longs.
    fn long_chunk(n: i64) -> ArrowColumnChunk {
        let arrow = Arc::new(ArrowSchema::new(vec![Field::new("x", DataType::Int64, false)]));
        let parquet = ArrowSchemaConverter::new().convert(&arrow).unwrap();
        let props = Arc::new(WriterProperties::default());
        let file = SerializedFileWriter::new(std::io::sink(), parquet.root_schema_ptr(), props).unwrap();
        let mut w = ArrowRowGroupWriterFactory::new(&file, arrow.clone()).create_column_writers(0).unwrap();
        let column: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n));
        for leaf in compute_leaves(arrow.field(0), &column).unwrap() {
            w[0].write(&leaf).unwrap();
        }
        w.remove(0).close().unwrap()
    }

    /// Runs `f` on a thread; fails the test instead of hanging if it does not end.
    fn ends_within_a_minute(what: &str, f: impl FnOnce() + Send + 'static) {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = tx.send(());
        });
        assert!(rx.recv_timeout(std::time::Duration::from_secs(60)).is_ok(), "{what} did not end");
    }

    #[test]
    fn a_write_error_while_row_groups_are_pipelined_is_the_error_reported() {
        use crate::io::fault::{Fault, FaultStorage, Op, Rule};
        let dir = tempfile::tempdir().unwrap();
        let schema = nested_schema();
        let batches = [big_nested_batch(30_000), big_nested_batch(45_000)];
        let o = WriteOptions { row_group_size: 7_000, ..opts() }.encode_threads(4);
        // How many writes the whole file takes, then fail one in the pipelined part.
        let count = FaultStorage::new(Arc::new(LocalStorage::new(dir.path().join("count"))));
        let mut w = DataFileWriter::with_storage(count.clone(), None, "f", &schema, o.clone());
        batches.iter().for_each(|b| w.write(b).unwrap());
        w.finish().unwrap();
        let writes = count.calls(Op::Write);
        assert!(writes > 20, "{writes} writes");
        let store = FaultStorage::new(Arc::new(LocalStorage::new(dir.path().join("fail"))));
        store.inject(Rule::new(Fault::Enospc).op(Op::Write).at(writes * 3 / 4));
        let pipelined = PIPELINED_ROW_GROUPS.with(|n| n.get());
        let mut w = DataFileWriter::with_storage(store.clone(), None, "f", &schema, o);
        let result = batches.iter().try_for_each(|b| w.write(b)).and_then(|()| w.finish().map(|_| ()));
        assert!(PIPELINED_ROW_GROUPS.with(|n| n.get()) > pipelined, "the pipeline did not run");
        let e = result.expect_err("the write must fail").to_string();
        assert!(e.contains("No space left") || e.contains("os error 28"), "{e}");
    }

    #[test]
    fn a_row_group_job_starts_once_the_one_before_has_encoded_its_share() {
        let quiet = |rx: &std::sync::mpsc::Receiver<ArrowColumnChunk>| {
            rx.recv_timeout(std::time::Duration::from_millis(200)).is_err()
        };
        for release_by_ending in [false, true] {
            let (before, before_chunks) = chunk_flow(usize::MAX, None);
            let (sender, chunks) = chunk_flow(usize::MAX, Some((before_chunks.flow.clone(), 100)));
            let job = crate::sync::spawn(move || {
                sender.wait_for_predecessor();
                sender.send(long_chunk(7))
            });
            assert!(quiet(&chunks.rx), "started before the row group before it encoded anything");
            before.encoded(60);
            assert!(quiet(&chunks.rx), "started before the row group before it encoded its share");
            if release_by_ending {
                drop(before); // the job before ended (or will never run)
            } else {
                before.encoded(40);
            }
            let c = chunks.rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the job never started");
            assert_eq!(c.close().rows_written, 7);
            assert!(job.join().unwrap().is_ok());
        }
    }

    #[test]
    fn a_row_group_job_over_its_budget_stops_until_the_writer_takes_its_chunks() {
        // Budget 0: after one chunk, the job stops before its next column.
        let (sender, chunks) = chunk_flow(0, None);
        let job = crate::sync::spawn(move || {
            sender.send(long_chunk(1_000))?;
            sender.wait_for_room();
            sender.send(long_chunk(10))
        });
        let first = chunks.rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the first chunk");
        assert_eq!(first.close().rows_written, 1_000);
        // Held back: nothing more comes while the writer has not started draining.
        assert!(chunks.rx.recv_timeout(std::time::Duration::from_millis(200)).is_err());
        assert!(!job.is_finished(), "the job went on over its budget");
        chunks.drain();
        let second = chunks.rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the second chunk");
        assert_eq!(second.close().rows_written, 10);
        assert!(job.join().unwrap().is_ok());

        // A writer that goes away (an error) releases a stopped job, whose next send
        // then fails instead of waiting forever.
        let (sender, chunks) = chunk_flow(0, None);
        sender.send(long_chunk(5)).unwrap();
        drop(chunks);
        ends_within_a_minute("a job whose writer is gone", move || {
            sender.wait_for_room();
            assert!(sender.send(long_chunk(5)).is_err());
        });

        // A job no thread started runs on the writer's thread (after `drain`), and
        // never stops there.
        let (sender, chunks) = chunk_flow(0, None);
        ends_within_a_minute("a job run by the writer", move || {
            chunks.drain();
            let job = Job::pending_for_tests(move || {
                for n in 1..=3 {
                    sender.wait_for_room();
                    sender.send(long_chunk(n))?;
                }
                ParquetResult::Ok(())
            });
            job.start_here();
            let rows: Vec<u64> = chunks.rx.iter().map(|c| c.close().rows_written).collect();
            assert_eq!(rows, [1, 2, 3]);
            assert!(job.join().unwrap().is_ok());
        });
    }

    #[test]
    fn a_column_whose_dictionary_fell_back_is_written_plain_after_the_first_row_group() {
        // `name` is distinct on every row (its dictionary outgrows the 1 MiB page limit
        // in each 40,000-row group), `id` and `score` fit a dictionary.
        let schema = simple_schema();
        let n = 120_000;
        let b = RecordBatch::try_new(
            Arc::new(schema.to_arrow()),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("name-{i:030}")))),
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| (i % 10) as f64))),
            ],
        )
        .unwrap();
        let o = WriteOptions { row_group_size: 40_000, ..opts() };
        for threads in [1, 2] {
            let dir = tempfile::tempdir().unwrap();
            let files = write_all(dir.path(), &schema, std::slice::from_ref(&b), o.clone().encode_threads(threads));
            assert_eq!(files.len(), 1);
            let path = files[0].file_path.strip_prefix("file://").unwrap();
            let reader = SerializedFileReader::new(crate::io::local::test_fs::open(path)).unwrap();
            let dictionaries: Vec<Vec<bool>> = reader
                .metadata()
                .row_groups()
                .iter()
                .map(|rg| rg.columns().iter().map(|c| c.dictionary_page_offset().is_some()).collect())
                .collect();
            let (yes, plain) = (vec![true, true, true], vec![true, false, true]);
            assert_eq!(dictionaries, [yes, plain.clone(), plain], "{threads} threads");
            assert_eq!(read_back(&files[0].file_path).columns(), b.columns());
        }
    }

    #[test]
    fn a_column_that_does_not_compress_is_written_uncompressed_after_the_first_row_group() {
        // `score` holds random doubles (zstd saves ~6 % of them), `id` and `name`
        // compress well.
        let schema = simple_schema();
        let n = 120_000;
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let random = std::iter::repeat_with(move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f64::from_bits((x >> 12) | 0x3FF0_0000_0000_0000)
        });
        let b = RecordBatch::try_new(
            Arc::new(schema.to_arrow()),
            vec![
                Arc::new(Int64Array::from_iter_values(0..n)),
                Arc::new(StringArray::from_iter_values((0..n).map(|i| format!("name-{:08}", i % 5_000)))),
                Arc::new(Float64Array::from_iter_values(random.take(n as usize))),
            ],
        )
        .unwrap();
        let o = WriteOptions { row_group_size: 40_000, ..opts() };
        let zstd = Compression::ZSTD(ZstdLevel::default());
        let (all, learned) = (vec![zstd; 3], vec![zstd, zstd, Compression::UNCOMPRESSED]);
        for (saving, later) in [(DEFAULT_MIN_COMPRESSION_SAVING, learned), (0.0, all.clone())] {
            for threads in [1, 2] {
                let dir = tempfile::tempdir().unwrap();
                let o = o.clone().encode_threads(threads).min_compression_saving(saving);
                let files = write_all(dir.path(), &schema, std::slice::from_ref(&b), o);
                assert_eq!(files.len(), 1);
                let path = files[0].file_path.strip_prefix("file://").unwrap();
                let reader = SerializedFileReader::new(crate::io::local::test_fs::open(path)).unwrap();
                let codecs: Vec<Vec<Compression>> = reader
                    .metadata()
                    .row_groups()
                    .iter()
                    .map(|rg| rg.columns().iter().map(|c| c.compression()).collect())
                    .collect();
                assert_eq!(codecs, [all.clone(), later.clone(), later.clone()], "saving {saving}, {threads} threads");
                assert_eq!(read_back(&files[0].file_path).columns(), b.columns());
            }
        }
    }

    /// The codec of every column chunk of the file, per row group.
    fn codecs_of(file: &DataFile) -> Vec<Vec<Compression>> {
        let path = file.file_path.strip_prefix("file://").unwrap();
        let reader = SerializedFileReader::new(crate::io::local::test_fs::open(path)).unwrap();
        reader.metadata().row_groups().iter().map(|rg| rg.columns().iter().map(|c| c.compression()).collect()).collect()
    }

    #[test]
    fn a_file_whose_rows_take_under_a_kib_is_written_uncompressed() {
        let schema = simple_schema();
        let rows = |from: i64, n: i64| {
            RecordBatch::try_new(
                Arc::new(schema.to_arrow()),
                vec![
                    Arc::new(Int64Array::from_iter_values(from..from + n)),
                    Arc::new(StringArray::from_iter_values((from..from + n).map(|i| format!("name-{i}")))),
                    Arc::new(Float64Array::from_iter_values((from..from + n).map(|i| i as f64 / 3.0))),
                ],
            )
            .unwrap()
        };
        let zstd = Compression::ZSTD(ZstdLevel::default());
        let plain = Compression::UNCOMPRESSED;
        for threads in [1, 2] {
            let o = opts().encode_threads(threads);
            // One row, then three small batches (still under 1 KiB in all): one row group,
            // no compression, whatever the options say.
            for batches in [vec![rows(0, 1)], vec![rows(0, 2), rows(2, 3), rows(5, 4)]] {
                let dir = tempfile::tempdir().unwrap();
                let files = write_all(dir.path(), &schema, &batches, o.clone());
                assert_eq!(codecs_of(&files[0]), [vec![plain; 3]], "{threads} threads");
                let want = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
                assert_eq!(read_back(&files[0].file_path).columns(), want.columns());
            }
            // Held rows never make a row group larger than the options allow.
            let dir = tempfile::tempdir().unwrap();
            let batches = [rows(0, 3)];
            let files = write_all(dir.path(), &schema, &batches, WriteOptions { row_group_size: 2, ..o.clone() });
            // (Not held at all: more rows than a row group holds are not a tiny file.)
            assert_eq!(codecs_of(&files[0]), [vec![zstd; 3], vec![zstd; 3]], "3 rows in row groups of at most 2");
            assert_eq!(read_back(&files[0].file_path).columns(), batches[0].columns());
            // Small rows followed by many: the held rows are encoded with the rest, with
            // the options' codec.
            let dir = tempfile::tempdir().unwrap();
            let batches = [rows(0, 2), rows(2, 5_000)];
            let files = write_all(dir.path(), &schema, &batches, o.clone().min_compression_saving(0.0));
            assert_eq!(codecs_of(&files[0])[0], vec![zstd; 3], "{threads} threads");
            let want = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
            assert_eq!(read_back(&files[0].file_path).columns(), want.columns());
        }
    }

    #[test]
    fn pipelined_row_groups_roll_files_and_keep_every_row_in_order() {
        let schema = nested_schema();
        let batches = [big_nested_batch(30_000), big_nested_batch(45_000)];
        let target = 512 * 1024;
        let o = WriteOptions { row_group_size: 7_000, target_file_size_bytes: target, ..opts() };
        let (seq_dir, par_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let seq = write_all(seq_dir.path(), &schema, &batches, o.clone().encode_threads(1));
        let pipelined = PIPELINED_ROW_GROUPS.with(|n| n.get());
        let par = write_all(par_dir.path(), &schema, &batches, o.encode_threads(2));
        assert!(PIPELINED_ROW_GROUPS.with(|n| n.get()) > pipelined, "the pipeline did not run");
        assert!(seq.len() >= 2 && par.len() >= 2, "expected several files: {} and {}", seq.len(), par.len());
        assert_eq!(par.iter().map(|f| f.record_count).sum::<i64>(), 75_000);
        // A file overshoots its target by at most the row groups in flight.
        let largest = par.iter().map(|f| f.file_size_in_bytes).max().unwrap();
        let group = seq
            .iter()
            .map(|f| f.file_size_in_bytes / f.split_offsets.as_ref().map_or(1, |o| o.len() as i64))
            .max()
            .unwrap();
        assert!(largest <= target as i64 + 3 * group, "a {largest}-byte file, target {target}");
        for f in &par {
            let path = f.file_path.strip_prefix("file://").unwrap();
            let meta = ParquetRecordBatchReaderBuilder::try_new(crate::io::local::test_fs::open(path)).unwrap();
            assert!(meta.metadata().row_groups().iter().all(|rg| rg.num_rows() <= 7_000));
            let sum: i64 = meta.metadata().row_groups().iter().map(|rg| rg.num_rows()).sum();
            assert_eq!(sum, f.record_count);
        }
        let back: Vec<RecordBatch> = par.iter().map(|f| read_back(&f.file_path)).collect();
        let back = arrow_select::concat::concat_batches(&back[0].schema(), &back).unwrap();
        let want = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(back.columns(), want.columns());
    }

    #[test]
    fn file_facts_match_disk() {
        let dir = tempfile::tempdir().unwrap();
        let schema = simple_schema();
        let n = 50_000;
        let b =
            batch(vec![Field::new("id", DataType::Int64, false)], vec![Arc::new(Int64Array::from_iter_values(0..n))]);
        let o = WriteOptions { row_group_size: 10_000, ..opts() };
        let df = &write_all(dir.path(), &schema, &[b], o)[0];
        assert!(df.file_path.starts_with("file:///"), "{}", df.file_path);
        let path = PathBuf::from(df.file_path.strip_prefix("file://").unwrap());
        assert_eq!(path, dir.path().join("f-0.parquet"));
        assert_eq!(df.file_size_in_bytes as u64, crate::io::local::test_fs::len(&path));
        let offsets = df.split_offsets.clone().unwrap();
        assert_eq!(offsets.len(), 5);
        assert_eq!(offsets[0], 4, "first row group starts right after the magic");
        assert!(offsets.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(df.null_value_counts[&2], n);
        assert!(!df.lower_bounds.contains_key(&2));
    }

    #[test]
    fn rolls_files_at_target_size() {
        let dir = tempfile::tempdir().unwrap();
        let schema = simple_schema();
        let n = 200_000i64;
        let make = |range: std::ops::Range<i64>| {
            batch(
                vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)],
                vec![
                    Arc::new(Int64Array::from_iter_values(range.clone())),
                    Arc::new(StringArray::from_iter_values(
                        range.map(|i| format!("name-{:x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))),
                    )),
                ],
            )
        };
        let o = WriteOptions { target_file_size_bytes: 256 * 1024, compression: Compression::UNCOMPRESSED, ..opts() };
        let files = write_all(dir.path(), &schema, &[make(0..n / 2), make(n / 2..n)], o);
        assert!(files.len() >= 4, "only {} files", files.len());
        let mut total = 0;
        let mut min_id = i64::MAX;
        for (i, df) in files.iter().enumerate() {
            let back = read_back(&df.file_path);
            assert_eq!(back.num_rows() as i64, df.record_count);
            assert_eq!(df.value_counts[&1], df.record_count);
            assert!(df.file_path.ends_with(&format!("f-{i}.parquet")));
            let lo = Datum::from_bytes(&PrimitiveType::Long, &df.lower_bounds[&1]).unwrap();
            let hi = Datum::from_bytes(&PrimitiveType::Long, &df.upper_bounds[&1]).unwrap();
            let ids = back.column(0).as_primitive::<Int64Type>();
            assert_eq!(lo, Datum::Long(*ids.values().iter().min().unwrap()));
            assert_eq!(hi, Datum::Long(*ids.values().iter().max().unwrap()));
            min_id = min_id.min(ids.value(0));
            total += df.record_count;
            // Near the target: not wildly over it.
            assert!(df.file_size_in_bytes < 3 * 256 * 1024, "file {i} is {} bytes", df.file_size_in_bytes);
        }
        assert_eq!(total, n);
        assert_eq!(min_id, 0);
    }

    #[test]
    fn never_overwrites_and_reports_created_paths() {
        let dir = tempfile::tempdir().unwrap();
        let schema = simple_schema();
        crate::io::local::test_fs::write(dir.path().join("f-0.parquet"), b"keep me");
        let b = batch(vec![Field::new("id", DataType::Int64, false)], vec![Arc::new(Int64Array::from(vec![1]))]);
        let mut w = DataFileWriter::new(dir.path(), "f", &schema, opts());
        assert!(matches!(w.write(&b), Err(Error::Io { .. })));
        assert!(w.created_keys().is_empty());
        assert_eq!(crate::io::local::test_fs::read(dir.path().join("f-0.parquet")), b"keep me");

        let mut w = DataFileWriter::new(dir.path(), "g", &schema, opts());
        w.write(&b).unwrap();
        assert_eq!(w.created_keys(), &[crate::io::storage::Key::new("g-0.parquet").unwrap()]);
        // A bad batch is refused before it reaches the file.
        let bad = batch(vec![Field::new("id", DataType::Utf8, false)], vec![Arc::new(StringArray::from(vec!["x"]))]);
        assert!(matches!(w.write(&bad), Err(Error::SchemaMismatch { .. })));
        let paths = w.abort();
        assert_eq!(paths, vec![crate::io::storage::Key::new("g-0.parquet").unwrap()]);

        // Durable writes and an empty writer.
        let w = DataFileWriter::new(dir.path(), "h", &schema, WriteOptions::default());
        assert!(w.finish().unwrap().is_empty());
        let mut w = DataFileWriter::new(dir.path(), "h", &schema, WriteOptions::default());
        w.write(&b).unwrap();
        assert_eq!(w.finish().unwrap().len(), 1);
        // A missing data directory is created with the first file.
        let sub = dir.path().join("data").join("p=1");
        let mut w = DataFileWriter::new(&sub, "h", &schema, WriteOptions::default());
        w.write(&b).unwrap();
        let files = w.finish().unwrap();
        assert!(files[0].file_path.ends_with("/data/p=1/h-0.parquet"), "{}", files[0].file_path);
    }

    #[test]
    fn imported_file_without_ids_resolves_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plain.parquet");
        let b = batch(
            vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)],
            vec![Arc::new(Int64Array::from(vec![3, 1])), Arc::new(StringArray::from(vec![Some("q"), None]))],
        );
        let mut w = ArrowWriter::try_new(crate::io::local::test_fs::create(&path), b.schema(), None).unwrap();
        w.write(&b).unwrap();
        let meta = w.close().unwrap();
        let df = data_file_from_parquet_metadata("file:///x", 10, &meta, &simple_schema());
        assert_eq!(df.record_count, 2);
        assert_eq!(Datum::from_bytes(&PrimitiveType::Long, &df.lower_bounds[&1]).unwrap(), Datum::Long(1));
        assert_eq!(Datum::from_bytes(&PrimitiveType::String, &df.upper_bounds[&2]).unwrap(), Datum::String("q".into()));
        assert_eq!(df.null_value_counts[&2], 1);
        assert!(df.nan_value_counts.is_empty());
    }
}
