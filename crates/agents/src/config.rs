//! A host's tunables ([`HostConfig`]): what it gives every agent and turn, and the
//! embedder's hooks (sandboxes, cluster storage, packages, extensions' `fetch`). Plain
//! values over the lower modules, read by the host and by what runs in its turns.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sandbox::{Bindings, Limits};

use crate::classes::ModulePackages;
use crate::durable::{Durable, Forwarder};
use crate::linux::AgentSandboxes;
use crate::permissions::{ExtensionFetch, ExtensionPolicy};

/// Tunables of a host.
#[derive(Clone)]
pub struct HostConfig {
    /// Limits of each turn (one call, request or schedule).
    pub limits: Limits,
    /// An agent without messages for this long hibernates.
    pub idle_timeout: Duration,
    /// Host functions every turn gets besides its own (e.g. the `memory` namespace over
    /// the profiles attached to this host's agents).
    pub bindings: Bindings,
    /// Host functions of one class's agents, by class name, over `bindings` (a name bound
    /// in both is the class's): e.g. `memory.*` over the profiles the class attaches
    /// (`static memory`) plus the server-wide ones.
    pub class_bindings: HashMap<String, Bindings>,
    /// The `fetch` of an extension allowed to reach exactly the hosts of its manifest
    /// (issue 16); `None`: extensions get no network, and an install asking for it is
    /// refused.
    pub extension_fetch: Option<ExtensionFetch>,
    /// The operator's cap on extensions' permissions; `None`: no cap beyond the fetcher's.
    pub extension_policy: Option<ExtensionPolicy>,
    /// Linux sandboxes for the classes that opt in (`static sandbox`); `None`: the server
    /// offers none, and `this.sandbox` refuses saying how to turn them on.
    pub sandboxes: Option<Arc<dyn AgentSandboxes>>,
    /// Cluster mode (issue 21): where agents' durable copies and leases live. `None`
    /// (single node): the local SQLite files are the only copy and nothing is shipped.
    pub durable: Option<Arc<dyn Durable>>,
    /// Cluster mode: calls of agents another node holds are made there (a call from an
    /// agent, a schedule or Code Mode on this node). `None`: they fail with `NOT_OWNER`.
    pub forwarder: Option<Arc<dyn Forwarder>>,
    /// Package imports in code agents give at run time (extensions, `this.isolates`,
    /// code tools), served as for class modules (islet serve: the npm rung, or its
    /// refusal naming `--allow-npm`). `None`: such code cannot import anything.
    pub packages: Option<Arc<dyn ModulePackages>>,
}

impl fmt::Debug for HostConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostConfig")
            .field("limits", &self.limits)
            .field("idle_timeout", &self.idle_timeout)
            .field("bindings", &self.bindings)
            .field("class_bindings", &self.class_bindings)
            .field("extension_fetch", &self.extension_fetch.is_some())
            .field("extension_policy", &self.extension_policy)
            .field("sandboxes", &self.sandboxes.is_some())
            .field("durable", &self.durable)
            .field("forwarder", &self.forwarder)
            .field("packages", &self.packages.is_some())
            .finish()
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            idle_timeout: Duration::from_secs(30),
            bindings: Bindings::new(),
            class_bindings: HashMap::new(),
            extension_fetch: None,
            extension_policy: None,
            sandboxes: None,
            durable: None,
            forwarder: None,
            packages: None,
        }
    }
}
