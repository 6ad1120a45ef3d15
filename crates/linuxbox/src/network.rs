//! A sandbox's way out, when it has one: an HTTP proxy on the host that the sandbox alone
//! can reach. A sandbox has its own network namespace with only loopback, so nothing in it
//! can connect anywhere by itself. With a [`Connector`] configured, the host listens on a
//! Unix socket in the sandbox's run directory, bound into the sandbox at `SOCKET_PATH`;
//! the init forwards `127.0.0.1:3128` inside the sandbox to it (`forward`), and commands
//! get `HTTP_PROXY`/`HTTPS_PROXY` pointing there. Each request (`CONNECT host:port` for
//! HTTPS and anything tunnelled, or an absolute-form `GET http://host/…`) is decided and
//! connected by the connector on the host, so the policy never depends on the process.
//!
//! Secrets: for hosts the connector [makes requests to](Connector::makes_requests) itself
//! (islet's: hosts with injected headers), a plain `http://` request is not relayed but
//! handed to [`Connector::request`], which adds the credentials and sends it (over HTTPS)
//! from the host; the process sees only the response. A `CONNECT` to such a host is
//! refused: a tunnel carries TLS the host cannot add a header to, and a process that
//! expected its credentials there would only meet `401`s.

use std::fmt;
use std::future::Future;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UnixListener, UnixStream};

use crate::error::{Error, Result};

/// Where the host's proxy socket appears inside a sandbox.
pub(crate) const SOCKET_DIR: &str = "/run/islet/net";
pub(crate) const SOCKET_PATH: &str = "/run/islet/net/proxy.sock";
/// The variable that tells the init to forward the proxy port.
pub(crate) const PROXY_ENV: &str = "ISLET_LINUXBOX_PROXY";
/// The proxy's address inside the sandbox.
pub(crate) const PROXY_ADDR: &str = "127.0.0.1:3128";

/// The largest request head the proxy reads.
const MAX_HEAD_BYTES: usize = 16 << 10;
/// The largest request body the proxy reads for a request the host makes itself.
const MAX_BODY_BYTES: usize = 16 << 20;

/// The future a [`Connector`] returns: a connection, or why there is none (said to the
/// command as the proxy's 403).
pub type ConnectFuture =
    Pin<Box<dyn Future<Output = std::result::Result<TcpStream, String>> + Send>>;

/// The future [`Connector::request`] returns.
pub type RequestFuture =
    Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, HttpRefusal>> + Send>>;

/// A plain HTTP request from the sandbox (`GET http://host[:port]/path` to the proxy),
/// for the host to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, as sent.
    pub method: String,
    /// The host, lower-case, as the command named it.
    pub host: String,
    /// The port the command named; 80 when it named none.
    pub port: u16,
    /// The path and query (`/path?q=1`).
    pub path: String,
    /// The command's headers, without the proxy and connection ones.
    pub headers: Vec<(String, String)>,
    /// The body (by `content-length`; chunked bodies are refused with `411`).
    pub body: Vec<u8>,
}

/// The response to an [`HttpRequest`]; the proxy sends it with its own `content-length`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Response headers (framing ones are replaced by the proxy's).
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Why the host did not make a request: the status the command gets (`403` refused by
/// the policy, `502` upstream failure, `504` timeout) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRefusal {
    /// The HTTP status of the proxy's answer.
    pub status: u16,
    /// What went wrong, for the command's user (no secrets).
    pub message: String,
}

/// Decides and opens the connections a sandbox asks for (`host`, `port` as the command
/// named them). Implemented by the embedder over its egress policy.
pub trait Connector: Send + Sync + fmt::Debug {
    /// Opens a connection to `host:port` if the policy allows it, else says why not.
    fn connect(&self, host: String, port: u16) -> ConnectFuture;

    /// Whether plain `http://host:port` requests are made by the host through
    /// [`Connector::request`] rather than relayed, e.g. because the host adds credentials
    /// to them; a `CONNECT` to such a host is refused. No host by default.
    fn makes_requests(&self, _host: &str, _port: u16) -> bool {
        false
    }

    /// Makes `request` for the sandbox (only called when [`Connector::makes_requests`]
    /// said so).
    fn request(&self, request: HttpRequest) -> RequestFuture {
        let message = format!(
            "{}:{} is not reached by host-side requests",
            request.host, request.port
        );
        Box::pin(async move {
            Err(HttpRefusal {
                status: 502,
                message,
            })
        })
    }
}

/// The variables commands get when the sandbox has a way out. Local addresses stay direct
/// (a server in the sandbox answers on its own loopback).
pub(crate) fn proxy_env() -> Vec<(String, String)> {
    let url = format!("http://{PROXY_ADDR}");
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        env.push((name.to_string(), url.clone()));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        env.push((name.to_string(), "localhost,127.0.0.1,::1".to_string()));
    }
    env
}

/// Listens on `dir/proxy.sock` for the sandbox's connections; the task ends when aborted
/// (with the sandbox).
pub(crate) fn listen(
    dir: &Path,
    connector: Arc<dyn Connector>,
) -> Result<tokio::task::JoinHandle<()>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join("proxy.sock");
    let listener = UnixListener::bind(&path).map_err(|e| Error::io(&path, e))?;
    // The sandbox's user (another uid when islet runs as root) must be able to connect;
    // the run directory above is islet's own.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| Error::io(&path, e))?;
    Ok(tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let connector = Arc::clone(&connector);
            tokio::spawn(async move {
                if let Err(e) = serve(stream, connector.as_ref()).await {
                    tracing::debug!("sandbox proxy connection: {e}");
                }
            });
        }
    }))
}

/// One proxied connection.
async fn serve(mut client: UnixStream, connector: &dyn Connector) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let end = loop {
        let mut chunk = [0u8; 2048];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&head, b"\r\n\r\n") {
            break end + 4;
        }
        if head.len() > MAX_HEAD_BYTES {
            return refuse(&mut client, 431, "the request head is too large").await;
        }
    };
    let rest = head.split_off(end);
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or("HTTP/1.1"),
    );
    if method.eq_ignore_ascii_case("CONNECT") {
        let Some((host, port)) = split_host_port(target, None) else {
            return refuse(&mut client, 400, "CONNECT needs host:port").await;
        };
        if connector.makes_requests(&host, port) {
            let message = format!(
                "{host} gets credentials added by the host, which a tunnel (https://) cannot \
                 carry; request http://{host}/… instead: the host sends it over HTTPS with them"
            );
            return refuse(&mut client, 403, &message).await;
        }
        let mut upstream = match connector.connect(host.clone(), port).await {
            Ok(upstream) => upstream,
            Err(reason) => return refuse(&mut client, 403, &reason).await,
        };
        client
            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await?;
        upstream.write_all(&rest).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    // Plain HTTP through a proxy: the target is absolute (`http://host[:port]/path`).
    let Some(after) = target.strip_prefix("http://") else {
        return refuse(
            &mut client,
            400,
            "the proxy takes CONNECT host:port, or http:// URLs in absolute form",
        )
        .await;
    };
    let (authority, path) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    };
    let Some((host, port)) = split_host_port(authority, Some(80)) else {
        return refuse(&mut client, 400, "the URL has no usable host").await;
    };
    if connector.makes_requests(&host, port) {
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_string(), value.trim().to_string()))
            })
            .collect();
        let request = HttpRequest {
            method: method.to_string(),
            host,
            port,
            path: path.to_string(),
            headers,
            body: Vec::new(),
        };
        return made_by_host(client, connector, request, rest).await;
    }
    let mut upstream = match connector.connect(host, port).await {
        Ok(upstream) => upstream,
        Err(reason) => return refuse(&mut client, 403, &reason).await,
    };
    let mut forwarded = format!("{method} {path} {version}\r\n");
    for line in lines.filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        // One request per connection: a second one on a kept-alive connection would reach
        // this upstream whatever host it named.
        if [
            "proxy-connection",
            "proxy-authorization",
            "connection",
            "keep-alive",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        forwarded.push_str(line);
        forwarded.push_str("\r\n");
    }
    forwarded.push_str("connection: close\r\n\r\n");
    upstream.write_all(forwarded.as_bytes()).await?;
    upstream.write_all(&rest).await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Headers that concern the connection to the proxy, not the request: the host's own
/// request frames itself.
fn is_hop_by_hop(name: &str) -> bool {
    [
        "proxy-connection",
        "proxy-authorization",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "content-length",
        "host",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// A request the connector makes: reads the body (`content-length` only), hands it over,
/// and writes the response back whole, one request per connection.
async fn made_by_host(
    mut client: UnixStream,
    connector: &dyn Connector,
    mut request: HttpRequest,
    mut body: Vec<u8>,
) -> std::io::Result<()> {
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_ascii_lowercase())
    };
    if header("transfer-encoding").is_some_and(|te| te != "identity") {
        return refuse(
            &mut client,
            411,
            "send the body with a content-length (chunked bodies are not forwarded)",
        )
        .await;
    }
    let length = match header("content-length").map(|l| l.parse::<usize>()) {
        None => 0,
        Some(Ok(length)) if length <= MAX_BODY_BYTES => length,
        Some(Ok(_)) => {
            let message = format!("the request body is over {MAX_BODY_BYTES} bytes");
            return refuse(&mut client, 413, &message).await;
        }
        Some(Err(_)) => {
            return refuse(&mut client, 400, "the content-length is not a number").await;
        }
    };
    if length > body.len() && header("expect").is_some_and(|e| e == "100-continue") {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 << 10)];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    request.headers.retain(|(name, _)| !is_hop_by_hop(name));
    request.body = body;
    let response = match connector.request(request).await {
        Ok(response) => response,
        Err(refusal) => return refuse(&mut client, refusal.status, &refusal.message).await,
    };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        if response.reason.is_empty() {
            reason_phrase(response.status)
        } else {
            &response.reason
        }
    );
    for (name, value) in &response.headers {
        if is_hop_by_hop(name) {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        response.body.len()
    ));
    client.write_all(head.as_bytes()).await?;
    client.write_all(&response.body).await?;
    client.shutdown().await
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

async fn refuse(client: &mut UnixStream, status: u16, reason: &str) -> std::io::Result<()> {
    let phrase = reason_phrase(status);
    let body = format!("islet sandbox proxy: {reason}\n");
    let response = format!(
        "HTTP/1.1 {status} {phrase}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(response.as_bytes()).await?;
    client.shutdown().await
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `host:port`, `[v6]:port`, or `host` with `default` port.
fn split_host_port(text: &str, default: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default?,
        };
        (host, port)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()?),
            None => (text, default?),
        }
    };
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), port))
}

/// Inside the sandbox (the init, when [`PROXY_ENV`] is set): accepts on [`PROXY_ADDR`] and
/// splices each connection to the host's socket, two threads per connection. Runs on its
/// own thread until the sandbox ends.
pub(crate) fn forward(socket_path: String) {
    let listener = match std::net::TcpListener::bind(PROXY_ADDR) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("linuxbox-init: cannot listen on {PROXY_ADDR} for the proxy: {e}");
            return;
        }
    };
    let _ = std::thread::Builder::new()
        .name("proxy".into())
        .spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(host) = std::os::unix::net::UnixStream::connect(&socket_path) else {
                    continue;
                };
                let (Ok(client_read), Ok(host_write)) = (client.try_clone(), host.try_clone())
                else {
                    continue;
                };
                let _ = std::thread::Builder::new().spawn(move || {
                    splice(client_read, host_write);
                });
                let _ = std::thread::Builder::new().spawn(move || {
                    splice(host, client);
                });
            }
        });
}

/// Copies until end of file, then passes the end on (half-close).
fn splice<R: std::io::Read + Shutdown, W: std::io::Write + Shutdown>(mut from: R, mut to: W) {
    let mut buffer = [0u8; 16 << 10];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    to.shutdown_write();
    from.shutdown_read();
}

trait Shutdown {
    fn shutdown_write(&self);
    fn shutdown_read(&self);
}

impl Shutdown for std::net::TcpStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
    fn shutdown_read(&self) {
        let _ = self.shutdown(std::net::Shutdown::Read);
    }
}

impl Shutdown for std::os::unix::net::UnixStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
    fn shutdown_read(&self) {
        let _ = self.shutdown(std::net::Shutdown::Read);
    }
}

#[cfg(test)]
mod tests {
    use super::split_host_port;

    #[test]
    fn host_and_port_forms() {
        assert_eq!(
            split_host_port("example.com:443", None),
            Some(("example.com".into(), 443))
        );
        assert_eq!(
            split_host_port("Example.com", Some(80)),
            Some(("example.com".into(), 80))
        );
        assert_eq!(
            split_host_port("[::1]:8080", None),
            Some(("::1".into(), 8080))
        );
        assert_eq!(split_host_port("example.com", None), None);
        assert_eq!(split_host_port(":80", None), None);
    }
}
