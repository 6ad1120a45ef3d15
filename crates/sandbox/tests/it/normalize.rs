//! Golden tests for `sandbox::normalize`.
//!
//! Each `tests/golden/normalize/<name>.in` is raw model text. On success the expected script is
//! in `<name>.out.js`, followed by a `// shape: …` line; on failure the expected
//! `line:column: message` is in `<name>.err.txt`. `BLESS=1 cargo test -p islet-sandbox --test it
//! normalize` rewrites them. Every script must also parse as a classic JavaScript script.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use crate::support::memory_heavy_blocking;
use oxc_allocator::Allocator;
use oxc_parser::Parser;
use oxc_span::SourceType;
use sandbox::normalize::{MAX_CODE_BYTES, Shape, SyntaxError, normalize};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/normalize")
}

/// The first error parsing `script` as a classic (non-module) JavaScript script. On a big
/// stack: oxc's parser recurses once per nesting level.
fn script_error(script: &str) -> Option<String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(scope, || {
                let allocator = Allocator::default();
                let ret = Parser::new(&allocator, script, SourceType::script()).parse();
                ret.diagnostics
                    .errors()
                    .next()
                    .map(|d| d.message.to_string())
            })
            .expect("spawn")
            .join()
            .expect("parser thread")
    })
}

fn line_diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<_>, Vec<_>) = (expected.lines().collect(), actual.lines().collect());
    let mut out = String::new();
    for i in 0..e.len().max(a.len()) {
        let (x, y) = (e.get(i), a.get(i));
        if x != y {
            let _ = writeln!(out, "  line {}:", i + 1);
            if let Some(x) = x {
                let _ = writeln!(out, "  - {x}");
            }
            if let Some(y) = y {
                let _ = writeln!(out, "  + {y}");
            }
        }
    }
    out
}

#[test]
fn golden() {
    let dir = golden_dir();
    let bless = std::env::var_os("BLESS").is_some();
    let mut inputs: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("golden directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "in"))
        .collect();
    inputs.sort();
    assert!(
        inputs.len() > 40,
        "golden inputs missing from {}",
        dir.display()
    );

    let mut failures = String::new();
    for input_path in &inputs {
        let name = input_path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let input = fs::read_to_string(input_path).expect("read input");
        let out_path = dir.join(format!("{name}.out.js"));
        let err_path = dir.join(format!("{name}.err.txt"));
        let (actual, path, other) = match normalize(&input) {
            Ok(n) => {
                if let Some(e) = script_error(&n.script) {
                    let _ = writeln!(failures, "{name}: output is not a valid script: {e}");
                }
                let shape = n.shape.as_str();
                (
                    format!("{}\n// shape: {shape}\n", n.script),
                    &out_path,
                    &err_path,
                )
            }
            Err(e) => (
                format!("{}:{}: {}\n", e.line, e.column, e.message),
                &err_path,
                &out_path,
            ),
        };
        if bless {
            fs::write(path, &actual).expect("write golden");
            let _ = fs::remove_file(other);
            continue;
        }
        match fs::read_to_string(path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => {
                let _ = writeln!(
                    failures,
                    "{name}: {} differs:\n{}",
                    path.display(),
                    line_diff(&expected, &actual)
                );
            }
            Err(_) => {
                let _ = writeln!(
                    failures,
                    "{name}: missing {} (run with BLESS=1); got:\n{actual}",
                    path.display()
                );
            }
        }
    }
    assert!(failures.is_empty(), "golden mismatches:\n{failures}");
}

fn ok(source: &str) -> sandbox::normalize::Normalized {
    normalize(source).unwrap_or_else(|e| panic!("normalize failed: {e}\n{source}"))
}

fn err(source: &str) -> SyntaxError {
    match normalize(source) {
        Ok(n) => panic!("expected an error, got:\n{}", n.script),
        Err(e) => e,
    }
}

/// 1-based (line, column) of the first occurrence of `needle` in `text`, columns in chars.
fn find(text: &str, needle: &str) -> (u32, u32) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in:\n{text}"));
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (u32::try_from(line).unwrap(), u32::try_from(col).unwrap())
}

/// `needle` (unique in both) is found in the script at a position that maps back to where it
/// is in what the model sent.
fn assert_maps_back(source: &str, needle: &str) {
    let n = ok(source);
    let (line, col) = find(&n.script, needle);
    assert_eq!(
        n.source_position(line, col),
        find(source, needle),
        "`{needle}` in:\n{}",
        n.script
    );
}

#[test]
fn positions_on_line_one_of_a_body() {
    let source = "const x = await codemode.get(); boom(x)\nx";
    assert_maps_back(source, "boom");
    assert_maps_back(source, "codemode");
    assert_eq!(ok(source).shape, Shape::Body);
    // Inside the generated prefix: the start of the code.
    assert_eq!(ok(source).source_position(1, 3), (1, 1));
}

#[test]
fn positions_in_the_returned_last_expression() {
    let source = "let a = 1\n  a.b.c()";
    assert_maps_back(source, "b.c()");
    assert_maps_back(source, "a = 1");
}

#[test]
fn positions_after_a_fence_with_prose() {
    let source = "Sure! Here is the code:\n\n```ts\nconst n: number = 1;\nthrow new Error(`x${n}`);\n```\nIt throws.";
    let n = ok(source);
    assert_eq!(n.fence_line_offset, 3);
    assert_maps_back(source, "throw new");
    assert_maps_back(source, "const n");
    // Past the end (the closing `})()` line) clamps to the last code line.
    assert_eq!(n.source_position(99, 1).0, 5);
}

#[test]
fn positions_in_call_shapes() {
    assert_maps_back("async () => {\n  await fail();\n}", "fail()");
    assert_maps_back("async () => fail()", "fail()");
    assert_maps_back("export default async function main() { fail() }", "fail()");
    assert_maps_back(
        "\n\nasync function main(): Promise<void> { fail() }",
        "fail()",
    );
}

#[test]
fn positions_survive_enums_and_parameter_properties() {
    let source = "enum E { A, B }\nclass P { constructor(private x: number) { go() } }\nlet q = E.B; fail(q)";
    assert_maps_back(source, "go()");
    assert_maps_back(source, "fail(q)");
    let source = "enum E {\n  A = compute(),\n  B,\n}\nfail()";
    assert_maps_back(source, "compute()");
    assert_maps_back(source, "fail()");
}

#[test]
fn positions_with_crlf_and_unicode() {
    let source = "```js\r\nconst s = 'héllo';\r\nfail(s)\r\n```\r\n";
    let n = ok(source);
    assert!(!n.script.contains('\r'));
    let (line, col) = find(&n.script, "fail");
    assert_eq!(n.source_position(line, col), (3, 1));
    let source = "const s = 'ü'; fail(s)";
    assert_maps_back(source, "fail(s)");
}

#[test]
fn syntax_error_positions_count_fence_lines() {
    let e = err("Here:\n```ts\nconst x = 1;\nconst y = (x;\n```\n");
    assert_eq!((e.line, e.column), (4, 13), "{e}");
    let e = err("let s = 'é'; let = ;");
    assert_eq!(e.line, 1);
    let e = err("```ts\nimport { a } from 'b';\n```");
    assert_eq!((e.line, e.column), (2, 1));
    assert!(e.message.contains("bound as globals"), "{e}");
}

#[test]
fn empty_inputs_are_errors() {
    for source in [
        "",
        "   \n\t",
        "// just a comment\n/* and another */",
        "```ts\n```",
        ";",
        "#!/usr/bin/env node\n",
    ] {
        let e = err(source);
        assert!(e.message.starts_with("no code to run"), "{source:?}: {e}");
    }
}

/// No input panics, and whatever normalizes is a valid script: every prefix of every golden
/// input, and some hand-made nasty ones.
#[test]
fn never_panics_and_always_emits_valid_scripts() {
    let _quiet = memory_heavy_blocking();
    let mut corpus: Vec<String> = vec![
        "{{{{".into(),
        "}}}}".into(),
        "(((".into(),
        "async () => {".into(),
        "enum E {".into(),
        "class A { constructor(private".into(),
        "let x: = 1".into(),
        "\u{feff}let x = 1\u{2028}x".into(),
        "const 𝒳 = '😀'; 𝒳 as string".into(),
        "```\n```\n```".into(),
        "```ts\r\n\r\n```".into(),
        "a\r\rb\r\n".into(),
        "x!".into(),
        "<T>(x)".into(),
        "let a = b as\n(c)".into(),
        "/*".into(),
        "`${".into(),
        "\0".into(),
        format!("let x = [{}];\nx.length", "1,".repeat(100_000)),
        format!("{}1{}", "(".repeat(5_000), ")".repeat(5_000)),
    ];
    let dir = golden_dir();
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("golden directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "in"))
        .collect();
    paths.sort();
    for p in paths {
        let text = fs::read_to_string(&p).expect("read input");
        let cuts: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(3).collect();
        for cut in cuts {
            corpus.push(text[..cut].to_owned());
        }
        corpus.push(text.replace('\n', "\r\n"));
    }
    let mut failures = String::new();
    for source in &corpus {
        if let Ok(n) = normalize(source)
            && let Some(e) = script_error(&n.script)
        {
            let _ = writeln!(
                failures,
                "--- input:\n{source}\n--- script ({e}):\n{}\n",
                n.script
            );
        }
    }
    assert!(failures.is_empty(), "invalid scripts:\n{failures}");
}

/// oxc's parser recurses once per nesting level and has no limit of its own; nesting as deep
/// as the size limit allows must neither overflow the stack (an abort) nor panic.
#[test]
fn deep_nesting_up_to_the_size_limit() {
    let _quiet = memory_heavy_blocking();
    let fill = |open: &str, mid: &str, close: &str| {
        let n = (MAX_CODE_BYTES - mid.len()) / (open.len() + close.len());
        format!("{}{mid}{}", open.repeat(n), close.repeat(n))
    };
    let inputs = [
        fill("(", "1", ")"),
        fill("[", "1", "]"),
        fill("{a:", "1", "}"),
        fill("`${", "1", "}`"),
        fill("f(", "1", ")"),
        fill("(function(){", "", "})"),
        fill("(class{m(){", "", "}})"),
        fill("{", "", "}"),
        fill("if(a)", "1", ""),
        fill("!", "1", ""),
        fill("a?b:", "1", ""),
        fill("x=>", "1", ""),
        fill("a=", "1", ""),
        fill("", "x", "!"),
        fill("", "x", " as T"),
        fill("A<", "let x: 1", ">")
            .replacen("let x: 1", "", 1)
            .replacen("A<", "let x: A<", 1),
        format!(
            "enum E {{ A = {} }}",
            fill("(", "1", ")")
                .get(100..MAX_CODE_BYTES - 100)
                .unwrap_or("")
        ),
    ];
    for input in &inputs {
        assert!(input.len() <= MAX_CODE_BYTES);
        let _ = normalize(input);
    }
    let e = err(&"1;".repeat(MAX_CODE_BYTES / 2 + 1));
    assert!(e.message.contains("too large"), "{e}");
}
