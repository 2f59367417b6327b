//! The HTTP front's accept loop: each connection goes to a front thread
//! (`crate::fronts`), or without them is served on this runtime
//! (`crate::serve`).

use std::{io, sync::Arc, time::Duration};

use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{fronts::Fronts, serve::Handler};

/// Serves until `shutdown`, then lets open connections finish their
/// requests (the caller bounds how long). Connections are handed to the
/// `fronts` (`crate::fronts`), or without them served on this runtime.
pub(crate) async fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    fronts: Option<Arc<Fronts>>,
    shutdown: CancellationToken,
) {
    let connections = TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
        };
        // Streams are many small writes: without TCP_NODELAY, Nagle holds
        // each SSE frame for the client's delayed ACK (~40 ms a token).
        let _ = tcp.set_nodelay(true);
        match &fronts {
            Some(fronts) => fronts.hand_over(tcp, peer),
            None => {
                connections.spawn(handler.clone().connection(tcp, peer));
            }
        }
    }
    drop(listener);
    connections.close();
    if let Some(fronts) = &fronts {
        fronts.drain().await;
    }
    connections.wait().await;
}

/// A client that hung up mid-handshake is nothing; anything else (say, out
/// of file descriptors) is logged and waited out, as hyper 0.14 did.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
