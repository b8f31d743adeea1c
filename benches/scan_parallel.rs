//! Scan of ONE large data file: floe's scan (row groups decoded in parallel) against the
//! raw single-threaded Parquet reader over the same file, measured in the same run.
//!
//! `cargo bench -p floe --bench scan_parallel -- [--rows N] [--reps R]` writes one table
//! with one data file of N rows (default 10,000,000; several row groups), then times,
//! R times each (default 5), interleaved: the raw reader (`ParquetRecordBatchReader`,
//! one thread, batch 8192), `table.scan().to_batches()`, the streaming scan
//! (`to_iter`), the same with `threads(1)`, and a projection onto one column. It prints
//! the median of each and the ratio raw / floe (above 1: floe is faster), and checks
//! that every scan returned the same rows.

mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow_array::{Int64Array, RecordBatch};
use common::{BoxResult, bench_schema, make_batch};
use floe::Table;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const BATCH_ROWS: usize = 8192;
const PROJECTED: &str = "value";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test") {
        return Ok(()); // nothing to smoke-test under `cargo test`
    }
    let rows: usize = arg(&args, "--rows").map(|r| r.parse()).transpose()?.unwrap_or(10_000_000);
    let reps: usize = arg(&args, "--reps").map(|r| r.parse()).transpose()?.unwrap_or(5);
    let dir = tempfile::tempdir()?;
    let table = Table::create(dir.path(), bench_schema())?;
    let arrow = std::sync::Arc::new(bench_schema().to_arrow());
    let batches = (0..rows)
        .step_by(65_536)
        .map(|s| make_batch(&arrow, s as i64, 65_536.min(rows - s)))
        .collect::<Result<Vec<_>, _>>()?;
    table.append(&batches)?;
    drop(batches);
    let files = parquet_files(&dir.path().join("data"))?;
    let [file] = &files[..] else { return Err(format!("expected one data file, found {}", files.len()).into()) };
    let md = ParquetRecordBatchReaderBuilder::try_new(File::open(file)?)?.metadata().clone();
    println!(
        "one data file: {rows} rows, {} row groups, {:.1} MiB; cores: {}; {reps} repetitions, medians",
        md.num_row_groups(),
        std::fs::metadata(file)?.len() as f64 / 1048576.0,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    );

    let cases: [(&str, &dyn Fn() -> BoxResult<Sum>); 6] = [
        ("raw full (1 thread)", &|| raw(file, false)),
        ("raw projection (1 thread)", &|| raw(file, true)),
        ("floe to_batches full", &|| Ok(Sum::of(&table.scan().to_batches()?))),
        ("floe to_iter full (streaming)", &|| {
            let mut s = Sum::default();
            for b in table.scan().to_iter()? {
                s.add(&b?);
            }
            Ok(s)
        }),
        ("floe to_batches full threads(1)", &|| Ok(Sum::of(&table.scan().threads(1).to_batches()?))),
        ("floe to_batches projection", &|| Ok(Sum::of(&table.scan().select([PROJECTED]).to_batches()?))),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut sums: Vec<Option<Sum>> = vec![None; cases.len()];
    for _ in 0..reps {
        for (i, (_, run)) in cases.iter().enumerate() {
            let started = Instant::now();
            let sum = run()?;
            times[i].push(started.elapsed().as_secs_f64());
            sums[i] = Some(sum);
        }
    }
    let med: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
    for (i, (name, _)) in cases.iter().enumerate() {
        println!("{name:34} {:8.3} s   {:?}", med[i], sums[i]);
    }
    for i in [0, 2, 3, 4] {
        if sums[i].as_ref().map(|s| s.rows) != Some(rows)
            || sums[i].as_ref().map(|s| s.id_sum) != sums[0].as_ref().map(|s| s.id_sum)
        {
            return Err(format!("{} returned different rows", cases[i].0).into());
        }
    }
    println!("ratio raw full / floe to_batches full:      {:.2}x", med[0] / med[2]);
    println!("ratio raw full / floe to_iter full:         {:.2}x", med[0] / med[3]);
    println!("ratio raw full / floe threads(1) full:      {:.2}x", med[0] / med[4]);
    println!("ratio raw projection / floe projection:     {:.2}x", med[1] / med[5]);
    Ok(())
}

#[derive(Debug, Default, Clone)]
struct Sum {
    rows: usize,
    id_sum: i64,
}

impl Sum {
    fn add(&mut self, b: &RecordBatch) {
        self.rows += b.num_rows();
        if let Some(ids) = b.column_by_name("id").and_then(|c| c.as_any().downcast_ref::<Int64Array>()) {
            self.id_sum = ids.values().iter().fold(self.id_sum, |a, v| a.wrapping_add(*v));
        }
    }
    fn of(batches: &[RecordBatch]) -> Sum {
        let mut s = Sum::default();
        batches.iter().for_each(|b| s.add(b));
        s
    }
}

/// The baseline: one `ParquetRecordBatchReader` pass on the calling thread, batches kept
/// in memory like `to_batches`.
fn raw(path: &Path, project: bool) -> BoxResult<Sum> {
    let mut builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?)?.with_batch_size(BATCH_ROWS);
    if project {
        let idx = builder.schema().index_of(PROJECTED)?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), [idx]);
        builder = builder.with_projection(mask);
    }
    let batches = builder.build()?.collect::<Result<Vec<_>, _>>()?;
    Ok(Sum::of(&batches))
}

fn median(t: &mut [f64]) -> f64 {
    t.sort_by(f64::total_cmp);
    t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
}

fn parquet_files(dir: &Path) -> BoxResult<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_dir() {
            out.extend(parquet_files(&p)?);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    Ok(out)
}
