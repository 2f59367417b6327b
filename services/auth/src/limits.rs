//! Rate limits and spend budgets: what a tenant or a gateway API key may use.
//! The key service stores them; the gateway enforces them.

use serde::{Deserialize, Serialize};

/// One set of limits. An absent field means "no limit".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests per UTC minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_minute: Option<u64>,
    /// Input plus output tokens per UTC minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_minute: Option<u64>,
    /// Spend per UTC calendar month, in micro-units of the catalog currency
    /// (1 USD = 1,000,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_budget_micros: Option<u64>,
}

impl Limits {
    pub fn is_unlimited(&self) -> bool {
        *self == Self::default()
    }

    /// Zero is refused: it would lock a caller out; revoke the key instead.
    pub fn validate(&self) -> Result<(), &'static str> {
        let fields = [
            self.requests_per_minute,
            self.tokens_per_minute,
            self.monthly_budget_micros,
        ];
        if fields.contains(&Some(0)) {
            return Err("limits must be positive whole numbers; omit a field for no limit");
        }
        // KV counters are decimal u64; keep room for reconciliation overruns.
        if fields.iter().flatten().any(|v| *v > u64::MAX / 4) {
            return Err("a limit is too large");
        }
        Ok(())
    }
}

/// The limits that apply to one caller: its tenant's and its API key's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallerLimits {
    #[serde(default)]
    pub tenant: Limits,
    #[serde(default)]
    pub api_key: Limits,
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_mean_unlimited_and_zero_is_refused() {
        let none: Limits = serde_json::from_str("{}").unwrap();
        assert!(none.is_unlimited());
        let some: Limits = serde_json::from_str(r#"{"requests_per_minute": 5}"#).unwrap();
        assert_eq!(some.requests_per_minute, Some(5));
        assert!(some.validate().is_ok());
        let zero = Limits {
            tokens_per_minute: Some(0),
            ..Limits::default()
        };
        assert!(zero.validate().is_err());
        assert!(serde_json::from_str::<Limits>(r#"{"rpm": 5}"#).is_err());
        assert_eq!(serde_json::to_string(&none).unwrap(), "{}");
    }
}
