//! What the OpenAPI document says about the success bodies of Anthropic's
//! `/v1/messages` routes, as `schemas_openai` does for OpenAI's: the fields
//! Anthropic and translated answers always carry; the rest passes through.

#![expect(dead_code, reason = "documentation only")]

use serde_json::Value;
use utoipa::ToSchema;

/// A message (`stream` false).
#[derive(ToSchema)]
#[schema(example = json!({"id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": "Hello! How can I help?"}],
    "stop_reason": "end_turn", "stop_sequence": null,
    "usage": {"input_tokens": 10, "output_tokens": 9, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}))]
pub(crate) struct Message {
    id: String,
    /// `message`.
    r#type: String,
    /// `assistant`.
    role: String,
    /// The upstream's model name.
    model: String,
    /// Content blocks: `text`, `tool_use`, `thinking`, …
    content: Vec<Value>,
    /// `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, …
    stop_reason: Option<String>,
    stop_sequence: Option<String>,
    usage: MessageUsage,
}

/// Token counts as Anthropic reports them; Keyway meters from these.
#[derive(ToSchema)]
pub(crate) struct MessageUsage {
    input_tokens: u64,
    output_tokens: u64,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// One event of a streamed message, sent as `event: <type>` and
/// `data: <this JSON>`: `message_start` (with `message`), then per content
/// block `content_block_start`, `content_block_delta`…, `content_block_stop`
/// (with `index`), `message_delta` (with the `stop_reason` and output
/// `usage`) and `message_stop`; `ping` may come at any time, and `error`
/// ends a stream that failed after it began.
#[derive(ToSchema)]
#[schema(example = json!({"type": "content_block_delta", "index": 0,
    "delta": {"type": "text_delta", "text": "Hello"}}))]
pub(crate) struct MessageStreamEvent {
    /// The event name, as in its `event:` line.
    r#type: String,
    /// On `message_start`: the message so far, with empty `content`.
    message: Option<Value>,
    /// The content block an event is about.
    index: Option<u32>,
    /// On `content_block_start`.
    content_block: Option<Value>,
    /// On `content_block_delta` and `message_delta`.
    delta: Option<Value>,
    /// On `message_delta`: the output tokens so far.
    usage: Option<Value>,
    /// On `error`: `{type, message}`.
    error: Option<Value>,
}

/// A messages request's input token count.
#[derive(ToSchema)]
#[schema(example = json!({"input_tokens": 14}))]
pub(crate) struct MessageTokenCount {
    input_tokens: u64,
}
