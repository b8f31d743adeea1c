//! Tables in a bucket: floe's object-store backend against a real S3 server (SeaweedFS,
//! started by `scripts/s3-server.sh`, which `scripts/test.sh` runs) and object_store's
//! in-memory store.
//!
//! First the race canary (N threads × K keys conditionally created through the backend:
//! exactly one winner per key, its body intact), then the storage conformance suite, then
//! tables through the public API (create, append, scan, time travel, compact, expire,
//! remove orphans, verify), from plain threads and from inside tokio runtimes, and 8 OS
//! processes × 50 appends to one table in the bucket.
//!
//! The S3 tests need `FLOE_S3_ENDPOINT` and `FLOE_S3_BUCKET` (printed by
//! `scripts/s3-server.sh start`); without them they skip, unless `FLOE_S3_REQUIRED` is
//! set (as `scripts/test.sh` sets it), when they fail.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{batch, ids, schema};
use floe::storage::{Key, ObjectStorage, Storage, StorageOptions};
use floe::{CompactOptions, ExpireOptions, OrphanOptions, Table, TableOptions};

/// The S3 server's endpoint and bucket, or `None` (skip) when no server was started.
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

/// object_store config keys for the test server (what a user passes to `open_with`).
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

/// A fresh table URL in the bucket.
fn fresh_url(bucket: &str, name: &str) -> String {
    format!("s3://{bucket}/{name}-{}", uuid::Uuid::new_v4())
}

fn table_options(endpoint: &str) -> TableOptions {
    let mut o = TableOptions::default();
    for (k, v) in s3_options(endpoint) {
        o = o.storage_option(k, v);
    }
    o
}

/// The store of a fresh prefix in the bucket, through floe's factory.
fn s3_store(endpoint: &str, bucket: &str, name: &str) -> Arc<dyn Storage> {
    let url = floe::storage::StoreUrl::parse(std::path::Path::new(&fresh_url(bucket, name))).unwrap();
    floe::storage::open_store(&url, &s3_options(endpoint)).unwrap()
}

/// N threads × K keys, each thread creating every key with its own body: exactly one
/// `Ok` per key, and the stored body is the winner's.
fn race_canary(store: Arc<dyn Storage>, threads: usize, keys: usize) {
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut won = Vec::new();
                for k in 0..keys {
                    let key = Key::new(format!("canary/k{k:04}")).unwrap();
                    match store.put_new(&key, format!("writer-{t}").as_bytes(), true) {
                        Ok(()) => won.push(k),
                        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}"),
                    }
                }
                won
            })
        })
        .collect();
    let mut winners: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (t, h) in handles.into_iter().enumerate() {
        for k in h.join().unwrap() {
            winners.entry(k).or_default().push(t);
        }
    }
    for k in 0..keys {
        let w = winners.get(&k).cloned().unwrap_or_default();
        assert_eq!(w.len(), 1, "key {k}: winners {w:?} (the server's conditional create is not atomic)");
        let body = store.read(&Key::new(format!("canary/k{k:04}")).unwrap()).unwrap();
        assert_eq!(&body[..], format!("writer-{}", w[0]).as_bytes(), "key {k}: the winner's body");
    }
}

#[test]
fn s3_race_canary_one_winner_per_key() {
    let Some((endpoint, bucket)) = s3() else { return };
    race_canary(s3_store(&endpoint, &bucket, "canary"), 8, 50);
}

#[test]
fn s3_storage_conformance() {
    let Some((endpoint, bucket)) = s3() else { return };
    let store = s3_store(&endpoint, &bucket, "conformance");
    let caps = store.capabilities();
    assert!(caps.atomic_exclusive_create && caps.retries_writes, "{caps:?}");
    assert!(!caps.advisory_lock && !caps.fsync && !caps.directories && !caps.links, "{caps:?}");
    floe::storage::conformance::run_all(store);
}

#[test]
fn memory_storage_conformance_and_canary() {
    let url = format!("memory://conformance-{}/t", uuid::Uuid::new_v4());
    let parsed = floe::storage::StoreUrl::parse(std::path::Path::new(&url)).unwrap();
    let store = floe::storage::open_store(&parsed, &StorageOptions::new()).unwrap();
    assert_eq!(store.root_url(), url);
    floe::storage::conformance::run_all(store.clone());
    race_canary(store, 8, 50);
}

#[test]
fn object_store_urls_and_options_are_checked_before_anything_is_touched() {
    let open = |url: &str, opts: &[(&str, &str)]| {
        let opts: StorageOptions = opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        floe::storage::open_store(&floe::storage::StoreUrl::parse(std::path::Path::new(url)).unwrap(), &opts)
    };
    // An option object_store does not know is a typed error naming it.
    match open("s3://b/t", &[("aws_no_such_option", "1")]) {
        Err(floe::Error::InvalidArgument(m)) => assert!(m.contains("aws_no_such_option"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Every cloud's URL forms build a store (no request is made to build one).
    let s3 = open(
        "s3://bucket/a/b",
        &[("aws_region", "us-east-1"), ("aws_access_key_id", "x"), ("aws_secret_access_key", "y")],
    )
    .unwrap();
    assert_eq!(s3.root_url(), "s3://bucket/a/b");
    assert_eq!(s3.url(&Key::new("data/x y.parquet").unwrap()), "s3://bucket/a/b/data/x y.parquet");
    let gs = open("gs://bucket/t", &[("google_service_account_key", "{}")]);
    assert!(gs.is_ok() || matches!(gs, Err(floe::Error::InvalidArgument(_))), "{gs:?}");
    let az = open("az://container/t", &[("azure_storage_account_name", "acct"), ("azure_storage_account_key", "a2V5")])
        .unwrap();
    assert_eq!(az.root_url(), "az://container/t");
    let abfss = open(
        "abfss://container@acct.dfs.core.windows.net/t",
        &[("azure_storage_account_name", "acct"), ("azure_storage_account_key", "a2V5")],
    )
    .unwrap();
    assert_eq!(abfss.root_url(), "abfss://container@acct.dfs.core.windows.net/t");
    assert!(matches!(open("http://h/t", &[]), Err(floe::Error::UnsupportedLocation { .. })));
    // No lock on an object store: callers do not ask, and a direct call is Unsupported.
    let mem = open("memory://locks/t", &[]).unwrap();
    assert_eq!(mem.try_lock_exclusive(&Key::new("l").unwrap()).unwrap_err().kind(), std::io::ErrorKind::Unsupported);
}

/// Everything a user does with a table, on one URL.
fn lifecycle(url: &str, options: TableOptions) {
    let table = Table::create_with(url, schema(), options.clone()).unwrap();
    let md = table.metadata_path().to_string_lossy().to_string();
    assert!(md.starts_with(url) && md.ends_with("metadata/v1.metadata.json"), "{md}");
    for i in 0..4 {
        table.append(&[batch(i * 10, 3)]).unwrap();
    }
    assert_eq!(ids(&table), vec![0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32]);
    // Time travel: version 2 holds the first append only.
    assert_eq!(table.scan().as_of_version(2).count().unwrap(), 3);
    // A second handle finds the newest version (hint plus probes).
    let other = Table::open_with(url, options.clone()).unwrap();
    assert_eq!(other.version(), 5);
    other.append(&[batch(100, 1)]).unwrap();
    table.refresh().unwrap();
    assert_eq!(table.scan().count().unwrap(), 13);
    let compacted = table.compact(&CompactOptions::default()).unwrap();
    assert!(compacted.data_files_removed >= 5, "{compacted:?}");
    assert_eq!(table.scan().count().unwrap(), 13);
    let expired =
        table.expire_snapshots(&ExpireOptions::default().older_than(Duration::from_secs(0)).retain_last(1)).unwrap();
    assert!(expired.snapshots_expired >= 1, "{expired:?}");
    // A stray file in data/ is an orphan; referenced files stay.
    let stray = Key::new("data/stray.parquet").unwrap();
    table_store(url, &options).put_new(&stray, b"not a table file", true).unwrap();
    let orphans = table
        .remove_orphans(&OrphanOptions::default().older_than(Duration::from_secs(0)).allow_short_grace(true))
        .unwrap();
    assert!(orphans.deleted_paths.iter().any(|p| p.to_string_lossy().ends_with("data/stray.parquet")), "{orphans:?}");
    assert!(!table_store(url, &options).exists(&stray).unwrap());
    let report = table.verify_deep().unwrap();
    assert!(report.is_ok(), "{report:?}");
    let reopened = Table::open_with(url, options).unwrap();
    assert_eq!(reopened.scan().count().unwrap(), 13);
    assert_eq!(ids(&reopened).len(), 13);
}

fn table_store(url: &str, options: &TableOptions) -> Arc<dyn Storage> {
    let parsed = floe::storage::StoreUrl::parse(std::path::Path::new(url)).unwrap();
    floe::storage::open_store(&parsed, &options.storage_options).unwrap()
}

#[test]
fn s3_table_lifecycle() {
    let Some((endpoint, bucket)) = s3() else { return };
    lifecycle(&fresh_url(&bucket, "lifecycle"), table_options(&endpoint));
}

#[test]
fn memory_table_lifecycle() {
    lifecycle(&format!("memory://lifecycle-{}/t", uuid::Uuid::new_v4()), TableOptions::default());
}

#[test]
fn s3_table_with_credentials_from_the_environment() {
    let Some((_, bucket)) = s3() else { return };
    if std::env::var_os("AWS_ENDPOINT").is_none() {
        // scripts/s3-server.sh prints AWS_* too; scripts/test.sh exports them.
        assert!(std::env::var_os("FLOE_S3_REQUIRED").is_none(), "AWS_ENDPOINT must be set with FLOE_S3_REQUIRED");
        return;
    }
    let url = fresh_url(&bucket, "env");
    Table::create(&url, schema()).unwrap();
    let table = Table::open(&url).unwrap();
    table.append(&[batch(0, 2)]).unwrap();
    assert_eq!(ids(&Table::open(&url).unwrap()), vec![0, 1]);
}

#[test]
fn s3_sync_api_from_plain_threads_and_tokio_runtimes() {
    let Some((endpoint, bucket)) = s3() else { return };
    let url = fresh_url(&bucket, "runtime");
    let options = table_options(&endpoint);
    Table::create_with(&url, schema(), options.clone()).unwrap();
    // A plain thread.
    {
        let (url, options) = (url.clone(), options.clone());
        std::thread::spawn(move || Table::open_with(&url, options).unwrap().append(&[batch(0, 1)]).unwrap())
            .join()
            .unwrap();
    }
    // Inside a current-thread runtime (blocking its only thread) and a multi-thread one.
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    current.block_on(async {
        Table::open_with(&url, options.clone()).unwrap().append(&[batch(1, 1)]).unwrap();
    });
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    multi.block_on(async {
        Table::open_with(&url, options.clone()).unwrap().append(&[batch(2, 1)]).unwrap();
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let (url, options) = (url.clone(), options.clone());
                tokio::task::spawn_blocking(move || {
                    Table::open_with(&url, options).unwrap().append(&[batch(10 + i, 1)]).unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let table = Table::open_with(&url, options).unwrap();
    assert_eq!(ids(&table), vec![0, 1, 2, 10, 11, 12]);
    assert_eq!(table.version(), 7);
}

/// A data file larger than one upload part (8 MiB) goes up as a multipart upload and
/// reads back whole.
fn large_data_file(url: &str, options: TableOptions) {
    use floe::arrow::array::{Int64Array, RecordBatch, StringArray};
    use floe::arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
    let table = Table::create_with(url, schema(), options.clone()).unwrap();
    let n = 80_000usize;
    // Random hex names (~300 characters, ~150 bytes compressed each): about 12 MB of Parquet.
    let names: Vec<String> = (0..n)
        .map(|i| format!("{i}-{}", (0..9).map(|_| uuid::Uuid::new_v4().simple().to_string()).collect::<String>()))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![Arc::new(Int64Array::from_iter_values(0..n as i64)), Arc::new(StringArray::from(names))],
    )
    .unwrap();
    let report = table.append(&[batch]).unwrap();
    assert_eq!(report.added_records, n as i64);
    let files = table_store(url, &options).list(Some(&Key::new("data").unwrap())).unwrap();
    let biggest = files.objects.iter().map(|o| o.size).max().unwrap();
    assert!(biggest > 8 * 1024 * 1024, "the data file ({biggest} bytes) must outgrow one part");
    let reopened = Table::open_with(url, options).unwrap();
    assert_eq!(reopened.scan().count().unwrap(), n as i64);
    let batches = reopened.scan().select(["id"]).to_batches().unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), n);
    assert!(reopened.verify_deep().unwrap().is_ok());
}

#[test]
fn s3_large_data_files_are_multipart_uploads() {
    let Some((endpoint, bucket)) = s3() else { return };
    large_data_file(&fresh_url(&bucket, "large"), table_options(&endpoint));
}

#[test]
fn memory_large_data_files_are_multipart_uploads() {
    large_data_file(&format!("memory://large-{}/t", uuid::Uuid::new_v4()), TableOptions::default());
}

#[test]
fn a_store_without_conditional_create_is_refused() {
    let store = ObjectStorage::new(Arc::new(floe::object_store::memory::InMemory::new()), "memory://nocas/t", "t")
        .unwrap()
        .with_capabilities(floe::storage::Capabilities::none().with_retries_writes(true));
    let options = TableOptions::default().storage(Arc::new(store));
    match Table::create_with("memory://nocas/t", schema(), options) {
        Err(floe::Error::Unsupported { what }) => assert!(what.contains("exclusively"), "{what}"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Many OS processes on one table in the bucket
// ---------------------------------------------------------------------------------------

const PROCS: usize = 8;
const APPENDS: usize = 50;

/// Child side (when `FLOE_OS_CHILD` is set): APPENDS single-row appends, printing
/// `ACK <version> <commit-id> <id>` for each that returned Ok.
#[test]
fn os_child_entry() {
    let Ok(url) = std::env::var("FLOE_OS_CHILD") else { return };
    let endpoint = std::env::var("FLOE_S3_ENDPOINT").unwrap();
    let proc_no: i64 = std::env::var("FLOE_PROC").unwrap().parse().unwrap();
    let table = Table::open_with(&url, table_options(&endpoint)).unwrap();
    for i in 0..APPENDS as i64 {
        let id = proc_no * 10_000 + i;
        let report = table.append(&[batch(id, 1)]).unwrap();
        println!("ACK {} {} {}", report.version, report.commit_id, id);
    }
}

#[test]
fn s3_eight_processes_append_to_one_table() {
    let Some((endpoint, bucket)) = s3() else { return };
    let url = fresh_url(&bucket, "multiprocess");
    // Keep every version and snapshot so the whole lineage can be checked.
    let options = table_options(&endpoint)
        .property("write.metadata.previous-versions-max", "10000")
        .property("floe.commit.retain-snapshots", "0");
    Table::create_with(&url, schema(), options.clone()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCS)
        .map(|p| {
            Command::new(&exe)
                .args(["os_child_entry", "--exact", "--nocapture", "--test-threads=1"])
                .env("FLOE_OS_CHILD", &url)
                .env("FLOE_PROC", p.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut acked: BTreeMap<u64, (String, i64)> = BTreeMap::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // The harness's own "test os_child_entry ... " may share the first line.
            let Some(at) = line.find("ACK ") else { continue };
            let parts: Vec<&str> = line[at..].split_whitespace().collect();
            {
                let v: u64 = parts[1].parse().unwrap();
                let prev = acked.insert(v, (parts[2].to_string(), parts[3].parse().unwrap()));
                assert!(prev.is_none(), "version {v} acknowledged twice");
            }
        }
    }
    assert_eq!(acked.len(), PROCS * APPENDS, "every append acknowledged once");
    let table = Table::open_with(&url, options).unwrap();
    // Versions 2..=401 are contiguous, one per acknowledged commit.
    assert_eq!(table.version(), 1 + (PROCS * APPENDS) as u64);
    assert_eq!(acked.keys().copied().collect::<Vec<_>>(), (2..=1 + (PROCS * APPENDS) as u64).collect::<Vec<_>>());
    // 0 lost, 0 duplicated.
    let got = ids(&table);
    let want: BTreeSet<i64> = acked.values().map(|(_, id)| *id).collect();
    assert_eq!(got.len(), PROCS * APPENDS, "no duplicates");
    assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want);
    // Every acknowledged commit is present exactly once, at the version it reported.
    let by_commit: BTreeSet<String> =
        table.snapshots().iter().filter_map(|s| s.commit_id().map(String::from)).collect();
    assert_eq!(by_commit.len(), PROCS * APPENDS);
    for (v, (commit, _)) in &acked {
        assert!(by_commit.contains(commit), "acknowledged commit {commit} missing");
        let md = table.metadata_at_version(*v).unwrap();
        assert_eq!(md.current_snapshot().unwrap().commit_id(), Some(commit.as_str()), "v{v}");
    }
}

// ---------------------------------------------------------------------------------------
// SIGKILL crash cycles against the bucket
// ---------------------------------------------------------------------------------------

/// Writer processes per crash cycle.
const CRASH_WRITERS: usize = 6;
/// Cycles on one table before the next starts.
const CRASH_CYCLES_PER_TABLE: usize = 10;
/// Crash points of the commit path (`src/crashpoint.rs`); on an object store "linked"
/// is right after the conditional create of `v<N+1>` landed.
const CRASH_PHASES: [&str; 7] = ["staged", "prestaged", "attempt-written", "linked", "synced", "committed", "any"];

/// Child side (when `FLOE_OS_CRASH_CHILD` is set): appends until killed (or until it
/// dies at its crash point), logging `ACK <version> <commit-id> <first-id> <rows>` for
/// every commit that returned `Ok` to its own log with one `write(2)` on an `O_APPEND`
/// file, before starting the next; `FAIL <commit-id>` / `UNKNOWN <commit-id>` otherwise.
#[test]
fn os_crash_child_entry() {
    use std::io::Write;
    let Ok(url) = std::env::var("FLOE_OS_CRASH_CHILD") else { return };
    let endpoint = std::env::var("FLOE_S3_ENDPOINT").unwrap();
    let base: i64 = std::env::var("FLOE_ID_BASE").unwrap().parse().unwrap();
    let log_path = std::env::var("FLOE_ACK_LOG").unwrap();
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&log_path).unwrap();
    let table = Table::open_with(&url, table_options(&endpoint)).unwrap();
    for i in 0i64.. {
        let rows = 1 + (i % 3) as usize;
        let first = base + i * 10;
        let mut tx = table.new_transaction();
        let commit_id = tx.commit_id();
        let line = match tx.append(&batch(first, rows)).and_then(|()| tx.commit()) {
            Ok(r) => format!("ACK {} {} {first} {rows}\n", r.version, r.commit_id),
            Err(floe::Error::CommitStateUnknown { .. }) => format!("UNKNOWN {commit_id}\n"),
            Err(e) => format!("FAIL {commit_id} {}\n", e.to_string().replace('\n', " ")),
        };
        log.write_all(line.as_bytes()).unwrap();
    }
}

struct CrashAck {
    version: u64,
    commit_id: String,
    first: i64,
    rows: i64,
}

/// After a cycle: the table opens, its version objects are exactly `v1..=vN`, every
/// acknowledged commit is in it exactly once at the version it reported (with all its
/// rows, no row twice), no commit reported failed is, and `verify` finds every
/// referenced file whole. Returns the version.
fn check_crashed_table(
    url: &str,
    options: &TableOptions,
    acks: &[CrashAck],
    failed: &BTreeSet<String>,
    what: &str,
) -> u64 {
    let table = Table::open_with(url, options.clone()).unwrap_or_else(|e| panic!("{what}: table does not open: {e}"));
    let listing = table_store(url, options).list(Some(&Key::new("metadata").unwrap())).unwrap();
    let mut versions: Vec<u64> =
        listing.objects.iter().filter_map(|o| floe::testing::parse_version_file(o.key.name())).collect();
    versions.sort();
    assert_eq!(versions, (1..=table.version()).collect::<Vec<_>>(), "{what}: versions not contiguous");
    let mut by_commit: BTreeMap<String, usize> = BTreeMap::new();
    for s in table.snapshots() {
        if let Some(c) = s.commit_id() {
            *by_commit.entry(c.to_string()).or_default() += 1;
        }
    }
    for a in acks {
        assert_eq!(by_commit.get(&a.commit_id), Some(&1), "{what}: acked commit {} not present once", a.commit_id);
        let md = table.metadata_at_version(a.version).unwrap();
        assert_eq!(md.current_snapshot().unwrap().commit_id(), Some(a.commit_id.as_str()), "{what}: v{}", a.version);
    }
    for c in failed {
        assert!(!by_commit.contains_key(c), "{what}: commit {c} reported failed but present");
    }
    let present = ids(&table);
    let unique: BTreeSet<i64> = present.iter().copied().collect();
    assert_eq!(unique.len(), present.len(), "{what}: a row is present twice");
    for a in acks {
        for id in a.first..a.first + a.rows {
            assert!(unique.contains(&id), "{what}: row {id} of acked commit {} missing", a.commit_id);
        }
    }
    if let Some(s) = table.current_snapshot() {
        assert_eq!(s.summary_i64("total-records"), Some(present.len() as i64), "{what}: total-records");
    }
    let report = table.verify().unwrap();
    assert!(report.is_ok(), "{what}: {report:?}");
    table.version()
}

/// SIGKILL crash cycles against the bucket, as `tests/crash.rs` runs them on a local
/// disk: every cycle starts `CRASH_WRITERS` writer processes (this binary re-executed)
/// appending to one s3:// table, about half of them armed to abort at a crash point of
/// the commit path; the parent SIGKILLs a random subset at random moments and the rest
/// at the end, checks every invariant (`check_crashed_table`), and appends once itself
/// (an acknowledged commit the next cycles check). `FLOE_S3_CRASH_CYCLES` sets the
/// number of cycles (3 by default; docs/object-stores.md reports a long run).
#[test]
fn s3_sigkilled_writers_never_lose_an_acknowledged_commit() {
    use std::os::unix::process::ExitStatusExt;
    use std::time::Instant;
    let Some((endpoint, bucket)) = s3() else { return };
    let cycles: usize = std::env::var("FLOE_S3_CRASH_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut seed: u64 =
        std::env::var("FLOE_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x2545_F491_4F6C_DD1D);
    let mut below = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let options = table_options(&endpoint)
        .property("write.metadata.previous-versions-max", "100000")
        .property("floe.commit.retain-snapshots", "0");
    let mut url = String::new();
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let (mut acks, mut failed) = (Vec::<CrashAck>::new(), BTreeSet::<String>::new());
    let (mut writer_acks, mut armed, mut aborted, mut killed, mut fails, mut unknown) = (0, 0, 0, 0, 0, 0);
    let (mut version, mut tables, mut cleaned) = (1, 0, 0);
    for cycle in 0..cycles {
        // A fresh table every CRASH_CYCLES_PER_TABLE cycles keeps each check
        // proportional to one table's history.
        if cycle % CRASH_CYCLES_PER_TABLE == 0 {
            url = fresh_url(&bucket, "crash");
            Table::create_with(&url, schema(), options.clone()).unwrap();
            acks.clear();
            failed.clear();
            tables += 1;
        }
        let logs: Vec<_> = (0..CRASH_WRITERS).map(|p| dir.path().join(format!("ack-{cycle}-{p}.log"))).collect();
        let mut children: Vec<Option<std::process::Child>> = (0..CRASH_WRITERS)
            .map(|p| {
                let mut cmd = Command::new(&exe);
                cmd.args(["os_crash_child_entry", "--exact", "--nocapture", "--test-threads=1"])
                    .env("FLOE_OS_CRASH_CHILD", &url)
                    .env("FLOE_ID_BASE", ((cycle as i64 + 1) * 10_000_000 + p as i64 * 1_000_000).to_string())
                    .env("FLOE_ACK_LOG", &logs[p])
                    .env_remove("FLOE_CRASH_POINT")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if below(2) == 0 {
                    armed += 1;
                    let phase = CRASH_PHASES[below(CRASH_PHASES.len() as u64) as usize];
                    let n = if phase == "any" { 1 + below(40) } else { 1 + below(4) };
                    cmd.env("FLOE_CRASH_POINT", format!("{phase}:{n}"));
                }
                Some(cmd.spawn().unwrap())
            })
            .collect();
        let mut reap = |c: &mut std::process::Child| {
            let _ = c.kill();
            match c.wait().ok().and_then(|s| s.signal()) {
                Some(6) => aborted += 1,
                Some(9) => killed += 1,
                other => panic!("cycle {cycle}: writer ended with {other:?} (it appends until killed)"),
            }
        };
        // Writers need a moment to start and open the table; then kills at random.
        let end = Instant::now() + Duration::from_millis(1000 + below(1500));
        std::thread::sleep(Duration::from_millis(400));
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20 + below(150)));
            let p = below(children.len() as u64 * 3) as usize;
            if let Some(slot) = children.get_mut(p)
                && let Some(mut c) = slot.take()
            {
                reap(&mut c);
            }
        }
        for mut c in children.into_iter().flatten() {
            reap(&mut c);
        }
        let before = acks.len();
        for log in &logs {
            for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
                let f: Vec<&str> = line.split(' ').collect();
                match f[0] {
                    "ACK" if f.len() == 5 => acks.push(CrashAck {
                        version: f[1].parse().unwrap(),
                        commit_id: f[2].to_string(),
                        first: f[3].parse().unwrap(),
                        rows: f[4].parse().unwrap(),
                    }),
                    "FAIL" if f.len() >= 2 => {
                        fails += 1;
                        failed.insert(f[1].to_string());
                    }
                    "UNKNOWN" => unknown += 1,
                    // A line torn by the kill: never acknowledged to anyone.
                    _ => {}
                }
            }
        }
        writer_acks += acks.len() - before;
        version = check_crashed_table(&url, &options, &acks, &failed, &format!("cycle {cycle}"));
        let sentinel = -1 - cycle as i64;
        let r = Table::open_with(&url, options.clone())
            .and_then(|t| t.append(&[batch(sentinel, 1)]))
            .unwrap_or_else(|e| panic!("cycle {cycle}: append failed: {e}"));
        acks.push(CrashAck { version: r.version, commit_id: r.commit_id, first: sentinel, rows: 1 });
        if (cycle + 1) % CRASH_CYCLES_PER_TABLE == 0 || cycle + 1 == cycles {
            // Every writer is dead: orphan cleanup removes what killed writers left,
            // nothing the table references.
            let report = Table::open_with(&url, options.clone())
                .and_then(|t| {
                    t.remove_orphans(&OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true))
                })
                .unwrap();
            cleaned += report.data_files_removed + report.metadata_files_removed + report.other_files_removed;
            check_crashed_table(&url, &options, &acks, &failed, &format!("cycle {cycle}, after remove_orphans"));
        }
    }
    eprintln!(
        "s3 crash cycles: {cycles} cycles in {:.1}s, {} writer processes, {writer_acks} commits acknowledged to writers \
         (+{cycles} by the parent), {armed} crash points armed, {aborted} writers died at one, {killed} SIGKILLed, \
         {fails} failed / {unknown} unknown commits reported, {tables} table(s) (the last at v{version}), \
         remove_orphans deleted {cleaned} files; 0 violations",
        started.elapsed().as_secs_f64(),
        cycles * CRASH_WRITERS,
    );
    assert!(writer_acks > 0, "the writers never got a commit through");
}
