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
use tokio::io::AsyncBufReadExt as _;

use crate::run::escape_controls;

#[derive(clap::Args)]
#[command(after_help = "\
Commands at the prompt: /new (start a new session), /sessions (list them), /session ID
(continue one), /quit (or end of input).

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
    let mut out = std::io::stdout();
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    writeln!(
        out,
        "chatting with {class}/{name} at {} (/quit to leave, /new for a new session)",
        args.url
    )?;
    loop {
        write!(out, "\n> ")?;
        out.flush()?;
        let Some(line) = lines.next_line().await? else {
            break;
        };
        let line = line.trim();
        match line {
            "" => continue,
            "/quit" | "/exit" => break,
            "/new" => {
                session = None;
                writeln!(out, "(a new session starts with your next message)")?;
                continue;
            }
            "/sessions" => {
                let list: Value = http
                    .get(format!("{base}/sessions"))
                    .bearer_auth(&token)
                    .send()
                    .await?
                    .json()
                    .await?;
                if let Some(error) = list.get("error") {
                    writeln!(out, "error: {}", error["message"].as_str().unwrap_or(""))?;
                    continue;
                }
                for s in list["sessions"].as_array().into_iter().flatten() {
                    let current = s["id"].as_str() == session.as_deref();
                    writeln!(
                        out,
                        "{} {}  {} messages  {}",
                        if current { "*" } else { " " },
                        s["id"].as_str().unwrap_or(""),
                        s["messageCount"],
                        escape_controls(s["title"].as_str().unwrap_or(""))
                    )?;
                }
                continue;
            }
            _ if line.starts_with("/session ") => {
                session = Some(line["/session ".len()..].trim().to_owned());
                writeln!(
                    out,
                    "(continuing session {})",
                    session.as_deref().unwrap_or("")
                )?;
                continue;
            }
            _ if line.starts_with('/') => {
                writeln!(out, "commands: /new, /sessions, /session ID, /quit")?;
                continue;
            }
            _ => {}
        }
        let mut body =
            json!({"messages": [{"role": "user", "parts": [{"type": "text", "text": line}]}]});
        if let Some(id) = &session {
            body["sessionId"] = json!(id);
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
        while let Some(bytes) = response.chunk().await? {
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
