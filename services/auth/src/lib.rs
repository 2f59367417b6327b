//! Who is calling. Owns the caller identity the gateway acts on, the roles of
//! docs/security.md §6, and the `Authenticator` contract: the gateway asks "who
//! holds this key?" and the key service (or the bootstrap admin key) answers.
//! Every HTTP edge authenticates through `authenticate_request`, which also
//! applies the brute-force [`guard`].

mod admin_key;
mod caller;
pub mod guard;
mod limits;
pub mod oidc;
mod provider_keys;

use std::sync::Arc;

use http::{HeaderName, header::AUTHORIZATION};

pub use admin_key::AdminKeyAuthenticator;
pub use caller::{Caller, PLATFORM_TENANT, Role};
pub use guard::{AuthGuard, ClientIp, GuardSettings, TrustedProxies};
pub use limits::{CallerLimits, Limits};
pub use provider_keys::{KeyScope, ProviderKey, ProviderKeys};

/// Why a presented credential was not accepted. The variants are what the
/// HTTP edge needs to pick a status; they never carry the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no API key was provided")]
    Missing,
    #[error("the API key is invalid, revoked or expired")]
    Invalid,
    #[error("the credential store is unavailable")]
    Unavailable,
    /// The key is valid, but its user's identity has not been confirmed by
    /// the identity provider recently enough (identities are followed and
    /// the follower cannot reach Keycloak): refused until it is.
    #[error("the user's identity has not been confirmed recently enough")]
    IdentityUnconfirmed,
}

/// Why an HTTP request was not authenticated: its credential, or its client
/// (see [`guard`]). Authenticators answer only the first; the guard adds the
/// second around them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Credential(#[from] AuthError),
    #[error("too many failed authentications from this address; retry in {retry_after_secs} s")]
    TooManyFailures { retry_after_secs: u64 },
}

#[async_trait::async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// Resolves a presented secret to a caller. Implementations compare
    /// secrets in constant time and never log them.
    async fn authenticate(&self, presented: &str) -> Result<Caller, AuthError>;
}

/// The key a client presented: `Authorization: Bearer <key>` (any case of
/// "bearer"), or else `x-api-key` as Anthropic clients send it. Takes the two
/// header values so every HTTP layer shares one rule.
pub fn presented_key<'a>(authorization: Option<&'a str>, x_api_key: Option<&'a str>) -> Option<&'a str> {
    let key = match authorization {
        Some(value) => {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)?
        }
        None => x_api_key?,
    };
    Some(key.trim()).filter(|k| !k.is_empty())
}

/// The key an HTTP request presents in its headers, by `presented_key`'s
/// rule.
pub fn presented_key_in(headers: &http::HeaderMap) -> Option<&str> {
    let header = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    presented_key(header(&AUTHORIZATION), header(&X_API_KEY))
}

/// Anthropic's key header. Headers are looked up by name constants, not
/// `&str`: a `&str` is parsed into a name on every lookup (about 300
/// instructions each, `bench/instructions.sh`).
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// Who an HTTP request comes from: the key it presents, resolved by
/// `authenticator`. No key at all is `AuthError::Missing`. Every HTTP edge
/// calls this and only turns the rejection into its own wire shape.
///
/// The [`AuthGuard`] the HTTP front puts in the request's extensions counts
/// failures per client and refuses blocked clients (or, with
/// `KEYWAY_AUTH=off`, admits everyone); a request without one (a router
/// served on its own, as in tests) is authenticated plainly.
// The target is `keyway_common::telemetry::TRACE_TARGET`: a span for
// traces only, off unless traces are exported.
#[tracing::instrument(target = "keyway_trace", name = "authenticate", skip_all)]
pub async fn authenticate_request<A>(
    parts: &http::request::Parts,
    authenticator: &A,
) -> Result<Caller, Rejection>
where
    A: Authenticator + ?Sized,
{
    match parts.extensions.get::<Arc<AuthGuard>>() {
        Some(guard) => guard.authenticate(parts, authenticator).await,
        None => Ok(authenticate_headers(&parts.headers, authenticator).await?),
    }
}

/// The credential check alone, without the guard.
pub(crate) async fn authenticate_headers<A>(
    headers: &http::HeaderMap,
    authenticator: &A,
) -> Result<Caller, AuthError>
where
    A: Authenticator + ?Sized,
{
    if credentials_conflict(headers) {
        return Err(AuthError::Invalid);
    }
    let key = presented_key_in(headers).ok_or(AuthError::Missing)?;
    authenticator.authenticate(key).await
}

/// Two different credentials in one request (`Authorization` and
/// `x-api-key`, or either header repeated). Which one is meant is
/// ambiguous, and a proxy in front may have checked the other one, so the
/// request is refused as an invalid key rather than served as either.
pub fn credentials_conflict(headers: &http::HeaderMap) -> bool {
    let bearers = headers
        .get_all(AUTHORIZATION)
        .iter()
        .map(|v| presented_key(Some(v.to_str().unwrap_or_default()), None));
    let api_keys = headers
        .get_all(X_API_KEY)
        .iter()
        .map(|v| presented_key(None, Some(v.to_str().unwrap_or_default())));
    let mut keys = bearers.chain(api_keys);
    let Some(first) = keys.next() else {
        return false;
    };
    keys.any(|key| key != first)
}

/// Constant-time equality for secrets. Length is not secret (keys have a fixed
/// public format), so an early length check leaks nothing useful.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_x_api_key_are_both_accepted() {
        assert_eq!(presented_key(Some("Bearer abc"), None), Some("abc"));
        assert_eq!(presented_key(Some("bearer  abc "), None), Some("abc"));
        assert_eq!(presented_key(None, Some("xyz")), Some("xyz"));
        assert_eq!(presented_key(Some("Basic abc"), Some("xyz")), None);
        assert_eq!(presented_key(Some("Bearer "), None), None);
        assert_eq!(presented_key(None, None), None);
    }

    #[test]
    fn the_key_is_read_from_either_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(presented_key_in(&headers), None);
        headers.insert("x-api-key", http::HeaderValue::from_static("xyz"));
        assert_eq!(presented_key_in(&headers), Some("xyz"));
        headers.insert("authorization", http::HeaderValue::from_static("Bearer abc"));
        assert_eq!(presented_key_in(&headers), Some("abc"));
    }

    #[test]
    fn two_different_keys_conflict_and_the_same_key_twice_does_not() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = http::HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, http::HeaderValue::from_static(value));
            }
            map
        };
        assert!(!credentials_conflict(&headers(&[("authorization", "Bearer a")])));
        assert!(!credentials_conflict(&headers(&[
            ("authorization", "Bearer a"),
            ("x-api-key", "a")
        ])));
        assert!(credentials_conflict(&headers(&[
            ("authorization", "Bearer a"),
            ("x-api-key", "b")
        ])));
        assert!(credentials_conflict(&headers(&[
            ("authorization", "Bearer a"),
            ("authorization", "Bearer b")
        ])));
        assert!(credentials_conflict(&headers(&[
            ("x-api-key", "a"),
            ("x-api-key", "b")
        ])));
        assert!(credentials_conflict(&headers(&[
            ("authorization", "Basic a"),
            ("x-api-key", "a")
        ])));
    }

    fn parts(authorization: Option<&'static str>) -> http::request::Parts {
        let mut request = http::Request::new(());
        if let Some(value) = authorization {
            request
                .headers_mut()
                .insert("authorization", http::HeaderValue::from_static(value));
        }
        request.into_parts().0
    }

    #[tokio::test]
    async fn a_request_without_a_key_is_missing_and_a_wrong_key_invalid() {
        let admin = AdminKeyAuthenticator::new("kw_admin_secret");
        assert_eq!(
            authenticate_request(&parts(None), &admin).await,
            Err(Rejection::Credential(AuthError::Missing))
        );
        assert_eq!(
            authenticate_request(&parts(Some("Bearer wrong")), &admin).await,
            Err(Rejection::Credential(AuthError::Invalid))
        );
        let ok = parts(Some("Bearer kw_admin_secret"));
        let caller = authenticate_request(&ok, &admin as &dyn Authenticator).await;
        assert_eq!(caller.map(|c| c.role), Ok(Role::PlatformAdmin));
    }
}
