//! The program's own imports: found with oxc, and rewritten to reads from the bundle
//! (`__islet_npm.import("zod")`), keeping every line where it was so that error
//! positions still point into the code as written.

use oxc_allocator::Allocator;
use oxc_ast::ast::{
    CallExpression, Expression, ImportDeclarationSpecifier, ImportExpression, ModuleExportName,
    Statement,
};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::{ParseOptions, Parser};
use oxc_span::{GetSpan as _, SourceType};

use crate::transform::js_string;

/// The program with its imports rewritten, and the specifiers it imports (in order,
/// without repeats).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Rewritten {
    pub code: String,
    pub specs: Vec<String>,
    /// The first this many of `specs` are the program's `import` declarations, which run
    /// before its other code does (as in an ES module); the rest are `import()` and
    /// `require` calls, which may never run.
    pub declared: usize,
}

/// `None` when the program imports nothing (or does not parse: the sandbox then reports
/// the syntax error in its own terms).
pub(crate) fn rewrite(code: &str) -> Option<Rewritten> {
    rewrite_except(code, &[])
}

/// [`rewrite`], leaving imports of the modules in `keep` as they are: an agent class's
/// `import { Agent } from "agents"` is the agent runtime's to serve, not npm's.
pub(crate) fn rewrite_except(code: &str, keep: &[&str]) -> Option<Rewritten> {
    if !code.contains("import") && !code.contains("require") {
        return None;
    }
    let allocator = Allocator::default();
    let options = ParseOptions {
        allow_return_outside_function: true,
        ..ParseOptions::default()
    };
    let ret = Parser::new(&allocator, code, SourceType::ts().with_module(true))
        .with_options(options)
        .parse();
    let program = if ret.panicked || ret.diagnostics.has_errors() {
        let ret = Parser::new(&allocator, code, SourceType::mjs())
            .with_options(options)
            .parse();
        if ret.panicked || ret.diagnostics.has_errors() {
            return None;
        }
        ret.program
    } else {
        ret.program
    };
    let mut specs: Vec<String> = Vec::new();
    let add = |specs: &mut Vec<String>, spec: &str| {
        if !specs.iter().any(|s| s == spec) {
            specs.push(spec.to_owned());
        }
    };
    let mut edits: Vec<(u32, u32, String)> = Vec::new();
    for stmt in &program.body {
        let Statement::ImportDeclaration(decl) = stmt else {
            continue;
        };
        let source = decl.source.value.as_str();
        if decl.import_kind.is_type() || keep.contains(&source) {
            continue;
        }
        add(&mut specs, source);
        let module = format!("__islet_npm.import({})", js_string(source));
        let mut named = Vec::new();
        let mut declarators = Vec::new();
        for specifier in decl.specifiers.iter().flatten() {
            match specifier {
                ImportDeclarationSpecifier::ImportSpecifier(s) => {
                    if s.import_kind.is_type() {
                        continue;
                    }
                    let imported = match &s.imported {
                        ModuleExportName::IdentifierName(n) => n.name.to_string(),
                        ModuleExportName::IdentifierReference(r) => r.name.to_string(),
                        ModuleExportName::StringLiteral(l) => js_string(l.value.as_str()),
                    };
                    let local = s.local.name.as_str();
                    named.push(if imported == local {
                        local.to_owned()
                    } else {
                        format!("{imported}: {local}")
                    });
                }
                ImportDeclarationSpecifier::ImportDefaultSpecifier(s) => {
                    declarators.push(format!("{} = {module}.default", s.local.name.as_str()));
                }
                ImportDeclarationSpecifier::ImportNamespaceSpecifier(s) => {
                    declarators.push(format!("{} = {module}", s.local.name.as_str()));
                }
            }
        }
        if !named.is_empty() {
            declarators.push(format!("{{ {} }} = {module}", named.join(", ")));
        }
        let mut text = if declarators.is_empty() {
            format!("{module};")
        } else {
            format!("const {};", declarators.join(", "))
        };
        // The statement's line breaks stay, so the lines after it keep their numbers.
        let original = &code[decl.span.start as usize..decl.span.end as usize];
        text.push_str(&"\n".repeat(original.matches('\n').count()));
        edits.push((decl.span.start, decl.span.end, text));
    }
    let declared = specs.len();
    let mut finder = Calls {
        edits: &mut edits,
        specs: Vec::new(),
        keep,
    };
    finder.visit_program(&program);
    for spec in std::mem::take(&mut finder.specs) {
        add(&mut specs, &spec);
    }
    if specs.is_empty() {
        return None;
    }
    edits.sort_by_key(|(start, _, _)| *start);
    let mut out = String::with_capacity(code.len() + 128);
    let mut at = 0usize;
    for (start, end, text) in edits {
        let (start, end) = (start as usize, end as usize);
        if start < at {
            continue;
        }
        out.push_str(&code[at..start]);
        out.push_str(&text);
        at = end;
    }
    out.push_str(&code[at..]);
    Some(Rewritten {
        code: out,
        specs,
        declared,
    })
}

/// The program's `import` declarations as a script of their own (`__islet_npm.import("zod");`
/// each), for an executor to run ahead of time (`sandbox::Execution::warm_up`): the program
/// runs them first anyway. `None` when it declares none.
pub(crate) fn declared_imports(rewritten: &Rewritten) -> Option<String> {
    let declared = rewritten.specs.get(..rewritten.declared)?;
    if declared.is_empty() {
        return None;
    }
    Some(
        declared
            .iter()
            .map(|spec| format!("__islet_npm.import({});", js_string(spec)))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// `import("x")` → `__islet_npm.dynamic("x")`; `require("x")` is left as it is (the
/// bundle defines `require`) but its specifier is bundled.
struct Calls<'e> {
    edits: &'e mut Vec<(u32, u32, String)>,
    specs: Vec<String>,
    /// Specifiers left alone (see [`rewrite_except`]).
    keep: &'e [&'e str],
}

impl<'a> Visit<'a> for Calls<'_> {
    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        if let Expression::StringLiteral(spec) = &it.source
            && !self.keep.contains(&spec.value.as_str())
        {
            self.specs.push(spec.value.to_string());
            let source = it.source.span();
            self.edits.push((
                it.span.start,
                source.start,
                "__islet_npm.dynamic(".to_owned(),
            ));
            self.edits.push((source.end, it.span.end, ")".to_owned()));
        }
        walk::walk_import_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(callee) = &it.callee
            && callee.name == "require"
            && it.arguments.len() == 1
            && let Some(Expression::StringLiteral(spec)) = it.arguments[0].as_expression()
            && !self.keep.contains(&spec.value.as_str())
        {
            self.specs.push(spec.value.to_string());
        }
        walk::walk_call_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_become_reads_from_the_bundle() {
        let r = rewrite(
            "import { z, type ZodType } from \"zod\";\nimport _, { chunk as c } from 'npm:lodash@4';\nimport type { X } from 'y';\nimport * as ns from 'node:path';\nconst m = await import('ms');\nconst d = require('date-fns');\nexport default z.string().parse('a');",
        )
        .unwrap();
        assert_eq!(
            r.specs,
            ["zod", "npm:lodash@4", "node:path", "ms", "date-fns"]
        );
        assert_eq!(r.declared, 3, "the `import` declarations, not the calls");
        assert_eq!(
            declared_imports(&r).as_deref(),
            Some(
                "__islet_npm.import(\"zod\");\n__islet_npm.import(\"npm:lodash@4\");\n__islet_npm.import(\"node:path\");"
            )
        );
        assert_eq!(
            declared_imports(&rewrite("const m = await import('ms'); m").unwrap()),
            None
        );
        let lines: Vec<&str> = r.code.lines().collect();
        assert_eq!(lines[0], "const { z } = __islet_npm.import(\"zod\");");
        assert_eq!(
            lines[1],
            "const _ = __islet_npm.import(\"npm:lodash@4\").default, { chunk: c } = __islet_npm.import(\"npm:lodash@4\");"
        );
        assert_eq!(lines[2], "import type { X } from 'y';");
        assert_eq!(lines[4], "const m = await __islet_npm.dynamic('ms');");
        assert_eq!(lines.len(), 7);
        assert_eq!(rewrite("async () => 1 + 1"), None);
    }

    #[test]
    fn issue17_an_agent_modules_runtime_imports_stay() {
        let r = rewrite_except(
            "import { Agent } from \"agents\";\nimport { z } from \"zod\";\nexport default class A extends Agent {}",
            &["agents"],
        )
        .unwrap();
        assert_eq!(r.specs, ["zod"]);
        let lines: Vec<&str> = r.code.lines().collect();
        assert_eq!(lines[0], "import { Agent } from \"agents\";");
        assert_eq!(lines[1], "const { z } = __islet_npm.import(\"zod\");");
        assert_eq!(
            rewrite_except(
                "import { Agent } from \"agents\";\nexport default class A extends Agent {}",
                &["agents"]
            ),
            None
        );
    }
}
