//! Cluster mode (issue 21): many `islet serve` nodes sharing one PostgreSQL database for
//! node membership (heartbeats), placement leases with a monotonically increasing epoch per
//! agent, the cluster's catalog of agents, and each agent's durable copy (a snapshot image
//! plus the WAL segments of every commit since; see `store::WalCursor`).
//!
//! [`Cluster`] implements `agents::Durable`: the agent host claims an agent before
//! activating it, restores its file when the lease is new, and appends each turn's frames
//! before replying. Every write is one statement whose first part locks and checks the
//! writer's lease row (`node_id`, `epoch`, not expired), so it commits in the same
//! transaction as the check, and a claim by another node (which must take the same row
//! lock) is ordered strictly before or after it.
//!
//! Architecture Invariant: a durable write succeeds only under the agent's current epoch,
//! held by the writing node, unexpired (fencing). Epochs never go down, even across a
//! deletion of the agent (its lease row stays).
//!
//! Architecture Invariant: PostgreSQL's clock decides expiry (`now()` in every statement),
//! so nodes' clocks may disagree.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod pg;
mod schema;
mod status;
pub mod testing;
mod tls;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use agents::{Address, Claim, Durable, DurableCopy, DurableFuture};
use base::sync::lock;

pub use error::Error;
pub use status::{LeaseStatus, NodeStatus, Status};

use crate::pg::Pool;

/// A result whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a node joins a cluster.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The PostgreSQL connection string (`postgres://user:password@host:port/db` or
    /// `host=… port=… user=… dbname=…`).
    pub url: String,
    /// This node's name, unique in the cluster and kept across restarts.
    pub node_id: String,
    /// Where the other nodes reach this one (`HOST:PORT` of its HTTP listener).
    pub advertise: String,
    /// How long a lease lasts without renewal: after a node dies, its agents are claimable
    /// this long after its last heartbeat.
    pub lease_ttl: Duration,
    /// Connections to PostgreSQL (statements are pipelined on each; several let commits
    /// of different agents' turns share fsyncs).
    pub connections: usize,
}

/// Where an agent is served now, as far as the cluster knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// This node (it holds the lease, or nobody holds an unexpired one and it may claim).
    Here,
    /// Another live node holds the lease.
    Node {
        /// Its id.
        node: String,
        /// Its `--advertise` address.
        advertise: String,
    },
}

/// An agent of the cluster's catalog ([`Cluster::agents`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogAgent {
    /// Its class.
    pub class: String,
    /// Its name.
    pub name: String,
    /// When some node first created it (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// The node holding its unexpired lease: where it is active now, if anywhere.
    pub holder: Option<String>,
}

/// This node's membership in a cluster. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.inner.config.node_id)
            .field("advertise", &self.inner.config.advertise)
            .field("held", &self.held_count())
            .finish()
    }
}

/// What this node did in the cluster since it joined (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Log segments appended (one per shipped turn, or group of commits).
    pub appends: u64,
    /// Their bytes.
    pub append_bytes: u64,
    /// Writes refused because this node's lease was no longer current.
    pub fenced: u64,
    /// Leases claimed with a new epoch (first activations and takeovers).
    pub claims: u64,
    /// Of those, agents rebuilt from a durable copy another activation wrote (failovers,
    /// moves, or this node's own after a lost lease).
    pub restores: u64,
    /// Requests forwarded to the node holding the agent.
    pub forwarded: u64,
    /// Leases this node holds now.
    pub held: u64,
}

#[derive(Default)]
struct Counters {
    appends: AtomicU64,
    append_bytes: AtomicU64,
    fenced: AtomicU64,
    claims: AtomicU64,
    restores: AtomicU64,
    forwarded: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

/// Wakes an agent (the agent host's [`agents::AgentHost::wake`]).
pub type Waker = Box<dyn Fn(&Address) + Send + Sync>;

struct Inner {
    config: ClusterConfig,
    pool: Pool,
    /// Wakes agents whose schedule is due and that no live node holds.
    waker: Mutex<Option<Waker>>,
    counters: Counters,
    /// Leases this node holds, by agent key, with the epoch and the last segment shipped
    /// under it.
    held: Mutex<HashMap<String, Held>>,
    /// Other nodes' agents as `owner` last read them, with when: a forwarded request
    /// skips the database while the answer is fresh. A stale one costs a retriable
    /// `NOT_OWNER` at the old owner, which the router answers by forgetting it.
    owners: Mutex<HashMap<String, (Owner, std::time::Instant)>>,
}

/// The most owners remembered; past it the memory starts over.
const OWNERS_REMEMBERED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Held {
    epoch: u64,
    seq: u64,
    /// When the lease was claimed or last confirmed by a claim: a heartbeat judges only
    /// leases it could have seen (one claimed while its renewal ran is not lost).
    since: std::time::Instant,
}

/// The key of an agent in every table: `class/name` (a class name has no `/`).
pub fn agent_key(agent: &Address) -> String {
    format!("{}/{}", agent.class, agent.name)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Cluster {
    /// Connects, creates the schema if needed, registers this node (a first heartbeat) and
    /// starts renewing its heartbeat and leases every third of the lease time.
    pub async fn join(config: ClusterConfig) -> Result<Cluster> {
        if config.node_id.is_empty() || config.node_id.chars().any(char::is_control) {
            return Err(Error::Config(format!(
                "invalid node id {:?}: give each node a distinct, non-empty --node-id",
                config.node_id
            )));
        }
        if config.lease_ttl < Duration::from_millis(300) {
            return Err(Error::Config(
                "the lease time must be at least 300 ms (heartbeats renew it every third)".into(),
            ));
        }
        let pool = Pool::connect(&config.url, config.connections.max(1)).await?;
        schema::migrate(&*pool.get().await?).await?;
        let inner = Arc::new(Inner {
            config,
            pool,
            waker: Mutex::new(None),
            counters: Counters::default(),
            held: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
        });
        inner.heartbeat().await?;
        tokio::spawn(heartbeats(Arc::downgrade(&inner)));
        Ok(Cluster { inner })
    }

    /// Sets what wakes agents whose schedules are due while no live node holds them
    /// (their owner died): checked with every heartbeat; the woken agent is claimed by
    /// this node like any other.
    pub fn set_waker(&self, waker: Waker) {
        *lock(&self.inner.waker) = Some(waker);
    }

    /// Totals since this node joined.
    pub fn stats(&self) -> ClusterStats {
        let c = &self.inner.counters;
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClusterStats {
            appends: read(&c.appends),
            append_bytes: read(&c.append_bytes),
            fenced: read(&c.fenced),
            claims: read(&c.claims),
            restores: read(&c.restores),
            forwarded: read(&c.forwarded),
            held: self.held_count() as u64,
        }
    }

    /// Counts a request forwarded to another node.
    pub fn count_forwarded(&self) {
        bump(&self.inner.counters.forwarded, 1);
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// Leases this node holds (as it knows them).
    pub fn held_count(&self) -> usize {
        lock(&self.inner.held).len()
    }

    /// Where requests for `agent` go: here when this node holds its lease or nobody holds
    /// a live one (the agent host claims it on activation), else the holder.
    pub async fn owner(&self, agent: &Address) -> Result<Owner> {
        let key = agent_key(agent);
        if lock(&self.inner.held).contains_key(&key) {
            return Ok(Owner::Here);
        }
        // A tenth of the lease time, at most a second: well inside the window in which a
        // move of the agent makes calls retriable anyway.
        let fresh = (self.inner.config.lease_ttl / 10).min(Duration::from_secs(1));
        if let Some((owner, at)) = lock(&self.inner.owners).get(&key)
            && at.elapsed() < fresh
        {
            return Ok(owner.clone());
        }
        let client = self.inner.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT l.node_id, coalesce(n.advertise, '')
                   FROM islet_leases l LEFT JOIN islet_nodes n USING (node_id)
                  WHERE l.agent = $1 AND l.expires_at > now()",
                &[&key],
            )
            .await
            .map_err(Error::pg("looking up an agent's owner"))?;
        Ok(match row {
            Some(row) if row.get::<_, String>(0) != self.inner.config.node_id => {
                let owner = Owner::Node {
                    node: row.get(0),
                    advertise: row.get(1),
                };
                let mut owners = lock(&self.inner.owners);
                if owners.len() >= OWNERS_REMEMBERED {
                    owners.clear();
                }
                owners.insert(key, (owner.clone(), std::time::Instant::now()));
                owner
            }
            _ => Owner::Here,
        })
    }

    /// Drops what [`Cluster::owner`] remembered of `agent`'s owner (a call forwarded
    /// there failed: it may have moved or died).
    pub fn forget_owner(&self, agent: &Address) {
        lock(&self.inner.owners).remove(&agent_key(agent));
    }

    /// Whether this node holds `agent`'s lease under `epoch`, as far as its last renewal
    /// knows (no round trip): a lost lease is noticed at the next heartbeat or write.
    pub fn holds(&self, agent: &Address, epoch: u64) -> bool {
        lock(&self.inner.held)
            .get(&agent_key(agent))
            .is_some_and(|h| h.epoch == epoch)
    }

    /// Top-level agents of the whole cluster (sub-agents are listed by their parents), by
    /// `class/name` in byte order, optionally of one class, after `after` (a page's last
    /// agent), at most `limit`: every node answers `GET /agents` alike. Cluster-internal
    /// objects (classes starting with `@`, e.g. `@memory` profiles) are listed only when
    /// their class is asked for.
    pub async fn agents(
        &self,
        class: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<CatalogAgent>> {
        let separator = agents::SUB_AGENT_SEPARATOR.to_string();
        let prefix = class.map(|c| format!("{c}/"));
        let after = after.map(|(class, name)| format!("{class}/{name}"));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                "SELECT a.agent, (extract(epoch from a.created_at) * 1000)::bigint, l.node_id
                   FROM islet_agents a
                   LEFT JOIN islet_leases l ON l.agent = a.agent AND l.expires_at > now()
                  WHERE strpos(a.agent, $1) = 0
                    AND ($2::text IS NULL OR left(a.agent, length($2)) = $2)
                    AND ($2::text IS NOT NULL OR left(a.agent, 1) <> '@')
                    AND ($3::text IS NULL OR a.agent COLLATE \"C\" > $3)
                  ORDER BY a.agent COLLATE \"C\"
                  LIMIT $4",
                &[&separator, &prefix, &after, &limit],
            )
            .await
            .map_err(Error::pg("listing the cluster's agents"))?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let key: String = row.get(0);
                let (class, name) = key.split_once('/')?;
                Some(CatalogAgent {
                    class: class.to_owned(),
                    name: name.to_owned(),
                    created_at_ms: row.get(1),
                    holder: row.get(2),
                })
            })
            .collect())
    }

    /// Gives up every lease this node holds (a drain: the agents are claimable at once
    /// instead of after the lease time). Call after the agent host stopped.
    pub async fn release_all(&self) -> Result<u64> {
        let client = self.inner.pool.get().await?;
        let released = client
            .execute(
                "UPDATE islet_leases SET expires_at = now()
                  WHERE node_id = $1 AND expires_at > now()",
                &[&self.inner.config.node_id],
            )
            .await
            .map_err(Error::pg("releasing this node's leases"))?;
        lock(&self.inner.held).clear();
        Ok(released)
    }

    /// Whether PostgreSQL answers a query now and this node's leases are still being
    /// renewed (its last heartbeat is younger than the lease time): what `/readyz` asks.
    pub async fn ping(&self) -> Result<()> {
        let client = self.inner.pool.get().await?;
        let row = client
            .query_one(
                "SELECT coalesce((SELECT heartbeat_at > now() - $2::bigint * interval '1 millisecond'
                                    FROM islet_nodes WHERE node_id = $1), false)",
                &[&self.inner.config.node_id, &self.inner.ttl_ms()],
            )
            .await
            .map_err(Error::pg("checking the cluster's database"))?;
        if row.get::<_, bool>(0) {
            Ok(())
        } else {
            Err(Error::Stale(format!(
                "node {}'s last heartbeat is older than the lease time: its leases may lapse",
                self.inner.config.node_id
            )))
        }
    }

    /// The other nodes whose last heartbeat is younger than the lease time, as
    /// `(node id, advertise address)`, by node id.
    pub async fn other_live_nodes(&self) -> Result<Vec<(String, String)>> {
        let client = self.inner.pool.get().await?;
        let rows = client
            .query(
                "SELECT node_id, advertise FROM islet_nodes
                  WHERE node_id <> $1
                    AND heartbeat_at > now() - $2::bigint * interval '1 millisecond'
                  ORDER BY node_id",
                &[&self.inner.config.node_id, &self.inner.ttl_ms()],
            )
            .await
            .map_err(Error::pg("listing the cluster's nodes"))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The cluster as the database sees it (nodes, leases, log sizes).
    pub async fn status(&self) -> Result<Status> {
        status::read(&*self.inner.pool.get().await?).await
    }

    /// Reads the status of the cluster at `url` without joining it (`islet cluster status`).
    pub async fn status_of(url: &str) -> Result<Status> {
        let pool = Pool::connect(url, 1).await?;
        schema::migrate(&*pool.get().await?).await?;
        status::read(&*pool.get().await?).await
    }
}

impl Inner {
    fn ttl_ms(&self) -> i64 {
        millis(self.config.lease_ttl)
    }

    /// Records this node as alive and renews its unexpired leases; leases it holds in
    /// memory that were not renewed were lost (taken over, or expired while it was paused).
    async fn heartbeat(&self) -> Result<()> {
        let started = std::time::Instant::now();
        let client = self.pool.get().await?;
        let node = &self.config.node_id;
        client
            .execute(
                "INSERT INTO islet_nodes (node_id, advertise, started_at, heartbeat_at)
                 VALUES ($1, $2, now(), now())
                 ON CONFLICT (node_id) DO UPDATE
                    SET advertise = EXCLUDED.advertise, heartbeat_at = now()",
                &[node, &self.config.advertise],
            )
            .await
            .map_err(Error::pg("recording a heartbeat"))?;
        let rows = client
            .query(
                "UPDATE islet_leases SET expires_at = now() + $2::bigint * interval '1 millisecond'
                  WHERE node_id = $1 AND expires_at > now()
                 RETURNING agent, epoch",
                &[node, &self.ttl_ms()],
            )
            .await
            .map_err(Error::pg("renewing leases"))?;
        let renewed: HashMap<String, i64> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let mut held = lock(&self.held);
        held.retain(|agent, h| {
            let kept = h.since >= started || renewed.get(agent) == Some(&(h.epoch as i64));
            if !kept {
                tracing::warn!(agent, epoch = h.epoch, "lost the lease");
            }
            kept
        });
        Ok(())
    }

    /// Wakes agents whose next schedule is due and that no live node holds. Several nodes
    /// may wake the same agent; the claim lets one serve it.
    async fn wake_orphans(&self) -> Result<()> {
        if lock(&self.waker).is_none() {
            return Ok(());
        }
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT a.agent FROM islet_agents a
                  WHERE a.next_alarm_ms <= (extract(epoch from now()) * 1000)::bigint
                    AND NOT EXISTS (SELECT 1 FROM islet_leases l
                                     WHERE l.agent = a.agent AND l.expires_at > now())
                  ORDER BY a.next_alarm_ms LIMIT 100",
                &[],
            )
            .await
            .map_err(Error::pg("looking for due schedules"))?;
        let waker = lock(&self.waker);
        let Some(waker) = waker.as_ref() else {
            return Ok(());
        };
        for row in rows {
            let key: String = row.get(0);
            if let Some((class, name)) = key.split_once('/') {
                tracing::info!(agent = %key, "waking an agent whose schedule is due");
                waker(&Address::new(class, name));
            }
        }
        Ok(())
    }

    fn fenced(&self, agent: &Address, epoch: u64) -> agents::Error {
        bump(&self.counters.fenced, 1);
        agents::Error::Fenced {
            agent: agent.to_string(),
            message: format!(
                "this node's lease (epoch {epoch}) is no longer the agent's current one: it \
                 expired or another node took the agent over"
            ),
        }
    }

    fn forget(&self, agent: &Address) {
        lock(&self.held).remove(&agent_key(agent));
    }
}

async fn heartbeats(inner: Weak<Inner>) {
    loop {
        let Some(every) = inner.upgrade().map(|i| i.config.lease_ttl / 3) else {
            return;
        };
        tokio::time::sleep(every).await;
        let Some(inner) = inner.upgrade() else { return };
        if let Err(e) = inner.heartbeat().await {
            tracing::warn!(error = %e, "cluster heartbeat failed");
            continue;
        }
        if let Err(e) = inner.wake_orphans().await {
            tracing::warn!(error = %e, "cannot look for agents with due schedules");
        }
    }
}

/// Turns a database failure into the agent host's retriable error.
fn not_durable(agent: &Address) -> impl FnOnce(Error) -> agents::Error + '_ {
    move |e| agents::Error::NotDurable {
        agent: agent.to_string(),
        message: e.to_string(),
    }
}

impl Durable for Cluster {
    fn claim<'a>(&'a self, agent: &'a Address) -> DurableFuture<'a, Claim> {
        Box::pin(async move {
            let inner = &self.inner;
            let key = agent_key(agent);
            let node = &inner.config.node_id;
            let client = inner.pool.get().await.map_err(not_durable(agent))?;
            let held = lock(&inner.held).get(&key).copied();
            if let Some(held) = held {
                // Still ours, under the same epoch: the local file is current.
                let kept = client
                    .execute(
                        "UPDATE islet_leases SET expires_at = now() + $4::bigint * interval '1 millisecond'
                          WHERE agent = $1 AND node_id = $2 AND epoch = $3 AND expires_at > now()",
                        &[&key, node, &(held.epoch as i64), &inner.ttl_ms()],
                    )
                    .await
                    .map_err(|e| not_durable(agent)(Error::pg("renewing a lease")(e)))?;
                if kept == 1 {
                    return Ok(Claim::Kept {
                        epoch: held.epoch,
                        seq: held.seq,
                    });
                }
                inner.forget(agent);
            }
            let claimed = client
                .query_opt(
                    "INSERT INTO islet_leases AS l (agent, node_id, epoch, claimed_at, expires_at)
                     VALUES ($1, $2, 1, now(), now() + $3::bigint * interval '1 millisecond')
                     ON CONFLICT (agent) DO UPDATE
                        SET node_id = EXCLUDED.node_id, epoch = l.epoch + 1,
                            claimed_at = now(), expires_at = EXCLUDED.expires_at
                      WHERE l.expires_at <= now() OR l.node_id = EXCLUDED.node_id
                     RETURNING epoch",
                    &[&key, node, &inner.ttl_ms()],
                )
                .await
                .map_err(|e| not_durable(agent)(Error::pg("claiming a lease")(e)))?;
            if let Some(row) = claimed {
                let epoch = row.get::<_, i64>(0) as u64;
                // The sequence number comes from the restore that follows.
                lock(&inner.held).insert(
                    key,
                    Held {
                        epoch,
                        seq: 0,
                        since: std::time::Instant::now(),
                    },
                );
                bump(&inner.counters.claims, 1);
                return Ok(Claim::New { epoch });
            }
            let owner = client
                .query_opt(
                    "SELECT l.node_id, coalesce(n.advertise, '')
                       FROM islet_leases l LEFT JOIN islet_nodes n USING (node_id)
                      WHERE l.agent = $1",
                    &[&key],
                )
                .await
                .map_err(|e| not_durable(agent)(Error::pg("looking up an agent's owner")(e)))?;
            let (node, advertise) = owner.map_or_else(
                || (String::new(), String::new()),
                |row| (row.get(0), row.get(1)),
            );
            Ok(Claim::Elsewhere { node, advertise })
        })
    }

    fn restore<'a>(&'a self, agent: &'a Address, epoch: u64) -> DurableFuture<'a, DurableCopy> {
        Box::pin(async move {
            let copy = pg::restore(&self.inner.pool, &agent_key(agent))
                .await
                .map_err(not_durable(agent))?;
            let mut held = lock(&self.inner.held);
            match held.get_mut(&agent_key(agent)) {
                Some(h) if h.epoch == epoch => h.seq = copy.seq,
                _ => return Err(self.inner.fenced(agent, epoch)),
            }
            if !copy.is_empty() {
                bump(&self.inner.counters.restores, 1);
            }
            Ok(copy)
        })
    }

    fn append<'a>(
        &'a self,
        agent: &'a Address,
        epoch: u64,
        seq: u64,
        segment: Vec<u8>,
        next_alarm: Option<i64>,
    ) -> DurableFuture<'a, ()> {
        Box::pin(async move {
            let inner = &self.inner;
            let key = agent_key(agent);
            // Whatever fails, the local copy may now be ahead of the durable one: the node
            // forgets the agent, so its next call claims anew and restores.
            let client = match inner.pool.get().await {
                Ok(client) => client,
                Err(e) => {
                    inner.forget(agent);
                    return Err(not_durable(agent)(e));
                }
            };
            // One statement, so one transaction: the lease row is locked, checked and
            // renewed, and the segment inserted only if it passed.
            let appended = client
                .execute(
                    "WITH lease AS (
                         UPDATE islet_leases SET expires_at = now() + $6::bigint * interval '1 millisecond'
                          WHERE agent = $1 AND node_id = $2 AND epoch = $3 AND expires_at > now()
                         RETURNING agent),
                     alarm AS (
                         UPDATE islet_agents SET next_alarm_ms = $7
                          WHERE agent IN (SELECT agent FROM lease)
                            AND next_alarm_ms IS DISTINCT FROM $7)
                     INSERT INTO islet_agent_log (agent, seq, epoch, frames)
                     SELECT agent, $4, $3, $5 FROM lease",
                    &[
                        &key,
                        &inner.config.node_id,
                        &(epoch as i64),
                        &(seq as i64),
                        &segment,
                        &inner.ttl_ms(),
                        &next_alarm,
                    ],
                )
                .await;
            match appended {
                Ok(1) => {
                    bump(&inner.counters.appends, 1);
                    bump(&inner.counters.append_bytes, segment.len() as u64);
                    if let Some(h) = lock(&inner.held).get_mut(&key)
                        && h.epoch == epoch
                    {
                        h.seq = seq;
                    }
                    Ok(())
                }
                Ok(_) => {
                    inner.forget(agent);
                    Err(inner.fenced(agent, epoch))
                }
                Err(e) => {
                    inner.forget(agent);
                    Err(not_durable(agent)(Error::pg("appending a segment")(e)))
                }
            }
        })
    }

    fn snapshot<'a>(
        &'a self,
        agent: &'a Address,
        epoch: u64,
        seq: u64,
        image: Vec<u8>,
    ) -> DurableFuture<'a, ()> {
        Box::pin(async move {
            let inner = &self.inner;
            let client = inner.pool.get().await.map_err(not_durable(agent))?;
            let stored: i64 = client
                .query_one(
                    "WITH lease AS (
                         SELECT agent FROM islet_leases
                          WHERE agent = $1 AND node_id = $2 AND epoch = $3 AND expires_at > now()
                            FOR UPDATE),
                     snap AS (
                         INSERT INTO islet_agent_snapshots AS s (agent, seq, epoch, image, taken_at)
                         SELECT agent, $4, $3, $5, now() FROM lease
                         ON CONFLICT (agent) DO UPDATE
                            SET seq = EXCLUDED.seq, epoch = EXCLUDED.epoch,
                                image = EXCLUDED.image, taken_at = now()
                         RETURNING seq),
                     listed AS (
                         INSERT INTO islet_agents (agent, created_at) SELECT agent, now() FROM lease
                         ON CONFLICT (agent) DO NOTHING),
                     compacted AS (
                         DELETE FROM islet_agent_log
                          WHERE agent = $1 AND seq <= (SELECT seq FROM snap))
                     SELECT count(*) FROM snap",
                    &[
                        &agent_key(agent),
                        &inner.config.node_id,
                        &(epoch as i64),
                        &(seq as i64),
                        &image,
                    ],
                )
                .await
                .map_err(|e| not_durable(agent)(Error::pg("storing a snapshot")(e)))?
                .get(0);
            if stored == 1 {
                Ok(())
            } else {
                inner.forget(agent);
                Err(inner.fenced(agent, epoch))
            }
        })
    }

    fn exists<'a>(&'a self, agent: &'a Address) -> DurableFuture<'a, bool> {
        Box::pin(async move {
            let client = self.inner.pool.get().await.map_err(not_durable(agent))?;
            let row = client
                .query_opt(
                    "SELECT 1 FROM islet_agents WHERE agent = $1",
                    &[&agent_key(agent)],
                )
                .await
                .map_err(|e| not_durable(agent)(Error::pg("looking up an agent")(e)))?;
            Ok(row.is_some())
        })
    }

    fn delete<'a>(&'a self, agent: &'a Address, epoch: u64) -> DurableFuture<'a, ()> {
        Box::pin(async move {
            let inner = &self.inner;
            let client = inner.pool.get().await.map_err(not_durable(agent))?;
            let checked: i64 = client
                .query_one(
                    "WITH lease AS (
                         SELECT agent FROM islet_leases
                          WHERE agent = $1 AND node_id = $2 AND epoch = $3 AND expires_at > now()
                            FOR UPDATE),
                     a AS (DELETE FROM islet_agents WHERE agent IN (SELECT agent FROM lease)),
                     l AS (DELETE FROM islet_agent_log WHERE agent IN (SELECT agent FROM lease)),
                     s AS (DELETE FROM islet_agent_snapshots WHERE agent IN (SELECT agent FROM lease))
                     SELECT count(*) FROM lease",
                    &[&agent_key(agent), &inner.config.node_id, &(epoch as i64)],
                )
                .await
                .map_err(|e| not_durable(agent)(Error::pg("deleting an agent")(e)))?
                .get(0);
            if checked == 1 {
                if let Some(h) = lock(&inner.held).get_mut(&agent_key(agent)) {
                    h.seq = 0;
                }
                Ok(())
            } else {
                inner.forget(agent);
                Err(inner.fenced(agent, epoch))
            }
        })
    }

    fn forget(&self, agent: &Address) {
        self.inner.forget(agent);
    }
}
