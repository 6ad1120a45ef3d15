//! What an extension may use (its manifest's `permissions`) and the operator's cap on it
//! (`ExtensionPolicy`), with the embedder's hook that makes an extension's `fetch`
//! (`ExtensionFetch`): plain values the host's configuration holds, so they sit below it
//! and the extensions that enforce them (`extensions.rs`).

// An install's refusal is a `HostError`, as the bindings' contract has it.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use sandbox::{HostError, HostFn};
use serde::Deserialize;

/// Makes the `fetch` of an extension allowed to reach exactly `hosts` (names, `*.`
/// wildcards or `host:port`), or says why it cannot.
pub type ExtensionFetch = Arc<dyn Fn(&[String]) -> Result<HostFn, String> + Send + Sync>;

/// The operator's cap on what extensions may ask for (`islet serve --extension-policy
/// FILE`): hosts (names, `*.` wildcards, `host:port`), and the most workspace and memory
/// access. An install asking for more is refused, naming what is beyond the policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtensionPolicy {
    /// Hosts extensions may reach: names, `*.` wildcards or `host:port`.
    #[serde(default)]
    pub network: Vec<String>,
    /// Let extensions' fetch reach the private and loopback addresses of the hosts above
    /// (the operator named them; a manifest alone never gets them).
    #[serde(default)]
    pub allow_private: bool,
    /// The most workspace access an extension may have: `none`, `read` or `read-write`.
    #[serde(default = "none")]
    pub workspace: String,
    /// The most memory access an extension may have: `none`, `read` or `write`.
    #[serde(default = "none")]
    pub memory: String,
}

impl ExtensionPolicy {
    /// Checks the policy's own values (for the operator, at start-up).
    pub fn check(&self) -> Result<(), String> {
        let p = Permissions {
            network: self.network.clone(),
            workspace: self.workspace.clone(),
            memory: self.memory.clone(),
        };
        p.check_shape().map_err(|e| e.message)
    }

    /// What of `wanted` is beyond this policy, in words; `None` when it all fits.
    fn beyond(&self, wanted: &Permissions) -> Option<String> {
        let mut over = Vec::new();
        for host in &wanted.network {
            if !self.network.iter().any(|allowed| covers(allowed, host)) {
                over.push(format!("network host {host:?}"));
            }
        }
        let rank = |v: &str, order: &[&str]| order.iter().position(|o| *o == v).unwrap_or(0);
        const WS: &[&str] = &["none", "read", "read-write"];
        const MEM: &[&str] = &["none", "read", "write"];
        if rank(&wanted.workspace, WS) > rank(&self.workspace, WS) {
            over.push(format!("workspace {:?}", wanted.workspace));
        }
        if rank(&wanted.memory, MEM) > rank(&self.memory, MEM) {
            over.push(format!("memory {:?}", wanted.memory));
        }
        (!over.is_empty()).then(|| {
            format!(
                "it asks for {} beyond this server's extension policy (network: [{}], workspace: {:?}, memory: {:?}); ask for less, or have the operator widen --extension-policy",
                over.join(", "),
                self.network.join(", "),
                self.workspace,
                self.memory
            )
        })
    }
}

/// Whether the policy's host pattern `allowed` covers the requested `host` pattern: the
/// same, or under a `*.` wildcard (a subdomain or a narrower wildcard; not the bare domain,
/// which the egress policy's `*.` does not match either).
fn covers(allowed: &str, host: &str) -> bool {
    let (allowed, host) = (allowed.to_ascii_lowercase(), host.to_ascii_lowercase());
    if allowed == host {
        return true;
    }
    match allowed.strip_prefix("*.") {
        Some(domain) => {
            let host = host.strip_prefix("*.").unwrap_or(&host);
            // As the egress policy reads `*.`: subdomains, not the domain itself.
            host.ends_with(&format!(".{domain}"))
        }
        None => false,
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
/// What an extension asks for: the hosts its `fetch` may reach, its workspace access
/// (`none`, `read`, `read-write`) and its memory access (`none`, `read`, `write`).
pub(crate) struct Permissions {
    #[serde(default)]
    pub(crate) network: Vec<String>,
    #[serde(default = "none")]
    pub(crate) workspace: String,
    #[serde(default = "none")]
    pub(crate) memory: String,
}

fn none() -> String {
    "none".to_owned()
}

/// No permissions: what an install that names none gets.
impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            network: Vec::new(),
            workspace: none(),
            memory: none(),
        }
    }
}

/// An install refused for what it is (not for the server).
pub(crate) fn invalid(e: impl std::fmt::Display) -> HostError {
    HostError::new("INVALID_EXTENSION", e.to_string())
}

impl Permissions {
    /// Checks the permissions' shape, and that the server can honour them: network only
    /// when it gives extensions a `fetch` (`network_offered`).
    pub(crate) fn check(&self, network_offered: bool) -> Result<(), HostError> {
        self.check_shape()?;
        if !self.network.is_empty() && !network_offered {
            return Err(invalid(
                "permissions.network: this server gives extensions no network (the embedder sets \
                 HostConfig::extension_fetch; islet serve does); install it without network",
            ));
        }
        Ok(())
    }

    /// What is beyond the operator's policy, if anything (the install then waits for a
    /// person's approval).
    pub(crate) fn beyond(&self, policy: Option<&ExtensionPolicy>) -> Option<String> {
        policy.and_then(|policy| policy.beyond(self))
    }

    fn check_shape(&self) -> Result<(), HostError> {
        if !matches!(self.workspace.as_str(), "none" | "read" | "read-write") {
            return Err(invalid(format!(
                "permissions.workspace is \"none\", \"read\" or \"read-write\", not {:?}",
                self.workspace
            )));
        }
        if !matches!(self.memory.as_str(), "none" | "read" | "write") {
            return Err(invalid(format!(
                "permissions.memory is \"none\", \"read\" or \"write\", not {:?}",
                self.memory
            )));
        }
        for h in &self.network {
            let well_formed = !h.is_empty()
                && h.len() <= 253
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':'));
            if !well_formed {
                return Err(invalid(format!(
                    "permissions.network: {h:?} is not a host: give names such as \"api.example.com\", \
                     \"*.example.com\" or \"localhost:8080\" (no scheme, no path)"
                )));
            }
        }
        Ok(())
    }
}
