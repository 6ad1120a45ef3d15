//! The Code Mode server itself: `search` code over the spec (the largest spec in the repo
//! included), and the streamable HTTP transport's session handling.

use std::sync::Arc;

use codemode::mcp::{CodeModeServer, HttpOptions, ServerOptions, serve_http};
use codemode::openapi;
use serde_json::{Value, json};

fn spec_file(name: &str) -> String {
    format!("{}/../../specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn given_server(spec: openapi::Spec) -> CodeModeServer {
    let catalog = openapi::catalog(&spec);
    CodeModeServer::new(
        catalog,
        sandbox::Bindings::new(),
        Some(Arc::new(spec)),
        ServerOptions::default(),
    )
    .expect("server")
}

/// A small spec whose operations reach their schemas through `$ref`s, with path-level
/// parameters and an operation without a body.
fn given_fixture_spec() -> openapi::Spec {
    let doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "Pets", "version": "1" },
        "servers": [{ "url": "http://127.0.0.1:1" }],
        "tags": [{ "name": "pets", "description": "Everything about pets" }],
        "paths": {
            "/pets": {
                "get": {
                    "operationId": "listPets", "summary": "List pets", "tags": ["pets"],
                    "parameters": [{ "$ref": "#/components/parameters/Limit" }],
                    "responses": { "200": { "description": "pets", "content": { "application/json": {
                        "schema": { "type": "array", "items": { "$ref": "#/components/schemas/Pet" } } } } } }
                },
                "post": {
                    "operationId": "createPet", "summary": "Create a pet", "tags": ["pets"],
                    "description": "Adds a pet to the store.",
                    "requestBody": { "$ref": "#/components/requestBodies/NewPet" },
                    "responses": { "201": { "description": "created" } },
                    "x-internal-note": { "owner": "store team" }
                }
            },
            "/pets/{petId}": {
                "summary": "One pet",
                "parameters": [{ "name": "petId", "in": "path", "required": true, "schema": { "type": "string" } }],
                "get": {
                    "operationId": "getPet", "summary": "Get a pet by id", "tags": ["pets"], "deprecated": true,
                    "responses": { "200": { "description": "a pet", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/Pet" } } } } }
                }
            }
        },
        "components": {
            "parameters": { "Limit": { "name": "limit", "in": "query", "schema": { "type": "integer" } } },
            "requestBodies": { "NewPet": { "required": true, "content": { "application/json": {
                "schema": { "$ref": "#/components/schemas/Pet" } } } } },
            "schemas": { "Pet": { "type": "object", "required": ["name"], "properties": {
                "name": { "type": "string" }, "owner": { "$ref": "#/components/schemas/Owner" } } },
                "Owner": { "type": "object", "properties": { "email": { "type": "string" } } } }
        }
    });
    openapi::parse(doc.to_string().as_bytes(), "pets.json").expect("fixture spec")
}

/// `search` with `code`: `Ok(result)` or `Err(error text)`.
async fn search_code(server: &CodeModeServer, code: &str) -> Result<Value, String> {
    let mut arguments = serde_json::Map::new();
    arguments.insert("code".into(), json!(code));
    let result = server
        .call("search", &arguments)
        .await
        .expect("a tool result");
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    if result.is_error == Some(true) {
        return Err(text);
    }
    let outcome: Value = serde_json::from_str(&text).expect("search results are JSON");
    Ok(outcome["result"].clone())
}

/// The shape of code the tool description and Cloudflare's examples teach: every operation,
/// filtered on words in its path, summary and tags, a few returned.
const FILTER_ALL_OPERATIONS: &str = r#"async () => {
  const found = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const text = `${path} ${op.summary ?? ""} ${(op.tags ?? []).join(" ")}`.toLowerCase();
      if (text.includes("message") && text.includes("attachment")) {
        found.push({ method: method.toUpperCase(), path, summary: op.summary });
      }
    }
  }
  return { count: found.length, first: found.slice(0, 3) };
}"#;

#[tokio::test(flavor = "multi_thread")]
async fn issue13_search_code_on_the_largest_spec_runs_within_the_default_limits() {
    let spec = openapi::load(&spec_file("msgraph-v1.json.gz"))
        .await
        .expect("spec");
    let operations = spec.operation_count();
    let server = given_server(spec);

    assert_eq!(search_code(&server, "async () => 1").await, Ok(json!(1)));

    let found = search_code(&server, FILTER_ALL_OPERATIONS)
        .await
        .expect("the filter runs");
    assert!(found["count"].as_u64().is_some_and(|n| n > 3), "{found}");
    for op in found["first"].as_array().expect("first") {
        let text = format!("{} {}", op["path"], op["summary"]).to_lowercase();
        assert!(text.contains("attachment"), "{op}");
    }

    // Each path item's own keys are its operations: nothing more, nothing less.
    let counted = search_code(
        &server,
        "async () => Object.values(spec.paths).reduce((n, item) => n + Object.keys(item).length, 0)",
    )
    .await
    .expect("count");
    assert_eq!(counted, json!(operations));

    // Details of the few operations found: resolved, no `$ref` left.
    let details = search_code(
        &server,
        r#"async () => {
  const item = spec.paths["/users/{user-id}/messages/{message-id}/attachments"];
  const schema = item.post.requestBody.content["application/json"].schema;
  return { params: item.parameters.map(p => p.name), schema: JSON.stringify(schema).slice(0, 2000) };
}"#,
    )
    .await
    .expect("details");
    assert_eq!(details["params"], json!(["user-id", "message-id"]));

    // Every operation's body and responses, resolved, are more than one search may hold:
    // refused (by the memory limit, before the host's own budget for resolved members).
    let error = search_code(
        &server,
        "async () => Object.values(spec.paths).flatMap(item => Object.values(item)).filter(op => op.requestBody && op.responses).length",
    )
    .await
    .expect_err("too much detail");
    assert!(
        error.contains("memory limit") || error.contains("more than one search can load"),
        "{error}"
    );
    assert!(
        details["schema"]
            .as_str()
            .is_some_and(|s| s.contains("\"properties\"") && !s.contains("\"$ref\"")),
        "{details}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_search_code_reads_every_member_with_refs_resolved() {
    let spec = given_fixture_spec();
    let expected = spec.resolved_path("/pets").expect("resolved");
    let expected_item = spec.resolved_path("/pets/{petId}").expect("resolved");
    let server = given_server(spec);

    // A slice of the spec as JSON is the resolved document, members read or not.
    let slice = search_code(
        &server,
        "async () => JSON.parse(JSON.stringify([spec.paths['/pets'], spec.paths['/pets/{petId}']]))",
    )
    .await
    .expect("slice");
    assert_eq!(slice, json!([expected, expected_item]));
    // Returned as is, too (the host's conversion reads them the same way).
    let returned = search_code(&server, "async () => spec.paths['/pets'].post")
        .await
        .expect("returned");
    assert_eq!(returned, expected["post"]);

    let read = search_code(
        &server,
        r#"async (spec) => {
  const pets = spec.paths["/pets"];
  const one = spec.paths["/pets/{petId}"];
  return {
    body: pets.post.requestBody.content["application/json"].schema.properties.owner.properties.email.type,
    noBody: pets.get.requestBody === undefined,
    limit: pets.get.parameters[0].name,
    itemParams: one.parameters.map(p => p.name),
    itemSummary: one.summary,
    deprecated: one.get.deprecated,
    extension: pets.post["x-internal-note"].owner,
    description: pets.post.description,
    info: spec.info.title,
    tags: spec.tags.map(t => t.name),
    components: spec.components === undefined,
  };
}"#,
    )
    .await
    .expect("members");
    assert_eq!(
        read,
        json!({
            "body": "string", "noBody": true, "limit": "limit", "itemParams": ["petId"],
            "itemSummary": "One pet", "deprecated": true, "extension": "store team",
            "description": "Adds a pet to the store.", "info": "Pets", "tags": ["pets"],
            "components": true
        })
    );

    // A body (no function) gets `spec` too, and its last expression is the result.
    assert_eq!(
        search_code(
            &server,
            "const paths = Object.keys(spec.paths);\npaths.length"
        )
        .await,
        Ok(json!(2))
    );
    // Code that catches the failure a missing member causes still gets the real member.
    assert_eq!(
        search_code(
            &server,
            "async () => { try { return spec.paths['/pets'].get.parameters[0].name.toUpperCase() } catch { return 'caught' } }"
        )
        .await,
        Ok(json!("LIMIT"))
    );
}

/// A spec of `count` operations, each with a description (a member the host resolves).
fn given_spec_of_described_operations(count: usize) -> openapi::Spec {
    let paths: serde_json::Map<String, Value> = (0..count)
        .map(|i| {
            let op = json!({ "get": { "operationId": format!("get{i}"), "summary": format!("Get {i}"),
                "description": format!("Operation {i}."), "responses": { "200": { "description": "ok" } } } });
            (format!("/things{i}"), op)
        })
        .collect();
    let doc = json!({
        "openapi": "3.0.3",
        "info": { "title": "Things", "version": "1" },
        "servers": [{ "url": "http://127.0.0.1:1" }],
        "paths": paths,
    });
    openapi::parse(doc.to_string().as_bytes(), "things.json").expect("fixture spec")
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_4_search_code_reads_details_in_one_pass() {
    let server = given_server(given_fixture_spec());
    // The item's parameters are not in the compact spec: they are fetched when read, and
    // the code runs once (a second pass would count 2, log twice, and see `/pets` again).
    let mut arguments = serde_json::Map::new();
    arguments.insert(
        "code".into(),
        json!(
            r#"async () => {
  globalThis.runs = (globalThis.runs ?? 0) + 1;
  const before = Object.keys(spec.paths).length;
  delete spec.paths["/pets"];
  const params = spec.paths["/pets/{petId}"].parameters.map(p => p.name);
  console.log("params", params.length);
  const op = spec.paths["/pets/{petId}"].get;
  return { runs: globalThis.runs, before, after: Object.keys(spec.paths).length, params,
    same: op.responses === op.responses };
}"#
        ),
    );
    let result = server
        .call("search", &arguments)
        .await
        .expect("a tool result");
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    assert_ne!(result.is_error, Some(true), "{text}");
    let outcome: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        outcome["result"],
        json!({ "runs": 1, "before": 2, "after": 1, "params": ["petId"], "same": true }),
        "{outcome}"
    );
    assert_eq!(
        outcome.to_string().matches("params 1").count(),
        1,
        "{outcome}"
    );

    // Code that reads one member after another, each depending on the last, runs once too.
    let server = given_server(given_spec_of_described_operations(8));
    assert_eq!(
        search_code(
            &server,
            r#"async () => {
  const ops = Object.values(spec.paths).map(item => item.get);
  let i = 0;
  while (i < ops.length && ops[i].description) i++;
  return i;
}"#,
        )
        .await,
        Ok(json!(8))
    );

    // The lookup reads this spec's members only, and replacing it changes nothing.
    let server = given_server(given_fixture_spec());
    assert_eq!(
        search_code(
            &server,
            r#"async () => {
  let refused;
  try { __codemode.part("../../etc/passwd"); } catch (e) { refused = e.code; }
  __codemode.part = () => "forged";
  return [refused, spec.paths["/pets"].get.parameters[0].name];
}"#,
        )
        .await,
        Ok(json!(["SearchError", "limit"]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_search_code_errors_point_into_the_code_as_sent() {
    let server = given_server(given_fixture_spec());
    let error = search_code(
        &server,
        "async () => {\n  const op = spec.paths['/pets'].get;\n  return op.nothing.here;\n}",
    )
    .await
    .expect_err("a TypeError");
    assert!(error.starts_with("TypeError"), "{error}");
    assert!(error.contains("(line 3, column"), "{error}");

    let error = search_code(
        &server,
        "const a = spec.paths;\nconst b = a['/nope'].get;\nb",
    )
    .await
    .expect_err("a TypeError");
    assert!(error.contains("(line 2, column"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue13_session_delete_answers_204_no_content() {
    let server = given_server(given_fixture_spec());
    let (bound_tx, bound) = tokio::sync::oneshot::channel();
    let options = HttpOptions {
        addr: "127.0.0.1:0".parse().expect("addr"),
        auth_token: None,
    };
    tokio::spawn(serve_http(
        server,
        options,
        move |addr| {
            let _ = bound_tx.send(addr);
        },
        std::future::pending(),
    ));
    let url = format!("http://{}/mcp", bound.await.expect("bound"));
    let client = codemode::egress::tls::client_builder()
        .expect("TLS setup")
        .build()
        .expect("client");
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "test", "version": "1" } }
    });
    let response = client
        .post(&url)
        .header("Accept", "application/json, text/event-stream")
        .header("Content-Type", "application/json")
        .body(initialize.to_string())
        .send()
        .await
        .expect("initialize");
    assert!(response.status().is_success(), "{response:?}");
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let deleted = client
        .delete(&url)
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-06-18")
        .send()
        .await
        .expect("delete");
    // The official SDKs accept 200 and 204; rmcp's 202 made the Python SDK log a failure.
    assert_eq!(deleted.status().as_u16(), 204);
}
