//! Who the client is, as far as the network can tell: the socket peer, or —
//! when the peer is one of `KEYWAY_TRUSTED_PROXIES` — the right-most address
//! of `X-Forwarded-For` that is not a trusted proxy itself. Addresses to the
//! left of it were written by the client and could be anything, so they are
//! never believed.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;
use keyway_common::ConfigError;

/// The client address of a request, put in its extensions by the HTTP front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// `KEYWAY_TRUSTED_PROXIES`: the networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Comma-separated CIDRs (`10.0.0.0/8`) or single addresses.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let invalid = || {
            ConfigError::invalid(
                "KEYWAY_TRUSTED_PROXIES",
                "comma-separated CIDRs or addresses, e.g. 10.0.0.0/8,192.168.1.7",
                raw,
            )
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| invalid())
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request that arrived from `peer`: `peer`
    /// itself unless it is trusted; else, walking `X-Forwarded-For` from the
    /// right, the first address that is not trusted. If every hop is
    /// trusted the left-most one is the client; an entry that is not an
    /// address stops the walk at the last address read.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        // Several headers form one list, in order (RFC 9110 §5.3).
        let values: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let hops = values.iter().flat_map(|v| v.split(',')).collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop.trim()) else {
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }

    /// The networks as configured, for `keyway config`.
    pub fn to_config_string(&self) -> String {
        let nets: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        nets.join(",")
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (some
/// proxies add it, IPv6 then in brackets).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", http::HeaderValue::from_static(v));
        }
        headers
    }

    #[test]
    fn without_trusted_proxies_the_socket_peer_is_the_client_and_xff_is_ignored() {
        let none = TrustedProxies::default();
        let headers = xff(&["203.0.113.9"]);
        assert_eq!(none.client_ip(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7").unwrap();
        let peer = ip("10.0.0.1");
        // The client wrote the left part itself; the proxies appended the rest.
        let headers = xff(&["1.1.1.1, 203.0.113.9", "192.168.1.7"]);
        assert_eq!(trusted.client_ip(peer, &headers), ip("203.0.113.9"));
        // An untrusted peer's header is not believed at all.
        assert_eq!(
            trusted.client_ip(ip("198.51.100.2"), &headers),
            ip("198.51.100.2")
        );
        // Every hop trusted: the left-most is the client.
        assert_eq!(
            trusted.client_ip(peer, &xff(&["10.1.1.1, 10.2.2.2"])),
            ip("10.1.1.1")
        );
        // No header: the trusted peer itself.
        assert_eq!(trusted.client_ip(peer, &HeaderMap::new()), peer);
        // Garbage stops the walk at the last address read.
        assert_eq!(
            trusted.client_ip(peer, &xff(&["203.0.113.9, bogus, 10.9.9.9"])),
            ip("10.9.9.9")
        );
        // Ports and IPv4-mapped IPv6 addresses are understood.
        assert_eq!(
            trusted.client_ip(peer, &xff(&["203.0.113.9:4711"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            trusted.client_ip(ip("::ffff:10.0.0.1"), &xff(&["[2001:db8::1]:443"])),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn bad_networks_name_the_variable() {
        let err = TrustedProxies::parse("10.0.0.0/8,nope").unwrap_err().to_string();
        assert!(
            err.contains("KEYWAY_TRUSTED_PROXIES") && err.contains("nope"),
            "{err}"
        );
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert_eq!(
            TrustedProxies::parse("10.1.2.3/8, ::1")
                .unwrap()
                .to_config_string(),
            "10.0.0.0/8,::1/128"
        );
    }
}
