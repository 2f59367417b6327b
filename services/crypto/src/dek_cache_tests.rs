//! Tests for the DEK cache's hit, expiry, eviction and capacity behaviour.
#![expect(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use zeroize::Zeroizing;

use super::DekCache;
use crate::{Clock, KmsError};

/// Counts loads and returns a key whose first byte is the load number.
struct Loader(AtomicU32);

impl Loader {
    fn new() -> Self {
        Self(AtomicU32::new(0))
    }

    async fn load(&self) -> Result<Zeroizing<[u8; 32]>, KmsError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        let mut key = [0u8; 32];
        key[0] = u8::try_from(n).unwrap();
        Ok(Zeroizing::new(key))
    }

    fn count(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn loads_once_then_hits() {
    let cache = DekCache::new(HOUR, 100, 10);
    let loader = Loader::new();
    let a = cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    let b = cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 1);
    assert_eq!(a[0], 1);
    assert_eq!(b[0], 1);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn versions_and_tenants_are_cached_separately() {
    let cache = DekCache::new(HOUR, 100, 10);
    let loader = Loader::new();
    cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    cache.get_or_load("t1", 2, || loader.load()).await.unwrap();
    cache.get_or_load("t2", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 3);
    assert_eq!(cache.len(), 3);
}

#[tokio::test]
async fn reloads_after_max_uses() {
    let cache = DekCache::new(HOUR, 2, 10);
    let loader = Loader::new();
    for _ in 0..2 {
        cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    }
    assert_eq!(loader.count(), 1);
    let third = cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 2);
    assert_eq!(third[0], 2);
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn reloads_after_max_age() {
    let clock = Clock::manual();
    let cache = DekCache::with_clock(HOUR, 100, 10, clock.clone());
    let loader = Loader::new();
    cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    clock.advance(HOUR - Duration::from_secs(1));
    cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 1, "still fresh a second before max_age");
    clock.advance(Duration::from_secs(1));
    let again = cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 2);
    assert_eq!(again[0], 2);
}

#[tokio::test]
async fn evict_tenant_drops_only_that_tenant() {
    let cache = DekCache::new(HOUR, 100, 10);
    let loader = Loader::new();
    cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    cache.get_or_load("t1", 2, || loader.load()).await.unwrap();
    cache.get_or_load("t2", 1, || loader.load()).await.unwrap();
    cache.evict_tenant("t1");
    assert_eq!(cache.len(), 1);
    cache.get_or_load("t2", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 3, "t2 is still cached");
    cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 4, "t1 was reloaded");
}

#[tokio::test]
async fn a_load_racing_an_eviction_is_not_cached() {
    let cache = DekCache::new(HOUR, 100, 10);
    let dek = cache
        .get_or_load("t1", 1, || async {
            cache.evict_tenant("t1");
            Ok(Zeroizing::new([9u8; 32]))
        })
        .await
        .unwrap();
    assert_eq!(dek[0], 9);
    assert_eq!(cache.len(), 0);
}

#[tokio::test]
async fn load_errors_are_returned_and_not_cached() {
    let cache = DekCache::new(HOUR, 100, 10);
    let err = cache
        .get_or_load("t1", 1, || async { Err(KmsError::InvalidCiphertext) })
        .await;
    assert!(matches!(err, Err(KmsError::InvalidCiphertext)));
    assert!(cache.is_empty());
}

#[tokio::test]
async fn a_full_cache_drops_the_oldest_entry() {
    let clock = Clock::manual();
    let cache = DekCache::with_clock(HOUR, 100, 2, clock.clone());
    let loader = Loader::new();
    cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    clock.advance(Duration::from_secs(1));
    cache.get_or_load("t2", 1, || loader.load()).await.unwrap();
    clock.advance(Duration::from_secs(1));
    cache.get_or_load("t3", 1, || loader.load()).await.unwrap();
    assert_eq!(cache.len(), 2);
    cache.get_or_load("t2", 1, || loader.load()).await.unwrap();
    cache.get_or_load("t3", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 3, "t2 and t3 stayed cached");
    cache.get_or_load("t1", 1, || loader.load()).await.unwrap();
    assert_eq!(loader.count(), 4, "t1 was the one dropped");
}

#[test]
fn debug_output_shows_no_key_bytes() {
    let cache = DekCache::new(HOUR, 100, 2);
    assert_eq!(
        format!("{cache:?}"),
        "DekCache { max_age: 3600s, max_uses: 100, max_entries: 2, len: 0 }"
    );
}
