//! What a module's source says about its classes that the running code cannot tell: TypeScript
//! visibility, `@callable()` markers, parameter names and types, return types and doc
//! comments. Recorded while the module is stripped, so hosts never parse it again.

use oxc_ast::ast::{
    BindingPattern, Class, ClassElement, Comment, Declaration, Decorator,
    ExportDefaultDeclarationKind, Expression, FormalParameter, MethodDefinition,
    MethodDefinitionKind, PropertyKey, Statement, TSAccessibility, TSType, TSTypeAnnotation,
};
use oxc_span::{GetSpan, Span};

use super::super::rewrite::Edits;

/// The one decorator a module may use: it marks a method callable from outside the class
/// (see the agents crate). It is blanked from the script.
const CALLABLE_DECORATOR: &str = "callable";

/// A class declared at the top level of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassShape {
    /// The local binding (`$default` for an anonymous default export).
    pub binding: String,
    /// The superclass when it is a plain name (`extends Base`).
    pub extends: Option<String>,
    /// Methods in source order, without the constructor, accessors and `#private` ones.
    pub methods: Vec<MethodShape>,
}

/// One method of a class, as written in the source: what hosts list as the class's callable surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodShape {
    /// The method's name.
    pub name: String,
    /// `public` (or none), `protected` or `private`, as written.
    pub visibility: Visibility,
    /// Declared `static`.
    pub is_static: bool,
    /// Written with `@callable()` (or `@callable`).
    pub callable: bool,
    /// The parameters in order.
    pub params: Vec<ParamShape>,
    /// The return type as written, whitespace collapsed.
    pub returns: Option<String>,
    /// The text of the `/** … */` comment right before the method, without the comment marks.
    pub doc: Option<String>,
    /// 1-based line of the method in the source.
    pub line: u32,
}

/// A TypeScript accessibility modifier; `#private` methods are not listed at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// No modifier, or `public`.
    Public,
    /// `protected`.
    Protected,
    /// `private`.
    Private,
}

/// One parameter of a [`MethodShape`], for describing the method to a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamShape {
    /// The parameter's name, or `argN` (1-based) for a destructuring pattern.
    pub name: String,
    /// The type as written; for an untyped parameter with a literal default, that
    /// literal's type (`by = 1` is a `number`).
    pub ty: Option<String>,
    /// `x?: T` or a default value.
    pub optional: bool,
    /// `...rest`.
    pub rest: bool,
}

/// Records the top-level classes of `body` and blanks their `@callable()` markers. Other
/// decorators are refused: QuickJS does not run them, and a silent no-op would mislead.
pub(super) fn record(
    src: &str,
    body: &[Statement<'_>],
    comments: &[Comment],
    edits: &mut Edits,
) -> Result<Vec<ClassShape>, (String, u32)> {
    let mut classes = Vec::new();
    for stmt in body {
        let (class, binding) = match stmt {
            Statement::ClassDeclaration(c) => (&**c, None),
            Statement::ExportDeclaration(e) => match &e.declaration {
                Declaration::ClassDeclaration(c) => (&**c, None),
                _ => continue,
            },
            Statement::ExportDefaultDeclaration(e) => match &e.declaration {
                ExportDefaultDeclarationKind::ClassDeclaration(c) => {
                    (&**c, Some(super::super::DEFAULT_BINDING))
                }
                _ => continue,
            },
            _ => continue,
        };
        if class.declare {
            continue;
        }
        let binding = match (&class.id, binding) {
            (Some(id), _) => id.name.to_string(),
            (None, Some(default)) => default.to_owned(),
            (None, None) => continue,
        };
        classes.push(record_class(src, class, binding, comments, edits)?);
    }
    Ok(classes)
}

fn record_class(
    src: &str,
    class: &Class<'_>,
    binding: String,
    comments: &[Comment],
    edits: &mut Edits,
) -> Result<ClassShape, (String, u32)> {
    if let Some(d) = class.decorators.first() {
        return Err(unsupported_decorator(d));
    }
    let extends = match class.heritage.as_ref().map(|h| &h.expression) {
        Some(Expression::Identifier(id)) => Some(id.name.to_string()),
        _ => None,
    };
    let mut methods = Vec::new();
    for element in &class.body.body {
        match element {
            ClassElement::MethodDefinition(m) => {
                let callable = callable_marker(m, edits)?;
                if m.kind != MethodDefinitionKind::Method || m.value.body.is_none() {
                    if callable {
                        return Err((
                            "@callable() marks methods; put it on a method, not on a constructor or accessor"
                                .to_owned(),
                            m.span.start,
                        ));
                    }
                    continue;
                }
                let Some(name) = key_name(&m.key, m.computed) else {
                    continue;
                };
                methods.push(MethodShape {
                    name,
                    visibility: match m.accessibility {
                        Some(TSAccessibility::Private) => Visibility::Private,
                        Some(TSAccessibility::Protected) => Visibility::Protected,
                        _ => Visibility::Public,
                    },
                    is_static: m.r#static,
                    callable,
                    params: params(src, m),
                    returns: m.value.return_type.as_deref().map(|t| type_text(src, t)),
                    doc: doc_before(
                        src,
                        comments,
                        m.decorators
                            .first()
                            .map_or(m.span.start, |d| d.span.start.min(m.span.start)),
                    ),
                    line: line_of(src, m.span.start),
                });
            }
            ClassElement::PropertyDefinition(p) => {
                if let Some(d) = p.decorators.first() {
                    return Err(unsupported_decorator(d));
                }
            }
            ClassElement::AccessorProperty(a) => {
                if let Some(d) = a.decorators.first() {
                    return Err(unsupported_decorator(d));
                }
            }
            ClassElement::StaticBlock(_) | ClassElement::TSIndexSignature(_) => {}
        }
    }
    Ok(ClassShape {
        binding,
        extends,
        methods,
    })
}

/// Whether `m` carries `@callable()`; blanks it. Any other decorator is an error.
fn callable_marker(m: &MethodDefinition<'_>, edits: &mut Edits) -> Result<bool, (String, u32)> {
    let mut callable = false;
    for d in &m.decorators {
        let is_callable = match &d.expression {
            Expression::Identifier(id) => id.name == CALLABLE_DECORATOR,
            Expression::CallExpression(call) => {
                call.arguments.is_empty()
                    && matches!(&call.callee, Expression::Identifier(id) if id.name == CALLABLE_DECORATOR)
            }
            _ => false,
        };
        if !is_callable {
            return Err(unsupported_decorator(d));
        }
        edits.blank(d.span.start, d.span.end);
        callable = true;
    }
    for p in &m.value.params.items {
        if let Some(d) = p.decorators.first() {
            return Err(unsupported_decorator(d));
        }
    }
    Ok(callable)
}

fn unsupported_decorator(d: &Decorator<'_>) -> (String, u32) {
    (
        "decorators are not supported here, except @callable() on a method (it marks the \
         method callable from outside the agent)"
            .to_owned(),
        d.span.start,
    )
}

fn key_name(key: &PropertyKey<'_>, computed: bool) -> Option<String> {
    match key {
        PropertyKey::StaticIdentifier(id) if !computed => Some(id.name.to_string()),
        PropertyKey::StringLiteral(s) => Some(s.value.to_string()),
        // `#private` methods are invisible outside the class by the language itself.
        _ => None,
    }
}

fn params(src: &str, m: &MethodDefinition<'_>) -> Vec<ParamShape> {
    let list = &m.value.params;
    let mut out: Vec<ParamShape> = list
        .items
        .iter()
        .enumerate()
        .map(|(i, p)| param(src, p, i))
        .collect();
    if let Some(rest) = &list.rest {
        out.push(ParamShape {
            name: pattern_name(&rest.rest.argument, out.len()),
            ty: rest.type_annotation.as_deref().map(|t| type_text(src, t)),
            optional: false,
            rest: true,
        });
    }
    out
}

fn param(src: &str, p: &FormalParameter<'_>, index: usize) -> ParamShape {
    let literal_ty = p.initializer.as_deref().and_then(|init| match init {
        Expression::NumericLiteral(_) => Some("number"),
        Expression::StringLiteral(_) | Expression::TemplateLiteral(_) => Some("string"),
        Expression::BooleanLiteral(_) => Some("boolean"),
        _ => None,
    });
    ParamShape {
        name: pattern_name(&p.pattern, index),
        ty: p
            .type_annotation
            .as_deref()
            .map(|t| type_text(src, t))
            .or(literal_ty.map(str::to_owned)),
        optional: p.optional || p.initializer.is_some(),
        rest: false,
    }
}

fn pattern_name(pattern: &BindingPattern<'_>, index: usize) -> String {
    match pattern.get_binding_identifier() {
        Some(id) => id.name.to_string(),
        None => format!("arg{}", index + 1),
    }
}

/// The annotation's type as written, on one line.
fn type_text(src: &str, annotation: &TSTypeAnnotation<'_>) -> String {
    collapse(slice(src, type_span(&annotation.type_annotation)))
}

fn type_span(ty: &TSType<'_>) -> Span {
    ty.span()
}

fn slice(src: &str, span: Span) -> &str {
    src.get(span.start as usize..span.end as usize)
        .unwrap_or_default()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The `/** … */` comment that ends right before `start` (only whitespace between).
fn doc_before(src: &str, comments: &[Comment], start: u32) -> Option<String> {
    let comment = comments
        .iter()
        .take_while(|c| c.span.end <= start)
        .last()
        .filter(|c| c.is_jsdoc())?;
    if !slice(src, Span::new(comment.span.end, start))
        .trim()
        .is_empty()
    {
        return None;
    }
    let inner = slice(src, comment.span);
    let inner = inner
        .strip_prefix("/**")
        .and_then(|s| s.strip_suffix("*/"))?;
    let lines: Vec<&str> = inner
        .lines()
        .map(|l| {
            let l = l.trim();
            l.strip_prefix('*').map_or(l, str::trim_start).trim_end()
        })
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn line_of(src: &str, offset: u32) -> u32 {
    let before = src.get(..offset as usize).unwrap_or(src);
    u32::try_from(before.matches('\n').count() + 1).unwrap_or(u32::MAX)
}
