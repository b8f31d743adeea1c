//! Row keys for `upsert` and `insert-if-absent` (`--key id[,id2…]`).
//!
//! Owns two things the library's row operations do not give a shell user:
//!
//! - **Checking the input's keys before anything is written**, naming the input and
//!   the row: every key column present in each input that names its columns (a CSV
//!   header, a Parquet schema), no null key value, and for `upsert` no key twice. The
//!   library refuses the same inputs, but only after reading them all and without
//!   saying which file or row; the command checks first so the message can.
//! - **A dry run that writes nothing**: which rows and files of the table hold the
//!   input's keys, found by a pruned scan of only the key columns (the same `in`
//!   predicate the library prunes with), matched exactly per row.
//!
//! Key tuples are compared in arrow-row's byte encoding (the one arrow's own sorts and
//! group-bys use): equal keys encode to equal bytes, whatever the column types, so a
//! hash set of encodings matches tuples of any width. Input batches and scanned batches
//! are both in the table's Arrow types (the importer conforms the input), and each key
//! column is cast to the table type anyway so the two sides always share an encoding.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_row::{RowConverter, Rows, SortField};
use floe::Table;
use floe::expr::{Literal, Predicate, col};
use floe::spec::transform::datum_at;
use floe::spec::types::{PrimitiveType, Schema, primitive_to_arrow};
use floe::spec::values::Datum;
use serde_json::{Value, json};

use crate::Failure;
use crate::input::Loaded;

/// The key columns of a table, and their encoder.
pub struct Keys {
    columns: Vec<(String, PrimitiveType)>,
    converter: RowConverter,
}

/// The input's keys, checked.
pub struct InputKeys {
    /// Per input, per batch: the encoded key of each row.
    rows: Vec<Vec<Rows>>,
    /// Each distinct key's encoding -> where it first appears (input, batch, row).
    first: HashMap<Vec<u8>, (usize, usize, usize)>,
}

/// Where the table holds the input's keys (for a dry run).
pub struct Existing {
    /// Planned files (pruned by the key predicate), each read.
    pub files_scanned: usize,
    /// Files holding at least one key: (path, rows in the file, rows whose key matched).
    pub files: Vec<(String, i64, u64)>,
    /// The encodings of the keys found.
    pub keys: std::collections::HashSet<Vec<u8>>,
}

impl Keys {
    /// Parses `--key id[,id2…]` against the table schema.
    pub fn new(schema: &Schema, text: &str) -> Result<Keys, Failure> {
        let names: Vec<&str> = text.split(',').map(str::trim).collect();
        if names.iter().any(|n| n.is_empty()) {
            return Err(Failure::usage(format!("--key {text:?}: expected column names separated by commas")));
        }
        let mut columns: Vec<(String, PrimitiveType)> = Vec::with_capacity(names.len());
        for name in names {
            let field = schema.field_by_name(name).ok_or_else(|| {
                let known: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
                Failure::usage(format!("--key: {name:?} is not a column of the table (columns: {})", known.join(", ")))
            })?;
            let ty = field.field_type.as_primitive().ok_or_else(|| {
                Failure::usage(format!("--key: {name:?} is a nested column; a key column must be a primitive column"))
            })?;
            if columns.iter().any(|(n, _)| n == name) {
                return Err(Failure::usage(format!("--key: {name:?} is named twice")));
            }
            columns.push((name.to_string(), ty.clone()));
        }
        let fields = columns.iter().map(|(_, ty)| SortField::new(primitive_to_arrow(ty))).collect();
        let converter = RowConverter::new(fields)
            .map_err(|e| Failure::usage(format!("--key {text:?}: these columns cannot be keys: {e}")))?;
        Ok(Keys { columns, converter })
    }

    /// The key column names.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The key columns of `batch`, cast to the table's types.
    fn arrays(&self, batch: &RecordBatch) -> Result<Vec<ArrayRef>, Failure> {
        self.columns
            .iter()
            .map(|(name, ty)| {
                let a = batch
                    .column_by_name(name)
                    .ok_or_else(|| Failure::usage(format!("key column {name:?} missing from a batch (internal)")))?;
                let want = primitive_to_arrow(ty);
                if a.data_type() == &want {
                    return Ok(Arc::clone(a));
                }
                arrow_cast::cast(a.as_ref(), &want)
                    .map_err(|e| Failure::usage(format!("key column {name:?}: cannot compare as {ty}: {e}")))
            })
            .collect()
    }

    fn encode(&self, arrays: &[ArrayRef]) -> Result<Rows, Failure> {
        self.converter.convert_columns(arrays).map_err(|e| Failure::usage(format!("encoding keys: {e}")))
    }

    /// The key of one row as values.
    fn values(&self, arrays: &[ArrayRef], row: usize) -> Vec<Datum> {
        arrays.iter().zip(&self.columns).filter_map(|(a, (_, ty))| datum_at(a.as_ref(), row, ty)).collect()
    }

    /// `id=3, region=eu`.
    pub fn show(&self, key: &[Datum]) -> String {
        key.iter()
            .zip(&self.columns)
            .map(|(d, (name, ty))| format!("{name}={}", d.to_string_typed(ty)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `{"id": 3, "region": "eu"}`: numbers and booleans as JSON's, the rest as text.
    pub fn json(&self, key: &[Datum]) -> Value {
        let mut out = serde_json::Map::new();
        for (d, (name, ty)) in key.iter().zip(&self.columns) {
            let v = match d {
                Datum::Boolean(b) => json!(b),
                Datum::Int(v) => json!(v),
                Datum::Long(v) => json!(v),
                Datum::Float(v) if v.is_finite() => json!(v),
                Datum::Double(v) if v.is_finite() => json!(v),
                _ => json!(d.to_string_typed(ty)),
            };
            out.insert(name.clone(), v);
        }
        Value::Object(out)
    }

    /// Checks the input's keys (present, not null; with `unique`, no key twice) and
    /// encodes them. Errors name the input and the row (counted from 1).
    pub fn check(&self, inputs: &[Loaded], unique: bool) -> Result<InputKeys, Failure> {
        let mut rows = Vec::with_capacity(inputs.len());
        let mut first: HashMap<Vec<u8>, (usize, usize, usize)> = HashMap::new();
        let bad = |input: &Loaded, row: Option<u64>, column: Option<&str>, reason: String| {
            Failure::from(floe::Error::InvalidInput {
                path: PathBuf::from(&input.name),
                row,
                column: column.map(str::to_string),
                reason,
            })
        };
        for (i, input) in inputs.iter().enumerate() {
            if let Some(cols) = &input.columns
                && let Some((name, _)) = self.columns.iter().find(|(n, _)| !cols.contains(n))
            {
                return Err(bad(
                    input,
                    None,
                    Some(name),
                    format!("key column missing from the input (its columns: {})", cols.join(", ")),
                ));
            }
            let mut per_batch = Vec::with_capacity(input.batches.len());
            let mut row0 = 0u64;
            for (b, batch) in input.batches.iter().enumerate() {
                let arrays = self.arrays(batch)?;
                for (a, (name, _)) in arrays.iter().zip(&self.columns) {
                    if a.null_count() > 0
                        && let Some(r) = (0..a.len()).find(|&r| a.is_null(r))
                    {
                        let missing = if input.columns.is_none() { " (or missing)" } else { "" };
                        return Err(bad(
                            input,
                            Some(row0 + r as u64 + 1),
                            Some(name),
                            format!("the key is null{missing}: every row needs a key"),
                        ));
                    }
                }
                let encoded = self.encode(&arrays)?;
                for (r, key) in encoded.iter().enumerate() {
                    match first.entry(key.as_ref().to_vec()) {
                        Entry::Vacant(v) => {
                            v.insert((i, b, r));
                        }
                        Entry::Occupied(o) if unique => {
                            let (fi, fb, fr) = *o.get();
                            let at = row_number(&inputs[fi], fb, fr);
                            let shown = self.show(&self.values(&arrays, r));
                            return Err(bad(
                                input,
                                Some(row0 + r as u64 + 1),
                                None,
                                format!(
                                    "key {shown} appears twice in the input (first at {} row {at}): each key may be \
                                     given once",
                                    inputs[fi].name
                                ),
                            ));
                        }
                        Entry::Occupied(_) => {}
                    }
                }
                row0 += batch.num_rows() as u64;
                per_batch.push(encoded);
            }
            rows.push(per_batch);
        }
        Ok(InputKeys { rows, first })
    }

    /// `k1 in (…) and k2 in (…)` over the input's distinct key values: a superset of
    /// the keys, for pruning.
    fn predicate(&self, inputs: &[Loaded], keys: &InputKeys) -> Result<Predicate, Failure> {
        let mut values: Vec<Vec<Datum>> = vec![Vec::new(); self.columns.len()];
        let mut seen: Vec<std::collections::HashSet<Vec<u8>>> = vec![Default::default(); self.columns.len()];
        for &(i, b, r) in keys.first.values() {
            let arrays = self.arrays(&inputs[i].batches[b])?;
            for (c, d) in self.values(&arrays, r).into_iter().enumerate() {
                if seen[c].insert(d.to_bytes()) {
                    values[c].push(d);
                }
            }
        }
        let mut p: Option<Predicate> = None;
        for ((name, _), vals) in self.columns.iter().zip(values) {
            let leaf = col(name.clone()).is_in(vals.into_iter().map(Literal::Typed));
            p = Some(match p {
                Some(p) => p.and(leaf),
                None => leaf,
            });
        }
        Ok(p.unwrap_or(Predicate::False))
    }

    /// Which rows and files of the table's current snapshot hold the input's keys.
    /// Reads only the key columns of the files (and row groups) the key predicate
    /// may match.
    pub fn existing(&self, table: &Table, inputs: &[Loaded], keys: &InputKeys) -> Result<Existing, Failure> {
        let mut out = Existing { files_scanned: 0, files: Vec::new(), keys: Default::default() };
        if keys.first.is_empty() || table.current_snapshot().is_none() {
            return Ok(out);
        }
        let plan = table.scan().select(self.names()).filter(self.predicate(inputs, keys)?).plan()?;
        out.files_scanned = plan.files.len();
        for (i, file) in plan.files.iter().enumerate() {
            let (batches, _) = plan.read_file(i, floe_cli::import::DEFAULT_BATCH_ROWS)?;
            let mut matched = 0u64;
            for b in &batches {
                let encoded = self.encode(&self.arrays(b)?)?;
                for key in encoded.iter() {
                    if keys.first.contains_key(key.as_ref()) {
                        matched += 1;
                        out.keys.insert(key.as_ref().to_vec());
                    }
                }
            }
            if matched > 0 {
                out.files.push((file.file_path.clone(), file.record_count, matched));
            }
        }
        Ok(out)
    }

    /// For a dry-run insert-if-absent: the rows that would be inserted, and the keys
    /// skipped (already in the table, or given earlier in the input), in input order.
    pub fn absent(
        &self,
        inputs: &[Loaded],
        keys: &InputKeys,
        existing: &Existing,
    ) -> Result<(u64, Vec<Vec<Datum>>), Failure> {
        let mut taken = existing.keys.clone();
        let (mut inserted, mut skipped) = (0u64, Vec::new());
        for (input, per_batch) in inputs.iter().zip(&keys.rows) {
            for (batch, rows) in input.batches.iter().zip(per_batch) {
                let arrays = self.arrays(batch)?;
                for (r, key) in rows.iter().enumerate() {
                    if taken.insert(key.as_ref().to_vec()) {
                        inserted += 1;
                    } else {
                        skipped.push(self.values(&arrays, r));
                    }
                }
            }
        }
        Ok((inserted, skipped))
    }
}

/// The 1-based row number in `input` of row `row` of batch `batch`.
fn row_number(input: &Loaded, batch: usize, row: usize) -> u64 {
    input.batches[..batch].iter().map(|b| b.num_rows() as u64).sum::<u64>() + row as u64 + 1
}
