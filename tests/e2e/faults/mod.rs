//! Fault scenarios (issue 16), one command for all of them:
//! `cargo test -p keyway --test e2e faults:: -- --nocapture --test-threads 1`.
//! Each starts what it breaks on its own (the in-process mock's
//! misbehaviour, a private key service process, a private Postgres
//! cluster) and never stops the shared Postgres or NATS; each prints sent,
//! served, billed, lost and duplicated. The NATS outage under load is
//! `faults::nats` (a 5 s outage here, 30 s with
//! `KEYWAY_FAULT_NATS_OUTAGE_SECS=30`); the spool's disk faults are
//! `bounded::spool_faults` and the projector's SIGKILLs `projector::sigkill`.

mod keys_down;
mod nats;
mod postgres;
mod upstream;

use std::collections::HashMap;

use crate::usage_events::usage_events;

/// What a scenario counts.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) sent: usize,
    /// Answered: a success, or a clean error in the client's wire shape.
    pub(crate) served: usize,
    pub(crate) billed: usize,
    pub(crate) lost: usize,
    pub(crate) duplicated: usize,
}

impl Tally {
    #[expect(clippy::print_stdout, reason = "the tally is the scenario's report")]
    pub(crate) fn print(&self, scenario: &str) {
        let Tally {
            sent,
            served,
            billed,
            lost,
            duplicated,
        } = self;
        println!(
            "faults::{scenario}: sent {sent}, served {served}, billed {billed}, lost {lost}, duplicated {duplicated}"
        );
    }
}

/// Usage events per request id on the stack's stream.
pub(crate) async fn events_by_request(nats_url: &str, prefix: &str) -> HashMap<String, usize> {
    let mut by_request = HashMap::new();
    for (event, _, _) in usage_events(nats_url, prefix).await {
        *by_request.entry(event.request_id).or_insert(0) += 1;
    }
    by_request
}

/// Fills `billed`, `lost` and `duplicated` of `tally` for `request_ids`,
/// the requests that must each be billed exactly once.
pub(crate) fn reconcile(tally: &mut Tally, request_ids: &[String], events: &HashMap<String, usize>) {
    tally.billed = request_ids.iter().filter(|id| events.contains_key(*id)).count();
    tally.lost = request_ids.len() - tally.billed;
    tally.duplicated = request_ids
        .iter()
        .map(|id| events.get(id).copied().unwrap_or(0).saturating_sub(1))
        .sum();
}
