//! The tools a Think agent's model gets: Code Mode's `execute` over the agent's own
//! capabilities, direct workspace tools, `session_search`, and the class's own TS tools.
//!
//! Every failure (unknown tool, malformed arguments, a tool that throws, a storage error)
//! becomes a result with `is_error` that says what to do, for the model to act on; nothing
//! here ends a turn.

use std::sync::Arc;

use agents::{Address, AgentClass, AgentHost};
use codemode::catalog::{Catalog, Target, Tool};
use codemode::execute::{Capability, Shortcut};
use codemode::{CodeModeServer, ServerOptions};
use llm::{ToolCall, ToolDefinition};
use sandbox::{Bindings, HostError};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use store::{AgentDb, GrepOptions};

/// The largest tool result handed to the model, in bytes; longer ones are cut with a note.
const MAX_RESULT_BYTES: usize = 64 << 10;

/// What a tool call produced, for the model.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    /// The value (for the UI stream and the checkpoint).
    pub value: Value,
    /// The text the model reads.
    pub text: String,
    pub is_error: bool,
}

impl Output {
    pub(crate) fn ok(value: Value) -> Self {
        let text = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Self {
            text: cap(text),
            value,
            is_error: false,
        }
    }

    pub(crate) fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            value: Value::String(message.clone()),
            text: cap(message),
            is_error: true,
        }
    }
}

fn cap(mut text: String) -> String {
    if text.len() > MAX_RESULT_BYTES {
        let mut end = MAX_RESULT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let total = text.len();
        text.truncate(end);
        text.push_str(&format!(
            "\n… [cut: {total} bytes in all; ask for less, e.g. a narrower read or search]"
        ));
    }
    text
}

/// A tool the class defines in `getTools()`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OwnTool {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
    /// An `agentTool`: the call is handed to a child agent.
    #[serde(default)]
    pub agent: Option<AgentToolSpec>,
}

/// What `agentTool(Class, options)` declared.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentToolSpec {
    /// The child agent's class (a `Think` class).
    pub class_name: String,
    /// The call answers at once with a run id; the child works on in the background.
    #[serde(default)]
    pub detached: bool,
    /// A cap on the child's steps for the task (below its class's `maxSteps`).
    pub max_steps: Option<u32>,
    /// How long the child may work on the task before it is stopped.
    pub timeout_ms: Option<u64>,
    /// The method of the delegating agent called with the delegation's record when a
    /// detached task ends.
    pub on_done: Option<String>,
}

/// A host operation (of the workspace, of the sandbox) as a tool: its name, its
/// description and its input schema.
type HostTool = (&'static str, &'static str, fn() -> Value);

/// The workspace operations, as direct tools and as `workspace.*` in `execute`.
const WORKSPACE: &[HostTool] = &[
    ("read", "Read a text file of the workspace.", || {
        schema(
            &[("path", "string", "file path, e.g. /notes/todo.md")],
            &["path"],
        )
    }),
    (
        "write",
        "Create or replace a file of the workspace (parent directories are created).",
        || {
            schema(
                &[
                    ("path", "string", "file path"),
                    ("content", "string", "the whole new content"),
                ],
                &["path", "content"],
            )
        },
    ),
    (
        "edit",
        "Replace one exact occurrence of `oldText` in a workspace file with `newText`.",
        || {
            schema(
                &[
                    ("path", "string", "file path"),
                    (
                        "oldText",
                        "string",
                        "text that occurs exactly once in the file",
                    ),
                    ("newText", "string", "its replacement"),
                ],
                &["path", "oldText", "newText"],
            )
        },
    ),
    (
        "list",
        "List a directory of the workspace (default: the root).",
        || schema(&[("path", "string", "directory path, default /")], &[]),
    ),
    (
        "delete",
        "Delete a file, or a directory with `recursive: true`.",
        || {
            schema(
                &[
                    ("path", "string", "path to delete"),
                    (
                        "recursive",
                        "boolean",
                        "delete a directory and everything in it",
                    ),
                ],
                &["path"],
            )
        },
    ),
    (
        "find",
        "Find workspace paths matching a glob pattern (e.g. **/*.md).",
        || schema(&[("pattern", "string", "glob pattern")], &["pattern"]),
    ),
    (
        "grep",
        "Search workspace files for lines matching a regular expression.",
        || {
            schema(
                &[
                    ("pattern", "string", "regular expression"),
                    ("path", "string", "directory or file to search, default /"),
                    ("glob", "string", "only files matching this glob, e.g. *.md"),
                    ("ignoreCase", "boolean", "case-insensitive"),
                ],
                &["pattern"],
            )
        },
    ),
];

fn schema(props: &[(&str, &str, &str)], required: &[&str]) -> Value {
    let mut properties = Map::new();
    for (name, ty, description) in props {
        properties.insert(
            (*name).to_owned(),
            json!({"type": ty, "description": description}),
        );
    }
    json!({"type": "object", "properties": properties, "required": required})
}

/// One workspace operation on the agent's database. `Err` is a message for the model.
fn workspace_op(db: &mut AgentDb, op: &str, input: &Map<String, Value>) -> Result<Value, String> {
    let text = |key: &str| -> Result<String, String> {
        match input.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(format!(
                "`{key}` must be a string, got {}",
                sandbox::json_kind(other)
            )),
            None => Err(format!("`{key}` is required")),
        }
    };
    let flag = |key: &str| input.get(key).and_then(Value::as_bool).unwrap_or(false);
    let e = |e: store::Error| e.to_string();
    let mut ws = db.workspace();
    Ok(match op {
        "read" => json!(ws.read_text(&text("path")?).map_err(e)?),
        "write" => {
            let stat = ws
                .write(&text("path")?, text("content")?.as_bytes())
                .map_err(e)?;
            json!(stat)
        }
        "edit" => {
            let (path, old, new) = (text("path")?, text("oldText")?, text("newText")?);
            if old.is_empty() {
                return Err("`oldText` is empty; give text that occurs once in the file".into());
            }
            let content = ws.read_text(&path).map_err(e)?;
            match content.matches(old.as_str()).count() {
                0 => {
                    return Err(format!(
                        "`oldText` does not occur in {path}; read the file and copy the text exactly"
                    ));
                }
                1 => {}
                n => {
                    return Err(format!(
                        "`oldText` occurs {n} times in {path}; include more surrounding text so it occurs once"
                    ));
                }
            }
            let stat = ws
                .write(&path, content.replacen(&old, &new, 1).as_bytes())
                .map_err(e)?;
            json!(stat)
        }
        "list" => {
            let path = match input.get("path") {
                None | Some(Value::Null) => "/".to_owned(),
                _ => text("path")?,
            };
            json!(ws.list(&path).map_err(e)?)
        }
        "delete" => json!({"deleted": ws.rm(&text("path")?, flag("recursive")).map_err(e)?}),
        "find" => json!(ws.glob(&text("pattern")?).map_err(e)?),
        "grep" => {
            let options = GrepOptions {
                path: input.get("path").and_then(Value::as_str).map(str::to_owned),
                glob: input.get("glob").and_then(Value::as_str).map(str::to_owned),
                ignore_case: flag("ignoreCase"),
                max_matches: Some(200),
            };
            json!(ws.grep(&text("pattern")?, &options).map_err(e)?)
        }
        other => return Err(format!("unknown workspace operation `{other}`")),
    })
}

/// The tools of one turn of one agent.
pub(crate) struct Toolbox {
    host: AgentHost,
    agent: Address,
    session_id: String,
    own: Vec<OwnTool>,
    code_mode: CodeModeServer,
    /// The ladder's single-call tools (`browser_markdown`, …), each run as a program.
    shortcuts: Vec<Shortcut>,
    definitions: Vec<ToolDefinition>,
}

const EXECUTE: &str = "execute";
const SESSION_SEARCH: &str = "session_search";
const DELEGATIONS: &str = "delegations";
const SANDBOX_EXEC: &str = "sandbox_exec";
const SANDBOX_RUN_CODE: &str = "sandbox_run_code";

fn sandbox_exec_schema() -> Value {
    schema(
        &[
            (
                "command",
                "string",
                "a shell command line, run with /bin/sh -c",
            ),
            ("cwd", "string", "working directory, default /workspace"),
            (
                "timeout",
                "number",
                "milliseconds before the command is killed (default: the server's limit)",
            ),
            (
                "stdin",
                "string",
                "text fed to the command's standard input",
            ),
        ],
        &["command"],
    )
}

fn sandbox_run_code_schema() -> Value {
    schema(
        &[
            ("language", "string", "python or shell"),
            ("code", "string", "the program"),
            (
                "timeout",
                "number",
                "milliseconds before it is killed (default: the server's limit)",
            ),
        ],
        &["language", "code"],
    )
}

/// What the model reads about the sandbox, once for each tool.
const SANDBOX_NOTE: &str = "Runs in this agent's Linux sandbox: real programs (python3, \
    the shell's tools) with the agent's workspace at /workspace (files written there are the \
    workspace's afterwards, and the other way round), a private /tmp, no network unless the \
    agent's class allows hosts. Returns {exitCode, stdout, stderr}.";

impl Toolbox {
    /// `code_mode`: the agent's [`code_mode`] server.
    pub(crate) fn new(
        host: &AgentHost,
        agent: Address,
        session_id: String,
        own: Vec<OwnTool>,
        code_mode: CodeModeServer,
        capabilities: &[Arc<dyn Capability>],
    ) -> Self {
        let mut definitions: Vec<ToolDefinition> = own
            .iter()
            .map(|t| ToolDefinition {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: t.input_schema.clone(),
            })
            .collect();
        // The class's own tools win over built-in ones of the same name.
        let mut add = |name: &str, description: String, input_schema: Value| {
            if !definitions.iter().any(|d| d.name == name) {
                definitions.push(ToolDefinition {
                    name: name.to_owned(),
                    description,
                    input_schema,
                });
            }
        };
        let texts = code_mode.tool_texts();
        add(
            EXECUTE,
            texts.execute_description,
            texts.execute_input_schema,
        );
        for (name, description, schema) in WORKSPACE {
            add(name, (*description).to_owned(), schema());
        }
        let shortcuts: Vec<Shortcut> = capabilities.iter().flat_map(|c| c.shortcuts()).collect();
        for shortcut in &shortcuts {
            add(
                &shortcut.name,
                shortcut.description.clone(),
                shortcut.input_schema.clone(),
            );
        }
        add(
            SESSION_SEARCH,
            "Full-text search over this conversation's earlier messages (or all of this agent's \
             conversations with `allSessions: true`); returns matching snippets."
                .to_owned(),
            schema(
                &[
                    ("query", "string", "words to look for"),
                    (
                        "allSessions",
                        "boolean",
                        "search every conversation, not only this one",
                    ),
                ],
                &["query"],
            ),
        );
        if own
            .iter()
            .any(|t| t.agent.as_ref().is_some_and(|a| a.detached))
        {
            add(
                DELEGATIONS,
                "The tasks you handed off without waiting (detached agent tools): with `runId`, \
                 that one (status running, completed, failed, timed_out or interrupted; the \
                 child's answer as `result`); without, the latest ones."
                    .to_owned(),
                schema(
                    &[(
                        "runId",
                        "string",
                        "the runId a detached tool call answered with",
                    )],
                    &[],
                ),
            );
        }
        if host.linux_sandbox_enabled(&agent.class) {
            add(
                SANDBOX_EXEC,
                format!("Run a shell command. {SANDBOX_NOTE}"),
                sandbox_exec_schema(),
            );
            add(
                SANDBOX_RUN_CODE,
                format!(
                    "Run a Python or shell program given as text (for work JavaScript in `execute` \
                     cannot do: Python's libraries, CSV and data files, command-line tools). \
                     {SANDBOX_NOTE}"
                ),
                sandbox_run_code_schema(),
            );
        }
        Self {
            host: host.clone(),
            agent,
            session_id,
            own,
            code_mode,
            shortcuts,
            definitions,
        }
    }

    /// What a tool delegates to, when it is an `agentTool`.
    pub(crate) fn delegation(&self, name: &str) -> Option<&AgentToolSpec> {
        self.own
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.agent.as_ref())
    }

    pub(crate) fn definitions(&self) -> &[ToolDefinition] {
        &self.definitions
    }

    /// Offers only the named tools (`beforeTurn`'s `activeTools`); the others are unknown
    /// to the model for the turn. `Err`: a name that is no tool.
    pub(crate) fn restrict(&mut self, names: &[String]) -> Result<(), String> {
        let unknown: Vec<&str> = names
            .iter()
            .filter(|n| !self.definitions.iter().any(|d| &d.name == *n))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "there is no tool {}; the tools are: {}",
                unknown.join(", "),
                self.names()
            ));
        }
        self.definitions.retain(|d| names.contains(&d.name));
        Ok(())
    }

    fn names(&self) -> String {
        self.definitions
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Runs one call. `argument_error` is set when the model's arguments were not a JSON
    /// object: the call is answered with it, unrun.
    pub(crate) async fn run(&self, call: &ToolCall, argument_error: Option<&str>) -> Output {
        if let Some(error) = argument_error {
            return Output::error(error);
        }
        let input = match call.input() {
            Ok(input) => input.clone(),
            Err(reason) => return Output::error(reason),
        };
        let name = call.name.as_str();
        if !self.definitions.iter().any(|d| d.name == name) {
            return Output::error(format!(
                "there is no tool `{name}`; the tools are: {}",
                self.names()
            ));
        }
        if self.own.iter().any(|t| t.name == name) {
            let payload = json!({"name": name, "input": input, "callId": call.id});
            return match self.host.think_at(&self.agent, "tool", payload).await {
                Ok(value) => Output::ok(value),
                Err(e) => Output::error(format!("the tool `{name}` failed: {e}")),
            };
        }
        if let Some(shortcut) = self.shortcuts.iter().find(|s| s.name == name) {
            let program = shortcut.program(&Value::Object(input));
            return self
                .execute(Map::from_iter([(
                    "code".to_owned(),
                    Value::String(program),
                )]))
                .await;
        }
        match name {
            EXECUTE => self.execute(input).await,
            SESSION_SEARCH => self.session_search(input).await,
            DELEGATIONS => self.delegations(input).await,
            SANDBOX_EXEC | SANDBOX_RUN_CODE => {
                let op = if name == SANDBOX_EXEC {
                    "exec"
                } else {
                    "runCode"
                };
                match self
                    .host
                    .linux_sandbox(
                        &self.agent.class,
                        &self.agent.name,
                        op,
                        Value::Object(input),
                    )
                    .await
                {
                    Ok(value) => Output::ok(value),
                    Err(e) => Output::error(format!("{name}: {e}")),
                }
            }
            _ if WORKSPACE.iter().any(|(n, _, _)| *n == name) => {
                let op = name.to_owned();
                let result = self
                    .host
                    .with_new_or_existing_db_at(&self.agent, move |db| {
                        Ok(workspace_op(db, &op, &input))
                    })
                    .await;
                match result {
                    Ok(Ok(value)) => Output::ok(value),
                    Ok(Err(message)) => Output::error(format!("{name}: {message}")),
                    Err(e) => Output::error(format!("{name}: {e}")),
                }
            }
            // Every offered tool is one of the above.
            _ => Output::error(format!(
                "there is no tool `{name}`; the tools are: {}",
                self.names()
            )),
        }
    }

    async fn execute(&self, input: Map<String, Value>) -> Output {
        let result = match self.code_mode.call(EXECUTE, &input).await {
            Ok(result) => result,
            Err(e) => return Output::error(e.message.to_string()),
        };
        // The MCP result as JSON: `{content: [{type: "text", text}], isError}`.
        let value = serde_json::to_value(&result).unwrap_or(Value::Null);
        let text: Vec<&str> = value["content"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["text"].as_str())
            .collect();
        let text = text.join("\n");
        if value["isError"].as_bool().unwrap_or(false) {
            Output::error(text)
        } else {
            Output::ok(Value::String(text))
        }
    }

    async fn delegations(&self, input: Map<String, Value>) -> Output {
        let run = match input.get("runId") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(other) => {
                return Output::error(format!("`runId` is a string, not {other}"));
            }
        };
        let result = self
            .host
            .with_new_or_existing_db_at(&self.agent, move |db| {
                Ok(match run {
                    Some(id) => db.delegations().get(&id).map(|d| json!(d)),
                    None => db.delegations().list(20).map(|d| json!(d)),
                })
            })
            .await;
        match result {
            Ok(Ok(value)) => Output::ok(value),
            Ok(Err(e)) => Output::error(format!("delegations: {e}")),
            Err(e) => Output::error(format!("delegations: {e}")),
        }
    }

    async fn session_search(&self, input: Map<String, Value>) -> Output {
        let Some(query) = input
            .get("query")
            .and_then(Value::as_str)
            .filter(|q| !q.trim().is_empty())
            .map(str::to_owned)
        else {
            return Output::error("`query` is required: a few words to look for");
        };
        let all = input
            .get("allSessions")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let session = self.session_id.clone();
        let result = self
            .host
            .with_new_or_existing_db_at(&self.agent, move |db| {
                let mut sessions = db.sessions();
                let hits = if all {
                    sessions.search_all(&query, Some(10))
                } else {
                    sessions.search(&session, &query, Some(10))
                };
                Ok(hits)
            })
            .await;
        match result {
            Ok(Ok(hits)) => Output::ok(json!(hits)),
            Ok(Err(e)) => Output::error(format!("session_search: {e}")),
            Err(e) => Output::error(format!("session_search: {e}")),
        }
    }
}

/// Code Mode over what this agent may reach: every agent class's callable methods
/// (`agents.Class("name").method()`), its own workspace (`workspace.read({path})`, …) and
/// the operator's extra bindings.
///
/// `extra`: bindings the operator attached (e.g. `memory.*`). Built once per agent and
/// kept by the harness: building the catalog's search index and tool texts costs
/// milliseconds, and nothing in it changes while the server runs.
pub(crate) fn code_mode(
    host: &AgentHost,
    agent: &Address,
    extra: &Bindings,
    capabilities: &[Arc<dyn Capability>],
) -> CodeModeServer {
    let mut tools = Vec::new();
    let mut bindings = host.bindings();
    for (namespace, name, f) in extra.iter() {
        bindings.insert(namespace, name, Arc::clone(f));
        tools.push(Tool {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            original_name: name.to_owned(),
            description: format!("{namespace}.{name}"),
            input_schema: json!({"type": "object"}),
            output_schema: None,
            keywords: Vec::new(),
            target: Target::Host,
        });
    }
    for class in host.classes().iter() {
        for method in &class.methods {
            tools.push(agent_method_tool(class, method));
        }
    }
    for (op, description, input_schema) in WORKSPACE {
        tools.push(Tool {
            namespace: "workspace".to_owned(),
            name: (*op).to_owned(),
            original_name: (*op).to_owned(),
            description: format!("{description} (This agent's own files.)"),
            input_schema: input_schema(),
            output_schema: None,
            keywords: vec!["file".to_owned(), "workspace".to_owned()],
            target: Target::Host,
        });
        let (host, agent, op) = (host.clone(), agent.clone(), (*op).to_owned());
        bindings.insert(
            "workspace",
            &op.clone(),
            Arc::new(move |args: Value| {
                let (host, agent, op) = (host.clone(), agent.clone(), op.clone());
                Box::pin(async move {
                    let input = match args {
                        Value::Object(map) => map,
                        Value::Null => Map::new(),
                        other => {
                            return Err(HostError::new(
                                "INVALID_INPUT",
                                format!(
                                    "workspace.{op}(input): input is an object such as {{ path: \"/a.txt\" }}, got {}",
                                    sandbox::json_kind(&other)
                                ),
                            ));
                        }
                    };
                    let op2 = op.clone();
                    host.with_new_or_existing_db_at(&agent, move |db| {
                        Ok(workspace_op(db, &op2, &input))
                    })
                    .await
                    .map_err(|e| HostError::new(e.code(), e.to_string()))?
                    .map_err(|message| {
                        HostError::new("WORKSPACE", format!("workspace.{op}: {message}"))
                    })
                })
            }),
        );
    }
    if host.linux_sandbox_enabled(&agent.class) {
        bind_sandbox(host, agent, &mut tools, &mut bindings);
    }
    let catalog = Catalog {
        title: format!("agent {} (its workspace and the agents it can call)", agent),
        tools,
    };
    let options = ServerOptions {
        execute_prelude: Some(AgentHost::prelude().into()),
        execute_note: agents_note(host.classes()),
        capabilities: capabilities.to_vec(),
        ..ServerOptions::default()
    };
    CodeModeServer::with_sandbox(catalog, bindings, options, Arc::clone(host.sandbox()))
}

/// The longest declarations shown in full in the `execute` description; beyond it the
/// model finds each method's signature with `search`.
const MAX_NOTE_CHARS: usize = 6_000;

/// The agents' TypeScript declarations for the `execute` description (issue 16), so
/// `agents.Researcher("r1").summarise({ url })` is typed for the model; `None` when
/// there are no classes or they would crowd the description.
pub fn agents_note(classes: &agents::Classes) -> Option<String> {
    if classes.is_empty() {
        return None;
    }
    let declarations = classes.declarations();
    (declarations.len() <= MAX_NOTE_CHARS)
        .then(|| format!("The agents code can call, as TypeScript:\n```ts\n{declarations}```"))
}

/// `sandbox.exec({command, …})`, `sandbox.runCode({language, code})`, … for `execute` code:
/// the agent's Linux sandbox, as `this.sandbox` has it (one object argument each).
fn bind_sandbox(host: &AgentHost, agent: &Address, tools: &mut Vec<Tool>, bindings: &mut Bindings) {
    let ops: [HostTool; 8] = [
        (
            "exec",
            "Run a shell command line (/bin/sh -c).",
            sandbox_exec_schema,
        ),
        (
            "runCode",
            "Run a Python or shell program given as text.",
            sandbox_run_code_schema,
        ),
        ("readFile", "Read a text file under /workspace.", || {
            schema(&[("path", "string", "e.g. /workspace/out.txt")], &["path"])
        }),
        ("writeFile", "Write a text file under /workspace.", || {
            schema(
                &[
                    ("path", "string", "e.g. /workspace/in.csv"),
                    ("content", "string", "the text"),
                ],
                &["path", "content"],
            )
        }),
        ("listFiles", "List a directory under /workspace.", || {
            schema(&[("path", "string", "default /workspace")], &[])
        }),
        (
            "startProcess",
            "Start a background process (a server, a watcher).",
            || {
                schema(
                    &[("command", "string", "a shell command line")],
                    &["command"],
                )
            },
        ),
        (
            "getProcessLogs",
            "A background process's output so far.",
            || schema(&[("id", "string", "the id startProcess returned")], &["id"]),
        ),
        ("killProcess", "Stop a background process.", || {
            schema(&[("id", "string", "the id startProcess returned")], &["id"])
        }),
    ];
    for (op, description, input_schema) in ops {
        tools.push(Tool {
            namespace: "sandbox".to_owned(),
            name: op.to_owned(),
            original_name: op.to_owned(),
            description: format!("{description} {SANDBOX_NOTE}"),
            input_schema: input_schema(),
            output_schema: None,
            keywords: vec!["linux".to_owned(), "python".to_owned(), "shell".to_owned()],
            target: Target::Host,
        });
        let (host, agent) = (host.clone(), agent.clone());
        bindings.insert(
            "sandbox",
            op,
            Arc::new(move |args: Value| {
                let (host, agent) = (host.clone(), agent.clone());
                Box::pin(async move {
                    host.linux_sandbox(&agent.class, &agent.name, op, args)
                        .await
                        .map_err(|e| HostError::new(e.code(), e.to_string()).with_kind(e.kind()))
                })
            }),
        );
    }
}

/// One callable agent method as a Code Mode tool: `agents.<Class>.<method>({name, args})`,
/// with `args` typed as the method's parameters and the result as its declared type, so
/// search results and declarations show the method as its source declares it.
pub fn agent_method_tool(class: &AgentClass, method: &str) -> Tool {
    let signature = class.signatures.get(method);
    let (params, args, result) = match signature {
        Some(s) => (s.params_ts(), s.args_ts(), s.returns_ts().to_owned()),
        None => (
            "(...args: unknown[])".to_owned(),
            "unknown[]".to_owned(),
            "unknown".to_owned(),
        ),
    };
    let mut description = String::new();
    if let Some(doc) = signature.and_then(|s| s.doc.as_deref()) {
        description.push_str(doc);
        description.push_str("\n\n");
    }
    description.push_str(&format!(
        "Call as agents.{class}(name).{method}{params}: Promise<{result}>, or \
         agents.{class}.{method}({{ name, args }}); the {class} agent called `name` is created on \
         first use.",
        class = class.name
    ));
    let mut required = vec!["name"];
    if signature.is_some_and(agents::Signature::requires_args) {
        required.push("args");
    }
    Tool {
        namespace: format!("agents.{}", class.name),
        name: method.to_owned(),
        original_name: method.to_owned(),
        description,
        input_schema: serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "which agent of the class"},
                "args": {"type": "array", "description": "the method's arguments, in order", "x-typescript": args}
            },
            "required": required
        }),
        output_schema: (result != "unknown").then(|| serde_json::json!({ "x-typescript": result })),
        keywords: vec![class.name.clone(), "agent".to_owned()],
        target: Target::Host,
    }
}
