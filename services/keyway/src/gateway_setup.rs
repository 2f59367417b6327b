//! Wiring the gateway: its model catalog, system keys, rate limiter, usage
//! publisher, and where it verifies keys and unseals BYOK keys.

use std::sync::{Arc, OnceLock};

use keyway_auth::{AdminKeyAuthenticator, Authenticator, ProviderKeys};
use keyway_common::{Config, ConfigError};
use keyway_gateway::{
    Catalog, Gateway, GatewaySettings, RemoteKeys, SystemKeys, catalog::DEV_CATALOG, limits::Limiter,
    responses::ResponseOwners, usage::publisher::UsagePublisher,
};
use keyway_keys::{KeyService, service::ChangeHook};

use crate::{
    error::StartError,
    mock,
    observability::{self, CountingSink, MetricsSettings},
};

type CredentialSources = (Arc<dyn Authenticator>, Option<Arc<dyn ProviderKeys>>);

/// Who verifies keys and unseals BYOK keys: the key service in this process
/// when it runs here, over HTTP at `KEYWAY_KEYS_URL` otherwise, or — with
/// neither — only the admin key.
pub(crate) fn credential_sources(
    config: &Config,
    admin_key: &str,
    keys: Option<Arc<KeyService>>,
) -> Result<CredentialSources, StartError> {
    Ok(match (keys, &config.keys_url, &config.internal_token) {
        (Some(keys), _, _) => (keys.clone(), Some(keys)),
        (None, Some(url), Some(token)) => {
            let remote = Arc::new(RemoteKeys::new(url, token)?);
            (remote.clone(), Some(remote))
        }
        (None, Some(_), None) => {
            return Err(ConfigError::Requires {
                var: "KEYWAY_KEYS_URL",
                needs: "KEYWAY_INTERNAL_TOKEN",
            }
            .into());
        }
        (None, None, _) => {
            tracing::warn!("no key service: only the admin key is accepted (set KEYWAY_KEYS_URL)");
            (Arc::new(AdminKeyAuthenticator::new(admin_key)), None)
        }
    })
}

pub(crate) fn build_gateway(
    config: &Config,
    admin_key: &str,
    keys: Option<Arc<KeyService>>,
    mock: Option<&mock::InProcessMock>,
    usage: Arc<UsagePublisher>,
    (limiter, response_owners): (Arc<Limiter>, Arc<ResponseOwners>),
) -> Result<Arc<Gateway>, StartError> {
    let mock_url = mock.map(mock::InProcessMock::url);
    let vars = |name: &str| match (name, &mock_url) {
        ("KEYWAY_MOCK_URL", Some(url)) => Some(url.clone()),
        _ => config.var(name),
    };
    let catalog = match &config.models_path {
        Some(path) => {
            let yaml = std::fs::read_to_string(path).map_err(|source| StartError::Models {
                path: path.clone(),
                source,
            })?;
            Catalog::parse(&yaml, vars)?
        }
        None => Catalog::parse(DEV_CATALOG, vars)?,
    };
    let overrides = mock
        .map(mock::InProcessMock::system_key_override)
        .unwrap_or_default();
    let system_keys = SystemKeys::load(catalog.system_key_envs(), |name| config.var(name), overrides);
    let (authenticator, byok) = credential_sources(config, admin_key, keys)?;
    let gateway = Gateway::new(
        catalog,
        authenticator,
        byok,
        system_keys,
        Some(Arc::new(CountingSink {
            inner: usage,
            tenants: observability::tenant_labels(MetricsSettings::from_config(config.vars())?.max_tenants),
        })),
        GatewaySettings {
            credential_cache_ttl: config.credential_cache_ttl,
            upstream_connect_timeout: config.upstream_connect_timeout,
            upstream_timeout: config.upstream_timeout,
            max_body_bytes: config.max_body_bytes,
            allow_private_urls: config.allow_private_urls,
            sse_max_event_bytes: config.sse_max_event_bytes,
            upstream_pools: config.front_threads + 1,
        },
    )?
    .with_limiter(limiter)
    .with_response_owners(response_owners);
    Ok(Arc::new(gateway))
}

/// Evicts this process's gateway caches the moment the key service in the
/// same process commits a change (`keyway up`), so a revoked key or a
/// deleted user or tenant is refused on the very next request rather than
/// after the key-change event's round trip through NATS.
#[derive(Default)]
pub(crate) struct LocalEviction(OnceLock<Arc<Gateway>>);

impl LocalEviction {
    pub(crate) fn serve(&self, gateway: Arc<Gateway>) {
        let _ = self.0.set(gateway);
    }
}

impl ChangeHook for LocalEviction {
    fn changed(&self, tenant_id: &str) {
        if let Some(gateway) = self.0.get() {
            gateway.evict_tenant(tenant_id);
        }
    }
}
