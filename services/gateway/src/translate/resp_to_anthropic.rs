//! An OpenAI chat completion (non-stream) as an Anthropic message.

use serde_json::{Value, json};

use super::stop;

pub(crate) fn translate(completion: &Value) -> Value {
    if completion.get("error").is_some_and(Value::is_object) {
        return error(&completion["error"]);
    }
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let mut content = Vec::new();
    let text = message["content"]
        .as_str()
        .or_else(|| message["refusal"].as_str())
        .unwrap_or("");
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        content.push(tool_use(call));
    }
    let finish = choice["finish_reason"].as_str().unwrap_or("stop");
    let stop_reason = if message["refusal"].is_string() {
        "refusal"
    } else {
        stop::stop_reason(finish)
    };
    json!({
        "id": completion["id"],
        "type": "message",
        "role": "assistant",
        "model": completion["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": stop::anthropic_usage(&completion["usage"]),
    })
}

/// An OpenAI tool call as a `tool_use` block. Arguments that are not a
/// JSON object (a model's malformed output) are kept under `arguments`.
pub(crate) fn tool_use(call: &Value) -> Value {
    let raw = call["function"]["arguments"].as_str().unwrap_or("");
    let input = match serde_json::from_str::<Value>(if raw.is_empty() { "{}" } else { raw }) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"arguments": raw}),
    };
    json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": input})
}

/// An OpenAI error body in Anthropic's shape.
pub(crate) fn error(error: &Value) -> Value {
    json!({"type": "error", "error": {
        "type": error["type"].as_str().unwrap_or("api_error"),
        "message": error["message"].as_str().unwrap_or("the upstream provider failed"),
    }})
}
