//! Session trees over HTTP and in `islet chat` (issue 15, items 5 and 6), against a real
//! `islet serve` whose model is the scripted one.

use llm::scripted::{Reply, ScriptedModel};
use serde_json::{Value, json};

use super::{ASSISTANT, Server, given_agents_dir, given_chat_server, given_server_env};
use crate::support::{client, islet_with_env, text};

/// One whole chat turn; the session id.
async fn chat(server: &Server, body: Value) -> String {
    let response = client()
        .post(format!("{}/agents/Assistant/me/chat", server.base))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let session = response.headers()["x-islet-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let stream = response.text().await.unwrap();
    assert!(stream.contains("\"type\":\"finish\""), "{stream}");
    session
}

fn ask(text: &str) -> Value {
    json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": text}]}]})
}

/// A request with any method; the status and the body as JSON (`null` when empty).
async fn send(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client()
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(&server.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn ids(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

fn texts(messages: &Value) -> Vec<String> {
    messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_session_tree_routes_branch_fork_search_rename_compact_delete() {
    let model = ScriptedModel::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_chat_server(&agents, &dir.path().join("data"), &model, &[]);
    const A: &str = "/agents/Assistant/me";

    model.push(Reply::new().text("Paris.").usage(10, 2));
    model.push(Reply::new().text("Berlin.").usage(20, 3));
    let session = chat(&server, ask("Capital of France?")).await;
    let mut second = ask("Capital of Germany?");
    second["sessionId"] = json!(session);
    chat(&server, second).await;
    let s = format!("{A}/sessions/{session}");

    // The session with its usage, its history and (no) compactions.
    let (status, got) = send(&server, "GET", &s, None).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["session"]["usage"],
        json!({"inputTokens": 30, "outputTokens": 5})
    );
    assert_eq!(got["compactions"], json!([]));
    let history = got["messages"].clone();
    let [u1, a1, u2, a2] = <[String; 4]>::try_from(ids(&history)).unwrap();

    // Edit the second question: a new branch under the first answer.
    model.push(Reply::new().text("Madrid."));
    let mut edit = ask("Capital of Spain?");
    edit["sessionId"] = json!(session);
    edit["parentId"] = json!(a1);
    assert_eq!(chat(&server, edit).await, session);
    let (status, now) = send(&server, "GET", &format!("{s}/messages"), None).await;
    assert_eq!(status, 200, "{now}");
    assert_eq!(
        texts(&now["messages"]),
        [
            "Capital of France?",
            "Paris.",
            "Capital of Spain?",
            "Madrid."
        ]
    );
    let a3 = now["leafId"].as_str().unwrap().to_owned();
    let u3 = ids(&now["messages"])[2].clone();

    // The alternatives at the second question, with where each branch went.
    let (status, branches) =
        send(&server, "GET", &format!("{A}/messages/{u2}/branches"), None).await;
    assert_eq!(status, 200, "{branches}");
    assert_eq!(branches["index"], 0);
    assert_eq!(ids(&branches["siblings"]), [u2.clone(), u3.clone()]);
    assert_eq!(branches["latestLeafIds"], json!([a2, a3]));

    // The history of any leaf, and switching branch.
    let (_, old) = send(&server, "GET", &format!("{s}/messages?leaf={a2}"), None).await;
    assert_eq!(
        ids(&old["messages"]),
        [u1.clone(), a1.clone(), u2.clone(), a2.clone()]
    );
    let (status, switched) = send(
        &server,
        "POST",
        &format!("{s}/leaf"),
        Some(json!({"messageId": u2})),
    )
    .await;
    assert_eq!(status, 200, "{switched}");
    assert_eq!(
        switched["session"]["leafId"],
        json!(a2),
        "to where the branch went"
    );
    let (_, exact) = send(
        &server,
        "POST",
        &format!("{s}/leaf"),
        Some(json!({"messageId": u2, "exact": true})),
    )
    .await;
    assert_eq!(exact["session"]["leafId"], json!(u2));
    send(
        &server,
        "POST",
        &format!("{s}/leaf"),
        Some(json!({"messageId": a2})),
    )
    .await;

    // Search within the session and across sessions.
    let (status, found) = send(&server, "GET", &format!("{s}/search?q=germany"), None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["hits"][0]["messageId"], json!(u2));
    let (_, found) = send(
        &server,
        "GET",
        &format!("{A}/sessions/search?q=Madrid"),
        None,
    )
    .await;
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["hits"][0]["sessionId"], json!(session));

    // Fork at the first answer: a new session of two messages.
    let (status, forked) = send(
        &server,
        "POST",
        &format!("{s}/fork"),
        Some(json!({"atMessage": a1, "title": "France only"})),
    )
    .await;
    assert_eq!(status, 201, "{forked}");
    let fork = forked["session"]["id"].as_str().unwrap().to_owned();
    assert_ne!(fork, session);
    assert_eq!(forked["session"]["messageCount"], 2);
    assert_eq!(forked["session"]["forkedFrom"]["messageId"], json!(a1));
    assert_eq!(forked["session"]["title"], "France only");
    // A message of another session cannot become this one's leaf.
    let (_, fork_history) = send(
        &server,
        "GET",
        &format!("{A}/sessions/{fork}/messages"),
        None,
    )
    .await;
    let foreign = ids(&fork_history["messages"])[0].clone();
    assert_ne!(foreign, u1, "a fork copies messages under new ids");
    let (status, error) = send(
        &server,
        "POST",
        &format!("{s}/leaf"),
        Some(json!({"messageId": foreign, "exact": true})),
    )
    .await;
    assert_eq!(status, 400, "{error}");

    // Rename.
    let (status, renamed) = send(&server, "PATCH", &s, Some(json!({"title": "Capitals"}))).await;
    assert_eq!(status, 200, "{renamed}");
    assert_eq!(renamed["session"]["title"], "Capitals");

    // Compact: everything before the latest question, summarised by the model.
    model.push(
        Reply::new()
            .text("SUMMARY-3K: France's capital is Paris.")
            .usage(7, 4),
    );
    let (status, compacted) = send(&server, "POST", &format!("{s}/compact"), None).await;
    assert_eq!(status, 200, "{compacted}");
    assert_eq!(compacted["messages"], 2);
    assert_eq!(compacted["compaction"]["firstId"], json!(u1));
    assert_eq!(compacted["compaction"]["lastId"], json!(a1));
    let summary_request = model.requests().last().unwrap().body.clone();
    assert!(summary_request.to_string().contains("Capital of France?"));
    let (_, got) = send(&server, "GET", &s, None).await;
    assert_eq!(got["compactions"].as_array().unwrap().len(), 1);
    assert_eq!(
        got["messages"].as_array().unwrap().len(),
        4,
        "nothing is deleted"
    );
    assert_eq!(got["session"]["usage"]["inputTokens"], 37);

    // The next turn's prompt is the overlay.
    model.push(Reply::new().text("Rome."));
    let mut next = ask("Capital of Italy?");
    next["sessionId"] = json!(session);
    chat(&server, next).await;
    let prompt = model.requests().last().unwrap().body.to_string();
    assert!(prompt.contains("SUMMARY-3K"), "{prompt}");
    assert!(!prompt.contains("Capital of France?"), "{prompt}");
    assert!(prompt.contains("Capital of Germany?"), "{prompt}");

    // The AI SDK's regenerate(): the question again, beside the first asking, answered
    // anew; the old answer is not in the prompt.
    model.push(Reply::new().text("Roma."));
    let mut again = ask("Capital of Italy?");
    again["sessionId"] = json!(session);
    again["trigger"] = json!("regenerate-message");
    chat(&server, again).await;
    let prompt = model.requests().last().unwrap().body.to_string();
    assert!(!prompt.contains("Rome."), "{prompt}");
    let (_, now) = send(&server, "GET", &format!("{s}/messages"), None).await;
    let now_ids = ids(&now["messages"]);
    assert_eq!(texts(&now["messages"]).last().unwrap(), "Roma.");
    let question = &now_ids[now_ids.len() - 2];
    let (_, branches) = send(
        &server,
        "GET",
        &format!("{A}/messages/{question}/branches"),
        None,
    )
    .await;
    assert_eq!(
        texts(&branches["siblings"]),
        ["Capital of Italy?", "Capital of Italy?"]
    );
    assert_eq!(branches["index"], 1);

    // regenerate({ messageId }): an earlier answer (Berlin.) asked again beside its
    // question, with only that question's history in the prompt.
    model.push(Reply::new().text("Berlin, since 1990."));
    let mut earlier = ask("Capital of Germany?");
    earlier["sessionId"] = json!(session);
    earlier["trigger"] = json!("regenerate-message");
    earlier["messageId"] = json!(a2);
    chat(&server, earlier).await;
    let prompt = model.requests().last().unwrap().body.to_string();
    assert!(prompt.contains("Paris."), "{prompt}");
    assert!(
        !prompt.contains("Berlin.") && !prompt.contains("Ital"),
        "{prompt}"
    );
    let (_, branches) = send(&server, "GET", &format!("{A}/messages/{u2}/branches"), None).await;
    assert_eq!(
        texts(&branches["siblings"]),
        [
            "Capital of Germany?",
            "Capital of Spain?",
            "Capital of Germany?"
        ]
    );
    let (_, now) = send(&server, "GET", &format!("{s}/messages"), None).await;
    assert_eq!(
        texts(&now["messages"]).last().unwrap(),
        "Berlin, since 1990."
    );

    // Delete the fork; the original stays.
    let (status, _) = send(&server, "DELETE", &format!("{A}/sessions/{fork}"), None).await;
    assert_eq!(status, 204);
    let (status, gone) = send(&server, "GET", &format!("{A}/sessions/{fork}"), None).await;
    assert_eq!(
        (status, gone["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let (status, _) = send(&server, "GET", &s, None).await;
    assert_eq!(status, 200);

    // Bad input: clear JSON errors, never a crash.
    for (method, path, body, want) in [
        (
            "GET",
            format!("{A}/messages/0000000000000000/branches"),
            None,
            404,
        ),
        ("GET", format!("{A}/messages/not-an-id/branches"), None, 404),
        (
            "GET",
            format!("{s}/messages?leaf=0000000000000001"),
            None,
            404,
        ),
        ("GET", format!("{s}/messages?leaf={u1}&x=1"), None, 400),
        ("GET", format!("{s}/search"), None, 400),
        ("GET", format!("{A}/sessions/search?q=a&limit=0"), None, 400),
        (
            "POST",
            format!("{s}/leaf"),
            Some(json!({"message": u1})),
            400,
        ),
        (
            "POST",
            format!("{s}/fork"),
            Some(json!({"atMessage": "zz"})),
            404,
        ),
        ("PATCH", s.clone(), Some(json!({"title": "a\nb"})), 400),
        ("PATCH", s.clone(), Some(json!({})), 400),
        ("DELETE", format!("{A}/sessions/nope"), None, 404),
        ("POST", format!("{A}/sessions/nope/compact"), None, 404),
        (
            "GET",
            "/agents/Nope/me/sessions/search?q=a".to_owned(),
            None,
            404,
        ),
        (
            "POST",
            format!("{A}/chat"),
            Some(json!({"messages": ask("x")["messages"], "parentId": u1})),
            400,
        ),
        (
            "POST",
            format!("{A}/chat"),
            Some(
                json!({"messages": ask("x")["messages"], "sessionId": session,
                        "trigger": "regenerate-message", "messageId": "0000000000000001"}),
            ),
            404,
        ),
        (
            "POST",
            format!("{A}/chat"),
            Some(
                json!({"messages": ask("x")["messages"], "sessionId": session,
                        "parentId": "0000000000000001"}),
            ),
            404,
        ),
    ] {
        let (status, error) = send(&server, method, &path, body).await;
        assert_eq!(status, want, "{method} {path}: {error}");
        assert!(
            error["error"]["message"].is_string(),
            "{method} {path}: {error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_session_tree_islet_chat_commands() {
    let model = ScriptedModel::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_chat_server(&agents, &dir.path().join("data"), &model, &[]);
    model.push(Reply::new().text("Paris."));
    model.push(Reply::new().text("Rome."));
    model.push(Reply::new().text("Berlin."));
    model.push(Reply::new().text("SUMMARY-9Z: the user asked about capitals."));
    let stdin = "Capital of France?\n\
                 /edit Capital of Italy?\n\
                 /branch\n\
                 /branch 1\n\
                 /branch 7\n\
                 /history\n\
                 And Germany?\n\
                 /search Italy\n\
                 /compact\n\
                 /fork\n\
                 /sessions\n\
                 /nonsense\n\
                 /quit\n";
    let (base, token) = (server.base.clone(), server.token.clone());
    let out = tokio::task::spawn_blocking(move || {
        islet_with_env(
            &[
                "chat",
                "Assistant/me",
                "--url",
                &base,
                "--auth-token",
                &token,
            ],
            stdin,
            &[],
        )
    })
    .await
    .unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    for wanted in [
        "Paris.",
        "Rome.",
        "* 2. Capital of Italy?",
        "  1. Capital of France?",
        "(now on branch 1: Capital of France?)",
        "error: `7` is not a branch: pick 1 to 2",
        "Berlin.",
        "Capital of Italy?",
        "(compacted 2 messages",
        "(forked: now in session",
        "/edit TEXT, /branch [N], /compact",
    ] {
        assert!(
            stdout.contains(wanted),
            "{wanted:?} missing from:\n{stdout}"
        );
    }
    // /history after switching back shows the first branch, with message ids.
    let history = stdout
        .split("(now on branch 1")
        .nth(1)
        .and_then(|rest| rest.split("Berlin.").next())
        .unwrap();
    assert!(history.contains("user: Capital of France?"), "{history}");
    assert!(history.contains("assistant: Paris."), "{history}");
    assert!(!history.contains("Rome."), "{history}");
    // The answer after switching went under the first branch.
    let prompt = model.requests()[2].body.to_string();
    assert!(
        prompt.contains("Paris.") && !prompt.contains("Rome."),
        "{prompt}"
    );
    // Two sessions now: the original and the fork.
    let (_, list) = server.get("/agents/Assistant/me/sessions").await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list["sessions"].as_array().unwrap().len(), 2, "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_session_tree_compaction_ingests_into_every_attached_memory_profile() {
    let model = ScriptedModel::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let base_url = model.base_url(llm::ProviderKind::OpenAi);
    let server = given_server_env(
        &agents,
        &dir.path().join("data"),
        &[
            "--isolation",
            "inprocess",
            "--model",
            "openai:test-model",
            "--model-base-url",
            &base_url,
            "--memory",
            "team/notes",
            "--memory",
            "team/log",
        ],
        &[],
    );
    model.push(Reply::new().text("Noted: the launch is on Thursday."));
    model.push(Reply::new().text("You are welcome."));
    let session = chat(&server, ask("Remember that the launch moved to Thursday.")).await;
    let mut thanks = ask("Thanks!");
    thanks["sessionId"] = json!(session);
    chat(&server, thanks).await;

    model.push(Reply::new().text("The launch moved to Thursday."));
    let (status, compacted) = send(
        &server,
        "POST",
        &format!("/agents/Assistant/me/sessions/{session}/compact"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{compacted}");
    assert_eq!(compacted["messages"], 2);
    let reports = compacted["memory"].as_array().unwrap();
    assert_eq!(reports.len(), 2, "one ingest per profile: {compacted}");
    for profile in ["team/notes", "team/log"] {
        let (status, page) = server
            .post(
                &format!("/memory/{profile}/list"),
                &json!({"session_id": session}).to_string(),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let contents: Vec<&str> = page["memories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        assert!(
            contents
                .iter()
                .any(|c| c.contains("launch moved to Thursday")),
            "{profile}: {contents:?}"
        );
        assert!(
            !contents.iter().any(|c| c.contains("Thanks!")),
            "{profile}: the kept question is not ingested: {contents:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn issue15_session_tree_delete_waits_for_the_running_turn() {
    let model = ScriptedModel::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let agents = given_agents_dir(dir.path(), &[("Assistant.ts", ASSISTANT)]);
    let server = given_chat_server(&agents, &dir.path().join("data"), &model, &[]);
    model.push(
        Reply::new()
            .first_delay(std::time::Duration::from_millis(700))
            .text("A slow answer."),
    );
    // The turn has started (its question is stored) when the response begins.
    let response = client()
        .post(format!("{}/agents/Assistant/me/chat", server.base))
        .bearer_auth(&server.token)
        .json(&ask("Take your time."))
        .send()
        .await
        .unwrap();
    let session = response.headers()["x-islet-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let path = format!("/agents/Assistant/me/sessions/{session}");
    let asked = std::time::Instant::now();
    let (stream, deleted) = tokio::join!(async { response.text().await.unwrap() }, async {
        let (status, _) = send(&server, "DELETE", &path, None).await;
        (status, std::time::Instant::now())
    });
    assert_eq!(deleted.0, 204);
    // The model answers 700 ms after it is asked: a delete that did not wait would be back
    // long before; and the turn stored its answer (a deleted session fails that).
    assert!(
        deleted.1 - asked >= std::time::Duration::from_millis(600),
        "the delete came back after {:?}, before the turn ended",
        deleted.1 - asked
    );
    assert!(stream.contains(r#""stopped":"answered""#), "{stream}");
    assert!(stream.contains("A slow answer."), "{stream}");
    assert!(!stream.contains(r#""type":"error""#), "{stream}");
    let (status, _) = send(&server, "GET", &path, None).await;
    assert_eq!(status, 404);
}
