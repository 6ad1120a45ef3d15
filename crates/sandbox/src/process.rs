//! Process isolation: isolates run in worker processes; the supervisor (this side) holds the
//! bindings, and with them every secret and capability.
//!
//! Architecture Invariant: a worker never receives a host function, a secret or a file
//! descriptor other than its socket. It sees the names of the functions it may call and
//! the JSON results of the calls it made.
//!
//! A worker that crashes, is killed or stops answering fails only its in-flight
//! executions, each with a clear error, and is replaced on the next execution.

mod frame;
pub(crate) mod worker;

pub use frame::MAX_FRAME_BYTES;
pub use worker::serve;

use crate::harden::LayerStatus;
use crate::isolate::error_outcome;
use crate::outcome::{JsError, Outcome};
use crate::stats::Counters;
use crate::{Execution, HostFn, SandboxError};
use base::sync::lock;
use frame::{FromWorker, ToWorker, read_frame, write_frame};
use std::collections::{HashMap, HashSet};
use std::future::Future as _;
use std::io::BufReader;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How to start workers: `command args… --executors=N` must end up calling [`serve`] on
/// its stdin with N executors.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The program to run (usually the `islet` binary itself).
    pub command: PathBuf,
    /// Arguments that make it a worker (e.g. `worker`), before `--executors=N`.
    pub args: Vec<String>,
    /// Worker processes; 0 means one per available core.
    pub workers: usize,
    /// Executor threads per worker (isolates running at once in one process), passed to
    /// the command as `--executors=N` after `args`.
    pub executors_per_worker: usize,
    /// Extra time past an execution's wall limit before a silent worker is declared hung.
    pub grace: Duration,
}

impl WorkerConfig {
    /// One worker per core, two executors each, and a 2 s grace period.
    pub fn new(command: impl Into<PathBuf>, args: Vec<String>) -> Self {
        Self {
            command: command.into(),
            args,
            workers: 0,
            executors_per_worker: 2,
            grace: Duration::from_secs(2),
        }
    }
}

/// How long a write to a worker may block before the worker is declared stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) struct WorkerPool {
    config: WorkerConfig,
    slots: Vec<Mutex<Option<Arc<Worker>>>>,
    next_id: AtomicU64,
    counters: Arc<Counters>,
    prelude_ids: PreludeIds,
}

/// The ids workers know preludes by: one per distinct text, never shared by two texts. A
/// worker runs an execution with the prelude it keeps under the execution's id, and
/// preludes can hold code from a package registry, so an id taken from a plain hash
/// (which such code could be made to collide with) would let one prelude stand in for
/// another. A fast hash finds the candidates; the texts are compared whole.
#[derive(Default)]
struct PreludeIds {
    by_hash: Mutex<HashMap<u64, Vec<KnownPrelude>>>,
    next: AtomicU64,
}

/// A prelude's text and its id.
type KnownPrelude = (Arc<str>, u64);

/// Distinct preludes remembered; past it the memory starts over (the texts are then
/// sent again under new ids: ids are never reused).
const PRELUDES_REMEMBERED: usize = 4096;

impl PreludeIds {
    fn id(&self, text: &Arc<str>) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = rustc_hash::FxHasher::default();
        text.hash(&mut h);
        self.id_under(h.finish(), text)
    }

    /// [`Self::id`] with the text's hash given (tests give two texts the same one).
    fn id_under(&self, hash: u64, text: &Arc<str>) -> u64 {
        let mut known = lock(&self.by_hash);
        if known.len() >= PRELUDES_REMEMBERED {
            known.clear();
        }
        let candidates = known.entry(hash).or_default();
        if let Some((_, id)) = candidates
            .iter()
            .find(|(seen, _)| Arc::ptr_eq(seen, text) || **seen == **text)
        {
            return *id;
        }
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        candidates.push((Arc::clone(text), id));
        id
    }
}

struct Worker {
    pid: u32,
    child: Mutex<Child>,
    /// Frames to the worker are written by whoever sends them, under this lock; a write
    /// timeout bounds how long a worker that stops reading can hold a sender.
    writer: Mutex<UnixStream>,
    pending: Mutex<HashMap<u64, Pending>>,
    dead: AtomicBool,
    /// Ids of the preludes this worker has been sent (an agent turn's is 13 KB: sending
    /// it with every turn cost more than the turn). Read and written under `writer`.
    preludes: Mutex<HashSet<u64>>,
}

struct Pending {
    functions: Arc<[HostFn]>,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<Outcome>,
    tasks: Vec<tokio::task::AbortHandle>,
}

impl WorkerPool {
    pub(crate) fn new(config: WorkerConfig, counters: Arc<Counters>) -> Result<Self, SandboxError> {
        let workers = match config.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pool = Self {
            slots: (0..workers).map(|_| Mutex::new(None)).collect(),
            config,
            next_id: AtomicU64::new(1),
            counters,
            prelude_ids: PreludeIds::default(),
        };
        // Start every worker now: a misconfigured command fails here, not on first use.
        for slot in &pool.slots {
            *lock(slot) = Some(pool.spawn()?);
        }
        Ok(pool)
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        self.alive().iter().map(|w| w.pid).collect()
    }

    fn alive(&self) -> Vec<Arc<Worker>> {
        self.slots
            .iter()
            .filter_map(|s| lock(s).clone())
            .filter(|w| !w.dead.load(Ordering::SeqCst))
            .collect()
    }

    fn spawn(&self) -> Result<Arc<Worker>, SandboxError> {
        let (ours, theirs) = UnixStream::pair()?;
        let mut child = Command::new(&self.config.command)
            .args(&self.config.args)
            .arg(format!(
                "--executors={}",
                self.config.executors_per_worker.max(1)
            ))
            .env_clear()
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                SandboxError::Worker(format!(
                    "cannot start `{}`: {e}",
                    self.config.command.display()
                ))
            })?;
        let mut input = BufReader::new(ours.try_clone()?);
        ours.set_read_timeout(Some(Duration::from_secs(10)))?;
        let ready = read_frame::<FromWorker>(&mut input);
        ours.set_read_timeout(None)?;
        let (pid, layers) = match ready {
            Ok(Some(FromWorker::Ready { pid, layers })) => (pid, layers),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SandboxError::Worker(format!(
                    "`{}` did not start as an isolate worker: {other:?}",
                    self.config.command.display()
                )));
            }
        };
        for layer in &layers {
            if let LayerStatus::Unavailable(reason) = &layer.status {
                tracing::warn!(worker = pid, layer = %layer.name, %reason, "hardening layer unavailable");
            }
        }
        ours.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let worker = Arc::new(Worker {
            pid,
            child: Mutex::new(child),
            writer: Mutex::new(ours),
            pending: Mutex::new(HashMap::new()),
            preludes: Mutex::new(HashSet::new()),
            dead: AtomicBool::new(false),
        });
        let w = worker.clone();
        std::thread::Builder::new()
            .name(format!("islet-worker-{pid}-in"))
            .spawn(move || w.read_loop(input))?;
        Ok(worker)
    }

    /// Runs `execution` in a worker: a fresh isolate, or a run of `session` (its id, run
    /// number and input) in the worker `home` names (see [`Self::pick`]).
    pub(crate) async fn execute(
        &self,
        execution: Execution,
        session: Option<(u64, u64, serde_json::Value)>,
        home: Option<&AtomicUsize>,
    ) -> Outcome {
        let started = Instant::now();
        let worker = match self.pick(home).await {
            Ok(worker) => worker,
            Err(e) => return error_outcome(JsError::new("SandboxError", e.to_string()), started),
        };
        let table = execution.bindings.table();
        if let Some(message) = &table.invalid {
            return error_outcome(JsError::new("SandboxError", message.clone()), started);
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let functions = Arc::clone(&table.functions);
        let names = table.names.to_vec();
        let (reply, outcome) = oneshot::channel();
        lock(&worker.pending).insert(
            id,
            Pending {
                functions,
                runtime: tokio::runtime::Handle::current(),
                reply,
                tasks: Vec::new(),
            },
        );
        let limits = execution.limits;
        let prelude_id = execution.prelude.as_ref().map(|p| self.prelude_ids.id(p));
        let preload_id = execution
            .preload
            .as_ref()
            .map(|p| self.prelude_ids.id(&p.module));
        worker.send_execute(
            ToWorker::Execute {
                id,
                code: execution.code,
                prelude: None,
                prelude_id,
                preload: None,
                preload_id,
                preload_script: execution
                    .preload
                    .as_ref()
                    .and_then(|p| p.script.as_deref().map(str::to_owned)),
                functions: names,
                limits,
                session,
            },
            execution.prelude.as_deref(),
            execution.preload.as_ref().map(|p| &*p.module),
        );
        let deadline = Duration::from_millis(limits.wall_ms) + self.config.grace;
        match tokio::time::timeout(deadline, outcome).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => error_outcome(
                JsError::new("SandboxError", "the isolate worker dropped this execution"),
                started,
            ),
            Err(_) => {
                // The engine is stuck where interrupts cannot reach it: end the process.
                worker.kill();
                worker.fail("the isolate worker stopped responding and was killed");
                lock(&worker.pending).remove(&id);
                error_outcome(
                    JsError::new(
                        "SandboxError",
                        format!(
                            "the isolate worker stopped responding {} ms past the wall limit and was restarted",
                            self.config.grace.as_millis()
                        ),
                    ),
                    started,
                )
            }
        }
    }

    /// Tells every worker to drop `session`'s live isolate: one that ran the session
    /// before its home moved may still hold one (a dead worker's went with it).
    pub(crate) fn end_session(&self, session: u64) {
        for worker in self.alive() {
            worker.send(&ToWorker::EndSession { session });
        }
    }

    /// The worker for the next execution, replacing dead ones: the one with the fewest
    /// executions in flight, or for a session's run its `home` worker (recorded there). A
    /// session leaves its home only when every executor there is taken and another
    /// worker has one free: its run may be what the code running there waits for (Code
    /// Mode calling an agent that calls another), and starting over elsewhere (~1.5 ms)
    /// beats waiting for the wall limit; when all are busy, it waits at home.
    async fn pick(&self, home: Option<&AtomicUsize>) -> Result<Arc<Worker>, SandboxError> {
        let mut best: Option<(usize, Arc<Worker>, usize)> = None;
        let mut at_home: Option<(Arc<Worker>, usize)> = None;
        let home_index = home.map(|h| h.load(Ordering::SeqCst));
        for (i, slot) in self.slots.iter().enumerate() {
            let current = lock(slot).clone();
            // An empty slot is a first start; an occupied one holds a dead worker.
            let replacing = current.is_some();
            let worker = match current {
                Some(w) if !w.dead.load(Ordering::SeqCst) => w,
                _ => {
                    // Replace it. Spawning blocks (fork/exec, the worker's start-up).
                    let fresh = tokio::task::block_in_place(|| self.spawn())?;
                    if replacing {
                        self.counters.worker_restarted();
                    }
                    *lock(slot) = Some(fresh.clone());
                    fresh
                }
            };
            let load = lock(&worker.pending).len();
            if home_index == Some(i) {
                at_home = Some((Arc::clone(&worker), load));
            }
            if best.as_ref().is_none_or(|(_, _, least)| load < *least) {
                best = Some((i, worker, load));
            }
        }
        let Some((index, worker, least)) = best else {
            return Err(SandboxError::Worker(
                "no isolate workers are configured".into(),
            ));
        };
        let executors = self.config.executors_per_worker.max(1);
        if let Some((home_worker, load)) = at_home
            && (load < executors || least >= executors)
        {
            return Ok(home_worker);
        }
        if let Some(home) = home {
            home.store(index, Ordering::SeqCst);
        }
        Ok(worker)
    }
}

impl Worker {
    fn read_loop(self: Arc<Self>, mut input: BufReader<UnixStream>) {
        loop {
            match read_frame::<FromWorker>(&mut input) {
                Ok(Some(FromWorker::HostCall {
                    execution,
                    call,
                    binding,
                    args,
                })) => {
                    if !self.host_call(execution, call, binding, args) {
                        self.kill();
                        self.fail("the isolate worker broke the protocol (a call it may not make) and was killed");
                        return;
                    }
                }
                Ok(Some(FromWorker::Outcome { execution, outcome })) => {
                    if let Some(pending) = lock(&self.pending).remove(&execution) {
                        for task in pending.tasks {
                            task.abort();
                        }
                        let _ = pending.reply.send(*outcome);
                    }
                }
                Ok(Some(FromWorker::Ready { .. })) => {}
                Ok(None) => {
                    self.fail("the isolate worker process exited");
                    return;
                }
                Err(e) => {
                    self.kill();
                    self.fail(&format!(
                        "the connection to the isolate worker failed ({e})"
                    ));
                    return;
                }
            }
        }
    }

    /// Starts a host call for the worker; false when the worker asked for something its
    /// execution does not have.
    ///
    /// The call is polled once right here, on the reader thread, inside its execution's
    /// runtime: a host function that completes at once (most do, or fail at once) is
    /// answered without waking a runtime thread. Only one still pending becomes a task.
    /// Host functions must not block (the contract of any async fn on a runtime): a slow
    /// first poll here would delay this worker's other frames, as it would stall a runtime
    /// thread in-process.
    fn host_call(
        self: &Arc<Self>,
        execution: u64,
        call: u64,
        binding: usize,
        args: String,
    ) -> bool {
        let (function, runtime) = {
            let pending = lock(&self.pending);
            let Some(entry) = pending.get(&execution) else {
                // The execution already ended (e.g. timed out): nothing to answer.
                return true;
            };
            let Some(function) = entry.functions.get(binding).cloned() else {
                return false;
            };
            (function, entry.runtime.clone())
        };
        // Not under `pending`: a host function may start executions on this pool.
        let mut future = Box::pin(crate::bindings::call(function, args));
        let first = {
            let _context = runtime.enter();
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            future.as_mut().poll(&mut cx)
        };
        if let std::task::Poll::Ready(result) = first {
            self.send(&ToWorker::HostResult {
                execution,
                call,
                result,
            });
            return true;
        }
        // Polled again by the runtime with its own waker (futures re-register on each poll).
        let worker = self.clone();
        let task = runtime.spawn(async move {
            let result = future.await;
            worker.send(&ToWorker::HostResult {
                execution,
                call,
                result,
            });
        });
        match lock(&self.pending).get_mut(&execution) {
            Some(entry) => {
                entry.tasks.retain(|t| !t.is_finished());
                entry.tasks.push(task.abort_handle());
            }
            // It ended meanwhile: nobody waits for the answer.
            None => task.abort(),
        }
        true
    }

    /// Sends an `Execute` frame, with the texts of its prelude and its preload's module
    /// only when this worker does not have them yet. The check and the write happen under
    /// one lock, so the worker never sees an id before its text; a failed write means the
    /// worker is gone or not reading.
    fn send_execute(
        &self,
        mut frame: ToWorker,
        prelude_text: Option<&str>,
        preload_text: Option<&str>,
    ) {
        let mut writer = lock(&self.writer);
        if let ToWorker::Execute {
            prelude,
            prelude_id,
            preload,
            preload_id,
            ..
        } = &mut frame
        {
            let mut sent = lock(&self.preludes);
            for (slot, id, text) in [
                (prelude, prelude_id, prelude_text),
                (preload, preload_id, preload_text),
            ] {
                if let Some(id) = id
                    && sent.insert(*id)
                {
                    *slot = text.map(str::to_owned);
                }
            }
        }
        let written = write_frame(&mut *writer, &frame);
        drop(writer);
        if let Err(e) = written {
            self.kill();
            self.fail(&format!("writing to the isolate worker failed ({e})"));
        }
    }

    fn send(&self, frame: &ToWorker) {
        let written = write_frame(&mut *lock(&self.writer), frame);
        if let Err(e) = written {
            self.kill();
            self.fail(&format!("writing to the isolate worker failed ({e})"));
        }
    }

    fn kill(&self) {
        let mut child = lock(&self.child);
        let _ = child.kill();
    }

    /// Marks the worker dead and fails every execution in flight with `why` and how the
    /// process ended.
    fn fail(&self, why: &str) {
        if self.dead.swap(true, Ordering::SeqCst) {
            return;
        }
        let status = {
            let mut child = lock(&self.child);
            let _ = child.kill();
            child.wait().ok()
        };
        let how = match status {
            Some(s) => describe_exit(s),
            None => "its exit status is unknown".to_owned(),
        };
        tracing::warn!(worker = self.pid, %how, "{why}");
        let pending: Vec<Pending> = lock(&self.pending).drain().map(|(_, p)| p).collect();
        for p in pending {
            for task in p.tasks {
                task.abort();
            }
            let error = JsError::new(
                "SandboxError",
                format!(
                    "{why} ({how}) while running this execution; it was not completed. Run it again: a new worker takes over."
                ),
            );
            let _ = p.reply.send(error_outcome(error, Instant::now()));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
        let _ = lock(&self.child).wait();
    }
}

impl Drop for WorkerPool {
    fn drop(&mut self) {
        for slot in &self.slots {
            if let Some(worker) = lock(slot).take() {
                // Dead first: the exit this causes is expected, not a failure to report.
                worker.dead.store(true, Ordering::SeqCst);
                worker.kill();
            }
        }
    }
}

fn describe_exit(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(9)) => "killed by SIGKILL".to_owned(),
        (None, Some(31)) => "killed by SIGSYS: a forbidden system call".to_owned(),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "ended".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::PreludeIds;
    use std::sync::Arc;

    /// A prelude may hold registry code, which could be made to collide with another
    /// prelude's hash: texts are told apart whole, so a collision never makes a worker run
    /// one prelude for another.
    #[test]
    fn prelude_ids_differ_for_different_texts_even_when_their_hashes_collide() {
        let ids = PreludeIds::default();
        let api: Arc<str> = "const api = {};".into();
        let forged: Arc<str> = "const api = { steal() {} };".into();
        let first = ids.id_under(7, &api);
        let other = ids.id_under(7, &forged);
        assert_ne!(first, other);
        // The same text (another allocation) keeps its id, so a worker is sent it once.
        let again: Arc<str> = "const api = {};".into();
        assert_eq!(ids.id_under(7, &again), first);
        assert_eq!(ids.id(&again), ids.id(&api));
    }
}
