//! Engines (one QuickJS-ng runtime per thread) and isolates (one context per execution).
//!
//! The isolate drives its own event loop on the calling thread: it runs JavaScript, fires
//! timers, and waits on a channel for host-call completions. Host calls themselves are
//! started through a [`HostDispatch`], so the same loop serves in-process bindings (futures
//! on a tokio runtime) and, later, calls that cross a process boundary.

mod alloc;
mod convert;
mod globals;
mod jobs;
mod prelude;

use crate::limits::{Limit, Limits};
use crate::normalize::Normalized;
use crate::outcome::{JsError, Log, Outcome, Stats};
use crate::{HostError, Preload, SandboxError};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use rquickjs::context::EvalOptions;
use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Persistent, Promise, Runtime, Value,
};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// File name the model's code runs under; stack frames naming it are mapped back to the
/// code as sent.
pub(crate) const SCRIPT_NAME: &str = "code.js";
/// File name of the host prelude in stacks, distinct from the code's.
const PRELUDE_NAME: &str = "islet:prelude";

/// Pending timers past this count make `setTimeout` throw: the guest must not grow host
/// memory without bound.
const MAX_TIMERS: usize = 10_000;

/// A host call's completion, delivered to the isolate's loop. The value is JSON text.
#[derive(Debug)]
pub struct Completion {
    /// The id the isolate gave the call when it started it.
    pub id: u64,
    /// The call's JSON result text, or the error to throw in the guest.
    pub result: Result<String, HostError>,
}

/// Starts host calls for an isolate. `start` must not block: the completion arrives later on
/// the isolate's completion channel (also for calls that fail at once).
pub trait HostDispatch {
    /// `binding` indexes the `functions` list the execution was started with; `args` is the
    /// JSON text of the argument.
    fn start(&self, id: u64, binding: usize, args: String);
}

/// The functions one execution binds, by JS path (`api.users`, `get`), in binding order.
pub type FunctionNames = [crate::FunctionName];

/// What to run: the parts of an execution an executor sees (in a worker, the bindings are
/// only names; their functions stay with the supervisor).
pub(crate) struct Work<'a> {
    pub code: &'a str,
    pub prelude: Option<&'a Arc<str>>,
    pub preload: Option<&'a Preload>,
    pub functions: &'a FunctionNames,
    pub limits: &'a Limits,
    pub dispatch: Box<dyn HostDispatch>,
    pub completions: &'a Receiver<Completion>,
}

/// A QuickJS runtime shared by the isolates of one thread.
///
/// Isolates (contexts) on one engine have separate globals, prototypes and heaps of
/// objects, but share the runtime's allocator arenas, atom table and shape cache, which is
/// most of what a bare runtime costs (~140 KB). Sharing them is how an isolate stays
/// near 60 KB. An engine runs one execution at a time: limits (heap budget, interrupt
/// deadline, stack) are applied per execution while it runs.
///
/// Architecture Invariant: an engine is confined to the thread that created it.
pub struct Engine {
    runtime: Runtime,
    state: Rc<EngineState>,
}

struct EngineState {
    budget: Rc<alloc::Budget>,
    /// The isolate whose execution is running now, if any.
    current: RefCell<Option<Rc<Shared>>>,
    /// Set while queued jobs are discarded (`jobs::discard`): no JavaScript may run.
    discarding: Cell<bool>,
    preludes: prelude::PreludeCache,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Engine {
    /// A runtime with its heap budget, interrupt handler and rejection tracker installed.
    pub fn new() -> Result<Self, SandboxError> {
        let budget = Rc::new(alloc::Budget::default());
        budget.start(usize::MAX);
        let runtime = Runtime::new_with_alloc(alloc::BudgetAllocator(budget.clone()))
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
        let state = Rc::new(EngineState {
            budget,
            current: RefCell::new(None),
            discarding: Cell::new(false),
            preludes: prelude::PreludeCache::default(),
        });
        {
            let state = state.clone();
            runtime.set_interrupt_handler(Some(Box::new(move || {
                if state.discarding.get() {
                    return true;
                }
                let current = state.current.borrow();
                let Some(shared) = current.as_ref() else {
                    return false;
                };
                if shared.terminate.get().is_some() {
                    return true;
                }
                if Instant::now() >= shared.deadline.get() {
                    shared.stop(shared.deadline_limit.get());
                    return true;
                }
                false
            })));
        }
        {
            let state = state.clone();
            runtime.set_host_promise_rejection_tracker(Some(Box::new(
                move |ctx, promise, reason, is_handled| {
                    if state.discarding.get() {
                        return;
                    }
                    let current = state.current.borrow();
                    let Some(shared) = current.as_ref() else {
                        return;
                    };
                    let mut rejections = shared.rejections.borrow_mut();
                    if is_handled {
                        rejections.retain(|(p, _)| {
                            p.clone()
                                .restore(&ctx)
                                .map(|p| p != promise)
                                .unwrap_or(true)
                        });
                    } else if rejections.len() < 64 {
                        rejections.push((
                            Persistent::save(&ctx, promise),
                            Persistent::save(&ctx, reason),
                        ));
                    }
                },
            )));
        }
        Ok(Self { runtime, state })
    }

    /// Prepares a fresh isolate: a new context with the standard globals installed.
    pub fn isolate(&self) -> Result<Isolate, SandboxError> {
        let context = Context::custom::<(
            rquickjs::context::intrinsic::Date,
            rquickjs::context::intrinsic::Eval,
            rquickjs::context::intrinsic::RegExpCompiler,
            rquickjs::context::intrinsic::RegExp,
            rquickjs::context::intrinsic::Json,
            rquickjs::context::intrinsic::Proxy,
            rquickjs::context::intrinsic::MapSet,
            rquickjs::context::intrinsic::TypedArrays,
            rquickjs::context::intrinsic::Promise,
            rquickjs::context::intrinsic::WeakRef,
            rquickjs::context::intrinsic::DOMException,
        )>(&self.runtime)
        .map_err(|e| SandboxError::Engine(e.to_string()))?;
        let shared = Rc::new(Shared::new(Rc::clone(&self.state.budget)));
        context
            .with(|ctx| globals::install(&ctx, &shared))
            .map_err(|e| SandboxError::Engine(format!("installing globals: {e}")))?;
        Ok(Isolate {
            context,
            engine: self.state.clone(),
            shared,
            used: false,
            entry: None,
            warmed: None,
        })
    }

    /// Frees garbage that reference counting cannot (cycles) left by finished isolates.
    pub fn collect_garbage(&self) {
        self.runtime.run_gc();
    }

    /// Bytes the engine's heap holds now.
    pub fn heap_bytes(&self) -> usize {
        self.state.budget.used.get()
    }
}

/// A prepared isolate: a context with globals installed, waiting for its one execution.
pub struct Isolate {
    context: Context,
    engine: Rc<EngineState>,
    shared: Rc<Shared>,
    used: bool,
    /// The entry function of a session's isolate (see [`Isolate::run_entry`]).
    entry: Option<Persistent<Function<'static>>>,
    /// The preload [`Isolate::warm`] evaluated in it ahead of its execution.
    warmed: Option<Warmed>,
}

/// A preload evaluated ahead of time, and the heap bytes it holds (counted against the
/// execution's memory limit).
struct Warmed {
    preload: Preload,
    bytes: usize,
}

impl std::fmt::Debug for Isolate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Isolate").field("used", &self.used).finish()
    }
}

/// State the isolate's native functions share with its event loop.
pub(crate) struct Shared {
    limits: Cell<Limits>,
    /// Running JavaScript ends at this instant (the sooner of the CPU and wall budgets).
    deadline: Cell<Instant>,
    /// Which limit `deadline` stands for.
    deadline_limit: Cell<Limit>,
    /// Set when the execution must end; the interrupt handler then stops JavaScript.
    terminate: Cell<Option<Limit>>,
    output_used: Cell<usize>,
    logs: RefCell<Vec<Log>>,
    host_calls: Cell<u32>,
    next_id: Cell<u64>,
    /// Host calls in flight: their promises' `resolve` and `reject`.
    calls: RefCell<HashMap<u64, Settlers>>,
    timers: RefCell<Timers>,
    /// Rejected promises no handler was attached to (yet).
    rejections: RefCell<Vec<(Persistent<Value<'static>>, Persistent<Value<'static>>)>>,
    dispatch: RefCell<Option<Box<dyn HostDispatch>>>,
    /// Where the running execution's host answers arrive (for blocking calls to wait on).
    completions: RefCell<Option<Receiver<Completion>>>,
    /// Answers to promise-returning calls that arrived while a blocking call waited: the
    /// event loop settles them first.
    early: RefCell<VecDeque<Completion>>,
    /// Time host functions spent answering inline while JavaScript ran (see
    /// [`Shared::credit_host_time`]): not the guest's CPU time.
    host_inline: Cell<Duration>,
    /// The running section's wall deadline, which host time never pushes back.
    wall_deadline: Cell<Instant>,
    /// The engine's heap budget, whose large-allocation deadline follows `deadline`.
    budget: Rc<alloc::Budget>,
}

type Settlers = (Persistent<Function<'static>>, Persistent<Function<'static>>);

#[derive(Default)]
pub(crate) struct Timers {
    next_id: u64,
    queue: BTreeMap<(Instant, u64), Timer>,
    due: HashMap<u64, Instant>,
}

pub(crate) struct Timer {
    callback: Persistent<Function<'static>>,
    args: Vec<Persistent<Value<'static>>>,
    repeat: Option<Duration>,
}

impl Shared {
    fn new(budget: Rc<alloc::Budget>) -> Self {
        Self {
            host_inline: Cell::new(Duration::ZERO),
            wall_deadline: Cell::new(far_future()),
            budget,
            limits: Cell::new(Limits::default()),
            deadline: Cell::new(far_future()),
            deadline_limit: Cell::new(Limit::Cpu),
            terminate: Cell::new(None),
            output_used: Cell::new(0),
            logs: RefCell::new(Vec::new()),
            host_calls: Cell::new(0),
            next_id: Cell::new(0),
            calls: RefCell::new(HashMap::new()),
            timers: RefCell::new(Timers::default()),
            rejections: RefCell::new(Vec::new()),
            dispatch: RefCell::new(None),
            completions: RefCell::new(None),
            early: RefCell::new(VecDeque::new()),
        }
    }

    /// Waits for the answer to blocking host call `id` until the wall deadline; answers to
    /// other calls met on the way are kept for the event loop. `Err` says why it stopped
    /// waiting: at the wall deadline the execution is stopped too.
    pub(crate) fn wait_for(&self, id: u64) -> Result<Result<String, HostError>, &'static str> {
        let Some(completions) = self.completions.borrow().clone() else {
            return Err("the execution has ended");
        };
        loop {
            let received = match spin_for(SPIN, || completions.try_recv().ok()) {
                Some(completion) => Ok(completion),
                None => completions.recv_deadline(self.wall_deadline.get()),
            };
            match received {
                Ok(completion) if completion.id == id => return Ok(completion.result),
                Ok(other) => self.early.borrow_mut().push_back(other),
                Err(RecvTimeoutError::Timeout) => {
                    self.stop(Limit::Wall);
                    return Err("wall time limit reached waiting for a host call");
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the host stopped answering host calls (its channel closed)");
                }
            }
        }
    }

    /// Gives back to the CPU budget the time a host function spent answering inline (on
    /// this thread, while JavaScript waited in the call): host work is not the guest's CPU
    /// time. The CPU deadline moves back by it (never past the wall deadline, which host
    /// time does count against), and so does the allocator's.
    pub(crate) fn credit_host_time(&self, spent: Duration) {
        // Only inside a running section (`in_js`), which sets the allocator's deadline.
        if self.budget.deadline.get().is_none() {
            return;
        }
        self.host_inline.set(self.host_inline.get() + spent);
        // Host time does count against the wall limit: past it, the execution ends here,
        // as it would have ended waiting for an answer that came later.
        if Instant::now() >= self.wall_deadline.get() {
            self.stop(Limit::Wall);
            return;
        }
        if self.deadline_limit.get() != Limit::Cpu {
            return;
        }
        let wall = self.wall_deadline.get();
        let pushed = self.deadline.get() + spent;
        if pushed >= wall {
            self.deadline.set(wall);
            self.deadline_limit.set(Limit::Wall);
        } else {
            self.deadline.set(pushed);
        }
        self.budget.deadline.set(Some(self.deadline.get()));
    }

    /// Whether this isolate's execution is running and not terminated. Host functions act
    /// only then: a discarded job may still call one (see `jobs.rs`), and must achieve nothing.
    pub(crate) fn running(&self) -> bool {
        self.terminate.get().is_none() && self.dispatch.borrow().is_some()
    }

    /// Ends the execution with `limit` (the first limit hit wins).
    pub(crate) fn stop(&self, limit: Limit) {
        if self.terminate.get().is_none() {
            self.terminate.set(Some(limit));
        }
    }

    /// Charges `bytes` of output; false (and the execution is stopped) when over the limit.
    pub(crate) fn charge_output(&self, bytes: usize) -> bool {
        let used = self.output_used.get().saturating_add(bytes);
        self.output_used.set(used);
        if used > self.limits.get().output_bytes {
            self.stop(Limit::Output);
            false
        } else {
            true
        }
    }

    /// Drops every reference into the JS heap, so the runtime can be freed cleanly.
    fn release(&self) {
        self.calls.borrow_mut().clear();
        self.completions.borrow_mut().take();
        self.early.borrow_mut().clear();
        *self.timers.borrow_mut() = Timers::default();
        self.rejections.borrow_mut().clear();
        self.dispatch.borrow_mut().take();
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

impl Isolate {
    /// Runs one execution to its outcome on this thread. An isolate runs exactly one
    /// execution: a second call returns an error outcome without running anything.
    pub fn run(
        &mut self,
        code: &Normalized,
        (preload, prelude): (Option<&Preload>, Option<&str>),
        functions: &FunctionNames,
        limits: &Limits,
        dispatch: Box<dyn HostDispatch>,
        completions: &Receiver<Completion>,
    ) -> Outcome {
        if std::mem::replace(&mut self.used, true) {
            return error_outcome(
                JsError::new(
                    "SandboxError",
                    "an isolate runs one execution; use a fresh one",
                ),
                Instant::now(),
            );
        }
        // Evaluated ahead of time (see `Isolate::warm`): not again.
        let (preload, retained) = match (&self.warmed, preload) {
            (Some(warmed), Some(preload)) if warmed.preload.same(preload) => (None, warmed.bytes),
            (Some(_), _) => {
                return error_outcome(
                    JsError::new(
                        "SandboxError",
                        "this isolate was warmed up for another preload (a bug in islet); run it again",
                    ),
                    Instant::now(),
                );
            }
            (None, preload) => (preload, 0),
        };
        self.run_with(
            code,
            (preload, prelude),
            limits,
            retained,
            (dispatch, completions),
            |run, ctx, _entry| run.execute(ctx, functions, completions),
        )
    }

    /// Whether [`Isolate::warm`] evaluated `preload` in it.
    pub(crate) fn warmed_for(&self, preload: &Preload) -> bool {
        self.warmed
            .as_ref()
            .is_some_and(|w| w.preload.same(preload))
    }

    /// Evaluates `preload` ahead of this isolate's execution, under `limits` and with
    /// nothing bound (see [`Preload`]). `Err` when it failed, or left what belongs to an
    /// execution (timers, a rejected promise, logs): the isolate must then be dropped.
    pub(crate) fn warm(&mut self, preload: &Preload, limits: &Limits) -> Result<(), JsError> {
        if self.used || self.warmed.is_some() {
            return Err(JsError::new(
                "SandboxError",
                "only a fresh isolate is warmed",
            ));
        }
        let (tx, completions) = crossbeam_channel::unbounded();
        let before = self.engine.budget.used.get();
        let empty = Normalized::empty();
        let outcome = self.run_with(
            &empty,
            (Some(preload), None),
            limits,
            0,
            (Box::new(NothingBound(tx)), &completions),
            |run, ctx, _entry| {
                let warmed = run.warm(ctx, &completions);
                (None, warmed.err())
            },
        );
        if let Some(error) = outcome.error {
            return Err(error);
        }
        if !outcome.logs.is_empty() {
            return Err(JsError::new(
                "SandboxError",
                "the preload logged: its output belongs to an execution",
            ));
        }
        self.warmed = Some(Warmed {
            preload: preload.clone(),
            bytes: self.engine.budget.used.get().saturating_sub(before),
        });
        Ok(())
    }

    /// One run of a session (see [`crate::Session`]): the first run binds `functions`,
    /// evaluates `prelude` and `code`, whose value must be a function (the *entry*), and
    /// keeps it; every run, the first included, calls the entry with `input` and its
    /// (awaited) return value is the result. `retained` is what the session's earlier runs
    /// left on the heap; it counts against this run's memory limit.
    pub(crate) fn run_entry(
        &mut self,
        code: &Normalized,
        work: Work<'_>,
        input: &serde_json::Value,
        retained: usize,
    ) -> Outcome {
        self.used = true;
        let Work {
            preload,
            prelude,
            functions,
            limits,
            dispatch,
            completions,
            ..
        } = work;
        self.run_with(
            code,
            (preload, prelude.map(|p| &**p)),
            limits,
            retained,
            (dispatch, completions),
            |run, ctx, entry| {
                let function = match entry.take().and_then(|e| e.restore(ctx).ok()) {
                    Some(function) => function,
                    None => match run.evaluate_entry(ctx, functions, completions) {
                        Ok(function) => function,
                        Err(e) => return (None, Some(e)),
                    },
                };
                *entry = Some(Persistent::save(ctx, function.clone()));
                run.call_entry(ctx, &function, input, completions)
            },
        )
    }

    /// Heap bytes the engine holds now (all of its isolates).
    pub(crate) fn engine_heap_bytes(&self) -> usize {
        self.engine.budget.used.get()
    }

    /// Sets up the per-run state, runs `body` in the context and collects the outcome.
    fn run_with(
        &mut self,
        code: &Normalized,
        (preload, prelude): (Option<&Preload>, Option<&str>),
        limits: &Limits,
        retained: usize,
        (dispatch, completions): (Box<dyn HostDispatch>, &Receiver<Completion>),
        body: impl for<'js> FnOnce(
            &mut Run<'_>,
            &Ctx<'js>,
            &mut Option<Persistent<Function<'static>>>,
        ) -> RunResult,
    ) -> Outcome {
        let started = Instant::now();
        let limits = *limits;
        let budget = &self.engine.budget;
        let baseline = budget.used.get();
        budget.start(baseline.saturating_add(limits.memory_bytes.saturating_sub(retained)));
        let stack_bytes = limits.stack_bytes.min(Limits::MAX_STACK_BYTES);
        let shared = &self.shared;
        *self.engine.current.borrow_mut() = Some(shared.clone());
        shared.limits.set(limits);
        shared.terminate.set(None);
        shared.output_used.set(0);
        shared.host_calls.set(0);
        *shared.dispatch.borrow_mut() = Some(dispatch);
        *shared.completions.borrow_mut() = Some(completions.clone());

        let mut run = Run {
            shared,
            budget,
            code,
            preload,
            prelude,
            preludes: &self.engine.preludes,
            discarding: &self.engine.discarding,
            stack_bytes,
            wall_deadline: started + limits.wall(),
            cpu_used: Duration::ZERO,
            uncaught: None,
        };
        let mut entry = self.entry.take();
        let discarding = &self.engine.discarding;
        let (result, error) = self.context.with(|ctx| {
            jobs::anchor_stack(&ctx, stack_bytes);
            let outcome = body(&mut run, &ctx, &mut entry);
            // Whatever the run left queued (it was terminated, or its result's conversion
            // queued more) is the run's, and ends with it: nothing of it runs later.
            if jobs::next(&ctx) != jobs::Next::Empty {
                jobs::discard(&ctx, discarding, stack_bytes, false);
            }
            shared.release();
            outcome
        });
        self.entry = entry;
        self.engine.current.borrow_mut().take();
        let memory_bytes = budget.peak.get().saturating_sub(baseline) as u64;
        budget.start(usize::MAX);
        Outcome {
            result,
            error,
            logs: std::mem::take(&mut *shared.logs.borrow_mut()),
            stats: Stats {
                cpu_us: run.cpu_used.as_micros() as u64,
                wall_us: started.elapsed().as_micros() as u64,
                memory_bytes,
                host_calls: shared.host_calls.get(),
            },
        }
    }
}

impl Drop for Isolate {
    fn drop(&mut self) {
        // Persistent handles into the heap must go before the runtime is freed.
        self.context.with(|_ctx| {
            self.shared.release();
            self.entry.take();
        });
    }
}

/// The dispatch while warming: nothing is bound, so no call can name a function.
struct NothingBound(crossbeam_channel::Sender<Completion>);

impl HostDispatch for NothingBound {
    fn start(&self, id: u64, _binding: usize, _args: String) {
        let _ = self.0.send(Completion {
            id,
            result: Err(HostError::new(
                "NOT_BOUND",
                "nothing is bound while warming up",
            )),
        });
    }
}

pub(crate) fn error_outcome(error: JsError, started: Instant) -> Outcome {
    Outcome {
        result: None,
        error: Some(error),
        logs: Vec::new(),
        stats: Stats {
            wall_us: started.elapsed().as_micros() as u64,
            ..Stats::default()
        },
    }
}

/// One execution's event loop.
struct Run<'a> {
    shared: &'a Rc<Shared>,
    budget: &'a alloc::Budget,
    code: &'a Normalized,
    /// Evaluated first, unless the isolate was warmed up with it.
    preload: Option<&'a Preload>,
    prelude: Option<&'a str>,
    preludes: &'a prelude::PreludeCache,
    /// The engine's flag for discarding jobs (see `jobs.rs`).
    discarding: &'a Cell<bool>,
    stack_bytes: usize,
    wall_deadline: Instant,
    cpu_used: Duration,
    /// An exception no code caught (thrown by a timer callback): it fails the execution.
    uncaught: Option<JsError>,
}

type RunResult = (Option<serde_json::Value>, Option<JsError>);

impl Run<'_> {
    fn execute<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        functions: &FunctionNames,
        completions: &Receiver<Completion>,
    ) -> RunResult {
        match self.evaluate(ctx, functions, completions) {
            Ok(value) => self.settle(ctx, value, completions),
            Err(e) => (None, Some(e)),
        }
    }

    /// Binds `functions`, runs the prelude and evaluates the code: its value, not awaited.
    fn evaluate<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        functions: &FunctionNames,
        completions: &Receiver<Completion>,
    ) -> Result<Value<'js>, JsError> {
        self.run_preload(ctx, completions)?;
        if let Err(message) = globals::bind_functions(ctx, self.shared, functions) {
            return Err(JsError::new("SandboxError", message));
        }
        if let Some(prelude) = self.prelude
            && let Err(mut error) = self.run_module(ctx, prelude, completions)
        {
            error.message = format!("the host prelude failed: {}", error.message);
            return Err(error);
        }
        let code = self.code;
        self.eval_script(ctx, &code.script, SCRIPT_NAME)
    }

    /// Evaluates `text` as a global, sloppy-mode script named `filename` in stacks.
    fn eval_script<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        text: &str,
        filename: &str,
    ) -> Result<Value<'js>, JsError> {
        let options = {
            let mut o = EvalOptions::default();
            o.global = true;
            o.strict = false;
            o.filename = Some(filename.to_owned());
            o
        };
        let evaluated = self.in_js(|| {
            ctx.eval_with_options::<Value<'_>, _>(text.as_bytes(), options)
                .catch(ctx)
        });
        evaluated.map_err(|e| self.error_from(ctx, e))
    }

    /// Evaluates the code (see [`Self::evaluate`]), whose awaited value must be a function:
    /// a session's entry.
    fn evaluate_entry<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        functions: &FunctionNames,
        completions: &Receiver<Completion>,
    ) -> Result<Function<'js>, JsError> {
        let value = self.evaluate(ctx, functions, completions)?;
        let value = match value.as_promise() {
            Some(promise) => self.await_promise(ctx, promise.clone(), completions)?,
            None => value,
        };
        match value.into_function() {
            Some(function) => Ok(function),
            None => Err(JsError::new(
                "TypeError",
                "a session's code must evaluate to a function (its entry), which each run calls with its input",
            )),
        }
    }

    /// Calls a session's entry with the run's input and settles what it returns.
    fn call_entry<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        entry: &Function<'js>,
        input: &serde_json::Value,
        completions: &Receiver<Completion>,
    ) -> RunResult {
        let text = input.to_string();
        let called = self.in_js(|| {
            let argument = ctx.json_parse(text)?;
            entry.call::<_, Value<'_>>((argument,))
        });
        let value = match called.catch(ctx) {
            Ok(v) => v,
            Err(e) => return (None, Some(self.error_from(ctx, e))),
        };
        self.settle(ctx, value, completions)
    }

    /// Awaits `value` when it is a promise (running jobs either way), then converts it to
    /// the run's result.
    fn settle<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        value: Value<'js>,
        completions: &Receiver<Completion>,
    ) -> RunResult {
        let value = match value.as_promise() {
            Some(promise) => match self.await_promise(ctx, promise.clone(), completions) {
                Ok(v) => v,
                Err(e) => return (None, Some(e)),
            },
            None => {
                if let Err(e) = self.drain_jobs(ctx) {
                    return (None, Some(e));
                }
                value
            }
        };
        if let Some(e) = self.unhandled_rejection(ctx) {
            return (None, Some(e));
        }
        let converted = self.in_js(|| convert::to_json(ctx, &value, self.shared));
        if let Some(limit) = self.shared.terminate.get() {
            return (None, Some(self.limit_error(limit)));
        }
        match converted {
            Ok(json) => {
                if let Some(j) = &json {
                    let size = serialized_len(j);
                    if !self.shared.charge_output(size) {
                        return (None, Some(self.limit_error(Limit::Output)));
                    }
                }
                (json, None)
            }
            Err(message) => (None, Some(JsError::new("ResultError", message))),
        }
    }

    /// Evaluates the preload, if any: its module, then its script, and the jobs they queued.
    fn run_preload<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        completions: &Receiver<Completion>,
    ) -> Result<(), JsError> {
        let Some(preload) = self.preload else {
            return Ok(());
        };
        self.run_module(ctx, &preload.module, completions)?;
        if let Some(script) = &preload.script {
            self.eval_script(ctx, script, PRELUDE_NAME)?;
        }
        self.drain_jobs(ctx)
    }

    /// Ahead of an execution (see [`Isolate::warm`]): the preload, and nothing left over.
    fn warm<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        completions: &Receiver<Completion>,
    ) -> Result<(), JsError> {
        self.run_preload(ctx, completions)?;
        if !self.shared.timers.borrow().queue.is_empty() || self.unhandled_rejection(ctx).is_some()
        {
            return Err(JsError::new(
                "SandboxError",
                "the preload left timers or a rejected promise: they belong to an execution",
            ));
        }
        Ok(())
    }

    /// Evaluates a host prelude or preload as a module (compiled once per engine, see
    /// `prelude.rs`).
    fn run_module<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        prelude: &str,
        completions: &Receiver<Completion>,
    ) -> Result<(), JsError> {
        let preludes = self.preludes;
        let declared = self.in_js(|| preludes.declare(ctx, PRELUDE_NAME, prelude).catch(ctx));
        let module = declared.map_err(|e| self.error_from(ctx, e))?;
        let evaluated = self.in_js(|| module.eval().catch(ctx));
        let (_module, promise) = evaluated.map_err(|e| self.error_from(ctx, e))?;
        self.await_promise(ctx, promise, completions).map(|_| ())
    }

    /// Runs `f` (which enters JavaScript) under the CPU and wall budgets.
    fn in_js<R>(&mut self, f: impl FnOnce() -> R) -> R {
        let limits = self.shared.limits.get();
        let now = Instant::now();
        let cpu_deadline = now + limits.cpu().saturating_sub(self.cpu_used);
        if cpu_deadline <= self.wall_deadline {
            self.shared.deadline.set(cpu_deadline);
            self.shared.deadline_limit.set(Limit::Cpu);
        } else {
            self.shared.deadline.set(self.wall_deadline);
            self.shared.deadline_limit.set(Limit::Wall);
        }
        self.shared.wall_deadline.set(self.wall_deadline);
        self.shared.host_inline.set(Duration::ZERO);
        self.budget.deadline.set(Some(self.shared.deadline.get()));
        let r = f();
        // An allocation refused past the deadline stopped a native call the interrupt
        // handler could not reach (see `alloc.rs`).
        if self.budget.timed_out.get() {
            self.shared.stop(self.shared.deadline_limit.get());
        }
        // A refused allocation ends the execution even if the code caught the error (or it
        // happened inside a promise job, where nothing could catch it).
        if self.budget.exhausted.get() {
            self.shared.stop(Limit::Memory);
        }
        self.budget.deadline.set(None);
        self.budget.timed_out.set(false);
        self.cpu_used += now.elapsed().saturating_sub(self.shared.host_inline.take());
        self.shared.deadline.set(far_future());
        r
    }

    /// Runs the execution's queued jobs until none is left or the execution is terminated.
    /// Other isolates' jobs met on the way are discarded, never run (see `jobs.rs`). A job
    /// that throws (a FinalizationRegistry callback) fails the execution, as an uncaught
    /// exception does in Node.
    fn drain_jobs(&mut self, ctx: &Ctx<'_>) -> Result<(), JsError> {
        let (shared, budget, discarding, stack_bytes) =
            (self.shared, self.budget, self.discarding, self.stack_bytes);
        let thrown = self.in_js(|| {
            loop {
                // Once terminated, nothing of the execution runs again: its remaining jobs
                // are discarded when the run ends.
                if shared.terminate.get().is_some()
                    || budget.exhausted.get()
                    || budget.timed_out.get()
                {
                    return None;
                }
                match jobs::next(ctx) {
                    jobs::Next::Empty => return None,
                    jobs::Next::Own => {
                        if let Some(thrown) = jobs::run_own(ctx) {
                            return Some(thrown);
                        }
                    }
                    jobs::Next::Foreign => jobs::discard(ctx, discarding, stack_bytes, true),
                }
            }
        });
        if let Some(limit) = self.shared.terminate.get() {
            return Err(self.limit_error(limit));
        }
        match thrown {
            Some(thrown) => Err(self.error_from_value(ctx, &thrown)),
            None => Ok(()),
        }
    }

    fn await_promise<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        promise: Promise<'js>,
        completions: &Receiver<Completion>,
    ) -> Result<Value<'js>, JsError> {
        loop {
            self.drain_jobs(ctx)?;
            if let Some(error) = self.uncaught.take() {
                return Err(error);
            }
            if let Some(result) = promise.result::<Value<'_>>() {
                return result.catch(ctx).map_err(|e| self.error_from(ctx, e));
            }
            // Answers a blocking call's wait set aside, before waiting for more.
            let early = self.shared.early.borrow_mut().pop_front();
            if let Some(completion) = early {
                self.complete(ctx, completion);
                continue;
            }
            let next_timer = self.shared.timers.borrow().queue.keys().next().map(|k| k.0);
            if let Some(at) = next_timer.filter(|at| *at <= Instant::now()) {
                self.fire_timer(ctx, at);
                continue;
            }
            if next_timer.is_none() && self.shared.calls.borrow().is_empty() {
                return Err(JsError::new(
                    "Error",
                    "the code's promise never settled: nothing is pending (no host call, no timer) \
                     that could settle it. Did it await a promise that is never resolved?",
                ));
            }
            let wait_until = next_timer.map_or(self.wall_deadline, |t| t.min(self.wall_deadline));
            let received = match spin_for_completion(completions, self.shared) {
                Some(completion) => Ok(completion),
                None => completions.recv_deadline(wait_until),
            };
            match received {
                Ok(completion) => {
                    self.complete(ctx, completion);
                    while let Ok(more) = completions.try_recv() {
                        self.complete(ctx, more);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() >= self.wall_deadline {
                        self.shared.stop(Limit::Wall);
                        return Err(self.limit_error(Limit::Wall));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(JsError::new(
                        "SandboxError",
                        "the host stopped answering host calls (its channel closed)",
                    ));
                }
            }
        }
    }

    fn fire_timer(&mut self, ctx: &Ctx<'_>, at: Instant) {
        let timer = {
            let mut timers = self.shared.timers.borrow_mut();
            let Some((&key, _)) = timers.queue.iter().next() else {
                return;
            };
            debug_assert!(key.0 == at);
            let timer = timers.queue.remove(&key);
            if let Some(timer) = &timer {
                match timer.repeat {
                    Some(every) => {
                        let next = Instant::now() + every;
                        timers.due.insert(key.1, next);
                        timers.queue.insert(
                            (next, key.1),
                            Timer {
                                callback: timer.callback.clone(),
                                args: timer.args.clone(),
                                repeat: timer.repeat,
                            },
                        );
                    }
                    None => {
                        timers.due.remove(&key.1);
                    }
                }
            }
            timer
        };
        let Some(timer) = timer else { return };
        let Ok(callback) = timer.callback.restore(ctx) else {
            return;
        };
        let args: Vec<Value<'_>> = timer
            .args
            .into_iter()
            .filter_map(|a| a.restore(ctx).ok())
            .collect();
        let result = self.in_js(|| {
            callback
                .call::<_, Value<'_>>((rquickjs::function::Rest(args),))
                .catch(ctx)
        });
        if let Err(e) = result {
            // An exception in a timer callback is uncaught: it fails the execution, as in Node.
            if self.shared.terminate.get().is_none() {
                let error = self.error_from(ctx, e);
                self.uncaught.get_or_insert(error);
            }
        }
    }

    fn complete(&mut self, ctx: &Ctx<'_>, completion: Completion) {
        let Some((resolve, reject)) = self.shared.calls.borrow_mut().remove(&completion.id) else {
            return;
        };
        let (Ok(resolve), Ok(reject)) = (resolve.restore(ctx), reject.restore(ctx)) else {
            return;
        };
        self.in_js(|| {
            let settled = match completion.result {
                Ok(json) => match ctx.json_parse(json) {
                    Ok(value) => resolve.call::<_, ()>((value,)),
                    Err(_) => {
                        let e = HostError::new("BAD_RESULT", "the host returned invalid JSON");
                        reject.call::<_, ()>((globals::host_error(ctx, &e),))
                    }
                },
                Err(e) => reject.call::<_, ()>((globals::host_error(ctx, &e),)),
            };
            // Settling only queues jobs; an error here means the engine is out of memory or
            // interrupted, which `terminate` already records.
            let _ = settled.catch(ctx);
        });
    }
}

impl Run<'_> {
    fn limit_error(&self, limit: Limit) -> JsError {
        JsError::limit(limit, self.shared.limits.get().describe(limit))
    }

    /// Turns whatever JavaScript threw into a [`JsError`], recognising limit hits.
    fn error_from<'js>(&mut self, ctx: &Ctx<'js>, caught: CaughtError<'js>) -> JsError {
        match caught {
            CaughtError::Error(e) => self.classify(JsError::new("InternalError", e.to_string())),
            CaughtError::Exception(e) => self.error_from_value(ctx, e.as_value()),
            CaughtError::Value(v) => self.error_from_value(ctx, &v),
        }
    }

    /// Describes a thrown value. Reading it may run the guest's code (getters, a Proxy's
    /// traps, `toString`), so it is read under the execution's limits like any other code.
    fn error_from_value<'js>(&mut self, ctx: &Ctx<'js>, thrown: &Value<'js>) -> JsError {
        if let Some(limit) = self.shared.terminate.get() {
            return self.limit_error(limit);
        }
        let code = self.code;
        let error = self.in_js(|| convert::error_from_value(ctx, thrown, code));
        self.classify(error)
    }

    /// Recognises limit hits among the errors JavaScript reported.
    fn classify(&self, error: JsError) -> JsError {
        if let Some(limit) = self.shared.terminate.get() {
            return self.limit_error(limit);
        }
        // QuickJS reports these as ordinary (catchable) errors; uncaught, they are limit hits.
        if self.budget.exhausted.get() || error.message.contains("out of memory") {
            self.shared.stop(Limit::Memory);
            return self.limit_error(Limit::Memory);
        }
        if error.name == "RangeError" && error.message.contains("Maximum call stack size exceeded")
            || error.name == "InternalError" && error.message.contains("stack overflow")
        {
            return JsError {
                limit: Some(Limit::Stack),
                name: "LimitError".into(),
                message: self.shared.limits.get().describe(Limit::Stack),
                ..error
            };
        }
        error
    }

    /// The first promise rejection no handler was ever attached to, as Node would report it.
    fn unhandled_rejection(&mut self, ctx: &Ctx<'_>) -> Option<JsError> {
        let (_, reason) = self.shared.rejections.borrow_mut().drain(..).next()?;
        let reason = reason.restore(ctx).ok()?;
        let mut error = self.error_from_value(ctx, &reason);
        if error.limit.is_none() {
            error.message = format!("unhandled promise rejection: {}", error.message);
        }
        Some(error)
    }
}

/// Bytes `value` takes as JSON text, counted without building the text.
fn serialized_len(value: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// How long to poll for a host call's completion before parking the thread. A host call
/// that did not answer inline is mostly another isolate's run (a sub-agent's turn, an
/// extension's tool: 50-200 µs); parking and waking a thread costs tens of microseconds,
/// and the polls yield the core, so polling through such a run is cheaper than parking.
const SPIN: Duration = Duration::from_micros(200);

/// Polls briefly for a completion while host calls are in flight.
fn spin_for_completion(completions: &Receiver<Completion>, shared: &Shared) -> Option<Completion> {
    if shared.calls.borrow().is_empty() {
        return None;
    }
    spin_for(SPIN, || completions.try_recv().ok())
}

/// Calls `poll` until it yields something or `window` has passed: for waits usually shorter
/// than parking and waking a thread.
///
/// Between polls the thread yields its core: the answer usually comes from a thread that
/// needs a core to run (an executor, a runtime worker), and with more spinning threads
/// than cores (2 cores, 8 executors) a spinner that kept its core delayed that thread by
/// up to the whole window. Yielding keeps this thread runnable, so it still needs no
/// wake-up.
pub(crate) fn spin_for<T>(window: Duration, mut poll: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + window;
    loop {
        if let Some(found) = poll() {
            return Some(found);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::yield_now();
    }
}
