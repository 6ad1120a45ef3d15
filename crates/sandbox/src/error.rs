//! Errors of the sandbox itself (not of the guest code, which are [`crate::JsError`] values).

/// The sandbox could not do its job. Guest failures are never this: they are outcomes.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the JavaScript engine failed: {0}")]
    Engine(String),
    #[error("could not start isolate threads: {0}")]
    Threads(#[from] std::io::Error),
    #[error("isolate worker: {0}")]
    Worker(String),
    #[error("invalid bindings: {0}")]
    Bindings(String),
}
