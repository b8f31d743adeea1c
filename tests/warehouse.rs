//! Warehouses and multi-table transactions through the public API (docs/transactions.md):
//! the catalog's lifecycle, atomic commits across tables, consistent snapshots and time
//! travel, catalog races between writers, a foreign `v<N+1>`, crash points at every
//! protocol step (real child processes aborting there, then roll-forward), and the
//! bank-transfer invariant under random SIGKILLs of writer processes.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arrow_array::{Array, Float64Array, Int64Array};
use common::{batch, relaxed, schema};
use floe::{Durability, Error, RetryPolicy, TableOptions, Warehouse, WarehouseError, col};

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

/// One transfer `id` of `amount`: `-amount` in `a`, `+amount` in `b` (same id in both).
fn transfer(id: i64, amount: f64) -> (arrow_array::RecordBatch, arrow_array::RecordBatch) {
    let one = batch(id, 1);
    let with = |v: f64| {
        let mut cols = one.columns().to_vec();
        cols[2] = Arc::new(Float64Array::from(vec![v]));
        arrow_array::RecordBatch::try_new(one.schema(), cols).unwrap()
    };
    (with(-amount), with(amount))
}

fn bank(root: &Path, opts: TableOptions) -> Warehouse {
    let wh = Warehouse::create_with(root, opts).unwrap();
    wh.create_table("bank.a", schema()).unwrap();
    wh.create_table("bank.b", schema()).unwrap();
    wh
}

fn do_transfer(wh: &Warehouse, id: i64, amount: f64) -> floe::Result<floe::WarehouseCommit> {
    let (a, b) = transfer(id, amount);
    let mut tx = wh.transaction();
    tx.table("bank.a")?.append(&a)?;
    tx.table("bank.b")?.append(&b)?;
    tx.commit()
}

#[test]
fn lifecycle_names_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wh");
    assert!(matches!(Warehouse::open(&root), Err(Error::Warehouse(WarehouseError::NotFound { .. }))));
    let wh = Warehouse::create_with(&root, relaxed()).unwrap();
    assert!(matches!(Warehouse::create(&root), Err(Error::Warehouse(WarehouseError::Exists { .. }))));
    assert_eq!(wh.version().unwrap(), 1);
    for bad in ["", "a..b", "-x", "a/b", "_floe", "a b", "é"] {
        let e = wh.create_table(bad, schema()).unwrap_err();
        assert!(matches!(e, Error::Warehouse(WarehouseError::InvalidName { .. })), "{bad}: {e}");
    }
    let orders = wh.create_table("orders", schema()).unwrap();
    assert!(orders.path().ends_with("wh/orders"));
    wh.create_table("sales.inventory", schema()).unwrap();
    assert!(root.join("sales/inventory/metadata/v1.metadata.json").exists());
    assert!(matches!(wh.create_table("orders", schema()), Err(Error::Warehouse(WarehouseError::TableExists { .. }))));
    let names: Vec<String> = wh.tables().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["orders", "sales.inventory"]);

    wh.append("orders", &[batch(0, 3)]).unwrap();
    wh.rename_table("orders", "orders_2024").unwrap();
    assert!(matches!(wh.table("orders"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
    assert_eq!(common::ids(&wh.table("orders_2024").unwrap()), vec![0, 1, 2]);
    assert!(matches!(wh.rename_table("nope", "x"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
    // A new table may take the old name; its directory must not be the old one's.
    let again = wh.create_table("orders", schema()).unwrap();
    assert_ne!(again.path(), wh.table("orders_2024").unwrap().path());
    assert!(common::ids(&again).is_empty());
    wh.drop_table("orders_2024").unwrap();
    assert!(matches!(wh.drop_table("orders_2024"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
    // Another process's handle sees the same catalog.
    let other = Warehouse::open(&root).unwrap();
    let names: Vec<String> = other.tables().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["orders", "sales.inventory"]);

    // A table of a warehouse is committed to only through the warehouse.
    let direct = floe::Table::open(root.join("sales/inventory")).unwrap();
    let e = direct.append(&[batch(0, 1)]).unwrap_err();
    assert!(matches!(e, Error::Warehouse(WarehouseError::ManagedTable { .. })), "{e}");
}

#[test]
fn atomic_commit_snapshots_and_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let wh = bank(dir.path(), relaxed());
    let before = wh.snapshot().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let mut versions = Vec::new();
    for i in 0..5 {
        let c = do_transfer(&wh, i, 10.0 + i as f64).unwrap();
        assert_eq!(c.tables.len(), 2);
        assert_eq!(c.tables["bank.a"].version, 2 + i as u64);
        assert_eq!(c.tables["bank.b"].added_records, 1);
        versions.push((c.catalog_version, SystemTime::now()));
        std::thread::sleep(Duration::from_millis(5));
    }
    // Upsert, delete and overwrite in one transaction across both tables.
    let mut tx = wh.transaction();
    tx.table("bank.a").unwrap().delete(col("id").eq(0i64)).unwrap();
    tx.table("bank.b").unwrap().delete(col("id").eq(0i64)).unwrap();
    let c = tx.commit().unwrap();
    let snap = wh.snapshot().unwrap();
    assert_eq!(snap.version(), c.catalog_version);
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!(a, vec![1, 2, 3, 4]);
    assert_eq!(a, b);
    assert_eq!(sa + sb, 0.0);
    // The old snapshot still reads the empty tables.
    assert!(ids_and_sum(&before.table("bank.a").unwrap()).0.is_empty());
    // Time travel by catalog version and by timestamp.
    for (i, (k, t)) in versions.iter().enumerate() {
        let s = wh.snapshot_at(*k).unwrap();
        assert_eq!(ids_and_sum(&s.table("bank.a").unwrap()).0.len(), i + 1);
        let s = wh.snapshot_as_of(*t).unwrap();
        assert_eq!(s.version(), *k);
    }
    assert!(matches!(wh.snapshot_at(10_000), Err(Error::Warehouse(WarehouseError::NoSuchVersion { .. }))));
    assert!(matches!(
        wh.snapshot_as_of(SystemTime::UNIX_EPOCH),
        Err(Error::Warehouse(WarehouseError::NoSuchVersion { .. }))
    ));
}

#[test]
fn catalog_checkpoints_bound_what_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::create_with(dir.path(), relaxed()).unwrap();
    for i in 0..70 {
        wh.create_table(&format!("t{i}"), schema()).unwrap();
    }
    let cat = dir.path().join("_floe/catalog");
    assert!(cat.join("c64.json").exists(), "checkpoint at 64");
    // Every version file records one change, not the whole map.
    let v70 = std::fs::read_to_string(cat.join("v70.json")).unwrap();
    assert_eq!(v70.matches("\"location\"").count(), 1, "{v70}");
    // A fresh reader starts from the checkpoint: deleting the versions it covers (as
    // a cleanup would) leaves the map readable.
    for k in 2..64 {
        std::fs::remove_file(cat.join(format!("v{k}.json"))).unwrap();
    }
    std::fs::remove_file(cat.join("version-hint.text")).unwrap();
    let other = Warehouse::open(dir.path()).unwrap();
    assert_eq!(other.tables().unwrap().len(), 70);
}

#[test]
fn disjoint_transactions_both_commit_overlapping_serialize() {
    let dir = tempfile::tempdir().unwrap();
    let wh = Warehouse::create_with(dir.path(), relaxed()).unwrap();
    for t in ["a", "b", "c", "d"] {
        wh.create_table(t, schema()).unwrap();
    }
    // Disjoint: 4 threads x 10 commits on their own table each, all at once.
    let handles: Vec<_> = ["a", "b", "c", "d"]
        .into_iter()
        .enumerate()
        .map(|(n, t)| {
            let root = dir.path().to_path_buf();
            std::thread::spawn(move || {
                let wh = Warehouse::open_with(&root, relaxed()).unwrap();
                let mut lost = 0;
                for i in 0..10 {
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
        assert_eq!(ids, ((n * 100) as i64..(n * 100 + 10) as i64).collect::<Vec<_>>());
        assert_eq!(snap.table_version(t).unwrap(), 11);
    }
    assert_eq!(snap.version(), 1 + 4 + 40);
    println!("disjoint: {lost} catalog races lost and retried with the same staged files");

    // Overlapping: two transactions from the same base both delete row 0 of `a` (and
    // write `b`): the second to commit must fail naming `a`, and leave nothing.
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
    assert!(e.is_concurrent_modification());
    let snap = wh.snapshot().unwrap();
    assert!(!ids_and_sum(&snap.table("c").unwrap()).0.contains(&2000), "nothing of the failed transaction");
    assert!(ids_and_sum(&snap.table("b").unwrap()).0.contains(&1000));
    // Overlapping appends rebase (appends commute) and both land, serialized.
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
fn foreign_version_is_detected_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let wh = bank(dir.path(), relaxed());
    do_transfer(&wh, 1, 5.0).unwrap();
    // Another writer (not floe's warehouse) adds v3 to bank.a: a copy of v2 with a
    // property changed, as a foreign engine's commit would be.
    let md = dir.path().join("bank/a/metadata");
    let v2 = std::fs::read_to_string(md.join("v2.metadata.json")).unwrap();
    let foreign = v2.replacen("\"properties\"", "\"properties-x\": 1, \"properties\"", 1);
    std::fs::write(md.join("v3.metadata.json"), &foreign).unwrap();
    let e = do_transfer(&wh, 2, 5.0).unwrap_err();
    assert!(
        matches!(&e, Error::Warehouse(WarehouseError::ForeignVersion { table, version: 3, .. }) if table == "bank.a"),
        "{e}"
    );
    assert_eq!(std::fs::read_to_string(md.join("v3.metadata.json")).unwrap(), foreign, "never overwritten");
    assert!(!dir.path().join("bank/b/metadata/v3.metadata.json").exists(), "nothing of it published");
}

// ---- child processes -------------------------------------------------------------

/// Child side: `FLOE_WH_CHILD=once` makes one transfer (crash points come from
/// `FLOE_CRASH_POINT`); `=bank` transfers until killed, logging acknowledged ids.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_WH_CHILD") else { return };
    let root = std::env::var("FLOE_WH_ROOT").unwrap();
    let wh = Warehouse::open_with(&root, TableOptions::default().durability(Durability::Durable)).unwrap();
    if role == "once" {
        let id: i64 = std::env::var("FLOE_WH_ID").unwrap().parse().unwrap();
        let c = do_transfer(&wh, id, 7.0).unwrap();
        if let Ok(log) = std::env::var("FLOE_ACK_LOG") {
            std::fs::write(log, format!("ACK {id} {} {}\n", c.catalog_version, c.attempts)).unwrap();
        }
        return;
    }
    assert_eq!(role, "bank");
    let base: i64 = std::env::var("FLOE_ID_BASE").unwrap().parse().unwrap();
    let mut log =
        std::fs::OpenOptions::new().create(true).append(true).open(std::env::var("FLOE_ACK_LOG").unwrap()).unwrap();
    let wh = Warehouse::open_with(
        &root,
        TableOptions::default().durability(Durability::Durable).retry(RetryPolicy::default().with_max_attempts(1000)),
    )
    .unwrap();
    for i in 0i64.. {
        let id = base + i;
        let amount = 1.0 + (id % 97) as f64;
        let line = match do_transfer(&wh, id, amount) {
            Ok(c) => format!("ACK {id} {}\n", c.catalog_version),
            Err(e) if e.is_concurrent_modification() => format!("FAIL {id}\n"),
            Err(e) => format!("ERR {id} {e}\n"),
        };
        log.write_all(line.as_bytes()).unwrap();
    }
}

fn child(root: &Path, role: &str, env: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env("FLOE_WH_CHILD", role)
        .env("FLOE_WH_ROOT", root)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Per table: the newest `v<N>` on disk, as an Iceberg reader finds it.
fn published_versions(root: &Path) -> (u64, u64) {
    let open = |t: &str| floe::Table::open(root.join(t)).unwrap().version();
    (open("bank/a"), open("bank/b"))
}

#[test]
fn crash_at_every_protocol_step_rolls_forward() {
    let points = ["mt-staged:1", "mt-committed:1", "mt-published:1", "mt-published:2", "mt-done:1"];
    for (n, point) in points.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let wh = bank(root, TableOptions::default());
        do_transfer(&wh, 0, 1.0).unwrap();
        let status =
            child(root, "once", &[("FLOE_CRASH_POINT", point.to_string()), ("FLOE_WH_ID", "1".into())]).wait().unwrap();
        assert!(!status.success(), "{point}: the child must have crashed");
        let committed = *point != "mt-staged:1";
        // Before any roll-forward, a floe snapshot sees all or nothing of it.
        let snap = wh.snapshot().unwrap();
        let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
        let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
        assert_eq!(a, b, "{point}");
        assert_eq!(sa + sb, 0.0, "{point}");
        assert_eq!(a.contains(&1), committed, "{point}");
        // Iceberg readers see each table at a committed version; until a floe process
        // rolls forward, one table may be ahead of the other (the tables publish in
        // parallel after the commit point), and only after the commit point.
        let (va, vb) = published_versions(root);
        assert!(va.max(vb) <= 3 && va.min(vb) >= 2, "{point}: a v{va} b v{vb}");
        if !committed {
            assert_eq!((va, vb), (2, 2), "{point}: nothing is published before the commit point");
        }
        // Opening the warehouse (any floe process) rolls the transaction forward; two
        // processes doing it at once end in the same state.
        let r1 = std::thread::spawn({
            let root = root.to_path_buf();
            move || Warehouse::open(&root).unwrap().repair().unwrap()
        });
        let r2 = Warehouse::open(root).unwrap().repair().unwrap();
        let r1 = r1.join().unwrap();
        assert_eq!(r1.catalog_version, r2.catalog_version);
        let expect = if committed { 3 } else { 2 };
        assert_eq!(published_versions(root), (expect, expect), "{point}");
        let plain = |t: &str| ids_and_sum(&floe::Table::open(root.join(t)).unwrap()).0;
        assert_eq!(plain("bank/a"), a, "{point}: Iceberg view agrees after roll-forward");
        assert_eq!(plain("bank/b"), b, "{point}");
        // Nothing staged under a `v` name; the warehouse goes on.
        do_transfer(&Warehouse::open(root).unwrap(), 100 + n as i64, 1.0).unwrap();
        let hint = std::fs::read_to_string(root.join("bank/a/metadata/version-hint.text")).unwrap();
        assert_eq!(hint.trim(), (expect + 1).to_string(), "{point}");
    }
}

/// N writer processes transfer between two account tables under random SIGKILLs and
/// crash points; a floe snapshot reader asserts the invariant in every snapshot, a
/// plain Iceberg-style reader (each table's newest `v<N>`) counts how often it sees
/// the tables at different transactions; afterwards every acknowledged transfer is in
/// both tables exactly once.
#[test]
fn bank_transfer_invariant_under_sigkill() {
    const WRITERS: usize = 4;
    let rounds: usize = std::env::var("FLOE_BANK_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    bank(&root, TableOptions::default());
    let stop = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let (root, stop) = (root.clone(), stop.clone());
        move || {
            let wh = Warehouse::open(&root).unwrap();
            let (mut snapshots, mut skewed, mut plain_reads) = (0u64, 0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                let snap = wh.snapshot().unwrap();
                let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
                let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
                assert_eq!(sa + sb, 0.0, "total changed in catalog v{}", snap.version());
                assert_eq!(a, b, "half-applied transfer in catalog v{}", snap.version());
                assert_eq!(a.iter().collect::<HashSet<_>>().len(), a.len(), "a transfer applied twice");
                snapshots += 1;
                // The Iceberg view: each table's newest published version.
                let ta = floe::Table::open(root.join("bank/a")).unwrap();
                let tb = floe::Table::open(root.join("bank/b")).unwrap();
                let (pa, _) = ids_and_sum(&ta);
                let (pb, _) = ids_and_sum(&tb);
                plain_reads += 1;
                if pa != pb {
                    skewed += 1;
                }
            }
            (snapshots, skewed, plain_reads)
        }
    });
    let mut rng_state = 0x9e3779b97f4a7c15u64;
    let mut rand = move |n: u64| {
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        rng_state % n
    };
    let phases = ["mt-staged", "mt-committed", "mt-published", "mt-done"];
    let mut logs = Vec::new();
    let mut killed = 0;
    for round in 0..rounds {
        let mut kids = Vec::new();
        for w in 0..WRITERS {
            let log = root.join(format!("ack-{round}-{w}.log"));
            let mut env = vec![
                ("FLOE_ID_BASE", ((round * WRITERS + w) as i64 * 1_000_000).to_string()),
                ("FLOE_ACK_LOG", log.display().to_string()),
            ];
            if w % 2 == 1 {
                env.push(("FLOE_CRASH_POINT", format!("{}:{}", phases[rand(4) as usize], 2 + rand(6))));
            }
            logs.push(log);
            kids.push(child(&root, "bank", &env));
        }
        let deadline = Instant::now() + Duration::from_millis(1500);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100 + rand(300)));
            let k = rand(WRITERS as u64) as usize;
            if kids[k].try_wait().unwrap().is_none() && rand(3) == 0 {
                kids[k].kill().unwrap();
                killed += 1;
            }
        }
        for mut k in kids {
            let _ = k.kill();
            let _ = k.wait();
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (snapshots, skewed, plain_reads) = reader.join().unwrap();
    // Every acknowledged transfer is in both tables exactly once.
    let wh = Warehouse::open(&root).unwrap();
    wh.repair().unwrap();
    let snap = wh.snapshot().unwrap();
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!(a, b);
    assert_eq!(sa + sb, 0.0);
    let present: HashSet<i64> = a.iter().copied().collect();
    assert_eq!(present.len(), a.len(), "no transfer twice");
    let mut acked = BTreeMap::new();
    let mut failed = 0;
    for log in &logs {
        for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
            let mut f = line.split(' ');
            match (f.next(), f.next().and_then(|s| s.parse::<i64>().ok())) {
                (Some("ACK"), Some(id)) => {
                    acked.insert(id, ());
                }
                (Some("FAIL"), Some(id)) => {
                    failed += 1;
                    assert!(!present.contains(&id), "failed transfer {id} applied");
                }
                (Some("ERR"), _) => panic!("unexpected error in a writer: {line}"),
                _ => {}
            }
        }
    }
    for id in acked.keys() {
        assert!(present.contains(id), "acknowledged transfer {id} lost");
    }
    // The Iceberg view agrees once rolled forward.
    let plain = |t: &str| ids_and_sum(&floe::Table::open(root.join(t)).unwrap()).0;
    assert_eq!(plain("bank/a"), a);
    assert_eq!(plain("bank/b"), b);
    assert!(acked.len() > 10, "too few transfers to mean anything: {}", acked.len());
    println!(
        "bank: {} acknowledged, {} in the tables, {failed} failed, {killed} SIGKILLs; floe reader: {snapshots} \
         snapshots, all consistent; Iceberg-style reader: {skewed} of {plain_reads} reads saw the two tables at \
         different transactions",
        acked.len(),
        a.len()
    );
}

/// Maintenance on a warehouse table commits through the catalog (a one-table warehouse
/// transaction each): compaction keeps every row and the invariant in the snapshot
/// after it, rollback and expiry are catalog versions too, and the table's own handle
/// still refuses them (it would create a version the catalog does not know).
#[test]
fn maintenance_commits_through_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let wh = bank(dir.path(), relaxed());
    for i in 0..4 {
        do_transfer(&wh, i, 1.0 + i as f64).unwrap();
    }
    let direct = floe::Table::open(dir.path().join("bank/a")).unwrap();
    let e = direct.compact(&floe::CompactOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Warehouse(WarehouseError::ManagedTable { .. })), "{e}");
    let after_two = wh.snapshot_at(5).unwrap().table("bank.a").unwrap().metadata().current_snapshot_id().unwrap();

    let k = wh.version().unwrap();
    let r = wh.compact("bank.a", &floe::CompactOptions::default()).unwrap();
    assert_eq!(r.commits.len(), 1, "{r}");
    assert_eq!(r.data_files_removed, 4);
    assert_eq!(wh.version().unwrap(), k + 1, "the compaction is a catalog version");
    let snap = wh.snapshot().unwrap();
    assert_eq!(snap.table_version("bank.a").unwrap(), 6);
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!((a.clone(), sa + sb), (b, 0.0));
    assert_eq!(a, vec![0, 1, 2, 3]);
    // The published v6 is what an Iceberg reader finds, and the warehouse goes on.
    assert_eq!(floe::Table::open(dir.path().join("bank/a")).unwrap().version(), 6);
    do_transfer(&wh, 10, 1.0).unwrap();

    // Rollback of one table is a catalog version; the other table is untouched.
    let r = wh.rollback_to("bank.a", after_two).unwrap();
    assert_eq!(r.commits.len(), 1);
    let snap = wh.snapshot().unwrap();
    assert_eq!(snap.version(), k + 3);
    assert_eq!(ids_and_sum(&snap.table("bank.a").unwrap()).0, vec![0, 1]);
    assert_eq!(ids_and_sum(&snap.table("bank.b").unwrap()).0, vec![0, 1, 2, 3, 10]);
    assert!(wh.rollback_to("bank.a", 12345).is_err());
    assert_eq!(wh.version().unwrap(), k + 3, "a refused rollback commits nothing");

    // Expiry (keep the newest snapshot only) is a catalog version that deletes files.
    let r = wh
        .expire_snapshots("bank.a", &floe::ExpireOptions::default().older_than(Duration::ZERO).retain_last(1))
        .unwrap();
    assert_eq!(r.commits.len(), 1, "{r}");
    assert!(r.snapshots_expired >= 1, "{r}");
    assert_eq!(wh.version().unwrap(), k + 4);
    let snap = wh.snapshot().unwrap();
    assert_eq!(ids_and_sum(&snap.table("bank.a").unwrap()).0, vec![0, 1]);
    assert_eq!(floe::Table::open(dir.path().join("bank/a")).unwrap().version(), snap.table_version("bank.a").unwrap());
}

/// Orphan removal on a warehouse table reads the catalog: a transaction a writer
/// committed but died before publishing is rolled forward (its files are not orphans,
/// even with no grace period at all), the staged metadata files catalog versions name
/// are kept, and a staged file of a transaction that never reached the catalog goes.
#[test]
fn remove_orphans_reads_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let wh = bank(root, TableOptions::default());
    do_transfer(&wh, 0, 1.0).unwrap();
    // A writer commits transfer 1 and dies before publishing anything.
    let status = child(root, "once", &[("FLOE_CRASH_POINT", "mt-committed:1".into()), ("FLOE_WH_ID", "1".into())])
        .wait()
        .unwrap();
    assert!(!status.success());
    assert_eq!(published_versions(root), (2, 2), "nothing published yet");
    let md = root.join("bank/a/metadata");
    let staged = |md: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(md)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("floe-staged-"))
            .collect();
        v.sort();
        v
    };
    let named = staged(&md);
    assert_eq!(named.len(), 2, "{named:?}");
    // A transaction that staged its metadata and never reached the catalog.
    std::fs::write(md.join("floe-staged-never-committed-1.metadata.json"), b"{}").unwrap();

    let opts = floe::OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
    let r = wh.remove_orphans("bank.a", &opts).unwrap();
    assert_eq!(staged(&md), named, "catalog-named staged files kept, the stray one removed: {r}");
    assert_eq!(published_versions(root).0, 3, "transfer 1 rolled forward first");
    let snap = wh.snapshot().unwrap();
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!((a.clone(), sa + sb), (b, 0.0));
    assert_eq!(a, vec![0, 1], "transfer 1's files survived the zero-grace cleanup");
    assert!(matches!(wh.remove_orphans("nope", &opts), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
}

/// Every regular file under `dir`.
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries.map(|e| e.unwrap().path()).map(|p| if p.is_dir() { files_under(&p) } else { 1 }).sum()
}

/// `drop_table_purge` commits the drop, then deletes every file of the table; the
/// other tables are untouched and the name can be taken again.
#[test]
fn drop_table_purge_deletes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let wh = bank(dir.path(), relaxed());
    do_transfer(&wh, 0, 1.0).unwrap();
    do_transfer(&wh, 1, 2.0).unwrap();
    let before = files_under(&dir.path().join("bank/a"));
    assert!(before >= 8, "{before}");
    let k = wh.version().unwrap();
    // The table's files, and the version hint's side file of the table handle the
    // warehouse kept open: the purge deletes it, or the handle removed it when the
    // drop let it go.
    let side = usize::from(
        dir.path()
            .join("bank/a/metadata")
            .read_dir()
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(".version-hint.text.")),
    );
    let deleted = wh.drop_table_purge("bank.a").unwrap();
    assert!(deleted <= before && deleted >= before - side, "{deleted} of {before} ({side} side file)");
    assert_eq!(files_under(&dir.path().join("bank/a")), 0);
    assert_eq!(wh.version().unwrap(), k + 1, "the drop is one catalog version");
    assert!(matches!(wh.table("bank.a"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
    assert!(matches!(wh.drop_table_purge("bank.a"), Err(Error::Warehouse(WarehouseError::TableNotFound { .. }))));
    assert_eq!(ids_and_sum(&wh.snapshot().unwrap().table("bank.b").unwrap()).0, vec![0, 1]);
    let again = wh.create_table("bank.a", schema()).unwrap();
    assert!(common::ids(&again).is_empty());
    assert_eq!(Warehouse::open(dir.path()).unwrap().tables().unwrap().len(), 2);
}

// ---- catalog expiry -------------------------------------------------------------

/// The catalog version files present, sorted.
fn catalog_versions(root: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(root.join("_floe/catalog"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix('v')?.strip_suffix(".json")?.parse().ok()
        })
        .collect();
    v.sort();
    v
}

fn keep_newest(n: usize) -> floe::ExpireOptions {
    floe::ExpireOptions::default().older_than(Duration::ZERO).retain_last(n)
}

/// `expire_catalog` deletes the versions below the newest checkpoint the retention
/// allows; the warehouse reads the same afterwards (fresh handles and a handle opened
/// long before), time travel before the floor is a typed error, and commits go on.
#[test]
fn expire_catalog_bounds_the_log_and_keeps_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let wh = bank(root, relaxed());
    let early = Warehouse::open_with(root, relaxed()).unwrap();
    assert_eq!(early.version().unwrap(), 3);
    for id in 0..140 {
        do_transfer(&wh, id, 1.0 + id as f64).unwrap();
    }
    assert_eq!(wh.version().unwrap(), 143);
    let before = wh.snapshot_at(130).unwrap();
    let (ids_130, _) = ids_and_sum(&before.table("bank.a").unwrap());

    // Nothing is old enough by age: nothing goes.
    let r = wh.expire_catalog(&floe::ExpireOptions::default().retain_last(1)).unwrap();
    assert_eq!((r.deleted_versions, r.oldest_version), (0, 1), "{r:?}");
    // A dry run reports and changes nothing.
    let r = wh.expire_catalog(&keep_newest(10).dry_run(true)).unwrap();
    assert_eq!((r.deleted_versions, r.deleted_checkpoints, r.oldest_version), (127, 1, 128), "{r:?}");
    assert_eq!(catalog_versions(root).len(), 143);
    // Keep the newest 10 (134..=143): everything below checkpoint 128 goes.
    let r = wh.expire_catalog(&keep_newest(10)).unwrap();
    assert_eq!((r.catalog_version, r.oldest_version, r.deleted_versions, r.deleted_checkpoints), (143, 128, 127, 1));
    assert_eq!(catalog_versions(root), (128..=143).collect::<Vec<_>>());
    assert!(root.join("_floe/catalog/c128.json").exists() && !root.join("_floe/catalog/c64.json").exists());
    // Again: nothing more to do.
    assert_eq!(wh.expire_catalog(&keep_newest(10)).unwrap().deleted_versions, 0);

    // Time travel: before the floor is typed; at and after it reads as before.
    match wh.snapshot_at(100) {
        Err(Error::Warehouse(WarehouseError::VersionExpired { version: 100, oldest: 128 })) => {}
        other => panic!("expected VersionExpired, got {other:?}"),
    }
    let fresh = Warehouse::open(root).unwrap();
    assert!(matches!(fresh.snapshot_at(127), Err(Error::Warehouse(WarehouseError::VersionExpired { .. }))));
    assert_eq!(ids_and_sum(&fresh.snapshot_at(130).unwrap().table("bank.a").unwrap()).0, ids_130);
    assert_eq!(fresh.snapshot_at(128).unwrap().table_version("bank.a").unwrap(), 126);
    let long_ago = SystemTime::now() - Duration::from_secs(3600);
    assert!(matches!(fresh.snapshot_as_of(long_ago), Err(Error::Warehouse(WarehouseError::NoSuchVersion { .. }))));
    assert_eq!(fresh.snapshot_as_of(SystemTime::now()).unwrap().version(), 143);

    // The handle opened at v3 (its cached catalog now far below the floor) reads and
    // commits at the real head.
    let snap = early.snapshot().unwrap();
    assert_eq!(snap.version(), 143);
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!((a.len(), b.len(), sa + sb), (140, 140, 0.0));
    assert_eq!(do_transfer(&early, 500, 3.0).unwrap().catalog_version, 144);
    assert_eq!(do_transfer(&fresh, 501, 3.0).unwrap().catalog_version, 145);
    let orphans = wh.remove_orphans("bank.a", &floe::OrphanOptions::default()).unwrap();
    assert_eq!(orphans.data_files_removed, 0);
    assert_eq!(ids_and_sum(&Warehouse::open(root).unwrap().table("bank.b").unwrap()).0.len(), 142);
}

/// The hazard of deleting catalog versions: a writer that read the head long ago
/// exclusively creates `v<K+1>`, and the create succeeds if an expiry deleted that
/// version meanwhile. A real writer process is stopped (SIGSTOP) just before its
/// catalog create while 140 transactions commit and the catalog is expired past its
/// version; after SIGCONT it must not commit below the floor (where no reader would
/// see it) or out of order: it withdraws the re-created version, loses the race, and
/// commits at the head, exactly once.
#[test]
fn a_writer_stalled_across_a_catalog_expiry_commits_at_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // The stopped writer holds the warehouse's advisory commit lock: the others go on
    // without it (as they would after its wait times out).
    let wh = bank(root, relaxed().advisory_lock(false));
    do_transfer(&wh, 0, 1.0).unwrap();
    let log = root.join("once.log");
    let mut stalled = Reaper(child(
        root,
        "once",
        &[
            ("FLOE_CRASH_POINT", "mt-staged:1:stop".into()),
            ("FLOE_WH_ID", "1".into()),
            ("FLOE_ACK_LOG", log.display().to_string()),
        ],
    ));
    let stalled = &mut stalled.0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while process_state(stalled.id()) != Some('T') {
        assert!(stalled.try_wait().unwrap().is_none(), "the writer ended instead of stopping");
        assert!(Instant::now() < deadline, "the writer never reached its stop point");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The stalled writer read catalog v4 and will create v5.
    for id in 2..142 {
        do_transfer(&wh, id, 1.0).unwrap();
    }
    let r = wh.expire_catalog(&keep_newest(1)).unwrap();
    assert_eq!((r.catalog_version, r.oldest_version), (144, 128));
    assert!(!root.join("_floe/catalog/v5.json").exists());
    let ok = Command::new("kill").args(["-CONT", &stalled.id().to_string()]).status().unwrap().success();
    assert!(ok);
    let status = stalled.wait().unwrap();
    assert!(status.success(), "the stalled writer finishes: {status:?}");
    let ack = std::fs::read_to_string(&log).unwrap();
    let fields: Vec<&str> = ack.split_whitespace().collect();
    let (version, attempts): (u64, u32) = (fields[2].parse().unwrap(), fields[3].parse().unwrap());
    assert_eq!(version, 145, "committed at the head: {ack}");
    assert!(attempts >= 2, "its first create (the re-created v5) was withdrawn: {ack}");
    // No version below the floor came back; the log is whole from the floor up.
    assert_eq!(catalog_versions(root), (128..=145).collect::<Vec<_>>());
    // Every reader sees the transfer once, in both tables, after the others.
    for w in [Warehouse::open(root).unwrap(), wh.clone()] {
        let snap = w.snapshot().unwrap();
        let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
        let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
        assert_eq!(a, b);
        assert_eq!(a, (0..142).collect::<Vec<_>>());
        assert_eq!(sa + sb, 0.0);
        assert!(!ids_and_sum(&w.snapshot_at(144).unwrap().table("bank.a").unwrap()).0.contains(&1));
    }
    assert_eq!(published_versions(root), (143, 143));
}

/// The state letter of a process (`T` = stopped), from `/proc/<pid>/stat`.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next())
}

/// Kills (SIGKILL) and reaps the child when dropped, so a failing test leaves no
/// stopped process behind.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

// ---- merge-manifests, tags, and a copied warehouse -------------------------------

/// Manifest merging and tags on a warehouse table are one-table warehouse
/// transactions (catalog versions), as other maintenance; the table's own handle
/// refuses them.
#[test]
fn merge_manifests_and_tags_commit_through_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let wh = bank(dir.path(), relaxed());
    for i in 0..4 {
        do_transfer(&wh, i, 1.0).unwrap();
    }
    let direct = floe::Table::open(dir.path().join("bank/a")).unwrap();
    let sid = direct.metadata().current_snapshot_id().unwrap();
    for e in [
        direct.merge_manifests(&floe::MergeManifestsOptions::default()).unwrap_err(),
        direct.create_tag("t", sid).unwrap_err(),
    ] {
        assert!(matches!(e, Error::Warehouse(WarehouseError::ManagedTable { .. })), "{e}");
    }
    let k = wh.version().unwrap();
    let r = wh.merge_manifests("bank.a", &floe::MergeManifestsOptions::default()).unwrap();
    assert_eq!((r.commits.len(), r.manifests_before, r.manifests_after), (1, 4, 1), "{r}");
    assert_eq!(wh.version().unwrap(), k + 1);
    let r = wh.create_tag("bank.a", "audit", sid).unwrap();
    assert_eq!(r.commits.len(), 1);
    assert_eq!(wh.version().unwrap(), k + 2);
    let snap = wh.snapshot().unwrap();
    let a = snap.table("bank.a").unwrap();
    assert_eq!(a.tags().get("audit"), Some(&sid));
    assert_eq!(ids_and_sum(&a).0, vec![0, 1, 2, 3], "merging changed no rows");
    assert!(wh.create_tag("bank.a", "audit", sid).is_err(), "a taken tag name");
    assert_eq!(wh.version().unwrap(), k + 2, "a refused tag commits nothing");
    // Iceberg readers see the published versions.
    assert_eq!(floe::Table::open(dir.path().join("bank/a")).unwrap().tags().get("audit"), Some(&sid));
    wh.remove_tag("bank.a", "audit").unwrap();
    assert!(wh.table("bank.a").unwrap().tags().is_empty());
    assert_eq!(wh.version().unwrap(), k + 3);
}

/// Copies a directory tree (what `cp -a` does for a warehouse).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A copied warehouse opens and reads; commits are refused with `Relocated` (naming
/// the original root and the command that fixes it) until `relocate`, which moves
/// every table at one catalog version. Afterwards the copy is independent: the
/// original deleted, it reads and commits, its tables record their new root.
#[test]
fn a_copied_warehouse_is_detected_and_relocated_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (orig, copy) = (dir.path().join("wh"), dir.path().join("copy"));
    let wh = bank(&orig, relaxed());
    for i in 0..3 {
        do_transfer(&wh, i, 2.0).unwrap();
    }
    assert_eq!(wh.relocated_from().unwrap(), None);
    assert!(wh.relocate().unwrap().is_none(), "nothing to do at home");
    copy_tree(&orig, &copy);

    let c = Warehouse::open_with(&copy, relaxed()).unwrap();
    let from = c.relocated_from().unwrap().expect("the copy is detected");
    assert!(from.contains(orig.to_str().unwrap()), "{from}");
    // Reads of the copy work, consistently.
    let snap = c.snapshot().unwrap();
    assert_eq!(ids_and_sum(&snap.table("bank.a").unwrap()).0, vec![0, 1, 2]);
    // Commits are refused with the warehouse-level answer, and change nothing.
    let v = c.version().unwrap();
    match do_transfer(&c, 10, 1.0) {
        Err(Error::Warehouse(WarehouseError::Relocated { root, recorded })) => {
            assert!(root.contains("copy") && recorded.contains(orig.to_str().unwrap()), "{root} {recorded}");
        }
        other => panic!("expected Relocated, got {other:?}"),
    }
    assert_eq!(c.version().unwrap(), v);
    // Relocating one table of it alone is refused: the tables move together.
    let one = floe::Table::open(copy.join("bank/a")).unwrap();
    assert!(one.relocate().is_err());

    let commit = c.relocate().unwrap().expect("relocated");
    assert_eq!(commit.tables.len(), 2, "every table at one catalog version");
    assert_eq!(commit.catalog_version, v + 1);
    assert_eq!(c.relocated_from().unwrap(), None);
    std::fs::remove_dir_all(&orig).unwrap();
    let c = Warehouse::open(&copy).unwrap();
    do_transfer(&c, 10, 1.0).unwrap();
    let snap = c.snapshot().unwrap();
    let (a, sa) = ids_and_sum(&snap.table("bank.a").unwrap());
    let (b, sb) = ids_and_sum(&snap.table("bank.b").unwrap());
    assert_eq!((a.clone(), sa + sb), (b, 0.0));
    assert_eq!(a, vec![0, 1, 2, 10]);
    // Iceberg readers of the copy read its own files; its tables name the copy.
    let plain = floe::Table::open(copy.join("bank/b")).unwrap();
    assert_eq!(plain.relocated_from(), None);
    assert_eq!(ids_and_sum(&plain).0, vec![0, 1, 2, 10]);
    let (_, name) = Warehouse::of_table(&plain).unwrap().unwrap();
    assert_eq!(name, "bank.b");
}
