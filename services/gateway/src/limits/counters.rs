//! The shared counters: decimal numbers in NATS KV, updated through
//! `keyway_common::kv` with compare-and-set on the entry's revision, so any
//! number of gateways add to one number and never overwrite each other's
//! updates.

use std::time::Duration;

use bytes::Bytes;
use keyway_common::kv::{KvBucket, Update};

use super::window::Kind;

pub(crate) use keyway_common::kv::KvError as CounterError;

pub(crate) struct Counters {
    /// Minute counters live minutes; spend counters a month and a bit.
    rate: KvBucket,
    spend: KvBucket,
}

impl Counters {
    pub(crate) fn new(
        client: async_nats::Client,
        bucket_prefix: &str,
        timeout: Duration,
        replicas: usize,
    ) -> Self {
        let bucket = |suffix: &str, max_age| {
            KvBucket::new(
                client.clone(),
                format!("{bucket_prefix}_{suffix}"),
                max_age,
                timeout,
            )
            .with_replicas(replicas)
        };
        Self {
            rate: bucket("RATE", Duration::from_secs(5 * 60)),
            spend: bucket("SPEND", Duration::from_secs(35 * 24 * 3600)),
        }
    }

    fn bucket(&self, kind: Kind) -> &KvBucket {
        if kind.is_budget() { &self.spend } else { &self.rate }
    }

    /// Takes between `need` and `want` units if at least `need` remain under
    /// `limit`. `Ok(None)` means the limit is reached.
    pub(crate) async fn take(
        &self,
        kind: Kind,
        key: &str,
        need: u64,
        want: u64,
        limit: u64,
    ) -> Result<Option<u64>, CounterError> {
        self.bucket(kind)
            .update(key, |value| {
                let used = number(value);
                let remaining = limit.saturating_sub(used);
                if remaining < need {
                    return Update::Keep(None);
                }
                let grant = want.max(need).min(remaining);
                Update::Write(encode(used + grant), Some(grant))
            })
            .await
    }

    /// Adds `delta` (negative to give back) without a limit check: returning
    /// an unused lease, or charging what a request used beyond its
    /// reservation. Never goes below zero.
    pub(crate) async fn add(&self, kind: Kind, key: &str, delta: i64) -> Result<(), CounterError> {
        self.bucket(kind)
            .update(key, |value| {
                if value.is_none() && delta <= 0 {
                    return Update::Keep(());
                }
                Update::Write(encode(number(value).saturating_add_signed(delta)), ())
            })
            .await
    }

    #[cfg(test)]
    pub(crate) async fn value(&self, kind: Kind, key: &str) -> Result<u64, CounterError> {
        Ok(number(self.bucket(kind).get(key).await?.as_deref()))
    }
}

/// A counter's value; absent (or unreadable) counts as zero.
fn number(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn encode(value: u64) -> Bytes {
    Bytes::from(value.to_string())
}
