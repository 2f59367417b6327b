//! Process-level configuration of the mock: auth mode, known keys and the
//! default latency / chunking, read from prefixed environment variables.

use std::collections::HashMap;
use std::time::Duration;

/// Defaults for every request; per-request controls override them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockConfig {
    /// Reject requests without an API key (401) and append the caller's identity to replies.
    pub require_auth: bool,
    /// API key -> identity. Unknown keys are still accepted, identified by their masked form.
    pub keys: HashMap<String, String>,
    /// Delay before the first byte of every response.
    pub latency: Duration,
    /// `None` streams one word per SSE delta; `Some(n)` splits the reply into `n` pieces.
    pub chunks: Option<usize>,
    /// Delay between SSE deltas.
    pub chunk_delay: Duration,
}

/// An environment variable held a value the mock cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MockConfigError {
    /// `var` is the full variable name (prefix included); `reason` never echoes key material.
    #[error("invalid value for {var}: {reason}")]
    Invalid { var: String, reason: String },
}

impl MockConfig {
    /// Reads `<prefix>REQUIRE_AUTH` (true/false/1/0), `<prefix>KEYS`
    /// ("key=identity,key2=identity2"), `<prefix>LATENCY_MS`, `<prefix>CHUNKS`
    /// and `<prefix>CHUNK_DELAY_MS` from the process environment.
    /// Unset or empty variables keep their default.
    pub fn from_env(prefix: &str) -> Result<Self, MockConfigError> {
        Self::from_lookup(prefix, |name| std::env::var(name).ok())
    }

    /// Same as [`MockConfig::from_env`], reading through `get` so tests need not touch the environment.
    pub fn from_lookup(prefix: &str, get: impl Fn(&str) -> Option<String>) -> Result<Self, MockConfigError> {
        let read = |suffix: &str| {
            let var = format!("{prefix}{suffix}");
            // Empty counts as unset so `FOO=` in a compose file means "default".
            let value = get(&var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
            (var, value)
        };

        let mut config = Self::default();
        if let (var, Some(value)) = read("REQUIRE_AUTH") {
            config.require_auth = parse_bool(&value).ok_or_else(|| MockConfigError::Invalid {
                var,
                reason: format!("expected true/false/1/0, got {value:?}"),
            })?;
        }
        if let (var, Some(value)) = read("KEYS") {
            config.keys = parse_keys(&value).map_err(|reason| MockConfigError::Invalid {
                var,
                reason: reason.to_owned(),
            })?;
        }
        if let (var, Some(value)) = read("LATENCY_MS") {
            config.latency = Duration::from_millis(parse_number(&var, &value)?);
        }
        if let (var, Some(value)) = read("CHUNKS") {
            let chunks = parse_number(&var, &value)?;
            let chunks =
                usize::try_from(chunks)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| MockConfigError::Invalid {
                        var,
                        reason: format!("expected a positive integer, got {value:?}"),
                    })?;
            config.chunks = Some(chunks);
        }
        if let (var, Some(value)) = read("CHUNK_DELAY_MS") {
            config.chunk_delay = Duration::from_millis(parse_number(&var, &value)?);
        }
        Ok(config)
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

fn parse_number(var: &str, value: &str) -> Result<u64, MockConfigError> {
    value.parse().map_err(|_| MockConfigError::Invalid {
        var: var.to_owned(),
        reason: format!("expected a non-negative integer, got {value:?}"),
    })
}

/// Parses `key=identity,key2=identity2`. Errors describe the entry by position,
/// never by content, because the content is a secret.
fn parse_keys(value: &str) -> Result<HashMap<String, String>, &'static str> {
    let mut keys = HashMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, identity) = entry
            .split_once('=')
            .ok_or("every entry must look like key=identity")?;
        let (key, identity) = (key.trim(), identity.trim());
        if key.is_empty() || identity.is_empty() {
            return Err("every entry needs a non-empty key and identity");
        }
        keys.insert(key.to_owned(), identity.to_owned());
    }
    Ok(keys)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn an_empty_environment_gives_the_default_config() {
        let config = MockConfig::from_lookup("MOCK_LLM_", |_| None).unwrap();
        assert_eq!(config, MockConfig::default());
        assert!(!config.require_auth);
        assert_eq!(config.chunks, None);
    }

    #[test]
    fn every_variable_is_read_with_the_given_prefix() {
        let config = MockConfig::from_lookup(
            "KEYWAY_MOCK_",
            lookup(&[
                ("KEYWAY_MOCK_REQUIRE_AUTH", "TRUE"),
                ("KEYWAY_MOCK_KEYS", "sk-alice=alice, sk-bob=bob ,"),
                ("KEYWAY_MOCK_LATENCY_MS", "25"),
                ("KEYWAY_MOCK_CHUNKS", "3"),
                ("KEYWAY_MOCK_CHUNK_DELAY_MS", "7"),
                ("MOCK_LLM_LATENCY_MS", "999"),
            ]),
        )
        .unwrap();
        assert!(config.require_auth);
        assert_eq!(config.keys.len(), 2);
        assert_eq!(config.keys["sk-alice"], "alice");
        assert_eq!(config.keys["sk-bob"], "bob");
        assert_eq!(config.latency, Duration::from_millis(25));
        assert_eq!(config.chunks, Some(3));
        assert_eq!(config.chunk_delay, Duration::from_millis(7));
    }

    #[test]
    fn require_auth_accepts_one_and_zero() {
        let on = MockConfig::from_lookup("P_", lookup(&[("P_REQUIRE_AUTH", "1")])).unwrap();
        let off = MockConfig::from_lookup("P_", lookup(&[("P_REQUIRE_AUTH", "0")])).unwrap();
        assert!(on.require_auth);
        assert!(!off.require_auth);
    }

    #[test]
    fn an_unparsable_value_names_the_variable() {
        let cases = [
            ("P_REQUIRE_AUTH", "yes"),
            ("P_LATENCY_MS", "fast"),
            ("P_CHUNKS", "0"),
            ("P_CHUNKS", "-2"),
            ("P_CHUNK_DELAY_MS", "1.5"),
            ("P_KEYS", "sk-secret-without-identity"),
            ("P_KEYS", "=nobody"),
        ];
        for (var, value) in cases {
            let err = MockConfig::from_lookup("P_", lookup(&[(var, value)])).unwrap_err();
            let MockConfigError::Invalid { var: named, .. } = &err;
            assert_eq!(named, var, "for {var}={value}");
            assert!(err.to_string().contains(var));
        }
    }

    #[test]
    fn a_bad_keys_entry_does_not_echo_the_secret() {
        let err = MockConfig::from_lookup("P_", lookup(&[("P_KEYS", "sk-topsecret")])).unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }
}
