//! Sub-agents over HTTP (issue 16): `/agents/<P>/<p>/sub/<C>/<c>[/sub/<D>/<d>…]` reaches a
//! child through its parents, and `DELETE /agents/<class>/<name>` deletes an agent with
//! every sub-agent under it. Children are created by their parents only
//! (`this.subAgent(Class, name)`): a path through a child that does not exist is a 404.

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{any, delete, get};
use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{ApiError, json_response};
use super::app::{App, call_args, read_body};
use super::{agent_data, extensions, tables};

type Result<T, E = ApiError> = std::result::Result<T, E>;

pub(super) fn routes(router: Router<App>) -> Router<App> {
    router
        .route("/agents/{class}/{name}", delete(delete_agent))
        // A static segment wins over `{method}`: `POST …/sub` is not a call of a method `sub`.
        .route("/agents/{class}/{name}/sub", get(list_top))
        .route("/agents/{class}/{name}/sub/{*rest}", any(sub_agent))
}

#[derive(Deserialize)]
struct ClassQuery {
    class: Option<String>,
}

const SHAPE: &str = "a sub-agent path is /agents/<class>/<name>/sub/<Class>/<name> (again \
    /sub/<Class>/<name> for each level below), then nothing (DELETE), /state (GET), /sub \
    (GET: its sub-agents), /<method> (POST), or what a top-level agent has under \
    /workspace, /schedules, /db and /extensions";

/// `DELETE /agents/{class}/{name}`: the agent and everything under it.
async fn delete_agent(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    let deleted = app.host.delete(&address).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "deleted": deleted }),
    ))
}

/// `GET /agents/{class}/{name}/sub[?class=C]`: the agent's direct sub-agents.
async fn list_top(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    Query(q): Query<ClassQuery>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    list(&app, &address, q.class.as_deref())
}

/// Each child as `listSubAgents()` shows it, plus (for the console's tree) how many
/// sub-agents it has and when its database last changed.
fn list(app: &App, address: &agents::Address, class: Option<&str>) -> Result<Response> {
    let children: Vec<Value> = app
        .host
        .sub_agents(address, class)?
        .into_iter()
        .map(|child| {
            let at = address.child(&child.class_name, &child.name);
            let mut shown = json!(child);
            let (sub_agents, last_write) = agent_data::activity(app, &at);
            shown["subAgents"] = json!(sub_agents);
            shown["lastActiveAt"] = json!(last_write);
            Ok(shown)
        })
        .collect::<Result<_>>()?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "subAgents": children }),
    ))
}

/// Everything under `/agents/{class}/{name}/sub/…`.
async fn sub_agent(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    Path((class, name, rest)): Path<(String, String, String)>,
    body: Body,
) -> Result<Response> {
    // Each route's own query, read as the top-level route reads it.
    fn query<T: serde::de::DeserializeOwned>(uri: &Uri) -> Result<T> {
        Query::<T>::try_from_uri(uri)
            .map(|Query(q)| q)
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let mut path = vec![(class, name)];
    let mut at = 0;
    loop {
        let [child_class, child_name, ..] = &segments[at..] else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", SHAPE));
        };
        path.push(((*child_class).to_owned(), (*child_name).to_owned()));
        at += 2;
        // `…/sub/<C>/<c>` goes one level deeper; a lone `…/sub` lists.
        if segments.get(at) == Some(&"sub") && segments.len() > at + 1 {
            at += 1;
            continue;
        }
        break;
    }
    let address = app.host.resolve(&path)?;
    match (&method, &segments[at..]) {
        (&Method::DELETE, []) => {
            let deleted = app.host.delete(&address).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "deleted": deleted }),
            ))
        }
        (&Method::GET, ["state"]) => {
            let state = app.host.state_at(&address).await?;
            Ok(json_response(StatusCode::OK, &state))
        }
        (&Method::GET, ["sub"]) => {
            let q: ClassQuery = query(&uri)?;
            list(&app, &address, q.class.as_deref())
        }
        // The per-agent routes a top-level agent has, for the console's sub-agent views.
        (&Method::GET, ["workspace", path @ ..]) => {
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path.join("/")
            };
            agent_data::workspace_read(&app, &address, path).await
        }
        (&Method::PUT, ["workspace", path @ ..]) if !path.is_empty() => {
            agent_data::workspace_write(&app, &address, path.join("/"), body).await
        }
        (&Method::DELETE, ["workspace", path @ ..]) if !path.is_empty() => {
            agent_data::workspace_remove(&app, &address, path.join("/"), query(&uri)?).await
        }
        (&Method::GET, ["schedules"]) => agent_data::schedules_at(&app, &address).await,
        (&Method::DELETE, ["schedules", id]) => {
            agent_data::cancel_schedule_at(&app, &address, (*id).to_owned()).await
        }
        (&Method::GET, ["db", "tables"]) => tables::list_at(&app, &address).await,
        (&Method::GET, ["db", "tables", table]) => {
            tables::rows_at(&app, &address, (*table).to_owned(), query(&uri)?).await
        }
        (&Method::GET, ["db", "fibers"]) => tables::fibers_at(&app, &address, query(&uri)?).await,
        (&Method::GET, ["extensions"]) => extensions::list_at(&app, &address).await,
        (&Method::POST, ["extensions"]) => extensions::install_at(&app, &address, body).await,
        (&Method::GET, ["extensions", extension]) => {
            extensions::versions_at(&app, &address, (*extension).to_owned()).await
        }
        (&Method::DELETE, ["extensions", extension]) => {
            extensions::remove_at(&app, &address, (*extension).to_owned()).await
        }
        (&Method::POST, ["extensions", extension, action]) => {
            let (extension, action) = ((*extension).to_owned(), (*action).to_owned());
            extensions::act_at(&app, &address, extension, action, body).await
        }
        (&Method::POST, [rpc_method]) if !rpc_method.is_empty() => {
            let body = read_body(&app, body).await?;
            let args: Vec<Value> = call_args(&body)?;
            let started = std::time::Instant::now();
            let called = app.host.call_at(&address, rpc_method, args).await;
            // Named as its API path (`Team/t/sub/Member/m1`), as the executions list shows it.
            let agent = path
                .iter()
                .map(|(class, name)| format!("{class}/{name}"))
                .collect::<Vec<_>>()
                .join("/sub/");
            app.executions
                .answer_call(agent, rpc_method, started, called)
        }
        (_, [] | ["state" | "sub"]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed here; {SHAPE}"),
        )),
        (_, [_]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed here: a method is called with POST; {SHAPE}"),
        )),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", SHAPE)),
    }
}
