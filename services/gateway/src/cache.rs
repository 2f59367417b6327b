//! Short-lived caches of resolved credentials, so the hot path rarely
//! leaves the process. Entries expire after a TTL and are evicted per tenant
//! the moment a key-change event for that tenant arrives.
//!
//! The store is `moka`: lookups take no global lock, and a full cache evicts
//! single entries (TinyLFU), never everything at once.
//!
//! An eviction epoch closes the race where a lookup that started before an
//! eviction would put the stale answer back afterwards: such an answer is
//! simply not cached. Evictions are rare, so discarding is cheap.

use std::{
    hash::Hash,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

use moka::sync::Cache;

use crate::clock::Clock;

pub(crate) struct TenantCache<K, V> {
    ttl: Duration,
    clock: Clock,
    entries: Cache<K, Entry<V>>,
    epoch: AtomicU64,
}

#[derive(Clone)]
struct Entry<V> {
    tenant: std::sync::Arc<str>,
    /// Checked on read against `clock`, so tests can move time; moka's own
    /// time-to-live only frees the memory.
    expires: Instant,
    value: V,
}

/// Taken before a lookup; `insert` ignores the answer if anything was
/// evicted meanwhile.
pub(crate) struct Ticket(u64);

const MAX_ENTRIES: u64 = 100_000;

impl<K, V> TenantCache<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(ttl: Duration) -> Self {
        Self::with_clock(ttl, Clock::system())
    }

    pub(crate) fn with_clock(ttl: Duration, clock: Clock) -> Self {
        Self::build(ttl, clock, MAX_ENTRIES)
    }

    fn build(ttl: Duration, clock: Clock, capacity: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(capacity)
            .time_to_live(ttl.max(Duration::from_millis(1)))
            .support_invalidation_closures()
            .build();
        Self {
            ttl,
            clock,
            entries,
            epoch: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let now = self.clock.now();
        self.entries.get(key).filter(|e| e.expires > now).map(|e| e.value)
    }

    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::Acquire))
    }

    pub(crate) fn insert(&self, ticket: Ticket, key: K, tenant: &str, value: V) {
        if self.ttl.is_zero() || self.epoch.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        let entry = Entry {
            tenant: tenant.into(),
            expires: self.clock.now() + self.ttl,
            value,
        };
        // An eviction that began after the check above but before this
        // insert registered its predicate too early to see the entry: look
        // again and take the entry back out. One that begins later sees it.
        self.entries.insert(key.clone(), entry);
        if self.epoch.load(Ordering::Acquire) != ticket.0 {
            self.entries.invalidate(&key);
        }
    }

    /// `"*"` evicts every tenant (after missed key-change events).
    pub(crate) fn evict_tenant(&self, tenant: &str) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if tenant == "*" {
            self.entries.invalidate_all();
            return;
        }
        let tenant: std::sync::Arc<str> = tenant.into();
        // Cannot fail: the builder enables invalidation closures.
        let _ = self
            .entries
            .invalidate_entries_if(move |_, e: &Entry<V>| e.tenant == tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_evicted_per_tenant() {
        let cache = TenantCache::new(Duration::from_secs(60));
        cache.insert(cache.ticket(), "k1", "a", 1);
        cache.insert(cache.ticket(), "k2", "b", 2);
        assert_eq!(cache.get(&"k1"), Some(1));
        cache.evict_tenant("a");
        assert_eq!(cache.get(&"k1"), None);
        assert_eq!(cache.get(&"k2"), Some(2));
        cache.evict_tenant("*");
        assert_eq!(cache.get(&"k2"), None);

        let clock = Clock::manual();
        let short = TenantCache::with_clock(Duration::from_secs(30), clock.clone());
        short.insert(short.ticket(), "k", "a", 1);
        clock.advance(Duration::from_secs(29));
        assert_eq!(short.get(&"k"), Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(short.get(&"k"), None);
    }

    #[test]
    fn a_lookup_that_raced_an_eviction_is_not_cached() {
        let cache = TenantCache::new(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.evict_tenant("b");
        cache.insert(ticket, "k", "a", "stale");
        assert_eq!(cache.get(&"k"), None);
    }

    #[test]
    fn a_full_cache_evicts_single_entries_not_everything() {
        let cache = TenantCache::build(Duration::from_secs(60), Clock::system(), 10);
        for i in 0..100 {
            cache.insert(cache.ticket(), i, "a", i);
        }
        cache.entries.run_pending_tasks();
        let kept = (0..100).filter(|i| cache.get(i).is_some()).count();
        assert!((1..=10).contains(&kept), "kept {kept}");
    }
}
