//! Picks the upstream provider key for a request by walking the model's
//! ordered `key_source` list: the caller's own key (`user`), the team's
//! (`tenant`), or the platform's (`system`). BYOK keys come from the key
//! service and are cached briefly; key-change events evict them.

use std::{collections::HashMap, sync::Arc};

use keyway_auth::{AuthError, Caller, KeyScope, ProviderKey, ProviderKeys};

use crate::{
    cache::TenantCache,
    catalog::{Deployment, KeySource, Model},
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

type ByokCacheKey = (String, Option<String>, KeyScope, String);

pub(crate) struct Credentials {
    pub(crate) system: SystemKeys,
    pub(crate) byok: Option<Arc<dyn ProviderKeys>>,
    pub(crate) cache: TenantCache<ByokCacheKey, Option<Arc<ProviderKey>>>,
}

impl Credentials {
    /// The first key source that holds a key for any deployment of the
    /// model; `KeyRequired` when none does.
    pub(crate) async fn resolve(&self, caller: &Caller, model: &Model) -> Result<KeySource, GatewayError> {
        Ok(self.ring(caller, model).await?.source)
    }

    /// The keys of the first source in the model's `key_source` that holds
    /// one for at least one of its deployments. A BYOK key serves the
    /// deployments of its own provider; a system key is each deployment's
    /// own `api_key_env` (a pool when they differ). The walk never goes on
    /// to a later source because one deployment lacks a key: a tenant with
    /// its own key stays on it.
    /// A span for traces only (`keyway_common::telemetry::TRACE_TARGET`).
    #[tracing::instrument(target = "keyway_trace", name = "resolve credential", skip_all,
        fields(gen_ai.provider.name = %model.provider))]
    pub(crate) async fn ring(&self, caller: &Caller, model: &Model) -> Result<KeyRing, GatewayError> {
        for &source in &model.key_source {
            let scope = match source {
                KeySource::System => {
                    if model.deployments.iter().any(|d| self.system_key(d).is_some()) {
                        return Ok(KeyRing {
                            source,
                            own: None,
                            others: Vec::new(),
                        });
                    }
                    continue;
                }
                KeySource::User => KeyScope::User,
                KeySource::Tenant => KeyScope::Tenant,
            };
            let own = self.byok_key(caller, scope, &model.provider).await?;
            let mut others: Vec<(String, Arc<ProviderKey>)> = Vec::new();
            for d in &model.deployments {
                if d.provider != model.provider
                    && !others.iter().any(|(p, _)| *p == d.provider)
                    && let Some(key) = self.byok_key(caller, scope, &d.provider).await?
                {
                    others.push((d.provider.clone(), key));
                }
            }
            let ring = KeyRing { source, own, others };
            if model
                .deployments
                .iter()
                .any(|d| ring.key_for(self, model, d).is_some())
            {
                return Ok(ring);
            }
        }
        Err(key_required(model))
    }

    fn system_key(&self, d: &Deployment) -> Option<Arc<ProviderKey>> {
        d.api_key_env.as_deref().and_then(|env| self.system.get(env))
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
            KeySource::System => model
                .api_key_env
                .as_deref()
                .or(model.deployments[0].api_key_env.as_deref())
                .and_then(|env| self.system.get(env)),
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
        self.cache
            .get_or_fetch(
                &cache_key,
                || async {
                    Ok(store
                        .provider_key(caller, scope, provider)
                        .await
                        .map_err(|e| match e {
                            AuthError::IdentityUnconfirmed => GatewayError::IdentityUnconfirmed,
                            AuthError::Invalid => GatewayError::InvalidApiKey,
                            AuthError::Missing | AuthError::Unavailable => GatewayError::AuthUnavailable,
                        })?
                        .map(Arc::new))
                },
                |_| caller.tenant_id.as_str().into(),
                |e| matches!(e, GatewayError::AuthUnavailable),
            )
            .await
    }
}

fn key_required(model: &Model) -> GatewayError {
    GatewayError::KeyRequired {
        model: model.name.clone(),
        provider: model.provider.clone(),
        tried: model
            .key_source
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The keys one request may use: of one key source, per deployment.
pub(crate) struct KeyRing {
    pub(crate) source: KeySource,
    /// The BYOK key of the model's own provider.
    own: Option<Arc<ProviderKey>>,
    /// BYOK keys of the deployments' other providers (empty, so never
    /// allocated, for a model of one provider).
    others: Vec<(String, Arc<ProviderKey>)>,
}

impl KeyRing {
    pub(crate) fn key_for(
        &self,
        creds: &Credentials,
        model: &Model,
        d: &Deployment,
    ) -> Option<Arc<ProviderKey>> {
        match self.source {
            KeySource::System => creds.system_key(d),
            _ if d.provider == model.provider => self.own.clone(),
            _ => self
                .others
                .iter()
                .find(|(p, _)| *p == d.provider)
                .map(|(_, k)| k.clone()),
        }
    }

    /// Whether `d` has a key, without cloning it.
    pub(crate) fn covers(&self, creds: &Credentials, model: &Model, d: &Deployment) -> bool {
        match self.source {
            KeySource::System => d
                .api_key_env
                .as_deref()
                .is_some_and(|env| creds.system.0.contains_key(env)),
            _ if d.provider == model.provider => self.own.is_some(),
            _ => self.others.iter().any(|(p, _)| *p == d.provider),
        }
    }
}

#[cfg(test)]
#[path = "credentials_tests.rs"]
mod tests;
