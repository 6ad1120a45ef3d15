//! Tool input → HTTP request parts, host-side and pure. Errors are written for the model:
//! they name the offending property and say what would be accepted.

use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use super::tools::{is_form, is_json};
use crate::catalog::{BodyProperty, HttpBody, HttpOperation, ParamLocation, ParamStyle};
use crate::error::Error;
use base::suggest::nearest;
use sandbox::json_kind;

/// Everything but RFC 3986 unreserved characters, for one path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// `application/x-www-form-urlencoded` (space becomes `+` afterwards).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'*');
/// Characters a raw path may not carry unencoded; `%` is kept so pre-encoded paths work.
const RAW_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'^')
    .add(b'|');

const RAW_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// Headers the host owns (connection management, framing, routing).
const RAW_FORBIDDEN_HEADERS: &[&str] =
    &["host", "content-length", "transfer-encoding", "connection"];

/// An HTTP request minus the server: the host prefixes the base URL and adds credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRequestParts {
    /// Upper-case method.
    pub method: String,
    /// Path with parameters filled in and percent-encoded, e.g. `/repos/o/my%20repo`.
    pub path: String,
    /// Query pairs, not yet percent-encoded (the HTTP client encodes them).
    pub query: Vec<(String, String)>,
    /// Header names and values from header and cookie parameters.
    pub headers: Vec<(String, String)>,
    /// The body, when the operation has one and the input fills it.
    pub body: Option<RequestBody>,
}

/// A request body and its media type.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestBody {
    /// Value for the `Content-Type` header.
    pub content_type: String,
    /// What to send.
    pub content: BodyContent,
}

/// How a body is carried until the HTTP client sends it.
#[derive(Debug, Clone, PartialEq)]
pub enum BodyContent {
    /// To be serialised as JSON.
    Json(Value),
    /// Already encoded (forms, multipart, text, binary as text).
    Bytes(Vec<u8>),
}

/// Builds the request for one call of an operation's tool with `input` (the merged input
/// object described by the tool's input schema).
pub fn build_request(op: &HttpOperation, input: &Value) -> Result<HttpRequestParts, Error> {
    let fail = |reason: String| Error::InvalidInput {
        operation: format!("{} {}", op.method, op.path),
        reason,
    };
    let empty = Map::new();
    let input = match input {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            return Err(fail(format!(
                "expected one object of named properties, got {}; call it like `({{ {} }})`",
                json_kind(other),
                example_call(op)
            )));
        }
    };

    let valid = valid_names(op);
    let open_body = op
        .body
        .as_ref()
        .is_some_and(|b| b.input_name.is_none() && b.additional_properties);
    if !open_body {
        for key in input.keys() {
            if !valid.contains(&key.as_str()) {
                return Err(fail(unknown_property(key, &valid)));
            }
        }
    }

    let missing: Vec<&str> = required_names(op)
        .into_iter()
        .filter(|name| is_absent(input.get(*name), op, name))
        .collect();
    if !missing.is_empty() {
        let all = required_names(op).join(", ");
        let list: Vec<String> = missing
            .iter()
            .map(|m| format!("`{m}`{}", describe_name(op, m)))
            .collect();
        let noun = if missing.len() == 1 {
            "property"
        } else {
            "properties"
        };
        return Err(fail(format!(
            "missing required {noun} {}; required: {all}",
            list.join(", ")
        )));
    }

    let path = fill_path(op, input).map_err(fail)?;
    let mut query = Vec::new();
    let mut headers = Vec::new();
    let mut cookies = Vec::new();
    for p in &op.parameters {
        let Some(value) = input.get(&p.input_name).filter(|v| !v.is_null()) else {
            continue;
        };
        match p.location {
            ParamLocation::Path => {}
            ParamLocation::Query => serialize_query(&p.name, p.style, p.explode, value, &mut query),
            ParamLocation::Header => {
                let v = simple(value, p.explode);
                check_header(&p.name, &v).map_err(fail)?;
                headers.push((p.name.clone(), v));
            }
            ParamLocation::Cookie => {
                let mut pairs = Vec::new();
                serialize_query(&p.name, ParamStyle::Form, p.explode, value, &mut pairs);
                cookies.extend(pairs.into_iter().map(|(k, v)| format!("{k}={v}")));
            }
        }
    }
    if !cookies.is_empty() {
        let v = cookies.join("; ");
        check_header("Cookie", &v).map_err(fail)?;
        headers.push(("Cookie".to_owned(), v));
    }

    let body = match &op.body {
        Some(body) => build_body(op, body, input).map_err(fail)?,
        None => None,
    };
    Ok(HttpRequestParts {
        method: op.method.to_ascii_uppercase(),
        path,
        query,
        headers,
        body,
    })
}

/// Input property names in declaration order.
fn valid_names(op: &HttpOperation) -> Vec<&str> {
    let mut names: Vec<&str> = op
        .parameters
        .iter()
        .map(|p| p.input_name.as_str())
        .collect();
    if let Some(body) = &op.body {
        match &body.input_name {
            Some(n) => names.push(n),
            None => names.extend(body.properties.iter().map(|p| p.input_name.as_str())),
        }
    }
    names
}

fn required_names(op: &HttpOperation) -> Vec<&str> {
    let mut names: Vec<&str> = op
        .parameters
        .iter()
        .filter(|p| p.required)
        .map(|p| p.input_name.as_str())
        .collect();
    if let Some(body) = &op.body {
        match &body.input_name {
            Some(n) if body.required => names.push(n),
            Some(_) => {}
            None => names.extend(
                body.properties
                    .iter()
                    .filter(|p| p.required)
                    .map(|p| p.input_name.as_str()),
            ),
        }
    }
    names
}

/// Parameters given as `null` count as absent; body properties may be `null` on purpose.
fn is_absent(value: Option<&Value>, op: &HttpOperation, name: &str) -> bool {
    match value {
        None => true,
        Some(Value::Null) => op.parameters.iter().any(|p| p.input_name == name),
        Some(_) => false,
    }
}

/// ` (path parameter)`, ` (body)`, ...: where a property goes, for error messages.
fn describe_name(op: &HttpOperation, name: &str) -> &'static str {
    match op
        .parameters
        .iter()
        .find(|p| p.input_name == name)
        .map(|p| p.location)
    {
        Some(ParamLocation::Path) => " (path parameter)",
        Some(ParamLocation::Query) => " (query parameter)",
        Some(ParamLocation::Header) => " (header)",
        Some(ParamLocation::Cookie) => " (cookie)",
        None => " (body)",
    }
}

fn unknown_property(key: &str, valid: &[&str]) -> String {
    if valid.is_empty() {
        return format!(
            "unknown property `{key}`: this operation takes no input; call it with `({{}})`"
        );
    }
    let hint = match nearest(key, valid.iter().copied()) {
        Some(n) => format!("; did you mean `{n}`?"),
        None => String::new(),
    };
    const SHOWN: usize = 40;
    let mut list = valid
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if valid.len() > SHOWN {
        list.push_str(&format!(", … ({} more)", valid.len() - SHOWN));
    }
    format!("unknown property `{key}`{hint} valid properties: {list}")
}

fn example_call(op: &HttpOperation) -> String {
    required_names(op)
        .iter()
        .map(|n| format!("{n}: …"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn fill_path(op: &HttpOperation, input: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(op.path.len() + 16);
    let mut rest = op.path.as_str();
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let name = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let param = op
            .parameters
            .iter()
            .find(|p| p.location == ParamLocation::Path && p.name == name);
        let (input_name, style, explode) = match param {
            Some(p) => (p.input_name.as_str(), p.style, p.explode),
            None => (name, ParamStyle::Simple, false),
        };
        let value = input
            .get(input_name)
            .filter(|v| !v.is_null())
            .ok_or_else(|| format!("missing required property `{input_name}` (path parameter)"))?;
        out.push_str(&path_value(input_name, name, style, explode, value)?);
    }
    out.push_str(rest);
    Ok(out)
}

fn path_value(
    input_name: &str,
    name: &str,
    style: ParamStyle,
    explode: bool,
    value: &Value,
) -> Result<String, String> {
    let enc = |s: &str| utf8_percent_encode(s, SEGMENT).to_string();
    let items: Vec<String> = match value {
        Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).map(|s| enc(&s)))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                format!(
                    "path parameter `{input_name}` must be a string or number (or an array of them)"
                )
            })?,
        Value::Object(_) => {
            return Err(format!(
                "wrong type for path parameter `{input_name}`: expected a string or number, got an object"
            ));
        }
        v => {
            let s = scalar(v).unwrap_or_default();
            if s.is_empty() {
                return Err(format!(
                    "path parameter `{input_name}` is empty; pass a non-empty string"
                ));
            }
            vec![enc(&s)]
        }
    };
    Ok(match style {
        ParamStyle::Label => {
            let sep = if explode { "." } else { "," };
            format!(".{}", items.join(sep))
        }
        ParamStyle::Matrix => {
            let name = enc(name);
            if explode {
                items.iter().map(|i| format!(";{name}={i}")).collect()
            } else {
                format!(";{name}={}", items.join(","))
            }
        }
        _ => items.join(","),
    })
}

/// Scalars as their text (`true`/`false`, numbers as JSON writes them); `None` otherwise.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Scalars as text, anything else as compact JSON.
fn text(v: &Value) -> String {
    scalar(v).unwrap_or_else(|| v.to_string())
}

/// Header/simple style: arrays comma-joined, objects `k,v,k2,v2` (`k=v,k2=v2` exploded).
fn simple(value: &Value, explode: bool) -> String {
    match value {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(","),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                if explode {
                    format!("{k}={}", text(v))
                } else {
                    format!("{k},{}", text(v))
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        v => text(v),
    }
}

fn check_header(name: &str, value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n', '\0']) {
        return Err(format!(
            "header `{name}` contains a line break or NUL; pass a single-line value"
        ));
    }
    Ok(())
}

/// Query (and cookie, form body) serialisation per OpenAPI style: arrays exploded
/// form-style by default, objects as `name[key]=value` under `deepObject`.
fn serialize_query(
    name: &str,
    style: ParamStyle,
    explode: bool,
    value: &Value,
    out: &mut Vec<(String, String)>,
) {
    match value {
        Value::Null => {}
        Value::Array(items) => match style {
            ParamStyle::DeepObject => deep(name, value, out),
            ParamStyle::SpaceDelimited => out.push((name.to_owned(), join(items, " "))),
            ParamStyle::PipeDelimited => out.push((name.to_owned(), join(items, "|"))),
            _ if explode => out.extend(
                items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| (name.to_owned(), text(v))),
            ),
            _ => out.push((name.to_owned(), join(items, ","))),
        },
        Value::Object(m) => match style {
            ParamStyle::DeepObject => deep(name, value, out),
            ParamStyle::Form if explode => {
                out.extend(
                    m.iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.clone(), text(v))),
                );
            }
            _ => out.push((name.to_owned(), simple(value, false))),
        },
        v => out.push((name.to_owned(), text(v))),
    }
}

fn join(items: &[Value], sep: &str) -> String {
    items.iter().map(text).collect::<Vec<_>>().join(sep)
}

/// `name[key][sub]=v`, arrays indexed `name[0]=v` (what Stripe's own clients send). Past
/// `MAX_DEEP` levels the rest is sent as JSON text rather than recursing further.
fn deep(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    deep_at(prefix, value, out, 0);
}

const MAX_DEEP: usize = 32;

fn deep_at(prefix: &str, value: &Value, out: &mut Vec<(String, String)>, level: usize) {
    match value {
        Value::Null => {}
        Value::Object(_) | Value::Array(_) if level >= MAX_DEEP => {
            out.push((prefix.to_owned(), text(value)))
        }
        Value::Object(m) => {
            for (k, v) in m {
                deep_at(&format!("{prefix}[{k}]"), v, out, level + 1);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                deep_at(&format!("{prefix}[{i}]"), v, out, level + 1);
            }
        }
        v => out.push((prefix.to_owned(), text(v))),
    }
}

fn build_body(
    op: &HttpOperation,
    body: &HttpBody,
    input: &Map<String, Value>,
) -> Result<Option<RequestBody>, String> {
    let value = match &body.input_name {
        Some(name) => match input.get(name) {
            Some(v) => v.clone(),
            None => return Ok(None),
        },
        None => {
            let mut m = Map::new();
            for p in &body.properties {
                if let Some(v) = input.get(&p.input_name) {
                    m.insert(p.name.clone(), v.clone());
                }
            }
            if body.additional_properties {
                for (k, v) in input {
                    let known = op.parameters.iter().any(|p| &p.input_name == k)
                        || body.properties.iter().any(|p| &p.input_name == k);
                    if !known {
                        m.insert(k.clone(), v.clone());
                    }
                }
            }
            if m.is_empty() && !body.required {
                return Ok(None);
            }
            Value::Object(m)
        }
    };
    let content_type = body.content_type.clone();
    let content = if is_json(&content_type) {
        BodyContent::Json(value)
    } else if is_form(&content_type) {
        let Value::Object(m) = &value else {
            return Err(format!(
                "the form body must be an object of fields, got {}",
                json_kind(&value)
            ));
        };
        BodyContent::Bytes(form_encode(m, &body.properties).into_bytes())
    } else if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let Value::Object(m) = &value else {
            return Err(format!(
                "the multipart body must be an object of fields, got {}",
                json_kind(&value)
            ));
        };
        let (boundary, bytes) = multipart(m);
        return Ok(Some(RequestBody {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            content: BodyContent::Bytes(bytes),
        }));
    } else {
        match &value {
            Value::String(s) => BodyContent::Bytes(s.clone().into_bytes()),
            other if content_type.starts_with("text/") => {
                BodyContent::Bytes(other.to_string().into_bytes())
            }
            other => {
                return Err(format!(
                    "the `{content_type}` body must be a string, got {}",
                    json_kind(other)
                ));
            }
        }
    };
    Ok(Some(RequestBody {
        content_type,
        content,
    }))
}

/// `application/x-www-form-urlencoded`: objects in brackets (`metadata[k]=v`), arrays
/// repeated unless the property's encoding says otherwise.
fn form_encode(fields: &Map<String, Value>, properties: &[BodyProperty]) -> String {
    let mut pairs = Vec::new();
    for (k, v) in fields {
        let (style, explode) = properties
            .iter()
            .find(|p| &p.name == k)
            .map_or((ParamStyle::Form, true), |p| (p.style, p.explode));
        match v {
            Value::Object(_) if style != ParamStyle::Form || explode => deep(k, v, &mut pairs),
            _ => serialize_query(k, style, explode, v, &mut pairs),
        }
    }
    let enc = |s: &str| utf8_percent_encode(s, FORM).to_string().replace("%20", "+");
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `multipart/form-data` with text parts; non-string values are sent as JSON text.
fn multipart(fields: &Map<String, Value>) -> (String, Vec<u8>) {
    let parts: Vec<(String, String)> = fields
        .iter()
        .flat_map(|(k, v)| match v {
            Value::Array(items) => items
                .iter()
                .map(|i| (k.clone(), text(i)))
                .collect::<Vec<_>>(),
            Value::Null => Vec::new(),
            v => vec![(k.clone(), text(v))],
        })
        .collect();
    let mut boundary = "islet-form-boundary-7b3e9f".to_owned();
    let mut n = 0;
    while parts
        .iter()
        .any(|(k, v)| k.contains(&boundary) || v.contains(&boundary))
    {
        n += 1;
        boundary = format!("islet-form-boundary-7b3e9f-{n}");
    }
    let mut out = String::new();
    for (k, v) in &parts {
        let name = k.replace('"', "%22").replace(['\r', '\n'], " ");
        out.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{v}\r\n"
        ));
    }
    out.push_str(&format!("--{boundary}--\r\n"));
    (boundary, out.into_bytes())
}

/// Builds the request of the `api.request({method, path, query, headers, body})` escape
/// hatch. The path must be a path: the host's base URL is fixed and is not the model's to
/// change.
pub fn build_raw_request(input: &Value) -> Result<HttpRequestParts, Error> {
    let fail = |reason: String| Error::InvalidRequest { reason };
    let Value::Object(m) = input else {
        return Err(fail(format!(
            "expected an object like {{ method: \"GET\", path: \"/things\", query: {{}} }}, got {}",
            json_kind(input)
        )));
    };
    const KEYS: &[&str] = &["method", "path", "query", "headers", "body"];
    if let Some(key) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(fail(unknown_property(key, KEYS)));
    }
    let method = match m.get("method") {
        None | Some(Value::Null) => "GET".to_owned(),
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(other) => {
            return Err(fail(format!(
                "`method` must be a string, got {}",
                json_kind(other)
            )));
        }
    };
    if !RAW_METHODS.contains(&method.as_str()) {
        return Err(fail(format!(
            "unsupported method `{method}`; use one of {}",
            RAW_METHODS.join(", ")
        )));
    }
    let raw_path = match m.get("path") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(fail(format!(
                "`path` must be a string, got {}",
                json_kind(other)
            )));
        }
        None => return Err(fail("missing `path`, e.g. \"/users/me\"".to_owned())),
    };
    let (path, mut query) = check_raw_path(raw_path).map_err(fail)?;

    match m.get("query") {
        None | Some(Value::Null) => {}
        Some(Value::Object(q)) => {
            for (k, v) in q {
                match v {
                    Value::Object(_) => {
                        return Err(fail(format!(
                            "query `{k}` must be a scalar or an array of scalars"
                        )));
                    }
                    v => serialize_query(k, ParamStyle::Form, true, v, &mut query),
                }
            }
        }
        Some(other) => {
            return Err(fail(format!(
                "`query` must be an object of name → value, got {}",
                json_kind(other)
            )));
        }
    }

    let mut headers = Vec::new();
    let mut content_type = None;
    match m.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                if k.is_empty()
                    || !k
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                {
                    return Err(fail(format!("`{k}` is not a valid header name")));
                }
                if RAW_FORBIDDEN_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    return Err(fail(format!(
                        "header `{k}` is set by the host; leave it out"
                    )));
                }
                let v = match v {
                    Value::Object(_) | Value::Array(_) | Value::Null => {
                        return Err(fail(format!("header `{k}` must be a string or number")));
                    }
                    v => text(v),
                };
                check_header(k, &v).map_err(fail)?;
                if k.eq_ignore_ascii_case("content-type") {
                    content_type = Some(v);
                } else {
                    headers.push((k.clone(), v));
                }
            }
        }
        Some(other) => {
            return Err(fail(format!(
                "`headers` must be an object of name → value, got {}",
                json_kind(other)
            )));
        }
    }

    let body = match m.get("body") {
        None | Some(Value::Null) => {
            if let Some(ct) = content_type {
                headers.push(("Content-Type".to_owned(), ct));
            }
            None
        }
        Some(body) => {
            if matches!(method.as_str(), "GET" | "HEAD") {
                return Err(fail(format!(
                    "a {method} request cannot have a body; send the data as `query`"
                )));
            }
            Some(match (body, content_type) {
                (Value::String(s), Some(ct)) if !is_json(&ct) => RequestBody {
                    content_type: ct,
                    content: BodyContent::Bytes(s.clone().into_bytes()),
                },
                (body, ct) => RequestBody {
                    content_type: ct.unwrap_or_else(|| "application/json".to_owned()),
                    content: BodyContent::Json(body.clone()),
                },
            })
        }
    };
    Ok(HttpRequestParts {
        method,
        path,
        query,
        headers,
        body,
    })
}

/// Validates a raw path (a path, not a URL), splits off an inline `?query`, encodes what
/// must be encoded.
fn check_raw_path(raw: &str) -> Result<(String, Vec<(String, String)>), String> {
    if !raw.starts_with('/') || raw.starts_with("//") {
        let hint = if raw.contains("://") {
            "; pass only the path (e.g. \"/users/me\"): the host and scheme are fixed"
        } else {
            "; it must start with a single `/`, e.g. \"/users/me\""
        };
        return Err(format!("`path` \"{raw}\" is not a path{hint}"));
    }
    let raw = raw.split('#').next().unwrap_or(raw);
    let (path, query_string) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    if path.contains('\\') || path.contains("://") {
        return Err(format!(
            "`path` \"{raw}\" must be a plain path without a scheme, host or backslashes"
        ));
    }
    if path
        .split('/')
        .any(|s| s == "." || s == ".." || s == "%2e%2e" || s == "%2E%2E")
    {
        return Err(format!(
            "`path` \"{raw}\" must not contain `.` or `..` segments"
        ));
    }
    let mut query = Vec::new();
    if let Some(q) = query_string {
        for pair in q.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            query.push((dec(k), dec(v)));
        }
    }
    Ok((utf8_percent_encode(path, RAW_PATH).to_string(), query))
}
