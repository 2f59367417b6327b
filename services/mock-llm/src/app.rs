//! Shared handler state and the route table.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::MockConfig;
use crate::{anthropic, embeddings, errors, models, openai};

/// Cheap to clone (one `Arc`), as axum clones state per request.
#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

struct Inner {
    config: MockConfig,
    /// Cancelled on server shutdown so long sleeps and streams stop instead of
    /// holding graceful shutdown hostage.
    shutdown: CancellationToken,
    next_id: AtomicU64,
}

impl AppState {
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

/// Builds the router with `shutdown` wired into every sleep and stream.
pub(crate) fn build_router(config: MockConfig, shutdown: CancellationToken) -> Router {
    let state = AppState(Arc::new(Inner {
        config,
        shutdown,
        next_id: AtomicU64::new(0),
    }));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/models", get(models::list))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/messages", post(anthropic::messages))
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state)
}
