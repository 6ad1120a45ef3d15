//! The recent executions the console lists (issue 20): `/mcp` `execute` programs, the
//! `execute` tool calls of Think turns, the turns themselves and agent method calls over
//! HTTP. A bounded ring in memory: it is a window onto what just happened, not a log; a
//! restart empties it, and the oldest record goes when a new one arrives at the bound.

pub(super) mod ring;

use axum::Router;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde_json::json;

pub(crate) use ring::{CAPACITY, Executions, ListQuery, TurnRecorder};

use super::api::{ApiError, json_response};
use super::app::App;

pub(super) fn routes(router: Router<App>) -> Router<App> {
    router.route("/executions", get(list))
}

/// `GET /executions?agent=&outcome=&kind=&limit=`: the newest first. In a cluster, every
/// live node's, each record with its `node` (the ids are per node), and `unreachable`:
/// the nodes that did not answer; a request forwarded by another node gets this node's
/// own only.
async fn list(
    State(app): State<App>,
    Query(q): Query<ListQuery>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > CAPACITY {
        return Err(ApiError::bad_request(format!(
            "`limit` is 1 to {CAPACITY} (the executions kept); got {limit}"
        )));
    }
    let records = app.executions.list(&q, limit);
    let router = app
        .cluster
        .as_ref()
        .filter(|_| !headers.contains_key(&super::cluster::FORWARDED));
    let Some(router) = router else {
        return Ok(json_response(
            StatusCode::OK,
            &json!({ "executions": records, "capacity": CAPACITY }),
        ));
    };
    let (mut all, unreachable) = router
        .executions_elsewhere(
            raw.as_deref().unwrap_or(""),
            headers.get(axum::http::header::AUTHORIZATION),
        )
        .await?;
    all.extend(records.iter().map(|record| {
        let mut record = json!(record);
        record["node"] = json!(router.node_id());
        record
    }));
    all.sort_by_key(|r| std::cmp::Reverse(r["at"].as_u64().unwrap_or(0)));
    all.truncate(limit);
    Ok(json_response(
        StatusCode::OK,
        &json!({ "executions": all, "capacity": CAPACITY, "unreachable": unreachable }),
    ))
}
