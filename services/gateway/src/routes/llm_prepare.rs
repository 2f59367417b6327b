//! A parsed request made ready for one model: checked against the model's
//! routes, translated where its wire differs, its output capped, and its
//! body encoded as the upstream will get it; then, for `Prepared`, the
//! keys of the model's key source (`Credentials::ring`).

use bytes::Bytes;
use keyway_auth::Caller;
use serde_json::{Value, json};

use crate::{
    Gateway,
    catalog::{Endpoint, Model},
    credentials::KeyRing,
    error::GatewayError,
    limits::demand,
    request::{self, LlmRequest},
    routing::Prepared,
    splice, translate,
    usage::tap::Format,
};

/// Translates, finds the keys and encodes the body for one model.
pub(super) async fn prepare<'g>(
    gw: &'g Gateway,
    caller: &Caller,
    endpoint: Endpoint,
    model: &'g Model,
    request: LlmRequest,
) -> Result<(Prepared<'g>, Format, Option<translate::Reply>, Option<u64>), GatewayError> {
    let (draft, format, reply, output) = draft(model, endpoint, request)?;
    Ok((
        draft.keyed(gw.credentials.ring(caller, model).await?),
        format,
        reply,
        output,
    ))
}

/// A request prepared for one model but its keys.
pub(super) struct Draft<'g> {
    pub(super) model: &'g Model,
    body: Bytes,
    /// The upstream body as JSON, which the limits' estimate reads.
    pub(super) json: Value,
    path: &'static str,
    tokens: u64,
}

impl<'g> Draft<'g> {
    pub(super) fn keyed(self, ring: KeyRing) -> Prepared<'g> {
        let Draft {
            model,
            body,
            path,
            tokens,
            ..
        } = self;
        Prepared {
            model,
            ring,
            body,
            path,
            tokens,
        }
    }
}

/// Translates and encodes the body for one model.
pub(super) fn draft(
    model: &Model,
    endpoint: Endpoint,
    mut request: LlmRequest,
) -> Result<(Draft<'_>, Format, Option<translate::Reply>, Option<u64>), GatewayError> {
    let reply = prepare_translation(model, endpoint, &mut request)?;
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
            splice::splice(&request.raw, &changed)
        }
    }
    .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    // An edit outside `CHANGED` would be lost: every debug run (the e2e
    // suite) checks that the members copied as sent are still as parsed.
    debug_assert!(reply.is_some() || copied_as_parsed(&body, &request.body));
    // A deliberate over-estimate for `tpm`: four bytes a token, plus the
    // answer's `max_tokens`.
    let tokens = (body.len() as u64 / 4).saturating_add(output.unwrap_or(0));
    let draft = Draft {
        model,
        body: Bytes::from(body),
        json: Value::Object(request.body),
        path: upstream_endpoint.upstream_path(),
        tokens,
    };
    Ok((draft, format, reply, output))
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
