//! The BYOK provider catalog and the rules for a custom `base_url`: in
//! production it must not resolve to a private, loopback or link-local
//! address (the guard in `keyway_common::outbound`, shared with webhooks).

use keyway_common::outbound::{self, OutboundPolicy};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::KeysError;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    pub slug: &'static str,
    pub name: &'static str,
    /// What a key usually starts with, as a hint for forms.
    pub key_prefix: Option<&'static str>,
    pub default_base_url: Option<&'static str>,
    /// `openai` or `anthropic`: the wire protocol of the provider's API.
    pub api: &'static str,
}

pub const PROVIDERS: &[Provider] = &[
    p(
        "openai",
        "OpenAI",
        Some("sk-"),
        Some("https://api.openai.com/v1"),
        "openai",
    ),
    p(
        "anthropic",
        "Anthropic",
        Some("sk-ant-"),
        Some("https://api.anthropic.com/v1"),
        "anthropic",
    ),
    p(
        "groq",
        "Groq",
        Some("gsk_"),
        Some("https://api.groq.com/openai/v1"),
        "openai",
    ),
    p(
        "together",
        "Together AI",
        None,
        Some("https://api.together.xyz/v1"),
        "openai",
    ),
    p(
        "mistral",
        "Mistral",
        None,
        Some("https://api.mistral.ai/v1"),
        "openai",
    ),
    p(
        "perplexity",
        "Perplexity",
        Some("pplx-"),
        Some("https://api.perplexity.ai"),
        "openai",
    ),
    p(
        "cohere",
        "Cohere",
        None,
        Some("https://api.cohere.ai/compatibility/v1"),
        "openai",
    ),
    p(
        "huggingface",
        "Hugging Face",
        Some("hf_"),
        Some("https://router.huggingface.co/v1"),
        "openai",
    ),
    p(
        "custom-<name>",
        "Custom OpenAI-compatible endpoint (base_url required)",
        None,
        None,
        "openai",
    ),
];

const fn p(
    slug: &'static str,
    name: &'static str,
    key_prefix: Option<&'static str>,
    default_base_url: Option<&'static str>,
    api: &'static str,
) -> Provider {
    Provider {
        slug,
        name,
        key_prefix,
        default_base_url,
        api,
    }
}

pub(crate) fn is_custom(slug: &str) -> bool {
    slug.strip_prefix("custom-").is_some_and(|name| {
        !name.is_empty() && name.len() <= 48 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// A known provider, or a well-formed `custom-<name>`.
pub(crate) fn validate_slug(slug: &str) -> Result<(), KeysError> {
    if is_custom(slug)
        || PROVIDERS
            .iter()
            .any(|p| p.slug == slug && !p.slug.starts_with("custom-"))
    {
        Ok(())
    } else {
        Err(KeysError::Invalid(format!(
            "unknown provider {slug:?}; use one of openai, anthropic, groq, together, mistral, perplexity, cohere, huggingface, or custom-<name>"
        )))
    }
}

pub(crate) fn default_base_url(slug: &str) -> Option<&'static str> {
    PROVIDERS
        .iter()
        .find(|p| p.slug == slug)
        .and_then(|p| p.default_base_url)
}

pub(crate) fn is_anthropic(slug: &str) -> bool {
    slug == "anthropic"
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
