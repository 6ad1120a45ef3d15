//! `islet serve`: durable agents over HTTP, plus the Code Mode MCP endpoint at `/mcp`.
//!
//! `islet serve --help` lists the API for people, `GET /openapi.json` (`serve/openapi.json`)
//! for programs; a test checks that every documented route exists.
//!
//! Routes (every one but `/openapi.json`, `/healthz`, `/readyz` and the console's assets
//! requires `Authorization: Bearer <token>`):
//! - `GET  /`, `/console/*`: the web console (`serve/console.rs`), which asks for the token
//! - `GET  /agents[?class=C&after=C/NAME&limit=N]`: agents known to the data directory
//!   (`class`, `name`, `createdAt`, `active`: loaded now or hibernating)
//! - `POST /agents/{class}/{name}/{method}`: RPC; the body is a JSON array of arguments
//!   (empty body: none); the reply `{"result": …}` is sent after the call's writes commit
//! - `GET  /agents/{class}/{name}/state`: the agent's state as JSON;
//!   `GET …/state/events`: the state, then every change, as server-sent events
//! - `GET|PUT|DELETE /agents/{class}/{name}/workspace/{path}`: workspace files (a GET on a
//!   directory lists it; `DELETE ?recursive=true` removes a tree)
//! - `GET /agents/{class}/{name}/schedules`, `DELETE …/schedules/{id}`
//! - `/agents/{class}/{name}/request[/…]`: any method, handed to the agent's `onRequest`
//! - `DELETE /agents/{class}/{name}`, `…/sub[/{C}/{c}…]`: sub-agents (`serve/sub_agents.rs`)
//! - `/agents/{class}/{name}/extensions[/{extension}[/{action}]]`: extensions (`serve/extensions.rs`)
//! - `/mcp`: Code Mode (`search`, `execute`) whose code calls `agents.Class("name").method()`
//! - `GET /healthz`, `GET /readyz`, `GET /metrics`: for operators (`serve/ops.rs`)
//!
//! Translation point: `ApiError` is where Rust errors become HTTP responses; internal
//! details (storage failures) are logged, not sent.

mod agent_data;
mod api;
mod app;
pub(crate) mod cluster;
mod console;
mod executions;
mod extensions;
mod linux_sandbox;
pub(crate) mod ops;
pub(crate) mod routes;
mod sessions;
mod sub_agents;
mod tables;

/// `--extension-policy FILE`, checked: errors name the file.
fn read_extension_policy(path: &Path) -> anyhow::Result<agents::ExtensionPolicy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --extension-policy {}", path.display()))?;
    let policy: agents::ExtensionPolicy = serde_json::from_str(&text).with_context(|| {
        format!(
            "--extension-policy {}: expected {{\"network\": [hosts], \"allowPrivate\": bool, \
             \"workspace\": \"none|read|read-write\", \"memory\": \"none|read|write\"}}",
            path.display()
        )
    })?;
    policy
        .check()
        .map_err(|e| anyhow::anyhow!("--extension-policy {}: {e}", path.display()))?;
    Ok(policy)
}

/// Extensions' `fetch` (issue 16): an egress `Fetcher` allowing exactly the hosts of the
/// extension's manifest, one per host list, kept for the server's life. Public addresses
/// only unless the operator's policy says `allowPrivate` (a manifest is the model's or the
/// agent's word, not the operator's; with a policy, every host is one the operator named).
fn extension_fetch(allow_private: bool) -> agents::ExtensionFetch {
    use codemode::egress::{FetchPolicy, Fetcher, check_host_pattern};
    let made: std::sync::Mutex<std::collections::HashMap<Vec<String>, Arc<Fetcher>>> =
        std::sync::Mutex::default();
    Arc::new(move |hosts: &[String]| {
        let mut made = base::sync::lock(&made);
        let fetcher = match made.get(hosts) {
            Some(fetcher) => Arc::clone(fetcher),
            None => {
                let mut policy = FetchPolicy {
                    allow_private,
                    allow_private_hint: Some(
                        "extensions reach public addresses only unless --extension-policy says \
                         \"allowPrivate\": true"
                            .to_owned(),
                    ),
                    ..FetchPolicy::default()
                };
                for host in hosts {
                    check_host_pattern(host)?;
                    policy = policy.allow(host.clone());
                }
                let fetcher = Arc::new(Fetcher::new(policy).map_err(|e| e.to_string())?);
                made.insert(hosts.to_vec(), Arc::clone(&fetcher));
                fetcher
            }
        };
        let fetch: sandbox::HostFn = Arc::new(move |args| {
            let fetcher = Arc::clone(&fetcher);
            Box::pin(async move { fetcher.call(args).await })
        });
        Ok(fetch)
    })
}

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use agents::{AgentHost, Classes, HostConfig};
use anyhow::Context as _;
use sandbox::Limits;
use store::{DataDir, Env};

use crate::run::Isolation;

#[derive(clap::Args)]
#[command(after_help = "\
HTTP API (every route needs the header `Authorization: Bearer <token>`; errors are JSON:
{\"error\": {\"code\": …, \"message\": …}}). The same, machine-readable: GET /openapi.json
(OpenAPI 3.1, no token needed). A web console for people: open http://<listen>/ and paste
the token.
  POST   /agents/<class>/<name>/<method>    call a method; body: JSON array of arguments
                                            (empty: none); reply {\"result\": …}, sent after
                                            the call's writes commit. Errors an agent throws as
                                            HttpError(status, message) keep their 4xx status.
  GET    /agents[?class=C&after=C/NAME&limit=N]   agents in the data directory (paged)
  GET    /agents/<class>/<name>/state             the agent's state (JSON)
  GET    /agents/<class>/<name>/state/events      server-sent events: `state` now (null for an
                                                  agent not created yet), then each change
  GET    /agents/<class>/<name>/schedules         pending schedules
         {id, callback, payload, type, time (s since epoch), cron?}, as this.getSchedules()
  DELETE /agents/<class>/<name>/schedules/<id>    cancel one
  GET    /agents/<class>/<name>/workspace/<path>  a file's bytes, or a directory listing
  PUT    /agents/<class>/<name>/workspace/<path>  write a file (creates the agent)
  DELETE /agents/<class>/<name>/workspace/<path>[?recursive=true]
  ANY    /agents/<class>/<name>/request[/<path>]  handed to the agent's onRequest(request)
  DELETE /agents/<class>/<name>                   delete the agent and all its sub-agents
  GET    /agents/<class>/<name>/sub[?class=C]     its sub-agents (this.subAgent(Class, name))
  POST   /agents/<class>/<name>/sub/<C>/<c>/<method>   call a sub-agent (deeper:
                                            …/sub/<C>/<c>/sub/<D>/<d>/…); also GET …/state,
                                            GET …/sub, DELETE …/sub/<C>/<c>
  GET    /agents/<class>/<name>/extensions        its extensions (versions, permissions)
  GET    /agents/<class>/<name>/extensions/<ext>  every version of one, with its manifest
  POST   /agents/<class>/<name>/extensions        install: {name, source, description?,
                                            permissions?: {network, workspace, memory}}
  POST   /agents/<class>/<name>/extensions/<ext>/enable|disable|rollback|approve  ({version};
                                            approve: a version beyond --extension-policy)
  DELETE /agents/<class>/<name>/extensions/<ext>  delete it with every version
  POST   /agents/<class>/<name>/sandbox/exec      with --linux-sandbox, for classes with
                                                  `static sandbox`: {command, cwd?, env?,
                                                  timeout? (ms), stdin?} → {exitCode, stdout,
                                                  stderr}; also …/sandbox/run-code {language,
                                                  code}, …/sandbox/exec-stream (SSE),
                                                  …/sandbox/git-checkout {repoUrl},
                                                  GET|PUT …/sandbox/files/<path>, GET|POST
                                                  …/sandbox/processes, DELETE
                                                  …/sandbox/processes/<id>, GET …/<id>/logs
  GET    /agents/<class>/<name>/db/tables     its own SQL tables {name, columns, rows}
  GET    /agents/<class>/<name>/db/tables/<table>[?limit=N&offset=N]   a page of rows (read-only)
  GET    /agents/<class>/<name>/db/fibers[?limit=N]   its fibers (durable turns), newest first
  GET    /executions[?agent=C/NAME&outcome=ok|error|KIND&kind=execute|tool|turn|call&limit=N]
                                            recent executions (the last 500, in memory): /mcp
                                            code, Think tool calls and turns, method calls
  GET    /memory                                  memory profiles
  POST   /memory/<namespace>/<profile>/<op>       ingest, remember, recall, list, get, forget
  DELETE /memory/<namespace>/<profile>            delete a profile
  POST   /agents/<class>/<name>/chat          chat with a Think agent: body {messages:[{role:\"user\",
                                            parts:[{type:\"text\",text}]}], sessionId?, parentId?} (what the
                                            AI SDK's useChat sends; parentId: answer under that
                                            message, a branch); the turn streams back as the AI
                                            SDK's UI message stream (server-sent events)
  POST   /agents/<class>/<name>/chat/cancel   body {sessionId}: stop the session's turn (the
                                            stream ends with an `abort` chunk; a client that
                                            disconnects does not cancel)
  GET    /agents/<class>/<name>/sessions[?limit=N&cursor=C]   the agent's chat sessions
  GET    /agents/<class>/<name>/sessions/<id>/context   what the next step would send the model
                                            (system prompt, tools, messages, estimated tokens)
  GET    /agents/<class>/<name>/sessions/search?q=WORDS[&limit=N]   search every session
  GET    /agents/<class>/<name>/sessions/<id>     a session (usage included), its history and
                                            compactions
  PATCH  /agents/<class>/<name>/sessions/<id>     rename: {title}
  DELETE /agents/<class>/<name>/sessions/<id>     delete it (forks stay)
  GET    /agents/<class>/<name>/sessions/<id>/messages[?leaf=MSG]   history up to any leaf
  GET    /agents/<class>/<name>/sessions/<id>/search?q=WORDS[&limit=N]   search one session
  POST   /agents/<class>/<name>/sessions/<id>/leaf      switch branch: {messageId, exact?}
  POST   /agents/<class>/<name>/sessions/<id>/fork      {atMessage?, title?} → a new session
  POST   /agents/<class>/<name>/sessions/<id>/compact   summarise all before the last question
  GET    /agents/<class>/<name>/messages/<msg>/branches   a message and its alternatives
  GET    /agents/<class>/<name>/sessions/<id>/stream   the session's turn in progress, from its
                                            start (for clients that reconnect, also after a
                                            restart), then live; 204 if none
  POST   /mcp                                     Code Mode (MCP, streamable HTTP): `search` and
                                                  `execute`, whose code calls
                                                  agents.Class(\"name\").method(...)
  GET    /healthz                                 liveness, no token: 200 `ok`
  GET    /readyz                                  readiness, no token: 200, or 503 naming the
                                                  failed check (workers, data_dir,
                                                  model with --model)
  GET    /metrics                                 Prometheus text format (on --metrics-listen
                                                  instead, without a token, when given)

Callable methods: public ones (not TypeScript private/protected, not #private, not
_-prefixed, not onStart/onRequest); a class that marks methods with @callable() or
`static callable = [\"name\"]` exposes only those. Each call is one transaction; a call
from one agent to another is a separate transaction of the other agent.

The API token is generated on first start, stored in DATA/token (mode 0600) and printed
once; pass --auth-token (or ISLET_AUTH_TOKEN) to choose one.

Chat agents (classes that extend Think) need a model: --model openai:gpt-4.1-mini (key from
OPENAI_API_KEY, URL from OPENAI_BASE_URL) or anthropic:claude-… (ANTHROPIC_API_KEY); a class
may choose its own in getModel().

Examples:
  islet serve                      # agents from ./agents (or ./examples/agents)
  OPENAI_API_KEY=… islet serve --model openai:gpt-4.1-mini
  islet serve --model openai:qwen3 --model-base-url http://127.0.0.1:11434/v1   # Ollama
  islet serve --agents my-agents --data /var/lib/islet --listen 127.0.0.1:9000
  TOKEN=$(cat .islet/token)
  curl -H \"Authorization: Bearer $TOKEN\" -d '[5]' \\
      http://127.0.0.1:8787/agents/Counter/alice/increment")]
pub(crate) struct ServeArgs {
    /// Serve `GET /metrics` on this address without a token (default: on --listen, behind
    /// the token), e.g. 127.0.0.1:9187 for a Prometheus on the same host.
    #[arg(long, value_name = "ADDR", help_heading = "Operations")]
    metrics_listen: Option<SocketAddr>,
    /// Send spans (requests, agent calls, turns, steps, tool calls) to an OpenTelemetry
    /// collector over OTLP/HTTP (protobuf), e.g. http://127.0.0.1:4318 (spans go to
    /// URL/v1/traces), as service `islet`; batched in the background, never delaying a request.
    #[arg(
        long,
        value_name = "URL",
        env = "ISLET_OTLP_ENDPOINT",
        help_heading = "Operations"
    )]
    pub(crate) otlp_endpoint: Option<String>,
    #[command(flatten)]
    _config: crate::config::ConfigFileArg,
    /// Directory with one TypeScript/JavaScript module per agent class (default: ./agents,
    /// or ./examples/agents when ./agents does not exist).
    #[arg(long, value_name = "DIR")]
    agents: Option<PathBuf>,
    /// Data directory: one SQLite database per agent, the catalog and the token.
    #[arg(long, value_name = "DIR", default_value = ".islet")]
    data: PathBuf,
    /// Address to listen on. Loopback by default; anything else is reachable from the network.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8787")]
    listen: SocketAddr,
    /// Bearer token clients must send (default: the one stored in the data directory).
    #[arg(
        long,
        value_name = "T",
        env = "ISLET_AUTH_TOKEN",
        hide_env_values = true
    )]
    auth_token: Option<String>,
    /// Where agent code runs: OS-sandboxed worker processes (default) or this process.
    #[arg(long, value_enum, default_value_t = Isolation::Process)]
    isolation: Isolation,
    /// Isolates that run at once (default: 4 per core, at least 8). An agent waiting on
    /// another agent's reply (a sub-agent, an agent call) holds one for the wait: a chain
    /// of nested calls longer than this waits for one, and fails at --wall-ms if none frees.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    executors: Option<u16>,
    /// Seconds without messages after which an agent hibernates (its memory is freed; its
    /// database stays).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    idle_timeout: f64,
    /// JSON file capping what agents' extensions may ask for: {"network": ["api.example.com",
    /// "*.example.org", "127.0.0.1:8080"], "allowPrivate": false, "workspace": "none" | "read"
    /// | "read-write", "memory": "none" | "read" | "write"}. An install asking for more waits
    /// for approval (POST …/extensions/<ext>/approve). Without it extensions may ask for any
    /// public host and any access.
    #[arg(long, value_name = "FILE")]
    extension_policy: Option<PathBuf>,
    /// Largest request body accepted, in KiB (RPC arguments, workspace uploads).
    #[arg(long, value_name = "N", default_value_t = 16_384)]
    max_body_kb: usize,
    /// Per-call CPU time limit of agent code, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 5_000)]
    cpu_ms: u64,
    /// Per-call wall time limit of agent code, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    wall_ms: u64,
    /// Per-call output limit of agent code, in KiB: the call's result (the RPC reply) plus
    /// its console output.
    #[arg(long, value_name = "KIB", default_value_t = Limits::default().output_bytes >> 10)]
    max_output_kb: usize,
    /// Heap limit of each agent's isolate, in MiB (what it keeps between calls counts).
    #[arg(long, value_name = "MIB", default_value_t = Limits::default().memory_bytes >> 20)]
    memory_mb: usize,
    /// Memory profile (namespace/name) that agents and /mcp code reach as `memory.*`
    /// (repeatable; with several, calls name one with `profile`); a class adds its own with
    /// `static memory`. Every profile is reachable over HTTP at /memory/<namespace>/<name>/…
    /// regardless.
    #[arg(long = "memory", value_name = "PROFILE")]
    memory_profiles: Vec<String>,
    #[command(flatten)]
    linux: crate::linux::LinuxSandboxArgs,
    #[command(flatten)]
    endpoints: crate::memory::Endpoints,
    /// With --embeddings-url: folder where the vectors of `/mcp` `search` are cached, one
    /// file per catalog and model (default: search-embeddings in the data directory).
    #[arg(long, value_name = "DIR", help_heading = "Semantic search")]
    search_cache: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    fetch: crate::run::FetchArgs,
    #[command(flatten)]
    browser: crate::run::BrowserArgs,
    #[command(flatten)]
    npm: crate::run::NpmArgs,
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
}

/// The model chat agents (`Think` classes) use. Keys come from the environment
/// (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`) unless given here; they are never logged.
#[derive(clap::Args)]
pub(crate) struct ModelArgs {
    /// Default model of chat agents, `provider:model` (openai:gpt-4.1-mini,
    /// anthropic:claude-sonnet-4-5; OpenAI-compatible servers use openai:).
    #[arg(long = "model", value_name = "PROVIDER:MODEL")]
    spec: Option<String>,
    /// Base URL of the default model's provider (else OPENAI_BASE_URL / ANTHROPIC_BASE_URL,
    /// else the provider's own), e.g. http://127.0.0.1:11434/v1 for Ollama.
    #[arg(long = "model-base-url", value_name = "URL")]
    base_url: Option<String>,
    /// OpenAI API key (default: OPENAI_API_KEY). Prefer the variable: flags show in `ps`.
    #[arg(long = "openai-api-key", value_name = "KEY")]
    openai_api_key: Option<String>,
    /// Anthropic API key (default: ANTHROPIC_API_KEY).
    #[arg(long = "anthropic-api-key", value_name = "KEY")]
    anthropic_api_key: Option<String>,
}

impl ModelArgs {
    /// The models chat agents may use, from these flags and the environment.
    pub(crate) fn models(&self) -> anyhow::Result<llm::Models> {
        let default_model = match &self.spec {
            Some(spec) => Some(
                spec.parse::<llm::ModelSpec>()
                    .map_err(|e| anyhow::anyhow!("--model: {e}"))?,
            ),
            None => None,
        };
        let mut settings = llm::Settings {
            openai: llm::ProviderSettings {
                base_url: None,
                api_key: self.openai_api_key.clone().and_then(llm::ApiKey::new),
            },
            anthropic: llm::ProviderSettings {
                base_url: None,
                api_key: self.anthropic_api_key.clone().and_then(llm::ApiKey::new),
            },
            ..llm::Settings::default()
        };
        if let Some(url) = &self.base_url {
            let Some(spec) = &default_model else {
                anyhow::bail!(
                    "--model-base-url needs --model (the URL is the default model's provider's)"
                );
            };
            match spec.provider {
                llm::ProviderKind::OpenAi => settings.openai.base_url = Some(url.clone()),
                llm::ProviderKind::Anthropic => settings.anthropic.base_url = Some(url.clone()),
            }
        }
        settings.default_model = default_model;
        let http = codemode::egress::tls::client_builder()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client for models: {e}"))?
            .build()
            .context("cannot build the HTTP client for models")?;
        let models = llm::Models::from_env(http, settings);
        // A configured default model must resolve now (a missing key is a start-up error,
        // not a surprise at the first chat).
        if models.default_spec().is_some() {
            models
                .get(None)
                .map_err(|e| anyhow::anyhow!("--model: {e}"))?;
        }
        Ok(models)
    }
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let agents_dir = agents_dir(args.agents.as_deref())?;
    let models = args.model.models()?;
    let model_probe = models
        .default_spec()
        .and_then(|_| models.get(None).ok())
        .and_then(|model| ops::ModelProbe::new(&model.endpoint().base_url));
    let data = Arc::new(
        DataDir::open(&args.data, Env::default())
            .with_context(|| format!("cannot open the data directory {}", args.data.display()))?,
    );
    let token = match args.auth_token {
        Some(token) if !token.trim().is_empty() => token,
        Some(_) => anyhow::bail!(
            "--auth-token is empty; give a token or omit the flag to use the stored one"
        ),
        None => {
            let (token, created) = data.auth_token()?;
            if created {
                say(&format!(
                    "generated an API token (stored in {}; shown only this once):\n  {token}",
                    args.data.join("token").display()
                ));
            } else {
                say(&format!(
                    "using the API token stored in {}",
                    args.data.join("token").display()
                ));
            }
            token
        }
    };
    // Joined before anything is served: a node that cannot reach the cluster's database
    // does not start.
    let cluster = args.cluster.join().await?;
    let executors = args
        .executors
        .map_or_else(crate::run::default_executors, usize::from);
    let sandbox = Arc::new(args.isolation.server_sandbox(executors)?);
    // npm packages, for agent classes' imports and for `execute` programs (/mcp and chat
    // agents'), cached in the data directory unless --npm-cache says otherwise.
    let npm = args.npm.npm(&args.data)?;
    // The same for code agents give at run time (extensions, this.isolates, code tools).
    let packages = Arc::new(crate::run::ClassPackages(npm.clone()));
    let classes = match &agents_dir {
        Some(dir) => Classes::load_dir_with(dir, &sandbox, Some(&*packages)).await?,
        None => Classes::default(),
    };
    // Cluster mode: a memory profile is served by the node holding its lease, its durable
    // copy in PostgreSQL like an agent's.
    let cluster_memory = match &cluster {
        Some(c) => Some(Arc::new(cluster::ClusterMemory::new(c, token.clone())?)),
        None => None,
    };
    let memories = crate::memory::memories(
        &args.data,
        &args.endpoints,
        cluster_memory
            .clone()
            .map(|m| m as Arc<dyn ::memory::Placement>),
    )?;
    let mut attached = Vec::new();
    for name in &args.memory_profiles {
        attached.push(memories.profile(name)?);
    }
    let attached_names: Vec<String> = attached.iter().map(|p| p.name().to_string()).collect();
    let memory_bindings = if attached.is_empty() {
        sandbox::Bindings::new()
    } else {
        ::memory::bindings(attached)
    };
    // The host is needed to read its totals, and the memory bindings (counted) to start
    // it: the bindings count into a registry that learns the host once it exists.
    let registry = ops::Registry::default();
    let memory_bindings = registry.instrument_memory(&memory_bindings);
    let class_bindings = class_memory_bindings(&classes, &memories, &args.memory_profiles)?
        .into_iter()
        .map(|(class, b)| (class, registry.instrument_memory(&b)))
        .collect();
    let extension_policy = match &args.extension_policy {
        Some(path) => Some(read_extension_policy(path)?),
        None => None,
    };
    // The network rungs, for agents' code, /mcp's `execute` and chat agents alike.
    let fetcher = args.fetch.fetcher()?;
    let mut capabilities: Vec<Arc<dyn codemode::execute::Capability>> = Vec::new();
    if let Some(fetcher) = &fetcher {
        capabilities.push(Arc::new(crate::run::FetchCapability::new(
            Arc::clone(fetcher),
            &args.fetch,
        )));
    }
    let browser = match args.browser.capability(fetcher.as_ref())? {
        Some((browser, capability)) => {
            capabilities.push(capability);
            Some(browser)
        }
        None => None,
    };
    if let Some(npm) = npm {
        capabilities.push(Arc::new(npm::NpmCapability::new(npm)));
    }
    // Agents' code also reaches any profile through `this.memory(name)` (the open
    // bindings; not /mcp's or `execute`'s code, which get `memory.*` only).
    let mut agent_bindings = memory_bindings.clone();
    for (namespace, name, f) in registry
        .instrument_memory(&::memory::open_bindings(memories.clone(), Vec::new()))
        .iter()
    {
        agent_bindings.insert(namespace, name, Arc::clone(f));
    }
    let agent_bindings = crate::run::FetchArgs::bind(fetcher.as_ref(), agent_bindings);
    let sandboxes: Option<Arc<dyn agents::AgentSandboxes>> = if args.linux.linux_sandbox {
        Some(Arc::new(
            crate::linux::LinuxSandboxes::start(&args.data, &classes, &args.linux).await?,
        ))
    } else {
        if let Some(class) = classes.iter().find(|c| c.sandbox.is_some()) {
            tracing::warn!(
                class = %class.name,
                "the class asks for a Linux sandbox (`static sandbox`), but this server offers none: start it with --linux-sandbox"
            );
        }
        None
    };
    let config = HostConfig {
        limits: Limits {
            cpu_ms: args.cpu_ms,
            wall_ms: args.wall_ms,
            output_bytes: args.max_output_kb.saturating_mul(1024),
            memory_bytes: args.memory_mb.saturating_mul(1 << 20),
            ..Limits::default()
        },
        idle_timeout: Duration::from_secs_f64(args.idle_timeout.max(0.001)),
        bindings: agent_bindings,
        class_bindings,
        extension_fetch: Some(extension_fetch(
            extension_policy.as_ref().is_some_and(|p| p.allow_private),
        )),
        extension_policy,
        sandboxes,
        durable: cluster
            .clone()
            .map(|c| Arc::new(c) as Arc<dyn agents::Durable>),
        forwarder: match &cluster {
            Some(c) => Some(Arc::new(cluster::NodeForwarder::new(c, token.clone())?)
                as Arc<dyn agents::Forwarder>),
            None => None,
        },
        packages: Some(packages),
    };
    let host = AgentHost::start(Arc::clone(&data), classes, sandbox, config)?;
    if let Some(cluster) = &cluster {
        // Schedules of agents whose node died fire here once due (after the claim).
        let wake = host.waker();
        cluster.set_waker(Box::new(move |agent| {
            if let Err(e) = wake(agent) {
                tracing::warn!(%agent, error = %e, "cannot wake an agent with a due schedule");
            }
        }));
    }
    if models.default_spec().is_none() && host.classes().iter().any(|c| c.think) {
        tracing::warn!(
            "chat agents are served but no --model is set: chats fail unless the class's getModel() names one"
        );
    }
    let harness = think::Harness::with_bindings(host.clone(), models, memory_bindings.clone());
    // Compaction ingests what it summarises into the attached profiles.
    harness.set_memory_profiles(attached_names);
    harness.set_capabilities(capabilities.clone());
    {
        // Chat turns a crash interrupted go on in the background; a chat with one of those
        // agents waits for its turn to finish first.
        let harness = harness.clone();
        tokio::spawn(async move {
            let resumed = harness.recover_all().await;
            if resumed > 0 {
                tracing::info!(
                    resumed,
                    "resumed chat turns interrupted by the last shutdown"
                );
            }
        });
    }
    let metrics = ops::Metrics::new(registry, host.clone())
        .with_cluster(cluster.clone())
        .with_harness(harness.clone());
    let app = routes::app(routes::AppOptions {
        host: host.clone(),
        harness,
        memories,
        memory_bindings,
        capabilities,
        semantic: crate::semantic::SemanticArgs::of_memory(
            &args.endpoints,
            args.search_cache.clone(),
        )
        .search(&args.data)?,
        token,
        max_body_bytes: args.max_body_kb.saturating_mul(1024),
        loopback: args.listen.ip().is_loopback(),
        metrics: metrics.clone(),
        metrics_elsewhere: args.metrics_listen.is_some(),
        data_dir: args.data.clone(),
        model_probe,
        cluster: match &cluster {
            Some(c) => Some(Arc::new(cluster::Router::new(
                c.clone(),
                args.max_body_kb.saturating_mul(1024),
                cluster_memory.clone(),
            )?)),
            None => None,
        },
    })?;
    // Bound before the API so a taken port fails the start, not a background task.
    let metrics_server = match args.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("--metrics-listen {addr}: cannot listen"))?;
            let bound = listener.local_addr()?;
            if !bound.ip().is_loopback() {
                tracing::warn!(addr = %bound, "serving /metrics without a token on a non-loopback address");
            }
            say(&format!("islet metrics: http://{bound}/metrics"));
            let app = routes::metrics_app(metrics);
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!("the metrics listener failed: {e}");
                }
            }))
        }
        None => None,
    };
    let classes = host.classes().names();
    // What clients can call, so nothing is exposed without the operator seeing it.
    let surfaces: Vec<String> = host
        .classes()
        .iter()
        .map(|c| {
            format!(
                "  {}: {}{}",
                c.name,
                if c.methods.is_empty() {
                    "no callable methods".to_owned()
                } else {
                    c.methods.join(", ")
                },
                if c.marked {
                    " (marked callable)"
                } else {
                    " (every public method; mark with @callable() to narrow)"
                }
            )
        })
        .collect();
    let announce = |bound: SocketAddr| {
        if !bound.ip().is_loopback() {
            tracing::warn!(addr = %bound, "listening on a non-loopback address: anyone who can reach it and has the token can call agents");
        }
        say(&format!(
            "islet serve: http://{bound} (agents: {}; data: {})",
            if classes.is_empty() {
                "none".to_owned()
            } else {
                classes.join(", ")
            },
            args.data.display()
        ));
        for surface in &surfaces {
            say(surface);
        }
    };
    codemode::mcp::serve_router(app, args.listen, announce, crate::shutdown_signal()).await?;
    host.shutdown(Duration::from_secs(5)).await;
    if let Some(cluster) = &cluster {
        // A drain: the agents' turns are done and shipped, so other nodes may claim them
        // now rather than after the lease time.
        match cluster.release_all().await {
            Ok(released) => tracing::info!(released, "handed this node's leases back"),
            Err(e) => tracing::warn!(error = %e, "could not hand the leases back; they expire"),
        }
    }
    if let Some(browser) = browser {
        browser.shutdown().await;
    }
    if let Some(server) = metrics_server {
        server.abort();
    }
    Ok(ExitCode::SUCCESS)
}

fn agents_dir(given: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    if let Some(dir) = given {
        anyhow::ensure!(
            dir.is_dir(),
            "--agents {}: not a directory; pass the directory holding one module per agent class",
            dir.display()
        );
        return Ok(Some(dir.to_owned()));
    }
    for candidate in ["agents", "examples/agents"] {
        let dir = PathBuf::from(candidate);
        if dir.is_dir() {
            return Ok(Some(dir));
        }
    }
    tracing::warn!(
        "no ./agents or ./examples/agents directory: serving no agent classes (pass --agents DIR)"
    );
    Ok(None)
}

/// Start-up messages for the operator (stdout: this is not a stdio protocol server).
#[allow(clippy::print_stdout)]
fn say(message: &str) {
    println!("{message}");
}

/// `memory.*` for each class that attaches profiles (`static memory`): its own attachments
/// first (a class may attach a server-wide profile read-only), then the server-wide
/// `--memory` ones, writable; and for a class with read-only attachments, the open bindings
/// of `this.memory(name)` that keep them read-only. A bad name, or a read-only attachment of a profile that does
/// not exist and that nothing attaches writable (so it can never hold anything: a typo),
/// fails the start naming the class and its file.
fn class_memory_bindings(
    classes: &Classes,
    memories: &::memory::Memories,
    server: &[String],
) -> anyhow::Result<std::collections::HashMap<String, sandbox::Bindings>> {
    let writable_somewhere = |name: &str| {
        server.iter().any(|s| s == name)
            || classes
                .iter()
                .flat_map(|c| c.memory.iter())
                .any(|a| a.profile == name && !a.read_only)
    };
    let mut out = std::collections::HashMap::new();
    for class in classes.iter().filter(|c| !c.memory.is_empty()) {
        let by = format!("agent class `{}` (`static memory`)", class.name);
        let mut attachments = Vec::new();
        for a in &class.memory {
            let profile = memories.profile(&a.profile).with_context(|| {
                format!(
                    "agent class `{}` ({}): `static memory` names a bad profile",
                    class.name, class.origin
                )
            })?;
            if a.read_only && !profile.exists() && !writable_somewhere(&a.profile) {
                anyhow::bail!(
                    "agent class `{}` ({}): `static memory` attaches `{}` read-only, but no such \
                     memory profile exists and nothing attaches it writable, so it could never \
                     hold anything; check the name (`islet memory profiles` lists the existing \
                     ones) or create it first (`islet memory ingest FILE --profile {}`)",
                    class.name,
                    class.origin,
                    a.profile,
                    a.profile
                );
            }
            attachments.push(if a.read_only {
                ::memory::Attachment::read_only(profile, by.clone())
            } else {
                ::memory::Attachment::writable(profile, by.clone())
            });
        }
        for name in server {
            attachments.push(::memory::Attachment::writable(
                memories.profile(name)?,
                "this server (`--memory`)",
            ));
        }
        // What the class attaches read-only stays so through `this.memory(name)` too.
        let read_only: Vec<::memory::ReadOnlyRule> = class
            .memory
            .iter()
            .filter(|a| a.read_only)
            .map(|a| ::memory::ReadOnlyRule {
                profile: a.profile.clone(),
                by: by.clone(),
            })
            .collect();
        let mut bindings = ::memory::attached_bindings(attachments);
        if !read_only.is_empty() {
            for (namespace, name, f) in ::memory::open_bindings(memories.clone(), read_only).iter()
            {
                bindings.insert(namespace, name, Arc::clone(f));
            }
        }
        out.insert(class.name.clone(), bindings);
    }
    Ok(out)
}
