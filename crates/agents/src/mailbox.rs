//! The host's shared state ([`Inner`]) and the way into an agent: its mailbox. A message
//! for an agent that is not active starts its actor (see [`Inner::activate`]); a call is
//! handed instead into a waiting turn of an agent in the caller's chain (re-entry). Also
//! what messages carry: HTTP requests and responses, replies, state events.
//!
//! Below the turn and the actor: the turn's host functions send calls through it, and the
//! actor (`host/actor.rs`) serves what it queues.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base::sync::lock;
use sandbox::Sandbox;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use store::{AgentDb, DataDir};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::address::{Address, SEP, check_name};
use crate::classes::{AgentClass, Classes};
use crate::config::HostConfig;
use crate::error::Error;
use crate::loaded::LoadedMap;

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

/// What the host's agents have done, for `AgentHost::stats`.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) calls: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) schedules: AtomicU64,
    pub(crate) failed_turns: AtomicU64,
    pub(crate) activations: AtomicU64,
    pub(crate) hibernations: AtomicU64,
}

/// Counts one more.
pub(crate) fn bump(counter: &AtomicU64) {
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

/// Where the outcome of a message goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;
/// Storage work outside a turn. It answers its caller itself, with its own result type, so
/// nothing is encoded on the way; given `Err` when the agent cannot be activated. What it
/// returns sends the answer, given `Err` instead when the op's writes could not be made
/// durable (cluster mode ships them first).
pub(crate) type DbOp = Box<dyn FnOnce(Result<&mut AgentDb, Error>) -> DbReply + Send>;
type DbReply = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// What an agent's mailbox holds.
pub(crate) enum Message {
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
    /// Answers the message with `error` instead of handling it.
    pub(crate) fn fail(self, error: Error) {
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

/// What the host's agents share: their classes, data directory, sandbox and
/// configuration, the mailboxes of the active ones, and what reports on them (state
/// events, the alarm loop, counters).
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
    /// Committed state changes, for live subscribers.
    pub(crate) events: broadcast::Sender<StateEvent>,
    /// Agents' next schedule times, for the alarm loop.
    pub(crate) alarms: mpsc::UnboundedSender<(Address, Option<i64>)>,
    /// Modules agents loaded with `this.isolates.load` (dropped when the agent stops).
    pub(crate) loaded: LoadedMap,
    /// Set by `AgentHost::shutdown`: no message is accepted any more.
    pub(crate) shutting_down: AtomicBool,
    /// Actor tasks still running (shutdown waits for them).
    pub(crate) running: AtomicUsize,
    pub(crate) counters: Counters,
    /// Starts the actor of an agent that gets a message while it is not active: the one
    /// thing the mailbox needs of a layer above it. The actor (`host/actor.rs`) runs turns
    /// whose host functions send calls through this very mailbox, so the mailbox cannot
    /// name it without a circle; `AgentHost::start` sets it to `actor::start`.
    activate: fn(Arc<Inner>, Activation),
}

/// What a new actor starts with (see [`Inner::activate`]).
pub(crate) struct Activation {
    pub(crate) address: Address,
    pub(crate) class: Arc<AgentClass>,
    /// Its mailbox's number in the host's map (see [`Inner::remove_actor`]).
    pub(crate) generation: u64,
    /// The reason, once the agent is aborted.
    pub(crate) aborted: watch::Receiver<Option<String>>,
    /// Its mailbox, holding the message that activated it.
    pub(crate) messages: mpsc::UnboundedReceiver<Message>,
}

/// An active agent's entry in the host: its mailbox and the way to abort it.
pub(crate) struct Mailbox {
    sender: mpsc::UnboundedSender<Message>,
    pub(crate) generation: u64,
    /// Set (once) to the reason by `abortSubAgent`: the turn in progress stops and the
    /// queued messages fail.
    abort: watch::Sender<Option<String>>,
}

impl Inner {
    /// The state of a new host; `activate` starts an agent's actor (see [`Inner::activate`]).
    pub(crate) fn new(
        classes: Classes,
        data: Arc<DataDir>,
        sandbox: Arc<Sandbox>,
        config: HostConfig,
        alarms: mpsc::UnboundedSender<(Address, Option<i64>)>,
        activate: fn(Arc<Inner>, Activation),
    ) -> Inner {
        Inner {
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
            activate,
        }
    }

    pub(crate) fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    pub(crate) fn actors_lock(&self) -> std::sync::MutexGuard<'_, HashMap<Address, Mailbox>> {
        // The map holds plain senders; a panic elsewhere while holding it cannot leave it
        // half-updated.
        lock(&self.actors)
    }

    /// The checked address of the top-level agent `class`/`name`.
    pub(crate) fn checked_address(&self, class: &str, name: &str) -> Result<Address, Error> {
        self.classes.get(class)?;
        check_name(name)?;
        Ok(Address::new(class, name))
    }

    /// An address from outside: its class exists, and it names a top-level agent by a
    /// valid name or a sub-agent that exists (no client makes one up).
    pub(crate) fn check_at(&self, address: &Address) -> Result<(), Error> {
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

    /// Runs `op` on the agent's database between its turns, creating the agent (its
    /// database) if needed: `AgentHost::with_new_or_existing_db` for an address, unchecked.
    pub(crate) async fn new_or_existing_db_at<T, F>(
        this: &Arc<Inner>,
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
        this.deliver(&address, Message::Db(op))?;
        rx.await.map_err(|_| Error::ShuttingDown)?
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
    pub(crate) fn remove_actor(&self, address: &Address, generation: u64) {
        let mut actors = self.actors_lock();
        if actors
            .get(address)
            .is_some_and(|m| m.generation == generation)
        {
            actors.remove(address);
        }
    }

    /// Queues `message` for the agent, activating it if it is hibernating.
    pub(crate) fn deliver(
        self: &Arc<Self>,
        address: &Address,
        message: Message,
    ) -> Result<(), Error> {
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
        self.running.fetch_add(1, Ordering::SeqCst);
        (self.activate)(
            Arc::clone(self),
            Activation {
                address: address.clone(),
                class,
                generation,
                aborted,
                messages: rx,
            },
        );
        Ok(())
    }
}

/// The error for an agent (or sub-agent) that does not exist.
pub(crate) fn no_such_agent(address: &Address) -> Error {
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
