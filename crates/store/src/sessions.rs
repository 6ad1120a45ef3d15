//! An agent's chat sessions: many per agent, each a tree of messages.
//!
//! A message has a parent; the history a model sees is the path from a root to a leaf.
//! Appending under a message that already has children starts a branch (a regenerated
//! answer, an edited question); each session remembers its current leaf, which moves to
//! every message appended and can be switched to any message of the session.
//!
//! Messages are stored as the caller's JSON (the provider's message type, opaque here)
//! plus what storage itself needs: the role, the plain text that search indexes, the ids
//! of the tool calls a message makes and answers (so compaction never separates them), the
//! model and the usage of the inference that produced it.
//!
//! Everything here runs on the agent's own database, inside the open turn transaction if
//! there is one (as a savepoint) or as its own transaction otherwise, so a Think turn can
//! commit the user's message before inference and each step as it finishes.

mod compaction;
mod search;
mod text;

use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::agent_db::AgentDb;
use crate::error::{Error, SqlContext};
use crate::sqlite::get_u64;
use crate::{Env, Result};

pub use compaction::{Compaction, PromptItem};
pub use search::{DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, SearchHit};

/// The largest message content (and compaction summary), as JSON text.
pub const MAX_CONTENT_BYTES: usize = 16 << 20;
/// The longest session title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// The longest tool call id and model name, in bytes.
const MAX_LABEL_BYTES: usize = 512;
/// Sessions per page unless asked otherwise, and the most one page may hold.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The most sessions one page may hold; a larger `limit` is refused.
pub const MAX_PAGE_SIZE: usize = 1000;

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions to the model, stored in the history like any message.
    System,
    /// The person (or program) talking to the agent.
    User,
    /// The model's answers, with its tool calls.
    Assistant,
    /// Results of tool calls (OpenAI's layout; Anthropic puts them in user messages).
    Tool,
}

impl Role {
    /// `"system"`, `"user"`, `"assistant"` or `"tool"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    fn parse(text: &str) -> Role {
        // The table's CHECK constraint allows only the four.
        match text {
            "system" => Role::System,
            "user" => Role::User,
            "tool" => Role::Tool,
            _ => Role::Assistant,
        }
    }
}

/// Tokens an inference read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Prompt tokens the inference read.
    pub input_tokens: u64,
    /// Tokens the model generated.
    pub output_tokens: u64,
}

/// A message to append. `content` is the caller's own message JSON (a string, a list of
/// parts, a provider's message object): stored and returned unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewMessage {
    /// Who it is from.
    pub role: Role,
    /// The message as the caller represents it; stored and returned unchanged.
    pub content: Value,
    /// The plain text search indexes. When absent it is taken from `content`: a string
    /// content is its own text, otherwise every string under a `"text"` or `"content"`
    /// key, in order.
    #[serde(default)]
    pub text: Option<String>,
    /// The model that wrote it (assistant messages).
    #[serde(default)]
    pub model: Option<String>,
    /// The usage of the inference that produced it; added to the session's totals.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Ids of the tool calls this message makes (an assistant message).
    #[serde(default)]
    pub tool_calls: Vec<String>,
    /// Ids of the tool calls this message answers (a tool result; Anthropic puts them in
    /// user messages).
    #[serde(default)]
    pub tool_results: Vec<String>,
}

impl NewMessage {
    /// A message of `role` with `content`, the text search indexes taken from it, and no
    /// model, usage or tool call ids.
    pub fn new(role: Role, content: impl Into<Value>) -> Self {
        NewMessage {
            role,
            content: content.into(),
            text: None,
            model: None,
            usage: None,
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
        }
    }

    /// A user message of plain text.
    pub fn user(text: &str) -> Self {
        NewMessage::new(Role::User, text)
    }

    /// An assistant message of plain text.
    pub fn assistant(text: &str) -> Self {
        NewMessage::new(Role::Assistant, text)
    }

    /// With the text search indexes given, instead of the one taken from `content`.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// With the model that wrote it.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// With the tokens its inference used, added to the session's totals.
    pub fn with_usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = Some(Usage {
            input_tokens,
            output_tokens,
        });
        self
    }

    /// Records that this message makes the tool calls `ids`.
    pub fn calling<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.tool_calls.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Records that this message answers the tool calls `ids`.
    pub fn answering<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.tool_results.extend(ids.into_iter().map(Into::into));
        self
    }
}

/// JSON text as stored: it was valid when written (`Prepared` serialised it from a value),
/// so it is handed back without being parsed again; a history of thousands of messages is
/// read as text and parsed once, by whoever uses it. It serialises as the JSON it is.
#[derive(Clone, PartialEq, Eq)]
pub struct RawJson(String);

impl RawJson {
    /// `value` as JSON text (for messages built outside a session, e.g. in tests).
    pub fn from_value(value: &Value) -> RawJson {
        RawJson(value.to_string())
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RawJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for RawJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A stored message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// 16 hex digits; ids sort in the order messages were created.
    pub id: String,
    /// The session it belongs to.
    pub session_id: String,
    /// The message it follows in the conversation tree; `None` for a first message. Two
    /// messages with the same parent are alternatives (see [`Branches`]).
    pub parent_id: Option<String>,
    /// Who it is from.
    pub role: Role,
    /// The content as stored: JSON text, unparsed, so a history of thousands of messages
    /// is not turned into a tree of values only to be converted again. Deserialize it into
    /// the provider's type with `serde_json::from_str(content.get())`, or see
    /// [`Message::content_value`]; it serialises as the JSON it is.
    pub content: RawJson,
    /// The plain text search indexes (given, or taken from the content).
    pub text: String,
    /// The model that wrote it, when recorded.
    pub model: Option<String>,
    /// The tokens of the inference that produced it, when recorded.
    pub usage: Option<Usage>,
    /// Ids of the tool calls this message makes.
    pub tool_calls: Vec<String>,
    /// Ids of the tool calls this message answers.
    pub tool_results: Vec<String>,
    /// When it was appended (ms since the Unix epoch).
    pub created_at_ms: i64,
}

impl Message {
    /// The content as a JSON value.
    pub fn content_value(&self) -> Value {
        // The text was valid JSON when stored.
        serde_json::from_str(self.content.get()).unwrap_or(Value::Null)
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.id == other.id
            && self.session_id == other.session_id
            && self.parent_id == other.parent_id
            && self.role == other.role
            && self.content.get() == other.content.get()
            && self.text == other.text
            && self.model == other.model
            && self.usage == other.usage
            && self.tool_calls == other.tool_calls
            && self.tool_results == other.tool_results
            && self.created_at_ms == other.created_at_ms
    }
}

/// Where a forked session came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ForkOrigin {
    /// The session it was forked from.
    pub session_id: String,
    /// The message of that session the fork's history ends at.
    pub message_id: String,
}

/// A session's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The session's id.
    pub id: String,
    /// A title for lists, given at creation or by `rename` (a fork's defaults to its
    /// origin's with ` (fork)`).
    pub title: String,
    /// The message the session's history ends at; `None` while it has no messages.
    pub leaf_id: Option<String>,
    /// Messages stored in the session, all branches counted.
    pub message_count: u64,
    /// Tokens of the inferences made in this session (a fork starts at zero: what was
    /// spent before the fork point is counted in the session it was spent in).
    pub usage: Usage,
    /// Where it was forked from; `None` for a session started fresh.
    pub forked_from: Option<ForkOrigin>,
    /// When it was created (ms since the Unix epoch).
    pub created_at_ms: i64,
    /// When it last changed (ms since the Unix epoch): lists sort by it.
    pub updated_at_ms: i64,
}

/// Which page of sessions to list: most recently updated first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListSessions {
    /// At most this many (default 50, at most 1,000).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One page of sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPage {
    /// This page's sessions, most recently updated first.
    pub sessions: Vec<Session>,
    /// Pass it as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The alternatives at one point of a conversation: a message and its siblings (the
/// messages with the same parent), oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Branches {
    /// The position of the asked message among `siblings` (0-based: "v{index + 1} of
    /// {siblings.len()}").
    pub index: usize,
    /// The message and its alternatives, oldest first.
    pub siblings: Vec<Message>,
}

/// The agent's sessions; borrow it with [`AgentDb::sessions`].
pub struct Sessions<'a> {
    db: &'a mut AgentDb,
}

impl std::fmt::Debug for Sessions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("db", &self.db).finish()
    }
}

impl AgentDb {
    /// The agent's chat sessions and their messages.
    pub fn sessions(&mut self) -> Sessions<'_> {
        Sessions { db: self }
    }
}

impl Sessions<'_> {
    /// Starts an empty session.
    pub fn create(&mut self, title: &str) -> Result<Session> {
        check_title(title)?;
        self.db.atomically("creating a session", |conn, env| {
            let id = env.next_id();
            let now = env.now_ms();
            conn.prepare_cached(
                "INSERT INTO _islet_sessions (id, title, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?3)",
            )
            .and_then(|mut insert| insert.execute((&id, title, now)))
            .ctx("creating a session")?;
            session(conn, &id)
        })
    }

    /// One session.
    pub fn get(&mut self, session_id: &str) -> Result<Session> {
        self.db.check_turn()?;
        session(self.db.conn(), session_id)
    }

    /// Sessions, most recently updated first, a page at a time.
    pub fn list(&mut self, options: &ListSessions) -> Result<SessionPage> {
        self.db.check_turn()?;
        let limit = options.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "a page of sessions holds 1 to {MAX_PAGE_SIZE}, not {limit}; ask for fewer \
                 and follow next_cursor"
            )));
        }
        let after = options.cursor.as_deref().map(parse_cursor).transpose()?;
        let (after_ms, after_id) = after.unzip();
        let mut select = self
            .db
            .conn()
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM _islet_sessions
                 WHERE ?1 IS NULL OR (updated_at_ms, id) < (?1, ?2)
                 ORDER BY updated_at_ms DESC, id DESC
                 LIMIT ?3"
            ))
            .ctx("listing sessions")?;
        let mut sessions = select
            .query_map((after_ms, after_id, limit as i64 + 1), session_from_row)
            .ctx("listing sessions")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing sessions")?;
        let next_cursor = if sessions.len() > limit {
            sessions.truncate(limit);
            sessions
                .last()
                .map(|last| format!("{}:{}", last.updated_at_ms, last.id))
        } else {
            None
        };
        Ok(SessionPage {
            sessions,
            next_cursor,
        })
    }

    /// Changes a session's title.
    pub fn rename(&mut self, session_id: &str, title: &str) -> Result<Session> {
        check_title(title)?;
        self.db.atomically("renaming a session", |conn, env| {
            let changed = conn
                .prepare_cached(
                    "UPDATE _islet_sessions SET title = ?2, updated_at_ms = ?3 WHERE id = ?1",
                )
                .and_then(|mut update| update.execute((session_id, title, env.now_ms())))
                .ctx("renaming a session")?;
            if changed == 0 {
                return Err(unknown_session(session_id));
            }
            session(conn, session_id)
        })
    }

    /// Deletes a session with its messages and compactions (their words leave the search
    /// index). Forks made from it are separate sessions and stay.
    pub fn delete(&mut self, session_id: &str) -> Result<()> {
        self.db.atomically("deleting a session", |conn, _| {
            let deleted = conn
                .prepare_cached("DELETE FROM _islet_sessions WHERE id = ?1")
                .and_then(|mut delete| delete.execute([session_id]))
                .ctx("deleting a session")?;
            if deleted == 0 {
                return Err(unknown_session(session_id));
            }
            Ok(())
        })
    }

    /// Appends `message` under `parent_id` (`None`: a new root), and moves the session's
    /// leaf to it. Under a message that already has children this starts a branch. The
    /// parent must be an existing message of the same session, so messages always form a
    /// tree: no cycle can arise, and another session's message is refused.
    pub fn append(
        &mut self,
        session_id: &str,
        parent_id: Option<&str>,
        message: &NewMessage,
    ) -> Result<Message> {
        let parent = parent_id.map(parse_message_id).transpose()?;
        let prepared = Prepared::new(message)?;
        self.db.atomically("appending a message", |conn, env| {
            let head = session(conn, session_id)?;
            let depth = match parent {
                Some(parent) => message_head(conn, parent)?.in_session(session_id)?.depth + 1,
                None => 0,
            };
            insert_message(conn, env, &head.id, parent, depth, &prepared)
        })
    }

    /// Appends `message` after the session's current leaf (or as its first message).
    pub fn append_to_leaf(&mut self, session_id: &str, message: &NewMessage) -> Result<Message> {
        let prepared = Prepared::new(message)?;
        self.db.atomically("appending a message", |conn, env| {
            let head = session(conn, session_id)?;
            let (parent, depth) = match head.leaf_id.as_deref() {
                Some(leaf) => {
                    let leaf = message_head(conn, parse_message_id(leaf)?)?;
                    (Some(leaf.seq), leaf.depth + 1)
                }
                None => (None, 0),
            };
            insert_message(conn, env, &head.id, parent, depth, &prepared)
        })
    }

    /// One message.
    pub fn message(&mut self, message_id: &str) -> Result<Message> {
        self.db.check_turn()?;
        let seq = parse_message_id(message_id)?;
        load_message(self.db.conn(), seq)
    }

    /// The conversation from its root to `leaf_id` (`None`: the session's current leaf),
    /// in order. Empty for a session without messages.
    pub fn history(&mut self, session_id: &str, leaf_id: Option<&str>) -> Result<Vec<Message>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        let leaf = leaf_of(conn, session_id, leaf_id)?;
        match leaf {
            Some(leaf) => path_to(conn, leaf),
            None => Ok(Vec::new()),
        }
    }

    /// The message and its siblings, for "regenerate" and "edit" alternatives.
    pub fn branches(&mut self, message_id: &str) -> Result<Branches> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        let seq = parse_message_id(message_id)?;
        let head = message_head(conn, seq)?;
        let mut select = conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM _islet_messages
                 WHERE session_id = ?1 AND parent_seq IS ?2 ORDER BY seq"
            ))
            .ctx("reading branches")?;
        let siblings = select
            .query_map((&head.session_id, head.parent_seq), RawMessage::from_row)
            .ctx("reading branches")?
            .map(|row| row.ctx("reading branches")?.decode())
            .collect::<Result<Vec<_>>>()?;
        let index = siblings
            .iter()
            .position(|sibling| sibling.id == message_id)
            .unwrap_or_default();
        Ok(Branches { index, siblings })
    }

    /// The leaf reached from `message_id` by always following the newest child: where a
    /// branch's conversation last went. The message itself when it has no children.
    pub fn latest_leaf(&mut self, message_id: &str) -> Result<Message> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        let mut seq = message_head(conn, parse_message_id(message_id)?)?.seq;
        let mut newest_child = conn
            .prepare_cached(
                "SELECT c.seq FROM _islet_messages p JOIN _islet_messages c
                     ON c.session_id = p.session_id AND c.parent_seq = p.seq
                 WHERE p.seq = ?1 ORDER BY c.seq DESC LIMIT 1",
            )
            .ctx("finding the latest leaf")?;
        while let Some(child) = newest_child
            .query_row([seq], |row| row.get(0))
            .optional()
            .ctx("finding the latest leaf")?
        {
            seq = child;
        }
        load_message(conn, seq)
    }

    /// Makes `message_id` the session's current leaf (switching branch): the next
    /// [`Sessions::append_to_leaf`] goes under it and [`Sessions::history`] ends at it.
    pub fn set_leaf(&mut self, session_id: &str, message_id: &str) -> Result<Session> {
        let seq = parse_message_id(message_id)?;
        self.db.atomically("switching branch", |conn, env| {
            session(conn, session_id)?;
            message_head(conn, seq)?.in_session(session_id)?;
            conn.prepare_cached(
                "UPDATE _islet_sessions SET leaf_seq = ?2, updated_at_ms = ?3 WHERE id = ?1",
            )
            .and_then(|mut update| update.execute((session_id, seq, env.now_ms())))
            .ctx("switching branch")?;
            session(conn, session_id)
        })
    }

    /// A new session whose history is the original's up to and including `message_id`,
    /// with the compactions that lie within it. The messages are copied (new ids, same
    /// content, usage and creation times), so either session can later be changed or
    /// deleted without touching the other, and every message belongs to exactly one
    /// session, which search results name.
    pub fn fork(
        &mut self,
        session_id: &str,
        message_id: &str,
        title: Option<&str>,
    ) -> Result<Session> {
        if let Some(title) = title {
            check_title(title)?;
        }
        let at = parse_message_id(message_id)?;
        self.db.atomically("forking a session", |conn, env| {
            let original = session(conn, session_id)?;
            message_head(conn, at)?.in_session(session_id)?;
            let path = path_to(conn, at)?;
            let title = title.map_or_else(|| format!("{} (fork)", original.title), Into::into);
            let title: String = title.chars().take(MAX_TITLE_CHARS).collect();
            let id = env.next_id();
            let now = env.now_ms();
            conn.prepare_cached(
                "INSERT INTO _islet_sessions
                     (id, title, forked_from_session, forked_from_message,
                      created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )
            .and_then(|mut insert| insert.execute((&id, &title, session_id, message_id, now)))
            .ctx("forking a session")?;
            let first = next_seq(conn, now)?;
            let mut copies = std::collections::HashMap::with_capacity(path.len());
            let mut copy = conn
                .prepare_cached(
                    "INSERT INTO _islet_messages
                         (seq, session_id, parent_seq, depth, role, content, text, model,
                          tokens_in, tokens_out, tool_calls, tool_results, created_at_ms)
                     SELECT ?1, ?2, ?3, depth, role, content, text, model,
                            tokens_in, tokens_out, tool_calls, tool_results, created_at_ms
                     FROM _islet_messages WHERE seq = ?4",
                )
                .ctx("forking a session")?;
            let mut parent = None;
            for (offset, message) in path.iter().enumerate() {
                let old = parse_message_id(&message.id)?;
                let new = first + offset as i64;
                copy.execute((new, &id, parent, old))
                    .ctx("forking a session")?;
                copies.insert(old, new);
                parent = Some(new);
            }
            conn.prepare_cached(
                "UPDATE _islet_sessions SET leaf_seq = ?2, message_count = ?3 WHERE id = ?1",
            )
            .and_then(|mut update| update.execute((&id, parent, path.len() as i64)))
            .ctx("forking a session")?;
            compaction::copy_within(conn, env, session_id, &id, &copies)?;
            session(conn, &id)
        })
    }

    /// The tokens of the session's inferences.
    pub fn usage(&mut self, session_id: &str) -> Result<Usage> {
        Ok(self.get(session_id)?.usage)
    }

    /// Adds usage that belongs to no stored message (a failed or cancelled inference, a
    /// summary written for compaction).
    pub fn add_usage(&mut self, session_id: &str, usage: Usage) -> Result<Usage> {
        let (input, output) = usage_params(Some(usage))?;
        self.db.atomically("recording usage", |conn, env| {
            let changed = conn
                .prepare_cached(
                    "UPDATE _islet_sessions
                     SET tokens_in = tokens_in + ?2, tokens_out = tokens_out + ?3,
                         updated_at_ms = ?4
                     WHERE id = ?1",
                )
                .and_then(|mut update| update.execute((session_id, input, output, env.now_ms())))
                .ctx("recording usage")?;
            if changed == 0 {
                return Err(unknown_session(session_id));
            }
            Ok(session(conn, session_id)?.usage)
        })
    }
}

const SESSION_COLUMNS: &str = "id, title, leaf_seq, message_count, tokens_in, tokens_out, \
                               forked_from_session, forked_from_message, created_at_ms, \
                               updated_at_ms";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let forked_from_session: Option<String> = row.get(6)?;
    let forked_from_message: Option<String> = row.get(7)?;
    Ok(Session {
        id: row.get(0)?,
        title: row.get(1)?,
        leaf_id: row.get::<_, Option<i64>>(2)?.map(message_id),
        message_count: get_u64(row, 3)?,
        usage: Usage {
            input_tokens: get_u64(row, 4)?,
            output_tokens: get_u64(row, 5)?,
        },
        forked_from: forked_from_session.zip(forked_from_message).map(
            |(session_id, message_id)| ForkOrigin {
                session_id,
                message_id,
            },
        ),
        created_at_ms: row.get(8)?,
        updated_at_ms: row.get(9)?,
    })
}

pub(crate) fn session(conn: &Connection, session_id: &str) -> Result<Session> {
    conn.prepare_cached(&format!(
        "SELECT {SESSION_COLUMNS} FROM _islet_sessions WHERE id = ?1"
    ))
    .and_then(|mut select| select.query_row([session_id], session_from_row).optional())
    .ctx("reading a session")?
    .ok_or_else(|| unknown_session(session_id))
}

pub(crate) fn unknown_session(session_id: &str) -> Error {
    Error::NotFound(format!(
        "this agent has no session {session_id:?}; list the agent's sessions to see their ids, \
         or create one"
    ))
}

fn check_title(title: &str) -> Result<()> {
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(Error::InvalidArgument(format!(
            "a session title has at most {MAX_TITLE_CHARS} characters, this one {chars}; \
             shorten it"
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(
            "a session title is one line without control characters; remove them".into(),
        ));
    }
    Ok(())
}

fn parse_cursor(cursor: &str) -> Result<(i64, String)> {
    cursor
        .split_once(':')
        .and_then(|(ms, id)| Some((ms.parse().ok()?, id.to_string())))
        .ok_or_else(|| {
            Error::InvalidArgument(format!(
                "{cursor:?} is not a session-list cursor; pass the next_cursor of the previous \
                 page unchanged, or none for the first page"
            ))
        })
}

/// A message id is its row's `seq` in 16 hex digits. `seq` is the creation time in ms
/// shifted left by 16 bits plus a counter (see [`next_seq`]): ids sort by creation, are
/// unique within the agent, and need no index of their own.
fn message_id(seq: i64) -> String {
    // Written digit by digit: a history formats two ids per message, and `format!` is
    // several times slower at it.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits = seq as u64;
    (0..16)
        .rev()
        .map(|i| char::from(HEX[((bits >> (i * 4)) & 0xf) as usize]))
        .collect()
}

pub(crate) fn parse_message_id(id: &str) -> Result<i64> {
    if id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && let Ok(seq) = i64::from_str_radix(id, 16)
    {
        return Ok(seq);
    }
    Err(unknown_message(id))
}

pub(crate) fn unknown_message(id: &str) -> Error {
    Error::NotFound(format!(
        "this agent has no message {id:?}; message ids are the 16 hex digits `append` \
         returned; read the session's history to see them"
    ))
}

/// The next message's `seq`: the time in ms with 16 bits of counter below, or one more than
/// any id ever given when that is later (several messages in one millisecond, or a clock
/// that went back). The counter carries into the milliseconds, so ids stay increasing.
fn next_seq(conn: &Connection, now_ms: i64) -> Result<i64> {
    let last: i64 = conn
        .prepare_cached(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence
                                  WHERE name = '_islet_messages'), 0),
                        coalesce((SELECT max(seq) FROM _islet_messages), 0))",
        )
        .and_then(|mut select| select.query_row([], |row| row.get(0)))
        .ctx("allocating a message id")?;
    Ok((now_ms.clamp(0, (1 << 47) - 1) << 16).max(last + 1))
}

/// Where a message sits: enough to validate and link, without its content.
#[derive(Debug)]
pub(crate) struct MessageHead {
    pub seq: i64,
    pub session_id: String,
    pub parent_seq: Option<i64>,
    pub depth: i64,
}

impl MessageHead {
    /// Refuses a message of another session.
    pub(crate) fn in_session(self, session_id: &str) -> Result<MessageHead> {
        if self.session_id != session_id {
            return Err(Error::InvalidArgument(format!(
                "message {} belongs to session {:?}, not {session_id:?}; use a message of \
                 the same session (fork a session to continue another's conversation)",
                message_id(self.seq),
                self.session_id
            )));
        }
        Ok(self)
    }
}

pub(crate) fn message_head(conn: &Connection, seq: i64) -> Result<MessageHead> {
    conn.prepare_cached(
        "SELECT seq, session_id, parent_seq, depth FROM _islet_messages WHERE seq = ?1",
    )
    .and_then(|mut select| {
        select
            .query_row([seq], |row| {
                Ok(MessageHead {
                    seq: row.get(0)?,
                    session_id: row.get(1)?,
                    parent_seq: row.get(2)?,
                    depth: row.get(3)?,
                })
            })
            .optional()
    })
    .ctx("reading a message")?
    .ok_or_else(|| unknown_message(&message_id(seq)))
}

/// The `seq` of the leaf a history ends at: `leaf_id` (checked to be in the session) or the
/// session's current leaf.
pub(crate) fn leaf_of(
    conn: &Connection,
    session_id: &str,
    leaf_id: Option<&str>,
) -> Result<Option<i64>> {
    let head = session(conn, session_id)?;
    match leaf_id {
        Some(leaf) => {
            let seq = parse_message_id(leaf)?;
            Ok(Some(message_head(conn, seq)?.in_session(session_id)?.seq))
        }
        None => head.leaf_id.as_deref().map(parse_message_id).transpose(),
    }
}

/// A message's fields as validated and encoded for storage.
struct Prepared<'m> {
    message: &'m NewMessage,
    content: String,
    text: String,
    usage: (Option<i64>, Option<i64>),
    tool_calls: Option<String>,
    tool_results: Option<String>,
}

impl<'m> Prepared<'m> {
    fn new(message: &'m NewMessage) -> Result<Self> {
        let content = message.content.to_string();
        if content.len() > MAX_CONTENT_BYTES {
            return Err(Error::TooLarge(format!(
                "the message's content is {} bytes as JSON, over the {} MiB limit; store large \
                 data as a workspace file and put its path in the message",
                content.len(),
                MAX_CONTENT_BYTES >> 20
            )));
        }
        if let Some(model) = &message.model {
            check_label("model name", model)?;
        }
        for id in message.tool_calls.iter().chain(&message.tool_results) {
            check_label("tool call id", id)?;
        }
        let text = match &message.text {
            Some(text) => text.clone(),
            None => text::plain(&message.content),
        };
        let (input, output) = usage_params(message.usage)?;
        let usage = match message.usage {
            Some(_) => (Some(input), Some(output)),
            None => (None, None),
        };
        Ok(Prepared {
            message,
            content,
            text,
            usage,
            tool_calls: ids_json(&message.tool_calls),
            tool_results: ids_json(&message.tool_results),
        })
    }
}

fn check_label(what: &str, label: &str) -> Result<()> {
    if label.is_empty() || label.len() > MAX_LABEL_BYTES {
        return Err(Error::InvalidArgument(format!(
            "a {what} has 1 to {MAX_LABEL_BYTES} bytes, not {}; pass the id or name the \
             provider gave",
            label.len()
        )));
    }
    Ok(())
}

fn usage_params(usage: Option<Usage>) -> Result<(i64, i64)> {
    let usage = usage.unwrap_or_default();
    let convert = |n: u64| {
        i64::try_from(n).map_err(|_| {
            Error::InvalidArgument(format!(
                "a token count of {n} is out of range; pass the counts the provider reported"
            ))
        })
    };
    Ok((convert(usage.input_tokens)?, convert(usage.output_tokens)?))
}

fn ids_json(ids: &[String]) -> Option<String> {
    (!ids.is_empty()).then(|| Value::from(ids.to_vec()).to_string())
}

fn insert_message(
    conn: &Connection,
    env: &Env,
    session_id: &str,
    parent: Option<i64>,
    depth: i64,
    prepared: &Prepared<'_>,
) -> Result<Message> {
    let now = env.now_ms();
    let seq = next_seq(conn, now)?;
    conn.prepare_cached(
        "INSERT INTO _islet_messages
             (seq, session_id, parent_seq, depth, role, content, text, model,
              tokens_in, tokens_out, tool_calls, tool_results, created_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )
    .and_then(|mut insert| {
        insert.execute(rusqlite::params![
            seq,
            session_id,
            parent,
            depth,
            prepared.message.role.as_str(),
            &prepared.content,
            &prepared.text,
            &prepared.message.model,
            prepared.usage.0,
            prepared.usage.1,
            &prepared.tool_calls,
            &prepared.tool_results,
            now,
        ])
    })
    .ctx("appending a message")?;
    conn.prepare_cached(
        "UPDATE _islet_sessions
         SET leaf_seq = ?2, message_count = message_count + 1,
             tokens_in = tokens_in + ?3, tokens_out = tokens_out + ?4, updated_at_ms = ?5
         WHERE id = ?1",
    )
    .and_then(|mut update| {
        update.execute((
            session_id,
            seq,
            prepared.usage.0.unwrap_or(0),
            prepared.usage.1.unwrap_or(0),
            now,
        ))
    })
    .ctx("appending a message")?;
    Ok(Message {
        id: message_id(seq),
        session_id: session_id.to_string(),
        parent_id: parent.map(message_id),
        role: prepared.message.role,
        content: RawJson(prepared.content.clone()),
        text: prepared.text.clone(),
        model: prepared.message.model.clone(),
        usage: prepared.message.usage,
        tool_calls: prepared.message.tool_calls.clone(),
        tool_results: prepared.message.tool_results.clone(),
        created_at_ms: now,
    })
}

const MESSAGE_COLUMNS: &str = "seq, session_id, parent_seq, role, content, text, model, \
                               tokens_in, tokens_out, tool_calls, tool_results, created_at_ms";

/// A row as stored; decoding its JSON is separate so that errors name the message.
struct RawMessage {
    seq: i64,
    session_id: String,
    parent_seq: Option<i64>,
    role: Role,
    content: String,
    text: String,
    model: Option<String>,
    tokens_in: Option<i64>,
    tokens_out: Option<i64>,
    tool_calls: Option<String>,
    tool_results: Option<String>,
    created_at_ms: i64,
}

impl RawMessage {
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawMessage> {
        Ok(RawMessage {
            seq: row.get(0)?,
            session_id: row.get(1)?,
            parent_seq: row.get(2)?,
            role: Role::parse(row.get_ref(3)?.as_str()?),
            content: row.get(4)?,
            text: row.get(5)?,
            model: row.get(6)?,
            tokens_in: row.get(7)?,
            tokens_out: row.get(8)?,
            tool_calls: row.get(9)?,
            tool_results: row.get(10)?,
            created_at_ms: row.get(11)?,
        })
    }

    fn decode(self) -> Result<Message> {
        let id = message_id(self.seq);
        let corrupt = |e: serde_json::Error| Error::Sqlite {
            what: "reading a message".into(),
            message: format!(
                "message {id} holds JSON that does not parse ({e}); the database was changed \
                 outside islet"
            ),
        };
        let ids = |text: Option<String>| -> Result<Vec<String>> {
            text.map_or(Ok(Vec::new()), |text| {
                serde_json::from_str(&text).map_err(corrupt)
            })
        };
        Ok(Message {
            content: RawJson(self.content),
            tool_calls: ids(self.tool_calls)?,
            tool_results: ids(self.tool_results)?,
            id,
            session_id: self.session_id,
            parent_id: self.parent_seq.map(message_id),
            role: self.role,
            text: self.text,
            model: self.model,
            usage: self
                .tokens_in
                .zip(self.tokens_out)
                .map(|(input, output)| Usage {
                    input_tokens: u64::try_from(input).unwrap_or(0),
                    output_tokens: u64::try_from(output).unwrap_or(0),
                }),
            created_at_ms: self.created_at_ms,
        })
    }
}

pub(crate) fn load_message(conn: &Connection, seq: i64) -> Result<Message> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM _islet_messages WHERE seq = ?1"
    ))
    .and_then(|mut select| select.query_row([seq], RawMessage::from_row).optional())
    .ctx("reading a message")?
    .ok_or_else(|| unknown_message(&message_id(seq)))?
    .decode()
}

/// The messages from the root to `leaf`, in order.
pub(crate) fn path_to(conn: &Connection, leaf: i64) -> Result<Vec<Message>> {
    let head = message_head(conn, leaf)?;
    // A message's id is always greater than its parent's (created later, or copied in path
    // order by a fork), so the session's messages read from the leaf down in id order meet
    // the path leaf first, root last: one range scan of an index instead of a lookup per
    // ancestor (a recursive query took ~4 µs a step here). Messages of other branches in
    // the range are skipped without being decoded.
    //
    // Where the session's messages lie close together in the table (one conversation at a
    // time, the common case), the table itself is read backwards by id from the leaf to the
    // session's first message: sequential pages, no index lookup per message. Where other
    // sessions' messages are interleaved with them, more than the path is in that range,
    // and the session's index is walked instead.
    let first: i64 = conn
        .prepare_cached("SELECT min(seq) FROM _islet_messages WHERE session_id = ?1")
        .and_then(|mut select| select.query_row([&head.session_id], |row| row.get(0)))
        .ctx("reading a history")?;
    let span = leaf.saturating_sub(first).saturating_add(1);
    let sql = if span <= 4 * (head.depth + 1) {
        // `+session_id`: filter by the column, do not look it up in the session index.
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM _islet_messages
             WHERE seq BETWEEN ?3 AND ?2 AND +session_id = ?1 ORDER BY seq DESC"
        )
    } else {
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM _islet_messages
             WHERE session_id = ?1 AND seq <= ?2 AND seq >= ?3 ORDER BY seq DESC"
        )
    };
    let mut select = conn.prepare_cached(&sql).ctx("reading a history")?;
    let mut rows = select
        .query((&head.session_id, leaf, first))
        .ctx("reading a history")?;
    let mut path = Vec::with_capacity(usize::try_from(head.depth).unwrap_or(0) + 1);
    let mut wanted = Some(leaf);
    while let Some(seq) = wanted {
        let row = rows.next().ctx("reading a history")?;
        let found = row
            .map(|row| row.get::<_, i64>(0).map(|id| (id, row)))
            .transpose()
            .ctx("reading a history")?;
        match found {
            Some((id, _)) if id > seq => continue,
            Some((id, row)) if id == seq => {
                let raw = RawMessage::from_row(row).ctx("reading a history")?;
                wanted = raw.parent_seq;
                path.push(raw.decode()?);
            }
            _ => {
                return Err(Error::Sqlite {
                    what: "reading a history".into(),
                    message: format!(
                        "message {} of session {:?} is missing; the database was changed \
                         outside islet",
                        message_id(seq),
                        head.session_id
                    ),
                });
            }
        }
    }
    path.reverse();
    Ok(path)
}
