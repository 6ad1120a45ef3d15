//! Self-authored extensions (issue 16 item 5, first part): modules an agent installs at
//! runtime, `export const tools = { name: { description, inputSchema, execute(args, host) } }`,
//! with a manifest of permissions the host enforces:
//!
//! - `network: ["api.example.com", …]`: the extension's `fetch` may reach exactly these
//!   hosts, enforced host-side per host by the embedder's fetcher
//!   ([`crate::HostConfig::extension_fetch`]: islet serve builds an egress `Fetcher` whose
//!   allowlist is the list); no hosts, no `fetch` at all;
//! - `workspace: "none" | "read" | "read-write"`: `host.workspace` with the reading
//!   operations only, or all of them;
//! - `memory: "none" | "read" | "write"`: `host.memory` with `recall`/`list`/`get` only, or
//!   all of the agent's `memory.*`.
//!
//! An install is checked first (the module parses, with positions; it exports `tools`, each
//! with a description, a JSON-Schema object input and an `execute` function; the
//! permissions are well formed and the server can honour them), then stored in the agent's
//! database as a new version (`store::Extensions`: every version kept, one active, enabled
//! or not), so it survives restarts and can be rolled back. Each tool call runs the active
//! version in that version's kept isolate (`isolates.rs`: module evaluated and bindings
//! built once per activation) under the agent's limits.

// Host functions answer with `HostError` by the bindings' contract.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use base::sync::lock;
use sandbox::{Execution, HostError, Limits};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::address::Address;
use crate::error::{Error, host_error};
use crate::isolates::{self, Made, Options, Started};
use crate::mailbox::Inner;
use crate::permissions::{Permissions, invalid};
use crate::turn::TurnContext;

/// What an install gives besides the source.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct InstallArgs {
    name: String,
    source: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    permissions: Permissions,
}

const MEMORY_READS: &[&str] = &["recall", "list", "get"];

fn check_name(name: &str) -> Result<(), HostError> {
    let mut chars = name.chars();
    let ok = name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "extension name {name:?}: 1 to 32 lower-case letters, digits or `_`, starting with a \
             letter (its tools are named <name>_<tool>)"
        )))
    }
}

/// The bindings a call of an extension with `permissions` gets, as dynamic-isolate options.
fn options(permissions: &Permissions, host: &Inner) -> Result<Options, HostError> {
    let fetch = match (&host.config.extension_fetch, permissions.network.is_empty()) {
        (_, true) => None,
        (Some(make), false) => Some(make(&permissions.network).map_err(|e| {
            HostError::new(
                "FETCH_DENIED",
                format!("the extension's network permission cannot be set up: {e}"),
            )
        })?),
        (None, false) => return Err(invalid("this server gives extensions no network")),
    };
    let workspace = (permissions.workspace != "none").then(|| permissions.workspace.clone());
    let memory = match permissions.memory.as_str() {
        "write" => Some(None),
        "read" => Some(Some(MEMORY_READS)),
        _ => None,
    };
    Ok(Options::for_extension(workspace, memory, fetch))
}

/// `this.extensions.install({name, source, description?, permissions?})`: checks the
/// module (in an isolate of its own, without bindings) and stores it as a new version.
pub(crate) async fn install(
    ctx: Arc<TurnContext>,
    host: Arc<Inner>,
    args: InstallArgs,
) -> Result<Value, HostError> {
    let manifest = checked_manifest(&host, &args).await?;
    let beyond = args
        .permissions
        .beyond(host.config.extension_policy.as_ref());
    let version = lock(&ctx.db)
        .extensions()
        .install(&args.name, &args.source, &manifest, beyond.is_none())
        .map_err(|e| host_error(&e.into()))?;
    Ok(installed(&args.name, version, &manifest, beyond))
}

/// What an install answers: the version, its tools, and when it waits for approval, why.
fn installed(name: &str, version: i64, manifest: &Value, beyond: Option<String>) -> Value {
    let mut out = json!({ "name": name, "version": version, "tools": manifest["tools"] });
    if let Some(packages) = manifest.get("packages") {
        out["packages"] = packages.clone();
    }
    if let Some(beyond) = beyond {
        out["pending"] = json!(true);
        out["beyondPolicy"] = json!(format!(
            "{beyond}; this version waits for a person's approval (POST \
             /agents/<class>/<name>/extensions/{name}/approve {{\"version\": {version}}}) and is \
             not used until then"
        ));
    }
    out
}

/// [`install`] from outside the agent's turns (HTTP): the check, then the store between
/// turns, creating the agent if needed.
pub(crate) async fn install_between_turns(
    host: &Arc<Inner>,
    address: Address,
    args: Value,
) -> Result<Value, Error> {
    let args: InstallArgs = serde_json::from_value(args).map_err(|e| {
        Error::InvalidInput(format!(
            "the body is {{\"name\", \"source\", \"description\"?, \"permissions\"?: {{\"network\", \"workspace\", \"memory\"}}}}: {e}"
        ))
    })?;
    let manifest = checked_manifest(host, &args)
        .await
        .map_err(|e| Error::InvalidInput(e.message))?;
    let beyond = args
        .permissions
        .beyond(host.config.extension_policy.as_ref());
    let approved = beyond.is_none();
    let (name, stored) = (args.name.clone(), manifest.clone());
    let version = Inner::new_or_existing_db_at(host, address, move |db| {
        Ok(db
            .extensions()
            .install(&args.name, &args.source, &stored, approved)?)
    })
    .await?;
    Ok(installed(&name, version, &manifest, beyond))
}

/// Checks an install and makes its manifest (the tools as the module describes them).
async fn checked_manifest(host: &Inner, args: &InstallArgs) -> Result<Value, HostError> {
    check_name(&args.name)?;
    args.permissions
        .check(host.config.extension_fetch.is_some())?;
    // Its packages are resolved and bundled now, so no later call waits on the registry:
    // the versions chosen go into the manifest, and calls ask for exactly those.
    let ready = isolates::with_imports(host, args.source.clone(), None)
        .await
        .map_err(|e| invalid(format!("extension {:?}: {e}", args.name)))?;
    let module = sandbox::normalize::module(&ready.code, &[]).map_err(|e| {
        invalid(format!(
            "extension {:?} does not parse: line {}, column {}: {}",
            args.name, e.line, e.column, e.message
        ))
    })?;
    let Some(tools_local) = module.local("tools").map(str::to_owned) else {
        return Err(invalid(format!(
            "extension {:?} exports no `tools`: export const tools = {{ search: {{ description, \
             inputSchema, async execute(args, host) {{ … }} }} }}",
            args.name
        )));
    };
    let describe = format!(
        "{}\n;const __tools = {tools_local};\n\
         if (!__tools || typeof __tools !== 'object') throw new TypeError('`tools` is an object of tools: {{ name: {{ description, inputSchema, execute }} }}');\n\
         return Object.entries(__tools).map(([name, t]) => {{\n\
           if (!/^[A-Za-z0-9_]{{1,64}}$/.test(name)) throw new TypeError(`tool name ${{JSON.stringify(name)}}: 1 to 64 letters, digits or _`);\n\
           if (!t || typeof t.execute !== 'function') throw new TypeError(`tool ${{name}} has no execute(args, host) function`);\n\
           if (typeof t.description !== 'string' || !t.description) throw new TypeError(`tool ${{name}} has no description (a string the model reads)`);\n\
           const schema = t.inputSchema === undefined ? {{ type: 'object', properties: {{}} }} : t.inputSchema;\n\
           if (!schema || typeof schema !== 'object' || Array.isArray(schema) || (schema.type !== undefined && schema.type !== 'object')) throw new TypeError(`tool ${{name}}: inputSchema is a JSON Schema of an object`);\n\
           return {{ name, description: t.description, inputSchema: JSON.parse(JSON.stringify(schema)) }};\n\
         }});",
        module.script
    );
    let limits = Limits {
        cpu_ms: host.config.limits.cpu_ms.min(1_000),
        wall_ms: host.config.limits.wall_ms.min(5_000),
        host_calls: 0,
        ..host.config.limits
    };
    let mut execution = Execution::new(describe).limits(limits);
    if let Some(packages) = &ready.packages {
        execution = execution.prelude(Arc::clone(&packages.prelude));
    }
    let outcome = host.sandbox().execute(execution).await;
    if let Some(e) = outcome.error {
        let at = match (e.line, e.column) {
            (Some(line), Some(column)) => format!(" (line {line}, column {column})"),
            _ => String::new(),
        };
        return Err(invalid(format!(
            "extension {:?} cannot be loaded: {}: {}{at}",
            args.name, e.name, e.message
        )));
    }
    let tools = outcome.result.unwrap_or(Value::Null);
    if tools.as_array().is_none_or(Vec::is_empty) {
        return Err(invalid(format!("extension {:?} has no tools", args.name)));
    }
    let mut manifest = json!({
        "description": args.description,
        "permissions": args.permissions,
        "tools": tools,
    });
    if let Some(packages) = ready.packages {
        // What a person approving the version sees, and what its calls are pinned to.
        manifest["packages"] = json!(packages.packages);
        manifest["imports"] = json!(packages.versions);
    }
    Ok(manifest)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallArgs {
    name: String,
    tool: String,
    #[serde(default)]
    input: Value,
}

/// `this.extensions.call(name, tool, input)`: the active, enabled version's tool in its
/// kept isolate with the bindings its permissions grant.
pub(crate) async fn call(
    ctx: &Arc<TurnContext>,
    host: &Arc<Inner>,
    args: CallArgs,
) -> Result<Started, HostError> {
    // Per call, only the head (version, enabled); the source and manifest are read when
    // the version's isolate is made.
    let head = lock(&ctx.db)
        .extensions()
        .head(&args.name)
        .map_err(|e| host_error(&e.into()))?;
    let Some((version, enabled)) = head else {
        return Err(HostError::new(
            "NOT_FOUND",
            format!(
                "no extension {:?} is installed; this.extensions.list() shows those that are",
                args.name
            ),
        ));
    };
    if !enabled {
        return Err(HostError::new(
            "DISABLED",
            format!(
                "extension {:?} is disabled; enable it (this.extensions.enable) to use its tools",
                args.name
            ),
        ));
    }
    // One kept isolate per extension version while the agent is active: the module is
    // parsed and evaluated once, then each call runs its tool (a new version, or the
    // agent's next activation, starts another).
    let key = format!("\u{1}extension\u{1}{}\u{1}{version}", args.name);
    let loaded = isolates::kept(ctx, host, key, || async {
        let active = lock(&ctx.db)
            .extensions()
            .active(&args.name)
            .map_err(|e| host_error(&e.into()))?
            .ok_or_else(|| {
                HostError::new(
                    "NOT_FOUND",
                    format!("extension {:?} was deleted meanwhile", args.name),
                )
            })?;
        let tools: Vec<String> = active.manifest["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let permissions: Permissions =
            serde_json::from_value(active.manifest["permissions"].clone()).unwrap_or_default();
        let options = options(&permissions, host)?;
        // The versions the install chose (an extension installed before it imported
        // packages has none, and imports nothing).
        let pinned: Option<std::collections::BTreeMap<String, String>> =
            serde_json::from_value(active.manifest["imports"].clone()).ok();
        let ready = isolates::with_imports(host, active.source, pinned.as_ref())
            .await
            .map_err(|e| invalid(format!("extension {:?}: {e}", args.name)))?;
        let module = sandbox::normalize::module(&ready.code, &[]).map_err(|e| {
            invalid(format!(
                "stored extension {:?} no longer parses: line {}: {}",
                args.name, e.line, e.message
            ))
        })?;
        let tools_local = module.local("tools").unwrap_or("tools").to_owned();
        let code = format!(
            "{}\n;const __host = Object.freeze({{ workspace: globalThis.workspace, memory: globalThis.memory, fetch: globalThis.fetch }});\n\
             return (input) => {tools_local}[input.fn].execute(input.args[0], __host);",
            module.script
        );
        Ok(Made {
            code,
            prelude: ready.prelude,
            exports: tools,
            options,
        })
    })
    .await?;
    if !loaded.exports.contains(&args.tool) {
        return Err(HostError::new(
            "UNKNOWN_TOOL",
            format!(
                "extension {:?} (version {version}) has no tool {:?}; its tools: {}",
                args.name,
                args.tool,
                loaded.exports.join(", ")
            ),
        ));
    }
    let what = format!(
        "extension {} (version {version}): tool {}",
        args.name, args.tool
    );
    Ok(isolates::run_loaded(
        ctx,
        host,
        loaded,
        args.tool,
        vec![args.input],
        what,
    ))
}
