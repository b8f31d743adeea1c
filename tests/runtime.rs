//! The synchronous API works inside and outside a tokio runtime: create, append, scan,
//! maintenance and verify called from a `#[tokio::test]` task (multi-thread and
//! current-thread runtimes), from `spawn_blocking` (how an async caller such as
//! DataFusion should call it), and from a plain thread. floe's core is synchronous and
//! never blocks on a caller's runtime, so none of these can hit tokio's "cannot start a
//! runtime from within a runtime" panic (docs/design.md, "I/O, async and the storage
//! contract").

mod common;

use std::time::Duration;

use common::{batch, ids, schema};
use floe::{CompactOptions, Durability, OrphanOptions, Table, TableOptions};

/// Everything a user does with a table, through the synchronous API.
fn exercise(dir: &std::path::Path, durability: Durability) {
    let path = dir.join("t");
    let options = TableOptions::default().durability(durability);
    let table = Table::create_with(&path, schema(), options.clone()).unwrap();
    for i in 0..3 {
        table.append(&[batch(i * 10, 2)]).unwrap();
    }
    assert_eq!(ids(&table), vec![0, 1, 10, 11, 20, 21]);
    let compacted = table.compact(&CompactOptions::default()).unwrap();
    assert!(compacted.data_files_removed >= 3, "{compacted:?}");
    let mut orphans = OrphanOptions::default().older_than(Duration::from_secs(0));
    orphans.allow_short_grace = true;
    orphans.dry_run = true;
    table.remove_orphans(&orphans).unwrap();
    assert!(table.verify(true).unwrap().is_ok());
    let reopened = Table::open_with(&path, options).unwrap();
    assert_eq!(reopened.scan().count().unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_api_works_inside_a_multi_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    exercise(dir.path(), Durability::Durable);
}

#[tokio::test]
async fn the_sync_api_works_inside_a_current_thread_runtime() {
    let dir = tempfile::tempdir().unwrap();
    exercise(dir.path(), Durability::Relaxed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_api_works_from_spawn_blocking_and_concurrent_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create(&path, schema()).unwrap();
    // Several tasks commit to one table at once, each on the blocking pool.
    let tasks: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            tokio::task::spawn_blocking(move || Table::open(&path).unwrap().append(&[batch(i * 100, 3)]).unwrap())
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let table = Table::open(&path).unwrap();
    assert_eq!(table.version(), 5);
    assert_eq!(table.scan().count().unwrap(), 12);
}

#[test]
fn the_sync_api_works_on_a_plain_thread() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    std::thread::spawn(move || exercise(&d, Durability::Durable)).join().unwrap();
}
