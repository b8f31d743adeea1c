//! `Table::verify` through the public API: a healthy table passes (and a handle checks
//! the one version it holds while another handle commits), and each kind of damage —
//! missing, truncated or garbled data files, damaged manifests and manifest lists, a
//! summary that disagrees with the manifests — is found and named.

mod common;

use floe::{ProblemKind, Table};

use common::{batch, relaxed, schema};

fn table_with_three_commits(dir: &std::path::Path) -> Table {
    let t = Table::create_with(dir.join("t"), schema(), relaxed()).unwrap();
    t.append(&[batch(0, 10)]).unwrap();
    t.append(&[batch(10, 5)]).unwrap();
    t.append(&[batch(15, 1)]).unwrap();
    t
}

fn data_files(t: &Table) -> Vec<std::path::PathBuf> {
    t.scan().plan().unwrap().files.iter().map(|f| t.resolve_path(&f.file_path).unwrap()).collect()
}

#[test]
fn healthy_table_passes_shallow_and_deep() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let r = t.verify().unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!((r.version, r.snapshots, r.manifests, r.data_files, r.current_rows), (4, 3, 3, 3, 16));
    assert_eq!(r.rows_read, None);
    let r = t.verify_deep().unwrap();
    assert!(r.is_ok());
    assert_eq!(r.rows_read, Some(16));
    // An empty table is fine too.
    let e = Table::create_with(d.path().join("e"), schema(), relaxed()).unwrap();
    let r = e.verify_deep().unwrap();
    assert!(r.is_ok());
    assert_eq!((r.snapshots, r.data_files, r.rows_read), (0, 0, Some(0)));
}

#[test]
fn verify_checks_the_version_the_handle_holds() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let other = Table::open_with(t.path(), relaxed()).unwrap();
    other.append(&[batch(100, 3)]).unwrap();
    // `t` has not refreshed: it verifies v4, a consistent state, not a mix.
    let r = t.verify().unwrap();
    assert!(r.is_ok());
    assert_eq!((r.version, r.current_rows), (4, 16));
    t.refresh().unwrap();
    let r = t.verify_deep().unwrap();
    assert_eq!((r.version, r.current_rows, r.rows_read), (5, 19, Some(19)));
}

#[test]
fn missing_data_file() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let files = data_files(&t);
    std::fs::remove_file(&files[1]).unwrap();
    let r = t.verify().unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    let p = &r.problems[0];
    assert_eq!(p.kind, ProblemKind::Missing);
    assert!(p.path.starts_with("data/") && p.path.ends_with(".parquet"), "{}", p.path);
    assert!(p.to_string().starts_with("missing: data/"), "{p}");
}

#[test]
fn truncated_and_corrupted_data_files() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let files = data_files(&t);
    // Truncated: size and footer.
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() - 10]).unwrap();
    let r = t.verify().unwrap();
    let kinds: Vec<ProblemKind> = r.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ProblemKind::SizeMismatch, ProblemKind::Unreadable], "{:?}", r.problems);
    std::fs::write(&files[0], &bytes).unwrap();
    assert!(t.verify_deep().unwrap().is_ok());

    // Same size, footer intact, page bytes garbled: only a deep check can see it.
    let md = floe::testing::read_parquet_metadata(&files[0]).unwrap();
    let (start, len) = md.row_group(0).column(0).byte_range();
    let mut garbled = bytes.clone();
    for b in &mut garbled[start as usize..(start + len) as usize] {
        *b = 0xA5;
    }
    std::fs::write(&files[0], &garbled).unwrap();
    let shallow = t.verify().unwrap();
    assert!(shallow.is_ok(), "a shallow check reads only sizes and footers: {:?}", shallow.problems);
    let r = t.verify_deep().unwrap();
    assert!(!r.is_ok(), "deep verification must notice garbled pages");
    assert!(r.problems.iter().all(|p| p.path.starts_with("data/")), "{:?}", r.problems);
}

#[test]
fn damaged_manifest_and_manifest_list() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let snap = t.current_snapshot().unwrap();
    let manifests = t.manifests(&snap).unwrap();
    let m = t.resolve_path(&manifests[0].manifest_path).unwrap();
    let bytes = std::fs::read(&m).unwrap();
    std::fs::write(&m, &bytes[..bytes.len() / 2]).unwrap();
    let r = t.verify().unwrap();
    let kinds: Vec<ProblemKind> = r.problems.iter().map(|p| p.kind).collect();
    assert!(kinds.contains(&ProblemKind::SizeMismatch), "{:?}", r.problems);
    assert!(kinds.contains(&ProblemKind::Unreadable), "{:?}", r.problems);
    std::fs::write(&m, &bytes).unwrap();

    // The first snapshot's manifest list: time travel to it would fail.
    let first = &t.snapshots()[0];
    let list = t.resolve_path(&first.manifest_list).unwrap();
    std::fs::remove_file(&list).unwrap();
    let r = t.verify().unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].kind, ProblemKind::Missing);
    assert!(r.problems[0].path.starts_with("metadata/snap-"));
    assert!(r.problems[0].detail.contains(&first.snapshot_id.to_string()));
}

#[test]
fn summary_that_disagrees_with_the_manifests() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    // Another writer recorded a wrong total (edit the newest metadata file in place).
    let path = t.metadata_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("\"total-records\":\"16\"", "\"total-records\":\"17\"");
    assert_ne!(text, edited, "the summary holds total-records 16");
    std::fs::write(&path, edited).unwrap();
    let t = Table::open(t.path()).unwrap();
    let r = t.verify().unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].kind, ProblemKind::CountMismatch);
    assert!(r.problems[0].detail.contains("total-records = 17"), "{}", r.problems[0].detail);
}

/// Many files, some damaged so that decoding their rows panics inside the parquet crate,
/// some so that it merely errors: deep verification names every one of them (a panic on
/// one file used to kill its checker thread and drop every result that thread held).
#[test]
fn deep_verification_names_every_corrupt_file_even_when_the_decoder_panics() {
    use common::{Damage, damaged_copies};
    let d = tempfile::tempdir().unwrap();
    let t = Table::create_with(d.path().join("t"), schema(), relaxed()).unwrap();
    // The same rows in every file: the files are alike, so one search finds damage for all.
    for _ in 0..24 {
        t.append(&[batch(0, 100)]).unwrap();
    }
    let files = data_files(&t);
    assert_eq!(files.len(), 24);
    let good = std::fs::read(&files[0]).unwrap();
    let panics = damaged_copies(&good, Damage::Panic, 3);
    let errors = damaged_copies(&good, Damage::Error, 2);
    let mut damaged = std::collections::BTreeMap::new();
    for (k, f) in files.iter().enumerate() {
        assert_eq!(std::fs::read(f).unwrap(), good, "identical files");
        let (bytes, damage) = match k % 4 {
            0 => (&panics[k / 4 % 3], Damage::Panic),
            1 if k % 8 == 1 => (&errors[k / 8 % 2], Damage::Error),
            _ => continue,
        };
        std::fs::write(f, bytes).unwrap();
        damaged.insert(f.strip_prefix(t.path()).unwrap().display().to_string(), damage);
    }
    assert_eq!(damaged.values().filter(|d| **d == Damage::Panic).count(), 6);

    let r = t.verify_deep().unwrap();
    let found: std::collections::BTreeSet<&str> = r.problems.iter().map(|p| p.path.as_str()).collect();
    let want: std::collections::BTreeSet<&str> = damaged.keys().map(String::as_str).collect();
    assert_eq!(found, want, "every damaged file, and only those: {:#?}", r.problems);
    assert_eq!(r.problems.len(), damaged.len(), "{:#?}", r.problems);
    for p in &r.problems {
        assert_eq!(p.kind, ProblemKind::Unreadable, "{p}");
        if damaged[&p.path] == Damage::Panic {
            assert!(p.detail.contains("panicked"), "{p}");
        }
    }
    assert_eq!(r.data_files, 24);
    // A shallow check reads footers only: these files' footers are intact.
    assert!(t.verify().unwrap().is_ok());
}
