//! The shared counters: NATS KV (JetStream key-value) updated with
//! compare-and-set on the entry's revision, so any number of gateways add to
//! one number and never overwrite each other's updates.

use std::time::Duration;

use async_nats::jetstream::{
    self,
    kv::{self, CreateErrorKind, UpdateErrorKind},
    stream,
};
use bytes::Bytes;
use tokio::sync::OnceCell;

use super::window::Kind;

/// CAS attempts before giving up on one update; only reached under extreme
/// contention on one counter, and then the caller fails open or closed.
const MAX_ATTEMPTS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CounterError {
    #[error("NATS KV is unavailable: {0}")]
    Unavailable(String),
    #[error("NATS KV did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("too much contention on a counter")]
    Contended,
}

pub(crate) struct Counters {
    js: jetstream::Context,
    /// Minute counters live minutes; spend counters a month and a bit.
    rate: Bucket,
    spend: Bucket,
    timeout: Duration,
    replicas: usize,
}

struct Bucket {
    name: String,
    max_age: Duration,
    store: OnceCell<kv::Store>,
}

impl Counters {
    pub(crate) fn new(
        client: async_nats::Client,
        bucket_prefix: &str,
        timeout: Duration,
        replicas: usize,
    ) -> Self {
        let bucket = |suffix: &str, max_age| Bucket {
            name: format!("{bucket_prefix}_{suffix}"),
            max_age,
            store: OnceCell::new(),
        };
        Self {
            js: jetstream::new(client),
            rate: bucket("RATE", Duration::from_secs(5 * 60)),
            spend: bucket("SPEND", Duration::from_secs(35 * 24 * 3600)),
            timeout,
            replicas,
        }
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
        let store = self.store(kind).await?;
        self.bounded(async {
            for _ in 0..MAX_ATTEMPTS {
                let (used, revision) = read(store, key).await?;
                let remaining = limit.saturating_sub(used);
                if remaining < need {
                    return Ok(None);
                }
                let grant = want.max(need).min(remaining);
                if write(store, key, used + grant, revision).await? {
                    return Ok(Some(grant));
                }
            }
            Err(CounterError::Contended)
        })
        .await
    }

    /// Adds `delta` (negative to give back) without a limit check: returning
    /// an unused lease, or charging what a request used beyond its
    /// reservation. Never goes below zero.
    pub(crate) async fn add(&self, kind: Kind, key: &str, delta: i64) -> Result<(), CounterError> {
        let store = self.store(kind).await?;
        self.bounded(async {
            for _ in 0..MAX_ATTEMPTS {
                let (used, revision) = read(store, key).await?;
                if revision.is_none() && delta <= 0 {
                    return Ok(());
                }
                let next = used.saturating_add_signed(delta);
                if write(store, key, next, revision).await? {
                    return Ok(());
                }
            }
            Err(CounterError::Contended)
        })
        .await
    }

    #[cfg(test)]
    pub(crate) async fn value(&self, kind: Kind, key: &str) -> Result<u64, CounterError> {
        let store = self.store(kind).await?;
        self.bounded(async { Ok(read(store, key).await?.0) }).await
    }

    async fn bounded<T>(
        &self,
        work: impl Future<Output = Result<T, CounterError>>,
    ) -> Result<T, CounterError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| CounterError::TimedOut(self.timeout))?
    }

    /// Opens the bucket, creating it on first use; idempotent across
    /// gateways, and retried on the next request when NATS was down.
    async fn store(&self, kind: Kind) -> Result<&kv::Store, CounterError> {
        let bucket = if kind.is_budget() { &self.spend } else { &self.rate };
        bucket
            .store
            .get_or_try_init(|| async {
                // The bucket's stream is created directly, as `nats kv add`
                // would: async-nats' `create_key_value` sends options that
                // NATS 2.9 cannot parse.
                let open = async {
                    let unavailable = |e: &dyn std::fmt::Display| CounterError::Unavailable(e.to_string());
                    self.js
                        .get_or_create_stream(stream::Config {
                            name: format!("KV_{}", bucket.name),
                            subjects: vec![format!("$KV.{}.>", bucket.name)],
                            max_messages_per_subject: 1,
                            max_age: bucket.max_age,
                            allow_rollup: true,
                            deny_delete: true,
                            allow_direct: true,
                            discard: stream::DiscardPolicy::New,
                            storage: stream::StorageType::File,
                            num_replicas: self.replicas,
                            ..Default::default()
                        })
                        .await
                        .map_err(|e| unavailable(&e))?;
                    self.js
                        .get_key_value(&bucket.name)
                        .await
                        .map_err(|e| unavailable(&e))
                };
                tokio::time::timeout(self.timeout, open)
                    .await
                    .map_err(|_| CounterError::TimedOut(self.timeout))?
            })
            .await
    }
}

/// The counter's value and revision; `None` when it does not exist yet.
async fn read(store: &kv::Store, key: &str) -> Result<(u64, Option<u64>), CounterError> {
    let entry = store
        .entry(key)
        .await
        .map_err(|e| CounterError::Unavailable(e.to_string()))?;
    Ok(match entry {
        Some(e) if e.operation == kv::Operation::Put => {
            let value = std::str::from_utf8(&e.value)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (value, Some(e.revision))
        }
        // Deleted or purged: `create` works on it again.
        _ => (0, None),
    })
}

/// `Ok(false)` when another writer got there first; the caller re-reads.
async fn write(
    store: &kv::Store,
    key: &str,
    value: u64,
    revision: Option<u64>,
) -> Result<bool, CounterError> {
    let bytes = Bytes::from(value.to_string());
    match revision {
        Some(revision) => match store.update(key, bytes, revision).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(CounterError::Unavailable(e.to_string())),
        },
        None => match store.create(key, bytes).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(CounterError::Unavailable(e.to_string())),
        },
    }
}
