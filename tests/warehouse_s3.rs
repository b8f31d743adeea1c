//! Warehouses and multi-table transactions in a bucket: the warehouse suite of
//! `tests/warehouse.rs` against a real S3 server (SeaweedFS, started by
//! `scripts/s3-server.sh`), through the same public API (`Warehouse::create_with` /
//! `open_with` on an `s3://` URL with storage options).
//!
//! Object stores have no advisory lock, so writers of one warehouse contend on the
//! catalog's conditional create alone (lost race → rebase → backoff): the transfer
//! test runs 4 threads at once and checks that no acknowledged transfer is lost and no
//! transfer is half-applied. Crash points at every protocol step run in real child
//! processes against the bucket, then any opener rolls the transaction forward.
//!
//! Like `tests/object_store.rs`, the tests need `FLOE_S3_ENDPOINT` and `FLOE_S3_BUCKET`
//! and skip without them unless `FLOE_S3_REQUIRED` is set (as `scripts/test.sh` sets it).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arrow_array::{Array, Float64Array, Int64Array};
use common::{batch, schema};
use floe::storage::{Key, Storage, StorageOptions};
use floe::{Durability, Error, RetryPolicy, TableOptions, Warehouse, WarehouseError, col};

fn s3() -> Option<(String, String)> {
    match (std::env::var("FLOE_S3_ENDPOINT"), std::env::var("FLOE_S3_BUCKET")) {
        (Ok(e), Ok(b)) => Some((e, b)),
        _ if std::env::var_os("FLOE_S3_REQUIRED").is_some() => {
            panic!("FLOE_S3_REQUIRED is set but FLOE_S3_ENDPOINT/FLOE_S3_BUCKET are not: start scripts/s3-server.sh")
        }
        _ => {
            eprintln!("skipped: no S3 server (FLOE_S3_ENDPOINT unset; see scripts/s3-server.sh)");
            None
        }
    }
}

fn s3_options(endpoint: &str) -> StorageOptions {
    [
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "floe"),
        ("aws_secret_access_key", "floe-secret"),
        ("aws_region", "us-east-1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Options a user passes to open a warehouse in the bucket (relaxed durability is
/// meaningless on S3: every put is durable when it returns).
fn options(endpoint: &str) -> TableOptions {
    let mut o = TableOptions::default().durability(Durability::Relaxed);
    for (k, v) in s3_options(endpoint) {
        o = o.storage_option(k, v);
    }
    o
}

/// A fresh warehouse URL in the bucket.
fn fresh_root(bucket: &str, name: &str) -> String {
    format!("s3://{bucket}/wh-{name}-{}", uuid::Uuid::new_v4())
}

/// The store at the warehouse root (to play a foreign writer and to inspect keys).
fn root_store(endpoint: &str, root: &str) -> Arc<dyn Storage> {
    let url = floe::storage::StoreUrl::parse(std::path::Path::new(root)).unwrap();
    floe::storage::open_store(&url, &s3_options(endpoint)).unwrap()
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

fn ids_and_sum(t: &floe::Table) -> (Vec<i64>, f64) {
    let mut ids = Vec::new();
    let mut sum = 0.0;
    for b in t.scan().select(["id", "value"]).to_batches().unwrap() {
        let id = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let v = b.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..id.len() {
            ids.push(id.value(i));
            sum += v.value(i);
        }
    }
    ids.sort();
    (ids, sum)
}

fn transfer(id: i64, amount: f64) -> (arrow_array::RecordBatch, arrow_array::RecordBatch) {
    let one = batch(id, 1);
    let with = |v: f64| {
        let mut cols = one.columns().to_vec();
        cols[2] = Arc::new(Float64Array::from(vec![v]));
        arrow_array::RecordBatch::try_new(one.schema(), cols).unwrap()
    };
    (with(-amount), with(amount))
}

fn do_transfer(wh: &Warehouse, id: i64, amount: f64) -> floe::Result<floe::WarehouseCommit> {
    let (a, b) = transfer(id, amount);
    let mut tx = wh.transaction();
    tx.table("bank.a")?.append(&a)?;
    tx.table("bank.b")?.append(&b)?;
    tx.commit()
}

fn bank(root: &str, opts: TableOptions) -> Warehouse {
    let wh = Warehouse::create_with(root, opts).unwrap();
    wh.create_table("bank.a", schema()).unwrap();
    wh.create_table("bank.b", schema()).unwrap();
    wh
}

#[test]
fn s3_lifecycle_names_and_errors() {
    let Some((endpoint, bucket)) = s3() else { return };
    let root = fresh_root(&bucket, "life");
    let opts = options(&endpoint);
    assert!(matches!(
        Warehouse::open_with(&root, opts.clone()),
        Err(Error::Warehouse(WarehouseError::NotFound { .. }))
    ));
    let wh = Warehouse::create_with(&root, opts.clone()).unwrap();
    assert!(matches!(
        Warehouse::create_with(&root, opts.clone()),
        Err(Error::Warehouse(WarehouseError::Exists { .. }))
    ));
    assert_eq!(wh.version().unwrap(), 1);
    wh.create_table("orders", schema()).unwrap();
    wh.create_table("sales.inventory", schema()).unwrap();
    let store = root_store(&endpoint, &root);
    assert!(store.exists(&key("sales/inventory/metadata/v1.metadata.json")).unwrap());
    assert!(store.exists(&key("_floe/catalog/v3.json")).unwrap());
    assert!(matches!(wh.create_table("orders", schema()), Err(Error::Warehouse(WarehouseError::TableExists { .. }))));
    wh.append("orders", &[batch(0, 3)]).unwrap();
    wh.rename_table("orders", "orders_2024").unwrap();
    assert!(matches!(wh.table("orders"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
    assert_eq!(common::ids(&wh.table("orders_2024").unwrap()), vec![0, 1, 2]);
    let again = wh.create_table("orders", schema()).unwrap();
    assert!(common::ids(&again).is_empty());
    wh.drop_table("orders_2024").unwrap();
    assert!(matches!(wh.drop_table("orders_2024"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
    // Another handle (as another process would) reads the same catalog from the bucket.
    let other = Warehouse::open_with(&root, opts.clone()).unwrap();
    let names: Vec<String> = other.tables().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["orders", "sales.inventory"]);
    // A table of the warehouse opened directly is committed to only through it.
    let direct = floe::Table::open_with(format!("{root}/sales/inventory"), opts).unwrap();
    let e = direct.append(&[batch(0, 1)]).unwrap_err();
    assert!(matches!(e, Error::Warehouse(WarehouseError::ManagedTable { .. })), "{e}");
}

#[test]
fn s3_atomic_commit_snapshots_and_time_travel() {
    let Some((endpoint, bucket)) = s3() else { return };
    let root = fresh_root(&bucket, "atomic");
    let wh = bank(&root, options(&endpoint));
    let before = wh.snapshot().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut versions = Vec::new();
    for i in 0..4 {
        let c = do_transfer(&wh, i, 10.0 + i as f64).unwrap();
        assert_eq!(c.tables["bank.a"].version, 2 + i as u64);
        versions.push((c.catalog_version, SystemTime::now()));
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut tx = wh.transaction();
    tx.table("bank.a").unwrap().delete(col("id").eq(0i64)).unwrap();
    tx.table("bank.b").unwrap().delete(col("id").eq(0i64)).unwrap();
    let c = tx.commit().unwrap();
    let snap = wh.snapshot().unwrap();
    assert_eq!(snap.version(), c.catalog_version);
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!(a, vec![1, 2, 3]);
    assert_eq!(a, b);
    assert_eq!(sa + sb, 0.0);
    assert!(ids_and_sum(&before.table("bank.a").unwrap()).0.is_empty());
    for (i, (k, t)) in versions.iter().enumerate() {
        assert_eq!(ids_and_sum(&wh.snapshot_at(*k).unwrap().table("bank.a").unwrap()).0.len(), i + 1);
        assert_eq!(wh.snapshot_as_of(*t).unwrap().version(), *k);
    }
    assert!(matches!(wh.snapshot_at(10_000), Err(Error::Warehouse(WarehouseError::NoSuchVersion { .. }))));
}

#[test]
fn s3_disjoint_transactions_both_commit_overlapping_serialize() {
    let Some((endpoint, bucket)) = s3() else { return };
    let root = fresh_root(&bucket, "races");
    let opts = options(&endpoint);
    let wh = Warehouse::create_with(&root, opts.clone()).unwrap();
    for t in ["a", "b", "c", "d"] {
        wh.create_table(t, schema()).unwrap();
    }
    let handles: Vec<_> = ["a", "b", "c", "d"]
        .into_iter()
        .enumerate()
        .map(|(n, t)| {
            let (root, opts) = (root.clone(), opts.clone());
            std::thread::spawn(move || {
                let wh = Warehouse::open_with(&root, opts).unwrap();
                let mut lost = 0;
                for i in 0..5 {
                    let c = wh.append(t, &[batch((n * 100 + i) as i64, 1)]).unwrap();
                    lost += c.attempts - 1;
                }
                lost
            })
        })
        .collect();
    let lost: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let snap = wh.snapshot().unwrap();
    for (n, t) in ["a", "b", "c", "d"].into_iter().enumerate() {
        let ids = ids_and_sum(&snap.table(t).unwrap()).0;
        assert_eq!(ids, ((n * 100) as i64..(n * 100 + 5) as i64).collect::<Vec<_>>());
        assert_eq!(snap.table_version(t).unwrap(), 6);
    }
    assert_eq!(snap.version(), 1 + 4 + 20);
    println!("s3 disjoint: {lost} catalog races lost and retried (no advisory lock on S3)");

    let mut t1 = wh.transaction();
    t1.table("a").unwrap().delete(col("id").eq(0i64)).unwrap();
    t1.table("b").unwrap().append(&batch(1000, 1)).unwrap();
    let mut t2 = wh.transaction();
    t2.table("a").unwrap().delete(col("id").eq(0i64)).unwrap();
    t2.table("c").unwrap().append(&batch(2000, 1)).unwrap();
    t1.commit().unwrap();
    let e = t2.commit().unwrap_err();
    match &e {
        Error::Warehouse(WarehouseError::ConcurrentModification { table, .. }) => assert_eq!(table, "a"),
        other => panic!("{other}"),
    }
    let snap = wh.snapshot().unwrap();
    assert!(!ids_and_sum(&snap.table("c").unwrap()).0.contains(&2000));
    assert!(ids_and_sum(&snap.table("b").unwrap()).0.contains(&1000));
    let mut t3 = wh.transaction();
    t3.table("d").unwrap().append(&batch(3000, 1)).unwrap();
    let mut t4 = wh.transaction();
    t4.table("d").unwrap().append(&batch(4000, 1)).unwrap();
    let c3 = t3.commit().unwrap();
    let c4 = t4.commit().unwrap();
    assert_eq!(c4.tables["d"].version, c3.tables["d"].version + 1);
    assert_eq!(c4.tables["d"].rebased_over, 1);
}

#[test]
fn s3_foreign_version_is_detected_not_overwritten() {
    let Some((endpoint, bucket)) = s3() else { return };
    let root = fresh_root(&bucket, "foreign");
    let wh = bank(&root, options(&endpoint));
    do_transfer(&wh, 1, 5.0).unwrap();
    let store = root_store(&endpoint, &root);
    let v2 = store.read(&key("bank/a/metadata/v2.metadata.json")).unwrap();
    let foreign =
        String::from_utf8(v2.to_vec()).unwrap().replacen("\"properties\"", "\"properties-x\": 1, \"properties\"", 1);
    store.put_new(&key("bank/a/metadata/v3.metadata.json"), foreign.as_bytes(), true).unwrap();
    let e = do_transfer(&wh, 2, 5.0).unwrap_err();
    assert!(
        matches!(&e, Error::Warehouse(WarehouseError::ForeignVersion { table, version: 3, .. }) if table == "bank.a"),
        "{e}"
    );
    assert_eq!(store.read(&key("bank/a/metadata/v3.metadata.json")).unwrap().as_ref(), foreign.as_bytes());
    assert!(!store.exists(&key("bank/b/metadata/v3.metadata.json")).unwrap(), "nothing of it published");
}

/// 4 threads, each with its own warehouse handle, transfer between two tables at once
/// for a fixed count; on S3 there is no catalog lock, so every lost race is a rebase
/// and a backoff. Every acknowledged transfer is in both tables exactly once, and a
/// snapshot reader running alongside never sees a half-applied transfer.
#[test]
fn s3_four_writers_transfer_with_nothing_lost() {
    let Some((endpoint, bucket)) = s3() else { return };
    let root = fresh_root(&bucket, "transfers");
    let opts = options(&endpoint).retry(RetryPolicy::default().with_max_attempts(1000));
    let wh = bank(&root, opts.clone());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (root, opts, done) = (root.clone(), opts.clone(), done.clone());
        std::thread::spawn(move || {
            let wh = Warehouse::open_with(&root, opts).unwrap();
            let mut snapshots = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let snap = wh.snapshot().unwrap();
                let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
                let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
                assert_eq!(a, b, "snapshot v{}: a transfer half-applied", snap.version());
                assert_eq!(sa + sb, 0.0, "snapshot v{}", snap.version());
                snapshots += 1;
            }
            snapshots
        })
    };
    let per_writer = 8i64;
    let writers: Vec<_> = (0..4i64)
        .map(|w| {
            let (root, opts) = (root.clone(), opts.clone());
            std::thread::spawn(move || {
                let wh = Warehouse::open_with(&root, opts).unwrap();
                let mut acked = Vec::new();
                let mut attempts = 0;
                for i in 0..per_writer {
                    let id = w * 1000 + i;
                    let c = do_transfer(&wh, id, 1.0 + (id % 97) as f64).unwrap();
                    attempts += c.attempts;
                    acked.push(id);
                }
                (acked, attempts)
            })
        })
        .collect();
    let mut acked = BTreeSet::new();
    let mut attempts = 0;
    for h in writers {
        let (ids, n) = h.join().unwrap();
        attempts += n;
        acked.extend(ids);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let snapshots = reader.join().unwrap();
    let snap = Warehouse::open_with(&root, opts).unwrap().snapshot().unwrap();
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!(a, acked.iter().copied().collect::<Vec<_>>(), "every acknowledged transfer exactly once");
    assert_eq!(a, b);
    assert_eq!(sa + sb, 0.0);
    assert_eq!(snap.version(), 3 + 4 * per_writer as u64);
    assert_eq!(wh.snapshot().unwrap().version(), snap.version());
    println!(
        "s3 transfers: {} acknowledged, 0 lost, {attempts} attempts ({} lost races), {snapshots} consistent snapshots read",
        acked.len(),
        attempts as usize - acked.len()
    );
}

// ---- crash points in child processes ----------------------------------------------

/// Child side: one transfer with `FLOE_CRASH_POINT` armed (the parent passes the
/// server's environment on).
#[test]
fn s3_child_entry() {
    let Ok(root) = std::env::var("FLOE_WH_S3_ROOT") else { return };
    let Some((endpoint, _)) = s3() else { return };
    let wh = Warehouse::open_with(&root, options(&endpoint)).unwrap();
    do_transfer(&wh, 1, 7.0).unwrap();
}

#[test]
fn s3_crash_at_every_protocol_step_rolls_forward() {
    let Some((endpoint, bucket)) = s3() else { return };
    let opts = options(&endpoint);
    for point in ["mt-staged:1", "mt-committed:1", "mt-published:1", "mt-done:1"] {
        let root = fresh_root(&bucket, "crash");
        let wh = bank(&root, opts.clone());
        do_transfer(&wh, 0, 1.0).unwrap();
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["s3_child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env("FLOE_WH_S3_ROOT", &root)
            .env("FLOE_CRASH_POINT", point)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(!status.success(), "{point}: the child must have crashed");
        let committed = point != "mt-staged:1";
        let snap = wh.snapshot().unwrap();
        let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
        let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
        assert_eq!(a, b, "{point}");
        assert_eq!(sa + sb, 0.0, "{point}");
        assert_eq!(a.contains(&1), committed, "{point}");
        let published = |t: &str| floe::Table::open_with(format!("{root}/{t}"), opts.clone()).unwrap().version();
        let (va, vb) = (published("bank/a"), published("bank/b"));
        // Tables publish in parallel after the commit point: either may be ahead.
        assert!(va.max(vb) <= 3 && va.min(vb) >= 2, "{point}: a v{va} b v{vb}");
        if !committed {
            assert_eq!((va, vb), (2, 2), "{point}: nothing is published before the commit point");
        }
        // Two openers roll forward at once and agree.
        let r1 = std::thread::spawn({
            let (root, opts) = (root.clone(), opts.clone());
            move || Warehouse::open_with(&root, opts).unwrap().repair().unwrap()
        });
        let r2 = Warehouse::open_with(&root, opts.clone()).unwrap().repair().unwrap();
        assert_eq!(r1.join().unwrap().catalog_version, r2.catalog_version);
        let expect = if committed { 3 } else { 2 };
        assert_eq!((published("bank/a"), published("bank/b")), (expect, expect), "{point}");
        let plain = |t: &str| ids_and_sum(&floe::Table::open_with(format!("{root}/{t}"), opts.clone()).unwrap()).0;
        assert_eq!(plain("bank/a"), a, "{point}");
        assert_eq!(plain("bank/b"), b, "{point}");
        do_transfer(&Warehouse::open_with(&root, opts.clone()).unwrap(), 100, 1.0).unwrap();
    }
}

/// `drop_table_purge` in a bucket: the drop is a catalog version and every object
/// under the table's prefix is deleted; the other table is untouched.
#[test]
fn s3_drop_table_purge_deletes_its_objects() {
    let Some((endpoint, bucket)) = s3() else { return };
    let root = fresh_root(&bucket, "purge");
    let wh = bank(&root, options(&endpoint));
    do_transfer(&wh, 0, 1.0).unwrap();
    let store = root_store(&endpoint, &root);
    let objects = |p: &str| store.list(Some(&key(p))).unwrap().objects.len();
    let before = objects("bank/a");
    assert!(before >= 5, "{before}");
    assert_eq!(wh.drop_table_purge("bank.a").unwrap(), before);
    assert_eq!(objects("bank/a"), 0);
    assert!(objects("bank/b") >= 5);
    assert_eq!(ids_and_sum(&wh.snapshot().unwrap().table("bank.b").unwrap()).0, vec![0]);
    assert!(matches!(wh.table("bank.a"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
}
