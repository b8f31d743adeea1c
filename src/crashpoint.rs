//! Test-only crash points and injected failures inside the commit path (for the SIGKILL
//! crash-cycle test and the CLI's fault tests).
//!
//! `FLOE_CRASH_POINT=<phase>:<n>` makes the process abort (no destructors, no flush:
//! as abrupt as SIGKILL for the file system) the `n`-th time it reaches `<phase>`;
//! `<phase>` may be `any` to count every phase. The phases, in commit order:
//!
//! | phase            | reached after                                                  |
//! |------------------|----------------------------------------------------------------|
//! | `staged`         | a batch was written to the transaction's data file(s)          |
//! | `attempt-written`| manifest list and metadata temp file written (before the link) |
//! | `prestaged`      | data files fsynced, our manifest written, age checked: the link is next |
//! | `linked`         | `v<N>.metadata.json` was linked (before the directory fsync)   |
//! | `synced`         | the metadata directory was fsynced (before hint and cleanup)   |
//! | `committed`      | everything, just before `commit` returns `Ok`                  |
//!
//! A warehouse transaction (src/warehouse) has its own phases, in order:
//!
//! | phase            | reached after                                                  |
//! |------------------|----------------------------------------------------------------|
//! | `mt-staged`      | every table's staged metadata written (the catalog create is next) |
//! | `mt-committed`   | `catalog/v<K+1>.json` created: the commit point                |
//! | `mt-published`   | one table's `v<N+1>.metadata.json` published (once per table)  |
//! | `mt-done`        | everything, just before `commit` returns `Ok`                  |
//!
//! `FLOE_CRASH_POINT=<phase>:<n>:stop` stops the process there instead (a real SIGSTOP,
//! as a suspended VM or `kill -STOP` would); it goes on when sent SIGCONT.
//!
//! The variable is read once per process; without it every [`hit`] is one atomic load.
//!
//! `FLOE_FAIL_POINT=<name>` makes the operation `<name>` report an injected I/O error
//! every time it runs, for tests that drive the `floe` binary (which has no fault-
//! injecting storage). Names: `sync-metadata-dir` (the fsync of `metadata/` after the
//! commit point). Read once per process, like `FLOE_CRASH_POINT`.
//! Not part of the public API.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Point {
    phase: String,
    at: u64,
    seen: AtomicU64,
    /// `…:stop`: SIGSTOP instead of abort (the process goes on after SIGCONT).
    stop: bool,
}

fn config() -> Option<&'static Point> {
    static CONFIG: OnceLock<Option<Point>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let v = std::env::var("FLOE_CRASH_POINT").ok()?;
            let (phase, rest) = v.split_once(':')?;
            let (at, stop) = match rest.split_once(':') {
                Some((at, "stop")) => (at, true),
                Some(_) => return None,
                None => (rest, false),
            };
            Some(Point { phase: phase.to_string(), at: at.parse().ok()?, seen: AtomicU64::new(0), stop })
        })
        .as_ref()
}

/// Marks reaching `phase`; aborts (or stops) the process if it is the configured
/// crash point.
#[inline]
pub(crate) fn hit(phase: &'static str) {
    if let Some(p) = config()
        && (p.phase == phase || p.phase == "any")
        && p.seen.fetch_add(1, Ordering::SeqCst) + 1 == p.at
    {
        if p.stop {
            stop_self();
        } else {
            std::process::abort();
        }
    }
}

/// Sends SIGSTOP to this process (through `kill(1)`: the crate has no unsafe code) and
/// returns once it is continued; aborts if it cannot be stopped, so a test never
/// mistakes "not stopped" for "stopped and continued".
///
/// A signal sent to a process is taken by any one of its threads, and the group stop
/// reaches the calling thread only once that thread has acted on it: `kill(1)` may
/// return before this thread is stopped (seen: a writer linked its version before it
/// stopped). So the caller then sleeps; the group stop lands inside the sleep, which
/// resumes after SIGCONT, and only then does the commit go on.
fn stop_self() {
    let stopped = std::process::Command::new("kill")
        .args(["-STOP", &std::process::id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    if !stopped {
        std::process::abort();
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
}

/// True when `FLOE_FAIL_POINT` names `name`: the caller reports an injected error
/// instead of doing the operation.
#[inline]
pub(crate) fn fail(name: &'static str) -> bool {
    static FAIL: OnceLock<Option<String>> = OnceLock::new();
    FAIL.get_or_init(|| std::env::var("FLOE_FAIL_POINT").ok()).as_deref() == Some(name)
}
