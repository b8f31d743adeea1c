//! Tables in a bucket through SQL: the provider reads the data files through floe's own
//! object_store store for the table (registered in the session's `RuntimeEnv` under the
//! bucket's URL), merge-on-read files through floe's reader. Every query is compared
//! with floe's scan of the same table.
//!
//! The in-memory store (`memory://`) always runs. The S3 test needs `FLOE_S3_ENDPOINT`
//! and `FLOE_S3_BUCKET` (printed by `scripts/s3-server.sh start`, SeaweedFS); without
//! them it skips, unless `FLOE_S3_REQUIRED` is set (then it fails).

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use floe::{Predicate, PrimitiveType, Schema, Table, TableOptions};
use floe_datafusion::{FloeTableProvider, ReadPath};

fn schema() -> Schema {
    Schema::builder().required("id", PrimitiveType::Long).optional("name", PrimitiveType::String).build().unwrap()
}

fn batch(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let names: Vec<Option<String>> = ids.iter().map(|i| (i % 4 != 0).then(|| format!("n{i}"))).collect();
    RecordBatch::try_new(
        Arc::new(schema().to_arrow()),
        vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(names))],
    )
    .unwrap()
}

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

/// Creates a merge-on-read table at `url`, writes three files, deletes rows from one,
/// and checks SQL against floe's scan.
async fn table_in_a_bucket(url: &str, options: TableOptions, store_url: &str) {
    let options = options.property("write.delete.mode", "merge-on-read");
    let table = Table::create_with(url, schema(), options.clone()).unwrap();
    for k in 0..3 {
        table.append(&[batch(k * 100, (k + 1) * 100)]).unwrap();
    }
    table.delete(Predicate::parse("id >= 50 and id < 60").unwrap()).unwrap();
    // A fresh handle, as a user opens it.
    let table = Table::open_with(url, options).unwrap();
    let provider = Arc::new(FloeTableProvider::try_new(table.clone()).unwrap());
    assert_eq!(provider.object_store_url().as_str(), store_url);
    let planned = provider.plan_files(&[]).await.unwrap();
    assert_eq!(planned.len(), 3);
    assert_eq!(planned.iter().filter(|p| p.read == ReadPath::Floe).count(), 1, "{planned:?}");
    for p in &planned {
        assert!(!p.location.contains("://"), "an object path in the store, not a URL: {}", p.location);
    }
    let ctx = SessionContext::new();
    ctx.register_table("t", provider).unwrap();
    for (q, w) in [
        ("SELECT id, name FROM t", None),
        ("SELECT id FROM t WHERE id >= 40 AND id < 120", Some("id >= 40 and id < 120")),
        ("SELECT id, name FROM t WHERE name IS NULL", Some("name is null")),
    ] {
        let got = rows(&sql(&ctx, q).await);
        let mut scan = table.scan();
        if let Some(w) = w {
            scan = scan.filter(Predicate::parse(w).unwrap());
        }
        let cols: Vec<&str> = if q.contains("name") { vec!["id", "name"] } else { vec!["id"] };
        let want = rows(&scan.select(cols).to_batches().unwrap());
        assert_eq!(got, want, "{q}");
        assert!(!got.is_empty());
    }
    let count = sql(&ctx, "SELECT count(*) FROM t").await;
    let count = count[0].column(0).as_any().downcast_ref::<Int64Array>().unwrap().value(0);
    assert_eq!(count, 290);
    // INSERT INTO commits through floe into the bucket.
    sql(&ctx, "INSERT INTO t VALUES (1000, 'new')").await;
    table.refresh().unwrap();
    assert_eq!(table.scan().count().unwrap(), 291);
}

/// Two tables under `root` (a bucket prefix) registered as one root: listed from the
/// bucket, joined, and changed by DELETE and UPDATE (merge-on-read), checked with
/// floe's scan.
async fn root_in_a_bucket(root: &str, options: TableOptions) {
    let options = options.property("write.delete.mode", "merge-on-read");
    let a = Table::create_with(format!("{root}/a"), schema(), options.clone()).unwrap();
    let b = Table::create_with(format!("{root}/b"), schema(), options.clone()).unwrap();
    a.append(&[batch(0, 100)]).unwrap();
    b.append(&[batch(50, 150)]).unwrap();
    let ctx = SessionContext::new();
    floe_datafusion::register_root_with(&ctx, root, options).unwrap();
    let names = ctx.catalog("datafusion").unwrap().schema("public").unwrap().table_names();
    assert_eq!(names, vec!["a".to_string(), "b".to_string()]);
    let got = rows(&sql(&ctx, "SELECT count(*) FROM a JOIN b USING (id)").await);
    assert_eq!(got, vec!["50"]);
    sql(&ctx, "DELETE FROM a WHERE id < 60").await;
    sql(&ctx, "UPDATE b SET name = 'u' WHERE id >= 140").await;
    a.refresh().unwrap();
    b.refresh().unwrap();
    assert_eq!(a.scan().count().unwrap(), 40);
    assert!(a.scan().plan().unwrap().has_deletes(), "merge-on-read in the bucket too");
    assert_eq!(b.scan().filter(Predicate::parse("name = 'u'").unwrap()).count().unwrap(), 10);
    let got = rows(&sql(&ctx, "SELECT id, name FROM b").await);
    assert_eq!(got, rows(&b.scan().to_batches().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_root_through_sql() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    root_in_a_bucket(&format!("memory://root-{}-{nanos}/wh", std::process::id()), TableOptions::default()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_root_through_sql() {
    let Some((options, bucket)) = s3_options() else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    root_in_a_bucket(&format!("s3://{bucket}/sql-root-{}-{nanos}", std::process::id()), options).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_table_through_sql() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let bucket = format!("sql-{}-{nanos}", std::process::id());
    table_in_a_bucket(&format!("memory://{bucket}/t"), TableOptions::default(), &format!("memory://{bucket}/")).await;
}

/// object_store config keys for the test server (what `floe sql --storage-option` takes).
fn s3_options() -> Option<(TableOptions, String)> {
    let (endpoint, bucket) = match (std::env::var("FLOE_S3_ENDPOINT"), std::env::var("FLOE_S3_BUCKET")) {
        (Ok(e), Ok(b)) => (e, b),
        _ if std::env::var_os("FLOE_S3_REQUIRED").is_some() => {
            panic!("FLOE_S3_REQUIRED is set but FLOE_S3_ENDPOINT/FLOE_S3_BUCKET are not: start scripts/s3-server.sh")
        }
        _ => {
            eprintln!("skipped: no S3 server (FLOE_S3_ENDPOINT unset; see scripts/s3-server.sh)");
            return None;
        }
    };
    let mut o = TableOptions::default();
    for (k, v) in [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "floe"),
        ("aws_secret_access_key", "floe-secret"),
        ("aws_region", "us-east-1"),
    ] {
        o = o.storage_option(k, v);
    }
    Some((o, bucket))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_table_through_sql() {
    let Some((options, bucket)) = s3_options() else { return };
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let url = format!("s3://{bucket}/sql-{}-{nanos}", std::process::id());
    table_in_a_bucket(&url, options, &format!("s3://{bucket}/")).await;
}
