//! `GET /api/v1/usage/events`: the ledger as CloudEvents JSON, in ledger
//! order — a log under the shared pagination contract (`limit`, an opaque
//! `cursor`, `next_cursor` and `resume_cursor`). The query and its
//! visibility rule are the domain's (`crate::export`).

use std::sync::Arc;

use axum::{Json, extract::State};
use keyway_common::api::{LogPage, LogParams, Query};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Principal, UsageError, UsageState};
use crate::{
    export::{self, CloudEvent, read_page},
    scope::Scope,
};

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct EventsQuery {
    /// Platform admins: one tenant (default all). Others may only name their own.
    tenant_id: Option<String>,
}

/// Pages through usage events in ledger order: platform admins any or all
/// tenants, tenant admins and viewers their tenant, members their own.
/// At the end (`next_cursor` null), poll with `resume_cursor` for events
/// that arrive later. A bare-number cursor from an older release is still
/// read as the ledger position it names.
#[utoipa::path(get, path = "/api/v1/usage/events", operation_id = "export_usage_events", tag = "usage", params(EventsQuery, LogParams),
    responses((status = 200, body = LogPage<CloudEvent>),
        (status = 400, description = "KW-REQ-002: `limit` out of range; KW-REQ-007: a cursor this list did not hand out"),
        (status = 404, description = "KW-USAGE-002: another tenant")),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Query(q): Query<EventsQuery>,
    Query(page): Query<LogParams>,
) -> Result<Json<LogPage<CloudEvent>>, UsageError> {
    let scope = Scope::of(&caller, q.tenant_id, true)?;
    let request = page.resolve_with(export::LIST, export::position_of)?;
    let page = read_page(&s.pool, &scope, request.after, request.limit).await?;
    Ok(Json(LogPage::new(
        page.events,
        &request,
        page.last_seq,
        page.has_more,
    )))
}
