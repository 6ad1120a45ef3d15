//! Full-text search over messages (FTS5, BM25 ranking) within one session or across all of
//! an agent's sessions.

use serde::Serialize;

use super::{Role, Sessions, message_id, session};
use crate::Result;
use crate::error::{Error, SqlContext};

/// Hits returned unless asked otherwise, and the most one search returns.
pub const DEFAULT_SEARCH_LIMIT: usize = 20;
/// The most hits one search returns; a larger `limit` is refused.
pub const MAX_SEARCH_LIMIT: usize = 200;

/// Words of context in a snippet.
const SNIPPET_TOKENS: i32 = 16;

/// One matching message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchHit {
    /// The session the message is in.
    pub session_id: String,
    /// That session's title, to show the hit without another lookup.
    pub session_title: String,
    /// The matching message, to open it in its session.
    pub message_id: String,
    /// Who the message is from.
    pub role: Role,
    /// The best passage, matched words between `**`, cuts marked `…`.
    pub snippet: String,
    /// BM25 score: lower is better (SQLite's sign).
    pub rank: f64,
    /// When the message was appended (ms since the Unix epoch).
    pub created_at_ms: i64,
}

impl Sessions<'_> {
    /// Messages of one session matching `query`, best first.
    pub fn search(
        &mut self,
        session_id: &str,
        query: &str,
        limit: Option<usize>,
    ) -> Result<Vec<SearchHit>> {
        self.db.check_turn()?;
        session(self.db.conn(), session_id)?;
        self.run_search(Some(session_id), query, limit)
    }

    /// Messages of every session of the agent matching `query`, best first.
    pub fn search_all(&mut self, query: &str, limit: Option<usize>) -> Result<Vec<SearchHit>> {
        self.db.check_turn()?;
        self.run_search(None, query, limit)
    }

    fn run_search(
        &mut self,
        session_id: Option<&str>,
        query: &str,
        limit: Option<usize>,
    ) -> Result<Vec<SearchHit>> {
        let limit = limit.unwrap_or(DEFAULT_SEARCH_LIMIT);
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "a search returns 1 to {MAX_SEARCH_LIMIT} hits, not {limit}"
            )));
        }
        let expression = fts_expression(query)?;
        let mut select = self
            .db
            .conn()
            .prepare_cached(&format!(
                "SELECT m.session_id, s.title, m.seq, m.role,
                        snippet(_islet_messages_fts, 0, '**', '**', '…', {SNIPPET_TOKENS}),
                        f.rank, m.created_at_ms
                 FROM _islet_messages_fts f
                 JOIN _islet_messages m ON m.seq = f.rowid
                 JOIN _islet_sessions s ON s.id = m.session_id
                 WHERE _islet_messages_fts MATCH ?1 AND (?2 IS NULL OR m.session_id = ?2)
                 ORDER BY f.rank
                 LIMIT ?3"
            ))
            .ctx("searching messages")?;
        let hits = select
            .query_map((&expression, session_id, limit as i64), |row| {
                Ok(SearchHit {
                    session_id: row.get(0)?,
                    session_title: row.get(1)?,
                    message_id: message_id(row.get(2)?),
                    role: Role::parse(&row.get::<_, String>(3)?),
                    snippet: row.get(4)?,
                    rank: row.get(5)?,
                    created_at_ms: row.get(6)?,
                })
            })
            .ctx("searching messages")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("searching messages")?;
        Ok(hits)
    }
}

/// The FTS5 expression for what a person or a model typed: each word is matched as written
/// (quoted, so punctuation and FTS5 keywords are just text), all words must occur; a word
/// ending in `*` matches as a prefix, and `OR` between words makes either enough.
fn fts_expression(query: &str) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    for word in query.split_whitespace() {
        if word == "OR" {
            if parts.last().is_some_and(|last| last != "OR") {
                parts.push("OR".into());
            }
            continue;
        }
        let (word, prefix) = match word.strip_suffix('*') {
            Some(stem) => (stem, true),
            None => (word, false),
        };
        // A word without letters or digits has no tokens and would make FTS5 fail.
        if !word.chars().any(char::is_alphanumeric) {
            continue;
        }
        let quoted = format!("\"{}\"", word.replace('"', "\"\""));
        parts.push(if prefix { format!("{quoted}*") } else { quoted });
    }
    while parts.last().is_some_and(|last| last == "OR") {
        parts.pop();
    }
    if parts.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the search {query:?} has no words to look for; give one or more words"
        )));
    }
    Ok(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::fts_expression;

    #[test]
    fn words_are_quoted_and_operators_kept() {
        assert_eq!(
            fts_expression("deploy NEAR rust").unwrap(),
            r#""deploy" "NEAR" "rust""#
        );
        assert_eq!(fts_expression(r#"say "hi"#).unwrap(), r#""say" """hi""#);
        assert_eq!(
            fts_expression("OR cat OR OR dog OR").unwrap(),
            r#""cat" OR "dog""#
        );
        assert_eq!(fts_expression("conf* -- !").unwrap(), r#""conf"*"#);
        assert!(fts_expression(" -- ").is_err());
    }
}
