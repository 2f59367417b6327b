//! The export of the ledger: usage events as CloudEvents JSON, in ledger
//! order, paged by position (`ledger_seq`). Served by `GET
//! /api/v1/usage/events` (`http::export`) and pushed by webhook delivery.
//!
//! Only rows whose writing transaction is older than every transaction still
//! running are returned (`transaction_id < pg_snapshot_xmin(…)`), and a
//! row's `ledger_seq` follows its transaction id (migration 2007): a row
//! that commits later belongs to a transaction at or above that horizon, so
//! it sorts after every row already handed out. A billing consumer that
//! follows `next_cursor` therefore never skips an event, however many
//! projectors write side by side — including one replayed late from a
//! gateway spool.

use keyway_common::api::{
    PageError,
    cursor::{self, CursorError},
};
use keyway_proto::{cloudevents, v1::UsageEvent};
use prost::Message;
use serde::Serialize;
use sqlx::{FromRow, Postgres, QueryBuilder};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::scope::Scope;

/// The `source` attribute of every exported usage event.
pub(crate) const SOURCE: &str = "keyway/gateway";

/// The name export cursors carry (`keyway_common::api::cursor`).
pub(crate) const LIST: &str = "usage-events";

/// The opaque export cursor just past ledger position `seq`: what
/// `/api/v1/usage/events` hands out, and how registered cursors and
/// webhooks show their position.
pub(crate) fn cursor_at(seq: i64) -> String {
    cursor::encode_seq(LIST, seq)
}

/// The ledger position behind an export cursor. A bare whole number is the
/// cursor form of releases before cursors were opaque: billing consumers
/// have persisted those, and they must resume exactly where they were.
pub(crate) fn position_of(raw: &str) -> Result<i64, PageError> {
    let raw = raw.trim();
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw
            .parse::<i64>()
            .map_err(|_| PageError::Cursor(CursorError::Malformed));
    }
    Ok(cursor::decode_seq(LIST, raw)?)
}

/// Serializes a ledger position as its export cursor.
pub(crate) fn as_cursor<S: serde::Serializer>(seq: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&cursor_at(*seq))
}

/// The prices in force for the request, per million tokens, in micro-units.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PriceData {
    input_micros_per_mtok: i64,
    output_micros_per_mtok: i64,
    cached_input_micros_per_mtok: i64,
    cache_write_micros_per_mtok: i64,
    cache_write_1h_micros_per_mtok: i64,
    currency: String,
}

/// The usage event itself (`keyway.events.v1.UsageEvent` as JSON).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UsageData {
    tenant_id: String,
    user_id: Option<String>,
    api_key_id: Option<String>,
    model: String,
    provider: String,
    upstream_model: Option<String>,
    /// `user`, `tenant` or `system`.
    key_source: String,
    route: Option<String>,
    /// Includes `cached_tokens`.
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    /// Part of `output_tokens`.
    reasoning_tokens: u64,
    /// Prompt-cache writes, part of `input_tokens`.
    cache_write_tokens: u64,
    /// The 1-hour-TTL part of `cache_write_tokens`.
    cache_write_1h_tokens: u64,
    web_search_requests: u64,
    web_fetch_requests: u64,
    cost_micros: i64,
    currency: String,
    price: Option<PriceData>,
    status: i32,
    error_code: Option<String>,
    latency_ms: u64,
    streamed: bool,
    estimated: bool,
    client_disconnected: bool,
    request_id: Option<String>,
    /// The wire the client spoke: `openai` or `anthropic`.
    client_wire: Option<String>,
    /// The upstream's wire; not `client_wire` when Keyway translated.
    upstream_wire: Option<String>,
    /// The deployment of the serving model that answered (`default` for a
    /// model with one `base_url`).
    deployment: Option<String>,
    /// Upstream calls made for the request, retries included.
    attempts: u32,
    /// The catalog model that served when `model` fell back to it; the
    /// cost is at its price.
    fallback_model: Option<String>,
}

/// A CloudEvents 1.0 event in the structured JSON format.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CloudEvent {
    specversion: &'static str,
    /// The event id (UUIDv7): the idempotency key for billing systems.
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'static str,
    /// The tenant.
    subject: String,
    /// When the request happened (RFC 3339, UTC).
    time: String,
    datacontenttype: &'static str,
    data: UsageData,
}

#[derive(Debug, FromRow)]
struct LedgerEntry {
    ledger_seq: i64,
    event_id: Uuid,
    tenant_id: String,
    user_id: Option<String>,
    api_key_id: Option<String>,
    model: String,
    provider: String,
    key_source: String,
    input_tokens: i64,
    output_tokens: i64,
    cached_tokens: i64,
    cost_micros: i64,
    currency: String,
    status: i32,
    streamed: bool,
    estimated: bool,
    client_disconnected: bool,
    occurred_at: OffsetDateTime,
    event: Vec<u8>,
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

impl LedgerEntry {
    fn into_cloud_event(self) -> CloudEvent {
        // The stored bytes were decoded once on the way in; fields the ledger
        // has no column for come from them.
        let extra = UsageEvent::decode(self.event.as_slice()).unwrap_or_default();
        CloudEvent {
            specversion: "1.0",
            id: self.event_id.to_string(),
            kind: cloudevents::USAGE_TYPE,
            source: SOURCE,
            subject: self.tenant_id.clone(),
            time: self.occurred_at.format(&Rfc3339).unwrap_or_default(),
            datacontenttype: "application/json",
            data: UsageData {
                tenant_id: self.tenant_id,
                user_id: self.user_id,
                api_key_id: self.api_key_id,
                model: self.model,
                provider: self.provider,
                upstream_model: non_empty(extra.upstream_model),
                key_source: self.key_source,
                route: non_empty(extra.route),
                input_tokens: self.input_tokens,
                output_tokens: self.output_tokens,
                cached_tokens: self.cached_tokens,
                reasoning_tokens: extra.reasoning_tokens,
                cache_write_tokens: extra.cache_write_tokens,
                cache_write_1h_tokens: extra.cache_write_1h_tokens,
                web_search_requests: extra.web_search_requests,
                web_fetch_requests: extra.web_fetch_requests,
                cost_micros: self.cost_micros,
                currency: self.currency,
                price: extra.price.map(|p| PriceData {
                    input_micros_per_mtok: p.input_micros_per_mtok,
                    output_micros_per_mtok: p.output_micros_per_mtok,
                    cached_input_micros_per_mtok: p.cached_input_micros_per_mtok,
                    cache_write_micros_per_mtok: p.cache_write_micros_per_mtok,
                    cache_write_1h_micros_per_mtok: p.cache_write_1h_micros_per_mtok,
                    currency: p.currency,
                }),
                status: self.status,
                error_code: non_empty(extra.error_code),
                latency_ms: extra.latency_ms,
                streamed: self.streamed,
                estimated: self.estimated,
                client_disconnected: self.client_disconnected,
                request_id: non_empty(extra.request_id),
                client_wire: non_empty(extra.client_wire),
                upstream_wire: non_empty(extra.upstream_wire),
                deployment: non_empty(extra.deployment),
                attempts: extra.attempts,
                fallback_model: non_empty(extra.fallback_model),
            },
        }
    }
}

/// One page of the export: what `/usage/events` and the webhooks deliver.
pub(crate) struct Page {
    pub(crate) events: Vec<CloudEvent>,
    /// The ledger position of the last event; `None` on an empty page.
    pub(crate) last_seq: Option<i64>,
    pub(crate) has_more: bool,
}

/// Reads up to `limit` events of `scope` after ledger position `after`, in
/// ledger order, holding back rows of transactions that may still be running.
pub(crate) async fn read_page(
    pool: &sqlx::PgPool,
    scope: &Scope,
    after: i64,
    limit: i64,
) -> Result<Page, sqlx::Error> {
    let mut query: QueryBuilder<'_, Postgres> = QueryBuilder::new(
        "SELECT ledger_seq, event_id, tenant_id, user_id, api_key_id, model, provider, key_source,
             input_tokens, output_tokens, cached_tokens, cost_micros, currency, status, streamed, estimated,
             client_disconnected, occurred_at, event
         FROM usage_ledger WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())",
    );
    query.push(" AND ledger_seq > ").push_bind(after);
    scope.push_filters(&mut query);
    query.push(" ORDER BY ledger_seq LIMIT ").push_bind(limit + 1);
    let mut rows: Vec<LedgerEntry> = query.build_query_as().fetch_all(pool).await?;
    let has_more = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(Page {
        last_seq: rows.last().map(|r| r.ledger_seq),
        events: rows.into_iter().map(LedgerEntry::into_cloud_event).collect(),
        has_more,
    })
}

/// The highest position the export can hand out right now: a cursor beyond
/// it would claim events nobody could have read yet.
pub(crate) async fn export_head(pool: &sqlx::PgPool) -> Result<i64, sqlx::Error> {
    let head: Option<i64> = sqlx::query_scalar(
        "SELECT ledger_seq FROM usage_ledger WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY ledger_seq DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(head.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_cursor_is_opaque_and_a_bare_number_from_older_releases_still_reads() {
        assert_eq!(position_of(&cursor_at(48213)), Ok(48213));
        assert_eq!(position_of("48213"), Ok(48213));
        assert_eq!(position_of(" 7 "), Ok(7));
        for bad in ["-1", "abc", "1e3", "99999999999999999999"] {
            assert!(position_of(bad).is_err(), "{bad}");
        }
        let tenants = cursor::encode("tenants", "1");
        assert_eq!(
            position_of(&tenants),
            Err(PageError::Cursor(CursorError::OtherList))
        );
    }
}
