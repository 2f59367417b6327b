//! The SSRF guard for URLs that Keyway calls on a tenant's behalf: custom
//! BYOK base URLs and webhook endpoints. In production such a URL must not
//! reach a private, loopback or link-local address; dev and tests may allow
//! them (`KEYWAY_ALLOW_PRIVATE_URLS`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What a URL must satisfy besides being an absolute http(s) URL without
/// credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Private, loopback and link-local addresses are acceptable (dev, tests).
    pub allow_private: bool,
    /// Plain `http` is refused.
    pub require_https: bool,
}

impl OutboundPolicy {
    /// The one rule for URLs Keyway calls on a tenant's behalf (webhooks and
    /// BYOK base URLs): production sends secrets and signed usage over them,
    /// so it wants https, and private addresses only when configured to
    /// (which production refuses at start).
    pub fn for_config(config: &crate::Config) -> Self {
        Self {
            allow_private: config.allow_private_urls,
            require_https: config.env == crate::Environment::Prod,
        }
    }
}

/// Why a URL was refused. Messages name the problem, not the caller's
/// field: each caller prefixes its own (`base_url`, `url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundUrlError {
    #[error("{raw:?}: {reason}")]
    Parse { raw: String, reason: String },
    #[error("must be an http(s) URL without credentials")]
    SchemeOrCredentials,
    #[error("must be an https URL")]
    NotHttps,
    #[error("has no host")]
    NoHost,
    #[error("host {host:?} does not resolve: {reason}")]
    Unresolvable { host: String, reason: String },
    #[error(
        "host {host:?} resolves to a private, loopback or link-local address, or another that is not publicly routable"
    )]
    Internal { host: String },
}

/// Parses and checks `raw`, resolving its host unless private addresses are
/// allowed. A check at registration does not stop DNS rebinding later: a
/// client should also refuse internal addresses when it connects.
pub async fn check_url(raw: &str, policy: OutboundPolicy) -> Result<url::Url, OutboundUrlError> {
    let url = url::Url::parse(raw.trim()).map_err(|e| OutboundUrlError::Parse {
        raw: raw.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
        return Err(OutboundUrlError::SchemeOrCredentials);
    }
    if policy.require_https && url.scheme() != "https" {
        return Err(OutboundUrlError::NotHttps);
    }
    let host = url.host_str().ok_or(OutboundUrlError::NoHost)?.to_owned();
    if !policy.allow_private {
        let port = url.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs =
            tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| OutboundUrlError::Unresolvable {
                    host: host.clone(),
                    reason: e.to_string(),
                })?;
        for addr in addrs {
            if is_internal(addr.ip()) {
                return Err(OutboundUrlError::Internal { host: host.clone() });
            }
        }
    }
    Ok(url)
}

/// True for every address a tenant-supplied URL may not reach in
/// production: anything that is not ordinary public unicast. IPv4 is a
/// deny-list (most of it is public); IPv6 is an allow-list of global unicast
/// (`2000::/3`), because the rest of its space is loopback, local, multicast
/// or a tunnel to an IPv4 address, and a new special range should fail
/// closed. Forms that embed an IPv4 address (mapped, NAT64, 6to4) are judged
/// by that address, since that is where the packets end up.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network" 0.0.0.0/8, which Linux routes to the local host
        || a == 10
        || a == 127
        || a >= 224 // multicast 224/4, reserved 240/4 and the broadcast address
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10: the provider's inside
        || (a == 169 && b == 254) // link-local, where cloud metadata lives
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation (TEST-NET-1)
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast, deprecated
        || (a == 198 && (18..20).contains(&b)) // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100) // documentation (TEST-NET-2)
        || (a == 203 && b == 0 && c == 113) // documentation (TEST-NET-3)
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (well-known NAT64 prefix)
    // reach that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_internal_v4(embedded(s[6], s[7]));
    }
    // 6to4 2002:AABB:CCDD::/48 tunnels to the IPv4 address AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return is_internal_v4(embedded(s[1], s[2]));
    }
    // Only global unicast 2000::/3 remains acceptable. That refuses ::/128,
    // ::1, IPv4-compatible ::a.b.c.d, the local-use NAT64 prefix 64:ff9b:1::/48,
    // discard-only 100::/64, unique-local fc00::/7, link-local fe80::/10,
    // site-local fec0::/10 and multicast ff00::/8.
    if s[0] & 0xe000 != 0x2000 {
        return true;
    }
    (s[0] == 0x2001 && s[1] == 0) // Teredo 2001::/32: a tunnel to an IPv4 address
        || (s[0] == 0x2001 && s[1] == 2 && s[2] == 0) // benchmarking 2001:2::/48
        || (s[0] == 0x2001 && matches!(s[1] & 0xfff0, 0x10 | 0x20)) // ORCHID 2001:10::/28, 2001:20::/28 (not routed)
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation 2001:db8::/32
        || (s[0] & 0xfff0) == 0x3ff0 // documentation 3fff::/20
}

/// The system resolver minus every internal address: the connect-time half
/// of the guard. A host that passed [`check_url`] when it was registered can
/// be re-pointed inside the network later (DNS rebinding); a client built
/// with this resolver still cannot reach it there.
pub struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let public = public_addresses(name.as_str()).await?;
            let addrs: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// `host`'s addresses from the system resolver, minus every internal one;
/// an error when none is left. What [`PublicOnlyResolver`] answers, for a
/// client that is not reqwest's.
pub async fn public_addresses(host: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
    let public: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, 0))
        .await?
        .filter(|addr| !is_internal(addr.ip()))
        .collect();
    if public.is_empty() {
        return Err(std::io::Error::other(format!(
            "{host} resolves only to private, loopback or link-local addresses"
        )));
    }
    Ok(public)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PROD: OutboundPolicy = OutboundPolicy {
        allow_private: false,
        require_https: true,
    };
    const DEV: OutboundPolicy = OutboundPolicy {
        allow_private: true,
        require_https: false,
    };

    #[tokio::test]
    async fn internal_addresses_are_refused_unless_allowed() {
        for bad in [
            "https://127.0.0.1:8080/v1",
            "https://10.1.2.3/v1",
            "https://169.254.169.254/",
            "https://[::1]/v1",
            "https://192.168.1.1",
            "https://100.64.0.1",
            "https://[::ffff:10.0.0.1]/",
            "https://[::127.0.0.1]/",
            "https://[64:ff9b::7f00:1]/",
            "https://[2002:a00:1::]/",
            "https://0.1.2.3/",
            "https://198.18.0.1/",
            "https://224.0.0.1/",
            "https://[ff02::1]/",
        ] {
            assert!(
                matches!(check_url(bad, PROD).await, Err(OutboundUrlError::Internal { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            check_url("http://127.0.0.1:9/hook", DEV).await.unwrap().as_str(),
            "http://127.0.0.1:9/hook"
        );
    }

    /// Every address class the production guard must refuse, and public
    /// neighbours that it must not, so a range cannot silently widen.
    #[test]
    fn only_public_unicast_addresses_are_external() {
        let internal = [
            // IPv4
            "0.0.0.0",
            "0.1.2.3", // 0.0.0.0/8
            "10.0.0.1",
            "100.64.0.1", // CGNAT
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254", // cloud metadata
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",   // IETF protocol assignments
            "192.0.2.1",   // TEST-NET-1
            "192.88.99.1", // 6to4 relay anycast
            "192.168.1.1",
            "198.18.0.1", // benchmarking 198.18/15
            "198.19.255.255",
            "198.51.100.1", // TEST-NET-2
            "203.0.113.1",  // TEST-NET-3
            "224.0.0.1",    // multicast
            "239.255.255.250",
            "240.0.0.1",       // reserved
            "255.255.255.255", // broadcast
            // IPv6
            "::",
            "::1",
            "::127.0.0.1",      // IPv4-compatible
            "::8.8.8.8",        // IPv4-compatible: deprecated, never public
            "::ffff:127.0.0.1", // IPv4-mapped
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:127.0.0.1", // IPv4-translated (SIIT)
            "64:ff9b::127.0.0.1", // NAT64 to loopback
            "64:ff9b::10.0.0.1",
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::8.8.8.8", // local-use NAT64
            "100::1",             // discard-only
            "2002:7f00:1::",      // 6to4 of 127.0.0.1
            "2002:a00:1::1",      // 6to4 of 10.0.0.1
            "2002:a9fe:a9fe::",   // 6to4 of 169.254.169.254
            "2001::1",            // Teredo
            "2001:2::1",          // benchmarking
            "2001:10::1",         // ORCHID
            "2001:20::1",         // ORCHIDv2
            "2001:db8::1",        // documentation
            "3fff::1",            // documentation
            "fc00::1",            // unique local
            "fd12:3456::1",
            "fe80::1", // link-local
            "febf::1",
            "fec0::1", // site-local
            "ff02::1", // multicast
            "ff0e::1",
        ];
        for ip in internal {
            assert!(is_internal(ip.parse().unwrap()), "{ip} must be internal");
        }
        let public = [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.169.0.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:81c::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8", // NAT64 to a public address
            "2002:808:808::1",  // 6to4 of 8.8.8.8
            "2001:4860:4860::8888",
        ];
        for ip in public {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} must be public");
        }
    }

    #[tokio::test]
    async fn scheme_credentials_and_https_are_checked_before_any_lookup() {
        assert_eq!(
            check_url("ftp://example.com", DEV).await,
            Err(OutboundUrlError::SchemeOrCredentials)
        );
        assert_eq!(
            check_url("https://user:pw@example.com", DEV).await,
            Err(OutboundUrlError::SchemeOrCredentials)
        );
        assert_eq!(
            check_url("http://example.com/hook", PROD).await,
            Err(OutboundUrlError::NotHttps)
        );
        assert!(matches!(
            check_url("/relative", DEV).await,
            Err(OutboundUrlError::Parse { .. })
        ));
    }

    #[tokio::test]
    async fn the_connect_time_resolver_refuses_names_that_resolve_inside() {
        use reqwest::dns::Resolve;
        let refused = PublicOnlyResolver.resolve("localhost".parse().unwrap()).await;
        let Err(e) = refused else {
            panic!("localhost must be refused");
        };
        assert!(e.to_string().contains("private, loopback"), "{e}");
    }
}
