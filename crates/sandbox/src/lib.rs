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
}
