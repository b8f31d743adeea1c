//! Commit statistics per table handle (shared by its clones) in this process.
//!
//! Counts attempts, commits, lost races, rebases that later succeeded, retry budgets
//! exhausted, and keeps commit latencies for percentiles. Bounded memory: latencies
//! are kept in a ring of the most recent [`LATENCY_WINDOW`] commits.

use std::sync::Mutex;
use std::time::Duration;

use crate::sync::lock;

/// How many recent commit latencies are kept for percentiles.
pub const LATENCY_WINDOW: usize = 4096;

/// A copy of a handle's counters.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct CommitStats {
    /// Attempts to create a version file (every try counts).
    pub attempts: u64,
    /// Transactions that committed.
    pub commits: u64,
    /// Attempts that lost the race for a version.
    pub conflicts: u64,
    /// Commits that succeeded after losing at least one race.
    pub retries_succeeded: u64,
    /// Commits rebased over versions other writers committed after their base.
    pub rebased: u64,
    /// Transactions that gave up because the retry policy ran out.
    pub retries_exhausted: u64,
    /// Transactions refused because a concurrent commit made them unsafe.
    pub conflicts_unresolvable: u64,
    /// Median commit latency over the recent window.
    pub latency_p50: Duration,
    /// 90th percentile.
    pub latency_p90: Duration,
    /// 99th percentile.
    pub latency_p99: Duration,
    /// Slowest in the window.
    pub latency_max: Duration,
}

impl CommitStats {
    /// Lost races per attempt (0 when nothing was attempted).
    pub fn conflict_rate(&self) -> f64 {
        if self.attempts == 0 { 0.0 } else { self.conflicts as f64 / self.attempts as f64 }
    }
}

#[derive(Debug, Default)]
struct Inner {
    counters: CommitStats,
    latencies: Vec<Duration>,
    next: usize,
}

/// The recorder behind [`crate::Table::commit_stats`].
#[derive(Debug, Default)]
pub(crate) struct StatsRecorder {
    inner: Mutex<Inner>,
}

/// How one transaction ended, for the recorder.
pub(crate) enum Outcome {
    Committed,
    Exhausted,
    Conflict,
}

impl StatsRecorder {
    pub(crate) fn record(
        &self,
        attempts: u64,
        lost_races: u64,
        rebased_over: u64,
        outcome: Outcome,
        elapsed: Duration,
    ) {
        let mut g = lock(&self.inner);
        g.counters.attempts += attempts;
        g.counters.conflicts += lost_races;
        match outcome {
            Outcome::Committed => {
                g.counters.commits += 1;
                if lost_races > 0 {
                    g.counters.retries_succeeded += 1;
                }
                if rebased_over > 0 {
                    g.counters.rebased += 1;
                }
                if g.latencies.len() < LATENCY_WINDOW {
                    g.latencies.push(elapsed);
                } else {
                    let i = g.next;
                    g.latencies[i] = elapsed;
                }
                g.next = (g.next + 1) % LATENCY_WINDOW;
            }
            Outcome::Exhausted => g.counters.retries_exhausted += 1,
            Outcome::Conflict => g.counters.conflicts_unresolvable += 1,
        }
    }

    pub(crate) fn snapshot(&self) -> CommitStats {
        let g = lock(&self.inner);
        let mut out = g.counters.clone();
        let mut l = g.latencies.clone();
        l.sort();
        let pct = |p: f64| -> Duration {
            if l.is_empty() {
                return Duration::ZERO;
            }
            let idx = ((l.len() as f64 - 1.0) * p).round() as usize;
            l[idx.min(l.len() - 1)]
        };
        out.latency_p50 = pct(0.5);
        out.latency_p90 = pct(0.9);
        out.latency_p99 = pct(0.99);
        out.latency_max = l.last().copied().unwrap_or_default();
        out
    }
}
