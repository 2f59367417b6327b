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
use keyway_auth::Caller;
use reqwest::Url;
use serde_json::{Value, json};

use crate::{
    Gateway,
    catalog::{Endpoint, Model},
    coalesce::Coalesce,
    cost,
    error::GatewayError,
    limits::{Demand, Limiter, Reservation, demand},
    proxy::{self, UpstreamCall},
    request,
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
    let mut meter = gw
        .usage
        .clone()
        .map(|sink| Meter::start(sink, caller, endpoint.route(), request_id));
    match forward(gw, caller, headers, body, endpoint, &mut meter).await {
        Ok((upstream, format)) => Ok(respond(upstream, Tap::new(format, gw.sse_max_event_bytes), meter)),
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
) -> Result<(reqwest::Response, Format), GatewayError> {
    let mut request = request::parse(body, endpoint, gw.max_body_bytes)?;
    let model = gw
        .catalog
        .get(&request.model)
        .filter(|m| caller.may_use_model(&m.name))
        .ok_or_else(|| GatewayError::ModelNotFound(request.model.clone()))?;
    if let Some(route) = served_on(model, endpoint) {
        return Err(GatewayError::WrongRoute {
            model: model.name.clone(),
            route,
        });
    }
    let credential = gw.credentials.resolve(caller, model).await?;
    let output = demand::clamp_output(&mut request.body, model.max_output_tokens);
    let format = match (endpoint, request.stream) {
        (Endpoint::Messages, true) => Format::AnthropicSse,
        (Endpoint::Messages, false) => Format::AnthropicJson,
        (_, true) => Format::OpenAiSse {
            strip_usage_chunk: ask_for_stream_usage(&mut request.body),
        },
        (_, false) => Format::OpenAiJson,
    };
    request
        .body
        .insert("model".into(), Value::String(model.upstream_model.clone()));
    let body = serde_json::to_vec(&request.body)
        .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    let request_json = Arc::new(Value::Object(request.body));
    if let Some(meter) = meter.as_mut() {
        meter.requested(&model.name, request.stream, request_json.clone());
        meter.resolved(model, credential.source);
    }
    let reservation = reserve(gw, caller, model, endpoint, &request_json, output).await;
    match (reservation, meter.as_mut()) {
        (Err(refused), _) => return Err(refused),
        (Ok(Some(reservation)), Some(meter)) => meter.reserved(reservation),
        // Without a meter nothing settles: the reservation stays charged.
        (Ok(_), _) => {}
    }
    tracing::debug!(model = %model.name, stream = request.stream, key_source = ?credential.source, "forwarding upstream");
    let upstream = proxy::forward(
        &gw.client,
        gw.upstream_timeout,
        UpstreamCall {
            model,
            url: upstream_url(model, credential.key.base_url.as_deref(), endpoint)?,
            body: Bytes::from(body),
            key: credential.key.secret.as_str(),
            inbound: headers,
        },
    )
    .await?;
    Ok((upstream, format))
}

/// The model's own pre-parsed URL, or the same path under a custom BYOK
/// key's base URL (checked when the key was stored).
fn upstream_url(model: &Model, custom_base: Option<&str>, endpoint: Endpoint) -> Result<Url, GatewayError> {
    match custom_base {
        None => Ok(model.upstream_url.clone()),
        Some(base) => Url::parse(&format!("{base}{}", endpoint.upstream_path())).map_err(|_| {
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
            Endpoint::Embeddings => 0,
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

fn respond(upstream: reqwest::Response, tap: Tap, meter: Option<Meter>) -> Response {
    let status = upstream.status();
    let mut response = Response::builder().status(status);
    for name in [header::CONTENT_TYPE, header::CACHE_CONTROL] {
        if let Some(v) = upstream.headers().get(&name) {
            response = response.header(name, v.clone());
        }
    }
    let body = match meter {
        Some(meter) => {
            let metered = MeteredBody::new(Box::pin(upstream.bytes_stream()), tap, meter, status.as_u16());
            Body::from_stream(Coalesce::new(metered))
        }
        None => Body::from_stream(Coalesce::new(Box::pin(upstream.bytes_stream()))),
    };
    response
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// `None` when the model is served on `endpoint`, else the route that serves it.
fn served_on(model: &Model, endpoint: Endpoint) -> Option<&'static str> {
    let right = Endpoint::serving(model.wire, model.mode);
    (right != endpoint).then(|| right.route())
}
