//! The projector: consumes usage events from JetStream and builds per-tenant
//! billing views. This crate owns its schema (`migrations/projector`).
//!
//! Each batch of events is written in one Postgres transaction: insert into
//! the ledger keyed by event id (`ON CONFLICT DO NOTHING`), fold only the
//! rows actually inserted into the daily and monthly views, save the
//! checkpoint, commit — and only then ack. A crash anywhere before the ack
//! leads to a redelivery that the ledger's primary key turns into a no-op, so
//! several instances may share one durable consumer.
//!
//! The [`webhooks`] worker pushes each tenant's events, in export order, to
//! the billing systems it registered, signed and at least once.

mod consumer;
mod decode;
mod export;
mod held;
pub mod http;
mod last_used;
mod ledger;
mod ledger_columns;
mod retention;
mod scope;
mod tenant_deletions;
pub mod webhooks;

use std::time::Duration;

use keyway_proto::subjects;
use sqlx::PgPool;

pub use consumer::run;
pub use last_used::last_used;
pub use ledger::rebuild;
pub use retention::prune;

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    keyway_common::db::migrate(pool, sqlx::migrate!("../../migrations/projector")).await
}

/// How one projector instance runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectorSettings {
    /// `KEYWAY_NATS_PREFIX`: names the stream, subjects and durable consumer.
    pub nats_prefix: String,
    /// The most events folded in one transaction (default 2000). Batches
    /// only fill under load; bigger ones amortize the view upserts, which
    /// dominate the cost (see bench/projector.sh).
    pub batch_size: usize,
    /// `KEYWAY_PROJECTOR_WRITERS`: batches one process writes at once, each
    /// in its own transaction (default 2). Writers need no lock between
    /// them (migration 2007); more than one only work at once on full
    /// batches, that is when there is a backlog.
    pub writers: usize,
    /// `KEYWAY_PROJECTOR_LINGER_MS`: after the first event of a batch, how
    /// long to wait for more before writing a partial batch (default 250 ms).
    /// A transaction costs Postgres a fixed part worth about 40 of its rows,
    /// and on cores shared with the gateway a transaction's CPU can hold a
    /// request thread off its CPU: at 1,000 requests/s, 250 ms batches cost
    /// Postgres about 30% less CPU a request than 50 ms ones and lowered the
    /// gateway's paced p99 in five pairs of six (docs/benchmarks.md). The
    /// views show an event that much later. An event waiting here is still
    /// unacked in JetStream, so a crash loses nothing.
    pub linger: Duration,
    /// `KEYWAY_USAGE_RETENTION_DAYS`: prune ledger rows older than this,
    /// never past a registered export cursor or a webhook's delivery cursor.
    /// `None` keeps everything.
    pub retention_days: Option<u32>,
}

impl ProjectorSettings {
    pub const DEFAULT_BATCH_SIZE: usize = 2_000;
    pub const DEFAULT_WRITERS: usize = 2;
    pub const DEFAULT_LINGER: Duration = Duration::from_millis(250);

    pub fn new(nats_prefix: impl Into<String>) -> Self {
        Self {
            nats_prefix: nats_prefix.into(),
            batch_size: Self::DEFAULT_BATCH_SIZE,
            writers: Self::DEFAULT_WRITERS,
            linger: Self::DEFAULT_LINGER,
            retention_days: None,
        }
    }

    /// Reads `KEYWAY_USAGE_RETENTION_DAYS`, `KEYWAY_PROJECTOR_BATCH_SIZE`,
    /// `KEYWAY_PROJECTOR_WRITERS` and `KEYWAY_PROJECTOR_LINGER_MS` from the
    /// process configuration; an unusable value names itself.
    pub fn from_config(config: &keyway_common::Config) -> Result<Self, keyway_common::ConfigError> {
        let vars = config.vars();
        Ok(Self {
            retention_days: vars
                .number_opt("KEYWAY_USAGE_RETENTION_DAYS", 1..=u64::from(u32::MAX))?
                .map(|days| days as u32),
            batch_size: vars.number(
                "KEYWAY_PROJECTOR_BATCH_SIZE",
                Self::DEFAULT_BATCH_SIZE as u64,
                1..=10_000,
            )? as usize,
            writers: vars.number("KEYWAY_PROJECTOR_WRITERS", Self::DEFAULT_WRITERS as u64, 1..=16)? as usize,
            linger: Duration::from_millis(vars.number(
                "KEYWAY_PROJECTOR_LINGER_MS",
                Self::DEFAULT_LINGER.as_millis() as u64,
                0..=1_000,
            )?),
            ..Self::new(config.nats_prefix.clone())
        })
    }

    /// The JetStream stream of usage events, as `ensure_streams` names it.
    pub fn stream_name(&self) -> String {
        subjects::stream(&self.nats_prefix, subjects::USAGE)
    }

    /// The durable consumer every projector instance shares.
    pub fn consumer_name(&self) -> String {
        format!("{}_projector", self.nats_prefix)
    }

    /// The key service's change events, which name deleted tenants.
    pub fn keys_stream_name(&self) -> String {
        subjects::stream(&self.nats_prefix, subjects::KEYS)
    }

    pub fn filter_subject(&self) -> String {
        subjects::all(&self.nats_prefix, subjects::USAGE)
    }

    /// Every tenant's key-change events.
    pub fn keys_filter_subject(&self) -> String {
        subjects::all(&self.nats_prefix, subjects::KEYS)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix_like_the_stream_setup_does() {
        let s = ProjectorSettings::new("kw-test");
        assert_eq!(s.stream_name(), "KW_TEST_USAGE");
        assert_eq!(s.consumer_name(), "kw-test_projector");
        assert_eq!(s.filter_subject(), "kw-test.usage.v1.>");
        let config = keyway_common::Config::from_vars(
            [("KEYWAY_NATS_PREFIX", "kw-test")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
        .unwrap();
        assert_eq!(s.stream_name(), config.stream_name("usage"));
        assert_eq!(s.keys_stream_name(), config.stream_name("keys"));
    }

    #[test]
    fn settings_come_from_the_environment_and_bad_values_are_named() {
        let config = |pairs: &[(&str, &str)]| {
            keyway_common::Config::from_vars(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
            .unwrap()
        };
        let s = ProjectorSettings::from_config(&config(&[("KEYWAY_USAGE_RETENTION_DAYS", "90")])).unwrap();
        assert_eq!((s.retention_days, s.batch_size), (Some(90), 2_000));
        let err = ProjectorSettings::from_config(&config(&[("KEYWAY_USAGE_RETENTION_DAYS", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYWAY_USAGE_RETENTION_DAYS"), "{err}");
        assert_eq!(s.linger, ProjectorSettings::DEFAULT_LINGER);
        let s = ProjectorSettings::from_config(&config(&[("KEYWAY_PROJECTOR_LINGER_MS", "200")])).unwrap();
        assert_eq!(s.linger, Duration::from_millis(200));
        let err = ProjectorSettings::from_config(&config(&[("KEYWAY_PROJECTOR_LINGER_MS", "5000")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYWAY_PROJECTOR_LINGER_MS"), "{err}");
    }
}
