//! `static sandbox` and `this.sandbox` (issue 18) against a fake embedder: the host's side
//! of Linux sandboxes (who asks, through which database, and when a sandbox ends), without
//! making any.

use std::sync::{Arc, Mutex};

use agents::{
    Address, AgentDbAccess, AgentSandboxes, ClassSandbox, Classes, HostConfig, SandboxFuture,
};
use serde_json::{Value, json};

use crate::support::*;

/// Records every call and release; each call writes `/sandbox-<op>.txt` through the
/// database access it was given and answers what it saw.
#[derive(Debug, Default)]
struct Fake {
    calls: Mutex<Vec<(String, String, Value)>>,
    released: Mutex<Vec<String>>,
}

impl AgentSandboxes for Fake {
    fn call(
        &self,
        agent: &Address,
        settings: &ClassSandbox,
        op: String,
        args: Value,
        db: AgentDbAccess,
    ) -> SandboxFuture {
        self.calls
            .lock()
            .unwrap()
            .push((agent.to_string(), op.clone(), args.clone()));
        let network = settings.network.clone();
        Box::pin(async move {
            let path = format!("/sandbox-{op}.txt");
            db.run(move |db| db.workspace().write(&path, b"synced").map(drop))
                .await
                .map_err(|e| sandbox::HostError::new(e.code(), e.to_string()))?
                .map_err(|e| sandbox::HostError::new(e.code(), e.to_string()))?;
            Ok(json!({ "op": op, "args": args, "network": network }))
        })
    }

    fn release(&self, agent: &Address) {
        self.released.lock().unwrap().push(agent.to_string());
    }
}

const BOXED: &str = r#"
export default class Boxed extends Agent {
  static sandbox = { network: ["pypi.org"] };
  async run() {
    const r = await this.sandbox.exec("ls -la", { timeout: 5000 });
    return { r, file: await this.workspace.read("/sandbox-exec.txt") };
  }
}
"#;

const OPEN: &str = r#"
export default class Open extends Agent {
  async run() { return await this.sandbox.exec("ls"); }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue18_this_sandbox_goes_to_the_embedder_with_the_turns_database() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::default());
    let config = HostConfig {
        sandboxes: Some(fake.clone() as Arc<dyn AgentSandboxes>),
        ..quick_hibernation()
    };
    let g = given_host_at(
        dir.path(),
        &[("boxed.ts", BOXED), ("open.ts", OPEN)],
        0,
        config,
    )
    .await;
    let out = g.call("Boxed", "b", "run", vec![]).await;
    assert_eq!(
        out["r"],
        json!({"op": "exec", "args": {"timeout": 5000, "command": "ls -la"}, "network": ["pypi.org"]})
    );
    // Written through the turn's own database: visible in the same turn.
    assert_eq!(out["file"], json!("synced"));

    // From outside a turn (HTTP, Think tools): the same embedder, the database visited
    // between turns.
    let out = g
        .host
        .linux_sandbox("Boxed", "b", "listFiles", json!({}))
        .await
        .unwrap();
    assert_eq!(out["op"], json!("listFiles"));
    assert!(g.host.linux_sandbox_enabled("Boxed"));
    assert!(!g.host.linux_sandbox_enabled("Open"));

    // A class that did not opt in is refused, saying how to opt in.
    let e = g.call_err("Open", "o", "run", vec![]).await;
    assert!(e.to_string().contains("static sandbox = true"), "{e}");
    let e = g
        .host
        .linux_sandbox("Open", "o", "exec", json!({"command": "ls"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "SANDBOX_DISABLED");
    assert_eq!(fake.calls.lock().unwrap().len(), 2);

    // The agent hibernates: its sandbox is released.
    assert!(
        eventually(|| fake
            .released
            .lock()
            .unwrap()
            .contains(&"agents.Boxed(\"b\")".to_owned()))
        .await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_without_an_embedder_this_sandbox_says_how_to_turn_it_on() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("boxed.ts", BOXED)]).await;
    let e = g.call_err("Boxed", "b", "run", vec![]).await;
    assert!(e.to_string().contains("--linux-sandbox"), "{e}");
    let e = g
        .host
        .linux_sandbox("Boxed", "b", "exec", json!({"command": "ls"}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "SANDBOX_UNAVAILABLE");
    assert_eq!(e.kind(), base::ErrorKind::Unavailable);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue18_static_sandbox_is_read_at_load_and_bad_shapes_fail_there() {
    let sandbox = given_sandbox();
    let classes = Classes::from_sources(
        sources(&[
            ("on.js", "export default class On extends Agent { static sandbox = true; }"),
            ("off.js", "export default class Off extends Agent { static sandbox = false; }"),
            ("net.js", "export default class Net extends Agent { static sandbox = { network: ['*.github.com'] }; }"),
        ]),
        &sandbox,
    )
    .await
    .unwrap();
    assert_eq!(
        classes.get("On").unwrap().sandbox,
        Some(ClassSandbox::default())
    );
    assert_eq!(classes.get("Off").unwrap().sandbox, None);
    assert_eq!(
        classes.get("Net").unwrap().sandbox,
        Some(ClassSandbox {
            network: vec!["*.github.com".into()]
        })
    );
    for (origin, source) in [
        (
            "string.js",
            "export default class A extends Agent { static sandbox = 'yes'; }",
        ),
        (
            "list.js",
            "export default class A extends Agent { static sandbox = { network: 'a.com' }; }",
        ),
        (
            "typo.js",
            "export default class A extends Agent { static sandbox = { hosts: ['a.com'] }; }",
        ),
    ] {
        let e = Classes::from_sources(sources(&[(origin, source)]), &sandbox)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains(origin) && e.to_string().contains("static sandbox is true"),
            "{origin}: {e}"
        );
    }
}
