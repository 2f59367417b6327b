//! `GET /api/v1/usage/events`: the ledger as CloudEvents JSON, in ledger
//! order, paginated by an opaque cursor (the last `ledger_seq` returned).
//! The query and its visibility rule are the domain's (`crate::export`).

use std::sync::Arc;

use axum::{Json, extract::State};
use keyway_common::api::Query;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Principal, UsageError, UsageState};
use crate::{
    export::{CloudEvent, read_page},
    scope::Scope,
};

#[derive(Debug, Deserialize, IntoParams)]
pub(crate) struct EventsQuery {
    /// The `next_cursor` of the previous page; omit to start at the beginning.
    after: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// Platform admins: one tenant (default all). Others may only name their own.
    tenant_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventsPage {
    events: Vec<CloudEvent>,
    /// Pass as `after` for the next page. Always set: on an empty page it is
    /// the cursor you sent, so a consumer can simply poll with it.
    next_cursor: String,
    /// Whether more events were already available after this page.
    has_more: bool,
}

/// Parses a cursor: empty means the start; anything else is a position.
pub(crate) fn parse_cursor(name: &str, raw: Option<&str>) -> Result<i64, UsageError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(0),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(n),
            _ => Err(UsageError::invalid(
                name,
                format!("{raw:?} is not a cursor from this API"),
            )),
        },
    }
}

fn parse_limit(raw: Option<&str>) -> Result<i64, UsageError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(100),
        Some(raw) => match raw.parse::<i64>() {
            Ok(n @ 1..=1000) => Ok(n),
            _ => Err(UsageError::invalid(
                "limit",
                format!("must be between 1 and 1000, got {raw:?}"),
            )),
        },
    }
}

/// Pages through usage events in ledger order: platform admins any or all
/// tenants, tenant admins and viewers their tenant, members their own.
#[utoipa::path(get, path = "/api/v1/usage/events", tag = "usage", params(EventsQuery),
    responses((status = 200, body = EventsPage), (status = 400, description = "KW-USAGE-001: a parameter is invalid"),
        (status = 404, description = "KW-USAGE-002: another tenant")),
    security(("bearer" = [])))]
pub(crate) async fn events(
    State(s): State<Arc<UsageState>>,
    Principal(caller): Principal,
    Query(q): Query<EventsQuery>,
) -> Result<Json<EventsPage>, UsageError> {
    let scope = Scope::of(&caller, q.tenant_id, true)?;
    let after = parse_cursor("after", q.after.as_deref())?;
    let limit = parse_limit(q.limit.as_deref())?;
    let page = read_page(&s.pool, &scope, after, limit).await?;
    Ok(Json(EventsPage {
        next_cursor: page.last_seq.unwrap_or(after).to_string(),
        events: page.events,
        has_more: page.has_more,
    }))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_and_limits_are_validated_with_the_parameter_named() {
        assert_eq!(parse_cursor("after", None).ok(), Some(0));
        assert_eq!(parse_cursor("after", Some("42")).ok(), Some(42));
        assert!(parse_cursor("after", Some("-1")).is_err());
        assert!(
            parse_cursor("after", Some("abc"))
                .unwrap_err()
                .to_string()
                .starts_with("after:")
        );
        assert_eq!(parse_limit(None).ok(), Some(100));
        assert!(
            parse_limit(Some("0"))
                .unwrap_err()
                .to_string()
                .starts_with("limit:")
        );
        assert!(parse_limit(Some("1001")).is_err());
    }
}
