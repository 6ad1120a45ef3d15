//! Requests a proxy makes for a process that is not an isolate (a Linux sandbox's plain
//! `http://` requests to hosts with injected headers): the same path as `fetch` (the
//! policy's checks on every hop, the injected headers, the size cap), answering with the
//! bytes as received, secrets scrubbed (and uncompressed, so they can be). The process never holds the credential; the host
//! adds it and sends the request itself, over HTTPS unless the operator's rule named an
//! `http://` origin.

use reqwest::{Method, Url};

use super::{Failure, FetchCode, Fetcher, Outgoing, Redirect};
use crate::error::Error;

/// One request as a proxy received it.
#[derive(Debug, Clone, Default)]
pub struct ProxiedRequest {
    /// The method, as sent.
    pub method: String,
    /// The absolute URL to send it to (the proxy chooses the scheme).
    pub url: String,
    /// The process's headers; connection headers are dropped, injected ones replace
    /// theirs.
    pub headers: Vec<(String, String)>,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
}

/// The response to a [`ProxiedRequest`]: headers without the injected names and with
/// secrets scrubbed, the body (read up to the policy's cap) scrubbed too.
#[derive(Debug, Clone)]
pub struct ProxiedResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The status line's reason phrase.
    pub reason: String,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The body, as bytes.
    pub body: Vec<u8>,
}

impl Fetcher {
    /// Whether the policy adds a header to requests to `url` (one of its header rules
    /// matches it).
    pub fn injects_into(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|url| self.injections.iter().any(|i| i.pattern.matches(&url)))
    }

    /// Sends `request` as `fetch` would, following the redirects the policy allows and
    /// answering any other 3xx as it is (the credentials never leave the allowed hosts).
    /// Errors are `fetch`'s ([`Error::Fetch`] with its code), secrets scrubbed.
    pub async fn forward(&self, request: ProxiedRequest) -> Result<ProxiedResponse, Error> {
        let shown = self.redactor.text(&request.url);
        let invalid = |reason: String| Failure {
            code: FetchCode::InvalidRequest,
            url: shown.clone(),
            reason,
        };
        let outgoing = (|| {
            let url = Url::parse(request.url.trim())
                .map_err(|e| invalid(format!("not an absolute URL ({e})")))?;
            let method = Method::from_bytes(request.method.as_bytes())
                .map_err(|_| invalid(format!("`{}` is not an HTTP method", request.method)))?;
            let headers = super::header_map(&request.headers).map_err(invalid)?;
            Ok(Outgoing {
                method,
                url,
                headers,
                body: request.body,
                redirect: Redirect::FollowAllowed,
            })
        })()
        .map_err(Failure::into_fetch_error)?;
        let incoming = self
            .exchange(outgoing)
            .await
            .map_err(Failure::into_fetch_error)?;
        Ok(ProxiedResponse {
            status: incoming.status.as_u16(),
            reason: incoming
                .status
                .canonical_reason()
                .unwrap_or_default()
                .to_owned(),
            headers: incoming.headers,
            body: self.redact_bytes(incoming.body),
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::ProxiedRequest;
    use crate::egress::{FetchPolicy, Fetcher};

    /// Answers one request with what it got: its head and body.
    async fn given_echo_server() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut data = Vec::new();
            let mut buffer = [0u8; 4096];
            while !String::from_utf8_lossy(&data).contains("a=1") {
                let n = stream.read(&mut buffer).await.unwrap();
                data.extend_from_slice(&buffer[..n]);
            }
            let body = String::from_utf8_lossy(&data).to_ascii_lowercase();
            let response = format!(
                "HTTP/1.1 200 OK\r\nauthorization: echoed\r\nx-seen: yes\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(response.as_bytes()).await.unwrap();
        });
        port
    }

    #[tokio::test]
    async fn issue18_forwarded_requests_get_the_injected_header_and_answer_it_scrubbed() {
        let port = given_echo_server().await;
        let origin = format!("http://127.0.0.1:{port}");
        let policy = FetchPolicy {
            allow_private: true,
            ..FetchPolicy::default()
        }
        .allow("127.0.0.1")
        .inject(origin.clone(), "Authorization", "Bearer sandbox-secret-1");
        let fetcher = Fetcher::new(policy).unwrap();
        assert!(fetcher.injects_into(&format!("{origin}/x")));
        assert!(!fetcher.injects_into(&format!("https://127.0.0.1:{port}/x")));
        assert!(!fetcher.injects_into("http://127.0.0.1:1/x"));
        let response = fetcher
            .forward(ProxiedRequest {
                method: "POST".into(),
                url: format!("{origin}/items"),
                headers: vec![
                    ("Authorization".into(), "Bearer forged".into()),
                    ("Host".into(), "elsewhere.test".into()),
                    ("Accept-Encoding".into(), "gzip".into()),
                ],
                body: Some(b"a=1".to_vec()),
            })
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        let body = String::from_utf8(response.body).unwrap();
        // The server got the injected value (not the forged one, nor the forged host),
        // and the echo comes back scrubbed.
        assert!(body.starts_with("post /items http/1.1\r\n"), "{body}");
        assert!(body.contains("authorization: bearer [REDACTED]"), "{body}");
        assert!(
            !body.contains("forged") && !body.contains("elsewhere"),
            "{body}"
        );
        assert!(body.contains("accept-encoding: identity\r\n"), "{body}");
        assert!(!body.contains("gzip"), "{body}");
        // Headers under an injected name never come back.
        let names: Vec<&str> = response.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            names.contains(&"x-seen") && !names.contains(&"authorization"),
            "{names:?}"
        );
    }
}
