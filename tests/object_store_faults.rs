//! Faults at every request of a commit on an object store: an `object_store` wrapper
//! counts the requests of a warm single-row append and, case by case, makes request `k`
//! fail: an error before anything happened, a timeout, a PUT that landed but whose
//! response was lost, a landed PUT whose retry saw `AlreadyExists` (what object_store's
//! own retry reports), a 409 to a conditional create that did not land, and a short read.
//! Afterwards the table opens with a healthy store, the commit is whole or absent, and
//! `append` returned `Ok` iff it landed.
//!
//! Runs on object_store's in-memory store always, and on the S3 server when
//! `FLOE_S3_ENDPOINT` is set (see tests/object_store.rs).

mod common;

use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use common::{batch, ids, schema};
use floe::object_store::ObjectStoreExt;
use floe::object_store::path::Path;
use floe::object_store::{
    self, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use floe::storage::ObjectStorage;
use floe::{Table, TableOptions};
use futures::StreamExt;
use futures::stream::BoxStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The request fails before reaching the server.
    Error,
    /// The request times out (nothing happened).
    Timeout,
    /// The request reached the server and took effect; its response was lost.
    LandedLost,
    /// A conditional create landed, its response was lost, and the client's retry saw
    /// `AlreadyExists` (its own object).
    LandedThenAlreadyExists,
    /// S3's 409 ConditionalRequestConflict to a conditional create that did not land
    /// (object_store reports it as `AlreadyExists`).
    Conflict409,
    /// A GET returns fewer bytes than the object (a connection cut short).
    ShortRead,
}

const FAULTS: [Fault; 6] = [
    Fault::Error,
    Fault::Timeout,
    Fault::LandedLost,
    Fault::LandedThenAlreadyExists,
    Fault::Conflict409,
    Fault::ShortRead,
];

/// An object store that passes every request to `inner`, counts and logs it, and
/// injects the armed fault at request number `at`.
#[derive(Debug)]
struct Faulty {
    inner: Arc<dyn ObjectStore>,
    count: AtomicUsize,
    armed: Mutex<Option<(usize, Fault)>>,
    log: Mutex<Vec<String>>,
    /// Behave as an S3-compatible server that ignores `If-None-Match: *`.
    ignore_conditions: std::sync::atomic::AtomicBool,
}

impl fmt::Display for Faulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

fn injected(what: &str) -> object_store::Error {
    object_store::Error::Generic { store: "Faulty", source: what.to_string().into() }
}

impl Faulty {
    fn new(inner: Arc<dyn ObjectStore>) -> Arc<Faulty> {
        Arc::new(Faulty {
            inner,
            count: AtomicUsize::new(0),
            armed: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            ignore_conditions: Default::default(),
        })
    }

    /// Counts a request and returns the fault armed for it.
    fn request(&self, what: String) -> Option<Fault> {
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        self.log.lock().unwrap().push(what);
        match *self.armed.lock().unwrap() {
            Some((at, f)) if at == n => Some(f),
            _ => None,
        }
    }

    fn reset(&self, armed: Option<(usize, Fault)>) {
        self.count.store(0, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
        *self.armed.lock().unwrap() = armed;
    }
}

#[async_trait]
impl ObjectStore for Faulty {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let opts =
            if self.ignore_conditions.load(Ordering::SeqCst) { PutOptions::from(PutMode::Overwrite) } else { opts };
        let create = matches!(opts.mode, PutMode::Create);
        let what = format!("PUT{} {location}", if create { " (create)" } else { "" });
        match self.request(what) {
            None | Some(Fault::ShortRead) => self.inner.put_opts(location, payload, opts).await,
            Some(Fault::Error) => Err(injected("connection refused")),
            Some(Fault::Timeout) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err(injected("operation timed out"))
            }
            Some(Fault::LandedLost) => {
                self.inner.put_opts(location, payload, opts).await?;
                Err(injected("connection reset after the request was sent"))
            }
            Some(Fault::LandedThenAlreadyExists) => {
                let r = self.inner.put_opts(location, payload, opts).await?;
                if create {
                    Err(object_store::Error::AlreadyExists {
                        path: location.to_string(),
                        source: "412 on the retry of a landed PUT".into(),
                    })
                } else {
                    Ok(r)
                }
            }
            Some(Fault::Conflict409) => {
                if create {
                    Err(object_store::Error::AlreadyExists {
                        path: location.to_string(),
                        source: "409 ConditionalRequestConflict".into(),
                    })
                } else {
                    Err(injected("409 Conflict"))
                }
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        match self.request(format!("MULTIPART {location}")) {
            None | Some(Fault::ShortRead) => self.inner.put_multipart_opts(location, opts).await,
            Some(_) => Err(injected("multipart start failed")),
        }
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        let what = format!("{} {location}", if options.head { "HEAD" } else { "GET" });
        match self.request(what) {
            None => self.inner.get_opts(location, options).await,
            Some(Fault::ShortRead) if !options.head => {
                let got = self.inner.get_opts(location, options).await?;
                let (meta, range, attributes) = (got.meta.clone(), got.range.clone(), got.attributes.clone());
                let body = got.bytes().await?;
                let cut = body.slice(..body.len() / 2);
                let stream = futures::stream::once(async move { Ok(cut) }).boxed();
                Ok(GetResult { payload: GetResultPayload::Stream(stream), meta, range, attributes })
            }
            Some(Fault::Timeout) => {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err(injected("operation timed out"))
            }
            Some(_) => Err(injected("connection reset")),
        }
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        let mut out = Vec::new();
        for r in ranges {
            let opts = GetOptions { range: Some(r.clone().into()), ..Default::default() };
            out.push(self.get_opts(location, opts).await?.bytes().await?);
        }
        Ok(out)
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        match self.request("DELETE".to_string()) {
            None | Some(Fault::ShortRead) => self.inner.delete_stream(locations),
            Some(_) => futures::stream::once(async { Err(injected("delete failed")) }).boxed(),
        }
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.request(format!("LIST {}", prefix.map(|p| p.as_ref()).unwrap_or(""))) {
            None | Some(Fault::ShortRead) => self.inner.list(prefix),
            Some(_) => futures::stream::once(async { Err(injected("list failed")) }).boxed(),
        }
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.request("LIST/".to_string());
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: object_store::CopyOptions) -> object_store::Result<()> {
        self.request(format!("COPY {from}"));
        self.inner.copy_opts(from, to, options).await
    }
}

/// A bucket for the test: the S3 server when configured, else a fresh in-memory store.
fn backends() -> Vec<(String, Arc<dyn ObjectStore>, String)> {
    let mut out: Vec<(String, Arc<dyn ObjectStore>, String)> = Vec::new();
    let run = uuid::Uuid::new_v4();
    out.push((format!("memory://faults-{run}"), Arc::new(object_store::memory::InMemory::new()), String::new()));
    match (std::env::var("FLOE_S3_ENDPOINT"), std::env::var("FLOE_S3_BUCKET")) {
        (Ok(endpoint), Ok(bucket)) => {
            let s3 = object_store::aws::AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_allow_http(true)
                .with_bucket_name(&bucket)
                .with_region("us-east-1")
                .with_access_key_id("floe")
                .with_secret_access_key("floe-secret")
                .build()
                .unwrap();
            out.push((format!("s3://{bucket}"), Arc::new(s3), String::new()));
        }
        _ => assert!(std::env::var_os("FLOE_S3_REQUIRED").is_none(), "FLOE_S3_REQUIRED without FLOE_S3_ENDPOINT"),
    }
    out
}

/// A table at a fresh prefix whose store goes through `faulty`, with one row appended
/// (so the handle is warm).
fn fresh_table(root: &str, faulty: &Arc<Faulty>, healthy: &Arc<dyn ObjectStore>) -> (String, Table, TableOptions) {
    let prefix = format!("t-{}", uuid::Uuid::new_v4());
    let url = format!("{root}/{prefix}");
    let through = ObjectStorage::new(faulty.clone(), &url, &prefix).unwrap();
    let table = Table::create_with(&url, schema(), TableOptions::default().storage(Arc::new(through))).unwrap();
    table.append(&[batch(0, 1)]).unwrap();
    let clean = TableOptions::default().storage(Arc::new(ObjectStorage::new(healthy.clone(), &url, &prefix).unwrap()));
    (url, table, clean)
}

#[test]
fn a_fault_at_any_request_of_a_commit_leaves_it_whole_or_absent_and_ok_iff_landed() {
    for (root, healthy, _) in backends() {
        let faulty = Faulty::new(healthy.clone());
        // The requests of a warm single-row append, without faults.
        let (_, table, _) = fresh_table(&root, &faulty, &healthy);
        faulty.reset(None);
        table.append(&[batch(1, 1)]).unwrap();
        let baseline: Vec<String> = faulty.log.lock().unwrap().clone();
        eprintln!("{root}: a warm single-row append made {} requests: {baseline:#?}", baseline.len());
        assert!(baseline.iter().any(|r| r.starts_with("PUT (create)") && r.contains("metadata/v3.metadata.json")));
        // docs/object-stores.md, "Costs": the data file, the manifest and the manifest
        // list; the commit point (no probe before it); a HEAD of the version it was
        // built on (no hole); the hint.
        assert_eq!(baseline.len(), 6, "{root}: requests of a warm single-row append: {baseline:#?}");
        let heads: Vec<&String> = baseline.iter().filter(|r| r.starts_with("HEAD")).collect();
        assert!(heads.len() == 1 && heads[0].ends_with("metadata/v2.metadata.json"), "{root}: {baseline:#?}");
        let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
        for fault in FAULTS {
            for (at, request) in baseline.iter().enumerate() {
                let (url, table, clean) = fresh_table(&root, &faulty, &healthy);
                faulty.reset(Some((at, fault)));
                let result = table.append(&[batch(100, 1)]);
                faulty.reset(None);
                let reopened = Table::open_with(&url, clean).unwrap_or_else(|e| panic!("{fault:?}@{at}: {e}"));
                let rows = ids(&reopened);
                let landed = reopened.version() == 3;
                match &result {
                    Ok(report) => {
                        assert!(landed, "{fault:?}@{at} ({}): Ok but the commit is absent", request);
                        assert_eq!(report.version, 3);
                        assert_eq!(rows, vec![0, 100], "{fault:?}@{at}: the commit is whole");
                    }
                    Err(e) => {
                        assert!(!landed, "{fault:?}@{at} ({}): Err({e}) but the commit landed", request);
                        assert_eq!(reopened.version(), 2, "{fault:?}@{at}");
                        assert_eq!(rows, vec![0], "{fault:?}@{at}: the commit is absent");
                    }
                }
                assert!(reopened.verify().unwrap().is_ok(), "{fault:?}@{at}");
                let outcome = if result.is_ok() { "ok" } else { "err" };
                *outcomes.entry(format!("{fault:?} {outcome}")).or_default() += 1;
            }
        }
        eprintln!("{root}: outcomes {outcomes:?}");
        // Every kind of fault was injected somewhere it mattered and somewhere it did not.
        assert!(outcomes.keys().any(|k| k.ends_with("err")), "{outcomes:?}");
        assert!(outcomes.contains_key("LandedThenAlreadyExists ok"), "{outcomes:?}");
    }
}

#[test]
fn a_short_read_is_an_error_never_fewer_rows() {
    // A short read of a data file fails the scan (UnexpectedEof), never returns fewer rows.
    let healthy: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let faulty = Faulty::new(healthy.clone());
    let (_, table, _) = fresh_table("memory://short", &faulty, &healthy);
    table.append(&[batch(10, 100)]).unwrap();
    faulty.reset(None);
    assert_eq!(table.scan().count().unwrap(), 101);
    let requests = faulty.count.load(Ordering::SeqCst);
    let mut failed = 0;
    for at in 0..requests + 4 {
        let fresh =
            Table::open_with(table.path(), TableOptions::default().storage(fresh_storage(&faulty, &table))).unwrap();
        faulty.reset(Some((at, Fault::ShortRead)));
        match fresh.scan().to_batches() {
            Ok(batches) => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                assert_eq!(rows, 101, "a short read at request {at} changed the result");
            }
            Err(_) => failed += 1,
        }
        faulty.reset(None);
    }
    assert!(failed > 0, "no short read reached a data file or manifest");
}

fn fresh_storage(faulty: &Arc<Faulty>, table: &Table) -> Arc<ObjectStorage> {
    let url = table.path().to_string_lossy().to_string();
    let prefix = url.rsplit('/').next().unwrap().to_string();
    Arc::new(ObjectStorage::new(faulty.clone(), &url, &prefix).unwrap())
}

#[test]
fn a_store_that_ignores_conditional_creates_is_refused_when_a_table_is_created() {
    let healthy: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let faulty = Faulty::new(healthy.clone());
    faulty.ignore_conditions.store(true, Ordering::SeqCst);
    let through = ObjectStorage::new(faulty.clone(), "memory://ignores/t", "t").unwrap();
    match Table::create_with("memory://ignores/t", schema(), TableOptions::default().storage(Arc::new(through))) {
        Err(floe::Error::Unsupported { what }) => assert!(what.contains("If-None-Match"), "{what}"),
        other => panic!("{other:?}"),
    }
    // Nothing is left behind: no metadata, not even the probe.
    let left = futures::executor::block_on(healthy.list(None).collect::<Vec<_>>());
    assert!(left.is_empty(), "{left:?}");
}

/// Runs a request of the test's own on a runtime (the S3 client needs a reactor).
fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// Every object under `url`'s prefix in `store`, as names relative to the prefix.
fn objects_under(store: &Arc<dyn ObjectStore>, url: &str) -> Vec<String> {
    let prefix = url.rsplit('/').next().unwrap().to_string();
    let listed = block(store.list(Some(&Path::from(prefix.as_str()))).collect::<Vec<_>>());
    let mut names: Vec<String> = listed
        .into_iter()
        .map(|m| m.unwrap().location.as_ref().strip_prefix(&format!("{prefix}/")).unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn version_files(store: &Arc<dyn ObjectStore>, url: &str) -> Vec<u64> {
    let mut v: Vec<u64> = objects_under(store, url)
        .iter()
        .filter_map(|n| n.strip_prefix("metadata/v")?.strip_suffix(".metadata.json")?.parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn a_stale_handle_never_acknowledges_a_version_created_in_a_hole_left_by_expiry() {
    // A handle that last saw v2 appends after other writers moved the table to v5 and
    // expiry deleted v1..v3: its create of v3 succeeds (the name is free again) without
    // any probe before it. The check after the create (HEAD v2: gone) withdraws it; the
    // append rebases onto v5 and lands at v6. Without that check it would report Ok at
    // v3, a version no reader finds.
    for (root, healthy, _) in backends() {
        let faulty = Faulty::new(healthy.clone());
        let prefix = format!("t-{}", uuid::Uuid::new_v4());
        let url = format!("{root}/{prefix}");
        let through = ObjectStorage::new(faulty.clone(), &url, &prefix).unwrap();
        let options = TableOptions::default()
            .storage(Arc::new(through))
            .property("write.metadata.delete-after-commit.enabled", "true")
            .property("write.metadata.previous-versions-max", "1");
        let stale = Table::create_with(&url, schema(), options).unwrap();
        stale.append(&[batch(0, 1)]).unwrap();
        assert_eq!(stale.version(), 2);
        let other = Table::open_with(
            &url,
            TableOptions::default().storage(Arc::new(ObjectStorage::new(healthy.clone(), &url, &prefix).unwrap())),
        )
        .unwrap();
        for i in 1..=3 {
            other.append(&[batch(i * 10, 1)]).unwrap();
        }
        floe::testing::settle(&other);
        let before = version_files(&healthy, &url);
        assert_eq!(before.last(), Some(&5), "{root}: {before:?}");
        assert!(!before.contains(&2) && !before.contains(&3), "{root}: expiry removed v2 and v3: {before:?}");

        faulty.reset(None);
        let report = stale.append(&[batch(100, 1)]).unwrap();
        let log = faulty.log.lock().unwrap().clone();
        assert!(
            log.iter().any(|r| r.starts_with("PUT (create)") && r.ends_with("metadata/v3.metadata.json")),
            "{log:#?}"
        );
        assert_eq!(report.version, 6, "{root}: {log:#?}");
        let after = version_files(&healthy, &url);
        assert!(!after.contains(&3), "{root}: the version created in the hole was withdrawn: {after:?}");
        assert_eq!(after.last(), Some(&6), "{root}: {after:?}");
        let reopened = Table::open_with(
            &url,
            TableOptions::default().storage(Arc::new(ObjectStorage::new(healthy.clone(), &url, &prefix).unwrap())),
        )
        .unwrap();
        assert_eq!(reopened.version(), 6);
        assert_eq!(ids(&reopened), vec![0, 10, 20, 30, 100], "{root}");
    }
}

#[test]
fn an_append_to_a_table_deleted_under_a_warm_handle_fails_and_leaves_nothing() {
    // Deleting a table's objects under a handle that knows it: the append's create of
    // v3 succeeds in the empty prefix, the check after it finds v2 gone and withdraws
    // it, and the append fails with TableNotFound. Nothing is left: no table appears
    // at v3 (a listing reader would take it for the newest version).
    for (root, healthy, _) in backends() {
        let faulty = Faulty::new(healthy.clone());
        let (url, table, _) = fresh_table(&root, &faulty, &healthy);
        let names = objects_under(&healthy, &url);
        assert!(names.contains(&"metadata/v2.metadata.json".to_string()), "{names:?}");
        let prefix = url.rsplit('/').next().unwrap().to_string();
        for n in &names {
            block(healthy.delete(&Path::from(format!("{prefix}/{n}").as_str()))).unwrap();
        }
        match table.append(&[batch(100, 1)]) {
            Err(floe::Error::TableNotFound { .. }) => {}
            other => panic!("{root}: {other:?}"),
        }
        let left = objects_under(&healthy, &url);
        assert!(left.is_empty(), "{root}: left behind: {left:?}");
    }
}

#[test]
fn orphan_cleanup_deletes_in_one_batch_without_a_head_per_file() {
    // 25 orphan data files in a table: remove_orphans refreshes, lists once, reads the
    // metadata it needs to know what is referenced, and deletes the 25 in one batched
    // delete (S3 DeleteObjects), with no HEAD of any file. The referenced files stay.
    const ORPHANS: usize = 25;
    for (root, healthy, _) in backends() {
        let faulty = Faulty::new(healthy.clone());
        let (url, table, _) = fresh_table(&root, &faulty, &healthy);
        let prefix = url.rsplit('/').next().unwrap().to_string();
        for i in 0..ORPHANS {
            let p = Path::from(format!("{prefix}/data/orphan-{i}.parquet").as_str());
            block(healthy.put(&p, PutPayload::from_static(b"not referenced"))).unwrap();
        }
        // Older than the (zero) grace period by a margin for the server's clock.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        faulty.reset(None);
        let opts = floe::OrphanOptions::default().older_than(std::time::Duration::ZERO).allow_short_grace(true);
        let report = table.remove_orphans(&opts).unwrap();
        let log = faulty.log.lock().unwrap().clone();
        eprintln!("{root}: remove_orphans of {ORPHANS} files made {} requests: {log:#?}", log.len());
        assert_eq!(report.data_files_removed, ORPHANS, "{root}: {report:?}");
        assert_eq!(log.iter().filter(|r| r.starts_with("DELETE")).count(), 1, "{root}: {log:#?}");
        // (The HEADs of the newest version and the next are the refresh before it.)
        assert!(!log.iter().any(|r| r.starts_with("HEAD") && r.contains("/data/")), "{root}: {log:#?}");
        assert!(log.len() <= 10, "{root}: {log:#?}");
        let left = objects_under(&healthy, &url);
        assert!(!left.iter().any(|n| n.contains("orphan-")), "{root}: {left:?}");
        assert_eq!(ids(&table), vec![0], "{root}");
        assert!(table.verify().unwrap().is_ok(), "{root}");
    }
}

#[test]
fn a_commit_past_the_kept_versions_adds_one_batched_delete_and_no_head() {
    // With write.metadata.previous-versions-max = 2, every commit from v4 on drops the
    // oldest kept metadata file: one batched delete (no HEAD first) on top of the 6
    // requests of a warm append, and no per-commit stray-version checks on an object
    // store. The kept version files stay exactly the newest three.
    for (root, healthy, _) in backends() {
        let faulty = Faulty::new(healthy.clone());
        let prefix = format!("t-{}", uuid::Uuid::new_v4());
        let url = format!("{root}/{prefix}");
        let through = ObjectStorage::new(faulty.clone(), &url, &prefix).unwrap();
        let options =
            TableOptions::default().storage(Arc::new(through)).property("write.metadata.previous-versions-max", "2");
        let table = Table::create_with(&url, schema(), options).unwrap();
        for i in 0..5 {
            table.append(&[batch(i, 1)]).unwrap();
        }
        // The delete runs after the append returns (`retire_versions`): the previous
        // commit's is waited for before counting, and this one's before reading the log.
        floe::testing::settle(&table);
        // v7: not a multiple of 2, so not the periodic listing for strays either.
        faulty.reset(None);
        table.append(&[batch(100, 1)]).unwrap();
        floe::testing::settle(&table);
        let log = faulty.log.lock().unwrap().clone();
        eprintln!("{root}: an append past the kept versions made {} requests: {log:#?}", log.len());
        assert_eq!(log.len(), 7, "{root}: {log:#?}");
        assert_eq!(log.iter().filter(|r| r.starts_with("DELETE")).count(), 1, "{root}: {log:#?}");
        assert_eq!(log.iter().filter(|r| r.starts_with("HEAD")).count(), 1, "{root}: {log:#?}");
        assert_eq!(version_files(&healthy, &url), vec![5, 6, 7], "{root}");
        assert_eq!(ids(&table), vec![0, 1, 2, 3, 4, 100], "{root}");
    }
}
