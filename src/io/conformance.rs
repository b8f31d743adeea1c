//! The storage contract's conformance suite (feature `testing`): what every
//! [`Storage`] backend's tests call, as object_store's backends call its `integration`
//! module.
//!
//! Each function checks clauses of the contract in [`crate::io::storage`] against a
//! store and panics (like `assert!`) on the first violation; [`run_all`] runs every
//! backend-independent one. Give each an empty store (a fresh root). Clauses that
//! depend on a capability check the capability's promise when the store claims it and
//! the honest refusal when it does not. [`links_are_confined`] needs a local root (it
//! makes symlinks) and runs for backends with [`Capabilities::links`].
//!
//! ```no_run
//! # #[cfg(feature = "testing")] {
//! use std::sync::Arc;
//! let dir = tempfile::tempdir().unwrap();
//! let store = Arc::new(floe::storage::LocalStorage::new(dir.path()));
//! floe::storage::conformance::run_all(store);
//! # }
//! ```

use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Barrier};

use crate::io::local::LocalStorage;
use crate::io::storage::{Key, ParquetSource, SkipReason, Storage};

fn key(s: &str) -> Key {
    Key::new(s).expect("test key")
}

#[track_caller]
fn kind<T>(r: io::Result<T>) -> io::ErrorKind {
    match r {
        Ok(_) => panic!("the operation must fail"),
        Err(e) => e.kind(),
    }
}

/// Every backend-independent clause, each on its own keys of one empty store.
pub fn run_all(store: Arc<dyn Storage>) {
    key_validation();
    urls(store.as_ref());
    reads(store.as_ref());
    write_once(store.as_ref());
    streamed_writes(store.as_ref());
    exclusive_publish(store.as_ref());
    advisory_writes(store.as_ref());
    directories_and_durability(store.as_ref());
    listing(store.as_ref());
    deletes(store.as_ref());
    locks(store.as_ref());
    batch_forms(store.as_ref());
    parquet_ranged_reads(store.as_ref());
    racing_creates(store, 8);
}

/// Keys: `/`-separated, no empty, `.` or `..` segment, never absolute.
pub fn key_validation() {
    for good in ["a", "a/b.c", ".locks/x", "data/x=1/f.parquet", "a..b"] {
        assert!(Key::new(good).is_ok(), "{good:?} is a valid key");
    }
    for bad in ["", "/a", "a/", "a//b", "..", "a/../b", "./a", "a/.", "a\0b"] {
        assert!(Key::new(bad).is_err(), "{bad:?} is not a valid key");
    }
}

/// `url(key)` is `root_url()/key`, byte for byte; the root URL has no trailing `/`.
pub fn urls(store: &dyn Storage) {
    let root = store.root_url();
    assert!(!root.ends_with('/') || root.ends_with("://"), "root URL {root:?} ends with /");
    let k = key("conf-urls/a b%41/x.json");
    assert_eq!(store.url(&k), format!("{root}/conf-urls/a b%41/x.json"));
}

fn prepare_dir(store: &dyn Storage, dir: &str) {
    store.create_dir_all(Some(&key(dir))).expect("create_dir_all");
}

/// Whole and ranged reads, `head`, `exists`; a missing key is `NotFound` everywhere.
pub fn reads(store: &dyn Storage) {
    prepare_dir(store, "conf-reads");
    let k = key("conf-reads/obj");
    let body: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    store.put_new(&k, &body, false).expect("put_new");
    assert_eq!(&store.read(&k).expect("read")[..], &body[..]);
    let meta = store.head(&k).expect("head");
    assert_eq!((meta.key.as_str(), meta.size), ("conf-reads/obj", 10_000));
    assert!(store.exists(&k).expect("exists"));
    assert_eq!(&store.read_range(&k, 100..1100).expect("read_range")[..], &body[100..1100]);
    let handle = store.open_read(&k, Some(10_000)).expect("open_read");
    assert_eq!(handle.size(), 10_000);
    assert_eq!(&handle.read_range(0..0).expect("empty range")[..], b"");
    assert_eq!(&handle.read_range(9_990..10_000).expect("tail")[..], &body[9_990..]);
    assert_eq!(kind(handle.read_range(9_990..10_001)), io::ErrorKind::UnexpectedEof, "a range past the end");
    let missing = key("conf-reads/missing");
    assert_eq!(kind(store.read(&missing)), io::ErrorKind::NotFound);
    assert_eq!(kind(store.head(&missing)), io::ErrorKind::NotFound);
    assert_eq!(kind(store.open_read(&missing, None)), io::ErrorKind::NotFound);
    assert!(!store.exists(&missing).expect("exists of a missing key"));
}

/// `put_new` creates exclusively and never overwrites.
pub fn write_once(store: &dyn Storage) {
    prepare_dir(store, "conf-once");
    let k = key("conf-once/a");
    store.put_new(&k, b"one", true).expect("put_new");
    assert_eq!(kind(store.put_new(&k, b"two", false)), io::ErrorKind::AlreadyExists);
    assert_eq!(&store.read(&k).expect("read")[..], b"one", "the first bytes stay");
    let empty = key("conf-once/empty");
    store.put_new(&empty, b"", false).expect("an empty object");
    assert_eq!(store.head(&empty).expect("head").size, 0);
}

/// `create_new` streams bytes; a sync of what was written so far (`sync_so_far`, where
/// the backend has one) succeeds mid-write and changes nothing of the bytes; the object
/// is complete after `complete`; the key is then taken.
pub fn streamed_writes(store: &dyn Storage) {
    prepare_dir(store, "conf-stream");
    let k = key("conf-stream/b");
    let mut f = store.create_new(&k).expect("create_new");
    f.write_all(b"stream").expect("write");
    f.write_all(&vec![7u8; 100_000]).expect("write");
    f.sync_so_far().expect("sync_so_far");
    f.write_all(b"ed").expect("write");
    f.complete(true).expect("complete");
    drop(f);
    let got = store.read(&k).expect("read");
    assert_eq!(got.len(), 100_008);
    assert_eq!((&got[..6], &got[got.len() - 2..]), (&b"stream"[..], &b"ed"[..]));
    store.sync_file(&k).expect("sync_file");
    let again = store.create_new(&k).and_then(|mut f| f.complete(false));
    assert_eq!(kind(again), io::ErrorKind::AlreadyExists);
    let taken = key("conf-stream/taken");
    store.put_new(&taken, b"x", false).expect("put_new");
    assert_eq!(kind(store.create_new(&taken).and_then(|mut f| f.complete(false))), io::ErrorKind::AlreadyExists);
    assert_eq!(&store.read(&taken).expect("read")[..], b"x");
}

/// Stage + publish: a complete object or `AlreadyExists`; nothing temporary is left.
pub fn exclusive_publish(store: &dyn Storage) {
    prepare_dir(store, "conf-publish");
    let v = key("conf-publish/v1");
    store.publish_exclusive(&v, b"first", true).expect("publish");
    assert_eq!(kind(store.publish_exclusive(&v, b"second", true)), io::ErrorKind::AlreadyExists);
    assert_eq!(&store.read(&v).expect("read")[..], b"first");
    let staged = store.stage_exclusive(&v, b"third", false).expect("stage");
    assert_eq!(staged.key(), &v);
    assert_eq!(kind(store.publish_staged(staged)), io::ErrorKind::AlreadyExists);
    let v2 = key("conf-publish/v2");
    let staged = store.stage_exclusive(&v2, b"fourth", false).expect("stage");
    assert!(!store.exists(&v2).expect("exists"), "a staged object is not visible under its key");
    store.discard_staged(staged).expect("discard");
    assert!(!store.exists(&v2).expect("exists"), "a discarded object never appears");
    let staged = store.stage_exclusive(&v2, b"fifth", true).expect("stage");
    store.publish_staged(staged).expect("publish");
    store.sync_dir(v2.parent().as_ref()).expect("sync_dir");
    assert_eq!(&store.read(&v2).expect("read")[..], b"fifth");
    let listed = store.list(Some(&key("conf-publish"))).expect("list");
    let mut names: Vec<&str> = listed.objects.iter().map(|o| o.key.as_str()).collect();
    names.sort();
    assert_eq!(names, ["conf-publish/v1", "conf-publish/v2"], "no temporary object is left");
}

/// `put_advisory` replaces whole (the only overwrite), longer or shorter, and keeps at
/// most one temporary object beside the key (a reusable side object).
pub fn advisory_writes(store: &dyn Storage) {
    prepare_dir(store, "conf-hint");
    let h = key("conf-hint/hint");
    for bytes in [&b"1"[..], b"22", b"333", b"4"] {
        store.put_advisory(&h, bytes).expect("put_advisory");
        assert_eq!(&store.read(&h).expect("read")[..], bytes);
    }
    let listed = store.list(Some(&key("conf-hint"))).expect("list");
    let others: Vec<&str> = listed.objects.iter().map(|o| o.key.as_str()).filter(|k| *k != h.as_str()).collect();
    assert!(
        others.len() <= 1 && others.iter().all(|k| k.starts_with("conf-hint/.hint.") && k.ends_with(".tmp")),
        "at most one temporary object is left: {listed:?}"
    );
}

/// Directories and syncs keep the capabilities' promises.
pub fn directories_and_durability(store: &dyn Storage) {
    let caps = store.capabilities();
    let deep = key("conf-dirs/a/b/c");
    if caps.directories {
        assert_eq!(kind(store.put_new(&deep, b"x", false)), io::ErrorKind::NotFound, "a parent must exist first");
    }
    store.create_dir_all(deep.parent().as_ref()).expect("create_dir_all");
    store.create_dir_all(deep.parent().as_ref()).expect("create_dir_all twice");
    store.put_new(&deep, b"x", true).expect("put_new under new directories");
    // Every sync succeeds (and does nothing without fsync).
    store.sync_file(&deep).expect("sync_file");
    store.sync_dir(deep.parent().as_ref()).expect("sync_dir");
    store.sync_dir(Some(&key("conf-dirs"))).expect("sync_dir");
    store.sync_dir(None).expect("sync_dir of the root");
    store.sync_root_entry().expect("sync_root_entry");
}

/// Recursive listing under a prefix, segment-wise, with sizes and times; an empty
/// prefix lists nothing (not an error); `list_where` keeps the objects asked for.
pub fn listing(store: &dyn Storage) {
    for dir in ["conf-list/x/y", "conf-listing"] {
        prepare_dir(store, dir);
    }
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    store.put_new(&key("conf-list/a"), b"12345", false).expect("put_new");
    store.put_new(&key("conf-list/x/y/b"), b"123", false).expect("put_new");
    store.put_new(&key("conf-listing/c"), b"1", false).expect("put_new");
    let listed = store.list(Some(&key("conf-list"))).expect("list");
    let mut got: Vec<(&str, u64)> = listed.objects.iter().map(|o| (o.key.as_str(), o.size)).collect();
    got.sort();
    assert_eq!(got, [("conf-list/a", 5), ("conf-list/x/y/b", 3)], "recursive, segment-wise");
    for o in &listed.objects {
        if let Some(m) = o.modified {
            assert!(m > before, "modification time of {} is recent", o.key);
        }
    }
    let sub = store.list(Some(&key("conf-list/x"))).expect("list");
    assert_eq!(sub.objects.len(), 1);
    let none = store.list(Some(&key("conf-nothing-here"))).expect("an empty prefix lists nothing");
    assert!(none.objects.is_empty() && none.skipped.is_empty());
    let all = store.list(None).expect("list everything");
    assert!(all.objects.iter().any(|o| o.key.as_str() == "conf-listing/c"));
    let some = store.list_where(Some(&key("conf-list")), &|k| k.name() == "b").expect("list_where");
    let got: Vec<(&str, u64)> = some.objects.iter().map(|o| (o.key.as_str(), o.size)).collect();
    assert_eq!(got, [("conf-list/x/y/b", 3)], "list_where keeps the wanted objects, described");
    assert!(some.objects.iter().all(|o| o.modified.is_none_or(|m| m > before)));
}

/// Deletes remove one object; a missing key is `NotFound`.
pub fn deletes(store: &dyn Storage) {
    prepare_dir(store, "conf-delete");
    let k = key("conf-delete/a");
    store.put_new(&k, b"x", false).expect("put_new");
    store.delete(&k).expect("delete");
    assert!(!store.exists(&k).expect("exists"));
    assert_eq!(kind(store.delete(&k)), io::ErrorKind::NotFound);
    store.put_new(&k, b"again", false).expect("a deleted key can be created again");
}

/// Advisory locks are exclusive while held (with the capability), or `Unsupported`.
pub fn locks(store: &dyn Storage) {
    let l = key("conf-locks/lock");
    if !store.capabilities().advisory_lock {
        assert_eq!(kind(store.try_lock_exclusive(&l)), io::ErrorKind::Unsupported);
        assert_eq!(kind(store.lock_exclusive(&l)), io::ErrorKind::Unsupported);
        return;
    }
    let g = store.try_lock_exclusive(&l).expect("try_lock").expect("a free lock");
    assert!(store.try_lock_exclusive(&l).expect("try_lock").is_none(), "a held lock is exclusive");
    drop(g);
    let g = store.lock_exclusive(&l).expect("lock");
    drop(g);
    assert!(store.try_lock_exclusive(&l).expect("try_lock").is_some(), "released on drop");
}

/// The batch forms keep the single forms' semantics, results in item order.
pub fn batch_forms(store: &dyn Storage) {
    prepare_dir(store, "conf-batch");
    let items: Vec<(Key, Vec<u8>)> = (0..20).map(|i| (key(&format!("conf-batch/{i}")), vec![i as u8; i])).collect();
    let taken = &items[3].0;
    store.put_new(taken, b"first", false).expect("put_new");
    let results = store.put_new_many(&items, false, 4);
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert_eq!(r.as_ref().map_err(|e| e.kind()).err(), Some(io::ErrorKind::AlreadyExists));
        } else {
            assert!(r.is_ok(), "put_new_many item {i}: {r:?}");
        }
    }
    let keys: Vec<Key> = items.iter().map(|(k, _)| k.clone()).chain([key("conf-batch/missing")]).collect();
    let read = store.read_many(&keys, 4);
    for (i, r) in read.iter().enumerate().take(20) {
        let want: &[u8] = if i == 3 { b"first" } else { &items[i].1 };
        assert_eq!(&r.as_ref().expect("read_many")[..], want);
    }
    assert_eq!(read[20].as_ref().map_err(|e| e.kind()).err(), Some(io::ErrorKind::NotFound));
    let deleted = store.delete_many(&keys, 4);
    assert!(deleted[..20].iter().all(|r| r.is_ok()));
    // A missing key: NotFound, or Ok from a backend that deletes in batches.
    assert!(matches!(deleted[20].as_ref().map_err(|e| e.kind()), Ok(()) | Err(io::ErrorKind::NotFound)));
    for k in &keys[..20] {
        assert_eq!(kind(store.head(k)), io::ErrorKind::NotFound, "{k} after delete_many");
    }
}

/// The Parquet reader through the store: footer and column chunks by ranged reads.
pub fn parquet_ranged_reads(store: &dyn Storage) {
    use arrow_array::{Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    prepare_dir(store, "conf-parquet");
    let k = key("conf-parquet/f.parquet");
    let ids = Int64Array::from_iter_values(0..10_000);
    let names = StringArray::from_iter_values((0..10_000).map(|i| format!("name-{i}")));
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as arrow_array::ArrayRef),
        ("name", Arc::new(names) as arrow_array::ArrayRef),
    ])
    .expect("batch");
    let mut out = store.create_new(&k).expect("create_new");
    {
        let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).expect("writer");
        w.write(&batch).expect("write");
        w.close().expect("close");
    }
    out.complete(false).expect("complete");
    drop(out);
    let size = store.head(&k).expect("head").size;
    let source = ParquetSource::new(store.open_read(&k, Some(size)).expect("open_read"));
    let builder = ParquetRecordBatchReaderBuilder::try_new(source).expect("footer");
    let mask = parquet::arrow::ProjectionMask::leaves(builder.parquet_schema(), [0]);
    let mut rows = 0;
    let mut sum = 0i64;
    for b in builder.with_projection(mask).build().expect("reader") {
        let b = b.expect("batch");
        assert_eq!(b.num_columns(), 1, "only the projected column");
        rows += b.num_rows();
        sum += b.column(0).as_any().downcast_ref::<Int64Array>().expect("ids").iter().flatten().sum::<i64>();
    }
    assert_eq!((rows, sum), (10_000, (0..10_000).sum::<i64>()));
}

/// `threads` threads race to create one key with each exclusive form: exactly one
/// winner, every other `AlreadyExists`, and the winner's bytes intact.
pub fn racing_creates(store: Arc<dyn Storage>, threads: usize) {
    prepare_dir(store.as_ref(), "conf-race");
    if !store.capabilities().atomic_exclusive_create {
        return;
    }
    for form in ["put_new", "publish", "create_new"] {
        for round in 0..3 {
            let k = key(&format!("conf-race/{form}-{round}"));
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let (store, k, barrier) = (store.clone(), k.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        let body: Vec<u8> = format!("writer {t} ").repeat(1000).into_bytes();
                        barrier.wait();
                        let r = match form {
                            "put_new" => store.put_new(&k, &body, false),
                            "publish" => store.stage_exclusive(&k, &body, false).and_then(|s| store.publish_staged(s)),
                            _ => store.create_new(&k).and_then(|mut f| {
                                f.write_all(&body)?;
                                f.complete(false)
                            }),
                        };
                        (body, r)
                    })
                })
                .collect();
            let results: Vec<(Vec<u8>, io::Result<()>)> =
                handles.into_iter().map(|h| h.join().expect("racer")).collect();
            let winners: Vec<&Vec<u8>> = results.iter().filter(|(_, r)| r.is_ok()).map(|(b, _)| b).collect();
            assert_eq!(winners.len(), 1, "{form}: exactly one winner of {threads}");
            for (_, r) in &results {
                if let Err(e) = r {
                    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{form}: a loser sees AlreadyExists");
                }
            }
            assert_eq!(&store.read(&k).expect("read")[..], &winners[0][..], "{form}: the winner's bytes, intact");
        }
    }
}

/// For a backend with links and a local root: writes, creates, publishes, deletes,
/// locks and directory creation through a symlink leading outside the root are
/// refused with `PermissionDenied`; listings report links as skipped and never follow
/// them; reads follow links. `outside` is a directory outside the root.
pub fn links_are_confined(store: &dyn Storage, root: &Path, outside: &Path) {
    assert!(store.capabilities().links, "only for backends with links");
    let out = LocalStorage::new(outside);
    out.put_new(&key("victim"), b"keep", false).expect("victim");
    std::os::unix::fs::symlink(outside, root.join("conf-escape")).expect("symlink");
    std::os::unix::fs::symlink(outside.join("victim"), root.join("conf-victim-link")).expect("symlink");
    let denied = io::ErrorKind::PermissionDenied;
    for k in ["conf-escape/victim", "conf-escape/new", "conf-escape/sub/new"] {
        let k = key(k);
        assert_eq!(kind(store.put_new(&k, b"x", false)), denied, "put_new {k}");
        assert_eq!(kind(store.create_new(&k)), denied, "create_new {k}");
        assert_eq!(kind(store.stage_exclusive(&k, b"x", false)), denied, "stage {k}");
        assert_eq!(kind(store.publish_exclusive(&k, b"x", false)), denied, "publish {k}");
        assert_eq!(kind(store.put_advisory(&k, b"x")), denied, "put_advisory {k}");
        assert_eq!(kind(store.delete(&k)), denied, "delete {k}");
        assert_eq!(kind(store.create_dir_all(Some(&k))), denied, "create_dir_all {k}");
        assert_eq!(kind(store.try_lock_exclusive(&k)), denied, "try_lock {k}");
    }
    assert_eq!(&out.read(&key("victim")).expect("victim")[..], b"keep");
    assert!(!out.exists(&key("new")).expect("exists"));
    assert!(!out.exists(&key("sub")).expect("exists"));
    // Reads follow links (a table may link its data elsewhere).
    assert_eq!(&store.read(&key("conf-escape/victim")).expect("read through a link")[..], b"keep");
    // Listings never follow them and report them.
    let listed = store.list(None).expect("list");
    assert!(!listed.objects.iter().any(|o| o.key.as_str().starts_with("conf-escape")), "not followed");
    assert!(!listed.objects.iter().any(|o| o.key.as_str() == "conf-victim-link"), "a link is not an object");
    for name in ["conf-escape", "conf-victim-link"] {
        assert!(
            listed.skipped.iter().any(|s| s.name == name && s.reason == SkipReason::Link),
            "{name} reported as skipped: {:?}",
            listed.skipped
        );
    }
    // A symlink that stays inside the root is allowed.
    store.create_dir_all(Some(&key("conf-inside"))).expect("dir");
    std::os::unix::fs::symlink(root.join("conf-inside"), root.join("conf-inner-link")).expect("symlink");
    store.put_new(&key("conf-inner-link/x"), b"x", false).expect("a link inside the root");
    assert_eq!(&store.read(&key("conf-inside/x")).expect("read")[..], b"x");
}
