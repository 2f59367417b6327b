//! The Responses API (`/v1/responses` and the routes on a stored response),
//! the two token counts, and legacy `/v1/completions`. Creating goes the
//! shared way (`llm_handle`); the routes on a stored response go to the
//! upstream and key source that created it (see `crate::responses`).

use std::sync::Arc;

use axum::{
    Router,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, Method},
    response::Response,
    routing::{get, post},
};

use super::{llm_handle::handle, stored};
use crate::{
    Gateway,
    auth::{Authed, AuthedBody},
    catalog::Endpoint,
    error::{Failure, Flavor},
};

pub(crate) fn router() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/v1/responses", post(create))
        .route("/v1/responses/input_tokens", post(input_tokens))
        .route("/v1/responses/{id}", get(retrieve).delete(delete))
        .route("/v1/responses/{id}/input_items", get(input_items))
        .route("/v1/responses/{id}/cancel", post(cancel))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1/completions", post(completions))
}

/// Creates a model response (OpenAI Responses API, JSON or SSE).
///
/// Passed through to models on the OpenAI wire. Metered from
/// `response.usage` (on a stream, the `response.completed` event): input
/// with cached tokens, output with reasoning tokens (recorded apart). The
/// creating tenant, model and key source are recorded under the response id.
#[utoipa::path(post, path = "/v1/responses", tag = "llm",
    request_body(content = super::schemas::ResponsesRequest, description = "An OpenAI Responses API request"),
    responses(
        (status = 200, description = "The response object, or `text/event-stream` of `response.*` events when `stream` is true",
            content((super::schemas_responses::ResponseObject = "application/json"),
                (super::schemas_responses::ResponseStreamEvent = "text/event-stream"))),
        (status = 400, description = "Invalid request (KW-REQ-001, KW-REQ-002), a parameter the Responses API bridge cannot translate (KW-TRANSLATE-001), the model is served on another route (KW-MODEL-002), or it needs a provider key (KW-KEY-001)"),
        (status = 401),
        (status = 404),
        (status = 502),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(gw): State<Arc<Gateway>>,
    AuthedBody {
        caller,
        headers,
        body,
    }: AuthedBody,
) -> Result<Response, Failure> {
    handle(&gw, &caller, &headers, body, Endpoint::Responses)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Retrieves a stored response (query parameters such as `include[]` and
/// `stream` pass through), from the upstream and key source that created it.
#[utoipa::path(get, path = "/v1/responses/{id}", tag = "llm",
    params(("id" = String, Path, description = "The response id, e.g. `resp_…`")),
    responses(
        (status = 200, description = "The response object (or its events replayed, with `stream=true`)",
            content((super::schemas_responses::ResponseObject = "application/json"),
                (super::schemas_responses::ResponseStreamEvent = "text/event-stream"))),
        (status = 401),
        (status = 404, description = "No response with this id was created by the caller's tenant (`KW-RESP-001`)"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn retrieve(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    Authed(caller): Authed,
) -> Result<Response, Failure> {
    let on = stored::On {
        id: &id,
        method: Method::GET,
        suffix: None,
        query: query.as_deref(),
        route: "/v1/responses/{id}",
    };
    stored::reach(&gw, &caller, &headers, on)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Deletes a stored response at the upstream that created it.
#[utoipa::path(delete, path = "/v1/responses/{id}", tag = "llm",
    params(("id" = String, Path, description = "The response id")),
    responses(
        (status = 200, description = "The response was deleted", body = super::schemas_responses::ResponseDeleted),
        (status = 401),
        (status = 404, description = "No response with this id was created by the caller's tenant (`KW-RESP-001`)"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Authed(caller): Authed,
) -> Result<Response, Failure> {
    let on = stored::On {
        id: &id,
        method: Method::DELETE,
        suffix: None,
        query: None,
        route: "/v1/responses/{id}",
    };
    stored::reach(&gw, &caller, &headers, on)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Lists the input items of a stored response (`after`, `limit`, `order`
/// and `include[]` pass through).
#[utoipa::path(get, path = "/v1/responses/{id}/input_items", tag = "llm",
    params(("id" = String, Path, description = "The response id")),
    responses(
        (status = 200, description = "A list of input items", body = super::schemas_responses::InputItemList),
        (status = 401),
        (status = 404, description = "No response with this id was created by the caller's tenant (`KW-RESP-001`)"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn input_items(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    Authed(caller): Authed,
) -> Result<Response, Failure> {
    let on = stored::On {
        id: &id,
        method: Method::GET,
        suffix: Some("input_items"),
        query: query.as_deref(),
        route: "/v1/responses/{id}/input_items",
    };
    stored::reach(&gw, &caller, &headers, on)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Cancels a background response at the upstream that created it.
#[utoipa::path(post, path = "/v1/responses/{id}/cancel", tag = "llm",
    params(("id" = String, Path, description = "The response id")),
    responses(
        (status = 200, description = "The cancelled response", body = super::schemas_responses::ResponseObject),
        (status = 400, description = "The upstream refused (KW-UP-001), e.g. the response was not created with `background: true`"),
        (status = 401),
        (status = 404, description = "No response with this id was created by the caller's tenant (`KW-RESP-001`)"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn cancel(
    State(gw): State<Arc<Gateway>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Authed(caller): Authed,
) -> Result<Response, Failure> {
    let on = stored::On {
        id: &id,
        method: Method::POST,
        suffix: Some("cancel"),
        query: None,
        route: "/v1/responses/{id}/cancel",
    };
    stored::reach(&gw, &caller, &headers, on)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Counts a Responses API request's input tokens. Passed through where the
/// upstream has the route, counted locally (cl100k) where it answers 404;
/// recorded as a request with no tokens, never billed.
#[utoipa::path(post, path = "/v1/responses/input_tokens", tag = "llm",
    request_body(content = super::schemas::ResponsesRequest, description = "The request whose input is counted"),
    responses(
        (status = 200, description = "The input's token count", body = super::schemas_responses::InputTokens),
        (status = 400), (status = 401), (status = 404),
    ),
    security(("bearer" = [])))]
pub(crate) async fn input_tokens(
    State(gw): State<Arc<Gateway>>,
    AuthedBody {
        caller,
        headers,
        body,
    }: AuthedBody,
) -> Result<Response, Failure> {
    handle(&gw, &caller, &headers, body, Endpoint::ResponsesInputTokens)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}

/// Counts a Messages request's input tokens (Anthropic wire). Passed
/// through where the upstream has the route, counted locally otherwise;
/// recorded as a request with no tokens, never billed. Errors are
/// Anthropic-shaped.
#[utoipa::path(post, path = "/v1/messages/count_tokens", tag = "llm",
    request_body(content = super::schemas::MessagesRequest, description = "The messages request whose input is counted"),
    responses((status = 200, description = "The input's token count", body = super::schemas_anthropic::MessageTokenCount), (status = 400), (status = 401), (status = 404)),
    security(("x_api_key" = [])))]
pub(crate) async fn count_tokens(
    State(gw): State<Arc<Gateway>>,
    AuthedBody {
        caller,
        headers,
        body,
    }: AuthedBody,
) -> Result<Response, Failure> {
    handle(&gw, &caller, &headers, body, Endpoint::CountTokens)
        .await
        .map_err(|e| Failure(Flavor::Anthropic, e))
}

/// Creates a legacy text completion (OpenAI wire, JSON or SSE) for catalog
/// models with `mode: completion`. Metered like chat completions.
#[utoipa::path(post, path = "/v1/completions", tag = "llm",
    request_body(content = super::schemas::CompletionRequest, description = "An OpenAI legacy completions request"),
    responses(
        (status = 200, description = "The completion, as JSON or `text/event-stream` of completions with the next piece of `text` each, ending with `data: [DONE]`",
            content((super::schemas_openai::TextCompletion = "application/json"),
                (super::schemas_openai::TextCompletion = "text/event-stream"))),
        (status = 400, description = "Invalid request (KW-REQ-001, KW-REQ-002), or the model is not a completion model (KW-MODEL-002)"),
        (status = 401), (status = 404),
    ),
    security(("bearer" = [])))]
pub(crate) async fn completions(
    State(gw): State<Arc<Gateway>>,
    AuthedBody {
        caller,
        headers,
        body,
    }: AuthedBody,
) -> Result<Response, Failure> {
    handle(&gw, &caller, &headers, body, Endpoint::Completions)
        .await
        .map_err(|e| Failure(Flavor::OpenAi, e))
}
