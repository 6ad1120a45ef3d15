//! OpenAPI loading, catalog and request building, on the real specs in `specs/` and on
//! small fixtures in `tests/fixtures/openapi/`.

use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use codemode::catalog::{Catalog, HttpOperation, ParamLocation, Target, Tool};
use codemode::error::Error;
use codemode::openapi::{self, BodyContent, Spec};
use serde_json::{Value, json};

// ---------- helpers ----------

fn spec_path(name: &str) -> String {
    format!("{}/../../specs/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn fixture_path(name: &str) -> String {
    format!(
        "{}/tests/fixtures/openapi/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn given_real_spec(name: &str) -> Spec {
    let path = spec_path(name);
    let bytes = std::fs::read(&path).expect("spec file");
    openapi::parse(&bytes, &path).expect("spec parses")
}

fn given_fixture(name: &str) -> Spec {
    let path = fixture_path(name);
    let bytes = std::fs::read(&path).expect("fixture file");
    openapi::parse(&bytes, &path).expect("fixture parses")
}

fn given_spec(doc: &Value) -> Spec {
    openapi::parse(doc.to_string().as_bytes(), "inline.json").expect("spec parses")
}

/// A minimal OpenAPI 3.0 document with these paths and component schemas.
fn given_doc(paths: Value, schemas: Value) -> Value {
    json!({
        "openapi": "3.0.3",
        "info": { "title": "Test", "version": "1" },
        "paths": paths,
        "components": { "schemas": schemas }
    })
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip write");
    enc.finish().expect("gzip finish")
}

fn tool<'a>(catalog: &'a Catalog, path: &str) -> &'a Tool {
    catalog
        .tools
        .iter()
        .find(|t| t.path() == path)
        .unwrap_or_else(|| {
            panic!(
                "no tool {path}; have {:?}",
                catalog.tools.iter().map(Tool::path).collect::<Vec<_>>()
            )
        })
}

fn http(tool: &Tool) -> &HttpOperation {
    match &tool.target {
        Target::Http(op) => op,
        Target::Mcp { .. } | Target::Host => panic!("not an HTTP tool"),
    }
}

fn props(schema: &Value) -> Vec<&str> {
    schema["properties"]
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn required(schema: &Value) -> Vec<&str> {
    schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn error_text(e: Error) -> String {
    e.to_string()
}

// ---------- real specs ----------

#[test]
#[allow(clippy::print_stderr)]
fn real_specs_load_with_every_operation_and_unique_names() {
    // msgraph is the slow one in debug builds (~20 MB of JSON); all four still take seconds.
    for (name, ops) in [
        ("github.json.gz", 1223),
        ("stripe.json.gz", 452),
        ("slack.json.gz", 174),
        ("msgraph-v1.json.gz", 11422),
    ] {
        let t = Instant::now();
        let spec = given_real_spec(name);
        let loaded = t.elapsed();
        let t = Instant::now();
        let catalog = openapi::catalog(&spec);
        let cataloged = t.elapsed();
        eprintln!(
            "{name}: {} operations, {} warnings; load {loaded:?}, catalog {cataloged:?}",
            spec.operation_count(),
            spec.warnings().len()
        );
        assert_eq!(spec.operation_count(), ops, "{name}: {:?}", spec.warnings());
        assert_eq!(catalog.tools.len(), ops, "{name}");
        assert!(spec.warnings().is_empty(), "{name}: {:?}", spec.warnings());
        let mut seen = HashSet::new();
        for t in &catalog.tools {
            assert!(seen.insert(t.path()), "{name}: duplicate tool {}", t.path());
            assert!(is_identifier(&t.name), "{name}: bad name {}", t.name);
            assert!(
                t.namespace.split('.').all(is_identifier),
                "{name}: bad namespace {}",
                t.namespace
            );
            assert!(t.input_schema["type"] == "object", "{name}: {}", t.path());
            assert!(!t.description.is_empty(), "{name}: {}", t.path());
        }
    }
}

fn is_identifier(s: &str) -> bool {
    const RESERVED: &[&str] = &[
        "delete", "default", "new", "function", "class", "in", "for", "if", "return",
    ];
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !RESERVED.contains(&s)
}

#[test]
fn github_tools_are_named_and_shaped_for_the_model() {
    let spec = given_real_spec("github.json.gz");
    assert_eq!(
        spec.title(),
        "GitHub's official OpenAPI spec + Octokit extension"
    );
    assert_eq!(spec.servers(), ["https://api.github.com"]);
    assert_eq!(spec.source_version(), "3.0.3");
    let tags = spec.tags();
    assert_eq!(
        tags.first().map(|(t, n)| (t.as_str(), *n)),
        Some(("repos", 204))
    );

    let catalog = openapi::catalog(&spec);
    let get_content = tool(&catalog, "api.repos.getContent");
    assert_eq!(get_content.original_name, "repos/get-content");
    let op = http(get_content);
    assert_eq!(
        (op.method.as_str(), op.path.as_str()),
        ("GET", "/repos/{owner}/{repo}/contents/{path}")
    );
    assert_eq!(
        required(&get_content.input_schema),
        ["owner", "repo", "path"]
    );
    assert!(
        get_content
            .keywords
            .iter()
            .any(|k| k == "/repos/{owner}/{repo}/contents/{path}")
    );

    // Body properties merged next to path parameters.
    let create_issue = tool(&catalog, "api.issues.create");
    let input = &create_issue.input_schema;
    for p in ["owner", "repo", "title", "body", "labels"] {
        assert!(
            props(input).contains(&p),
            "{p} missing from {:?}",
            props(input)
        );
    }
    assert!(required(input).contains(&"title"));
    assert!(create_issue.output_schema.is_some());

    // The resolved path item is available for the search tool.
    let item = spec
        .resolved_path("/repos/{owner}/{repo}")
        .expect("path item");
    assert!(item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["full_name"].is_object());
    assert!(
        !item.to_string().contains("\"$ref\""),
        "refs left in resolved path"
    );
}

#[test]
fn stripe_deep_object_query_and_form_body_are_built() {
    let spec = given_real_spec("stripe.json.gz");
    let catalog = openapi::catalog(&spec);
    let list = http(tool(&catalog, "api.getCustomers"));
    let req = openapi::build_request(
        list,
        &json!({ "created": { "gt": 5 }, "expand": ["data.x"], "limit": 3 }),
    )
    .expect("request");
    assert_eq!(req.path, "/v1/customers");
    assert!(
        req.query
            .contains(&("created[gt]".to_owned(), "5".to_owned())),
        "{:?}",
        req.query
    );
    assert!(
        req.query
            .contains(&("expand[0]".to_owned(), "data.x".to_owned())),
        "{:?}",
        req.query
    );
    assert!(req.query.contains(&("limit".to_owned(), "3".to_owned())));
    assert!(req.body.is_none(), "empty optional form body is not sent");

    let create = http(tool(&catalog, "api.postCustomers"));
    let req = openapi::build_request(
        create,
        &json!({ "email": "a b@x.io", "metadata": { "k": "v" } }),
    )
    .expect("request");
    let body = req.body.expect("body");
    assert_eq!(body.content_type, "application/x-www-form-urlencoded");
    let BodyContent::Bytes(bytes) = body.content else {
        panic!("form bytes")
    };
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "email=a+b%40x.io&metadata%5Bk%5D=v"
    );
}

#[test]
fn msgraph_schemas_stay_bounded() {
    let spec = given_real_spec("msgraph-v1.json.gz");
    let catalog = openapi::catalog(&spec);
    let get_user = tool(&catalog, "api.usersUser.getUser");
    let out = get_user.output_schema.as_ref().expect("output schema");
    // Inherited (allOf) properties are kept; nested entities are cut, not exploded.
    let text = out.to_string();
    assert!(text.contains("\"userPrincipalName\""));
    assert!(
        text.contains("\"deletedDateTime\""),
        "inherited from directoryObject"
    );
    assert!(text.contains(openapi::TRUNCATED));
    let biggest = catalog
        .tools
        .iter()
        .map(|t| {
            t.input_schema.to_string().len()
                + t.output_schema.as_ref().map_or(0, |o| o.to_string().len())
        })
        .max()
        .unwrap_or(0);
    assert!(biggest < 200_000, "a tool's schemas take {biggest} bytes");
}

// ---------- loading ----------

#[test]
fn swagger_2_is_converted_to_openapi_3() {
    let spec = given_fixture("swagger2.yaml");
    assert_eq!(spec.source_version(), "2.0");
    assert_eq!(spec.title(), "Pet Store (Swagger 2)");
    assert_eq!(
        spec.servers(),
        [
            "https://petstore.example.com/v2",
            "http://petstore.example.com/v2"
        ]
    );
    assert_eq!(spec.operation_count(), 5);
    assert!(spec.warnings().is_empty(), "{:?}", spec.warnings());
    let raw = spec.raw();
    assert!(
        raw["components"]["schemas"]["Pet"].is_object(),
        "definitions → components.schemas"
    );
    assert_eq!(
        raw["paths"]["/pets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["items"]
            ["$ref"],
        "#/components/schemas/Pet"
    );

    let catalog = openapi::catalog(&spec);
    // `in: body` (via a global parameter) → requestBody, merged into the input.
    let add = tool(&catalog, "api.pets.addPet");
    assert_eq!(props(&add.input_schema), ["id", "name", "owner"]);
    assert_eq!(required(&add.input_schema), ["name"]);
    assert_eq!(
        add.input_schema["properties"]["owner"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(
        http(add).body.as_ref().map(|b| b.content_type.as_str()),
        Some("application/json")
    );
    assert_eq!(
        add.output_schema.as_ref().map(|o| o["type"].clone()),
        Some(json!("object"))
    );

    // Global query parameter ref; collectionFormat multi and csv (the default).
    let list = tool(&catalog, "api.pets.listPets");
    let req = openapi::build_request(
        http(list),
        &json!({ "limit": 2, "tags": ["a", "b"], "ids": [1, 2] }),
    )
    .expect("request");
    assert_eq!(
        req.query,
        [("limit", "2"), ("tags", "a"), ("tags", "b"), ("ids", "1,2")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(
        list.output_schema.as_ref().map(|o| o["type"].clone()),
        Some(json!("array"))
    );

    // Path-level parameter converted too; inline body parameter.
    let update = tool(&catalog, "api.pets.updatePet");
    assert_eq!(required(&update.input_schema), ["petId", "name"]);
    assert_eq!(
        update.input_schema["properties"]["petId"]["type"],
        "integer"
    );

    // formData → multipart (file) and urlencoded bodies.
    let upload = http(tool(&catalog, "api.pets.uploadPhoto"));
    assert_eq!(
        upload.body.as_ref().map(|b| b.content_type.as_str()),
        Some("multipart/form-data")
    );
    let rename = tool(&catalog, "api.pets.renamePet");
    assert_eq!(required(&rename.input_schema), ["petId", "name"]);
    let req = openapi::build_request(http(rename), &json!({ "petId": 7, "name": "Rex Jr" }))
        .expect("request");
    assert_eq!(req.path, "/pets/7/rename");
    let body = req.body.expect("form body");
    assert_eq!(body.content_type, "application/x-www-form-urlencoded");
    assert_eq!(body.content, BodyContent::Bytes(b"name=Rex+Jr".to_vec()));
}

#[test]
fn relative_file_refs_are_resolved_against_the_referencing_file() {
    let spec = given_fixture("relative/main.yaml");
    assert!(spec.warnings().is_empty(), "{:?}", spec.warnings());
    let catalog = openapi::catalog(&spec);
    let get = tool(&catalog, "api.getPet");
    assert_eq!(required(&get.input_schema), ["id"]);
    assert_eq!(
        get.input_schema["properties"]["id"]["description"],
        "The pet's id."
    );
    let out = get.output_schema.as_ref().expect("output");
    // pet.yaml's own `#/Owner` is local to pet.yaml; `../common.yaml` is relative to it.
    assert_eq!(
        out["properties"]["owner"]["properties"]["name"]["type"],
        "string"
    );
    assert_eq!(out["properties"]["id"]["type"], "string");
    // Owner → pets → Pet → owner → Owner: a cycle across the file's own references.
    assert_eq!(
        out["properties"]["owner"]["properties"]["pets"]["items"][openapi::CIRCULAR],
        "#/Pet"
    );
    // A path item in its own file, with references relative to that file.
    let stores = tool(&catalog, "api.listStores");
    assert_eq!(
        stores.input_schema["properties"]["region"]["enum"],
        json!(["eu", "us"])
    );
    assert_eq!(
        stores.output_schema.as_ref().expect("output")["items"]["properties"]["name"]["type"],
        "string"
    );
    // `./common.yaml` and `../common.yaml` are one file, loaded once.
    let docs: Vec<String> = spec
        .documents()
        .iter()
        .map(|d| d.rsplit("relative/").next().unwrap_or(d).to_owned())
        .collect();
    assert_eq!(
        docs,
        [
            "main.yaml",
            "common.yaml",
            "paths/stores.yaml",
            "schemas/pet.yaml"
        ]
    );
    let owners = tool(&catalog, "api.listOwners");
    assert_eq!(
        owners.output_schema.as_ref().expect("output")["items"]["properties"]["pets"]["items"]["properties"]
            ["owner"][openapi::CIRCULAR],
        "#/Owner"
    );
}

#[tokio::test]
async fn load_reads_files_and_reports_missing_ones() {
    let spec = openapi::load(&fixture_path("relative/main.yaml"))
        .await
        .expect("loads");
    assert_eq!(spec.operation_count(), 3);
    let err = error_text(
        openapi::load(&fixture_path("nope.yaml"))
            .await
            .expect_err("missing file"),
    );
    assert!(
        err.contains("cannot read OpenAPI spec file") && err.contains("nope.yaml"),
        "{err}"
    );
}

#[test]
fn cycles_are_cut_where_they_reenter() {
    let spec = given_spec(&given_doc(
        json!({ "/nodes": { "post": {
            "operationId": "createNode",
            "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Node" } } } },
            "responses": { "200": { "description": "ok", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/A" } } } } }
        } } }),
        json!({
            "Node": { "type": "object", "required": ["name"], "properties": {
                "name": { "type": "string" },
                "children": { "type": "array", "items": { "$ref": "#/components/schemas/Node" } }
            } },
            "A": { "type": "object", "properties": { "b": { "$ref": "#/components/schemas/B" } } },
            "B": { "type": "object", "properties": { "a": { "$ref": "#/components/schemas/A" } } }
        }),
    ));
    let catalog = openapi::catalog(&spec);
    let t = tool(&catalog, "api.createNode");
    assert_eq!(
        t.input_schema["properties"]["children"]["items"],
        json!({ "$circular": "#/components/schemas/Node" })
    );
    assert_eq!(required(&t.input_schema), ["name"]);
    let out = t.output_schema.as_ref().expect("output");
    assert_eq!(
        out["properties"]["b"]["properties"]["a"],
        json!({ "$circular": "#/components/schemas/A" })
    );
    let resolved = spec.resolved();
    assert_eq!(
        resolved["paths"]["/nodes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            ["properties"]["children"]["items"]["$circular"],
        "#/components/schemas/Node"
    );
}

#[test]
fn broken_operations_are_skipped_with_warnings_naming_them() {
    let spec = given_fixture("broken.yaml");
    let ids: Vec<_> = spec
        .operations()
        .iter()
        .filter_map(|o| o.operation_id.as_deref())
        .collect();
    assert_eq!(ids, ["getGood"]);
    let warnings = spec.warnings().join("\n");
    assert_eq!(spec.warnings().len(), 6, "{warnings}");
    for needle in [
        "#/components/schemas/DoesNotExist",
        "GET /dangling-param (danglingParam)",
        "#/components/parameters/Missing",
        "GET /not-an-object",
        "POST /bad-params (badParams)",
        "GET /param-without-in (paramWithoutIn)",
    ] {
        assert!(
            warnings.contains(needle),
            "no warning about {needle}:\n{warnings}"
        );
    }
    // The dangling schema degrades to "any"; its siblings survive.
    let catalog = openapi::catalog(&spec);
    let good = tool(&catalog, "api.getGood");
    assert_eq!(
        good.output_schema.as_ref().expect("output")["properties"]["lost"],
        json!({})
    );
}

#[test]
fn yaml_gzip_and_json_are_detected_by_content() {
    let yaml = b"openapi: 3.1.0\ninfo: {title: Y, version: '2'}\npaths:\n  /x:\n    get:\n      responses:\n        200: {description: ok}\n";
    let spec = openapi::parse(yaml, "spec.txt").expect("yaml");
    assert_eq!(
        (spec.title(), spec.version(), spec.operation_count()),
        ("Y", "2", 1)
    );
    let spec = openapi::parse(&gzip(yaml), "spec.bin").expect("gzipped yaml");
    assert_eq!(spec.operation_count(), 1);
    let json = given_doc(json!({ "/y": { "get": { "responses": {} } } }), json!({})).to_string();
    let spec = openapi::parse(&gzip(json.as_bytes()), "spec").expect("gzipped json");
    assert_eq!(spec.operation_count(), 1);
    // No operationId: a name from method and path.
    assert_eq!(openapi::catalog(&spec).tools[0].path(), "api.getY");
}

#[test]
fn malformed_input_is_one_clear_error() {
    let json = given_doc(json!({}), json!({})).to_string();
    let mut truncated = gzip(json.as_bytes());
    truncated.truncate(truncated.len() / 2);
    let cases: Vec<(&[u8], &str)> = vec![
        (&truncated, "gzip data is truncated or corrupt"),
        (b"{\"openapi\": \"3.0.0\", \"paths\": {", "invalid JSON"),
        (b"   ", "the document is empty"),
        (
            b"{\"hello\": \"world\"}",
            "has no `openapi` or `swagger` field (top-level keys: hello)",
        ),
        (
            b"just a sentence",
            "the top level is a string, not an object",
        ),
        (b"openapi: 2.5\npaths: {}", "unsupported `openapi` version"),
        (b"{\"swagger\": \"1.2\"}", "unsupported `swagger` version"),
        (
            b"{\"openapi\": \"3.0.0\", \"paths\": []}",
            "`paths` is an array",
        ),
        (b"key: [unclosed", "invalid YAML"),
        (&[0xff, 0xfe, 0x00], "not UTF-8"),
    ];
    for (bytes, expected) in cases {
        let err = error_text(openapi::parse(bytes, "bad.spec").expect_err(expected));
        assert!(err.contains(expected), "expected `{expected}` in: {err}");
        assert!(err.contains("bad.spec"), "origin missing in: {err}");
    }
}

/// A local HTTP server answering each path from `routes` (404 otherwise), for at most
/// `max_requests` connections.
async fn given_http_server(
    routes: Vec<(&'static str, &'static str)>,
    max_requests: usize,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        for _ in 0..max_requests {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let response = match routes.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                ),
                None => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_owned(),
            };
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn urls_are_fetched_with_their_relative_refs_and_errors_say_why() {
    let main = r#"{"openapi": "3.0.0", "info": {"title": "Remote", "version": "1"},
        "paths": {"/a": {"get": {"operationId": "getA", "responses": {"200": {"description": "ok",
        "content": {"application/json": {"schema": {"$ref": "defs/schemas.json#/Thing"}}}}}}}}}"#;
    let defs = r#"{"Thing": {"type": "object", "properties": {"n": {"type": "integer"}}}}"#;
    let base = given_http_server(
        vec![
            ("/api/openapi.json", main),
            ("/api/defs/schemas.json", defs),
        ],
        8,
    )
    .await;
    let spec = openapi::load(&format!("{base}/api/openapi.json"))
        .await
        .expect("remote spec");
    assert!(spec.warnings().is_empty(), "{:?}", spec.warnings());
    assert_eq!(
        spec.servers(),
        std::slice::from_ref(&base),
        "no servers: the origin serves"
    );
    let catalog = openapi::catalog(&spec);
    assert_eq!(
        tool(&catalog, "api.getA")
            .output_schema
            .as_ref()
            .expect("out")["properties"]["n"]["type"],
        "integer"
    );

    let err = error_text(
        openapi::load(&format!("{base}/missing.json"))
            .await
            .expect_err("404"),
    );
    assert!(
        err.contains("HTTP 404") && err.contains("/missing.json"),
        "{err}"
    );
    // Port 9 (discard) on loopback: nothing listens in a test sandbox.
    let err = error_text(
        openapi::load("http://127.0.0.1:9/openapi.json")
            .await
            .expect_err("unreachable"),
    );
    assert!(
        err.contains("cannot fetch OpenAPI spec from `http://127.0.0.1:9/openapi.json`"),
        "{err}"
    );
}

#[test]
fn openapi_3_1_ref_siblings_are_kept() {
    let spec = given_spec(&json!({
        "openapi": "3.1.0",
        "info": { "title": "T", "version": "1" },
        "paths": { "/pets": { "post": {
            "operationId": "addPet",
            "requestBody": { "content": { "application/json": { "schema": {
                "type": "object",
                "properties": {
                    "pet": { "$ref": "#/components/schemas/Pet", "description": "The pet to add." },
                    "strict": { "$ref": "#/components/schemas/Pet", "required": ["name"] },
                    "tag": { "$ref": "#/components/schemas/Tag", "maxLength": 5 }
                }
            } } } },
            "responses": {}
        } } },
        "components": { "schemas": {
            "Pet": { "type": "object", "description": "A pet.", "required": ["id"], "properties": { "name": { "type": ["string", "null"] } } },
            "Tag": { "type": "string" }
        } }
    }));
    let catalog = openapi::catalog(&spec);
    let input = &tool(&catalog, "api.addPet").input_schema;
    // Annotations override.
    assert_eq!(input["properties"]["pet"]["description"], "The pet to add.");
    assert_eq!(
        input["properties"]["pet"]["properties"]["name"]["type"],
        json!(["string", "null"])
    );
    // Clashing constraints both hold: allOf.
    assert_eq!(
        input["properties"]["strict"]["allOf"][0]["required"],
        json!(["id"])
    );
    assert_eq!(
        input["properties"]["strict"]["allOf"][1]["required"],
        json!(["name"])
    );
    // Non-clashing constraints merge.
    assert_eq!(
        input["properties"]["tag"],
        json!({ "type": "string", "maxLength": 5 })
    );
}

#[test]
fn pointer_escapes_and_percent_encoding_in_refs() {
    let spec = given_spec(&given_doc(
        json!({
            "/a/b": { "get": { "operationId": "ab", "responses": { "200": { "description": "ok",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/with~1slash%20and~0tilde" } } } } } } },
            "/c": { "get": { "operationId": "c", "responses": { "200": {
                "$ref": "#/paths/~1a~1b/get/responses/200" } } } }
        }),
        json!({ "with/slash and~tilde": { "type": "integer" } }),
    ));
    assert!(spec.warnings().is_empty(), "{:?}", spec.warnings());
    let catalog = openapi::catalog(&spec);
    assert_eq!(
        tool(&catalog, "api.ab").output_schema,
        Some(json!({ "type": "integer" }))
    );
    assert_eq!(
        tool(&catalog, "api.c").output_schema,
        Some(json!({ "type": "integer" }))
    );
}

#[test]
fn odd_shapes_never_panic() {
    let long_chain: serde_json::Map<String, Value> = (0..300)
        .map(|i| {
            (
                format!("S{i}"),
                json!({ "allOf": [{ "$ref": format!("#/components/schemas/S{}", i + 1) }] }),
            )
        })
        .collect();
    let mut schemas = json!({
        "A": { "$ref": "#/components/schemas/B" },
        "B": { "$ref": "#/components/schemas/A" },
        "T": true,
        "F": false,
        "Weird": { "type": 5, "properties": [1, 2], "required": "x", "allOf": "no", "items": null },
        "Self": { "allOf": [{ "$ref": "#/components/schemas/Self" }] },
        "Num": { "$ref": 7 }
    });
    if let Value::Object(m) = &mut schemas {
        m.extend(long_chain);
    }
    let schema = |name: &str| json!({ "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{name}") } } } });
    let mut paths = serde_json::Map::new();
    for (i, name) in ["A", "T", "F", "Weird", "Self", "Num", "S0", "Missing"]
        .iter()
        .enumerate()
    {
        paths.insert(
            format!("/p{i}/{{id}}/{{unclosed"),
            json!({ "post": {
                "operationId": i,
                "tags": "not-an-array",
                "requestBody": schema(name),
                "responses": { "200": schema(name), "2XX": 5 }
            } }),
        );
    }
    paths.insert("/loop".to_owned(), json!({ "$ref": "#/paths/~1loop" }));
    paths.insert("no-slash".to_owned(), json!({}));
    let doc = json!({
        "openapi": "3.1.0",
        "info": { "title": 5, "version": 2 },
        "servers": [{ "url": "https://{region}.example.com/", "variables": { "region": { "default": "eu" } } }, { "url": 3 }],
        "paths": paths,
        "components": { "schemas": schemas }
    });
    let spec = given_spec(&doc);
    assert_eq!(spec.servers(), ["https://eu.example.com"]);
    assert_eq!(spec.title(), "API");
    assert_eq!(spec.version(), "2");
    assert_eq!(spec.operation_count(), 8, "{:?}", spec.warnings());
    let catalog = openapi::catalog(&spec);
    let _ = spec.resolved();
    for t in &catalog.tools {
        let op = http(t);
        for input in [
            json!({}),
            json!({ "id": "x", "unclosed": 1 }),
            json!({ "id": [1, { "a": 2 }] }),
            json!(null),
            json!("s"),
        ] {
            let _ = openapi::build_request(op, &input);
        }
    }
    for input in [
        json!(null),
        json!({ "path": "/\u{0}" }),
        json!({ "path": "/%zz", "query": { "a": [{}] } }),
    ] {
        let _ = openapi::build_raw_request(&input);
    }
}

// ---------- naming ----------

#[test]
fn names_are_camel_case_unique_and_safe() {
    let op = |id: Option<&str>, tag: Option<&str>| {
        let mut o = json!({ "responses": {} });
        if let Some(id) = id {
            o["operationId"] = json!(id);
        }
        if let Some(tag) = tag {
            o["tags"] = json!([tag]);
        }
        o
    };
    let spec = given_spec(&given_doc(
        json!({
            "/a": { "get": op(Some("repos/list"), Some("repos")), "post": op(Some("repos_list"), Some("repos")), "put": op(Some("list2"), Some("repos")) },
            "/b": { "get": op(Some("list"), Some("repos")), "delete": op(Some("delete"), Some("repos")) },
            "/c": { "get": op(Some("request"), None), "post": op(Some("repos"), None), "put": op(Some("default"), Some("class")) },
            "/users/{user-id}/photo": { "get": op(None, Some("code-scanning")), "patch": op(Some("code-scanning.update-alert"), Some("code-scanning")) },
            "/d": { "get": op(Some("2fa"), Some("2fa")), "post": op(Some("--"), Some("!!")) }
        }),
        json!({}),
    ));
    let catalog = openapi::catalog(&spec);
    let names: Vec<String> = catalog.tools.iter().map(Tool::path).collect();
    assert_eq!(
        names,
        [
            // Operations come in method order (get, put, post, ...). The first keeps a
            // contested name; later ones are numbered, skipping `list2`, which is taken.
            "api.repos.list",
            "api.repos.list2",
            "api.repos.list3",
            "api.repos.list4",
            // Reserved words get a trailing underscore.
            "api.repos.delete_",
            // `api.request` is the escape hatch; `api.repos` is a namespace.
            "api.request2",
            "api.class_.default_",
            "api.repos2",
            "api.codeScanning.getUsersByUserIdPhoto",
            "api.codeScanning.updateAlert",
            "api._2fa._2fa",
            "api.postD",
        ]
    );
    assert_eq!(
        tool(&catalog, "api.repos.list3").original_name,
        "repos_list"
    );
}

// ---------- input merging ----------

#[test]
fn parameters_and_body_properties_merge_into_one_input() {
    let spec = given_spec(&given_doc(
        json!({
            "/items/{name}": {
                "parameters": [ { "name": "name", "in": "path", "required": true, "description": "Item name.", "schema": { "type": "string" } } ],
                "patch": {
                    "operationId": "updateItem",
                    "parameters": [
                        { "name": "id", "in": "query", "schema": { "type": "integer" } },
                        { "name": "id", "in": "header", "schema": { "type": "string" } },
                        { "name": "Accept", "in": "header", "schema": { "type": "string" } }
                    ],
                    "requestBody": { "required": true, "content": { "application/json": { "schema": {
                        "allOf": [
                            { "$ref": "#/components/schemas/Base" },
                            { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" }, "size": { "type": "integer" } } }
                        ]
                    } } } },
                    "responses": { "200": { "description": "ok", "content": { "application/vnd.api+json": { "schema": { "type": "object" } } } } }
                },
                "put": {
                    "operationId": "replaceItems",
                    "deprecated": true,
                    "summary": "Replace items",
                    "description": "Replaces [all items](https://example.com/docs) at once.\n\nMore details.",
                    "requestBody": { "description": "The items.", "content": { "application/json": { "schema": { "type": "array", "items": { "type": "string" } } } } },
                    "responses": { "204": { "description": "done" } }
                }
            }
        }),
        json!({ "Base": { "type": "object", "properties": { "etag": { "type": "string" } } } }),
    ));
    let catalog = openapi::catalog(&spec);
    let update = tool(&catalog, "api.updateItem");
    assert_eq!(
        props(&update.input_schema),
        ["name", "id", "header_id", "etag", "body_name", "size"]
    );
    assert_eq!(required(&update.input_schema), ["name", "body_name"]);
    assert_eq!(update.input_schema["additionalProperties"], false);
    assert_eq!(
        update.input_schema["properties"]["name"]["description"],
        "Item name."
    );
    assert_eq!(
        update.output_schema,
        Some(json!({ "type": "object" })),
        "+json counts as JSON"
    );
    let op = http(update);
    let header = op
        .parameters
        .iter()
        .find(|p| p.location == ParamLocation::Header)
        .expect("header");
    assert_eq!(
        (header.name.as_str(), header.input_name.as_str()),
        ("id", "header_id")
    );
    assert!(
        !op.parameters.iter().any(|p| p.name == "Accept"),
        "Accept is the host's"
    );
    let body = op.body.as_ref().expect("body");
    assert_eq!(body.input_name, None);
    let renamed = body
        .properties
        .iter()
        .find(|p| p.name == "name")
        .expect("name");
    assert_eq!(renamed.input_name, "body_name");

    let req = openapi::build_request(
        op,
        &json!({ "name": "a/b", "id": 3, "header_id": "h", "body_name": "new", "size": 2 }),
    )
    .expect("request");
    assert_eq!(req.method, "PATCH");
    assert_eq!(req.path, "/items/a%2Fb");
    assert_eq!(req.query, [("id".to_owned(), "3".to_owned())]);
    assert_eq!(req.headers, [("id".to_owned(), "h".to_owned())]);
    let body = req.body.expect("body");
    assert_eq!(
        body.content,
        BodyContent::Json(json!({ "name": "new", "size": 2 }))
    );

    // A non-object body goes under `body`.
    let replace = tool(&catalog, "api.replaceItems");
    assert_eq!(props(&replace.input_schema), ["name", "body"]);
    assert_eq!(
        replace.input_schema["properties"]["body"]["description"],
        "The items."
    );
    assert_eq!(
        replace.description,
        "Deprecated. Replace items. Replaces all items at once."
    );
    let req = openapi::build_request(http(replace), &json!({ "name": "x", "body": ["a"] }))
        .expect("request");
    assert_eq!(
        req.body.map(|b| b.content),
        Some(BodyContent::Json(json!(["a"])))
    );
}

// ---------- request building ----------

fn given_request_catalog() -> Catalog {
    let spec = given_spec(&given_doc(
        json!({
            "/repos/{owner}/{repo}/issues": { "get": {
                "operationId": "listIssues",
                "parameters": [
                    { "name": "owner", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "repo", "in": "path", "required": true, "schema": { "type": "string" } },
                    { "name": "labels", "in": "query", "schema": { "type": "array", "items": { "type": "string" } } },
                    { "name": "fields", "in": "query", "explode": false, "schema": { "type": "array", "items": { "type": "string" } } },
                    { "name": "filter", "in": "query", "style": "deepObject", "schema": { "type": "object" } },
                    { "name": "open", "in": "query", "schema": { "type": "boolean" } },
                    { "name": "session", "in": "cookie", "schema": { "type": "string" } },
                    { "name": "X-Trace", "in": "header", "schema": { "type": "string" } }
                ],
                "responses": {}
            } },
            "/ping": { "get": { "operationId": "ping", "responses": {} } }
        }),
        json!({}),
    ));
    openapi::catalog(&spec)
}

#[test]
fn requests_fill_and_encode_the_path_and_serialise_the_query() {
    let catalog = given_request_catalog();
    let op = http(tool(&catalog, "api.listIssues"));
    let req = openapi::build_request(
        op,
        &json!({
            "owner": "me too", "repo": "ü/x", "labels": ["bug", "ui"], "fields": ["a", "b"],
            "filter": { "state": "open", "since": { "day": 1 } }, "open": true,
            "session": "s1", "X-Trace": 7
        }),
    )
    .expect("request");
    assert_eq!(req.path, "/repos/me%20too/%C3%BC%2Fx/issues");
    let q = query_pairs(&req);
    assert_eq!(
        q,
        [
            ("labels", "bug"),
            ("labels", "ui"),
            ("fields", "a,b"),
            ("filter[state]", "open"),
            ("filter[since][day]", "1"),
            ("open", "true"),
        ]
    );
    assert_eq!(
        req.headers,
        [
            ("X-Trace".to_owned(), "7".to_owned()),
            ("Cookie".to_owned(), "session=s1".to_owned())
        ]
    );
    assert!(req.body.is_none());
}

#[test]
fn request_errors_tell_the_model_what_to_do() {
    let catalog = given_request_catalog();
    let op = http(tool(&catalog, "api.listIssues"));
    let err =
        error_text(openapi::build_request(op, &json!({ "owner": "o" })).expect_err("missing"));
    assert_eq!(
        err,
        "invalid input for GET /repos/{owner}/{repo}/issues: missing required property `repo` (path parameter); required: owner, repo"
    );
    let err = error_text(
        openapi::build_request(op, &json!({ "owner": "o", "repo": "r", "lables": [] }))
            .expect_err("unknown"),
    );
    assert!(err.contains("unknown property `lables`; did you mean `labels`? valid properties: owner, repo, labels"), "{err}");
    let err = error_text(
        openapi::build_request(op, &json!({ "owner": { "login": "o" }, "repo": "r" }))
            .expect_err("type"),
    );
    assert!(
        err.contains(
            "wrong type for path parameter `owner`: expected a string or number, got an object"
        ),
        "{err}"
    );
    let err = error_text(
        openapi::build_request(op, &json!({ "owner": "", "repo": "r" })).expect_err("empty"),
    );
    assert!(err.contains("path parameter `owner` is empty"), "{err}");
    let err = error_text(
        openapi::build_request(
            op,
            &json!({ "owner": "o", "repo": "r", "X-Trace": "a\r\nb" }),
        )
        .expect_err("crlf"),
    );
    assert!(err.contains("line break"), "{err}");
    let err = error_text(openapi::build_request(op, &json!(["o", "r"])).expect_err("array"));
    assert!(err.contains("expected one object of named properties, got an array; call it like `({ owner: …, repo: … })`"), "{err}");
    let ping = http(tool(&catalog, "api.ping"));
    let err = error_text(openapi::build_request(ping, &json!({ "x": 1 })).expect_err("no input"));
    assert!(err.contains("this operation takes no input"), "{err}");
    assert!(openapi::build_request(ping, &Value::Null).is_ok());
}

#[test]
fn raw_requests_are_validated() {
    let req = openapi::build_raw_request(&json!({
        "method": "post", "path": "/v1/things?x=1&y=a+b", "query": { "tag": ["a", "b"], "n": 2 },
        "headers": { "X-Mode": "fast" }, "body": { "k": 1 }
    }))
    .expect("raw");
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/things");
    let q = query_pairs(&req);
    assert_eq!(
        q,
        [
            ("x", "1"),
            ("y", "a b"),
            ("tag", "a"),
            ("tag", "b"),
            ("n", "2")
        ]
    );
    assert_eq!(req.headers, [("X-Mode".to_owned(), "fast".to_owned())]);
    assert_eq!(
        req.body.map(|b| (b.content_type, b.content)),
        Some((
            "application/json".to_owned(),
            BodyContent::Json(json!({ "k": 1 }))
        ))
    );

    let text = openapi::build_raw_request(&json!({ "method": "PUT", "path": "/notes/a b", "headers": { "content-type": "text/plain" }, "body": "hi" }))
        .expect("text body");
    assert_eq!(text.path, "/notes/a%20b");
    assert_eq!(
        text.body.map(|b| (b.content_type, b.content)),
        Some(("text/plain".to_owned(), BodyContent::Bytes(b"hi".to_vec())))
    );

    for (input, expected) in [
        (
            json!({ "path": "https://evil.example/x" }),
            "the host and scheme are fixed",
        ),
        (json!({ "path": "//evil.example/x" }), "is not a path"),
        (json!({ "path": "users" }), "must start with a single `/`"),
        (json!({ "path": "/a/../admin" }), "`..` segments"),
        (
            json!({ "method": "BREW", "path": "/" }),
            "unsupported method `BREW`",
        ),
        (
            json!({ "path": "/", "header": {} }),
            "unknown property `header`; did you mean `headers`?",
        ),
        (
            json!({ "path": "/", "headers": { "Host": "x" } }),
            "set by the host",
        ),
        (
            json!({ "path": "/", "headers": { "bad name": "x" } }),
            "not a valid header name",
        ),
        (
            json!({ "method": "GET", "path": "/", "body": {} }),
            "cannot have a body",
        ),
        (json!({ "method": "GET" }), "missing `path`"),
    ] {
        let err = error_text(openapi::build_raw_request(&input).expect_err(expected));
        assert!(err.contains(expected), "expected `{expected}` in: {err}");
    }
}

/// The request's query as borrowed pairs, for comparing with literals.
fn query_pairs(req: &openapi::HttpRequestParts) -> Vec<(&str, &str)> {
    req.query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}
