//! Swagger 2.0 → OpenAPI 3.0 conversion on load, so everything downstream sees one shape:
//! host/basePath/schemes → servers, `in: body` → requestBody, `formData` → a form
//! requestBody, `definitions` → components.schemas (references rewritten), produces and
//! consumes → content types, response `schema` → content.

use std::collections::HashSet;

use serde_json::{Map, Value, json};

use super::refs::{Location, split_ref};

/// Swagger's serialisation keywords of non-body parameters, which 3.x moves into `schema`.
const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "format",
    "items",
    "default",
    "enum",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// Converts `value` when it is a Swagger 2.0 document; anything else is returned as is.
pub(crate) fn convert_if_swagger(value: Value, location: &Location) -> Value {
    let is_swagger = value
        .get("swagger")
        .is_some_and(|v| v.as_str() == Some("2.0") || v.as_f64() == Some(2.0));
    if !is_swagger || value.get("openapi").is_some() {
        return value;
    }
    match value {
        Value::Object(src) => Value::Object(convert(src, location)),
        other => other,
    }
}

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}

fn convert(mut src: Map<String, Value>, location: &Location) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("openapi".to_owned(), json!("3.0.3"));
    for key in ["info", "tags", "externalDocs", "security"] {
        if let Some(v) = src.remove(key) {
            out.insert(key.to_owned(), v);
        }
    }
    for (k, v) in src.iter().filter(|(k, _)| k.starts_with("x-")) {
        out.insert(k.clone(), v.clone());
    }
    out.insert("servers".to_owned(), Value::Array(servers(&src, location)));

    let consumes =
        strings(src.get("consumes")).unwrap_or_else(|| vec!["application/json".to_owned()]);
    let produces =
        strings(src.get("produces")).unwrap_or_else(|| vec!["application/json".to_owned()]);

    // Global parameters split three ways: plain ones stay parameters, body ones become
    // requestBodies, formData ones are inlined into each operation's form body.
    let globals = match src.remove("parameters") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let mut body_params = HashSet::new();
    let mut components = Map::new();
    let mut parameters = Map::new();
    let mut request_bodies = Map::new();
    for (name, p) in &globals {
        match p.get("in").and_then(Value::as_str) {
            Some("body") => {
                body_params.insert(name.clone());
                request_bodies.insert(name.clone(), body_from_param(p, &consumes));
            }
            Some("formData") => {}
            _ => {
                parameters.insert(name.clone(), convert_param(p));
            }
        }
    }
    let ctx = Ctx {
        globals: &globals,
        body_params: &body_params,
        consumes: &consumes,
        produces: &produces,
    };
    if let Some(Value::Object(defs)) = src.remove("definitions") {
        components.insert("schemas".to_owned(), Value::Object(defs));
    }
    if !parameters.is_empty() {
        components.insert("parameters".to_owned(), Value::Object(parameters));
    }
    if !request_bodies.is_empty() {
        components.insert("requestBodies".to_owned(), Value::Object(request_bodies));
    }
    if let Some(Value::Object(responses)) = src.remove("responses") {
        let converted = responses
            .into_iter()
            .map(|(k, r)| (k, convert_response(r, &produces)))
            .collect();
        components.insert("responses".to_owned(), Value::Object(converted));
    }
    if let Some(Value::Object(defs)) = src.remove("securityDefinitions") {
        let converted = defs
            .into_iter()
            .map(|(k, d)| (k, convert_security(d)))
            .collect();
        components.insert("securitySchemes".to_owned(), Value::Object(converted));
    }
    if !components.is_empty() {
        out.insert("components".to_owned(), Value::Object(components));
    }

    let mut paths = Map::new();
    if let Some(Value::Object(src_paths)) = src.remove("paths") {
        for (path, item) in src_paths {
            let Value::Object(item) = item else {
                // Left for the indexer, which skips it with a warning naming it.
                paths.insert(path, item);
                continue;
            };
            paths.insert(path.clone(), Value::Object(convert_path_item(item, &ctx)));
        }
    }
    out.insert("paths".to_owned(), Value::Object(paths));

    let mut doc = Value::Object(out);
    rewrite_refs(&mut doc, &body_params);
    fix_file_types(&mut doc);
    tracing::debug!("converted Swagger 2.0 document {}", location.display());
    match doc {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

struct Ctx<'a> {
    globals: &'a Map<String, Value>,
    body_params: &'a HashSet<String>,
    consumes: &'a [String],
    produces: &'a [String],
}

fn servers(src: &Map<String, Value>, location: &Location) -> Vec<Value> {
    let base_path = src.get("basePath").and_then(Value::as_str).unwrap_or("/");
    let base_path = if base_path == "/" {
        ""
    } else {
        base_path.trim_end_matches('/')
    };
    let default_scheme = match location {
        Location::Url(u) => u.scheme().to_owned(),
        Location::File(_) => "https".to_owned(),
    };
    let schemes = strings(src.get("schemes"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec![default_scheme]);
    let host = src
        .get("host")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| match location {
            // Swagger: no host means "the host serving the documentation".
            Location::Url(u) => u.host_str().map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            }),
            Location::File(_) => None,
        });
    match host {
        Some(host) => schemes
            .iter()
            .map(|s| json!({ "url": format!("{s}://{host}{base_path}") }))
            .collect(),
        None if !base_path.is_empty() => vec![json!({ "url": base_path })],
        None => Vec::new(),
    }
}

fn convert_path_item(item: Map<String, Value>, ctx: &Ctx<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    // Path-level body/formData parameters belong to each operation's body in 3.x.
    let mut shared_body = Vec::new();
    let mut shared = Vec::new();
    if let Some(Value::Array(params)) = item.get("parameters") {
        for p in params {
            match param_in(p, ctx) {
                Some("body" | "formData") => shared_body.push(p.clone()),
                _ => shared.push(convert_param(p)),
            }
        }
    }
    for (k, v) in item {
        if k == "parameters" {
            if !shared.is_empty() {
                out.insert(k, Value::Array(std::mem::take(&mut shared)));
            }
        } else if METHODS.contains(&k.as_str())
            && let Value::Object(op) = v
        {
            out.insert(k, Value::Object(convert_operation(op, &shared_body, ctx)));
        } else {
            out.insert(k, v);
        }
    }
    out
}

/// `in` of a parameter, looking through a local `#/parameters/X` reference.
fn param_in<'a>(p: &'a Value, ctx: &Ctx<'a>) -> Option<&'a str> {
    match p.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = local_param_name(r)?;
            ctx.globals.get(name)?.get("in")?.as_str()
        }
        None => p.get("in")?.as_str(),
    }
}

fn local_param_name(reference: &str) -> Option<&str> {
    reference.strip_prefix("#/parameters/")
}

fn convert_operation(
    mut op: Map<String, Value>,
    shared_body: &[Value],
    ctx: &Ctx<'_>,
) -> Map<String, Value> {
    let consumes = strings(op.get("consumes")).unwrap_or_else(|| ctx.consumes.to_vec());
    let produces = strings(op.get("produces")).unwrap_or_else(|| ctx.produces.to_vec());
    op.remove("consumes");
    op.remove("produces");
    op.remove("schemes");

    let own = match op.remove("parameters") {
        Some(Value::Array(a)) => a,
        Some(other) => {
            // Not an array: keep it for the indexer to report.
            op.insert("parameters".to_owned(), other);
            Vec::new()
        }
        None => Vec::new(),
    };
    let own_names: HashSet<String> = own
        .iter()
        .filter_map(|p| p.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let inherited = shared_body.iter().filter(|p| {
        p.get("name")
            .and_then(Value::as_str)
            .is_none_or(|n| !own_names.contains(n))
    });

    let mut params = Vec::new();
    let mut body = None;
    let mut form: Vec<Value> = Vec::new();
    for p in own.iter().chain(inherited) {
        let reference = p.get("$ref").and_then(Value::as_str);
        match param_in(p, ctx) {
            Some("body") => {
                body = Some(match reference.and_then(local_param_name) {
                    Some(name) if ctx.body_params.contains(name) => {
                        json!({ "$ref": format!("#/components/requestBodies/{name}") })
                    }
                    _ => body_from_param(p, &consumes),
                });
            }
            Some("formData") => {
                let resolved = reference
                    .and_then(local_param_name)
                    .and_then(|n| ctx.globals.get(n))
                    .unwrap_or(p);
                form.push(resolved.clone());
            }
            _ if reference.is_some() => params.push(p.clone()),
            _ => params.push(convert_param(p)),
        }
    }
    if !params.is_empty() {
        op.insert("parameters".to_owned(), Value::Array(params));
    }
    if !form.is_empty() {
        body = Some(form_body(&form, &consumes));
    }
    if let Some(body) = body {
        op.insert("requestBody".to_owned(), body);
    }
    if let Some(Value::Object(responses)) = op.remove("responses") {
        let converted = responses
            .into_iter()
            .map(|(code, r)| (code, convert_response(r, &produces)))
            .collect();
        op.insert("responses".to_owned(), Value::Object(converted));
    }
    op
}

fn body_from_param(p: &Value, consumes: &[String]) -> Value {
    let schema = p.get("schema").cloned().unwrap_or_else(|| json!({}));
    let content: Map<String, Value> = consumes
        .iter()
        .filter(|c| !c.contains("form"))
        .map(|c| (c.clone(), json!({ "schema": schema.clone() })))
        .collect();
    let content = if content.is_empty() {
        json!({ "application/json": { "schema": schema } })
    } else {
        Value::Object(content)
    };
    let mut out = Map::new();
    if let Some(d) = p.get("description") {
        out.insert("description".to_owned(), d.clone());
    }
    out.insert("content".to_owned(), content);
    if p.get("required").and_then(Value::as_bool) == Some(true) {
        out.insert("required".to_owned(), json!(true));
    }
    Value::Object(out)
}

fn form_body(params: &[Value], consumes: &[String]) -> Value {
    let has_file = params
        .iter()
        .any(|p| p.get("type").and_then(Value::as_str) == Some("file"));
    let content_type = if has_file || consumes.iter().any(|c| c == "multipart/form-data") {
        "multipart/form-data"
    } else {
        "application/x-www-form-urlencoded"
    };
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut encoding = Map::new();
    for p in params {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        let mut schema = param_schema(p);
        if let Some(d) = p.get("description") {
            schema.insert("description".to_owned(), d.clone());
        }
        properties.insert(name.to_owned(), Value::Object(schema));
        if p.get("required").and_then(Value::as_bool) == Some(true) {
            required.push(json!(name));
        }
        if let Some((style, explode)) = collection_style(p, "query") {
            encoding.insert(
                name.to_owned(),
                json!({ "style": style, "explode": explode }),
            );
        }
    }
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = Value::Array(required.clone());
    }
    let mut media = json!({ "schema": schema });
    if !encoding.is_empty() {
        media["encoding"] = Value::Object(encoding);
    }
    // A form with a required field is a required body.
    json!({ "content": { content_type: media }, "required": !required.is_empty() })
}

fn param_schema(p: &Value) -> Map<String, Value> {
    let mut schema = Map::new();
    if let Value::Object(m) = p {
        for &k in SCHEMA_KEYWORDS {
            if let Some(v) = m.get(k) {
                schema.insert(k.to_owned(), v.clone());
            }
        }
    }
    if let Some(Value::Object(items)) = schema.get_mut("items") {
        items.remove("collectionFormat");
    }
    schema
}

/// OpenAPI 3 `style`/`explode` for a Swagger array parameter's `collectionFormat`
/// (default `csv`); `None` for non-arrays.
fn collection_style(p: &Value, location: &str) -> Option<(&'static str, bool)> {
    if p.get("type").and_then(Value::as_str) != Some("array") {
        return None;
    }
    let format = p
        .get("collectionFormat")
        .and_then(Value::as_str)
        .unwrap_or("csv");
    let plain = if matches!(location, "query" | "cookie" | "formData") {
        "form"
    } else {
        "simple"
    };
    Some(match format {
        "multi" => ("form", true),
        "ssv" => ("spaceDelimited", false),
        "pipes" => ("pipeDelimited", false),
        // csv, and tsv (no 3.x equivalent; comma-separated is the closest common form)
        _ => (plain, false),
    })
}

fn convert_param(p: &Value) -> Value {
    let Value::Object(m) = p else {
        return p.clone();
    };
    if m.contains_key("$ref") {
        return p.clone();
    }
    let mut out = Map::new();
    for (k, v) in m {
        if !SCHEMA_KEYWORDS.contains(&k.as_str()) && k != "collectionFormat" {
            out.insert(k.clone(), v.clone());
        }
    }
    let location = m.get("in").and_then(Value::as_str).unwrap_or("query");
    if let Some((style, explode)) = collection_style(p, location) {
        out.insert("style".to_owned(), json!(style));
        out.insert("explode".to_owned(), json!(explode));
    }
    out.insert("schema".to_owned(), Value::Object(param_schema(p)));
    Value::Object(out)
}

fn convert_response(r: Value, produces: &[String]) -> Value {
    let Value::Object(mut m) = r else {
        return r;
    };
    if m.contains_key("$ref") {
        return Value::Object(m);
    }
    let schema = m.remove("schema");
    let examples = m.remove("examples");
    if let Some(Value::Object(headers)) = m.remove("headers") {
        let converted: Map<String, Value> = headers
            .into_iter()
            .map(|(name, h)| {
                let mut out = Map::new();
                if let Some(d) = h.get("description") {
                    out.insert("description".to_owned(), d.clone());
                }
                out.insert("schema".to_owned(), Value::Object(param_schema(&h)));
                (name, Value::Object(out))
            })
            .collect();
        m.insert("headers".to_owned(), Value::Object(converted));
    }
    if let Some(schema) = schema {
        let types: Vec<String> = if produces.is_empty() {
            vec!["application/json".to_owned()]
        } else {
            produces.to_vec()
        };
        let content: Map<String, Value> = types
            .into_iter()
            .map(|t| {
                let mut media = json!({ "schema": schema.clone() });
                if let Some(example) = examples.as_ref().and_then(|e| e.get(&t)) {
                    media["example"] = example.clone();
                }
                (t, media)
            })
            .collect();
        m.insert("content".to_owned(), Value::Object(content));
    }
    m.entry("description").or_insert_with(|| json!(""));
    Value::Object(m)
}

fn convert_security(d: Value) -> Value {
    let Value::Object(mut m) = d else {
        return d;
    };
    match m.get("type").and_then(Value::as_str) {
        Some("basic") => {
            m.insert("type".to_owned(), json!("http"));
            m.insert("scheme".to_owned(), json!("basic"));
        }
        Some("oauth2") => {
            let flow = match m.remove("flow").as_ref().and_then(Value::as_str) {
                Some("implicit") => "implicit",
                Some("password") => "password",
                Some("application") => "clientCredentials",
                _ => "authorizationCode",
            };
            let mut f = Map::new();
            for k in ["authorizationUrl", "tokenUrl", "scopes"] {
                if let Some(v) = m.remove(k) {
                    f.insert(k.to_owned(), v);
                }
            }
            f.entry("scopes").or_insert_with(|| json!({}));
            m.insert("flows".to_owned(), json!({ flow: f }));
        }
        _ => {}
    }
    Value::Object(m)
}

/// `#/definitions/X` → `#/components/schemas/X`, `#/parameters/X` → parameters or
/// requestBodies, `#/responses/X` → components.
fn rewrite_refs(v: &mut Value, body_params: &HashSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get_mut("$ref") {
                let (file, fragment) = split_ref(r);
                if let Some(fragment) = fragment {
                    let new = if let Some(rest) = fragment.strip_prefix("/definitions/") {
                        Some(format!("/components/schemas/{rest}"))
                    } else if let Some(rest) = fragment.strip_prefix("/parameters/") {
                        let kind = if file.is_empty() && body_params.contains(rest) {
                            "requestBodies"
                        } else {
                            "parameters"
                        };
                        Some(format!("/components/{kind}/{rest}"))
                    } else {
                        fragment
                            .strip_prefix("/responses/")
                            .map(|rest| format!("/components/responses/{rest}"))
                    };
                    if let Some(new) = new {
                        *r = format!("{file}#{new}");
                    }
                }
            }
            for (k, child) in m.iter_mut() {
                if k != "example" && k != "default" && k != "enum" && !k.starts_with("x-") {
                    rewrite_refs(child, body_params);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| rewrite_refs(i, body_params)),
        _ => {}
    }
}

/// Swagger's `type: file` has no 3.x equivalent but a binary string.
fn fix_file_types(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("file") {
                m.insert("type".to_owned(), json!("string"));
                m.insert("format".to_owned(), json!("binary"));
            }
            for (k, child) in m.iter_mut() {
                if k != "example" && k != "default" && k != "enum" && !k.starts_with("x-") {
                    fix_file_types(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(fix_file_types),
        _ => {}
    }
}
