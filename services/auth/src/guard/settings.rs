//! `KEYWAY_AUTH_FAILURE_*` and `KEYWAY_TRUSTED_PROXIES`: how many failed
//! authentications a client gets, over which window, and whose
//! `X-Forwarded-For` is believed when telling clients apart.

use std::time::Duration;

use keyway_common::{ConfigError, Vars};

use super::TrustedProxies;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardSettings {
    /// `KEYWAY_AUTH_FAILURE_LIMIT`: failures within the window that block
    /// the client (1–1000; the stored record holds one time per failure).
    pub failure_limit: u32,
    /// `KEYWAY_AUTH_FAILURE_WINDOW_MS`: the sliding window failures are
    /// counted over, and how long a block lasts.
    pub window: Duration,
    pub trusted_proxies: TrustedProxies,
}

impl Default for GuardSettings {
    /// 5 failures per 15 minutes, the usual lockout policy (and seed 001's).
    fn default() -> Self {
        Self {
            failure_limit: 5,
            window: Duration::from_secs(15 * 60),
            trusted_proxies: TrustedProxies::default(),
        }
    }
}

impl GuardSettings {
    pub fn from_config(vars: &Vars) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let limit = vars.number(
            "KEYWAY_AUTH_FAILURE_LIMIT",
            u64::from(defaults.failure_limit),
            1..=1000,
        )?;
        Ok(Self {
            failure_limit: u32::try_from(limit).unwrap_or(defaults.failure_limit),
            window: vars.millis(
                "KEYWAY_AUTH_FAILURE_WINDOW_MS",
                defaults.window.as_millis() as u64,
                1_000..=24 * 3_600_000,
            )?,
            trusted_proxies: match vars.get("KEYWAY_TRUSTED_PROXIES") {
                Some(raw) => TrustedProxies::parse(&raw)?,
                None => TrustedProxies::default(),
            },
        })
    }

    /// The effective settings, for `keyway config`.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let proxies = if self.trusted_proxies.is_empty() {
            "(none: the socket peer is the client)".to_owned()
        } else {
            self.trusted_proxies.to_config_string()
        };
        vec![
            ("KEYWAY_AUTH_FAILURE_LIMIT", self.failure_limit.to_string()),
            (
                "KEYWAY_AUTH_FAILURE_WINDOW_MS",
                self.window.as_millis().to_string(),
            ),
            ("KEYWAY_TRUSTED_PROXIES", proxies),
        ]
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(pairs)
    }

    #[test]
    fn defaults_are_five_failures_per_fifteen_minutes_and_no_proxies() {
        let s = GuardSettings::from_config(&vars(&[])).unwrap();
        assert_eq!(s, GuardSettings::default());
        assert_eq!((s.failure_limit, s.window.as_secs()), (5, 900));
        let s = GuardSettings::from_config(&vars(&[
            ("KEYWAY_AUTH_FAILURE_LIMIT", "3"),
            ("KEYWAY_AUTH_FAILURE_WINDOW_MS", "2000"),
            ("KEYWAY_TRUSTED_PROXIES", "10.0.0.0/8"),
        ]))
        .unwrap();
        assert_eq!((s.failure_limit, s.window.as_millis()), (3, 2000));
        assert!(!s.trusted_proxies.is_empty());
        let err = GuardSettings::from_config(&vars(&[("KEYWAY_AUTH_FAILURE_LIMIT", "0")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEYWAY_AUTH_FAILURE_LIMIT"), "{err}");
    }
}
