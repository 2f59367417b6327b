//! Picks the upstream provider key for a request by walking the model's
//! ordered `key_source` list. Today only the platform's system keys exist;
//! user and tenant (BYOK) keys come from the key service.

use std::collections::HashMap;

use keyway_auth::Caller;

use crate::{
    catalog::{KeySource, Model},
    error::GatewayError,
};

/// The platform's own provider keys, by the variable name the catalog gives.
#[derive(Default, Clone)]
pub struct SystemKeys(HashMap<String, String>);

impl SystemKeys {
    /// Reads every variable the catalog names; extra entries (such as the
    /// in-process mock's generated key) override the environment.
    pub fn load<'a>(
        names: impl Iterator<Item = &'a str>,
        get: impl Fn(&str) -> Option<String>,
        overrides: HashMap<String, String>,
    ) -> Self {
        let mut keys: HashMap<String, String> = names
            .filter_map(|name| get(name).filter(|v| !v.is_empty()).map(|v| (name.to_owned(), v)))
            .collect();
        keys.extend(overrides);
        Self(keys)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// The key that will be sent upstream, and where it came from (recorded for
/// billing; the key itself never leaves this struct except to the upstream).
pub(crate) struct UpstreamCredential<'a> {
    pub(crate) key: &'a str,
    pub(crate) source: KeySource,
}

impl std::fmt::Debug for UpstreamCredential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCredential")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

pub(crate) fn resolve<'a>(
    system: &'a SystemKeys,
    _caller: &Caller,
    model: &Model,
) -> Result<UpstreamCredential<'a>, GatewayError> {
    for source in &model.key_source {
        let found = match source {
            KeySource::System => model.api_key_env.as_deref().and_then(|env| system.get(env)),
            // BYOK keys are held by the key service; none exist until it does.
            KeySource::User | KeySource::Tenant => None,
        };
        if let Some(key) = found {
            return Ok(UpstreamCredential { key, source: *source });
        }
    }
    let tried: Vec<&str> = model
        .key_source
        .iter()
        .map(|s| match s {
            KeySource::User => "user",
            KeySource::Tenant => "tenant",
            KeySource::System => "system",
        })
        .collect();
    Err(GatewayError::KeyRequired {
        model: model.name.clone(),
        provider: model.provider.clone(),
        tried: tried.join(", "),
    })
}

/// Whether `resolve` would find a key, for `/v1/models`' `key_required`.
pub(crate) fn has_key(system: &SystemKeys, caller: &Caller, model: &Model) -> bool {
    resolve(system, caller, model).is_ok()
}
