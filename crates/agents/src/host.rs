//! The actor host: agents addressed as `/agents/<class>/<name>`, each with one mailbox, so
//! calls to one agent never interleave while different agents run in parallel.
//!
//! An agent is *active* while it has a task: activated by its first message (opening its
//! database and a sandbox session, whose live isolate keeps the agent object between
//! turns), it hibernates after `idle_timeout` without messages (the task ends, the session
//! and database close, fields are dropped; `onStart` runs again on the next activation). Every turn is one transaction on the
//! agent's database, committed before the reply is sent (the output gate) and rolled back
//! if the turn fails, so an error never leaves half a call behind nor poisons the next one
//! (unless the agent's code checkpoints: `runFiber` and `ctx.stash` commit the turn so far,
//! and a fiber left running is handed to `onFiberRecovered` by `Actor::recover_fibers`).
//!
//! Schedules live in each agent's database; the catalog keeps, per agent, the earliest
//! time one may be due (written before the agent's commit, so it can be early but never
//! late). The alarm loop re-arms them all on start: one missed while the server was down
//! fires once, then (cron) moves to its next time.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use sandbox::{Bindings, Execution, Limits, Sandbox, Session};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{AgentDb, AgentInfo, DataDir};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::Instrument as _;

use crate::classes::{AgentClass, Classes};
use crate::error::Error;
use crate::linux::{AgentDbAccess, AgentSandboxes};
use crate::runtime::{self, TurnContext, lock};

/// Where an agent lives: its class and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Address {
    pub class: String,
    pub name: String,
}

impl Address {
    pub fn new(class: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "agents.{}(\"{}\")", self.class, self.name)
    }
}

/// Tunables of a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Limits of each turn (one call, request or schedule).
    pub limits: Limits,
    /// An agent without messages for this long hibernates.
    pub idle_timeout: Duration,
    /// Host functions every turn gets besides its own (e.g. the `memory` namespace over
    /// the profiles attached to this host's agents).
    pub bindings: Bindings,
    /// Host functions of one class's agents, by class name, over `bindings` (a name bound
    /// in both is the class's): e.g. `memory.*` over the profiles the class attaches
    /// (`static memory`) plus the server-wide ones.
    pub class_bindings: HashMap<String, Bindings>,
    /// Linux sandboxes for the classes that opt in (`static sandbox`); `None`: the server
    /// offers none, and `this.sandbox` refuses saying how to turn them on.
    pub sandboxes: Option<Arc<dyn AgentSandboxes>>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            idle_timeout: Duration::from_secs(30),
            bindings: Bindings::new(),
            class_bindings: HashMap::new(),
            sandboxes: None,
        }
    }
}

/// An HTTP request for an agent's `onRequest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

/// What `onRequest` answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// What a host has done since it started, for metrics (`islet serve`'s `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Turns by kind (RPC calls, `onRequest`, scheduled callbacks) and those that failed.
    pub calls: u64,
    pub requests: u64,
    pub schedules: u64,
    pub failed_turns: u64,
    /// Agents woken (database opened, sandbox session started) and put to sleep again.
    pub activations: u64,
    pub hibernations: u64,
    /// Agents active now.
    pub active: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    requests: AtomicU64,
    schedules: AtomicU64,
    failed_turns: AtomicU64,
    activations: AtomicU64,
    hibernations: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// A state change, for live subscribers (`GET …/state/events`).
#[derive(Debug, Clone, Serialize)]
pub struct StateEvent {
    pub address: Address,
    pub state: Value,
}

type Reply<T> = oneshot::Sender<Result<T, Error>>;
/// Storage work outside a turn. It answers its caller itself, with its own result type, so
/// nothing is encoded on the way; given `Err` when the agent cannot be activated.
type DbOp = Box<dyn FnOnce(Result<&mut AgentDb, Error>) + Send>;

enum Message {
    Call {
        method: String,
        args: Vec<Value>,
        chain: Vec<Address>,
        reply: Reply<Value>,
    },
    Request {
        request: HttpRequest,
        reply: Reply<HttpResponse>,
    },
    /// A `think` turn: the agent loop asking a `Think` agent for its choices or running
    /// one of its own tools.
    Think {
        op: String,
        payload: Value,
        reply: Reply<Value>,
    },
    /// Storage work outside a turn (workspace over HTTP, state reads, schedules listing),
    /// run between turns on the agent's connection.
    Db(DbOp),
    /// A schedule may be due.
    Alarm,
}

impl Message {
    fn fail(self, error: Error) {
        match self {
            Message::Call { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Message::Db(op) => op(Err(error)),
            Message::Request { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Message::Think { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Message::Alarm => {}
        }
    }
}

pub(crate) struct Inner {
    pub(crate) classes: Classes,
    pub(crate) data: Arc<DataDir>,
    sandbox: Arc<Sandbox>,
    pub(crate) config: HostConfig,
    /// Mailboxes of active agents. Sends happen under this lock, so an agent that decides
    /// to hibernate (also under it) can never miss a message.
    actors: Mutex<HashMap<Address, mpsc::UnboundedSender<Message>>>,
    events: broadcast::Sender<StateEvent>,
    alarms: mpsc::UnboundedSender<(Address, Option<i64>)>,
    shutting_down: AtomicBool,
    /// Actor tasks still running (shutdown waits for them).
    running: AtomicUsize,
    counters: Counters,
}

/// Hosts agents of a set of classes over one data directory. Cheap to clone.
#[derive(Clone)]
pub struct AgentHost {
    inner: Arc<Inner>,
}

impl fmt::Debug for AgentHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentHost")
            .field("classes", &self.inner.classes.names())
            .field("active", &self.active_count())
            .finish()
    }
}

impl AgentHost {
    /// Starts a host and its alarm loop, re-arming every schedule recorded in `data`.
    pub fn start(
        data: Arc<DataDir>,
        classes: Classes,
        sandbox: Arc<Sandbox>,
        config: HostConfig,
    ) -> Result<AgentHost, Error> {
        let pending = data.alarms()?;
        let (alarms, alarm_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            classes,
            data,
            sandbox,
            config,
            actors: Mutex::new(HashMap::new()),
            events: broadcast::channel(1024).0,
            alarms,
            shutting_down: AtomicBool::new(false),
            running: AtomicUsize::new(0),
            counters: Counters::default(),
        });
        let initial = pending
            .into_iter()
            .map(|a| (a.at_ms, Address::new(a.class, a.name)))
            .collect();
        tokio::spawn(alarm_loop(Arc::downgrade(&inner), alarm_rx, initial));
        Ok(AgentHost { inner })
    }

    pub fn classes(&self) -> &Classes {
        &self.inner.classes
    }

    /// The sandbox agent turns run in, for embedders that run other code beside them.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.inner.sandbox
    }

    pub fn data(&self) -> &Arc<DataDir> {
        &self.inner.data
    }

    /// Calls `method` of the agent at `class`/`name` with positional `args`, activating
    /// (and on first use creating) the agent. The reply comes after the call's writes are
    /// committed.
    pub async fn call(
        &self,
        class: &str,
        name: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, Error> {
        Inner::call_chain(
            &self.inner,
            Address::new(class, name),
            method.to_owned(),
            args,
            Vec::new(),
        )
        .await
    }

    /// Hands an HTTP request to the agent's `onRequest`.
    pub async fn request(
        &self,
        class: &str,
        name: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, Error> {
        let address = self.inner.checked_address(class, name)?;
        let (reply, rx) = oneshot::channel();
        self.inner
            .deliver(&address, Message::Request { request, reply })?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Runs a `think` turn of a `Think` agent (activating or creating it): `op` is
    /// `"config"` (its model, system prompt, step limit and own tools) or `"tool"` (run
    /// one of its tools: `payload` is `{name, input, callId}`). Like any turn it is one
    /// transaction, so a tool's writes commit before the loop sees its result.
    pub async fn think(
        &self,
        class: &str,
        name: &str,
        op: &str,
        payload: Value,
    ) -> Result<Value, Error> {
        let address = self.inner.checked_address(class, name)?;
        let (reply, rx) = oneshot::channel();
        self.inner.deliver(
            &address,
            Message::Think {
                op: op.to_owned(),
                payload,
                reply,
            },
        )?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Runs `op` on an existing agent's database between its turns. `NotFound` (without
    /// creating anything) when the agent was never created.
    pub async fn with_db<T, F>(&self, class: &str, name: &str, op: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let address = self.inner.checked_address(class, name)?;
        if !self.is_active(&address) && !self.inner.data.agent_exists(class, name)? {
            return Err(Error::NoSuchAgent {
                class: class.to_owned(),
                name: name.to_owned(),
            });
        }
        self.db_op(address, op).await
    }

    /// Like [`Self::with_db`], creating the agent (its database) if it does not exist yet,
    /// without calling it: uploads often come before the first call.
    pub async fn with_new_or_existing_db<T, F>(
        &self,
        class: &str,
        name: &str,
        op: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let address = self.inner.checked_address(class, name)?;
        self.db_op(address, op).await
    }

    async fn db_op<T, F>(&self, address: Address, op: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let op: DbOp = Box::new(move |db| {
            let _ = reply.send(db.and_then(op));
        });
        self.inner.deliver(&address, Message::Db(op))?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// The agent's state (`null` when it never set one).
    pub async fn state(&self, class: &str, name: &str) -> Result<Value, Error> {
        self.with_db(class, name, |db| Ok(db.state()?.unwrap_or(Value::Null)))
            .await
    }

    /// State changes of every agent, as they are committed.
    pub fn subscribe(&self) -> broadcast::Receiver<StateEvent> {
        self.inner.events.subscribe()
    }

    /// Agents known to the data directory (active or hibernating), by class then name.
    pub fn list(
        &self,
        class: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<AgentInfo>, Error> {
        if let Some(class) = class {
            self.inner.classes.get(class)?;
        }
        Ok(self.inner.data.list_agents(class, after, limit)?)
    }

    pub fn is_active(&self, address: &Address) -> bool {
        self.inner.actors_lock().contains_key(address)
    }

    /// Agents currently active (not hibernating).
    pub fn active_count(&self) -> usize {
        self.inner.actors_lock().len()
    }

    /// Totals since the host started.
    pub fn stats(&self) -> HostStats {
        let c = &self.inner.counters;
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        HostStats {
            calls: read(&c.calls),
            requests: read(&c.requests),
            schedules: read(&c.schedules),
            failed_turns: read(&c.failed_turns),
            activations: read(&c.activations),
            hibernations: read(&c.hibernations),
            active: self.active_count() as u64,
        }
    }

    /// `agents.<Class>.<method>` bindings for code outside any agent (Code Mode's
    /// `execute`); the runtime prelude adds the `agents.Class("name").method()` form.
    pub fn bindings(&self) -> Bindings {
        let mut b = Bindings::new();
        runtime::bind_agents(&mut b, &self.inner, Address::new("", ""), Vec::new());
        b
    }

    /// The host functions `class`'s agents get besides the server-wide ones
    /// ([`HostConfig::class_bindings`]), if it has any.
    pub fn class_bindings(&self, class: &str) -> Option<&Bindings> {
        self.inner.config.class_bindings.get(class)
    }

    /// Runs one operation of the agent's Linux sandbox (`exec`, `runCode`, `readFile`, …; see
    /// `linuxbox::OPERATIONS`) from outside its turns (HTTP, Think tools), creating the agent
    /// if needed; the workspace sync around it visits the agent between its turns.
    pub async fn linux_sandbox(
        &self,
        class: &str,
        name: &str,
        op: &str,
        args: Value,
    ) -> Result<Value, Error> {
        let address = self.inner.checked_address(class, name)?;
        let settings = self.inner.classes.get(class)?.sandbox.clone();
        let sandboxes = self.inner.config.sandboxes.as_ref();
        if let Some(refusal) = crate::linux::refusal(class, settings.as_ref(), sandboxes.is_some())
        {
            return Err(Error::Host(Box::new(refusal)));
        }
        let (Some(sandboxes), Some(settings)) = (sandboxes, settings) else {
            return Err(Error::ShuttingDown);
        };
        let access = AgentDbAccess::between(self.clone(), address.clone());
        sandboxes
            .call(&address, &settings, op.to_owned(), args, access)
            .await
            .map_err(|e| Error::Host(Box::new(e)))
    }

    /// Whether agents of `class` may use a Linux sandbox on this host.
    pub fn linux_sandbox_enabled(&self, class: &str) -> bool {
        self.inner.config.sandboxes.is_some()
            && self
                .inner
                .classes
                .get(class)
                .is_ok_and(|c| c.sandbox.is_some())
    }

    /// The prelude that gives code the `agents.Class("name")` form over [`Self::bindings`].
    pub fn prelude() -> &'static str {
        runtime::PRELUDE
    }

    /// Stops accepting messages and waits (up to `grace`) for agents to finish their turns.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
        // Dropping the senders ends each actor after the messages already queued.
        self.inner.actors_lock().clear();
        let deadline = tokio::time::Instant::now() + grace;
        while self.inner.running.load(Ordering::SeqCst) > 0
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Inner {
    fn actors_lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Address, mpsc::UnboundedSender<Message>>> {
        // The map holds plain senders; a panic elsewhere while holding it cannot leave it
        // half-updated.
        lock(&self.actors)
    }

    fn checked_address(&self, class: &str, name: &str) -> Result<Address, Error> {
        self.classes.get(class)?;
        check_name(name)?;
        Ok(Address::new(class, name))
    }

    pub(crate) async fn call_chain(
        this: &Arc<Inner>,
        address: Address,
        method: String,
        args: Vec<Value>,
        chain: Vec<Address>,
    ) -> Result<Value, Error> {
        let class = this.classes.get(&address.class)?;
        check_name(&address.name)?;
        if !class.has_method(&method) {
            return Err(class.unknown_method(&method));
        }
        if chain.contains(&address) {
            return Err(Error::Reentrant {
                target: address.to_string(),
                chain: chain
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" → "),
            });
        }
        let (reply, rx) = oneshot::channel();
        this.deliver(
            &address,
            Message::Call {
                method,
                args,
                chain,
                reply,
            },
        )?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Queues `message` for the agent, activating it if it is hibernating.
    fn deliver(self: &Arc<Self>, address: &Address, message: Message) -> Result<(), Error> {
        if self.shutting_down.load(Ordering::SeqCst) {
            message.fail(Error::ShuttingDown);
            return Err(Error::ShuttingDown);
        }
        let class = Arc::clone(self.classes.get(&address.class)?);
        let mut actors = self.actors_lock();
        let message = match actors.get(address) {
            Some(mailbox) => match mailbox.send(message) {
                Ok(()) => return Ok(()),
                // The actor ended (its activation failed) without removing itself yet.
                Err(mpsc::error::SendError(message)) => message,
            },
            None => message,
        };
        let (mailbox, rx) = mpsc::unbounded_channel();
        let _ = mailbox.send(message);
        actors.insert(address.clone(), mailbox);
        drop(actors);
        let actor = Actor {
            address: address.clone(),
            class,
            host: Arc::clone(self),
            db: None,
            session: None,
            fields: None,
            alarm: None,
            check_fibers: false,
        };
        self.running.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(actor.run(rx));
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "invalid agent name {name:?}: use 1 to 256 characters without control characters"
        )));
    }
    Ok(())
}

/// One active agent: its database, its in-memory fields, its mailbox.
struct Actor {
    address: Address,
    class: Arc<AgentClass>,
    host: Arc<Inner>,
    db: Option<Arc<Mutex<AgentDb>>>,
    /// The sandbox session whose live isolate keeps the agent object between turns.
    session: Option<Session>,
    /// Encoded fields after the last successful turn; `None` until `onStart` has run. A
    /// fresh isolate (after a failed turn, or one the sandbox recycled) rebuilds the agent
    /// object from them.
    fields: Option<Value>,
    /// What the catalog's alarm index says for this agent, as far as we know.
    alarm: Option<Option<i64>>,
    /// Look for fibers left running (after activation, or a turn that ran a fiber).
    check_fibers: bool,
}

enum TurnKind {
    Call {
        method: String,
        args: Vec<Value>,
    },
    Think {
        op: String,
        payload: Value,
    },
    Request(HttpRequest),
    Schedule(store::Schedule),
    /// `onFiberRecovered(ctx)` for a fiber left running.
    FiberRecovered(store::Fiber),
}

impl Actor {
    async fn run(mut self, rx: mpsc::UnboundedReceiver<Message>) {
        let host = Arc::clone(&self.host);
        self.serve(rx).await;
        if let Some(db) = &self.db {
            // Fold the write-ahead log into the database so a hibernating agent's data is
            // all in its database file (the log is left empty, not deleted).
            if let Err(e) = lock(db).checkpoint() {
                tracing::debug!(agent = %self.address, error = %e, "checkpoint on hibernation failed");
            }
        }
        // Everything the agent's sandbox runs ends with the agent's activation.
        if let Some(sandboxes) = &host.config.sandboxes {
            sandboxes.release(&self.address);
        }
        // Close the database before counting this agent as stopped.
        drop(self);
        host.running.fetch_sub(1, Ordering::SeqCst);
    }

    async fn serve(&mut self, mut rx: mpsc::UnboundedReceiver<Message>) {
        let idle = self.host.config.idle_timeout;
        loop {
            let message = match tokio::time::timeout(idle, rx.recv()).await {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(_elapsed) => {
                    let mut actors = self.host.actors_lock();
                    match rx.try_recv() {
                        Ok(message) => message,
                        Err(_) => {
                            actors.remove(&self.address);
                            bump(&self.host.counters.hibernations);
                            break;
                        }
                    }
                }
            };
            if let Err(e) = self.open() {
                tracing::warn!(agent = %self.address, error = %e, "cannot activate the agent");
                message.fail(e);
                // Without a database the agent cannot serve anything queued either.
                let mut actors = self.host.actors_lock();
                actors.remove(&self.address);
                drop(actors);
                rx.close();
                while let Ok(m) = rx.try_recv() {
                    m.fail(Error::InvalidInput(format!(
                        "{} could not be activated; see the server log",
                        self.address
                    )));
                }
                return;
            }
            if self.check_fibers {
                self.recover_fibers().await;
            }
            self.handle(message).await;
            if self.check_fibers {
                self.recover_fibers().await;
            }
        }
        tracing::debug!(agent = %self.address, "hibernating");
    }

    fn open(&mut self) -> Result<(), Error> {
        if self.db.is_none() {
            let db = self
                .host
                .data
                .open_agent(&self.address.class, &self.address.name)?;
            self.db = Some(Arc::new(Mutex::new(db)));
            self.session = Some(self.host.sandbox.session());
            bump(&self.host.counters.activations);
            self.check_fibers = true;
        }
        Ok(())
    }

    /// Hands each `runFiber` fiber left running (by a process that ended, or a turn that
    /// failed after its fiber's end) to `onFiberRecovered`, one turn each; a class without
    /// it, or whose hook fails, gets the fiber marked failed. Then the alarm index gets
    /// the agent's exact next schedule (`runFiber` set it early, to wake the agent).
    async fn recover_fibers(&mut self) {
        self.check_fibers = false;
        let unfinished = lock(&self.db()).fibers().unfinished();
        let fibers = match unfinished {
            Ok(fibers) => fibers,
            Err(e) => {
                tracing::warn!(agent = %self.address, error = %e, "cannot look for fibers left running");
                return;
            }
        };
        for fiber in fibers
            .into_iter()
            .filter(|f| f.name != runtime::THINK_FIBER)
        {
            let id = fiber.id.clone();
            let failure = if self.class.has_on_fiber_recovered {
                tracing::info!(agent = %self.address, fiber = %id, name = %fiber.name, "recovering a fiber");
                match self.turn(TurnKind::FiberRecovered(fiber), Vec::new()).await {
                    Ok(_) => None,
                    Err(e) => Some(format!("onFiberRecovered failed: {e}")),
                }
            } else {
                Some(format!(
                    "interrupted, and {} has no onFiberRecovered(ctx) to resume it",
                    self.address.class
                ))
            };
            if let Some(message) = failure {
                tracing::warn!(agent = %self.address, fiber = %id, "{message}");
                let db = self.db();
                let mut db = lock(&db);
                let failed = db.transaction(|db| db.fibers().fail(&id, &message).map(drop));
                if let Err(e) = failed {
                    tracing::warn!(agent = %self.address, fiber = %id, error = %e, "cannot mark the fiber failed");
                }
            }
        }
        self.alarm = None;
        self.sync_alarm();
    }

    fn db(&self) -> Arc<Mutex<AgentDb>> {
        Arc::clone(self.db.as_ref().expect("opened before handling messages"))
    }

    async fn handle(&mut self, message: Message) {
        match message {
            Message::Call {
                method,
                args,
                chain,
                reply,
            } => {
                // One span per call, with its duration when it closes (`--log-format json`
                // shows it as an event with `time.busy`).
                let span =
                    tracing::info_span!("agent_call", agent = %self.address, method = %method);
                bump(&self.host.counters.calls);
                let result = self
                    .turn(TurnKind::Call { method, args }, chain)
                    .instrument(span)
                    .await;
                let _ = reply.send(result);
            }
            Message::Request { request, reply } => {
                bump(&self.host.counters.requests);
                let span = tracing::info_span!("agent_request", agent = %self.address);
                let result = self
                    .turn(TurnKind::Request(request), Vec::new())
                    .instrument(span)
                    .await
                    .and_then(|v| {
                        serde_json::from_value::<HttpResponse>(v).map_err(|e| {
                            Error::InvalidInput(format!(
                                "onRequest returned an unusable response: {e}"
                            ))
                        })
                    });
                let _ = reply.send(result);
            }
            Message::Think { op, payload, reply } => {
                let result = self.turn(TurnKind::Think { op, payload }, Vec::new()).await;
                let _ = reply.send(result);
            }
            Message::Db(op) => {
                let db = self.db();
                op(Ok(&mut lock(&db)));
                self.sync_alarm();
            }
            Message::Alarm => self.fire_due().await,
        }
    }

    /// Runs every due schedule, each in its own turn.
    async fn fire_due(&mut self) {
        let now = self.host.data.env().now_ms();
        let due = match lock(&self.db()).due_schedules(now) {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(agent = %self.address, error = %e, "cannot read due schedules");
                return;
            }
        };
        for schedule in due {
            let id = schedule.id.clone();
            let method = schedule.method.clone();
            bump(&self.host.counters.schedules);
            if let Err(e) = self.turn(TurnKind::Schedule(schedule), Vec::new()).await {
                tracing::warn!(agent = %self.address, schedule = %id, method = %method, error = %e,
                    "a scheduled call failed; it will not be retried");
                // The failed turn rolled back; mark the schedule done on its own so it does
                // not fire again and again.
                let db = self.db();
                let mut db = lock(&db);
                let done = db.transaction(|db| db.complete_schedule(&id, now));
                if let Err(e) = done {
                    tracing::warn!(agent = %self.address, schedule = %id, error = %e, "cannot complete the schedule");
                }
            }
        }
        // Always write the exact value: the catalog may hold an early over-approximation.
        self.alarm = None;
        self.sync_alarm();
    }

    /// Brings the catalog's alarm index and the alarm loop up to date after a commit.
    fn sync_alarm(&mut self) {
        match lock(&self.db()).next_alarm() {
            Ok(next) => self.record_alarm(next),
            Err(e) => {
                tracing::warn!(agent = %self.address, error = %e, "cannot read the next alarm");
            }
        }
    }

    /// Records `next` (the agent's next schedule time, read after its commit) in the
    /// catalog's alarm index and the alarm loop, unless they already have it.
    fn record_alarm(&mut self, next: Option<i64>) {
        if self.alarm == Some(next) {
            return;
        }
        match self
            .host
            .data
            .set_alarm(&self.address.class, &self.address.name, next)
        {
            Ok(()) => {
                self.alarm = Some(next);
                let _ = self.host.alarms.send((self.address.clone(), next));
            }
            Err(e) => tracing::warn!(agent = %self.address, error = %e, "cannot record the alarm"),
        }
    }

    /// Commits a finished turn (or rolls back a failed one) and returns what the driver
    /// produced (`{result, fields}`) and the agent's next schedule time.
    fn commit_turn(
        &mut self,
        db: &Mutex<AgentDb>,
        outcome: sandbox::Outcome,
        schedule_id: Option<&str>,
        recovered_fiber: Option<&str>,
    ) -> Result<(Value, Option<i64>), Error> {
        let mut db = lock(db);
        if let Some(error) = outcome.error {
            db.rollback()?;
            return Err(Error::Js(Box::new(error)));
        }
        let produced = outcome.result.unwrap_or(Value::Null);
        let done = (|| -> Result<Option<i64>, Error> {
            if let Some(id) = schedule_id {
                db.complete_schedule(id, self.host.data.env().now_ms())?;
            }
            if let Some(id) = recovered_fiber {
                db.fibers().recover(id, &Value::Null)?;
                db.fibers().complete(id, &json!({ "recovered": true }))?;
            }
            // The alarm index may run early, never late: record an earlier alarm before
            // the commit makes the schedule real.
            let next = db.next_alarm()?;
            if let Some(at) = next {
                let known = self.alarm.flatten();
                if known.is_none_or(|k| at < k) {
                    self.host
                        .data
                        .set_alarm(&self.address.class, &self.address.name, Some(at))?;
                    self.alarm = Some(Some(at));
                    let _ = self.host.alarms.send((self.address.clone(), Some(at)));
                }
            }
            db.commit()?;
            Ok(next)
        })();
        match done {
            Ok(next) => Ok((produced, next)),
            Err(e) => {
                let _ = db.rollback();
                Err(e)
            }
        }
    }

    async fn turn(&mut self, kind: TurnKind, chain: Vec<Address>) -> Result<Value, Error> {
        let result = self.turn_uncounted(kind, chain).await;
        if result.is_err() {
            bump(&self.host.counters.failed_turns);
        }
        result
    }

    async fn turn_uncounted(
        &mut self,
        kind: TurnKind,
        chain: Vec<Address>,
    ) -> Result<Value, Error> {
        let db = self.db();
        let started = self.fields.is_none();
        let state = {
            let mut db = lock(&db);
            if db.in_transaction() {
                // Left open by a turn that panicked mid-way; its writes were never acknowledged.
                db.rollback()?;
            }
            db.begin()?;
            match db.state() {
                Ok(state) => state,
                Err(e) => {
                    let _ = db.rollback();
                    return Err(e.into());
                }
            }
        };
        let mut input = json!({
            "name": self.address.name,
            "class": self.address.class,
            "state": state.unwrap_or(Value::Null),
            "fields": self.fields.clone().unwrap_or(Value::Null),
            "start": started && self.class.has_on_start,
        });
        let schedule_id = match &kind {
            TurnKind::Call { method, args } => {
                input["kind"] = json!("call");
                input["method"] = json!(method);
                input["args"] = json!(args);
                None
            }
            TurnKind::Think { op, payload } => {
                input["kind"] = json!("think");
                input["op"] = json!(op);
                input["payload"] = payload.clone();
                None
            }
            TurnKind::Request(request) => {
                input["kind"] = json!("request");
                input["request"] = json!(request);
                None
            }
            TurnKind::Schedule(schedule) => {
                input["kind"] = json!("schedule");
                input["method"] = json!(schedule.method);
                input["payload"] = schedule.payload.clone();
                input["schedule"] = runtime::schedule_view(schedule);
                Some(schedule.id.clone())
            }
            TurnKind::FiberRecovered(fiber) => {
                input["kind"] = json!("fiberRecovered");
                input["fiber"] = json!({
                    "id": fiber.id,
                    "name": fiber.name,
                    "snapshot": fiber.stash,
                    "recoveries": fiber.recoveries + 1,
                    "createdAt": fiber.created_at_ms,
                });
                None
            }
        };
        let recovered_fiber = match &kind {
            TurnKind::FiberRecovered(fiber) => Some(fiber.id.clone()),
            _ => None,
        };
        let context = Arc::new(TurnContext {
            address: self.address.clone(),
            db: Arc::clone(&db),
            host: Arc::downgrade(&self.host),
            chain,
            new_state: Mutex::new(None),
            fibers_touched: AtomicBool::new(false),
        });
        let execution = Execution::new(&*self.class.turn_code)
            .prelude(Arc::clone(&runtime::SHARED_PRELUDE))
            .bindings(runtime::turn_bindings(Arc::clone(&context)))
            .limits(self.host.config.limits);
        let session = self
            .session
            .as_ref()
            .expect("opened before handling messages");
        let outcome = session.run(execution, input).await;
        for log in &outcome.logs {
            tracing::info!(agent = %self.address, level = ?log.level, "{}", log.text);
        }
        let failed = outcome.error.is_some();
        let committed = self.commit_turn(
            &db,
            outcome,
            schedule_id.as_deref(),
            recovered_fiber.as_deref(),
        );
        if context.fibers_touched.load(Ordering::SeqCst) {
            self.check_fibers = true;
        }
        if committed.is_err()
            && !failed
            && let Some(session) = &self.session
        {
            // The isolate saw the turn succeed, but its writes were rolled back.
            session.discard();
        }
        let (produced, next_alarm) = committed.map_err(|e| match e {
            Error::Js(js) => Error::from_turn(*js, || match &kind {
                TurnKind::Call { method, .. } => format!("{}.{method}", self.address),
                TurnKind::Request(_) => format!("{}.onRequest", self.address),
                TurnKind::Think { op, payload } => match payload.get("name") {
                    Some(tool) if op == "tool" => format!("{}: tool {tool}", self.address),
                    _ => format!("{}: think {op}", self.address),
                },
                TurnKind::Schedule(s) => format!("{}.{} (scheduled)", self.address, s.method),
                TurnKind::FiberRecovered(_) => format!("{}.onFiberRecovered", self.address),
            }),
            other => other,
        })?;
        self.fields = Some(produced.get("fields").cloned().unwrap_or(Value::Null));
        let new_state = lock(&context.new_state).take();
        if let Some(state) = new_state {
            let _ = self.host.events.send(StateEvent {
                address: self.address.clone(),
                state,
            });
        }
        self.record_alarm(next_alarm);
        Ok(produced.get("result").cloned().unwrap_or(Value::Null))
    }
}

/// Wakes agents whose schedules are due. Times come from the data directory's clock; the
/// loop re-checks at least once a second so an injected clock that jumps is noticed.
async fn alarm_loop(
    host: Weak<Inner>,
    mut updates: mpsc::UnboundedReceiver<(Address, Option<i64>)>,
    initial: Vec<(i64, Address)>,
) {
    let mut queue: BTreeSet<(i64, Address)> = BTreeSet::new();
    let mut armed: HashMap<Address, i64> = HashMap::new();
    for (at, address) in initial {
        armed.insert(address.clone(), at);
        queue.insert((at, address));
    }
    loop {
        let Some(inner) = host.upgrade() else { return };
        let now = inner.data.env().now_ms();
        while let Some((at, _)) = queue.first() {
            if *at > now {
                break;
            }
            let Some((_, address)) = queue.pop_first() else {
                break;
            };
            armed.remove(&address);
            if inner.deliver(&address, Message::Alarm).is_err() {
                return;
            }
        }
        let wait = queue
            .first()
            .map_or(1_000, |(at, _)| (at - now).clamp(1, 1_000));
        drop(inner);
        tokio::select! {
            update = updates.recv() => {
                let Some((address, at)) = update else { return };
                if let Some(old) = armed.remove(&address) {
                    queue.remove(&(old, address.clone()));
                }
                if let Some(at) = at {
                    armed.insert(address.clone(), at);
                    queue.insert((at, address));
                }
            }
            () = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
        }
    }
}
