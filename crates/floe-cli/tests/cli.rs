//! The `floe` binary, run as a user would: every command, every output format, the exit
//! codes, and every bad input the CLI promises a clear one-line error for.
//!
//! Each test works in its own temporary directory and runs the binary Cargo built for
//! this test (`CARGO_BIN_EXE_floe`) with `NO_COLOR=1` and output piped (so no progress
//! bars and machine formats by default).

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

fn floe_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(FLOE).args(args).current_dir(dir).env("NO_COLOR", "1").stdin(Stdio::null()).output().expect("run floe")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs floe and asserts the exit code; returns (stdout, stderr).
#[track_caller]
fn run(dir: &Path, args: &[&str], code: i32) -> (String, String) {
    let out = floe_in(dir, args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "floe {args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
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

/// Asserts a failure with exit `code` and exactly one line on stderr containing every
/// fragment (and no panic).
#[track_caller]
fn fails(dir: &Path, args: &[&str], code: i32, fragments: &[&str]) -> String {
    let (_, stderr) = run(dir, args, code);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "floe {args:?}: expected one error line, got:\n{stderr}");
    assert!(lines[0].starts_with("floe: error: "), "floe {args:?}: {stderr}");
    for f in fragments {
        assert!(stderr.contains(f), "floe {args:?}: {f:?} not in {stderr:?}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// A table `t` with schema id long!, name string, score double, and rows 1..=3.
fn table_with_rows(dir: &Path) {
    ok(dir, &["create", "t", "--schema", "id:long!,name:string,score:double"]);
    write(dir, "a.csv", "id,name,score\n1,ada,9.5\n2,grace,8\n3,edsger,\n");
    ok(dir, &["append", "t", "a.csv"]);
}

fn csv_ids(csv: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    ids.sort();
    ids
}

// ------------------------------------------------------------------ create

#[test]
fn create_with_schema_text_prints_the_schema() {
    let d = tempfile::tempdir().unwrap();
    let out = ok(d.path(), &["create", "t", "--schema", "id:long!,name:string,ts:timestamptz,price:decimal(10, 2)"]);
    assert!(out.starts_with("created table "), "{out}");
    assert!(out.contains("| 1  | id    | long           | required |") || out.contains("|  1 | id"), "{out}");
    assert!(out.contains("decimal(10, 2)"), "{out}");
    assert!(d.path().join("t/metadata/v1.metadata.json").exists());
    let info = json(d.path(), &["info", "t", "--json"]);
    let fields = info["schema"]["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 4);
    assert_eq!(fields[0]["name"], "id");
    assert_eq!(fields[0]["required"], true);
    assert_eq!(fields[3]["type"], "decimal(10,2)");
    assert_eq!(info["version"], 1);
    assert_eq!(info["current_snapshot_id"], Value::Null);
}

#[test]
fn create_json_and_properties() {
    let d = tempfile::tempdir().unwrap();
    let v = json(d.path(), &["create", "t", "--schema", "id:int", "--property", "owner=me", "--json"]);
    assert_eq!(v["version"], 1);
    let info = json(d.path(), &["info", "t", "--json"]);
    assert_eq!(info["properties"]["owner"], "me");
}

#[test]
fn create_like_parquet_csv_json() {
    let d = tempfile::tempdir().unwrap();
    table_with_rows(d.path());
    ok(d.path(), &["scan", "t", "--output", "rows.parquet"]);
    ok(d.path(), &["create", "p", "--like", "rows.parquet"]);
    let s = json(d.path(), &["info", "p", "--json"]);
    let f = &s["schema"]["fields"];
    assert_eq!(f[0]["name"], "id");
    assert_eq!(f[0]["type"], "long");
    assert_eq!(f[0]["required"], true, "a Parquet schema keeps required columns");
    assert_eq!(f[2]["type"], "double");

    write(d.path(), "s.csv", "id,name,when,ok\n1,a,2024-01-02,true\n2,b,2024-01-03,false\n");
    ok(d.path(), &["create", "c", "--like", "s.csv"]);
    let s = json(d.path(), &["info", "c", "--json"]);
    let types: Vec<&str> =
        s["schema"]["fields"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["long", "string", "date", "boolean"]);
    ok(d.path(), &["append", "c", "s.csv"]);

    write(d.path(), "s.ndjson", "{\"id\": 1, \"tags\": \"x\", \"v\": 1.5}\n");
    ok(d.path(), &["create", "j", "--like", "s.ndjson"]);
    let s = json(d.path(), &["info", "j", "--json"]);
    let types: Vec<&str> =
        s["schema"]["fields"].as_array().unwrap().iter().map(|f| f["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["long", "string", "double"]);
}

#[test]
fn create_bad_inputs() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fails(p, &["create", "t", "--schema", "id:lng"], 2, &["schema column \"id:lng\"", "unknown or unsupported type"]);
    fails(p, &["create", "t", "--schema", "id"], 2, &["no ':'"]);
    fails(p, &["create", "t", "--schema", "id:long,id:int"], 2, &["id"]);
    fails(p, &["create", "t", "--schema", ""], 2, &["no columns"]);
    fails(p, &["create", "t", "--like", "nope.parquet"], 2, &["nope.parquet"]);
    write(p, "x.txt", "hello");
    fails(p, &["create", "t", "--like", "x.txt"], 2, &["x.txt", "unknown file type"]);
    write(p, "fake.parquet", "not parquet at all");
    fails(p, &["create", "t", "--like", "fake.parquet"], 2, &["fake.parquet", "not a readable Parquet file"]);
    fails(p, &["create", "t", "--schema", "id:long", "--property", "novalue"], 2, &["KEY=VALUE"]);
    assert!(!p.join("t").exists() || !p.join("t/metadata/v1.metadata.json").exists(), "nothing created");
    ok(p, &["create", "t", "--schema", "id:long"]);
    fails(p, &["create", "t", "--schema", "id:long"], 2, &["a table already exists"]);
}

/// The command starts without relocating itself (crates/floe-cli/build.rs): on Linux
/// with glibc it is linked as a position-dependent executable (ELF type `ET_EXEC`, 2)
/// unless it was built with `FLOE_CLI_PIE=1` (`ET_DYN`, 3). A one-row `floe append`
/// process spent ~4 of its ~11 ms applying relocations as a PIE.
#[test]
#[cfg(all(target_os = "linux", target_env = "gnu", not(target_feature = "crt-static")))]
fn the_command_is_linked_without_load_time_relocations() {
    use std::io::Read;
    let mut header = [0u8; 18];
    std::fs::File::open(FLOE).unwrap().read_exact(&mut header).unwrap();
    assert_eq!(&header[..4], b"\x7fELF");
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    let pie = std::env::var("FLOE_CLI_PIE").is_ok_and(|v| !v.is_empty() && v != "0");
    assert_eq!(e_type, if pie { 3 } else { 2 }, "ELF type of {FLOE} (FLOE_CLI_PIE set: {pie})");
}

#[test]
fn bad_usage_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for args in [
        &[][..],
        &["nonsense"],
        &["create", "t"],
        &["create", "t", "--schema", "id:long", "--like", "x.csv"],
        &["append", "t"],
        &["scan"],
        &["scan", "t", "--snapshot", "1", "--version", "2"],
        &["scan", "t", "--format", "xml"],
        &["scan", "t", "--limit", "-1"],
    ] {
        let out = floe_in(p, args);
        assert_eq!(out.status.code(), Some(2), "floe {args:?}: {}", text(&out.stderr));
        assert!(!text(&out.stderr).contains("panicked"));
    }
    // --help works for every command and shows examples.
    for cmd in ["create", "append", "scan", "info", "history", "snapshots", "files", "stats", "verify"] {
        let out = ok(p, &[cmd, "--help"]);
        assert!(out.contains("Examples:"), "{cmd} --help:\n{out}");
    }
    let out = ok(p, &["--help"]);
    assert!(out.contains("Exit status"), "{out}");
}

#[test]
fn missing_table_is_one_line() {
    let d = tempfile::tempdir().unwrap();
    for cmd in ["info", "history", "snapshots", "files", "stats", "verify", "scan"] {
        fails(d.path(), &[cmd, "nowhere"], 2, &["no table at"]);
    }
    write(d.path(), "x.csv", "id\n1\n");
    fails(d.path(), &["append", "nowhere", "x.csv"], 2, &["no table at"]);
}

// ------------------------------------------------------------------ append

#[test]
fn append_csv_parquet_json_in_one_commit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    ok(p, &["scan", "t", "--output", "x.parquet"]);
    write(p, "more.ndjson", "{\"id\": 10, \"name\": \"n10\"}\n\n{\"id\": 11, \"score\": 0.5}\n");
    write(p, "more.csv", "name,id\nzed,20\n");
    let v = json(p, &["append", "t", "x.parquet", "more.ndjson", "more.csv", "--json"]);
    assert_eq!(v["version"], 3);
    assert_eq!(v["added_records"], 6);
    assert_eq!(v["attempts"], 1);
    assert_eq!(v["inputs"][0]["format"], "parquet");
    assert_eq!(v["inputs"][1]["rows"], 2);
    let csv = ok(p, &["scan", "t"]);
    assert_eq!(csv_ids(&csv), [1, 1, 2, 2, 3, 3, 10, 11, 20]);
    let hist = json(p, &["history", "t", "--json"]);
    assert_eq!(hist.as_array().unwrap().len(), 2, "one commit for all three files");
}

#[test]
fn append_text_report() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,name:string"]);
    write(p, "a.csv", "id,name\n1,a\n2,b\n");
    let (out, stderr) = run(p, &["append", "t", "a.csv"], 0);
    assert!(stderr.is_empty(), "no progress bar when stderr is not a terminal: {stderr:?}");
    assert!(out.starts_with("committed v2 (snapshot "), "{out}");
    assert!(out.contains("2 row(s) in 1 data file(s)"), "{out}");
    assert!(out.contains("a.csv (csv): 2 row(s)"), "{out}");
    assert!(out.contains("attempts 1, lost races 0, rebased over 0 version(s)"), "{out}");
}

/// A durable commit whose fsync of `metadata/` fails after the commit point (injected
/// with `FLOE_FAIL_POINT`, the CLI has no fault-injecting storage) is not a plain
/// success: exit status 1, one line saying it is committed at its version and must not
/// be retried; the rows are in the table once.
#[test]
fn a_commit_not_known_durable_exits_1_and_says_not_to_retry() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,name:string"]);
    write(p, "a.csv", "id,name\n1,a\n2,b\n");
    let out = Command::new(FLOE)
        .args(["append", "t", "a.csv"])
        .current_dir(p)
        .env("NO_COLOR", "1")
        .env("FLOE_FAIL_POINT", "sync-metadata-dir")
        .stdin(Stdio::null())
        .output()
        .expect("run floe");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for fragment in ["floe: error: committed as v2", "not known to be durable", "do not retry"] {
        assert!(stderr.contains(fragment), "{fragment:?} not in {stderr:?}");
    }
    assert_eq!(csv_ids(&ok(p, &["scan", "t"])), [1, 2], "committed once");
}

#[test]
fn append_types_from_csv() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(
        p,
        &[
            "create",
            "t",
            "--schema",
            "i:int,l:long,f:float,d:double,b:boolean,dt:date,tm:time,ts:timestamp,tz:timestamptz,s:string,dec:decimal(9,3),u:uuid",
        ],
    );
    write(
        p,
        "all.csv",
        "i,l,f,d,b,dt,tm,ts,tz,s,dec,u\n\
         1,2,1.5,2.25,true,2024-02-29,12:34:56.5,2024-01-02 03:04:05,2024-01-02T03:04:05+02:00,\"a,b\",1.234,f81d4fae-7dec-11d0-a765-00a0c91e6bf6\n\
         ,,,,,,,,,,,\n",
    );
    ok(p, &["append", "t", "all.csv"]);
    let rows = ok(p, &["scan", "t", "--format", "json"]);
    let first: Value = serde_json::from_str(rows.lines().next().unwrap()).unwrap();
    assert_eq!(first["i"], 1);
    assert_eq!(first["b"], true);
    assert_eq!(first["dt"], "2024-02-29");
    assert_eq!(first["tz"], "2024-01-02T01:04:05Z", "offsets are converted to UTC");
    assert_eq!(first["s"], "a,b");
    let second: Value = serde_json::from_str(rows.lines().nth(1).unwrap()).unwrap();
    assert!(second.as_object().unwrap().values().all(Value::is_null), "{second}");
    let files = json(p, &["files", "t", "--json"]);
    let cols = files["files"][0]["columns"].as_array().unwrap();
    let u = cols.iter().find(|c| c["name"] == "u").unwrap();
    assert_eq!(u["lower"], "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
}

#[test]
fn append_bad_inputs_name_file_row_and_column() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,name:string,day:date"]);
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        ("v.csv", "id,name\n1,a\n2,b\nx3,c\n", vec!["v.csv: row 3, column id: cannot read \"x3\" as long"]),
        ("d.csv", "id,day\n1,2024-13-01\n", vec!["d.csv: row 1, column day: cannot read \"2024-13-01\" as date"]),
        ("f.csv", "id\n1.5\n", vec!["f.csv: row 1, column id: cannot read \"1.5\" as long"]),
        ("n.csv", "id,name\n1,a\n,b\n", vec!["n.csv: row 2, column id: null in required column"]),
        ("u.csv", "id,nmae\n1,a\n", vec!["u.csv: column nmae: not a column of the table", "columns: id, name, day"]),
        ("m.csv", "name\na\n", vec!["m.csv: column id", "required column is missing"]),
        ("dup.csv", "id,id\n1,1\n", vec!["column id", "twice"]),
        ("short.csv", "id,name\n1\n", vec!["short.csv", "reading CSV"]),
        ("empty.csv", "", vec!["empty.csv", "header"]),
        ("b.ndjson", "{\"id\": 1}\n{\"id\": \"zz\"}\n", vec!["b.ndjson: row 2", "zz"]),
        ("k.ndjson", "{\"id\": 1, \"extra\": 2}\n", vec!["k.ndjson: row 1", "extra"]),
        ("r.ndjson", "{\"id\": 1}\n\n{\"name\": \"x\"}\n", vec!["r.ndjson: row 3, column id", "required column"]),
        ("j.ndjson", "{\"id\": 1\n", vec!["j.ndjson: row 1"]),
        ("bad.parquet", "PAR1 nope", vec!["bad.parquet", "not a readable Parquet file"]),
        ("x.xlsx", "whatever", vec!["x.xlsx", "unknown file type"]),
    ];
    for (name, content, frags) in &cases {
        write(p, name, content);
        fails(p, &["append", "t", name], 2, frags);
    }
    fails(p, &["append", "t", "missing.csv"], 2, &["missing.csv"]);
    // A good file followed by a bad one: nothing is committed, nothing left behind.
    write(p, "good.csv", "id\n1\n");
    fails(p, &["append", "t", "good.csv", "v.csv"], 2, &["v.csv: row 3"]);
    let info = json(p, &["info", "t", "--json"]);
    assert_eq!(info["version"], 1);
    assert_eq!(std::fs::read_dir(p.join("t/data")).unwrap().count(), 0, "no data file left behind");
    // A Parquet file whose column has the wrong type.
    ok(p, &["create", "s", "--schema", "id:string"]);
    write(p, "s.csv", "id\nabc\n");
    ok(p, &["append", "s", "s.csv"]);
    ok(p, &["scan", "s", "--output", "s.parquet"]);
    fails(p, &["append", "t", "s.parquet"], 2, &["s.parquet: column id", "cannot be stored"]);
    // A header-only file commits nothing.
    write(p, "header.csv", "id,name\n");
    assert_eq!(ok(p, &["append", "t", "header.csv"]), "no rows in the input: nothing committed\n");
    assert_eq!(json(p, &["info", "t", "--json"])["version"], 1);
    // Decimals: extra fraction digits are refused, not rounded; trailing zeros are fine.
    ok(p, &["create", "dec", "--schema", "d:decimal(9,3)"]);
    write(p, "d1.csv", "d\n1.2345\n");
    fails(p, &["append", "dec", "d1.csv"], 2, &["row 1, column d", "more than 3 digit(s) after the decimal point"]);
    write(p, "d2.csv", "d\n1.2340\n-7\n");
    ok(p, &["append", "dec", "d2.csv"]);
    assert_eq!(ok(p, &["scan", "dec"]), "d\n1.234\n-7.000\n");
    write(p, "d3.ndjson", "{\"d\": 1}\n{\"d\": 1.2345}\n");
    fails(
        p,
        &["append", "dec", "d3.ndjson"],
        2,
        &["d3.ndjson: row 2, column d: cannot read \"1.2345\" as decimal(9, 3): more than 3 digit(s) after"],
    );
    write(p, "d4.ndjson", "{\"d\": 12345678.5}\n");
    fails(p, &["append", "dec", "d4.ndjson"], 2, &["d4.ndjson: row 1", "12345678.5"]);
    write(p, "d5.ndjson", "{\"d\": \"2.50\"}\n{\"d\": 3}\n");
    ok(p, &["append", "dec", "d5.ndjson"]);
    assert_eq!(ok(p, &["scan", "dec"]), "d\n1.234\n-7.000\n2.500\n3.000\n");
    // Times are microseconds: more digits are refused, trailing zeros are fine.
    ok(p, &["create", "tm", "--schema", "ts:timestamptz,t:time"]);
    write(p, "tm1.csv", "ts,t\n2026-01-01T00:00:00.1234567Z,\n");
    fails(p, &["append", "tm", "tm1.csv"], 2, &["row 1, column ts", "more precise than the microseconds"]);
    write(p, "tm2.csv", "ts,t\n2026-01-01T00:00:00.123456000Z,10:00:00.5\n");
    ok(p, &["append", "tm", "tm2.csv"]);
    assert_eq!(ok(p, &["scan", "tm"]), "ts,t\n2026-01-01T00:00:00.123456Z,10:00:00.500\n");
    // --format overrides the extension.
    write(p, "rows.txt", "id\n7\n");
    ok(p, &["append", "t", "rows.txt", "--format", "csv"]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t"])), [7]);
}

#[test]
fn append_streams_in_batches() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,name:string"]);
    let mut csv = String::from("id,name\n");
    for i in 0..5000 {
        csv.push_str(&format!("{i},name-{i}\n"));
    }
    write(p, "big.csv", &csv);
    let v = json(p, &["append", "t", "big.csv", "--batch-rows", "700", "--json"]);
    assert_eq!(v["added_records"], 5000);
    // A bad row deep in the file is named by its row number across batches.
    csv.push_str("oops,x\n");
    write(p, "big2.csv", &csv);
    fails(p, &["append", "t", "big2.csv", "--batch-rows", "700"], 2, &["row 5001, column id", "\"oops\""]);
    assert_eq!(json(p, &["info", "t", "--json"])["total_records"], 5000);
}

// ------------------------------------------------------------------ scan

#[test]
fn scan_formats() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    // Piped: CSV by default.
    let csv = ok(p, &["scan", "t"]);
    assert_eq!(csv, "id,name,score\n1,ada,9.5\n2,grace,8.0\n3,edsger,\n");
    assert_eq!(
        ok(p, &["scan", "t", "--format", "csv", "--select", "name,id", "--limit", "2"]),
        "name,id\nada,1\ngrace,2\n"
    );
    let table = ok(p, &["scan", "t", "--format", "table"]);
    assert!(table.contains("| id | name   | score |"), "{table}");
    assert!(table.contains("|  3 | edsger |  null |"), "{table}");
    assert!(table.ends_with("(3 rows)\n"), "{table}");
    let lines = ok(p, &["scan", "t", "--format", "json"]);
    let rows: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[2], serde_json::json!({"id": 3, "name": "edsger", "score": null}));
    assert_eq!(ok(p, &["scan", "t", "--json", "--limit", "1"]).lines().count(), 1);
    // Parquet to a file, read back by appending it to a new table.
    ok(p, &["scan", "t", "--output", "out.parquet"]);
    ok(p, &["create", "t2", "--like", "out.parquet"]);
    ok(p, &["append", "t2", "out.parquet"]);
    assert_eq!(ok(p, &["scan", "t2"]), csv);
    // CSV and JSON files round-trip through append too.
    ok(p, &["scan", "t", "-o", "out.csv"]);
    ok(p, &["scan", "t", "-o", "out.ndjson"]);
    ok(p, &["create", "t3", "--schema", "id:long!,name:string,score:double"]);
    ok(p, &["append", "t3", "out.csv", "out.ndjson"]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t3"])), [1, 1, 2, 2, 3, 3]);
    // Parquet piped to stdout is allowed (not a terminal); the bytes are a Parquet file.
    let out = floe_in(p, &["scan", "t", "--format", "parquet"]);
    assert!(out.status.success());
    assert!(out.stdout.starts_with(b"PAR1") && out.stdout.ends_with(b"PAR1"));
    // An empty table gives a header-only CSV.
    ok(p, &["create", "e", "--schema", "a:int,b:string"]);
    assert_eq!(ok(p, &["scan", "e"]), "a,b\n");
    assert!(ok(p, &["scan", "e", "--format", "table"]).contains("(0 rows)"));
}

#[test]
fn scan_table_default_limit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long"]);
    let csv: String = std::iter::once("id\n".to_string()).chain((0..250).map(|i| format!("{i}\n"))).collect();
    write(p, "a.csv", &csv);
    ok(p, &["append", "t", "a.csv"]);
    let t = ok(p, &["scan", "t", "--format", "table"]);
    assert!(t.contains("(100 of 250 rows;"), "{t}");
    assert_eq!(ok(p, &["scan", "t"]).lines().count(), 251, "CSV has no default limit");
}

#[test]
fn scan_time_travel() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p); // v2
    let first_snap = json(p, &["info", "t", "--json"])["current_snapshot_id"].as_i64().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let between = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    std::thread::sleep(std::time::Duration::from_millis(20));
    write(p, "b.csv", "id\n4\n");
    ok(p, &["append", "t", "b.csv"]); // v3
    assert_eq!(csv_ids(&ok(p, &["scan", "t"])), [1, 2, 3, 4]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--version", "2"])), [1, 2, 3]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--version", "1"])), Vec::<i64>::new());
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--snapshot", &first_snap.to_string()])), [1, 2, 3]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--as-of", &between.to_string()])), [1, 2, 3]);
    // The same instant as a UTC date-time string.
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--as-of", &format_utc(between)])), [1, 2, 3]);
    // Bad travel targets.
    fails(p, &["scan", "t", "--snapshot", "42"], 2, &["not found: snapshot 42"]);
    fails(p, &["scan", "t", "--version", "9"], 2, &["not found: version 9"]);
    fails(p, &["scan", "t", "--as-of", "yesterday-ish"], 2, &["--as-of \"yesterday-ish\""]);
    fails(p, &["scan", "t", "--as-of", "1000"], 2, &["not found: a snapshot current at 1000 ms"]);
    fails(p, &["scan", "t", "--select", "id,nope"], 2, &["no column \"nope\""]);
    fails(p, &["scan", "t", "--output", "out.xyz"], 2, &["cannot tell the format"]);
    // Files of an older snapshot.
    let f = json(p, &["files", "t", "--snapshot", &first_snap.to_string(), "--json"]);
    assert_eq!(f["files"].as_array().unwrap().len(), 1);
    fails(p, &["files", "t", "--snapshot", "42"], 2, &["not found: snapshot 42"]);
}

/// `YYYY-MM-DD HH:MM:SS.mmm` for ms since the epoch (civil-from-days, UTC).
fn format_utc(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[test]
fn scan_closed_pipe_is_not_an_error() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long"]);
    let csv: String = std::iter::once("id\n".to_string()).chain((0..200_000).map(|i| format!("{i}\n"))).collect();
    write(p, "a.csv", &csv);
    ok(p, &["append", "t", "a.csv"]);
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("'{FLOE}' scan t | head -n 2; echo \"status ${{PIPESTATUS[0]}}\""))
        .current_dir(p)
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(stdout, "id\n0\nstatus 0\n", "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
}

// ------------------------------------------------------------------ info, history, snapshots, files, stats

#[test]
fn read_commands_text_and_json() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    write(p, "b.csv", "id,name\n4,barbara\n");
    ok(p, &["append", "t", "b.csv"]);

    let info = ok(p, &["info", "t"]);
    for frag in [
        "format version    2",
        "version           v3 (metadata/v3.metadata.json)",
        "rows              4",
        "data files        2",
        "partition spec    unpartitioned",
        "| 1  | id ",
        "write.metadata.previous-versions-max",
    ] {
        let frag = frag.replace("| 1  | id ", "|  1 | id ");
        assert!(info.contains(&frag), "{frag:?} not in\n{info}");
    }
    let j = json(p, &["info", "t", "--json"]);
    assert_eq!(j["total_records"], 4);
    assert_eq!(j["total_data_files"], 2);
    assert_eq!(j["format_version"], 2);
    assert!(j["location"].as_str().unwrap().starts_with("file://"));

    let h = json(p, &["history", "t", "--json"]);
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!(h[0]["added_records"], 3);
    assert_eq!(h[1]["added_records"], 1);
    assert_eq!(h[1]["total_records"], 4);
    assert_eq!(h[1]["parent_snapshot_id"], h[0]["snapshot_id"]);
    assert_eq!(h[1]["current"], true);
    assert_eq!(h[0]["operation"], "append");
    let ht = ok(p, &["history", "t"]);
    assert!(ht.contains("history of") && ht.contains("| append    |"), "{ht}");
    assert!(ht.contains(h[1]["commit_id"].as_str().unwrap()), "{ht}");

    let s = json(p, &["snapshots", "t", "--json"]);
    let s = s.as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["sequence_number"], 1);
    assert_eq!(s[1]["attempt"], 1);
    assert_eq!(s[1]["rebased_over"], 0);
    assert!(s[1]["manifest_list"].as_str().unwrap().contains("/metadata/snap-"));
    let st = ok(p, &["snapshots", "t"]);
    assert!(st.contains("2 snapshot(s) retained"), "{st}");

    let f = json(p, &["files", "t", "--json"]);
    let files = f["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["records"], 3);
    let id = files[0]["columns"].as_array().unwrap().iter().find(|c| c["name"] == "id").unwrap().clone();
    assert_eq!(id["lower"], "1");
    assert_eq!(id["upper"], "3");
    assert_eq!(id["null_count"], 0);
    let ft = ok(p, &["files", "t"]);
    assert!(ft.contains("2 data file(s), 4 row(s)"), "{ft}");
    assert!(ft.contains("id 1..3, name ada..grace, score 8.0..9.5 (1 null)"), "{ft}");
    assert!(ft.contains("id 4, name barbara"), "{ft}");

    let sj = json(p, &["stats", "t", "--json"]);
    assert_eq!(sj["snapshots_retained"], 2);
    assert_eq!(sj["operations"]["append"], 2);
    assert_eq!(sj["attempts"], 2);
    assert_eq!(sj["lost_races"], 0);
    assert_eq!(sj["growth"][1]["total_records"], 4);
    let stt = ok(p, &["stats", "t"]);
    assert!(stt.contains("operations        append 2"), "{stt}");
    assert!(stt.contains("growth"), "{stt}");

    // A metadata file instead of a directory: that version exactly.
    let old = json(p, &["info", "t/metadata/v2.metadata.json", "--json"]);
    assert_eq!(old["version"], 2);
    assert_eq!(old["total_records"], 3);
    assert_eq!(csv_ids(&ok(p, &["scan", "t/metadata/v2.metadata.json"])), [1, 2, 3]);
}

#[test]
fn empty_table_read_commands() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long"]);
    assert!(ok(p, &["info", "t"]).contains("none (empty table)"));
    assert_eq!(json(p, &["history", "t", "--json"]), serde_json::json!([]));
    assert_eq!(json(p, &["snapshots", "t", "--json"]), serde_json::json!([]));
    assert!(ok(p, &["files", "t"]).contains("the table is empty"));
    assert_eq!(json(p, &["stats", "t", "--json"])["snapshots_retained"], 0);
    assert!(ok(p, &["verify", "t"]).contains("OK"));
}

// ------------------------------------------------------------------ verify

#[test]
fn verify_finds_missing_and_damaged_files() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    write(p, "b.csv", "id\n4\n5\n");
    ok(p, &["append", "t", "b.csv"]);
    let out = ok(p, &["verify", "t"]);
    assert!(out.contains("checked v3: 2 snapshot(s), 2 manifest(s), 2 data file(s)"), "{out}");
    assert!(out.contains("5 row(s) in the current snapshot"), "{out}");
    assert!(out.ends_with("OK\n"), "{out}");
    let deep = json(p, &["verify", "t", "--deep", "--json"]);
    assert_eq!(deep["ok"], true);
    assert_eq!(deep["rows_read"], 5);

    let files = json(p, &["files", "t", "--json"]);
    let first = files["files"][0]["path"].as_str().unwrap().trim_start_matches("file://").to_string();
    let second = files["files"][1]["path"].as_str().unwrap().trim_start_matches("file://").to_string();

    // A data file truncated: size and footer problems, exit 1, listed.
    let bytes = std::fs::read(&second).unwrap();
    std::fs::write(&second, &bytes[..bytes.len() / 2]).unwrap();
    let (stdout, stderr) = run(p, &["verify", "t"], 1);
    assert!(stdout.contains("FAILED: 2 problem(s)"), "{stdout}");
    assert!(stdout.contains("size: data/"), "{stdout}");
    assert!(stdout.contains("unreadable: data/"), "{stdout}");
    assert_eq!(stderr.trim(), "floe: error: verification found 2 problem(s)");

    // A data file deleted.
    std::fs::write(&second, &bytes).unwrap();
    std::fs::remove_file(&first).unwrap();
    let (stdout, _) = run(p, &["verify", "t", "--json"], 1);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], false);
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{stdout}");
    assert_eq!(problems[0]["kind"], "missing");
    assert!(problems[0]["path"].as_str().unwrap().starts_with("data/"));

    // A manifest list deleted: both snapshots' lists are checked.
    std::fs::write(&first, b"").unwrap();
    let snaps = json(p, &["snapshots", "t", "--json"]);
    let list = snaps[0]["manifest_list"].as_str().unwrap().trim_start_matches("file://").to_string();
    std::fs::remove_file(&list).unwrap();
    let (stdout, _) = run(p, &["verify", "t"], 1);
    assert!(stdout.contains("missing: metadata/snap-"), "{stdout}");
}

/// `verify --deep` lists every damaged file, also those whose pages make the parquet
/// decoder panic (such a panic used to drop every result of its checker thread).
#[test]
fn deep_verify_lists_every_damaged_file_even_when_the_decoder_panics() {
    use common::{Damage, damaged_copies};
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let t = floe::Table::create_with(p.join("t"), common::schema(), common::relaxed()).unwrap();
    for _ in 0..12 {
        t.append(&[common::batch(0, 100)]).unwrap();
    }
    let files: Vec<PathBuf> =
        t.scan().plan().unwrap().files.iter().map(|f| t.resolve_path(&f.file_path).unwrap()).collect();
    let good = std::fs::read(&files[0]).unwrap();
    let mut damaged: Vec<String> = Vec::new();
    let copies = damaged_copies(&good, Damage::Panic, 3).into_iter().chain(damaged_copies(&good, Damage::Error, 2));
    for (k, bytes) in copies.enumerate() {
        // Spread over the file list, so every checker thread meets some.
        let f = &files[k * 2];
        std::fs::write(f, bytes).unwrap();
        damaged.push(f.strip_prefix(t.path()).unwrap().display().to_string());
    }
    damaged.sort();

    let (stdout, _) = run(p, &["verify", "t", "--deep", "--json"], 1);
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], false);
    let mut listed: Vec<String> =
        v["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap().to_string()).collect();
    listed.sort();
    assert_eq!(listed, damaged, "{stdout}");
    assert!(v["problems"].as_array().unwrap().iter().all(|p| p["kind"] == "unreadable"), "{stdout}");
    let (stdout, stderr) = run(p, &["verify", "t", "--deep"], 1);
    assert!(stdout.contains("FAILED: 5 problem(s)"), "{stdout}");
    for f in &damaged {
        assert!(stdout.contains(&format!("unreadable: {f}")), "{f} not listed: {stdout}");
    }
    assert!(stderr.contains("verification found 5 problem(s)"), "{stderr}");
}

#[test]
fn corrupt_metadata_is_one_line_exit_1() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    std::fs::write(p.join("t/metadata/v3.metadata.json"), b"{ not json").unwrap();
    for cmd in ["info", "scan", "verify", "history"] {
        fails(p, &[cmd, "t"], 1, &["corrupt metadata", "v3.metadata.json"]);
    }
    let out = floe_in(p, &["info", "t", "--verbose"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn verbose_prints_the_cause_chain() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long"]);
    let out = floe_in(p, &["append", "t", "missing.csv", "--verbose"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.lines().next().unwrap().starts_with("floe: error: I/O error on missing.csv"), "{err}");
    assert!(err.contains("caused by: No such file or directory"), "{err}");
}

// ------------------------------------------------------------------ many writers

#[test]
fn four_processes_append_at_once() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,worker:int"]);
    for w in 0..4 {
        let csv: String = std::iter::once("id,worker\n".to_string())
            .chain((0..25).map(|i| format!("{},{w}\n", w * 100 + i)))
            .collect();
        write(p, &format!("w{w}.csv"), &csv);
    }
    // 4 processes x 5 appends each, all at once.
    let children: Vec<_> = (0..4)
        .map(|w| {
            Command::new("bash")
                .arg("-c")
                .arg(format!("for i in 1 2 3 4 5; do '{FLOE}' append t w{w}.csv --json || exit 1; done"))
                .current_dir(p)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    // Meanwhile a reader: every scan sees one whole snapshot (a multiple of 25 rows)
    // and every verify passes.
    let reader = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "for i in $(seq 1 10); do '{FLOE}' verify t > /dev/null || exit 1; \
             n=$('{FLOE}' scan t --select id | tail -n +2 | wc -l); \
             [ $((n % 25)) -eq 0 ] || {{ echo \"torn read: $n rows\"; exit 1; }}; echo \"$n\"; done"
        ))
        .current_dir(p)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut versions = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let s = text(&out.stdout);
        // Pretty JSON documents back to back: split on the closing brace at column 0.
        for doc in s.split_inclusive("\n}\n") {
            let v: Value = serde_json::from_str(doc).unwrap();
            versions.push(v["version"].as_u64().unwrap());
        }
    }
    let r = reader.wait_with_output().unwrap();
    assert!(r.status.success(), "reader: {}{}", text(&r.stdout), text(&r.stderr));
    eprintln!("reader saw row counts: {}", text(&r.stdout).split_whitespace().collect::<Vec<_>>().join(" "));
    versions.sort();
    assert_eq!(versions, (2..22).collect::<Vec<u64>>(), "each commit got its own version");
    assert_eq!(json(p, &["info", "t", "--json"])["total_records"], 500);
    let hist = json(p, &["history", "t", "--json"]);
    let hist = hist.as_array().unwrap();
    assert_eq!(hist.len(), 20);
    for pair in hist.windows(2) {
        assert_eq!(pair[1]["parent_snapshot_id"], pair[0]["snapshot_id"], "one linear history");
    }
    let stats = json(p, &["stats", "t", "--json"]);
    assert_eq!(stats["commits_with_attempt_record"], 20);
    let v = json(p, &["verify", "t", "--deep", "--json"]);
    assert_eq!(v["ok"], true);
    assert_eq!(v["rows_read"], 500);
}

// ------------------------------------------------------------------ on a terminal

/// Runs floe under `script(1)` so its stdout and stderr are a terminal; `None` (with a
/// notice) when `script` is not installed.
fn on_terminal(dir: &Path, cmd: &str, no_color: bool) -> Option<String> {
    let mut c = Command::new("script");
    c.args(["-qec", &format!("'{FLOE}' {cmd}"), "/dev/null"]).current_dir(dir).stdin(Stdio::null());
    c.env("TERM", "xterm-256color").env_remove("NO_COLOR");
    if no_color {
        c.env("NO_COLOR", "1");
    }
    match c.output() {
        Ok(out) => Some(text(&out.stdout)),
        Err(e) => {
            eprintln!("NOTICE: script(1) unavailable ({e}); terminal behaviour not checked");
            None
        }
    }
}

#[test]
fn terminal_gets_tables_and_colour_unless_no_color() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    let Some(scan) = on_terminal(p, "scan t", false) else { return };
    assert!(scan.contains('│') || scan.contains('┆'), "a bordered table on a terminal:\n{scan}");
    assert!(!scan.contains("id,name,score"), "not CSV on a terminal:\n{scan}");
    assert!(scan.contains("(3 rows)"), "{scan}");
    let verify = on_terminal(p, "verify t", false).unwrap();
    assert!(verify.contains("\x1b[32mOK\x1b[0m"), "green OK on a terminal: {verify:?}");
    let plain = on_terminal(p, "verify t", true).unwrap();
    assert!(plain.contains("OK") && !plain.contains('\x1b'), "NO_COLOR: no escape codes: {plain:?}");
    let err = on_terminal(p, "info nowhere", true).unwrap();
    assert!(err.contains("floe: error: no table at") && !err.contains('\x1b'), "{err:?}");
}

// ------------------------------------------------------------------ --where and --partition

#[test]
fn scan_where_filters_rows() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    assert_eq!(ok(p, &["scan", "t", "--where", "id > 1"]), "id,name,score\n2,grace,8.0\n3,edsger,\n");
    // The filter may use columns that are not selected; they are not printed.
    assert_eq!(ok(p, &["scan", "t", "--select", "name", "--where", "score is null or id = 1"]), "name\nada\nedsger\n");
    assert_eq!(ok(p, &["scan", "t", "--where", "name in ('grace', 'x')", "--json"]).lines().count(), 1);
    let t = ok(p, &["scan", "t", "--where", "id >= 1", "--limit", "2", "--format", "table"]);
    assert!(t.contains("(first 2 matching rows;"), "{t}");
    assert_eq!(ok(p, &["scan", "t", "--where", "id > 100"]), "id,name,score\n");
    fails(p, &["scan", "t", "--where", "nope > 1"], 2, &["--where \"nope > 1\"", "unknown column \"nope\""]);
    fails(p, &["scan", "t", "--where", "id >"], 2, &["syntax error at position 4"]);
    fails(p, &["scan", "t", "--where", "id = 'x'"], 2, &["does not fit column \"id\""]);
}

#[test]
fn create_partitioned_table() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(
        p,
        &[
            "create",
            "t",
            "--schema",
            "ts:timestamptz!,level:string,id:long",
            "--partition",
            "day(ts), bucket(4, id)",
            "--partition",
            "level",
        ],
    );
    let info = json(p, &["info", "t", "--json"]);
    let fields = info["partition_spec"]["fields"].as_array().unwrap();
    let transforms: Vec<&str> = fields.iter().map(|f| f["transform"].as_str().unwrap()).collect();
    assert_eq!(transforms, ["day", "bucket[4]", "identity"]);
    assert!(
        ok(p, &["info", "t"])
            .contains("partition spec    ts_day=day(ts), id_bucket=bucket[4](id), level=identity(level)")
    );
    write(
        p,
        "l.csv",
        "ts,level,id\n2026-01-01T10:00:00Z,info,1\n2026-01-02T10:00:00Z,warn,2\n2026-01-02T11:00:00Z,warn,2\n",
    );
    ok(p, &["append", "t", "l.csv"]);
    let files = json(p, &["files", "t", "--json"]);
    let mut parts: Vec<String> =
        files["files"].as_array().unwrap().iter().map(|f| f["partition"].as_str().unwrap().to_string()).collect();
    parts.sort();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts[0].starts_with("ts_day=2026-01-01/id_bucket="), "{parts:?}");
    assert!(parts[1].ends_with("/level=warn"), "{parts:?}");
    assert!(ok(p, &["files", "t"]).contains("| partition "));
    assert_eq!(ok(p, &["scan", "t", "--select", "id", "--where", "level = 'warn'"]), "id\n2\n2\n");
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));
    for (spec, frag) in [
        ("foo(ts)", "partition transform \"foo\""),
        ("nope", "\"nope\""),
        ("day(ts", "missing ')'"),
        ("bucket(0, id)", "bucket"),
    ] {
        fails(p, &["create", "u", "--schema", "ts:timestamptz,id:long", "--partition", spec], 2, &[frag]);
    }
    assert!(!p.join("u/metadata").exists(), "nothing created for a bad spec");
}

// ------------------------------------------------------------------ maintenance and delete

/// A table `t` (id long!, name string) with `n` single-row appends (ids 1..=n).
fn small_appends(dir: &Path, n: usize) {
    ok(dir, &["create", "t", "--schema", "id:long!,name:string"]);
    for i in 1..=n {
        write(dir, "r.csv", &format!("id,name\n{i},n{i}\n"));
        ok(dir, &["append", "t", "r.csv"]);
    }
}

fn version(dir: &Path) -> u64 {
    json(dir, &["info", "t", "--json"])["version"].as_u64().unwrap()
}

fn live_files(dir: &Path) -> usize {
    json(dir, &["files", "t", "--json"])["files"].as_array().unwrap().len()
}

fn ids(dir: &Path) -> Vec<i64> {
    csv_ids(&ok(dir, &["scan", "t", "--select", "id"]))
}

fn snapshot_ids(dir: &Path) -> Vec<i64> {
    json(dir, &["history", "t", "--json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["snapshot_id"].as_i64().unwrap())
        .collect()
}

/// Sets a file's modification time `secs` seconds into the past.
fn age(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(secs)).unwrap();
}

#[test]
fn compact_dry_run_json_where_and_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    small_appends(p, 4);
    let v = version(p);

    let plan = json(p, &["compact", "t", "--dry-run", "--json"]);
    assert_eq!(plan["operation"], "compact");
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["data_files_removed"], 4);
    assert_eq!(plan["data_files_added"], 1);
    assert_eq!(plan["versions"].as_array().unwrap().len(), 0);
    assert_eq!((version(p), live_files(p)), (v, 4), "a dry run changes nothing");
    let text = ok(p, &["compact", "t", "--dry-run"]);
    assert!(text.starts_with("compact (dry run): would remove 4 data file(s)"), "{text}");

    // Only the files whose statistics may match.
    let some = json(p, &["compact", "t", "--where", "id <= 2", "--json"]);
    assert_eq!((some["data_files_removed"].as_u64(), some["data_files_added"].as_u64()), (Some(2), Some(1)));
    assert_eq!(live_files(p), 3);
    let text = ok(p, &["compact", "t", "--target-size", "64M"]);
    assert!(text.starts_with("compact: removed 3 data file(s)"), "{text}");
    assert!(text.contains("4 row(s) rewritten; committed v"), "{text}");
    assert_eq!(live_files(p), 1);
    assert_eq!(ids(p), [1, 2, 3, 4]);
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));
    // Nothing left to do.
    assert_eq!(json(p, &["compact", "t", "--json"])["data_files_removed"], 0);

    let v = version(p);
    run(p, &["compact", "t", "--target-size", "lots"], 2);
    run(p, &["compact", "t", "--target-size", "0"], 2);
    fails(p, &["compact", "t", "--where", "nope = 1"], 2, &["unknown column \"nope\""]);
    fails(p, &["compact", "t", "--where", "id >"], 2, &["--where"]);
    fails(p, &["compact", "missing"], 2, &["no table at"]);
    assert_eq!(version(p), v, "bad input commits nothing");
}

#[test]
fn merge_manifests_dry_run_and_json() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    small_appends(p, 3);
    let v = version(p);
    let plan = json(p, &["merge-manifests", "t", "--dry-run", "--json"]);
    assert_eq!((plan["dry_run"].as_bool(), plan["manifests_before"].as_u64()), (Some(true), Some(3)));
    assert_eq!(plan["manifests_after"], 1);
    assert_eq!(version(p), v);
    let text = ok(p, &["merge-manifests", "t"]);
    assert!(text.contains("manifests 3 -> 1; committed v"), "{text}");
    assert_eq!(version(p), v + 1);
    assert_eq!(ids(p), [1, 2, 3]);
    // One manifest left: nothing to merge.
    assert!(json(p, &["merge-manifests", "t", "--json"])["versions"].as_array().unwrap().is_empty());
    run(p, &["merge-manifests", "t", "--min-count", "many"], 2);
}

#[test]
fn expire_dry_run_json_retain_and_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    small_appends(p, 3);
    ok(p, &["compact", "t"]);
    let files_before = std::fs::read_dir(p.join("t/data")).unwrap().count();

    // Default policy: nothing is five days old.
    assert_eq!(json(p, &["expire", "t", "--json"])["snapshots_expired"], 0);

    // The two oldest appends: their data files are still live in the third.
    let plan = ok(p, &["expire", "t", "--older-than", "0s", "--retain-last", "2", "--dry-run"]);
    assert!(plan.starts_with("expire-snapshots (dry run): would remove 0 data file(s), 2 metadata file(s)"), "{plan}");
    assert!(plan.contains("2 snapshot(s) expired"), "{plan}");
    assert!(plan.contains("  would delete metadata/snap-"), "a dry run lists the files: {plan}");
    let plan = ok(p, &["expire", "t", "--older-than", "0s", "--dry-run"]);
    assert!(plan.contains("  would delete data/"), "{plan}");
    assert_eq!(std::fs::read_dir(p.join("t/data")).unwrap().count(), files_before);

    let r = json(p, &["expire", "t", "--older-than", "0s", "--json"]);
    assert_eq!((r["dry_run"].as_bool(), r["snapshots_expired"].as_u64()), (Some(false), Some(3)));
    assert_eq!(r["data_files_removed"], 3);
    let deleted = r["deleted_paths"].as_array().unwrap();
    assert!(deleted.iter().all(|f| !p.join("t").join(f.as_str().unwrap()).exists()), "deleted: {deleted:?}");
    assert_eq!(std::fs::read_dir(p.join("t/data")).unwrap().count(), files_before - 3);
    assert_eq!(json(p, &["snapshots", "t", "--json"]).as_array().unwrap().len(), 1);
    assert_eq!(ids(p), [1, 2, 3]);
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));

    // A time stamp works too (one in the past expires nothing more here).
    assert_eq!(json(p, &["expire", "t", "--older-than", "2026-01-01 00:00:00", "--json"])["snapshots_expired"], 0);
    fails(p, &["expire", "t", "--older-than", "last tuesday"], 2, &["--older-than \"last tuesday\""]);
    run(p, &["expire", "t", "--retain-last", "-1"], 2);
}

#[test]
fn remove_orphans_grace_dry_run_and_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    small_appends(p, 2);
    let old = write(p, "t/data/stray-old.parquet", "not referenced");
    age(&old, 3 * 24 * 3600);
    let fresh = write(p, "t/data/stray-new.parquet", "maybe an in-flight write");

    let plan = ok(p, &["remove-orphans", "t", "--dry-run"]);
    assert!(plan.starts_with("remove-orphans (dry run): would remove 1 data file(s)"), "{plan}");
    assert!(plan.contains("would delete data/stray-old.parquet"), "{plan}");
    assert!(!plan.contains("stray-new"), "inside the grace period: {plan}");
    assert!(old.exists());

    let r = json(p, &["remove-orphans", "t", "--older-than", "2d", "--json"]);
    assert_eq!(r["deleted_paths"], serde_json::json!(["data/stray-old.parquet"]));
    assert!(!old.exists() && fresh.exists());
    assert_eq!(ids(p), [1, 2]);

    // A grace shorter than the transaction max age is refused unless asked for.
    fails(p, &["remove-orphans", "t", "--older-than", "1s"], 2, &["grace period"]);
    assert!(fresh.exists());
    age(&fresh, 5);
    let r = json(p, &["remove-orphans", "t", "--older-than", "1s", "--allow-short-grace", "--json"]);
    assert_eq!(r["deleted_paths"], serde_json::json!(["data/stray-new.parquet"]));
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"), "nothing referenced was deleted");
    run(p, &["remove-orphans", "t", "--older-than", "soon"], 2);
}

#[test]
fn rollback_and_set_current() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    small_appends(p, 3);
    let snaps = snapshot_ids(p);
    let (first, last) = (snaps[0], snaps[2]);

    let text = ok(p, &["rollback", "t", &first.to_string()]);
    assert!(text.starts_with("rollback: committed v5 in "), "{text}");
    assert!(text.contains(&format!("current snapshot is now {first}")), "{text}");
    assert_eq!(ids(p), [1]);
    // The later snapshots are still there, but no longer ancestors.
    fails(p, &["rollback", "t", &last.to_string()], 2, &["not an ancestor"]);
    let r = json(p, &["set-current", "t", &last.to_string(), "--json"]);
    assert_eq!((r["operation"].as_str(), r["current_snapshot_id"].as_i64()), (Some("set-current"), Some(last)));
    assert_eq!(ids(p), [1, 2, 3]);

    let v = version(p);
    fails(p, &["rollback", "t", "12345"], 2, &["snapshot 12345"]);
    fails(p, &["set-current", "t", "12345"], 2, &["snapshot 12345"]);
    run(p, &["rollback", "t", "latest"], 2);
    run(p, &["rollback", "t"], 2);
    assert_eq!(version(p), v);
}

#[test]
fn tags_create_list_remove_and_survive_expiry() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    small_appends(p, 2);
    let snaps = snapshot_ids(p);
    assert_eq!(ok(p, &["tag", "t"]), "no tags\n");
    let text = ok(p, &["tag", "t", "first", &snaps[0].to_string()]);
    assert!(text.starts_with("create-tag: committed v"), "{text}");
    assert!(text.contains(&format!("tag first -> snapshot {}", snaps[0])), "{text}");
    let r = json(p, &["tag", "t", "head", "--json"]);
    assert_eq!(r["operation"], "create-tag");
    assert_eq!(json(p, &["tag", "t", "--json"]), serde_json::json!({"first": snaps[0], "head": snaps[1]}));
    assert!(ok(p, &["tag", "t"]).contains("| first "));

    // A tagged snapshot is never expired.
    assert_eq!(json(p, &["expire", "t", "--older-than", "0s", "--json"])["snapshots_expired"], 0);
    ok(p, &["scan", "t", "--snapshot", &snaps[0].to_string()]);

    fails(p, &["tag", "t", "first"], 2, &["already exists"]);
    fails(p, &["tag", "t", "main"], 2, &["cannot be a tag name"]);
    fails(p, &["tag", "t", "x", "12345"], 2, &["snapshot 12345"]);
    fails(p, &["tag", "t", "--remove", "nope"], 2, &["tag \"nope\""]);
    run(p, &["tag", "t", "--remove"], 2);

    assert!(ok(p, &["tag", "t", "--remove", "first"]).contains("tag first removed"));
    assert_eq!(json(p, &["expire", "t", "--older-than", "0s", "--json"])["snapshots_expired"], 1);
}

#[test]
fn delete_rows_dry_run_json_and_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    let v = version(p);
    assert_eq!(ok(p, &["delete", "t", "--where", "id >= 2", "--dry-run"]), "(dry run) would delete 2 row(s)\n");
    let plan = json(p, &["delete", "t", "--where", "id >= 2", "--dry-run", "--json"]);
    assert_eq!((plan["dry_run"].as_bool(), plan["rows_matched"].as_i64()), (Some(true), Some(2)));
    assert_eq!(ok(p, &["delete", "t", "--where", "id > 100"]), "nothing committed: no rows match\n");
    assert_eq!(version(p), v, "dry runs and empty deletes commit nothing");

    let text = ok(p, &["delete", "t", "--where", "score is null"]);
    assert!(text.starts_with(&format!("committed v{} (snapshot ", v + 1)), "{text}");
    assert!(text.contains("deleted 1 row(s)") && text.contains("1 rewritten (2 row(s) copied)"), "{text}");
    assert_eq!(ids(p), [1, 2]);
    let r = json(p, &["delete", "t", "--where", "name = 'ada'", "--json"]);
    assert_eq!((r["rows_removed"].as_u64(), r["version"].as_u64()), (Some(1), Some(v + 2)));
    assert_eq!(ids(p), [2]);
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));

    fails(p, &["delete", "t", "--where", "nope = 1"], 2, &["unknown column \"nope\""]);
    fails(p, &["delete", "t", "--where", "id = 'x'"], 2, &["does not fit column \"id\""]);
    run(p, &["delete", "t"], 2);
    assert_eq!(version(p), v + 2);
}

#[test]
fn scan_where_prunes_and_verbose_reports_it() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    small_appends(p, 4);
    let (out, err) = run(p, &["scan", "t", "--where", "id >= 3", "--select", "name", "--verbose"], 0);
    assert_eq!(out, "name\nn3\nn4\n");
    assert!(
        err.contains("files 4 (0 skipped by partition, 2 by column stats, 0 by row groups), 2 read")
            && err.contains("2 matched"),
        "{err}"
    );
    let (_, quiet) = run(p, &["scan", "t", "--where", "id >= 3"], 0);
    assert!(quiet.is_empty(), "{quiet}");

    // --explain: the plan, no rows.
    let plan = ok(p, &["scan", "t", "--where", "id >= 3", "--explain"]);
    assert!(plan.contains(", filter id >= 3\n"), "{plan}");
    assert!(plan.contains("files 4 (0 skipped by partition, 2 by column stats); 2 to read with 2 row(s)"), "{plan}");
    assert_eq!(plan.matches(".parquet").count(), 2, "{plan}");
    let plan = json(p, &["scan", "t", "--where", "id = 1 or id = 4", "--explain", "--json"]);
    assert_eq!((plan["files"].as_u64(), plan["files_planned"].as_u64()), (Some(4), Some(2)));
    assert_eq!(plan["planned_files"].as_array().unwrap().len(), 2);
    assert_eq!(json(p, &["scan", "t", "--explain", "--json"])["files_planned"], 4);
    fails(p, &["scan", "t", "--where", "nope = 1", "--explain"], 2, &["unknown column \"nope\""]);
    run(p, &["scan", "t", "--explain", "--limit", "1"], 2);
}

#[test]
fn maintenance_help_has_examples() {
    let d = tempfile::tempdir().unwrap();
    for cmd in ["compact", "merge-manifests", "expire", "remove-orphans", "rollback", "set-current", "tag", "delete"] {
        let help = ok(d.path(), &[cmd, "--help"]);
        assert!(help.contains(&format!("floe {cmd} ./events")), "{cmd} --help: {help}");
    }
}

#[test]
fn where_with_thousands_of_terms_works_and_absurd_nesting_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    // 8,000 `and` terms (about 100 KB of text), true for every row.
    let and: Vec<String> = (0..8000).map(|i| format!("id<>{}", 100 + i)).collect();
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--where", &and.join(" and ")])), [1, 2, 3]);
    // 8,000 `or` terms, one of them true for one row.
    let or: Vec<String> = (0..8000).map(|i| format!("id={}", if i == 4000 { 2 } else { 100 + i })).collect();
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--where", &or.join(" or ")])), [2]);
    ok(p, &["delete", "t", "--where", &or.join(" or ")]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t"])), [1, 3]);
    // Parentheses 10,000 deep: a usage error naming the limit, nothing else.
    let deep = format!("{}id = 1{}", "(".repeat(10_000), ")".repeat(10_000));
    let err = fails(p, &["scan", "t", "--where", &deep], 2, &["nested too deeply"]);
    assert!(err.len() < 1000, "the error does not echo the whole predicate: {} bytes", err.len());
}

/// The schema of the exactness tests: one column of every numeric and temporal type,
/// a struct and a list (for nested JSON values).
const EXACT_SCHEMA: &str =
    "id:long!,i:int,l:long,f:float,d:double,dec:decimal(5,2),dt:date,tm:time,ts:timestamp,tz:timestamptz";

/// Writes `name` with `content`, appends it to `t`, and checks the refusal: exit status
/// 2, one line naming the file, row and column (and `fragments`), and the table exactly
/// as before (same version, no data file).
#[track_caller]
fn refused(dir: &Path, table: &str, name: &str, content: &[u8], fragments: &[&str]) {
    std::fs::write(dir.join(name), content).unwrap();
    let version = json(dir, &["info", table, "--json"])["version"].clone();
    fails(dir, &["append", table, name], 2, fragments);
    assert_eq!(json(dir, &["info", table, "--json"])["version"], version, "{name}: the table changed");
    let data = dir.join(table).join("data");
    let files = std::fs::read_dir(&data).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "{name}: a data file was left behind");
}

/// A value that does not fit its column exactly (a fraction into an integer, an integer
/// out of range, a decimal with more scale or precision than the column, a number out of
/// a float's range, a date with a time of day, a time finer than microseconds or outside
/// a day) is refused in CSV and NDJSON alike, naming file, row (line) and column; the
/// same values written exactly are accepted.
#[test]
fn append_refuses_values_that_do_not_fit_exactly() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", EXACT_SCHEMA]);
    // (column, CSV text, JSON value, what the message says)
    let cases: &[(&str, &str, &str, &str)] = &[
        ("l", "2.9", "2.9", "not a whole number"),
        ("l", "2.5e0", "2.5e0", "not a whole number"),
        ("l", "9223372036854775808", "9223372036854775808", "out of range"),
        ("l", "1e30", "1e30", "out of range"),
        ("i", "3000000000", "3000000000", "out of range"),
        ("i", "-2147483649", "-2147483649", "out of range"),
        ("i", "0.5", "0.5", "not a whole number"),
        ("dec", "1.005", "1.005", "more than 2 digit(s) after the decimal point"),
        ("dec", "1.2e-3", "1.2e-3", "more than 2 digit(s) after the decimal point"),
        ("dec", "1234.5", "1234.5", "more than 3 digit(s) before the decimal point"),
        ("dec", "12e3", "12e3", "more than 3 digit(s) before the decimal point"),
        ("f", "1e40", "1e40", "out of range"),
        ("f", "1e-50", "1e-50", "out of range"),
        ("d", "1e400", "1e400", "out of range"),
        ("dt", "2024-01-01T10:00:00", "\"2024-01-01T10:00:00\"", "time of day"),
        ("dt", "2024-01-01 00:00:00", "\"2024-01-01 00:00:00\"", "time of day"),
        ("tm", "10:00:00.1234567", "\"10:00:00.1234567\"", "more precise than the microseconds"),
        ("tm", "86400000000", "86400000000", "not a time of day"),
        ("ts", "2024-01-01T00:00:00.0000001", "\"2024-01-01T00:00:00.0000001\"", "more precise"),
        ("tz", "2024-01-01T00:00:00.000000001Z", "\"2024-01-01T00:00:00.000000001Z\"", "more precise"),
        ("ts", "1.5", "1.5", "cannot read"),
    ];
    for (k, (column, csv, json_value, why)) in cases.iter().enumerate() {
        let csv_name = format!("bad{k}.csv");
        let csv_text = format!("id,{column}\n1,\n2,{csv}\n");
        let at = format!("{csv_name}: row 2, column {column}");
        refused(p, "t", &csv_name, csv_text.as_bytes(), &[&at, why]);
        let json_name = format!("bad{k}.ndjson");
        let json_text = format!("{{\"id\": 1}}\n\n{{\"id\": 2, \"{column}\": {json_value}}}\n");
        let at = format!("{json_name}: row 3, column {column}");
        refused(p, "t", &json_name, json_text.as_bytes(), &[&at, why]);
    }
    // Parquet: a value checked one by one (a nanosecond timestamp that is not a whole
    // microsecond) names its row; a type that cannot hold every value names the column.
    let parquet = |column: &str, array: arrow_array::ArrayRef| -> Vec<u8> {
        use arrow_schema::{DataType, Field, Schema};
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(column, array.data_type().clone(), true),
        ]);
        let batch = arrow_array::RecordBatch::try_new(
            std::sync::Arc::new(schema),
            vec![std::sync::Arc::new(arrow_array::Int64Array::from(vec![1, 2])), array],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        out
    };
    let ns = std::sync::Arc::new(arrow_array::TimestampNanosecondArray::from(vec![1_000, 1_001]));
    refused(p, "t", "ns.parquet", &parquet("ts", ns), &["ns.parquet: row 2, column ts", "without losing precision"]);
    let f = std::sync::Arc::new(arrow_array::Float64Array::from(vec![1.0, 2.9]));
    refused(p, "t", "f.parquet", &parquet("l", f), &["f.parquet: column l", "cannot be stored losslessly"]);
    // The same columns with values that fit exactly, in every accepted spelling.
    write(
        p,
        "good.csv",
        "id,i,l,f,d,dec,dt,tm,ts,tz\n\
         1,-2147483648,9223372036854775807,0.1,1e300,999.99,2024-02-29,23:59:59.999999,2024-01-01T00:00:00.123456000,2024-01-01T01:00:00+01:00\n\
         2,2.0,1e3,16777217,-0,-1.50e1,19782,0,1704067200000000,1\n",
    );
    write(
        p,
        "good.ndjson",
        "{\"id\": 3, \"i\": 7.000, \"l\": \"12\", \"f\": 1.5, \"d\": 2.5e-3, \"dec\": 0.1, \"dt\": \"2024-01-31\", \"tm\": \"10:00:00.5\", \"ts\": \"2024-01-01 10:00:00\", \"tz\": 0}\n",
    );
    ok(p, &["append", "t", "good.csv", "good.ndjson"]);
    // The JSON lines as printed (decimals keep their scale there).
    let out = ok(p, &["scan", "t", "--format", "json"]);
    let line = |id: i64| out.lines().find(|l| l.starts_with(&format!("{{\"id\":{id},"))).unwrap().to_string();
    assert_eq!(
        line(1),
        "{\"id\":1,\"i\":-2147483648,\"l\":9223372036854775807,\"f\":0.1,\"d\":1.0e300,\"dec\":999.99,\
         \"dt\":\"2024-02-29\",\"tm\":\"23:59:59.999999\",\"ts\":\"2024-01-01T00:00:00.123456\",\
         \"tz\":\"2024-01-01T00:00:00Z\"}"
    );
    // Whole numbers in any spelling; integers for temporal columns are the stored value
    // (days, microseconds); a float takes the nearest value (16777217 -> 16777216).
    assert_eq!(
        line(2),
        "{\"id\":2,\"i\":2,\"l\":1000,\"f\":16777216.0,\"d\":-0.0,\"dec\":-15.00,\"dt\":\"2024-02-29\",\
         \"tm\":\"00:00:00\",\"ts\":\"2024-01-01T00:00:00\",\"tz\":\"1970-01-01T00:00:00.000001Z\"}"
    );
    assert_eq!(
        line(3),
        "{\"id\":3,\"i\":7,\"l\":12,\"f\":1.5,\"d\":0.0025,\"dec\":0.10,\"dt\":\"2024-01-31\",\
         \"tm\":\"10:00:00.500\",\"ts\":\"2024-01-01T10:00:00\",\"tz\":\"1970-01-01T00:00:00Z\"}"
    );
}

/// Nested JSON values are held to the same rule (struct fields, list elements, map
/// values), the message naming the line and the dotted column path.
#[test]
fn append_refuses_inexact_nested_json_values() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    write(p, "like.ndjson", "{\"id\": 1, \"s\": {\"x\": 1}, \"li\": [1, 2]}\n");
    ok(p, &["create", "n", "--like", "like.ndjson"]);
    refused(
        p,
        "n",
        "s.ndjson",
        b"{\"id\": 1, \"s\": {\"x\": 1}}\n{\"id\": 2, \"s\": {\"x\": 2.9}}\n",
        &["s.ndjson: row 2, column s.x", "not a whole number"],
    );
    refused(
        p,
        "n",
        "li.ndjson",
        b"{\"id\": 1, \"li\": [1]}\n{\"id\": 2, \"li\": null}\n{\"id\": 3, \"li\": [4, 5.5]}\n",
        &["li.ndjson: row 3, column li.element", "not a whole number"],
    );
    write(p, "ok.ndjson", "{\"id\": 1, \"s\": {\"x\": 2.0}, \"li\": [3, 4e0]}\n");
    ok(p, &["append", "n", "ok.ndjson"]);
    let row: Value = serde_json::from_str(ok(p, &["scan", "n", "--format", "json"]).trim()).unwrap();
    assert_eq!(row["s"]["x"], 2);
    assert_eq!(row["li"], serde_json::json!([3, 4]));
}

// ------------------------------------------------------------------ alter, upsert, insert-if-absent, overwrite, stdin

/// Every file and directory under `root` with its bytes: a dry run or a refused command
/// must leave this exactly as it was.
fn tree(root: &Path) -> std::collections::BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                stack.push(path);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

/// Runs floe with `input` on its standard input.
#[track_caller]
fn run_stdin(dir: &Path, args: &[&str], input: &[u8], code: i32) -> (String, String) {
    use std::io::Write;
    let mut child = Command::new(FLOE)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    // Written from a thread: the command may stop reading early (an error).
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "floe {args:?} < stdin\nstdout:\n{stdout}\nstderr:\n{stderr}");
    (stdout, stderr)
}

/// Asserts a refusal: exit 2, one error line with `fragments`, and the table's files
/// exactly as before.
#[track_caller]
fn refused_unchanged(dir: &Path, args: &[&str], fragments: &[&str]) {
    let before = tree(&dir.join("t"));
    fails(dir, args, 2, fragments);
    assert_eq!(tree(&dir.join("t")), before, "floe {args:?} changed the table");
}

/// Asserts a dry run: exit 0, and the table's files exactly as before. Returns stdout.
#[track_caller]
fn dry_run(dir: &Path, args: &[&str]) -> String {
    let before = tree(&dir.join("t"));
    let out = ok(dir, args);
    assert_eq!(tree(&dir.join("t")), before, "floe {args:?} changed the table");
    out
}

/// `scan --format json` rows of `t`, sorted by id, as JSON objects.
fn rows(dir: &Path) -> Vec<Value> {
    let text = ok(dir, &["scan", "t", "--format", "json"]);
    let mut rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    rows.sort_by_key(|r| r["id"].as_i64());
    rows
}

#[test]
fn alter_changes_the_schema_in_one_commit_and_old_rows_read_through_it() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,name:string,n:int,score:double,notes:string"]);
    write(p, "a.csv", "id,name,n,score,notes\n1,ada,7,9.5,x\n2,grace,8,,y\n");
    ok(p, &["append", "t", "a.csv"]);
    let v = version(p);

    // Dry run: the diff, nothing written.
    let plan = dry_run(p, &["alter", "t", "add-column", "country", "string", "--after", "name", "--dry-run"]);
    assert_eq!(
        plan,
        "(dry run) alter would commit schema 1; nothing written\n  add     country string (id 6, optional, after name)\n"
    );
    let plan = dry_run(p, &["alter", "t", "drop-column", "notes", "--json", "--dry-run"]);
    let plan: Value = serde_json::from_str(&plan).unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["version"], Value::Null);
    assert_eq!(plan["changes"], serde_json::json!([{"change": "drop", "id": 5, "name": "notes"}]));

    // Four changes, one commit.
    let out = ok(
        p,
        &[
            "alter",
            "t",
            "add-column",
            "country",
            "string",
            "--after",
            "name",
            "--doc",
            "ISO code",
            "rename-column",
            "score",
            "points",
            "widen",
            "n",
            "long",
            "drop-column",
            "notes",
        ],
    );
    assert_eq!(version(p), v + 1, "one version for all the changes: {out}");
    assert!(out.starts_with("altered "), "{out}");
    assert!(out.contains(&format!("committed v{} (schema 1)", v + 1)), "{out}");
    for line in [
        "  add     country string (id 6, optional, after name, doc \"ISO code\")",
        "  rename  score -> points (id 4)",
        "  widen   n int -> long (id 3)",
        "  drop    notes (id 5)",
    ] {
        assert!(out.contains(line), "{line:?} not in {out}");
    }
    let info = json(p, &["info", "t", "--json"]);
    let fields: Vec<(String, String)> = info["schema"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["type"].as_str().unwrap().to_string()))
        .collect();
    let want = [("id", "long"), ("name", "string"), ("country", "string"), ("n", "long"), ("points", "double")];
    assert_eq!(fields, want.map(|(a, b)| (a.to_string(), b.to_string())));
    // Old rows read through the new schema: renamed found, added null, widened cast.
    assert_eq!(ok(p, &["scan", "t"]), "id,name,country,n,points\n1,ada,,7,9.5\n2,grace,,8,\n");
    write(p, "b.csv", "id,name,country,n,points\n3,edsger,NL,5000000000,1.5\n");
    ok(p, &["append", "t", "b.csv"]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--where", "country = 'NL'"])), [3]);

    // Rename and re-add the same name atomically; JSON shape.
    let r =
        json(p, &["alter", "t", "rename-column", "name", "label", "add-column", "name", "string", "--first", "--json"]);
    assert_eq!(r["operation"], "alter");
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["version"], v + 3);
    assert_eq!(r["schema_id"], 2);
    assert_eq!(r["changes"][0]["change"], "add");
    assert_eq!(r["changes"][0]["after"], Value::Null, "first");
    assert_eq!(r["changes"][1], serde_json::json!({"change": "rename", "id": 2, "from": "name", "to": "label"}));
    assert_eq!(r["schema"]["fields"][0]["name"], "name");
    assert_eq!(r["partition_spec"]["fields"], serde_json::json!([]));
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));

    // Nothing to change: no commit.
    assert_eq!(ok(p, &["alter", "t", "widen", "n", "long"]), "the schema would not change: nothing committed\n");
    assert_eq!(version(p), v + 3);
}

#[test]
fn alter_bad_input_is_exit_2_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,name:string,n:int,ts:timestamptz", "--partition", "day(ts)"]);
    write(p, "a.csv", "id,name,n,ts\n1,ada,7,2026-01-05 10:00:00\n");
    ok(p, &["append", "t", "a.csv"]);
    for (args, frags) in [
        (vec!["drop-column", "nope"], vec!["no column named \"nope\""]),
        (vec!["rename-column", "nope", "x"], vec!["no column named \"nope\""]),
        (vec!["rename-column", "name", "n"], vec!["cannot rename \"name\" to \"n\": that column exists"]),
        (vec!["widen", "n", "double"], vec!["cannot change \"n\" from int to double"]),
        (vec!["widen", "name", "long"], vec!["cannot change \"name\" from string to long"]),
        (vec!["widen", "n", "longer"], vec!["widen type \"longer\""]),
        (vec!["add-column", "x", "intt"], vec!["add-column type \"intt\""]),
        (vec!["add-column", "name", "string"], vec!["column \"name\" already exists"]),
        (vec!["add-column", "x", "int", "--required"], vec!["cannot add required column \"x\"", "v3"]),
        (vec!["add-column", "x", "int", "--after", "nope"], vec!["no column named \"nope\""]),
        (vec!["add-column", "a.b", "int"], vec!["nested path"]),
        (vec!["drop-column", "ts"], vec!["cannot drop \"ts\": a partition spec"]),
        (vec!["drop-column", "name.first"], vec!["nested columns cannot be changed"]),
        // The second change is bad: the first is not committed either.
        (vec!["add-column", "ok", "int", "drop-column", "nope"], vec!["no column named \"nope\""]),
        (vec!["add-column", "ok", "int", "frob"], vec!["alter: unrecognized subcommand 'frob'"]),
        (vec!["add-column", "ok", "int", "add-column", "y"], vec!["alter: the following required arguments", "<TYPE>"]),
        (vec!["set-partition", "day(ts"], vec!["set-partition \"day(ts\": missing ')'"]),
        (vec!["set-partition", "frob(ts)"], vec!["partition transform \"frob\""]),
        (vec!["set-partition", "day(name)"], vec!["day cannot apply to a string column"]),
        (vec!["set-partition", "bucket(0, id)"], vec!["bucket"]),
        (vec!["set-partition", "nope"], vec!["no column named \"nope\" to partition by"]),
        (vec!["set-partition", ""], vec!["set-partition: no fields given"]),
        (vec!["set-partition", "id", "add-column", "x", "int"], vec!["set-partition is committed on its own"]),
    ] {
        let mut full = vec!["alter", "t"];
        full.extend(args.iter());
        refused_unchanged(p, &full, &frags);
    }
    // Flags after a chained change are honoured.
    refused_unchanged(p, &["alter", "t", "add-column", "ok", "int", "drop-column", "nope", "--verbose"], &["nope"]);
    let r = dry_run(p, &["alter", "t", "add-column", "a", "int", "add-column", "b", "int", "--json", "--dry-run"]);
    assert_eq!(serde_json::from_str::<Value>(&r).unwrap()["changes"].as_array().unwrap().len(), 2);
    fails(p, &["alter", "nope", "drop-column", "n"], 2, &["no table at"]);
}

#[test]
fn alter_set_partition_applies_to_new_data_only() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long!,ts:timestamptz"]);
    write(p, "a.csv", "id,ts\n1,2026-01-05 10:00:00\n2,2026-01-06 10:00:00\n");
    ok(p, &["append", "t", "a.csv"]);
    let v = version(p);
    let plan = dry_run(p, &["alter", "t", "set-partition", "day(ts), bucket(16, id)", "--dry-run"]);
    assert!(plan.starts_with("(dry run) alter would commit partition spec 1; nothing written\n"), "{plan}");
    assert!(plan.contains("partition spec: ts_day=day(ts), id_bucket=bucket[16](id) (was: unpartitioned)"), "{plan}");

    let r = json(p, &["alter", "t", "set-partition", "day(ts), bucket(16, id)", "--json"]);
    assert_eq!((r["version"].as_u64(), r["dry_run"].as_bool()), (Some(v + 1), Some(false)));
    assert_eq!(r["changes"][0]["change"], "partition-spec");
    assert_eq!(r["changes"][0]["from"], "unpartitioned");
    assert_eq!(r["partition_spec"]["spec_id"], 1);
    let transforms: Vec<&str> =
        r["partition_spec"]["fields"].as_array().unwrap().iter().map(|f| f["transform"].as_str().unwrap()).collect();
    assert_eq!(transforms, ["day", "bucket[16]"]);
    assert_eq!(
        ok(p, &["alter", "t", "set-partition", "day(ts),bucket(16,id)"]),
        "the partition spec would not change: nothing committed\n"
    );

    // New data is partitioned; the old file keeps its (empty) partition.
    write(p, "b.csv", "id,ts\n3,2026-01-07 10:00:00\n4,2026-01-08 10:00:00\n");
    ok(p, &["append", "t", "b.csv"]);
    let files = json(p, &["files", "t", "--json"]);
    let partitions: Vec<String> =
        files["files"].as_array().unwrap().iter().map(|f| f["partition"].to_string()).collect();
    assert_eq!(partitions.iter().filter(|p| p.contains("ts_day")).count(), 2, "{files}");
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--where", "ts >= '2026-01-06T00:00:00Z'"])), [2, 3, 4]);

    // Back to unpartitioned.
    let out = ok(p, &["alter", "t", "set-partition", "none"]);
    assert!(out.contains("partition spec: unpartitioned (was: ts_day=day(ts), id_bucket=bucket[16](id))"), "{out}");
    assert_eq!(json(p, &["info", "t", "--json"])["partition_spec"]["spec_id"], 0, "the identical spec 0 is reused");
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));
}

#[test]
fn upsert_replaces_keyed_rows_in_one_commit() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    let v = version(p);
    write(p, "u.csv", "id,name,score\n2,GRACE,1\n4,alan,4\n");

    let plan = dry_run(p, &["upsert", "t", "--key", "id", "u.csv", "--dry-run"]);
    assert!(plan.starts_with("(dry run) upsert would write 2 row(s), replacing 1 existing row(s); nothing written\n"));
    assert!(
        plan.contains("  u.csv (csv): 2 row(s)\n  1 file(s) scanned, 0 removed whole, 1 rewritten (2 row(s) copied)\n")
    );
    assert!(plan.contains("  would rewrite data/") && plan.contains(" (1 of 3 row(s) match)"), "{plan}");
    let plan: Value =
        serde_json::from_str(&dry_run(p, &["upsert", "t", "--key", "id", "u.csv", "--dry-run", "--json"])).unwrap();
    assert_eq!((plan["dry_run"].as_bool(), plan["version"].clone()), (Some(true), Value::Null));
    assert_eq!((plan["rows_added"].as_u64(), plan["rows_removed"].as_u64()), (Some(2), Some(1)));
    assert_eq!(plan["files"][0]["action"], "rewrite");
    assert_eq!((plan["files"][0]["rows"].as_u64(), plan["files"][0]["rows_matched"].as_u64()), (Some(3), Some(1)));

    let out = ok(p, &["upsert", "t", "--key", "id", "u.csv"]);
    assert!(out.starts_with(&format!("committed v{} (snapshot ", v + 1)), "{out}");
    assert!(out.contains("upserted 2 row(s), replacing 1 existing row(s)"), "{out}");
    assert_eq!(version(p), v + 1);
    let r = rows(p);
    assert_eq!(r.len(), 4);
    assert_eq!((r[1]["name"].as_str(), r[1]["score"].as_f64()), (Some("GRACE"), Some(1.0)));
    assert_eq!(r[3]["name"], "alan");

    // JSON, and a two-column key.
    write(p, "k.csv", "id,name,score\n1,ada,0.5\n1,other,7\n");
    let r = json(p, &["upsert", "t", "--key", "id,name", "k.csv", "--json"]);
    assert_eq!(r["operation"], "upsert");
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["version"], v + 2);
    assert_eq!((r["rows_added"].as_u64(), r["rows_removed"].as_u64()), (Some(2), Some(1)));
    assert_eq!(r["key"], serde_json::json!(["id", "name"]));
    assert_eq!(r["inputs"], serde_json::json!([{"path": "k.csv", "format": "csv", "rows": 2}]));
    for k in [
        "snapshot_id",
        "sequence_number",
        "commit_id",
        "attempts",
        "elapsed_ms",
        "data_files_added",
        "files_scanned",
        "files_removed",
        "files_rewritten",
        "rows_copied",
    ] {
        assert!(!r[k].is_null(), "{k} in {r}");
    }
    assert!(r.get("files").is_none(), "the per-file list is a dry run's");
    assert_eq!(rows(p).len(), 5);
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));

    write(p, "e.csv", "id,name,score\n");
    assert_eq!(ok(p, &["upsert", "t", "--key", "id", "e.csv"]), "no rows in the input: nothing committed\n");
    assert_eq!(version(p), v + 2);
}

#[test]
fn upsert_and_insert_if_absent_refuse_bad_keys_naming_file_and_row() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["create", "t", "--schema", "id:long,name:string,score:double"]);
    write(p, "a.csv", "id,name\n1,a\n");
    ok(p, &["append", "t", "a.csv"]);
    write(p, "nokey.csv", "name,score\nx,1\n");
    write(p, "nullkey.csv", "id,name\n5,x\n,y\n");
    write(p, "nullkey.ndjson", "{\"id\": 5}\n{\"name\": \"q\"}\n");
    write(p, "dup.csv", "id,name\n7,a\n8,b\n");
    write(p, "dup2.csv", "id,name\n9,c\n7,d\n");
    write(p, "bad.csv", "id,name\nseven,a\n");
    for cmd in ["upsert", "insert-if-absent"] {
        refused_unchanged(
            p,
            &[cmd, "t", "--key", "id", "nokey.csv"],
            &["nokey.csv: column id: key column missing from the input"],
        );
        refused_unchanged(
            p,
            &[cmd, "t", "--key", "id", "nullkey.csv"],
            &["nullkey.csv: row 2, column id: the key is null"],
        );
        refused_unchanged(
            p,
            &[cmd, "t", "--key", "id", "nullkey.ndjson"],
            &["nullkey.ndjson: row 2, column id: the key is null (or missing)"],
        );
        refused_unchanged(
            p,
            &[cmd, "t", "--key", "idd", "dup.csv"],
            &["--key: \"idd\" is not a column of the table (columns: id, name, score)"],
        );
        refused_unchanged(p, &[cmd, "t", "--key", "id,id", "dup.csv"], &["named twice"]);
        refused_unchanged(p, &[cmd, "t", "--key", "", "dup.csv"], &["--key"]);
        refused_unchanged(
            p,
            &[cmd, "t", "--key", "id", "bad.csv"],
            &["bad.csv: row 1, column id: cannot read \"seven\" as long"],
        );
        refused_unchanged(p, &[cmd, "t", "--key", "id", "missing.csv"], &["missing.csv"]);
        run(p, &[cmd, "t", "dup.csv"], 2);
    }
    // A key twice: upsert refuses (which row would win?), naming both places.
    refused_unchanged(
        p,
        &["upsert", "t", "--key", "id", "dup.csv", "dup2.csv"],
        &["dup2.csv: row 2: key id=7 appears twice in the input (first at dup.csv row 1)"],
    );
}

#[test]
fn insert_if_absent_reports_inserted_and_skipped() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    let v = version(p);
    write(p, "i.csv", "id,name\n3,again\n4,alan\n4,twice\n5,barbara\n");

    let plan = dry_run(p, &["insert-if-absent", "t", "--key", "id", "i.csv", "--dry-run"]);
    assert_eq!(
        plan,
        "(dry run) insert-if-absent would insert 2 row(s), skipped 2 (key in the table or earlier in the input); nothing \
         written\n  i.csv (csv): 4 row(s)\n  skipped id=3\n  skipped id=4\n"
    );
    let r = json(p, &["insert-if-absent", "t", "--key", "id", "i.csv", "--json"]);
    assert_eq!(r["operation"], "insert-if-absent");
    assert_eq!((r["version"].as_u64(), r["dry_run"].as_bool()), (Some(v + 1), Some(false)));
    assert_eq!((r["inserted"].as_u64(), r["skipped"].as_u64()), (Some(2), Some(2)));
    assert_eq!(r["skipped_keys"], serde_json::json!([{"id": 3}, {"id": 4}]));
    assert_eq!(r["rows_removed"], 0);
    let names: Vec<String> = rows(p).iter().map(|r| r["name"].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(names, ["ada", "grace", "edsger", "alan", "barbara"], "first row wins, table rows kept");

    // Every key present: nothing committed, the skipped keys still reported.
    let out = ok(p, &["insert-if-absent", "t", "--key", "id", "i.csv"]);
    assert_eq!(out, "every key is in the table or earlier in the input (4 row(s) skipped): nothing committed\n");
    let r = json(p, &["insert-if-absent", "t", "--key", "id", "i.csv", "--json"]);
    assert_eq!((r["version"].clone(), r["inserted"].as_u64(), r["skipped"].as_u64()), (Value::Null, Some(0), Some(4)));
    assert_eq!(version(p), v + 1);

    write(p, "j.csv", "id,name\n6,frances\n3,no\n");
    let out = ok(p, &["insert-if-absent", "t", "--key", "id", "j.csv"]);
    assert!(out.contains(&format!("committed v{} (snapshot ", v + 2)) && out.contains("inserted 1 row(s), skipped 1"));
    assert!(out.contains("  skipped id=3\n"), "{out}");
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));
}

#[test]
fn overwrite_replaces_matching_rows_or_the_whole_table() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    let v = version(p);
    write(p, "o.csv", "id,name,score\n20,x,1\n30,y,2\n");

    let plan = dry_run(p, &["overwrite", "t", "--where", "id >= 2", "o.csv", "--dry-run"]);
    assert!(
        plan.starts_with(
            "(dry run) overwrite would replace the 2 row(s) matching \"id >= 2\" with 2 row(s); nothing written\n"
        ),
        "{plan}"
    );
    assert!(plan.contains("1 file(s) scanned, 0 removed whole, 1 rewritten (1 row(s) copied)"), "{plan}");
    let plan: Value = serde_json::from_str(&dry_run(p, &["overwrite", "t", "o.csv", "--dry-run", "--json"])).unwrap();
    assert_eq!((plan["rows_removed"].as_u64(), plan["rows_added"].as_u64()), (Some(3), Some(2)));
    assert_eq!(plan["files"][0]["action"], "remove");
    assert_eq!(plan["where"], Value::Null);

    let out = ok(p, &["overwrite", "t", "--where", "id >= 2", "o.csv"]);
    assert!(out.contains(&format!("committed v{} (snapshot ", v + 1)), "{out}");
    assert!(out.contains("replaced the 2 row(s) matching \"id >= 2\" with 2 row(s)"), "{out}");
    assert_eq!(ids(p), [1, 20, 30]);

    // Rerunning replaces the same rows: the same result.
    ok(p, &["overwrite", "t", "--where", "id >= 2", "o.csv"]);
    assert_eq!(ids(p), [1, 20, 30]);

    // A new row outside the predicate is refused (a rerun would not replace it).
    write(p, "out.csv", "id,name\n25,x\n1,y\n");
    refused_unchanged(
        p,
        &["overwrite", "t", "--where", "id >= 2", "out.csv"],
        &["out.csv: row 2: the row does not match --where \"id >= 2\""],
    );
    refused_unchanged(p, &["overwrite", "t", "--where", "nope = 1", "o.csv"], &["unknown column \"nope\""]);
    refused_unchanged(p, &["overwrite", "t", "--where", "id >", "o.csv"], &["--where \"id >\""]);

    // The whole table, JSON.
    write(p, "all.csv", "id,name\n7,z\n");
    let r = json(p, &["overwrite", "t", "all.csv", "--json"]);
    assert_eq!(r["operation"], "overwrite");
    assert_eq!(
        (r["rows_removed"].as_u64(), r["rows_added"].as_u64(), r["files_removed"].as_u64()),
        (Some(3), Some(1), Some(1))
    );
    assert_eq!(r["version"], v + 3);
    assert_eq!(ids(p), [7]);

    // No input rows: a delete of the matching rows; nothing at all when none match.
    write(p, "none.csv", "id,name\n");
    assert_eq!(
        ok(p, &["overwrite", "t", "--where", "id = 99", "none.csv"]),
        "no rows match and the input has none: nothing committed\n"
    );
    assert_eq!(version(p), v + 3);
    ok(p, &["overwrite", "t", "--where", "id = 7", "none.csv"]);
    assert_eq!(ids(p), Vec::<i64>::new());
    assert!(ok(p, &["verify", "t", "--deep"]).contains("OK"));
}

#[test]
fn dash_reads_stdin_in_every_format() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    ok(p, &["scan", "t", "--output", "rows.parquet"]);
    let parquet = std::fs::read(p.join("rows.parquet")).unwrap();
    let v = version(p);

    let (out, _) = run_stdin(p, &["append", "t", "-", "--format", "csv"], b"id,name\n10,csv\n11,csv2\n", 0);
    assert!(out.contains("  <stdin> (csv): 2 row(s)\n"), "{out}");
    run_stdin(p, &["append", "t", "-", "--format", "json"], b"{\"id\": 12, \"name\": \"json\"}\n", 0);
    // Files and stdin together, in the order given (--format applies to both).
    write(p, "f.ndjson", "{\"id\": 13}\n");
    let (out, _) =
        run_stdin(p, &["append", "t", "f.ndjson", "-", "--format", "ndjson", "--json"], b"{\"id\": 14}\n", 0);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        r["inputs"],
        serde_json::json!([
            {"path": "f.ndjson", "format": "json", "rows": 1},
            {"path": "<stdin>", "format": "json", "rows": 1},
        ])
    );
    assert_eq!(version(p), v + 3);
    assert_eq!(ids(p), [1, 2, 3, 10, 11, 12, 13, 14]);

    // Parquet through a pipe, for overwrite, upsert and insert-if-absent.
    let (out, _) = run_stdin(p, &["overwrite", "t", "-", "--format", "parquet"], &parquet, 0);
    assert!(out.contains("  <stdin> (parquet): 3 row(s)\n"), "{out}");
    assert_eq!(ids(p), [1, 2, 3]);
    let (out, _) = run_stdin(
        p,
        &["upsert", "t", "--key", "id", "-", "--format", "json"],
        b"{\"id\": 3, \"name\": \"E\"}\n{\"id\": 4}\n",
        0,
    );
    assert!(out.contains("upserted 2 row(s), replacing 1 existing row(s)"), "{out}");
    let (out, _) = run_stdin(p, &["insert-if-absent", "t", "--key", "id", "-", "--format", "csv"], b"id\n4\n5\n", 0);
    assert!(out.contains("inserted 1 row(s), skipped 1"), "{out}");
    assert_eq!(ids(p), [1, 2, 3, 4, 5]);
    assert_eq!(rows(p)[2]["name"], "E");

    // Dry runs read stdin and change nothing.
    let before = tree(&p.join("t"));
    let (out, _) = run_stdin(p, &["append", "t", "-", "--format", "csv", "--dry-run"], b"id\n6\n7\n", 0);
    assert_eq!(out, "(dry run) append would add 2 row(s); nothing written\n  <stdin> (csv): 2 row(s)\n");
    run_stdin(p, &["upsert", "t", "--key", "id", "-", "--format", "csv", "--dry-run"], b"id\n1\n", 0);
    assert_eq!(tree(&p.join("t")), before);

    // Bad usage: no format, stdin twice, bad rows named <stdin>. Nothing changes.
    for cmd in [
        &["append", "t", "-"][..],
        &["upsert", "t", "--key", "id", "-"],
        &["insert-if-absent", "t", "--key", "id", "-"],
        &["overwrite", "t", "-"],
    ] {
        let (_, err) = run_stdin(p, cmd, b"id\n9\n", 2);
        assert!(err.contains("reading standard input (-) needs --format csv, json or parquet"), "{cmd:?}: {err}");
    }
    let (_, err) = run_stdin(p, &["append", "t", "-", "-", "--format", "csv"], b"id\n9\n", 2);
    assert!(err.contains("standard input (-) can be read only once"), "{err}");
    let (_, err) = run_stdin(p, &["append", "t", "-", "--format", "csv"], b"id,name\n9,a\nnine,b\n", 2);
    assert!(err.contains("<stdin>: row 2, column id: cannot read \"nine\" as long"), "{err}");
    let (_, err) = run_stdin(p, &["append", "t", "-", "--format", "parquet"], b"not parquet", 2);
    assert!(err.contains("<stdin>: not a readable Parquet file"), "{err}");
    let (_, err) = run_stdin(p, &["append", "t", "-", "--format", "csv"], b"", 2);
    assert!(err.contains("<stdin>: empty CSV file"), "{err}");
    assert_eq!(tree(&p.join("t")), before);
    // --format also overrides a file's extension.
    write(p, "rows.txt", "id\n8\n");
    ok(p, &["append", "t", "rows.txt", "--format", "csv"]);
    assert_eq!(ids(p), [1, 2, 3, 4, 5, 8]);
}

#[test]
fn append_dry_run_checks_every_row_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    table_with_rows(p);
    write(p, "b.csv", "id,name\n4,a\n5,b\n");
    let out = dry_run(p, &["append", "t", "b.csv", "--dry-run"]);
    assert_eq!(out, "(dry run) append would add 2 row(s); nothing written\n  b.csv (csv): 2 row(s)\n");
    let r: Value = serde_json::from_str(&dry_run(p, &["append", "t", "b.csv", "--dry-run", "--json"])).unwrap();
    assert_eq!(
        (r["dry_run"].as_bool(), r["version"].clone(), r["added_records"].as_u64()),
        (Some(true), Value::Null, Some(2))
    );
    write(p, "bad.csv", "id,name\n4,a\nfive,b\n");
    refused_unchanged(p, &["append", "t", "bad.csv", "--dry-run"], &["bad.csv: row 2, column id"]);
}

#[test]
fn new_commands_have_help_with_examples() {
    let d = tempfile::tempdir().unwrap();
    for cmd in ["alter", "upsert", "insert-if-absent", "overwrite", "append"] {
        let help = ok(d.path(), &[cmd, "--help"]);
        assert!(help.contains(&format!("floe {cmd} ./events")), "{cmd} --help: {help}");
    }
    for change in ["add-column", "rename-column", "drop-column", "widen", "set-partition"] {
        let help = ok(d.path(), &["alter", "t", change, "--help"]);
        assert!(help.contains("floe alter ./") && help.contains(change), "{change} --help: {help}");
    }
    let help = ok(d.path(), &["--help"]);
    for cmd in ["alter", "upsert", "insert-if-absent", "overwrite"] {
        assert!(help.contains(&format!("  {cmd} ")), "{cmd} not listed: {help}");
    }
}

/// A merge-on-read table (position delete files) through the commands a user reads it
/// with: `scan` (filters, time travel), `info` (rows after deletes, delete files),
/// `delete` under `write.delete.mode=merge-on-read`, and `verify --deep` (delete files
/// are checked like data files: a missing one is reported).
#[test]
fn merge_on_read_tables_through_the_cli() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let options = common::relaxed().property("write.delete.mode", "merge-on-read");
    let t = floe::Table::create_with(p.join("t"), common::schema(), options).unwrap();
    t.append(&[common::batch(0, 100)]).unwrap();
    let before = t.version().to_string();
    ok(p, &["delete", "t", "--where", "id < 10"]);
    let csv_ids =
        |s: &str| -> Vec<i64> { s.lines().skip(1).filter_map(|l| l.split(',').next()?.parse().ok()).collect() };
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--select", "id"])), (10..100).collect::<Vec<_>>());
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--select", "id", "--where", "id < 12"])), [10, 11]);
    assert_eq!(csv_ids(&ok(p, &["scan", "t", "--select", "id", "--version", &before])).len(), 100);
    let info = json(p, &["info", "t", "--json"]);
    assert_eq!(info["total_records"], 90, "{info}");
    assert_eq!(info["total_delete_files"], 1, "{info}");
    assert_eq!(info["total_data_files"], 1, "merge-on-read rewrote no data file: {info}");
    ok(p, &["verify", "t", "--deep"]);
    t.refresh().unwrap();
    let plan = t.scan().plan().unwrap();
    let delete_file = t.resolve_path(&plan.file_deletes(0)[0].file.file_path).unwrap();
    std::fs::remove_file(&delete_file).unwrap();
    let (stdout, _) = run(p, &["verify", "t"], 1);
    assert!(stdout.contains("deletes-"), "the missing delete file is named: {stdout}");
}

/// Row counts after row-level deletes: `history`, `snapshots` and `stats` show each
/// snapshot's live rows (deletes applied, exact: counted when the snapshot has delete
/// files) beside the manifests' total, for position and equality deletes; `info`
/// counts live rows too.
#[test]
fn live_row_counts_after_deletes_in_history_snapshots_and_stats() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let options = common::relaxed().property("write.delete.mode", "merge-on-read");
    let t = floe::Table::create_with(p.join("t"), common::schema(), options).unwrap();
    t.append(&[common::batch(0, 100)]).unwrap();
    t.append(&[common::batch(100, 100)]).unwrap();
    ok(p, &["delete", "t", "--where", "id < 10 or (id >= 150 and id < 155)"]);
    t.refresh().unwrap();
    let keys = common::batch(60, 3); // ids 60, 61, 62
    let mut tx = t.new_transaction();
    tx.delete_equal(&["id"], &keys).unwrap();
    tx.commit().unwrap();

    let h = json(p, &["history", "t", "--json"]);
    let h = h.as_array().unwrap();
    assert_eq!(h.len(), 4);
    let live: Vec<i64> = h.iter().map(|e| e["live_records"].as_i64().unwrap()).collect();
    assert_eq!(live, [100, 200, 185, 182]);
    let total: Vec<i64> = h.iter().map(|e| e["total_records"].as_i64().unwrap()).collect();
    assert_eq!(total, [100, 200, 200, 200], "the manifests' totals count deleted rows");
    let ht = ok(p, &["history", "t"]);
    assert!(ht.contains("live rows"), "{ht}");
    assert!(ht.lines().any(|l| l.contains(" 200 |") && l.contains(" 182 |")), "{ht}");

    let s = json(p, &["snapshots", "t", "--json"]);
    assert_eq!(s[2]["live_records"], 185);
    assert!(ok(p, &["snapshots", "t"]).contains("live rows"));

    let sj = json(p, &["stats", "t", "--json"]);
    let g = sj["growth"].as_array().unwrap();
    assert_eq!(g.last().unwrap()["live_records"], 182);
    assert_eq!(g.last().unwrap()["total_records"], 200);
    assert_eq!(g.last().unwrap()["total_delete_files"], 3, "2 position delete files and 1 equality delete file");
    let stt = ok(p, &["stats", "t"]);
    assert!(stt.contains("live rows") && stt.contains("delete files"), "{stt}");
    assert_eq!(json(p, &["info", "t", "--json"])["total_records"], 182);
}
