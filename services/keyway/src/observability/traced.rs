//! Each request's span and its access log line: the request runs inside a
//! span named after its request id, method and path, and one line reports
//! its status and latency when the response head is ready. The line is
//! `tower_http`'s (`TraceLayer` with `DefaultOnResponse` at INFO and
//! `DefaultOnFailure`): same message, fields and targets, so log pipelines
//! and filters see no change.
//!
//! Why not `TraceLayer` itself: it wraps the response body, and the wrapper
//! enters the request's span on every poll of it. A streamed answer is
//! polled about 37 times, and each entry and exit goes through the whole
//! subscriber (the span stack, the filter, the formatter): about 10,000
//! instructions a stream, 3% of it (`bench/instructions.sh`,
//! docs/benchmarks.md). Here the span is entered while the handler runs,
//! and the body goes out as the handler made it; the usage meter enters the
//! span again for what it reports when the body ends (`Meter`), so the
//! token counts and the usage event's span still join the request's trace.
//!
//! Tracing records method, path, status and latency, never headers, so keys
//! presented in `Authorization` or `x-api-key` cannot reach a log. The one
//! header read is `traceparent`: with traces exported, the request's span
//! continues the caller's trace.

use std::{
    convert::Infallible,
    fmt,
    pin::Pin,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use axum::{extract::Request, response::Response};
use keyway_common::telemetry;
use pin_project_lite::pin_project;
use tower::Service;
use tower_http::request_id::RequestId;
use tracing::{Level, Span};

/// The layer: `ServiceBuilder::layer_fn(Traced::new)`.
#[derive(Clone)]
pub(crate) struct Traced<S> {
    inner: S,
}

impl<S> Traced<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S> Service<Request> for Traced<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TracedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let span = request_span(&request);
        let started = Instant::now();
        let inner = span.in_scope(|| self.inner.call(request));
        TracedFuture { inner, span, started }
    }
}

pin_project! {
    /// The inner service's future, polled inside the request's span.
    pub(crate) struct TracedFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        started: Instant,
    }
}

impl<F> Future for TracedFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let Ok(response) = ready!(this.inner.poll(cx));
        finished(&response, this.started.elapsed());
        Poll::Ready(Ok(response))
    }
}

/// The request's span, named after its request id, method and path.
fn request_span(request: &Request) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        path = %request.uri().path(),
        otel.kind = "server",
        // Known when the usage event leaves (see `observability::tokens`).
        gen_ai.usage.input_tokens = tracing::field::Empty,
        gen_ai.usage.output_tokens = tracing::field::Empty,
    );
    telemetry::extract_parent(&span, request.headers());
    span
}

/// The access log line, as `DefaultOnResponse` at INFO writes it; a server
/// error also gets `DefaultOnFailure`'s line, as `ServerErrorsAsFailures`
/// classifies it.
fn finished(response: &Response, latency: Duration) {
    let latency = Millis(latency);
    let status = response.status();
    tracing::event!(
        target: "tower_http::trace::on_response",
        Level::INFO,
        %latency,
        status = i32::from(status.as_u16()),
        "finished processing request"
    );
    if status.is_server_error() {
        tracing::event!(
            target: "tower_http::trace::on_failure",
            Level::ERROR,
            classification = %format_args!("Status code: {status}"),
            %latency,
            "response failed"
        );
    }
}

/// A latency as `tower_http` writes it: whole milliseconds, then ` ms`.
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_written_as_tower_http_writes_it() {
        assert_eq!(Millis(Duration::from_micros(1_500)).to_string(), "1 ms");
        assert_eq!(Millis(Duration::from_secs(2)).to_string(), "2000 ms");
    }
}
