//! The `mcpServers` configuration of `islet mcp proxy`, in the JSON format Claude Desktop,
//! Cursor and Claude Code share, plus OpenAPI entries so one proxy can mix both kinds:
//!
//! ```json
//! {"mcpServers": {
//!   "fs":     {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."], "env": {"K": "${K}"}},
//!   "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
//!   "pets":   {"openapi": "petstore.json", "baseUrl": "https://petstore.example", "headers": {}}
//! }}
//! ```
//!
//! `${VAR}` (and `${VAR:-default}`) in any string value expands from the environment here,
//! host-side, so secrets never appear in the catalog. Every error names the file and the
//! entry, since a config with ten servers is otherwise hard to debug.

use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::Error;

/// One upstream of the proxy, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEntry {
    /// The key in `mcpServers`.
    pub name: String,
    /// How the upstream is reached.
    pub kind: ServerKind,
    /// `timeoutMs`: per call, overriding the proxy's default.
    pub timeout: Option<Duration>,
}

/// How the proxy reaches one upstream: a child process, an HTTP endpoint, or an OpenAPI API.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerKind {
    /// A child process speaking MCP over stdin/stdout.
    Stdio {
        /// The program to start.
        command: String,
        /// Its arguments.
        args: Vec<String>,
        /// Environment variables set for it.
        env: Vec<(String, String)>,
        /// Its working directory; the proxy's when `None`.
        cwd: Option<String>,
    },
    /// A streamable HTTP MCP endpoint.
    Http {
        /// The endpoint's URL.
        url: String,
        /// Headers sent with every request (credentials).
        headers: Vec<(String, String)>,
    },
    /// An HTTP API described by an OpenAPI document (path or URL).
    OpenApi {
        /// The spec's path or URL.
        spec: String,
        /// Overrides the spec's server URL.
        base_url: Option<String>,
        /// Headers added host-side to every request (credentials).
        headers: Vec<(String, String)>,
    },
}

/// A parsed configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProxyConfig {
    /// The upstreams, in file order.
    pub servers: Vec<ServerEntry>,
}

const ENTRY_KEYS: &[&str] = &[
    "command",
    "args",
    "env",
    "cwd",
    "type",
    "url",
    "headers",
    "openapi",
    "baseUrl",
    "timeoutMs",
    "disabled",
];

/// Reads and parses `path`, expanding `${VAR}` from the process environment. Relative paths
/// in the file are the file's own: a `command` with a `/` in it (`node_modules/.bin/x`; a bare
/// name such as `npx` is still looked up on `PATH`), `cwd` and an `openapi` file are resolved
/// against the folder holding the config, so it works from any working directory. `args` are
/// passed as written: only the server knows which of them are paths, and it reads them
/// relative to its `cwd` (the proxy's working directory unless `cwd` is set).
pub fn load(path: &Path) -> Result<ProxyConfig, Error> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::McpConfig {
        origin: origin.clone(),
        reason: format!("cannot read the file: {e}; check that the path exists and is readable"),
    })?;
    let mut config = parse(&text, &origin, |name| std::env::var(name).ok())?;
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    config.resolve_relative_to(&folder);
    Ok(config)
}

impl ProxyConfig {
    /// Resolves the relative paths of every entry against `folder` (see [`load`]).
    pub fn resolve_relative_to(&mut self, folder: &Path) {
        let join = |p: &str| folder.join(p).display().to_string();
        for server in &mut self.servers {
            match &mut server.kind {
                ServerKind::Stdio { command, cwd, .. } => {
                    if command.contains('/') && !Path::new(command.as_str()).is_absolute() {
                        *command = join(command);
                    }
                    if let Some(dir) = cwd
                        && !Path::new(dir.as_str()).is_absolute()
                    {
                        *dir = join(dir);
                    }
                }
                ServerKind::OpenApi { spec, .. } => {
                    let url = spec.starts_with("http://") || spec.starts_with("https://");
                    if !url && !Path::new(spec.as_str()).is_absolute() {
                        *spec = join(spec);
                    }
                }
                ServerKind::Http { .. } => {}
            }
        }
    }
}

/// Parses a configuration; `env` looks variables up (the process environment in [`load`]).
pub fn parse(
    text: &str,
    origin: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<ProxyConfig, Error> {
    let fail = |reason: String| Error::McpConfig {
        origin: origin.to_owned(),
        reason,
    };
    let root: Value =
        serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON: {e}")))?;
    let Value::Object(root) = root else {
        return Err(fail(
            "expected a JSON object with an `mcpServers` object".to_owned(),
        ));
    };
    for key in root.keys().filter(|k| *k != "mcpServers") {
        // Claude Desktop keeps other settings in the same file: not ours to judge.
        tracing::debug!(%origin, key, "ignoring top-level key");
    }
    let servers = match root.get("mcpServers") {
        Some(Value::Object(servers)) => servers,
        Some(_) => return Err(fail("`mcpServers` must be an object".to_owned())),
        None => {
            return Err(fail(
                "no `mcpServers` object; expected {\"mcpServers\": {\"name\": {\"command\": …}}}"
                    .to_owned(),
            ));
        }
    };
    let mut config = ProxyConfig::default();
    for (name, entry) in servers {
        let entry_fail = |reason: String| fail(format!("server `{name}`: {reason}"));
        let Value::Object(entry) = entry else {
            return Err(entry_fail("must be an object".to_owned()));
        };
        if let Some(parsed) = parse_entry(name, entry, &env).map_err(entry_fail)? {
            config.servers.push(parsed);
        }
    }
    if config.servers.is_empty() {
        return Err(fail("`mcpServers` lists no (enabled) server".to_owned()));
    }
    Ok(config)
}

fn parse_entry(
    name: &str,
    entry: &Map<String, Value>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<ServerEntry>, String> {
    if name.trim().is_empty() {
        return Err("the name is empty".to_owned());
    }
    for key in entry.keys() {
        if !ENTRY_KEYS.contains(&key.as_str()) {
            let hint = base::suggest::did_you_mean(base::suggest::nearest(
                key,
                ENTRY_KEYS.iter().copied(),
            ));
            return Err(format!(
                "unknown key `{key}`{hint}; known keys: {}",
                ENTRY_KEYS.join(", ")
            ));
        }
    }
    if entry.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let string = |key: &str| -> Result<Option<String>, String> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => expand(s, env).map(Some),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let map = |key: &str| -> Result<Vec<(String, String)>, String> {
        match entry.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), expand(s, env)?)),
                    _ => Err(format!("`{key}.{k}` must be a string")),
                })
                .collect(),
            Some(_) => Err(format!("`{key}` must be an object of strings")),
        }
    };
    let timeout = match entry.get("timeoutMs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => return Err("`timeoutMs` must be a positive integer".to_owned()),
        },
    };
    let kind_of = string("type")?;
    let command = string("command")?;
    let url = string("url")?;
    let openapi = string("openapi")?;
    let present = [
        command.is_some().then_some("command"),
        url.is_some().then_some("url"),
        openapi.is_some().then_some("openapi"),
    ];
    let present: Vec<&str> = present.into_iter().flatten().collect();
    let only = |allowed: &[&str]| -> Result<(), String> {
        for key in entry.keys() {
            let general = ["type", "timeoutMs", "disabled"].contains(&key.as_str());
            if !general && !allowed.contains(&key.as_str()) {
                return Err(format!(
                    "`{key}` does not apply here; this entry is {} (keys: {})",
                    present.first().copied().unwrap_or("?"),
                    allowed.join(", ")
                ));
            }
        }
        Ok(())
    };
    let kind = match (command, url, openapi) {
        (Some(command), None, None) => {
            only(&["command", "args", "env", "cwd"])?;
            if command.trim().is_empty() {
                return Err("`command` is empty".to_owned());
            }
            let args = match entry.get("args") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => expand(s, env),
                        _ => Err("`args` must be an array of strings".to_owned()),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err("`args` must be an array of strings".to_owned()),
            };
            ServerKind::Stdio {
                command,
                args,
                env: map("env")?,
                cwd: string("cwd")?,
            }
        }
        (None, Some(url), None) => {
            only(&["url", "headers"])?;
            if kind_of.as_deref() == Some("sse") {
                return Err(
                    "the legacy SSE transport is not supported; use the server's streamable HTTP endpoint (usually `/mcp`)"
                        .to_owned(),
                );
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("`url` must be an http(s) URL, got `{url}`"));
            }
            ServerKind::Http {
                url,
                headers: map("headers")?,
            }
        }
        (None, None, Some(spec)) => {
            only(&["openapi", "baseUrl", "headers"])?;
            ServerKind::OpenApi {
                spec,
                base_url: string("baseUrl")?,
                headers: map("headers")?,
            }
        }
        (None, None, None) => {
            return Err(
                "missing `command` (a local server), `url` (a remote one) or `openapi` (an HTTP API)"
                    .to_owned(),
            );
        }
        _ => {
            return Err(format!(
                "give exactly one of `command`, `url` and `openapi`, not {}",
                present.join(" and ")
            ));
        }
    };
    Ok(Some(ServerEntry {
        name: name.to_owned(),
        kind,
        timeout,
    }))
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`. An unset variable without
/// a default is an error: silently passing an empty token would fail far from the cause.
pub fn expand(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(format!("unclosed `${{` in `{text}`"));
            };
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("`${{{inner}}}` is not a variable reference"));
            }
            match (env(name), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => {
                    return Err(format!(
                        "environment variable `{name}` is not set (write `${{{name}:-default}}` for a default)"
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".to_owned()),
            "ROOT" => Some("/srv".to_owned()),
            _ => None,
        }
    }

    #[test]
    fn parses_the_three_kinds_in_order() -> Result<(), Error> {
        let config = parse(
            r#"{"globalShortcut": "x", "mcpServers": {
                "fs": {"command": "npx", "args": ["-y", "server", "${ROOT}/data"], "env": {"A": "${MISSING:-d}"}},
                "remote": {"type": "http", "url": "https://h/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}, "timeoutMs": 500},
                "pets": {"openapi": "pets.json", "baseUrl": "http://127.0.0.1:1"},
                "off": {"command": "x", "disabled": true}
            }}"#,
            "t.json",
            env,
        )?;
        let names: Vec<&str> = config.servers.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["fs", "remote", "pets"]);
        assert_eq!(
            config.servers[0].kind,
            ServerKind::Stdio {
                command: "npx".into(),
                args: vec!["-y".into(), "server".into(), "/srv/data".into()],
                env: vec![("A".into(), "d".into())],
                cwd: None,
            }
        );
        assert_eq!(
            config.servers[1].kind,
            ServerKind::Http {
                url: "https://h/mcp".into(),
                headers: vec![("Authorization".into(), "Bearer s3cret".into())],
            }
        );
        assert_eq!(config.servers[1].timeout, Some(Duration::from_millis(500)));
        Ok(())
    }

    fn error_of(text: &str) -> String {
        match parse(text, "c.json", env) {
            Ok(c) => panic!("expected an error, got {c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn errors_name_the_entry_and_the_problem() {
        let e = error_of(r#"{"mcpServers": {"fs": {"comand": "x"}}}"#);
        assert!(e.contains("c.json") && e.contains("server `fs`"), "{e}");
        assert!(
            e.contains("unknown key `comand`") && e.contains("`command`"),
            "{e}"
        );
        let e = error_of(r#"{"mcpServers": {"fs": {"args": ["a"]}}}"#);
        assert!(
            e.contains("server `fs`") && e.contains("missing `command`"),
            "{e}"
        );
        let e = error_of(r#"{"mcpServers": {"r": {"url": "https://h", "args": []}}}"#);
        assert!(e.contains("`args` does not apply"), "{e}");
        let e = error_of(r#"{"mcpServers": {"r": {"url": "https://h/${NOPE}"}}}"#);
        assert!(e.contains("`NOPE` is not set"), "{e}");
        let e = error_of(r#"{"mcpServers": {"r": {"command": "a", "url": "https://h"}}}"#);
        assert!(e.contains("exactly one"), "{e}");
        let e = error_of(r#"{"servers": {}}"#);
        assert!(e.contains("no `mcpServers`"), "{e}");
        let e = error_of("{");
        assert!(e.contains("not valid JSON"), "{e}");
    }

    #[test]
    fn expansion() {
        let ok = |s: &str| expand(s, &env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok("a ${TOKEN} b"), "a s3cret b");
        assert_eq!(ok("$$HOME and $5"), "$HOME and $5");
        assert_eq!(ok("${X:-}"), "");
        assert!(expand("${A-B}", &env).is_err());
        assert!(expand("${TOKEN", &env).is_err());
    }
}
