//! Usage metering: one event per request, with tokens read from the
//! upstream's answer (or estimated), cost from the catalog's prices, and
//! delivery to JetStream through a spool that loses nothing when NATS is down.

pub(crate) mod estimate;
mod fields;
mod format;
pub(crate) mod meter;
pub mod publisher;
pub mod settings;
pub(crate) mod spool;
mod spooler;
pub(crate) mod sse;
mod stats;
pub(crate) mod tap;
mod typed_read;
mod wire;

pub use spool::{Quarantined, quarantined};

use keyway_proto::v1::UsageEvent;

/// Where finished usage events go. `record` must never block.
pub trait UsageSink: Send + Sync + 'static {
    fn record(&self, event: UsageEvent);
}
