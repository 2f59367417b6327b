//! Prometheus metrics: the recorder (installed once per process), the
//! `/metrics` route, and the HTTP front's watch on each request
//! (`observe`): its measurements, and its span and access log line
//! (`traced`). Metric names live in `keyway_common::metrics`; what each
//! means is in docs/observability.md.

mod observe;
pub(crate) mod scrape;
mod tokens;
mod traced;

use std::sync::{Arc, OnceLock};

use keyway_common::{ConfigError, Vars, metrics as metric};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub(crate) use observe::Observe;
pub(crate) use scrape::{Scrape, router};
pub(crate) use tokens::CountingSink;

/// `KEYWAY_METRICS_*`.
#[derive(Debug, Clone)]
pub(crate) struct MetricsSettings {
    /// `KEYWAY_METRICS_TOKEN`: the bearer token `/metrics` asks for; unset,
    /// the admin key is asked for.
    pub(crate) token: Option<String>,
    /// `KEYWAY_METRICS_MAX_TENANTS` (default 100): tenants with a label of
    /// their own in token counts; the rest share `tenant="other"`.
    pub(crate) max_tenants: usize,
}

impl MetricsSettings {
    pub(crate) fn from_config(vars: &Vars) -> Result<Self, ConfigError> {
        let token = vars.get("KEYWAY_METRICS_TOKEN");
        if token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(ConfigError::invalid(
                "KEYWAY_METRICS_TOKEN",
                "at least 16 characters",
                "(too short)",
            ));
        }
        let max_tenants = vars.number("KEYWAY_METRICS_MAX_TENANTS", 100, 0..=100_000)?;
        Ok(Self {
            token,
            max_tenants: usize::try_from(max_tenants).unwrap_or(100),
        })
    }
}

/// The `/metrics` route's state for one stack.
pub(crate) fn scrape(
    config: &keyway_common::Config,
    services: crate::services::Services,
    admin_key: &str,
    readiness: Arc<crate::health::Readiness>,
    handle: PrometheusHandle,
) -> Result<Arc<Scrape>, ConfigError> {
    let settings = MetricsSettings::from_config(config.vars())?;
    let projector = if services.projector {
        let p = keyway_projector::ProjectorSettings::from_config(config)?;
        Some((p.stream_name(), p.consumer_name()))
    } else {
        None
    };
    Ok(Arc::new(Scrape {
        handle,
        token: keyway_auth::AdminKeyAuthenticator::new(settings.token.as_deref().unwrap_or(admin_key)),
        readiness,
        projector,
    }))
}

/// The process's recorder. Installed on first use: several stacks in one
/// process (the tests) share it, as they share the process.
pub(crate) fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            // Every histogram is in seconds. Setting buckets fails only for
            // an empty list; summaries would then be rendered instead.
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &metric::BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics shows only Keyway's own");
            }
            describe();
            handle
        })
        .clone()
}

/// Token counts by tenant need the bound, shared by every stack.
pub(crate) fn tenant_labels(max: usize) -> Arc<metric::TenantLabels> {
    static LABELS: OnceLock<Arc<metric::TenantLabels>> = OnceLock::new();
    LABELS
        .get_or_init(|| Arc::new(metric::TenantLabels::new(max)))
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        metric::HTTP_REQUESTS,
        "HTTP requests by route, method, status and model"
    );
    describe_histogram!(metric::HTTP_DURATION, Unit::Seconds, "Time to the response head");
    describe_histogram!(
        metric::GATEWAY_OVERHEAD,
        Unit::Seconds,
        "Time to the response head minus the wait for the upstream's head"
    );
    describe_histogram!(
        metric::UPSTREAM_LATENCY,
        Unit::Seconds,
        "Upstream response head latency"
    );
    describe_histogram!(
        metric::UPSTREAM_TTFT,
        Unit::Seconds,
        "Upstream time to the first streamed bytes"
    );
    describe_counter!(metric::TOKENS, "Tokens by tenant (bounded), model and kind");
    describe_gauge!(
        metric::SPOOL_BYTES,
        Unit::Bytes,
        "Usage events waiting in the local spool"
    );
    describe_gauge!(
        metric::SPOOL_QUARANTINED,
        "Torn or corrupt spool spans moved to the quarantine directory"
    );
    describe_gauge!(
        metric::SPOOL_QUARANTINED_BYTES,
        Unit::Bytes,
        "Bytes of the quarantined spool spans"
    );
    describe_gauge!(metric::OUTBOX_PENDING, "Key-change events not yet published");
    describe_gauge!(
        metric::OUTBOX_AGE,
        Unit::Seconds,
        "Age of the oldest unpublished key-change event"
    );
    describe_gauge!(
        metric::PROJECTOR_PENDING,
        "Usage events not yet folded into billing"
    );
    describe_counter!(metric::WEBHOOK_FAILURES, "Failed webhook delivery attempts");
    describe_counter!(metric::LIMIT_REFUSALS, "Requests refused by a limit");
    describe_counter!(
        metric::LIMIT_FAIL_OPEN,
        "Requests served without limits (counters unreachable)"
    );
    describe_counter!(metric::KMS_CALLS, "KMS calls");
    describe_counter!(metric::DEK_CACHE, "Data-key cache lookups");
}
