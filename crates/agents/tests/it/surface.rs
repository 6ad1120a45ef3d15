//! The callable surface of a class (issue 13, items 5–9): which methods callers reach, what
//! the source says about them, the errors agent code chooses, and module load errors.

use crate::support::*;
use agents::{Classes, HostConfig};
use sandbox::Limits;
use serde_json::json;

const VAULT: &str = r#"
import { Agent } from "agents";
export default class Vault extends Agent {
  /** Stores a secret under a key.
   * @param key where to keep it */
  async put(key: string, value: { secret: string; tags?: string[] }, ...notes: string[]): Promise<number> {
    await this.storage.put(key, value);
    return notes.length;
  }
  async peek(key, fallback = "none") { return (await this.storage.get(key)) ?? fallback; }
  private async wipe() { await this.storage.deleteAll(); return "wiped"; }
  protected async audit() { return "audit"; }
  _helper() { return "helper"; }
  #hidden() { return "hidden"; }
  async later() { return this.schedule(60, "wipe", null); }
}
"#;

const MARKED: &str = r#"
import { Agent, callable } from "agents";
export default class Marked extends Agent {
  @callable()
  async open(a: number) { return a + 1; }
  @callable
  async also() { return "also"; }
  async testHelper() { return "should not be reachable"; }
}
"#;

const LISTED: &str = r#"
export default class Listed extends Agent {
  static callable = ["open"];
  async open() { return "open"; }
  async internal() { return "internal"; }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue13_5_private_protected_and_unmarked_methods_are_not_callable() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(
        dir.path(),
        &[
            ("vault.ts", VAULT),
            ("marked.ts", MARKED),
            ("listed.js", LISTED),
        ],
    )
    .await;
    let classes = g.host.classes();
    assert_eq!(
        classes.get("Vault").unwrap().methods,
        ["later", "peek", "put"]
    );
    assert_eq!(classes.get("Marked").unwrap().methods, ["also", "open"]);
    assert_eq!(classes.get("Listed").unwrap().methods, ["open"]);

    for (class, method) in [
        ("Vault", "wipe"),
        ("Vault", "audit"),
        ("Vault", "_helper"),
        ("Marked", "testHelper"),
        ("Listed", "internal"),
    ] {
        let e = g.call_err(class, "a", method, vec![]).await;
        assert_eq!(e.code(), "UNKNOWN_METHOD", "{class}.{method}: {e}");
        assert!(
            e.to_string().contains("not callable"),
            "{class}.{method}: {e}"
        );
    }
    assert_eq!(
        g.call("Marked", "a", "open", vec![json!(1)]).await,
        json!(2)
    );
    assert_eq!(g.call("Listed", "a", "open", vec![]).await, json!("open"));

    // Other agents reach only the callable methods too.
    let bindings = g.host.bindings();
    assert!(bindings.get("agents.Vault", "put").is_some());
    assert!(bindings.get("agents.Vault", "wipe").is_none());

    // A schedule may still name a private method: it is the class calling itself.
    let s = g.call("Vault", "a", "later", vec![]).await;
    assert_eq!(s["callback"], json!("wipe"));
    g.clock.advance(61_000);
    for _ in 0..500 {
        let pending = g
            .host
            .with_db("Vault", "a", |db| Ok(db.schedules()?.len()))
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let left = g
        .host
        .with_db("Vault", "a", |db| Ok(db.schedules()?.len()))
        .await
        .unwrap();
    assert_eq!(left, 0, "the private callback ran");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_5_marks_that_name_hidden_or_missing_methods_fail_at_load() {
    let sandbox = given_sandbox();
    let cases = [
        (
            "typo.js",
            "export default class A extends Agent { static callable = ['opne']; open() {} }",
            "`opne` is marked callable but is not a method",
        ),
        (
            "private.ts",
            "export default class A extends Agent { @callable() private secret() {} }",
            "`secret` is marked callable but it is `private`",
        ),
        (
            "other.ts",
            "export default class A extends Agent { @logged() m() {} }",
            "decorators are not supported",
        ),
    ];
    for (origin, source, expected) in cases {
        let e = Classes::from_sources(sources(&[(origin, source)]), &sandbox)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(expected), "{origin}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_6_signatures_come_from_the_source() {
    let sandbox = given_sandbox();
    let classes = Classes::from_sources(sources(&[("vault.ts", VAULT)]), &sandbox)
        .await
        .unwrap();
    let vault = classes.get("Vault").unwrap();
    let put = &vault.signatures["put"];
    assert_eq!(
        put.params_ts(),
        "(key: string, value: { secret: string; tags?: string[] }, ...notes: string[])"
    );
    assert_eq!(
        put.args_ts(),
        "[key: string, value: { secret: string; tags?: string[] }, ...notes: string[]]"
    );
    assert_eq!(put.returns_ts(), "number");
    assert_eq!(
        put.doc.as_deref(),
        Some("Stores a secret under a key.\n@param key where to keep it")
    );
    assert!(put.requires_args());
    let peek = &vault.signatures["peek"];
    assert_eq!(peek.params_ts(), "(key: unknown, fallback?: string)");
    assert_eq!(peek.returns_ts(), "unknown");
    assert!(!vault.signatures.contains_key("wipe"));
}

const SHOP: &str = r#"
export default class Shop extends Agent {
  async item(id) {
    if (typeof id !== "string") throw new HttpError(400, "item(id): id is a string");
    const item = await this.storage.get(id);
    if (item === undefined) throw new HttpError(404, `no item ${id}`);
    return item;
  }
  async add(id) { await this.storage.put(id, { id }); throw new HttpError(409, `${id} exists`); }
  async crash() { throw new Error("a bug"); }
  async big() { return "x".repeat(64 * 1024); }
  async viaOther(id) { return agents.Shop("other").item(id); }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue13_7_agents_choose_4xx_statuses_with_http_error() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("shop.js", SHOP)]).await;
    let e = g.call_err("Shop", "s", "item", vec![json!("nope")]).await;
    assert_eq!((e.http_status(), e.code()), (Some(404), "NOT_FOUND"));
    assert_eq!(e.to_string(), "no item nope");
    let e = g.call_err("Shop", "s", "item", vec![json!(5)]).await;
    assert_eq!((e.http_status(), e.code()), (Some(400), "BAD_REQUEST"));
    // A refusal is still a failed call: its writes roll back.
    let e = g.call_err("Shop", "s", "add", vec![json!("a")]).await;
    assert_eq!(e.http_status(), Some(409));
    let e = g.call_err("Shop", "s", "item", vec![json!("a")]).await;
    assert_eq!(e.http_status(), Some(404), "{e}");
    // A fault stays a fault.
    let e = g.call_err("Shop", "s", "crash", vec![]).await;
    assert_eq!((e.http_status(), e.code()), (None, "AGENT_ERROR"));
    // Another agent's refusal reaches the caller's code as an error with the status.
    let e = g.call_err("Shop", "s", "viaOther", vec![json!("x")]).await;
    assert!(e.to_string().contains("no item x"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_8_a_result_over_the_output_limit_tells_the_author_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig {
        limits: Limits {
            output_bytes: 16 * 1024,
            ..Limits::default()
        },
        ..HostConfig::default()
    };
    let g = given_host_at(dir.path(), &[("shop.js", SHOP)], 1_700_000_000_000, config).await;
    let e = g.call_err("Shop", "s", "big", vec![]).await;
    assert_eq!(e.code(), "LIMIT");
    let message = e.to_string();
    for expected in [
        "agents.Shop(\"s\").big",
        "16 KiB",
        "--max-output-kb",
        "page",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    assert!(!message.contains("in code"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_9_module_errors_point_into_the_module_and_extra_exports_are_refused() {
    let sandbox = given_sandbox();
    let cases = [
        (
            "one_line.js",
            "export default class A extends Agent { m() {} }; null.x;",
            "line 1, column",
        ),
        (
            "third.ts",
            "// one\n// two\nundefinedThing();\nexport default class A extends Agent {}",
            "line 3, column 1",
        ),
        (
            "extra.ts",
            "export const helper = 1;\nexport type T = number;\nexport default class A extends Agent {}",
            "exports `helper` besides its default class",
        ),
    ];
    for (origin, source, expected) in cases {
        let e = Classes::from_sources(sources(&[(origin, source)]), &sandbox)
            .await
            .unwrap_err();
        assert!(e.to_string().contains(expected), "{origin}: {e}");
    }
    // A problem with the class itself has no line to point at, rather than a wrong one.
    let e = Classes::from_sources(
        sources(&[("plain.js", "export default class A { m() {} }")]),
        &sandbox,
    )
    .await
    .unwrap_err();
    assert!(!e.to_string().contains("line "), "{e}");
}

const PLANNER: &str = r#"
export default class Planner extends Agent {
  async plan() { return this.schedule(90, "ring", { n: 1 }); }
  async cron() { return this.schedule("0 9 * * *", "ring", null); }
  async list() { return this.getSchedules(); }
  async one(id) { return this.getSchedule(id); }
  async ring(payload, schedule) { await this.storage.put("seen", schedule); }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue13_9_schedules_have_one_shape_in_code_and_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("p.js", PLANNER)]).await;
    let created = g.call("Planner", "p", "plan", vec![]).await;
    assert_eq!(
        created,
        json!({"id": created["id"], "callback": "ring", "payload": {"n": 1}, "type": "delayed",
               "time": 1_700_000_090})
    );
    let cron = g.call("Planner", "p", "cron", vec![]).await;
    assert_eq!(cron["cron"], json!("0 9 * * *"));
    assert_eq!(cron["type"], json!("cron"));
    let listed = g.call("Planner", "p", "list", vec![]).await;
    assert_eq!(listed, json!([created.clone(), cron.clone()]));
    let one = g
        .call("Planner", "p", "one", vec![created["id"].clone()])
        .await;
    assert_eq!(one, created);
    // What HTTP lists (`GET …/schedules`) is the same view.
    let http: Vec<serde_json::Value> = g
        .host
        .with_db("Planner", "p", |db| {
            Ok(db.schedules()?.iter().map(agents::schedule_view).collect())
        })
        .await
        .unwrap();
    assert_eq!(serde_json::Value::Array(http), listed);
    // The callback's second argument too.
    g.clock.advance(91_000);
    let mut seen = serde_json::Value::Null;
    for _ in 0..500 {
        seen = g
            .host
            .with_db("Planner", "p", |db| {
                Ok(db.kv_get("seen")?.unwrap_or(serde_json::Value::Null))
            })
            .await
            .unwrap();
        if !seen.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(seen, created);
}

#[tokio::test(flavor = "multi_thread")]
async fn issue19_5_static_memory_is_read_at_load_and_bad_lists_fail_there() {
    let sandbox = given_sandbox();
    let classes = Classes::from_sources(
        sources(&[(
            "writer.ts",
            r#"export default class Writer extends Agent {
                 static memory = ["team/conventions", { profile: "team/docs", readOnly: true },
                                  { profile: "team/log", readOnly: false }];
                 note() {}
               }"#,
        )]),
        &sandbox,
    )
    .await
    .unwrap();
    let attach = |profile: &str, read_only| agents::MemoryAttachment {
        profile: profile.to_owned(),
        read_only,
    };
    assert_eq!(
        classes.get("Writer").unwrap().memory,
        [
            attach("team/conventions", false),
            attach("team/docs", true),
            attach("team/log", false),
        ]
    );
    for (origin, source) in [
        (
            "string.js",
            "export default class A extends Agent { static memory = 'team/docs'; }",
        ),
        (
            "number.js",
            "export default class A extends Agent { static memory = [42]; }",
        ),
        (
            "flag.js",
            "export default class A extends Agent { static memory = [{ profile: 'team/docs', readOnly: 'yes' }]; }",
        ),
        (
            "typo.js",
            "export default class A extends Agent { static memory = [{ profile: 'team/docs', readonly: true }]; }",
        ),
    ] {
        let e = Classes::from_sources(sources(&[(origin, source)]), &sandbox)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains(origin)
                && e.to_string()
                    .contains("static memory is the list of memory profiles"),
            "{origin}: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue19_5_class_bindings_reach_only_that_class_and_override_the_servers() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        sandbox::Bindings::new().function("memory", "whoami", |_| async { Ok(json!("server")) });
    let own =
        sandbox::Bindings::new().function("memory", "whoami", |_| async { Ok(json!("class A")) });
    let config = HostConfig {
        bindings: server,
        class_bindings: [("A".to_owned(), own)].into_iter().collect(),
        ..HostConfig::default()
    };
    let g = given_host_at(
        dir.path(),
        &[
            (
                "a.js",
                "export default class A extends Agent { who() { return memory.whoami(); } }",
            ),
            (
                "b.js",
                "export default class B extends Agent { who() { return memory.whoami(); } }",
            ),
        ],
        1_700_000_000_000,
        config,
    )
    .await;
    assert_eq!(g.call("A", "x", "who", vec![]).await, json!("class A"));
    assert_eq!(g.call("B", "x", "who", vec![]).await, json!("server"));
    assert!(g.host.class_bindings("A").is_some() && g.host.class_bindings("B").is_none());
}

const RESEARCHER: &str = r#"
import { Agent } from "agents";
interface Summary { url: string; words: number }
export default class Researcher extends Agent {
  /** Summarises the page at `url`. */
  async summarise(input: { url: string; maxWords?: number }): Promise<Summary> {
    return { url: input.url, words: input.maxWords ?? 100 };
  }
  /**
   * Everything summarised so far.
   * Newest first.
   */
  async history(limit = 10) { return []; }
  private secret() { return 1; }
}
"#;

/// Issue 16 item 2: the declarations Code Mode and Think show the model, compared with
/// `golden/agents.d.ts` (`BLESS=1` rewrites it).
#[tokio::test(flavor = "multi_thread")]
async fn issue16_declarations_type_every_callable_method_as_code_calls_it() {
    let sandbox = given_sandbox();
    let classes = Classes::from_sources(
        sources(&[("researcher.ts", RESEARCHER), ("vault.ts", VAULT)]),
        &sandbox,
    )
    .await
    .unwrap();
    let declarations = classes.declarations();
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/agents.d.ts");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&golden, &declarations).unwrap();
    }
    let expected = std::fs::read_to_string(&golden).unwrap_or_default();
    assert_eq!(
        declarations, expected,
        "the declarations changed; if intended, rerun with BLESS=1 and review the diff"
    );
    assert!(
        declarations
            .contains("summarise(input: { url: string; maxWords?: number }): Promise<Summary>;")
    );
    assert!(
        !declarations.contains("secret("),
        "private methods are not declared"
    );
}
