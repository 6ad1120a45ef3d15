//! One sandbox per agent, started on its first use and ended when the agent hibernates,
//! and the operations agent code (`this.sandbox`), HTTP routes and Think tools call, in
//! one JSON vocabulary with the names and shapes of Cloudflare's Sandbox SDK.
//!
//! Every operation that runs something or touches files brings the sandbox's `/workspace`
//! up to date with the agent's workspace first (`sync_in`) and copies what changed back
//! after (`sync_out`), through a `sync` function the caller gives: inside an agent's turn
//! it uses the turn's own database (part of the turn's transaction), elsewhere a visit to
//! the agent between its turns.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::network::Connector;
use crate::sandbox::{ExecOptions, ExecStream, Linuxbox, StreamEvent};
use crate::spares::Spares;
use crate::sync::{Prefer, SyncReport};

/// The operations [`Sandboxes::call`] knows, for error messages and docs.
pub const OPERATIONS: &[&str] = &[
    "exec",
    "execStream",
    "streamNext",
    "streamCancel",
    "runCode",
    "startProcess",
    "listProcesses",
    "getProcessLogs",
    "killProcess",
    "readFile",
    "writeFile",
    "listFiles",
    "gitCheckout",
];

/// Sandboxes by key (one per agent: the embedder's `class/name`).
#[derive(Debug)]
pub struct Sandboxes {
    config: Config,
    live: Mutex<HashMap<String, Arc<Slot>>>,
    /// Started ahead of need, for sandboxes without network (a first call then costs a
    /// warm command instead of a sandbox's start).
    spares: Option<Spares>,
}

#[derive(Debug, Default)]
struct Slot {
    sandbox: tokio::sync::Mutex<Option<Arc<Linuxbox>>>,
    /// `execStream` commands still being read, by stream id.
    streams: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<ExecStream>>>>,
    next_stream: AtomicU64,
}

/// What a caller may ask of a command (`exec`, `execStream`, `startProcess`, `runCode`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandArgs {
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// Milliseconds.
    #[serde(default)]
    timeout: Option<u64>,
    #[serde(default)]
    stdin: Option<String>,
    // runCode's own.
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StreamArgs {
    stream_id: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdArgs {
    id: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileArgs {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    content: Option<String>,
    /// `"utf-8"` (the default) or `"base64"`, for binary files.
    #[serde(default)]
    encoding: Option<String>,
}

/// Whether `encoding` asks for base64 (`None`: UTF-8 text).
fn base64_encoding(op: &str, encoding: Option<&str>) -> Result<bool> {
    match encoding {
        None | Some("utf-8" | "utf8") => Ok(false),
        Some("base64") => Ok(true),
        Some(other) => Err(Error::InvalidArgument(format!(
            "{op}: encoding is \"utf-8\" (the default) or \"base64\", not {other:?}"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GitArgs {
    repo_url: String,
    #[serde(default)]
    branch: Option<String>,
    #[serde(default)]
    target_dir: Option<String>,
    #[serde(default)]
    timeout: Option<u64>,
}

impl Sandboxes {
    /// Sandboxes of `config`, none started yet.
    pub fn new(config: Config) -> Sandboxes {
        Sandboxes {
            config,
            live: Mutex::new(HashMap::new()),
            spares: None,
        }
    }

    /// Like [`Sandboxes::new`], keeping `spares` sandboxes started ahead of need (0: none).
    pub async fn with_spares(config: Config, spares: usize) -> Result<Sandboxes> {
        let spares = match spares {
            0 => None,
            n => Some(Spares::new(config.clone(), n).await?),
        };
        Ok(Sandboxes {
            config,
            live: Mutex::new(HashMap::new()),
            spares,
        })
    }

    /// The configuration every sandbox of this service starts with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many sandboxes are running.
    pub fn live(&self) -> usize {
        base::sync::lock(&self.live).len()
    }

    /// Ends `key`'s sandbox (its processes die with it); the next call starts a new one
    /// whose `/workspace` is filled from the agent's workspace again.
    pub fn release(&self, key: &str) {
        let slot = base::sync::lock(&self.live).remove(key);
        if let Some(slot) = slot {
            // Dropping the last handle kills the sandbox; a command still running holds
            // one until it ends, which its own timeout bounds.
            base::sync::lock(&slot.streams).clear();
            if let Ok(mut sandbox) = slot.sandbox.try_lock() {
                sandbox.take();
            }
        }
    }

    /// `key`'s sandbox, started now if it has none (or its last one ended), with `network`
    /// as its way out (`None`: no network).
    pub async fn sandbox(
        &self,
        key: &str,
        network: Option<Arc<dyn Connector>>,
    ) -> Result<Arc<Linuxbox>> {
        let slot = self.slot(key);
        let mut current = slot.sandbox.lock().await;
        if let Some(sandbox) = current.as_ref().filter(|s| !s.is_gone()) {
            return Ok(Arc::clone(sandbox));
        }
        let sandbox = match (&self.spares, network) {
            (Some(spares), None) => spares.take().await?,
            (_, network) => {
                let config = Config {
                    network,
                    ..self.config.clone()
                };
                Linuxbox::start(config).await?
            }
        };
        let sandbox = Arc::new(sandbox);
        *current = Some(Arc::clone(&sandbox));
        Ok(sandbox)
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        Arc::clone(
            base::sync::lock(&self.live)
                .entry(key.to_owned())
                .or_default(),
        )
    }

    /// Runs one operation (see [`OPERATIONS`]) on `key`'s sandbox. `args` is the operation's
    /// object (`{command, cwd, env, timeout, stdin}` for `exec`); `sync` brings one side of
    /// the workspace up to date with the other. `network` is the sandbox's way out if this
    /// call starts it.
    pub async fn call<S, F>(
        &self,
        key: &str,
        network: Option<Arc<dyn Connector>>,
        op: &str,
        args: Value,
        sync: S,
    ) -> Result<Value>
    where
        S: Fn(Arc<Linuxbox>, Prefer) -> F,
        F: Future<Output = Result<SyncReport>>,
    {
        let slot = self.slot(key);
        // The stream operations need no sandbox start: the stream holds its own.
        match op {
            "streamNext" => {
                let a: StreamArgs = parse(op, args)?;
                return self.stream_next(&slot, a.stream_id, &sync).await;
            }
            "streamCancel" => {
                let a: StreamArgs = parse(op, args)?;
                let stream = base::sync::lock(&slot.streams).remove(&a.stream_id);
                return Ok(json!({ "cancelled": stream.is_some() }));
            }
            _ => {}
        }
        if !OPERATIONS.contains(&op) {
            return Err(Error::InvalidArgument(format!(
                "the sandbox has no operation `{op}`{}; it has: {}",
                base::suggest::did_you_mean(base::suggest::nearest(op, OPERATIONS.iter().copied())),
                OPERATIONS.join(", ")
            )));
        }
        let sandbox = self.sandbox(key, network).await?;
        let sync_in = || sync(Arc::clone(&sandbox), Prefer::Workspace);
        let sync_out = || sync(Arc::clone(&sandbox), Prefer::Sandbox);
        match op {
            "exec" | "runCode" => {
                let a: CommandArgs = parse(op, args)?;
                let options = self.options(&a)?;
                sync_in().await?;
                let result = if op == "exec" {
                    let command = required(op, "command", a.command)?;
                    sandbox.exec(&command, options).await?
                } else {
                    if a.stdin.is_some() {
                        return Err(Error::InvalidArgument(
                            "runCode passes the code on stdin; use exec to feed a program input"
                                .into(),
                        ));
                    }
                    let language = required(op, "language", a.language)?;
                    let code = required(op, "code", a.code)?;
                    sandbox.run_code(&language, &code, options).await?
                };
                sync_out().await?;
                Ok(to_json(&result))
            }
            "execStream" => {
                let a: CommandArgs = parse(op, args)?;
                let options = self.options(&a)?;
                let command = required(op, "command", a.command)?;
                sync_in().await?;
                let stream = sandbox.exec_stream(&command, options).await?;
                let id = slot.next_stream.fetch_add(1, Ordering::Relaxed) + 1;
                base::sync::lock(&slot.streams)
                    .insert(id, Arc::new(tokio::sync::Mutex::new(stream)));
                Ok(json!({ "streamId": id }))
            }
            "startProcess" => {
                let a: CommandArgs = parse(op, args)?;
                let mut options = self.options(&a)?;
                if options.timeout.is_some() {
                    return Err(Error::InvalidArgument(
                        "startProcess runs until the process exits, is killed (killProcess) or \
                         the sandbox is idle; it takes no timeout"
                            .into(),
                    ));
                }
                options.timeout = None;
                let command = required(op, "command", a.command)?;
                sync_in().await?;
                Ok(to_json(&sandbox.start_process(&command, options).await?))
            }
            "listProcesses" => {
                no_args(op, &args)?;
                Ok(to_json(&sandbox.list_processes()))
            }
            "getProcessLogs" => {
                let a: IdArgs = parse(op, args)?;
                let logs = sandbox.process_logs(&a.id)?;
                // What the process wrote to /workspace so far is the agent's too.
                sync_out().await?;
                Ok(to_json(&logs))
            }
            "killProcess" => {
                let a: IdArgs = parse(op, args)?;
                let info = sandbox.kill_process(&a.id).await?;
                sync_out().await?;
                Ok(to_json(&info))
            }
            "readFile" => {
                let a: FileArgs = parse(op, args)?;
                let path = required(op, "path", a.path)?;
                sync_in().await?;
                let base64 = base64_encoding(op, a.encoding.as_deref())?;
                let bytes = sandbox.read_file(&path)?;
                if base64 {
                    use base64::Engine as _;
                    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
                    return Ok(json!({ "path": path, "content": content, "encoding": "base64" }));
                }
                let content = String::from_utf8(bytes).map_err(|_| {
                    Error::InvalidArgument(format!(
                        "`{path}` is not UTF-8 text; read it with {{ encoding: \"base64\" }}"
                    ))
                })?;
                Ok(json!({ "path": path, "content": content, "encoding": "utf-8" }))
            }
            "writeFile" => {
                let a: FileArgs = parse(op, args)?;
                let path = required(op, "path", a.path)?;
                let content = required(op, "content", a.content)?;
                let bytes = if base64_encoding(op, a.encoding.as_deref())? {
                    use base64::Engine as _;
                    base64::engine::general_purpose::STANDARD
                        .decode(content.as_bytes())
                        .map_err(|e| {
                            Error::InvalidArgument(format!(
                                "writeFile: content is not base64 ({e}); send standard base64 with padding"
                            ))
                        })?
                } else {
                    content.into_bytes()
                };
                sync_in().await?;
                sandbox.write_file(&path, &bytes)?;
                sync_out().await?;
                Ok(json!({ "path": path, "bytes": bytes.len() }))
            }
            "listFiles" => {
                let a: FileArgs = parse(op, args)?;
                if a.content.is_some() || a.encoding.is_some() {
                    return Err(Error::InvalidArgument("listFiles takes only `path`".into()));
                }
                sync_in().await?;
                let path = a.path.unwrap_or_else(|| "/workspace".into());
                Ok(to_json(&sandbox.list_files(&path)?))
            }
            "gitCheckout" => {
                let a: GitArgs = parse(op, args)?;
                self.git_checkout(&sandbox, a, sync_in, sync_out).await
            }
            _ => unreachable_op(op),
        }
    }

    async fn git_checkout<I, O, FI, FO>(
        &self,
        sandbox: &Linuxbox,
        a: GitArgs,
        sync_in: I,
        sync_out: O,
    ) -> Result<Value>
    where
        I: Fn() -> FI,
        O: Fn() -> FO,
        FI: Future<Output = Result<SyncReport>>,
        FO: Future<Output = Result<SyncReport>>,
    {
        let lower = a.repo_url.to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(Error::InvalidArgument(format!(
                "gitCheckout clones over HTTP(S) only, through the sandbox's network policy; \
                 `{}` is not an http(s):// URL",
                a.repo_url
            )));
        }
        let target = match a.target_dir {
            Some(dir) => dir,
            None => default_target(&a.repo_url),
        };
        if target.starts_with('-') || a.branch.as_deref().is_some_and(|b| b.starts_with('-')) {
            return Err(Error::InvalidArgument(
                "gitCheckout: the branch and target directory must not start with `-`".into(),
            ));
        }
        let mut argv = vec!["git", "clone", "--quiet", "--depth", "1"];
        if let Some(branch) = &a.branch {
            argv.extend(["--branch", branch]);
        }
        argv.extend(["--", &a.repo_url, &target]);
        let options = self.options(&CommandArgs {
            timeout: a.timeout,
            ..CommandArgs::default()
        })?;
        sync_in().await?;
        let result = sandbox.exec_argv(&argv, options).await?;
        sync_out().await?;
        if !result.success() {
            return Err(Error::Spawn(format!(
                "git clone of {} failed ({}): {}",
                a.repo_url,
                match (result.exit_code, result.limit) {
                    (_, Some(limit)) => format!("{limit:?} limit"),
                    (Some(code), None) => format!("exit status {code}"),
                    (None, None) => "killed".into(),
                },
                result.stderr.trim()
            )));
        }
        Ok(json!({
            "success": true,
            "repoUrl": a.repo_url,
            "branch": a.branch,
            "targetDir": target,
        }))
    }

    async fn stream_next<S, F>(&self, slot: &Slot, id: u64, sync: &S) -> Result<Value>
    where
        S: Fn(Arc<Linuxbox>, Prefer) -> F,
        F: Future<Output = Result<SyncReport>>,
    {
        let stream = base::sync::lock(&slot.streams).get(&id).cloned();
        let Some(stream) = stream else {
            return Err(Error::NotFound(format!(
                "no stream {id} in this sandbox (it ended, was cancelled, or the sandbox \
                 stopped); start one with execStream"
            )));
        };
        let mut stream = stream.lock().await;
        // One event at least (waiting for it), then whatever else has arrived.
        let mut events = Vec::new();
        let mut done = false;
        let mut next = stream.next().await;
        loop {
            match next {
                None => {
                    done = true;
                    break;
                }
                Some(StreamEvent::Stdout(bytes)) => {
                    events.push(json!({"type": "stdout", "data": String::from_utf8_lossy(&bytes)}))
                }
                Some(StreamEvent::Stderr(bytes)) => {
                    events.push(json!({"type": "stderr", "data": String::from_utf8_lossy(&bytes)}))
                }
                Some(StreamEvent::Exit(exit)) => {
                    let mut event = to_json(&exit);
                    event["type"] = json!("exit");
                    events.push(event);
                    done = true;
                    break;
                }
            }
            match tokio::time::timeout(Duration::ZERO, stream.next()).await {
                Ok(event) => next = event,
                Err(_) => break,
            }
        }
        drop(stream);
        if done {
            base::sync::lock(&slot.streams).remove(&id);
            let sandbox = slot.sandbox.lock().await.clone();
            if let Some(sandbox) = sandbox {
                sync(sandbox, Prefer::Sandbox).await?;
            }
        }
        Ok(json!({ "events": events, "done": done }))
    }

    fn options(&self, a: &CommandArgs) -> Result<ExecOptions> {
        let max = self.config.limits.timeout;
        let timeout = match a.timeout {
            None => None,
            Some(0) => {
                return Err(Error::InvalidArgument(
                    "`timeout` is in milliseconds and must be above 0".into(),
                ));
            }
            Some(ms) if Duration::from_millis(ms) > max => {
                return Err(Error::InvalidArgument(format!(
                    "`timeout` {ms} ms is over this server's limit of {} ms per command; ask \
                     for less (or the operator for more)",
                    max.as_millis()
                )));
            }
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        Ok(ExecOptions {
            cwd: a.cwd.clone(),
            env: a.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            timeout,
            stdin: a.stdin.as_ref().map(|s| s.as_bytes().to_vec()),
        })
    }
}

fn parse<T: DeserializeOwned>(op: &str, args: Value) -> Result<T> {
    let args = if args.is_null() { json!({}) } else { args };
    serde_json::from_value(args).map_err(|e| Error::InvalidArgument(format!("sandbox.{op}: {e}")))
}

fn no_args(op: &str, args: &Value) -> Result<()> {
    match args {
        Value::Null => Ok(()),
        Value::Object(map) if map.is_empty() => Ok(()),
        _ => Err(Error::InvalidArgument(format!(
            "sandbox.{op} takes no arguments"
        ))),
    }
}

fn required(op: &str, what: &str, value: Option<String>) -> Result<String> {
    value.ok_or_else(|| Error::InvalidArgument(format!("sandbox.{op}: `{what}` is required")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn unreachable_op(op: &str) -> Result<Value> {
    Err(Error::InvalidArgument(format!(
        "the sandbox has no operation `{op}`"
    )))
}

/// `https://host/org/repo.git` → `/workspace/repo` (what `git clone` would pick).
fn default_target(url: &str) -> String {
    let name = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("repo")
        .trim_end_matches(".git");
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let name = if name.is_empty() || name.starts_with('.') {
        "repo".to_string()
    } else {
        name
    };
    format!("/workspace/{name}")
}
