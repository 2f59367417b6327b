//! `KEYWAY_LIMITS_*`: how the limiter talks to its shared counters.

use std::time::Duration;

use keyway_common::{ConfigError, Vars};

/// The variables this section reads.
const VARS: [&str; 4] = [
    "KEYWAY_LIMITS_KV_TIMEOUT_MS",
    "KEYWAY_LIMITS_LEASE_MS",
    "KEYWAY_LIMITS_OUTPUT_RESERVE",
    "KEYWAY_LIMITS_ON_NATS_DOWN",
];

#[derive(Debug, Clone)]
pub struct LimitSettings {
    /// The longest a counter update may take before the request proceeds
    /// (fail open) or is refused (fail closed).
    pub kv_timeout: Duration,
    /// How long an unused local lease is kept before it is given back.
    pub lease: Duration,
    /// What to do when NATS KV cannot be reached: serve (and log), or
    /// refuse with 503.
    pub fail_open: bool,
    /// Output tokens reserved when a request names no `max_tokens`.
    pub default_output_reserve: u64,
    /// Replicas of the counter buckets: the stack sets it from
    /// `KEYWAY_NATS_REPLICAS`, which every stream and bucket shares.
    pub kv_replicas: usize,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            kv_timeout: Duration::from_millis(500),
            lease: Duration::from_secs(1),
            fail_open: true,
            default_output_reserve: 256,
            kv_replicas: 1,
        }
    }
}

impl LimitSettings {
    /// Reads `KEYWAY_LIMITS_*`; an unusable value names itself and what it
    /// may be.
    pub fn from_config(vars: &Vars) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let positive = 1..=u64::MAX;
        Ok(Self {
            kv_timeout: vars
                .number_opt("KEYWAY_LIMITS_KV_TIMEOUT_MS", positive.clone())?
                .map_or(defaults.kv_timeout, Duration::from_millis),
            lease: vars
                .number_opt("KEYWAY_LIMITS_LEASE_MS", positive.clone())?
                .map_or(defaults.lease, Duration::from_millis),
            default_output_reserve: vars.number(
                "KEYWAY_LIMITS_OUTPUT_RESERVE",
                defaults.default_output_reserve,
                positive,
            )?,
            fail_open: vars.choice(
                "KEYWAY_LIMITS_ON_NATS_DOWN",
                true,
                &[("open", true), ("closed", false)],
            )?,
            kv_replicas: defaults.kv_replicas,
        })
    }

    /// As [`LimitSettings::from_config`], through a lookup function.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::from_config(&Vars::from_lookup(VARS, var))
    }
}
