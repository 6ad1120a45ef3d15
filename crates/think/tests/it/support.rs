use std::sync::Arc;
use std::time::Duration;

use agents::{AgentHost, Classes, HostConfig};
use llm::scripted::ScriptedModel;
use llm::{ModelSpec, Models, Options, ProviderKind, ProviderSettings, RetryPolicy, Settings};
use sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use store::{DataDir, Env, ManualClock, SequentialIds};
use think::ui::Chunk;
use think::{ChatRequest, Harness};

/// A chat agent that keeps the defaults but a short step limit, a Counter it can call,
/// and a chat agent with its own tool and system prompt.
pub(crate) const ASSISTANT: &str = r#"
import { Think } from "agents";
export default class Assistant extends Think {
  maxSteps = 4;
  async ping() { return "pong"; }
}
"#;

pub(crate) const COUNTER: &str = r#"
import { Agent } from "agents";
export default class Counter extends Agent {
  async increment(by = 1) {
    const count = (this.state?.count ?? 0) + by;
    await this.setState({ count });
    return count;
  }
}
"#;

pub(crate) const WEATHER: &str = r#"
import { Think } from "agents";
export default class Weather extends Think {
  getModel() { return "anthropic:claude-weather"; }
  getSystemPrompt() { return "You report the weather in " + this.name + "."; }
  getTools() {
    return {
      forecast: {
        description: "The forecast for a city",
        inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        execute: async ({ city }) => {
          await this.workspace.write("/asked.txt", city);
          if (city === "Atlantis") throw new Error("no such city: " + city);
          return { city, sky: "clear" };
        },
      },
    };
  }
}
"#;

pub(crate) struct Given {
    pub harness: Harness,
    pub host: AgentHost,
    pub model: ScriptedModel,
    pub _dir: tempfile::TempDir,
}

pub(crate) fn http() -> reqwest::Client {
    codemode::egress::tls::client_builder()
        .expect("tls")
        .build()
        .expect("client")
}

/// Settings for `provider:test-model` at `base_url`, failing fast (no retries).
pub(crate) fn given_settings(provider: ProviderKind, base_url: Option<String>) -> Settings {
    let mut settings = Settings {
        default_model: Some(ModelSpec::new(provider, "test-model")),
        options: Options {
            retry: RetryPolicy {
                max_retries: 0,
                initial_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(10),
            },
            stall_timeout: Duration::from_secs(5),
        },
        ..Settings::default()
    };
    let explicit = ProviderSettings {
        base_url,
        api_key: None,
    };
    match provider {
        ProviderKind::OpenAi => settings.openai = explicit,
        ProviderKind::Anthropic => settings.anthropic = explicit,
    }
    settings
}

/// A host serving `classes` and a harness whose default model is `provider:test-model`
/// at a fresh scripted server (the environment is not read).
pub(crate) async fn given_harness(provider: ProviderKind, classes: &[(&str, &str)]) -> Given {
    let model = ScriptedModel::start().await.expect("scripted model");
    let mut settings = given_settings(provider, Some(model.base_url(provider)));
    // The Weather class names Anthropic: point it at the same server.
    settings.anthropic.base_url = Some(model.base_url(ProviderKind::Anthropic));
    given_harness_with(model, settings, classes).await
}

pub(crate) async fn given_harness_with(
    model: ScriptedModel,
    settings: Settings,
    classes: &[(&str, &str)],
) -> Given {
    given_harness_configured(model, settings, classes, |_| HostConfig::default()).await
}

/// [`given_harness_with`] whose host's configuration `config` makes from the classes.
pub(crate) async fn given_harness_configured(
    model: ScriptedModel,
    settings: Settings,
    classes: &[(&str, &str)],
    config: impl FnOnce(&Classes) -> HostConfig,
) -> Given {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let env = Env {
        clock: clock as _,
        ids: Arc::new(SequentialIds::new("id")),
    };
    let data = Arc::new(DataDir::open(dir.path(), env).expect("data dir"));
    let sandbox = Arc::new(Sandbox::new(SandboxConfig { threads: 2 }).expect("sandbox"));
    let sources = classes
        .iter()
        .map(|(origin, source)| ((*origin).to_owned(), (*source).to_owned()))
        .collect();
    let classes = Classes::from_sources(sources, &sandbox)
        .await
        .expect("classes load");
    let config = config(&classes);
    let host = AgentHost::start(data, classes, sandbox, config).expect("agent host");
    let models = Models::with_env(http(), settings, |_| None);
    Given {
        harness: Harness::new(host.clone(), models),
        host,
        model,
        _dir: dir,
    }
}

impl Given {
    /// One whole turn's chunks.
    pub(crate) async fn chat(
        &self,
        class: &str,
        name: &str,
        session: Option<&str>,
        text: &str,
    ) -> (String, Vec<Chunk>) {
        let turn = self.start(class, name, session, text).await;
        let session = turn.session_id.clone();
        (session, turn.collect().await)
    }

    /// A turn started and not yet read: its session and its live chunks.
    pub(crate) async fn start(
        &self,
        class: &str,
        name: &str,
        session: Option<&str>,
        text: &str,
    ) -> think::Turn {
        self.harness
            .chat(
                class,
                name,
                ChatRequest {
                    session_id: session.map(str::to_owned),
                    text: text.to_owned(),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("chat with {class}/{name}: {e}"))
    }

    /// The session's history as (role, content) pairs.
    pub(crate) async fn history(
        &self,
        class: &str,
        name: &str,
        session: &str,
    ) -> Vec<(String, Value)> {
        let session = session.to_owned();
        self.host
            .with_db(class, name, move |db| {
                Ok(db.sessions().history(&session, None)?)
            })
            .await
            .expect("history")
            .into_iter()
            .map(|m| (m.role.as_str().to_owned(), m.content_value()))
            .collect()
    }

    pub(crate) async fn read_file(&self, class: &str, name: &str, path: &str) -> Option<String> {
        let path = path.to_owned();
        self.host
            .with_db(class, name, move |db| {
                Ok(db.workspace().read_text(&path).ok())
            })
            .await
            .expect("workspace")
    }
}

/// The text the chunks stream, concatenated.
pub(crate) fn streamed_text(chunks: &[Chunk]) -> String {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::TextDelta { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect()
}

/// The `finish` chunk's metadata.
pub(crate) fn finish_metadata(chunks: &[Chunk]) -> Value {
    match chunks.last() {
        Some(Chunk::Finish {
            message_metadata: Some(m),
        }) => m.clone(),
        other => panic!("the last chunk is not a finish with metadata: {other:?}"),
    }
}

/// Checks the order rules of a UI message stream: `start` first, `finish` last, steps
/// balanced, text deltas inside their text block, a tool's output after its input.
pub(crate) fn assert_well_formed(chunks: &[Chunk]) {
    assert!(
        matches!(chunks.first(), Some(Chunk::Start { .. })),
        "{chunks:?}"
    );
    assert!(
        matches!(chunks.last(), Some(Chunk::Finish { .. })),
        "{chunks:?}"
    );
    let mut in_step = false;
    let mut open_text: Option<&str> = None;
    let mut inputs = std::collections::HashSet::new();
    for chunk in chunks {
        match chunk {
            Chunk::StartStep => {
                assert!(!in_step, "nested step in {chunks:?}");
                in_step = true;
            }
            Chunk::FinishStep => {
                assert!(in_step, "finish-step outside a step in {chunks:?}");
                in_step = false;
            }
            Chunk::TextStart { id } => {
                assert!(in_step && open_text.is_none(), "{chunks:?}");
                open_text = Some(id);
            }
            Chunk::TextDelta { id, .. } => assert_eq!(open_text, Some(id.as_str())),
            Chunk::TextEnd { id } => {
                assert_eq!(open_text, Some(id.as_str()));
                open_text = None;
            }
            Chunk::ToolInputAvailable { tool_call_id, .. } => {
                inputs.insert(tool_call_id.clone());
            }
            Chunk::ToolOutputAvailable { tool_call_id, .. }
            | Chunk::ToolOutputError { tool_call_id, .. } => {
                assert!(
                    inputs.contains(tool_call_id),
                    "output before input: {chunks:?}"
                );
            }
            _ => {}
        }
    }
    assert!(open_text.is_none(), "unterminated text in {chunks:?}");
}

/// The latest fiber (a turn's durable record) of `session` of the agent at `agent`.
pub(crate) async fn latest_fiber(
    given: &Given,
    agent: &agents::Address,
    session: &str,
) -> store::Fiber {
    let session = session.to_owned();
    given
        .host
        .with_db_at(agent, move |db| {
            Ok(db.fibers().latest_of_session(&session)?.expect("a fiber"))
        })
        .await
        .expect("the fiber")
}

/// A turn of `class`/`name` that a crash cut off after it began (its fiber stashed
/// `stash`: beforeTurn's choices and the recalled memories) and before its first step's
/// answer: the user's `question` alone in a new session.
pub(crate) async fn given_turn_cut_after_its_start(
    given: &Given,
    class: &str,
    name: &str,
    question: &str,
    stash: Value,
) {
    let question = question.to_owned();
    given
        .host
        .with_new_or_existing_db(class, name, move |db| {
            let session = db.sessions().create("cut")?;
            let user = llm::Message::user(&question);
            db.sessions().append_to_leaf(
                &session.id,
                &store::NewMessage::new(store::Role::User, serde_json::json!(user))
                    .with_text(&question),
            )?;
            let fiber = db.fibers().start(think::FIBER_NAME, Some(&session.id))?;
            db.fibers().stash(&fiber.id, &stash)?;
            db.fibers()
                .step_started(&fiber.id, &serde_json::json!({"step": 1}))?;
            Ok(())
        })
        .await
        .expect("the crashed state");
}
