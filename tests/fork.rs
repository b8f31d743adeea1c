//! A process forked after it committed commits in the child: what Python's
//! `multiprocessing` does with the default start method on Linux. floe runs a commit's
//! work (its I/O, the wait for the commit lock) on a process-wide pool of threads
//! (`src/sync.rs`); a forked child has none of the parent's threads, so it must start a
//! pool of its own rather than hand work to threads that do not exist.
//!
//! The test binary re-executes itself (`child_entry`), so the fork happens in a process
//! running no other test. The child commits (its pool now has threads), takes the commit
//! lock itself, and forks; the grandchild's commit finds the lock held and waits for it
//! on a pool thread, which only a pool of the grandchild's own can provide: with the
//! parent's pool its wait would never start and the commit would sit out the 600 s lock
//! timeout set here. The child releases the lock after half a second and allows the
//! grandchild two minutes (a liveness bound, not a speed check).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{batch, ids, schema};
use floe::{Durability, RetryPolicy, Table, TableOptions};

fn options() -> TableOptions {
    let retry =
        RetryPolicy::default().with_lock_timeout(Duration::from_secs(600)).with_total_budget(Duration::from_secs(900));
    TableOptions::default().durability(Durability::Durable).retry(retry)
}

#[test]
fn child_entry() {
    let Ok(dir) = std::env::var("FLOE_FORK_TABLE") else { return };
    let table = Table::open_with(&dir, options()).unwrap();
    table.append(&[batch(1, 1)]).unwrap();
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(std::path::Path::new(&dir).join(".locks/metadata.lock"))
        .unwrap();
    lock.lock().unwrap();
    // SAFETY: this process runs only this test (the harness's main thread waits for it;
    // the pool's threads are idle), and the grandchild only commits and `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = if table.append(&[batch(2, 1)]).is_ok() { 0 } else { 1 };
        // SAFETY: leaves the grandchild without running the harness's exit path twice.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "fork failed");
    std::thread::sleep(Duration::from_millis(500));
    lock.unlock().unwrap();
    let status = wait_for_child(pid, "the forked process's commit (waiting for a lock helper that never ran)");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "forked commit failed: status {status}");
    println!("FORKED COMMIT OK");
}

/// Waits up to two minutes for child `pid`; its exit status, or kills it and panics.
fn wait_for_child(pid: libc::pid_t, what: &str) -> libc::c_int {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; `status` is a valid out-pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return status;
        }
        if Instant::now() > deadline {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("{what} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The child of `a_forked_process_commits_past_the_parents_running_background_delete`.
#[test]
fn child_entry_with_a_delete_running() {
    use std::sync::{Arc, mpsc};

    use floe::storage::LocalStorage;
    use floe::storage::fault::{FaultStorage, Op};

    let Ok(dir) = std::env::var("FLOE_FORK_RUNNING_TABLE") else { return };
    let store = FaultStorage::new(Arc::new(LocalStorage::new(std::fs::canonicalize(&dir).unwrap())));
    let table = Table::open_with(&dir, options().storage(store.clone())).unwrap();
    table.append(&[batch(1, 1)]).unwrap(); // v2
    table.append(&[batch(2, 1)]).unwrap(); // v3
    let (running, started) = mpsc::channel::<()>();
    let (release, held) = mpsc::channel::<()>();
    store.before(Op::Delete, move || {
        let _ = running.send(());
        let _ = held.recv_timeout(Duration::from_secs(300));
    });
    // v4 pushes v1 out of the log (2 kept): its delete runs after the append returns,
    // on a pool thread, and is held there.
    table.append(&[batch(3, 1)]).unwrap();
    started.recv_timeout(Duration::from_secs(60)).unwrap();
    // SAFETY: this process runs only this test (the harness's main thread waits for it;
    // the one busy pool thread blocks in the hook), and the grandchild only commits and
    // `_exit`s.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // The handle's next commit joins its previous delete job, which the parent's
        // thread was running: here no thread ever ends it.
        let code = if table.append(&[batch(4, 1)]).is_ok() { 0 } else { 1 };
        // SAFETY: leaves the grandchild without running the harness's exit path twice.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "fork failed");
    let status = wait_for_child(pid, "the forked process's commit (joining a job its parent's thread was running)");
    release.send(()).unwrap();
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "forked commit failed: status {status}");
    drop(table);
    println!("FORKED COMMIT OK");
}

/// A process forked while its handle's background delete of a retired version file was
/// running (`retire_versions`) commits with the inherited handle: the join of a job a
/// thread of the parent was running returns at once in the child instead of waiting for
/// a thread that is not there.
#[test]
fn a_forked_process_commits_past_the_parents_running_background_delete() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create_with(&path, schema(), options().property("write.metadata.previous-versions-max", "2")).unwrap();
    run_child("child_entry_with_a_delete_running", "FLOE_FORK_RUNNING_TABLE", &path);
    let table = Table::open(&path).unwrap();
    assert_eq!(ids(&table), vec![1, 2, 3, 4]);
    assert_eq!(table.version(), 5);
}

#[test]
fn a_forked_process_commits_on_a_pool_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t");
    Table::create(&path, schema()).unwrap();
    run_child("child_entry", "FLOE_FORK_TABLE", &path);
    assert_eq!(ids(&Table::open(&path).unwrap()), vec![1, 2]);
}

/// Runs this test binary's `entry` as a child process with `env_key` naming the table,
/// and checks that the child's forked grandchild committed.
fn run_child(entry: &str, env_key: &str, path: &std::path::Path) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", entry, "--nocapture", "--test-threads=1"])
        .env(env_key, path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("FORKED COMMIT OK"), "{stdout}");
}
