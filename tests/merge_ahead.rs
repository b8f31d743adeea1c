//! Commit-time manifest merging off every commit's path (`merge_ahead` in
//! src/txn/mod.rs): once a commit leaves a manifest list that calls for a merge, the
//! handle builds the merged manifest in the background and a later commit adds it, if its
//! parent still lists every manifest the merge folds. The merge must never count a file
//! twice or bring back a deleted row, whoever committed in between.
//!
//! The background build of a few one-row manifests takes well under a millisecond; the
//! tests give it up to two seconds (`settle`) where they check that a merge landed. The
//! row checks hold whether or not it did.

mod common;

use std::time::Duration;

use common::{batch, ids, relaxed};
use floe::expr::col;
use floe::{Table, TableOptions};

fn options() -> TableOptions {
    relaxed().property("commit.manifest.min-count-to-merge", "4")
}

fn manifest_count(table: &Table) -> usize {
    table.manifests(&table.current_snapshot().unwrap()).unwrap().len()
}

/// Appends one row at a time until a commit lands a merge (the list shrinks), waiting a
/// little between appends so the background build can finish; returns the appends made.
fn append_until_merged(table: &Table, next_id: &mut i64, max: usize) -> usize {
    for n in 1..=max {
        let before = manifest_count(table);
        table.append(&[batch(*next_id, 1)]).unwrap();
        *next_id += 1;
        if manifest_count(table) < before + 1 {
            return n;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no merge landed in {max} appends");
}

fn settle() {
    std::thread::sleep(Duration::from_secs(2));
}

/// A new table with ids 0..4 appended one per commit through one handle, returned: its
/// fourth commit made a merge due, and the handle has had time to build it.
fn merge_built_by_first_handle(dir: &std::path::Path) -> Table {
    let a = Table::create_with(dir, common::schema(), options()).unwrap();
    for i in 0..4 {
        a.append(&[batch(i, 1)]).unwrap();
    }
    settle();
    a
}

#[test]
fn a_merge_built_in_the_background_lands_with_a_later_commit() {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path(), common::schema(), options()).unwrap();
    for i in 0..4 {
        table.append(&[batch(i, 1)]).unwrap();
    }
    assert_eq!(manifest_count(&table), 4, "the fourth commit's list calls for a merge");
    settle();
    table.append(&[batch(4, 1)]).unwrap();
    let manifests = table.manifests(&table.current_snapshot().unwrap()).unwrap();
    assert!(manifests.len() < 5, "the commit after the merge was built adds it: {} manifests", manifests.len());
    let merged: Vec<_> = manifests.iter().filter(|m| m.existing_files_count > 1).collect();
    assert_eq!(merged.len(), 1, "{manifests:?}");
    assert_eq!(merged[0].added_snapshot_id, table.current_snapshot().unwrap().snapshot_id);
    assert_eq!(merged[0].sequence_number, table.current_snapshot().unwrap().sequence_number);
    assert_eq!(ids(&table), (0..5).collect::<Vec<_>>());
    assert!(table.verify().unwrap().problems.is_empty());
    // A fresh handle (no background state) reads the same.
    assert_eq!(ids(&Table::open(dir.path()).unwrap()), (0..5).collect::<Vec<_>>());
}

#[test]
fn a_merge_is_not_used_once_a_manifest_it_folds_was_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    // A's merge of ids 0..4's manifests is built; another handle deletes id 0, which
    // rewrites the manifest that lists its file.
    let a = merge_built_by_first_handle(dir.path());
    let b = Table::open_with(dir.path(), options()).unwrap();
    b.delete(col("id").eq(0)).unwrap();
    a.refresh().unwrap();
    a.append(&[batch(10, 1)]).unwrap();
    // Had A's merge been added, id 0 would be back.
    assert_eq!(ids(&Table::open(dir.path()).unwrap()), vec![1, 2, 3, 10]);
    assert!(a.verify().unwrap().problems.is_empty());
    // Merging still happens afterwards, from the new snapshot.
    let mut next = 11;
    append_until_merged(&a, &mut next, 20);
    let mut want = vec![1, 2, 3];
    want.extend(10..next);
    assert_eq!(ids(&Table::open(dir.path()).unwrap()), want);
}

#[test]
fn merges_built_by_several_handles_never_count_a_file_twice() {
    // Three handles take turns appending; each builds merges from its own view, some
    // of which another handle's merge makes stale. Every row must be there exactly
    // once after every commit, and merges must keep the list short.
    let dir = tempfile::tempdir().unwrap();
    let first = Table::create_with(dir.path(), common::schema(), options()).unwrap();
    let handles =
        [first, Table::open_with(dir.path(), options()).unwrap(), Table::open_with(dir.path(), options()).unwrap()];
    let mut want = Vec::new();
    let mut most = 0;
    for i in 0..60i64 {
        let h = &handles[(i % 3) as usize];
        h.refresh().unwrap();
        h.append(&[batch(i, 1)]).unwrap();
        want.push(i);
        if i % 7 == 3 {
            // A delete now and then rewrites a manifest some pending merge folds.
            let gone = i - 2;
            h.delete(col("id").eq(gone)).unwrap();
            want.retain(|x| *x != gone);
        }
        let fresh = Table::open(dir.path()).unwrap();
        assert_eq!(ids(&fresh), want, "after commit {i}");
        most = most.max(manifest_count(&fresh));
        if i % 10 == 9 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert!(most <= 8, "the list grew to {most} manifests (twice min-count is 8)");
    assert!(Table::open(dir.path()).unwrap().verify().unwrap().problems.is_empty());
}

#[test]
fn only_the_writer_that_made_a_merge_due_builds_it_at_once() {
    // With many writers, every one that saw a list calling for a merge built it (each
    // reading every manifest it folds) at the same moment. Now the writer whose commit
    // made it due builds it; another builds one only once the list has grown half of
    // min-count (2 here) past the threshold.
    let dir = tempfile::tempdir().unwrap();
    // A's fourth commit made the merge due: A built it.
    let a = merge_built_by_first_handle(dir.path());
    let b = Table::open_with(dir.path(), options()).unwrap();
    let mut counts = Vec::new();
    for i in 4..7 {
        b.append(&[batch(i, 1)]).unwrap();
        counts.push(manifest_count(&b));
        settle();
    }
    // B did not build a merge at 4 or 5 manifests (its second commit would have added
    // it); its commit that left 6 (4 + 2) did, and its next commit added it.
    assert_eq!(&counts[..2], &[5, 6], "{counts:?}");
    assert!(counts[2] < 7, "B's third commit adds the merge it built at 6: {counts:?}");
    // A's merge folds manifests B's merge replaced: not used, and no row is counted twice.
    a.refresh().unwrap();
    a.append(&[batch(7, 1)]).unwrap();
    assert_eq!(ids(&Table::open(dir.path()).unwrap()), (0..8).collect::<Vec<_>>());
    assert!(a.verify().unwrap().problems.is_empty());
}
