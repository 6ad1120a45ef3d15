//! Where a model lives: base URL and API key, from explicit values or the usual variables.

use crate::{Error, ModelSpec, ProviderKind};
use std::fmt;

/// An API key. Its `Debug` and `Display` print `<redacted>`; the only way to the text is
/// [`ApiKey::expose`], used where the key goes into a request header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty (or blank) key, which means "no key".
    pub fn new(key: impl Into<String>) -> Option<Self> {
        let key = key.into();
        let key = key.trim();
        (!key.is_empty()).then(|| Self(key.to_owned()))
    }

    /// The key itself, for the request header only: everything else (`Debug`, `Display`,
    /// error texts) shows it redacted, so call this only where it must leave the process.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A model and how to reach it.
#[derive(Clone, PartialEq)]
pub struct Endpoint {
    /// Which provider (and so which wire format) and which model.
    pub spec: ModelSpec,
    /// Without a trailing slash. OpenAI-style bases include the version (`…/v1`); Anthropic
    /// bases do not (`https://api.anthropic.com`).
    pub base_url: String,
    /// `None` for servers that need no key (a local Ollama or llama.cpp).
    pub api_key: Option<ApiKey>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("spec", &self.spec.to_string())
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key)
            .finish()
    }
}

impl Endpoint {
    /// Resolves an endpoint: explicit values (flags) win over the environment
    /// (`OPENAI_BASE_URL`/`OPENAI_API_KEY`, `ANTHROPIC_BASE_URL`/`ANTHROPIC_API_KEY`), and the
    /// provider's own URL is the default. A key is required only for the provider's own
    /// URL: a local server (Ollama, llama.cpp, vLLM) often needs none.
    pub fn resolve(
        spec: ModelSpec,
        base_url: Option<String>,
        api_key: Option<ApiKey>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let provider = spec.provider;
        let base_url = base_url
            .filter(|u| !u.trim().is_empty())
            .or_else(|| env(provider.base_url_var()).filter(|u| !u.trim().is_empty()));
        let is_default = base_url.is_none();
        let base_url = normalize_base_url(
            provider,
            base_url.as_deref().unwrap_or(provider.default_base_url()),
        )?;
        let api_key = api_key.or_else(|| env(provider.api_key_var()).and_then(ApiKey::new));
        if api_key.is_none() && is_default {
            return Err(Error::MissingKey {
                provider,
                variable: provider.api_key_var(),
                flag: provider.api_key_flag(),
            });
        }
        Ok(Self {
            spec,
            base_url,
            api_key,
        })
    }

    /// [`Endpoint::resolve`] reading the process environment.
    pub fn from_env(
        spec: ModelSpec,
        base_url: Option<String>,
        api_key: Option<ApiKey>,
    ) -> Result<Self, Error> {
        Self::resolve(spec, base_url, api_key, |name| std::env::var(name).ok())
    }

    /// The URL requests are posted to.
    pub fn request_url(&self) -> String {
        match self.spec.provider {
            ProviderKind::OpenAi => format!("{}/chat/completions", self.base_url),
            ProviderKind::Anthropic => format!("{}/v1/messages", self.base_url),
        }
    }
}

fn normalize_base_url(provider: ProviderKind, url: &str) -> Result<String, Error> {
    let bad = |reason: &str| Error::InvalidBaseUrl {
        provider,
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("use an http:// or https:// URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let mut shown = parsed.clone();
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(Error::InvalidBaseUrl {
            provider,
            url: shown.to_string(),
            reason: "put credentials in the API key, not in the URL".into(),
        });
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("a base URL has no query or fragment"));
    }
    Ok(match provider {
        // The request path adds `/v1/messages`; accept the OpenAI habit of ending in /v1.
        ProviderKind::Anthropic => trimmed.strip_suffix("/v1").unwrap_or(trimmed).to_owned(),
        ProviderKind::OpenAi => trimmed.to_owned(),
    })
}

/// A reqwest error with its causes (the top error alone rarely says "connection refused"),
/// safe to show.
pub(crate) fn describe(e: &reqwest::Error, key: Option<&ApiKey>) -> String {
    sanitize(&base::error_chain(e), key)
}

/// Makes provider text safe to show: the key removed, control characters replaced, length
/// capped.
pub(crate) fn sanitize(text: &str, key: Option<&ApiKey>) -> String {
    const MAX: usize = 500;
    let text = match key {
        Some(key) => text.replace(key.expose(), "<redacted>"),
        None => text.to_owned(),
    };
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out.trim().to_owned()
}
