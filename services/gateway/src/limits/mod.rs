//! Rate limits and monthly budgets, per tenant and per API key, shared by
//! every gateway through NATS KV counters (see `counters`).
//!
//! A request **reserves** before it goes upstream — one request, its
//! estimated tokens (prompt + `max_tokens`), and their estimated cost — and
//! **settles** when its usage event is emitted, giving back what it did not
//! use or charging what it used beyond. Concurrent requests therefore
//! cannot overshoot a limit by more than what is reserved in flight.
//!
//! To keep the hot path off the network, a gateway leases a small chunk of
//! each counter (about 5% of the limit; exactly 1 for small limits) and
//! serves from it locally; unused leases go back to the shared counter
//! after `lease` of idling and at shutdown. N gateways never multiply a
//! limit: every unit served was first taken from the shared counter.

mod counters;
pub(crate) mod demand;
mod refusal;
mod reservation;
mod settings;
mod sweep;
mod window;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicI64, Ordering},
};

use keyway_auth::{Caller, Limits};
use time::OffsetDateTime;

use crate::clock::Clock;
use tokio::sync::Mutex as AsyncMutex;

use counters::{CounterError, Counters};
pub use refusal::Refusal;
pub(crate) use reservation::Reservation;
use reservation::{Lease, settle_lease};
pub use settings::LimitSettings;
pub(crate) use window::Kind;
use window::{CounterKey, Scope, lease_chunk};

/// What a request is expected to use, and later what it did use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Demand {
    pub(crate) tokens: u64,
    pub(crate) cost_micros: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Fail-closed mode and the shared counters cannot be reached.
    #[error("Rate limits cannot be checked right now; retry shortly.")]
    Unavailable,
}

/// What a counter said to one request.
enum Taken {
    Granted,
    /// `in_flight`: this gateway holds unsettled reservations on it.
    Refused {
        in_flight: bool,
    },
}

pub struct Limiter {
    counters: Counters,
    /// foldhash, not SipHash: every request looks up one lease per counter
    /// (up to six), and hashing their keys was 2% of its instructions.
    leases: Mutex<foldhash::HashMap<CounterKey, Arc<AsyncMutex<Lease>>>>,
    settings: LimitSettings,
    /// Windows and lease idling read the time here, so tests can move it.
    clock: Clock,
    /// Unix seconds of the last "counters unreachable" warning, so an
    /// outage logs once in a while rather than once per request.
    last_warned: AtomicI64,
}

#[derive(Debug)]
struct Need {
    key: CounterKey,
    limit: u64,
    amount: u64,
}

impl Limiter {
    /// `bucket_prefix` names the KV buckets (`<prefix>_RATE`, `<prefix>_SPEND`).
    pub fn new(client: async_nats::Client, bucket_prefix: &str, settings: LimitSettings) -> Arc<Self> {
        Self::with_clock(client, bucket_prefix, settings, Clock::system())
    }

    /// [`Limiter::new`] reading the time from `clock`.
    pub fn with_clock(
        client: async_nats::Client,
        bucket_prefix: &str,
        settings: LimitSettings,
        clock: Clock,
    ) -> Arc<Self> {
        Arc::new(Self {
            counters: Counters::new(client, bucket_prefix, settings.kv_timeout, settings.kv_replicas),
            leases: Mutex::default(),
            settings,
            clock,
            last_warned: AtomicI64::new(0),
        })
    }

    pub(crate) fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Whether the caller has a token or spend limit, i.e. whether its
    /// request needs a token estimate at all.
    pub(crate) fn needs_estimate(caller: &Caller) -> bool {
        let counts = |l: &Limits| l.tokens_per_minute.is_some() || l.monthly_budget_micros.is_some();
        counts(&caller.limits.tenant) || counts(&caller.limits.api_key)
    }

    pub(crate) async fn reserve(
        self: &Arc<Self>,
        caller: &Caller,
        demand: Demand,
    ) -> Result<Reservation, LimitError> {
        let now = self.clock.now_utc();
        let needs = needs(caller, demand, now)?;
        let mut reservation = Reservation {
            limiter: self.clone(),
            held: Vec::with_capacity(needs.len()),
        };
        if needs.is_empty() {
            return Ok(reservation);
        }
        // Most requests are served from the local leases: no await, and no
        // future per counter (`take`'s, which may call NATS, is large).
        let mut outcomes: Vec<Option<Result<Taken, CounterError>>> =
            needs.iter().map(|n| self.take_local(n).map(Ok)).collect();
        if outcomes.iter().any(Option::is_none) {
            let short = needs.iter().zip(&outcomes).filter(|(_, o)| o.is_none());
            let mut taken = futures::future::join_all(short.map(|(n, _)| self.take(n)))
                .await
                .into_iter();
            for outcome in outcomes.iter_mut().filter(|o| o.is_none()) {
                *outcome = taken.next();
            }
        }
        let (mut refused, mut unavailable) = (None, false);
        for (need, outcome) in needs.into_iter().zip(outcomes.into_iter().flatten()) {
            match outcome {
                Ok(Taken::Granted) => reservation.held.push((need.key, need.amount)),
                Ok(Taken::Refused { in_flight }) => {
                    // Reservations in flight settle within seconds; a request
                    // count, or a limit really used up, waits for its window.
                    let transient = in_flight && need.key.kind != Kind::RequestsPerMinute;
                    refused.get_or_insert(Refusal {
                        kind: need.key.kind,
                        scope: need.key.scope.describe(),
                        limit: need.limit,
                        retry_after: if transient {
                            1
                        } else {
                            need.key.kind.retry_after(now)
                        },
                        held_in_flight: transient,
                        requested: None,
                    });
                }
                Err(e) if self.settings.fail_open => {
                    metrics::counter!(keyway_common::metrics::LIMIT_FAIL_OPEN).increment(1);
                    self.warn_unreachable(&e);
                }
                Err(e) => {
                    self.warn_unreachable(&e);
                    unavailable = true;
                }
            }
        }
        if refused.is_none() && !unavailable {
            return Ok(reservation);
        }
        if let Some(refusal) = &refused {
            metrics::counter!(keyway_common::metrics::LIMIT_REFUSALS, "kind" => refusal.kind.tag())
                .increment(1);
        }
        // Give back what the other counters granted this request.
        for (key, amount) in std::mem::take(&mut reservation.held) {
            self.settle_one(&key, amount, 0).await;
        }
        Err(refused.map_or(LimitError::Unavailable, LimitError::Refused))
    }

    fn lease(&self, key: &CounterKey) -> Arc<AsyncMutex<Lease>> {
        let mut leases = self
            .leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Looked up first: `entry` would clone the key (its strings) on
        // every call, twice per counter per request, though it is nearly
        // always there.
        if let Some(lease) = leases.get(key) {
            return lease.clone();
        }
        leases.entry(key.clone()).or_default().clone()
    }

    /// Serves `need` from the local lease when it holds enough and is not
    /// in use; `None` sends the request down [`Limiter::take`].
    fn take_local(&self, need: &Need) -> Option<Taken> {
        let lease = self.lease(&need.key);
        let mut lease = lease.try_lock().ok()?;
        grant(&mut lease, need.amount).then_some(Taken::Granted)
    }

    /// Serves `need` from the local lease, topping it up from the shared
    /// counter when short.
    async fn take(&self, need: &Need) -> Result<Taken, CounterError> {
        let lease = self.lease(&need.key);
        let mut lease = lease.lock().await;
        if grant(&mut lease, need.amount) {
            return Ok(Taken::Granted);
        }
        let short = need.amount - lease.available;
        let want = short.max(lease_chunk(need.limit));
        let kv_key = need.key.kv_key();
        match self
            .counters
            .take(need.key.kind, &kv_key, short, want, need.limit)
            .await?
        {
            Some(granted) => {
                // `granted` covers at least the shortfall, so this cannot underflow.
                lease.available = lease.available.saturating_add(granted) - need.amount;
                lease.idle_sweeps = 0;
                lease.in_flight += need.amount;
                Ok(Taken::Granted)
            }
            None => Ok(Taken::Refused {
                in_flight: lease.in_flight > 0,
            }),
        }
    }

    /// Settles a reservation of `reserved` on one counter to `used`: gives
    /// the difference back, or charges the overrun — from the local lease
    /// first, then the shared counter.
    async fn settle_one(&self, key: &CounterKey, reserved: u64, used: u64) {
        let lease = self.lease(key);
        let mut lease = lease.lock().await;
        let to_counter = settle_lease(&mut lease, reserved, used);
        if to_counter != 0
            && let Err(e) = self.counters.add(key.kind, &key.kv_key(), to_counter).await
        {
            self.warn_unreachable(&e);
        }
    }

    /// [`Limiter::settle_one`] without waiting: done when the lease is free
    /// and the shared counter owes or is owed nothing; `false` leaves the
    /// lease untouched for the async path.
    fn settle_local(&self, key: &CounterKey, reserved: u64, used: u64) -> bool {
        let lease = self.lease(key);
        let Ok(mut lease) = lease.try_lock() else {
            return false;
        };
        let mut settled = Lease { ..*lease };
        if settle_lease(&mut settled, reserved, used) != 0 {
            return false;
        }
        *lease = settled;
        true
    }

    fn warn_unreachable(&self, error: &CounterError) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let last = self.last_warned.load(Ordering::Relaxed);
        if now - last >= 10
            && self
                .last_warned
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error = %error,
                fail_open = self.settings.fail_open,
                "rate-limit counters unreachable; requests are {}",
                if self.settings.fail_open { "served without limits" } else { "refused" }
            );
        }
    }
}

/// Takes `amount` from what the lease holds, if it holds enough.
fn grant(lease: &mut Lease, amount: u64) -> bool {
    if lease.available < amount {
        return false;
    }
    lease.available -= amount;
    lease.in_flight += amount;
    lease.idle_sweeps = 0;
    true
}

/// The counters a request draws on: its tenant's, then its API key's. A
/// request whose reservation exceeds a whole limit is refused here: it
/// could only run by overshooting that limit (a budget by up to the cost of
/// a whole answer), and its reservation is already an upper bound, its
/// `max_tokens` lowered to the model's `max_output_tokens`.
fn needs(caller: &Caller, demand: Demand, now: OffsetDateTime) -> Result<Vec<Need>, Refusal> {
    let mut out = Vec::new();
    let scopes = [
        Some((Scope::Tenant(caller.tenant_id.clone()), caller.limits.tenant)),
        caller
            .api_key_id
            .clone()
            .map(|id| (Scope::ApiKey(id), caller.limits.api_key)),
    ];
    for (scope, limits) in scopes.into_iter().flatten() {
        let counters = [
            (Kind::RequestsPerMinute, limits.requests_per_minute, 1),
            (Kind::TokensPerMinute, limits.tokens_per_minute, demand.tokens),
            (
                Kind::MonthlySpend,
                limits.monthly_budget_micros,
                demand.cost_micros,
            ),
        ];
        for (kind, limit, amount) in counters {
            let Some(limit) = limit else { continue };
            if amount > limit {
                return Err(Refusal {
                    kind,
                    scope: scope.describe(),
                    limit,
                    retry_after: kind.retry_after(now),
                    held_in_flight: false,
                    requested: Some(amount),
                });
            }
            out.push(Need {
                key: CounterKey {
                    kind,
                    scope: scope.clone(),
                    window: kind.window(now),
                },
                limit,
                amount,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
