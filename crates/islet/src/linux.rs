//! `islet serve --linux-sandbox`: agents' Linux sandboxes (`linuxbox`) behind the agent
//! host's [`agents::AgentSandboxes`]. One sandbox per agent, started on its first use and
//! ended when the agent hibernates; `/workspace` is synced with the agent's workspace
//! around every operation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use agents::{Address, AgentDbAccess, AgentSandboxes, ClassSandbox, SandboxFuture};
use anyhow::Context as _;
use codemode::egress::{FetchCode, FetchPolicy, Fetcher, InjectedHeader, ProxiedRequest};
use linuxbox::{
    ConnectFuture, Connector, HttpRefusal, HttpRequest, HttpResponse, Prefer, RequestFuture,
    Sandboxes,
};
use sandbox::HostError;

/// `islet serve`'s Linux sandbox settings.
#[derive(clap::Args)]
#[command(next_help_heading = "Linux sandboxes")]
pub(crate) struct LinuxSandboxArgs {
    /// Offer Linux sandboxes (bubblewrap) to agent classes that opt in with
    /// `static sandbox = true`: `this.sandbox.exec(…)`, the …/sandbox/… routes and the
    /// sandbox_exec / sandbox_run_code tools of chat agents. One sandbox per agent, its
    /// workspace at /workspace, ended when the agent hibernates. Needs `bwrap` (islet doctor).
    #[arg(long)]
    pub(crate) linux_sandbox: bool,
    /// Let the hosts a class's `static sandbox = { network: [...] }` allows be private,
    /// loopback or link-local addresses (a git server on this machine or the LAN); by
    /// default sandboxes reach public addresses only, like `fetch`.
    #[arg(long, requires = "linux_sandbox")]
    linux_sandbox_allow_private: bool,
    /// Header islet adds to a sandbox's requests to HOST (a host as in `static sandbox`
    /// network, which must also allow it), its value read from islet's environment:
    /// 'HOST:NAME=${VAR}', e.g. 'api.example.com:Authorization=Bearer ${API_TOKEN}'. The
    /// value never enters the sandbox: a command requests http://HOST/… through the
    /// sandbox's proxy and islet sends it as https://HOST/… with the header (plain HTTP only
    /// when HOST is an http:// origin), scrubbing the value from the response; https:// to
    /// HOST (a tunnel islet cannot add to) is refused. Repeatable.
    #[arg(
        long = "linux-sandbox-header",
        value_name = "HOST:NAME=${VAR}",
        requires = "linux_sandbox"
    )]
    linux_sandbox_headers: Vec<String>,
    /// Memory of all of one sandbox's processes together (cgroup v2 where delegated, else
    /// per process as RLIMIT_AS), in MiB.
    #[arg(long, value_name = "MIB", default_value_t = linuxbox::Limits::default().memory_bytes >> 20)]
    linux_sandbox_memory_mb: u64,
    /// Processes and threads in one sandbox (cgroup pids.max, else RLIMIT_NPROC).
    #[arg(long, value_name = "N", default_value_t = linuxbox::Limits::default().pids)]
    linux_sandbox_pids: u64,
    /// CPU time one sandbox's processes together get per wall-clock second (0.5: half a
    /// core, 2: two cores), as a cgroup CPU quota where the cpu controller is islet's; islet
    /// doctor says whether it is enforceable here.
    #[arg(long, value_name = "CPUS", default_value_t = linuxbox::Limits::default().cpus)]
    linux_sandbox_cpus: f64,
    /// Wall-clock limit of one command (and the most a command's `timeout` may ask for),
    /// in seconds: SIGTERM to its process group, SIGKILL half a second later.
    #[arg(long, value_name = "SECS", default_value_t = linuxbox::Limits::default().timeout.as_secs())]
    linux_sandbox_timeout_secs: u64,
    /// Output kept per stream of one command, in KiB (the rest is dropped and flagged).
    #[arg(long, value_name = "KIB", default_value_t = linuxbox::Limits::default().output_bytes >> 10)]
    linux_sandbox_output_kb: usize,
    /// Background processes stop after the sandbox has had no call for this long, in
    /// seconds (the sandbox itself ends earlier when its agent hibernates).
    #[arg(long, value_name = "SECS", default_value_t = linuxbox::Limits::default().idle_timeout.as_secs())]
    linux_sandbox_idle_secs: u64,
    /// Where sandboxes keep their `/workspace` copies (default: DATA/linuxbox). The copy is
    /// a cache of the agent's SQLite workspace, so a tmpfs suits it best (syncing 100 files
    /// takes milliseconds there, tens of them on some disks; BENCHMARKS.md); choose one
    /// only islet's user can read.
    #[arg(long, value_name = "DIR")]
    linux_sandbox_state_dir: Option<std::path::PathBuf>,
    /// Sandboxes kept started ahead of need, so an agent's first command does not wait for
    /// a sandbox to start (classes with network start theirs on demand).
    #[arg(long, value_name = "N", default_value_t = 1)]
    linux_sandbox_spares: usize,
}

impl LinuxSandboxArgs {
    fn limits(&self) -> anyhow::Result<linuxbox::Limits> {
        anyhow::ensure!(
            self.linux_sandbox_memory_mb >= 16
                && self.linux_sandbox_pids >= 8
                && self.linux_sandbox_cpus.is_finite()
                && self.linux_sandbox_cpus >= 0.01
                && self.linux_sandbox_timeout_secs >= 1
                && self.linux_sandbox_output_kb >= 1
                && self.linux_sandbox_idle_secs >= 1,
            "--linux-sandbox-*: memory is at least 16 MiB, pids at least 8, cpus at least 0.01, \
             the timeout, the output and the idle time at least 1"
        );
        Ok(linuxbox::Limits {
            memory_bytes: self.linux_sandbox_memory_mb << 20,
            pids: self.linux_sandbox_pids,
            cpus: self.linux_sandbox_cpus,
            timeout: std::time::Duration::from_secs(self.linux_sandbox_timeout_secs),
            output_bytes: self.linux_sandbox_output_kb << 10,
            idle_timeout: std::time::Duration::from_secs(self.linux_sandbox_idle_secs),
            ..linuxbox::Limits::default()
        })
    }
}

#[derive(Debug)]
pub(crate) struct LinuxSandboxes {
    sandboxes: Arc<Sandboxes>,
    /// A class's way out, by its `static sandbox.network` list (built once: a fetch
    /// policy's client takes milliseconds to make).
    connectors: Mutex<HashMap<Vec<String>, Arc<dyn Connector>>>,
    /// `--linux-sandbox-allow-private`: allowed hosts may be private or loopback addresses.
    allow_private: bool,
    /// `--linux-sandbox-header`: added host-side to the sandboxes' requests.
    headers: Vec<InjectedHeader>,
    /// The limit of one command, also of one host-side request.
    timeout: std::time::Duration,
}

/// Opens a sandbox's connections under its class's allowlist, with `fetch`'s checks
/// (codemode's egress policy: host patterns, and no private, loopback or link-local
/// address unless the operator allows them).
#[derive(Debug)]
struct PolicyConnector {
    fetcher: Arc<Fetcher>,
}

impl PolicyConnector {
    /// Where the host sends a sandbox's `http://host:port/path` when a header rule covers
    /// it: HTTPS (the sandbox's port 80 meaning HTTPS's 443), or plain HTTP only where the
    /// rule names an `http://` origin (the operator chose clear text, e.g. on loopback).
    fn upstream(&self, host: &str, port: u16, path: &str) -> Option<String> {
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        let https = match port {
            80 => format!("https://{host}{path}"),
            _ => format!("https://{host}:{port}{path}"),
        };
        if self.fetcher.injects_into(&https) {
            return Some(https);
        }
        let http = format!("http://{host}:{port}{path}");
        self.fetcher.injects_into(&http).then_some(http)
    }
}

impl Connector for PolicyConnector {
    fn makes_requests(&self, host: &str, port: u16) -> bool {
        self.upstream(host, port, "/").is_some()
    }

    fn request(&self, request: HttpRequest) -> RequestFuture {
        let fetcher = Arc::clone(&self.fetcher);
        let url = self.upstream(&request.host, request.port, &request.path);
        Box::pin(async move {
            let Some(url) = url else {
                return Err(HttpRefusal {
                    status: 502,
                    message: format!("no header rule covers {}", request.host),
                });
            };
            let response = fetcher
                .forward(ProxiedRequest {
                    method: request.method,
                    url,
                    headers: request.headers,
                    body: (!request.body.is_empty()).then_some(request.body),
                })
                .await
                .map_err(|e| {
                    let status = match &e {
                        codemode::Error::Fetch { code, .. } => match code {
                            FetchCode::HostNotAllowed
                            | FetchCode::MethodNotAllowed
                            | FetchCode::PrivateAddress
                            | FetchCode::RedirectNotAllowed => 403,
                            FetchCode::InvalidRequest => 400,
                            FetchCode::Timeout => 504,
                            _ => 502,
                        },
                        _ => 502,
                    };
                    // `fetch`'s errors are scrubbed of the injected values already.
                    HttpRefusal {
                        status,
                        message: e.to_string(),
                    }
                })?;
            tracing::debug!(status = response.status, "sandbox request made host-side");
            Ok(HttpResponse {
                status: response.status,
                reason: response.reason,
                headers: response.headers,
                body: response.body,
            })
        })
    }

    fn connect(&self, host: String, port: u16) -> ConnectFuture {
        let fetcher = Arc::clone(&self.fetcher);
        Box::pin(async move {
            let addrs = fetcher.tunnel(&host, port).await?;
            tracing::debug!(host, port, "sandbox connection allowed");
            tokio::net::TcpStream::connect(&addrs[..])
                .await
                .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))
        })
    }
}

impl LinuxSandboxes {
    /// Sandboxes whose files live under `DATA/linuxbox` (or the state directory given), run by this executable's
    /// `linuxbox-init`. Starts one sandbox and runs `true` in it, so a machine that cannot
    /// run them fails the server's start, not the first command.
    pub(crate) async fn start(
        data: &Path,
        classes: &agents::Classes,
        args: &LinuxSandboxArgs,
    ) -> anyhow::Result<LinuxSandboxes> {
        for class in classes.iter() {
            for host in class.sandbox.iter().flat_map(|s| s.network.iter()) {
                codemode::egress::check_host_pattern(host).map_err(|e| {
                    anyhow::anyhow!(
                        "agent class `{}` ({}): `static sandbox` network: {e}",
                        class.name,
                        class.origin
                    )
                })?;
            }
        }
        let headers = args
            .linux_sandbox_headers
            .iter()
            .map(|text| crate::run::injected_header("--linux-sandbox-header", text))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let exe = std::env::current_exe().context("cannot find islet's own executable")?;
        let state_dir = match &args.linux_sandbox_state_dir {
            Some(dir) => dir.clone(),
            None => data.join("linuxbox"),
        };
        let mut config = linuxbox::Config::new(vec![exe.into(), "linuxbox-init".into()], state_dir);
        config.limits = args.limits()?;
        let timeout = config.limits.timeout;
        let probe = linuxbox::Linuxbox::start(config.clone())
            .await
            .context("--linux-sandbox: cannot start a Linux sandbox (islet doctor says why)")?;
        let result = probe
            .exec("true", linuxbox::ExecOptions::default())
            .await
            .context(
                "--linux-sandbox: a Linux sandbox cannot run commands (islet doctor says why)",
            )?;
        anyhow::ensure!(
            result.success(),
            "--linux-sandbox: `true` failed in a Linux sandbox: {}",
            result.stderr
        );
        probe.shutdown().await;
        Ok(LinuxSandboxes {
            sandboxes: Arc::new(
                Sandboxes::with_spares(config, args.linux_sandbox_spares)
                    .await
                    .context("--linux-sandbox-spares: cannot start a spare sandbox")?,
            ),
            connectors: Mutex::new(HashMap::new()),
            allow_private: args.linux_sandbox_allow_private,
            headers,
            timeout,
        })
    }

    /// The way out of a sandbox of a class with `settings`; `None`: no network.
    fn network(&self, settings: &ClassSandbox) -> Result<Option<Arc<dyn Connector>>, String> {
        if settings.network.is_empty() {
            return Ok(None);
        }
        let mut connectors = base::sync::lock(&self.connectors);
        if let Some(connector) = connectors.get(&settings.network) {
            return Ok(Some(Arc::clone(connector)));
        }
        let mut policy = FetchPolicy {
            allow_private: self.allow_private,
            allow_private_hint: Some("start islet serve with --linux-sandbox-allow-private".into()),
            inject_headers: self.headers.clone(),
            timeout: self.timeout,
            // As large as a file the sandbox may write; the response is held in memory.
            max_response_bytes: store::MAX_FILE_BYTES,
            ..FetchPolicy::default()
        };
        for host in &settings.network {
            policy = policy.allow(host.clone());
        }
        let fetcher =
            Fetcher::new(policy).map_err(|e| format!("the class's sandbox network: {e}"))?;
        let connector: Arc<dyn Connector> = Arc::new(PolicyConnector {
            fetcher: Arc::new(fetcher),
        });
        connectors.insert(settings.network.clone(), Arc::clone(&connector));
        Ok(Some(connector))
    }
}

fn key(agent: &Address) -> String {
    format!("{}/{}", agent.class, agent.name)
}

fn host_error(e: &linuxbox::Error) -> HostError {
    HostError::new(e.code(), e.to_string())
        .with_name("SandboxError")
        .with_kind(e.kind())
}

impl AgentSandboxes for LinuxSandboxes {
    fn call(
        &self,
        agent: &Address,
        settings: &ClassSandbox,
        op: String,
        args: serde_json::Value,
        db: AgentDbAccess,
    ) -> SandboxFuture {
        let sandboxes = Arc::clone(&self.sandboxes);
        let key = key(agent);
        let network = self.network(settings);
        Box::pin(async move {
            let network = network.map_err(|message| {
                HostError::new("SANDBOX_NETWORK", message).with_kind(base::ErrorKind::Invalid)
            })?;
            let sync = move |sandbox: Arc<linuxbox::Linuxbox>, prefer: Prefer| {
                let db = db.clone();
                async move {
                    db.run(move |db| match prefer {
                        Prefer::Workspace => sandbox.sync_in(db),
                        Prefer::Sandbox => sandbox.sync_out(db),
                    })
                    .await
                    .map_err(|e| linuxbox::Error::SandboxGone(format!("workspace sync: {e}")))?
                }
            };
            sandboxes
                .call(&key, network, &op, args, sync)
                .await
                .map_err(|e| host_error(&e))
        })
    }

    fn release(&self, agent: &Address) {
        self.sandboxes.release(&key(agent));
    }
}
