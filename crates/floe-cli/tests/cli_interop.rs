//! The `floe` command on tables other implementations wrote: datashard 0.11.2 (the
//! same directory layout, `v<N>.metadata.json` and a version hint) and pyiceberg 0.12
//! through its SQL catalog (catalog-style `00000-<uuid>.metadata.json`, opened by
//! metadata file). info, history, snapshots, files, stats, scan and verify must work on
//! them, and a `floe append` to the datashard table must be readable by datashard.
//!
//! Environment as in tests/interop.rs: `$FLOE_VENV_PYTHON`, or the interpreter that
//! `interop/setup.sh` prints. If neither works the tests fail, unless
//! `FLOE_SKIP_INTEROP=1`, in which case they print a loud notice and check nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();

fn find_python() -> Result<PathBuf, String> {
    let repo = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let python = match std::env::var_os("FLOE_VENV_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let out = Command::new("bash")
                .arg(repo.join("interop/setup.sh"))
                .current_dir(repo)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run interop/setup.sh: {e}"))?;
            if !out.status.success() {
                return Err(format!("interop/setup.sh failed: {}", String::from_utf8_lossy(&out.stderr)));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            PathBuf::from(
                stdout.lines().rev().map(str::trim).find(|l| !l.is_empty()).ok_or("setup.sh printed nothing")?,
            )
        }
    };
    if python.is_file() { Ok(python) } else { Err(format!("python interpreter {} does not exist", python.display())) }
}

/// The venv's python, or `None` after a loud notice when `FLOE_SKIP_INTEROP=1`.
fn python() -> Option<&'static Path> {
    match PYTHON.get_or_init(find_python) {
        Ok(p) => Some(p.as_path()),
        Err(e) if std::env::var("FLOE_SKIP_INTEROP").as_deref() == Ok("1") => {
            let bar = "!".repeat(78);
            let notice = format!(
                "\n{bar}\n!! CLI INTEROP TEST SKIPPED (FLOE_SKIP_INTEROP=1): nothing was checked.\n!! {e}\n{bar}\n"
            );
            let _ = std::io::stderr().write_all(notice.as_bytes());
            None
        }
        Err(e) => panic!("interop environment unavailable (set FLOE_SKIP_INTEROP=1 to skip these tests): {e}"),
    }
}

fn py_json(python: &Path, args: &[&str]) -> Value {
    let out = Command::new(python).args(args).stdin(Stdio::null()).output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python {args:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("python {args:?}: no JSON ({e}): {stdout}"))
}

fn script() -> String {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).join("interop/floe_interop.py").display().to_string()
}

#[track_caller]
fn floe(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(FLOE).args(args).current_dir(dir).env("NO_COLOR", "1").output().expect("run floe");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "floe {args:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout.into_owned()
}

#[track_caller]
fn floe_json(dir: &Path, args: &[&str]) -> Value {
    let s = floe(dir, args);
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("floe {args:?}: not JSON ({e}):\n{s}"))
}

fn csv_ids(csv: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    ids.sort();
    ids
}

#[test]
fn floe_cli_on_a_datashard_table() {
    let Some(py) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let table = p.join("ds");
    let t = table.to_str().unwrap();
    let s = script();
    py_json(py, &[&s, "datashard-create", t, "--start", "0", "--count", "5"]);
    py_json(py, &[&s, "datashard-append", t, "--start", "5", "--count", "5", "--batches", "2"]);

    let info = floe_json(p, &["info", "ds", "--json"]);
    assert_eq!(info["format_version"], 2);
    assert_eq!(info["total_records"], 15, "{info}");
    let hist = floe_json(p, &["history", "ds", "--json"]);
    assert_eq!(hist.as_array().unwrap().len(), 3, "{hist}");
    assert!(floe(p, &["history", "ds"]).contains("append"));
    let snaps = floe_json(p, &["snapshots", "ds", "--json"]);
    assert_eq!(snaps.as_array().unwrap().len(), 3);
    let files = floe_json(p, &["files", "ds", "--json"]);
    assert!(!files["files"].as_array().unwrap().is_empty());
    let stats = floe_json(p, &["stats", "ds", "--json"]);
    assert_eq!(stats["snapshots_retained"], 3);
    assert_eq!(stats["commits_with_attempt_record"], 0, "datashard records no floe attempt keys");
    assert_eq!(csv_ids(&floe(p, &["scan", "ds", "--select", "id"])), (0..15).collect::<Vec<i64>>());
    let v = floe_json(p, &["verify", "ds", "--deep", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["rows_read"], 15);

    // floe appends to the datashard table; datashard reads the row back.
    std::fs::write(p.join("more.csv"), "id,name,value\n100,from-floe,1.5\n").unwrap();
    floe(p, &["append", "ds", "more.csv"]);
    let doc = py_json(py, &[&s, "datashard-read", t]);
    assert_eq!(doc["count"], 16, "{doc}");
    assert!(doc["rows"].as_array().unwrap().iter().any(|r| r["name"] == "from-floe"));
    assert_eq!(floe_json(p, &["verify", "ds", "--json"])["ok"], true);
}

/// pyiceberg's SQL catalog writes catalog-style metadata files; floe opens them by path.
const PYICEBERG_WRITER: &str = r#"
import json, pathlib, sys
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

root = pathlib.Path(sys.argv[1]).resolve()
catalog = SqlCatalog("cli", uri=f"sqlite:///{root}/catalog.db", warehouse=root.as_uri())
catalog.create_namespace("ns")
schema = Schema(NestedField(1, "id", LongType(), required=True), NestedField(2, "name", StringType(), required=False))
table = catalog.create_table("ns.t", schema=schema)
for start in (1, 4):
    ids = list(range(start, start + 3))
    table.append(pa.table({"id": pa.array(ids, pa.int64()), "name": [f"py-{i}" for i in ids]}, schema=schema.as_arrow()))
table = catalog.load_table("ns.t")
print(json.dumps({"metadata": table.metadata_location}))
"#;

#[test]
fn floe_cli_on_a_pyiceberg_table() {
    let Some(py) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let doc = py_json(py, &["-c", PYICEBERG_WRITER, p.to_str().unwrap()]);
    let uri = doc["metadata"].as_str().unwrap();
    let metadata = uri.strip_prefix("file://").unwrap_or(uri).to_string();

    let info = floe_json(p, &["info", &metadata, "--json"]);
    assert_eq!(info["total_records"], 6, "{info}");
    assert_eq!(info["version"], 0, "a catalog-style file has no version number");
    assert!(floe(p, &["info", &metadata]).contains("version           - ("));
    assert_eq!(floe_json(p, &["history", &metadata, "--json"]).as_array().unwrap().len(), 2);
    assert_eq!(csv_ids(&floe(p, &["scan", &metadata])), [1, 2, 3, 4, 5, 6]);
    let first = floe_json(p, &["snapshots", &metadata, "--json"])[0]["snapshot_id"].as_i64().unwrap();
    assert_eq!(csv_ids(&floe(p, &["scan", &metadata, "--snapshot", &first.to_string()])), [1, 2, 3]);
    floe_json(p, &["files", &metadata, "--json"]);
    floe_json(p, &["stats", &metadata, "--json"]);
    let v = floe_json(p, &["verify", &metadata, "--deep", "--json"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["rows_read"], 6);
}

/// Rows as (id, label, n, country, ts to the second), sorted by id: the form every
/// reader's JSON can be brought to (floe writes `…Z`, pyiceberg and DuckDB `…+00:00`).
type EvolvedRow = (i64, Option<String>, Option<i64>, Option<String>, Option<String>);

fn evolved_rows(rows: &[Value]) -> Vec<EvolvedRow> {
    let s = |v: &Value| v.as_str().map(str::to_string);
    let mut out: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                s(&r["label"]),
                r["n"].as_i64(),
                s(&r["country"]),
                r["ts"].as_str().map(|t| t.chars().take(19).collect::<String>()),
            )
        })
        .collect();
    out.sort();
    out
}

/// A table evolved from the shell (columns added, renamed and widened; partitioned
/// afterwards; upserted across old and new files) reads the same in pyiceberg and
/// DuckDB as in `floe scan`.
#[test]
fn floe_cli_evolved_table_reads_the_same_in_pyiceberg_and_duckdb() {
    let Some(py) = python() else { return };
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let t = p.join("t");
    let t = t.to_str().unwrap();
    let s = script();
    floe(p, &["create", "t", "--schema", "id:long!,name:string,n:int,ts:timestamptz"]);
    std::fs::write(
        p.join("a.csv"),
        "id,name,n,ts\n1,ada,1,2026-01-05 09:00:00\n2,grace,2,2026-01-06 09:30:00\n3,edsger,3,2026-01-06 11:00:00\n",
    )
    .unwrap();
    floe(p, &["append", "t", "a.csv"]);
    floe(p, &["alter", "t", "add-column", "country", "string", "rename-column", "name", "label", "widen", "n", "long"]);
    floe(p, &["alter", "t", "set-partition", "day(ts), bucket(4, id)"]);
    std::fs::write(
        p.join("b.csv"),
        "id,label,n,country,ts\n4,alan,5000000000,UK,2026-01-07 08:00:00\n5,barbara,5,US,2026-01-07 09:00:00\n",
    )
    .unwrap();
    floe(p, &["append", "t", "b.csv"]);
    // Replaces a row of the old unpartitioned file and one of the new partitioned ones.
    std::fs::write(
        p.join("u.ndjson"),
        "{\"id\": 2, \"label\": \"GRACE\", \"n\": 20, \"country\": \"US\", \"ts\": \"2026-01-06T09:30:00Z\"}\n\
         {\"id\": 5, \"label\": \"B\", \"country\": \"NL\", \"ts\": \"2026-01-08T00:00:00Z\"}\n\
         {\"id\": 6, \"label\": \"new\", \"ts\": \"2026-01-09T00:00:00Z\"}\n",
    )
    .unwrap();
    let r = floe_json(p, &["upsert", "t", "--key", "id", "u.ndjson", "--json"]);
    assert_eq!((r["rows_added"].as_u64(), r["rows_removed"].as_u64()), (Some(3), Some(2)), "{r}");

    let floe_rows: Vec<Value> =
        floe(p, &["scan", "t", "--format", "json"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let want = evolved_rows(&floe_rows);
    assert_eq!(want.len(), 6);
    assert_eq!(want[1], (2, Some("GRACE".into()), Some(20), Some("US".into()), Some("2026-01-06T09:30:00".into())));
    assert_eq!(want[3].2, Some(5_000_000_000), "a widened column holds a long");
    assert_eq!(want[0].3, None, "an added column reads as null in old files");
    for reader in ["pyiceberg-read", "duckdb-read"] {
        let doc = py_json(py, &[&s, reader, t]);
        let got = evolved_rows(doc["rows"].as_array().unwrap());
        assert_eq!(got, want, "{reader} reads other rows than floe scan: {doc}");
    }
    assert_eq!(floe_json(p, &["verify", "t", "--deep", "--json"])["ok"], true);
}
