//! The route table.

use axum::Router;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use crate::config::MockConfig;
use crate::state::AppState;
use crate::{anthropic, completions, embeddings, errors, models, openai, responses, trace_echo};

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
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .with_state(state);
    trace_echo::attach(routes)
}
