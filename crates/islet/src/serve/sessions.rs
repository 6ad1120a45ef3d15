//! The routes of a chat agent's session trees (issue 15, item 6): sessions, histories of
//! any leaf, branches, switching branch, forks, rename, delete, search within one session
//! and across all, and compaction. Each is a thin call into the agent's database between
//! its turns (`store::Sessions`); the ones that move a session's leaf, delete it or compact
//! it wait for the agent's running chat turn to end (`think::Harness::between_turns`), so
//! a turn never sees its conversation change under it.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::api::{ApiError, json_response};
use super::app::{App, read_body};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// The routes, under `/agents/{class}/{name}/`.
pub(super) fn routes(router: Router<App>) -> Router<App> {
    const S: &str = "/agents/{class}/{name}/sessions";
    router
        .route(S, get(list_sessions))
        // A static segment wins over `{id}`: no session id is "search" (ids are generated).
        .route(&format!("{S}/search"), get(search_all))
        .route(
            &format!("{S}/{{id}}"),
            get(get_session).patch(rename).delete(delete),
        )
        .route(&format!("{S}/{{id}}/messages"), get(history))
        .route(&format!("{S}/{{id}}/search"), get(search))
        .route(&format!("{S}/{{id}}/leaf"), post(set_leaf))
        .route(&format!("{S}/{{id}}/fork"), post(fork))
        .route(&format!("{S}/{{id}}/compact"), post(compact))
        .route(&format!("{S}/{{id}}/context"), get(context))
        .route(
            "/agents/{class}/{name}/messages/{message}/branches",
            get(branches),
        )
}

/// A query string as `T`, its errors in the API's JSON shape.
fn query<T>(q: std::result::Result<Query<T>, QueryRejection>, expected: &str) -> Result<T> {
    q.map(|Query(q)| q).map_err(|e| {
        ApiError::bad_request(format!(
            "the query string is not {expected}: {}",
            e.body_text()
        ))
    })
}

/// A JSON body as `T` (an empty body is `{}`), its errors saying what was expected.
async fn body<T: DeserializeOwned>(app: &App, body: Body, expected: &str) -> Result<T> {
    let bytes = read_body(app, body).await?;
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is {expected}; this one is not: {e}")))
}

/// `GET …/sessions/{id}/context`: what the model would be sent for the session's next
/// step: model, system prompt, tools and messages with estimated tokens (the console's
/// context viewer; see `think::Harness::context`).
async fn context(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    let context = app.harness.context(&address, &id).await?;
    Ok(json_response(StatusCode::OK, &context))
}

/// `GET …/sessions[?limit=N&cursor=C]`: most recently updated first.
async fn list_sessions(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    q: std::result::Result<Query<store::ListSessions>, QueryRejection>,
) -> Result<Response> {
    let q = query(q, "?limit=N&cursor=C (both optional)")?;
    let page = app
        .host
        .with_db(&class, &name, move |db| Ok(db.sessions().list(&q)?))
        .await?;
    Ok(json_response(StatusCode::OK, &json!(page)))
}

/// `GET …/sessions/{id}`: the session (with its usage), its current history and its
/// compactions.
async fn get_session(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let (session, messages, compactions) = app
        .host
        .with_db(&class, &name, move |db| {
            let mut sessions = db.sessions();
            let session = sessions.get(&id)?;
            let messages = sessions.history(&id, None)?;
            let compactions = sessions.compactions(&id)?;
            Ok((session, messages, compactions))
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "session": session, "messages": messages, "compactions": compactions }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryQuery {
    leaf: Option<String>,
}

/// `GET …/sessions/{id}/messages[?leaf=MSG]`: the conversation from its root to `leaf`
/// (default: the session's current leaf).
async fn history(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
    q: std::result::Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Response> {
    let q = query(q, "?leaf=MESSAGE_ID (optional)")?;
    let session = id.clone();
    let messages = app
        .host
        .with_db(&class, &name, move |db| {
            Ok(db.sessions().history(&id, q.leaf.as_deref())?)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "sessionId": session,
            "leafId": messages.last().map(|m| m.id.clone()),
            "messages": messages,
        }),
    ))
}

/// `GET …/messages/{message}/branches`: the message and its siblings (the alternatives at
/// that point), each with the leaf its branch last reached.
async fn branches(
    State(app): State<App>,
    Path((class, name, message)): Path<(String, String, String)>,
) -> Result<Response> {
    let answer = app
        .host
        .with_db(&class, &name, move |db| {
            let mut sessions = db.sessions();
            let branches = sessions.branches(&message)?;
            let mut leaves = Vec::with_capacity(branches.siblings.len());
            for sibling in &branches.siblings {
                leaves.push(sessions.latest_leaf(&sibling.id)?.id);
            }
            Ok(json!({
                "index": branches.index,
                "siblings": branches.siblings,
                "latestLeafIds": leaves,
            }))
        })
        .await?;
    Ok(json_response(StatusCode::OK, &answer))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LeafBody {
    message_id: String,
    /// Exactly at `message_id`, instead of where its branch last went.
    #[serde(default)]
    exact: bool,
}

/// `POST …/sessions/{id}/leaf {messageId, exact?}`: switches the session to another branch.
/// Its history then ends where that branch's conversation last went (the newest
/// descendant of `messageId`), or at `messageId` itself with `exact: true`; the next chat
/// message goes there.
async fn set_leaf(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
    request: Body,
) -> Result<Response> {
    let leaf: LeafBody = body(&app, request, "{\"messageId\": \"…\", \"exact\"?: bool}").await?;
    let session = app
        .harness
        .between_turns(&class, &name, move |db| {
            let mut sessions = db.sessions();
            let target = if leaf.exact {
                leaf.message_id
            } else {
                sessions.latest_leaf(&leaf.message_id)?.id
            };
            sessions.set_leaf(&id, &target)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "session": session }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ForkBody {
    /// Default: the session's current leaf.
    at_message: Option<String>,
    title: Option<String>,
}

/// `POST …/sessions/{id}/fork {atMessage?, title?}`: a new session whose history is this
/// one's up to `atMessage` (default: its current leaf). 201 with the new session.
async fn fork(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
    request: Body,
) -> Result<Response> {
    let fork: ForkBody = body(&app, request, "{\"atMessage\"?: \"…\", \"title\"?: \"…\"}").await?;
    let session = app
        .host
        .with_db(&class, &name, move |db| {
            let mut sessions = db.sessions();
            let at = match fork.at_message {
                Some(at) => at,
                None => sessions.get(&id)?.leaf_id.ok_or_else(|| {
                    store::Error::InvalidArgument(format!(
                        "session {id:?} has no messages yet: there is nothing to fork"
                    ))
                })?,
            };
            Ok(sessions.fork(&id, &at, fork.title.as_deref())?)
        })
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "session": session }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    title: String,
}

/// `PATCH …/sessions/{id} {title}`.
async fn rename(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
    request: Body,
) -> Result<Response> {
    let rename: RenameBody = body(&app, request, "{\"title\": \"…\"}").await?;
    let session = app
        .host
        .with_db(&class, &name, move |db| {
            Ok(db.sessions().rename(&id, &rename.title)?)
        })
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "session": session }),
    ))
}

/// `DELETE …/sessions/{id}`: the session, its messages and compactions (forks stay). 204.
async fn delete(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    app.harness
        .between_turns(&class, &name, move |db| db.sessions().delete(&id))
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<usize>,
}

const SEARCH_QUERY: &str = "?q=WORDS&limit=N (limit optional)";

fn search_words(q: &SearchQuery) -> Result<()> {
    if q.q.trim().is_empty() {
        return Err(ApiError::bad_request(
            "search needs words: pass them as ?q=WORDS",
        ));
    }
    Ok(())
}

/// `GET …/sessions/search?q=WORDS[&limit=N]`: messages of every session, best first.
async fn search_all(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    q: std::result::Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response> {
    let q = query(q, SEARCH_QUERY)?;
    search_words(&q)?;
    let hits = app
        .host
        .with_db(&class, &name, move |db| {
            Ok(db.sessions().search_all(&q.q, q.limit)?)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "hits": hits })))
}

/// `GET …/sessions/{id}/search?q=WORDS[&limit=N]`: messages of one session, best first.
async fn search(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
    q: std::result::Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Response> {
    let q = query(q, SEARCH_QUERY)?;
    search_words(&q)?;
    let hits = app
        .host
        .with_db(&class, &name, move |db| {
            Ok(db.sessions().search(&id, &q.q, q.limit)?)
        })
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "hits": hits })))
}

/// `POST …/sessions/{id}/compact`: summarises everything before the latest user message
/// with the class's model (the overlay; nothing is deleted), ingesting it into attached
/// memory. Waits for a running turn of the agent.
async fn compact(
    State(app): State<App>,
    Path((class, name, id)): Path<(String, String, String)>,
) -> Result<Response> {
    let compacted = app.harness.compact(&class, &name, &id).await?;
    Ok(json_response(StatusCode::OK, &json!(compacted)))
}
