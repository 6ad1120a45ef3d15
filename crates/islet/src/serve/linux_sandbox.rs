//! The routes of an agent's Linux sandbox (issue 18; `islet serve --linux-sandbox`, classes
//! with `static sandbox`): commands, files and background processes, each one operation of
//! `agents::AgentHost::sandbox` (the same as `this.sandbox.*` in agent code), with the
//! agent's workspace synced around it.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use futures::StreamExt as _;
use serde_json::{Value, json};

use super::api::{ApiError, json_response};
use super::app::{App, read_body};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The routes, under `/agents/{class}/{name}/sandbox/`.
pub(super) fn routes(router: Router<App>) -> Router<App> {
    const S: &str = "/agents/{class}/{name}/sandbox";
    router
        .route(&format!("{S}/exec"), post(exec))
        .route(&format!("{S}/exec-stream"), post(exec_stream))
        .route(&format!("{S}/run-code"), post(run_code))
        .route(&format!("{S}/git-checkout"), post(git_checkout))
        .route(&format!("{S}/files"), get(list_root))
        .route(
            &format!("{S}/files/{{*path}}"),
            get(read_file).put(write_file),
        )
        .route(
            &format!("{S}/processes"),
            get(list_processes).post(start_process),
        )
        .route(
            &format!("{S}/processes/{{id}}"),
            axum::routing::delete(kill_process),
        )
        .route(&format!("{S}/processes/{{id}}/logs"), get(process_logs))
}

/// A JSON object body (empty: `{}`).
async fn object(app: &App, body: Body, expected: &str) -> Result<Value> {
    let bytes = read_body(app, body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::bad_request(format!(
            "the body is a JSON object: {expected}"
        ))),
        Err(e) => Err(ApiError::bad_request(format!(
            "the body is a JSON object ({expected}); this one is not: {e}"
        ))),
    }
}

async fn call(app: &App, class: &str, name: &str, op: &str, args: Value) -> Result<Value> {
    Ok(app.host.linux_sandbox(class, name, op, args).await?)
}

/// `POST …/sandbox/exec` `{command, cwd?, env?, timeout? (ms), stdin?}` →
/// `{exitCode, signal, stdout, stderr, …}` (a failing command is still a 200).
async fn exec(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let args = object(&app, body, "{command, cwd?, env?, timeout?, stdin?}").await?;
    let result = call(&app, &class, &name, "exec", args).await?;
    Ok(json_response(StatusCode::OK, &result))
}

/// `POST …/sandbox/exec-stream` (the body as for exec): server-sent events, each `data:` one
/// event as `this.sandbox.execStream` yields it (`{type: "stdout"|"stderr", data}`, then
/// `{type: "exit", exitCode, …}`). A client that goes away stops the command.
async fn exec_stream(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let args = object(&app, body, "{command, cwd?, env?, timeout?, stdin?}").await?;
    let started = call(&app, &class, &name, "execStream", args).await?;
    let pull = Pull {
        host: app.host.clone(),
        class,
        name,
        stream_id: started["streamId"].clone(),
        done: false,
    };
    let events = futures::stream::unfold(pull, |mut pull| async move {
        if pull.done {
            return None;
        }
        let next = pull
            .host
            .linux_sandbox(
                &pull.class,
                &pull.name,
                "streamNext",
                json!({ "streamId": pull.stream_id }),
            )
            .await;
        let events: Vec<Value> = match next {
            Ok(next) => {
                pull.done = next["done"] == json!(true);
                next["events"].as_array().cloned().unwrap_or_default()
            }
            Err(e) => {
                pull.done = true;
                vec![json!({"type": "error", "code": e.code(), "message": e.to_string()})]
            }
        };
        let events = events
            .into_iter()
            .map(|e| Ok::<_, std::convert::Infallible>(Event::default().data(e.to_string())));
        Some((futures::stream::iter(events), pull))
    })
    .flatten();
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// Where an `exec-stream` response is; dropped before the command's end (the client went
/// away), it cancels the command.
struct Pull {
    host: agents::AgentHost,
    class: String,
    name: String,
    stream_id: Value,
    done: bool,
}

impl Drop for Pull {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (host, class, name) = (self.host.clone(), self.class.clone(), self.name.clone());
        let args = json!({ "streamId": self.stream_id });
        tokio::spawn(async move {
            let _ = host
                .linux_sandbox(&class, &name, "streamCancel", args)
                .await;
        });
    }
}

/// `POST …/sandbox/run-code` `{language: "python"|"shell", code, timeout?}`.
async fn run_code(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let args = object(&app, body, "{language, code, cwd?, env?, timeout?}").await?;
    let result = call(&app, &class, &name, "runCode", args).await?;
    Ok(json_response(StatusCode::OK, &result))
}

/// `POST …/sandbox/git-checkout` `{repoUrl, branch?, targetDir?}` (needs the class's
/// `static sandbox = { network: [...] }` to allow the repository's host).
async fn git_checkout(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let args = object(&app, body, "{repoUrl, branch?, targetDir?}").await?;
    let result = call(&app, &class, &name, "gitCheckout", args).await?;
    Ok(json_response(StatusCode::OK, &result))
}

/// `GET …/sandbox/files`: `/workspace`'s entries.
async fn list_root(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let entries = call(&app, &class, &name, "listFiles", json!({})).await?;
    Ok(json_response(StatusCode::OK, &entries))
}

/// `GET …/sandbox/files/<path>`: a directory's entries, or a file `{path, content,
/// encoding}` (`utf-8` text, or `base64` for a binary file).
async fn read_file(
    State(app): State<App>,
    Path((class, name, path)): Path<(String, String, String)>,
) -> Result<Response> {
    let path = format!("/workspace/{path}");
    match call(&app, &class, &name, "listFiles", json!({ "path": path })).await {
        Ok(entries) => Ok(json_response(StatusCode::OK, &entries)),
        // Not a directory: a file, then.
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let file = match call(&app, &class, &name, "readFile", json!({ "path": path })).await {
                // A binary file comes as base64 (`encoding` says which).
                Err(e) if e.message.contains("not UTF-8") => {
                    call(
                        &app,
                        &class,
                        &name,
                        "readFile",
                        json!({ "path": path, "encoding": "base64" }),
                    )
                    .await?
                }
                other => other?,
            };
            Ok(json_response(StatusCode::OK, &file))
        }
        Err(e) => Err(e),
    }
}

/// `PUT …/sandbox/files/<path>`: the body (text or any bytes) becomes the file.
async fn write_file(
    State(app): State<App>,
    Path((class, name, path)): Path<(String, String, String)>,
    body: Body,
) -> Result<Response> {
    let bytes = read_body(&app, body).await?;
    let path = format!("/workspace/{path}");
    // Text as it is; any other bytes as base64, which the sandbox decodes.
    let args = match String::from_utf8(bytes.to_vec()) {
        Ok(content) => json!({ "path": path, "content": content }),
        Err(_) => {
            use base64::Engine as _;
            let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
            json!({ "path": path, "content": content, "encoding": "base64" })
        }
    };
    let written = call(&app, &class, &name, "writeFile", args).await?;
    Ok(json_response(StatusCode::OK, &written))
}

async fn list_processes(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let list = call(&app, &class, &name, "listProcesses", Value::Null).await?;
    Ok(json_response(StatusCode::OK, &list))
}

/// `POST …/sandbox/processes` `{command, cwd?, env?}` → 201 and the process.
async fn start_process(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let args = object(&app, body, "{command, cwd?, env?}").await?;
    let process = call(&app, &class, &name, "startProcess", args).await?;
    Ok(json_response(StatusCode::CREATED, &process))
}

async fn kill_process(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let process = call(&app, &class, &name, "killProcess", json!({ "id": id })).await?;
    Ok(json_response(StatusCode::OK, &process))
}

async fn process_logs(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let logs = call(&app, &class, &name, "getProcessLogs", json!({ "id": id })).await?;
    Ok(json_response(StatusCode::OK, &logs))
}
