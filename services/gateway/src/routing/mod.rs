//! Choosing a deployment of a model for one attempt (see `docs/routing.md`).
//!
//! Weighted random choice among the deployments that can serve now (not
//! cooling down, under their rpm/tpm, holding a key for the request's key
//! source, not yet tried by this request); among deployments of equal
//! weight the one with the fewest requests in flight wins. A model with one
//! deployment skips all of it. Nothing here allocates.

mod attempts;
mod health;

pub(crate) use attempts::{Outcome, Prepared, Served, attempt};

use std::cell::Cell;

pub(crate) use health::now_ms;
pub use health::{Health, InFlight};

use crate::catalog::{Deployment, Model};

/// The deployments a request has tried, by index (a model has at most
/// `MAX_DEPLOYMENTS` = 64).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Tried(u64);

impl Tried {
    pub(crate) fn add(&mut self, index: usize) {
        self.0 |= 1 << index;
    }

    fn has(self, index: usize) -> bool {
        self.0 & (1 << index) != 0
    }
}

/// What one pick needs to know of the request.
pub(crate) struct Ask<'a> {
    pub now: u64,
    /// The request's estimated tokens, for `tpm`.
    pub tokens: u64,
    pub tried: Tried,
    /// Whether a deployment holds a key for the request's key source.
    pub has_key: &'a (dyn Fn(&Deployment) -> bool + Sync),
}

/// The deployment to try next, or `None` when none can serve. Untried
/// deployments come first; once each has been tried, one that failed but
/// is not cooling down may be tried again.
pub(crate) fn pick(model: &Model, ask: &Ask<'_>) -> Option<usize> {
    let ready = |d: &Deployment| {
        !d.health.cooling(ask.now) && d.health.has_room(ask.now, d.rpm, d.tpm, ask.tokens) && (ask.has_key)(d)
    };
    if let [only] = model.deployments.as_slice() {
        return ready(only).then_some(0);
    }
    choose(model, |i, d| !ask.tried.has(i) && ready(d)).or_else(|| choose(model, |_, d| ready(d)))
}

fn choose(model: &Model, usable: impl Fn(usize, &Deployment) -> bool) -> Option<usize> {
    let total: u64 = model
        .deployments
        .iter()
        .enumerate()
        .filter(|(i, d)| usable(*i, d))
        .map(|(_, d)| u64::from(d.weight))
        .sum();
    if total == 0 {
        return None;
    }
    let mut point = random() % total;
    let mut chosen = None;
    for (i, d) in model.deployments.iter().enumerate() {
        if !usable(i, d) {
            continue;
        }
        let w = u64::from(d.weight);
        if point < w {
            chosen = Some(i);
            break;
        }
        point -= w;
    }
    let chosen = chosen?;
    let weight = model.deployments[chosen].weight;
    // Among equals, the least busy: keeps the weights' shares while
    // spreading concurrent requests evenly over same-weight deployments.
    let mut best = (chosen, model.deployments[chosen].health.in_flight());
    for (i, d) in model.deployments.iter().enumerate() {
        if d.weight == weight && i != chosen && usable(i, d) {
            let busy = d.health.in_flight();
            if busy < best.1 {
                best = (i, busy);
            }
        }
    }
    Some(best.0)
}

thread_local! {
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let local = 0u8;
    let addr = &local as *const u8 as u64;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (addr ^ nanos) | 1
}

/// splitmix64 over a per-thread counter: uniform enough for shares, cheap,
/// and no lock (the choice needs no cryptographic randomness).
fn random() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(x);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests;
