//! The Response object and its output items, in the shapes the openai SDKs'
//! types (`openai.types.responses`) and Codex CLI parse.

use serde_json::{Value, json};

use crate::usage::Usage;

/// What the mock answers: text, or one function call.
pub(crate) enum Answer {
    Text(String),
    Call { name: String, arguments: String },
}

/// Ids of one response and its single output item.
pub(crate) struct Ids {
    pub(crate) response: String,
    pub(crate) item: String,
    pub(crate) call: String,
}

impl Ids {
    pub(crate) fn new(n: u64) -> Self {
        Self {
            response: format!("resp_mock_{n}"),
            item: format!("item_mock_{n}"),
            call: format!("call_mock_{n}"),
        }
    }
}

/// The output item; `done` gives it its final content and status.
pub(crate) fn item(answer: &Answer, ids: &Ids, done: bool) -> Value {
    let status = if done { "completed" } else { "in_progress" };
    match answer {
        Answer::Text(text) => json!({
            "type": "message", "id": ids.item, "status": status, "role": "assistant",
            "content": if done { json!([text_part(text)]) } else { json!([]) },
        }),
        Answer::Call { name, arguments } => json!({
            "type": "function_call", "id": ids.item, "call_id": ids.call, "name": name,
            "arguments": if done { arguments.as_str() } else { "" }, "status": status,
        }),
    }
}

pub(crate) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// The Response object. `output` and `usage` are empty until it completes.
pub(crate) struct Shape<'a> {
    pub(crate) request: &'a Value,
    pub(crate) model: &'a str,
    pub(crate) id: &'a str,
    pub(crate) created_at: u64,
}

impl Shape<'_> {
    pub(crate) fn build(&self, status: &str, output: Vec<Value>, usage: Option<Usage>) -> Value {
        let r = self.request;
        let or_null = |field: &str| r.get(field).cloned().unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": r.get("background").and_then(Value::as_bool).unwrap_or(false),
            "error": null,
            "incomplete_details": null,
            "instructions": or_null("instructions"),
            "max_output_tokens": or_null("max_output_tokens"),
            "model": self.model,
            "output": output,
            "parallel_tool_calls": r.get("parallel_tool_calls").cloned().unwrap_or(json!(true)),
            "previous_response_id": or_null("previous_response_id"),
            "reasoning": {"effort": null, "summary": null},
            "store": r.get("store").and_then(Value::as_bool).unwrap_or(true),
            "temperature": r.get("temperature").cloned().unwrap_or(json!(1.0)),
            "text": {"format": {"type": "text"}},
            "tool_choice": r.get("tool_choice").cloned().unwrap_or(json!("auto")),
            "tools": r.get("tools").cloned().unwrap_or(json!([])),
            "top_p": r.get("top_p").cloned().unwrap_or(json!(1.0)),
            "truncation": "disabled",
            "usage": usage.map(|u| json!(u.responses())),
            "user": or_null("user"),
            "metadata": r.get("metadata").cloned().unwrap_or(json!({})),
        })
    }
}

/// The input items as `GET /v1/responses/{id}/input_items` lists them: each
/// with an id, messages with typed content parts.
pub(crate) fn listed_input(items: Vec<Value>, response_n: u64) -> Vec<Value> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, mut item)| {
            if item.get("role").is_some() {
                let content = match item.get("content") {
                    Some(Value::String(s)) => json!([{"type": "input_text", "text": s}]),
                    Some(other) => other.clone(),
                    None => json!([]),
                };
                item = json!({"type": "message", "role": item["role"], "content": content, "status": "completed"});
            }
            if let Some(object) = item.as_object_mut() {
                object
                    .entry("id")
                    .or_insert_with(|| json!(format!("initem_mock_{response_n}_{i}")));
            }
            item
        })
        .collect()
}
