//! Copied, restored and moved tables through the public API, and locations that are not
//! local directories (the `floe` command's side is crates/floe-cli/tests/relocate.rs).
//!
//! Metadata records absolute `file://` URIs, so a table copied with `cp -a` (a backup
//! restored) or moved with `mv` still names its old directory. These tests prove that such
//! a table is detected when opened, reads only its own files (the original is damaged or
//! deleted to prove it), refuses every write and maintenance operation with
//! `Error::TableRelocated` without changing a file, and after `Table::relocate` is an
//! independent table that every operation works on, time travel included. And that a URL
//! of a scheme floe has no backend for (`http://…`) is refused as a table location instead
//! of becoming a local folder named `http:`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use floe::spec::PartitionSpec;
use floe::{CompactOptions, Error, ExpireOptions, MergeManifestsOptions, OrphanOptions, Table, TableOptions};
use serde_json::Value;

use common::{batch, ids, relaxed, schema, tree};

/// `cp -a FROM TO`, as a user restoring a backup would.
fn cp_a(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("run cp");
    assert!(status.success(), "cp -a failed");
}

/// Every data file below `table/data`.
fn data_files(table: &Path) -> Vec<PathBuf> {
    tree(&table.join("data")).into_iter().map(|r| table.join("data").join(r)).collect()
}

/// Overwrites every data file of `table` with garbage (the original, damaged after the
/// copy: a copy that still read it would fail or return wrong rows).
fn damage_data_files(table: &Path) {
    let files = data_files(table);
    assert!(!files.is_empty());
    for f in files {
        std::fs::write(&f, b"not parquet any more").unwrap();
    }
}

fn table_with_three_appends(dir: &Path) -> Table {
    let t = Table::create_with(dir, schema(), relaxed()).unwrap();
    for i in 0..3 {
        t.append(&[batch(i * 10, 10)]).unwrap();
    }
    t
}

#[track_caller]
fn assert_relocated(res: floe::Result<impl std::fmt::Debug>, recorded: &str, opened: &Path) {
    match res {
        Err(Error::TableRelocated { recorded: r, opened: o, file: None }) => {
            assert_eq!(r, recorded);
            assert_eq!(o, opened);
        }
        other => panic!("expected TableRelocated, got {other:?}"),
    }
}

/// A copy is detected on open; a table opened through a symlink, with a trailing slash
/// or as a `file:` URI is not relocated.
#[test]
fn api_detects_copies_but_not_other_spellings() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("t");
    let t = table_with_three_appends(&orig);
    assert_eq!(t.relocated_from(), None);
    let orig_uri = t.metadata().location().to_string();
    std::os::unix::fs::symlink(&orig, d.path().join("link")).unwrap();
    let spellings = [
        d.path().join("link"),
        PathBuf::from(format!("{}/", orig.display())),
        PathBuf::from(format!("{}/./", orig.display())),
        PathBuf::from(format!("file://{}", orig.display())),
        PathBuf::from(format!("file:{}", orig.display())),
    ];
    for p in &spellings {
        let t = Table::open_with(p, relaxed()).unwrap();
        assert_eq!(t.relocated_from(), None, "{}", p.display());
        assert_eq!(t.verify().unwrap().problems, [], "{}", p.display());
        t.append(&[batch(100, 1)]).unwrap();
    }
    cp_a(&orig, &d.path().join("copy"));
    let copy = Table::open(d.path().join("copy")).unwrap();
    assert_eq!(copy.relocated_from().as_deref(), Some(orig_uri.as_str()));
    let report = copy.verify_deep().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].kind, floe::ProblemKind::Relocated);
    assert_eq!(report.rows_read, Some(35), "the copy's files are checked");
}

/// Every write and maintenance call on a copy fails with `TableRelocated` and changes
/// no file; reads (scan, time travel, plan, changes) use the copy's files.
#[test]
fn api_copy_refuses_every_write_and_maintenance_operation() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("t");
    let t = table_with_three_appends(&orig);
    let recorded = t.metadata().location().to_string();
    let first = t.snapshots()[0].snapshot_id;
    t.create_tag("old", first).unwrap();
    let copy_dir = d.path().join("copy");
    cp_a(&orig, &copy_dir);
    damage_data_files(&orig);
    let copy = Table::open_with(&copy_dir, relaxed()).unwrap();
    let opened = copy.path().to_path_buf();
    let before = tree(&copy_dir);

    assert_relocated(copy.append(&[batch(100, 5)]), &recorded, &opened);
    let mut tx = copy.new_transaction();
    assert_relocated(tx.append(&batch(100, 5)), &recorded, &opened);
    let mut tx = copy.new_transaction();
    tx.set_property("k", "v");
    assert_relocated(tx.commit(), &recorded, &opened);
    assert_relocated(copy.delete(floe::expr::Predicate::parse("id = 1").unwrap()), &recorded, &opened);
    assert_relocated(copy.compact(&CompactOptions::default()), &recorded, &opened);
    assert_relocated(copy.compact(&CompactOptions::default().dry_run(true)), &recorded, &opened);
    let merge = MergeManifestsOptions::default().min_count(2);
    assert_relocated(copy.merge_manifests(&merge), &recorded, &opened);
    let expire = ExpireOptions::default()
        .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .retain_last(1);
    assert_relocated(copy.expire_snapshots(&expire), &recorded, &opened);
    assert_relocated(copy.expire_snapshots(&expire.clone().dry_run(true)), &recorded, &opened);
    let orphans = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
    assert_relocated(copy.remove_orphans(&orphans), &recorded, &opened);
    assert_relocated(copy.remove_orphans(&orphans.clone().dry_run(true)), &recorded, &opened);
    assert_relocated(copy.rollback_to(first), &recorded, &opened);
    assert_relocated(copy.set_current(first), &recorded, &opened);
    assert_relocated(copy.create_tag("new", first), &recorded, &opened);
    assert_relocated(copy.remove_tag("old"), &recorded, &opened);
    assert_eq!(tree(&copy_dir), before, "a refused operation changed the copy");

    assert_eq!(ids(&copy), (0..30).collect::<Vec<_>>());
    let old: Vec<i64> = {
        let batches = copy.scan().snapshot_id(first).select(["id"]).to_batches().unwrap();
        batches.iter().flat_map(int64s).collect()
    };
    assert_eq!(old, (0..10).collect::<Vec<_>>());
    let plan = copy.scan().plan().unwrap();
    for (i, f) in plan.files.iter().enumerate() {
        let path = copy.resolve_path(&f.file_path).unwrap();
        assert!(path.starts_with(&opened), "{} is not the copy's", path.display());
        assert_eq!(plan.read_file(i, 1024).unwrap().0.iter().map(|b| b.num_rows()).sum::<usize>(), 10);
    }
}

/// `mv t moved` through the API: scan, time travel and verify's file checks work from
/// the new place; orphan cleanup (a dry run too) and appends refuse; relocation fixes it.
#[test]
fn api_moved_table_reads_and_refuses_until_relocated() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_appends(&d.path().join("t"));
    let recorded = t.metadata().location().to_string();
    let first = t.snapshots()[0].snapshot_id;
    drop(t);
    let moved = d.path().join("moved");
    std::fs::rename(d.path().join("t"), &moved).unwrap();
    let t = Table::open_with(&moved, relaxed()).unwrap();
    assert_eq!(t.relocated_from().as_deref(), Some(recorded.as_str()));
    assert_eq!(ids(&t), (0..30).collect::<Vec<_>>());
    assert_eq!(snapshot_ids(&t, first), (0..10).collect::<Vec<_>>());
    let report = t.verify_deep().unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let before = tree(&moved);
    let dry = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true).dry_run(true);
    assert_relocated(t.remove_orphans(&dry), &recorded, t.path());
    assert_relocated(t.append(&[batch(100, 1)]), &recorded, t.path());
    assert_eq!(tree(&moved), before);
    t.relocate().unwrap();
    t.append(&[batch(100, 1)]).unwrap();
    let dry = t.remove_orphans(&dry).unwrap();
    assert!(dry.deleted_paths.iter().all(|p| !p.starts_with(moved.join("data"))), "{:?}", dry.deleted_paths);
    assert_eq!(ids(&t).len(), 31);
}

/// A copy whose metadata names a file outside its recorded location does not read it:
/// `TableRelocated` naming the file (it could be another table's). At home, the same
/// metadata is read as it always was (tables may reference files they did not write).
#[test]
fn api_copy_never_reads_a_file_outside_its_recorded_location() {
    let d = tempfile::tempdir().unwrap();
    let other = table_with_three_appends(&d.path().join("other"));
    let foreign = other.current_snapshot().unwrap().manifest_list;
    let orig = d.path().join("t");
    let t = table_with_three_appends(&orig);
    // Point t's newest version at the other table's manifest list (absolute, outside t).
    let newest = t.metadata_path();
    let mut md: Value = serde_json::from_slice(&std::fs::read(&newest).unwrap()).unwrap();
    let current = md["current-snapshot-id"].clone();
    for s in md["snapshots"].as_array_mut().unwrap() {
        if s["snapshot-id"] == current {
            s["manifest-list"] = Value::String(foreign.clone());
        }
    }
    std::fs::write(&newest, serde_json::to_vec(&md).unwrap()).unwrap();
    assert_eq!(ids(&Table::open(&orig).unwrap()).len(), 30, "at home the external list is read");
    cp_a(&orig, &d.path().join("copy"));
    let copy = Table::open(d.path().join("copy")).unwrap();
    match copy.scan().to_batches() {
        Err(Error::TableRelocated { file: Some(f), recorded, opened }) => {
            assert_eq!(f, foreign);
            assert_eq!(recorded, t.metadata().location());
            assert_eq!(opened, copy.path());
        }
        other => panic!("expected TableRelocated naming the file, got {other:?}"),
    }
    let problems = copy.verify().unwrap().problems;
    assert!(problems.iter().all(|p| p.kind == floe::ProblemKind::Relocated), "{problems:?}");
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(matches!(copy.relocate(), Err(Error::TableRelocated { file: Some(_), .. })));
}

/// A partitioned table with several snapshots, a compaction and a tag, copied and
/// relocated: the new version names only the copy (location, every manifest list,
/// manifest and data file, the metadata log), the original is deleted, and time travel
/// to every snapshot and to versions from before the relocation returns what the
/// original returned. Expiry and orphan cleanup afterwards keep every live file, even
/// though older version files still name the original's location.
#[test]
fn api_relocate_partitioned_table_with_history() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("t");
    let spec = PartitionSpec::builder(&schema()).bucket("id", 4).build().unwrap();
    let opts = relaxed().partition_spec(spec).property("floe.commit.retain-snapshots", "3");
    let t = Table::create_with(&orig, schema(), opts).unwrap();
    for i in 0..5 {
        t.append(&[batch(i * 10, 10)]).unwrap();
    }
    t.compact(&CompactOptions::default()).unwrap();
    t.append(&[batch(50, 10)]).unwrap();
    let snaps = t.snapshots();
    assert_eq!(snaps.len(), 3, "older snapshots are only in older version files");
    t.create_tag("mid", snaps[1].snapshot_id).unwrap();
    let by_snapshot: Vec<(i64, Vec<i64>)> =
        snaps.iter().map(|s| (s.snapshot_id, snapshot_ids(&t, s.snapshot_id))).collect();
    let by_version: Vec<(u64, Vec<i64>)> = (2..=t.version()).map(|v| (v, version_ids(&t, v))).collect();

    let copy_dir = d.path().join("copy");
    cp_a(&orig, &copy_dir);
    let copy = Table::open_with(&copy_dir, relaxed()).unwrap();
    let dry = copy.relocate_dry_run().unwrap();
    let details = dry.relocation.clone().expect("relocation details");
    assert!(details.needed && dry.commits.is_empty() && details.snapshots == 3, "{dry:?}");
    let r = copy.relocate().unwrap();
    assert_eq!(r.versions(), [t.version() + 1], "{r:?}");
    assert_eq!(copy.relocated_from(), None);
    std::fs::remove_dir_all(&orig).unwrap();

    let md = copy.metadata();
    let root = format!("file://{}/", copy.path().display());
    assert_eq!(format!("{}/", md.location()), root);
    for e in md.metadata_log() {
        assert!(e.metadata_file.starts_with(&root), "{}", e.metadata_file);
    }
    for s in copy.snapshots() {
        assert!(s.manifest_list.starts_with(&root), "{}", s.manifest_list);
        for m in copy.manifests(&s).unwrap() {
            assert!(m.manifest_path.starts_with(&root), "{}", m.manifest_path);
        }
        for f in copy.scan().snapshot_id(s.snapshot_id).plan().unwrap().files {
            assert!(f.file_path.starts_with(&root), "{}", f.file_path);
        }
    }
    assert_eq!(copy.reference("mid").unwrap().snapshot_id, snaps[1].snapshot_id);
    assert!(copy.verify_deep().unwrap().is_ok());
    for (id, rows) in &by_snapshot {
        assert_eq!(&snapshot_ids(&copy, *id), rows, "snapshot {id}");
    }
    for (v, rows) in &by_version {
        assert_eq!(&version_ids(&copy, *v), rows, "version {v}");
    }
    assert!(!Table::open(&copy_dir).unwrap().relocate().unwrap().relocation.unwrap().needed);

    copy.append(&[batch(60, 10)]).unwrap();
    let expire = ExpireOptions::default()
        .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .retain_last(1);
    copy.expire_snapshots(&expire).unwrap();
    let orphans = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
    copy.remove_orphans(&orphans).unwrap();
    assert_eq!(ids(&copy), (0..70).collect::<Vec<_>>());
    assert!(copy.verify_deep().unwrap().is_ok(), "{:?}", copy.verify_deep().unwrap().problems);
    assert_eq!(snapshot_ids(&copy, snaps[1].snapshot_id), by_snapshot[1].1, "the tagged snapshot survives");
}

/// After relocation, older version files in the metadata log still name the old
/// location, and snapshots only they retain reference files that are still live. Expiry
/// and orphan cleanup compare files by their path relative to the root, so they keep
/// them (compared by URI, the old spelling matched nothing live and expiry deleted live
/// data files).
#[test]
fn api_expiry_after_relocation_keeps_live_files_older_versions_name() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("t");
    let t = Table::create_with(&orig, schema(), relaxed().property("floe.commit.retain-snapshots", "2")).unwrap();
    for i in 0..4 {
        t.append(&[batch(i * 10, 10)]).unwrap();
    }
    assert_eq!(t.snapshots().len(), 2, "the first appends' snapshots live only in older version files");
    let copy_dir = d.path().join("copy");
    cp_a(&orig, &copy_dir);
    std::fs::remove_dir_all(&orig).unwrap();
    let copy = Table::open_with(&copy_dir, relaxed()).unwrap();
    copy.relocate().unwrap();
    let report = copy
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .unwrap();
    assert_eq!(report.data_files_removed, 0, "{report:?}");
    let orphans = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
    let report = copy.remove_orphans(&orphans).unwrap();
    assert_eq!(report.data_files_removed, 0, "{report:?}");
    assert_eq!(ids(&copy), (0..40).collect::<Vec<_>>());
    assert!(copy.verify_deep().unwrap().is_ok());
}

/// `Table::create`, `create_or_open`, `open` and `open_metadata_file` refuse a URL of a
/// scheme floe has no backend for with `UnsupportedLocation` naming the scheme, and
/// create nothing; `file:` URIs work.
#[test]
fn api_url_locations_are_refused() {
    let cwd = std::env::current_dir().unwrap();
    let listing = || {
        let mut v: Vec<String> =
            std::fs::read_dir(&cwd).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    let before = listing();
    // (s3://, gs://, az:// and abfss:// are object stores: tests/object_store.rs.)
    for (url, scheme) in [("http://h/t", "http"), ("hdfs://nn/t", "hdfs"), ("ftp://h/t", "ftp")] {
        let check = |r: floe::Result<Table>| match r {
            Err(Error::UnsupportedLocation { location, scheme: s }) => {
                assert!(location.starts_with(url), "{location}");
                assert_eq!(s, scheme);
            }
            other => panic!("{url}: expected UnsupportedLocation, got {other:?}"),
        };
        check(Table::create(url, schema()));
        check(Table::create_with(url, schema(), TableOptions::default()));
        check(Table::create_or_open(url, schema()));
        check(Table::open(url));
        check(Table::open_metadata_file(format!("{url}/metadata/v1.metadata.json")));
    }
    assert_eq!(listing(), before, "a URL created something in the working directory");
    let d = tempfile::tempdir().unwrap();
    let abs = std::fs::canonicalize(d.path()).unwrap();
    let t = Table::create_with(format!("file://{}/a", abs.display()), schema(), relaxed()).unwrap();
    assert_eq!(t.path(), abs.join("a"));
    t.append(&[batch(0, 3)]).unwrap();
    assert_eq!(ids(&Table::open(format!("file:{}/a", abs.display())).unwrap()), [0, 1, 2]);
    match Table::create("file://otherhost/x", schema()) {
        Err(Error::UnsupportedLocation { scheme, .. }) => assert_eq!(scheme, "file"),
        other => panic!("a file URI naming another host: {other:?}"),
    }
}

fn snapshot_ids(t: &Table, snapshot: i64) -> Vec<i64> {
    let batches = t.scan().snapshot_id(snapshot).select(["id"]).to_batches().unwrap();
    let mut v: Vec<i64> = batches.iter().flat_map(int64s).collect();
    v.sort();
    v
}

fn version_ids(t: &Table, version: u64) -> Vec<i64> {
    let batches = t.scan().as_of_version(version).select(["id"]).to_batches().unwrap();
    let mut v: Vec<i64> = batches.iter().flat_map(int64s).collect();
    v.sort();
    v
}

/// The `id` column (the first) of a batch.
fn int64s(b: &arrow_array::RecordBatch) -> Vec<i64> {
    use arrow_array::Array;
    let col = b.column(0).as_any().downcast_ref::<arrow_array::Int64Array>().unwrap();
    (0..col.len()).map(|i| col.value(i)).collect()
}

/// A handle that relocated a copy and then appends must build its manifest list from the
/// relocated snapshot's rewritten list, not from the pre-relocation list it read while
/// relocating (same snapshot id): with commit-time merging due, the relocation reads the
/// current snapshot's list, and a cache keyed by snapshot id once made the next append name
/// the original directory's manifests — unreadable once the original is deleted.
#[test]
fn appends_on_the_relocating_handle_name_only_the_copy_files() {
    let d = tempfile::tempdir().unwrap();
    let orig = d.path().join("orig");
    let t = Table::create_with(&orig, schema(), relaxed()).unwrap();
    let mut tx = t.new_transaction();
    tx.set_property(floe::properties::MANIFEST_MIN_COUNT_TO_MERGE, "4");
    tx.commit().unwrap();
    for i in 0..3 {
        t.append(&[batch(i * 10, 10)]).unwrap();
    }
    drop(t);
    let copy_dir = d.path().join("copy");
    cp_a(&orig, &copy_dir);
    let copy = Table::open_with(&copy_dir, relaxed()).unwrap();
    copy.relocate().unwrap();
    std::fs::remove_dir_all(&orig).unwrap();
    copy.append(&[batch(30, 10)]).unwrap();
    let fresh = Table::open(&copy_dir).unwrap();
    let mut got = ids(&fresh);
    got.sort();
    assert_eq!(got, (0..40).collect::<Vec<i64>>());
    assert_eq!(fresh.verify().unwrap().problems, [], "the copy verifies clean");
}
