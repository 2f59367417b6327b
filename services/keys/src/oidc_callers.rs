//! OIDC bearer tokens to callers. The token's signature and claims are
//! checked by `keyway_auth::oidc`; here the identity it names becomes a
//! Keyway tenant and user: the tenant by organization (or by the issuer it
//! is bound to), the user by subject, recorded as an event on first sight.

use keyway_auth::{
    AuthError, Caller, CallerLimits, Limits, Role,
    oidc::{Identity, OidcVerifier},
};
use sqlx::Row;
use time::OffsetDateTime;

use crate::{
    error::KeysError,
    service::KeyService,
    store::Meta,
    tenants::CreateTenant,
    users::{CreateUser, UpdateUser},
};

/// The tenant a token acts in.
struct TokenTenant {
    id: String,
    limits: Limits,
}

impl KeyService {
    /// Verifies a JWT access token and resolves its holder to a caller.
    /// Without OIDC configured, a JWT is just an invalid key.
    pub(crate) async fn verify_token(&self, token: &str) -> Result<Caller, AuthError> {
        let verifier = self.oidc.as_ref().ok_or(AuthError::Invalid)?;
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let identity = verifier.verify(token, now).await.map_err(|reason| {
            // The reason helps an operator; the token itself is never logged.
            tracing::info!(%reason, "bearer token refused");
            AuthError::from(reason)
        })?;
        self.caller_for(verifier, &identity).await.map_err(|e| match e {
            KeysError::Db(_) | KeysError::Unavailable(_) | KeysError::Kms(_) => AuthError::Unavailable,
            KeysError::Identity(refusal) => refusal.into(),
            refused => {
                tracing::info!(issuer = %identity.issuer, subject = %identity.subject, reason = %refused, "token holder refused");
                AuthError::Invalid
            }
        })
    }

    async fn caller_for(&self, verifier: &OidcVerifier, who: &Identity) -> Result<Caller, KeysError> {
        let role = who
            .role
            .ok_or_else(|| KeysError::Forbidden("the token grants no Keyway role".into()))?;
        if role == Role::PlatformAdmin {
            return Ok(Caller {
                expires_at: Some(who.expires_at),
                ..Caller::platform_admin()
            });
        }
        let tenant = self.tenant_of(verifier, who).await?;
        let user_id = self.user_of(&tenant.id, who, role).await?;
        Ok(Caller {
            tenant_id: tenant.id,
            user_id: Some(user_id),
            api_key_id: None,
            role,
            scopes: None,
            expires_at: Some(who.expires_at),
            limits: CallerLimits {
                tenant: tenant.limits,
                api_key: Limits::default(),
            },
        })
    }

    /// The tenant whose `external_id` is the first of the token's
    /// organizations that Keyway knows; with no organization claim, the one
    /// tenant bound to the token's issuer (one realm per tenant). A tenant
    /// bound to another issuer never matches.
    async fn tenant_of(&self, verifier: &OidcVerifier, who: &Identity) -> Result<TokenTenant, KeysError> {
        let rows = sqlx::query(
            "SELECT id, external_id, limits, oidc_issuer FROM tenants
             WHERE (external_id = ANY($1)) OR (cardinality($1) = 0 AND oidc_issuer = $2)",
        )
        .bind(&who.tenant_refs)
        .bind(&who.issuer)
        .fetch_all(&self.pool)
        .await?;
        let rank = |row: &sqlx::postgres::PgRow| {
            let external: Option<String> = row.get("external_id");
            external
                .and_then(|e| who.tenant_refs.iter().position(|r| *r == e))
                .unwrap_or(0)
        };
        let trusted: Vec<_> = rows
            .iter()
            .filter(|row| {
                row.get::<Option<&str>, _>("oidc_issuer")
                    .is_none_or(|i| i == who.issuer)
            })
            .collect();
        if who.tenant_refs.is_empty() && trusted.len() > 1 {
            return Err(KeysError::Forbidden(
                "several tenants are bound to the issuer; the token must name its organization".into(),
            ));
        }
        if let Some(row) = trusted.into_iter().min_by_key(|row| rank(row)) {
            return Ok(TokenTenant {
                id: row.get("id"),
                limits: row.get::<sqlx::types::Json<Limits>, _>("limits").0,
            });
        }
        match who.tenant_refs.first() {
            Some(org) if verifier.settings().auto_provision && rows.is_empty() => {
                self.provision_tenant(org, who).await
            }
            _ => Err(KeysError::Forbidden(
                "the token's organization is not a tenant of this Keyway".into(),
            )),
        }
    }

    /// First sight of an organization with auto-provisioning on: a `free`
    /// tenant bound to the issuer that vouched for it.
    async fn provision_tenant(&self, org: &str, who: &Identity) -> Result<TokenTenant, KeysError> {
        let meta = oidc_meta(who);
        let request = CreateTenant {
            name: org.to_owned(),
            plan: "free".to_owned(),
            external_id: Some(org.to_owned()),
            limits: Limits::default(),
            oidc_issuer: Some(who.issuer.clone()),
        };
        let tenant = match self.tenants().create(&meta, request).await {
            Ok(tenant) => tenant,
            // Another request provisioned it first.
            Err(KeysError::Conflict(_)) => self.tenant_by_external_id(org).await?,
            Err(e) => return Err(e),
        };
        tracing::info!(tenant = %tenant.id, organization = %org, "provisioned a tenant for a new organization");
        Ok(TokenTenant {
            id: tenant.id,
            limits: tenant.limits,
        })
    }

    async fn tenant_by_external_id(&self, external_id: &str) -> Result<crate::tenants::Tenant, KeysError> {
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM tenants WHERE external_id = $1")
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await?;
        self.tenants()
            .get(&id.ok_or(KeysError::NotFound("tenant"))?)
            .await
    }

    /// The user with the token's subject, created on first sight (an event
    /// records the subject), and kept at the role the IdP now grants. A user
    /// the identity gate refuses is refused here too.
    async fn user_of(&self, tenant_id: &str, who: &Identity, role: Role) -> Result<String, KeysError> {
        let row = sqlx::query("SELECT id, role FROM users WHERE tenant_id = $1 AND external_subject = $2")
            .bind(tenant_id)
            .bind(&who.subject)
            .fetch_optional(&self.pool)
            .await?;
        let meta = oidc_meta(who);
        let system = Caller::platform_admin();
        let Some(row) = row else {
            let request = CreateUser {
                email: who.email.clone(),
                display_name: who.name.clone(),
                role: Some(role.as_str().to_owned()),
                external_subject: Some(who.subject.clone()),
            };
            return match self.users().create(&meta, &system, tenant_id, request).await {
                Ok(user) => Ok(user.id),
                // A concurrent first request created them.
                Err(KeysError::Conflict(_)) => Box::pin(self.user_of(tenant_id, who, role)).await,
                Err(e) => Err(e),
            };
        };
        let (id, stored_role): (String, String) = (row.get("id"), row.get("role"));
        // Disabled in Keyway or in Keycloak, or (when following) not
        // confirmed recently enough: the same gate as their API keys.
        self.identity_gate(&id).await?;
        if stored_role != role.as_str() {
            let patch = UpdateUser {
                role: Some(role.as_str().to_owned()),
                ..UpdateUser::default()
            };
            self.users().update(&meta, &system, tenant_id, &id, patch).await?;
        }
        Ok(id)
    }
}

/// Changes made on a token's behalf are recorded as the IdP's subject.
fn oidc_meta(who: &Identity) -> Meta {
    Meta {
        actor: format!("oidc:{}", who.subject),
        request_id: None,
    }
}
