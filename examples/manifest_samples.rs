//! Manifest and manifest-list files for a manual check against other Iceberg readers,
//! and a reader for the files they write.
//!
//! ```text
//! cargo run --example manifest_samples -- write DIR   # DIR/manifest.avro, DIR/list.avro
//! cargo run --example manifest_samples -- read LIST   # a manifest list and its manifests
//! ```
//!
//! `write` encodes one manifest with every optional field set and one entry per status
//! (ADDED, EXISTING, DELETED) under a spec partitioned by `identity(id)` and `day(d)`,
//! and a manifest list with one row pointing at it (fastavro, pyiceberg or Java can then
//! read both). `read` decodes a manifest list another writer produced (e.g. pyiceberg's
//! `snap-*.avro`) and every manifest it lists, printing each row and entry as floe sees
//! it, with the spec's inheritance of snapshot ids and sequence numbers applied.
//! Any error prints one line and exits with status 1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use floe::spec::{
    DataContent, DataFile, Datum, EntryStatus, FieldSummary, ManifestContent, ManifestFile, PartitionField,
    PartitionSpec, PrimitiveType, Schema,
};
use floe::testing::uri_to_path;
use floe::testing::{
    ManifestEntry, ManifestWriteContext, read_manifest, read_manifest_list, write_manifest, write_manifest_list,
};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match (args.first().map(String::as_str), args.get(1)) {
        (Some("write"), Some(dir)) => write_samples(Path::new(dir)),
        (Some("read"), Some(list)) => read_samples(Path::new(list)),
        _ => Err("usage: manifest_samples write DIR | read MANIFEST_LIST".into()),
    };
    if let Err(e) = res {
        eprintln!("manifest_samples: {e}");
        std::process::exit(1);
    }
}

fn schema() -> BoxResult<Schema> {
    Ok(Schema::builder()
        .required("id", PrimitiveType::Int)
        .optional("d", PrimitiveType::Date)
        .optional("name", PrimitiveType::String)
        .build()?)
}

fn spec() -> PartitionSpec {
    PartitionSpec {
        spec_id: 3,
        fields: vec![
            PartitionField { source_id: 1, field_id: 1000, name: "id".into(), transform: "identity".into() },
            PartitionField { source_id: 2, field_id: 1001, name: "d_day".into(), transform: "day".into() },
        ],
    }
}

fn data_file(dir: &Path, i: i64, partition: Vec<Option<Datum>>) -> DataFile {
    DataFile {
        content: DataContent::Data,
        file_path: format!("file://{}/data/{i}.parquet", dir.display()),
        file_format: "PARQUET".into(),
        partition,
        record_count: 100 + i,
        file_size_in_bytes: 4096 + i,
        column_sizes: BTreeMap::from([(1, 10), (2, 20), (3, 30)]),
        value_counts: BTreeMap::from([(1, 100), (2, 100), (3, 100)]),
        null_value_counts: BTreeMap::from([(1, 0), (2, 5), (3, 7)]),
        nan_value_counts: BTreeMap::from([(3, 0)]),
        lower_bounds: BTreeMap::from([(1, 1i32.to_le_bytes().to_vec()), (3, b"a".to_vec())]),
        upper_bounds: BTreeMap::from([(1, 99i32.to_le_bytes().to_vec()), (3, b"zz".to_vec())]),
        key_metadata: Some(vec![1, 2, 3]),
        split_offsets: Some(vec![4, 1000 + i]),
        equality_ids: None,
        sort_order_id: Some(0),
    }
}

/// Every optional field set, one entry per status.
fn entries(dir: &Path) -> Vec<ManifestEntry> {
    let part = |i: i32| vec![Some(Datum::Int(i)), Some(Datum::Date(19_000 + i))];
    vec![
        ManifestEntry {
            status: EntryStatus::Added,
            snapshot_id: Some(77),
            sequence_number: Some(5),
            file_sequence_number: Some(6),
            data_file: data_file(dir, 0, part(0)),
        },
        ManifestEntry {
            status: EntryStatus::Existing,
            snapshot_id: Some(12),
            sequence_number: Some(2),
            file_sequence_number: Some(2),
            data_file: data_file(dir, 1, vec![Some(Datum::Int(-4)), None]),
        },
        ManifestEntry {
            status: EntryStatus::Deleted,
            snapshot_id: Some(77),
            sequence_number: Some(1),
            file_sequence_number: Some(3),
            data_file: data_file(dir, 2, part(2)),
        },
    ]
}

fn write_samples(dir: &Path) -> BoxResult<()> {
    std::fs::create_dir_all(dir)?;
    let dir: PathBuf = std::path::absolute(dir)?;
    let (schema, spec) = (schema()?, spec());
    let ctx = ManifestWriteContext { schema: &schema, spec: &spec, content: ManifestContent::Data };
    let bytes = write_manifest(&ctx, &entries(&dir))?;
    let manifest = dir.join("manifest.avro");
    std::fs::write(&manifest, &bytes)?;
    let row = ManifestFile {
        manifest_path: format!("file://{}", manifest.display()),
        manifest_length: i64::try_from(bytes.len())?,
        partition_spec_id: spec.spec_id,
        content: ManifestContent::Data,
        sequence_number: 3,
        min_sequence_number: 3,
        added_snapshot_id: 3,
        added_files_count: 1,
        existing_files_count: 1,
        deleted_files_count: 1,
        added_rows_count: 100,
        existing_rows_count: 101,
        deleted_rows_count: 102,
        partitions: Some(vec![
            FieldSummary {
                contains_null: false,
                contains_nan: Some(false),
                lower_bound: Some((-4i32).to_le_bytes().to_vec()),
                upper_bound: Some(2i32.to_le_bytes().to_vec()),
            },
            FieldSummary { contains_null: true, contains_nan: None, lower_bound: None, upper_bound: None },
        ]),
        key_metadata: Some(vec![9, 9]),
    };
    let list = write_manifest_list(3, Some(2), 3, &[row])?;
    let list_path = dir.join("list.avro");
    std::fs::write(&list_path, list)?;
    println!("wrote {} and {}", manifest.display(), list_path.display());
    Ok(())
}

fn read_samples(list_path: &Path) -> BoxResult<()> {
    let rows = read_manifest_list(list_path, &std::fs::read(list_path)?)?;
    for row in &rows {
        println!("{row:?}");
        let path = uri_to_path(&row.manifest_path);
        let m = read_manifest(&path, &std::fs::read(&path)?, Some(row))?;
        println!("  spec {:?} content {:?}", m.partition_spec_id, m.content);
        for e in &m.entries {
            println!("  {e:?}");
        }
    }
    Ok(())
}
