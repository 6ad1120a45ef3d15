//! `this.sql`: the agent's own SQL, one statement at a time, fenced off from islet's
//! internal tables and from anything that reaches outside the database or the turn.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, ErrorCode};
use serde::Serialize;
use serde_json::{Map, Value};

use super::AgentDb;
use crate::Result;
use crate::error::{Error, SqlContext};

/// At most this many rows come back from one statement.
pub(super) const MAX_ROWS: usize = 100_000;
/// At most about this many bytes of values come back from one statement.
pub(super) const MAX_RESULT_BYTES: usize = 64 << 20;

/// How long one statement of the agent's SQL may run unless set otherwise.
pub const DEFAULT_SQL_TIME_LIMIT: Duration = Duration::from_secs(5);
/// SQLite VM instructions between deadline checks (each check is a clock read).
const PROGRESS_INTERVAL: i32 = 10_000;

/// Pragmas that only describe the schema, allowed from `this.sql`.
const READ_ONLY_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// What one statement returned.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlOutcome {
    /// The result columns in order (a statement without results has none).
    pub columns: Vec<String>,
    /// One object per row, keyed by column name (a repeated name keeps the last value).
    /// INTEGER and REAL are numbers, TEXT strings, NULL null, BLOB an array of byte values.
    pub rows: Vec<Map<String, Value>>,
    /// Rows inserted, updated or deleted (including by triggers).
    pub rows_written: u64,
    /// The rowid of the most recent successful INSERT on this connection.
    pub last_insert_rowid: i64,
}

/// One of the agent's own tables, as [`AgentDb::own_tables`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSummary {
    /// The table's name, as created.
    pub name: String,
    /// Its columns in order.
    pub columns: Vec<String>,
    /// How many rows it holds now.
    pub rows: u64,
}

/// `name` as an SQL identifier: in double quotes, inner quotes doubled, so any table name
/// (spaces, quotes, keywords) names exactly that table.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Switches the authorizer between internal statements (everything allowed) and the
/// agent's own (fenced). The authorizer is installed once per connection; it runs when a
/// statement is prepared, so only statements prepared while the gate is closed are fenced.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    guest: AtomicBool,
    /// Why the authorizer last refused, turned into the error message (SQLite itself only
    /// says "not authorized").
    refusal: Mutex<Option<String>>,
    /// When the running statement of the agent's SQL is interrupted: a recursive query
    /// can otherwise run forever, holding the agent's thread and its write lock.
    deadline: Mutex<Option<Instant>>,
}

impl Gate {
    pub(crate) fn install(conn: &mut Connection) -> Result<Arc<Gate>> {
        let gate = Arc::new(Gate::default());
        let hook_gate = gate.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if !hook_gate.guest.load(Ordering::Relaxed) {
                return Authorization::Allow;
            }
            match refusal(&ctx) {
                None => Authorization::Allow,
                Some(reason) => {
                    if let Ok(mut slot) = hook_gate.refusal.lock() {
                        slot.get_or_insert(reason);
                    }
                    Authorization::Deny
                }
            }
        }))
        .ctx("installing the SQL authorizer")?;
        let progress_gate = gate.clone();
        conn.progress_handler(
            PROGRESS_INTERVAL,
            Some(move || {
                progress_gate.guest.load(Ordering::Relaxed)
                    && progress_gate
                        .deadline
                        .lock()
                        .ok()
                        .and_then(|deadline| *deadline)
                        .is_some_and(|deadline| Instant::now() >= deadline)
            }),
        )
        .ctx("installing the SQL time limit")?;
        Ok(gate)
    }

    fn enter(&self, time_limit: Duration) -> GuestMode<'_> {
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = None;
        }
        if let Ok(mut deadline) = self.deadline.lock() {
            *deadline = Instant::now().checked_add(time_limit);
        }
        self.guest.store(true, Ordering::Relaxed);
        GuestMode(self)
    }

    fn take_refusal(&self) -> Option<String> {
        self.refusal.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// While alive, statements are prepared as the agent's own.
struct GuestMode<'a>(&'a Gate);

impl Drop for GuestMode<'_> {
    fn drop(&mut self) {
        self.0.guest.store(false, Ordering::Relaxed);
    }
}

fn is_internal(name: &str) -> bool {
    name.get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("_islet_"))
}

fn internal(name: &str) -> Option<String> {
    is_internal(name).then(|| {
        format!(
            "`{name}` is internal to islet: this.sql cannot read or change tables, indexes, \
             triggers or views whose names start with `_islet_`; use this.storage, \
             this.state, this.schedule or this.workspace for that data, and give your own \
             tables another name"
        )
    })
}

/// Why the agent's SQL may not do this, or `None` if it may.
fn refusal(ctx: &AuthContext<'_>) -> Option<String> {
    match ctx.action {
        AuthAction::Read { table_name, .. }
        | AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
        | AuthAction::CreateTable { table_name }
        | AuthAction::CreateTempTable { table_name }
        | AuthAction::DropTable { table_name }
        | AuthAction::DropTempTable { table_name }
        | AuthAction::AlterTable { table_name, .. }
        | AuthAction::Analyze { table_name }
        | AuthAction::CreateVtable { table_name, .. }
        | AuthAction::DropVtable { table_name, .. } => internal(table_name),
        AuthAction::CreateIndex {
            index_name,
            table_name,
        }
        | AuthAction::CreateTempIndex {
            index_name,
            table_name,
        }
        | AuthAction::DropIndex {
            index_name,
            table_name,
        }
        | AuthAction::DropTempIndex {
            index_name,
            table_name,
        }
        | AuthAction::CreateTrigger {
            trigger_name: index_name,
            table_name,
        }
        | AuthAction::CreateTempTrigger {
            trigger_name: index_name,
            table_name,
        }
        | AuthAction::DropTrigger {
            trigger_name: index_name,
            table_name,
        }
        | AuthAction::DropTempTrigger {
            trigger_name: index_name,
            table_name,
        } => internal(table_name).or_else(|| internal(index_name)),
        AuthAction::CreateView { view_name }
        | AuthAction::CreateTempView { view_name }
        | AuthAction::DropView { view_name }
        | AuthAction::DropTempView { view_name } => internal(view_name),
        AuthAction::Reindex { index_name } => internal(index_name),
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let allowed = READ_ONLY_PRAGMAS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pragma_name));
            if !allowed {
                return Some(format!(
                    "PRAGMA {pragma_name} is not allowed in this.sql: only the read-only \
                     schema pragmas {} are; islet manages the database's settings",
                    READ_ONLY_PRAGMAS.join(", ")
                ));
            }
            pragma_value.and_then(|value| internal(value.trim_matches(['\'', '"', '`'])))
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => Some(
            "ATTACH and DETACH are not allowed in this.sql: an agent's SQL sees only its own \
             database"
                .into(),
        ),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => Some(
            "BEGIN, COMMIT, ROLLBACK and SAVEPOINT are not allowed in this.sql: each call \
             of the agent is already one transaction, committed when it returns and rolled \
             back if it throws"
                .into(),
        ),
        AuthAction::Function { function_name }
            if function_name.eq_ignore_ascii_case("load_extension") =>
        {
            Some("load_extension() is not allowed in this.sql".into())
        }
        AuthAction::Unknown { code, .. } => Some(format!(
            "this.sql refused an operation SQLite reported as unknown action {code}"
        )),
        _ => None,
    }
}

/// Refusals the authorizer cannot see (SQLite does not authorize VACUUM, and reports only
/// the old name of an ALTER TABLE … RENAME).
fn refuse_by_text(query: &str) -> Result<()> {
    let first = first_keyword(query);
    if first.eq_ignore_ascii_case("vacuum") {
        return Err(Error::Sql(
            "VACUUM is not allowed in this.sql: islet maintains the database file itself".into(),
        ));
    }
    if first.eq_ignore_ascii_case("alter") && query.to_ascii_lowercase().contains("_islet_") {
        return Err(Error::Sql(
            "ALTER TABLE cannot involve names starting with `_islet_`: that prefix is \
             reserved for islet's internal tables; choose another name"
                .into(),
        ));
    }
    Ok(())
}

/// The statement's first word, after whitespace and comments.
fn first_keyword(query: &str) -> &str {
    let mut rest = query;
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, tail)| tail);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else {
            break;
        }
    }
    let end = rest
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    &rest[..end]
}

fn to_sql(value: &Value) -> SqlValue {
    match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        // Arrays and objects are stored as JSON text, ready for SQLite's JSON functions.
        Value::Array(_) | Value::Object(_) => SqlValue::Text(value.to_string()),
    }
}

/// A column value as JSON, and roughly how many bytes it costs.
fn to_json(value: ValueRef<'_>) -> (Value, usize) {
    match value {
        ValueRef::Null => (Value::Null, 1),
        ValueRef::Integer(i) => (Value::from(i), 8),
        ValueRef::Real(f) => (
            serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
            8,
        ),
        ValueRef::Text(bytes) => (
            Value::String(String::from_utf8_lossy(bytes).into_owned()),
            bytes.len(),
        ),
        ValueRef::Blob(bytes) => (
            Value::Array(bytes.iter().map(|&b| Value::from(b)).collect()),
            bytes.len(),
        ),
    }
}

impl AgentDb {
    /// How long one statement of [`AgentDb::sql`] may run.
    pub fn set_sql_time_limit(&mut self, limit: Duration) {
        self.sql_time_limit = limit;
    }

    /// Runs one statement of the agent's own SQL (`this.sql`) with positional `?`
    /// parameters: null, booleans (as 0/1), numbers and strings bind as themselves; arrays
    /// and objects bind as JSON text.
    ///
    /// Refused with `SQL`: more than one statement, tables/indexes/triggers/views named
    /// `_islet_*`, ATTACH/DETACH, transaction control, pragmas other than the read-only
    /// schema ones, `load_extension`, VACUUM. Results over `MAX_ROWS` (100,000) rows or about
    /// `MAX_RESULT_BYTES` (64 MiB) fail with `TOO_LARGE`.
    ///
    /// A statement running longer than the time limit ([`DEFAULT_SQL_TIME_LIMIT`], see
    /// [`AgentDb::set_sql_time_limit`]) is stopped with `SQL`.
    pub fn sql(&mut self, query: &str, params: &[Value]) -> Result<SqlOutcome> {
        self.check_turn()?;
        refuse_by_text(query)?;
        let outcome = self.run_guest_statement(query, params);
        // An `OR ROLLBACK` conflict clause can end the turn's transaction mid-statement.
        self.check_turn()?;
        outcome
    }

    /// The agent's own tables (those `this.sql` made; never islet's `_islet_*` ones or
    /// SQLite's), by name, with their columns and row counts: what a browser lists.
    pub fn own_tables(&mut self) -> Result<Vec<TableSummary>> {
        let names: Vec<String> = {
            let mut statement = self
                .conn
                .prepare(
                    "SELECT name FROM sqlite_schema WHERE type = 'table' \
                     AND name NOT LIKE '\\_islet\\_%' ESCAPE '\\' \
                     AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                )
                .ctx("listing the agent's tables")?;
            statement
                .query_map([], |row| row.get(0))
                .ctx("listing the agent's tables")?
                .collect::<Result<_, _>>()
                .ctx("listing the agent's tables")?
        };
        let mut tables = Vec::with_capacity(names.len());
        for name in names {
            let quoted = quote_identifier(&name);
            let columns = self
                .conn
                .prepare(&format!("SELECT * FROM {quoted} LIMIT 0"))
                .ctx("reading a table's columns")?
                .column_names()
                .map(str::to_owned)
                .collect();
            let rows: i64 = self
                .conn
                .query_row(&format!("SELECT count(*) FROM {quoted}"), [], |row| {
                    row.get(0)
                })
                .ctx("counting a table's rows")?;
            tables.push(TableSummary {
                name,
                columns,
                rows: rows.max(0) as u64,
            });
        }
        Ok(tables)
    }

    /// Rows `offset..offset + limit` of one of the agent's own tables ([`Self::own_tables`]),
    /// in rowid order where the table has one. Read-only: the statement is built here
    /// (`SELECT *`, the name quoted, never caller SQL), runs fenced as the agent's own
    /// SQL would, and the connection is `query_only` while it runs. `NotFound` for a
    /// name that is not one of the agent's tables.
    pub fn table_rows(&mut self, table: &str, limit: usize, offset: usize) -> Result<SqlOutcome> {
        if !self.own_tables()?.iter().any(|t| t.name == table) {
            return Err(Error::NotFound(format!(
                "the agent has no table `{table}`; its tables are listed by own_tables"
            )));
        }
        let query = format!(
            "SELECT * FROM {} LIMIT {} OFFSET {}",
            quote_identifier(table),
            limit.min(MAX_ROWS),
            offset
        );
        self.conn
            .execute_batch("PRAGMA query_only = ON")
            .ctx("making the connection read-only")?;
        let outcome = self.run_guest_statement(&query, &[]);
        self.conn
            .execute_batch("PRAGMA query_only = OFF")
            .ctx("making the connection writable again")?;
        outcome
    }

    fn run_guest_statement(&mut self, query: &str, params: &[Value]) -> Result<SqlOutcome> {
        let conn = &self.conn;
        // Guest mode lasts until the statement is finished: SQLite may re-prepare it while
        // it runs (after a schema change), and the re-prepare must be fenced too.
        let _guest = self.gate.enter(self.sql_time_limit);
        let time_limit = self.sql_time_limit;
        let fail = |e: rusqlite::Error| guest_error(&self.gate, time_limit, e);
        let mut statement = conn.prepare(query).map_err(fail)?;
        let expected = statement.parameter_count();
        if expected != params.len() {
            return Err(Error::Sql(format!(
                "the statement has {expected} parameter(s) but {} value(s) were given; pass \
                 one value per `?`",
                params.len()
            )));
        }
        for (index, param) in params.iter().enumerate() {
            statement
                .raw_bind_parameter(index + 1, to_sql(param))
                .map_err(fail)?;
        }
        let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
        let changes_before = conn.total_changes();
        let mut rows = Vec::new();
        let mut bytes = 0usize;
        let mut cursor = statement.raw_query();
        while let Some(row) = cursor.next().map_err(fail)? {
            if rows.len() == MAX_ROWS {
                return Err(Error::TooLarge(format!(
                    "the query returned more than {MAX_ROWS} rows; add a LIMIT and page \
                     through the results (e.g. WHERE id > ? ORDER BY id LIMIT 1000)"
                )));
            }
            let mut object = Map::with_capacity(columns.len());
            for (index, column) in columns.iter().enumerate() {
                let (value, size) = to_json(row.get_ref(index).map_err(fail)?);
                bytes += size + column.len();
                object.insert(column.clone(), value);
            }
            if bytes > MAX_RESULT_BYTES {
                return Err(Error::TooLarge(format!(
                    "the query's result is larger than {} MiB; select fewer columns or rows \
                     (add a LIMIT and page through the results)",
                    MAX_RESULT_BYTES >> 20
                )));
            }
            rows.push(object);
        }
        drop(cursor);
        Ok(SqlOutcome {
            columns,
            rows,
            rows_written: conn.total_changes().saturating_sub(changes_before),
            last_insert_rowid: conn.last_insert_rowid(),
        })
    }
}

/// The agent's SQL failing is the agent's problem (code `SQL`), with the authorizer's
/// reason instead of SQLite's bare "not authorized".
fn guest_error(gate: &Gate, time_limit: Duration, e: rusqlite::Error) -> Error {
    let code = match &e {
        rusqlite::Error::SqliteFailure(failure, _) => Some(failure.code),
        rusqlite::Error::SqlInputError { error, .. } => Some(error.code),
        _ => None,
    };
    if code == Some(ErrorCode::AuthorizationForStatementDenied) {
        return Error::Sql(gate.take_refusal().unwrap_or_else(|| e.to_string()));
    }
    if code == Some(ErrorCode::OperationInterrupted) {
        return Error::Sql(format!(
            "the statement ran longer than {} ms and was stopped; make it cheaper (add a \
             LIMIT, an index, or a bound on recursive queries)",
            time_limit.as_millis()
        ));
    }
    match &e {
        rusqlite::Error::MultipleStatement => Error::Sql(
            "this.sql runs exactly one statement per call; split the text and call this.sql \
             once per statement"
                .into(),
        ),
        rusqlite::Error::Empty => {
            Error::Sql("the SQL text is empty (or only comments); pass one statement".into())
        }
        rusqlite::Error::SqliteFailure(_, Some(message)) => Error::Sql(message.clone()),
        rusqlite::Error::SqlInputError { msg, offset, .. } => {
            Error::Sql(format!("{msg} (at offset {offset} of the SQL text)"))
        }
        _ => Error::Sql(e.to_string()),
    }
}
