//! Internal routes for gateways running apart from the key service
//! (`keyway run gateway` with `KEYWAY_KEYS_URL`). They answer the same two
//! questions the in-process gateway asks — who holds this key, and which
//! provider key applies — and are mounted only when `KEYWAY_INTERNAL_TOKEN`
//! is set. Every call must present that token; it is compared in constant
//! time. Run them only on the internal network (or behind mTLS).

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use keyway_auth::{AuthError, Caller, KeyScope, secrets_equal};
use keyway_proto::internal::{
    AUTHENTICATE_PATH, AuthenticateRequest, PROVIDER_KEY_PATH, ProviderKeyResponse, SCOPE_TENANT, SCOPE_USER,
    TOKEN_HEADER,
};
use serde_json::json;

use crate::{
    error::{IdentityRefusal, KeysError},
    service::KeyService,
};

type ProviderKeyRequest = keyway_proto::internal::ProviderKeyRequest<Caller>;

#[derive(Clone)]
struct Internal {
    service: Arc<KeyService>,
    token: Arc<str>,
}

pub fn router(service: Arc<KeyService>, token: &str) -> Router {
    Router::new()
        .route(AUTHENTICATE_PATH, post(authenticate))
        .route(PROVIDER_KEY_PATH, post(provider_key))
        .with_state(Internal {
            service,
            token: token.into(),
        })
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(TOKEN_HEADER)
        .is_some_and(|v| secrets_equal(v.as_bytes(), token.as_bytes()))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message}}))).into_response()
}

/// A 401 the remote gateway tells apart by its code (`RemoteKeys`).
fn unconfirmed() -> Response {
    let body = json!({"error": {"message": "identity not confirmed recently enough",
        "code": keyway_common::codes::AUTH_IDENTITY_UNCONFIRMED}});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

async fn authenticate(
    State(s): State<Internal>,
    headers: HeaderMap,
    Json(req): Json<AuthenticateRequest>,
) -> Response {
    if !authorized(&headers, &s.token) {
        return refuse(StatusCode::UNAUTHORIZED, "internal token required");
    }
    match s.service.api_keys().verify(&req.key).await {
        Ok(caller) => Json(caller).into_response(),
        Err(AuthError::Unavailable) => {
            refuse(StatusCode::SERVICE_UNAVAILABLE, "credential store unavailable")
        }
        Err(AuthError::Missing | AuthError::Invalid) => refuse(StatusCode::UNAUTHORIZED, "invalid key"),
        Err(AuthError::IdentityUnconfirmed) => unconfirmed(),
    }
}

async fn provider_key(
    State(s): State<Internal>,
    headers: HeaderMap,
    Json(req): Json<ProviderKeyRequest>,
) -> Response {
    if !authorized(&headers, &s.token) {
        return refuse(StatusCode::UNAUTHORIZED, "internal token required");
    }
    let scope = match req.scope.as_str() {
        SCOPE_USER => KeyScope::User,
        SCOPE_TENANT => KeyScope::Tenant,
        _ => return refuse(StatusCode::BAD_REQUEST, "scope must be user or tenant"),
    };
    match s.service.byok().resolve(&req.caller, scope, &req.provider).await {
        Ok(Some(key)) => Json(ProviderKeyResponse {
            secret: key.secret.to_string(),
            base_url: key.base_url,
        })
        .into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no key"),
        Err(KeysError::Identity(IdentityRefusal::Unconfirmed)) => unconfirmed(),
        Err(KeysError::Identity(IdentityRefusal::Inactive)) => {
            refuse(StatusCode::UNAUTHORIZED, "invalid key")
        }
        Err(e) => {
            tracing::error!(error = %e, "internal provider-key resolution failed");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "credential store unavailable")
        }
    }
}
