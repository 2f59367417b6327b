//! What the OpenAPI document says about the success bodies of the Responses
//! API (`/v1/responses` and the routes on a stored response), as
//! `schemas_openai` does for chat: the fields the real API and the
//! translating bridge always carry; the rest passes through.

#![expect(dead_code, reason = "documentation only")]

use serde_json::Value;
use utoipa::ToSchema;

/// A model response.
#[derive(ToSchema)]
#[schema(example = json!({"id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "object": "response",
    "created_at": 1_741_476_542, "status": "completed", "model": "gpt-4o-mini-2024-07-18", "error": null,
    "output": [{"type": "message", "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6", "status": "completed",
        "role": "assistant", "content": [{"type": "output_text", "text": "Hello! How can I help?", "annotations": []}]}],
    "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 16}}))]
pub(crate) struct ResponseObject {
    id: String,
    /// `response`.
    object: String,
    /// Unix seconds.
    created_at: i64,
    /// `completed`, `in_progress`, `queued`, `incomplete`, `failed` or `cancelled`.
    status: String,
    model: String,
    /// Output items: `message`, `function_call`, `reasoning`, …
    output: Vec<Value>,
    /// `{input_tokens, output_tokens, total_tokens, …_details}`; null until done.
    usage: Option<Value>,
}

/// One event of a streamed response, sent as `event: <type>` and
/// `data: <this JSON>`: `response.created`, `response.in_progress`,
/// `response.output_item.added`, `response.content_part.added`,
/// `response.output_text.delta`…, the matching `….done` events, and
/// `response.completed` (with the whole response and its `usage`, which
/// Keyway meters) or `response.failed` / `response.incomplete`.
#[derive(ToSchema)]
#[schema(example = json!({"type": "response.output_text.delta", "sequence_number": 4,
    "item_id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6", "output_index": 0, "content_index": 0, "delta": "Hello"}))]
pub(crate) struct ResponseStreamEvent {
    /// The event name, as in its `event:` line.
    r#type: String,
    sequence_number: u64,
    /// On `response.created`, `….in_progress`, `….completed`, `….failed`.
    response: Option<Value>,
    /// On `response.output_item.*`.
    item: Option<Value>,
    /// On `response.output_text.delta`: the next piece of text.
    delta: Option<Value>,
}

/// A Responses API request's input token count.
#[derive(ToSchema)]
#[schema(example = json!({"object": "response.input_tokens", "input_tokens": 11}))]
pub(crate) struct InputTokens {
    /// `response.input_tokens`.
    object: String,
    input_tokens: u64,
}

/// A stored response was deleted.
#[derive(ToSchema)]
#[schema(example = json!({"id": "resp_6786a1bec27481909a17d673315b29f6", "object": "response", "deleted": true}))]
pub(crate) struct ResponseDeleted {
    id: String,
    /// `response`.
    object: String,
    deleted: bool,
}

/// A page of a stored response's input items.
#[derive(ToSchema)]
#[schema(example = json!({"object": "list", "data": [{"type": "message", "id": "msg_abc123", "status": "completed",
    "role": "user", "content": [{"type": "input_text", "text": "Hello"}]}],
    "first_id": "msg_abc123", "last_id": "msg_abc123", "has_more": false}))]
pub(crate) struct InputItemList {
    /// `list`.
    object: String,
    data: Vec<Value>,
    first_id: Option<String>,
    last_id: Option<String>,
    has_more: bool,
}
