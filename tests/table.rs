//! Single-process behaviour through the public API: create/open, append, scan,
//! every type round-tripping, time travel, history, statistics, bounded metadata.

mod common;

use std::sync::Arc;

use arrow_array::builder::{Decimal128Builder, FixedSizeBinaryBuilder};
use arrow_array::{
    Array, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use common::{batch, ids, relaxed, schema};
use floe::spec::{NestedField, PrimitiveType, Schema};
use floe::{Durability, Error, RetryPolicy, Table, TableOptions, WriteOptions};

#[test]
fn create_append_scan_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events");
    let table = Table::create(&path, schema()).unwrap();
    assert_eq!(table.version(), 1);
    assert!(table.current_snapshot().is_none());
    assert!(table.scan().to_batches().unwrap().is_empty());

    let mut tx = table.new_transaction();
    tx.append(&batch(0, 10)).unwrap();
    tx.append(&batch(10, 5)).unwrap();
    let report = tx.commit().unwrap();
    assert_eq!(report.version, 2);
    assert_eq!(report.attempts, 1);
    assert_eq!(report.conflicts, 0);
    assert_eq!(report.added_records, 15);
    assert_eq!(report.added_files, 1, "several append calls go into one file");

    let r2 = table.append(&[batch(15, 5)]).unwrap();
    assert_eq!(r2.version, 3);
    assert_eq!(ids(&table), (0..20).collect::<Vec<_>>());

    // A fresh handle sees the same thing, and the on-disk layout is the documented one.
    let again = Table::open(&path).unwrap();
    assert_eq!(again.version(), 3);
    assert_eq!(ids(&again), (0..20).collect::<Vec<_>>());
    assert_eq!(std::fs::read_to_string(path.join("metadata/version-hint.text")).unwrap(), "3");
    for v in 1..=3 {
        assert!(path.join(format!("metadata/v{v}.metadata.json")).exists());
    }
    let snap = again.current_snapshot().unwrap();
    assert!(snap.manifest_list.starts_with("file:///"));
    assert_eq!(snap.summary.get("total-records").map(String::as_str), Some("20"));
    assert_eq!(snap.summary.get("operation").map(String::as_str), Some("append"));
    assert_eq!(snap.commit_id(), Some(r2.commit_id.as_str()));
    let md = again.metadata();
    assert!(md.properties().contains_key("schema.name-mapping.default"));
    assert!(md.location().starts_with("file:///"));
    assert_eq!(md.metadata_log().len(), 2);

    // Projection keeps the selected order and the field ids.
    let b = &again.scan().select(["value", "id"]).to_batches().unwrap()[0];
    assert_eq!(b.schema().field(0).name(), "value");
    assert_eq!(b.schema().field(1).metadata().get("PARQUET:field_id").map(String::as_str), Some("1"));
    assert!(matches!(again.scan().select(["nope"]).to_batches(), Err(Error::InvalidArgument(_))));

    // Streaming gives the same rows.
    let streamed: usize = again.scan().to_iter().unwrap().map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(streamed, 20);
    assert_eq!(again.scan().count().unwrap(), 20);
}

/// A large append encodes a file's row groups after the first on several threads at
/// once (`WriteOptions::encode_threads`): the file is byte for byte the one a write on
/// one thread gives, and reads back every row in order.
#[test]
fn row_groups_encoded_on_several_threads_give_the_sequential_file() {
    let write = |threads: usize| {
        let dir = tempfile::tempdir().unwrap();
        let opts = relaxed().write(WriteOptions::default().row_group_size(5_000).encode_threads(threads));
        let table = Table::create_with(dir.path().join("t"), schema(), opts).unwrap();
        let batches: Vec<RecordBatch> = (0..12).map(|i| batch(i * 4_000, 4_000)).collect();
        table.append(&batches).unwrap();
        let files = table.scan().plan().unwrap().files;
        assert_eq!(files.len(), 1, "one file");
        let path = table.resolve_path(&files[0].file_path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let reader =
            parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let groups: Vec<i64> =
            parquet::file::reader::FileReader::metadata(&reader).row_groups().iter().map(|rg| rg.num_rows()).collect();
        assert_eq!(groups, [vec![5_000; 9], vec![3_000]].concat(), "threads {threads}");
        assert_eq!(ids(&table), (0..48_000).collect::<Vec<_>>(), "threads {threads}");
        (dir, bytes)
    };
    let (_one, sequential) = write(1);
    let (_four, parallel) = write(4);
    assert!(sequential == parallel, "the files differ");
}

#[test]
fn create_refuses_existing_and_open_refuses_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), relaxed()).unwrap();
    let before = common::tree(&path);
    assert!(matches!(Table::create(&path, schema()), Err(Error::TableExists { .. })));
    assert_eq!(common::tree(&path), before, "a refused create writes nothing");
    assert!(matches!(Table::open(dir.path().join("missing")), Err(Error::TableNotFound { .. })));
    assert!(!dir.path().join("missing").exists(), "open creates nothing");
    // create_or_open opens the existing one.
    let t = Table::create_or_open(&path, schema()).unwrap();
    assert_eq!(t.version(), 1);
}

fn all_types_schema() -> Schema {
    Schema::new(vec![
        NestedField::required(1, "b", PrimitiveType::Boolean),
        NestedField::optional(2, "i", PrimitiveType::Int),
        NestedField::optional(3, "l", PrimitiveType::Long),
        NestedField::optional(4, "f", PrimitiveType::Float),
        NestedField::optional(5, "d", PrimitiveType::Double),
        NestedField::optional(6, "dec", PrimitiveType::Decimal { precision: 12, scale: 3 }),
        NestedField::optional(7, "date", PrimitiveType::Date),
        NestedField::optional(8, "time", PrimitiveType::Time),
        NestedField::optional(9, "ts", PrimitiveType::Timestamp),
        NestedField::optional(10, "tstz", PrimitiveType::Timestamptz),
        NestedField::optional(11, "s", PrimitiveType::String),
        NestedField::optional(12, "bin", PrimitiveType::Binary),
        NestedField::optional(13, "u", PrimitiveType::Uuid),
        NestedField::optional(14, "fx", PrimitiveType::Fixed(3)),
    ])
    .unwrap()
}

fn all_types_batch(schema: &Schema) -> RecordBatch {
    let mut dec = Decimal128Builder::new().with_precision_and_scale(12, 3).unwrap();
    dec.append_value(123_456);
    dec.append_null();
    dec.append_value(-1);
    let mut uuid = FixedSizeBinaryBuilder::new(16);
    uuid.append_value([7u8; 16]).unwrap();
    uuid.append_null();
    uuid.append_value([0u8; 16]).unwrap();
    let mut fx = FixedSizeBinaryBuilder::new(3);
    fx.append_value(b"abc").unwrap();
    fx.append_value(b"xyz").unwrap();
    fx.append_null();
    RecordBatch::try_new(
        Arc::new(schema.to_arrow()),
        vec![
            Arc::new(BooleanArray::from(vec![true, false, true])),
            Arc::new(Int32Array::from(vec![Some(1), None, Some(-3)])),
            Arc::new(Int64Array::from(vec![Some(i64::MAX), Some(0), None])),
            Arc::new(Float32Array::from(vec![Some(1.5), Some(f32::NAN), None])),
            Arc::new(Float64Array::from(vec![None, Some(-2.25), Some(1e300)])),
            Arc::new(dec.finish()),
            Arc::new(Date32Array::from(vec![Some(19_000), None, Some(-1)])),
            Arc::new(Time64MicrosecondArray::from(vec![Some(1_000_000), Some(0), None])),
            Arc::new(TimestampMicrosecondArray::from(vec![Some(1_700_000_000_000_000), None, Some(0)])),
            Arc::new(TimestampMicrosecondArray::from(vec![Some(1), Some(2), None]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![Some("héllo"), None, Some("")])),
            Arc::new(BinaryArray::from(vec![Some(&b"\x00\x01"[..]), None, Some(&b""[..])])),
            Arc::new(uuid.finish()),
            Arc::new(fx.finish()),
        ],
    )
    .unwrap()
}

#[test]
fn every_primitive_type_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let schema = all_types_schema();
    let table = Table::create_with(dir.path().join("types"), schema.clone(), relaxed()).unwrap();
    let input = all_types_batch(&schema);
    table.append(std::slice::from_ref(&input)).unwrap();
    let out = Table::open(table.path()).unwrap().scan().to_batches().unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].schema().fields().len(), 14);
    for (i, (a, b)) in input.columns().iter().zip(out[0].columns()).enumerate() {
        assert_eq!(a.to_data(), b.to_data(), "column {i} ({})", input.schema().field(i).name());
    }
    // Column bounds were recorded for the primitive columns.
    let plan = table.scan().plan().unwrap();
    let f = &plan.files[0];
    assert_eq!(f.record_count, 3);
    assert!(f.lower_bounds.contains_key(&3) && f.upper_bounds.contains_key(&3));
    assert_eq!(f.null_value_counts.get(&2), Some(&1));
}

#[test]
fn schema_from_arrow_and_back() {
    let arrow = ArrowSchema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("at", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
    ]);
    let s = Schema::from_arrow(&arrow).unwrap();
    assert_eq!(s.fields()[1].field_type, PrimitiveType::Timestamptz.into());
    let back = s.to_arrow();
    assert_eq!(back.field(0).metadata().get("PARQUET:field_id").map(String::as_str), Some("1"));
    assert!(!back.field(0).is_nullable());
}

#[test]
fn time_travel_by_snapshot_version_and_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("tt"), schema(), relaxed()).unwrap();
    let r1 = table.append(&[batch(0, 3)]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let r2 = table.append(&[batch(3, 3)]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    table.append(&[batch(6, 3)]).unwrap();

    let count = |s: floe::Scan| s.to_batches().unwrap().iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(count(table.scan().snapshot_id(r1.snapshot_id)), 3);
    assert_eq!(count(table.scan().snapshot_id(r2.snapshot_id)), 6);
    assert_eq!(count(table.scan().as_of_version(r1.version)), 3);
    assert_eq!(count(table.scan().as_of_version(1)), 0, "v1 is the empty table");
    assert_eq!(count(table.scan()), 9);
    let ts2 = table.snapshots().iter().find(|s| s.snapshot_id == r2.snapshot_id).unwrap().timestamp();
    assert_eq!(count(table.scan().as_of(ts2)), 6);
    assert!(matches!(table.scan().as_of(std::time::UNIX_EPOCH).to_batches(), Err(Error::NotFound { .. })));
    assert!(matches!(table.scan().snapshot_id(42).to_batches(), Err(Error::NotFound { .. })));
    assert!(matches!(table.scan().as_of_version(99).to_batches(), Err(Error::NotFound { .. })));

    let history = table.history();
    assert_eq!(history.len(), 3);
    assert_eq!(history[1].snapshot_id, r2.snapshot_id);
    assert_eq!(history[1].parent_snapshot_id, Some(r1.snapshot_id));
    assert_eq!(history[0].operation.as_deref(), Some("append"));
    assert_eq!(table.snapshots().len(), 3);
}

#[test]
fn refresh_rolls_forward_past_a_stale_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let a = Table::create_with(&path, schema(), relaxed()).unwrap();
    let b = Table::open_with(&path, relaxed()).unwrap();
    a.append(&[batch(0, 1)]).unwrap();
    a.append(&[batch(1, 1)]).unwrap();
    // Make the hint lie (a writer died between the commit point and the hint).
    std::fs::write(path.join("metadata/version-hint.text"), "1").unwrap();
    assert_eq!(b.version(), 1);
    b.refresh().unwrap();
    assert_eq!(b.version(), 3);
    assert_eq!(Table::open(&path).unwrap().version(), 3);
    // No hint at all: the directory is listed.
    std::fs::remove_file(path.join("metadata/version-hint.text")).unwrap();
    assert_eq!(Table::open(&path).unwrap().version(), 3);
    // Garbage in the hint is ignored too.
    std::fs::write(path.join("metadata/version-hint.text"), "zz\n").unwrap();
    assert_eq!(Table::open(&path).unwrap().version(), 3);
}

#[test]
fn commits_rebase_over_other_handles_and_compare_and_commit_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let a = Table::create_with(&path, schema(), relaxed()).unwrap();
    let b = Table::open_with(&path, relaxed()).unwrap();

    // b's transaction starts at v1; a commits v2 meanwhile; b rebases onto it.
    let mut tx = b.new_transaction();
    tx.append(&batch(100, 2)).unwrap();
    a.append(&[batch(0, 2)]).unwrap();
    let report = tx.commit().unwrap();
    assert_eq!(report.version, 3);
    assert_eq!(ids(&Table::open(&path).unwrap()), vec![0, 1, 100, 101]);

    // Compare-and-commit refuses when anything landed since the start.
    let mut tx = b.new_transaction();
    tx.append(&batch(200, 1)).unwrap();
    a.append(&[batch(2, 1)]).unwrap();
    let err = tx.commit_if_current().unwrap_err();
    match &err {
        Error::ConcurrentModification { base_version, attempted_version, conflicting, .. } => {
            assert_eq!(*base_version, 3);
            assert_eq!(*attempted_version, 4, "the version it needed");
            assert_eq!(conflicting.len(), 1);
            assert_eq!(conflicting[0].version, 4);
            assert_eq!(conflicting[0].operation.as_deref(), Some("append"));
            assert!(matches!(conflicting[0].kind, floe::ConflictKind::CommittedSinceBase { snapshot_id: Some(_) }));
        }
        other => panic!("expected ConcurrentModification, got {other:?}"),
    }
    // Nothing of the failed transaction is visible, and its files are gone.
    let table = Table::open(&path).unwrap();
    assert!(!ids(&table).contains(&200));
    let data_files = std::fs::read_dir(path.join("data")).unwrap().count();
    assert_eq!(data_files, table.scan().plan().unwrap().files.len());

    // RetryPolicy::none() on the handle behaves the same.
    let c = Table::open_with(&path, relaxed().retry(RetryPolicy::none())).unwrap();
    let mut tx = c.new_transaction();
    tx.append(&batch(300, 1)).unwrap();
    a.append(&[batch(3, 1)]).unwrap();
    assert!(tx.commit().unwrap_err().is_concurrent_modification());
    // ...but succeeds when nothing raced.
    c.refresh().unwrap();
    let mut tx = c.new_transaction();
    tx.append(&batch(300, 1)).unwrap();
    tx.commit_if_current().unwrap();

    let stats = c.commit_stats();
    assert_eq!(stats.commits, 1);
    assert_eq!(stats.conflicts_unresolvable, 1);
    let stats_b = b.commit_stats();
    assert_eq!(stats_b.commits, 1);
    assert_eq!(stats_b.conflicts_unresolvable, 1);
    assert!(stats_b.latency_p50 > std::time::Duration::ZERO);
}

#[test]
fn aborted_and_dropped_transactions_leave_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let table = Table::create_with(&path, schema(), relaxed()).unwrap();
    let before = common::tree(&path);
    let mut tx = table.new_transaction();
    tx.append(&batch(0, 100)).unwrap();
    tx.abort();
    let mut tx = table.new_transaction();
    tx.append(&batch(0, 100)).unwrap();
    drop(tx);
    assert_eq!(common::tree(&path), before);
}

#[test]
fn commit_cost_stays_bounded_metadata_is_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let opts = relaxed()
        .property("write.metadata.previous-versions-max", "5")
        .property("floe.commit.retain-snapshots", "10")
        .property("commit.manifest.min-count-to-merge", "8");
    let table = Table::create_with(&path, schema(), opts).unwrap();
    for i in 0..40 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    // The version files that left the log are deleted after each append returns.
    floe::testing::settle(&table);
    let versions = std::fs::read_dir(path.join("metadata"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".metadata.json"))
        .count();
    assert_eq!(versions, 6, "current + previous-versions-max metadata files are kept");
    let md = table.metadata();
    assert_eq!(md.metadata_log().len(), 5);
    assert_eq!(md.snapshots().len(), 10);
    let manifests = table.manifests(&table.current_snapshot().unwrap()).unwrap();
    // A merge is built in the background and added by a later commit; the list never
    // grows past twice min-count-to-merge (8): there a commit merges under the lock.
    assert!(manifests.len() <= 16, "manifests merged: {}", manifests.len());
    assert_eq!(ids(&Table::open(&path).unwrap()), (0..40).collect::<Vec<_>>());
    // The hint-less open still finds the newest version among the survivors.
    std::fs::remove_file(path.join("metadata/version-hint.text")).unwrap();
    assert_eq!(Table::open(&path).unwrap().version(), 41);
}

#[test]
fn durable_and_relaxed_both_commit() {
    let dir = tempfile::tempdir().unwrap();
    for (i, d) in [Durability::Durable, Durability::Relaxed].into_iter().enumerate() {
        let t = Table::create_with(dir.path().join(format!("t{i}")), schema(), TableOptions::default().durability(d))
            .unwrap();
        t.append(&[batch(0, 3)]).unwrap();
        assert_eq!(ids(&t), vec![0, 1, 2]);
    }
}

#[test]
fn opens_through_a_symlinked_directory() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    let t = Table::create_with(&real, schema(), relaxed()).unwrap();
    t.append(&[batch(0, 2)]).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let via = Table::open_with(&link, relaxed()).unwrap();
    via.append(&[batch(2, 2)]).unwrap();
    assert_eq!(ids(&Table::open(&real).unwrap()), vec![0, 1, 2, 3]);
}

#[test]
fn nested_struct_list_map_round_trip() {
    use arrow_array::builder::{Int64Builder, ListBuilder, MapBuilder, StringBuilder};
    use arrow_array::{ArrayRef, StructArray};
    use floe::spec::{ListType, MapType, StructType, Type};

    let schema = Schema::new(vec![
        NestedField::required(1, "id", PrimitiveType::Long),
        NestedField::optional(
            2,
            "point",
            Type::Struct(StructType {
                fields: vec![
                    NestedField::required(5, "x", PrimitiveType::Double),
                    NestedField::optional(6, "label", PrimitiveType::String),
                ],
            }),
        ),
        NestedField::optional(
            3,
            "tags",
            Type::List(ListType {
                element_id: 7,
                element_required: false,
                element: Box::new(PrimitiveType::Long.into()),
            }),
        ),
        NestedField::optional(
            4,
            "attrs",
            Type::Map(MapType {
                key_id: 8,
                key: Box::new(PrimitiveType::String.into()),
                value_id: 9,
                value_required: false,
                value: Box::new(PrimitiveType::Long.into()),
            }),
        ),
    ])
    .unwrap();
    let arrow = Arc::new(schema.to_arrow());
    let DataType::Struct(point_fields) = arrow.field(1).data_type().clone() else { panic!() };
    let point = StructArray::new(
        point_fields,
        vec![
            Arc::new(Float64Array::from(vec![1.0, 2.0])) as ArrayRef,
            Arc::new(StringArray::from(vec![Some("a"), None])) as ArrayRef,
        ],
        None,
    );
    let DataType::List(el) = arrow.field(2).data_type().clone() else { panic!() };
    let mut tags = ListBuilder::new(Int64Builder::new()).with_field(el);
    tags.append_value([Some(1), None]);
    tags.append_null();
    let DataType::Map(entries, _) = arrow.field(3).data_type().clone() else { panic!() };
    let DataType::Struct(kv) = entries.data_type().clone() else { panic!() };
    let mut attrs = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new())
        .with_keys_field(kv[0].clone())
        .with_values_field(kv[1].clone());
    attrs.keys().append_value("k");
    attrs.values().append_value(1);
    attrs.append(true).unwrap();
    attrs.append(true).unwrap();
    let attrs = attrs.finish();
    let attrs =
        arrow_array::MapArray::try_new(entries.clone(), attrs.offsets().clone(), attrs.entries().clone(), None, false)
            .unwrap();
    let input = RecordBatch::try_new(
        arrow,
        vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(point), Arc::new(tags.finish()), Arc::new(attrs)],
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("nested"), schema, relaxed()).unwrap();
    table.append(std::slice::from_ref(&input)).unwrap();
    let out = Table::open(table.path()).unwrap().scan().to_batches().unwrap();
    assert_eq!(out.len(), 1);
    for i in 0..4 {
        assert_eq!(input.column(i).to_data(), out[0].column(i).to_data(), "column {i}");
    }
    // Projection of a nested column alone.
    let only = table.scan().select(["tags"]).to_batches().unwrap();
    assert_eq!(only[0].column(0).to_data(), input.column(2).to_data());
}

/// Metadata that cannot be encoded as a valid metadata file (here an engine-extra key
/// that shadows one floe writes, which would appear twice) is a typed error at commit:
/// nothing is published, and the table still opens and commits.
#[test]
fn metadata_that_does_not_encode_is_refused_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), schema(), relaxed()).unwrap();
    table.append(&[batch(0, 2)]).unwrap();
    let before = common::tree(dir.path());
    let mut tx = table.new_transaction();
    floe::testing::update_metadata(&mut tx, |md| {
        md.extra_mut().insert("location".into(), serde_json::Value::String("file:///elsewhere".into()));
        Ok(())
    });
    let err = tx.commit().expect_err("metadata with a duplicated key must not be published");
    assert!(matches!(err, Error::MetadataEncode { .. }), "{err:?}");
    assert_eq!(common::tree(dir.path()), before, "nothing written");
    let reopened = Table::open(dir.path()).unwrap();
    assert_eq!(reopened.version(), 2);
    reopened.append(&[batch(2, 1)]).unwrap();
    assert_eq!(ids(&Table::open(dir.path()).unwrap()), vec![0, 1, 2]);
}

/// The Parquet leaves of a file: (field id, logical type) in schema order.
fn parquet_leaves(path: &std::path::Path) -> Vec<(i32, Option<parquet::basic::LogicalType>)> {
    let meta = floe::testing::read_parquet_metadata(path).unwrap();
    let descr = meta.file_metadata().schema_descr();
    descr
        .columns()
        .iter()
        .map(|c| {
            let info = c.self_type().get_basic_info();
            (info.id(), info.logical_type_ref().cloned())
        })
        .collect()
}

/// Iceberg's uuid is stored as Parquet `fixed_len_byte_array(16)` annotated `UUID` (the
/// spec's Parquet type mapping): every uuid column floe writes carries the annotation,
/// at any depth; a `fixed[16]` column does not.
#[test]
fn uuid_columns_carry_the_parquet_uuid_logical_type() {
    use parquet::basic::LogicalType;
    let dir = tempfile::tempdir().unwrap();
    let (schema, batch) = common::uuid_table_batch();
    let table = Table::create_with(dir.path().join("t"), schema, relaxed()).unwrap();
    table.append(&[batch]).unwrap();
    let snap = table.current_snapshot().unwrap();
    let files = table.scan().plan().unwrap().files;
    assert_eq!(files.len(), 1, "snapshot {}", snap.snapshot_id);
    let path = floe::testing::uri_to_path(&files[0].file_path);
    let leaves = parquet_leaves(&path);
    let uuid_ids = [2, 5, 7, 10];
    for (id, logical) in &leaves {
        if uuid_ids.contains(id) {
            assert_eq!(logical.as_ref(), Some(&LogicalType::Uuid), "uuid field {id}: {leaves:?}");
        } else {
            assert_ne!(logical.as_ref(), Some(&LogicalType::Uuid), "field {id} is not a uuid: {leaves:?}");
        }
    }
    assert_eq!(leaves.iter().filter(|(id, _)| uuid_ids.contains(id)).count(), 4, "{leaves:?}");
}

/// On a table datashard writes to (`floe.write.deleted-entries = false`: written by
/// the first floe commit after a datashard snapshot, or set by hand), uuid columns are
/// left without the annotation, by appends and by compaction alike (datashard 0.11.2
/// cannot read annotated files beside its own); the values read back the same.
#[test]
fn uuid_columns_are_left_unannotated_on_tables_datashard_writes_to() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, batch) = common::uuid_table_batch();
    let options = relaxed().property("floe.write.deleted-entries", "false");
    let table = Table::create_with(dir.path().join("t"), schema.clone(), options).unwrap();
    table.append(std::slice::from_ref(&batch)).unwrap();
    table.append(std::slice::from_ref(&batch)).unwrap();
    let unannotated = |table: &Table| {
        let files = table.scan().plan().unwrap().files;
        assert!(!files.is_empty());
        for f in files {
            let leaves = parquet_leaves(&table.resolve_path(&f.file_path).unwrap());
            assert!(leaves.iter().all(|(_, l)| *l != Some(parquet::basic::LogicalType::Uuid)), "{leaves:?}");
        }
    };
    unannotated(&table);
    let report = table.compact(&floe::CompactOptions::default()).unwrap();
    assert!(report.data_files_added >= 1, "{report:?}");
    unannotated(&table);
    let conformed = schema.conform(&batch).unwrap();
    let rows: usize = table.scan().to_batches().unwrap().iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2 * conformed.num_rows());
    assert_eq!(table.scan().to_batches().unwrap()[0].slice(0, conformed.num_rows()), conformed);
}

/// Files written before uuid columns were annotated (a bare `fixed_len_byte_array(16)`,
/// what floe and pyarrow wrote) and annotated ones read back as the same values, and
/// give the same column statistics.
#[test]
fn uuid_columns_read_the_same_with_and_without_the_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, batch) = common::uuid_table_batch();
    let table = Table::create_with(dir.path().join("t"), schema.clone(), relaxed()).unwrap();
    table.append(std::slice::from_ref(&batch)).unwrap();
    let annotated_file = table.scan().plan().unwrap().files.remove(0);
    let annotated = floe::testing::uri_to_path(&annotated_file.file_path);
    // The old form: the Arrow writer's own conversion of the table's Arrow schema.
    let conformed = floe::testing::conform_batch(&schema, &batch).unwrap();
    let old = dir.path().join("old.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&old).unwrap(), conformed.schema(), None).unwrap();
    w.write(&conformed).unwrap();
    w.close().unwrap();
    assert!(parquet_leaves(&old).iter().all(|(_, l)| l.is_none() || *l == Some(parquet::basic::LogicalType::String)));
    let opts = floe::testing::ReadOptions::default();
    for path in [&annotated, &old] {
        let read: Vec<RecordBatch> =
            floe::testing::open_data_file(path, &schema, None, &opts).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(read, vec![conformed.clone()], "{}", path.display());
    }
    assert_eq!(table.scan().to_batches().unwrap(), vec![conformed]);
    let meta = floe::testing::read_parquet_metadata(&old).unwrap();
    let old_file = floe::testing::data_file_from_parquet_metadata("file:///old.parquet", 0, &meta, &schema);
    assert_eq!(old_file.lower_bounds, annotated_file.lower_bounds);
    assert_eq!(old_file.upper_bounds, annotated_file.upper_bounds);
    assert_eq!(old_file.null_value_counts, annotated_file.null_value_counts);
}
