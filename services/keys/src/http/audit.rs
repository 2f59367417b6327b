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

use keyway_common::api::{LogPage, LogParams, Query};

use super::Principal;
use crate::{authz, error::KeysError, service::KeyService};

/// The name audit cursors carry.
const LIST: &str = "audit-events";

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct AuditQuery {
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

/// Lists key changes: platform admins any tenant, tenant admins their own,
/// members only their own actions.
#[utoipa::path(get, path = "/api/v1/audit/events", operation_id = "list_audit_events", tag = "audit", params(AuditQuery, LogParams),
    responses((status = 200, body = LogPage<AuditEvent>), (status = 403)), security(("bearer" = [])))]
pub(crate) async fn events(
    State(s): State<Arc<KeyService>>,
    p: Principal,
    Query(q): Query<AuditQuery>,
    Query(page): Query<LogParams>,
) -> Result<Json<LogPage<AuditEvent>>, KeysError> {
    authz::require(&p.caller, Role::Member, "read the audit log")?;
    let page = page.resolve(LIST)?;
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
    .bind(page.after)
    .bind(tenant)
    .bind(only_actor)
    .bind(page.fetch())
    .fetch_all(s.pool())
    .await?;
    let events: Vec<AuditEvent> = rows
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
    Ok(Json(LogPage::from_rows(events, &page, |e| e.position)))
}
