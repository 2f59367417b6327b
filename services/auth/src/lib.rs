//! Who is calling. Owns the caller identity the gateway acts on, the roles of
//! docs/security.md §6, and the `Authenticator` contract: the gateway asks "who
//! holds this key?" and the key service (or the bootstrap admin key) answers.

mod admin_key;
mod caller;
mod limits;
mod provider_keys;

pub use admin_key::AdminKeyAuthenticator;
pub use caller::{Caller, PLATFORM_TENANT, Role};
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

/// Constant-time equality for secrets. Length is not secret (keys have a fixed
/// public format), so an early length check leaks nothing useful.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::presented_key;

    #[test]
    fn bearer_and_x_api_key_are_both_accepted() {
        assert_eq!(presented_key(Some("Bearer abc"), None), Some("abc"));
        assert_eq!(presented_key(Some("bearer  abc "), None), Some("abc"));
        assert_eq!(presented_key(None, Some("xyz")), Some("xyz"));
        assert_eq!(presented_key(Some("Basic abc"), Some("xyz")), None);
        assert_eq!(presented_key(Some("Bearer "), None), None);
        assert_eq!(presented_key(None, None), None);
    }
}
