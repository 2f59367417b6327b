//! Gateway API keys: mint (the secret is returned once), list, revoke,
//! rotate, and verify. Only HMAC-SHA256(pepper, secret) is stored, looked up
//! by the key's public id and compared in constant time.

mod verify;

use keyway_auth::{Caller, Limits, Role};
use keyway_common::api::{Page, PageParams};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    attenuation::{Requested, attenuate, no_looser},
    authz,
    crypto::hmac_sha256,
    error::KeysError,
    events::{KeyEvent, streams},
    key_format,
    service::KeyService,
    store::Meta,
    tenants::{validate_limits, validate_name},
};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ApiKey {
    /// The public id; it is also the third part of the key itself.
    pub id: String,
    pub tenant_id: String,
    /// Set for user-bound keys; absent for tenant service keys.
    pub user_id: Option<String>,
    pub name: String,
    pub role: String,
    /// The models the key may use; absent means all.
    pub scopes: Option<Vec<String>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Rate limits and monthly budget for this key, on top of the tenant's.
    #[sqlx(json)]
    pub limits: Limits,
    pub created_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// When the key was last used, derived by the projector from usage
    /// events (never a database write per request); it lags by seconds.
    // Not a column of `api_keys`: filled in through `LastUsed`.
    #[serde(with = "time::serde::rfc3339::option")]
    #[sqlx(skip)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub version: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    pub name: String,
    /// Defaults to `member`; never above the creator's (or the user's) role.
    #[schema(value_type = Option<crate::schema_names::TenantRole>)]
    pub role: Option<String>,
    /// Binds the key to a user: only that user or a platform admin may do so.
    pub user_id: Option<String>,
    /// Model names the key may use (1–100). A key creating a key may
    /// grant only models it may use itself; left out, its own apply.
    #[schema(min_items = 1, max_items = 100)]
    pub scopes: Option<Vec<String>>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Omit for no limits beyond the tenant's.
    #[serde(default)]
    pub limits: Limits,
}

/// A key with its secret: returned by create and rotate, and never again.
#[derive(Serialize, ToSchema)]
pub struct IssuedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The full key. Store it now: Keyway keeps only a peppered hash.
    pub key: String,
}

/// The name API keys cursors carry.
const LIST: &str = "api-keys";

const COLUMNS: &str = "id, tenant_id, user_id, name, role, scopes, expires_at, limits, created_by, created_at, rotated_at, revoked_at, version";

/// The gateway API keys: a view over the key service's shared state.
pub struct ApiKeys<'a> {
    service: &'a KeyService,
}

impl KeyService {
    pub fn api_keys(&self) -> ApiKeys<'_> {
        ApiKeys { service: self }
    }
}

impl ApiKeys<'_> {
    /// Fills in `last_used_at` from the `LastUsed` source, if one is wired.
    /// A failing source leaves it empty rather than failing the read: the
    /// value is advisory and lags anyway.
    async fn fill_last_used(&self, mut keys: Vec<ApiKey>) -> Vec<ApiKey> {
        let Some(source) = &self.service.last_used else {
            return keys;
        };
        let ids: Vec<String> = keys.iter().map(|k| k.id.clone()).collect();
        let mut last_used = match source.last_used(&ids).await {
            Ok(map) => map,
            Err(error) => {
                tracing::warn!(%error, "api key last_used_at unavailable");
                return keys;
            }
        };
        for key in &mut keys {
            key.last_used_at = last_used.remove(&key.id);
        }
        keys
    }

    fn hash_secret(&self, secret: &str) -> [u8; 32] {
        hmac_sha256(self.service.pepper.as_ref(), secret.as_bytes())
    }

    pub async fn create(
        &self,
        meta: &Meta,
        caller: &Caller,
        tenant_id: &str,
        req: CreateApiKey,
    ) -> Result<IssuedApiKey, KeysError> {
        self.service.tenants().get(tenant_id).await?;
        let role = authz::parse_tenant_role(req.role.as_deref().unwrap_or("member"))?;
        match &req.user_id {
            Some(user_id) => {
                let user = self.service.users().get(tenant_id, user_id).await?;
                if caller.role != Role::PlatformAdmin && caller.user_id.as_deref() != Some(user_id) {
                    return Err(KeysError::Forbidden(
                        "a user-bound key can be created only by that user or a platform admin".into(),
                    ));
                }
                if Role::parse(&user.role).is_some_and(|user_role| role > user_role) {
                    return Err(KeysError::Forbidden(format!("the user's role is {}", user.role)));
                }
            }
            None => authz::require(caller, Role::TenantAdmin, "create service keys")?,
        }
        authz::may_grant(caller, role)?;
        if req.expires_at.is_some_and(|t| t <= OffsetDateTime::now_utc()) {
            return Err(KeysError::Invalid("expires_at must be in the future".into()));
        }
        let granted = attenuate(
            caller,
            Requested {
                scopes: validate_scopes(req.scopes)?,
                expires_at: req.expires_at,
                limits: validate_limits(req.limits)?,
            },
        )?;
        let minted = key_format::mint(&self.service.settings.key_env);
        let event = KeyEvent::ApiKeyCreated {
            key_id: minted.id.clone(),
            tenant_id: tenant_id.to_owned(),
            user_id: req.user_id,
            name: validate_name(&req.name, "name")?,
            role: role.as_str().to_owned(),
            scopes: granted.scopes,
            expires_at: granted.expires_at,
            secret_hash: hex::encode(self.hash_secret(&minted.secret)),
            limits: granted.limits,
            parent_key_id: caller.api_key_id.clone(),
        };
        self.service
            .append_one(meta, streams::api_key(&minted.id), 0, tenant_id, event)
            .await?;
        Ok(IssuedApiKey {
            api_key: self.get(tenant_id, &minted.id).await?,
            key: minted.full,
        })
    }

    pub async fn get(&self, tenant_id: &str, id: &str) -> Result<ApiKey, KeysError> {
        let key: ApiKey = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE id = $1 AND tenant_id = $2"
        ))
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.service.pool)
        .await?
        .ok_or(KeysError::NotFound("api key"))?;
        let mut keys = self.fill_last_used(vec![key]).await;
        keys.pop().ok_or(KeysError::NotFound("api key"))
    }

    /// Tenant admins see every key of the tenant; others only their own.
    pub async fn list(
        &self,
        caller: &Caller,
        tenant_id: &str,
        page: &PageParams,
    ) -> Result<Page<ApiKey>, KeysError> {
        let page = page.resolve(LIST)?;
        self.service.tenants().get(tenant_id).await?;
        let only_user = (caller.role < Role::TenantAdmin).then(|| caller.user_id.clone().unwrap_or_default());
        let rows: Vec<ApiKey> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id > $2 AND ($3::text IS NULL OR user_id = $3)
             ORDER BY id LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(page.after())
        .bind(only_user)
        .bind(page.fetch())
        .fetch_all(&self.service.pool)
        .await?;
        let page = Page::from_rows(rows, &page, |k| k.id.clone());
        Ok(Page {
            data: self.fill_last_used(page.data).await,
            ..page
        })
    }

    /// The key, if the caller may manage it: its own user, or a tenant admin.
    async fn managed_key(&self, caller: &Caller, tenant_id: &str, id: &str) -> Result<ApiKey, KeysError> {
        let key = self.get(tenant_id, id).await?;
        let own = key.user_id.is_some() && key.user_id == caller.user_id;
        if !own && caller.role < Role::TenantAdmin {
            // Members cannot even see other users' keys.
            return Err(KeysError::NotFound("api key"));
        }
        Ok(key)
    }

    pub async fn revoke(
        &self,
        meta: &Meta,
        caller: &Caller,
        tenant_id: &str,
        id: &str,
    ) -> Result<(), KeysError> {
        let key = self.managed_key(caller, tenant_id, id).await?;
        if key.revoked_at.is_some() {
            return Ok(());
        }
        let mut tx = self.service.pool.begin().await?;
        let event = KeyEvent::ApiKeyRevoked {
            key_id: id.to_owned(),
        };
        self.service
            .append(&mut tx, meta, streams::api_key(id), key.version, tenant_id, event)
            .await?;
        // Keys this key created go with it, in the same transaction, so no
        // derived key survives its parent even if this process dies here.
        let mut parents = vec![id.to_owned()];
        while !parents.is_empty() {
            let children: Vec<(String, i64)> = sqlx::query_as(
                "SELECT id, version FROM api_keys
                 WHERE tenant_id = $1 AND parent_key_id = ANY($2) AND revoked_at IS NULL ORDER BY id",
            )
            .bind(tenant_id)
            .bind(&parents)
            .fetch_all(&mut *tx)
            .await?;
            parents.clear();
            for (child, version) in children {
                let event = KeyEvent::ApiKeyRevoked {
                    key_id: child.clone(),
                };
                self.service
                    .append(&mut tx, meta, streams::api_key(&child), version, tenant_id, event)
                    .await?;
                parents.push(child);
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a key's limits as a whole (tenant admins; `{}` removes them).
    pub async fn set_limits(
        &self,
        meta: &Meta,
        caller: &Caller,
        tenant_id: &str,
        id: &str,
        limits: Limits,
    ) -> Result<ApiKey, KeysError> {
        let key = self.managed_key(caller, tenant_id, id).await?;
        authz::require(caller, Role::TenantAdmin, "change API key limits")?;
        // A limited admin key cannot loosen any key, its own included.
        let limits = validate_limits(limits)?;
        let limits = match caller.api_key_id {
            Some(_) => no_looser(&caller.limits.api_key, limits)?,
            None => limits,
        };
        let event = KeyEvent::ApiKeyLimitsSet {
            key_id: id.to_owned(),
            limits,
        };
        self.service
            .append_one(meta, streams::api_key(id), key.version, tenant_id, event)
            .await?;
        self.get(tenant_id, id).await
    }

    pub async fn rotate(
        &self,
        meta: &Meta,
        caller: &Caller,
        tenant_id: &str,
        id: &str,
    ) -> Result<IssuedApiKey, KeysError> {
        let key = self.managed_key(caller, tenant_id, id).await?;
        // A new secret for a user-bound key goes only to that user (or a platform admin).
        if key.user_id.is_some() && key.user_id != caller.user_id && caller.role != Role::PlatformAdmin {
            return Err(KeysError::Forbidden(
                "only the key's user or a platform admin may rotate it".into(),
            ));
        }
        if key.revoked_at.is_some() {
            return Err(KeysError::Conflict("a revoked key cannot be rotated".into()));
        }
        let minted = key_format::mint_for_id(&self.service.settings.key_env, key.id.clone());
        let event = KeyEvent::ApiKeyRotated {
            key_id: key.id.clone(),
            secret_hash: hex::encode(self.hash_secret(&minted.secret)),
        };
        self.service
            .append_one(meta, streams::api_key(id), key.version, tenant_id, event)
            .await?;
        Ok(IssuedApiKey {
            api_key: self.get(tenant_id, id).await?,
            key: minted.full,
        })
    }
}

fn validate_scopes(scopes: Option<Vec<String>>) -> Result<Option<Vec<String>>, KeysError> {
    match scopes {
        None => Ok(None),
        Some(s)
            if s.is_empty() || s.len() > 100 || s.iter().any(|m| m.trim().is_empty() || m.len() > 128) =>
        {
            Err(KeysError::Invalid("scopes must be 1-100 model names".into()))
        }
        Some(s) => Ok(Some(s)),
    }
}
