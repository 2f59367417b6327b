//! The key service's REST API under `/api/v1`: tenants, users, gateway API
//! keys, BYOK keys, audit, and the admin rotation endpoints. Every route
//! authenticates with the admin key or a gateway API key (bearer), scopes by
//! tenant first (another tenant's id is 404), then checks the role.

mod admin;
mod api_keys;
mod audit;
mod byok;
pub(crate) mod examples;
use examples::Examples;
pub mod internal;
mod tenants;

use std::sync::Arc;

use axum::{Router, extract::FromRequestParts, http::request::Parts, routing::get};
use keyway_auth::{AuthError, Caller, Rejection};

use crate::{error::KeysError, service::KeyService, store::Meta};

pub fn router(service: Arc<KeyService>) -> Router {
    Router::new()
        .route(
            "/api/v1/tenants",
            get(tenants::list_tenants).post(tenants::create_tenant),
        )
        .route(
            "/api/v1/tenants/{tenant_id}",
            get(tenants::get_tenant)
                .patch(tenants::update_tenant)
                .delete(tenants::delete_tenant),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/users",
            get(tenants::list_users).post(tenants::create_user),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/users/{user_id}",
            get(tenants::get_user)
                .patch(tenants::update_user)
                .delete(tenants::delete_user),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/api-keys/{key_id}",
            get(api_keys::get).delete(api_keys::revoke),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/api-keys/{key_id}/rotate",
            axum::routing::post(api_keys::rotate),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/api-keys/{key_id}/limits",
            axum::routing::put(api_keys::set_limits),
        )
        .route(
            "/api/v1/tenants/{tenant_id}/dek/rotate",
            axum::routing::post(admin::rotate_dek),
        )
        .route(
            "/api/v1/admin/kms/rotate-kek",
            axum::routing::post(admin::rotate_kek),
        )
        .route("/api/v1/byok/providers", get(byok::providers))
        .route("/api/v1/byok/keys", get(byok::list))
        .route(
            "/api/v1/byok/keys/{provider}",
            axum::routing::put(byok::set).delete(byok::delete),
        )
        .route(
            "/api/v1/byok/keys/{provider}/test",
            axum::routing::post(byok::test),
        )
        .route("/api/v1/byok/stats", get(byok::stats))
        .route("/api/v1/audit/events", get(audit::events))
        // Before any handler, so a NUL never reaches the database.
        .route_layer(axum::middleware::from_fn(keyway_common::api::refuse_nul))
        .method_not_allowed_fallback(keyway_common::api::method_not_allowed)
        .with_state(service)
}

/// The authenticated caller of an admin/tenant API request, and what its
/// changes are recorded under.
pub(crate) struct Principal {
    pub(crate) caller: Caller,
    pub(crate) meta: Meta,
}

pub(crate) fn actor_of(caller: &Caller) -> String {
    match (&caller.user_id, &caller.api_key_id) {
        (Some(user), _) => format!("user:{user}"),
        (None, Some(key)) => format!("api_key:{key}"),
        (None, None) => "platform-admin".to_owned(),
    }
}

impl FromRequestParts<Arc<KeyService>> for Principal {
    type Rejection = KeysError;

    async fn from_request_parts(
        parts: &mut Parts,
        service: &Arc<KeyService>,
    ) -> Result<Self, Self::Rejection> {
        let caller = keyway_auth::authenticate_request(parts, service.as_ref())
            .await
            .map_err(|e| match e {
                Rejection::TooManyFailures { retry_after_secs } => {
                    KeysError::TooManyFailures { retry_after_secs }
                }
                Rejection::Credential(AuthError::Unavailable) => KeysError::AuthUnavailable,
                Rejection::Credential(AuthError::Missing | AuthError::Invalid) => KeysError::Unauthenticated,
                Rejection::Credential(AuthError::IdentityUnconfirmed) => {
                    KeysError::Identity(crate::error::IdentityRefusal::Unconfirmed)
                }
            })?;
        let meta = Meta {
            actor: actor_of(&caller),
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        Ok(Principal { caller, meta })
    }
}

/// The key service's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        tenants::list_tenants, tenants::create_tenant, tenants::get_tenant, tenants::update_tenant, tenants::delete_tenant,
        tenants::list_users, tenants::create_user, tenants::get_user, tenants::update_user, tenants::delete_user,
        api_keys::list, api_keys::create, api_keys::get, api_keys::revoke, api_keys::rotate, api_keys::set_limits,
        byok::providers, byok::list, byok::set, byok::delete, byok::test, byok::stats,
        audit::events, admin::rotate_dek, admin::rotate_kek,
    ),
    tags(
        (name = "tenants", description = "Tenants and their users (platform admins; tenant admins for their own)"),
        (name = "api-keys", description = "Gateway API keys: the secret is shown once"),
        (name = "byok", description = "Bring-your-own provider keys, sealed under the tenant's data key"),
        (name = "audit", description = "Who changed which key, and when; never secrets"),
        (name = "admin", description = "Key rotation and crypto-shredding"),
    ),
    modifiers(&Examples)
)]
pub struct KeysApi;
