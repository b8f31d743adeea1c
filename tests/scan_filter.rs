//! Filtered scans: pruning by file bounds, row-group statistics and the page index, and
//! exact row filtering, proved by counting what was read and by comparing with a plain
//! row-by-row evaluation (including a property test over random data and predicates).

mod common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use floe::WriteOptions;
use floe::expr::{CmpOp, Literal, Predicate, PredicateError, col};
use floe::spec::PartitionSpec;
use floe::spec::{PrimitiveType, Schema};
use floe::{Error, Table, TableOptions};
use proptest::prelude::*;

use common::{batch, relaxed, schema};

fn ids_of(batches: &[RecordBatch]) -> Vec<i64> {
    let mut out: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            let i = b.schema().index_of("id").unwrap();
            b.column(i).as_primitive::<Int64Type>().values().to_vec()
        })
        .collect();
    out.sort();
    out
}

/// 10 files of 1,000 rows each: ids 0..10,000, file k holds k*1000..(k+1)*1000.
fn ten_files(dir: &std::path::Path, opts: TableOptions) -> Table {
    let table = Table::create_with(dir.join("t"), schema(), opts).unwrap();
    for k in 0..10 {
        table.append(&[batch(k * 1000, 1000)]).unwrap();
    }
    table
}

#[test]
fn point_lookup_reads_only_the_file_whose_bounds_hold_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let table = ten_files(dir.path(), relaxed());
    let (batches, m) = table.scan().filter(col("id").eq(4321)).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&batches), vec![4321]);
    assert_eq!(m.files, 10);
    assert_eq!(m.files_skipped_by_metrics, 9);
    assert_eq!(m.files_planned, 1);
    assert_eq!(m.files_read, 1);
    assert_eq!(m.rows_matched, 1);

    // The same without pruning reads everything and returns the same row.
    let (batches, m) = table.scan().filter(col("id").eq(4321)).prune(false).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&batches), vec![4321]);
    assert_eq!((m.files_planned, m.files_read, m.rows_read), (10, 10, 10_000));

    // A range spanning two files; `in` across three; a key in no file.
    let (b, m) = table.scan().filter(col("id").between(2500, 3500)).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), (2500..=3500).collect::<Vec<_>>());
    assert_eq!(m.files_planned, 2);
    let (b, m) = table.scan().filter(col("id").is_in([5, 5005, 9999])).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), vec![5, 5005, 9999]);
    assert_eq!(m.files_planned, 3);
    let (b, m) = table.scan().filter(col("id").gt(10_000)).to_batches_with_metrics().unwrap();
    assert!(b.is_empty());
    assert_eq!((m.files_planned, m.files_read), (0, 0));
    // `or` keeps the files either side may match.
    let (b, m) = table.scan().filter(col("id").lt(10).or(col("id").ge(9990))).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b).len(), 20);
    assert_eq!(m.files_planned, 2);
}

#[test]
fn filters_on_unselected_columns_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let table = ten_files(dir.path(), relaxed());
    // name is "row-<id>"; value is id * 1.5.
    let b = table.scan().select(["value"]).filter(col("name").eq("row-77")).to_batches().unwrap();
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 1);
    assert_eq!(b[0].num_columns(), 1);
    assert_eq!(b[0].schema().as_ref(), &table.scan().select(["value"]).arrow_schema().unwrap());
    assert_eq!(b[0].column(0).as_primitive::<Float64Type>().value(0), 77.0 * 1.5);

    assert_eq!(table.scan().filter(col("id").lt(1500)).count().unwrap(), 1500);
    assert_eq!(table.scan().filter(Predicate::parse("value >= 15000 or id < 3").unwrap()).count().unwrap(), 3);
    assert_eq!(table.scan().count().unwrap(), 10_000);

    // Streaming gives the same rows and the same counts.
    let mut it = table.scan().filter(col("id").ge(8990)).batch_size(100).to_iter().unwrap();
    let batches: Vec<RecordBatch> = it.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(ids_of(&batches), (8990..10_000).collect::<Vec<_>>());
    let m = it.metrics();
    assert_eq!((m.files_planned, m.files_read, m.rows_matched), (2, 2, 1010));
}

#[test]
fn bad_predicates_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let table = ten_files(dir.path(), relaxed());
    match table.scan().filter(col("nope").eq(1)).to_batches() {
        Err(Error::Predicate(PredicateError::UnknownColumn { column })) => assert_eq!(column, "nope"),
        other => panic!("{other:?}"),
    }
    match table.scan().filter(col("id").eq("five")).count() {
        Err(Error::Predicate(PredicateError::LiteralType { column, column_type, .. })) => {
            assert_eq!((column.as_str(), column_type.as_str()), ("id", "long"));
        }
        other => panic!("{other:?}"),
    }
    let e = Predicate::parse("id >> 3").unwrap_err();
    assert!(matches!(e, PredicateError::Parse { position: 4, .. }), "{e:?}");
}

#[test]
fn row_groups_and_pages_are_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let opts = relaxed().write(WriteOptions::default().row_group_size(10_000));
    let table = Table::create_with(dir.path().join("t"), schema(), opts).unwrap();
    // One file of 100,000 sorted ids: 10 row groups of 10,000.
    table.append(&[batch(0, 100_000)]).unwrap();
    let (b, m) = table.scan().filter(col("id").eq(54_321)).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), vec![54_321]);
    assert_eq!((m.files_read, m.row_groups, m.row_groups_skipped, m.rows_read), (1, 10, 9, 10_000));
    let (b, m) = table.scan().filter(col("id").ge(95_000)).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), (95_000..100_000).collect::<Vec<_>>());
    assert_eq!((m.row_groups_skipped, m.rows_read), (9, 10_000));

    // A predicate no row group can satisfy reads the footer only.
    let (b, m) = table.scan().filter(col("id").lt(0).and(col("name").eq("x"))).to_batches_with_metrics().unwrap();
    assert!(b.is_empty());
    assert_eq!(m.files_skipped_by_metrics, 1);
    assert_eq!(m.files_read, 0);

    // name bounds: "row-0" .. "row-99999" cut across groups; exact results either way.
    let p = col("name").eq("row-12345");
    let (b, m) = table.scan().filter(p.clone()).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), vec![12_345]);
    let (b2, m2) = table.scan().filter(p).prune(false).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b2), vec![12_345]);
    assert!(m.rows_read < m2.rows_read, "{m:?} vs {m2:?}");
    assert_eq!(m2.rows_read, 100_000);
}

#[test]
fn page_index_skips_pages_inside_a_row_group() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    // One row group of 100,000 sorted ids; the writer cuts data pages near 20,000 rows
    // (at its 1,024-row mini-batch boundaries).
    table.append(&[batch(0, 100_000)]).unwrap();
    let (b, m) = table.scan().filter(col("id").eq(54_321)).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), vec![54_321]);
    assert_eq!((m.row_groups, m.row_groups_skipped), (1, 0));
    assert!(m.rows_read <= 25_000, "{m:?}");
    assert_eq!(m.rows_skipped_by_page_index + m.rows_read, 100_000, "{m:?}");
    // Two disjoint ranges: pages of both are read, the others skipped.
    let p = col("id").lt(100).or(col("id").between(99_990, 99_995));
    let (b, m) = table.scan().filter(p).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), (0..100).chain(99_990..=99_995).collect::<Vec<_>>());
    assert!(m.rows_read <= 50_000, "{m:?}");
    // An `and` over two columns intersects their page selections.
    let p = col("id").ge(50_000).and(col("value").lt(1_000.0));
    let (b, m) = table.scan().filter(p).to_batches_with_metrics().unwrap();
    assert!(b.is_empty());
    assert_eq!(m.rows_read, 0, "{m:?}");
}

#[test]
fn nulls_and_all_null_files() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    let arrow = Arc::new(schema().to_arrow());
    let mk = |ids: Vec<i64>, names: Vec<Option<&str>>| {
        RecordBatch::try_new(
            Arc::clone(&arrow),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(StringArray::from(names)),
                Arc::new(Float64Array::from(vec![None::<f64>; ids.len()])),
            ],
        )
        .unwrap()
    };
    table.append(&[mk(vec![1, 2], vec![None, None])]).unwrap();
    table.append(&[mk(vec![3, 4], vec![Some("a"), None])]).unwrap();
    table.append(&[mk(vec![5, 6], vec![Some("b"), Some("c")])]).unwrap();
    let run = |p: Predicate| {
        let (b, m) = table.scan().filter(p).to_batches_with_metrics().unwrap();
        (ids_of(&b), m.files_planned)
    };
    assert_eq!(run(col("name").is_null()), (vec![1, 2, 4], 2));
    assert_eq!(run(col("name").not_null()), (vec![3, 5, 6], 2));
    // The middle file holds only "a" and nulls, neither of which is `!= 'a'`.
    assert_eq!(run(col("name").ne("a")), (vec![5, 6], 1));
    assert_eq!(run(col("name").eq("a").not()), (vec![5, 6], 1));
    assert_eq!(run(col("value").gt(0)), (vec![], 0));
    assert_eq!(run(col("value").is_null()), (vec![1, 2, 3, 4, 5, 6], 3));
}

// ---------------------------------------------------------------------------------------
// Property test: pruned == unpruned == a row-by-row reference evaluation.
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    k: Option<i32>,
    s: Option<String>,
    x: Option<f64>,
}

fn prop_schema() -> Schema {
    Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("k", PrimitiveType::Int)
        .optional("s", PrimitiveType::String)
        .optional("x", PrimitiveType::Double)
        .build()
        .unwrap()
}

fn rows_batch(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(prop_schema().to_arrow()),
        vec![
            Arc::new(Int64Array::from(rows.iter().map(|r| r.id).collect::<Vec<_>>())),
            Arc::new(Int32Array::from(rows.iter().map(|r| r.k).collect::<Vec<_>>())),
            Arc::new(StringArray::from(rows.iter().map(|r| r.s.clone()).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(rows.iter().map(|r| r.x).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

/// SQL three-valued evaluation of one row: Some(true/false) or None (unknown).
fn eval_row(p: &Predicate, r: &Row) -> Option<bool> {
    use std::cmp::Ordering;
    let value = |c: &str| -> Option<Value> {
        match c {
            "id" => Some(Value::I(r.id)),
            "k" => r.k.map(|v| Value::I(i64::from(v))),
            "s" => r.s.clone().map(Value::S),
            "x" => r.x.map(Value::F),
            _ => unreachable!(),
        }
    };
    let cmp = |v: &Value, lit: &Literal| -> Ordering {
        match (v, lit) {
            (Value::I(a), Literal::Int(b)) => a.cmp(b),
            (Value::F(a), Literal::Int(b)) => a.total_cmp(&(*b as f64)),
            (Value::F(a), Literal::Float(b)) => a.total_cmp(b),
            (Value::S(a), Literal::String(b)) => a.as_bytes().cmp(b.as_bytes()),
            other => unreachable!("{other:?}"),
        }
    };
    match p {
        Predicate::True => Some(true),
        Predicate::False => Some(false),
        Predicate::Compare { column, op, value: lit } => {
            let o = cmp(&value(column)?, lit);
            Some(match op {
                CmpOp::Lt => o.is_lt(),
                CmpOp::Le => o.is_le(),
                CmpOp::Gt => o.is_gt(),
                CmpOp::Ge => o.is_ge(),
                CmpOp::Eq => o.is_eq(),
                CmpOp::Ne => o.is_ne(),
            })
        }
        Predicate::IsNull(c) => Some(value(c).is_none()),
        Predicate::NotNull(c) => Some(value(c).is_some()),
        Predicate::In { column, values, negated } => {
            let v = value(column)?;
            let found = values.iter().any(|l| cmp(&v, l).is_eq());
            Some(found != *negated)
        }
        Predicate::Not(p) => eval_row(p, r).map(|b| !b),
        // SQL's three-valued logic: false (true) decides an and (or), else unknown wins.
        Predicate::And(ps) => {
            let vals: Vec<Option<bool>> = ps.iter().map(|p| eval_row(p, r)).collect();
            if vals.contains(&Some(false)) {
                Some(false)
            } else if vals.contains(&None) {
                None
            } else {
                Some(true)
            }
        }
        Predicate::Or(ps) => {
            let vals: Vec<Option<bool>> = ps.iter().map(|p| eval_row(p, r)).collect();
            if vals.contains(&Some(true)) {
                Some(true)
            } else if vals.contains(&None) {
                None
            } else {
                Some(false)
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Value {
    I(i64),
    F(f64),
    S(String),
}

fn arb_row(id: i64) -> impl Strategy<Value = Row> {
    (
        proptest::option::weighted(0.8, -50i32..50),
        proptest::option::weighted(0.8, "[a-d]{0,3}"),
        proptest::option::weighted(
            0.8,
            prop_oneof![8 => (-20i32..20).prop_map(|v| f64::from(v) / 2.0), 1 => Just(f64::NAN), 1 => Just(-0.0)],
        ),
    )
        .prop_map(move |(k, s, x)| Row { id, k, s, x })
}

fn arb_leaf() -> impl Strategy<Value = Predicate> {
    let op = prop_oneof![
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge),
        Just(CmpOp::Eq),
        Just(CmpOp::Ne)
    ];
    prop_oneof![
        (op.clone(), -5i64..300).prop_map(|(op, v)| Predicate::Compare {
            column: "id".into(),
            op,
            value: Literal::Int(v)
        }),
        (op.clone(), -55i64..55).prop_map(|(op, v)| Predicate::Compare {
            column: "k".into(),
            op,
            value: Literal::Int(v)
        }),
        (op.clone(), "[a-d]{0,3}").prop_map(|(op, v)| Predicate::Compare {
            column: "s".into(),
            op,
            value: Literal::String(v)
        }),
        (op, -22i32..22).prop_map(|(op, v)| Predicate::Compare {
            column: "x".into(),
            op,
            value: Literal::Float(f64::from(v) / 2.0)
        }),
        prop_oneof![Just("k"), Just("s"), Just("x")].prop_map(|c| col(c).is_null()),
        prop_oneof![Just("k"), Just("s"), Just("x")].prop_map(|c| col(c).not_null()),
        (proptest::collection::vec(-55i64..55, 0..12), any::<bool>()).prop_map(|(v, neg)| if neg {
            col("k").not_in(v)
        } else {
            col("k").is_in(v)
        }),
        (proptest::collection::vec(-5i64..300, 0..12), any::<bool>()).prop_map(|(v, neg)| if neg {
            col("id").not_in(v)
        } else {
            col("id").is_in(v)
        }),
    ]
}

fn arb_predicate() -> impl Strategy<Value = Predicate> {
    arb_leaf().prop_recursive(3, 12, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.and(b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| a.or(b)),
            inner.prop_map(|p| p.not()),
        ]
    })
}

/// Rows in files; within a file sorted by id so that bounds prune (ids overlap across
/// files sometimes, since each file draws its own range start).
fn arb_files() -> impl Strategy<Value = Vec<Vec<Row>>> {
    proptest::collection::vec((0i64..250, 1usize..60), 1..6).prop_flat_map(|specs| {
        specs
            .into_iter()
            .map(|(start, n)| (0..n as i64).map(|i| arb_row(start + i)).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    })
}

fn check(table: &Table, rows: &[Row], p: &Predicate) -> Result<(), TestCaseError> {
    let mut expected: Vec<i64> = rows.iter().filter(|r| eval_row(p, r) == Some(true)).map(|r| r.id).collect();
    expected.sort();
    let (pruned, mp) = table.scan().filter(p.clone()).batch_size(7).to_batches_with_metrics().unwrap();
    let (plain, mu) = table.scan().filter(p.clone()).prune(false).to_batches_with_metrics().unwrap();
    prop_assert_eq!(ids_of(&pruned), expected.clone(), "pruned scan of {} ({:?})", p, mp);
    prop_assert_eq!(ids_of(&plain), expected, "unpruned scan of {}", p);
    prop_assert_eq!(mp.rows_matched, mu.rows_matched);
    prop_assert!(mp.rows_read <= mu.rows_read);
    // The text syntax round-trips and means the same thing.
    let reparsed = Predicate::parse(&p.to_string()).unwrap();
    let again = table.scan().filter(reparsed).to_batches().unwrap();
    prop_assert_eq!(ids_of(&again), ids_of(&pruned));
    Ok(())
}

proptest! {
    // 12 cases by default (each writes a table); FLOE_PROPTEST_CASES=N for a longer run.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("FLOE_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn pruning_never_changes_results(
        files in arb_files(),
        preds in proptest::collection::vec(arb_predicate(), 12),
        partitioned in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        // Tiny row groups and pages so that every pruning step has something to do.
        let opts = relaxed().write(WriteOptions::default().row_group_size(8));
        let table = if partitioned {
            // Partition pruning through bucket, truncate and identity projections.
            let spec = PartitionSpec::builder(&prop_schema()).bucket("id", 3).truncate("s", 1).identity("x").build().unwrap();
            Table::create_partitioned(dir.path().join("t"), prop_schema(), spec, opts).unwrap()
        } else {
            Table::create_with(dir.path().join("t"), prop_schema(), opts).unwrap()
        };
        let mut all = Vec::new();
        for f in &files {
            table.append(&[rows_batch(f)]).unwrap();
            all.extend(f.iter().cloned());
        }
        for p in &preds {
            check(&table, &all, p)?;
        }
    }
}

#[test]
fn property_reference_sanity() {
    // The reference evaluator itself: NaN above numbers, -0.0 below 0.0, nulls unknown.
    let r = Row { id: 1, k: None, s: Some("b".into()), x: Some(f64::NAN) };
    assert_eq!(eval_row(&col("x").gt(1000), &r), Some(true));
    assert_eq!(eval_row(&col("k").eq(1), &r), None);
    assert_eq!(eval_row(&col("k").eq(1).not(), &r), None);
    assert_eq!(eval_row(&col("k").eq(1).or(col("s").eq("b")), &r), Some(true));
    let z = Row { id: 2, k: Some(1), s: None, x: Some(-0.0) };
    assert_eq!(eval_row(&col("x").lt(0.0), &z), Some(true));
}

#[test]
fn partition_values_and_summaries_prune() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("region", PrimitiveType::String)
        .optional("day", PrimitiveType::Date)
        .build()
        .unwrap();
    let spec = PartitionSpec::builder(&schema).identity("region").month("day").build().unwrap();
    let table = Table::create_partitioned(dir.path().join("t"), schema.clone(), spec, relaxed()).unwrap();
    let arrow = Arc::new(schema.to_arrow());
    // One commit per region (one manifest each); days spread over three months.
    for (r, region) in ["eu", "us", "ap"].iter().enumerate() {
        let ids: Vec<i64> = (0..90).map(|i| r as i64 * 100 + i).collect();
        let days: Vec<i32> = (0..90).map(|i| 19_723 + i).collect(); // 2024-01-01 + i
        let b = RecordBatch::try_new(
            Arc::clone(&arrow),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(vec![*region; 90])),
                Arc::new(arrow_array::Date32Array::from(days)),
            ],
        )
        .unwrap();
        table.append(&[b]).unwrap();
    }
    let (b, m) = table.scan().filter(col("region").eq("us")).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&b), (100..190).collect::<Vec<_>>());
    assert_eq!((m.manifests, m.manifests_skipped), (3, 2), "{m:?}");
    assert_eq!(m.files_planned, 3, "{m:?}"); // three months of "us"
    // month(day) projects a date range onto months: February only.
    let p = Predicate::parse("day >= '2024-02-01' and day < '2024-03-01' and region != 'ap'").unwrap();
    let (b, m) = table.scan().filter(p).to_batches_with_metrics().unwrap();
    assert_eq!(b.iter().map(|b| b.num_rows()).sum::<usize>(), 2 * 29);
    assert_eq!(m.files_planned, 2, "{m:?}");
    assert_eq!(m.files, 9);
}

/// `and`/`or` chains of any length are flat: 100,000 terms parse, build, bind, prune,
/// evaluate, display, clone and drop on a test thread's stack (2 MiB), and agree.
#[test]
fn chains_of_a_hundred_thousand_terms_do_not_overflow_the_stack() {
    const N: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    table.append(&[batch(0, 10)]).unwrap();
    table.append(&[batch(10, 10)]).unwrap();

    // `id != -1 and id != -2 and …`: true for every row.
    let text: Vec<String> = (1..=N).map(|i| format!("id != {}", -i)).collect();
    let parsed = Predicate::parse(&text.join(" and ")).unwrap();
    let mut built = col("id").ne(-1);
    for i in 2..=N {
        built = built.and(col("id").ne(-i));
    }
    assert_eq!(parsed, built);
    assert_eq!(Predicate::parse(&built.to_string()).unwrap(), built, "display round-trips");
    assert_eq!(ids_of(&table.scan().filter(built.clone()).to_batches().unwrap()), (0..20).collect::<Vec<_>>());
    let mask = built.evaluate(&table.schema(), &batch(0, 5)).unwrap();
    assert_eq!(mask.true_count(), 5);
    drop((parsed, mask));

    // `id = -1 or id = -2 or … or id = 7`: one row, and the files without it pruned.
    let text: Vec<String> = (1..=N).map(|i| format!("id = {}", -i)).chain(["id = 7".to_string()]).collect();
    let parsed = Predicate::parse(&text.join(" or ")).unwrap();
    let (batches, m) = table.scan().filter(parsed.clone()).to_batches_with_metrics().unwrap();
    assert_eq!(ids_of(&batches), vec![7]);
    assert_eq!(m.files_planned, 1);
    // Mixed: an `or` of `and`s, each chain long.
    let mixed = parsed.clone().and(built.clone()).or(built.clone().and(col("id").eq(15)));
    assert_eq!(ids_of(&table.scan().filter(mixed.clone()).to_batches().unwrap()), vec![7, 15]);
    assert_eq!(Predicate::parse(&mixed.to_string()).unwrap(), mixed);
    drop((parsed, built, mixed));
}

/// Nesting (parentheses, `not`, and/or alternating in a predicate built in code) deeper
/// than documented is a typed error, never a stack overflow; `not` chains built in code
/// collapse.
#[test]
fn absurd_nesting_is_a_typed_error() {
    let schema = schema();
    let too_deep = |e: PredicateError| matches!(e, PredicateError::TooDeep { .. });
    let parens = format!("{}id = 1{}", "(".repeat(100_000), ")".repeat(100_000));
    assert!(too_deep(Predicate::parse(&parens).unwrap_err()));
    let nots = format!("{}id = 1", "not ".repeat(100_000));
    assert!(too_deep(Predicate::parse(&nots).unwrap_err()));
    // Within the limits, nesting works.
    let ok = format!("{}id = 1{}", "(".repeat(floe::expr::MAX_TEXT_NESTING), ")".repeat(floe::expr::MAX_TEXT_NESTING));
    assert_eq!(Predicate::parse(&ok).unwrap(), col("id").eq(1));

    // and/or alternating, 5,000 levels deep, built in code: bind refuses it.
    let mut deep = col("id").eq(0);
    for i in 1..5_000 {
        deep = if i % 2 == 0 { col("id").eq(i).and(deep) } else { col("id").eq(i).or(deep) };
    }
    assert!(too_deep(deep.check(&schema).unwrap_err()));
    drop(deep);
    // `not not p` is `p`: a chain of any length stays one level deep.
    let mut p = col("id").eq(1);
    for _ in 0..100_001 {
        p = p.not();
    }
    assert_eq!(p, col("id").eq(1).not());
}
