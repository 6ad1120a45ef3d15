//! `$ref` machinery: the documents of one spec, JSON pointers, a table of every reference
//! built once at load, and resolution with cycle cutting and a size budget.
//!
//! Resolution is lazy (per schema, per path item) because full inlining explodes on real
//! specs: Microsoft Graph's entity graph is one big strongly connected component, so cutting
//! only at cycles yields astronomically large trees. Each resolution therefore has a node
//! budget: the deepest `$ref` nesting whose expansion fits is found from memoised size
//! estimates, and every branch is cut at that same depth (rather than the first branch
//! hogging the budget). Cut points are explicit markers.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

/// Marker key replacing a `$ref` that re-enters a schema already being expanded.
pub const CIRCULAR: &str = "$circular";
/// Marker key replacing a `$ref` cut because expanding it would exceed the size budget.
pub const TRUNCATED: &str = "$truncated";

/// Where a document came from: relative references resolve against it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Location {
    File(PathBuf),
    Url(reqwest::Url),
}

impl Location {
    /// An `http(s)://` origin is a URL; anything else is a file path.
    pub(crate) fn from_origin(origin: &str) -> Location {
        match reqwest::Url::parse(origin) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Location::Url(url),
            _ => Location::File(normalize(Path::new(origin))),
        }
    }

    /// The location of `reference` (the part of a `$ref` before `#`) relative to `self`.
    pub(crate) fn join(&self, reference: &str) -> Option<Location> {
        if let Ok(url) = reqwest::Url::parse(reference)
            && matches!(url.scheme(), "http" | "https")
        {
            return Some(Location::Url(url));
        }
        match self {
            Location::Url(base) => base.join(reference).ok().map(Location::Url),
            Location::File(base) => {
                let decoded = percent_encoding::percent_decode_str(reference)
                    .decode_utf8()
                    .ok()?;
                let rel = Path::new(decoded.as_ref());
                let joined = match base.parent() {
                    Some(dir) => dir.join(rel),
                    None => rel.to_path_buf(),
                };
                Some(Location::File(normalize(&joined)))
            }
        }
    }

    pub(crate) fn display(&self) -> String {
        match self {
            Location::File(p) => p.display().to_string(),
            Location::Url(u) => u.to_string(),
        }
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`) so one file is loaded once whatever the
/// spelling of the references to it; no filesystem access (the file may not exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// One loaded document (the root spec or a file it references).
#[derive(Debug)]
pub(crate) struct Doc {
    pub(crate) location: Location,
    pub(crate) value: Value,
}

/// Splits a `$ref` into its document part and its fragment (without `#`).
pub(crate) fn split_ref(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('#') {
        Some((doc, frag)) => (doc, Some(frag)),
        None => (reference, None),
    }
}

/// JSON-pointer tokens of a URI fragment: percent-decoded first, then `~1` → `/`, `~0` → `~`
/// (RFC 6901 §6). `None` when the fragment is not a pointer (e.g. a 3.1 `$anchor`).
pub(crate) fn pointer_tokens(fragment: &str) -> Option<Vec<String>> {
    let decoded = percent_encoding::percent_decode_str(fragment)
        .decode_utf8()
        .ok()?;
    if decoded.is_empty() {
        return Some(Vec::new());
    }
    let rest = decoded.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect(),
    )
}

/// Escapes one token for display in a JSON pointer.
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

pub(crate) fn lookup<'a>(value: &'a Value, tokens: &[String]) -> Option<&'a Value> {
    tokens.iter().try_fold(value, |v, t| match v {
        Value::Object(m) => m.get(t.as_str()),
        Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// Looks a pointer up, accepting Swagger's `definitions` for OpenAPI's `components/schemas`
/// and back: a converted Swagger document may reference a plain JSON Schema file's
/// `#/definitions/X` (rewritten on conversion) and vice versa.
fn lookup_lenient<'a>(value: &'a Value, tokens: &[String]) -> Option<(&'a Value, Vec<String>)> {
    if let Some(v) = lookup(value, tokens) {
        return Some((v, tokens.to_vec()));
    }
    let alt: Vec<String> = match tokens {
        [c, s, rest @ ..] if c == "components" && s == "schemas" => {
            std::iter::once("definitions".to_owned())
                .chain(rest.iter().cloned())
                .collect()
        }
        [d, rest @ ..] if d == "definitions" => ["components", "schemas"]
            .into_iter()
            .map(str::to_owned)
            .chain(rest.iter().cloned())
            .collect(),
        _ => return None,
    };
    lookup(value, &alt).map(|v| (v, alt))
}

/// How the keys of an object are to be read while walking a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// Keys are OpenAPI / JSON Schema keywords: `$ref` is a reference, `example` a literal.
    Keyword,
    /// Keys are names chosen by the spec author (`properties`, `paths`, `responses`, ...):
    /// a property called `$ref` or `example` is just a name.
    Names,
    /// Like `Keyword`, for `allOf` members: a `$ref` here is inheritance (the members are
    /// one object), so it does not count as nesting when depth is limited.
    Inherit,
}

/// Keywords whose object value is a map from author-chosen names to objects.
const NAME_MAPS: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
    "paths",
    "webhooks",
    "responses",
    "content",
    "encoding",
    "headers",
    "links",
    "callbacks",
    "examples",
    "variables",
    "schemas",
    "parameters",
    "requestBodies",
    "securitySchemes",
    "pathItems",
];

/// Keywords whose value is literal data, never searched for references.
fn is_literal(key: &str, value: &Value) -> bool {
    matches!(key, "example" | "default" | "enum" | "const")
        || key.starts_with("x-")
        || (key == "examples" && value.is_array())
}

pub(crate) fn child_ctx(ctx: Ctx, key: &str, child: &Value) -> Ctx {
    if ctx == Ctx::Names {
        Ctx::Keyword
    } else if child.is_object() && NAME_MAPS.contains(&key) {
        Ctx::Names
    } else if key == "allOf" && child.is_array() {
        Ctx::Inherit
    } else {
        Ctx::Keyword
    }
}

/// Context of the items of an array found in context `ctx`.
fn item_ctx(ctx: Ctx) -> Ctx {
    if ctx == Ctx::Inherit {
        Ctx::Inherit
    } else {
        Ctx::Keyword
    }
}

/// Calls `f(site_pointer, reference)` for every `$ref` in `value`.
pub(crate) fn for_each_ref(value: &Value, f: &mut dyn FnMut(&[String], &str)) {
    fn walk(v: &Value, ctx: Ctx, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &str)) {
        match v {
            Value::Object(m) => {
                if ctx != Ctx::Names
                    && let Some(Value::String(r)) = m.get("$ref")
                {
                    f(path, r);
                }
                for (k, child) in m {
                    if ctx != Ctx::Names && (k == "$ref" || is_literal(k, child)) {
                        continue;
                    }
                    path.push(k.clone());
                    walk(child, child_ctx(ctx, k, child), path, f);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push(i.to_string());
                    walk(item, item_ctx(ctx), path, f);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    walk(value, Ctx::Keyword, &mut Vec::new(), f);
}

/// A resolved reference target.
#[derive(Debug)]
struct Target {
    doc: usize,
    tokens: Vec<String>,
}

#[derive(Debug)]
enum Entry {
    Ok(usize),
    Dangling,
}

/// Every `$ref` of every document, resolved once at load.
#[derive(Debug, Default)]
pub(crate) struct RefTable {
    /// Per document (of the referencing site): raw `$ref` string → target.
    by_site: Vec<HashMap<String, Entry>>,
    targets: Vec<Target>,
}

impl RefTable {
    /// Resolves every reference in `docs`; each dangling one yields one warning.
    pub(crate) fn build(docs: &[Doc], warnings: &mut Vec<String>) -> RefTable {
        let mut table = RefTable {
            by_site: Vec::with_capacity(docs.len()),
            targets: Vec::new(),
        };
        let mut ids: HashMap<(usize, Vec<String>), usize> = HashMap::new();
        for (doc_idx, doc) in docs.iter().enumerate() {
            let mut entries: HashMap<String, Entry> = HashMap::new();
            for_each_ref(&doc.value, &mut |site, reference| {
                if entries.contains_key(reference) {
                    return;
                }
                let entry = match locate(docs, doc_idx, reference) {
                    Ok((tdoc, tokens)) => {
                        let next = table.targets.len();
                        let id = *ids.entry((tdoc, tokens.clone())).or_insert(next);
                        if id == next {
                            table.targets.push(Target { doc: tdoc, tokens });
                        }
                        Entry::Ok(id)
                    }
                    Err(reason) => {
                        let site: Vec<String> = site.iter().map(|t| escape_token(t)).collect();
                        let msg = format!(
                            "unresolvable $ref `{reference}` at {}#/{} ({reason}); that schema is treated as `{{}}` (any value)",
                            doc.location.display(),
                            site.join("/")
                        );
                        tracing::warn!("{msg}");
                        warnings.push(msg);
                        Entry::Dangling
                    }
                };
                entries.insert(reference.to_owned(), entry);
            });
            table.by_site.push(entries);
        }
        table
    }

    /// The target of `reference` written in document `doc`, `None` when dangling.
    pub(crate) fn get<'d>(
        &self,
        docs: &'d [Doc],
        doc: usize,
        reference: &str,
    ) -> Option<(usize, usize, &'d Value)> {
        match self.by_site.get(doc)?.get(reference)? {
            Entry::Ok(id) => {
                let t = self.targets.get(*id)?;
                let v = lookup(&docs.get(t.doc)?.value, &t.tokens)?;
                Some((*id, t.doc, v))
            }
            Entry::Dangling => None,
        }
    }
}

impl RefTable {
    /// Where `reference` (written in `doc`) points: document and pointer tokens.
    pub(crate) fn target_tokens(
        &self,
        doc: usize,
        reference: &str,
    ) -> Option<(usize, Vec<String>)> {
        match self.by_site.get(doc)?.get(reference)? {
            Entry::Ok(id) => self.targets.get(*id).map(|t| (t.doc, t.tokens.clone())),
            Entry::Dangling => None,
        }
    }
}

/// Finds the target of `reference` written in document `doc`.
fn locate(docs: &[Doc], doc: usize, reference: &str) -> Result<(usize, Vec<String>), String> {
    let (file, fragment) = split_ref(reference);
    let target_doc = if file.is_empty() {
        doc
    } else {
        let loc = docs
            .get(doc)
            .and_then(|d| d.location.join(file))
            .ok_or_else(|| format!("`{file}` is not a valid relative reference"))?;
        docs.iter()
            .position(|d| d.location == loc)
            .ok_or_else(|| format!("document `{}` was not loaded", loc.display()))?
    };
    let tokens = pointer_tokens(fragment.unwrap_or(""))
        .ok_or_else(|| "only JSON-pointer fragments (`#/...`) are supported".to_owned())?;
    let root = &docs.get(target_doc).ok_or("no such document")?.value;
    let (_, tokens) = lookup_lenient(root, &tokens).ok_or_else(|| "no such location".to_owned())?;
    Ok((target_doc, tokens))
}

/// Follows `$ref` chains from `value` (in `doc`) to a non-reference value, returning where
/// it lives. Errors name the reference that does not resolve.
pub(crate) fn deref<'d>(
    docs: &'d [Doc],
    table: &RefTable,
    doc: usize,
    value: &'d Value,
) -> Result<(usize, &'d Value), String> {
    let (mut doc, mut value) = (doc, value);
    // A bound rather than cycle detection: a chain this long is a loop in practice.
    for _ in 0..64 {
        match value.get("$ref") {
            Some(Value::String(r)) => {
                let (_, d, v) = table
                    .get(docs, doc, r)
                    .ok_or_else(|| format!("$ref `{r}` does not resolve"))?;
                (doc, value) = (d, v);
            }
            _ => return Ok((doc, value)),
        }
    }
    Err("$ref chain loops".to_owned())
}

/// Most references expanded inside one another, inheritance included: a bound on recursion
/// whatever the spec.
const MAX_STACK: usize = 64;

/// Deepest `$ref` nesting considered when a resolution must be cut; beyond it a spec's
/// schemas are treated as unbounded.
const MAX_DEPTH: usize = 16;

/// Resolves references in values of a loaded spec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resolver<'a> {
    pub(crate) docs: &'a [Doc],
    pub(crate) table: &'a RefTable,
}

impl Resolver<'_> {
    /// `value` (found in document `doc`) with every reference inlined; cycles cut to
    /// `{"$circular": ref}`. When the result would exceed `budget` (see [`weight`]),
    /// references nested deeper than the largest depth that fits are cut to
    /// `{"$truncated": ref}` (at least the value's own references are expanded).
    pub(crate) fn resolve(
        &self,
        sizes: &mut Sizes,
        doc: usize,
        value: &Value,
        budget: usize,
    ) -> Value {
        let max_depth = self.fitting_depth(sizes, doc, value, budget);
        let mut run = Run {
            r: self,
            stack: Vec::new(),
            depth: 0,
            max_depth,
            lean: sizes.lean,
        };
        run.value(doc, value, Ctx::Keyword)
    }

    /// The largest reference depth whose (estimated) expansion fits in `budget`;
    /// `usize::MAX` when the full expansion fits.
    fn fitting_depth(&self, sizes: &mut Sizes, doc: usize, value: &Value, budget: usize) -> usize {
        let mut previous = self.size(sizes, doc, value, Ctx::Keyword, 0);
        for depth in 1..=MAX_DEPTH {
            let size = self.size(sizes, doc, value, Ctx::Keyword, depth);
            if size > budget {
                return (depth - 1).max(1);
            }
            if size == previous {
                // Nothing was cut at `depth - 1`: the full expansion is this.
                return usize::MAX;
            }
            previous = size;
        }
        MAX_DEPTH
    }

    /// Upper bound of the [`weight`] of `value` resolved with references expanded to
    /// `depth` levels (cycle cutting ignored: it only makes results smaller). Memoised per
    /// (target, depth), so estimating is linear in the spec, not in the expansion.
    fn size(&self, sizes: &mut Sizes, doc: usize, v: &Value, ctx: Ctx, depth: usize) -> usize {
        match v {
            Value::Object(m) => {
                let mut total = 1usize;
                let reference = match (ctx, m.get("$ref")) {
                    (Ctx::Keyword | Ctx::Inherit, Some(Value::String(r))) => Some(r.as_str()),
                    _ => None,
                };
                for (k, child) in m {
                    if (reference.is_some() && k == "$ref")
                        || (ctx != Ctx::Names && sizes.lean.drops(k))
                    {
                        continue;
                    }
                    total = total.saturating_add(if ctx != Ctx::Names && is_literal(k, child) {
                        weight(child)
                    } else {
                        self.size(sizes, doc, child, child_ctx(ctx, k, child), depth)
                    });
                }
                if let Some(r) = reference {
                    let remaining = if ctx == Ctx::Inherit {
                        Some(depth)
                    } else {
                        depth.checked_sub(1)
                    };
                    let target = match (self.table.get(self.docs, doc, r), remaining) {
                        (Some((id, tdoc, target)), Some(d)) => match sizes.memo.get(&(id, d)) {
                            Some(n) => *n,
                            // Re-entered through an `allOf` cycle: cut there.
                            // Re-entered through an `allOf` cycle, or an absurdly long
                            // inheritance chain: counted as a cut.
                            None if sizes.in_progress.len() >= MAX_STACK
                                || !sizes.in_progress.insert((id, d)) =>
                            {
                                2
                            }
                            None => {
                                let n = self.size(sizes, tdoc, target, Ctx::Keyword, d);
                                sizes.in_progress.remove(&(id, d));
                                sizes.memo.insert((id, d), n);
                                n
                            }
                        },
                        _ => 2,
                    };
                    total = total.saturating_add(target);
                }
                total
            }
            Value::Array(items) => items.iter().fold(1usize, |acc, item| {
                acc.saturating_add(self.size(sizes, doc, item, item_ctx(ctx), depth))
            }),
            other => weight(other),
        }
    }
}

impl Sizes {
    pub(crate) fn new(lean: Lean) -> Sizes {
        Sizes {
            lean,
            ..Sizes::default()
        }
    }
}

/// What a resolution leaves out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Lean {
    #[default]
    Nothing,
    /// Discriminator mappings: they name `$ref`s that no longer exist once inlined, and
    /// Microsoft Graph's base entity maps ~2,000 of them, inherited by every entity.
    Mappings,
    /// Mappings and `x-` extensions: schemas for tools, read by the model.
    MappingsAndExtensions,
}

impl Lean {
    fn drops(self, key: &str) -> bool {
        match self {
            Lean::Nothing => false,
            Lean::Mappings => key == "mapping",
            Lean::MappingsAndExtensions => key == "mapping" || key.starts_with("x-"),
        }
    }
}

/// Bytes of text that weigh as much as one JSON value in a budget: long descriptions
/// dominate real specs' size, so they must count.
const TEXT_PER_UNIT: usize = 64;

/// Budget units of a value taken as is: one per JSON value, plus its text.
pub(crate) fn weight(v: &Value) -> usize {
    match v {
        Value::String(s) => 1 + s.len() / TEXT_PER_UNIT,
        Value::Array(items) => items.iter().fold(1, |acc, i| acc.saturating_add(weight(i))),
        Value::Object(m) => m.iter().fold(1, |acc, (k, v)| {
            acc.saturating_add(k.len() / TEXT_PER_UNIT)
                .saturating_add(weight(v))
        }),
        _ => 1,
    }
}

/// Memoised expansion sizes; one per batch of resolutions (a catalog, a path item).
#[derive(Debug, Default)]
pub(crate) struct Sizes {
    lean: Lean,
    /// (target id, remaining depth) → nodes.
    memo: HashMap<(usize, usize), usize>,
    in_progress: HashSet<(usize, usize)>,
}

struct Run<'r, 'a> {
    r: &'r Resolver<'a>,
    /// Target ids being expanded, outermost first.
    stack: Vec<usize>,
    /// How many of `stack` count as nesting (not `allOf` inheritance).
    depth: usize,
    max_depth: usize,
    lean: Lean,
}

impl Run<'_, '_> {
    fn value(&mut self, doc: usize, v: &Value, ctx: Ctx) -> Value {
        match v {
            Value::Object(m) => {
                if ctx != Ctx::Names
                    && let Some(Value::String(r)) = m.get("$ref")
                {
                    return self.reference(doc, r, m, ctx == Ctx::Inherit);
                }
                Value::Object(self.object(doc, m, ctx, None))
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.value(doc, item, item_ctx(ctx)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn object(
        &mut self,
        doc: usize,
        m: &Map<String, Value>,
        ctx: Ctx,
        skip: Option<&str>,
    ) -> Map<String, Value> {
        let mut out = Map::with_capacity(m.len());
        for (k, child) in m {
            if skip == Some(k.as_str()) || (ctx != Ctx::Names && self.lean.drops(k)) {
                continue;
            }
            let v = if ctx != Ctx::Names && is_literal(k, child) {
                child.clone()
            } else {
                self.value(doc, child, child_ctx(ctx, k, child))
            };
            out.insert(k.clone(), v);
        }
        out
    }

    fn reference(
        &mut self,
        doc: usize,
        reference: &str,
        site: &Map<String, Value>,
        inherit: bool,
    ) -> Value {
        let siblings = self.object(doc, site, Ctx::Keyword, Some("$ref"));
        let Some((id, tdoc, target)) = self.r.table.get(self.r.docs, doc, reference) else {
            // Dangling: warned about at load; the schema degrades to "any".
            return Value::Object(siblings);
        };
        let marker = if self.stack.contains(&id) {
            Some(CIRCULAR)
        } else if (!inherit && self.depth >= self.max_depth) || self.stack.len() >= MAX_STACK {
            Some(TRUNCATED)
        } else {
            None
        };
        if let Some(marker) = marker {
            let mut out = Map::with_capacity(siblings.len() + 1);
            out.insert(marker.to_owned(), Value::String(reference.to_owned()));
            out.extend(siblings);
            return Value::Object(out);
        }
        let nests = usize::from(!inherit);
        self.stack.push(id);
        self.depth += nests;
        let resolved = self.value(tdoc, target, Ctx::Keyword);
        self.depth -= nests;
        self.stack.pop();
        merge_siblings(resolved, siblings)
    }
}

/// Keywords next to a `$ref` that describe rather than constrain: they simply override.
const ANNOTATIONS: &[&str] = &[
    "description",
    "summary",
    "title",
    "deprecated",
    "readOnly",
    "writeOnly",
    "nullable",
    "default",
    "example",
    "examples",
    "$comment",
];

/// Combines a resolved target with the keywords written next to its `$ref` (OpenAPI 3.1
/// allows them): annotations override; constraints that clash with the target's are kept
/// side by side under `allOf` so neither is lost.
fn merge_siblings(target: Value, siblings: Map<String, Value>) -> Value {
    if siblings.is_empty() {
        return target;
    }
    match target {
        Value::Object(mut t) => {
            let clash = siblings
                .keys()
                .any(|k| !ANNOTATIONS.contains(&k.as_str()) && t.contains_key(k));
            if clash {
                let (annotations, constraints): (Map<String, Value>, Map<String, Value>) = siblings
                    .into_iter()
                    .partition(|(k, _)| ANNOTATIONS.contains(&k.as_str()));
                let mut out = annotations;
                out.insert(
                    "allOf".to_owned(),
                    Value::Array(vec![Value::Object(t), Value::Object(constraints)]),
                );
                Value::Object(out)
            } else {
                t.extend(siblings);
                Value::Object(t)
            }
        }
        // `true` (any value) or another non-object target: the siblings say it all.
        Value::Bool(true) => Value::Object(siblings),
        other => {
            let mut out = siblings;
            out.insert("allOf".to_owned(), Value::Array(vec![other]));
            Value::Object(out)
        }
    }
}

/// Collects the locations of documents referenced from `value` (in `location`).
pub(crate) fn external_locations(value: &Value, location: &Location) -> HashSet<Location> {
    let mut out = HashSet::new();
    for_each_ref(value, &mut |_, reference| {
        let (file, _) = split_ref(reference);
        if !file.is_empty()
            && let Some(loc) = location.join(file)
        {
            out.insert(loc);
        }
    });
    out
}
