//! TPC-H tables generated in-process (`tpchgen-arrow`, no download) into floe tables,
//! one directory per table under a root. Shared by the TPC-H test and benchmark.
//!
//! Layout: `lineitem` is partitioned by `month(l_shipdate)` and `orders` by
//! `month(o_orderdate)`, their rows sorted by that date and appended one commit per year
//! (so one manifest per year, one data file per month): date-range queries (Q1, Q3–Q8,
//! Q10, Q12, Q14, Q15, Q20) let floe skip whole manifests by their partition summaries
//! and files by their partition values and column bounds, while a listing table over
//! the same files has only the files themselves. The other tables are unpartitioned,
//! written in a few commits.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::kernels::temporal::{DatePart, date_part};
use datafusion::arrow::compute::{cast, concat_batches, partition, sort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatchReader;
use floe::{Durability, PartitionSpec, Schema, Table, TableOptions};
use tpchgen::generators::{
    CustomerGenerator, LineItemGenerator, NationGenerator, OrderGenerator, PartGenerator, PartSuppGenerator,
    RegionGenerator, SupplierGenerator,
};
use tpchgen_arrow::{
    CustomerArrow, LineItemArrow, NationArrow, OrderArrow, PartArrow, PartSuppArrow, RegionArrow, SupplierArrow,
};

/// The eight table names.
pub const TABLES: [&str; 8] = ["region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem"];

/// floe's column types for a generated schema (strings as `Utf8`, which floe reads and
/// writes; the generator uses `Utf8View`).
fn floe_arrow(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(ArrowSchema::new(fields))
}

/// The generated batches with floe's column types.
fn collect(reader: impl RecordBatchReader) -> (Schema, Vec<RecordBatch>) {
    let arrow = floe_arrow(&reader.schema());
    let schema = Schema::from_arrow(&arrow).expect("TPC-H schema maps to Iceberg");
    let target = Arc::new(schema.to_arrow());
    let mut batches: Vec<RecordBatch> = Vec::new();
    for b in reader {
        let b = b.expect("generate");
        let cols =
            b.columns().iter().zip(target.fields()).map(|(c, f)| cast(c, f.data_type()).expect("cast")).collect();
        batches.push(RecordBatch::try_new(target.clone(), cols).expect("batch"));
    }
    (schema, batches)
}

fn options() -> TableOptions {
    TableOptions::default().durability(Durability::Relaxed)
}

fn write(root: &Path, name: &str, reader: impl RecordBatchReader, commits: usize) -> Table {
    let (schema, batches) = collect(reader);
    let table = Table::create_with(root.join(name), schema, options()).expect("create table");
    // Several commits, so several data files with disjoint key ranges (pruning has
    // something to skip).
    let per = batches.len().div_ceil(commits.max(1)).max(1);
    for chunk in batches.chunks(per) {
        table.append(chunk).expect("append");
    }
    table
}

/// A table partitioned by `month(date)`, its rows sorted by `date` and appended one
/// commit per year: one manifest per year (partition summaries bound its months), one
/// file per month.
fn write_by_month(root: &Path, name: &str, reader: impl RecordBatchReader, date: &str) -> Table {
    let (schema, batches) = collect(reader);
    let spec = PartitionSpec::builder(&schema).month(date).build().expect("month partition spec");
    let table = Table::create_with(root.join(name), schema, options().partition_spec(spec)).expect("create table");
    let Some(first) = batches.first() else { return table };
    let all = concat_batches(&first.schema(), &batches).expect("concat");
    drop(batches);
    let col = all.schema().index_of(date).expect("date column");
    let order = sort_to_indices(all.column(col), None, None).expect("sort by date");
    let sorted = take_record_batch(&all, &order).expect("take");
    drop(all);
    let years = date_part(sorted.column(col).as_ref(), DatePart::Year).expect("year");
    let years = years.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
    assert_eq!(years.null_count(), 0, "{name}.{date} has no nulls");
    let runs = partition(&[Arc::new(years.clone()) as _]).expect("runs of years");
    for r in runs.ranges() {
        table.append(&[sorted.slice(r.start, r.end - r.start)]).expect("append");
    }
    table
}

/// Generates every table at scale factor `sf` under `root`.
pub fn generate(root: &Path, sf: f64) {
    write(root, "region", RegionArrow::new(RegionGenerator::new(sf, 1, 1)), 1);
    write(root, "nation", NationArrow::new(NationGenerator::new(sf, 1, 1)), 1);
    write(root, "part", PartArrow::new(PartGenerator::new(sf, 1, 1)), 2);
    write(root, "supplier", SupplierArrow::new(SupplierGenerator::new(sf, 1, 1)), 1);
    write(root, "partsupp", PartSuppArrow::new(PartSuppGenerator::new(sf, 1, 1)), 2);
    write(root, "customer", CustomerArrow::new(CustomerGenerator::new(sf, 1, 1)), 2);
    write_by_month(root, "orders", OrderArrow::new(OrderGenerator::new(sf, 1, 1)), "o_orderdate");
    write_by_month(root, "lineitem", LineItemArrow::new(LineItemGenerator::new(sf, 1, 1)), "l_shipdate");
}
