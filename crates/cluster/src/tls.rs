//! TLS to the cluster's PostgreSQL: `sslmode=require` (or `verify-ca`/`verify-full`) in the
//! URL encrypts every connection and verifies the server's certificate and name against
//! the OS trust roots, or against the CA certificates of `sslrootcert=FILE` (PEM) for a
//! private CA. Stricter than libpq's `require`, which does not verify: a cluster's durable
//! copy and leases must not be readable or forgeable by whoever sits on the path. Without
//! an `sslmode` (or with `disable`/`prefer`) connections are plain TCP, as before.

use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use crate::{Error, Result};

/// What the cluster URL asks of TLS, with islet's own parameters taken out of it (the
/// PostgreSQL client refuses parameters it does not know).
#[derive(Debug)]
pub(crate) struct TlsSettings {
    /// The URL PostgreSQL's client parses.
    pub url: String,
    /// `Some` when connections must be TLS: the CA file of `sslrootcert`, if any.
    pub required: Option<Option<String>>,
}

/// Reads `sslmode` and `sslrootcert` from a `postgres://` URL's query or a `key=value`
/// connection string.
pub(crate) fn settings(url: &str) -> TlsSettings {
    let (head, params, joiner) = match url.split_once('?') {
        Some((head, query)) if url.starts_with("postgres") => {
            (head.to_owned(), query.split('&').collect::<Vec<_>>(), "&")
        }
        _ if url.contains('=') && !url.starts_with("postgres") => {
            (String::new(), url.split_whitespace().collect(), " ")
        }
        _ => {
            return TlsSettings {
                url: url.to_owned(),
                required: None,
            };
        }
    };
    let mut kept = Vec::new();
    let (mut require, mut root) = (false, None);
    for param in params {
        match param.split_once('=') {
            Some(("sslrootcert", path)) => root = Some(path.to_owned()),
            Some(("sslmode", "require" | "verify-ca" | "verify-full")) => {
                require = true;
                kept.push("sslmode=require");
            }
            _ => kept.push(param),
        }
    }
    let rest = kept.join(joiner);
    let url = match (head.is_empty(), rest.is_empty()) {
        (true, _) => rest,
        (false, true) => head,
        (false, false) => format!("{head}?{rest}"),
    };
    TlsSettings {
        url,
        required: require.then_some(root),
    }
}

/// Makes TLS connections for `tokio-postgres`, verifying the server.
#[derive(Clone)]
pub(crate) struct Tls {
    config: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Trusting the CA certificates in `root_cert` (PEM), or the OS trust roots.
    pub(crate) fn new(root_cert: Option<&Path>) -> Result<Tls> {
        let config_error = |what: String| Error::Config(what);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(format!("TLS setup failed: {e}")))?;
        let config = match root_cert {
            Some(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| config_error(format!("sslrootcert {}: {e}", path.display())))?;
                for cert in certs {
                    let cert = cert.map_err(|e| {
                        config_error(format!("sslrootcert {}: {e}", path.display()))
                    })?;
                    roots.add(cert).map_err(|e| {
                        config_error(format!("sslrootcert {}: {e}", path.display()))
                    })?;
                }
                if roots.is_empty() {
                    return Err(config_error(format!(
                        "sslrootcert {}: no PEM certificate in it",
                        path.display()
                    )));
                }
                builder.with_root_certificates(roots)
            }
            None => {
                use rustls_platform_verifier::BuilderVerifierExt as _;
                builder.with_platform_verifier().map_err(|e| {
                    config_error(format!("cannot load the system's TLS trust roots: {e}"))
                })?
            }
        };
        Ok(Tls {
            config: Arc::new(config.with_no_client_auth()),
        })
    }
}

impl<S> MakeTlsConnect<S> for Tls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = Connect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> io::Result<Connect> {
        let name = ServerName::try_from(domain.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        Ok(Connect {
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.config)),
            name,
        })
    }
}

/// One connection's TLS handshake.
pub(crate) struct Connect {
    connector: tokio_rustls::TlsConnector,
    name: ServerName<'static>,
}

impl<S> TlsConnect<S> for Connect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            self.connector
                .connect(self.name, stream)
                .await
                .map(TlsStream)
        })
    }
}

/// A TLS connection to PostgreSQL (no channel binding: SCRAM works without it).
pub(crate) struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::settings;

    #[test]
    fn issue21_sslrootcert_is_islets_and_verify_modes_mean_require() {
        let s = settings(
            "postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x",
        );
        assert_eq!(
            s.url,
            "postgres://u@h:5432/db?sslmode=require&application_name=x"
        );
        assert_eq!(s.required, Some(Some("/ca.pem".to_owned())));
        let s = settings("postgres://u@h/db?sslmode=require");
        assert_eq!(
            (s.url.as_str(), s.required),
            ("postgres://u@h/db?sslmode=require", Some(None))
        );
        let s = settings("postgres://u@h/db");
        assert_eq!((s.url.as_str(), s.required), ("postgres://u@h/db", None));
        let s = settings("host=h user=u sslmode=require sslrootcert=/ca.pem");
        assert_eq!(s.url, "host=h user=u sslmode=require");
        assert_eq!(s.required, Some(Some("/ca.pem".to_owned())));
        let s = settings("postgres://u@h/db?sslmode=prefer");
        assert_eq!(s.required, None);
    }
}
