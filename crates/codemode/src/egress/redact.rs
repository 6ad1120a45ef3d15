//! Scrubbing injected secrets from everything that goes back to the isolate.

use sandbox::HostError;
use serde_json::{Map, Value};

use crate::error::Error;

/// What replaces a secret.
pub(super) const REDACTED: &str = "[REDACTED]";
/// Shorter values are not scrubbed: replacing every `1` or `on` in a response would destroy
/// it, and such values are not credentials.
const MIN_SECRET_CHARS: usize = 4;

/// Replaces each secret string wherever it occurs: in text, and in JSON strings and keys.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Longest first, so a token inside a longer header value is not half-replaced.
    secrets: Vec<String>,
}

impl Redactor {
    /// `values` are injected header values; for `Bearer <token>`-like values the credential
    /// after the scheme is a secret on its own (APIs echo the bare token).
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets = Vec::new();
        for value in values {
            let value = value.trim().to_owned();
            if let Some((_, credential)) = value.split_once(char::is_whitespace) {
                secrets.push(credential.trim().to_owned());
            }
            secrets.push(value);
        }
        secrets.retain(|s| s.chars().count() >= MIN_SECRET_CHARS);
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// Whether there is no secret to scrub, so scrubbing can be skipped.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// `text` with every secret replaced by `[REDACTED]`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// `value` with every secret in its strings (keys included) replaced by `[REDACTED]`.
    pub fn value(&self, value: Value) -> Value {
        if self.secrets.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.text(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.text(&k), self.value(v)))
                    .collect::<Map<String, Value>>(),
            ),
            other => other,
        }
    }

    /// The one translation point from this crate's errors to JS exceptions. Messages are
    /// redacted: a secret may surface in an upstream error (e.g. a proxy echoing a header).
    pub fn host_error(&self, error: &Error) -> HostError {
        HostError::new(error.code(), self.text(&error.to_string()))
            .with_name(error.js_name())
            .with_kind(error.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scrubs_bearer_tokens_in_text_keys_and_nested_strings() {
        let r = Redactor::new(["Bearer s3cr3t-token".to_owned(), "ab".to_owned()]);
        assert_eq!(r.text("auth: Bearer s3cr3t-token"), "auth: [REDACTED]");
        assert_eq!(
            r.value(json!({"echo": ["x s3cr3t-token y"], "s3cr3t-token": 1, "ab": "ab"})),
            json!({"echo": ["x [REDACTED] y"], "[REDACTED]": 1, "ab": "ab"})
        );
    }
}
