//! Which model: `openai:gpt-4.1-mini`, `anthropic:claude-sonnet-4-5`.

use crate::Error;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The wire format a model is reached through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI-compatible Chat Completions: OpenAI, vLLM, Ollama, llama.cpp server,
    /// OpenRouter, and anything else serving `POST {base}/chat/completions`.
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic Messages (`POST {base}/v1/messages`).
    Anthropic,
}

/// The providers' names as written before the colon, for error messages.
pub const PROVIDERS: &str = "openai, anthropic";

impl ProviderKind {
    /// The name written before the colon of a model spec (`openai`, `anthropic`).
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    /// The environment variable holding the base URL.
    pub fn base_url_var(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OPENAI_BASE_URL",
            ProviderKind::Anthropic => "ANTHROPIC_BASE_URL",
        }
    }

    /// The environment variable holding the API key.
    pub fn api_key_var(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OPENAI_API_KEY",
            ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
        }
    }

    /// The command-line flag that sets the API key (the binary defines it under this name,
    /// so errors can point at it).
    pub fn api_key_flag(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "--openai-api-key",
            ProviderKind::Anthropic => "--anthropic-api-key",
        }
    }

    /// The provider's own endpoint, used when no base URL is configured.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A provider and a model name, written `provider:model`. The model name is everything
/// after the first colon, so OpenRouter's `openai:meta-llama/llama-3.1-8b:free` works.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    /// Which wire format and which environment variables apply.
    pub provider: ProviderKind,
    /// The provider's model name, sent as is (e.g. `gpt-4.1-mini`).
    pub model: String,
}

impl ModelSpec {
    /// A spec from its parts, without the parsing and checks of `str::parse`.
    pub fn new(provider: ProviderKind, model: impl Into<String>) -> Self {
        Self {
            provider,
            model: model.into(),
        }
    }
}

impl FromStr for ModelSpec {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |reason: String| Error::InvalidModel {
            spec: text.to_owned(),
            reason,
        };
        let text = text.trim();
        let Some((provider, model)) = text.split_once(':') else {
            return Err(bad(format!(
                "it names no provider; write `provider:model`, e.g. `openai:{text}` \
                 (valid providers: {PROVIDERS})"
            )));
        };
        let provider = match provider.trim().to_ascii_lowercase().as_str() {
            "openai" => ProviderKind::OpenAi,
            "anthropic" => ProviderKind::Anthropic,
            other => {
                return Err(bad(format!(
                    "`{other}` is not a provider; valid providers: {PROVIDERS} \
                     (OpenAI-compatible servers such as vLLM, Ollama, llama.cpp and \
                     OpenRouter use `openai:` with OPENAI_BASE_URL)"
                )));
            }
        };
        let model = model.trim();
        if model.is_empty() {
            return Err(bad(format!(
                "the model name after `{provider}:` is empty, e.g. `openai:gpt-4.1-mini`"
            )));
        }
        if model.chars().any(char::is_control) {
            return Err(bad("the model name holds control characters".into()));
        }
        Ok(Self::new(provider, model))
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.model)
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
