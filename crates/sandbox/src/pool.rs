//! The in-process sandbox: executor threads, each holding a freshly prepared isolate.
//!
//! An isolate is created *before* the execution that will use it arrives (right after the
//! thread's previous execution), so creation stays off the request's critical path.

use crate::isolate::{Completion, Engine, HostDispatch, Isolate, error_outcome};
use crate::normalize::{Normalized, SyntaxError, normalize, normalize_with_stack};
use crate::outcome::{JsError, Outcome};
use crate::process::{Layer, WorkerConfig, WorkerPool};
use crate::{Execution, HostError, HostFn, Limits, SandboxError};
use crossbeam_channel::{Receiver, Sender};
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Executor threads; 0 means one per available core.
    pub threads: usize,
}

/// Stack of executor threads: room for the largest JS stack limit plus the host's frames.
const EXECUTOR_STACK_BYTES: usize = Limits::MAX_STACK_BYTES + (8 << 20);

struct Job {
    execution: Execution,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<Outcome>,
}

/// Runs executions in fresh isolates: on a pool of threads in this process
/// ([`Sandbox::new`]) or in worker processes ([`Sandbox::with_workers`]). Cheap to share
/// behind an `Arc`.
pub struct Sandbox {
    inner: Inner,
}

enum Inner {
    Threads { jobs: Sender<Job>, threads: usize },
    Workers(WorkerPool),
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("threads", &self.threads())
            .field("workers", &self.worker_pids())
            .finish()
    }
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for i in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("islet-isolate-{i}"))
                // QuickJS recurses on the native stack; the JS stack limit sits well inside.
                .stack_size(EXECUTOR_STACK_BYTES)
                .spawn(move || executor(queue))?;
        }
        Ok(Self {
            inner: Inner::Threads { jobs, threads },
        })
    }

    /// A sandbox whose isolates run in worker processes (see [`crate::process`]).
    pub fn with_workers(config: WorkerConfig) -> Result<Self, SandboxError> {
        Ok(Self {
            inner: Inner::Workers(WorkerPool::new(config)?),
        })
    }

    /// Executor threads in this process (0 in process isolation).
    pub fn threads(&self) -> usize {
        match &self.inner {
            Inner::Threads { threads, .. } => *threads,
            Inner::Workers(_) => 0,
        }
    }

    /// Process ids of the live workers (empty in-process).
    pub fn worker_pids(&self) -> Vec<u32> {
        match &self.inner {
            Inner::Threads { .. } => Vec::new(),
            Inner::Workers(pool) => pool.pids(),
        }
    }

    /// The hardening layers a worker reported: `(name, active, reason when inactive)`.
    pub fn worker_hardening(&self) -> Vec<Layer> {
        match &self.inner {
            Inner::Threads { .. } => Vec::new(),
            Inner::Workers(pool) => pool.layers(),
        }
    }

    /// Runs one execution in a fresh isolate. Host functions run on the caller's tokio
    /// runtime, concurrently when the code starts several at once.
    pub async fn execute(&self, execution: Execution) -> Outcome {
        let jobs = match &self.inner {
            Inner::Threads { jobs, .. } => jobs,
            Inner::Workers(pool) => return pool.execute(execution).await,
        };
        let started = Instant::now();
        let (reply, outcome) = oneshot::channel();
        let job = Job {
            execution,
            runtime: tokio::runtime::Handle::current(),
            reply,
        };
        if jobs.send(job).is_err() {
            return error_outcome(
                JsError::new("SandboxError", "the sandbox has shut down"),
                started,
            );
        }
        outcome.await.unwrap_or_else(|_| {
            error_outcome(
                JsError::new(
                    "SandboxError",
                    "the isolate thread failed while running this execution",
                ),
                started,
            )
        })
    }
}

fn executor(queue: Receiver<Job>) {
    let mut engine = match Engine::new() {
        Ok(engine) => engine,
        Err(e) => {
            tracing::error!("isolate thread cannot start: {e}");
            for job in queue {
                let _ = job.reply.send(error_outcome(
                    JsError::new("SandboxError", e.to_string()),
                    Instant::now(),
                ));
            }
            return;
        }
    };
    let mut prepared = engine.isolate().ok();
    while let Ok(job) = queue.recv() {
        let started = Instant::now();
        let mut isolate = match prepared.take().map_or_else(|| engine.isolate(), Ok) {
            Ok(isolate) => isolate,
            Err(e) => {
                let _ = job.reply.send(error_outcome(
                    JsError::new("SandboxError", e.to_string()),
                    started,
                ));
                continue;
            }
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            // Executor threads are spawned with a large stack and this is near its top.
            let code = normalize_with_stack(&job.execution.code, EXECUTOR_STACK_BYTES / 2);
            run_normalized(&mut isolate, code, &job.execution, &job.runtime)
        }));
        let panicked = outcome.is_err();
        let outcome = outcome.unwrap_or_else(|_| {
            error_outcome(
                JsError::new(
                    "SandboxError",
                    "the isolate panicked; this is a bug in islet",
                ),
                started,
            )
        });
        let _ = job.reply.send(outcome);
        // Off the critical path: free the finished isolate, then prepare the next one.
        drop(isolate);
        if panicked {
            // The engine's state is suspect after a panic: start over with a new runtime.
            match Engine::new() {
                Ok(fresh) => engine = fresh,
                Err(e) => tracing::error!("could not replace the isolate engine: {e}"),
            }
        } else {
            engine.collect_garbage();
        }
        prepared = engine.isolate().ok();
    }
}

/// Runs `execution` in `isolate` on this thread, with host functions spawned on `runtime`.
pub fn run_in_process(
    isolate: &mut Isolate,
    execution: &Execution,
    runtime: &tokio::runtime::Handle,
) -> Outcome {
    run_normalized(isolate, normalize(&execution.code), execution, runtime)
}

fn run_normalized(
    isolate: &mut Isolate,
    code: Result<Normalized, SyntaxError>,
    execution: &Execution,
    runtime: &tokio::runtime::Handle,
) -> Outcome {
    let started = Instant::now();
    let code = match code {
        Ok(code) => code,
        Err(e) => return syntax_error_outcome(e, started),
    };
    if let Err(message) = execution.bindings.validate() {
        return error_outcome(JsError::new("SandboxError", message), started);
    }
    let mut names = Vec::with_capacity(execution.bindings.len());
    let mut functions = Vec::with_capacity(execution.bindings.len());
    for (namespace, name, f) in execution.bindings.iter() {
        names.push((namespace.to_owned(), name.to_owned()));
        functions.push(f.clone());
    }
    let (tx, completions) = crossbeam_channel::unbounded();
    let dispatch = InProcessDispatch {
        functions,
        runtime: runtime.clone(),
        completions: tx,
        tasks: RefCell::new(Vec::new()),
    };
    let mut outcome = isolate.run(
        &code,
        execution.prelude.as_deref(),
        &names,
        &execution.limits,
        Box::new(dispatch),
        &completions,
    );
    outcome.stats.wall_us = started.elapsed().as_micros() as u64;
    outcome
}

/// Host calls as tokio tasks in this process. Tasks still running when the execution ends
/// are aborted.
pub struct InProcessDispatch {
    functions: Vec<HostFn>,
    runtime: tokio::runtime::Handle,
    completions: Sender<Completion>,
    tasks: RefCell<Vec<tokio::task::AbortHandle>>,
}

impl HostDispatch for InProcessDispatch {
    fn start(&self, id: u64, binding: usize, args: String) {
        let tx = self.completions.clone();
        let Some(function) = self.functions.get(binding).cloned() else {
            let _ = tx.send(Completion {
                id,
                result: Err(HostError::new("UNKNOWN_BINDING", "no such host function")),
            });
            return;
        };
        let task = self.runtime.spawn(async move {
            let result = crate::bindings::call(function, args).await;
            let _ = tx.send(Completion { id, result });
        });
        let mut tasks = self.tasks.borrow_mut();
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
    }
}

impl Drop for InProcessDispatch {
    fn drop(&mut self) {
        for task in self.tasks.get_mut().drain(..) {
            task.abort();
        }
    }
}

/// The outcome of code that did not parse.
pub(crate) fn syntax_error_outcome(e: SyntaxError, started: Instant) -> Outcome {
    let mut error = JsError::new("SyntaxError", e.message);
    error.line = Some(e.line);
    error.column = Some(e.column);
    error_outcome(error, started)
}
