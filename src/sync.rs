//! Bounded worker pools: how floe runs blocking work (a commit's fsyncs and file
//! writes, scans, deep verification) on several threads.
//!
//! `map` (crate-internal) runs a function on every item of a slice with at most
//! `max_workers` threads taking items from a shared queue, and returns the results in
//! item order. Promises:
//!
//! * The number of threads never grows with the number of items: a commit of 100,000
//!   files fsyncs them with as many threads as a commit of 20.
//! * Running out of threads is not an error. The calling thread is one of the workers;
//!   a helper the OS refuses to start leaves its share to the others, so the work
//!   finishes on the calling thread alone if need be (`std::thread::Scope::spawn`
//!   would panic instead).
//! * A panic in the function on one item is caught and becomes that item's
//!   `Err(message)`; every other item still runs and gets its result.
//!
//! The caps floe uses: [`WriteOptions::io_threads`](crate::data::write::WriteOptions::io_threads)
//! (default [`DEFAULT_IO_THREADS`]) for a commit's I/O and [`cpu_workers`] for
//! decoding; `docs/format.md` (§10) lists them.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Default of [`WriteOptions::io_threads`](crate::data::write::WriteOptions::io_threads):
/// threads for a commit's fsyncs and file writes. They mostly wait on the disk, so more than the
/// cores help (parallel fsyncs share journal commits), but not without bound.
pub const DEFAULT_IO_THREADS: usize = 16;

/// Most threads floe uses for CPU-bound decoding (scans, `verify --deep`).
pub const MAX_CPU_WORKERS: usize = 8;

/// Threads for CPU-bound work: the machine's cores, at least 1, at most
/// [`MAX_CPU_WORKERS`].
pub fn cpu_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, MAX_CPU_WORKERS)
}

/// Runs `f` on every item with at most `max_workers` threads (the calling thread
/// included); results in item order, a panic on an item as `Err(message)`. See the
/// module docs.
pub(crate) fn map<T, R>(items: &[T], max_workers: usize, f: impl Fn(&T) -> R + Sync) -> Vec<Result<R, String>>
where
    T: Sync,
    R: Send,
{
    let workers = max_workers.clamp(1, items.len().max(1));
    let slots: Vec<Mutex<Option<Result<R, String>>>> = items.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            let r = catch_unwind(AssertUnwindSafe(|| f(item))).map_err(|p| panic_message(&*p));
            *crate::sync::lock(&slots[i]) = Some(r);
        }
    };
    if workers == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 1..workers {
                if std::thread::Builder::new().name("floe-worker".into()).spawn_scoped(scope, work).is_err() {
                    // At the thread limit: the workers already running (and this
                    // thread) take the rest.
                    break;
                }
            }
            work();
        });
    }
    slots
        .into_iter()
        .map(|slot| {
            // Every index below items.len() was taken by a worker that stores its result
            // (panics included) before taking the next; the scope joined them all.
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err("not run: its worker thread failed".to_string()))
        })
        .collect()
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Locks `m`, ignoring poisoning: every value floe keeps behind a mutex is replaced
/// whole, so a panic while holding the lock cannot leave it half-written.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave TableState half-written (it is
    // replaced whole), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_order_panics_per_item_threads_bounded() {
        let items: Vec<u32> = (0..1000).collect();
        let threads = Mutex::new(std::collections::HashSet::new());
        let out = map(&items, 4, |&i| {
            crate::sync::lock(&threads).insert(std::thread::current().id());
            if i % 100 == 7 {
                panic!("item {i}");
            }
            i * 2
        });
        assert_eq!(out.len(), 1000);
        for (i, r) in out.iter().enumerate() {
            if i % 100 == 7 {
                assert_eq!(r.as_ref().unwrap_err(), &format!("item {i}"));
            } else {
                assert_eq!(r.as_ref().unwrap(), &(i as u32 * 2));
            }
        }
        assert!(crate::sync::lock(&threads).len() <= 4);
        assert!(map(&Vec::<u32>::new(), 8, |&i| i).is_empty());
    }
}
