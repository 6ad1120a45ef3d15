//! What a dynamic isolate is made with: the options an agent gives a run or a load
//! (bindings, limits, `fetch`, code tools), and a loaded module's kept isolate
//! ([`Loaded`]). The host keeps those per agent ([`LoadedMap`]), so they sit below it;
//! running them (and the bindings they get) is `isolates.rs`'s.

use std::collections::HashMap;
use std::sync::Arc;

use sandbox::{Bindings, HostFn, Limits, Session};
use serde::Deserialize;

use crate::address::Address;

/// What the agent passes as `options`.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Options {
    #[serde(default)]
    pub(crate) bindings: Choice,
    #[serde(default)]
    pub(crate) limits: LimitsIn,
    /// Bind `fetch` under the agent's own egress policy.
    #[serde(default)]
    pub(crate) fetch: bool,
    /// Set by `createCodeTool`: the tools its code calls as `codemode.<tool>(input)`, each
    /// run by the agent's code tool of this run.
    #[serde(default)]
    pub(crate) code_tools: Option<CodeTools>,
    /// Host-side only (extensions): the `memory.*` functions allowed, when not all.
    #[serde(skip)]
    pub(crate) memory_only: Option<&'static [&'static str]>,
    /// Host-side only (extensions): the `fetch` to bind instead of the agent's.
    #[serde(skip)]
    pub(crate) fetch_fn: Option<HostFn>,
}

/// The tools of one `createCodeTool` run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CodeTools {
    /// The run's id, which the agent's runtime maps to the tools' `execute` functions.
    pub(crate) run: String,
    pub(crate) names: Vec<String>,
}

/// The bindings the agent chooses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Choice {
    /// Methods of the agent's class the code may call as `agent.<method>(…)`.
    #[serde(default)]
    pub(crate) methods: Vec<String>,
    /// `"read"` or `"read-write"`; absent: no workspace.
    pub(crate) workspace: Option<String>,
    #[serde(default)]
    pub(crate) memory: bool,
}

/// Limits the agent asks for; each is capped by the agent's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct LimitsIn {
    pub(crate) cpu_ms: Option<u64>,
    pub(crate) wall_ms: Option<u64>,
    pub(crate) memory_mb: Option<usize>,
    pub(crate) host_calls: Option<u32>,
    pub(crate) output_kb: Option<usize>,
}

impl Options {
    /// An extension's bindings: its workspace access, its memory access (`Some(None)`:
    /// all of `memory.*`, `Some(Some(names))`: only those) and its own `fetch`.
    pub(crate) fn for_extension(
        workspace: Option<String>,
        memory: Option<Option<&'static [&'static str]>>,
        fetch: Option<HostFn>,
    ) -> Options {
        Options {
            bindings: Choice {
                methods: Vec::new(),
                workspace,
                memory: memory.is_some(),
            },
            memory_only: memory.flatten(),
            fetch_fn: fetch,
            ..Options::default()
        }
    }

    /// The agent's limits, lowered where the options ask.
    pub(crate) fn limits(&self, turn: Limits) -> Limits {
        let l = &self.limits;
        Limits {
            cpu_ms: l.cpu_ms.map_or(turn.cpu_ms, |v| v.min(turn.cpu_ms)),
            wall_ms: l.wall_ms.map_or(turn.wall_ms, |v| v.min(turn.wall_ms)),
            memory_bytes: l
                .memory_mb
                .map_or(turn.memory_bytes, |v| (v << 20).min(turn.memory_bytes)),
            host_calls: l
                .host_calls
                .map_or(turn.host_calls, |v| v.min(turn.host_calls)),
            output_bytes: l
                .output_kb
                .map_or(turn.output_bytes, |v| (v << 10).min(turn.output_bytes)),
            ..turn
        }
    }
}

/// What a kept module's isolate is made of.
pub(crate) struct Made {
    /// The module as a script ending in its entry.
    pub(crate) code: String,
    /// What runs before it (`isolates::WithImports::prelude`).
    pub(crate) prelude: Arc<str>,
    /// The functions the entry dispatches to.
    pub(crate) exports: Vec<String>,
    pub(crate) options: Options,
}

/// A module loaded with `this.isolates.load`.
pub(crate) struct Loaded {
    pub(crate) session: Session,
    /// The module as a script ending in its entry: `(input) => exports[input.fn](…)`.
    pub(crate) code: Arc<str>,
    /// `isolates::PRELUDE`, and the bundle of the packages the module imports.
    pub(crate) prelude: Arc<str>,
    pub(crate) exports: Vec<String>,
    pub(crate) options: Options,
    /// The bindings of its calls, built at the first and kept (with the agent database
    /// they were built over) when they do not depend on the call: no agent methods and
    /// no code tools, which go into the calling turn's wait. An extension's are such:
    /// a call then no longer builds its closures and checked name table each time.
    pub(crate) bindings:
        std::sync::Mutex<Option<(Arc<std::sync::Mutex<store::AgentDb>>, Bindings)>>,
}

impl Loaded {
    pub(crate) fn new(session: Session, made: Made) -> Loaded {
        let Made {
            code,
            prelude,
            exports,
            options,
        } = made;
        Loaded {
            session,
            code: code.into(),
            prelude,
            exports,
            options,
            bindings: std::sync::Mutex::new(None),
        }
    }
}

/// Loaded isolates of active agents, by agent and id.
pub(crate) type LoadedMap = std::sync::Mutex<HashMap<(Address, String), Arc<Loaded>>>;
