//! Issue 17, item 1: npm packages in isolates.

use crate::given::*;
use serde_json::json;

#[tokio::test]
async fn issue17_zod_parses_with_a_schema() {
    let cache = tempfile::tempdir().unwrap();
    let npm = given_public_npm(cache.path());
    let code = r#"
import { z } from "zod";
const User = z.object({ name: z.string().min(2), age: z.number().int().positive() });
const ok = User.parse({ name: "Ada", age: 36 });
const bad = User.safeParse({ name: "A", age: -1 });
// zod's locales are re-exported lazily (and compiled on first use): reading one works.
const french = typeof z.locales.fr;
export default { ok, success: bad.success, issues: bad.error.issues.map((i) => i.path.join(".")), french };
"#;
    assert_eq!(
        result(&npm, code).await,
        json!({ "ok": { "name": "Ada", "age": 36 }, "success": false, "issues": ["name", "age"], "french": "function" })
    );
    let prepared = npm.prepare(code).await.unwrap().unwrap();
    assert!(
        prepared.packages.iter().any(|p| p.starts_with("zod@")),
        "{:?}",
        prepared.packages
    );
    assert!(!prepared.code.contains("from \"zod\""), "{}", prepared.code);
}

#[tokio::test]
async fn issue17_lodash_by_npm_specifier() {
    let cache = tempfile::tempdir().unwrap();
    let npm = given_public_npm(cache.path());
    let code = r#"
import _ from "npm:lodash@4";
return { chunks: _.chunk([1, 2, 3, 4, 5], 2), words: _.words("hello npm world"), sorted: _.sortBy([{ n: 3 }, { n: 1 }], "n").map((o) => o.n) };
"#;
    assert_eq!(
        result(&npm, code).await,
        json!({ "chunks": [[1, 2], [3, 4], [5]], "words": ["hello", "npm", "world"], "sorted": [1, 3] })
    );
}

#[tokio::test]
async fn issue17_date_fns_formats_dates() {
    let cache = tempfile::tempdir().unwrap();
    let npm = given_public_npm(cache.path());
    let code = r#"
import { addDays, format, differenceInCalendarDays } from "date-fns";
const start = new Date(2024, 0, 30);
return { later: format(addDays(start, 3), "yyyy-MM-dd"), days: differenceInCalendarDays(new Date(2024, 2, 1), start) };
"#;
    assert_eq!(
        result(&npm, code).await,
        json!({ "later": "2024-02-02", "days": 31 })
    );
}

#[tokio::test]
async fn issue17_yaml_round_trips() {
    let cache = tempfile::tempdir().unwrap();
    let npm = given_public_npm(cache.path());
    let code = r#"
import YAML from "yaml";
const doc = YAML.parse("name: islet\nrungs:\n  - isolate\n  - npm\n");
return { doc, text: YAML.stringify({ a: [1, 2] }) };
"#;
    assert_eq!(
        result(&npm, code).await,
        json!({ "doc": { "name": "islet", "rungs": ["isolate", "npm"] }, "text": "a:\n  - 1\n  - 2\n" })
    );
}

#[tokio::test]
async fn issue17_uuid_makes_v4_and_validates() {
    let cache = tempfile::tempdir().unwrap();
    let npm = given_public_npm(cache.path());
    let code = r#"
import { v4, validate, version } from "uuid";
const id = v4();
return { valid: validate(id), version: version(id), distinct: v4() !== id };
"#;
    assert_eq!(
        result(&npm, code).await,
        json!({ "valid": true, "version": 4, "distinct": true })
    );
}

#[tokio::test]
async fn issue17_commonjs_only_package_by_require_and_import() {
    let cache = tempfile::tempdir().unwrap();
    let npm = given_public_npm(cache.path());
    // `ms` is CommonJS only (main: index.js, no exports, no module).
    let code = r#"
const ms = require("ms");
import msToo from "ms";
return [ms("2 days"), msToo(60000), ms(1500, { long: true })];
"#;
    assert_eq!(
        result(&npm, code).await,
        json!([172800000, "1m", "2 seconds"])
    );
}

#[tokio::test]
async fn issue17_node_builtins_work_and_io_ones_name_the_alternative() {
    let cache = tempfile::tempdir().unwrap();
    // Built-ins need no registry at all.
    let npm = given_npm(&given_dead_registry().await, cache.path());
    let code = r#"
import { createHash, createHmac, randomBytes } from "node:crypto";
import { Buffer } from "buffer";
import EventEmitter from "events";
import path from "path";
import util from "util";
import assert from "assert";
import { StringDecoder } from "string_decoder";
import fs from "fs";
import { Transform } from "stream";
const seen = [];
let streamed = "";
const upper = new Transform({ transform(chunk, _encoding, done) { done(null, String(chunk).toUpperCase()); } });
upper.on("data", (chunk) => { streamed += chunk; });
upper.write("a");
upper.end("b");
await new Promise((resolve) => upper.on("end", resolve));
const e = new EventEmitter();
e.once("x", (v) => seen.push(v));
e.emit("x", 1); e.emit("x", 2);
let fsError;
try { fs.readFileSync("/etc/passwd"); } catch (err) { fsError = err.message; }
assert.deepStrictEqual({ a: [1] }, { a: [1] });
const decoder = new StringDecoder("utf8");
const euro = Buffer.from("€");
return {
  sha256: createHash("sha256").update("abc").digest("hex"),
  sha512: createHash("sha512").update("abc").digest("base64").slice(0, 16),
  md5: createHash("md5").update("").digest("hex"),
  sha1: createHash("sha1").update("abc").digest("hex"),
  hmac: createHmac("sha256", "key").update("The quick brown fox jumps over the lazy dog").digest("hex"),
  random: randomBytes(8).length,
  base64: Buffer.from("hello").toString("base64"),
  hex: Buffer.from("68656c6c6f", "hex").toString(),
  seen,
  joined: path.join("/a/b", "../c", "d.txt"),
  formatted: util.format("%s has %d items", "list", 3),
  decoded: decoder.write(euro.subarray(0, 1)) + decoder.write(euro.subarray(1)),
  fsError,
  streamed,
};
"#;
    let value = result(&npm, code).await;
    assert_eq!(
        value["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(value["sha512"], "3a81oZNherrMQXNJ");
    assert_eq!(value["md5"], "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(value["sha1"], "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(
        value["hmac"],
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    );
    assert_eq!(value["random"], 8);
    assert_eq!(value["base64"], "aGVsbG8=");
    assert_eq!(value["hex"], "hello");
    assert_eq!(value["seen"], json!([1]));
    assert_eq!(value["joined"], "/a/c/d.txt");
    assert_eq!(value["formatted"], "list has 3 items");
    assert_eq!(value["decoded"], "€");
    assert_eq!(value["streamed"], "AB");
    let fs_error = value["fsError"].as_str().unwrap();
    assert!(
        fs_error.contains("node:fs is not available") && fs_error.contains("workspace"),
        "{fs_error}"
    );
}

#[tokio::test]
async fn issue17_package_with_an_install_script_is_refused() {
    let registry = given_registry(vec![TestPackage::new(
        "needs-build",
        "1.0.0",
        json!({ "name": "needs-build", "version": "1.0.0", "scripts": { "postinstall": "node build.js" } }),
    )
    .file("index.js", "module.exports = 1;")])
    .await;
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    let error = run(&npm, "import x from 'needs-build'; x")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NPM_REFUSED");
    let message = error.to_string();
    assert!(
        message.contains("needs-build@1.0.0") && message.contains("postinstall"),
        "{message}"
    );
}

#[tokio::test]
async fn issue17_registry_flag_for_install_scripts_refuses_before_download() {
    let mut package = TestPackage::new(
        "scripted",
        "2.0.0",
        json!({ "name": "scripted", "version": "2.0.0" }),
    )
    .file("index.js", "module.exports = 1;");
    package.registry_fields = json!({ "hasInstallScript": true });
    let registry = given_registry(vec![package]).await;
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    let error = run(&npm, "import x from 'scripted'; x").await.unwrap_err();
    assert_eq!(error.code(), "NPM_REFUSED");
    assert!(error.to_string().contains("install scripts"), "{error}");
    // The document only: the tarball was never fetched.
    assert_eq!(registry.hits(), 1);
}

#[tokio::test]
async fn issue17_native_addon_is_refused() {
    let registry = given_registry(vec![
        TestPackage::new(
            "native-thing",
            "1.0.0",
            json!({ "name": "native-thing", "version": "1.0.0", "main": "index.js" }),
        )
        .file(
            "index.js",
            "module.exports = require('./build/Release/thing.node');",
        )
        .file("binding.gyp", "{ \"targets\": [] }"),
    ])
    .await;
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    let error = run(&npm, "import x from 'native-thing'; x")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NPM_REFUSED");
    assert!(error.to_string().contains("native addon"), "{error}");
}

fn given_tiny_package() -> TestPackage {
    TestPackage::new(
        "tiny",
        "1.2.3",
        json!({ "name": "tiny", "version": "1.2.3", "type": "module", "exports": { ".": { "import": "./esm.js", "require": "./cjs.js" } } }),
    )
    .file("esm.js", "import { helper } from './helper.js';\nexport const double = (x) => helper(x) * 2;\nexport default 'tiny';")
    .file("helper.js", "export function helper(x) { return x; }")
    .file("cjs.js", "exports.double = (x) => x * 2;")
}

#[tokio::test]
async fn issue17_tampered_tarball_fails_its_integrity_check() {
    let registry = given_registry(vec![given_tiny_package()]).await;
    registry.replace_tarball(
        "tiny",
        "1.2.3",
        given_tiny_package().file("evil.js", "1").tarball(),
    );
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    let error = run(&npm, "import { double } from 'tiny'; double(2)")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NPM_INTEGRITY");
    assert!(
        error.to_string().contains("tiny@1.2.3") && error.to_string().contains("sha512-"),
        "{error}"
    );
}

#[tokio::test]
async fn issue17_tampered_cache_file_is_never_used() {
    let registry = given_registry(vec![given_tiny_package()]).await;
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    assert_eq!(
        result(&npm, "import { double } from 'tiny'; double(2)").await,
        json!(4)
    );
    // Damage the cached tarball, drop the cached bundles, and ask again with the
    // registry gone: the damaged file is refused, not unpacked.
    let tarballs = cache.path().join("tarballs");
    for entry in std::fs::read_dir(&tarballs).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    std::fs::remove_dir_all(cache.path().join("bundles")).unwrap();
    let npm = given_npm(&given_dead_registry().await, cache.path());
    let error = run(&npm, "import { double } from 'tiny'; double(3)")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NPM_INTEGRITY");
}

#[tokio::test]
async fn issue17_second_run_is_served_from_the_cache_with_the_network_off() {
    let registry = given_registry(vec![given_tiny_package()]).await;
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    let code = "import tiny, { double } from 'tiny';\nconst { double: d } = require('tiny');\n[tiny, double(5), d(1)]";
    assert_eq!(result(&npm, code).await, json!(["tiny", 10, 2]));
    let first = registry.hits();
    assert_eq!(first, 2, "one document and one tarball");
    // The same process: nothing is fetched again.
    assert_eq!(result(&npm, code).await, json!(["tiny", 10, 2]));
    assert_eq!(registry.hits(), first);
    // A new process whose registry is unreachable: the cache serves.
    let offline = given_npm(&given_dead_registry().await, cache.path());
    assert_eq!(result(&offline, code).await, json!(["tiny", 10, 2]));
    // Without the cached bundle too: rebuilt from the cached document and tarball.
    std::fs::remove_dir_all(cache.path().join("bundles")).unwrap();
    let offline = given_npm(&given_dead_registry().await, cache.path());
    assert_eq!(result(&offline, code).await, json!(["tiny", 10, 2]));
}

#[tokio::test]
async fn issue17_allowlist_names_what_code_may_import() {
    let registry = given_registry(vec![given_tiny_package()]).await;
    let cache = tempfile::tempdir().unwrap();
    let mut config = npm::NpmConfig::new(cache.path());
    config.registry = registry.url.clone();
    config.allow = vec!["zod".into(), "@std/*".into()];
    let npm = npm::Npm::new(config).unwrap();
    let error = run(&npm, "import { double } from 'tiny'; double(2)")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NPM_NOT_ALLOWED");
    assert!(error.to_string().contains("zod, @std/*"), "{error}");
    assert_eq!(registry.hits(), 0);
}

#[tokio::test]
async fn issue17_unknown_package_and_bad_imports_say_what_to_do() {
    let registry = given_registry(vec![given_tiny_package()]).await;
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    let error = run(&npm, "import x from 'no-such-package'; x")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NPM_NOT_FOUND");
    assert!(
        error
            .to_string()
            .contains("no npm package `no-such-package`"),
        "{error}"
    );
    let error = run(&npm, "import x from './local.js'; x")
        .await
        .unwrap_err();
    assert_eq!(error.code(), "NPM_BAD_IMPORT");
    let error = run(&npm, "import x from 'npm:tiny@^9'; x")
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no version of `tiny` matches `^9`"),
        "{error}"
    );
}

#[tokio::test]
async fn issue17_errors_in_the_program_keep_their_lines() {
    let registry = given_registry(vec![given_tiny_package()]).await;
    let cache = tempfile::tempdir().unwrap();
    let npm = given_npm(&registry.url, cache.path());
    let outcome = run(
        &npm,
        "import {\n  double\n} from 'tiny';\nconst x = double(1);\nthrow new Error('at line 5');",
    )
    .await
    .unwrap();
    let error = outcome.error.unwrap();
    assert_eq!(error.message, "at line 5");
    assert_eq!(error.line, Some(5), "{error:?}");
}

#[tokio::test]
async fn issue17_readme_example_runs() {
    let cache = tempfile::tempdir().unwrap();
    let mut config = npm::NpmConfig::new(cache.path());
    config.allow = vec!["zod".into()];
    let npm = npm::Npm::new(config).unwrap();
    // README.md, "npm packages".
    let code = "import { z } from \"zod\";\nz.object({ email: z.string().email() }).parse({ email: \"ada@example.com\" })";
    assert_eq!(
        result(&npm, code).await,
        json!({ "email": "ada@example.com" })
    );
}

#[tokio::test]
async fn issue17_commonjs_package_on_streams_and_hmac_keys() {
    let cache = tempfile::tempdir().unwrap();
    let npm = given_public_npm(cache.path());
    // jsonwebtoken subclasses `stream` and signs with `crypto.createSecretKey` + HMAC.
    let code = "import jwt from \"jsonwebtoken\";\nconst token = jwt.sign({ sub: \"ada\" }, \"secret\");\nreturn jwt.verify(token, \"secret\").sub;";
    assert_eq!(result(&npm, code).await, json!("ada"));
}
