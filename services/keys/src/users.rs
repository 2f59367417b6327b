//! Users of a tenant: create, list, read, update (role, status, profile) and
//! delete. A disabled or deleted user's API keys and BYOK keys stop working.

use keyway_auth::Role;
use keyway_common::api::{Page, PageParams};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    authz,
    error::{KeysError, on_unique},
    events::{KeyEvent, streams},
    service::KeyService,
    store::Meta,
    tenants::validate_name,
};

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct User {
    pub id: String,
    pub tenant_id: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// `tenant-admin`, `member` or `viewer`.
    pub role: String,
    /// The OIDC subject (Keycloak user id) this user maps to.
    pub external_subject: Option<String>,
    /// `active` or `disabled`.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(skip)]
    pub version: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// Defaults to `member`.
    #[schema(value_type = Option<crate::schema_names::TenantRole>)]
    pub role: Option<String>,
    pub external_subject: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub email: Option<String>,
    pub display_name: Option<String>,
    #[schema(value_type = Option<crate::schema_names::TenantRole>)]
    pub role: Option<String>,
    #[schema(value_type = Option<crate::schema_names::UserStatus>)]
    pub status: Option<String>,
}

/// The name users cursors carry.
const LIST: &str = "users";

const COLUMNS: &str =
    "id, tenant_id, email, display_name, role, external_subject, status, created_at, updated_at, version";

fn validate_email(email: Option<String>) -> Result<Option<String>, KeysError> {
    match email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()) {
        Some(e) if e.len() > 254 || !e.contains('@') || e.chars().any(char::is_whitespace) => {
            Err(KeysError::Invalid(format!("email {e:?} is not an email address")))
        }
        other => Ok(other),
    }
}

/// The users of each tenant: a view over the key service's shared state.
pub struct Users<'a> {
    service: &'a KeyService,
}

impl KeyService {
    pub fn users(&self) -> Users<'_> {
        Users { service: self }
    }
}

impl Users<'_> {
    pub async fn create(
        &self,
        meta: &Meta,
        caller: &keyway_auth::Caller,
        tenant_id: &str,
        req: CreateUser,
    ) -> Result<User, KeysError> {
        self.service.tenants().get(tenant_id).await?;
        let role = authz::parse_tenant_role(req.role.as_deref().unwrap_or("member"))?;
        authz::may_grant(caller, role)?;
        let id = uuid::Uuid::now_v7().to_string();
        let event = KeyEvent::UserCreated {
            user_id: id.clone(),
            tenant_id: tenant_id.to_owned(),
            email: validate_email(req.email)?,
            display_name: req
                .display_name
                .map(|n| validate_name(&n, "display_name"))
                .transpose()?,
            role: role.as_str().to_owned(),
            external_subject: req.external_subject.filter(|s| !s.is_empty()),
        };
        let mut tx = self.service.pool.begin().await?;
        self.service
            .append(&mut tx, meta, streams::user(&id), 0, tenant_id, event)
            .await
            .map_err(|e| match e {
                KeysError::Db(db) => on_unique(
                    db,
                    "a user with this external_subject already exists in the tenant",
                ),
                other => other,
            })?;
        tx.commit().await?;
        self.get(tenant_id, &id).await
    }

    /// A user of `tenant_id`; a user of another tenant is "not found".
    pub async fn get(&self, tenant_id: &str, user_id: &str) -> Result<User, KeysError> {
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users WHERE id = $1 AND tenant_id = $2"
        ))
        .bind(user_id)
        .bind(tenant_id)
        .fetch_optional(&self.service.pool)
        .await?
        .ok_or(KeysError::NotFound("user"))
    }

    pub async fn list(&self, tenant_id: &str, page: &PageParams) -> Result<Page<User>, KeysError> {
        let page = page.resolve(LIST)?;
        // An empty list would suggest the tenant exists.
        self.service.tenants().get(tenant_id).await?;
        let rows: Vec<User> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(tenant_id)
        .bind(page.after())
        .bind(page.fetch())
        .fetch_all(&self.service.pool)
        .await?;
        Ok(Page::from_rows(rows, &page, |u| u.id.clone()))
    }

    pub async fn update(
        &self,
        meta: &Meta,
        caller: &keyway_auth::Caller,
        tenant_id: &str,
        user_id: &str,
        patch: UpdateUser,
    ) -> Result<User, KeysError> {
        let current = self.get(tenant_id, user_id).await?;
        let role = match patch.role {
            Some(r) => {
                let role = authz::parse_tenant_role(&r)?;
                authz::may_grant(caller, role)?;
                role
            }
            None => authz::parse_tenant_role(&current.role)?,
        };
        // Changing someone who outranks you is granting above your own role.
        if Role::parse(&current.role).is_some_and(|r| r > caller.role) {
            return Err(KeysError::Forbidden(
                "you may not change a user who outranks you".into(),
            ));
        }
        let status = match patch.status.as_deref() {
            None => current.status,
            Some(s @ ("active" | "disabled")) => s.to_owned(),
            Some(other) => {
                return Err(KeysError::Invalid(format!(
                    "status must be active or disabled, got {other:?}"
                )));
            }
        };
        let event = KeyEvent::UserUpdated {
            user_id: user_id.to_owned(),
            email: match patch.email {
                Some(e) => validate_email(Some(e))?,
                None => current.email,
            },
            display_name: match patch.display_name {
                Some(n) => Some(validate_name(&n, "display_name")?),
                None => current.display_name,
            },
            role: role.as_str().to_owned(),
            status,
        };
        self.service
            .append_one(meta, streams::user(user_id), current.version, tenant_id, event)
            .await?;
        self.get(tenant_id, user_id).await
    }

    pub async fn delete(&self, meta: &Meta, tenant_id: &str, user_id: &str) -> Result<(), KeysError> {
        let current = self.get(tenant_id, user_id).await?;
        let event = KeyEvent::UserDeleted {
            user_id: user_id.to_owned(),
        };
        self.service
            .append_one(meta, streams::user(user_id), current.version, tenant_id, event)
            .await?;
        Ok(())
    }
}
