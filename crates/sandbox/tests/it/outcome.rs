//! Golden tests of JS behaviour: each `tests/golden/outcome/<case>.js` runs in a fresh
//! isolate and its outcome (result, error without stack, logs) must match `<case>.json`.

use crate::support::{assert_golden, golden_dir, run};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn golden_outcomes() {
    let dir = golden_dir("outcome");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("golden dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the golden corpus went missing");
    for case in cases {
        let code = std::fs::read_to_string(&case).expect("read case");
        let outcome = run(&code).await;
        let error = outcome.error.map(|e| {
            json!({
                "name": e.name, "message": e.message, "line": e.line, "column": e.column,
                "code": e.code, "limit": e.limit,
            })
        });
        let logs: Vec<_> = outcome
            .logs
            .iter()
            .map(|l| json!({"level": l.level, "text": l.text}))
            .collect();
        let actual = json!({"result": outcome.result, "error": error, "logs": logs});
        let text = serde_json::to_string_pretty(&actual).expect("json") + "\n";
        assert_golden(&case.with_extension("json"), &text);
    }
}
