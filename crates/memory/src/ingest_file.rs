//! The ingest file format (documented in `docs/memory.md`):
//!
//! ```json
//! [{"sessionId": "s1", "date": "2024-03-01",
//!   "messages": [{"id": "m1", "speaker": "alice", "text": "I work at Acme.", "date": "…"}]}]
//! ```
//!
//! Parsed whole and validated before anything is written; every error names the JSON path
//! of the problem (`[3].messages[7].text: missing`).

use crate::model::{Message, Session};
use crate::{Error, time};
use sandbox::json_kind;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Parses and validates an ingest file's bytes.
pub fn parse_ingest_file(bytes: &[u8]) -> Result<Vec<Session>, Error> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::ingest(
            "(top level)",
            format!(
                "the file is not valid JSON: {e}; expected an array of sessions \
                 [{{\"sessionId\", \"date\", \"messages\": [{{\"id\", \"speaker\", \"text\"}}]}}]"
            ),
        )
    })?;
    parse_sessions(&value)
}

/// Validates an already-parsed ingest document (the same format as the file).
pub fn parse_sessions(value: &Value) -> Result<Vec<Session>, Error> {
    let Some(sessions) = value.as_array() else {
        return Err(Error::ingest(
            "(top level)",
            format!("expected an array of sessions, found {}", json_kind(value)),
        ));
    };
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut out = Vec::with_capacity(sessions.len());
    for (i, s) in sessions.iter().enumerate() {
        let path = format!("[{i}]");
        let obj = s.as_object().ok_or_else(|| {
            Error::ingest(
                &path,
                format!("expected a session object, found {}", json_kind(s)),
            )
        })?;
        // `sessionId` as in every JS API; `session_id` as files written before it.
        let session_id = match obj.get("sessionId") {
            Some(id) => required_string(Some(id), &format!("{path}.sessionId"))?,
            None => required_string(obj.get("session_id"), &format!("{path}.sessionId"))?,
        };
        let date_path = format!("{path}.date");
        let date = required_string(obj.get("date"), &date_path)?;
        let occurred_at = time::parse_iso8601(&date).map_err(|e| Error::ingest(&date_path, e))?;
        let messages_path = format!("{path}.messages");
        let messages = match obj.get("messages") {
            None => return Err(Error::ingest(&messages_path, "missing")),
            Some(Value::Array(m)) => m,
            Some(other) => {
                return Err(Error::ingest(
                    &messages_path,
                    format!("expected an array of messages, found {}", json_kind(other)),
                ));
            }
        };
        let ids = seen.entry(session_id.clone()).or_default();
        let mut parsed = Vec::with_capacity(messages.len());
        for (j, m) in messages.iter().enumerate() {
            let path = format!("{messages_path}[{j}]");
            let obj = m.as_object().ok_or_else(|| {
                Error::ingest(
                    &path,
                    format!("expected a message object, found {}", json_kind(m)),
                )
            })?;
            let id = required_string(obj.get("id"), &format!("{path}.id"))?;
            if !ids.insert(id.clone()) {
                return Err(Error::ingest(
                    format!("{path}.id"),
                    format!(
                        "`{id}` is used by another message of session `{session_id}`; message \
                         ids must be unique within a session"
                    ),
                ));
            }
            let speaker = required_string(obj.get("speaker"), &format!("{path}.speaker"))?;
            let text_path = format!("{path}.text");
            let text = match obj.get("text") {
                None | Some(Value::Null) => return Err(Error::ingest(&text_path, "missing")),
                Some(Value::String(t)) => t.clone(),
                Some(other) => {
                    return Err(Error::ingest(
                        &text_path,
                        format!("expected a string, found {}", json_kind(other)),
                    ));
                }
            };
            let occurred_at = match obj.get("date") {
                None | Some(Value::Null) => None,
                Some(Value::String(d)) => Some(
                    time::parse_iso8601(d).map_err(|e| Error::ingest(format!("{path}.date"), e))?,
                ),
                Some(other) => {
                    return Err(Error::ingest(
                        format!("{path}.date"),
                        format!("expected a date string, found {}", json_kind(other)),
                    ));
                }
            };
            parsed.push(Message {
                id,
                speaker,
                text,
                occurred_at,
            });
        }
        out.push(Session {
            session_id,
            occurred_at,
            messages: parsed,
        });
    }
    Ok(out)
}

/// A present, non-blank string (trimmed).
fn required_string(value: Option<&Value>, path: &str) -> Result<String, Error> {
    match value {
        None | Some(Value::Null) => Err(Error::ingest(path, "missing")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(Error::ingest(path, "blank")),
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(other) => Err(Error::ingest(
            path,
            format!("expected a string, found {}", json_kind(other)),
        )),
    }
}
