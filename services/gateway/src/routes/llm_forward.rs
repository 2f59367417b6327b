//! From a parsed request to an upstream answer: the model, its translation,
//! its keys, then the router's attempts on its deployments and, when none
//! can serve, on its fallback models in order (`docs/routing.md`).

use axum::{
    extract::rejection::BytesRejection,
    http::{HeaderMap, StatusCode},
};
use bytes::Bytes;
use keyway_auth::Caller;
use serde_json::Value;

use super::llm_prepare::{Draft, draft, prepare};
use crate::{
    Gateway,
    catalog::{Endpoint, KeySource, Model},
    cost,
    error::GatewayError,
    limits::{Demand, Limiter, Reservation, demand},
    request,
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
    let request = request::parse(body, endpoint, gw.max_body_bytes)?;
    let model = gw
        .catalog
        .get(&request.model)
        .filter(|m| caller.may_use_model(&m.name))
        .ok_or_else(|| GatewayError::ModelNotFound(request.model.clone()))?;
    // An untouched copy only when a fallback may need its own translation.
    let spare = (!model.routing.fallbacks.is_empty()).then(|| request.clone());
    let streamed = request.stream;
    let drafted = draft(model, endpoint, request)?;
    let (prepared, format, reply) = key_and_reserve(gw, caller, endpoint, drafted, streamed, meter).await?;
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

/// Finds the request's keys and reserves against its limits, at once: for
/// a key idle past the caches, each waits on its store (Postgres, NATS KV).
/// A request refused for want of a key gives back what it reserved.
async fn key_and_reserve<'g>(
    gw: &Gateway,
    caller: &Caller,
    endpoint: Endpoint,
    (draft, format, reply, output): (Draft<'g>, Format, Option<translate::Reply>, Option<u64>),
    streamed: bool,
    meter: &mut Option<Meter>,
) -> Result<(Prepared<'g>, Format, Option<translate::Reply>), GatewayError> {
    let model = draft.model;
    let counted_here = refuse_if_counted_here(model, endpoint);
    let limits = async {
        match counted_here {
            Ok(()) => reserve(gw, caller, model, endpoint, &draft.json, output).await,
            Err(_) => Ok(None),
        }
    };
    let (ring, reservation) = tokio::join!(gw.credentials.ring(caller, model), limits);
    let prepared = match ring {
        Ok(ring) => draft.keyed(ring),
        Err(e) => {
            if let Ok(Some(reservation)) = reservation {
                reservation.release().await;
            }
            return Err(e);
        }
    };
    if let Some(meter) = meter.as_mut() {
        meter.requested(&model.name, streamed, prepared.body.clone());
        meter.resolved(model, prepared.ring.source);
        meter.wires(translate::client_wire(endpoint), model.wire);
    }
    counted_here?;
    // Without a meter nothing settles: the reservation stays charged.
    if let (Some(reservation), Some(meter)) = (reservation?, meter.as_mut()) {
        meter.reserved(reservation);
    }
    Ok((prepared, format, reply))
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
        let prompt_bytes = estimate::request_text_len(request);
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
