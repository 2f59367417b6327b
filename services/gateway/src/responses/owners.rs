//! The response-id → owner map in NATS KV.

use std::time::Duration;

use bytes::Bytes;
use keyway_common::{
    ConfigError, Vars,
    kv::{KvBucket, KvError, Update, key_segment},
};
use serde::{Deserialize, Serialize};

use crate::catalog::KeySource;

/// `KEYWAY_RESPONSES_TTL_DAYS`: how long a response id stays routable.
pub const TTL_VAR: &str = "KEYWAY_RESPONSES_TTL_DAYS";
pub const DEFAULT_TTL_DAYS: u64 = 30;

/// Longer ids are not OpenAI's and are never stored.
const MAX_ID_LEN: usize = 256;

/// Who created a response, and through which model and key source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub(crate) tenant_id: String,
    /// Set when the key source is `user`: only that user's key reaches the
    /// provider account holding the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
    pub(crate) model: String,
    pub(crate) key_source: KeySource,
}

pub struct ResponseOwners {
    bucket: KvBucket,
}

impl ResponseOwners {
    pub fn new(
        client: async_nats::Client,
        bucket: String,
        ttl: Duration,
        timeout: Duration,
        replicas: usize,
    ) -> Self {
        Self {
            bucket: KvBucket::new(client, bucket, ttl, timeout).with_replicas(replicas),
        }
    }

    /// Reads `KEYWAY_RESPONSES_TTL_DAYS` (1 to 3650 days).
    pub fn ttl_from_config(vars: &Vars) -> Result<Duration, ConfigError> {
        let days = vars.number(TTL_VAR, DEFAULT_TTL_DAYS, 1..=3650)?;
        Ok(Duration::from_secs(days * 24 * 3600))
    }

    pub(crate) async fn remember(&self, id: &str, owner: &Owner) -> Result<(), KvError> {
        if id.len() > MAX_ID_LEN {
            return Ok(());
        }
        let bytes = Bytes::from(serde_json::to_vec(owner).unwrap_or_default());
        self.bucket
            .update(&key_segment(id), |_| Update::Write(bytes.clone(), ()))
            .await
    }

    /// The owner of `id`, if it was recorded (and has not expired).
    pub(crate) async fn owner(&self, id: &str) -> Result<Option<Owner>, KvError> {
        if id.len() > MAX_ID_LEN {
            return Ok(None);
        }
        let value = self.bucket.get(&key_segment(id)).await?;
        Ok(value.and_then(|v| serde_json::from_slice(&v).ok()))
    }
}
