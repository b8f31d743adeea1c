//! Schema and partition-spec evolution through the public API: every change, old
//! files read by field id, typed errors for illegal changes, `SchemaMode::Merge`, and
//! the conflict rules against concurrent commits.

mod common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, Float32Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use floe::spec::PartitionSpec;
use floe::spec::Transform;
use floe::spec::{NestedField, PrimitiveType, Schema};
use floe::{ConflictKind, Error, SchemaMode, Table};

fn rows(table: &Table) -> Vec<RecordBatch> {
    table.scan().to_batches().unwrap()
}

fn names(table: &Table) -> Vec<String> {
    table.schema().fields().iter().map(|f| f.name.clone()).collect()
}

/// Column `name` of all batches as strings (Debug of each value, "null" for null),
/// in row order.
fn column(table: &Table, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in table.scan().select([name]).to_batches().unwrap() {
        let c = b.column(0);
        for i in 0..c.len() {
            out.push(if c.is_null(i) {
                "null".into()
            } else {
                arrow_cast::display::array_value_to_string(c, i).unwrap()
            });
        }
    }
    out
}

fn batch_of(fields: Vec<(&str, DataType, Arc<dyn Array>)>) -> RecordBatch {
    let schema = ArrowSchema::new(fields.iter().map(|(n, t, _)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>());
    RecordBatch::try_new(Arc::new(schema), fields.into_iter().map(|(_, _, a)| a).collect()).unwrap()
}

#[test]
fn add_rename_drop_reorder_read_old_files_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), common::relaxed()).unwrap();
    table.append(&[common::batch(0, 3)]).unwrap();
    let v = table.version();
    let report = table
        .update_schema()
        .add_column("country", PrimitiveType::String)
        .rename_column("name", "label")
        .drop_column("value")
        .move_first("country")
        .commit()
        .unwrap();
    assert_eq!(report.version, v + 1);
    assert_eq!(names(&table), ["country", "id", "label"]);
    let schema = table.schema();
    assert_eq!(schema.schema_id, 1);
    assert_eq!(schema.field_by_name("country").unwrap().id, 4, "new ids go past last-column-id");
    assert_eq!(schema.field_by_name("label").unwrap().id, 2, "a rename keeps the id");
    assert_eq!(table.metadata().last_column_id(), 4);
    // Old files: the new column is null, the renamed one found by id.
    assert_eq!(column(&table, "country"), ["null", "null", "null"]);
    assert_eq!(column(&table, "label"), ["row-0", "row-1", "row-2"]);
    // A new append uses the new names; the old name is now unknown.
    let b = batch_of(vec![
        ("id", DataType::Int64, Arc::new(Int64Array::from(vec![10]))),
        ("label", DataType::Utf8, Arc::new(StringArray::from(vec!["ten"]))),
        ("country", DataType::Utf8, Arc::new(StringArray::from(vec!["nz"]))),
    ]);
    table.append(&[b]).unwrap();
    assert_eq!(column(&table, "country"), ["null", "null", "null", "nz"]);
    let old_name = batch_of(vec![
        ("id", DataType::Int64, Arc::new(Int64Array::from(vec![11]))),
        ("name", DataType::Utf8, Arc::new(StringArray::from(vec!["x"]))),
    ]);
    assert!(matches!(table.append(&[old_name]), Err(Error::SchemaMismatch { .. })));
    // Time travel to the first snapshot reads with that snapshot's schema.
    let first = table.snapshots()[0].snapshot_id;
    let old = table.scan().snapshot_id(first).to_batches().unwrap();
    assert_eq!(old[0].schema().field(1).name(), "name");
    assert_eq!(old[0].num_columns(), 3);
    // The name mapping remembers both names of field 2.
    let mapping = &table.properties()["schema.name-mapping.default"];
    assert!(mapping.contains(r#""names":["label","name"]"#), "{mapping}");
    // Reordering relative to other columns.
    table.update_schema().move_after("country", "label").move_before("id", "label").commit().unwrap();
    assert_eq!(names(&table), ["id", "label", "country"]);
    assert_eq!(rows(&table)[0].schema().field(2).name(), "country");
}

#[test]
fn widening_reads_old_values_as_the_wider_type() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::builder()
        .required("n", PrimitiveType::Int)
        .optional("f", PrimitiveType::Float)
        .optional("d", PrimitiveType::Decimal { precision: 5, scale: 2 })
        .build()
        .unwrap();
    let table = Table::create_with(dir.path(), schema, common::relaxed()).unwrap();
    let b = RecordBatch::try_new(
        Arc::new(table.schema().to_arrow()),
        vec![
            Arc::new(Int32Array::from(vec![1, -2])),
            Arc::new(Float32Array::from(vec![Some(1.5), None])),
            Arc::new(arrow_array::Decimal128Array::from(vec![12345, -1]).with_precision_and_scale(5, 2).unwrap()),
        ],
    )
    .unwrap();
    table.append(&[b]).unwrap();
    table
        .update_schema()
        .widen_column("n", PrimitiveType::Long)
        .widen_column("f", PrimitiveType::Double)
        .widen_column("d", PrimitiveType::Decimal { precision: 10, scale: 2 })
        .commit()
        .unwrap();
    let out = rows(&table);
    assert_eq!(out[0].column(0).data_type(), &DataType::Int64);
    assert_eq!(out[0].column(0).as_primitive::<Int64Type>().values().to_vec(), vec![1, -2]);
    assert_eq!(out[0].column(1).as_primitive::<Float64Type>().value(0), 1.5);
    assert_eq!(out[0].column(2).data_type(), &DataType::Decimal128(10, 2));
    assert_eq!(column(&table, "d"), ["123.45", "-0.01"]);
    // Values beyond the old range now fit.
    let b = RecordBatch::try_new(
        Arc::new(table.schema().to_arrow()),
        vec![
            Arc::new(Int64Array::from(vec![i64::MAX])),
            Arc::new(arrow_array::Float64Array::from(vec![1e300])),
            Arc::new(arrow_array::Decimal128Array::from(vec![9_999_999_999]).with_precision_and_scale(10, 2).unwrap()),
        ],
    )
    .unwrap();
    table.append(&[b]).unwrap();
    assert_eq!(column(&table, "n"), ["1", "-2", &i64::MAX.to_string()]);
}

#[test]
fn illegal_changes_are_typed_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::schema();
    let spec = PartitionSpec::builder(&s).bucket("id", 4).build().unwrap();
    let table = Table::create_partitioned(dir.path(), s, spec, common::relaxed()).unwrap();
    let before = common::tree(dir.path());
    let v = table.version();
    let cases: Vec<(&str, floe::SchemaUpdate)> = vec![
        ("required add", table.update_schema().add_required_column("x", PrimitiveType::Long)),
        ("duplicate add", table.update_schema().add_column("name", PrimitiveType::Long)),
        ("drop unknown", table.update_schema().drop_column("nope")),
        ("drop partition source", table.update_schema().drop_column("id")),
        ("rename onto existing", table.update_schema().rename_column("name", "value")),
        ("narrowing", table.update_schema().widen_column("id", PrimitiveType::Int)),
        ("string to long", table.update_schema().widen_column("name", PrimitiveType::Long)),
        ("double to float", table.update_schema().widen_column("value", PrimitiveType::Float)),
        ("drop everything", table.update_schema().drop_column("name").drop_column("value").drop_column("id")),
        ("move unknown", table.update_schema().move_after("name", "nope")),
    ];
    for (what, update) in cases {
        match update.commit() {
            Err(Error::InvalidArgument(msg)) => {
                if what == "required add" {
                    assert!(msg.contains("v2") && msg.contains("optional"), "{msg}");
                }
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    let spec_cases = vec![
        table.update_spec().remove_field("nope"),
        table.update_spec().add_field("value", Transform::Bucket(2)),
        table.update_spec().add_field("id", Transform::Bucket(4)),
        table.update_spec().add_field("id", Transform::Day),
        table.update_spec().add_field_named("name", Transform::Truncate(2), "id"),
    ];
    for update in spec_cases {
        assert!(matches!(update.commit(), Err(Error::InvalidArgument(_))));
    }
    assert_eq!(table.version(), v);
    assert_eq!(common::tree(dir.path()), before);
}

#[test]
fn identifier_fields_cannot_be_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = common::schema();
    s.identifier_field_ids = vec![1];
    let table = Table::create_with(dir.path(), s, common::relaxed()).unwrap();
    assert!(matches!(table.update_schema().drop_column("id").commit(), Err(Error::InvalidArgument(_))));
    table.update_schema().make_optional("id").drop_column("value").commit().unwrap();
    assert_eq!(table.schema().identifier_field_ids, vec![1]);
    assert!(!table.schema().field_by_name("id").unwrap().required);
}

#[test]
fn appends_with_extra_columns_fail_strict_and_merge_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), common::relaxed()).unwrap();
    table.append(&[common::batch(0, 2)]).unwrap();
    let extra = |id: i64| {
        batch_of(vec![
            ("id", DataType::Int64, Arc::new(Int64Array::from(vec![id]))),
            ("score", DataType::Int32, Arc::new(Int32Array::from(vec![7]))),
            ("tag", DataType::Utf8, Arc::new(StringArray::from(vec![Some("t")]))),
        ])
    };
    let v = table.version();
    let err = table.append(&[extra(5)]).unwrap_err();
    assert!(matches!(&err, Error::SchemaMismatch { field, .. } if field == "score"), "{err}");
    let err = table.append_with_mode(&[extra(5)], SchemaMode::Strict).unwrap_err();
    assert!(matches!(err, Error::SchemaMismatch { .. }));
    assert_eq!(table.version(), v, "nothing committed");
    // Merge: one commit adds both columns and the rows.
    let more = batch_of(vec![
        ("id", DataType::Int64, Arc::new(Int64Array::from(vec![6]))),
        ("extra2", DataType::Float64, Arc::new(arrow_array::Float64Array::from(vec![0.5]))),
    ]);
    let report = table.append_with_mode(&[extra(5), common::batch(100, 1), more], SchemaMode::Merge).unwrap();
    assert_eq!(report.version, v + 1);
    assert_eq!(report.added_records, 3);
    assert_eq!(names(&table), ["id", "name", "value", "score", "tag", "extra2"]);
    let schema = table.schema();
    assert!(schema.fields()[3..].iter().all(|f| !f.required));
    assert_eq!(schema.field_by_name("score").unwrap().field_type, PrimitiveType::Int.into());
    assert_eq!(table.current_snapshot().unwrap().schema_id, Some(schema.schema_id));
    assert_eq!(common::ids(&table), vec![0, 1, 5, 6, 100]);
    assert_eq!(column(&table, "score"), ["null", "null", "7", "null", "null"]);
    assert_eq!(column(&table, "extra2"), ["null", "null", "null", "null", "0.5"]);
    // A merge with no new column is a plain append.
    table.append_with_mode(&[common::batch(200, 1)], SchemaMode::Merge).unwrap();
    assert_eq!(table.schema().schema_id, schema.schema_id);
    // A bad batch in merge mode changes nothing.
    let before = common::tree(dir.path());
    let bad = batch_of(vec![
        ("id", DataType::Int64, Arc::new(Int64Array::from(vec![None::<i64>]))),
        ("new", DataType::Int32, Arc::new(Int32Array::from(vec![1]))),
    ]);
    assert!(matches!(table.append_with_mode(&[bad], SchemaMode::Merge), Err(Error::NullInRequiredField { .. })));
    assert_eq!(common::tree(dir.path()), before);
}

#[test]
fn spec_evolution_keeps_old_files_under_their_spec() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::schema();
    let table = Table::create_with(dir.path(), s, common::relaxed()).unwrap();
    table.append(&[common::batch(0, 4)]).unwrap();
    table.update_spec().add_field("id", Transform::Bucket(2)).commit().unwrap();
    let md = table.metadata();
    assert_eq!(md.default_spec_id(), 1);
    assert_eq!(md.partition_specs().len(), 2);
    assert_eq!(md.last_partition_id(), 1000);
    table.append(&[common::batch(10, 4)]).unwrap();
    table.update_spec().add_field("name", Transform::Truncate(3)).remove_field("id_bucket").commit().unwrap();
    let md = table.metadata();
    assert_eq!(md.default_spec_id(), 2);
    assert_eq!(md.default_spec().unwrap().fields[0].field_id, 1001);
    table.append(&[common::batch(20, 2)]).unwrap();
    // Adding back bucket(id) reuses its field id 1000 and the spec with the same fields.
    table.update_spec().remove_field("name_trunc").add_field("id", Transform::Bucket(2)).commit().unwrap();
    assert_eq!(table.metadata().default_spec_id(), 1, "identical spec reused");
    assert_eq!(table.metadata().partition_specs().len(), 3);
    table.append(&[common::batch(30, 1)]).unwrap();
    let mut by_spec: Vec<(i32, i32)> = table
        .manifests(&table.current_snapshot().unwrap())
        .unwrap()
        .iter()
        .map(|m| (m.partition_spec_id, m.added_files_count + m.existing_files_count))
        .collect();
    by_spec.sort();
    // spec 0: the unpartitioned file; spec 1: two buckets, then one; spec 2: "row".
    assert_eq!(by_spec, vec![(0, 1), (1, 1), (1, 2), (2, 1)]);
    let ids = common::ids(&table);
    assert_eq!(ids, vec![0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 30]);
    assert!(
        dir.path().join("data").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_str()
            .unwrap()
            .starts_with("name_trunc=row"))
    );
}

// ----------------------------------------------------------------- conflicts

/// What each conflict of `err` is: `schema change`, `partition spec change` or
/// `history change` for those kinds, else the landed commit's operation.
fn conflict_ops(err: &Error) -> Vec<String> {
    match err {
        Error::ConcurrentModification { conflicting, retries_exhausted: false, .. } => conflicting
            .iter()
            .map(|c| match &c.kind {
                ConflictKind::SchemaChanged { .. } => "schema change".to_string(),
                ConflictKind::SpecChanged { .. } => "partition spec change".to_string(),
                ConflictKind::HistoryRewritten => "history change".to_string(),
                _ => c.operation.clone().unwrap_or_else(|| "metadata".into()),
            })
            .collect(),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn an_append_rebases_over_a_schema_change_its_files_fit() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), common::relaxed()).unwrap();
    let mut tx = table.new_transaction();
    tx.append(&common::batch(0, 2)).unwrap();
    let other = Table::open_with(dir.path(), common::relaxed()).unwrap();
    other.update_schema().add_column("extra", PrimitiveType::Int).rename_column("name", "label").commit().unwrap();
    let report = tx.commit().unwrap();
    assert_eq!(report.rebased_over, 1);
    table.refresh().unwrap();
    assert_eq!(names(&table), ["id", "label", "value", "extra"]);
    assert_eq!(column(&table, "label"), ["row-0", "row-1"]);
    assert_eq!(column(&table, "extra"), ["null", "null"]);
}

#[test]
fn an_append_conflicts_with_a_schema_change_its_files_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), common::relaxed()).unwrap();
    let mut tx = table.new_transaction();
    tx.append(&common::batch(0, 2)).unwrap();
    // Another writer (not floe's evolution API: it refuses this) made `id` a
    // required string: files with a long `id` no longer fit.
    let other = Table::open_with(dir.path(), common::relaxed()).unwrap();
    let mut raw = other.new_transaction();
    floe::testing::update_metadata(&mut raw, |md| {
        let mut fields = md.current_schema().fields().to_vec();
        fields[0] = NestedField::required(1, "id", PrimitiveType::String);
        let mut s = Schema::new(fields)?;
        s.schema_id = 1;
        md.schemas_mut().push(s);
        md.set_current_schema_id(1);
        Ok(())
    });
    raw.commit().unwrap();
    let err = tx.commit().unwrap_err();
    assert_eq!(conflict_ops(&err), ["schema change"]);
    assert_eq!(common::ids(&Table::open(dir.path()).unwrap()), Vec::<i64>::new());
}

#[test]
fn a_schema_change_conflicts_with_any_concurrent_commit_but_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), common::relaxed()).unwrap();
    table.append(&[common::batch(0, 1)]).unwrap();
    let other = Table::open_with(dir.path(), common::relaxed()).unwrap();

    // vs an append
    let tx = table.update_schema().add_column("a", PrimitiveType::Int).into_transaction().unwrap();
    other.append(&[common::batch(1, 1)]).unwrap();
    assert_eq!(conflict_ops(&tx.commit().unwrap_err()), ["append"]);

    // vs another schema change
    table.refresh().unwrap();
    let tx = table.update_schema().add_column("a", PrimitiveType::Int).into_transaction().unwrap();
    other.refresh().unwrap();
    other.update_schema().add_column("b", PrimitiveType::Int).commit().unwrap();
    assert_eq!(conflict_ops(&tx.commit().unwrap_err()), ["schema change"]);

    // vs a spec change
    table.refresh().unwrap();
    let tx = table.update_schema().add_column("a", PrimitiveType::Int).into_transaction().unwrap();
    other.refresh().unwrap();
    other.update_spec().add_field("id", Transform::Bucket(2)).commit().unwrap();
    assert_eq!(conflict_ops(&tx.commit().unwrap_err()), ["partition spec change"]);

    // a spec change vs a schema change
    table.refresh().unwrap();
    let tx = table.update_spec().add_field("name", Transform::Identity).into_transaction().unwrap();
    other.refresh().unwrap();
    other.update_schema().add_column("c", PrimitiveType::Int).commit().unwrap();
    assert_eq!(conflict_ops(&tx.commit().unwrap_err()), ["schema change"]);

    // vs snapshot expiry (a metadata-only commit dropping an old snapshot): rebases.
    other.append(&[common::batch(2, 1)]).unwrap();
    table.refresh().unwrap();
    let tx = table.update_schema().add_column("a", PrimitiveType::Int).into_transaction().unwrap();
    let mut expire = other.new_transaction();
    floe::testing::update_metadata(&mut expire, |md| {
        let oldest = md.snapshots()[0].snapshot_id;
        md.snapshots_mut().retain(|s| s.snapshot_id != oldest);
        md.snapshot_log_mut().retain(|s| s.snapshot_id != oldest);
        Ok(())
    });
    expire.commit().unwrap();
    let report = tx.commit().unwrap();
    assert_eq!(report.rebased_over, 1);
    table.refresh().unwrap();
    assert!(table.schema().field_by_name("a").is_some());
    assert_eq!(common::ids(&table), vec![0, 1, 2]);
}

#[test]
fn a_merging_append_rebases_over_appends_and_conflicts_with_schema_changes() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), common::relaxed()).unwrap();
    let other = Table::open_with(dir.path(), common::relaxed()).unwrap();
    let wide = |id: i64| {
        batch_of(vec![
            ("id", DataType::Int64, Arc::new(Int64Array::from(vec![id]))),
            ("w", DataType::Int64, Arc::new(Int64Array::from(vec![id * 10]))),
        ])
    };
    let mut tx = table.new_transaction();
    tx.set_schema_mode(SchemaMode::Merge);
    tx.append(&wide(1)).unwrap();
    other.append(&[common::batch(100, 1)]).unwrap();
    tx.commit().unwrap();
    table.refresh().unwrap();
    assert_eq!(common::ids(&table), vec![1, 100]);
    assert_eq!(names(&table), ["id", "name", "value", "w"]);

    let mut tx = table.new_transaction();
    tx.set_schema_mode(SchemaMode::Merge);
    tx.append(&batch_of(vec![
        ("id", DataType::Int64, Arc::new(Int64Array::from(vec![2]))),
        ("z", DataType::Utf8, Arc::new(StringArray::from(vec!["z"]))),
    ]))
    .unwrap();
    other.refresh().unwrap();
    other.update_schema().add_column("y", PrimitiveType::Int).commit().unwrap();
    assert_eq!(conflict_ops(&tx.commit().unwrap_err()), ["schema change"]);
    table.refresh().unwrap();
    assert_eq!(common::ids(&table), vec![1, 100]);
    assert!(table.schema().field_by_name("z").is_none());
}

#[test]
fn an_append_rebases_over_a_widening_and_a_spec_change() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::builder().required("n", PrimitiveType::Int).build().unwrap();
    let table = Table::create_with(dir.path(), schema, common::relaxed()).unwrap();
    let batch = |v: i32| {
        RecordBatch::try_new(Arc::new(table.schema().to_arrow()), vec![Arc::new(Int32Array::from(vec![v]))]).unwrap()
    };
    let mut tx = table.new_transaction();
    tx.append(&batch(1)).unwrap();
    let other = Table::open_with(dir.path(), common::relaxed()).unwrap();
    other.update_schema().widen_column("n", PrimitiveType::Long).commit().unwrap();
    tx.commit().unwrap();
    table.refresh().unwrap();
    assert_eq!(column(&table, "n"), ["1"]);
    assert_eq!(rows(&table)[0].column(0).data_type(), &DataType::Int64);

    let mut tx = table.new_transaction();
    tx.append(
        &RecordBatch::try_new(Arc::new(table.schema().to_arrow()), vec![Arc::new(Int64Array::from(vec![2]))]).unwrap(),
    )
    .unwrap();
    other.refresh().unwrap();
    other.update_spec().add_field("n", Transform::Bucket(2)).commit().unwrap();
    // Its file keeps the spec it was written with (spec 0) in its manifest.
    tx.commit().unwrap();
    table.refresh().unwrap();
    assert_eq!(column(&table, "n"), ["1", "2"]);
    let mut specs: Vec<i32> =
        table.manifests(&table.current_snapshot().unwrap()).unwrap().iter().map(|m| m.partition_spec_id).collect();
    specs.sort();
    assert_eq!(specs, [0, 0]);
    assert_eq!(table.metadata().default_spec_id(), 1);
}

#[test]
fn manifests_merge_across_a_widened_partition_source() {
    let dir = tempfile::tempdir().unwrap();
    let schema =
        Schema::builder().required("n", PrimitiveType::Int).optional("x", PrimitiveType::Float).build().unwrap();
    let spec = PartitionSpec::builder(&schema).identity("n").identity("x").build().unwrap();
    let options = common::relaxed().property("commit.manifest.min-count-to-merge", "2");
    let table = Table::create_partitioned(dir.path(), schema, spec, options).unwrap();
    let int_batch = |v: i32| {
        RecordBatch::try_new(
            Arc::new(table.schema().to_arrow()),
            vec![Arc::new(Int32Array::from(vec![v])), Arc::new(Float32Array::from(vec![v as f32]))],
        )
        .unwrap()
    };
    table.append(&[int_batch(1)]).unwrap();
    table.append(&[int_batch(2)]).unwrap();
    table
        .update_schema()
        .widen_column("n", PrimitiveType::Long)
        .widen_column("x", PrimitiveType::Double)
        .commit()
        .unwrap();
    for v in [3i64, 4, 5] {
        let b = RecordBatch::try_new(
            Arc::new(table.schema().to_arrow()),
            vec![Arc::new(Int64Array::from(vec![v])), Arc::new(arrow_array::Float64Array::from(vec![v as f64]))],
        )
        .unwrap();
        table.append(&[b]).unwrap();
    }
    let manifests = table.manifests(&table.current_snapshot().unwrap()).unwrap();
    assert!(manifests.len() < 5, "manifests were merged: {}", manifests.len());
    let sums: Vec<_> = manifests.iter().flat_map(|m| m.partitions.clone().unwrap()).collect();
    assert!(sums.iter().all(|s| s.lower_bound.as_ref().is_none_or(|b| b.len() == 8)), "{sums:?}");
    assert_eq!(column(&table, "n"), ["1", "2", "3", "4", "5"]);
}

#[test]
fn nested_columns_can_be_added_with_fresh_ids() {
    use floe::spec::{ListType, StructType, Type};
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), common::relaxed()).unwrap();
    table.append(&[common::batch(0, 2)]).unwrap();
    let point = Type::Struct(StructType {
        fields: vec![
            NestedField::optional(900, "x", PrimitiveType::Double),
            NestedField::optional(
                901,
                "tags",
                Type::List(ListType {
                    element_id: 902,
                    element_required: false,
                    element: Box::new(PrimitiveType::String.into()),
                }),
            ),
        ],
    });
    table.update_schema().add_column_of_type("point", point, Some("a point".into())).commit().unwrap();
    let s = table.schema();
    let ids = s.all_field_ids();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 7], "ids assigned fresh past last-column-id");
    assert_eq!(table.metadata().last_column_id(), 7);
    assert_eq!(s.field_by_name("point").unwrap().doc.as_deref(), Some("a point"));
    let out = rows(&table);
    assert_eq!(out[0].column(3).null_count(), 2, "old rows read the new struct as null");
}
