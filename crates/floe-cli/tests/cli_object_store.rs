//! The `floe` command on a table in a bucket: every kind of subcommand takes an
//! `s3://` URL, with `--storage-option KEY=VALUE` options, against the S3 server that
//! `scripts/s3-server.sh` starts (skipped without `FLOE_S3_ENDPOINT` unless
//! `FLOE_S3_REQUIRED` is set, as `scripts/test.sh` sets it).

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

fn s3() -> Option<(String, String)> {
    match (std::env::var("FLOE_S3_ENDPOINT"), std::env::var("FLOE_S3_BUCKET")) {
        (Ok(e), Ok(b)) => Some((e, b)),
        _ if std::env::var_os("FLOE_S3_REQUIRED").is_some() => panic!("FLOE_S3_REQUIRED without FLOE_S3_ENDPOINT"),
        _ => {
            eprintln!("skipped: no S3 server (see scripts/s3-server.sh)");
            None
        }
    }
}

/// floe with the server's options; the AWS_* environment is removed so the options
/// alone must carry the configuration.
fn floe(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(FLOE);
    for (k, v) in [
        ("aws_endpoint", endpoint),
        ("aws_allow_http", "true"),
        ("aws_access_key_id", "floe"),
        ("aws_secret_access_key", "floe-secret"),
        ("aws_region", "us-east-1"),
    ] {
        cmd.arg("--storage-option").arg(format!("{k}={v}"));
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null()).output().unwrap()
}

#[track_caller]
fn ok(dir: &Path, endpoint: &str, args: &[&str]) -> String {
    let out = floe(dir, endpoint, args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "floe {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    stdout.into_owned()
}

#[track_caller]
fn json(dir: &Path, endpoint: &str, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let s = ok(dir, endpoint, &all);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("floe {args:?} printed no JSON ({e}):\n{s}"))
}

fn scan_ids(dir: &Path, endpoint: &str, table: &str) -> Vec<i64> {
    let out = ok(dir, endpoint, &["scan", table, "--select", "id", "--format", "csv"]);
    let mut ids: Vec<i64> = out.lines().filter_map(|l| l.trim().parse().ok()).collect();
    ids.sort();
    ids
}

#[test]
fn every_kind_of_subcommand_works_on_an_s3_url() {
    let Some((endpoint, bucket)) = s3() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let e = endpoint.as_str();
    let table = format!("s3://{bucket}/cli-{}", uuid::Uuid::new_v4());
    let t = table.as_str();
    std::fs::write(dir.join("a.csv"), "id,name\n1,a\n2,b\n3,c\n").unwrap();
    std::fs::write(dir.join("b.csv"), "id,name\n4,d\n5,e\n").unwrap();
    std::fs::write(dir.join("up.csv"), "id,name\n5,E\n6,f\n").unwrap();
    ok(dir, e, &["create", t, "--schema", "id:long!,name:string"]);
    ok(dir, e, &["append", t, "a.csv"]);
    ok(dir, e, &["append", t, "b.csv"]);
    assert_eq!(scan_ids(dir, e, t), vec![1, 2, 3, 4, 5]);
    ok(dir, e, &["upsert", t, "up.csv", "--key", "id"]);
    ok(dir, e, &["delete", t, "--where", "id = 1"]);
    assert_eq!(scan_ids(dir, e, t), vec![2, 3, 4, 5, 6]);
    let info = json(dir, e, &["info", t]);
    assert!(info.to_string().contains(t), "{info}");
    let history = json(dir, e, &["history", t]);
    assert!(history.to_string().contains("append"), "{history}");
    ok(dir, e, &["snapshots", t]);
    ok(dir, e, &["files", t]);
    ok(dir, e, &["stats", t]);
    ok(dir, e, &["alter", t, "add-column", "score", "double"]);
    ok(dir, e, &["compact", t]);
    ok(dir, e, &["expire", t, "--older-than", "0s", "--retain-last", "1"]);
    ok(dir, e, &["remove-orphans", t, "--older-than", "0s", "--allow-short-grace"]);
    ok(dir, e, &["verify", t]);
    assert_eq!(scan_ids(dir, e, t), vec![2, 3, 4, 5, 6]);
}

#[test]
fn a_bad_storage_option_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(FLOE)
        .args(["--storage-option", "no-equals-sign", "info", "s3://b/t"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEY=VALUE"));
    let out = Command::new(FLOE)
        .args(["--storage-option", "aws_bogus=1", "info", "s3://b/t"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("aws_bogus"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `floe sql` on tables in a bucket: `--table NAME=s3://…` and `--root s3://prefix`
/// (its child tables listed from the bucket), reads, a join, INSERT, DELETE and UPDATE,
/// with the same `--storage-option`s as every other subcommand.
#[test]
fn sql_on_s3_tables_and_roots() {
    let Some((endpoint, bucket)) = s3() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let e = endpoint.as_str();
    let root = format!("s3://{bucket}/cli-sql-{}", uuid::Uuid::new_v4());
    let (users, scores) = (format!("{root}/users"), format!("{root}/scores"));
    std::fs::write(dir.join("u.csv"), "id,name\n1,a\n2,b\n3,c\n").unwrap();
    std::fs::write(dir.join("s.csv"), "id,score\n1,5\n2,7\n").unwrap();
    ok(dir, e, &["create", &users, "--schema", "id:long!,name:string"]);
    ok(dir, e, &["append", &users, "u.csv"]);
    ok(dir, e, &["create", &scores, "--schema", "id:long!,score:long"]);
    ok(dir, e, &["append", &scores, "s.csv"]);
    let r = root.as_str();
    let names = ok(
        dir,
        e,
        &[
            "sql",
            "--root",
            r,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
        ],
    );
    assert_eq!(names, "table_name\nscores\nusers\n");
    let joined = ok(dir, e, &["sql", "--root", r, "SELECT name, score FROM users JOIN scores USING (id) ORDER BY id"]);
    assert_eq!(joined, "name,score\na,5\nb,7\n");
    let t = format!("u={users}");
    let out = ok(
        dir,
        e,
        &[
            "sql",
            "-t",
            &t,
            "INSERT INTO u VALUES (4, 'd'); DELETE FROM u WHERE id = 1; UPDATE u SET name = 'B' WHERE id = 2; \
             SELECT * FROM u ORDER BY id",
        ],
    );
    assert_eq!(out, "count\n1\ncount\n1\ncount\n1\nid,name\n2,B\n3,c\n4,d\n");
    assert_eq!(scan_ids(dir, e, &users), vec![2, 3, 4]);
    // A location that holds no table: a usage error before any query runs.
    let missing = format!("x={root}/nothing-here");
    let out = floe(dir, e, &["sql", "-t", &missing, "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
