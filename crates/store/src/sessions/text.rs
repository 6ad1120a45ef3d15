//! The plain text of a message's JSON, for the search index, when the caller gave none.

use serde_json::Value;

/// A string content is its own text; otherwise every string found under a `"text"` or
/// `"content"` key (OpenAI messages, OpenAI and Anthropic content parts, AI SDK UI message
/// parts), in document order, one per line.
pub(super) fn plain(content: &Value) -> String {
    if let Value::String(text) = content {
        return text.clone();
    }
    let mut out = String::new();
    collect(content, &mut out);
    out
}

fn collect(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
        Value::Object(fields) => {
            for (key, field) in fields {
                match field {
                    Value::String(text) if key == "text" || key == "content" => {
                        if !out.is_empty() {
                            out.push('\n');
                        }
                        out.push_str(text);
                    }
                    _ => collect(field, out),
                }
            }
        }
        _ => {}
    }
}
