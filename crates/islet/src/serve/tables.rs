//! What an agent's database holds, read-only, for the console (issue 20): its own SQL
//! tables (those `this.sql` made) and a page of one table's rows, and its fibers. No caller SQL runs: the
//! statement is built by the store from a table name it checked (see
//! `store::AgentDb::table_rows`).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::json;

use super::api::{ApiError, json_response};
use super::app::App;

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Rows of one page at most.
const MAX_PAGE_ROWS: usize = 500;

pub(super) fn routes(router: Router<App>) -> Router<App> {
    // Under `db/`: a route of its own word would shadow an agent method of that name.
    router
        .route("/agents/{class}/{name}/db/tables", get(list))
        .route("/agents/{class}/{name}/db/tables/{table}", get(rows))
        .route("/agents/{class}/{name}/db/fibers", get(fibers))
}

#[derive(Deserialize)]
pub(super) struct Limit {
    limit: Option<usize>,
}

/// `GET …/db/fibers?limit=`: the agent's durable turns (`runFiber`, Think turns), newest
/// first, running or finished (finished ones are pruned after a while).
async fn fibers(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
    Query(q): Query<Limit>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    fibers_at(&app, &address, q).await
}

/// [`fibers`] of any agent, a sub-agent's too.
pub(super) async fn fibers_at(app: &App, address: &agents::Address, q: Limit) -> Result<Response> {
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE_ROWS {
        return Err(ApiError::bad_request(format!(
            "`limit` is 1 to {MAX_PAGE_ROWS} fibers; got {limit}"
        )));
    }
    let fibers = app
        .host
        .with_db_at(address, move |db| Ok(db.fibers().recent(limit)?))
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "fibers": fibers })))
}

/// `GET …/db/tables`: `{tables: [{name, columns, rows}]}`.
async fn list(
    State(app): State<App>,
    Path((class, name)): Path<(String, String)>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    list_at(&app, &address).await
}

/// [`list`] of any agent.
pub(super) async fn list_at(app: &App, address: &agents::Address) -> Result<Response> {
    let tables = app
        .host
        .with_db_at(address, |db| Ok(db.own_tables()?))
        .await?;
    Ok(json_response(StatusCode::OK, &json!({ "tables": tables })))
}

#[derive(Deserialize)]
pub(super) struct Page {
    limit: Option<usize>,
    offset: Option<usize>,
}

/// `GET …/db/tables/{table}?limit=&offset=`: `{table, columns, rows, limit, offset}`.
async fn rows(
    State(app): State<App>,
    Path((class, name, table)): Path<(String, String, String)>,
    Query(page): Query<Page>,
) -> Result<Response> {
    let address = app.host.resolve(&[(class, name)])?;
    rows_at(&app, &address, table, page).await
}

/// [`rows`] of any agent.
pub(super) async fn rows_at(
    app: &App,
    address: &agents::Address,
    table: String,
    page: Page,
) -> Result<Response> {
    let limit = page.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE_ROWS {
        return Err(ApiError::bad_request(format!(
            "`limit` is 1 to {MAX_PAGE_ROWS} rows; got {limit}"
        )));
    }
    let offset = page.offset.unwrap_or(0);
    let shown = table.clone();
    let outcome = app
        .host
        .with_db_at(address, move |db| Ok(db.table_rows(&table, limit, offset)?))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "table": shown,
            "columns": outcome.columns,
            "rows": outcome.rows,
            "limit": limit,
            "offset": offset,
        }),
    ))
}
