//! The attempts of one request on one model: pick a deployment, call it,
//! and on a failure `retry.on` names, record it and try again (another
//! deployment first), up to `retry.attempts`. Only the head of the answer
//! is awaited here, so a retry never follows a byte sent to the client.

use axum::http::HeaderMap;
use bytes::Bytes;
use serde_json::Value;

use super::{Ask, InFlight, Tried, now_ms, pick};
use crate::{
    Gateway,
    catalog::{Deployment, KeySource, Model},
    credentials::KeyRing,
    error::GatewayError,
    proxy::upstream_url_of,
    proxy::{self, Failure, UpstreamCall},
};

/// A request made ready for one model: translated, its body encoded.
pub(crate) struct Prepared<'a> {
    pub model: &'a Model,
    pub ring: KeyRing,
    pub body: Bytes,
    /// The length of the prompt's text, which the limits' estimate reads
    /// (0 when the caller's limits count neither tokens nor spend).
    pub prompt_bytes: usize,
    /// The route called upstream.
    pub path: &'static str,
    /// Estimated tokens, counted against a deployment's `tpm`.
    pub tokens: u64,
}

/// An answer whose head was 2xx, with where it came from.
pub(crate) struct Served {
    pub upstream: reqwest::Response,
    pub deployment: usize,
    pub source: KeySource,
    /// Held until the body ends.
    pub in_flight: InFlight,
}

pub(crate) enum Outcome {
    Served(Served),
    /// No deployment could serve (all cooling down, over their limits or
    /// failed): fallbacks come next. The last failure, if any was tried.
    Exhausted(Option<GatewayError>),
    /// A failure not to retry (an upstream 4xx, or a kind `retry.on` omits).
    Refused(GatewayError),
}

pub(crate) async fn attempt(
    gw: &Gateway,
    headers: &HeaderMap,
    p: &Prepared<'_>,
    attempts: &mut u32,
) -> Outcome {
    let model = p.model;
    let routing = &model.routing;
    let has_key = |d: &Deployment| p.ring.covers(&gw.credentials, model, d);
    let (mut tried, mut last) = (Tried::default(), None);
    // With one deployment and no fallback there is nothing to route
    // around: it never cools down, and each request reaches it as before
    // routing existed (an upstream 429 passes through to the caller).
    let routed = model.deployments.len() > 1 || !routing.fallbacks.is_empty();
    for _ in 0..routing.attempts {
        let now = now_ms();
        // Built and dropped before the await: `Ask` borrows a closure.
        let ask = &Ask {
            now,
            tokens: p.tokens,
            tried,
            has_key: &has_key,
        };
        let Some(index) = pick(model, ask) else { break };
        let d = &model.deployments[index];
        tried.add(index);
        let Some(key) = p.ring.key_for(&gw.credentials, model, d) else {
            break;
        };
        if d.rpm.is_some() || d.tpm.is_some() {
            d.health.count(now, p.tokens);
        }
        let (url, body) = match upstream_url_of(d, model, key.base_url.as_deref(), p.path)
            .and_then(|url| Ok((url, body_for(p, d)?)))
        {
            Ok(call) => call,
            Err(e) => return Outcome::Refused(e),
        };
        let client = match key.base_url {
            Some(_) => &gw.custom_client,
            None => &gw.client,
        };
        let in_flight = d.health.enter();
        *attempts += 1;
        let call = UpstreamCall {
            model,
            deployment: d,
            url,
            body,
            key: key.secret.as_str(),
            inbound: headers,
        };
        match proxy::forward_attempt(client, gw.upstream_timeout, call).await {
            Ok(upstream) => {
                d.health.succeeded();
                return Outcome::Served(Served {
                    upstream,
                    deployment: index,
                    source: p.ring.source,
                    in_flight,
                });
            }
            Err(failure) => {
                drop(in_flight);
                match failed(model, d, failure, routed) {
                    Ok(retryable) => last = Some(retryable),
                    Err(refused) => return Outcome::Refused(refused),
                }
            }
        }
    }
    Outcome::Exhausted(last)
}

/// Counts a failure against the deployment (when the model is routed);
/// `Ok` with the error when `retry.on` retries its kind.
fn failed(
    model: &Model,
    d: &Deployment,
    failure: Failure,
    routed: bool,
) -> Result<GatewayError, GatewayError> {
    let routing = &model.routing;
    let Some(kind) = failure.kind else {
        return Err(failure.error);
    };
    if routed {
        d.health.failed(
            now_ms(),
            routing.cooldown_failures,
            routing.cooldown,
            failure.retry_after,
        );
    }
    tracing::debug!(model = %model.name, deployment = %d.name, ?kind, "upstream attempt failed");
    if routing.retries_on(kind) {
        Ok(failure.error)
    } else {
        Err(failure.error)
    }
}

/// The prepared body, or one naming the deployment's own upstream model.
fn body_for(p: &Prepared<'_>, d: &Deployment) -> Result<Bytes, GatewayError> {
    if d.upstream_model == p.model.upstream_model {
        return Ok(p.body.clone());
    }
    let model = Value::String(d.upstream_model.clone());
    crate::splice::splice(&p.body, &[("model", Some(&model))])
        .map(Bytes::from)
        .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))
}
