//! Partitioned tables through the public API: specs, split writes, partition paths,
//! partition values in manifests and partition summaries in manifest lists.

mod common;

use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema, TimeUnit};
use floe::spec::Datum;
use floe::spec::PartitionSpec;
use floe::spec::Transform;
use floe::spec::{PrimitiveType, Schema};
use floe::testing::read_manifest;
use floe::{Error, Table};

const HOUR: i64 = 3_600_000_000;

fn schema() -> Schema {
    Schema::builder()
        .required("id", PrimitiveType::Long)
        .optional("region", PrimitiveType::String)
        .optional("ts", PrimitiveType::Timestamp)
        .build()
        .unwrap()
}

fn batch(ids: &[i64], regions: &[Option<&str>], ts: &[Option<i64>]) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        ])),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(regions.to_vec())),
            Arc::new(TimestampMicrosecondArray::from(ts.to_vec())),
        ],
    )
    .unwrap()
}

/// (file path relative to the table, partition values, rows) of every live file.
fn files(table: &Table) -> Vec<(String, Vec<Option<Datum>>, i64)> {
    let snap = table.current_snapshot().unwrap();
    let mut out = Vec::new();
    for m in table.manifests(&snap).unwrap() {
        let path = table.resolve_path(&m.manifest_path).unwrap();
        let manifest = read_manifest(&path, &std::fs::read(&path).unwrap(), Some(&m)).unwrap();
        for e in manifest.entries {
            let p = table.resolve_path(&e.data_file.file_path).unwrap();
            let rel = p.strip_prefix(table.path()).unwrap().to_str().unwrap().to_string();
            out.push((rel, e.data_file.partition, e.data_file.record_count));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn appends_split_rows_by_partition() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema();
    let spec = PartitionSpec::builder(&s).identity("region").hour("ts").build().unwrap();
    let table = Table::create_partitioned(dir.path(), s, spec, common::relaxed()).unwrap();
    let b = batch(
        &[1, 2, 3, 4, 5, 6],
        &[Some("eu"), Some("us"), Some("eu"), None, Some("us"), Some("eu")],
        &[Some(0), Some(HOUR), Some(HOUR / 2), Some(0), Some(HOUR + 1), Some(2 * HOUR)],
    );
    let report = table.append(&[b]).unwrap();
    assert_eq!(report.added_records, 6);
    let f = files(&table);
    let summary: Vec<(String, i64)> =
        f.iter().map(|(p, _, n)| (p.rsplit_once('/').unwrap().0.to_string(), *n)).collect();
    assert_eq!(
        summary,
        vec![
            ("data/region=eu/ts_hour=1970-01-01-00".to_string(), 2),
            ("data/region=eu/ts_hour=1970-01-01-02".to_string(), 1),
            ("data/region=null/ts_hour=1970-01-01-00".to_string(), 1),
            ("data/region=us/ts_hour=1970-01-01-01".to_string(), 2),
        ]
    );
    let parts: Vec<&Vec<Option<Datum>>> = f.iter().map(|(_, p, _)| p).collect();
    assert_eq!(parts[0], &vec![Some(Datum::String("eu".into())), Some(Datum::Int(0))]);
    assert_eq!(parts[2], &vec![None, Some(Datum::Int(0))]);
    // Every row comes back.
    assert_eq!(common::ids(&table), vec![1, 2, 3, 4, 5, 6]);
    // Summaries in the manifest list.
    let snap = table.current_snapshot().unwrap();
    let manifests = table.manifests(&snap).unwrap();
    assert_eq!(manifests.len(), 1);
    let sums = manifests[0].partitions.as_ref().unwrap();
    assert_eq!(sums.len(), 2);
    assert!(sums[0].contains_null);
    assert_eq!(sums[0].lower_bound.as_deref(), Some(&b"eu"[..]));
    assert_eq!(sums[0].upper_bound.as_deref(), Some(&b"us"[..]));
    assert!(!sums[1].contains_null);
    assert_eq!(sums[1].lower_bound, Some(0i32.to_le_bytes().to_vec()));
    assert_eq!(sums[1].upper_bound, Some(2i32.to_le_bytes().to_vec()));
    assert_eq!(sums[1].contains_nan, Some(false));
    assert_eq!(snap.summary["added-data-files"], "4");
    assert_eq!(snap.summary["changed-partition-count"], "4");
}

#[test]
fn many_batches_and_commits_share_partition_writers_per_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema();
    let spec = PartitionSpec::builder(&s).bucket("id", 4).truncate("region", 1).build().unwrap();
    let table = Table::create_with(dir.path(), s, common::relaxed().partition_spec(spec)).unwrap();
    let mut tx = table.new_transaction();
    for k in 0..5i64 {
        let ids: Vec<i64> = (k * 100..k * 100 + 100).collect();
        let regions: Vec<Option<&str>> = ids.iter().map(|i| Some(if i % 2 == 0 { "apac" } else { "emea" })).collect();
        let ts: Vec<Option<i64>> = ids.iter().map(|_| None).collect();
        tx.append(&batch(&ids, &regions, &ts)).unwrap();
    }
    tx.commit().unwrap();
    let f = files(&table);
    // 4 buckets x 2 prefixes, one file each: batches of one transaction share writers.
    assert_eq!(f.len(), 8, "{f:?}");
    for (path, part, _) in &f {
        let Some(Datum::Int(b)) = part[0] else { panic!("{part:?}") };
        assert!((0..4).contains(&b));
        assert!(path.contains(&format!("id_bucket={b}/")), "{path}");
        assert!(matches!(&part[1], Some(Datum::String(s)) if s == "a" || s == "e"));
    }
    // Each row sits in the bucket the transform gives its id.
    for (path, part, _) in &f {
        let full = table.path().join(path);
        let reader = floe::testing::open_data_file(&full, &table.schema(), None, &Default::default()).unwrap();
        for b in reader {
            let b = b.unwrap();
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..ids.len() {
                let want = Transform::Bucket(4).apply(Some(&Datum::Long(ids.value(i)))).unwrap();
                assert_eq!(want, part[0]);
            }
        }
    }
    table.append(&[batch(&[1000], &[Some("zz")], &[None])]).unwrap();
    assert_eq!(common::ids(&table).len(), 501);
    assert_eq!(table.current_snapshot().unwrap().summary["total-data-files"], "9");
}

#[test]
fn hostile_values_stay_inside_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema();
    let spec = PartitionSpec::builder(&s).identity("region").build().unwrap();
    let table = Table::create_partitioned(dir.path(), s, spec, common::relaxed()).unwrap();
    let long = "y".repeat(5000);
    let evil = ["../../../escape", "..", ".", "/abs", "a/b", "nul\0byte", "%2F", "", long.as_str(), "é ✓"];
    let ids: Vec<i64> = (0..evil.len() as i64).collect();
    let regions: Vec<Option<&str>> = evil.iter().map(|s| Some(*s)).collect();
    let ts = vec![None; evil.len()];
    table.append(&[batch(&ids, &regions, &ts)]).unwrap();
    let f = files(&table);
    assert_eq!(f.len(), evil.len());
    for (path, _, _) in &f {
        let full = dir.path().join(path);
        assert!(full.starts_with(dir.path().join("data")), "{path}");
        let rel = full.strip_prefix(dir.path().join("data")).unwrap();
        assert_eq!(rel.components().count(), 2, "one partition directory and the file: {path}");
        assert!(full.is_file());
    }
    // Nothing was written outside the table directory's data/ and metadata/.
    let top: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(top.iter().all(|n| ["data", "metadata", ".locks"].contains(&n.as_str())), "{top:?}");
    // Values round-trip exactly through the manifest, and rows through the scan.
    let mut values: Vec<String> = f
        .iter()
        .map(|(_, p, _)| match &p[0] {
            Some(Datum::String(s)) => s.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    values.sort();
    let mut want: Vec<String> = evil.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(values, want);
    assert_eq!(common::ids(&table), ids);
}

#[test]
fn bad_specs_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema();
    let bad = PartitionSpec {
        spec_id: 0,
        fields: vec![floe::spec::PartitionField {
            source_id: 1,
            field_id: 1000,
            name: "x".into(),
            transform: "day".into(),
        }],
    };
    let err = Table::create_partitioned(dir.path().join("t"), s.clone(), bad, common::relaxed()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(!dir.path().join("t").exists(), "nothing created for a bad spec");
    let unknown = PartitionSpec {
        spec_id: 0,
        fields: vec![floe::spec::PartitionField {
            source_id: 1,
            field_id: 1000,
            name: "x".into(),
            transform: "zorder".into(),
        }],
    };
    let err = Table::create_partitioned(dir.path().join("u"), s, unknown, common::relaxed()).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
}

#[test]
fn a_bad_batch_writes_nothing_in_a_partitioned_table() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema();
    let spec = PartitionSpec::builder(&s).identity("region").build().unwrap();
    let table = Table::create_partitioned(dir.path(), s, spec, common::relaxed()).unwrap();
    let before = common::tree(dir.path());
    let bad = RecordBatch::try_new(
        Arc::new(ArrowSchema::new(vec![Field::new("id", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![Some(1), None]))],
    )
    .unwrap();
    assert!(matches!(table.append(&[bad]), Err(Error::NullInRequiredField { .. })));
    assert_eq!(common::tree(dir.path()), before);
}

// ----------------------------------------------------------------- processes

const PROCS: usize = 4;
const APPENDS: i64 = 10;
const ROWS: usize = 20;

/// Child side (when `FLOE_PART_CHILD` is set): `writer` appends APPENDS batches of ROWS
/// rows (ids `proc*10_000 + i*ROWS ..`) printing `ACK <first id>` per commit;
/// `evolver` adds a column and then a partition field, retrying each change on
/// conflicts until it lands, printing `EVOLVED <tries>`.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var("FLOE_PART_CHILD") else { return };
    let path = std::env::var("FLOE_TABLE").unwrap();
    let proc_no: i64 = std::env::var("FLOE_PROC").unwrap().parse().unwrap();
    let table = Table::open(&path).unwrap();
    match role.as_str() {
        "writer" => {
            for i in 0..APPENDS {
                let first = proc_no * 10_000 + i * ROWS as i64;
                table.append(&[common::batch(first, ROWS)]).unwrap();
                println!("ACK {first}");
            }
        }
        "evolver" => {
            let mut tries = 0;
            loop {
                tries += 1;
                match table.update_schema().add_column("note", PrimitiveType::String).commit() {
                    Ok(_) => break,
                    Err(e) if e.is_concurrent_modification() => std::thread::sleep(std::time::Duration::from_millis(5)),
                    Err(e) => panic!("{e}"),
                }
            }
            loop {
                tries += 1;
                match table.update_spec().add_field("name", Transform::Truncate(5)).commit() {
                    Ok(_) => break,
                    Err(e) if e.is_concurrent_modification() => std::thread::sleep(std::time::Duration::from_millis(5)),
                    Err(e) => panic!("{e}"),
                }
            }
            println!("EVOLVED {tries}");
        }
        "many" => {
            // One transaction over 5,000 partitions (`truncate[2]` of ids 0..10,000),
            // then 100 of them again: their writers were closed to stay under the cap,
            // so these rows go to new files.
            let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
            let nofile = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
            println!("NOFILE {nofile}");
            let mut tx = table.new_transaction();
            tx.append(&common::batch(0, 2 * MANY_PARTITIONS)).unwrap();
            tx.append(&common::batch(0, 200)).unwrap();
            let report = tx.commit().unwrap();
            println!("FILES {}", report.added_files);
            println!("ROWS {}", report.added_records);
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let hwm = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
            println!("PEAK_RSS_KB {}", hwm.split_whitespace().nth(1).unwrap());
        }
        other => panic!("unknown role {other}"),
    }
}

/// Partitions the `many` child writes.
const MANY_PARTITIONS: usize = 5_000;
/// Peak resident memory the `many` child may reach (docs/format.md, "Resource limits").
const MANY_PEAK_RSS_KB: u64 = 256 * 1024;

/// A transaction that appends to 5,000 partitions, in a process limited to 256 open
/// files (`ulimit -n 256`, a real child process): it commits (open Parquet writers are
/// capped and the least recently used one is closed and rolled; fsyncs run on a bounded
/// pool, not a thread per file), every row is there, and the process's peak memory
/// stays under `MANY_PEAK_RSS_KB`.
#[test]
fn five_thousand_partitions_in_one_transaction_under_ulimit_n_256() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::schema();
    let spec = PartitionSpec::builder(&s).truncate("id", 2).build().unwrap();
    // Durable (the default): every file is fsynced.
    Table::create_partitioned(dir.path(), s, spec, Default::default()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("sh")
        .args(["-c", "ulimit -n 256 && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env("FLOE_PART_CHILD", "many")
        .env("FLOE_TABLE", dir.path())
        .env("FLOE_PROC", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{stdout}");
    let value = |tag: &str| -> String {
        let line = stdout.lines().find_map(|l| l.find(tag).map(|i| &l[i + tag.len()..])).unwrap();
        line.trim().to_string()
    };
    assert!(value("NOFILE ").split_whitespace().any(|w| w == "256"), "the limit applied: {}", value("NOFILE "));
    assert_eq!(value("ROWS ").parse::<usize>().unwrap(), 2 * MANY_PARTITIONS + 200);
    // One file per partition, plus a new file for each of the 100 partitions written
    // again after their writers were closed.
    assert_eq!(value("FILES ").parse::<usize>().unwrap(), MANY_PARTITIONS + 100);
    let peak: u64 = value("PEAK_RSS_KB ").parse().unwrap();
    eprintln!("peak RSS of the 5,000-partition commit: {peak} KiB");
    assert!(peak < MANY_PEAK_RSS_KB, "peak RSS {peak} KiB, bound {MANY_PEAK_RSS_KB} KiB");

    let table = Table::open(dir.path()).unwrap();
    let mut want: Vec<i64> = (0..2 * MANY_PARTITIONS as i64).chain(0..200).collect();
    want.sort();
    assert_eq!(common::ids(&table), want);
    assert_eq!(files(&table).len(), MANY_PARTITIONS + 100);
}

/// `WriteOptions::max_open_files` and `max_buffered_bytes` as a caller sets them: with 2
/// open files over 4 partitions written in turn, each return to a partition starts a new
/// file; with a tiny buffer budget every write goes out as its own row group. No row is
/// lost or moved to another partition.
#[test]
fn open_files_and_buffered_bytes_follow_the_write_options() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::schema();
    let spec = PartitionSpec::builder(&s).bucket("id", 4).build().unwrap();
    let write = floe::WriteOptions::default().max_open_files(2).max_buffered_bytes(1);
    let opts = common::relaxed().write(write).partition_spec(spec);
    let table = Table::create_with(dir.path(), s, opts).unwrap();
    // Ids whose bucket is k, for k = 0..4.
    let mut by_bucket: Vec<Vec<i64>> = vec![Vec::new(); 4];
    for id in 0..400i64 {
        let Some(Datum::Int(b)) = Transform::Bucket(4).apply(Some(&Datum::Long(id))).unwrap() else { panic!() };
        by_bucket[b as usize].push(id);
    }
    let id_batch = |ids: &[i64]| {
        let schema = Arc::new(ArrowSchema::new(vec![Field::new("id", DataType::Int64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(ids.to_vec()))]).unwrap()
    };
    let mut tx = table.new_transaction();
    // Two rounds over the 4 partitions, 3 rows per visit.
    for round in 0..2 {
        for ids in &by_bucket {
            tx.append(&id_batch(&ids[round * 3..round * 3 + 3])).unwrap();
        }
    }
    tx.commit().unwrap();
    let f = files(&table);
    // Every visit after the first two found its partition's file closed: 8 files.
    assert_eq!(f.len(), 8, "{f:?}");
    for (path, part, rows) in &f {
        assert_eq!(*rows, 3, "{path}");
        let full = table.path().join(path);
        let md = floe::testing::read_parquet_metadata(&full).unwrap();
        assert_eq!(md.num_row_groups(), 1, "{path}");
        let reader = floe::testing::open_data_file(&full, &table.schema(), None, &Default::default()).unwrap();
        for b in reader {
            let b = b.unwrap();
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..ids.len() {
                assert_eq!(Transform::Bucket(4).apply(Some(&Datum::Long(ids.value(i)))).unwrap(), part[0]);
            }
        }
    }
    let mut want: Vec<i64> = by_bucket.iter().flat_map(|ids| ids[..6].to_vec()).collect();
    want.sort();
    assert_eq!(common::ids(&table), want);

    // One open file, one visit of 2 writes per partition: one file each, and the tiny
    // budget makes each write its own row group.
    let dir = tempfile::tempdir().unwrap();
    let s = common::schema();
    let spec = PartitionSpec::builder(&s).bucket("id", 4).build().unwrap();
    let write = floe::WriteOptions::default().max_open_files(1).max_buffered_bytes(1);
    let table = Table::create_with(dir.path(), s, common::relaxed().write(write).partition_spec(spec)).unwrap();
    let mut tx = table.new_transaction();
    for ids in &by_bucket {
        for &id in &ids[..2] {
            tx.append(&id_batch(&[id])).unwrap();
        }
    }
    tx.commit().unwrap();
    let f = files(&table);
    assert_eq!(f.len(), 4, "{f:?}");
    for (path, _, rows) in &f {
        assert_eq!(*rows, 2);
        let md = floe::testing::read_parquet_metadata(&table.path().join(path)).unwrap();
        assert_eq!(md.num_row_groups(), 2, "each write flushed: {path}");
    }
}

/// Writers in separate processes append to a partitioned table while another process
/// changes its schema and its spec: every acknowledged row is present exactly once,
/// both changes land, and every file's rows carry the partition tuple of its spec.
#[test]
fn processes_append_to_a_partitioned_table_while_it_evolves() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::schema();
    let spec = PartitionSpec::builder(&s).bucket("id", 4).build().unwrap();
    Table::create_partitioned(dir.path(), s, spec, Default::default()).unwrap();
    let exe = std::env::current_exe().unwrap();
    let spawn = |role: &str, p: usize| {
        std::process::Command::new(&exe)
            .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
            .env("FLOE_PART_CHILD", role)
            .env("FLOE_TABLE", dir.path())
            .env("FLOE_PROC", p.to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut children: Vec<_> = (0..PROCS).map(|p| spawn("writer", p)).collect();
    children.push(spawn("evolver", PROCS));
    let mut acked = Vec::new();
    let mut evolved = false;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stdout));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(i) = line.find("ACK ") {
                let first: i64 = line[i + 4..].trim().parse().unwrap();
                acked.extend(first..first + ROWS as i64);
            }
            evolved |= line.contains("EVOLVED ");
        }
    }
    assert!(evolved);
    acked.sort();
    assert_eq!(acked.len(), PROCS * APPENDS as usize * ROWS);
    let table = Table::open(dir.path()).unwrap();
    assert_eq!(common::ids(&table), acked, "every acknowledged row exactly once");
    assert!(table.schema().field_by_name("note").is_some());
    let md = table.metadata();
    assert_eq!(md.partition_specs().len(), 2);
    // Each file's rows match the tuple recorded for it under its own spec.
    let snap = table.current_snapshot().unwrap();
    for m in table.manifests(&snap).unwrap() {
        let spec = md.partition_specs().iter().find(|s| s.spec_id == m.partition_spec_id).unwrap();
        let path = table.resolve_path(&m.manifest_path).unwrap();
        for e in read_manifest(&path, &std::fs::read(&path).unwrap(), Some(&m)).unwrap().entries {
            let file = table.resolve_path(&e.data_file.file_path).unwrap();
            let schema = table.schema();
            for b in floe::testing::open_data_file(&file, &schema, None, &Default::default()).unwrap() {
                let b = b.unwrap();
                for (k, pf) in spec.fields.iter().enumerate() {
                    let src = schema.field_by_id(pf.source_id).unwrap();
                    let col = b.column_by_name(&src.name).unwrap();
                    let t = Transform::parse(&pf.transform).unwrap();
                    for r in 0..b.num_rows() {
                        let v = floe::testing::datum_at(col.as_ref(), r, src.field_type.as_primitive().unwrap());
                        assert_eq!(t.apply(v.as_ref()).unwrap(), e.data_file.partition[k]);
                    }
                }
            }
        }
    }
}

/// Column-parallel encoding (`WriteOptions::encode_threads`) changes nothing a reader
/// or a planner sees: a large partitioned append written on 4 threads and on 1 gives
/// the same files byte for byte (so the same row groups, statistics and field ids), the
/// same manifest entries (bounds, counts, NaN counts, split offsets) and the same rows.
#[test]
fn encode_threads_leave_files_and_manifests_unchanged() {
    let s = schema();
    // Big enough that each main partition's slice (~55,000 rows) is encoded on threads.
    let n = 400_000i64;
    let regions = ["eu", "us", "ap"];
    let ids: Vec<i64> = (0..n).collect();
    let region: Vec<Option<&str>> =
        (0..n).map(|i| if i % 29 == 0 { None } else { Some(regions[(i % 3) as usize]) }).collect();
    let ts: Vec<Option<i64>> = (0..n).map(|i| if i % 7 == 0 { None } else { Some((i % 2) * HOUR + i) }).collect();
    let b = batch(&ids, &region, &ts);
    let write = |threads: usize| {
        let dir = tempfile::tempdir().unwrap();
        let spec = PartitionSpec::builder(&s).identity("region").hour("ts").build().unwrap();
        let opts = floe::WriteOptions::default().row_group_size(20_000).encode_threads(threads);
        let table =
            Table::create_with(dir.path(), s.clone(), common::relaxed().write(opts).partition_spec(spec)).unwrap();
        table.append(std::slice::from_ref(&b)).unwrap();
        (dir, table)
    };
    let (_d1, one) = write(1);
    let (_d4, four) = write(4);
    let entries = |table: &Table| {
        let snap = table.current_snapshot().unwrap();
        let mut out = Vec::new();
        for m in table.manifests(&snap).unwrap() {
            let path = table.resolve_path(&m.manifest_path).unwrap();
            let manifest = read_manifest(&path, &std::fs::read(&path).unwrap(), Some(&m)).unwrap();
            for e in manifest.entries {
                let file = table.resolve_path(&e.data_file.file_path).unwrap();
                let partition_dir = file.parent().unwrap().strip_prefix(table.path()).unwrap().to_path_buf();
                // The file name carries the commit id: compare everything else.
                let mut df = e.data_file.clone();
                df.file_path = String::new();
                out.push((partition_dir, std::fs::read(&file).unwrap(), df));
            }
        }
        out.sort_by(|a, b| (&a.0, a.2.record_count).cmp(&(&b.0, b.2.record_count)));
        out
    };
    let (a, b4) = (entries(&one), entries(&four));
    // 3 regions and null x 2 hours x (ts null or not): many partitions, several row groups.
    assert!(a.len() >= 8, "{} files", a.len());
    assert!(a.iter().any(|(_, _, df)| df.split_offsets.as_ref().is_some_and(|o| o.len() > 1)));
    assert_eq!(a.len(), b4.len());
    for ((p1, bytes1, df1), (p4, bytes4, df4)) in a.iter().zip(&b4) {
        assert_eq!(p1, p4);
        assert!(bytes1 == bytes4, "{} differs", p1.display());
        assert_eq!(df1, df4, "{}", p1.display());
        assert!(!df1.lower_bounds.is_empty() && !df1.upper_bounds.is_empty());
    }
    assert_eq!(a.iter().map(|(_, _, df)| df.record_count).sum::<i64>(), n);
    assert_eq!(common::ids(&one), common::ids(&four));
    assert_eq!(common::ids(&four), ids);
}
