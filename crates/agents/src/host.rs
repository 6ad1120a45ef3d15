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

use base::sync::lock;
use sandbox::{Bindings, Execution, Limits, Sandbox, Session};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use store::{AgentDb, AgentInfo, DataDir};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tracing::Instrument as _;

use crate::address::{Address, SEP, check_name};
use crate::classes::{AgentClass, Classes};
use crate::durable::{Claim, Durable, Forwarder};
use crate::error::Error;
use crate::linux::{AgentDbAccess, AgentSandboxes, DbWork};
use crate::prelude;
use crate::runtime::{self, TurnContext};

/// One agent in a chain of calls waiting on each other, with the way into its waiting
/// call: a call to an agent in the caller's chain is handed to the call that agent is
/// waiting on (and runs inside its turn) instead of its mailbox, where it would wait for
/// that very turn to end (see `ARCHITECTURE.md`, "Re-entrant calls").
#[derive(Clone)]
pub(crate) struct Link {
    pub address: Address,
    pub reentry: mpsc::UnboundedSender<Reentry>,
}

/// A call handed into a waiting turn.
pub(crate) struct Reentry {
    pub method: String,
    pub args: Vec<Value>,
    /// The chain of the caller, for the calls the re-entered method makes in turn.
    pub chain: Vec<Link>,
    pub reply: Reply<Value>,
}

/// The longest chain of agents waiting on each other; deeper is a runaway recursion.
const MAX_CHAIN: usize = 64;

/// Tunables of a host.
#[derive(Clone)]
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
    /// The `fetch` of an extension allowed to reach exactly the hosts of its manifest
    /// (issue 16); `None`: extensions get no network, and an install asking for it is
    /// refused.
    pub extension_fetch: Option<crate::permissions::ExtensionFetch>,
    /// The operator's cap on extensions' permissions; `None`: no cap beyond the fetcher's.
    pub extension_policy: Option<crate::permissions::ExtensionPolicy>,
    /// Linux sandboxes for the classes that opt in (`static sandbox`); `None`: the server
    /// offers none, and `this.sandbox` refuses saying how to turn them on.
    pub sandboxes: Option<Arc<dyn AgentSandboxes>>,
    /// Cluster mode (issue 21): where agents' durable copies and leases live. `None`
    /// (single node): the local SQLite files are the only copy and nothing is shipped.
    pub durable: Option<Arc<dyn Durable>>,
    /// Cluster mode: calls of agents another node holds are made there (a call from an
    /// agent, a schedule or Code Mode on this node). `None`: they fail with `NOT_OWNER`.
    pub forwarder: Option<Arc<dyn Forwarder>>,
    /// Package imports in code agents give at run time (extensions, `this.isolates`,
    /// code tools), served as for class modules (islet serve: the npm rung, or its
    /// refusal naming `--allow-npm`). `None`: such code cannot import anything.
    pub packages: Option<Arc<dyn crate::ModulePackages>>,
}

impl fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConfig")
            .field("limits", &self.limits)
            .field("idle_timeout", &self.idle_timeout)
            .field("bindings", &self.bindings)
            .field("class_bindings", &self.class_bindings)
            .field("extension_fetch", &self.extension_fetch.is_some())
            .field("extension_policy", &self.extension_policy)
            .field("sandboxes", &self.sandboxes.is_some())
            .field("durable", &self.durable)
            .field("forwarder", &self.forwarder)
            .field("packages", &self.packages.is_some())
            .finish()
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            idle_timeout: Duration::from_secs(30),
            bindings: Bindings::new(),
            class_bindings: HashMap::new(),
            extension_fetch: None,
            extension_policy: None,
            sandboxes: None,
            durable: None,
            forwarder: None,
            packages: None,
        }
    }
}

/// An HTTP request for an agent's `onRequest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpRequest {
    /// The HTTP method, e.g. `GET`.
    pub method: String,
    /// The request URL as the agent sees it.
    pub url: String,
    /// Header names and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as text; `None` when the request had none.
    pub body: Option<String>,
}

/// What `onRequest` answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpResponse {
    /// The status code sent to the client.
    pub status: u16,
    /// Header names and values to send.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

/// A sub-agent as `listSubAgents()` and `GET …/sub` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubAgentInfo {
    /// The sub-agent's class.
    pub class_name: String,
    /// Its own name (not its parents').
    pub name: String,
    /// When it was first created, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// What a host has done since it started, for metrics (`islet serve`'s `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Turns by kind (RPC calls, `onRequest`, scheduled callbacks) and those that failed.
    pub calls: u64,
    /// `onRequest` turns.
    pub requests: u64,
    /// Scheduled callbacks run.
    pub schedules: u64,
    /// Turns of any kind that failed and were rolled back.
    pub failed_turns: u64,
    /// Agents woken (database opened, sandbox session started) and put to sleep again.
    pub activations: u64,
    /// Agents put to sleep (database closed, isolate dropped).
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
    /// The agent whose state changed.
    pub address: Address,
    /// Its new state, as `this.setState` set it.
    pub state: Value,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;
/// Storage work outside a turn. It answers its caller itself, with its own result type, so
/// nothing is encoded on the way; given `Err` when the agent cannot be activated. What it
/// returns sends the answer, given `Err` instead when the op's writes could not be made
/// durable (cluster mode ships them first).
type DbOp = Box<dyn FnOnce(Result<&mut AgentDb, Error>) -> DbReply + Send>;
type DbReply = Box<dyn FnOnce(Result<(), Error>) + Send>;

enum Message {
    Call {
        method: String,
        args: Vec<Value>,
        chain: Vec<Link>,
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
    /// Delete the agent's data (after the turns queued before this message).
    Delete(Reply<bool>),
}

impl Message {
    fn fail(self, error: Error) {
        match self {
            Message::Call { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Message::Db(op) => op(Err(error))(Ok(())),
            Message::Request { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Message::Think { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Message::Delete(reply) => {
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
    actors: Mutex<HashMap<Address, Mailbox>>,
    /// Numbers mailboxes, so an actor removes its own entry and never a successor's.
    generations: AtomicU64,
    events: broadcast::Sender<StateEvent>,
    alarms: mpsc::UnboundedSender<(Address, Option<i64>)>,
    /// Modules agents loaded with `this.isolates.load` (dropped when the agent stops).
    pub(crate) loaded: crate::isolates::LoadedMap,
    shutting_down: AtomicBool,
    /// Actor tasks still running (shutdown waits for them).
    running: AtomicUsize,
    counters: Counters,
}

/// An active agent's entry in the host: its mailbox and the way to abort it.
struct Mailbox {
    sender: mpsc::UnboundedSender<Message>,
    generation: u64,
    /// Set (once) to the reason by `abortSubAgent`: the turn in progress stops and the
    /// queued messages fail.
    abort: watch::Sender<Option<String>>,
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
            generations: AtomicU64::new(0),
            events: broadcast::channel(1024).0,
            alarms,
            loaded: Default::default(),
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

    /// The agent classes this host serves.
    pub fn classes(&self) -> &Classes {
        &self.inner.classes
    }

    /// The sandbox agent turns run in, for embedders that run other code beside them.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.inner.sandbox
    }

    /// The data directory the agents' databases live in.
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
        let address = self.inner.checked_address(class, name)?;
        Inner::call_chain(&self.inner, address, method.to_owned(), args, Vec::new()).await
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
        self.think_at(&address, op, payload).await
    }

    /// [`Self::think`] for an address (a sub-agent's must exist: see [`Self::sub_agent`]).
    pub async fn think_at(
        &self,
        address: &Address,
        op: &str,
        payload: Value,
    ) -> Result<Value, Error> {
        self.inner.check_at(address)?;
        let address = address.clone();
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
        self.with_db_at(&address, op).await
    }

    /// [`Self::with_db`] for an address (a sub-agent's: see [`Self::resolve`]).
    pub async fn with_db_at<T, F>(&self, address: &Address, op: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        if !self.is_active(address) {
            // In a cluster the agent may exist only in the durable copy (served elsewhere
            // until now).
            let exists = match &self.inner.config.durable {
                Some(durable) => durable.exists(address).await?,
                None => self
                    .inner
                    .data
                    .agent_exists(&address.class, &address.name)?,
            };
            if !exists {
                return Err(no_such_agent(address));
            }
        }
        self.db_op(address.clone(), op).await
    }

    /// The address of the agent at `path`: `(class, name)` of a top-level agent, then of
    /// each sub-agent down to the one meant. Every sub-agent on the way must exist (only
    /// parents create sub-agents); the top-level agent need not.
    pub fn resolve(&self, path: &[(String, String)]) -> Result<Address, Error> {
        self.inner.resolve(path)
    }

    /// [`Self::call`] for an address (a sub-agent's: see [`Self::resolve`]).
    pub async fn call_at(
        &self,
        address: &Address,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Value, Error> {
        Inner::call_chain(
            &self.inner,
            address.clone(),
            method.to_owned(),
            args,
            Vec::new(),
        )
        .await
    }

    /// Deletes the agent at `address` with every sub-agent under it, each after the turn
    /// it is running; the database files are removed. Returns whether it existed.
    pub async fn delete(&self, address: &Address) -> Result<bool, Error> {
        self.inner.classes.get(&address.class)?;
        Inner::delete_tree(Arc::clone(&self.inner), address.clone()).await
    }

    /// The direct sub-agents of `parent`, optionally of one class, by class then name.
    pub fn sub_agents(
        &self,
        parent: &Address,
        class: Option<&str>,
    ) -> Result<Vec<SubAgentInfo>, Error> {
        if let Some(class) = class {
            self.inner.classes.get(class)?;
        }
        let list = self
            .inner
            .data
            .list_agents_under(&parent.children_prefix(), class)?;
        Ok(list
            .into_iter()
            .map(|info| {
                let name = Address::new(&info.class, info.name).local_name().to_owned();
                SubAgentInfo {
                    class_name: info.class,
                    name,
                    created_at: info.created_at,
                }
            })
            .collect())
    }

    /// Installs an extension into the agent at `address` from outside its turns (HTTP):
    /// `spec` is `{name, source, description?, permissions?}`, checked as
    /// `this.extensions.install` checks it; the agent is created if needed.
    pub async fn install_extension(&self, address: &Address, spec: Value) -> Result<Value, Error> {
        self.inner.classes.get(&address.class)?;
        crate::extensions::install_between_turns(&self.inner, address.clone(), spec).await
    }

    /// Aborts the agent (its running turn fails with `ABORTED` and rolls back, queued calls
    /// fail); its data stays and the next call starts it again. Whether it was active.
    pub fn abort(&self, address: &Address, reason: &str) -> bool {
        self.inner.abort(address, reason)
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

    /// [`Self::with_new_or_existing_db`] for an address: a top-level agent is created if
    /// needed; a sub-agent must exist (only its parent creates it: see [`Self::sub_agent`]).
    pub async fn with_new_or_existing_db_at<T, F>(
        &self,
        address: &Address,
        op: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        self.inner.check_at(address)?;
        self.db_op(address.clone(), op).await
    }

    /// The address of `parent`'s sub-agent `class`/`name`, created (its database, without
    /// a call) if it does not exist yet: what `this.subAgent(Class, name)` does, for the
    /// embedder acting for the parent (Think's delegation to a child agent).
    pub async fn sub_agent(
        &self,
        parent: &Address,
        class: &str,
        name: &str,
    ) -> Result<Address, Error> {
        self.inner.check_at(parent)?;
        self.inner.classes.get(class)?;
        check_name(name)?;
        let child = parent.child(class, name);
        if !self
            .inner
            .data
            .catalog_has_agent(&child.class, &child.name)?
        {
            Self::new_or_existing_db_at(&self.inner, child.clone(), |_| Ok(())).await?;
        }
        Ok(child)
    }

    /// The checked address of the top-level agent `class`/`name`.
    pub fn address(&self, class: &str, name: &str) -> Result<Address, Error> {
        self.inner.checked_address(class, name)
    }

    /// [`Self::with_new_or_existing_db`] for an address, unchecked.
    pub(crate) async fn new_or_existing_db_at<T, F>(
        inner: &Arc<Inner>,
        address: Address,
        op: F,
    ) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let op: DbOp = Box::new(move |db| {
            let result = db.and_then(op);
            Box::new(move |durable: Result<(), Error>| {
                let _ = reply.send(durable.and(result));
            })
        });
        inner.deliver(&address, Message::Db(op))?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    async fn db_op<T, F>(&self, address: Address, op: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        Self::new_or_existing_db_at(&self.inner, address, op).await
    }

    /// The agent's state (`null` when it never set one).
    pub async fn state(&self, class: &str, name: &str) -> Result<Value, Error> {
        let address = self.inner.checked_address(class, name)?;
        self.state_at(&address).await
    }

    /// [`Self::state`] for an address.
    pub async fn state_at(&self, address: &Address) -> Result<Value, Error> {
        self.with_db_at(address, |db| Ok(db.state()?.unwrap_or(Value::Null)))
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

    /// Sub-agents of `class` at any depth, by name after `after` (start-up recovery walks
    /// them; [`Self::list`] lists top-level agents only). Their `name` is the full internal
    /// name: `Address::new(class, name)` addresses them.
    pub fn list_sub_agents_of(
        &self,
        class: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AgentInfo>, Error> {
        self.inner.classes.get(class)?;
        Ok(self.inner.data.list_sub_agents_of(class, after, limit)?)
    }

    /// Wakes the agent to run its due schedules (cluster mode: an agent whose owner died
    /// is woken by another node when its next schedule is due, and claimed by it).
    pub fn wake(&self, address: &Address) -> Result<(), Error> {
        Self::wake_at(&self.inner, address)
    }

    /// [`Self::wake`] without keeping the host alive: for the cluster, which the host
    /// itself holds (a strong reference there would be a cycle). Does nothing once the
    /// host is gone.
    pub fn waker(&self) -> impl Fn(&Address) -> Result<(), Error> + Send + Sync + 'static {
        let inner = Arc::downgrade(&self.inner);
        move |address| match inner.upgrade() {
            Some(inner) => Self::wake_at(&inner, address),
            None => Err(Error::ShuttingDown),
        }
    }

    fn wake_at(inner: &Arc<Inner>, address: &Address) -> Result<(), Error> {
        inner.classes.get(&address.class)?;
        inner.deliver(address, Message::Alarm)
    }

    /// Whether the agent is awake now (its database open, its mailbox running).
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
        runtime::bind_agents(&mut b, &self.inner, None);
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
        let host = self.clone();
        let agent = address.clone();
        let access = AgentDbAccess::between(Arc::new(move |work: DbWork| {
            let host = host.clone();
            let agent = agent.clone();
            Box::pin(async move {
                host.with_new_or_existing_db(&agent.class, &agent.name, move |db| {
                    work(db);
                    Ok(())
                })
                .await
            })
        }));
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
        prelude::PRELUDE
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
    pub(crate) fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    fn actors_lock(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Mailbox>> {
        // The map holds plain senders; a panic elsewhere while holding it cannot leave it
        // half-updated.
        lock(&self.actors)
    }

    fn checked_address(&self, class: &str, name: &str) -> Result<Address, Error> {
        self.classes.get(class)?;
        check_name(name)?;
        Ok(Address::new(class, name))
    }

    /// An address from outside: its class exists, and it names a top-level agent by a
    /// valid name or a sub-agent that exists (no client makes one up).
    fn check_at(&self, address: &Address) -> Result<(), Error> {
        self.classes.get(&address.class)?;
        if address.parent().is_none() {
            return check_name(&address.name);
        }
        let exists = self.actors_lock().contains_key(address)
            || self.data.catalog_has_agent(&address.class, &address.name)?;
        if exists {
            Ok(())
        } else {
            Err(no_such_agent(address))
        }
    }

    /// Calls `method` of the agent at `address` and waits for the reply (the turn's
    /// result, after its commit).
    pub(crate) async fn call_chain(
        this: &Arc<Inner>,
        address: Address,
        method: String,
        args: Vec<Value>,
        chain: Vec<Link>,
    ) -> Result<Value, Error> {
        let rx = Inner::send_call(this, address, method, args, chain)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Sends a call: into the waiting call of the agent when it is in the caller's chain
    /// (re-entry: it runs inside that agent's turn, which is waiting on this caller), else
    /// to its mailbox.
    pub(crate) fn send_call(
        this: &Arc<Inner>,
        address: Address,
        method: String,
        args: Vec<Value>,
        chain: Vec<Link>,
    ) -> Result<oneshot::Receiver<Result<Value, Error>>, Error> {
        let class = this.classes.get(&address.class)?;
        for part in address.name.split(SEP) {
            check_name(part)?;
        }
        if !class.has_method(&method) {
            return Err(class.unknown_method(&method));
        }
        if chain.len() > MAX_CHAIN {
            return Err(Error::Reentrant {
                target: address.to_string(),
                depth: chain.len(),
            });
        }
        let (reply, rx) = oneshot::channel();
        let waiting = chain
            .iter()
            .rev()
            .find(|link| link.address == address)
            .map(|link| link.reentry.clone());
        let (method, args, chain, reply) = match waiting {
            Some(entry) => match entry.send(Reentry {
                method,
                args,
                chain,
                reply,
            }) {
                Ok(()) => return Ok(rx),
                // That call has ended: the agent no longer waits on this chain.
                Err(mpsc::error::SendError(r)) => (r.method, r.args, r.chain, r.reply),
            },
            None => (method, args, chain, reply),
        };
        // Cluster mode: a call this node cannot serve (another node holds the agent) was
        // not applied; it is made on that node, so what it needs is kept.
        let again = this
            .config
            .forwarder
            .clone()
            .map(|forwarder| (forwarder, address.clone(), method.clone(), args.clone()));
        this.deliver(
            &address,
            Message::Call {
                method,
                args,
                chain,
                reply,
            },
        )?;
        let Some((forwarder, address, method, args)) = again else {
            return Ok(rx);
        };
        let (forwarded, out) = oneshot::channel();
        tokio::spawn(async move {
            let result = match rx.await {
                Ok(Err(Error::NotOwner { advertise, .. })) if !advertise.is_empty() => {
                    forwarder.call(&advertise, &address, &method, args).await
                }
                Ok(result) => result,
                Err(_) => Err(Error::ShuttingDown),
            };
            let _ = forwarded.send(result);
        });
        Ok(out)
    }

    /// A re-entering call whose waiting turn ended before taking it: it goes to the
    /// agent's mailbox after all.
    pub(crate) fn redeliver(this: &Arc<Inner>, address: &Address, r: Reentry) {
        let message = Message::Call {
            method: r.method,
            args: r.args,
            chain: r.chain,
            reply: r.reply,
        };
        let _ = this.deliver(address, message);
    }

    /// The address of a sub-agent at `path` (class and own name from the top-level agent
    /// down), each level checked to exist: sub-agents are created by their parents only.
    pub(crate) fn resolve(&self, path: &[(String, String)]) -> Result<Address, Error> {
        let Some(((class, name), rest)) = path.split_first() else {
            return Err(Error::InvalidInput(
                "an agent path names at least one agent".into(),
            ));
        };
        let mut address = self.checked_address(class, name)?;
        for (class, name) in rest {
            self.classes.get(class)?;
            check_name(name)?;
            if !self.data.catalog_has_agent(&address.class, &address.name)? {
                return Err(no_such_agent(&address));
            }
            address = address.child(class, name);
        }
        if !self.data.catalog_has_agent(&address.class, &address.name)? && address.is_sub_agent() {
            return Err(no_such_agent(&address));
        }
        Ok(address)
    }

    /// Deletes the agent at `address` and, first, its sub-agents (each after its running
    /// turn). Returns whether the agent existed.
    pub(crate) fn delete_tree(
        this: Arc<Inner>,
        address: Address,
    ) -> futures::future::BoxFuture<'static, Result<bool, Error>> {
        Box::pin(async move {
            let children = this
                .data
                .list_agents_under(&address.children_prefix(), None)?;
            for child in children {
                Inner::delete_tree(Arc::clone(&this), Address::new(child.class, child.name))
                    .await?;
            }
            let (reply, rx) = oneshot::channel();
            this.deliver(&address, Message::Delete(reply))?;
            rx.await.map_err(|_| Error::ShuttingDown)?
        })
    }

    /// Stops the agent's running turn (it fails with `ABORTED` and rolls back) and fails
    /// the calls queued for it; its data stays, and the next call starts it afresh.
    /// Returns whether it was active.
    pub(crate) fn abort(&self, address: &Address, reason: &str) -> bool {
        let Some(mailbox) = self.actors_lock().remove(address) else {
            return false;
        };
        let _ = mailbox.abort.send(Some(reason.to_owned()));
        true
    }

    /// Removes the agent's mailbox if it is still the one numbered `generation`.
    fn remove_actor(&self, address: &Address, generation: u64) {
        let mut actors = self.actors_lock();
        if actors
            .get(address)
            .is_some_and(|m| m.generation == generation)
        {
            actors.remove(address);
        }
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
            Some(mailbox) => match mailbox.sender.send(message) {
                Ok(()) => return Ok(()),
                // The actor ended (its activation failed) without removing itself yet.
                Err(mpsc::error::SendError(message)) => message,
            },
            None => message,
        };
        let (sender, rx) = mpsc::unbounded_channel();
        let _ = sender.send(message);
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let (abort, aborted) = watch::channel(None);
        actors.insert(
            address.clone(),
            Mailbox {
                sender,
                generation,
                abort,
            },
        );
        drop(actors);
        let actor = Actor {
            address: address.clone(),
            class,
            host: Arc::clone(self),
            generation,
            aborted,
            db: None,
            session: None,
            fields: None,
            alarm: None,
            check_fibers: false,
            turn_bindings: None,
            replica: None,
        };
        self.running.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(actor.run(rx));
        Ok(())
    }
}

fn no_such_agent(address: &Address) -> Error {
    match address.parent() {
        Some(parent) => Error::NoSuchSubAgent {
            agent: address.to_string(),
            parent: parent.to_string(),
        },
        None => Error::NoSuchAgent {
            class: address.class.clone(),
            name: address.name.clone(),
        },
    }
}

/// Resolves when the agent is aborted; never when its mailbox is merely dropped (the
/// host shutting down lets agents finish their turns and what is queued).
async fn until_aborted(aborted: &mut watch::Receiver<Option<String>>) {
    if aborted.wait_for(Option::is_some).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// One active agent: its database, its in-memory fields, its mailbox.
struct Actor {
    address: Address,
    class: Arc<AgentClass>,
    host: Arc<Inner>,
    /// This actor's mailbox in the host's map (see [`Inner::remove_actor`]).
    generation: u64,
    /// The reason, once the agent is aborted.
    aborted: watch::Receiver<Option<String>>,
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
    /// The host functions every turn of this agent gets, built at its first turn, and the
    /// slot through which they find the turn running.
    turn_bindings: Option<(Bindings, Arc<runtime::TurnSlot>)>,
    /// Cluster mode: the lease this activation writes under and what it shipped.
    replica: Option<Replica>,
}

/// An activation's hold on its agent's durable copy (cluster mode).
struct Replica {
    durable: Arc<dyn Durable>,
    epoch: u64,
    /// The last segment shipped (or restored).
    seq: u64,
    cursor: store::WalCursor,
    path: std::path::PathBuf,
    /// Segments and bytes shipped since the last snapshot.
    since_snapshot: u64,
    bytes_since_snapshot: u64,
    /// Why shipping failed: the local file is ahead of the durable copy and the
    /// activation ends.
    failed: Option<String>,
}

/// A snapshot is taken (the database checkpointed, its file stored, the log compacted)
/// when an agent hibernates with this many segments since its last one, or while it runs
/// once this much log has piled up.
const SNAPSHOT_AFTER_SEGMENTS: u64 = 64;
const SNAPSHOT_AFTER_BYTES: u64 = 4 << 20;

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
        // A replicated agent checkpointed (after shipping) before it left the host's map: a
        // checkpoint now could fold in and restart the log over frames its next activation
        // committed and has not shipped yet.
        if let Some(db) = self.db.as_ref().filter(|_| self.replica.is_none()) {
            // Fold the write-ahead log into the database so a hibernating agent's data is
            // all in its database file (the log is left empty, not deleted).
            if let Err(e) = lock(db).checkpoint() {
                tracing::debug!(agent = %self.address, error = %e, "checkpoint on hibernation failed");
            }
        }
        crate::isolates::drop_agent(&host, &self.address);
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
        let mut aborted = self.aborted.clone();
        loop {
            let next = tokio::select! {
                biased;
                () = until_aborted(&mut aborted) => None,
                next = tokio::time::timeout(idle, rx.recv()) => Some(next),
            };
            let message = match next {
                // Aborted: the host removed the mailbox already.
                None => {
                    self.fail_queued(&mut rx);
                    break;
                }
                Some(Ok(Some(message))) => message,
                Some(Ok(None)) => break,
                Some(Err(_elapsed)) => {
                    if self.replica.is_some() {
                        self.quiesce().await;
                        if self.replica_failed() {
                            self.stop_unreplicated(&mut rx);
                            break;
                        }
                    }
                    let mut actors = self.host.actors_lock();
                    match rx.try_recv() {
                        Ok(message) => message,
                        Err(_) => {
                            if self.replica.is_some() {
                                // Closed before a next activation can start: one under a
                                // new lease rewrites the file from the durable copy.
                                self.session = None;
                                self.db = None;
                            }
                            if actors
                                .get(&self.address)
                                .is_some_and(|m| m.generation == self.generation)
                            {
                                actors.remove(&self.address);
                            }
                            bump(&self.host.counters.hibernations);
                            break;
                        }
                    }
                }
            };
            let message = match message {
                Message::Delete(reply) => {
                    self.delete(reply, &mut rx).await;
                    return;
                }
                // A deleted agent's alarm may still have been on its way: it must not
                // create the agent again.
                Message::Alarm if self.db.is_none() && !self.exists() => continue,
                message => message,
            };
            if let Err(e) = self.open().await {
                tracing::warn!(agent = %self.address, error = %e, "cannot activate the agent");
                // A passing failure (cluster mode: the database unreachable, the agent
                // served elsewhere): what was queued gets an activation of its own, and with
                // it its own, accurate and retriable, answer.
                let passing = e.kind() == base::ErrorKind::Unavailable;
                message.fail(e);
                // Without a database the agent cannot serve anything queued either.
                self.host.remove_actor(&self.address, self.generation);
                rx.close();
                while let Ok(m) = rx.try_recv() {
                    if passing {
                        let _ = self.host.deliver(&self.address, m);
                        continue;
                    }
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
            if self.replica.is_some() {
                // Writes no reply waited for (schedules, fiber bookkeeping) are shipped
                // too, and a long-running agent's log is folded into a snapshot.
                let _ = self.ship().await;
                self.snapshot_if_due(false).await;
                if self.replica_failed() {
                    self.stop_unreplicated(&mut rx);
                    break;
                }
            }
        }
        tracing::debug!(agent = %self.address, "hibernating");
    }

    fn exists(&self) -> bool {
        self.host
            .data
            .catalog_has_agent(&self.address.class, &self.address.name)
            .unwrap_or(true)
    }

    /// After an abort: every call still queued fails with the reason.
    fn fail_queued(&mut self, rx: &mut mpsc::UnboundedReceiver<Message>) {
        rx.close();
        while let Ok(m) = rx.try_recv() {
            m.fail(self.aborted_error());
        }
    }

    fn aborted_error(&self) -> Error {
        Error::Aborted {
            agent: self.address.to_string(),
            reason: self.aborted.borrow().clone().unwrap_or_default(),
        }
    }

    /// Deletes the agent's data: it leaves the host's map first (later messages start a
    /// new, empty agent), closes its database, and fails what was queued behind the
    /// deletion.
    async fn delete(&mut self, reply: Reply<bool>, rx: &mut mpsc::UnboundedReceiver<Message>) {
        self.host.remove_actor(&self.address, self.generation);
        self.session = None;
        self.db = None;
        let _ = self.host.alarms.send((self.address.clone(), None));
        let durable = match self.host.config.durable.clone() {
            // Only the agent's owner deletes, under its lease, so no other node is writing
            // it; the durable copy goes first (a crash in between leaves local files that
            // the next claim of the agent replaces).
            Some(durable) => match self.claim(Arc::clone(&durable)).await {
                Ok(replica) => durable.delete(&self.address, replica.epoch).await,
                Err(e) => Err(e),
            },
            None => Ok(()),
        };
        let deleted = durable.and_then(|()| {
            self.host
                .data
                .delete_agent(&self.address.class, &self.address.name)
                .map_err(Error::from)
        });
        tracing::info!(agent = %self.address, deleted = ?deleted.as_ref().ok(), "deleted");
        let _ = reply.send(deleted);
        rx.close();
        while let Ok(m) = rx.try_recv() {
            m.fail(no_such_agent(&self.address));
        }
    }

    async fn open(&mut self) -> Result<(), Error> {
        if self.db.is_none() {
            let replica = match self.host.config.durable.clone() {
                Some(durable) => Some(self.claim(durable).await?),
                None => None,
            };
            let mut db = self
                .host
                .data
                .open_agent(&self.address.class, &self.address.name)?;
            if let Some(replica) = replica {
                db.set_auto_checkpoint(false)?;
                if replica.seq == 0 {
                    // A new agent: its file as created is the base its log applies to.
                    let image = std::fs::read(&replica.path).map_err(|e| store::Error::Io {
                        path: replica.path.display().to_string(),
                        message: e.to_string(),
                    })?;
                    replica
                        .durable
                        .snapshot(&self.address, replica.epoch, 0, image)
                        .await?;
                }
                self.replica = Some(replica);
            }
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

    /// Claims the agent for this node (cluster mode) and makes its local file the durable
    /// copy's when the lease is new.
    async fn claim(&self, durable: Arc<dyn Durable>) -> Result<Replica, Error> {
        let address = &self.address;
        let data = &self.host.data;
        let path = data.agent_path(&address.class, &address.name)?;
        let (epoch, seq) = match durable.claim(address).await? {
            Claim::Elsewhere { node, advertise } => {
                return Err(Error::NotOwner {
                    agent: address.to_string(),
                    node,
                    advertise,
                });
            }
            Claim::Kept { epoch, seq } => (epoch, seq),
            Claim::New { epoch } => {
                let copy = durable.restore(address, epoch).await?;
                if copy.is_empty() {
                    // Nothing durable: whatever this node kept is from an agent since
                    // deleted, or was never acknowledged.
                    data.delete_agent(&address.class, &address.name)?;
                } else {
                    data.restore_agent(&address.class, &address.name, &copy.image, &copy.segments)?;
                }
                tracing::info!(agent = %address, epoch, seq = copy.seq, "claimed");
                (epoch, copy.seq)
            }
        };
        Ok(Replica {
            durable,
            epoch,
            seq,
            cursor: store::WalCursor::new(&path),
            path,
            since_snapshot: 0,
            bytes_since_snapshot: 0,
            failed: None,
        })
    }

    /// Ships what was committed since the last shipment (cluster mode; a no-op otherwise).
    /// On failure the activation is done for: see [`Actor::stop_unreplicated`].
    async fn ship(&mut self) -> Result<(), Error> {
        let Some(replica) = self.replica.as_mut() else {
            return Ok(());
        };
        if let Some(why) = &replica.failed {
            return Err(Error::NotDurable {
                agent: self.address.to_string(),
                message: why.clone(),
            });
        }
        let shipped = match replica.cursor.committed() {
            Ok(None) => return Ok(()),
            Ok(Some(mut segment)) => {
                let bytes = std::mem::take(&mut segment.bytes);
                let len = bytes.len() as u64;
                let seq = replica.seq + 1;
                let appended = replica
                    .durable
                    .append(
                        &self.address,
                        replica.epoch,
                        seq,
                        bytes,
                        self.alarm.flatten(),
                    )
                    .await;
                appended.map(|()| {
                    replica.cursor.advance(&segment);
                    replica.seq = seq;
                    replica.since_snapshot += 1;
                    replica.bytes_since_snapshot += len;
                })
            }
            Err(e) => Err(e.into()),
        };
        if let Err(e) = &shipped {
            tracing::warn!(agent = %self.address, epoch = replica.epoch, error = %e,
                "shipping the agent's commits failed; dropping its activation");
            replica.failed = Some(e.to_string());
            replica.durable.forget(&self.address);
        }
        shipped
    }

    /// What a reply carries: `result`, or the shipping failure that kept the turn's writes
    /// from being durable.
    async fn settle<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        self.ship().await.and(result)
    }

    fn replica_failed(&self) -> bool {
        self.replica.as_ref().is_some_and(|r| r.failed.is_some())
    }

    /// Before hibernating (cluster mode): ships, checkpoints, and takes a snapshot if due.
    async fn quiesce(&mut self) {
        if self.ship().await.is_err() {
            return;
        }
        if let Some(db) = &self.db
            && let Err(e) = lock(db).checkpoint()
        {
            tracing::debug!(agent = %self.address, error = %e, "checkpoint on hibernation failed");
            return;
        }
        self.snapshot_if_due(true).await;
    }

    /// Stores the whole database as the agent's snapshot (compacting its log) once enough
    /// log piled up; `checkpointed`: the caller just checkpointed.
    async fn snapshot_if_due(&mut self, checkpointed: bool) {
        let Some(replica) = self.replica.as_ref() else {
            return;
        };
        let due = replica.failed.is_none()
            && (replica.bytes_since_snapshot >= SNAPSHOT_AFTER_BYTES
                || (checkpointed && replica.since_snapshot >= SNAPSHOT_AFTER_SEGMENTS));
        if !due {
            return;
        }
        if !checkpointed && let Some(db) = &self.db {
            // Everything was shipped (the caller shipped first): folding it in is safe.
            if let Err(e) = lock(db).checkpoint() {
                tracing::debug!(agent = %self.address, error = %e, "checkpoint for a snapshot failed");
                return;
            }
        }
        let image = match std::fs::read(&replica.path) {
            Ok(image) => image,
            Err(e) => {
                tracing::warn!(agent = %self.address, error = %e, "cannot read the database for a snapshot");
                return;
            }
        };
        let stored = replica
            .durable
            .snapshot(&self.address, replica.epoch, replica.seq, image)
            .await;
        let Some(replica) = self.replica.as_mut() else {
            return;
        };
        match stored {
            Ok(()) => {
                replica.since_snapshot = 0;
                replica.bytes_since_snapshot = 0;
            }
            // The log still holds everything; a fenced node finds out at its next append.
            Err(e) => tracing::warn!(agent = %self.address, error = %e, "snapshot failed"),
        }
    }

    /// Ends an activation whose commits could not be shipped: its session and database
    /// close *before* it leaves the host's map (the next activation claims anew and
    /// restores the file, or finds the agent's new owner), and what was queued is handed
    /// to that next activation.
    fn stop_unreplicated(&mut self, rx: &mut mpsc::UnboundedReceiver<Message>) {
        let why = self
            .replica
            .as_ref()
            .and_then(|r| r.failed.clone())
            .unwrap_or_default();
        if let Some(session) = &self.session {
            session.discard();
        }
        self.session = None;
        self.db = None;
        self.host.remove_actor(&self.address, self.generation);
        tracing::info!(agent = %self.address, reason = %why, "activation ended: its writes could not be made durable");
        rx.close();
        while let Ok(m) = rx.try_recv() {
            // Fails the message itself if the host is shutting down.
            let _ = self.host.deliver(&self.address, m);
        }
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
                let result = self.settle(result).await;
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
                let result = self.settle(result).await;
                let _ = reply.send(result);
            }
            Message::Think {
                op,
                payload,
                mut reply,
            } => {
                // Cancelled while queued (the Think turn that asked was cancelled): never run.
                if reply.is_closed() {
                    return;
                }
                let result = self
                    .turn_for(
                        TurnKind::Think { op, payload },
                        Vec::new(),
                        Some(&mut reply),
                    )
                    .await;
                let result = self.settle(result).await;
                let _ = reply.send(result);
            }
            Message::Db(op) => {
                let db = self.db();
                let answer = op(Ok(&mut lock(&db)));
                self.sync_alarm();
                let durable = self.settle(Ok(())).await;
                answer(durable);
            }
            Message::Alarm => self.fire_due().await,
            // `serve` deletes before the agent is opened; a deletion never gets here.
            Message::Delete(reply) => {
                let _ = reply.send(Ok(false));
            }
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

    async fn turn(&mut self, kind: TurnKind, chain: Vec<Link>) -> Result<Value, Error> {
        self.turn_for(kind, chain, None).await
    }

    /// A turn whose caller may go away: when `caller`'s receiver is dropped mid-turn, the
    /// turn stops and its writes are rolled back, as if it had never run.
    async fn turn_for(
        &mut self,
        kind: TurnKind,
        chain: Vec<Link>,
        caller: Option<&mut Reply<Value>>,
    ) -> Result<Value, Error> {
        let result = self.turn_uncounted(kind, chain, caller).await;
        if result.is_err() {
            bump(&self.host.counters.failed_turns);
        }
        result
    }

    async fn turn_uncounted(
        &mut self,
        kind: TurnKind,
        chain: Vec<Link>,
        caller: Option<&mut Reply<Value>>,
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
            "name": self.address.local_name(),
            "parentPath": self.address.parent_path(),
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
        let context = Arc::new(TurnContext::new(
            self.address.clone(),
            Arc::clone(&db),
            Arc::downgrade(&self.host),
            chain,
        ));
        let (bindings, slot) = self
            .turn_bindings
            .get_or_insert_with(|| {
                let slot = Arc::default();
                // Each host call's span sits under the running turn's.
                let turn = Arc::clone(&slot);
                let bindings = runtime::agent_bindings(&slot, &self.host, &self.address.class)
                    .traced_under(Arc::new(move || {
                        turn.current().ok().and_then(|ctx| ctx.span.id())
                    }));
                (bindings, slot)
            })
            .clone();
        let in_turn = slot.enter(Arc::clone(&context));
        let execution = Execution::new(&*self.class.turn_code)
            .prelude(Arc::clone(&self.class.prelude))
            .bindings(bindings)
            .limits(self.host.config.limits);
        let session = self
            .session
            .as_ref()
            .expect("opened before handling messages");
        let mut aborted = self.aborted.clone();
        let caller_gone = async move {
            match caller {
                Some(reply) => reply.closed().await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            biased;
            () = until_aborted(&mut aborted) => {
                // The run is dropped with its host calls; its isolate is not reused.
                session.discard();
                let _ = lock(&db).rollback();
                return Err(self.aborted_error());
            }
            () = caller_gone => {
                session.discard();
                let _ = lock(&db).rollback();
                tracing::info!(agent = %self.address, "a turn's caller went away: stopped, rolled back");
                return Err(Error::CallerGone { agent: self.address.to_string() });
            }
            outcome = session.run(execution, input) => outcome,
        };
        drop(in_turn);
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
