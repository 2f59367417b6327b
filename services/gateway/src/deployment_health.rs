//! The run-time state of one deployment, shared by every request of this
//! process: requests in flight, consecutive failures, the end of its
//! cooldown, and its rpm/tpm windows. Atomics only: reading and updating it
//! takes no lock and allocates nothing. Counters are per gateway process
//! (several replicas each keep their own; `docs/routing.md`).

use std::{
    sync::{
        Arc, LazyLock,
        atomic::{AtomicU32, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

/// Milliseconds are counted from the first use in this process, so they fit
/// an `AtomicU64` and never go backwards.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);

pub(crate) fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

#[derive(Debug, Default)]
pub struct Health {
    in_flight: AtomicU32,
    failures: AtomicU32,
    /// `now_ms()` before which the deployment gets no traffic.
    cooled_until: AtomicU64,
    /// The minute (`now_ms() / 60_000`) the counters below belong to.
    window: AtomicU64,
    requests: AtomicU32,
    tokens: AtomicU64,
}

impl Health {
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    pub(crate) fn cooling(&self, now: u64) -> bool {
        self.cooled_until.load(Relaxed) > now
    }

    /// Whether one more request of `tokens` fits the minute's limits.
    pub(crate) fn has_room(&self, now: u64, rpm: Option<u32>, tpm: Option<u64>, tokens: u64) -> bool {
        if rpm.is_none() && tpm.is_none() {
            return true;
        }
        let minute = now / 60_000;
        if self.window.load(Relaxed) != minute {
            return true;
        }
        rpm.is_none_or(|r| self.requests.load(Relaxed) < r)
            && tpm.is_none_or(|t| self.tokens.load(Relaxed).saturating_add(tokens) <= t)
    }

    /// Counts one request against the minute's limits. Two requests racing
    /// at a minute's turn may both reset it: the limit is approximate by
    /// one request, never by a whole window.
    pub(crate) fn count(&self, now: u64, tokens: u64) {
        let minute = now / 60_000;
        if self.window.swap(minute, Relaxed) != minute {
            self.requests.store(0, Relaxed);
            self.tokens.store(0, Relaxed);
        }
        self.requests.fetch_add(1, Relaxed);
        self.tokens.fetch_add(tokens, Relaxed);
    }

    /// A request that reached the upstream and got a 2xx head.
    pub(crate) fn succeeded(&self) {
        if self.failures.load(Relaxed) != 0 {
            self.failures.store(0, Relaxed);
        }
    }

    /// A failed attempt. After `limit` consecutive ones the deployment cools
    /// down for `cooldown`; it is probed again after, and one more failure
    /// then cools it again at once (the count is reset only by a success).
    /// An upstream `Retry-After` cools it for at least that long.
    pub(crate) fn failed(&self, now: u64, limit: u32, cooldown: Duration, retry_after: Option<Duration>) {
        let failures = self.failures.fetch_add(1, Relaxed).saturating_add(1);
        let mut until = 0;
        if failures >= limit {
            until = now.saturating_add(cooldown.as_millis() as u64);
        }
        if let Some(wait) = retry_after {
            until = until.max(now.saturating_add(wait.as_millis() as u64));
        }
        if until > 0 {
            self.cooled_until.fetch_max(until, Relaxed);
        }
    }

    /// Counts a request in flight until the guard drops.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }
}

/// One request in flight on a deployment; dropped with the response body.
#[derive(Debug)]
pub struct InFlight(Arc<Health>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}
