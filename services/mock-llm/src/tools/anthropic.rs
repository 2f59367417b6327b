//! Tool calls on `/v1/messages`: `tool_use` blocks with `stop_reason:
//! "tool_use"`, or the event stream with `content_block_start` (tool_use),
//! `input_json_delta` pieces and `content_block_stop` per call.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{ToolCall, argument_pieces, output_words};
use crate::controls::Controls;
use crate::errors::json_response;
use crate::usage::Usage;
use crate::{sse, text};

struct Answer<'a> {
    id: &'a str,
    model: &'a str,
    usage: Option<Usage>,
}

/// The answer to a request the mock makes tool calls for.
pub(crate) fn respond(
    body: &Value,
    model: &str,
    controls: &Controls,
    calls: &[ToolCall],
    seed: u64,
) -> Response {
    let messages = body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let system_words = body.get("system").map_or(0, text::content_words);
    let prompt = text::messages_words(messages) + system_words;
    let usage = Usage::new(prompt, controls.cached_tokens, output_words(calls));
    let id = format!("msg_mock_{seed}");
    let answer = Answer {
        id: &id,
        model,
        usage: (!controls.omit_usage).then_some(usage),
    };
    if body["stream"] == true {
        stream(answer, calls)
    } else {
        json(answer, calls)
    }
}

fn tool_use(call: &ToolCall) -> Value {
    let input: Value = serde_json::from_str(&call.arguments).unwrap_or_else(|_| json!({}));
    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
}

fn json(answer: Answer<'_>, calls: &[ToolCall]) -> Response {
    let mut message = json!({
        "id": answer.id,
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": calls.iter().map(tool_use).collect::<Vec<_>>(),
        "stop_reason": "tool_use",
        "stop_sequence": null,
    });
    if let Some(usage) = answer.usage {
        message["usage"] = json!(usage.anthropic());
    }
    json_response(StatusCode::OK, &message)
}

fn stream(answer: Answer<'_>, calls: &[ToolCall]) -> Response {
    let event = |name: &str, body: Value| sse::frame(Some(name), &body);
    let mut start = json!({"id": answer.id, "type": "message", "role": "assistant", "model": answer.model,
        "content": [], "stop_reason": null, "stop_sequence": null});
    if let Some(usage) = answer.usage {
        let mut u = json!(usage.anthropic());
        u["output_tokens"] = json!(1);
        start["usage"] = u;
    }
    let mut frames = vec![event(
        "message_start",
        json!({"type": "message_start", "message": start}),
    )];
    for (index, call) in calls.iter().enumerate() {
        let block = json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}});
        frames.push(event(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        for piece in argument_pieces(&call.arguments) {
            let delta = json!({"type": "input_json_delta", "partial_json": piece});
            frames.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        frames.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let mut delta =
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}});
    if let Some(usage) = answer.usage {
        delta["usage"] = json!({"output_tokens": usage.output});
    }
    frames.push(event("message_delta", delta));
    frames.push(event("message_stop", json!({"type": "message_stop"})));
    match frames.into_iter().collect::<Result<Vec<Bytes>, _>>() {
        Ok(frames) => sse::whole(frames),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
