//! Maintenance benchmarks: each figure next to a baseline measured in the same run.
//!
//! ```text
//! cargo bench --bench maintenance -- [--only NAME] [--appends N] [--orphans N] [--keep]
//! ```
//!
//! Figures (`NAME` for `--only`):
//!
//! 1. `compact`: N single-row appends (default 1,000; relaxed durability to spare the
//!    shared machine, which does not change what a scan reads), then `compact`: full
//!    scan time (median of 7) before vs after, and the files scanned.
//! 2. `expire`: N single-row appends on a table that keeps every snapshot
//!    (`floe.commit.retain-snapshots=0`, Iceberg's default behaviour), then
//!    `expire_snapshots(retain_last = 1)`: metadata bytes (the current metadata file
//!    and the whole `metadata/` directory) and durable single-row commit latency
//!    (p50/p99 of 100) before vs after; the default-policy table (trimmed to 100
//!    snapshots by commits) for reference.
//! 3. `merge`: durable single-row appends across commit-time manifest merges
//!    (`commit.manifest.min-count-to-merge` = 100): p50/p99/max and the merging
//!    commits' latency, against the same appends with merging disabled (the two tables'
//!    appends alternate).
//! 4. `orphans`: `remove_orphans` over a table with N stray files (default 100,000):
//!    the dry run (walk + classify) against a bare recursive walk of the same tree
//!    (`read_dir` + `symlink_metadata`), and the real run against deleting the same
//!    number of files with a bare `remove_file` loop.
//!
//! Everything runs under `target/bench-maintenance/` (removed unless `--keep`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use floe::spec::{PrimitiveType, Schema};
use floe::{CompactOptions, Durability, ExpireOptions, OrphanOptions, Table, TableOptions};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

const FIGURES: [&str; 4] = ["compact", "expire", "merge", "orphans"];

struct Config {
    only: Option<String>,
    appends: usize,
    orphans: usize,
    keep: bool,
}

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = Config { only: None, appends: 1000, orphans: 100_000, keep: false };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--only" => cfg.only = it.next().cloned(),
            "--appends" => cfg.appends = it.next().and_then(|v| v.parse().ok()).unwrap_or(cfg.appends),
            "--orphans" => cfg.orphans = it.next().and_then(|v| v.parse().ok()).unwrap_or(cfg.orphans),
            "--keep" => cfg.keep = true,
            // cargo bench passes --bench.
            _ => {}
        }
    }
    if let Some(o) = &cfg.only
        && !FIGURES.contains(&o.as_str())
    {
        return Err(format!("unknown figure {o}; one of {FIGURES:?}").into());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-maintenance");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let mut out = String::from("| figure | floe | baseline | ratio |\n|---|---|---|---|\n");
    let run = |name: &str| cfg.only.as_deref().is_none_or(|o| o == name);
    if run("compact") {
        compact(&cfg, &root, &mut out)?;
    }
    if run("expire") {
        expire(&cfg, &root, &mut out)?;
    }
    if run("merge") {
        merge(&root, &mut out)?;
    }
    if run("orphans") {
        orphans(&cfg, &root, &mut out)?;
    }
    println!("\n{out}");
    if !cfg.keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    Ok(())
}

fn schema() -> Schema {
    Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("value", PrimitiveType::Double)
        .build()
        .expect("schema")
}

fn batch(id: i64) -> RecordBatch {
    let s = Arc::new(schema().to_arrow());
    RecordBatch::try_new(
        s,
        vec![
            Arc::new(Int64Array::from(vec![id])),
            Arc::new(StringArray::from(vec![format!("row-{id:012}")])),
            Arc::new(Float64Array::from(vec![id as f64 * 0.5])),
        ],
    )
    .expect("batch")
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut v = samples.to_vec();
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if let Ok(m) = e.metadata() {
                total += if m.is_dir() { dir_bytes(&e.path()) } else { m.len() };
            }
        }
    }
    total
}

fn row(out: &mut String, figure: &str, floe: String, base: String, ratio: f64) {
    let line = format!("| {figure} | {floe} | {base} | {ratio:.2}x |\n");
    print!("{line}");
    out.push_str(&line);
}

fn appends(table: &Table, n: usize, start: i64) -> BoxResult<Vec<Duration>> {
    let mut lat = Vec::with_capacity(n);
    for i in 0..n {
        let t = Instant::now();
        table.append(&[batch(start + i as i64)])?;
        lat.push(t.elapsed());
    }
    Ok(lat)
}

fn scan_time(table: &Table, reps: usize) -> BoxResult<(Duration, usize)> {
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..reps {
        let fresh = Table::open(table.path())?;
        let t = Instant::now();
        rows = fresh.scan().to_batches()?.iter().map(RecordBatch::num_rows).sum();
        times.push(t.elapsed());
    }
    Ok((percentile(&times, 0.5), rows))
}

fn compact(cfg: &Config, root: &Path, out: &mut String) -> BoxResult<()> {
    let opts = TableOptions::default().durability(Durability::Relaxed);
    let table = Table::create_with(root.join("compact"), schema(), opts)?;
    appends(&table, cfg.appends, 0)?;
    let files_before = table.scan().plan()?.files.len();
    let (before, rows_before) = scan_time(&table, 7)?;
    let report = table.compact(&CompactOptions::default())?;
    println!("{report}");
    let files_after = table.scan().plan()?.files.len();
    let (after, rows_after) = scan_time(&table, 7)?;
    assert_eq!(rows_before, rows_after);
    row(
        out,
        &format!(
            "full scan of {} rows after compact ({files_before} -> {files_after} files; compaction took {:.2} s)",
            rows_after,
            report.elapsed.as_secs_f64()
        ),
        ms(after),
        format!("{} before", ms(before)),
        before.as_secs_f64() / after.as_secs_f64().max(1e-9),
    );
    Ok(())
}

fn expire(cfg: &Config, root: &Path, out: &mut String) -> BoxResult<()> {
    let relaxed = TableOptions::default().durability(Durability::Relaxed);
    let path = root.join("expire");
    let table = Table::create_with(&path, schema(), relaxed.clone().property("floe.commit.retain-snapshots", "0"))?;
    appends(&table, cfg.appends, 0)?;
    let durable = Table::open(&path)?;
    let lat_before = appends(&durable, 100, 1_000_000)?;
    let md_before = std::fs::metadata(durable.metadata_path())?.len();
    let dir_before = dir_bytes(&path.join("metadata"));
    let report = durable.expire_snapshots(
        &ExpireOptions::default()
            .before(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
            .retain_last(1),
    )?;
    println!("{report}");
    let md_after = std::fs::metadata(durable.metadata_path())?.len();
    let dir_after = dir_bytes(&path.join("metadata"));
    let lat_after = appends(&durable, 100, 2_000_000)?;
    // The metadata log still holds the 100 big pre-expiry metadata files until 100
    // more commits push them out (delete-after-commit then removes them).
    let dir_turned = dir_bytes(&path.join("metadata"));
    row(
        out,
        &format!("current metadata file after expiry ({} snapshots expired)", report.snapshots_expired),
        format!("{md_after} B"),
        format!("{md_before} B before"),
        md_before as f64 / md_after.max(1) as f64,
    );
    row(
        out,
        &format!("metadata/ directory right after expiry ({} files deleted)", report.deleted_paths.len()),
        format!("{dir_after} B"),
        format!("{dir_before} B before"),
        dir_before as f64 / dir_after.max(1) as f64,
    );
    row(
        out,
        "metadata/ directory after expiry + 100 commits (metadata log turned over)",
        format!("{dir_turned} B"),
        format!("{dir_before} B before"),
        dir_before as f64 / dir_turned.max(1) as f64,
    );
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (b, a) = (percentile(&lat_before, p), percentile(&lat_after, p));
        row(
            out,
            &format!("durable 1-row commit {name} after expiry"),
            ms(a),
            format!("{} before", ms(b)),
            b.as_secs_f64() / a.as_secs_f64().max(1e-9),
        );
    }
    // The default policy for reference: commits trim to 100 snapshots themselves.
    let dpath = root.join("expire-default");
    let dtable = Table::create_with(&dpath, schema(), relaxed)?;
    appends(&dtable, cfg.appends, 0)?;
    let dmd = std::fs::metadata(dtable.metadata_path())?.len();
    row(
        out,
        "current metadata file, default policy (100 snapshots), no expiry run",
        format!("{dmd} B"),
        format!("{md_before} B keep-all"),
        md_before as f64 / dmd.max(1) as f64,
    );
    Ok(())
}

fn merge(root: &Path, out: &mut String) -> BoxResult<()> {
    const N: usize = 400;
    // The two tables' appends alternate, so the machine's drift over the run lands on
    // both alike (run one after the other, their ratio measured the drift).
    let configs = [("merge on", "true"), ("merge off", "false")];
    let mut tables = Vec::new();
    for (_, enabled) in configs {
        let path = root.join(format!("merge-{enabled}"));
        let opts = TableOptions::default().property("commit.manifest-merge.enabled", enabled);
        tables.push(Table::create_with(&path, schema(), opts)?);
    }
    // Per table: every append's latency, the merging appends' latencies, manifests now.
    let mut results: Vec<(Vec<Duration>, Vec<Duration>, usize)> =
        tables.iter().map(|_| (Vec::with_capacity(N), Vec::new(), 0)).collect();
    for i in 0..N {
        for (table, r) in tables.iter().zip(results.iter_mut()) {
            let t = Instant::now();
            table.append(&[batch(i as i64)])?;
            let d = t.elapsed();
            r.0.push(d);
            let snap = table.current_snapshot().ok_or("no snapshot")?;
            let m = table.manifests(&snap)?.len();
            if m < r.2 {
                r.1.push(d);
            }
            r.2 = m;
        }
    }
    for ((name, _), (lat, merge_lat, manifests)) in configs.iter().zip(&results) {
        println!(
            "{name}: p50 {} p99 {} max {}; {} merging commits, median {}; {} manifests at the end",
            ms(percentile(lat, 0.5)),
            ms(percentile(lat, 0.99)),
            ms(percentile(lat, 1.0)),
            merge_lat.len(),
            ms(percentile(merge_lat, 0.5)),
            manifests
        );
    }
    let (on, off) = (&results[0], &results[1]);
    for (name, p) in [("p50", 0.5), ("p99", 0.99), ("max", 1.0)] {
        let (a, b) = (percentile(&on.0, p), percentile(&off.0, p));
        row(
            out,
            &format!("durable 1-row append {name}, {N} appends across commit-time merges"),
            ms(a),
            format!("{} merging off", ms(b)),
            a.as_secs_f64() / b.as_secs_f64().max(1e-9),
        );
    }
    let merging = percentile(&on.1, 0.5);
    let plain = percentile(&on.0, 0.5);
    row(
        out,
        &format!("merging commit (median of {}) vs a plain commit (p50), merge on", on.1.len()),
        ms(merging),
        ms(plain),
        merging.as_secs_f64() / plain.as_secs_f64().max(1e-9),
    );
    println!("manifests at the end: {} merging on, {} merging off", on.2, off.2);
    Ok(())
}

fn make_strays(dir: &Path, n: usize) -> BoxResult<()> {
    std::fs::create_dir_all(dir)?;
    for i in 0..n {
        std::fs::write(dir.join(format!("stray-{i:07}.parquet")), b"x")?;
    }
    Ok(())
}

fn walk(dir: &Path, count: &mut usize) -> BoxResult<()> {
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        let m = std::fs::symlink_metadata(&p)?;
        if m.is_dir() {
            walk(&p, count)?;
        } else {
            *count += 1;
        }
    }
    Ok(())
}

fn orphans(cfg: &Config, root: &Path, out: &mut String) -> BoxResult<()> {
    let path = root.join("orphans");
    let table = Table::create_with(&path, schema(), TableOptions::default().durability(Durability::Relaxed))?;
    appends(&table, 100, 0)?;
    let t = Instant::now();
    make_strays(&path.join("data/strays"), cfg.orphans)?;
    println!("created {} stray files in {:.2} s", cfg.orphans, t.elapsed().as_secs_f64());
    let opts = OrphanOptions::default().older_than(Duration::ZERO).allow_short_grace(true);

    let t = Instant::now();
    let mut count = 0;
    walk(&path, &mut count)?;
    let walk_time = t.elapsed();
    let dry = table.remove_orphans(&opts.clone().dry_run(true))?;
    println!("{dry}");
    row(
        out,
        &format!("remove_orphans dry run, {} files ({} orphans)", count, dry.deleted_paths.len()),
        ms(dry.elapsed),
        format!("{} bare walk", ms(walk_time)),
        dry.elapsed.as_secs_f64() / walk_time.as_secs_f64().max(1e-9),
    );
    let real = table.remove_orphans(&opts)?;
    println!("{real}");
    assert_eq!(table.scan().count()?, 100);
    // Baseline: delete the same number of files with a bare loop.
    let base_dir = root.join("orphans-baseline");
    make_strays(&base_dir, cfg.orphans)?;
    let t = Instant::now();
    for e in std::fs::read_dir(&base_dir)? {
        std::fs::remove_file(e?.path())?;
    }
    let base = t.elapsed();
    row(
        out,
        &format!("remove_orphans deleting {} files", real.deleted_paths.len()),
        ms(real.elapsed),
        format!("{} bare list + remove_file", ms(base)),
        real.elapsed.as_secs_f64() / base.as_secs_f64().max(1e-9),
    );
    Ok(())
}
