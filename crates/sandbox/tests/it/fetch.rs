//! `fetch`, `Request`, `Response` and `Headers` in the isolate, against a fake `__fetch.fetch`
//! binding (the real fetcher, with its policy, is tested in codemode).

use crate::support::{run, run_with};
use sandbox::{Bindings, HostError, Limits};
use serde_json::{Value, json};

/// Answers every request with an echo of what the isolate sent, except URLs that ask for
/// an error or a binary body.
fn given_fake_fetch() -> Bindings {
    Bindings::new().function("__fetch", "fetch", |request: Value| async move {
        let url = request["url"].as_str().unwrap_or_default().to_owned();
        if url.contains("denied") {
            return Err(HostError::new(
                "HOST_NOT_ALLOWED",
                "fetch: host denied.example is not allowed; allowed hosts: api.example.com",
            )
            .with_name("FetchDenied"));
        }
        if url.contains("binary") {
            return Ok(json!({
                "status": 200, "statusText": "OK", "url": url, "redirected": false,
                "headers": [["content-type", "application/octet-stream"]],
                "bodyBase64": "AAH/",
            }));
        }
        Ok(json!({
            "status": 201, "statusText": "Created", "url": url, "redirected": true,
            "headers": [["Content-Type", "application/json"], ["set-cookie", "a=1"], ["set-cookie", "b=2"]],
            "body": json!({ "echo": request }).to_string(),
        }))
    })
}

async fn run_fetch(code: &str) -> sandbox::Outcome {
    run_with(code, Limits::default(), given_fake_fetch()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_is_absent_without_the_binding() {
    let outcome =
        run("[typeof fetch, typeof Request, typeof Response, typeof Headers, typeof __fetch]")
            .await;
    assert_eq!(
        outcome.result,
        Some(json!([
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined"
        ]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_binding_installs_fetch_but_not_the_raw_host_function() {
    let outcome = run_fetch(
        "[typeof fetch, typeof Request, typeof Response, typeof Headers, typeof __fetch, Object.keys(globalThis).includes('__fetch')]",
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.result,
        Some(json!([
            "function",
            "function",
            "function",
            "function",
            "undefined",
            false
        ]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_sends_method_headers_and_body_and_reads_json() {
    let outcome = run_fetch(
        r#"
        const res = await fetch("https://api.example.com/items", {
          method: "post",
          headers: { "X-Trace": "1", "Content-Type": "application/json" },
          body: JSON.stringify({ name: "a" }),
        });
        const data = await res.json();
        return {
          status: res.status, statusText: res.statusText, ok: res.ok, url: res.url,
          redirected: res.redirected, type: res.headers.get("content-type"),
          cookies: res.headers.getSetCookie(), bodyUsed: res.bodyUsed, sent: data.echo,
        };
        "#,
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.result,
        Some(json!({
            "status": 201, "statusText": "Created", "ok": true,
            "url": "https://api.example.com/items", "redirected": true,
            "type": "application/json", "cookies": ["a=1", "b=2"], "bodyUsed": true,
            "sent": {
                "url": "https://api.example.com/items", "method": "POST",
                "headers": [["content-type", "application/json"], ["x-trace", "1"]],
                "body": "{\"name\":\"a\"}",
            },
        }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_bodies_travel_as_base64_both_ways() {
    let outcome = run_fetch(
        r#"
        const sent = await (await fetch("https://api.example.com/up", { method: "PUT", body: new Uint8Array([0, 1, 255]) })).json();
        const res = await fetch("https://api.example.com/binary");
        const bytes = [...new Uint8Array(await res.arrayBuffer())];
        return [sent.echo.bodyBase64, sent.echo.body, bytes];
        "#,
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.result, Some(json!(["AAH/", null, [0, 1, 255]])));
}

#[tokio::test(flavor = "multi_thread")]
async fn host_errors_reject_as_type_error_with_the_code() {
    let outcome = run_fetch(
        r#"
        try { await fetch("https://denied.example/"); }
        catch (e) { return [e instanceof TypeError, e.name, e.code, e.message]; }
        "#,
    )
    .await;
    assert_eq!(
        outcome.result,
        Some(json!([
            true,
            "TypeError",
            "HOST_NOT_ALLOWED",
            "fetch: host denied.example is not allowed; allowed hosts: api.example.com"
        ]))
    );
    let uncaught = run_fetch("await fetch('https://denied.example/')").await;
    let error = uncaught.error.expect("fails");
    assert_eq!(
        (error.name.as_str(), error.code.as_deref()),
        ("TypeError", Some("HOST_NOT_ALLOWED"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_are_case_insensitive_sorted_and_combined() {
    let outcome = run_fetch(
        r#"
        const h = new Headers({ "Content-Type": "text/plain" });
        h.append("X-A", "1"); h.append("x-a", "2"); h.set("ACCEPT", " json ");
        const seen = [];
        h.forEach((v, k) => seen.push(k + "=" + v));
        h.delete("CONTENT-type");
        const bad = (() => { try { h.set("bad name", "x"); } catch (e) { return e.name; } })();
        return {
          get: h.get("x-A"), has: h.has("Accept"), missing: h.get("nope"), seen,
          entries: [...h], afterDelete: h.has("content-type"), bad,
          fromPairs: [...new Headers([["B", "2"], ["a", "1"]]).keys()],
          tag: Object.prototype.toString.call(h),
        };
        "#,
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.result,
        Some(json!({
            "get": "1, 2", "has": true, "missing": null,
            "seen": ["accept=json", "content-type=text/plain", "x-a=1, 2"],
            "entries": [["accept", "json"], ["x-a", "1, 2"]], "afterDelete": false,
            "bad": "TypeError", "fromPairs": ["a", "b"], "tag": "[object Headers]",
        }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn request_and_response_basics() {
    let outcome = run_fetch(
        r#"
        const req = new Request("https://api.example.com/x", { method: "patch", body: "hi" });
        const copy = req.clone();
        const getWithBody = (() => { try { new Request("https://a/", { method: "GET", body: "x" }); } catch (e) { return e.name; } })();
        const objectBody = (() => { try { new Request("https://a/", { method: "POST", body: { a: 1 } }); } catch (e) { return e.message.includes("JSON.stringify"); } })();
        const res = new Response("plain", { status: 404, headers: { "X-Y": "z" } });
        const twice = await res.clone().text() + "|" + await res.text();
        const again = await res.text().catch((e) => e.name);
        const json = Response.json({ a: 1 });
        const notJson = await new Response("<html>", { status: 502 }).json().catch((e) => [e.name, e.message.includes("status 502")]);
        const badStatus = (() => { try { new Response(null, { status: 99 }); } catch (e) { return e.name; } })();
        return {
          method: req.method, url: req.url, type: req.headers.get("content-type"),
          text: await req.text(), copy: await copy.text(), used: [req.bodyUsed, copy.bodyUsed],
          getWithBody, objectBody, status: res.status, ok: res.ok, xy: res.headers.get("x-y"),
          twice, again, json: [json.headers.get("content-type"), await json.json()],
          notJson, badStatus, empty: [new Response().body, await new Response().text()],
          redirect: [Response.redirect("https://b/", 301).status, Response.redirect("https://b/").headers.get("location")],
        };
        "#,
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(
        outcome.result,
        Some(json!({
            "method": "patch", "url": "https://api.example.com/x", "type": "text/plain;charset=UTF-8",
            "text": "hi", "copy": "hi", "used": [true, true],
            "getWithBody": "TypeError", "objectBody": true, "status": 404, "ok": false, "xy": "z",
            "twice": "plain|plain", "again": "TypeError",
            "json": ["application/json", {"a": 1}],
            "notJson": ["SyntaxError", true], "badStatus": "RangeError", "empty": [null, ""],
            "redirect": [301, "https://b/"],
        }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn response_body_reads_as_one_chunk_stream() {
    let outcome = run_fetch(
        r#"
        const res = await fetch("https://api.example.com/binary");
        const chunks = [];
        for await (const chunk of res.body) chunks.push([...chunk]);
        return [chunks, res.bodyUsed];
        "#,
    )
    .await;
    assert_eq!(outcome.error, None);
    assert_eq!(outcome.result, Some(json!([[[0, 1, 255]], true])));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_namespace_named_like_a_fetch_global_is_refused() {
    let bindings = given_fake_fetch().function("Headers", "x", |_| async move { Ok(json!(1)) });
    let outcome = run_with("1", Limits::default(), bindings).await;
    let error = outcome.error.expect("refused");
    assert!(error.message.contains("`Headers`"), "{}", error.message);
}
