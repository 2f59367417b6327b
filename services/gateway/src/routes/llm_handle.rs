//! The shared path of the LLM routes: parse, find the model, resolve the
//! upstream key, forward, and meter — one usage event per request.

use axum::{
    body::Body,
    extract::rejection::BytesRejection,
    http::{HeaderMap, header},
    response::Response,
};
use bytes::Bytes;
use futures::TryStreamExt;
use keyway_auth::Caller;

use super::{counted, llm_forward::forward};
use crate::{
    Gateway,
    catalog::Endpoint,
    coalesce::Coalesce,
    error::GatewayError,
    first_byte::FirstByte,
    responses,
    routing::InFlight,
    translate::{self, TranslatedBody},
    usage::{
        meter::{Meter, MeteredBody},
        tap::{Format, Tap},
    },
};

pub(crate) async fn handle(
    gw: &Gateway,
    caller: &Caller,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
) -> Result<Response, GatewayError> {
    let request_id = headers
        .get(&crate::proxy::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok());
    let counting = counted::is_count(endpoint);
    let mut meter = gw.usage.clone().map(|sink| {
        let meter = Meter::start(sink, caller, endpoint.route(), request_id);
        if counting { meter.without_tokens() } else { meter }
    });
    let local_copy = counting.then(|| body.as_ref().ok().cloned()).flatten();
    match forward(gw, caller, headers, body, endpoint, &mut meter).await {
        Ok((upstream, format, served, reply, in_flight)) => {
            let upstream = match (endpoint, &gw.response_owners) {
                // A bridged response is not stored upstream: nothing to find later.
                (Endpoint::Responses, Some(owners)) if reply.is_none() => {
                    let owner = served.owner(caller);
                    responses::remember(owners, &owner, upstream, format == Format::ResponsesSse).await
                }
                _ => upstream,
            };
            Ok(respond_held(
                upstream,
                Tap::new(format, gw.sse_max_event_bytes),
                meter,
                reply,
                Some(in_flight),
            ))
        }
        Err(e) if counting && counted::upstream_lacks_route(&e) => {
            counted::local(endpoint, local_copy.as_deref(), meter)
        }
        Err(e) => {
            if let Some(meter) = meter {
                meter.fail(e.status().as_u16(), e.code());
            }
            Err(e)
        }
    }
}

pub(crate) fn respond(
    upstream: reqwest::Response,
    tap: Tap,
    meter: Option<Meter>,
    reply: Option<translate::Reply>,
) -> Response {
    respond_held(upstream, tap, meter, reply, None)
}

/// As [`respond`], counting the request in flight on its deployment until
/// the body ends or is dropped.
pub(crate) fn respond_held(
    upstream: reqwest::Response,
    tap: Tap,
    meter: Option<Meter>,
    reply: Option<translate::Reply>,
    in_flight: Option<InFlight>,
) -> Response {
    let status = upstream.status();
    let mut response = Response::builder().status(status);
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        // A translated answer gets its client's content type below.
        if reply.is_some() && name == header::CONTENT_TYPE {
            continue;
        }
        if let Some(v) = upstream.headers().get(&name) {
            response = response.header(name, v.clone());
        }
    }
    let streamed = upstream
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let stream = FirstByte::new(upstream.bytes_stream(), streamed, in_flight);
    let status = status.as_u16();
    let body = match (meter, reply) {
        (Some(meter), None) => Body::from_stream(Coalesce::new(MeteredBody::new(stream, tap, meter, status))),
        (None, None) => Body::from_stream(Coalesce::new(stream)),
        (meter, Some(reply)) => {
            response = response.header(header::CONTENT_TYPE, reply.content_type());
            if !reply.dropped.is_empty() {
                response = response.header(translate::DROPPED_HEADER, reply.dropped.join(", "));
            }
            let inner: Upstream = match meter {
                Some(meter) => Box::pin(MeteredBody::new(stream, tap, meter, status)),
                None => Box::pin(stream.map_err(|e| std::io::Error::other(e.without_url()))),
            };
            Body::from_stream(Coalesce::new(TranslatedBody::new(inner, reply)))
        }
    };
    response
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

type Upstream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, std::io::Error>> + Send>>;
