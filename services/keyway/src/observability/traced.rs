//! Each request's span and its access log line: the request runs inside a
//! span named after its request id, method and path, and one line reports
//! its status and latency when the response head is ready. The line is
//! `tower_http`'s (`TraceLayer` with `DefaultOnResponse` at INFO and
//! `DefaultOnFailure`): same message, fields and targets, so log pipelines
//! and filters see no change. `Observe` opens the span, polls the handler
//! inside it and writes the line.
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

use std::{fmt, time::Duration};

use axum::{extract::Request, response::Response};
use keyway_common::telemetry;
use tower_http::request_id::RequestId;
use tracing::{Level, Span};

/// The request's span, named after its request id, method and path.
pub(super) fn request_span(request: &Request) -> Span {
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
pub(super) fn finished(response: &Response, latency: Duration) {
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
#[expect(clippy::unwrap_used, reason = "tests fail loudly")]
mod tests {
    use std::{
        collections::BTreeMap,
        convert::Infallible,
        sync::{Arc, Mutex},
    };

    use axum::{body::Body, http::StatusCode, response::IntoResponse as _};
    use tower::ServiceExt as _;
    use tracing::field::{Field, Visit};
    use tracing_subscriber::{layer::SubscriberExt as _, registry::LookupSpan};

    use super::*;
    use crate::observability::Observe;

    /// An event as logged: target, level, its fields as text, and the name
    /// of the span it was logged in.
    type Logged = (String, Level, BTreeMap<String, String>, Option<String>);

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Logged>>>);

    struct Fields<'a>(&'a mut BTreeMap<String, String>);

    impl Visit for Fields<'_> {
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.insert(field.name().to_owned(), format!("{value:?}"));
        }
    }

    impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Capture {
        fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
            let mut fields = BTreeMap::new();
            event.record(&mut Fields(&mut fields));
            let span = ctx.event_span(event).map(|s| s.name().to_owned());
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((meta.target().to_owned(), *meta.level(), fields, span));
        }
    }

    /// The lines logged while one request with `status` goes through
    /// `Observe`, and the event the handler logged.
    async fn logged(status: StatusCode) -> Vec<Logged> {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        let _default = tracing::subscriber::set_default(subscriber);
        let handler = tower::service_fn(move |_: Request| async move {
            tracing::info!("in the handler");
            Ok::<_, Infallible>((status, "body").into_response())
        });
        let request = Request::builder().uri("/v1/x").body(Body::empty()).unwrap();
        let response = Observe::new(handler).oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
        capture.0.lock().unwrap().clone()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_request_logs_inside_its_span_and_ends_with_tower_https_line() {
        let lines = logged(StatusCode::OK).await;
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].2["message"], "in the handler");
        assert_eq!(lines[0].3.as_deref(), Some("request"));
        let (target, level, fields, span) = &lines[1];
        assert_eq!(
            (target.as_str(), *level),
            ("tower_http::trace::on_response", Level::INFO)
        );
        assert_eq!(fields["message"], "finished processing request");
        assert_eq!(fields["status"], "200");
        assert!(fields["latency"].ends_with(" ms"), "{fields:?}");
        assert_eq!(span.as_deref(), Some("request"));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_server_error_also_gets_the_failure_line() {
        let lines = logged(StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[1].2["status"], "503");
        let (target, level, fields, _) = &lines[2];
        assert_eq!(
            (target.as_str(), *level),
            ("tower_http::trace::on_failure", Level::ERROR)
        );
        assert_eq!(fields["message"], "response failed");
        assert_eq!(fields["classification"], "Status code: 503 Service Unavailable");
        let client_error = logged(StatusCode::NOT_FOUND).await;
        assert_eq!(client_error.len(), 2, "a 4xx is not a failure: {client_error:?}");
    }

    #[test]
    fn latency_is_written_as_tower_http_writes_it() {
        assert_eq!(Millis(Duration::from_micros(1_500)).to_string(), "1 ms");
        assert_eq!(Millis(Duration::from_secs(2)).to_string(), "2000 ms");
    }
}
