//! The sweeper: gives leases no request draws on back to the shared
//! counters, and forgets the counters of past windows.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::Limiter;

impl Limiter {
    /// Gives unused leases back to the shared counters every half `lease`,
    /// and all of them at shutdown; forgets counters of past windows.
    pub async fn run_sweeper(self: Arc<Self>, shutdown: CancellationToken) {
        let every = (self.settings.lease / 2).max(Duration::from_millis(50));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => self.sweep(false).await,
            }
        }
        self.sweep(true).await;
    }

    pub(super) async fn sweep(&self, everything: bool) {
        let now = self.clock.now_utc();
        let leases: Vec<_> = {
            let mut leases = self
                .leases
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // A past window's counter is never read again.
            leases.retain(|key, _| key.window == key.kind.window(now));
            leases.iter().map(|(k, l)| (k.clone(), l.clone())).collect()
        };
        for (key, lease) in leases {
            let unused = {
                let Ok(mut lease) = lease.try_lock() else { continue };
                lease.idle_sweeps = lease.idle_sweeps.saturating_add(1);
                // Idle a lease long (three sweeps with no request); one in use stays.
                if lease.available == 0 || !(lease.idle_sweeps > 2 || everything) {
                    continue;
                }
                // Out before the round trip, which requests need not wait for.
                std::mem::take(&mut lease.available)
            };
            let amount = unused.min(i64::MAX as u64) as i64;
            if let Err(e) = self.counters.add(key.kind, &key.kv_key(), -amount).await {
                self.warn_unreachable(&e);
                let mut lease = lease.lock().await;
                lease.available = lease.available.saturating_add(unused);
            }
        }
    }
}
