//! A turn as its host functions see it: the agent's database and what the turn produced
//! ([`TurnContext`]), the slot through which host functions built once per activation
//! find the turn running ([`TurnSlot`]), and the turn's calls to other agents with the
//! calls that re-enter it while it waits on them (see `ARCHITECTURE.md`, "Re-entrant
//! calls").

// Host functions answer with `HostError` by the bindings' contract.
#![allow(clippy::result_large_err)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use base::sync::lock;
use sandbox::{HostError, JsError};
use serde::Deserialize;
use serde_json::{Value, json};
use store::AgentDb;
use tokio::sync::{mpsc, oneshot};

use crate::address::Address;
use crate::error::{Error, host_error};
use crate::host_fns::bad_input;
use crate::mailbox::{Inner, Link, Reentry, Reply};

/// What a turn's host functions share: the agent's database (held by its actor, used only
/// by the turn while it runs) and what the turn produced besides its result.
pub(crate) struct TurnContext {
    pub address: Address,
    pub db: Arc<Mutex<AgentDb>>,
    pub host: Weak<Inner>,
    /// The agents waiting on this turn, outermost first, each with the way into its
    /// waiting call (re-entry).
    pub chain: Vec<Link>,
    /// The state after the last `setState` of this turn, if any.
    pub new_state: Mutex<Option<Value>>,
    /// The turn started or ended a fiber (`runFiber`): the actor re-checks the agent's
    /// fibers and its alarm after it.
    pub fibers_touched: AtomicBool,
    /// Calls of this turn to other agents that handed it a re-entering call, by token,
    /// while the code runs it (`__agent.rpcResume` takes them back).
    pending: Mutex<HashMap<u64, Pending>>,
    /// The chains of the re-entered calls being run, by token: the agents on them wait on
    /// this turn too, so calls it makes meanwhile carry them. Ordered: a later token is a
    /// more deeply nested call, whose links must win (see [`Self::outbound_chain`]).
    reentered: Mutex<BTreeMap<u64, Vec<Link>>>,
    tokens: AtomicU64,
    /// The span the turn runs in (its `agent_call`), the parent of its host calls' spans.
    pub span: tracing::Span,
}

impl TurnContext {
    pub(crate) fn new(
        address: Address,
        db: Arc<Mutex<AgentDb>>,
        host: Weak<Inner>,
        chain: Vec<Link>,
    ) -> Self {
        TurnContext {
            address,
            db,
            host,
            chain,
            new_state: Mutex::new(None),
            fibers_touched: AtomicBool::new(false),
            pending: Mutex::new(HashMap::new()),
            reentered: Mutex::new(BTreeMap::new()),
            tokens: AtomicU64::new(0),
            span: tracing::Span::current(),
        }
    }

    /// The chain a call made now carries: this turn's waiting agents, those of the
    /// re-entered calls it is running, and itself with the way into this call.
    ///
    /// One link per agent, its latest: the innermost of an agent's nested waiting calls is
    /// the one that takes calls now (an outer one is busy running the re-entered method
    /// that waits on the inner one), and keeping one each bounds the chain by the number
    /// of agents involved however often they call back and forth.
    fn outbound_chain(&self, reentry: mpsc::UnboundedSender<Reentry>) -> Vec<Link> {
        let mut all = self.chain.clone();
        for links in lock(&self.reentered).values() {
            all.extend(links.iter().cloned());
        }
        all.push(Link {
            address: self.address.clone(),
            reentry,
        });
        let mut seen = std::collections::HashSet::new();
        let mut chain: Vec<Link> = all
            .into_iter()
            .rev()
            .filter(|link| seen.insert(link.address.clone()))
            .collect();
        chain.reverse();
        chain
    }
}

/// A call to another agent that this turn waits on.
pub(crate) struct Pending {
    reply: oneshot::Receiver<Result<Value, Error>>,
    /// Calls into this agent from agents waiting on this call.
    reentry: mpsc::UnboundedReceiver<Reentry>,
    /// The re-entered call being run, and its method (for its errors).
    serving: Option<(Reply<Value>, String)>,
}

impl Pending {
    /// A call just sent: its reply to come, and the way back in for agents it waits on.
    pub(crate) fn new(
        reentry: mpsc::UnboundedReceiver<Reentry>,
        reply: oneshot::Receiver<Result<Value, Error>>,
    ) -> Self {
        Pending {
            reply,
            reentry,
            serving: None,
        }
    }
}

/// Calls `method` of `target` for code in an isolate and answers `{ok: result}`, or
/// `{reenter: {token, method, args}}` when an agent waiting on this call calls back into
/// this one: the code runs the method and hands its outcome to `__agent.rpcResume`,
/// which goes on waiting (see `rpcLoop` in `runtime.js`).
pub(crate) async fn outbound(
    ctx: Option<Arc<TurnContext>>,
    host: Arc<Inner>,
    target: Address,
    method: String,
    args: Vec<Value>,
) -> Result<Value, HostError> {
    let (entry, reentry) = mpsc::unbounded_channel();
    // Outside an agent (Code Mode) nothing can wait on the caller: no way in is handed out.
    let chain = match &ctx {
        Some(ctx) => ctx.outbound_chain(entry),
        None => Vec::new(),
    };
    let reply = Inner::send_call(&host, target, method, args, chain).map_err(|e| host_error(&e))?;
    wait_outbound(ctx, host, Pending::new(reentry, reply)).await
}

/// Waits on a call this turn made (see [`outbound`]).
pub(crate) async fn wait_outbound(
    ctx: Option<Arc<TurnContext>>,
    host: Arc<Inner>,
    mut p: Pending,
) -> Result<Value, HostError> {
    tokio::select! {
        biased;
        Some(r) = p.reentry.recv(), if ctx.is_some() => {
            let Some(ctx) = ctx else {
                return Err(HostError::new("INTERNAL", "a call re-entered code outside an agent"));
            };
            let token = ctx.tokens.fetch_add(1, Ordering::Relaxed);
            let envelope = json!({ "reenter": { "token": token, "method": r.method, "args": r.args } });
            lock(&ctx.reentered).insert(token, r.chain);
            p.serving = Some((r.reply, r.method));
            lock(&ctx.pending).insert(token, p);
            Ok(envelope)
        }
        result = &mut p.reply => {
            // Calls that came in too late for this wait go to the mailbox after all.
            p.reentry.close();
            if let Some(ctx) = &ctx {
                while let Ok(r) = p.reentry.try_recv() {
                    Inner::redeliver(&host, &ctx.address, r);
                }
            }
            match result {
                Ok(Ok(value)) => Ok(json!({ "ok": value })),
                Ok(Err(e)) => Err(host_error(&e)),
                Err(_) => Err(host_error(&Error::ShuttingDown)),
            }
        }
    }
}

/// What `__agent.rpcResume` gives: the token of the re-entered call it ran and its
/// outcome.
#[derive(Deserialize)]
pub(crate) struct Resume {
    token: u64,
    #[serde(default)]
    ok: Value,
    error: Option<ResumeError>,
}

#[derive(Deserialize)]
struct ResumeError {
    #[serde(default)]
    name: String,
    #[serde(default)]
    message: String,
    code: Option<String>,
}

/// `__agent.rpcResume`: hands the outcome of the re-entered call under `a.token` to its
/// caller, then goes on waiting on the call it came in through.
pub(crate) async fn resume(
    ctx: Arc<TurnContext>,
    host: Arc<Inner>,
    a: Resume,
) -> Result<Value, HostError> {
    let Some(mut pending) = lock(&ctx.pending).remove(&a.token) else {
        return Err(bad_input(
            "rpcResume",
            format!("no call waits under token {}", a.token),
        ));
    };
    lock(&ctx.reentered).remove(&a.token);
    if let Some((reply, method)) = pending.serving.take() {
        let outcome = match a.error {
            None => Ok(a.ok),
            Some(e) => {
                let mut js = JsError::new(
                    if e.name.is_empty() {
                        "Error".to_owned()
                    } else {
                        e.name
                    },
                    e.message,
                );
                js.code = e.code;
                Err(Error::from_turn(js, || format!("{}.{method}", ctx.address)))
            }
        };
        let _ = reply.send(outcome);
    }
    wait_outbound(Some(ctx), host, pending).await
}

/// The turn an agent runs now, for the host functions built once per activation (see
/// `runtime::agent_bindings`): building them for every turn (about sixty closures, more with
/// every class) cost more than a warm call's own work.
#[derive(Default)]
pub(crate) struct TurnSlot(Mutex<Option<Arc<TurnContext>>>);

/// While it lives, `ctx` is the turn its agent's host functions serve.
pub(crate) struct InTurn<'a>(&'a TurnSlot);

impl Drop for InTurn<'_> {
    fn drop(&mut self) {
        lock(&self.0.0).take();
    }
}

impl TurnSlot {
    pub(crate) fn enter(&self, ctx: Arc<TurnContext>) -> InTurn<'_> {
        *lock(&self.0) = Some(ctx);
        InTurn(self)
    }

    pub(crate) fn current(&self) -> Result<Arc<TurnContext>, HostError> {
        lock(&self.0).clone().ok_or_else(|| {
            HostError::new(
                "TURN_ENDED",
                "this agent's turn has ended: await every call to the host (storage, \
                 other agents, schedules) inside the method that makes it",
            )
        })
    }
}
