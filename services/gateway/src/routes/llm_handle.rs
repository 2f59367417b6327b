//! The shared path of the LLM routes: parse, find the model, resolve the
//! upstream key, forward, and meter — one usage event per request.

use axum::{
    body::Body,
    extract::rejection::BytesRejection,
    http::{HeaderMap, header},
    response::Response,
};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use keyway_auth::Caller;
use reqwest::Url;
use serde_json::{Value, json};

use super::{counted, llm_forward::forward};
use crate::{
    Gateway,
    catalog::{Deployment, Endpoint, KeySource, Model},
    coalesce::Coalesce,
    cost,
    error::GatewayError,
    first_byte::FirstByte,
    limits::{Demand, Limiter, Reservation, demand},
    responses::{self, Owner},
    routing::InFlight,
    translate::{self, TranslatedBody},
    usage::{
        estimate,
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
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok());
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

/// Which model and key source served a request.
pub(crate) struct Served {
    pub(super) model: String,
    pub(super) source: KeySource,
}

impl Served {
    fn owner(self, caller: &Caller) -> Owner {
        Owner {
            tenant_id: caller.tenant_id.clone(),
            user_id: (self.source == KeySource::User)
                .then(|| caller.user_id.clone())
                .flatten(),
            model: self.model,
            key_source: self.source,
        }
    }
}

/// The model's own pre-parsed URL when `path` is its route's, else `path`
/// under the model's base URL or a custom BYOK key's (checked when the key
/// was stored).
pub(crate) fn upstream_url(
    model: &Model,
    custom_base: Option<&str>,
    path: &str,
) -> Result<Url, GatewayError> {
    upstream_url_of(&model.deployments[0], model, custom_base, path)
}

/// As [`upstream_url`], under one deployment's base URL.
pub(crate) fn upstream_url_of(
    deployment: &Deployment,
    model: &Model,
    custom_base: Option<&str>,
    path: &str,
) -> Result<Url, GatewayError> {
    let own = Endpoint::serving(deployment.wire, model.mode).upstream_path();
    match custom_base {
        None if path == own => Ok(deployment.upstream_url.clone()),
        base => Url::parse(&format!("{}{path}", base.unwrap_or(&deployment.base_url))).map_err(|_| {
            GatewayError::UpstreamFailed("the provider key's base URL is not a valid URL".into())
        }),
    }
}

/// Reserves against the caller's rate limits and budgets, if it has any.
/// Tokens and cost are estimated only when a token or spend limit applies:
/// the prompt as a byte count over three — a deliberate over-estimate for
/// most text that costs nothing like running the tokenizer on the hot path
/// (settling corrects it) — and the answer by its `max_tokens` (`output`,
/// already lowered to the model's `max_output_tokens`).
pub(super) async fn reserve(
    gw: &Gateway,
    caller: &Caller,
    model: &Model,
    endpoint: Endpoint,
    request: &Value,
    output: Option<u64>,
) -> Result<Option<Reservation>, GatewayError> {
    let Some(limiter) = &gw.limiter else {
        return Ok(None);
    };
    if caller.limits.tenant.is_unlimited() && caller.limits.api_key.is_unlimited() {
        return Ok(None);
    }
    let demand = if Limiter::needs_estimate(caller) {
        let output = match endpoint {
            Endpoint::Embeddings | Endpoint::CountTokens | Endpoint::ResponsesInputTokens => 0,
            _ => output
                .unwrap_or(limiter.settings().default_output_reserve)
                .min(model.max_output_tokens),
        };
        let price = model.price.as_ref().map(cost::snapshot);
        let prompt_bytes = estimate::request_text(request).len();
        demand::demand(prompt_bytes, output, price.as_ref()).ok_or_else(|| {
            GatewayError::InvalidRequest(
                "The request is too large to count against its limits; lower `max_tokens` or the prompt."
                    .into(),
            )
        })?
    } else {
        Demand::default()
    };
    Ok(Some(limiter.reserve(caller, demand).await?))
}

/// OpenAI streams report usage only when asked; Keyway always asks, and
/// returns `true` when the client did not, so the extra chunk is removed.
pub(super) fn ask_for_stream_usage(body: &mut serde_json::Map<String, Value>) -> bool {
    let asked = body
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    if !asked {
        match body.get_mut("stream_options").and_then(Value::as_object_mut) {
            Some(options) => {
                options.insert("include_usage".into(), Value::Bool(true));
            }
            None => {
                body.insert("stream_options".into(), json!({"include_usage": true}));
            }
        }
    }
    !asked
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
    let bytes = upstream.bytes_stream();
    let stream: Raw = match in_flight {
        None => Box::pin(bytes),
        Some(guard) => Box::pin(bytes.map(move |chunk| {
            let _held = &guard;
            chunk
        })),
    };
    let stream = FirstByte::new(stream, streamed);
    let (metered, raw) = match meter {
        Some(meter) => (
            Some(MeteredBody::new(Box::pin(stream), tap, meter, status.as_u16())),
            None,
        ),
        None => (None, Some(stream)),
    };
    let body = match (metered, raw, reply) {
        (Some(metered), _, None) => Body::from_stream(Coalesce::new(metered)),
        (None, Some(raw), None) => Body::from_stream(Coalesce::new(raw)),
        (metered, raw, Some(reply)) => {
            response = response.header(header::CONTENT_TYPE, reply.content_type());
            if !reply.dropped.is_empty() {
                response = response.header(translate::DROPPED_HEADER, reply.dropped.join(", "));
            }
            let inner: Upstream = match (metered, raw) {
                (Some(metered), _) => Box::pin(metered),
                (None, raw) => Box::pin(
                    futures::stream::iter(raw)
                        .flatten()
                        .map_err(|e| std::io::Error::other(e.without_url())),
                ),
            };
            let translated = TranslatedBody::new(inner, reply);
            Body::from_stream(Coalesce::new(translated))
        }
        (None, None, None) => Body::empty(),
    };
    response
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

type Raw = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;
type Upstream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, std::io::Error>> + Send>>;
