//! A loaded spec: its documents (unresolved, in the OpenAPI 3.x shape), a table of every
//! `$ref`, an index of the operations that are usable, and the warnings about the rest.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::load::Assembly;
use super::refs::{Doc, Lean, Location, RefTable, Resolver, Sizes, deref};
use sandbox::json_kind;

/// Budget units (about one JSON value or 64 bytes of text, see [`Resolver::resolve`]) for
/// all resolved path items together, shared out per path item within the bounds below:
/// whole-spec resolution of Microsoft Graph must not take gigabytes.
const PATHS_BUDGET: usize = 4_000_000;
const PATH_ITEM_BUDGET_MIN: usize = 1_000;
const PATH_ITEM_BUDGET_MAX: usize = 20_000;

pub(crate) const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// One usable operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template, e.g. `/repos/{owner}/{repo}`.
    pub path: String,
    /// The spec's `operationId`, when it has one.
    pub operation_id: Option<String>,
    /// String tags, in spec order.
    pub tags: Vec<String>,
    /// Index into `Spec::items`.
    pub(crate) item: usize,
}

/// Where a path item lives (after following a path-item `$ref`).
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) doc: usize,
    pub(crate) tokens: Vec<String>,
}

/// A loaded OpenAPI document (Swagger 2.0 already converted), references indexed but not
/// inlined: see [`Spec::resolved_path`] and [`Spec::resolved`].
#[derive(Debug)]
pub struct Spec {
    origin: String,
    source_version: String,
    pub(crate) docs: Vec<Doc>,
    pub(crate) refs: RefTable,
    operations: Vec<Operation>,
    pub(crate) items: Vec<Item>,
    item_by_path: HashMap<String, usize>,
    title: String,
    version: String,
    servers: Vec<String>,
    warnings: Vec<String>,
}

impl Spec {
    pub(crate) fn from_assembly(assembly: Assembly, origin: &str) -> Spec {
        let Assembly {
            docs,
            mut warnings,
            source_version,
            ..
        } = assembly;
        let refs = RefTable::build(&docs, &mut warnings);
        let root = &docs[0].value;
        let title = match root.pointer("/info/title") {
            Some(Value::String(t)) if !t.trim().is_empty() => t.trim().to_owned(),
            _ => "API".to_owned(),
        };
        let version = match root.pointer("/info/version") {
            Some(Value::String(v)) => v.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let servers = servers(root, &docs[0].location);
        let mut spec = Spec {
            origin: origin.to_owned(),
            source_version,
            docs,
            refs,
            operations: Vec::new(),
            items: Vec::new(),
            item_by_path: HashMap::new(),
            title,
            version,
            servers,
            warnings: Vec::new(),
        };
        spec.index(&mut warnings);
        spec.warnings = warnings;
        spec
    }

    pub(crate) fn root(&self) -> &Value {
        &self.docs[0].value
    }

    pub(crate) fn resolver(&self) -> Resolver<'_> {
        Resolver {
            docs: &self.docs,
            table: &self.refs,
        }
    }

    /// Follows `$ref`s from `value` (found in document `doc`).
    pub(crate) fn deref<'a>(
        &'a self,
        doc: usize,
        value: &'a Value,
    ) -> Result<(usize, &'a Value), String> {
        deref(&self.docs, &self.refs, doc, value)
    }

    /// The path item of an operation and the document it lives in.
    pub(crate) fn item(&self, op: &Operation) -> Option<(usize, &Value)> {
        let item = self.items.get(op.item)?;
        let v = super::refs::lookup(&self.docs.get(item.doc)?.value, &item.tokens)?;
        Some((item.doc, v))
    }

    fn index(&mut self, warnings: &mut Vec<String>) {
        let mut skip = |what: String, reason: String| {
            let msg = format!("skipped {what}: {reason}");
            tracing::warn!("{msg}");
            warnings.push(msg);
        };
        let Some(Value::Object(paths)) = self.docs[0].value.get("paths") else {
            return;
        };
        let mut operations = Vec::new();
        let mut items = Vec::new();
        let mut item_by_path = HashMap::new();
        for (path, raw_item) in paths {
            if !path.starts_with('/') {
                skip(
                    format!("path `{path}`"),
                    "paths must start with `/`".to_owned(),
                );
                continue;
            }
            let (doc, item) = match self.deref(0, raw_item) {
                Ok(found) => found,
                Err(e) => {
                    skip(format!("path `{path}`"), e);
                    continue;
                }
            };
            let Value::Object(item_map) = item else {
                skip(
                    format!("path `{path}`"),
                    format!("the path item is {}, not an object", json_kind(item)),
                );
                continue;
            };
            let tokens = match raw_item.get("$ref") {
                // Locate the target again to store where it lives.
                Some(Value::String(r)) => match self.refs_target_tokens(0, r) {
                    Some((d, t)) if d == doc => t,
                    _ => {
                        skip(
                            format!("path `{path}`"),
                            format!("$ref `{r}` does not resolve"),
                        );
                        continue;
                    }
                },
                _ => vec!["paths".to_owned(), path.clone()],
            };
            let item_idx = items.len();
            items.push(Item { doc, tokens });
            item_by_path.insert(path.clone(), item_idx);
            for &method in METHODS {
                let Some(op) = item_map.get(method) else {
                    continue;
                };
                let operation_id = op
                    .get("operationId")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let what = match &operation_id {
                    Some(id) => format!("{} {path} ({id})", method.to_uppercase()),
                    None => format!("{} {path}", method.to_uppercase()),
                };
                if let Err(reason) = self.validate(doc, item_map, op) {
                    skip(what, reason);
                    continue;
                }
                let tags = match op.get("tags") {
                    Some(Value::Array(tags)) => tags
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    _ => Vec::new(),
                };
                operations.push(Operation {
                    method: method.to_uppercase(),
                    path: path.clone(),
                    operation_id,
                    tags,
                    item: item_idx,
                });
            }
        }
        self.operations = operations;
        self.items = items;
        self.item_by_path = item_by_path;
    }

    fn refs_target_tokens(&self, doc: usize, reference: &str) -> Option<(usize, Vec<String>)> {
        self.refs.target_tokens(doc, reference)
    }

    /// Checks what the catalog relies on, so that building tools never meets a surprise.
    fn validate(&self, doc: usize, item: &Map<String, Value>, op: &Value) -> Result<(), String> {
        let Value::Object(op) = op else {
            return Err(format!("the operation is {}, not an object", json_kind(op)));
        };
        for (level, params) in [
            ("path-level ", item.get("parameters")),
            ("", op.get("parameters")),
        ] {
            let Some(params) = params else { continue };
            let Value::Array(params) = params else {
                return Err(format!(
                    "{level}`parameters` is {}, not an array",
                    json_kind(params)
                ));
            };
            for (i, p) in params.iter().enumerate() {
                let (_, p) = self
                    .deref(doc, p)
                    .map_err(|e| format!("{level}parameter #{}: {e}", i + 1))?;
                let name = p.get("name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    return Err(format!("{level}parameter #{} has no `name`", i + 1));
                }
                match p.get("in").and_then(Value::as_str) {
                    Some("path" | "query" | "header" | "cookie") => {}
                    other => {
                        return Err(format!(
                            "{level}parameter `{name}` has `in: {}`; expected path, query, header or cookie",
                            other.unwrap_or("(missing)")
                        ));
                    }
                }
            }
        }
        if let Some(body) = op.get("requestBody") {
            let (_, body) = self
                .deref(doc, body)
                .map_err(|e| format!("requestBody: {e}"))?;
            if !body.is_object() {
                return Err(format!(
                    "`requestBody` is {}, not an object",
                    json_kind(body)
                ));
            }
            if let Some(content) = body.get("content")
                && !content.is_object()
            {
                return Err(format!(
                    "`requestBody.content` is {}, not an object",
                    json_kind(content)
                ));
            }
        }
        if let Some(responses) = op.get("responses")
            && !responses.is_object()
        {
            return Err(format!(
                "`responses` is {}, not an object",
                json_kind(responses)
            ));
        }
        Ok(())
    }

    /// Budget of one resolved path item: [`PATHS_BUDGET`] shared out.
    fn path_item_budget(&self) -> usize {
        (PATHS_BUDGET / self.items.len().max(1)).clamp(PATH_ITEM_BUDGET_MIN, PATH_ITEM_BUDGET_MAX)
    }

    /// Every document loaded: the spec itself first, then the files and URLs its `$ref`s
    /// reached (each once).
    pub fn documents(&self) -> Vec<String> {
        self.docs.iter().map(|d| d.location.display()).collect()
    }

    /// Where the spec was loaded from (path or URL).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// `info.title` ("API" when missing).
    pub fn title(&self) -> &str {
        &self.title
    }

    /// `info.version` (the API's version, not the OpenAPI version).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The `openapi` or `swagger` version the document was written in (`"2.0"` for a
    /// converted Swagger document).
    pub fn source_version(&self) -> &str {
        &self.source_version
    }

    /// Base URLs, server variables replaced by their defaults, without trailing `/`.
    pub fn servers(&self) -> &[String] {
        &self.servers
    }

    /// Usable operations (broken ones are skipped and appear in [`Spec::warnings`]).
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// How many operations are usable.
    pub fn operation_count(&self) -> usize {
        self.operations.len()
    }

    /// First tags with their operation counts, most used first (ties by name).
    pub fn tags(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for op in &self.operations {
            if let Some(tag) = op.tags.first() {
                *counts.entry(tag.as_str()).or_default() += 1;
            }
        }
        let mut tags: Vec<(String, usize)> =
            counts.into_iter().map(|(t, n)| (t.to_owned(), n)).collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        tags
    }

    /// What was skipped or degraded while loading, one line each.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The document as loaded (3.x shape, references not inlined).
    pub fn raw(&self) -> &Value {
        self.root()
    }

    /// Path templates in spec order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.root()
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|m| m.keys().map(String::as_str))
    }

    /// One path item (e.g. `"/repos/{owner}/{repo}"`) with every `$ref` inlined: cycles cut
    /// to `{"$circular": ref}`; past a budget (4M units, about one JSON value or 64 bytes
    /// of text each, shared out over the paths: 1k to 20k per item) deep references cut to
    /// `{"$truncated": ref}`; discriminator mappings left out. `None` for an unknown or
    /// skipped path. Equal to `resolved()["paths"][path]`.
    pub fn resolved_path(&self, path: &str) -> Option<Value> {
        let item = self.items.get(*self.item_by_path.get(path)?)?;
        let value = super::refs::lookup(&self.docs.get(item.doc)?.value, &item.tokens)?;
        Some(self.resolver().resolve(
            &mut Sizes::new(Lean::Mappings),
            item.doc,
            value,
            self.path_item_budget(),
        ))
    }

    /// Path items of the usable operations, in spec order: `(path, item)` where `item` is the
    /// index [`Operation`]s refer to and the path item as written (after a path-item `$ref`).
    pub(crate) fn path_items(&self) -> Vec<(&str, usize, &Value)> {
        let mut by_index: Vec<(&str, usize)> = self
            .item_by_path
            .iter()
            .map(|(path, &i)| (path.as_str(), i))
            .collect();
        by_index.sort_by_key(|&(_, i)| i);
        by_index
            .into_iter()
            .filter_map(|(path, i)| {
                let item = self.items.get(i)?;
                let value = super::refs::lookup(&self.docs.get(item.doc)?.value, &item.tokens)?;
                Some((path, i, value))
            })
            .collect()
    }

    /// `key` of path item `item` (with `method`: of that operation) resolved as
    /// [`Spec::resolved_path`] resolves it inside the whole item, within one item's budget.
    /// `None` when there is no such value.
    pub(crate) fn resolved_member(
        &self,
        item: usize,
        method: Option<&str>,
        key: &str,
    ) -> Option<Value> {
        let entry = self.items.get(item)?;
        let item_value = super::refs::lookup(&self.docs.get(entry.doc)?.value, &entry.tokens)?;
        let parent = match method {
            Some(method) => item_value.get(method)?,
            None => item_value,
        };
        let value = parent.get(key)?;
        // Resolved as the one member of an object, so the key decides how its contents are
        // read (`responses` maps names, `x-` extensions are literal) as inside the item.
        let mut holder = Map::new();
        holder.insert(key.to_owned(), value.clone());
        let resolved = self.resolver().resolve(
            &mut Sizes::new(Lean::Mappings),
            entry.doc,
            &Value::Object(holder),
            self.path_item_budget(),
        );
        match resolved {
            Value::Object(mut m) => m.remove(key),
            _ => None,
        }
    }

    /// The 3.1 `webhooks`, each resolved as a path item is.
    pub(crate) fn resolved_webhooks(&self) -> Value {
        let resolver = self.resolver();
        let mut sizes = Sizes::new(Lean::Mappings);
        let budget = self.path_item_budget();
        match self.root().get("webhooks") {
            Some(Value::Object(items)) => Value::Object(
                items
                    .iter()
                    .map(|(name, item)| {
                        (name.clone(), resolver.resolve(&mut sizes, 0, item, budget))
                    })
                    .collect(),
            ),
            _ => Value::Null,
        }
    }

    /// The whole document with `paths` (and 3.1 `webhooks`) resolved as by
    /// [`Spec::resolved_path`]; `components` is left out since everything it holds that
    /// operations use is inlined. Costly on big specs: prefer `resolved_path`.
    pub fn resolved(&self) -> Value {
        let mut out = Map::new();
        let resolver = self.resolver();
        let mut sizes = Sizes::new(Lean::Mappings);
        let budget = self.path_item_budget();
        let Value::Object(root) = self.root() else {
            return Value::Object(out);
        };
        for (k, v) in root {
            match (k.as_str(), v) {
                ("components", _) => {}
                ("paths" | "webhooks", Value::Object(items)) => {
                    let resolved = items
                        .iter()
                        .map(|(p, item)| (p.clone(), resolver.resolve(&mut sizes, 0, item, budget)))
                        .collect();
                    out.insert(k.clone(), Value::Object(resolved));
                }
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        Value::Object(out)
    }
}

/// Server URLs with variables substituted by their defaults; relative ones resolved
/// against a URL origin.
fn servers(root: &Value, location: &Location) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(Value::Array(servers)) = root.get("servers") {
        for s in servers {
            let Some(url) = s.get("url").and_then(Value::as_str) else {
                continue;
            };
            let mut url = url.to_owned();
            if let Some(Value::Object(vars)) = s.get("variables") {
                for (name, var) in vars {
                    let default = match var.get("default") {
                        Some(Value::String(d)) => d.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => continue,
                    };
                    url = url.replace(&format!("{{{name}}}"), &default);
                }
            }
            if !url.contains("://")
                && let Location::Url(base) = location
                && let Ok(joined) = base.join(&url)
            {
                url = joined.to_string();
            }
            let url = url.trim_end_matches('/').to_owned();
            if !url.is_empty() && !out.contains(&url) {
                out.push(url);
            }
        }
    }
    if out.is_empty()
        && let Location::Url(base) = location
    {
        out.push(base.origin().ascii_serialization());
    }
    out
}
