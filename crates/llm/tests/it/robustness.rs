//! Rate limits, server errors, stalls, garbage, cut streams, a dead endpoint, and the key
//! never showing in errors or logs.

use crate::{
    BOTH, KEY, drain, fast_options, given_logs, given_model, given_request, given_scripted, http,
};
use llm::scripted::{Reply, ScriptedModel};
use llm::{
    ApiKey, Endpoint, Error, Message, Model, ModelSpec, Options, ProviderKind, RetryPolicy,
    StreamEvent,
};
use std::time::{Duration, Instant, SystemTime};

fn hello() -> llm::Request {
    given_request(vec![Message::user("Hello?")])
}

#[tokio::test]
async fn a_429_is_retried_after_the_time_the_server_asks_for() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(Reply::rate_limited("1"));
        server.push(Reply::new().text("Hi."));
        let started = Instant::now();
        let completion = model
            .complete(&hello())
            .await
            .expect("second attempt succeeds");
        assert_eq!(completion.message.text(), "Hi.");
        assert!(
            started.elapsed() >= Duration::from_millis(950),
            "waited {:?}",
            started.elapsed()
        );
        assert_eq!(server.requests().len(), 2);
    }
}

#[tokio::test]
async fn retry_after_as_an_http_date_and_the_cap_on_waiting() {
    let server = given_scripted().await;
    // A date already past: retry at once.
    let past = httpdate_string(SystemTime::now() - Duration::from_secs(5));
    server.push(Reply::rate_limited(past));
    // An hour: capped at the policy's maximum (here 2 s would be too slow; use 100 ms).
    server.push(Reply::rate_limited("3600"));
    server.push(Reply::new().text("Hi."));
    let mut options = fast_options();
    options.retry.max_backoff = Duration::from_millis(100);
    let model = given_model(&server, ProviderKind::OpenAi).with_options(options);
    let started = Instant::now();
    model
        .complete(&hello())
        .await
        .expect("third attempt succeeds");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 3);
}

fn httpdate_string(at: SystemTime) -> String {
    // RFC 7231's IMF-fixdate, the form servers send.
    let secs = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let days = secs / 86_400;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {h:02}:{m:02}:{s:02} GMT",
        months[(month - 1) as usize]
    )
}

#[tokio::test]
async fn server_errors_are_retried_and_then_reported_with_status_and_message() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(Reply::error(503, "overloaded"));
        server.push(Reply::error(500, "oops"));
        server.push(Reply::new().text("Hi."));
        model
            .complete(&hello())
            .await
            .expect("third attempt succeeds");

        for _ in 0..4 {
            server.push(Reply::error(529, "Overloaded, try later"));
        }
        let error = model
            .complete(&hello())
            .await
            .expect_err("retries exhausted");
        match &error {
            Error::Http {
                status,
                attempts,
                message,
                ..
            } => {
                assert_eq!((*status, *attempts), (529, 4));
                assert_eq!(message, "Overloaded, try later");
            }
            other => panic!("{other:?}"),
        }
        assert!(error.is_transient());
    }
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let server = given_scripted().await;
    let model = given_model(&server, ProviderKind::Anthropic);
    server.push(Reply::error(400, "messages: roles must alternate"));
    let error = model.complete(&hello()).await.expect_err("refused");
    assert!(
        matches!(
            error,
            Error::Http {
                status: 400,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("roles must alternate"));
    assert!(!error.is_transient());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_silent_stream_stops_at_the_stall_timeout_and_keeps_what_arrived() {
    for provider in BOTH {
        let server = given_scripted().await;
        let options = Options {
            stall_timeout: Duration::from_millis(300),
            ..fast_options()
        };
        let model = given_model(&server, provider).with_options(options);
        server.push(Reply::new().text("Partial an").then_stall());
        let started = Instant::now();
        let mut stream = model.stream(&hello()).await.expect("headers arrive");
        let (events, error) = drain(&mut stream).await;
        assert!(
            matches!(error, Some(Error::Stall { .. })),
            "{provider}: {error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(events.contains(&StreamEvent::TextDelta {
            text: "Partial an".into()
        }));
        assert_eq!(stream.partial().text(), "Partial an");
        assert!(stream.next().await.is_none(), "nothing after the error");
    }
}

#[tokio::test]
async fn a_slow_first_byte_within_the_stall_timeout_is_fine_and_past_it_is_retried() {
    let server = given_scripted().await;
    let options = Options {
        stall_timeout: Duration::from_millis(400),
        ..fast_options()
    };
    let model = given_model(&server, ProviderKind::OpenAi).with_options(options);
    server.push(
        Reply::new()
            .text("slow")
            .first_delay(Duration::from_millis(100)),
    );
    assert_eq!(
        model.complete(&hello()).await.expect("fine").message.text(),
        "slow"
    );
    server.push(
        Reply::new()
            .text("too slow")
            .first_delay(Duration::from_secs(2)),
    );
    server.push(Reply::new().text("second try"));
    assert_eq!(
        model
            .complete(&hello())
            .await
            .expect("retried")
            .message
            .text(),
        "second try"
    );
}

#[tokio::test]
async fn garbage_in_the_stream_is_a_typed_error_and_the_text_before_it_stays() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(Reply::new().text("Before ").garbage("data: {not json\n\n"));
        let mut stream = model.stream(&hello()).await.expect("stream");
        let (events, error) = drain(&mut stream).await;
        // The text decoded before the garbage is delivered before the error.
        assert_eq!(
            events.last(),
            Some(&StreamEvent::TextDelta {
                text: "Before ".into()
            })
        );
        let error = error.expect("garbage");
        assert!(
            matches!(error, Error::Malformed { .. }),
            "{provider}: {error:?}"
        );
        assert!(error.to_string().contains("{not json"), "{error}");
        assert_eq!(stream.partial().text(), "Before ");

        if provider == ProviderKind::OpenAi {
            // In one write, so in one chunk: the text still comes first.
            let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"One\"}}]}\n\ndata: {oops\n\n";
            server.push(Reply::raw(200, "text/event-stream", body));
            let mut stream = model.stream(&hello()).await.expect("stream");
            let (events, error) = drain(&mut stream).await;
            assert_eq!(events, [StreamEvent::TextDelta { text: "One".into() }]);
            assert!(matches!(error, Some(Error::Malformed { .. })), "{error:?}");
        }

        // Not even server-sent events: an HTML page with status 200.
        server.push(Reply::raw(
            200,
            "text/html",
            "<html><body>Gateway says hi</body></html>\n",
        ));
        let error = model.complete(&hello()).await.expect_err("html");
        assert!(
            error
                .to_string()
                .contains("expected server-sent events, got `<html>"),
            "{error}"
        );
    }
}

#[tokio::test]
async fn a_stream_that_ends_early_is_truncated_with_the_partial_message() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(
            Reply::new()
                .text("Half an answer")
                .tool_call("call_1", "get_weather", serde_json::json!({"city": "Oslo"}))
                .tool_call_raw("call_2", "get_weather", [r#"{"ci"#])
                .then_close(),
        );
        let mut stream = model.stream(&hello()).await.expect("stream");
        let error = stream.collect().await.expect_err("cut");
        assert!(
            matches!(error, Error::Truncated { .. }),
            "{provider}: {error:?}"
        );
        let partial = stream.partial();
        assert_eq!(partial.text(), "Half an answer");
        // The Anthropic call 1 had its content_block_stop; OpenAI finishes calls only at
        // finish_reason, so an unfinished call is left out rather than run half-written.
        let ids: Vec<&str> = partial.tool_calls().map(|c| c.id.as_str()).collect();
        match provider {
            ProviderKind::Anthropic => assert_eq!(ids, ["call_1"]),
            ProviderKind::OpenAi => assert!(ids.is_empty(), "{ids:?}"),
        }

        server.push(Reply::new().text("Cut").then_abort());
        let mut stream = model.stream(&hello()).await.expect("stream");
        let error = stream.collect().await.expect_err("aborted");
        assert!(
            matches!(error, Error::Read { .. } | Error::Truncated { .. }),
            "{provider}: {error:?}"
        );
        assert_eq!(stream.partial().text(), "Cut");
    }
}

#[tokio::test]
async fn a_provider_error_event_mid_stream_is_reported() {
    let server = given_scripted().await;
    let model = given_model(&server, ProviderKind::Anthropic);
    server.push(Reply::new().text("Hel").garbage(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    ).then_close());
    let mut stream = model.stream(&hello()).await.expect("stream");
    let error = stream.collect().await.expect_err("error event");
    assert_eq!(
        error.to_string(),
        "the provider reported an error mid-stream (overloaded_error): Overloaded"
    );
    assert_eq!(stream.partial().text(), "Hel");

    let model = given_model(&server, ProviderKind::OpenAi);
    server.push(
        Reply::new()
            .text("Hel")
            .garbage("data: {\"error\":{\"message\":\"upstream timed out\",\"code\":502}}\n\n")
            .then_close(),
    );
    let error = model.complete(&hello()).await.expect_err("error chunk");
    assert!(
        error.to_string().contains("(502): upstream timed out"),
        "{error}"
    );
}

#[tokio::test]
async fn an_endpoint_that_is_down_is_retried_then_reported() {
    // A port nothing listens on: bind one, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    for provider in BOTH {
        let endpoint = Endpoint {
            spec: ModelSpec::new(provider, "m"),
            base_url: format!("http://127.0.0.1:{port}"),
            api_key: ApiKey::new(KEY),
        };
        let model = Model::new(http(), endpoint).with_options(fast_options());
        let error = model.complete(&hello()).await.expect_err("down");
        let text = error.to_string();
        assert!(
            matches!(error, Error::Connect { attempts: 4, .. }),
            "{error:?}"
        );
        assert!(
            text.contains(&format!("127.0.0.1:{port}"))
                && text.contains("check that the server is running"),
            "{text}"
        );
        assert!(error.is_transient());
    }
}

const RIGHT: &str = "sk-the-right-one-abcdef";

#[tokio::test]
async fn the_key_never_appears_in_errors_debug_output_or_logs() {
    let (logs, _guard) = given_logs();
    // The server wants another key and, like real providers, quotes the one it got.
    let server = ScriptedModel::start_with_key(RIGHT).await.expect("server");
    for provider in BOTH {
        let endpoint = Endpoint {
            spec: ModelSpec::new(provider, "m"),
            base_url: server.base_url(provider),
            api_key: ApiKey::new(KEY),
        };
        let model = Model::new(http(), endpoint).with_options(fast_options());
        let error = model.complete(&hello()).await.expect_err("401");
        assert!(
            matches!(error, Error::Http { status: 401, .. }),
            "{error:?}"
        );
        for text in [
            error.to_string(),
            format!("{error:?}"),
            format!("{model:?}"),
        ] {
            assert!(!text.contains(KEY), "{text}");
        }
        assert!(
            error
                .to_string()
                .contains("Incorrect API key provided: <redacted>"),
            "{error}"
        );
        // The key was sent, though.
        assert_eq!(
            server
                .requests()
                .last()
                .and_then(|r| r.api_key.clone())
                .as_deref(),
            Some(KEY)
        );

        // Errors quoted from a stream and retried failures (which are logged).
        server.push(Reply::error(500, format!("upstream rejected {RIGHT}")));
        server.push(Reply::new().garbage(format!("data: {{bad {RIGHT}\n\n")));
        let right = Endpoint {
            spec: ModelSpec::new(provider, "m"),
            base_url: server.base_url(provider),
            api_key: ApiKey::new(RIGHT),
        };
        let model = Model::new(http(), right).with_options(fast_options());
        let error = model.complete(&hello()).await.expect_err("garbage");
        assert!(matches!(error, Error::Malformed { .. }), "{error:?}");
        let text = format!("{error} {error:?}");
        assert!(
            !text.contains(RIGHT) && text.contains("<redacted>"),
            "{text}"
        );
    }
    let logged = logs.text();
    // This thread's subscriber saw the requests (the retry's own warning can be missed when
    // another test's thread, with no subscriber, met that log line first: tracing caches
    // per-callsite interest; the failed attempt's message is the error's, checked above).
    assert!(!logged.is_empty(), "nothing was logged");
    assert!(!logged.contains(RIGHT) && !logged.contains(KEY), "{logged}");
}

#[tokio::test]
async fn retries_stop_when_the_policy_allows_none() {
    let server = given_scripted().await;
    let options = Options {
        retry: RetryPolicy {
            max_retries: 0,
            ..fast_options().retry
        },
        ..fast_options()
    };
    let model = given_model(&server, ProviderKind::OpenAi).with_options(options);
    server.push(Reply::rate_limited("0"));
    let error = model.complete(&hello()).await.expect_err("no retries");
    assert!(
        matches!(
            error,
            Error::Http {
                status: 429,
                attempts: 1,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_json_body_where_events_were_expected_is_explained() {
    for provider in BOTH {
        let server = given_scripted().await;
        let model = given_model(&server, provider);
        server.push(Reply::raw(
            200,
            "application/json",
            r#"{"error":{"message":"quota exceeded"}}"#,
        ));
        let error = model.complete(&hello()).await.expect_err("error body");
        assert!(
            matches!(&error, Error::Provider { message, .. } if message == "quota exceeded"),
            "{error:?}"
        );
        server.push(Reply::raw(
            200,
            "application/json",
            r#"{"choices":[{"message":{"content":"hi"}}]}"#,
        ));
        let error = model
            .complete(&hello())
            .await
            .expect_err("not streamed")
            .to_string();
        assert!(error.contains("does it support `stream: true`?"), "{error}");
    }
}

#[tokio::test]
async fn http_errors_say_what_to_check() {
    let server = given_scripted().await;
    let model = given_model(&server, ProviderKind::OpenAi);
    server.push(Reply::error(404, "The model `gpt-9` does not exist"));
    let error = model.complete(&hello()).await.expect_err("404").to_string();
    assert!(
        error.contains("HTTP 404")
            && error.contains("does not exist")
            && error.contains("check the base URL and the model name"),
        "{error}"
    );
}
