//! The Code Mode namespace `memory.*`: what an isolate sees of its agent's profiles.

use crate::ingest_file::parse_sessions;
use crate::model::{ListOptions, MemoryType, RecallOptions, RememberOptions};
use crate::{Error, Memories, Profile, WRITES, time};
use sandbox::{Bindings, HostError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;

/// The namespace the functions are bound under.
pub const NAMESPACE: &str = "memory";

/// The namespace as TypeScript declarations, for tool descriptions. With several profiles
/// bound, every call takes `profile`; with one, it may be left out.
pub const TYPESCRIPT: &str = r#"interface Memory {
  id: string;
  type: "fact" | "event" | "instruction" | "task";
  content: string;
  subject: string | null;      // e.g. "alice.employer"; a newer memory on it supersedes older ones
  sessionId: string | null;
  speaker: string | null;
  occurredAt: string;         // ISO 8601
  createdAt: string;
  sourceMessageIds: string[];
  supersededBy: string | null;
}
/** Long-term memory. Calls take `profile` ("namespace/name") when several are attached.
 *  A profile attached read-only refuses remember, ingest, forget and forgetSession (READ_ONLY). */
declare const memory: {
  /** Store one memory now (stored once however often it is remembered). */
  remember(input: string | { content: string; type?: "fact" | "event" | "instruction" | "task";
    subject?: string; sessionId?: string; speaker?: string; occurredAt?: string;
    profile?: string }): Promise<Memory & { added: boolean }>;
  /** Ranked memories for a question (full-text + vectors); superseded ones left out. */
  recall(input: string | { query: string; limit?: number /* 1-100, default 10 */;
    types?: Memory["type"][]; sessionId?: string; asOf?: string /* valid at this time */;
    includeSuperseded?: boolean; answer?: boolean /* LLM answer from the results */;
    profile?: string }): Promise<{ results: { memory: Memory; score: number /* 0-1 relevance */;
    sources: string[]; matchedBy: ("fts" | "vector" | "reply")[];
    supersededBy?: string /* a newer result by the same speaker restates this */ }[];
    answer?: string; warnings?: string[] }>;
  /** Newest first; pass `nextCursor` back as `cursor` for the next page. */
  list(input?: { cursor?: string; limit?: number /* 1-1000, default 50 */; type?: Memory["type"];
    sessionId?: string; profile?: string }): Promise<{ memories: Memory[]; nextCursor: string | null }>;
  get(input: string | { id: string; profile?: string }): Promise<Memory>;
  /** Delete a memory for good. */
  forget(input: string | { id: string; profile?: string }): Promise<{ forgotten: string }>;
  /** Delete every memory of a session. */
  forgetSession(input: string | { sessionId: string; profile?: string }): Promise<{ forgotten: number }>;
  /** Turn a conversation into memories (one transaction; re-ingesting adds nothing). */
  ingest(input: { sessionId: string; date?: string; messages: { id: string; speaker: string;
    text: string; date?: string }[]; profile?: string }): Promise<{ messages: number;
    skipped: number; added: number; unchanged: number; vectors: number; warnings?: string[] }>;
};"#;

/// A profile as one isolate's code sees it: writable, or read-only (writes are refused
/// with [`Error::ReadOnly`] naming `by`).
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The profile the calls reach.
    pub profile: Profile,
    /// When set, `remember`, `forget`, `forgetSession` and `ingest` are refused.
    pub read_only: bool,
    /// Who attached it, for errors: e.g. "agent class `Reader` (`static memory`)".
    pub by: String,
}

impl Attachment {
    /// A writable attachment.
    pub fn writable(profile: Profile, by: impl Into<String>) -> Self {
        Self {
            profile,
            read_only: false,
            by: by.into(),
        }
    }

    /// A read-only attachment: `recall`, `list` and `get` only.
    pub fn read_only(profile: Profile, by: impl Into<String>) -> Self {
        Self {
            profile,
            read_only: true,
            by: by.into(),
        }
    }
}

/// The `memory` namespace over `profiles`, all writable. With one profile it is the
/// default; with several, each call names one with `profile` (and may name only these).
/// Errors reach the code as `HostError`s whose `code` is [`Error::code`].
pub fn bindings(profiles: Vec<Profile>) -> Bindings {
    attached_bindings(
        profiles
            .into_iter()
            .map(|p| Attachment::writable(p, "this server (`--memory`)"))
            .collect(),
    )
}

/// Calls `$bind!(js_name, function)` for each function of the `memory` namespace: the one
/// list both kinds of bindings are made from.
macro_rules! memory_functions {
    ($bind:ident) => {
        $bind!("remember", remember);
        $bind!("recall", recall);
        $bind!("list", list);
        $bind!("get", get);
        $bind!("forget", forget);
        $bind!("forgetSession", forget_session);
        $bind!("ingest", ingest);
    };
}

/// The `memory` namespace over `attachments` (as [`bindings`]), where a read-only
/// attachment refuses `remember`, `ingest`, `forget` and `forgetSession`. A profile
/// attached twice counts once, with its first attachment.
pub fn attached_bindings(attachments: Vec<Attachment>) -> Bindings {
    let mut unique: Vec<Attachment> = Vec::with_capacity(attachments.len());
    for a in attachments {
        if !unique.iter().any(|u| u.profile.name() == a.profile.name()) {
            unique.push(a);
        }
    }
    let profiles = Arc::new(unique);
    let mut b = Bindings::new();
    macro_rules! bind {
        ($name:literal, $f:ident) => {{
            let profiles = profiles.clone();
            b = b.function(NAMESPACE, $name, move |args: Value| {
                let profiles = profiles.clone();
                async move { placed(&profiles, $name, args, |p, a| $f(p, a)).await }
            });
        }};
    }
    memory_functions!(bind);
    b
}

/// The namespace of [`open_bindings`]: what an agent's `this.memory(profile)` handle calls.
/// Not `memory.*`, so that neither extensions nor `execute` code (which get the agent's
/// `memory.*` at most) reach it.
pub const OPEN_NAMESPACE: &str = "__memoryProfiles";

/// A profile some code cannot write whatever it asks: e.g. one its agent class attaches
/// read-only (`static memory`).
#[derive(Debug, Clone)]
pub struct ReadOnlyRule {
    /// The profile (`namespace/name`).
    pub profile: String,
    /// Who made it read-only, for errors.
    pub by: String,
}

/// The functions of the `memory` namespace under [`OPEN_NAMESPACE`] over *any* profile of
/// `memories`, for code that attaches profiles itself (agents: `this.memory("team/x")`).
/// Every call names its profile with `profile` (created by its first write, like any) and
/// may say `readOnly: true`, which refuses `remember`, `ingest`, `forget` and
/// `forgetSession` (`READ_ONLY`); a profile of `read_only` is refused writes whatever the
/// call says (an instance cannot undo its class's read-only attachment).
pub fn open_bindings(memories: Memories, read_only: Vec<ReadOnlyRule>) -> Bindings {
    let rules = Arc::new(read_only);
    let mut b = Bindings::new();
    macro_rules! bind {
        ($name:literal, $f:ident) => {{
            let memories = memories.clone();
            let rules = rules.clone();
            b = b.function(OPEN_NAMESPACE, $name, move |args: Value| {
                let memories = memories.clone();
                let rules = rules.clone();
                async move {
                    let (attachment, args) =
                        open_attachment(&memories, &rules, args).map_err(HostError::from)?;
                    placed(&[attachment], $name, args, |p, a| $f(p, a)).await
                }
            });
        }};
    }
    memory_functions!(bind);
    b
}

/// The attachment an [`open_bindings`] call asks for, and its arguments without
/// `readOnly` (which the operations do not take).
fn open_attachment(
    memories: &Memories,
    rules: &[ReadOnlyRule],
    mut args: Value,
) -> Result<(Attachment, Value), Error> {
    let Value::Object(map) = &mut args else {
        return Err(Error::invalid(
            "this.memory(profile): the call's input is an object with `profile`",
        ));
    };
    let asked = match map.remove("readOnly") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => {
            return Err(Error::invalid("`readOnly` is true or false"));
        }
    };
    let name = match map.get("profile") {
        Some(Value::String(name)) => name.clone(),
        _ => {
            return Err(Error::invalid(
                "this.memory(profile): name a profile (\"namespace/name\", e.g. \"team/conventions\")",
            ));
        }
    };
    let profile = memories.profile(&name)?;
    let rule = rules.iter().find(|r| r.profile == profile.name().as_str());
    let attachment = match (rule, asked) {
        (Some(rule), _) => Attachment::read_only(profile, rule.by.clone()),
        (None, true) => Attachment::read_only(
            profile,
            format!("this agent (`this.memory(\"{name}\", {{ readOnly: true }})`)"),
        ),
        (None, false) => Attachment::writable(profile, "this agent (`this.memory`)"),
    };
    Ok((attachment, args))
}

/// Runs one `memory.*` operation: in cluster mode through its profile's placement (on the
/// node that serves the profile, its writes durable before the answer), here otherwise.
async fn placed<'a, F>(
    attachments: &'a [Attachment],
    operation: &'static str,
    args: Value,
    run: impl FnOnce(&'a [Attachment], Value) -> F + Send + 'a,
) -> Result<Value, HostError>
where
    F: Future<Output = Result<Value, Error>> + Send + 'a,
{
    let placement = attachments
        .first()
        .and_then(|a| a.profile.placement().cloned());
    let Some(placement) = placement else {
        return run(attachments, args).await.map_err(HostError::from);
    };
    let attachment = pick_attachment(attachments, &args).map_err(HostError::from)?;
    // Checked here too: a call made on another node goes there as a writable one.
    if WRITES.contains(&operation) {
        writable(attachment, operation).map_err(HostError::from)?;
    }
    let forwarded = args.clone();
    let here = Box::pin(async move { run(attachments, args).await.map_err(HostError::from) });
    placement
        .run(&attachment.profile, operation, forwarded, here)
        .await
}

/// The profile a call is for: its `profile` field, or the only one attached.
fn pick<'a>(profiles: &'a [Attachment], args: &Value) -> Result<&'a Profile, Error> {
    pick_attachment(profiles, args).map(|a| &a.profile)
}

/// As [`pick`], for an operation that writes: refused through a read-only attachment.
fn pick_writable<'a>(
    profiles: &'a [Attachment],
    args: &Value,
    operation: &'static str,
) -> Result<&'a Profile, Error> {
    writable(pick_attachment(profiles, args)?, operation)
}

/// The attachment's profile, for `operation`, which writes: refused when it is read-only.
fn writable<'a>(a: &'a Attachment, operation: &'static str) -> Result<&'a Profile, Error> {
    if a.read_only {
        return Err(Error::ReadOnly {
            profile: a.profile.name().to_string(),
            attachment: a.by.clone(),
            operation,
        });
    }
    Ok(&a.profile)
}

fn pick_attachment<'a>(profiles: &'a [Attachment], args: &Value) -> Result<&'a Attachment, Error> {
    let names = || {
        profiles
            .iter()
            .map(|a| format!("\"{}\"", a.profile.name()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match args.get("profile") {
        None | Some(Value::Null) => match profiles {
            [only] => Ok(only),
            [] => Err(Error::invalid(
                "no memory profile is attached to this agent",
            )),
            _ => Err(Error::invalid(format!(
                "several memory profiles are attached; pass `profile`, one of {}",
                names()
            ))),
        },
        Some(Value::String(name)) => profiles
            .iter()
            .find(|a| a.profile.name().as_str() == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "memory profile `{name}` is not attached; use one of {}",
                    names()
                ))
            }),
        Some(_) => Err(Error::invalid(
            "`profile` must be a string such as \"team/alice\"",
        )),
    }
}

/// `args` as `T`, where a bare string stands for `{<field>: string}`.
fn parse<T: DeserializeOwned>(
    function: &str,
    args: Value,
    string_field: Option<&str>,
) -> Result<T, Error> {
    let args = match (args, string_field) {
        (Value::String(s), Some(field)) => json!({ field: s }),
        (Value::Null, _) => json!({}),
        (args, _) => args,
    };
    serde_json::from_value(args).map_err(|e| {
        Error::invalid(format!(
            "memory.{function}: {e}; see the memory namespace's declaration for its input"
        ))
    })
}

fn parse_time(field: &str, value: Option<String>) -> Result<Option<i64>, Error> {
    value
        .map(|t| time::parse_iso8601(&t).map_err(|e| Error::invalid(format!("`{field}`: {e}"))))
        .transpose()
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::invalid(format!("unserialisable result: {e}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RememberArgs {
    content: String,
    #[serde(rename = "type")]
    kind: Option<MemoryType>,
    subject: Option<String>,
    #[serde(alias = "session_id")]
    session_id: Option<String>,
    speaker: Option<String>,
    #[serde(alias = "occurred_at")]
    occurred_at: Option<String>,
    #[allow(dead_code)]
    profile: Option<String>,
}

async fn remember(profiles: &[Attachment], args: Value) -> Result<Value, Error> {
    let profile = pick_writable(profiles, &args, "remember")?;
    let a: RememberArgs = parse("remember", args, Some("content"))?;
    let options = RememberOptions {
        kind: a.kind,
        session_id: a.session_id,
        subject: a.subject,
        speaker: a.speaker,
        occurred_at: parse_time("occurredAt", a.occurred_at)?,
    };
    to_json(&profile.remember(&a.content, options).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RecallArgs {
    query: String,
    limit: Option<usize>,
    #[serde(default)]
    types: Vec<MemoryType>,
    #[serde(alias = "session_id")]
    session_id: Option<String>,
    #[serde(alias = "as_of")]
    as_of: Option<String>,
    #[serde(default, alias = "include_superseded")]
    include_superseded: bool,
    #[serde(default)]
    answer: bool,
    #[allow(dead_code)]
    profile: Option<String>,
}

async fn recall(profiles: &[Attachment], args: Value) -> Result<Value, Error> {
    let profile = pick(profiles, &args)?;
    let a: RecallArgs = parse("recall", args, Some("query"))?;
    let options = RecallOptions {
        limit: a.limit.unwrap_or(10),
        types: a.types,
        session_id: a.session_id,
        as_of: parse_time("asOf", a.as_of)?,
        include_superseded: a.include_superseded,
        answer: a.answer,
    };
    to_json(&profile.recall(&a.query, options).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ListArgs {
    cursor: Option<String>,
    limit: Option<usize>,
    #[serde(rename = "type")]
    kind: Option<MemoryType>,
    #[serde(alias = "session_id")]
    session_id: Option<String>,
    #[allow(dead_code)]
    profile: Option<String>,
}

async fn list(profiles: &[Attachment], args: Value) -> Result<Value, Error> {
    let profile = pick(profiles, &args)?;
    let a: ListArgs = parse("list", args, None)?;
    let options = ListOptions {
        cursor: a.cursor,
        limit: a.limit.unwrap_or(50),
        kind: a.kind,
        session_id: a.session_id,
    };
    to_json(&profile.list(options).await?)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdArgs {
    id: String,
    #[allow(dead_code)]
    profile: Option<String>,
}

async fn get(profiles: &[Attachment], args: Value) -> Result<Value, Error> {
    let profile = pick(profiles, &args)?;
    let a: IdArgs = parse("get", args, Some("id"))?;
    to_json(&profile.get(&a.id).await?)
}

async fn forget(profiles: &[Attachment], args: Value) -> Result<Value, Error> {
    let profile = pick_writable(profiles, &args, "forget")?;
    let a: IdArgs = parse("forget", args, Some("id"))?;
    profile.forget(&a.id).await?;
    Ok(json!({ "forgotten": a.id }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SessionArgs {
    #[serde(alias = "session_id")]
    session_id: String,
    #[allow(dead_code)]
    profile: Option<String>,
}

async fn forget_session(profiles: &[Attachment], args: Value) -> Result<Value, Error> {
    let profile = pick_writable(profiles, &args, "forgetSession")?;
    let a: SessionArgs = parse("forgetSession", args, Some("sessionId"))?;
    let n = profile.forget_session(&a.session_id).await?;
    Ok(json!({ "forgotten": n }))
}

async fn ingest(profiles: &[Attachment], args: Value) -> Result<Value, Error> {
    let profile = pick_writable(profiles, &args, "ingest")?;
    let Value::Object(mut session) = args else {
        return Err(Error::invalid(
            "memory.ingest takes { sessionId, date?, messages: [{ id, speaker, text }] }",
        ));
    };
    session.remove("profile");
    // The file format's session, with the date defaulting to now.
    if !session.contains_key("date") {
        let now = profile.now_ms();
        session.insert("date".into(), Value::String(time::format_iso8601(now)));
    }
    // Errors name paths inside the one session the call passed, not `[0]` of a file.
    let sessions =
        parse_sessions(&Value::Array(vec![Value::Object(session)])).map_err(|e| match e {
            Error::InvalidIngest { path, reason } => Error::InvalidIngest {
                path: path.strip_prefix("[0].").unwrap_or(&path).to_owned(),
                reason,
            },
            e => e,
        })?;
    to_json(&profile.ingest_sessions(sessions, None).await?)
}
