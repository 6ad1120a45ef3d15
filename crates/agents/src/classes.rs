//! Agent classes: one module per class in a directory, written by users in TypeScript or
//! JavaScript (`export default class Counter extends Agent { … }`).
//!
//! A module is turned into a script once, at load (`sandbox::normalize::module`); an
//! active agent's isolate evaluates it once, and each turn calls the runtime's driver. Loading also runs
//! the module once to learn the class's methods, so bad modules fail at start-up,
//! with the file and position, not on the first call.
//!
//! # Which methods are callable
//!
//! A method is *callable* (over HTTP, from Code Mode at `/mcp`, from other agents) when it
//! is public: not TypeScript `private`/`protected`, not `#private`, not named with a leading
//! `_`, not a lifecycle hook (`onStart`, `onRequest`). A class that marks methods, with
//! `@callable()` before them or a `static callable = ["name", …]` list, makes exactly the
//! marked ones callable. Schedules may name any method of the class.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use sandbox::normalize::{ClassShape, MethodShape, ParamShape, Visibility};
use sandbox::{Bindings, Execution, Sandbox};
use serde::Deserialize;

use crate::error::Error;
use crate::prelude;

/// Module specifiers an agent module may import from (the runtime provides `Agent`).
pub const RUNTIME_MODULES: &[&str] = &["agents", "islet", "islet:agents"];

/// Serves a class module's imports of packages (anything but [`RUNTIME_MODULES`]). The
/// embedder implements it (islet with its npm rung), so this crate knows no registry.
pub trait ModulePackages: Send + Sync {
    /// `source` with its package imports rewritten to reads from a script evaluated before
    /// it (every line where it was, so positions in errors still hold), and that script;
    /// `None` when the module imports no packages. `Err` says why the module cannot have
    /// them (packages not offered, a version not found), reported as the module's error.
    fn prepare<'a>(&'a self, source: &'a str) -> PackagesFuture<'a>;

    /// [`ModulePackages::prepare`] for code an agent gives at run time (an extension's
    /// module, `this.isolates.run/load` code, a code tool's program), where every import
    /// is a package's. `pinned`: the versions an earlier preparation chose
    /// ([`WithPackages::versions`]), to be used again without resolving them (an
    /// extension installed earlier is called with what it was checked with).
    fn prepare_code<'a>(
        &'a self,
        code: &'a str,
        pinned: Option<&'a BTreeMap<String, String>>,
    ) -> PackagesFuture<'a>;

    /// What code given at run time may import, in a sentence for a model: a code tool's
    /// description (`createCodeTool`) mentions packages only when they are offered.
    /// `None`: nothing (the default).
    fn code_imports_note(&self) -> Option<String> {
        None
    }
}

/// What [`ModulePackages::prepare`] returns.
pub type PackagesFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<WithPackages>, String>> + Send + 'a>>;

/// A class module whose package imports read from `prelude`.
#[derive(Debug, Clone)]
pub struct WithPackages {
    /// The module, its package imports rewritten.
    pub source: String,
    /// The packages' bundle, evaluated before the module (after the agent runtime).
    pub prelude: Arc<str>,
    /// `name@version` of every package in the bundle.
    pub packages: Vec<String>,
    /// The version chosen for each package import, by specifier as written.
    pub versions: BTreeMap<String, String>,
}

/// One loaded agent class.
#[derive(Debug)]
pub struct AgentClass {
    /// The class name: the address's `<class>` (`/agents/Counter/…`).
    pub name: String,
    /// Where it came from (a file path, or a name given by the embedder).
    pub origin: String,
    /// Callable methods (see the module docs), sorted.
    pub methods: Vec<String>,
    /// Every method of the class but the lifecycle hooks, sorted: what a schedule may name.
    pub all_methods: Vec<String>,
    /// What the source declares about each callable method, by name.
    pub signatures: BTreeMap<String, Signature>,
    /// Whether the class marks its callable methods (`@callable()`, `static callable`).
    pub marked: bool,
    /// The class defines `onStart`, run before an agent's first turn after activation.
    pub has_on_start: bool,
    /// The class defines `onRequest`, so HTTP requests to its agents reach it.
    pub has_on_request: bool,
    /// The class handles fibers a crash (or a failed turn) left running: `runFiber` work.
    pub has_on_fiber_recovered: bool,
    /// The class extends `Think`: a chat agent whose turns the host's agent loop runs.
    pub think: bool,
    /// The memory profiles the class attaches (`static memory`), in its order, as written:
    /// the embedder checks the names and binds `memory.*` over them
    /// ([`crate::HostConfig::class_bindings`]).
    pub memory: Vec<MemoryAttachment>,
    /// The class's Linux sandbox (`static sandbox = true` or `{ network: [...] }`); `None`:
    /// its agents have none.
    pub sandbox: Option<crate::linux::ClassSandbox>,
    /// The module as a script ending in the turn driver's entry for the class: the code
    /// of each agent's sandbox session.
    pub(crate) turn_code: Arc<str>,
    /// What each agent's isolate evaluates before `turn_code`: the agent runtime, then the
    /// bundle of the packages the module imports, if any.
    pub(crate) prelude: Arc<str>,
}

/// One entry of a class's `static memory`: `"team/conventions"` or
/// `{ profile: "team/docs", readOnly: true }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryAttachment {
    /// The profile's name, e.g. `team/conventions`.
    pub profile: String,
    /// Bind only the reading functions (`recall`, `list`, `get`) over this profile.
    pub read_only: bool,
}

/// A callable method as its source declares it: what Code Mode shows the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The parameters as the source declares them.
    pub params: Vec<ParamShape>,
    /// The declared result type, `Promise<…>` unwrapped (a call is always awaited).
    pub returns: Option<String>,
    /// The method's `/** … */` comment.
    pub doc: Option<String>,
}

impl Signature {
    /// `(by?: number, ...tags: string[])`: the parameters in TypeScript.
    pub fn params_ts(&self) -> String {
        if self.params.is_empty() {
            return "()".to_owned();
        }
        let list: Vec<String> = self.params.iter().map(param_ts).collect();
        format!("({})", list.join(", "))
    }

    /// `[by?: number]`: the parameters as a labelled tuple, the type of a call's `args`.
    pub fn args_ts(&self) -> String {
        let list: Vec<String> = self.params.iter().map(param_ts).collect();
        format!("[{}]", list.join(", "))
    }

    /// Whether a call must pass arguments.
    pub fn requires_args(&self) -> bool {
        self.params.iter().any(|p| !p.optional && !p.rest)
    }

    /// The result type in TypeScript (`unknown` when the source does not say).
    pub fn returns_ts(&self) -> &str {
        self.returns.as_deref().unwrap_or("unknown")
    }
}

fn param_ts(p: &ParamShape) -> String {
    let ty = p.ty.as_deref();
    if p.rest {
        return format!("...{}: {}", p.name, ty.unwrap_or("unknown[]"));
    }
    let mark = if p.optional { "?" } else { "" };
    format!("{}{mark}: {}", p.name, ty.unwrap_or("unknown"))
}

/// `T` of `Promise<T>`; anything else as it is.
fn awaited(ty: &str) -> String {
    ty.strip_prefix("Promise<")
        .and_then(|rest| rest.strip_suffix('>'))
        .map_or(ty, str::trim)
        .to_owned()
}

impl AgentClass {
    /// Whether `method` is callable from outside the agent.
    pub fn has_method(&self, method: &str) -> bool {
        self.methods
            .binary_search_by(|m| m.as_str().cmp(method))
            .is_ok()
    }

    /// Whether a schedule may call `method` (any method but the lifecycle hooks).
    pub fn has_any_method(&self, method: &str) -> bool {
        self.all_methods
            .binary_search_by(|m| m.as_str().cmp(method))
            .is_ok()
    }

    /// `UnknownMethod` with the nearest name, for callers that named a method that is not there.
    pub(crate) fn unknown_method(&self, method: &str) -> Error {
        Error::UnknownMethod {
            class: self.name.clone(),
            method: method.to_owned(),
            nearest: base::suggest::nearest(method, self.methods.iter().map(String::as_str))
                .map(str::to_owned),
            hidden: self.has_any_method(method),
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
    callable: Option<Vec<String>>,
    on_start: bool,
    on_request: bool,
    #[serde(default)]
    on_fiber_recovered: bool,
    #[serde(default)]
    think: bool,
    #[serde(default)]
    memory: Vec<MemoryAttachment>,
    #[serde(default)]
    sandbox: Option<crate::linux::ClassSandbox>,
}

impl Classes {
    /// Loads every `.ts`, `.js` and `.mjs` file directly in `dir` (sorted, so errors are
    /// reported in a stable order).
    pub async fn load_dir(dir: &Path, sandbox: &Sandbox) -> Result<Classes, Error> {
        Self::load_dir_with(dir, sandbox, None).await
    }

    /// [`Classes::load_dir`], with modules' package imports served by `packages` (without
    /// it, a module that imports a package is refused).
    pub async fn load_dir_with(
        dir: &Path,
        sandbox: &Sandbox,
        packages: Option<&dyn ModulePackages>,
    ) -> Result<Classes, Error> {
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
        Self::from_sources_with(sources, sandbox, packages).await
    }

    /// Loads classes from `(origin, source)` pairs; `origin` names the module in errors and,
    /// for an anonymous default export, gives the class its name (the file stem).
    pub async fn from_sources(
        sources: Vec<(String, String)>,
        sandbox: &Sandbox,
    ) -> Result<Classes, Error> {
        Self::from_sources_with(sources, sandbox, None).await
    }

    /// [`Classes::from_sources`], with modules' package imports served by `packages`.
    pub async fn from_sources_with(
        sources: Vec<(String, String)>,
        sandbox: &Sandbox,
        packages: Option<&dyn ModulePackages>,
    ) -> Result<Classes, Error> {
        let mut by_name: BTreeMap<String, Arc<AgentClass>> = BTreeMap::new();
        for (origin, source) in sources {
            let class = load_one(&origin, &source, sandbox, packages).await?;
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

    /// The class named `class`, or an error naming the nearest class and all there are.
    pub fn get(&self, class: &str) -> Result<&Arc<AgentClass>, Error> {
        self.by_name.get(class).ok_or_else(|| Error::UnknownClass {
            class: class.to_owned(),
            nearest: base::suggest::nearest(class, self.by_name.keys().map(String::as_str))
                .map(str::to_owned),
            available: if self.by_name.is_empty() {
                "none (start the server with --agents DIR)".to_owned()
            } else {
                self.names().join(", ")
            },
        })
    }

    /// The class names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }

    /// Every loaded class, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<AgentClass>> {
        self.by_name.values()
    }

    /// Whether no class was loaded (the server was started without `--agents`).
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// TypeScript declarations of how code calls agents: `agents.<Class>("name")` is a stub
    /// whose methods are the class's callable ones, typed as their source declares them
    /// (`Promise<…>` of the declared result), with their doc comments, and
    /// `.subAgent("Class", "name")` reaches a sub-agent. What Code Mode and Think show the
    /// model; deterministic (classes and methods sorted). Types a module declares for
    /// itself (`interface Summary`) are named, not repeated.
    pub fn declarations(&self) -> String {
        let mut out = String::from(
            "// Durable agents. agents.<Class>(\"name\") is the agent of that class and name (created on\n\
             // first use); each method call is one transaction of that agent. Arguments and results\n\
             // are data (what structuredClone accepts: no functions, symbols or cycles).\n\
             declare namespace Agents {\n",
        );
        for class in self.iter() {
            out.push_str(&format!("  interface {} {{\n", class.name));
            for method in &class.methods {
                let signature = class.signatures.get(method);
                if let Some(doc) = signature.and_then(|s| s.doc.as_deref()) {
                    out.push_str(&doc_comment(doc, "    "));
                }
                let (params, result) = match signature {
                    Some(s) => (s.params_ts(), s.returns_ts().to_owned()),
                    None => ("(...args: unknown[])".to_owned(), "unknown".to_owned()),
                };
                out.push_str(&format!(
                    "    {}{params}: Promise<{result}>;\n",
                    method_key(method)
                ));
            }
            out.push_str(
                "    /** A sub-agent of this agent (its parent creates it: this.subAgent(Class, name)). */\n\
                 \x20   subAgent<C extends keyof $Classes>(className: C, name: string): $Classes[C];\n  }\n",
            );
        }
        out.push_str("  interface $Classes {\n");
        for class in self.iter() {
            out.push_str(&format!("    {0}: {0};\n", class.name));
        }
        out.push_str(
            "  }\n}\n\
             declare const agents: { [C in keyof Agents.$Classes]: (name: string) => Agents.$Classes[C] };\n",
        );
        out
    }
}

/// `/** … */` at `indent`, one line per line of `doc` (`*/` in it cannot end the comment).
fn doc_comment(doc: &str, indent: &str) -> String {
    let doc = doc.replace("*/", "*\\/");
    let lines: Vec<&str> = doc.lines().map(str::trim_end).collect();
    match lines.as_slice() {
        [one] => format!("{indent}/** {one} */\n"),
        _ => {
            let mut out = format!("{indent}/**\n");
            for line in lines {
                out.push_str(&format!("{indent} * {line}\n").replace(" * \n", " *\n"));
            }
            out.push_str(&format!("{indent} */\n"));
            out
        }
    }
}

/// A method's key in an object type: as written when it is an identifier, else quoted.
fn method_key(method: &str) -> String {
    if is_identifier_name(method) {
        method.to_owned()
    } else {
        serde_json::to_string(method).unwrap_or_else(|_| format!("\"{method}\""))
    }
}

fn is_identifier_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

async fn load_one(
    origin: &str,
    source: &str,
    sandbox: &Sandbox,
    packages: Option<&dyn ModulePackages>,
) -> Result<AgentClass, Error> {
    let fail = |reason: String| Error::Module {
        path: origin.to_owned(),
        reason,
    };
    // Packages are resolved here, once per class and host-side: every agent of the class
    // then evaluates the same bundle, with no registry in sight.
    let with_packages = match packages {
        Some(packages) => packages.prepare(source).await.map_err(fail)?,
        None => None,
    };
    let (source, prelude) = match &with_packages {
        Some(w) => (
            w.source.as_str(),
            Arc::<str>::from(format!("{}\n;{}", prelude::PRELUDE, w.prelude)),
        ),
        None => (source, Arc::clone(&prelude::SHARED_PRELUDE)),
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
        Some(default) => {
            // Other exports would be silently unreachable: nothing imports an agent module.
            let others: Vec<&str> = module
                .exports
                .iter()
                .filter(|(exported, _)| exported != "default")
                .map(|(exported, _)| exported.as_str())
                .collect();
            if !others.is_empty() {
                return Err(fail(format!(
                    "it exports {} besides its default class; nothing can import from an agent \
                     module, so remove `export` from them (types may stay exported)",
                    others
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if default == "$default" {
                (stem.to_owned(), default.to_owned())
            } else {
                (default.to_owned(), default.to_owned())
            }
        }
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
    let lines = script.lines().count().max(1);
    let describe = Execution::new(format!("{script}\n;return __isletDescribe({local});"))
        .prelude(Arc::clone(&prelude))
        // Describing a class runs no agent: it has no database to bind.
        .bindings(Bindings::new());
    let outcome = sandbox.execute(describe).await;
    if let Some(e) = outcome.error {
        // A position past the module's last line is in the code appended to describe it:
        // the class itself is what is wrong, not a line of it.
        let at = match (e.line, e.column) {
            (Some(l), Some(c)) if (l as usize) <= lines => format!("line {l}, column {c}: "),
            _ => String::new(),
        };
        return Err(fail(format!("{at}{}: {}", e.name, e.message)));
    }
    let described: Described = serde_json::from_value(outcome.result.unwrap_or_default())
        .map_err(|e| fail(format!("cannot read the class description: {e}")))?;
    let surface = Surface::new(&module.classes, &local, &described).map_err(fail)?;
    Ok(AgentClass {
        name,
        origin: origin.to_owned(),
        signatures: surface.signatures,
        methods: surface.callable,
        all_methods: described.methods,
        marked: surface.marked,
        has_on_start: described.on_start,
        has_on_request: described.on_request,
        has_on_fiber_recovered: described.on_fiber_recovered,
        think: described.think,
        memory: described.memory,
        sandbox: described.sandbox,
        turn_code: format!("{script}\n;return __isletEntry({local});").into(),
        prelude,
    })
}

/// The callable methods of a class and their signatures, from what the running class
/// reports (`described`) and what its source says (`shapes`).
struct Surface {
    callable: Vec<String>,
    signatures: BTreeMap<String, Signature>,
    marked: bool,
}

impl Surface {
    fn new(shapes: &[ClassShape], local: &str, described: &Described) -> Result<Surface, String> {
        // The class and the superclasses declared in the same module, nearest first.
        let mut chain: Vec<&ClassShape> = Vec::new();
        let mut next = Some(local);
        while let Some(binding) = next {
            let Some(shape) = shapes.iter().find(|c| c.binding == binding) else {
                break;
            };
            if chain.iter().any(|c| c.binding == shape.binding) {
                break;
            }
            chain.push(shape);
            next = shape.extends.as_deref();
        }
        let source = |method: &str| -> Option<&MethodShape> {
            chain
                .iter()
                .flat_map(|c| c.methods.iter())
                .find(|m| m.name == method && !m.is_static)
        };
        let mut marks: BTreeSet<&str> = chain
            .iter()
            .flat_map(|c| c.methods.iter())
            .filter(|m| m.callable && !m.is_static)
            .map(|m| m.name.as_str())
            .collect();
        if let Some(list) = &described.callable {
            marks.extend(list.iter().map(String::as_str));
        }
        let marked = !marks.is_empty() || described.callable.is_some();
        for mark in &marks {
            if !described.methods.iter().any(|m| m == mark) {
                return Err(format!(
                    "`{mark}` is marked callable but is not a method of the class (its methods: {}); \
                     fix the name in `static callable` or remove it",
                    if described.methods.is_empty() {
                        "none".to_owned()
                    } else {
                        described.methods.join(", ")
                    }
                ));
            }
            if let Some(why) = hidden(mark, source(mark)) {
                return Err(format!(
                    "`{mark}` is marked callable but it is {why}: make it public or do not mark it"
                ));
            }
        }
        let callable: Vec<String> = described
            .methods
            .iter()
            .filter(|m| hidden(m, source(m)).is_none())
            .filter(|m| !marked || marks.contains(m.as_str()))
            .cloned()
            .collect();
        let signatures = callable
            .iter()
            .map(|m| {
                let signature = match source(m) {
                    Some(shape) => Signature {
                        params: shape.params.clone(),
                        returns: shape.returns.as_deref().map(awaited),
                        doc: shape.doc.clone(),
                    },
                    // Defined at run time (assigned to the prototype): nothing to read.
                    None => Signature {
                        params: vec![ParamShape {
                            name: "args".to_owned(),
                            ty: None,
                            optional: true,
                            rest: true,
                        }],
                        returns: None,
                        doc: None,
                    },
                };
                (m.clone(), signature)
            })
            .collect();
        Ok(Surface {
            callable,
            signatures,
            marked,
        })
    }
}

/// Why `method` is not callable whatever the marks, if it is not.
fn hidden(method: &str, source: Option<&MethodShape>) -> Option<&'static str> {
    if method.starts_with('_') {
        return Some("named with a leading `_` (private by convention)");
    }
    match source.map(|m| m.visibility) {
        Some(Visibility::Private) => Some("`private`"),
        Some(Visibility::Protected) => Some("`protected`"),
        _ => None,
    }
}

fn is_class_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
