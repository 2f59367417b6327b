//! Forwarding to the upstream provider. The response body is streamed back
//! as it arrives, never waiting for data that has not arrived (chunks that
//! arrive together leave in one write: see `coalesce`), so SSE reaches the
//! client as fast as the upstream writes it; dropping the client's body drops
//! the upstream connection, which cancels the upstream call.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use keyway_common::{metrics as metric, telemetry};
use reqwest::Url;
use serde_json::Value;
use tracing::{Instrument, Span, field::Empty};

use crate::{
    catalog::{Deployment, Endpoint, Mode, Model, RetryOn},
    error::GatewayError,
    upstream,
    upstream_client::{Transport, UpstreamClient},
};

/// The largest upstream error body we read to build a message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The request id a client sends, passed on to the upstream. A name
/// constant: looked up by `&str`, a header name is parsed on every lookup.
pub(crate) const X_REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

pub(crate) struct UpstreamCall<'a> {
    pub model: &'a Model,
    /// The deployment called: its provider's auth, its URL.
    pub deployment: &'a Deployment,
    /// Under the model's base URL, or a custom BYOK key's own endpoint.
    pub url: reqwest::Url,
    pub body: Bytes,
    pub key: &'a str,
    pub inbound: &'a HeaderMap,
}

/// Why an attempt failed, for the router: which `retry.on` kind it is (none
/// for a 4xx other than 429, which the next deployment would refuse too)
/// and the upstream's `Retry-After`.
pub(crate) struct Failure {
    pub error: GatewayError,
    pub kind: Option<RetryOn>,
    pub retry_after: Option<Duration>,
}

/// Sends the call; a 2xx answer comes back with its body still unread,
/// else what the router needs to know of the failure. With traces
/// exported, the call is a client span carrying the OpenTelemetry GenAI
/// attributes, and the upstream receives its `traceparent`.
pub(crate) async fn forward_attempt(
    client: &UpstreamClient,
    timeout: Duration,
    call: UpstreamCall<'_>,
) -> Result<reqwest::Response, Failure> {
    let span = upstream_span(&call);
    let outcome = send(client, timeout, reqwest::Method::POST, call, &span)
        .instrument(span.clone())
        .await;
    record(&span, outcome.as_ref().map_err(|f| &f.error));
    outcome
}

/// Any method, the failure as the client's error; an empty body is not sent (a `GET` or
/// `DELETE` on a stored response).
pub(crate) async fn forward_with(
    client: &UpstreamClient,
    timeout: Duration,
    method: reqwest::Method,
    call: UpstreamCall<'_>,
) -> Result<reqwest::Response, GatewayError> {
    let span = upstream_span(&call);
    let outcome = send(client, timeout, method, call, &span)
        .instrument(span.clone())
        .await
        .map_err(|f| f.error);
    record(&span, outcome.as_ref());
    outcome
}

fn record(span: &Span, outcome: Result<&reqwest::Response, &GatewayError>) {
    if !span.is_disabled() {
        match outcome {
            Ok(r) => span.record("http.response.status_code", i64::from(r.status().as_u16())),
            Err(e) => span
                .record("http.response.status_code", i64::from(e.status().as_u16()))
                .record("otel.status_code", "ERROR")
                .record("error.type", e.code()),
        };
    }
}

/// The GenAI client span (OpenTelemetry semantic conventions for generative
/// AI): named "{operation} {model}". The token counts arrive with the body,
/// after this span ends; they are on the request's span (see the usage
/// hand-off). Integers are recorded as `i64`: tracing-opentelemetry exports
/// other integer types as text. Without an exporter the span is disabled and
/// none of its fields is evaluated.
fn upstream_span(call: &UpstreamCall<'_>) -> Span {
    let operation = match call.model.mode {
        Mode::Chat => "chat",
        Mode::Embedding => "embeddings",
        Mode::Completion => "text_completion",
    };
    let model = call.model.upstream_model.as_str();
    tracing::info_span!(
        target: telemetry::TRACE_TARGET,
        "upstream",
        otel.name = format_args!("{operation} {model}"),
        otel.kind = "client",
        otel.status_code = Empty,
        gen_ai.operation.name = operation,
        gen_ai.request.model = model,
        gen_ai.provider.name = call.deployment.provider.as_str(),
        gen_ai.system = call.deployment.provider.as_str(),
        keyway.model = call.model.name.as_str(),
        keyway.deployment = call.deployment.name.as_str(),
        server.address = call.url.host_str().unwrap_or_default(),
        server.port = i64::from(call.url.port_or_known_default().unwrap_or_default()),
        http.response.status_code = Empty,
        error.type = Empty,
    )
}

/// A catalog model's name, shared with the request's timings, and its
/// upstream latency histogram.
type ModelLatency = (Arc<str>, metrics::Histogram);
static UPSTREAM_LATENCY: LazyLock<metric::Handles<Arc<str>, ModelLatency>> = LazyLock::new(Default::default);

async fn send(
    client: &UpstreamClient,
    timeout: Duration,
    method: reqwest::Method,
    call: UpstreamCall<'_>,
    span: &Span,
) -> Result<reqwest::Response, Failure> {
    // The provider's URL style, body and key header or signature: `upstream`.
    let outbound = upstream::authorize(
        call.deployment,
        &method,
        call.url,
        call.body,
        call.key,
        call.inbound,
    )
    .map_err(|error| Failure {
        error,
        kind: None,
        retry_after: None,
    })?;
    let mut headers = outbound.headers;
    if let Some(id) = call.inbound.get(&X_REQUEST_ID) {
        headers.insert(X_REQUEST_ID, id.clone());
    }
    if let Some(trace) = telemetry::trace_headers(span) {
        headers.extend(trace);
    }

    let (model, latency) = UPSTREAM_LATENCY.get(call.model.name.as_str(), || {
        let model: Arc<str> = call.model.name.as_str().into();
        let latency = metrics::histogram!(metric::UPSTREAM_LATENCY, "model" => model.clone());
        (model.clone(), (model, latency))
    });
    let sent = std::time::Instant::now();
    let sending = client.send(method, &outbound.url, headers, outbound.body);
    let outcome = tokio::time::timeout(timeout, sending).await;
    let waited = sent.elapsed();
    latency.record(waited.as_secs_f64());
    metric::note(|t| {
        t.model = Some(model);
        t.upstream_wait += waited;
        t.upstream_sent = Some(sent);
    });
    let failure = |error, kind| Failure {
        error,
        kind: Some(kind),
        retry_after: None,
    };
    let upstream = match outcome {
        Err(_) => return Err(failure(GatewayError::UpstreamTimeout, RetryOn::Timeout)),
        Ok(Err(e)) => return Err(transport_error(e)),
        Ok(Ok(r)) => r,
    };
    let status = upstream.status();
    if !status.is_success() {
        let retry_after = upstream
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let kind = match status.as_u16() {
            429 => Some(RetryOn::RateLimited),
            500..=599 => Some(RetryOn::ServerError),
            _ => None,
        };
        return Err(Failure {
            error: upstream_refusal(call.deployment, status, upstream).await,
            kind,
            retry_after,
        });
    }
    Ok(upstream::adapt(outbound.answer, upstream))
}

fn transport_error(e: Transport) -> Failure {
    let (error, kind) = match e {
        Transport::Timeout => (GatewayError::UpstreamTimeout, RetryOn::Timeout),
        Transport::Connect => (
            GatewayError::UpstreamFailed("could not connect to the upstream provider".into()),
            RetryOn::Connect,
        ),
        Transport::Failed => (
            GatewayError::UpstreamFailed("the connection to the upstream provider failed".into()),
            RetryOn::Connect,
        ),
    };
    Failure {
        error,
        kind: Some(kind),
        retry_after: None,
    }
}

/// Maps a non-2xx upstream answer: 4xx passes through with its status (a
/// rejected BYOK key, a provider rate limit), 5xx becomes 502.
async fn upstream_refusal(
    deployment: &Deployment,
    status: StatusCode,
    upstream: reqwest::Response,
) -> GatewayError {
    let retry_after = upstream.headers().get(header::RETRY_AFTER).cloned();
    let body = read_error_body(upstream).await;
    if let Some(mapped) = upstream::refusal(deployment, status, &body) {
        return mapped;
    }
    let message = upstream::error_message(&body)
        .unwrap_or("no error message was given")
        .to_owned();
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

/// The upstream's error body as JSON (`Null` when it is not).
async fn read_error_body(mut upstream: reqwest::Response) -> Value {
    let mut raw = Vec::new();
    while let Ok(Some(chunk)) = upstream.chunk().await {
        raw.extend_from_slice(&chunk);
        if raw.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    serde_json::from_slice::<Value>(&raw).unwrap_or(Value::Null)
}

/// The model's own pre-parsed URL when `path` is its route's, else `path`
/// under the model's base URL or a custom BYOK key's (checked when the key
/// was stored).
pub(crate) fn upstream_url(
    model: &Model,
    custom_base: Option<&str>,
    path: &str,
) -> Result<Url, GatewayError> {
    upstream_url_of(&model.deployments[0], model, custom_base, path)
}

/// As [`upstream_url`], under one deployment's base URL.
pub(crate) fn upstream_url_of(
    deployment: &Deployment,
    model: &Model,
    custom_base: Option<&str>,
    path: &str,
) -> Result<Url, GatewayError> {
    let own = Endpoint::serving(deployment.wire, model.mode).upstream_path();
    match custom_base {
        None if path == own => Ok(deployment.upstream_url.clone()),
        base => Url::parse(&format!("{}{path}", base.unwrap_or(&deployment.base_url))).map_err(|_| {
            GatewayError::UpstreamFailed("the provider key's base URL is not a valid URL".into())
        }),
    }
}
