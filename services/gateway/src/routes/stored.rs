//! The routes on a stored response: found by id among the responses the
//! caller's tenant created, then sent to that model's upstream with a key
//! of the source that created it. Anything else (another tenant's id, an
//! unknown or expired one, another user's when the key was the user's own)
//! is the same 404. Each is recorded as a request with no tokens.

use axum::http::{HeaderMap, Method};
use axum::response::Response;
use bytes::Bytes;
use keyway_auth::Caller;

use super::llm_handle::respond;
use crate::proxy::upstream_url;
use crate::{
    Gateway,
    catalog::Model,
    error::GatewayError,
    proxy::{self, UpstreamCall},
    responses::Owner,
    usage::{
        meter::Meter,
        tap::{Format, Tap},
    },
};

/// One call on a stored response.
pub(crate) struct On<'a> {
    pub(crate) id: &'a str,
    pub(crate) method: Method,
    /// The path after the id (`input_items`, `cancel`).
    pub(crate) suffix: Option<&'a str>,
    pub(crate) query: Option<&'a str>,
    /// The route template recorded in the usage event.
    pub(crate) route: &'static str,
}

pub(crate) async fn reach(
    gw: &Gateway,
    caller: &Caller,
    headers: &HeaderMap,
    on: On<'_>,
) -> Result<Response, GatewayError> {
    let request_id = headers
        .get(&crate::proxy::X_REQUEST_ID)
        .and_then(|v| v.to_str().ok());
    let mut meter = gw
        .usage
        .clone()
        .map(|sink| Meter::start(sink, caller, on.route, request_id).without_tokens());
    match call(gw, caller, headers, &on, &mut meter).await {
        Ok(upstream) => {
            if let Some(meter) = meter {
                meter.finish_without_tokens(upstream.status().as_u16(), "");
            }
            Ok(respond(
                upstream,
                Tap::new(Format::OpenAiJson, gw.sse_max_event_bytes),
                None,
                None,
            ))
        }
        Err(e) => {
            if let Some(meter) = meter {
                meter.fail(e.status().as_u16(), e.code());
            }
            Err(e)
        }
    }
}

async fn call(
    gw: &Gateway,
    caller: &Caller,
    headers: &HeaderMap,
    on: &On<'_>,
    meter: &mut Option<Meter>,
) -> Result<reqwest::Response, GatewayError> {
    let (owner, model) = find(gw, caller, on.id).await?;
    if let Some(meter) = meter.as_mut() {
        meter.requested(&model.name, false, Bytes::new());
        meter.resolved(model, owner.key_source);
    }
    let key = gw
        .credentials
        .key_from(caller, model, owner.key_source)
        .await?
        .ok_or_else(|| GatewayError::KeyRequired {
            model: model.name.clone(),
            provider: model.provider.clone(),
            tried: owner.key_source.as_str().to_owned(),
        })?;
    let mut url = upstream_url(model, key.base_url.as_deref(), "/responses")?;
    url.path_segments_mut()
        .map_err(|()| GatewayError::UpstreamFailed("the upstream URL cannot hold a path".into()))?
        .push(on.id)
        .extend(on.suffix);
    url.set_query(on.query);
    let call = UpstreamCall {
        model,
        // A stored response lives with the first deployment (see docs/routing.md).
        deployment: &model.deployments[0],
        url,
        body: Bytes::new(),
        key: key.secret.as_str(),
        inbound: headers,
    };
    proxy::forward_with(&gw.client, gw.upstream_timeout, on.method.clone(), call).await
}

/// The owner and model of a response the caller may reach, else 404.
async fn find<'g>(gw: &'g Gateway, caller: &Caller, id: &str) -> Result<(Owner, &'g Model), GatewayError> {
    let not_found = || GatewayError::ResponseNotFound(id.to_owned());
    let owners = gw.response_owners.as_ref().ok_or_else(not_found)?;
    let owner = owners.owner(id).await.map_err(|e| {
        tracing::warn!(error = %e, "cannot look up a response's owner");
        GatewayError::UpstreamFailed("the response's owner cannot be looked up right now".into())
    })?;
    let owner = owner
        .filter(|o| o.tenant_id == caller.tenant_id)
        .filter(|o| o.user_id.is_none() || o.user_id == caller.user_id)
        .ok_or_else(not_found)?;
    let model = gw
        .catalog
        .get(&owner.model)
        .filter(|m| caller.may_use_model(&m.name))
        .ok_or_else(not_found)?;
    Ok((owner, model))
}
