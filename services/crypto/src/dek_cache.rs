//! In-memory cache of unwrapped tenant DEKs.
//!
//! Each plaintext DEK lives in a `Zeroizing` buffer behind an `Arc`, so it is
//! wiped when the last user drops it. Entries are bounded by age and use count
//! (past either, the next lookup drops and reloads them through KMS) and the
//! whole cache by an entry count. The lock is a `std::sync::Mutex` that is
//! never held across an `.await`; a hit is one hash lookup and a counter bump.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use super::clock::Clock;
use super::kms::KmsError;

type Dek = Arc<Zeroizing<[u8; 32]>>;

struct Entry {
    dek: Dek,
    loaded_at: Instant,
    uses: u64,
}

#[derive(Default)]
struct Inner {
    // Nested by tenant so lookups take `&str` without allocating and
    // `evict_tenant` is a single remove.
    tenants: HashMap<String, HashMap<u32, Entry>>,
    len: usize,
    // Bumped by every eviction; a load that started before an eviction must
    // not put a possibly revoked DEK back into the cache.
    epoch: u64,
}

impl Inner {
    fn remove(&mut self, tenant: &str, version: u32) {
        if let Some(versions) = self.tenants.get_mut(tenant) {
            if versions.remove(&version).is_some() {
                self.len -= 1;
            }
            if versions.is_empty() {
                self.tenants.remove(tenant);
            }
        }
    }

    /// Makes room for one entry: first drops stale entries, then the oldest.
    fn make_room(&mut self, max_entries: usize, fresh: impl Fn(&Entry) -> bool) {
        if self.len < max_entries {
            return;
        }
        for versions in self.tenants.values_mut() {
            versions.retain(|_, e| fresh(e));
        }
        self.tenants.retain(|_, v| !v.is_empty());
        self.len = self.tenants.values().map(HashMap::len).sum();
        while self.len >= max_entries {
            let oldest = self
                .tenants
                .iter()
                .flat_map(|(t, vs)| vs.iter().map(move |(v, e)| (e.loaded_at, t, *v)))
                .min_by_key(|(at, _, _)| *at)
                .map(|(_, t, v)| (t.clone(), v));
            let Some((tenant, version)) = oldest else { break };
            self.remove(&tenant, version);
        }
    }
}

/// Bounded cache of plaintext DEKs keyed by `(tenant_id, dek_version)`.
pub struct DekCache {
    max_age: Duration,
    max_uses: u64,
    max_entries: usize,
    clock: Clock,
    inner: Mutex<Inner>,
}

impl fmt::Debug for DekCache {
    // Never print the keys themselves.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DekCache")
            .field("max_age", &self.max_age)
            .field("max_uses", &self.max_uses)
            .field("max_entries", &self.max_entries)
            .field("len", &self.len())
            .finish()
    }
}

impl DekCache {
    pub fn new(max_age: Duration, max_uses: u64, max_entries: usize) -> Self {
        Self::with_clock(max_age, max_uses, max_entries, Clock::system())
    }

    /// [`DekCache::new`] reading entries' age from `clock`.
    pub fn with_clock(max_age: Duration, max_uses: u64, max_entries: usize, clock: Clock) -> Self {
        Self {
            max_age,
            max_uses,
            max_entries,
            clock,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code panics while holding the lock, and the map stays valid even
        // if one did, so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_fresh(&self, e: &Entry, now: Instant) -> bool {
        e.uses < self.max_uses && now.duration_since(e.loaded_at) < self.max_age
    }

    /// Returns the cached DEK, or calls `load` (typically a KMS decrypt) and
    /// caches its result. Concurrent misses may each call `load`; that costs
    /// an extra KMS call but keeps the lock out of the await.
    pub async fn get_or_load<F, Fut>(&self, tenant: &str, version: u32, load: F) -> Result<Dek, KmsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Zeroizing<[u8; 32]>, KmsError>>,
    {
        let epoch = {
            let now = self.clock.now();
            let mut inner = self.lock();
            if let Some(entry) = inner.tenants.get_mut(tenant).and_then(|vs| vs.get_mut(&version)) {
                if self.is_fresh(entry, now) {
                    entry.uses += 1;
                    metrics::counter!(crate::DEK_CACHE, "result" => "hit").increment(1);
                    return Ok(Arc::clone(&entry.dek));
                }
                inner.remove(tenant, version);
            }
            inner.epoch
        };

        metrics::counter!(crate::DEK_CACHE, "result" => "miss").increment(1);
        let dek = Arc::new(load().await?);

        let mut inner = self.lock();
        if inner.epoch == epoch && self.max_entries > 0 {
            inner.remove(tenant, version);
            let now = self.clock.now();
            inner.make_room(self.max_entries, |e| self.is_fresh(e, now));
            let entry = Entry {
                dek: Arc::clone(&dek),
                loaded_at: now,
                uses: 1,
            };
            inner
                .tenants
                .entry(tenant.to_owned())
                .or_default()
                .insert(version, entry);
            inner.len += 1;
        }
        Ok(dek)
    }

    /// Drops every cached DEK of `tenant` (on revoke, DEK rotation or shred).
    pub fn evict_tenant(&self, tenant: &str) {
        let mut inner = self.lock();
        inner.epoch += 1;
        if let Some(versions) = inner.tenants.remove(tenant) {
            inner.len -= versions.len();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[path = "dek_cache_tests.rs"]
mod tests;
