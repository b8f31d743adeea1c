//! TPC-H tables generated in-process (`tpchgen-arrow`, no download) into floe tables,
//! one directory per table under a root. Shared by the TPC-H test and benchmark.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatchReader;
use floe::{Durability, Schema, Table, TableOptions};
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

fn write(root: &Path, name: &str, reader: impl RecordBatchReader, commits: usize) -> Table {
    let arrow = floe_arrow(&reader.schema());
    let schema = Schema::from_arrow(&arrow).expect("TPC-H schema maps to Iceberg");
    let target = Arc::new(schema.to_arrow());
    let options = TableOptions::default().durability(Durability::Relaxed);
    let table = Table::create_with(root.join(name), schema, options).expect("create table");
    let mut batches: Vec<RecordBatch> = Vec::new();
    for b in reader {
        let b = b.expect("generate");
        let cols =
            b.columns().iter().zip(target.fields()).map(|(c, f)| cast(c, f.data_type()).expect("cast")).collect();
        batches.push(RecordBatch::try_new(target.clone(), cols).expect("batch"));
    }
    // Several commits, so several data files with disjoint key ranges (pruning has
    // something to skip).
    let per = batches.len().div_ceil(commits.max(1)).max(1);
    for chunk in batches.chunks(per) {
        table.append(chunk).expect("append");
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
    write(root, "orders", OrderArrow::new(OrderGenerator::new(sf, 1, 1)), 4);
    write(root, "lineitem", LineItemArrow::new(LineItemGenerator::new(sf, 1, 1)), 8);
}
