//! Dynamic isolates for agent code (issue 16 item 4, Cloudflare's Worker Loader):
//! `this.isolates.run(code, options)` runs code the agent was given at runtime in a fresh
//! isolate, and `this.isolates.load(id, code, options)` keeps a module's isolate (a sandbox
//! session) whose exported functions the agent calls again (`this.isolates.get(id)`).
//!
//! The code runs in the host's sandbox (so in a hardened worker process when the server
//! isolates processes), under the agent's own limits or lower, with only the bindings the
//! agent chose: `agent.<method>(…)` for the methods it lists (each runs inside the agent's
//! waiting turn, like a re-entering call: see `turn::outbound`), `workspace.*` over its
//! workspace (`"read"` or `"read-write"`), `memory.*` as the agent has it, and `fetch` under
//! the same egress policy as the agent's own (refused unless the server allows it). Nothing
//! else of the agent (its database, `agents.*`, its fields) is reachable.
//!
//! A loaded isolate lives while its agent is active: it is dropped when the agent
//! hibernates, is deleted or aborted (load it in `onStart` to have it after every wake).

// Host functions answer with `HostError` by the bindings' contract.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::sync::Arc;

use base::sync::lock;
use sandbox::{Bindings, Execution, HostError, HostFn, Outcome};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::address::Address;
use crate::classes::WithPackages;
use crate::error::{Error, host_error};
use crate::host_fns::{WsArgs, fetch_refusal, workspace_op};
use crate::mailbox::{Inner, Reentry};
use crate::turn::TurnContext;

pub(crate) use crate::loaded::{Loaded, Made, Options};

/// Trusted JavaScript run before dynamic code: the call forms of its bindings.
const PRELUDE: &str = r#"(function () {
'use strict';
const raw = globalThis.__dyn;
delete globalThis.__dyn;
if (!raw) return;
const define = (name, value) => Object.defineProperty(globalThis, name, { value: Object.freeze(value), writable: false, enumerable: false, configurable: false });
if (raw.agent) {
  const agent = {};
  for (const m of Object.keys(raw.agent)) agent[m] = (...args) => raw.agent[m]({ args });
  define('agent', agent);
}
if (raw.codemode) {
  const tools = {};
  for (const t of Object.keys(raw.codemode)) tools[t] = (input) => raw.codemode[t]({ args: [input === undefined ? null : input] });
  define('codemode', tools);
}
if (raw.workspace) {
  const w = raw.workspace;
  const op = (name, fields) => (w[name] ? w[name](fields) : Promise.reject(new TypeError(`workspace.${name}: this isolate may only read the workspace`)));
  define('workspace', {
    read: (path) => op('read', { op: 'read', path }),
    list: (path = '/') => op('list', { op: 'list', path }),
    stat: (path) => op('stat', { op: 'stat', path }),
    exists: (path) => op('exists', { op: 'exists', path }),
    glob: (pattern) => op('glob', { op: 'glob', pattern }),
    grep: (pattern, options) => op('grep', { op: 'grep', pattern, options: options || {} }),
    diff: (a, b) => op('diff', { op: 'diff', path: a, to: b }),
    write: (path, content) => op('write', { op: 'write', path, content: String(content) }),
    append: (path, content) => op('append', { op: 'append', path, content: String(content) }),
    mkdir: (path, options) => op('mkdir', { op: 'mkdir', path, recursive: !!(options && options.recursive) }),
    mv: (from, to) => op('mv', { op: 'mv', path: from, to }),
    cp: (from, to, options) => op('cp', { op: 'cp', path: from, to, recursive: !!(options && options.recursive) }),
    rm: (path, options) => op('rm', { op: 'rm', path, recursive: !!(options && options.recursive) }),
  });
}
})();"#;

/// [`PRELUDE`] as an execution takes it, made once rather than copied for every run.
static PRELUDE_SHARED: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| PRELUDE.into());

/// Code given at run time, its package imports served (`HostConfig::packages`).
pub(crate) struct WithImports {
    /// The code, its imports rewritten to reads from the bundle (lines kept).
    pub(crate) code: String,
    /// What runs before it: [`PRELUDE`], then the packages' bundle when it has one.
    pub(crate) prelude: Arc<str>,
    /// The packages' bundle and the versions chosen, when the code imports any.
    pub(crate) packages: Option<WithPackages>,
}

/// Serves `code`'s package imports (resolved now, or at `pinned` versions) through the
/// embedder's [`ModulePackages`](crate::classes::ModulePackages); `Err` is the embedder's reason (the npm rung is
/// off: it names the import and the flag; a version not found: the package and range).
/// Without `HostConfig::packages` the code is left as it is, and its imports fail where
/// they are parsed.
pub(crate) async fn with_imports(
    host: &Inner,
    code: String,
    pinned: Option<&BTreeMap<String, String>>,
) -> Result<WithImports, String> {
    let prepared = match &host.config.packages {
        Some(packages) => packages.prepare_code(&code, pinned).await?,
        None => None,
    };
    Ok(match prepared {
        None => WithImports {
            code,
            prelude: Arc::clone(&PRELUDE_SHARED),
            packages: None,
        },
        Some(with) => WithImports {
            code: with.source.clone(),
            prelude: format!("{PRELUDE}\n;{}", with.prelude).into(),
            packages: Some(with),
        },
    })
}

const READ_OPS: &[&str] = &["read", "list", "stat", "exists", "glob", "grep", "diff"];
const WRITE_OPS: &[&str] = &["write", "append", "mkdir", "mv", "cp", "rm"];

/// The method name a code tool's call re-enters the agent with: no class can declare it,
/// and the runtime dispatches it to the tool instead of a method.
pub(crate) const CODE_TOOL_METHOD: &str = "\u{0}codeTool";

impl Options {
    /// Checks the options against the agent's class (the methods it binds exist) and
    /// themselves (code tool names, workspace access), for `function`'s errors.
    fn check(&self, ctx: &TurnContext, host: &Inner, function: &str) -> Result<(), HostError> {
        let class = host
            .classes
            .get(&ctx.address.class)
            .map_err(|e| host_error(&e))?;
        for method in &self.bindings.methods {
            if !class.has_any_method(method) {
                return Err(invalid(
                    function,
                    format!(
                        "bindings.methods: `{method}` is not a method of {}; its methods are: {}",
                        class.name,
                        class.all_methods.join(", ")
                    ),
                ));
            }
        }
        if let Some(tools) = &self.code_tools
            && let Some(bad) = tools.names.iter().find(|n| {
                n.is_empty()
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            })
        {
            return Err(invalid(
                function,
                format!("code tool name {bad:?}: use letters, digits, _ or $"),
            ));
        }
        match self.bindings.workspace.as_deref() {
            None | Some("read" | "read-write") => Ok(()),
            Some(other) => Err(invalid(
                function,
                format!("bindings.workspace is \"read\" or \"read-write\", not {other:?}"),
            )),
        }
    }

    /// The bindings of one run, over the calling turn (`ctx`); agent methods go into
    /// `entry`, the way into the turn's wait for this run.
    fn bindings(
        &self,
        ctx: &Arc<TurnContext>,
        host: &Inner,
        entry: &mpsc::UnboundedSender<Reentry>,
    ) -> Bindings {
        let mut b = Bindings::new();
        for method in &self.bindings.methods {
            let (entry, name) = (entry.clone(), method.clone());
            b.insert(
                "__dyn.agent",
                method,
                Arc::new(move |input: Value| {
                    let args = match input.get("args") {
                        Some(Value::Array(args)) => args.clone(),
                        _ => Vec::new(),
                    };
                    Box::pin(reenter(
                        entry.clone(),
                        name.clone(),
                        args,
                        "the agent is no longer waiting on this isolate; call its methods while it awaits the isolate",
                    ))
                }),
            );
        }
        for (tools, name) in self
            .code_tools
            .iter()
            .flat_map(|t| t.names.iter().map(move |n| (t, n)))
        {
            let entry = entry.clone();
            let (run, tool) = (tools.run.clone(), name.clone());
            b.insert(
                "__dyn.codemode",
                name,
                Arc::new(move |input: Value| {
                    let args = vec![
                        Value::String(run.clone()),
                        Value::String(tool.clone()),
                        input
                            .get("args")
                            .and_then(|a| a.get(0))
                            .cloned()
                            .unwrap_or(Value::Null),
                    ];
                    Box::pin(reenter(
                        entry.clone(),
                        CODE_TOOL_METHOD.to_owned(),
                        args,
                        "the code tool's run has ended; its tools can be called only while it runs",
                    ))
                }),
            );
        }
        if let Some(access) = &self.bindings.workspace {
            let ops: Vec<&str> = if access == "read-write" {
                READ_OPS.iter().chain(WRITE_OPS).copied().collect()
            } else {
                READ_OPS.to_vec()
            };
            for op in ops {
                // The agent's database (the same connection for every turn of its
                // activation), not the turn: an extension version's bindings are kept
                // between calls (`Loaded::bindings`).
                let db = Arc::clone(&ctx.db);
                b.insert(
                    "__dyn.workspace",
                    op,
                    Arc::new(move |input: Value| {
                        let result = serde_json::from_value::<WsArgs>(input)
                            .map_err(|e| invalid("workspace", e))
                            .and_then(|mut a| {
                                // The operation this binding was given for, whatever the input says.
                                op.clone_into(&mut a.op);
                                workspace_op(&mut lock(&db), a)
                            });
                        Box::pin(async move { result })
                    }),
                );
            }
        }
        let only = self.memory_only;
        let mut own = |from: &Bindings, wanted: &dyn Fn(&str) -> bool| {
            for (namespace, name, f) in from.iter() {
                if wanted(namespace) && only.is_none_or(|names| names.contains(&name)) {
                    b.insert(namespace, name, Arc::clone(f));
                }
            }
        };
        let memory = |ns: &str| ns == "memory" || ns.starts_with("memory.");
        if self.bindings.memory {
            own(&host.config.bindings, &memory);
            if let Some(class) = host.config.class_bindings.get(&ctx.address.class) {
                own(class, &memory);
            }
        }
        if let Some(fetch) = &self.fetch_fn {
            let (namespace, name) = sandbox::FETCH_BINDING;
            b.insert(namespace, name, Arc::clone(fetch));
        } else if self.fetch {
            let (namespace, name) = sandbox::FETCH_BINDING;
            // The agent's own fetch: the server's policy if it gives agents one, else the
            // refusal every agent has.
            let server = host
                .config
                .class_bindings
                .get(&ctx.address.class)
                .and_then(|c| find(c, namespace, name))
                .or_else(|| find(&host.config.bindings, namespace, name));
            b.insert(namespace, name, server.unwrap_or_else(fetch_refusal));
        }
        b
    }
}

/// Runs `method` of the agent inside its turn that awaits this isolate (a re-entering
/// call); `gone` says why it cannot when that wait has ended.
async fn reenter(
    entry: mpsc::UnboundedSender<Reentry>,
    method: String,
    args: Vec<Value>,
    gone: &'static str,
) -> Result<Value, HostError> {
    let (reply, rx) = oneshot::channel();
    entry
        .send(Reentry {
            method,
            args,
            chain: Vec::new(),
            reply,
        })
        .map_err(|_| HostError::new("AGENT_GONE", gone))?;
    rx.await
        .map_err(|_| host_error(&Error::ShuttingDown))?
        .map_err(|e| host_error(&e))
}

fn find(b: &Bindings, namespace: &str, name: &str) -> Option<HostFn> {
    b.iter()
        .find(|(ns, n, _)| *ns == namespace && *n == name)
        .map(|(_, _, f)| Arc::clone(f))
}

fn invalid(function: &str, e: impl std::fmt::Display) -> HostError {
    HostError::new("INVALID_INPUT", format!("{function}: {e}"))
}
impl Loaded {
    /// The bindings of a call from `ctx`'s turn: the kept ones when they serve its agent
    /// database (a later activation of the agent has another), else new ones.
    fn bindings(
        &self,
        ctx: &Arc<TurnContext>,
        host: &Inner,
        entry: &mpsc::UnboundedSender<Reentry>,
    ) -> Bindings {
        if !self.options.bindings.methods.is_empty() || self.options.code_tools.is_some() {
            return self.options.bindings(ctx, host, entry);
        }
        let mut kept = lock(&self.bindings);
        if let Some((db, bindings)) = kept.as_ref()
            && Arc::ptr_eq(db, &ctx.db)
        {
            return bindings.clone();
        }
        let bindings = self.options.bindings(ctx, host, entry);
        *kept = Some((Arc::clone(&ctx.db), bindings.clone()));
        bindings
    }
}
/// Ends a dynamic run: its result, or its error as the agent's code sees it.
fn finish(outcome: Outcome, what: &str) -> Result<Value, Error> {
    match outcome.error {
        None => Ok(outcome.result.unwrap_or(Value::Null)),
        Some(e) => {
            let mut text = format!("{what}: {}: {}", e.name, e.message);
            if let (Some(line), Some(column)) = (e.line, e.column) {
                text.push_str(&format!(" (at line {line}, column {column} of its code)"));
            }
            Err(Error::Isolate {
                message: text,
                limit: e.limit.is_some(),
            })
        }
    }
}

/// The `(entry, reply)` pair a dynamic run waits on: agent-method calls come in through
/// `entry`, the outcome through `reply` (see `turn::wait_outbound`).
pub(crate) type Started = (
    mpsc::UnboundedReceiver<Reentry>,
    oneshot::Receiver<Result<Value, Error>>,
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunArgs {
    code: String,
    #[serde(default)]
    options: Option<Options>,
}

/// `this.isolates.run(code, options)` (and a code tool's run): serves the code's package
/// imports, then starts the run; the caller waits on what it returns.
pub(crate) async fn run(
    ctx: &Arc<TurnContext>,
    host: &Arc<Inner>,
    args: RunArgs,
) -> Result<Started, HostError> {
    let options = args.options.unwrap_or_default();
    let function = if options.code_tools.is_some() {
        "a code tool's code"
    } else {
        "isolates.run(code, options)"
    };
    options.check(ctx, host, function)?;
    let ready = with_imports(host, args.code, None)
        .await
        .map_err(|e| invalid(function, e))?;
    start(ctx, host, ready, &options, "isolates.run".to_owned())
}

/// Starts `code` in a fresh isolate with `options`' bindings and limits.
fn start(
    ctx: &Arc<TurnContext>,
    host: &Arc<Inner>,
    ready: WithImports,
    options: &Options,
    what: String,
) -> Result<Started, HostError> {
    let (entry, reentry) = mpsc::unbounded_channel();
    let execution = Execution::new(ready.code)
        .prelude(ready.prelude)
        .bindings(options.bindings(ctx, host, &entry))
        .limits(options.limits(host.config.limits));
    let sandbox = Arc::clone(host.sandbox());
    let (reply, rx) = oneshot::channel();
    spawn_started(async move {
        let outcome = sandbox.execute(execution).await;
        let _ = reply.send(finish(outcome, &what));
        drop(entry);
    });
    Ok((reentry, rx))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoadArgs {
    id: String,
    code: String,
    #[serde(default)]
    options: Option<Options>,
}

/// `this.isolates.load(id, code, options)`: checks the module, serves its package
/// imports and keeps it (replacing one loaded under `id` before); returns its exported
/// names.
pub(crate) async fn load(
    ctx: &TurnContext,
    host: &Inner,
    args: LoadArgs,
) -> Result<Value, HostError> {
    let function = "isolates.load(id, code, options)";
    // Control characters are kept out: keys with them are the host's own (extensions).
    if args.id.is_empty() || args.id.chars().count() > 200 || args.id.chars().any(char::is_control)
    {
        return Err(invalid(
            function,
            "the id is 1 to 200 characters, none of them control characters",
        ));
    }
    let options = args.options.unwrap_or_default();
    options.check(ctx, host, function)?;
    let ready = with_imports(host, args.code, None)
        .await
        .map_err(|e| invalid(function, e))?;
    let module = sandbox::normalize::module(&ready.code, &[]).map_err(|e| {
        invalid(
            function,
            format!(
                "the module does not parse: line {}, column {}: {}",
                e.line, e.column, e.message
            ),
        )
    })?;
    let functions: Vec<String> = module
        .exports
        .iter()
        .map(|(exported, local)| format!("{}: {local}", json!(exported)))
        .collect();
    let exports: Vec<String> = module.exports.iter().map(|(e, _)| e.clone()).collect();
    if exports.is_empty() {
        return Err(invalid(
            function,
            "the module exports nothing: export the functions to call, e.g. `export function summarise(text) { … }`",
        ));
    }
    let code = format!(
        "{}\n;const __exports = {{ {} }};\nreturn (input) => {{ const f = __exports[input.fn]; \
         if (typeof f !== 'function') throw new TypeError(`${{input.fn}} is not a function the module exports`); \
         return f(...input.args); }};",
        module.script,
        functions.join(", ")
    );
    let made = Made {
        code,
        prelude: ready.prelude,
        exports: exports.clone(),
        options,
    };
    let loaded = Loaded::new(host.sandbox().session(), made);
    lock(&host.loaded).insert((ctx.address.clone(), args.id), Arc::new(loaded));
    Ok(json!(exports))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallArgs {
    id: String,
    #[serde(rename = "fn")]
    function: String,
    #[serde(default)]
    args: Vec<Value>,
}

/// A call of a loaded module's export, in its kept isolate.
pub(crate) fn call(
    ctx: &Arc<TurnContext>,
    host: &Arc<Inner>,
    args: CallArgs,
) -> Result<Started, HostError> {
    let key = (ctx.address.clone(), args.id.clone());
    let Some(loaded) = lock(&host.loaded).get(&key).cloned() else {
        return Err(HostError::new(
            "NOT_FOUND",
            format!(
                "no isolate is loaded as {:?}: load it with this.isolates.load(id, code) (loaded \
                 isolates are dropped when the agent hibernates; load them in onStart)",
                args.id
            ),
        ));
    };
    if !loaded.exports.contains(&args.function) {
        return Err(invalid(
            &format!("isolates.get({:?})", args.id),
            format!(
                "`{}` is not exported; the module exports: {}",
                args.function,
                loaded.exports.join(", ")
            ),
        ));
    }
    let what = format!("isolates.get({:?}).{}", args.id, args.function);
    Ok(run_loaded(
        ctx,
        host,
        loaded,
        args.function,
        args.args,
        what,
    ))
}
/// A kept module's isolate (an extension version's, see `extensions.rs`): the one loaded
/// under `key` for the turn's agent, made by `make` when there is none yet.
pub(crate) async fn kept<F>(
    ctx: &TurnContext,
    host: &Inner,
    key: String,
    make: impl FnOnce() -> F,
) -> Result<Arc<Loaded>, HostError>
where
    F: Future<Output = Result<Made, HostError>>,
{
    let key = (ctx.address.clone(), key);
    if let Some(loaded) = lock(&host.loaded).get(&key) {
        return Ok(Arc::clone(loaded));
    }
    let made = make().await?;
    let loaded = Arc::new(Loaded::new(host.sandbox().session(), made));
    // Two first calls may have made it at once: the first one kept is used by both.
    Ok(Arc::clone(lock(&host.loaded).entry(key).or_insert(loaded)))
}

/// Calls `function` of a kept module with `args`, in its isolate.
pub(crate) fn run_loaded(
    ctx: &Arc<TurnContext>,
    host: &Arc<Inner>,
    loaded: Arc<Loaded>,
    function: String,
    args: Vec<Value>,
    what: String,
) -> Started {
    let (entry, reentry) = mpsc::unbounded_channel();
    let execution = Execution::new(&*loaded.code)
        .prelude(Arc::clone(&loaded.prelude))
        .bindings(loaded.bindings(ctx, host, &entry))
        .limits(loaded.options.limits(host.config.limits));
    let input = json!({ "fn": function, "args": args });
    let (reply, rx) = oneshot::channel();
    spawn_started(async move {
        let outcome = loaded.session.run(execution, input).await;
        let _ = reply.send(finish(outcome, &what));
        drop(entry);
    });
    (reentry, rx)
}

/// Spawns a run after polling it once here: its first poll hands the job to an executor
/// thread, which then starts at once instead of after a runtime worker has woken up to
/// take the task (a thread hop on the call's critical path; called from a host function,
/// this is usually the calling isolate's thread, where the sandbox polls host calls
/// inline first).
fn spawn_started(run: impl Future<Output = ()> + Send + 'static) {
    let mut run = Box::pin(run);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if run.as_mut().poll(&mut cx).is_pending() {
        // Polled again by the runtime with its own waker (futures re-register on each poll).
        tokio::spawn(run);
    }
}

/// `this.isolates.get(id)`: the exports of a loaded module, or `null`.
pub(crate) fn exports(ctx: &TurnContext, host: &Inner, id: &str) -> Value {
    lock(&host.loaded)
        .get(&(ctx.address.clone(), id.to_owned()))
        .map_or(Value::Null, |l| json!(l.exports))
}

/// Drops the loaded isolates of an agent that stops being active.
pub(crate) fn drop_agent(host: &Inner, address: &Address) {
    lock(&host.loaded).retain(|(agent, _), _| agent != address);
}
