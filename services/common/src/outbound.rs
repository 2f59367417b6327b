//! The SSRF guard for URLs that Keyway calls on a tenant's behalf: custom
//! BYOK base URLs and webhook endpoints. In production such a URL must not
//! reach a private, loopback or link-local address; dev and tests may allow
//! them (`KEYWAY_ALLOW_PRIVATE_URLS`).

use std::net::IpAddr;

/// What a URL must satisfy besides being an absolute http(s) URL without
/// credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// Private, loopback and link-local addresses are acceptable (dev, tests).
    pub allow_private: bool,
    /// Plain `http` is refused.
    pub require_https: bool,
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
    #[error("host {host:?} resolves to a private, loopback or link-local address")]
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

/// Private, loopback, link-local, unspecified, broadcast or CGNAT: nothing a
/// tenant-supplied URL may reach in production.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]) // CGNAT
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
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
}
