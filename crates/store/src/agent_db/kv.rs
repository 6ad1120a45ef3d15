//! `this.storage` and `this.state`: JSON values by key, and one JSON value for the whole
//! agent.

use rusqlite::{Connection, OptionalExtension};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AgentDb;
use crate::Result;
use crate::error::{Error, SqlContext};

/// The longest key, in bytes.
pub(super) const MAX_KEY_BYTES: usize = 2048;
/// The largest value (and state), as JSON text.
pub(super) const MAX_VALUE_BYTES: usize = 16 << 20;

/// Options of `storage.list`; every field is optional. Keys are ordered by their UTF-8
/// bytes (= code points).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListOptions {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Only keys at or after this (inclusive).
    pub start: Option<String>,
    /// Only keys after this (exclusive).
    pub start_after: Option<String>,
    /// Only keys before this (exclusive).
    pub end: Option<String>,
    /// Descending order (the limit then keeps the last keys).
    pub reverse: bool,
    /// At most this many entries.
    pub limit: Option<usize>,
}

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::InvalidArgument(
            "storage keys must not be empty; use a non-empty string".into(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(Error::InvalidArgument(format!(
            "storage key of {} bytes is longer than the {MAX_KEY_BYTES}-byte limit; use a \
             shorter key (e.g. a hash of it)",
            key.len()
        )));
    }
    Ok(())
}

fn encode(what: &str, value: &Value) -> Result<String> {
    let text = value.to_string();
    if text.len() > MAX_VALUE_BYTES {
        return Err(Error::TooLarge(format!(
            "{what} is {} bytes as JSON, over the {} MiB limit; split it across several \
             keys or store it as a workspace file",
            text.len(),
            MAX_VALUE_BYTES >> 20
        )));
    }
    Ok(text)
}

fn decode(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::Sqlite {
        what: what.to_string(),
        message: format!(
            "a stored value is not valid JSON ({e}); the database was changed outside islet"
        ),
    })
}

/// The smallest string greater than every string starting with `prefix`, if any.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next code point, skipping the surrogate gap that `char` cannot hold.
        let next = (u32::from(last) + 1..=u32::from(char::MAX)).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn put(conn: &Connection, key: &str, value: &Value) -> Result<()> {
    check_key(key)?;
    let text = encode(&format!("the value of key {key:?}"), value)?;
    conn.prepare_cached(
        "INSERT INTO _islet_kv (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .and_then(|mut upsert| upsert.execute((key, text)))
    .ctx("storage put")?;
    Ok(())
}

fn get(conn: &Connection, key: &str) -> Result<Option<Value>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT value FROM _islet_kv WHERE key = ?1")
        .and_then(|mut select| select.query_row([key], |row| row.get(0)).optional())
        .ctx("storage get")?;
    text.map(|text| decode("storage get", &text)).transpose()
}

fn delete(conn: &Connection, key: &str) -> Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM _islet_kv WHERE key = ?1")
        .and_then(|mut delete| delete.execute([key]))
        .ctx("storage delete")?;
    Ok(deleted > 0)
}

impl AgentDb {
    /// The value stored under `key`.
    pub fn kv_get(&mut self, key: &str) -> Result<Option<Value>> {
        self.check_turn()?;
        get(&self.conn, key)
    }

    /// The values of those `keys` that exist, in the order asked.
    pub fn kv_get_many(&mut self, keys: &[String]) -> Result<Map<String, Value>> {
        self.check_turn()?;
        let mut found = Map::new();
        for key in keys {
            if let Some(value) = get(&self.conn, key)? {
                found.insert(key.clone(), value);
            }
        }
        Ok(found)
    }

    /// Stores `value` under `key` (keys: 1..=2048 bytes; values: up to 16 MiB of JSON).
    pub fn kv_put(&mut self, key: &str, value: &Value) -> Result<()> {
        self.check_turn()?;
        put(&self.conn, key, value)
    }

    /// Stores every entry, all or none.
    pub fn kv_put_many(&mut self, entries: &Map<String, Value>) -> Result<()> {
        self.atomically("storage put", |conn, _| {
            entries
                .iter()
                .try_for_each(|(key, value)| put(conn, key, value))
        })
    }

    /// Removes `key`; whether it existed.
    pub fn kv_delete(&mut self, key: &str) -> Result<bool> {
        self.check_turn()?;
        delete(&self.conn, key)
    }

    /// Removes every key given; how many existed.
    pub fn kv_delete_many(&mut self, keys: &[String]) -> Result<u64> {
        self.atomically("storage delete", |conn, _| {
            let mut deleted = 0;
            for key in keys {
                deleted += u64::from(delete(conn, key)?);
            }
            Ok(deleted)
        })
    }

    /// Entries in key order (or reverse), filtered by prefix and range.
    pub fn kv_list(&mut self, opts: &ListOptions) -> Result<Vec<(String, Value)>> {
        self.check_turn()?;
        let mut lower = opts.start.clone();
        if let Some(prefix) = &opts.prefix
            && lower.as_ref().is_none_or(|start| start < prefix)
        {
            lower = Some(prefix.clone());
        }
        let mut upper = opts.end.clone();
        if let Some(prefix_upper) = opts.prefix.as_deref().and_then(prefix_end)
            && upper.as_ref().is_none_or(|end| *end > prefix_upper)
        {
            upper = Some(prefix_upper);
        }
        let limit = opts
            .limit
            .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        let order = if opts.reverse { "DESC" } else { "ASC" };
        let mut select = self
            .conn
            .prepare_cached(&format!(
                "SELECT key, value FROM _islet_kv
                 WHERE (?1 IS NULL OR key >= ?1)
                   AND (?2 IS NULL OR key > ?2)
                   AND (?3 IS NULL OR key < ?3)
                 ORDER BY key {order}
                 LIMIT ?4"
            ))
            .ctx("storage list")?;
        let rows = select
            .query_map((lower, &opts.start_after, upper, limit), |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .ctx("storage list")?;
        let mut entries = Vec::new();
        for row in rows {
            let (key, text) = row.ctx("storage list")?;
            entries.push((key, decode("storage list", &text)?));
        }
        Ok(entries)
    }

    /// Removes every key (not the state, schedules or workspace).
    pub fn kv_delete_all(&mut self) -> Result<()> {
        self.check_turn()?;
        self.conn
            .execute("DELETE FROM _islet_kv", [])
            .ctx("storage deleteAll")?;
        Ok(())
    }

    /// The agent's state (`this.state`), if it was ever set.
    pub fn state(&mut self) -> Result<Option<Value>> {
        self.check_turn()?;
        let text: Option<String> = self
            .conn
            .prepare_cached("SELECT value FROM _islet_state WHERE id = 1")
            .and_then(|mut select| select.query_row([], |row| row.get(0)).optional())
            .ctx("reading state")?;
        text.map(|text| decode("reading state", &text)).transpose()
    }

    /// Replaces the agent's state (`this.setState`), up to 16 MiB of JSON.
    pub fn set_state(&mut self, state: &Value) -> Result<()> {
        self.check_turn()?;
        let text = encode("the state", state)?;
        self.conn
            .prepare_cached(
                "INSERT INTO _islet_state (id, value) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut upsert| upsert.execute([text]))
            .ctx("writing state")?;
        Ok(())
    }
}
