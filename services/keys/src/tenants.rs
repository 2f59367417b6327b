//! Tenants: create, read, list, update, and delete — which crypto-shreds the
//! tenant's secrets by destroying its data keys.

use keyway_auth::{Limits, PLATFORM_TENANT};
use keyway_common::api::{Page, PageParams};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    error::{KeysError, on_unique},
    events::{KeyEvent, streams},
    service::KeyService,
    store::Meta,
};

pub const PLANS: [&str; 4] = ["free", "starter", "pro", "enterprise"];

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// `free`, `starter`, `pro` or `enterprise`.
    pub plan: String,
    /// The Keycloak organization this tenant maps to.
    pub external_id: Option<String>,
    /// Rate limits and the monthly budget for all of the tenant's traffic.
    #[sqlx(json)]
    pub limits: Limits,
    /// The one OIDC issuer whose tokens this tenant accepts (one realm per
    /// tenant); absent: any configured issuer (one realm with organizations).
    pub oidc_issuer: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(skip)]
    pub version: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub name: String,
    #[schema(value_type = crate::schema_names::Plan)]
    pub plan: String,
    pub external_id: Option<String>,
    /// Omit for no limits.
    #[serde(default)]
    pub limits: Limits,
    /// Bind the tenant to one of the configured OIDC issuers.
    pub oidc_issuer: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    pub name: Option<String>,
    #[schema(value_type = Option<crate::schema_names::Plan>)]
    pub plan: Option<String>,
    /// Send `null` to clear.
    #[serde(default, with = "double_option")]
    pub external_id: Option<Option<String>>,
    /// Replaces the tenant's limits as a whole; `{}` removes them.
    pub limits: Option<Limits>,
    /// Send `null` to accept any configured issuer again.
    #[serde(default, with = "double_option")]
    pub oidc_issuer: Option<Option<String>>,
}

/// Tells "absent" (keep) from `null` (clear) in a PATCH body.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

/// The name tenants cursors carry.
const LIST: &str = "tenants";

const COLUMNS: &str = "id, name, plan, external_id, limits, oidc_issuer, created_at, updated_at, version";

pub(crate) fn validate_name(name: &str, what: &str) -> Result<String, KeysError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(KeysError::Invalid(format!(
            "{what} must be 1-200 printable characters"
        )));
    }
    Ok(name.to_owned())
}

fn validate_plan(plan: &str) -> Result<String, KeysError> {
    if PLANS.contains(&plan) {
        Ok(plan.to_owned())
    } else {
        Err(KeysError::Invalid(format!(
            "plan must be one of {}, got {plan:?}",
            PLANS.join(", ")
        )))
    }
}

pub(crate) fn validate_limits(limits: Limits) -> Result<Limits, KeysError> {
    limits
        .validate()
        .map(|()| limits)
        .map_err(|reason| KeysError::Invalid(reason.to_owned()))
}

/// BYOK needs `starter` or above.
pub(crate) fn plan_allows_byok(plan: &str) -> bool {
    plan != "free"
}

/// The tenants: a view over the key service's shared state.
pub struct Tenants<'a> {
    service: &'a KeyService,
}

impl KeyService {
    pub fn tenants(&self) -> Tenants<'_> {
        Tenants { service: self }
    }
}

impl Tenants<'_> {
    pub(crate) async fn ensure_platform(&self) -> Result<(), KeysError> {
        if self.find(PLATFORM_TENANT).await?.is_some() {
            return Ok(());
        }
        let event = KeyEvent::TenantCreated {
            tenant_id: PLATFORM_TENANT.to_owned(),
            name: "Platform".to_owned(),
            plan: "enterprise".to_owned(),
            external_id: None,
            limits: Limits::default(),
            oidc_issuer: None,
        };
        let meta = Meta {
            actor: "system".to_owned(),
            request_id: None,
        };
        match self
            .service
            .append_one(&meta, streams::tenant(PLATFORM_TENANT), 0, PLATFORM_TENANT, event)
            .await
        {
            // Another instance created it concurrently.
            Ok(_) | Err(KeysError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub async fn create(&self, meta: &Meta, req: CreateTenant) -> Result<Tenant, KeysError> {
        let id = uuid::Uuid::now_v7().to_string();
        let event = KeyEvent::TenantCreated {
            tenant_id: id.clone(),
            name: validate_name(&req.name, "name")?,
            plan: validate_plan(&req.plan)?,
            external_id: req.external_id.filter(|e| !e.is_empty()),
            limits: validate_limits(req.limits)?,
            oidc_issuer: self.service.validate_issuer(req.oidc_issuer)?,
        };
        let mut tx = self.service.pool.begin().await?;
        self.service
            .append(&mut tx, meta, streams::tenant(&id), 0, &id, event)
            .await
            .map_err(unique_external_id)?;
        tx.commit()
            .await
            .map_err(|e| on_unique(e, "external_id is already used by another tenant"))?;
        self.get(&id).await
    }

    pub async fn find(&self, id: &str) -> Result<Option<Tenant>, KeysError> {
        Ok(
            sqlx::query_as(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.service.pool)
                .await?,
        )
    }

    pub async fn get(&self, id: &str) -> Result<Tenant, KeysError> {
        self.find(id).await?.ok_or(KeysError::NotFound("tenant"))
    }

    pub async fn list(&self, page: &PageParams) -> Result<Page<Tenant>, KeysError> {
        let page = page.resolve(LIST)?;
        let rows: Vec<Tenant> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(page.after())
        .bind(page.fetch())
        .fetch_all(&self.service.pool)
        .await?;
        Ok(Page::from_rows(rows, &page, |t| t.id.clone()))
    }

    pub async fn update(&self, meta: &Meta, id: &str, patch: UpdateTenant) -> Result<Tenant, KeysError> {
        let current = self.get(id).await?;
        let event = KeyEvent::TenantUpdated {
            tenant_id: id.to_owned(),
            name: match patch.name {
                Some(n) => validate_name(&n, "name")?,
                None => current.name,
            },
            plan: match patch.plan {
                Some(p) => validate_plan(&p)?,
                None => current.plan,
            },
            external_id: match patch.external_id {
                Some(e) => e.filter(|e| !e.is_empty()),
                None => current.external_id,
            },
            limits: match patch.limits {
                Some(l) => validate_limits(l)?,
                None => current.limits,
            },
            oidc_issuer: match patch.oidc_issuer {
                Some(issuer) => self.service.validate_issuer(issuer)?,
                None => current.oidc_issuer,
            },
        };
        let mut tx = self.service.pool.begin().await?;
        self.service
            .append(&mut tx, meta, streams::tenant(id), current.version, id, event)
            .await
            .map_err(unique_external_id)?;
        tx.commit().await?;
        self.service.committed(id);
        self.get(id).await
    }

    /// Deletes the tenant and destroys its data keys in the same
    /// transaction: its sealed secrets, still in the event store, can never
    /// be opened again.
    pub async fn delete(&self, meta: &Meta, id: &str) -> Result<(), KeysError> {
        if id == PLATFORM_TENANT {
            return Err(KeysError::Forbidden(
                "the platform tenant cannot be deleted".into(),
            ));
        }
        let current = self.get(id).await?;
        let mut tx = self.service.pool.begin().await?;
        sqlx::query("DELETE FROM tenant_deks WHERE tenant_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let event = KeyEvent::TenantDeleted {
            tenant_id: id.to_owned(),
        };
        self.service
            .append(&mut tx, meta, streams::tenant(id), current.version, id, event)
            .await?;
        tx.commit().await?;
        self.service.evict_tenant(id);
        self.service.committed(id);
        Ok(())
    }
}

impl KeyService {
    /// A tenant may be bound only to an issuer Keyway trusts.
    fn validate_issuer(&self, issuer: Option<String>) -> Result<Option<String>, KeysError> {
        let Some(issuer) = issuer.map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()) else {
            return Ok(None);
        };
        let trusted = self
            .oidc
            .as_ref()
            .map(|v| v.settings().issuers.as_slice())
            .unwrap_or_default();
        if trusted.contains(&issuer) {
            Ok(Some(issuer))
        } else if trusted.is_empty() {
            Err(KeysError::Invalid(
                "oidc_issuer needs OIDC to be configured (KEYWAY_OIDC_ISSUER)".into(),
            ))
        } else {
            Err(KeysError::Invalid(format!(
                "oidc_issuer must be one of the configured issuers: {}",
                trusted.join(", ")
            )))
        }
    }
}

fn unique_external_id(e: KeysError) -> KeysError {
    match e {
        KeysError::Db(db) => on_unique(db, "external_id is already used by another tenant"),
        other => other,
    }
}
