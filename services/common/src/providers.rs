//! The provider registry, shared by the keys service (BYOK keys, the
//! providers list, the key test) and the gateway (the catalog's `provider`):
//! per provider its wire, default base URL, how its key is sent, how a key
//! is tested and a key-format hint. One table, so the two cannot disagree.

use serde::Serialize;
use utoipa::ToSchema;

/// The wire protocol of a provider's API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = ProviderWire)]
pub enum Wire {
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
}

/// How the provider key travels on each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyAuth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `x-api-key: <key>` with an `anthropic-version` header.
    XApiKey,
    /// Azure OpenAI's `api-key: <key>`.
    AzureApiKey,
    /// AWS Signature Version 4; the key is `ACCESS_KEY_ID:SECRET_ACCESS_KEY`
    /// with an optional `:SESSION_TOKEN`.
    Sigv4,
}

/// Whether a BYOK key of the provider may carry its own `base_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BaseUrlRule {
    /// Always the provider's default.
    Fixed,
    /// The default unless the key names another (local servers).
    Optional,
    /// The key must name one (an Azure resource, a Bedrock region, a custom endpoint).
    Required,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Provider {
    /// The catalog's `provider` and the BYOK path segment.
    pub slug: &'static str,
    pub name: &'static str,
    /// What a key usually starts with, as a hint for forms.
    pub key_prefix: Option<&'static str>,
    /// The key's shape in words, as a hint for forms.
    pub key_format: &'static str,
    pub default_base_url: Option<&'static str>,
    /// `openai` or `anthropic`: the wire protocol of the provider's API.
    pub api: Wire,
    pub key_auth: KeyAuth,
    pub base_url: BaseUrlRule,
    /// What `POST /api/v1/byok/keys/{provider}/test` calls with the key:
    /// a method and a path under the key's base URL (Bedrock: a signed call
    /// to the control plane of the key's region).
    pub key_test: &'static str,
    /// Keyway's endpoint that tests a stored key of this provider.
    pub test_endpoint: &'static str,
}

/// The Anthropic API version sent with every Anthropic-wire request that
/// does not name its own.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// The Azure OpenAI data-plane API version used when the catalog names none.
pub const AZURE_API_VERSION: &str = "2024-10-21";

const SK: &str = "a secret starting with the prefix shown";
const OPAQUE: &str = "an opaque secret token";
const LOCAL: &str = "any non-empty string (local servers usually ignore it)";

pub const PROVIDERS: &[Provider] = &[
    openai_like("openai", "OpenAI", Some("sk-"), SK, "https://api.openai.com/v1"),
    Provider {
        api: Wire::Anthropic,
        key_auth: KeyAuth::XApiKey,
        ..openai_like(
            "anthropic",
            "Anthropic",
            Some("sk-ant-"),
            SK,
            "https://api.anthropic.com/v1",
        )
    },
    openai_like("groq", "Groq", Some("gsk_"), SK, "https://api.groq.com/openai/v1"),
    openai_like(
        "together",
        "Together AI",
        None,
        OPAQUE,
        "https://api.together.xyz/v1",
    ),
    openai_like("mistral", "Mistral", None, OPAQUE, "https://api.mistral.ai/v1"),
    openai_like(
        "deepseek",
        "DeepSeek",
        Some("sk-"),
        SK,
        "https://api.deepseek.com/v1",
    ),
    openai_like(
        "fireworks",
        "Fireworks AI",
        Some("fw_"),
        SK,
        "https://api.fireworks.ai/inference/v1",
    ),
    openai_like(
        "openrouter",
        "OpenRouter",
        Some("sk-or-"),
        SK,
        "https://openrouter.ai/api/v1",
    ),
    openai_like(
        "perplexity",
        "Perplexity",
        Some("pplx-"),
        SK,
        "https://api.perplexity.ai",
    ),
    openai_like("xai", "xAI", Some("xai-"), SK, "https://api.x.ai/v1"),
    openai_like(
        "cohere",
        "Cohere (compatibility API)",
        None,
        OPAQUE,
        "https://api.cohere.ai/compatibility/v1",
    ),
    openai_like(
        "huggingface",
        "Hugging Face (router)",
        Some("hf_"),
        SK,
        "https://router.huggingface.co/v1",
    ),
    local("vllm", "vLLM (local)", "http://localhost:8000/v1"),
    local("ollama", "Ollama (local)", "http://localhost:11434/v1"),
    local("lmstudio", "LM Studio (local)", "http://localhost:1234/v1"),
    Provider {
        default_base_url: Some("https://generativelanguage.googleapis.com/v1beta/openai"),
        ..openai_like(
            "gemini",
            "Google Gemini (OpenAI-compatible endpoint)",
            Some("AIza"),
            SK,
            "",
        )
    },
    Provider {
        key_auth: KeyAuth::AzureApiKey,
        default_base_url: None,
        base_url: BaseUrlRule::Required,
        key_test: "GET {base_url}/openai/v1/models",
        ..openai_like(
            "azure",
            "Azure OpenAI (base_url: https://<resource>.openai.azure.com)",
            None,
            "the resource's 32-character hexadecimal key",
            "",
        )
    },
    Provider {
        api: Wire::Anthropic,
        key_auth: KeyAuth::Sigv4,
        default_base_url: None,
        base_url: BaseUrlRule::Required,
        key_test: "GET https://bedrock.<region>.amazonaws.com/foundation-models (SigV4)",
        ..openai_like(
            "bedrock",
            "AWS Bedrock (base_url: https://bedrock-runtime.<region>.amazonaws.com)",
            Some("AKIA"),
            "ACCESS_KEY_ID:SECRET_ACCESS_KEY, optionally :SESSION_TOKEN",
            "",
        )
    },
    Provider {
        default_base_url: None,
        base_url: BaseUrlRule::Required,
        ..openai_like(
            "custom-<name>",
            "Custom OpenAI-compatible endpoint (base_url required)",
            None,
            OPAQUE,
            "",
        )
    },
];

const fn openai_like(
    slug: &'static str,
    name: &'static str,
    key_prefix: Option<&'static str>,
    key_format: &'static str,
    default_base_url: &'static str,
) -> Provider {
    Provider {
        slug,
        name,
        key_prefix,
        key_format,
        default_base_url: Some(default_base_url),
        api: Wire::OpenAi,
        key_auth: KeyAuth::Bearer,
        base_url: BaseUrlRule::Fixed,
        key_test: "GET {base_url}/models",
        test_endpoint: "/api/v1/byok/keys/{provider}/test",
    }
}

const fn local(slug: &'static str, name: &'static str, base: &'static str) -> Provider {
    Provider {
        base_url: BaseUrlRule::Optional,
        ..openai_like(slug, name, None, LOCAL, base)
    }
}

/// `custom-<name>`: a name of 1-48 ASCII letters, digits and dashes.
pub fn is_custom(slug: &str) -> bool {
    slug.strip_prefix("custom-").is_some_and(|name| {
        !name.is_empty() && name.len() <= 48 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The registry entry of `slug`; a well-formed `custom-<name>` gets the
/// custom entry.
pub fn find(slug: &str) -> Option<&'static Provider> {
    if is_custom(slug) {
        return PROVIDERS.iter().find(|p| p.slug == "custom-<name>");
    }
    PROVIDERS
        .iter()
        .find(|p| p.slug == slug && !p.slug.starts_with("custom-"))
}

/// The slugs, for error messages.
pub fn slugs() -> String {
    PROVIDERS.iter().map(|p| p.slug).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_has_a_default_base_url_unless_the_key_names_one() {
        for p in PROVIDERS {
            assert_eq!(
                p.default_base_url.is_none(),
                p.base_url == BaseUrlRule::Required,
                "{}",
                p.slug
            );
            assert!(
                p.default_base_url.is_none_or(|u| u.starts_with("http")),
                "{}",
                p.slug
            );
        }
    }

    #[test]
    fn slugs_resolve_to_their_entry() {
        assert_eq!(find("azure").map(|p| p.key_auth), Some(KeyAuth::AzureApiKey));
        assert_eq!(find("bedrock").map(|p| p.api), Some(Wire::Anthropic));
        assert_eq!(find("custom-acme").map(|p| p.slug), Some("custom-<name>"));
        for bad in ["", "OpenAI", "custom-", "custom-<name>", "custom-a.b", "nope"] {
            assert!(find(bad).is_none(), "{bad}");
        }
    }
}
