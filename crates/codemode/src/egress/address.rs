//! Which addresses an isolate's `fetch` may connect to, and the DNS resolver that enforces it.
//!
//! The check happens on the addresses a name resolves to, inside the HTTP client's resolver,
//! so the address checked is the address connected to: a name that resolves to a public
//! address when checked and a private one when connecting (DNS rebinding) cannot slip
//! through. IP-literal URLs never reach a resolver; [`super::Fetcher`] checks them itself.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why `ip` is refused unless the policy allows private addresses, or `None` when it is a
/// public unicast address.
pub fn forbidden_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b) {
        (0, _) => "unspecified (0.0.0.0/8)",
        (127, _) => "loopback",
        (10, _) | (192, 168) => "private (RFC 1918)",
        (172, 16..=31) => "private (RFC 1918)",
        (100, 64..=127) => "shared carrier-grade NAT (100.64.0.0/10)",
        (169, 254) => "link-local (cloud metadata lives here)",
        (192, 0) if c == 0 => "IETF protocol assignments (192.0.0.0/24)",
        (198, 18..=19) => "benchmarking (198.18.0.0/15)",
        (224..=239, _) => "multicast",
        (240..=255, _) => "reserved or broadcast",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // Forms that carry an IPv4 address a stack or gateway may connect to: mapped
    // (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:AABB:CCDD::).
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    let embedded_low = || Ipv4Addr::from(((s[6] as u32) << 16) | s[7] as u32);
    if s[..6] == [0; 6] {
        return forbidden_v4(embedded_low());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded_low());
    }
    if s[0] == 0x2002 {
        return forbidden_v4(Ipv4Addr::from(((s[1] as u32) << 16) | s[2] as u32));
    }
    Some(match s[0] {
        0xfc00..=0xfdff => "unique-local (fc00::/7)",
        0xfe80..=0xfebf => "link-local (fe80::/10)",
        0xfec0..=0xfeff => "site-local (fec0::/10)",
        0xff00..=0xffff => "multicast",
        _ => return None,
    })
}

/// A name resolved to an address the policy refuses. Carried through the HTTP client's
/// error chain so the fetcher can report `PRIVATE_ADDRESS` rather than a generic failure.
#[derive(Debug)]
pub struct PrivateAddress {
    /// The host name as the request named it.
    pub host: String,
    /// The address it resolved to.
    pub ip: IpAddr,
    /// Which kind of non-public address it is (e.g. `loopback`).
    pub reason: &'static str,
}

impl fmt::Display for PrivateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} resolves to {}, a {} address",
            self.host, self.ip, self.reason
        )
    }
}

impl std::error::Error for PrivateAddress {}

/// Resolves with the system resolver, then refuses the whole answer if any address is
/// forbidden (a mixed answer is how rebinding attacks look). Trusted overrides set by the
/// host bypass both the lookup and the check, for that exact name only.
pub(super) struct GuardedResolver {
    pub(super) allow_private: bool,
    /// Lower-case name → address, set host-side only (the policy is never built from JS).
    pub(super) overrides: Arc<Vec<(String, SocketAddr)>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let allow_private = self.allow_private;
        let overrides = Arc::clone(&self.overrides);
        Box::pin(async move {
            let pinned: Vec<SocketAddr> = overrides
                .iter()
                .filter(|(name, _)| *name == host)
                .map(|(_, addr)| *addr)
                .collect();
            if !pinned.is_empty() {
                return Ok(Box::new(pinned.into_iter()) as Addrs);
            }
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private {
                for addr in &resolved {
                    if let Some(reason) = forbidden_reason(addr.ip()) {
                        return Err(Box::new(PrivateAddress {
                            host: host.clone(),
                            ip: addr.ip(),
                            reason,
                        })
                            as Box<dyn std::error::Error + Send + Sync>);
                    }
                }
            }
            Ok(Box::new(resolved.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        forbidden_reason(text.parse().expect("an IP address")).is_some()
    }

    #[test]
    fn private_loopback_link_local_and_their_ipv6_forms_are_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "2002:0a00:0001::1",
        ] {
            assert!(refused(ip), "{ip} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "192.0.2.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert!(!refused(ip), "{ip} should pass");
        }
    }
}
