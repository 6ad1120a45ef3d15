//! Issue 16, item 4: dynamic isolates for agent code (`this.isolates`).

use serde_json::json;

use crate::support::*;

const HOST: &str = r#"
import { Agent } from "agents";
export default class Host extends Agent {
  async once(code, options) { return this.isolates.run(code, options); }
  async tryRun(code, options) {
    try { return { ok: await this.isolates.run(code, options) }; }
    catch (e) { return { error: `${e.code}: ${e.message}` }; }
  }
  async note(text) {
    await this.storage.put("note", text);
    return `noted ${text}`;
  }
  async stored() { return (await this.storage.get("note")) ?? null; }
  async load(id, code, options) {
    const stub = await this.isolates.load(id, code, options);
    return stub.add(2);
  }
  async again(id, fn, ...args) {
    const stub = await this.isolates.get(id);
    if (!stub) return "not loaded";
    try { return await stub[fn](...args); }
    catch (e) { return `${e.code}: ${e.message}`; }
  }
}
"#;

const CALC: &str = r#"
let total = 0;
export function add(n: number) { total += n; return total; }
export const twice = (n) => n * 2;
export async function remember(text) { return agent.note(text); }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue16_run_executes_code_once_with_only_the_bindings_the_agent_chose() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("host.ts", HOST)]).await;
    assert_eq!(
        g.call("Host", "h", "once", vec![json!("return 1 + 2")])
            .await,
        json!(3)
    );
    // Its own methods (running inside the agent's waiting turn) and its workspace.
    let options = json!({ "bindings": { "methods": ["note"], "workspace": "read-write" } });
    let code = r#"
      const said = await agent.note("from the isolate");
      await workspace.write("/made.txt", "by dynamic code");
      return [said, await workspace.read("/made.txt"), typeof agents, typeof globalThis.__agent, typeof fetch];
    "#;
    assert_eq!(
        g.call("Host", "h", "once", vec![json!(code), options])
            .await,
        json!([
            "noted from the isolate",
            "by dynamic code",
            "undefined",
            "undefined",
            "undefined"
        ])
    );
    assert_eq!(
        g.call("Host", "h", "stored", vec![]).await,
        json!("from the isolate")
    );
    // Read-only workspace: reading works, writing is refused.
    let read_only = json!({ "bindings": { "workspace": "read" } });
    let out = g
        .call(
            "Host",
            "h",
            "tryRun",
            vec![
                json!("return [await workspace.read('/made.txt'), await workspace.write('/x.txt', 'no')]"),
                read_only,
            ],
        )
        .await;
    let error = out["error"].as_str().unwrap();
    assert!(error.contains("may only read the workspace"), "{error}");
    // Nothing chosen: no workspace, no agent.
    let out = g
        .call(
            "Host",
            "h",
            "tryRun",
            vec![json!("return workspace.read('/made.txt')")],
        )
        .await;
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("workspace is not defined"),
        "{out}"
    );
    // A method the class does not have is refused before anything runs.
    let out = g
        .call(
            "Host",
            "h",
            "tryRun",
            vec![
                json!("return 1"),
                json!({ "bindings": { "methods": ["nope"] } }),
            ],
        )
        .await;
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("`nope` is not a method of Host"),
        "{out}"
    );
    // fetch, when asked for, is the agent's own: refused on a server that gives agents none.
    let out = g
        .call(
            "Host",
            "h",
            "tryRun",
            vec![
                json!("return (await fetch('https://example.com')).status"),
                json!({ "fetch": true }),
            ],
        )
        .await;
    assert!(
        out["error"].as_str().unwrap().contains("FETCH_DENIED")
            || out["error"]
                .as_str()
                .unwrap()
                .contains("fetch is not available"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_limits_contain_dynamic_code_and_the_agent_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("host.ts", HOST)]).await;
    let out = g
        .call(
            "Host",
            "h",
            "tryRun",
            vec![json!("for (;;) {}"), json!({ "limits": { "cpuMs": 50 } })],
        )
        .await;
    let error = out["error"].as_str().unwrap();
    assert!(
        error.starts_with("LIMIT") && error.contains("CPU time limit of 50 ms"),
        "{error}"
    );
    let out = g
        .call(
            "Host",
            "h",
            "tryRun",
            vec![
                json!("const a = []; for (;;) a.push(new Array(100000).fill(1));"),
                json!({ "limits": { "memoryMb": 8 } }),
            ],
        )
        .await;
    assert!(out["error"].as_str().unwrap().starts_with("LIMIT"), "{out}");
    // A bad option is a clear error.
    let out = g
        .call(
            "Host",
            "h",
            "tryRun",
            vec![json!("return 1"), json!({ "limit": {} })],
        )
        .await;
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `limit`"),
        "{out}"
    );
    assert_eq!(
        g.call("Host", "h", "once", vec![json!("return 'still fine'")])
            .await,
        json!("still fine")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_a_loaded_module_keeps_its_isolate_between_calls_and_turns() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("host.ts", HOST)]).await;
    let options = json!({ "bindings": { "methods": ["note"] } });
    assert_eq!(
        g.call(
            "Host",
            "h",
            "load",
            vec![json!("calc"), json!(CALC), options]
        )
        .await,
        json!(2)
    );
    // Another turn: the same isolate, its module state kept.
    assert_eq!(
        g.call(
            "Host",
            "h",
            "again",
            vec![json!("calc"), json!("add"), json!(3)]
        )
        .await,
        json!(5)
    );
    assert_eq!(
        g.call(
            "Host",
            "h",
            "again",
            vec![json!("calc"), json!("twice"), json!(21)]
        )
        .await,
        json!(42)
    );
    assert_eq!(
        g.call(
            "Host",
            "h",
            "again",
            vec![json!("calc"), json!("remember"), json!("kept")]
        )
        .await,
        json!("noted kept")
    );
    assert_eq!(g.call("Host", "h", "stored", vec![]).await, json!("kept"));
    let out = g
        .call("Host", "h", "again", vec![json!("calc"), json!("missing")])
        .await;
    assert!(
        out.as_str()
            .unwrap()
            .contains("exports add, twice, remember"),
        "{out}"
    );
    assert_eq!(
        g.call("Host", "h", "again", vec![json!("other"), json!("add")])
            .await,
        json!("not loaded")
    );
    // A module that does not parse says where.
    let e = g
        .call_err(
            "Host",
            "h",
            "load",
            vec![json!("bad"), json!("export function (")],
        )
        .await;
    assert!(e.to_string().contains("does not parse: line 1"), "{e}");
}
