//! An Anthropic message (non-stream) as an OpenAI chat completion.

use serde_json::{Value, json};

use super::{stop, unix_now};

pub(crate) fn translate(message: &Value) -> Value {
    if message["type"] == "error" {
        return error(&message["error"]);
    }
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in message["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            _ => {}
        }
    }
    let mut reply = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) },
        "refusal": null,
    });
    if !calls.is_empty() {
        reply["tool_calls"] = Value::Array(calls);
    }
    let finish = stop::finish_reason(message["stop_reason"].as_str().unwrap_or("end_turn"));
    json!({
        "id": message["id"],
        "object": "chat.completion",
        "created": unix_now(),
        "model": message["model"],
        "choices": [{"index": 0, "message": reply, "finish_reason": finish, "logprobs": null}],
        "usage": stop::openai_usage(&message["usage"]),
    })
}

/// An Anthropic error body (inside a 200 stream or answer) in OpenAI's shape.
pub(crate) fn error(error: &Value) -> Value {
    json!({"error": {
        "message": error["message"].as_str().unwrap_or("the upstream provider failed"),
        "type": error["type"].as_str().unwrap_or("api_error"),
        "param": null,
        "code": null,
    }})
}
