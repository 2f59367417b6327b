//! The HTTP front's measurements of every request: count and latency by
//! route, status and model, and for LLM calls the gateway's own overhead —
//! the time to the response head minus the wait for the upstream's head —
//! also returned as `x-keyway-overhead-us` to a client that sends
//! `x-keyway-overhead: 1`.

use std::{
    sync::{Arc, LazyLock},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use keyway_common::metrics as metric;
use metrics::{Counter, Histogram};

const ASK: &str = "x-keyway-overhead";
const ANSWER: &str = "x-keyway-overhead-us";

pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route: Arc<str> = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".into(), |p| p.as_str().into());
    let method = metric::method_label(request.method());
    let asked = request.headers().contains_key(ASK);
    let (mut response, timings) = metric::with_timings(next.run(request)).await;
    let total = started.elapsed();
    let labels = Labels {
        route,
        method,
        status: response.status().as_u16(),
        model: timings.model.unwrap_or_else(|| "".into()),
    };
    let handles = HANDLES.get(&labels, || (labels.clone(), RequestHandles::register(&labels)));
    handles.requests.increment(1);
    handles.duration.record(total.as_secs_f64());
    if timings.upstream_sent.is_some() {
        let overhead = total.saturating_sub(timings.upstream_wait);
        handles.overhead.record(overhead.as_secs_f64());
        if asked {
            let micros = HeaderValue::from(u64::try_from(overhead.as_micros()).unwrap_or(u64::MAX));
            response.headers_mut().insert(ANSWER, micros);
        }
    }
    response
}

/// A request's labels: each is bounded (see `keyway_common::metrics`).
#[derive(Clone, PartialEq, Eq, Hash)]
struct Labels {
    route: Arc<str>,
    method: &'static str,
    status: u16,
    model: Arc<str>,
}

/// The series one request's measurements go to.
#[derive(Clone)]
struct RequestHandles {
    requests: Counter,
    duration: Histogram,
    overhead: Histogram,
}

impl RequestHandles {
    fn register(labels: &Labels) -> Self {
        let route = labels.route.clone();
        Self {
            requests: metrics::counter!(metric::HTTP_REQUESTS, "route" => route.clone(), "method" => labels.method, "status" => labels.status.to_string(), "model" => labels.model.clone()),
            duration: metrics::histogram!(metric::HTTP_DURATION, "route" => route.clone()),
            overhead: metrics::histogram!(metric::GATEWAY_OVERHEAD, "route" => route),
        }
    }
}

static HANDLES: LazyLock<metric::Handles<Labels, RequestHandles>> = LazyLock::new(Default::default);
