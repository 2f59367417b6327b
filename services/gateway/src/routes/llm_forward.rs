//! From a parsed request to an upstream answer: the model, its translation,
//! its keys, then the router's attempts on its deployments and, when none
//! can serve, on its fallback models in order (`docs/routing.md`).

use axum::{
    extract::rejection::BytesRejection,
    http::{HeaderMap, StatusCode},
};
use bytes::Bytes;
use keyway_auth::Caller;
use serde_json::{Value, json};

use crate::{
    Gateway,
    catalog::{Endpoint, KeySource, Model},
    cost,
    error::GatewayError,
    limits::{Demand, Limiter, Reservation, demand},
    request::{self, LlmRequest},
    responses::Owner,
    routing::{self, InFlight, Outcome, Prepared},
    translate,
    usage::{estimate, meter::Meter, tap::Format},
};

pub(super) type Forwarded = (
    reqwest::Response,
    Format,
    Served,
    Option<translate::Reply>,
    InFlight,
);

pub(super) async fn forward(
    gw: &Gateway,
    caller: &Caller,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
    meter: &mut Option<Meter>,
) -> Result<Forwarded, GatewayError> {
    let request = request::parse(body, endpoint, gw.max_body_bytes, |m| translated(gw, m, endpoint))?;
    let model = gw
        .catalog
        .get(&request.model)
        .filter(|m| caller.may_use_model(&m.name))
        .ok_or_else(|| GatewayError::ModelNotFound(request.model.clone()))?;
    // An untouched copy only when a fallback may need its own translation.
    let spare = (!model.routing.fallbacks.is_empty()).then(|| request.clone());
    let streamed = request.stream;
    let (prepared, format, reply, output) = prepare(gw, caller, endpoint, model, request).await?;
    if let Some(meter) = meter.as_mut() {
        meter.requested(&model.name, streamed, prepared.body.clone());
        meter.resolved(model, prepared.ring.source);
        meter.wires(translate::client_wire(endpoint), model.wire);
    }
    refuse_if_counted_here(model, endpoint)?;
    let reservation = reserve(gw, caller, model, endpoint, prepared.prompt_bytes, output).await;
    match (reservation, meter.as_mut()) {
        (Err(refused), _) => return Err(refused),
        (Ok(Some(reservation)), Some(meter)) => meter.reserved(reservation),
        // Without a meter nothing settles: the reservation stays charged.
        (Ok(_), _) => {}
    }
    tracing::debug!(model = %model.name, stream = streamed, key_source = ?prepared.ring.source, "forwarding upstream");
    let mut attempts = 0;
    let mut last = match routing::attempt(gw, headers, &prepared, &mut attempts).await {
        Outcome::Served(s) => {
            return Ok(served(
                meter, &prepared, s, None, attempts, format, reply, endpoint,
            ));
        }
        Outcome::Refused(e) => return Err(e),
        Outcome::Exhausted(last) => last,
    };
    for name in &model.routing.fallbacks {
        let Some(fallback) = gw.catalog.get(name).filter(|m| caller.may_use_model(&m.name)) else {
            continue;
        };
        let Some(request) = spare.clone() else { break };
        // Its own key sources and translation apply; a fallback it cannot
        // serve (no key of its sources, a route it lacks) is skipped.
        let Ok((prepared, format, reply, _)) = prepare(gw, caller, endpoint, fallback, request).await else {
            continue;
        };
        tracing::debug!(model = %model.name, fallback = %fallback.name, "falling back");
        match routing::attempt(gw, headers, &prepared, &mut attempts).await {
            Outcome::Served(s) => {
                return Ok(served(
                    meter,
                    &prepared,
                    s,
                    Some(model),
                    attempts,
                    format,
                    reply,
                    endpoint,
                ));
            }
            Outcome::Refused(e) => return Err(e),
            Outcome::Exhausted(failure) => last = failure.or(last),
        }
    }
    if let Some(meter) = meter.as_mut() {
        meter.attempts(attempts);
    }
    Err(last.unwrap_or_else(|| GatewayError::UpstreamRefused {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "no deployment of the model can serve now: each is cooling down or at its rpm/tpm limit"
            .into(),
        retry_after: None,
    }))
}

/// Whether requests for the model `name` on `endpoint` are translated.
fn translated(gw: &Gateway, name: &str, endpoint: Endpoint) -> bool {
    let model = gw.catalog.get(name);
    model.is_some_and(|m| matches!(route_for(m, endpoint), Ok(Some(_))))
}

/// Records where the answer came from; a fallback's own price applies.
#[expect(
    clippy::too_many_arguments,
    reason = "one call site, each argument a different piece of the answer"
)]
fn served(
    meter: &mut Option<Meter>,
    prepared: &Prepared<'_>,
    s: routing::Served,
    fallback_from: Option<&Model>,
    attempts: u32,
    format: Format,
    reply: Option<translate::Reply>,
    endpoint: Endpoint,
) -> Forwarded {
    let model = prepared.model;
    let deployment = &model.deployments[s.deployment];
    if let Some(meter) = meter.as_mut() {
        if fallback_from.is_some() {
            meter.resolved(model, s.source);
            meter.wires(translate::client_wire(endpoint), model.wire);
        }
        meter.routed(deployment, attempts, fallback_from.map(|_| model.name.as_str()));
    }
    let owner = Served {
        model: model.name.clone(),
        source: s.source,
    };
    (s.upstream, format, owner, reply, s.in_flight)
}

/// Translates, finds the keys and encodes the body for one model.
async fn prepare<'g>(
    gw: &'g Gateway,
    caller: &Caller,
    endpoint: Endpoint,
    model: &'g Model,
    mut request: LlmRequest,
) -> Result<(Prepared<'g>, Format, Option<translate::Reply>, Option<u64>), GatewayError> {
    let reply = prepare_translation(model, endpoint, &mut request)?;
    let ring = gw.credentials.ring(caller, model).await?;
    let output = demand::clamp_output(&mut request.body, model.max_output_tokens);
    let (upstream_endpoint, format) = tap_format(model, endpoint, &mut request, reply.is_some());
    request
        .body
        .insert("model".into(), Value::String(model.upstream_model.clone()));
    let body = match reply {
        // Translated: a new body throughout.
        Some(_) => serde_json::to_vec(&request.body),
        // Else only these members can differ from what the client sent.
        None => {
            let changed = CHANGED.map(|name| (name, request.body.get(name)));
            request.spliced(&changed)
        }
    }
    .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    // An edit outside `CHANGED` would be lost: every debug run (the e2e
    // suite) checks that the members copied as sent are still as parsed.
    debug_assert!(reply.is_some() || copied_as_parsed(&body, &request.body));
    // A deliberate over-estimate for `tpm`: four bytes a token, plus the
    // answer's `max_tokens`.
    let tokens = (body.len() as u64 / 4).saturating_add(output.unwrap_or(0));
    // The prompt's text, only for a caller whose limits count tokens or spend.
    let wanted = gw.limiter.is_some() && Limiter::needs_estimate(caller);
    let prompt_bytes = match (wanted, request.sent_text_len()) {
        (false, _) => 0,
        (true, Some(sent)) => sent,
        (true, None) => estimate::request_text_len(&Value::Object(request.body)),
    };
    let prepared = Prepared {
        model,
        ring,
        body: Bytes::from(body),
        prompt_bytes,
        path: upstream_endpoint.upstream_path(),
        tokens,
    };
    Ok((prepared, format, reply, output))
}

/// The members `prepare` may change in a request it does not translate:
/// the model, the output caps (`demand::clamp_output`) and the stream's
/// usage option (`ask_for_stream_usage`).
const CHANGED: [&str; 5] = [
    "model",
    demand::OUTPUT_FIELDS[0],
    demand::OUTPUT_FIELDS[1],
    demand::OUTPUT_FIELDS[2],
    "stream_options",
];

/// Whether `sent` has every member of `parsed` outside `CHANGED`, equal.
fn copied_as_parsed(sent: &[u8], parsed: &serde_json::Map<String, Value>) -> bool {
    let Ok(sent) = serde_json::from_slice::<serde_json::Map<String, Value>>(sent) else {
        return false;
    };
    parsed
        .iter()
        .filter(|(name, _)| !CHANGED.contains(&name.as_str()))
        .all(|(name, value)| sent.get(name) == Some(value))
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
            request.whole()?;
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
/// translated (between the two chat routes, or the Responses API bridged
/// onto a model without one), else `Err` with the route that serves it.
/// The token counts serve their family's models as they are.
fn route_for(model: &Model, endpoint: Endpoint) -> Result<Option<translate::Bridge>, &'static str> {
    match endpoint {
        Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::Embeddings => {
            translate::bridge(model, endpoint)
        }
        Endpoint::Responses => translate::responses_bridge(model),
        // Counted, never translated: see `refuse_if_counted_here`.
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
fn refuse_if_counted_here(model: &Model, endpoint: Endpoint) -> Result<(), GatewayError> {
    if endpoint == Endpoint::ResponsesInputTokens && matches!(translate::responses_bridge(model), Ok(Some(_)))
    {
        return Err(GatewayError::UpstreamRefused {
            status: StatusCode::NOT_FOUND,
            message: "the upstream has no Responses API".into(),
            retry_after: None,
        });
    }
    Ok(())
}

/// Which model and key source served a request.
pub(crate) struct Served {
    pub(super) model: String,
    pub(super) source: KeySource,
}

impl Served {
    pub(super) fn owner(self, caller: &Caller) -> Owner {
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
    prompt_bytes: usize,
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
