//! Compaction in the loop (issue 15, item 5): when a prompt nears the model's budget, the
//! oldest stretch of the conversation is replaced, in prompts only, by a summary the model
//! writes. The summary is stored as the session's non-destructive overlay
//! (`store::Sessions::compact`): every message stays in the history, its branches and the
//! search index; prompts are built from the *prompt view* (`Sessions::prompt_view`), which
//! shows the summary instead of the stretch.
//!
//! Tokens are estimated, not counted: a token is about four bytes of English text or JSON
//! for the tokenizers in use (GPT's, Claude's; a CJK character, three bytes, is about one),
//! so `bytes / 4` is close enough to decide *when* to compact, needs no tokenizer per
//! model, and costs nothing per stored message: its JSON's length is known without parsing.
//! System prompt and tool definitions are estimated from their JSON. The threshold
//! (`compactAt` × `contextWindow`) leaves the slack that an estimate needs.
//!
//! The stretch is never cut between a tool call and its result: the cut moves back until
//! the first message kept is not a tool result (the store refuses such a stretch anyway).
//! When the agent has memory profiles attached (`memory.*`), the newly compacted messages
//! (what the user and the assistant said) are ingested into them (the memory crate's bulk
//! path), so what leaves the prompt stays recallable.

use agents::{Address, AgentHost};
use llm::{Message, Part, Request, Role};
use sandbox::Bindings;
use serde::Serialize;
use serde_json::{Value, json};
use store::{Compaction, PromptItem};

use crate::error::Error;

/// The context window assumed when the class sets none (tokens). Today's common chat
/// models have 128k or more; a smaller local model's class sets `contextWindow`.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 128_000;
/// The share of the window at which the loop compacts, unless the class sets `compactAt`.
pub const DEFAULT_COMPACT_AT: f64 = 0.8;
/// The summary's output budget (tokens).
const SUMMARY_MAX_TOKENS: u32 = 2048;
/// The longest text of one message quoted to the summariser (characters): a huge tool
/// result is cut, its gist is what a summary keeps.
const QUOTE_CHARS: usize = 4000;
/// The words that introduce a summary in prompts.
pub const SUMMARY_HEADING: &str = "[Summary of the earlier conversation]";

/// The system prompt of the summarising call.
pub const SUMMARY_PROMPT: &str = "You compact a conversation between a user and an AI \
assistant that uses tools. Write a concise summary that lets the assistant continue the \
conversation without the original messages: the user's goals and preferences, facts and \
decisions established, what the tools did and found (file paths, names, numbers, errors), \
and what is still open. Write plain prose or short bullet points, in the conversation's \
language. Do not address the user; output only the summary.";

/// When to compact: a class's `contextWindow` and `compactAt`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// The model's context window, in tokens.
    pub context_window: u64,
    /// The share of the window (0 < x ≤ 1) a prompt may reach before it is compacted.
    pub compact_at: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            context_window: DEFAULT_CONTEXT_WINDOW,
            compact_at: DEFAULT_COMPACT_AT,
        }
    }
}

impl Budget {
    /// The class's choices, defaults for what it left unset.
    pub fn new(context_window: Option<u64>, compact_at: Option<f64>) -> Self {
        let default = Budget::default();
        Budget {
            context_window: context_window.unwrap_or(default.context_window).max(1),
            compact_at: compact_at
                .filter(|x| *x > 0.0 && *x <= 1.0)
                .unwrap_or(default.compact_at),
        }
    }

    /// The estimated prompt size (tokens) from which the loop compacts.
    pub fn threshold(&self) -> u64 {
        (self.context_window as f64 * self.compact_at) as u64
    }

    /// How much of the newest conversation an automatic compaction keeps as it is: half
    /// of what the threshold leaves beside the system prompt and tools (`overhead`), so
    /// the compacted prompt is well below the threshold.
    fn keep(&self, overhead: u64) -> u64 {
        self.threshold().saturating_sub(overhead) / 2
    }
}

/// About how many tokens `text` is: a quarter of its UTF-8 bytes, rounded up.
pub fn estimate_tokens(text: &str) -> u64 {
    (text.len() as u64).div_ceil(4)
}

/// The estimated size of a whole request: system prompt, tool definitions and messages.
pub fn estimate_request(request: &Request) -> u64 {
    serde_json::to_string(request).map_or(0, |json| estimate_tokens(&json))
}

/// What a compaction did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compacted {
    /// The stored compaction: the stretch it covers and its summary.
    pub compaction: Compaction,
    /// Messages newly replaced by the summary (a re-summarised older summary not counted).
    pub messages: usize,
    /// The estimated prompt size before and after (tokens, without system prompt and tools).
    pub tokens_before: u64,
    /// The estimated prompt size after the compaction, in tokens.
    pub tokens_after: u64,
    /// The memory ingest's report per attached profile, or its error (the compaction
    /// stands either way); empty when no memory is attached.
    pub memory: Vec<Value>,
}

impl Compacted {
    /// What clients are told (the `data-compaction` chunk).
    pub fn notice(&self) -> Value {
        json!({
            "compactionId": self.compaction.id,
            "messages": self.messages,
            "tokensBefore": self.tokens_before,
            "tokensAfter": self.tokens_after,
        })
    }
}

/// Why a compaction runs: near the budget (keeps the newest messages that fit in `keep`
/// tokens, at least the last one), or asked for (keeps the latest user question and what
/// follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Auto { keep: u64 },
    Manual,
}

/// What a compaction needs of the turn (or of the route that asked for one).
pub(crate) struct Context<'a> {
    pub host: &'a AgentHost,
    pub address: &'a Address,
    pub model: &'a llm::Model,
    /// `memory.*` lives here when a profile is attached.
    pub bindings: &'a Bindings,
    /// The attached profiles' names (to ingest into each when there are several).
    pub memory_profiles: &'a [String],
    pub session_id: &'a str,
    pub budget: Budget,
}

impl Context<'_> {
    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut store::AgentDb) -> store::Result<T> + Send + 'static,
    ) -> Result<T, Error> {
        Ok(self
            .host
            .with_new_or_existing_db_at(self.address, move |db| f(db).map_err(agents::Error::Store))
            .await?)
    }

    async fn view(&self) -> Result<Vec<PromptItem>, Error> {
        let session = self.session_id.to_owned();
        self.db(move |db| db.sessions().prompt_view(&session, None))
            .await
    }
}

/// Fills `request.messages` (its system prompt and tools already set) from the session's
/// prompt view `view`, compacting first when the request would reach the budget's threshold. A
/// compaction that fails is logged and the prompt sent uncompacted: the turn goes on, and
/// the provider says so if it is really too long.
pub(crate) async fn prepare(
    ctx: &Context<'_>,
    request: &mut Request,
    view: Vec<PromptItem>,
) -> Result<Option<Compacted>, Error> {
    request.messages.clear();
    let overhead = estimate_request(request);
    // The stored JSON's length stands for each message: no serialising per step.
    let size = overhead + view.iter().map(item_tokens).sum::<u64>();
    request.messages = messages(ctx.address, &view);
    if size < ctx.budget.threshold() {
        return Ok(None);
    }
    if overhead >= ctx.budget.threshold() {
        // Summaries cannot help: every step would summarise again, for nothing.
        tracing::warn!(agent = %ctx.address, overhead, threshold = ctx.budget.threshold(),
            "the system prompt and tools alone reach the compaction threshold; not compacting \
             (raise the class's contextWindow or compactAt)");
        return Ok(None);
    }
    let keep = ctx.budget.keep(overhead);
    match compact(ctx, Mode::Auto { keep }).await {
        Ok(Some(done)) => {
            tracing::info!(agent = %ctx.address, session = ctx.session_id,
                messages = done.messages, tokens_before = done.tokens_before,
                tokens_after = done.tokens_after, "compacted the conversation");
            request.messages = messages(ctx.address, &ctx.view().await?);
            Ok(Some(done))
        }
        Ok(None) => Ok(None),
        Err(e) => {
            tracing::warn!(agent = %ctx.address, session = ctx.session_id, error = %e,
                "cannot compact the conversation; sending it whole");
            Ok(None)
        }
    }
}

/// The prompt view as chat messages: a summary is a user message headed
/// [`SUMMARY_HEADING`] (the provider's history normalisation merges it with a user
/// message that follows).
pub(crate) fn messages(address: &Address, view: &[PromptItem]) -> Vec<Message> {
    view.iter()
        .filter_map(|item| match item {
            PromptItem::Summary(c) => {
                Some(Message::user(format!("{SUMMARY_HEADING}\n{}", c.summary)))
            }
            PromptItem::Message(m) => match serde_json::from_str::<Message>(m.content.get()) {
                Ok(message) => Some(message),
                Err(e) => {
                    tracing::warn!(agent = %address, message = %m.id, error = %e,
                        "a stored message is not a chat message; left out of the prompt");
                    None
                }
            },
        })
        .collect()
}

/// Compacts the oldest stretch of the session's current history. `Ok(None)`: there is
/// nothing to compact (everything is within what is kept).
pub(crate) async fn compact(ctx: &Context<'_>, mode: Mode) -> Result<Option<Compacted>, Error> {
    let view = ctx.view().await?;
    let sizes: Vec<u64> = view.iter().map(item_tokens).collect();
    let tokens_before: u64 = sizes.iter().sum();
    let Some(cut) = cut(&view, &sizes, mode) else {
        return Ok(None);
    };
    let span = &view[..cut];
    let first_id = match &span[0] {
        PromptItem::Message(m) => m.id.clone(),
        PromptItem::Summary(c) => c.first_id.clone(),
    };
    let last_id = match &span[cut - 1] {
        PromptItem::Message(m) => m.id.clone(),
        PromptItem::Summary(c) => c.last_id.clone(),
    };
    let request = Request {
        system: Some(SUMMARY_PROMPT.to_owned()),
        messages: vec![Message::user(transcript(span, ctx.budget))],
        max_tokens: Some(SUMMARY_MAX_TOKENS),
        ..Request::default()
    };
    let completion = ctx.model.complete(&request).await?;
    let summary = completion.message.text().trim().to_owned();
    let usage = completion.usage.unwrap_or_default();
    let session = ctx.session_id.to_owned();
    let tokens = estimate_tokens(&summary);
    let stored = ctx
        .db(move |db| {
            let mut sessions = db.sessions();
            // The summary's inference is the session's spending too.
            sessions.add_usage(
                &session,
                store::Usage {
                    input_tokens: usage.input_tokens,
                    output_tokens: usage.output_tokens,
                },
            )?;
            if summary.is_empty() {
                return Ok(None);
            }
            sessions
                .compact(&session, &first_id, &last_id, &summary, tokens)
                .map(Some)
        })
        .await?;
    let Some(compaction) = stored else {
        return Err(Error::InvalidInput(
            "the model wrote an empty summary; the conversation was left as it is".to_owned(),
        ));
    };
    let newly: Vec<&store::Message> = span
        .iter()
        .filter_map(|item| match item {
            PromptItem::Message(m) => Some(m),
            PromptItem::Summary(_) => None,
        })
        .collect();
    let memory = ingest(ctx, &newly).await;
    let kept: u64 = sizes[cut..].iter().sum();
    Ok(Some(Compacted {
        messages: newly.len(),
        tokens_before,
        tokens_after: kept + tokens + estimate_tokens(SUMMARY_HEADING),
        compaction,
        memory,
    }))
}

/// Where the kept tail of `view` starts: `None` when nothing before it could be compacted.
fn cut(view: &[PromptItem], sizes: &[u64], mode: Mode) -> Option<usize> {
    let mut cut = match mode {
        // The latest user message and what follows it: the turn in progress.
        Mode::Manual => view
            .iter()
            .rposition(|item| matches!(item, PromptItem::Message(m) if is_user_text(m)))?,
        // The newest messages that fit in `keep`, and the last one even if it does not.
        Mode::Auto { keep } => {
            let mut cut = view.len().checked_sub(1)?;
            let mut kept = sizes[cut];
            while cut > 0 && kept + sizes[cut - 1] <= keep {
                kept += sizes[cut - 1];
                cut -= 1;
            }
            cut
        }
    };
    // Never keep a tool result without the call it answers: move the cut back to the call.
    while cut > 0
        && matches!(&view[cut], PromptItem::Message(m) if m.role == store::Role::Tool || !m.tool_results.is_empty())
    {
        cut -= 1;
    }
    // Compacting only a summary (or nothing) gains nothing.
    let gains = view[..cut]
        .iter()
        .any(|item| matches!(item, PromptItem::Message(_)));
    (cut > 0 && gains && (cut > 1 || matches!(view[0], PromptItem::Message(_)))).then_some(cut)
}

/// A user message the person wrote (not tool results carried in a user message).
fn is_user_text(message: &store::Message) -> bool {
    message.role == store::Role::User && message.tool_results.is_empty()
}

fn item_tokens(item: &PromptItem) -> u64 {
    match item {
        PromptItem::Message(m) => estimate_tokens(m.content.get()),
        PromptItem::Summary(c) => c.tokens + estimate_tokens(SUMMARY_HEADING),
    }
}

/// The stretch as a transcript for the summariser: one line per part, long texts cut.
/// Plain text rather than the messages themselves, so the call needs no tools and no
/// provider sees a call without its result; at most about the window's size.
fn transcript(span: &[PromptItem], budget: Budget) -> String {
    let limit = usize::try_from(budget.context_window.saturating_mul(3)).unwrap_or(usize::MAX);
    let mut out = String::from("Summarise this conversation:\n\n");
    for item in span {
        let entry = match item {
            PromptItem::Summary(c) => format!("(summary of what came before) {}\n", c.summary),
            PromptItem::Message(m) => match serde_json::from_str::<Message>(m.content.get()) {
                Ok(message) => render(&message),
                Err(_) => format!("{}: {}\n", m.role.as_str(), quote(&m.text)),
            },
        };
        if out.len() + entry.len() > limit {
            out.push_str("(the rest of this stretch is cut: too long to quote)\n");
            break;
        }
        out.push_str(&entry);
    }
    out
}

fn render(message: &Message) -> String {
    let who = match message.role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    };
    let mut out = String::new();
    for part in &message.content {
        match part {
            Part::Text { text } if !text.trim().is_empty() => {
                out.push_str(&format!("{who}: {}\n", quote(text)));
            }
            Part::Text { .. } => {}
            Part::ToolCall(call) => out.push_str(&format!(
                "{who} calls {}: {}\n",
                call.name,
                quote(&call.arguments.to_string())
            )),
            Part::ToolResult(result) => out.push_str(&format!(
                "{} {}: {}\n",
                if result.is_error {
                    "tool error"
                } else {
                    "tool result"
                },
                result.call_id,
                quote(&result.content)
            )),
        }
    }
    out
}

/// `text` up to [`QUOTE_CHARS`] characters, saying how much was cut.
fn quote(text: &str) -> String {
    let count = text.chars().count();
    if count <= QUOTE_CHARS {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(QUOTE_CHARS).collect();
    cut.push_str(&format!(" … ({} more characters)", count - QUOTE_CHARS));
    cut
}

/// Ingests the compacted conversation into each attached memory profile through
/// `memory.ingest` (so the operator's instrumentation counts it like any call): what the
/// user and the assistant said. Raw tool results are left out: they are data (a file
/// read, a listing), not what was said; the assistant's words carry what it made of them.
/// Each profile's report or error; failures are logged and never undo the compaction.
async fn ingest(ctx: &Context<'_>, messages: &[&store::Message]) -> Vec<Value> {
    let Some(ingest) = ctx.bindings.get("memory", "ingest") else {
        return Vec::new();
    };
    let messages: Vec<Value> = messages
        .iter()
        .filter(|m| matches!(m.role, store::Role::User | store::Role::Assistant))
        .filter(|m| m.tool_results.is_empty() && !m.text.trim().is_empty())
        .map(|m| {
            json!({
                "id": m.id,
                "speaker": m.role.as_str(),
                "text": m.text,
                "date": iso8601(m.created_at_ms),
            })
        })
        .collect();
    if messages.is_empty() {
        return Vec::new();
    }
    // Unnamed (a harness told no names): the binding's default. Otherwise each by name,
    // also a single one: the binding may serve read-only profiles besides it.
    let profiles: Vec<Option<&String>> = match ctx.memory_profiles {
        [] => vec![None],
        names => names.iter().map(Some).collect(),
    };
    let mut reports = Vec::with_capacity(profiles.len());
    for profile in profiles {
        let mut args = json!({"sessionId": ctx.session_id, "messages": messages});
        if let Some(name) = profile {
            args["profile"] = json!(name);
        }
        let report = match ingest(args).await {
            Ok(report) => json!({"profile": profile, "report": report}),
            Err(e) => {
                tracing::warn!(agent = %ctx.address, session = ctx.session_id, code = %e.code,
                    "cannot ingest the compacted messages into memory: {}", e.message);
                json!({"profile": profile, "error": {"code": e.code, "message": e.message}})
            }
        };
        reports.push(report);
    }
    reports
}

/// `ms` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (what `memory.ingest` reads).
fn iso8601(ms: i64) -> String {
    use chrono::{Datelike as _, Timelike as _};
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        ms.rem_euclid(1000)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    fn message(id: u8, role: store::Role, calls: &[&str], results: &[&str]) -> PromptItem {
        PromptItem::Message(store::Message {
            id: format!("{id:016x}"),
            session_id: "s".into(),
            parent_id: None,
            role,
            content: store::RawJson::from_value(&serde_json::json!("x")),
            text: "x".into(),
            model: None,
            usage: None,
            tool_calls: calls.iter().map(|c| (*c).to_owned()).collect(),
            tool_results: results.iter().map(|c| (*c).to_owned()).collect(),
            created_at_ms: 0,
        })
    }

    /// user, assistant calling c1, its result, answer, user, assistant calling c2, result.
    fn conversation() -> Vec<PromptItem> {
        use store::Role::*;
        vec![
            message(1, User, &[], &[]),
            message(2, Assistant, &["c1"], &[]),
            message(3, Tool, &[], &["c1"]),
            message(4, Assistant, &[], &[]),
            message(5, User, &[], &[]),
            message(6, Assistant, &["c2"], &[]),
            message(7, Tool, &[], &["c2"]),
        ]
    }

    #[test]
    fn issue15_compaction_cut_never_keeps_a_result_without_its_call() {
        let view = conversation();
        let sizes = [10; 7];
        // Room for the last one only: c2's result (index 6) is kept with its call (5).
        assert_eq!(cut(&view, &sizes, Mode::Auto { keep: 10 }), Some(5));
        assert_eq!(cut(&view, &sizes, Mode::Auto { keep: 20 }), Some(5));
        assert_eq!(cut(&view, &sizes, Mode::Auto { keep: 30 }), Some(4));
        // Keeping five would start at c1's result: moved back to its call.
        assert_eq!(cut(&view, &sizes, Mode::Auto { keep: 50 }), Some(1));
        // Everything fits in what is kept: nothing to compact.
        assert_eq!(cut(&view, &sizes, Mode::Auto { keep: 1000 }), None);
        // Manual: everything before the latest question.
        assert_eq!(cut(&view, &sizes, Mode::Manual), Some(4));
    }

    #[test]
    fn issue15_compaction_cut_finds_nothing_to_gain() {
        use store::Role::*;
        assert_eq!(cut(&[], &[], Mode::Auto { keep: 0 }), None);
        let one = vec![message(1, User, &[], &[])];
        assert_eq!(cut(&one, &[10], Mode::Auto { keep: 0 }), None);
        assert_eq!(cut(&one, &[10], Mode::Manual), None);
        // A call and its result only: keeping the result means keeping the call.
        let pair = vec![
            message(1, Assistant, &["c"], &[]),
            message(2, Tool, &[], &["c"]),
        ];
        assert_eq!(cut(&pair, &[10, 10], Mode::Auto { keep: 0 }), None);
    }

    #[test]
    fn budget_defaults_and_refuses_nonsense_shares() {
        let b = Budget::new(None, None);
        assert_eq!(b.threshold(), 102_400);
        assert_eq!(Budget::new(Some(1000), Some(1.5)).threshold(), 800);
        assert_eq!(Budget::new(Some(1000), Some(0.5)).threshold(), 500);
        assert_eq!(estimate_tokens("abcde"), 2);
    }
}
