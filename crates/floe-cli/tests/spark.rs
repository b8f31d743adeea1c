//! Spark 3.5.9 + Iceberg 1.10.2 as a real third-party writer and reader of merge-on-read
//! tables: Spark's position delete files (from `DELETE`, `UPDATE` and `MERGE INTO` under
//! `write.{delete,update,merge}.mode = merge-on-read`), on unpartitioned and partitioned
//! (identity + bucket, days of a timestamptz) tables, across schema evolution, read by floe's public API (full
//! scans, filters, time travel) and by the `floe` command (`info`, `scan`) with exactly
//! Spark's rows; floe's own appends, position deletes, upserts, equality deletes and
//! compaction (also from several `floe` processes at once) on tables Spark reads back with
//! exactly floe's rows.
//!
//! Spark runs once per test binary: `interop/floe_spark.py serve` (a local Spark session
//! with a Hadoop catalog `x` whose warehouse is a temporary directory, so `x.ns.t` is the
//! plain table directory `<warehouse>/ns/t`) answers SQL sent one JSON line at a time. The
//! tests share it behind a mutex; each works in its own namespace.
//!
//! Environment: the interpreter is `$FLOE_SPARK_PYTHON`, or else the one
//! `interop/spark-setup.sh` prints after building the venv (pyspark and the Iceberg runtime
//! from PyPI, Debian's jarjar and Java 17 from apt when missing; see that script). If that
//! fails, every test here fails — unless `FLOE_SKIP_SPARK=1` and `$FLOE_SPARK_PYTHON` is
//! unset, in which case they print a loud notice and check nothing. scripts/test.sh sets
//! `$FLOE_SPARK_PYTHON`, so CI never skips.
//!
//! Run locally (the first run installs ~320 MB from PyPI; Spark starts in ~20 s):
//!
//! ```text
//! export FLOE_SPARK_PYTHON="$(bash interop/spark-setup.sh | tail -n 1)"
//! cargo test -p floe-cli --test spark
//! ```
//!
//! `FLOE_SPARK_KEEP=1` keeps the warehouse (its path is printed) to look at the tables.
//!
//! Rows are compared as JSON values in `interop/floe_spark.py`'s forms (see
//! [`cell`]), as multisets, together with the column names.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int32Type, Int64Type, TimestampMicrosecondType,
};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use floe::spec::ManifestContent;
use floe::{CompactOptions, PartitionSpec, Predicate, PrimitiveType, Schema, Table, TableOptions};
use serde_json::{Value, json};

const FLOE: &str = env!("CARGO_BIN_EXE_floe");

// ------------------------------------------------------------------ the Spark side

/// The `floe_spark.py serve` process and its warehouse.
struct Spark {
    _child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    warehouse: PathBuf,
    _dir: tempfile::TempDir,
}

/// What a statement returned: column names and rows (each an array, in column order).
struct Answer {
    columns: Vec<String>,
    rows: Vec<Value>,
}

static SPARK: OnceLock<Result<Mutex<Spark>, String>> = OnceLock::new();

/// The shared Spark process, or `None` after a loud notice when it cannot be started and
/// `FLOE_SKIP_SPARK=1` (with `$FLOE_SPARK_PYTHON` unset). Panics otherwise.
fn spark() -> Option<&'static Mutex<Spark>> {
    match SPARK.get_or_init(|| start_spark().map(Mutex::new)) {
        Ok(s) => Some(s),
        Err(e)
            if std::env::var("FLOE_SKIP_SPARK").as_deref() == Ok("1")
                && std::env::var_os("FLOE_SPARK_PYTHON").is_none() =>
        {
            let bar = "!".repeat(78);
            let notice =
                format!("\n{bar}\n!! SPARK TEST SKIPPED (FLOE_SKIP_SPARK=1): nothing was checked.\n!! {e}\n{bar}\n");
            let _ = std::io::stderr().write_all(notice.as_bytes());
            None
        }
        Err(e) => panic!("Spark environment unavailable (set FLOE_SKIP_SPARK=1 to skip these tests): {e}"),
    }
}

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")).to_path_buf()
}

fn spark_python() -> Result<PathBuf, String> {
    let python = match std::env::var_os("FLOE_SPARK_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => {
            let setup = repo().join("interop/spark-setup.sh");
            let out = Command::new("bash")
                .arg(&setup)
                .current_dir(repo())
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", setup.display()))?;
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                return Err(format!("{} failed ({}):\n{stderr}", setup.display(), out.status));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            let last = stdout.lines().rev().map(str::trim).find(|l| !l.is_empty());
            PathBuf::from(last.ok_or_else(|| format!("{} printed no python path:\n{stderr}", setup.display()))?)
        }
    };
    if python.is_file() { Ok(python) } else { Err(format!("python interpreter {} does not exist", python.display())) }
}

fn start_spark() -> Result<Spark, String> {
    let python = spark_python()?;
    let mut dir = tempfile::Builder::new().prefix("floe-spark-").tempdir().map_err(|e| e.to_string())?;
    let keep = std::env::var("FLOE_SPARK_KEEP").as_deref() == Ok("1");
    if keep {
        dir.disable_cleanup(true);
        eprintln!("spark: keeping {}", dir.path().display());
    }
    let warehouse = dir.path().join("wh");
    // Spark's log goes to a file next to the warehouse (printed on failure), not the
    // test's output.
    let log = std::fs::File::create(dir.path().join("spark.log")).map_err(|e| e.to_string())?;
    let mut child = Command::new(&python)
        .arg(repo().join("interop/floe_spark.py"))
        .args(["serve", "--warehouse"])
        .arg(&warehouse)
        .args(if keep { vec![] } else { vec![std::ffi::OsStr::new("--remove-at-exit"), dir.path().as_os_str()] })
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", python.display()))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    let ready: Value = serde_json::from_str(&line).map_err(|e| {
        let log = std::fs::read_to_string(dir.path().join("spark.log")).unwrap_or_default();
        format!("Spark did not start ({e}; stdout {line:?}); its log:\n{log}")
    })?;
    if ready["ready"] != json!(true) {
        return Err(format!("unexpected first line from floe_spark.py: {line}"));
    }
    eprintln!("spark: {ready}");
    // The Spark struct lives in a static, which is never dropped: the Spark process deletes
    // the directory when the test binary's exit closes its stdin (`--remove-at-exit`).
    dir.disable_cleanup(true);
    Ok(Spark { _child: child, stdin, stdout, warehouse, _dir: dir })
}

impl Spark {
    fn try_sql(&mut self, sql: &str) -> Result<Answer, String> {
        let request = json!({ "sql": sql }).to_string();
        writeln!(self.stdin, "{request}").map_err(|e| format!("Spark is gone: {e}"))?;
        self.stdin.flush().map_err(|e| format!("Spark is gone: {e}"))?;
        let mut line = String::new();
        self.stdout.read_line(&mut line).map_err(|e| format!("Spark is gone: {e}"))?;
        let answer: Value =
            serde_json::from_str(&line).map_err(|e| format!("Spark answered no JSON ({e}): {line:?}"))?;
        if answer["ok"] != json!(true) {
            return Err(answer["error"].as_str().unwrap_or("?").to_owned());
        }
        let columns = answer["columns"].as_array().into_iter().flatten();
        Ok(Answer {
            columns: columns.map(|c| c.as_str().unwrap_or_default().to_owned()).collect(),
            rows: answer["rows"].as_array().cloned().unwrap_or_default(),
        })
    }

    #[track_caller]
    fn sql(&mut self, sql: &str) -> Answer {
        self.try_sql(sql).unwrap_or_else(|e| panic!("Spark failed on {sql}:\n{e}"))
    }

    /// Runs each statement in turn.
    #[track_caller]
    fn run(&mut self, statements: &[&str]) {
        for s in statements {
            self.sql(s);
        }
    }

    /// The current snapshot id of `x.<name>`, as Spark's `history` table says.
    fn current_snapshot(&mut self, name: &str) -> i64 {
        let a = self.sql(&format!(
            "SELECT snapshot_id FROM x.{name}.history WHERE is_current_ancestor ORDER BY made_current_at DESC LIMIT 1"
        ));
        a.rows[0][0].as_i64().unwrap_or_else(|| panic!("no snapshot id for {name}"))
    }

    /// The table directory of `x.<ns>.<t>`.
    fn dir(&self, name: &str) -> PathBuf {
        name.split('.').fold(self.warehouse.clone(), |p, part| p.join(part))
    }
}

fn lock(spark: &'static Mutex<Spark>) -> std::sync::MutexGuard<'static, Spark> {
    // A test that panicked while holding Spark leaves the protocol in step (every request
    // got its answer before the panic), so the others can go on.
    spark.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------------ floe's side as JSON

/// Days since 1970-01-01 as (year, month, day) in the proleptic Gregorian calendar.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Row `i` of `array` in floe_spark.py's JSON forms (the types these tests use).
fn cell(array: &ArrayRef, i: usize) -> Value {
    if array.is_null(i) {
        return Value::Null;
    }
    match array.data_type() {
        DataType::Int32 => json!(array.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => json!(array.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => float(f64::from(array.as_primitive::<Float32Type>().value(i))),
        DataType::Float64 => float(array.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => json!(array.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => json!(array.as_string::<i64>().value(i)),
        DataType::Boolean => json!(array.as_boolean().value(i)),
        DataType::Decimal128(_, scale) => {
            let v = array.as_primitive::<Decimal128Type>().value(i);
            let scale = u32::try_from(*scale).expect("non-negative scale");
            let digits = format!("{:0>width$}", v.unsigned_abs(), width = scale as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - scale as usize);
            let sign = if v < 0 { "-" } else { "" };
            json!(if scale == 0 { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") })
        }
        DataType::Date32 => {
            let (y, m, d) = civil(i64::from(array.as_primitive::<Date32Type>().value(i)));
            json!(format!("{y:04}-{m:02}-{d:02}"))
        }
        DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, _) => {
            let us = array.as_primitive::<TimestampMicrosecondType>().value(i);
            let (days, rem) = (us.div_euclid(86_400_000_000), us.rem_euclid(86_400_000_000));
            let (y, m, d) = civil(days);
            let (s, frac) = (rem / 1_000_000, rem % 1_000_000);
            json!(format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}", s / 3600, s / 60 % 60, s % 60))
        }
        other => panic!("no JSON form for {other} in this test"),
    }
}

fn float(v: f64) -> Value {
    if v.is_nan() {
        json!("NaN")
    } else if v.is_infinite() {
        json!(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(v)
    }
}

/// Column names and rows (arrays in column order) of floe's batches.
fn floe_rows(batches: &[RecordBatch]) -> (Vec<String>, Vec<Value>) {
    let mut rows = Vec::new();
    let mut columns = Vec::new();
    for b in batches {
        columns = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        for i in 0..b.num_rows() {
            rows.push(Value::Array(b.columns().iter().map(|c| cell(c, i)).collect()));
        }
    }
    (columns, rows)
}

/// Rows as a sorted list of their JSON texts: equal lists = equal multisets.
fn multiset(rows: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = rows.iter().map(Value::to_string).collect();
    out.sort();
    out
}

/// floe's scan (`batches`) has exactly Spark's rows and column names.
#[track_caller]
fn assert_same(what: &str, spark: &Answer, batches: &[RecordBatch]) {
    let (columns, rows) = floe_rows(batches);
    if !rows.is_empty() {
        assert_eq!(columns, spark.columns, "{what}: column names");
    }
    let (ours, theirs) = (multiset(&rows), multiset(&spark.rows));
    if ours != theirs {
        let only_floe: Vec<_> = ours.iter().filter(|r| !theirs.contains(r)).take(5).collect();
        let only_spark: Vec<_> = theirs.iter().filter(|r| !ours.contains(r)).take(5).collect();
        panic!(
            "{what}: floe has {} rows, Spark {}; only floe (first 5): {only_floe:?}; only Spark: {only_spark:?}",
            ours.len(),
            theirs.len()
        );
    }
}

/// The delete files (manifest entries with content = deletes, added or existing) of the
/// table's current snapshot, through floe's API.
fn delete_files(table: &Table) -> i64 {
    let snapshot = table.current_snapshot().expect("a current snapshot");
    let manifests = table.manifests(&snapshot).expect("read the manifest list");
    manifests
        .iter()
        .filter(|m| m.content == ManifestContent::Deletes)
        .map(|m| i64::from(m.added_files_count) + i64::from(m.existing_files_count))
        .sum()
}

#[track_caller]
fn floe_cmd(args: &[&str]) -> String {
    let out = Command::new(FLOE).args(args).env("NO_COLOR", "1").output().expect("run floe");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "floe {args:?} failed ({}):\n{stdout}\n{stderr}", out.status);
    stdout.into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// `floe info --json` row and delete-file totals, and the `floe scan --json` row count.
fn cli_counts(dir: &Path) -> (i64, i64, usize) {
    let d = path(dir);
    let info: Value = serde_json::from_str(&floe_cmd(&["info", d, "--json"])).expect("info --json");
    let scanned = floe_cmd(&["scan", d, "--json"]).lines().filter(|l| !l.trim().is_empty()).count();
    (info["total_records"].as_i64().expect("total_records"), info["total_delete_files"].as_i64().unwrap_or(-1), scanned)
}

/// Compares floe (API and command) with Spark on `x.<name>`: the current rows, each
/// filter (floe's predicate text is also Spark SQL), and each recorded snapshot.
fn compare(spark: &mut Spark, name: &str, filters: &[&str], snapshots: &[(&str, i64)]) {
    let dir = spark.dir(name);
    let table = Table::open(&dir).unwrap_or_else(|e| panic!("floe cannot open {}: {e}", dir.display()));
    assert_eq!(
        table.current_snapshot().map(|s| s.snapshot_id),
        Some(spark.current_snapshot(name)),
        "{name}: floe's current snapshot is Spark's"
    );
    let all = spark.sql(&format!("SELECT * FROM x.{name}"));
    assert_same(&format!("{name} full scan"), &all, &table.scan().to_batches().unwrap());
    let n = all.rows.len() as i64;
    assert_eq!(table.scan().count().unwrap(), n, "{name}: Scan::count");
    let (info_rows, _, scanned) = cli_counts(&dir);
    assert_eq!((info_rows, scanned as i64), (n, n), "{name}: floe info rows and floe scan lines");
    let verify: Value =
        serde_json::from_str(&floe_cmd(&["verify", "--deep", "--json", path(&dir)])).expect("verify --json");
    assert_eq!(verify["ok"], json!(true), "{name}: floe verify --deep: {verify}");
    for f in filters {
        let want = spark.sql(&format!("SELECT * FROM x.{name} WHERE {f}"));
        assert!(!want.rows.is_empty() && want.rows.len() < all.rows.len(), "{name}: filter {f} selects some rows");
        let predicate = Predicate::parse(f).unwrap_or_else(|e| panic!("floe cannot parse {f}: {e}"));
        assert_same(&format!("{name} where {f}"), &want, &table.scan().filter(predicate).to_batches().unwrap());
    }
    for (label, id) in snapshots {
        let want = spark.sql(&format!("SELECT * FROM x.{name} VERSION AS OF {id}"));
        assert_same(&format!("{name} at {label} ({id})"), &want, &table.scan().snapshot_id(*id).to_batches().unwrap());
    }
}

const MOR: &str = "'format-version'='2', 'write.delete.mode'='merge-on-read', \
                   'write.update.mode'='merge-on-read', 'write.merge.mode'='merge-on-read'";

// ------------------------------------------------------------------ Spark writes, floe reads

/// Spark writes merge-on-read tables with DELETE, UPDATE and MERGE INTO (position delete
/// files), then evolves the schema and deletes more; floe returns exactly Spark's rows:
/// now, filtered, and at every earlier snapshot.
#[test]
fn spark_merge_on_read_tables_read_by_floe() {
    let Some(spark) = spark() else { return };
    let mut s = lock(spark);
    s.run(&["CREATE NAMESPACE IF NOT EXISTS x.s1"]);

    // Unpartitioned, with most column types, nulls, and two data files.
    let t = "s1.plain";
    s.run(&[&format!(
        "CREATE TABLE x.{t} (id bigint, name string, qty int, price float, amount decimal(10,2), d date, \
         ts timestamp) USING iceberg TBLPROPERTIES ({MOR})"
    )]);
    for (lo, hi) in [(0, 1000), (1000, 2000)] {
        s.run(&[&format!(
            "INSERT INTO x.{t} SELECT id, CASE WHEN id % 50 = 0 THEN NULL ELSE concat('n', id) END, \
             CAST(id % 7 AS INT), CAST(id / 4 AS FLOAT), CAST(id * 1.25 AS DECIMAL(10,2)), \
             date_add(DATE'2024-01-01', CAST(id % 40 AS INT)), timestamp_micros(1704067200000000 + id * 1000001) \
             FROM range({lo}, {hi})"
        )]);
    }
    let mut snaps = vec![("inserts", s.current_snapshot(t))];
    s.run(&[&format!("DELETE FROM x.{t} WHERE id % 10 = 3")]);
    snaps.push(("delete", s.current_snapshot(t)));
    s.run(&[&format!("UPDATE x.{t} SET name = concat(name, '-u'), qty = qty + 100 WHERE id BETWEEN 100 AND 150")]);
    snaps.push(("update", s.current_snapshot(t)));
    s.run(&[&format!(
        "MERGE INTO x.{t} t USING (SELECT id, concat('m', id) AS name, CAST(1 AS INT) AS qty, \
         CAST(0.5 AS FLOAT) AS price, CAST(9.99 AS DECIMAL(10,2)) AS amount, DATE'2025-01-01' AS d, \
         TIMESTAMP'2025-01-01 00:00:00' AS ts FROM range(1990, 2010)) s ON t.id = s.id \
         WHEN MATCHED AND s.id % 2 = 0 THEN DELETE WHEN MATCHED THEN UPDATE SET t.name = s.name \
         WHEN NOT MATCHED THEN INSERT *"
    )]);
    snaps.push(("merge", s.current_snapshot(t)));
    s.run(&[
        &format!("ALTER TABLE x.{t} RENAME COLUMN name TO label"),
        &format!("ALTER TABLE x.{t} ALTER COLUMN qty TYPE bigint"),
        &format!("ALTER TABLE x.{t} ALTER COLUMN price TYPE double"),
        &format!("ALTER TABLE x.{t} ALTER COLUMN amount TYPE decimal(12,2)"),
        &format!("ALTER TABLE x.{t} ADD COLUMN note string"),
        &format!("ALTER TABLE x.{t} DROP COLUMN d"),
        &format!("INSERT INTO x.{t} VALUES (5000, 'late', 7, 1.5, 3.25, TIMESTAMP'2024-02-01 00:00:00', 'new')"),
        &format!("DELETE FROM x.{t} WHERE qty = 5 OR label LIKE 'm%'"),
    ]);
    snaps.push(("evolved", s.current_snapshot(t)));
    s.run(&[&format!("UPDATE x.{t} SET note = 'touched' WHERE id < 40")]);

    // The table really has position delete files (so nothing below passes vacuously).
    let plain = Table::open(s.dir(t)).unwrap();
    let deletes = s.sql(&format!("SELECT count(*) FROM x.{t}.delete_files"));
    let spark_deletes = deletes.rows[0][0].as_i64().unwrap();
    // Iceberg 1.10 keeps one position delete file per data file (a later DELETE merges the
    // earlier one into its own), so there are fewer delete files than DML statements.
    assert!(spark_deletes >= 2, "Spark wrote {spark_deletes} delete files");
    assert_eq!(delete_files(&plain), spark_deletes, "floe lists Spark's delete files");
    let kinds = s.sql(&format!("SELECT DISTINCT content FROM x.{t}.delete_files"));
    assert_eq!(kinds.rows, vec![json!([1])], "position deletes only (Spark writes no equality deletes)");
    assert_eq!(cli_counts(&s.dir(t)).1, spark_deletes, "floe info counts the delete files");

    compare(
        &mut s,
        t,
        &[
            "id < 100",
            "qty >= 3 and label is not null",
            "price > 400.0 or id = 5000",
            "amount between 10 and 20",
            "note is null and id > 1900",
            "label = 'n120-u'",
        ],
        &snaps,
    );

    // Partitioned by identity + bucket; the partition source column is renamed later.
    let p = "s1.parts";
    s.run(&[
        &format!(
            "CREATE TABLE x.{p} (id bigint, cat string, v double) USING iceberg \
             PARTITIONED BY (cat, bucket(4, id)) TBLPROPERTIES ({MOR})"
        ),
        &format!("INSERT INTO x.{p} SELECT id, element_at(array('a', 'b', 'c'), CAST(id % 3 AS INT) + 1), id * 0.5 FROM range(0, 600)"),
    ]);
    let mut psnaps = vec![("insert", s.current_snapshot(p))];
    s.run(&[&format!("DELETE FROM x.{p} WHERE id % 7 = 0")]);
    psnaps.push(("delete", s.current_snapshot(p)));
    s.run(&[&format!("UPDATE x.{p} SET v = -v WHERE cat = 'b' AND id < 300")]);
    psnaps.push(("update", s.current_snapshot(p)));
    s.run(&[
        &format!("ALTER TABLE x.{p} RENAME COLUMN cat TO category"),
        &format!("ALTER TABLE x.{p} ADD COLUMN extra int"),
        &format!("INSERT INTO x.{p} SELECT id, 'd', id, CAST(id AS INT) FROM range(600, 650)"),
        &format!("MERGE INTO x.{p} t USING (SELECT id FROM range(590, 610)) s ON t.id = s.id WHEN MATCHED THEN DELETE"),
        &format!("DELETE FROM x.{p} WHERE category = 'c' AND id > 500"),
    ]);
    let parts = Table::open(s.dir(p)).unwrap();
    assert!(delete_files(&parts) >= 4, "partition-scoped position deletes: {}", delete_files(&parts));
    compare(
        &mut s,
        p,
        &[
            "category = 'b'",
            "id between 100 and 200 and v < 0",
            "extra is not null",
            "category in ('a', 'd') and id > 550",
        ],
        &psnaps,
    );

    // Partitioned by days(ts) on a timestamptz column: deletes scoped to day partitions.
    let e = "s1.events";
    s.run(&[
        &format!(
            "CREATE TABLE x.{e} (id bigint, ts timestamp, msg string) USING iceberg PARTITIONED BY (days(ts)) \
             TBLPROPERTIES ({MOR})"
        ),
        &format!(
            "INSERT INTO x.{e} SELECT id, timestamp_micros(1704067200000000 + id * 3600000000), concat('e', id) \
             FROM range(0, 120)"
        ),
    ]);
    let esnaps = vec![("insert", s.current_snapshot(e))];
    s.run(&[
        &format!(
            "DELETE FROM x.{e} WHERE ts >= TIMESTAMP'2024-01-02 00:00:00' AND ts < TIMESTAMP'2024-01-02 06:00:00'"
        ),
        &format!("UPDATE x.{e} SET msg = 'changed' WHERE id % 5 = 0"),
    ]);
    let events = Table::open(s.dir(e)).unwrap();
    assert!(delete_files(&events) >= 2, "day-scoped position deletes: {}", delete_files(&events));
    compare(&mut s, e, &["ts < '2024-01-03T00:00:00Z'", "msg = 'changed' and ts >= '2024-01-04T00:00:00Z'"], &esnaps);

    // Gzip-compressed metadata (v<N>.gz.metadata.json): a typed refusal, never "no table"
    // (which would let a create lay an empty table beside Spark's), and nothing written.
    let g = "s1.gzipped";
    s.run(&[
        &format!(
            "CREATE TABLE x.{g} (id bigint) USING iceberg \
             TBLPROPERTIES ('format-version'='2', 'write.metadata.compression-codec'='gzip')"
        ),
        &format!("INSERT INTO x.{g} VALUES (1), (2)"),
    ]);
    let gdir = s.dir(g);
    assert!(gdir.join("metadata/v2.gz.metadata.json").is_file(), "Spark wrote gzip-compressed metadata");
    let files = std::fs::read_dir(gdir.join("metadata")).unwrap().count();
    for err in [
        Table::open(&gdir).unwrap_err(),
        Table::create_or_open(&gdir, Schema::builder().optional("id", PrimitiveType::Long).build().unwrap())
            .unwrap_err(),
    ] {
        assert!(matches!(&err, floe::Error::Unsupported { what } if what.contains("gzip")), "{err:?}");
    }
    let out = Command::new(FLOE).args(["info", path(&gdir)]).output().expect("run floe");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("gzip-compressed table metadata"), "{stderr}");
    assert_eq!(std::fs::read_dir(gdir.join("metadata")).unwrap().count(), files, "nothing written");
    assert_eq!(s.sql(&format!("SELECT count(*) FROM x.{g}")).rows, vec![json!([2])]);
}

// ------------------------------------------------------------------ floe extends a Spark table

/// floe appends to, deletes from (merge-on-read: position delete files) and upserts into a
/// table Spark wrote with merge-on-read deletes; Spark reads exactly floe's rows, deletes
/// more on top, and floe reads exactly Spark's rows again.
#[test]
fn floe_writes_to_a_spark_merge_on_read_table_and_spark_reads_it() {
    let Some(spark) = spark() else { return };
    let mut s = lock(spark);
    let t = "s3.t";
    s.run(&[
        "CREATE NAMESPACE IF NOT EXISTS x.s3",
        &format!("CREATE TABLE x.{t} (id bigint, name string, v double) USING iceberg TBLPROPERTIES ({MOR})"),
        &format!("INSERT INTO x.{t} SELECT id, concat('s', id), id * 1.5 FROM range(0, 150)"),
        &format!("INSERT INTO x.{t} SELECT id, concat('s', id), id * 1.5 FROM range(150, 300)"),
        &format!("DELETE FROM x.{t} WHERE id % 10 = 0"),
    ]);
    let spark_snapshot = s.current_snapshot(t);
    let dir = s.dir(t);
    let table = Table::open(&dir).unwrap();
    let before = delete_files(&table);
    assert!(before >= 1, "Spark wrote delete files");

    // floe: append, a merge-on-read delete and upsert (the table's properties say so).
    table.append(&[rows(&(1000..1010).collect::<Vec<_>>(), "floe")]).unwrap();
    let appended = table.current_snapshot().unwrap().snapshot_id;
    let report = table.delete(Predicate::parse("id between 100 and 120").unwrap()).unwrap();
    assert_eq!(report.removed_files, 0, "merge-on-read: no data file rewritten");
    table.upsert(&["id"], &[rows(&[200, 201, 202, 2000], "up")]).unwrap();
    assert!(delete_files(&table) >= before + 2, "floe added position delete files");
    let listed = s.sql(&format!("SELECT count(*) FROM x.{t}.delete_files WHERE content = 1"));
    assert_eq!(listed.rows[0][0].as_i64(), Some(delete_files(&table)), "Spark lists floe's delete files");

    let floe_now = table.scan().to_batches().unwrap();
    let n = floe_now.iter().map(|b| b.num_rows()).sum::<usize>();
    // 300, less 30 (Spark), plus 10, less 18 (ids 100..=120 but 100, 110, 120), plus 200
    // (Spark had deleted it; the upsert inserts it) and 2000.
    assert_eq!(n, 300 - 30 + 10 - 18 + 2);
    assert_same("Spark reads floe's commits", &s.sql(&format!("SELECT * FROM x.{t}")), &floe_now);
    let want = s.sql(&format!("SELECT * FROM x.{t} VERSION AS OF {appended}"));
    assert_same("Spark time travel to floe's append", &want, &table.scan().snapshot_id(appended).to_batches().unwrap());
    let want = s.sql(&format!("SELECT * FROM x.{t} VERSION AS OF {spark_snapshot}"));
    assert_same("both at Spark's delete", &want, &table.scan().snapshot_id(spark_snapshot).to_batches().unwrap());

    // Spark deletes and updates on top of floe's commits; floe reads the result.
    s.run(&[
        &format!("DELETE FROM x.{t} WHERE id > 1005 OR name = 'up-201'"),
        &format!("UPDATE x.{t} SET v = 0.0 WHERE id < 20"),
    ]);
    table.refresh().unwrap();
    compare(&mut s, t, &["id >= 1000", "name = 'up-200' or id < 5"], &[("floe append", appended)]);

    // floe compacts: the data files Spark's and floe's delete files apply to are rewritten
    // without the deleted rows, and those delete files leave the table.
    let before_compaction = table.current_snapshot().unwrap().snapshot_id;
    let report = table.compact(&CompactOptions::default()).unwrap();
    assert!(report.delete_files_removed >= 2, "{report:?}");
    let compacted = table.current_snapshot().unwrap().snapshot_id;
    let listed = s.sql(&format!("SELECT count(*) FROM x.{t}.delete_files"));
    assert_eq!(listed.rows[0][0].as_i64(), Some(delete_files(&table)), "Spark sees the delete files go");
    compare(&mut s, t, &["id >= 1000", "v = 0.0"], &[("before floe's compaction", before_compaction)]);

    // Spark deletes again and compacts with its own procedure; floe reads the result.
    s.run(&[
        &format!("DELETE FROM x.{t} WHERE id BETWEEN 30 AND 40"),
        "CALL x.system.rewrite_data_files(table => 's3.t', \
         options => map('min-input-files', '1', 'delete-file-threshold', '1'))",
    ]);
    table.refresh().unwrap();
    // Spark's rewrite leaves its last delete file listed (it names only files the rewrite
    // removed); both list the same files and read the same rows.
    let listed = s.sql(&format!("SELECT count(*) FROM x.{t}.delete_files"));
    assert_eq!(listed.rows[0][0].as_i64(), Some(delete_files(&table)), "the same delete files");
    let replaced = s.sql(&format!("SELECT operation FROM x.{t}.snapshots ORDER BY committed_at DESC LIMIT 1"));
    assert_eq!(replaced.rows, vec![json!(["replace"])], "Spark's rewrite committed");
    compare(&mut s, t, &["id between 25 and 45", "name = 'up-202'"], &[("floe's compaction", compacted)]);

    // floe commits on top of Spark's rewrite; Spark reads it.
    table.delete(Predicate::parse("id in (1, 2, 1001)").unwrap()).unwrap();
    let last = table.scan().to_batches().unwrap();
    assert_same("Spark reads floe's delete after Spark's rewrite", &s.sql(&format!("SELECT * FROM x.{t}")), &last);
}

// ------------------------------------------------------------------ floe writes, Spark reads

fn rows(ids: &[i64], tag: &str) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("v", DataType::Float64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(ids.iter().map(|i| format!("{tag}-{i}")).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(ids.iter().map(|i| *i as f64 * 0.25).collect::<Vec<_>>())),
        ],
    )
    .unwrap()
}

/// floe writes merge-on-read tables (appends, compaction, position deletes from `delete`
/// and `upsert`, equality deletes from `Transaction::delete_equal`; unpartitioned and
/// partitioned); Spark reads exactly floe's rows, filtered and at older snapshots.
#[test]
fn floe_merge_on_read_tables_read_by_spark() {
    let Some(spark) = spark() else { return };
    let warehouse = lock(spark).warehouse.clone();
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("v", PrimitiveType::Double)
        .build()
        .unwrap();
    let options = || {
        TableOptions::default()
            .property("write.delete.mode", "merge-on-read")
            .property("write.merge.mode", "merge-on-read")
            .property("write.update.mode", "merge-on-read")
    };

    // floe's work first, without holding Spark (the other tests may use it meanwhile).
    let plain = Table::create_with(warehouse.join("f2/plain"), schema.clone(), options()).unwrap();
    for k in 0..4 {
        plain.append(&[rows(&(k * 100..(k + 1) * 100).collect::<Vec<_>>(), "a")]).unwrap();
    }
    let compacted = plain.compact(&CompactOptions::default().min_input_files(2)).unwrap();
    assert_eq!(compacted.data_files_removed, 4, "{compacted:?}");
    plain.append(&[rows(&(400..450).collect::<Vec<_>>(), "b")]).unwrap();
    let before_deletes = plain.current_snapshot().unwrap().snapshot_id;
    let some: Vec<String> = (0..400).filter(|i| i % 9 == 4).map(|i| i.to_string()).collect();
    let predicate = format!("id in ({}) or id between 420 and 430", some.join(", "));
    let report = plain.delete(Predicate::parse(&predicate).unwrap()).unwrap();
    assert_eq!(report.removed_files, 0, "merge-on-read: no data file rewritten");
    let after_delete = plain.current_snapshot().unwrap().snapshot_id;
    plain.upsert(&["id"], &[rows(&[1, 2, 3, 401, 999], "up")]).unwrap();
    let mut tx = plain.new_transaction();
    let keys = RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![Field::new("id", DataType::Int64, false)])),
        vec![Arc::new(Int64Array::from(vec![10, 11, 12, 402]))],
    )
    .unwrap();
    tx.delete_equal(&["id"], &keys).unwrap();
    tx.commit().unwrap();
    assert!(delete_files(&plain) >= 3, "position and equality delete files: {}", delete_files(&plain));

    let spec = PartitionSpec::builder(&schema).identity("name").bucket("id", 4).build().unwrap();
    let parts = Table::create_partitioned(warehouse.join("f2/parts"), schema.clone(), spec, options()).unwrap();
    let ids: Vec<i64> = (0..300).collect();
    let tagged = |ids: &[i64]| -> RecordBatch {
        let b = rows(ids, "p");
        let names: Vec<String> = ids.iter().map(|i| ["x", "y", "z"][(*i % 3) as usize].to_owned()).collect();
        RecordBatch::try_new(
            b.schema(),
            vec![b.column(0).clone(), Arc::new(StringArray::from(names)), b.column(2).clone()],
        )
        .unwrap()
    };
    parts.append(&[tagged(&ids[..150])]).unwrap();
    parts.append(&[tagged(&ids[150..])]).unwrap();
    let parts_before = parts.current_snapshot().unwrap().snapshot_id;
    parts.delete(Predicate::parse("(id < 40 or id > 250) and name = 'y'").unwrap()).unwrap();
    parts.upsert(&["id"], &[tagged(&[1, 2, 3, 500])]).unwrap();
    assert!(delete_files(&parts) >= 2, "partition-scoped position deletes: {}", delete_files(&parts));

    let mut s = lock(spark);
    // Spark lists floe's delete files, both kinds (1 = position, 2 = equality).
    let kinds = s.sql("SELECT content, count(*) FROM x.f2.plain.delete_files GROUP BY content ORDER BY content");
    assert_eq!(kinds.rows.len(), 2, "position and equality deletes: {:?}", kinds.rows);
    assert_eq!((kinds.rows[0][0].clone(), kinds.rows[1][0].clone()), (json!(1), json!(2)));
    let listed: i64 = kinds.rows.iter().map(|r| r[1].as_i64().unwrap()).sum();
    assert_eq!(listed, delete_files(&plain), "Spark lists every delete file floe wrote");
    compare(
        &mut s,
        "f2.plain",
        &["id < 50", "name = 'up-401' or id > 440", "v between 10 and 20"],
        &[("before deletes", before_deletes), ("after delete", after_delete)],
    );
    compare(&mut s, "f2.parts", &["name = 'y'", "id between 10 and 40"], &[("before deletes", parts_before)]);
}

// ------------------------------------------------------------------ concurrent floe writers, Spark reads

/// Runs `floe ARGS…` until it succeeds (at most 20 times): a lost race that floe could
/// not rebase is a clean failure (nothing changed), and these commands are idempotent.
/// Returns how many runs failed first.
fn floe_until_ok(args: &[String]) -> usize {
    let mut last = String::new();
    for failed in 0..20 {
        let out = Command::new(FLOE).args(args).env("NO_COLOR", "1").output().expect("run floe");
        if out.status.success() {
            return failed;
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("floe {args:?} kept failing: {last}");
}

/// Several `floe` processes at once on one merge-on-read table — appends, merge-on-read
/// deletes and upserts, compactions — then Spark reads it: nothing lost, no deleted row
/// back, and exactly floe's rows.
#[test]
fn concurrent_floe_writers_then_spark_reads_the_same_rows() {
    let Some(spark) = spark() else { return };
    let warehouse = lock(spark).warehouse.clone();
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("v", PrimitiveType::Double)
        .build()
        .unwrap();
    let dir = warehouse.join("f4/t");
    let options = TableOptions::default()
        .property("write.delete.mode", "merge-on-read")
        .property("write.merge.mode", "merge-on-read");
    let table = Table::create_with(&dir, schema, options).unwrap();
    for k in 0..3 {
        table.append(&[rows(&(k * 100..(k + 1) * 100).collect::<Vec<_>>(), "a")]).unwrap();
    }
    let inputs = tempfile::tempdir().unwrap();
    let csv = |name: &str, ids: &[i64], tag: &str| -> String {
        let path = inputs.path().join(name);
        let body: String = ids.iter().map(|i| format!("{i},{tag}-{i},{}\n", *i as f64 * 0.25)).collect();
        std::fs::write(&path, format!("id,name,v\n{body}")).unwrap();
        path.display().to_string()
    };
    let t = path(&dir).to_owned();
    let s = |x: &str| x.to_owned();

    // Appender: 6 commits of new ids 1000..1060. Deleter: 6 merge-on-read deletes of 5 ids
    // each from the first 300. Upserter: 3 upserts of existing, never-deleted ids.
    // Compactor: 3 compactions. All at once, each a sequence of separate processes.
    let mut work: Vec<Vec<Vec<String>>> = vec![Vec::new(); 4];
    let mut deleted = Vec::new();
    let mut upserted = Vec::new();
    for k in 0..6i64 {
        let ids: Vec<i64> = (1000 + k * 10..1010 + k * 10).collect();
        work[0].push(vec![s("append"), t.clone(), csv(&format!("a{k}.csv"), &ids, "new")]);
        let gone: Vec<i64> = (0..5).map(|j| k * 45 + j * 7 + 2).collect();
        let list = gone.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        work[1].push(vec![s("delete"), t.clone(), s("--where"), format!("id in ({list})")]);
        deleted.extend(gone);
    }
    for k in 0..3i64 {
        let ids: Vec<i64> = (0..4).map(|j| k * 97 + j * 3 + 1).filter(|i| !deleted.contains(i)).collect();
        work[2].push(vec![s("upsert"), s("--key"), s("id"), t.clone(), csv(&format!("u{k}.csv"), &ids, "up")]);
        upserted.extend(ids);
        work[3].push(vec![s("compact"), t.clone()]);
    }
    let retried: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = work
            .iter()
            .map(|commands| scope.spawn(move || commands.iter().map(|c| floe_until_ok(c)).sum::<usize>()))
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    eprintln!("concurrent floe writers: {} commands, {retried} re-run after a clean failure", work.concat().len());
    // One more merge-on-read delete, so the final snapshot surely has a delete file.
    floe_cmd(&["delete", &t, "--where", "id = 299"]);
    deleted.push(299);

    table.refresh().unwrap();
    let now = table.scan().to_batches().unwrap();
    let (_, got) = floe_rows(&now);
    let mut expected: Vec<Value> = (0..300)
        .filter(|i| !deleted.contains(i))
        .map(|i| {
            let tag = if upserted.contains(&i) { "up" } else { "a" };
            json!([i, format!("{tag}-{i}"), i as f64 * 0.25])
        })
        .chain((1000..1060).map(|i| json!([i, format!("new-{i}"), i as f64 * 0.25])))
        .collect();
    expected.sort_by_key(Value::to_string);
    assert_eq!(multiset(&got), multiset(&expected), "floe: nothing lost, no deleted row back, upserts applied");
    assert!(delete_files(&table) >= 1);

    let mut sp = lock(spark);
    assert_same("Spark after concurrent floe writers", &sp.sql("SELECT * FROM x.f4.t"), &now);
    let listed = sp.sql("SELECT count(*) FROM x.f4.t.delete_files");
    assert_eq!(listed.rows[0][0].as_i64(), Some(delete_files(&table)), "Spark lists floe's delete files");
}
