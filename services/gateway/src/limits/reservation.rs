//! A request's reservation on its counters, and settling it: the local
//! lease's side of the books (`settle_lease`), then the shared counter's
//! for whatever the lease cannot absorb.

use std::sync::Arc;

use super::{CounterKey, Demand, Kind, Limiter};

/// This gateway's share of one counter, drawn from the shared counter in
/// chunks so most requests never reach NATS.
#[derive(Default)]
pub(super) struct Lease {
    pub(super) available: u64,
    /// Sweeps since a request last drew on the lease: counted by the
    /// sweeper, which runs anyway, instead of reading the time per request.
    pub(super) idle_sweeps: u8,
    /// Reserved by requests of this gateway that have not settled yet.
    pub(super) in_flight: u64,
}

/// Units held by one request until it settles.
pub(crate) struct Reservation {
    pub(super) limiter: Arc<Limiter>,
    pub(super) held: Vec<(CounterKey, u64)>,
}

impl Reservation {
    /// Settles against what the request really used: in place where the
    /// leases allow, else in the background, because the usage event is
    /// emitted from a sync context.
    pub(crate) fn settle(mut self, used: Demand) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let actual = move |key: &CounterKey, reserved: u64| match key.kind {
            // A request is used up once it was made.
            Kind::RequestsPerMinute => reserved,
            Kind::TokensPerMinute => used.tokens,
            Kind::MonthlySpend => used.cost_micros,
        };
        // A task only for the counters that could not be settled in place.
        let limiter = &self.limiter;
        self.held
            .retain(|(key, reserved)| !limiter.settle_local(key, *reserved, actual(key, *reserved)));
        if self.held.is_empty() {
            return;
        }
        runtime.spawn(async move {
            for (key, reserved) in &self.held {
                let used = actual(key, *reserved);
                self.limiter.settle_one(key, *reserved, used).await;
            }
        });
    }
}

/// Settles a reservation of `reserved` to `used` on `lease`: the difference
/// goes back into it, or an overrun is charged to it as far as it holds;
/// returns what is left for the shared counter.
pub(super) fn settle_lease(lease: &mut Lease, reserved: u64, used: u64) -> i64 {
    let delta = i128::from(used) - i128::from(reserved);
    let delta = delta.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    lease.in_flight = lease.in_flight.saturating_sub(reserved);
    if delta < 0 {
        // Back into the lease: the next request, or the sweep, uses it.
        lease.available = lease.available.saturating_add(delta.unsigned_abs());
        0
    } else {
        let from_lease = lease.available.min(delta as u64);
        lease.available -= from_lease;
        delta - from_lease as i64
    }
}
