//! Logging and tracing: JSON logs through `tracing`, with an OpenTelemetry
//! layer that exports over OTLP only when an endpoint is configured.
//!
//! What is never logged is decided at the call sites: request headers are not
//! recorded anywhere, and secrets are masked before they reach a field.
//!
//! Spans that exist only for traces (authentication, credential resolution,
//! the upstream call, usage hand-off) use the target [`TRACE_TARGET`]. They
//! are switched off entirely without an OTLP endpoint — a disabled callsite
//! is one cached check — and kept out of the log lines when tracing is on,
//! so a log line's `span` stays the request's.
//!
//! W3C trace context (`traceparent`, `tracestate`) is read from incoming
//! requests and written into outgoing ones ([`extract_parent`],
//! [`trace_headers`]) only when traces are exported.

use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    propagation::{Extractor, Injector},
    trace::TracerProvider as _,
};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing::Subscriber;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::{
    EnvFilter, Layer, filter::filter_fn, fmt::MakeWriter, layer::SubscriberExt, registry::LookupSpan,
    util::SubscriberInitExt,
};

use crate::{
    config::{Config, LogFormat},
    json_log::{JsonLine, SpanFields},
};

/// Keeps the tracer provider alive; dropping it flushes pending spans.
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            // Best effort: a collector that went away must not block exit.
            let _ = provider.shutdown();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("could not build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("invalid log filter directive: {0}")]
    Filter(String),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled,
}

/// The target of the spans that exist for traces only (see the module doc).
pub const TRACE_TARGET: &str = "keyway_trace";

/// Set once traces are exported; read before any trace-context work.
static TRACING: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported over OTLP in this process.
pub fn tracing_enabled() -> bool {
    TRACING.load(Ordering::Relaxed)
}

/// Installs the global subscriber. `RUST_LOG` overrides the default filter.
pub fn init(config: &Config, service: &'static str) -> Result<TelemetryGuard, TelemetryError> {
    let provider = build_provider(config, service)?;
    // The trace-only spans follow the exporter, whatever `RUST_LOG` says.
    let trace_spans = if provider.is_some() { "info" } else { "off" };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| {
            EnvFilter::new("info,sqlx=warn,async_nats=warn,hyper=warn,h2=warn,tower=warn,tower_http=info")
        })
        .add_directive(
            format!("{TRACE_TARGET}={trace_spans}")
                .parse()
                .map_err(|e| TelemetryError::Filter(format!("{e}")))?,
        );

    let fmt_layer = match config.log_format {
        LogFormat::Json => json_layer(std::io::stdout).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().boxed(),
    };
    let fmt_layer = match provider {
        Some(_) => fmt_layer
            .with_filter(filter_fn(|meta| meta.target() != TRACE_TARGET))
            .boxed(),
        None => fmt_layer,
    };

    let otel_layer = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(service)));

    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()
        .map_err(|_| TelemetryError::AlreadyInstalled)?;
    if provider.is_some() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        TRACING.store(true, Ordering::Relaxed);
    }
    Ok(TelemetryGuard { provider })
}

/// The OTLP/gRPC pipeline, when an endpoint is configured. The batch
/// processor reads the standard `OTEL_BSP_*` variables (e.g.
/// `OTEL_BSP_SCHEDULE_DELAY`, 5000 ms by default).
fn build_provider(
    config: &Config,
    service: &'static str,
) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    Ok(match &config.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(Resource::builder().with_service_name(service).build())
                    .build(),
            )
        }
        None => None,
    })
}

/// `traceparent` (and `tracestate`) for an outgoing request made inside
/// `span`, or `None` when traces are not exported — then nothing is
/// computed at all.
pub fn trace_headers(span: &tracing::Span) -> Option<HeaderMap> {
    if !tracing_enabled() {
        return None;
    }
    let context = span.context();
    let mut headers = HeaderMap::new();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
    });
    Some(headers)
}

/// Makes `span` (a server span) a child of the caller's trace when the
/// request carries W3C trace context; a no-op when traces are not exported.
pub fn extract_parent(span: &tracing::Span, headers: &HeaderMap) {
    if !tracing_enabled() || !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    });
    span.set_parent(parent);
}

struct HeaderInjector<'a>(&'a mut HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(key), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// One JSON object a line (`json_log`): `timestamp`, `level`, `fields`,
/// `target` and the current `span` (its fields and `name`), which is what
/// log pipelines and the e2e tests read. The list of enclosing spans is left
/// out: it repeats the current span and costs a copy per event.
fn json_layer<S, W>(writer: W) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .fmt_fields(SpanFields)
        .event_format(JsonLine)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::{
        io,
        sync::{Arc, Mutex},
    };

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let out = Captured::default();
        let layer = json_layer(out.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn an_event_in_a_span_is_one_json_line_of_the_usual_shape() {
        let lines = capture(|| {
            let span = tracing::info_span!("request", request_id = "r-1", method = "POST", path = "/v1/x");
            let _entered = span.enter();
            tracing::info!(status = 200u64, ok = true, ratio = 0.5, latency = %"3 ms", "finished \"processing\"\n");
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["fields"]["message"], "finished \"processing\"\n");
        assert_eq!(line["fields"]["status"], 200);
        assert_eq!(line["fields"]["ok"], true);
        assert_eq!(line["fields"]["ratio"], 0.5);
        assert_eq!(line["fields"]["latency"], "3 ms");
        assert_eq!(line["span"]["request_id"], "r-1");
        assert_eq!(line["span"]["path"], "/v1/x");
        assert_eq!(line["span"]["name"], "request");
        assert!(line.get("spans").is_none());
        let ts = line["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 27, "{ts}");
    }

    #[test]
    fn fields_recorded_later_join_the_span_and_lines_outside_spans_have_none() {
        let lines = capture(|| {
            tracing::warn!(target: "plain", answer = 42u64, "outside");
            let span = tracing::info_span!("request", path = "/v1/x", tokens = tracing::field::Empty);
            let _entered = span.enter();
            span.record("tokens", 7u64);
            tracing::info!("inside");
            let bare = tracing::info_span!("bare");
            bare.in_scope(|| tracing::info!(quote = "a \"b\"", "nested"));
        });
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["level"], "WARN");
        assert_eq!(lines[0]["target"], "plain");
        assert_eq!(lines[0]["fields"]["answer"], 42);
        assert!(lines[0].get("span").is_none());
        assert_eq!(lines[1]["span"]["path"], "/v1/x");
        assert_eq!(lines[1]["span"]["tokens"], 7);
        assert_eq!(lines[1]["span"]["name"], "request");
        assert_eq!(lines[2]["span"], serde_json::json!({"name": "bare"}));
        assert_eq!(lines[2]["fields"]["quote"], "a \"b\"");
    }

    #[test]
    fn w3c_trace_context_round_trips_through_http_headers() {
        use opentelemetry::{
            propagation::TextMapPropagator,
            trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState},
        };
        let propagator = TraceContextPropagator::new();
        let mut incoming = HeaderMap::new();
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        incoming.insert("traceparent", HeaderValue::from_static(parent));
        let context = propagator.extract(&HeaderExtractor(&incoming));
        let span = context.span().span_context().clone();
        assert_eq!(
            span.trace_id(),
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
        );
        assert_eq!(span.span_id(), SpanId::from_hex("b7ad6b7169203331").unwrap());

        let child = SpanContext::new(
            span.trace_id(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let mut outgoing = HeaderMap::new();
        let context = opentelemetry::Context::new().with_remote_span_context(child);
        propagator.inject_context(&context, &mut HeaderInjector(&mut outgoing));
        assert_eq!(
            outgoing["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn without_an_exporter_no_trace_context_is_written() {
        assert!(!tracing_enabled());
        assert!(trace_headers(&tracing::Span::none()).is_none());
    }

    #[test]
    fn an_event_outside_a_span_has_no_span_and_control_characters_are_escaped() {
        let lines = capture(|| tracing::warn!(detail = "a\u{1}b\tc\\d", "plain"));
        assert_eq!(lines[0]["fields"]["detail"], "a\u{1}b\tc\\d");
        assert!(lines[0].get("span").is_none());
    }
}
