//! One usage event per authenticated request — success, refusal, upstream
//! error, or a client that hung up mid-stream. `MeteredBody` wraps the
//! response body: it taps usage as bytes pass and emits the event when the
//! stream ends, breaks, or is dropped.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures::Stream;
use keyway_auth::Caller;
use keyway_proto::v1::{KeySource as ProtoKeySource, PriceSnapshot, UsageEvent};

use super::{
    UsageSink, estimate,
    tap::{Reported, StreamCut, Tap},
};
use crate::{
    catalog::{Deployment, KeySource, Model, Wire},
    cost,
    limits::{Demand, Reservation},
};

pub(crate) struct Meter {
    sink: Arc<dyn UsageSink>,
    event: UsageEvent,
    price: Option<PriceSnapshot>,
    started: Instant,
    /// The upstream request body, kept as bytes (not its parsed tree, which
    /// is several times larger) for the rare estimate of its input tokens:
    /// an open stream holds it until it ends.
    request: Bytes,
    /// Settled against the real usage when the event is emitted.
    reservation: Option<Reservation>,
    /// A request that generates nothing (a token count, a stored
    /// response's lookup): recorded with no tokens, never estimated.
    no_tokens: bool,
    /// The request's span, current when the meter starts. The body is
    /// polled outside it (entering it on every poll cost about 3% of a
    /// stream), so what the meter reports at the end enters it again: its
    /// log lines, and the usage event's token counts and span in the trace.
    span: tracing::Span,
}

impl Meter {
    pub(crate) fn start(
        sink: Arc<dyn UsageSink>,
        caller: &Caller,
        route: &str,
        request_id: Option<&str>,
    ) -> Self {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let event = UsageEvent {
            event_id: uuid::Uuid::now_v7().to_string(),
            tenant_id: caller.tenant_id.clone(),
            user_id: caller.user_id.clone().unwrap_or_default(),
            api_key_id: caller.api_key_id.clone().unwrap_or_default(),
            route: route.to_owned(),
            occurred_at_unix_ms: now_ms,
            request_id: request_id.unwrap_or_default().to_owned(),
            ..Default::default()
        };
        Self {
            sink,
            event,
            price: None,
            started: Instant::now(),
            request: Bytes::new(),
            reservation: None,
            no_tokens: false,
            span: tracing::Span::current(),
        }
    }

    /// Marks the request as one that generates nothing (see `no_tokens`).
    pub(crate) fn without_tokens(mut self) -> Self {
        self.no_tokens = true;
        self
    }

    /// Records a request that generates nothing, with its final status.
    pub(crate) fn finish_without_tokens(self, status: u16, code: &str) {
        self.without_tokens()
            .emit(status, code, &Reported::default(), "", false);
    }

    /// The requested model name, known once the body is read.
    pub(crate) fn requested(&mut self, model: &str, streamed: bool, request: Bytes) {
        self.event.model = model.to_owned();
        self.event.streamed = streamed;
        self.request = request;
    }

    pub(crate) fn resolved(&mut self, model: &Model, source: KeySource) {
        self.event.provider = model.provider.clone();
        self.event.upstream_model = model.upstream_model.clone();
        self.event.key_source = match source {
            KeySource::User => ProtoKeySource::User,
            KeySource::Tenant => ProtoKeySource::Tenant,
            KeySource::System => ProtoKeySource::System,
        } as i32;
        self.price = model.price.as_ref().map(cost::snapshot);
    }

    /// Where the answer came from: the deployment (its provider and
    /// upstream model), the calls made, and the fallback model if one
    /// served (whose price [`Meter::resolved`] has set).
    pub(crate) fn routed(&mut self, deployment: &Deployment, attempts: u32, fallback: Option<&str>) {
        self.event.deployment = deployment.name.clone();
        self.event.provider = deployment.provider.clone();
        self.event.upstream_model = deployment.upstream_model.clone();
        self.event.attempts = attempts;
        self.event.fallback_model = fallback.unwrap_or_default().to_owned();
    }

    /// The upstream calls of a request that none of them served.
    pub(crate) fn attempts(&mut self, attempts: u32) {
        self.event.attempts = attempts;
    }

    /// The client's wire and the upstream's: they differ when translated.
    pub(crate) fn wires(&mut self, client: Wire, upstream: Wire) {
        self.event.client_wire = client.as_str().to_owned();
        self.event.upstream_wire = upstream.as_str().to_owned();
    }

    pub(crate) fn reserved(&mut self, reservation: Reservation) {
        self.reservation = Some(reservation);
    }

    /// A request refused or failed before any response body.
    pub(crate) fn fail(self, status: u16, code: &str) {
        self.emit(status, code, &Reported::default(), "", false);
    }

    fn emit(mut self, status: u16, code: &str, reported: &Reported, reply: &str, disconnected: bool) {
        let span = std::mem::replace(&mut self.span, tracing::Span::none());
        let _entered = span.enter();
        let succeeded = status < 400 && !self.no_tokens;
        let mut estimated = false;
        let input = match reported.input {
            Some(n) => n,
            None if succeeded => {
                estimated = true;
                serde_json::from_slice(&self.request)
                    .map_or(0, |r| estimate::count(&estimate::request_text(&r)))
            }
            None => 0,
        };
        let output = match reported.output {
            Some(n) => n,
            None if succeeded && !reply.is_empty() => {
                estimated = true;
                estimate::count(reply)
            }
            None => 0,
        };
        let tokens = details(input, output, reported);
        let e = &mut self.event;
        (e.input_tokens, e.output_tokens, e.cached_tokens) = (input, output, tokens.cached);
        (e.cache_write_tokens, e.cache_write_1h_tokens) = (tokens.cache_write, tokens.cache_write_1h);
        e.reasoning_tokens = reported.reasoning.unwrap_or(0).min(output);
        e.web_search_requests = reported.web_search_requests.unwrap_or(0);
        e.web_fetch_requests = reported.web_fetch_requests.unwrap_or(0);
        if let Some(price) = self.price.take() {
            // Only absurd reported usage overflows; charge the most, never a
            // wrapped (small or negative) cost.
            e.cost_micros = cost::cost_of(&price, &tokens).unwrap_or_else(|| {
                tracing::warn!(input, output, "reported usage costs more than can be counted");
                i64::MAX
            });
            e.currency = price.currency.clone();
            e.price = Some(price);
        }
        e.status = u32::from(status);
        e.error_code = code.to_owned();
        e.latency_ms = self.started.elapsed().as_millis() as u64;
        e.estimated = estimated;
        e.client_disconnected = disconnected;
        if let Some(reservation) = self.reservation.take() {
            reservation.settle(Demand {
                tokens: input.saturating_add(output),
                cost_micros: e.cost_micros.max(0) as u64,
            });
        }
        self.sink.record(std::mem::take(&mut self.event));
    }
}

/// The parts of `input` as reported, clamped so they never exceed it.
fn details(input: u64, output: u64, reported: &Reported) -> cost::Tokens {
    let cached = reported.cached.unwrap_or(0).min(input);
    let cache_write = reported.cache_write.unwrap_or(0).min(input - cached);
    cost::Tokens {
        input,
        cached,
        cache_write,
        cache_write_1h: reported.cache_write_1h.unwrap_or(0).min(cache_write),
        output,
    }
}

/// The upstream body on its way to the client, metered. `inner` is `None`
/// once the body has ended: dropping it at once lets go of the upstream
/// connection (and, with it, the request's place in flight).
pub(crate) struct MeteredBody<S> {
    inner: Option<S>,
    tap: Tap,
    meter: Option<Meter>,
    status: u16,
}

impl<S> MeteredBody<S> {
    pub(crate) fn new(inner: S, tap: Tap, meter: Meter, status: u16) -> Self {
        Self {
            inner: Some(inner),
            tap,
            meter: Some(meter),
            status,
        }
    }

    /// Runs `log` inside the request's span, while the meter holds it.
    fn in_span(&self, log: impl FnOnce()) {
        match &self.meter {
            Some(meter) => meter.span.in_scope(log),
            None => log(),
        }
    }

    fn finish(&mut self, status: u16, code: &str, disconnected: bool) {
        if let Some(meter) = self.meter.take() {
            // The text is only needed (and only parsed) for an estimate.
            let reply = if self.tap.reported.output.is_none() {
                self.tap.text().to_owned()
            } else {
                String::new()
            };
            meter.emit(status, code, &self.tap.reported, &reply, disconnected);
        }
    }

    /// Ends a stream whose upstream never framed an event within the cap:
    /// the upstream connection is dropped at once, the request is billed
    /// with what was seen (estimated, flagged by the error code), and the
    /// client's last chunk is the error event.
    fn cut(&mut self, cut: StreamCut) -> Bytes {
        self.in_span(|| {
            tracing::warn!(
                code = cut.code,
                "upstream stream event over KEYWAY_SSE_MAX_EVENT_BYTES or not JSON; stream ended"
            );
        });
        self.inner = None;
        let status = self.status;
        self.finish(status, cut.code, false);
        cut.error_frame
    }
}

impl<S> Stream for MeteredBody<S>
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Unpin,
{
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(inner) = self.inner.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(inner).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => match self.tap.feed(chunk) {
                    Ok(out) if out.is_empty() => {}
                    Ok(out) => return Poll::Ready(Some(Ok(out))),
                    Err(too_large) => return Poll::Ready(Some(Ok(self.cut(too_large)))),
                },
                Poll::Ready(Some(Err(e))) => {
                    self.inner = None;
                    let e = e.without_url();
                    let frame = self.tap.broken_off();
                    let code = keyway_common::codes::UP_FAILED;
                    self.in_span(|| match frame {
                        Some(_) => tracing::warn!(code, error = %e, "upstream broke off a stream; ended with an error event"),
                        None => tracing::warn!(code, error = %e, "upstream broke off an answer"),
                    });
                    self.finish(502, code, false);
                    return Poll::Ready(Some(match frame {
                        Some(frame) => Ok(frame),
                        None => Err(std::io::Error::other(e)),
                    }));
                }
                Poll::Ready(None) => {
                    self.inner = None;
                    let rest = self.tap.finish();
                    let status = self.status;
                    self.finish(status, "", false);
                    return Poll::Ready((!rest.is_empty()).then_some(Ok(rest)));
                }
            }
        }
    }
}

impl<S> Drop for MeteredBody<S> {
    /// Dropped before the end: the client went away mid-response.
    fn drop(&mut self) {
        let status = self.status;
        self.finish(status, "", true);
    }
}
