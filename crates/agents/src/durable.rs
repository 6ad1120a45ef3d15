//! Cluster mode's storage behind a trait (issue 21): where each agent's *durable copy*
//! lives (a snapshot image plus the WAL segments of every commit since, see
//! [`store::WalCursor`]) and which node may write it (a lease with an epoch per agent).
//!
//! The local SQLite file stays the hot copy every turn runs on; the durable copy is the
//! truth it is rebuilt from when a node claims an agent with a new epoch. The host ships a
//! turn's frames *before* its reply (the output gate extended to the durable copy); a
//! refused or failed append fails the reply with a retriable error and ends the agent's
//! activation, so its local file (ahead of the durable copy) is never trusted again: the
//! next activation claims a new epoch and restores.
//!
//! Architecture Invariant: every durable write carries the writer's epoch and is refused
//! unless it is the agent's current one (fencing): a node that was paused past its lease
//! cannot overwrite what the agent's next owner wrote.
//!
//! Single-node mode has no implementation (`HostConfig::durable` is `None`): nothing is
//! read, shipped or claimed, and SQLite checkpoints as it always did.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::address::Address;
use crate::error::Error;

/// The future each [`Durable`] operation returns.
pub type DurableFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// What claiming an agent gave this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node held the agent's lease without interruption since it last wrote: its
    /// local file is the agent as of segment `seq`, and the epoch is unchanged.
    Kept {
        /// The lease's epoch, the same as before.
        epoch: u64,
        /// The last segment the local file holds.
        seq: u64,
    },
    /// A new lease (epoch one above the last): the local file, if any, may be stale and is
    /// rebuilt from [`Durable::restore`].
    New {
        /// The new lease's epoch, to fence this node's writes with.
        epoch: u64,
    },
    /// Another live node holds the lease: requests for the agent go there.
    Elsewhere {
        /// The node holding the lease.
        node: String,
        /// The address that node advertises, to forward requests to.
        advertise: String,
    },
}

/// An agent's durable copy: a snapshot image (empty when none was taken) and the segments
/// logged after it, in order; `seq` is the number of the last (that of the snapshot when
/// no segment follows it, 0 for an agent with no durable copy yet).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DurableCopy {
    /// The last snapshot of the agent's database file; empty when none was taken.
    pub image: Vec<u8>,
    /// The segments logged after the snapshot, oldest first, to apply to it in order.
    pub segments: Vec<Vec<u8>>,
    /// The number of the last segment (or the snapshot's, when none follows).
    pub seq: u64,
}

impl DurableCopy {
    /// Whether nothing was ever stored for the agent.
    pub fn is_empty(&self) -> bool {
        self.image.is_empty() && self.segments.is_empty()
    }
}

/// Where agents' durable copies and leases live (PostgreSQL in `islet-cluster`; an object
/// store could follow). Every write names the epoch it was claimed with and fails with
/// [`Error::Fenced`] when it is no longer the agent's current one.
pub trait Durable: Send + Sync + fmt::Debug {
    /// Claims the agent for this node, or says who holds it.
    fn claim<'a>(&'a self, agent: &'a Address) -> DurableFuture<'a, Claim>;
    /// The agent's durable copy, read under the lease of `epoch`.
    fn restore<'a>(&'a self, agent: &'a Address, epoch: u64) -> DurableFuture<'a, DurableCopy>;
    /// Appends segment number `seq` (one above the last) in the same transaction that
    /// checks `epoch`, with the agent's next schedule time after it (ms since the Unix
    /// epoch; `None`: no schedule), so that a node can wake an agent whose owner died
    /// when its schedule is due; returns once it is durable.
    fn append<'a>(
        &'a self,
        agent: &'a Address,
        epoch: u64,
        seq: u64,
        segment: Vec<u8>,
        next_alarm: Option<i64>,
    ) -> DurableFuture<'a, ()>;
    /// Stores `image` (the whole database after a checkpoint, as of segment `seq`) as the
    /// agent's snapshot and drops the segments it covers (compaction).
    fn snapshot<'a>(
        &'a self,
        agent: &'a Address,
        epoch: u64,
        seq: u64,
        image: Vec<u8>,
    ) -> DurableFuture<'a, ()>;
    /// Whether the agent exists anywhere in the cluster (reads never create agents).
    fn exists<'a>(&'a self, agent: &'a Address) -> DurableFuture<'a, bool>;
    /// Deletes the agent's durable copy and lease (after its local files).
    fn delete<'a>(&'a self, agent: &'a Address, epoch: u64) -> DurableFuture<'a, ()>;
    /// This node no longer trusts its local copy of the agent (an append failed): the
    /// next activation must claim anew and restore.
    fn forget(&self, agent: &Address);
}

/// Cluster mode: makes a call of an agent that another node holds, on that node (through
/// its HTTP API). A call that reached this node for an agent it does not hold
/// ([`Error::NotOwner`]) was not applied here, so it is made there instead; the call
/// chain (who waits on whom) does not cross nodes, so a call back into a waiting agent on
/// another node queues behind its wait instead of re-entering.
pub trait Forwarder: Send + Sync + fmt::Debug {
    /// Calls `method` of `agent` on the node at `advertise` (`host:port`).
    fn call<'a>(
        &'a self,
        advertise: &'a str,
        agent: &'a Address,
        method: &'a str,
        args: Vec<Value>,
    ) -> DurableFuture<'a, Value>;
}
