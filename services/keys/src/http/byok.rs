//! `/api/v1/byok/*`: the caller's tenant or user provider keys. Platform
//! admins name a tenant with `tenant_id`; everyone else acts on their own.

use std::sync::Arc;

use axum::{Json, extract::State, http::StatusCode};
use keyway_auth::Role;
use serde::Deserialize;
use utoipa::IntoParams;

use keyway_common::api::{ApiJson, Page, PageParams, Path, Query};

use super::Principal;
use crate::{
    authz,
    byok::{ByokKey, ByokStats, ByokTestResult, SetByokKey, owner_for},
    error::KeysError,
    providers::{PROVIDERS, Provider},
    service::KeyService,
};

type Svc = State<Arc<KeyService>>;

#[derive(Debug, Default, Deserialize, IntoParams)]
pub(crate) struct ByokQuery {
    /// `tenant` or `user`; defaults to `user` for a user-bound caller, else `tenant`.
    #[param(value_type = Option<crate::schema_names::ByokScope>, inline)]
    scope: Option<String>,
    /// Platform admins only: the tenant to act on.
    tenant_id: Option<String>,
}

/// The query of the list, which shows both scopes.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub(crate) struct ListQuery {
    /// Platform admins only: the tenant to list.
    tenant_id: Option<String>,
}

fn tenant_of(p: &Principal, named: Option<&str>) -> Result<String, KeysError> {
    match named {
        Some(t) => {
            authz::scope(&p.caller, t, "tenant")?;
            Ok(t.to_owned())
        }
        None => Ok(p.caller.tenant_id.clone()),
    }
}

/// The supported providers, with key-format hints: a fixed catalogue,
/// returned whole rather than paged.
#[utoipa::path(get, path = "/api/v1/byok/providers", tag = "byok",
    responses((status = 200, body = Vec<Provider>)), security(("bearer" = [])))]
pub(crate) async fn providers(_p: Principal) -> Json<&'static [Provider]> {
    Json(PROVIDERS)
}

/// The tenant's keys and the caller's own user keys, masked, oldest first.
#[utoipa::path(get, path = "/api/v1/byok/keys", operation_id = "list_byok_keys", tag = "byok", params(ListQuery, PageParams),
    responses((status = 200, body = Page<ByokKey>)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): Svc,
    p: Principal,
    Query(q): Query<ListQuery>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ByokKey>>, KeysError> {
    let tenant = tenant_of(&p, q.tenant_id.as_deref())?;
    Ok(Json(s.byok().list(&tenant, &p.caller, &page).await?))
}

/// Adds or replaces the key for a provider. Needs the `starter` plan or above.
/// `base_url` is accepted only for `custom-<name>` providers.
#[utoipa::path(put, path = "/api/v1/byok/keys/{provider}", tag = "byok", params(ByokQuery), request_body = SetByokKey,
    responses((status = 200, body = ByokKey), (status = 400), (status = 403, description = "Role, or plan `free` (KW-PLAN-001)")),
    security(("bearer" = [])))]
pub(crate) async fn set(
    State(s): Svc,
    p: Principal,
    Path(provider): Path<String>,
    Query(q): Query<ByokQuery>,
    ApiJson(mut req): ApiJson<SetByokKey>,
) -> Result<Json<ByokKey>, KeysError> {
    let tenant = tenant_of(&p, q.tenant_id.as_deref())?;
    let owner = owner_for(&p.caller, req.scope.take().as_deref().or(q.scope.as_deref()))?;
    Ok(Json(s.byok().set(&p.meta, &tenant, owner, &provider, req).await?))
}

/// Deletes the key; gateways stop using it within about a second.
#[utoipa::path(delete, path = "/api/v1/byok/keys/{provider}", operation_id = "delete_byok_key", tag = "byok", params(ByokQuery),
    responses((status = 204, description = "Deleted; the sealed key is gone"), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn delete(
    State(s): Svc,
    p: Principal,
    Path(provider): Path<String>,
    Query(q): Query<ByokQuery>,
) -> Result<StatusCode, KeysError> {
    let tenant = tenant_of(&p, q.tenant_id.as_deref())?;
    let owner = owner_for(&p.caller, q.scope.as_deref())?;
    s.byok().delete(&p.meta, &tenant, owner, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the stored key against the provider's own validation endpoint.
#[utoipa::path(post, path = "/api/v1/byok/keys/{provider}/test", tag = "byok", params(ByokQuery),
    responses((status = 200, body = ByokTestResult), (status = 404)), security(("bearer" = [])))]
pub(crate) async fn test(
    State(s): Svc,
    p: Principal,
    Path(provider): Path<String>,
    Query(q): Query<ByokQuery>,
) -> Result<Json<ByokTestResult>, KeysError> {
    let tenant = tenant_of(&p, q.tenant_id.as_deref())?;
    let owner = owner_for(&p.caller, q.scope.as_deref())?;
    Ok(Json(s.byok().test(&tenant, owner, &provider).await?))
}

/// How many keys the tenant holds, by scope and provider.
#[utoipa::path(get, path = "/api/v1/byok/stats", tag = "byok", params(ByokQuery),
    responses((status = 200, body = ByokStats)), security(("bearer" = [])))]
pub(crate) async fn stats(
    State(s): Svc,
    p: Principal,
    Query(q): Query<ByokQuery>,
) -> Result<Json<ByokStats>, KeysError> {
    let tenant = tenant_of(&p, q.tenant_id.as_deref())?;
    authz::require(&p.caller, Role::Viewer, "read BYOK stats")?;
    Ok(Json(s.byok().stats(&tenant).await?))
}
