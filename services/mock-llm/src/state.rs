//! The state every handler shares: configuration, the shutdown signal, and
//! the response-id counter. Its own module so handlers and the route table
//! both import it without importing each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::config::MockConfig;

/// Cheap to clone (one `Arc`), as axum clones state per request.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

struct Inner {
    config: MockConfig,
    /// Cancelled on server shutdown so long sleeps and streams stop instead of
    /// holding graceful shutdown hostage.
    shutdown: CancellationToken,
    next_id: AtomicU64,
    responses: crate::response_store::Store,
}

impl AppState {
    pub(crate) fn new(config: MockConfig, shutdown: CancellationToken) -> Self {
        AppState(Arc::new(Inner {
            config,
            shutdown,
            next_id: AtomicU64::new(0),
            responses: Default::default(),
        }))
    }

    pub(crate) fn config(&self) -> &MockConfig {
        &self.0.config
    }

    pub(crate) fn shutdown(&self) -> &CancellationToken {
        &self.0.shutdown
    }

    /// Sequence number for response ids (`chatcmpl-mock-<n>`, `msg_mock_<n>`).
    pub(crate) fn next_id(&self) -> u64 {
        self.0.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Responses kept for `GET /v1/responses/{id}` and its siblings.
    pub(crate) fn responses(&self) -> &crate::response_store::Store {
        &self.0.responses
    }

    /// Sleeps unless shutdown comes first; returns `false` on shutdown.
    /// Zero durations skip the timer entirely, keeping the benchmark path lean.
    pub(crate) async fn sleep(&self, duration: Duration) -> bool {
        if duration.is_zero() {
            return true;
        }
        tokio::select! {
            () = self.0.shutdown.cancelled() => false,
            () = tokio::time::sleep(duration) => true,
        }
    }
}

/// Seconds since the epoch, for `created` fields.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
