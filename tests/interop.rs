//! Interoperability: floe tables read and written by real third-party Iceberg
//! implementations — pyiceberg 0.12, DuckDB 1.5.5 with its iceberg extension, and
//! datashard 0.11.2 — and tables they wrote read and extended by floe.
//!
//! The third-party side runs in a Python virtual environment, one subprocess per read
//! or write, through `interop/floe_interop.py`: each subcommand prints one JSON
//! document (the script's module docstring defines the subcommands and the JSON form
//! of every value). The interpreter is `$FLOE_VENV_PYTHON`, or else the one
//! `interop/setup.sh` prints after creating the venv from the package registry (run
//! once per test binary). If that fails, every test here fails — unless
//! `FLOE_SKIP_INTEROP=1` is set, in which case they print a loud notice and check
//! nothing.
//!
//! Rows are compared as JSON values: floe's own scan is converted to the script's
//! forms (see [`column_json`]), and row lists are compared as multisets, so every
//! comparison checks "each row exactly once". Each test works in its own tempdir.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type, Time64MicrosecondType,
    TimestampMicrosecondType,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray, Float32Array,
    Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, Time64MicrosecondArray, TimestampMicrosecondArray,
};
use floe::Table;
use floe::spec::types::{PrimitiveType, Schema, primitive_to_arrow};
use serde_json::{Value, json};

use common::relaxed;

// ------------------------------------------------------------------ the Python side

/// The venv's interpreter and the driver script.
struct Interop {
    python: PathBuf,
    script: PathBuf,
}

static INTEROP: OnceLock<Result<Interop, String>> = OnceLock::new();

/// The interop environment, or `None` (after a loud notice) when it could not be set
/// up and `FLOE_SKIP_INTEROP=1`. Panics when it could not be set up otherwise.
fn interop() -> Option<&'static Interop> {
    match INTEROP.get_or_init(setup_interop) {
        Ok(interop) => Some(interop),
        Err(e) if std::env::var("FLOE_SKIP_INTEROP").as_deref() == Ok("1") => {
            let bar = "!".repeat(78);
            eprintln!("\n{bar}\n!! INTEROP TEST SKIPPED (FLOE_SKIP_INTEROP=1): nothing was checked.\n!! {e}\n{bar}\n");
            None
        }
        Err(e) => panic!("interop environment unavailable (set FLOE_SKIP_INTEROP=1 to skip these tests): {e}"),
    }
}

fn setup_interop() -> Result<Interop, String> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = match std::env::var_os("FLOE_VENV_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let setup = repo.join("interop/setup.sh");
            let out = Command::new("bash")
                .arg(&setup)
                .current_dir(repo)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run bash {}: {e}", setup.display()))?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                return Err(format!("{} failed ({}):\n{stderr}", setup.display(), out.status));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().rev().map(str::trim).find(|l| !l.is_empty());
            PathBuf::from(last.ok_or_else(|| format!("{} printed no python path; stderr:\n{stderr}", setup.display()))?)
        }
    };
    if !python.is_file() {
        return Err(format!("python interpreter {} does not exist", python.display()));
    }
    Ok(Interop { python, script: repo.join("interop/floe_interop.py") })
}

impl Interop {
    /// `python floe_interop.py ARGS…`, not yet run.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.python);
        cmd.arg(&self.script).args(args).stdin(Stdio::null());
        cmd
    }

    /// Runs a subcommand to completion and decodes its JSON document.
    fn run(&self, args: &[&str]) -> Value {
        let out = self.command(args).output().expect("spawn the venv python");
        decode(&format!("floe_interop.py {}", args.join(" ")), &out)
    }

    /// Runs `python -c CODE ARGS…`; the snippet prints one JSON line last.
    fn snippet(&self, code: &str, args: &[&str]) -> Value {
        let out = Command::new(&self.python)
            .arg("-c")
            .arg(code)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("spawn the venv python");
        decode("inline python snippet", &out)
    }

    /// Reads `table` with a reader subcommand (`pyiceberg-read`, `duckdb-read`,
    /// `datashard-read`), optionally from one metadata file; returns its rows.
    fn read(&self, reader: &str, table: &Path, metadata: Option<&Path>) -> Vec<Value> {
        let mut args = vec![reader, path_str(table)];
        if let Some(m) = metadata {
            args.extend(["--metadata", path_str(m)]);
        }
        let doc = self.run(&args);
        let rows = doc["rows"].as_array().unwrap_or_else(|| panic!("{reader}: no rows in {doc}")).clone();
        assert_eq!(doc["count"], json!(rows.len()), "{reader}: count disagrees with rows");
        rows
    }
}

/// The JSON document a successful run printed (last non-empty stdout line); panics
/// with the exit status and stderr otherwise.
fn decode(what: &str, out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stderr ---\n{stderr}\n--- stdout ---\n{stdout}",
        out.status
    );
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    let line = line.unwrap_or_else(|| panic!("{what} printed nothing on stdout; stderr:\n{stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: stdout is not JSON ({e}): {line}\nstderr:\n{stderr}"))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("tempdir paths are UTF-8")
}

// ------------------------------------------------------------------ floe rows as JSON

/// Every row of the table's current snapshot, each value in the script's JSON form.
fn floe_rows(table: &Table) -> Vec<Value> {
    let schema = table.schema();
    let batches = table.scan().to_batches().expect("floe scan");
    let mut rows = Vec::new();
    for batch in &batches {
        let columns: Vec<(String, Vec<Value>)> = schema
            .fields()
            .iter()
            .map(|f| {
                let ty = f.field_type.as_primitive().expect("interop tables have primitive columns only");
                let col = batch.column_by_name(&f.name).unwrap_or_else(|| panic!("scan output lacks {}", f.name));
                (f.name.clone(), column_json(col, ty))
            })
            .collect();
        for r in 0..batch.num_rows() {
            rows.push(Value::Object(columns.iter().map(|(name, vals)| (name.clone(), vals[r].clone())).collect()));
        }
    }
    rows
}

/// One Arrow column as JSON values, in the forms `floe_interop.py` documents.
fn column_json(col: &ArrayRef, ty: &PrimitiveType) -> Vec<Value> {
    let col = arrow_cast::cast(col, &primitive_to_arrow(ty)).expect("cast to floe's Arrow type");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    (0..col.len())
        .map(|i| {
            if col.is_null(i) {
                return Value::Null;
            }
            match ty {
                PrimitiveType::Boolean => json!(col.as_boolean().value(i)),
                PrimitiveType::Int => json!(col.as_primitive::<Int32Type>().value(i)),
                PrimitiveType::Long => json!(col.as_primitive::<Int64Type>().value(i)),
                PrimitiveType::Float => float_json(f64::from(col.as_primitive::<Float32Type>().value(i))),
                PrimitiveType::Double => float_json(col.as_primitive::<Float64Type>().value(i)),
                PrimitiveType::Decimal { scale, .. } => {
                    json!(decimal_str(col.as_primitive::<Decimal128Type>().value(i), *scale))
                }
                PrimitiveType::Date => {
                    json!(date_str(col.as_primitive::<Date32Type>().value(i).into()))
                }
                PrimitiveType::Time => json!(time_str(col.as_primitive::<Time64MicrosecondType>().value(i))),
                PrimitiveType::Timestamp => {
                    json!(timestamp_str(col.as_primitive::<TimestampMicrosecondType>().value(i)))
                }
                PrimitiveType::Timestamptz => {
                    json!(format!("{}+00:00", timestamp_str(col.as_primitive::<TimestampMicrosecondType>().value(i))))
                }
                PrimitiveType::String => json!(col.as_string::<i32>().value(i)),
                PrimitiveType::Binary => json!(hex(col.as_binary::<i32>().value(i))),
                PrimitiveType::Fixed(_) => json!(hex(col.as_fixed_size_binary().value(i))),
                PrimitiveType::Uuid => {
                    let bytes = col.as_fixed_size_binary().value(i);
                    json!(uuid::Uuid::from_slice(bytes).expect("uuid is 16 bytes").to_string())
                }
            }
        })
        .collect()
}

/// Finite floats as numbers; NaN and infinities as the script's strings.
fn float_json(v: f64) -> Value {
    match v {
        v if v.is_nan() => json!("NaN"),
        f64::INFINITY => json!("Infinity"),
        f64::NEG_INFINITY => json!("-Infinity"),
        v => json!(v),
    }
}

/// Python's `str(Decimal)` for an unscaled value and a scale (plain notation).
fn decimal_str(unscaled: i128, scale: u32) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let digits = format!("{digits:0>width$}", width = scale as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - scale as usize);
    format!("{sign}{int}.{frac}")
}

/// `YYYY-MM-DD` of days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
fn date_str(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `HH:MM:SS.ffffff` of microseconds since midnight.
fn time_str(micros: i64) -> String {
    let secs = micros / 1_000_000;
    format!("{:02}:{:02}:{:02}.{:06}", secs / 3600, secs / 60 % 60, secs % 60, micros % 1_000_000)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff` of microseconds since the epoch.
fn timestamp_str(micros: i64) -> String {
    const DAY: i64 = 86_400_000_000;
    format!("{}T{}", date_str(micros.div_euclid(DAY)), time_str(micros.rem_euclid(DAY)))
}

// ------------------------------------------------------------------ rows of the interop schema

/// The interop schema (field ids 1 id long required, 2 name string, 3 value double),
/// the same one `floe_interop.py` gives datashard.
fn interop_schema() -> Schema {
    common::schema()
}

/// One interop-schema row in JSON form.
fn row(id: i64, name: Option<&str>, value: Option<f64>) -> Value {
    json!({"id": id, "name": name, "value": value.map(float_json)})
}

/// A row as `floe_interop.py`'s datashard commands write it.
fn ds_row(id: i64) -> Value {
    row(id, Some(&format!("ds-{id}")), Some(id as f64 * 1.5))
}

/// Rows `start..start+n` as floe writes them in these tests — with nulls (name for
/// ids divisible by 3, value for ids divisible by 4) and NaN (value, ids divisible by
/// 7 but not 4) — as a batch and as the JSON rows expected back.
fn floe_batch(start: i64, n: usize) -> (RecordBatch, Vec<Value>) {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let names: Vec<Option<String>> = ids.iter().map(|i| (i % 3 != 0).then(|| format!("floe-{i}"))).collect();
    let values: Vec<Option<f64>> = ids
        .iter()
        .map(|&i| match i {
            i if i % 4 == 0 => None,
            i if i % 7 == 0 => Some(f64::NAN),
            i => Some(i as f64 * 0.25),
        })
        .collect();
    let expected = ids.iter().zip(&names).zip(&values).map(|((&i, n), &v)| row(i, n.as_deref(), v)).collect();
    let batch = RecordBatch::try_new(
        Arc::new(interop_schema().to_arrow()),
        vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(names)), Arc::new(Float64Array::from(values))],
    )
    .expect("interop batch");
    (batch, expected)
}

/// Appends `floe_batch(start, n)` in one floe commit; returns the expected rows.
fn floe_append(table: &Table, start: i64, n: usize) -> Vec<Value> {
    let (batch, expected) = floe_batch(start, n);
    table.append(&[batch]).expect("floe append");
    expected
}

/// A new floe table in `dir` with a few commits (nulls and NaN included); returns
/// the table and every row it holds.
fn floe_table_with_commits(dir: &Path) -> (Table, Vec<Value>) {
    let table = Table::create_with(dir, interop_schema(), relaxed()).expect("create floe table");
    let mut rows = floe_append(&table, 1, 10);
    rows.extend(floe_append(&table, 11, 5));
    rows.extend(floe_append(&table, 16, 13));
    (table, rows)
}

// ------------------------------------------------------------------ comparisons

/// Asserts `actual` holds exactly the rows of `expected`, each as often (order free).
fn assert_same_rows(context: &str, expected: &[Value], actual: &[Value]) {
    let mut balance: BTreeMap<String, i64> = BTreeMap::new();
    for r in expected {
        *balance.entry(r.to_string()).or_default() += 1;
    }
    for r in actual {
        *balance.entry(r.to_string()).or_default() -= 1;
    }
    let missing: Vec<_> = balance.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("  {n}x {r}")).collect();
    let extra: Vec<_> = balance.iter().filter(|(_, n)| **n < 0).map(|(r, n)| format!("  {}x {r}", -n)).collect();
    if missing.is_empty() && extra.is_empty() {
        return;
    }
    let show = |v: &[String]| v.iter().take(12).cloned().collect::<Vec<_>>().join("\n");
    panic!(
        "{context}: {} rows expected, {} read; {} expected rows missing, {} rows unexpected or duplicated\n\
         missing:\n{}\nunexpected:\n{}",
        expected.len(),
        actual.len(),
        missing.len(),
        extra.len(),
        show(&missing),
        show(&extra)
    );
}

/// How often each id occurs in `rows`.
fn id_counts(rows: &[Value]) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for r in rows {
        *counts.entry(r["id"].as_i64().unwrap_or_else(|| panic!("row without an id: {r}"))).or_default() += 1;
    }
    counts
}

fn ids_of(doc: &Value, key: &str) -> Vec<i64> {
    let list = doc[key].as_array().unwrap_or_else(|| panic!("no {key:?} list in {doc}"));
    list.iter().map(|v| v.as_i64().expect("integer id")).collect()
}

// ------------------------------------------------------------------ tests

/// 1. pyiceberg reads a floe table (three commits, nulls and NaN) row for row.
#[test]
fn pyiceberg_reads_floe_table() {
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (table, written) = floe_table_with_commits(dir.path());
    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows written", &written, &floe);
    assert_same_rows("pyiceberg-read vs floe scan", &floe, &py.read("pyiceberg-read", dir.path(), None));
}

/// 2. DuckDB's iceberg_scan reads the same kind of floe table row for row.
#[test]
fn duckdb_reads_floe_table() {
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (table, written) = floe_table_with_commits(dir.path());
    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows written", &written, &floe);
    assert_same_rows("duckdb-read vs floe scan", &floe, &py.read("duckdb-read", dir.path(), None));
}

/// A table with one column of every primitive type, and the rows written to it in
/// the script's JSON forms.
fn all_types_table(dir: &Path) -> (Table, Vec<Value>) {
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("b", PrimitiveType::Boolean)
        .optional("i", PrimitiveType::Int)
        .optional("l", PrimitiveType::Long)
        .optional("f", PrimitiveType::Float)
        .optional("d", PrimitiveType::Double)
        .optional("dec", PrimitiveType::Decimal { precision: 12, scale: 3 })
        .optional("dt", PrimitiveType::Date)
        .optional("t", PrimitiveType::Time)
        .optional("ts", PrimitiveType::Timestamp)
        .optional("tstz", PrimitiveType::Timestamptz)
        .optional("s", PrimitiveType::String)
        .optional("bin", PrimitiveType::Binary)
        .optional("u", PrimitiveType::Uuid)
        .optional("fx", PrimitiveType::Fixed(3))
        .build()
        .unwrap();
    let uuid = |s: &str| uuid::Uuid::parse_str(s).unwrap().as_bytes().to_vec();
    let ts_2024 = 1_709_210_096_789_012; // 2024-02-29T12:34:56.789012
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![0, 1, 2, 3, 4])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None, Some(true), None])),
        Arc::new(Int32Array::from(vec![Some(i32::MIN), Some(i32::MAX), None, Some(0), Some(-1)])),
        Arc::new(Int64Array::from(vec![Some(i64::MIN), Some(i64::MAX), None, Some(0), Some(-1)])),
        Arc::new(Float32Array::from(vec![Some(-1.5), Some(f32::NAN), None, Some(f32::INFINITY), Some(0.1)])),
        Arc::new(Float64Array::from(vec![Some(0.1), Some(1e300), None, Some(f64::NEG_INFINITY), Some(f64::NAN)])),
        Arc::new(
            Decimal128Array::from(vec![Some(-123_456_789_123i128), Some(999_999_999_999), None, Some(1), Some(-500)])
                .with_precision_and_scale(12, 3)
                .unwrap(),
        ),
        Arc::new(Date32Array::from(vec![Some(0), Some(19_782), None, Some(-25_567), None])),
        Arc::new(Time64MicrosecondArray::from(vec![Some(0), Some(86_399_999_999), None, Some(43_200_000_001), None])),
        Arc::new(TimestampMicrosecondArray::from(vec![Some(0), Some(ts_2024), None, Some(-14_182_940_000_000), None])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![Some(0), Some(-1), None, Some(ts_2024), None]).with_timezone("UTC"),
        ),
        Arc::new(StringArray::from(vec![Some(""), Some("héllo, 世界 \"q\" \\ \n"), None, Some("x"), None])),
        Arc::new(BinaryArray::from_opt_vec(vec![
            Some(&b""[..]),
            Some(&[0xde, 0xad, 0xbe, 0xef][..]),
            None,
            Some(&[0][..]),
            None,
        ])),
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                [
                    Some(vec![0u8; 16]),
                    Some(uuid("f81d4fae-7dec-11d0-a765-00a0c91e6bf6")),
                    None,
                    Some(uuid("123e4567-e89b-12d3-a456-426614174000")),
                    None,
                ]
                .into_iter(),
                16,
            )
            .unwrap(),
        ),
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                [Some(vec![0u8, 0, 0]), Some(vec![1, 2, 0xff]), None, Some(vec![0xab, 0xcd, 0xef]), None].into_iter(),
                3,
            )
            .unwrap(),
        ),
    ];
    let batch = RecordBatch::try_new(Arc::new(schema.to_arrow()), columns).expect("all-types batch");
    let expected = vec![
        json!({"id": 0, "b": true, "i": i32::MIN, "l": i64::MIN, "f": -1.5, "d": 0.1, "dec": "-123456789.123",
               "dt": "1970-01-01", "t": "00:00:00.000000", "ts": "1970-01-01T00:00:00.000000",
               "tstz": "1970-01-01T00:00:00.000000+00:00", "s": "", "bin": "",
               "u": "00000000-0000-0000-0000-000000000000", "fx": "000000"}),
        json!({"id": 1, "b": false, "i": i32::MAX, "l": i64::MAX, "f": "NaN", "d": 1e300, "dec": "999999999.999",
               "dt": "2024-02-29", "t": "23:59:59.999999", "ts": "2024-02-29T12:34:56.789012",
               "tstz": "1969-12-31T23:59:59.999999+00:00", "s": "héllo, 世界 \"q\" \\ \n", "bin": "deadbeef",
               "u": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "fx": "0102ff"}),
        json!({"id": 2, "b": null, "i": null, "l": null, "f": null, "d": null, "dec": null, "dt": null, "t": null,
               "ts": null, "tstz": null, "s": null, "bin": null, "u": null, "fx": null}),
        json!({"id": 3, "b": true, "i": 0, "l": 0, "f": "Infinity", "d": "-Infinity", "dec": "0.001",
               "dt": "1900-01-01", "t": "12:00:00.000001", "ts": "1969-07-20T20:17:40.000000",
               "tstz": "2024-02-29T12:34:56.789012+00:00", "s": "x", "bin": "00",
               "u": "123e4567-e89b-12d3-a456-426614174000", "fx": "abcdef"}),
        json!({"id": 4, "b": null, "i": -1, "l": -1, "f": f64::from(0.1f32), "d": "NaN", "dec": "-0.500",
               "dt": null, "t": null, "ts": null, "tstz": null, "s": null, "bin": null, "u": null, "fx": null}),
    ];
    let table = Table::create_with(dir, schema, relaxed()).expect("create all-types table");
    // Two commits, so readers also merge files with different column statistics.
    table.append(&[batch.slice(0, 2)]).expect("append rows 0-1");
    table.append(&[batch.slice(2, 3)]).expect("append rows 2-4");
    (table, expected)
}

/// 3. Every primitive type floe writes is read back identically by pyiceberg, with
///    the schema (ids, type strings, required) pyiceberg reports matching floe's.
#[test]
fn pyiceberg_reads_every_primitive_type() {
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (table, expected) = all_types_table(dir.path());
    assert_same_rows("floe scan vs values written", &expected, &floe_rows(&table));
    let doc = py.run(&["pyiceberg-read", path_str(dir.path())]);
    let floe_schema: Vec<Value> = table
        .schema()
        .fields()
        .iter()
        .map(|f| json!([f.id, f.name, f.field_type.as_primitive().unwrap().to_string(), f.required]))
        .collect();
    assert_eq!(doc["schema"], Value::Array(floe_schema), "schema as pyiceberg reads it");
    assert_same_rows("pyiceberg-read vs values written", &expected, doc["rows"].as_array().unwrap());
}

/// 3b. The same all-types table through DuckDB (a separate test so a DuckDB-only
///     type quirk is told apart from a floe bug).
#[test]
fn duckdb_reads_every_primitive_type() {
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_table, expected) = all_types_table(dir.path());
    assert_same_rows("duckdb-read vs values written", &expected, &py.read("duckdb-read", dir.path(), None));
}

/// 4. datashard reads a floe table, appends to it; a fresh floe handle reads both
///    writers' rows and appends again; pyiceberg and datashard read all rows once.
#[test]
fn datashard_and_floe_take_turns_on_a_floe_table() {
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (table, mut expected) = floe_table_with_commits(dir.path());
    drop(table);
    assert_same_rows("datashard-read of the floe table", &expected, &py.read("datashard-read", dir.path(), None));

    let doc = py.run(&["datashard-append", path_str(dir.path()), "--start", "1000", "--count", "3", "--batches", "2"]);
    let ds_ids = ids_of(&doc, "committed");
    assert_eq!(ds_ids, (1000..1006).collect::<Vec<_>>(), "datashard-append committed");
    expected.extend(ds_ids.iter().map(|&i| ds_row(i)));

    let table = Table::open_with(dir.path(), relaxed()).expect("floe opens the table after datashard");
    assert_same_rows("floe scan after datashard's appends", &expected, &floe_rows(&table));
    expected.extend(floe_append(&table, 2000, 4));
    let reopened = Table::open(dir.path()).expect("floe reopens");
    assert_same_rows("floe scan after floe's append on datashard's commits", &expected, &floe_rows(&reopened));

    assert_same_rows("pyiceberg-read of the final table", &expected, &py.read("pyiceberg-read", dir.path(), None));
    assert_same_rows("datashard-read of the final table", &expected, &py.read("datashard-read", dir.path(), None));
}

/// 5. floe opens, reads and appends to a table datashard created; datashard reads
///    floe's rows back.
#[test]
fn floe_appends_to_a_datashard_table() {
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let doc = py.run(&["datashard-create", path_str(dir.path()), "--start", "1", "--count", "5"]);
    assert_eq!(doc["created"], json!(true), "datashard-create: {doc}");
    let mut expected: Vec<Value> = ids_of(&doc, "committed").into_iter().map(ds_row).collect();
    assert_eq!(expected.len(), 5);

    let table = Table::open_with(dir.path(), relaxed()).expect("floe opens datashard's table");
    assert_same_rows("floe scan of datashard's table", &expected, &floe_rows(&table));
    expected.extend(floe_append(&table, 100, 6));
    expected.extend(floe_append(&table, 200, 2));
    assert_same_rows("floe scan after floe's appends", &expected, &floe_rows(&Table::open(dir.path()).unwrap()));

    assert_same_rows("datashard-read after floe's appends", &expected, &py.read("datashard-read", dir.path(), None));
    // And datashard can still commit on top of floe's commits.
    let doc = py.run(&["datashard-append", path_str(dir.path()), "--start", "300", "--count", "2"]);
    expected.extend(ids_of(&doc, "committed").into_iter().map(ds_row));
    assert_same_rows("pyiceberg-read of the final table", &expected, &py.read("pyiceberg-read", dir.path(), None));
}

/// What the datashard child of a concurrent run reported.
struct DatashardRun {
    acked: Vec<i64>,
    failed: Vec<i64>,
    ambiguous: Vec<i64>,
    doc: Value,
}

/// A floe writer (this process, handle options `options`) and a `datashard-concurrent`
/// process append single rows to one table at the same time: `n` rows each, floe ids
/// 1..=n, datashard ids from 100000. Then every acknowledged row must be there exactly
/// once (read by floe and by pyiceberg), nothing unacknowledged may be, and the
/// snapshots must form one unbroken line.
fn race_datashard(py: &Interop, options: floe::TableOptions, n: usize) {
    const DS_START: i64 = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let table_dir = dir.path().join("t");
    let table = Table::create_with(&table_dir, interop_schema(), options).expect("create floe table");
    table.append(&[floe_batch(0, 1).0]).expect("seed commit");
    let seeded = table.version();

    // stderr to a file: a full pipe would stall datashard while we are busy.
    let stderr_path = dir.path().join("datashard.stderr");
    let (start, count) = (DS_START.to_string(), n.to_string());
    let args = ["datashard-concurrent", path_str(&table_dir), "--start", &start, "--count", &count];
    let mut child = py
        .command(&args)
        .stdout(Stdio::piped())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .expect("spawn datashard-concurrent");

    // Start once datashard is committing (python's imports take a while), so the two
    // writers really overlap.
    let deadline = Instant::now() + Duration::from_secs(120);
    while table.version() == seeded && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(10));
        table.refresh().expect("refresh");
    }

    let (mut floe_acked, mut floe_failed, mut floe_conflicts) = (vec![0], Vec::new(), 0);
    for id in 1..=n as i64 {
        match table.append(&[floe_batch(id, 1).0]) {
            Ok(report) => {
                floe_conflicts += report.conflicts;
                floe_acked.push(id);
            }
            Err(e) if e.is_concurrent_modification() => floe_failed.push((id, e.to_string())),
            Err(e) => panic!("floe append of id {id} failed with a non-conflict error: {e}"),
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let out = child.wait_with_output().expect("wait for datashard-concurrent");
    let out = Output { stderr: std::fs::read(&stderr_path).unwrap_or_default(), ..out };
    let doc = decode("floe_interop.py datashard-concurrent", &out);
    let ds = DatashardRun {
        acked: ids_of(&doc, "committed"),
        failed: ids_of(&doc, "failed"),
        ambiguous: ids_of(&doc, "ambiguous"),
        doc,
    };

    let reopened = Table::open(&table_dir).expect("floe reopens");
    // Writers in commit order (true = floe): how often the turn changed hands.
    let writers: Vec<bool> = reopened.snapshots().iter().map(|s| s.commit_id().is_some()).collect();
    let switches = writers.windows(2).filter(|w| w[0] != w[1]).count();
    eprintln!(
        "race: floe {} acked, {} gave up, {floe_conflicts} races lost and rebased; datashard {} acked, {} gave up, \
         {} ambiguous, {} retries; {switches} hand-overs between writers in {} snapshots",
        floe_acked.len() - 1,
        floe_failed.len(),
        ds.acked.len(),
        ds.failed.len(),
        ds.ambiguous.len(),
        ds.doc["retries"],
        writers.len(),
    );
    assert_linear_history(&reopened);

    for (reader, rows) in
        [("floe", floe_rows(&reopened)), ("pyiceberg-read", py.read("pyiceberg-read", &table_dir, None))]
    {
        let counts = id_counts(&rows);
        let lost: Vec<_> = floe_acked.iter().chain(&ds.acked).filter(|id| counts.get(id) != Some(&1)).collect();
        assert!(lost.is_empty(), "{reader}: acknowledged ids not present exactly once: {lost:?} (counts {counts:?})");
        let failed = floe_failed.iter().map(|(id, _)| id).chain(&ds.failed);
        let phantom: Vec<_> = failed.filter(|id| counts.contains_key(id)).collect();
        assert!(phantom.is_empty(), "{reader}: ids whose commit failed are present: {phantom:?}");
        let twice: Vec<_> = ds.ambiguous.iter().filter(|id| counts.get(id).is_some_and(|n| *n > 1)).collect();
        assert!(twice.is_empty(), "{reader}: ambiguous ids present more than once: {twice:?}");
        let known = |id: &i64| floe_acked.contains(id) || ds.acked.contains(id) || ds.ambiguous.contains(id);
        let unknown: Vec<_> = counts.keys().filter(|id| !known(id)).collect();
        assert!(unknown.is_empty(), "{reader}: ids nobody acknowledged: {unknown:?}");
    }
    // Not data loss, but worth knowing: a writer gave up under this light contention.
    assert!(floe_failed.is_empty(), "floe commits that gave up: {floe_failed:?}");
    assert!(ds.failed.is_empty() && ds.ambiguous.is_empty(), "datashard commits that gave up: {}", ds.doc);
    assert!(switches >= 2, "the writers never interleaved ({switches} hand-overs): the race was not exercised");
}

/// Retained snapshots form one line: each one's parent is the one before it, and
/// sequence numbers go up by exactly one (no commit was overwritten or forked).
fn assert_linear_history(table: &Table) {
    let snaps = table.snapshots();
    for w in snaps.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        assert_eq!(
            b.parent_snapshot_id,
            Some(a.snapshot_id),
            "snapshot {} does not follow {}",
            b.snapshot_id,
            a.snapshot_id
        );
        assert_eq!(
            b.sequence_number,
            a.sequence_number + 1,
            "sequence numbers of {} and {}",
            a.snapshot_id,
            b.snapshot_id
        );
    }
    let current = table.current_snapshot().map(|s| s.snapshot_id);
    assert_eq!(current, snaps.last().map(|s| s.snapshot_id), "the current snapshot is the newest one");
}

/// 6. floe (default options: durable, queueing on the shared advisory lock) and
///    datashard append concurrently and lose nothing.
#[test]
fn floe_and_datashard_append_concurrently() {
    let Some(py) = interop() else { return };
    race_datashard(py, floe::TableOptions::default(), 40);
}

/// 6b. The same race with floe ignoring the advisory lock, so only the exclusive
///     creation of `v<N>.metadata.json` separates the writers: both sides must lose
///     races and rebase or retry, and still lose nothing.
#[test]
fn floe_without_lock_and_datashard_append_concurrently() {
    let Some(py) = interop() else { return };
    let options = floe::TableOptions { advisory_lock: false, ..floe::TableOptions::default() };
    race_datashard(py, options, 40);
}

/// Python: create a table with pyiceberg's SQL catalog (sqlite + warehouse in
/// argv[1]) in one transaction with a first append (metadata `00000-…`), append once
/// more (`00001-…`), print both metadata locations.
const PYICEBERG_WRITER: &str = r#"
import json, pathlib, sys
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import DoubleType, LongType, NestedField, StringType

root = pathlib.Path(sys.argv[1]).resolve()
catalog = SqlCatalog("floe", uri=f"sqlite:///{root}/catalog.db", warehouse=root.as_uri())
catalog.create_namespace("ns")
schema = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "value", DoubleType(), required=False),
)

def rows(ids):
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": [None if i % 3 == 0 else f"py-{i}" for i in ids],
        "value": [None if i % 4 == 0 else float("nan") if i % 7 == 0 else i * 0.5 for i in ids],
    }, schema=schema.as_arrow())

with catalog.create_table_transaction("ns.t", schema=schema) as tx:
    tx.append(rows(list(range(1, 9))))
first = catalog.load_table("ns.t")
first_location = first.metadata_location
first.append(rows(list(range(9, 15))))
table = catalog.load_table("ns.t")
print(json.dumps({"first": first_location, "second": table.metadata_location, "location": table.location()}))
"#;

/// The rows `PYICEBERG_WRITER` writes for these ids.
fn pyiceberg_row(id: i64) -> Value {
    let name = (id % 3 != 0).then(|| format!("py-{id}"));
    let value = match id {
        i if i % 4 == 0 => None,
        i if i % 7 == 0 => Some(f64::NAN),
        i => Some(i as f64 * 0.5),
    };
    row(id, name.as_deref(), value)
}

/// 7. A table pyiceberg wrote through its SQL catalog (catalog-style metadata names,
///    no version hint) opened by floe from its metadata files reads the same rows.
#[test]
fn floe_reads_a_pyiceberg_table_from_its_metadata_file() {
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let doc = py.snippet(PYICEBERG_WRITER, &[path_str(dir.path())]);
    let local = |key: &str| {
        let uri = doc[key].as_str().unwrap_or_else(|| panic!("no {key} in {doc}"));
        PathBuf::from(uri.strip_prefix("file://").unwrap_or_else(|| panic!("{key} is not a file URI: {uri}")))
    };
    let (first, second, location) = (local("first"), local("second"), local("location"));
    assert!(first.file_name().unwrap().to_str().unwrap().starts_with("00000-"), "first metadata file: {first:?}");

    for (metadata, ids) in [(&first, 1..9), (&second, 1..15)] {
        let expected: Vec<Value> = ids.map(pyiceberg_row).collect();
        let table = Table::open_metadata_file(metadata)
            .unwrap_or_else(|e| panic!("floe open_metadata_file({}): {e}", metadata.display()));
        let context = format!("floe scan of {}", metadata.display());
        assert_same_rows(&context, &expected, &floe_rows(&table));
        let context = format!("pyiceberg-read of {}", metadata.display());
        assert_same_rows(&context, &expected, &py.read("pyiceberg-read", &location, Some(metadata)));
    }
}

/// 8. After 120 single-row floe commits with floe's default table properties (so
///    manifests were merged, snapshots expired and old metadata files deleted along
///    the way), pyiceberg and DuckDB still read all 120 rows.
#[test]
fn readers_follow_a_table_past_merge_and_expiry() {
    const COMMITS: i64 = 120;
    let Some(py) = interop() else { return };
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create with default properties");
    let expected: Vec<Value> = (1..=COMMITS).flat_map(|id| floe_append(&table, id, 1)).collect();

    let versions = std::fs::read_dir(dir.path().join("metadata"))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".metadata.json")))
        .count();
    eprintln!(
        "after {COMMITS} commits: version v{}, {} snapshots retained, {versions} metadata files on disk",
        table.version(),
        table.snapshots().len()
    );
    assert_same_rows("floe scan", &expected, &floe_rows(&Table::open(dir.path()).unwrap()));
    assert_same_rows("pyiceberg-read", &expected, &py.read("pyiceberg-read", dir.path(), None));
    assert_same_rows("duckdb-read", &expected, &py.read("duckdb-read", dir.path(), None));
}
