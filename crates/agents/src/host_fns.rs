//! What host functions over an agent's database share, below the turn and the host that
//! bind them: reading their input (`parse`), their errors (`bad_input`, `store_error`),
//! the workspace operations (`workspace_op`, for an agent's turns and for the dynamic
//! isolates it gives its workspace to) and the `fetch` that refuses.

// Host functions answer with `HostError` by the bindings' contract.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use sandbox::HostError;
use serde::Deserialize;
use serde_json::{Value, json};
use store::{AgentDb, GrepOptions};

use crate::error::{Error, host_error};

/// A storage error as the calling code's exception.
pub(crate) fn store_error(e: store::Error) -> HostError {
    host_error(&Error::Store(e))
}

/// Input that `function` cannot take, and why.
pub(crate) fn bad_input(function: &str, e: impl std::fmt::Display) -> HostError {
    HostError::new("INVALID_INPUT", format!("{function}: {e}"))
}

/// The input of `function`, or why it is not what `function` takes.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
    function: &str,
    args: Value,
) -> Result<T, HostError> {
    serde_json::from_value(args).map_err(|e| bad_input(function, e))
}

/// One workspace operation (`op`) and its operands, as `this.workspace.*` sends it.
#[derive(Deserialize)]
pub(crate) struct WsArgs {
    pub(crate) op: String,
    #[serde(default)]
    path: String,
    to: Option<String>,
    content: Option<String>,
    #[serde(default)]
    recursive: bool,
    pattern: Option<String>,
    #[serde(default)]
    options: Option<Value>,
}

/// The `fetch` of agents (and their dynamic isolates) on a server that gives them none.
pub(crate) fn fetch_refusal() -> sandbox::HostFn {
    Arc::new(|_| {
        Box::pin(async {
            Err(HostError::new(
                "FETCH_DENIED",
                "fetch is not available to agents on this server: agents reach the network only \
                 through the host's bindings",
            ))
        })
    })
}

/// Runs one workspace operation on the agent's database.
pub(crate) fn workspace_op(db: &mut AgentDb, a: WsArgs) -> Result<Value, HostError> {
    let need = |v: Option<String>, what: &str| {
        v.ok_or_else(|| bad_input(&format!("workspace.{}", a.op), format!("missing `{what}`")))
    };
    let op = a.op.clone();
    let mut ws = db.workspace();
    let e = store_error;
    Ok(match op.as_str() {
        "read" => json!(ws.read_text(&a.path).map_err(e)?),
        "write" => json!(
            ws.write(&a.path, need(a.content, "content")?.as_bytes())
                .map_err(e)?
        ),
        "append" => json!(
            ws.append(&a.path, need(a.content, "content")?.as_bytes())
                .map_err(e)?
        ),
        "mkdir" => {
            ws.mkdir(&a.path, a.recursive).map_err(e)?;
            Value::Null
        }
        "list" => json!(ws.list(&a.path).map_err(e)?),
        "stat" => json!(ws.stat(&a.path).map_err(e)?),
        "exists" => json!(ws.exists(&a.path).map_err(e)?),
        "mv" => {
            ws.mv(&a.path, &need(a.to, "to")?).map_err(e)?;
            Value::Null
        }
        "cp" => {
            ws.cp(&a.path, &need(a.to, "to")?, a.recursive).map_err(e)?;
            Value::Null
        }
        "rm" => json!(ws.rm(&a.path, a.recursive).map_err(e)?),
        "glob" => json!(ws.glob(&need(a.pattern, "pattern")?).map_err(e)?),
        "grep" => {
            let options: GrepOptions = match a.options {
                Some(v) if !v.is_null() => parse("workspace.grep", v)?,
                _ => GrepOptions::default(),
            };
            json!(ws.grep(&need(a.pattern, "pattern")?, &options).map_err(e)?)
        }
        "diff" => json!(ws.diff(&a.path, &need(a.to, "to")?).map_err(e)?),
        other => {
            return Err(bad_input(
                "workspace",
                format!("unknown operation `{other}`"),
            ));
        }
    })
}
