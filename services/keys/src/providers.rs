//! The BYOK provider catalog and the rules for a custom `base_url`,
//! including the SSRF guard: in production a base URL must not resolve to a
//! private, loopback or link-local address.

use std::net::IpAddr;

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

/// Checks a custom base URL; `allow_private` is for dev and tests only.
pub(crate) async fn validate_base_url(raw: &str, allow_private: bool) -> Result<String, KeysError> {
    let url = reqwest::Url::parse(raw).map_err(|e| KeysError::Invalid(format!("base_url {raw:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.username() != "" || url.password().is_some() {
        return Err(KeysError::Invalid(
            "base_url must be an http(s) URL without credentials".into(),
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| KeysError::Invalid("base_url has no host".into()))?
        .to_owned();
    if !allow_private {
        let port = url.port_or_known_default().unwrap_or(443);
        let host_for_lookup = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let addrs = tokio::net::lookup_host((host_for_lookup.as_str(), port))
            .await
            .map_err(|e| KeysError::Invalid(format!("base_url host {host:?} does not resolve: {e}")))?;
        for addr in addrs {
            if is_internal(addr.ip()) {
                return Err(KeysError::Invalid(format!(
                    "base_url host {host:?} resolves to a private, loopback or link-local address"
                )));
            }
        }
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

fn is_internal(ip: IpAddr) -> bool {
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

    #[tokio::test]
    async fn private_and_loopback_base_urls_are_refused_unless_allowed() {
        for bad in [
            "http://127.0.0.1:8080/v1",
            "http://10.1.2.3/v1",
            "http://169.254.169.254/",
            "http://[::1]/v1",
            "http://192.168.1.1",
        ] {
            assert!(validate_base_url(bad, false).await.is_err(), "{bad}");
        }
        assert_eq!(
            validate_base_url("http://127.0.0.1:9/v1/", true).await.unwrap(),
            "http://127.0.0.1:9/v1"
        );
        assert!(validate_base_url("ftp://example.com", true).await.is_err());
        assert!(
            validate_base_url("http://user:pw@example.com", true)
                .await
                .is_err()
        );
    }
}
