//! The BYOK side of the provider registry (`keyway_common::providers`) and
//! the rules for a key's own `base_url`: in
//! production it must not resolve to a private, loopback or link-local
//! address (the guard in `keyway_common::outbound`, shared with webhooks).

use keyway_common::outbound::{self, OutboundPolicy};
pub use keyway_common::providers::{BaseUrlRule, KeyAuth, PROVIDERS, Provider, Wire};

use crate::error::KeysError;

/// The registry entry of a known provider or a well-formed `custom-<name>`.
pub(crate) fn validate_slug(slug: &str) -> Result<&'static Provider, KeysError> {
    keyway_common::providers::find(slug).ok_or_else(|| {
        KeysError::Invalid(format!(
            "unknown provider {slug:?}; use one of {}",
            keyway_common::providers::slugs()
        ))
    })
}

pub(crate) fn default_base_url(slug: &str) -> Option<&'static str> {
    keyway_common::providers::find(slug).and_then(|p| p.default_base_url)
}

/// The provider's rules for a new key: an AWS key carries its secret, and
/// a `base_url` is required, optional or refused as the registry says.
/// Returns the base URL to store.
pub(crate) async fn check_key(
    entry: &Provider,
    provider: &str,
    secret: &str,
    base_url: Option<String>,
    policy: OutboundPolicy,
) -> Result<Option<String>, KeysError> {
    if entry.key_auth == KeyAuth::Sigv4 && !secret.contains(':') {
        return Err(KeysError::Invalid(format!(
            "a {provider} key is {}",
            entry.key_format
        )));
    }
    match (base_url, entry.base_url) {
        (Some(url), BaseUrlRule::Required | BaseUrlRule::Optional) => {
            Ok(Some(validate_base_url(&url, policy).await?))
        }
        (None, BaseUrlRule::Required) => Err(KeysError::Invalid(format!("{provider} needs a base_url"))),
        (Some(_), BaseUrlRule::Fixed) => Err(KeysError::Invalid(format!(
            "base_url is accepted only for custom-<name>, azure, bedrock and local-server providers; {provider} always uses its own"
        ))),
        (None, _) => Ok(None),
    }
}

/// Checks a custom base URL with the shared SSRF guard and the webhooks'
/// https rule: in production the provider key must not travel in clear.
pub(crate) async fn validate_base_url(raw: &str, policy: OutboundPolicy) -> Result<String, KeysError> {
    outbound::check_url(raw, policy)
        .await
        .map_err(|e| KeysError::Invalid(format!("base_url {e}")))?;
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn provider_slugs_are_checked() {
        for ok in [
            "openai",
            "anthropic",
            "huggingface",
            "custom-acme",
            "custom-my-llm",
        ] {
            assert!(validate_slug(ok).is_ok(), "{ok}");
        }
        for bad in ["", "OpenAI", "custom-", "custom-<name>", "custom-a.b", "nope"] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }

    const DEV: OutboundPolicy = OutboundPolicy {
        allow_private: true,
        require_https: false,
    };
    const PROD: OutboundPolicy = OutboundPolicy {
        allow_private: false,
        require_https: true,
    };

    #[tokio::test]
    async fn private_and_loopback_base_urls_are_refused_unless_allowed() {
        let public_only = OutboundPolicy {
            allow_private: false,
            require_https: false,
        };
        for bad in [
            "http://127.0.0.1:8080/v1",
            "http://10.1.2.3/v1",
            "http://169.254.169.254/",
            "http://[::1]/v1",
            "http://192.168.1.1",
            "http://[::127.0.0.1]/v1",
        ] {
            assert!(validate_base_url(bad, public_only).await.is_err(), "{bad}");
        }
        assert_eq!(
            validate_base_url("http://127.0.0.1:9/v1/", DEV).await.unwrap(),
            "http://127.0.0.1:9/v1"
        );
        assert!(validate_base_url("ftp://example.com", DEV).await.is_err());
        assert!(
            validate_base_url("http://user:pw@example.com", DEV)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn production_base_urls_must_be_https() {
        let err = validate_base_url("http://llm.example.com/v1", PROD)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "base_url must be an https URL");
    }
}
