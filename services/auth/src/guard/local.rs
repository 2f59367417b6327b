//! What one process remembers about failing clients: the blocks it has
//! learned of, so a blocked client is refused without a NATS round trip,
//! and its own failure counts, used only while NATS KV cannot be reached
//! (fail safe: each gateway then enforces the limit on its own).
//!
//! Both maps are bounded: when full, stale entries are dropped, and if
//! that is not enough one entry makes room (for blocks, the one that ends
//! soonest).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError, RwLock},
};

use super::record::{IpKey, Record, Verdict};

/// The most clients each map tracks.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub(crate) struct Local {
    /// Client → when its block ends (Unix ms).
    blocked: RwLock<HashMap<IpKey, u64>>,
    /// The fallback counts.
    records: Mutex<HashMap<IpKey, Record>>,
}

impl Local {
    /// When `key`'s block ends, if it is blocked at `now`.
    pub(crate) fn blocked_until(&self, key: IpKey, now: u64) -> Option<u64> {
        let blocked = self.blocked.read().unwrap_or_else(PoisonError::into_inner);
        blocked.get(&key).copied().filter(|until| now < *until)
    }

    pub(crate) fn block(&self, key: IpKey, until: u64, now: u64) {
        let mut blocked = self.blocked.write().unwrap_or_else(PoisonError::into_inner);
        if blocked.len() >= MAX_ENTRIES && !blocked.contains_key(&key) {
            blocked.retain(|_, until| now < *until);
            if blocked.len() >= MAX_ENTRIES
                && let Some(soonest) = blocked.iter().min_by_key(|(_, until)| **until).map(|(k, _)| *k)
            {
                blocked.remove(&soonest);
            }
        }
        let entry = blocked.entry(key).or_default();
        *entry = (*entry).max(until);
    }

    /// Counts a failure locally: NATS KV is out of reach.
    pub(crate) fn fail(&self, key: IpKey, now: u64, limit: u32, window: u64) -> Verdict {
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        if records.len() >= MAX_ENTRIES && !records.contains_key(&key) {
            records.retain(|_, r| !r.is_stale(now, window));
            if records.len() >= MAX_ENTRIES
                && let Some(any) = records.keys().next().copied()
            {
                records.remove(&any);
            }
        }
        records.entry(key).or_default().fail(now, limit, window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_expire_and_local_counts_block_at_the_limit() {
        let local = Local::default();
        let key = IpKey::V4([192, 0, 2, 1]);
        assert_eq!(local.fail(key, 0, 2, 1_000), Verdict::Counted);
        assert_eq!(local.fail(key, 1, 2, 1_000), Verdict::NowBlocked(1_001));
        local.block(key, 1_001, 1);
        assert_eq!(local.blocked_until(key, 1_000), Some(1_001));
        assert_eq!(local.blocked_until(key, 1_001), None);
        assert_eq!(local.blocked_until(IpKey::V4([192, 0, 2, 2]), 0), None);
    }
}
