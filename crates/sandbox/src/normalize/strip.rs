//! TypeScript → JavaScript by blanking (the ts-blank-space approach): type-only syntax becomes
//! spaces so that every remaining token keeps its line and column. Enums and constructor
//! parameter properties need real code; it is emitted within the lines they occupied.

use std::collections::{HashMap, HashSet};

use oxc_allocator::Vec as ArenaVec;
use oxc_ast::ast::{
    AccessorProperty, AccessorPropertyType, ArrowFunctionExpression, Class, ClassBody,
    ClassElement, Declaration, Decorator, ExportDefaultDeclarationKind, Expression,
    FormalParameter, Function, Hashbang, IdentifierReference, ImportDeclarationSpecifier,
    MethodDefinition, MethodDefinitionKind, MethodDefinitionType, PropertyDefinition,
    PropertyDefinitionType, PropertyKey, Statement, TSAsExpression, TSClassImplements,
    TSEnumDeclaration, TSEnumMemberName, TSExternalModuleDeclaration, TSGlobalDeclaration,
    TSImportEqualsDeclaration, TSInstantiationExpression, TSInterfaceDeclaration,
    TSNamespaceDeclaration, TSNamespaceDeclarationBody, TSNonNullExpression, TSSatisfiesExpression,
    TSThisParameter, TSTypeAliasDeclaration, TSTypeAnnotation, TSTypeAssertion,
    TSTypeParameterDeclaration, TSTypeParameterInstantiation, VariableDeclarator,
};
use oxc_ast_visit::{Visit, walk};
use oxc_span::{GetSpan, Span};

use super::enums::{Member, Scope, Value, js_number, js_string};
use super::rewrite::Edits;
use super::scan;

pub(super) const NAMESPACE_MESSAGE: &str =
    "namespace is not supported in the sandbox: use a plain object (`const ns = { ... }`) instead";

/// Class member and parameter modifiers that exist only in TypeScript.
const TS_MODIFIERS: &[&str] = &[
    "public",
    "private",
    "protected",
    "readonly",
    "abstract",
    "override",
    "declare",
];

/// A statement that TypeScript erases entirely.
pub(super) fn is_type_only(stmt: &Statement<'_>) -> bool {
    if let Some(decl) = stmt.as_declaration() {
        return declaration_is_type_only(decl);
    }
    match stmt {
        Statement::ImportDeclaration(i) => {
            i.import_kind.is_type()
                || i.specifiers.as_ref().is_some_and(|specs| {
                    !specs.is_empty()
                        && specs.iter().all(|s| {
                            matches!(s, ImportDeclarationSpecifier::ImportSpecifier(s) if s.import_kind.is_type())
                        })
                })
        }
        // Includes `export {}`, which TypeScript code uses to mark a file as a module.
        Statement::ExportNamedDeclaration(e) => {
            e.export_kind.is_type() || e.specifiers.iter().all(|s| s.export_kind.is_type())
        }
        Statement::ExportFromDeclaration(e) => {
            e.export_kind.is_type()
                || (!e.specifiers.is_empty() && e.specifiers.iter().all(|s| s.export_kind.is_type()))
        }
        Statement::ExportAllDeclaration(e) => e.export_kind.is_type(),
        Statement::ExportDeclaration(e) => declaration_is_type_only(&e.declaration),
        Statement::ExportDefaultDeclaration(e) => match &e.declaration {
            ExportDefaultDeclarationKind::TSInterfaceDeclaration(_) => true,
            ExportDefaultDeclarationKind::FunctionDeclaration(f) => f.declare || f.body.is_none(),
            _ => false,
        },
        Statement::TSNamespaceExportDeclaration(_) => true,
        _ => false,
    }
}

fn declaration_is_type_only(decl: &Declaration<'_>) -> bool {
    match decl {
        Declaration::TSTypeAliasDeclaration(_)
        | Declaration::TSInterfaceDeclaration(_)
        | Declaration::TSExternalModuleDeclaration(_)
        | Declaration::TSGlobalDeclaration(_) => true,
        Declaration::VariableDeclaration(d) => d.declare,
        // No body: an overload signature or `declare function`.
        Declaration::FunctionDeclaration(f) => f.declare || f.body.is_none(),
        Declaration::ClassDeclaration(c) => c.declare,
        Declaration::TSEnumDeclaration(e) => e.declare,
        Declaration::TSNamespaceDeclaration(n) => namespace_is_type_only(n),
        Declaration::TSImportEqualsDeclaration(i) => i.import_kind.is_type(),
    }
}

/// `declare namespace`, or one that only holds types (tsc emits nothing for it).
fn namespace_is_type_only(ns: &TSNamespaceDeclaration<'_>) -> bool {
    ns.declare
        || match &ns.body {
            TSNamespaceDeclarationBody::TSNamespaceDeclaration(inner) => {
                namespace_is_type_only(inner)
            }
            TSNamespaceDeclarationBody::TSModuleBlock(block) => block.body.iter().all(is_type_only),
        }
}

fn class_element_is_type_only(el: &ClassElement<'_>) -> bool {
    match el {
        ClassElement::TSIndexSignature(_) => true,
        ClassElement::MethodDefinition(m) => {
            m.r#type == MethodDefinitionType::TSAbstractMethodDefinition || m.value.body.is_none()
        }
        ClassElement::PropertyDefinition(p) => {
            p.declare || p.r#type == PropertyDefinitionType::TSAbstractPropertyDefinition
        }
        ClassElement::AccessorProperty(a) => {
            a.r#type == AccessorPropertyType::TSAbstractAccessorProperty
        }
        ClassElement::StaticBlock(_) => false,
    }
}

/// A byte offset from the scanner as an AST offset (sources are below 4 GiB, see `MAX_CODE_BYTES`).
fn offset(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// Walks the AST and records the edits that turn it into JavaScript.
pub(super) struct Stripper<'a> {
    src: &'a str,
    pub edits: Edits,
    /// The first unsupported construct met: (message, byte offset).
    pub error: Option<(String, u32)>,
    /// Ends of statements and class fields that have no `;` of their own. An `as T` or
    /// `satisfies T` ending there is blanked to `;` plus spaces, so that a next line starting
    /// with `(`, `[` or `` ` `` cannot join onto this one once the type is gone.
    open_ends: HashSet<u32>,
    /// End of the statement the shape wraps in `(...)` or `return (...)`: its closing paren
    /// ends it, and a `;` inside would break the wrapper.
    wrapped_end: Option<u32>,
    /// Inside a non-constant enum initialiser: the enum's name and its member names, which
    /// refer to members and must become `E.member`.
    enum_refs: Option<(&'a str, HashSet<&'a str>)>,
    /// Members of the enums declared so far, by enum name: a declaration can add members to an
    /// earlier one of the same name and refer to its members.
    enums: HashMap<&'a str, HashMap<String, Member>>,
    /// Identifier-named members of those enums.
    enum_idents: HashMap<&'a str, HashSet<&'a str>>,
}

impl<'a> Stripper<'a> {
    pub(super) fn new(src: &'a str, wrapped_end: Option<u32>) -> Self {
        Self {
            src,
            edits: Edits::default(),
            error: None,
            open_ends: HashSet::new(),
            wrapped_end,
            enum_refs: None,
            enums: HashMap::new(),
            enum_idents: HashMap::new(),
        }
    }

    fn fail(&mut self, at: u32, message: &str) {
        if self.error.is_none() {
            self.error = Some((message.to_owned(), at));
        }
    }

    fn byte_at(&self, at: u32) -> Option<u8> {
        self.src.as_bytes().get(at as usize).copied()
    }

    fn blank(&mut self, span: Span) {
        self.edits.blank(span.start, span.end);
    }

    /// Blank a whole statement. Starting it with `;` ends an unterminated statement before it
    /// (`let x = 1` / `type T = …` / `(f)()` must not become `1(f)()`); not done before any code,
    /// where it would turn a following `"use strict"` into a plain expression.
    fn blank_statement(&mut self, span: Span, after_code: bool) {
        if after_code {
            self.edits.blank_with_first(span.start, span.end, ';');
        } else {
            self.blank(span);
        }
    }

    fn note_open_end(&mut self, span: Span) {
        if Some(span.end) != self.wrapped_end
            && span.end > 0
            && self.byte_at(span.end - 1) != Some(b';')
        {
            self.open_ends.insert(span.end);
        }
    }

    /// Blank ` as T` / ` satisfies T` (from the end of the expression to the end of the node).
    fn blank_type_suffix(&mut self, start: u32, end: u32) {
        if self.open_ends.contains(&end) {
            self.edits.blank_with_first(start, end, ';');
        } else {
            self.edits.blank(start, end);
        }
    }

    /// Blank TypeScript modifiers among the words in `from..to` (before a member's key or a
    /// parameter's pattern). `semicolon`: the member starts with them, so the first one becomes
    /// `;` — without it, `x = 1` + newline + `private [k] = 2` would become `x = 1[k] = 2`.
    fn blank_modifiers(&mut self, from: u32, to: u32, semicolon: bool) {
        for (i, (s, e)) in scan::leading_words(self.src, from as usize, to as usize)
            .into_iter()
            .enumerate()
        {
            if self
                .src
                .get(s..e)
                .is_some_and(|w| TS_MODIFIERS.contains(&w))
            {
                let (s, e) = (offset(s), offset(e));
                if i == 0 && semicolon {
                    self.edits.blank_with_first(s, e, ';');
                } else {
                    self.edits.blank(s, e);
                }
            }
        }
    }

    fn blank_member_modifiers(
        &mut self,
        start: u32,
        decorators: &[Decorator<'a>],
        key: &PropertyKey<'a>,
    ) {
        let from = decorators.last().map_or(start, |d| d.span.end);
        self.blank_modifiers(from, key.span().start, decorators.is_empty());
    }

    /// Blank the `?` or `!` right after a member's key (`x?: T`, `m?()`, `x!: T`).
    fn blank_key_mark(&mut self, key: &PropertyKey<'a>, computed: bool, mark: char) {
        let len = self.src.len();
        let mut pos = key.span().end as usize;
        if computed {
            match scan::next_char_is(self.src, pos, len, ']') {
                Some(p) => pos = p + 1,
                None => return,
            }
        }
        if let Some(p) = scan::next_char_is(self.src, pos, len, mark) {
            self.edits.blank(offset(p), offset(p + 1));
        }
    }

    /// `constructor(private x: T)`: TypeScript assigns `this.x = x` at the start of the body,
    /// after `super(...)` in a derived class.
    fn parameter_properties(&mut self, ctor: &Function<'a>) {
        let Some(body) = &ctor.body else {
            return;
        };
        let assigns: Vec<String> = ctor
            .params
            .items
            .iter()
            .filter(|p| p.accessibility.is_some() || p.readonly || p.r#override)
            .filter_map(|p| p.pattern.get_binding_identifier())
            .map(|id| format!("this.{0} = {0};", id.name.as_str()))
            .collect();
        if assigns.is_empty() {
            return;
        }
        let assigns = assigns.join(" ");
        let super_call = body.statements.iter().find(|s| {
            matches!(s, Statement::ExpressionStatement(e)
                if matches!(&e.expression, Expression::CallExpression(c)
                    if matches!(c.callee, Expression::Super(_))))
        });
        match super_call {
            Some(stmt) => {
                let end = stmt.span().end;
                let sep = if end > 0 && self.byte_at(end - 1) == Some(b';') {
                    " "
                } else {
                    "; "
                };
                self.edits.insert(end, format!("{sep}{assigns}"));
            }
            None => self
                .edits
                .insert(body.span.start + 1, format!(" {assigns}")),
        }
    }

    /// `enum E { A, B = "b" }` → what tsc emits, member by member on the members' own lines:
    /// `var E; (function (E) { E[E["A"] = 0] = "A"; E["B"] = "b"; })(E || (E = {}));`
    fn emit_enum(&mut self, e: &TSEnumDeclaration<'a>) {
        let src = self.src;
        let name = e.id.name.as_str();
        let body = &e.body;
        self.edits.replace_keep_lines(
            src,
            e.span.start,
            body.span.start + 1,
            &format!("var {name}; (function ({name}) {{"),
        );
        let mut scope = Scope {
            enum_name: name,
            members: self.enums.remove(name).unwrap_or_default(),
        };
        let earlier: Vec<&'a str> = self
            .enum_idents
            .get(name)
            .map(|names| names.iter().copied().collect())
            .unwrap_or_default();
        let ident_members: HashSet<&'a str> = body
            .members
            .iter()
            .filter_map(|m| match &m.id {
                TSEnumMemberName::Identifier(id) => Some(id.name.as_str()),
                _ => None,
            })
            .chain(earlier)
            .collect();
        self.enum_idents.insert(name, ident_members.clone());
        // The previous member's key literal and, when constant, its numeric value.
        let mut prev: Option<(String, Option<f64>)> = None;
        for m in &body.members {
            let (key, key_lit) = match &m.id {
                TSEnumMemberName::Identifier(id) => {
                    (id.name.as_str().to_owned(), js_string(id.name.as_str()))
                }
                // The literal as written is already a valid JS string expression.
                TSEnumMemberName::String(s) | TSEnumMemberName::ComputedString(s) => (
                    s.value.as_str().to_owned(),
                    s.span.source_text(src).to_owned(),
                ),
                TSEnumMemberName::ComputedTemplateString(t) => (
                    t.single_quasi()
                        .map(|q| q.as_str().to_owned())
                        .unwrap_or_default(),
                    t.span.source_text(src).to_owned(),
                ),
            };
            let numeric = |v: &str| format!("{name}[{name}[{key_lit}] = {v}] = {key_lit};");
            let member = match &m.initializer {
                None => {
                    let (text, member) = match &prev {
                        None => (numeric("0"), Member::Const(Value::Num(0.0))),
                        Some((_, Some(n))) => (
                            numeric(&js_number(n + 1.0)),
                            Member::Const(Value::Num(n + 1.0)),
                        ),
                        Some((prev_lit, None)) => (
                            numeric(&format!("{name}[{prev_lit}] + 1")),
                            Member::Runtime { string: false },
                        ),
                    };
                    self.edits
                        .replace_keep_lines(src, m.span.start, m.span.end, &text);
                    member
                }
                Some(init) => match scope.eval(init) {
                    Some(value) => {
                        let text = match &value {
                            Value::Num(n) => numeric(&js_number(*n)),
                            Value::Str(s) => format!("{name}[{key_lit}] = {};", js_string(s)),
                        };
                        self.edits
                            .replace_keep_lines(src, m.span.start, m.span.end, &text);
                        Member::Const(value)
                    }
                    None => {
                        // Left in place (positions of runtime errors in it stay right), with
                        // references to members rewritten to `E.member`.
                        let string = scope.is_string(init);
                        let (pre, post) = if string {
                            (format!("{name}[{key_lit}] = "), ";".to_owned())
                        } else {
                            (
                                format!("{name}[{name}[{key_lit}] = "),
                                format!("] = {key_lit};"),
                            )
                        };
                        let init_span = init.span();
                        self.edits
                            .replace_keep_lines(src, m.span.start, init_span.start, &pre);
                        let outer = self.enum_refs.replace((name, ident_members.clone()));
                        self.visit_expression(init);
                        self.enum_refs = outer;
                        self.edits
                            .replace_keep_lines(src, init_span.end, m.span.end, &post);
                        Member::Runtime { string }
                    }
                },
            };
            let value = match &member {
                Member::Const(Value::Num(n)) => Some(*n),
                _ => None,
            };
            prev = Some((key_lit, value));
            scope.members.insert(key, member);
            if let Some(c) =
                scan::next_char_is(src, m.span.end as usize, body.span.end as usize, ',')
            {
                self.edits.blank(offset(c), offset(c + 1));
            }
        }
        self.enums.insert(name, scope.members);
        if body.span.end > 0 && self.byte_at(body.span.end - 1) == Some(b'}') {
            self.edits.replace_keep_lines(
                src,
                body.span.end - 1,
                e.span.end.max(body.span.end),
                &format!("}})({name} || ({name} = {{}}));"),
            );
        }
    }
}

impl<'a> Visit<'a> for Stripper<'a> {
    fn visit_hashbang(&mut self, it: &Hashbang<'a>) {
        self.blank(it.span);
    }

    fn visit_statements(&mut self, it: &ArenaVec<'a, Statement<'a>>) {
        let mut after_code = false;
        for stmt in it {
            if is_type_only(stmt) {
                self.blank_statement(stmt.span(), after_code);
                continue;
            }
            after_code |= !matches!(stmt, Statement::EmptyStatement(_));
            self.visit_statement(stmt);
        }
    }

    fn visit_statement(&mut self, it: &Statement<'a>) {
        if is_type_only(it) {
            // A single-statement position (`if (x) declare …`): keep a statement there.
            self.blank_statement(it.span(), true);
            return;
        }
        if matches!(
            it,
            Statement::ExpressionStatement(_)
                | Statement::ReturnStatement(_)
                | Statement::ThrowStatement(_)
                | Statement::VariableDeclaration(_)
                | Statement::ExportDefaultDeclaration(_)
        ) {
            self.note_open_end(it.span());
        }
        walk::walk_statement(self, it);
    }

    fn visit_ts_type_annotation(&mut self, it: &TSTypeAnnotation<'a>) {
        self.blank(it.span);
    }

    fn visit_ts_type_parameter_declaration(&mut self, it: &TSTypeParameterDeclaration<'a>) {
        self.blank(it.span);
    }

    fn visit_ts_type_parameter_instantiation(&mut self, it: &TSTypeParameterInstantiation<'a>) {
        self.blank(it.span);
    }

    /// `function f(this: T, a)`: the parameter and its comma.
    fn visit_ts_this_parameter(&mut self, it: &TSThisParameter<'a>) {
        let end = scan::next_char_is(self.src, it.span.end as usize, self.src.len(), ',')
            .and_then(|c| u32::try_from(c + 1).ok())
            .unwrap_or(it.span.end);
        self.edits.blank(it.span.start, end);
    }

    // Type-only declarations reached outside a statement list are blanked by `visit_statement`;
    // these keep the walk out of them.
    fn visit_ts_interface_declaration(&mut self, _it: &TSInterfaceDeclaration<'a>) {}
    fn visit_ts_type_alias_declaration(&mut self, _it: &TSTypeAliasDeclaration<'a>) {}
    fn visit_ts_external_module_declaration(&mut self, _it: &TSExternalModuleDeclaration<'a>) {}
    fn visit_ts_global_declaration(&mut self, _it: &TSGlobalDeclaration<'a>) {}
    fn visit_ts_import_equals_declaration(&mut self, _it: &TSImportEqualsDeclaration<'a>) {}
    /// Blanked with the whole `implements` clause by `visit_class`.
    fn visit_ts_class_implements(&mut self, _it: &TSClassImplements<'a>) {}

    fn visit_ts_namespace_declaration(&mut self, it: &TSNamespaceDeclaration<'a>) {
        if namespace_is_type_only(it) {
            self.blank(it.span);
        } else {
            self.fail(it.span.start, NAMESPACE_MESSAGE);
        }
    }

    fn visit_ts_enum_declaration(&mut self, it: &TSEnumDeclaration<'a>) {
        if it.declare {
            self.blank(it.span);
        } else {
            self.emit_enum(it);
        }
    }

    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        if let Some((enum_name, members)) = &self.enum_refs
            && members.contains(it.name.as_str())
        {
            let text = format!("{enum_name}.{}", it.name.as_str());
            self.edits
                .replace_keep_lines(self.src, it.span.start, it.span.end, &text);
        }
    }

    fn visit_ts_as_expression(&mut self, it: &TSAsExpression<'a>) {
        self.visit_expression(&it.expression);
        self.blank_type_suffix(it.expression.span().end, it.span.end);
    }

    fn visit_ts_satisfies_expression(&mut self, it: &TSSatisfiesExpression<'a>) {
        self.visit_expression(&it.expression);
        self.blank_type_suffix(it.expression.span().end, it.span.end);
    }

    fn visit_ts_non_null_expression(&mut self, it: &TSNonNullExpression<'a>) {
        self.visit_expression(&it.expression);
        if it.span.end > 0 && self.byte_at(it.span.end - 1) == Some(b'!') {
            self.edits.blank(it.span.end - 1, it.span.end);
        }
    }

    /// `<T>expr`
    fn visit_ts_type_assertion(&mut self, it: &TSTypeAssertion<'a>) {
        self.edits.blank(it.span.start, it.expression.span().start);
        self.visit_expression(&it.expression);
    }

    /// `f<T>` without a call.
    fn visit_ts_instantiation_expression(&mut self, it: &TSInstantiationExpression<'a>) {
        self.visit_expression(&it.expression);
        self.blank(it.type_arguments.span);
    }

    fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
        if let Some(tp) = &it.type_parameters {
            self.blank(tp.span);
        }
        self.visit_formal_parameters(&it.params);
        if let Some(ret) = &it.return_type {
            let close = it.params.span.end;
            let gap = self
                .src
                .get(close as usize..ret.span.end as usize)
                .unwrap_or("");
            if gap.contains('\n') && close > 0 && self.byte_at(close - 1) == Some(b')') {
                // `(a):\n  T => a`: blanked, `=>` would start a line after `)`, which JS
                // forbids. Move the `)` to the end of the blanked return type.
                self.edits.blank_with_last(close - 1, ret.span.end, ')');
            } else {
                self.blank(ret.span);
            }
        }
        self.visit_arrow_function_body(&it.body);
    }

    /// `let x!: T`
    fn visit_variable_declarator(&mut self, it: &VariableDeclarator<'a>) {
        if it.definite {
            let limit = it
                .type_annotation
                .as_ref()
                .map_or(it.span.end, |t| t.span.start);
            if let Some(p) =
                scan::next_char_is(self.src, it.id.span().end as usize, limit as usize, '!')
            {
                self.edits.blank(offset(p), offset(p + 1));
            }
        }
        walk::walk_variable_declarator(self, it);
    }

    fn visit_formal_parameter(&mut self, it: &FormalParameter<'a>) {
        let pattern = it.pattern.span();
        if it.accessibility.is_some() || it.readonly || it.r#override {
            let from = it.decorators.last().map_or(it.span.start, |d| d.span.end);
            self.blank_modifiers(from, pattern.start, false);
        }
        if it.optional {
            let limit = it
                .type_annotation
                .as_ref()
                .map_or(it.span.end, |t| t.span.start);
            if let Some(q) = scan::next_char_is(self.src, pattern.end as usize, limit as usize, '?')
            {
                self.edits.blank(offset(q), offset(q + 1));
            }
        }
        walk::walk_formal_parameter(self, it);
    }

    fn visit_class(&mut self, it: &Class<'a>) {
        let src = self.src;
        let head_start = it.decorators.last().map_or(it.span.start, |d| d.span.end);
        if it.r#abstract {
            let head_end = it
                .id
                .as_ref()
                .map_or(it.body.span.start, |id| id.span.start);
            for (s, e) in scan::leading_words(src, head_start as usize, head_end as usize) {
                if src.get(s..e) == Some("abstract") {
                    self.edits.blank(offset(s), offset(e));
                }
            }
        }
        if let Some(first) = it.implements.first() {
            // The clause starts after everything else in the class head.
            let mut from = head_start;
            if let Some(id) = &it.id {
                from = from.max(id.span.end);
            }
            if let Some(tp) = &it.type_parameters {
                from = from.max(tp.span.end);
            }
            if let Some(h) = &it.heritage {
                from = from.max(h.expression.span().end);
                if let Some(ta) = &h.type_arguments {
                    from = from.max(ta.span.end);
                }
            }
            let mut pos = from as usize;
            while let Some((s, e)) = scan::next_token(src, pos, first.span.start as usize) {
                if src.get(s..e) == Some("implements") {
                    self.edits.blank(offset(s), it.body.span.start);
                    break;
                }
                pos = e;
            }
        }
        walk::walk_class(self, it);
    }

    fn visit_class_body(&mut self, it: &ClassBody<'a>) {
        for el in &it.body {
            if class_element_is_type_only(el) {
                // `;` is a valid class element and ends an unterminated field before it.
                let span = el.span();
                self.edits.blank_with_first(span.start, span.end, ';');
            } else {
                self.visit_class_element(el);
            }
        }
    }

    fn visit_property_definition(&mut self, it: &PropertyDefinition<'a>) {
        self.blank_member_modifiers(it.span.start, &it.decorators, &it.key);
        if it.optional {
            self.blank_key_mark(&it.key, it.computed, '?');
        }
        if it.definite {
            self.blank_key_mark(&it.key, it.computed, '!');
        }
        if it.value.is_some() {
            self.note_open_end(it.span);
        }
        walk::walk_property_definition(self, it);
    }

    fn visit_accessor_property(&mut self, it: &AccessorProperty<'a>) {
        self.blank_member_modifiers(it.span.start, &it.decorators, &it.key);
        if it.definite {
            self.blank_key_mark(&it.key, it.computed, '!');
        }
        if it.value.is_some() {
            self.note_open_end(it.span);
        }
        walk::walk_accessor_property(self, it);
    }

    fn visit_method_definition(&mut self, it: &MethodDefinition<'a>) {
        self.blank_member_modifiers(it.span.start, &it.decorators, &it.key);
        if it.optional {
            self.blank_key_mark(&it.key, it.computed, '?');
        }
        if it.kind == MethodDefinitionKind::Constructor {
            self.parameter_properties(&it.value);
        }
        walk::walk_method_definition(self, it);
    }
}
