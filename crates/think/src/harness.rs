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
use codemode::CodeModeServer;
use llm::{Message, Models, Part, Request, Role, StreamEvent, ToolCall, ToolResult, Usage};
use sandbox::Bindings;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{AgentDb, NewMessage, ToolOutcome};
use tokio::sync::{OwnedMutexGuard, mpsc};
use tracing::Instrument as _;

use crate::compaction::{self, Budget};
use crate::error::Error;
use crate::tools::{OwnTool, Toolbox, code_mode};
use crate::ui::Chunk;

/// The name of the fibers chat turns run in.
pub const FIBER_NAME: &str = "think";

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
}

type SharedBuffer = Arc<Mutex<Buffer>>;

/// A turn's chunks so far, and the reconnected clients that get the rest live.
#[derive(Default)]
struct Buffer {
    chunks: Vec<Chunk>,
    listeners: Vec<mpsc::UnboundedSender<Chunk>>,
    done: bool,
}

/// A user's message to a chat agent.
#[derive(Debug, Clone, Default)]
pub struct ChatRequest {
    /// The session to continue; `None` starts a new one.
    pub session_id: Option<String>,
    /// Where the message goes in the session's tree.
    pub parent: Parent,
    pub text: String,
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
}

/// A turn that has started: its user message is committed; the chunks follow as the loop
/// produces them. Dropping it does not stop the turn (it is durable, and finishes).
#[derive(Debug)]
pub struct Turn {
    pub session_id: String,
    /// The stored user message.
    pub user_message_id: String,
    /// The UI message id of the answer (`start.messageId`).
    pub message_id: String,
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
}

impl Config {
    pub(crate) fn budget(&self) -> Budget {
        Budget::new(self.context_window, self.compact_at)
    }
}

impl Harness {
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
            }),
        }
    }

    pub fn host(&self) -> &AgentHost {
        &self.inner.host
    }

    /// Names the memory profiles the `memory.*` bindings serve, so that compaction
    /// ingests into each of several (with one, naming it is not needed). Set once.
    pub fn set_memory_profiles(&self, names: Vec<String>) {
        let _ = self.inner.memory_profiles.set(names);
    }

    pub(crate) fn bindings(&self) -> &Bindings {
        &self.inner.bindings
    }

    pub(crate) fn memory_profiles(&self) -> &[String] {
        self.inner.memory_profiles.get().map_or(&[], Vec::as_slice)
    }

    /// Starts a turn: checks the class, asks the agent for its configuration, resolves
    /// the model, commits the user's message, then runs the loop in a task. Errors here
    /// mean nothing was stored.
    pub async fn chat(&self, class: &str, name: &str, request: ChatRequest) -> Result<Turn, Error> {
        let text = request.text.trim().to_owned();
        if text.is_empty() {
            return Err(Error::InvalidInput(
                "the message has no text; send the user's words".to_owned(),
            ));
        }
        let host = &self.inner.host;
        if !host.classes().get(class)?.think {
            return Err(Error::NotThink {
                class: class.to_owned(),
            });
        }
        let address = Address::new(class, name);
        let guard = self.lock(&address).lock_owned().await;
        // A turn a crash interrupted finishes first, so its answer precedes this message.
        self.recover_locked(&address).await;
        let (config, model) = self.config(&address).await?;
        let title: String = text.chars().take(80).collect();
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
            .with_new_or_existing_db(class, name, move |db| {
                atomically(db, |db| {
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
        let message_id = run.message_id.clone();
        tokio::spawn(run.run(None));
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
    /// were resumed. Meant for start-up; it opens every `Think` agent's database.
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
            let mut after: Option<String> = None;
            loop {
                let page = match host.list(
                    Some(&class),
                    after.as_deref().map(|n| (class.as_str(), n)),
                    500,
                ) {
                    Ok(page) => page,
                    Err(e) => {
                        tracing::warn!(class = %class, error = %e, "cannot list agents to resume their chats");
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
        let unfinished = host
            .with_new_or_existing_db(&address.class, &address.name, |db| {
                Ok(db.fibers().unfinished()?)
            })
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
                .with_db(&address.class, &address.name, move |db| {
                    let interrupted = json!({"content": llm::INTERRUPTED_RESULT, "isError": true});
                    let recovery = db.fibers().recover(&id, &interrupted)?;
                    let history = db.sessions().history(&session, None)?;
                    Ok((recovery, history))
                })
                .await;
            let (recovery, history) = match found {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(agent = %address, fiber = %fiber_id, error = %e, "cannot recover a chat turn");
                    continue;
                }
            };
            tracing::info!(agent = %address, fiber = %fiber_id, interrupted = recovery.interrupted.len(),
                "resuming a chat turn a crash interrupted");
            let resume = Resume::plan(&recovery.checkpoints, &history);
            match self.config(address).await {
                Ok((config, model)) => {
                    // Nobody is listening: the chunks go nowhere, the session gets the answer.
                    let (tx, _) = mpsc::unbounded_channel();
                    let run = self.run(
                        address.clone(),
                        config,
                        model,
                        session_id,
                        fiber_id,
                        tx,
                        None,
                    );
                    run.run(Some(resume)).await;
                    resumed += 1;
                }
                Err(e) => {
                    let message = format!("could not resume after a restart: {e}");
                    tracing::warn!(agent = %address, fiber = %fiber_id, "{message}");
                    let _ = host
                        .with_db(&address.class, &address.name, move |db| {
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
            .think(&address.class, &address.name, "config", Value::Null)
            .await?;
        let config: Config = serde_json::from_value(value).map_err(|e| {
            Error::InvalidInput(format!(
                "{}'s getModel/getSystemPrompt/getTools answered something unusable: {e}",
                address.class
            ))
        })?;
        let model = self.inner.models.get(config.model.as_deref())?;
        Ok((config, model))
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
        let code_mode = {
            let mut servers = lock(&self.inner.code_modes);
            if servers.len() > 4096 {
                servers.clear();
            }
            servers
                .entry(address.clone())
                .or_insert_with(|| code_mode(&self.inner.host, &address, &self.inner.bindings))
                .clone()
        };
        let budget = config.budget();
        let toolbox = Toolbox::new(
            &self.inner.host,
            address.clone(),
            session_id.clone(),
            config.tools,
            code_mode,
        );
        let buffer = Arc::new(Mutex::new(Buffer::default()));
        {
            let mut streams = lock(&self.inner.streams);
            if streams.len() > 10_000 {
                streams.retain(|_, b| !lock(b).done);
            }
            streams.insert((address.clone(), session_id.clone()), Arc::clone(&buffer));
        }
        Run {
            buffer,
            host: self.inner.host.clone(),
            address,
            model,
            system: config.system,
            max_steps: config.max_steps.max(1),
            budget,
            bindings: self.inner.bindings.clone(),
            memory_profiles: self.memory_profiles().to_vec(),
            session_id,
            message_id: format!("msg-{fiber_id}"),
            fiber_id,
            toolbox,
            tx,
            _guard: guard,
        }
    }

    /// A reconnecting client's view of the session's turn in progress: every chunk so far,
    /// then the rest as it comes. `None` when no turn of the session is running here.
    pub fn reconnect(
        &self,
        class: &str,
        name: &str,
        session_id: &str,
    ) -> Option<mpsc::UnboundedReceiver<Chunk>> {
        let key = (Address::new(class, name), session_id.to_owned());
        let buffer = Arc::clone(lock(&self.inner.streams).get(&key)?);
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

/// The maps behind these locks hold plain values: a panic elsewhere cannot leave one
/// half-updated.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` in one transaction of the agent's database (a savepoint inside an open one).
fn atomically<T>(
    db: &mut AgentDb,
    f: impl FnOnce(&mut AgentDb) -> store::Result<T>,
) -> store::Result<T> {
    db.begin()?;
    match f(db) {
        Ok(value) => {
            db.commit()?;
            Ok(value)
        }
        Err(e) => {
            let _ = db.rollback();
            Err(e)
        }
    }
}

/// One running turn.
struct Run {
    host: AgentHost,
    address: Address,
    model: llm::Model,
    system: Option<String>,
    max_steps: u32,
    /// When to compact the prompt, and what compaction needs.
    budget: Budget,
    bindings: Bindings,
    memory_profiles: Vec<String>,
    session_id: String,
    fiber_id: String,
    message_id: String,
    toolbox: Toolbox,
    tx: mpsc::UnboundedSender<Chunk>,
    /// What was sent, for clients that reconnect.
    buffer: Arc<Mutex<Buffer>>,
    /// Held until the turn ends: one turn per agent at a time (`None`: the caller holds it).
    _guard: Option<OwnedMutexGuard<()>>,
}

/// Where an interrupted turn stands, from its checkpoints and its session's history.
#[derive(Debug)]
struct Resume {
    /// Steps started before the crash.
    steps: u32,
    open: Open,
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
        calls: Vec<ToolCall>,
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
                    calls: m.tool_calls().cloned().collect(),
                    recorded,
                }
            }
            (true, Some(m)) if m.role == Role::Tool => Open::Results(steps),
            (true, _) => Open::Inference(steps),
        };
        Resume { steps, open }
    }
}

/// How a turn ended.
enum Stop {
    Answered,
    MaxSteps,
    Failed(String),
}

impl Run {
    fn send(&self, chunk: Chunk) {
        let mut buffer = lock(&self.buffer);
        buffer.listeners.retain(|l| l.send(chunk.clone()).is_ok());
        // The chunks are kept only while the turn runs: whoever reconnects after its end
        // reads the answer from the session.
        if matches!(chunk, Chunk::Finish { .. }) {
            buffer.done = true;
            buffer.chunks = Vec::new();
            buffer.listeners.clear();
        } else {
            buffer.chunks.push(chunk.clone());
        }
        // A client that went away does not stop the turn.
        let _ = self.tx.send(chunk);
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
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut AgentDb) -> store::Result<T> + Send + 'static,
    ) -> Result<T, agents::Error> {
        self.host
            .with_new_or_existing_db(&self.address.class, &self.address.name, move |db| {
                f(db).map_err(agents::Error::Store)
            })
            .await
    }

    /// The turn, in a `think_turn` span whose children are its `think_step`s and their
    /// `think_tool_call`s (with `--log-format json`, each span's close logs its duration).
    async fn run(self, resume: Option<Resume>) {
        let span = tracing::info_span!(
            "think_turn",
            agent = %self.address,
            session = %self.session_id,
            resumed = resume.is_some()
        );
        self.run_in_span(resume).instrument(span).await;
    }

    async fn run_in_span(self, resume: Option<Resume>) {
        self.send(Chunk::Start {
            message_id: self.message_id.clone(),
            message_metadata: Some(json!({"sessionId": self.session_id})),
        });
        let mut usage = Usage::default();
        let mut steps = 0;
        let mut resumed = None;
        if let Some(resume) = resume {
            steps = resume.steps;
            resumed = match self.resume(resume.open).await {
                Ok(true) => Some(Stop::Answered),
                Ok(false) => None,
                Err(message) => Some(Stop::Failed(message)),
            };
        }
        let stop = loop {
            if let Some(stop) = resumed.take() {
                break stop;
            }
            if steps == self.max_steps {
                break Stop::MaxSteps;
            }
            steps += 1;
            let span = tracing::info_span!("think_step", step = steps);
            match self.step(steps, &mut usage).instrument(span).await {
                Ok(true) => break Stop::Answered,
                Ok(false) => {}
                Err(message) => break Stop::Failed(message),
            }
        };
        let stopped = match &stop {
            Stop::Answered => "answered",
            Stop::MaxSteps => "maxSteps",
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
            self.send(Chunk::Error {
                error_text: message.clone(),
            });
        }
        if let Stop::MaxSteps = stop {
            tracing::info!(agent = %self.address, steps, "a chat turn stopped at maxSteps");
        }
        let mut metadata = summary;
        metadata["sessionId"] = json!(self.session_id);
        self.send(Chunk::Finish {
            message_metadata: Some(metadata),
        });
    }

    /// Brings an interrupted step to its end. `Ok(true)`: the turn was already answered.
    async fn resume(&self, open: Open) -> Result<bool, String> {
        match open {
            Open::Nothing => Ok(false),
            Open::Inference(step) => {
                self.finish_step(step, json!({"interrupted": "inference"}))
                    .await?;
                Ok(false)
            }
            Open::Results(step) => {
                self.finish_step(step, json!({"resumed": true})).await?;
                Ok(false)
            }
            Open::Answered(step) => {
                if let Some(step) = step {
                    self.finish_step(step, json!({"toolCalls": 0})).await?;
                }
                Ok(true)
            }
            Open::Calls {
                step,
                calls,
                recorded,
            } => {
                self.send(Chunk::StartStep);
                let calls: Vec<(ToolCall, Option<String>)> =
                    calls.into_iter().map(|c| (c, None)).collect();
                self.run_calls(step, &calls, &recorded).await?;
                Ok(false)
            }
        }
    }

    /// One inference and its tool calls. `Ok(true)`: the model answered without calls.
    /// `Err`: the turn cannot go on (the message says why, for the client).
    async fn step(&self, step: u32, usage: &mut Usage) -> Result<bool, String> {
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
        let (message, step_usage, calls) = match self.infer(step, &request).await {
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
        let step_usage = step_usage.unwrap_or_default();
        *usage += step_usage;
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
        if calls.is_empty() {
            self.finish_step(step, json!({"toolCalls": 0})).await?;
            return Ok(true);
        }
        self.run_calls(step, &calls, &HashMap::new()).await?;
        Ok(false)
    }

    /// Runs a step's tool calls (those in `recorded` already ran: their results are
    /// reused), stores one tool message with every result and ends the step.
    async fn run_calls(
        &self,
        step: u32,
        calls: &[(ToolCall, Option<String>)],
        recorded: &HashMap<String, (String, bool)>,
    ) -> Result<(), String> {
        let call_ids: Vec<String> = calls.iter().map(|(c, _)| c.id.clone()).collect();
        let mut results = Vec::with_capacity(calls.len());
        for (call, argument_error) in calls {
            if let Some((text, is_error)) = recorded.get(&call.id) {
                results.push(Part::ToolResult(ToolResult {
                    call_id: call.id.clone(),
                    content: text.clone(),
                    is_error: *is_error,
                }));
                continue;
            }
            // Ids are unique per step only (some servers reuse them), the fiber's per turn.
            let checkpoint_id = format!("{step}:{}", call.id);
            let (fiber, id) = (self.fiber_id.clone(), checkpoint_id.clone());
            let data = json!({"name": call.name, "id": call.id, "input": call.arguments});
            self.db(move |db| db.fibers().tool_call(&fiber, &id, &data).map(drop))
                .await
                .map_err(|e| format!("cannot record the tool call: {e}"))?;
            let span =
                tracing::info_span!("think_tool_call", tool = %call.name, call_id = %call.id);
            let output = self
                .toolbox
                .run(call, argument_error.as_deref())
                .instrument(span)
                .await;
            let (fiber, id) = (self.fiber_id.clone(), checkpoint_id);
            let outcome = if output.is_error {
                ToolOutcome::Error
            } else {
                ToolOutcome::Ok
            };
            let data = json!({"content": output.text, "isError": output.is_error});
            self.db(move |db| {
                db.fibers()
                    .tool_result(&fiber, &id, outcome, &data)
                    .map(drop)
            })
            .await
            .map_err(|e| format!("cannot record the tool result: {e}"))?;
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
            results.push(Part::ToolResult(ToolResult {
                call_id: call.id.clone(),
                content: output.text,
                is_error: output.is_error,
            }));
        }
        let tool_message = Message {
            role: Role::Tool,
            content: results,
        };
        let tool_message =
            NewMessage::new(store::Role::Tool, json!(tool_message)).answering(call_ids);
        let session = self.session_id.clone();
        self.db(move |db| db.sessions().append_to_leaf(&session, &tool_message))
            .await
            .map_err(|e| format!("cannot store the tool results: {e}"))?;
        self.finish_step(step, json!({"toolCalls": calls.len()}))
            .await
    }

    async fn finish_step(&self, step: u32, data: Value) -> Result<(), String> {
        let fiber = self.fiber_id.clone();
        self.db(move |db| db.fibers().step_finished(&fiber, &data).map(drop))
            .await
            .map_err(|e| format!("cannot record the end of step {step}: {e}"))?;
        self.send(Chunk::FinishStep);
        Ok(())
    }

    /// Streams one inference to the client. `Ok`: the assistant message, its usage and
    /// its tool calls (with the argument error, if any). `Err`: what arrived, the usage
    /// so far and the error's text.
    #[allow(clippy::type_complexity)]
    async fn infer(
        &self,
        step: u32,
        request: &Request,
    ) -> Result<
        (Message, Option<Usage>, Vec<(ToolCall, Option<String>)>),
        (Message, Option<Usage>, String),
    > {
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
        while let Some(event) = stream.next().await {
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
                Ok(StreamEvent::Usage { .. } | StreamEvent::Finished { .. }) => {}
                Err(e) => {
                    failure = Some(e.to_string());
                    break;
                }
            }
        }
        if text_open {
            self.send(Chunk::TextEnd { id: text_id });
        }
        match failure {
            Some(error) => Err((stream.partial(), stream.usage(), error)),
            None => Ok((stream.partial(), stream.usage(), calls)),
        }
    }
}
