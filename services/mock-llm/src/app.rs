//! The route table.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering::Relaxed},
};

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::config::MockConfig;
use crate::state::AppState;
use crate::{
    anthropic, azure, bedrock, completions, embeddings, errors, gemini, models, openai, responses, trace_echo,
};

/// Builds the router with `shutdown` wired into every sleep and stream.
pub(crate) fn build_router(config: MockConfig, shutdown: CancellationToken) -> Router {
    let state = AppState::new(config, shutdown);
    // Every request but health checks and the counter's own, for tests
    // that check where a router sent its traffic.
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/mock/requests",
            get(move || async move { Json(json!({"requests": count.load(Relaxed)})) }),
        )
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
        .route("/foundation-models", get(bedrock::foundation_models))
        .route("/v1beta/openai/chat/completions", post(gemini::chat))
        .route("/v1beta/openai/embeddings", post(gemini::embed))
        .route("/v1beta/openai/models", get(gemini::list_models))
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state)
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            if !matches!(request.uri().path(), "/mock/requests" | "/healthz") {
                served.fetch_add(1, Relaxed);
            }
            next.run(request)
        }));
    trace_echo::attach(routes)
}
