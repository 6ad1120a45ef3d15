//! JSON Schema → TypeScript: golden files, checked by the real `tsc`.
//!
//! `tests/golden/typescript/<case>.schema.json` renders to `<case>.ts` (full, compact and,
//! with a `<case>.options.json`, custom options); `<case>.catalog.json` renders
//! `declarations()` of a fixture catalog to `<case>.ts`. `BLESS=1` rewrites the goldens.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use codemode::catalog::typescript::{TsOptions, declarations, schema_to_ts, signature};
use codemode::catalog::{Catalog, HttpOperation, Target, Tool};
use serde_json::{Value, json};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/typescript")
}

fn given_cases(suffix: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut cases = Vec::new();
    for entry in std::fs::read_dir(golden_dir())? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if let Some(case) = name.strip_suffix(suffix) {
            cases.push((case.to_owned(), path));
        }
    }
    cases.sort();
    Ok(cases)
}

fn given_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| path.display().to_string())
}

/// Options from a sidecar `{ "max_depth": 1, … }`; unknown keys are an error.
fn given_options(value: &Value) -> Result<TsOptions> {
    let mut opts = TsOptions::default();
    let Some(map) = value.as_object() else {
        bail!("options must be an object");
    };
    let size = |v: &Value| v.as_u64().map(|n| n as usize);
    for (key, value) in map {
        match key.as_str() {
            "multiline" => opts.multiline = value.as_bool().unwrap_or(true),
            "docs" => opts.docs = value.as_bool().unwrap_or(true),
            "max_doc_chars" => opts.max_doc_chars = size(value),
            "max_depth" => opts.max_depth = size(value),
            "max_properties" => opts.max_properties = size(value),
            "max_enum" => opts.max_enum = size(value),
            "budget" => opts.budget = size(value),
            "output_budget" => opts.output_budget = size(value),
            "request_helper" => opts.request_helper = value.as_bool().unwrap_or(false),
            other => bail!("unknown option {other}"),
        }
    }
    Ok(opts)
}

/// A catalog fixture: `{title, options?, usage?, tools: [{namespace, name, description?,
/// input_schema?, output_schema?, http?: [method, path], mcp?: [server, tool]}]}`.
fn given_catalog(value: &Value) -> Result<Catalog> {
    let mut tools = Vec::new();
    for tool in value["tools"].as_array().context("tools")? {
        let text = |key: &str| tool[key].as_str().unwrap_or_default().to_owned();
        let target = match (&tool["http"], &tool["mcp"]) {
            (Value::Array(http), _) => Target::Http(HttpOperation {
                method: http[0].as_str().unwrap_or("GET").to_owned(),
                path: http[1].as_str().unwrap_or("/").to_owned(),
                parameters: Vec::new(),
                body: None,
            }),
            (_, Value::Array(mcp)) => Target::Mcp {
                server: mcp[0].as_str().unwrap_or_default().to_owned(),
                tool: mcp[1].as_str().unwrap_or_default().to_owned(),
            },
            _ => bail!("tool needs http or mcp"),
        };
        tools.push(Tool {
            namespace: text("namespace"),
            name: text("name"),
            original_name: text("name"),
            description: text("description"),
            input_schema: tool
                .get("input_schema")
                .cloned()
                .unwrap_or(json!({"type": "object"})),
            output_schema: tool.get("output_schema").cloned(),
            keywords: Vec::new(),
            target,
        });
    }
    Ok(Catalog {
        title: value["title"].as_str().unwrap_or_default().to_owned(),
        tools,
    })
}

fn render_schema_case(case: &str, schema: &Value) -> Result<String> {
    let mut out = format!(
        "// Generated from {case}.schema.json by tests/it/typescript.rs (BLESS=1 rewrites).\n"
    );
    out.push_str(&format!(
        "export type Full = {};\n\n",
        schema_to_ts(schema, &TsOptions::default())
    ));
    out.push_str(&format!(
        "export type Compact = {};\n",
        schema_to_ts(schema, &TsOptions::compact())
    ));
    let options = golden_dir().join(format!("{case}.options.json"));
    if options.exists() {
        let opts = given_options(&given_json(&options)?)?;
        out.push_str(&format!(
            "\nexport type Custom = {};\n",
            schema_to_ts(schema, &opts)
        ));
    }
    Ok(out)
}

fn render_catalog_case(case: &str, fixture: &Value) -> Result<String> {
    let catalog = given_catalog(fixture)?;
    let opts = match fixture.get("options") {
        Some(options) => given_options(options)?,
        None => TsOptions::default(),
    };
    let mut out = format!(
        "// Generated from {case}.catalog.json by tests/it/typescript.rs (BLESS=1 rewrites).\n"
    );
    out.push_str(&declarations(&catalog, &opts));
    out.push_str("\n// Signatures (search results):\n");
    for tool in &catalog.tools {
        for line in signature(tool, &TsOptions::compact()).lines() {
            out.push_str(&format!("// {line}\n"));
        }
    }
    match fixture.get("usage").and_then(Value::as_array) {
        Some(usage) => {
            out.push_str("\n// Usage (type-checked, never run):\nasync function usage() {\n");
            for line in usage.iter().filter_map(Value::as_str) {
                out.push_str(&format!("  {line}\n"));
            }
            // A module, so fixtures do not share global declarations.
            out.push_str("}\nexport { usage };\n");
        }
        None => out.push_str("export {};\n"),
    }
    Ok(out)
}

/// Compares with the golden file, or rewrites it under `BLESS=1`.
fn assert_golden(path: &Path, actual: &str) -> Result<()> {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(path, actual)?;
        return Ok(());
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        bail!(
            "{} differs (BLESS=1 rewrites it):\n{}",
            path.display(),
            line_diff(&expected, actual)
        );
    }
    Ok(())
}

/// A small LCS line diff: `-` expected, `+` actual, two lines of context.
fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let near_change = |k: usize| {
        let lo = k.saturating_sub(2);
        let hi = (k + 3).min(ops.len());
        ops[lo..hi].iter().any(|(op, _)| *op != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            out.push_str(&format!("{op} {line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  …\n");
            skipped = true;
        }
    }
    out
}

#[test]
fn schema_goldens_match() -> Result<()> {
    let cases = given_cases(".schema.json")?;
    assert!(cases.len() >= 10, "golden cases missing");
    let mut failures = Vec::new();
    for (case, path) in cases {
        let actual = render_schema_case(&case, &given_json(&path)?)?;
        if let Err(e) = assert_golden(&golden_dir().join(format!("{case}.ts")), &actual) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn catalog_goldens_match() -> Result<()> {
    let cases = given_cases(".catalog.json")?;
    assert!(!cases.is_empty(), "catalog golden cases missing");
    let mut failures = Vec::new();
    for (case, path) in cases {
        let actual = render_catalog_case(&case, &given_json(&path)?)?;
        if let Err(e) = assert_golden(&golden_dir().join(format!("{case}.ts")), &actual) {
            failures.push(e.to_string());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

/// The workspace's `node_modules/.bin/tsc` (`npm ci` at the workspace root installs it).
fn given_tsc() -> Option<PathBuf> {
    let tsc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/.bin/tsc");
    tsc.exists().then_some(tsc)
}

/// Runs `tsc --noEmit --strict` over `files`; `Ok(false)` when tsc is not installed
/// outside CI (skipped, said on stderr), an error inside CI.
#[allow(clippy::print_stderr)] // the skip must be visible in the test output
fn tsc_check(files: &[PathBuf]) -> Result<bool> {
    let Some(tsc) = given_tsc() else {
        if std::env::var_os("CI").is_some() {
            bail!("node_modules/.bin/tsc is missing: run `npm ci` at the workspace root");
        }
        eprintln!("skipped: tsc not found (run `npm ci` at the workspace root to type-check)");
        return Ok(false);
    };
    let output = Command::new(tsc)
        .args([
            "--noEmit", "--strict", "--target", "es2022", "--lib", "es2022",
        ])
        .args(files)
        .output()
        .context("running tsc")?;
    if !output.status.success() {
        bail!(
            "tsc rejected the generated TypeScript:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(true)
}

#[test]
fn goldens_type_check() -> Result<()> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(golden_dir())? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "ts") {
            files.push(path);
        }
    }
    files.sort();
    assert!(!files.is_empty());
    tsc_check(&files)?;
    Ok(())
}

/// A catalog whose names need every escape: reserved words, quoting, a namespace that is
/// also a tool, recursive `$defs` shared and colliding across tools.
fn given_awkward_catalog() -> Result<Catalog> {
    given_catalog(&given_json(&golden_dir().join("identifiers.catalog.json"))?)
}

/// Writes each catalog's `declarations()` to a `.ts` file and runs `tsc` over them all.
fn given_declarations_type_check(
    label: &str,
    cases: &[(&str, &Catalog, &TsOptions)],
) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("islet-tsgen-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();
    for (name, catalog, opts) in cases {
        let path = dir.join(format!("{name}.ts"));
        std::fs::write(
            &path,
            format!("{}export {{}};\n", declarations(catalog, opts)),
        )?;
        files.push(path);
    }
    let result = tsc_check(&files);
    let _ = std::fs::remove_dir_all(&dir);
    result.map(|_| ())
}

#[test]
fn declarations_of_synthetic_catalogs_type_check() -> Result<()> {
    let catalog = given_awkward_catalog()?;
    let compact = TsOptions {
        request_helper: true,
        ..TsOptions::compact()
    };
    let shallow = TsOptions {
        max_depth: Some(1),
        max_properties: Some(1),
        max_enum: Some(1),
        ..TsOptions::default()
    };
    given_declarations_type_check(
        "synthetic",
        &[
            ("full", &catalog, &TsOptions::default()),
            ("compact", &catalog, &compact),
            ("shallow", &catalog, &shallow),
        ],
    )
}

/// Every spec in `specs/` generates TypeScript that `tsc --strict` accepts.
#[test]
fn declarations_of_real_specs_type_check() -> Result<()> {
    let full = TsOptions {
        request_helper: true,
        ..TsOptions::default()
    };
    let compact = TsOptions {
        request_helper: true,
        ..TsOptions::compact()
    };
    given_declarations_type_check(
        "real",
        &[
            ("slack", crate::search::given_real_catalog("slack"), &full),
            (
                "github",
                crate::search::given_real_catalog("github"),
                &compact,
            ),
            (
                "stripe",
                crate::search::given_real_catalog("stripe"),
                &compact,
            ),
            (
                "msgraph",
                crate::search::given_real_catalog("msgraph-v1"),
                &compact,
            ),
        ],
    )
}

#[test]
fn output_is_deterministic() -> Result<()> {
    let catalog = given_awkward_catalog()?;
    let first = declarations(&catalog, &TsOptions::default());
    for _ in 0..3 {
        assert_eq!(declarations(&catalog, &TsOptions::default()), first);
    }
    Ok(())
}

#[test]
fn budget_bounds_type_size() {
    let props: serde_json::Map<String, Value> = (0..200)
        .map(|i| {
            (
                format!("field{i}"),
                json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}),
            )
        })
        .collect();
    let schema = json!({"type": "object", "properties": props});
    let full = schema_to_ts(&schema, &TsOptions::default());
    let opts = TsOptions {
        budget: Some(600),
        ..TsOptions::compact()
    };
    let small = schema_to_ts(&schema, &opts);
    assert!(full.len() > 5_000);
    assert!(small.len() <= 600, "{} bytes: {small}", small.len());
    assert!(small.contains("more properties"), "{small}");
}

#[test]
fn hostile_schemas_do_not_panic() {
    let mut deep = json!({"type": "string"});
    for _ in 0..500 {
        deep = json!({"type": "array", "items": deep});
    }
    // A DAG of refs that would expand to 2^40 nodes if followed naively.
    let mut defs = serde_json::Map::new();
    defs.insert("d0".into(), json!({"type": "string"}));
    for i in 1..40 {
        let prev = format!("#/$defs/d{}", i - 1);
        defs.insert(
            format!("d{i}"),
            json!({"type": "object", "properties": {"a": {"$ref": prev}, "b": {"$ref": prev}}}),
        );
    }
    let dag = json!({"$defs": defs, "$ref": "#/$defs/d39"});
    let weird = [
        json!(null),
        json!(42),
        json!("string"),
        json!([1, 2]),
        json!({"type": 7, "properties": [], "required": "x", "items": 3, "enum": {}}),
        json!({"$ref": 5, "allOf": "x", "oneOf": [null, 1], "anyOf": {}}),
        json!({"$ref": "#/nope/%zz/~2"}),
        json!({"$ref": "https://example.com/schema.json"}),
        json!({"prefixItems": [true], "minItems": -1, "maxItems": "x"}),
        json!({"$circular": 3}),
        json!({"description": "ends */ comments", "properties": {"a*/b": {"description": "*/"}}}),
        deep,
        dag,
    ];
    for schema in &weird {
        for opts in [TsOptions::default(), TsOptions::compact()] {
            let _ = schema_to_ts(schema, &opts);
        }
    }
    // The same schemas as tool inputs and outputs, under awkward names.
    let tools = weird
        .iter()
        .enumerate()
        .map(|(i, schema)| Tool {
            namespace: ["", "api", "api..x", "a.b.c", "new"][i % 5].to_owned(),
            name: ["", "new", "x y", "ok", "constructor"][i % 5].to_owned(),
            original_name: String::new(),
            description: "*/ \u{2028} /*".to_owned(),
            input_schema: schema.clone(),
            output_schema: Some(schema.clone()),
            keywords: Vec::new(),
            target: Target::Mcp {
                server: String::new(),
                tool: String::new(),
            },
        })
        .collect();
    let catalog = Catalog {
        title: "t\u{2028}*/".to_owned(),
        tools,
    };
    for opts in [TsOptions::default(), TsOptions::compact()] {
        let _ = declarations(&catalog, &opts);
        for tool in &catalog.tools {
            let _ = signature(tool, &opts);
        }
    }
}
