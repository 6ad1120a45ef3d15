//! The in-process sandbox: executor threads, each holding a freshly prepared isolate and
//! the live isolates of the sessions homed there; and `Session`, the public handle.
//!
//! An isolate is created *before* the execution that will use it arrives (right after the
//! thread's previous execution), so creation stays off the request's critical path.

use crate::executor::{EXECUTOR_STACK_BYTES, Executor, Work, poll_reply, syntax_error_outcome};
use crate::isolate::{Completion, HostDispatch, Isolate, error_outcome};
use crate::normalize::normalize;
use crate::outcome::{JsError, Outcome};
use crate::process::{WorkerConfig, WorkerPool};
use crate::scheduler::{
    HomeCell, NO_HOME, Next, Placed, Queues, STEAL_AFTER, Scheduler, SessionRun,
};
use crate::stats::{Counters, SandboxStats};
use crate::{Execution, HostError, HostFn, SandboxError};
use crossbeam_channel::Sender;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;
use tokio::sync::oneshot;

/// How a [`Sandbox`] runs executions in this process.
#[derive(Debug, Clone, Default)]
pub struct SandboxConfig {
    /// Executor threads; 0 means one per available core.
    pub threads: usize,
}

/// An execution in a fresh isolate, on any thread.
struct ExecuteJob {
    execution: Execution,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<Outcome>,
}

/// A session's run (see [`Scheduler::submit_session`] for where it goes).
struct SessionJob {
    id: u64,
    seq: u64,
    execution: Execution,
    input: serde_json::Value,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<Outcome>,
}

/// Executions any thread may take, and sessions' runs at their home thread first.
type Threads = Scheduler<ExecuteJob, SessionJob>;

fn fail(reply: oneshot::Sender<Outcome>, message: &str) {
    let _ = reply.send(error_outcome(
        JsError::new("SandboxError", message),
        Instant::now(),
    ));
}

/// Fails a session's run no thread will take (unless one took it meanwhile).
fn fail_session(run: &SessionRun<SessionJob>) {
    if let Some(job) = run.claim() {
        fail(job.reply, SHUT_DOWN);
    }
}

const SHUT_DOWN: &str = "the sandbox has shut down";

/// Runs executions in fresh isolates, and sessions' runs in their live ones
/// ([`Sandbox::session`]): on a pool of threads in this process ([`Sandbox::new`]) or in
/// worker processes ([`Sandbox::with_workers`]). Cheap to share behind an `Arc`.
pub struct Sandbox {
    inner: Inner,
    next_session: AtomicU64,
    counters: Arc<Counters>,
}

enum Inner {
    Threads(Arc<Threads>),
    Workers(Arc<WorkerPool>),
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
    /// Starts the executor threads (one per core when `config.threads` is 0).
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        let threads = match config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let (scheduler, queues) = Threads::new(threads);
        for (i, queues) in queues.into_iter().enumerate() {
            std::thread::Builder::new()
                .name(format!("islet-isolate-{i}"))
                // QuickJS recurses on the native stack; the JS stack limit sits well inside.
                .stack_size(EXECUTOR_STACK_BYTES)
                .spawn(move || executor(&queues))?;
        }
        Ok(Self {
            inner: Inner::Threads(Arc::new(scheduler)),
            next_session: AtomicU64::new(1),
            counters: Arc::default(),
        })
    }

    /// A sandbox whose isolates run in worker processes (see [`crate::process`]).
    pub fn with_workers(config: WorkerConfig) -> Result<Self, SandboxError> {
        let counters = Arc::<Counters>::default();
        Ok(Self {
            inner: Inner::Workers(Arc::new(WorkerPool::new(config, Arc::clone(&counters))?)),
            next_session: AtomicU64::new(1),
            counters,
        })
    }

    /// What this sandbox has run so far (for metrics).
    pub fn stats(&self) -> SandboxStats {
        self.counters.snapshot()
    }

    /// Whether the sandbox can run code now: a trivial execution in a fresh isolate (in
    /// process isolation this also replaces dead workers) that must finish within
    /// `timeout`. Not counted in [`Self::stats`]. For readiness checks.
    pub async fn probe(&self, timeout: std::time::Duration) -> Result<(), String> {
        let execution = Execution::new("1 + 1");
        match tokio::time::timeout(timeout, self.execute_uncounted(execution)).await {
            Err(_) => Err(format!(
                "a trivial execution did not finish within {} ms",
                timeout.as_millis()
            )),
            Ok(outcome) => match outcome.error {
                Some(error) => Err(error.to_string()),
                None if outcome.result == Some(serde_json::json!(2)) => Ok(()),
                None => Err(format!("a trivial execution returned {:?}", outcome.result)),
            },
        }
    }

    /// Executor threads in this process (0 in process isolation).
    pub fn threads(&self) -> usize {
        match &self.inner {
            Inner::Threads(threads) => threads.threads(),
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

    /// Runs one execution in a fresh isolate. Host functions run on the caller's tokio
    /// runtime, concurrently when the code starts several at once.
    pub async fn execute(&self, execution: Execution) -> Outcome {
        let outcome = self.execute_uncounted(execution).await;
        self.counters.record(&outcome);
        outcome
    }

    async fn execute_uncounted(&self, execution: Execution) -> Outcome {
        let threads = match &self.inner {
            Inner::Threads(threads) => threads,
            Inner::Workers(pool) => return pool.execute(execution, None, None).await,
        };
        let (reply, outcome) = oneshot::channel();
        let job = ExecuteJob {
            execution,
            runtime: tokio::runtime::Handle::current(),
            reply,
        };
        if let Err(job) = threads.submit(job) {
            fail(job.reply, SHUT_DOWN);
        }
        outcome.await.unwrap_or_else(|_| thread_failed())
    }

    /// A new session: a home for a sequence of runs that keep one isolate alive between
    /// them (see [`Session`]).
    pub fn session(&self) -> Session {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let home = match &self.inner {
            Inner::Threads(threads) => Home::Thread {
                threads: Arc::downgrade(threads),
                cell: Arc::new(AtomicUsize::new(NO_HOME)),
            },
            Inner::Workers(pool) => Home::Worker {
                pool: Arc::downgrade(pool),
                cell: Arc::new(AtomicUsize::new(NO_HOME)),
            },
        };
        Session {
            id,
            seq: AtomicU64::new(0),
            home,
            counters: Arc::clone(&self.counters),
        }
    }
}

fn thread_failed() -> Outcome {
    error_outcome(
        JsError::new(
            "SandboxError",
            "the isolate thread failed while running this execution",
        ),
        Instant::now(),
    )
}

/// A sequence of runs that share one live isolate: how a durable agent keeps its runtime,
/// class and in-memory fields between calls instead of rebuilding them each time.
///
/// A session's code must evaluate to a function, its *entry*; each [`Session::run`] calls
/// the entry with the run's input, and the entry's (awaited) return value is the result.
/// The code, prelude and bindings are evaluated on the first run only. Later runs reuse
/// the isolate as long as they bring the same code, prelude and binding names; each run
/// brings its own binding functions, limits and input.
///
/// The live isolate is a cache, not storage: it is dropped after a run that fails (so a
/// half-done run never leaks into the next one), when its thread keeps too many live
/// sessions, when the session is dropped, and whenever a worker process is replaced; the
/// next run then starts over from the code. Anything that must survive belongs to the host.
///
/// A session's runs happen one at a time on its home thread (with process isolation, in
/// one worker process, and the same way inside it). A run its home has not started after
/// a millisecond may be taken by any free thread, which becomes the new home and starts
/// over from the code: the home may be busy with a long run, or be running the very code
/// that waits for this run. Limits apply per run; the heap a session keeps between runs
/// counts against each run's memory limit, so a session's isolate never holds more.
///
/// Architecture Invariant: a session serves one party (one agent); its isolate is never
/// shared with another session.
pub struct Session {
    id: u64,
    /// Runs so far (and discards): a live isolate continues only the run right before.
    seq: AtomicU64,
    home: Home,
    counters: Arc<Counters>,
}

enum Home {
    Thread {
        threads: Weak<Threads>,
        /// The thread holding the live isolate.
        cell: HomeCell,
    },
    Worker {
        pool: Weak<WorkerPool>,
        /// The worker slot holding the live isolate.
        cell: HomeCell,
    },
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).finish()
    }
}

impl Session {
    /// Runs `execution` in the session's isolate, calling its entry with `input`.
    pub async fn run(&self, execution: Execution, input: serde_json::Value) -> Outcome {
        let outcome = self.run_uncounted(execution, input).await;
        self.counters.record(&outcome);
        outcome
    }

    async fn run_uncounted(&self, execution: Execution, input: serde_json::Value) -> Outcome {
        match &self.home {
            Home::Thread { threads, cell } => {
                let Some(threads) = threads.upgrade() else {
                    return shut_down();
                };
                let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
                let (reply, mut outcome) = oneshot::channel();
                let run = SessionRun::new(
                    Arc::clone(cell),
                    SessionJob {
                        id: self.id,
                        seq,
                        execution,
                        input,
                        runtime: tokio::runtime::Handle::current(),
                        reply,
                    },
                );
                match threads.submit_session(&run) {
                    Ok(Placed::Shared) => {}
                    Ok(Placed::Home) => {
                        if let Some(done) = poll_reply(&mut outcome).await {
                            return done.unwrap_or_else(|_| thread_failed());
                        }
                        // The steal-after timer: this caller waits it out itself.
                        tokio::select! {
                            biased;
                            done = &mut outcome => return done.unwrap_or_else(|_| thread_failed()),
                            () = tokio::time::sleep(STEAL_AFTER) => {}
                        }
                        if threads.steal(&run).is_err() {
                            fail_session(&run);
                        }
                    }
                    Err(_) => fail_session(&run),
                }
                outcome.await.unwrap_or_else(|_| thread_failed())
            }
            Home::Worker { pool, cell } => match pool.upgrade() {
                Some(pool) => {
                    let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
                    pool.execute(execution, Some((self.id, seq, input)), Some(cell))
                        .await
                }
                None => shut_down(),
            },
        }
    }

    /// Drops the live isolate now; the next run starts over from the code. For a caller
    /// that undid what the last run did (say, its transaction failed to commit).
    pub fn discard(&self) {
        // The next run does not follow the last one: no isolate continues.
        self.seq.fetch_add(1, Ordering::SeqCst);
        match &self.home {
            Home::Thread { threads, cell } => {
                cell.store(NO_HOME, Ordering::SeqCst);
                if let Some(threads) = threads.upgrade() {
                    threads.forget(self.id);
                }
            }
            Home::Worker { pool, cell } => {
                cell.store(NO_HOME, Ordering::SeqCst);
                if let Some(pool) = pool.upgrade() {
                    pool.end_session(self.id);
                }
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.discard();
    }
}

fn shut_down() -> Outcome {
    error_outcome(JsError::new("SandboxError", SHUT_DOWN), Instant::now())
}

fn executor(queues: &Queues<ExecuteJob, SessionJob>) {
    let mut executor = match Executor::new() {
        Ok(executor) => executor,
        Err(e) => {
            tracing::error!("isolate thread cannot start: {e}");
            let message = e.to_string();
            while let Some(next) = queues.next(false) {
                match next {
                    Next::Job(job) => fail(job.reply, &message),
                    Next::Session(job) => fail(job.reply, &message),
                    Next::Forget(_) => {}
                }
            }
            return;
        }
    };
    while let Some(next) = queues.next(true) {
        match next {
            Next::Job(ExecuteJob {
                execution,
                runtime,
                reply,
            }) => {
                let outcome = run_job(&execution, &runtime, |work| executor.execute(work));
                let _ = reply.send(outcome);
            }
            Next::Session(job) => {
                let outcome = run_job(&job.execution, &job.runtime, |work| {
                    executor.run_session(job.id, job.seq, work, &job.input)
                });
                let _ = job.reply.send(outcome);
            }
            Next::Forget(id) => executor.end_session(id),
        }
        executor.after_reply();
    }
}

/// Binds `execution`'s functions to the caller's runtime and hands the work to `run`.
fn run_job(
    execution: &Execution,
    runtime: &tokio::runtime::Handle,
    run: impl FnOnce(Work<'_>) -> Outcome,
) -> Outcome {
    let started = Instant::now();
    let table = execution.bindings.table();
    if let Some(message) = &table.invalid {
        return error_outcome(JsError::new("SandboxError", message.clone()), started);
    }
    let (tx, completions) = crossbeam_channel::unbounded();
    let dispatch = InProcessDispatch {
        functions: Arc::clone(&table.functions),
        runtime: runtime.clone(),
        completions: tx,
        tasks: RefCell::new(Vec::new()),
    };
    let mut outcome = run(Work {
        code: &execution.code,
        prelude: execution.prelude.as_ref(),
        preload: execution.preload.as_ref(),
        functions: &table.names,
        limits: &execution.limits,
        dispatch: Box::new(dispatch),
        completions: &completions,
    });
    outcome.stats.wall_us = started.elapsed().as_micros() as u64;
    outcome
}

/// Runs `execution` in `isolate` on this thread, with host functions spawned on `runtime`.
pub fn run_in_process(
    isolate: &mut Isolate,
    execution: &Execution,
    runtime: &tokio::runtime::Handle,
) -> Outcome {
    run_job(execution, runtime, |work| {
        let code = match normalize(work.code) {
            Ok(code) => code,
            Err(e) => return syntax_error_outcome(e, Instant::now()),
        };
        isolate.run(
            &code,
            (work.preload, work.prelude.map(|p| &**p)),
            work.functions,
            work.limits,
            work.dispatch,
            work.completions,
        )
    })
}

/// Host calls as tokio tasks in this process. Tasks still running when the execution ends
/// are aborted.
pub struct InProcessDispatch {
    functions: Arc<[HostFn]>,
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
        // Polled once here first: a host function with nothing to wait for (a storage read,
        // a lookup) answers without the two thread hops of a runtime task. Its time is
        // given back to the guest's CPU budget (`Shared::credit_host_time`).
        let mut future = Box::pin(crate::bindings::call(function, args));
        let first = {
            let _context = self.runtime.enter();
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            future.as_mut().poll(&mut cx)
        };
        if let std::task::Poll::Ready(result) = first {
            let _ = tx.send(Completion { id, result });
            return;
        }
        // Polled again by the runtime with its own waker (futures re-register on each poll).
        let task = self.runtime.spawn(async move {
            let result = future.await;
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
