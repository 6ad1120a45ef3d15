//! One file of a package → the body of a function in the bundle's module table, and the
//! specifiers it imports.
//!
//! CommonJS files are kept as they are (their `require("x")` calls are collected). ES
//! modules are converted, by text edits on oxc's AST, to the same form with ESM
//! semantics kept where packages depend on them: imports are evaluated first, in order;
//! exports are getters defined before the body runs (live bindings, and cycles: a
//! module that imports one still being evaluated sees its exports fill in); every use of
//! an imported name reads the exporting module's current value (`ns.name`), found with
//! oxc's semantic analysis so that shadowed names are left alone.
//!
//! The function is called as `(module, exports, require, __x)`, where `__x` holds the
//! runtime's helpers (`runtime.js`): `i` (an ESM view of a module), `e` (define export
//! getters), `s` (`export *`), `dyn` (dynamic `import()`) and `meta` (`import.meta`).

use std::collections::HashMap;

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    ArrowFunctionExpression, AwaitExpression, CallExpression, Declaration,
    ExportDefaultDeclarationKind, Expression, ForOfStatement, Function, IdentifierReference,
    ImportDeclarationSpecifier, ImportExpression, ImportMeta, ModuleExportName, ObjectProperty,
    Program, Statement,
};
use oxc_ast_visit::{Visit, walk};
use oxc_ecmascript::BoundNames as _;
use oxc_parser::{ParseOptions, Parser};
use oxc_semantic::{ScopeFlags, Scoping, SemanticBuilder, SymbolId};
use oxc_span::{GetSpan as _, SourceType, Span};

use crate::resolve::Kind;

/// The free names a module may use that Node defines per module or globally, and what
/// the converted file declares them as. Declared only when the file uses them.
const NODE_GLOBALS: &[(&str, &str, Option<&str>)] = &[
    (
        "process",
        "var process = require(\"node:process\");",
        Some("node:process"),
    ),
    (
        "Buffer",
        "var Buffer = require(\"node:buffer\").Buffer;",
        Some("node:buffer"),
    ),
    ("global", "var global = globalThis;", None),
    (
        "setImmediate",
        "var setImmediate = require(\"node:timers\").setImmediate;",
        Some("node:timers"),
    ),
    (
        "clearImmediate",
        "var clearImmediate = require(\"node:timers\").clearImmediate;",
        Some("node:timers"),
    ),
    ("__filename", "var __filename = module.filename;", None),
    ("__dirname", "var __dirname = module.path;", None),
];

/// A dependency found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dep {
    pub spec: String,
    pub kind: Kind,
    /// A static `import`: the module cannot evaluate without it, so failing to resolve it
    /// fails the bundle. A `require` or `import()` may sit in a branch never taken, so
    /// failing to resolve it only fails the call, at run time.
    pub required: bool,
    /// Evaluated later, if ever (a lazy re-export, `import()`): the module need not be
    /// compiled before it is used.
    pub deferred: bool,
}

#[derive(Debug)]
pub(crate) struct Converted {
    /// The function body.
    pub body: String,
    pub deps: Vec<Dep>,
}

/// Converts `source` (the file `path`). Parse errors are returned as text.
///
/// `lazy_reexports`: the package declares `"sideEffects": false`, so a module it only
/// re-exports (`export * as locales from "./locales/index.js"`, `export { a } from "./a.js"`)
/// is evaluated when first read, not up front: zod re-exports fifty locales that most
/// programs never touch, and every execution would pay for evaluating them.
pub(crate) fn convert(path: &str, source: &str, lazy_reexports: bool) -> Result<Converted, String> {
    let allocator = Allocator::default();
    let options = ParseOptions {
        allow_return_outside_function: true,
        ..ParseOptions::default()
    };
    let order = if path.ends_with(".cjs") {
        [SourceType::cjs(), SourceType::mjs()]
    } else {
        [SourceType::mjs(), SourceType::cjs()]
    };
    let mut first_error = None;
    for source_type in order {
        let ret = Parser::new(&allocator, source, source_type)
            .with_options(options)
            .parse();
        if ret.panicked || ret.diagnostics.has_errors() {
            if first_error.is_none() {
                first_error = ret.diagnostics.errors().next().map(|d| {
                    let at = d.labels.first().map_or(0, |l| l.offset());
                    let line = source[..(at as usize).min(source.len())]
                        .matches('\n')
                        .count()
                        + 1;
                    format!("{} (line {line})", d.message)
                });
            }
            continue;
        }
        let program = allocator.alloc(ret.program);
        if is_esm(program) && has_top_level_await(program) {
            return Err(
                "it uses top-level `await`, which islet's bundles cannot run (each module is a plain function); use another version or package"
                    .to_owned(),
            );
        }
        return Ok(convert_program(source, program, lazy_reexports));
    }
    Err(first_error.unwrap_or_else(|| "invalid syntax".to_owned()))
}

fn is_esm(program: &Program<'_>) -> bool {
    program.body.iter().any(|s| {
        matches!(
            s,
            Statement::ImportDeclaration(_)
                | Statement::ExportAllDeclaration(_)
                | Statement::ExportDefaultDeclaration(_)
                | Statement::ExportDeclaration(_)
                | Statement::ExportNamedDeclaration(_)
                | Statement::ExportFromDeclaration(_)
        )
    }) || program.source_text.contains("import.meta") && has_import_meta(program)
}

fn has_import_meta(program: &Program<'_>) -> bool {
    struct Finder(bool);
    impl<'a> Visit<'a> for Finder {
        fn visit_import_meta(&mut self, _it: &ImportMeta) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_program(program);
    finder.0
}

/// Whether `await` appears outside every function (top-level await, `for await`).
fn has_top_level_await(program: &Program<'_>) -> bool {
    struct Finder(bool);
    impl<'a> Visit<'a> for Finder {
        fn visit_function(&mut self, _it: &Function<'a>, _flags: ScopeFlags) {}
        fn visit_arrow_function_expression(&mut self, _it: &ArrowFunctionExpression<'a>) {}
        fn visit_await_expression(&mut self, _it: &AwaitExpression<'a>) {
            self.0 = true;
        }
        fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
            self.0 |= it.r#await;
            walk::walk_for_of_statement(self, it);
        }
    }
    let mut finder = Finder(false);
    finder.visit_program(program);
    finder.0
}

fn convert_program<'a>(source: &str, program: &Program<'a>, lazy_reexports: bool) -> Converted {
    let semantic = SemanticBuilder::new().build(program).semantic;
    let scoping = semantic.scoping();
    let esm = is_esm(program);
    let mut edits = Edits::default();
    let mut deps = Vec::new();
    // The module's prologue: helpers first, then its imports (in order), then its export
    // getters and `export *`s.
    let mut head = String::new();
    let mut getters: Vec<(String, String)> = Vec::new();
    let mut stars = String::new();
    let mut imported: HashMap<SymbolId, String> = HashMap::new();

    if let Some(hashbang) = &program.hashbang {
        edits.replace(hashbang.span, "");
    }
    strip_comments(program, &mut edits);

    if esm {
        let mut n = 0usize;
        let mut import_var = |head: &mut String, spec: &str, deps: &mut Vec<Dep>| {
            let var = format!("__islet_i{n}");
            n += 1;
            head.push_str(&format!("var {var} = __x.i(require({}));", js_string(spec)));
            deps.push(Dep {
                spec: spec.to_owned(),
                kind: Kind::Import,
                required: true,
                deferred: false,
            });
            var
        };
        for stmt in &program.body {
            match stmt {
                Statement::ImportDeclaration(decl) => {
                    edits.replace(decl.span, "");
                    if decl.import_kind.is_type() {
                        continue;
                    }
                    let var = import_var(&mut head, decl.source.value.as_str(), &mut deps);
                    for specifier in decl.specifiers.iter().flatten() {
                        let (local, access) = match specifier {
                            ImportDeclarationSpecifier::ImportSpecifier(s) => {
                                (&s.local, member(&var, &export_name(&s.imported)))
                            }
                            ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                                (&s.local, format!("{var}.default"))
                            }
                            ImportDeclarationSpecifier::ImportNamespaceSpecifier(s) => {
                                (&s.local, var.clone())
                            }
                        };
                        if let Some(symbol) = local.symbol_id.get() {
                            imported.insert(symbol, access);
                        }
                    }
                }
                Statement::ExportFromDeclaration(decl) => {
                    edits.replace(decl.span, "");
                    if decl.export_kind.is_type() {
                        continue;
                    }
                    let spec = decl.source.value.as_str();
                    let var = if lazy_reexports {
                        deps.push(Dep {
                            spec: spec.to_owned(),
                            kind: Kind::Import,
                            required: true,
                            deferred: true,
                        });
                        format!("__x.i(require({}))", js_string(spec))
                    } else {
                        import_var(&mut head, spec, &mut deps)
                    };
                    for s in &decl.specifiers {
                        if s.export_kind.is_type() {
                            continue;
                        }
                        getters.push((
                            export_name(&s.exported),
                            member(&var, &export_name(&s.local)),
                        ));
                    }
                }
                Statement::ExportAllDeclaration(decl) => {
                    edits.replace(decl.span, "");
                    if decl.export_kind.is_type() {
                        continue;
                    }
                    let spec = decl.source.value.as_str();
                    match &decl.exported {
                        Some(name) if lazy_reexports => {
                            deps.push(Dep {
                                spec: spec.to_owned(),
                                kind: Kind::Import,
                                required: true,
                                deferred: true,
                            });
                            getters.push((
                                export_name(name),
                                format!("__x.i(require({}))", js_string(spec)),
                            ));
                        }
                        Some(name) => {
                            let var = import_var(&mut head, spec, &mut deps);
                            getters.push((export_name(name), var));
                        }
                        None => {
                            let var = import_var(&mut head, spec, &mut deps);
                            stars.push_str(&format!("__x.s(exports, {var});"));
                        }
                    }
                }
                _ => {}
            }
        }
        for stmt in &program.body {
            match stmt {
                Statement::ExportDeclaration(decl) => {
                    // `export ` goes; the declaration stays.
                    edits.replace(
                        Span::new(decl.span.start, decl.declaration.span().start),
                        "",
                    );
                    declaration_names(&decl.declaration, &mut |name| {
                        getters.push((name.to_owned(), name.to_owned()));
                    });
                }
                Statement::ExportNamedDeclaration(decl) => {
                    edits.replace(decl.span, "");
                    if decl.export_kind.is_type() {
                        continue;
                    }
                    for s in &decl.specifiers {
                        if s.export_kind.is_type() {
                            continue;
                        }
                        let value = match &s.local {
                            ModuleExportName::IdentifierReference(r) => r
                                .reference_id
                                .get()
                                .and_then(|id| scoping.get_reference(id).symbol_id())
                                .and_then(|symbol| imported.get(&symbol).cloned())
                                .unwrap_or_else(|| r.name.to_string()),
                            other => export_name(other),
                        };
                        getters.push((export_name(&s.exported), value));
                    }
                }
                Statement::ExportDefaultDeclaration(decl) => {
                    let inner = decl.declaration.span();
                    let prefix = Span::new(decl.span.start, inner.start);
                    match &decl.declaration {
                        ExportDefaultDeclarationKind::FunctionDeclaration(f) => {
                            edits.replace(prefix, "");
                            let name = match &f.id {
                                Some(id) => id.name.to_string(),
                                None => {
                                    edits.insert(f.params.span.start, " __islet_default");
                                    "__islet_default".to_owned()
                                }
                            };
                            getters.push(("default".to_owned(), name));
                        }
                        ExportDefaultDeclarationKind::ClassDeclaration(c) => {
                            let name = match &c.id {
                                Some(id) => {
                                    edits.replace(prefix, "");
                                    id.name.to_string()
                                }
                                None => {
                                    edits.replace(prefix, "var __islet_default = ");
                                    "__islet_default".to_owned()
                                }
                            };
                            getters.push(("default".to_owned(), name));
                        }
                        ExportDefaultDeclarationKind::TSInterfaceDeclaration(_) => {
                            edits.replace(decl.span, "");
                        }
                        _ => {
                            edits.replace(prefix, "var __islet_default = ");
                            getters.push(("default".to_owned(), "__islet_default".to_owned()));
                        }
                    }
                }
                _ => {}
            }
        }
    }

    let mut visitor = Rewriter {
        scoping,
        imported: &imported,
        edits: &mut edits,
        deps: &mut deps,
        globals: Vec::new(),
    };
    visitor.visit_program(program);
    let globals = std::mem::take(&mut visitor.globals);

    let mut prologue = String::new();
    if esm {
        prologue.push_str("\"use strict\";");
        prologue.push_str("Object.defineProperty(exports, \"__esModule\", { value: true });");
    }
    for (name, declaration, dep) in NODE_GLOBALS {
        if globals.iter().any(|g| g == name) {
            prologue.push_str(declaration);
            if let Some(spec) = dep {
                deps.push(Dep {
                    spec: (*spec).to_owned(),
                    kind: Kind::Require,
                    required: true,
                    deferred: false,
                });
            }
        }
    }
    if !getters.is_empty() {
        prologue.push_str("__x.e(exports, {");
        for (name, value) in &getters {
            prologue.push_str(&format!("{}: () => {value},", js_string(name)));
        }
        prologue.push_str("});");
    }
    prologue.push_str(&head);
    prologue.push_str(&stars);
    // CommonJS directives (`"use strict"`) must stay first: the prologue goes after them.
    let at = if esm {
        0
    } else {
        program.directives.last().map_or(0, |d| d.span.end)
    };
    if at > 0 && !prologue.is_empty() {
        // The directive may end without a semicolon (`'use strict'` then a new line).
        prologue.insert(0, ';');
    }
    edits.insert(at, &prologue);
    Converted {
        body: edits.apply(source),
        deps,
    }
}

/// Removes comments other than legal notices. QuickJS keeps the source text of every
/// function for `toString`, nested functions again inside their parents, so comments are
/// paid for several times over in the bundle's bytecode, on every execution that loads it.
fn strip_comments(program: &Program<'_>, edits: &mut Edits) {
    for comment in &program.comments {
        let span = comment.span;
        let text = &program.source_text[span.start as usize..span.end as usize];
        if text.starts_with("/*!") || text.contains("@license") || text.contains("@preserve") {
            continue;
        }
        // A block comment spanning lines ends a line for automatic semicolon insertion:
        // it stays a line break.
        let replacement = if text.starts_with("/*") && text.contains('\n') {
            "\n"
        } else if text.starts_with("/*") {
            " "
        } else {
            ""
        };
        edits.replace(span, replacement);
    }
}

/// Rewrites uses of imported names, `import()`, `import.meta`, and collects `require`s.
struct Rewriter<'s, 'e> {
    scoping: &'s Scoping,
    imported: &'s HashMap<SymbolId, String>,
    edits: &'e mut Edits,
    deps: &'e mut Vec<Dep>,
    /// Free names of [`NODE_GLOBALS`] the file uses.
    globals: Vec<String>,
}

impl Rewriter<'_, '_> {
    fn symbol(&self, ident: &IdentifierReference<'_>) -> Option<Option<SymbolId>> {
        let id = ident.reference_id.get()?;
        Some(self.scoping.get_reference(id).symbol_id())
    }

    fn import_access(&self, ident: &IdentifierReference<'_>) -> Option<String> {
        let symbol = self.symbol(ident)??;
        self.imported.get(&symbol).cloned()
    }
}

impl<'a> Visit<'a> for Rewriter<'_, '_> {
    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        match self.symbol(it) {
            Some(Some(_)) => {
                if let Some(access) = self.import_access(it) {
                    self.edits.replace(it.span, &access);
                }
            }
            Some(None) => {
                let name = it.name.as_str();
                if NODE_GLOBALS.iter().any(|(g, _, _)| *g == name)
                    && !self.globals.iter().any(|g| g == name)
                {
                    self.globals.push(name.to_owned());
                }
            }
            None => {}
        }
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(callee) = &it.callee {
            if let Some(access) = self.import_access(callee) {
                // Called as a plain function, as ESM would (`this` undefined).
                self.edits.replace(callee.span, &format!("(0, {access})"));
                for argument in &it.arguments {
                    self.visit_argument(argument);
                }
                return;
            }
            if callee.name == "require"
                && self.symbol(callee) == Some(None)
                && let Some(Expression::StringLiteral(spec)) =
                    it.arguments.first().and_then(|a| a.as_expression())
            {
                self.deps.push(Dep {
                    spec: spec.value.to_string(),
                    kind: Kind::Require,
                    required: false,
                    deferred: false,
                });
            }
        }
        walk::walk_call_expression(self, it);
    }

    fn visit_object_property(&mut self, it: &ObjectProperty<'a>) {
        if it.shorthand
            && let Expression::Identifier(ident) = &it.value
            && let Some(access) = self.import_access(ident)
        {
            self.edits
                .replace(it.span, &format!("{}: {access}", ident.name.as_str()));
            return;
        }
        walk::walk_object_property(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        if let Expression::StringLiteral(spec) = &it.source {
            self.deps.push(Dep {
                spec: spec.value.to_string(),
                kind: Kind::Import,
                required: false,
                deferred: true,
            });
        }
        let source = it.source.span();
        self.edits.replace(
            Span::new(it.span.start, source.start),
            "__x.dyn(() => require(",
        );
        self.edits.replace(Span::new(source.end, it.span.end), "))");
        self.visit_expression(&it.source);
    }

    fn visit_import_meta(&mut self, it: &ImportMeta) {
        self.edits.replace(it.span, "__x.meta");
    }
}

/// The names a declaration binds (`export const {a, b} = …`, `export function f`).
fn declaration_names(declaration: &Declaration<'_>, f: &mut dyn FnMut(&str)) {
    match declaration {
        Declaration::VariableDeclaration(v) => {
            for d in &v.declarations {
                d.id.bound_names(&mut |id| f(id.name.as_str()));
            }
        }
        Declaration::FunctionDeclaration(func) => {
            if let Some(id) = &func.id {
                f(id.name.as_str());
            }
        }
        Declaration::ClassDeclaration(class) => {
            if let Some(id) = &class.id {
                f(id.name.as_str());
            }
        }
        _ => {}
    }
}

fn export_name(name: &ModuleExportName<'_>) -> String {
    match name {
        ModuleExportName::IdentifierName(n) => n.name.to_string(),
        ModuleExportName::IdentifierReference(r) => r.name.to_string(),
        ModuleExportName::StringLiteral(s) => s.value.to_string(),
    }
}

/// `ns.name`, or `ns["not-an-identifier"]`.
fn member(object: &str, name: &str) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        format!("{object}.{name}")
    } else {
        format!("{object}[{}]", js_string(name))
    }
}

pub(crate) fn js_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// Non-overlapping replacements of byte ranges.
#[derive(Debug, Default)]
struct Edits {
    list: Vec<(u32, u32, String)>,
}

impl Edits {
    fn replace(&mut self, span: Span, text: &str) {
        self.list.push((span.start, span.end, text.to_owned()));
    }

    fn insert(&mut self, at: u32, text: &str) {
        self.list.push((at, at, text.to_owned()));
    }

    fn apply(mut self, source: &str) -> String {
        // Stable: two inserts at one point keep their order.
        self.list.sort_by_key(|(start, end, _)| (*start, *end));
        let mut out = String::with_capacity(source.len() + 256);
        let mut at = 0usize;
        for (start, end, text) in self.list {
            let (start, end) = (start as usize, end as usize);
            if start < at {
                // Overlapping edit (a bug in the rules above): keep the source, not a
                // corrupted file.
                continue;
            }
            out.push_str(&source[at..start]);
            out.push_str(&text);
            at = end;
        }
        out.push_str(&source[at..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_level_await_is_refused_and_nested_await_is_not() {
        let error = convert("a.js", "export const x = await fetch('u');", false).unwrap_err();
        assert!(error.contains("top-level `await`"), "{error}");
        assert!(
            convert(
                "a.js",
                "export async function f() { await g(); for await (const x of y) {} }",
                false
            )
            .is_ok()
        );
        // A CommonJS file where `await` is an identifier is no module: left alone.
        assert!(convert("a.js", "var await = 1; module.exports = await;", false).is_ok());
    }

    #[test]
    fn reexports_of_side_effect_free_packages_load_when_read() {
        let source = "export * as locales from './locales.js';\nexport { a as b } from './a.js';\nexport * from './all.js';";
        let lazy = convert("i.js", source, true).unwrap();
        assert!(
            lazy.body
                .contains("\"locales\": () => __x.i(require(\"./locales.js\"))"),
            "{}",
            lazy.body
        );
        assert!(
            lazy.body
                .contains("\"b\": () => __x.i(require(\"./a.js\")).a"),
            "{}",
            lazy.body
        );
        assert!(
            lazy.body
                .contains("var __islet_i0 = __x.i(require(\"./all.js\"))"),
            "{}",
            lazy.body
        );
        assert_eq!(lazy.deps.len(), 3);
        let eager = convert("i.js", source, false).unwrap();
        assert!(
            eager
                .body
                .contains("var __islet_i0 = __x.i(require(\"./locales.js\"))"),
            "{}",
            eager.body
        );
    }

    #[test]
    fn esm_becomes_the_module_form() {
        let c = convert(
            "a.js",
            "import d, { x as y } from './b.js';\nimport * as ns from 'c';\nexport const z = y + 1;\nexport function f() { return d(ns, { y }); }\nexport { y as w };\nexport * from './e.js';\nexport default 42;\n",
            false,
        )
        .unwrap();
        let specs: Vec<&str> = c.deps.iter().map(|d| d.spec.as_str()).collect();
        assert_eq!(specs, ["./b.js", "c", "./e.js"]);
        assert!(
            c.body
                .contains("(0, __islet_i0.default)(__islet_i1, { y: __islet_i0.x })"),
            "{}",
            c.body
        );
        assert!(c.body.contains("const z = __islet_i0.x + 1"), "{}", c.body);
        assert!(c.body.contains("\"w\": () => __islet_i0.x"), "{}", c.body);
        assert!(c.body.contains("__x.s(exports, __islet_i2)"), "{}", c.body);
        assert!(c.body.contains("var __islet_default = 42"), "{}", c.body);
    }

    #[test]
    fn shadowed_names_are_left_alone() {
        let c = convert(
            "a.js",
            "import { x } from 'b';\nfunction g(x) { return x; }\nexport default x;",
            false,
        )
        .unwrap();
        assert!(c.body.contains("function g(x) { return x; }"), "{}", c.body);
        assert!(
            c.body.contains("var __islet_default = __islet_i0.x"),
            "{}",
            c.body
        );
    }

    #[test]
    fn commonjs_requires_and_globals() {
        let c = convert(
            "a.js",
            "'use strict'\nconst a = require('a');\nfunction f(require) { return require('nope'); }\nmodule.exports = Buffer.from(process.env.X);",
            false,
        )
        .unwrap();
        let specs: Vec<&str> = c.deps.iter().map(|d| d.spec.as_str()).collect();
        assert_eq!(specs, ["a", "node:process", "node:buffer"]);
        assert!(c.body.starts_with("'use strict';var process"), "{}", c.body);
    }
}
