//! Against npm's `@copilotkit/aimock`, a mock server written by others from the providers'
//! documentation, so our reading of both wire formats is checked by a second party.
//! `.ci/run` installs it (`npm ci`); without it these tests are skipped locally and fail on
//! CI (env `CI` set). Fixtures: `tests/fixtures/aimock/`.

use crate::{BOTH, drain, fast_options, given_request, http};
use llm::{
    ApiKey, Endpoint, FinishReason, Message, Model, ModelSpec, ProviderKind, StreamEvent, Usage,
};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The installed `llmock` binary, or `None` (skip locally, fail on CI).
#[allow(clippy::print_stderr)]
fn installed() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/llmock");
    if path.exists() {
        return Some(path);
    }
    let why = format!("{} is not installed; run .ci/run (npm ci)", path.display());
    assert!(std::env::var_os("CI").is_none(), "{why}");
    eprintln!("skipped: {why}");
    None
}

/// A running aimock; killed when dropped.
struct Aimock {
    url: String,
    _child: tokio::process::Child,
}

impl Aimock {
    async fn start(bin: PathBuf) -> Aimock {
        let fixtures =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/aimock/weather.json");
        let mut child = tokio::process::Command::new(bin)
            .args(["--port", "0", "--log-level", "info", "--fixtures"])
            .arg(fixtures)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn aimock");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read") {
                if let Some(at) = line.find("listening on http://") {
                    return line[at + "listening on ".len()..].trim().to_owned();
                }
            }
            panic!("aimock exited without listening")
        })
        .await
        .expect("aimock starts within 30 s");
        // Keep draining its log so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Aimock { url, _child: child }
    }

    fn model(&self, provider: ProviderKind) -> Model {
        let base_url = match provider {
            ProviderKind::OpenAi => format!("{}/v1", self.url),
            ProviderKind::Anthropic => self.url.clone(),
        };
        let endpoint = Endpoint {
            spec: ModelSpec::new(provider, "mock-model"),
            base_url,
            api_key: ApiKey::new("sk-aimock"),
        };
        Model::new(http(), endpoint).with_options(fast_options())
    }

    /// The bodies of the requests it received, oldest first.
    async fn journal(&self) -> Vec<Value> {
        let bytes = http()
            .get(format!("{}/__aimock/journal", self.url))
            .send()
            .await
            .expect("journal")
            .bytes()
            .await
            .expect("journal body");
        let entries: Value = serde_json::from_slice(&bytes).expect("journal JSON");
        let mut bodies: Vec<(u64, Value)> = entries
            .as_array()
            .expect("entries")
            .iter()
            .map(|e| (e["timestamp"].as_u64().unwrap_or(0), e["body"].clone()))
            .collect();
        bodies.sort_by_key(|(t, _)| *t);
        bodies.into_iter().map(|(_, b)| b).collect()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_then_its_result_then_the_answer_against_aimock() {
    let Some(bin) = installed() else { return };
    for provider in BOTH {
        let aimock = Aimock::start(bin.clone()).await;
        let model = aimock.model(provider);
        let mut history = vec![Message::user("Weather in Paris?")];
        let mut stream = model
            .stream(&given_request(history.clone()))
            .await
            .expect("first step");
        let (events, error) = drain(&mut stream).await;
        assert!(error.is_none(), "{provider}: {error:?}");
        let finished: Vec<&StreamEvent> = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::ToolCallFinished { .. }))
            .collect();
        assert_eq!(finished.len(), 1, "{provider}: {events:?}");
        assert_eq!(
            events.last(),
            Some(&StreamEvent::Finished {
                reason: FinishReason::ToolCalls
            })
        );
        let first = stream.collect().await.expect("complete");
        assert_eq!(first.message.text(), "Let me check.", "{provider}");
        let call = first.message.tool_calls().next().expect("a call").clone();
        assert_eq!(
            (call.id.as_str(), call.name.as_str()),
            ("call_paris", "get_weather")
        );
        assert_eq!(call.arguments, json!({"city": "Paris"}));
        assert_eq!(
            first.usage,
            Some(Usage {
                input_tokens: 31,
                output_tokens: 12
            }),
            "{provider}"
        );

        history.push(first.message);
        history.push(Message::tool_result(&call.id, r#"{"sky":"clear"}"#, false));
        let second = model
            .complete(&given_request(history))
            .await
            .expect("second step");
        assert_eq!(
            second.message.text(),
            "It is sunny in Paris, 21 degrees.",
            "{provider}"
        );
        assert_eq!(second.finish, FinishReason::Stop);

        // aimock matched the second request by its tool result, so it parsed our history;
        // check the shape it received too.
        let journal = aimock.journal().await;
        assert_eq!(journal.len(), 2);
        let sent = journal[1]["messages"].to_string();
        assert!(
            sent.contains("call_paris") && sent.contains(r#"{\"sky\":\"clear\"}"#),
            "{sent}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_from_aimock_is_retried() {
    let Some(bin) = installed() else { return };
    let aimock = Aimock::start(bin).await;
    for provider in BOTH {
        let model = aimock.model(provider);
        let completion = model
            .complete(&given_request(vec![Message::user("Rate limit me")]))
            .await
            .expect("retried");
        assert_eq!(completion.message.text(), "Through at last.", "{provider}");
    }
    // One 429 (the fixture's first match), then two successes.
    assert_eq!(aimock.journal().await.len(), 3);
}
