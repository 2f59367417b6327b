//! `KeyService`: the key service's state and the glue shared by its
//! commands — a transaction that appends events, the pepper, and the
//! tenant data keys.
//!
//! Each aggregate's commands and queries live on a small view borrowed from
//! it — `service.tenants()`, `.users()`, `.api_keys()`, `.byok()`, defined
//! in the aggregate's own module — so they share this one state without a
//! second copy of it, and call each other the same way
//! (`self.service.tenants().get(…)`). Data-key and KEK rotation act on the
//! shared key material itself, so they stay here (`deks.rs`).

use std::{sync::Arc, time::Duration};

use keyway_auth::AdminKeyAuthenticator;
use sqlx::{PgPool, Postgres, Transaction};
use zeroize::Zeroizing;

use crate::{
    crypto::{DekCache, EncryptionContext, Kms, KmsError},
    error::KeysError,
    events::{KeyEvent, Recorded},
    last_used::LastUsed,
    store::{self, Meta},
};

pub struct KeyServiceSettings {
    /// The `<env>` part of minted API keys: `dev` or `live`.
    pub key_env: String,
    pub nats_prefix: String,
    /// What a custom BYOK `base_url` must satisfy: the webhooks' rule
    /// (`OutboundPolicy::for_config`), https and public in production.
    pub base_url_policy: keyway_common::outbound::OutboundPolicy,
}

pub struct KeyService {
    pub(crate) pool: PgPool,
    pub(crate) kms: Arc<dyn Kms>,
    pub(crate) deks: DekCache,
    pub(crate) pepper: Zeroizing<[u8; 32]>,
    pub(crate) admin: AdminKeyAuthenticator,
    pub(crate) settings: KeyServiceSettings,
    pub(crate) http: reqwest::Client,
    /// Where API keys' `last_used_at` comes from; without it, it is absent.
    pub(crate) last_used: Option<Arc<dyn LastUsed>>,
    /// Data keys wrapped by the same KMS outside this service, rewrapped by
    /// the same KEK rotation.
    pub(crate) kek_hooks: Vec<Arc<dyn KekRotationHook>>,
    /// Caches in this process told of each committed change.
    pub(crate) change_hooks: Vec<Arc<dyn ChangeHook>>,
    /// Verifies OIDC bearer tokens; without it only API keys are accepted.
    pub(crate) oidc: Option<Arc<keyway_auth::oidc::OidcVerifier>>,
    /// Set when Keycloak identities are followed: how long a followed
    /// user's status may go unconfirmed before their credentials fail closed.
    pub(crate) identity_stale_after: Option<Duration>,
}

/// Told, right after a change commits and before the call that made it
/// returns, which tenant it concerns. A gateway in the same process evicts
/// its cached credentials here, so a revoked key or a deleted user or tenant
/// is refused on the very next request; the key-change event on NATS, which
/// arrives a few milliseconds later, still serves gateways elsewhere.
pub trait ChangeHook: Send + Sync + 'static {
    fn changed(&self, tenant_id: &str);
}

/// Another owner of KMS-wrapped data keys (the projector's webhook signing
/// keys): `rotate_kek` rewraps them too, after the key service's own.
#[async_trait::async_trait]
pub trait KekRotationHook: Send + Sync + 'static {
    /// Rewraps under the KMS's current master key; returns how many.
    async fn rewrap(&self, kms: &dyn Kms) -> Result<u64, String>;
}

const PEPPER: &str = "api_key_pepper";

impl KeyService {
    /// Unwraps (or on first start creates) the API-key pepper, and makes
    /// sure the reserved `platform` tenant exists.
    pub async fn start(
        pool: PgPool,
        kms: Arc<dyn Kms>,
        admin_key: &str,
        settings: KeyServiceSettings,
    ) -> Result<Self, KeysError> {
        let pepper = load_or_create_pepper(&pool, kms.as_ref()).await?;
        // It tests custom BYOK base URLs: a redirect could lead past the
        // SSRF guard, and a host re-pointed inside after its check (DNS
        // rebinding) is refused again at connect time.
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15));
        if !settings.base_url_policy.allow_private {
            http = http.dns_resolver(Arc::new(keyway_common::outbound::PublicOnlyResolver));
        }
        let http = http
            .build()
            .map_err(|e| KeysError::Unavailable(format!("http client: {e}")))?;
        let service = Self {
            last_used: None,
            pool,
            kms,
            deks: DekCache::new(Duration::from_secs(300), 100_000, 10_000),
            pepper,
            admin: AdminKeyAuthenticator::new(admin_key),
            settings,
            http,
            kek_hooks: Vec::new(),
            change_hooks: Vec::new(),
            oidc: None,
            identity_stale_after: None,
        };
        service.tenants().ensure_platform().await?;
        Ok(service)
    }

    pub fn with_kek_rotation_hook(mut self, hook: Arc<dyn KekRotationHook>) -> Self {
        self.kek_hooks.push(hook);
        self
    }

    pub fn with_last_used(mut self, source: Arc<dyn LastUsed>) -> Self {
        self.last_used = Some(source);
        self
    }

    pub fn with_oidc(mut self, verifier: Arc<keyway_auth::oidc::OidcVerifier>) -> Self {
        self.oidc = Some(verifier);
        self
    }

    /// Turns the identity gate's staleness check on (see `identity_follow`).
    pub fn with_identity_following(mut self, stale_after: Duration) -> Self {
        self.identity_stale_after = Some(stale_after);
        self
    }

    pub fn with_change_hook(mut self, hook: Arc<dyn ChangeHook>) -> Self {
        self.change_hooks.push(hook);
        self
    }

    /// Call after every commit that appended an event for `tenant_id`:
    /// before it, a lookup could still read (and cache) the old state.
    pub(crate) fn committed(&self, tenant_id: &str) {
        for hook in &self.change_hooks {
            hook.changed(tenant_id);
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f` in a transaction; events it appends commit with it.
    pub(crate) async fn append_one(
        &self,
        meta: &Meta,
        stream_id: String,
        expected_version: i64,
        tenant_id: &str,
        event: KeyEvent,
    ) -> Result<Recorded, KeysError> {
        let mut tx = self.pool.begin().await?;
        let recorded = self
            .append(&mut tx, meta, stream_id, expected_version, tenant_id, event)
            .await?;
        tx.commit().await?;
        self.committed(tenant_id);
        Ok(recorded)
    }

    pub(crate) async fn append(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        meta: &Meta,
        stream_id: String,
        expected_version: i64,
        tenant_id: &str,
        event: KeyEvent,
    ) -> Result<Recorded, KeysError> {
        Ok(store::append(
            tx,
            &self.settings.nats_prefix,
            meta,
            stream_id,
            expected_version,
            tenant_id,
            event,
        )
        .await?)
    }

    /// Drops cached plaintext DEKs of a tenant (on rotation or shredding).
    pub fn evict_tenant(&self, tenant_id: &str) {
        self.deks.evict_tenant(tenant_id);
    }
}

/// The encryption context binding a wrapped DEK to its tenant and purpose.
pub(crate) fn dek_context(tenant_id: &str, version: i32) -> EncryptionContext {
    EncryptionContext::from([
        ("tenant_id".to_owned(), tenant_id.to_owned()),
        ("dek_id".to_owned(), format!("{tenant_id}/v{version}")),
        ("purpose".to_owned(), "byok".to_owned()),
    ])
}

pub(crate) fn pepper_context() -> EncryptionContext {
    EncryptionContext::from([("purpose".to_owned(), "api-key-pepper".to_owned())])
}

/// The pepper is a KMS data key: only its wrapped form is stored, and it is
/// unwrapped once at start. Losing the KMS key means every API key must be
/// reissued; losing the row does too.
async fn load_or_create_pepper(pool: &PgPool, kms: &dyn Kms) -> Result<Zeroizing<[u8; 32]>, KeysError> {
    let ctx = pepper_context();
    if let Some(wrapped) = stored_pepper(pool).await? {
        return Ok(kms.decrypt(&wrapped, &ctx).await?);
    }
    let key = kms.generate_data_key(&ctx).await?;
    let inserted = sqlx::query(
        "INSERT INTO service_secrets (name, wrapped, kek_ref) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
    )
    .bind(PEPPER)
    .bind(&key.wrapped)
    .bind(kms.key_ref())
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(key.plaintext);
    }
    // Another instance created it first: use theirs.
    let wrapped = stored_pepper(pool)
        .await?
        .ok_or(KeysError::Unavailable("pepper vanished".into()))?;
    Ok(kms.decrypt(&wrapped, &ctx).await?)
}

async fn stored_pepper(pool: &PgPool) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT wrapped FROM service_secrets WHERE name = $1")
        .bind(PEPPER)
        .fetch_optional(pool)
        .await
}

impl From<KmsError> for KeysError {
    fn from(e: KmsError) -> Self {
        KeysError::Kms(e.to_string())
    }
}
