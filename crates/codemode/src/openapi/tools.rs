//! Operations → tools: namespaces and names, one merged input object per operation, an
//! output schema, and a short plain-text description.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value, json};

use super::naming::{camel, generated, safe, strip_tag_prefix};
use super::refs::{CIRCULAR, Lean, Sizes, TRUNCATED};
use super::spec::{Operation, Spec};
use crate::catalog::{
    BodyProperty, Catalog, HttpBody, HttpOperation, HttpParameter, ParamLocation, ParamStyle,
    Target, Tool,
};

/// Budget units (about one JSON value or 64 bytes of text) across all of a catalog's
/// resolved schemas, shared out per schema:
/// bounds the catalog's memory on huge specs (Microsoft Graph) while small specs get
/// schemas resolved deeper.
const CATALOG_BUDGET: usize = 3_000_000;
/// Per-schema bounds on that share: enough for an entity's own properties, and no more
/// than the model can usefully read as one TypeScript signature.
const SCHEMA_BUDGET_MIN: usize = 250;
const SCHEMA_BUDGET_MAX: usize = 1_500;

/// Per-schema budget for a spec with `operations` operations.
pub(crate) fn default_budget(operations: usize) -> usize {
    (CATALOG_BUDGET / operations.max(1)).clamp(SCHEMA_BUDGET_MIN, SCHEMA_BUDGET_MAX)
}

/// Root namespace; untagged operations live here, next to `api.request`.
const ROOT: &str = "api";
/// Names in the root namespace taken by the host: the raw-request escape hatch.
const ROOT_RESERVED: &[&str] = &["request"];
/// Descriptions are cut to about this many characters.
const DESCRIPTION_MAX: usize = 300;
/// The full description kept for search is cut to about this many characters.
const DETAILS_MAX: usize = 4_000;
/// Body property names become keywords only for bodies up to this size (big entity bodies
/// would drown search in noise).
const BODY_KEYWORDS_MAX: usize = 20;

pub(crate) fn catalog(spec: &Spec, budget: usize) -> Catalog {
    let named = name_operations(spec.operations());
    let mut cx = Cx {
        spec,
        sizes: Sizes::new(Lean::MappingsAndExtensions),
        budget,
    };
    let tools = spec
        .operations()
        .iter()
        .zip(named)
        .filter_map(|(op, (namespace, name))| build_tool(&mut cx, op, namespace, name))
        .collect();
    Catalog {
        title: spec.title().to_owned(),
        tools,
    }
}

/// `(namespace, name)` per operation, unique within each namespace: the first operation (in
/// spec order) keeps a contested name, later ones get `2`, `3`, ... (skipping names taken
/// by other operations), so nothing is overwritten and the outcome is deterministic.
fn name_operations(ops: &[Operation]) -> Vec<(String, String)> {
    let bases: Vec<(String, String)> = ops
        .iter()
        .map(|op| {
            let tag = op.tags.first();
            let segment = tag.and_then(|t| camel(t)).map(safe);
            let namespace = match segment {
                Some(s) => format!("{ROOT}.{s}"),
                None => ROOT.to_owned(),
            };
            let name = op
                .operation_id
                .as_deref()
                .and_then(|id| {
                    let short = tag.and_then(|t| strip_tag_prefix(id, t)).unwrap_or(id);
                    camel(short)
                })
                .unwrap_or_else(|| generated(&op.method, &op.path));
            (namespace, safe(name))
        })
        .collect();

    let mut reserved: HashMap<&str, HashSet<String>> = HashMap::new();
    let root_reserved = reserved.entry(ROOT).or_default();
    root_reserved.extend(ROOT_RESERVED.iter().map(|s| (*s).to_owned()));
    // A function `api.repos` would clash with the namespace `api.repos`.
    for (ns, _) in &bases {
        if let Some(segment) = ns.strip_prefix("api.") {
            root_reserved.insert(segment.to_owned());
        }
    }
    let mut taken: HashMap<&str, HashSet<&str>> = HashMap::new();
    for (ns, name) in &bases {
        taken.entry(ns.as_str()).or_default().insert(name.as_str());
    }
    let mut assigned: HashMap<&str, HashSet<String>> = HashMap::new();
    let mut out = Vec::with_capacity(bases.len());
    for (ns, base) in &bases {
        let reserved = reserved.get(ns.as_str());
        let is_reserved = |n: &str| reserved.is_some_and(|r| r.contains(n));
        let seen = assigned.entry(ns.as_str()).or_default();
        let name = if !seen.contains(base) && !is_reserved(base) {
            base.clone()
        } else {
            let others = taken.get(ns.as_str());
            (2..)
                .map(|n| format!("{base}{n}"))
                .find(|c| {
                    !seen.contains(c)
                        && !is_reserved(c)
                        && !others.is_some_and(|o| o.contains(c.as_str()))
                })
                .unwrap_or_else(|| base.clone())
        };
        seen.insert(name.clone());
        out.push((ns.clone(), name));
    }
    out
}

/// What building tools needs besides the operation.
struct Cx<'a> {
    spec: &'a Spec,
    sizes: Sizes,
    budget: usize,
}

impl Cx<'_> {
    fn resolve(&mut self, doc: usize, schema: &Value) -> Value {
        self.spec
            .resolver()
            .resolve(&mut self.sizes, doc, schema, self.budget)
    }
}

/// One parameter as declared, after path-level/operation-level merging.
struct Param {
    name: String,
    location: ParamLocation,
    required: bool,
    style: ParamStyle,
    explode: bool,
    schema: Value,
}

fn build_tool(cx: &mut Cx<'_>, op: &Operation, namespace: String, name: String) -> Option<Tool> {
    let spec = cx.spec;
    let (doc, item) = spec.item(op)?;
    let method = op.method.to_ascii_lowercase();
    let (op_doc, raw_op) = (doc, item.get(&method)?);

    let params = collect_params(cx, doc, item, raw_op, &op.path);

    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut parameters = Vec::new();
    for p in &params {
        let input_name = unique(
            &mut taken,
            &p.name,
            &format!("{}_{}", location_word(p.location), p.name),
        );
        properties.insert(input_name.clone(), p.schema.clone());
        if p.required {
            required.push(json!(input_name));
        }
        parameters.push(HttpParameter {
            name: p.name.clone(),
            input_name,
            location: p.location,
            required: p.required,
            style: p.style,
            explode: p.explode,
        });
    }

    let mut additional = false;
    let mut body_keywords = Vec::new();
    let body = raw_op
        .get("requestBody")
        .and_then(|b| spec.deref(op_doc, b).ok())
        .and_then(|(bdoc, body)| {
            let content = body.get("content")?.as_object()?;
            let (content_type, media) = pick_request_media(content)?;
            let schema = match media.get("schema") {
                Some(s) => cx.resolve(bdoc, s),
                None => json!({}),
            };
            let body_required = body
                .get("required")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mergeable = is_json(content_type)
                || is_form(content_type)
                || content_type.starts_with("multipart/form-data");
            let flat = if mergeable {
                flatten_object(&schema)
            } else {
                None
            };
            match flat {
                Some(flat) => {
                    let encoding = media.get("encoding").and_then(Value::as_object);
                    let mut props = Vec::new();
                    for (prop, prop_schema) in flat.properties {
                        let input_name = unique(&mut taken, &prop, &format!("body_{prop}"));
                        let prop_required = body_required && flat.required.contains(&prop);
                        if prop_required {
                            required.push(json!(input_name));
                        }
                        properties.insert(input_name.clone(), prop_schema);
                        let (style, explode) = body_encoding(encoding.and_then(|e| e.get(&prop)));
                        body_keywords.push(prop.clone());
                        props.push(BodyProperty {
                            name: prop,
                            input_name,
                            required: prop_required,
                            style,
                            explode,
                        });
                    }
                    additional = flat.additional == Some(true);
                    Some(HttpBody {
                        content_type: content_type.to_owned(),
                        required: body_required,
                        input_name: None,
                        properties: props,
                        additional_properties: additional,
                    })
                }
                None => {
                    let input_name = unique(&mut taken, "body", "requestBody");
                    let mut schema = schema;
                    if let (Some(Value::String(d)), Value::Object(m)) =
                        (body.get("description"), &mut schema)
                    {
                        m.entry("description").or_insert_with(|| json!(d));
                    }
                    properties.insert(input_name.clone(), schema);
                    if body_required {
                        required.push(json!(input_name));
                    }
                    Some(HttpBody {
                        content_type: content_type.to_owned(),
                        required: body_required,
                        input_name: Some(input_name),
                        properties: Vec::new(),
                        additional_properties: false,
                    })
                }
            }
        });

    let mut input_schema = Map::new();
    input_schema.insert("type".to_owned(), json!("object"));
    input_schema.insert("properties".to_owned(), Value::Object(properties));
    if !required.is_empty() {
        input_schema.insert("required".to_owned(), Value::Array(required));
    }
    input_schema.insert("additionalProperties".to_owned(), json!(additional));

    let output_schema = output_schema(cx, op_doc, raw_op);

    let deprecated = raw_op.get("deprecated").and_then(Value::as_bool) == Some(true);
    let description = describe(
        raw_op.get("summary").and_then(Value::as_str).unwrap_or(""),
        raw_op
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or(""),
        deprecated,
    );
    let description = if description.is_empty() {
        format!("{} {}", op.method, op.path)
    } else {
        description
    };

    let mut keywords = vec![op.path.clone(), method.clone()];
    keywords.extend(op.tags.iter().cloned());
    if let Some(id) = &op.operation_id {
        keywords.push(id.clone());
    }
    keywords.extend(params.iter().map(|p| p.name.clone()));
    if body_keywords.len() <= BODY_KEYWORDS_MAX {
        keywords.extend(body_keywords);
    }
    // What an operation does is often said past the part of the description shown (the
    // actions of a generic endpoint, the words people use for it): search reads it all.
    let details = full_description(
        raw_op
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or(""),
    );
    if details.chars().count() > description.chars().count() {
        keywords.push(details);
    }
    let mut seen = HashSet::new();
    keywords.retain(|k| seen.insert(k.clone()));

    Some(Tool {
        namespace,
        name,
        original_name: op
            .operation_id
            .clone()
            .unwrap_or_else(|| format!("{} {}", op.method, op.path)),
        description,
        input_schema: Value::Object(input_schema),
        output_schema,
        keywords,
        target: Target::Http(HttpOperation {
            method: op.method.clone(),
            path: op.path.clone(),
            parameters,
            body,
        }),
    })
}

fn location_word(l: ParamLocation) -> &'static str {
    match l {
        ParamLocation::Path => "path",
        ParamLocation::Query => "query",
        ParamLocation::Header => "header",
        ParamLocation::Cookie => "cookie",
    }
}

/// `first` if free, else `fallback`, else `fallback2`, `fallback3`, ...; marks it taken.
fn unique(taken: &mut HashSet<String>, first: &str, fallback: &str) -> String {
    let name = if !taken.contains(first) {
        first.to_owned()
    } else if !taken.contains(fallback) {
        fallback.to_owned()
    } else {
        (2..)
            .map(|n| format!("{fallback}{n}"))
            .find(|c| !taken.contains(c))
            .unwrap_or_else(|| fallback.to_owned())
    };
    taken.insert(name.clone());
    name
}

/// Path-level parameters overridden by operation-level ones (same name and location), path
/// parameters first, plus any `{name}` of the template nobody declared (sloppy specs).
fn collect_params(cx: &mut Cx<'_>, doc: usize, item: &Value, op: &Value, path: &str) -> Vec<Param> {
    let spec = cx.spec;
    let mut out: Vec<Param> = Vec::new();
    let lists = [item.get("parameters"), op.get("parameters")];
    for list in lists.into_iter().flatten() {
        let Some(list) = list.as_array() else {
            continue;
        };
        for raw in list {
            let Ok((pdoc, p)) = spec.deref(doc, raw) else {
                continue;
            };
            let (Some(name), Some(location)) = (
                p.get("name").and_then(Value::as_str),
                p.get("in").and_then(Value::as_str).and_then(parse_location),
            ) else {
                continue;
            };
            // OpenAPI: these header parameters are ignored (the host sets them).
            if location == ParamLocation::Header
                && ["accept", "content-type", "authorization"]
                    .contains(&name.to_ascii_lowercase().as_str())
            {
                continue;
            }
            let style = p
                .get("style")
                .and_then(Value::as_str)
                .and_then(parse_style)
                .unwrap_or(match location {
                    ParamLocation::Path | ParamLocation::Header => ParamStyle::Simple,
                    ParamLocation::Query | ParamLocation::Cookie => ParamStyle::Form,
                });
            let explode = p
                .get("explode")
                .and_then(Value::as_bool)
                .unwrap_or(style == ParamStyle::Form);
            let raw_schema = p.get("schema").or_else(|| {
                // `content`-style parameters: the first media type's schema.
                p.get("content")?
                    .as_object()?
                    .values()
                    .next()?
                    .get("schema")
            });
            let mut schema = match raw_schema {
                Some(s) => cx.resolve(pdoc, s),
                None => json!({ "type": "string" }),
            };
            if let Value::Object(m) = &mut schema {
                if let Some(Value::String(d)) = p.get("description") {
                    m.insert("description".to_owned(), json!(d.trim()));
                }
                if p.get("deprecated").and_then(Value::as_bool) == Some(true) {
                    m.insert("deprecated".to_owned(), json!(true));
                }
            }
            let param = Param {
                name: name.to_owned(),
                location,
                required: location == ParamLocation::Path
                    || p.get("required").and_then(Value::as_bool) == Some(true),
                style,
                explode,
                schema,
            };
            match out
                .iter_mut()
                .find(|q| q.name == param.name && q.location == param.location)
            {
                Some(existing) => *existing = param,
                None => out.push(param),
            }
        }
    }
    for name in template_params(path) {
        if !out
            .iter()
            .any(|p| p.location == ParamLocation::Path && p.name == name)
        {
            out.push(Param {
                name: name.to_owned(),
                location: ParamLocation::Path,
                required: true,
                style: ParamStyle::Simple,
                explode: false,
                schema: json!({ "type": "string" }),
            });
        }
    }
    out.sort_by_key(|p| match p.location {
        ParamLocation::Path => 0,
        ParamLocation::Query => 1,
        ParamLocation::Header => 2,
        ParamLocation::Cookie => 3,
    });
    out
}

/// `{name}` placeholders of a path template, in order.
pub(crate) fn template_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
}

fn parse_location(s: &str) -> Option<ParamLocation> {
    Some(match s {
        "path" => ParamLocation::Path,
        "query" => ParamLocation::Query,
        "header" => ParamLocation::Header,
        "cookie" => ParamLocation::Cookie,
        _ => return None,
    })
}

fn parse_style(s: &str) -> Option<ParamStyle> {
    Some(match s {
        "simple" => ParamStyle::Simple,
        "label" => ParamStyle::Label,
        "matrix" => ParamStyle::Matrix,
        "form" => ParamStyle::Form,
        "spaceDelimited" => ParamStyle::SpaceDelimited,
        "pipeDelimited" => ParamStyle::PipeDelimited,
        "deepObject" => ParamStyle::DeepObject,
        _ => return None,
    })
}

fn body_encoding(encoding: Option<&Value>) -> (ParamStyle, bool) {
    let style = encoding
        .and_then(|e| e.get("style"))
        .and_then(Value::as_str)
        .and_then(parse_style)
        .unwrap_or(ParamStyle::Form);
    let explode = encoding
        .and_then(|e| e.get("explode"))
        .and_then(Value::as_bool)
        .unwrap_or(style == ParamStyle::Form);
    (style, explode)
}

pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence.ends_with("+json")
        || essence == "*/*"
        || essence == "application/*"
}

pub(crate) fn is_form(content_type: &str) -> bool {
    content_type
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
}

/// JSON first, then forms, then whatever comes first.
fn pick_request_media(content: &Map<String, Value>) -> Option<(&str, &Value)> {
    let rank = |ct: &str| {
        let ct = ct.to_ascii_lowercase();
        if ct.starts_with("application/json") {
            0
        } else if is_json(&ct) {
            1
        } else if is_form(&ct) {
            2
        } else if ct.starts_with("multipart/form-data") {
            3
        } else {
            4
        }
    };
    content
        .iter()
        .enumerate()
        .min_by_key(|(i, (ct, _))| (rank(ct), *i))
        .map(|(_, (ct, media))| (ct.as_str(), media))
}

struct Flat {
    properties: Vec<(String, Value)>,
    required: Vec<String>,
    /// `additionalProperties` as written: `Some(true)` for `true` or a schema.
    additional: Option<bool>,
}

/// An object schema's properties (through `allOf`), when its properties can stand in the
/// merged input; `None` for arrays, scalars, unions, free-form and cut (`$circular`) schemas.
/// Undeclared properties are refused unless `additionalProperties` explicitly allows them:
/// for the model a typo caught beats JSON Schema's permissive default.
fn flatten_object(schema: &Value) -> Option<Flat> {
    fn collect(schema: &Value, flat: &mut Flat, depth: usize) -> Option<()> {
        let m = schema.as_object()?;
        if depth > 16 || m.contains_key(CIRCULAR) || m.contains_key(TRUNCATED) {
            return None;
        }
        if m.contains_key("oneOf") || m.contains_key("anyOf") || m.contains_key("not") {
            return None;
        }
        match m.get("type") {
            None => {}
            Some(Value::String(t)) if t == "object" => {}
            Some(Value::Array(ts)) if ts.iter().any(|t| t == "object") => {}
            Some(_) => return None,
        }
        if let Some(all) = m.get("allOf") {
            for member in all.as_array()? {
                collect(member, flat, depth + 1)?;
            }
        }
        if let Some(props) = m.get("properties") {
            for (k, v) in props.as_object()? {
                match flat.properties.iter_mut().find(|(name, _)| name == k) {
                    Some(existing) => existing.1 = v.clone(),
                    None => flat.properties.push((k.clone(), v.clone())),
                }
            }
        }
        if let Some(Value::Array(req)) = m.get("required") {
            for r in req.iter().filter_map(Value::as_str) {
                if !flat.required.iter().any(|x| x == r) {
                    flat.required.push(r.to_owned());
                }
            }
        }
        match m.get("additionalProperties") {
            Some(Value::Bool(true) | Value::Object(_)) => flat.additional = Some(true),
            Some(Value::Bool(false)) if flat.additional.is_none() => flat.additional = Some(false),
            _ => {}
        }
        Some(())
    }
    let mut flat = Flat {
        properties: Vec::new(),
        required: Vec::new(),
        additional: None,
    };
    collect(schema, &mut flat, 0)?;
    // No declared properties and not explicitly closed: a free-form object, best passed
    // whole. Explicitly empty (Stripe's GET bodies) merges to nothing.
    let free_form = flat.properties.is_empty() && flat.additional != Some(false);
    (!free_form).then_some(flat)
}

/// Schema of the first 2xx response with JSON content.
fn output_schema(cx: &mut Cx<'_>, doc: usize, op: &Value) -> Option<Value> {
    let spec = cx.spec;
    let responses = op.get("responses")?.as_object()?;
    let mut codes: Vec<(&String, &Value)> = responses
        .iter()
        .filter(|(c, _)| c.starts_with('2'))
        .collect();
    codes.sort_by_key(|(c, _)| *c);
    for (_, response) in codes {
        let Ok((rdoc, response)) = spec.deref(doc, response) else {
            continue;
        };
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            continue;
        };
        let json_media = content
            .iter()
            .find(|(ct, _)| {
                let ct = ct.to_ascii_lowercase();
                ct.starts_with("application/json") || (is_json(&ct) && ct != "*/*")
            })
            .map(|(_, media)| media);
        if let Some(schema) = json_media.and_then(|m| m.get("schema")) {
            return Some(cx.resolve(rdoc, schema));
        }
    }
    None
}

/// Summary plus the first paragraph of the description, markdown links and HTML tags
/// stripped, cut near `DESCRIPTION_MAX` characters on a word boundary.
pub(crate) fn describe(summary: &str, description: &str, deprecated: bool) -> String {
    let summary = clean(summary);
    let paragraph = description
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(clean)
        .find(|p| !p.is_empty())
        .unwrap_or_default();
    let norm = |s: &str| s.trim_end_matches('.').to_lowercase();
    let mut text = if summary.is_empty() {
        paragraph
    } else if paragraph.is_empty() || norm(&paragraph).starts_with(&norm(&summary)) {
        if paragraph.len() > summary.len() {
            paragraph
        } else {
            summary
        }
    } else {
        let sep = if summary.ends_with(['.', '!', '?', ':']) {
            " "
        } else {
            ". "
        };
        format!("{summary}{sep}{paragraph}")
    };
    if deprecated {
        text = format!("Deprecated. {text}").trim_end().to_owned();
    }
    truncate(&text, DESCRIPTION_MAX)
}

/// Every paragraph of a description as one line of plain text, cut near
/// `DETAILS_MAX` characters.
fn full_description(description: &str) -> String {
    let text = description
        .replace("\r\n", "\n")
        .split("\n\n")
        .map(clean)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    truncate(&text, DETAILS_MAX)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > max / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end_matches([',', ';', ':', ' ', '.']))
}

/// One line of plain text: `[text](url)` → `text`, `<tags>` dropped, whitespace collapsed.
fn clean(s: &str) -> String {
    let s = s.replace("![", "[");
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find(['[', '<']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(after) = tail.strip_prefix('[')
            && let Some(close) = after.find(']')
            && after[close + 1..].starts_with('(')
            && let Some(paren) = after[close + 1..].find(')')
        {
            out.push_str(&after[..close]);
            rest = &after[close + 1 + paren + 1..];
        } else if tail.starts_with('<')
            && let Some(close) = tail.find('>')
            && tail[1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/' || c == '!')
        {
            out.push(' ');
            rest = &tail[close + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    // Dropped tags leave a space before punctuation: `<b>x</b>.` → `x .`.
    out.replace(" .", ".").replace(" ,", ",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(
            describe(
                "Get a repo",
                "See [the docs](https://x.y/z) for <b>more</b>.\n\nSecond.",
                false
            ),
            "Get a repo. See the docs for more."
        );
        assert_eq!(describe("", "", true), "Deprecated.");
        let long = "word ".repeat(200);
        assert!(describe(&long, "", false).chars().count() <= DESCRIPTION_MAX + 1);
    }
}
