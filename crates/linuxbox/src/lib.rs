//! Linux sandboxes for real programs, the top rung of islet's execution ladder: when
//! JavaScript is not enough, an agent runs Python, shell tools or compilers in a
//! [`Linuxbox`], with an API shaped like Cloudflare's Sandbox SDK (`exec`, streaming,
//! background processes, files, `runCode`).
//!
//! A sandbox is built by bubblewrap from namespaces (user, mount, PID, network with only
//! loopback, IPC, UTS, cgroup), a seccomp denylist ([`seccomp`]), rlimits and a cgroup
//! (`cgroup.rs`) where the machine allows, on a root filesystem of read-only binds of the
//! host's system directories (or an operator's rootfs) with a private `/tmp` and the
//! agent's workspace at `/workspace`. The workspace lives in SQLite (`store::Workspace`);
//! [`Linuxbox::sync_in`] and [`Linuxbox::sync_out`] copy what changed between it and the
//! sandbox's directory around each command.
//!
//! Architecture Invariant: nothing of islet's environment enters a sandbox: commands get
//! the configured base variables and their own, nothing else.
//!
//! Architecture Invariant: the host never follows a path a sandbox controls: files in the
//! sandbox's directory are opened beneath it with symlinks refused (`hostfs.rs`).

#![warn(missing_docs)]

mod cgroup;
mod config;
mod error;
mod hostfs;
pub mod init;
pub mod network;
pub mod probe;
mod protocol;
mod sandbox;
pub mod seccomp;
mod service;
mod spares;
mod sync;

pub use config::{Config, Limits, RootFs};
pub use error::{Error, Result};
pub use network::{
    ConnectFuture, Connector, HttpRefusal, HttpRequest, HttpResponse, RequestFuture,
};
pub use sandbox::{
    Capabilities, ExecOptions, ExecResult, ExecStream, Exit, FileEntry, LimitHit, Linuxbox,
    ProcessInfo, ProcessLogs, ProcessStatus, StreamEvent,
};
pub use service::{OPERATIONS, Sandboxes};
pub use spares::Spares;
pub use sync::{Prefer, Skipped, SyncReport};
