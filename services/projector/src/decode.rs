//! From a JetStream message to a ledger row. Anything that cannot become a
//! trustworthy row (not protobuf, no UUID event id, no tenant, numbers that
//! do not fit the ledger) is refused with a reason, and the caller stores it
//! as a dead letter instead of blocking the stream on it.

mod fields;

use fields::LedgerFields;
use keyway_proto::{cloudevents as ce, v1::KeySource};
use prost::Message;
use time::OffsetDateTime;
use uuid::Uuid;

/// One usage event, validated and shaped like a `usage_ledger` row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LedgerRow {
    pub(crate) event_id: Uuid,
    pub(crate) tenant_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) api_key_id: Option<String>,
    pub(crate) model: String,
    pub(crate) provider: String,
    pub(crate) key_source: &'static str,
    pub(crate) input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cached_tokens: i64,
    pub(crate) cost_micros: i64,
    pub(crate) currency: String,
    pub(crate) status: i32,
    pub(crate) streamed: bool,
    pub(crate) estimated: bool,
    pub(crate) client_disconnected: bool,
    pub(crate) occurred_at: OffsetDateTime,
    /// Reasoning, cache-write and server-tool counts (migration 2005).
    pub(crate) details: Details,
    /// The serving deployment, the upstream calls and the fallback model
    /// that served, if any (migration 2006).
    pub(crate) deployment: String,
    pub(crate) attempts: i32,
    pub(crate) fallback_model: String,
    /// The message exactly as published, so the export can return every
    /// field, including ones added to the schema later.
    pub(crate) event: Vec<u8>,
}

/// The usage details recorded apart from the totals (see `docs/billing.md`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Details {
    pub(crate) reasoning_tokens: i64,
    pub(crate) cache_write_tokens: i64,
    pub(crate) cache_write_1h_tokens: i64,
    pub(crate) web_search_requests: i64,
    pub(crate) web_fetch_requests: i64,
}

impl Details {
    fn of(e: &LedgerFields) -> Result<Self, String> {
        Ok(Self {
            reasoning_tokens: tokens("reasoning_tokens", e.reasoning_tokens)?,
            cache_write_tokens: tokens("cache_write_tokens", e.cache_write_tokens)?,
            cache_write_1h_tokens: tokens("cache_write_1h_tokens", e.cache_write_1h_tokens)?,
            web_search_requests: tokens("web_search_requests", e.web_search_requests)?,
            web_fetch_requests: tokens("web_fetch_requests", e.web_fetch_requests)?,
        })
    }
}

pub(crate) fn key_source_name(value: i32) -> &'static str {
    match KeySource::try_from(value) {
        Ok(KeySource::User) => "user",
        Ok(KeySource::Tenant) => "tenant",
        Ok(KeySource::System) => "system",
        Ok(KeySource::Unspecified) | Err(_) => "unspecified",
    }
}

/// The longest id, model or provider name accepted: far above any real one,
/// far below what a Postgres index entry can hold.
const MAX_TEXT: usize = 512;

/// Postgres text cannot hold NUL, and an oversized key cannot be indexed:
/// either would fail the whole batch's transaction again on every retry.
fn text(name: &str, s: String) -> Result<String, String> {
    if s.contains('\0') {
        return Err(format!("{name} contains a NUL character"));
    }
    if s.len() > MAX_TEXT {
        return Err(format!("{name} is {} bytes long, over {MAX_TEXT}", s.len()));
    }
    Ok(s)
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// Per-event bounds far beyond any real request (ten billion tokens; a
/// million currency units), so sums over a view row cannot overflow 64 bits
/// and fail every later batch that touches it.
const MAX_TOKENS: u64 = 10_000_000_000;
const MAX_COST_MICROS: i64 = 1_000_000_000_000;

fn tokens(name: &str, value: u64) -> Result<i64, String> {
    if value > MAX_TOKENS {
        return Err(format!("{name} {value} is over {MAX_TOKENS}"));
    }
    i64::try_from(value).map_err(|_| format!("{name} {value} does not fit a signed 64-bit integer"))
}

/// One event of a message: a row, or why it cannot be one.
pub(crate) type Decoded = Result<LedgerRow, String>;

/// What one JetStream message holds: one event (`ce-type`
/// `dev.keyway.usage.v1`, or no type at all: older publishers and spool
/// replays), or a `UsageBatch` (`dev.keyway.usage.batch.v1`). `Err` when the
/// message as a whole is unreadable; otherwise one result per event.
pub(crate) fn decode_message(ce_type: Option<&str>, payload: &[u8]) -> Result<Vec<Decoded>, String> {
    if ce_type != Some(ce::USAGE_BATCH_TYPE) {
        return Ok(vec![decode(payload)]);
    }
    let batch =
        RawBatch::decode(payload).map_err(|err| format!("not a keyway.events.v1.UsageBatch: {err}"))?;
    if batch.events.is_empty() {
        return Err("a UsageBatch with no events".to_owned());
    }
    Ok(batch.events.into_iter().map(decode_owned).collect())
}

/// `UsageBatch` read with each event left as its bytes (the same wire
/// format: an embedded message is length-delimited bytes), so the ledger
/// keeps every event exactly as published, fields this build does not know
/// included — re-encoding a decoded event would drop them.
#[derive(Clone, PartialEq, prost::Message)]
struct RawBatch {
    #[prost(bytes = "vec", repeated, tag = "1")]
    events: Vec<Vec<u8>>,
}

fn decode_owned(payload: Vec<u8>) -> Result<LedgerRow, String> {
    let e = LedgerFields::decode(payload.as_slice())
        .map_err(|err| format!("not a keyway.events.v1.UsageEvent: {err}"))?;
    decode_event(payload, e)
}

/// Decodes and validates one payload.
pub(crate) fn decode(payload: &[u8]) -> Result<LedgerRow, String> {
    let e =
        LedgerFields::decode(payload).map_err(|err| format!("not a keyway.events.v1.UsageEvent: {err}"))?;
    decode_event(payload.to_vec(), e)
}

/// Validates one event; `encoded` is kept in the ledger as the event itself
/// (the export returns it), whichever message carried it.
fn decode_event(encoded: Vec<u8>, e: LedgerFields) -> Result<LedgerRow, String> {
    let event_id = Uuid::parse_str(&e.event_id)
        .map_err(|err| format!("event_id {:?} is not a UUID: {err}", e.event_id))?;
    if e.tenant_id.is_empty() {
        return Err("tenant_id is empty".to_owned());
    }
    if e.occurred_at_unix_ms <= 0 {
        return Err(format!(
            "occurred_at_unix_ms {} is missing or before 1970",
            e.occurred_at_unix_ms
        ));
    }
    let occurred_at = OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(e.occurred_at_unix_ms) * 1_000_000,
    )
    .map_err(|err| {
        format!(
            "occurred_at_unix_ms {} is out of range: {err}",
            e.occurred_at_unix_ms
        )
    })?;
    if !(0..=MAX_COST_MICROS).contains(&e.cost_micros) {
        return Err(format!(
            "cost_micros {} is outside 0..={MAX_COST_MICROS}",
            e.cost_micros
        ));
    }
    let status = i32::try_from(e.status).map_err(|_| format!("status {} is out of range", e.status))?;
    let details = Details::of(&e)?;
    let attempts =
        i32::try_from(e.attempts).map_err(|_| format!("attempts {} is out of range", e.attempts))?;
    Ok(LedgerRow {
        event_id,
        details,
        deployment: text("deployment", e.deployment)?,
        attempts,
        fallback_model: text("fallback_model", e.fallback_model)?,
        input_tokens: tokens("input_tokens", e.input_tokens)?,
        output_tokens: tokens("output_tokens", e.output_tokens)?,
        cached_tokens: tokens("cached_tokens", e.cached_tokens)?,
        key_source: key_source_name(e.key_source),
        tenant_id: text("tenant_id", e.tenant_id)?,
        user_id: non_empty(text("user_id", e.user_id)?),
        api_key_id: non_empty(text("api_key_id", e.api_key_id)?),
        model: text("model", e.model)?,
        provider: text("provider", e.provider)?,
        cost_micros: e.cost_micros,
        currency: text("currency", e.currency)?,
        status,
        streamed: e.streamed,
        estimated: e.estimated,
        client_disconnected: e.client_disconnected,
        occurred_at,
        event: encoded,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use keyway_proto::v1::{UsageBatch, UsageEvent};

    fn event() -> UsageEvent {
        UsageEvent {
            event_id: Uuid::now_v7().to_string(),
            tenant_id: "t1".into(),
            user_id: "u1".into(),
            model: "mock-gpt".into(),
            input_tokens: 10,
            cached_tokens: 4,
            cost_micros: 1234,
            currency: "USD".into(),
            status: 200,
            key_source: KeySource::System as i32,
            occurred_at_unix_ms: 1_735_689_600_123,
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_event_becomes_a_ledger_row_with_empty_ids_as_null() {
        let bytes = event().encode_to_vec();
        let row = decode(&bytes).unwrap();
        assert_eq!(row.tenant_id, "t1");
        assert_eq!(row.user_id.as_deref(), Some("u1"));
        assert_eq!(row.api_key_id, None);
        assert_eq!(row.key_source, "system");
        assert_eq!(row.occurred_at.unix_timestamp_nanos(), 1_735_689_600_123_000_000);
        assert_eq!(row.event, bytes);
        assert_eq!(row.details, Details::default());
        let detailed = UsageEvent {
            reasoning_tokens: 3,
            cache_write_tokens: 5,
            cache_write_1h_tokens: 2,
            web_search_requests: 1,
            ..event()
        };
        let row = decode(&detailed.encode_to_vec()).unwrap();
        assert_eq!(
            (
                row.details.reasoning_tokens,
                row.details.cache_write_tokens,
                row.details.cache_write_1h_tokens
            ),
            (3, 5, 2)
        );
        assert_eq!(row.details.web_search_requests, 1);
    }

    #[test]
    fn a_batch_yields_one_result_per_event_and_a_single_event_still_reads() {
        let (a, b) = (event(), event());
        let bad = UsageEvent {
            tenant_id: String::new(),
            ..event()
        };
        let batch = UsageBatch {
            events: vec![a.clone(), bad, b.clone()],
        }
        .encode_to_vec();
        let rows = decode_message(Some(ce::USAGE_BATCH_TYPE), &batch).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].as_ref().unwrap().event, a.encode_to_vec());
        assert!(rows[1].as_ref().unwrap_err().contains("tenant_id"));
        assert_eq!(rows[2].as_ref().unwrap().event_id.to_string(), b.event_id);
        for ce_type in [None, Some(ce::USAGE_TYPE)] {
            let single = decode_message(ce_type, &a.encode_to_vec()).unwrap();
            assert_eq!(single[0].as_ref().unwrap().event, a.encode_to_vec());
        }
        let empty = UsageBatch::default().encode_to_vec();
        assert!(decode_message(Some(ce::USAGE_BATCH_TYPE), &empty).is_err());
        assert!(decode_message(Some(ce::USAGE_BATCH_TYPE), b"\xff\xff").is_err());
    }

    #[test]
    fn garbage_and_invalid_events_are_refused_with_a_reason() {
        assert!(
            decode(b"\xff\xff\xff not protobuf")
                .unwrap_err()
                .contains("UsageEvent")
        );
        let bad_id = UsageEvent {
            event_id: "nope".into(),
            ..event()
        };
        assert!(decode(&bad_id.encode_to_vec()).unwrap_err().contains("event_id"));
        let no_tenant = UsageEvent {
            tenant_id: String::new(),
            ..event()
        };
        assert!(
            decode(&no_tenant.encode_to_vec())
                .unwrap_err()
                .contains("tenant_id")
        );
        let huge = UsageEvent {
            output_tokens: u64::MAX,
            ..event()
        };
        assert!(
            decode(&huge.encode_to_vec())
                .unwrap_err()
                .contains("output_tokens")
        );
        let negative = UsageEvent {
            cost_micros: -1,
            ..event()
        };
        assert!(
            decode(&negative.encode_to_vec())
                .unwrap_err()
                .contains("cost_micros")
        );
        let nul = UsageEvent {
            model: "mock\0gpt".into(),
            ..event()
        };
        assert!(decode(&nul.encode_to_vec()).unwrap_err().contains("model"));
        let long = UsageEvent {
            api_key_id: "k".repeat(MAX_TEXT + 1),
            ..event()
        };
        assert!(decode(&long.encode_to_vec()).unwrap_err().contains("api_key_id"));
        let no_time = UsageEvent {
            occurred_at_unix_ms: 0,
            ..event()
        };
        assert!(
            decode(&no_time.encode_to_vec())
                .unwrap_err()
                .contains("occurred_at")
        );
    }
}
