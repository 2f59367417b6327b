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
#[schema(example = json!({"model": "gpt-4o-mini", "messages": [
    {"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"}], "max_tokens": 256}))]
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
#[schema(example = json!({"model": "text-embedding-3-small", "input": "The food was delicious."}))]
pub(crate) struct EmbeddingsRequest {
    #[schema(min_length = 1)]
    model: String,
    /// A string, a list of strings, or token arrays.
    input: Value,
}

/// An Anthropic messages request.
#[derive(ToSchema)]
#[schema(example = json!({"model": "claude-sonnet-4-5", "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hello"}]}))]
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
#[schema(example = json!({"model": "gpt-4o-mini", "instructions": "You are terse.", "input": "Hello",
    "max_output_tokens": 256}))]
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
#[schema(example = json!({"model": "gpt-3.5-turbo-instruct", "prompt": "Say this is a test", "max_tokens": 16}))]
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
