//! `POST /v1/chat/completions`, `/v1/embeddings` and `/v1/messages`: one
//! path through auth, model lookup, key resolution and the upstream call.

use std::sync::Arc;

use axum::{extract::State, response::Response};

use super::llm_handle::handle;
use crate::{
    Gateway,
    auth::AuthedBody,
    catalog::Endpoint,
    error::{Failure, Flavor},
};

/// Creates a chat completion (OpenAI wire format, JSON or SSE) with any chat
/// model of the catalog: OpenAI-wire models pass through; Anthropic-wire
/// models are translated both ways (`docs/translation.md`), with the
/// dropped parameters, if the model drops them, in `x-keyway-dropped-params`.
#[utoipa::path(post, path = "/v1/chat/completions", tag = "llm",
    request_body(content = super::schemas::ChatCompletionRequest, description = "An OpenAI chat completion request"),
    responses(
        (status = 200, description = "The completion, as JSON or as `text/event-stream` when `stream` is true (OpenAI's chunks and `data: [DONE]`, also for translated models)",
            content((super::schemas_openai::ChatCompletion = "application/json"),
                (super::schemas_openai::ChatCompletionChunk = "text/event-stream")),
            headers(("x-keyway-dropped-params" = String, description = "Parameters dropped because the model's wire cannot express them (models with `drop_unsupported: true`)"))),
        (status = 400, description = "Invalid request, a parameter that does not translate to the model's wire (`KW-TRANSLATE-001`), a model not served to OpenAI clients (`KW-MODEL-002`), or the model needs a provider key (`KW-KEY-001`)"),
        (status = 401),
        (status = 404),
        (status = 413),
        (status = 502),
        (status = 504),
    ),
    security(("bearer" = [])))]
pub(crate) async fn chat_completions(
    State(gw): State<Arc<Gateway>>,
    AuthedBody {
        caller,
        headers,
        body,
    }: AuthedBody,
) -> Result<Response, Failure> {
    handle(&gw, &caller, &headers, body, Endpoint::ChatCompletions)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Creates embeddings (OpenAI wire format).
#[utoipa::path(post, path = "/v1/embeddings", tag = "llm",
    request_body(content = super::schemas::EmbeddingsRequest, description = "An OpenAI embeddings request"),
    responses((status = 200, description = "The embeddings", body = super::schemas_openai::Embeddings), (status = 400), (status = 401), (status = 404)),
    security(("bearer" = [])))]
pub(crate) async fn embeddings(
    State(gw): State<Arc<Gateway>>,
    AuthedBody {
        caller,
        headers,
        body,
    }: AuthedBody,
) -> Result<Response, Failure> {
    handle(&gw, &caller, &headers, body, Endpoint::Embeddings)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Creates a message (Anthropic wire format, JSON or SSE) with any chat model
/// of the catalog: Anthropic-wire models pass through; OpenAI-wire models are
/// translated both ways (`docs/translation.md`). Errors are Anthropic-shaped.
#[utoipa::path(post, path = "/v1/messages", tag = "llm",
    request_body(content = super::schemas::MessagesRequest, description = "An Anthropic messages request"),
    responses(
        (status = 200, description = "The message, as JSON or as `text/event-stream` (Anthropic's `message_start` … `message_stop`, also for translated models)",
            content((super::schemas_anthropic::Message = "application/json"),
                (super::schemas_anthropic::MessageStreamEvent = "text/event-stream")),
            headers(("x-keyway-dropped-params" = String, description = "Parameters dropped because the model's wire cannot express them (models with `drop_unsupported: true`)"))),
        (status = 400, description = "Invalid request, a parameter that does not translate to the model's wire (`KW-TRANSLATE-001`), or a model not served to Anthropic clients (`KW-MODEL-002`)"),
        (status = 401), (status = 404)),
    security(("x_api_key" = [])))]
pub(crate) async fn messages(
    State(gw): State<Arc<Gateway>>,
    AuthedBody {
        caller,
        headers,
        body,
    }: AuthedBody,
) -> Result<Response, Failure> {
    handle(&gw, &caller, &headers, body, Endpoint::Messages)
        .await
        .map_err(|e| Failure(Flavor::Anthropic, e))
}
