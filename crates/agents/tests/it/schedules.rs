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
        .host
        .call("Reminder", "r", "later", vec![json!(60), json!("hello")])
        .await
        .unwrap();
    assert_eq!(s["type"], json!("delayed"));
    assert_eq!(s["callback"], json!("fire"));
    assert_eq!(
        g.host
            .call("Reminder", "r", "pending", vec![])
            .await
            .unwrap(),
        json!(["fire"])
    );
    g.clock.advance(61_000);
    let host = g.host.clone();
    let mut fired = json!([]);
    for _ in 0..500 {
        fired = host.call("Reminder", "r", "fired", vec![]).await.unwrap();
        if fired != json!([]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(fired, json!(["hello"]));
    assert_eq!(
        g.host
            .call("Reminder", "r", "pending", vec![])
            .await
            .unwrap(),
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduling_an_unknown_method_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("r.js", REMINDER)]).await;
    let e = g
        .host
        .call("Reminder", "r", "bad", vec![])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    assert_eq!(
        g.host
            .call("Reminder", "r", "pending", vec![])
            .await
            .unwrap(),
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_schedule_missed_while_stopped_fires_exactly_once_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let g = given_host_at(dir.path(), &[("r.js", REMINDER)], T0, Default::default()).await;
        g.host
            .call("Reminder", "r", "later", vec![json!(30), json!("missed")])
            .await
            .unwrap();
        g.host
            .call("Reminder", "r", "every", vec![json!("*/5 * * * *")])
            .await
            .unwrap();
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
    let mut fired = json!([]);
    for _ in 0..500 {
        fired = g.host.call("Reminder", "r", "fired", vec![]).await.unwrap();
        if fired.as_array().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let mut fired: Vec<String> =
        serde_json::from_value(g.host.call("Reminder", "r", "fired", vec![]).await.unwrap())
            .unwrap();
    fired.sort();
    assert_eq!(fired, ["missed", "tick"]);
    // The cron schedule moved on to its next time; the delayed one is gone.
    assert_eq!(
        g.host
            .call("Reminder", "r", "pending", vec![])
            .await
            .unwrap(),
        json!(["fire"])
    );
}
