//! Tunnels under a fetch policy: what an HTTP `CONNECT` proxy asks before it opens a raw
//! connection for a process that is not an isolate (a Linux sandbox's commands). A tunnel
//! carries bytes the host cannot read (TLS), so only hosts allowed with every method may
//! be tunnelled to, and the addresses are checked as `fetch`'s resolver checks them.

use std::net::SocketAddr;

use reqwest::Url;

use super::{Fetcher, address::forbidden_reason};

impl Fetcher {
    /// The addresses to connect to for a tunnel to `host:port`, or why the policy refuses
    /// it (a message for the process's user, naming the allowed hosts).
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let literal = host.parse::<std::net::IpAddr>().ok();
        let authority = match literal {
            Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        // A port-less or scheme-less rule matches either URL; an origin rule matches its own.
        let allowed = ["https", "http"].iter().any(|scheme| {
            Url::parse(&format!("{scheme}://{authority}/")).is_ok_and(|url| {
                self.rules
                    .iter()
                    .any(|rule| rule.methods.is_none() && rule.pattern.matches(&url))
            })
        });
        if !allowed {
            return Err(format!(
                "{authority} is not allowed by the sandbox's network policy; allowed: {}",
                self.allowed
            ));
        }
        if let Some(ip) = literal {
            return match forbidden_reason(ip) {
                Some(reason) if !self.allow_private => Err(format!(
                    "{authority} is a {reason} address, which the policy does not allow"
                )),
                _ => Ok(vec![SocketAddr::new(ip, port)]),
            };
        }
        let pinned: Vec<SocketAddr> = self
            .overrides
            .iter()
            .filter(|(name, _)| *name == host)
            .map(|(_, addr)| SocketAddr::new(addr.ip(), port))
            .collect();
        if !pinned.is_empty() {
            return Ok(pinned);
        }
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        if !self.allow_private {
            for addr in &resolved {
                if let Some(reason) = forbidden_reason(addr.ip()) {
                    return Err(format!(
                        "{host} resolves to {} ({reason}), which the policy does not allow",
                        addr.ip()
                    ));
                }
            }
        }
        if resolved.is_empty() {
            return Err(format!("{host} has no address"));
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use crate::egress::{FetchPolicy, Fetcher, HostRule};

    #[tokio::test]
    async fn issue18_tunnels_follow_the_allowlist_and_the_private_address_guard() {
        let policy = FetchPolicy {
            resolve_overrides: vec![("git.test".into(), "127.0.0.1:1".parse().unwrap())],
            ..FetchPolicy::default()
        }
        .allow("git.test")
        .allow("*.example.com:443");
        let mut policy = policy;
        policy
            .allowed_hosts
            .push(HostRule::new("api.example.org").methods(["GET"]));
        let fetcher = Fetcher::new(policy).unwrap();
        // A trusted override: its address, on the asked port.
        assert_eq!(
            fetcher.tunnel("git.test", 8080).await.unwrap(),
            vec!["127.0.0.1:8080".parse().unwrap()]
        );
        // Not listed, the wrong port, or only some methods (a tunnel cannot tell).
        for (host, port) in [
            ("other.test", 443),
            ("www.example.com", 80),
            ("example.com", 443),
            ("api.example.org", 443),
        ] {
            let refusal = fetcher.tunnel(host, port).await.unwrap_err();
            assert!(refusal.contains("not allowed"), "{host}:{port}: {refusal}");
        }
        // A loopback literal is refused even when listed, unless the policy allows private.
        let fetcher = Fetcher::new(FetchPolicy::default().allow("127.0.0.1")).unwrap();
        let refusal = fetcher.tunnel("127.0.0.1", 80).await.unwrap_err();
        assert!(refusal.contains("loopback"), "{refusal}");
    }
}
