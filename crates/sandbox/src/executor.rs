//! One executor thread's state, shared by in-process threads (`pool.rs`) and worker
//! processes' threads (`process/worker.rs`): its engine, the isolate prepared for the next
//! execution, and the live isolates of the sessions homed on this thread.
//!
//! A session ([`crate::Session`]) keeps one isolate alive across runs so a durable agent
//! does not rebuild its runtime, class and fields on every call. The live isolates are a
//! cache: any of them may be dropped (least recently used past [`SESSIONS_PER_THREAD`], a
//! failed run, a panic), and the session's next run starts over from its code.

pub(crate) use crate::isolate::Work;
use crate::isolate::{Engine, Isolate, error_outcome};
use crate::normalize::{Normalized, SyntaxError, normalize_with_stack};
use crate::outcome::{JsError, Outcome};
use crate::{Limits, Preload, SandboxError};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Stack of executor threads: room for the largest JS stack limit plus the host's frames.
pub(crate) const EXECUTOR_STACK_BYTES: usize = Limits::MAX_STACK_BYTES + (8 << 20);

/// Live session isolates one thread keeps. An agent's isolate holds its runtime, class and
/// fields (~100-200 KB); past this many, the least recently used is dropped.
pub(crate) const SESSIONS_PER_THREAD: usize = 256;

/// How long a session's caller polls for the reply before parking: a warm run answers
/// within tens of microseconds, one calling a sub-agent or an extension within a few
/// hundred (the polls yield the core and this runtime's other tasks).
const REPLY_SPIN: Duration = Duration::from_micros(200);

/// The reply, if it comes within [`REPLY_SPIN`] (yielding to other tasks and threads
/// meanwhile).
pub(crate) async fn poll_reply<T>(
    reply: &mut oneshot::Receiver<T>,
) -> Option<Result<T, oneshot::error::RecvError>> {
    let until = Instant::now() + REPLY_SPIN;
    while Instant::now() < until {
        match reply.try_recv() {
            Ok(value) => return Some(Ok(value)),
            Err(oneshot::error::TryRecvError::Empty) => {
                // The core too, not only this runtime's other tasks: the executor that
                // answers needs one (see `spin_for`).
                std::thread::yield_now();
                tokio::task::yield_now().await;
            }
            Err(oneshot::error::TryRecvError::Closed) => return Some(reply.await),
        }
    }
    None
}

struct Live {
    isolate: Isolate,
    code: Normalized,
    /// Hash of the code, prelude and function names the isolate was set up with: a run
    /// that brings different ones gets a fresh isolate.
    fingerprint: u64,
    /// Heap bytes the session's runs have left behind (approximate: garbage of other
    /// sessions collected during one of its runs is credited to it).
    retained: usize,
    /// The session's run number this isolate last ran: a run that does not follow it
    /// directly (one ran elsewhere meanwhile, or the session was discarded) starts over.
    seq: u64,
    last_used: u64,
}

pub(crate) struct Executor {
    engine: Engine,
    prepared: Option<Isolate>,
    /// An isolate with a preload evaluated ahead of time (see [`crate::Preload`]), for
    /// the next execution that brings the same one.
    warm: Option<Isolate>,
    /// The last execution's preload, to warm up for the next one, and its limits.
    warm_next: Option<(Preload, Limits)>,
    /// A preload whose warm-up failed: not tried again (it would fail every time, at the
    /// cost of a second evaluation per execution); executions evaluate it themselves.
    warm_failed: Option<Preload>,
    /// The last fresh isolate, dropped off the critical path.
    finished: Option<Isolate>,
    sessions: HashMap<u64, Live>,
    clock: u64,
    /// Isolates were dropped since the last collection: their cycles wait for the GC.
    gc_due: bool,
}

impl Executor {
    pub(crate) fn new() -> Result<Self, SandboxError> {
        let engine = Engine::new()?;
        let prepared = engine.isolate().ok();
        Ok(Self {
            engine,
            prepared,
            warm: None,
            warm_next: None,
            warm_failed: None,
            finished: None,
            sessions: HashMap::new(),
            clock: 0,
            gc_due: false,
        })
    }

    /// Runs one execution in a fresh isolate.
    pub(crate) fn execute(&mut self, work: Work<'_>) -> Outcome {
        let started = Instant::now();
        let warmed = work.preload.and_then(|preload| {
            self.warm_next = Some((preload.clone(), *work.limits));
            self.warm.take_if(|isolate| isolate.warmed_for(preload))
        });
        let isolate = match warmed {
            Some(isolate) => Ok(isolate),
            None => self.fresh_isolate(),
        };
        let mut isolate = match isolate {
            Ok(isolate) => isolate,
            Err(e) => return error_outcome(JsError::new("SandboxError", e.to_string()), started),
        };
        let outcome = self.guarded(started, || {
            // Executor threads are spawned with a large stack and this is near its top.
            let code = match normalize_with_stack(work.code, EXECUTOR_STACK_BYTES / 2) {
                Ok(code) => code,
                Err(e) => return syntax_error_outcome(e, started),
            };
            isolate.run(
                &code,
                (work.preload, work.prelude.map(|p| &**p)),
                work.functions,
                work.limits,
                work.dispatch,
                work.completions,
            )
        });
        self.finished = Some(isolate);
        self.gc_due = true;
        outcome
    }

    /// One run of session `id` in its live isolate (set up first when it has none or was
    /// set up from different code, or did not run the session's previous run).
    pub(crate) fn run_session(
        &mut self,
        id: u64,
        seq: u64,
        work: Work<'_>,
        input: &serde_json::Value,
    ) -> Outcome {
        let started = Instant::now();
        let fingerprint = fingerprint(&work);
        self.clock += 1;
        let clock = self.clock;
        let mut live = match self.sessions.remove(&id) {
            Some(live) if live.fingerprint == fingerprint && live.seq + 1 == seq => live,
            stale => {
                if stale.is_some() {
                    self.gc_due = true;
                }
                let code = match normalize_with_stack(work.code, EXECUTOR_STACK_BYTES / 2) {
                    Ok(code) => code,
                    Err(e) => return syntax_error_outcome(e, started),
                };
                let isolate = match self.fresh_isolate() {
                    Ok(isolate) => isolate,
                    Err(e) => {
                        return error_outcome(JsError::new("SandboxError", e.to_string()), started);
                    }
                };
                Live {
                    isolate,
                    code,
                    fingerprint,
                    retained: 0,
                    seq,
                    last_used: clock,
                }
            }
        };
        let before = live.isolate.engine_heap_bytes();
        let outcome = self.guarded(started, || {
            live.isolate
                .run_entry(&live.code, work, input, live.retained)
        });
        if outcome.error.is_some() {
            // A failed run may have left the isolate half-changed (its caller rolls its
            // own state back): the next run starts over.
            self.gc_due = true;
            return outcome;
        }
        let after = live.isolate.engine_heap_bytes();
        live.retained = (live.retained + after).saturating_sub(before);
        live.last_used = clock;
        live.seq = seq;
        self.sessions.insert(id, live);
        if self.sessions.len() > SESSIONS_PER_THREAD {
            self.evict_least_recent();
        }
        outcome
    }

    /// Drops session `id`'s live isolate, if it has one.
    pub(crate) fn end_session(&mut self, id: u64) {
        if self.sessions.remove(&id).is_some() {
            self.gc_due = true;
        }
    }

    /// Housekeeping after a reply: free the last fresh isolate and prepare the next one,
    /// warmed up when the last execution asked for it.
    pub(crate) fn after_reply(&mut self) {
        self.finished = None;
        self.collect_garbage_if_cheap();
        if self.prepared.is_none() {
            self.prepared = self.engine.isolate().ok();
        }
        if let Some((preload, limits)) = self.warm_next.take() {
            self.warm_up(preload, &limits);
        }
    }

    /// Prepares an isolate with `preload` evaluated, unless one is ready or it failed
    /// before. The thread takes its next execution after this (a few ms for zod's bundle):
    /// with more threads, another one takes it meanwhile.
    fn warm_up(&mut self, preload: Preload, limits: &Limits) {
        let ready = self.warm.as_ref().is_some_and(|w| w.warmed_for(&preload));
        if ready || self.warm_failed.as_ref().is_some_and(|f| f.same(&preload)) {
            return;
        }
        // The isolate it replaces (warmed up for another preload) is garbage from here.
        self.warm = None;
        let engine = &self.engine;
        let warmed = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let mut isolate = engine
                .isolate()
                .map_err(|e| JsError::new("SandboxError", e.to_string()))?;
            isolate.warm(&preload, limits)?;
            Ok::<_, JsError>(isolate)
        }));
        match warmed {
            Ok(Ok(isolate)) => self.warm = Some(isolate),
            Err(_) => {
                self.replace_engine();
                self.warm_failed = Some(preload);
            }
            Ok(Err(error)) => {
                tracing::debug!(
                    "not warming up this preload again: {}: {}",
                    error.name,
                    error.message
                );
                self.gc_due = true;
                self.warm_failed = Some(preload);
            }
        }
    }

    /// A collection walks every live object of the engine, sessions' isolates included
    /// (tens of milliseconds with hundreds of them), so it runs here only while no session
    /// is live; otherwise QuickJS's own trigger (the heap grew by half since the last
    /// collection) frees dropped isolates' cycles, at a cost proportional to what was
    /// allocated.
    fn collect_garbage_if_cheap(&mut self) {
        if self.gc_due && self.sessions.is_empty() {
            self.collect_garbage();
        }
    }

    fn collect_garbage(&mut self) {
        self.engine.collect_garbage();
        self.gc_due = false;
    }

    fn fresh_isolate(&mut self) -> Result<Isolate, SandboxError> {
        match self.prepared.take() {
            Some(isolate) => Ok(isolate),
            None => self.engine.isolate(),
        }
    }

    fn evict_least_recent(&mut self) {
        let oldest = self
            .sessions
            .iter()
            .min_by_key(|(_, live)| live.last_used)
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.end_session(id);
        }
    }

    /// After a panic: the engine's state is suspect, and so is every isolate on it.
    fn replace_engine(&mut self) {
        self.sessions.clear();
        self.prepared = None;
        self.finished = None;
        self.warm = None;
        match Engine::new() {
            Ok(fresh) => self.engine = fresh,
            Err(e) => tracing::error!("could not replace the isolate engine: {e}"),
        }
    }

    /// Runs `f`, turning a panic into an error outcome and a new engine: the engine's
    /// state is suspect after one.
    fn guarded(&mut self, started: Instant, f: impl FnOnce() -> Outcome) -> Outcome {
        match std::panic::catch_unwind(AssertUnwindSafe(f)) {
            Ok(outcome) => outcome,
            Err(_) => {
                self.replace_engine();
                error_outcome(
                    JsError::new(
                        "SandboxError",
                        "the isolate panicked; this is a bug in islet",
                    ),
                    started,
                )
            }
        }
    }
}

/// Hashed on every run (the agent runtime prelude alone is 13 KB), so with a fast hash. A
/// session serves one party, so a collision (code an agent wrote could be made to collide
/// with its own earlier code) can only continue that party's own isolate.
fn fingerprint(work: &Work<'_>) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    work.code.hash(&mut h);
    work.preload.map(|p| (&p.module, &p.script)).hash(&mut h);
    work.prelude.hash(&mut h);
    work.functions.hash(&mut h);
    h.finish()
}

/// The outcome of code that did not parse.
pub(crate) fn syntax_error_outcome(e: SyntaxError, started: Instant) -> Outcome {
    let mut error = JsError::new("SyntaxError", e.message);
    error.line = Some(e.line);
    error.column = Some(e.column);
    error_outcome(error, started)
}
