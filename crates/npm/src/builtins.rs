//! Node's built-in modules as the bundle offers them: small JavaScript shims (islet's own,
//! in `js/node/`) for the ones common packages use, and for the ones that would reach
//! outside the isolate (files, sockets, processes) a module whose functions throw an
//! error naming the capability to use instead.

/// Every built-in name islet recognises (without `node:`).
pub(crate) const NAMES: &[&str] = &[
    "assert",
    "assert/strict",
    "buffer",
    "crypto",
    "events",
    "path",
    "path/posix",
    "process",
    "string_decoder",
    "timers",
    "timers/promises",
    "url",
    "util",
    "util/types",
    "os",
    "querystring",
    "perf_hooks",
    "fs",
    "fs/promises",
    "net",
    "tls",
    "dgram",
    "dns",
    "http",
    "https",
    "http2",
    "child_process",
    "worker_threads",
    "cluster",
    "stream",
    "stream/promises",
    "zlib",
    "vm",
    "module",
    "readline",
    "v8",
    "async_hooks",
    "inspector",
];

/// The canonical name of a built-in, if `name` is one.
pub(crate) fn find(name: &str) -> Option<&'static str> {
    NAMES.iter().copied().find(|n| *n == name)
}

/// The module id of a built-in in the bundle.
pub(crate) fn id(name: &str) -> String {
    format!("node:{name}")
}

/// The body of a built-in's module function (`module, exports, require, __x`).
pub(crate) fn source(name: &str) -> String {
    let shim = match name {
        "assert" | "assert/strict" => include_str!("js/node/assert.js"),
        "buffer" => include_str!("js/node/buffer.js"),
        "crypto" => include_str!("js/node/crypto.js"),
        "events" => include_str!("js/node/events.js"),
        "path" | "path/posix" => include_str!("js/node/path.js"),
        "process" => include_str!("js/node/process.js"),
        "string_decoder" => include_str!("js/node/string_decoder.js"),
        "timers" => include_str!("js/node/timers.js"),
        "timers/promises" => "module.exports = require(\"node:timers\").promises;",
        "url" => include_str!("js/node/url.js"),
        "util" => include_str!("js/node/util.js"),
        "util/types" => "module.exports = require(\"node:util\").types;",
        "os" => include_str!("js/node/os.js"),
        "querystring" => include_str!("js/node/querystring.js"),
        "stream" => include_str!("js/node/stream.js"),
        "stream/promises" => "module.exports = require(\"node:stream\").promises;",
        "perf_hooks" => {
            "module.exports = { performance: globalThis.performance || { now: () => Date.now(), timeOrigin: Date.now() } };"
        }
        other => return unavailable(other),
    };
    shim.to_owned()
}

/// Built-ins whose shim requires other built-ins (so the bundle includes those too).
pub(crate) fn requires(name: &str) -> &'static [&'static str] {
    match name {
        "assert" | "assert/strict" => &["util"],
        "crypto" => &["buffer"],
        "string_decoder" => &["buffer"],
        "timers/promises" => &["timers"],
        "util" => &["buffer"],
        "util/types" => &["util"],
        "url" => &["querystring", "path"],
        "stream" => &["events", "util"],
        "stream/promises" => &["stream"],
        "events" | "buffer" | "path" | "path/posix" | "process" | "timers" | "os"
        | "querystring" | "perf_hooks" => &[],
        _ => &[],
    }
}

/// What to use instead of a built-in the isolate cannot have.
fn instead(name: &str) -> &'static str {
    match name {
        "fs" | "fs/promises" => {
            "there is no filesystem in the isolate: keep data in variables, use the workspace binding when the host gives one, or run programs that need files in the Linux sandbox"
        }
        "net" | "tls" | "dgram" | "dns" | "http" | "https" | "http2" => {
            "there are no sockets in the isolate: use `fetch` (for the hosts the operator allowed with --allow-fetch)"
        }
        "child_process" | "worker_threads" | "cluster" => {
            "the isolate cannot start processes or threads: run programs in the Linux sandbox"
        }
        _ => {
            "the isolate does not offer it: use Web APIs (fetch, crypto, TextEncoder, URL) or the Linux sandbox"
        }
    }
}

/// A module that loads (so packages that merely `require` it at the top still work) and
/// throws, naming the alternative, from any function used.
fn unavailable(name: &str) -> String {
    let message = format!(
        "node:{name} is not available in the sandbox: {}",
        instead(name)
    );
    format!(
        "var message = {};\n{}",
        crate::transform::js_string(&message),
        include_str!("js/node/unavailable.js")
    )
}
