//! `/api/v1/usage/webhooks`: signed webhooks that push a tenant's usage
//! events to a billing system. Tenant admins manage their tenant's; platform
//! admins any tenant's (`tenant_id`, as for the summary). Another tenant's
//! webhook is a 404 before any role check; members and viewers get 403.

use std::sync::Arc;

use axum::{Json, body::Bytes, extract::State, http::StatusCode};
use keyway_auth::{Caller, Role};
use keyway_common::api::{Page, PageError, PageParams, Path, Query, cursor::CursorError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Principal, Scope, UsageError, UsageState, require};
use crate::webhooks::registry::{self, Webhook};

const ACTION: &str = "manage usage webhooks";

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct TenantQuery {
    /// Platform admins: the tenant (default `platform`). Others may only
    /// name their own.
    tenant_id: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct ListQuery {
    /// Platform admins: one tenant (default all). Others may only name their own.
    tenant_id: Option<String>,
}

/// The name webhook-list cursors carry.
const LIST: &str = "webhooks";

/// The body of `POST /api/v1/usage/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateWebhook {
    /// An absolute http(s) URL without credentials. In production it must be
    /// https and must not resolve to a private, loopback or link-local address.
    url: String,
    /// Free text for the operators, up to 500 characters.
    description: Option<String>,
}

/// A webhook with its signing secret: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct WebhookWithSecret {
    #[serde(flatten)]
    webhook: Webhook,
    /// `whsec_…`: the HMAC-SHA256 key of `Keyway-Signature`. Store it now;
    /// it is never shown again (rotate to get a new one).
    signing_secret: String,
}

/// 404 unless the caller may see webhooks of `tenant` (and, when it named
/// one, that is the webhook's tenant); then 403 below tenant-admin.
fn authorize(caller: &Caller, named: Option<&str>, tenant: &str) -> Result<(), UsageError> {
    let visible = caller.role == Role::PlatformAdmin || caller.tenant_id == tenant;
    if !visible || named.is_some_and(|t| t != tenant) {
        return Err(UsageError::NotFound("webhook"));
    }
    require(caller, Role::TenantAdmin, ACTION)
}

async fn find(s: &UsageState, caller: &Caller, id: &str, named: Option<&str>) -> Result<Webhook, UsageError> {
    let id = Uuid::parse_str(id).map_err(|_| UsageError::NotFound("webhook"))?;
    let webhook = registry::get(&s.pool, id)
        .await?
        .ok_or(UsageError::NotFound("webhook"))?;
    authorize(caller, named, &webhook.tenant_id)?;
    Ok(webhook)
}

/// Registers a webhook. The answer carries the signing secret, once.
/// Delivery starts from the oldest event the ledger still holds.
#[utoipa::path(post, path = "/api/v1/usage/webhooks", operation_id = "create_webhook", tag = "usage", params(TenantQuery),
    request_body = CreateWebhook,
    responses((status = 201, body = WebhookWithSecret),
        (status = 400, description = "KW-USAGE-001: a body field is invalid; KW-USAGE-004: the URL is refused"),
        (status = 403, description = "KW-AUTH-003: below tenant-admin"),
        (status = 404, description = "KW-USAGE-002: another tenant"),
        (status = 409, description = "KW-USAGE-005: the tenant has the most webhooks allowed"),
        (status = 503, description = "KW-KMS-001: the secret could not be sealed")),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Query(q): Query<TenantQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<WebhookWithSecret>), UsageError> {
    let scope = Scope::of(&caller, q.tenant_id, false)?;
    require(&caller, Role::TenantAdmin, ACTION)?;
    let tenant = scope.tenant.ok_or(UsageError::NotFound("tenant"))?;
    let body: CreateWebhook = serde_json::from_slice(&body).map_err(|e| {
        UsageError::invalid(
            "body",
            format!("expected {{\"url\": \"https://…\", \"description\": \"…\"}}: {e}"),
        )
    })?;
    if body.url.len() > 2048 {
        return Err(UsageError::invalid("url", "must be at most 2048 characters"));
    }
    let description = body
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > 500) {
        return Err(UsageError::invalid(
            "description",
            "must be at most 500 characters",
        ));
    }
    // Only after authorization: an unauthorized caller must not be able to
    // make this process resolve names.
    let url = keyway_common::outbound::check_url(&body.url, s.webhooks.settings.policy)
        .await
        .map_err(|e| UsageError::UrlRefused(e.to_string()))?;
    let (webhook, secret) =
        registry::create(&s.pool, &s.webhooks, &tenant, url.as_str(), description).await?;
    let signing_secret = secret.expose().to_owned();
    Ok((
        StatusCode::CREATED,
        Json(WebhookWithSecret {
            webhook,
            signing_secret,
        }),
    ))
}

/// Lists webhooks with their delivery state (never their secrets).
#[utoipa::path(get, path = "/api/v1/usage/webhooks", operation_id = "list_webhooks", tag = "usage", params(ListQuery, PageParams),
    responses((status = 200, body = Page<Webhook>), (status = 400, description = "KW-USAGE-001, KW-REQ-002, KW-REQ-007"),
        (status = 403, description = "KW-AUTH-003"), (status = 404, description = "KW-USAGE-002: another tenant")),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Query(q): Query<ListQuery>,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<Webhook>>, UsageError> {
    let scope = Scope::of(&caller, q.tenant_id, true)?;
    require(&caller, Role::TenantAdmin, ACTION)?;
    let page = page.resolve(LIST)?;
    // Cursors carry ids this list wrote; one that is not a UUID was altered.
    let after = match page.after() {
        "" => None,
        id => Some(Uuid::parse_str(id).map_err(|_| PageError::Cursor(CursorError::Malformed))?),
    };
    let rows = registry::list(&s.pool, scope.tenant.as_deref(), after, page.fetch()).await?;
    Ok(Json(Page::from_rows(rows, &page, |w| w.id.to_string())))
}

/// Reads one webhook with its delivery state.
#[utoipa::path(get, path = "/api/v1/usage/webhooks/{id}", operation_id = "get_webhook", tag = "usage", params(TenantQuery,
        ("id" = String, Path, description = "The webhook id")),
    responses((status = 200, body = Webhook), (status = 403, description = "KW-AUTH-003"),
        (status = 404, description = "KW-USAGE-002: no such webhook, or another tenant's")),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Path(id): Path<String>,
    Query(q): Query<TenantQuery>,
) -> Result<Json<Webhook>, UsageError> {
    Ok(Json(find(&s, &caller, &id, q.tenant_id.as_deref()).await?))
}

/// Deletes a webhook. Its sealed secret and wrapped data key go with the
/// row, so the secret can never be recovered (crypto-shred), and its cursor
/// stops holding retention back.
#[utoipa::path(delete, path = "/api/v1/usage/webhooks/{id}", operation_id = "delete_webhook", tag = "usage", params(TenantQuery,
        ("id" = String, Path, description = "The webhook id")),
    responses((status = 204, description = "Deleted; deliveries stop"), (status = 403, description = "KW-AUTH-003"),
        (status = 404, description = "KW-USAGE-002")),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Path(id): Path<String>,
    Query(q): Query<TenantQuery>,
) -> Result<StatusCode, UsageError> {
    let webhook = find(&s, &caller, &id, q.tenant_id.as_deref()).await?;
    registry::delete(&s.pool, &s.webhooks, &webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the signing secret and returns the new one, once. Deliveries
/// from now on are signed with it; until the receiver has it they fail
/// verification and are retried, so no event is lost.
#[utoipa::path(post, path = "/api/v1/usage/webhooks/{id}/rotate-secret", tag = "usage", params(TenantQuery,
        ("id" = String, Path, description = "The webhook id")),
    responses((status = 200, body = WebhookWithSecret), (status = 403, description = "KW-AUTH-003"),
        (status = 404, description = "KW-USAGE-002"),
        (status = 409, description = "KW-USAGE-003: rotated concurrently; retry"),
        (status = 503, description = "KW-KMS-001")),
    security(("bearer" = [])))]
pub(crate) async fn rotate_secret(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Path(id): Path<String>,
    Query(q): Query<TenantQuery>,
) -> Result<Json<WebhookWithSecret>, UsageError> {
    let webhook = find(&s, &caller, &id, q.tenant_id.as_deref()).await?;
    let (webhook, secret) = registry::rotate(&s.pool, &s.webhooks, &webhook).await?;
    let signing_secret = secret.expose().to_owned();
    Ok(Json(WebhookWithSecret {
        webhook,
        signing_secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(tenant: &str, role: Role) -> Caller {
        Caller::in_tenant(tenant, role)
    }

    #[test]
    fn another_tenant_is_not_found_before_the_role_is_checked() {
        let code = |r: Result<(), UsageError>| r.err().map(|e| e.code());
        assert_eq!(code(authorize(&caller("a", Role::TenantAdmin), None, "a")), None);
        assert_eq!(
            code(authorize(&caller("a", Role::Member), None, "b")),
            Some("KW-USAGE-002")
        );
        assert_eq!(
            code(authorize(&caller("a", Role::Viewer), None, "a")),
            Some("KW-AUTH-003")
        );
        assert_eq!(code(authorize(&Caller::platform_admin(), None, "b")), None);
        assert_eq!(
            code(authorize(&Caller::platform_admin(), Some("c"), "b")),
            Some("KW-USAGE-002")
        );
    }
}
