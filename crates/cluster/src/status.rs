//! `islet cluster status`: nodes, their agents and lease ages, and how much log waits to be
//! folded into snapshots.

use serde::Serialize;
use tokio_postgres::Client;

use crate::{Error, Result};

/// The cluster as its database sees it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Every node that ever joined, by id.
    pub nodes: Vec<NodeStatus>,
    /// Every unexpired lease, by agent.
    pub leases: Vec<LeaseStatus>,
    /// Agents in the cluster's catalog.
    pub agents: i64,
    /// Segments logged since the agents' snapshots, and their bytes (the replication log
    /// a restore replays).
    pub log_segments: i64,
    /// Total bytes of those segments.
    pub log_bytes: i64,
}

/// One node.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Its `--node-id`.
    pub node_id: String,
    /// Its `--advertise` address.
    pub advertise: String,
    /// Milliseconds since its last heartbeat.
    pub heartbeat_age_ms: i64,
    /// Unexpired leases it holds.
    pub agents: i64,
    /// Log segments of its agents not yet folded into their snapshots: what a node taking
    /// them over replays (appends are synchronous, so nothing acknowledged lags further).
    pub log_segments: i64,
    /// Their bytes.
    pub log_bytes: i64,
}

/// One lease.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseStatus {
    /// `class/name`.
    pub agent: String,
    /// The holder.
    pub node_id: String,
    /// The epoch it was claimed with.
    pub epoch: i64,
    /// Milliseconds since it was claimed.
    pub age_ms: i64,
    /// Milliseconds until it expires unless renewed.
    pub expires_in_ms: i64,
    /// The agent's log segments since its snapshot (a takeover's replay).
    pub log_segments: i64,
    /// Their bytes.
    pub log_bytes: i64,
}

pub(crate) async fn read(client: &Client) -> Result<Status> {
    let ms = |what: &str| format!("(extract(epoch from {what}) * 1000)::bigint");
    let nodes = client
        .query(
            &format!(
                "SELECT n.node_id, n.advertise, {}, held.agents, held.segments, held.bytes
                   FROM islet_nodes n
                   CROSS JOIN LATERAL (
                        SELECT count(DISTINCT l.agent) AS agents, count(g.seq) AS segments,
                               coalesce(sum(length(g.frames)), 0)::bigint AS bytes
                          FROM islet_leases l LEFT JOIN islet_agent_log g USING (agent)
                         WHERE l.node_id = n.node_id AND l.expires_at > now()) held
                  ORDER BY n.node_id",
                ms("now() - n.heartbeat_at")
            ),
            &[],
        )
        .await
        .map_err(Error::pg("reading the nodes"))?
        .iter()
        .map(|r| NodeStatus {
            node_id: r.get(0),
            advertise: r.get(1),
            heartbeat_age_ms: r.get(2),
            agents: r.get(3),
            log_segments: r.get(4),
            log_bytes: r.get(5),
        })
        .collect();
    let leases = client
        .query(
            &format!(
                "SELECT l.agent, l.node_id, l.epoch, {}, {},
                        count(g.seq), coalesce(sum(length(g.frames)), 0)::bigint
                   FROM islet_leases l LEFT JOIN islet_agent_log g USING (agent)
                  WHERE l.expires_at > now()
                  GROUP BY l.agent, l.node_id, l.epoch, l.claimed_at, l.expires_at
                  ORDER BY l.agent",
                ms("now() - l.claimed_at"),
                ms("l.expires_at - now()")
            ),
            &[],
        )
        .await
        .map_err(Error::pg("reading the leases"))?
        .iter()
        .map(|r| LeaseStatus {
            agent: r.get(0),
            node_id: r.get(1),
            epoch: r.get(2),
            age_ms: r.get(3),
            expires_in_ms: r.get(4),
            log_segments: r.get(5),
            log_bytes: r.get(6),
        })
        .collect();
    let totals = client
        .query_one(
            "SELECT (SELECT count(*) FROM islet_agents),
                    (SELECT count(*) FROM islet_agent_log),
                    (SELECT coalesce(sum(length(frames)), 0)::bigint FROM islet_agent_log)",
            &[],
        )
        .await
        .map_err(Error::pg("reading the log's size"))?;
    Ok(Status {
        nodes,
        leases,
        agents: totals.get(0),
        log_segments: totals.get(1),
        log_bytes: totals.get(2),
    })
}
