//! The two MCP tools a Code Mode server exposes, `search` and `execute`: their
//! descriptions and input schemas, whatever the size of the catalog behind them.
//!
//! The texts teach the working pattern (search with the need in plain words, or with code
//! to filter exhaustively; then one program that does the whole job) and name the API,
//! listing at most [`MAX_LISTED`] namespaces or servers. Both tools together stay within [`TOKEN_BUDGET`] o200k tokens for any
//! catalog: names are truncated and fewer are listed until they fit.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::catalog::tokens;
use crate::catalog::{Catalog, Target};

/// The name of the tool whose code explores the catalog.
pub const SEARCH_TOOL: &str = "search";
/// The name of the tool whose code calls the catalog's tools.
pub const EXECUTE_TOOL: &str = "execute";
/// Most o200k tokens both tool definitions (name, description, input schema JSON) may cost.
pub const TOKEN_BUDGET: usize = 1_000;
/// Namespaces or servers named in the search description; the rest are counted.
pub const MAX_LISTED: usize = 10;
/// Characters kept of the title and of each listed name.
const MAX_TITLE_CHARS: usize = 80;
const MAX_NAME_CHARS: usize = 40;

/// Where a catalog's tools come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogKind {
    /// One HTTP API from an OpenAPI spec: code calls `api.<namespace>.<name>(input)`.
    Api,
    /// Tools of upstream MCP servers: code calls `<server>.<tool>(input)`.
    McpServers,
    /// Functions the embedder binds itself (durable agents, memory): code calls
    /// `<namespace>.<name>(input)`.
    Host,
}

/// What the tool descriptions say about a catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogSummary {
    /// The catalog's title, cut to a length the descriptions can afford.
    pub title: String,
    /// Where the tools come from, which decides how code calls them.
    pub kind: CatalogKind,
    /// How many tools the catalog has.
    pub tool_count: usize,
    /// Namespaces (the first two segments, e.g. `api.repos`) with their tool counts,
    /// largest first, ties by name.
    pub top_namespaces: Vec<(String, usize)>,
    /// For MCP catalogs: each server's namespace in code, with its tool count, largest
    /// first, ties by name.
    pub servers: Vec<(String, usize)>,
}

impl CatalogSummary {
    /// Summarises `catalog`: its kind, size and largest namespaces or servers.
    pub fn of(catalog: &Catalog) -> CatalogSummary {
        let is_mcp = |t: &crate::catalog::Tool| matches!(t.target, Target::Mcp { .. });
        let is_host = |t: &crate::catalog::Tool| matches!(t.target, Target::Host);
        let kind = if !catalog.tools.is_empty() && catalog.tools.iter().all(is_mcp) {
            CatalogKind::McpServers
        } else if catalog.tools.iter().all(is_host) {
            CatalogKind::Host
        } else {
            CatalogKind::Api
        };
        let mut namespaces: HashMap<String, usize> = HashMap::new();
        let mut servers: HashMap<String, usize> = HashMap::new();
        for tool in &catalog.tools {
            let top: Vec<&str> = tool.namespace.split('.').take(2).collect();
            *namespaces.entry(top.join(".")).or_default() += 1;
            if is_mcp(tool) {
                let root = tool.namespace.split('.').next().unwrap_or_default();
                *servers.entry(root.to_owned()).or_default() += 1;
            }
        }
        CatalogSummary {
            title: catalog.title.clone(),
            kind,
            tool_count: catalog.tools.len(),
            top_namespaces: ranked(namespaces),
            servers: ranked(servers),
        }
    }
}

fn ranked(counts: HashMap<String, usize>) -> Vec<(String, usize)> {
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
}

/// The two tool definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolTexts {
    /// What the `search` tool's description tells the model.
    pub search_description: String,
    /// What the `execute` tool's description tells the model.
    pub execute_description: String,
    /// JSON Schema of `search`'s input (`{code}`).
    pub search_input_schema: Value,
    /// JSON Schema of `execute`'s input (`{code}`).
    pub execute_input_schema: Value,
}

impl ToolTexts {
    /// o200k tokens of both definitions: names, descriptions and compact schema JSON.
    pub fn tokens(&self) -> usize {
        tokens::count(SEARCH_TOOL)
            + tokens::count(&self.search_description)
            + tokens::count(&self.search_input_schema.to_string())
            + tokens::count(EXECUTE_TOOL)
            + tokens::count(&self.execute_description)
            + tokens::count(&self.execute_input_schema.to_string())
    }
}

/// The two tool definitions for `summary`, listing fewer namespaces until they fit [`TOKEN_BUDGET`].
pub fn tool_texts(summary: &CatalogSummary) -> ToolTexts {
    let mut listed = MAX_LISTED;
    loop {
        let texts = build(summary, listed);
        if listed == 0 || texts.tokens() <= TOKEN_BUDGET {
            return texts;
        }
        listed -= 1;
    }
}

fn build(summary: &CatalogSummary, listed: usize) -> ToolTexts {
    let title = if summary.title.trim().is_empty() {
        match summary.kind {
            CatalogKind::Api => "the API".to_owned(),
            CatalogKind::McpServers => "the connected MCP servers".to_owned(),
            CatalogKind::Host => "this server".to_owned(),
        }
    } else {
        truncate(summary.title.trim(), MAX_TITLE_CHARS)
    };
    let n = summary.tool_count;
    let (groups, group_noun) = match summary.kind {
        CatalogKind::Api | CatalogKind::Host => (&summary.top_namespaces, "Namespaces"),
        CatalogKind::McpServers => (&summary.servers, "Servers"),
    };
    let inventory = inventory(group_noun, groups, listed);
    let (search_description, execute_description) = match summary.kind {
        CatalogKind::Api => (
            format!(
                "Find operations of {title} ({n} operations) to call from `execute`. Search \
                 first, then write one program.\n\
                 - `query`: the need in plain words, an action and its object, e.g. \"remove \
                 a label from an issue\" (not guessed operation names). Returns the best \
                 matches as TypeScript signatures, e.g. `api.repos.get(input: {{ owner: string; \
                 repo: string }}): Promise<{{ id: number; … }}>`.\n\
                 - `code`: to filter every operation exhaustively, an async JS arrow function \
                 over `spec`, the OpenAPI document with every $ref resolved, returning what to \
                 show, e.g. `async () => Object.keys(spec.paths).filter(p => \
                 p.includes('/issues'))`.\n\
                 {inventory}"
            ),
            format!(
                "Run JavaScript or TypeScript against {title}. `code` is an async arrow \
                 function; inside it each operation is an async function taking one object \
                 (path, query and body fields together), as `search` shows: `const repo = \
                 await api.repos.get({{ owner: \"octo\", repo: \"hello\" }})`. A non-2xx \
                 answer throws an ApiError whose `e.data` holds `status`, `headers` and \
                 `body`. `api.request({{ method, path, query, body }})` calls any endpoint \
                 directly and resolves to `{{ status, headers, body }}`.\n\
                 {PROGRAM_ADVICE}"
            ),
        ),
        CatalogKind::McpServers => (
            format!(
                "Find tools of {title} ({n} tools) to call from `execute`. Search first, \
                 then write one program.\n\
                 `query`: the need in plain words, an action and its object, e.g. \"send a \
                 message to a channel\". Returns the \
                 best matches as TypeScript signatures, e.g. `slack.post_message(input: {{ \
                 channel: string; text: string }}): Promise<unknown>`.\n\
                 {inventory}"
            ),
            format!(
                "Run JavaScript or TypeScript against {title}. `code` is an async arrow \
                 function; inside it each tool is an async function `<server>.<tool>(input)` \
                 taking one object, as `search` shows, e.g. `const r = await \
                 slack.post_message({{ channel: \"C1\", text: \"hi\" }})`. A failed call \
                 throws.\n\
                 {PROGRAM_ADVICE}"
            ),
        ),
        CatalogKind::Host => (
            format!(
                "Find functions of {title} ({n} functions) to call from `execute`. Search \
                 first, then write one program.\n\
                 `query`: the need in plain words, an action and its object, e.g. \"increment \
                 a counter\". Returns the best \
                 matches as TypeScript signatures.\n\
                 {inventory}"
            ),
            format!(
                "Run JavaScript or TypeScript against {title}. `code` is an async arrow \
                 function; inside it each function is async and takes one object, as `search` \
                 shows. Durable agents are also called by name: `await \
                 agents.Counter(\"alice\").increment(5)` (created on first use; each agent \
                 handles one call at a time and commits before it answers). A failed call \
                 throws.\n\
                 {PROGRAM_ADVICE}"
            ),
        ),
    };
    let mut search_properties = json!({
        "query": {
            "type": "string",
            "description": "Plain words saying what to do, e.g. \"create an issue\"."
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50,
            "description": "Most results (default 10)."
        }
    });
    // Only an OpenAPI catalog has a document for `code` to explore.
    if summary.kind == CatalogKind::Api
        && let Some(properties) = search_properties.as_object_mut()
    {
        properties.insert(
            "code".to_owned(),
            json!({
                "type": "string",
                "description": "Instead of query: an async JS arrow function over `spec` (the resolved OpenAPI document) returning what to show."
            }),
        );
    }
    ToolTexts {
        search_description,
        execute_description,
        search_input_schema: json!({
            "type": "object",
            "properties": search_properties,
            "additionalProperties": false
        }),
        execute_input_schema: json!({
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "An async arrow function, e.g. `async () => { const r = await …; return r.items.length; }`. Its return value (JSON) is the result."
                }
            },
            "required": ["code"],
            "additionalProperties": false
        }),
    }
}

const PROGRAM_ADVICE: &str = "Do the whole job in one call, in code: loop over pages \
until done, run independent calls together with `Promise.all`, retry 429 and 5xx failures \
with exponential backoff, filter and aggregate in code, and return \
only what is needed. `console.log` output comes back as logs. Results and logs are \
truncated when large, so return summaries, not raw dumps.";

/// `Namespaces: api.repos (182), api.issues (55), … and 28 more.`
fn inventory(noun: &str, groups: &[(String, usize)], listed: usize) -> String {
    if groups.is_empty() || listed == 0 {
        return String::new();
    }
    let shown: Vec<String> = groups
        .iter()
        .take(listed)
        .map(|(name, count)| format!("{} ({count})", truncate(name, MAX_NAME_CHARS)))
        .collect();
    let rest = groups.len().saturating_sub(listed);
    if rest > 0 {
        format!("{noun}: {}, and {rest} more.", shown.join(", "))
    } else {
        format!("{noun}: {}.", shown.join(", "))
    }
}

fn truncate(s: &str, max: usize) -> String {
    base::truncate(&s.replace(['\n', '\r'], " "), max)
}

/// Tokens the catalog would cost as plain MCP tools: one `{name, description,
/// inputSchema}` per tool, as `tools/list` carries them.
pub fn naive_footprint(catalog: &Catalog) -> usize {
    catalog
        .tools
        .iter()
        .map(|tool| {
            let definition = json!({
                "name": tool.original_name,
                "description": tool.description,
                "inputSchema": tool.input_schema,
            });
            tokens::count(&definition.to_string())
        })
        .sum()
}
