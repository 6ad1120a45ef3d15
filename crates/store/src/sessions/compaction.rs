//! Compaction as an overlay: a summary recorded for a stretch of one history, which the
//! prompt view shows instead of that stretch. Nothing is deleted: the messages stay in the
//! history, the branches and the search index.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, Row};
use serde::Serialize;

use super::{
    MAX_CONTENT_BYTES, Message, Sessions, leaf_of, message_head, message_id, parse_message_id,
    path_to, session,
};
use crate::error::{Error, SqlContext};
use crate::sqlite::get_u64;
use crate::{Env, Result};

/// A summary standing in for the messages `first_id..=last_id` of one history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Compaction {
    /// The compaction's id.
    pub id: String,
    /// The session whose history it summarises.
    pub session_id: String,
    /// The first message it stands in for.
    pub first_id: String,
    /// The last message it stands in for (included).
    pub last_id: String,
    /// The text the prompt view shows instead of the stretch.
    pub summary: String,
    /// The summary's size in tokens, as the caller counted it.
    pub tokens: u64,
    /// When it was recorded (ms since the Unix epoch).
    pub created_at_ms: i64,
}

/// One entry of a prompt view: a message, or the summary replacing a compacted stretch.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PromptItem {
    /// A message of the history, not compacted.
    Message(Message),
    /// A summary, in place of the messages it covers.
    Summary(Compaction),
}

/// A compaction's span as depths on its history (a message's depth is its number of
/// ancestors), for comparing spans on one path.
#[derive(Debug)]
struct Span {
    compaction: Compaction,
    first_seq: i64,
    last_seq: i64,
    first_depth: i64,
    last_depth: i64,
}

impl Sessions<'_> {
    /// Records that `summary` replaces the messages from `first_id` to `last_id` (an
    /// ancestor of it, or itself) in prompts. Refused when the stretch would separate a
    /// tool call from its result, or overlaps an earlier compaction on the same history
    /// without containing it (a compaction may re-summarise a stretch that includes earlier
    /// ones; the newest then wins).
    pub fn compact(
        &mut self,
        session_id: &str,
        first_id: &str,
        last_id: &str,
        summary: &str,
        tokens: u64,
    ) -> Result<Compaction> {
        if summary.len() > MAX_CONTENT_BYTES {
            return Err(Error::TooLarge(format!(
                "the summary is {} bytes, over the {} MiB limit; summarise shorter",
                summary.len(),
                MAX_CONTENT_BYTES >> 20
            )));
        }
        let tokens_param = i64::try_from(tokens).map_err(|_| {
            Error::InvalidArgument(format!("a token count of {tokens} is out of range"))
        })?;
        let first = parse_message_id(first_id)?;
        let last = parse_message_id(last_id)?;
        self.db.atomically("recording a compaction", |conn, env| {
            session(conn, session_id)?;
            message_head(conn, first)?.in_session(session_id)?;
            message_head(conn, last)?.in_session(session_id)?;
            let path = path_to(conn, last)?;
            let Some(start) = path.iter().position(|message| message.id == first_id) else {
                return Err(Error::InvalidArgument(format!(
                    "message {first_id} is not {last_id} or one of its ancestors; a compaction \
                     covers a stretch of one history: give its first message, then its last"
                )));
            };
            check_tool_pairs(&path, start)?;
            let (first_depth, last_depth) = (start as i64, path.len() as i64 - 1);
            for existing in spans(conn, session_id)? {
                check_overlap(conn, &existing, last, first_depth, last_depth)?;
            }
            let id = env.next_id();
            let now = env.now_ms();
            conn.prepare_cached(
                "INSERT INTO _islet_compactions
                     (id, session_id, first_seq, last_seq, summary, tokens, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut insert| {
                insert.execute((&id, session_id, first, last, summary, tokens_param, now))
            })
            .ctx("recording a compaction")?;
            Ok(Compaction {
                id,
                session_id: session_id.to_string(),
                first_id: first_id.to_string(),
                last_id: last_id.to_string(),
                summary: summary.to_string(),
                tokens,
                created_at_ms: now,
            })
        })
    }

    /// The session's compactions, oldest first.
    pub fn compactions(&mut self, session_id: &str) -> Result<Vec<Compaction>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        session(conn, session_id)?;
        Ok(spans(conn, session_id)?
            .into_iter()
            .map(|span| span.compaction)
            .collect())
    }

    /// Removes a compaction: prompts show its messages again.
    pub fn delete_compaction(&mut self, compaction_id: &str) -> Result<()> {
        self.db.atomically("deleting a compaction", |conn, _| {
            let deleted = conn
                .prepare_cached("DELETE FROM _islet_compactions WHERE id = ?1")
                .and_then(|mut delete| delete.execute([compaction_id]))
                .ctx("deleting a compaction")?;
            if deleted == 0 {
                return Err(Error::NotFound(format!(
                    "there is no compaction {compaction_id:?}; list the session's compactions \
                     to see their ids"
                )));
            }
            Ok(())
        })
    }

    /// What to send a model: the history up to `leaf_id` (`None`: the current leaf) with
    /// every compacted stretch on it replaced by its summary. Where compactions nest, the
    /// newest applies.
    pub fn prompt_view(
        &mut self,
        session_id: &str,
        leaf_id: Option<&str>,
    ) -> Result<Vec<PromptItem>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        let Some(leaf) = leaf_of(conn, session_id, leaf_id)? else {
            return Ok(Vec::new());
        };
        let history = path_to(conn, leaf)?;
        let on_path: HashMap<String, usize> = history
            .iter()
            .enumerate()
            .map(|(index, message)| (message.id.clone(), index))
            .collect();
        // Newest first; a span overlapping one already taken is an older, contained one.
        let mut taken: Vec<(usize, usize, Compaction)> = Vec::new();
        for span in spans(conn, session_id)?.into_iter().rev() {
            let (Some(&start), Some(&end)) = (
                on_path.get(&span.compaction.first_id),
                on_path.get(&span.compaction.last_id),
            ) else {
                continue;
            };
            if taken.iter().all(|(s, e, _)| end < *s || start > *e) {
                taken.push((start, end, span.compaction));
            }
        }
        taken.sort_by_key(|(start, _, _)| *start);
        let mut view = Vec::with_capacity(history.len());
        let mut upcoming = taken.into_iter();
        let mut current = upcoming.next();
        for (index, message) in history.into_iter().enumerate() {
            match &current {
                Some((start, end, compaction)) if index >= *start => {
                    if index == *start {
                        view.push(PromptItem::Summary(compaction.clone()));
                    }
                    if index == *end {
                        current = upcoming.next();
                    }
                }
                _ => view.push(PromptItem::Message(message)),
            }
        }
        Ok(view)
    }
}

/// Refuses a stretch `path[start..]` that holds a tool call without its result or a result
/// without its call: a provider rejects a prompt where either stands alone.
fn check_tool_pairs(path: &[Message], start: usize) -> Result<()> {
    let span = &path[start..];
    let called: HashSet<&str> = span
        .iter()
        .flat_map(|m| m.tool_calls.iter().map(String::as_str))
        .collect();
    let answered: HashSet<&str> = span
        .iter()
        .flat_map(|m| m.tool_results.iter().map(String::as_str))
        .collect();
    for message in span {
        if let Some(call) = message
            .tool_results
            .iter()
            .find(|call| !called.contains(call.as_str()))
        {
            let caller = path[..start]
                .iter()
                .find(|m| m.tool_calls.contains(call))
                .map_or_else(|| "an earlier message".to_string(), |m| m.id.clone());
            return Err(Error::InvalidArgument(format!(
                "the compaction would separate tool call {call:?} (made by {caller}) from its \
                 result ({}); start the stretch at {caller} or after {}",
                message.id, message.id
            )));
        }
        if let Some(call) = message
            .tool_calls
            .iter()
            .find(|call| !answered.contains(call.as_str()))
        {
            return Err(Error::InvalidArgument(format!(
                "the compaction would separate tool call {call:?} (made by {}) from its result, \
                 which comes after the stretch or is not recorded yet; end the stretch before \
                 {} or at the message with the result",
                message.id, message.id
            )));
        }
    }
    Ok(())
}

/// Refuses a new span `[first_depth, last_depth]` ending at `last` that overlaps `existing`
/// on a common history without containing it.
fn check_overlap(
    conn: &Connection,
    existing: &Span,
    last: i64,
    first_depth: i64,
    last_depth: i64,
) -> Result<()> {
    // Both apply to one history only if one's last message is an ancestor of (or is) the
    // other's.
    let (deeper, shallower, shallower_depth) = if existing.last_depth >= last_depth {
        (existing.last_seq, last, last_depth)
    } else {
        (last, existing.last_seq, existing.last_depth)
    };
    if ancestor_at(conn, deeper, shallower_depth)? != Some(shallower) {
        return Ok(());
    }
    let disjoint = last_depth < existing.first_depth || first_depth > existing.last_depth;
    let contains = first_depth <= existing.first_depth && last_depth >= existing.last_depth;
    if disjoint || contains {
        return Ok(());
    }
    let c = &existing.compaction;
    Err(Error::InvalidArgument(format!(
        "the stretch overlaps compaction {} ({}..{}) without containing it; compact a \
         stretch that includes all of it (to re-summarise) or none of it",
        c.id, c.first_id, c.last_id
    )))
}

/// The ancestor of `seq` at `depth` (itself at its own depth).
fn ancestor_at(conn: &Connection, seq: i64, depth: i64) -> Result<Option<i64>> {
    let mut head = message_head(conn, seq)?;
    while head.depth > depth {
        let Some(parent) = head.parent_seq else {
            return Ok(None);
        };
        head = message_head(conn, parent)?;
    }
    Ok((head.depth == depth).then_some(head.seq))
}

fn span_from_row(row: &Row<'_>) -> rusqlite::Result<Span> {
    let first_seq: i64 = row.get(2)?;
    let last_seq: i64 = row.get(3)?;
    Ok(Span {
        compaction: Compaction {
            id: row.get(0)?,
            session_id: row.get(1)?,
            first_id: message_id(first_seq),
            last_id: message_id(last_seq),
            summary: row.get(4)?,
            tokens: get_u64(row, 5)?,
            created_at_ms: row.get(6)?,
        },
        first_seq,
        last_seq,
        first_depth: row.get(7)?,
        last_depth: row.get(8)?,
    })
}

/// A session's compactions with their depths, oldest first.
fn spans(conn: &Connection, session_id: &str) -> Result<Vec<Span>> {
    let mut select = conn
        .prepare_cached(
            "SELECT c.id, c.session_id, c.first_seq, c.last_seq, c.summary, c.tokens,
                    c.created_at_ms, f.depth, l.depth
             FROM _islet_compactions c
             JOIN _islet_messages f ON f.seq = c.first_seq
             JOIN _islet_messages l ON l.seq = c.last_seq
             WHERE c.session_id = ?1 ORDER BY c.rowid",
        )
        .ctx("reading compactions")?;
    select
        .query_map([session_id], span_from_row)
        .ctx("reading compactions")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .ctx("reading compactions")
}

/// Copies `from`'s compactions that lie within the copied messages (`copies`: old seq →
/// new seq) to session `to`, for a fork.
pub(super) fn copy_within(
    conn: &Connection,
    env: &Env,
    from: &str,
    to: &str,
    copies: &HashMap<i64, i64>,
) -> Result<()> {
    for span in spans(conn, from)? {
        let (Some(first), Some(last)) = (copies.get(&span.first_seq), copies.get(&span.last_seq))
        else {
            continue;
        };
        let c = &span.compaction;
        conn.prepare_cached(
            "INSERT INTO _islet_compactions
                 (id, session_id, first_seq, last_seq, summary, tokens, created_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut insert| {
            insert.execute((
                env.next_id(),
                to,
                first,
                last,
                &c.summary,
                c.tokens as i64,
                c.created_at_ms,
            ))
        })
        .ctx("forking a session")?;
    }
    Ok(())
}
