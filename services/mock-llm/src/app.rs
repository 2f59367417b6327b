//! The route table.

use axum::Router;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::MockConfig;
use crate::state::AppState;
use crate::{
    anthropic, azure, bedrock, bedrock_converse, completions, embeddings, errors, gemini, models, openai,
    responses, seen, trace_echo,
};

/// Builds the router with `shutdown` wired into every sleep and stream.
pub(crate) fn build_router(config: MockConfig, shutdown: CancellationToken) -> Router {
    let state = AppState::new(config, shutdown);
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/models", get(models::list))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(embeddings::create))
        .route("/v1/messages", post(anthropic::messages))
        .route(
            "/v1/messages/count_tokens",
            post(completions::count_message_tokens),
        )
        .route("/v1/completions", post(completions::create))
        .route("/v1/responses", post(responses::create))
        .route("/v1/responses/input_tokens", post(responses::input_tokens))
        .route(
            "/v1/responses/{id}",
            get(responses::retrieve).delete(responses::delete),
        )
        .route("/v1/responses/{id}/input_items", get(responses::input_items))
        .route("/v1/responses/{id}/cancel", post(responses::cancel))
        // Provider shapes: Azure OpenAI, AWS Bedrock, Gemini's OpenAI endpoint.
        .route(
            "/openai/deployments/{deployment}/chat/completions",
            post(azure::deployment_chat),
        )
        .route(
            "/openai/deployments/{deployment}/embeddings",
            post(azure::deployment_embeddings),
        )
        .route("/openai/v1/chat/completions", post(azure::v1_chat))
        .route("/openai/v1/embeddings", post(azure::v1_embeddings))
        .route("/openai/v1/models", get(azure::v1_models))
        .route("/model/{model}/invoke", post(bedrock::invoke))
        .route(
            "/model/{model}/invoke-with-response-stream",
            post(bedrock::invoke_stream),
        )
        .route("/model/{model}/converse", post(bedrock_converse::converse))
        .route(
            "/model/{model}/converse-stream",
            post(bedrock_converse::converse_stream),
        )
        .route("/foundation-models", get(bedrock::foundation_models))
        .route("/v1beta/openai/chat/completions", post(gemini::chat))
        .route("/v1beta/openai/embeddings", post(gemini::embed))
        .route("/v1beta/openai/models", get(gemini::list_models))
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state);
    // What arrived, for tests that check where a router sent its traffic.
    seen::attach(trace_echo::attach(routes))
}
