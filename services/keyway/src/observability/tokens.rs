//! Counts tokens by tenant, model and kind as usage events leave the
//! gateway, then hands each event on to the real sink.

use std::sync::{Arc, LazyLock};

use keyway_common::{
    metrics::{self as metric, TenantLabels},
    telemetry,
};
use keyway_gateway::usage::UsageSink;
use keyway_proto::v1::UsageEvent;

/// A tenant's label and a model name: both bounded.
type TenantModel = (Arc<str>, Arc<str>);
/// Their input, output and cached token counters.
static TOKEN_HANDLES: LazyLock<metric::Handles<TenantModel, [metrics::Counter; 3]>> =
    LazyLock::new(Default::default);

pub(crate) struct CountingSink {
    pub(crate) inner: Arc<dyn UsageSink>,
    pub(crate) tenants: Arc<TenantLabels>,
}

impl UsageSink for CountingSink {
    fn record(&self, event: UsageEvent) {
        // Runs inside the request's span when the response body ends: the
        // token counts join the trace there (they arrive after the upstream
        // call's span has closed), and the hand-off is a span of its own.
        if telemetry::tracing_enabled() {
            let current = tracing::Span::current();
            // As i64: tracing-opentelemetry exports a u64 as text.
            let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            current.record("gen_ai.usage.input_tokens", count(event.input_tokens));
            current.record("gen_ai.usage.output_tokens", count(event.output_tokens));
        }
        let _publish = tracing::info_span!(
            target: telemetry::TRACE_TARGET,
            "publish usage event",
            otel.kind = "producer",
            messaging.system = "nats",
            keyway.event_id = event.event_id.as_str(),
        )
        .entered();
        let labels = (
            self.tenants.label(&event.tenant_id),
            Arc::<str>::from(event.model.as_str()),
        );
        let [input, output, cached] = TOKEN_HANDLES.get(&labels, || {
            let (tenant, model) = labels.clone();
            let counter = |kind: &'static str| {
                metrics::counter!(metric::TOKENS, "tenant" => tenant.clone(), "model" => model.clone(), "kind" => kind)
            };
            (labels.clone(), [counter("input"), counter("output"), counter("cached")])
        });
        for (counter, n) in [
            (input, event.input_tokens),
            (output, event.output_tokens),
            (cached, event.cached_tokens),
        ] {
            if n > 0 {
                counter.increment(n);
            }
        }
        self.inner.record(event);
    }
}
