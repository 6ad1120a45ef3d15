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
//! and a fiber left running is handed to `onFiberRecovered` by `actor::Actor::recover_fibers`).
//!
//! Schedules live in each agent's database; the catalog keeps, per agent, the earliest
//! time one may be due (written before the agent's commit, so it can be early but never
//! late). The alarm loop re-arms them all on start: one missed while the server was down
//! fires once, then (cron) moves to its next time.
//!
//! The parts: the shared state and the mailboxes are `mailbox.rs`'s, each agent's actor
//! (activation, turns, hibernation) is `host/actor.rs`'s; this module is the public face
//! ([`AgentHost`]) and the alarm loop.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sandbox::{Bindings, Sandbox};
use serde::Serialize;
use serde_json::Value;
use store::{AgentDb, AgentInfo, DataDir};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::address::{Address, check_name};
use crate::classes::Classes;
use crate::config::HostConfig;
use crate::error::Error;
use crate::linux::{AgentDbAccess, DbWork};
use crate::mailbox::{HttpRequest, HttpResponse, Inner, Message, StateEvent, no_such_agent};
use crate::prelude;
use crate::runtime;

mod actor;

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
        let inner = Arc::new(Inner::new(
            classes,
            data,
            sandbox,
            config,
            alarms,
            actor::start,
        ));
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
        self.inner.sandbox()
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
            Inner::new_or_existing_db_at(&self.inner, child.clone(), |_| Ok(())).await?;
        }
        Ok(child)
    }

    /// The checked address of the top-level agent `class`/`name`.
    pub fn address(&self, class: &str, name: &str) -> Result<Address, Error> {
        self.inner.checked_address(class, name)
    }

    async fn db_op<T, F>(&self, address: Address, op: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        Inner::new_or_existing_db_at(&self.inner, address, op).await
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
