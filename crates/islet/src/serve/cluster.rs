//! Cluster mode of `islet serve` (issue 21): the flags, joining the cluster, and routing:
//! any node accepts any `/agents/<class>/<name>/…` request and forwards it, unchanged and
//! with the client's own bearer token (every node runs with the same `--auth-token`), to
//! the node holding the agent's lease; a request no live node holds is served here (the
//! agent host claims the agent on activation). A forwarded request carries
//! `x-islet-forwarded` and is never forwarded again: if ownership moved meanwhile, the
//! receiving node answers `503 NOT_OWNER` and the client retries.

use std::sync::Arc;
use std::time::Duration;

use agents::Address;
use anyhow::Context as _;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cluster::{Cluster, ClusterConfig, Owner};

use super::api::ApiError;

mod memory;

pub(crate) use memory::ClusterMemory;

/// The header a forwarded request carries (the forwarding node's id).
pub(crate) const FORWARDED: HeaderName = HeaderName::from_static("x-islet-forwarded");

/// `islet serve --cluster …`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ClusterArgs {
    /// Run as one node of a cluster whose agents, leases and durable copies live in this
    /// PostgreSQL database (postgres://USER:PASSWORD@HOST:PORT/DB; add
    /// ?sslmode=require[&sslrootcert=CA.pem] for TLS with the server verified). Every node
    /// needs the same --auth-token, its own --node-id and --advertise, and its own --data.
    #[arg(
        long = "cluster",
        value_name = "URL",
        env = "ISLET_CLUSTER",
        hide_env_values = true,
        help_heading = "Cluster"
    )]
    pub(crate) url: Option<String>,
    /// This node's id in the cluster (unique, kept across restarts).
    #[arg(long, value_name = "ID", help_heading = "Cluster")]
    pub(crate) node_id: Option<String>,
    /// HOST:PORT where the other nodes reach this node's HTTP listener.
    #[arg(long, value_name = "HOST:PORT", help_heading = "Cluster")]
    pub(crate) advertise: Option<String>,
    /// Seconds a node's leases outlive its last heartbeat: how long its agents are
    /// unavailable after it dies (heartbeats come every third of it).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10.0,
        help_heading = "Cluster"
    )]
    pub(crate) lease_ttl: f64,
}

impl ClusterArgs {
    /// Joins the cluster when `--cluster` is given.
    pub(crate) async fn join(&self) -> anyhow::Result<Option<Cluster>> {
        let Some(url) = &self.url else {
            anyhow::ensure!(
                self.node_id.is_none() && self.advertise.is_none(),
                "--node-id and --advertise are for cluster mode: add --cluster postgres://…"
            );
            return Ok(None);
        };
        let node_id = self
            .node_id
            .clone()
            .context("--cluster needs --node-id ID (unique per node)")?;
        let advertise = self
            .advertise
            .clone()
            .context("--cluster needs --advertise HOST:PORT (where other nodes reach this one)")?;
        anyhow::ensure!(
            self.lease_ttl.is_finite() && self.lease_ttl > 0.0,
            "--lease-ttl must be a positive number of seconds"
        );
        let cluster = Cluster::join(ClusterConfig {
            url: url.clone(),
            node_id,
            advertise,
            lease_ttl: Duration::from_secs_f64(self.lease_ttl),
            connections: 4,
        })
        .await
        .context("--cluster: cannot join the cluster")?;
        Ok(Some(cluster))
    }
}

/// Forwards requests for agents another node holds.
#[derive(Clone)]
pub(crate) struct Router {
    cluster: Cluster,
    client: reqwest::Client,
    max_body_bytes: usize,
    /// Where memory profiles are served (`GET`/`DELETE /memory` go through it).
    pub(super) memory: Option<Arc<ClusterMemory>>,
}

impl Router {
    /// `/readyz`'s check: PostgreSQL answers and this node's heartbeats keep up.
    pub(crate) async fn ready(&self) -> Result<(), String> {
        match tokio::time::timeout(Duration::from_secs(2), self.cluster.ping()).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("the cluster's PostgreSQL did not answer within 2 s".to_owned()),
        }
    }

    /// `GET /agents` in cluster mode: the cluster's catalog, with the node holding each
    /// agent, so every node lists the same agents.
    pub(super) async fn agents(
        &self,
        class: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<cluster::CatalogAgent>, ApiError> {
        self.cluster.agents(class, after, limit).await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.code(),
                format!("cannot list the cluster's agents: {e}; retry"),
            )
        })
    }

    /// `GET /executions` of every other live node, with the query `query` and the
    /// client's `authorization`: their records, each with its `node`, and the nodes that
    /// did not answer. Each node keeps its own executions (a ring in memory).
    pub(super) async fn executions_elsewhere(
        &self,
        query: &str,
        authorization: Option<&axum::http::HeaderValue>,
    ) -> Result<(Vec<serde_json::Value>, Vec<String>), ApiError> {
        let nodes = self.cluster.other_live_nodes().await.map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                e.code(),
                format!("cannot list the cluster's nodes: {e}; retry"),
            )
        })?;
        let asked = nodes.iter().map(|(node, advertise)| async move {
            let mut request = self
                .client
                .get(format!("http://{advertise}/executions?{query}"))
                .header(&FORWARDED, self.cluster.node_id())
                .timeout(Duration::from_secs(5));
            if let Some(auth) = authorization {
                request = request.header(axum::http::header::AUTHORIZATION, auth);
            }
            let answer = async {
                let response = request.send().await.ok()?.error_for_status().ok()?;
                let body: serde_json::Value = response.json().await.ok()?;
                body["executions"].as_array().cloned()
            };
            (node.clone(), answer.await)
        });
        let mut records = Vec::new();
        let mut silent = Vec::new();
        for (node, answer) in futures::future::join_all(asked).await {
            match answer {
                Some(list) => records.extend(list.into_iter().map(|mut record| {
                    record["node"] = serde_json::Value::String(node.clone());
                    record
                })),
                None => silent.push(node),
            }
        }
        Ok((records, silent))
    }

    /// This node's id.
    pub(crate) fn node_id(&self) -> &str {
        self.cluster.node_id()
    }

    pub(crate) fn new(
        cluster: Cluster,
        max_body_bytes: usize,
        memory: Option<Arc<ClusterMemory>>,
    ) -> anyhow::Result<Router> {
        Ok(Router {
            cluster,
            client: node_client()?,
            max_body_bytes,
            memory,
        })
    }
}

/// The HTTP client one node reaches another with: never through a proxy from the
/// environment.
fn node_client() -> anyhow::Result<reqwest::Client> {
    codemode::egress::tls::client_builder()
        .map_err(|e| anyhow::anyhow!("cannot build the cluster's HTTP client: {e}"))?
        .no_proxy()
        .build()
        .context("cannot build the cluster's HTTP client")
}

/// The agent a path is about: `/agents/<class>/<name>[/…]` (a sub-agent's requests go
/// with their top-level agent).
fn agent_of(path: &str) -> Option<Address> {
    let rest = path.strip_prefix("/agents/")?;
    let mut parts = rest.split('/');
    let class = parts.next().filter(|c| !c.is_empty())?;
    let name = parts.next().filter(|n| !n.is_empty())?;
    let name = percent_encoding::percent_decode_str(name)
        .decode_utf8()
        .ok()?;
    Some(Address::new(class, name))
}

/// The routing middleware (inside the bearer check: only authenticated requests are
/// forwarded).
pub(crate) async fn route(
    State(router): State<Option<Arc<Router>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(router) = router else {
        return next.run(request).await;
    };
    if request.headers().contains_key(&FORWARDED) {
        return next.run(request).await;
    }
    let Some(agent) = agent_of(request.uri().path()) else {
        return next.run(request).await;
    };
    match router.cluster.owner(&agent).await {
        Ok(Owner::Here) => next.run(request).await,
        Ok(Owner::Node { node, advertise }) => {
            let response = forward(&router, request, &agent, &node, &advertise)
                .await
                .unwrap_or_else(IntoResponse::into_response);
            // Unreachable, or no longer the owner: ask the database next time.
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                router.cluster.forget_owner(&agent);
            }
            response
        }
        Err(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            e.code(),
            format!("cannot find which node serves {agent}: {e}; retry"),
        )
        .into_response(),
    }
}

async fn forward(
    router: &Router,
    request: Request,
    agent: &Address,
    node: &str,
    advertise: &str,
) -> Result<Response, ApiError> {
    let unreachable = |detail: String| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_OWNER",
            format!(
                "{agent} is served by node {node} ({advertise}), which did not answer \
                 ({detail}); if it died, another node takes the agent over when its lease \
                 runs out: retry"
            ),
        )
    };
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let url = format!("http://{advertise}{path}");
    let body = axum::body::to_bytes(body, router.max_body_bytes)
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
    let mut out = router
        .client
        .request(parts.method.clone(), &url)
        .body(body)
        .header(&FORWARDED, router.cluster.node_id());
    for (name, value) in &parts.headers {
        if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
            out = out.header(name, value);
        }
    }
    router.cluster.count_forwarded();
    let answer = out
        .send()
        .await
        .map_err(|e| unreachable(base::error_chain(&e)))?;
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        if name != axum::http::header::CONTENT_LENGTH
            && name != axum::http::header::TRANSFER_ENCODING
        {
            response = response.header(name, value);
        }
    }
    // Streamed through: server-sent events (state, chat) keep flowing.
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .map_err(|e| unreachable(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::agent_of;

    #[test]
    fn issue21_the_agent_of_a_path_is_its_top_level_agent_with_its_name_decoded() {
        let a = agent_of("/agents/Counter/a%20b/increment").expect("agent");
        assert_eq!((a.class.as_str(), a.name.as_str()), ("Counter", "a b"));
        let a = agent_of("/agents/Counter/x/sub/Child/y/call").expect("agent");
        assert_eq!((a.class.as_str(), a.name.as_str()), ("Counter", "x"));
        assert!(agent_of("/agents").is_none());
        assert!(agent_of("/agents/Counter").is_none());
        assert!(agent_of("/memory/a/b/recall").is_none());
    }
}

/// Makes calls of agents another node holds on that node, over its HTTP API with this
/// node's token (every node runs with the same `--auth-token`): calls an agent, a schedule
/// or Code Mode on this node makes ([`agents::Forwarder`]).
#[derive(Debug)]
pub(crate) struct NodeForwarder {
    client: reqwest::Client,
    token: String,
    node_id: String,
}

impl NodeForwarder {
    pub(crate) fn new(cluster: &Cluster, token: String) -> anyhow::Result<NodeForwarder> {
        Ok(NodeForwarder {
            client: node_client()?,
            token,
            node_id: cluster.node_id().to_owned(),
        })
    }
}

/// The HTTP path of `agent` (`/agents/<P>/<p>/sub/<C>/<c>…` for a sub-agent).
fn agent_path(agent: &Address) -> String {
    let mut levels = vec![agent.clone()];
    while let Some(parent) = levels.last().and_then(Address::parent) {
        levels.push(parent);
    }
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut path = String::from("/agents");
    for (i, level) in levels.iter().rev().enumerate() {
        if i > 0 {
            path.push_str("/sub");
        }
        path.push('/');
        path.push_str(&encode(&level.class));
        path.push('/');
        path.push_str(&encode(level.local_name()));
    }
    path
}

impl agents::Forwarder for NodeForwarder {
    fn call<'a>(
        &'a self,
        advertise: &'a str,
        agent: &'a Address,
        method: &'a str,
        args: Vec<serde_json::Value>,
    ) -> agents::DurableFuture<'a, serde_json::Value> {
        Box::pin(async move {
            let url = format!("http://{advertise}{}/{method}", agent_path(agent));
            let unreachable = |detail: String| {
                agents::Error::Host(Box::new(
                    sandbox::HostError::new(
                        "NOT_OWNER",
                        format!(
                            "{agent} is served by the node at {advertise}, which did not answer \
                             ({detail}); if it died, another node takes the agent over when its \
                             lease runs out: retry"
                        ),
                    )
                    .with_kind(base::ErrorKind::Unavailable),
                ))
            };
            let response = self
                .client
                .post(&url)
                .bearer_auth(&self.token)
                .header(&FORWARDED, &self.node_id)
                .json(&args)
                .send()
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status();
            let body: serde_json::Value = response
                .json()
                .await
                .map_err(|e| unreachable(format!("an unreadable answer: {e}")))?;
            if status.is_success() {
                return Ok(body["result"].clone());
            }
            Err(agents::Error::Host(Box::new(node_error(
                status,
                &body,
                "the node that holds the agent failed the call",
            ))))
        })
    }
}

/// The error another node answered a call with (`{"error": {code, message}}`), with the
/// kind its status says, so that it reaches the caller as if the call had failed here.
fn node_error(status: StatusCode, body: &serde_json::Value, fallback: &str) -> sandbox::HostError {
    let code = body["error"]["code"].as_str().unwrap_or("UPSTREAM");
    let message = body["error"]["message"].as_str().unwrap_or(fallback);
    let kind = match status.as_u16() {
        400 | 422 => base::ErrorKind::Invalid,
        404 => base::ErrorKind::NotFound,
        409 => base::ErrorKind::Conflict,
        413 => base::ErrorKind::TooLarge,
        429 | 503 => base::ErrorKind::Unavailable,
        _ if code == "LIMIT" => base::ErrorKind::Limit,
        _ => base::ErrorKind::CodeFailed,
    };
    sandbox::HostError::new(code, message).with_kind(kind)
}
