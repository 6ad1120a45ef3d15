//! `url.js` against the WHATWG URL conformance data (web-platform-tests' `urltestdata.json`),
//! with a list of the cases it is known to fail, so a regression or a fix shows up at once.

use crate::support::given_sandbox;
use sandbox::{Bindings, Execution, Limits};
use serde_json::Value;
use std::path::PathBuf;

/// Runs every case the way WPT's `url-constructor.any.js` does and returns the failing
/// ones as `[input, base]`.
const RUN_CASES: &str = r#"
const cases = await wpt.cases();
const fields = ["href", "protocol", "username", "password", "host", "hostname", "port",
                "pathname", "search", "hash"];
const failed = [];
for (const c of cases) {
  let url = null;
  try {
    url = c.base === null ? new URL(c.input) : new URL(c.input, c.base);
  } catch (e) {
    if (!c.failure) failed.push([c.input, c.base]);
    continue;
  }
  if (c.failure) { failed.push([c.input, c.base]); continue; }
  const wrong = fields.some(f => url[f] !== c[f]) ||
    ("origin" in c && url.origin !== c.origin) ||
    ("searchParams" in c && url.searchParams.toString() !== c.searchParams);
  if (wrong) failed.push([c.input, c.base]);
}
return { total: cases.length, failed };
"#;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn url_js_passes_the_whatwg_url_conformance_cases_but_the_listed_ones() {
    let text = std::fs::read_to_string(data("urltestdata.json")).expect("read urltestdata.json");
    let all: Vec<Value> = serde_json::from_str(&text).expect("urltestdata.json is JSON");
    // The file interleaves comments (strings) with cases (objects).
    let cases: Value = all.into_iter().filter(Value::is_object).collect();
    let count = cases.as_array().map_or(0, Vec::len);
    assert!(
        count > 500,
        "the conformance data went missing ({count} cases)"
    );
    let bindings = Bindings::new().function("wpt", "cases", move |_| {
        let cases = cases.clone();
        async move { Ok(cases) }
    });
    let limits = Limits {
        cpu_ms: 10_000,
        wall_ms: 30_000,
        output_bytes: 1 << 20,
        ..Limits::default()
    };
    let outcome = given_sandbox()
        .execute(Execution::new(RUN_CASES).limits(limits).bindings(bindings))
        .await;
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    let result = outcome.result.expect("a result");
    assert_eq!(result["total"].as_u64(), Some(count as u64));
    let failed: Vec<String> = result["failed"]
        .as_array()
        .expect("failed list")
        .iter()
        .map(|case| serde_json::to_string(case).expect("json"))
        .collect();

    let list = data("url-expected-failures.txt");
    if std::env::var_os("BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&list, failed.join("\n") + "\n").expect("write the expected failures");
        return;
    }
    let expected_text = std::fs::read_to_string(&list).unwrap_or_default();
    let expected: Vec<&str> = expected_text.lines().filter(|l| !l.is_empty()).collect();
    let regressions: Vec<&String> = failed
        .iter()
        .filter(|f| !expected.contains(&f.as_str()))
        .collect();
    let fixed: Vec<&&str> = expected
        .iter()
        .filter(|e| !failed.iter().any(|f| f == **e))
        .collect();
    assert!(
        regressions.is_empty() && fixed.is_empty(),
        "url.js against {count} WHATWG cases ({} expected failures):\n\
         newly failing (a regression, or add them to tests/data/url-expected-failures.txt \
         with BLESS=1 if deliberate): {regressions:#?}\n\
         now passing (remove them from the list; BLESS=1 rewrites it): {fixed:#?}",
        expected.len()
    );
}
