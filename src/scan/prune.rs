//! Pruning inside one data file (scan step 3): which row groups, and which rows of them
//! by the Parquet page index, may hold rows matching a bound predicate.
//!
//! Promises: only row groups and pages that provably hold no matching row are dropped
//! (the decision is [`BoundPredicate::might_match`] over the row group's or page's
//! statistics, converted to Iceberg values of the column's current type); columns are
//! found by Iceberg field id (or the table's name mapping for files without ids), never
//! by name; a page index that is missing, partial or inconsistent only means less
//! pruning, never an error or a wrong result. NaN: Parquet statistics leave NaN out, so
//! float bounds are used only when the manifest says the file has no NaN in that column.

use std::collections::HashMap;

use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use parquet::data_type::{ByteArray, FixedLenByteArray};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;

use crate::data::read::NameMapping;
use crate::data::write::stat_bounds;
use crate::expr::{BoundLeaf, BoundPredicate, ColumnStats};
use crate::spec::manifest::DataFile;
use crate::spec::types::PrimitiveType;

/// What to read of one file.
#[derive(Debug, Clone, Default)]
pub(crate) struct FilePrune {
    /// Row groups that may hold matching rows, in file order.
    pub row_groups: Vec<usize>,
    /// Rows of `row_groups` to read (None: all of them).
    pub selection: Option<RowSelection>,
    /// Row groups in the file.
    pub row_groups_total: usize,
    /// Rows of kept row groups skipped by the page index.
    pub rows_skipped_by_pages: u64,
}

struct Columns<'a> {
    md: &'a ParquetMetaData,
    file: &'a DataFile,
    /// Field id → Parquet leaf column index (top-level, non-repeated columns only).
    by_id: HashMap<i32, usize>,
    /// Whether a predicate column absent from `by_id` is known to be absent from the file
    /// (and so all null), rather than just unresolvable.
    absent_means_null: bool,
    types: HashMap<i32, PrimitiveType>,
}

impl Columns<'_> {
    fn nan_free(&self, id: i32) -> Option<i64> {
        (self.file.nan_value_counts.get(&id) == Some(&0)).then_some(0)
    }

    fn row_group_stats(&self, rg: &RowGroupMetaData, id: i32) -> Option<ColumnStats> {
        let ty = self.types.get(&id)?;
        let rows = rg.num_rows();
        let Some(&c) = self.by_id.get(&id) else {
            return self.absent_means_null.then(|| ColumnStats {
                null_count: Some(rows),
                value_count: Some(rows),
                ..ColumnStats::default()
            });
        };
        let chunk = rg.columns().get(c)?;
        let stats = chunk.statistics();
        let bounds = stats.and_then(|s| stat_bounds(s, ty, chunk.column_descr()));
        let (lower, upper) = match bounds {
            Some((lo, hi)) => (Some(lo), Some(hi)),
            None => (None, None),
        };
        Some(ColumnStats {
            lower,
            upper,
            null_count: stats.and_then(Statistics::null_count_opt).and_then(|n| i64::try_from(n).ok()),
            value_count: Some(rows),
            nan_count: self.nan_free(id),
        })
    }

    /// The rows of row group `rg` that `pred` may match, by the page index.
    fn page_selection(&self, pred: &BoundPredicate, rg: usize, rows: usize) -> RowSelection {
        match pred {
            BoundPredicate::True => RowSelection::from(vec![RowSelector::select(rows)]),
            BoundPredicate::False => RowSelection::from(vec![RowSelector::skip(rows)]),
            // One level of recursion per level of nesting, a loop over the terms.
            BoundPredicate::And(ps) => {
                let mut acc = RowSelection::from(vec![RowSelector::select(rows)]);
                for p in ps {
                    acc = acc.intersection(&self.page_selection(p, rg, rows));
                }
                acc
            }
            BoundPredicate::Or(ps) => {
                let mut acc = RowSelection::from(vec![RowSelector::skip(rows)]);
                for p in ps {
                    acc = acc.union(&self.page_selection(p, rg, rows));
                }
                acc
            }
            BoundPredicate::Leaf(l) => {
                self.leaf_pages(l, rg, rows).unwrap_or_else(|| RowSelection::from(vec![RowSelector::select(rows)]))
            }
        }
    }

    fn leaf_pages(&self, l: &BoundLeaf, rg: usize, rows: usize) -> Option<RowSelection> {
        let c = *self.by_id.get(&l.field_id)?;
        let index = self.md.column_index()?.get(rg)?.get(c)?;
        if matches!(index, ColumnIndexMetaData::NONE) {
            return None;
        }
        let locations = self.md.offset_index()?.get(rg)?.get(c)?.page_locations();
        let descr = self.md.file_metadata().schema_descr().column(c);
        if locations.is_empty() || locations[0].first_row_index != 0 {
            return None;
        }
        let mut selectors = Vec::with_capacity(locations.len());
        for (p, loc) in locations.iter().enumerate() {
            let start = usize::try_from(loc.first_row_index).ok()?;
            let end = match locations.get(p + 1) {
                Some(next) => usize::try_from(next.first_row_index).ok()?,
                None => rows,
            };
            if end < start || end > rows {
                return None;
            }
            let n = end - start;
            if n == 0 {
                continue;
            }
            let stats = if index.is_null_page(p) {
                ColumnStats { null_count: Some(n as i64), value_count: Some(n as i64), ..ColumnStats::default() }
            } else {
                let bounds = page_statistics(index, p).and_then(|s| stat_bounds(&s, &l.ty, &descr));
                let (lower, upper) = match bounds {
                    Some((lo, hi)) => (Some(lo), Some(hi)),
                    None => (None, None),
                };
                ColumnStats {
                    lower,
                    upper,
                    null_count: index.null_count(p),
                    value_count: Some(n as i64),
                    nan_count: self.nan_free(l.field_id),
                }
            };
            selectors.push(if l.might_match(&stats) { RowSelector::select(n) } else { RowSelector::skip(n) });
        }
        Some(RowSelection::from(selectors))
    }
}

/// Page `p`'s min/max from a column index, as Parquet statistics (so that the same
/// conversion to Iceberg values as for row groups applies).
fn page_statistics(index: &ColumnIndexMetaData, p: usize) -> Option<Statistics> {
    use ColumnIndexMetaData as C;
    Some(match index {
        C::BOOLEAN(x) => Statistics::boolean(x.min_value(p).copied(), x.max_value(p).copied(), None, None, false),
        C::INT32(x) => Statistics::int32(x.min_value(p).copied(), x.max_value(p).copied(), None, None, false),
        C::INT64(x) => Statistics::int64(x.min_value(p).copied(), x.max_value(p).copied(), None, None, false),
        C::FLOAT(x) => Statistics::float(x.min_value(p).copied(), x.max_value(p).copied(), None, None, false),
        C::DOUBLE(x) => Statistics::double(x.min_value(p).copied(), x.max_value(p).copied(), None, None, false),
        C::BYTE_ARRAY(x) => Statistics::byte_array(
            x.min_value(p).map(|b| ByteArray::from(b.to_vec())),
            x.max_value(p).map(|b| ByteArray::from(b.to_vec())),
            None,
            None,
            false,
        ),
        C::FIXED_LEN_BYTE_ARRAY(x) => Statistics::fixed_len_byte_array(
            x.min_value(p).map(|b| FixedLenByteArray::from(ByteArray::from(b.to_vec()))),
            x.max_value(p).map(|b| FixedLenByteArray::from(ByteArray::from(b.to_vec()))),
            None,
            None,
            false,
        ),
        _ => return None,
    })
}

/// Decides which row groups (and rows, by the page index when `md` has one) of `file`
/// to read for `pred`.
pub(crate) fn prune_file(
    md: &ParquetMetaData,
    pred: &BoundPredicate,
    file: &DataFile,
    mapping: Option<&NameMapping>,
) -> FilePrune {
    let descr = md.file_metadata().schema_descr();
    let mut by_id = HashMap::new();
    let mut any_id = false;
    for (i, c) in descr.columns().iter().enumerate() {
        let info = c.self_type().get_basic_info();
        any_id |= info.has_id();
        let parts = c.path().parts();
        if parts.len() != 1 || c.max_rep_level() > 0 {
            continue;
        }
        let id = if info.has_id() {
            Some(info.id())
        } else {
            mapping.and_then(|m| m.find(&parts[0])).and_then(|m| m.field_id)
        };
        if let Some(id) = id {
            by_id.entry(id).or_insert(i);
        }
    }
    let mut types = HashMap::new();
    collect_types(pred, &mut types);
    let cols = Columns { md, file, by_id, absent_means_null: any_id || mapping.is_some(), types };

    let total = md.num_row_groups();
    let mut out = FilePrune { row_groups_total: total, ..FilePrune::default() };
    let has_page_index = md.column_index().is_some() && md.offset_index().is_some();
    let mut selections = Vec::new();
    let mut partial = false;
    for (i, rg) in md.row_groups().iter().enumerate() {
        if !pred.might_match(&|id| cols.row_group_stats(rg, id)) {
            continue;
        }
        let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
        if has_page_index {
            let sel = cols.page_selection(pred, i, rows);
            let selected = sel.row_count();
            if selected == 0 {
                out.rows_skipped_by_pages += rows as u64;
                continue;
            }
            if selected < rows {
                partial = true;
                out.rows_skipped_by_pages += (rows - selected) as u64;
            }
            selections.push(sel);
        }
        out.row_groups.push(i);
    }
    if partial {
        out.selection = Some(selections.into_iter().collect());
    }
    out
}

fn collect_types(pred: &BoundPredicate, out: &mut HashMap<i32, PrimitiveType>) {
    pred.visit_leaves(&mut |l| {
        out.entry(l.field_id).or_insert_with(|| l.ty.clone());
    });
}
