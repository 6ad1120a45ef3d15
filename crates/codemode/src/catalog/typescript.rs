//! JSON Schema → TypeScript, and the typed namespace of a whole catalog.
//!
//! Schemas may be draft-07, 2020-12 or OpenAPI 3.0 (`nullable`). Output is deterministic:
//! properties, union members and namespace members keep schema / catalog order.
//!
//! # How the namespace is declared
//!
//! Each root namespace is one ambient constant whose type is a nested object type, and
//! each tool a method signature in it:
//!
//! ```ts
//! declare const api: {
//!   repos: {
//!     /** Get a repository */
//!     get(input: { owner: string; repo: string }): Promise<{ id: number }>;
//!     delete(input: { owner: string; repo: string }): Promise<unknown>;
//!   };
//! };
//! ```
//!
//! `declare namespace api { namespace repos { function get(…) } }` reads the same but
//! cannot declare a tool named `delete`, `new` or `function`: in a namespace those need a
//! binding identifier, and neither `function`, `const`, `let` nor `export { x as delete }`
//! is accepted there. Object-type members take any property name, so this one form works
//! for every tool. A namespace that is also a tool (`api.repos(…)` and `api.repos.get(…)`)
//! becomes an object type with a call signature.
//!
//! Local `$ref`s (`#/$defs/…`, `#/definitions/…`, any `#/…` pointer) are expanded
//! inline. In [`declarations`], refs that recurse become type aliases in
//! `declare namespace $defs { … }`, named after the definition (sanitised, deduplicated
//! across tools, suffixed `_2`, `_3` on collision). Elsewhere recursion, like the
//! `{"$circular": ref}` markers of pre-resolved OpenAPI schemas, is cut to
//! `unknown /* circular: Name */`.

mod ident;

pub(crate) use ident::{is_unsafe_name, unique};
mod render;

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::catalog::{Catalog, Target, Tool};
use ident::{
    NameAllocator, comment_safe, is_binding_identifier, member_access, property_key,
    sanitize_type_name,
};
use render::{Limits, Renderer, description_lines, jsdoc, resolve_pointer};

/// How much of a schema to show, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsOptions {
    /// Object literals one property per line, with JSDoc when `docs` is set; otherwise
    /// each type on one line.
    pub multiline: bool,
    /// JSDoc on properties (description, `@format`, `@default`, `@deprecated`,
    /// `@example`) and tools. Multi-line output only.
    pub docs: bool,
    /// Longest description kept in a doc comment, in characters.
    pub max_doc_chars: Option<usize>,
    /// Object literals nested deeper than this are abbreviated to
    /// `object /* id, name, +12 more */`. The top-level object is depth 1.
    pub max_depth: Option<usize>,
    /// Properties shown per object; required ones first, the rest counted in a comment.
    pub max_properties: Option<usize>,
    /// Literals shown per `enum`.
    pub max_enum: Option<usize>,
    /// Target size in bytes of a type from [`schema_to_ts`] or of a tool's input type: the
    /// deepest rendering that fits, then fewer properties, until it fits.
    pub budget: Option<usize>,
    /// Same as `budget`, for tool result types (response schemas are often huge).
    pub output_budget: Option<usize>,
    /// Declare the raw `request(…)` escape hatch in the root namespace (OpenAPI catalogs).
    pub request_helper: bool,
}

impl Default for TsOptions {
    /// Everything, multi-line, documented: for a `.d.ts` of the catalog.
    fn default() -> Self {
        TsOptions {
            multiline: true,
            docs: true,
            max_doc_chars: None,
            max_depth: None,
            max_properties: None,
            max_enum: None,
            budget: None,
            output_budget: None,
            request_helper: false,
        }
    }
}

impl TsOptions {
    /// One line per type, abbreviated: for search results.
    pub fn compact() -> Self {
        TsOptions {
            multiline: false,
            docs: false,
            max_doc_chars: Some(160),
            max_depth: None,
            max_properties: None,
            max_enum: Some(24),
            budget: Some(1_500),
            output_budget: Some(500),
            request_helper: false,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            depth: self.max_depth.unwrap_or(usize::MAX),
            properties: self.max_properties.unwrap_or(usize::MAX),
            enum_values: self.max_enum.unwrap_or(usize::MAX),
        }
    }
}

/// The TypeScript type of `schema`, a type expression.
pub fn schema_to_ts(schema: &Value, opts: &TsOptions) -> String {
    fit(schema, schema, None, opts, opts.budget, 0)
}

/// One tool for a search result: a one-line doc comment, then
/// `api.repos.get(input: { … }): Promise<{ … }>`.
pub fn signature(tool: &Tool, opts: &TsOptions) -> String {
    let input = fit(
        &tool.input_schema,
        &tool.input_schema,
        None,
        opts,
        opts.budget,
        0,
    );
    let output = output_ty(tool, None, opts, 0);
    let mut out = String::new();
    let summary = summary_line(tool, opts.max_doc_chars.unwrap_or(160));
    if !summary.is_empty() {
        out.push_str(&format!("/** {summary} */\n"));
    }
    let optional = if input_required(&tool.input_schema) {
        ""
    } else {
        "?"
    };
    out.push_str(&format!(
        "{}(input{optional}: {input}): Promise<{output}>",
        call_path(tool)
    ));
    out
}

/// Ambient declarations of every tool in the catalog (see the module docs for the form).
pub fn declarations(catalog: &Catalog, opts: &TsOptions) -> String {
    let mut defs = Defs::default();
    let mut tree = NamespaceNode::default();
    let mut loose = Vec::new();
    for (index, tool) in catalog.tools.iter().enumerate() {
        if tool.namespace.is_empty() {
            loose.push(index);
        } else {
            tree.insert(tool.namespace.split('.'), index);
        }
    }

    let members: Vec<Member> = catalog
        .tools
        .iter()
        .map(|tool| tool_member(tool, &mut defs, opts))
        .collect();

    let mut out = String::new();
    if !catalog.title.is_empty() {
        out.push_str(&format!("// {}\n", line_comment(&catalog.title)));
    }
    if !defs.bodies.is_empty() {
        out.push_str("declare namespace $defs {\n");
        for (name, body) in &defs.bodies {
            out.push_str(&format!("  type {name} = {body};\n"));
        }
        out.push_str("}\n");
    }

    let helper_root = request_helper_root(&tree, opts);
    for (segment, child) in &tree.children {
        let binding = if is_binding_identifier(segment) {
            segment.clone()
        } else {
            // Unreachable for catalogs built by islet (roots are identifiers); kept valid.
            format!("{}_", sanitize_type_name(segment))
        };
        let mut extra = Vec::new();
        if helper_root.as_deref() == Some(segment.as_str()) {
            extra.push(REQUEST_HELPER.to_owned());
        }
        let body = child.render(&catalog.tools, &members, &extra, &[]);
        out.push_str(&format!("declare const {binding}: {body};\n"));
    }
    for index in loose {
        let tool = &catalog.tools[index];
        if is_binding_identifier(&tool.name) {
            let member = &members[index];
            out.push_str(&format!(
                "{}declare function {}{};\n",
                member.doc, tool.name, member.call
            ));
        } else {
            out.push_str(&format!(
                "// skipped: {} is not a valid global function name\n",
                line_comment(&tool.name)
            ));
        }
    }
    out
}

const REQUEST_HELPER: &str = "\
/** Call any endpoint of the API directly: `path` is relative to the API's base URL, e.g. \"/users/42\"; `query` values that are arrays repeat the parameter. */
request(input: { method: string; path: string; query?: Record<string, string | number | boolean | Array<string | number | boolean>>; headers?: Record<string, string>; body?: unknown }): Promise<{ status: number; headers: Record<string, string>; body: unknown }>;";

/// The root that receives `request(…)`: `api` if present, else the first. (Where a tool
/// is already named `request`, the tool wins: see [`NamespaceNode::render`].)
fn request_helper_root(tree: &NamespaceNode, opts: &TsOptions) -> Option<String> {
    if !opts.request_helper {
        return None;
    }
    tree.children
        .iter()
        .find(|(name, _)| name == "api")
        .or_else(|| tree.children.first())
        .map(|(name, _)| name.clone())
}

/// Text for a `//` comment: JS line terminators (`\r`, U+2028, U+2029 too) would end it.
fn line_comment(text: &str) -> String {
    text.replace(['\n', '\r', '\u{2028}', '\u{2029}'], " ")
}

#[derive(Debug, Default)]
struct NamespaceNode {
    children: Vec<(String, NamespaceNode)>,
    child_index: HashMap<String, usize>,
    tools: Vec<usize>,
}

impl NamespaceNode {
    fn insert<'s>(&mut self, mut segments: impl Iterator<Item = &'s str>, tool: usize) {
        match segments.next() {
            None => self.tools.push(tool),
            Some(segment) => {
                let at = match self.child_index.get(segment) {
                    Some(&at) => at,
                    None => {
                        self.children
                            .push((segment.to_owned(), NamespaceNode::default()));
                        self.child_index
                            .insert(segment.to_owned(), self.children.len() - 1);
                        self.children.len() - 1
                    }
                };
                self.children[at].1.insert(segments, tool);
            }
        }
    }

    /// The object type of this namespace. `callable` are tools whose name is this
    /// namespace's own (call signatures).
    fn render(
        &self,
        tools: &[Tool],
        members: &[Member],
        extra: &[String],
        callable: &[usize],
    ) -> String {
        // Rendered at indent 0; the parent indents every line of the block.
        let inner = "  ";
        let mut out = String::from("{\n");
        let mut lines: Vec<String> = Vec::new();
        for &index in callable {
            let member = &members[index];
            lines.push(format!("{}{};", member.doc, member.call));
        }
        let taken_request = self.tools.iter().any(|&i| tools[i].name == "request")
            || self.child_index.contains_key("request");
        for helper in extra {
            if taken_request {
                lines.push(
                    "// `request` is a tool here, so the raw request helper is not declared"
                        .to_owned(),
                );
            } else {
                lines.push(helper.clone());
            }
        }
        for &index in &self.tools {
            if !self.child_index.contains_key(&tools[index].name) {
                let member = &members[index];
                let key = method_key(&tools[index].name);
                lines.push(format!("{}{key}{};", member.doc, member.call));
            }
        }
        for (segment, child) in &self.children {
            let own: Vec<usize> = self
                .tools
                .iter()
                .copied()
                .filter(|&i| &tools[i].name == segment)
                .collect();
            let body = child.render(tools, members, &[], &own);
            lines.push(format!("{}: {body};", property_key(segment)));
        }
        for block in lines {
            for line in block.lines() {
                out.push_str(inner);
                out.push_str(line);
                out.push('\n');
            }
        }
        out.push('}');
        out
    }
}

/// A method name in an object type: `new(…)` there would be a construct signature.
fn method_key(name: &str) -> std::borrow::Cow<'_, str> {
    if name == "new" {
        std::borrow::Cow::Owned(ident::string_literal(name))
    } else {
        property_key(name)
    }
}

/// A tool as a namespace member: its doc comment and `(input: …): Promise<…>`, at indent
/// 0 (the namespace renderer indents every line, so nesting depth does not matter).
struct Member {
    doc: String,
    call: String,
}

fn tool_member(tool: &Tool, defs: &mut Defs, opts: &TsOptions) -> Member {
    let input_names =
        defs.name_recursive_refs(&tool.input_schema, tool, "input", opts, opts.budget);
    let input = fit(
        &tool.input_schema,
        &tool.input_schema,
        input_names.as_ref(),
        opts,
        opts.budget,
        0,
    );
    let output_names = match &tool.output_schema {
        Some(schema) => defs.name_recursive_refs(schema, tool, "output", opts, opts.output_budget),
        None => None,
    };
    let output = output_ty(tool, output_names.as_ref(), opts, 0);
    let optional = if input_required(&tool.input_schema) {
        ""
    } else {
        "?"
    };
    let doc = if opts.multiline && opts.docs {
        jsdoc(&tool_doc_lines(tool, opts), "")
    } else {
        let summary = summary_line(tool, opts.max_doc_chars.unwrap_or(160));
        if summary.is_empty() {
            String::new()
        } else {
            format!("/** {summary} */\n")
        }
    };
    Member {
        doc,
        call: format!("(input{optional}: {input}): Promise<{output}>"),
    }
}

fn output_ty(
    tool: &Tool,
    names: Option<&HashMap<String, String>>,
    opts: &TsOptions,
    indent: usize,
) -> String {
    match &tool.output_schema {
        Some(schema) => fit(schema, schema, names, opts, opts.output_budget, indent),
        None => "unknown".to_owned(),
    }
}

fn tool_doc_lines(tool: &Tool, opts: &TsOptions) -> Vec<String> {
    let description = match opts.max_doc_chars {
        Some(max) => base::truncate(&tool.description, max),
        None => tool.description.clone(),
    };
    let mut lines = description_lines(&description);
    if let Target::Http(http) = &tool.target {
        lines.push(format!("@http {} {}", http.method, http.path));
    }
    lines.iter().map(|l| comment_safe(l)).collect()
}

/// First non-empty line of the description (plus the HTTP route), at most `max` chars.
fn summary_line(tool: &Tool, max: usize) -> String {
    let first = tool
        .description
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut line = base::truncate(first, max);
    if let Target::Http(http) = &tool.target {
        if line.is_empty() {
            line = format!("{} {}", http.method, http.path);
        } else {
            line = format!("{line} ({} {})", http.method, http.path);
        }
    }
    comment_safe(&line)
}

/// `api.repos.get`, with bracket access for names that are not identifiers.
fn call_path(tool: &Tool) -> String {
    let mut segments = tool.namespace.split('.').filter(|s| !s.is_empty());
    let mut out = segments.next().unwrap_or_default().to_owned();
    for segment in segments {
        out.push_str(&member_access(segment));
    }
    if out.is_empty() {
        tool.name.clone()
    } else {
        out.push_str(&member_access(&tool.name));
        out
    }
}

/// Whether a call must pass `input`: the schema requires some property.
fn input_required(schema: &Value) -> bool {
    fn walk(schema: &Value, root: &Value, level: usize) -> bool {
        let Some(map) = schema.as_object() else {
            return false;
        };
        if level > 8 {
            return true;
        }
        let own = map
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| !r.is_empty());
        let via_ref = map
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve_pointer(root, r))
            .is_some_and(|t| walk(t, root, level + 1));
        let via_all_of = map
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|all| all.iter().any(|s| walk(s, root, level + 1)));
        own || via_ref || via_all_of
    }
    walk(schema, schema, 0)
}

/// Renders within `budget` bytes: the deepest rendering that fits, else depth 1 with
/// fewer and fewer properties and enum literals.
fn fit(
    schema: &Value,
    root: &Value,
    named: Option<&HashMap<String, String>>,
    opts: &TsOptions,
    budget: Option<usize>,
    indent: usize,
) -> String {
    let base = opts.limits();
    let render = |limits: Limits| {
        let mut renderer = Renderer::new(root, limits, opts.multiline, opts.docs)
            .max_doc_chars(opts.max_doc_chars)
            .named(named);
        let text = renderer.render(schema, indent);
        (text, renderer.depth_cut)
    };
    let Some(budget) = budget else {
        return render(base).0;
    };
    let mut best = None;
    // Ascending, so a huge schema is never rendered in full just to be thrown away.
    for depth in 1..=base.depth.min(64) {
        let (text, cut) = render(Limits { depth, ..base });
        if text.len() > budget {
            break;
        }
        best = Some(text);
        if !cut {
            break;
        }
    }
    if let Some(text) = best {
        return text;
    }
    let mut last = None;
    for shown in [32, 16, 8, 4, 2, 1, 0] {
        if shown >= base.properties && shown >= base.enum_values {
            continue;
        }
        let limits = Limits {
            depth: 1,
            properties: shown.min(base.properties),
            enum_values: shown.max(1).min(base.enum_values),
        };
        let (text, _) = render(limits);
        if text.len() <= budget {
            return text;
        }
        last = Some(text);
    }
    last.unwrap_or_else(|| render(Limits { depth: 1, ..base }).0)
}

/// Type aliases for recursive local refs, shared by all tools of one [`declarations`].
#[derive(Debug, Default)]
struct Defs {
    names: NameAllocator,
    /// Definition identity (pointer + the schemas it reaches) → alias name.
    by_key: HashMap<String, String>,
    bodies: Vec<(String, String)>,
}

/// Refs examined per schema when looking for recursion; beyond, recursion is still cut
/// (inline `unknown`), just not named.
const MAX_REFS: usize = 256;

impl Defs {
    /// Names the recursive refs of `root` (pointer → `$defs.Name`) and renders any
    /// alias not seen before. `None` when nothing recurses.
    fn name_recursive_refs(
        &mut self,
        root: &Value,
        tool: &Tool,
        role: &str,
        opts: &TsOptions,
        budget: Option<usize>,
    ) -> Option<HashMap<String, String>> {
        let graph = RefGraph::of(root);
        let recursive = graph.recursive();
        if recursive.is_empty() {
            return None;
        }
        let mut map = HashMap::new();
        let mut fresh = Vec::new();
        for pointer in &recursive {
            let key = graph.identity(root, pointer);
            let name = match self.by_key.get(&key) {
                Some(name) => name.clone(),
                None => {
                    let base = alias_base(root, pointer, tool, role);
                    let name = self.names.allocate(&sanitize_type_name(&base));
                    self.by_key.insert(key, name.clone());
                    fresh.push((pointer.clone(), name.clone()));
                    name
                }
            };
            map.insert(pointer.clone(), format!("$defs.{name}"));
        }
        for (pointer, name) in fresh {
            let body = match resolve_pointer(root, &pointer) {
                Some(target) => fit(target, root, Some(&map), opts, budget, 1),
                None => "unknown".to_owned(),
            };
            self.bodies.push((name, body));
        }
        Some(map)
    }
}

/// `#/$defs/Node` → `Node`; the root itself → its title or `<tool>_input`.
fn alias_base(root: &Value, pointer: &str, tool: &Tool, role: &str) -> String {
    match pointer.rsplit('/').next() {
        Some(last) if pointer != "#" && !last.is_empty() => {
            last.replace("~1", "/").replace("~0", "~")
        }
        _ => root
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{}_{role}", tool.name)),
    }
}

/// Local `$ref` edges: which refs each referenced schema uses.
struct RefGraph {
    /// Refs in first-appearance order.
    nodes: Vec<String>,
    edges: HashMap<String, Vec<String>>,
}

impl RefGraph {
    fn of(root: &Value) -> RefGraph {
        let mut nodes = Vec::new();
        collect_refs(root, &mut nodes);
        let mut edges = HashMap::new();
        let mut queue = nodes.clone();
        while let Some(pointer) = queue.pop() {
            if edges.contains_key(&pointer) || edges.len() >= MAX_REFS {
                continue;
            }
            let mut out = Vec::new();
            if let Some(target) = resolve_pointer(root, &pointer) {
                collect_refs(target, &mut out);
            }
            for next in &out {
                if !nodes.contains(next) && nodes.len() < MAX_REFS {
                    nodes.push(next.clone());
                    queue.push(next.clone());
                }
            }
            edges.insert(pointer, out);
        }
        RefGraph { nodes, edges }
    }

    fn reachable(&self, from: &str) -> BTreeSet<&str> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = self
            .edges
            .get(from)
            .map(|e| e.iter().map(String::as_str).collect())
            .unwrap_or_default();
        while let Some(node) = stack.pop() {
            if seen.insert(node)
                && let Some(next) = self.edges.get(node)
            {
                stack.extend(next.iter().map(String::as_str));
            }
        }
        seen
    }

    fn recursive(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| self.reachable(n).contains(n.as_str()))
            .cloned()
            .collect()
    }

    /// Two tools share an alias only when the pointer and every schema it reaches match.
    fn identity(&self, root: &Value, pointer: &str) -> String {
        let mut key = pointer.to_owned();
        let mut all = self.reachable(pointer);
        all.insert(pointer);
        for node in all {
            key.push('\0');
            key.push_str(node);
            key.push('\0');
            if let Some(target) = resolve_pointer(root, node) {
                key.push_str(&target.to_string());
            }
        }
        key
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    fn walk(value: &Value, out: &mut Vec<String>, level: usize) {
        if level > 128 || out.len() >= MAX_REFS {
            return;
        }
        match value {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str)
                    && r.starts_with('#')
                    && !out.iter().any(|o| o == r)
                {
                    out.push(r.to_owned());
                }
                for (key, child) in map {
                    // `enum`, `const`, `default` and examples are data, not schemas.
                    if !matches!(
                        key.as_str(),
                        "enum" | "const" | "default" | "example" | "examples"
                    ) {
                        walk(child, out, level + 1);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out, level + 1)),
            _ => {}
        }
    }
    walk(value, out, 0);
}
