//! `GET /api/v1/audit/events`: the key-change history from the event store —
//! actor, action, target and time. Payloads are never returned, so no secret
//! (sealed or hashed) leaves through this route.

use std::sync::Arc;

use axum::{Json, extract::State};
use keyway_auth::Role;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

use keyway_common::api::Query;

use super::Principal;
use crate::{authz, error::KeysError, service::KeyService};

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct AuditQuery {
    /// The `next_cursor` of the previous page.
    after: Option<i64>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// Platform admins: one tenant (default all).
    tenant_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEvent {
    pub(crate) position: i64,
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) actor: String,
    /// e.g. `api_key.revoked`.
    pub(crate) action: String,
    /// The changed record, e.g. `api_key:<id>`.
    pub(crate) target: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) time: OffsetDateTime,
    pub(crate) request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditPage {
    pub(crate) events: Vec<AuditEvent>,
    pub(crate) next_cursor: Option<i64>,
}

/// Lists key changes: platform admins any tenant, tenant admins their own,
/// members only their own actions.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 403)), security(("bearer" = [])))]
pub(crate) async fn events(
    State(s): State<Arc<KeyService>>,
    p: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<AuditPage>, KeysError> {
    authz::require(&p.caller, Role::Member, "read the audit log")?;
    let limit = match q.limit {
        None => 100,
        Some(n @ 1..=500) => n,
        Some(n) => {
            return Err(KeysError::Invalid(format!(
                "limit must be between 1 and 500, got {n}"
            )));
        }
    };
    let tenant = match (p.caller.role, q.tenant_id) {
        (Role::PlatformAdmin, t) => t,
        (_, Some(t)) => {
            authz::scope(&p.caller, &t, "tenant")?;
            Some(t)
        }
        (_, None) => Some(p.caller.tenant_id.clone()),
    };
    let only_actor = (p.caller.role < Role::TenantAdmin).then(|| p.meta.actor.clone());
    let rows = sqlx::query(
        "SELECT position, event_id, tenant_id, actor, event_type, stream_id, occurred_at, request_id FROM key_events
         WHERE position > $1 AND ($2::text IS NULL OR tenant_id = $2) AND ($3::text IS NULL OR actor = $3)
         ORDER BY position LIMIT $4",
    )
    .bind(q.after.unwrap_or(0))
    .bind(tenant)
    .bind(only_actor)
    .bind(limit + 1)
    .fetch_all(s.pool())
    .await?;
    let mut events: Vec<AuditEvent> = rows
        .into_iter()
        .map(|r| AuditEvent {
            position: r.get("position"),
            id: r.get::<uuid::Uuid, _>("event_id").to_string(),
            tenant_id: r.get("tenant_id"),
            actor: r.get("actor"),
            action: r.get("event_type"),
            target: r.get("stream_id"),
            time: r.get("occurred_at"),
            request_id: r.get("request_id"),
        })
        .collect();
    let next_cursor = if events.len() as i64 > limit {
        events.truncate(limit as usize);
        events.last().map(|e| e.position)
    } else {
        None
    };
    Ok(Json(AuditPage { events, next_cursor }))
}
