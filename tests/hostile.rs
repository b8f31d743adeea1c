//! Hostile paths and unsupported features.
//!
//! * Paths in metadata that escape the table root (`../`, absolute paths elsewhere,
//!   symlinks inside the table leading out) are never written or deleted, whatever
//!   operation would touch them; the table keeps working.
//! * A table directory that is itself reached through a symlink works normally.
//! * Metadata with format-version 1 or 3, v3 deletion vectors, non-Parquet or encrypted
//!   data files gets a typed `Unsupported` error, never a wrong answer; so does
//!   gzip-compressed metadata (`v<N>.gz.metadata.json`), which is never taken for "no
//!   table" (a create would lay a second table beside it).

mod common;

use std::path::{Path, PathBuf};

use common::{batch, ids, relaxed, schema, tree};
use floe::spec::ManifestContent;
use floe::spec::PartitionSpec;
use floe::testing::{ManifestWriteContext, read_manifest, read_manifest_list, write_manifest, write_manifest_list};
use floe::{Error, Table};

/// Rewrites the newest metadata file in place with `f` applied to its JSON.
fn edit_latest(t: &Table, f: impl Fn(&mut serde_json::Value)) {
    let p = t.metadata_path();
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut m);
    std::fs::write(&p, serde_json::to_vec(&m).unwrap()).unwrap();
}

fn victims(dir: &Path) -> (PathBuf, PathBuf) {
    let outside = dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let victim = outside.join("victim.metadata.json");
    std::fs::write(&victim, b"precious").unwrap();
    (outside, victim)
}

#[test]
fn metadata_log_entries_escaping_the_root_are_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (outside, victim) = victims(dir.path());
    let root = dir.path().join("t");
    let t = Table::create_with(
        &root,
        schema(),
        relaxed()
            .property("write.metadata.previous-versions-max", "1")
            .property("write.metadata.delete-after-commit.enabled", "true"),
    )
    .unwrap();
    t.append(&[batch(0, 1)]).unwrap();
    // A symlink inside the table that leads out of it.
    std::os::unix::fs::symlink(&outside, root.join("metadata/link")).unwrap();
    let forged = [
        format!("file://{}", victim.display()),
        format!("file://{}/metadata/../../outside/victim.metadata.json", root.display()),
        format!("file://{}/metadata/link/victim.metadata.json", root.display()),
        victim.display().to_string(),
        "../outside/victim.metadata.json".to_string(),
    ];
    edit_latest(&t, |m| {
        m["metadata-log"] = serde_json::Value::Array(
            forged.iter().map(|f| serde_json::json!({"timestamp-ms": 1, "metadata-file": f})).collect(),
        );
    });
    let t = Table::open_with(&root, relaxed()).unwrap();
    for i in 1..4 {
        t.append(&[batch(i, 1)]).unwrap();
    }
    // The version files that left the log are deleted after an append returns.
    floe::testing::settle(&t);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    assert_eq!(ids(&Table::open(&root).unwrap()), vec![0, 1, 2, 3]);
}

#[test]
fn manifest_and_list_paths_escaping_the_root_are_read_only() {
    // A table may reference files elsewhere (imports); floe reads them but never
    // writes or deletes them, even when a rebase replaces manifests.
    let dir = tempfile::tempdir().unwrap();
    let (outside, _) = victims(dir.path());
    let root = dir.path().join("t");
    let t = Table::create_with(&root, schema(), relaxed()).unwrap();
    t.append(&[batch(0, 2)]).unwrap();
    // Move the current manifest list outside and point the snapshot at it.
    let snap = t.current_snapshot().unwrap();
    let list = floe::testing::uri_to_path(&snap.manifest_list);
    let moved = outside.join(list.file_name().unwrap());
    std::fs::rename(&list, &moved).unwrap();
    edit_latest(&t, |m| {
        m["snapshots"][0]["manifest-list"] = serde_json::json!(format!("file://{}", moved.display()));
    });
    let before = tree(&outside);
    let t = Table::open_with(&root, relaxed()).unwrap();
    assert_eq!(ids(&t), vec![0, 1]);
    for i in 0..3 {
        t.append(&[batch(10 + i, 1)]).unwrap();
    }
    assert_eq!(tree(&outside), before, "nothing written or deleted outside the root");
    assert_eq!(ids(&Table::open(&root).unwrap()), vec![0, 1, 10, 11, 12]);
}

#[test]
fn a_data_directory_symlinked_out_of_the_table_is_refused_for_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (outside, _) = victims(dir.path());
    let root = dir.path().join("t");
    let t = Table::create_with(&root, schema(), relaxed()).unwrap();
    t.append(&[batch(0, 1)]).unwrap();
    // Replace data/ with a symlink to a directory outside the table.
    let data = root.join("data");
    let kept = dir.path().join("kept-data");
    std::fs::rename(&data, &kept).unwrap();
    std::os::unix::fs::symlink(&outside, &data).unwrap();
    let before = tree(&outside);
    let err = t.append(&[batch(1, 1)]).unwrap_err();
    let refused = match &err {
        Error::Io { source, .. } => source.kind() == std::io::ErrorKind::PermissionDenied,
        Error::PathEscapesTable { .. } => true,
        _ => false,
    };
    assert!(refused, "{err:?}");
    assert_eq!(tree(&outside), before, "nothing written outside the root");
    // Put the real directory back: the table is intact.
    std::fs::remove_file(&data).unwrap();
    std::fs::rename(&kept, &data).unwrap();
    assert_eq!(ids(&Table::open(&root).unwrap()), vec![0]);
}

#[test]
fn a_table_reached_through_symlinks_works() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    std::fs::create_dir_all(&real).unwrap();
    // The table directory itself and one of its parents are symlinks.
    let parent_link = dir.path().join("parent-link");
    std::os::unix::fs::symlink(&real, &parent_link).unwrap();
    let t = Table::create_with(parent_link.join("t"), schema(), relaxed()).unwrap();
    t.append(&[batch(0, 2)]).unwrap();
    let table_link = dir.path().join("table-link");
    std::os::unix::fs::symlink(real.join("t"), &table_link).unwrap();
    let via_link = Table::open_with(&table_link, relaxed()).unwrap();
    via_link.append(&[batch(2, 2)]).unwrap();
    for p in [real.join("t"), parent_link.join("t"), table_link] {
        let t = Table::open(&p).unwrap();
        assert_eq!(ids(&t), vec![0, 1, 2, 3], "{p:?}");
        assert_eq!(t.version(), 3);
    }
}

#[test]
fn format_versions_other_than_2_are_unsupported() {
    for v in [0, 1, 3, 4] {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
        t.append(&[batch(0, 1)]).unwrap();
        edit_latest(&t, |m| m["format-version"] = serde_json::json!(v));
        let err = Table::open(t.path()).unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "v{v}: {err:?}");
    }
    // Another engine upgrades a table floe has open: the handle refuses to read or
    // commit over the new version.
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    t.append(&[batch(0, 1)]).unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(t.metadata_path()).unwrap()).unwrap();
    m["format-version"] = serde_json::json!(3);
    std::fs::write(t.path().join("metadata/v3.metadata.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    assert!(matches!(t.refresh().unwrap_err(), Error::Unsupported { .. }));
    let err = t.append(&[batch(1, 1)]).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    assert!(!t.path().join("metadata/v4.metadata.json").exists());
}

#[test]
fn gzip_compressed_metadata_is_unsupported_never_no_table() {
    // What Spark's Hadoop tables write under write.metadata.compression-codec=gzip (the
    // real thing: crates/floe-cli/tests/spark.rs). Only the names matter here.
    for name in ["v1.gz.metadata.json", "v1.metadata.json.gz"] {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("t");
        std::fs::create_dir_all(table.join("metadata")).unwrap();
        std::fs::write(table.join("metadata").join(name), b"\x1f\x8b not floe's to read").unwrap();
        std::fs::write(table.join("metadata/version-hint.text"), b"1").unwrap();
        let before = tree(&table);
        for (what, err) in [
            ("open", Table::open(&table).unwrap_err()),
            ("create", Table::create_with(&table, schema(), relaxed()).unwrap_err()),
            ("create_or_open", Table::create_or_open_with(&table, schema(), relaxed()).unwrap_err()),
        ] {
            assert!(
                matches!(&err, Error::Unsupported { what } if what.contains("gzip") && what.contains(name)),
                "{name}, {what}: {err:?}"
            );
        }
        assert_eq!(tree(&table), before, "{name}: nothing written");
    }
    // A plain table beside unrelated .gz files is untouched by the check.
    let dir = tempfile::tempdir().unwrap();
    let t = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    std::fs::write(t.path().join("metadata/notes.gz"), b"x").unwrap();
    t.append(&[batch(0, 3)]).unwrap();
    assert_eq!(ids(&Table::open(t.path()).unwrap()), vec![0, 1, 2]);
}

/// Rewrites the current snapshot's (single) manifest with `f` applied to its entries,
/// and the manifest list with the new length and `list_f` applied.
fn rewrite_manifest(
    t: &Table,
    f: impl Fn(&mut floe::testing::ManifestEntry),
    list_f: impl Fn(&mut floe::spec::ManifestFile),
) {
    let snap = t.current_snapshot().unwrap();
    let list_path = floe::testing::uri_to_path(&snap.manifest_list);
    let mut files = read_manifest_list(&list_path, &std::fs::read(&list_path).unwrap()).unwrap();
    let m = &mut files[0];
    let mpath = floe::testing::uri_to_path(&m.manifest_path);
    let mut manifest = read_manifest(&mpath, &std::fs::read(&mpath).unwrap(), Some(m)).unwrap();
    manifest.entries.iter_mut().for_each(f);
    list_f(m);
    let md = t.metadata();
    let spec = PartitionSpec::unpartitioned();
    let ctx = ManifestWriteContext { schema: md.current_schema(), spec: &spec, content: m.content };
    let bytes = write_manifest(&ctx, &manifest.entries).unwrap();
    std::fs::write(&mpath, &bytes).unwrap();
    m.manifest_length = bytes.len() as i64;
    let list = write_manifest_list(snap.snapshot_id, snap.parent_snapshot_id, snap.sequence_number, &files).unwrap();
    std::fs::write(&list_path, list).unwrap();
}

#[test]
fn unsupported_features_are_typed_errors_not_wrong_answers() {
    type Case = (&'static str, fn(&mut floe::testing::ManifestEntry), fn(&mut floe::spec::ManifestFile));
    let cases: [Case; 5] = [
        ("ORC data files", |e| e.data_file.file_format = "ORC".into(), |_| {}),
        ("Avro data files", |e| e.data_file.file_format = "AVRO".into(), |_| {}),
        ("encrypted data files", |e| e.data_file.key_metadata = Some(vec![1, 2, 3]), |_| {}),
        ("encrypted manifests", |_| {}, |m| m.key_metadata = Some(vec![1])),
        (
            "v3 deletion vectors (Puffin delete files)",
            |e| {
                e.data_file.content = floe::spec::DataContent::PositionDeletes;
                e.data_file.file_format = "PUFFIN".into();
            },
            |m| m.content = ManifestContent::Deletes,
        ),
    ];
    for (what, f, list_f) in cases {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
        t.append(&[batch(0, 3)]).unwrap();
        rewrite_manifest(&t, f, list_f);
        let t = Table::open(t.path()).unwrap();
        let err = t.scan().to_batches().unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{what}: {err:?}");
    }
}
