//! Keyway's event contracts: the protobuf types (`keyway.events.v1`), the
//! subjects they travel on, and the CloudEvents-over-NATS header names.
//! Producers and consumers compile against these same definitions.

pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/keyway.events.v1.rs"));
}

/// Subjects are `<prefix>.<kind>.v1.<tenant>`.
pub mod subjects {
    pub fn usage(prefix: &str, tenant: &str) -> String {
        format!("{prefix}.usage.v1.{tenant}")
    }

    pub fn keys(prefix: &str, tenant: &str) -> String {
        format!("{prefix}.keys.v1.{tenant}")
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
    pub const KEY_CHANGED_TYPE: &str = "dev.keyway.keys.v1";
    /// JetStream dedupes on this; it always equals the event id.
    pub const NATS_MSG_ID: &str = "Nats-Msg-Id";
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
}
