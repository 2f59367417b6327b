//! The shared path of the LLM routes: parse, find the model, resolve the
//! upstream key, forward, and meter — one usage event per request.

use std::sync::Arc;

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

use super::counted;
use crate::{
    Gateway,
    catalog::{Endpoint, KeySource, Model},
    coalesce::Coalesce,
    cost,
    error::GatewayError,
    first_byte::FirstByte,
    limits::{Demand, Limiter, Reservation, demand},
    proxy::{self, UpstreamCall},
    request,
    responses::{self, Owner},
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
        Ok((upstream, format, served, reply)) => {
            let upstream = match (endpoint, &gw.response_owners) {
                // A bridged response is not stored upstream: nothing to find later.
                (Endpoint::Responses, Some(owners)) if reply.is_none() => {
                    let owner = served.owner(caller);
                    responses::remember(owners, &owner, upstream, format == Format::ResponsesSse).await
                }
                _ => upstream,
            };
            Ok(respond(
                upstream,
                Tap::new(format, gw.sse_max_event_bytes),
                meter,
                reply,
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

async fn forward(
    gw: &Gateway,
    caller: &Caller,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
    meter: &mut Option<Meter>,
) -> Result<(reqwest::Response, Format, Served, Option<translate::Reply>), GatewayError> {
    let mut request = request::parse(body, endpoint, gw.max_body_bytes)?;
    let model = gw
        .catalog
        .get(&request.model)
        .filter(|m| caller.may_use_model(&m.name))
        .ok_or_else(|| GatewayError::ModelNotFound(request.model.clone()))?;
    let reply = prepare_translation(model, endpoint, &mut request)?;
    let credential = gw.credentials.resolve(caller, model).await?;
    let output = demand::clamp_output(&mut request.body, model.max_output_tokens);
    let (upstream_endpoint, format) = tap_format(model, endpoint, &mut request, reply.is_some());
    request
        .body
        .insert("model".into(), Value::String(model.upstream_model.clone()));
    let body = serde_json::to_vec(&request.body)
        .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    let request_json = Arc::new(Value::Object(request.body));
    if let Some(meter) = meter.as_mut() {
        meter.requested(&model.name, request.stream, request_json.clone());
        meter.resolved(model, credential.source);
        meter.wires(translate::client_wire(endpoint), model.wire);
    }
    if counted_here(model, endpoint) {
        return Err(GatewayError::UpstreamRefused {
            status: axum::http::StatusCode::NOT_FOUND,
            message: "the upstream has no Responses API".into(),
            retry_after: None,
        });
    }
    let reservation = reserve(gw, caller, model, endpoint, &request_json, output).await;
    match (reservation, meter.as_mut()) {
        (Err(refused), _) => return Err(refused),
        (Ok(Some(reservation)), Some(meter)) => meter.reserved(reservation),
        // Without a meter nothing settles: the reservation stays charged.
        (Ok(_), _) => {}
    }
    tracing::debug!(model = %model.name, stream = request.stream, key_source = ?credential.source, "forwarding upstream");
    let client = match credential.key.base_url {
        Some(_) => &gw.custom_client,
        None => &gw.client,
    };
    let upstream = proxy::forward(
        client,
        gw.upstream_timeout,
        UpstreamCall {
            model,
            url: upstream_url(
                model,
                credential.key.base_url.as_deref(),
                upstream_endpoint.upstream_path(),
            )?,
            body: Bytes::from(body),
            key: credential.key.secret.as_str(),
            inbound: headers,
        },
    )
    .await?;
    let served = Served {
        model: model.name.clone(),
        source: credential.source,
    };
    Ok((upstream, format, served, reply))
}

/// Checks `endpoint` serves `model`; when it does by translation, rewrites
/// the request for the upstream's wire and says how to answer.
fn prepare_translation(
    model: &Model,
    endpoint: Endpoint,
    request: &mut request::LlmRequest,
) -> Result<Option<translate::Reply>, GatewayError> {
    let bridge = route_for(model, endpoint).map_err(|route| GatewayError::WrongRoute {
        model: model.name.clone(),
        route,
    })?;
    bridge
        .map(|bridge| {
            translate::prepare(
                bridge,
                &mut request.body,
                request.stream,
                translate::Target::of(model),
            )
            .map_err(GatewayError::from)
        })
        .transpose()
}

/// The route called upstream and what the usage tap reads there: the
/// model's own route when translating, else the route called.
fn tap_format(
    model: &Model,
    endpoint: Endpoint,
    request: &mut request::LlmRequest,
    translated: bool,
) -> (Endpoint, Format) {
    let upstream = if translated {
        Endpoint::serving(model.wire, model.mode)
    } else {
        endpoint
    };
    let format = match (upstream, request.stream) {
        (Endpoint::Messages, true) => Format::AnthropicSse,
        (Endpoint::Messages, false) => Format::AnthropicJson,
        (Endpoint::Responses, true) => Format::ResponsesSse,
        (Endpoint::Responses, false) => Format::ResponsesJson,
        (_, true) => Format::OpenAiSse {
            // A translated stream's usage chunk feeds the translator.
            strip_usage_chunk: ask_for_stream_usage(&mut request.body) && !translated,
        },
        (_, false) => Format::OpenAiJson,
    };
    (upstream, format)
}

/// Where `endpoint` serves `model`: `Ok(None)` as it is, `Ok(Some(_))`
/// translated between the two chat routes, else `Err` with the route that
/// serves it. The Responses API and the token counts serve their family's
/// models as they are.
fn route_for(model: &Model, endpoint: Endpoint) -> Result<Option<translate::Bridge>, &'static str> {
    match endpoint {
        Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Embeddings => {
            translate::bridge(model, endpoint)
        }
        Endpoint::Responses => translate::responses_bridge(model),
        // Counted, never translated: see `counted_here`.
        Endpoint::ResponsesInputTokens => translate::responses_bridge(model).map(|_| None),
        other => {
            let own = Endpoint::serving(model.wire, model.mode);
            if own == other.family() {
                Ok(None)
            } else {
                Err(own.route())
            }
        }
    }
}

/// A Responses token count for a model served through the bridge: its
/// upstream has no such route, so the count is made here, as when an
/// upstream answers 404 (`counted::local`).
fn counted_here(model: &Model, endpoint: Endpoint) -> bool {
    endpoint == Endpoint::ResponsesInputTokens && matches!(translate::responses_bridge(model), Ok(Some(_)))
}

/// Which model and key source served a request.
pub(crate) struct Served {
    model: String,
    source: KeySource,
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
    let own = Endpoint::serving(model.wire, model.mode).upstream_path();
    match custom_base {
        None if path == own => Ok(model.upstream_url.clone()),
        base => Url::parse(&format!("{}{path}", base.unwrap_or(&model.base_url))).map_err(|_| {
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
async fn reserve(
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
fn ask_for_stream_usage(body: &mut serde_json::Map<String, Value>) -> bool {
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
    let stream = FirstByte::new(Box::pin(upstream.bytes_stream()), streamed);
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

type Upstream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Bytes, std::io::Error>> + Send>>;
