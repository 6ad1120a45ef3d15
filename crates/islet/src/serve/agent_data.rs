//! What every agent shows over HTTP besides its calls: its workspace, its schedules and its
//! activity, at `/agents/<class>/<name>/…` for a top-level agent; the `*_at` functions
//! answer for any address, so `sub_agents.rs` serves a sub-agent's alike.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use store::Kind;

use super::api::{ApiError, json_response};
use super::app::{App, read_body};

type Result<T, E = ApiError> = std::result::Result<T, E>;

pub(super) fn routes(router: Router<App>) -> Router<App> {
    router
        .route("/agents/{class}/{name}/schedules", get(list_schedules))
        .route(
            "/agents/{class}/{name}/schedules/{id}",
            axum::routing::delete(cancel_schedule),
        )
        .route("/agents/{class}/{name}/workspace", get(workspace_root))
        .route(
            "/agents/{class}/{name}/workspace/{*path}",
            get(workspace_get)
                .put(workspace_put)
                .delete(workspace_delete),
        )
}

/// How many direct sub-agents the agent has and when its database last changed, as this
/// node's files say (the agent list and the sub-agent tree show both). The count is one
/// range read of the catalog: cheap at a page's size.
pub(super) fn activity(app: &App, address: &agents::Address) -> (usize, Option<u64>) {
    (
        app.host.sub_agents(address, None).map_or(0, |c| c.len()),
        last_write_ms(app, address),
    )
}

/// When the agent's database last changed (ms since the Unix epoch): the later
/// modification time of its file and its WAL. What the agent did last that lasted; a
/// read-only call leaves it alone. `None` before the agent's first write.
fn last_write_ms(app: &App, address: &agents::Address) -> Option<u64> {
    let path = app
        .host
        .data()
        .agent_path(&address.class, &address.name)
        .ok()?;
    let mut wal = path.clone().into_os_string();
    wal.push("-wal");
    [path.into_os_string(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64)
}

async fn list_schedules(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    schedules_at(&app, &address).await
}

/// `GET …/schedules` of any agent, a sub-agent's too.
pub(super) async fn schedules_at(app: &App, address: &agents::Address) -> Result<Response> {
    let schedules: Vec<Value> = app
        .host
        .with_db_at(address, |db| {
            Ok(db.schedules()?.iter().map(agents::schedule_view).collect())
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "schedules": schedules }),
    ))
}

async fn cancel_schedule(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    cancel_schedule_at(&app, &address, id).await
}

/// `DELETE …/schedules/{id}` of any agent.
pub(super) async fn cancel_schedule_at(
    app: &App,
    address: &agents::Address,
    id: String,
) -> Result<Response> {
    let id_for_error = id.clone();
    let cancelled = app
        .host
        .with_db_at(address, move |db| Ok(db.cancel_schedule(&id)?))
        .await?;
    if !cancelled {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("no schedule `{id_for_error}`; list them with GET …/schedules"),
        ));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn workspace_root(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    workspace_read(&app, &address, "/".to_owned()).await
}

async fn workspace_get(
    State(app): State<App>,
    Path((class, name, path)): Path<(String, String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    workspace_read(&app, &address, path).await
}

/// What a workspace path holds, read in one visit to the agent.
enum WorkspaceRead {
    Missing,
    Dir(Vec<store::Entry>),
    File(Vec<u8>),
}

/// `GET …/workspace/{path}` of any agent: a file's bytes or a directory's entries.
pub(super) async fn workspace_read(
    app: &App,
    address: &agents::Address,
    path: String,
) -> Result<Response> {
    let shown = path.clone();
    let read = app
        .host
        .with_db_at(address, move |db| {
            let mut ws = db.workspace();
            Ok(match ws.stat(&path)?.map(|stat| stat.kind) {
                None => WorkspaceRead::Missing,
                Some(Kind::Dir) => WorkspaceRead::Dir(ws.list(&path)?),
                Some(Kind::File) => WorkspaceRead::File(ws.read(&path)?),
            })
        })
        .await?;
    match read {
        WorkspaceRead::Missing => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!(
                "{shown} does not exist in the workspace; list a directory with GET …/workspace/<dir>"
            ),
        )),
        WorkspaceRead::Dir(entries) => Ok(json_response(
            StatusCode::OK,
            &json!({ "entries": entries }),
        )),
        WorkspaceRead::File(bytes) => {
            let content_type = if std::str::from_utf8(&bytes).is_ok() {
                "text/plain; charset=utf-8"
            } else {
                "application/octet-stream"
            };
            Ok(([(header::CONTENT_TYPE, content_type)], bytes).into_response())
        }
    }
}

async fn workspace_put(
    State(app): State<App>,
    Path((class, name, path)): Path<(String, String, String)>,
    body: Body,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    workspace_write(&app, &address, path, body).await
}

/// `PUT …/workspace/{path}` of any agent. Writing a file creates a top-level agent, like
/// a call would (files often come first); a sub-agent exists once its parent made it.
pub(super) async fn workspace_write(
    app: &App,
    address: &agents::Address,
    path: String,
    body: Body,
) -> Result<Response> {
    let body = read_body(app, body).await?;
    let stat = app
        .host
        .with_new_or_existing_db_at(address, move |db| Ok(db.workspace().write(&path, &body)?))
        .await?;
    Ok(json_response(StatusCode::OK, &json!(stat)))
}

#[derive(Deserialize)]
pub(super) struct RemoveQuery {
    #[serde(default)]
    recursive: bool,
}

async fn workspace_delete(
    State(app): State<App>,
    Path((class, name, path)): Path<(String, String, String)>,
    Query(q): Query<RemoveQuery>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    workspace_remove(&app, &address, path, q).await
}

/// `DELETE …/workspace/{path}[?recursive=true]` of any agent.
pub(super) async fn workspace_remove(
    app: &App,
    address: &agents::Address,
    path: String,
    q: RemoveQuery,
) -> Result<Response> {
    let removed = app
        .host
        .with_db_at(address, move |db| {
            Ok(db.workspace().rm(&path, q.recursive)?)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "removed": removed }),
    ))
}
