//! Memory profiles in cluster mode (issue 21): a profile is a durable object like an agent.
//! It has a lease (key `@memory/<namespace>/<profile>`), and its durable copy (a snapshot
//! plus the log of its SQLite file's commits) lives in the cluster's PostgreSQL. The node
//! that holds the lease serves the profile from its local file; every other node sends
//! `memory.*` calls there (`POST /memory/<ns>/<profile>/<operation>` with the cluster's
//! token). When that node dies, the next call claims the lease after its TTL and
//! restores the file from PostgreSQL.
//!
//! Architecture Invariant: a `memory.*` write is acknowledged only after its commit is in
//! PostgreSQL under the profile's current epoch (the same fencing as agents' turns). A
//! failed shipment fails the call and drops the local file's claim, so the next call
//! restores it from the durable copy.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use agents::{Address, Claim, Durable as _};
use axum::http::StatusCode;
use base::sync::lock;
use cluster::Cluster;
use memory::{Here, Placed, Placement, Profile};
use sandbox::HostError;
use serde_json::{Value, json};

use super::{FORWARDED, node_client, node_error};
use crate::serve::api::ApiError;

/// The class memory profiles' leases and durable copies are kept under. Agent classes
/// are identifiers, so no agent's key starts with `@`.
pub(crate) const MEMORY_CLASS: &str = "@memory";

/// How much log a profile accumulates before it is folded into a snapshot.
const SNAPSHOT_AFTER_BYTES: u64 = 8 << 20;

/// The placement of memory profiles on a cluster: see the module docs.
#[derive(Debug)]
pub(crate) struct ClusterMemory {
    cluster: Cluster,
    client: reqwest::Client,
    token: String,
    /// One slot per profile this node has touched: operations on a profile run one at a
    /// time, so that its log is shipped in commit order.
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Replica>>>>>,
}

/// This node's hold on a profile it serves.
#[derive(Debug)]
struct Replica {
    epoch: u64,
    /// The last segment in the durable copy.
    seq: u64,
    cursor: store::WalCursor,
    bytes_since_snapshot: u64,
    /// Whether the durable copy has a snapshot (and the profile is in the catalog): until
    /// then the next shipment is a whole snapshot, not a log segment.
    listed: bool,
}

fn address(profile: &Profile) -> Address {
    Address::new(MEMORY_CLASS, profile.name().as_str())
}

/// The retriable error of a profile whose writes could not be made durable, or whose
/// node could not be found or reached.
fn unavailable(code: &str, message: String) -> HostError {
    HostError::new(code, message).with_kind(base::ErrorKind::Unavailable)
}

impl ClusterMemory {
    pub(crate) fn new(cluster: &Cluster, token: String) -> anyhow::Result<ClusterMemory> {
        Ok(ClusterMemory {
            cluster: cluster.clone(),
            client: node_client()?,
            token,
            slots: Mutex::new(HashMap::new()),
        })
    }

    fn slot(&self, profile: &Profile) -> Arc<tokio::sync::Mutex<Option<Replica>>> {
        let mut slots = lock(&self.slots);
        // Looked up before the key is allocated: every operation passes here.
        if let Some(slot) = slots.get(profile.name().as_str()) {
            return slot.clone();
        }
        slots.entry(profile.name().to_string()).or_default().clone()
    }

    /// Makes this node the profile's server, claiming its lease and rebuilding its file
    /// from the durable copy when it did not hold it; or says which node serves it
    /// (`Some(advertise)`).
    async fn acquire(
        &self,
        profile: &Profile,
        replica: &mut Option<Replica>,
    ) -> Result<Option<String>, HostError> {
        let agent = address(profile);
        if let Some(r) = replica.as_ref()
            && self.cluster.holds(&agent, r.epoch)
        {
            return Ok(None);
        }
        // Lost (taken over, or expired while this node was paused): the local file may
        // be behind the durable copy, or ahead of it.
        if replica.take().is_some() {
            profile.close().await;
        }
        let failed = |e: agents::Error| {
            unavailable(
                "NOT_DURABLE",
                format!(
                    "cannot reach the cluster's database for memory profile `{}`: {e}; retry",
                    profile.name()
                ),
            )
        };
        let epoch = match self.cluster.claim(&agent).await.map_err(failed)? {
            Claim::Elsewhere { node, advertise } if advertise.is_empty() => {
                return Err(unavailable(
                    "NOT_OWNER",
                    format!(
                        "memory profile `{}` is held by node {node}, which has not said where \
                         it listens; retry",
                        profile.name()
                    ),
                ));
            }
            Claim::Elsewhere { advertise, .. } => return Ok(Some(advertise)),
            // Held without a break (this node dropped only its hold, e.g. after deleting
            // the profile): the local file is current. Its next shipment is a whole
            // snapshot, which says all the file holds whatever the log had.
            Claim::Kept { epoch, seq } => {
                *replica = Some(Replica {
                    epoch,
                    seq,
                    cursor: store::WalCursor::new(&profile.path()),
                    bytes_since_snapshot: 0,
                    listed: false,
                });
                return Ok(None);
            }
            Claim::New { epoch } => epoch,
        };
        let copy = self.cluster.restore(&agent, epoch).await.map_err(failed)?;
        profile.close().await;
        let path = profile.path();
        let listed = !copy.is_empty();
        // A profile this node had before it joined a cluster (nothing durable, the first
        // lease ever) is kept: its first shipment is a snapshot of it. Otherwise what the
        // durable copy says wins: nothing (deleted elsewhere) or the rebuilt file.
        let import = !listed && epoch == 1 && path.exists();
        if !import {
            let image = copy.image;
            let segments = copy.segments;
            let path = path.clone();
            tokio::task::spawn_blocking(move || rebuild(&path, &image, &segments))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r)
                .map_err(|e| {
                    HostError::new(
                        "STORAGE",
                        format!(
                            "cannot restore memory profile `{}` from the cluster: {e}",
                            profile.name()
                        ),
                    )
                })?;
        }
        tracing::debug!(profile = %profile.name(), epoch, seq = copy.seq, import, "serving memory profile here");
        *replica = Some(Replica {
            epoch,
            seq: copy.seq,
            cursor: store::WalCursor::new(&path),
            bytes_since_snapshot: 0,
            listed,
        });
        Ok(None)
    }

    /// Makes what the last operation committed durable: its log segment, or a snapshot
    /// when the profile has none yet, its log grew long, or `fold` (after a forget, so
    /// that forgotten text leaves the durable copy's log too).
    async fn ship(
        &self,
        profile: &Profile,
        replica: &mut Option<Replica>,
        fold: bool,
    ) -> Result<(), HostError> {
        let Some(r) = replica.as_mut() else {
            return Ok(());
        };
        let agent = address(profile);
        let shipped = async {
            if r.listed {
                let segment = r.cursor.committed().map_err(|e| e.to_string())?;
                if let Some(mut segment) = segment {
                    let bytes = std::mem::take(&mut segment.bytes);
                    let len = bytes.len() as u64;
                    self.cluster
                        .append(&agent, r.epoch, r.seq + 1, bytes, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    r.cursor.advance(&segment);
                    r.seq += 1;
                    r.bytes_since_snapshot += len;
                }
            }
            if !r.listed || fold || r.bytes_since_snapshot >= SNAPSHOT_AFTER_BYTES {
                // The log was shipped above, so the checkpoint loses nothing.
                if let Some(image) = profile.snapshot_image().await.map_err(|e| e.to_string())? {
                    self.cluster
                        .snapshot(&agent, r.epoch, r.seq, image)
                        .await
                        .map_err(|e| e.to_string())?;
                    r.listed = true;
                    r.bytes_since_snapshot = 0;
                }
            }
            Ok::<(), String>(())
        }
        .await;
        if let Err(why) = shipped {
            tracing::warn!(profile = %profile.name(), error = %why,
                "memory profile's writes could not be made durable; dropping this node's hold on it");
            *replica = None;
            self.cluster.forget(&agent);
            profile.close().await;
            return Err(unavailable(
                "NOT_DURABLE",
                format!(
                    "the write to memory profile `{}` could not be made durable in the \
                     cluster ({why}); it was not acknowledged: retry",
                    profile.name()
                ),
            ));
        }
        Ok(())
    }

    /// The profile's URL path on any node.
    fn path(profile: &Profile, operation: Option<&str>) -> String {
        let name = profile.name();
        match operation {
            Some(op) => format!("/memory/{}/{}/{op}", name.namespace(), name.profile()),
            None => format!("/memory/{}/{}", name.namespace(), name.profile()),
        }
    }

    /// Sends the call to the node that serves the profile.
    async fn forward(
        &self,
        advertise: &str,
        profile: &Profile,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Value), HostError> {
        let unreachable = |detail: String| {
            unavailable(
                "NOT_OWNER",
                format!(
                    "memory profile `{}` is served by the node at {advertise}, which did not \
                     answer ({detail}); if it died, another node takes the profile over when \
                     its lease runs out: retry",
                    profile.name()
                ),
            )
        };
        self.cluster.count_forwarded();
        let response = request
            .bearer_auth(&self.token)
            .header(&FORWARDED, self.cluster.node_id())
            .send()
            .await
            .map_err(|e| unreachable(base::error_chain(&e)))?;
        let status =
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unreachable(base::error_chain(&e)))?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| unreachable(format!("an unreadable answer: {e}")))?
        };
        Ok((status, body))
    }

    /// `DELETE /memory/<ns>/<profile>` in cluster mode: the durable copy first, then the
    /// local file, on the node that serves the profile. `false`: there was no such profile.
    pub(in crate::serve) async fn delete(
        &self,
        memories: &memory::Memories,
        profile: &Profile,
    ) -> Result<bool, ApiError> {
        let slot = self.slot(profile);
        let mut replica = slot.lock().await;
        if let Some(advertise) = self.acquire(profile, &mut replica).await? {
            drop(replica);
            let url = format!("http://{advertise}{}", Self::path(profile, None));
            let (status, body) = self
                .forward(&advertise, profile, self.client.delete(url))
                .await?;
            return match status {
                StatusCode::NO_CONTENT => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => {
                    Err(node_error(status, &body, "the node that serves the profile failed").into())
                }
            };
        }
        let Some(r) = replica.take() else {
            return Ok(false);
        };
        let existed = r.listed || profile.path().exists();
        self.cluster
            .delete(&address(profile), r.epoch)
            .await
            .map_err(|e| {
                ApiError::from(unavailable(
                    "NOT_DURABLE",
                    format!(
                        "cannot delete memory profile `{}` from the cluster: {e}; retry",
                        profile.name()
                    ),
                ))
            })?;
        memories
            .delete_profile(profile.name().as_str())
            .await
            .map_err(ApiError::from)?;
        Ok(existed)
    }

    /// `GET /memory` in cluster mode: every profile in the cluster's catalog, with the node
    /// that serves it (none while no node holds its lease) and, for those this node
    /// serves, how many memories they hold.
    pub(in crate::serve) async fn list(
        &self,
        memories: &memory::Memories,
    ) -> Result<Vec<Value>, ApiError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .cluster
                .agents(
                    Some(MEMORY_CLASS),
                    after.as_deref().map(|a| (MEMORY_CLASS, a)),
                    1000,
                )
                .await
                .map_err(|e| {
                    ApiError::from(unavailable(
                        e.code(),
                        format!("cannot list the cluster's memory profiles: {e}; retry"),
                    ))
                })?;
            let full = page.len() == 1000;
            after = page.last().map(|p| p.name.clone());
            for p in page {
                let mut listed = json!({ "name": p.name, "node": p.holder });
                if p.holder.as_deref() == Some(self.cluster.node_id())
                    && let Some(count) = self.count_here(memories, &p.name).await
                {
                    listed["memories"] = json!(count);
                }
                out.push(listed);
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// How many memories a profile this node serves holds (`None` if it stopped serving
    /// it, or cannot tell).
    async fn count_here(&self, memories: &memory::Memories, name: &str) -> Option<u64> {
        let profile = memories.profile(name).ok()?;
        let slot = self.slot(&profile);
        let replica = slot.lock().await;
        let r = replica.as_ref()?;
        if !self.cluster.holds(&address(&profile), r.epoch) {
            return None;
        }
        profile.count().await.ok()
    }
}

/// Rebuilds a profile's file from its durable copy (nothing at all when it has none).
fn rebuild(path: &Path, image: &[u8], segments: &[Vec<u8>]) -> Result<(), String> {
    if image.is_empty() && segments.is_empty() {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("{}: {e}", Path::new(&file).display())),
            }
        }
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    store::rebuild(path, image, segments).map_err(|e| e.to_string())
}

impl Placement for ClusterMemory {
    fn run<'a>(
        &'a self,
        profile: &'a Profile,
        operation: &'static str,
        args: Value,
        here: Here<'a>,
    ) -> Placed<'a> {
        Box::pin(async move {
            let slot = self.slot(profile);
            let mut replica = slot.lock().await;
            if let Some(advertise) = self.acquire(profile, &mut replica).await? {
                drop(replica);
                let url = format!("http://{advertise}{}", Self::path(profile, Some(operation)));
                let (status, body) = self
                    .forward(&advertise, profile, self.client.post(url).json(&args))
                    .await?;
                return if status.is_success() {
                    Ok(body)
                } else {
                    Err(node_error(
                        status,
                        &body,
                        "the node that serves the profile failed the call",
                    ))
                };
            }
            let result = here.await;
            // Shipped whether or not the operation failed: an error after a commit must not
            // leave the commit undurable.
            let fold = matches!(operation, "forget" | "forgetSession");
            self.ship(profile, &mut replica, fold).await?;
            result
        })
    }
}
