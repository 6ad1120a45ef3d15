//! `islet serve --linux-sandbox`: agents' Linux sandboxes (`linuxbox`) behind the agent
//! host's [`agents::AgentSandboxes`]. One sandbox per agent, started on its first use and
//! ended when the agent hibernates; `/workspace` is synced with the agent's workspace
//! around every operation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use agents::{Address, AgentDbAccess, AgentSandboxes, ClassSandbox, SandboxFuture};
use anyhow::Context as _;
use codemode::egress::{FetchPolicy, Fetcher};
use linuxbox::{ConnectFuture, Connector, Prefer, Sandboxes};
use sandbox::HostError;

#[derive(Debug)]
pub(crate) struct LinuxSandboxes {
    sandboxes: Arc<Sandboxes>,
    /// A class's way out, by its `static sandbox.network` list (built once: a fetch
    /// policy's client takes milliseconds to make).
    connectors: Mutex<HashMap<Vec<String>, Arc<dyn Connector>>>,
    /// `--linux-sandbox-allow-private`: allowed hosts may be private or loopback addresses.
    allow_private: bool,
}

/// Opens a sandbox's connections under its class's allowlist, with `fetch`'s checks
/// (codemode's egress policy: host patterns, and no private, loopback or link-local
/// address unless the operator allows them).
#[derive(Debug)]
struct PolicyConnector {
    fetcher: Arc<Fetcher>,
}

impl Connector for PolicyConnector {
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
    /// Sandboxes whose files live under `DATA/linuxbox`, run by this executable's
    /// `linuxbox-init`. Starts one sandbox and runs `true` in it, so a machine that cannot
    /// run them fails the server's start, not the first command.
    pub(crate) async fn start(
        data: &Path,
        classes: &agents::Classes,
        allow_private: bool,
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
        let exe = std::env::current_exe().context("cannot find islet's own executable")?;
        let config = linuxbox::Config::new(
            vec![exe.into(), "linuxbox-init".into()],
            data.join("linuxbox"),
        );
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
            sandboxes: Arc::new(Sandboxes::new(config)),
            connectors: Mutex::new(HashMap::new()),
            allow_private,
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
