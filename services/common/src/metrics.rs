//! The names of Keyway's Prometheus metrics, in one place so dashboards and
//! docs (docs/observability.md) have one list, and the per-request timings
//! the gateway fills in for the HTTP front to read.
//!
//! Recording goes through the `metrics` facade: with no recorder installed
//! (unit tests, libraries) every call is a no-op. `keyway` installs the
//! Prometheus recorder and serves `/metrics`.
//!
//! Label cardinality is bounded: routes are the router's matched patterns,
//! methods the standard ones ([`method_label`]), models come from the
//! catalog, and tenants are capped by [`TenantLabels`].

use std::{
    borrow::Borrow,
    cell::RefCell,
    collections::HashSet,
    hash::Hash,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use tokio::task::futures::TaskLocalFuture;

/// Requests by `route` (the matched pattern), `method`, `status`, `model`.
pub const HTTP_REQUESTS: &str = "keyway_http_requests_total";
/// Time from the request's arrival to its response head, by `route`.
pub const HTTP_DURATION: &str = "keyway_http_request_duration_seconds";
/// The part of [`HTTP_DURATION`] spent in Keyway, not waiting for the
/// upstream's response head, by `route` (LLM routes only).
pub const GATEWAY_OVERHEAD: &str = "keyway_gateway_overhead_seconds";
/// From sending the upstream request to its response head, by `model`.
pub const UPSTREAM_LATENCY: &str = "keyway_upstream_latency_seconds";
/// From sending the upstream request to the first body bytes of a stream.
pub const UPSTREAM_TTFT: &str = "keyway_upstream_time_to_first_token_seconds";
/// Tokens by `tenant` (bounded), `model` and `kind` (input, output, cached).
pub const TOKENS: &str = "keyway_tokens_total";
/// Usage events waiting in the gateway's local spool, and their bytes.
pub const SPOOL_EVENTS: &str = "keyway_usage_spooled_events_total";
pub const SPOOL_BYTES: &str = "keyway_usage_spool_bytes";
/// Torn or corrupt spans moved to the spool's quarantine directory, and
/// their bytes: listed until an operator removes them (docs/operations.md).
pub const SPOOL_QUARANTINED: &str = "keyway_usage_spool_quarantined_spans";
pub const SPOOL_QUARANTINED_BYTES: &str = "keyway_usage_spool_quarantined_bytes";
/// Usage events the gateway published, and refused for a full spool.
pub const USAGE_PUBLISHED: &str = "keyway_usage_published_events_total";
pub const USAGE_DROPPED: &str = "keyway_usage_dropped_events_total";
/// Key-change events committed but not yet published, and the oldest's age.
pub const OUTBOX_PENDING: &str = "keyway_keys_outbox_pending_events";
pub const OUTBOX_AGE: &str = "keyway_keys_outbox_oldest_age_seconds";
/// Usage events in JetStream not yet folded into the billing views.
pub const PROJECTOR_PENDING: &str = "keyway_projector_pending_events";
/// Webhook deliveries that failed (each attempt), by `reason`.
pub const WEBHOOK_FAILURES: &str = "keyway_webhook_failures_total";
/// Requests refused by a limit, by `kind` (rpm, tpm, budget…).
pub const LIMIT_REFUSALS: &str = "keyway_limit_refusals_total";
/// Requests served without limits because the counters were unreachable.
pub const LIMIT_FAIL_OPEN: &str = "keyway_limit_fail_open_total";
/// KMS calls by `op` and `result`, and data-key cache lookups by `result`
/// (hit, miss): recorded by `keyway-crypto`, which names them.
pub use keyway_crypto::{DEK_CACHE, KMS_CALLS};

/// Buckets in seconds: fine below a millisecond (gateway overhead), coarse
/// up to minutes (long generations).
pub const BUCKETS: [f64; 18] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0, 30.0, 120.0,
];

/// The label shown for tenants beyond the bound.
pub const OTHER_TENANTS: &str = "other";

/// The first `max` tenants seen get a label of their own; later ones share
/// [`OTHER_TENANTS`], so a platform with many tenants cannot blow up the
/// series count (`KEYWAY_METRICS_MAX_TENANTS`, default 100; 0 labels none).
pub struct TenantLabels {
    max: usize,
    seen: RwLock<HashSet<Arc<str>>>,
}

impl TenantLabels {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            seen: RwLock::new(HashSet::new()),
        }
    }

    pub fn label(&self, tenant: &str) -> Arc<str> {
        if let Some(known) = self
            .seen
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
        {
            return known.clone();
        }
        let mut seen = self
            .seen
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= self.max {
            return Arc::from(OTHER_TENANTS);
        }
        let label: Arc<str> = Arc::from(tenant);
        seen.insert(label.clone());
        label
    }
}

/// Metric handles by label set, each registered once. `metrics::counter!`
/// with labels builds its key (allocating each label) and finds it in the
/// recorder's registry by hashing and comparing every label, on every call:
/// about 1,000 instructions for a four-label counter, several times a
/// request (`bench/instructions.sh`). A handle found here is an `Arc`
/// clone. The label sets must be bounded, as the series they name are; a
/// handle registered before the recorder is installed stays a no-op, so
/// only record through one once serving has started.
pub struct Handles<K, V> {
    registered: RwLock<foldhash::HashMap<K, V>>,
}

impl<K, V> Default for Handles<K, V> {
    fn default() -> Self {
        Self {
            registered: RwLock::new(foldhash::HashMap::default()),
        }
    }
}

impl<K: Hash + Eq, V: Clone> Handles<K, V> {
    /// The handle for `labels`; `register` makes its key and handle the
    /// first time.
    pub fn get<Q>(&self, labels: &Q, register: impl FnOnce() -> (K, V)) -> V
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let known = self
            .registered
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(labels)
            .cloned();
        known.unwrap_or_else(|| {
            let (key, handle) = register();
            self.registered
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(key)
                .or_insert(handle)
                .clone()
        })
    }
}

/// An HTTP method as a label: the standard ones by name, any other as
/// `other`, so a client cannot add a series with each method it invents.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// What the gateway learns about one request while it handles it, for the
/// HTTP front's metrics and the `x-keyway-overhead-us` header. It lives in
/// a task-local scope the front opens around the handler.
#[derive(Default, Clone)]
pub struct RequestTimings {
    pub model: Option<Arc<str>>,
    /// Time spent waiting for upstream response heads (retries add up).
    pub upstream_wait: Duration,
    pub upstream_sent: Option<Instant>,
}

tokio::task_local! {
    static TIMINGS: RefCell<RequestTimings>;
}

/// `handler` run in a fresh [`RequestTimings`] scope: a nameable future,
/// so that the front's measuring service needs no box. What was recorded is
/// read with [`TaskLocalFuture::take_value`] once it is ready.
pub fn timed<F: std::future::Future>(handler: F) -> TaskLocalFuture<RefCell<RequestTimings>, F> {
    TIMINGS.scope(RefCell::new(RequestTimings::default()), handler)
}

/// Updates the current request's timings; a no-op outside a scope.
pub fn note(update: impl FnOnce(&mut RequestTimings)) {
    let _ = TIMINGS.try_with(|t| update(&mut t.borrow_mut()));
}

/// The current request's timings so far; `None` outside a scope.
pub fn current() -> Option<RequestTimings> {
    TIMINGS.try_with(|t| t.borrow().clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_beyond_the_bound_share_one_label() {
        let labels = TenantLabels::new(2);
        assert_eq!(&*labels.label("a"), "a");
        assert_eq!(&*labels.label("b"), "b");
        assert_eq!(&*labels.label("c"), OTHER_TENANTS);
        assert_eq!(&*labels.label("a"), "a");
        assert_eq!(&*TenantLabels::new(0).label("a"), OTHER_TENANTS);
    }

    #[test]
    fn a_handle_is_registered_once_per_label_set() {
        let handles: Handles<String, usize> = Handles::default();
        let registered = &std::cell::Cell::new(0);
        let register = |n: usize| {
            move || {
                registered.set(registered.get() + 1);
                (format!("k{n}"), n)
            }
        };
        assert_eq!(handles.get("k1", register(1)), 1);
        assert_eq!(
            handles.get("k1", register(9)),
            1,
            "known: kept, not registered again"
        );
        assert_eq!(handles.get("k2", register(2)), 2);
        assert_eq!(registered.get(), 2);
    }

    #[test]
    fn invented_methods_share_one_label() {
        assert_eq!(method_label(&axum::http::Method::POST), "POST");
        let invented = axum::http::Method::from_bytes(b"BREW").unwrap_or_default();
        assert_eq!(method_label(&invented), "other");
    }

    #[tokio::test]
    async fn timings_noted_inside_the_scope_come_back_and_outside_are_ignored() {
        note(|t| t.upstream_wait = Duration::from_secs(9));
        let mut handler = std::pin::pin!(timed(async {
            note(|t| {
                t.model = Some("m".into());
                t.upstream_wait += Duration::from_millis(5);
            });
        }));
        handler.as_mut().await;
        let timings = handler.take_value().map(RefCell::into_inner).unwrap_or_default();
        assert_eq!(timings.model.as_deref(), Some("m"));
        assert_eq!(timings.upstream_wait, Duration::from_millis(5));
    }
}
