//! Row-level delete files (merge-on-read): which live delete files of a snapshot apply
//! to which data file, and dropping the rows they delete while a data file is read.
//!
//! Matching follows the Iceberg v2 spec ("Scan Planning"):
//! - a *position* delete file (`file_path`, `pos`; field ids 2147483546, 2147483545)
//!   applies to a data file of the same partition spec and partition values whose data
//!   sequence number is smaller than or equal to the delete file's; a delete file whose
//!   `file_path` column bounds cannot include the data file's path is skipped unread;
//! - an *equality* delete file (columns `equality_ids`) applies to a data file whose
//!   data sequence number is strictly smaller than the delete file's, of the same spec
//!   and partition values, or to every data file when the delete file's spec is
//!   unpartitioned (a "global" equality delete).
//!
//! Promises: memory stays bounded by what is deleted, not by what is read. Positions
//! are kept per data file as a roaring bitmap of the rows deleted in that file (the
//! delete files are streamed, rows for other data files dropped as they are read).
//! Equality delete files are hashed once per scan and shared by every data file they
//! apply to (so a partition's deletes are hashed once); the rows hashed in one scan are
//! capped by the table property [`EQUALITY_DELETE_MAX_ROWS`] (default
//! [`DEFAULT_EQUALITY_DELETE_MAX_ROWS`]), past which the read fails with
//! [`Error::ResourceLimit`] instead of growing without bound. Equality compares values
//! as equality deletes require: null equals null; floats by their bits.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use arrow_array::{Array, BooleanArray, RecordBatch};
use arrow_row::{RowConverter, SortField};
use roaring::RoaringTreemap;

use crate::data::read::{NameMapping, ReadOptions, open_data};
use crate::error::{Error, Result};
use crate::io::location::TableLocation;
use crate::spec::manifest::{DataContent, DataFile};
use crate::spec::types::{NestedField, PrimitiveType, Schema};

/// Field id of a position delete file's `file_path` column (reserved by the spec).
pub const DELETE_FILE_PATH_ID: i32 = 2147483546;
/// Field id of a position delete file's `pos` column (reserved by the spec).
pub const DELETE_POS_ID: i32 = 2147483545;

/// Table property: the most equality-delete rows one scan hashes in memory.
pub const EQUALITY_DELETE_MAX_ROWS: &str = "floe.read.equality-delete-max-rows";
/// Default of [`EQUALITY_DELETE_MAX_ROWS`]: ten million rows (about a gigabyte of keys
/// at worst for wide keys, far less for integer keys).
pub const DEFAULT_EQUALITY_DELETE_MAX_ROWS: u64 = 10_000_000;

/// The schema of a position delete file: `file_path` (string) and `pos` (long).
pub(crate) fn position_delete_schema() -> Result<Schema> {
    Schema::new(vec![
        NestedField::required(DELETE_FILE_PATH_ID, "file_path", PrimitiveType::String),
        NestedField::required(DELETE_POS_ID, "pos", PrimitiveType::Long),
    ])
}

/// A live delete file of the scanned snapshot, with what matching it needs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeleteFile {
    /// The delete file (`content` says position or equality deletes).
    pub file: DataFile,
    /// Its data sequence number.
    pub sequence_number: i64,
    /// The partition spec it was written for.
    pub spec_id: i32,
}

fn partition_key(spec_id: i32, partition: &[Option<crate::spec::values::Datum>]) -> (i32, String) {
    // Datum has no Hash (floats); its Debug form is exact and stable within a scan.
    (spec_id, format!("{partition:?}"))
}

/// The delete files of a snapshot, indexed for matching against data files.
#[derive(Debug, Default)]
pub(crate) struct DeleteIndex {
    positional: HashMap<(i32, String), Vec<Arc<DeleteFile>>>,
    equality: HashMap<(i32, String), Vec<Arc<DeleteFile>>>,
    global_equality: Vec<Arc<DeleteFile>>,
}

impl DeleteIndex {
    pub(crate) fn is_empty(&self) -> bool {
        self.positional.is_empty() && self.equality.is_empty() && self.global_equality.is_empty()
    }

    /// Adds a live delete file; `unpartitioned` is whether its spec has no fields.
    pub(crate) fn add(&mut self, file: DeleteFile, unpartitioned: bool) {
        let key = partition_key(file.spec_id, &file.file.partition);
        match file.file.content {
            DataContent::PositionDeletes => self.positional.entry(key).or_default().push(Arc::new(file)),
            DataContent::EqualityDeletes if unpartitioned => self.global_equality.push(Arc::new(file)),
            DataContent::EqualityDeletes => self.equality.entry(key).or_default().push(Arc::new(file)),
            DataContent::Data => {}
        }
    }

    /// The delete files that apply to `data` (data sequence number `seq`, spec `spec_id`).
    pub(crate) fn for_data(&self, seq: i64, spec_id: i32, data: &DataFile) -> Vec<Arc<DeleteFile>> {
        if self.is_empty() {
            return Vec::new();
        }
        let key = partition_key(spec_id, &data.partition);
        let mut out = Vec::new();
        if let Some(list) = self.positional.get(&key) {
            for d in list {
                if d.sequence_number >= seq && path_in_bounds(&d.file, &data.file_path) {
                    out.push(Arc::clone(d));
                }
            }
        }
        let partitioned = self.equality.get(&key).map(Vec::as_slice).unwrap_or_default();
        for d in partitioned.iter().chain(&self.global_equality) {
            if d.sequence_number > seq {
                out.push(Arc::clone(d));
            }
        }
        out
    }
}

/// Whether the `file_path` bounds of a position delete file may include `path`
/// (truncated bounds stay valid bounds, so a byte comparison is safe).
pub(crate) fn path_in_bounds(delete: &DataFile, path: &str) -> bool {
    let p = path.as_bytes();
    if let Some(lo) = delete.lower_bounds.get(&DELETE_FILE_PATH_ID)
        && p < lo.as_slice()
    {
        return false;
    }
    if let Some(hi) = delete.upper_bounds.get(&DELETE_FILE_PATH_ID)
        && p > hi.as_slice()
    {
        return false;
    }
    true
}

/// What reading delete files needs, shared by every file of one scan.
#[derive(Debug)]
pub(crate) struct DeleteReader {
    pub(crate) location: TableLocation,
    /// The schema equality columns are read with (the scanned snapshot's).
    pub(crate) schema: Schema,
    pub(crate) name_mapping: Option<Arc<NameMapping>>,
    pub(crate) max_equality_rows: u64,
    equality: Mutex<EqualityCache>,
}

#[derive(Debug, Default)]
struct EqualityCache {
    sets: HashMap<String, Arc<EqualitySet>>,
    rows: u64,
}

impl DeleteReader {
    pub(crate) fn new(
        location: TableLocation,
        schema: Schema,
        name_mapping: Option<Arc<NameMapping>>,
        max_equality_rows: u64,
    ) -> DeleteReader {
        DeleteReader { location, schema, name_mapping, max_equality_rows, equality: Mutex::default() }
    }

    /// Loads the deletes that apply to the data file `data_path`.
    pub(crate) fn load(&self, deletes: &[Arc<DeleteFile>], data_path: &str) -> Result<FileDeletes> {
        let mut out = FileDeletes::default();
        for d in deletes {
            match d.file.content {
                DataContent::PositionDeletes => self.read_positions(&d.file, data_path, &mut out.positions)?,
                DataContent::EqualityDeletes => out.equality.push(self.equality_set(&d.file)?),
                DataContent::Data => {}
            }
        }
        Ok(out)
    }

    fn open(&self, file: &DataFile, schema: &Schema) -> Result<crate::data::read::DataFileReader> {
        if !file.file_format.eq_ignore_ascii_case("parquet") {
            return Err(Error::Unsupported {
                what: format!(
                    "{} delete files ({}){}",
                    file.file_format,
                    file.file_path,
                    if file.file_format.eq_ignore_ascii_case("puffin") { " (Iceberg v3 deletion vectors)" } else { "" }
                ),
            });
        }
        let f = self.location.resolve(&file.file_path)?;
        let size = u64::try_from(file.file_size_in_bytes).ok().filter(|s| *s > 0);
        open_data(&f, size, schema, self.name_mapping.as_deref(), &ReadOptions::default())
    }

    fn read_positions(&self, file: &DataFile, data_path: &str, into: &mut RoaringTreemap) -> Result<()> {
        let reader = self.open(file, &position_delete_schema()?)?;
        for batch in reader {
            let batch = batch?;
            let bad = || Error::SchemaMismatch {
                field: "file_path/pos".into(),
                reason: format!("position delete file {} does not have string/long columns", file.file_path),
            };
            let paths = batch.column(0).as_any().downcast_ref::<arrow_array::StringArray>().ok_or_else(bad)?;
            let pos = batch.column(1).as_any().downcast_ref::<arrow_array::Int64Array>().ok_or_else(bad)?;
            for i in 0..batch.num_rows() {
                if paths.is_valid(i) && pos.is_valid(i) && paths.value(i) == data_path {
                    let p = pos.value(i);
                    let p = u64::try_from(p).map_err(|_| Error::CorruptMetadata {
                        path: file.file_path.clone().into(),
                        reason: format!("negative position {p} in a position delete file"),
                    })?;
                    into.insert(p);
                }
            }
        }
        Ok(())
    }

    fn equality_set(&self, file: &DataFile) -> Result<Arc<EqualitySet>> {
        if let Some(s) = crate::sync::lock(&self.equality).sets.get(&file.file_path) {
            return Ok(Arc::clone(s));
        }
        let ids = file.equality_ids.clone().unwrap_or_default();
        if ids.is_empty() {
            return Err(Error::CorruptMetadata {
                path: file.file_path.clone().into(),
                reason: "an equality delete file without equality_ids".into(),
            });
        }
        let mut fields = Vec::with_capacity(ids.len());
        for id in &ids {
            let f = self.schema.fields().iter().find(|f| f.id == *id).ok_or_else(|| Error::Unsupported {
                what: format!(
                    "equality delete file {} on field id {id}, which is not a top-level column of the schema read",
                    file.file_path
                ),
            })?;
            if f.field_type.as_primitive().is_none() {
                return Err(Error::Unsupported {
                    what: format!("equality deletes on the nested column {:?} ({})", f.name, file.file_path),
                });
            }
            fields.push(f.clone());
        }
        let schema = Schema::new(fields)?;
        let arrow = schema.to_arrow();
        let converter =
            RowConverter::new(arrow.fields().iter().map(|f| SortField::new(f.data_type().clone())).collect())?;
        let mut keys: HashSet<Box<[u8]>> = HashSet::new();
        let reader = self.open(file, &schema)?;
        let mut added: u64 = 0;
        for batch in reader {
            let batch = batch?;
            added += batch.num_rows() as u64;
            {
                let cache = crate::sync::lock(&self.equality);
                if cache.rows + added > self.max_equality_rows {
                    return Err(Error::ResourceLimit {
                        what: format!("equality delete rows hashed for one scan (reading {})", file.file_path),
                        limit: self.max_equality_rows,
                        property: EQUALITY_DELETE_MAX_ROWS.into(),
                    });
                }
            }
            let rows = converter.convert_columns(batch.columns())?;
            for r in rows.iter() {
                keys.insert(r.as_ref().into());
            }
        }
        let set = Arc::new(EqualitySet { field_ids: ids, converter, keys });
        let mut cache = crate::sync::lock(&self.equality);
        cache.rows += added;
        cache.sets.insert(file.file_path.clone(), Arc::clone(&set));
        Ok(set)
    }
}

/// The hashed keys of one equality delete file.
#[derive(Debug)]
pub(crate) struct EqualitySet {
    field_ids: Vec<i32>,
    converter: RowConverter,
    keys: HashSet<Box<[u8]>>,
}

/// The deletes that apply to one data file, ready to mask its batches.
#[derive(Debug, Default)]
pub(crate) struct FileDeletes {
    positions: RoaringTreemap,
    equality: Vec<Arc<EqualitySet>>,
}

impl FileDeletes {
    pub(crate) fn is_empty(&self) -> bool {
        self.positions.is_empty() && self.equality.is_empty()
    }

    /// Whether positions are deleted (then each row's position in the file must be
    /// tracked while it is read).
    pub(crate) fn has_positions(&self) -> bool {
        !self.positions.is_empty()
    }

    /// Whether any equality delete file applies (then which rows are live is only
    /// known by reading the equality columns of every row).
    pub(crate) fn has_equality(&self) -> bool {
        !self.equality.is_empty()
    }

    /// Rows of a file of `rows` rows that position deletes delete (positions past the
    /// end, which no valid delete file holds, are not counted).
    pub(crate) fn positions_deleted_below(&self, rows: u64) -> u64 {
        if rows == 0 { 0 } else { self.positions.rank(rows - 1) }
    }

    /// The rows of `batch` that survive, `None` when all do. `positions` are the rows'
    /// positions in the data file (ascending, one per row: see [`RowPositions`]; may
    /// be empty when no position deletes apply);
    /// `schema` is the schema `batch` was read with (equality columns are found in it
    /// by field id).
    pub(crate) fn keep_mask(
        &self,
        batch: &RecordBatch,
        positions: &[u64],
        schema: &Schema,
    ) -> Result<Option<BooleanArray>> {
        let n = batch.num_rows();
        if !self.positions.is_empty() && positions.len() != n {
            return Err(Error::InvalidArgument(format!(
                "{} row positions for a batch of {n} rows (a floe bug)",
                positions.len()
            )));
        }
        let mut keep: Option<Vec<bool>> = None;
        if let (false, Some(first), Some(last)) = (self.positions.is_empty(), positions.first(), positions.last()) {
            // Most batches hold no deleted row: two rank lookups say so.
            let below = |v: u64| if v == 0 { 0 } else { self.positions.rank(v - 1) };
            if below(*last + 1) > below(*first) {
                let k = keep.get_or_insert_with(|| vec![true; n]);
                for (slot, p) in k.iter_mut().zip(positions) {
                    if self.positions.contains(*p) {
                        *slot = false;
                    }
                }
            }
        }
        for set in &self.equality {
            let mut columns = Vec::with_capacity(set.field_ids.len());
            for id in &set.field_ids {
                let i = schema.fields().iter().position(|f| f.id == *id).ok_or_else(|| {
                    Error::InvalidArgument(format!("equality delete column {id} was not read (a floe bug)"))
                })?;
                columns.push(Arc::clone(batch.column(i)));
            }
            let rows = set.converter.convert_columns(&columns)?;
            for (i, r) in rows.iter().enumerate() {
                if set.keys.contains(r.as_ref()) {
                    keep.get_or_insert_with(|| vec![true; n])[i] = false;
                }
            }
        }
        Ok(keep.map(BooleanArray::from))
    }
}

/// The positions in a data file of the rows a (possibly pruned) read of it returns, in
/// order: the chosen row groups (in file order), and within them the rows a
/// page-index selection keeps. A row's position is its row group's first row (the rows
/// of every row group before it, skipped or not) plus its offset in the row group, so
/// positions stay exact however many row groups and pages pruning skips.
#[derive(Debug, Default)]
pub(crate) struct RowPositions {
    /// Runs of consecutive positions `(start, len)`, in read order.
    runs: std::collections::VecDeque<(u64, u64)>,
}

impl RowPositions {
    /// Every row of a file of `rows` rows, in order.
    pub(crate) fn all(rows: u64) -> RowPositions {
        let mut runs = std::collections::VecDeque::new();
        if rows > 0 {
            runs.push_back((0, rows));
        }
        RowPositions { runs }
    }

    /// The rows of `row_groups` (row counts `row_group_rows`, one per row group of the
    /// file) that `selection` selects (`None`: all of them).
    pub(crate) fn of(
        row_group_rows: &[u64],
        row_groups: &[usize],
        selection: Option<&parquet::arrow::arrow_reader::RowSelection>,
    ) -> RowPositions {
        let mut first = Vec::with_capacity(row_group_rows.len());
        let mut acc = 0u64;
        for n in row_group_rows {
            first.push(acc);
            acc += n;
        }
        // The chosen row groups' spans, in read order.
        let spans: Vec<(u64, u64)> = row_groups
            .iter()
            .filter_map(|&rg| Some((*first.get(rg)?, *row_group_rows.get(rg)?)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let mut out = RowPositions::default();
        let Some(selection) = selection else {
            out.runs.extend(spans);
            return out;
        };
        // Walk the selectors over the spans' concatenation.
        let mut span = 0usize;
        let mut offset = 0u64; // rows of spans[span] consumed
        for s in selection.iter() {
            let mut left = s.row_count as u64;
            while left > 0 {
                let Some(&(start, len)) = spans.get(span) else { return out };
                let take = left.min(len - offset);
                if !s.skip {
                    out.push(start + offset, take);
                }
                offset += take;
                left -= take;
                if offset == len {
                    span += 1;
                    offset = 0;
                }
            }
        }
        out
    }

    fn push(&mut self, start: u64, len: u64) {
        match self.runs.back_mut() {
            Some((s, l)) if *s + *l == start => *l += len,
            _ => self.runs.push_back((start, len)),
        }
    }

    /// The positions of the next `n` rows read.
    pub(crate) fn take(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::with_capacity(n);
        let mut left = n as u64;
        while left > 0 {
            let Some((start, len)) = self.runs.front_mut() else { break };
            let k = left.min(*len);
            out.extend(*start..*start + k);
            *start += k;
            *len -= k;
            left -= k;
            if *len == 0 {
                self.runs.pop_front();
            }
        }
        out
    }
}
