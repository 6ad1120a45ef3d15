//! Errors of the sandbox itself (not of the guest code, which are [`crate::JsError`] values).

/// The sandbox could not do its job. Guest failures are never this: they are outcomes.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// QuickJS refused to create a runtime or context, or failed outside the guest's code.
    #[error("the JavaScript engine failed: {0}")]
    Engine(String),
    /// The executor threads could not be spawned.
    #[error("could not start isolate threads: {0}")]
    Threads(#[from] std::io::Error),
    /// A worker process could not be started or failed while serving an execution.
    #[error("isolate worker: {0}")]
    Worker(String),
    /// A namespace or function name is not a valid JS identifier path.
    #[error("invalid bindings: {0}")]
    Bindings(String),
}
