//! Fibers for user code (issue 15, item 4, Cloudflare's `runFiber`): `runFiber` and each
//! `ctx.stash` are checkpoints that outlive the rest of the turn; a fiber left running is
//! handed to `onFiberRecovered(ctx)` at the agent's next activation (or right after the
//! turn that left it).

use serde_json::{Value, json};

use crate::support::*;

const WORKER: &str = r#"
import { Agent } from "agents";
export default class Worker extends Agent {
  async succeed() {
    return this.runFiber("ok", async (ctx) => {
      await this.storage.put("before", 1);
      await ctx.stash({ step: 1 });
      return { id: ctx.id, answer: 42 };
    });
  }
  async failInside() {
    let id = null;
    try {
      await this.runFiber("bad", async (ctx) => {
        id = ctx.id;
        await this.storage.put("kept", true);
        await ctx.stash({ step: 1 });
        await this.storage.put("undone", true);
        throw new Error("boom inside");
      });
    } catch (e) {
      return { id, caught: e.message };
    }
  }
  async failAfter() {
    await this.runFiber("job", async (ctx) => {
      await ctx.stash({ step: 1, note: "stashed" });
      await this.storage.put("finished", true);
    });
    throw new Error("the turn fails after its fiber ended");
  }
  async nested() {
    return this.runFiber("outer", async () => this.runFiber("inner", async () => 1));
  }
  async badName() { return this.runFiber("think", async () => 1); }
  async onFiberRecovered(ctx) {
    const seen = (await this.storage.get("recovered")) ?? [];
    seen.push({ name: ctx.name, snapshot: ctx.snapshot, recoveries: ctx.recoveries });
    await this.storage.put("recovered", seen);
  }
  async read(key) { return (await this.storage.get(key)) ?? null; }
}
"#;

const PLAIN: &str = r#"
import { Agent } from "agents";
export default class Plain extends Agent {
  async ping() { return "pong"; }
}
"#;

async fn fiber(given: &Given, class: &str, id: &str) -> (String, Value, Option<String>, u32) {
    let id = id.to_owned();
    given
        .host
        .with_db(class, "w", move |db| {
            let f = db.fibers().get(&id)?;
            Ok((
                f.status.as_str().to_owned(),
                f.stash.unwrap_or(Value::Null),
                f.error,
                f.recoveries,
            ))
        })
        .await
        .expect("the fiber")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_run_fiber_returns_its_result_and_a_throwing_fn_undoes_only_what_followed_its_stash()
 {
    let dir = tempfile::tempdir().unwrap();
    let given = given_host(dir.path(), &[("Worker.ts", WORKER)]).await;
    let done = given.call("Worker", "w", "succeed", vec![]).await;
    assert_eq!(done["answer"], 42);
    let id = done["id"].as_str().expect("the fiber id").to_owned();
    let (status, stash, ..) = fiber(&given, "Worker", &id).await;
    assert_eq!((status.as_str(), stash), ("completed", json!({"step": 1})));
    assert_eq!(
        given
            .call("Worker", "w", "read", vec![json!("before")])
            .await,
        json!(1)
    );

    let failed = given.call("Worker", "w", "failInside", vec![]).await;
    assert_eq!(failed["caught"], "boom inside");
    let id = failed["id"].as_str().expect("the fiber id").to_owned();
    let (status, stash, error, _) = fiber(&given, "Worker", &id).await;
    assert_eq!(status, "failed");
    assert_eq!(stash, json!({"step": 1}));
    assert_eq!(error.as_deref(), Some("boom inside"));
    // Written before the stash: kept; after it: undone.
    assert_eq!(
        given.call("Worker", "w", "read", vec![json!("kept")]).await,
        json!(true)
    );
    assert_eq!(
        given
            .call("Worker", "w", "read", vec![json!("undone")])
            .await,
        Value::Null
    );
    // Clear errors for misuse.
    let e = given.call_err("Worker", "w", "nested", vec![]).await;
    assert!(e.to_string().contains("still running in this turn"), "{e}");
    let e = given.call_err("Worker", "w", "badName", vec![]).await;
    assert!(e.to_string().contains("not \"think\""), "{e}");
    // onFiberRecovered is not callable from outside.
    let e = given
        .call_err("Worker", "w", "onFiberRecovered", vec![json!({})])
        .await;
    assert!(e.to_string().contains("onFiberRecovered"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue15_a_fiber_left_running_goes_to_on_fiber_recovered_with_its_last_stash() {
    let dir = tempfile::tempdir().unwrap();
    let given = given_host_at(
        dir.path(),
        &[("Worker.ts", WORKER), ("Plain.ts", PLAIN)],
        1_700_000_000_000,
        quick_hibernation(),
    )
    .await;
    // The turn fails after its fiber ended: the end is rolled back with the turn, so the
    // fiber is left running, and is recovered right after.
    let e = given.call_err("Worker", "w", "failAfter", vec![]).await;
    assert!(e.to_string().contains("fails after its fiber"), "{e}");
    assert_eq!(
        given
            .call("Worker", "w", "read", vec![json!("recovered")])
            .await,
        json!([{"name": "job", "snapshot": {"step": 1, "note": "stashed"}, "recoveries": 1}])
    );
    assert_eq!(
        given
            .call("Worker", "w", "read", vec![json!("finished")])
            .await,
        Value::Null
    );

    // What a process that ended mid-fiber leaves: a running fiber with its stash. The
    // agent's next activation recovers it.
    let id = given
        .host
        .with_new_or_existing_db("Worker", "w", |db| {
            let f = db.fibers().start("import", None)?;
            db.fibers().stash(&f.id, &json!({"rows": 500}))?;
            Ok(f.id)
        })
        .await
        .expect("a fiber left running");
    let (status, ..) = fiber(&given, "Worker", &id).await;
    assert_eq!(status, "running");
    // Hibernate, then activate again.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let recovered = given
        .call("Worker", "w", "read", vec![json!("recovered")])
        .await;
    assert_eq!(
        recovered[1],
        json!({"name": "import", "snapshot": {"rows": 500}, "recoveries": 1})
    );
    let (status, _, _, recoveries) = fiber(&given, "Worker", &id).await;
    assert_eq!((status.as_str(), recoveries), ("completed", 1));

    // A class without onFiberRecovered: the fiber is marked failed, saying why.
    let id = given
        .host
        .with_new_or_existing_db("Plain", "w", |db| Ok(db.fibers().start("job", None)?.id))
        .await
        .expect("a fiber left running");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        given.call("Plain", "w", "ping", vec![]).await,
        json!("pong")
    );
    let (status, _, error, _) = fiber(&given, "Plain", &id).await;
    assert_eq!(status, "failed");
    assert!(error.unwrap_or_default().contains("no onFiberRecovered"));
}
