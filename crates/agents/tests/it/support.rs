use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agents::{AgentHost, Classes, HostConfig};
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use store::{DataDir, Env, ManualClock, SequentialIds};

pub(crate) const COUNTER: &str = r#"
import { Agent } from "agents";
export default class Counter extends Agent {
  wakeCalls = 0;
  async onStart() { this.started = (this.started ?? 0) + 1; }
  async increment(by = 1) {
    this.wakeCalls++;
    const count = (this.state?.count ?? 0) + by;
    await this.setState({ count });
    return count;
  }
  async get() { return this.state?.count ?? 0; }
  async memory() { return { wakeCalls: this.wakeCalls, started: this.started, seen: this.seen ? [...this.seen] : null }; }
  async remember(x) { this.seen ??= new Set(); this.seen.add(x); return this.seen.size; }
  async failAfterWrite() {
    await this.setState({ count: 999 });
    await this.storage.put("half", true);
    throw new Error("boom after writing");
  }
  async half() { return (await this.storage.get("half")) ?? null; }
  async callOther(name) { return agents.Counter(name).increment(10); }
  async callSelfThrough(name) { return agents.Counter(name).callBack(this.name); }
  async callBack(name) { return agents.Counter(name).get(); }
  _private() { return 1; }
}
"#;

pub(crate) fn sources(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(origin, source)| ((*origin).to_owned(), (*source).to_owned()))
        .collect()
}

pub(crate) fn given_sandbox() -> Arc<Sandbox> {
    Arc::new(Sandbox::new(SandboxConfig { threads: 2 }).expect("sandbox"))
}

pub(crate) struct Given {
    pub host: AgentHost,
    pub clock: Arc<ManualClock>,
    pub data: Arc<DataDir>,
}

impl Given {
    /// `host.call(…)`, which must succeed.
    pub(crate) async fn call(
        &self,
        class: &str,
        name: &str,
        method: &str,
        args: Vec<Value>,
    ) -> Value {
        self.host
            .call(class, name, method, args)
            .await
            .unwrap_or_else(|e| panic!("{class}({name}).{method}: {e}"))
    }

    /// `host.call(…)`, which must fail.
    pub(crate) async fn call_err(
        &self,
        class: &str,
        name: &str,
        method: &str,
        args: Vec<Value>,
    ) -> agents::Error {
        match self.host.call(class, name, method, args).await {
            Ok(v) => panic!("{class}({name}).{method} succeeded with {v}"),
            Err(e) => e,
        }
    }
}

pub(crate) fn given_env(clock: &Arc<ManualClock>) -> Env {
    Env {
        clock: Arc::clone(clock) as _,
        ids: Arc::new(SequentialIds::new("id")),
    }
}

/// A host over `dir` serving `list` with a manual clock starting at `now_ms`.
pub(crate) async fn given_host_at(
    dir: &Path,
    list: &[(&str, &str)],
    now_ms: i64,
    config: HostConfig,
) -> Given {
    let clock = Arc::new(ManualClock::new(now_ms));
    let data = Arc::new(DataDir::open(dir, given_env(&clock)).expect("data dir"));
    let sandbox = given_sandbox();
    let classes = Classes::from_sources(sources(list), &sandbox)
        .await
        .expect("classes load");
    let host = AgentHost::start(Arc::clone(&data), classes, sandbox, config).expect("host");
    Given { host, clock, data }
}

/// A host whose sandbox has `threads` executor threads: an agent waiting on another holds
/// one, so calls nested (or running side by side) beyond the count wait for a thread.
pub(crate) async fn given_host_with_threads(
    dir: &Path,
    list: &[(&str, &str)],
    threads: usize,
) -> Given {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let data = Arc::new(DataDir::open(dir, given_env(&clock)).expect("data dir"));
    let sandbox = Arc::new(Sandbox::new(SandboxConfig { threads }).expect("sandbox"));
    let classes = Classes::from_sources(sources(list), &sandbox)
        .await
        .expect("classes load");
    let host =
        AgentHost::start(Arc::clone(&data), classes, sandbox, HostConfig::default()).expect("host");
    Given { host, clock, data }
}

pub(crate) async fn given_host(dir: &Path, list: &[(&str, &str)]) -> Given {
    given_host_at(dir, list, 1_700_000_000_000, HostConfig::default()).await
}

pub(crate) fn quick_hibernation() -> HostConfig {
    HostConfig {
        idle_timeout: Duration::from_millis(50),
        ..HostConfig::default()
    }
}

/// Waits (bounded) until `f` holds; the bound is generous and only guards against hangs.
pub(crate) async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..1_000 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f()
}
