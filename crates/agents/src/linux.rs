//! Linux sandboxes for agents (`this.sandbox`, the sandbox's HTTP routes and Think tools),
//! behind a trait: the embedder makes the sandboxes (`linuxbox`), the host only says which
//! agent asks and how to reach its database. A class opts in with `static sandbox = true`
//! (or `{ network: ["host", …] }`), and the embedder must offer sandboxes at all.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use sandbox::HostError;
use serde::Deserialize;
use serde_json::Value;
use store::AgentDb;

use base::sync::lock;

use crate::address::Address;
use crate::error::Error;

/// A class's `static sandbox`: `true`, or `{ network: [...] }` naming the hosts its
/// sandbox may reach (none by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSandbox {
    /// Hosts (`example.com`, `*.example.com`, `host:port`) commands may connect to through
    /// the host's proxy; empty: no network.
    #[serde(default)]
    pub network: Vec<String>,
}

/// The future a sandbox operation returns.
pub type SandboxFuture = Pin<Box<dyn Future<Output = Result<Value, HostError>> + Send>>;

/// What makes and runs agents' sandboxes (implemented by the embedder over `linuxbox`).
pub trait AgentSandboxes: Send + Sync + fmt::Debug {
    /// Runs `op` (`exec`, `runCode`, `readFile`, …) with `args` in `agent`'s sandbox,
    /// starting it if needed; `db` reaches the agent's workspace for the sync around it.
    fn call(
        &self,
        agent: &Address,
        settings: &ClassSandbox,
        op: String,
        args: Value,
        db: AgentDbAccess,
    ) -> SandboxFuture;

    /// The agent hibernated (or the host stopped it): its sandbox and every process in it
    /// end.
    fn release(&self, agent: &Address);
}

/// How a sandbox operation reaches its agent's database: inside a turn, the turn's own
/// connection (the sync is part of the turn's transaction); elsewhere, a visit to the
/// agent between its turns (one transaction of its own).
#[derive(Clone)]
pub struct AgentDbAccess(Access);

#[derive(Clone)]
enum Access {
    Turn(Arc<Mutex<AgentDb>>),
    Between(Visit),
}

/// Work on an agent's database, run by a [`Visit`].
pub(crate) type DbWork = Box<dyn FnOnce(&mut AgentDb) + Send>;

/// A visit to one agent between its turns: runs the work on its database in a
/// transaction of its own (the host builds it over `AgentHost::with_new_or_existing_db`,
/// so this module needs nothing of the host's).
pub(crate) type Visit =
    Arc<dyn Fn(DbWork) -> Pin<Box<dyn Future<Output = Result<(), Error>> + Send>> + Send + Sync>;

impl fmt::Debug for AgentDbAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Access::Turn(_) => "AgentDbAccess::Turn",
            Access::Between(..) => "AgentDbAccess::Between",
        })
    }
}

impl AgentDbAccess {
    pub(crate) fn turn(db: Arc<Mutex<AgentDb>>) -> Self {
        AgentDbAccess(Access::Turn(db))
    }

    pub(crate) fn between(visit: Visit) -> Self {
        AgentDbAccess(Access::Between(visit))
    }

    /// Runs `f` on the agent's database.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut AgentDb) -> T + Send + 'static,
        T: Send + 'static,
    {
        match &self.0 {
            Access::Turn(db) => {
                let db = Arc::clone(db);
                // SQLite and file copies block: off the runtime's worker threads.
                tokio::task::spawn_blocking(move || f(&mut lock(&db)))
                    .await
                    .map_err(|_| Error::InvalidInput("the workspace sync panicked".into()))
            }
            Access::Between(visit) => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                visit(Box::new(move |db| {
                    let _ = tx.send(f(db));
                }))
                .await?;
                // The visit succeeded, so the work ran and sent its result.
                rx.await
                    .map_err(|_| Error::InvalidInput("the workspace sync panicked".into()))
            }
        }
    }
}

/// Why a class's agents cannot use a sandbox, if they cannot.
pub(crate) fn refusal(
    class: &str,
    settings: Option<&ClassSandbox>,
    offered: bool,
) -> Option<HostError> {
    if settings.is_none() {
        return Some(
            HostError::new(
                "SANDBOX_DISABLED",
                format!(
                    "agents of class {class} have no Linux sandbox: add `static sandbox = true` to \
                     the class (and start islet serve with --linux-sandbox)"
                ),
            )
            .with_kind(base::ErrorKind::Invalid),
        );
    }
    if !offered {
        return Some(
            HostError::new(
                "SANDBOX_UNAVAILABLE",
                "this server offers no Linux sandboxes: start islet serve with --linux-sandbox \
                 (islet doctor says whether this machine can run them)",
            )
            .with_kind(base::ErrorKind::Unavailable),
        );
    }
    None
}
