//! What operators poll: `GET /healthz` (alive), `GET /readyz` (able to serve) and
//! `GET /metrics` (Prometheus text format), plus the per-request span and counters every
//! route goes through.
//!
//! The registry is hand-written and small: counters and fixed-bucket histograms whose
//! labels come from closed sets (route templates, methods, status classes, memory
//! operations), so a client cannot create series by sending odd paths. Totals kept by the
//! libraries (the sandbox's executions, the host's turns) are read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use agents::AgentHost;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sandbox::Bindings;
use serde_json::json;
use tracing::Instrument as _;

/// Upper bounds of histogram buckets, in seconds: sub-millisecond isolate work up to
/// model-bound calls.
/// The model-call histograms the `llm` crate keeps use the same bounds.
const BUCKETS: [f64; 12] = llm::stats::LATENCY_BUCKETS;

/// File the readiness check writes (and removes) in the data directory.
pub(crate) const READY_PROBE_FILE: &str = ".ready-probe";

#[derive(Debug, Default, Clone)]
struct Histogram {
    /// Observations at or under each bound of [`BUCKETS`] (not cumulative; summed when
    /// rendered).
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.buckets[i] += 1;
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Series {
    /// (route template, method, status class) → requests.
    http: BTreeMap<(String, &'static str, &'static str), u64>,
    http_seconds: BTreeMap<String, Histogram>,
    /// (operation, ok|error) → calls.
    memory: BTreeMap<(String, &'static str), u64>,
    memory_seconds: BTreeMap<String, Histogram>,
    /// (Code Mode tool at /mcp: search|execute, ok|error) → calls.
    code_mode: BTreeMap<(&'static str, &'static str), u64>,
    code_mode_seconds: BTreeMap<&'static str, Histogram>,
}

/// The series islet keeps itself (the libraries keep their own totals). Cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Registry(Arc<Mutex<Series>>);

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Series> {
        // Plain numbers: a panic elsewhere cannot leave them half-updated.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `bindings` (the `memory.*` namespace) with every function counted and timed; the
    /// operation names are the binding's own, a closed set.
    pub(crate) fn instrument_memory(&self, bindings: &Bindings) -> Bindings {
        let mut counted = Bindings::new();
        for (namespace, name, f) in bindings.iter() {
            let f = Arc::clone(f);
            let registry = self.clone();
            let operation = name.to_owned();
            counted.insert(
                namespace,
                name,
                Arc::new(move |input| {
                    let f = Arc::clone(&f);
                    let registry = registry.clone();
                    let operation = operation.clone();
                    Box::pin(async move {
                        let started = Instant::now();
                        let result = f(input).await;
                        let outcome = if result.is_ok() { "ok" } else { "error" };
                        let mut series = registry.lock();
                        *series
                            .memory
                            .entry((operation.clone(), outcome))
                            .or_default() += 1;
                        series
                            .memory_seconds
                            .entry(operation)
                            .or_default()
                            .observe(started.elapsed().as_secs_f64());
                        result
                    })
                }),
            );
        }
        counted
    }
}

impl Registry {
    /// Counts and times /mcp's `search` and `execute` calls.
    pub(crate) fn code_mode_observer(&self) -> codemode::mcp::CallObserver {
        let registry = self.clone();
        codemode::mcp::CallObserver(Arc::new(move |tool, elapsed, ok| {
            // The tool names are the server's two: a closed label set.
            let tool = match tool {
                "search" => "search",
                _ => "execute",
            };
            let mut series = registry.lock();
            *series
                .code_mode
                .entry((tool, if ok { "ok" } else { "error" }))
                .or_default() += 1;
            series
                .code_mode_seconds
                .entry(tool)
                .or_default()
                .observe(elapsed.as_secs_f64());
        }))
    }
}

/// The server's metrics: islet's own series and the host's (and its sandbox's) totals.
/// Cheap to clone, shared by every request.
#[derive(Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    host: AgentHost,
    /// Cluster mode: this node's replication and routing totals.
    cluster: Option<cluster::Cluster>,
    /// The chat agents' loop: its turns, steps and tool calls.
    harness: Option<think::Harness>,
}

impl Metrics {
    pub(crate) fn new(registry: Registry, host: AgentHost) -> Self {
        Self {
            registry,
            host,
            cluster: None,
            harness: None,
        }
    }

    /// Adds the chat agents' series (`islet_think_*`).
    pub(crate) fn with_harness(mut self, harness: think::Harness) -> Self {
        self.harness = Some(harness);
        self
    }

    /// Adds cluster mode's series (`islet_cluster_*`).
    pub(crate) fn with_cluster(mut self, cluster: Option<cluster::Cluster>) -> Self {
        self.cluster = cluster;
        self
    }

    fn registry(&self) -> MutexGuard<'_, Series> {
        self.registry.lock()
    }

    pub(crate) fn instrument_memory(&self, bindings: &Bindings) -> Bindings {
        self.registry.instrument_memory(bindings)
    }

    pub(crate) fn code_mode_observer(&self) -> codemode::mcp::CallObserver {
        self.registry.code_mode_observer()
    }

    fn observe_http(&self, route: String, method: &Method, status: StatusCode, elapsed: Duration) {
        let class = match status.as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let mut registry = self.registry();
        *registry
            .http
            .entry((route.clone(), method_label(method), class))
            .or_default() += 1;
        registry
            .http_seconds
            .entry(route)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Everything in Prometheus text exposition format 0.0.4.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        {
            let registry = self.registry();
            family(
                &mut out,
                "islet_http_requests_total",
                "counter",
                "HTTP requests by route template, method and status class.",
            );
            for ((route, method, class), n) in &registry.http {
                let _ = writeln!(
                    out,
                    "islet_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{class}\"}} {n}",
                    escape(route)
                );
            }
            family(
                &mut out,
                "islet_http_request_duration_seconds",
                "histogram",
                "Time to the response's headers, by route template.",
            );
            for (route, h) in &registry.http_seconds {
                h.render(
                    &mut out,
                    "islet_http_request_duration_seconds",
                    &format!("route=\"{}\"", escape(route)),
                );
            }
            family(
                &mut out,
                "islet_memory_operations_total",
                "counter",
                "Memory operations (recall, remember, ingest, ...) from agents, /mcp code and HTTP.",
            );
            for ((operation, outcome), n) in &registry.memory {
                let _ = writeln!(
                    out,
                    "islet_memory_operations_total{{operation=\"{}\",outcome=\"{outcome}\"}} {n}",
                    escape(operation)
                );
            }
            family(
                &mut out,
                "islet_memory_operation_duration_seconds",
                "histogram",
                "Latency of memory operations (operation=\"recall\" is search latency).",
            );
            for (operation, h) in &registry.memory_seconds {
                h.render(
                    &mut out,
                    "islet_memory_operation_duration_seconds",
                    &format!("operation=\"{}\"", escape(operation)),
                );
            }
        }
        {
            let registry = self.registry();
            family(
                &mut out,
                "islet_codemode_calls_total",
                "counter",
                "Code Mode calls at /mcp by tool (search, execute) and outcome (error: an error result).",
            );
            for ((tool, outcome), n) in &registry.code_mode {
                let _ = writeln!(
                    out,
                    "islet_codemode_calls_total{{tool=\"{tool}\",outcome=\"{outcome}\"}} {n}"
                );
            }
            family(
                &mut out,
                "islet_codemode_call_duration_seconds",
                "histogram",
                "Latency of Code Mode calls at /mcp (tool=\"search\" is search latency).",
            );
            for (tool, h) in &registry.code_mode_seconds {
                h.render(
                    &mut out,
                    "islet_codemode_call_duration_seconds",
                    &format!("tool=\"{tool}\""),
                );
            }
        }
        let sandbox = self.host.sandbox().stats();
        let ok = sandbox.executions.saturating_sub(sandbox.failed);
        family(
            &mut out,
            "islet_executions_total",
            "counter",
            "Isolate executions (agent turns and /mcp code) by outcome.",
        );
        let _ = writeln!(out, "islet_executions_total{{outcome=\"ok\"}} {ok}");
        let _ = writeln!(
            out,
            "islet_executions_total{{outcome=\"error\"}} {}",
            sandbox.failed
        );
        family(
            &mut out,
            "islet_limit_hits_total",
            "counter",
            "Executions ended by a limit, by kind.",
        );
        for (limit, n) in &sandbox.limit_hits {
            let _ = writeln!(out, "islet_limit_hits_total{{kind=\"{limit}\"}} {n}");
        }
        simple(
            &mut out,
            "islet_host_calls_total",
            "counter",
            "Host function calls made by isolate code.",
            sandbox.host_calls as f64,
        );
        simple(
            &mut out,
            "islet_execution_cpu_seconds_total",
            "counter",
            "JavaScript CPU time of all executions.",
            sandbox.cpu_us as f64 / 1e6,
        );
        simple(
            &mut out,
            "islet_execution_wall_seconds_total",
            "counter",
            "Wall time of all executions.",
            sandbox.wall_us as f64 / 1e6,
        );
        simple(
            &mut out,
            "islet_worker_restarts_total",
            "counter",
            "Isolate worker processes started to replace one that died or was killed.",
            sandbox.worker_restarts as f64,
        );
        simple(
            &mut out,
            "islet_workers",
            "gauge",
            "Live isolate worker processes (0 with --isolation inprocess).",
            self.host.sandbox().worker_pids().len() as f64,
        );
        let agents = self.host.stats();
        family(
            &mut out,
            "islet_agent_turns_total",
            "counter",
            "Agent turns by kind: RPC calls, onRequest, scheduled callbacks.",
        );
        for (kind, n) in [
            ("call", agents.calls),
            ("request", agents.requests),
            ("schedule", agents.schedules),
        ] {
            let _ = writeln!(out, "islet_agent_turns_total{{kind=\"{kind}\"}} {n}");
        }
        simple(
            &mut out,
            "islet_agent_turn_failures_total",
            "counter",
            "Agent turns that failed (and were rolled back).",
            agents.failed_turns as f64,
        );
        simple(
            &mut out,
            "islet_agent_activations_total",
            "counter",
            "Agents woken from hibernation (or started for the first time).",
            agents.activations as f64,
        );
        simple(
            &mut out,
            "islet_agent_hibernations_total",
            "counter",
            "Agents put to sleep after --idle-timeout without messages.",
            agents.hibernations as f64,
        );
        simple(
            &mut out,
            "islet_agents_active",
            "gauge",
            "Agents active now.",
            agents.active as f64,
        );
        if let Some(cluster) = &self.cluster {
            render_cluster(&mut out, cluster.stats());
        }
        if let Some(harness) = &self.harness {
            let stats = harness.stats();
            for (name, help, value) in [
                (
                    "islet_think_turns_total",
                    "Chat turns of Think agents (resumed ones included).",
                    stats.turns,
                ),
                (
                    "islet_think_steps_total",
                    "Steps of those turns: one model inference each, with its tool calls.",
                    stats.steps,
                ),
                (
                    "islet_think_tool_calls_total",
                    "Tool calls the model made in those turns.",
                    stats.tool_calls,
                ),
            ] {
                simple(&mut out, name, "counter", help, value as f64);
            }
        }
        render_models(&mut out);
        out
    }
}

/// Cluster mode's totals (issue 21).
fn render_cluster(out: &mut String, stats: cluster::ClusterStats) {
    let series: [(&str, &str, &str, u64); 7] = [
        (
            "islet_cluster_appends_total",
            "counter",
            "Log segments (turns' WAL frames) appended to the durable copy.",
            stats.appends,
        ),
        (
            "islet_cluster_append_bytes_total",
            "counter",
            "Bytes of those segments.",
            stats.append_bytes,
        ),
        (
            "islet_cluster_fenced_total",
            "counter",
            "Durable writes refused because this node's lease was no longer current.",
            stats.fenced,
        ),
        (
            "islet_cluster_claims_total",
            "counter",
            "Leases claimed with a new epoch.",
            stats.claims,
        ),
        (
            "islet_cluster_restores_total",
            "counter",
            "Agents rebuilt from their durable copy (failovers and moves).",
            stats.restores,
        ),
        (
            "islet_cluster_forwarded_total",
            "counter",
            "Requests forwarded to the node holding the agent.",
            stats.forwarded,
        ),
        (
            "islet_cluster_leases_held",
            "gauge",
            "Leases this node holds.",
            stats.held,
        ),
    ];
    for (name, kind, help, value) in series {
        simple(out, name, kind, help, value as f64);
    }
}

/// Model calls per provider (a closed set: openai, anthropic), from `llm::stats`.
fn render_models(out: &mut String) {
    let stats = llm::stats::stats();
    family(
        out,
        "islet_model_calls_total",
        "counter",
        "Model calls whose answer streamed to its end (ok), or that failed before or while streaming (error: refused, unreachable after retries, broken off), by provider.",
    );
    for (provider, s) in &stats {
        for (outcome, n) in [("ok", s.calls_ok), ("error", s.calls_failed)] {
            let _ = writeln!(
                out,
                "islet_model_calls_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {n}"
            );
        }
    }
    family(
        out,
        "islet_model_call_duration_seconds",
        "histogram",
        "Model call latency, from the request (retries included) to the answer's last event.",
    );
    for (provider, s) in &stats {
        Histogram {
            buckets: s.latency_buckets,
            count: s.calls_ok + s.calls_failed,
            sum: s.latency_seconds_sum,
        }
        .render(
            out,
            "islet_model_call_duration_seconds",
            &format!("provider=\"{provider}\""),
        );
    }
    family(
        out,
        "islet_model_tokens_total",
        "counter",
        "Tokens the model servers reported, by provider and direction (input, output).",
    );
    for (provider, s) in &stats {
        for (direction, n) in [("input", s.input_tokens), ("output", s.output_tokens)] {
            let _ = writeln!(
                out,
                "islet_model_tokens_total{{provider=\"{provider}\",direction=\"{direction}\"}} {n}"
            );
        }
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn simple(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Methods outside the standard set share one label, so they add no series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware on every route: a span per request (its close carries the duration) and the
/// HTTP counters. The route is the template (`/agents/:class/:name/:method`), never the
/// path itself.
pub(crate) async fn track(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        // The MCP endpoint is a nested service; everything under it is one route.
        Some(path) if path.as_str().starts_with("/mcp") => "/mcp".to_owned(),
        // `:name` rather than axum's `{name}`: braces in label values trip simple parsers.
        Some(path) => path
            .as_str()
            .replace("{*", "*")
            .replace('{', ":")
            .replace('}', ""),
        None => "unmatched".to_owned(),
    };
    let method = request.method().clone();
    let span = tracing::info_span!(
        "http_request",
        method = %method,
        route = %route,
        status = tracing::field::Empty,
    );
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    span.record("status", response.status().as_u16());
    metrics.observe_http(route, &method, response.status(), elapsed);
    response
}

pub(crate) async fn metrics(State(metrics): State<Metrics>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

/// `GET /healthz`: the process answers. Says nothing else.
pub(crate) async fn healthz() -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], "ok\n").into_response()
}

/// What `/readyz` checks.
#[derive(Clone)]
pub(crate) struct Readiness {
    pub host: AgentHost,
    pub data: PathBuf,
    /// The default model's host, when `--model` is given.
    pub model: Option<ModelProbe>,
    /// The cluster (with `--cluster`): its PostgreSQL and this node's heartbeats.
    pub cluster: Option<Arc<super::cluster::Router>>,
}

/// How long a model probe's answer is reused: a load balancer polling `/readyz` every
/// second must not become a connection storm on the model server.
const MODEL_PROBE_TTL: Duration = Duration::from_secs(10);
const MODEL_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `/readyz`'s model check: a TCP connect to the default model's host and port (cheap, no
/// tokens spent, no key sent), cached for [`MODEL_PROBE_TTL`].
#[derive(Clone)]
pub(crate) struct ModelProbe {
    /// `host:port`.
    addr: String,
    last: Arc<tokio::sync::Mutex<Option<ProbeAnswer>>>,
}

/// When a probe ran and what it found.
type ProbeAnswer = (Instant, Result<(), String>);

impl ModelProbe {
    /// The probe of the model served at `base_url`; `None` when the URL names no host.
    pub(crate) fn new(base_url: &str) -> Option<Self> {
        let url = reqwest::Url::parse(base_url).ok()?;
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        // An IPv6 literal keeps its brackets in host_str, which is what connect expects.
        Some(Self {
            addr: format!("{host}:{port}"),
            last: Arc::default(),
        })
    }

    async fn check(&self) -> Result<(), String> {
        // Held across the connect: concurrent probes wait for one answer instead of
        // each connecting.
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref()
            && at.elapsed() < MODEL_PROBE_TTL
        {
            return result.clone();
        }
        let result = match tokio::time::timeout(
            MODEL_PROBE_TIMEOUT,
            tokio::net::TcpStream::connect(&self.addr),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("cannot connect to the model at {}: {e}", self.addr)),
            Err(_) => Err(format!(
                "the model at {} did not accept a connection within {MODEL_PROBE_TIMEOUT:?}",
                self.addr
            )),
        };
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

/// `GET /readyz`: 200 when an isolate can run code, the data directory takes writes,
/// (with `--model`) the model's host accepts connections and (with `--cluster`) PostgreSQL
/// answers and this node's heartbeats keep up; 503 naming the failed checks otherwise.
/// Reasons go to the log, not to the (anonymous) caller.
pub(crate) async fn readyz(State(ready): State<Readiness>) -> Response {
    let workers = ready.host.sandbox().probe(Duration::from_secs(5)).await;
    let probe = ready.data.join(READY_PROBE_FILE);
    let data_dir = tokio::task::spawn_blocking(move || write_probe(&probe))
        .await
        .unwrap_or_else(|e| Err(format!("the check itself failed: {e}")));
    let mut results = vec![("workers", workers), ("data_dir", data_dir)];
    if let Some(model) = &ready.model {
        results.push(("model", model.check().await));
    }
    if let Some(cluster) = &ready.cluster {
        results.push(("postgres", cluster.ready().await));
    }
    let mut checks = serde_json::Map::new();
    let mut failed = Vec::new();
    for (name, result) in results {
        match result {
            Ok(()) => {
                checks.insert(name.to_owned(), json!("ok"));
            }
            Err(reason) => {
                tracing::warn!(check = name, %reason, "not ready");
                checks.insert(name.to_owned(), json!("failed"));
                failed.push(name);
            }
        }
    }
    let (status, body) = if failed.is_empty() {
        (StatusCode::OK, json!({"status": "ready", "checks": checks}))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unready", "failed": failed, "checks": checks}),
        )
    };
    super::api::json_response(status, &body)
}

/// Writes, syncs and removes a small file: the data directory takes writes. A read-only
/// mount, a full disk or lost permissions all fail here before they fail an agent's commit.
fn write_probe(path: &std::path::Path) -> Result<(), String> {
    use std::io::Write as _;
    let written = std::fs::File::create(path)
        .and_then(|mut f| {
            f.write_all(b"islet readiness probe\n")?;
            f.sync_all()
        })
        .map_err(|e| format!("cannot write {}: {e}", path.display()));
    let _ = std::fs::remove_file(path);
    written
}
