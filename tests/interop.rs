//! Interoperability: floe tables read and written by real third-party Iceberg
//! implementations — pyiceberg 0.12, DuckDB 1.5.5 with its iceberg extension, and
//! datashard 0.11.2 — and tables they wrote read and extended by floe.
//!
//! The third-party side runs in a Python virtual environment, one subprocess per read
//! or write, mostly through `interop/floe_interop.py`: each subcommand prints one JSON
//! document (the script's module docstring defines the subcommands and the JSON form
//! of every value). What the script does not offer (pyiceberg writing a table,
//! filtered scans, metric decoding, reading through the version hint) is a short
//! inline Python snippet next to the test that runs it.
//!
//! Environment: the interpreter is `$FLOE_VENV_PYTHON`, or else the one
//! `interop/setup.sh` prints after creating the venv from the package registry (run
//! once per test binary). If that fails, every test here fails — unless
//! `FLOE_SKIP_INTEROP=1`, in which case they print a loud notice and check nothing. A
//! `$FLOE_VENV_PYTHON` that is set but broken always fails: the skip is only for a
//! machine without the venv.
//! `FLOE_INTEROP_KEEP=1` keeps each test's directory for inspection.
//!
//! Rows are compared as JSON values: floe's own scan is converted to the script's
//! forms (see [`column_json`]), and row lists are compared as multisets, so every
//! comparison checks "each row exactly once". Each test works in its own directory.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
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
use floe::spec::{PrimitiveType, Schema};
use floe::testing::primitive_to_arrow;
use floe::{Table, TableOptions};
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
        Err(e)
            if std::env::var("FLOE_SKIP_INTEROP").as_deref() == Ok("1")
                && std::env::var_os("FLOE_VENV_PYTHON").is_none() =>
        {
            // Straight to the process's stderr: the test harness captures eprintln!.
            let bar = "!".repeat(78);
            let notice = format!(
                "\n{bar}\n!! INTEROP TEST SKIPPED (FLOE_SKIP_INTEROP=1): nothing was checked.\n!! {e}\n{bar}\n"
            );
            let _ = std::io::stderr().write_all(notice.as_bytes());
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

    /// Runs a DuckDB snippet: [`DUCKDB_PRELUDE`] + `body`, with `args` then the
    /// script's directory as arguments.
    fn duckdb_snippet(&self, body: &str, args: &[&str]) -> Value {
        let interop_dir = self.script.parent().expect("the script's directory");
        let args: Vec<&str> = args.iter().copied().chain([path_str(interop_dir)]).collect();
        self.snippet(&format!("{DUCKDB_PRELUDE}\n{body}"), &args)
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

/// Python prelude of DuckDB snippets (last argument: the `interop/` directory):
/// `duckdb_connect()` opens an offline in-memory DuckDB with the avro and iceberg
/// extensions the venv's pip packages ship, as `floe_interop.py` does.
const DUCKDB_PRELUDE: &str = r#"
import atexit, shutil, sys, tempfile
sys.path.insert(0, sys.argv[-1])
import duckdb
import floe_interop

def duckdb_connect():
    ext_dir = tempfile.mkdtemp(prefix="floe-duckdb-ext-")
    atexit.register(shutil.rmtree, ext_dir, True)
    con = duckdb.connect(config={"extension_directory": ext_dir, "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False, "threads": 1})
    con.execute("SET enable_progress_bar = false")
    for package, name in (("duckdb_extension_avro", "avro"), ("duckdb_extension_iceberg", "iceberg")):
        con.execute(f"LOAD '{floe_interop._duckdb_extension(package, name)}'")
    con.execute("SET TimeZone = 'UTC'")
    return con
"#;

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

/// A fresh directory for one test, removed afterwards — or kept, with its path
/// printed, when `FLOE_INTEROP_KEEP=1` (to inspect what the readers saw).
fn scratch(test: &str) -> tempfile::TempDir {
    let mut dir = tempfile::Builder::new().prefix(&format!("floe-interop-{test}-")).tempdir().unwrap();
    if std::env::var("FLOE_INTEROP_KEEP").as_deref() == Ok("1") {
        dir.disable_cleanup(true);
        eprintln!("{test}: keeping {}", dir.path().display());
    }
    dir
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

/// `YYYY-MM-DD` of days since 1970-01-01 (floe's own `Datum` display, the script's form).
fn date_str(days: i64) -> String {
    floe::spec::Datum::Date(days as i32).to_string()
}

/// `HH:MM:SS.ffffff` of microseconds since midnight.
fn time_str(micros: i64) -> String {
    floe::spec::Datum::Time(micros).to_string()
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff` of microseconds since the epoch.
fn timestamp_str(micros: i64) -> String {
    floe::spec::Datum::Timestamp(micros).to_string()
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

/// The name and value of row `id` in the rows these tests write (floe's, and
/// `PYICEBERG_WRITER`'s with another prefix and factor): name `<prefix>-<id>` but null
/// for ids divisible by 3; value `id * factor`, but null for ids divisible by 4 and
/// NaN for the other multiples of 7.
fn patterned(id: i64, prefix: &str, factor: f64) -> (Option<String>, Option<f64>) {
    let name = (id % 3 != 0).then(|| format!("{prefix}-{id}"));
    let value = match id {
        i if i % 4 == 0 => None,
        i if i % 7 == 0 => Some(f64::NAN),
        i => Some(i as f64 * factor),
    };
    (name, value)
}

/// Rows `start..start+n` as floe writes them in these tests (`patterned` with
/// "floe", 0.25), as a batch and as the JSON rows expected back.
fn floe_batch(start: i64, n: usize) -> (RecordBatch, Vec<Value>) {
    let ids: Vec<i64> = (start..start + n as i64).collect();
    let (names, values): (Vec<_>, Vec<_>) = ids.iter().map(|&i| patterned(i, "floe", 0.25)).unzip();
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
    let dir = scratch("pyiceberg_reads_floe_table");
    let (table, written) = floe_table_with_commits(dir.path());
    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows written", &written, &floe);
    assert_same_rows("pyiceberg-read vs floe scan", &floe, &py.read("pyiceberg-read", dir.path(), None));
}

/// 2. DuckDB's iceberg_scan reads the same kind of floe table row for row.
#[test]
fn duckdb_reads_floe_table() {
    let Some(py) = interop() else { return };
    let dir = scratch("duckdb_reads_floe_table");
    let (table, written) = floe_table_with_commits(dir.path());
    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows written", &written, &floe);
    assert_same_rows("duckdb-read vs floe scan", &floe, &py.read("duckdb-read", dir.path(), None));
}

/// 2b. A file whose later row groups differ from its first (docs/design.md "Work that
/// does not pay is not retried"): `name` (distinct 60-character strings) loses its
/// dictionary and `value` (random doubles) its compression after the first row group.
/// pyiceberg and DuckDB read it row for row.
#[test]
fn readers_read_a_file_whose_later_row_groups_drop_dictionary_and_compression() {
    use floe::parquet::basic::Compression;
    use floe::parquet::file::reader::{FileReader, SerializedFileReader};
    let Some(py) = interop() else { return };
    let dir = scratch("readers_read_a_file_whose_later_row_groups_drop_dictionary_and_compression");
    let options = relaxed().write(floe::WriteOptions::default().row_group_size(20_000));
    let table = Table::create_with(dir.path(), interop_schema(), options).expect("create floe table");
    let n = 60_000_i64;
    let mut x = 0x2545_F491_4F6C_DD1D_u64;
    let values: Vec<f64> = (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            f64::from_bits((x >> 12) | 0x4000_0000_0000_0000)
        })
        .collect();
    let names: Vec<String> = (0..n).map(|i| format!("{i:060}")).collect();
    let expected: Vec<Value> = (0..n).map(|i| row(i, Some(&names[i as usize]), Some(values[i as usize]))).collect();
    let batch = RecordBatch::try_new(
        Arc::new(interop_schema().to_arrow()),
        vec![
            Arc::new(Int64Array::from_iter_values(0..n)),
            Arc::new(StringArray::from(names.clone())),
            Arc::new(Float64Array::from(values)),
        ],
    )
    .expect("batch");
    table.append(&[batch]).expect("append");

    let files: Vec<PathBuf> = std::fs::read_dir(dir.path().join("data"))
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let reader = SerializedFileReader::new(File::open(&files[0]).expect("open data file")).expect("footer");
    let groups: Vec<Vec<(bool, Compression)>> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.columns().iter().map(|c| (c.dictionary_page_offset().is_some(), c.compression())).collect())
        .collect();
    assert_eq!(groups.len(), 3, "{groups:?}");
    let zstd = groups[0][0].1;
    assert!(matches!(zstd, Compression::ZSTD(_)), "{groups:?}");
    assert_eq!(groups[0], [(true, zstd), (true, zstd), (true, zstd)], "first row group: every column tried");
    for later in &groups[1..] {
        assert_eq!(later[1..], [(false, zstd), (true, Compression::UNCOMPRESSED)], "{groups:?}");
    }

    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows written", &expected, &floe);
    assert_same_rows("pyiceberg-read vs floe scan", &floe, &py.read("pyiceberg-read", dir.path(), None));
    assert_same_rows("duckdb-read vs floe scan", &floe, &py.read("duckdb-read", dir.path(), None));
}

/// 2c. `Table::append` of rows known to be tiny (under 1 KiB of Arrow memory) writes
/// its data file uncompressed (zstd could save less than the file's footer and its set-up
/// was ~5 % of a single-row append); a larger append, and a transaction's appends (whose
/// total is not known up front), use the table's codec. pyiceberg and DuckDB read all.
#[test]
fn a_tiny_append_is_written_uncompressed_and_read_by_every_reader() {
    use floe::parquet::basic::Compression;
    use floe::parquet::file::reader::{FileReader, SerializedFileReader};
    let Some(py) = interop() else { return };
    let dir = scratch("a_tiny_append_is_written_uncompressed_and_read_by_every_reader");
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create floe table");
    // The codecs of the one data file added since the last call.
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut codecs = || -> Vec<Compression> {
        let added: Vec<PathBuf> = std::fs::read_dir(dir.path().join("data"))
            .expect("data dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "parquet") && !seen.contains(p))
            .collect();
        assert_eq!(added.len(), 1, "{added:?}");
        seen.extend(added.iter().cloned());
        let reader = SerializedFileReader::new(File::open(&added[0]).expect("open")).expect("footer");
        reader.metadata().row_groups()[0].columns().iter().map(|c| c.compression()).collect()
    };
    let mut expected = floe_append(&table, 1, 1);
    assert_eq!(codecs(), [Compression::UNCOMPRESSED; 3], "one row");
    expected.extend(floe_append(&table, 2, 200));
    assert!(codecs().iter().all(|c| matches!(c, Compression::ZSTD(_))), "200 rows: the table's codec");
    // The data writer decides when the row group closes, so a transaction's one-row
    // append is written the same way; a small batch followed by a large one is not.
    let (batch, rows) = floe_batch(300, 1);
    let mut tx = table.new_transaction();
    tx.append(&batch).expect("append");
    tx.commit().expect("commit");
    expected.extend(rows);
    assert_eq!(codecs(), [Compression::UNCOMPRESSED; 3], "a transaction's one-row append");
    let mut tx = table.new_transaction();
    for (start, n) in [(400, 1), (401, 200)] {
        let (batch, rows) = floe_batch(start, n);
        tx.append(&batch).expect("append");
        expected.extend(rows);
    }
    tx.commit().expect("commit");
    assert!(codecs().iter().all(|c| matches!(c, Compression::ZSTD(_))), "one row, then 200 in one transaction");

    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows written", &expected, &floe);
    assert_same_rows("pyiceberg-read vs floe scan", &floe, &py.read("pyiceberg-read", dir.path(), None));
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
    let dir = scratch("pyiceberg_reads_every_primitive_type");
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
    let dir = scratch("duckdb_reads_every_primitive_type");
    let (_table, expected) = all_types_table(dir.path());
    assert_same_rows("duckdb-read vs values written", &expected, &py.read("duckdb-read", dir.path(), None));
}

/// Python, argv = [metadata file]: pyiceberg decodes the column metrics of every data
/// file in the manifests (Iceberg single-value binary encoding) and compares them with
/// the file's actual contents. Prints {"checked", "problems"}.
const METRICS_CHECK: &str = r#"
import datetime as dt, json, math, os, sys, uuid
import pyarrow.parquet as pq
from pyiceberg.conversions import from_bytes
from pyiceberg.table import StaticTable

EPOCH = dt.datetime(1970, 1, 1)

def internal(v):
    """A value as from_bytes gives it: ints for temporal types, bytes for uuid."""
    if isinstance(v, dt.datetime):
        base = EPOCH if v.tzinfo is None else EPOCH.replace(tzinfo=dt.timezone.utc)
        return (v - base) // dt.timedelta(microseconds=1)
    if isinstance(v, dt.date):
        return (v - EPOCH.date()).days
    if isinstance(v, dt.time):
        return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond
    return v.bytes if isinstance(v, uuid.UUID) else v

table = StaticTable.from_metadata(sys.argv[1])
out = {"checked": 0, "problems": []}

def expect(ok, what):
    out["checked"] += 1
    if not ok:
        out["problems"].append(what)

for task in table.scan().plan_files():
    f = task.file
    path = f.file_path.removeprefix("file://")
    data = pq.read_table(path)
    name = os.path.basename(path)
    expect(f.record_count == data.num_rows, f"{name}: record_count {f.record_count}, file has {data.num_rows}")
    size = os.path.getsize(path)
    expect(f.file_size_in_bytes == size, f"{name}: file_size_in_bytes {f.file_size_in_bytes}, file has {size}")
    for field in table.schema().fields:
        fid, kind, where = field.field_id, str(field.field_type), f"{name} column {field.name} ({field.field_type})"
        values = [internal(v) for v in data[field.name].to_pylist()]
        is_nan = [isinstance(v, float) and math.isnan(v) for v in values]
        plain = [v for v, nan in zip(values, is_nan) if v is not None and not nan]
        for what, counts, want in (("value_count", f.value_counts, len(values)),
                                   ("null_value_count", f.null_value_counts, values.count(None)),
                                   ("nan_value_count", f.nan_value_counts, sum(is_nan))):
            if what != "nan_value_count" or kind in ("float", "double"):
                got = (counts or {}).get(fid)
                expect(got == want, f"{where}: {what} {got}, file has {want}")
        lo, hi = (f.lower_bounds or {}).get(fid), (f.upper_bounds or {}).get(fid)
        if not plain:
            expect(lo is None and hi is None, f"{where}: bounds {lo!r} / {hi!r} but no non-null non-NaN value")
        elif lo is None or hi is None:
            expect(False, f"{where}: bounds missing (lower {lo!r}, upper {hi!r})")
        else:
            lo, hi = from_bytes(field.field_type, lo), from_bytes(field.field_type, hi)
            span = (min(plain), max(plain))
            if kind in ("string", "binary"):  # may be truncated: they must still cover the values
                expect(lo <= span[0] and hi >= span[1], f"{where}: bounds [{lo!r}, {hi!r}] miss {span!r}")
            else:
                expect((lo, hi) == span, f"{where}: bounds [{lo!r}, {hi!r}], values span {span!r}")
print(json.dumps(out, default=repr))
"#;

/// Python, argv = [metadata file]: for every column, IS NULL / NOT NULL / IS NAN /
/// NOT NAN, and =, !=, >=, <=, >, < against each value in the table, pyiceberg's
/// pruned scan (manifest metrics, then Parquet statistics) must return the rows its
/// own row filter keeps from the full scan. One reader quirk is tolerated and counted:
/// pyarrow prunes row groups on Parquet min/max, which exclude NaN, and so loses NaN
/// rows (pyiceberg-written tables show the same). Prints {"checked", "problems",
/// "nan_rows_lost"}.
const PYICEBERG_FILTER_CHECK: &str = r#"
import json, math, sys, uuid
from pyiceberg.expressions import (EqualTo, GreaterThan, GreaterThanOrEqual, IsNaN, IsNull, LessThan,
                                   LessThanOrEqual, NotEqualTo, NotNaN, NotNull)
from pyiceberg.expressions.visitors import bind
from pyiceberg.io.pyarrow import expression_to_pyarrow
from pyiceberg.table import StaticTable

table = StaticTable.from_metadata(sys.argv[1])
schema = table.schema()
full = table.scan().to_arrow()
rows = full.to_pylist()
out = {"checked": 0, "problems": [], "nan_rows_lost": 0}

def check(column, expr):
    try:
        want = set(full.filter(expression_to_pyarrow(bind(schema, expr, True), schema))["id"].to_pylist())
    except Exception:
        return  # pyarrow cannot evaluate it (e.g. no uuid comparison kernel): no oracle
    out["checked"] += 1
    try:
        got = table.scan(row_filter=expr).to_arrow()["id"].to_pylist()
    except Exception as e:
        out["problems"].append({"filter": repr(expr), "error": f"{type(e).__name__}: {e}"})
        return
    nan_ids = {r["id"] for r in rows if isinstance(r[column], float) and math.isnan(r[column])}
    lost = want - set(got)
    if len(got) != len(set(got)) or not set(got) <= want or not lost <= nan_ids:
        out["problems"].append({"filter": repr(expr), "want": sorted(want), "got": sorted(got)})
    elif lost:
        out["nan_rows_lost"] += 1

for field in schema.fields:
    name, kind = field.name, str(field.field_type)
    preds = [IsNull, NotNull] + ([IsNaN, NotNaN] if kind in ("float", "double") else [])
    for pred in preds:
        check(name, pred(name))
    ops = [EqualTo, NotEqualTo]
    if kind not in ("boolean", "uuid"):
        ops += [GreaterThanOrEqual, LessThanOrEqual, GreaterThan, LessThan]
    for v in {r[name] for r in rows} - {None}:
        if isinstance(v, float) and not math.isfinite(v):
            continue  # NaN is no literal; inf is out of range for a float literal
        lit = uuid.UUID(bytes=v) if kind == "uuid" and isinstance(v, bytes) else v
        for op in ops:
            check(name, op(name, lit))
print(json.dumps(out, default=repr))
"#;

/// DuckDB snippet, argv[1] = metadata file: the same predicates in DuckDB SQL
/// (literals cast from each value's text form, so they are constants DuckDB pushes
/// into `iceberg_scan`) must select the same rows from `iceberg_scan` as from a
/// materialised copy of the full scan. Tolerated and counted: DuckDB orders NaN above
/// every number while Iceberg bounds exclude NaN, so it prunes files holding NaN rows
/// that its own semantics would keep (the same on pyiceberg-written tables).
const DUCKDB_FILTER_CHECK: &str = r#"
import json

scan = "iceberg_scan('" + sys.argv[1].replace("'", "''") + "')"
out = {"checked": 0, "problems": [], "nan_rows_lost": 0}
con = duckdb_connect()
con.execute(f"CREATE TABLE mat AS SELECT * FROM {scan}")
columns = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                      "WHERE table_name = 'mat' ORDER BY ordinal_position").fetchall()

def ids(source, cond):
    return con.execute(f"SELECT coalesce(list(id ORDER BY id), []) FROM {source} WHERE {cond}").fetchone()[0]

for name, typ in columns:
    col = '"' + name + '"'
    floats = typ in ("FLOAT", "DOUBLE")
    nan_ids = set(ids("mat", f"isnan({col})")) if floats else set()
    conds = [f"{col} IS NULL", f"{col} IS NOT NULL"] + ([f"isnan({col})", f"NOT isnan({col})"] if floats else [])
    for (text,) in con.execute(f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM mat WHERE {col} IS NOT NULL").fetchall():
        lit = "CAST('" + text.replace("'", "''") + f"' AS {typ})"
        conds += [f"{col} {op} {lit}" for op in ("=", "<>", ">=", "<=", ">", "<")]
    for cond in conds:
        out["checked"] += 1
        want, got = set(ids("mat", cond)), ids(scan, cond)
        lost = want - set(got)
        if len(got) != len(set(got)) or not set(got) <= want or not lost <= nan_ids:
            out["problems"].append({"where": cond, "want": sorted(want), "got": got})
        elif lost:
            out["nan_rows_lost"] += 1
print(json.dumps(out, default=str))
"#;

/// Asserts the document a `*_CHECK` snippet printed reports checks and no problem.
fn assert_check_passes(what: &str, doc: Value) {
    eprintln!("{what}: {doc}");
    assert!(doc["checked"].as_u64().unwrap_or(0) > 0, "{what}: checked nothing: {doc}");
    let problems = doc["problems"].as_array().unwrap_or_else(|| panic!("{what}: no problems list in {doc}"));
    assert!(
        problems.is_empty(),
        "{what}: {} problems:\n{}",
        problems.len(),
        serde_json::to_string_pretty(problems).unwrap()
    );
}

/// 3c. floe's column metrics in the manifests — value, null and NaN counts, lower and
///     upper bounds in Iceberg's binary encoding — as pyiceberg decodes them, agree
///     with the contents of each data file.
#[test]
fn pyiceberg_decodes_floe_column_metrics() {
    let Some(py) = interop() else { return };
    let dir = scratch("pyiceberg_decodes_floe_column_metrics");
    let (table, _) = all_types_table(dir.path());
    assert_check_passes("metrics check", py.snippet(METRICS_CHECK, &[path_str(&table.metadata_path())]));
}

/// 3d. pyiceberg's filtered scans, which prune files with floe's metrics, return the
///     rows its own row filter selects, for every column type and comparison.
#[test]
fn pyiceberg_filters_prune_floe_files_correctly() {
    let Some(py) = interop() else { return };
    let dir = scratch("pyiceberg_filters_prune_floe_files_correctly");
    let (table, _) = all_types_table(dir.path());
    let doc = py.snippet(PYICEBERG_FILTER_CHECK, &[path_str(&table.metadata_path())]);
    assert_check_passes("pyiceberg filter check", doc);
}

/// 3e. The same for DuckDB's filter pushdown into `iceberg_scan`.
#[test]
fn duckdb_filters_prune_floe_files_correctly() {
    let Some(py) = interop() else { return };
    let dir = scratch("duckdb_filters_prune_floe_files_correctly");
    let (table, _) = all_types_table(dir.path());
    let doc = py.duckdb_snippet(DUCKDB_FILTER_CHECK, &[path_str(&table.metadata_path())]);
    assert_check_passes("duckdb filter check", doc);
}

/// Python, argv = [source table dir, target table dir]: datashard reads every row of
/// the source and appends them to the target, their ids + 100, in one commit. Prints
/// {"appended": [ids]}.
const DATASHARD_COPY: &str = r#"
import json, logging, sys
import datashard
import pyarrow.compute as pc

logging.getLogger("datashard").setLevel(logging.WARNING)
rows = datashard.load_table(sys.argv[1]).to_arrow()
shifted = rows.set_column(rows.schema.get_field_index("id"), "id", pc.add(rows["id"], 100))
target = datashard.load_table(sys.argv[2])
with target.new_transaction() as tx:
    tx.append_arrow(shifted)
    tx.commit()
print(json.dumps({"appended": sorted(shifted["id"].to_pylist())}))
"#;

/// For each data file of `table`'s current snapshot: whether a column has the
/// Parquet `UUID` logical type.
fn has_uuid_annotation(table: &Table) -> Vec<bool> {
    let files = table.scan().plan().expect("plan").files;
    files
        .iter()
        .map(|f| {
            let path = floe::testing::uri_to_path(&f.file_path);
            let meta = floe::testing::read_parquet_metadata(&path).expect("footer");
            meta.file_metadata()
                .schema_descr()
                .columns()
                .iter()
                .any(|c| c.self_type().get_basic_info().logical_type_ref() == Some(&parquet::basic::LogicalType::Uuid))
        })
        .collect()
}

/// 3f. datashard and floe write files of every type into one table, and datashard
///     (which concatenates floe's and its own files by column name), floe, pyiceberg
///     and DuckDB all read both writers' rows identically.
///
///     floe writes a table of every type alone first (uuid columns with Parquet's
///     `UUID` logical type, the spec's mapping); datashard copies its rows into a
///     second table floe created, committing first; floe then appends the same rows
///     there. Seeing datashard's snapshot, floe leaves the uuid annotation off on that
///     table: pyarrow reads an annotated column as `arrow.uuid`, which datashard 0.11.2
///     cannot concatenate with its own uuid files.
#[test]
fn datashard_mixes_its_files_with_floe_files_of_every_type() {
    let Some(py) = interop() else { return };
    let dir = scratch("datashard_mixes_its_files_with_floe_files_of_every_type");
    let source_dir = dir.path().join("source");
    let (source, expected) = all_types_table(&source_dir);
    assert_eq!(has_uuid_annotation(&source), vec![true, true], "floe alone annotates uuid columns");
    assert_same_rows("datashard-read of floe's files", &expected, &py.read("datashard-read", &source_dir, None));

    let target_dir = dir.path().join("t");
    let target = Table::create_with(&target_dir, source.schema().clone(), relaxed()).expect("create the target");
    let doc = py.snippet(DATASHARD_COPY, &[path_str(&source_dir), path_str(&target_dir)]);
    assert_eq!(ids_of(&doc, "appended"), vec![100, 101, 102, 103, 104], "datashard copy: {doc}");
    target.refresh().expect("refresh");
    target.append(&source.scan().to_batches().expect("scan the source")).expect("floe appends after datashard");
    let mut all: Vec<Value> = expected
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["id"] = json!(r["id"].as_i64().unwrap() + 100);
            r
        })
        .collect();
    all.extend(expected);
    let reopened = Table::open(&target_dir).unwrap();
    let annotated = has_uuid_annotation(&reopened);
    assert!(annotated.len() >= 2 && annotated.iter().all(|a| !a), "floe's file and datashard's: {annotated:?}");
    assert_eq!(
        reopened.properties().get("floe.write.deleted-entries").map(String::as_str),
        Some("false"),
        "the table remembers that datashard writes to it"
    );
    assert_same_rows("floe scan", &all, &floe_rows(&reopened));
    for reader in ["datashard-read", "pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &all, &py.read(reader, &target_dir, None));
    }
}

/// 4. datashard reads a floe table, appends to it; a fresh floe handle reads both
///    writers' rows and appends again; pyiceberg and datashard read all rows once.
#[test]
fn datashard_and_floe_take_turns_on_a_floe_table() {
    let Some(py) = interop() else { return };
    let dir = scratch("datashard_and_floe_take_turns_on_a_floe_table");
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
    let dir = scratch("floe_appends_to_a_datashard_table");
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

/// Test `test`: a floe writer (this process, handle options `options`) and a `datashard-concurrent`
/// process append single rows to one table at the same time: `n` rows each, floe ids
/// 1..=n, datashard ids from 100000. Then every acknowledged row must be there exactly
/// once (read by floe and by pyiceberg), nothing unacknowledged may be, and the
/// snapshots must form one unbroken line.
fn race_datashard(py: &Interop, test: &str, options: TableOptions, n: usize) {
    const DS_START: i64 = 100_000;
    let dir = scratch(test);
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
        // Irregular pauses of 0-100 ms: a datashard commit takes ~80 ms from reading
        // its base to its commit point, so back-to-back floe commits would starve it.
        std::thread::sleep(Duration::from_millis((id as u64 * 37 % 11) * 10));
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
        "{test}: floe {} acked, {} gave up, {floe_conflicts} races lost and rebased; datashard {} acked, {} gave up, \
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
    race_datashard(py, "floe_and_datashard_append_concurrently", TableOptions::default(), 40);
}

/// 6b. The same race with floe ignoring the advisory lock, so only the exclusive
///     creation of `v<N>.metadata.json` separates the writers: both sides must lose
///     races and rebase or retry, and still lose nothing.
#[test]
fn floe_without_lock_and_datashard_append_concurrently() {
    let Some(py) = interop() else { return };
    let options = TableOptions::default().advisory_lock(false);
    race_datashard(py, "floe_without_lock_and_datashard_append_concurrently", options, 40);
}

/// Python: create a table with pyiceberg's SQL catalog (sqlite + warehouse in
/// argv[1]) in one transaction with a first append (metadata `00000-…`), append once
/// more (`00001-…`), print both metadata locations. Rows follow [`patterned`].
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

/// The row `PYICEBERG_WRITER` writes for this id.
fn pyiceberg_row(id: i64) -> Value {
    let (name, value) = patterned(id, "py", 0.5);
    row(id, name.as_deref(), value)
}

/// 7. A table pyiceberg wrote through its SQL catalog (catalog-style metadata names,
///    no version hint) opened by floe from its metadata files reads the same rows.
#[test]
fn floe_reads_a_pyiceberg_table_from_its_metadata_file() {
    let Some(py) = interop() else { return };
    let dir = scratch("floe_reads_a_pyiceberg_table_from_its_metadata_file");
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
    let dir = scratch("readers_follow_a_table_past_merge_and_expiry");
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create with default properties");
    let expected: Vec<Value> = (1..=COMMITS).flat_map(|id| floe_append(&table, id, 1)).collect();

    // The premise: merge, expiry and metadata deletion did happen along the way (the
    // last commit's version file that left the log is deleted after it returned).
    floe::testing::settle(&table);
    let metadata_files = std::fs::read_dir(dir.path().join("metadata"))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".metadata.json")))
        .count();
    let manifests = table.manifests(&table.current_snapshot().unwrap()).unwrap().len();
    let snapshots = table.snapshots().len();
    eprintln!("after {COMMITS} commits: {manifests} manifests, {snapshots} snapshots, {metadata_files} metadata files");
    assert!(manifests < 100, "manifests were not merged: {manifests}");
    assert!(snapshots <= 100, "snapshots were not expired: {snapshots}");
    assert!(metadata_files <= 101, "old metadata files were not deleted: {metadata_files}");

    assert_same_rows("floe scan", &expected, &floe_rows(&Table::open(dir.path()).unwrap()));
    for reader in ["pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, dir.path(), None));
    }
    assert_datashard_reads_a_superset(py, dir.path(), &expected);
}

/// 9. datashard compacts the manifests of a floe table (at its default threshold of 64
///    live manifests, all rewritten as EXISTING entries in one manifest) when it
///    appends; floe, pyiceberg and DuckDB then read every row, and floe appends on top.
#[test]
fn datashard_compacts_floe_manifests() {
    const COMMITS: i64 = 70;
    let Some(py) = interop() else { return };
    let dir = scratch("datashard_compacts_floe_manifests");
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create");
    let mut expected: Vec<Value> = (1..=COMMITS).flat_map(|id| floe_append(&table, id, 1)).collect();
    let manifests = |t: &Table| t.manifests(&t.current_snapshot().expect("a snapshot")).expect("manifest list").len();
    assert!(manifests(&table) >= 64, "floe did not leave >= 64 manifests ({}) to compact", manifests(&table));

    let doc = py.run(&["datashard-append", path_str(dir.path()), "--start", "1000", "--count", "2"]);
    expected.extend(ids_of(&doc, "committed").into_iter().map(ds_row));
    let table = Table::open_with(dir.path(), relaxed()).expect("floe reopens");
    eprintln!("after datashard's append: {} manifests (floe left {COMMITS}+)", manifests(&table));
    assert_same_rows("floe scan after datashard's compaction", &expected, &floe_rows(&table));
    expected.extend(floe_append(&table, 2000, 3));
    assert_same_rows("floe scan after floe's append", &expected, &floe_rows(&Table::open(dir.path()).unwrap()));
    for reader in ["pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, dir.path(), None));
    }
    assert_datashard_reads_a_superset(py, dir.path(), &expected);
}

/// 10. A floe table with no snapshot yet: the readers see it empty, and datashard can
///     make its first commit, which floe then reads.
#[test]
fn empty_floe_table_then_datashard_commits_first() {
    let Some(py) = interop() else { return };
    let dir = scratch("empty_floe_table_then_datashard_commits_first");
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create");
    assert!(table.current_snapshot().is_none());
    for reader in ["pyiceberg-read", "duckdb-read", "datashard-read"] {
        assert_same_rows(reader, &[], &py.read(reader, dir.path(), None));
    }
    let doc = py.run(&["datashard-append", path_str(dir.path()), "--start", "1", "--count", "3"]);
    let mut expected: Vec<Value> = ids_of(&doc, "committed").into_iter().map(ds_row).collect();
    table.refresh().expect("refresh");
    assert_same_rows("floe scan after datashard's first commit", &expected, &floe_rows(&table));
    expected.extend(floe_append(&table, 10, 2));
    for reader in ["pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, dir.path(), None));
    }
    assert_datashard_reads_a_superset(py, dir.path(), &expected);
}

/// DuckDB snippet, argv[1] = table dir: pyiceberg `StaticTable.from_metadata` and
/// DuckDB `iceberg_scan` given the table DIRECTORY, so that they find the current
/// version themselves through `metadata/version-hint.text`. Prints
/// {"pyiceberg": {"metadata", "snapshot_id", "count"}, "duckdb": {"snapshot_id", "count"}}.
const READ_THROUGH_HINT: &str = r#"
import json
from pyiceberg.table import StaticTable

table_dir = sys.argv[1]
static = StaticTable.from_metadata(table_dir)
out = {"pyiceberg": {"metadata": static.metadata_location, "snapshot_id": static.current_snapshot().snapshot_id,
                     "count": static.scan().to_arrow().num_rows}}
con = duckdb_connect()
newest = "SELECT max_by(snapshot_id, sequence_number) FROM iceberg_snapshots(?)"
out["duckdb"] = {"count": con.execute("SELECT count(*) FROM iceberg_scan(?)", [table_dir]).fetchone()[0],
                 "snapshot_id": con.execute(newest, [table_dir]).fetchone()[0]}
print(json.dumps(out))
"#;

/// 11. pyiceberg and DuckDB pointed at the table directory (not a metadata file) find
///     floe's newest version through its `version-hint.text`.
#[test]
fn readers_find_the_newest_version_through_the_hint() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_find_the_newest_version_through_the_hint");
    let (table, rows) = floe_table_with_commits(dir.path());
    let doc = py.duckdb_snippet(READ_THROUGH_HINT, &[path_str(dir.path())]);
    let current = table.current_snapshot().expect("a snapshot").snapshot_id;
    for reader in ["pyiceberg", "duckdb"] {
        assert_eq!(doc[reader]["snapshot_id"], json!(current), "{reader} through the hint: {doc}");
        assert_eq!(doc[reader]["count"], json!(rows.len()), "{reader} through the hint: {doc}");
    }
}

/// 11b. A version hint that names a version that does not exist (`99` while `v4` is
///     the newest) is corrected by the next floe commit, so pyiceberg and DuckDB, which
///     trust the hint, open the table again.
#[test]
fn a_commit_corrects_a_hint_past_the_newest_version() {
    let Some(py) = interop() else { return };
    let dir = scratch("a_commit_corrects_a_hint_past_the_newest_version");
    let (table, mut rows) = floe_table_with_commits(dir.path());
    let hint = dir.path().join("metadata/version-hint.text");
    std::fs::write(&hint, "99").unwrap();
    rows.extend(floe_append(&table, 500, 2));
    assert_eq!(std::fs::read_to_string(&hint).unwrap().trim(), table.version().to_string());
    let doc = py.duckdb_snippet(READ_THROUGH_HINT, &[path_str(dir.path())]);
    let current = table.current_snapshot().expect("a snapshot").snapshot_id;
    for reader in ["pyiceberg", "duckdb"] {
        assert_eq!(doc[reader]["snapshot_id"], json!(current), "{reader} through the hint: {doc}");
        assert_eq!(doc[reader]["count"], json!(rows.len()), "{reader} through the hint: {doc}");
    }
}

#[test]
fn readers_see_files_removed_by_a_floe_commit() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_see_files_removed_by_a_floe_commit");
    let (table, _) = floe_table_with_commits(dir.path());
    let files = table.scan().plan().unwrap().files;
    let mut tx = table.new_transaction();
    tx.remove_files([files[0].clone()]).unwrap();
    tx.commit().unwrap();
    // A later append carries the rewritten manifest (with its DELETED entry) forward.
    floe_append(&table, 10_000, 3);
    let floe = floe_rows(&table);
    assert_same_rows("pyiceberg-read vs floe scan", &floe, &py.read("pyiceberg-read", dir.path(), None));
    assert_same_rows("duckdb-read vs floe scan", &floe, &py.read("duckdb-read", dir.path(), None));
}

/// 12. Maintenance: after compaction, manifest merging, expiry, orphan cleanup and a
///     rollback (each its own commit or deletion), pyiceberg and DuckDB read exactly
///     the rows floe reads. (datashard 0.11.2 is left out: its reader ignores manifest
///     entry status and reads files a compaction removed as live; interop/NOTES.md.)
#[test]
fn readers_read_the_table_after_each_maintenance_operation() {
    use floe::{CompactOptions, ExpireOptions, MergeManifestsOptions, OrphanOptions};
    let Some(py) = interop() else { return };
    let dir = scratch("readers_read_the_table_after_each_maintenance_operation");
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create");
    let mut expected: Vec<Value> = (1..=12).flat_map(|id| floe_append(&table, id, 1)).collect();
    let check = |what: &str, expected: &[Value]| {
        assert_same_rows(&format!("floe after {what}"), expected, &floe_rows(&Table::open(dir.path()).unwrap()));
        for reader in ["pyiceberg-read", "duckdb-read"] {
            assert_same_rows(&format!("{reader} after {what}"), expected, &py.read(reader, dir.path(), None));
        }
    };

    let r = table.compact(&CompactOptions::default()).expect("compact");
    assert_eq!(r.data_files_removed, 12);
    check("compact", &expected);
    let compacted = table.current_snapshot().expect("a snapshot").snapshot_id;
    let at_compaction = expected.clone();

    for id in 100..106 {
        expected.extend(floe_append(&table, id, 2));
    }
    let r = table.merge_manifests(&MergeManifestsOptions::default()).expect("merge");
    assert!(r.manifests_after < r.manifests_before, "{r}");
    check("merge_manifests", &expected);
    let merged = table.current_snapshot().expect("a snapshot").snapshot_id;
    table.rollback_to(compacted).expect("rollback");
    check("rollback_to", &at_compaction);
    table.set_current(merged).expect("forward again");

    table.create_tag("before-expiry", compacted).expect("tag");
    let r = table
        .expire_snapshots(
            &ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .expect("expire");
    assert!(r.snapshots_expired > 0 && r.data_files_removed == 12, "{r}");
    check("expire_snapshots", &expected);

    std::fs::write(dir.path().join("data/stray.parquet"), b"not parquet").unwrap();
    let opts = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);
    let r = table.remove_orphans(&opts).expect("remove orphans");
    assert!(r.deleted_paths.iter().any(|p| p.ends_with("data/stray.parquet")), "{r}");
    check("remove_orphans", &expected);

    // Expiry removed the snapshots between the tagged one and the current one, so it
    // is no longer a known ancestor: set_current (any retained snapshot) moves back.
    assert!(table.rollback_to(compacted).is_err());
    table.set_current(compacted).expect("set current");
    check("set_current", &at_compaction);
}

// ------------------------------------------------------------------ partitioned tables

/// pyiceberg's own `bucket[N]` and `truncate[W]` over every type Appendix B covers:
/// the values floe computes (given as JSON) are recomputed in Python; prints the
/// mismatches.
const PYICEBERG_TRANSFORMS: &str = r#"
import decimal, json, sys, uuid
from pyiceberg.transforms import parse_transform
from pyiceberg.types import (BinaryType, DateType, DecimalType, FixedType, IntegerType, LongType, StringType,
                             TimestampType, TimestamptzType, TimeType, UUIDType)
types = {"int": IntegerType(), "long": LongType(), "date": DateType(), "time": TimeType(),
         "timestamp": TimestampType(), "timestamptz": TimestamptzType(), "string": StringType(),
         "uuid": UUIDType(), "binary": BinaryType(), "fixed[4]": FixedType(4), "decimal(9, 2)": DecimalType(9, 2)}
def value(ty, v):
    if ty == "uuid": return uuid.UUID(v)
    if ty in ("binary", "fixed[4]"): return bytes.fromhex(v)
    if ty.startswith("decimal"): return decimal.Decimal(v)
    return v
def norm(ty, v):
    if isinstance(v, bytes): return v.hex()
    if isinstance(v, decimal.Decimal): return str(v)
    return v
bad, n = [], 0
for ty, transform, v, floe in json.loads(sys.argv[1]):
    got = norm(ty, parse_transform(transform).transform(types[ty])(value(ty, v)))
    n += 1
    if got != floe:
        bad.append([ty, transform, v, floe, got])
print(json.dumps({"checked": n, "bad": bad}))
"#;

/// 20. floe's bucket (murmur3) and truncate values equal pyiceberg's for every type,
///     on many values.
#[test]
fn transforms_match_pyiceberg() {
    use floe::spec::Datum;
    use floe::spec::Transform;
    let Some(py) = interop() else { return };
    let mut cases = Vec::new();
    let mut push = |ty: &str, t: Transform, json_value: Value, d: Datum| {
        let out = t.apply(Some(&d)).unwrap().unwrap();
        let floe = match out {
            Datum::Int(v) | Datum::Date(v) => json!(v),
            Datum::Long(v) => json!(v),
            Datum::String(s) => json!(s),
            Datum::Binary(b) | Datum::Fixed(b) => json!(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
            Datum::Decimal(u) => {
                json!(Datum::Decimal(u).to_string_typed(&PrimitiveType::Decimal { precision: 9, scale: 2 }))
            }
            other => panic!("{other:?}"),
        };
        cases.push(json!([ty, t.to_string(), json_value, floe]));
    };
    for n in [1u32, 7, 16, 1000, i32::MAX as u32] {
        let b = Transform::Bucket(n);
        for v in [0i64, 1, -1, 34, 1 << 40, i64::MIN, i64::MAX, 123_456_789_012] {
            push("long", b, json!(v), Datum::Long(v));
            if let Ok(i) = i32::try_from(v) {
                push("int", b, json!(i), Datum::Int(i));
                push("date", b, json!(i), Datum::Date(i));
            }
            push("time", b, json!(v.rem_euclid(86_400_000_000)), Datum::Time(v.rem_euclid(86_400_000_000)));
            push("timestamp", b, json!(v), Datum::Timestamp(v));
            push("timestamptz", b, json!(v), Datum::Timestamptz(v));
        }
        for s in ["", "iceberg", "é✓🦀", "a somewhat longer string with spaces", "\u{ffff}\u{10000}"] {
            push("string", b, json!(s), Datum::String(s.into()));
        }
        for u in ["f79c3e09-677c-4bbd-a479-3f349cb785e7", "00000000-0000-0000-0000-000000000000"] {
            let parsed = uuid::Uuid::parse_str(u).unwrap();
            push("uuid", b, json!(u), Datum::Uuid(*parsed.as_bytes()));
        }
        for h in ["", "00", "00010203", "ffffffff0102"] {
            let bytes: Vec<u8> =
                (0..h.len() / 2).map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap()).collect();
            push("binary", b, json!(h), Datum::Binary(bytes.clone()));
            if bytes.len() == 4 {
                push("fixed[4]", b, json!(h), Datum::Fixed(bytes));
            }
        }
        for (text, unscaled) in
            [("14.20", 1420i128), ("0.00", 0), ("-0.01", -1), ("-1.28", -128), ("9999999.99", 999_999_999)]
        {
            push("decimal(9, 2)", b, json!(text), Datum::Decimal(unscaled));
        }
    }
    for w in [1u32, 3, 10, 100] {
        let t = Transform::Truncate(w);
        // Not i32::MIN: Java's int arithmetic wraps there (floe does the same) while
        // pyiceberg's Python ints give a value outside the int range.
        for v in [0i64, 1, -1, 34, -34, 999, i32::MIN as i64 + 1000] {
            push("long", t, json!(v), Datum::Long(v));
            push("int", t, json!(v), Datum::Int(v as i32));
        }
        for s in ["", "iceberg", "é✓🦀abc"] {
            push("string", t, json!(s), Datum::String(s.into()));
        }
        push("binary", t, json!("00010203"), Datum::Binary(vec![0, 1, 2, 3]));
        for (text, unscaled) in [("14.20", 1420i128), ("-0.01", -1), ("-12.34", -1234)] {
            push("decimal(9, 2)", t, json!(text), Datum::Decimal(unscaled));
        }
    }
    let doc = py.snippet(PYICEBERG_TRANSFORMS, &[&Value::Array(cases.clone()).to_string()]);
    assert_eq!(doc["checked"], json!(cases.len()), "{doc}");
    assert_eq!(doc["bad"], json!([]), "floe and pyiceberg disagree (type, transform, value, floe, pyiceberg)");
}

/// For every data file pyiceberg plans, re-applies the spec's transforms (pyiceberg's
/// implementations) to every row of the file and compares with the partition tuple
/// recorded in floe's manifest. Prints the file count and the mismatches.
const PYICEBERG_PARTITION_CHECK: &str = r#"
import json, sys
import pyarrow.parquet as pq
from pyiceberg.table import StaticTable
from pyiceberg.partitioning import _to_partition_representation
t = StaticTable.from_metadata(sys.argv[1])
schema = t.schema()
bad, files, checked = [], [], 0
for task in t.scan().plan_files():
    f = task.file
    spec = t.specs()[f.spec_id]
    # ParquetFile, not read_table: read_table would parse the name=value directories.
    rows = pq.ParquetFile(f.file_path.removeprefix("file://")).read().to_pylist()
    for i, pf in enumerate(spec.fields):
        src = schema.find_field(pf.source_id)
        fn = pf.transform.transform(src.field_type)
        recorded = f.partition[i]
        for r in rows:
            checked += 1
            want = fn(_to_partition_representation(src.field_type, r[src.name]))
            if want != recorded:
                bad.append([f.file_path, pf.name, repr(r[src.name]), repr(want), repr(recorded)])
    files.append(f.file_path)
print(json.dumps({"files": sorted(files), "checked": checked, "bad": bad[:20]}))
"#;

/// A filtered pyiceberg scan (partition pruning uses floe's partition values and
/// manifest-list summaries): prints the ids found and how many files were planned.
const PYICEBERG_FILTERED: &str = r#"
import json, sys
from pyiceberg.table import StaticTable
t = StaticTable.from_metadata(sys.argv[1])
scan = t.scan(row_filter=sys.argv[2], selected_fields=("id",))
files = list(scan.plan_files())
ids = sorted(r["id"] for r in scan.to_arrow().to_pylist())
print(json.dumps({"ids": ids, "files": len(files)}))
"#;

/// A partitioned floe table over many transforms (identity with awkward strings,
/// bucket over long/uuid/decimal, day, month, truncate over string and decimal),
/// written in two commits; returns it with its rows.
fn partitioned_floe_table(dir: &Path) -> (Table, Vec<Value>) {
    use floe::spec::PartitionSpec;
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("value", PrimitiveType::Double)
        .optional("ts", PrimitiveType::Timestamptz)
        .optional("d", PrimitiveType::Date)
        .optional("dec", PrimitiveType::Decimal { precision: 9, scale: 2 })
        .optional("u", PrimitiveType::Uuid)
        .build()
        .unwrap();
    let spec = PartitionSpec::builder(&schema)
        .identity("name")
        .bucket("id", 4)
        .day("ts")
        .month("d")
        .truncate("dec", 500)
        .bucket("u", 3)
        .build()
        .unwrap();
    let table = Table::create_partitioned(dir, schema.clone(), spec, relaxed()).unwrap();
    let names = [Some("eu"), Some("a b/c=d%"), None, Some("é ✓"), Some(".."), Some("eu")];
    let batch = |start: i64, n: i64| {
        let ids: Vec<i64> = (start..start + n).collect();
        let name: Vec<Option<&str>> = ids.iter().map(|i| names[*i as usize % names.len()]).collect();
        let value: Vec<Option<f64>> =
            ids.iter().map(|i| if i % 5 == 0 { None } else { Some(*i as f64 / 4.0) }).collect();
        let ts: Vec<Option<i64>> =
            ids.iter().map(|i| if i % 7 == 0 { None } else { Some((i - 20) * 7_200_000_000 + 1) }).collect();
        let d: Vec<Option<i32>> = ids.iter().map(|i| Some((*i as i32 - 15) * 11)).collect();
        let dec: Vec<Option<i128>> = ids.iter().map(|i| Some(i128::from(*i) * 337 - 5000)).collect();
        let u: Vec<Option<[u8; 16]>> =
            ids.iter().map(|i| if i % 4 == 0 { None } else { Some([*i as u8; 16]) }).collect();
        RecordBatch::try_new(
            Arc::new(schema.to_arrow()),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(StringArray::from(name)),
                Arc::new(Float64Array::from(value)),
                Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
                Arc::new(Date32Array::from(d)),
                Arc::new(Decimal128Array::from(dec).with_precision_and_scale(9, 2).unwrap()),
                Arc::new(FixedSizeBinaryArray::try_from_sparse_iter_with_size(u.into_iter(), 16).unwrap()),
            ],
        )
        .unwrap()
    };
    table.append(&[batch(0, 25)]).unwrap();
    table.append(&[batch(25, 15)]).unwrap();
    let rows = floe_rows(&table);
    assert_eq!(rows.len(), 40);
    (table, rows)
}

/// 21. pyiceberg and DuckDB read a partitioned floe table row for row; pyiceberg's
///     transforms, applied to every row of every file, give the partition tuple floe
///     recorded; pyiceberg's partition-pruned scans return exactly the matching rows.
#[test]
fn readers_read_a_partitioned_floe_table() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_read_a_partitioned_floe_table");
    let (table, rows) = partitioned_floe_table(dir.path());
    assert_same_rows("pyiceberg-read", &rows, &py.read("pyiceberg-read", dir.path(), None));
    assert_same_rows("duckdb-read", &rows, &py.read("duckdb-read", dir.path(), None));
    let metadata = table.metadata_path();
    let doc = py.snippet(PYICEBERG_PARTITION_CHECK, &[path_str(&metadata)]);
    assert_eq!(doc["bad"], json!([]), "pyiceberg's transforms disagree with floe's partition values");
    let snap = table.current_snapshot().unwrap();
    assert_eq!(doc["files"].as_array().unwrap().len().to_string(), snap.summary["total-data-files"]);
    assert!(doc["checked"].as_i64().unwrap() >= 40 * 6);
    let total_files = doc["files"].as_array().unwrap().len() as i64;
    for (filter, want) in [
        ("name == 'eu'", rows.iter().filter(|r| r["name"] == json!("eu")).count()),
        ("name == 'a b/c=d%'", rows.iter().filter(|r| r["name"] == json!("a b/c=d%")).count()),
        ("id == 17", 1),
        (
            "ts >= '1970-01-02T12:00:00+00:00'",
            rows.iter().filter(|r| r["ts"].as_str().is_some_and(|t| t >= "1970-01-02T12")).count(),
        ),
    ] {
        let doc = py.snippet(PYICEBERG_FILTERED, &[path_str(&metadata), filter]);
        assert_eq!(doc["ids"].as_array().unwrap().len(), want, "{filter}: {doc}");
        assert!(doc["files"].as_i64().unwrap() < total_files, "{filter}: pyiceberg pruned no file ({doc})");
    }
}

/// pyiceberg writes a table partitioned by identity on a string and a long (its other
/// transforms need the `pyiceberg-core` extension to write, which the venv does not
/// have) through its SQL catalog, in two commits; prints the metadata location.
const PYICEBERG_PARTITIONED_WRITER: &str = r#"
import datetime, json, pathlib, sys
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import DoubleType, LongType, NestedField, StringType, TimestamptzType
root = pathlib.Path(sys.argv[1]).resolve()
catalog = SqlCatalog("floe", uri=f"sqlite:///{root}/catalog.db", warehouse=root.as_uri())
catalog.create_namespace("ns")
schema = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "value", DoubleType(), required=False),
    NestedField(4, "ts", TimestamptzType(), required=False),
    NestedField(5, "cat", LongType(), required=False),
)
spec = PartitionSpec(
    PartitionField(2, 1000, IdentityTransform(), "name"),
    PartitionField(5, 1001, IdentityTransform(), "cat"),
)
table = catalog.create_table("ns.t", schema=schema, partition_spec=spec)
def rows(ids):
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": [None if i % 3 == 0 else f"py-{i % 4}" for i in ids],
        "value": [i * 0.5 for i in ids],
        "ts": [datetime.datetime(2024, 1, 1 + i % 5, tzinfo=datetime.timezone.utc) for i in ids],
        "cat": [i % 2 for i in ids],
    }, schema=schema.as_arrow())
table.append(rows(list(range(1, 21))))
table.append(rows(list(range(21, 31))))
table = catalog.load_table("ns.t")
print(json.dumps({"metadata": table.metadata_location}))
"#;

/// 22. floe reads a partitioned table pyiceberg wrote: same rows as pyiceberg, and
///     the partition values floe decodes equal its own transforms of the rows.
#[test]
fn floe_reads_a_partitioned_pyiceberg_table() {
    use floe::spec::Transform;
    use floe::testing::datum_at;
    use floe::testing::read_manifest;
    let Some(py) = interop() else { return };
    let dir = scratch("floe_reads_a_partitioned_pyiceberg_table");
    let doc = py.snippet(PYICEBERG_PARTITIONED_WRITER, &[path_str(dir.path())]);
    let metadata = PathBuf::from(doc["metadata"].as_str().unwrap().strip_prefix("file://").unwrap());
    let table = Table::open_metadata_file(&metadata).unwrap();
    let rows = floe_rows(&table);
    assert_eq!(rows.len(), 30);
    let location = metadata.parent().unwrap().parent().unwrap();
    assert_same_rows("pyiceberg vs floe", &py.read("pyiceberg-read", location, Some(&metadata)), &rows);
    let md = table.metadata();
    let spec = md.default_spec().unwrap().clone();
    assert_eq!(spec.fields.len(), 2);
    let schema = table.schema();
    let snap = table.current_snapshot().unwrap();
    let mut files = 0;
    for m in table.manifests(&snap).unwrap() {
        assert!(m.partitions.as_ref().is_some_and(|p| p.len() == 2), "pyiceberg writes partition summaries");
        let path = floe::testing::uri_to_path(&m.manifest_path);
        for e in read_manifest(&path, &std::fs::read(&path).unwrap(), Some(&m)).unwrap().entries {
            files += 1;
            let file = floe::testing::uri_to_path(&e.data_file.file_path);
            let reader = floe::testing::open_data_file(&file, &schema, None, &Default::default()).unwrap();
            for batch in reader {
                let batch = batch.unwrap();
                for (i, pf) in spec.fields.iter().enumerate() {
                    let src = schema.field_by_id(pf.source_id).unwrap();
                    let ty = src.field_type.as_primitive().unwrap();
                    let col = batch.column_by_name(&src.name).unwrap();
                    let t = Transform::parse(&pf.transform).unwrap();
                    for r in 0..batch.num_rows() {
                        let want = t.apply(datum_at(col.as_ref(), r, ty).as_ref()).unwrap();
                        assert_eq!(want, e.data_file.partition[i], "{} row {r} field {}", file.display(), pf.name);
                    }
                }
            }
        }
    }
    assert!(files >= 10, "{files} files");
}

// ------------------------------------------------------------------ evolved tables

/// A floe table taken through every kind of evolution, with appends between: columns
/// added (optional), renamed, dropped, widened (int→long, float→double, decimal
/// precision) and reordered; partition specs added, changed and removed; a
/// `SchemaMode::Merge` append. Returns it with floe's own rows.
fn evolved_floe_table(dir: &Path) -> (Table, Vec<Value>) {
    use arrow_schema::{DataType, Field};
    use floe::SchemaMode;
    use floe::spec::Transform;
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("value", PrimitiveType::Double)
        .optional("n", PrimitiveType::Int)
        .optional("f", PrimitiveType::Float)
        .optional("dec", PrimitiveType::Decimal { precision: 6, scale: 2 })
        .build()
        .unwrap();
    let table = Table::create_with(dir, schema, relaxed()).unwrap();
    let ids: Vec<i64> = (0..8).collect();
    let first = RecordBatch::try_new(
        Arc::new(table.schema().to_arrow()),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from(ids.iter().map(|i| Some(format!("n{i}"))).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(ids.iter().map(|i| *i as f64).collect::<Vec<_>>())),
            Arc::new(Int32Array::from(ids.iter().map(|i| *i as i32 - 4).collect::<Vec<_>>())),
            Arc::new(Float32Array::from(ids.iter().map(|i| Some(*i as f32 / 2.0)).collect::<Vec<_>>())),
            Arc::new(
                Decimal128Array::from(ids.iter().map(|i| i128::from(*i) * 111).collect::<Vec<_>>())
                    .with_precision_and_scale(6, 2)
                    .unwrap(),
            ),
        ],
    )
    .unwrap();
    table.append(&[first]).unwrap();
    table
        .update_schema()
        .add_column("country", PrimitiveType::String)
        .rename_column("name", "label")
        .drop_column("value")
        .widen_column("n", PrimitiveType::Long)
        .widen_column("f", PrimitiveType::Double)
        .widen_column("dec", PrimitiveType::Decimal { precision: 12, scale: 2 })
        .move_first("country")
        .commit()
        .unwrap();
    table.update_spec().add_field("id", Transform::Bucket(3)).commit().unwrap();
    let batch = |start: i64, with_extra: bool| {
        let ids: Vec<i64> = (start..start + 6).collect();
        let mut fields = vec![
            Field::new("country", DataType::Utf8, true),
            Field::new("id", DataType::Int64, false),
            Field::new("label", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ];
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                ids.iter().map(|i| Some(if i % 2 == 0 { "nz" } else { "fr" })).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from(ids.iter().map(|i| Some(format!("l{i}"))).collect::<Vec<_>>())),
            Arc::new(Int64Array::from(ids.iter().map(|i| i * 1_000_000_000_000).collect::<Vec<_>>())),
        ];
        if with_extra {
            fields.push(Field::new("extra", DataType::Boolean, true));
            cols.push(Arc::new(BooleanArray::from(ids.iter().map(|i| Some(i % 3 == 0)).collect::<Vec<_>>())));
        }
        RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), cols).unwrap()
    };
    table.append(&[batch(100, false)]).unwrap();
    table.append_with_mode(&[batch(200, true)], SchemaMode::Merge).unwrap();
    table.update_spec().remove_field("id_bucket").add_field("country", Transform::Identity).commit().unwrap();
    table.append(&[batch(300, true)]).unwrap();
    let names: Vec<String> = table.schema().fields().iter().map(|f| f.name.clone()).collect();
    assert_eq!(names, ["country", "id", "label", "n", "f", "dec", "extra"]);
    assert_eq!(table.metadata().partition_specs().len(), 3);
    let rows = floe_rows(&table);
    assert_eq!(rows.len(), 26);
    (table, rows)
}

/// 23. pyiceberg and DuckDB read a table floe evolved (schema and partition spec)
///     exactly as floe does: old files' renamed columns found by id, added columns
///     null, widened values widened, dropped columns gone, files of every spec read.
#[test]
fn readers_read_an_evolved_floe_table() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_read_an_evolved_floe_table");
    let (_table, rows) = evolved_floe_table(dir.path());
    let first = rows.iter().find(|r| r["id"] == json!(3)).unwrap();
    assert_eq!(
        first,
        &json!({"country": null, "id": 3, "label": "n3", "n": -1, "f": 1.5, "dec": "3.33", "extra": null})
    );
    assert_same_rows("pyiceberg-read", &rows, &py.read("pyiceberg-read", dir.path(), None));
    assert_same_rows("duckdb-read", &rows, &py.read("duckdb-read", dir.path(), None));
}

// ------------------------------------------------------------------ filters (issue 7)

/// DuckDB snippet, argv[1] = metadata file, argv[2] = JSON list of SQL conditions:
/// for each condition, the ids DuckDB selects from a materialised copy of the table.
const DUCKDB_WHERE_IDS: &str = r#"
import json
scan = "iceberg_scan('" + sys.argv[1].replace("'", "''") + "')"
con = duckdb_connect()
con.execute(f"CREATE TABLE mat AS SELECT * FROM {scan}")
out = {}
for cond in json.loads(sys.argv[2]):
    out[cond] = con.execute(f"SELECT coalesce(list(id ORDER BY id), []) FROM mat WHERE {cond}").fetchone()[0]
print(json.dumps(out))
"#;

/// floe's ids for a filter given in its text syntax, sorted.
fn floe_filter_ids(table: &Table, filter: &str) -> Vec<i64> {
    let p = floe::expr::Predicate::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let batches = table.scan().select(["id"]).filter(p).to_batches().unwrap_or_else(|e| panic!("{filter}: {e}"));
    let mut ids: Vec<i64> =
        batches.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
    ids.sort();
    ids
}

/// 9a. floe's filtered scans (pruned) select the same rows as DuckDB's SQL `WHERE` over
///     the same table, for the same condition text: SQL null semantics, `not`, `in`,
///     `between`, and NaN (both order it above every number).
#[test]
fn floe_filters_agree_with_duckdb_sql() {
    let Some(py) = interop() else { return };
    let dir = scratch("floe_filters_agree_with_duckdb_sql");
    let (table, _) = floe_table_with_commits(dir.path());
    let conditions = [
        "id > 5 and name = 'floe-7'",
        "value < 3.0",
        "value > 3.0",
        "value >= 1.0 and value <= 2.0",
        "name is null or id in (1, 2, 3)",
        "not (id between 3 and 20)",
        "not (name = 'floe-5')",
        "name != 'floe-5'",
        "name >= 'floe-2'",
        "value is null",
        "value is not null and id < 10",
        "id not in (1, 2, 28)",
        "(id < 4 or id > 25) and name is not null",
        "not (value > 2.0 or name is null)",
    ];
    let list = serde_json::to_string(&conditions).unwrap();
    let doc = py.duckdb_snippet(DUCKDB_WHERE_IDS, &[path_str(&table.metadata_path()), &list]);
    for cond in conditions {
        let want = ids_of(&doc, cond);
        assert_eq!(floe_filter_ids(&table, cond), want, "floe vs DuckDB on {cond}");
    }
}

/// Python, argv = [dir]: pyiceberg (SQL catalog) writes a table partitioned by
/// `identity(cat)`, one append per category (so one manifest each, with its partition
/// summary), then renames column `name` to `label`. Prints the metadata file.
const PYICEBERG_IDENTITY_RENAMED_WRITER: &str = r#"
import json, pathlib, sys
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import LongType, NestedField, StringType

root = pathlib.Path(sys.argv[1]).resolve()
catalog = SqlCatalog("floe", uri=f"sqlite:///{root}/catalog.db", warehouse=root.as_uri())
catalog.create_namespace("ns")
schema = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "cat", StringType(), required=False),
)
spec = PartitionSpec(PartitionField(source_id=3, field_id=1000, transform=IdentityTransform(), name="cat"))
table = catalog.create_table("ns.t", schema=schema, partition_spec=spec)
for cat, ids in (("a", range(1, 10)), ("b", range(10, 20)), ("c", range(20, 30))):
    ids = list(ids)
    table.append(pa.table({"id": pa.array(ids, pa.int64()), "name": [f"py-{i}" for i in ids],
                           "cat": [cat] * len(ids)}, schema=schema.as_arrow()))
with table.update_schema() as update:
    update.rename_column("name", "label")
table = catalog.load_table("ns.t")
print(json.dumps({"metadata": table.metadata_location}))
"#;

/// 9b. On a table pyiceberg partitioned by `identity(cat)`, floe skips whole manifests
///     by their partition summaries and files by their partition values; after a
///     rename, a filter on the new name prunes with the bounds recorded under the old
///     name (matched by field id) and returns the right rows.
#[test]
fn floe_prunes_a_pyiceberg_partitioned_table_by_partition_and_field_id() {
    let Some(py) = interop() else { return };
    let dir = scratch("floe_prunes_a_pyiceberg_partitioned_table");
    let doc = py.snippet(PYICEBERG_IDENTITY_RENAMED_WRITER, &[path_str(dir.path())]);
    let metadata = doc["metadata"].as_str().unwrap_or_else(|| panic!("no metadata in {doc}"));
    let table = Table::open_metadata_file(metadata.strip_prefix("file://").unwrap_or(metadata)).unwrap();
    use floe::expr::col;
    let run = |p: floe::expr::Predicate| {
        let (b, m) = table.scan().select(["id"]).filter(p).to_batches_with_metrics().unwrap();
        let mut ids: Vec<i64> =
            b.iter().flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec()).collect();
        ids.sort();
        (ids, m)
    };
    let (ids, m) = run(col("cat").eq("b"));
    assert_eq!(ids, (10..20).collect::<Vec<_>>());
    assert_eq!((m.manifests, m.manifests_skipped, m.files_planned), (3, 2, 1), "{m:?}");
    let (ids, m) = run(col("cat").is_in(["a", "c"]).and(col("id").gt(25)));
    assert_eq!(ids, (26..30).collect::<Vec<_>>());
    assert_eq!((m.manifests_skipped, m.files_planned), (1, 1), "{m:?}");
    // "label" was "name" when the files were written; their bounds are keyed by id 2.
    let (ids, m) = run(col("label").eq("py-25"));
    assert_eq!(ids, vec![25]);
    assert!(m.files_skipped_by_metrics >= 1, "{m:?}");
    // Strings compare by bytes: "py-3" > "py-27".
    let (ids, _) = run(col("label").ge("py-27").or(col("cat").is_null()));
    assert_eq!(ids, (1..30).filter(|i| format!("py-{i}").as_str() >= "py-27").collect::<Vec<_>>());
    assert!(matches!(
        table.scan().filter(col("name").eq("py-1")).to_batches(),
        Err(floe::Error::Predicate(floe::expr::PredicateError::UnknownColumn { .. }))
    ));
}

/// 9c. After floe's row-level operations — a delete that removes one file and rewrites
///     another, an overwrite by predicate, an upsert replacing and inserting keys, an
///     insert-if-absent — pyiceberg and DuckDB read exactly floe's rows (DELETED
///     manifest entries and rewritten files included).
///
///     datashard 0.11.2 does not: its manifest decoder (`manifest_codec.decode_manifest`)
///     ignores the entry status, so it also returns the rows of files whose entries are
///     `DELETED` (it never writes such entries itself). Checked here as "no row
///     missing, extra rows only from removed files" so a fixed datashard shows up.
#[test]
fn readers_see_floe_deletes_overwrites_and_upserts() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_see_floe_deletes_overwrites_and_upserts");
    let (table, _) = floe_table_with_commits(dir.path());
    use floe::expr::col;
    let d = table.delete(col("id").between(3, 12)).unwrap().rows.unwrap_or_default();
    assert!(d.files_removed + d.files_rewritten >= 2, "{d:?}");
    table.overwrite(col("id").gt(25), &[floe_batch(100, 3).0]).unwrap();
    let u = table.upsert(&["id"], &[floe_batch(1, 2).0, floe_batch(200, 1).0]).unwrap().rows.unwrap_or_default();
    assert_eq!((u.rows_removed, u.rows_added), (2, 3));
    let r =
        table.insert_if_absent(&["id"], &[floe_batch(13, 2).0, floe_batch(300, 1).0]).unwrap().rows.unwrap_or_default();
    assert_eq!(r.keys_skipped.len(), 2);
    let expected = floe_rows(&table);
    assert_eq!(id_counts(&expected).values().max(), Some(&1), "no duplicate id");
    for reader in ["pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, dir.path(), None));
    }
    assert_datashard_reads_a_superset(py, dir.path(), &expected);
    let snap = table.current_snapshot().unwrap();
    assert_eq!(snap.summary_i64("total-records"), Some(expected.len() as i64));
}

/// 9d. With `floe.write.deleted-entries = false` (set explicitly, or implied on a
///     table datashard has written to), removals are left out of the manifests
///     instead of listed as `DELETED`, and datashard 0.11.2 reads deletes, upserts
///     and compactions exactly, as pyiceberg and DuckDB do.
#[test]
fn datashard_reads_floe_row_changes_exactly_without_deleted_entries() {
    let Some(py) = interop() else { return };
    use floe::expr::col;
    let check = |dir: &Path, table: &Table, context: &str| {
        let expected = floe_rows(table);
        assert_eq!(id_counts(&expected).values().max(), Some(&1), "{context}: no duplicate id");
        for reader in ["datashard-read", "pyiceberg-read", "duckdb-read"] {
            assert_same_rows(&format!("{context}: {reader}"), &expected, &py.read(reader, dir, None));
        }
    };
    // Explicit property on a floe table.
    let dir = scratch("datashard_reads_floe_row_changes_explicit");
    let options = relaxed().property("floe.write.deleted-entries", "false");
    let table = Table::create_with(dir.path(), interop_schema(), options).unwrap();
    for start in [0, 10, 20, 30] {
        floe_append(&table, start, 10);
    }
    table.delete(col("id").between(3, 12)).unwrap();
    table.upsert(&["id"], &[floe_batch(1, 2).0, floe_batch(200, 1).0]).unwrap();
    check(dir.path(), &table, "after delete + upsert");
    let report = table.compact(&floe::CompactOptions::default()).unwrap();
    assert!(report.data_files_removed >= 2, "{report:?}");
    check(dir.path(), &table, "after compaction");

    // Implied on a table datashard created and wrote to.
    let dir = scratch("datashard_reads_floe_row_changes_implied");
    let doc = py.run(&["datashard-create", path_str(dir.path()), "--start", "1", "--count", "5"]);
    assert_eq!(doc["created"], json!(true), "datashard-create: {doc}");
    let table = Table::open_with(dir.path(), relaxed()).unwrap();
    floe_append(&table, 100, 6);
    table.delete(col("id").eq(2).or(col("id").eq(101))).unwrap();
    check(dir.path(), &table, "datashard table after floe's delete");
}

/// 9e. floe remembers that datashard wrote to a table after datashard's snapshots have
///     left the metadata: one datashard append, 101 floe appends (floe's commit-time
///     trim to 100 snapshots drops datashard's), a compaction and an expiry; datashard,
///     pyiceberg, DuckDB and floe then all read the same rows, each once (floe no longer
///     writes the `DELETED` entries datashard 0.11.2 reads as live).
#[test]
fn floe_remembers_datashard_after_its_snapshots_leave_the_metadata() {
    let Some(py) = interop() else { return };
    let dir = scratch("floe_remembers_datashard_after_its_snapshots_leave_the_metadata");
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create");
    let doc = py.run(&["datashard-append", path_str(dir.path()), "--start", "1000", "--count", "2"]);
    let mut expected: Vec<Value> = ids_of(&doc, "committed").into_iter().map(ds_row).collect();
    table.refresh().expect("refresh");
    for id in 1..=101 {
        expected.extend(floe_append(&table, id, 1));
    }
    let datashard_snapshots =
        table.snapshots().iter().filter(|s| s.summary.keys().any(|k| k.starts_with("datashard."))).count();
    assert_eq!(datashard_snapshots, 0, "the premise: datashard's snapshot left the metadata");
    assert_eq!(
        table.properties().get("floe.write.deleted-entries").map(String::as_str),
        Some("false"),
        "the table remembers that datashard wrote to it"
    );
    let r = table.compact(&floe::CompactOptions::default()).expect("compact");
    assert!(r.data_files_removed > 100, "{r}");
    let r = table
        .expire_snapshots(
            &floe::ExpireOptions::default()
                .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
                .retain_last(1),
        )
        .expect("expire");
    assert!(r.snapshots_expired > 0, "{r}");
    let floe = floe_rows(&Table::open(dir.path()).unwrap());
    assert_same_rows("floe scan", &expected, &floe);
    for reader in ["datashard-read", "pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, dir.path(), None));
    }
}

/// datashard 0.11.2 ignores manifest entry status: it must return every row floe
/// holds, and may add rows of files listed as DELETED (counted and printed).
fn assert_datashard_reads_a_superset(py: &Interop, dir: &Path, expected: &[Value]) {
    let ds = py.read("datashard-read", dir, None);
    let mut balance: BTreeMap<String, i64> = BTreeMap::new();
    for r in expected {
        *balance.entry(r.to_string()).or_default() += 1;
    }
    for r in &ds {
        *balance.entry(r.to_string()).or_default() -= 1;
    }
    assert!(balance.values().all(|n| *n <= 0), "datashard misses rows floe holds");
    let extra = -balance.values().sum::<i64>();
    eprintln!("datashard-read: {} rows, {extra} of them from DELETED manifest entries", ds.len());
}

/// A floe table copied with `cp -a` and relocated (`Table::relocate`), its original then
/// deleted: pyiceberg and DuckDB read the copy's own files (the relocated version names
/// only the copy), row for row what floe reads, also after floe appends to the copy;
/// datashard reads every row too.
#[test]
fn readers_read_a_relocated_copy_after_the_original_is_gone() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_read_a_relocated_copy_after_the_original_is_gone");
    let orig = dir.path().join("t");
    let (table, mut expected) = floe_table_with_commits(&orig);
    table.compact(&floe::CompactOptions::default()).expect("compact");
    expected.extend(floe_append(&table, 100, 7));
    let copy_dir = dir.path().join("copy");
    let status = Command::new("cp").arg("-a").arg(&orig).arg(&copy_dir).status().expect("run cp");
    assert!(status.success());
    let copy = Table::open_with(&copy_dir, relaxed()).unwrap();
    assert!(copy.relocated_from().is_some());
    let report = copy.relocate().expect("relocate");
    assert_eq!(report.versions().len(), 1, "{report:?}");
    std::fs::remove_dir_all(&orig).unwrap();

    assert_same_rows("floe scan of the relocated copy", &expected, &floe_rows(&copy));
    for reader in ["pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, &copy_dir, None));
    }
    expected.extend(floe_append(&copy, 200, 3));
    for reader in ["pyiceberg-read", "duckdb-read"] {
        let context = format!("{reader} after an append to the copy");
        assert_same_rows(&context, &expected, &py.read(reader, &copy_dir, None));
    }
    assert_datashard_reads_a_superset(py, &copy_dir, &expected);
}

/// Python, argv = [parquet files…]: the Parquet logical type of every leaf, as pyarrow
/// reads the footer. Prints {file: {leaf path: logical type}}.
const PARQUET_LOGICAL_TYPES: &str = r#"
import json, sys
import pyarrow.parquet as pq
out = {}
for f in sys.argv[1:]:
    schema = pq.ParquetFile(f).metadata.schema
    out[f] = {schema.column(i).path: str(schema.column(i).logical_type) for i in range(len(schema))}
print(json.dumps(out))
"#;

/// 3g. uuid columns at every depth (top level, struct field, list element, map value)
///     are written with Parquet's `UUID` logical type, as pyarrow reads the footer (a
///     `fixed[16]` column is not), and pyiceberg and DuckDB read them as the same uuids
///     floe wrote.
#[test]
fn readers_read_uuid_columns_at_every_depth() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_read_uuid_columns_at_every_depth");
    let (schema, batch) = common::uuid_table_batch();
    let table = Table::create_with(dir.path(), schema, relaxed()).expect("create");
    table.append(&[batch]).expect("append");
    let files: Vec<String> = table
        .scan()
        .plan()
        .expect("plan")
        .files
        .iter()
        .map(|f| floe::testing::uri_to_path(&f.file_path).display().to_string())
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let doc = py.snippet(PARQUET_LOGICAL_TYPES, &args);
    for f in &files {
        let leaves = &doc[f.as_str()];
        for (leaf, want) in [
            ("u", "UUID"),
            ("s.su", "UUID"),
            ("l.list.element", "UUID"),
            ("m.key_value.value", "UUID"),
            ("fx", "None"),
            ("id", "None"),
        ] {
            assert_eq!(leaves[leaf], json!(want), "{leaf} in {f}: {leaves}");
        }
    }
    let u = |b: u8| uuid::Uuid::from_bytes([b; 16]).to_string();
    let expected: Vec<Value> = (0..3u8)
        .map(|i| {
            json!({"id": i, "u": u(i), "fx": format!("{:02x}", 100 + i).repeat(16), "s": {"su": u(10 + i)},
                   "l": [u(20 + i), null], "m": [[format!("k{i}"), u(30 + i)]]})
        })
        .collect();
    for reader in ["pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, dir.path(), None));
    }
}

// ------------------------------------------------------------------ warehouses

/// pyiceberg reads both tables of a warehouse in a loop (each at its newest
/// `v<N>`, found as Iceberg readers find it: the hint, then forward probes) while two
/// writer threads make multi-table bank transfers. Every table version pyiceberg sees is
/// one the warehouse catalog committed, with exactly the rows floe has at that version
/// (never an uncommitted or partial table); the reads where the two tables were at
/// different transactions (versions resolved inside a publish window) are counted and
/// printed.
#[test]
fn pyiceberg_reads_warehouse_tables_only_at_committed_versions() {
    let Some(py) = interop() else { return };
    let dir = scratch("warehouse_pyiceberg");
    let root = dir.path().join("wh");
    let wh = floe::Warehouse::create_with(&root, relaxed()).unwrap();
    wh.create_table("bank.a", interop_schema()).unwrap();
    wh.create_table("bank.b", interop_schema()).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2i64)
        .map(|w| {
            let (root, stop) = (root.clone(), stop.clone());
            std::thread::spawn(move || {
                let wh = floe::Warehouse::open_with(&root, relaxed()).unwrap();
                let mut n = 0i64;
                // Each table keeps its newest 100 metadata versions (the default window)
                // and the check below reads every version pyiceberg saw: stay inside it.
                while n < 40 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = w * 1_000_000 + n;
                    let (a, _) = floe_batch(id, 1);
                    let mut tx = wh.transaction();
                    tx.table("bank.a").unwrap().append(&a).unwrap();
                    tx.table("bank.b").unwrap().append(&a).unwrap();
                    tx.commit().unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let code = r#"
import sys, os, json, time
from pyiceberg.table import StaticTable
a_dir, b_dir, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
def newest(d):
    md = os.path.join(d, "metadata")
    with open(os.path.join(md, "version-hint.text")) as f:
        v = int(f.read().strip())
    while os.path.exists(os.path.join(md, "v%d.metadata.json" % (v + 1))):
        v += 1
    return v, os.path.join(md, "v%d.metadata.json" % v)
reads = []
end = time.time() + secs
while time.time() < end:
    # Both versions resolved back to back (as one query over two tables would), then read.
    va, pa = newest(a_dir)
    vb, pb = newest(b_dir)
    ta = StaticTable.from_metadata(pa).scan().to_arrow()
    tb = StaticTable.from_metadata(pb).scan().to_arrow()
    reads.append([va, sorted(ta.column("id").to_pylist()), vb, sorted(tb.column("id").to_pylist())])
print(json.dumps({"reads": reads}))
"#;
    let a_dir = root.join("bank/a");
    let b_dir = root.join("bank/b");
    let out = py.snippet(code, &[path_str(&a_dir), path_str(&b_dir), "6"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let transfers: i64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    // The versions the catalog committed for each table, and floe's rows at each.
    let head = wh.version().unwrap();
    let mut committed: BTreeMap<(&str, u64), ()> = BTreeMap::new();
    for k in 1..=head {
        let snap = wh.snapshot_at(k).unwrap();
        for t in ["bank.a", "bank.b"] {
            if let Ok(v) = snap.table_version(t) {
                committed.insert((t, v), ());
            }
        }
    }
    let ids_at = |dir: &Path, v: u64| -> Vec<i64> {
        let t = Table::open(dir).unwrap();
        let mut ids: Vec<i64> = Vec::new();
        for b in t.scan().as_of_version(v).select(["id"]).to_batches().unwrap() {
            ids.extend(b.column(0).as_primitive::<Int64Type>().values().iter().copied());
        }
        ids.sort();
        ids
    };
    let reads = out["reads"].as_array().unwrap();
    assert!(!reads.is_empty());
    let mut skewed = 0;
    for r in reads {
        let seen = |i: usize| -> (u64, Vec<i64>) {
            (r[i].as_u64().unwrap(), r[i + 1].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
        };
        let ((va, ia), (vb, ib)) = (seen(0), seen(2));
        assert!(
            committed.contains_key(&("bank.a", va)),
            "pyiceberg saw bank.a v{va}, which the catalog never committed"
        );
        assert!(
            committed.contains_key(&("bank.b", vb)),
            "pyiceberg saw bank.b v{vb}, which the catalog never committed"
        );
        assert_eq!(ia, ids_at(&a_dir, va), "bank.a v{va} as pyiceberg read it");
        assert_eq!(ib, ids_at(&b_dir, vb), "bank.b v{vb} as pyiceberg read it");
        if ia != ib {
            skewed += 1;
        }
    }
    println!(
        "warehouse: {transfers} transfers; pyiceberg made {} reads of both tables, {skewed} saw them at different \
         transactions (each table always at a committed version)",
        reads.len()
    );
}

/// One bank transfer of `amount` (as whole cents) with id `id`: `-amount` into
/// `bank.a`, `+amount` into `bank.b`, in one warehouse transaction.
fn bank_transfer(wh: &floe::Warehouse, id: i64, amount: f64) {
    let one = |v: f64| {
        RecordBatch::try_new(
            Arc::new(interop_schema().to_arrow()),
            vec![
                Arc::new(Int64Array::from(vec![id])),
                Arc::new(StringArray::from(vec![Some("transfer")])),
                Arc::new(Float64Array::from(vec![v])),
            ],
        )
        .expect("transfer batch")
    };
    let mut tx = wh.transaction();
    tx.table("bank.a").unwrap().append(&one(-amount)).unwrap();
    tx.table("bank.b").unwrap().append(&one(amount)).unwrap();
    if let Err(e) = tx.commit() {
        panic!("transfer {id}: {e:?}");
    }
}

/// The bank-transfer proof with DuckDB as the third-party reader: two writer threads
/// move money between two account tables in multi-table transactions while DuckDB's
/// `iceberg_scan` reads both tables in a loop (each at its newest `v<N>`, found as
/// Iceberg readers find it). Every table version DuckDB reads is one the warehouse
/// catalog committed, with exactly floe's rows and sum at that version (never an
/// uncommitted or partial table); the reads where the two tables were at different
/// transactions (a publish window) are counted. After the transfers DuckDB, given
/// each table's directory, sees every transfer in both tables and a total of zero.
#[test]
fn duckdb_reads_warehouse_tables_only_at_committed_versions() {
    let Some(py) = interop() else { return };
    let dir = scratch("warehouse_duckdb");
    let root = dir.path().join("wh");
    let wh = floe::Warehouse::create_with(&root, relaxed()).unwrap();
    wh.create_table("bank.a", interop_schema()).unwrap();
    wh.create_table("bank.b", interop_schema()).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..2i64)
        .map(|w| {
            let (root, stop) = (root.clone(), stop.clone());
            std::thread::spawn(move || {
                let wh = floe::Warehouse::open_with(&root, relaxed()).unwrap();
                let mut n = 0i64;
                // Inside each table's window of retained metadata versions (100).
                while n < 40 && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    bank_transfer(&wh, w * 1_000_000 + n, (1 + (n * 7 + w) % 50) as f64);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let code = r#"
import sys, os, json, time
a_dir, b_dir, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
con = duckdb_connect()
def newest(d):
    md = os.path.join(d, "metadata")
    with open(os.path.join(md, "version-hint.text")) as f:
        v = int(f.read().strip())
    while os.path.exists(os.path.join(md, "v%d.metadata.json" % (v + 1))):
        v += 1
    return v, os.path.join(md, "v%d.metadata.json" % v)
def read(path):
    rows = con.execute("SELECT id, value FROM iceberg_scan(?)", [path]).fetchall()
    return sorted(r[0] for r in rows), sum(r[1] for r in rows)
reads = []
end = time.time() + secs
while time.time() < end:
    va, pa = newest(a_dir)
    vb, pb = newest(b_dir)
    ia, sa = read(pa)
    ib, sb = read(pb)
    reads.append([va, ia, sa, vb, ib, sb])
print(json.dumps({"reads": reads}))
"#;
    let a_dir = root.join("bank/a");
    let b_dir = root.join("bank/b");
    let out = py.duckdb_snippet(code, &[path_str(&a_dir), path_str(&b_dir), "6"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let transfers: i64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let head = wh.version().unwrap();
    let mut committed = std::collections::BTreeSet::new();
    for k in 1..=head {
        let snap = wh.snapshot_at(k).unwrap();
        for t in ["bank.a", "bank.b"] {
            if let Ok(v) = snap.table_version(t) {
                committed.insert((t, v));
            }
        }
    }
    let floe_at = |dir: &Path, v: u64| -> (Vec<i64>, f64) {
        let t = Table::open(dir).unwrap();
        let (mut ids, mut sum) = (Vec::new(), 0.0);
        for b in t.scan().as_of_version(v).select(["id", "value"]).to_batches().unwrap() {
            ids.extend(b.column(0).as_primitive::<Int64Type>().values().iter().copied());
            sum += b.column(1).as_primitive::<arrow_array::types::Float64Type>().values().iter().sum::<f64>();
        }
        ids.sort();
        (ids, sum)
    };
    let reads = out["reads"].as_array().unwrap();
    assert!(!reads.is_empty());
    let mut skewed = 0;
    for r in reads {
        let seen = |i: usize| -> (u64, Vec<i64>, f64) {
            let ids = r[i + 1].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect();
            (r[i].as_u64().unwrap(), ids, r[i + 2].as_f64().unwrap_or(0.0))
        };
        for ((t, dir), (v, ids, sum)) in [(("bank.a", &a_dir), seen(0)), (("bank.b", &b_dir), seen(3))] {
            assert!(committed.contains(&(t, v)), "DuckDB read {t} v{v}, which the catalog never committed");
            let (want_ids, want_sum) = floe_at(dir, v);
            assert_eq!(ids, want_ids, "{t} v{v} as DuckDB read it");
            assert_eq!(sum, want_sum, "{t} v{v}: DuckDB's sum");
        }
        if r[1] != r[4] {
            skewed += 1;
        }
    }
    // After the transfers: through the hint, both tables whole, the total zero.
    let after = py.duckdb_snippet(
        r#"
import sys, json
con = duckdb_connect()
out = {}
for name, d in (("a", sys.argv[1]), ("b", sys.argv[2])):
    rows = con.execute("SELECT id, value FROM iceberg_scan(?)", [d]).fetchall()
    out[name] = {"ids": sorted(r[0] for r in rows), "sum": sum(r[1] for r in rows)}
print(json.dumps(out))
"#,
        &[path_str(&a_dir), path_str(&b_dir)],
    );
    assert_eq!(after["a"]["ids"], after["b"]["ids"]);
    assert_eq!(after["a"]["ids"].as_array().unwrap().len() as i64, transfers);
    let total = after["a"]["sum"].as_f64().unwrap() + after["b"]["sum"].as_f64().unwrap();
    assert_eq!(total, 0.0, "{after}");
    println!(
        "warehouse: {transfers} transfers; DuckDB made {} reads of both tables, {skewed} saw them at different \
         transactions (each table always at a committed version)",
        reads.len()
    );
}

// ------------------------------------------------------------------ merge-on-read

/// A floe table with merge-on-read deletes: three commits, then a delete by predicate
/// (position delete files in two data files), an upsert (position deletes plus new
/// rows) and a delete of a whole file's remaining rows (the file is removed). Returns
/// the table and the rows it holds.
fn floe_merge_on_read_table(dir: &Path) -> (Table, Vec<Value>) {
    let options =
        relaxed().property("write.delete.mode", "merge-on-read").property("write.merge.mode", "merge-on-read");
    let table = Table::create_with(dir, interop_schema(), options).expect("create floe table");
    let mut rows = floe_append(&table, 1, 10);
    rows.extend(floe_append(&table, 11, 5));
    rows.extend(floe_append(&table, 16, 13));
    use floe::expr::col;
    let r = table.delete(col("id").gt(7).and(col("id").lt(13))).expect("merge-on-read delete");
    assert_eq!(r.rows.as_ref().map(|r| r.delete_files_added), Some(2), "one position delete file per touched file");
    rows.retain(|r| !(8..13).contains(&r["id"].as_i64().unwrap()));
    let (batch, new_rows) = {
        let ids = [2i64, 20, 100];
        let names: Vec<Option<String>> = ids.iter().map(|i| Some(format!("up-{i}"))).collect();
        let values: Vec<Option<f64>> = ids.iter().map(|i| Some(*i as f64)).collect();
        let expected: Vec<Value> = ids.iter().map(|&i| row(i, Some(&format!("up-{i}")), Some(i as f64))).collect();
        let batch = RecordBatch::try_new(
            Arc::new(interop_schema().to_arrow()),
            vec![
                Arc::new(Int64Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names)),
                Arc::new(Float64Array::from(values)),
            ],
        )
        .unwrap();
        (batch, expected)
    };
    table.upsert(&["id"], &[batch]).expect("merge-on-read upsert");
    rows.retain(|r| ![2, 20].contains(&r["id"].as_i64().unwrap()));
    rows.extend(new_rows);
    // File 2 (ids 11..15) keeps 13..15 after the first delete: deleting them removes it.
    table.delete(col("id").gt(12).and(col("id").lt(16))).expect("delete the rest of a file");
    rows.retain(|r| !(13..16).contains(&r["id"].as_i64().unwrap()));
    let plan = table.scan().plan().unwrap();
    assert!(plan.has_deletes(), "the table keeps position delete files");
    (table, rows)
}

/// 30. pyiceberg and DuckDB read a floe merge-on-read table (position delete files)
///     exactly as floe does.
#[test]
fn pyiceberg_and_duckdb_read_floe_merge_on_read_tables() {
    let Some(py) = interop() else { return };
    let dir = scratch("pyiceberg_and_duckdb_read_floe_merge_on_read_tables");
    let (table, expected) = floe_merge_on_read_table(dir.path());
    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows expected", &expected, &floe);
    assert_same_rows("pyiceberg-read vs floe scan", &floe, &py.read("pyiceberg-read", dir.path(), None));
    assert_same_rows("duckdb-read vs floe scan", &floe, &py.read("duckdb-read", dir.path(), None));
}

/// 31. An equality delete file floe writes (global, on `id`) is applied by DuckDB as
///     floe applies it: to rows committed before it, not to rows committed with or after it.
#[test]
fn duckdb_reads_floe_equality_deletes() {
    let Some(py) = interop() else { return };
    let dir = scratch("duckdb_reads_floe_equality_deletes");
    let table = Table::create_with(dir.path(), interop_schema(), relaxed()).expect("create floe table");
    let mut rows = floe_append(&table, 1, 20);
    let keys = RecordBatch::try_new(
        Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new("id", arrow_schema::DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![3i64, 4, 25]))],
    )
    .unwrap();
    let mut tx = table.new_transaction();
    tx.delete_equal(&["id"], &keys).unwrap();
    tx.commit().unwrap();
    rows.retain(|r| ![3, 4].contains(&r["id"].as_i64().unwrap()));
    rows.extend(floe_append(&table, 25, 1));
    let floe = floe_rows(&table);
    assert_same_rows("floe scan vs rows expected", &rows, &floe);
    assert_same_rows("duckdb-read vs floe scan", &floe, &py.read("duckdb-read", dir.path(), None));
}

/// 32. On a table datashard writes to, `write.delete.mode = merge-on-read` is ignored:
///     datashard reads no delete files, so floe's delete rewrites the file
///     (copy-on-write) and datashard reads exactly floe's rows.
#[test]
fn merge_on_read_is_copy_on_write_on_datashard_tables() {
    let Some(py) = interop() else { return };
    let dir = scratch("merge_on_read_is_copy_on_write_on_datashard_tables");
    let doc = py.run(&["datashard-create", path_str(dir.path()), "--start", "1", "--count", "5"]);
    let mut expected: Vec<Value> = ids_of(&doc, "committed").into_iter().map(ds_row).collect();
    let table = Table::open_with(dir.path(), relaxed()).expect("floe opens datashard's table");
    let mut tx = table.new_transaction();
    tx.set_property("write.delete.mode", "merge-on-read");
    tx.commit().unwrap();
    let r = table.delete(floe::expr::col("id").eq(2)).unwrap().rows.unwrap();
    assert_eq!((r.delete_files_added, r.rows_removed), (0, 1), "{r:?}");
    assert!(!table.scan().plan().unwrap().has_deletes());
    expected.retain(|r| r["id"] != json!(2));
    assert_same_rows("floe scan", &expected, &floe_rows(&table));
    assert_same_rows("datashard-read", &expected, &py.read("datashard-read", dir.path(), None));
}

/// After thousands of single-row appends with commit-time cleanup (small windows so
/// it deletes on most passes) and tiered manifest merging, pyiceberg and DuckDB read
/// exactly floe's rows, and `metadata/` holds a bounded number of manifest lists.
#[test]
fn readers_read_the_table_after_thousands_of_appends_with_commit_time_cleanup() {
    let Some(py) = interop() else { return };
    let dir = scratch("readers_read_the_table_after_thousands_of_appends_with_commit_time_cleanup");
    let opts = relaxed()
        .property("floe.commit.retain-snapshots", "10")
        .property("write.metadata.previous-versions-max", "10")
        .property("commit.manifest.min-count-to-merge", "16")
        .property("floe.commit.cleanup-interval", "5")
        .property("floe.commit.cleanup-margin-ms", "0");
    let mut expected: Vec<Value> = Vec::new();
    {
        let table = Table::create_with(dir.path(), interop_schema(), opts).expect("create");
        for id in 0..1998 {
            expected.extend(floe_append(&table, id, 1));
        }
    }
    // v2000 from a fresh handle: its pass surely runs (a handle skips a pass while its
    // previous one is still running), and dropping the handle waits for it.
    {
        let table = Table::open(dir.path()).unwrap();
        expected.extend(floe_append(&table, 1998, 1));
        assert_eq!(table.version(), 2000);
    }
    let lists = std::fs::read_dir(dir.path().join("metadata"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("snap-"))
        .count();
    assert!(lists <= 21, "{lists} manifest lists after 1,999 appends");
    let table = Table::open(dir.path()).unwrap();
    assert_same_rows("floe", &expected, &floe_rows(&table));
    for reader in ["pyiceberg-read", "duckdb-read"] {
        assert_same_rows(reader, &expected, &py.read(reader, dir.path(), None));
    }
    assert!(table.verify().unwrap().problems.is_empty());
}
