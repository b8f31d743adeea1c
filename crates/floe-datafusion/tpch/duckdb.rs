//! DuckDB (`iceberg_scan`, from the interop venv) running the 22 TPC-H queries over the
//! same floe tables: the reference results of the TPC-H test and the third column of
//! the TPC-H bench. Drives `tpch/duckdb_tpch.py` with `$FLOE_VENV_PYTHON` (the
//! interpreter `interop/setup.sh` prints; its DuckDB loads the avro and iceberg
//! extensions from pip packages, offline).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// One DuckDB run: its version, each query's rows (first run) and timings.
pub struct DuckRun {
    pub version: String,
    pub results: BTreeMap<u32, Vec<Vec<Value>>>,
    #[allow(dead_code)] // read by the bench, not the test
    pub times_ms: BTreeMap<u32, Vec<f64>>,
}

/// The interop venv's python: `$FLOE_VENV_PYTHON`. `None` (after a loud notice) when it
/// is unset and `$FLOE_VENV_REQUIRED` is not; a set but missing interpreter, or unset
/// with `FLOE_VENV_REQUIRED`, panics.
pub fn python(what: &str) -> Option<PathBuf> {
    match std::env::var_os("FLOE_VENV_PYTHON") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "FLOE_VENV_PYTHON={} does not exist", p.display());
            Some(p)
        }
        None if std::env::var_os("FLOE_VENV_REQUIRED").is_some() => {
            panic!("FLOE_VENV_REQUIRED is set but FLOE_VENV_PYTHON is not (bash interop/setup.sh | tail -n 1)")
        }
        None => {
            let bar = "!".repeat(78);
            let notice = format!(
                "\n{bar}\n!! {what}: DuckDB SKIPPED (FLOE_VENV_PYTHON unset; `bash interop/setup.sh | tail -n 1` \
                 prints it)\n{bar}\n"
            );
            use std::io::Write;
            let _ = std::io::stderr().write_all(notice.as_bytes());
            None
        }
    }
}

/// Runs `queries` `runs` times each in DuckDB over the tables under `root`.
pub fn run(
    python: &Path,
    root: &Path,
    tables: &[&str],
    queries: &[(u32, &str)],
    runs: usize,
    threads: usize,
) -> DuckRun {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = here.join("tpch/duckdb_tpch.py");
    let interop = here.join("../../interop");
    let mut map = serde_json::Map::new();
    for t in tables {
        let table = floe::Table::open(root.join(t)).expect("open TPC-H table");
        map.insert(t.to_string(), Value::String(table.metadata_path().to_string_lossy().into_owned()));
    }
    let qs: Vec<Value> = queries.iter().map(|(n, q)| serde_json::json!([n, q])).collect();
    let out = Command::new(python)
        .arg(&script)
        .arg(&interop)
        .arg(Value::Object(map).to_string())
        .arg(Value::Array(qs).to_string())
        .arg(runs.to_string())
        .arg(threads.to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run the venv python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "duckdb_tpch.py failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().rev().find(|l| !l.trim().is_empty()).expect("duckdb_tpch.py printed nothing");
    let doc: Value = serde_json::from_str(last).expect("duckdb_tpch.py JSON");
    let key = |k: &String| k.parse::<u32>().expect("query number");
    let results = doc["results"]
        .as_object()
        .expect("results")
        .iter()
        .map(|(k, v)| {
            let rows = v.as_array().expect("rows").iter().map(|r| r.as_array().expect("row").clone()).collect();
            (key(k), rows)
        })
        .collect();
    let times_ms = doc["times_ms"]
        .as_object()
        .expect("times")
        .iter()
        .map(|(k, v)| (key(k), v.as_array().expect("times").iter().filter_map(Value::as_f64).collect()))
        .collect();
    DuckRun { version: doc["duckdb"].as_str().unwrap_or("?").to_string(), results, times_ms }
}
