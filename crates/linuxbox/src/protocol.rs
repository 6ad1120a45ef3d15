//! The host ↔ init protocol: one JSON object per `SOCK_SEQPACKET` message (so no framing
//! is needed), a spawn carrying the command's stdin, stdout and stderr as `SCM_RIGHTS`
//! descriptors. The host keeps the other ends, so output never passes through the init.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

/// The largest message: a command line plus its environment.
pub(crate) const MAX_MESSAGE_BYTES: usize = 128 << 10;

/// The environment variable that tells the init which descriptor is its socket.
pub(crate) const SOCKET_ENV: &str = "ISLET_LINUXBOX_SOCKET";

/// Host → init.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Request {
    /// Start `argv` in its own process group with exactly `env`, in `cwd`; three
    /// descriptors (stdin, stdout, stderr) ride along.
    Spawn {
        id: u64,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        cwd: String,
    },
    /// Signal the process group of `id`.
    Kill { id: u64, signal: i32 },
}

/// Init → host.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum Event {
    Spawned {
        id: u64,
        pid: i32,
    },
    /// The spawn failed (no such program, not executable, bad cwd…).
    Failed {
        id: u64,
        message: String,
    },
    /// The process ended: `code` if it exited, `signal` if a signal killed it.
    Exited {
        id: u64,
        code: Option<i32>,
        signal: Option<i32>,
    },
}

/// Sends one message with `fds` attached, waiting for room (the init's side: the host's
/// reader thread always drains).
pub(crate) fn send(
    socket: BorrowedFd<'_>,
    message: &impl Serialize,
    fds: &[BorrowedFd<'_>],
) -> std::io::Result<()> {
    send_with(socket, message, fds, SendFlags::NOSIGNAL)
}

/// Sends one message without waiting (the host's side): an init that stopped reading (a
/// process in the sandbox can stop it) must not hold a host thread; a full socket is an
/// error instead.
pub(crate) fn try_send(
    socket: BorrowedFd<'_>,
    message: &impl Serialize,
    fds: &[BorrowedFd<'_>],
) -> std::io::Result<()> {
    send_with(
        socket,
        message,
        fds,
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
    )
}

fn send_with(
    socket: BorrowedFd<'_>,
    message: &impl Serialize,
    fds: &[BorrowedFd<'_>],
    flags: SendFlags,
) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the command and its environment are {} bytes, over the {} KiB limit; write \
                 long scripts to a file in /workspace and run that",
                bytes.len(),
                MAX_MESSAGE_BYTES >> 10
            ),
        ));
    }
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(std::io::Error::other(
            "too many descriptors for one message",
        ));
    }
    rustix::net::sendmsg(socket, &[IoSlice::new(&bytes)], &mut control, flags)?;
    Ok(())
}

/// Receives one message and the descriptors attached to it; `None` when the peer is gone.
pub(crate) fn recv<T: for<'de> Deserialize<'de>>(
    socket: impl AsFd,
    buffer: &mut [u8],
) -> std::io::Result<Option<(T, Vec<OwnedFd>)>> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let received = loop {
        match rustix::net::recvmsg(
            &socket,
            &mut [IoSliceMut::new(buffer)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = message {
            fds.extend(rights);
        }
    }
    if received.bytes == 0 {
        return Ok(None);
    }
    let message = serde_json::from_slice(&buffer[..received.bytes])
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(Some((message, fds)))
}
