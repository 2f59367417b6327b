//! Key rings of a model mixing providers: a BYOK key serves only the
//! deployments of its own provider; the system source is each
//! deployment's own `api_key_env`.
#![expect(clippy::unwrap_used, reason = "tests fail loudly")]

use std::{collections::HashMap, sync::Arc, time::Duration};

use keyway_auth::{AuthError, Caller, KeyScope, ProviderKey, ProviderKeys, Role};

use super::*;
use crate::catalog::Catalog;

const FLEET: &str = r#"
models:
  gpt-main:
    provider: openai
    upstream_model: gpt-4o
    key_source: [tenant, system]
    deployments:
      - {name: primary, base_url: "https://api.openai.com/v1", api_key_env: OPENAI_KEY_A, weight: 3}
      - {name: azure-eu, provider: azure, base_url: "https://x.openai.azure.com", deployment: gpt4o, api_key_env: AZURE_KEY}
"#;

/// A tenant's BYOK keys, by provider.
struct Store(HashMap<&'static str, &'static str>);

#[async_trait::async_trait]
impl ProviderKeys for Store {
    async fn provider_key(
        &self,
        _caller: &Caller,
        scope: KeyScope,
        provider: &str,
    ) -> Result<Option<ProviderKey>, AuthError> {
        Ok((scope == KeyScope::Tenant)
            .then(|| self.0.get(provider))
            .flatten()
            .map(|k| ProviderKey {
                secret: (*k).to_owned().into(),
                base_url: None,
            }))
    }
}

fn credentials(byok: &[(&'static str, &'static str)]) -> Credentials {
    let system = [("OPENAI_KEY_A", "sys-openai"), ("AZURE_KEY", "sys-azure")];
    Credentials {
        system: SystemKeys::load(
            system.iter().map(|(k, _)| *k),
            |name| {
                system
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            },
            HashMap::new(),
        ),
        byok: Some(Arc::new(Store(byok.iter().copied().collect()))),
        cache: TenantCache::new(Duration::from_secs(60)),
    }
}

/// The secret each deployment would be called with.
async fn keys(creds: &Credentials) -> (KeySource, Vec<Option<String>>) {
    let catalog = Catalog::parse(FLEET, |_| None).unwrap();
    let model = catalog.get("gpt-main").unwrap();
    let caller = Caller::in_tenant("t1", Role::Member);
    let ring = creds.ring(&caller, model).await.unwrap();
    let secrets = model
        .deployments
        .iter()
        .map(|d| {
            assert_eq!(
                ring.covers(creds, model, d),
                ring.key_for(creds, model, d).is_some()
            );
            ring.key_for(creds, model, d).map(|k| k.secret.to_string())
        })
        .collect();
    (ring.source, secrets)
}

#[tokio::test]
async fn a_byok_key_serves_only_the_deployments_of_its_provider() {
    let (source, secrets) = keys(&credentials(&[("openai", "t-openai")])).await;
    assert_eq!(source, KeySource::Tenant);
    assert_eq!(secrets, [Some("t-openai".to_owned()), None]);
    let (_, both) = keys(&credentials(&[("openai", "t-openai"), ("azure", "t-azure")])).await;
    assert_eq!(both, [Some("t-openai".to_owned()), Some("t-azure".to_owned())]);
    // An Azure key alone keeps the tenant on its own key, on Azure only.
    let (source, azure) = keys(&credentials(&[("azure", "t-azure")])).await;
    assert_eq!(
        (source, azure),
        (KeySource::Tenant, vec![None, Some("t-azure".to_owned())])
    );
}

#[tokio::test]
async fn the_system_source_gives_each_deployment_its_own_key() {
    let (source, secrets) = keys(&credentials(&[])).await;
    assert_eq!(source, KeySource::System);
    assert_eq!(
        secrets,
        [Some("sys-openai".to_owned()), Some("sys-azure".to_owned())]
    );
}
