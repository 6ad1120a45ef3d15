//! An agent's extensions over HTTP (issue 16): list, install (checked as
//! `this.extensions.install` checks it), enable, disable, roll back, delete. Calls of
//! their tools are the agent's business (`this.extensions.call`).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{ApiError, json_response};
use super::app::{App, read_body};

type Result<T, E = ApiError> = std::result::Result<T, E>;

pub(super) fn routes(router: Router<App>) -> Router<App> {
    const E: &str = "/agents/{class}/{name}/extensions";
    router
        .route(E, get(list).post(install))
        .route(&format!("{E}/{{extension}}"), get(versions).delete(remove))
        .route(&format!("{E}/{{extension}}/{{action}}"), post(act))
}

/// `GET …/extensions`: `{extensions: [{name, version, enabled, versions, manifest}]}`.
async fn list(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    list_at(&app, &address).await
}

/// [`list`] of any agent, a sub-agent's too.
pub(super) async fn list_at(app: &App, address: &agents::Address) -> Result<Response> {
    let list = app
        .host
        .with_db_at(address, |db| Ok(db.extensions().list()?))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "extensions": list }),
    ))
}

/// `POST …/extensions` with `{name, source, description?, permissions?}`: a new version.
async fn install(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    body: Body,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    install_at(&app, &address, body).await
}

/// [`install`] for any agent.
pub(super) async fn install_at(
    app: &App,
    address: &agents::Address,
    body: Body,
) -> Result<Response> {
    let body = read_body(app, body).await?;
    let spec: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is JSON {{\"name\", \"source\", \"description\"?, \"permissions\"?}}: {e}"
        ))
    })?;
    let installed = app.host.install_extension(address, spec).await?;
    Ok(json_response(StatusCode::CREATED, &installed))
}

/// `GET …/extensions/{extension}`: `{name, versions: [{version, approved, manifest,
/// createdAt}]}`, oldest first: the manifest of a version waiting for approval is what
/// the person approving it reads.
async fn versions(
    State(app): State<App>,
    Path((class, name, extension)): Path<(String, String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    versions_at(&app, &address, extension).await
}

/// [`versions`] of any agent's extension.
pub(super) async fn versions_at(
    app: &App,
    address: &agents::Address,
    extension: String,
) -> Result<Response> {
    let shown = extension.clone();
    let versions = app
        .host
        .with_db_at(address, move |db| {
            Ok(db.extensions().versions(&extension)?)
        })
        .await?;
    if versions.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("the agent has no extension `{shown}`; list them with GET …/extensions"),
        ));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "name": shown, "versions": versions }),
    ))
}

/// `DELETE …/extensions/{extension}`: every version.
async fn remove(
    State(app): State<App>,
    Path((class, name, extension)): Path<(String, String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    remove_at(&app, &address, extension).await
}

/// [`remove`] for any agent's extension.
pub(super) async fn remove_at(
    app: &App,
    address: &agents::Address,
    extension: String,
) -> Result<Response> {
    let deleted = app
        .host
        .with_db_at(address, move |db| Ok(db.extensions().delete(&extension)?))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deleted": deleted }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    version: i64,
}

/// `POST …/extensions/{extension}/enable|disable|rollback|approve` (rollback's and
/// approve's body: `{version}`). Approving makes a version that asked for more than the
/// operator's policy the active one: a person's decision, which agent code cannot make.
async fn act(
    State(app): State<App>,
    Path((class, name, extension, action)): Path<(String, String, String, String)>,
    body: Body,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    act_at(&app, &address, extension, action, body).await
}

/// [`act`] for any agent's extension.
pub(super) async fn act_at(
    app: &App,
    address: &agents::Address,
    extension: String,
    action: String,
    body: Body,
) -> Result<Response> {
    let done = match action.as_str() {
        "enable" | "disable" => {
            let on = action == "enable";
            let found = app
                .host
                .with_db_at(address, move |db| {
                    Ok(db.extensions().set_enabled(&extension, on)?)
                })
                .await?;
            json!({ "found": found })
        }
        "rollback" | "approve" => {
            let body = read_body(app, body).await?;
            let Rollback { version } = serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad_request(format!(
                    "the body is {{\"version\": N}}, a version the extension keeps: {e}"
                ))
            })?;
            let approve = action == "approve";
            app.host
                .with_db_at(address, move |db| {
                    let mut extensions = db.extensions();
                    // Approval is the operator's (this API's token), never the agent's own.
                    if approve {
                        Ok(extensions.approve(&extension, version)?)
                    } else {
                        Ok(extensions.rollback(&extension, version)?)
                    }
                })
                .await?;
            json!({ "version": version })
        }
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                format!("no extension action {other:?}: use enable, disable, rollback or approve"),
            ));
        }
    };
    Ok(json_response(StatusCode::OK, &done))
}
