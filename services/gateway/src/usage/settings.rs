//! `KEYWAY_USAGE_*`: how the publisher queues and batches usage events.

use std::time::Duration;

use keyway_common::{ConfigError, Vars};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherSettings {
    /// `KEYWAY_USAGE_QUEUE_CAPACITY`: events waiting for the publishing task.
    /// Past it, `record` hands events to the spool (off the request path)
    /// instead of queueing them: memory stays bounded, nothing is dropped.
    pub queue_capacity: usize,
    /// `KEYWAY_USAGE_BATCH_MAX`: the most events of one tenant in one
    /// JetStream message. `1` turns batching off: one `UsageEvent` per
    /// message, `Nats-Msg-Id` = event id, as before batching existed.
    pub batch_max: usize,
    /// `KEYWAY_USAGE_BATCH_MS`: how long the publisher waits after the first
    /// event of a round for more, unless `batch_max` are queued already. It
    /// bounds the delay added to billing.
    ///
    /// 20 ms, not the 5 it was: every JetStream message costs NATS and this
    /// process CPU of its own (the publish and its ack, the store, the
    /// delivery and the projector's ack), whatever it carries. At a paced
    /// 1,000 requests/s a quarter of the messages took about a tenth off
    /// Keyway's CPU a request and half off NATS's, and lowered the added p99
    /// in six pairs of six (docs/benchmarks.md, the thirty-first machine).
    /// Waiting events are in memory: a graceful stop publishes or spools
    /// them; a SIGKILL loses them, as it loses the events of every request
    /// then in flight, which at any rate are far more than 20 ms' worth.
    pub batch_linger: Duration,
}

impl Default for PublisherSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            batch_max: 256,
            batch_linger: Duration::from_millis(20),
        }
    }
}

impl PublisherSettings {
    /// JetStream's default message limit is 1 MiB; 4,096 events of the
    /// largest plausible size stay below it (the publisher also splits a
    /// batch by bytes).
    pub const MAX_BATCH: u64 = 4_096;

    /// Reads `KEYWAY_USAGE_*`; an unusable value names itself and its range.
    pub fn from_config(vars: &Vars) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        Ok(Self {
            queue_capacity: vars.number(
                "KEYWAY_USAGE_QUEUE_CAPACITY",
                defaults.queue_capacity as u64,
                1..=16_777_216,
            )? as usize,
            batch_max: vars.number(
                "KEYWAY_USAGE_BATCH_MAX",
                defaults.batch_max as u64,
                1..=Self::MAX_BATCH,
            )? as usize,
            batch_linger: vars.millis(
                "KEYWAY_USAGE_BATCH_MS",
                defaults.batch_linger.as_millis() as u64,
                0..=1_000,
            )?,
        })
    }

    /// As `keyway config` shows them.
    pub fn effective(&self) -> [(&'static str, String); 3] {
        [
            ("KEYWAY_USAGE_QUEUE_CAPACITY", self.queue_capacity.to_string()),
            (
                "KEYWAY_USAGE_BATCH_MAX",
                if self.batch_max == 1 {
                    "1 (batching off)".to_owned()
                } else {
                    self.batch_max.to_string()
                },
            ),
            ("KEYWAY_USAGE_BATCH_MS", self.batch_linger.as_millis().to_string()),
        ]
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values_name_themselves() {
        let s = PublisherSettings::from_config(&Vars::from_pairs(&[])).unwrap();
        assert_eq!(s, PublisherSettings::default());
        let off =
            PublisherSettings::from_config(&Vars::from_pairs(&[("KEYWAY_USAGE_BATCH_MAX", "1")])).unwrap();
        assert_eq!(off.batch_max, 1);
        for (name, value) in [
            ("KEYWAY_USAGE_BATCH_MAX", "0"),
            ("KEYWAY_USAGE_BATCH_MAX", "100000"),
            ("KEYWAY_USAGE_QUEUE_CAPACITY", "0"),
            ("KEYWAY_USAGE_BATCH_MS", "soon"),
        ] {
            let err = PublisherSettings::from_config(&Vars::from_pairs(&[(name, value)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(name), "{err}");
        }
    }
}
