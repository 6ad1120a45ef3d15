//! Issue 16, item 5 (first part): extensions an agent installs, with versions and the
//! permissions of their manifest enforced host-side.

use std::sync::{Arc, Mutex};

use agents::HostConfig;
use sandbox::HostError;
use serde_json::{Value, json};

use crate::support::*;

const OWNER: &str = r#"
import { Agent } from "agents";
export default class Owner extends Agent {
  async install(spec) { return this.extensions.install(spec); }
  async list() { return this.extensions.list(); }
  async use(name, tool, input) {
    try { return { ok: await this.extensions.call(name, tool, input) }; }
    catch (e) { return { error: `${e.code}: ${e.message}` }; }
  }
  async enable(name, on) { return on ? this.extensions.enable(name) : this.extensions.disable(name); }
  async rollback(name, version) { return this.extensions.rollback(name, version); }
  async remove(name) { return this.extensions.delete(name); }
  async write(path, text) { await this.workspace.write(path, text); }
}
"#;

fn notes(version: &str) -> String {
    format!(
        r#"
export const tools = {{
  read_note: {{
    description: "Reads a note from the workspace",
    inputSchema: {{ type: "object", properties: {{ path: {{ type: "string" }} }}, required: ["path"] }},
    async execute(args, host) {{ return "{version}: " + await host.workspace.read(args.path); }},
  }},
  write_note: {{
    description: "Writes a note",
    async execute(args, host) {{ await host.workspace.write(args.path, args.text); return "written"; }},
  }},
  spin: {{ description: "Never ends", execute() {{ for (;;) {{}} }} }},
  bomb: {{ description: "Allocates without end", execute() {{ const a = []; for (;;) a.push(new Array(1e5).fill(7)); }} }},
  snoop: {{ description: "Looks for other agents' data", async execute(args, host) {{
    return [typeof agents, typeof globalThis.__agent, typeof globalThis.__isletSub, typeof host.memory, typeof sql, Object.keys(host).filter((k) => host[k] !== undefined)];
  }} }},
  call_out: {{ description: "Fetches a URL", async execute(args, host) {{ return typeof host.fetch === "function" ? (await host.fetch(args.url)).status : "no fetch"; }} }},
}};
"#
    )
}

/// Calls the extension's `read_note` tool on `/a.md`.
async fn read(g: &Given) -> Value {
    g.call(
        "Owner",
        "o",
        "use",
        vec![
            json!("notes"),
            json!("read_note"),
            json!({ "path": "/a.md" }),
        ],
    )
    .await
}

fn spec(name: &str, source: &str, permissions: Value) -> Vec<Value> {
    vec![
        json!({ "name": name, "source": source, "description": "notes", "permissions": permissions }),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_an_extension_is_checked_stored_with_versions_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("owner.ts", OWNER)]).await;
    g.call("Owner", "o", "write", vec![json!("/a.md"), json!("hello")])
        .await;
    let installed = g
        .call(
            "Owner",
            "o",
            "install",
            spec("notes", &notes("v1"), json!({ "workspace": "read" })),
        )
        .await;
    assert_eq!(installed["version"], json!(1));
    let names: Vec<&str> = installed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "read_note",
            "write_note",
            "spin",
            "bomb",
            "snoop",
            "call_out"
        ]
    );
    assert_eq!(
        installed["tools"][0]["inputSchema"]["required"],
        json!(["path"])
    );
    assert_eq!(read(&g).await, json!({ "ok": "v1: hello" }));
    // `workspace: "read"`: writing is refused host-side.
    let out = g
        .call(
            "Owner",
            "o",
            "use",
            vec![
                json!("notes"),
                json!("write_note"),
                json!({ "path": "/b.md", "text": "x" }),
            ],
        )
        .await;
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("may only read the workspace"),
        "{out}"
    );
    // No network asked for: no fetch.
    let out = g
        .call(
            "Owner",
            "o",
            "use",
            vec![
                json!("notes"),
                json!("call_out"),
                json!({ "url": "https://example.com" }),
            ],
        )
        .await;
    assert_eq!(out, json!({ "ok": "no fetch" }));
    // An infinite loop is contained by the agent's limits; the agent goes on.
    let out = g
        .call(
            "Owner",
            "o",
            "use",
            vec![json!("notes"), json!("spin"), json!({})],
        )
        .await;
    assert!(out["error"].as_str().unwrap().starts_with("LIMIT"), "{out}");
    // So is a memory bomb.
    let out = g
        .call(
            "Owner",
            "o",
            "use",
            vec![json!("notes"), json!("bomb"), json!({})],
        )
        .await;
    let error = out["error"].as_str().unwrap();
    assert!(
        error.starts_with("LIMIT") && error.contains("memory"),
        "{out}"
    );
    // Nothing of the agent (nor of any other) is in reach but what the manifest grants.
    let out = g
        .call(
            "Owner",
            "o",
            "use",
            vec![json!("notes"), json!("snoop"), json!({})],
        )
        .await;
    assert_eq!(
        out,
        json!({ "ok": ["undefined", "undefined", "undefined", "undefined", "undefined", ["workspace"]] })
    );

    // Version 2 replaces it; a rollback restores version 1's behaviour.
    let v2 = g
        .call(
            "Owner",
            "o",
            "install",
            spec("notes", &notes("v2"), json!({ "workspace": "read-write" })),
        )
        .await;
    assert_eq!(v2["version"], json!(2));
    assert_eq!(read(&g).await, json!({ "ok": "v2: hello" }));
    let out = g
        .call(
            "Owner",
            "o",
            "use",
            vec![
                json!("notes"),
                json!("write_note"),
                json!({ "path": "/b.md", "text": "x" }),
            ],
        )
        .await;
    assert_eq!(out, json!({ "ok": "written" }));
    g.call("Owner", "o", "rollback", vec![json!("notes"), json!(1)])
        .await;
    assert_eq!(read(&g).await, json!({ "ok": "v1: hello" }));
    let listed = g.call("Owner", "o", "list", vec![]).await;
    assert_eq!(listed[0]["version"], json!(1));
    assert_eq!(listed[0]["versions"], json!([1, 2]));
    assert_eq!(
        listed[0]["manifest"]["permissions"]["workspace"],
        json!("read")
    );
    let e = g
        .call_err("Owner", "o", "rollback", vec![json!("notes"), json!(7)])
        .await;
    assert!(e.to_string().contains("has no approved version 7"), "{e}");

    // Disabled: its tools are refused until it is enabled again.
    g.call("Owner", "o", "enable", vec![json!("notes"), json!(false)])
        .await;
    let out = read(&g).await;
    assert!(
        out["error"].as_str().unwrap().starts_with("DISABLED"),
        "{out}"
    );
    g.call("Owner", "o", "enable", vec![json!("notes"), json!(true)])
        .await;
    assert_eq!(read(&g).await, json!({ "ok": "v1: hello" }));

    // It survives a restart.
    g.host.shutdown(std::time::Duration::from_secs(5)).await;
    drop(g);
    let g = given_host(dir.path(), &[("owner.ts", OWNER)]).await;
    assert_eq!(read(&g).await, json!({ "ok": "v1: hello" }));
    assert_eq!(
        g.call("Owner", "o", "remove", vec![json!("notes")]).await,
        json!(true)
    );
    let out = read(&g).await;
    assert!(
        out["error"].as_str().unwrap().starts_with("NOT_FOUND"),
        "{out}"
    );
    assert_eq!(g.call("Owner", "o", "list", vec![]).await, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_bad_extensions_are_refused_with_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("owner.ts", OWNER)]).await;
    let cases = [
        (
            spec("notes", "export const tools = {", json!({})),
            "does not parse: line 1",
        ),
        (
            spec("notes", "export const other = 1;", json!({})),
            "exports no `tools`",
        ),
        (
            spec(
                "notes",
                "export const tools = { t: { execute() {} } };",
                json!({}),
            ),
            "tool t has no description",
        ),
        (
            spec("Bad Name", &notes("v1"), json!({})),
            "lower-case letters",
        ),
        (
            spec("notes", &notes("v1"), json!({ "workspace": "all" })),
            "permissions.workspace",
        ),
        (
            spec(
                "notes",
                &notes("v1"),
                json!({ "network": ["https://x.com/path"] }),
            ),
            "is not a host",
        ),
        (
            spec(
                "notes",
                &notes("v1"),
                json!({ "network": ["api.example.com"] }),
            ),
            "gives extensions no network",
        ),
    ];
    for (args, expected) in cases {
        let e = g.call_err("Owner", "o", "install", args).await;
        assert!(e.to_string().contains(expected), "{expected}: {e}");
    }
    assert_eq!(g.call("Owner", "o", "list", vec![]).await, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_an_extensions_fetch_is_the_embedders_fetcher_for_exactly_its_hosts() {
    let dir = tempfile::tempdir().unwrap();
    // The embedder's fetcher (islet serve: an egress Fetcher allowing exactly `hosts`);
    // here one that records which hosts it was made for and refuses every request.
    let made_for: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let record = Arc::clone(&made_for);
    let config = HostConfig {
        extension_fetch: Some(Arc::new(move |hosts: &[String]| {
            record.lock().unwrap().push(hosts.to_vec());
            let hosts = hosts.join(",");
            let fetch: sandbox::HostFn = Arc::new(move |_args: Value| {
                let hosts = hosts.clone();
                Box::pin(async move {
                    Err(HostError::new(
                        "FETCH_DENIED",
                        format!("test fetcher for {hosts}"),
                    ))
                })
            });
            Ok(fetch)
        })),
        ..HostConfig::default()
    };
    let g = given_host_at(
        dir.path(),
        &[("owner.ts", OWNER)],
        1_700_000_000_000,
        config,
    )
    .await;
    g.call(
        "Owner",
        "o",
        "install",
        spec(
            "notes",
            &notes("v1"),
            json!({ "network": ["api.example.com", "*.test.example"] }),
        ),
    )
    .await;
    let out = g
        .call(
            "Owner",
            "o",
            "use",
            vec![
                json!("notes"),
                json!("call_out"),
                json!({ "url": "https://api.example.com/x" }),
            ],
        )
        .await;
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains("test fetcher for api.example.com,*.test.example"),
        "{error}"
    );
    assert_eq!(
        *made_for.lock().unwrap(),
        vec![vec![
            "api.example.com".to_owned(),
            "*.test.example".to_owned()
        ]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_the_operators_policy_caps_what_an_extension_may_ask_for() {
    let dir = tempfile::tempdir().unwrap();
    let fetch: agents::ExtensionFetch = Arc::new(|_hosts: &[String]| {
        let refuse: sandbox::HostFn =
            Arc::new(|_| Box::pin(async { Err(HostError::new("FETCH_DENIED", "test")) }));
        Ok(refuse)
    });
    let policy: agents::ExtensionPolicy = serde_json::from_value(json!({
        "network": ["*.example.com", "api.example.org"], "workspace": "read", "memory": "none"
    }))
    .unwrap();
    let config = HostConfig {
        extension_fetch: Some(fetch),
        extension_policy: Some(policy),
        ..HostConfig::default()
    };
    let g = given_host_at(
        dir.path(),
        &[("owner.ts", OWNER)],
        1_700_000_000_000,
        config,
    )
    .await;
    for (permissions, fits) in [
        (
            json!({ "network": ["api.example.com", "*.eu.example.com", "*.example.com"] }),
            true,
        ),
        (json!({ "network": ["example.com"] }), false),
        (
            json!({ "network": ["API.EXAMPLE.ORG"], "workspace": "read" }),
            true,
        ),
        (json!({ "network": ["example.org"] }), false),
        (json!({ "network": ["*.example.org"] }), false),
        (json!({ "workspace": "read-write" }), false),
        (json!({ "memory": "read" }), false),
    ] {
        let result = g
            .host
            .call(
                "Owner",
                "o",
                "install",
                spec("notes", &notes("v1"), permissions.clone()),
            )
            .await;
        let installed = result.unwrap_or_else(|e| panic!("{permissions}: {e}"));
        if fits {
            assert_eq!(installed.get("pending"), None, "{permissions}: {installed}");
        } else {
            assert_eq!(
                installed["pending"],
                json!(true),
                "{permissions}: {installed}"
            );
            let why = installed["beyondPolicy"].as_str().unwrap();
            assert!(
                why.contains("beyond this server's extension policy"),
                "{why}"
            );
        }
    }
    // The versions beyond the policy wait; the last one that fit stays active, and the
    // agent cannot make a waiting one active itself.
    let listed = g.call("Owner", "o", "list", vec![]).await;
    assert_eq!(listed[0]["version"], json!(3), "{listed}");
    assert_eq!(listed[0]["pending"], json!([2, 4, 5, 6, 7]), "{listed}");
    let e = g
        .call_err("Owner", "o", "rollback", vec![json!("notes"), json!(6)])
        .await;
    assert!(e.to_string().contains("approval"), "{e}");
    // A person approves (islet serve: POST …/extensions/notes/approve).
    g.host
        .with_db_at(&agents::Address::new("Owner", "o"), |db| {
            Ok(db.extensions().approve("notes", 6)?)
        })
        .await
        .unwrap();
    let listed = g.call("Owner", "o", "list", vec![]).await;
    assert_eq!(listed[0]["version"], json!(6), "{listed}");
    assert_eq!(
        listed[0]["manifest"]["permissions"]["workspace"],
        json!("read-write")
    );
}
