//! Tool calls on `/v1/chat/completions`: a JSON completion with
//! `tool_calls`, or chunks that stream each call's id and name, then its
//! arguments in pieces, then `finish_reason: "tool_calls"`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{ToolCall, argument_pieces, output_words};
use crate::controls::Controls;
use crate::errors::json_response;
use crate::state::unix_now;
use crate::usage::{OpenAiUsage, Usage};
use crate::{sse, text};

struct Answer<'a> {
    id: &'a str,
    created: u64,
    model: &'a str,
    usage: Option<OpenAiUsage>,
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
    let usage = Usage::new(
        text::messages_words(messages),
        controls.cached_tokens,
        output_words(calls),
    );
    let id = format!("chatcmpl-mock-{seed}");
    let mut answer = Answer {
        id: &id,
        created: unix_now(),
        model,
        usage: (!controls.omit_usage).then(|| usage.openai()),
    };
    if body["stream"] != true {
        return json(answer, calls);
    }
    if body.pointer("/stream_options/include_usage") != Some(&Value::Bool(true)) {
        answer.usage = None;
    }
    stream(answer, calls)
}

fn wire_calls(calls: &[ToolCall]) -> Value {
    calls
        .iter()
        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
        .collect()
}

fn json(answer: Answer<'_>, calls: &[ToolCall]) -> Response {
    let mut completion = json!({
        "id": answer.id,
        "object": "chat.completion",
        "created": answer.created,
        "model": answer.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": null, "tool_calls": wire_calls(calls)},
            "finish_reason": "tool_calls",
            "logprobs": null,
        }],
    });
    if let Some(usage) = answer.usage {
        completion["usage"] = json!(usage);
    }
    json_response(StatusCode::OK, &completion)
}

/// `usage` is set only when the client asked for the usage chunk.
fn stream(answer: Answer<'_>, calls: &[ToolCall]) -> Response {
    let chunk = |delta: Value, finish: Option<&str>| {
        let body = json!({
            "id": answer.id,
            "object": "chat.completion.chunk",
            "created": answer.created,
            "model": answer.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        sse::frame(None, &body)
    };
    let mut frames = vec![chunk(json!({"role": "assistant", "content": null}), None)];
    for (index, call) in calls.iter().enumerate() {
        let head = json!({"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}});
        frames.push(chunk(json!({"tool_calls": [head]}), None));
        for piece in argument_pieces(&call.arguments) {
            frames.push(chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                None,
            ));
        }
    }
    frames.push(chunk(json!({}), Some("tool_calls")));
    if let Some(usage) = answer.usage {
        let body = json!({"id": answer.id, "object": "chat.completion.chunk", "created": answer.created,
            "model": answer.model, "choices": [], "usage": usage});
        frames.push(sse::frame(None, &body));
    }
    let frames: Result<Vec<Bytes>, _> = frames.into_iter().collect();
    match frames {
        Ok(mut frames) => {
            frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
            sse::whole(frames)
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
