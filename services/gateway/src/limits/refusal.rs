//! A refusal by the limiter: which limit, whose, and when to come back.

use super::window::Kind;

/// A refused request: which limit, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Refusal {
    pub(crate) kind: Kind,
    pub(crate) scope: &'static str,
    pub(crate) limit: u64,
    pub(crate) retry_after: u64,
    /// The limit is taken up by reservations of requests still running
    /// here, which settle to their real (smaller) use within seconds.
    pub(crate) held_in_flight: bool,
    /// The request alone reserves this much, more than the whole limit: it
    /// can never run until it asks for less.
    pub(crate) requested: Option<u64>,
}

impl Refusal {
    pub(super) fn message(&self) -> String {
        let what = match self.kind {
            Kind::RequestsPerMinute => format!("requests per minute ({})", self.limit),
            Kind::TokensPerMinute => format!("tokens per minute ({})", self.limit),
            Kind::MonthlySpend => format!("monthly budget ({} micro-units)", self.limit),
        };
        if let Some(requested) = self.requested {
            return format!(
                "The {} limit on {what} is smaller than this request's reservation ({requested}); lower `max_tokens` or the prompt.",
                self.scope
            );
        }
        let state = if self.held_in_flight {
            "is fully reserved by requests in flight"
        } else {
            "is reached"
        };
        format!(
            "The {} limit on {what} {state}. Retry after {} s.",
            self.scope, self.retry_after
        )
    }

    pub fn is_budget(&self) -> bool {
        self.kind.is_budget()
    }

    pub fn retry_after(&self) -> u64 {
        self.retry_after
    }

    /// A refusal of the tenant's requests per minute (or its monthly
    /// budget), for tests and the OpenAPI examples.
    pub(crate) fn sample(budget: bool) -> Self {
        Self {
            kind: if budget {
                Kind::MonthlySpend
            } else {
                Kind::RequestsPerMinute
            },
            scope: "tenant",
            limit: if budget { 5_000_000 } else { 60 },
            retry_after: 7,
            held_in_flight: false,
            requested: None,
        }
    }
}
