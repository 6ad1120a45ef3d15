//! Issue 16: the model writes an extension (`load_extension`) and uses its tools from the
//! next turn on; the extension's permissions hold.

use llm::ProviderKind;
use llm::scripted::Reply;
use serde_json::json;
use think::ui::Chunk;

use crate::support::*;

const BUILDER: &str = r#"
import { Think } from "agents";
export default class Builder extends Think {
  allowExtensions = true;
}
"#;

const NOTES: &str = r#"
export const tools = {
  read: {
    description: "Reads a note",
    inputSchema: { type: "object", properties: { path: { type: "string" } }, required: ["path"] },
    async execute(args, host) { return "note: " + await host.workspace.read(args.path); },
  },
  write: {
    description: "Writes a note",
    async execute(args, host) { await host.workspace.write(args.path, args.text); return "written"; },
  },
};
"#;

fn outputs(chunks: &[Chunk]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::ToolOutputAvailable { output, .. } => Some(output.to_string()),
            Chunk::ToolOutputError { error_text, .. } => Some(error_text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue16_the_model_writes_an_extension_and_uses_it_from_the_next_turn() {
    let given = given_harness(ProviderKind::OpenAi, &[("Builder.ts", BUILDER)]).await;
    given
        .host
        .with_new_or_existing_db("Builder", "b", |db| {
            db.workspace().write("/todo.md", b"buy milk")?;
            Ok(())
        })
        .await
        .unwrap();
    given.model.push(Reply::new().tool_call(
        "c1",
        "load_extension",
        json!({ "name": "notes", "source": NOTES, "permissions": { "workspace": "read" } }),
    ));
    given.model.push(Reply::new().text("Installed."));
    let (session, chunks) = given.chat("Builder", "b", None, "Make a notes tool").await;
    assert_well_formed(&chunks);
    let out = outputs(&chunks);
    assert!(
        out[0].contains("\\\"version\\\":1") || out[0].contains("\"version\":1"),
        "{out:?}"
    );
    let first_tools = given.model.requests()[0].body["tools"].to_string();
    assert!(first_tools.contains("load_extension"), "{first_tools}");
    assert!(!first_tools.contains("notes_read"), "{first_tools}");

    // Next turn: its tools are offered; reading works, writing is refused (read only).
    given
        .model
        .push(Reply::new().tool_call("c2", "notes_read", json!({ "path": "/todo.md" })));
    given.model.push(Reply::new().tool_call(
        "c3",
        "notes_write",
        json!({ "path": "/todo.md", "text": "gone" }),
    ));
    given.model.push(Reply::new().text("Done."));
    let (_, chunks) = given
        .chat(
            "Builder",
            "b",
            Some(&session),
            "Read my todo, then clear it",
        )
        .await;
    assert_well_formed(&chunks);
    let second_tools = given.model.requests()[2].body["tools"].to_string();
    assert!(second_tools.contains("notes_read"), "{second_tools}");
    let out = outputs(&chunks);
    assert!(out[0].contains("note: buy milk"), "{out:?}");
    assert!(out[1].contains("may only read the workspace"), "{out:?}");
    assert_eq!(
        given.read_file("Builder", "b", "/todo.md").await.as_deref(),
        Some("buy milk")
    );
}
