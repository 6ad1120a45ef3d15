//! Length-prefixed JSON frames between the supervisor and a worker process.
//!
//! A frame is a little-endian `u32` byte count followed by that many bytes of JSON. The
//! supervisor treats the worker as hostile: a frame that is too large or not a valid
//! message ends the connection (and the worker), never the supervisor.

use crate::{HostError, Limits, Outcome};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Largest frame either side accepts. Results and logs are capped far below this by the
/// output limit, but host results and preludes are not: `search` code's compact spec of
/// a large API is a prelude of several MB, sent once per worker. Anything larger is a
/// protocol violation.
pub const MAX_FRAME_BYTES: usize = 256 << 20;

/// Supervisor → worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ToWorker {
    /// Run `code` in a fresh isolate with `functions` bound (calls come back as `HostCall`).
    Execute {
        id: u64,
        code: String,
        /// Trusted host JavaScript run before `code` (see `Execution::prelude`). Sent once
        /// per worker: later frames name it by `prelude_id` only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prelude: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prelude_id: Option<u64>,
        /// The preload's module (see `Execution::preload`): like the prelude, sent once
        /// per worker and named by `preload_id` afterwards.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preload: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preload_id: Option<u64>,
        /// The preload's script: short, so sent with every frame.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preload_script: Option<String>,
        functions: Vec<crate::FunctionName>,
        limits: Limits,
        /// A session's run: the session, the run's number, and the input its entry is
        /// called with (see `Session`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<(u64, u64, serde_json::Value)>,
    },
    /// Drop the session's live isolate.
    EndSession { session: u64 },
    /// A host call's completion; `result` is JSON text.
    HostResult {
        execution: u64,
        call: u64,
        result: Result<String, HostError>,
    },
}

/// Worker → supervisor.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum FromWorker {
    /// The worker is up; `layers` reports its hardening.
    Ready {
        pid: u32,
        layers: Vec<crate::harden::Layer>,
    },
    /// Start host function `binding` (an index into the execution's `functions`).
    HostCall {
        execution: u64,
        call: u64,
        binding: usize,
        args: String,
    },
    /// The execution's outcome.
    Outcome {
        execution: u64,
        outcome: Box<Outcome>,
    },
}

pub(super) fn write_frame<T: Serialize>(out: &mut impl Write, message: &T) -> io::Result<()> {
    // Serialised straight after a placeholder for the length: one buffer, no copy.
    let mut buf = Vec::with_capacity(256);
    buf.extend_from_slice(&[0; 4]);
    serde_json::to_writer(&mut buf, message).map_err(io::Error::other)?;
    let body = buf.len() - 4;
    if body > MAX_FRAME_BYTES {
        return Err(io::Error::other(format!(
            "frame of {body} bytes exceeds the {MAX_FRAME_BYTES}-byte limit"
        )));
    }
    let len = u32::try_from(body).map_err(io::Error::other)?;
    buf[..4].copy_from_slice(&len.to_le_bytes());
    // One write per frame: frames from several threads never interleave under the lock
    // their callers hold, and small frames go out in one segment.
    out.write_all(&buf)?;
    out.flush()
}

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub(super) fn read_frame<T: for<'de> Deserialize<'de>>(
    input: &mut impl Read,
) -> io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte limit"),
        ));
    }
    let mut body = vec![0u8; len];
    input.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad frame: {e}")))
}
