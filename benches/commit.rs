//! Commit-path benchmarks: every floe figure next to a baseline measured in the same run.
//!
//! ```text
//! cargo bench --bench commit -- [--quick] [--only NAME] [--keep] [--bulk-reps N]
//!     [--history-appends N] [--cleanup-interval K]
//! ```
//!
//! Figures (`NAME` for `--only`):
//!
//! 1. `latency`: single-row durable appends in one process, p50/p90/p99, against the
//!    bare commit loop done by hand with std (write a ~2 KB temp file, fsync, hard-link
//!    it to the next `v<N>` name, fsync the directory).
//! 2. `relaxed`: the same with `Durability::Relaxed`, against the bare loop without fsyncs.
//! 3. `concurrent`: P processes × 25 single-row durable appends released at a barrier
//!    (a start file the children poll for): commits/s, failures, lost/duplicated rows
//!    (verified by a scan) and latency percentiles, against P processes running the
//!    bare loop (probing `v<N+1>` on `EEXIST`). At 8 processes floe also runs without
//!    its advisory commit lock, as a diagnostic.
//! 4. `history`: many single-row durable appends; p50 of the first 20 against the last
//!    20, the bare loop interleaved as a drift control; metadata bytes on disk, and
//!    their growth per commit over the second half (`--history-appends N`, default
//!    2,000; `--cleanup-interval 0` turns commit-time cleanup off for a before/after).
//! 5. `bulk`: one large append of (id long, 16-char string, double) against a raw
//!    parquet `ArrowWriter` write with the same settings + fsync; then full scans
//!    against a raw single-threaded `ParquetRecordBatchReader` pass.
//!
//! Everything runs in fresh directories under `target/bench-commit/` (removed at the
//! end unless `--keep`); floe and baseline runs are interleaved so drift hits both.
//! Children of figure 3 are this binary re-executed with `--child floe|floe-nolock|raw ...`.
//! The summary is printed as markdown and written to `target/bench-summary.md`.

mod common;

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::SchemaRef;
use floe::WriteOptions;
use floe::{Durability, Table, TableOptions};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::properties::WriterProperties;

use common::{BoxResult, bench_schema, make_batch, raw_write, raw_writer_properties};

const FIGURES: [&str; 5] = ["latency", "relaxed", "concurrent", "history", "bulk"];
/// Size of the hand-rolled baseline's metadata file.
const RAW_PAYLOAD_BYTES: usize = 2048;
/// Rows per generated batch in the bulk figure.
const BULK_BATCH_ROWS: usize = 128 * 1024;
/// Rows per output batch of floe's scan (its default) and of the raw reader.
const READ_BATCH_ROWS: usize = 8192;

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child_main(&ChildArgs::parse(&args[1..])?);
    }
    let cfg = Config::parse(&args)?;
    let scratch = Scratch::new(cfg.keep)?;
    let mut report = Report::new(cfg.quick, machine_description(&scratch.root));
    println!("{}", report.header);
    for name in FIGURES.iter().filter(|n| cfg.only.as_deref().is_none_or(|o| o == **n)) {
        println!("\n== {name} ==");
        match *name {
            "latency" => single_writer(&scratch, &mut report, Durability::Durable)?,
            "relaxed" => single_writer(&scratch, &mut report, Durability::Relaxed)?,
            "concurrent" => concurrent(&cfg, &scratch, &mut report)?,
            "history" => history(&cfg, &scratch, &mut report)?,
            _ => bulk(&cfg, &scratch, &mut report)?,
        }
    }
    report.header.push_str(&format!("\n- load average at the end: {}", load_average()));
    let summary = report.markdown();
    println!("\n{summary}");
    let out = target_dir().join("bench-summary.md");
    fs::write(&out, &summary)?;
    println!("(written to {})", out.display());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Arguments, scratch directories, machine
// ---------------------------------------------------------------------------------------

struct Config {
    quick: bool,
    /// Repetitions of the bulk figure (default 3).
    bulk_reps: usize,
    only: Option<String>,
    keep: bool,
    /// Appends in the history figure (default 2,000; quick 300).
    history_appends: Option<usize>,
    /// `floe.commit.cleanup-interval` of the history table (default: the table's default).
    cleanup_interval: Option<u32>,
}

impl Config {
    fn parse(args: &[String]) -> BoxResult<Config> {
        let mut cfg = Config {
            quick: false,
            bulk_reps: 3,
            only: None,
            keep: false,
            history_appends: None,
            cleanup_interval: None,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--quick" => cfg.quick = true,
                "--keep" => cfg.keep = true,
                "--bulk-reps" => {
                    cfg.bulk_reps = it.next().ok_or("--bulk-reps needs a number")?.parse::<usize>()?.max(1)
                }
                "--only" => {
                    let name = it.next().ok_or("--only needs a figure name")?;
                    if !FIGURES.contains(&name.as_str()) {
                        return Err(format!("unknown figure {name:?}; one of {FIGURES:?}").into());
                    }
                    cfg.only = Some(name.clone());
                }
                "--history-appends" => {
                    cfg.history_appends =
                        Some(it.next().ok_or("--history-appends needs a number")?.parse::<usize>()?.max(40))
                }
                "--cleanup-interval" => {
                    cfg.cleanup_interval = Some(it.next().ok_or("--cleanup-interval needs a number")?.parse::<u32>()?)
                }
                // `cargo bench` passes `--bench` to harness-less benches.
                "--bench" => {}
                other => return Err(format!("unknown argument {other:?}").into()),
            }
        }
        Ok(cfg)
    }
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target")
}

/// Fresh directories under `target/bench-commit/run-<pid>/`, removed on drop.
struct Scratch {
    root: PathBuf,
    keep: bool,
    counter: std::cell::Cell<usize>,
}

impl Scratch {
    fn new(keep: bool) -> io::Result<Scratch> {
        let root = target_dir().join("bench-commit").join(format!("run-{}", std::process::id()));
        fs::create_dir_all(&root)?;
        Ok(Scratch { root, keep, counter: std::cell::Cell::new(0) })
    }

    /// A new, empty directory named after `what`.
    fn fresh(&self, what: &str) -> io::Result<PathBuf> {
        let k = self.counter.get();
        self.counter.set(k + 1);
        let dir = self.root.join(format!("{what}-{k}"));
        fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    fn discard(&self, dir: &Path) {
        if !self.keep {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.discard(&self.root.clone());
    }
}

fn machine_description(dir: &Path) -> String {
    let first_line = |path: &str, key: &str| -> String {
        let text = fs::read_to_string(path).unwrap_or_default();
        let line = text.lines().find(|l| l.starts_with(key)).unwrap_or("?");
        line.split_once(':').map_or(line, |(_, v)| v).trim().to_string()
    };
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let df = Command::new("df").arg("-T").arg(dir).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let fs_line = df.ok().and_then(|s| s.lines().nth(1).map(str::to_string)).unwrap_or_default();
    let cols: Vec<&str> = fs_line.split_whitespace().collect();
    let fs_desc = match cols.as_slice() {
        [dev, ty, .., mount] => format!("{ty}{} ({dev} mounted on {mount}; `df -T`)", ext4_journal(ty, dev)),
        _ => "unknown".into(),
    };
    format!(
        "- machine: {nproc} CPUs ({}), {} RAM, Linux {}\n- filesystem of the scratch dirs ({}): {fs_desc}\n\
         - load average at the start: {}",
        first_line("/proc/cpuinfo", "model name"),
        first_line("/proc/meminfo", "MemTotal"),
        kernel.trim(),
        dir.display(),
        load_average(),
    )
}

/// ", no journal" for an ext4 file system without one (fsync costs differ a lot).
fn ext4_journal(fs_type: &str, device: &str) -> &'static str {
    let name = Path::new(device).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let task = fs::read_to_string(format!("/sys/fs/ext4/{name}/journal_task")).unwrap_or_default();
    if fs_type == "ext4" && task.trim() == "<none>" { " without a journal" } else { "" }
}

/// The commit measured: `git` HEAD, and whether src/ had uncommitted changes.
fn code_version() -> String {
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match git(&["status", "--porcelain", "--", "src", "Cargo.toml"]) {
        Some(s) if !s.is_empty() => format!("{head} + uncommitted changes in src/"),
        _ => head,
    }
}

/// `/proc/loadavg`'s 1/5/15-minute figures: other work on the machine skews timings.
fn load_average() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------------------
// Statistics and the report
// ---------------------------------------------------------------------------------------

/// Nearest-rank percentile (`p` in 0..=1).
fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut v = samples.to_vec();
    v.sort();
    let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 0.5)
}

fn fmt_ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn fmt_s(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

fn ratio(floe: f64, base: f64) -> f64 {
    if base > 0.0 { floe / base } else { f64::NAN }
}

/// A ratio as printed (two decimals), so a verdict never contradicts the number shown.
fn printed(r: f64) -> f64 {
    (r * 100.0).round() / 100.0
}

/// A target and whether it was met.
struct Target {
    text: String,
    met: bool,
}

fn target(text: impl Into<String>, met: bool) -> Option<Target> {
    Some(Target { text: text.into(), met })
}

struct Row {
    figure: &'static str,
    metric: String,
    floe: String,
    baseline: String,
    ratio: String,
    target: Option<Target>,
}

struct Report {
    header: String,
    rows: Vec<Row>,
}

impl Report {
    fn new(quick: bool, machine: String) -> Report {
        let mode = if quick { "quick (`--quick`)" } else { "full" };
        Report { header: format!("{machine}\n- code: {}\n- mode: {mode}", code_version()), rows: Vec::new() }
    }

    fn add(&mut self, row: Row) {
        let verdict = row.target.as_ref().map_or(String::new(), |t| format!("  [{}: {}]", t.text, pass(t)));
        println!(
            "{:<10} {:<44} floe {:>14}  baseline {:>14}  ratio {:>7}{verdict}",
            row.figure, row.metric, row.floe, row.baseline, row.ratio
        );
        self.rows.push(row);
    }

    /// A latency row: floe against baseline, ratio floe/baseline.
    fn latency(&mut self, figure: &'static str, metric: &str, floe: Duration, base: Duration, t: Option<Target>) {
        self.add(Row {
            figure,
            metric: metric.into(),
            floe: fmt_ms(floe),
            baseline: fmt_ms(base),
            ratio: format!("{:.2}×", ratio(floe.as_secs_f64(), base.as_secs_f64())),
            target: t,
        });
    }

    /// A row of plain values (no ratio).
    fn values(&mut self, figure: &'static str, metric: &str, floe: String, base: String, t: Option<Target>) {
        self.add(Row { figure, metric: metric.into(), floe, baseline: base, ratio: "–".into(), target: t });
    }

    fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}\n", self.header);
        let _ = writeln!(s, "| figure | metric | floe | baseline | floe / baseline | target | |");
        let _ = writeln!(s, "|---|---|---:|---:|---:|---|---|");
        for r in &self.rows {
            let (t, v) = r.target.as_ref().map_or(("–".to_string(), ""), |t| (t.text.clone(), pass(t)));
            let _ =
                writeln!(s, "| {} | {} | {} | {} | {} | {t} | {v} |", r.figure, r.metric, r.floe, r.baseline, r.ratio);
        }
        s
    }
}

fn pass(t: &Target) -> &'static str {
    if t.met { "PASS" } else { "MISS" }
}

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

fn make_batches(arrow: &SchemaRef, rows: usize) -> Vec<RecordBatch> {
    (0..rows)
        .step_by(BULK_BATCH_ROWS)
        .map(|start| {
            make_batch(arrow, start as i64, BULK_BATCH_ROWS.min(rows - start)).expect("columns match the schema")
        })
        .collect()
}

fn row_count(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn table_options(durability: Durability) -> TableOptions {
    TableOptions::default().durability(durability)
}

fn dir_bytes(dir: &Path) -> io::Result<(u64, usize)> {
    let mut total = (0, 0);
    for entry in fs::read_dir(dir)? {
        // Commit-time cleanup may delete a file between the listing and the stat.
        let meta = match entry.and_then(|e| e.metadata()) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if meta.is_file() {
            total = (total.0 + meta.len(), total.1 + 1);
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// Committers: floe and the hand-rolled baseline behind one interface
// ---------------------------------------------------------------------------------------

/// One timed commit.
struct Commit {
    latency: Duration,
    /// Version-file creation attempts (1 = no race lost).
    attempts: u32,
}

/// Something that makes one single-row commit at a time.
trait Committer {
    /// Commits the row (or version) numbered `i`.
    fn commit(&mut self, i: i64) -> Result<Commit, String>;
}

struct FloeCommitter {
    table: Table,
    arrow: SchemaRef,
}

impl FloeCommitter {
    fn create(dir: &Path, durability: Durability) -> BoxResult<FloeCommitter> {
        let table = Table::create_with(dir, bench_schema(), table_options(durability))?;
        Ok(FloeCommitter::from_table(table))
    }

    fn open(dir: &Path, options: TableOptions) -> BoxResult<FloeCommitter> {
        Ok(FloeCommitter::from_table(Table::open_with(dir, options)?))
    }

    fn from_table(table: Table) -> FloeCommitter {
        let arrow = Arc::new(table.schema().to_arrow());
        FloeCommitter { table, arrow }
    }
}

impl Committer for FloeCommitter {
    fn commit(&mut self, i: i64) -> Result<Commit, String> {
        let batch = make_batch(&self.arrow, i, 1).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let report = self.table.append(&[batch]).map_err(|e| e.to_string())?;
        Ok(Commit { latency: started.elapsed(), attempts: report.attempts })
    }
}

/// The bare commit protocol with std only: temp file (+ fsync), `link(2)` to the next
/// free `v<N>.metadata.json` (probing forward on `EEXIST`), unlink the temp file
/// (+ fsync of the directory).
struct RawCommitter {
    dir: PathBuf,
    next: u64,
    durable: bool,
    payload: Vec<u8>,
}

impl RawCommitter {
    fn new(dir: &Path, durability: Durability) -> io::Result<RawCommitter> {
        let dir = dir.join("metadata");
        fs::create_dir_all(&dir)?;
        let payload = (0..RAW_PAYLOAD_BYTES).map(|i| b'a' + (i % 26) as u8).collect();
        Ok(RawCommitter { dir, next: 1, durable: durability == Durability::Durable, payload })
    }

    fn commit_io(&mut self, i: i64) -> io::Result<u32> {
        let tmp = self.dir.join(format!(".tmp-{}-{i}", std::process::id()));
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&self.payload)?;
        if self.durable {
            f.sync_all()?;
        }
        let mut attempts = 1;
        loop {
            match fs::hard_link(&tmp, self.dir.join(format!("v{}.metadata.json", self.next))) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    self.next += 1;
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
        fs::remove_file(&tmp)?;
        if self.durable {
            File::open(&self.dir)?.sync_all()?;
        }
        self.next += 1;
        Ok(attempts)
    }
}

impl Committer for RawCommitter {
    fn commit(&mut self, i: i64) -> Result<Commit, String> {
        let started = Instant::now();
        let attempts = self.commit_io(i).map_err(|e| e.to_string())?;
        Ok(Commit { latency: started.elapsed(), attempts })
    }
}

/// `n` commits on each committer, alternating which goes first, so drift hits both.
fn interleaved(a: &mut dyn Committer, b: &mut dyn Committer, n: usize) -> BoxResult<(Vec<Duration>, Vec<Duration>)> {
    let (mut la, mut lb) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        let id = i as i64;
        if i % 2 == 0 {
            la.push(a.commit(id)?.latency);
            lb.push(b.commit(id)?.latency);
        } else {
            lb.push(b.commit(id)?.latency);
            la.push(a.commit(id)?.latency);
        }
    }
    Ok((la, lb))
}

// ---------------------------------------------------------------------------------------
// Figures 1 and 2: single-writer latency
// ---------------------------------------------------------------------------------------

fn single_writer(scratch: &Scratch, report: &mut Report, durability: Durability) -> BoxResult<()> {
    const N: usize = 200;
    let (figure, target_ms) = match durability {
        Durability::Durable => ("1 durable", 3.0),
        Durability::Relaxed => ("2 relaxed", 0.5),
    };
    let (floe_dir, raw_dir) = (scratch.fresh("single-floe")?, scratch.fresh("single-raw")?);
    let mut floe = FloeCommitter::create(&floe_dir, durability)?;
    let mut raw = RawCommitter::new(&raw_dir, durability)?;
    let (lf, lr) = interleaved(&mut floe, &mut raw, N)?;
    let p50 = median(&lf);
    let t = target(format!("p50 ≤ {target_ms} ms"), p50.as_secs_f64() * 1e3 <= target_ms);
    report.latency(figure, &format!("append p50 ({N} single-row)"), p50, median(&lr), t);
    report.latency(figure, "append p90", percentile(&lf, 0.9), percentile(&lr, 0.9), None);
    report.latency(figure, "append p99", percentile(&lf, 0.99), percentile(&lr, 0.99), None);
    let stats = floe.table.commit_stats();
    let detail = format!("{} commit() p50 / {} lost races", fmt_ms(stats.latency_p50), stats.conflicts);
    report.values(figure, "of which commit() (CommitStats)", detail, "–".into(), None);
    scratch.discard(&floe_dir);
    scratch.discard(&raw_dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Figure 3: many processes
// ---------------------------------------------------------------------------------------

/// What a figure-3 child runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// floe with default options (advisory commit lock on).
    Floe,
    /// floe without the advisory commit lock: a diagnostic, not a target.
    FloeNoLock,
    /// The hand-rolled bare loop (the baseline).
    Raw,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Floe, Kind::FloeNoLock, Kind::Raw];

    fn name(self) -> &'static str {
        match self {
            Kind::Floe => "floe",
            Kind::FloeNoLock => "floe-nolock",
            Kind::Raw => "raw",
        }
    }

    /// A committer on the existing table (or bare-loop directory) `dir`.
    fn committer(self, dir: &Path) -> BoxResult<Box<dyn Committer>> {
        let mut options = table_options(Durability::Durable);
        options.advisory_lock = self == Kind::Floe;
        Ok(match self {
            Kind::Floe | Kind::FloeNoLock => Box::new(FloeCommitter::open(dir, options)?),
            Kind::Raw => Box::new(RawCommitter::new(dir, Durability::Durable)?),
        })
    }
}

struct ChildArgs {
    kind: Kind,
    table: PathBuf,
    n: usize,
    id: usize,
    start_file: PathBuf,
}

impl ChildArgs {
    fn parse(args: &[String]) -> BoxResult<ChildArgs> {
        let name = args.first().map_or("", String::as_str);
        let kind = Kind::ALL.into_iter().find(|k| k.name() == name).ok_or(format!("unknown child kind {name:?}"))?;
        let value = |flag: &str| -> BoxResult<&String> {
            let i = args.iter().position(|a| a == flag).ok_or(format!("child needs {flag}"))?;
            Ok(args.get(i + 1).ok_or(format!("{flag} needs a value"))?)
        };
        Ok(ChildArgs {
            kind,
            table: value("--table")?.into(),
            n: value("--n")?.parse()?,
            id: value("--id")?.parse()?,
            start_file: value("--start-file")?.into(),
        })
    }

    fn command(&self) -> io::Result<Command> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.args(["--child", self.kind.name(), "--n", &self.n.to_string(), "--id", &self.id.to_string()]);
        cmd.arg("--table").arg(&self.table).arg("--start-file").arg(&self.start_file);
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        Ok(cmd)
    }
}

fn epoch_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// A child: open, say `ready`, wait for the start file, commit `n` rows, then report
/// `ok <latency ns> <attempts>` / `err <message>` lines and `end <epoch ns>`.
fn child_main(args: &ChildArgs) -> BoxResult<()> {
    let mut committer = args.kind.committer(&args.table)?;
    let mut out = io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    while !args.start_file.exists() {
        std::thread::sleep(Duration::from_micros(200));
    }
    let first = (args.id * args.n) as i64;
    let results: Vec<_> = (first..first + args.n as i64).map(|i| committer.commit(i)).collect();
    let end = epoch_nanos();
    for r in results {
        match r {
            Ok(c) => writeln!(out, "ok {} {}", c.latency.as_nanos(), c.attempts)?,
            Err(e) => writeln!(out, "err {}", e.replace('\n', " "))?,
        }
    }
    writeln!(out, "end {end}")?;
    Ok(())
}

#[derive(Default)]
struct SwarmResult {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    lost_races: u64,
    wall: Duration,
}

impl SwarmResult {
    fn commits_per_s(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    fn absorb(&mut self, line: &str) -> BoxResult<Option<u128>> {
        let mut parts = line.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("ok"), Some(ns), Some(attempts)) => {
                self.latencies.push(Duration::from_nanos(ns.parse()?));
                self.lost_races += attempts.parse::<u64>()? - 1;
            }
            (Some("err"), msg, rest) => {
                self.failures.push([msg.unwrap_or(""), rest.unwrap_or("")].join(" "));
            }
            (Some("end"), Some(ns), None) => return Ok(Some(ns.parse()?)),
            _ => return Err(format!("unexpected child output {line:?}").into()),
        }
        Ok(None)
    }
}

/// Runs `procs` children of `kind` on a fresh table and collects their reports.
fn swarm(kind: Kind, dir: &Path, procs: usize, n: usize) -> BoxResult<SwarmResult> {
    let start_file = dir.join("start");
    let mut children: Vec<(Child, BufReader<std::process::ChildStdout>)> = Vec::new();
    for id in 0..procs {
        let args = ChildArgs { kind, table: dir.to_path_buf(), n, id, start_file: start_file.clone() };
        let mut child = args.command()?.spawn()?;
        let stdout = child.stdout.take().ok_or("child without stdout")?;
        children.push((child, BufReader::new(stdout)));
    }
    for (_, out) in &mut children {
        let mut line = String::new();
        out.read_line(&mut line)?;
        if line.trim() != "ready" {
            return Err(format!("child did not get ready: {line:?}").into());
        }
    }
    let started = epoch_nanos();
    File::create(&start_file)?;
    let mut result = SwarmResult::default();
    let mut last_end = started;
    for (mut child, out) in children {
        for line in out.lines() {
            if let Some(end) = result.absorb(&line?)? {
                last_end = last_end.max(end);
            }
        }
        let status = child.wait()?;
        if !status.success() {
            result.failures.push(format!("child exited with {status}"));
        }
    }
    result.wall = Duration::from_nanos((last_end - started) as u64);
    Ok(result)
}

/// (lost, duplicated) rows of a floe table that should hold ids `0..expected`.
fn verify_floe(dir: &Path, expected: usize) -> BoxResult<(usize, usize)> {
    let table = Table::open(dir)?;
    let mut seen = vec![0u32; expected];
    let mut extra = 0;
    for batch in table.scan().to_batches()? {
        let ids = batch.column(0).as_any().downcast_ref::<Int64Array>().ok_or("id column is not Int64")?;
        for id in ids.values() {
            match seen.get_mut(*id as usize) {
                Some(c) => *c += 1,
                None => extra += 1,
            }
        }
    }
    let lost = seen.iter().filter(|c| **c == 0).count();
    let dup = seen.iter().map(|c| c.saturating_sub(1) as usize).sum::<usize>() + extra;
    Ok((lost, dup))
}

/// (lost, duplicated) versions of the bare loop: each commit is one `v<N>` file.
fn verify_raw(dir: &Path, expected: usize) -> BoxResult<(usize, usize)> {
    let versions = fs::read_dir(dir.join("metadata"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('v'))
        .count();
    Ok((expected.saturating_sub(versions), versions.saturating_sub(expected)))
}

/// A swarm's reports and what a scan (or listing) found afterwards.
struct SwarmOutcome {
    result: SwarmResult,
    lost: usize,
    dup: usize,
}

fn run_swarm(kind: Kind, scratch: &Scratch, procs: usize, n: usize) -> BoxResult<SwarmOutcome> {
    let dir = scratch.fresh(&format!("swarm-{}-{procs}", kind.name()))?;
    if kind != Kind::Raw {
        Table::create_with(&dir, bench_schema(), table_options(Durability::Durable))?;
    }
    let result = swarm(kind, &dir, procs, n)?;
    let (lost, dup) = match kind {
        Kind::Raw => verify_raw(&dir, procs * n)?,
        _ => verify_floe(&dir, procs * n)?,
    };
    scratch.discard(&dir);
    Ok(SwarmOutcome { result, lost, dup })
}

fn concurrent(cfg: &Config, scratch: &Scratch, report: &mut Report) -> BoxResult<()> {
    const N: usize = 25;
    const GATED: usize = 8;
    let counts: &[usize] = if cfg.quick { &[1, GATED] } else { &[1, 2, 4, GATED] };
    for &procs in counts {
        let floe = run_swarm(Kind::Floe, scratch, procs, N)?;
        let raw = run_swarm(Kind::Raw, scratch, procs, N)?;
        let gated = procs == GATED;
        report_swarm(report, &format!("{procs}×{N}"), &floe, &raw, gated);
        if gated {
            let nolock = run_swarm(Kind::FloeNoLock, scratch, procs, N)?;
            report_swarm(report, &format!("{procs}×{N} without advisory lock (diagnostic)"), &nolock, &raw, false);
        }
    }
    Ok(())
}

fn report_swarm(report: &mut Report, what: &str, floe: &SwarmOutcome, raw: &SwarmOutcome, gated: bool) {
    const FIG: &str = "3 procs";
    let label = |metric: &str| format!("{what}: {metric}");
    let gate = |text: &str, met: bool| if gated { target(text, met) } else { None };
    let (cps, raw_cps) = (floe.result.commits_per_s(), raw.result.commits_per_s());
    report.add(Row {
        figure: FIG,
        metric: label("commits/s"),
        floe: format!("{cps:.0}"),
        baseline: format!("{raw_cps:.0}"),
        ratio: format!("{:.2}×", ratio(cps, raw_cps)),
        target: gate("≥ 200 commits/s", cps >= 200.0),
    });
    let failures = |o: &SwarmOutcome| o.result.failures.len().to_string();
    let t = gate("0 failures", floe.result.failures.is_empty());
    report.values(FIG, &label("failures (any Err)"), failures(floe), failures(raw), t);
    for f in floe.result.failures.iter().take(3) {
        println!("    floe failure: {f}");
    }
    let verified = |o: &SwarmOutcome| format!("{} lost / {} dup", o.lost, o.dup);
    let t = gate("0 lost, 0 dup", floe.lost == 0 && floe.dup == 0);
    report.values(FIG, &label("rows lost / duplicated (scan)"), verified(floe), verified(raw), t);
    let (lf, lr) = (&floe.result.latencies, &raw.result.latencies);
    report.latency(FIG, &label("commit p50"), median(lf), median(lr), None);
    let p99 = percentile(lf, 0.99);
    report.latency(FIG, &label("commit p99"), p99, percentile(lr, 0.99), gate("p99 ≤ 100 ms", p99.as_millis() <= 100));
    let races = |o: &SwarmOutcome| o.result.lost_races.to_string();
    report.values(FIG, &label("lost races (retries)"), races(floe), races(raw), None);
}

// ---------------------------------------------------------------------------------------
// Figure 4: history
// ---------------------------------------------------------------------------------------

fn history(cfg: &Config, scratch: &Scratch, report: &mut Report) -> BoxResult<()> {
    const FIG: &str = "4 history";
    const WINDOW: usize = 20;
    let n = cfg.history_appends.unwrap_or(if cfg.quick { 300 } else { 2000 });
    let (floe_dir, raw_dir) = (scratch.fresh("history-floe")?, scratch.fresh("history-raw")?);
    let mut options = table_options(Durability::Durable);
    if let Some(k) = cfg.cleanup_interval {
        options = options.property("floe.commit.cleanup-interval", k.to_string());
    }
    let table = Table::create_with(&floe_dir, bench_schema(), options)?;
    let mut floe = FloeCommitter::from_table(table);
    let mut raw = RawCommitter::new(&raw_dir, Durability::Durable)?;
    // In two halves, to measure how much metadata/ grows per commit once the history
    // is longer than everything a commit keeps.
    let (mut lf, mut lr) = interleaved(&mut floe, &mut raw, n / 2)?;
    let (mid_bytes, _) = dir_bytes(&floe_dir.join("metadata"))?;
    let (raw_mid, _) = dir_bytes(&raw_dir.join("metadata"))?;
    let (lf2, lr2) = interleaved(&mut floe, &mut raw, n - n / 2)?;
    lf.extend(lf2);
    lr.extend(lr2);
    let (early, late) = (median(&lf[..WINDOW]), median(&lf[n - WINDOW..]));
    let (raw_early, raw_late) = (median(&lr[..WINDOW]), median(&lr[n - WINDOW..]));
    report.latency(FIG, "append p50, appends #1–#20", early, raw_early, None);
    report.latency(FIG, &format!("append p50, appends #{}–#{n}", n - WINDOW + 1), late, raw_late, None);
    let (r, raw_r) =
        (ratio(late.as_secs_f64(), early.as_secs_f64()), ratio(raw_late.as_secs_f64(), raw_early.as_secs_f64()));
    report.add(Row {
        figure: FIG,
        metric: format!("late / early p50 (#{n} vs #10)"),
        floe: format!("{r:.2}×"),
        baseline: format!("{raw_r:.2}×"),
        ratio: "–".into(),
        target: target("≤ 1.3×", printed(r) <= 1.3),
    });
    // The file system's own drift over the run, as seen by the bare loop, taken out.
    let corrected = format!("{:.2}×", r / raw_r);
    report.values(FIG, "late / early, ÷ the baseline's late / early", corrected, "1.00×".into(), None);
    report.latency(FIG, &format!("append p99 over all {n}"), percentile(&lf, 0.99), percentile(&lr, 0.99), None);
    let newest = fs::metadata(floe.table.metadata_path())?.len();
    // Dropping the handle waits for its cleanup pass.
    drop(floe);
    let (bytes, files) = dir_bytes(&floe_dir.join("metadata"))?;
    let (raw_bytes, raw_files) = dir_bytes(&raw_dir.join("metadata"))?;
    let fmt_b = |b: u64, f: usize| format!("{:.2} MiB in {f} files", b as f64 / (1024.0 * 1024.0));
    report.values(FIG, "metadata/ on disk at the end", fmt_b(bytes, files), fmt_b(raw_bytes, raw_files), None);
    let per_commit = |end: u64, mid: u64| format!("{:.0} B", (end as f64 - mid as f64) / (n - n / 2) as f64);
    report.values(
        FIG,
        &format!("metadata/ growth per commit, appends #{}–#{n}", n / 2 + 1),
        per_commit(bytes, mid_bytes),
        per_commit(raw_bytes, raw_mid),
        None,
    );
    report.values(
        FIG,
        "newest metadata JSON",
        format!("{:.1} KiB", newest as f64 / 1024.0),
        format!("{:.1} KiB", RAW_PAYLOAD_BYTES as f64 / 1024.0),
        None,
    );
    scratch.discard(&floe_dir);
    scratch.discard(&raw_dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Figure 5: bulk write and scan
// ---------------------------------------------------------------------------------------

fn raw_read(path: &Path) -> BoxResult<Vec<RecordBatch>> {
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.with_batch_size(READ_BATCH_ROWS).build()?;
    Ok(reader.collect::<Result<Vec<_>, _>>()?)
}

fn timed<T>(f: impl FnOnce() -> BoxResult<T>) -> BoxResult<(Duration, T)> {
    let started = Instant::now();
    let out = f()?;
    Ok((started.elapsed(), out))
}

/// Times of one bulk repetition.
#[derive(Default)]
struct BulkTimes {
    floe_write: Vec<Duration>,
    raw_write: Vec<Duration>,
    floe_scan_1: Vec<Duration>,
    floe_scan_default: Vec<Duration>,
    raw_scan: Vec<Duration>,
}

/// Reads a whole table or file into memory.
type Reader<'a> = Box<dyn Fn() -> BoxResult<Vec<RecordBatch>> + 'a>;

/// One repetition: both writes (order alternating with `rep`), then the three full
/// reads in an order rotated by `rep`, so no reader always goes first.
fn bulk_rep(
    scratch: &Scratch,
    data: &[RecordBatch],
    props: &WriterProperties,
    times: &mut BulkTimes,
    rep: usize,
) -> BoxResult<()> {
    let rows = row_count(data);
    let (floe_dir, raw_dir) = (scratch.fresh("bulk-floe")?, scratch.fresh("bulk-raw")?);
    let raw_path = raw_dir.join("data.parquet");
    let table = Table::create_with(&floe_dir, bench_schema(), table_options(Durability::Durable))?;
    let floe_write = || timed(|| Ok(table.append(data)?)).map(|(d, _)| d);
    let raw_write = || timed(|| raw_write(&raw_path, data, props)).map(|(d, _)| d);
    if rep.is_multiple_of(2) {
        times.floe_write.push(floe_write()?);
        times.raw_write.push(raw_write()?);
    } else {
        times.raw_write.push(raw_write()?);
        times.floe_write.push(floe_write()?);
    }
    let mut reads: Vec<(&mut Vec<Duration>, Reader)> = vec![
        (&mut times.floe_scan_1, Box::new(|| Ok(table.scan().threads(1).to_batches()?))),
        (&mut times.raw_scan, Box::new(|| raw_read(&raw_path))),
        (&mut times.floe_scan_default, Box::new(|| Ok(table.scan().to_batches()?))),
    ];
    reads.rotate_left(rep % 3);
    for (out, read) in reads {
        let (d, batches) = timed(read)?;
        if row_count(&batches) != rows {
            return Err(format!("a full read returned {} rows, expected {rows}", row_count(&batches)).into());
        }
        out.push(d);
    }
    let sizes = (dir_bytes(&floe_dir.join("data"))?.0, fs::metadata(&raw_path)?.len());
    println!("    rep {rep}: data file {} B (floe) vs {} B (raw)", sizes.0, sizes.1);
    scratch.discard(&floe_dir);
    scratch.discard(&raw_dir);
    Ok(())
}

fn bulk(cfg: &Config, scratch: &Scratch, report: &mut Report) -> BoxResult<()> {
    const FIG: &str = "5 bulk";
    let rows = if cfg.quick { 1_000_000 } else { 10_000_000 };
    let schema = bench_schema();
    let data = make_batches(&Arc::new(schema.to_arrow()), rows);
    let props = raw_writer_properties(&schema, &WriteOptions::default());
    let mut times = BulkTimes::default();
    for rep in 0..cfg.bulk_reps {
        bulk_rep(scratch, &data, &props, &mut times, rep)?;
    }
    let label = |what: &str| format!("{what}, {rows} rows (median of {})", cfg.bulk_reps);
    let w = (median(&times.floe_write), median(&times.raw_write));
    let wr = ratio(w.0.as_secs_f64(), w.1.as_secs_f64());
    report.add(Row {
        figure: FIG,
        metric: label("append vs ArrowWriter+fsync"),
        floe: fmt_s(w.0),
        baseline: fmt_s(w.1),
        ratio: format!("{wr:.2}×"),
        target: target("≤ 1.1×", printed(wr) <= 1.1),
    });
    let raw_scan = median(&times.raw_scan);
    for (what, samples) in [("scan threads(1)", &times.floe_scan_1), ("scan default threads", &times.floe_scan_default)]
    {
        let d = median(samples);
        let r = ratio(d.as_secs_f64(), raw_scan.as_secs_f64());
        report.add(Row {
            figure: FIG,
            metric: label(&format!("{what} vs raw reader")),
            floe: fmt_s(d),
            baseline: fmt_s(raw_scan),
            ratio: format!("{r:.2}×"),
            target: target("no slower (≤ 1.00×)", printed(r) <= 1.0),
        });
    }
    Ok(())
}
