//! Running totals of what a sandbox ran, for an embedder's metrics (`islet serve` exposes
//! them at `/metrics`). Plain atomics: counting costs a few nanoseconds per execution.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::limits::Limit;
use crate::outcome::Outcome;

/// Every limit kind, in the order [`SandboxStats::limit_hits`] reports them.
const LIMITS: [Limit; 6] = [
    Limit::Memory,
    Limit::Cpu,
    Limit::Wall,
    Limit::Stack,
    Limit::Output,
    Limit::HostCalls,
];

#[derive(Debug, Default)]
pub(crate) struct Counters {
    executions: AtomicU64,
    failed: AtomicU64,
    limit_hits: [AtomicU64; LIMITS.len()],
    host_calls: AtomicU64,
    cpu_us: AtomicU64,
    wall_us: AtomicU64,
    worker_restarts: AtomicU64,
}

impl Counters {
    pub(crate) fn record(&self, outcome: &Outcome) {
        self.executions.fetch_add(1, Ordering::Relaxed);
        self.host_calls
            .fetch_add(u64::from(outcome.stats.host_calls), Ordering::Relaxed);
        self.cpu_us
            .fetch_add(outcome.stats.cpu_us, Ordering::Relaxed);
        self.wall_us
            .fetch_add(outcome.stats.wall_us, Ordering::Relaxed);
        if let Some(error) = &outcome.error {
            self.failed.fetch_add(1, Ordering::Relaxed);
            if let Some(limit) = error.limit
                && let Some(i) = LIMITS.iter().position(|l| *l == limit)
            {
                self.limit_hits[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn worker_restarted(&self) {
        self.worker_restarts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> SandboxStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SandboxStats {
            executions: read(&self.executions),
            failed: read(&self.failed),
            limit_hits: LIMITS
                .iter()
                .zip(&self.limit_hits)
                .map(|(limit, hits)| (*limit, read(hits)))
                .collect(),
            host_calls: read(&self.host_calls),
            cpu_us: read(&self.cpu_us),
            wall_us: read(&self.wall_us),
            worker_restarts: read(&self.worker_restarts),
        }
    }
}

/// Totals since the sandbox started ([`crate::Sandbox::stats`]). Executions are one-off
/// runs and session runs (agent turns) alike; readiness probes are not counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxStats {
    /// Executions that finished, successful or not.
    pub executions: u64,
    /// Executions that ended in an error (thrown, syntax, limit, sandbox failure).
    pub failed: u64,
    /// Executions ended by each limit, every kind listed (zeros included).
    pub limit_hits: Vec<(Limit, u64)>,
    /// Host function calls made by the code.
    pub host_calls: u64,
    /// Microseconds of JavaScript run, summed.
    pub cpu_us: u64,
    /// Microseconds from start to outcome, summed.
    pub wall_us: u64,
    /// Worker processes started to replace one that died or was killed (process
    /// isolation only).
    pub worker_restarts: u64,
}
