//! `/api/v1/tenants` and `/api/v1/tenants/{tenant_id}/users`.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use keyway_auth::Role;

use keyway_common::api::{ApiJson, Page, PageParams, Path, Query};

use super::Principal;
use crate::{
    authz,
    error::KeysError,
    service::KeyService,
    tenants::{CreateTenant, Tenant, UpdateTenant},
    users::{CreateUser, UpdateUser, User},
};

type Svc = State<Arc<KeyService>>;

/// Lists tenants (platform admins).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants", params(PageParams),
    responses((status = 200, body = Page<Tenant>), (status = 403)), security(("bearer" = [])))]
pub(crate) async fn list_tenants(
    State(s): Svc,
    p: Principal,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Tenant>>, KeysError> {
    authz::require(&p.caller, Role::PlatformAdmin, "list tenants")?;
    Ok(Json(s.tenants().list(&page).await?))
}

/// Creates a tenant (platform admins).
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 400), (status = 403), (status = 409)), security(("bearer" = [])))]
pub(crate) async fn create_tenant(
    State(s): Svc,
    p: Principal,
    ApiJson(req): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), KeysError> {
    authz::require(&p.caller, Role::PlatformAdmin, "create tenants")?;
    Ok((StatusCode::CREATED, Json(s.tenants().create(&p.meta, req).await?)))
}

/// Reads a tenant: platform admins any, everyone else their own.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}", tag = "tenants",
    responses((status = 200, body = Tenant), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn get_tenant(
    State(s): Svc,
    p: Principal,
    Path(tenant_id): Path<String>,
) -> Result<Json<Tenant>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    Ok(Json(s.tenants().get(&tenant_id).await?))
}

/// Updates name, plan, external_id or limits (platform admins). `limits`
/// replaces the tenant's rate limits and monthly budget as a whole.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}", tag = "tenants", request_body = UpdateTenant,
    responses((status = 200, body = Tenant), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(crate) async fn update_tenant(
    State(s): Svc,
    p: Principal,
    Path(tenant_id): Path<String>,
    ApiJson(patch): ApiJson<UpdateTenant>,
) -> Result<Json<Tenant>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    authz::require(&p.caller, Role::PlatformAdmin, "change tenants")?;
    Ok(Json(s.tenants().update(&p.meta, &tenant_id, patch).await?))
}

/// Deletes a tenant and crypto-shreds its secrets (platform admins).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}", tag = "tenants",
    responses((status = 204, description = "Deleted, with its users, keys and secrets"), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn delete_tenant(
    State(s): Svc,
    p: Principal,
    Path(tenant_id): Path<String>,
) -> Result<StatusCode, KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    authz::require(&p.caller, Role::PlatformAdmin, "delete tenants")?;
    s.tenants().delete(&p.meta, &tenant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lists the tenant's users.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users", tag = "tenants", params(PageParams),
    responses((status = 200, body = Page<User>), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn list_users(
    State(s): Svc,
    p: Principal,
    Path(tenant_id): Path<String>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<User>>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    Ok(Json(s.users().list(&tenant_id, &page).await?))
}

/// Creates a user (tenant admins); the role defaults to `member`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/users", tag = "tenants", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403), (status = 404), (status = 409)), security(("bearer" = [])))]
pub(crate) async fn create_user(
    State(s): Svc,
    p: Principal,
    Path(tenant_id): Path<String>,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), KeysError> {
    authz::scope(&p.caller, &tenant_id, "tenant")?;
    authz::require(&p.caller, Role::TenantAdmin, "create users")?;
    Ok((
        StatusCode::CREATED,
        Json(s.users().create(&p.meta, &p.caller, &tenant_id, req).await?),
    ))
}

/// Reads a user of the tenant.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/users/{user_id}", tag = "tenants",
    responses((status = 200, body = User), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn get_user(
    State(s): Svc,
    p: Principal,
    Path((tenant_id, user_id)): Path<(String, String)>,
) -> Result<Json<User>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "user")?;
    Ok(Json(s.users().get(&tenant_id, &user_id).await?))
}

/// Updates a user: profile, role (never above the caller's) or status.
/// Disabling a user stops their API keys and BYOK keys.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/users/{user_id}", tag = "tenants", request_body = UpdateUser,
    responses((status = 200, body = User), (status = 403), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn update_user(
    State(s): Svc,
    p: Principal,
    Path((tenant_id, user_id)): Path<(String, String)>,
    ApiJson(patch): ApiJson<UpdateUser>,
) -> Result<Json<User>, KeysError> {
    authz::scope(&p.caller, &tenant_id, "user")?;
    // Another tenant's user id is a 404 before any role check (docs/security.md §6).
    s.users().get(&tenant_id, &user_id).await?;
    authz::require(&p.caller, Role::TenantAdmin, "change users")?;
    Ok(Json(
        s.users()
            .update(&p.meta, &p.caller, &tenant_id, &user_id, patch)
            .await?,
    ))
}

/// Deletes a user, with their API keys and BYOK keys.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/users/{user_id}", tag = "tenants",
    responses((status = 204, description = "Deleted, with the user's API keys and BYOK keys"), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn delete_user(
    State(s): Svc,
    p: Principal,
    Path((tenant_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode, KeysError> {
    authz::scope(&p.caller, &tenant_id, "user")?;
    // Another tenant's user id is a 404 before any role check (docs/security.md §6).
    s.users().get(&tenant_id, &user_id).await?;
    authz::require(&p.caller, Role::TenantAdmin, "delete users")?;
    s.users().delete(&p.meta, &tenant_id, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
