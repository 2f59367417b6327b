//! Forwarding to the upstream provider. The response body is streamed back
//! as it arrives, never waiting for data that has not arrived (chunks that
//! arrive together leave in one write: see `coalesce`), so SSE reaches the
//! client as fast as the upstream writes it; dropping the client's body drops
//! the upstream connection, which cancels the upstream call.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use bytes::Bytes;
use serde_json::Value;

use crate::{
    catalog::{Model, Wire},
    error::GatewayError,
};

/// The largest upstream error body we read to build a message.
const MAX_ERROR_BODY: usize = 64 * 1024;
const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

pub(crate) fn build_client(
    connect_timeout: Duration,
    read_timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        // A redirect could lead a custom base URL past the SSRF guard.
        .redirect(reqwest::redirect::Policy::none())
        // Upstreams are reached directly; proxy detection costs every request.
        .no_proxy()
        .connect_timeout(connect_timeout)
        .read_timeout(read_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()
}

pub(crate) struct UpstreamCall<'a> {
    pub model: &'a Model,
    /// Under the model's base URL, or a custom BYOK key's own endpoint.
    pub url: reqwest::Url,
    pub body: Bytes,
    pub key: &'a str,
    pub inbound: &'a HeaderMap,
}

/// Sends the call; a 2xx answer comes back with its body still unread.
pub(crate) async fn forward(
    client: &reqwest::Client,
    timeout: Duration,
    call: UpstreamCall<'_>,
) -> Result<reqwest::Response, GatewayError> {
    forward_with(client, timeout, reqwest::Method::POST, call).await
}

/// As [`forward`], with any method; an empty body is not sent (a `GET` or
/// `DELETE` on a stored response).
pub(crate) async fn forward_with(
    client: &reqwest::Client,
    timeout: Duration,
    method: reqwest::Method,
    call: UpstreamCall<'_>,
) -> Result<reqwest::Response, GatewayError> {
    let mut request = client.request(method, call.url);
    if !call.body.is_empty() {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(call.body);
    }
    request = match call.model.wire {
        Wire::OpenAi => request.bearer_auth(call.key),
        Wire::Anthropic => {
            let version = call
                .inbound
                .get("anthropic-version")
                .cloned()
                .unwrap_or(HeaderValue::from_static(DEFAULT_ANTHROPIC_VERSION));
            let mut r = request
                .header("x-api-key", call.key)
                .header("anthropic-version", version);
            if let Some(beta) = call.inbound.get("anthropic-beta") {
                r = r.header("anthropic-beta", beta.clone());
            }
            r
        }
    };
    if let Some(id) = call.inbound.get("x-request-id") {
        request = request.header("x-request-id", id.clone());
    }

    let upstream = match tokio::time::timeout(timeout, request.send()).await {
        Err(_) => return Err(GatewayError::UpstreamTimeout),
        Ok(Err(e)) => return Err(transport_error(&e)),
        Ok(Ok(r)) => r,
    };
    let status = upstream.status();
    if !status.is_success() {
        return Err(upstream_refusal(status, upstream).await);
    }
    Ok(upstream)
}

fn transport_error(e: &reqwest::Error) -> GatewayError {
    if e.is_timeout() {
        GatewayError::UpstreamTimeout
    } else if e.is_connect() {
        GatewayError::UpstreamFailed("could not connect to the upstream provider".into())
    } else {
        GatewayError::UpstreamFailed("the connection to the upstream provider failed".into())
    }
}

/// Maps a non-2xx upstream answer: 4xx passes through with its status (a
/// rejected BYOK key, a provider rate limit), 5xx becomes 502.
async fn upstream_refusal(status: StatusCode, upstream: reqwest::Response) -> GatewayError {
    let retry_after = upstream.headers().get(header::RETRY_AFTER).cloned();
    let message = read_error_message(upstream).await;
    if status.is_client_error() {
        GatewayError::UpstreamRefused {
            status,
            message,
            retry_after,
        }
    } else {
        GatewayError::UpstreamFailed(format!("status {}: {message}", status.as_u16()))
    }
}

/// Both OpenAI and Anthropic put the text at `error.message`.
async fn read_error_message(mut upstream: reqwest::Response) -> String {
    let mut raw = Vec::new();
    while let Ok(Some(chunk)) = upstream.chunk().await {
        raw.extend_from_slice(&chunk);
        if raw.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    serde_json::from_slice::<Value>(&raw)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "no error message was given".to_owned())
}
