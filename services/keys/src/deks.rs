//! Per-tenant data keys: created on first use through KMS GenerateDataKey,
//! stored only wrapped, unwrapped through a bounded cache. Rotation and
//! crypto-shredding live here too.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use sqlx::Row;
use zeroize::Zeroizing;

use crate::{
    crypto::{Aad, open, seal},
    error::KeysError,
    events::{KeyEvent, streams},
    service::{KeyService, dek_context},
    store::Meta,
};

pub(crate) type Dek = Arc<Zeroizing<[u8; 32]>>;

impl KeyService {
    /// The tenant's current DEK, created on first use.
    pub(crate) async fn active_dek(&self, tenant_id: &str) -> Result<(i32, Dek), KeysError> {
        let latest: Option<i32> =
            sqlx::query_scalar("SELECT max(version) FROM tenant_deks WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_one(&self.pool)
                .await?;
        let version = match latest {
            Some(v) => v,
            None => self.create_dek(tenant_id, 1).await?,
        };
        Ok((version, self.dek(tenant_id, version).await?))
    }

    /// Creates DEK `version`; a concurrent creator's row wins.
    async fn create_dek(&self, tenant_id: &str, version: i32) -> Result<i32, KeysError> {
        let key = self
            .kms
            .generate_data_key(&dek_context(tenant_id, version))
            .await?;
        sqlx::query(
            "INSERT INTO tenant_deks (tenant_id, version, wrapped, kek_ref) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(version)
        .bind(&key.wrapped)
        .bind(self.kms.key_ref())
        .execute(&self.pool)
        .await?;
        Ok(version)
    }

    /// DEK `version` of the tenant, unwrapped (cached by age and use count).
    pub(crate) async fn dek(&self, tenant_id: &str, version: i32) -> Result<Dek, KeysError> {
        self.dek_with(tenant_id, version, None).await
    }

    /// Like `dek`, with the wrapped DEK already read in the caller's own
    /// snapshot — so a rotation that deletes it right after that read cannot
    /// fail a request that saw the old row.
    pub(crate) async fn dek_with(
        &self,
        tenant_id: &str,
        version: i32,
        wrapped: Option<Vec<u8>>,
    ) -> Result<Dek, KeysError> {
        let load = || async {
            let wrapped = match wrapped {
                Some(w) => Some(w),
                None => sqlx::query_scalar(
                    "SELECT wrapped FROM tenant_deks WHERE tenant_id = $1 AND version = $2",
                )
                .bind(tenant_id)
                .bind(version)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| crate::crypto::KmsError::Transport(format!("database: {e}")))?,
            };
            // A missing DEK means the tenant was shredded: nothing can open.
            let wrapped = wrapped.ok_or(crate::crypto::KmsError::KeyUnavailable(
                "data key destroyed".into(),
            ))?;
            self.kms.decrypt(&wrapped, &dek_context(tenant_id, version)).await
        };
        Ok(self.deks.get_or_load(tenant_id, version as u32, load).await?)
    }

    /// Serializes sealing and DEK rotation for one tenant, so no secret is
    /// sealed under a DEK that a concurrent rotation is about to destroy.
    pub(crate) async fn lock_tenant_secrets(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        tenant_id: &str,
    ) -> Result<(), KeysError> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('keyway-secrets:' || $1, 0))")
            .bind(tenant_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(crate) fn seal_secret(dek: &Dek, aad: &Aad<'_>, secret: &str) -> Result<String, KeysError> {
        let sealed = seal(dek, aad, secret.as_bytes()).map_err(|e| KeysError::Kms(e.to_string()))?;
        Ok(STANDARD.encode(sealed))
    }

    pub(crate) fn open_secret(
        dek: &Dek,
        aad: &Aad<'_>,
        sealed: &[u8],
    ) -> Result<Zeroizing<String>, KeysError> {
        let plain = open(dek, aad, sealed).map_err(|e| KeysError::Kms(e.to_string()))?;
        let text =
            std::str::from_utf8(&plain).map_err(|_| KeysError::Kms("sealed secret is not UTF-8".into()))?;
        Ok(Zeroizing::new(text.to_owned()))
    }

    /// Re-seals every secret of the tenant under a new DEK, then raises the
    /// tenant's minimum DEK version and destroys the old DEKs. Traffic keeps
    /// flowing: each re-seal is a new event, and readers see old or new.
    pub async fn rotate_dek(&self, meta: &Meta, tenant_id: &str) -> Result<i32, KeysError> {
        let tenant = self.tenants().get(tenant_id).await?;
        let mut tx = self.pool.begin().await?;
        Self::lock_tenant_secrets(&mut tx, tenant_id).await?;
        let (old_version, _) = self.active_dek(tenant_id).await?;
        let new_version = self.create_dek(tenant_id, old_version + 1).await?;
        let new_dek = self.dek(tenant_id, new_version).await?;
        let rows = sqlx::query(
            "SELECT id, provider, sealed, dek_version, version FROM byok_keys WHERE tenant_id = $1 FOR UPDATE",
        )
        .bind(tenant_id)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let (id, provider): (String, String) = (row.get("id"), row.get("provider"));
            let dek_version: i32 = row.get("dek_version");
            let old = self.dek(tenant_id, dek_version).await?;
            let aad = |v: i32| Aad {
                tenant_id,
                record_id: &id,
                provider: &provider,
                dek_version: v as u32,
            };
            let secret = Self::open_secret(&old, &aad(dek_version), &row.get::<Vec<u8>, _>("sealed"))?;
            let event = KeyEvent::ByokKeyResealed {
                record_id: id.clone(),
                sealed: Self::seal_secret(&new_dek, &aad(new_version), &secret)?,
                dek_version: new_version,
            };
            self.append(
                &mut tx,
                meta,
                streams::byok(&id),
                row.get("version"),
                tenant_id,
                event,
            )
            .await?;
        }
        let event = KeyEvent::TenantDekRotated {
            tenant_id: tenant_id.to_owned(),
            dek_version: new_version,
        };
        self.append(
            &mut tx,
            meta,
            streams::tenant(tenant_id),
            tenant.version,
            tenant_id,
            event,
        )
        .await?;
        sqlx::query("DELETE FROM tenant_deks WHERE tenant_id = $1 AND version < $2")
            .bind(tenant_id)
            .bind(new_version)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.evict_tenant(tenant_id);
        self.committed(tenant_id);
        Ok(new_version)
    }

    /// KEK rotation: a new master key version, then every wrapped DEK, the
    /// pepper, and the data keys of the registered hooks (webhook signing
    /// keys) are rewrapped under it. No secret is re-sealed.
    pub async fn rotate_kek(&self) -> Result<(String, u64), KeysError> {
        let kek = self.kms.rotate_kek().await?;
        let mut rewrapped = 0;
        let deks = sqlx::query("SELECT tenant_id, version, wrapped FROM tenant_deks")
            .fetch_all(&self.pool)
            .await?;
        for row in deks {
            let (tenant, version): (String, i32) = (row.get("tenant_id"), row.get("version"));
            let wrapped = self
                .kms
                .rewrap(&row.get::<Vec<u8>, _>("wrapped"), &dek_context(&tenant, version))
                .await?;
            sqlx::query(
                "UPDATE tenant_deks SET wrapped = $3, kek_ref = $4 WHERE tenant_id = $1 AND version = $2",
            )
            .bind(&tenant)
            .bind(version)
            .bind(wrapped)
            .bind(&kek)
            .execute(&self.pool)
            .await?;
            rewrapped += 1;
        }
        let pepper = sqlx::query("SELECT name, wrapped FROM service_secrets")
            .fetch_all(&self.pool)
            .await?;
        for row in pepper {
            let name: String = row.get("name");
            let ctx = crate::service::pepper_context();
            let wrapped = self.kms.rewrap(&row.get::<Vec<u8>, _>("wrapped"), &ctx).await?;
            sqlx::query("UPDATE service_secrets SET wrapped = $2, kek_ref = $3 WHERE name = $1")
                .bind(&name)
                .bind(wrapped)
                .bind(&kek)
                .execute(&self.pool)
                .await?;
            rewrapped += 1;
        }
        for hook in &self.kek_hooks {
            rewrapped += hook.rewrap(self.kms.as_ref()).await.map_err(KeysError::Kms)?;
        }
        Ok((kek, rewrapped))
    }

    /// For the audit and rotation tests: the KEK each DEK is wrapped under.
    pub async fn dek_versions(&self, tenant_id: &str) -> Result<Vec<(i32, String)>, KeysError> {
        let rows =
            sqlx::query("SELECT version, kek_ref FROM tenant_deks WHERE tenant_id = $1 ORDER BY version")
                .bind(tenant_id)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get("version"), r.get("kek_ref")))
            .collect())
    }
}
