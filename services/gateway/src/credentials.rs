//! Picks the upstream provider key for a request by walking the model's
//! ordered `key_source` list: the caller's own key (`user`), the team's
//! (`tenant`), or the platform's (`system`). BYOK keys come from the key
//! service and are cached briefly; key-change events evict them.

use std::{collections::HashMap, sync::Arc};

use keyway_auth::{AuthError, Caller, KeyScope, ProviderKey, ProviderKeys};

use crate::{
    cache::TenantCache,
    catalog::{KeySource, Model},
    error::GatewayError,
};

/// The platform's own provider keys, by the variable name the catalog gives.
#[derive(Default, Clone)]
pub struct SystemKeys(HashMap<String, Arc<ProviderKey>>);

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
        Self(
            keys.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        Arc::new(ProviderKey {
                            secret: v.into(),
                            base_url: None,
                        }),
                    )
                })
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<Arc<ProviderKey>> {
        self.0.get(name).cloned()
    }
}

/// The key that will be sent upstream, and where it came from.
pub(crate) struct UpstreamCredential {
    pub(crate) key: Arc<ProviderKey>,
    pub(crate) source: KeySource,
}

type ByokCacheKey = (String, Option<String>, KeyScope, String);

pub(crate) struct Credentials {
    pub(crate) system: SystemKeys,
    pub(crate) byok: Option<Arc<dyn ProviderKeys>>,
    pub(crate) cache: TenantCache<ByokCacheKey, Option<Arc<ProviderKey>>>,
}

impl Credentials {
    /// A span for traces only (`keyway_common::telemetry::TRACE_TARGET`).
    #[tracing::instrument(target = "keyway_trace", name = "resolve credential", skip_all,
        fields(gen_ai.provider.name = %model.provider))]
    pub(crate) async fn resolve(
        &self,
        caller: &Caller,
        model: &Model,
    ) -> Result<UpstreamCredential, GatewayError> {
        for source in &model.key_source {
            if let Some(key) = self.key_from(caller, model, *source).await? {
                return Ok(UpstreamCredential { key, source: *source });
            }
        }
        Err(GatewayError::KeyRequired {
            model: model.name.clone(),
            provider: model.provider.clone(),
            tried: model
                .key_source
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The key of one source only: a stored response is reached with the
    /// credential that created it. `None` when that source has no key now.
    pub(crate) async fn key_from(
        &self,
        caller: &Caller,
        model: &Model,
        source: KeySource,
    ) -> Result<Option<Arc<ProviderKey>>, GatewayError> {
        Ok(match source {
            KeySource::System => model.api_key_env.as_deref().and_then(|env| self.system.get(env)),
            KeySource::User => self.byok_key(caller, KeyScope::User, &model.provider).await?,
            KeySource::Tenant => self.byok_key(caller, KeyScope::Tenant, &model.provider).await?,
        })
    }

    async fn byok_key(
        &self,
        caller: &Caller,
        scope: KeyScope,
        provider: &str,
    ) -> Result<Option<Arc<ProviderKey>>, GatewayError> {
        let Some(store) = &self.byok else { return Ok(None) };
        if scope == KeyScope::User && caller.user_id.is_none() {
            return Ok(None);
        }
        let user = (scope == KeyScope::User)
            .then(|| caller.user_id.clone())
            .flatten();
        let cache_key = (caller.tenant_id.clone(), user, scope, provider.to_owned());
        if let Some(hit) = self.cache.get(&cache_key) {
            return Ok(hit);
        }
        let ticket = self.cache.ticket();
        let found = store
            .provider_key(caller, scope, provider)
            .await
            .map_err(|e| match e {
                AuthError::IdentityUnconfirmed => GatewayError::IdentityUnconfirmed,
                AuthError::Invalid => GatewayError::InvalidApiKey,
                AuthError::Missing | AuthError::Unavailable => GatewayError::AuthUnavailable,
            })?
            .map(Arc::new);
        self.cache
            .insert(ticket, cache_key, &caller.tenant_id, found.clone());
        Ok(found)
    }
}
