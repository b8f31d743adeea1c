//! Fault-injecting storage conformance suite (tantivy / object_store style).
//!
//! Two halves:
//!
//! 1. **The `Storage` contract**: the public conformance suite (`floe::storage::conformance`)
//!    against the real [`LocalStorage`] and against [`FaultStorage`] in pass-through mode.
//! 2. **A commit under a failure at every k**: [`FaultStorage`] (`floe::storage::fault`)
//!    counts every operation (reads, lists, creates, each streamed write of a data file,
//!    fsyncs, stages, publishes, deletes, locks) and fails the k-th one with EIO, ENOSPC,
//!    a short (torn) write, or an error *after* the operation succeeded (for `publish`
//!    that is the ambiguous commit point). For every k up to the number of operations a clean commit performs, in
//!    durable and relaxed mode, for a plain commit and for one that must rebase over a
//!    concurrent commit, the test then checks through a fresh handle on the real file
//!    system: the table opens; the versions are contiguous; it holds the whole commit or
//!    none of it; the caller got `Ok` only if the commit landed (and for every error but
//!    `CommitStateUnknown`, it did not land); every file the metadata references exists
//!    with its recorded size; and a new append succeeds.
//!
//! `FLOE_FAULT_SUMMARY=1` prints the number of injected faults and outcomes.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{batch, ids, schema};
use floe::storage::LocalStorage;
use floe::storage::conformance;
use floe::storage::fault::{Fault, FaultStorage, Op};
use floe::{Durability, Error, Table, TableOptions, WriteOptions};

/// The faults every commit is put through.
const KINDS: [Fault; 4] = Fault::IO;
type Kind = Fault;

/// A fault-injecting store over the local file system rooted at `root`.
fn fault_storage(root: &Path) -> Arc<FaultStorage> {
    FaultStorage::new(Arc::new(LocalStorage::new(root)))
}

// ---------------------------------------------------------------------------------------
// 1. The Storage contract, against LocalStorage and the fault storage (pass-through)
// ---------------------------------------------------------------------------------------

fn roots() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    (dir, root, outside)
}

#[test]
fn local_storage_keeps_the_contract() {
    let (_dir, root, outside) = roots();
    let store = Arc::new(LocalStorage::new(&root));
    conformance::run_all(store.clone());
    conformance::links_are_confined(store.as_ref(), &root, &outside);
}

#[test]
fn fault_storage_passes_the_contract_when_not_failing() {
    let (_dir, root, outside) = roots();
    let s = fault_storage(&root);
    s.arm(Kind::Eio, u64::MAX);
    conformance::run_all(s.clone());
    conformance::links_are_confined(s.as_ref(), &root, &outside);
    assert!(s.disarm().0 > 30, "the fault storage counted the contract's operations");
}

#[test]
fn a_table_through_a_symlinked_directory_works_and_stays_confined() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    Table::create(&real, schema()).unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let t = Table::open(&link).unwrap();
    t.append(&[batch(0, 3)]).unwrap();
    assert_eq!(ids(&Table::open(&real).unwrap()), vec![0, 1, 2]);
    assert_eq!(ids(&Table::open(&link).unwrap()), vec![0, 1, 2]);
}

// ---------------------------------------------------------------------------------------
// 2. A commit under a failure at every k
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    /// The transaction's base is the newest version.
    Plain,
    /// Another commit lands between staging and commit: the commit must rebase.
    Rebase,
    /// A table partitioned by `bucket[2](id)`: the commit writes one data file per
    /// partition directory (`data/id_bucket=<n>/`), created with its first file.
    Partitioned,
}

#[derive(Default, Debug)]
struct Tally {
    runs: u64,
    faults: u64,
    ok: u64,
    failed: u64,
    unknown: u64,
    unknown_landed: u64,
    orphans: u64,
    by_op: BTreeMap<String, u64>,
}

fn options(durable: bool) -> TableOptions {
    let d = if durable { Durability::Durable } else { Durability::Relaxed };
    TableOptions::default().durability(d).property("floe.commit.retain-snapshots", "0")
}

/// Parquet files under the table's data directory (partition directories included),
/// and manifests / manifest lists under metadata.
fn data_and_avro_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, ext, out);
            } else if p.extension().is_some_and(|x| x == ext) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&root.join("data"), "parquet", &mut out);
    walk(&root.join("metadata"), "avro", &mut out);
    out
}

/// Every file referenced by any snapshot (manifest lists, manifests, data files) exists
/// with its recorded size; returns the set of referenced paths.
fn check_references(t: &Table, what: &str) -> std::collections::HashSet<PathBuf> {
    let mut live = std::collections::HashSet::new();
    for snap in t.snapshots() {
        let list = t.resolve_path(&snap.manifest_list).unwrap();
        assert!(list.exists(), "{what}: manifest list {list:?} missing");
        live.insert(list);
        for m in t.manifests(&snap).unwrap() {
            let p = t.resolve_path(&m.manifest_path).unwrap();
            let len = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{what}: manifest {p:?}: {e}")).len();
            assert_eq!(len as i64, m.manifest_length, "{what}: manifest {p:?} incomplete");
            live.insert(p);
        }
    }
    for f in t.scan().plan().unwrap().files {
        let p = t.resolve_path(&f.file_path).unwrap();
        let len = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{what}: data file {p:?}: {e}")).len();
        assert_eq!(len as i64, f.file_size_in_bytes, "{what}: data file {p:?} incomplete");
        live.insert(p);
    }
    live
}

/// One commit with the `k`-th operation failing with `kind`; checks every invariant.
/// Returns false when `k` was past the last operation (no fault fired).
fn run_one(durable: bool, scenario: Scenario, kind: Kind, k: u64, tally: &mut Tally) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let plain = if scenario == Scenario::Partitioned {
        let spec = floe::spec::PartitionSpec::builder(&schema()).bucket("id", 2).build().unwrap();
        Table::create_with(&path, schema(), options(durable).partition_spec(spec)).unwrap()
    } else {
        Table::create_with(&path, schema(), options(durable)).unwrap()
    };
    plain.append(&[batch(0, 2)]).unwrap();
    let real = std::fs::canonicalize(&path).unwrap();
    let storage = fault_storage(&real);
    let table = Table::open_with(&path, options(durable).storage(storage.clone())).unwrap();

    let mut expected_before = vec![0, 1];
    storage.arm(kind, k);
    let mut tx = table.new_transaction();
    let commit_id = tx.commit_id();
    let staged = tx.append(&batch(100, 3));
    if scenario == Scenario::Rebase {
        // Not counted: the concurrent writer uses the real storage.
        plain.append(&[batch(50, 1)]).unwrap();
        expected_before.push(50);
    }
    let res = match staged {
        Ok(()) => tx.commit(),
        Err(e) => {
            drop(tx);
            Err(e)
        }
    };
    let (ops, fired) = storage.disarm();
    let what = format!("durable={durable} {scenario:?} {kind:?} k={k} ({fired:?}, result {res:?})");
    let Some(fired) = fired else {
        assert!(res.is_ok(), "{what}: no fault fired but the commit failed");
        assert!(k >= ops, "{what}");
        return false;
    };
    tally.runs += 1;
    tally.faults += 1;
    *tally.by_op.entry(format!("{kind:?} {}", fired.split(' ').next().unwrap_or(""))).or_default() += 1;

    // The table opens through a fresh handle on the real file system.
    let fresh = Table::open(&path).unwrap_or_else(|e| panic!("{what}: table does not open: {e}"));
    // Versions are contiguous.
    for v in 1..=fresh.version() {
        assert!(real.join(format!("metadata/v{v}.metadata.json")).exists(), "{what}: v{v} missing");
    }
    let landed: Vec<_> = fresh.snapshots().into_iter().filter(|s| s.commit_id() == Some(commit_id.as_str())).collect();
    assert!(landed.len() <= 1, "{what}: commit present {} times", landed.len());
    let landed = landed.len() == 1;
    match &res {
        Ok(report) => {
            tally.ok += 1;
            assert!(landed, "{what}: Ok but the commit is not in the table");
            let md = fresh.metadata_at_version(report.version).unwrap();
            assert_eq!(md.current_snapshot().unwrap().commit_id(), Some(commit_id.as_str()), "{what}");
        }
        Err(_) if kind == Kind::AfterSuccess && fired.starts_with("publish") => {
            panic!("{what}: the version was created (ambiguous error), the outcome must be resolved as Ok")
        }
        Err(Error::CommitStateUnknown { commit_id: c, .. }) => {
            assert_eq!(c, &commit_id);
            tally.unknown += 1;
            tally.unknown_landed += landed as u64;
        }
        Err(_) => {
            tally.failed += 1;
            assert!(!landed, "{what}: reported failed but the commit landed");
        }
    }
    // The whole commit or none of it; nothing twice.
    let mut expected = expected_before;
    if landed {
        expected.extend([100, 101, 102]);
    }
    expected.sort();
    assert_eq!(ids(&fresh), expected, "{what}");
    // Every referenced file exists and is complete.
    let live = check_references(&fresh, &what);
    // Orphans (unreferenced files the failure left) are never referenced; the failed
    // transaction removes its own files unless the fault hit one of those deletes.
    let orphans = data_and_avro_files(&real).iter().filter(|p| !live.contains(*p)).count() as u64;
    if !fired.starts_with("delete") {
        assert_eq!(orphans, 0, "{what}: the failed commit left files behind");
    }
    tally.orphans += orphans;
    // A new append succeeds, through the faulty handle too.
    table.append(&[batch(200, 1)]).unwrap_or_else(|e| panic!("{what}: next append failed: {e}"));
    expected.push(200);
    assert_eq!(ids(&Table::open(&path).unwrap()), expected, "{what}");
    true
}

fn every_k(durable: bool, scenario: Scenario) -> Tally {
    let mut tally = Tally::default();
    for kind in KINDS {
        let mut k = 0;
        while run_one(durable, scenario, kind, k, &mut tally) {
            k += 1;
        }
        assert!(k > 10, "a commit performs more than 10 storage operations ({k})");
    }
    if std::env::var_os("FLOE_FAULT_SUMMARY").is_some() {
        eprintln!("durable={durable} {scenario:?}: {tally:#?}");
    }
    tally
}

#[test]
fn durable_commit_survives_a_fault_at_every_operation() {
    let t = every_k(true, Scenario::Plain);
    assert!(t.ok > 0 && t.failed > 0, "{t:?}");
}

#[test]
fn relaxed_commit_survives_a_fault_at_every_operation() {
    every_k(false, Scenario::Plain);
}

#[test]
fn rebasing_commit_survives_a_fault_at_every_operation() {
    every_k(true, Scenario::Rebase);
}

#[test]
fn partitioned_commit_survives_a_fault_at_every_operation() {
    every_k(true, Scenario::Partitioned);
}

// ---------------------------------------------------------------------------------------
// 3. Metadata-only commits at an ambiguous commit point
// ---------------------------------------------------------------------------------------

/// Every kind of metadata-only commit (no new snapshot: nothing carries a commit id in a
/// snapshot summary), its effect, and a check that the effect is in the table.
type MetadataCommit = (&'static str, fn(&Table, &[i64]) -> floe::Result<u64>, fn(&Table, &[i64]) -> bool);

fn metadata_commits() -> Vec<MetadataCommit> {
    use floe::spec::Transform;
    use floe::{ExpireOptions, PrimitiveType};
    vec![
        (
            "schema change",
            |t, _| Ok(t.update_schema().add_column("extra", PrimitiveType::Int).commit()?.version),
            |t, _| t.schema().fields().iter().any(|f| f.name == "extra"),
        ),
        (
            "spec change",
            |t, _| Ok(t.update_spec().add_field("id", Transform::Bucket(4)).commit()?.version),
            |t, _| t.metadata().default_spec().is_some_and(|s| s.fields.len() == 1),
        ),
        ("tag", |t, s| Ok(t.create_tag("v1", s[0])?.versions()[0]), |t, s| t.tags().get("v1") == Some(&s[0])),
        (
            "remove tag",
            |t, s| {
                t.create_tag("gone", s[0])?;
                Ok(t.remove_tag("gone")?.versions()[0])
            },
            |t, _| !t.tags().contains_key("gone"),
        ),
        (
            "rollback",
            |t, s| Ok(t.rollback_to(s[0])?.versions()[0]),
            |t, s| t.current_snapshot().map(|c| c.snapshot_id) == Some(s[0]),
        ),
        (
            "set current",
            |t, s| {
                t.rollback_to(s[0])?;
                Ok(t.set_current(s[2])?.versions()[0])
            },
            |t, s| t.current_snapshot().map(|c| c.snapshot_id) == Some(s[2]),
        ),
        (
            "expiry",
            |t, _| {
                Ok(t.expire_snapshots(
                    &ExpireOptions::default()
                        .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                        .retain_last(1),
                )?
                .versions()[0])
            },
            |t, s| t.snapshots().len() == 1 && t.current_snapshot().map(|c| c.snapshot_id) == Some(s[2]),
        ),
    ]
}

/// An error after the link succeeded (the ambiguous commit point) on a metadata-only
/// commit of every kind is resolved as `Ok`: the caller learns the change is in the
/// table, at the version it reports, once, instead of a lost race (`ConcurrentModification`,
/// "ref already exists") for its own change.
#[test]
fn ambiguous_metadata_only_commits_of_every_kind_resolve_as_ok() {
    for (what, commit, present) in metadata_commits() {
        for durable in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t");
            let plain = Table::create_with(&path, schema(), options(durable)).unwrap();
            for k in 0..3 {
                plain.append(&[batch(k * 10, 2)]).unwrap();
            }
            let snaps: Vec<i64> = plain.snapshots().iter().map(|s| s.snapshot_id).collect();
            let storage = fault_storage(&std::fs::canonicalize(&path).unwrap());
            let table = Table::open_with(&path, options(durable).storage(storage.clone())).unwrap();
            let before = table.version();
            // The last link of the operation (its change; "remove tag" and "set current"
            // link a preparatory version first) reports EIO after it succeeded.
            let links = if matches!(what, "remove tag" | "set current") { 1 } else { 0 };
            storage.arm_only(Op::Publish, Kind::AfterSuccess, links);
            let res = commit(&table, &snaps);
            let (_, fired) = storage.disarm();
            let ctx = format!("{what} (durable={durable}, fault {fired:?})");
            assert!(fired.is_some_and(|f| f.starts_with("publish")), "{ctx}: the fault fired at the link");
            let version = res.unwrap_or_else(|e| panic!("{ctx}: the change landed, the outcome must be Ok: {e}"));
            let fresh = Table::open(&path).unwrap();
            assert_eq!(fresh.version(), version, "{ctx}: exactly the reported version, nothing after it");
            assert_eq!(version, before + 1 + links, "{ctx}");
            assert!(present(&fresh, &snaps), "{ctx}: the change is in the table");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 4. A durable commit whose directory fsync fails
// ---------------------------------------------------------------------------------------

/// When the fsync of `metadata/` after the commit point keeps failing, a durable commit
/// is not reported as a plain success: `Error::CommittedNotDurable` names the version
/// and commit id, says it is committed (`is_committed`), and the commit is in the table
/// once; the handle goes on from it. (A relaxed commit never fsyncs, so it is `Ok`.)
#[test]
fn a_failed_directory_fsync_after_the_commit_point_is_committed_not_durable() {
    for kind in [Kind::Eio, Kind::AfterSuccess] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t");
        Table::create_with(&path, schema(), options(true)).unwrap().append(&[batch(0, 2)]).unwrap();
        let storage = fault_storage(&std::fs::canonicalize(&path).unwrap());
        let table = Table::open_with(&path, options(true).storage(storage.clone())).unwrap();
        storage.arm_always(Op::SyncDir, "metadata", kind);
        let mut tx = table.new_transaction();
        let commit_id = tx.commit_id();
        tx.append(&batch(10, 3)).unwrap();
        let res = tx.commit();
        let (syncs, fired) = storage.disarm();
        assert!(fired.is_some() && syncs >= 2, "{kind:?}: the metadata fsync failed ({syncs} tries)");
        match res {
            Err(ref e @ Error::CommittedNotDurable { version, commit_id: ref c, .. }) => {
                assert_eq!((version, c.as_str()), (3, commit_id.as_str()), "{kind:?}");
                assert!(e.is_committed(), "{kind:?}");
                assert!(e.to_string().contains("do not retry"), "{e}");
            }
            other => panic!("{kind:?}: expected CommittedNotDurable, got {other:?}"),
        }
        let fresh = Table::open(&path).unwrap();
        assert_eq!(fresh.version(), 3);
        assert_eq!(fresh.current_snapshot().unwrap().commit_id(), Some(commit_id.as_str()));
        assert_eq!(ids(&fresh), vec![0, 1, 10, 11, 12]);
        // Its files were kept (it is committed) and the handle goes on from it.
        check_references(&fresh, "after CommittedNotDurable");
        assert_eq!(table.version(), 3);
        table.append(&[batch(20, 1)]).unwrap();
        assert_eq!(ids(&Table::open(&path).unwrap()), vec![0, 1, 10, 11, 12, 20]);
    }
    // Relaxed: no fsync, a plain Ok.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), options(false)).unwrap();
    let storage = fault_storage(&std::fs::canonicalize(&path).unwrap());
    let table = Table::open_with(&path, options(false).storage(storage.clone())).unwrap();
    storage.arm_always(Op::SyncDir, "metadata", Kind::Eio);
    table.append(&[batch(0, 1)]).unwrap();
    assert_eq!(storage.disarm().1, None, "a relaxed commit does not fsync metadata/");
}

/// A large append encodes a file's row groups after the first on pool threads
/// (`WriteOptions::encode_threads`) while the calling thread writes finished ones out
/// and, when durable, has them synced on another thread as it goes. A write or a sync
/// of that file failing at any point (EIO, ENOSPC, a torn write), with row groups still
/// being encoded, fails the append with a typed error, leaves the table and its data
/// directory as they were, and the handle appends again.
#[test]
fn a_failed_write_while_row_groups_encode_in_the_background_changes_nothing() {
    let write = WriteOptions::default().row_group_size(2_000).encode_threads(4);
    for (durable, op) in [(false, Op::Write), (true, Op::Write), (true, Op::SyncFile)] {
        let mut faults = 0;
        for fault in [Fault::Eio, Fault::Enospc, Fault::ShortWrite] {
            for k in 0.. {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("t");
                Table::create_with(&path, schema(), options(durable)).unwrap().append(&[batch(0, 2)]).unwrap();
                let real = std::fs::canonicalize(&path).unwrap();
                let before: Vec<PathBuf> = data_and_avro_files(&real);
                let storage = fault_storage(&real);
                let opts = options(durable).write(write.clone()).storage(storage.clone());
                let table = Table::open_with(&path, opts).unwrap();
                storage.arm_only(op, fault, k);
                // Five row groups: the first written by the calling thread, four pipelined.
                let res = table.append(&[batch(100, 6_000), batch(6_100, 4_000)]);
                let (ops, fired) = storage.disarm();
                let what = format!("durable={durable} {fault:?} at {op:?} {k} ({fired:?}): {res:?}");
                if fired.is_none() {
                    assert!(res.is_ok(), "{what}");
                    // Writes: at least one per row group. Syncs: the data file's early
                    // ones, then the commit's.
                    assert!(k >= if op == Op::Write { 5 } else { 2 }, "{what}: {ops} operations");
                    break;
                }
                faults += 1;
                assert!(matches!(res, Err(Error::Io { .. } | Error::Parquet { .. })), "{what}");
                let fresh = Table::open(&path).unwrap();
                assert_eq!(ids(&fresh), vec![0, 1], "{what}");
                assert_eq!(data_and_avro_files(&real), before, "{what}: the failed append left files");
                table.append(&[batch(200, 1)]).unwrap_or_else(|e| panic!("{what}: next append failed: {e}"));
                assert_eq!(ids(&Table::open(&path).unwrap()), vec![0, 1, 200], "{what}");
            }
        }
        assert!(faults >= 6, "durable={durable} {op:?}: {faults} faults injected");
    }
}
