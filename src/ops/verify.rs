//! Verifying a table: is everything its metadata references there, and does it agree
//! with what the metadata says?
//!
//! [`Table::verify`] checks the version the handle holds (one consistent state, so it
//! runs safely while other processes commit; files are immutable once referenced):
//!
//! - the metadata itself: its `location` is the directory the table was opened at (a
//!   copied or moved table that was not relocated is a problem: writes and maintenance
//!   refuse it; its files are still checked where the copy holds them), the current
//!   snapshot is among the snapshots, sequence numbers do not exceed
//!   `last-sequence-number`;
//! - for **every retained snapshot** (time travel must work too): its manifest list
//!   exists and decodes;
//! - every manifest those lists name: it exists, its size is the `manifest_length`
//!   the list records, it decodes, and its entries add up to the list's added /
//!   existing / deleted file and row counts;
//! - every live data file those manifests name: it exists, its size is
//!   `file_size_in_bytes`, and its Parquet footer holds `record_count` rows;
//! - the current snapshot's summary totals (`total-records`, `total-data-files`)
//!   agree with its manifests, when the writer recorded them;
//! - with `deep`, every data file is read in full (every page decompressed and
//!   decoded) and the rows counted. A file that makes the Parquet decoder panic is a
//!   problem of kind [`ProblemKind::Unreadable`] like any other unreadable file.
//!
//! Each file is checked once however many snapshots share it. Problems are collected,
//! not returned as the first error: the result lists everything wrong. `Err` is
//! returned only when the check itself cannot start (the handle's metadata is gone).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::io::location::FileRef;
use crate::io::storage::ParquetSource;
use crate::spec::manifest::{EntryStatus, ManifestFile, read_manifest, read_manifest_list};
use crate::table::Table;

/// What kind of problem [`Table::verify`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemKind {
    /// A referenced file does not exist.
    Missing,
    /// A file's size differs from the size recorded in metadata.
    SizeMismatch,
    /// Row or file counts disagree (manifest vs manifest list, Parquet vs manifest,
    /// summary vs manifests, rows read vs recorded).
    CountMismatch,
    /// A file exists but cannot be read or decoded.
    Unreadable,
    /// The table metadata contradicts itself.
    Inconsistent,
    /// The metadata records another directory as the table's location: the table was
    /// copied or moved and not relocated (`floe relocate`), or it names a file outside
    /// that location.
    Relocated,
}

impl ProblemKind {
    /// A short lower-case name (`missing`, `size`, `count`, `unreadable`, `inconsistent`,
    /// `relocated`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Missing => "missing",
            ProblemKind::SizeMismatch => "size",
            ProblemKind::CountMismatch => "count",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::Inconsistent => "inconsistent",
            ProblemKind::Relocated => "relocated",
        }
    }
}

/// One thing wrong with the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The kind of problem.
    pub kind: ProblemKind,
    /// The file concerned, relative to the table root when it lies inside it.
    pub path: String,
    /// What is wrong, in words.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.kind.as_str(), self.path, self.detail)
    }
}

/// The result of [`Table::verify`]: what was checked and what is wrong.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyReport {
    /// The version checked (`v<N>.metadata.json`; 0 for a catalog-style file).
    pub version: u64,
    /// The metadata file checked.
    pub metadata_path: PathBuf,
    /// The current snapshot, if any.
    pub current_snapshot_id: Option<i64>,
    /// Retained snapshots whose manifest lists were checked.
    pub snapshots: usize,
    /// Distinct manifests checked.
    pub manifests: usize,
    /// Distinct data files checked (live in at least one retained snapshot).
    pub data_files: usize,
    /// Bytes of those data files, as recorded in the manifests.
    pub data_bytes: i64,
    /// Rows in the current snapshot, by its manifests.
    pub current_rows: i64,
    /// Rows read from the data files (deep verification only).
    pub rows_read: Option<i64>,
    /// Whether every row was read.
    pub deep: bool,
    /// Everything wrong, in the order found.
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    /// True when no problem was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A data file to check, with the numbers its manifest recorded.
struct FileToCheck {
    file: FileRef,
    shown: String,
    size: i64,
    records: i64,
}

impl Table {
    /// Checks that every file the retained snapshots reference exists and agrees with
    /// the metadata; `deep` also reads every row. See the [module docs](crate::ops::verify).
    ///
    /// ```no_run
    /// # fn main() -> floe::Result<()> {
    /// let table = floe::Table::open("./events")?;
    /// let report = table.verify(false)?;
    /// for p in &report.problems {
    ///     eprintln!("{p}");
    /// }
    /// assert!(report.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn verify(&self, deep: bool) -> Result<VerifyReport> {
        let state = self.state();
        let md = state.metadata.clone();
        let root = self.path().to_path_buf();
        let mut report = VerifyReport {
            version: state.version,
            metadata_path: state.metadata_path.clone(),
            current_snapshot_id: md.current_snapshot_id,
            deep,
            ..VerifyReport::default()
        };
        let shown_md = shown(&root, &state.metadata_path);
        let problem = |report: &mut VerifyReport, kind, path: &str, detail: String| {
            report.problems.push(Problem { kind, path: path.to_string(), detail });
        };

        if self.check_not_relocated(&md).is_err() {
            problem(
                &mut report,
                ProblemKind::Relocated,
                &shown_md,
                format!(
                    "the metadata records the table's location as {}, not {} (copied or moved?): \
                     writes and maintenance are refused until `floe relocate`",
                    md.location,
                    root.display()
                ),
            );
        }
        if let Some(id) = md.current_snapshot_id
            && md.snapshot(id).is_none()
        {
            problem(
                &mut report,
                ProblemKind::Inconsistent,
                &shown_md,
                format!("current snapshot {id} is not in the snapshot list"),
            );
        }
        for s in &md.snapshots {
            if s.sequence_number > md.last_sequence_number {
                problem(
                    &mut report,
                    ProblemKind::Inconsistent,
                    &shown_md,
                    format!(
                        "snapshot {} has sequence number {} above last-sequence-number {}",
                        s.snapshot_id, s.sequence_number, md.last_sequence_number
                    ),
                );
            }
        }

        let mut seen_manifests: HashSet<String> = HashSet::new();
        let mut seen_files: HashSet<String> = HashSet::new();
        let mut files: Vec<FileToCheck> = Vec::new();
        let mut snapshots = md.snapshots.clone();
        snapshots.sort_by_key(|s| s.sequence_number);
        for snap in &snapshots {
            report.snapshots += 1;
            let list_file = match self.location().resolve(&snap.manifest_list) {
                Ok(p) => p,
                Err(e) => {
                    problem(&mut report, ProblemKind::Relocated, &snap.manifest_list, e.to_string());
                    continue;
                }
            };
            let list_path = list_file.path();
            let list_shown = shown(&root, &list_path);
            let list = match list_file.store.read(&list_file.key) {
                Ok(bytes) => match read_manifest_list(&list_path, &bytes) {
                    Ok(l) => l,
                    Err(e) => {
                        problem(
                            &mut report,
                            ProblemKind::Unreadable,
                            &list_shown,
                            format!("manifest list of snapshot {}: {e}", snap.snapshot_id),
                        );
                        continue;
                    }
                },
                Err(e) => {
                    let kind = missing_or_unreadable(&e);
                    problem(
                        &mut report,
                        kind,
                        &list_shown,
                        format!("manifest list of snapshot {}: {e}", snap.snapshot_id),
                    );
                    continue;
                }
            };
            let is_current = md.current_snapshot_id == Some(snap.snapshot_id);
            let mut live_rows = 0i64;
            let mut live_files = 0i64;
            for m in &list {
                if m.content == crate::spec::manifest::ManifestContent::Data {
                    live_rows += m.added_rows_count + m.existing_rows_count;
                    live_files += m.added_files_count as i64 + m.existing_files_count as i64;
                }
                if !seen_manifests.insert(m.manifest_path.clone()) {
                    continue;
                }
                report.manifests += 1;
                self.check_manifest(&root, m, &mut report, &mut seen_files, &mut files);
            }
            if is_current {
                report.current_rows = live_rows;
                for (key, actual) in [("total-records", live_rows), ("total-data-files", live_files)] {
                    if let Some(recorded) = snap.summary_i64(key)
                        && recorded != actual
                    {
                        problem(
                            &mut report,
                            ProblemKind::CountMismatch,
                            &list_shown,
                            format!(
                                "current snapshot {} summary says {key} = {recorded}, its manifests hold {actual}",
                                snap.snapshot_id
                            ),
                        );
                    }
                }
            }
        }

        report.data_files = files.len();
        report.data_bytes = files.iter().map(|f| f.size).sum();
        let results = check_files(&files, deep);
        let mut rows_read = 0i64;
        for (f, (problems, rows)) in files.iter().zip(results) {
            rows_read += rows.unwrap_or(0);
            for (kind, detail) in problems {
                problem(&mut report, kind, &f.shown, detail);
            }
        }
        if deep {
            report.rows_read = Some(rows_read);
        }
        Ok(report)
    }

    /// Checks one manifest against its manifest-list entry and queues its live data
    /// files (once each) for checking.
    fn check_manifest(
        &self,
        root: &Path,
        m: &ManifestFile,
        report: &mut VerifyReport,
        seen_files: &mut HashSet<String>,
        files: &mut Vec<FileToCheck>,
    ) {
        let manifest_file = match self.location().resolve(&m.manifest_path) {
            Ok(p) => p,
            Err(e) => {
                let problem =
                    Problem { kind: ProblemKind::Relocated, path: m.manifest_path.clone(), detail: e.to_string() };
                report.problems.push(problem);
                return;
            }
        };
        let path = manifest_file.path();
        let shown_path = shown(root, &path);
        let mut push = |kind, detail: String| {
            report.problems.push(Problem { kind, path: shown_path.clone(), detail });
        };
        let bytes = match manifest_file.store.read(&manifest_file.key) {
            Ok(b) => b,
            Err(e) => {
                push(missing_or_unreadable(&e), format!("manifest: {e}"));
                return;
            }
        };
        if m.manifest_length > 0 && bytes.len() as i64 != m.manifest_length {
            push(
                ProblemKind::SizeMismatch,
                format!("manifest is {} bytes, the manifest list records {}", bytes.len(), m.manifest_length),
            );
        }
        let manifest = match read_manifest(&path, &bytes, Some(m)) {
            Ok(x) => x,
            Err(e) => {
                push(ProblemKind::Unreadable, e.to_string());
                return;
            }
        };
        let mut counts = [(0i64, 0i64); 3]; // (files, rows) for added, existing, deleted
        for e in &manifest.entries {
            let slot = match e.status {
                EntryStatus::Added => 0,
                EntryStatus::Existing => 1,
                EntryStatus::Deleted => 2,
            };
            counts[slot].0 += 1;
            counts[slot].1 += e.data_file.record_count;
            if e.status == EntryStatus::Deleted || !seen_files.insert(e.data_file.file_path.clone()) {
                continue;
            }
            let file = match self.location().resolve(&e.data_file.file_path) {
                Ok(p) => p,
                Err(err) => {
                    push(ProblemKind::Relocated, err.to_string());
                    continue;
                }
            };
            files.push(FileToCheck {
                shown: shown(root, &file.path()),
                file,
                size: e.data_file.file_size_in_bytes,
                records: e.data_file.record_count,
            });
        }
        let recorded = [
            ("added", m.added_files_count as i64, m.added_rows_count),
            ("existing", m.existing_files_count as i64, m.existing_rows_count),
            ("deleted", m.deleted_files_count as i64, m.deleted_rows_count),
        ];
        for ((what, files_rec, rows_rec), (files_act, rows_act)) in recorded.into_iter().zip(counts) {
            if files_rec != files_act || rows_rec != rows_act {
                push(
                    ProblemKind::CountMismatch,
                    format!(
                        "{what} entries: the manifest list records {files_rec} file(s) / {rows_rec} row(s), the manifest holds {files_act} / {rows_act}"
                    ),
                );
            }
        }
    }
}

/// One data file's problems and (deep) the rows read from it.
type FileResult = (Vec<(ProblemKind, String)>, Option<i64>);

/// Checks data files in parallel; per file, the problems and (deep) rows read.
///
/// A bounded pool ([`crate::sync`], the machine's cores, at most 8 threads) takes files
/// from a shared queue. Every file gets a result: a panic while checking one file (a
/// corrupt file can make the parquet crate panic) is that file's
/// [`ProblemKind::Unreadable`] problem, and a file whose worker failed is reported too,
/// never silently left unchecked.
fn check_files(files: &[FileToCheck], deep: bool) -> Vec<FileResult> {
    crate::sync::map(files, crate::sync::cpu_workers(), |f| check_file(f, deep))
        .into_iter()
        .map(|r| r.unwrap_or_else(|why| (vec![(ProblemKind::Unreadable, format!("checking panicked: {why}"))], None)))
        .collect()
}

fn check_file(f: &FileToCheck, deep: bool) -> FileResult {
    let mut problems = Vec::new();
    // Opened once through the store: its size, the footer, and (deep) every row.
    let handle = match f.file.store.open_read(&f.file.key, None) {
        Ok(h) => h,
        Err(e) => {
            problems.push((missing_or_unreadable(&e), format!("data file: {e}")));
            return (problems, None);
        }
    };
    if handle.size() as i64 != f.size {
        problems.push((
            ProblemKind::SizeMismatch,
            format!("data file is {} bytes, the manifest records {}", handle.size(), f.size),
        ));
    }
    let path = f.file.path();
    let source = ParquetSource::new(handle);
    let footer = match crate::data::read::read_footer(&source, &path) {
        Ok(m) => m,
        Err(e) => {
            // The path is already on the problem; keep only what is wrong.
            let why = match e {
                crate::Error::Parquet { source, .. } => source.to_string(),
                crate::Error::Io { source, .. } => source.to_string(),
                e => e.to_string(),
            };
            problems.push((ProblemKind::Unreadable, format!("Parquet footer: {why}")));
            return (problems, None);
        }
    };
    let footer_rows = footer.file_metadata().num_rows();
    if footer_rows != f.records {
        problems.push((
            ProblemKind::CountMismatch,
            format!("Parquet footer holds {footer_rows} row(s), the manifest records {}", f.records),
        ));
    }
    if !deep {
        return (problems, None);
    }
    match read_all_rows(source, &path) {
        Ok(rows) => {
            if rows != f.records {
                problems.push((
                    ProblemKind::CountMismatch,
                    format!("read {rows} row(s), the manifest records {}", f.records),
                ));
            }
            (problems, Some(rows))
        }
        Err(e) => {
            problems.push((ProblemKind::Unreadable, format!("reading rows: {e}")));
            (problems, None)
        }
    }
}

/// Decodes every column of every row group and counts the rows. Runs under the same
/// panic guard as scans ([`crate::data::read`]): a decoder panic on a corrupt file is an
/// error of this file.
fn read_all_rows(source: ParquetSource, path: &Path) -> std::result::Result<i64, String> {
    let decode = || -> std::result::Result<i64, String> {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(source)
            .map_err(|e| e.to_string())?
            .with_batch_size(8192)
            .build()
            .map_err(|e| e.to_string())?;
        let mut rows = 0i64;
        for batch in reader {
            rows += batch.map_err(|e| e.to_string())?.num_rows() as i64;
        }
        Ok(rows)
    };
    match crate::data::read::guard(path, decode) {
        Ok(r) => r,
        Err(crate::Error::Parquet { source, .. }) => Err(source.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

fn missing_or_unreadable(e: &std::io::Error) -> ProblemKind {
    if e.kind() == std::io::ErrorKind::NotFound { ProblemKind::Missing } else { ProblemKind::Unreadable }
}

/// `path` relative to the table root when inside it.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).map_or_else(|_| path.display().to_string(), |r| r.display().to_string())
}
