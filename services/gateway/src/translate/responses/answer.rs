//! A chat completion (non-stream) as a Responses API response object.

use serde_json::Value;

use super::shape::{self, Generated};
use crate::translate::unix_now;

pub(crate) fn from_chat(chat: &Value, echo: &Value) -> Value {
    if chat.get("error").is_some() {
        // Both APIs put an error at `error`: nothing to rewrite.
        return chat.clone();
    }
    let id = shape::response_id();
    let choice = &chat["choices"][0];
    let message = &choice["message"];
    let mut output = Vec::new();
    let text = message["content"].as_str().unwrap_or_default();
    if !text.is_empty() || message["tool_calls"].as_array().is_none_or(Vec::is_empty) {
        output.push(shape::message_item(
            &format!("msg_{}", &id[5..]),
            text,
            "completed",
        ));
    }
    for (i, call) in message["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let function = &call["function"];
        output.push(shape::function_call_item(
            &format!("fc_{}_{i}", &id[5..]),
            &call["id"],
            &function["name"],
            function["arguments"].as_str().unwrap_or("{}"),
            "completed",
        ));
    }
    let (status, incomplete_details) = shape::status(choice["finish_reason"].as_str());
    shape::response(
        echo,
        Generated {
            id: &id,
            created_at: chat["created"].as_u64().unwrap_or_else(unix_now),
            model: &chat["model"],
            status,
            incomplete_details,
            output,
            usage: shape::usage(&chat["usage"]),
        },
    )
}
