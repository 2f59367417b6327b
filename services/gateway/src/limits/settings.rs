//! `KEYWAY_LIMITS_*`: how the limiter talks to its shared counters.

use std::time::Duration;

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
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            kv_timeout: Duration::from_millis(500),
            lease: Duration::from_secs(1),
            fail_open: true,
            default_output_reserve: 256,
        }
    }
}

impl LimitSettings {
    /// Reads `KEYWAY_LIMITS_*`; an unparsable value names itself.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut s = Self::default();
        let number = |name: &str| -> Result<Option<u64>, String> {
            var(name)
                .map(|raw| {
                    raw.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("{name}={raw:?} is not a positive whole number"))
                })
                .transpose()
        };
        if let Some(ms) = number("KEYWAY_LIMITS_KV_TIMEOUT_MS")? {
            s.kv_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number("KEYWAY_LIMITS_LEASE_MS")? {
            s.lease = Duration::from_millis(ms);
        }
        if let Some(n) = number("KEYWAY_LIMITS_OUTPUT_RESERVE")? {
            s.default_output_reserve = n;
        }
        match var("KEYWAY_LIMITS_ON_NATS_DOWN").as_deref().map(str::trim) {
            None | Some("open") => s.fail_open = true,
            Some("closed") => s.fail_open = false,
            Some(other) => {
                return Err(format!(
                    "KEYWAY_LIMITS_ON_NATS_DOWN={other:?} must be `open` or `closed`"
                ));
            }
        }
        Ok(s)
    }
}
