//! `/api/v1/tenants/{tenant_id}/api-keys`: gateway API keys.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use keyway_auth::{Limits, Role};

use keyway_common::api::{ApiJson, Page, PageParams, Path, Query};

use super::Principal;
use crate::{
    api_keys::{ApiKey, CreateApiKey, IssuedApiKey},
    authz,
    error::KeysError,
    service::KeyService,
};

type Svc = State<Arc<KeyService>>;

/// Lists API keys: tenant admins see all, members their own.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/api-keys", operation_id = "list_api_keys", tag = "api-keys", params(PageParams),
    responses((status = 200, body = Page<ApiKey>), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): Svc,
    p: Principal,
    Path(tenant_id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ApiKey>>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    authz::require(&p.caller, Role::Member, "list API keys")?;
    Ok(Json(s.api_keys().list(&p.caller, &tenant_id, &page).await?))
}

/// Issues a key. The secret is in the answer once and never again.
/// Service keys (no `user_id`) need tenant-admin; a user-bound key can be
/// created only by that user or a platform admin.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/api-keys", operation_id = "create_api_key", tag = "api-keys", request_body = CreateApiKey,
    responses((status = 201, body = IssuedApiKey), (status = 400), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn create(
    State(s): Svc,
    p: Principal,
    Path(tenant_id): Path<String>,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<IssuedApiKey>), KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    authz::require(&p.caller, Role::Member, "create API keys")?;
    Ok((
        StatusCode::CREATED,
        Json(s.api_keys().create(&p.meta, &p.caller, &tenant_id, req).await?),
    ))
}

/// Reads one key (never its secret).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/api-keys/{key_id}", operation_id = "get_api_key", tag = "api-keys",
    responses((status = 200, body = ApiKey), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn get(
    State(s): Svc,
    p: Principal,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<Json<ApiKey>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "api key")?;
    let key = s.api_keys().get(&tenant_id, &key_id).await?;
    if p.caller.role < Role::TenantAdmin && (key.user_id.is_none() || key.user_id != p.caller.user_id) {
        return Err(KeysError::NotFound("api key"));
    }
    Ok(Json(key))
}

/// Revokes a key; every gateway refuses it within about a second.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/api-keys/{key_id}", tag = "api-keys",
    responses((status = 204, description = "Revoked; the key stops working"), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(s): Svc,
    p: Principal,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<StatusCode, KeysError> {
    authz::scope(&p.caller, &tenant_id, "api key")?;
    authz::require(&p.caller, Role::Member, "revoke API keys")?;
    s.api_keys()
        .revoke(&p.meta, &p.caller, &tenant_id, &key_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new secret for the same key id; the old secret stops working.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/api-keys/{key_id}/rotate", tag = "api-keys",
    responses((status = 200, body = IssuedApiKey), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(crate) async fn rotate(
    State(s): Svc,
    p: Principal,
    Path((tenant_id, key_id)): Path<(String, String)>,
) -> Result<Json<IssuedApiKey>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "api key")?;
    authz::require(&p.caller, Role::Member, "rotate API keys")?;
    Ok(Json(
        s.api_keys()
            .rotate(&p.meta, &p.caller, &tenant_id, &key_id)
            .await?,
    ))
}

/// Replaces the key's rate limits and monthly budget (tenant admins). `{}`
/// removes them; the tenant's own limits still apply. Gateways pick the
/// change up at once through the key-change event.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant_id}/api-keys/{key_id}/limits", tag = "api-keys",
    request_body = Limits,
    responses((status = 200, body = ApiKey), (status = 400), (status = 403), (status = 404), (status = 409)),
    security(("bearer" = [])))]
pub(crate) async fn set_limits(
    State(s): Svc,
    p: Principal,
    Path((tenant_id, key_id)): Path<(String, String)>,
    ApiJson(limits): ApiJson<Limits>,
) -> Result<Json<ApiKey>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "api key")?;
    Ok(Json(
        s.api_keys()
            .set_limits(&p.meta, &p.caller, &tenant_id, &key_id, limits)
            .await?,
    ))
}
