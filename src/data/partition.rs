//! Partitioned tables: building partition specs, splitting batches by partition and
//! writing one set of data files per partition, and the partition summaries of the
//! manifest list.
//!
//! Owns:
//! - [`PartitionSpecBuilder`] (`PartitionSpec::builder(&schema)`): a spec from source
//!   column names and [`Transform`]s, checked against the schema.
//! - `StagedWriter` (crate-internal): what a transaction writes its rows through. For
//!   an unpartitioned spec it is exactly one [`DataFileWriter`] (no extra work per
//!   batch); for a partitioned spec it computes each row's partition tuple with the
//!   Arrow transforms, groups rows by tuple and hands each group to the writer of its
//!   partition directory `data/<field>=<value>/…`. At most
//!   [`WriteOptions::max_open_files`] partition files are open at once (the least
//!   recently written one is finished to make room; its partition's next rows start a
//!   new file) and at most [`WriteOptions::max_buffered_bytes`] are buffered across
//!   them (the largest row group is written out), however many partitions a
//!   transaction touches.
//! - [`partition_path`] and [`partition_summaries`].
//!
//! Promises:
//! - A partition directory name is built only from `[A-Za-z0-9._-]` and `%XX` escapes of
//!   every other byte of the field name and the value's human string, joined by `=`;
//!   it never contains `/`, is never `.` or `..`, and is cut (with a hash of the full
//!   text appended) before it reaches file-name length limits. So no value can place a
//!   file outside `data/`. The path is only a location: the partition values readers
//!   use are the ones recorded in the manifest.
//! - Every data file a `StagedWriter` reports carries the partition tuple of all its
//!   rows, typed as the spec's result types.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, UInt32Array};
use arrow_row::{RowConverter, SortField};

use crate::data::write::{DataFileWriter, PendingUpload, WriteOptions};
use crate::error::{Error, Result};
use crate::io::storage::{Key, Storage};
use crate::spec::manifest::{DataFile, FieldSummary};
use crate::spec::metadata::{PartitionField, PartitionSpec};
use crate::spec::transform::{Transform, datum_at, murmur3_32};
use crate::spec::types::{PrimitiveType, Schema, primitive_to_arrow};
use crate::spec::values::Datum;

/// The first partition field id (Iceberg assigns 1000, 1001, … for v2 tables).
pub const FIRST_PARTITION_FIELD_ID: i32 = 1000;

/// Longest partition directory name floe writes (file systems allow 255 bytes).
const MAX_COMPONENT_LEN: usize = 120;

/// Builds a [`PartitionSpec`] from source column names and transforms.
///
/// ```
/// use floe::PartitionSpec;
/// use floe::{PrimitiveType, Schema};
/// let schema = Schema::builder()
///     .required("id", PrimitiveType::Long)
///     .optional("region", PrimitiveType::String)
///     .optional("ts", PrimitiveType::Timestamptz)
///     .build()?;
/// let spec = PartitionSpec::builder(&schema).identity("region").day("ts").bucket("id", 16).build()?;
/// assert_eq!(spec.fields[1].name, "ts_day");
/// assert_eq!(spec.fields[2].transform, "bucket[16]");
/// # Ok::<(), floe::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PartitionSpecBuilder {
    schema: Schema,
    spec_id: i32,
    first_field_id: i32,
    fields: Vec<(String, Transform, Option<String>)>,
}

impl PartitionSpec {
    /// Starts a spec over `schema`'s top-level columns (spec id 0, field ids from 1000).
    pub fn builder(schema: &Schema) -> PartitionSpecBuilder {
        PartitionSpecBuilder {
            schema: schema.clone(),
            spec_id: 0,
            first_field_id: FIRST_PARTITION_FIELD_ID,
            fields: Vec::new(),
        }
    }

    /// True when the spec has no fields, or only `void` ones (every file of it lands in
    /// one partition).
    pub fn is_unpartitioned(&self) -> bool {
        self.fields.iter().all(|f| f.transform == "void")
    }
}

impl PartitionSpecBuilder {
    /// Adds a field with the default name (`col` for identity, `col_bucket`,
    /// `col_trunc`, `col_year`, `col_month`, `col_day`, `col_hour`, `col_null`).
    pub fn add(mut self, column: impl Into<String>, transform: Transform) -> Self {
        self.fields.push((column.into(), transform, None));
        self
    }

    /// Adds a field with an explicit partition field name.
    pub fn add_named(mut self, column: impl Into<String>, transform: Transform, name: impl Into<String>) -> Self {
        self.fields.push((column.into(), transform, Some(name.into())));
        self
    }

    /// `identity(column)`.
    pub fn identity(self, column: impl Into<String>) -> Self {
        self.add(column, Transform::Identity)
    }

    /// `bucket[n](column)`.
    pub fn bucket(self, column: impl Into<String>, n: u32) -> Self {
        self.add(column, Transform::Bucket(n))
    }

    /// `truncate[width](column)`.
    pub fn truncate(self, column: impl Into<String>, width: u32) -> Self {
        self.add(column, Transform::Truncate(width))
    }

    /// `year(column)`.
    pub fn year(self, column: impl Into<String>) -> Self {
        self.add(column, Transform::Year)
    }

    /// `month(column)`.
    pub fn month(self, column: impl Into<String>) -> Self {
        self.add(column, Transform::Month)
    }

    /// `day(column)`.
    pub fn day(self, column: impl Into<String>) -> Self {
        self.add(column, Transform::Day)
    }

    /// `hour(column)`.
    pub fn hour(self, column: impl Into<String>) -> Self {
        self.add(column, Transform::Hour)
    }

    /// Sets the spec id (evolution assigns it; a new table uses 0).
    pub fn with_spec_id(mut self, id: i32) -> Self {
        self.spec_id = id;
        self
    }

    /// Field ids start after `last_partition_id` (evolution; default 999).
    pub fn with_last_partition_id(mut self, last: i32) -> Self {
        self.first_field_id = last.saturating_add(1).max(FIRST_PARTITION_FIELD_ID);
        self
    }

    /// Checks every field and assigns field ids. Errors ([`Error::InvalidArgument`]):
    /// an unknown or non-primitive column, a transform the column's type does not
    /// allow, a width of 0, the same column and transform twice, duplicate names, or a
    /// name that is another column's name (readers would confuse them).
    pub fn build(self) -> Result<PartitionSpec> {
        let mut fields: Vec<PartitionField> = Vec::with_capacity(self.fields.len());
        for (i, (column, transform, name)) in self.fields.into_iter().enumerate() {
            if matches!(transform, Transform::Bucket(0) | Transform::Truncate(0)) {
                return Err(Error::InvalidArgument(format!("{transform} needs a positive width")));
            }
            let source = self.schema.field_by_name(&column).ok_or_else(|| {
                Error::InvalidArgument(format!("partition source column {column:?} is not in the schema"))
            })?;
            let prim = source.field_type.as_primitive().ok_or_else(|| {
                Error::InvalidArgument(format!("partition source column {column:?} is not a primitive type"))
            })?;
            transform.result_type(prim)?;
            let name = name.unwrap_or_else(|| default_name(&column, transform));
            if name.is_empty() {
                return Err(Error::InvalidArgument("a partition field name is empty".into()));
            }
            if fields.iter().any(|f| f.name == name) {
                return Err(Error::InvalidArgument(format!("partition field name {name:?} is used twice")));
            }
            if let Some(other) = self.schema.field_by_name(&name)
                && !(other.id == source.id && transform == Transform::Identity)
            {
                return Err(Error::InvalidArgument(format!(
                    "partition field name {name:?} is the name of a column it is not the identity of"
                )));
            }
            let t = transform.to_string();
            if fields.iter().any(|f| f.source_id == source.id && f.transform == t) {
                return Err(Error::InvalidArgument(format!("{column:?} is partitioned by {t} twice")));
            }
            fields.push(PartitionField {
                source_id: source.id,
                field_id: self.first_field_id + i as i32,
                name,
                transform: t,
            });
        }
        Ok(PartitionSpec { spec_id: self.spec_id, fields })
    }
}

/// The default partition field name Iceberg gives `transform(column)`.
pub fn default_name(column: &str, transform: Transform) -> String {
    match transform {
        Transform::Identity => column.to_string(),
        Transform::Bucket(_) => format!("{column}_bucket"),
        Transform::Truncate(_) => format!("{column}_trunc"),
        Transform::Year => format!("{column}_year"),
        Transform::Month => format!("{column}_month"),
        Transform::Day => format!("{column}_day"),
        Transform::Hour => format!("{column}_hour"),
        Transform::Void => format!("{column}_null"),
    }
}

/// One spec field bound to the schema: where its source is and what it yields.
#[derive(Debug, Clone)]
pub(crate) struct BoundField {
    name: String,
    transform: Transform,
    /// Index of the source among the schema's top-level columns.
    column: usize,
    source: PrimitiveType,
    result: PrimitiveType,
}

/// Binds a spec to a schema for writing. Partition sources must be top-level
/// primitive columns (nested sources are [`Error::Unsupported`] for writes).
pub(crate) fn bind(schema: &Schema, spec: &PartitionSpec) -> Result<Vec<BoundField>> {
    spec.fields
        .iter()
        .map(|f| {
            let transform = Transform::parse(&f.transform)?;
            let column = schema.fields().iter().position(|c| c.id == f.source_id).ok_or_else(|| {
                if schema.field_by_id(f.source_id).is_some() {
                    Error::Unsupported { what: format!("writing with partition field {} on a nested column", f.name) }
                } else {
                    Error::InvalidArgument(format!(
                        "partition field {} has source id {} that is not in the schema",
                        f.name, f.source_id
                    ))
                }
            })?;
            let source_field = &schema.fields()[column];
            let source = source_field.field_type.as_primitive().cloned().ok_or_else(|| {
                Error::InvalidArgument(format!("partition field {} has a non-primitive source column", f.name))
            })?;
            let result = transform.result_type(&source)?;
            Ok(BoundField { name: f.name.clone(), transform, column, source, result })
        })
        .collect()
}

/// Checks a spec against a schema: known transforms, sources that exist and are
/// primitive with a type the transform allows, unique names and field ids.
pub(crate) fn validate_spec(schema: &Schema, spec: &PartitionSpec) -> Result<()> {
    let bound = bind_any(schema, spec)?;
    for (i, (name, t, src)) in bound.iter().enumerate() {
        t.result_type(src)?;
        if bound[..i].iter().any(|(n, _, _)| n == name) {
            return Err(Error::InvalidArgument(format!("partition field name {name:?} is used twice")));
        }
        if spec.fields[..i].iter().any(|f| f.field_id == spec.fields[i].field_id) {
            return Err(Error::InvalidArgument(format!(
                "partition field id {} is used twice",
                spec.fields[i].field_id
            )));
        }
    }
    Ok(())
}

/// Escapes one path component: `[A-Za-z0-9._-]` kept, every other byte `%XX`.
fn escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// The directory of a partition below `data/`: `name=value/name=value/…`, each
/// component escaped (see the module promises). Values render as
/// [`Transform::to_human_string`]; null as `null`.
// The path layout in one function, checked by the unit tests; the writer builds the
// same names incrementally.
#[cfg_attr(not(test), allow(dead_code))]
pub fn partition_path(spec: &PartitionSpec, schema: &Schema, values: &[Option<Datum>]) -> Result<PathBuf> {
    let fields = bind_any(schema, spec)?;
    Ok(path_of(&fields, values))
}

/// Like [`bind`] but accepts nested sources (only types are needed).
fn bind_any(schema: &Schema, spec: &PartitionSpec) -> Result<Vec<(String, Transform, PrimitiveType)>> {
    spec.fields
        .iter()
        .map(|f| {
            let t = Transform::parse(&f.transform)?;
            let src = schema
                .field_by_id(f.source_id)
                .and_then(|s| s.field_type.as_primitive().cloned())
                .ok_or_else(|| Error::InvalidArgument(format!("partition field {} has no primitive source", f.name)))?;
            Ok((f.name.clone(), t, src))
        })
        .collect()
}

fn path_of(fields: &[(String, Transform, PrimitiveType)], values: &[Option<Datum>]) -> PathBuf {
    let mut path = PathBuf::new();
    for ((name, t, src), v) in fields.iter().zip(values) {
        let mut c = String::new();
        escape(name, &mut c);
        c.push('=');
        let human = t.to_human_string(src, v.as_ref());
        escape(&human, &mut c);
        if c.len() > MAX_COMPONENT_LEN {
            // Escapes are ASCII, so any byte index is a char boundary.
            let hash = murmur3_32(format!("{name}={human}").as_bytes()) as u32;
            c.truncate(MAX_COMPONENT_LEN - 9);
            // Do not leave a cut escape behind.
            if let Some(p) = c.rfind('%').filter(|p| c.len() - p < 3) {
                c.truncate(p);
            }
            let _ = write!(c, "-{hash:08x}");
        }
        path.push(c);
    }
    path
}

/// The manifest-list partition summaries (field 507) of files written with `spec`:
/// per field, whether any value is null or NaN, and the smallest and largest non-NaN
/// values in the single-value encoding. An unpartitioned spec gives an empty list.
pub fn partition_summaries<'a>(
    spec: &PartitionSpec,
    schema: &Schema,
    files: impl IntoIterator<Item = &'a DataFile>,
) -> Result<Vec<FieldSummary>> {
    let fields = bind_any(schema, spec)?;
    let result_types: Vec<Option<PrimitiveType>> = fields.iter().map(|(_, t, src)| t.result_type(src).ok()).collect();
    let mut acc: Vec<(bool, bool, Option<Datum>, Option<Datum>)> = vec![(false, false, None, None); fields.len()];
    for f in files {
        for ((a, v), ty) in acc.iter_mut().zip(&f.partition).zip(&result_types) {
            // Values written before a type promotion (int -> long, float -> double)
            // are compared, and encoded, as the current type.
            let promoted = match (v, ty) {
                (Some(Datum::Int(i)), Some(PrimitiveType::Long)) => Some(Datum::Long(i64::from(*i))),
                (Some(Datum::Float(x)), Some(PrimitiveType::Double)) => Some(Datum::Double(f64::from(*x))),
                _ => None,
            };
            let v = if promoted.is_some() { &promoted } else { v };
            match v {
                None => a.0 = true,
                Some(Datum::Float(x)) if x.is_nan() => a.1 = true,
                Some(Datum::Double(x)) if x.is_nan() => a.1 = true,
                Some(d) => {
                    if a.2.as_ref().is_none_or(|lo| d.compare(lo) == Some(std::cmp::Ordering::Less)) {
                        a.2 = Some(d.clone());
                    }
                    if a.3.as_ref().is_none_or(|hi| d.compare(hi) == Some(std::cmp::Ordering::Greater)) {
                        a.3 = Some(d.clone());
                    }
                }
            }
        }
    }
    Ok(acc
        .into_iter()
        .map(|(null, nan, lo, hi)| FieldSummary {
            contains_null: null,
            contains_nan: Some(nan),
            lower_bound: lo.map(|d| d.to_bytes()),
            upper_bound: hi.map(|d| d.to_bytes()),
        })
        .collect())
}

/// How many distinct partition tuples `files` hold (1 for any non-empty set of
/// unpartitioned files).
pub(crate) fn distinct_partitions(files: &[DataFile]) -> usize {
    let mut seen: std::collections::HashSet<Vec<Option<Vec<u8>>>> = std::collections::HashSet::new();
    for f in files {
        seen.insert(f.partition.iter().map(|v| v.as_ref().map(Datum::to_bytes)).collect());
    }
    seen.len()
}

/// One partition's writer and its tuple.
struct PartitionWriter {
    values: Vec<Option<Datum>>,
    writer: DataFileWriter,
    /// When it was last written to (its key in [`Fanout::open`] while its file is open).
    last_use: u64,
    /// Bytes its open file buffers, as last measured.
    buffered: u64,
}

/// How a transaction writes rows: one writer for an unpartitioned spec, one per
/// partition tuple otherwise.
// Plain is the hot path: keep it unboxed (one writer per transaction, never moved in a loop).
#[allow(clippy::large_enum_variant)]
pub(crate) enum StagedWriter {
    /// Unpartitioned: every batch goes straight to one writer.
    Plain(DataFileWriter),
    /// Partitioned: rows are split by tuple.
    Partitioned(Box<Fanout>),
}

pub(crate) struct Fanout {
    storage: Arc<dyn Storage>,
    data_dir: Key,
    prefix: String,
    schema: Schema,
    opts: WriteOptions,
    /// False for tables datashard writes to (see `DataFileWriter::without_uuid_annotation`).
    uuid_annotation: bool,
    fields: Vec<BoundField>,
    path_fields: Vec<(String, Transform, PrimitiveType)>,
    converter: RowConverter,
    /// Partition key (row-format bytes of the tuple) → index into `writers`.
    index: HashMap<Box<[u8]>, usize>,
    writers: Vec<PartitionWriter>,
    /// Writers with an open file, by last use (oldest first): at most
    /// `opts.max_open_files` of them.
    open: BTreeMap<u64, usize>,
    /// Use counter for `last_use`.
    tick: u64,
    /// Sum of the open writers' `buffered`, kept at most `opts.max_buffered_bytes`.
    buffered: u64,
}

impl StagedWriter {
    /// A writer for `schema`'s rows under `data_dir`, files named `<prefix>-…`.
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        data_dir: Key,
        prefix: &str,
        schema: &Schema,
        spec: Option<&PartitionSpec>,
        opts: WriteOptions,
        uuid_annotation: bool,
    ) -> Result<StagedWriter> {
        let spec = match spec {
            Some(s) if !s.fields.is_empty() => s,
            _ => {
                let w = DataFileWriter::with_storage(storage, Some(data_dir), prefix, schema, opts);
                return Ok(StagedWriter::Plain(if uuid_annotation { w } else { w.without_uuid_annotation() }));
            }
        };
        let fields = bind(schema, spec)?;
        let path_fields = fields.iter().map(|f| (f.name.clone(), f.transform, f.source.clone())).collect();
        let sort_fields = fields.iter().map(|f| SortField::new(primitive_to_arrow(&f.result))).collect();
        let converter = RowConverter::new(sort_fields)?;
        Ok(StagedWriter::Partitioned(Box::new(Fanout {
            storage,
            data_dir,
            prefix: prefix.to_string(),
            schema: schema.clone(),
            opts,
            uuid_annotation,
            fields,
            path_fields,
            converter,
            index: HashMap::new(),
            writers: Vec::new(),
            open: BTreeMap::new(),
            tick: 0,
            buffered: 0,
        })))
    }

    /// Writes a batch already conformed to the schema.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            StagedWriter::Plain(w) => w.write(batch),
            StagedWriter::Partitioned(f) => f.write(batch),
        }
    }

    /// Every file created so far.
    pub(crate) fn created_keys(&self) -> Vec<Key> {
        match self {
            StagedWriter::Plain(w) => w.created_keys().to_vec(),
            StagedWriter::Partitioned(f) => f.writers.iter().flat_map(|p| p.writer.created_keys().to_vec()).collect(),
        }
    }

    /// True when a directory had to be created for the files (so the table root's
    /// entry for `data/` may be new).
    pub(crate) fn created_dir(&self) -> bool {
        match self {
            StagedWriter::Plain(w) => w.created_dir(),
            StagedWriter::Partitioned(f) => f.writers.iter().any(|p| p.writer.created_dir()),
        }
    }

    /// Finishes every file; each [`DataFile`] carries its partition tuple.
    pub(crate) fn finish(self) -> Result<Vec<DataFile>> {
        match self {
            StagedWriter::Plain(w) => w.finish(),
            StagedWriter::Partitioned(f) => {
                let mut out = Vec::new();
                for p in f.writers {
                    for mut file in p.writer.finish()? {
                        file.partition = p.values.clone();
                        out.push(file);
                    }
                }
                Ok(out)
            }
        }
    }

    /// Like [`finish`](Self::finish), with the last upload of each file still in flight
    /// (see `DataFileWriter::finish_later`): wait for them before the commit point.
    pub(crate) fn finish_later(self) -> Result<(Vec<DataFile>, Vec<PendingUpload>)> {
        match self {
            StagedWriter::Plain(w) => {
                let (files, pending) = w.finish_later()?;
                Ok((files, pending.into_iter().collect()))
            }
            StagedWriter::Partitioned(f) => {
                let (mut out, mut pending) = (Vec::new(), Vec::new());
                for p in f.writers {
                    let (files, up) = p.writer.finish_later()?;
                    pending.extend(up);
                    for mut file in files {
                        file.partition = p.values.clone();
                        out.push(file);
                    }
                }
                Ok((out, pending))
            }
        }
    }

    /// Stops and returns every path created, for the caller to delete.
    pub(crate) fn abort(self) -> Vec<Key> {
        match self {
            StagedWriter::Plain(w) => w.abort(),
            StagedWriter::Partitioned(f) => f.writers.into_iter().flat_map(|p| p.writer.abort()).collect(),
        }
    }
}

/// Every directory whose entries the files of `files` need made durable: each file's
/// directory and its ancestors up to and including `data_dir`.
pub(crate) fn dirs_to_sync(data_dir: &Key, files: &[Key]) -> Vec<Key> {
    let mut dirs = BTreeSet::new();
    dirs.insert(data_dir.clone());
    for f in files {
        let mut d = f.parent();
        while let Some(dir) = d {
            if !dir.starts_with(data_dir) || !dirs.insert(dir.clone()) {
                break;
            }
            d = dir.parent();
        }
    }
    dirs.into_iter().collect()
}

impl Fanout {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let transformed: Vec<ArrayRef> = self
            .fields
            .iter()
            .map(|f| f.transform.apply_array(batch.column(f.column), &f.source))
            .collect::<Result<_>>()?;
        let rows = self.converter.convert_columns(&transformed)?;
        // Group row indices by tuple, in order of first appearance.
        let mut groups: Vec<(usize, Vec<u32>)> = Vec::new();
        let mut local: HashMap<&[u8], usize> = HashMap::new();
        for (i, row) in rows.iter().enumerate() {
            let g = *local.entry(row.data()).or_insert_with(|| {
                groups.push((i, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(i as u32);
        }
        let single = groups.len() == 1;
        for (first, indices) in groups {
            let key = rows.row(first).data();
            let w = match self.index.get(key) {
                Some(w) => *w,
                None => {
                    let values: Vec<Option<Datum>> = transformed
                        .iter()
                        .zip(&self.fields)
                        .map(|(a, f)| datum_at(a.as_ref(), first, &f.result))
                        .collect();
                    let rel = path_of(&self.path_fields, &values);
                    // path_of never makes `/`, `.` or `..` segments; a key checks again.
                    let dir = rel.to_str().and_then(|r| self.data_dir.join(r).ok()).ok_or_else(|| {
                        Error::PathEscapesTable {
                            path: format!("{}/{}", self.data_dir, rel.display()),
                            root: self.storage.display_path(Some(&self.data_dir)),
                        }
                    })?;
                    let k = self.writers.len();
                    let prefix = format!("{}-p{k}", self.prefix);
                    let mut writer = DataFileWriter::with_storage(
                        self.storage.clone(),
                        Some(dir),
                        &prefix,
                        &self.schema,
                        self.opts.clone(),
                    )
                    .without_row_group_pipelining();
                    if !self.uuid_annotation {
                        writer = writer.without_uuid_annotation();
                    }
                    self.writers.push(PartitionWriter { values, writer, last_use: 0, buffered: 0 });
                    self.index.insert(key.into(), k);
                    k
                }
            };
            let part = if single {
                batch.clone()
            } else {
                let idx = UInt32Array::from(indices);
                arrow_select::take::take_record_batch(batch, &idx)?
            };
            // A writer about to open a file must not take the open count over the cap.
            if !self.writers[w].writer.has_open_file() {
                while self.open.len() >= self.opts.max_open_files.max(1) {
                    self.close_least_recent()?;
                }
            }
            self.writers[w].writer.write(&part)?;
            self.touched(w);
            while self.buffered > self.opts.max_buffered_bytes {
                if !self.flush_largest()? {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Books writer `w` as just used: its place in `open` and its buffered bytes.
    fn touched(&mut self, w: usize) {
        let pw = &mut self.writers[w];
        self.open.remove(&pw.last_use);
        self.buffered -= pw.buffered;
        pw.buffered = 0;
        // The write may have finished its file at the target size, or left one open.
        if pw.writer.has_open_file() {
            self.tick += 1;
            pw.last_use = self.tick;
            pw.buffered = pw.writer.buffered_bytes();
            self.buffered += pw.buffered;
            self.open.insert(pw.last_use, w);
        }
    }

    /// Finishes the file of the writer used least recently; a later row for its
    /// partition starts a new file.
    fn close_least_recent(&mut self) -> Result<()> {
        let Some((_, w)) = self.open.pop_first() else { return Ok(()) };
        let pw = &mut self.writers[w];
        self.buffered -= pw.buffered;
        pw.buffered = 0;
        pw.writer.close_file()
    }

    /// Writes out the largest buffered row group; false when nothing is buffered.
    fn flush_largest(&mut self) -> Result<bool> {
        let Some(&w) = self.open.values().max_by_key(|&&w| self.writers[w].buffered) else { return Ok(false) };
        let pw = &mut self.writers[w];
        if pw.buffered == 0 {
            return Ok(false);
        }
        pw.writer.flush_row_group()?;
        let before = pw.buffered;
        self.buffered -= before;
        pw.buffered = pw.writer.buffered_bytes();
        self.buffered += pw.buffered;
        // Stop if writing out freed nothing (nothing more to gain).
        Ok(pw.buffered < before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::PrimitiveType as P;

    fn schema() -> Schema {
        Schema::builder()
            .required("id", P::Long)
            .optional("name", P::String)
            .optional("ts", P::Timestamp)
            .optional("x", P::Double)
            .build()
            .unwrap()
    }

    #[test]
    fn builder_assigns_ids_names_and_checks() {
        let s = schema();
        let spec =
            PartitionSpec::builder(&s).identity("name").bucket("id", 8).hour("ts").truncate("name", 2).build().unwrap();
        let names: Vec<&str> = spec.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["name", "id_bucket", "ts_hour", "name_trunc"]);
        assert_eq!(spec.fields.iter().map(|f| f.field_id).collect::<Vec<_>>(), [1000, 1001, 1002, 1003]);
        assert_eq!(spec.fields[1].source_id, 1);
        let err = |b: PartitionSpecBuilder| matches!(b.build(), Err(Error::InvalidArgument(_)));
        assert!(err(PartitionSpec::builder(&s).identity("nope")));
        assert!(err(PartitionSpec::builder(&s).bucket("x", 4)));
        assert!(err(PartitionSpec::builder(&s).day("id")));
        assert!(err(PartitionSpec::builder(&s).bucket("id", 0)));
        assert!(err(PartitionSpec::builder(&s).day("ts").day("ts")));
        assert!(err(PartitionSpec::builder(&s).add_named("id", Transform::Bucket(2), "name")));
        assert!(err(PartitionSpec::builder(&s).add_named("id", Transform::Bucket(2), "")));
        let evolved =
            PartitionSpec::builder(&s).identity("name").with_spec_id(3).with_last_partition_id(1004).build().unwrap();
        assert_eq!((evolved.spec_id, evolved.fields[0].field_id), (3, 1005));
    }

    #[test]
    fn paths_are_escaped_and_confined() {
        let s = schema();
        let spec = PartitionSpec::builder(&s).identity("name").day("ts").build().unwrap();
        let p =
            |v: &str| partition_path(&spec, &s, &[Some(Datum::String(v.into())), Some(Datum::Date(17486))]).unwrap();
        assert_eq!(p("abc"), PathBuf::from("name=abc/ts_day=2017-11-16"));
        assert_eq!(p("../../etc"), PathBuf::from("name=..%2F..%2Fetc/ts_day=2017-11-16"));
        assert_eq!(p("a b/c=d%"), PathBuf::from("name=a%20b%2Fc%3Dd%25/ts_day=2017-11-16"));
        assert_eq!(p("é"), PathBuf::from("name=%C3%A9/ts_day=2017-11-16"));
        assert_eq!(partition_path(&spec, &s, &[None, None]).unwrap(), PathBuf::from("name=null/ts_day=null"));
        let long = "x".repeat(1000);
        let lp = p(&long);
        let first = lp.components().next().unwrap().as_os_str().len();
        assert!(first <= MAX_COMPONENT_LEN, "{first}");
        assert_ne!(p(&long), p(&"x".repeat(999)), "cut names keep a hash of the full value");
        let evil = "%".repeat(100);
        for c in p(&evil).components() {
            assert!(matches!(c, std::path::Component::Normal(_)));
        }
    }

    #[test]
    fn summaries_cover_nulls_nans_and_bounds() {
        let s = Schema::builder().optional("x", P::Double).optional("n", P::Int).build().unwrap();
        let spec = PartitionSpec::builder(&s).identity("x").bucket("n", 4).build().unwrap();
        let file = |x: Option<f64>, b: Option<i32>| DataFile {
            content: crate::spec::manifest::DataContent::Data,
            file_path: "file:///t/data/a.parquet".into(),
            file_format: "PARQUET".into(),
            partition: vec![x.map(Datum::Double), b.map(Datum::Int)],
            record_count: 1,
            file_size_in_bytes: 1,
            column_sizes: Default::default(),
            value_counts: Default::default(),
            null_value_counts: Default::default(),
            nan_value_counts: Default::default(),
            lower_bounds: Default::default(),
            upper_bounds: Default::default(),
            key_metadata: None,
            split_offsets: None,
            equality_ids: None,
            sort_order_id: None,
        };
        let files = [file(Some(2.5), Some(3)), file(Some(f64::NAN), Some(1)), file(Some(-1.0), None)];
        let sums = partition_summaries(&spec, &s, &files).unwrap();
        assert!(!sums[0].contains_null);
        assert_eq!(sums[0].contains_nan, Some(true));
        assert_eq!(sums[0].lower_bound, Some((-1.0f64).to_le_bytes().to_vec()));
        assert_eq!(sums[0].upper_bound, Some(2.5f64.to_le_bytes().to_vec()));
        assert!(sums[1].contains_null);
        assert_eq!(sums[1].contains_nan, Some(false));
        assert_eq!(sums[1].lower_bound, Some(1i32.to_le_bytes().to_vec()));
        assert_eq!(sums[1].upper_bound, Some(3i32.to_le_bytes().to_vec()));
        assert!(partition_summaries(&PartitionSpec::unpartitioned(), &s, &files).unwrap().is_empty());
    }

    #[test]
    fn dirs_to_sync_walks_up_to_the_data_dir() {
        let k = |s: &str| Key::new(s).unwrap();
        let files = vec![k("data/a=1/b=2/f.parquet"), k("data/a=1/b=3/g.parquet")];
        let dirs = dirs_to_sync(&k("data"), &files);
        let want: Vec<Key> = ["data", "data/a=1", "data/a=1/b=2", "data/a=1/b=3"].into_iter().map(k).collect();
        assert_eq!(dirs, want);
    }
}
