//! Load-time checks of a catalog entry, apart from parsing it.

use super::{Deployment, KeySource, MAX_PRICE_PER_MTOK, Mode, Price, ProviderOptions, Wire};

/// Translation is chosen per model, so its deployments share a wire
/// (another wire is reached through `fallbacks`); with `system` listed,
/// each needs its key's variable.
pub(super) fn check_deployments(
    deployments: &[Deployment],
    wire: Wire,
    sources: &[KeySource],
) -> Result<(), String> {
    for d in deployments {
        if d.wire != wire {
            return Err(format!(
                "deployment {:?} speaks the {} wire, the model {}: use a fallback model instead",
                d.name,
                d.wire.as_str(),
                wire.as_str()
            ));
        }
        if sources.contains(&KeySource::System) && d.api_key_env.is_none() {
            return Err(format!(
                "key_source includes system, so deployment {:?} (or the model) needs api_key_env",
                d.name
            ));
        }
    }
    Ok(())
}

/// The wire format a provider of the registry speaks.
pub(crate) fn wire_of(provider: &str) -> Result<Wire, String> {
    match keyway_common::providers::find(provider).map(|p| p.api) {
        Some(keyway_common::providers::Wire::Anthropic) => Ok(Wire::Anthropic),
        Some(keyway_common::providers::Wire::OpenAi) => Ok(Wire::OpenAi),
        None => Err(format!(
            "unknown provider {provider:?} (use one of {})",
            keyway_common::providers::slugs()
        )),
    }
}

/// A non-empty list without repeats (each deployment's `api_key_env` is
/// checked when `system` is listed).
pub(super) fn check_key_sources(sources: &[KeySource]) -> Result<(), String> {
    if sources.is_empty() {
        return Err("key_source must list at least one of user, tenant, system".into());
    }
    for (i, s) in sources.iter().enumerate() {
        if sources[..i].contains(s) {
            return Err(format!("key_source lists {s:?} twice"));
        }
    }
    Ok(())
}

pub(super) fn check_price(price: &Price) -> Result<(), String> {
    let all = [
        price.input_per_mtok,
        price.output_per_mtok,
        price.cached_input_per_mtok,
        price.cache_write(),
        price.cache_write_1h(),
    ];
    if all
        .iter()
        .any(|p| !p.is_finite() || *p < 0.0 || *p > MAX_PRICE_PER_MTOK)
    {
        return Err(format!(
            "prices must be numbers from 0 to {MAX_PRICE_PER_MTOK} per million tokens"
        ));
    }
    if price.currency.len() != 3 || !price.currency.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(format!(
            "currency {:?} must be an ISO 4217 code such as USD",
            price.currency
        ));
    }
    Ok(())
}

/// The provider adapter (URL style, key header or signature) is the
/// model's: a deployment may name another provider only when it is called
/// the same way (groq next to together), not Azure or Bedrock next to
/// OpenAI — make that a fallback model with its own options.
pub(super) fn check_adapters(
    deployments: &[Deployment],
    provider: &str,
    mode: Mode,
    options: &ProviderOptions,
    vars: &impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    for d in deployments.iter().filter(|d| d.provider != provider) {
        let mut own = ProviderOptions::default();
        own.resolve(&d.provider, mode, vars)?;
        if own.adapter != options.adapter {
            return Err(format!(
                "deployment {:?}: provider {} is called differently from {provider}; make it a model of its own and list it in fallbacks",
                d.name, d.provider
            ));
        }
    }
    Ok(())
}
