//! How the HTTP front serves a connection. It is `axum::serve`'s, written
//! out because
//! `axum::serve` cannot configure hyper, and hyper's header limit matters:
//! hyper answers requests whose head is over its read buffer itself, with a
//! bare `431` (empty body, `Connection: close`) before any router runs. The
//! buffer is raised here above the gateway's own header limit
//! (`keyway_gateway::MAX_HEADER_BYTES`), so `/v1` refuses large headers with
//! its JSON 431; only heads over `HYPER_MAX_BUF_BYTES` still get hyper's.
//!
//! Each connection's requests go through `front::Identify`, which knows the
//! connection's peer address and tells clients apart by it.
//!
//! HTTP/1 and HTTP/2 (prior knowledge) are told apart by peeking at the
//! first bytes, as hyper-util's `auto` builder does by reading them: its
//! replay of those bytes made hyper double each connection's read buffer
//! to 16 KiB (at 1,000 open streams, 8 MiB more heap).

use std::{io, net::SocketAddr, pin::Pin, sync::Arc, time::Duration};

use axum::Router;
use hyper::server::conn::{http1, http2};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    service::TowerToHyperService,
};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::front::Identify;
use keyway_auth::AuthGuard;

/// hyper's per-connection read buffer: a request head must fit in it.
/// 1 MiB + 64 KiB, up from hyper's ~400 KB, so that a 1 MiB header still
/// reaches the gateway and gets a JSON answer. The buffer grows only as a
/// client fills it.
pub(crate) const HYPER_MAX_BUF_BYTES: usize = (1 << 20) + 64 * 1024;

/// What serves one accepted connection, on whichever runtime runs it:
/// `router`, with `guard` given every request with its client address
/// (`front::Identify`).
pub(crate) struct Handler {
    h1: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    router: Router,
    guard: Arc<AuthGuard>,
    shutdown: CancellationToken,
}

impl Handler {
    pub(crate) fn new(router: Router, guard: Arc<AuthGuard>, shutdown: CancellationToken) -> Self {
        let mut h1 = http1::Builder::new();
        h1.max_buf_size(HYPER_MAX_BUF_BYTES);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        // As `axum::serve`: the CONNECT protocol, for HTTP/2 upgrades.
        h2.enable_connect_protocol();
        Self {
            h1,
            h2,
            router,
            guard,
            shutdown,
        }
    }

    pub(crate) async fn connection(self: Arc<Self>, tcp: TcpStream, peer: SocketAddr) {
        let service =
            TowerToHyperService::new(Identify::new(self.router.clone(), self.guard.clone(), peer.ip()));
        // A client that connected and sent nothing yet must not hold up
        // shutdown.
        let protocol = tokio::select! {
            protocol = sniff(&tcp) => protocol,
            () = self.shutdown.cancelled() => return,
        };
        let Ok(protocol) = protocol else {
            return;
        };
        let io = TokioIo::new(tcp);
        let shutdown = self.shutdown.clone();
        match protocol {
            Protocol::Http1 => {
                let connection = self.h1.serve_connection(io, service).with_upgrades();
                drive(connection, shutdown, |c| c.graceful_shutdown()).await;
            }
            // Boxed: a task is as large as its largest state, and an
            // HTTP/2 connection's made each HTTP/1 connection's task 3.5 KB
            // instead of 1.6 KB (measured in a debug build).
            Protocol::Http2 => {
                let connection = self.h2.serve_connection(io, service);
                Box::pin(drive(connection, shutdown, |c| c.graceful_shutdown())).await;
            }
        }
    }
}

/// Serves a connection until it ends; on shutdown, lets it finish what it
/// is doing.
async fn drive<C: Future>(connection: C, shutdown: CancellationToken, graceful: impl FnOnce(Pin<&mut C>)) {
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        () = shutdown.cancelled() => graceful(connection.as_mut()),
    }
    let _ = connection.await;
}

#[derive(Debug, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads the protocol off the connection's first bytes, leaving them in the
/// socket for hyper. HTTP/1 is known at the first byte that differs from the
/// preface (`POST` at its second); only a client that sent part of the
/// preface is waited for, with growing pauses (a peek returns at once while
/// any byte is there), for 30 s at most.
async fn sniff(tcp: &TcpStream) -> io::Result<Protocol> {
    let mut seen = [0u8; 24];
    let mut pause = Duration::from_millis(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let n = tcp.peek(&mut seen).await?;
        match classify(&seen[..n]) {
            Some(protocol) => return Ok(protocol),
            // Cut off mid-preface: hyper reports it as an HTTP/1 error.
            None if tokio::time::Instant::now() >= deadline => return Ok(Protocol::Http1),
            None => tokio::time::sleep(pause).await,
        }
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// `None` while `seen` is a proper prefix of the HTTP/2 preface. An empty
/// peek is the end of the stream: hyper sees it as such.
fn classify(seen: &[u8]) -> Option<Protocol> {
    if seen.is_empty() || !H2_PREFACE.starts_with(seen) {
        Some(Protocol::Http1)
    } else if seen.len() == H2_PREFACE.len() {
        Some(Protocol::Http2)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bytes_tell_the_protocol() {
        assert_eq!(
            classify(b"POST /v1/chat/completions HTTP/1.1\r\n"),
            Some(Protocol::Http1)
        );
        assert_eq!(classify(b"PUT"), Some(Protocol::Http1));
        assert_eq!(classify(b""), Some(Protocol::Http1));
        assert_eq!(classify(H2_PREFACE), Some(Protocol::Http2));
        assert_eq!(classify(b"P"), None);
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n"), None);
        assert_eq!(
            classify(b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n"),
            Some(Protocol::Http1)
        );
    }
}
