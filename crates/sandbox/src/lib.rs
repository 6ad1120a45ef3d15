//! QuickJS-ng isolates for model-written code: code in, outcome out.
//!
//! ```no_run
//! # async fn demo() {
//! use sandbox::{Bindings, Execution, Sandbox};
//! let sandbox = Sandbox::new(Default::default()).unwrap();
//! let bindings = Bindings::new().function("api", "double", |x| async move {
//!     Ok(serde_json::json!(x.as_i64().unwrap_or(0) * 2))
//! });
//! let outcome = sandbox
//!     .execute(Execution::new("async () => await api.double(21)").bindings(bindings))
//!     .await;
//! assert_eq!(outcome.result, Some(serde_json::json!(42)));
//! # }
//! ```
//!
//! Architecture Invariant: this crate performs no I/O of its own. Every capability reaches an
//! isolate as a [`Bindings`] entry handed in with the execution.

#![warn(missing_docs)]

mod bindings;
mod error;
mod executor;
pub mod harden;
mod isolate;
mod limits;
pub mod normalize;
mod outcome;
mod pool;
pub mod process;
mod scheduler;
mod stats;

pub use bindings::{Bindings, FETCH_BINDING, FunctionName, HostError, HostFn, json_kind};
pub use error::SandboxError;
pub use limits::{Limit, Limits};
pub use outcome::{JsError, Level, Log, Outcome, Stats};
pub use pool::{Sandbox, SandboxConfig, Session};

/// The engine room, for benchmarks that measure an isolate directly (creation cost,
/// memory per live isolate) without the pool in between. Not part of the API: nothing
/// here is stable, and nothing but `islet bench` and the crate's benches uses it.
#[doc(hidden)]
pub mod bench {
    pub use crate::isolate::{Completion, Engine, FunctionNames, HostDispatch, Isolate};
    pub use crate::pool::{InProcessDispatch, run_in_process};
}
pub use stats::SandboxStats;

/// One piece of code to run, with the capabilities and limits it runs under.
#[derive(Debug, Clone, Default)]
pub struct Execution {
    /// JavaScript or TypeScript as the model wrote it (see [`normalize`] for the shapes).
    pub code: String,
    /// The host functions the code may call; nothing else reaches outside the isolate.
    pub bindings: Bindings,
    /// The budgets (memory, CPU, wall time, output, host calls) this execution runs under.
    pub limits: Limits,
    /// Trusted host JavaScript evaluated in the isolate before `code` (a classic script,
    /// not normalised): how a host gives code a runtime of its own, such as the `Agent`
    /// base class. It runs under the execution's limits; its failure fails the execution.
    pub prelude: Option<std::sync::Arc<str>>,
    /// Trusted host JavaScript evaluated first, before the functions are bound and before
    /// `prelude` (see [`Preload`]): an npm bundle and the program's imports of it, which an
    /// executor evaluates ahead of time.
    pub preload: Option<Preload>,
}

/// Host JavaScript an execution evaluates first, before its functions are bound and
/// before its prelude, and which reads nothing the execution binds: an npm bundle and the
/// program's imports of it.
///
/// Because nothing of the execution goes into it, an executor thread evaluates it *ahead
/// of time*: after an execution with a preload, the fresh isolate it prepares for the next
/// execution gets the same preload evaluated (under that execution's limits), and a next
/// execution that brings the same preload starts from there, with the packages' bytecode
/// loaded and their module code run. Other executions get a plain fresh isolate. The
/// result is the same either way; only where the time is spent differs. Memory the
/// preload holds counts against the execution's limit, warmed or not; its CPU time does
/// only when it runs within the execution.
#[derive(Debug, Clone)]
pub struct Preload {
    /// Evaluated as a module, compiled once per engine (as a prelude is).
    pub module: std::sync::Arc<str>,
    /// Then evaluated as a global script (the imports: `__islet_npm.import("zod");`).
    pub script: Option<std::sync::Arc<str>>,
}

impl Preload {
    /// This preload, then `next`'s: one module text, one script.
    pub fn then(&self, next: &Preload) -> Preload {
        let script = match (&self.script, &next.script) {
            (Some(a), Some(b)) => Some(format!("{a}\n;{b}").into()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        Preload {
            module: format!("{}\n;{}", self.module, next.module).into(),
            script,
        }
    }

    /// Whether `other` is the same JavaScript (the same `Arc`s, or equal texts).
    pub fn same(&self, other: &Preload) -> bool {
        let same = |a: &std::sync::Arc<str>, b: &std::sync::Arc<str>| {
            std::sync::Arc::ptr_eq(a, b) || a == b
        };
        same(&self.module, &other.module)
            && match (&self.script, &other.script) {
                (Some(a), Some(b)) => same(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

impl Execution {
    /// An execution of `code` with no bindings, default limits and no prelude.
    pub fn new(code: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            ..Self::default()
        }
    }

    /// Replaces the host functions the code may call.
    pub fn bindings(mut self, bindings: Bindings) -> Self {
        self.bindings = bindings;
        self
    }

    /// Replaces the limits the execution runs under.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the trusted host script evaluated before `code` (see [`Execution::prelude`]).
    pub fn prelude(mut self, prelude: impl Into<std::sync::Arc<str>>) -> Self {
        self.prelude = Some(prelude.into());
        self
    }

    /// Sets the host JavaScript evaluated before anything is bound (see [`Preload`]).
    pub fn preload(mut self, preload: Preload) -> Self {
        self.preload = Some(preload);
        self
    }
}
