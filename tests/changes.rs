//! The transaction building blocks that row-level operations and maintenance use:
//! removing files, recording the operation, validators run on rebase, and
//! metadata-only commits. Each test interleaves real transactions on one table.

mod common;

use common::{batch, ids, relaxed, schema};
use floe::{ConflictKind, Error, Operation, RetryPolicy, Table};

fn table_with_files(n: i64) -> (tempfile::TempDir, Table) {
    let dir = tempfile::tempdir().unwrap();
    let table = Table::create_with(dir.path().join("t"), schema(), relaxed()).unwrap();
    for i in 0..n {
        table.append(&[batch(i * 10, 10)]).unwrap();
    }
    (dir, table)
}

#[test]
fn removing_a_file_records_a_delete_snapshot() {
    let (_d, table) = table_with_files(3);
    let files = table.scan().plan().unwrap().files;
    assert_eq!(files.len(), 3);
    let victim = files.iter().find(|f| f.record_count == 10).unwrap().clone();
    let mut tx = table.new_transaction();
    tx.remove_files([victim.clone()]).unwrap();
    assert_eq!(tx.operation(), Operation::Delete);
    let report = tx.commit().unwrap();
    assert_eq!(report.removed_files, 1);
    assert_eq!(report.removed_records, 10);
    assert_eq!(ids(&table).len(), 20);
    let snap = table.current_snapshot().unwrap();
    let s = |k: &str| snap.summary.get(k).cloned();
    assert_eq!(s("operation").as_deref(), Some("delete"));
    assert_eq!(s("deleted-data-files").as_deref(), Some("1"));
    assert_eq!(s("deleted-records").as_deref(), Some("10"));
    assert_eq!(s("total-records").as_deref(), Some("20"));
    assert_eq!(s("total-data-files").as_deref(), Some("2"));
    // The removed file stays for time travel; the previous snapshot still has it.
    assert!(table.resolve_path(&victim.file_path).unwrap().exists());
    let parent = snap.parent_snapshot_id.unwrap();
    assert_eq!(table.scan().snapshot_id(parent).count().unwrap(), 30);
    // A fresh handle agrees, and later appends carry the removal forward.
    table.append(&[batch(100, 1)]).unwrap();
    let again = Table::open(table.path()).unwrap();
    assert_eq!(ids(&again).len(), 21);
    assert!(!again.scan().plan().unwrap().files.iter().any(|f| f.file_path == victim.file_path));
}

#[test]
fn replace_keeps_rows_and_rebases_over_a_concurrent_append() {
    let (_d, table) = table_with_files(4);
    let files = table.scan().plan().unwrap().files;
    let before = ids(&table);
    // Compaction-shaped: rewrite all files into one, while an append lands.
    let mut tx = table.new_transaction();
    tx.set_operation(Operation::Replace);
    tx.remove_files(files).unwrap();
    tx.append(&batch(0, 40)).unwrap();
    let other = Table::open(table.path()).unwrap();
    other.append(&[batch(1000, 3)]).unwrap();
    let report = tx.commit().unwrap();
    assert_eq!(report.rebased_over, 1);
    let mut want = before.clone();
    want.extend(1000..1003);
    want.sort();
    assert_eq!(ids(&table), want);
    assert_eq!(table.scan().plan().unwrap().files.len(), 2);
    assert_eq!(table.current_snapshot().unwrap().operation(), "replace");
}

#[test]
fn two_transactions_removing_the_same_file_cannot_both_commit() {
    let (_d, table) = table_with_files(2);
    let files = table.scan().plan().unwrap().files;
    let mut a = table.new_transaction();
    let mut b = Table::open(table.path()).unwrap().new_transaction();
    a.remove_files([files[0].clone()]).unwrap();
    b.remove_files([files[0].clone()]).unwrap();
    b.append(&batch(500, 1)).unwrap();
    a.commit().unwrap();
    let err = b.commit().unwrap_err();
    match err {
        Error::ConcurrentModification { conflicting, retries_exhausted, .. } => {
            assert!(!retries_exhausted);
            assert!(
                conflicting.iter().any(|c| matches!(c.kind, ConflictKind::FileNoLongerLive { .. })),
                "{conflicting:?}"
            );
            assert!(err_text(&conflicting).contains("no longer live"), "the message says why");
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(ids(&table).len(), 10);
    // The loser's staged data file was deleted.
    let data: Vec<_> = std::fs::read_dir(table.path().join("data")).unwrap().flatten().collect();
    assert_eq!(data.len(), 2);
}

#[test]
fn validators_run_only_on_rebase_and_can_refuse_it() {
    let (_d, table) = table_with_files(1);
    // No rebase: the validator is not consulted.
    let mut tx = table.new_transaction();
    tx.add_validator(|_| panic!("no rebase happened"));
    tx.append(&batch(10, 1)).unwrap();
    tx.commit().unwrap();

    // A rebase: the validator sees exactly what landed.
    let mut tx = table.new_transaction();
    tx.append(&batch(20, 1)).unwrap();
    tx.add_validator(|ctx| {
        let landed = ctx.landed()?;
        assert_eq!(landed.len(), 2);
        assert!(landed.iter().all(|l| l.operation == "append" && l.added.len() == 1 && l.removed.is_empty()));
        let big = landed.iter().any(|l| l.added.iter().any(|f| f.record_count >= 5));
        let why = ConflictKind::Custom { reason: "added a file of 5+ rows".into() };
        Ok(if big { vec![ctx.conflict(why)] } else { Vec::new() })
    });
    let other = Table::open(table.path()).unwrap();
    other.append(&[batch(30, 1)]).unwrap();
    other.append(&[batch(40, 5)]).unwrap();
    let err = tx.commit().unwrap_err();
    assert!(
        matches!(err, Error::ConcurrentModification { ref conflicting, .. } if matches!(&conflicting[0].kind, ConflictKind::Custom { reason } if reason.contains("5+")))
    );
    assert_eq!(ids(&table).len(), 10 + 1 + 1 + 5);
}

#[test]
fn metadata_only_commit_creates_a_version_without_a_snapshot() {
    let (_d, table) = table_with_files(1);
    let snap = table.current_snapshot().unwrap().snapshot_id;
    let version = table.version();
    let mut tx = table.new_transaction();
    tx.set_property("owner", "ops");
    let report = tx.commit().unwrap();
    assert_eq!(report.version, version + 1);
    assert_eq!(table.current_snapshot().unwrap().snapshot_id, snap);
    assert_eq!(table.snapshots().len(), 1);
    assert_eq!(Table::open(table.path()).unwrap().properties().get("owner").map(String::as_str), Some("ops"));
}

#[test]
fn metadata_updates_are_reapplied_on_the_newest_version() {
    let (_d, table) = table_with_files(1);
    let mut tx = table.new_transaction();
    floe::testing::update_metadata(&mut tx, |md| {
        let n = md.properties().get("counter").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        md.properties_mut().insert("counter".into(), (n + 1).to_string());
        Ok(())
    });
    let other = Table::open(table.path()).unwrap();
    let mut bump = other.new_transaction();
    bump.set_property("counter", "10");
    bump.commit().unwrap();
    other.append(&[batch(50, 1)]).unwrap();
    tx.commit().unwrap();
    let fresh = Table::open(table.path()).unwrap();
    assert_eq!(fresh.properties().get("counter").map(String::as_str), Some("11"));
    assert_eq!(ids(&fresh).len(), 11, "the metadata commit kept the append that landed before it");
}

#[test]
fn an_update_that_fails_commits_nothing() {
    let (_d, table) = table_with_files(1);
    let version = table.version();
    let mut tx = table.new_transaction();
    floe::testing::update_metadata(&mut tx, |_| Err(Error::InvalidArgument("refused".into())));
    assert!(matches!(tx.commit(), Err(Error::InvalidArgument(_))));
    assert_eq!(Table::open(table.path()).unwrap().version(), version);
}

#[test]
fn removing_under_compare_and_commit_reports_what_landed() {
    let (_d, table) = table_with_files(2);
    let files = table.scan().plan().unwrap().files;
    let mut tx = table.new_transaction().with_retry(RetryPolicy::none());
    tx.remove_files([files[1].clone()]).unwrap();
    Table::open(table.path()).unwrap().append(&[batch(70, 1)]).unwrap();
    assert!(matches!(tx.commit(), Err(Error::ConcurrentModification { .. })));
}

#[test]
fn a_removal_rebases_over_an_append_and_conflicts_with_a_schema_change() {
    let (_d, table) = table_with_files(2);
    let files = table.scan().plan().unwrap().files;
    let mut tx = table.new_transaction();
    tx.remove_files([files[0].clone()]).unwrap();
    Table::open(table.path()).unwrap().append(&[batch(90, 2)]).unwrap();
    tx.commit().unwrap();
    assert_eq!(ids(&table).len(), 12);

    let files = table.scan().plan().unwrap().files;
    let mut tx = table.new_transaction();
    tx.remove_files([files[0].clone()]).unwrap();
    let other = Table::open(table.path()).unwrap();
    let mut schema_change = other.new_transaction();
    floe::testing::update_metadata(&mut schema_change, |md| {
        let mut s = md.current_schema().clone();
        s.schema_id = md.schemas().iter().map(|s| s.schema_id).max().unwrap_or(0) + 1;
        md.set_current_schema_id(s.schema_id);
        md.schemas_mut().push(s);
        Ok(())
    });
    schema_change.commit().unwrap();
    let err = tx.commit().unwrap_err();
    assert!(
        matches!(err, Error::ConcurrentModification { ref conflicting, .. } if conflicting.iter().any(|c| matches!(c.kind, ConflictKind::SchemaChanged { .. }))),
        "{err}"
    );
}

/// The conflicts' human messages, joined.
fn err_text(conflicts: &[floe::Conflict]) -> String {
    conflicts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; ")
}
