//! Process shutdown: one `CancellationToken` that SIGTERM or Ctrl-C cancels.
//! The HTTP front watches it: it stops accepting and drains in-flight
//! requests within the configured grace period. Background work has its own
//! token, cancelled only after the front has drained (`keyway::Stack`), so
//! what the last requests produce is still published.

use tokio_util::sync::CancellationToken;

/// Returns a token cancelled on SIGTERM or Ctrl-C.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; draining");
        trigger.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the process");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
