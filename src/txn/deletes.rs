//! Writing row-level delete files (merge-on-read): position delete files for rows of
//! live data files, equality delete files by column values, the delete manifests that
//! list them, and the rebase checks that keep deleted rows deleted.
//!
//! Promises:
//! - A position delete file lists positions of one data file, sorted, with the data
//!   file's partition and spec; its `file_path` bounds are that path exactly (so
//!   readers prune it for every other file and know which file it references).
//! - Position deletes are only committed while the data file they name is live: if a
//!   concurrent commit removed or rewrote it (compaction, copy-on-write), the commit
//!   fails with [`ConflictKind::FileNoLongerLive`] instead of losing the deletes.
//! - A transaction that removes data files (copy-on-write, compaction) conflicts with a
//!   concurrent commit that added delete files that may apply to them
//!   ([`ConflictKind::DeletesAdded`]): rebasing would copy rows the other commit
//!   deleted into new files the deletes no longer reach.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};

use crate::data::write::{DataFileWriter, conform_batch};
use crate::error::{Conflict, ConflictKind, Error, Result};
use crate::io::storage::Key;
use crate::scan::{DELETE_FILE_PATH_ID, position_delete_schema};
use crate::spec::manifest::{
    DataContent, DataFile, EntryStatus, ManifestContent, ManifestEntry, ManifestFile, ManifestWriteContext,
    read_manifest, write_manifest,
};
use crate::spec::metadata::TableMetadata;
use crate::spec::types::Schema;
use crate::table::read_files;

use super::Transaction;

/// A delete file staged by a transaction, with the spec it was written for.
#[derive(Debug, Clone)]
pub(crate) struct StagedDelete {
    pub(crate) spec_id: i32,
    pub(crate) file: DataFile,
}

impl Transaction {
    /// Stages a position delete file deleting rows `positions` (0-based row numbers) of
    /// the live data file `file_path` of the base snapshot (merge-on-read). Nothing is
    /// visible until commit; the commit fails with a conflict if a concurrent commit
    /// removed or rewrote the file first.
    pub fn delete_positions(&mut self, file_path: &str, positions: &[u64]) -> Result<()> {
        let plan = self.table().scan().as_of_version(self.base_version()).select(Vec::<String>::new()).plan()?;
        let i = plan.files.iter().position(|f| f.file_path == file_path).ok_or_else(|| {
            Error::InvalidArgument(format!("{file_path} is not a live data file of version {}", self.base_version()))
        })?;
        let file = plan.files[i].clone();
        for p in positions {
            if *p >= u64::try_from(file.record_count).unwrap_or(0) {
                return Err(Error::InvalidArgument(format!(
                    "position {p} is past the end of {file_path} ({} rows)",
                    file.record_count
                )));
            }
        }
        self.stage_position_deletes(plan.spec_ids[i], &file, positions)
    }

    /// Stages an equality delete file: every row whose `columns` equal one of the rows
    /// of `keys` (a batch with at least those columns; nulls match nulls) is deleted from
    /// the data files committed before this transaction. Only unpartitioned tables
    /// (the file applies to every data file).
    pub fn delete_equal(&mut self, columns: &[&str], keys: &RecordBatch) -> Result<()> {
        self.check_can_write()?;
        let md = Arc::clone(self.base_metadata());
        let spec = md.default_spec().cloned().unwrap_or_else(crate::spec::metadata::PartitionSpec::unpartitioned);
        if !spec.fields.is_empty() {
            return Err(Error::Unsupported {
                what: "writing equality delete files on a partitioned table (floe writes them unpartitioned)".into(),
            });
        }
        if columns.is_empty() {
            return Err(Error::InvalidArgument("delete_equal needs at least one column".into()));
        }
        let schema = md.current_schema();
        let mut fields = Vec::with_capacity(columns.len());
        for c in columns {
            let f = schema
                .field_by_name(c)
                .ok_or_else(|| Error::InvalidArgument(format!("no column {c:?} in the table schema")))?;
            if f.field_type.as_primitive().is_none() {
                return Err(Error::InvalidArgument(format!("equality deletes need primitive columns, not {c:?}")));
            }
            fields.push(f.clone());
        }
        let del_schema = Schema::new(fields)?;
        let arrow = keys.schema();
        let mut projected: Vec<ArrayRef> = Vec::with_capacity(columns.len());
        let mut arrow_fields = Vec::with_capacity(columns.len());
        for c in columns {
            let i = arrow.index_of(c).map_err(|_| Error::SchemaMismatch {
                field: (*c).to_string(),
                reason: "missing from the keys batch".into(),
            })?;
            projected.push(Arc::clone(keys.column(i)));
            arrow_fields.push(arrow.field(i).clone());
        }
        let batch = RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(arrow_fields)), projected)?;
        let batch = conform_batch(&del_schema, &batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let ids: Vec<i32> = del_schema.fields().iter().map(|f| f.id).collect();
        let mut df = self.write_delete_file(&del_schema, &batch, "eq")?;
        df.content = DataContent::EqualityDeletes;
        df.equality_ids = Some(ids);
        df.partition = Vec::new();
        self.delete_files.push(StagedDelete { spec_id: spec.spec_id, file: df });
        Ok(())
    }

    /// Drops live delete files of the base snapshot (compaction applied them to every
    /// data file they named, which it removes in the same commit). A conflict at
    /// commit if one is no longer live.
    pub(crate) fn remove_delete_files(&mut self, files: Vec<DataFile>) -> Result<()> {
        self.check_can_write()?;
        for f in files {
            self.table().location().confined_key(&f.file_path)?;
            if !self.removed_deletes.iter().any(|r| r.file_path == f.file_path) {
                self.removed_deletes.push(f);
            }
        }
        Ok(())
    }

    /// Writes a position delete file for `data` (of spec `spec_id`) and stages it.
    pub(crate) fn stage_position_deletes(&mut self, spec_id: i32, data: &DataFile, positions: &[u64]) -> Result<()> {
        if positions.is_empty() {
            return Ok(());
        }
        let writer = self.position_delete_writer(1)?;
        let written = writer.write(0, data, positions);
        self.stage_written_delete(spec_id, data, written)
    }

    /// A writer of up to `count` position delete files for this transaction, usable
    /// from several threads at once (row-level operations write one per data file in
    /// parallel); stage what it wrote with [`Transaction::stage_written_delete`].
    pub(crate) fn position_delete_writer(&mut self, count: usize) -> Result<PositionDeleteWriter> {
        self.check_can_write()?;
        let mut opts = self.table().inner.options.write.clone();
        // Made durable with the commit's other files.
        opts.durable = false;
        let first = self.delete_file_names;
        self.delete_file_names += count;
        Ok(PositionDeleteWriter {
            storage: self.table().inner.storage.clone(),
            dir: self.table().location().data_dir(),
            opts,
            commit: self.commit_id.simple().to_string(),
            first,
            count,
        })
    }

    /// Stages a delete file written by a [`PositionDeleteWriter`] for `data`: the
    /// files it created become this transaction's (deleted if it does not commit),
    /// whether or not the write succeeded.
    pub(crate) fn stage_written_delete(&mut self, spec_id: i32, data: &DataFile, written: WrittenDelete) -> Result<()> {
        self.created.extend(written.created);
        self.delete_dir_created |= written.created_dir;
        let df = written.file?;
        self.delete_files.push(StagedDelete { spec_id, file: df });
        if !self.delete_targets.iter().any(|t| t == &data.file_path) {
            self.delete_targets.push(data.file_path.clone());
        }
        Ok(())
    }

    fn write_delete_file(&mut self, schema: &Schema, batch: &RecordBatch, kind: &str) -> Result<DataFile> {
        let mut opts = self.table().inner.options.write.clone();
        opts.durable = false;
        let n = self.delete_file_names;
        self.delete_file_names += 1;
        let prefix = format!("{}-{kind}-deletes-{n}", self.commit_id.simple());
        let storage = self.table().inner.storage.clone();
        let written = write_one_file(storage, Some(self.table().location().data_dir()), &prefix, schema, batch, opts);
        self.created.extend(written.created);
        self.delete_dir_created |= written.created_dir;
        written.file
    }

    /// The manifests listing our delete files, one per partition spec, for sequence
    /// number `seq` (new paths every attempt: they are small).
    pub(crate) fn delete_manifests(
        &mut self,
        md: &TableMetadata,
        seq: i64,
        writes: &mut Vec<(Key, Vec<u8>)>,
    ) -> Result<Vec<ManifestFile>> {
        let mut out = Vec::new();
        let mut specs: Vec<i32> = self.delete_files.iter().map(|d| d.spec_id).collect();
        specs.sort_unstable();
        specs.dedup();
        for spec_id in specs {
            let spec = md
                .partition_specs
                .iter()
                .find(|s| s.spec_id == spec_id)
                .cloned()
                .ok_or_else(|| Error::NotFound { what: format!("partition spec {spec_id}") })?;
            let files: Vec<DataFile> =
                self.delete_files.iter().filter(|d| d.spec_id == spec_id).map(|d| d.file.clone()).collect();
            let entries: Vec<ManifestEntry> = files
                .iter()
                .map(|f| ManifestEntry {
                    status: EntryStatus::Added,
                    snapshot_id: Some(self.snapshot_id),
                    sequence_number: Some(seq),
                    file_sequence_number: Some(seq),
                    data_file: f.clone(),
                })
                .collect();
            let schema = md.current_schema();
            let ctx = ManifestWriteContext { schema, spec: &spec, content: ManifestContent::Deletes };
            let bytes = write_manifest(&ctx, &entries)?;
            let partitions = crate::data::partition::partition_summaries(&spec, schema, &files)?;
            let path = self.next_manifest_path();
            out.push(ManifestFile {
                manifest_path: self.table().location().uri(&path),
                manifest_length: bytes.len() as i64,
                partition_spec_id: spec_id,
                content: ManifestContent::Deletes,
                sequence_number: seq,
                min_sequence_number: seq,
                added_snapshot_id: self.snapshot_id,
                added_files_count: files.len() as i32,
                existing_files_count: 0,
                deleted_files_count: 0,
                added_rows_count: files.iter().map(|f| f.record_count).sum(),
                existing_rows_count: 0,
                deleted_rows_count: 0,
                partitions: Some(partitions),
                key_metadata: None,
            });
            writes.push((path, bytes));
        }
        Ok(out)
    }

    /// Conflicts for a commit onto `parent` (the newest snapshot's manifests): data
    /// files our position deletes name that are no longer live, and delete files added
    /// after our base that may apply to data files we remove.
    pub(crate) fn delete_conflicts(&self, parent: &[ManifestFile]) -> Result<Vec<Conflict>> {
        let mut out = Vec::new();
        let base_seq = self.base.metadata.last_sequence_number;
        let check_targets = !self.delete_targets.is_empty();
        let check_removed = !self.removed.is_empty();
        if !check_targets && !check_removed {
            return Ok(out);
        }
        let wanted: Vec<&ManifestFile> = parent
            .iter()
            .filter(|m| match m.content {
                ManifestContent::Data => check_targets,
                ManifestContent::Deletes => check_removed && m.sequence_number > base_seq,
            })
            .collect();
        let uris: Vec<&str> = wanted.iter().map(|m| m.manifest_path.as_str()).collect();
        let mut live: HashSet<String> = HashSet::new();
        let removed_paths: Vec<(&str, String)> =
            self.removed.iter().map(|f| (f.file_path.as_str(), format!("{:?}", f.partition))).collect();
        for (m, (file, bytes)) in wanted.iter().zip(read_files(self.table(), &uris)?) {
            let manifest = read_manifest(&file.path(), &bytes, Some(m))?;
            for e in manifest.entries {
                if e.status == EntryStatus::Deleted {
                    continue;
                }
                match m.content {
                    ManifestContent::Data => {
                        live.insert(e.data_file.file_path);
                    }
                    ManifestContent::Deletes => {
                        if e.sequence_number.unwrap_or(m.sequence_number) <= base_seq {
                            continue;
                        }
                        let d = &e.data_file;
                        let part = format!("{:?}", d.partition);
                        for (path, p) in &removed_paths {
                            let applies = match d.content {
                                DataContent::PositionDeletes => *p == part && crate::scan::path_in_bounds(d, path),
                                _ => d.partition.is_empty() || *p == part,
                            };
                            if applies {
                                out.push(Conflict::new(
                                    0,
                                    None,
                                    ConflictKind::DeletesAdded {
                                        path: (*path).to_string(),
                                        delete_file: d.file_path.clone(),
                                    },
                                ));
                            }
                        }
                    }
                }
            }
        }
        if check_targets {
            for t in &self.delete_targets {
                if !live.contains(t) {
                    out.push(Conflict::new(0, None, ConflictKind::FileNoLongerLive { path: t.clone() }));
                }
            }
        }
        Ok(out)
    }
}

/// Writes position delete files of one transaction, from any thread: file `slot`
/// (below the count reserved) is named `<commit id>-pos-deletes-<first + slot>`.
#[derive(Debug)]
pub(crate) struct PositionDeleteWriter {
    storage: Arc<dyn crate::io::storage::Storage>,
    dir: Key,
    opts: crate::data::write::WriteOptions,
    commit: String,
    first: usize,
    count: usize,
}

/// What writing one delete file created (to clean up if the transaction does not
/// commit), and the file or why it failed.
#[derive(Debug)]
pub(crate) struct WrittenDelete {
    created: Vec<Key>,
    created_dir: bool,
    file: Result<DataFile>,
}

impl PositionDeleteWriter {
    /// Writes the position delete file deleting rows `positions` (0-based, any order)
    /// of the data file `data`.
    pub(crate) fn write(&self, slot: usize, data: &DataFile, positions: &[u64]) -> WrittenDelete {
        let failed = |e: Error| WrittenDelete { created: Vec::new(), created_dir: false, file: Err(e) };
        if slot >= self.count {
            return failed(Error::InvalidArgument(format!("delete file slot {slot} not reserved (a floe bug)")));
        }
        let mut sorted: Vec<i64> = Vec::with_capacity(positions.len());
        for p in positions {
            match i64::try_from(*p) {
                Ok(v) => sorted.push(v),
                Err(_) => return failed(Error::InvalidArgument(format!("position {p} out of range"))),
            }
        }
        sorted.sort_unstable();
        sorted.dedup();
        let batch = position_delete_schema().and_then(|schema| {
            let paths = StringArray::from(vec![data.file_path.as_str(); sorted.len()]);
            let batch = RecordBatch::try_new(
                Arc::new(schema.to_arrow()),
                vec![Arc::new(paths) as ArrayRef, Arc::new(Int64Array::from(sorted)) as ArrayRef],
            )?;
            Ok((schema, batch))
        });
        let (schema, batch) = match batch {
            Ok(x) => x,
            Err(e) => return failed(e),
        };
        let prefix = format!("{}-pos-deletes-{}", self.commit, self.first + slot);
        let mut written =
            write_one_file(self.storage.clone(), Some(self.dir.clone()), &prefix, &schema, &batch, self.opts.clone());
        if let Ok(df) = written.file.as_mut() {
            df.content = DataContent::PositionDeletes;
            df.partition = data.partition.clone();
            // Exact bounds: the one file this delete file references.
            df.lower_bounds.insert(DELETE_FILE_PATH_ID, data.file_path.as_bytes().to_vec());
            df.upper_bounds.insert(DELETE_FILE_PATH_ID, data.file_path.as_bytes().to_vec());
        }
        written
    }
}

/// Writes `batch` as one Parquet file `<prefix>-0.parquet` under `dir`.
fn write_one_file(
    storage: Arc<dyn crate::io::storage::Storage>,
    dir: Option<Key>,
    prefix: &str,
    schema: &Schema,
    batch: &RecordBatch,
    opts: crate::data::write::WriteOptions,
) -> WrittenDelete {
    let mut w = DataFileWriter::with_storage(storage, dir, prefix, schema, opts);
    let res = w.write(batch);
    let created = w.created_keys().to_vec();
    let created_dir = w.created_dir();
    let file = res.and_then(|()| {
        let mut files = w.finish()?;
        match (files.pop(), files.is_empty()) {
            (Some(f), true) => Ok(f),
            _ => Err(Error::InvalidArgument("a delete file write produced no single file (a floe bug)".into())),
        }
    });
    WrittenDelete { created, created_dir, file }
}

/// Whether `table`'s row-level operations write delete files instead of rewriting
/// data files: the Iceberg property for the operation (`write.delete.mode`,
/// `write.update.mode`, `write.merge.mode`) is `merge-on-read`, and datashard (which
/// reads no delete files) does not write to the table.
pub(crate) fn merge_on_read(md: &TableMetadata, property: &str) -> bool {
    md.properties.get(property).is_some_and(|v| v.eq_ignore_ascii_case("merge-on-read"))
        && !super::datashard_writes_here(md)
}
