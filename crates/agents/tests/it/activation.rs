//! Calls, state, in-memory fields, hibernation, the output gate and failures.

use crate::support::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_call_creates_the_agent_and_its_state_survives_hibernation() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host_at(
        dir.path(),
        &[("counter.js", COUNTER)],
        0,
        quick_hibernation(),
    )
    .await;
    assert_eq!(
        g.call("Counter", "a", "increment", vec![json!(2)]).await,
        json!(2)
    );
    assert_eq!(g.call("Counter", "a", "increment", vec![]).await, json!(3));
    assert_eq!(
        g.call("Counter", "a", "memory", vec![]).await,
        json!({"wakeCalls": 2, "started": 1, "seen": null}),
        "fields live between calls while active, onStart ran once"
    );
    assert!(
        eventually(|| g.host.active_count() == 0).await,
        "the agent hibernates"
    );
    assert_eq!(g.call("Counter", "a", "get", vec![]).await, json!(3));
    assert_eq!(
        g.call("Counter", "a", "memory", vec![]).await,
        json!({"wakeCalls": 0, "started": 1, "seen": null}),
        "after hibernation: fields start over and onStart runs again"
    );
    assert_eq!(
        g.host.state("Counter", "a").await.unwrap(),
        json!({"count": 3})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_keep_maps_sets_and_dates_between_calls() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("counter.js", COUNTER)]).await;
    for x in ["a", "b", "a"] {
        g.call("Counter", "f", "remember", vec![json!(x)]).await;
    }
    let memory = g.call("Counter", "f", "memory", vec![]).await;
    assert_eq!(memory["seen"], json!(["a", "b"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_call_writes_nothing_and_does_not_poison_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("counter.js", COUNTER)]).await;
    g.call("Counter", "x", "increment", vec![json!(1)]).await;
    let e = g.call_err("Counter", "x", "failAfterWrite", vec![]).await;
    assert_eq!(e.code(), "AGENT_ERROR");
    assert!(e.to_string().contains("boom after writing"), "{e}");
    assert_eq!(g.call("Counter", "x", "half", vec![]).await, json!(null));
    assert_eq!(
        g.call("Counter", "x", "increment", vec![json!(1)]).await,
        json!(2)
    );
}

/// The agent object lives in its isolate between calls; a failed call's changes to its
/// fields are undone along with its writes: the next call sees the fields as the last
/// successful call left them.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_call_leaves_the_fields_as_the_last_successful_call_left_them() {
    const NOTES: &str = r#"
import { Agent } from "agents";
export default class Notes extends Agent {
  items = [];
  async add(x) { this.items.push(x); return this.items.length; }
  async addThenFail(x) { this.items.push(x); throw new Error("refused"); }
  async list() { return this.items; }
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("notes.js", NOTES)]).await;
    assert_eq!(
        g.call("Notes", "n", "add", vec![json!("a")]).await,
        json!(1)
    );
    assert_eq!(
        g.call("Notes", "n", "add", vec![json!("b")]).await,
        json!(2)
    );
    let e = g
        .call_err("Notes", "n", "addThenFail", vec![json!("c")])
        .await;
    assert!(e.to_string().contains("refused"), "{e}");
    assert_eq!(
        g.call("Notes", "n", "list", vec![]).await,
        json!(["a", "b"])
    );
    assert_eq!(
        g.call("Notes", "n", "add", vec![json!("d")]).await,
        json!(3)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_classes_and_methods_name_the_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("counter.js", COUNTER)]).await;
    let e = g.call_err("Countr", "x", "get", vec![]).await;
    assert_eq!(e.code(), "UNKNOWN_CLASS");
    assert!(e.to_string().contains("did you mean `Counter`"), "{e}");
    let e = g.call_err("Counter", "x", "incremnt", vec![]).await;
    assert_eq!(e.code(), "UNKNOWN_METHOD");
    assert!(e.to_string().contains("did you mean `increment`"), "{e}");
    for hidden in ["_private", "onStart", "setState", "constructor"] {
        let e = g.call_err("Counter", "x", hidden, vec![]).await;
        assert_eq!(e.code(), "UNKNOWN_METHOD", "{hidden}");
    }
    assert!(
        !g.data.agent_exists("Counter", "x").unwrap(),
        "nothing was created"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_an_agent_that_was_never_created_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("counter.js", COUNTER)]).await;
    let e = g.host.state("Counter", "ghost").await.unwrap_err();
    assert_eq!(e.code(), "NOT_FOUND");
    assert!(!g.data.agent_exists("Counter", "ghost").unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn issue16_agents_call_each_other_and_a_call_back_into_a_waiting_caller_runs_inside_its_turn()
{
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("counter.js", COUNTER)]).await;
    assert_eq!(
        g.call("Counter", "a", "callOther", vec![json!("b")]).await,
        json!(10)
    );
    assert_eq!(g.call("Counter", "b", "get", vec![]).await, json!(10));
    // a → b → a: a waits on b, so b's call runs inside a's waiting turn (through the
    // mailbox it would wait for that turn to end: a deadlock).
    assert_eq!(
        g.call("Counter", "a", "callSelfThrough", vec![json!("b")])
            .await,
        json!(0)
    );
    // Both agents still answer.
    assert_eq!(g.call("Counter", "a", "get", vec![]).await, json!(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn on_request_gets_a_web_request_and_returns_a_response() {
    let dir = tempfile::tempdir().unwrap();
    let source = r#"
      export default class Web extends Agent {
        async onRequest(request) {
          const body = await request.json();
          return new Response(JSON.stringify({ name: this.name, got: body, method: request.method, path: new URL(request.url).pathname }),
            { status: 201, headers: { "content-type": "application/json", "x-agent": "yes" } });
        }
      }"#;
    let g = given_host(dir.path(), &[("web.js", source)]).await;
    let response = g
        .host
        .request(
            "Web",
            "w",
            agents::HttpRequest {
                method: "POST".into(),
                url: "http://localhost/agents/Web/w/request/x".into(),
                headers: vec![("content-type".into(), "application/json".into())],
                body: Some("{\"a\":1}".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(response.status, 201);
    assert!(response.headers.contains(&("x-agent".into(), "yes".into())));
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(
        body,
        json!({"name": "w", "got": {"a": 1}, "method": "POST", "path": "/agents/Web/w/request/x"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_hits_a_limit_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let source = r#"
      export default class Busy extends Agent {
        async spin() { await this.setState({ spun: true }); while (true) {} }
        async ok() { return this.state; }
        async nested(name) { return agents.Busy(name).missing(); }
      }"#;
    let config = agents::HostConfig {
        limits: sandbox::Limits {
            cpu_ms: 100,
            ..sandbox::Limits::default()
        },
        ..agents::HostConfig::default()
    };
    let g = given_host_at(dir.path(), &[("busy.js", source)], 0, config).await;
    let e = g.call_err("Busy", "b", "spin", vec![]).await;
    assert_eq!(e.code(), "LIMIT", "{e}");
    assert!(e.to_string().contains("CPU time limit"), "{e}");
    assert_eq!(
        g.call("Busy", "b", "ok", vec![]).await,
        json!(null),
        "the spinning call's write was rolled back; the agent still answers"
    );
    let e = g.call_err("Busy", "b", "nested", vec![json!("c")]).await;
    assert!(e.to_string().contains("missing is not a method"), "{e}");
    assert!(e.to_string().contains("nested, ok, spin"), "{e}");
}
