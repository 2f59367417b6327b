//! Resolving a stored BYOK key for use: the key of a caller's scope and a
//! provider, unsealed under the tenant's DEK, once the user's identity gate
//! passes. What the gateway's `ProviderKeys` calls.

use keyway_auth::{AuthError, Caller, KeyScope, ProviderKey};
use sqlx::Row;

use super::{ByokKeys, Owner};
use crate::{crypto::Aad, error::KeysError, service::KeyService, tenants::plan_allows_byok};

impl ByokKeys<'_> {
    /// Unseals one stored key. A key sealed under a retired or destroyed DEK
    /// does not open.
    async fn unseal(&self, tenant_id: &str, row: &sqlx::postgres::PgRow) -> Result<ProviderKey, KeysError> {
        let (id, provider): (String, String) = (row.get("id"), row.get("provider"));
        let dek_version: i32 = row.get("dek_version");
        if dek_version < row.get::<i32, _>("min_dek_version") {
            return Err(KeysError::Kms(
                "the key was sealed under a retired data key".into(),
            ));
        }
        let dek = self
            .service
            .dek_with(tenant_id, dek_version, row.get("dek_wrapped"))
            .await?;
        let aad = Aad {
            tenant_id,
            record_id: &id,
            provider: &provider,
            dek_version: dek_version as u32,
        };
        Ok(ProviderKey {
            secret: KeyService::open_secret(&dek, &aad, &row.get::<Vec<u8>, _>("sealed"))?,
            base_url: row.get("base_url"),
        })
    }

    pub async fn resolve(
        &self,
        caller: &Caller,
        scope: KeyScope,
        provider: &str,
    ) -> Result<Option<ProviderKey>, KeysError> {
        let user_id = match scope {
            KeyScope::User => match &caller.user_id {
                Some(u) => Some(u.clone()),
                // A service key has no user, so no user key applies.
                None => return Ok(None),
            },
            KeyScope::Tenant => None,
        };
        // The caller may come from a cache or a token: the user's own key
        // follows the user's identity status here too. The gate and the key
        // are read at once, on two connections, and nothing is unsealed
        // unless the gate lets the user through.
        let owner = Owner { scope, user_id };
        let gate = async {
            match &owner.user_id {
                Some(user) => self.service.identity_gate(user).await,
                None => Ok(()),
            }
        };
        let key = sqlx::query(
            "SELECT b.id, b.provider, b.base_url, b.sealed, b.dek_version, t.min_dek_version, t.plan, d.wrapped AS dek_wrapped
             FROM byok_keys b JOIN tenants t ON t.id = b.tenant_id
             LEFT JOIN tenant_deks d ON d.tenant_id = b.tenant_id AND d.version = b.dek_version
             WHERE b.tenant_id = $1 AND b.scope = $2 AND b.user_id IS NOT DISTINCT FROM $3 AND b.provider = $4",
        )
        .bind(&caller.tenant_id)
        .bind(owner.scope_str())
        .bind(&owner.user_id)
        .bind(provider)
        .fetch_optional(&self.service.pool);
        let ((), row) = tokio::try_join!(gate, async { Ok::<_, KeysError>(key.await?) })?;
        match row {
            Some(row) if plan_allows_byok(row.get("plan")) => {
                Ok(Some(self.unseal(&caller.tenant_id, &row).await?))
            }
            _ => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl keyway_auth::ProviderKeys for KeyService {
    async fn provider_key(
        &self,
        caller: &Caller,
        scope: KeyScope,
        provider: &str,
    ) -> Result<Option<ProviderKey>, AuthError> {
        self.byok()
            .resolve(caller, scope, provider)
            .await
            .map_err(|e| match e {
                KeysError::Identity(refusal) => refusal.into(),
                e => {
                    tracing::error!(error = %e, "BYOK key resolution failed");
                    AuthError::Unavailable
                }
            })
    }
}
