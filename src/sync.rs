//! Worker threads: how floe runs blocking work (a commit's fsyncs and file writes, the
//! commit lock's wait, scans, deep verification, background cleanup) on several threads.
//!
//! Two ways, by what the work borrows:
//!
//! * [`map`] runs a function that borrows the caller's data (a scan plan, a file list) on
//!   scoped threads started for the call.
//! * [`map_owned`], [`spawn`] and [`spawn_detached`] run work that owns its data on one
//!   process-wide pool of threads, so a commit does not start threads: a durable
//!   single-row commit used to start four to six (each a `clone3`, a stack mapped and
//!   unmapped, an exit), about 8 % of a commit's CPU time with eight committing processes
//!   on two cores (perf, `bench/profile_append.py`).
//!
//! The pool is written here rather than taken from rayon or a thread-pool crate for two
//! properties they do not have: it survives `fork()` (Python's multiprocessing forks
//! processes that already committed; a forked child has none of the parent's threads, so
//! it starts a pool of its own instead of waiting forever on workers that do not exist),
//! and no caller ever depends on a free worker (work no thread has started is run by the
//! thread that needs its result).
//!
//! Promises:
//!
//! * `map` and `map_owned` run a function on every item with at most `max_workers`
//!   threads taking items from a shared queue, and return the results in item order. The
//!   number of threads never grows with the number of items: a commit of 100,000 files
//!   fsyncs them with as many threads as a commit of 20.
//! * Running out of threads is not an error. The calling thread is one of the workers, and
//!   [`Job::join`] runs a job that has not started yet on the joining thread: with no
//!   other thread at all, the work finishes on the calling thread alone.
//! * A panic in the function on one item (or in a job) is caught and becomes that item's
//!   `Err(message)`; every other item still runs and gets its result.
//! * The pool grows on demand up to [`MAX_POOL_THREADS`]; a thread idle for
//!   [`IDLE_EXIT`] exits, so a process that committed once does not keep threads.
//!
//! The caps floe uses: [`WriteOptions::io_threads`](crate::data::write::WriteOptions::io_threads)
//! (default [`DEFAULT_IO_THREADS`]) for a commit's I/O and [`cpu_workers`] for
//! decoding; `docs/format.md` (§10) lists them.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Default of [`WriteOptions::io_threads`](crate::data::write::WriteOptions::io_threads):
/// threads for a commit's fsyncs and file writes. They mostly wait on the disk, so more than the
/// cores help (parallel fsyncs share journal commits), but not without bound.
pub const DEFAULT_IO_THREADS: usize = 16;

/// Most threads floe uses for CPU-bound decoding (scans, `verify --deep`).
pub const MAX_CPU_WORKERS: usize = 8;

/// Most threads the process-wide pool keeps. Work beyond it waits for a thread or runs on
/// the thread that needs it (see the module docs), so the cap bounds threads, not work.
pub const MAX_POOL_THREADS: usize = 64;

/// How long a pool thread waits for work before it exits.
pub const IDLE_EXIT: Duration = Duration::from_secs(30);

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

/// [`map`] for work that owns its data, on the pool: `f` runs on every item with at most
/// `max_workers` threads (the calling thread included); results in item order, a panic
/// on an item as `Err(message)`.
pub(crate) fn map_owned<T, R, F>(items: Vec<T>, max_workers: usize, f: F) -> Vec<Result<R, String>>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
    F: Fn(&T) -> R + Send + Sync + 'static,
{
    struct Shared<T, R, F> {
        items: Vec<T>,
        slots: Vec<Mutex<Option<Result<R, String>>>>,
        next: AtomicUsize,
        f: F,
    }
    impl<T, R, F: Fn(&T) -> R> Shared<T, R, F> {
        fn work(&self) {
            loop {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                let (Some(item), Some(slot)) = (self.items.get(i), self.slots.get(i)) else { break };
                let r = catch_unwind(AssertUnwindSafe(|| (self.f)(item))).map_err(|p| panic_message(&*p));
                *lock(slot) = Some(r);
            }
        }
    }
    let workers = max_workers.clamp(1, items.len().max(1));
    let slots = items.iter().map(|_| Mutex::new(None)).collect();
    let shared = Arc::new(Shared { items, slots, next: AtomicUsize::new(0), f });
    let helpers: Vec<Job<()>> = (1..workers)
        .map(|_| {
            let theirs = Arc::clone(&shared);
            spawn(move || theirs.work())
        })
        .collect();
    shared.work();
    // A helper no thread has started runs here and finds no item left.
    for h in helpers {
        let _ = h.join();
    }
    shared
        .slots
        .iter()
        .map(|slot| lock(slot).take().unwrap_or_else(|| Err("not run: its worker thread failed".to_string())))
        .collect()
}

/// Work handed to the pool.
type Task = Box<dyn FnOnce() + Send + 'static>;

/// The pool of one process (see [`pool`] for the `fork()` case).
struct Pool {
    pid: u32,
    state: Mutex<PoolState>,
    wake: Condvar,
}

struct PoolState {
    queue: VecDeque<Task>,
    threads: usize,
    idle: usize,
}

/// Generations of `fork()` that get a pool of their own; deeper descendants run pool work
/// on threads started for it, as before the pool.
const FORK_GENERATIONS: usize = 16;

/// One pool per generation: a process uses the first slot whose pool it created.
static POOLS: [OnceLock<Pool>; FORK_GENERATIONS] = [const { OnceLock::new() }; FORK_GENERATIONS];

/// The slot of the newest generation seen by this process (inherited by a forked child,
/// which then moves past it).
static GENERATION: AtomicUsize = AtomicUsize::new(0);

/// This process's pool, created on first use. A child forked from a process that had one
/// inherits that pool's memory but none of its threads (and its lock may have been held
/// by a thread of the parent at the fork): the child never touches it and takes the next
/// generation's slot instead. Siblings forked from one parent each take the same next
/// slot in their own copies of memory, so the slots bound the depth of forks, not their
/// number. (The one window left: a fork in the instant a thread of the parent is creating
/// its first pool leaves that slot's `OnceLock` mid-initialisation in the child.)
fn pool() -> Option<&'static Pool> {
    let pid = std::process::id();
    loop {
        let generation = GENERATION.load(Ordering::Acquire);
        let p = POOLS.get(generation)?.get_or_init(|| Pool {
            pid,
            state: Mutex::new(PoolState { queue: VecDeque::new(), threads: 0, idle: 0 }),
            wake: Condvar::new(),
        });
        if p.pid == pid {
            return Some(p);
        }
        // Losing this race means another thread of this process moved on already.
        let _ = GENERATION.compare_exchange(generation, generation + 1, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Queues `task` and makes sure a thread will look at it: an idle one is woken, or a new
/// one started while under the cap. A thread the OS refuses leaves the task queued for
/// the next free worker (a joiner runs its job itself meanwhile).
fn submit(task: Task) {
    let Some(p) = pool() else {
        // Past the last fork generation with a pool: a thread of its own (a joiner runs
        // the job itself if the OS refuses it).
        let _ = std::thread::Builder::new().name("floe-worker".into()).spawn(task);
        return;
    };
    let mut s = lock(&p.state);
    s.queue.push_back(task);
    if s.idle >= s.queue.len() || s.threads >= MAX_POOL_THREADS {
        p.wake.notify_one();
        return;
    }
    s.threads += 1;
    drop(s);
    if std::thread::Builder::new().name("floe-worker".into()).spawn(move || worker(p)).is_err() {
        lock(&p.state).threads -= 1;
    }
}

/// A pool thread: runs queued tasks; exits after [`IDLE_EXIT`] without one.
fn worker(p: &'static Pool) {
    let mut s = lock(&p.state);
    loop {
        if let Some(task) = s.queue.pop_front() {
            drop(s);
            // Tasks catch their own panics (Slot::run); this keeps the thread count right
            // if one ever did not.
            let _ = catch_unwind(AssertUnwindSafe(task));
            s = lock(&p.state);
            continue;
        }
        s.idle += 1;
        let (guard, waited) = p.wake.wait_timeout(s, IDLE_EXIT).unwrap_or_else(|e| e.into_inner());
        s = guard;
        s.idle -= 1;
        if waited.timed_out() && s.queue.is_empty() {
            s.threads -= 1;
            return;
        }
    }
}

/// Runs `f` on a pool thread without waiting for it (background work whose result nobody
/// needs). It may never run if the OS refuses every thread.
pub(crate) fn spawn_detached(f: impl FnOnce() + Send + 'static) {
    submit(Box::new(move || {
        let _ = catch_unwind(AssertUnwindSafe(f));
    }));
}

/// Runs `f` on a pool thread; [`Job::join`] waits for its result.
pub(crate) fn spawn<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Job<R> {
    let slot = Arc::new(Slot { state: Mutex::new(JobState::Pending(Box::new(f))), done: Condvar::new() });
    let theirs = Arc::clone(&slot);
    submit(Box::new(move || theirs.run()));
    Job { slot }
}

/// A job on the pool. Dropping it without joining lets it run to its end unobserved.
pub(crate) struct Job<R> {
    slot: Arc<Slot<R>>,
}

#[cfg(test)]
impl<R: Send + 'static> Job<R> {
    /// A job no pool thread will ever take (tests of the paths where no thread is free).
    pub(crate) fn pending_for_tests(f: impl FnOnce() -> R + Send + 'static) -> Job<R> {
        Job { slot: Arc::new(Slot { state: Mutex::new(JobState::Pending(Box::new(f))), done: Condvar::new() }) }
    }

    /// A job a thread of process `pid` is running (as a forked child sees its parent's).
    pub(crate) fn running_in_for_tests(pid: u32) -> Job<R> {
        Job { slot: Arc::new(Slot { state: Mutex::new(JobState::Running(pid)), done: Condvar::new() }) }
    }
}

impl<R> std::fmt::Debug for Job<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("finished", &self.is_finished()).finish()
    }
}

struct Slot<R> {
    state: Mutex<JobState<R>>,
    done: Condvar,
}

enum JobState<R> {
    Pending(Box<dyn FnOnce() -> R + Send>),
    /// Being run by a thread of the process with this id.
    Running(u32),
    Done(Result<R, String>),
    Taken,
}

impl<R> Slot<R> {
    /// Runs the job if nobody has yet (a pool thread, or a joiner that got there first).
    fn run(&self) {
        let f = {
            let mut s = lock(&self.state);
            match std::mem::replace(&mut *s, JobState::Running(std::process::id())) {
                JobState::Pending(f) => f,
                other => {
                    *s = other;
                    return;
                }
            }
        };
        let r = catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_message(&*p));
        *lock(&self.state) = JobState::Done(r);
        self.done.notify_all();
    }
}

impl<R> Job<R> {
    /// The job's result (a panic as `Err(message)`). A job no thread has started yet is
    /// run here, on the joining thread, so a join never waits for a free pool thread.
    /// A job a thread of another process was running (this process was forked from it
    /// meanwhile, with a copy of the job but not of that thread) never ends here: its
    /// join is `Err` at once instead of a wait forever.
    pub(crate) fn join(self) -> Result<R, String> {
        self.slot.run();
        let mut s = lock(&self.slot.state);
        loop {
            match std::mem::replace(&mut *s, JobState::Taken) {
                JobState::Done(r) => return r,
                JobState::Taken => return Err("job result already taken".into()),
                JobState::Running(pid) if pid != std::process::id() => {
                    return Err(format!("the job was running in process {pid} when this one was forked from it"));
                }
                other => {
                    *s = other;
                    s = self.slot.done.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// Runs the job here, on the calling thread, if no thread has started it yet; returns
    /// at once if one has. A caller that waits for what the job sends it (not for its
    /// result) calls this first, so it never waits for a job no thread will run.
    pub(crate) fn start_here(&self) {
        self.slot.run();
    }

    /// Whether the job has run to its end, or never will in this process (a thread of
    /// the process this one was forked from was running it): either way a join returns
    /// at once.
    pub(crate) fn is_finished(&self) -> bool {
        match *lock(&self.slot.state) {
            JobState::Done(_) | JobState::Taken => true,
            JobState::Running(pid) => pid != std::process::id(),
            JobState::Pending(_) => false,
        }
    }
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

    /// A forked child holds copies of its parent's jobs but none of its threads: a job a
    /// parent's thread was running would never end in the child.
    #[test]
    fn a_job_another_process_was_running_is_joined_at_once_with_an_error() {
        let job: Job<u32> = Job::running_in_for_tests(std::process::id().wrapping_add(1));
        assert!(job.is_finished());
        let err = job.join().unwrap_err();
        assert!(err.contains("forked"), "{err}");
        // This process's own running job is not finished.
        let own: Job<u32> = Job::running_in_for_tests(std::process::id());
        assert!(!own.is_finished());
    }

    /// 1000 results of `i * 2` in order, item `i % 100 == 7` having panicked.
    fn assert_doubled_in_order(out: &[std::result::Result<u32, String>]) {
        assert_eq!(out.len(), 1000);
        for (i, r) in out.iter().enumerate() {
            if i % 100 == 7 {
                assert_eq!(r.as_ref().unwrap_err(), &format!("item {i}"));
            } else {
                assert_eq!(r.as_ref().unwrap(), &(i as u32 * 2));
            }
        }
    }

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
        assert_doubled_in_order(&out);
        assert!(crate::sync::lock(&threads).len() <= 4);
        assert!(map(&Vec::<u32>::new(), 8, |&i| i).is_empty());
    }

    #[test]
    fn map_owned_results_in_order_panics_per_item_threads_bounded() {
        let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let seen = Arc::clone(&threads);
        let out = map_owned((0..1000u32).collect(), 4, move |&i| {
            crate::sync::lock(&seen).insert(std::thread::current().id());
            if i % 100 == 7 {
                panic!("item {i}");
            }
            i * 2
        });
        assert_doubled_in_order(&out);
        assert!(crate::sync::lock(&threads).len() <= 4);
        assert!(map_owned(Vec::<u32>::new(), 8, |&i| i).is_empty());
    }

    #[test]
    fn pool_threads_are_reused_not_started_per_job() {
        // 300 jobs one after another: a thread per job would give 300 distinct ids (ids
        // are never reused); the pool (shared with tests running at the same time) has at
        // most MAX_POOL_THREADS, and a join may run the job on this thread.
        let ids: std::collections::HashSet<_> =
            (0..300).map(|_| spawn(|| std::thread::current().id()).join().unwrap()).collect();
        assert!(ids.len() <= MAX_POOL_THREADS + 1, "{} threads for 300 sequential jobs", ids.len());
    }

    #[test]
    fn jobs_report_panics_and_finish() {
        let job = spawn(|| -> u32 { panic!("boom") });
        assert_eq!(job.join().unwrap_err(), "boom");
        let job = spawn(|| 7);
        assert_eq!(job.join().unwrap(), 7);
        let (tx, rx) = std::sync::mpsc::channel();
        spawn_detached(move || tx.send(5).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 5);
        // A job whose result is never joined still runs to its end.
        let (tx, rx) = std::sync::mpsc::channel();
        let job = spawn(move || tx.send(1).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 1);
        while !job.is_finished() {
            std::thread::yield_now();
        }
    }

    #[test]
    fn a_job_no_thread_took_runs_on_the_joiner() {
        // Fill every pool thread with jobs blocked on a gate, then one more job: no thread
        // is free for it, so its join must run it here.
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let blockers: Vec<_> = (0..MAX_POOL_THREADS + 4)
            .map(|_| {
                let gate = Arc::clone(&gate);
                spawn(move || {
                    let mut open = lock(&gate.0);
                    while !*open {
                        open = gate.1.wait(open).unwrap();
                    }
                })
            })
            .collect();
        let here = std::thread::current().id();
        assert_eq!(spawn(move || std::thread::current().id() == here).join(), Ok(true));
        *lock(&gate.0) = true;
        gate.1.notify_all();
        for b in blockers {
            b.join().unwrap();
        }
    }
}
