//! Provider-specific catalog fields, flattened into a model's entry
//! (`deployment`, `api_version`, `region`) and checked at load, so a model
//! that cannot be called fails the start rather than its first request.

use keyway_common::providers::{self, AZURE_API_VERSION, KeyAuth};
use serde::Deserialize;

use super::{Inherited, Mode, Wire};

/// How the gateway talks to a model's upstream: the registry's key auth,
/// resolved once at load instead of looked up per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Adapter {
    /// `Authorization: Bearer` (OpenAI and the OpenAI-compatible family).
    #[default]
    Bearer,
    /// Bearer, on Gemini's OpenAI-compatible endpoint.
    Gemini,
    /// `x-api-key` and `anthropic-version` (Anthropic).
    Anthropic,
    /// `api-key`, with the deployment or v1 URL style (Azure OpenAI).
    Azure,
    /// SigV4-signed `InvokeModel` (AWS Bedrock, Anthropic models).
    Bedrock,
    /// SigV4-signed `Converse`/`ConverseStream` (AWS Bedrock, every other
    /// model), translated from and to the OpenAI wire.
    Converse,
}

/// Whether a Bedrock model id is an Anthropic model, served through
/// `InvokeModel` in Anthropic's own body: `anthropic.claude-…`, a
/// cross-region profile (`us.anthropic.…`) or an ARN naming one. Any other
/// model goes through Converse.
pub(crate) fn bedrock_anthropic(model_id: &str) -> bool {
    model_id.contains("anthropic.")
}

/// Unknown fields are refused by the model entry this is flattened into.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProviderOptions {
    /// Azure: the deployment name, called as
    /// `/openai/deployments/{deployment}/…?api-version=…`. Without it the
    /// model uses Azure's `/openai/v1/…` style, where `upstream_model` names
    /// the deployment.
    pub deployment: Option<String>,
    /// Azure's `api-version` for the deployment style (default
    /// [`AZURE_API_VERSION`]); with the v1 style it is sent only when given.
    pub api_version: Option<String>,
    /// Bedrock: the AWS region requests are signed for (default
    /// `AWS_REGION`).
    pub region: Option<String>,
    #[serde(skip)]
    pub adapter: Adapter,
}

impl ProviderOptions {
    /// Checks the options against the provider and fills defaults; returns
    /// the provider's wire. `vars` reads the environment (`AWS_REGION`).
    pub(super) fn resolve(
        &mut self,
        provider: &str,
        upstream_model: &str,
        mode: Mode,
        vars: &impl Fn(&str) -> Option<String>,
    ) -> Result<Wire, String> {
        let entry = providers::find(provider).ok_or_else(|| unknown(provider))?;
        self.adapter = adapter_of(provider)?;
        let only_for = |field: &str, owner: &str| format!("{field} applies only to provider {owner}");
        if self.adapter != Adapter::Azure {
            if self.deployment.is_some() {
                return Err(only_for("deployment", "azure"));
            }
            if self.api_version.is_some() {
                return Err(only_for("api_version", "azure"));
            }
        }
        if self.adapter != Adapter::Bedrock && self.region.is_some() {
            return Err(only_for("region", "bedrock"));
        }
        match self.adapter {
            Adapter::Azure => {
                if let Some(d) = &self.deployment {
                    check_segment("deployment", d)?;
                    self.api_version
                        .get_or_insert_with(|| AZURE_API_VERSION.to_owned());
                }
                if let Some(v) = &self.api_version {
                    check_segment("api_version", v)?;
                }
            }
            Adapter::Bedrock => {
                if mode != Mode::Chat {
                    return Err(
                        "bedrock serves only chat models here (InvokeModel for Anthropic models, Converse for the rest)".into(),
                    );
                }
                if self.region.is_none() {
                    self.region = vars("AWS_REGION").filter(|r| !r.is_empty());
                }
                let region = self
                    .region
                    .as_deref()
                    .ok_or("bedrock needs a region (the `region` field, or AWS_REGION)")?;
                check_segment("region", region)?;
            }
            Adapter::Bearer | Adapter::Gemini | Adapter::Anthropic | Adapter::Converse => {}
        }
        if self.adapter == Adapter::Bedrock && !bedrock_anthropic(upstream_model) {
            // Converse speaks neither wire; the adapter translates it from
            // and to OpenAI's, and Anthropic clients reach it through
            // `translate` like any OpenAI-wire model.
            self.adapter = Adapter::Converse;
            return Ok(Wire::OpenAi);
        }
        Ok(match entry.api {
            providers::Wire::OpenAi => Wire::OpenAi,
            providers::Wire::Anthropic => Wire::Anthropic,
        })
    }
}

impl ProviderOptions {
    /// A deployment's options: its own fields, plus the model's where it
    /// sets none and is called the same way as the model (an `azure`
    /// deployment under an `azure` model inherits `api_version`; under an
    /// `openai` model it has only its own). Returns them resolved for the
    /// deployment's provider, with its wire.
    pub(super) fn for_deployment(
        mut self,
        provider: &str,
        upstream_model: &str,
        inherited: &Inherited<'_>,
        vars: &impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, Wire), String> {
        let model = inherited.options;
        if adapter_of(provider)? == adapter_of(inherited.provider)? {
            self.deployment = self.deployment.or_else(|| model.deployment.clone());
            self.api_version = self.api_version.or_else(|| model.api_version.clone());
            self.region = self.region.or_else(|| model.region.clone());
        }
        let wire = self.resolve(provider, upstream_model, inherited.mode, vars)?;
        Ok((self, wire))
    }
}

fn unknown(provider: &str) -> String {
    format!(
        "unknown provider {provider:?} (use one of {})",
        providers::slugs()
    )
}

/// How a provider of the registry is called.
fn adapter_of(provider: &str) -> Result<Adapter, String> {
    let entry = providers::find(provider).ok_or_else(|| unknown(provider))?;
    Ok(match entry.key_auth {
        KeyAuth::Bearer if provider == "gemini" => Adapter::Gemini,
        KeyAuth::Bearer => Adapter::Bearer,
        KeyAuth::XApiKey => Adapter::Anthropic,
        KeyAuth::AzureApiKey => Adapter::Azure,
        KeyAuth::Sigv4 => Adapter::Bedrock,
    })
}

/// A value that goes into a URL path or query as it is: letters, digits,
/// `.`, `_` and `-` only, so it can neither escape its segment nor need
/// encoding (which would change what SigV4 signs).
fn check_segment(field: &str, value: &str) -> Result<(), String> {
    if !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Ok(())
    } else {
        Err(format!(
            "{field} {value:?} must be 1-128 letters, digits, '.', '_' or '-'"
        ))
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn resolve(provider: &str, o: &mut ProviderOptions, region_env: Option<&str>) -> Result<Wire, String> {
        let env = |n: &str| {
            (n == "AWS_REGION")
                .then(|| region_env.map(str::to_owned))
                .flatten()
        };
        o.resolve(
            provider,
            "anthropic.claude-3-haiku-20240307-v1:0",
            Mode::Chat,
            &env,
        )
    }

    #[test]
    fn azure_deployment_style_gets_a_default_api_version() {
        let mut o = ProviderOptions {
            deployment: Some("gpt4o".into()),
            ..Default::default()
        };
        assert_eq!(resolve("azure", &mut o, None).unwrap(), Wire::OpenAi);
        assert_eq!(o.api_version.as_deref(), Some(AZURE_API_VERSION));
        assert_eq!(o.adapter, Adapter::Azure);
        let mut v1 = ProviderOptions::default();
        resolve("azure", &mut v1, None).unwrap();
        assert_eq!(v1.api_version, None);
    }

    #[test]
    fn bedrock_needs_a_region_from_the_entry_or_the_environment() {
        let mut o = ProviderOptions::default();
        assert!(resolve("bedrock", &mut o, None).unwrap_err().contains("region"));
        assert_eq!(
            resolve("bedrock", &mut o, Some("eu-west-1")).unwrap(),
            Wire::Anthropic
        );
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        let mut bad = ProviderOptions {
            region: Some("eu/west".into()),
            ..Default::default()
        };
        assert!(resolve("bedrock", &mut bad, None).is_err());
        let mut embed = ProviderOptions::default();
        assert!(
            embed
                .resolve("bedrock", "amazon.titan", Mode::Embedding, &|_| Some(
                    "us-east-1".into()
                ))
                .is_err()
        );
    }

    #[test]
    fn bedrock_models_other_than_anthropics_go_through_converse_on_the_openai_wire() {
        let env = |_: &str| Some("us-east-1".to_owned());
        for (id, adapter, wire) in [
            ("meta.llama3-1-70b-instruct-v1:0", Adapter::Converse, Wire::OpenAi),
            ("us.amazon.nova-pro-v1:0", Adapter::Converse, Wire::OpenAi),
            (
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
                Adapter::Bedrock,
                Wire::Anthropic,
            ),
        ] {
            let mut o = ProviderOptions::default();
            assert_eq!(o.resolve("bedrock", id, Mode::Chat, &env).unwrap(), wire, "{id}");
            assert_eq!(o.adapter, adapter, "{id}");
        }
    }

    #[test]
    fn options_of_another_provider_are_refused() {
        let mut o = ProviderOptions {
            region: Some("us-east-1".into()),
            ..Default::default()
        };
        assert!(resolve("azure", &mut o, None).unwrap_err().contains("bedrock"));
        let mut d = ProviderOptions {
            deployment: Some("x".into()),
            ..Default::default()
        };
        assert!(resolve("openai", &mut d, None).unwrap_err().contains("azure"));
        assert!(resolve("nope", &mut ProviderOptions::default(), None).is_err());
        assert_eq!(
            resolve("gemini", &mut ProviderOptions::default(), None).unwrap(),
            Wire::OpenAi
        );
    }
}
