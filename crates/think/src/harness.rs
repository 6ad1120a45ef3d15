//! The agent loop: one chat turn of a `Think` agent.
//!
//! ```text
//! chat(text) ─► config turn (getModel, getSystemPrompt, maxSteps, getTools)
//!            ─► commit: session (new or given) + user message + fiber "think"
//!            ─► step 1..=maxSteps: history → model stream ─► UI chunks
//!                  append the assistant message (usage, model, call ids)
//!                  no tool calls → done
//!                  each call: checkpoint call → run → checkpoint result → UI chunk
//!                  append one tool message with every result
//!            ─► fiber completed (or failed: an `error` chunk, the partial text kept)
//! ```
//!
//! The loop runs outside the agent's mailbox: each storage write is its own small
//! operation between the agent's turns, and tools that call into the agent (its own TS
//! tools, `execute` code calling `agents.Self("me")`) take their turns in between, so
//! nothing waits on itself. Turns of one agent are serialised by a per-agent lock, so two
//! chats never interleave their messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agents::{Address, AgentHost};
// The maps behind these locks hold plain values: a panic elsewhere cannot leave one
// half-updated.
use base::sync::lock;
use codemode::CodeModeServer;
use codemode::execute::Capability;
use llm::{Message, Models, Part, Request, Role, StreamEvent, ToolCall, ToolResult, Usage};
use sandbox::Bindings;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{AgentDb, DelegationStatus, NewDelegation, NewMessage, ToolOutcome};
use tokio::sync::{OwnedMutexGuard, mpsc, watch};
use tracing::Instrument as _;

use crate::compaction::{self, Budget};
use crate::error::Error;
use crate::tools::{AgentToolSpec, Output, OwnTool, Toolbox, code_mode};
use crate::ui::Chunk;

/// The name of the fibers chat turns run in.
pub const FIBER_NAME: &str = "think";

/// An agent class's view of the operator's host functions and memory profiles.
pub(crate) struct AgentMemory {
    /// What its `execute` code may call besides `agents.*` and `workspace.*`.
    pub bindings: Bindings,
    /// The same for compaction: without `memory.ingest` when no profile is writable.
    pub compaction: Bindings,
    /// The profiles compaction ingests into: for a class that attaches profiles, its
    /// writable ones and the server-wide ones it does not attach read-only; otherwise the
    /// server-wide ones.
    pub profiles: Vec<String>,
    /// The class's own attachments (`static memory`), read-only ones too: what a new turn
    /// recalls from into the system prompt.
    pub attached: Vec<String>,
}

/// Runs chat turns of `Think` agents. Cheap to clone.
#[derive(Clone)]
pub struct Harness {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("default_model", &self.inner.models.default_spec())
            .finish_non_exhaustive()
    }
}

struct Inner {
    host: AgentHost,
    models: Models,
    /// Bindings `execute` code gets besides the agent's own (e.g. `memory.*`).
    bindings: Bindings,
    chats: Mutex<HashMap<Address, Arc<tokio::sync::Mutex<()>>>>,
    /// Each agent's Code Mode server for `execute` (see `tools::code_mode`).
    code_modes: Mutex<HashMap<Address, CodeModeServer>>,
    /// Agents already checked for interrupted turns in this process: a turn of this
    /// process always ends its fiber, so only a previous process leaves one running.
    recovered: Mutex<std::collections::HashSet<Address>>,
    /// The output of each session's latest turn, for clients that reconnect.
    streams: Mutex<HashMap<(Address, String), SharedBuffer>>,
    /// The names of the memory profiles `bindings` serves (compaction ingests into each).
    memory_profiles: std::sync::OnceLock<Vec<String>>,
    /// The ladder's rungs the operator turned on (the browser): in `execute`, and their
    /// shortcuts as tools.
    capabilities: std::sync::OnceLock<Vec<Arc<dyn Capability>>>,
    /// Totals for `/metrics` ([`Harness::stats`]).
    counters: Counters,
}

/// What every turn of this harness did so far.
#[derive(Debug, Default)]
struct Counters {
    turns: std::sync::atomic::AtomicU64,
    steps: std::sync::atomic::AtomicU64,
    tool_calls: std::sync::atomic::AtomicU64,
}

/// Totals of a harness's turns since it started (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HarnessStats {
    /// Chat turns run (resumed ones included).
    pub turns: u64,
    /// Steps of those turns: one inference each, with its tool calls.
    pub steps: u64,
    /// Tool calls the turns made (blocked and substituted ones included).
    pub tool_calls: u64,
}

fn bump(counter: &std::sync::atomic::AtomicU64) {
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

type SharedBuffer = Arc<Mutex<Buffer>>;

/// A turn's chunks so far, the reconnected clients that get the rest live, and its
/// cancel switch.
struct Buffer {
    /// The fiber of the turn whose chunks these are.
    fiber_id: String,
    chunks: Vec<Chunk>,
    listeners: Vec<mpsc::UnboundedSender<Chunk>>,
    done: bool,
    /// `true` once the turn is to stop (`Harness::cancel`).
    cancel: watch::Sender<bool>,
}

impl Default for Buffer {
    fn default() -> Self {
        Self {
            fiber_id: String::new(),
            chunks: Vec::new(),
            listeners: Vec::new(),
            done: false,
            cancel: watch::Sender::new(false),
        }
    }
}

/// A user's message to a chat agent.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// The session to continue; `None` starts a new one.
    pub session_id: Option<String>,
    /// Where the message goes in the session's tree.
    pub parent: Parent,
    /// The user's text.
    pub text: String,
    /// A cap on the turn's steps below the class's `maxSteps` (and whatever `beforeTurn`
    /// chooses): a delegation's budget.
    pub max_steps: Option<u32>,
}

/// Where a user's message goes in its session's tree. Under a message that already has
/// children (or as a second root) it starts a new branch: an edited question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Parent {
    /// After the session's current leaf: the conversation goes on.
    #[default]
    Leaf,
    /// A new first message of the session.
    Root,
    /// Under this message of the session.
    Message(String),
    /// Beside the latest question of the session's current history (under the same
    /// parent): the question asked again, a new branch answered anew ("regenerate").
    Regenerate,
    /// Beside the question this answer (a message id, any in the session's tree, not only
    /// the latest) answered: that question asked again as a new branch (the AI SDK's
    /// `regenerate({ messageId })`).
    RegenerateAnswer(String),
}

/// A turn that has started: its user message is committed; the chunks follow as the loop
/// produces them. Dropping it does not stop the turn (it is durable, and finishes).
#[derive(Debug)]
pub struct Turn {
    /// The session the turn belongs to (new when the request named none).
    pub session_id: String,
    /// The stored user message.
    pub user_message_id: String,
    /// The UI message id of the answer (`start.messageId`).
    pub message_id: String,
    /// The UI message stream's chunks, ending with `finish`, `abort` or an `error`.
    pub chunks: mpsc::UnboundedReceiver<Chunk>,
}

impl Turn {
    /// Every chunk, until the turn ends.
    pub async fn collect(mut self) -> Vec<Chunk> {
        let mut all = Vec::new();
        while let Some(chunk) = self.chunks.recv().await {
            all.push(chunk);
        }
        all
    }
}

/// The estimated tokens of `value` as JSON (what compaction counts).
fn tokens_of(value: &impl serde::Serialize) -> u64 {
    serde_json::to_string(value).map_or(0, |json| compaction::estimate_tokens(&json))
}

/// What the class chose (`think` turn `config`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Config {
    model: Option<String>,
    system: Option<String>,
    max_steps: u32,
    #[serde(default)]
    tools: Vec<OwnTool>,
    /// The model's context window (tokens) and the share of it at which to compact.
    #[serde(default)]
    context_window: Option<u64>,
    #[serde(default)]
    compact_at: Option<f64>,
    /// The turn hooks the class defines (only those are called).
    #[serde(default)]
    hooks: Vec<String>,
}

impl Config {
    pub(crate) fn budget(&self) -> Budget {
        Budget::new(self.context_window, self.compact_at)
    }
}

/// Which turn hooks the class defines: each one called is a run of the agent's isolate,
/// so a class without hooks pays for none.
#[derive(Debug, Clone, Copy, Default)]
struct Hooks {
    before_turn: bool,
    before_tool_call: bool,
    after_tool_call: bool,
    on_step_finish: bool,
    on_chat_error: bool,
}

impl Hooks {
    fn of(names: &[String]) -> Self {
        let has = |name: &str| names.iter().any(|n| n == name);
        Self {
            before_turn: has("beforeTurn"),
            before_tool_call: has("beforeToolCall"),
            after_tool_call: has("afterToolCall"),
            on_step_finish: has("onStepFinish"),
            on_chat_error: has("onChatError"),
        }
    }
}

/// What `beforeTurn` changed for this turn; kept in the fiber's stash (with the memories
/// recall added to the prompt) so a turn resumed after a restart runs with the same prompt.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TurnChoices {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active_tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_steps: Option<u32>,
    /// Not kept: a refused turn never resumes.
    #[serde(default, skip_serializing)]
    refuse: Option<String>,
}

impl Harness {
    /// What every turn of this harness did since it started.
    pub fn stats(&self) -> HarnessStats {
        let c = &self.inner.counters;
        let read = |n: &std::sync::atomic::AtomicU64| n.load(std::sync::atomic::Ordering::Relaxed);
        HarnessStats {
            turns: read(&c.turns),
            steps: read(&c.steps),
            tool_calls: read(&c.tool_calls),
        }
    }

    /// A harness over `host`'s chat agents, with models from `models` and no extra bindings.
    pub fn new(host: AgentHost, models: Models) -> Self {
        Self::with_bindings(host, models, Bindings::new())
    }

    /// `bindings` are added to what `execute` code may call (e.g. `memory.*`).
    pub fn with_bindings(host: AgentHost, models: Models, bindings: Bindings) -> Self {
        Self {
            inner: Arc::new(Inner {
                host,
                models,
                bindings,
                chats: Mutex::new(HashMap::new()),
                code_modes: Mutex::new(HashMap::new()),
                recovered: Mutex::new(std::collections::HashSet::new()),
                streams: Mutex::new(HashMap::new()),
                memory_profiles: std::sync::OnceLock::new(),
                capabilities: std::sync::OnceLock::new(),
                counters: Counters::default(),
            }),
        }
    }

    /// The agent host the chat agents live in.
    pub fn host(&self) -> &AgentHost {
        &self.inner.host
    }

    /// Names the memory profiles the `memory.*` bindings serve, so that compaction
    /// ingests into each of several (with one, naming it is not needed). Set once.
    pub fn set_memory_profiles(&self, names: Vec<String>) {
        let _ = self.inner.memory_profiles.set(names);
    }

    /// Turns on rungs of the execution ladder (the browser) for every chat agent: `execute`
    /// code gets them, and the model their shortcut tools (`browser_markdown`, …). Set once,
    /// before the first chat.
    pub fn set_capabilities(&self, capabilities: Vec<Arc<dyn Capability>>) {
        let _ = self.inner.capabilities.set(capabilities);
    }

    fn capabilities(&self) -> &[Arc<dyn Capability>] {
        self.inner.capabilities.get().map_or(&[], Vec::as_slice)
    }

    pub(crate) fn memory_profiles(&self) -> &[String] {
        self.inner.memory_profiles.get().map_or(&[], Vec::as_slice)
    }

    /// What `class`'s agents reach as host functions beyond their own: the operator's
    /// bindings, then the class's (`memory.*` over its `static memory` profiles and the
    /// server-wide ones). See [`AgentMemory`].
    pub(crate) fn memory_for(&self, class: &str) -> AgentMemory {
        let Some(own) = self.inner.host.class_bindings(class) else {
            return AgentMemory {
                bindings: self.inner.bindings.clone(),
                compaction: self.inner.bindings.clone(),
                profiles: self.memory_profiles().to_vec(),
                attached: Vec::new(),
            };
        };
        let mut bindings = self.inner.bindings.clone();
        // Not the agent runtime's own namespaces (`__…`, e.g. the open profiles behind
        // `this.memory(name)`): the model's code reaches only the profiles attached to the
        // class and the server.
        for (namespace, name, f) in own.iter().filter(|(ns, _, _)| !ns.starts_with("__")) {
            bindings.insert(namespace, name, Arc::clone(f));
        }
        let attached = self
            .inner
            .host
            .classes()
            .get(class)
            .map(|c| c.memory.clone())
            .unwrap_or_default();
        // The first attachment of a name decides (the class's own come first), as in the
        // bindings, so a server-wide profile the class attaches read-only stays read-only.
        let mut seen: Vec<&str> = Vec::new();
        let mut profiles = Vec::new();
        let server = self.memory_profiles().iter().map(|n| (n.as_str(), false));
        for (name, read_only) in attached
            .iter()
            .map(|a| (a.profile.as_str(), a.read_only))
            .chain(server)
        {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            if !read_only {
                profiles.push(name.to_owned());
            }
        }
        let mut compaction = Bindings::new();
        for (namespace, name, f) in bindings.iter() {
            // Nothing writable: compaction has nowhere to ingest.
            if profiles.is_empty() && (namespace, name) == ("memory", "ingest") {
                continue;
            }
            compaction.insert(namespace, name, Arc::clone(f));
        }
        AgentMemory {
            bindings,
            compaction,
            profiles,
            attached: attached.into_iter().map(|a| a.profile).collect(),
        }
    }

    /// Starts a turn: checks the class, asks the agent for its configuration, resolves
    /// the model, commits the user's message, then runs the loop in a task. Errors here
    /// mean nothing was stored.
    pub async fn chat(&self, class: &str, name: &str, request: ChatRequest) -> Result<Turn, Error> {
        let address = self.inner.host.address(class, name)?;
        self.chat_at(&address, request).await
    }

    /// [`Self::chat`] with the agent at `address` (a sub-agent must exist).
    pub async fn chat_at(&self, address: &Address, request: ChatRequest) -> Result<Turn, Error> {
        let text = request.text.trim().to_owned();
        if text.is_empty() {
            return Err(Error::InvalidInput(
                "the message has no text; send the user's words".to_owned(),
            ));
        }
        let host = &self.inner.host;
        if !host.classes().get(&address.class)?.think {
            return Err(Error::NotThink {
                class: address.class.clone(),
            });
        }
        let address = address.clone();
        let guard = self.lock(&address).lock_owned().await;
        // A turn a crash interrupted finishes first, so its answer precedes this message.
        self.recover_locked(&address).await;
        let (config, model) = self.config(&address).await?;
        let title = session_title(&text);
        let session_id = request.session_id.clone();
        let parent = request.parent.clone();
        if parent != Parent::Leaf && session_id.is_none() {
            return Err(Error::InvalidInput(
                "parentId names a message of a session: pass its sessionId too".to_owned(),
            ));
        }
        let user = NewMessage::new(store::Role::User, json!(Message::user(text.clone())))
            .with_text(text.clone());
        let (session_id, user_message_id, fiber_id) = host
            .with_new_or_existing_db_at(&address, move |db| {
                db.transaction(|db| {
                    let session = match &session_id {
                        Some(id) => db.sessions().get(id)?,
                        None => db.sessions().create(&title)?,
                    };
                    let message = match &parent {
                        Parent::Leaf => db.sessions().append_to_leaf(&session.id, &user)?,
                        Parent::Root => db.sessions().append(&session.id, None, &user)?,
                        Parent::Message(id) => {
                            db.sessions().append(&session.id, Some(id), &user)?
                        }
                        Parent::Regenerate => {
                            let history = db.sessions().history(&session.id, None)?;
                            let parent = history
                                .iter()
                                .rev()
                                .find(|m| m.role == store::Role::User && m.tool_results.is_empty())
                                .map_or_else(
                                    || history.last().map(|m| m.id.clone()),
                                    |question| question.parent_id.clone(),
                                );
                            db.sessions()
                                .append(&session.id, parent.as_deref(), &user)?
                        }
                        Parent::RegenerateAnswer(answer) => {
                            // The answer's history runs from the root to it: its question is
                            // the last user message (not a tool result) before it.
                            let history = db.sessions().history(&session.id, Some(answer))?;
                            let question = history
                                .iter()
                                .rev()
                                .find(|m| m.role == store::Role::User && m.tool_results.is_empty())
                                .ok_or_else(|| {
                                    store::Error::NotFound(format!(
                                        "message {answer} of session {}: no question before it to ask again; regenerate an answer, not a first message",
                                        session.id
                                    ))
                                })?;
                            db.sessions()
                                .append(&session.id, question.parent_id.as_deref(), &user)?
                        }
                    };
                    let fiber = db.fibers().start(FIBER_NAME, Some(&session.id))?;
                    Ok((session.id, message.id, fiber.id))
                })
                .map_err(agents::Error::Store)
            })
            .await?;
        let (tx, chunks) = mpsc::unbounded_channel();
        let run = self.run(
            address,
            config,
            model,
            session_id.clone(),
            fiber_id,
            tx,
            Some(guard),
        );
        let step_cap = request.max_steps.unwrap_or(1000).clamp(1, 1000);
        let run = Run {
            user_text: Some(text),
            max_steps: run.max_steps.min(step_cap),
            step_cap,
            ..run
        };
        let message_id = run.message_id.clone();
        // The turn is a child of the request that started it (one trace from `http_request`
        // down to each tool call), though it outlives the handler.
        tokio::spawn(run.run(None).in_current_span());
        Ok(Turn {
            session_id,
            user_message_id,
            message_id,
            chunks,
        })
    }

    /// Resumes every chat turn of `Think` agents that a crash left unfinished: completed
    /// tool calls are not run again, the call that was in flight gets an interrupted
    /// result, calls that never started run, and the loop goes on. Returns how many turns
    /// were resumed. Meant for start-up; it opens every `Think` agent's database, sub-agents
    /// (delegations' children) included.
    pub async fn recover_all(&self) -> usize {
        let host = &self.inner.host;
        let mut resumed = 0;
        let classes: Vec<String> = host
            .classes()
            .iter()
            .filter(|c| c.think)
            .map(|c| c.name.clone())
            .collect();
        for class in classes {
            resumed += self
                .recover_pages(|after| {
                    host.list(Some(&class), after.map(|n| (class.as_str(), n)), 500)
                })
                .await;
            // Sub-agents of the class too: a delegation's child whose turn a crash cut off.
            resumed += self
                .recover_pages(|after| host.list_sub_agents_of(&class, after, 500))
                .await;
        }
        resumed
    }

    /// [`Self::recover_locked`] for every agent of the pages `list` gives (500 at a time,
    /// each after the name of the previous page's last agent).
    async fn recover_pages(
        &self,
        list: impl Fn(Option<&str>) -> Result<Vec<store::AgentInfo>, agents::Error>,
    ) -> usize {
        let mut resumed = 0;
        let mut after: Option<String> = None;
        loop {
            let page = match list(after.as_deref()) {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list agents to resume their chats");
                    break;
                }
            };
            let Some(last) = page.last() else { break };
            after = Some(last.name.clone());
            for agent in &page {
                let address = Address::new(&agent.class, &agent.name);
                let _guard = self.lock(&address).lock_owned().await;
                resumed += self.recover_locked(&address).await;
            }
            if page.len() < 500 {
                break;
            }
        }
        resumed
    }

    /// Resumes the agent's unfinished chat turns (its chat lock held). Failures are
    /// logged and recorded on the fiber: they never stop the next chat.
    pub(crate) async fn recover_locked(&self, address: &Address) -> usize {
        if lock(&self.inner.recovered).contains(address) {
            return 0;
        }
        let resumed = self.recover_now(address).await;
        let mut recovered = lock(&self.inner.recovered);
        if recovered.len() > 100_000 {
            recovered.clear();
        }
        recovered.insert(address.clone());
        resumed
    }

    async fn recover_now(&self, address: &Address) -> usize {
        let host = &self.inner.host;
        // No child of this process works on a delegation yet: the running ones were cut
        // off by the previous process's end. Their onDone methods hear so.
        match host
            .with_new_or_existing_db_at(address, |db| Ok(db.delegations().interrupt_running()?))
            .await
        {
            Ok(interrupted) => {
                for record in interrupted {
                    let Some(method) = record.on_done.clone() else {
                        continue;
                    };
                    let (host, address) = (host.clone(), address.clone());
                    tokio::spawn(async move {
                        if let Err(e) = host.call_at(&address, &method, vec![json!(record)]).await {
                            tracing::warn!(agent = %address, method, error = %e, "a delegation's onDone method failed");
                        }
                    });
                }
            }
            Err(e) => {
                tracing::warn!(agent = %address, error = %e, "cannot mark interrupted delegations");
            }
        }
        let unfinished = host
            .with_new_or_existing_db_at(address, |db| Ok(db.fibers().unfinished()?))
            .await;
        let fibers: Vec<store::Fiber> = match unfinished {
            Ok(fibers) => fibers
                .into_iter()
                .filter(|f| f.name == FIBER_NAME && f.session_id.is_some())
                .collect(),
            Err(e) => {
                tracing::warn!(agent = %address, error = %e, "cannot look for interrupted chat turns");
                return 0;
            }
        };
        let mut resumed = 0;
        for fiber in fibers {
            let Some(session_id) = fiber.session_id.clone() else {
                continue;
            };
            let fiber_id = fiber.id.clone();
            let (session, id) = (session_id.clone(), fiber_id.clone());
            let found = host
                .with_db_at(address, move |db| {
                    let interrupted = json!({"content": llm::INTERRUPTED_RESULT, "isError": true});
                    let recovery = db.fibers().recover(&id, &interrupted)?;
                    let history = db.sessions().history(&session, None)?;
                    let streamed = db.fibers().chunks_after(&id, 0, None)?;
                    Ok((recovery, history, streamed))
                })
                .await;
            let (recovery, history, streamed) = match found {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(agent = %address, fiber = %fiber_id, error = %e, "cannot recover a chat turn");
                    continue;
                }
            };
            tracing::info!(agent = %address, fiber = %fiber_id, interrupted = recovery.interrupted.len(),
                "resuming a chat turn a crash interrupted");
            let mut resume = Resume::plan(&recovery.checkpoints, &history);
            if let Some(stash) = &fiber.stash {
                resume.choices = serde_json::from_value(stash["turn"].clone()).ok();
                resume.recalled = stash["recalled"].as_str().map(str::to_owned);
            }
            match self.config(address).await {
                Ok((config, model)) => {
                    // Whoever reconnects gets what was streamed before the crash, then the
                    // rest; the session gets the answer in any case.
                    let (tx, _) = mpsc::unbounded_channel();
                    let mut run = self.run(
                        address.clone(),
                        config,
                        model,
                        session_id,
                        fiber_id,
                        tx,
                        None,
                    );
                    run.seed(decode_chunks(&streamed));
                    run.run(Some(resume)).await;
                    resumed += 1;
                }
                Err(e) => {
                    let message = format!("could not resume after a restart: {e}");
                    tracing::warn!(agent = %address, fiber = %fiber_id, "{message}");
                    self.end_waiting(address, &session_id, &fiber_id, &message);
                    let _ = host
                        .with_db_at(address, move |db| {
                            Ok(db.fibers().fail(&fiber_id, &message)?)
                        })
                        .await;
                }
            }
        }
        resumed
    }

    /// What the class chose, and its model.
    pub(crate) async fn config(&self, address: &Address) -> Result<(Config, llm::Model), Error> {
        let value = self
            .inner
            .host
            .think_at(address, "config", Value::Null)
            .await?;
        let config: Config = serde_json::from_value(value).map_err(|e| {
            Error::InvalidInput(format!(
                "{}'s getModel/getSystemPrompt/getTools answered something unusable: {e}",
                address.class
            ))
        })?;
        for tool in &config.tools {
            if let Some(spec) = &tool.agent {
                let class = &spec.class_name;
                let think = self.inner.host.classes().get(class)?.think;
                if !think {
                    return Err(Error::InvalidInput(format!(
                        "{}'s tool {} delegates to {class}, which is not a chat agent: agentTool takes a class that extends Think",
                        address.class, tool.name
                    )));
                }
                if let Some(method) = &spec.on_done {
                    let own = self.inner.host.classes().get(&address.class)?;
                    if !own.has_any_method(method) {
                        return Err(Error::InvalidInput(format!(
                            "{}'s tool {} calls {method} when a task ends, but {} has no such method; its methods are: {}",
                            address.class,
                            tool.name,
                            address.class,
                            own.all_methods.join(", ")
                        )));
                    }
                }
            }
        }
        let model = self.inner.models.get(config.model.as_deref())?;
        Ok((config, model))
    }

    /// What the model would be sent for the session's next step, as the class configures
    /// it (the context viewer): the model, the system prompt, the tools, and the session's
    /// prompt view (summaries standing in for compacted stretches) as chat messages, each
    /// with an estimate of its tokens (a quarter of its JSON's bytes, as compaction
    /// estimates). A `beforeTurn` hook may still change the system prompt, tools or model
    /// for a turn; that is not applied here.
    pub async fn context(&self, address: &Address, session_id: &str) -> Result<Value, Error> {
        let host = &self.inner.host;
        if !host.classes().get(&address.class)?.think {
            return Err(Error::NotThink {
                class: address.class.clone(),
            });
        }
        let (config, model) = self.config(address).await?;
        let budget = config.budget();
        let session = session_id.to_owned();
        let view = host
            .with_db_at(address, move |db| {
                Ok(db.sessions().prompt_view(&session, None)?)
            })
            .await?;
        let toolbox = Toolbox::new(
            host,
            address.clone(),
            session_id.to_owned(),
            config.tools,
            self.code_mode_for(address),
            self.capabilities(),
        );
        let request = Request {
            system: config.system,
            tools: toolbox.definitions().to_vec(),
            messages: compaction::messages(address, &view),
            ..Request::default()
        };
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| {
                json!({
                    "name": t.name,
                    "description": t.description,
                    "inputSchema": t.input_schema,
                    "tokens": tokens_of(t),
                })
            })
            .collect();
        let messages: Vec<Value> = request
            .messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content, "tokens": tokens_of(m) }))
            .collect();
        Ok(json!({
            "model": model.spec().to_string(),
            "system": request.system,
            "systemTokens": request.system.as_deref().map_or(0, compaction::estimate_tokens),
            "tools": tools,
            "messages": messages,
            "maxSteps": config.max_steps,
            "totalTokens": compaction::estimate_request(&request),
            "compactAtTokens": budget.threshold(),
        }))
    }

    /// The agent's Code Mode server for `execute`, made once and kept (a bounded cache).
    fn code_mode_for(&self, address: &Address) -> CodeModeServer {
        let mut servers = lock(&self.inner.code_modes);
        if servers.len() > 4096 {
            servers.clear();
        }
        servers
            .entry(address.clone())
            .or_insert_with(|| {
                let bindings = self.memory_for(&address.class).bindings;
                code_mode(&self.inner.host, address, &bindings, self.capabilities())
            })
            .clone()
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        address: Address,
        config: Config,
        model: llm::Model,
        session_id: String,
        fiber_id: String,
        tx: mpsc::UnboundedSender<Chunk>,
        guard: Option<OwnedMutexGuard<()>>,
    ) -> Run {
        let code_mode = self.code_mode_for(&address);
        let budget = config.budget();
        let memory = self.memory_for(&address.class);
        let toolbox = Toolbox::new(
            &self.inner.host,
            address.clone(),
            session_id.clone(),
            config.tools,
            code_mode,
            self.capabilities(),
        );
        let hooks = Hooks::of(&config.hooks);
        let buffer = {
            let mut streams = lock(&self.inner.streams);
            if streams.len() > 10_000 {
                streams.retain(|_, b| !lock(b).done);
            }
            let key = (address.clone(), session_id.clone());
            // A client that reconnected after a restart, before this resumed turn started,
            // waits on a buffer made for this fiber: keep it.
            match streams.get(&key) {
                Some(b) if running_fiber(b, &fiber_id) => Arc::clone(b),
                _ => {
                    let buffer = Arc::new(Mutex::new(Buffer {
                        fiber_id: fiber_id.clone(),
                        ..Buffer::default()
                    }));
                    streams.insert(key, Arc::clone(&buffer));
                    buffer
                }
            }
        };
        let cancel = {
            let mut buffer = lock(&buffer);
            buffer.listeners.push(tx);
            buffer.cancel.subscribe()
        };
        Run {
            buffer,
            cancel,
            host: self.inner.host.clone(),
            harness: self.clone(),
            models: self.inner.models.clone(),
            hooks,
            user_text: None,
            address,
            model,
            system: config.system,
            max_steps: config.max_steps.max(1),
            step_cap: 1000,
            budget,
            bindings: memory.compaction,
            memory_profiles: memory.profiles,
            recall_from: memory.attached,
            session_id,
            message_id: format!("msg-{fiber_id}"),
            fiber_id,
            toolbox,
            unsaved: Mutex::new(Vec::new()),
            saved_at: Mutex::new(std::time::Instant::now()),
            _guard: guard,
        }
    }

    /// A reconnecting client's view of the session's turn in progress: every chunk so far,
    /// then the rest as it comes. `None` when no turn of the session is running.
    ///
    /// After a restart, a turn the previous process left running is resumed (at start-up
    /// by `recover_all`, or now): the client gets what that process streamed (stored with
    /// the fiber), then the resumed rest.
    pub async fn reconnect(
        &self,
        class: &str,
        name: &str,
        session_id: &str,
    ) -> Option<mpsc::UnboundedReceiver<Chunk>> {
        let address = Address::new(class, name);
        let key = (address.clone(), session_id.to_owned());
        if let Some(rx) = self.attach(&key) {
            return Some(rx);
        }
        let session = session_id.to_owned();
        let found = self
            .inner
            .host
            .with_db(class, name, move |db| {
                let Some(fiber) = db.fibers().latest_of_session(&session)? else {
                    return Ok(None);
                };
                if fiber.name != FIBER_NAME || fiber.status != store::FiberStatus::Running {
                    return Ok(None);
                }
                let streamed = db.fibers().chunks_after(&fiber.id, 0, None)?;
                Ok(Some((fiber.id, streamed)))
            })
            .await;
        let (fiber_id, streamed) = match found {
            Ok(Some(found)) => found,
            Ok(None) | Err(agents::Error::NoSuchAgent { .. }) => return None,
            Err(e) => {
                tracing::warn!(agent = %address, error = %e, "cannot look for a chat turn to reconnect to");
                return None;
            }
        };
        // Running in storage but not here: a previous process's turn, not resumed yet
        // (a turn of this process ends its fiber before its buffer). The resumed turn
        // adopts this buffer.
        {
            let mut streams = lock(&self.inner.streams);
            let adopt = streams.get(&key).is_none_or(|b| {
                let b = lock(b);
                b.fiber_id != fiber_id && b.done
            });
            if adopt {
                let buffer = Buffer {
                    fiber_id: fiber_id.clone(),
                    chunks: decode_chunks(&streamed),
                    ..Buffer::default()
                };
                streams.insert(key.clone(), Arc::new(Mutex::new(buffer)));
            }
        }
        let rx = self.attach(&key);
        let harness = self.clone();
        let session = session_id.to_owned();
        tokio::spawn(async move {
            let _guard = harness.lock(&address).lock_owned().await;
            harness.recover_locked(&address).await;
            // Any resumed turn of the agent has ended by now (and no other runs: the lock
            // is held): a buffer still open was not picked up; do not leave its clients
            // waiting.
            harness.end_waiting(
                &address,
                &session,
                &fiber_id,
                "the interrupted turn could not be resumed; its history has what was stored",
            );
        });
        rx
    }

    /// Listens to the buffer of `key`, from its start.
    fn attach(&self, key: &(Address, String)) -> Option<mpsc::UnboundedReceiver<Chunk>> {
        let buffer = Arc::clone(lock(&self.inner.streams).get(key)?);
        let mut buffer = lock(&buffer);
        if buffer.done {
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        for chunk in &buffer.chunks {
            let _ = tx.send(chunk.clone());
        }
        buffer.listeners.push(tx);
        Some(rx)
    }

    /// Ends the stream of clients waiting for a turn that cannot be resumed.
    fn end_waiting(&self, address: &Address, session_id: &str, fiber_id: &str, message: &str) {
        let key = (address.clone(), session_id.to_owned());
        let Some(buffer) = lock(&self.inner.streams).get(&key).map(Arc::clone) else {
            return;
        };
        let mut buffer = lock(&buffer);
        if buffer.fiber_id != fiber_id || buffer.done {
            return;
        }
        let end = [
            Chunk::Error {
                error_text: message.to_owned(),
            },
            Chunk::Finish {
                message_metadata: None,
            },
        ];
        for chunk in end {
            buffer.listeners.retain(|l| l.send(chunk.clone()).is_ok());
        }
        buffer.done = true;
        buffer.chunks = Vec::new();
        buffer.listeners.clear();
    }

    /// Cancels the session's turn in progress: the model stream stops, calls in flight or
    /// not yet run are answered as interrupted (the history stays valid), the text that
    /// arrived is kept, the fiber is finished and the stream ends with an `abort` chunk.
    /// `false` when no turn of the session is running here. A client that disconnects
    /// does not cancel: only this does.
    pub fn cancel(&self, class: &str, name: &str, session_id: &str) -> bool {
        self.cancel_at(&Address::new(class, name), session_id)
    }

    /// [`Self::chat_at`] for a delegating turn: boxed, since a turn that starts another
    /// turn is a future that contains itself, which the compiler cannot prove `Send`.
    fn start_child(
        &self,
        child: Address,
        request: ChatRequest,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Turn, Error>> + Send>> {
        let harness = self.clone();
        Box::pin(async move { harness.chat_at(&child, request).await })
    }

    /// [`Self::cancel`] for an address.
    pub fn cancel_at(&self, address: &Address, session_id: &str) -> bool {
        let key = (address.clone(), session_id.to_owned());
        let Some(buffer) = lock(&self.inner.streams).get(&key).map(Arc::clone) else {
            return false;
        };
        let buffer = lock(&buffer);
        if buffer.done {
            return false;
        }
        buffer.cancel.send_replace(true);
        true
    }

    pub(crate) fn lock(&self, address: &Address) -> Arc<tokio::sync::Mutex<()>> {
        let mut chats = lock(&self.inner.chats);
        // Forget locks nobody holds or waits for, so the map does not grow with every
        // agent ever chatted with.
        if chats.len() > 1024 {
            chats.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        Arc::clone(chats.entry(address.clone()).or_default())
    }
}

/// How deep agents may delegate to agents (parent → child → …): a class that delegates
/// to its own class would otherwise recurse until storage runs out.
const MAX_DELEGATION_DEPTH: usize = 4;

/// The message a delegated task becomes: the one string the input holds (`task`, say),
/// or the input as JSON.
fn task_text(input: &serde_json::Map<String, Value>) -> String {
    let mut strings = input.values().filter_map(Value::as_str);
    match (strings.next(), strings.next(), input.len()) {
        (Some(text), None, 1) => text.to_owned(),
        _ => Value::Object(input.clone()).to_string(),
    }
}

/// A child agent's turn in progress for a delegation; cancelled if the delegation is
/// dropped before the turn ended.
struct ChildTurn<'a> {
    harness: &'a Harness,
    child: &'a Address,
    session_id: &'a str,
    done: bool,
}

impl Drop for ChildTurn<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.harness.cancel_at(self.child, self.session_id);
        }
    }
}

/// How a child agent's turn ended, as its delegation sees it.
struct ChildEnd {
    /// The child's last text (text before its tool calls was thinking aloud).
    answer: String,
    /// Why the turn failed or stopped, if it did.
    failure: Option<String>,
    /// Whether it was stopped for running out of its time budget.
    timed_out: bool,
}

impl ChildEnd {
    /// The delegation's status, result and error.
    fn outcome(
        self,
        class: &str,
        timeout_ms: Option<u64>,
    ) -> (DelegationStatus, Option<String>, Option<String>) {
        if self.timed_out {
            let so_far = if self.answer.is_empty() {
                String::new()
            } else {
                format!("; its answer so far: {}", self.answer)
            };
            return (
                DelegationStatus::TimedOut,
                None,
                Some(format!(
                    "the {class} agent ran out of its time budget ({} ms) and was stopped{so_far}",
                    timeout_ms.unwrap_or_default()
                )),
            );
        }
        match self.failure {
            Some(error) => (
                DelegationStatus::Failed,
                None,
                Some(format!("the {class} agent failed: {error}")),
            ),
            None => (DelegationStatus::Completed, Some(self.answer), None),
        }
    }
}

/// Reads a child agent's turn to its end, handing each chunk to `each`; past `timeout`
/// the child's turn is cancelled, and read on to its end.
async fn follow_child(
    harness: &Harness,
    child: &Address,
    session_id: &str,
    mut chunks: mpsc::UnboundedReceiver<Chunk>,
    timeout: Option<std::time::Duration>,
    mut each: impl FnMut(&Chunk),
) -> ChildEnd {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut end = ChildEnd {
        answer: String::new(),
        failure: None,
        timed_out: false,
    };
    loop {
        let next = match deadline {
            Some(deadline) if !end.timed_out => {
                match tokio::time::timeout_at(deadline, chunks.recv()).await {
                    Ok(next) => next,
                    Err(_) => {
                        end.timed_out = true;
                        harness.cancel_at(child, session_id);
                        continue;
                    }
                }
            }
            _ => chunks.recv().await,
        };
        let Some(chunk) = next else { break };
        match &chunk {
            Chunk::TextStart { .. } => end.answer.clear(),
            Chunk::TextDelta { delta, .. } => end.answer.push_str(delta),
            Chunk::Error { error_text } => end.failure = Some(error_text.clone()),
            Chunk::Abort { reason } => {
                end.failure = Some(reason.clone().unwrap_or_else(|| "cancelled".to_owned()));
            }
            _ => {}
        }
        each(&chunk);
    }
    end
}

/// Resolves when the store in flight (if any) ends; never, when there is none.
async fn until_saved(saving: &mut Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>>) {
    match saving {
        Some(saving) => saving.await,
        None => std::future::pending().await,
    }
}

/// Whether `buffer` is the live buffer of the turn of `fiber_id`.
fn running_fiber(buffer: &Mutex<Buffer>, fiber_id: &str) -> bool {
    let buffer = lock(buffer);
    buffer.fiber_id == fiber_id && !buffer.done
}

/// Chunks stored with a fiber (one JSON chunk each); one that does not parse (written
/// by another version) is left out.
fn decode_chunks(stored: &[store::Chunk]) -> Vec<Chunk> {
    stored
        .iter()
        .filter_map(|c| serde_json::from_str(&c.chunk).ok())
        .collect()
}

/// One running turn.
struct Run {
    host: AgentHost,
    /// For the turns of child agents this one delegates to.
    harness: Harness,
    /// For a model `beforeTurn` chooses.
    models: Models,
    hooks: Hooks,
    /// The user's message of a new turn (`None` when resuming), for `beforeTurn`.
    user_text: Option<String>,
    address: Address,
    model: llm::Model,
    system: Option<String>,
    max_steps: u32,
    /// The most steps this turn may take, whatever `beforeTurn` chooses (a delegation's
    /// budget; 1000 otherwise).
    step_cap: u32,
    /// When to compact the prompt, and what compaction needs.
    budget: Budget,
    bindings: Bindings,
    memory_profiles: Vec<String>,
    /// Profiles a new turn recalls from into its system prompt (the class's own).
    recall_from: Vec<String>,
    session_id: String,
    fiber_id: String,
    message_id: String,
    toolbox: Toolbox,
    /// What was sent, for clients that reconnect.
    buffer: Arc<Mutex<Buffer>>,
    /// Becomes `true` when the turn is cancelled.
    cancel: watch::Receiver<bool>,
    /// Chunks sent but not yet stored with the fiber (JSON): stored with the next storage
    /// operation of the turn, so replaying after a restart costs no writes of its own.
    unsaved: Mutex<Vec<String>>,
    /// When chunks were last stored (a long inference stores them now and then).
    saved_at: Mutex<std::time::Instant>,
    /// Held until the turn ends: one turn per agent at a time (`None`: the caller holds it).
    _guard: Option<OwnedMutexGuard<()>>,
}

/// Where an interrupted turn stands, from its checkpoints and its session's history.
#[derive(Debug)]
struct Resume {
    /// Steps started before the crash.
    steps: u32,
    open: Open,
    /// What `beforeTurn` chose for the turn, if anything.
    choices: Option<TurnChoices>,
    /// The memories recall added to the turn's system prompt, if any.
    recalled: Option<String>,
}

#[derive(Debug)]
enum Open {
    /// Every started step finished: go on with the next.
    Nothing,
    /// The step's inference was cut off before its answer was stored: close the step,
    /// then infer again.
    Inference(u32),
    /// The step's answer made these calls and their results were not all stored: the
    /// recorded ones (by call id: text, is error) are used, the others run.
    Calls {
        step: u32,
        /// The stored answer that made the calls.
        answer: Message,
        recorded: HashMap<String, (String, bool)>,
    },
    /// The step's tool results are stored; only its end is not.
    Results(u32),
    /// The model had answered (no calls): the turn is over.
    Answered(Option<u32>),
}

impl Resume {
    fn plan(checkpoints: &[store::Checkpoint], history: &[store::Message]) -> Resume {
        use store::CheckpointKind;
        let steps = checkpoints.iter().map(|c| c.step).max().unwrap_or(0);
        let open = steps > 0
            && !checkpoints
                .iter()
                .any(|c| c.step == steps && c.kind == CheckpointKind::StepFinished);
        let last: Option<Message> = history
            .last()
            .and_then(|m| serde_json::from_str(m.content.get()).ok());
        let open = match (open, last) {
            (_, Some(m)) if m.role == Role::Assistant && m.tool_calls().next().is_none() => {
                Open::Answered(open.then_some(steps))
            }
            (false, _) => Open::Nothing,
            (true, Some(m)) if m.role == Role::Assistant => {
                let prefix = format!("{steps}:");
                let recorded = checkpoints
                    .iter()
                    .filter(|c| c.kind == CheckpointKind::ToolResult)
                    .filter_map(|c| {
                        let id = c.call_id.as_deref()?.strip_prefix(&prefix)?;
                        let text = c.data["content"].as_str().unwrap_or_default().to_owned();
                        let is_error = c.data["isError"].as_bool().unwrap_or(true);
                        Some((id.to_owned(), (text, is_error)))
                    })
                    .collect();
                Open::Calls {
                    step: steps,
                    answer: m,
                    recorded,
                }
            }
            (true, Some(m)) if m.role == Role::Tool => Open::Results(steps),
            (true, _) => Open::Inference(steps),
        };
        Resume {
            steps,
            open,
            choices: None,
            recalled: None,
        }
    }
}

/// How a turn ended.
enum Stop {
    Answered,
    MaxSteps,
    /// `beforeTurn` refused the turn, saying why.
    Refused,
    /// `Harness::cancel`.
    Cancelled,
    Failed(String),
}

/// How one tool call ended.
enum CallEnd {
    Done(Output),
    /// The turn stops (a hook threw, storage failed): the call's result and why.
    Stopped(Output, String),
    /// Cancelled while the tool ran: its checkpoint id (the result is still to record).
    Cancelled(String),
}

/// A step's inference, as `onStepFinish` and the loop need it.
struct Inference {
    message: Message,
    usage: Option<Usage>,
    calls: Vec<(ToolCall, Option<String>)>,
    finish: Option<llm::FinishReason>,
}

/// The AI SDK's name of a finish reason.
fn finish_reason(reason: Option<&llm::FinishReason>) -> &'static str {
    match reason {
        Some(llm::FinishReason::Stop) => "stop",
        Some(llm::FinishReason::Length) => "length",
        Some(llm::FinishReason::ToolCalls) => "tool-calls",
        Some(llm::FinishReason::ContentFilter) => "content-filter",
        Some(llm::FinishReason::Other(_)) => "other",
        None => "unknown",
    }
}

/// A tool call as the hooks see it (the AI SDK's field names).
fn call_view(call: &ToolCall, step: u32) -> Value {
    json!({"toolCallId": call.id, "toolName": call.name, "input": call.arguments, "step": step})
}

impl Run {
    /// Sends a chunk to the turn's client and reconnected ones (a client that went away
    /// does not stop the turn). After the last chunk (`finish`, `abort`) the stream is
    /// over: a cancelled turn ends its stream at once and stores its end after.
    fn send(&self, chunk: Chunk) {
        let mut buffer = lock(&self.buffer);
        if buffer.done {
            return;
        }
        buffer.listeners.retain(|l| l.send(chunk.clone()).is_ok());
        if let Ok(json) = serde_json::to_string(&chunk) {
            lock(&self.unsaved).push(json);
        }
        // The chunks are kept only while the turn runs: whoever reconnects after its end
        // reads the answer from the session.
        if chunk.is_last() {
            buffer.done = true;
            buffer.chunks = Vec::new();
            buffer.listeners.clear();
        } else {
            buffer.chunks.push(chunk);
        }
    }

    fn compaction(&self) -> compaction::Context<'_> {
        compaction::Context {
            host: &self.host,
            address: &self.address,
            model: &self.model,
            bindings: &self.bindings,
            memory_profiles: &self.memory_profiles,
            session_id: &self.session_id,
            budget: self.budget,
        }
    }

    /// Storage work on the agent's database, between its turns.
    /// The chunks sent since the last operation are stored first (with the fiber, for
    /// replays after a restart): one trip to the agent's database for both.
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut AgentDb) -> store::Result<T> + Send + 'static,
    ) -> Result<T, agents::Error> {
        let unsaved = std::mem::take(&mut *lock(&self.unsaved));
        *lock(&self.saved_at) = std::time::Instant::now();
        let (fiber, address) = (self.fiber_id.clone(), self.address.clone());
        self.host
            .with_new_or_existing_db_at(&self.address, move |db| {
                if !unsaved.is_empty()
                    && let Err(e) = db.fibers().push_chunks(&fiber, &unsaved)
                {
                    // Only a replay after a restart misses them; the turn goes on.
                    tracing::warn!(agent = %address, error = %e, "cannot store a chat turn's streamed output");
                }
                f(db).map_err(agents::Error::Store)
            })
            .await
    }

    /// Whether chunks wait to be stored and the last store is older than `SAVE_EVERY` (a
    /// long inference, or a slow stream of text).
    fn save_due(&self) -> bool {
        const SAVE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
        lock(&self.saved_at).elapsed() >= SAVE_EVERY && !lock(&self.unsaved).is_empty()
    }

    /// Stores the chunks sent so far.
    async fn save(&self) {
        if let Err(e) = self.db(|_| Ok(())).await {
            tracing::warn!(agent = %self.address, error = %e, "cannot store a chat turn's streamed output");
        }
    }

    /// Starts from what a previous process streamed for this turn (a resumed turn).
    fn seed(&mut self, chunks: Vec<Chunk>) {
        let mut buffer = lock(&self.buffer);
        if buffer.chunks.is_empty() {
            buffer.chunks = chunks;
        }
    }

    /// What the chunks so far leave open: a text block, a step.
    fn open_parts(&self) -> (Option<String>, bool) {
        let buffer = lock(&self.buffer);
        let (mut text, mut step) = (None, false);
        for chunk in &buffer.chunks {
            match chunk {
                Chunk::TextStart { id } => text = Some(id.clone()),
                Chunk::TextEnd { .. } => text = None,
                Chunk::StartStep => step = true,
                Chunk::FinishStep => step = false,
                _ => {}
            }
        }
        (text, step)
    }

    /// The turn, in a `think_turn` span whose children are its `think_step`s and their
    /// `think_tool_call`s (with `--log-format json`, each span's close logs its duration).
    async fn run(self, resume: Option<Resume>) {
        bump(&self.harness.inner.counters.turns);
        let span = tracing::info_span!(
            "think_turn",
            agent = %self.address,
            session = %self.session_id,
            resumed = resume.is_some()
        );
        self.run_in_span(resume).instrument(span).await;
    }

    async fn run_in_span(mut self, resume: Option<Resume>) {
        let started = lock(&self.buffer)
            .chunks
            .iter()
            .any(|c| matches!(c, Chunk::Start { .. }));
        // A resumed turn's replay already starts the message.
        if !started {
            self.send(Chunk::Start {
                message_id: self.message_id.clone(),
                message_metadata: Some(json!({"sessionId": self.session_id})),
            });
        }
        let mut usage = Usage::default();
        let mut steps = 0;
        let mut stopped = None;
        match &resume {
            Some(resume) => {
                if let Some(choices) = &resume.choices
                    && let Err(message) = self.choose(choices)
                {
                    stopped = Some(Stop::Failed(message));
                }
                if let Some(block) = &resume.recalled {
                    self.add_to_system(block);
                }
            }
            None => stopped = self.prepare_turn().await,
        }
        if let (None, Some(resume)) = (&stopped, resume) {
            steps = resume.steps;
            stopped = match self.resume(resume.open).await {
                Ok(true) => Some(Stop::Answered),
                Ok(false) => None,
                Err(message) => Some(Stop::Failed(message)),
            };
        }
        let stop = loop {
            if let Some(stop) = stopped.take() {
                // Whatever stopped a cancelled turn, it was the cancel.
                break if self.cancelled() {
                    Stop::Cancelled
                } else {
                    stop
                };
            }
            if self.cancelled() {
                break Stop::Cancelled;
            }
            if steps >= self.max_steps {
                break Stop::MaxSteps;
            }
            steps += 1;
            let span = tracing::info_span!("think_step", step = steps);
            match self.step(steps, &mut usage).instrument(span).await {
                Ok(true) => break Stop::Answered,
                Ok(false) => {}
                Err(message) => stopped = Some(Stop::Failed(message)),
            }
        };
        let stopped = match &stop {
            Stop::Answered => "answered",
            Stop::MaxSteps => "maxSteps",
            Stop::Refused => "refused",
            Stop::Cancelled => "cancelled",
            Stop::Failed(_) => "error",
        };
        let summary = json!({
            "steps": steps,
            "stopped": stopped,
            "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens},
        });
        let fiber = self.fiber_id.clone();
        let finished = match &stop {
            Stop::Failed(message) => {
                let message = message.clone();
                self.db(move |db| db.fibers().fail(&fiber, &message).map(drop))
                    .await
            }
            _ => {
                let result = summary.clone();
                self.db(move |db| db.fibers().complete(&fiber, &result).map(drop))
                    .await
            }
        };
        if let Err(e) = finished {
            tracing::warn!(agent = %self.address, error = %e, "cannot record the end of a chat turn");
        }
        if let Stop::Failed(message) = &stop {
            let error_text = self.on_chat_error(message).await;
            self.send(Chunk::Error { error_text });
        }
        if let Stop::MaxSteps = stop {
            tracing::info!(agent = %self.address, steps, "a chat turn stopped at maxSteps");
        }
        if let Stop::Cancelled = stop {
            tracing::info!(agent = %self.address, steps, "a chat turn was cancelled");
            self.send(Chunk::Abort {
                reason: Some("cancelled".to_owned()),
            });
            return;
        }
        let mut metadata = summary;
        metadata["sessionId"] = json!(self.session_id);
        self.send(Chunk::Finish {
            message_metadata: Some(metadata),
        });
    }

    fn cancelled(&self) -> bool {
        *self.cancel.borrow()
    }

    /// Resolves when the turn is cancelled (never, if it is not).
    async fn until_cancelled(&self) {
        let mut cancel = self.cancel.clone();
        if cancel.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Runs one of the class's turn hooks in its isolate (a `think` turn). `Err` names the
    /// hook: a hook that throws ends the turn.
    async fn hook(&self, hook: &str, args: Value) -> Result<Value, String> {
        let span = tracing::info_span!("think_hook", hook);
        self.host
            .think_at(&self.address, "hook", json!({"hook": hook, "args": args}))
            .instrument(span)
            .await
            .map_err(|e| format!("the {hook} hook failed: {e}"))
    }

    /// `beforeTurn(ctx)`, then memory recall, then both kept for a resume. `Some`: the
    /// turn ends here.
    async fn prepare_turn(&mut self) -> Option<Stop> {
        let choices = match self.before_turn().await {
            Ok(choices) => choices,
            Err(stop) => return Some(stop),
        };
        let recalled = self.recall_into_system().await;
        if choices.is_none() && recalled.is_none() {
            return None;
        }
        // Kept so that a turn resumed after a restart has the same prompt and choices.
        let mut stash = json!({ "turn": choices.unwrap_or_default() });
        if let Some(block) = recalled {
            stash["recalled"] = Value::String(block);
        }
        let fiber = self.fiber_id.clone();
        if let Err(e) = self.db(move |db| db.fibers().stash(&fiber, &stash)).await {
            return Some(Stop::Failed(format!(
                "cannot keep what beforeTurn chose: {e}"
            )));
        }
        None
    }

    /// `beforeTurn(ctx)`: the class may change this turn's system prompt, tools, model or
    /// step limit (`Ok(Some)`: applied), or refuse it (`Err`: the turn ends here).
    async fn before_turn(&mut self) -> Result<Option<TurnChoices>, Stop> {
        if !self.hooks.before_turn {
            return Ok(None);
        }
        let ctx = json!({
            "sessionId": self.session_id,
            "text": self.user_text,
            "system": self.system,
            "model": self.model.spec().to_string(),
            "maxSteps": self.max_steps,
            "tools": self.toolbox.definitions().iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        });
        let value = match self.hook("beforeTurn", ctx).await {
            Ok(Value::Null) => return Ok(None),
            Ok(value) => value,
            Err(message) => return Err(Stop::Failed(message)),
        };
        let choices: TurnChoices = serde_json::from_value(value).map_err(|e| {
            Stop::Failed(format!(
                "the beforeTurn hook answered something unusable: {e}"
            ))
        })?;
        if let Some(reason) = choices.refuse.clone() {
            return Err(self.refuse(reason).await);
        }
        self.choose(&choices).map_err(Stop::Failed)?;
        Ok(Some(choices))
    }

    /// Number of memories a new turn adds to its system prompt.
    const RECALLED: usize = 3;

    /// A new turn of a class that attaches memory profiles: the memories most relevant
    /// to the user's message, from each of them (the best [`Self::RECALLED`] overall),
    /// appended to the system prompt as a "Relevant memories:" block, which is returned.
    /// A failed recall (a profile never written, an endpoint down) is logged and leaves
    /// the prompt as it is.
    async fn recall_into_system(&mut self) -> Option<String> {
        let (Some(text), false) = (&self.user_text, self.recall_from.is_empty()) else {
            return None;
        };
        let recall = self.bindings.get("memory", "recall")?;
        let mut found: Vec<(f64, String)> = Vec::new();
        for profile in &self.recall_from {
            let args = json!({"query": text, "limit": Self::RECALLED, "profile": profile});
            match recall(args).await {
                Ok(reply) => {
                    for r in reply["results"].as_array().into_iter().flatten() {
                        let (Some(score), Some(content)) =
                            (r["score"].as_f64(), r["memory"]["content"].as_str())
                        else {
                            continue;
                        };
                        let when = r["memory"]["occurredAt"].as_str().unwrap_or_default();
                        let day = when.get(..10).unwrap_or(when);
                        // One line each: a memory is data, not instructions to the model.
                        let line = content.split_whitespace().collect::<Vec<_>>().join(" ");
                        found.push((score, format!("- {line} ({profile}, {day})")));
                    }
                }
                // A profile nobody has written yet simply has nothing to offer.
                Err(e) if e.code == "NOT_FOUND" => {}
                Err(e) => {
                    tracing::warn!(agent = %self.address, profile = %profile, code = %e.code,
                        "cannot recall memories for the turn: {}", e.message);
                }
            }
        }
        if found.is_empty() {
            return None;
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        found.truncate(Self::RECALLED);
        let lines: Vec<String> = found.into_iter().map(|(_, line)| line).collect();
        let block = format!("Relevant memories:\n{}", lines.join("\n"));
        self.add_to_system(&block);
        Some(block)
    }

    /// Appends `block` to the system prompt, after a blank line.
    fn add_to_system(&mut self, block: &str) {
        self.system = Some(match self.system.take() {
            Some(system) if !system.trim().is_empty() => format!("{system}\n\n{block}"),
            _ => block.to_owned(),
        });
    }

    /// Applies what `beforeTurn` chose.
    fn choose(&mut self, choices: &TurnChoices) -> Result<(), String> {
        if let Some(spec) = &choices.model {
            self.model = self
                .models
                .get(Some(spec))
                .map_err(|e| format!("the beforeTurn hook chose the model {spec}: {e}"))?;
        }
        if let Some(system) = &choices.system {
            self.system = Some(system.clone());
        }
        if let Some(max_steps) = choices.max_steps {
            self.max_steps = max_steps.clamp(1, self.step_cap);
        }
        if let Some(names) = &choices.active_tools {
            self.toolbox
                .restrict(names)
                .map_err(|e| format!("the beforeTurn hook chose activeTools: {e}"))?;
        }
        Ok(())
    }

    /// A refused turn: the reason is the answer (stored, so the history alternates).
    async fn refuse(&self, reason: String) -> Stop {
        let text_id = format!("{}-refused", self.message_id);
        self.send(Chunk::StartStep);
        self.send(Chunk::TextStart {
            id: text_id.clone(),
        });
        self.send(Chunk::TextDelta {
            id: text_id.clone(),
            delta: reason.clone(),
        });
        self.send(Chunk::TextEnd { id: text_id });
        self.send(Chunk::FinishStep);
        let message = NewMessage::new(
            store::Role::Assistant,
            json!(Message::assistant(reason.clone())),
        )
        .with_text(reason);
        let session = self.session_id.clone();
        match self
            .db(move |db| db.sessions().append_to_leaf(&session, &message))
            .await
        {
            Ok(_) => Stop::Refused,
            Err(e) => Stop::Failed(format!("cannot store the refusal: {e}")),
        }
    }

    /// The text of the `error` chunk: what `onChatError` makes of `message`, if the class
    /// has it.
    async fn on_chat_error(&self, message: &str) -> String {
        if !self.hooks.on_chat_error {
            return message.to_owned();
        }
        match self
            .hook("onChatError", json!({ "message": message }))
            .await
        {
            Ok(Value::String(shown)) => shown,
            Ok(_) => message.to_owned(),
            Err(failed) => format!("{message} (and then {failed})"),
        }
    }

    /// `onStepFinish(step)`, when the class has it.
    async fn on_step_finish(
        &self,
        step: u32,
        inference: &Inference,
        results: &[(ToolCall, Output)],
    ) -> Result<(), String> {
        if !self.hooks.on_step_finish {
            return Ok(());
        }
        let usage = inference.usage.unwrap_or_default();
        let info = json!({
            "step": step,
            "text": inference.message.text(),
            "toolCalls": inference.calls.iter().map(|(c, _)| call_view(c, step)).collect::<Vec<_>>(),
            "toolResults": results.iter().map(|(c, o)| json!({
                "toolCallId": c.id, "toolName": c.name, "output": o.value, "isError": o.is_error,
            })).collect::<Vec<_>>(),
            "usage": {"inputTokens": usage.input_tokens, "outputTokens": usage.output_tokens},
            "finishReason": finish_reason(inference.finish.as_ref()),
        });
        self.hook("onStepFinish", info).await.map(drop)
    }

    /// Brings an interrupted step to its end. `Ok(true)`: the turn was already answered.
    /// The replay of what was streamed before the crash is closed first (its open text
    /// block and step), so a reconnecting client reads a well-formed stream.
    async fn resume(&self, open: Open) -> Result<bool, String> {
        let (open_text, in_step) = self.open_parts();
        if let Some(id) = open_text {
            self.send(Chunk::TextEnd { id });
        }
        let finish = |step: u32, data: Value| async move {
            if !in_step {
                self.send(Chunk::StartStep);
            }
            self.finish_step(step, data).await
        };
        match open {
            Open::Nothing | Open::Answered(None) => {
                if in_step {
                    self.send(Chunk::FinishStep);
                }
                Ok(matches!(open, Open::Answered(None)))
            }
            Open::Inference(step) => {
                finish(step, json!({"interrupted": "inference"})).await?;
                Ok(false)
            }
            Open::Results(step) => {
                finish(step, json!({"resumed": true})).await?;
                Ok(false)
            }
            Open::Answered(Some(step)) => {
                finish(step, json!({"toolCalls": 0})).await?;
                Ok(true)
            }
            Open::Calls {
                step,
                answer,
                recorded,
            } => {
                let calls: Vec<ToolCall> = answer.tool_calls().cloned().collect();
                if !in_step {
                    self.send(Chunk::StartStep);
                }
                // Results recorded before the crash that the replay does not show yet.
                let shown: std::collections::HashSet<String> = lock(&self.buffer)
                    .chunks
                    .iter()
                    .filter_map(|c| match c {
                        Chunk::ToolOutputAvailable { tool_call_id, .. }
                        | Chunk::ToolOutputError { tool_call_id, .. } => Some(tool_call_id.clone()),
                        _ => None,
                    })
                    .collect();
                for call in &calls {
                    if shown.contains(&call.id) {
                        continue;
                    }
                    if let Some((text, is_error)) = recorded.get(&call.id) {
                        self.send(if *is_error {
                            Chunk::ToolOutputError {
                                tool_call_id: call.id.clone(),
                                error_text: text.clone(),
                            }
                        } else {
                            Chunk::ToolOutputAvailable {
                                tool_call_id: call.id.clone(),
                                output: Value::String(text.clone()),
                            }
                        });
                    }
                }
                let calls: Vec<(ToolCall, Option<String>)> =
                    calls.into_iter().map(|c| (c, None)).collect();
                let results = self.run_calls(step, &calls, &recorded).await?;
                // The step's usage was counted when it was stored; the hook hears of the
                // step as it finishes, resumed or not.
                let inference = Inference {
                    message: answer,
                    usage: None,
                    calls,
                    finish: Some(llm::FinishReason::ToolCalls),
                };
                self.on_step_finish(step, &inference, &results).await?;
                Ok(false)
            }
        }
    }

    /// One inference and its tool calls. `Ok(true)`: the model answered without calls.
    /// `Err`: the turn cannot go on (the message says why, for the client).
    async fn step(&self, step: u32, usage: &mut Usage) -> Result<bool, String> {
        bump(&self.harness.inner.counters.steps);
        let (session, fiber) = (self.session_id.clone(), self.fiber_id.clone());
        let view = self
            .db(move |db| {
                db.fibers().step_started(&fiber, &json!({ "step": step }))?;
                db.sessions().prompt_view(&session, None)
            })
            .await
            .map_err(|e| format!("cannot read the conversation: {e}"))?;
        let mut request = Request {
            system: self.system.clone(),
            tools: self.toolbox.definitions().to_vec(),
            ..Request::default()
        };
        // The prompt view (summaries for compacted stretches), compacted first when near
        // the budget.
        let compacted = compaction::prepare(&self.compaction(), &mut request, view)
            .await
            .map_err(|e| format!("cannot read the conversation: {e}"))?;
        if let Some(done) = compacted {
            self.send(Chunk::DataCompaction {
                data: done.notice(),
                transient: true,
            });
        }
        self.send(Chunk::StartStep);
        let inference = match self.infer(step, &request).await {
            Ok(done) => done,
            Err((partial, step_usage, error)) => {
                // Keep what the user already saw; calls that never ran are left out so
                // the history stays valid for every provider.
                let text = partial.text();
                let step_usage = step_usage.unwrap_or_default();
                *usage += step_usage;
                let session = self.session_id.clone();
                let spec = self.model.spec().to_string();
                let kept = self
                    .db(move |db| {
                        if text.is_empty() {
                            db.sessions().add_usage(
                                &session,
                                store::Usage {
                                    input_tokens: step_usage.input_tokens,
                                    output_tokens: step_usage.output_tokens,
                                },
                            )?;
                        } else {
                            let message = NewMessage::new(
                                store::Role::Assistant,
                                json!(Message::assistant(text.clone())),
                            )
                            .with_text(text)
                            .with_model(spec)
                            .with_usage(step_usage.input_tokens, step_usage.output_tokens);
                            db.sessions().append_to_leaf(&session, &message)?;
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = kept {
                    tracing::warn!(agent = %self.address, error = %e, "cannot keep a partial answer");
                }
                return Err(error);
            }
        };
        let step_usage = inference.usage.unwrap_or_default();
        *usage += step_usage;
        let message = &inference.message;
        let call_ids: Vec<String> = message.tool_calls().map(|c| c.id.clone()).collect();
        let assistant = NewMessage::new(store::Role::Assistant, json!(message))
            .with_text(message.text())
            .with_model(self.model.spec().to_string())
            .with_usage(step_usage.input_tokens, step_usage.output_tokens)
            .calling(call_ids);
        let session = self.session_id.clone();
        self.db(move |db| db.sessions().append_to_leaf(&session, &assistant))
            .await
            .map_err(|e| format!("cannot store the answer: {e}"))?;
        if inference.calls.is_empty() {
            self.finish_step(step, json!({"toolCalls": 0})).await?;
            self.on_step_finish(step, &inference, &[]).await?;
            return Ok(true);
        }
        let results = self
            .run_calls(step, &inference.calls, &HashMap::new())
            .await?;
        self.on_step_finish(step, &inference, &results).await?;
        Ok(false)
    }

    /// Runs a step's tool calls (those in `recorded` already ran: their results are
    /// reused), stores one tool message with every result and ends the step. Every call
    /// gets a result, also when the turn stops half-way (a hook that throws, storage,
    /// a cancel): the calls left are answered "not run" or interrupted, so the history
    /// stays valid.
    async fn run_calls(
        &self,
        step: u32,
        calls: &[(ToolCall, Option<String>)],
        recorded: &HashMap<String, (String, bool)>,
    ) -> Result<Vec<(ToolCall, Output)>, String> {
        let call_ids: Vec<String> = calls.iter().map(|(c, _)| c.id.clone()).collect();
        let mut results = Vec::with_capacity(calls.len());
        let mut failure: Option<String> = None;
        // The checkpoint of a call a cancel cut off, written with the tool message.
        let mut cut_off: Option<String> = None;
        for (call, argument_error) in calls {
            let output = if let Some((text, is_error)) = recorded.get(&call.id) {
                results.push((
                    call.clone(),
                    Output {
                        value: Value::String(text.clone()),
                        text: text.clone(),
                        is_error: *is_error,
                    },
                ));
                continue;
            } else if self.cancelled() {
                failure.get_or_insert_with(|| "cancelled".to_owned());
                Output::error(llm::INTERRUPTED_RESULT)
            } else if let Some(reason) = &failure {
                Output::error(format!("not run: the turn stopped ({reason})"))
            } else {
                match self.call_tool(step, call, argument_error.as_deref()).await {
                    CallEnd::Done(output) => output,
                    CallEnd::Stopped(output, reason) => {
                        failure = Some(reason);
                        output
                    }
                    CallEnd::Cancelled(checkpoint_id) => {
                        failure = Some("cancelled".to_owned());
                        cut_off = Some(checkpoint_id);
                        Output::error(llm::INTERRUPTED_RESULT)
                    }
                }
            };
            self.send(if output.is_error {
                Chunk::ToolOutputError {
                    tool_call_id: call.id.clone(),
                    error_text: output.text.clone(),
                }
            } else {
                Chunk::ToolOutputAvailable {
                    tool_call_id: call.id.clone(),
                    output: output.value.clone(),
                }
            });
            results.push((call.clone(), output));
        }
        if self.cancelled() {
            // The client's stream ends now; storing the end may wait for the agent (the
            // cut-off call may be one of its own tools, still running in its isolate).
            self.send(Chunk::Abort {
                reason: Some("cancelled".to_owned()),
            });
        }
        let tool_message = Message {
            role: Role::Tool,
            content: results
                .iter()
                .map(|(call, output)| {
                    Part::ToolResult(ToolResult {
                        call_id: call.id.clone(),
                        content: output.text.clone(),
                        is_error: output.is_error,
                    })
                })
                .collect(),
        };
        let tool_message =
            NewMessage::new(store::Role::Tool, json!(tool_message)).answering(call_ids);
        let (session, fiber) = (self.session_id.clone(), self.fiber_id.clone());
        self.db(move |db| {
            if let Some(id) = cut_off {
                let data = json!({"content": llm::INTERRUPTED_RESULT, "isError": true});
                db.fibers()
                    .tool_result(&fiber, &id, ToolOutcome::Error, &data)?;
            }
            db.sessions().append_to_leaf(&session, &tool_message)
        })
        .await
        .map_err(|e| format!("cannot store the tool results: {e}"))?;
        self.finish_step(step, json!({"toolCalls": calls.len()}))
            .await?;
        match failure {
            Some(reason) => Err(reason),
            None => Ok(results),
        }
    }

    /// One tool call: `beforeToolCall`, the call's checkpoint, the tool (unless blocked or
    /// substituted), `afterToolCall`, the result's checkpoint.
    async fn call_tool(&self, step: u32, call: &ToolCall, argument_error: Option<&str>) -> CallEnd {
        bump(&self.harness.inner.counters.tool_calls);
        let not_run =
            |reason: String| CallEnd::Stopped(Output::error(format!("not run: {reason}")), reason);
        let decision = if self.hooks.before_tool_call {
            match self.hook("beforeToolCall", call_view(call, step)).await {
                Ok(decision) => decision,
                Err(reason) => return not_run(reason),
            }
        } else {
            Value::Null
        };
        // Ids are unique per step only (some servers reuse them), the fiber's per turn.
        let checkpoint_id = format!("{step}:{}", call.id);
        let (fiber, id) = (self.fiber_id.clone(), checkpoint_id.clone());
        let data = json!({"name": call.name, "id": call.id, "input": call.arguments});
        if let Err(e) = self
            .db(move |db| db.fibers().tool_call(&fiber, &id, &data).map(drop))
            .await
        {
            return not_run(format!("cannot record the tool call: {e}"));
        }
        let mut output = if let Some(reason) = decision.get("block") {
            Output::error(match reason {
                Value::String(reason) => reason.clone(),
                other => other.to_string(),
            })
        } else if let Some(result) = decision.get("result") {
            Output::ok(result.clone())
        } else {
            let span =
                tracing::info_span!("think_tool_call", tool = %call.name, call_id = %call.id);
            let run = async {
                match self.toolbox.delegation(&call.name) {
                    Some(spec) if argument_error.is_none() => self.delegate(call, spec).await,
                    _ => self.toolbox.run(call, argument_error).await,
                }
            }
            .instrument(span);
            // A cancel answers the call in flight at once and drops its run: the agent's
            // own tool's turn stops and is rolled back (its caller went away), a child
            // agent's turn is cancelled with it. A Code Mode program runs on within its
            // limits (its host calls commit as they go); its result is dropped.
            tokio::select! {
                output = run => output,
                () = self.until_cancelled() => return CallEnd::Cancelled(checkpoint_id),
            }
        };
        let mut failure = None;
        if self.hooks.after_tool_call {
            let result = json!({"output": output.value, "isError": output.is_error});
            match self
                .hook("afterToolCall", json!([call_view(call, step), result]))
                .await
            {
                Ok(replaced) => {
                    if let Some(Value::String(error)) = replaced.get("error") {
                        output = Output::error(error.clone());
                    } else if let Some(result) = replaced.get("result") {
                        output = Output::ok(result.clone());
                    }
                }
                Err(reason) => failure = Some(reason),
            }
        }
        let (fiber, id) = (self.fiber_id.clone(), checkpoint_id);
        let outcome = if output.is_error {
            ToolOutcome::Error
        } else {
            ToolOutcome::Ok
        };
        let data = json!({"content": output.text, "isError": output.is_error});
        if let Err(e) = self
            .db(move |db| {
                db.fibers()
                    .tool_result(&fiber, &id, outcome, &data)
                    .map(drop)
            })
            .await
        {
            failure.get_or_insert(format!("cannot record the tool result: {e}"));
        }
        match failure {
            Some(reason) => CallEnd::Stopped(output, reason),
            None => CallEnd::Done(output),
        }
    }

    /// Hands an `agentTool` call to the child agent of its class named after the tool (one
    /// per tool, each task a new session of it), within the tool's budget (steps, time).
    /// Attached: streams the child's chunks to this turn's client as `data-subagent` parts
    /// and answers with the child's final text. Detached: answers at once with a run id.
    async fn delegate(&self, call: &ToolCall, spec: &AgentToolSpec) -> Output {
        let class = spec.class_name.as_str();
        let input = match call.input() {
            Ok(input) => input.clone(),
            Err(reason) => return Output::error(reason),
        };
        let depth = std::iter::successors(self.address.parent(), Address::parent).count();
        if depth >= MAX_DELEGATION_DEPTH {
            return Output::error(format!(
                "{} is already {depth} delegations deep: do this task yourself",
                self.address
            ));
        }
        let child = match self.host.sub_agent(&self.address, class, &call.name).await {
            Ok(child) => child,
            Err(e) => return Output::error(format!("cannot reach the {class} agent: {e}")),
        };
        let request = ChatRequest {
            text: task_text(&input),
            max_steps: spec.max_steps,
            ..ChatRequest::default()
        };
        let turn = match self.harness.start_child(child.clone(), request).await {
            Ok(turn) => turn,
            Err(e) => return Output::error(format!("the {class} agent could not start: {e}")),
        };
        let timeout = spec.timeout_ms.map(std::time::Duration::from_millis);
        if spec.detached {
            return self
                .detach(call, spec, child, turn, Value::Object(input))
                .await;
        }
        // Dropped with this call (the parent's turn cancelled): the child's turn stops too.
        let mut running = ChildTurn {
            harness: &self.harness,
            child: &child,
            session_id: &turn.session_id,
            done: false,
        };
        let end = follow_child(
            &self.harness,
            &child,
            &turn.session_id,
            turn.chunks,
            timeout,
            |chunk| {
                self.send(Chunk::DataSubagent {
                    data: json!({
                        "toolCallId": call.id,
                        "agent": {"className": class, "name": call.name},
                        "sessionId": turn.session_id,
                        "chunk": chunk,
                    }),
                    transient: true,
                });
            },
        )
        .await;
        running.done = true;
        let (status, result, error) = end.outcome(class, spec.timeout_ms);
        match status {
            DelegationStatus::Completed => Output::ok(Value::String(result.unwrap_or_default())),
            _ => Output::error(format!(
                "{} (session {})",
                error.unwrap_or_default(),
                turn.session_id
            )),
        }
    }

    /// Records a detached delegation, lets the child work on in the background and
    /// answers with the run's id; the record is updated when the child ends, and the
    /// tool's `onDone` method of this agent is called with it.
    async fn detach(
        &self,
        call: &ToolCall,
        spec: &AgentToolSpec,
        child: Address,
        turn: Turn,
        task: Value,
    ) -> Output {
        let class = spec.class_name.clone();
        let session_id = turn.session_id.clone();
        let (tool, child_name, on_done) = (
            call.name.clone(),
            child.local_name().to_owned(),
            spec.on_done.clone(),
        );
        let started = {
            let (class, session_id) = (class.clone(), session_id.clone());
            self.db(move |db| {
                db.delegations().start(&NewDelegation {
                    tool: &tool,
                    child_class: &class,
                    child_name: &child_name,
                    session_id: &session_id,
                    task: &task,
                    on_done: on_done.as_deref(),
                })
            })
            .await
        };
        let record = match started {
            Ok(record) => record,
            Err(e) => {
                self.harness.cancel_at(&child, &session_id);
                return Output::error(format!("cannot record the delegation: {e}"));
            }
        };
        let (harness, host, parent) = (
            self.harness.clone(),
            self.host.clone(),
            self.address.clone(),
        );
        let (id, timeout_ms) = (record.id.clone(), spec.timeout_ms);
        let chunks = turn.chunks;
        tokio::spawn(
            async move {
                let timeout = timeout_ms.map(std::time::Duration::from_millis);
                let end = follow_child(&harness, &child, &session_id, chunks, timeout, |_| {}).await;
                let (status, result, error) = end.outcome(&class, timeout_ms);
                let finished = host
                    .with_new_or_existing_db_at(&parent, move |db| {
                        Ok(db
                            .delegations()
                            .finish(&id, status, result.as_deref(), error.as_deref()))
                    })
                    .await;
                let record = match finished {
                    Ok(Ok(record)) => record,
                    Ok(Err(e)) => {
                        tracing::warn!(agent = %parent, error = %e, "cannot record the end of a delegation");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(agent = %parent, error = %e, "cannot record the end of a delegation");
                        return;
                    }
                };
                if let Some(method) = &record.on_done
                    && let Err(e) = host.call_at(&parent, method, vec![json!(record)]).await
                {
                    tracing::warn!(agent = %parent, method, error = %e, "a delegation's onDone method failed");
                }
            }
            .in_current_span(),
        );
        Output::ok(json!({
            "runId": record.id,
            "status": "running",
            "agent": {"className": record.child_class, "name": record.child_name},
            "sessionId": record.session_id,
            "note": "the task runs in the background; ask `delegations` with this runId for its status and result",
        }))
    }

    async fn finish_step(&self, step: u32, data: Value) -> Result<(), String> {
        let fiber = self.fiber_id.clone();
        self.db(move |db| db.fibers().step_finished(&fiber, &data).map(drop))
            .await
            .map_err(|e| format!("cannot record the end of step {step}: {e}"))?;
        self.send(Chunk::FinishStep);
        Ok(())
    }

    /// Streams one inference to the client. `Ok`: the assistant message, its usage, its
    /// tool calls (with the argument error, if any) and why the model stopped. `Err`: what
    /// arrived, the usage so far and the error's text.
    async fn infer(
        &self,
        step: u32,
        request: &Request,
    ) -> Result<Inference, (Message, Option<Usage>, String)> {
        let empty = || Message {
            role: Role::Assistant,
            content: Vec::new(),
        };
        let mut stream = match self.model.stream(request).await {
            Ok(stream) => stream,
            Err(e) => return Err((empty(), None, e.to_string())),
        };
        let text_id = format!("{}-{step}", self.message_id);
        let mut text_open = false;
        let mut call_ids: Vec<String> = Vec::new();
        let mut calls = Vec::new();
        let mut failure = None;
        let mut finish = None;
        // A store of the chunks so far, in flight while the stream goes on (the agent's
        // database may be busy with one of its turns; the stream does not wait for it).
        let mut saving: Option<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>> = None;
        loop {
            let event = tokio::select! {
                event = stream.next() => event,
                () = self.until_cancelled() => {
                    failure = Some("cancelled".to_owned());
                    break;
                }
                () = until_saved(&mut saving) => {
                    saving = None;
                    continue;
                }
            };
            let Some(event) = event else { break };
            match event {
                Ok(StreamEvent::TextDelta { text }) => {
                    if !text_open {
                        text_open = true;
                        self.send(Chunk::TextStart {
                            id: text_id.clone(),
                        });
                    }
                    self.send(Chunk::TextDelta {
                        id: text_id.clone(),
                        delta: text,
                    });
                }
                Ok(StreamEvent::ToolCallStarted { index, id, name }) => {
                    if call_ids.len() <= index {
                        call_ids.resize(index + 1, String::new());
                    }
                    call_ids[index] = id.clone();
                    self.send(Chunk::ToolInputStart {
                        tool_call_id: id,
                        tool_name: name,
                    });
                }
                Ok(StreamEvent::ToolCallDelta { index, arguments }) => {
                    if let Some(id) = call_ids.get(index) {
                        self.send(Chunk::ToolInputDelta {
                            tool_call_id: id.clone(),
                            input_text_delta: arguments,
                        });
                    }
                }
                Ok(StreamEvent::ToolCallFinished { call, error, .. }) => {
                    self.send(Chunk::ToolInputAvailable {
                        tool_call_id: call.id.clone(),
                        tool_name: call.name.clone(),
                        input: call.arguments.clone(),
                    });
                    calls.push((call, error));
                }
                Ok(StreamEvent::Finished { reason }) => finish = Some(reason),
                Ok(StreamEvent::Usage { .. }) => {}
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
            if saving.is_none() && self.save_due() {
                saving = Some(Box::pin(self.save()));
            }
        }
        // Stores stay in order: this one ends before the turn's next storage operation.
        if let Some(saving) = saving {
            saving.await;
        }
        if text_open {
            self.send(Chunk::TextEnd { id: text_id });
        }
        match failure {
            Some(error) => Err((stream.partial(), stream.usage(), error)),
            None => Ok(Inference {
                message: stream.partial(),
                usage: stream.usage(),
                calls,
                finish,
            }),
        }
    }
}

/// A new session's title: the first line of its first message with text, whitespace
/// collapsed, at most 80 characters (titles are one line: a pasted paragraph must not
/// stop the chat from starting).
fn session_title(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    line.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(80)
        .collect()
}
