//! Shared counters in NATS KV (JetStream key-value): one bucket, opened on
//! first use, whose entries are read and rewritten with compare-and-set on
//! their revision, so any number of processes update one value and never
//! overwrite each other's updates. The gateway's rate limits and budgets
//! and the brute-force guard's failure counts are both kept this way
//! (ARCHITECTURE.md §6, "shared counters").

use std::time::Duration;

use async_nats::jetstream::{
    self,
    kv::{self, CreateErrorKind, UpdateErrorKind},
    stream,
};
use bytes::Bytes;
use tokio::sync::OnceCell;

/// CAS attempts before giving up on one update; only reached under extreme
/// contention on one entry, and then the caller falls back as it documents.
const MAX_ATTEMPTS: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("NATS KV is unavailable: {0}")]
    Unavailable(String),
    #[error("NATS KV did not answer within {0:?}")]
    TimedOut(Duration),
    #[error("too much contention on a counter")]
    Contended,
}

/// What an update does with the entry it read.
pub enum Update<T> {
    /// Write these bytes (CAS on the revision read), then return `T`.
    Write(Bytes, T),
    /// Leave the entry as it is and return `T`.
    Keep(T),
}

/// One KV bucket, created on first use (idempotently across processes) and
/// retried on the next call when NATS was down.
pub struct KvBucket {
    js: jetstream::Context,
    name: String,
    max_age: Duration,
    /// Bounds opening the bucket, and each whole update.
    timeout: Duration,
    /// Replicas of the bucket's stream, when this process creates it.
    replicas: usize,
    store: OnceCell<kv::Store>,
}

impl KvBucket {
    /// `max_age` is how long an entry lives after its last write.
    pub fn new(client: async_nats::Client, name: String, max_age: Duration, timeout: Duration) -> Self {
        // JetStream requests get the same bound as the whole update; the
        // client's own default (5 s) would otherwise cut a patient caller
        // short with an error that reads as "NATS is unavailable".
        let mut js = jetstream::new(client);
        js.set_timeout(timeout);
        Self {
            js,
            name,
            max_age,
            timeout,
            replicas: 1,
            store: OnceCell::new(),
        }
    }

    /// `KEYWAY_NATS_REPLICAS`: how many servers hold the bucket when it is
    /// created here (an existing bucket keeps its own).
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The entry's value, `None` when absent (or deleted).
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, KvError> {
        // Boxed, as in `update`: see there.
        Box::pin(async {
            let store = self.store().await?;
            self.bounded(async { Ok(read(store, key).await?.0) }).await
        })
        .await
    }

    /// Reads the entry, lets `change` decide from its current value (`None`
    /// when absent), and writes the result only if nobody wrote in between;
    /// otherwise reads again and asks `change` again.
    pub async fn update<T>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&[u8]>) -> Update<T>,
    ) -> Result<T, KvError> {
        // Boxed: async-nats' futures make this one about 5.5 KB, and every
        // future that awaits it would be as large, even where it is seldom
        // reached: the limits and the auth guard, and so every request's
        // handler, which is moved into boxes as it goes through the router
        // (8.5 KB copied each time; docs/benchmarks.md). One allocation
        // beside a NATS round trip costs nothing.
        Box::pin(async move {
            let store = self.store().await?;
            self.bounded(async {
                for _ in 0..MAX_ATTEMPTS {
                    let (value, revision) = read(store, key).await?;
                    match change(value.as_deref()) {
                        Update::Keep(out) => return Ok(out),
                        Update::Write(bytes, out) => {
                            if write(store, key, bytes, revision).await? {
                                return Ok(out);
                            }
                        }
                    }
                }
                Err(KvError::Contended)
            })
            .await
        })
        .await
    }

    async fn bounded<T>(&self, work: impl Future<Output = Result<T, KvError>>) -> Result<T, KvError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| KvError::TimedOut(self.timeout))?
    }

    async fn store(&self) -> Result<&kv::Store, KvError> {
        self.store
            .get_or_try_init(|| async {
                // The bucket's stream is created directly, as `nats kv add`
                // would: async-nats' `create_key_value` sends options that
                // NATS 2.9 cannot parse.
                let open = async {
                    let unavailable = |e: &dyn std::fmt::Display| KvError::Unavailable(e.to_string());
                    self.js
                        .get_or_create_stream(stream::Config {
                            name: format!("KV_{}", self.name),
                            subjects: vec![format!("$KV.{}.>", self.name)],
                            max_messages_per_subject: 1,
                            max_age: self.max_age,
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
                        .get_key_value(&self.name)
                        .await
                        .map_err(|e| unavailable(&e))
                };
                tokio::time::timeout(self.timeout, open)
                    .await
                    .map_err(|_| KvError::TimedOut(self.timeout))?
            })
            .await
    }
}

/// The entry's value and revision; `(None, None)` when it does not exist.
async fn read(store: &kv::Store, key: &str) -> Result<(Option<Bytes>, Option<u64>), KvError> {
    let entry = store
        .entry(key)
        .await
        .map_err(|e| KvError::Unavailable(e.to_string()))?;
    Ok(match entry {
        Some(e) if e.operation == kv::Operation::Put => (Some(e.value), Some(e.revision)),
        // Deleted or purged: `create` works on it again.
        _ => (None, None),
    })
}

/// `Ok(false)` when another writer got there first; the caller re-reads.
async fn write(store: &kv::Store, key: &str, bytes: Bytes, revision: Option<u64>) -> Result<bool, KvError> {
    match revision {
        Some(revision) => match store.update(key, bytes, revision).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(KvError::Unavailable(e.to_string())),
        },
        None => match store.create(key, bytes).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(KvError::Unavailable(e.to_string())),
        },
    }
}

/// A NATS KV key segment for any id: kept as it is when it is made only of
/// the KV key alphabet, else hex-encoded behind an `x`, so no id can split
/// or forge another's key. Encoded ids start with `x`, so a plain id never
/// does.
pub fn key_segment(id: &str) -> String {
    let safe = !id.is_empty()
        && !id.starts_with('x')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if safe {
        id.to_owned()
    } else {
        format!("x{}", hex::encode(id))
    }
}

#[cfg(test)]
mod tests {
    use super::key_segment;

    #[test]
    fn key_segments_are_plain_or_hex_encoded() {
        assert_eq!(key_segment("acme-1"), "acme-1");
        assert_eq!(key_segment("a.b"), "x612e62");
        assert_eq!(key_segment(""), "x");
        assert_eq!(key_segment("x1"), "x7831");
    }
}
