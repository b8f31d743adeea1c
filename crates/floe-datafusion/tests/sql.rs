//! SQL over floe tables through `floe-datafusion`, each query's rows compared with
//! floe's own scan of the same table (the reference reader): partitioned, evolved
//! (renamed, dropped, re-added, widened, moved columns: files written before the change
//! included), deleted-from (copy-on-write) and time-travelled tables; pruning asserted
//! from the provider's planning counters and DataFusion's Parquet metrics.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::{SessionConfig, SessionContext};
use floe::arrow::array::{Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray};
use floe::{Durability, PartitionSpec, Predicate, PrimitiveType, Schema, Table, TableOptions, WriteOptions};
use floe_datafusion::{FloeSchemaProvider, FloeTableProvider, register_root, register_time_travel};

fn options() -> TableOptions {
    // Small row groups: row-group pruning has something to skip.
    TableOptions::default().durability(Durability::Relaxed).write(WriteOptions::default().row_group_size(100))
}

/// Rows as sorted text lines (column values joined by `|`), types ignored.
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> =
            b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap()).collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect::<Vec<_>>().join("|"));
        }
    }
    out.sort();
    out
}

async fn sql(ctx: &SessionContext, q: &str) -> Vec<RecordBatch> {
    ctx.sql(q).await.unwrap_or_else(|e| panic!("{q}: {e}")).collect().await.unwrap_or_else(|e| panic!("{q}: {e}"))
}

/// `SELECT cols FROM t WHERE w` through SQL equals floe's scan with the same predicate.
async fn same_as_floe(ctx: &SessionContext, table: &Table, name: &str, cols: &[&str], w: Option<&str>) -> usize {
    let q = match w {
        Some(w) => format!("SELECT {} FROM {name} WHERE {w}", cols.join(", ")),
        None => format!("SELECT {} FROM {name}", cols.join(", ")),
    };
    let got = rows(&sql(ctx, &q).await);
    let mut scan = table.scan().select(cols.iter().copied());
    if let Some(w) = w {
        scan = scan.filter(Predicate::parse(w).unwrap());
    }
    let want = rows(&scan.to_batches().unwrap());
    assert_eq!(got, want, "{q}");
    got.len()
}

const REGIONS: [&str; 3] = ["eu", "us", "ap"];

fn events_schema() -> Schema {
    Schema::builder()
        .required("id", PrimitiveType::Long)
        .required("region", PrimitiveType::String)
        .optional("ts", PrimitiveType::Timestamptz)
        .optional("amount", PrimitiveType::Double)
        .optional("qty", PrimitiveType::Int)
        .optional("note", PrimitiveType::String)
        .build()
        .unwrap()
}

/// Rows `from..to`: region cycles, every 7th note null.
fn events_batch(schema: &Schema, from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let region: Vec<&str> = ids.iter().map(|i| REGIONS[(*i as usize) % 3]).collect();
    let ts: Vec<i64> = ids.iter().map(|i| 1_700_000_000_000_000 + i * 3_600_000_000).collect();
    let amount: Vec<f64> = ids.iter().map(|i| (*i as f64) * 1.5).collect();
    let qty: Vec<Option<i32>> = ids.iter().map(|i| if i % 5 == 0 { None } else { Some((i % 11) as i32) }).collect();
    let note: Vec<Option<String>> =
        ids.iter().map(|i| if i % 7 == 0 { None } else { Some(format!("n{}", i % 13)) }).collect();
    RecordBatch::try_new(
        Arc::new(schema.to_arrow()),
        vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(StringArray::from(region)),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(Float64Array::from(amount)),
            Arc::new(Int32Array::from(qty)),
            Arc::new(StringArray::from(note)),
        ],
    )
    .unwrap()
}

/// A table partitioned by region (identity), 4 appends of 300 rows.
fn events(dir: &Path) -> Table {
    let schema = events_schema();
    let spec = PartitionSpec::builder(&schema).identity("region").build().unwrap();
    let table = Table::create_partitioned(dir, schema.clone(), spec, options()).unwrap();
    for k in 0..4 {
        table.append(&[events_batch(&schema, k * 300, (k + 1) * 300)]).unwrap();
    }
    table
}

fn ctx_with(name: &str, table: &Table) -> (SessionContext, Arc<FloeTableProvider>) {
    let ctx = SessionContext::new();
    let p = Arc::new(FloeTableProvider::try_new(table.clone()).unwrap());
    ctx.register_table(name, p.clone()).unwrap();
    (ctx, p)
}

fn first_i64(batches: &[RecordBatch]) -> i64 {
    let c = batches[0].column(0);
    if let Some(a) = c.as_any().downcast_ref::<Int64Array>() {
        return a.value(0);
    }
    panic!("not an i64: {:?}", c.data_type())
}

#[tokio::test]
async fn filters_and_projections_match_floe_scan() {
    let dir = tempfile::tempdir().unwrap();
    let table = events(dir.path());
    let (ctx, _) = ctx_with("events", &table);
    let all = ["id", "region", "ts", "amount", "qty", "note"];
    let cases: &[(&[&str], Option<&str>)] = &[
        (&all, None),
        (&["id"], None),
        (&["note", "id"], None),
        (&all, Some("region = 'eu'")),
        (&["id", "amount"], Some("region = 'us' and id < 400")),
        (&["id"], Some("region in ('eu', 'ap')")),
        (&["id", "region"], Some("region <> 'eu'")),
        (&["id"], Some("id >= 1190")),
        (&["id", "qty"], Some("qty is null")),
        (&["id", "note"], Some("note is not null and id between 10 and 40")),
        (&["id"], Some("amount > 1000.0 or id < 3")),
        (&["id", "note"], Some("note = 'n3'")),
        (&["id"], Some("not (id > 5)")),
        (&["id", "qty"], Some("qty in (1, 2, 3) and region = 'ap'")),
        (&["id"], Some("id = 599")),
        (&["amount", "id"], Some("amount <= 4.5")),
        (&["id"], Some("region = 'nowhere'")),
        (&["id", "ts"], Some("ts >= '2023-11-20T00:00:00Z'")),
    ];
    let mut nonempty = 0;
    for (cols, w) in cases {
        if same_as_floe(&ctx, &table, "events", cols, *w).await > 0 {
            nonempty += 1;
        }
    }
    assert!(nonempty >= 16, "most cases return rows: {nonempty}");
}

#[tokio::test]
async fn aggregates_joins_limits_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let table = events(dir.path());
    let (ctx, _) = ctx_with("events", &table);
    let all = table.scan().to_batches().unwrap();
    let n: usize = all.iter().map(|b| b.num_rows()).sum();
    // count(*) (answered from manifest statistics) and count of a filtered column.
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM events").await), n as i64);
    let eu = table.scan().filter(Predicate::parse("region = 'eu'").unwrap()).count().unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM events WHERE region = 'eu'").await), eu);
    let nulls = table.scan().filter(Predicate::parse("qty is null").unwrap()).count().unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) - count(qty) FROM events").await), nulls);
    // sum/min/max by group, against floe rows summed here.
    let mut sums: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for b in &all {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let reg = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        for i in 0..b.num_rows() {
            let e = sums.entry(reg.value(i).to_string()).or_insert((0, i64::MAX, i64::MIN));
            e.0 += ids.value(i);
            e.1 = e.1.min(ids.value(i));
            e.2 = e.2.max(ids.value(i));
        }
    }
    let want: Vec<String> = sums.iter().map(|(k, (s, lo, hi))| format!("{k}|{s}|{lo}|{hi}")).collect();
    let got = rows(&sql(&ctx, "SELECT region, sum(id), min(id), max(id) FROM events GROUP BY region").await);
    assert_eq!(got, want);
    // ORDER BY + LIMIT.
    let got = rows(&sql(&ctx, "SELECT id FROM events ORDER BY id DESC LIMIT 3").await);
    assert_eq!(got, vec!["1197", "1198", "1199"]);
    // LIMIT without order returns that many rows.
    assert_eq!(rows(&sql(&ctx, "SELECT * FROM events LIMIT 7").await).len(), 7);
    // Self join on the partition column.
    let got = sql(&ctx, "SELECT count(*) FROM events a JOIN events b ON a.id = b.id AND a.region = b.region").await;
    assert_eq!(first_i64(&got), n as i64);
    // Distinct and having.
    let got = rows(&sql(&ctx, "SELECT DISTINCT region FROM events").await);
    assert_eq!(got, vec!["ap", "eu", "us"]);
    let got =
        rows(&sql(&ctx, "SELECT note, count(*) c FROM events GROUP BY note HAVING count(*) > 90 ORDER BY note").await);
    assert!(!got.is_empty() && got.len() < 14, "{got:?}");
    // Expressions over columns (not translatable: DataFusion filters them).
    let want = table.scan().filter(Predicate::parse("id < 100").unwrap()).count().unwrap();
    let got = sql(&ctx, "SELECT count(*) FROM events WHERE id * 2 < 200").await;
    assert_eq!(first_i64(&got), want);
    let got = sql(&ctx, "SELECT count(*) FROM events WHERE note LIKE 'n1%'").await;
    let like =
        rows(&table.scan().select(["note"]).to_batches().unwrap()).iter().filter(|s| s.starts_with("n1")).count();
    assert_eq!(first_i64(&got), like as i64);
}

#[tokio::test]
async fn identity_partition_filters_prune_files_and_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let table = events(dir.path());
    let (ctx, provider) = ctx_with("events", &table);
    let planned_before = provider.planning_metrics();
    assert_eq!(same_as_floe(&ctx, &table, "events", &["id", "region"], Some("region = 'eu'")).await, 400);
    let m = provider.planning_metrics();
    let files = m.files - planned_before.files;
    let skipped = m.files_skipped_by_partition - planned_before.files_skipped_by_partition;
    let planned = m.files_planned - planned_before.files_planned;
    assert_eq!(files, 12, "4 appends × 3 regions");
    assert_eq!((skipped, planned), (8, 4), "{m:?}");
    // Exact: no FilterExec above the scan for a partition filter; a data-column filter
    // keeps one (Inexact).
    let plan = explain(&ctx, "SELECT id FROM events WHERE region = 'eu'").await;
    assert!(!plan.contains("FilterExec"), "{plan}");
    let plan = explain(&ctx, "SELECT id FROM events WHERE id = 5").await;
    assert!(plan.contains("FilterExec"), "{plan}");
}

/// Building a provider reads the metadata only (a catalog builds one per statement;
/// each scan reads the manifests it needs): with the snapshot's manifest list moved
/// away, the provider still builds with the table's schema, and only a query fails,
/// with an error naming the list; put back, the same provider answers.
#[tokio::test]
async fn building_a_provider_reads_no_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let table = events(dir.path());
    let list = table.resolve_path(&table.current_snapshot().unwrap().manifest_list).unwrap();
    let aside = list.with_extension("aside");
    std::fs::rename(&list, &aside).unwrap();
    let provider = Arc::new(FloeTableProvider::try_new(table.clone()).unwrap());
    assert_eq!(provider.table_schema(), &events_schema());
    let ctx = SessionContext::new();
    ctx.register_table("events", provider.clone()).unwrap();
    let err = match ctx.sql("SELECT count(*) FROM events").await.unwrap().collect().await {
        Ok(b) => panic!("read without its manifest list: {b:?}"),
        Err(e) => e.to_string(),
    };
    let name = list.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name), "{err}");
    std::fs::rename(&aside, &list).unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM events").await), 1200);
    // Whole-snapshot statistics, read on request.
    let stats = datafusion::datasource::TableProvider::statistics(provider.as_ref()).unwrap();
    assert_eq!(stats.num_rows, datafusion::common::stats::Precision::Exact(1200));
}

async fn explain(ctx: &SessionContext, q: &str) -> String {
    rows(&sql(ctx, &format!("EXPLAIN {q}")).await).join("\n")
}

/// The summed value of metric `name` over every node of an executed plan.
fn metric(plan: &Arc<dyn ExecutionPlan>, name: &str) -> (usize, String) {
    let mut total = 0;
    let mut seen = String::new();
    if let Some(ms) = plan.metrics() {
        for m in ms.iter() {
            if m.value().name() == name {
                seen = format!("{seen} {}", m.value());
                total += m.value().as_usize();
            }
        }
    }
    for c in plan.children() {
        let (t, s) = metric(c, name);
        total += t;
        seen.push_str(&s);
    }
    (total, seen)
}

#[tokio::test]
async fn bounds_prune_files_row_groups_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let schema =
        Schema::builder().required("id", PrimitiveType::Long).optional("v", PrimitiveType::String).build().unwrap();
    let table = Table::create_with(dir.path(), schema.clone(), options()).unwrap();
    // 5 files of 1000 sorted ids, 10 row groups each.
    for k in 0..5i64 {
        let ids: Vec<i64> = (k * 1000..(k + 1) * 1000).collect();
        let v: Vec<String> = ids.iter().map(|i| format!("v{i}")).collect();
        let b = RecordBatch::try_new(
            Arc::new(schema.to_arrow()),
            vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(v))],
        )
        .unwrap();
        table.append(&[b]).unwrap();
    }
    let (ctx, provider) = ctx_with("t", &table);
    let q = "SELECT id, v FROM t WHERE id >= 2410 AND id < 2420";
    assert_eq!(same_as_floe(&ctx, &table, "t", &["id", "v"], Some("id >= 2410 and id < 2420")).await, 10);
    let m = provider.planning_metrics();
    assert_eq!((m.files, m.files_skipped_by_metrics, m.files_planned), (5, 4, 1), "{m:?}");
    // Inside the one file: 9 of 10 row groups pruned by statistics.
    let df = ctx.sql(q).await.unwrap();
    let plan = df.create_physical_plan().await.unwrap();
    let out = collect(plan.clone(), ctx.task_ctx()).await.unwrap();
    assert_eq!(rows(&out).len(), 10);
    let (pruned, seen) = metric(&plan, "row_groups_pruned_statistics");
    // DataFusion reports this metric as "<total> total → <matched> matched".
    let _ = pruned;
    assert!(seen.contains("10 total → 1 matched"), "row groups: {seen}");
}

#[tokio::test]
async fn evolved_columns_are_matched_by_field_id() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("a", PrimitiveType::Int)
        .optional("b", PrimitiveType::String)
        .optional("c", PrimitiveType::Double)
        .build()
        .unwrap();
    let table = Table::create_with(dir.path(), v1.clone(), options()).unwrap();
    let old = RecordBatch::try_new(
        Arc::new(v1.to_arrow()),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(Int32Array::from(vec![10, 20, 30])),
            Arc::new(StringArray::from(vec!["x", "y", "z"])),
            Arc::new(Float64Array::from(vec![0.5, 1.5, 2.5])),
        ],
    )
    .unwrap();
    table.append(&[old]).unwrap();
    let before_change = table.version();
    // Rename b → name, drop c, re-add c as a string (a new field id), widen a to long,
    // move a first.
    table
        .update_schema()
        .rename_column("b", "name")
        .drop_column("c")
        .widen_column("a", PrimitiveType::Long)
        .move_first("a")
        .commit()
        .unwrap();
    table.update_schema().add_column("c", PrimitiveType::String).commit().unwrap();
    let v2 = table.schema();
    let names: Vec<&str> = v2.fields().iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["a", "id", "name", "c"]);
    let new = RecordBatch::try_new(
        Arc::new(v2.to_arrow()),
        vec![
            Arc::new(Int64Array::from(vec![5_000_000_000, 40])),
            Arc::new(Int64Array::from(vec![4, 5])),
            Arc::new(StringArray::from(vec!["p", "q"])),
            Arc::new(StringArray::from(vec!["c4", "c5"])),
        ],
    )
    .unwrap();
    table.append(&[new]).unwrap();
    let (ctx, _) = ctx_with("t", &table);
    let got = rows(&sql(&ctx, "SELECT * FROM t").await);
    assert_eq!(
        got,
        vec!["10|1|x|NULL", "20|2|y|NULL", "30|3|z|NULL", "40|5|q|c5", "5000000000|4|p|c4"],
        "old files: b read as name, the old c never read as the new c, a widened"
    );
    // Filters on renamed / widened / re-added columns, pushed into old files too.
    for (cols, w) in [
        (&["id", "name"][..], "name = 'y'"),
        (&["id"], "name in ('x', 'q')"),
        (&["a", "id"], "a > 15"),
        (&["id", "c"], "c is null"),
        (&["id", "c"], "c = 'c4'"),
        (&["a"], "a >= 5000000000"),
    ] {
        same_as_floe(&ctx, &table, "t", cols, Some(w)).await;
    }
    assert_eq!(rows(&sql(&ctx, "SELECT name FROM t WHERE name = 'y'").await), vec!["y"]);
    assert_eq!(rows(&sql(&ctx, "SELECT sum(a) FROM t").await), vec!["5000000100"]);
    // Time travel to before the change: the old schema, the old names.
    let old_view = FloeTableProvider::builder(table.clone()).version(before_change).build().unwrap();
    ctx.register_table("t_old", Arc::new(old_view)).unwrap();
    assert_eq!(rows(&sql(&ctx, "SELECT id, b, c FROM t_old").await), vec!["1|x|0.5", "2|y|1.5", "3|z|2.5"]);
}

#[tokio::test]
async fn deleted_rows_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let table = events(dir.path());
    let v_full = table.version();
    let snap_full = table.current_snapshot().unwrap().snapshot_id;
    table.delete(Predicate::parse("region = 'ap'").unwrap()).unwrap();
    table.delete(Predicate::parse("id < 100").unwrap()).unwrap();
    let (ctx, _) = ctx_with("events", &table);
    for (cols, w) in [
        (&["id", "region"][..], None),
        (&["id"], Some("region = 'ap'")),
        (&["id"], Some("id < 150")),
        (&["id", "note"], Some("region = 'eu' and note is null")),
    ] {
        same_as_floe(&ctx, &table, "events", cols, w).await;
    }
    assert_eq!(rows(&sql(&ctx, "SELECT count(*) FROM events WHERE region = 'ap' OR id < 100").await), vec!["0"]);
    // Time travel by version, snapshot id and time, through providers and floe_scan.
    let full = rows(&table.scan().as_of_version(v_full).select(["id"]).to_batches().unwrap());
    assert_eq!(full.len(), 1200);
    let p = FloeTableProvider::builder(table.clone()).version(v_full).build().unwrap();
    ctx.register_table("full_v", Arc::new(p)).unwrap();
    assert_eq!(rows(&sql(&ctx, "SELECT id FROM full_v").await), full);
    let p = FloeTableProvider::builder(table.clone()).snapshot_id(snap_full).build().unwrap();
    ctx.register_table("full_s", Arc::new(p)).unwrap();
    assert_eq!(rows(&sql(&ctx, "SELECT id FROM full_s").await), full);
    let tables = Arc::new(FloeSchemaProvider::empty());
    register_time_travel(&ctx, tables);
    let loc = dir.path().display().to_string();
    let got = rows(&sql(&ctx, &format!("SELECT id FROM floe_scan('{loc}', 'version', {v_full})")).await);
    assert_eq!(got, full);
    let got = rows(&sql(&ctx, &format!("SELECT id FROM floe_scan('{loc}', 'snapshot', {snap_full})")).await);
    assert_eq!(got, full);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let got = rows(&sql(&ctx, &format!("SELECT id FROM floe_scan('{loc}', 'timestamp', {now})")).await);
    assert_eq!(got, rows(&table.scan().select(["id"]).to_batches().unwrap()));
    // Version 1 is the empty table: no rows, same schema.
    let got = sql(&ctx, &format!("SELECT count(*) FROM floe_scan('{loc}', 'version', 1)")).await;
    assert_eq!(first_i64(&got), 0);
    // Bad selectors are planning errors.
    assert!(fails(&ctx, &format!("SELECT * FROM floe_scan('{loc}', 'version', 999)")).await);
    assert!(fails(&ctx, &format!("SELECT * FROM floe_scan('{loc}', 'bogus', 1)")).await);
    assert!(fails(&ctx, "SELECT * FROM floe_scan('/no/such/table')").await);
}

#[tokio::test]
async fn pinned_snapshot_and_root_of_tables() {
    let root = tempfile::tempdir().unwrap();
    let events_t = events(&root.path().join("events"));
    let users_schema =
        Schema::builder().required("id", PrimitiveType::Long).optional("name", PrimitiveType::String).build().unwrap();
    let users = Table::create_with(root.path().join("users"), users_schema.clone(), options()).unwrap();
    let b = RecordBatch::try_new(
        Arc::new(users_schema.to_arrow()),
        vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(StringArray::from(vec!["ann", "bob", "cy"]))],
    )
    .unwrap();
    users.append(&[b]).unwrap();
    std::fs::create_dir_all(root.path().join("not_a_table")).unwrap();
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    register_root(&ctx, root.path()).unwrap();
    let got =
        rows(&sql(&ctx, "SELECT e.id, u.name, e.region FROM events e JOIN users u USING (id) ORDER BY e.id").await);
    assert_eq!(got, vec!["1|ann|us", "2|bob|ap", "3|cy|eu"]);
    let got = rows(&sql(&ctx, "SHOW TABLES").await);
    assert!(got.iter().any(|r| r.contains("|events|")) && !got.iter().any(|r| r.contains("not_a_table")), "{got:?}");
    // A provider is pinned: a commit after it was built is not seen through it; the
    // root's next lookup sees it.
    let pinned = Arc::new(FloeTableProvider::try_new(events_t.clone()).unwrap());
    ctx.register_table("pinned", pinned).unwrap();
    events_t.append(&[events_batch(&events_schema(), 5000, 5010)]).unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM pinned").await), 1200);
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM events").await), 1210);
}

#[tokio::test]
async fn insert_into_and_overwrite_commit_once() {
    let root = tempfile::tempdir().unwrap();
    let table = events(&root.path().join("src"));
    let ctx = SessionContext::new();
    register_root(&ctx, root.path()).unwrap();
    let name = "src";
    ctx.register_table("events", Arc::new(FloeTableProvider::try_new(table.clone()).unwrap())).unwrap();
    let v0 = table.version();
    let got = sql(
        &ctx,
        "INSERT INTO events SELECT id + 10000, region, ts, amount, qty, note FROM events WHERE region = 'eu'",
    )
    .await;
    assert_eq!(rows(&got), vec!["400"]);
    table.refresh().unwrap();
    assert_eq!(table.version(), v0 + 1, "one commit");
    assert_eq!(table.scan().count().unwrap(), 1600);
    // The written files carry field ids and bounds: a filter on the new rows prunes.
    let fresh = Arc::new(FloeTableProvider::try_new(table.clone()).unwrap());
    ctx.register_table("fresh", fresh.clone()).unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM fresh WHERE id >= 10000").await), 400);
    let m = fresh.planning_metrics();
    assert!(m.files_skipped_by_metrics >= 8, "{m:?}");
    // VALUES with casts to the column types.
    sql(&ctx, "INSERT INTO events VALUES (-1, 'zz', NULL, 2.5, 7, 'hi')").await;
    table.refresh().unwrap();
    let got = rows(&table.scan().filter(Predicate::parse("id = -1").unwrap()).to_batches().unwrap());
    assert_eq!(got, vec!["-1|zz|NULL|2.5|7|hi"]);
    // A failing input commits nothing.
    let v = table.version();
    assert!(fails(&ctx, "INSERT INTO events SELECT id / (id - id), region, ts, amount, qty, note FROM events").await);
    table.refresh().unwrap();
    assert_eq!(table.version(), v);
    // INSERT OVERWRITE replaces every row in one commit.
    let src = format!("SELECT id, region, ts, amount, qty, note FROM \"{name}\" WHERE id < 5");
    sql(&ctx, &format!("INSERT OVERWRITE events {src}")).await;
    table.refresh().unwrap();
    assert_eq!(table.version(), v + 1);
    assert_eq!(rows(&table.scan().select(["id"]).to_batches().unwrap()), vec!["-1", "0", "1", "2", "3", "4"]);
    // A time-travel view refuses writes.
    let old = FloeTableProvider::builder(table.clone()).version(v0).build().unwrap();
    ctx.register_table("old", Arc::new(old)).unwrap();
    assert!(fails(&ctx, "INSERT INTO old SELECT * FROM events").await);
}

/// Whether planning or running `q` fails.
async fn fails(ctx: &SessionContext, q: &str) -> bool {
    match ctx.sql(q).await {
        Err(_) => true,
        Ok(df) => df.collect().await.is_err(),
    }
}

/// A merge-on-read table (position delete files): rows deleted by predicate and
/// replaced by an upsert must never come back through SQL, whatever the query shape
/// (projections, filters, aggregates, `count(*)` the planner could answer from
/// statistics), and files without deletes still go to DataFusion's Parquet reader.
#[tokio::test]
async fn merge_on_read_deletes_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let schema = events_schema();
    let spec = PartitionSpec::builder(&schema).identity("region").build().unwrap();
    let opts = options().property("write.delete.mode", "merge-on-read").property("write.merge.mode", "merge-on-read");
    let table = Table::create_partitioned(dir.path(), schema.clone(), spec, opts).unwrap();
    for k in 0..4 {
        table.append(&[events_batch(&schema, k * 300, (k + 1) * 300)]).unwrap();
    }
    // Deletes in the files of the first two appends only.
    table.delete(Predicate::parse("id >= 250 and id < 320").unwrap()).unwrap();
    // An upsert: ids 5 and 10 replaced (position deletes), 5000 new.
    let mut up = events_batch(&schema, 0, 3);
    {
        let ids = Int64Array::from(vec![5i64, 10, 5000]);
        let amount = Float64Array::from(vec![-1.0, -2.0, -3.0]);
        let mut cols = up.columns().to_vec();
        cols[0] = Arc::new(ids);
        cols[3] = Arc::new(amount);
        up = RecordBatch::try_new(up.schema(), cols).unwrap();
    }
    table.upsert(&["id"], &[up]).unwrap();
    let plan = table.scan().plan().unwrap();
    assert!(plan.has_deletes(), "the table keeps delete files");
    assert!((0..plan.files.len()).any(|i| plan.file_deletes(i).is_empty()), "and files without any");
    let live = table.scan().count().unwrap();
    assert_eq!(live, 1200 - 70 + 1);
    assert!(plan.record_count() > live, "the manifests still count the deleted rows");

    let (ctx, p) = ctx_with("events", &table);
    // Statistics must not claim the manifests' row count exactly.
    let stats = datafusion::datasource::TableProvider::statistics(p.as_ref()).unwrap();
    assert!(!stats.num_rows.is_exact().unwrap_or(false), "{:?}", stats.num_rows);
    let mut checked = 0;
    for (cols, w) in [
        (&["id", "region", "amount"][..], None),
        (&["id"], Some("id >= 240 and id < 330")),
        (&["id", "amount"], Some("id < 20")),
        (&["id", "note"], Some("region = 'eu' and note is null")),
        (&["amount"], Some("amount < 0")),
        (&["region"], None),
    ] {
        checked += same_as_floe(&ctx, &table, "events", cols, w).await;
    }
    assert!(checked > 1000);
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM events").await), live);
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(id) FROM events").await), live);
    let want_eu = table.scan().filter(Predicate::parse("region = 'eu'").unwrap()).count().unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM events WHERE region = 'eu'").await), want_eu);
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM events WHERE id >= 250 AND id < 320").await), 0);
    // Aggregates over every row equal the same aggregates over floe's scan.
    let batches = table.scan().select(["id", "amount"]).to_batches().unwrap();
    let (mut sum_id, mut sum_amount) = (0i64, 0f64);
    for b in &batches {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let am = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        sum_id += ids.values().iter().sum::<i64>();
        sum_amount += am.iter().flatten().sum::<f64>();
    }
    assert_eq!(first_i64(&sql(&ctx, "SELECT sum(id) FROM events").await), sum_id);
    let got = sql(&ctx, "SELECT sum(amount) FROM events").await;
    let got = got[0].column(0).as_any().downcast_ref::<Float64Array>().unwrap().value(0);
    assert!((got - sum_amount).abs() < 1e-6, "{got} vs {sum_amount}");
    let got = rows(&sql(&ctx, "SELECT region, count(*), min(id), max(id) FROM events GROUP BY region").await);
    let mut want = Vec::new();
    for r in REGIONS {
        let ids = table.scan().select(["id"]).filter(Predicate::parse(&format!("region = '{r}'")).unwrap());
        let ids: Vec<i64> = ids
            .to_batches()
            .unwrap()
            .iter()
            .flat_map(|b| b.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec())
            .collect();
        let (lo, hi) = (ids.iter().min().unwrap(), ids.iter().max().unwrap());
        want.push(format!("{r}|{}|{lo}|{hi}", ids.len()));
    }
    want.sort();
    assert_eq!(got, want);
    assert_eq!(rows(&sql(&ctx, "SELECT amount FROM events WHERE id = 5").await), vec!["-1.0"]);
    // Files with deletes are read by floe, the others by DataFusion's Parquet reader.
    let plan = explain(&ctx, "SELECT id FROM events").await;
    assert!(plan.contains("FloeReadExec") && plan.contains("DataSourceExec"), "{plan}");
    // Limits still return only live rows.
    let got = rows(&sql(&ctx, "SELECT id FROM events WHERE id >= 240 AND id < 330 LIMIT 100").await);
    assert_eq!(got.len(), 20);
}

/// (id, region, amount) of every row, sorted by id, through floe's own scan.
fn id_region_amount(table: &Table) -> Vec<(i64, String, Option<f64>)> {
    let mut out = Vec::new();
    for b in table.scan().select(["id", "region", "amount"]).to_batches().unwrap() {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let region = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
        let amount = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        for r in 0..b.num_rows() {
            out.push((ids.value(r), region.value(r).to_string(), amount.is_valid(r).then(|| amount.value(r))));
        }
    }
    out.sort_by_key(|r| r.0);
    out
}

fn count_of(batches: &[RecordBatch]) -> u64 {
    let c = batches[0].column(0).as_any().downcast_ref::<datafusion::arrow::array::UInt64Array>().unwrap();
    c.value(0)
}

/// `DELETE` and `UPDATE` through SQL on a copy-on-write and a merge-on-read table: the
/// rows floe's own scan reads afterwards are exactly the expected ones, SQL reads the
/// same, merge-on-read writes delete files instead of rewriting, and a statement
/// through a provider pinned before a concurrent commit acts on the newest version.
#[tokio::test]
async fn delete_and_update_match_floe_scan() {
    for mode in ["copy-on-write", "merge-on-read"] {
        let dir = tempfile::tempdir().unwrap();
        let schema = events_schema();
        let spec = PartitionSpec::builder(&schema).identity("region").build().unwrap();
        let opts = options().property("write.delete.mode", mode);
        let table = Table::create_partitioned(dir.path(), schema.clone(), spec, opts).unwrap();
        for k in 0..4 {
            table.append(&[events_batch(&schema, k * 300, (k + 1) * 300)]).unwrap();
        }
        let mut want = id_region_amount(&table);
        let (ctx, _p) = ctx_with("events", &table);

        let n = count_of(
            &sql(&ctx, "DELETE FROM events WHERE id >= 100 AND id < 150 OR region = 'ap' AND id > 1100").await,
        );
        let before = want.len();
        want.retain(|(id, region, _)| !((*id >= 100 && *id < 150) || (region == "ap" && *id > 1100)));
        assert_eq!(n as usize, before - want.len(), "{mode}");
        assert_eq!(id_region_amount(&table), want, "{mode}: after DELETE");
        if mode == "merge-on-read" {
            assert!(table.scan().plan().unwrap().has_deletes(), "merge-on-read deletes write delete files");
        } else {
            assert!(!table.scan().plan().unwrap().has_deletes(), "copy-on-write rewrites files");
        }

        let n = count_of(
            &sql(&ctx, "UPDATE events SET amount = -amount * 2, note = 'upd' WHERE region = 'eu' AND id < 600").await,
        );
        let mut changed = 0;
        for (id, region, amount) in want.iter_mut() {
            if region == "eu" && *id < 600 {
                *amount = amount.map(|a| -a * 2.0);
                changed += 1;
            }
        }
        assert_eq!(n, changed, "{mode}");
        assert_eq!(id_region_amount(&table), want, "{mode}: after UPDATE");
        let notes = table.scan().filter(Predicate::parse("note = 'upd'").unwrap()).count().unwrap();
        assert_eq!(notes, changed as i64);
        // SQL sees what floe's scan sees (a fresh provider: the old one is pinned).
        let (ctx2, _) = ctx_with("events", &table);
        same_as_floe(&ctx2, &table, "events", &["id", "region", "amount", "note"], None).await;
        same_as_floe(&ctx2, &table, "events", &["id", "amount"], Some("region = 'eu'")).await;

        // The first provider was pinned before these commits; a row appended since is
        // still updated through it: DML acts on the newest version.
        table.append(&[events_batch(&schema, 5000, 5010)]).unwrap();
        let n = count_of(&sql(&ctx, "UPDATE events SET qty = 77 WHERE id >= 5000").await);
        assert_eq!(n, 10, "{mode}");
        assert_eq!(table.scan().filter(Predicate::parse("qty = 77").unwrap()).count().unwrap(), 10);

        // Refused before anything is written.
        let version = table.version();
        assert!(fails(&ctx, "DELETE FROM events WHERE amount * 2 > 10").await);
        assert!(fails(&ctx, "UPDATE events SET qty = 1 WHERE upper(region) = 'EU'").await);
        // What DataFusion would hand the provider as "no condition": refused by check_dml
        // on the optimized plan (and a WHERE through a subquery on the plan itself).
        let state = ctx.state();
        let folded = state.create_logical_plan("DELETE FROM events WHERE id = 1 AND id = 2").await.unwrap();
        let err = floe_datafusion::check_dml(&state.optimize(&folded).unwrap()).unwrap_err();
        assert!(err.to_string().contains("can match no row"), "{err}");
        let sub = state.create_logical_plan("DELETE FROM events WHERE id IN (SELECT 1)").await.unwrap();
        assert!(floe_datafusion::check_dml(&sub).is_err());
        let fine = state.create_logical_plan("DELETE FROM events WHERE id IN (1, 2)").await.unwrap();
        floe_datafusion::check_dml(&state.optimize(&fine).unwrap()).unwrap();
        let v3 = Arc::new(FloeTableProvider::builder(table.clone()).version(3).build().unwrap());
        ctx.register_table("old", v3).unwrap();
        assert!(fails(&ctx, "DELETE FROM old WHERE id = 1").await);
        table.refresh().unwrap();
        assert_eq!(table.version(), version, "{mode}: nothing committed by refused statements");
    }
}

/// A warehouse registered as a root: tables by name, read at one catalog version until
/// `refresh`, and INSERT / DELETE committed through the warehouse's catalog.
#[tokio::test]
async fn warehouse_root_reads_one_catalog_version() {
    let dir = tempfile::tempdir().unwrap();
    let wh = floe::Warehouse::create(dir.path()).unwrap();
    let schema = events_schema();
    wh.create_table("a", schema.clone()).unwrap();
    wh.create_table("b", schema.clone()).unwrap();
    wh.append("a", &[events_batch(&schema, 0, 10)]).unwrap();
    wh.append("b", &[events_batch(&schema, 0, 20)]).unwrap();
    let ctx = SessionContext::new();
    let root = floe_datafusion::register_root_with(&ctx, dir.path(), TableOptions::default()).unwrap();
    let at = root.warehouse_version().unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM a").await), 10);
    // A commit after the read point is not seen until refresh (one point for all tables).
    wh.append("a", &[events_batch(&schema, 10, 15)]).unwrap();
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM a JOIN b USING (id)").await), 10);
    root.refresh().unwrap();
    assert!(root.warehouse_version().unwrap() > at);
    assert_eq!(first_i64(&sql(&ctx, "SELECT count(*) FROM a JOIN b USING (id)").await), 15);
    assert_eq!(count_of(&sql(&ctx, "DELETE FROM b WHERE id >= 15").await), 5);
    sql(&ctx, "INSERT INTO a SELECT * FROM b WHERE id < 2").await;
    let snap = wh.snapshot().unwrap();
    assert_eq!(snap.table("b").unwrap().scan().count().unwrap(), 15);
    assert_eq!(snap.table("a").unwrap().scan().count().unwrap(), 17);
}

/// The `FloeReadExec` node of a plan.
fn floe_read(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    if plan.name() == "FloeReadExec" {
        return Some(Arc::clone(plan));
    }
    plan.children().into_iter().find_map(floe_read)
}

/// `LIMIT` over a merge-on-read table whose every file has deletes: the hint reaches
/// floe's reader (`FloeReadExec`), which then yields no more than the limit and stops
/// opening files once it is met, even when its stream is drained to the end (its
/// `files_read` / `files_skipped_by_limit` metrics); without a limit it reads all.
#[tokio::test]
async fn limit_stops_floe_reader_early() {
    let dir = tempfile::tempdir().unwrap();
    let schema = events_schema();
    let opts = options().property("write.delete.mode", "merge-on-read");
    let table = Table::create_with(dir.path(), schema.clone(), opts).unwrap();
    for k in 0..8 {
        table.append(&[events_batch(&schema, k * 100, (k + 1) * 100)]).unwrap();
    }
    // The first three rows of every file deleted: every file has a delete file.
    let w: Vec<String> = (0..8).map(|k| format!("(id >= {} and id < {})", k * 100, k * 100 + 3)).collect();
    table.delete(Predicate::parse(&w.join(" or ")).unwrap()).unwrap();
    let plan = table.scan().plan().unwrap();
    assert!((0..plan.files.len()).all(|i| !plan.file_deletes(i).is_empty()), "every file has deletes");
    assert_eq!(plan.files.len(), 8);

    let config = SessionConfig::new().with_target_partitions(1);
    let ctx = SessionContext::new_with_config(config);
    ctx.register_table("t", Arc::new(FloeTableProvider::try_new(table.clone()).unwrap())).unwrap();
    // Drains floe's reader alone (no LimitExec above it to stop pulling).
    let drain = |q: &'static str| {
        let ctx = ctx.clone();
        async move {
            let physical = ctx.sql(q).await.unwrap().create_physical_plan().await.unwrap();
            let exec = floe_read(&physical).unwrap_or_else(|| panic!("no FloeReadExec in {q}"));
            let batches = collect(Arc::clone(&exec), ctx.task_ctx()).await.unwrap();
            (batches, exec)
        }
    };
    let (batches, exec) = drain("SELECT id, note FROM t LIMIT 5").await;
    assert!(datafusion::physical_plan::displayable(exec.as_ref()).one_line().to_string().contains("limit=5"));
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    // Only live rows: none of the deleted ids.
    for b in &batches {
        let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        assert!(ids.values().iter().all(|i| i % 100 >= 3), "{ids:?}");
    }
    assert_eq!(metric(&exec, "files_read").0, 1, "LIMIT 5 opens one file");
    assert_eq!(metric(&exec, "files_skipped_by_limit").0, 7);
    assert!(metric(&exec, "output_batches").0 <= 2);

    let (batches, exec) = drain("SELECT id, note FROM t").await;
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 8 * 97);
    assert_eq!(metric(&exec, "files_read").0, 8);
    assert_eq!(metric(&exec, "files_skipped_by_limit").0, 0);
    // And through SQL the limited query returns 5 live rows.
    let got = sql(&ctx, "SELECT id FROM t LIMIT 5").await;
    assert_eq!(got.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
}

/// `UPDATE` follows `write.update.mode` and `DELETE` follows `write.delete.mode`, each
/// on its own: merge-on-read writes delete files, copy-on-write rewrites data files.
#[tokio::test]
async fn update_and_delete_follow_their_own_modes() {
    for (update_mode, delete_mode) in [("merge-on-read", "copy-on-write"), ("copy-on-write", "merge-on-read")] {
        let dir = tempfile::tempdir().unwrap();
        let schema = events_schema();
        let opts = options().property("write.update.mode", update_mode).property("write.delete.mode", delete_mode);
        let table = Table::create_with(dir.path(), schema.clone(), opts).unwrap();
        table.append(&[events_batch(&schema, 0, 300)]).unwrap();
        let (ctx, _) = ctx_with("events", &table);
        assert_eq!(count_of(&sql(&ctx, "UPDATE events SET qty = 99 WHERE id < 10").await), 10);
        let deletes_after_update = table.scan().plan().unwrap().has_deletes();
        assert_eq!(deletes_after_update, update_mode == "merge-on-read", "UPDATE under {update_mode}");
        assert_eq!(table.scan().filter(Predicate::parse("qty = 99").unwrap()).count().unwrap(), 10);
        assert_eq!(table.scan().count().unwrap(), 300);
        if delete_mode == "merge-on-read" {
            assert_eq!(count_of(&sql(&ctx, "DELETE FROM events WHERE id >= 290").await), 10);
            assert!(table.scan().plan().unwrap().has_deletes(), "DELETE under merge-on-read");
            assert_eq!(table.scan().count().unwrap(), 290);
        }
    }
}
