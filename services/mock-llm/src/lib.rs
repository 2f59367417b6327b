//! `keyway-mock-llm`: an OpenAI- and Anthropic-compatible mock upstream for
//! demos, tests and benchmarks. Replies are deterministic, token counts are
//! word counts, and per-request controls (`x-mock-*` headers or a `"mock"`
//! body object) inject latency, chunking, cache hits and failures.
//!
//! It is the baseline in benchmarks, so the hot path avoids per-request
//! logging (only the `[AUTH]` line in auth mode) and needless allocation.

mod anthropic;
mod app;
mod auth;
pub mod azure;
pub mod bedrock;
mod bedrock_converse;
mod bedrock_sigv4;
mod completions;
mod config;
mod controls;
mod embeddings;
mod errors;
mod gemini;
mod misbehave;
mod models;
mod openai;
mod pipeline;
mod response_store;
mod responses;
mod seen;
mod sse;
mod state;
mod text;
mod tools;
mod trace_echo;
mod usage;

#[cfg(test)]
mod test_support;

pub use auth::mask_key;
pub use config::{MockConfig, MockConfigError};

use tokio_util::sync::CancellationToken;

/// The mock's routes with state applied, for mounting or in-process tests.
/// Sleeps and streams here are never interrupted by shutdown; use [`serve`] for that.
pub fn router(config: MockConfig) -> axum::Router {
    app::build_router(config, CancellationToken::new())
}

/// Serves the mock on `listener` until `shutdown` is cancelled, then drains
/// connections. Cancelling also cuts short injected latency, `timeout` hangs
/// and paced streams, so shutdown never waits minutes on a mock sleep.
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: MockConfig,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = app::build_router(config, shutdown.clone());
    // SSE frames are small writes; without TCP_NODELAY each waits for the
    // client's delayed ACK.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::test_support::send;

    #[tokio::test]
    async fn healthz_answers_ok_even_in_auth_mode() {
        let config = MockConfig {
            require_auth: true,
            ..MockConfig::default()
        };
        let request = Request::get("/healthz").body(Body::empty()).unwrap();
        let reply = send(config, request).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), "ok");
    }

    #[tokio::test]
    async fn an_unknown_route_is_an_openai_shaped_404() {
        let request = Request::get("/v2/nothing").body(Body::empty()).unwrap();
        let reply = send(MockConfig::default(), request).await;
        assert_eq!(reply.status, 404);
        assert_eq!(reply.json()["error"]["message"], "Invalid URL (GET /v2/nothing)");
        assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    }

    #[tokio::test]
    async fn a_wrong_method_is_a_json_405() {
        let request = Request::get("/v1/chat/completions").body(Body::empty()).unwrap();
        let reply = send(MockConfig::default(), request).await;
        assert_eq!(reply.status, 405);
        assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    }

    #[tokio::test]
    async fn serve_answers_over_tcp_and_stops_on_cancel_despite_a_hanging_request() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, MockConfig::default(), shutdown.clone()));

        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: mock\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with("ok"), "{response}");

        // A request hanging on an injected timeout must not hold shutdown for 300 s.
        let mut hanging = tokio::net::TcpStream::connect(addr).await.unwrap();
        hanging
            .write_all(b"GET /v1/models HTTP/1.1\r\nhost: mock\r\nx-mock-error: timeout\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    }
}
