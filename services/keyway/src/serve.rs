//! The HTTP front's accept loop. It is `axum::serve`'s, written out because
//! `axum::serve` cannot configure hyper, and hyper's header limit matters:
//! hyper answers requests whose head is over its read buffer itself, with a
//! bare `431` (empty body, `Connection: close`) before any router runs. The
//! buffer is raised here above the gateway's own header limit
//! (`keyway_gateway::MAX_HEADER_BYTES`), so `/v1` refuses large headers with
//! its JSON 431; only heads over `HYPER_MAX_BUF_BYTES` still get hyper's.
//!
//! Each request carries its connection's peer address as axum's
//! `ConnectInfo<SocketAddr>`, which the front reads to tell clients apart
//! (`crate::front`).

use std::{io, net::SocketAddr, time::Duration};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto::Builder,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower::ServiceExt;

/// hyper's per-connection read buffer: a request head must fit in it.
/// 1 MiB + 64 KiB, up from hyper's ~400 KB, so that a 1 MiB header still
/// reaches the gateway and gets a JSON answer. The buffer grows only as a
/// client fills it.
pub(crate) const HYPER_MAX_BUF_BYTES: usize = (1 << 20) + 64 * 1024;

/// Serves `router` until `shutdown`, then lets open connections finish
/// their requests (the caller bounds how long).
pub(crate) async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(HYPER_MAX_BUF_BYTES);
    // As `axum::serve`: the CONNECT protocol, for HTTP/2 upgrades.
    builder.http2().enable_connect_protocol();
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
        let (builder, service, shutdown) = (
            builder.clone(),
            TowerToHyperService::new(router.clone().map_request(insert_peer(peer))),
            shutdown.clone(),
        );
        connections.spawn(async move {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                () = shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}

/// Puts the connection's peer address into each of its requests.
fn insert_peer<B>(peer: SocketAddr) -> impl FnMut(Request<B>) -> Request<B> + Clone {
    move |mut request| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }
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
