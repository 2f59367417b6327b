//! The one way Keyway reads a setting: [`Vars`], a snapshot of variables
//! with typed getters whose errors name the variable, what it held and
//! what it may hold. Every component reads its own section through it
//! (`Config`, the gateway's limits, the projector, its webhooks, the mock).
//!
//! Why not `figment`, `envy` or clap's `env`: clap reads only the process
//! environment, so tests could not inject variables without mutating state
//! that every test thread shares; `envy` and `figment` report serde field
//! names rather than variable names, and would each need shims for what
//! Keyway's variables already mean — an empty value counts as unset,
//! booleans accept `1/yes/on`, durations are in milliseconds, ranges are
//! checked, and a few names are not prefixed (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `AWS_ENDPOINT_URL`). These getters are that shim, without a dependency.

use std::{collections::HashMap, fmt::Display, ops::RangeInclusive, str::FromStr, sync::Arc, time::Duration};

use super::ConfigError;

/// A snapshot of variables, cheap to clone. Built from the process
/// environment once at start, or from a map in tests.
#[derive(Clone, Default)]
pub struct Vars(Arc<HashMap<String, String>>);

impl Vars {
    pub fn new(vars: HashMap<String, String>) -> Self {
        Self(Arc::new(vars))
    }

    /// From literal pairs, as tests inject variables without touching the
    /// process environment.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    pub fn from_process() -> Self {
        Self::new(std::env::vars().collect())
    }

    /// Snapshots `names` from a lookup function, for callers that hold a
    /// lookup rather than a map.
    pub fn from_lookup<'a>(
        names: impl IntoIterator<Item = &'a str>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Self {
        Self::new(
            names
                .into_iter()
                .filter_map(|name| lookup(name).map(|value| (name.to_owned(), value)))
                .collect(),
        )
    }

    /// The value of `name`, if set to anything but blanks: `FOO=` in a
    /// compose file means "use the default".
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }

    pub fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// Any `FromStr` type; `expected` describes what parses.
    pub fn parse<T>(&self, name: &str, default: T, expected: &str) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        raw.trim()
            .parse()
            .map_err(|e| ConfigError::invalid(name, format!("{expected} ({e})"), &raw))
    }

    /// A whole number within `range`, if set.
    pub fn number_opt(&self, name: &str, range: RangeInclusive<u64>) -> Result<Option<u64>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        match raw.trim().parse::<u64>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::invalid(name, describe(&range), &raw)),
        }
    }

    /// A whole number within `range`, or `default` when unset.
    pub fn number(&self, name: &str, default: u64, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
        Ok(self.number_opt(name, range)?.unwrap_or(default))
    }

    /// A duration given in milliseconds (the `*_MS` variables).
    pub fn millis(
        &self,
        name: &str,
        default_ms: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default_ms, range).map(Duration::from_millis)
    }

    /// `1/true/yes/on` or `0/false/no/off`, in any case.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        self.choice(
            name,
            default,
            &[
                ("true", true),
                ("1", true),
                ("yes", true),
                ("on", true),
                ("false", false),
                ("0", false),
                ("no", false),
                ("off", false),
            ],
        )
    }

    /// One of `options` (matched case-insensitively), or `default` when unset.
    pub fn choice<T: Copy>(&self, name: &str, default: T, options: &[(&str, T)]) -> Result<T, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let wanted = raw.trim().to_ascii_lowercase();
        options
            .iter()
            .find(|(option, _)| *option == wanted)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(option, _)| *option).collect();
                ConfigError::invalid(name, format!("one of {}", names.join(", ")), &raw)
            })
    }
}

fn describe(range: &RangeInclusive<u64>) -> String {
    match (*range.start(), *range.end()) {
        (0, u64::MAX) => "a whole number".to_owned(),
        (1, u64::MAX) => "a positive whole number".to_owned(),
        (low, u64::MAX) => format!("a whole number of at least {low}"),
        (low, high) => format!("a whole number from {low} to {high}"),
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
    fn a_blank_value_counts_as_unset() {
        let v = vars(&[("A", "  ")]);
        assert_eq!(v.number("A", 7, 0..=10).unwrap(), 7);
        assert!(v.flag("A", true).unwrap());
    }

    #[test]
    fn errors_name_the_variable_the_value_and_what_is_allowed() {
        let v = vars(&[("A", "12"), ("B", "maybe")]);
        let err = v.number("A", 1, 1..=10).unwrap_err().to_string();
        assert!(
            err.contains("A") && err.contains("\"12\"") && err.contains("from 1 to 10"),
            "{err}"
        );
        let err = v
            .choice("B", 0, &[("open", 0), ("closed", 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("B") && err.contains("open, closed"), "{err}");
    }

    #[test]
    fn flags_accept_the_usual_spellings() {
        let v = vars(&[("A", "On"), ("B", "0")]);
        assert!(v.flag("A", false).unwrap());
        assert!(!v.flag("B", true).unwrap());
    }
}
