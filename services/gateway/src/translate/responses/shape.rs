//! The pieces of a Responses API answer built from a chat completion:
//! output items, usage, and the response object around them.

use serde_json::{Map, Value, json};

/// The request fields a response object echoes back, taken before the
/// request is rewritten.
pub(crate) fn echo(request: &Map<String, Value>) -> Value {
    let mut echo = Map::new();
    for key in [
        "instructions",
        "max_output_tokens",
        "metadata",
        "parallel_tool_calls",
        "reasoning",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_p",
        "user",
    ] {
        echo.insert(key.into(), request.get(key).cloned().unwrap_or(Value::Null));
    }
    let defaults = [
        ("parallel_tool_calls", json!(true)),
        ("tool_choice", json!("auto")),
        ("tools", json!([])),
        ("metadata", json!({})),
        ("text", json!({"format": {"type": "text"}})),
    ];
    for (key, value) in defaults {
        if echo[key].is_null() {
            echo.insert(key.into(), value);
        }
    }
    // Nothing is kept upstream, whatever the request asked.
    echo.insert("store".into(), json!(false));
    echo.insert("truncation".into(), json!("disabled"));
    echo.insert("previous_response_id".into(), Value::Null);
    Value::Object(echo)
}

/// A new response id; the upstream's own id names a chat completion or an
/// Anthropic message, not a response.
pub(crate) fn response_id() -> String {
    format!("resp_{}", uuid::Uuid::new_v4().simple())
}

pub(crate) fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": status,
        "role": "assistant",
        "content": if status == "in_progress" { json!([]) } else { json!([text_part(text)]) },
    })
}

pub(crate) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub(crate) fn function_call_item(
    id: &str,
    call_id: &Value,
    name: &Value,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    })
}

/// Chat usage as Responses usage: the same counts under other names.
pub(crate) fn usage(chat: &Value) -> Value {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let input = n(&chat["prompt_tokens"]);
    let output = n(&chat["completion_tokens"]);
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": n(&chat["prompt_tokens_details"]["cached_tokens"])},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": n(&chat["completion_tokens_details"]["reasoning_tokens"])},
        "total_tokens": input + output,
    })
}

/// A chat `finish_reason` as the response's status and why it is incomplete.
pub(crate) fn status(finish_reason: Option<&str>) -> (&'static str, Value) {
    match finish_reason {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The response object: `echo` plus what was generated.
pub(crate) struct Generated<'a> {
    pub(crate) id: &'a str,
    pub(crate) created_at: u64,
    pub(crate) model: &'a Value,
    pub(crate) status: &'a str,
    pub(crate) incomplete_details: Value,
    pub(crate) output: Vec<Value>,
    pub(crate) usage: Value,
}

pub(crate) fn response(echo: &Value, g: Generated<'_>) -> Value {
    let mut response = echo.clone();
    let fields = [
        ("id", json!(g.id)),
        ("object", json!("response")),
        ("created_at", json!(g.created_at)),
        ("model", g.model.clone()),
        ("status", json!(g.status)),
        ("error", Value::Null),
        ("incomplete_details", g.incomplete_details),
        ("output", Value::Array(g.output)),
        ("usage", g.usage),
    ];
    for (key, value) in fields {
        response[key] = value;
    }
    response
}
