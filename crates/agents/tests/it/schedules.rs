//! Schedules: delays, dates and cron, persisted and re-armed after a restart.

use crate::support::*;
use serde_json::json;

const REMINDER: &str = r#"
export default class Reminder extends Agent {
  async later(seconds, text) { return this.schedule(seconds, "fire", { text }); }
  async every(cron) { return this.schedule(cron, "fire", { text: "tick" }); }
  async fire(payload) {
    const fired = (await this.storage.get("fired")) ?? [];
    fired.push(payload.text);
    await this.storage.put("fired", fired);
  }
  async fired() { return (await this.storage.get("fired")) ?? []; }
  async pending() { return (await this.getSchedules()).map((s) => s.callback); }
  async bad() { return this.schedule(1, "nope", null); }
}
"#;

const T0: i64 = 1_700_000_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn a_delayed_schedule_fires_once_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host_at(dir.path(), &[("r.js", REMINDER)], T0, Default::default()).await;
    let s = g
        .call("Reminder", "r", "later", vec![json!(60), json!("hello")])
        .await;
    assert_eq!(s["type"], json!("delayed"));
    assert_eq!(s["callback"], json!("fire"));
    assert_eq!(pending(&g.host).await, json!(["fire"]));
    g.clock.advance(61_000);
    assert_eq!(until_fired(&g.host, 1).await, ["hello"]);
    assert_eq!(pending(&g.host).await, json!([]));
}

/// What `fired` returns once it holds `n` entries (bounded wait: schedules fire on the
/// host's alarm loop, not on the caller's time).
async fn until_fired(host: &agents::AgentHost, n: usize) -> Vec<String> {
    let mut fired = Vec::new();
    for _ in 0..500 {
        let value = host.call("Reminder", "r", "fired", vec![]).await.unwrap();
        fired = serde_json::from_value(value).unwrap();
        if fired.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    fired
}

async fn pending(host: &agents::AgentHost) -> serde_json::Value {
    host.call("Reminder", "r", "pending", vec![]).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduling_an_unknown_method_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("r.js", REMINDER)]).await;
    let e = g.call_err("Reminder", "r", "bad", vec![]).await;
    assert!(e.to_string().contains("nope"), "{e}");
    assert_eq!(pending(&g.host).await, json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_missed_while_stopped_fires_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let g = given_host_at(dir.path(), &[("r.js", REMINDER)], T0, Default::default()).await;
        g.call("Reminder", "r", "later", vec![json!(30), json!("missed")])
            .await;
        g.call("Reminder", "r", "every", vec![json!("*/5 * * * *")])
            .await;
        g.host.shutdown(std::time::Duration::from_secs(5)).await;
    }
    // Restarted an hour later: the delayed one and the cron one each fire once.
    let g = given_host_at(
        dir.path(),
        &[("r.js", REMINDER)],
        T0 + 3_600_000,
        Default::default(),
    )
    .await;
    until_fired(&g.host, 2).await;
    // Give a duplicate every chance to show up.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut fired = until_fired(&g.host, 2).await;
    fired.sort();
    assert_eq!(fired, ["missed", "tick"]);
    // The cron schedule moved on to its next time; the delayed one is gone.
    assert_eq!(pending(&g.host).await, json!(["fire"]));
}
