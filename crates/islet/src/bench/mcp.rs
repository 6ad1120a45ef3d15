//! `islet bench mcp`: `execute` over MCP streamable HTTP, end to end, against a loopback API.
//!
//! Everything a client pays is in the figure: JSON-RPC over HTTP, the server's dispatch, a
//! fresh isolate, three sequential API calls over loopback HTTP, and the reply.

use super::{machine, percentile};
use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use codemode::execute::{HttpApi, HttpApiConfig, bindings};
use codemode::mcp::{CodeModeServer, HttpOptions, ServerOptions, serve_http};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub(crate) struct McpArgs {
    /// `execute` calls timed (the median is reported).
    #[arg(long, default_value_t = 500)]
    samples: usize,
}

/// The model's program: three dependent API calls, as a chained workflow makes them.
const CODE: &str = "async () => {
  const a = await api.items.getItem({ id: 1 });
  const b = await api.items.getItem({ id: a.next });
  const c = await api.items.getItem({ id: b.next });
  return [a.name, b.name, c.name];
}";

/// An OpenAPI description of the loopback API.
fn spec(base_url: &str) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Loopback items", "version": "1" },
        "servers": [{ "url": base_url }],
        "paths": { "/items/{id}": { "get": {
            "operationId": "getItem", "tags": ["items"], "summary": "Get an item",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
            "responses": { "200": { "description": "the item", "content": { "application/json": {
                "schema": { "type": "object", "properties": {
                    "id": { "type": "integer" }, "name": { "type": "string" }, "next": { "type": "integer" }
                } }
            } } } }
        } } }
    })
}

pub(super) async fn mcp(args: McpArgs) -> anyhow::Result<Value> {
    let machine = machine();
    eprintln!("measuring on {machine}");

    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_url = format!("http://{}", api.local_addr()?);
    let app = Router::new().route(
        "/items/{id}",
        get(|Path(id): Path<u64>| async move {
            let item = json!({ "id": id, "name": format!("item {id}"), "next": id + 1 });
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                item.to_string(),
            )
        }),
    );
    let api = api.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(api, app).await });

    let spec = codemode::openapi::parse(spec(&api_url).to_string().as_bytes(), "bench.json")?;
    let catalog = codemode::openapi::catalog(&spec);
    let http = Arc::new(HttpApi::new(HttpApiConfig::new(api_url))?);
    let server = CodeModeServer::new(
        catalog.clone(),
        bindings(&catalog, http),
        Some(Arc::new(spec)),
        ServerOptions::default(),
    )?;
    let (bound_tx, bound) = tokio::sync::oneshot::channel::<SocketAddr>();
    let options = HttpOptions {
        addr: "127.0.0.1:0".parse()?,
        auth_token: None,
    };
    tokio::spawn(serve_http(
        server,
        options,
        move |addr| {
            let _ = bound_tx.send(addr);
        },
        std::future::pending(),
    ));
    let endpoint = format!("http://{}/mcp", bound.await?);

    let client = Client::connect(&endpoint).await?;
    let call = json!({ "name": "execute", "arguments": { "code": CODE } });
    let expected = json!(["item 1", "item 2", "item 3"]);
    for _ in 0..20 {
        client.request("tools/call", call.clone()).await?;
    }
    eprintln!(
        "{} execute calls over MCP HTTP, 3 API calls each…",
        args.samples
    );
    let mut samples = Vec::with_capacity(args.samples);
    for _ in 0..args.samples {
        let t = Instant::now();
        let reply = client.request("tools/call", call.clone()).await?;
        samples.push(t.elapsed());
        let text = reply["content"][0]["text"].as_str().unwrap_or_default();
        let outcome: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        anyhow::ensure!(
            outcome["result"] == expected,
            "unexpected execute reply: {reply}"
        );
    }
    Ok(json!({
        "bench": "mcp",
        "machine": machine,
        "code": CODE,
        "execute_over_mcp_http_us": {
            "what": "tools/call execute over streamable HTTP on loopback: fresh isolate, 3 sequential API calls to a loopback HTTP server, reply (target p50 ≤ 2 ms)",
            "p50": percentile(&mut samples, 50.0),
            "p99": percentile(&mut samples, 99.0),
        },
    }))
}

/// A minimal streamable-HTTP MCP client: enough JSON-RPC to initialise and call tools.
struct Client {
    http: reqwest::Client,
    endpoint: String,
    session: Option<String>,
    protocol: String,
}

impl Client {
    async fn connect(endpoint: &str) -> anyhow::Result<Client> {
        let mut client = Client {
            http: codemode::egress::tls::client_builder()
                .map_err(anyhow::Error::msg)?
                .timeout(Duration::from_secs(30))
                .build()?,
            endpoint: endpoint.to_owned(),
            session: None,
            protocol: "2025-06-18".to_owned(),
        };
        let init = json!({
            "protocolVersion": client.protocol,
            "capabilities": {},
            "clientInfo": { "name": "islet-bench", "version": env!("CARGO_PKG_VERSION") },
        });
        let (result, session) = client
            .post(json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init
            }))
            .await?;
        client.session = session;
        if let Some(version) = result["protocolVersion"].as_str() {
            client.protocol = version.to_owned();
        }
        client
            .post(json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }))
            .await?;
        Ok(client)
    }

    async fn request(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let (result, _) = self
            .post(json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }))
            .await?;
        Ok(result)
    }

    /// POSTs one message; returns the response's `result` (null for notifications) and the
    /// session id the server assigned, if any.
    async fn post(&self, message: Value) -> anyhow::Result<(Value, Option<String>)> {
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", &self.protocol)
            .body(message.to_string());
        if let Some(session) = &self.session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.send().await?;
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        anyhow::ensure!(status.is_success(), "MCP server answered {status}: {body}");
        if message.get("id").is_none() {
            return Ok((Value::Null, session));
        }
        // The reply is either plain JSON or a server-sent event stream carrying it.
        let reply: Value = match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(_) => body
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .find(|v| v.get("id").is_some())
                .ok_or_else(|| anyhow::anyhow!("no JSON-RPC reply in: {body}"))?,
        };
        if let Some(error) = reply.get("error") {
            anyhow::bail!("MCP error: {error}");
        }
        Ok((reply["result"].clone(), session))
    }
}
