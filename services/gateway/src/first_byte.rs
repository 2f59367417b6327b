//! The upstream's answer body as the gateway reads it: it times a streamed
//! answer's first bytes from the upstream (the time to first token a client
//! of this gateway sees, minus what Keyway adds), and holds the request in
//! flight on its deployment until the body is dropped.
//!
//! One wrapper for both, and named types all the way to the client's body
//! (`MeteredBody<FirstByte<…>>`), because every layer is polled for every
//! chunk: a boxed stream and a `map` for the in-flight guard cost about
//! 1,500–2,000 instructions a stream, 0.5–0.7% (`bench/instructions.sh`,
//! docs/benchmarks.md, "A twentieth machine").

use std::{
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{Context, Poll},
    time::Instant,
};

use futures::Stream;
use keyway_common::metrics as metric;

use crate::routing::InFlight;

/// Each catalog model's time-to-first-token histogram.
static TTFT: LazyLock<metric::Handles<Arc<str>, metrics::Histogram>> = LazyLock::new(Default::default);

pub(crate) struct FirstByte<S> {
    inner: S,
    /// Taken when the first item arrives.
    pending: Option<(Instant, Arc<str>)>,
    /// Only dropped with the body: the deployment counts the request in
    /// flight until then.
    _in_flight: Option<InFlight>,
}

impl<S> FirstByte<S> {
    /// Times `inner` when this request sent an upstream call (the handler's
    /// timings say when) and `streamed`; otherwise passes it through.
    pub(crate) fn new(inner: S, streamed: bool, in_flight: Option<InFlight>) -> Self {
        let pending = streamed
            .then(metric::current)
            .flatten()
            .and_then(|t| Some((t.upstream_sent?, t.model?)));
        Self {
            inner,
            pending,
            _in_flight: in_flight,
        }
    }
}

impl<S: Stream + Unpin> Stream for FirstByte<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let item = Pin::new(&mut self.inner).poll_next(cx);
        if item.is_ready()
            && let Some((sent, model)) = self.pending.take()
        {
            let ttft = TTFT.get(&*model, || {
                (
                    model.clone(),
                    metrics::histogram!(metric::UPSTREAM_TTFT, "model" => model.clone()),
                )
            });
            ttft.record(sent.elapsed().as_secs_f64());
        }
        item
    }
}
