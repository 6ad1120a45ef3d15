//! Loading agent modules: TypeScript, export forms, and errors that point at the file.

use crate::support::*;
use agents::Classes;

#[tokio::test(flavor = "multi_thread")]
async fn typescript_modules_with_each_export_form_load() {
    let sandbox = given_sandbox();
    let classes = Classes::from_sources(
        sources(&[
            ("a.ts", "import { Agent } from 'agents';\nexport default class Alpha extends Agent { async hi(n: number): Promise<number> { return n } }"),
            ("beta.ts", "export default class extends Agent { private x: string = ''; async b() {} }"),
            ("c.js", "export class Gamma extends Agent { g() {} _hidden() {} }"),
        ]),
        &sandbox,
    )
    .await
    .unwrap();
    assert_eq!(classes.names(), ["Alpha", "Gamma", "beta"]);
    assert_eq!(classes.get("Alpha").unwrap().methods, ["hi"]);
    assert_eq!(classes.get("Gamma").unwrap().methods, ["g"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_modules_fail_at_load_with_file_and_position() {
    let sandbox = given_sandbox();
    let cases = [
        (
            "syntax.ts",
            "export default class A extends Agent {\n  m( { }\n}",
            "line 3",
        ),
        (
            "lodash.ts",
            "import _ from 'lodash';\nexport default class A extends Agent {}",
            "\"lodash\"",
        ),
        ("nothing.ts", "class A extends Agent {}", "exports nothing"),
        (
            "plain.ts",
            "export default class A { m() {} }",
            "extends Agent",
        ),
        (
            "throws.ts",
            "throw new Error('top-level failure');\nexport default class A extends Agent {}",
            "top-level failure",
        ),
        (
            "two.ts",
            "export class A extends Agent {}\nexport class B extends Agent {}",
            "one agent class",
        ),
    ];
    for (origin, source, expected) in cases {
        let e = Classes::from_sources(sources(&[(origin, source)]), &sandbox)
            .await
            .unwrap_err();
        let message = e.to_string();
        assert!(message.contains(origin), "{origin}: {message}");
        assert!(message.contains(expected), "{origin}: {message}");
    }
    let e = Classes::from_sources(
        sources(&[
            ("a.js", "export default class A extends Agent {}"),
            ("b.js", "export default class A extends Agent {}"),
        ]),
        &sandbox,
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("defined twice"), "{e}");
}
