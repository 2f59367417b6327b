//! Short-lived caches of resolved credentials, so the hot path rarely
//! leaves the process. Entries expire after a TTL and are evicted per tenant
//! the moment a key-change event for that tenant arrives.
//!
//! A used entry is fetched again before it expires: past three quarters of
//! its TTL, the next request looks it up while every other keeps using the
//! entry. Without that, a hot key expired under load and every request in
//! flight went to the store at once, every TTL (a latency spike the
//! benchmarks saw as the paced p99.9 and the bursts' p99).
//!
//! A missing entry is fetched once, however many requests miss it at once
//! (`in_flight`): a key idle past its TTL and then sent a burst did the
//! same, every request of the burst going to the store.
//!
//! The store is `moka`: lookups take no global lock, and a full cache evicts
//! single entries (TinyLFU), never everything at once.
//!
//! An eviction epoch closes the race where a lookup that started before an
//! eviction would put the stale answer back afterwards: such an answer is
//! simply not cached. Evictions are rare, so discarding is cheap.

use std::{
    hash::Hash,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use moka::sync::Cache;

use crate::{
    clock::Clock,
    in_flight::{self, InFlight, Turn},
};

pub(crate) struct TenantCache<K, V> {
    ttl: Duration,
    clock: Clock,
    entries: Cache<K, Entry<V>, foldhash::fast::RandomState>,
    epoch: AtomicU64,
    /// Misses of one key at once make one fetch (a burst on a key idle
    /// past its TTL).
    in_flight: InFlight<K>,
}

#[derive(Clone)]
struct Entry<V> {
    tenant: Arc<str>,
    /// Checked on read against `clock`, so tests can move time; moka's own
    /// time-to-live only frees the memory.
    expires: Instant,
    /// From here on, the first reader fetches the entry again.
    refresh_at: Instant,
    /// Set by the reader that does (shared by the entry's clones).
    refreshing: Arc<AtomicBool>,
    value: V,
}

/// What the cache holds for a key.
enum Lookup<V> {
    Fresh(V),
    /// Due for a refresh, which this reader alone makes; the value stays
    /// usable until it expires. The claim is never handed back: after a
    /// failed or cancelled refresh the entry simply expires, as every entry
    /// did before refreshes, so an outage costs one wait per entry, not one
    /// per request.
    Due(V),
    Missing,
}

/// Taken before a fetch; `insert` ignores the answer if anything was
/// evicted meanwhile.
struct Ticket(u64);

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
            // foldhash, not SipHash: two lookups a request, and the keys are
            // digests or ids of ours, not text a client chooses (about 900
            // instructions a request, callgrind).
            .build_with_hasher(foldhash::fast::RandomState::default());
        Self {
            ttl,
            clock,
            entries,
            epoch: AtomicU64::new(0),
            in_flight: InFlight::new(),
        }
    }

    /// The cached value for `key`, or `fetch`'s (cached for the TTL under
    /// the tenant `tenant_of` names). An entry due for a refresh is fetched
    /// by one reader while the others keep using it; when that fetch fails
    /// because the store is `unreachable`, the entry still serves until it
    /// expires, and when it fails otherwise (a key revoked meanwhile), the
    /// entry is dropped and the error returned. Callers that miss the same
    /// key at once share one fetch (`in_flight`); an error is not shared.
    pub(crate) async fn get_or_fetch<E, F>(
        &self,
        key: &K,
        fetch: impl FnOnce() -> F,
        tenant_of: impl FnOnce(&V) -> Arc<str>,
        unreachable: impl FnOnce(&E) -> bool,
    ) -> Result<V, E>
    where
        F: Future<Output = Result<V, E>>,
    {
        let mut waited = false;
        let (stale, _leading) = loop {
            match self.lookup(key) {
                Lookup::Fresh(value) => return Ok(value),
                Lookup::Due(value) => break (Some(value), None),
                // The fetch waited for brought nothing to cache (an error),
                // or nothing is cached (a TTL of 0): fetch alone, as if
                // none had been under way.
                Lookup::Missing if waited || self.ttl.is_zero() => break (None, None),
                Lookup::Missing => match self.in_flight.turn(key) {
                    Turn::Lead(leading) => break (None, Some(leading)),
                    Turn::Wait(fetch) => {
                        in_flight::wait(fetch).await;
                        waited = true;
                    }
                },
            }
        };
        let ticket = self.ticket();
        match (fetch().await, stale) {
            (Ok(value), _) => {
                self.insert(ticket, key.clone(), tenant_of(&value), value.clone());
                Ok(value)
            }
            (Err(e), Some(value)) if unreachable(&e) => Ok(value),
            (Err(e), stale) => {
                if stale.is_some() {
                    self.entries.invalidate(key);
                }
                Err(e)
            }
        }
    }

    fn lookup(&self, key: &K) -> Lookup<V> {
        let now = self.clock.now();
        match self.entries.get(key).filter(|e| e.expires > now) {
            None => Lookup::Missing,
            Some(e) if now >= e.refresh_at && !e.refreshing.swap(true, Ordering::AcqRel) => {
                Lookup::Due(e.value)
            }
            Some(e) => Lookup::Fresh(e.value),
        }
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.epoch.load(Ordering::Acquire))
    }

    fn insert(&self, ticket: Ticket, key: K, tenant: Arc<str>, value: V) {
        if self.ttl.is_zero() || self.epoch.load(Ordering::Acquire) != ticket.0 {
            return;
        }
        let now = self.clock.now();
        let entry = Entry {
            tenant,
            expires: now + self.ttl,
            refresh_at: now + self.ttl * 3 / 4,
            refreshing: Arc::default(),
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
        let tenant: Arc<str> = tenant.into();
        // Cannot fail: the builder enables invalidation closures.
        let _ = self
            .entries
            .invalidate_entries_if(move |_, e: &Entry<V>| e.tenant == tenant);
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    impl<K, V> TenantCache<K, V>
    where
        K: Eq + Hash + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        fn get(&self, key: &K) -> Option<V> {
            match self.lookup(key) {
                Lookup::Fresh(v) | Lookup::Due(v) => Some(v),
                Lookup::Missing => None,
            }
        }
    }

    #[test]
    fn entries_expire_and_are_evicted_per_tenant() {
        let cache = TenantCache::new(Duration::from_secs(60));
        cache.insert(cache.ticket(), "k1", "a".into(), 1);
        cache.insert(cache.ticket(), "k2", "b".into(), 2);
        assert_eq!(cache.get(&"k1"), Some(1));
        cache.evict_tenant("a");
        assert_eq!(cache.get(&"k1"), None);
        assert_eq!(cache.get(&"k2"), Some(2));
        cache.evict_tenant("*");
        assert_eq!(cache.get(&"k2"), None);

        let clock = Clock::manual();
        let short = TenantCache::with_clock(Duration::from_secs(30), clock.clone());
        short.insert(short.ticket(), "k", "a".into(), 1);
        clock.advance(Duration::from_secs(29));
        assert_eq!(short.get(&"k"), Some(1));
        clock.advance(Duration::from_secs(1));
        assert_eq!(short.get(&"k"), None);
    }

    /// A fetch that counts its calls and answers `answer`.
    async fn fetch(
        cache: &TenantCache<&'static str, u32>,
        calls: &AtomicU64,
        answer: Result<u32, &'static str>,
    ) -> Result<u32, &'static str> {
        cache
            .get_or_fetch(
                &"k",
                || async {
                    calls.fetch_add(1, Ordering::Relaxed);
                    answer
                },
                |_| "a".into(),
                |e| *e == "unreachable",
            )
            .await
    }

    #[tokio::test]
    async fn an_entry_in_use_is_fetched_again_by_one_reader_before_it_expires() {
        let clock = Clock::manual();
        let cache = TenantCache::with_clock(Duration::from_secs(40), clock.clone());
        let calls = AtomicU64::new(0);
        assert_eq!(fetch(&cache, &calls, Ok(1)).await, Ok(1));
        clock.advance(Duration::from_secs(29));
        assert_eq!(
            fetch(&cache, &calls, Ok(2)).await,
            Ok(1),
            "fresh: served from the cache"
        );
        assert_eq!(calls.load(Ordering::Relaxed), 1);

        clock.advance(Duration::from_secs(1));
        // Due: one reader claims the refresh; the others keep the entry.
        assert!(matches!(cache.lookup(&"k"), Lookup::Due(1)));
        assert!(matches!(cache.lookup(&"k"), Lookup::Fresh(1)));
        assert_eq!(fetch(&cache, &calls, Ok(3)).await, Ok(1));
        assert_eq!(calls.load(Ordering::Relaxed), 1);

        // The reader that is due fetches the new value and caches it anew.
        let fresh = TenantCache::with_clock(Duration::from_secs(40), clock.clone());
        assert_eq!(fetch(&fresh, &calls, Ok(4)).await, Ok(4));
        clock.advance(Duration::from_secs(30));
        assert_eq!(fetch(&fresh, &calls, Ok(5)).await, Ok(5), "due: fetched again");
        clock.advance(Duration::from_secs(29));
        assert_eq!(fetch(&fresh, &calls, Ok(6)).await, Ok(5), "and cached anew");
        assert_eq!(calls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_the_entry_only_when_the_store_is_unreachable() {
        let clock = Clock::manual();
        let cache = TenantCache::with_clock(Duration::from_secs(40), clock.clone());
        let calls = AtomicU64::new(0);
        fetch(&cache, &calls, Ok(1)).await.unwrap();
        clock.advance(Duration::from_secs(30));
        assert_eq!(fetch(&cache, &calls, Err("unreachable")).await, Ok(1));
        assert_eq!(fetch(&cache, &calls, Err("unreachable")).await, Ok(1));
        clock.advance(Duration::from_secs(10));
        assert_eq!(
            fetch(&cache, &calls, Err("unreachable")).await,
            Err("unreachable"),
            "expired: the outage shows"
        );

        fetch(&cache, &calls, Ok(1)).await.unwrap();
        clock.advance(Duration::from_secs(30));
        assert_eq!(fetch(&cache, &calls, Err("revoked")).await, Err("revoked"));
        assert_eq!(cache.get(&"k"), None, "a revoked answer drops the entry");
    }

    #[tokio::test]
    async fn misses_of_one_key_at_once_make_one_fetch_and_an_error_is_not_shared() {
        let cache = TenantCache::new(Duration::from_secs(60));
        for (answer, fetches) in [(Err("revoked"), 10), (Ok(7), 1)] {
            let calls = AtomicU64::new(0);
            let burst = (0..10).map(|_| {
                cache.get_or_fetch(
                    &"k",
                    || async {
                        calls.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        answer
                    },
                    |_| "a".into(),
                    |_| false,
                )
            });
            let answers = futures::future::join_all(burst).await;
            assert!(answers.iter().all(|a| *a == answer), "{answers:?}");
            assert_eq!(calls.load(Ordering::Relaxed), fetches);
        }
    }

    #[tokio::test]
    async fn with_nothing_cached_misses_do_not_wait_for_each_other() {
        let cache = TenantCache::new(Duration::ZERO);
        let started = AtomicU64::new(0);
        let burst = (0..3).map(|_| {
            cache.get_or_fetch(
                &"k",
                || async {
                    started.fetch_add(1, Ordering::Relaxed);
                    tokio::task::yield_now().await;
                    // Every fetch is under way before any ends.
                    Ok::<_, ()>(started.load(Ordering::Relaxed))
                },
                |_| "a".into(),
                |_| false,
            )
        });
        let answers = futures::future::join_all(burst).await;
        assert_eq!(answers, [Ok(3), Ok(3), Ok(3)]);
    }

    #[test]
    fn a_lookup_that_raced_an_eviction_is_not_cached() {
        let cache = TenantCache::new(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.evict_tenant("b");
        cache.insert(ticket, "k", "a".into(), "stale");
        assert_eq!(cache.get(&"k"), None);
    }

    #[test]
    fn a_full_cache_evicts_single_entries_not_everything() {
        let cache = TenantCache::build(Duration::from_secs(60), Clock::system(), 10);
        for i in 0..100 {
            cache.insert(cache.ticket(), i, "a".into(), i);
        }
        cache.entries.run_pending_tasks();
        let kept = (0..100).filter(|i| cache.get(i).is_some()).count();
        assert!((1..=10).contains(&kept), "kept {kept}");
    }
}
