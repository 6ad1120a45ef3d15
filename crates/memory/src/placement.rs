//! Cluster mode's hook ([`Placement`]): which node serves a profile, and where its durable
//! copy lives. `islet serve --cluster` implements it on PostgreSQL; a single node has none
//! and runs every operation on its own file.
//!
//! Every `memory.*` operation — from an isolate, from Think's recall, or over HTTP — goes
//! through the bindings, and the bindings hand it to the placement with the operation's
//! name and JSON input. The placement runs it here (the local future it is given) and
//! makes its writes durable before the answer is returned, or sends the name and input to
//! the node that serves the profile.
//!
//! Architecture Invariant: a profile with a placement never checkpoints on its own
//! (`wal_autocheckpoint` is off); its log is shipped, then checkpointed by
//! [`crate::Profile::snapshot_image`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use sandbox::HostError;
use serde_json::Value;

use crate::Profile;

/// A `memory.*` operation run on this node: the operation of
/// [`Placement::run`], not started until awaited.
pub type Here<'a> = Pin<Box<dyn Future<Output = Result<Value, HostError>> + Send + 'a>>;

/// The future [`Placement::run`] returns.
pub type Placed<'a> = Pin<Box<dyn Future<Output = Result<Value, HostError>> + Send + 'a>>;

/// Where profiles are served and kept (cluster mode). See the module docs.
pub trait Placement: Send + Sync + fmt::Debug {
    /// Runs `operation` (a `memory.*` function's name, e.g. `remember`) with `args` on
    /// `profile`: awaits `here` when this node serves the profile (and ships its writes
    /// before answering), or makes the call on the node that does.
    fn run<'a>(
        &'a self,
        profile: &'a Profile,
        operation: &'static str,
        args: Value,
        here: Here<'a>,
    ) -> Placed<'a>;
}

/// The operations that write: refused through a read-only attachment, and followed by a
/// shipment of the profile's log.
pub const WRITES: [&str; 4] = ["remember", "forget", "forgetSession", "ingest"];
