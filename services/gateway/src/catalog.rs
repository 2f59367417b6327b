//! The model catalog: public model names mapped to a provider, an upstream
//! model, a base URL, the ordered key sources to try, and prices.
//!
//! Loaded once at start from YAML (`KEYWAY_MODELS`, or the built-in dev
//! catalog) and validated whole, so a typo fails the start, not a request.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The dev catalog shipped in `config/models.dev.yaml`.
pub const DEV_CATALOG: &str = include_str!("../../../config/models.dev.yaml");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("model catalog is not valid YAML: {0}")]
    Yaml(String),
    #[error("model {model:?}: {reason}")]
    Model { model: String, reason: String },
    #[error("model {model:?}: base_url uses ${{{var}}}, which is not set")]
    UnsetVariable { model: String, var: String },
    #[error("routing defaults: {0}")]
    Routing(String),
}

/// Which wire protocol the upstream speaks. Every provider but Anthropic
/// speaks the OpenAI API (Groq, Together, Mistral, custom endpoints, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    OpenAi,
    Anthropic,
}

impl Wire {
    pub fn as_str(self) -> &'static str {
        match self {
            Wire::OpenAi => "openai",
            Wire::Anthropic => "anthropic",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    User,
    Tenant,
    System,
}

impl KeySource {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::User => "user",
            KeySource::Tenant => "tenant",
            KeySource::System => "system",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Chat,
    Embedding,
    /// Legacy text completions (`POST /v1/completions`).
    Completion,
}

/// How an OpenAI-wire chat model serves `/v1/responses`: passed through to
/// the upstream's own Responses API, or bridged onto its chat completions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponsesApi {
    Native,
    Bridge,
}

impl ResponsesApi {
    /// OpenAI has the Responses API; most OpenAI-compatible servers have
    /// only chat completions, and the bridge serves them all.
    fn default_for(provider: &str) -> Self {
        match provider {
            "openai" | "azure" => ResponsesApi::Native,
            _ => ResponsesApi::Bridge,
        }
    }
}

/// Prices per million tokens, as written in the catalog.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    #[serde(default)]
    pub cached_input_per_mtok: f64,
    /// Prompt-cache writes (Anthropic's `cache_creation_input_tokens`, 5-minute
    /// TTL); default [`CACHE_WRITE_FACTOR`] × input.
    #[serde(default)]
    pub cache_write_per_mtok: Option<f64>,
    /// Prompt-cache writes with the 1-hour TTL; default
    /// [`CACHE_WRITE_1H_FACTOR`] × input.
    #[serde(default)]
    pub cache_write_1h_per_mtok: Option<f64>,
    pub currency: String,
}

/// Anthropic's price of a 5-minute cache write, relative to input.
pub const CACHE_WRITE_FACTOR: f64 = 1.25;
/// Anthropic's price of a 1-hour cache write, relative to input.
pub const CACHE_WRITE_1H_FACTOR: f64 = 2.0;

impl Price {
    pub fn cache_write(&self) -> f64 {
        self.cache_write_per_mtok
            .unwrap_or(self.input_per_mtok * CACHE_WRITE_FACTOR)
    }

    pub fn cache_write_1h(&self) -> f64 {
        self.cache_write_1h_per_mtok
            .unwrap_or(self.input_per_mtok * CACHE_WRITE_1H_FACTOR)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    provider: String,
    upstream_model: String,
    /// One upstream; or `deployments` (see `deployment.rs`).
    base_url: Option<String>,
    deployments: Option<Vec<RawDeployment>>,
    #[serde(default)]
    fallbacks: Vec<String>,
    retry: Option<RawRetry>,
    cooldown: Option<RawCooldown>,
    key_source: Vec<KeySource>,
    api_key_env: Option<String>,
    price: Option<Price>,
    max_output_tokens: Option<u64>,
    #[serde(default)]
    mode: Mode,
    /// Default both; the other wire's route goes through `translate`.
    client_wires: Option<Vec<Wire>>,
    #[serde(default)]
    drop_unsupported: bool,
    /// Default by provider: see [`ResponsesApi::default_for`].
    responses_api: Option<ResponsesApi>,
    /// Provider-specific fields (`deployment`, `api_version`, `region`),
    /// inherited by the deployments called the same way.
    #[serde(flatten)]
    options: ProviderOptions,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    models: BTreeMap<String, RawModel>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub provider: String,
    pub wire: Wire,
    pub mode: Mode,
    pub upstream_model: String,
    /// The first deployment's `base_url`, trailing slash dropped: other
    /// routes of the same upstream (the Responses API's) hang under it.
    pub base_url: String,
    /// The catalog's `base_url` (trailing slash dropped) plus the path of
    /// the one route the model is served on, parsed once here rather than on
    /// every request.
    pub upstream_url: reqwest::Url,
    pub key_source: Vec<KeySource>,
    pub api_key_env: Option<String>,
    pub price: Option<Price>,
    /// The most output tokens one request may ask for: a larger
    /// `max_tokens` is lowered to it, both in what is reserved against the
    /// caller's limits and in what is sent upstream.
    pub max_output_tokens: u64,
    /// The client wires a chat model is served on (translated when not its own).
    pub client_wires: Vec<Wire>,
    /// Drop request parameters that do not translate instead of refusing them.
    pub drop_unsupported: bool,
    /// An OpenAI-wire model's Responses API: its own, or the bridge.
    pub responses_api: ResponsesApi,
    /// At least one; `base_url`/`upstream_url` above are the first's.
    pub deployments: Vec<Deployment>,
    pub routing: Routing,
}

/// `max_output_tokens` of a model whose catalog entry names none: at least
/// what current chat models can produce in one answer.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 131_072;

/// The largest `max_output_tokens` a catalog may name. With it, and prices
/// capped at `MAX_PRICE_PER_MTOK`, a reservation's cost stays far inside
/// integer range.
pub const MAX_OUTPUT_TOKENS_CAP: u64 = 16_777_216;

/// The highest price per million tokens a catalog may name.
pub const MAX_PRICE_PER_MTOK: f64 = 1_000_000.0;

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    models: BTreeMap<String, Model>,
}

impl Catalog {
    /// Parses and validates a catalog. `${NAME}` in a base URL is replaced
    /// through `vars`, so one file serves any port or environment.
    pub fn parse(yaml: &str, vars: impl Fn(&str) -> Option<String>) -> Result<Self, CatalogError> {
        let raw: RawCatalog = serde_yaml::from_str(yaml).map_err(|e| CatalogError::Yaml(e.to_string()))?;
        let defaults = Defaults::read(&vars).map_err(CatalogError::Routing)?;
        let mut models = BTreeMap::new();
        for (name, m) in raw.models {
            let model = validate(&name, m, &vars, defaults)?;
            models.insert(name, model);
        }
        deployment::check_fallbacks(&models)?;
        Ok(Self { models })
    }

    pub fn get(&self, name: &str) -> Option<&Model> {
        self.models.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Model> {
        self.models.values()
    }

    /// Every environment variable the catalog names for a system key,
    /// the deployments' own included.
    pub fn system_key_envs(&self) -> impl Iterator<Item = &str> {
        self.models.values().flat_map(|m| {
            m.api_key_env
                .as_deref()
                .into_iter()
                .chain(m.deployments.iter().filter_map(|d| d.api_key_env.as_deref()))
        })
    }
}

fn validate(
    name: &str,
    mut m: RawModel,
    vars: &impl Fn(&str) -> Option<String>,
    defaults: Defaults,
) -> Result<Model, CatalogError> {
    let fail = |reason: String| CatalogError::Model {
        model: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_whitespace) {
        return Err(fail("the name must be 1-128 characters without spaces".into()));
    }
    let wire = m
        .options
        .resolve(&m.provider, &m.upstream_model, m.mode, vars)
        .map_err(fail)?;
    if wire == Wire::Anthropic && m.mode != Mode::Chat {
        return Err(fail(
            "anthropic serves only chat models (no embeddings or completions API)".into(),
        ));
    }
    checks::check_key_sources(&m.key_source).map_err(&fail)?;
    if let Some(price) = &m.price {
        checks::check_price(price).map_err(fail)?;
    }
    let max_output_tokens = m.max_output_tokens.unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
    if !(1..=MAX_OUTPUT_TOKENS_CAP).contains(&max_output_tokens) {
        return Err(fail(format!(
            "max_output_tokens must be from 1 to {MAX_OUTPUT_TOKENS_CAP}"
        )));
    }
    let client_wires = m
        .client_wires
        .unwrap_or_else(|| vec![Wire::OpenAi, Wire::Anthropic]);
    if client_wires.is_empty() {
        return Err(fail("client_wires must list openai, anthropic or both".into()));
    }
    if let Some(url) = m.base_url.as_deref()
        && let Err(var) = expand(url, vars)
    {
        return Err(CatalogError::UnsetVariable {
            model: name.to_owned(),
            var,
        });
    }
    let inherited = Inherited {
        provider: &m.provider,
        upstream_model: &m.upstream_model,
        api_key_env: m.api_key_env.as_deref(),
        mode: m.mode,
        options: &m.options,
    };
    let deployments =
        deployment::deployments(m.base_url.as_deref(), m.deployments, &inherited, vars).map_err(&fail)?;
    checks::check_deployments(&deployments, wire, &m.key_source).map_err(&fail)?;
    let routing =
        deployment::routing(deployments.len(), m.retry, m.cooldown, m.fallbacks, defaults).map_err(&fail)?;
    Ok(Model {
        name: name.to_owned(),
        provider: m.provider.clone(),
        wire,
        mode: m.mode,
        upstream_model: m.upstream_model,
        // Before `deployments` moves below.
        base_url: deployments[0].base_url.clone(),
        upstream_url: deployments[0].upstream_url.clone(),
        key_source: m.key_source,
        api_key_env: m.api_key_env,
        price: m.price,
        max_output_tokens,
        client_wires,
        drop_unsupported: m.drop_unsupported,
        responses_api: m
            .responses_api
            .unwrap_or_else(|| ResponsesApi::default_for(&m.provider)),
        deployments,
        routing,
    })
}

/// Replaces each `${NAME}`; returns the first unset name as the error.
pub(crate) fn expand(template: &str, vars: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let var = &after[..end];
        out.push_str(&vars(var).ok_or_else(|| var.to_owned())?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

mod checks;
mod deployment;
mod endpoint;
pub use deployment::{
    DEFAULT_COOLDOWN_FAILURES, DEFAULT_COOLDOWN_SECS, Deployment, IMPLICIT_DEPLOYMENT, MAX_DEPLOYMENTS,
    RetryOn, Routing,
};
use deployment::{Defaults, Inherited, RawCooldown, RawDeployment, RawRetry};
pub(crate) use endpoint::Endpoint;
mod provider_options;
pub use provider_options::{Adapter, ProviderOptions};

#[cfg(test)]
mod client_wires_tests;

#[cfg(test)]
mod deployment_tests;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fleet_tests;
