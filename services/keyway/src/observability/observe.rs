//! The HTTP front's watch on every request: its span and access log line
//! (`traced`), and its measurements — count and latency by route, status
//! and model, and for LLM calls the gateway's own overhead (the time to the
//! response head minus the wait for the upstream's head), also returned as
//! `x-keyway-overhead-us` to a client that sends `x-keyway-overhead: 1`.
//!
//! One service for both, so the handler's future is wrapped once: each
//! wrapper is polled on every poll of the handler (docs/benchmarks.md).

use std::{
    cell::RefCell,
    convert::Infallible,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll, ready},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    response::Response,
};
use keyway_common::metrics::{self as metric, RequestTimings};
use metrics::{Counter, Histogram};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::Service;
use tracing::Span;

use super::traced;

const ASK: &str = "x-keyway-overhead";
const ANSWER: &str = "x-keyway-overhead-us";

/// The layer: `ServiceBuilder::layer_fn(Observe::new)`.
///
/// A service of its own rather than `axum::middleware::from_fn`, which
/// clones the inner service and boxes three things on every request (its
/// future, the `Next` and the inner call's future); this one calls the
/// inner service in place and wraps its future (docs/benchmarks.md, "the
/// front's middleware as services").
#[derive(Clone)]
pub(crate) struct Observe<S> {
    inner: S,
}

impl<S> Observe<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Observed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let span = traced::request_span(&request);
        let arrival = Arrival {
            started: Instant::now(),
            route: request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched".into(), |p| p.as_str().into()),
            method: metric::method_label(request.method()),
            asked: request.headers().contains_key(ASK),
        };
        // The inner `call` only builds the handler's future, which notes
        // its timings when polled: inside the scope `timed` opens.
        let inner = span.in_scope(|| metric::timed(self.inner.call(request)));
        Observed {
            inner,
            span,
            arrival: Some(arrival),
        }
    }
}

/// What is known of a request when it arrives.
struct Arrival {
    started: Instant,
    route: Arc<str>,
    method: &'static str,
    asked: bool,
}

pin_project! {
    /// The inner service's future, polled inside the request's span; logs
    /// and measures the request when it is ready.
    pub(crate) struct Observed<F> {
        #[pin]
        inner: TaskLocalFuture<RefCell<RequestTimings>, F>,
        span: Span,
        arrival: Option<Arrival>,
    }
}

impl<F> Future for Observed<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = this.span.enter();
        let Ok(mut response) = ready!(this.inner.as_mut().poll(cx));
        let timings = this
            .inner
            .take_value()
            .map(RefCell::into_inner)
            .unwrap_or_default();
        if let Some(arrival) = this.arrival.take() {
            traced::finished(&response, arrival.started.elapsed());
            record(arrival, timings, &mut response);
        }
        Poll::Ready(Ok(response))
    }
}

fn record(arrival: Arrival, timings: RequestTimings, response: &mut Response) {
    let total = arrival.started.elapsed();
    let labels = Labels {
        route: arrival.route,
        method: arrival.method,
        status: response.status().as_u16(),
        model: timings.model.unwrap_or_else(|| "".into()),
    };
    let handles = HANDLES.get(&labels, || (labels.clone(), RequestHandles::register(&labels)));
    handles.requests.increment(1);
    handles.duration.record(total.as_secs_f64());
    if timings.upstream_sent.is_some() {
        let overhead = total.saturating_sub(timings.upstream_wait);
        handles.overhead.record(overhead.as_secs_f64());
        if arrival.asked {
            let micros = HeaderValue::from(u64::try_from(overhead.as_micros()).unwrap_or(u64::MAX));
            response.headers_mut().insert(ANSWER, micros);
        }
    }
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
