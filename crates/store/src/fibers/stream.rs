//! The buffered output of a fiber's turn: chunks (e.g. one server-sent event each) with
//! sequence numbers, so a client that reconnects replays what it missed from the number it
//! last saw, then follows the live rest. Deleted with the fiber
//! ([`Fibers::prune_finished`]).

use serde::Serialize;

use super::{Fibers, fiber, running};
use crate::Result;
use crate::error::{Error, SqlContext};

/// The largest chunk, in bytes.
pub const MAX_CHUNK_BYTES: usize = 1 << 20;
/// Chunks returned by one replay unless asked otherwise.
const DEFAULT_REPLAY_LIMIT: usize = 10_000;

/// One buffered piece of output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Chunk {
    /// From 1, without gaps.
    pub seq: u64,
    /// The output itself, as the turn pushed it (e.g. one server-sent event).
    pub chunk: String,
}

impl Fibers<'_> {
    /// Buffers the next chunks of a running fiber's output; the sequence number of the
    /// last one.
    pub fn push_chunks<S: AsRef<str>>(&mut self, fiber_id: &str, chunks: &[S]) -> Result<u64> {
        if let Some(big) = chunks.iter().find(|c| c.as_ref().len() > MAX_CHUNK_BYTES) {
            return Err(Error::TooLarge(format!(
                "a stream chunk of {} bytes is over the {} MiB limit; split it",
                big.as_ref().len(),
                MAX_CHUNK_BYTES >> 20
            )));
        }
        self.db.atomically("buffering output", |conn, _| {
            running(conn, fiber_id, "buffer output")?;
            let mut last: u64 = conn
                .prepare_cached(
                    "SELECT coalesce(max(seq), 0) FROM _islet_stream_chunks WHERE fiber_id = ?1",
                )
                .and_then(|mut select| {
                    select.query_row([fiber_id], |row| crate::sqlite::get_u64(row, 0))
                })
                .ctx("buffering output")?;
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO _islet_stream_chunks (fiber_id, seq, chunk) VALUES (?1, ?2, ?3)",
                )
                .ctx("buffering output")?;
            for chunk in chunks {
                last += 1;
                insert
                    .execute((fiber_id, crate::sqlite::to_i64(last), chunk.as_ref()))
                    .ctx("buffering output")?;
            }
            Ok(last)
        })
    }

    /// Buffers one chunk; its sequence number.
    pub fn push_chunk(&mut self, fiber_id: &str, chunk: &str) -> Result<u64> {
        self.push_chunks(fiber_id, &[chunk])
    }

    /// The buffered chunks after sequence number `after` (0: from the start), in order, at
    /// most `limit` (default 10,000) of them.
    pub fn chunks_after(
        &mut self,
        fiber_id: &str,
        after: u64,
        limit: Option<usize>,
    ) -> Result<Vec<Chunk>> {
        self.db.check_turn()?;
        let conn = self.db.conn();
        fiber(conn, fiber_id)?;
        let limit = limit.unwrap_or(DEFAULT_REPLAY_LIMIT);
        let mut select = conn
            .prepare_cached(
                "SELECT seq, chunk FROM _islet_stream_chunks
                 WHERE fiber_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .ctx("replaying output")?;
        select
            .query_map(
                (
                    fiber_id,
                    crate::sqlite::to_i64(after),
                    i64::try_from(limit).unwrap_or(i64::MAX),
                ),
                |row| {
                    Ok(Chunk {
                        seq: crate::sqlite::get_u64(row, 0)?,
                        chunk: row.get(1)?,
                    })
                },
            )
            .ctx("replaying output")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("replaying output")
    }
}
