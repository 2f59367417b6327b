//! The LLM routes and which models each serves.

use super::{Mode, Wire};

/// Which LLM endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    ChatCompletions,
    Embeddings,
    Messages,
    /// The OpenAI Responses API, served for chat models.
    Responses,
    /// `POST /v1/responses/input_tokens`, served for chat models.
    ResponsesInputTokens,
    /// `POST /v1/messages/count_tokens`, served for Anthropic models.
    CountTokens,
    /// Legacy `POST /v1/completions`, for `mode: completion` models.
    Completions,
}

impl Endpoint {
    /// The one route a model of this wire format and mode is served on.
    pub(crate) fn serving(wire: Wire, mode: Mode) -> Self {
        match (wire, mode) {
            (Wire::Anthropic, _) => Endpoint::Messages,
            (Wire::OpenAi, Mode::Embedding) => Endpoint::Embeddings,
            (Wire::OpenAi, Mode::Chat) => Endpoint::ChatCompletions,
            (Wire::OpenAi, Mode::Completion) => Endpoint::Completions,
        }
    }

    /// The endpoint whose models this one also serves: the Responses API
    /// and its token count serve chat models, count_tokens Anthropic ones.
    pub(crate) fn family(self) -> Self {
        match self {
            Endpoint::Responses | Endpoint::ResponsesInputTokens => Endpoint::ChatCompletions,
            Endpoint::CountTokens => Endpoint::Messages,
            other => other,
        }
    }

    pub(crate) fn route(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/v1/chat/completions",
            Endpoint::Embeddings => "/v1/embeddings",
            Endpoint::Messages => "/v1/messages",
            Endpoint::Responses => "/v1/responses",
            Endpoint::ResponsesInputTokens => "/v1/responses/input_tokens",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
            Endpoint::Completions => "/v1/completions",
        }
    }

    /// The path appended to a model's `base_url` (which ends in `/v1`).
    pub(crate) fn upstream_path(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "/chat/completions",
            Endpoint::Embeddings => "/embeddings",
            Endpoint::Messages => "/messages",
            Endpoint::Responses => "/responses",
            Endpoint::ResponsesInputTokens => "/responses/input_tokens",
            Endpoint::CountTokens => "/messages/count_tokens",
            Endpoint::Completions => "/completions",
        }
    }
}
