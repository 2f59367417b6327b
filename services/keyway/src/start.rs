//! Starting the parts of a stack that own state: the KMS, shared by the
//! key service (data keys) and the projector (webhook signing secrets), the
//! key service itself, and the projector's consumer and webhook delivery.

use std::sync::Arc;

use keyway_auth::oidc::{OidcSettings, OidcVerifier};
use keyway_common::{Config, Environment};
use keyway_keys::{
    KeyService, KeyServiceSettings,
    crypto::{Kms, KmsConfig},
    identity_follow::FollowSettings,
    last_used::{LastUsed, LastUses},
    service::{ChangeHook, KekRotationHook},
};
use keyway_projector::{
    ProjectorSettings,
    webhooks::{WebhookSettings, Webhooks},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::error::StartError;

/// The configured KMS (`KEYWAY_KMS`): a `local` master key in the data
/// directory (generated only in dev), or AWS KMS.
pub(crate) async fn build_kms(config: &Config) -> Result<Arc<dyn Kms>, StartError> {
    Ok(keyway_keys::crypto::build_kms(&KmsConfig {
        provider: config.kms.clone(),
        data_dir: config.data_dir.clone(),
        allow_generate: config.env == Environment::Dev,
    })
    .await?)
}

pub(crate) async fn start_key_service(
    config: &Config,
    pool: sqlx::PgPool,
    admin_key: &str,
    kms: Arc<dyn Kms>,
    on_change: Option<Arc<dyn ChangeHook>>,
) -> Result<Arc<KeyService>, StartError> {
    let settings = KeyServiceSettings {
        key_env: if config.env == Environment::Prod {
            "live"
        } else {
            "dev"
        }
        .to_owned(),
        nats_prefix: config.nats_prefix.clone(),
        base_url_policy: keyway_common::outbound::OutboundPolicy::for_config(config),
    };
    let webhook_keys = Arc::new(WebhookKeys(pool.clone()));
    let last_used = Arc::new(ProjectorLastUsed(pool.clone()));
    let mut service = KeyService::start(pool, kms, admin_key, settings)
        .await?
        .with_kek_rotation_hook(webhook_keys)
        .with_last_used(last_used);
    if let Some(hook) = on_change {
        service = service.with_change_hook(hook);
    }
    // Production's http-issuer refusal lives with the other production
    // checks (`keyway_common::config`), made before anything starts.
    if let Some(oidc) = OidcSettings::from_vars(config.vars())? {
        let verifier = OidcVerifier::start(oidc).map_err(StartError::OidcClient)?;
        service = service.with_oidc(Arc::new(verifier));
    }
    if let Some(follow) = follow_settings(config)? {
        service = service.with_identity_following(follow.stale_after);
    }
    Ok(Arc::new(service))
}

/// `KEYWAY_KEYCLOAK_*`: whether (and how) Keycloak identities are followed.
pub(crate) fn follow_settings(config: &Config) -> Result<Option<FollowSettings>, StartError> {
    Ok(FollowSettings::from_config(
        config.vars(),
        config.env == Environment::Prod,
    )?)
}

/// The projector's webhook signing keys are wrapped by the same KMS: a KEK
/// rotation rewraps them too, when they live in the key service's database.
struct WebhookKeys(sqlx::PgPool);

#[async_trait::async_trait]
impl KekRotationHook for WebhookKeys {
    async fn rewrap(&self, kms: &dyn Kms) -> Result<u64, String> {
        keyway_projector::webhooks::rewrap_data_keys(&self.0, kms)
            .await
            .map_err(|e| e.to_string())
    }
}

/// API keys' `last_used_at`, from the projector's fold of usage events in
/// the same database (empty where the projector's tables are absent).
struct ProjectorLastUsed(sqlx::PgPool);

#[async_trait::async_trait]
impl LastUsed for ProjectorLastUsed {
    async fn last_used(&self, key_ids: &[String]) -> Result<LastUses, String> {
        keyway_projector::last_used(&self.0, key_ids)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Spawns the projector's consumer and webhook delivery; returns what the
/// usage API shares with the delivery worker.
pub(crate) fn projector(
    config: &Config,
    pool: &sqlx::PgPool,
    nats: &async_nats::Client,
    kms: Arc<dyn Kms>,
    tasks: &TaskTracker,
    shutdown: &CancellationToken,
) -> Result<Webhooks, StartError> {
    let settings = ProjectorSettings::from_config(config)?;
    let webhooks =
        Webhooks::new(kms, WebhookSettings::from_config(config)?).map_err(StartError::WebhookClient)?;
    tasks.spawn(keyway_projector::run(
        pool.clone(),
        nats.clone(),
        settings,
        shutdown.clone(),
    ));
    tasks.spawn(keyway_projector::webhooks::run(
        pool.clone(),
        webhooks.clone(),
        shutdown.clone(),
    ));
    Ok(webhooks)
}
