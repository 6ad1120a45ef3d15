//! Egress: the one outbound HTTP path of Code Mode. A [`Fetcher`] sends what a
//! [`FetchPolicy`] allows, for an isolate's Web `fetch` (bound into an execution by
//! [`fetch_binding`]) and for `execute`'s API calls alike; [`tls`] builds the one HTTP
//! client (also for spec downloads), [`Redactor`] scrubs secrets from what goes back, and
//! `address` refuses private addresses after DNS resolution.
//!
//! Architecture Invariant: nothing here knows about catalogs, OpenAPI or MCP; the layers
//! above use egress, never the other way round.
//!
//! Denied by default: without the binding, `fetch` does not exist in the isolate; with it,
//! only the policy's hosts (and methods) are reachable. Every hop of a redirect chain is
//! checked again. Private, loopback and link-local addresses are refused after DNS
//! resolution (and as IP literals) unless the policy allows them. Injected headers (the
//! credentials) are added here, override the code's, and are scrubbed from everything that
//! goes back: headers, body, URL, error messages.
//!
//! Error codes the code sees on the `TypeError` `fetch` rejects with (`e.code`):
//! `HOST_NOT_ALLOWED`, `METHOD_NOT_ALLOWED`, `PRIVATE_ADDRESS`, `REDIRECT_NOT_ALLOWED`
//! (`redirect: "error"` or too many hops), `INVALID_REQUEST`, `TIMEOUT`,
//! `RESPONSE_TOO_LARGE`, `NETWORK`.

mod address;
mod base64;
mod proxied;
mod redact;
pub mod tls;
mod tunnel;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use sandbox::{Bindings, HostError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

pub use address::{PrivateAddress, forbidden_reason};
pub use proxied::{ProxiedRequest, ProxiedResponse};
pub use redact::Redactor;

pub use crate::error::FetchCode;

/// Request headers the code may not set: the connection is the host's business (a forged
/// `Host` would reach another virtual host on an allowed address).
const DROPPED_REQUEST_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];
/// Code-set headers dropped when a redirect leaves the origin, as browsers do.
const CROSS_ORIGIN_DROPPED: &[&str] = &["authorization", "cookie", "proxy-authorization"];

/// A host the code may reach: `api.example.com`, `*.example.com` (subdomains, not the apex),
/// an IP literal (`127.0.0.1`, `[::1]`), each optionally with `:port`; or an exact origin,
/// `https://api.example.com` (scheme, host and port: `:443` implied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// The host pattern: a name, `*.` wildcard or IP literal with an optional port, or an origin.
    pub host: String,
    /// Upper-case methods allowed on this host; `None` allows every method.
    pub methods: Option<Vec<String>>,
}

impl HostRule {
    /// Every method allowed.
    pub fn new(host: impl Into<String>) -> Self {
        HostRule {
            host: host.into(),
            methods: None,
        }
    }

    /// Only these methods (case-insensitive).
    pub fn methods<S: Into<String>>(mut self, methods: impl IntoIterator<Item = S>) -> Self {
        self.methods = Some(
            methods
                .into_iter()
                .map(|m| m.into().to_ascii_uppercase())
                .collect(),
        );
        self
    }
}

/// A header the host adds to requests to hosts matching `host` (same syntax as
/// [`HostRule::host`]). Its value never enters the isolate.
#[derive(Clone, PartialEq, Eq)]
pub struct InjectedHeader {
    /// Which hosts get the header, as in [`HostRule::host`].
    pub host: String,
    /// The header's name.
    pub name: String,
    /// The header's value (a credential): kept on the host, redacted from what code sees.
    pub value: String,
}

impl std::fmt::Debug for InjectedHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InjectedHeader")
            .field("host", &self.host)
            .field("name", &self.name)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// What one execution's `fetch` may do. The default denies everything (empty allowlist).
///
/// Built host-side only: nothing in it comes from the isolate.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// Hosts the code may reach; empty denies every request.
    pub allowed_hosts: Vec<HostRule>,
    /// Headers added host-side to requests to matching hosts.
    pub inject_headers: Vec<InjectedHeader>,
    /// Allow private (RFC 1918, CGNAT), loopback, link-local, unique-local and other
    /// non-public addresses. Off by default: they are where internal services and cloud
    /// metadata live.
    pub allow_private: bool,
    /// How to allow private addresses, as the refusal the code sees says it (e.g. the
    /// flag of the embedding CLI: `run islet with --allow-private-fetch`). `None`: the
    /// refusal names this policy's `allow_private`, which is what a library user sets.
    pub allow_private_hint: Option<String>,
    /// For the whole fetch: connecting, every redirect hop and reading the body.
    pub timeout: Duration,
    /// Larger response bodies fail with `FetchCode::ResponseTooLarge`.
    pub max_response_bytes: usize,
    /// Hops followed before `FetchCode::RedirectNotAllowed`.
    pub max_redirects: usize,
    /// Trusted DNS answers (`name` → address) that skip resolution *and* the private-address
    /// check for exactly that name: for hosts the operator knows (and for tests). Set
    /// host-side only; code cannot add to them.
    pub resolve_overrides: Vec<(String, SocketAddr)>,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allowed_hosts: Vec::new(),
            inject_headers: Vec::new(),
            allow_private: false,
            allow_private_hint: None,
            timeout: Duration::from_secs(30),
            max_response_bytes: 5 << 20,
            max_redirects: 5,
            resolve_overrides: Vec::new(),
        }
    }
}

impl FetchPolicy {
    /// Allows `host` (see [`HostRule`]) with every method.
    pub fn allow(mut self, host: impl Into<String>) -> Self {
        self.allowed_hosts.push(HostRule::new(host));
        self
    }

    /// Adds `name: value` to every request to hosts matching `host`.
    pub fn inject(
        mut self,
        host: impl Into<String>,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.inject_headers.push(InjectedHeader {
            host: host.into(),
            name: name.into(),
            value: value.into(),
        });
        self
    }
}

/// Checks a host pattern as [`HostRule::host`] and [`InjectedHeader::host`] take it; the
/// error says what is wrong and shows the accepted forms.
pub fn check_host_pattern(text: &str) -> Result<(), String> {
    Pattern::parse(text).map(|_| ())
}

/// A parsed host pattern.
#[derive(Debug, Clone)]
struct Pattern {
    /// `http` or `https` when the pattern names an origin (`https://api.example.com`).
    scheme: Option<String>,
    /// Lower-case; for `*.example.com` this is `.example.com`.
    host: String,
    wildcard: bool,
    /// With a scheme and no port, the scheme's default port: an origin is exact.
    port: Option<u16>,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.trim().to_ascii_lowercase();
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (Some(scheme.to_owned()), rest),
            Some((other, _)) => {
                return Err(format!(
                    "`{text}`: only http:// and https:// can be fetched, not `{other}://`"
                ));
            }
            None => (None, text.as_str()),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, mut port) = split_port(rest)?;
        if port.is_none() {
            port = match scheme.as_deref() {
                Some("http") => Some(80),
                Some("https") => Some(443),
                _ => None,
            };
        }
        let (host, wildcard) = match host.strip_prefix("*.") {
            Some(rest) => (format!(".{rest}"), true),
            None => (host.to_owned(), false),
        };
        let host = host.trim_end_matches('.').to_owned();
        let bare = host.trim_start_matches('.');
        // `_` is not valid in host names but common in internal ones (containers).
        let valid = !bare.is_empty()
            && (bare.starts_with('[') && bare.ends_with(']')
                || bare
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
        if !valid {
            return Err(format!(
                "`{text}` is not a host pattern; use `api.example.com`, `*.example.com`, \
                 `host:port` or `https://host[:port]`"
            ));
        }
        Ok(Pattern {
            scheme,
            host,
            wildcard,
            port,
        })
    }

    fn matches(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.trim_end_matches('.');
        let host_ok = if self.wildcard {
            host.len() > self.host.len() && host.ends_with(&self.host)
        } else {
            host == self.host
        };
        host_ok
            && self.scheme.as_deref().is_none_or(|s| s == url.scheme())
            && self
                .port
                .is_none_or(|p| url.port_or_known_default() == Some(p))
    }
}

/// `host[:port]`, with `[v6]:port` for IPv6 literals.
fn split_port(text: &str) -> Result<(&str, Option<u16>), String> {
    let port_at = if text.starts_with('[') {
        text.find(']')
            .map(|end| end + 1)
            .filter(|&i| i < text.len())
    } else {
        text.rfind(':')
    };
    match port_at {
        Some(i) if text[i..].starts_with(':') => {
            let port = text[i + 1..]
                .parse()
                .map_err(|_| format!("`{text}`: the port is not a number from 0 to 65535"))?;
            Ok((&text[..i], Some(port)))
        }
        _ => Ok((text, None)),
    }
}

/// The request `fetch.js` sends: `{url, method, headers: [[k, v]], body, bodyBase64?, redirect?}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchRequest {
    /// The absolute URL to fetch.
    pub url: String,
    /// The method; `GET` when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Header names and values as the code set them.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// A text body.
    #[serde(default)]
    pub body: Option<String>,
    /// A binary body, base64-encoded (instead of `body`).
    #[serde(default)]
    pub body_base64: Option<String>,
    /// `follow` (default), `manual` (return a 3xx as is) or `error`.
    #[serde(default)]
    pub redirect: Option<String>,
}

/// The response `fetch.js` turns into a `Response`. The body is text when it is UTF-8,
/// else base64.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The status line's reason phrase (`OK`, `Not Found`).
    pub status_text: String,
    /// The final URL, after redirects.
    pub url: String,
    /// Whether a redirect was followed.
    pub redirected: bool,
    /// Response headers, secrets redacted.
    pub headers: Vec<(String, String)>,
    /// The body when it is valid UTF-8, secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The body base64-encoded when it is not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

/// What to do with a 3xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redirect {
    /// Follow every hop; the first the policy refuses fails the request.
    Follow,
    /// Return the 3xx as it is.
    Manual,
    /// Fail with `FetchCode::RedirectNotAllowed`.
    Error,
    /// Follow the hops the policy allows and hand back, as with `Manual`, a 3xx pointing
    /// anywhere else. The OpenAPI `execute` path: the code sees where the API wanted to send
    /// it, and nothing (the credentials least of all) leaves the API's origin.
    FollowAllowed,
}

/// One request as the host sends it: what [`Fetcher::exchange`] takes from `fetch` and
/// from the OpenAPI `execute` path alike.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub body: Option<Vec<u8>>,
    pub redirect: Redirect,
}

/// A response: the URL that answered, headers with the injected names removed and values
/// scrubbed, and the body as received (callers scrub it once they know its shape: text,
/// JSON or bytes).
#[derive(Debug)]
pub(crate) struct Incoming {
    pub status: StatusCode,
    pub url: Url,
    pub redirected: bool,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why an exchange failed: a code the program can act on, the URL concerned (scrubbed),
/// and what went wrong and what to do. Callers phrase it as their own error.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: FetchCode,
    pub url: String,
    pub reason: String,
}

impl Failure {
    /// As `fetch` reports it.
    fn into_fetch_error(self) -> Error {
        let message = if self.code == FetchCode::Network {
            format!("fetch {} failed: {}", self.url, self.reason)
        } else {
            format!("fetch {}: {}", self.url, self.reason)
        };
        fetch_error(self.code, message)
    }
}

#[derive(Debug)]
struct Rule {
    pattern: Pattern,
    methods: Option<Vec<String>>,
}

#[derive(Debug)]
struct Injection {
    pattern: Pattern,
    name: HeaderName,
    value: HeaderValue,
}

/// Sends requests under one [`FetchPolicy`]. Build one per policy (usually per execution);
/// its client pools connections across that execution's fetches.
///
/// The one HTTP path from isolates to the network: `fetch` and the OpenAPI `execute`
/// bindings ([`crate::execute::HttpApi`]) both go through `Fetcher::exchange`.
#[derive(Debug)]
pub struct Fetcher {
    rules: Vec<Rule>,
    injections: Vec<Injection>,
    /// The allowlist as written, for error messages.
    allowed: String,
    allow_private: bool,
    /// What a private-address refusal says to do instead.
    allow_private_hint: String,
    timeout: Duration,
    max_response_bytes: usize,
    max_redirects: usize,
    redactor: Redactor,
    client: reqwest::Client,
    /// The policy's trusted DNS answers, also for [`Fetcher::tunnel`].
    overrides: Arc<Vec<(String, SocketAddr)>>,
}

impl Fetcher {
    /// A fetcher for `policy`; fails when a host rule or header in it is malformed.
    pub fn new(policy: FetchPolicy) -> Result<Fetcher, Error> {
        Self::with_secrets(policy, Vec::new())
    }

    /// Like [`Fetcher::new`], also scrubbing `extra_secrets`: credentials that reach the
    /// server some other way (a password in the API's base URL).
    pub(crate) fn with_secrets(
        policy: FetchPolicy,
        extra_secrets: Vec<String>,
    ) -> Result<Fetcher, Error> {
        let fail = |reason: String| Error::Config {
            reason: format!("fetch policy: {reason}"),
        };
        let mut rules = Vec::new();
        for rule in &policy.allowed_hosts {
            rules.push(Rule {
                pattern: Pattern::parse(&rule.host).map_err(fail)?,
                methods: rule
                    .methods
                    .as_ref()
                    .map(|m| m.iter().map(|m| m.trim().to_ascii_uppercase()).collect()),
            });
        }
        let mut injections = Vec::new();
        let mut secrets = extra_secrets;
        for header in &policy.inject_headers {
            let name = HeaderName::from_bytes(header.name.trim().as_bytes())
                .map_err(|_| fail(format!("`{}` is not a valid header name", header.name)))?;
            let mut value = HeaderValue::from_str(header.value.trim()).map_err(|_| {
                fail(format!(
                    "the value of header `{}` is not a valid header value",
                    header.name
                ))
            })?;
            value.set_sensitive(true);
            secrets.push(header.value.trim().to_owned());
            injections.push(Injection {
                pattern: Pattern::parse(&header.host).map_err(fail)?,
                name,
                value,
            });
        }
        let overrides = policy
            .resolve_overrides
            .iter()
            .map(|(name, addr)| (name.trim_end_matches('.').to_ascii_lowercase(), *addr))
            .collect();
        let overrides = Arc::new(overrides);
        let resolver = address::GuardedResolver {
            allow_private: policy.allow_private,
            overrides: Arc::clone(&overrides),
        };
        let mut builder = tls::client_builder()
            .map_err(fail)?
            // Redirects are followed here, one checked hop at a time.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(resolver)
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)));
        if !policy.allow_private {
            // A proxy would resolve names itself, past the address check. With private
            // addresses allowed there is no such check to bypass, and an operator behind a
            // proxy (`HTTPS_PROXY`) keeps it; hosts are still checked here, on the URL.
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| fail(format!("cannot build an HTTP client: {e}")))?;
        let allowed = if policy.allowed_hosts.is_empty() {
            "none (the policy allows no host)".to_owned()
        } else {
            policy
                .allowed_hosts
                .iter()
                .map(|r| match &r.methods {
                    Some(m) => format!("{} ({})", r.host.trim(), m.join(", ")),
                    None => r.host.trim().to_owned(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        Ok(Fetcher {
            rules,
            injections,
            allowed,
            allow_private: policy.allow_private,
            allow_private_hint: policy.allow_private_hint.clone().unwrap_or_else(|| {
                "the fetch policy does not allow them (`FetchPolicy::allow_private`)".to_owned()
            }),
            timeout: policy.timeout,
            max_response_bytes: policy.max_response_bytes,
            max_redirects: policy.max_redirects,
            redactor: Redactor::new(secrets),
            client,
            overrides,
        })
    }

    /// What secrets are scrubbed with.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The largest response body read (the policy's cap).
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// Sends `request` under the policy, following (and re-checking) redirects, within the
    /// policy's timeout.
    pub async fn fetch(&self, request: FetchRequest) -> Result<FetchResponse, Error> {
        let outgoing = self.outgoing(request).map_err(Failure::into_fetch_error)?;
        let incoming = self
            .exchange(outgoing)
            .await
            .map_err(Failure::into_fetch_error)?;
        Ok(self.response(incoming))
    }

    /// `fetch.js`'s request as an [`Outgoing`] one.
    fn outgoing(&self, request: FetchRequest) -> Result<Outgoing, Failure> {
        let shown = self.redactor.text(&request.url);
        let invalid = |reason: String| Failure {
            code: FetchCode::InvalidRequest,
            url: shown.clone(),
            reason,
        };
        let url = Url::parse(request.url.trim()).map_err(|e| {
            invalid(format!(
                "not an absolute URL ({e}); fetch needs e.g. \"https://api.example.com/path\""
            ))
        })?;
        let method = match request.method.as_deref() {
            None => Method::GET,
            Some(m) => Method::from_bytes(m.as_bytes())
                .map_err(|_| invalid(format!("`{m}` is not an HTTP method")))?,
        };
        let redirect = match request.redirect.as_deref() {
            None | Some("follow") => Redirect::Follow,
            Some("manual") => Redirect::Manual,
            Some("error") => Redirect::Error,
            Some(other) => {
                return Err(invalid(format!(
                    "redirect must be \"follow\", \"manual\" or \"error\"; got \"{other}\""
                )));
            }
        };
        let headers = header_map(&request.headers).map_err(invalid)?;
        let body = match (request.body, request.body_base64) {
            (_, Some(encoded)) => Some(
                base64::decode(&encoded)
                    .ok_or_else(|| invalid("bodyBase64 is not base64".into()))?,
            ),
            (Some(text), None) => Some(text.into_bytes()),
            (None, None) => None,
        };
        Ok(Outgoing {
            method,
            url,
            headers,
            body,
            redirect,
        })
    }

    /// An [`Incoming`] response as `fetch.js` takes it: text when the body is UTF-8, else
    /// base64; secrets scrubbed either way.
    fn response(&self, incoming: Incoming) -> FetchResponse {
        let (body, body_base64) = match String::from_utf8(incoming.body) {
            Ok(text) => (Some(self.redactor.text(&text)), None),
            Err(e) => (
                None,
                Some(base64::encode(&self.redact_bytes(e.into_bytes()))),
            ),
        };
        FetchResponse {
            status: incoming.status.as_u16(),
            status_text: incoming
                .status
                .canonical_reason()
                .unwrap_or_default()
                .to_owned(),
            url: self.redactor.text(incoming.url.as_str()),
            redirected: incoming.redirected,
            headers: incoming.headers,
            body,
            body_base64,
        }
    }

    /// Sends `outgoing` under the policy within its timeout: every hop checked (scheme,
    /// address literal, host, method; names after DNS resolution), the code's connection
    /// headers dropped, the injected headers added for the hops they match, the body read
    /// up to the cap.
    pub(crate) async fn exchange(&self, outgoing: Outgoing) -> Result<Incoming, Failure> {
        let url = self.redactor.text(outgoing.url.as_str());
        match tokio::time::timeout(self.timeout, self.follow(outgoing)).await {
            Ok(result) => result,
            Err(_) => Err(Failure {
                code: FetchCode::Timeout,
                url,
                reason: format!(
                    "no complete response within {} ms; ask for less or retry later",
                    self.timeout.as_millis()
                ),
            }),
        }
    }

    async fn follow(&self, outgoing: Outgoing) -> Result<Incoming, Failure> {
        let Outgoing {
            mut method,
            mut url,
            mut headers,
            mut body,
            redirect,
        } = outgoing;
        let first = self.redactor.text(url.as_str());
        // The connection is the host's business: a forged `Host` would reach another
        // virtual host on an allowed address.
        for name in DROPPED_REQUEST_HEADERS {
            headers.remove(*name);
        }
        let mut redirected = false;
        let mut hops = 0;
        self.check(&url, &method)?;
        loop {
            let mut hop_headers = headers.clone();
            // Injected last: they replace whatever the code set under the same name.
            let mut injected = false;
            for injection in self.injections.iter().filter(|i| i.pattern.matches(&url)) {
                hop_headers.insert(injection.name.clone(), injection.value.clone());
                injected = true;
            }
            // A compressed body could not be scrubbed: a server echoing the credential in
            // gzip (asked for by the code's own Accept-Encoding) would hand it over.
            if injected {
                hop_headers.insert(
                    reqwest::header::ACCEPT_ENCODING,
                    HeaderValue::from_static("identity"),
                );
            }
            let mut builder = self
                .client
                .request(method.clone(), url.clone())
                .headers(hop_headers);
            if let Some(bytes) = &body {
                builder = builder.body(bytes.clone());
            }
            tracing::debug!(method = %method, host = url.host_str().unwrap_or(""), "host-side HTTP request");
            let response = builder
                .send()
                .await
                .map_err(|e| self.send_error(&url, &e))?;
            let status = response.status();
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            let (true, Some(location)) = (status.is_redirection(), location) else {
                return self.read(url, redirected, response).await;
            };
            if status == StatusCode::NOT_MODIFIED || redirect == Redirect::Manual {
                return self.read(url, redirected, response).await;
            }
            let shown = self.redactor.text(url.as_str());
            if redirect == Redirect::Error {
                return Err(Failure {
                    code: FetchCode::RedirectNotAllowed,
                    url: shown,
                    reason: format!(
                        "the server redirected (HTTP {}) and the request said redirect: \"error\"",
                        status.as_u16()
                    ),
                });
            }
            let next = url.join(&location).map_err(|_| Failure {
                code: FetchCode::InvalidRequest,
                url: shown.clone(),
                reason: format!(
                    "the redirect target `{}` is not a URL",
                    self.redactor.text(&location)
                ),
            })?;
            // 303 always, and 301/302 after POST, continue as a GET without the body (as
            // browsers and Node do); 307/308 repeat the request as it was.
            let to_get = status == StatusCode::SEE_OTHER && method != Method::HEAD
                || matches!(status.as_u16(), 301 | 302) && method == Method::POST;
            let next_method = if to_get { Method::GET } else { method.clone() };
            if let Err(refused) = self.check(&next, &next_method) {
                if redirect == Redirect::FollowAllowed {
                    return self.read(url, redirected, response).await;
                }
                return Err(refused);
            }
            if hops >= self.max_redirects {
                let hint = if redirect == Redirect::Follow {
                    "; pass redirect: \"manual\" to see them"
                } else {
                    ""
                };
                return Err(Failure {
                    code: FetchCode::RedirectNotAllowed,
                    url: first,
                    reason: format!("more than {} redirects{hint}", self.max_redirects),
                });
            }
            if to_get {
                body = None;
                headers.remove(reqwest::header::CONTENT_TYPE);
            }
            if next.origin() != url.origin() {
                for name in CROSS_ORIGIN_DROPPED {
                    headers.remove(*name);
                }
            }
            method = next_method;
            url = next;
            redirected = true;
            hops += 1;
        }
    }

    /// The policy's checks for one hop: scheme, address literal, host, method. The DNS
    /// resolver checks names after resolution.
    fn check(&self, url: &Url, method: &Method) -> Result<(), Failure> {
        let shown = self.redactor.text(url.as_str());
        let refuse = |code: FetchCode, reason: String| Failure {
            code,
            url: shown.clone(),
            reason,
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse(
                FetchCode::InvalidRequest,
                format!(
                    "only http and https URLs can be fetched, not `{}:`",
                    url.scheme()
                ),
            ));
        }
        let host = url.host_str().unwrap_or_default();
        if !self.allow_private {
            // The URL parser has already normalised literals (`2130706433`, `0x7f.1` are
            // 127.0.0.1 here); IPv6 ones keep their brackets.
            let literal = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok();
            if let Some(reason) = literal.and_then(forbidden_reason) {
                return Err(
                    self.private_failure(shown.clone(), &format!("{host} is a {reason} address"))
                );
            }
        }
        let matching: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| r.pattern.matches(url))
            .collect();
        if matching.is_empty() {
            return Err(refuse(
                FetchCode::HostNotAllowed,
                format!(
                    "{host} is not an allowed host; allowed hosts: {}",
                    self.allowed
                ),
            ));
        }
        let method_ok = matching.iter().any(|r| {
            r.methods
                .as_ref()
                // Case-insensitive: fetch sends `patch` as written (the standard upper-cases
                // only DELETE, GET, HEAD, OPTIONS, POST and PUT).
                .is_none_or(|m| m.iter().any(|m| m.eq_ignore_ascii_case(method.as_str())))
        });
        if !method_ok {
            return Err(refuse(
                FetchCode::MethodNotAllowed,
                format!(
                    "{method} is not allowed on {host}; allowed: {}",
                    self.allowed
                ),
            ));
        }
        Ok(())
    }

    /// Reads the body up to the cap; header values are scrubbed, the body is left to the
    /// caller.
    async fn read(
        &self,
        url: Url,
        redirected: bool,
        mut response: reqwest::Response,
    ) -> Result<Incoming, Failure> {
        let too_large = || Failure {
            code: FetchCode::ResponseTooLarge,
            url: self.redactor.text(url.as_str()),
            reason: format!(
                "the response is larger than {} bytes (the cap) and was not read; ask for \
                 less (pagination, filters, a range)",
                self.max_response_bytes
            ),
        };
        if response
            .content_length()
            .is_some_and(|n| n > self.max_response_bytes as u64)
        {
            return Err(too_large());
        }
        let status = response.status();
        let mut headers = Vec::new();
        for (name, value) in response.headers() {
            if self.injections.iter().any(|i| i.name == *name) {
                continue;
            }
            let value = self
                .redactor
                .text(&String::from_utf8_lossy(value.as_bytes()));
            headers.push((name.as_str().to_owned(), value));
        }
        // Streamed and stopped at the cap: Content-Length may be absent or wrong.
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.send_error(&url, &e))?
        {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Incoming {
            status,
            url,
            redirected,
            headers,
            body,
        })
    }

    /// Secrets are ASCII header values, so mapping each byte to the char of the same number
    /// (Latin-1) lets the text redactor work on binary bodies and maps back exactly.
    fn redact_bytes(&self, bytes: Vec<u8>) -> Vec<u8> {
        if self.redactor.is_empty() {
            return bytes;
        }
        let latin1: String = bytes.iter().map(|&b| char::from(b)).collect();
        self.redactor
            .text(&latin1)
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect()
    }

    fn private_failure(&self, url: String, what: &str) -> Failure {
        Failure {
            code: FetchCode::PrivateAddress,
            url,
            reason: format!(
                "{what}; private, loopback and link-local addresses are refused: {}",
                self.allow_private_hint
            ),
        }
    }

    fn send_error(&self, url: &Url, error: &reqwest::Error) -> Failure {
        let shown = self.redactor.text(url.as_str());
        let mut source: Option<&dyn std::error::Error> = Some(error);
        while let Some(e) = source {
            if let Some(private) = e.downcast_ref::<PrivateAddress>() {
                return self.private_failure(shown, &private.to_string());
            }
            source = e.source();
        }
        if error.is_timeout() {
            return Failure {
                code: FetchCode::Timeout,
                url: shown,
                reason: format!(
                    "no response within {} ms; retry later",
                    self.timeout.min(Duration::from_secs(10)).as_millis()
                ),
            };
        }
        Failure {
            code: FetchCode::Network,
            url: shown,
            reason: self.redactor.text(&base::error_chain(error)),
        }
    }

    /// The binding's body: the JSON request from `fetch.js` in, the JSON response out.
    pub async fn call(&self, args: Value) -> Result<Value, HostError> {
        let request: FetchRequest = serde_json::from_value(args).map_err(|e| {
            HostError::new(
                FetchCode::InvalidRequest.as_str(),
                format!("fetch: malformed request from the isolate: {e}"),
            )
            .with_name("TypeError")
        })?;
        let response = self
            .fetch(request)
            .await
            .map_err(|e| self.redactor.host_error(&e))?;
        serde_json::to_value(response).map_err(|e| {
            HostError::new(
                "INTERNAL",
                format!("fetch: cannot encode the response: {e}"),
            )
        })
    }
}

fn fetch_error(code: FetchCode, message: String) -> Error {
    Error::Fetch { code, message }
}

/// The binding that gives an execution `fetch` (and `Request`, `Response`, `Headers`)
/// under `fetcher`'s policy. Without it, `fetch` is undefined in the isolate.
pub fn fetch_binding(fetcher: Arc<Fetcher>) -> Bindings {
    with_fetch(Bindings::new(), fetcher)
}

/// Adds the fetch binding to `bindings`.
pub fn with_fetch(bindings: Bindings, fetcher: Arc<Fetcher>) -> Bindings {
    let (namespace, name) = sandbox::FETCH_BINDING;
    bindings.function(namespace, name, move |args: Value| {
        let fetcher = Arc::clone(&fetcher);
        async move { fetcher.call(args).await }
    })
}

/// A request's `(name, value)` headers as a map; the error names the first invalid one.
pub(crate) fn header_map(pairs: &[(String, String)]) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("`{name}` is not a valid header name"))?;
        let value = HeaderValue::from_str(value.trim())
            .map_err(|_| format!("the value of header `{name}` is not valid"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("a URL")
    }

    #[test]
    fn host_patterns_match_exact_wildcard_and_port() {
        let exact = Pattern::parse("API.example.com").expect("parses");
        assert!(exact.matches(&url("https://api.example.com/x")));
        assert!(exact.matches(&url("http://api.example.com.:8080/")));
        assert!(!exact.matches(&url("https://evil.api.example.com/")));
        assert!(!exact.matches(&url("https://api.example.com.evil.net/")));
        let wildcard = Pattern::parse("*.example.com").expect("parses");
        assert!(wildcard.matches(&url("https://a.b.example.com/")));
        assert!(!wildcard.matches(&url("https://example.com/")));
        assert!(!wildcard.matches(&url("https://badexample.com/")));
        let port = Pattern::parse("127.0.0.1:8080").expect("parses");
        assert!(port.matches(&url("http://127.0.0.1:8080/")));
        assert!(!port.matches(&url("http://127.0.0.1:8081/")));
        let v6 = Pattern::parse("[::1]:443").expect("parses");
        assert!(v6.matches(&url("https://[::1]/")));
        assert!(Pattern::parse("exa mple.com").is_err());
        assert!(Pattern::parse("example.com:http").is_err());
    }

    #[tokio::test]
    async fn ip_literals_in_private_ranges_are_refused_before_connecting() {
        let fetcher = Fetcher::new(FetchPolicy::default().allow("*.example.com")).expect("builds");
        for target in [
            "http://127.0.0.1/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00::1]/",
        ] {
            let request = FetchRequest {
                url: target.into(),
                ..FetchRequest::default()
            };
            match fetcher.fetch(request).await {
                Err(Error::Fetch { code, .. }) => {
                    assert_eq!(code, FetchCode::PrivateAddress, "{target}")
                }
                other => panic!("{target}: expected PRIVATE_ADDRESS, got {other:?}"),
            }
        }
    }
}
