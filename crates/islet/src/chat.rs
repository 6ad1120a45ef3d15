//! `islet chat CLASS/NAME`: a terminal client for a chat agent of a running `islet serve`.
//! It posts each line to `POST /agents/<class>/<name>/chat`, reads the UI message stream
//! and shows the answer as it streams, each tool call (an `execute` call's code in full)
//! and a folded result.
//!
//! Model text reaches the terminal with its control characters escaped (see
//! `run::escape_controls`), so an answer cannot move the cursor or retitle the window.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::run::escape_controls;

#[derive(clap::Args)]
#[command(after_help = "\
Commands at the prompt:
  /new            start a new session (with your next message)
  /sessions       list the agent's sessions
  /session ID     continue a session
  /history        the session's conversation, with message ids
  /search WORDS   search every session of the agent
  /fork [MSG]     continue in a copy of the session up to message MSG (default: the end)
  /edit TEXT      ask TEXT instead of your last question (a new branch)
  /branch         the branches at your last question; /branch N switches to the N-th
  /compact        summarise the conversation before your last question (the model writes
                  it; the messages stay in the history)
  /help           this list
  /quit           leave (or end of input, or Ctrl-C at the prompt)

Ctrl-C while an answer streams stops the turn (the server keeps what was said so far).

Example:
  OPENAI_API_KEY=… islet serve --model openai:gpt-4.1-mini &
  islet chat Assistant/me")]
pub(crate) struct ChatArgs {
    /// The chat agent, CLASS/NAME (e.g. Assistant/me).
    target: String,
    /// The server's address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8787")]
    url: String,
    /// API token (default: the one `islet serve` stored in DATA/token).
    #[arg(
        long,
        value_name = "T",
        env = "ISLET_AUTH_TOKEN",
        hide_env_values = true
    )]
    auth_token: Option<String>,
    /// The server's data directory, to read its token from.
    #[arg(long, value_name = "DIR", default_value = ".islet")]
    data: PathBuf,
    /// Continue this session instead of starting a new one.
    #[arg(long, value_name = "ID")]
    session: Option<String>,
}

/// The longest tool result shown, in characters (the rest is folded).
const FOLD: usize = 160;

pub(crate) async fn chat(args: ChatArgs) -> anyhow::Result<ExitCode> {
    let Some((class, name)) = args.target.split_once('/') else {
        anyhow::bail!(
            "`{}`: name the agent as CLASS/NAME, e.g. Assistant/me",
            args.target
        );
    };
    let token = match args.auth_token {
        Some(token) => token,
        None => std::fs::read_to_string(args.data.join("token"))
            .with_context(|| {
                format!(
                    "cannot read the API token from {}; pass --auth-token or --data DIR of the server",
                    args.data.join("token").display()
                )
            })?
            .trim()
            .to_owned(),
    };
    let http = codemode::egress::tls::client_builder()
        .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?
        .connect_timeout(Duration::from_secs(10))
        .build()?;
    let base = format!("{}/agents/{class}/{name}", args.url.trim_end_matches('/'));
    let mut session = args.session;
    let api = Api {
        http: http.clone(),
        token: token.clone(),
    };
    let mut out = std::io::stdout();
    let mut lines = stdin_lines();
    writeln!(
        out,
        "chatting with {class}/{name} at {} (/help for commands, /quit to leave)",
        args.url
    )?;
    // Ctrl-C stops the turn being streamed (the server keeps what was said) and, at the
    // prompt, leaves. Listening for it replaces the default of exiting at once.
    let mut interrupts = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot listen for Ctrl-C")?;
    loop {
        write!(out, "\n> ")?;
        out.flush()?;
        let line = tokio::select! {
            line = lines.recv() => line.transpose()?,
            _ = interrupts.recv() => None,
        };
        let Some(line) = line else {
            break;
        };
        let line = line.trim();
        let (command, argument) = match line.split_once(char::is_whitespace) {
            Some((command, argument)) => (command, argument.trim()),
            None => (line, ""),
        };
        // `/edit`: the parent of the question it replaces (`null` for a first question).
        let mut parent: Option<Value> = None;
        let mut text = line.to_owned();
        match command {
            "" => continue,
            "/quit" | "/exit" => break,
            "/help" => {
                writeln!(out, "{HELP}")?;
                continue;
            }
            "/new" => {
                session = None;
                writeln!(out, "(a new session starts with your next message)")?;
                continue;
            }
            "/sessions" => {
                match api.get(&format!("{base}/sessions")).await {
                    Ok(list) => show_sessions(&mut out, &list, session.as_deref())?,
                    Err(e) => writeln!(out, "error: {e}")?,
                }
                continue;
            }
            "/session" if !argument.is_empty() => {
                session = Some(argument.to_owned());
                writeln!(out, "(continuing session {argument})")?;
                continue;
            }
            "/search" if !argument.is_empty() => {
                let url = reqwest::Url::parse_with_params(
                    &format!("{base}/sessions/search"),
                    [("q", argument)],
                )?;
                match api.get(url.as_str()).await {
                    Ok(hits) => show_hits(&mut out, &hits)?,
                    Err(e) => writeln!(out, "error: {e}")?,
                }
                continue;
            }
            "/history" | "/fork" | "/branch" | "/compact" | "/edit" => {
                let Some(id) = session.clone() else {
                    writeln!(
                        out,
                        "(no session yet: send a message first, or pick one with /session ID)"
                    )?;
                    continue;
                };
                let sessions = format!("{base}/sessions/{id}");
                match command {
                    "/history" => match api.get(&format!("{sessions}/messages")).await {
                        Ok(history) => show_history(&mut out, &history)?,
                        Err(e) => writeln!(out, "error: {e}")?,
                    },
                    "/fork" => {
                        let mut body = json!({});
                        if !argument.is_empty() {
                            body["atMessage"] = json!(argument);
                        }
                        match api.post(&format!("{sessions}/fork"), &body).await {
                            Ok(forked) => {
                                let new = forked["session"]["id"].as_str().unwrap_or("");
                                writeln!(out, "(forked: now in session {new})")?;
                                session = Some(new.to_owned());
                            }
                            Err(e) => writeln!(out, "error: {e}")?,
                        }
                    }
                    "/branch" => {
                        if let Err(e) = branch(&api, &base, &sessions, argument, &mut out).await {
                            writeln!(out, "error: {e}")?;
                        }
                    }
                    "/compact" => {
                        match api.post(&format!("{sessions}/compact"), &json!({})).await {
                            Ok(done) => writeln!(
                                out,
                                "(compacted {} messages: about {} → {} tokens)",
                                done["messages"], done["tokensBefore"], done["tokensAfter"]
                            )?,
                            Err(e) => writeln!(out, "error: {e}")?,
                        }
                    }
                    _ if argument.is_empty() => writeln!(out, "usage: /edit TEXT")?,
                    _ => match last_question(&api, &sessions).await {
                        Ok(Some(question)) => {
                            parent = Some(question["parentId"].clone());
                            text = argument.to_owned();
                        }
                        Ok(None) => writeln!(out, "(there is no question to edit yet)")?,
                        Err(e) => writeln!(out, "error: {e}")?,
                    },
                }
                if text == line {
                    continue;
                }
            }
            _ if line.starts_with('/') => {
                writeln!(out, "{HELP}")?;
                continue;
            }
            _ => {}
        }
        let mut body =
            json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": text}]}]});
        if let Some(id) = &session {
            body["sessionId"] = json!(id);
        }
        if let Some(parent) = parent {
            body["parentId"] = parent;
        }
        let mut response = http
            .post(format!("{base}/chat"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach {}; is `islet serve` running?", args.url))?;
        if !response.status().is_success() {
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            writeln!(out, "error ({status}): {}", escape_controls(&message))?;
            continue;
        }
        if let Some(id) = response
            .headers()
            .get("x-islet-session-id")
            .and_then(|v| v.to_str().ok())
        {
            session = Some(id.to_owned());
        }
        let mut buffer = String::new();
        let mut cancelled = false;
        loop {
            let bytes = tokio::select! {
                bytes = response.chunk() => bytes?,
                _ = interrupts.recv() => {
                    if cancelled {
                        // A second Ctrl-C: stop waiting for the end of the stream.
                        writeln!(out, "\n(left the turn; it stops on the server)")?;
                        break;
                    }
                    cancelled = true;
                    writeln!(out, "\n(stopping…)")?;
                    let body = json!({"sessionId": session});
                    if let Err(e) = api.post(&format!("{base}/chat/cancel"), &body).await {
                        writeln!(out, "error: cannot stop the turn: {e}")?;
                    }
                    continue;
                }
            };
            let Some(bytes) = bytes else {
                break;
            };
            buffer.push_str(&String::from_utf8_lossy(&bytes));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if let Some(data) = event.trim_end().strip_prefix("data: ") {
                    show(&mut out, data)?;
                }
            }
        }
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The lines of stdin, read on a thread of their own: a read pending in the runtime's
/// blocking pool would hold the process open after the chat ends (e.g. left with Ctrl-C).
fn stdin_lines() -> tokio::sync::mpsc::UnboundedReceiver<std::io::Result<String>> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::stdin().lock().lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Shows one chunk of the UI message stream.
fn show(out: &mut impl std::io::Write, data: &str) -> std::io::Result<()> {
    let Ok(chunk) = serde_json::from_str::<Value>(data) else {
        return Ok(());
    };
    match chunk["type"].as_str().unwrap_or("") {
        "text-delta" => write!(
            out,
            "{}",
            escape_controls(chunk["delta"].as_str().unwrap_or(""))
        )?,
        "text-end" => writeln!(out)?,
        "tool-input-available" => {
            let tool = chunk["toolName"].as_str().unwrap_or("?");
            let input = &chunk["input"];
            match input["code"].as_str() {
                Some(code) if tool == "execute" => {
                    writeln!(out, "\n⚙ execute")?;
                    for line in code.lines() {
                        writeln!(out, "  │ {}", escape_controls(line))?;
                    }
                }
                _ => writeln!(out, "\n⚙ {tool} {}", escape_controls(&input.to_string()))?,
            }
        }
        "tool-output-available" => {
            let text = match &chunk["output"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            writeln!(out, "  → {}", fold(&text))?;
        }
        "tool-output-error" => {
            writeln!(
                out,
                "  ✗ {}",
                fold(chunk["errorText"].as_str().unwrap_or(""))
            )?;
        }
        "data-compaction" => writeln!(
            out,
            "\n(the conversation was compacted: {} messages summarised, about {} → {} tokens)",
            chunk["data"]["messages"], chunk["data"]["tokensBefore"], chunk["data"]["tokensAfter"]
        )?,
        // A child agent's progress: its own tool calls and how it ended; its answer
        // comes back as the delegating tool's result.
        "data-subagent" => {
            let data = &chunk["data"];
            let who = format!(
                "{} {}",
                data["agent"]["className"].as_str().unwrap_or("?"),
                data["agent"]["name"].as_str().unwrap_or("?")
            );
            let inner = &data["chunk"];
            match inner["type"].as_str().unwrap_or("") {
                "start" => writeln!(out, "  ↳ {} is working on it", escape_controls(&who))?,
                "tool-input-available" => writeln!(
                    out,
                    "  ↳ {}: ⚙ {} {}",
                    escape_controls(&who),
                    escape_controls(inner["toolName"].as_str().unwrap_or("?")),
                    fold(&inner["input"].to_string())
                )?,
                "error" => writeln!(
                    out,
                    "  ↳ {}: error: {}",
                    escape_controls(&who),
                    fold(inner["errorText"].as_str().unwrap_or(""))
                )?,
                _ => {}
            }
        }
        "abort" => writeln!(out, "\n(cancelled)")?,
        "error" => writeln!(
            out,
            "\nerror: {}",
            escape_controls(chunk["errorText"].as_str().unwrap_or(""))
        )?,
        _ => {}
    }
    out.flush()
}

/// One line of at most [`FOLD`] characters.
fn fold(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let count = flat.chars().count();
    let mut shown: String = flat.chars().take(FOLD).collect();
    if count > FOLD {
        shown.push_str(&format!(" … ({count} characters)"));
    }
    escape_controls(&shown).into_owned()
}

/// The commands, as `/help` and an unknown command print them.
const HELP: &str = "commands: /new, /sessions, /session ID, /history, /search WORDS, /fork [MSG], \
/edit TEXT, /branch [N], /compact, /help, /quit; Ctrl-C stops an answer";

/// The server's JSON API with the token.
struct Api {
    http: reqwest::Client,
    token: String,
}

impl Api {
    async fn get(&self, url: &str) -> anyhow::Result<Value> {
        answer(self.http.get(url).bearer_auth(&self.token).send().await?).await
    }

    async fn post(&self, url: &str, body: &Value) -> anyhow::Result<Value> {
        answer(
            self.http
                .post(url)
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await?,
        )
        .await
    }
}

/// The JSON of a response, or its error's message (control characters escaped).
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.is_success() {
        let message = value["error"]["message"]
            .as_str()
            .map_or(text.clone(), str::to_owned);
        anyhow::bail!("({status}) {}", escape_controls(&message));
    }
    Ok(value)
}

fn show_sessions(
    out: &mut impl std::io::Write,
    list: &Value,
    current: Option<&str>,
) -> std::io::Result<()> {
    for s in list["sessions"].as_array().into_iter().flatten() {
        let mark = if s["id"].as_str() == current {
            "*"
        } else {
            " "
        };
        writeln!(
            out,
            "{mark} {}  {} messages  {} tokens  {}",
            s["id"].as_str().unwrap_or(""),
            s["messageCount"],
            s["usage"]["inputTokens"].as_u64().unwrap_or(0)
                + s["usage"]["outputTokens"].as_u64().unwrap_or(0),
            escape_controls(s["title"].as_str().unwrap_or(""))
        )?;
    }
    Ok(())
}

fn show_hits(out: &mut impl std::io::Write, hits: &Value) -> std::io::Result<()> {
    let hits = hits["hits"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    if hits.is_empty() {
        return writeln!(out, "(no message matches)");
    }
    for hit in hits {
        writeln!(
            out,
            "{}  {} {}: {}",
            hit["sessionId"].as_str().unwrap_or(""),
            hit["messageId"].as_str().unwrap_or(""),
            hit["role"].as_str().unwrap_or(""),
            fold(hit["snippet"].as_str().unwrap_or(""))
        )?;
    }
    Ok(())
}

fn show_history(out: &mut impl std::io::Write, history: &Value) -> std::io::Result<()> {
    for m in history["messages"].as_array().into_iter().flatten() {
        let calls = m["toolCalls"].as_array().map_or(0, Vec::len);
        let text = m["text"].as_str().unwrap_or("");
        let shown = if text.trim().is_empty() && calls > 0 {
            format!("({calls} tool call{})", if calls == 1 { "" } else { "s" })
        } else {
            fold(text)
        };
        writeln!(
            out,
            "{} {:>9}: {shown}",
            m["id"].as_str().unwrap_or(""),
            m["role"].as_str().unwrap_or("")
        )?;
    }
    Ok(())
}

/// The session's latest question (a user message of its current history), if any.
async fn last_question(api: &Api, sessions: &str) -> anyhow::Result<Option<Value>> {
    let history = api.get(&format!("{sessions}/messages")).await?;
    Ok(history["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .find(|m| m["role"] == "user" && m["toolResults"].as_array().is_none_or(Vec::is_empty))
        .cloned())
}

/// `/branch`: lists the alternatives of the latest question; `/branch N` switches to the
/// N-th (to where its conversation last went).
async fn branch(
    api: &Api,
    base: &str,
    sessions: &str,
    argument: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<()> {
    let Some(question) = last_question(api, sessions).await? else {
        writeln!(out, "(no question yet: nothing branches)")?;
        return Ok(());
    };
    let id = question["id"].as_str().unwrap_or("");
    let branches = api.get(&format!("{base}/messages/{id}/branches")).await?;
    let siblings = branches["siblings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let current = branches["index"].as_u64().unwrap_or(0) as usize;
    if argument.is_empty() {
        for (i, sibling) in siblings.iter().enumerate() {
            let mark = if i == current { "*" } else { " " };
            writeln!(
                out,
                "{mark} {}. {}",
                i + 1,
                fold(sibling["text"].as_str().unwrap_or(""))
            )?;
        }
        if siblings.len() < 2 {
            writeln!(
                out,
                "(one branch only: /edit TEXT asks differently in a new one)"
            )?;
        }
        return Ok(());
    }
    let chosen = argument
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|n| siblings.get(n));
    let Some(chosen) = chosen else {
        anyhow::bail!(
            "`{}` is not a branch: pick 1 to {} (see /branch)",
            escape_controls(argument),
            siblings.len()
        );
    };
    api.post(
        &format!("{sessions}/leaf"),
        &json!({"messageId": chosen["id"]}),
    )
    .await?;
    writeln!(
        out,
        "(now on branch {argument}: {})",
        fold(chosen["text"].as_str().unwrap_or(""))
    )?;
    Ok(())
}
