//! Merge-on-read against copy-on-write, each figure against a baseline measured in this
//! run. Two identical tables (id long sorted within and across files, 16-char string,
//! double) are built in `target/bench-mor/`, one with `write.delete.mode` and
//! `write.merge.mode` = `merge-on-read`, one copy-on-write (the default). Then, on both:
//!
//! 1. upsert of `--keys` random keys (default 10,000), 3 rounds (median);
//! 2. delete of 1% of the rows, random ids, 3 rounds (median);
//! 3. a full scan after each round (the read cost of the delete files accumulated:
//!    the figure printed with the number of delete files), against the copy-on-write
//!    table's scan of the same rows;
//! 4. compaction of the merge-on-read table (applies and drops the deletes), and a
//!    scan after it;
//! 5. the baseline of both writes: a full rewrite of the table (`overwrite_all`).
//!
//! ```text
//! cargo bench --bench merge_on_read -- [--rows N] [--files N] [--keys N] [--keep]
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray};
use floe::expr::col;
use floe::spec::{PrimitiveType, Schema};
use floe::{CompactOptions, Durability, Table, TableOptions};
use rand::Rng;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rows(arrow: &Arc<arrow_schema::Schema>, ids: Vec<i64>, tag: &str) -> BoxResult<RecordBatch> {
    let names: Vec<String> = ids.iter().map(|i| format!("{tag}-{i:011}")).collect();
    let values: Vec<f64> = ids.iter().map(|i| *i as f64 * 0.5).collect();
    Ok(RecordBatch::try_new(
        Arc::clone(arrow),
        vec![Arc::new(Int64Array::from(ids)), Arc::new(StringArray::from(names)), Arc::new(Float64Array::from(values))],
    )?)
}

fn scan_time(table: &Table) -> BoxResult<(Duration, usize, usize)> {
    let t = Instant::now();
    let (batches, m) = table.scan().to_batches_with_metrics()?;
    let n = batches.iter().map(|b| b.num_rows()).sum();
    Ok((t.elapsed(), n, m.delete_files))
}

fn main() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let total_rows = arg(&args, "--rows", 1_000_000);
    let files = arg(&args, "--files", 200).max(1);
    let keys = arg(&args, "--keys", 10_000).max(1);
    let per_file = (total_rows / files).max(1);
    let total = (per_file * files) as i64;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-mor");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let schema = Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("name", PrimitiveType::String)
        .optional("value", PrimitiveType::Double)
        .build()?;
    let arrow = Arc::new(schema.to_arrow());
    let relaxed = || TableOptions::default().durability(Durability::Relaxed);
    let mor_opts =
        relaxed().property("write.delete.mode", "merge-on-read").property("write.merge.mode", "merge-on-read");
    let cow = Table::create_with(dir.join("cow"), schema.clone(), relaxed())?;
    let mor = Table::create_with(dir.join("mor"), schema.clone(), mor_opts)?;
    let t0 = Instant::now();
    for f in 0..files {
        let start = (f * per_file) as i64;
        let b = rows(&arrow, (start..start + per_file as i64).collect(), "name")?;
        cow.append(std::slice::from_ref(&b))?;
        mor.append(&[b])?;
    }
    println!("built 2 tables of {total} rows in {files} files in {:.1} s", t0.elapsed().as_secs_f64());
    let (base_scan, n, _) = scan_time(&mor)?;
    println!("full scan without deletes: {:.0} ms ({n} rows)", ms(base_scan));

    let mut rng = rand::rng();
    let mut up = (Vec::new(), Vec::new());
    let mut del = (Vec::new(), Vec::new());
    for round in 1..=3 {
        let mut k: Vec<i64> = (0..keys).map(|_| rng.random_range(0..total)).collect();
        k.sort();
        k.dedup();
        let batch = rows(&arrow, k.clone(), &format!("up{round}"))?;
        let t = Instant::now();
        let c = cow.upsert(&["id"], std::slice::from_ref(&batch))?.rows.unwrap_or_default();
        up.0.push(t.elapsed());
        let t = Instant::now();
        let m = mor.upsert(&["id"], &[batch])?.rows.unwrap_or_default();
        up.1.push(t.elapsed());
        println!(
            "round {round}: upsert {} random keys: copy-on-write {:.0} ms ({} files rewritten, {} rows copied); \
             merge-on-read {:.0} ms ({} delete files written, {} rows copied)",
            k.len(),
            ms(up.0[round - 1]),
            c.files_rewritten + c.files_removed,
            c.rows_copied,
            ms(up.1[round - 1]),
            m.delete_files_added,
            m.rows_copied
        );
        // 1% of the rows, random ids (of the original id range; upserted keys included).
        let mut d: Vec<i64> = (0..(total / 100).max(1)).map(|_| rng.random_range(0..total)).collect();
        d.sort();
        d.dedup();
        let t = Instant::now();
        let c = cow.delete(col("id").is_in(d.clone()))?.rows.unwrap_or_default();
        del.0.push(t.elapsed());
        let t = Instant::now();
        let m = mor.delete(col("id").is_in(d.clone()))?.rows.unwrap_or_default();
        del.1.push(t.elapsed());
        assert_eq!(c.rows_removed, m.rows_removed, "both tables hold the same rows");
        println!(
            "round {round}: delete {} random ids (1%): copy-on-write {:.0} ms ({} files rewritten); \
             merge-on-read {:.0} ms ({} delete files written)",
            d.len(),
            ms(del.0[round - 1]),
            c.files_rewritten + c.files_removed,
            ms(del.1[round - 1]),
            m.delete_files_added
        );
        let (cs, cn, _) = scan_time(&cow)?;
        let (ms_, mn, nd) = scan_time(&mor)?;
        assert_eq!(cn, mn, "both tables hold the same rows");
        println!(
            "round {round}: full scan: copy-on-write {:.0} ms, merge-on-read {:.0} ms with {nd} delete files \
             -> reads {:.2}x the copy-on-write time",
            ms(cs),
            ms(ms_),
            ms_.as_secs_f64() / cs.as_secs_f64()
        );
    }
    let (uc, um) = (median(up.0), median(up.1));
    let (dc, dm) = (median(del.0), median(del.1));
    println!(
        "upsert {keys} random keys, median of 3: copy-on-write {:.0} ms, merge-on-read {:.0} ms -> {:.1}x faster",
        ms(uc),
        ms(um),
        uc.as_secs_f64() / um.as_secs_f64()
    );
    println!(
        "delete 1% random ids, median of 3: copy-on-write {:.0} ms, merge-on-read {:.0} ms -> {:.1}x faster",
        ms(dc),
        ms(dm),
        dc.as_secs_f64() / dm.as_secs_f64()
    );
    let t = Instant::now();
    let r = mor.compact(&CompactOptions::default())?;
    println!(
        "compaction of the merge-on-read table: {:.0} ms ({} data files rewritten, {} delete files dropped, {} deleted rows left out)",
        ms(t.elapsed()),
        r.data_files_removed,
        r.delete_files_removed,
        r.rows_deleted
    );
    let (s, n, nd) = scan_time(&mor)?;
    println!("full scan after compaction: {:.0} ms ({n} rows, {nd} delete files)", ms(s));
    // Baseline: a full rewrite of the table (what a naive copy-on-write costs).
    let t = Instant::now();
    let all = cow.scan().to_batches()?;
    let mut tx = cow.new_transaction();
    tx.overwrite_all(&all)?;
    tx.commit()?;
    let full = t.elapsed();
    println!(
        "baseline full rewrite: {:.0} ms -> upsert: copy-on-write {:.1}x, merge-on-read {:.1}x faster; \
         delete: copy-on-write {:.1}x, merge-on-read {:.1}x faster",
        ms(full),
        full.as_secs_f64() / uc.as_secs_f64(),
        full.as_secs_f64() / um.as_secs_f64(),
        full.as_secs_f64() / dc.as_secs_f64(),
        full.as_secs_f64() / dm.as_secs_f64()
    );
    if !args.iter().any(|a| a == "--keep") {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
