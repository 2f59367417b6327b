//! Keyway's contracts between services: the protobuf event types
//! (`keyway.events.v1`), the streams and subjects they travel on, the
//! CloudEvents-over-NATS headers, and the internal key API that gateways
//! running apart from the key service call. Both sides of each contract
//! compile against these same definitions.

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/keyway.events.v1.rs"));
}

/// Subjects are `<prefix>.<kind>.v1.<tenant>`; each kind has its own
/// JetStream stream, `<PREFIX>_<KIND>` in upper case.
pub mod subjects {
    /// Usage events, one per LLM request.
    pub const USAGE: &str = "usage";
    /// Key-change events from the key service's outbox.
    pub const KEYS: &str = "keys";

    pub fn usage(prefix: &str, tenant: &str) -> String {
        format!("{}.{tenant}", root(prefix, USAGE))
    }

    pub fn keys(prefix: &str, tenant: &str) -> String {
        format!("{}.{tenant}", root(prefix, KEYS))
    }

    /// The subject root of one kind, e.g. `keyway.usage.v1`.
    pub fn root(prefix: &str, kind: &str) -> String {
        format!("{prefix}.{kind}.v1")
    }

    /// Every tenant's subject of one kind: `<root>.>`.
    pub fn all(prefix: &str, kind: &str) -> String {
        format!("{}.>", root(prefix, kind))
    }

    /// The JetStream stream of one kind. Stream names may not hold `-` or
    /// `.`, which prefixes may.
    pub fn stream(prefix: &str, kind: &str) -> String {
        format!("{prefix}_{kind}").to_uppercase().replace('-', "_")
    }
}

/// CloudEvents NATS protocol binding: attributes as `ce-` headers.
pub mod cloudevents {
    pub const SPECVERSION: &str = "ce-specversion";
    pub const ID: &str = "ce-id";
    pub const SOURCE: &str = "ce-source";
    pub const TYPE: &str = "ce-type";
    pub const TIME: &str = "ce-time";
    pub const SUBJECT: &str = "ce-subject";
    pub const DATACONTENTTYPE: &str = "ce-datacontenttype";
    pub const PROTOBUF: &str = "application/protobuf";
    pub const USAGE_TYPE: &str = "dev.keyway.usage.v1";
    /// A `UsageBatch`: several usage events of one tenant in one message.
    pub const USAGE_BATCH_TYPE: &str = "dev.keyway.usage.batch.v1";
    pub const KEY_CHANGED_TYPE: &str = "dev.keyway.keys.v1";
    /// JetStream dedupes on this: the event id, or for a `UsageBatch` a
    /// digest of the event ids it carries.
    pub const NATS_MSG_ID: &str = "Nats-Msg-Id";

    /// The attributes of one event, as its producer knows them.
    pub struct Event<'a> {
        pub id: &'a str,
        /// Who produced it, e.g. `keyway/gateway`.
        pub source: &'a str,
        /// `USAGE_TYPE` or `KEY_CHANGED_TYPE`.
        pub kind: &'a str,
        /// The tenant the event belongs to.
        pub subject: &'a str,
        /// RFC 3339.
        pub time: &'a str,
    }

    impl Event<'_> {
        /// The CloudEvents NATS binding headers of a protobuf event, plus
        /// JetStream's dedupe id.
        pub fn headers(&self) -> async_nats::HeaderMap {
            let mut h = async_nats::HeaderMap::new();
            h.insert(NATS_MSG_ID, self.id);
            h.insert(ID, self.id);
            h.insert(SPECVERSION, "1.0");
            h.insert(SOURCE, self.source);
            h.insert(TYPE, self.kind);
            h.insert(SUBJECT, self.subject);
            h.insert(TIME, self.time);
            h.insert(DATACONTENTTYPE, PROTOBUF);
            h
        }
    }
}

/// The key service's internal HTTP API (`/internal/v1/…`), for gateways that
/// run apart from it. Every call carries the shared token in `TOKEN_HEADER`.
pub mod internal {
    use serde::{Deserialize, Serialize};

    pub const TOKEN_HEADER: &str = "x-keyway-internal-token";
    /// Answers with the `Caller` that holds the key; 401 when none does.
    pub const AUTHENTICATE_PATH: &str = "/internal/v1/authenticate";
    /// Answers with a `ProviderKeyResponse`; 404 when the caller has none.
    pub const PROVIDER_KEY_PATH: &str = "/internal/v1/provider-key";

    /// `K` is `&str` on the sending side, so the key is not copied.
    #[derive(Serialize, Deserialize)]
    pub struct AuthenticateRequest<K = String> {
        pub key: K,
    }

    /// `C` is the caller (`keyway_auth::Caller`), which this crate does not
    /// know; the sending side passes a reference.
    #[derive(Serialize, Deserialize)]
    pub struct ProviderKeyRequest<C, S = String> {
        pub caller: C,
        /// `SCOPE_USER` or `SCOPE_TENANT`.
        pub scope: S,
        pub provider: S,
    }

    pub const SCOPE_USER: &str = "user";
    pub const SCOPE_TENANT: &str = "tenant";

    #[derive(Serialize, Deserialize)]
    pub struct ProviderKeyResponse {
        pub secret: String,
        pub base_url: Option<String>,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn a_usage_event_round_trips_through_protobuf() {
        let event = v1::UsageEvent {
            event_id: "0190".into(),
            tenant_id: "t1".into(),
            input_tokens: 12,
            key_source: v1::KeySource::User as i32,
            ..Default::default()
        };
        let back = v1::UsageEvent::decode(event.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, event);
        assert_eq!(subjects::usage("kw", "t1"), "kw.usage.v1.t1");
    }

    #[test]
    fn streams_and_subjects_follow_the_prefix() {
        assert_eq!(subjects::keys("kw-test", "t1"), "kw-test.keys.v1.t1");
        assert_eq!(subjects::all("kw-test", subjects::USAGE), "kw-test.usage.v1.>");
        assert_eq!(subjects::stream("kw-test", subjects::USAGE), "KW_TEST_USAGE");
    }
}
