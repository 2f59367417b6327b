//! The part of a `UsageEvent` a ledger row is made of. prost skips every
//! field a message does not declare without reading it, so decoding this
//! instead of the whole event allocates no string for the route, request
//! id, wires, error code, upstream model or price: about half the event's
//! strings, on the projector's busiest path. The row's `event` column keeps
//! the event as published, every field included.
//!
//! The tags are `usage.proto`'s (protobuf never renumbers a field); the test
//! below checks each declared field against the generated `UsageEvent`.

use keyway_proto::v1::KeySource;

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct LedgerFields {
    #[prost(string, tag = "1")]
    pub(crate) event_id: String,
    #[prost(string, tag = "2")]
    pub(crate) tenant_id: String,
    #[prost(string, tag = "3")]
    pub(crate) user_id: String,
    #[prost(string, tag = "4")]
    pub(crate) api_key_id: String,
    #[prost(string, tag = "5")]
    pub(crate) model: String,
    #[prost(string, tag = "6")]
    pub(crate) provider: String,
    #[prost(enumeration = "KeySource", tag = "8")]
    pub(crate) key_source: i32,
    #[prost(uint64, tag = "10")]
    pub(crate) input_tokens: u64,
    #[prost(uint64, tag = "11")]
    pub(crate) output_tokens: u64,
    #[prost(uint64, tag = "12")]
    pub(crate) cached_tokens: u64,
    #[prost(int64, tag = "13")]
    pub(crate) cost_micros: i64,
    #[prost(string, tag = "14")]
    pub(crate) currency: String,
    #[prost(uint32, tag = "16")]
    pub(crate) status: u32,
    #[prost(bool, tag = "19")]
    pub(crate) streamed: bool,
    #[prost(bool, tag = "20")]
    pub(crate) estimated: bool,
    #[prost(bool, tag = "21")]
    pub(crate) client_disconnected: bool,
    #[prost(int64, tag = "22")]
    pub(crate) occurred_at_unix_ms: i64,
    #[prost(uint64, tag = "30")]
    pub(crate) reasoning_tokens: u64,
    #[prost(uint64, tag = "31")]
    pub(crate) cache_write_tokens: u64,
    #[prost(uint64, tag = "32")]
    pub(crate) cache_write_1h_tokens: u64,
    #[prost(uint64, tag = "33")]
    pub(crate) web_search_requests: u64,
    #[prost(uint64, tag = "34")]
    pub(crate) web_fetch_requests: u64,
    #[prost(string, tag = "50")]
    pub(crate) deployment: String,
    #[prost(uint32, tag = "51")]
    pub(crate) attempts: u32,
    #[prost(string, tag = "52")]
    pub(crate) fallback_model: String,
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use keyway_proto::v1::{PriceSnapshot, UsageEvent};
    use prost::Message;

    use super::*;

    /// Every declared field is read from its own tag: each gets a distinct
    /// value, and the fields left out are set too, so a wrong tag or type
    /// shows as a mismatch or a decode error. Every `UsageEvent` field is
    /// named, so a new one stops this compiling until someone decides
    /// whether the ledger needs it.
    #[test]
    fn each_field_is_read_from_its_tag_in_usage_proto() {
        let full = UsageEvent {
            event_id: "e".into(),
            tenant_id: "t".into(),
            user_id: "u".into(),
            api_key_id: "k".into(),
            model: "m".into(),
            provider: "p".into(),
            upstream_model: "um".into(),
            key_source: KeySource::Tenant as i32,
            route: "/v1/chat/completions".into(),
            input_tokens: 10,
            output_tokens: 11,
            cached_tokens: 12,
            cost_micros: 13,
            currency: "EUR".into(),
            price: Some(PriceSnapshot {
                currency: "EUR".into(),
                ..Default::default()
            }),
            status: 429,
            error_code: "rate_limited".into(),
            latency_ms: 18,
            streamed: true,
            estimated: true,
            client_disconnected: true,
            occurred_at_unix_ms: 22,
            request_id: "r".into(),
            reasoning_tokens: 30,
            cache_write_tokens: 31,
            cache_write_1h_tokens: 32,
            web_search_requests: 33,
            web_fetch_requests: 34,
            client_wire: "openai".into(),
            upstream_wire: "anthropic".into(),
            deployment: "d".into(),
            attempts: 51,
            fallback_model: "f".into(),
        };
        let read = LedgerFields::decode(full.encode_to_vec().as_slice()).unwrap();
        let expected = LedgerFields {
            event_id: full.event_id.clone(),
            tenant_id: full.tenant_id.clone(),
            user_id: full.user_id.clone(),
            api_key_id: full.api_key_id.clone(),
            model: full.model.clone(),
            provider: full.provider.clone(),
            key_source: full.key_source,
            input_tokens: full.input_tokens,
            output_tokens: full.output_tokens,
            cached_tokens: full.cached_tokens,
            cost_micros: full.cost_micros,
            currency: full.currency.clone(),
            status: full.status,
            streamed: full.streamed,
            estimated: full.estimated,
            client_disconnected: full.client_disconnected,
            occurred_at_unix_ms: full.occurred_at_unix_ms,
            reasoning_tokens: full.reasoning_tokens,
            cache_write_tokens: full.cache_write_tokens,
            cache_write_1h_tokens: full.cache_write_1h_tokens,
            web_search_requests: full.web_search_requests,
            web_fetch_requests: full.web_fetch_requests,
            deployment: full.deployment.clone(),
            attempts: full.attempts,
            fallback_model: full.fallback_model.clone(),
        };
        assert_eq!(read, expected);
    }
}
