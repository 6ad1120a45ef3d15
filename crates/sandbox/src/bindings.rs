//! Host functions an execution may call, grouped in namespaces (`api.users.get`).
//!
//! Architecture Invariant: a binding is the only way a capability enters an isolate, and it
//! is handed in per execution; nothing is process-global.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};

/// The reserved binding that turns on `fetch`, `Request`, `Response` and `Headers`:
/// `(namespace, name)`. The isolate does not install it as `globalThis.__fetch`; `fetch.js`
/// receives it instead. Hosts bind their fetch policy (or a refusal) under this name.
pub const FETCH_BINDING: (&str, &str) = ("__fetch", "fetch");

/// An async host function: JSON in, JSON out. The argument is the single value the code
/// passed (`null` when it passed none).
pub type HostFn = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, HostError>> + Send + Sync>;

/// An error a host function reports to the code. JS sees an `Error` with this `name`,
/// `message` and `code` (plus `data` when set), which it can catch and inspect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostError {
    /// The JS error's `name` (`HostError` unless [`HostError::with_name`] changed it).
    pub name: String,
    /// Machine-readable code the guest can branch on, e.g. `NOT_FOUND`.
    pub code: String,
    /// What went wrong and what the code should do next, for the model to read.
    pub message: String,
    /// Structured details the code can inspect as the error's `data` property.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// The category, for the host's own translation (an HTTP status); the code never sees
    /// it, so it does not cross to worker processes.
    #[serde(skip)]
    pub kind: base::ErrorKind,
}

impl HostError {
    /// A `HostError` with a machine-readable `code` (e.g. `NOT_FOUND`) and a message that tells
    /// the code what to do next; its kind is `Internal` until [`HostError::with_kind`] says
    /// otherwise.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: "HostError".into(),
            code: code.into(),
            message: message.into(),
            data: None,
            kind: base::ErrorKind::Internal,
        }
    }

    /// Sets the category the host maps to a status; the guest never sees it.
    pub fn with_kind(mut self, kind: base::ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets the JS error's `name`, for errors the code should tell apart by class.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Attaches structured details, visible to the code as `error.data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.name, self.code, self.message)
    }
}

impl std::error::Error for HostError {}

/// Namespaces of host functions for one execution. Namespace paths are dotted JS paths
/// (`api.users`); each segment and each function name must be a JS identifier.
///
/// Cloning is cheap (the functions are shared until one clone is changed), and what a run
/// derives from them (the checked, ordered table) is computed once per set, not per run:
/// an agent hands the same bindings to every turn.
#[derive(Clone, Default)]
pub struct Bindings {
    inner: Arc<Shared>,
}

#[derive(Clone, Default)]
struct Shared {
    namespaces: BTreeMap<String, BTreeMap<String, Bound>>,
    /// Derived from `namespaces` on first use; reset by every change.
    table: OnceLock<Table>,
}

/// One bound function and how JavaScript calls it.
#[derive(Clone)]
struct Bound {
    function: HostFn,
    blocking: bool,
}

/// A bound function as the isolate installs it: its JS path, and whether a call returns
/// the result itself (blocking) rather than a promise. What crosses to a worker process.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FunctionName {
    /// Dotted JS path of the namespace (`api.users`).
    pub namespace: String,
    /// The function's name in it.
    pub name: String,
    /// Whether a call waits for the host's answer and returns it (see
    /// [`Bindings::blocking_function`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocking: bool,
}

/// The bindings as a run needs them: names and functions in the same stable order (a
/// host call names its function by index), or why they cannot be bound.
#[derive(Clone)]
pub(crate) struct Table {
    pub names: Arc<[FunctionName]>,
    pub functions: Arc<[HostFn]>,
    pub invalid: Option<String>,
}

impl fmt::Debug for Bindings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .iter()
            .map(|(ns, name, _)| format!("{ns}.{name}"))
            .collect();
        f.debug_struct("Bindings")
            .field("functions", &names)
            .finish()
    }
}

impl Bindings {
    /// An empty set: the code can call nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `namespace.name` backed by an async closure.
    pub fn function<F, Fut>(mut self, namespace: &str, name: &str, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, HostError>> + Send + 'static,
    {
        self.insert(namespace, name, Arc::new(move |args| Box::pin(f(args))));
        self
    }

    /// Adds `namespace.name` as a *blocking* function: JavaScript gets its result (or its
    /// error, thrown) from the call itself, not a promise, so getters and other synchronous
    /// code can use it. The isolate waits for the answer under the wall limit (time waiting
    /// is not the guest's CPU time); each call counts against the host call limit. Meant
    /// for quick lookups in data the host holds: `f` runs on the thread that starts the
    /// call (the isolate's in-process, the supervisor's reader with process isolation,
    /// where a slow answer delays that worker's other frames).
    pub fn blocking_function<F>(mut self, namespace: &str, name: &str, f: F) -> Self
    where
        F: Fn(Value) -> Result<Value, HostError> + Send + Sync + 'static,
    {
        let f: HostFn = Arc::new(move |args| Box::pin(std::future::ready(f(args))));
        self.bind(
            namespace,
            name,
            Bound {
                function: f,
                blocking: true,
            },
        );
        self
    }

    /// Adds (or replaces) `namespace.name`.
    pub fn insert(&mut self, namespace: &str, name: &str, f: HostFn) {
        self.bind(
            namespace,
            name,
            Bound {
                function: f,
                blocking: false,
            },
        );
    }

    fn bind(&mut self, namespace: &str, name: &str, bound: Bound) {
        let shared = Arc::make_mut(&mut self.inner);
        shared.table = OnceLock::new();
        shared
            .namespaces
            .entry(namespace.to_owned())
            .or_default()
            .insert(name.to_owned(), bound);
    }

    /// How many functions are bound, over all namespaces.
    pub fn len(&self) -> usize {
        self.inner.namespaces.values().map(BTreeMap::len).sum()
    }

    /// Whether no function is bound at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(namespace, name, function)` in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &HostFn)> {
        self.iter_bound()
            .map(|(ns, name, bound)| (ns, name, &bound.function))
    }

    fn iter_bound(&self) -> impl Iterator<Item = (&str, &str, &Bound)> {
        self.inner.namespaces.iter().flat_map(|(ns, fns)| {
            fns.iter()
                .map(move |(name, bound)| (ns.as_str(), name.as_str(), bound))
        })
    }

    /// The function at `namespace.name`, if bound.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&HostFn> {
        Some(&self.inner.namespaces.get(namespace)?.get(name)?.function)
    }

    /// These bindings with each call in a debug-level `host_call` span (`namespace`,
    /// `function`, `ok`), closed with its duration: what a trace shows of the host work a
    /// program did. Its target is under `islet`, so that `RUST_LOG=islet=debug` shows them
    /// wherever they are bound. When the level is off a call costs one level check.
    ///
    /// No explicit parent: holding the caller's span here would keep it open as long as
    /// the bindings live, delaying its close. Wrapping costs an allocation per function:
    /// meant for bindings built once (a Code Mode server's), not per turn.
    pub fn traced(&self) -> Bindings {
        self.traced_under(Arc::new(|| None))
    }

    /// [`Self::traced`] with each call's span under the span `parent` names at the time of
    /// the call (an agent's: the turn that is running).
    pub fn traced_under(
        &self,
        parent: Arc<dyn Fn() -> Option<tracing::Id> + Send + Sync>,
    ) -> Bindings {
        use tracing::Instrument as _;
        let mut traced = Bindings::new();
        for (namespace, name, bound) in self.iter_bound() {
            let f = Arc::clone(&bound.function);
            let blocking = bound.blocking;
            let parent = Arc::clone(&parent);
            let (ns, function) = (namespace.to_owned(), name.to_owned());
            traced.bind(
                namespace,
                name,
                Bound {
                    blocking,
                    function: Arc::new(move |input| {
                        // Off (the usual case): the call as it is, without a wrapping future.
                        if !tracing::enabled!(target: "islet::host_call", tracing::Level::DEBUG) {
                            return f(input);
                        }
                        let span = tracing::debug_span!(
                            target: "islet::host_call",
                            parent: parent(),
                            "host_call",
                            namespace = %ns,
                            function = %function,
                            ok = tracing::field::Empty
                        );
                        let call = f(input);
                        Box::pin(
                            async move {
                                let result = call.await;
                                tracing::Span::current().record("ok", result.is_ok());
                                result
                            }
                            .instrument(span),
                        )
                    }),
                },
            );
        }
        traced
    }

    /// The names and functions in order, each path segment checked to be an identifier
    /// JS code can write after a dot; built on the first run of this set of bindings.
    pub(crate) fn table(&self) -> &Table {
        self.inner.table.get_or_init(|| {
            let mut names = Vec::with_capacity(self.len());
            let mut functions = Vec::with_capacity(self.len());
            let mut invalid = None;
            for (ns, name, bound) in self.iter_bound() {
                if invalid.is_none()
                    && let Some(segment) = ns
                        .split('.')
                        .chain(std::iter::once(name))
                        .find(|s| !is_identifier(s))
                {
                    invalid = Some(format!(
                        "binding `{ns}.{name}`: `{segment}` is not a JavaScript identifier"
                    ));
                }
                names.push(FunctionName {
                    namespace: ns.to_owned(),
                    name: name.to_owned(),
                    blocking: bound.blocking,
                });
                functions.push(Arc::clone(&bound.function));
            }
            Table {
                names: names.into(),
                functions: functions.into(),
                invalid,
            }
        })
    }
}

/// What kind of JSON value `v` is, as error messages say it ("an array", "null").
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// Runs a host function on the JSON text of its argument and returns the JSON text of its
/// result. A panicking host function becomes a `HostError` with code `INTERNAL`.
pub(crate) async fn call(function: HostFn, args: String) -> Result<String, HostError> {
    use futures::FutureExt as _;
    let args = serde_json::from_str(&args).unwrap_or(Value::Null);
    match std::panic::AssertUnwindSafe(function(args))
        .catch_unwind()
        .await
    {
        Ok(Ok(value)) => serde_json::to_string(&value)
            .map_err(|e| HostError::new("BAD_RESULT", format!("the host result is not JSON: {e}"))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(HostError::new(
            "INTERNAL",
            "the host function failed unexpectedly",
        )),
    }
}
