//! Which counter a request draws on, and when that counter's window ends.
//! Pure time arithmetic, so it is unit-tested without NATS.

use time::{Date, Month, OffsetDateTime};

/// What a counter measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    RequestsPerMinute,
    TokensPerMinute,
    MonthlySpend,
}

impl Kind {
    pub(crate) fn tag(self) -> &'static str {
        match self {
            Kind::RequestsPerMinute => "rpm",
            Kind::TokensPerMinute => "tpm",
            Kind::MonthlySpend => "spend",
        }
    }

    pub(crate) fn is_budget(self) -> bool {
        self == Kind::MonthlySpend
    }

    /// Windows are fixed: the UTC minute, or the UTC calendar month.
    pub(crate) fn window(self, now: OffsetDateTime) -> u64 {
        match self {
            Kind::RequestsPerMinute | Kind::TokensPerMinute => (now.unix_timestamp() / 60).max(0) as u64,
            Kind::MonthlySpend => now.year().max(0) as u64 * 100 + u64::from(u8::from(now.month())),
        }
    }

    /// Whole seconds until the current window ends (at least 1): the
    /// `Retry-After` of a refusal.
    pub(crate) fn retry_after(self, now: OffsetDateTime) -> u64 {
        let end = match self {
            Kind::RequestsPerMinute | Kind::TokensPerMinute => (now.unix_timestamp() / 60 + 1) * 60,
            Kind::MonthlySpend => next_month(now.date()).map_or(now.unix_timestamp() + 86_400, |d| {
                d.midnight().assume_utc().unix_timestamp()
            }),
        };
        (end - now.unix_timestamp()).max(1) as u64
    }
}

fn next_month(date: Date) -> Option<Date> {
    let (year, month) = match date.month() {
        Month::December => (date.year() + 1, Month::January),
        m => (date.year(), m.next()),
    };
    Date::from_calendar_date(year, month, 1).ok()
}

/// Whose counter it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Tenant(String),
    ApiKey(String),
}

impl Scope {
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Scope::Tenant(_) => "tenant",
            Scope::ApiKey(_) => "API key",
        }
    }
}

/// One counter in one window, e.g. `rpm.k.<key id>.29640001`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CounterKey {
    pub(crate) kind: Kind,
    pub(crate) scope: Scope,
    pub(crate) window: u64,
}

impl CounterKey {
    /// The NATS KV key. Ids are hex-encoded when they hold anything outside
    /// the KV key alphabet, so no id can split or forge another's key.
    pub(crate) fn kv_key(&self) -> String {
        let (tag, id) = match &self.scope {
            Scope::Tenant(id) => ("t", id),
            Scope::ApiKey(id) => ("k", id),
        };
        let id = keyway_common::kv::key_segment(id);
        format!("{}.{tag}.{id}.{}", self.kind.tag(), self.window)
    }
}

/// How much one trip to the shared counter leases at once: about 5% of the
/// limit, so small limits stay exact (a lease of 1) and large ones rarely
/// leave the process.
pub(crate) fn lease_chunk(limit: u64) -> u64 {
    (limit / 20).max(1)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn minute_windows_end_on_the_minute_and_months_on_the_first() {
        let now = datetime!(2026-11-22 17:30:45 UTC);
        assert_eq!(Kind::RequestsPerMinute.retry_after(now), 15);
        assert_eq!(
            Kind::TokensPerMinute.window(now),
            now.unix_timestamp() as u64 / 60
        );
        assert_eq!(Kind::MonthlySpend.window(now), 202_611);
        let to_december = datetime!(2026-12-01 00:00:00 UTC).unix_timestamp() - now.unix_timestamp();
        assert_eq!(Kind::MonthlySpend.retry_after(now), to_december as u64);
        let new_year = datetime!(2026-12-31 23:59:59 UTC);
        assert_eq!(Kind::MonthlySpend.retry_after(new_year), 1);
        assert_eq!(
            Kind::RequestsPerMinute.retry_after(datetime!(2026-11-22 17:30:00 UTC)),
            60
        );
    }

    #[test]
    fn kv_keys_are_safe_for_any_id() {
        let key = |scope| CounterKey {
            kind: Kind::MonthlySpend,
            scope,
            window: 202_611,
        };
        assert_eq!(
            key(Scope::Tenant("acme-1".into())).kv_key(),
            "spend.t.acme-1.202611"
        );
        assert_eq!(
            key(Scope::ApiKey("a.b".into())).kv_key(),
            "spend.k.x612e62.202611"
        );
        assert_eq!(key(Scope::Tenant("*".into())).kv_key(), "spend.t.x2a.202611");
        assert_ne!(
            key(Scope::Tenant("x".into())).kv_key(),
            key(Scope::ApiKey("x".into())).kv_key()
        );
        assert!(
            key(Scope::Tenant(String::new()))
                .kv_key()
                .starts_with("spend.t.x.")
        );
        // A plain id that looks like an encoded one is encoded itself.
        assert_eq!(
            key(Scope::ApiKey("x612e62".into())).kv_key(),
            "spend.k.x78363132653632.202611"
        );
        let _ = Kind::MonthlySpend.window(datetime!(2026-01-01 00:00:00 UTC));
        assert_eq!(lease_chunk(5), 1);
        assert_eq!(lease_chunk(1_000), 50);
        assert!(Kind::MonthlySpend.is_budget());
        assert_eq!(Scope::ApiKey("k".into()).describe(), "API key");
        assert_eq!(
            next_month(Date::from_calendar_date(2026, Month::December, 5).unwrap())
                .unwrap()
                .year(),
            2027
        );
    }
}
