//! What the OpenAPI document says about `/v1` request bodies: the fields the
//! gateway itself reads and validates. Every other field goes to the
//! upstream as sent, so the schemas allow additional properties. The
//! handlers never deserialize into these types (the hot path reads only
//! what it needs from the raw body); they exist for the document only.

#![expect(dead_code, reason = "documentation only")]

use serde_json::Value;
use utoipa::ToSchema;

/// An OpenAI chat completion request.
#[derive(ToSchema)]
pub(crate) struct ChatCompletionRequest {
    /// A model of the catalog (`GET /v1/models`).
    #[schema(min_length = 1)]
    model: String,
    messages: Vec<Value>,
    /// Answer as `text/event-stream`.
    stream: Option<bool>,
    /// Lowered to the model's `max_output_tokens` when larger.
    #[schema(minimum = 1)]
    max_tokens: Option<u64>,
    /// As `max_tokens`.
    #[schema(minimum = 1)]
    max_completion_tokens: Option<u64>,
}

/// An OpenAI embeddings request.
#[derive(ToSchema)]
pub(crate) struct EmbeddingsRequest {
    #[schema(min_length = 1)]
    model: String,
    /// A string, a list of strings, or token arrays.
    input: Value,
}

/// An Anthropic messages request.
#[derive(ToSchema)]
pub(crate) struct MessagesRequest {
    #[schema(min_length = 1)]
    model: String,
    messages: Vec<Value>,
    /// Lowered to the model's `max_output_tokens` when larger.
    #[schema(minimum = 1)]
    max_tokens: u64,
    stream: Option<bool>,
}

/// An OpenAI Responses API request.
#[derive(ToSchema)]
pub(crate) struct ResponsesRequest {
    #[schema(min_length = 1)]
    model: String,
    /// A string, or a list of input items (messages, tool calls and outputs).
    input: Option<Value>,
    instructions: Option<String>,
    /// Answer as `text/event-stream` of `response.*` events.
    stream: Option<bool>,
    /// Lowered to the model's `max_output_tokens` when larger.
    #[schema(minimum = 1)]
    max_output_tokens: Option<u64>,
    /// `false`: the upstream keeps nothing, and Keyway records no owner.
    store: Option<bool>,
}

/// An OpenAI legacy completions request.
#[derive(ToSchema)]
pub(crate) struct CompletionRequest {
    #[schema(min_length = 1)]
    model: String,
    /// A string or a list of strings.
    prompt: Value,
    stream: Option<bool>,
    /// Lowered to the model's `max_output_tokens` when larger.
    #[schema(minimum = 1)]
    max_tokens: Option<u64>,
}
