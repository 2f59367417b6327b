//! Short-lived caches of resolved credentials, so the hot path rarely
//! leaves the process. Entries expire after a TTL and are evicted per tenant
//! the moment a key-change event for that tenant arrives.
//!
//! An eviction epoch closes the race where a lookup that started before an
//! eviction would put the stale answer back afterwards: such an answer is
//! simply not cached. Evictions are rare, so discarding is cheap.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::clock::Clock;

pub(crate) struct TenantCache<K, V> {
    ttl: Duration,
    clock: Clock,
    inner: Mutex<Inner<K, V>>,
}

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    epoch: u64,
}

struct Entry<V> {
    tenant: String,
    expires: Instant,
    value: V,
}

/// Taken before a lookup; `insert` ignores the answer if anything was
/// evicted meanwhile.
pub(crate) struct Ticket(u64);

const MAX_ENTRIES: usize = 100_000;

impl<K: Eq + Hash, V: Clone> TenantCache<K, V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self::with_clock(ttl, Clock::system())
    }

    pub(crate) fn with_clock(ttl: Duration, clock: Clock) -> Self {
        Self {
            ttl,
            clock,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                epoch: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let now = self.clock.now();
        let inner = self.lock();
        inner
            .entries
            .get(key)
            .filter(|e| e.expires > now)
            .map(|e| e.value.clone())
    }

    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().epoch)
    }

    pub(crate) fn insert(&self, ticket: Ticket, key: K, tenant: &str, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let now = self.clock.now();
        let mut inner = self.lock();
        if inner.epoch != ticket.0 {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.retain(|_, e| e.expires > now);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
        }
        let entry = Entry {
            tenant: tenant.to_owned(),
            expires: now + self.ttl,
            value,
        };
        inner.entries.insert(key, entry);
    }

    /// `"*"` evicts every tenant (after missed key-change events).
    pub(crate) fn evict_tenant(&self, tenant: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        if tenant == "*" {
            inner.entries.clear();
        } else {
            inner.entries.retain(|_, e| e.tenant != tenant);
        }
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
}
