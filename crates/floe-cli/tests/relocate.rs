//! Copied, restored and moved tables through the `floe` command: a copy is detected, reads
//! only its own files (the original is damaged or deleted to prove it), refuses every write
//! and maintenance command with exit status 1 without changing a file, is reported by
//! `verify`, and after `floe relocate` is an independent table. A URL of a scheme floe has no
//! backend for (`http://…`) is refused
//! as a table location (exit 2) instead of becoming a local folder named `http:`.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use common::tree;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

fn floe_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(FLOE).args(args).current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null()).output().expect("run floe")
}

/// Runs floe and asserts the exit code; returns (stdout, stderr).
#[track_caller]
fn run(dir: &Path, args: &[&str], code: i32) -> (String, String) {
    let out = floe_in(dir, args);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(code), "floe {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    (stdout, stderr)
}

#[track_caller]
fn ok(dir: &Path, args: &[&str]) -> String {
    run(dir, args, 0).0
}

#[track_caller]
fn json(dir: &Path, args: &[&str]) -> Value {
    let s = ok(dir, args);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("floe {args:?} printed no JSON ({e}):\n{s}"))
}

/// The sorted ids `floe scan TABLE --select id` prints.
#[track_caller]
fn cli_ids(dir: &Path, table: &str) -> Vec<i64> {
    let csv = ok(dir, &["scan", table, "--select", "id"]);
    let mut ids: Vec<i64> = csv.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    ids.sort();
    ids
}

/// `cp -a FROM TO`, as a user restoring a backup would.
fn cp_a(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("run cp");
    assert!(status.success(), "cp -a failed");
}

/// A table `t` (id long!, name string) with three one-file appends: ids 1..=6.
fn cli_table(dir: &Path) {
    ok(dir, &["create", "t", "--schema", "id:long!,name:string"]);
    for (i, rows) in ["1,a\n2,b\n", "3,c\n4,d\n", "5,e\n6,f\n"].iter().enumerate() {
        std::fs::write(dir.join(format!("r{i}.csv")), format!("id,name\n{rows}")).unwrap();
        ok(dir, &["append", "t", &format!("r{i}.csv")]);
    }
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

/// Every command that writes or maintains, as the CLI spells them, on table `copy`.
fn writing_commands(dir: &Path) -> Vec<Vec<String>> {
    std::fs::write(dir.join("more.csv"), "id,name\n7,g\n").unwrap();
    let snap = json(dir, &["history", "copy", "--json"]).as_array().unwrap()[0]["snapshot_id"].as_i64().unwrap();
    let snap = snap.to_string();
    [
        vec!["append", "copy", "more.csv"],
        vec!["delete", "copy", "--where", "id = 1"],
        vec!["compact", "copy"],
        vec!["compact", "copy", "--dry-run"],
        vec!["merge-manifests", "copy"],
        vec!["merge-manifests", "copy", "--dry-run"],
        vec!["expire", "copy", "--older-than", "0s", "--retain-last", "1"],
        vec!["expire", "copy", "--older-than", "0s", "--retain-last", "1", "--dry-run"],
        vec!["remove-orphans", "copy", "--older-than", "0s", "--allow-short-grace"],
        vec!["remove-orphans", "copy", "--older-than", "0s", "--allow-short-grace", "--dry-run"],
        vec!["remove-orphans", "copy", "--dry-run"],
        vec!["rollback", "copy", &snap],
        vec!["set-current", "copy", &snap],
        vec!["tag", "copy", "keep", &snap],
        vec!["tag", "copy", "--remove", "keep"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(str::to_string).collect())
    .collect()
}

// ------------------------------------------------------------------ the CLI

/// `cp -a t copy`: every write and maintenance command on the copy refuses with exit 1
/// naming both locations and `floe relocate`, and changes no file (on the old code
/// `remove-orphans` deleted every data file of the copy and reported success);
/// `verify` reports the mismatch (exit 1); `scan` reads the copy's own files, also
/// after the original's files are damaged and after the original is deleted.

#[test]
fn cli_copied_table_reads_its_own_files_and_refuses_writes() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    cli_table(p);
    cp_a(&p.join("t"), &p.join("copy"));
    let before = tree(&p.join("copy"));
    let t_uri = format!("file://{}", std::fs::canonicalize(p.join("t")).unwrap().display());

    for args in writing_commands(p) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (_, stderr) = run(p, &args, 1);
        assert!(stderr.contains(&t_uri) && stderr.contains("floe relocate"), "floe {args:?}: {stderr}");
        assert_eq!(tree(&p.join("copy")), before, "floe {args:?} changed the copy");
    }

    let (stdout, _) = run(p, &["verify", "copy"], 1);
    assert!(stdout.contains("relocated:") && stdout.contains(&t_uri), "{stdout}");
    let report: Value = serde_json::from_str(&run(p, &["verify", "copy", "--json"], 1).0).unwrap();
    assert_eq!(report["problems"][0]["kind"], "relocated", "{report}");

    assert_eq!(cli_ids(p, "copy"), [1, 2, 3, 4, 5, 6]);
    // The original changes after the copy: new rows, then its data files damaged.
    std::fs::write(p.join("late.csv"), "id,name\n100,z\n").unwrap();
    ok(p, &["append", "t", "late.csv"]);
    damage_data_files(&p.join("t"));
    assert_eq!(cli_ids(p, "copy"), [1, 2, 3, 4, 5, 6], "the copy read the original's files");
    std::fs::remove_dir_all(p.join("t")).unwrap();
    assert_eq!(cli_ids(p, "copy"), [1, 2, 3, 4, 5, 6]);
    let (stdout, _) = run(p, &["verify", "copy", "--deep"], 1);
    assert_eq!(stdout.matches("  ").count(), 1, "only the location problem: {stdout}");
    assert_eq!(tree(&p.join("copy")), before);
}

/// `mv t moved`: scan works from the new place; maintenance (a dry run too) and writes
/// refuse with exit 1 (on the old code `scan` failed and `remove-orphans --dry-run`
/// listed every live file for deletion).
#[test]
fn cli_moved_table_scans_and_refuses_maintenance() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    cli_table(p);
    std::fs::rename(p.join("t"), p.join("moved")).unwrap();
    assert_eq!(cli_ids(p, "moved"), [1, 2, 3, 4, 5, 6]);
    let before = tree(&p.join("moved"));
    for args in [
        &["remove-orphans", "moved", "--dry-run"][..],
        &["remove-orphans", "moved", "--older-than", "0s", "--allow-short-grace"],
        &["expire", "moved", "--older-than", "0s", "--retain-last", "1"],
        &["compact", "moved"],
    ] {
        let (_, stderr) = run(p, args, 1);
        assert!(stderr.contains("floe relocate"), "{stderr}");
    }
    std::fs::write(p.join("more.csv"), "id,name\n7,g\n").unwrap();
    run(p, &["append", "moved", "more.csv"], 1);
    assert_eq!(tree(&p.join("moved")), before);
    let files = json(p, &["files", "moved", "--json"]);
    assert_eq!(files["files"].as_array().unwrap().len(), 3);
}

/// After `floe relocate copy` the copy is a table of its own: verify is clean, the
/// original can go, and append, delete, compact, expire, remove-orphans and time travel
/// all work on the copy's files. A second relocate has nothing to do.
#[test]
fn cli_relocate_then_everything_works() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    cli_table(p);
    cp_a(&p.join("t"), &p.join("copy"));
    let before = tree(&p.join("copy"));
    let dry = json(p, &["relocate", "copy", "--dry-run", "--json"]);
    assert_eq!(dry["needed"], true);
    assert_eq!(dry["snapshots"], 3);
    assert_eq!(dry["version"], Value::Null);
    assert_eq!(tree(&p.join("copy")), before, "a dry run writes nothing");

    let r = json(p, &["relocate", "copy", "--json"]);
    assert_eq!(r["needed"], true, "{r}");
    assert_eq!(r["version"], 5, "{r}");
    assert_eq!(
        (r["snapshots"].as_u64(), r["manifests"].as_u64(), r["data_files"].as_u64()),
        (Some(3), Some(3), Some(3)),
        "{r}"
    );
    let copy_uri = format!("file://{}", std::fs::canonicalize(p.join("copy")).unwrap().display());
    let info = json(p, &["info", "copy", "--json"]);
    assert_eq!(info["location"], copy_uri.as_str());
    let metadata = std::fs::read_to_string(p.join("copy/metadata/v5.metadata.json")).unwrap();
    let t_path = std::fs::canonicalize(p.join("t")).unwrap().display().to_string();
    assert!(!metadata.contains(&t_path), "the new version still names the original: {metadata}");

    damage_data_files(&p.join("t"));
    std::fs::remove_dir_all(p.join("t")).unwrap();
    assert!(ok(p, &["verify", "copy", "--deep"]).contains("OK"));
    assert!(ok(p, &["relocate", "copy"]).contains("nothing to do"));
    assert_eq!(cli_ids(p, "copy"), [1, 2, 3, 4, 5, 6]);

    std::fs::write(p.join("more.csv"), "id,name\n7,g\n").unwrap();
    ok(p, &["append", "copy", "more.csv"]);
    ok(p, &["delete", "copy", "--where", "id = 1"]);
    ok(p, &["compact", "copy"]);
    assert_eq!(cli_ids(p, "copy"), [2, 3, 4, 5, 6, 7]);
    let first = json(p, &["history", "copy", "--json"]).as_array().unwrap()[0]["snapshot_id"].as_i64().unwrap();
    let old = ok(p, &["scan", "copy", "--select", "id", "--snapshot", &first.to_string()]);
    assert_eq!(old, "id\n1\n2\n");
    let old = ok(p, &["scan", "copy", "--select", "id", "--version", "2"]);
    assert_eq!(old, "id\n1\n2\n", "time travel to a version from before the relocation");
    ok(p, &["expire", "copy", "--older-than", "0s", "--retain-last", "1"]);
    ok(p, &["remove-orphans", "copy", "--older-than", "0s", "--allow-short-grace"]);
    assert_eq!(cli_ids(p, "copy"), [2, 3, 4, 5, 6, 7]);
    assert!(ok(p, &["verify", "copy", "--deep"]).contains("OK"));
}

/// `floe create http://example.com/t` (and every other scheme floe has no backend for)
/// is refused with exit 2 naming the scheme, and creates nothing (an old version created
/// a local folder `http:`); `file:///abs` and `file:/abs` locations still work.
#[test]
fn cli_url_locations_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    // (s3://, gs://, az:// and abfss:// are object stores: tests/cli_object_store.rs.)
    for url in ["http://example.com/t", "hdfs://nn/events", "ftp://h/t", "HTTPS://h/t"] {
        let scheme = url.split(':').next().unwrap();
        let (_, stderr) = run(p, &["create", url, "--schema", "id:long"], 2);
        assert!(stderr.contains(&format!("scheme {scheme}:")), "{url}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let (_, stderr) = run(p, &["scan", url], 2);
        assert!(stderr.contains("unsupported table location"), "{url}: {stderr}");
        assert!(tree(p).is_empty(), "{url} created {:?}", tree(p));
        assert_eq!(std::fs::read_dir(p).unwrap().count(), 0, "{url} created a directory");
    }
    let abs = std::fs::canonicalize(p).unwrap();
    let t1 = format!("file://{}/t1", abs.display());
    let t2 = format!("file:{}/t2", abs.display());
    for (uri, dir) in [(&t1, "t1"), (&t2, "t2")] {
        ok(p, &["create", uri, "--schema", "id:long!"]);
        std::fs::write(p.join("one.csv"), "id\n1\n").unwrap();
        ok(p, &["append", uri, "one.csv"]);
        assert_eq!(cli_ids(p, dir), [1]);
        assert_eq!(cli_ids(p, uri), [1]);
    }
    let mut entries: Vec<String> =
        std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    entries.sort();
    assert_eq!(entries, ["one.csv", "t1", "t2"]);
}

// ------------------------------------------------------------------ the library
