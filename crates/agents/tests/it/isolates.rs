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

const SHOP: &str = r#"
import { Agent, createCodeTool } from "agents";
export default class Shop extends Agent {
  codeTool() {
    return createCodeTool({
      price: {
        description: "The price of an item, in cents",
        inputSchema: { type: "object", properties: { item: { type: "string", description: "the item's name" } }, required: ["item"] },
        execute: async ({ item }) => ({ apple: 30, pear: 45 })[item] ?? null,
      },
      order: {
        description: "Orders items",
        inputSchema: { type: "object", properties: { items: { type: "array", items: { type: "string" } }, express: { type: "boolean" } } },
        execute: async ({ items }) => { await this.storage.put("ordered", items); return items.length; },
      },
      broken: { description: "Always fails", execute: async () => { throw new Error("out of stock"); } },
    }, { limits: { cpuMs: 200 } });
  }
  async run(code) {
    try { return { ok: await this.codeTool().execute({ code }) }; }
    catch (e) { return { error: `${e.code}: ${e.message}` }; }
  }
  async describe() { return this.codeTool().description; }
  async ordered() { return (await this.storage.get("ordered")) ?? null; }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue16_create_code_tool_gives_code_mode_over_the_agents_own_tools() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("shop.ts", SHOP)]).await;
    // The model's code chains, filters and loops over the tools in one run.
    let code = r#"
      const prices = {};
      for (const item of ["apple", "pear", "plum"]) prices[item] = await codemode.price({ item });
      const cheap = Object.keys(prices).filter((i) => prices[i] !== null && prices[i] < 40);
      const count = await codemode.order({ items: cheap });
      return { prices, cheap, count, others: [typeof agents, typeof fetch, typeof workspace] };
    "#;
    assert_eq!(
        g.call("Shop", "s", "run", vec![json!(code)]).await,
        json!({"ok": {
            "prices": {"apple": 30, "pear": 45, "plum": null},
            "cheap": ["apple"],
            "count": 1,
            "others": ["undefined", "undefined", "undefined"],
        }})
    );
    assert_eq!(
        g.call("Shop", "s", "ordered", vec![]).await,
        json!(["apple"])
    );
    // A tool's failure is an exception the code may catch; uncaught, the run fails.
    let caught = r#"try { await codemode.broken({}); } catch (e) { return e.message; }"#;
    let out = g.call("Shop", "s", "run", vec![json!(caught)]).await;
    assert!(
        out["ok"].as_str().unwrap().contains("out of stock"),
        "{out}"
    );
    let out = g
        .call(
            "Shop",
            "s",
            "run",
            vec![json!("return await codemode.nope({})")],
        )
        .await;
    assert!(
        out["error"].as_str().unwrap().contains("ISOLATE_ERROR"),
        "{out}"
    );
    // Its limits hold: an endless loop is stopped and the agent goes on.
    let out = g.call("Shop", "s", "run", vec![json!("for (;;) {}")]).await;
    assert!(out["error"].as_str().unwrap().contains("LIMIT"), "{out}");
    // The description carries the tools' TypeScript declarations.
    let description = g.call("Shop", "s", "describe", vec![]).await;
    let description = description.as_str().unwrap();
    for wanted in [
        "declare const codemode: {",
        "/** The price of an item, in cents */",
        "price(input: { /** the item's name */ item: string }): Promise<unknown>;",
        "order(input: { items?: Array<string>; express?: boolean }): Promise<unknown>;",
        "broken(input: {}): Promise<unknown>;",
    ] {
        assert!(description.contains(wanted), "{wanted}\n{description}");
    }
    // Without packages offered (no `HostConfig::packages`), imports are not promised.
    assert!(description.ends_with("No imports."), "{description}");
    assert!(!description.contains("npm"), "{description}");
}
