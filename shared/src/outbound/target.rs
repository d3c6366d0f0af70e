//! Where a webhook may be sent: `https` to public addresses only, so a
//! registered URL cannot reach into our network (the instance metadata
//! service at 169.254.169.254, private ranges, loopback). The name is
//! resolved at each delivery and the request goes to the addresses checked
//! (no second lookup an attacker's DNS could answer differently). Loopback
//! is allowed only where configured (the local stack and the tests).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Debug, Clone, Copy, Default)]
pub struct TargetPolicy {
    /// `WEBHOOKS_ALLOW_LOOPBACK=true`: http to 127.0.0.1/::1 (never in AWS).
    pub allow_loopback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("not a URL: {0}")]
    NotAUrl(String),
    #[error("only https URLs receive webhooks")]
    NotHttps,
    #[error("{0} is not a public address (loopback, private, link-local and other internal ranges are refused)")]
    NotPublic(IpAddr),
    #[error("{0} did not resolve: {1}")]
    Unresolved(String, String),
}

/// Whether an address is on the public internet.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // 100.64.0.0/10, carrier-grade NAT
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let protocol = a == 192 && b == 0 && ip.octets()[2] == 0; // 192.0.0.0/24
    !(protocol || ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_documentation() || shared || benchmarking || a == 0 || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let unique_local = (s[0] & 0xfe00) == 0xfc00;
    let link_local = (s[0] & 0xffc0) == 0xfe80;
    let site_local = (s[0] & 0xffc0) == 0xfec0;
    let documentation = s[0] == 0x2001 && s[1] == 0x0db8;
    // Ranges that carry an IPv4 address a gateway may reach: NAT64, 6to4, Teredo, IPv4-compatible.
    let nat64 = s[0] == 0x0064 && s[1] == 0xff9b;
    let tunnelled = s[0] == 0x2002 || (s[0] == 0x2001 && s[1] == 0);
    let v4_compatible = s[..6].iter().all(|&x| x == 0);
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local || site_local || documentation || nat64 || tunnelled || v4_compatible)
}

impl TargetPolicy {
    pub fn read(env: &mut crate::config::Env) -> Option<Self> {
        let allow_loopback = env.with_default("WEBHOOKS_ALLOW_LOOPBACK", "false", |s| s.parse::<bool>().map_err(|_| "must be true or false".to_owned()))?;
        Some(Self { allow_loopback })
    }

    /// Checks a URL's form (at registration and before each delivery).
    pub fn check_url(&self, raw: &str) -> Result<reqwest::Url, TargetError> {
        let url = reqwest::Url::parse(raw).map_err(|e| TargetError::NotAUrl(e.to_string()))?;
        if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::NotAUrl("a host and no credentials are needed".into()));
        }
        let loopback_http = self.allow_loopback && url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
        if url.scheme() != "https" && !loopback_http {
            return Err(TargetError::NotHttps);
        }
        Ok(url)
    }

    /// Resolves the URL's host; every address must be allowed.
    pub async fn resolve(&self, url: &reqwest::Url) -> Result<Vec<SocketAddr>, TargetError> {
        let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| TargetError::Unresolved(host.clone(), e.to_string()))?.collect();
        if addresses.is_empty() {
            return Err(TargetError::Unresolved(host, "no address".into()));
        }
        match addresses.iter().find(|a| !(is_public(a.ip()) || (self.allow_loopback && a.ip().is_loopback()))) {
            Some(refused) => Err(TargetError::NotPublic(refused.ip())),
            None => Ok(addresses),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for internal in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "255.255.255.255", "::1", "fe80::1", "fd00::1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "198.18.0.1", "224.0.0.1", "192.0.0.8", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1", "2001:0:a9fe::1", "::a9fe:a9fe", "fec0::1"] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_must_be_https_unless_loopback_is_allowed() {
        let strict = TargetPolicy::default();
        let local = TargetPolicy { allow_loopback: true };
        assert_eq!(strict.check_url("http://example.com/hook").err(), Some(TargetError::NotHttps));
        assert_eq!(strict.check_url("http://127.0.0.1:9/hook").err(), Some(TargetError::NotHttps));
        assert!(local.check_url("http://127.0.0.1:9/hook").is_ok());
        assert_eq!(local.check_url("http://example.com/hook").err(), Some(TargetError::NotHttps));
        assert!(strict.check_url("https://user:pw@example.com/").is_err());
        assert!(strict.check_url("https://hooks.example.com/in").is_ok());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_in_production() {
        let url = reqwest::Url::parse("https://localhost:8443/hook").unwrap();
        assert!(matches!(TargetPolicy::default().resolve(&url).await, Err(TargetError::NotPublic(ip)) if ip.is_loopback()));
        assert!(TargetPolicy { allow_loopback: true }.resolve(&url).await.is_ok());
    }
}
