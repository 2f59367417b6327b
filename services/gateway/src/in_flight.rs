//! One fetch at a time per key: requests that miss the same cache key at
//! once wait for the first one's fetch instead of each making their own.
//!
//! Why: a key left idle past the credential cache's TTL (10 s by default)
//! and then sent a burst found every request of the burst missing it, and
//! each went to the key store and the KMS at once. In `bench/latency.sh`
//! that herd, at the start of every run, was what set the p99.9 at a paced
//! 1,000 requests/s: the first requests on 50 fresh connections took 20 to
//! 48 ms (docs/benchmarks.md, the twenty-third machine).
//!
//! A waiter is woken when the fetch ends, however it ends (an answer, an
//! error, or its request dropped mid-way), and looks in the cache again.
//! An error is not shared: a waiter that still misses fetches for itself,
//! as every request did before.

use std::{
    collections::{HashMap, hash_map},
    hash::Hash,
    sync::{Mutex, PoisonError},
};

use tokio::sync::watch;

pub(crate) struct InFlight<K> {
    /// The fetches under way. A fetch's sender is dropped when it ends,
    /// which wakes its waiters, even one that subscribes just before.
    fetches: Mutex<HashMap<K, watch::Sender<()>, foldhash::fast::RandomState>>,
}

/// Whose turn it is to fetch a key.
pub(crate) enum Turn<'a, K: Eq + Hash> {
    /// This caller fetches; the fetch ends when this is dropped.
    Lead(Leading<'a, K>),
    /// Another caller is fetching: this ends when its fetch does.
    Wait(watch::Receiver<()>),
}

pub(crate) struct Leading<'a, K: Eq + Hash> {
    in_flight: &'a InFlight<K>,
    key: K,
}

impl<K: Eq + Hash + Clone> InFlight<K> {
    pub(crate) fn new() -> Self {
        Self {
            fetches: Mutex::default(),
        }
    }

    /// Leads the fetch of `key`, or waits for the one under way.
    pub(crate) fn turn(&self, key: &K) -> Turn<'_, K> {
        let mut fetches = self.fetches.lock().unwrap_or_else(PoisonError::into_inner);
        match fetches.entry(key.clone()) {
            hash_map::Entry::Occupied(fetch) => Turn::Wait(fetch.get().subscribe()),
            hash_map::Entry::Vacant(free) => {
                free.insert(watch::channel(()).0);
                Turn::Lead(Leading {
                    in_flight: self,
                    key: key.clone(),
                })
            }
        }
    }
}

impl<K: Eq + Hash> Drop for Leading<'_, K> {
    fn drop(&mut self) {
        let mut fetches = self
            .in_flight
            .fetches
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Dropping the sender wakes every waiter.
        fetches.remove(&self.key);
    }
}

/// Waits for the fetch under way to end, however it ends.
pub(crate) async fn wait(mut fetch: watch::Receiver<()>) {
    // Nothing is ever sent: this returns when the sender is dropped.
    let _ = fetch.changed().await;
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_second_caller_waits_for_the_first_and_a_third_leads_after_it() {
        let in_flight = InFlight::new();
        let Turn::Lead(lead) = in_flight.turn(&"k") else {
            panic!("the first caller leads")
        };
        let Turn::Wait(waiting) = in_flight.turn(&"k") else {
            panic!("the second caller waits")
        };
        assert!(matches!(in_flight.turn(&"other"), Turn::Lead(_)), "keys apart");
        let waiter = tokio::spawn(wait(waiting));
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "waits while the fetch is under way");
        drop(lead);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(in_flight.turn(&"k"), Turn::Lead(_)),
            "the fetch has ended"
        );
    }

    #[tokio::test]
    async fn a_waiter_that_subscribed_as_the_fetch_ended_is_not_left_waiting() {
        let in_flight = InFlight::new();
        let Turn::Lead(lead) = in_flight.turn(&"k") else {
            panic!()
        };
        let Turn::Wait(waiting) = in_flight.turn(&"k") else {
            panic!()
        };
        drop(lead);
        tokio::time::timeout(Duration::from_secs(5), wait(waiting))
            .await
            .unwrap();
    }
}
