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
    t.scan().plan().unwrap().files.iter().map(|f| floe::location::uri_to_path(&f.file_path)).collect()
}

#[test]
fn healthy_table_passes_shallow_and_deep() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let r = t.verify(false).unwrap();
    assert!(r.is_ok(), "{:?}", r.problems);
    assert_eq!((r.version, r.snapshots, r.manifests, r.data_files, r.current_rows), (4, 3, 3, 3, 16));
    assert_eq!(r.rows_read, None);
    let r = t.verify(true).unwrap();
    assert!(r.is_ok());
    assert_eq!(r.rows_read, Some(16));
    // An empty table is fine too.
    let e = Table::create_with(d.path().join("e"), schema(), relaxed()).unwrap();
    let r = e.verify(true).unwrap();
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
    let r = t.verify(false).unwrap();
    assert!(r.is_ok());
    assert_eq!((r.version, r.current_rows), (4, 16));
    t.refresh().unwrap();
    let r = t.verify(true).unwrap();
    assert_eq!((r.version, r.current_rows, r.rows_read), (5, 19, Some(19)));
}

#[test]
fn missing_data_file() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let files = data_files(&t);
    std::fs::remove_file(&files[1]).unwrap();
    let r = t.verify(false).unwrap();
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
    let r = t.verify(false).unwrap();
    let kinds: Vec<ProblemKind> = r.problems.iter().map(|p| p.kind).collect();
    assert_eq!(kinds, [ProblemKind::SizeMismatch, ProblemKind::Unreadable], "{:?}", r.problems);
    std::fs::write(&files[0], &bytes).unwrap();
    assert!(t.verify(true).unwrap().is_ok());

    // Same size, footer intact, page bytes garbled: only a deep check can see it.
    let md = floe::read::read_parquet_metadata(&files[0]).unwrap();
    let (start, len) = md.row_group(0).column(0).byte_range();
    let mut garbled = bytes.clone();
    for b in &mut garbled[start as usize..(start + len) as usize] {
        *b = 0xA5;
    }
    std::fs::write(&files[0], &garbled).unwrap();
    let shallow = t.verify(false).unwrap();
    assert!(shallow.is_ok(), "a shallow check reads only sizes and footers: {:?}", shallow.problems);
    let r = t.verify(true).unwrap();
    assert!(!r.is_ok(), "deep verification must notice garbled pages");
    assert!(r.problems.iter().all(|p| p.path.starts_with("data/")), "{:?}", r.problems);
}

#[test]
fn damaged_manifest_and_manifest_list() {
    let d = tempfile::tempdir().unwrap();
    let t = table_with_three_commits(d.path());
    let snap = t.current_snapshot().unwrap();
    let manifests = t.manifests(&snap).unwrap();
    let m = floe::location::uri_to_path(&manifests[0].manifest_path);
    let bytes = std::fs::read(&m).unwrap();
    std::fs::write(&m, &bytes[..bytes.len() / 2]).unwrap();
    let r = t.verify(false).unwrap();
    let kinds: Vec<ProblemKind> = r.problems.iter().map(|p| p.kind).collect();
    assert!(kinds.contains(&ProblemKind::SizeMismatch), "{:?}", r.problems);
    assert!(kinds.contains(&ProblemKind::Unreadable), "{:?}", r.problems);
    std::fs::write(&m, &bytes).unwrap();

    // The first snapshot's manifest list: time travel to it would fail.
    let first = &t.snapshots()[0];
    let list = floe::location::uri_to_path(&first.manifest_list);
    std::fs::remove_file(&list).unwrap();
    let r = t.verify(false).unwrap();
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
    let r = t.verify(false).unwrap();
    assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
    assert_eq!(r.problems[0].kind, ProblemKind::CountMismatch);
    assert!(r.problems[0].detail.contains("total-records = 17"), "{}", r.problems[0].detail);
}
