//! Model specs, endpoint resolution and key redaction.

use crate::KEY;
use llm::{ApiKey, Endpoint, Error, ModelSpec, ProviderKind};
use std::collections::HashMap;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.get(name).cloned()
}

#[test]
fn model_specs_name_provider_and_model() {
    let spec: ModelSpec = "openai:gpt-4.1-mini".parse().expect("valid");
    assert_eq!(spec, ModelSpec::new(ProviderKind::OpenAi, "gpt-4.1-mini"));
    assert_eq!(spec.to_string(), "openai:gpt-4.1-mini");
    let spec: ModelSpec = "anthropic:claude-sonnet-4-5".parse().expect("valid");
    assert_eq!(spec.provider, ProviderKind::Anthropic);
    // OpenRouter's names hold slashes and colons: only the first colon separates.
    let spec: ModelSpec = "openai:meta-llama/llama-3.1-8b-instruct:free"
        .parse()
        .expect("valid");
    assert_eq!(spec.model, "meta-llama/llama-3.1-8b-instruct:free");
    // Serialised as the string, for storage.
    assert_eq!(
        serde_json::to_string(&spec).expect("json"),
        "\"openai:meta-llama/llama-3.1-8b-instruct:free\""
    );
    let back: ModelSpec = serde_json::from_str("\"anthropic:claude-x\"").expect("json");
    assert_eq!(back.provider, ProviderKind::Anthropic);
}

#[test]
fn a_bad_model_spec_names_the_valid_providers() {
    for (text, hint) in [
        ("gemini:pro", "valid providers: openai, anthropic"),
        ("gpt-4.1-mini", "e.g. `openai:gpt-4.1-mini`"),
        ("openai:", "is empty"),
    ] {
        let error = text.parse::<ModelSpec>().expect_err(text).to_string();
        assert!(error.contains(hint), "{text}: {error}");
        assert!(
            error.starts_with(&format!("invalid model `{text}`")),
            "{error}"
        );
    }
    assert!(serde_json::from_str::<ModelSpec>("\"nope\"").is_err());
}

#[test]
fn the_environment_supplies_base_url_and_key_and_explicit_values_win() {
    let spec: ModelSpec = "openai:gpt-4.1-mini".parse().expect("valid");
    let endpoint = Endpoint::resolve(spec.clone(), None, None, env(&[("OPENAI_API_KEY", KEY)]))
        .expect("resolves");
    assert_eq!(endpoint.base_url, "https://api.openai.com/v1");
    assert_eq!(
        endpoint.request_url(),
        "https://api.openai.com/v1/chat/completions"
    );
    assert_eq!(endpoint.api_key.as_ref().map(ApiKey::expose), Some(KEY));

    let vars = env(&[
        ("OPENAI_BASE_URL", "http://localhost:11434/v1/"),
        ("OPENAI_API_KEY", KEY),
    ]);
    let endpoint = Endpoint::resolve(
        spec.clone(),
        Some("http://127.0.0.1:8080/v1".into()),
        ApiKey::new("sk-flag"),
        vars,
    )
    .expect("resolves");
    assert_eq!(endpoint.base_url, "http://127.0.0.1:8080/v1");
    assert_eq!(
        endpoint.api_key.as_ref().map(ApiKey::expose),
        Some("sk-flag")
    );

    let anthropic: ModelSpec = "anthropic:claude-x".parse().expect("valid");
    let endpoint = Endpoint::resolve(
        anthropic,
        None,
        None,
        env(&[
            ("ANTHROPIC_BASE_URL", "https://proxy.example/v1"),
            ("ANTHROPIC_API_KEY", KEY),
        ]),
    )
    .expect("resolves");
    // The request path adds /v1 itself.
    assert_eq!(endpoint.request_url(), "https://proxy.example/v1/messages");
}

#[test]
fn a_local_server_needs_no_key_but_the_providers_own_api_does() {
    let spec: ModelSpec = "openai:qwen2.5".parse().expect("valid");
    let local = Endpoint::resolve(
        spec.clone(),
        None,
        None,
        env(&[("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1")]),
    )
    .expect("a local server without a key");
    assert!(local.api_key.is_none());

    let error =
        Endpoint::resolve(spec, None, None, env(&[("OPENAI_API_KEY", "  ")])).expect_err("no key");
    let text = error.to_string();
    assert!(matches!(error, Error::MissingKey { .. }));
    assert!(
        text.contains("OPENAI_API_KEY") && text.contains("--openai-api-key"),
        "{text}"
    );

    let spec: ModelSpec = "anthropic:claude-x".parse().expect("valid");
    let text = Endpoint::resolve(spec, None, None, env(&[]))
        .expect_err("no key")
        .to_string();
    assert!(
        text.contains("ANTHROPIC_API_KEY") && text.contains("--anthropic-api-key"),
        "{text}"
    );
}

#[test]
fn bad_base_urls_are_refused_with_the_reason() {
    let spec: ModelSpec = "openai:m".parse().expect("valid");
    for (url, reason) in [
        ("ftp://host/v1", "http:// or https://"),
        ("not a url", "invalid base URL"),
        ("http://user:pw@host/v1", "credentials"),
    ] {
        let error = Endpoint::resolve(spec.clone(), Some(url.into()), ApiKey::new(KEY), env(&[]))
            .expect_err(url)
            .to_string();
        assert!(error.contains(reason), "{url}: {error}");
        assert!(
            !error.contains("pw@"),
            "the password is not repeated: {error}"
        );
    }
}

#[test]
fn keys_are_redacted_in_debug_and_display() {
    let key = ApiKey::new(KEY).expect("key");
    assert_eq!(format!("{key}"), "<redacted>");
    assert!(!format!("{key:?}").contains(KEY));
    let spec: ModelSpec = "anthropic:claude-x".parse().expect("valid");
    let endpoint = Endpoint::resolve(spec, None, Some(key), env(&[])).expect("resolves");
    let debug = format!("{endpoint:?}");
    assert!(
        !debug.contains(KEY) && debug.contains("redacted"),
        "{debug}"
    );
    assert!(ApiKey::new("   ").is_none());
}

#[test]
fn no_model_configured_says_what_to_set() {
    let text = Error::NoModel.to_string();
    assert!(text.contains("--model openai:gpt-4.1-mini"), "{text}");
}

#[test]
fn models_resolve_a_class_choice_or_the_default_against_flags_and_environment() {
    use llm::{Models, ProviderSettings, Settings};
    let vars = env(&[
        ("OPENAI_API_KEY", KEY),
        ("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/"),
    ]);
    let none = Models::with_env(crate::http(), Settings::default(), &vars);
    assert!(matches!(none.get(None), Err(Error::NoModel)));
    assert!(matches!(none.get(Some("  ")), Err(Error::NoModel)));

    let settings = Settings {
        default_model: Some("openai:gpt-4.1-mini".parse().expect("valid")),
        anthropic: ProviderSettings {
            base_url: None,
            api_key: ApiKey::new("sk-flag"),
        },
        ..Settings::default()
    };
    let models = Models::with_env(crate::http(), settings, &vars);
    let default = models.get(None).expect("the default");
    assert_eq!(default.spec().to_string(), "openai:gpt-4.1-mini");
    assert_eq!(
        default.endpoint().api_key.as_ref().map(ApiKey::expose),
        Some(KEY)
    );
    // A class's own choice, with the flag's key and the environment's URL.
    let chosen = models
        .get(Some("anthropic:claude-x"))
        .expect("the class's model");
    assert_eq!(chosen.endpoint().base_url, "http://127.0.0.1:9");
    assert_eq!(
        chosen.endpoint().api_key.as_ref().map(ApiKey::expose),
        Some("sk-flag")
    );
    let error = models
        .get(Some("gemini:pro"))
        .expect_err("unknown provider")
        .to_string();
    assert!(error.contains("valid providers"), "{error}");
    assert!(!format!("{models:?}").contains(KEY), "{models:?}");
}
