//! Registered export cursors: a billing consumer records how far it has
//! read the export (`PUT /api/v1/usage/cursors/{name}` with `{after}`), and
//! retention never deletes a ledger row such a cursor has not passed. A
//! cursor belongs to one tenant, or (platform admins) to all tenants, and
//! only moves forward.

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
};
use keyway_auth::{Caller, Role};
use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{Principal, UsageError, UsageState, export, require};

/// The body of `PUT /api/v1/usage/cursors/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutCursor {
    /// A `next_cursor` from the export (a string; a bare number is accepted).
    #[schema(value_type = String)]
    after: serde_json::Value,
    /// Platform admins: the tenant this consumer reads (omit or null for all
    /// tenants). Others: omit, or their own tenant.
    tenant_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema, FromRow)]
pub(crate) struct ExportCursor {
    name: String,
    /// The tenant the consumer reads; null for all tenants.
    tenant_id: Option<String>,
    /// How far it has read: events up to here may be pruned.
    #[sqlx(rename = "ledger_seq")]
    #[schema(value_type = String)]
    #[serde(serialize_with = "as_string")]
    after: i64,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

fn as_string<S: serde::Serializer>(n: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(n)
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CursorList {
    data: Vec<ExportCursor>,
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

/// 404 unless the caller may see a cursor of `tenant` (None = all tenants).
fn scope(caller: &Caller, tenant: Option<&str>) -> Result<(), UsageError> {
    if caller.role == Role::PlatformAdmin || tenant == Some(caller.tenant_id.as_str()) {
        Ok(())
    } else {
        Err(UsageError::NotFound("usage cursor"))
    }
}

async fn existing(s: &UsageState, name: &str) -> Result<Option<Option<String>>, UsageError> {
    Ok(
        sqlx::query_scalar("SELECT tenant_id FROM usage_export_cursors WHERE name = $1")
            .bind(name)
            .fetch_optional(&s.pool)
            .await?,
    )
}

/// Lists the export cursors the caller may see.
#[utoipa::path(get, path = "/api/v1/usage/cursors", tag = "usage",
    responses((status = 200, body = CursorList)), security(("bearer" = [])))]
pub(crate) async fn list(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
) -> Result<Json<CursorList>, UsageError> {
    let tenant = (caller.role != Role::PlatformAdmin).then(|| caller.tenant_id.clone());
    let data = sqlx::query_as(
        "SELECT name, tenant_id, ledger_seq, updated_at FROM usage_export_cursors
         WHERE $1::text IS NULL OR tenant_id = $1 ORDER BY name",
    )
    .bind(tenant)
    .fetch_all(&s.pool)
    .await?;
    Ok(Json(CursorList { data }))
}

/// Registers a billing consumer's cursor, or advances it (it never moves
/// back). Tenant admins for their tenant; platform admins for any or all.
#[utoipa::path(put, path = "/api/v1/usage/cursors/{name}", tag = "usage", request_body = PutCursor,
    params(("name" = String, Path, description = "The consumer's name, 1-64 of [A-Za-z0-9._-]")),
    responses((status = 200, body = ExportCursor), (status = 400, description = "KW-USAGE-001"),
        (status = 403), (status = 404, description = "KW-USAGE-002: another tenant's cursor"),
        (status = 409, description = "KW-USAGE-003: the cursor reads another scope")),
    security(("bearer" = [])))]
pub(crate) async fn put(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<ExportCursor>, UsageError> {
    valid_name(&name)?;
    let old = existing(&s, &name).await?;
    if let Some(tenant) = &old {
        scope(&caller, tenant.as_deref())?;
    }
    let body: PutCursor = serde_json::from_slice(&body)
        .map_err(|e| UsageError::invalid("body", format!("expected {{\"after\": \"<cursor>\"}}: {e}")))?;
    let tenant = match (caller.role, body.tenant_id, &old) {
        (_, Some(t), _) if t.trim().is_empty() => {
            return Err(UsageError::invalid("tenant_id", "must not be empty"));
        }
        (Role::PlatformAdmin, Some(t), _) => Some(t),
        (Role::PlatformAdmin, None, Some(old)) => old.clone(),
        (Role::PlatformAdmin, None, None) => None,
        (_, Some(t), _) if t != caller.tenant_id => return Err(UsageError::NotFound("tenant")),
        (_, _, _) => Some(caller.tenant_id.clone()),
    };
    require(&caller, Role::TenantAdmin, "register usage export cursors")?;
    let after = match &body.after {
        serde_json::Value::String(raw) => export::parse_cursor("after", Some(raw))?,
        serde_json::Value::Number(n) => export::parse_cursor("after", Some(&n.to_string()))?,
        _ => {
            return Err(UsageError::invalid(
                "after",
                "must be a cursor string from the export",
            ));
        }
    };
    let head = export::export_head(&s.pool).await?;
    if after > head {
        return Err(UsageError::invalid(
            "after",
            format!("{after} is beyond the export's last event ({head})"),
        ));
    }
    let saved: Option<ExportCursor> = sqlx::query_as(
        "INSERT INTO usage_export_cursors AS c (name, tenant_id, ledger_seq) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET ledger_seq = GREATEST(c.ledger_seq, EXCLUDED.ledger_seq), updated_at = now()
         WHERE c.tenant_id IS NOT DISTINCT FROM EXCLUDED.tenant_id
         RETURNING name, tenant_id, ledger_seq, updated_at",
    )
    .bind(&name)
    .bind(&tenant)
    .bind(after)
    .fetch_optional(&s.pool)
    .await?;
    saved.map(Json).ok_or_else(|| {
        UsageError::Conflict(format!(
            "the cursor {name:?} reads another tenant scope; delete it or use another name"
        ))
    })
}

/// Unregisters a billing consumer, releasing what it held back from retention.
#[utoipa::path(delete, path = "/api/v1/usage/cursors/{name}", tag = "usage",
    params(("name" = String, Path, description = "The consumer's name")),
    responses((status = 204), (status = 403), (status = 404, description = "KW-USAGE-002")),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Path(name): Path<String>,
) -> Result<StatusCode, UsageError> {
    let Some(tenant) = existing(&s, &name).await? else {
        return Err(UsageError::NotFound("usage cursor"));
    };
    scope(&caller, tenant.as_deref())?;
    require(&caller, Role::TenantAdmin, "delete usage export cursors")?;
    sqlx::query("DELETE FROM usage_export_cursors WHERE name = $1 AND tenant_id IS NOT DISTINCT FROM $2")
        .bind(&name)
        .bind(tenant)
        .execute(&s.pool)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
