//! Issue 22: an agent's own host calls are `host_call` spans under the span of the call
//! that runs them (`agent_call`), so a trace shows where a slow call spent its time.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use crate::support::*;

/// `(function, parent span's name, parent's method)` of every `host_call` span.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

struct Parents(Seen);

#[derive(Default)]
struct Fields {
    function: String,
    method: String,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "function" => self.function = format!("{value:?}"),
            "method" => self.method = format!("{value:?}"),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Parents {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields.method.clone());
        }
        if attrs.metadata().name() != "host_call" {
            return;
        }
        let parent = ctx.span(id).and_then(|s| s.parent());
        let (name, method) = parent.map_or_else(
            || (String::new(), String::new()),
            |p| {
                let method = p.extensions().get::<String>().cloned().unwrap_or_default();
                (p.name().to_owned(), method)
            },
        );
        lock(&self.0).push((fields.function, name, method));
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The process-wide subscriber (turns run on other threads than the test's).
fn seen() -> &'static Seen {
    static SEEN: OnceLock<Seen> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Seen::default();
        let subscriber = tracing_subscriber::registry()
            .with(Parents(Arc::clone(&seen)))
            .with(tracing_subscriber::filter::LevelFilter::DEBUG);
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
        tracing::callsite::rebuild_interest_cache();
        seen
    })
}

const TALLY: &str = r#"
import { Agent } from "agents";
export default class Tally extends Agent {
  async add(n) {
    const total = ((await this.storage.get("total")) ?? 0) + n;
    await this.storage.put("total", total);
    return total;
  }
}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue22_an_agents_host_calls_are_spans_under_its_call() {
    let seen = seen();
    let dir = tempfile::tempdir().unwrap();
    let g = given_host(dir.path(), &[("tally.ts", TALLY)]).await;
    assert_eq!(g.call("Tally", "t", "add", vec![json!(2)]).await, json!(2));
    let calls: Vec<_> = lock(seen)
        .iter()
        .filter(|(f, _, _)| f == "kvGet" || f == "kvPut")
        .cloned()
        .collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    for (function, parent, method) in &calls {
        assert_eq!(
            (parent.as_str(), method.as_str()),
            ("agent_call", "add"),
            "{function}"
        );
    }
}
