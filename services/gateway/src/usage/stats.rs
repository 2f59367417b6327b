//! The publisher's counters, for `/readyz` and the logs.

use std::sync::atomic::AtomicU64;

#[derive(Default)]
pub struct UsageStats {
    /// Events JetStream acknowledged.
    pub published: AtomicU64,
    pub spooled: AtomicU64,
    pub spool_bytes: AtomicU64,
    /// Events `record` sent to the spool because the queue was full.
    pub overflowed: AtomicU64,
    /// JetStream messages acknowledged (fewer than events when batching).
    pub messages: AtomicU64,
    /// Events refused because the spool was full: the one way data is lost.
    pub dropped: AtomicU64,
}
