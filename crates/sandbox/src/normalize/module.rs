//! A module a *user* wrote (an agent class, say) as a plain script whose exports are
//! ordinary bindings, so a host can append code that uses them.
//!
//! Same position rules as the rest of `normalize`: TypeScript is blanked, `export` keywords
//! are blanked (`export default <expr>` becomes `var $default = <expr>`, the same width), and
//! imports from the host runtime are blanked; every remaining token keeps its line and column.

use oxc_allocator::Allocator;
use oxc_ast::ast::{Declaration, ExportDefaultDeclarationKind, ModuleExportName, Statement};
use oxc_ast_visit::Visit;
use oxc_span::GetSpan;

mod classes;

pub use classes::{ClassShape, MethodShape, ParamShape, Visibility};

use super::strip::{Stripper, is_type_only};
use super::{DEFAULT_BINDING, SyntaxError, line_col, parse, rewrite, unify_newlines};

/// A module turned into a script (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Statements only: no wrapper, nothing appended. Line N is line N of the source.
    pub script: String,
    /// `(exported name, local binding)` in source order; the default export is named
    /// `default`.
    pub exports: Vec<(String, String)>,
    /// The top-level classes, as the source declares them (see [`ClassShape`]).
    pub classes: Vec<ClassShape>,
}

impl Module {
    /// The local binding of the default export, if there is one.
    pub fn default_export(&self) -> Option<&str> {
        self.local("default")
    }

    /// The local binding exported as `name`.
    pub fn local(&self, name: &str) -> Option<&str> {
        self.exports
            .iter()
            .find(|(exported, _)| exported == name)
            .map(|(_, local)| local.as_str())
    }
}

/// Turns `source` (JavaScript or TypeScript module syntax) into a [`Module`]. Imports are
/// allowed only from `runtime_modules` (the host provides those names as globals); anything
/// else is a [`SyntaxError`] naming what is available.
pub fn module(source: &str, runtime_modules: &[&str]) -> Result<Module, SyntaxError> {
    super::on_parser_thread(source, "module", || module_here(source, runtime_modules))
}

fn module_here(source: &str, runtime_modules: &[&str]) -> Result<Module, SyntaxError> {
    let code = unify_newlines(source);
    let code = code.as_ref();
    let error_at = |message: String, offset: u32| {
        let (line, column) = line_col(code, offset);
        SyntaxError {
            message,
            line,
            column,
        }
    };
    let allocator = Allocator::default();
    let program = parse(&allocator, code).map_err(|(message, at)| error_at(message, at))?;
    let program = allocator.alloc(program);
    let mut stripper = Stripper::new(code, None);
    stripper.visit_program(program);
    if let Some((message, at)) = stripper.error.take() {
        return Err(error_at(message.to_owned(), at));
    }
    let mut edits: rewrite::Edits = stripper.edits;
    let classes = classes::record(code, &program.body, &program.comments, &mut edits)
        .map_err(|(message, at)| error_at(message, at))?;
    let mut exports = Vec::new();
    for stmt in &program.body {
        if is_type_only(stmt) {
            continue;
        }
        let span = stmt.span();
        match stmt {
            Statement::ImportDeclaration(import) => {
                let from = import.source.value.as_str();
                if !runtime_modules.contains(&from) {
                    let available = runtime_modules
                        .iter()
                        .map(|m| format!("\"{m}\""))
                        .collect::<Vec<_>>()
                        .join(", ");
                    return Err(error_at(
                        format!(
                            "cannot import from \"{from}\": there are no packages here; \
                             the runtime provides only {available} (e.g. `import {{ Agent }} from \"{}\"`)",
                            runtime_modules.first().copied().unwrap_or("agents")
                        ),
                        span.start,
                    ));
                }
                edits.blank(span.start, span.end);
            }
            Statement::ExportDeclaration(export) => {
                edits.blank(span.start, export.declaration.span().start);
                for name in declared_names(&export.declaration) {
                    exports.push((name.clone(), name));
                }
            }
            Statement::ExportNamedDeclaration(export) => {
                for specifier in &export.specifiers {
                    if specifier.export_kind.is_type() {
                        continue;
                    }
                    exports.push((
                        export_name(&specifier.exported),
                        export_name(&specifier.local),
                    ));
                }
                edits.blank(span.start, span.end);
            }
            Statement::ExportDefaultDeclaration(export) => {
                let declaration = export.declaration.span();
                let named = match &export.declaration {
                    ExportDefaultDeclarationKind::ClassDeclaration(c) => c.id.as_ref(),
                    ExportDefaultDeclarationKind::FunctionDeclaration(f) => f.id.as_ref(),
                    _ => None,
                };
                match named {
                    Some(id) => {
                        edits.blank(span.start, declaration.start);
                        exports.push(("default".to_owned(), id.name.to_string()));
                    }
                    None => {
                        edits.overwrite(
                            code,
                            span.start,
                            declaration.start,
                            &format!("var {DEFAULT_BINDING} ="),
                        );
                        exports.push(("default".to_owned(), DEFAULT_BINDING.to_owned()));
                    }
                }
            }
            Statement::ExportFromDeclaration(_)
            | Statement::ExportAllDeclaration(_)
            | Statement::TSExportAssignment(_)
            | Statement::TSImportEqualsDeclaration(_) => {
                return Err(error_at(
                    "re-exports and `export =` are not supported: declare what the module \
                     exports in the module itself"
                        .to_owned(),
                    span.start,
                ));
            }
            _ => {}
        }
    }
    let (script, _) = edits.apply(code, "");
    Ok(Module {
        script,
        exports,
        classes,
    })
}

fn export_name(name: &ModuleExportName<'_>) -> String {
    match name {
        ModuleExportName::IdentifierName(n) => n.name.to_string(),
        ModuleExportName::IdentifierReference(n) => n.name.to_string(),
        ModuleExportName::StringLiteral(s) => s.value.to_string(),
    }
}

fn declared_names(declaration: &Declaration<'_>) -> Vec<String> {
    match declaration {
        Declaration::ClassDeclaration(c) => c.id.iter().map(|id| id.name.to_string()).collect(),
        Declaration::FunctionDeclaration(f) => f.id.iter().map(|id| id.name.to_string()).collect(),
        Declaration::VariableDeclaration(v) => v
            .declarations
            .iter()
            .filter_map(|d| d.id.get_identifier_name().map(|n| n.to_string()))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNTIME: &[&str] = &["agents"];

    #[test]
    fn exports_become_bindings_in_place() {
        let m = module(
            "import { Agent } from \"agents\";\nexport default class Counter extends Agent {\n  n: number = 0;\n}\nexport const x = 1, y = 2;\nexport { x as z };\n",
            RUNTIME,
        )
        .unwrap();
        assert_eq!(
            m.exports,
            [
                ("default".into(), "Counter".into()),
                ("x".into(), "x".into()),
                ("y".into(), "y".into()),
                ("z".into(), "x".into())
            ]
        );
        let lines: Vec<&str> = m.script.lines().collect();
        assert_eq!(lines[0].trim(), "");
        assert_eq!(lines[1], "               class Counter extends Agent {");
        assert_eq!(lines[2].trim_end(), "  n         = 0;");
        assert_eq!(lines[4], "       const x = 1, y = 2;");
    }

    #[test]
    fn anonymous_default_keeps_columns() {
        let m = module("export default class { hi() { return 1 } }", RUNTIME).unwrap();
        assert_eq!(m.script, "var $default = class { hi() { return 1 } }");
        assert_eq!(m.default_export(), Some("$default"));
    }

    #[test]
    fn foreign_imports_are_refused_with_the_alternative() {
        let e = module("\n  import x from \"lodash\";", RUNTIME).unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("\"lodash\""), "{}", e.message);
        assert!(e.message.contains("\"agents\""), "{}", e.message);
    }

    #[test]
    fn class_shapes_record_what_only_the_source_says() {
        let m = module(
            "export default class A extends Base {\n  /** Puts.\n   * Twice. */\n  @callable() async put(k: string, n = 1, { x }: P, ...r: number[]): Promise<void> {}\n  private p() {}\n  static s() {}\n  #h() {}\n  get g() { return 1 }\n}",
            RUNTIME,
        )
        .unwrap();
        let [a] = m.classes.as_slice() else {
            panic!("{:?}", m.classes)
        };
        assert_eq!(
            (a.binding.as_str(), a.extends.as_deref()),
            ("A", Some("Base"))
        );
        let names: Vec<&str> = a.methods.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["put", "p", "s"]);
        let put = &a.methods[0];
        assert!(put.callable && put.visibility == Visibility::Public && !put.is_static);
        assert_eq!(put.doc.as_deref(), Some("Puts.\nTwice."));
        assert_eq!(put.returns.as_deref(), Some("Promise<void>"));
        assert_eq!(put.line, 4);
        let params: Vec<(&str, Option<&str>, bool, bool)> = put
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.ty.as_deref(), p.optional, p.rest))
            .collect();
        assert_eq!(
            params,
            [
                ("k", Some("string"), false, false),
                ("n", Some("number"), true, false),
                ("arg3", Some("P"), false, false),
                ("r", Some("number[]"), false, true)
            ]
        );
        assert_eq!(a.methods[1].visibility, Visibility::Private);
        assert!(a.methods[2].is_static);
        // The marker is blanked; every other token keeps its column.
        let line = m.script.lines().nth(3).unwrap();
        assert!(line.starts_with("              async put(k"), "{line:?}");
    }

    #[test]
    fn decorators_other_than_callable_are_refused_where_they_stand() {
        let e = module("class A {\n  @log m() {}\n}", RUNTIME).unwrap_err();
        assert_eq!((e.line, e.column), (2, 3));
        assert!(e.message.contains("@callable()"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = module("class A {\n  m() { return ) }\n}", RUNTIME).unwrap_err();
        assert_eq!(e.line, 2);
    }
}
