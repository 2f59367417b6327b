//! Process-level configuration of the mock: auth mode, known keys and the
//! default latency / chunking, read from prefixed environment variables.

use std::collections::HashMap;
use std::time::Duration;

use keyway_common::{ConfigError, Vars};

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
    /// `<prefix>ERROR`: every request fails so (`429`, `500`, `503` or
    /// `timeout`), unless it asks otherwise: a whole instance acting as a
    /// faulty deployment. Same values as the per-request `error` control.
    pub error: Option<String>,
    /// `<prefix>ERROR_AFTER_CHUNKS`: every stream breaks after this many deltas.
    pub error_after_chunks: Option<usize>,
}

/// A variable held a value the mock cannot use; it names the variable and
/// what it may hold, and never echoes key material.
pub type MockConfigError = ConfigError;

/// The settings read under a prefix (`MOCK_LLM_`, or `KEYWAY_MOCK_` in-process).
const SUFFIXES: [&str; 7] = [
    "REQUIRE_AUTH",
    "KEYS",
    "LATENCY_MS",
    "CHUNKS",
    "CHUNK_DELAY_MS",
    "ERROR",
    "ERROR_AFTER_CHUNKS",
];

impl MockConfig {
    /// Reads `<prefix>REQUIRE_AUTH` (true/false/1/0), `<prefix>KEYS`
    /// ("key=identity,key2=identity2"), `<prefix>LATENCY_MS`, `<prefix>CHUNKS`
    /// and `<prefix>CHUNK_DELAY_MS` from the process environment.
    /// Unset or empty variables keep their default.
    pub fn from_env(prefix: &str) -> Result<Self, MockConfigError> {
        Self::from_vars(prefix, &Vars::from_process())
    }

    /// Same as [`MockConfig::from_env`], reading through `get` so tests need not touch the environment.
    pub fn from_lookup(prefix: &str, get: impl Fn(&str) -> Option<String>) -> Result<Self, MockConfigError> {
        let names: Vec<String> = SUFFIXES.iter().map(|s| format!("{prefix}{s}")).collect();
        Self::from_vars(prefix, &Vars::from_lookup(names.iter().map(String::as_str), get))
    }

    /// Same as [`MockConfig::from_env`], from a snapshot of variables.
    pub fn from_vars(prefix: &str, vars: &Vars) -> Result<Self, MockConfigError> {
        let name = |suffix: &str| format!("{prefix}{suffix}");
        let any = 0..=u64::MAX;
        let keys_var = name("KEYS");
        let keys = match vars.get(&keys_var) {
            None => HashMap::new(),
            Some(value) => parse_keys(&value).map_err(|reason| ConfigError::Invalid {
                var: keys_var,
                expected: "key=identity pairs separated by commas".to_owned(),
                got: reason.to_owned(),
            })?,
        };
        let error_var = name("ERROR");
        let error = vars.get(&error_var).filter(|v| !v.trim().is_empty());
        if let Some(value) = &error
            && crate::errors::parse_error(value.trim()).is_none()
        {
            return Err(ConfigError::Invalid {
                var: error_var,
                expected: "one of 400, 401, 429, 500, 503, timeout".to_owned(),
                got: value.clone(),
            });
        }
        Ok(Self {
            error: error.map(|v| v.trim().to_owned()),
            error_after_chunks: vars
                .number_opt(&name("ERROR_AFTER_CHUNKS"), 0..=usize::MAX as u64)?
                .map(|n| n as usize),
            require_auth: vars.choice(
                &name("REQUIRE_AUTH"),
                false,
                &[("true", true), ("1", true), ("false", false), ("0", false)],
            )?,
            keys,
            latency: vars.millis(&name("LATENCY_MS"), 0, any.clone())?,
            chunks: vars
                .number_opt(&name("CHUNKS"), 1..=usize::MAX as u64)?
                .map(|n| n as usize),
            chunk_delay: vars.millis(&name("CHUNK_DELAY_MS"), 0, any)?,
        })
    }
}

/// Parses `key=identity,key2=identity2`. Errors describe the entry by position,
/// never by content, because the content is a secret.
fn parse_keys(value: &str) -> Result<HashMap<String, String>, &'static str> {
    let mut keys = HashMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (key, identity) = entry
            .split_once('=')
            .ok_or("an entry that does not look like key=identity")?;
        let (key, identity) = (key.trim(), identity.trim());
        if key.is_empty() || identity.is_empty() {
            return Err("an entry with an empty key or identity");
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
    fn an_instance_wide_fault_is_read_and_checked() {
        let config =
            MockConfig::from_lookup("P_", lookup(&[("P_ERROR", "429"), ("P_ERROR_AFTER_CHUNKS", "1")]))
                .unwrap();
        assert_eq!(config.error.as_deref(), Some("429"));
        assert_eq!(config.error_after_chunks, Some(1));
        let err = MockConfig::from_lookup("P_", lookup(&[("P_ERROR", "418")])).unwrap_err();
        assert!(err.to_string().contains("P_ERROR"));
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
            let MockConfigError::Invalid { var: named, .. } = &err else {
                panic!("expected an invalid value, got {err}");
            };
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
