//! Upstream results as code sees them.

use rmcp::model::CallToolResult;
use sandbox::HostError;
use serde_json::{Value, json};

use super::MAX_ERROR_CHARS;

/// An upstream result as code sees it: `structuredContent` when present; else the content,
/// each text block parsed as JSON when it is JSON, images, audio and resources as small
/// descriptive objects, one block unwrapped from its array. `isError` becomes a thrown
/// `McpError` carrying the upstream's message and the content in `e.data`.
///
/// Boxed: `HostError` is large and this is the one public function returning it bare.
pub fn unwrap_result(path: &str, result: CallToolResult) -> Result<Value, Box<HostError>> {
    let blocks: Vec<Value> = result
        .content
        .iter()
        .map(|block| match serde_json::to_value(block) {
            Ok(v) => describe_block(v),
            Err(e) => json!({"type": "unknown", "error": e.to_string()}),
        })
        .collect();
    if result.is_error == Some(true) {
        let message: Vec<String> = result
            .content
            .iter()
            .filter_map(|b| b.as_text().map(|t| t.text.clone()))
            .collect();
        let message = if message.is_empty() {
            result
                .structured_content
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_else(|| "the tool reported an error without a message".to_owned())
        } else {
            message.join("\n")
        };
        return Err(Box::new(
            HostError::new(
                "TOOL_ERROR",
                format!("{path}: {}", base::truncate(&message, MAX_ERROR_CHARS)),
            )
            .with_name("McpError")
            .with_data(json!({
                "content": blocks,
                "structuredContent": result.structured_content,
            })),
        ));
    }
    if let Some(structured) = result.structured_content {
        return Ok(structured);
    }
    let mut blocks = blocks;
    Ok(match blocks.len() {
        0 => Value::Null,
        1 => blocks.pop().unwrap_or(Value::Null),
        _ => Value::Array(blocks),
    })
}

fn describe_block(block: Value) -> Value {
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match kind {
        "text" => {
            let text = block
                .get("text")
                .and_then(Value::as_str)
                .unwrap_or_default();
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
        }
        "image" | "audio" => json!({
            "type": kind,
            "mimeType": block.get("mimeType"),
            "bytes": base64_len(block.get("data").and_then(Value::as_str).unwrap_or_default()),
        }),
        "resource" => {
            let resource = block.get("resource").cloned().unwrap_or(Value::Null);
            let mut out = json!({
                "type": "resource",
                "uri": resource.get("uri"),
                "mimeType": resource.get("mimeType"),
            });
            if let Some(text) = resource.get("text") {
                out["text"] = text.clone();
            }
            if let Some(blob) = resource.get("blob").and_then(Value::as_str) {
                out["bytes"] = json!(base64_len(blob));
            }
            out
        }
        "resource_link" => {
            let mut out = json!({"type": "resource_link"});
            for key in ["uri", "name", "title", "mimeType", "description", "size"] {
                if let Some(v) = block.get(key) {
                    out[key] = v.clone();
                }
            }
            out
        }
        _ => block,
    }
}

/// Decoded size of base64 text, without decoding it.
fn base64_len(data: &str) -> usize {
    let padding = data.bytes().rev().take_while(|&b| b == b'=').count();
    (data.len() / 4 * 3).saturating_sub(padding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::ContentBlock;

    #[test]
    fn results_are_unwrapped() -> Result<(), Box<HostError>> {
        let r = CallToolResult::success(vec![ContentBlock::text("{\"a\":1}")]);
        assert_eq!(unwrap_result("s.t", r)?, json!({"a": 1}));
        let r = CallToolResult::success(vec![ContentBlock::text("hello")]);
        assert_eq!(unwrap_result("s.t", r)?, json!("hello"));
        let r = CallToolResult::success(vec![ContentBlock::text("a"), ContentBlock::text("2")]);
        assert_eq!(unwrap_result("s.t", r)?, json!(["a", 2]));
        let r = CallToolResult::structured(json!({"x": true}));
        assert_eq!(unwrap_result("s.t", r)?, json!({"x": true}));
        let r = CallToolResult::success(vec![ContentBlock::image("aGVsbG8=", "image/png")]);
        assert_eq!(
            unwrap_result("s.t", r)?,
            json!({"type": "image", "mimeType": "image/png", "bytes": 5})
        );
        let r = CallToolResult::error(vec![ContentBlock::text("no such file")]);
        match unwrap_result("fs.read", r) {
            Err(e) => {
                assert_eq!(e.name, "McpError");
                assert_eq!(e.message, "fs.read: no such file");
            }
            Ok(v) => panic!("expected an error, got {v}"),
        }
        Ok(())
    }
}
