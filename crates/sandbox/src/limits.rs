//! Per-execution limits and what each one guarantees against a hostile guest.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// Hard limits for one execution. Every limit hit ends the execution with a
/// [`JsError`](crate::JsError) whose `limit` names it; guest code cannot catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Bytes the isolate's heap may hold (QuickJS's allocator refuses beyond it).
    pub memory_bytes: usize,
    /// Milliseconds the isolate may spend running JavaScript. Time spent waiting for host
    /// calls or timers does not count; wall time bounds that.
    pub cpu_ms: u64,
    /// Milliseconds from start to outcome, including awaiting host calls and timers.
    pub wall_ms: u64,
    /// Bytes of native stack JavaScript may use (deep recursion ends here).
    pub stack_bytes: usize,
    /// Bytes of output: the serialised result plus every log line.
    pub output_bytes: usize,
    /// Number of host calls (bindings) one execution may start.
    pub host_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            cpu_ms: 5_000,
            wall_ms: 30_000,
            stack_bytes: 1 << 20,
            output_bytes: 1 << 20,
            host_calls: 1_000,
        }
    }
}

impl Limits {
    /// The largest stack an execution may ask for: executor threads are sized for it.
    pub const MAX_STACK_BYTES: usize = 16 << 20;

    pub(crate) fn cpu(&self) -> Duration {
        Duration::from_millis(self.cpu_ms)
    }

    pub(crate) fn wall(&self) -> Duration {
        Duration::from_millis(self.wall_ms)
    }

    /// The text of the error an execution ends with when it hits `limit`.
    pub(crate) fn describe(&self, limit: Limit) -> String {
        match limit {
            Limit::Memory => format!(
                "memory limit of {} exceeded: the code allocated more than the isolate may hold",
                bytes(self.memory_bytes)
            ),
            Limit::Cpu => format!(
                "CPU time limit of {} ms exceeded: the code computed for too long (an endless loop?)",
                self.cpu_ms
            ),
            Limit::Wall => format!(
                "wall time limit of {} ms exceeded: the code was still waiting (host calls or timers) when time ran out",
                self.wall_ms
            ),
            Limit::Stack => format!(
                "stack limit of {} exceeded: recursion too deep",
                bytes(self.stack_bytes)
            ),
            Limit::Output => format!(
                "output limit of {} exceeded: return or log less (filter, slice or summarise in code)",
                bytes(self.output_bytes)
            ),
            Limit::HostCalls => format!(
                "host call limit of {} exceeded: make fewer calls per execution (batch, or split the work)",
                self.host_calls
            ),
        }
    }
}

/// Which limit an execution hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// The heap budget ([`Limits::memory_bytes`]).
    Memory,
    /// Time running JavaScript ([`Limits::cpu_ms`]).
    Cpu,
    /// Time from start to outcome, host calls included ([`Limits::wall_ms`]).
    Wall,
    /// Native stack depth ([`Limits::stack_bytes`]): deep recursion.
    Stack,
    /// Bytes of console output ([`Limits::output_bytes`]).
    Output,
    /// Number of host function calls ([`Limits::host_calls`]).
    HostCalls,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Memory => "memory",
            Limit::Cpu => "cpu",
            Limit::Wall => "wall",
            Limit::Stack => "stack",
            Limit::Output => "output",
            Limit::HostCalls => "host_calls",
        })
    }
}

fn bytes(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}
