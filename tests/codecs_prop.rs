//! Property tests for the metadata JSON, manifest-list and manifest codecs.
//!
//! * Round-trips: arbitrary manifest lists and manifests (counts, paths, statistics
//!   maps, optional fields) and arbitrary edits of real table metadata (properties,
//!   snapshot summaries, extra keys) decode to exactly what was encoded.
//! * Hostile bytes: arbitrary truncations, byte flips, splices and insertions of real
//!   files written by floe give `Ok` or a typed error: never a panic, never a hang
//!   (each decode runs on a watchdog thread). The same mutated metadata bytes are also
//!   opened as a table through [`Table::open`].
//!
//! `PROPTEST_CASES` raises the number of cases (default 256 per property).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use common::{batch, relaxed, schema};
use floe::spec::PartitionSpec;
use floe::spec::{DataContent, DataFile, EntryStatus, FieldSummary, ManifestContent, ManifestFile};
use floe::testing::{
    ManifestEntry, ManifestWriteContext, read_manifest, read_manifest_list, read_manifest_list_paths, write_manifest,
    write_manifest_list,
};
use floe::{Error, Table};
use proptest::prelude::*;

/// Real files from a small table: (metadata JSON, manifest list, manifest).
struct Real {
    _dir: tempfile::TempDir,
    metadata: Vec<u8>,
    list: Vec<u8>,
    manifest: Vec<u8>,
}

fn real() -> &'static Real {
    static REAL: OnceLock<Real> = OnceLock::new();
    REAL.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let t = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
        t.append(&[batch(0, 10)]).unwrap();
        t.append(&[batch(10, 5)]).unwrap();
        let metadata = std::fs::read(t.metadata_path()).unwrap();
        let snap = t.current_snapshot().unwrap();
        let list_path = t.resolve_path(&snap.manifest_list).unwrap();
        let list = std::fs::read(&list_path).unwrap();
        let m = &t.manifests(&snap).unwrap()[0];
        let manifest = std::fs::read(t.resolve_path(&m.manifest_path).unwrap()).unwrap();
        Real { _dir: dir, metadata, list, manifest }
    })
}

/// Runs `f` on a watchdog thread: a decode that does not finish in 20 s is a hang.
fn no_hang<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(v) => {
            h.join().unwrap();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("{what}: decoding did not finish (endless loop?)"),
        // The sender was dropped without sending: the decoder panicked.
        Err(_) => panic!("{what}: decoder panicked: {:?}", h.join().err()),
    }
}

/// The errors the metadata JSON decoder can return for bad bytes at `path`: corrupt
/// (naming that file) or a format version it does not support. Nothing else: no I/O,
/// no argument or schema error.
fn metadata_error(e: &Error, path: &str) -> bool {
    match e {
        Error::CorruptMetadata { path: p, .. } => p == Path::new(path),
        Error::Unsupported { what } => what.starts_with("Iceberg format-version ") && what.ends_with(path),
        _ => false,
    }
}

/// The errors the manifest-list and manifest decoders can return for bad bytes at
/// `path`: corrupt (naming that file) or an Avro codec this build cannot decompress.
fn avro_error(e: &Error, path: &str) -> bool {
    match e {
        Error::CorruptMetadata { path: p, .. } => p == Path::new(path),
        Error::Unsupported { what } => what.starts_with("Avro codec ") && what.ends_with(path),
        _ => false,
    }
}

/// What opening and scanning a table with mutated metadata may report: a decoder error
/// for any of its files, or what the metadata's (now arbitrary) contents can point at:
/// a missing snapshot or file, a path outside the root, another table's uuid.
fn open_error(e: &Error) -> bool {
    matches!(
        e,
        Error::CorruptMetadata { .. }
            | Error::Unsupported { .. }
            | Error::NotFound { .. }
            | Error::PathEscapesTable { .. }
            | Error::TableUuidChanged { .. }
            | Error::TableNotFound { .. }
            | Error::Io { .. }
    )
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    /// Copy a range over another place (keeps plausible structure).
    Splice(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), 1usize..64).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<usize>(), any::<usize>(), 1usize..64).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn apply(bytes: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    for m in muts {
        if b.is_empty() {
            break;
        }
        let len = b.len();
        match m {
            Mutation::Truncate(i) => b.truncate(i % len),
            Mutation::Flip(i, x) => b[i % len] ^= x,
            Mutation::Insert(i, ins) => {
                let at = i % (len + 1);
                b.splice(at..at, ins.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i % len;
                b.drain(at..(at + n).min(len));
            }
            Mutation::Splice(from, to, n) => {
                let (from, to) = (from % len, to % len);
                let n = (*n).min(len - from).min(len - to);
                let src = b[from..from + n].to_vec();
                b[to..to + n].copy_from_slice(&src);
            }
        }
    }
    b
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

// ---------------------------------------------------------------------------------------
// Round-trips
// ---------------------------------------------------------------------------------------

fn opt_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..24))
}

fn manifest_file() -> impl Strategy<Value = ManifestFile> {
    (
        ("[a-z0-9/_.-]{1,40}", 0i64..i64::MAX, 0i32..10, any::<bool>(), 1i64..1 << 40, 1i64..1 << 40),
        (any::<i64>(), 0i32..1000, 0i32..1000, 0i32..1000, 0i64..1 << 50, 0i64..1 << 50, 0i64..1 << 50),
        proptest::option::of(proptest::collection::vec(
            (any::<bool>(), proptest::option::of(any::<bool>()), opt_bytes(), opt_bytes()),
            0..3,
        )),
        opt_bytes(),
    )
        .prop_map(|((path, len, spec, deletes, seq, min_seq), (snap, af, ef, df, ar, er, dr), parts, key)| {
            ManifestFile {
                manifest_path: format!("file:///t/metadata/{path}.avro"),
                manifest_length: len,
                partition_spec_id: spec,
                content: if deletes { ManifestContent::Deletes } else { ManifestContent::Data },
                sequence_number: seq,
                min_sequence_number: min_seq,
                added_snapshot_id: snap,
                added_files_count: af,
                existing_files_count: ef,
                deleted_files_count: df,
                added_rows_count: ar,
                existing_rows_count: er,
                deleted_rows_count: dr,
                partitions: parts.map(|p| {
                    p.into_iter()
                        .map(|(contains_null, contains_nan, lower_bound, upper_bound)| FieldSummary {
                            contains_null,
                            contains_nan,
                            lower_bound,
                            upper_bound,
                        })
                        .collect()
                }),
                key_metadata: key,
            }
        })
}

fn stat_map<V: std::fmt::Debug + Clone>(v: impl Strategy<Value = V>) -> impl Strategy<Value = BTreeMap<i32, V>> {
    proptest::collection::btree_map(1i32..4, v, 0..4)
}

fn data_file() -> impl Strategy<Value = DataFile> {
    (
        ("[a-zA-Z0-9_=-]{1,30}", 0i64..1 << 40, 1i64..1 << 40),
        (stat_map(0i64..1 << 40), stat_map(0i64..1 << 40), stat_map(0i64..1 << 40), stat_map(0i64..1 << 40)),
        (stat_map(proptest::collection::vec(any::<u8>(), 8)), stat_map(proptest::collection::vec(any::<u8>(), 8))),
        (
            opt_bytes(),
            proptest::option::of(proptest::collection::vec(4i64..1 << 40, 0..4)),
            proptest::option::of(0i32..5),
        ),
    )
        .prop_map(|((name, records, size), (cs, vc, nc, nan), (lo, hi), (key, splits, sort))| DataFile {
            content: DataContent::Data,
            file_path: format!("file:///t/data/{name}.parquet"),
            file_format: "PARQUET".into(),
            partition: Vec::new(),
            record_count: records,
            file_size_in_bytes: size,
            column_sizes: cs,
            value_counts: vc,
            null_value_counts: nc,
            nan_value_counts: nan,
            lower_bounds: lo,
            upper_bounds: hi,
            key_metadata: key,
            split_offsets: splits,
            equality_ids: None,
            sort_order_id: sort,
        })
}

fn entry() -> impl Strategy<Value = ManifestEntry> {
    (0u8..3, any::<i64>(), 1i64..1 << 40, 1i64..1 << 40, data_file()).prop_map(|(status, snap, seq, fseq, f)| {
        ManifestEntry {
            status: match status {
                0 => EntryStatus::Existing,
                1 => EntryStatus::Added,
                _ => EntryStatus::Deleted,
            },
            snapshot_id: Some(snap),
            sequence_number: Some(seq),
            file_sequence_number: Some(fseq),
            data_file: f,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn manifest_list_round_trips(
        snap in any::<i64>(),
        parent in proptest::option::of(any::<i64>()),
        seq in 1i64..1 << 40,
        files in proptest::collection::vec(manifest_file(), 0..6),
    ) {
        let bytes = write_manifest_list(snap, parent, seq, &files).unwrap();
        let back = read_manifest_list(Path::new("list.avro"), &bytes).unwrap();
        let paths = read_manifest_list_paths(Path::new("list.avro"), &bytes).unwrap();
        let skipping = floe::testing::read_manifest_list_paths_skipping(Path::new("list.avro"), &bytes).unwrap();
        prop_assert_eq!(&paths, &skipping);
        prop_assert_eq!(paths, files.iter().map(|f| f.manifest_path.clone()).collect::<Vec<_>>());
        prop_assert_eq!(back, files);
    }

    #[test]
    fn manifest_round_trips(entries in proptest::collection::vec(entry(), 0..6)) {
        let s = schema();
        let spec = PartitionSpec::unpartitioned();
        let ctx = ManifestWriteContext { schema: &s, spec: &spec, content: ManifestContent::Data };
        let bytes = write_manifest(&ctx, &entries).unwrap();
        let back = read_manifest(Path::new("m.avro"), &bytes, None).unwrap();
        prop_assert_eq!(back.entries, entries);
    }

    #[test]
    fn metadata_round_trips(
        props in proptest::collection::btree_map("[a-z.-]{1,20}", "\\PC{0,30}", 0..6),
        summary in proptest::collection::btree_map("[a-z-]{1,20}", "\\PC{0,20}", 0..4),
        extra in proptest::collection::btree_map("x-[a-z]{1,10}", any::<i64>(), 0..3),
        updated in 0i64..1 << 50,
    ) {
        let mut md = floe::testing::metadata_from_json(Path::new("v.json"), &real().metadata).unwrap();
        md.properties_mut().extend(props);
        md.set_last_updated_ms(updated);
        if let Some(s) = md.snapshots_mut().last_mut() {
            let s = std::sync::Arc::make_mut(s);
            s.summary.extend(summary);
            s.summary.insert("operation".into(), "append".into());
        }
        for (k, v) in extra {
            md.extra_mut().insert(k, serde_json::Value::from(v));
        }
        let bytes = floe::testing::metadata_to_json(&md).unwrap();
        let back = floe::testing::metadata_from_json(Path::new("v.json"), &bytes).unwrap();
        prop_assert_eq!(back, md);
    }

    // -----------------------------------------------------------------------------------
    // Hostile bytes
    // -----------------------------------------------------------------------------------

    #[test]
    fn mutated_metadata_is_ok_or_a_typed_error(muts in proptest::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&real().metadata, &muts);
        let res = no_hang("metadata", move || floe::testing::metadata_from_json(Path::new("v.json"), &bytes).err());
        if let Some(e) = res {
            prop_assert!(metadata_error(&e, "v.json"), "unexpected error {:?}", e);
        }
    }

    #[test]
    fn mutated_manifest_list_is_ok_or_a_typed_error(muts in proptest::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&real().list, &muts);
        let b = bytes.clone();
        let res = no_hang("manifest list", move || read_manifest_list(Path::new("l.avro"), &b).err());
        if let Some(e) = res {
            prop_assert!(avro_error(&e, "l.avro"), "unexpected error {:?}", e);
        }
        let res = no_hang("manifest list paths", move || read_manifest_list_paths(Path::new("l.avro"), &bytes).err());
        if let Some(e) = res {
            prop_assert!(avro_error(&e, "l.avro"), "unexpected error {:?}", e);
        }
    }

    #[test]
    fn mutated_manifest_is_ok_or_a_typed_error(muts in proptest::collection::vec(mutation(), 1..4)) {
        let bytes = apply(&real().manifest, &muts);
        let res = no_hang("manifest", move || read_manifest(Path::new("m.avro"), &bytes, None).err());
        if let Some(e) = res {
            prop_assert!(avro_error(&e, "m.avro"), "unexpected error {:?}", e);
        }
    }

    #[test]
    fn arbitrary_bytes_are_ok_or_a_typed_error(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let b = bytes.clone();
        if let Some(e) = no_hang("metadata", move || floe::testing::metadata_from_json(Path::new("v"), &b).err()) {
            prop_assert!(metadata_error(&e, "v"), "{:?}", e);
        }
        let b = bytes.clone();
        if let Some(e) = no_hang("list", move || read_manifest_list(Path::new("l"), &b).err()) {
            prop_assert!(avro_error(&e, "l"), "{:?}", e);
        }
        let b = bytes.clone();
        if let Some(e) = no_hang("list paths", move || read_manifest_list_paths(Path::new("l"), &b).err()) {
            prop_assert!(avro_error(&e, "l"), "{:?}", e);
        }
        if let Some(e) = no_hang("manifest", move || read_manifest(Path::new("m"), &bytes, None).err()) {
            prop_assert!(avro_error(&e, "m"), "{:?}", e);
        }
    }
}

/// Opening a table whose newest metadata file is mutated: a table or a typed error.
#[test]
fn opening_a_table_from_mutated_metadata_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    let t = Table::create_with(&path, schema(), relaxed()).unwrap();
    t.append(&[batch(0, 3)]).unwrap();
    let v2 = t.metadata_path();
    let original = std::fs::read(&v2).unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(cases() / 4));
    runner
        .run(&proptest::collection::vec(mutation(), 1..4), |muts| {
            std::fs::write(&v2, apply(&original, &muts)).unwrap();
            let p = path.clone();
            let res = no_hang("open", move || Table::open(&p).and_then(|t| t.scan().count()).err());
            if let Some(e) = res {
                prop_assert!(open_error(&e), "{:?}", e);
            }
            Ok(())
        })
        .unwrap();
}
