//! Usage events as JetStream messages. Batching off (`batch_max` 1), each
//! event is its own `UsageEvent` message with `Nats-Msg-Id` = event id.
//! Batching on, a message carries a `UsageBatch` of up to `batch_max`
//! events of one tenant (the subject stays per tenant), typed
//! `dev.keyway.usage.batch.v1`, with a `Nats-Msg-Id` derived from the event
//! ids it carries: republishing the same batch is deduped by JetStream, and
//! any other grouping of the same events (a spool replay) by the ledger,
//! which keys every event by its own id.

use std::collections::BTreeMap;

use async_nats::HeaderMap;
use keyway_proto::{cloudevents as ce, subjects, v1::UsageEvent};
use prost::Message;
use sha2::{Digest, Sha256};

/// A batch is split before its payload passes this, far below JetStream's
/// default 1 MiB message limit.
const MAX_BATCH_BYTES: usize = 512 * 1024;

/// One encoded event and what its message needs to know about it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Record {
    pub(super) tenant: String,
    pub(super) event_id: String,
    pub(super) occurred_at_unix_ms: i64,
    /// The encoded `UsageEvent`: what a spool record holds.
    pub(super) bytes: Vec<u8>,
}

impl Record {
    pub(super) fn of(event: &UsageEvent) -> Self {
        Self {
            tenant: event.tenant_id.clone(),
            event_id: event.event_id.clone(),
            occurred_at_unix_ms: event.occurred_at_unix_ms,
            bytes: event.encode_to_vec(),
        }
    }

    /// A spool record; `None` when it is not a `UsageEvent`.
    pub(super) fn decode(bytes: Vec<u8>) -> Option<Self> {
        let event = UsageEvent::decode(bytes.as_slice()).ok()?;
        Some(Self {
            tenant: event.tenant_id,
            event_id: event.event_id,
            occurred_at_unix_ms: event.occurred_at_unix_ms,
            bytes,
        })
    }
}

/// One JetStream message and the records it carries (spooled if it fails).
pub(super) struct Outgoing {
    pub(super) subject: String,
    pub(super) headers: HeaderMap,
    pub(super) payload: Vec<u8>,
    pub(super) records: Vec<Record>,
}

/// The messages that carry `records`: one per event with batching off,
/// otherwise one per tenant and `batch_max` events (or `MAX_BATCH_BYTES`).
/// Order across messages does not matter: the ledger sums.
pub(super) fn messages(prefix: &str, records: Vec<Record>, batch_max: usize) -> Vec<Outgoing> {
    if batch_max <= 1 {
        return records.into_iter().map(|r| single(prefix, r)).collect();
    }
    // Per tenant: its chunks, and the payload bytes of the last one.
    let mut by_tenant: BTreeMap<String, (Vec<Vec<Record>>, usize)> = BTreeMap::new();
    for record in records {
        let (chunks, bytes) = by_tenant.entry(record.tenant.clone()).or_default();
        let size = record.bytes.len() + 8;
        match chunks.last_mut() {
            Some(chunk) if chunk.len() < batch_max && *bytes + size <= MAX_BATCH_BYTES => {
                *bytes += size;
                chunk.push(record);
            }
            _ => {
                *bytes = size;
                chunks.push(vec![record]);
            }
        }
    }
    by_tenant
        .into_values()
        .flat_map(|(chunks, _)| chunks)
        .map(|mut chunk| match chunk.len() {
            // A lone event travels as itself: the smaller message.
            1 => single(prefix, chunk.remove(0)),
            _ => batch(prefix, chunk),
        })
        .collect()
}

fn single(prefix: &str, record: Record) -> Outgoing {
    let headers = ce::Event {
        id: &record.event_id,
        source: "keyway/gateway",
        kind: ce::USAGE_TYPE,
        subject: &record.tenant,
        time: &rfc3339_millis(record.occurred_at_unix_ms),
    }
    .headers();
    Outgoing {
        subject: subjects::usage(prefix, &record.tenant),
        headers,
        payload: record.bytes.clone(),
        records: vec![record],
    }
}

fn batch(prefix: &str, records: Vec<Record>) -> Outgoing {
    let first = &records[0];
    let id = batch_id(&records);
    let headers = ce::Event {
        id: &id,
        source: "keyway/gateway",
        kind: ce::USAGE_BATCH_TYPE,
        subject: &first.tenant,
        time: &rfc3339_millis(first.occurred_at_unix_ms),
    }
    .headers();
    // `UsageBatch` written from the events' bytes, without decoding or
    // copying them first: an embedded message is length-delimited bytes.
    let size: usize = records.iter().map(|r| r.bytes.len() + 8).sum();
    let mut payload = Vec::with_capacity(size);
    for r in &records {
        prost::encoding::bytes::encode(1, &r.bytes, &mut payload);
    }
    Outgoing {
        subject: subjects::usage(prefix, &first.tenant),
        headers,
        payload,
        records,
    }
}

/// `kwb-` and the first 128 bits of SHA-256 over the event ids in order:
/// the same events in the same batch always get the same id.
pub(super) fn batch_id(records: &[Record]) -> String {
    let mut digest = Sha256::new();
    for r in records {
        digest.update(r.event_id.as_bytes());
        digest.update(b"\n");
    }
    let hash = digest.finalize();
    format!("kwb-{}", hex::encode(&hash[..16]))
}

fn rfc3339_millis(unix_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use keyway_proto::v1::UsageBatch;

    use super::*;

    fn record(tenant: &str, n: u32) -> Record {
        Record::of(&UsageEvent {
            event_id: format!("0190-{tenant}-{n}"),
            tenant_id: tenant.into(),
            input_tokens: u64::from(n),
            occurred_at_unix_ms: 1_735_689_600_000,
            ..Default::default()
        })
    }

    #[test]
    fn batches_are_per_tenant_capped_and_carry_the_events_unchanged() {
        let records: Vec<Record> = (0..5).map(|n| record(["a", "b"][n as usize % 2], n)).collect();
        let out = messages("kw", records.clone(), 2);
        // a: 0 2 | 4 (a lone event is a plain UsageEvent)   b: 1 3
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].subject, "kw.usage.v1.a");
        let batch = UsageBatch::decode(out[0].payload.as_slice()).unwrap();
        assert_eq!(
            batch.events.iter().map(|e| e.input_tokens).collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(
            out[0].headers.get(ce::TYPE).unwrap().as_str(),
            ce::USAGE_BATCH_TYPE
        );
        assert_eq!(out[1].payload, records[4].bytes);
        assert_eq!(out[1].headers.get(ce::TYPE).unwrap().as_str(), ce::USAGE_TYPE);
        assert_eq!(out[2].subject, "kw.usage.v1.b");
        let off = messages("kw", records.clone(), 1);
        assert_eq!(off.len(), 5);
        assert_eq!(off[3].payload, records[3].bytes);
    }

    #[test]
    fn a_batch_id_depends_only_on_its_events() {
        let a: Vec<Record> = (0..3).map(|n| record("a", n)).collect();
        let out = |r: Vec<Record>| {
            messages("kw", r, 8)[0]
                .headers
                .get(ce::NATS_MSG_ID)
                .unwrap()
                .as_str()
                .to_owned()
        };
        assert_eq!(out(a.clone()), out(a.clone()));
        assert_ne!(out(a.clone()), out(a[..2].to_vec()));
        assert!(out(a).starts_with("kwb-"));
    }
}
