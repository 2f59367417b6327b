//! Registered export cursors: a billing consumer records how far it has
//! read the export (`PUT /api/v1/usage/cursors/{name}` with `{cursor}`, an
//! export cursor as `/api/v1/usage/events` hands out), and
//! retention never deletes a ledger row such a cursor has not passed. A
//! cursor belongs to one tenant, or (platform admins) to all tenants, and
//! only moves forward. Names are unique per tenant, not globally, so no
//! answer depends on another tenant's names.

use std::sync::Arc;

use axum::{Json, body::Bytes, extract::State, http::StatusCode};
use keyway_auth::{Caller, Role};
use keyway_common::api::{Page, PageError, PageParams, Path, Query};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use super::{Principal, UsageError, UsageState, require};
use crate::export;

/// The name cursor-list cursors carry (pages of this list, not export
/// positions).
const LIST: &str = "usage-cursors";

/// The body of `PUT /api/v1/usage/cursors/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutCursor {
    /// How far the consumer has read: a `next_cursor` or `resume_cursor` of
    /// `/api/v1/usage/events`. A bare ledger position from an older release
    /// (a string or a number) is still accepted.
    #[schema(value_type = String)]
    cursor: serde_json::Value,
    /// Platform admins: the tenant this consumer reads (omit or null for all
    /// tenants). Others: omit, or their own tenant.
    tenant_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, FromRow)]
pub(crate) struct ExportCursor {
    name: String,
    /// The tenant the consumer reads; null for all tenants.
    tenant_id: Option<String>,
    /// How far it has read, as an export cursor: pass it as `cursor` to
    /// `/api/v1/usage/events` to resume there. Events up to here may be pruned.
    #[sqlx(rename = "ledger_seq")]
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::export::as_cursor")]
    cursor: i64,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

impl ExportCursor {
    /// The list's sort key: names first, then the tenant (`""` for the
    /// all-tenant cursors), as the primary key `(scope, name)` is unique.
    fn key(&self) -> String {
        format!("{}\n{}", self.name, self.tenant_id.as_deref().unwrap_or(""))
    }
}

fn valid_name(name: &str) -> Result<(), UsageError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(UsageError::invalid(
            "name",
            "must be 1-64 characters of [A-Za-z0-9._-]",
        ))
    }
}

/// The tenant whose cursor names a request addresses: cursor names are per
/// tenant, so the name alone never says anything about another tenant's
/// cursors. Platform admins pick any tenant, or `None` for the all-tenant
/// cursors; others may only name their own tenant (another is a 404, as
/// everywhere in this API).
fn namespace(caller: &Caller, named: Option<String>) -> Result<Option<String>, UsageError> {
    match named {
        Some(t) if t.trim().is_empty() => Err(UsageError::invalid("tenant_id", "must not be empty")),
        named if caller.role == Role::PlatformAdmin => Ok(named),
        Some(t) if t != caller.tenant_id => Err(UsageError::NotFound("tenant")),
        _ => Ok(Some(caller.tenant_id.clone())),
    }
}

/// Lists the export cursors the caller may see, by name.
#[utoipa::path(get, path = "/api/v1/usage/cursors", operation_id = "list_cursors", tag = "usage", params(PageParams),
    responses((status = 200, body = Page<ExportCursor>)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Query(page): Query<PageParams>,
) -> Result<Json<Page<ExportCursor>>, UsageError> {
    let page = page.resolve(LIST)?;
    let tenant = (caller.role != Role::PlatformAdmin).then(|| caller.tenant_id.clone());
    let (name, scope) = page.after().split_once('\n').unwrap_or((page.after(), ""));
    let rows = sqlx::query_as(
        "SELECT name, tenant_id, ledger_seq, updated_at FROM usage_export_cursors
         WHERE ($1::text IS NULL OR tenant_id = $1) AND (name, scope) > ($2, $3)
         ORDER BY name, scope LIMIT $4",
    )
    .bind(tenant)
    .bind(name)
    .bind(scope)
    .bind(page.fetch())
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(Page::from_rows(rows, &page, ExportCursor::key)))
}

/// Registers a billing consumer's cursor, or advances it (it never moves
/// back). Names are per tenant: two tenants may each have a cursor of the
/// same name. Tenant admins for their tenant; platform admins for any
/// tenant (`tenant_id`) or, without one, all tenants.
#[utoipa::path(put, path = "/api/v1/usage/cursors/{name}", tag = "usage", request_body = PutCursor,
    params(("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The consumer's name, 1-64 of [A-Za-z0-9._-], unique per tenant")),
    responses((status = 200, body = ExportCursor),
        (status = 400, description = "KW-USAGE-001; KW-REQ-002 for the retired `after`; KW-REQ-007 for a cursor the export did not hand out"),
        (status = 403), (status = 404, description = "KW-USAGE-002: another tenant's `tenant_id`")),
    security(("bearer" = [])))]
pub(crate) async fn put(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<ExportCursor>, UsageError> {
    valid_name(&name)?;
    let body = parse_body(&body)?;
    let tenant = namespace(&caller, body.tenant_id)?;
    require(&caller, Role::TenantAdmin, "register usage export cursors")?;
    let after = match &body.cursor {
        serde_json::Value::String(raw) if raw.trim().is_empty() => 0,
        serde_json::Value::String(raw) => export::position_of(raw)?,
        serde_json::Value::Number(n) => export::position_of(&n.to_string())?,
        _ => {
            return Err(UsageError::invalid(
                "cursor",
                "must be a cursor string from the export",
            ));
        }
    };
    let head = export::export_head(&s.pool).await?;
    if after > head {
        return Err(UsageError::invalid(
            "cursor",
            "points past the export's last event; register a cursor the export handed out",
        ));
    }
    let saved: ExportCursor = sqlx::query_as(
        "INSERT INTO usage_export_cursors AS c (name, tenant_id, ledger_seq) VALUES ($1, $2, $3)
         ON CONFLICT (scope, name) DO UPDATE SET ledger_seq = GREATEST(c.ledger_seq, EXCLUDED.ledger_seq), updated_at = now()
         RETURNING name, tenant_id, ledger_seq, updated_at",
    )
    .bind(&name)
    .bind(&tenant)
    .bind(after)
    .fetch_one(&s.pool)
    .await?;
    Ok(Json(saved))
}

/// The body, refusing the retired `after` by name: silently ignoring it
/// would be worse than an error, and `deny_unknown_fields` alone would not
/// say what replaced it.
fn parse_body(body: &[u8]) -> Result<PutCursor, UsageError> {
    let expected = |e: serde_json::Error| {
        UsageError::invalid("body", format!("expected {{\"cursor\": \"<cursor>\"}}: {e}"))
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(expected)?;
    if value.get("after").is_some() {
        return Err(PageError::Renamed.into());
    }
    serde_json::from_value(value).map_err(expected)
}

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct DeleteQuery {
    /// Platform admins: the tenant whose cursor this is (omit for an
    /// all-tenant cursor). Others may only name their own.
    tenant_id: Option<String>,
}

/// Unregisters a billing consumer, releasing what it held back from retention.
#[utoipa::path(delete, path = "/api/v1/usage/cursors/{name}", operation_id = "delete_cursor", tag = "usage",
    params(DeleteQuery, ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The consumer's name")),
    responses((status = 204, description = "Deleted; retention no longer waits for it"), (status = 403), (status = 404, description = "KW-USAGE-002: no such cursor in the tenant")),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<StatusCode, UsageError> {
    let tenant = namespace(&caller, q.tenant_id)?;
    // The role first: whether a name exists is for those who may delete it.
    require(&caller, Role::TenantAdmin, "delete usage export cursors")?;
    let deleted =
        sqlx::query("DELETE FROM usage_export_cursors WHERE scope = COALESCE($1, '') AND name = $2")
            .bind(tenant)
            .bind(&name)
            .execute(&s.pool)
            .await?
            .rows_affected();
    if deleted == 0 {
        return Err(UsageError::NotFound("usage cursor"));
    }
    Ok(StatusCode::NO_CONTENT)
}
