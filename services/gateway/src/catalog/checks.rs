//! Load-time checks of a catalog entry, apart from parsing it.

use super::{Deployment, KeySource, MAX_PRICE_PER_MTOK, Price, Wire};

/// Translation is chosen per model, so its deployments share a wire: an
/// `azure` deployment may serve an `openai` model and a `bedrock` one an
/// `anthropic` model (each with its own adapter), but another wire is
/// reached through `fallbacks`. With `system` listed, each deployment needs
/// its key's variable.
pub(super) fn check_deployments(
    deployments: &[Deployment],
    wire: Wire,
    sources: &[KeySource],
) -> Result<(), String> {
    for d in deployments {
        if d.wire != wire {
            return Err(format!(
                "deployment {:?} (provider {}) speaks the {} wire but the model speaks {}; \
                 a model's deployments share one wire, so make it a model of its own and list it in fallbacks",
                d.name,
                d.provider,
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
