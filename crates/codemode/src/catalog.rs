//! The catalog: the tools one Code Mode server exposes, whatever their source.

use serde_json::Value;

pub mod describe;
pub mod search;
pub mod tokens;
pub mod typescript;

/// One callable tool, as the model sees it: `<namespace>.<name>(input): Promise<output>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Dotted JS path of the namespace, e.g. `api.repos` or `github` (an MCP upstream).
    /// Every segment is a valid JS identifier.
    pub namespace: String,
    /// Method name within the namespace: a valid, unique (within the namespace) JS identifier.
    pub name: String,
    /// The original identifier (operationId, MCP tool name) before sanitising.
    pub original_name: String,
    /// One-paragraph description (summary + description), plain text.
    pub description: String,
    /// JSON Schema (fully `$ref`-resolved; cycles cut to `{"$circular": "<ref>"}`, and
    /// references nested too deep for the size budget to `{"$truncated": "<ref>"}`) of the
    /// single input object.
    pub input_schema: Value,
    /// JSON Schema of the result, when known.
    pub output_schema: Option<Value>,
    /// Words that help search but are not in the description (path, tags, parameter names,
    /// and for OpenAPI operations the full description when `description` is cut).
    pub keywords: Vec<String>,
    /// How the host carries out a call.
    pub target: Target,
}

impl Tool {
    /// `api.repos.get`: how code calls the tool.
    pub fn path(&self) -> String {
        format!("{}.{}", self.namespace, self.name)
    }
}

/// Where a call goes, host-side.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// An OpenAPI operation.
    Http(HttpOperation),
    /// A tool on an upstream MCP server, by its server key and original tool name.
    Mcp {
        /// The upstream's key in `mcpServers`.
        server: String,
        /// The tool's name on that server, before renaming for code.
        tool: String,
    },
    /// A function the embedder binds itself under the tool's path (`agents.Counter.increment`,
    /// `memory.recall`): the catalog only describes it.
    Host,
}

/// An OpenAPI operation as the host calls it: method, path template, parameters and body.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOperation {
    /// Upper-case HTTP method.
    pub method: String,
    /// Path template as written in the spec, e.g. `/repos/{owner}/{repo}`.
    pub path: String,
    /// The operation's parameters, path-level ones merged in.
    pub parameters: Vec<HttpParameter>,
    /// The request body, when the operation takes one.
    pub body: Option<HttpBody>,
}

/// One parameter of an [`HttpOperation`]: where it goes and how it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpParameter {
    /// Name on the wire.
    pub name: String,
    /// Property name in the merged input object (may differ when names collide).
    pub input_name: String,
    /// Where the value goes in the request.
    pub location: ParamLocation,
    /// Whether the input must supply it (path parameters always must).
    pub required: bool,
    /// How the value is serialised (OpenAPI `style`, defaulted by location).
    pub style: ParamStyle,
    /// OpenAPI `explode` (defaults: `true` for `form`, else `false`).
    pub explode: bool,
}

/// OpenAPI parameter serialisation styles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamStyle {
    /// `a,b` (path and header default).
    Simple,
    /// `.a.b` (path).
    Label,
    /// `;name=a,b` (path).
    Matrix,
    /// `name=a&name=b` or `name=a,b` (query and cookie default).
    Form,
    /// `name=a%20b` (query).
    SpaceDelimited,
    /// `name=a|b` (query).
    PipeDelimited,
    /// `name[key]=value`.
    DeepObject,
}

/// Where an OpenAPI parameter goes (`in`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamLocation {
    /// Substituted into the path template.
    Path,
    /// Appended to the URL's query string.
    Query,
    /// Sent as a request header.
    Header,
    /// Sent in the `Cookie` header.
    Cookie,
}

/// The request body of an [`HttpOperation`]: its media type and how the input fills it.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpBody {
    /// The media type sent, e.g. `application/json`.
    pub content_type: String,
    /// Whether the operation requires a body.
    pub required: bool,
    /// Property name of the body in the merged input object when the body is not an
    /// object whose properties are merged in (e.g. an array body), else `None`.
    pub input_name: Option<String>,
    /// When the body's properties are merged into the input (`input_name` is `None`): the
    /// declared properties. Input properties that are neither parameters nor listed here are
    /// rejected unless `additional_properties`.
    pub properties: Vec<BodyProperty>,
    /// When merged: whether undeclared properties go into the body too.
    pub additional_properties: bool,
}

/// One property of a merged request body.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyProperty {
    /// Name in the body.
    pub name: String,
    /// Property name in the merged input object (`body_<name>` when it collides with a
    /// parameter).
    pub input_name: String,
    /// Required in the input (the body is required and lists this property as required).
    pub required: bool,
    /// Form-encoded bodies only (OpenAPI `encoding`): how arrays and objects are written.
    pub style: ParamStyle,
    /// OpenAPI `explode` for this property's `style`.
    pub explode: bool,
}

/// A set of tools plus what the tool descriptions say about it.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Human title, e.g. "GitHub v3 REST API".
    pub title: String,
    /// The tools, in the order search ties and descriptions list them.
    pub tools: Vec<Tool>,
}
