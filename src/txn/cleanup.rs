//! Commit-time cleanup: bounds `metadata/` without manual maintenance.
//!
//! Commits trim snapshots (`floe.commit.retain-snapshots`) and delete version files
//! that leave the metadata log (`write.metadata.delete-after-commit.enabled`), but the
//! manifest lists and manifests of trimmed snapshots used to stay until orphan cleanup.
//! Every `floe.commit.cleanup-interval` versions the committer starts one bounded pass,
//! on a background thread after its commit has returned, that deletes:
//!
//! * the manifest lists of **dead** snapshots: named by neither the newest metadata nor
//!   the oldest version its metadata log keeps (`v<F>`), and either written before
//!   `v<F>` was built (minus a clock margin) or named by a version below `F` that this
//!   handle's own commit created. "Built" is the earlier of `v<F>`'s `last-updated-ms`
//!   and its file's modification time: the first runs ahead of the clock under a fast
//!   clock or under commits less than 1 ms apart (each version's is at least 1 ms after
//!   the last), the second is late in a copied table; a list compared with a time that
//!   is late can look old while a version still needs it. The second way needs no
//!   clock: it is what keeps a fast writer's `metadata/` from holding a margin's worth
//!   of commits (at ~800 commits/s, 1 s of lists and their manifests was over a third
//!   of it after 10,000 appends: 9 of 23.5 MB, docs/benchmarks.md);
//! * the manifests those lists name that no other manifest list in `metadata/` names.
//!
//! Why this never deletes a file someone may need:
//!
//! * A snapshot is in a contiguous range of versions (a trimmed or expired snapshot
//!   never comes back), so a snapshot in no kept version's range, not in `v<F>` nor in
//!   the newest, was added after `v<F>` (its list is then younger than `v<F>`, kept by
//!   the age rule) or left before `v<F>`: no kept version, hence no reader by version,
//!   snapshot id or timestamp, reaches it. Older version files are already deleted.
//!   The same holds for a list (a relocation gives a snapshot a new list, never an old
//!   one back): one that a version below `F` names and `v<F>` does not is named by no
//!   version from `F` on, whatever its age. Only this handle's own commits are known to
//!   have linked a version naming a list, so other writers' lists wait for the age rule.
//! * An in-flight transaction's manifest list is named by no version. If it is younger
//!   than `v<F>` it is kept; if older, it was built on a version below `F` and cannot be
//!   linked: its exclusive create fails (a new attempt writes a new list), or, in a
//!   hole left by a deleted version file, `check_not_a_hole` withdraws it or the
//!   post-link check reports [`crate::Error::CommitFilesMissing`]. Its own manifests
//!   are never candidates (only files a dead list names are), nor are manifests any
//!   other list names, in-flight lists included.
//! * Unreadable is not unreferenced: a kept list that cannot be read (other than gone)
//!   or a newest-metadata snapshot whose list is missing stops the pass before any
//!   delete; a dead list that cannot be read is left alone.
//!
//! Data files are never deleted here (that is `expire_snapshots`), so a scan already
//! planned keeps reading. Tables datashard writes to, warehouse tables and tables
//! without `delete-after-commit` are left alone.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::io::location::TableLocation;
use crate::io::storage::Key;
use crate::spec::manifest::read_manifest_list_paths;
use crate::sync::lock;
use crate::table::{ListCache, Listed, Table, TableState, is_object_store, load_version, properties};

/// What one pass deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    pub lists: usize,
    pub manifests: usize,
}

/// Called after a commit returned (or is about to): starts a pass on a background
/// thread when `state.version` is a multiple of the interval, unless this handle's
/// previous pass is still running.
pub(crate) fn after_commit(table: &Table, state: &TableState) {
    let md = &state.metadata;
    let interval = md.property_i64(properties::CLEANUP_INTERVAL, properties::DEFAULT_CLEANUP_INTERVAL);
    if interval <= 0 || !state.version.is_multiple_of(interval as u64) || !applies(md) {
        return;
    }
    let mut running = lock(&table.inner.cleanup.running);
    if running.as_ref().is_some_and(|h| !h.is_finished()) {
        return;
    }
    if let Some(h) = running.take() {
        let _ = h.join();
    }
    let location = table.location().clone();
    let cache = table.inner.cleanup.lists.clone();
    let state = state.clone();
    let job = move || match pass(&location, &state, &cache) {
        Ok(s) => {
            tracing::debug!("cleanup after v{}: {} manifest lists, {} manifests", state.version, s.lists, s.manifests)
        }
        Err(e) => tracing::debug!("cleanup after v{} stopped: {e}", state.version),
    };
    // On the pool; the handle's last drop joins it (running it there if no thread has).
    *running = Some(crate::sync::spawn(job));
}

/// Whether commit-time cleanup may run on this table at all.
fn applies(md: &crate::spec::metadata::TableMetadata) -> bool {
    md.property_bool(properties::DELETE_AFTER_COMMIT, false)
        && !md.properties.contains_key(properties::WAREHOUSE)
        && !crate::txn::datashard_writes_here(md)
}

/// How much older than `v<F>` a list must be: clocks of writers on one host agree
/// (the margin covers a clock step); an object store stamps objects with its own clock.
fn margin(location: &TableLocation, md: &crate::spec::metadata::TableMetadata) -> Duration {
    let default = if is_object_store(location.store().as_ref()) { 300_000 } else { 1_000 };
    Duration::from_millis(md.property_i64(properties::CLEANUP_MARGIN_MS, default).max(0) as u64)
}

/// One cleanup pass for the newest metadata `state` (see the module doc).
pub(crate) fn pass(location: &TableLocation, state: &TableState, cache: &ListCache) -> Result<Swept> {
    let md = &state.metadata;
    if !applies(md) {
        return Ok(Swept::default());
    }
    let dir = location.metadata_dir();
    // The kept window's oldest version; a log entry that is not one of our version
    // files (another engine's naming) leaves the window unknown: do nothing.
    let mut floor = state.version;
    for e in &md.metadata_log {
        let Some(v) = location.version_named(&e.metadata_file) else {
            return Ok(Swept::default());
        };
        floor = floor.min(v);
    }
    if floor >= state.version {
        return Ok(Swept::default());
    }
    // When `v<F>` was built: the earlier of the time its writer recorded and its file's
    // modification time (the store's clock, the one that stamps the lists). Either
    // alone can be late: `last-updated-ms` runs ahead of the clock when its writer's
    // clock is fast or when commits come less than a millisecond apart (each version's
    // is at least 1 ms after the one before), and a copied or restored table's files
    // carry the time of the copy. The file time is asked first: a later commit may drop
    // `v<F>` from the window at any moment.
    let floor_key = location.version_file(floor);
    let written = match location.store().head(&floor_key).map(|m| m.modified) {
        Ok(Some(t)) => t,
        // Gone already, or a store without times: this pass cannot judge ages.
        Ok(None) => return Ok(Swept::default()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Swept::default()),
        Err(e) => return Err(Error::io(location.path(&floor_key), e)),
    };
    let oldest = load_version(location, floor)?;
    let recorded = UNIX_EPOCH + Duration::from_millis(oldest.metadata.last_updated_ms.max(0) as u64);
    let cutoff = recorded.min(written).checked_sub(margin(location, md)).unwrap_or(UNIX_EPOCH);

    let newest: HashSet<Key> =
        md.snapshots.iter().map(|s| location.confined_key(&s.manifest_list)).collect::<Result<_>>()?;
    let mut live = newest.clone();
    for s in &oldest.metadata.snapshots {
        live.insert(location.confined_key(&s.manifest_list)?);
    }
    // Only manifest lists are looked at (on a local disk, only they are lstat'ed: the
    // versions and manifests beside them are most of `metadata/`).
    let is_list = |k: &Key| {
        let name = k.name();
        k.parent().as_ref() == Some(&dir) && name.starts_with("snap-") && name.ends_with(".avro")
    };
    let listing = location.store().list_where(Some(&dir), &is_list).map_err(|e| Error::io(location.path(&dir), e))?;
    let mut dead = Vec::new();
    let mut kept = Vec::new();
    {
        // A list this handle's commit linked in a version below `F` is dead at any age.
        let known = lock(cache);
        let named_below_floor = |k: &Key| known.get(k).and_then(|l| l.named_by).is_some_and(|v| v < floor);
        for o in &listing.objects {
            let old = o.modified.is_some_and(|m| m < cutoff) || named_below_floor(&o.key);
            if !live.contains(&o.key) && old { dead.push(o.key.clone()) } else { kept.push(o.key.clone()) }
        }
    }
    if dead.is_empty() {
        return Ok(Swept::default());
    }
    // Every snapshot of the newest metadata must have its list: a missing one means we
    // cannot know what it names.
    let present: HashSet<&Key> = kept.iter().collect();
    if let Some(missing) = newest.iter().find(|k| !present.contains(k)) {
        return Err(Error::io(location.path(missing), std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    // The manifests dead lists name are the candidates; every one a kept list names is
    // struck off (looked up, not copied: kept lists name thousands of manifests, most
    // of them the same ones).
    let mut lists: Vec<Key> = Vec::new();
    let mut dead_named = Vec::new();
    for k in &dead {
        if let Ok(Some(ms)) = manifests_of(location, cache, k) {
            dead_named.push(ms);
            lists.push(k.clone());
        }
    }
    let mut candidates: HashSet<&Key> = dead_named
        .iter()
        .flat_map(|ms| ms.iter())
        .filter(|m| m.parent().as_ref() == Some(&dir) && m.name().ends_with(".avro"))
        .collect();
    for k in &kept {
        match manifests_of(location, cache, k) {
            Ok(Some(ms)) => {
                for m in ms.iter() {
                    candidates.remove(m);
                }
            }
            // Deleted meanwhile by another process's pass: it was dead there.
            Ok(None) => {}
            Err(e) => return Err(e),
        }
    }
    let manifests: Vec<Key> = candidates.into_iter().cloned().collect();
    // Manifests first: an interrupted pass leaves dead lists that the next pass finds.
    let mut swept = Swept::default();
    for m in &manifests {
        if std::env::var_os("FLOE_DEBUG_CLEANUP").is_some() {
            let by: Vec<&Key> =
                dead.iter().filter(|d| lock(cache).get(*d).is_some_and(|l| l.manifests.contains(m))).collect();
            eprintln!(
                "DEBUG pass v{} floor {} deletes {} named by dead {:?}; kept {}",
                state.version,
                floor,
                m,
                by,
                kept.len()
            );
        }
        if deleted(location.store().delete(m)) {
            swept.manifests += 1;
        }
    }
    for l in &lists {
        if deleted(location.store().delete(l)) {
            swept.lists += 1;
        }
    }
    // Forget what was not listed, except lists this handle's commits published after
    // `state` (written after the listing: the next pass lists them).
    let keep: HashSet<&Key> = kept.iter().collect();
    lock(cache).retain(|k, l| keep.contains(k) || l.named_by.is_some_and(|v| v > state.version));
    Ok(swept)
}

fn deleted(r: std::io::Result<()>) -> bool {
    match r {
        Ok(()) => true,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::debug!("cleanup could not delete a file: {e}");
            }
            false
        }
    }
}

/// The manifests a manifest list names (as keys in the table), from the cache or read;
/// `None` if the list is gone.
fn manifests_of(location: &TableLocation, cache: &ListCache, key: &Key) -> Result<Option<Arc<Vec<Key>>>> {
    if let Some(l) = lock(cache).get(key) {
        return Ok(Some(l.manifests.clone()));
    }
    let path = location.path(key);
    let bytes = match location.store().read(key) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let list = read_manifest_list_paths(&path, &bytes)?;
    let keys: Vec<Key> = list.iter().map(|m| location.confined_key(m)).collect::<Result<_>>()?;
    let keys = Arc::new(keys);
    lock(cache).entry(key.clone()).or_insert_with(|| Listed { manifests: keys.clone(), named_by: None });
    Ok(Some(keys))
}

/// Seeds the cache with the list of the current snapshot of `version`, which this
/// handle's commit just linked (no read needed later; and a pass may delete the list
/// once `version` is below the kept window, without waiting for the clock margin).
pub(crate) fn remember(table: &Table, list_uri: &str, manifests: &[crate::spec::manifest::ManifestFile], version: u64) {
    let location = table.location();
    let Ok(key) = location.confined_key(list_uri) else { return };
    let keys: Result<Vec<Key>> = manifests.iter().map(|m| location.confined_key(&m.manifest_path)).collect();
    if let Ok(keys) = keys {
        lock(&table.inner.cleanup.lists).insert(key, Listed { manifests: Arc::new(keys), named_by: Some(version) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::{NestedField, PrimitiveType, Schema};
    use crate::{Durability, TableOptions};
    use arrow_array::{Int64Array, RecordBatch};

    fn append(table: &Table, id: i64) {
        let schema = Arc::new(table.schema().to_arrow());
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![id]))]).unwrap();
        table.append(&[batch]).unwrap();
    }

    /// A version stamped ahead of the clock (by a writer on a machine whose clock is
    /// fast, or by commits less than a millisecond apart: `last-updated-ms` grows by at
    /// least 1 ms per version) must not make the lists written after it look old. The
    /// pass of `v8` runs after `v9` and `v10` were committed (a background pass while
    /// its handle commits on): the list of `v10`'s snapshot is in neither `v8` nor its
    /// oldest kept version `v5`, and must stay because it is younger than `v5`.
    #[test]
    fn a_version_stamped_ahead_of_the_clock_does_not_make_younger_lists_dead() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TableOptions::default()
            .durability(Durability::Relaxed)
            .property(properties::RETAIN_SNAPSHOTS, "2")
            .property(properties::PREVIOUS_VERSIONS_MAX, "3")
            .property(properties::CLEANUP_INTERVAL, "0")
            .property(properties::CLEANUP_MARGIN_MS, "0");
        let schema = Schema::new(vec![NestedField::required(1, "id", PrimitiveType::Long)]).unwrap();
        let table = Table::create_with(dir.path(), schema, opts).unwrap();
        for id in 0..3 {
            append(&table, id); // v2..v4
        }
        // The lists so far are clearly older than what follows.
        std::thread::sleep(Duration::from_millis(50));
        // v5: the metadata of v4, stamped ten minutes ahead by its writer.
        let location = table.location().clone();
        let v4 = table.state();
        let mut md = (*v4.metadata).clone();
        md.last_updated_ms += 600_000;
        crate::txn::push_metadata_log(&mut md, &v4, &location);
        location.store().put_new(&location.version_file(5), &md.to_json_bytes().unwrap(), false).unwrap();
        for id in 3..6 {
            append(&table, id); // v6..v8, each stamped 1 ms after the one before
        }
        // v9 keeps v5 on disk (as it was when the pass of v8 read it), v10 appends.
        let mut tx = table.new_transaction();
        tx.set_property(properties::DELETE_AFTER_COMMIT, "false");
        tx.commit().unwrap();
        append(&table, 6);
        assert_eq!(table.version(), 10);
        let v8 = load_version(&location, 8).unwrap();
        let swept = pass(&location, &v8, &ListCache::default()).unwrap();
        // Only the list of v2's snapshot is dead (in neither v8 nor v5, written before v5).
        assert_eq!(swept, Swept { lists: 1, manifests: 0 });
        let fresh = Table::open(dir.path()).unwrap();
        let report = fresh.verify().unwrap();
        assert!(report.problems.is_empty(), "{report:?}");
        let rows: usize = fresh.scan().to_batches().unwrap().iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 7);
    }
}
