//! The HTTP front's measurements of every request: count and latency by
//! route, status and model, and for LLM calls the gateway's own overhead —
//! the time to the response head minus the wait for the upstream's head —
//! also returned as `x-keyway-overhead-us` to a client that sends
//! `x-keyway-overhead: 1`.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use keyway_common::metrics as metric;

const ASK: &str = "x-keyway-overhead";
const ANSWER: &str = "x-keyway-overhead-us";

pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route: Arc<str> = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched".into(), |p| p.as_str().into());
    let method = request.method().as_str().to_owned();
    let asked = request.headers().contains_key(ASK);
    let (mut response, timings) = metric::with_timings(next.run(request)).await;
    let total = started.elapsed();
    let status = response.status().as_u16().to_string();
    let model = timings.model.unwrap_or_else(|| "".into());
    metrics::counter!(metric::HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status, "model" => model)
        .increment(1);
    metrics::histogram!(metric::HTTP_DURATION, "route" => route.clone()).record(total.as_secs_f64());
    if timings.upstream_sent.is_some() {
        let overhead = total.saturating_sub(timings.upstream_wait);
        metrics::histogram!(metric::GATEWAY_OVERHEAD, "route" => route).record(overhead.as_secs_f64());
        if asked {
            let micros = HeaderValue::from(u64::try_from(overhead.as_micros()).unwrap_or(u64::MAX));
            response.headers_mut().insert(ANSWER, micros);
        }
    }
    response
}
