//! One way to build HTTP clients: rustls on ring with the OS's trust roots (no aws-lc, no
//! cmake, no process-wide provider to install).

use std::sync::Arc;

/// A `reqwest` client builder with TLS configured. The error says what failed, for the
/// caller to wrap in its own error variant.
pub fn client_builder() -> Result<reqwest::ClientBuilder, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_platform_verifier()
        .map_err(|e| format!("cannot load the system's TLS trust roots: {e}"))?
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}
