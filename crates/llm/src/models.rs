//! [`Models`]: the operator's configuration, turning a model spec (the default, or an agent
//! class's own choice) into a ready [`Model`].

use crate::{ApiKey, Endpoint, Error, Model, ModelSpec, Options, ProviderKind};
use std::collections::HashMap;

/// Explicit values for one provider (the binary's flags); unset ones fall back to the
/// environment.
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    /// Overrides `*_BASE_URL` (e.g. a local OpenAI-compatible server).
    pub base_url: Option<String>,
    /// Overrides `*_API_KEY`.
    pub api_key: Option<ApiKey>,
}

/// What the operator configured.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `--model`: used when an agent class does not choose one.
    pub default_model: Option<ModelSpec>,
    /// Explicit base URL and key for `openai:` models.
    pub openai: ProviderSettings,
    /// Explicit base URL and key for `anthropic:` models.
    pub anthropic: ProviderSettings,
    /// Retry and stall settings given to every [`Model`] built.
    pub options: Options,
}

/// Resolves model specs against [`Settings`] and the environment (read once, when built).
#[derive(Clone)]
pub struct Models {
    http: reqwest::Client,
    settings: Settings,
    env: HashMap<&'static str, String>,
}

impl std::fmt::Debug for Models {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment snapshot holds keys: only its variable names are shown.
        f.debug_struct("Models")
            .field("settings", &self.settings)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Models {
    /// Reads `OPENAI_*` and `ANTHROPIC_*` from the process environment.
    pub fn from_env(http: reqwest::Client, settings: Settings) -> Self {
        Self::with_env(http, settings, |name| std::env::var(name).ok())
    }

    /// `env` stands for the environment (tests pass their own).
    pub fn with_env(
        http: reqwest::Client,
        settings: Settings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let mut snapshot = HashMap::new();
        for provider in [ProviderKind::OpenAi, ProviderKind::Anthropic] {
            for name in [provider.base_url_var(), provider.api_key_var()] {
                if let Some(value) = env(name) {
                    snapshot.insert(name, value);
                }
            }
        }
        Self {
            http,
            settings,
            env: snapshot,
        }
    }

    /// The operator's `--model`, if any: what agents without their own choice use.
    pub fn default_spec(&self) -> Option<&ModelSpec> {
        self.settings.default_model.as_ref()
    }

    /// The model `spec` names (an agent class's choice, `provider:model`), else the
    /// default; [`Error::NoModel`] when there is neither.
    pub fn get(&self, spec: Option<&str>) -> Result<Model, Error> {
        let spec = match spec.map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => text.parse()?,
            None => self.settings.default_model.clone().ok_or(Error::NoModel)?,
        };
        let explicit = match spec.provider {
            ProviderKind::OpenAi => &self.settings.openai,
            ProviderKind::Anthropic => &self.settings.anthropic,
        };
        let endpoint = Endpoint::resolve(
            spec,
            explicit.base_url.clone(),
            explicit.api_key.clone(),
            |name| self.env.get(name).cloned(),
        )?;
        Ok(Model::new(self.http.clone(), endpoint).with_options(self.settings.options.clone()))
    }
}
