//! The floe side of the side-by-side benchmark (`bench/run.sh`): one workload step
//! per invocation, result as one JSON object on stdout.
//!
//! The Python driver (`bench/driver.py`) runs this binary for floe and for the
//! physical baseline, and `bench/peers.py` for the other table formats, with the same
//! commands and flags, interleaved, and measures each process's wall time and peak
//! RSS from outside (`wait4`). This binary only does the work and times the part that
//! is the workload (data generation is outside every timed region).
//!
//! ```text
//! peers append  --system S --dir D --n N [--budget-s B]
//!                                                    N single-row appends (fewer if B
//!                                                    seconds run out first); latencies
//!                                                    (`raw-files`: N one-row parquet files)
//! peers setup   --system S --dir D                   create an empty table
//! peers contend --system S --dir D --n N --id K --start-file F
//!                                                    print `ready`, wait for F, N appends
//! peers verify  --system S --dir D --expected N      rows present: lost / duplicated ids
//! peers bulk    --system S --dir D --rows N          one append of N generated rows
//! peers scan    --system S --dir D --mode full|project|filter [--lo A --hi B]
//!                                                    (filter: `lo <= id < hi`, via `Scan::filter`)
//! peers compact --system S --dir D                   compaction (`Table::compact`, defaults)
//! ```
//!
//! Run with no command (as `cargo test` does: this target has `test = true`), it is
//! the harness's smoke test: `bench/driver.py --tiny` with this binary as the floe
//! side, into a temporary directory (docs untouched). It needs the bench venv
//! (`bash bench/run.sh --tiny` makes it, or `FLOE_BENCH_VENV`); without one it says
//! SKIPPED loudly and passes, unless `FLOE_BENCH_REQUIRED=1`. When the Python package's
//! venv (`${FLOE_PY_VENV:-target/py-venv}`, made by `crates/floe-python/setup-venv.sh`)
//! can `import floe`, the smoke run includes `floe-py` with that interpreter; otherwise
//! it says so and runs without it.
//!
//! Systems: `floe` (default options: durable, retrying, advisory commit lock),
//! `floe-noretry` (refresh, then one attempt: `RetryPolicy::none()`), `floe-relaxed`
//! (`Durability::Relaxed`: no fsync), `floe-1t` (scans with one reader thread),
//! `floe-1enc` (bulk: `WriteOptions::encode_threads(1)`, columns encoded on the calling
//! thread only) and `raw`, the physical baseline: for commits the bare
//! create + fsync + link + fsync-dir loop (a ~2 KB payload linked to the next
//! `v<N>.metadata.json`); for data a parquet `ArrowWriter` with floe's writer
//! properties + fsync, read back with a single-threaded `ParquetRecordBatchReader`.
//!
//! Rows are `id` (long), `name` (16 hex digits of splitmix64(id)) and `value`
//! (a double from the same hash), exactly as `bench/peers.py` generates them.
//!
//! Object-store mode (`bench/run.sh --object-store`): `--dir` is a URL (`s3://bucket/…`,
//! credentials and endpoint from `AWS_*`). floe's `append` then also reports the
//! requests it made by kind (`requests`, counted by a wrapper around its store), and
//! `raw` is the server's own commit primitive: one conditional PUT (`If-None-Match: *`)
//! of a ~2 KB `v<N>.metadata.json` per commit, the next number on `AlreadyExists`.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_array::{Array, BooleanArray, Int64Array, RecordBatch};
use arrow_schema::SchemaRef;
use floe::WriteOptions;
use floe::expr::col;
use floe::storage::{Key, ObjectStorage, Storage, StorageOptions, StoreUrl, open_store};
use floe::{CompactOptions, Durability, RetryPolicy, Table, TableOptions};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;
use parquet::file::statistics::Statistics;
use serde_json::{Value, json};

use common::{BoxResult, bench_schema, make_batch, raw_write, raw_writer_properties};

/// Rows per generated batch (bulk), as `bench/peers.py` chunks its table.
const BATCH_ROWS: usize = 128 * 1024;
/// Rows per output batch of floe's scan (its default) and of the raw reader.
const READ_BATCH_ROWS: usize = 8192;
/// Size of the bare loop's "metadata" file.
const RAW_PAYLOAD_BYTES: usize = 2048;
/// The column read by `--mode project`.
const PROJECTED: &str = "value";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    // `cargo test` runs this target (test = true) with no command, or with libtest
    // flags it has no use for: that is the smoke test.
    if args.first().is_none_or(|a| a.starts_with('-')) {
        std::process::exit(smoke());
    }
    match run(&args) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("peers: {e}");
            std::process::exit(2);
        }
    }
}

/// Flags as `--name value` pairs after the command.
struct Args<'a>(&'a [String]);

impl Args<'_> {
    fn get(&self, flag: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == flag)?;
        self.0.get(i + 1).map(String::as_str)
    }

    fn req(&self, flag: &str) -> BoxResult<&str> {
        self.get(flag).ok_or_else(|| format!("missing {flag}").into())
    }

    fn num<T: std::str::FromStr>(&self, flag: &str) -> BoxResult<T>
    where
        T::Err: std::error::Error + 'static,
    {
        Ok(self.req(flag)?.parse::<T>()?)
    }
}

fn run(argv: &[String]) -> BoxResult<Value> {
    let (cmd, rest) = argv.split_first().ok_or("usage: peers <command> --system S --dir D ...")?;
    let args = Args(rest);
    let system = args.req("--system")?;
    let dir = PathBuf::from(args.req("--dir")?);
    match (cmd.as_str(), system) {
        ("setup", "raw") if is_url(&dir) => Ok(json!({})),
        ("setup", "raw") => {
            fs::create_dir_all(dir.join("metadata"))?;
            Ok(json!({}))
        }
        ("setup", _) => {
            Table::create(&dir, bench_schema())?;
            Ok(json!({}))
        }
        ("append", _) => {
            let budget = args.get("--budget-s").map(str::parse::<f64>).transpose()?.filter(|b| *b > 0.0);
            append(system, &dir, args.num("--n")?, budget.map(Duration::from_secs_f64))
        }
        ("contend", _) => {
            contend(system, &dir, args.num("--n")?, args.num("--id")?, Path::new(args.req("--start-file")?))
        }
        ("verify", "raw") if is_url(&dir) => verify_raw_store(&dir, args.num("--expected")?),
        ("verify", "raw") => verify_raw(&dir, args.num("--expected")?),
        ("verify", _) => verify_floe(&dir, args.num("--expected")?),
        ("bulk", _) => bulk(system, &dir, args.num("--rows")?),
        ("scan", _) => {
            let mode = args.req("--mode")?;
            let range = match mode {
                "filter" => Some((args.num::<i64>("--lo")?, args.num::<i64>("--hi")?)),
                _ => None,
            };
            scan(system, &dir, mode, range)
        }
        ("compact", "raw") => compact_raw(&dir),
        ("compact", _) => {
            // Default options: bin-packs the small files into one near the target size.
            let started = Instant::now();
            Table::open(&dir)?.compact(&CompactOptions::default())?;
            Ok(json!({"compact_s": started.elapsed().as_secs_f64()}))
        }
        (other, _) => Err(format!("unknown command {other:?}").into()),
    }
}

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

/// The writer properties of floe's data files, for the raw baseline.
fn raw_props() -> WriterProperties {
    raw_writer_properties(&bench_schema(), &WriteOptions::default())
}

fn arrow_schema() -> SchemaRef {
    Arc::new(bench_schema().to_arrow())
}

fn epoch_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// `VmHWM` (peak resident set so far) of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system, every thread) this process has used so far, from
/// /proc/self/stat (clock ticks of 1/100 s, Linux's USER_HZ): the bulk write reports
/// its CPU time beside its wall time, which a loaded machine stretches.
fn cpu_s() -> f64 {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

// ---------------------------------------------------------------------------------------
// Single-row commits
// ---------------------------------------------------------------------------------------

/// The options of a floe system: `floe-relaxed` does not fsync (like the peers that
/// do not), `floe-noretry` makes one attempt per commit.
fn floe_options(system: &str) -> TableOptions {
    match system {
        "floe-relaxed" => TableOptions::default().durability(Durability::Relaxed),
        "floe-noretry" => TableOptions::default().retry(RetryPolicy::none()),
        _ => TableOptions::default(),
    }
}

/// Makes one single-row commit at a time.
enum Committer {
    Floe { table: Table, arrow: SchemaRef, refresh: bool },
    Raw { dir: PathBuf, next: u64, payload: Vec<u8> },
    RawStore { store: Arc<dyn Storage>, next: u64, payload: Vec<u8> },
}

fn raw_payload() -> Vec<u8> {
    (0..RAW_PAYLOAD_BYTES).map(|i| b'a' + (i % 26) as u8).collect()
}

impl Committer {
    /// A committer for `system` on the existing table (or bare-loop directory) `dir`;
    /// on an object store, floe's requests are counted in `counter`.
    fn open(system: &str, dir: &Path, counter: Option<&Arc<Counting>>) -> BoxResult<Committer> {
        let mut options = floe_options(system);
        if let Some(c) = counter {
            options = options.storage(counted_storage(dir, c)?);
        }
        let (options, refresh) = match system {
            "floe" | "floe-relaxed" => (options, false),
            // No retry and no rebase: read the newest version, then one attempt.
            "floe-noretry" => (options, true),
            "raw" if is_url(dir) => {
                let store = open_store(&StoreUrl::parse(dir)?, &StorageOptions::default())?;
                return Ok(Committer::RawStore { store, next: 1, payload: raw_payload() });
            }
            "raw" => {
                let dir = dir.join("metadata");
                fs::create_dir_all(&dir)?;
                return Ok(Committer::Raw { dir, next: 1, payload: raw_payload() });
            }
            other => return Err(format!("unknown committing system {other:?}").into()),
        };
        let table = Table::open_with(dir, options)?;
        let arrow = Arc::new(table.schema().to_arrow());
        Ok(Committer::Floe { table, arrow, refresh })
    }

    /// Commits row `i`; returns the attempts it took (1 = no race lost).
    fn commit(&mut self, i: i64) -> BoxResult<u32> {
        match self {
            Committer::Floe { table, arrow, refresh } => {
                let batch = make_batch(arrow, i, 1)?;
                if *refresh {
                    table.refresh()?;
                }
                Ok(table.append(&[batch])?.attempts)
            }
            Committer::Raw { dir, next, payload } => {
                let tmp = dir.join(format!(".tmp-{}-{i}", std::process::id()));
                let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
                f.write_all(payload)?;
                f.sync_all()?;
                let mut attempts = 1;
                loop {
                    match fs::hard_link(&tmp, dir.join(format!("v{next}.metadata.json"))) {
                        Ok(()) => break,
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            *next += 1;
                            attempts += 1;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                fs::remove_file(&tmp)?;
                File::open(&*dir)?.sync_all()?;
                *next += 1;
                Ok(attempts)
            }
            Committer::RawStore { store, next, payload } => {
                let mut attempts = 1;
                loop {
                    let key = Key::new(format!("metadata/v{next}.metadata.json"))?;
                    match store.put_new(&key, payload, true) {
                        Ok(()) => break,
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            *next += 1;
                            attempts += 1;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                *next += 1;
                Ok(attempts)
            }
        }
    }
}

/// `n` single-row appends to a new table in `dir`; every latency. With a budget,
/// stops after the append that exhausts it (the driver reports how far it got).
fn append(system: &str, dir: &Path, n: usize, budget: Option<Duration>) -> BoxResult<Value> {
    if system == "raw-files" {
        return Ok(json!({"lat_ns": raw_small_files(dir, n)?}));
    }
    let counter = (is_url(dir) && system != "raw").then(Counting::new);
    if system != "raw" {
        let mut options = floe_options(system);
        if let Some(c) = &counter {
            options = options.storage(counted_storage(dir, c)?);
        }
        Table::create_with(dir, bench_schema(), options)?;
    }
    let mut c = Committer::open(system, dir, counter.as_ref())?;
    if let Some(c) = &counter {
        c.reset();
    }
    let mut lat = Vec::with_capacity(n);
    let cpu_before = cpu_s();
    let started_all = Instant::now();
    for i in 0..n {
        let started = Instant::now();
        c.commit(i as i64)?;
        lat.push(started.elapsed().as_nanos() as u64);
        if let Some(c) = &counter
            && (10..13).contains(&i)
        {
            c.print_trace(&format!("append {i}"), started, Instant::now());
        }
        if budget.is_some_and(|b| started_all.elapsed() > b) {
            break;
        }
    }
    // CPU time of the loop, all threads: the commits' own cost, which a loaded machine
    // (or a slow disk) does not stretch as it stretches their wall time.
    let cpu = cpu_s() - cpu_before;
    match counter {
        Some(c) => Ok(json!({"lat_ns": lat, "cpu_s": cpu, "requests": c.snapshot()})),
        None => Ok(json!({"lat_ns": lat, "cpu_s": cpu})),
    }
}

/// A contention child: open, print `ready`, wait for the start file, commit rows
/// `id*n .. id*n+n` once each (no application retry), report every outcome.
fn contend(system: &str, dir: &Path, n: usize, id: usize, start_file: &Path) -> BoxResult<Value> {
    // On an object store, floe's requests are counted (lost races included).
    let counter = (is_url(dir) && system != "raw").then(Counting::new);
    let mut c = Committer::open(system, dir, counter.as_ref())?;
    if let Some(c) = &counter {
        c.reset();
    }
    {
        let mut out = io::stdout().lock();
        writeln!(out, "ready")?;
        out.flush()?;
    }
    while !start_file.exists() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let start_ns = epoch_ns();
    let (mut lat, mut attempts, mut ok_ids, mut errors) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let first = (id * n) as i64;
    for i in first..first + n as i64 {
        let started = Instant::now();
        match c.commit(i) {
            Ok(a) => {
                lat.push(started.elapsed().as_nanos() as u64);
                attempts.push(a);
                ok_ids.push(i);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let end_ns = epoch_ns();
    let requests = counter.map(|c| c.snapshot()).unwrap_or_default();
    Ok(json!({
        "start_ns": start_ns.to_string(), "end_ns": end_ns.to_string(),
        "lat_ns": lat, "attempts": attempts, "ok_ids": ok_ids, "errors": errors, "requests": requests,
    }))
}

/// Rows of a floe table that should hold ids `0..expected` exactly once each.
fn verify_floe(dir: &Path, expected: usize) -> BoxResult<Value> {
    let table = Table::open(dir)?;
    let mut ids = Vec::new();
    for batch in table.scan().select(["id"]).to_batches()? {
        let col = batch.column(0).as_any().downcast_ref::<Int64Array>().ok_or("id is not Int64")?;
        ids.extend(col.values().iter().copied());
    }
    Ok(count_ids(&ids, expected))
}

/// The bare loop keeps no rows: each successful commit is one `v<N>` file.
fn verify_raw(dir: &Path, expected: usize) -> BoxResult<Value> {
    let versions = fs::read_dir(dir.join("metadata"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('v'))
        .count();
    Ok(json!({"rows": versions, "lost": expected.saturating_sub(versions), "dup": versions.saturating_sub(expected)}))
}

/// The bare loop on an object store: each successful commit is one `v<N>` object.
fn verify_raw_store(dir: &Path, expected: usize) -> BoxResult<Value> {
    let store = open_store(&StoreUrl::parse(dir)?, &StorageOptions::default())?;
    let versions =
        store.list(Some(&Key::new("metadata")?))?.objects.iter().filter(|o| o.key.name().starts_with('v')).count();
    Ok(json!({"rows": versions, "lost": expected.saturating_sub(versions), "dup": versions.saturating_sub(expected)}))
}

fn count_ids(ids: &[i64], expected: usize) -> Value {
    let mut seen = vec![0u32; expected];
    let mut extra = 0usize;
    for &id in ids {
        match usize::try_from(id).ok().and_then(|i| seen.get_mut(i)) {
            Some(c) => *c += 1,
            None => extra += 1,
        }
    }
    let missing: Vec<usize> = seen.iter().enumerate().filter(|(_, c)| **c == 0).map(|(i, _)| i).collect();
    let dup = seen.iter().map(|c| c.saturating_sub(1) as usize).sum::<usize>() + extra;
    json!({"rows": ids.len(), "lost": missing.len(), "dup": dup, "missing_ids": missing})
}

// ---------------------------------------------------------------------------------------
// Bulk write and scans
// ---------------------------------------------------------------------------------------

/// Generates `rows` rows (untimed), then writes them in one append (timed).
fn bulk(system: &str, dir: &Path, rows: usize) -> BoxResult<Value> {
    let started = Instant::now();
    let arrow = arrow_schema();
    let batches = (0..rows)
        .step_by(BATCH_ROWS)
        .map(|s| make_batch(&arrow, s as i64, BATCH_ROWS.min(rows - s)))
        .collect::<Result<Vec<_>, _>>()?;
    let gen_s = started.elapsed().as_secs_f64();
    let hwm_after_gen = peak_rss_kib();
    let cpu_before = cpu_s();
    let started = Instant::now();
    match system {
        "raw" => {
            fs::create_dir_all(dir.join("data"))?;
            raw_write(&dir.join("data").join("data.parquet"), &batches, &raw_props())?;
        }
        "floe" => {
            let table = Table::create(dir, bench_schema())?;
            table.append(&batches)?;
        }
        "floe-1enc" => {
            // The same append with column encoding on the calling thread only (the
            // writer before WriteOptions::encode_threads): the parallel encoder's gain.
            let opts = TableOptions::default().write(WriteOptions::default().encode_threads(1));
            let table = Table::create_with(dir, bench_schema(), opts)?;
            table.append(&batches)?;
        }
        other => return Err(format!("bulk: unknown system {other:?}").into()),
    }
    Ok(json!({
        "gen_s": gen_s, "write_s": started.elapsed().as_secs_f64(), "write_cpu_s": cpu_s() - cpu_before,
        "hwm_after_gen_kib": hwm_after_gen, "hwm_end_kib": peak_rss_kib(),
    }))
}

/// What a scan returns: rows, and a checksum of the ids when they were read.
#[derive(Default)]
struct ScanSum {
    rows: usize,
    id_sum: i64,
}

impl ScanSum {
    fn add(&mut self, batch: &RecordBatch) {
        self.rows += batch.num_rows();
        if let Some(ids) = batch.column_by_name("id").and_then(|c| c.as_any().downcast_ref::<Int64Array>()) {
            self.id_sum = ids.values().iter().fold(self.id_sum, |a, b| a.wrapping_add(*b));
        }
    }
}

/// One scan, timed from opening the table to the last batch in memory.
fn scan(system: &str, dir: &Path, mode: &str, range: Option<(i64, i64)>) -> BoxResult<Value> {
    let started = Instant::now();
    let batches = match system {
        "raw" => raw_scan(dir, mode, range)?,
        "floe" | "floe-1t" => {
            let table = Table::open(dir)?;
            let mut scan = table.scan();
            if system == "floe-1t" {
                scan = scan.threads(1);
            }
            if mode == "project" {
                scan = scan.select([PROJECTED]);
            }
            if let Some((lo, hi)) = range {
                // Pruned by manifest bounds, row-group and page statistics, then filtered exactly.
                scan = scan.filter(col("id").ge(lo).and(col("id").lt(hi)));
            }
            scan.to_batches()?
        }
        other => return Err(format!("scan: unknown system {other:?}").into()),
    };
    let scan_s = started.elapsed().as_secs_f64();
    let mut sum = ScanSum::default();
    batches.iter().for_each(|b| sum.add(b));
    Ok(json!({"scan_s": scan_s, "rows": sum.rows, "id_sum": sum.id_sum, "hwm_end_kib": peak_rss_kib()}))
}

/// Parquet files under `dir/data`, in name order.
fn raw_files(dir: &Path) -> BoxResult<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("data"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// The physical floor of a scan: a single-threaded `ParquetRecordBatchReader` pass
/// over each file. For a filter: row groups whose `id` min/max miss `[lo, hi)` are
/// skipped, and the rest filtered row by row.
fn raw_scan(dir: &Path, mode: &str, range: Option<(i64, i64)>) -> BoxResult<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for path in raw_files(dir)? {
        let mut builder =
            ParquetRecordBatchReaderBuilder::try_new(File::open(&path)?)?.with_batch_size(READ_BATCH_ROWS);
        if mode == "project" {
            let idx = builder.schema().index_of(PROJECTED)?;
            let mask = ProjectionMask::roots(builder.parquet_schema(), [idx]);
            builder = builder.with_projection(mask);
        }
        if let Some((lo, hi)) = range {
            let id_col = builder.schema().index_of("id")?;
            let groups: Vec<usize> = builder
                .metadata()
                .row_groups()
                .iter()
                .enumerate()
                .filter(|(_, rg)| match rg.column(id_col).statistics() {
                    Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                        (Some(min), Some(max)) => *max >= lo && *min < hi,
                        _ => true,
                    },
                    _ => true,
                })
                .map(|(i, _)| i)
                .collect();
            builder = builder.with_row_groups(groups);
        }
        for batch in builder.build()? {
            let batch = batch?;
            match range {
                Some((lo, hi)) => {
                    let ids = batch.column_by_name("id").and_then(|c| c.as_any().downcast_ref::<Int64Array>());
                    let ids = ids.ok_or("id column missing")?;
                    let keep: BooleanArray = ids.values().iter().map(|v| Some(*v >= lo && *v < hi)).collect();
                    let filtered = arrow_select::filter::filter_record_batch(&batch, &keep)?;
                    if filtered.num_rows() > 0 {
                        out.push(filtered);
                    }
                }
                None => out.push(batch),
            }
        }
    }
    Ok(out)
}

/// The many-small-files baseline: `n` one-row parquet files written with
/// `raw_write` (so `raw_scan` reads `n` files), via `append --system raw-files`.
fn raw_small_files(dir: &Path, n: usize) -> BoxResult<Vec<u64>> {
    let arrow = arrow_schema();
    fs::create_dir_all(dir.join("data"))?;
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let batch = make_batch(&arrow, i as i64, 1)?;
        let started = Instant::now();
        raw_write(&dir.join("data").join(format!("{i:08}.parquet")), &[batch], &raw_props())?;
        lat.push(started.elapsed().as_nanos() as u64);
    }
    Ok(lat)
}

/// Compaction of the many-small-files baseline: all rows rewritten into one file.
fn compact_raw(dir: &Path) -> BoxResult<Value> {
    let started = Instant::now();
    let files = raw_files(dir)?;
    let batches = raw_scan(dir, "full", None)?;
    let merged = arrow_select::concat::concat_batches(&arrow_schema(), &batches)?;
    let tmp = dir.join("compacted.parquet.tmp");
    raw_write(&tmp, &[merged], &raw_props())?;
    for f in &files {
        fs::remove_file(f)?;
    }
    fs::rename(&tmp, dir.join("data").join("compacted.parquet"))?;
    File::open(dir.join("data"))?.sync_all()?;
    Ok(json!({"compact_s": started.elapsed().as_secs_f64()}))
}

// ---------------------------------------------------------------------------------------
// Smoke test (`cargo test --bench peers`)
// ---------------------------------------------------------------------------------------

/// Runs the whole harness at tiny sizes against this binary; the process exit code.
fn smoke() -> i32 {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = std::env::var_os("FLOE_BENCH_VENV").map_or_else(|| repo.join("target/bench-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let required = std::env::var("FLOE_BENCH_REQUIRED").is_ok_and(|v| v == "1");
    if !python.exists() {
        eprintln!(
            "\n*** bench smoke test SKIPPED: no bench venv at {} ***\n\
             *** make it with `bash bench/run.sh --tiny` (or set FLOE_BENCH_VENV); \
             FLOE_BENCH_REQUIRED=1 turns this skip into a failure ***\n",
            venv.display()
        );
        return if required { 1 } else { 0 };
    }
    match smoke_run(repo, &python) {
        Ok(()) => {
            println!("bench smoke test: ok");
            0
        }
        Err(e) => {
            eprintln!("bench smoke test FAILED: {e}");
            1
        }
    }
}

/// The interpreter of the Python package's venv if it can `import floe` (the dev-profile
/// build that scripts/test.sh makes before `cargo test`): the smoke run's floe-py.
fn floe_py_python(repo: &Path) -> Option<PathBuf> {
    let venv = std::env::var_os("FLOE_PY_VENV").map_or_else(|| repo.join("target/py-venv"), PathBuf::from);
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import floe"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "bench smoke test: no floe-py ({} cannot import floe; crates/floe-python/setup-venv.sh makes it)",
            python.display()
        );
    }
    ok.then_some(python)
}

fn smoke_run(repo: &Path, python: &Path) -> BoxResult<()> {
    let exe = std::env::current_exe()?;
    let tmp = tempfile::tempdir()?;
    let results = tmp.path().join("results");
    let mut driver = std::process::Command::new(python);
    driver.arg(repo.join("bench/driver.py")).args(["--tiny", "--no-docs", "--quiet"]);
    let floe_py = floe_py_python(repo);
    if let Some(fpy) = &floe_py {
        driver.args(["--systems", "deltalake,lance,pyiceberg,datashard,floe-py", "--floe-py-python"]).arg(fpy);
    }
    let status = driver
        .arg("--floe-bin")
        .arg(&exe)
        .arg("--python")
        .arg(python)
        .arg("--results")
        .arg(&results)
        .arg("--scratch")
        .arg(tmp.path().join("scratch"))
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("bench/driver.py --tiny exited with {status}").into());
    }
    let json =
        fs::read_dir(&results)?.filter_map(|e| e.ok()).find(|e| e.path().extension().is_some_and(|x| x == "json"));
    let doc: Value = serde_json::from_str(&fs::read_to_string(json.ok_or("no results JSON written")?.path())?)?;
    for w in ["latency", "contention", "history", "bulk", "scan", "smallfiles"] {
        if doc["results"].get(w).is_none() {
            return Err(format!("results JSON has no {w:?} section").into());
        }
    }
    // floe and the bare loop went on past the peers' history (the 10,000-append figures
    // of a full run).
    let long = &doc["results"]["history"]["long"]["systems"];
    if ["floe", "raw"].iter().any(|s| long[s]["appends"].as_u64() != doc["results"]["history"]["long"]["n"].as_u64()) {
        return Err(format!("results JSON: the long history run is incomplete: {long}").into());
    }
    if floe_py.is_some() {
        // floe-py ran every workload, and its contended appends all landed.
        let figures = [
            &doc["results"]["latency"]["systems"]["floe-py"]["p50"]["median"],
            &doc["results"]["bulk"]["systems"]["floe-py"]["write_s"]["median"],
            &doc["results"]["scan"]["modes"]["full"]["floe-py"]["scan_s"]["median"],
            &doc["results"]["smallfiles"]["systems"]["floe-py"]["appends"],
        ];
        if figures.iter().any(|v| !v.is_number()) {
            return Err("results JSON lacks floe-py figures".into());
        }
        for (procs, per) in doc["results"]["contention"]["procs"].as_object().ok_or("no contention figures")? {
            let f = &per["floe-py"];
            if f["lost_acked"]["max"].as_f64() != Some(0.0) || f["failures"]["max"].as_f64() != Some(0.0) {
                return Err(format!("floe-py at P = {procs}: failures or lost appends: {f}").into());
            }
        }
        println!("bench smoke test: floe-py included");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Object-store mode
// ---------------------------------------------------------------------------------------

/// `--dir` is a URL (`s3://…`), not a directory.
fn is_url(dir: &Path) -> bool {
    dir.to_str().is_some_and(|s| s.contains("://"))
}

/// floe's store for the table at `dir`, built as `Table::open` would (credentials from
/// the environment), with every request counted by `counter`.
fn counted_storage(dir: &Path, counter: &Arc<Counting>) -> BoxResult<Arc<dyn Storage>> {
    let plain = open_store(&StoreUrl::parse(dir)?, &StorageOptions::default())?;
    let (inner, _) = plain.object_store_path(&Key::new("x")?).ok_or("not an object store")?;
    *counter.inner.lock().map_err(|_| "poisoned")? = Some(inner);
    let root = plain.root_url().to_string();
    // `s3://bucket/prefix/…`: the object names under the bucket start with the prefix.
    let prefix = root.splitn(4, '/').nth(3).unwrap_or("").to_string();
    Ok(Arc::new(ObjectStorage::new(counter.clone(), &root, &prefix)?))
}

/// A traced request: kind, object name, start, end.
type Traced = (String, String, Instant, Instant);

/// An object store that passes every request on and counts it by kind.
#[derive(Debug, Default)]
struct Counting {
    inner: Mutex<Option<Arc<dyn floe::object_store::ObjectStore>>>,
    counts: Mutex<BTreeMap<String, u64>>,
    /// With `FLOE_BENCH_TRACE` set: every request's kind, object, start and end, for
    /// the per-request timeline of an append printed to stderr.
    trace: Option<Mutex<Vec<Traced>>>,
}

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Counting")
    }
}

impl Counting {
    fn new() -> Arc<Counting> {
        let trace = std::env::var_os("FLOE_BENCH_TRACE").map(|_| Mutex::new(Vec::new()));
        Arc::new(Counting { trace, ..Counting::default() })
    }

    fn traced(&self, kind: &str, location: &str, started: Instant) {
        if let Some(t) = &self.trace
            && let Ok(mut t) = t.lock()
        {
            t.push((kind.to_string(), location.to_string(), started, Instant::now()));
        }
    }

    /// Prints the requests made since `since` as a timeline (ms from `since`).
    fn print_trace(&self, label: &str, since: Instant, until: Instant) {
        let Some(t) = &self.trace else { return };
        let Ok(t) = t.lock() else { return };
        eprintln!("{label}: {:.2} ms", (until - since).as_secs_f64() * 1e3);
        for (kind, loc, a, b) in t.iter().filter(|(_, _, a, _)| *a >= since && *a <= until) {
            let name = loc.rsplit('/').next().unwrap_or(loc);
            eprintln!(
                "  {:>7.2} .. {:>7.2} ms  {kind:<13} {name}",
                (*a - since).as_secs_f64() * 1e3,
                (*b - since).as_secs_f64() * 1e3
            );
        }
    }

    fn inner(&self, kind: &str) -> floe::object_store::Result<Arc<dyn floe::object_store::ObjectStore>> {
        if let Ok(mut c) = self.counts.lock() {
            *c.entry(kind.to_string()).or_default() += 1;
        }
        let inner = self.inner.lock().ok().and_then(|g| g.clone());
        inner.ok_or_else(|| floe::object_store::Error::Generic { store: "Counting", source: "no store".into() })
    }

    fn reset(&self) {
        if let Ok(mut c) = self.counts.lock() {
            c.clear();
        }
    }

    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

mod counting {
    use super::Counting;
    use async_trait::async_trait;
    use floe::object_store::path::Path;
    use floe::object_store::{
        GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMode, PutMultipartOptions,
        PutOptions, PutPayload, PutResult, Result,
    };
    use futures::StreamExt;
    use futures::stream::BoxStream;

    #[async_trait]
    impl ObjectStore for Counting {
        async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
            let kind = if matches!(opts.mode, PutMode::Create) { "PUT (create)" } else { "PUT" };
            let started = std::time::Instant::now();
            let r = self.inner(kind)?.put_opts(location, payload, opts).await;
            self.traced(kind, location.as_ref(), started);
            r
        }

        async fn put_multipart_opts(
            &self,
            location: &Path,
            opts: PutMultipartOptions,
        ) -> Result<Box<dyn MultipartUpload>> {
            self.inner("MULTIPART")?.put_multipart_opts(location, opts).await
        }

        async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
            let kind = if options.head { "HEAD" } else { "GET" };
            let started = std::time::Instant::now();
            let r = self.inner(kind)?.get_opts(location, options).await;
            self.traced(kind, location.as_ref(), started);
            r
        }

        fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
            match self.inner("DELETE") {
                Ok(inner) => inner.delete_stream(locations),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        }

        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
            match self.inner("LIST") {
                Ok(inner) => inner.list(prefix),
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
            }
        }

        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
            self.inner("LIST")?.list_with_delimiter(prefix).await
        }

        async fn copy_opts(&self, from: &Path, to: &Path, options: floe::object_store::CopyOptions) -> Result<()> {
            self.inner("COPY")?.copy_opts(from, to, options).await
        }
    }
}
