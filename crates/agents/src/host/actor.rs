//! The actor of one active agent: the task that serves its mailbox, one message at a time.
//! It opens the agent's database and sandbox session when the agent activates (claiming
//! and restoring its durable copy in cluster mode), runs each call, request, schedule and
//! fiber recovery as a turn (one transaction, committed before the reply and shipped in
//! cluster mode), and hibernates the agent after `idle_timeout` without messages.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use base::sync::lock;
use sandbox::{Bindings, Execution, Session};
use serde_json::{Value, json};
use store::AgentDb;
use tokio::sync::{mpsc, watch};
use tracing::Instrument as _;

use crate::address::Address;
use crate::classes::AgentClass;
use crate::durable::{Claim, Durable};
use crate::error::Error;
use crate::isolates;
use crate::mailbox::{
    Activation, HttpRequest, HttpResponse, Inner, Link, Message, Reply, StateEvent, bump,
    no_such_agent,
};
use crate::runtime;
use crate::turn::{TurnContext, TurnSlot};

/// Starts the actor of an agent that got a message while not active: set as
/// `Inner::activate` by `AgentHost::start`.
pub(super) fn start(host: Arc<Inner>, activation: Activation) {
    let Activation {
        address,
        class,
        generation,
        aborted,
        messages,
    } = activation;
    let actor = Actor {
        address,
        class,
        host,
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
    tokio::spawn(actor.run(messages));
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
    turn_bindings: Option<(Bindings, Arc<TurnSlot>)>,
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
        isolates::drop_agent(&host, &self.address);
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
            self.session = Some(self.host.sandbox().session());
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
