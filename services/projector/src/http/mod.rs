//! The usage REST API under `/api/v1/usage`: the summary served from the
//! views, the cursor-paginated CloudEvents export of the ledger, the
//! registered export cursors that hold retention back, and the signed
//! webhooks that push the export to billing systems. Every route
//! authenticates with the admin key or a gateway API key (bearer), scopes by
//! tenant first (another tenant's id is 404), then checks the role.

mod cursors;
mod error;
mod examples;
use examples::Examples;
mod export;
mod summary;
mod webhooks;

use std::sync::Arc;

use axum::{
    Router,
    extract::FromRequestParts,
    http::request::Parts,
    routing::{get, post, put},
};
use keyway_auth::{AuthError, Authenticator, Caller, PLATFORM_TENANT, Rejection, Role};
use sqlx::PgPool;

pub use error::UsageError;

use crate::{scope::Scope, webhooks::Webhooks};

/// What every handler needs.
pub(crate) struct UsageState {
    pool: PgPool,
    authenticator: Arc<dyn Authenticator>,
    webhooks: Webhooks,
}

/// The usage API. `webhooks` is shared with the delivery worker
/// ([`crate::webhooks::run`]) of the same process.
pub fn router(pool: PgPool, authenticator: Arc<dyn Authenticator>, webhooks: Webhooks) -> Router {
    Router::new()
        .route("/api/v1/usage/summary", get(summary::summary))
        .route("/api/v1/usage/events", get(export::events))
        .route("/api/v1/usage/cursors", get(cursors::list))
        .route(
            "/api/v1/usage/cursors/{name}",
            put(cursors::put).delete(cursors::delete),
        )
        .route(
            "/api/v1/usage/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/api/v1/usage/webhooks/{id}",
            get(webhooks::get).delete(webhooks::delete),
        )
        .route(
            "/api/v1/usage/webhooks/{id}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        // Before any handler, so a NUL never reaches the database.
        .route_layer(axum::middleware::from_fn(keyway_common::api::refuse_nul))
        .method_not_allowed_fallback(keyway_common::api::method_not_allowed)
        .with_state(Arc::new(UsageState {
            pool,
            authenticator,
            webhooks,
        }))
}

/// The authenticated caller of a usage API request.
pub(crate) struct Principal(pub(crate) Caller);

impl FromRequestParts<Arc<UsageState>> for Principal {
    type Rejection = UsageError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<UsageState>) -> Result<Self, Self::Rejection> {
        let caller = keyway_auth::authenticate_request(parts, state.authenticator.as_ref())
            .await
            .map_err(|e| match e {
                Rejection::TooManyFailures { retry_after_secs } => {
                    UsageError::TooManyFailures { retry_after_secs }
                }
                Rejection::Credential(AuthError::Unavailable) => UsageError::AuthUnavailable,
                Rejection::Credential(AuthError::Missing | AuthError::Invalid) => UsageError::Unauthenticated,
                Rejection::Credential(AuthError::IdentityUnconfirmed) => UsageError::IdentityUnconfirmed,
            })?;
        Ok(Principal(caller))
    }
}

// The HTTP side of `Scope`: derived from an authenticated caller, with
// the usage API's errors. The type and its SQL filter are the domain's
// (`crate::scope`), shared with webhook delivery.
impl Scope {
    /// Tenant scoping first (another tenant is 404), then the role's view.
    /// `all_tenants` is what a platform admin without `tenant_id` gets:
    /// every tenant (the export) or the `platform` tenant (the summary).
    pub(crate) fn of(
        caller: &Caller,
        tenant_id: Option<String>,
        all_tenants: bool,
    ) -> Result<Self, UsageError> {
        if tenant_id.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(UsageError::invalid("tenant_id", "must not be empty"));
        }
        let mut scope = Scope {
            tenant: None,
            user_id: None,
            api_key_id: None,
            nothing: false,
        };
        if caller.role == Role::PlatformAdmin {
            scope.tenant = match tenant_id {
                Some(t) => Some(t),
                None if all_tenants => None,
                None => Some(PLATFORM_TENANT.to_owned()),
            };
            return Ok(scope);
        }
        if tenant_id.is_some_and(|t| t != caller.tenant_id) {
            return Err(UsageError::NotFound("tenant"));
        }
        scope.tenant = Some(caller.tenant_id.clone());
        if caller.role == Role::Member {
            // Members see only their own usage: their user's, or for a
            // member service key without a user, that key's.
            match (&caller.user_id, &caller.api_key_id) {
                (Some(user), _) => scope.user_id = Some(user.clone()),
                (None, Some(key)) => scope.api_key_id = Some(key.clone()),
                (None, None) => scope.nothing = true,
            }
        }
        Ok(scope)
    }
}

pub(crate) fn require(caller: &Caller, min: Role, action: &str) -> Result<(), UsageError> {
    if caller.role >= min {
        Ok(())
    } else {
        Err(UsageError::Forbidden(format!(
            "the role {} may not {action}",
            caller.role.as_str()
        )))
    }
}

/// The usage API's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(summary::summary, export::events, cursors::list, cursors::put, cursors::delete,
        webhooks::create, webhooks::list, webhooks::get, webhooks::delete, webhooks::rotate_secret),
    tags((name = "usage", description = "Usage summaries from the billing views, the CloudEvents export of the \
        ledger, the export cursors that retention respects, and signed webhooks that push the export to a \
        billing system (see docs/billing.md, \"Signed webhooks\")")),
    modifiers(&Examples),
)]
pub struct UsageApi;

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn caller(tenant: &str, role: Role, user: Option<&str>, key: Option<&str>) -> Caller {
        Caller {
            user_id: user.map(Into::into),
            api_key_id: key.map(Into::into),
            ..Caller::in_tenant(tenant, role)
        }
    }

    #[test]
    fn another_tenant_is_not_found_and_members_see_only_their_own() {
        let admin_a = caller("a", Role::TenantAdmin, None, Some("k1"));
        assert!(matches!(
            Scope::of(&admin_a, Some("b".into()), false),
            Err(UsageError::NotFound(_))
        ));
        let own = Scope::of(&admin_a, None, true).unwrap();
        assert_eq!(
            (own.tenant.as_deref(), own.user_id, own.api_key_id),
            (Some("a"), None, None)
        );
        let member = Scope::of(&caller("a", Role::Member, Some("u1"), Some("k2")), None, false).unwrap();
        assert_eq!((member.user_id.as_deref(), member.api_key_id), (Some("u1"), None));
        let service = Scope::of(&caller("a", Role::Member, None, Some("k2")), None, false).unwrap();
        assert_eq!(service.api_key_id.as_deref(), Some("k2"));
        assert!(
            Scope::of(&caller("a", Role::Member, None, None), None, false)
                .unwrap()
                .nothing
        );
        let viewer = Scope::of(&caller("a", Role::Viewer, Some("u9"), None), None, false).unwrap();
        assert_eq!(viewer.user_id, None);
    }

    #[test]
    fn the_openapi_part_documents_every_route() {
        use utoipa::OpenApi;
        let json = UsageApi::openapi().to_json().unwrap();
        for path in [
            "/api/v1/usage/summary",
            "/api/v1/usage/events",
            "/api/v1/usage/cursors/{name}",
            "/api/v1/usage/webhooks",
            "/api/v1/usage/webhooks/{id}/rotate-secret",
        ] {
            assert!(json.contains(path), "{path}");
        }
        assert!(json.contains("cost_micros") && json.contains("next_cursor"));
        assert!(json.contains("signing_secret") && json.contains("consecutive_failures"));
    }

    #[test]
    fn platform_admins_pick_any_tenant_or_default_per_route() {
        let admin = Caller::platform_admin();
        assert_eq!(
            Scope::of(&admin, None, false).unwrap().tenant.as_deref(),
            Some("platform")
        );
        assert_eq!(Scope::of(&admin, None, true).unwrap().tenant, None);
        assert_eq!(
            Scope::of(&admin, Some("b".into()), true)
                .unwrap()
                .tenant
                .as_deref(),
            Some("b")
        );
        assert!(matches!(
            Scope::of(&admin, Some(" ".into()), true),
            Err(UsageError::Invalid(_))
        ));
    }
}
