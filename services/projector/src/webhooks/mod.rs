//! Signed webhooks for billing systems: a tenant registers a URL, and the
//! projector pushes that tenant's usage events to it in export order, as
//! signed CloudEvents batches, at least once.
//!
//! Each webhook has its own cursor with exactly the export's semantics (the
//! same query: ledger order, rows of still-running transactions held back),
//! and it only moves when the receiver answers 2xx. Failures are retried with
//! exponential backoff and jitter. Instances coordinate through a short
//! claim on the row (`FOR UPDATE SKIP LOCKED` plus a lease), so several
//! projectors never deliver one webhook concurrently.

mod client;
mod delivery;
mod error;
pub(crate) mod registry;
pub(crate) mod secret;
pub mod signature;

use std::{sync::Arc, time::Duration};

use keyway_common::{Config, ConfigError, outbound::OutboundPolicy};
use keyway_crypto::Kms;

pub use delivery::run;
pub use error::WebhookError;
pub use secret::{RewrapError, SecretError, rewrap_data_keys};

/// How webhooks are delivered; `KEYWAY_WEBHOOK_*` (see docs/billing.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `KEYWAY_WEBHOOK_BATCH_SIZE`: the most events in one delivery (100).
    pub batch_size: i64,
    /// `KEYWAY_WEBHOOK_POLL_MS`: how often an idle instance looks for due
    /// webhooks, i.e. the delay before a new event goes out (500 ms).
    pub poll_interval: Duration,
    /// `KEYWAY_WEBHOOK_TIMEOUT_MS`: one delivery's whole request (10 s).
    pub timeout: Duration,
    /// `KEYWAY_WEBHOOK_RETRY_BASE_MS`: the first retry's delay, doubled per
    /// consecutive failure (1 s).
    pub retry_base: Duration,
    /// `KEYWAY_WEBHOOK_MAX_BACKOFF_MS`: the longest delay between retries (5 min).
    pub max_backoff: Duration,
    /// `KEYWAY_WEBHOOK_CONCURRENCY`: deliveries in flight per instance (8).
    pub concurrency: usize,
    /// Production: https only, and never a private, loopback or link-local
    /// address (`KEYWAY_ENV=prod`, `KEYWAY_ALLOW_PRIVATE_URLS`).
    pub policy: OutboundPolicy,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            batch_size: 100,
            poll_interval: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
            retry_base: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            concurrency: 8,
            policy: OutboundPolicy {
                allow_private: false,
                require_https: true,
            },
        }
    }
}

impl WebhookSettings {
    /// Reads the `KEYWAY_WEBHOOK_*` variables; an unusable one names itself.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let vars = config.vars();
        Ok(Self {
            batch_size: vars.number("KEYWAY_WEBHOOK_BATCH_SIZE", 100, 1..=1_000)? as i64,
            poll_interval: vars.millis("KEYWAY_WEBHOOK_POLL_MS", 500, 10..=60_000)?,
            timeout: vars.millis("KEYWAY_WEBHOOK_TIMEOUT_MS", 10_000, 100..=120_000)?,
            retry_base: vars.millis("KEYWAY_WEBHOOK_RETRY_BASE_MS", 1_000, 10..=3_600_000)?,
            max_backoff: vars.millis("KEYWAY_WEBHOOK_MAX_BACKOFF_MS", 300_000, 10..=86_400_000)?,
            concurrency: vars.number("KEYWAY_WEBHOOK_CONCURRENCY", 8, 1..=256)? as usize,
            policy: OutboundPolicy::for_config(config),
        })
    }
}

/// What the webhook API and the delivery worker share: the settings, the
/// sealing of signing secrets, and the HTTP client for deliveries.
#[derive(Clone)]
pub struct Webhooks {
    pub(crate) settings: WebhookSettings,
    pub(crate) secrets: Arc<secret::SecretBox>,
    pub(crate) client: reqwest::Client,
}

impl Webhooks {
    /// `kms` seals the signing secrets; under `keyway up` it is the key
    /// service's own.
    pub fn new(kms: Arc<dyn Kms>, settings: WebhookSettings) -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: client::build(&settings)?,
            secrets: Arc::new(secret::SecretBox::new(kms)),
            settings,
        })
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config::from_source(keyway_common::Vars::from_pairs(pairs)).unwrap()
    }

    #[test]
    fn settings_default_sanely_and_bad_values_are_named() {
        let s = WebhookSettings::from_config(&config(&[])).unwrap();
        assert_eq!((s.batch_size, s.concurrency), (100, 8));
        assert_eq!(
            (s.poll_interval, s.timeout, s.retry_base, s.max_backoff),
            (
                Duration::from_millis(500),
                Duration::from_secs(10),
                Duration::from_secs(1),
                Duration::from_secs(300)
            )
        );
        // Dev allows loopback receivers and plain http.
        assert_eq!(
            s.policy,
            OutboundPolicy {
                allow_private: true,
                require_https: false
            }
        );
        let s = WebhookSettings::from_config(&config(&[
            ("KEYWAY_WEBHOOK_BATCH_SIZE", "7"),
            ("KEYWAY_WEBHOOK_RETRY_BASE_MS", "50"),
        ]))
        .unwrap();
        assert_eq!((s.batch_size, s.retry_base), (7, Duration::from_millis(50)));
        for (name, bad) in [
            ("KEYWAY_WEBHOOK_BATCH_SIZE", "0"),
            ("KEYWAY_WEBHOOK_TIMEOUT_MS", "soon"),
            ("KEYWAY_WEBHOOK_CONCURRENCY", "100000"),
        ] {
            let err = WebhookSettings::from_config(&config(&[(name, bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
