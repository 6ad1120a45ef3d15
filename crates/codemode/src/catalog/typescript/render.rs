//! One JSON Schema → one TypeScript type expression.
//!
//! The renderer never fails: anything it does not understand becomes `unknown`, and
//! hard caps on nesting and work keep hostile or exploding schemas (a DAG of local `$ref`s
//! expands exponentially) from overflowing the stack or running for ever.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::ident::{comment_safe, property_key, string_literal};

/// Schema nesting the renderer follows before answering `unknown` (stack safety).
const MAX_LEVEL: usize = 64;
/// Schema nodes visited per rendering before the rest becomes `unknown`. The largest
/// resolved tool schemas of GitHub, Stripe and Graph have under 2,500 JSON nodes; a DAG of
/// local refs can expand exponentially, and this keeps it to about a megabyte of text.
const MAX_WORK: usize = 20_000;
/// Longest `@default`/`@example` value kept in a doc comment.
const MAX_DOC_VALUE_CHARS: usize = 120;
/// Names listed in the comment of an object abbreviated for depth.
const ABBREVIATED_NAMES: usize = 4;
const INDENT: &str = "  ";

/// What a rendering may show; `usize::MAX` means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Object literals nested deeper than this are abbreviated to `object /* … */`.
    pub depth: usize,
    /// Properties shown per object literal; the rest are counted in a comment.
    pub properties: usize,
    /// Literals shown per `enum`.
    pub enum_values: usize,
}

/// How a rendered type combines with operators around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Needs no parentheses anywhere: keywords, literals, `{ … }`, `[ … ]`, `X<…>`.
    Atom,
    Union,
    Intersection,
    /// Ends in a comment: wrap before appending `[]` or `?`.
    Commented,
}

#[derive(Debug, Clone)]
struct Ty {
    text: String,
    kind: Kind,
}

impl Ty {
    fn atom(text: impl Into<String>) -> Ty {
        Ty {
            text: text.into(),
            kind: Kind::Atom,
        }
    }

    fn commented(text: impl Into<String>) -> Ty {
        Ty {
            text: text.into(),
            kind: Kind::Commented,
        }
    }

    fn is(&self, keyword: &str) -> bool {
        self.text == keyword
    }

    /// `T[]` for atoms, `Array<T>` otherwise: `A | B[]` would mean something else.
    fn array(self) -> Ty {
        match self.kind {
            Kind::Atom => Ty::atom(format!("{}[]", self.text)),
            _ => Ty::atom(format!("Array<{}>", self.text)),
        }
    }

    fn parenthesized(self) -> String {
        match self.kind {
            Kind::Atom => self.text,
            _ => format!("({})", self.text),
        }
    }
}

/// Whether a TypeScript type needs no parentheses before `[]` or `?`: a name (with type
/// arguments), or one bracketed term (`[a: string]`, `{ id: string }`, `(A | B)`).
fn is_one_term(ts: &str) -> bool {
    let mut depth = 0usize;
    for (i, c) in ts.char_indices() {
        match c {
            '[' | '{' | '(' | '<' => depth += 1,
            ']' | '}' | ')' | '>' => {
                depth = depth.saturating_sub(1);
                // A bracketed term that closes before the end is followed by more type.
                if depth == 0
                    && i + 1 < ts.len()
                    && !ts.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$')
                {
                    return false;
                }
            }
            c if depth == 0 && !(c.is_alphanumeric() || "_$.".contains(c)) => return false,
            _ => {}
        }
    }
    depth == 0
}

fn union(parts: Vec<Ty>) -> Ty {
    let mut seen = HashSet::new();
    let mut members = Vec::new();
    for part in parts {
        if part.is("unknown") {
            return Ty::atom("unknown");
        }
        if part.is("never") || !seen.insert(part.text.clone()) {
            continue;
        }
        members.push(part);
    }
    match members.len() {
        0 => Ty::atom("never"),
        1 => members.pop().unwrap_or_else(|| Ty::atom("never")),
        _ => Ty {
            text: members
                .into_iter()
                .map(|m| m.text)
                .collect::<Vec<_>>()
                .join(" | "),
            kind: Kind::Union,
        },
    }
}

fn intersection(parts: Vec<Ty>) -> Ty {
    let mut seen = HashSet::new();
    let mut members = Vec::new();
    for part in parts {
        if part.is("never") {
            return Ty::atom("never");
        }
        if part.is("unknown") || !seen.insert(part.text.clone()) {
            continue;
        }
        members.push(part);
    }
    match members.len() {
        0 => Ty::atom("unknown"),
        1 => members.pop().unwrap_or_else(|| Ty::atom("unknown")),
        _ => Ty {
            text: members
                .into_iter()
                .map(|m| match m.kind {
                    Kind::Union => format!("({})", m.text),
                    _ => m.text,
                })
                .collect::<Vec<_>>()
                .join(" & "),
            kind: Kind::Intersection,
        },
    }
}

fn literal(value: &Value) -> Ty {
    Ty::atom(match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_literal(s),
        Value::Array(_) => "unknown[]".to_owned(),
        Value::Object(_) => "Record<string, unknown>".to_owned(),
    })
}

/// `#/components/schemas/repo` → `repo`: the comment only has to say which schema.
pub(crate) fn short_ref(reference: &str) -> String {
    let short = ["#/components/schemas/", "#/$defs/", "#/definitions/"]
        .iter()
        .find_map(|prefix| reference.strip_prefix(prefix))
        .unwrap_or(reference);
    comment_safe(short)
}

/// Resolves a local JSON pointer (`#`, `#/$defs/a~1b`, `#/properties/x%20y`).
pub(crate) fn resolve_pointer<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    let mut node = root;
    for raw in pointer.strip_prefix('/')?.split('/') {
        let segment = percent_decode(raw).replace("~1", "/").replace("~0", "~");
        node = match node {
            Value::Object(map) => map.get(&segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Keys an `allOf` member may have and still be merged into one object literal.
fn is_simple_object(map: &Map<String, Value>) -> bool {
    map.iter().all(|(key, value)| match key.as_str() {
        "type" => value.as_str() == Some("object"),
        "additionalProperties" => value.is_boolean(),
        "nullable" | "x-nullable" => value.as_bool() == Some(false),
        "properties" => value.is_object(),
        "required" => value.is_array(),
        "description" | "title" | "example" | "examples" | "deprecated" | "readOnly"
        | "writeOnly" | "$schema" | "$id" | "$comment" | "externalDocs" | "xml" => true,
        other => other.starts_with("x-"),
    })
}

fn is_nullable(map: &Map<String, Value>) -> bool {
    map.get("nullable").and_then(Value::as_bool) == Some(true)
        || map.get("x-nullable").and_then(Value::as_bool) == Some(true)
}

/// Type keywords implied by structure when `type` is absent.
fn inferred_types(map: &Map<String, Value>) -> Vec<&'static str> {
    // Not `required` alone: `oneOf: [{required: [a]}, {required: [b]}]` constrains the
    // enclosing object and must not add `& Record<string, unknown>` to it.
    const OBJECT_KEYS: &[&str] = &["properties", "additionalProperties", "patternProperties"];
    const ARRAY_KEYS: &[&str] = &["items", "prefixItems", "additionalItems"];
    if OBJECT_KEYS.iter().any(|k| map.contains_key(*k)) {
        vec!["object"]
    } else if ARRAY_KEYS.iter().any(|k| map.contains_key(*k)) {
        vec!["array"]
    } else {
        Vec::new()
    }
}

pub(crate) struct Renderer<'a> {
    root: &'a Value,
    limits: Limits,
    multiline: bool,
    docs: bool,
    max_doc_chars: Option<usize>,
    /// Local refs rendered as named aliases (pointer → qualified name), in declarations.
    named: Option<&'a HashMap<String, String>>,
    stack: Vec<String>,
    level: usize,
    work: usize,
    /// Whether the depth limit abbreviated an object (a deeper rendering would differ).
    pub(crate) depth_cut: bool,
}

impl<'a> Renderer<'a> {
    pub(crate) fn new(root: &'a Value, limits: Limits, multiline: bool, docs: bool) -> Self {
        Renderer {
            root,
            limits,
            multiline,
            docs: docs && multiline,
            max_doc_chars: None,
            named: None,
            stack: Vec::new(),
            level: 0,
            work: 0,
            depth_cut: false,
        }
    }

    pub(crate) fn max_doc_chars(mut self, max: Option<usize>) -> Self {
        self.max_doc_chars = max;
        self
    }

    pub(crate) fn named(mut self, named: Option<&'a HashMap<String, String>>) -> Self {
        self.named = named;
        self
    }

    /// Renders `schema` (which lives in, or is, the root) as a type expression whose
    /// continuation lines are indented `indent` levels.
    pub(crate) fn render(&mut self, schema: &Value, indent: usize) -> String {
        self.ty(schema, 1, indent).text
    }

    /// Doc comment lines for a property (or tool) described by `schema`.
    pub(crate) fn doc_lines(&self, schema: &Value) -> Vec<String> {
        let Some(map) = schema.as_object() else {
            return Vec::new();
        };
        let fallback = self.doc_fallback(map);
        let text = map
            .get("description")
            .or_else(|| map.get("title"))
            .and_then(Value::as_str)
            .or_else(|| {
                fallback.and_then(|f| {
                    f.get("description")
                        .or_else(|| f.get("title"))
                        .and_then(Value::as_str)
                })
            })
            .unwrap_or("");
        let text = match self.max_doc_chars {
            Some(max) => base::truncate(text, max),
            None => text.to_owned(),
        };
        let mut lines = description_lines(&text);
        let annotation = |key: &str| {
            map.get(key)
                .or_else(|| fallback.and_then(|f| f.get(key)))
                .filter(|v| !v.is_null())
        };
        if let Some(format) = annotation("format").and_then(Value::as_str) {
            lines.push(format!("@format {format}"));
        }
        if let Some(default) = annotation("default") {
            lines.push(format!("@default {}", doc_value(default)));
        }
        if annotation("deprecated").and_then(Value::as_bool) == Some(true) {
            lines.push("@deprecated".to_owned());
        }
        let example = annotation("example").or_else(|| {
            annotation("examples")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
        });
        if let Some(example) = example {
            lines.push(format!("@example {}", doc_value(example)));
        }
        lines.iter().map(|l| comment_safe(l)).collect()
    }

    /// Where a `$ref`-only (or single-`allOf`) property finds its documentation.
    fn doc_fallback(&self, map: &Map<String, Value>) -> Option<&'a Map<String, Value>> {
        let reference = map.get("$ref").and_then(Value::as_str).or_else(|| {
            match map
                .get("allOf")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
            {
                Some([only]) => only.get("$ref").and_then(Value::as_str),
                _ => None,
            }
        })?;
        resolve_pointer(self.root, reference)?.as_object()
    }

    fn ty(&mut self, schema: &Value, depth: usize, indent: usize) -> Ty {
        self.work += 1;
        if self.work > MAX_WORK || self.level >= MAX_LEVEL {
            return Ty::atom("unknown");
        }
        self.level += 1;
        let ty = match schema {
            Value::Bool(false) => Ty::atom("never"),
            Value::Object(map) => self.map_ty(map, depth, indent),
            _ => Ty::atom("unknown"),
        };
        self.level -= 1;
        ty
    }

    fn map_ty(&mut self, map: &Map<String, Value>, depth: usize, indent: usize) -> Ty {
        /// Schema key whose string value is the TypeScript type to show for the schema.
        const TS_TYPE_KEY: &str = "x-typescript";
        // A type the catalog already has in TypeScript (an agent method's parameters, as
        // its source declares them): shown as written.
        if let Some(ts) = map.get(TS_TYPE_KEY).and_then(Value::as_str) {
            let ts = ts.split_whitespace().collect::<Vec<_>>().join(" ");
            return Ty::atom(if is_one_term(&ts) {
                ts
            } else {
                format!("({ts})")
            });
        }
        let mut parts = Vec::new();
        // Cut points of a pre-resolved OpenAPI schema; siblings (`nullable`…) still apply.
        for (marker, label) in [("$circular", "circular"), ("$truncated", "truncated")] {
            if let Some(target) = map.get(marker) {
                let target = target.as_str().unwrap_or("?");
                parts.push(Ty::commented(format!(
                    "unknown /* {label}: {} */",
                    short_ref(target)
                )));
            }
        }
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            parts.push(self.ref_ty(reference, depth, indent));
        }
        let all_of = map.get("allOf").and_then(Value::as_array);
        let merged = all_of.and_then(|members| self.merge_all_of(map, members));
        match merged {
            Some((merged, refs)) => {
                let pushed = refs.len();
                self.stack.extend(refs);
                parts.extend(self.core_ty(&merged, depth, indent));
                self.stack.truncate(self.stack.len() - pushed);
            }
            None => {
                parts.extend(self.core_ty(map, depth, indent));
                for member in all_of.into_iter().flatten() {
                    parts.push(self.ty(member, depth, indent));
                }
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(members) = map.get(key).and_then(Value::as_array) {
                let tys = members.iter().map(|m| self.ty(m, depth, indent)).collect();
                parts.push(union(tys));
            }
        }
        let ty = intersection(parts);
        if is_nullable(map) {
            union(vec![ty, Ty::atom("null")])
        } else {
            ty
        }
    }

    fn ref_ty(&mut self, reference: &str, depth: usize, indent: usize) -> Ty {
        if let Some(name) = self.named.and_then(|named| named.get(reference)) {
            return Ty::atom(name.clone());
        }
        if self.stack.iter().any(|r| r == reference) {
            return Ty::commented(format!("unknown /* circular: {} */", short_ref(reference)));
        }
        let root = self.root;
        match resolve_pointer(root, reference) {
            Some(target) => {
                self.stack.push(reference.to_owned());
                let ty = self.ty(target, depth, indent);
                self.stack.pop();
                ty
            }
            None => Ty::commented(format!(
                "unknown /* unresolved: {} */",
                comment_safe(reference)
            )),
        }
    }

    /// Merges `{properties…, allOf: [simple objects…]}` into one object schema, so
    /// `A & B & C` of plain objects reads as one literal. `None` when any part is more
    /// than properties (a union, a map, a recursive ref…): then it stays an intersection.
    fn merge_all_of(
        &self,
        base: &Map<String, Value>,
        members: &[Value],
    ) -> Option<(Map<String, Value>, Vec<String>)> {
        if base.contains_key("const") || base.contains_key("enum") {
            return None;
        }
        match base.get("type") {
            None => {}
            Some(t) if t.as_str() == Some("object") => {}
            Some(_) => return None,
        }
        let mut refs = Vec::new();
        let mut parts: Vec<&Map<String, Value>> = Vec::new();
        for member in members {
            let mut map = member.as_object()?;
            if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                let only_annotations = map.keys().all(|k| {
                    matches!(k.as_str(), "$ref" | "description" | "title") || k.starts_with("x-")
                });
                let named = self.named.is_some_and(|n| n.contains_key(reference));
                if !only_annotations || named || self.stack.iter().any(|r| r == reference) {
                    return None;
                }
                map = resolve_pointer(self.root, reference)?.as_object()?;
                refs.push(reference.to_owned());
            }
            if !is_simple_object(map) {
                return None;
            }
            parts.push(map);
        }
        let mut properties = Map::new();
        let mut required: Vec<Value> = Vec::new();
        let base_part = std::iter::once(base);
        for part in base_part.chain(parts.iter().copied()) {
            if let Some(props) = part.get("properties").and_then(Value::as_object) {
                for (name, schema) in props {
                    match properties.get_mut(name) {
                        Some(existing) if existing == schema => {}
                        Some(existing) => {
                            let both = Value::Array(vec![existing.take(), schema.clone()]);
                            *existing = Value::Object(Map::from_iter([("allOf".to_owned(), both)]));
                        }
                        None => {
                            properties.insert(name.clone(), schema.clone());
                        }
                    }
                }
            }
            for name in part
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !required.contains(name) {
                    required.push(name.clone());
                }
            }
        }
        let mut merged = Map::new();
        merged.insert("type".to_owned(), Value::from("object"));
        merged.insert("properties".to_owned(), Value::Object(properties));
        merged.insert("required".to_owned(), Value::Array(required));
        for key in ["additionalProperties", "patternProperties"] {
            if let Some(value) = base.get(key) {
                merged.insert(key.to_owned(), value.clone());
            }
        }
        Some((merged, refs))
    }

    /// The schema's own type (`const`, `enum`, `type` or inferred), `None` when it only
    /// combines others.
    fn core_ty(&mut self, map: &Map<String, Value>, depth: usize, indent: usize) -> Option<Ty> {
        if let Some(value) = map.get("const") {
            return Some(literal(value));
        }
        if let Some(values) = map.get("enum").and_then(Value::as_array) {
            return Some(self.enum_ty(values));
        }
        let types: Vec<&str> = match map.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => inferred_types(map),
        };
        if types.is_empty() {
            return None;
        }
        let tys = types
            .into_iter()
            .map(|t| match t {
                "string" => Ty::atom("string"),
                "number" | "integer" => Ty::atom("number"),
                "boolean" => Ty::atom("boolean"),
                "null" => Ty::atom("null"),
                "array" => self.array_ty(map, depth, indent),
                "object" => self.object_ty(map, depth, indent),
                _ => Ty::atom("unknown"),
            })
            .collect();
        Some(union(tys))
    }

    fn enum_ty(&mut self, values: &[Value]) -> Ty {
        let shown = values.len().min(self.limits.enum_values);
        let ty = union(values[..shown].iter().map(literal).collect());
        if shown < values.len() {
            Ty::commented(format!("{} /* +{} more */", ty.text, values.len() - shown))
        } else {
            ty
        }
    }

    fn array_ty(&mut self, map: &Map<String, Value>, depth: usize, indent: usize) -> Ty {
        // 2020-12 tuples use `prefixItems` (+ `items` for the rest); draft-07 an `items`
        // array (+ `additionalItems`).
        let (prefix, rest) = match (map.get("prefixItems"), map.get("items")) {
            (Some(Value::Array(prefix)), rest) => (Some(prefix), rest),
            (_, Some(Value::Array(prefix))) => (Some(prefix), map.get("additionalItems")),
            (_, items) => (None, items),
        };
        let Some(prefix) = prefix else {
            return match rest {
                Some(Value::Bool(false)) => Ty::atom("[]"),
                Some(items) => self.ty(items, depth, indent).array(),
                None => Ty::atom("unknown[]"),
            };
        };
        let min = map
            .get("minItems")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .try_into()
            .unwrap_or(usize::MAX);
        let max = map.get("maxItems").and_then(Value::as_u64);
        let mut elements: Vec<String> = prefix
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let ty = self.ty(item, depth, indent);
                if i < min {
                    ty.text
                } else {
                    format!("{}?", ty.parenthesized())
                }
            })
            .collect();
        let closed = max.is_some_and(|max| max <= prefix.len() as u64);
        match rest {
            _ if closed => {}
            Some(Value::Bool(false)) => {}
            None | Some(Value::Bool(true)) => elements.push("...unknown[]".to_owned()),
            Some(items) => {
                let ty = self.ty(items, depth, indent).array();
                elements.push(format!("...{}", ty.text));
            }
        }
        Ty::atom(format!("[{}]", elements.join(", ")))
    }

    /// The value type of an index signature, from `additionalProperties` and
    /// `patternProperties`; `None` for a closed object or an open one whose extra keys
    /// JSON Schema allows but the schema does not describe (kept closed: TS convention).
    fn index_ty(&mut self, map: &Map<String, Value>, depth: usize, indent: usize) -> Option<Ty> {
        let mut parts = Vec::new();
        if let Some(patterns) = map.get("patternProperties").and_then(Value::as_object) {
            for schema in patterns.values() {
                parts.push(self.ty(schema, depth, indent));
            }
        }
        match map.get("additionalProperties") {
            Some(Value::Bool(true)) => parts.push(Ty::atom("unknown")),
            Some(schema @ Value::Object(_)) => parts.push(self.ty(schema, depth, indent)),
            _ => {}
        }
        (!parts.is_empty()).then(|| union(parts))
    }

    fn object_ty(&mut self, map: &Map<String, Value>, depth: usize, indent: usize) -> Ty {
        let properties = map
            .get("properties")
            .and_then(Value::as_object)
            .filter(|p| !p.is_empty());
        let Some(properties) = properties else {
            return match self.index_ty(map, depth + 1, indent) {
                Some(ty) => Ty::atom(format!("Record<string, {}>", ty.text)),
                None if map.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    Ty::atom("Record<string, never>")
                }
                None => Ty::atom("Record<string, unknown>"),
            };
        };
        if depth > self.limits.depth || self.limits.properties == 0 {
            self.depth_cut |= depth > self.limits.depth;
            return Ty::commented(abbreviated(properties));
        }
        let required: HashSet<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let shown = self.select_properties(properties, &required);
        let omitted = properties.len() - shown.len();
        let mut members: Vec<(Vec<String>, String)> = Vec::new();
        let mut property_tys = Vec::new();
        for (name, schema) in shown {
            let ty = self.ty(schema, depth + 1, indent + 1);
            let optional = !required.contains(name.as_str());
            let doc = if self.docs {
                self.doc_lines(schema)
            } else {
                Vec::new()
            };
            let mark = if optional { "?" } else { "" };
            members.push((doc, format!("{}{mark}: {}", property_key(name), ty.text)));
            property_tys.push(ty);
            if optional {
                property_tys.push(Ty::atom("undefined"));
            }
        }
        if let Some(index) = self.index_ty(map, depth + 1, indent + 1) {
            let index = compatible_index(index, property_tys);
            members.push((Vec::new(), format!("[key: string]: {}", index.text)));
        }
        if omitted > 0 {
            let noun = if omitted == 1 {
                "property"
            } else {
                "properties"
            };
            members.push((Vec::new(), format!("/* {omitted} more {noun} */")));
        }
        Ty::atom(self.object_literal(members, indent))
    }

    /// Every property when within the limit, else required ones first (a call needs
    /// them), then optional ones, shown in schema order.
    fn select_properties<'m>(
        &mut self,
        properties: &'m Map<String, Value>,
        required: &HashSet<&str>,
    ) -> Vec<(&'m String, &'m Value)> {
        let limit = self.limits.properties;
        if properties.len() <= limit {
            return properties.iter().collect();
        }
        let mut keep: HashSet<&str> = properties
            .keys()
            .filter(|k| required.contains(k.as_str()))
            .take(limit)
            .map(String::as_str)
            .collect();
        for key in properties.keys() {
            if keep.len() >= limit {
                break;
            }
            keep.insert(key);
        }
        properties
            .iter()
            .filter(|(k, _)| keep.contains(k.as_str()))
            .collect()
    }

    fn object_literal(&self, members: Vec<(Vec<String>, String)>, indent: usize) -> String {
        if !self.multiline {
            let body: Vec<String> = members.into_iter().map(|(_, m)| m).collect();
            return format!("{{ {} }}", body.join("; "));
        }
        let inner = INDENT.repeat(indent + 1);
        let mut out = String::from("{\n");
        for (doc, member) in members {
            out.push_str(&jsdoc(&doc, &inner));
            out.push_str(&inner);
            out.push_str(&member);
            if !member.starts_with("/*") {
                out.push(';');
            }
            out.push('\n');
        }
        out.push_str(&INDENT.repeat(indent));
        out.push('}');
        out
    }
}

/// TS requires every named property to fit the string index signature. A short union of
/// the property types keeps the extra-keys type visible; past that, `unknown`.
fn compatible_index(index: Ty, property_tys: Vec<Ty>) -> Ty {
    const MAX_MEMBERS: usize = 6;
    const MAX_MEMBER_CHARS: usize = 40;
    if index.is("unknown") || property_tys.is_empty() {
        return index;
    }
    let simple = property_tys
        .iter()
        .all(|t| t.text.len() <= MAX_MEMBER_CHARS && !t.text.contains('\n'));
    let mut all = vec![index];
    all.extend(property_tys);
    let merged = union(all);
    let members = merged.text.matches(" | ").count() + 1;
    if simple && members <= MAX_MEMBERS {
        merged
    } else {
        Ty::atom("unknown")
    }
}

fn abbreviated(properties: &Map<String, Value>) -> String {
    let names: Vec<String> = properties
        .keys()
        .take(ABBREVIATED_NAMES)
        .map(|k| comment_safe(k))
        .collect();
    let more = properties.len().saturating_sub(ABBREVIATED_NAMES);
    if more > 0 {
        format!("object /* {}, +{more} more */", names.join(", "))
    } else {
        format!("object /* {} */", names.join(", "))
    }
}

/// Description text as comment lines: no `\r`, no leading/trailing or repeated blanks.
pub(crate) fn description_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in text.replace('\r', "").lines() {
        let line = line.trim_end();
        if line.is_empty() && lines.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        lines.push(line.to_owned());
    }
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

fn doc_value(value: &Value) -> String {
    base::truncate(&value.to_string(), MAX_DOC_VALUE_CHARS)
}

/// `/** one line */` or a multi-line block, each line indented by `indent`; empty for
/// no lines. Lines must already be comment-safe.
pub(crate) fn jsdoc(lines: &[String], indent: &str) -> String {
    match lines {
        [] => String::new(),
        [only] => format!("{indent}/** {only} */\n"),
        _ => {
            let mut out = format!("{indent}/**\n");
            for line in lines {
                if line.is_empty() {
                    out.push_str(&format!("{indent} *\n"));
                } else {
                    out.push_str(&format!("{indent} * {line}\n"));
                }
            }
            out.push_str(&format!("{indent} */\n"));
            out
        }
    }
}
