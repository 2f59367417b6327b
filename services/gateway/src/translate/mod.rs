//! Translation between the two client wires: an OpenAI chat completions
//! client served by an Anthropic-wire model, and an Anthropic messages
//! client served by an OpenAI-wire chat model. Same-wire requests never come
//! here: they pass through byte for byte but for `model`.
//!
//! Everything here is a pure function over JSON values (the request, the
//! JSON answer) or a transducer over SSE events (the stream), so each
//! mapping rule is unit-tested on its own; `body` plugs the transducers into
//! the response stream. What does not map is refused with a 400 naming the
//! parameter, or dropped and reported when the model says
//! `drop_unsupported: true` (see `unsupported`). `docs/translation.md`
//! lists every parameter and event.

mod body;
mod content;
mod req_to_anthropic;
mod req_to_openai;
mod resp_to_anthropic;
mod resp_to_openai;
mod responses;
mod stop;
mod stream_to_anthropic;
mod stream_to_openai;
mod unsupported;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub(crate) use body::TranslatedBody;
pub(crate) use unsupported::Unsupported;

use crate::catalog::{Endpoint, Mode, Model, ResponsesApi, Wire};

/// The `max_tokens` sent to an Anthropic model when an OpenAI client names
/// none (Anthropic requires one), lowered to the model's `max_output_tokens`.
pub(crate) const DEFAULT_ANTHROPIC_MAX_TOKENS: u64 = 4096;

/// The header that lists the parameters dropped under `drop_unsupported`.
pub(crate) const DROPPED_HEADER: &str = "x-keyway-dropped-params";

/// A request between two different wires: what the client speaks and what
/// the upstream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bridge {
    pub(crate) client: Wire,
    pub(crate) upstream: Wire,
    /// The client speaks the Responses API, bridged onto chat completions
    /// (then onto messages when the upstream is Anthropic's).
    pub(crate) responses: bool,
}

/// How `endpoint` serves `model`: `Ok(None)` on the model's own route (pass
/// through), `Ok(Some(bridge))` on the other chat route when the model is
/// served to that wire, else `Err` with the route that serves it.
pub(crate) fn bridge(model: &Model, endpoint: Endpoint) -> Result<Option<Bridge>, &'static str> {
    let own = Endpoint::serving(model.wire, model.mode);
    if own == endpoint {
        return Ok(None);
    }
    if endpoint == Endpoint::Embeddings {
        return Err(own.route());
    }
    let client = client_wire(endpoint);
    if model.mode != Mode::Chat || !model.client_wires.contains(&client) {
        return Err(own.route());
    }
    Ok(Some(Bridge {
        client,
        upstream: model.wire,
        responses: false,
    }))
}

/// The Responses API bridge for `model`, when it has no Responses API of
/// its own: `Ok(None)` to pass through, else `Err` with the route that
/// serves it.
pub(crate) fn responses_bridge(model: &Model) -> Result<Option<Bridge>, &'static str> {
    let own = Endpoint::serving(model.wire, model.mode);
    if model.mode != Mode::Chat || !model.client_wires.contains(&Wire::OpenAi) {
        return Err(own.route());
    }
    if model.wire == Wire::OpenAi && model.responses_api == ResponsesApi::Native {
        return Ok(None);
    }
    Ok(Some(Bridge {
        client: Wire::OpenAi,
        upstream: model.wire,
        responses: true,
    }))
}

/// The wire a client of this route speaks.
pub(crate) fn client_wire(endpoint: Endpoint) -> Wire {
    match endpoint {
        Endpoint::Messages | Endpoint::CountTokens => Wire::Anthropic,
        Endpoint::ChatCompletions
        | Endpoint::Embeddings
        | Endpoint::Responses
        | Endpoint::ResponsesInputTokens
        | Endpoint::Completions => Wire::OpenAi,
    }
}

/// What the response side of a translated request needs.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) bridge: Bridge,
    pub(crate) stream: bool,
    /// An OpenAI client asked for the stream's usage chunk.
    pub(crate) include_usage: bool,
    pub(crate) dropped: Vec<String>,
    /// A Responses client's request fields, echoed in its response object.
    pub(crate) echo: Value,
}

impl Reply {
    /// The `content-type` of the client's wire.
    pub(crate) fn content_type(&self) -> &'static str {
        if self.stream {
            "text/event-stream"
        } else {
            "application/json"
        }
    }
}

/// A request body rewritten for the upstream's wire.
#[derive(Debug)]
pub(crate) struct TranslatedRequest {
    pub(crate) body: Map<String, Value>,
    /// Parameters removed under `drop_unsupported`, in the order met.
    pub(crate) dropped: Vec<String>,
}

/// What a model needs to know to translate a request for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) provider: &'a str,
    pub(crate) max_output_tokens: u64,
    pub(crate) drop_unsupported: bool,
}

impl<'a> Target<'a> {
    pub(crate) fn of(model: &'a Model) -> Self {
        Self {
            provider: &model.provider,
            max_output_tokens: model.max_output_tokens,
            drop_unsupported: model.drop_unsupported,
        }
    }
}

/// Rewrites a client's request for the other wire, and says what the
/// response side needs. `body` has been checked by `request::parse` for the
/// client's route.
pub(crate) fn prepare(
    bridge: Bridge,
    body: &mut Map<String, Value>,
    stream: bool,
    target: Target<'_>,
) -> Result<Reply, Unsupported> {
    let include_usage =
        body.get("stream_options").and_then(|o| o.get("include_usage")) == Some(&Value::Bool(true));
    let echo = if bridge.responses {
        responses::echo(body)
    } else {
        Value::Null
    };
    let translated = request(bridge, std::mem::take(body), target)?;
    *body = translated.body;
    Ok(Reply {
        bridge,
        stream,
        include_usage,
        dropped: translated.dropped,
        echo,
    })
}

/// Rewrites a client's request for the other wire.
pub(crate) fn request(
    bridge: Bridge,
    body: Map<String, Value>,
    target: Target<'_>,
) -> Result<TranslatedRequest, Unsupported> {
    let mut policy = unsupported::Policy::new(target.drop_unsupported);
    let body = if bridge.responses {
        responses::to_chat(body, &mut policy)?
    } else {
        body
    };
    let body = match (bridge.client, bridge.upstream) {
        (Wire::OpenAi, Wire::OpenAi) | (Wire::Anthropic, Wire::Anthropic) => body,
        (_, Wire::Anthropic) => req_to_anthropic::translate(body, &target, &mut policy)?,
        (_, Wire::OpenAi) => req_to_openai::translate(body, &target, &mut policy)?,
    };
    Ok(TranslatedRequest {
        body,
        dropped: policy.into_dropped(),
    })
}

/// Rewrites a whole (non-stream) upstream answer into the client's wire.
/// An answer that is not the JSON expected is returned unchanged. `echo`:
/// see [`Reply::echo`].
pub(crate) fn response(bridge: Bridge, upstream: &[u8], echo: &Value) -> Vec<u8> {
    let Ok(answer) = serde_json::from_slice::<Value>(upstream) else {
        return upstream.to_vec();
    };
    let chat = match (bridge.client, bridge.upstream) {
        (Wire::OpenAi, Wire::OpenAi) | (Wire::Anthropic, Wire::Anthropic) => answer,
        (Wire::OpenAi, Wire::Anthropic) => resp_to_openai::translate(&answer),
        (Wire::Anthropic, Wire::OpenAi) => resp_to_anthropic::translate(&answer),
    };
    let out = if bridge.responses {
        responses::from_chat(&chat, echo)
    } else {
        chat
    };
    serde_json::to_vec(&out).unwrap_or_else(|_| upstream.to_vec())
}

/// The stream rewriter for a bridge. `include_usage`: an OpenAI chat
/// client asked for the usage chunk.
pub(crate) fn transducer(reply: &Reply) -> Box<dyn Transducer> {
    let bridge = reply.bridge;
    let to_client: Box<dyn Transducer> = match bridge.client {
        Wire::OpenAi => Box::new(stream_to_openai::ToOpenAi::new(
            reply.include_usage || bridge.responses,
        )),
        Wire::Anthropic => Box::new(stream_to_anthropic::ToAnthropic::new()),
    };
    match (bridge.responses, bridge.upstream) {
        (false, _) => to_client,
        (true, Wire::OpenAi) => Box::new(responses::ToResponses::new(reply.echo.clone())),
        (true, Wire::Anthropic) => Box::new(responses::Chain::new(
            to_client,
            Box::new(responses::ToResponses::new(reply.echo.clone())),
        )),
    }
}

/// Turns one upstream SSE event (its joined `data`) into client frames.
pub(crate) trait Transducer: Send {
    fn event(&mut self, data: &str, out: &mut Vec<u8>);
    /// The upstream body ended (after every event).
    fn end(&mut self, out: &mut Vec<u8>);
}

/// Seconds since the epoch, for OpenAI's `created`.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
