//! Agent classes: one module per class in a directory, written by users in TypeScript or
//! JavaScript (`export default class Counter extends Agent { … }`).
//!
//! A module is turned into a script once, at load (`sandbox::normalize::module`); an
//! active agent's isolate evaluates it once, and each turn calls the runtime's driver. Loading also runs
//! the module once to learn the class's public methods, so bad modules fail at start-up,
//! with the file and position, not on the first call.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandbox::{Execution, Sandbox};
use serde::Deserialize;

use crate::error::Error;
use crate::runtime;

/// Module specifiers an agent module may import from (the runtime provides `Agent`).
pub const RUNTIME_MODULES: &[&str] = &["agents", "islet", "islet:agents"];

/// One loaded agent class.
#[derive(Debug)]
pub struct AgentClass {
    /// The class name: the address's `<class>` (`/agents/Counter/…`).
    pub name: String,
    /// Where it came from (a file path, or a name given by the embedder).
    pub origin: String,
    /// Public methods, callable by RPC, sorted. Methods starting with `_` and the lifecycle
    /// hooks (`onStart`, `onRequest`) are not.
    pub methods: Vec<String>,
    pub has_on_start: bool,
    pub has_on_request: bool,
    /// The module as a script ending in the turn driver's entry for the class: the code
    /// of each agent's sandbox session.
    pub(crate) turn_code: Arc<str>,
}

impl AgentClass {
    pub fn has_method(&self, method: &str) -> bool {
        self.methods
            .binary_search_by(|m| m.as_str().cmp(method))
            .is_ok()
    }

    /// `UnknownMethod` with the nearest name, for callers that named a method that is not there.
    pub(crate) fn unknown_method(&self, method: &str) -> Error {
        Error::UnknownMethod {
            class: self.name.clone(),
            method: method.to_owned(),
            nearest: codemode::suggest::nearest(method, self.methods.iter().map(String::as_str))
                .map(str::to_owned),
            available: if self.methods.is_empty() {
                "none".to_owned()
            } else {
                self.methods.join(", ")
            },
        }
    }
}

/// The classes a host serves, by name.
#[derive(Debug, Default, Clone)]
pub struct Classes {
    by_name: BTreeMap<String, Arc<AgentClass>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Described {
    methods: Vec<String>,
    on_start: bool,
    on_request: bool,
}

impl Classes {
    /// Loads every `.ts`, `.js` and `.mjs` file directly in `dir` (sorted, so errors are
    /// reported in a stable order).
    pub async fn load_dir(dir: &Path, sandbox: &Sandbox) -> Result<Classes, Error> {
        let read_error = |reason: String| Error::Module {
            path: dir.display().to_string(),
            reason,
        };
        let entries = std::fs::read_dir(dir).map_err(|e| {
            read_error(format!(
                "{e}; pass the directory holding one module per agent class (--agents DIR)"
            ))
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_file()
                    && matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("ts" | "js" | "mjs" | "mts")
                    )
                    && !p.to_string_lossy().ends_with(".d.ts")
            })
            .collect();
        files.sort();
        let mut sources = Vec::new();
        for file in files {
            let source = std::fs::read_to_string(&file).map_err(|e| Error::Module {
                path: file.display().to_string(),
                reason: e.to_string(),
            })?;
            sources.push((file.display().to_string(), source));
        }
        Self::from_sources(sources, sandbox).await
    }

    /// Loads classes from `(origin, source)` pairs; `origin` names the module in errors and,
    /// for an anonymous default export, gives the class its name (the file stem).
    pub async fn from_sources(
        sources: Vec<(String, String)>,
        sandbox: &Sandbox,
    ) -> Result<Classes, Error> {
        let mut by_name: BTreeMap<String, Arc<AgentClass>> = BTreeMap::new();
        for (origin, source) in sources {
            let class = load_one(&origin, &source, sandbox).await?;
            if let Some(first) = by_name.get(&class.name) {
                return Err(Error::DuplicateClass {
                    class: class.name.clone(),
                    first: first.origin.clone(),
                    second: origin,
                });
            }
            by_name.insert(class.name.clone(), Arc::new(class));
        }
        Ok(Classes { by_name })
    }

    pub fn get(&self, class: &str) -> Result<&Arc<AgentClass>, Error> {
        self.by_name.get(class).ok_or_else(|| Error::UnknownClass {
            class: class.to_owned(),
            nearest: codemode::suggest::nearest(class, self.by_name.keys().map(String::as_str))
                .map(str::to_owned),
            available: if self.by_name.is_empty() {
                "none (start the server with --agents DIR)".to_owned()
            } else {
                self.names().join(", ")
            },
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<AgentClass>> {
        self.by_name.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

async fn load_one(origin: &str, source: &str, sandbox: &Sandbox) -> Result<AgentClass, Error> {
    let fail = |reason: String| Error::Module {
        path: origin.to_owned(),
        reason,
    };
    let module = sandbox::normalize::module(source, RUNTIME_MODULES).map_err(|e| {
        fail(format!(
            "line {}, column {}: {}",
            e.line, e.column, e.message
        ))
    })?;
    let stem = Path::new(origin)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(origin);
    let (name, local) = match module.default_export() {
        Some("$default") => (stem.to_owned(), "$default".to_owned()),
        Some(local) => (local.to_owned(), local.to_owned()),
        None => match module.exports.as_slice() {
            [(exported, local)] => (exported.clone(), local.clone()),
            [] => {
                return Err(fail(
                    "it exports nothing; write `export default class Name extends Agent { … }`"
                        .to_owned(),
                ));
            }
            many => {
                return Err(fail(format!(
                    "it exports {} names ({}); one module holds one agent class: export it with `export default`",
                    many.len(),
                    many.iter()
                        .map(|(e, _)| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        },
    };
    if !is_class_name(&name) {
        return Err(fail(format!(
            "the class name `{name}` cannot be used in an address: use letters, digits and `_` (starting with a letter)"
        )));
    }
    let script = module.script;
    let describe = Execution::new(format!("{script}\n;return __isletDescribe({local});"))
        .prelude(runtime::PRELUDE)
        .bindings(runtime::describe_bindings());
    let outcome = sandbox.execute(describe).await;
    if let Some(e) = outcome.error {
        let at = match (e.line, e.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: "),
            _ => String::new(),
        };
        return Err(fail(format!("{at}{}: {}", e.name, e.message)));
    }
    let described: Described = serde_json::from_value(outcome.result.unwrap_or_default())
        .map_err(|e| fail(format!("cannot read the class description: {e}")))?;
    Ok(AgentClass {
        name,
        origin: origin.to_owned(),
        methods: described.methods,
        has_on_start: described.on_start,
        has_on_request: described.on_request,
        turn_code: format!("{script}\n;return __isletEntry({local});").into(),
    })
}

fn is_class_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
