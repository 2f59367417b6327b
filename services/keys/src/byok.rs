//! BYOK provider keys: set, list (masked), delete, test and stats here, and
//! the resolution the gateway uses in `resolve.rs`. Keys are tenant-scoped
//! (shared by the team) or user-scoped (one user's own), sealed under the
//! tenant's DEK.

use keyway_auth::{Caller, KeyScope, Role};
use keyway_common::api::{Page, PageParams};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    crypto::Aad,
    error::KeysError,
    events::{KeyEvent, streams},
    providers,
    service::KeyService,
    store::Meta,
    tenants::plan_allows_byok,
};

mod probe;
mod resolve;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetByokKey {
    /// The provider secret. It is sealed at once and never shown again.
    pub key: String,
    pub label: Option<String>,
    /// Required for `custom-<name>`, `azure` (the resource URL) and
    /// `bedrock` (`https://bedrock-runtime.<region>.amazonaws.com`);
    /// optional for local servers; refused for the others.
    pub base_url: Option<String>,
    /// `tenant` or `user`; defaults to `user` for a user-bound caller.
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ByokKey {
    pub id: String,
    pub provider: String,
    /// `tenant` or `user`.
    pub scope: String,
    pub user_id: Option<String>,
    pub label: Option<String>,
    pub base_url: Option<String>,
    /// e.g. `sk-p…here`.
    pub masked: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(skip)]
    pub version: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ByokTestResult {
    /// True when the provider accepted the key.
    pub ok: bool,
    /// The provider's HTTP status, when it answered.
    pub status: Option<u16>,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ByokStats {
    pub tenant_keys: i64,
    pub user_keys: i64,
    /// Keys per provider, both scopes.
    pub by_provider: std::collections::BTreeMap<String, i64>,
}

pub fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Who owns a BYOK key: the tenant, or one user in it.
pub struct Owner {
    pub scope: KeyScope,
    pub user_id: Option<String>,
}

impl Owner {
    fn scope_str(&self) -> &'static str {
        match self.scope {
            KeyScope::Tenant => "tenant",
            KeyScope::User => "user",
        }
    }
}

/// Resolves `scope` for the caller and checks the caller may manage it.
pub fn owner_for(caller: &Caller, scope: Option<&str>) -> Result<Owner, KeysError> {
    let scope = match scope {
        Some("tenant") => KeyScope::Tenant,
        Some("user") => KeyScope::User,
        None if caller.user_id.is_some() => KeyScope::User,
        None => KeyScope::Tenant,
        Some(other) => {
            return Err(KeysError::Invalid(format!(
                "scope must be tenant or user, got {other:?}"
            )));
        }
    };
    match scope {
        KeyScope::Tenant if caller.role < Role::TenantAdmin => Err(KeysError::Forbidden(
            "tenant-scoped BYOK keys need the tenant-admin role".into(),
        )),
        KeyScope::Tenant => Ok(Owner { scope, user_id: None }),
        KeyScope::User => match (&caller.user_id, caller.role) {
            (Some(user), role) if role >= Role::Member => Ok(Owner {
                scope,
                user_id: Some(user.clone()),
            }),
            _ => Err(KeysError::Forbidden(
                "user-scoped BYOK keys need a user-bound member key".into(),
            )),
        },
    }
}

/// The name BYOK keys cursors carry.
const LIST: &str = "byok-keys";

const COLUMNS: &str =
    "id, provider, scope, user_id, label, base_url, masked, created_at, updated_at, version";

/// The BYOK provider keys: a view over the key service's shared state.
pub struct ByokKeys<'a> {
    service: &'a KeyService,
}

impl KeyService {
    pub fn byok(&self) -> ByokKeys<'_> {
        ByokKeys { service: self }
    }
}

impl ByokKeys<'_> {
    async fn require_plan(&self, tenant_id: &str) -> Result<(), KeysError> {
        let tenant = self.service.tenants().get(tenant_id).await?;
        if plan_allows_byok(&tenant.plan) {
            Ok(())
        } else {
            Err(KeysError::PlanRequired(format!(
                "bring-your-own-key needs the starter plan or above; this tenant is on {}",
                tenant.plan
            )))
        }
    }

    async fn find(
        &self,
        tenant_id: &str,
        owner: &Owner,
        provider: &str,
    ) -> Result<Option<ByokKey>, KeysError> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM byok_keys WHERE tenant_id = $1 AND scope = $2 AND user_id IS NOT DISTINCT FROM $3 AND provider = $4"
        ))
        .bind(tenant_id)
        .bind(owner.scope_str())
        .bind(&owner.user_id)
        .bind(provider)
        .fetch_optional(&self.service.pool)
        .await?)
    }

    pub async fn set(
        &self,
        meta: &Meta,
        tenant_id: &str,
        owner: Owner,
        provider: &str,
        req: SetByokKey,
    ) -> Result<ByokKey, KeysError> {
        let entry = providers::validate_slug(provider)?;
        self.require_plan(tenant_id).await?;
        let secret = req.key.trim();
        if secret.is_empty()
            || secret.len() > 1024
            || secret.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(KeysError::Invalid(
                "key must be 1-1024 characters without spaces".into(),
            ));
        }
        let base_url = providers::check_key(
            entry,
            provider,
            secret,
            req.base_url,
            self.service.settings.base_url_policy,
        )
        .await?;
        let mut tx = self.service.pool.begin().await?;
        KeyService::lock_tenant_secrets(&mut tx, tenant_id).await?;
        let existing = self.find(tenant_id, &owner, provider).await?;
        let (record_id, expected) = match &existing {
            Some(k) => (k.id.clone(), k.version),
            None => (uuid::Uuid::now_v7().to_string(), 0),
        };
        let (dek_version, dek) = self.service.active_dek(tenant_id).await?;
        let aad = Aad {
            tenant_id,
            record_id: &record_id,
            provider,
            dek_version: dek_version as u32,
        };
        let event = KeyEvent::ByokKeySet {
            record_id: record_id.clone(),
            tenant_id: tenant_id.to_owned(),
            scope: owner.scope_str().to_owned(),
            user_id: owner.user_id.clone(),
            provider: provider.to_owned(),
            label: req.label.map(|l| l.trim().chars().take(200).collect()),
            base_url,
            masked: mask(secret),
            sealed: KeyService::seal_secret(&dek, &aad, secret)?,
            dek_version,
        };
        self.service
            .append(
                &mut tx,
                meta,
                streams::byok(&record_id),
                expected,
                tenant_id,
                event,
            )
            .await?;
        tx.commit().await?;
        self.service.committed(tenant_id);
        self.find(tenant_id, &owner, provider)
            .await?
            .ok_or(KeysError::NotFound("BYOK key"))
    }

    /// The tenant's keys, plus the caller's own user keys, oldest first.
    pub async fn list(
        &self,
        tenant_id: &str,
        caller: &Caller,
        page: &PageParams,
    ) -> Result<Page<ByokKey>, KeysError> {
        let page = page.resolve(LIST)?;
        let rows = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM byok_keys WHERE tenant_id = $1 AND (scope = 'tenant' OR user_id = $2) AND id > $3
             ORDER BY id LIMIT $4"
        ))
        .bind(tenant_id)
        .bind(&caller.user_id)
        .bind(page.after())
        .bind(page.fetch())
        .fetch_all(&self.service.pool)
        .await?;
        Ok(Page::from_rows(rows, &page, |k: &ByokKey| k.id.clone()))
    }

    pub async fn delete(
        &self,
        meta: &Meta,
        tenant_id: &str,
        owner: Owner,
        provider: &str,
    ) -> Result<(), KeysError> {
        let key = self
            .find(tenant_id, &owner, provider)
            .await?
            .ok_or(KeysError::NotFound("BYOK key"))?;
        let event = KeyEvent::ByokKeyDeleted {
            record_id: key.id.clone(),
        };
        self.service
            .append_one(meta, streams::byok(&key.id), key.version, tenant_id, event)
            .await?;
        Ok(())
    }

    pub async fn stats(&self, tenant_id: &str) -> Result<ByokStats, KeysError> {
        let rows = sqlx::query("SELECT provider, scope, count(*) AS n FROM byok_keys WHERE tenant_id = $1 GROUP BY provider, scope")
            .bind(tenant_id)
            .fetch_all(&self.service.pool)
            .await?;
        let mut stats = ByokStats {
            tenant_keys: 0,
            user_keys: 0,
            by_provider: Default::default(),
        };
        for row in rows {
            let n: i64 = row.get("n");
            match row.get::<&str, _>("scope") {
                "tenant" => stats.tenant_keys += n,
                _ => stats.user_keys += n,
            }
            *stats.by_provider.entry(row.get("provider")).or_default() += n;
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests;
