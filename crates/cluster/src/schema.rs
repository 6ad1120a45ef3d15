//! The cluster's tables, created on first use. Names are prefixed `islet_` so the
//! cluster can share a database with other applications.

use tokio_postgres::Client;

use crate::{Error, Result};

/// Every table, idempotent. Run under an advisory lock: nodes starting together would
/// otherwise race on `CREATE TABLE IF NOT EXISTS` (it is not atomic in PostgreSQL).
const SCHEMA: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(7250021);
CREATE TABLE IF NOT EXISTS islet_nodes (
    node_id text PRIMARY KEY,
    advertise text NOT NULL,
    started_at timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS islet_agents (
    agent text PRIMARY KEY,
    created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS islet_leases (
    agent text PRIMARY KEY,
    node_id text NOT NULL,
    epoch bigint NOT NULL,
    claimed_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS islet_leases_by_node ON islet_leases (node_id, expires_at);
CREATE TABLE IF NOT EXISTS islet_agent_snapshots (
    agent text PRIMARY KEY,
    seq bigint NOT NULL,
    epoch bigint NOT NULL,
    image bytea NOT NULL,
    taken_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS islet_agent_log (
    agent text NOT NULL,
    seq bigint NOT NULL,
    epoch bigint NOT NULL,
    frames bytea NOT NULL,
    PRIMARY KEY (agent, seq)
);
-- The agent's next schedule (ms since the Unix epoch), written with each log segment:
-- nodes wake agents whose schedule is due and that no live node holds.
ALTER TABLE islet_agents ADD COLUMN IF NOT EXISTS next_alarm_ms bigint;
CREATE INDEX IF NOT EXISTS islet_agents_by_alarm ON islet_agents (next_alarm_ms)
    WHERE next_alarm_ms IS NOT NULL;
COMMIT;
";

pub(crate) async fn migrate(client: &Client) -> Result<()> {
    client
        .batch_execute(SCHEMA)
        .await
        .map_err(Error::pg("creating the cluster's tables"))
}
