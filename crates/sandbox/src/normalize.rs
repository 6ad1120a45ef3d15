//! Turns the code a model sent into a classic script that QuickJS can evaluate, keeping
//! positions so that errors can be reported in the model's own coordinates.
//!
//! Steps: newlines are unified (`\r\n` and lone `\r` become `\n`, which moves no column);
//! a markdown fence, if any, is cut out (whole lines, so only line numbers shift); the code is
//! parsed with oxc as a TypeScript module; its *shape* decides how it is turned into a value
//! (see [`Shape`]); TypeScript syntax is blanked to spaces (ts-blank-space style), except enums
//! and constructor parameter properties, which get real code on their own lines.
//!
//! Positions: lines and columns are 1-based; columns count Unicode scalar values (`char`s).
//! Line N of [`Normalized::script`] is always line N of the code after fence removal; columns
//! only move on lines where code was inserted (the wrapper prefix on line 1, `return (`,
//! enums, parameter properties), and [`Normalized::source_position`] undoes that.

mod enums;
mod fence;
mod module;
mod rewrite;
mod scan;
mod strip;

use std::borrow::Cow;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    Directive, ExportDefaultDeclaration, ExportDefaultDeclarationKind, Expression,
    ExpressionStatement, Function, Program, Statement,
};
use oxc_ast_visit::Visit;
use oxc_parser::{ParseOptions, Parser};
use oxc_span::{GetSpan, SourceType, Span};

pub use self::module::{ClassShape, MethodShape, Module, ParamShape, Visibility, module};
use self::rewrite::LineMap;
use self::strip::{Stripper, is_type_only};

const EMPTY_MESSAGE: &str = "no code to run: send JavaScript or TypeScript code";
const TYPES_ONLY_MESSAGE: &str = "no code to run: the code only declares types";
const IMPORT_MESSAGE: &str = "import is not available in the sandbox: there are no modules; what this execution may use is already bound as globals (e.g. `api.*` in Code Mode): call it directly";
const EXPORT_MESSAGE: &str = "export is not available in the sandbox: there are no modules; produce the result with `export default`, `return`, or a final expression";
const DEFAULT_TWICE_MESSAGE: &str = "only one `export default` is allowed";

/// Name of the binding that holds an `export default` value in a body (see [`Shape::ExportDefault`]).
const DEFAULT_BINDING: &str = "$default";
/// What the body wrapper puts before line 1 of the code.
const BODY_PREFIX: &str = "(async () => {";

/// Which form of code was recognised, and so how its result is produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// A single (async) arrow function or function expression: it is called,
    /// `(<expr>)()`, and what it returns is the result.
    ArrowOrFunction,
    /// `export default …`. Alone and a function: called in place, like
    /// [`Shape::ArrowOrFunction`]. Otherwise the code runs as a [`Shape::Body`] and the
    /// default export is the result: a named function declaration is called by name at the end,
    /// anything else is bound to `$default` where it stood and, if a function, called at the end.
    ExportDefault,
    /// A single function declaration (`async function main() { … }`): it is called.
    FunctionDeclaration,
    /// Anything else: statements run inside `(async () => { … })()`, so top-level `await` and
    /// `return` work; a final expression statement is returned.
    Body,
}

impl Shape {
    /// The shape's name in logs and metrics (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ArrowOrFunction => "arrow_or_function",
            Self::ExportDefault => "export_default",
            Self::FunctionDeclaration => "function_declaration",
            Self::Body => "body",
        }
    }
}

/// The code could not be turned into a script. Positions are 1-based, in the code as the model
/// sent it (fence and prose lines included); columns count `char`s.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[error("{message} ({line}:{column})")]
pub struct SyntaxError {
    /// The parser's message.
    pub message: String,
    /// 1-based line in the code as sent.
    pub line: u32,
    /// 1-based column, in `char`s.
    pub column: u32,
}

/// The script to evaluate, and how to map its positions back.
#[derive(Debug, Clone)]
pub struct Normalized {
    /// Classic-script JS. Evaluating it yields the execution's result: a plain value or a
    /// Promise (to be awaited). Line N of `script` is line N + `fence_line_offset` of what the
    /// model sent.
    pub script: String,
    /// Which form the model's code was recognised as.
    pub shape: Shape,
    /// Lines of the input before the code: an opening markdown fence and whatever preceded it.
    pub fence_line_offset: u32,
    map: LineMap,
}

impl Normalized {
    /// No code: what a run that evaluates only host scripts (a warm-up) carries.
    pub(crate) fn empty() -> Self {
        Normalized {
            script: String::new(),
            shape: Shape::Body,
            fence_line_offset: 0,
            map: LineMap::default(),
        }
    }

    /// Map a 1-based (line, column) in `script` to a 1-based (line, column) in the code the
    /// model sent. Columns count `char`s; positions inside generated code (the wrapper, an enum
    /// body, …) map to where that code was inserted.
    pub fn source_position(&self, line: u32, column: u32) -> (u32, u32) {
        let (line, column) = self.map.lookup(line, column);
        (line.saturating_add(self.fence_line_offset), column)
    }

    /// Convert a 1-based column counted in UTF-8 bytes (as QuickJS-ng reports them) on
    /// `script` line `line` into a column counted in `char`s, for [`Self::source_position`].
    pub fn char_column(&self, line: u32, utf8_column: u32) -> u32 {
        let Some(text) = self.script.split('\n').nth(line.saturating_sub(1) as usize) else {
            return utf8_column;
        };
        let byte = utf8_column.saturating_sub(1) as usize;
        let chars = text.char_indices().take_while(|&(i, _)| i < byte).count();
        let beyond = byte.saturating_sub(text.len());
        u32::try_from(chars + beyond + 1).unwrap_or(u32::MAX)
    }
}

/// Inputs larger than this are refused (the stack reserved for parsing grows with the input).
pub const MAX_CODE_BYTES: usize = 512 << 10;
/// Stack reserved per byte of input. oxc's parser has no nesting limit (oxc issues #21953,
/// #24375): deep enough nesting overflows the stack, which aborts the whole process. Recursion
/// depth is at most proportional to the input length; the worst case measured, nested
/// parentheses in a debug build, uses about 0.8 KiB of stack per byte of input.
const STACK_PER_BYTE: usize = 1024;
const BASE_STACK: usize = 8 << 20;

/// Turn what the model sent into a script; see the module docs.
///
/// Runs on a thread of its own, with a stack sized for the input (reserved, not committed,
/// memory), so that no input can overflow the caller's stack.
pub fn normalize(source: &str) -> Result<Normalized, SyntaxError> {
    on_parser_thread(source, "code", || normalize_here(source))
}

/// Runs `parse` (which parses `source`) on a thread whose stack is sized for the input;
/// `what` names the input in errors ("code", "module").
fn on_parser_thread<T: Send>(
    source: &str,
    what: &str,
    parse: impl FnOnce() -> Result<T, SyntaxError> + Send,
) -> Result<T, SyntaxError> {
    let fail = |message: String| SyntaxError {
        message,
        line: 1,
        column: 1,
    };
    if source.len() > MAX_CODE_BYTES {
        return Err(fail(format!(
            "the {what} is too large: {} bytes, the limit is {MAX_CODE_BYTES}",
            source.len()
        )));
    }
    let stack = BASE_STACK + STACK_PER_BYTE * source.len();
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("normalize".into())
            .stack_size(stack)
            .spawn_scoped(scope, parse)
            .map_err(|e| fail(format!("cannot start the parser: {e}")))?;
        // A panic would be a bug in normalization; it must not take the caller down with it.
        worker
            .join()
            .unwrap_or_else(|_| Err(fail(format!("internal error while parsing the {what}"))))
    })
}

/// Like [`normalize`], but parses on the calling thread when `stack_available` bytes of
/// stack are certainly enough for this input, saving a thread spawn. Executor threads,
/// which know their stack, use this.
pub fn normalize_with_stack(
    source: &str,
    stack_available: usize,
) -> Result<Normalized, SyntaxError> {
    let needed = STACK_PER_BYTE
        .saturating_mul(source.len())
        .saturating_add(1 << 20);
    if source.len() > MAX_CODE_BYTES || needed > stack_available {
        return normalize(source);
    }
    std::panic::catch_unwind(|| normalize_here(source)).unwrap_or_else(|_| {
        Err(SyntaxError {
            message: "internal error while parsing the code".into(),
            line: 1,
            column: 1,
        })
    })
}

fn normalize_here(source: &str) -> Result<Normalized, SyntaxError> {
    let text = unify_newlines(source);
    let block = fence::extract(&text).map_err(|e| SyntaxError {
        message: format!(
            "found a ```{} block but no ```ts or ```js block: send JavaScript or TypeScript",
            e.lang
        ),
        line: e.line,
        column: 1,
    })?;
    let code = block.code;
    let error_at = |message: &str, offset: u32| {
        let (line, column) = line_col(code, offset);
        SyntaxError {
            message: message.to_owned(),
            line: line.saturating_add(block.line_offset),
            column,
        }
    };
    if code.trim().is_empty() {
        return Err(error_at(EMPTY_MESSAGE, 0));
    }

    let allocator = Allocator::default();
    let (plan, mut stripper) = match parse(&allocator, code) {
        Ok(program) => {
            let program = allocator.alloc(program);
            let plan = plan(program).map_err(|(message, at)| error_at(message, at))?;
            let mut stripper = Stripper::new(code, plan.wrapped_end());
            stripper.visit_program(program);
            (plan, stripper)
        }
        Err((message, at)) => {
            // `async function () { … }`: an anonymous function is not a valid statement, but
            // it is what models send when asked for "a function".
            let Some(expr) = parse_function_expression(&allocator, code) else {
                return Err(error_at(&message, at));
            };
            let plan = Plan::Call(expr);
            let mut stripper = Stripper::new(code, plan.wrapped_end());
            stripper.visit_expression(expr);
            (plan, stripper)
        }
    };
    if let Some((message, at)) = stripper.error.take() {
        return Err(error_at(&message, at));
    }
    let mut edits = stripper.edits;
    let suffix = plan.apply(code, &mut edits);
    let (script, map) = edits.apply(code, &suffix);
    Ok(Normalized {
        script,
        shape: plan.shape(),
        fence_line_offset: block.line_offset,
        map,
    })
}

/// The code as one function expression (a trailing `;` allowed), if it is one.
fn parse_function_expression<'a>(
    allocator: &'a Allocator,
    code: &str,
) -> Option<&'a Expression<'a>> {
    // Same offsets as `code`, without a final `;`.
    let end = code.trim_end().len();
    let text = match code[..end].strip_suffix(';') {
        Some(before) => allocator.alloc_str(&format!("{before} {}", &code[end..])),
        None => allocator.alloc_str(code),
    };
    let source_type = SourceType::ts().with_module(true);
    let expr = Parser::new(allocator, text, source_type)
        .parse_expression()
        .ok()?;
    is_function(&expr).then(|| &*allocator.alloc(expr))
}

fn unify_newlines(source: &str) -> Cow<'_, str> {
    if source.contains('\r') {
        Cow::Owned(source.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(source)
    }
}

/// 1-based line and `char` column of a byte offset.
fn line_col(code: &str, offset: u32) -> (u32, u32) {
    let mut at = (offset as usize).min(code.len());
    while !code.is_char_boundary(at) {
        at -= 1;
    }
    let before = &code[..at];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Parse as a TypeScript module; if that fails, as a JavaScript module (some valid JS parses
/// differently as TS). The TypeScript error is the one reported. Not as a sloppy script: there
/// `await` is an identifier, while the code runs inside an async function.
fn parse<'a>(allocator: &'a Allocator, code: &'a str) -> Result<Program<'a>, (String, u32)> {
    let options = ParseOptions {
        allow_return_outside_function: true,
        ..ParseOptions::default()
    };
    let mut first_error = None;
    for source_type in [SourceType::ts().with_module(true), SourceType::mjs()] {
        let ret = Parser::new(allocator, code, source_type)
            .with_options(options)
            .parse();
        if !ret.panicked && !ret.diagnostics.has_errors() {
            return Ok(ret.program);
        }
        if first_error.is_none() {
            first_error = ret.diagnostics.errors().next().map(|d| {
                let label = d
                    .labels
                    .iter()
                    .find(|l| l.primary())
                    .or_else(|| d.labels.first());
                let mut message = d.message.to_string();
                if let Some(help) = &d.help {
                    if !message.ends_with('.') {
                        message.push('.');
                    }
                    message.push(' ');
                    message.push_str(help);
                }
                (message, label.map_or(0, |l| l.offset()))
            });
        }
    }
    Err(first_error.unwrap_or_else(|| ("invalid syntax".to_owned(), 0)))
}

/// How the program becomes a value.
enum Plan<'p, 'a> {
    /// `(<expr>)()`
    Call(&'p Expression<'a>),
    /// `export default <function>` alone: `(<function>)()` in place.
    CallDefault(&'p ExportDefaultDeclaration<'a>),
    /// `(function main() {})()`
    CallDeclaration(&'p Function<'a>),
    /// `(async () => { … })()`, returning the default export, the final expression statement,
    /// or a lone directive-looking string.
    Body {
        default: Option<&'p ExportDefaultDeclaration<'a>>,
        last: Option<&'p ExpressionStatement<'a>>,
        directive: Option<&'p Directive<'a>>,
    },
}

/// The expression inside parentheses and type assertions (`(f) as T`).
fn unparenthesized<'p, 'a>(mut expr: &'p Expression<'a>) -> &'p Expression<'a> {
    loop {
        expr = match expr {
            Expression::ParenthesizedExpression(e) => &e.expression,
            Expression::TSAsExpression(e) => &e.expression,
            Expression::TSSatisfiesExpression(e) => &e.expression,
            Expression::TSNonNullExpression(e) => &e.expression,
            Expression::TSTypeAssertion(e) => &e.expression,
            _ => return expr,
        };
    }
}

fn is_function(expr: &Expression<'_>) -> bool {
    matches!(
        unparenthesized(expr),
        Expression::ArrowFunctionExpression(_) | Expression::FunctionExpression(_)
    )
}

/// Recognise the shape, rejecting module syntax. Errors are (message, byte offset).
fn plan<'p, 'a>(program: &'p Program<'a>) -> Result<Plan<'p, 'a>, (&'static str, u32)> {
    let mut runtime = Vec::new();
    let mut default = None;
    for stmt in &program.body {
        if is_type_only(stmt) || matches!(stmt, Statement::EmptyStatement(_)) {
            continue;
        }
        let at = stmt.span().start;
        match stmt {
            Statement::ImportDeclaration(_) | Statement::TSImportEqualsDeclaration(_) => {
                return Err((IMPORT_MESSAGE, at));
            }
            Statement::ExportNamedDeclaration(_)
            | Statement::ExportFromDeclaration(_)
            | Statement::ExportAllDeclaration(_)
            | Statement::ExportDeclaration(_)
            | Statement::TSExportAssignment(_) => return Err((EXPORT_MESSAGE, at)),
            Statement::ExportDefaultDeclaration(e) if default.replace(&**e).is_some() => {
                return Err((DEFAULT_TWICE_MESSAGE, at));
            }
            _ => {}
        }
        runtime.push(stmt);
    }
    if runtime.is_empty() && program.directives.is_empty() {
        let types_only = program.body.iter().any(is_type_only);
        return Err((
            if types_only {
                TYPES_ONLY_MESSAGE
            } else {
                EMPTY_MESSAGE
            },
            0,
        ));
    }
    Ok(match runtime.as_slice() {
        [Statement::ExpressionStatement(s)] if is_function(&s.expression) => {
            Plan::Call(&s.expression)
        }
        [Statement::ExportDefaultDeclaration(e)]
            if match &e.declaration {
                ExportDefaultDeclarationKind::FunctionDeclaration(_) => true,
                ExportDefaultDeclarationKind::ClassDeclaration(_)
                | ExportDefaultDeclarationKind::TSInterfaceDeclaration(_) => false,
                expr => expr.as_expression().is_some_and(is_function),
            } =>
        {
            Plan::CallDefault(e)
        }
        [Statement::FunctionDeclaration(f)] => Plan::CallDeclaration(f),
        _ => Plan::Body {
            default,
            last: match runtime.last() {
                Some(Statement::ExpressionStatement(s)) if default.is_none() => Some(s),
                _ => None,
            },
            directive: if runtime.is_empty() {
                program.directives.last()
            } else {
                None
            },
        },
    })
}

impl Plan<'_, '_> {
    fn shape(&self) -> Shape {
        match self {
            Self::Call(_) => Shape::ArrowOrFunction,
            Self::CallDefault(_)
            | Self::Body {
                default: Some(_), ..
            } => Shape::ExportDefault,
            Self::CallDeclaration(_) => Shape::FunctionDeclaration,
            Self::Body { .. } => Shape::Body,
        }
    }

    /// End of the statement this plan wraps (see `Stripper::wrapped_end`).
    fn wrapped_end(&self) -> Option<u32> {
        match self {
            Self::Call(e) => Some(e.span().end),
            Self::CallDefault(e) => Some(e.span.end),
            Self::CallDeclaration(f) => Some(f.span.end),
            Self::Body { last: Some(s), .. } => Some(s.span.end),
            Self::Body { .. } => None,
        }
    }

    /// Add the wrapper's edits; returns the text to append after the last line.
    fn apply(&self, code: &str, edits: &mut rewrite::Edits) -> String {
        let call = |edits: &mut rewrite::Edits, span: Span| {
            edits.insert(span.start, "(");
            edits.insert(span.end, ")()");
        };
        match self {
            Self::Call(expr) => {
                if matches!(expr, Expression::ParenthesizedExpression(_)) {
                    edits.insert(expr.span().end, "()");
                } else {
                    call(edits, expr.span());
                }
                String::new()
            }
            Self::CallDefault(e) => {
                // `export default` becomes blanks ending in `(`: no column moves.
                let decl = e.declaration.span();
                if decl.start > e.span.start
                    && code.as_bytes().get(decl.start as usize - 1) != Some(&b'\n')
                {
                    edits.blank_with_last(e.span.start, decl.start, '(');
                } else {
                    edits.blank_with_first(e.span.start, decl.start, '(');
                }
                edits.insert(decl.end, ")()");
                String::new()
            }
            Self::CallDeclaration(f) => {
                call(edits, f.span);
                String::new()
            }
            Self::Body {
                default,
                last,
                directive,
            } => {
                edits.insert(0, BODY_PREFIX);
                let mut tail = String::new();
                if let Some(e) = default {
                    tail = export_default_in_body(code, e, edits);
                } else if let Some(span) = last
                    .map(|s| s.expression.span())
                    .or(directive.map(|d| d.expression.span))
                {
                    edits.insert(span.start, "return (");
                    edits.insert(span.end, ")");
                }
                format!("\n{tail}}})()")
            }
        }
    }
}

/// Rewrite `export default` inside a body; returns the statement that returns the result.
fn export_default_in_body(
    code: &str,
    e: &ExportDefaultDeclaration<'_>,
    edits: &mut rewrite::Edits,
) -> String {
    let decl = e.declaration.span();
    // A named declaration stays one (hoisted, visible to the rest of the code).
    let named = match &e.declaration {
        ExportDefaultDeclarationKind::FunctionDeclaration(f) => {
            f.id.as_ref()
                .map(|id| format!(";return {}();", id.name.as_str()))
        }
        ExportDefaultDeclarationKind::ClassDeclaration(c) => {
            c.id.as_ref()
                .map(|id| format!(";return {};", id.name.as_str()))
        }
        _ => None,
    };
    if let Some(tail) = named {
        edits.blank(e.span.start, decl.start);
        return tail;
    }
    edits.overwrite(
        code,
        e.span.start,
        decl.start,
        &format!("var {DEFAULT_BINDING} ="),
    );
    let d = DEFAULT_BINDING;
    match &e.declaration {
        ExportDefaultDeclarationKind::FunctionDeclaration(_) => format!(";return {d}();"),
        kind => match kind.as_expression().map(unparenthesized) {
            Some(expr) if is_function(expr) => format!(";return {d}();"),
            // `export default main`: most likely a function declared above.
            Some(Expression::Identifier(_)) => {
                format!(";return typeof {d} === \"function\" ? {d}() : {d};")
            }
            _ => format!(";return {d};"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_chars() {
        assert_eq!(line_col("ab\nçd", 5), (2, 2));
        assert_eq!(line_col("ab\nçd", 4), (2, 1)); // inside `ç`: the start of it
        assert_eq!(line_col("ab", 99), (1, 3));
    }

    #[test]
    fn char_column_from_utf8() {
        let n = normalize("const s = 'é'; throw s").unwrap();
        // `throw` is at char column 16 of the source, byte column 17; the body prefix adds 14.
        assert_eq!(n.char_column(1, 17 + 14), 16 + 14);
        assert_eq!(n.source_position(1, n.char_column(1, 31)), (1, 16));
    }
}
