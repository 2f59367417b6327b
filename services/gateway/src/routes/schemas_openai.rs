//! What the OpenAPI document says about the success bodies of OpenAI's
//! `/v1` routes: the fields every OpenAI-compatible upstream sends and
//! clients rely on. The gateway passes the rest through as the upstream sent
//! it (or as translation produced it), so each schema allows additional
//! properties and requires only what both the real API and translated
//! answers always carry. For the document only, like `schemas`.

#![expect(dead_code, reason = "documentation only")]

use serde_json::Value;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{OneOfBuilder, Ref, RefOr, Schema},
};

/// A chat completion (`stream` false).
#[derive(ToSchema)]
#[schema(example = json!({"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion",
    "created": 1_741_569_952, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help?"},
        "finish_reason": "stop", "logprobs": null}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16,
        "prompt_tokens_details": {"cached_tokens": 0}}}))]
pub(crate) struct ChatCompletion {
    id: String,
    /// `chat.completion`.
    object: String,
    /// Unix seconds.
    created: i64,
    /// The upstream's model name (may differ from the catalog name sent).
    model: String,
    choices: Vec<ChatChoice>,
    usage: Option<Usage>,
}

#[derive(ToSchema)]
pub(crate) struct ChatChoice {
    index: u32,
    /// `{role: "assistant", content, tool_calls?, refusal?}`.
    message: Value,
    /// `stop`, `length`, `tool_calls`, `content_filter`; null while streaming.
    finish_reason: Option<String>,
}

/// Token counts as OpenAI reports them; Keyway meters from these.
#[derive(ToSchema)]
pub(crate) struct Usage {
    prompt_tokens: u64,
    /// Absent on embeddings.
    completion_tokens: Option<u64>,
    total_tokens: u64,
    /// `{cached_tokens}`: part of `prompt_tokens`.
    prompt_tokens_details: Option<Value>,
}

/// One `data:` event of a streamed chat completion; the stream ends with
/// `data: [DONE]`. With `stream_options.include_usage`, the last event has
/// empty `choices` and the `usage`.
#[derive(ToSchema)]
#[schema(example = json!({"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion.chunk",
    "created": 1_741_569_952, "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": null}]}))]
pub(crate) struct ChatCompletionChunk {
    id: String,
    /// `chat.completion.chunk`.
    object: String,
    created: i64,
    model: String,
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
}

#[derive(ToSchema)]
pub(crate) struct ChunkChoice {
    index: u32,
    /// The next piece: `{role?, content?, tool_calls?}`.
    delta: Value,
    finish_reason: Option<String>,
}

/// Embeddings, one per input, in input order.
#[derive(ToSchema)]
#[schema(example = json!({"object": "list", "model": "text-embedding-3-small",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292, -0.0028842222]}],
    "usage": {"prompt_tokens": 8, "total_tokens": 8}}))]
pub(crate) struct Embeddings {
    /// `list`.
    object: String,
    data: Vec<Embedding>,
    model: String,
    usage: Usage,
}

#[derive(ToSchema)]
pub(crate) struct Embedding {
    /// `embedding`.
    object: String,
    index: u32,
    /// A list of floats, or a base64 string with `encoding_format: "base64"`.
    embedding: Value,
}

/// A legacy text completion; streamed, each `data:` event has this shape
/// with the next piece in `choices[].text`, and the stream ends with
/// `data: [DONE]`.
#[derive(ToSchema)]
#[schema(example = json!({"id": "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", "object": "text_completion",
    "created": 1_589_478_378, "model": "gpt-3.5-turbo-instruct",
    "choices": [{"index": 0, "text": "This is a test.", "finish_reason": "stop", "logprobs": null}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}))]
pub(crate) struct TextCompletion {
    id: String,
    /// `text_completion`.
    object: String,
    created: i64,
    model: String,
    choices: Vec<TextChoice>,
    usage: Option<Usage>,
}

#[derive(ToSchema)]
pub(crate) struct TextChoice {
    index: u32,
    text: String,
    finish_reason: Option<String>,
}

/// The caller's models, OpenAI-shaped (no `anthropic-version` header).
#[derive(ToSchema)]
#[schema(example = json!({"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 0,
    "owned_by": "openai", "keyway": {"key_source": ["user", "system"], "key_required": false}}]}))]
pub(crate) struct OpenAiModelList {
    /// `list`.
    object: String,
    data: Vec<OpenAiModel>,
}

#[derive(ToSchema)]
pub(crate) struct OpenAiModel {
    /// The catalog name to send as `model`.
    id: String,
    /// `model`.
    object: String,
    created: i64,
    /// The provider.
    owned_by: String,
    keyway: KeyState,
}

/// Where the model's upstream key comes from, for this caller.
#[derive(ToSchema)]
pub(crate) struct KeyState {
    /// The key sources tried, in order: `user`, `tenant`, `system`.
    key_source: Vec<String>,
    /// True when no source has a key for the caller yet: add a BYOK key.
    key_required: bool,
}

/// The caller's models, Anthropic-shaped (with `anthropic-version`).
#[derive(ToSchema)]
#[schema(example = json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "claude-sonnet-4-5",
    "created_at": "1970-01-01T00:00:00Z", "keyway": {"key_source": ["user"], "key_required": true}}],
    "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}))]
pub(crate) struct AnthropicModelList {
    data: Vec<AnthropicModel>,
    /// Always false: one page holds every model.
    has_more: bool,
    first_id: Option<String>,
    last_id: Option<String>,
}

#[derive(ToSchema)]
pub(crate) struct AnthropicModel {
    /// `model`.
    r#type: String,
    id: String,
    display_name: String,
    created_at: String,
    keyway: KeyState,
}

/// `GET /v1/models`: OpenAI's list, or Anthropic's when the request has
/// `anthropic-version`. Written by hand because a derived enum would be
/// externally tagged; the two shapes never both match (`object` is only in
/// OpenAI's, `has_more` only in Anthropic's), so `oneOf` holds.
pub(crate) struct ModelList;

impl PartialSchema for ModelList {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(Ref::from_schema_name(OpenAiModelList::name()))
            .item(Ref::from_schema_name(AnthropicModelList::name()))
            .description(Some("OpenAI's list, or Anthropic's with `anthropic-version`"))
            .into()
    }
}

impl ToSchema for ModelList {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((OpenAiModelList::name().into(), OpenAiModelList::schema()));
        OpenAiModelList::schemas(schemas);
        schemas.push((AnthropicModelList::name().into(), AnthropicModelList::schema()));
        AnthropicModelList::schemas(schemas);
    }
}
