//! Choosing a deployment of a model for one attempt (see `docs/routing.md`).
//!
//! Weighted choice (an evenly spread sequence, not random draws) among the deployments that can serve now (not
//! cooling down, under their rpm/tpm, holding a key for the request's key
//! source, not yet tried by this request); among deployments of equal
//! weight the one with the fewest requests in flight wins. A model with one
//! deployment skips all of it. Nothing here allocates.

mod attempts;

pub(crate) use attempts::{Outcome, Prepared, Served, attempt};

use std::sync::atomic::Ordering::Relaxed;

pub(crate) use crate::deployment_health::now_ms;
pub use crate::deployment_health::{Health, InFlight};

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
    let mut point = point(model, total);
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

/// The next point of the model's golden-ratio (Weyl) sequence, scaled to
/// `0..total`: evenly spread from the first picks on, so shares match the
/// weights closely over a few hundred requests where random draws would
/// wander by several percent; one relaxed atomic add, no lock, no RNG.
fn point(model: &Model, total: u64) -> u64 {
    let n = model.routing.picks.fetch_add(1, Relaxed);
    let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((u128::from(x) * u128::from(total)) >> 64) as u64
}

#[cfg(test)]
mod tests;
