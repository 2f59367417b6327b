//! Gemini's OpenAI-compatible endpoint: `/v1beta/openai/…` with the API key
//! as a bearer token only (an `x-api-key` is refused, so a test proves the
//! gateway sent `Authorization: Bearer`). The answers are the OpenAI routes'
//! own; cached prompt tokens (the `cached_tokens` control) are reported in
//! `usage.prompt_tokens_details.cached_tokens`, as Gemini does.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;

use crate::errors::json_response;
use crate::state::AppState;
use crate::{embeddings, models, openai};

pub(crate) async fn chat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match bearer_only(headers) {
        Ok(headers) => openai::chat_completions(State(state), headers, body).await,
        Err(refused) => *refused,
    }
}

pub(crate) async fn embed(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match bearer_only(headers) {
        Ok(headers) => embeddings::create(State(state), headers, body).await,
        Err(refused) => *refused,
    }
}

pub(crate) async fn list_models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match bearer_only(headers) {
        Ok(headers) => models::list(State(state), headers).await,
        Err(refused) => *refused,
    }
}

fn bearer_only(mut headers: HeaderMap) -> Result<HeaderMap, Box<Response>> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > "Bearer ".len() && v.starts_with("Bearer "));
    if !bearer {
        // Gemini answers a missing key with a list of one error.
        return Err(Box::new(json_response(
            StatusCode::UNAUTHORIZED,
            &json!([{"error": {"code": 401, "status": "UNAUTHENTICATED",
                "message": "Missing or invalid Authorization header: send `Authorization: Bearer <GEMINI_API_KEY>`."}}]),
        )));
    }
    headers.remove("x-api-key");
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MockConfig;
    use crate::test_support::{post, send};

    #[tokio::test]
    async fn only_a_bearer_key_is_accepted_and_cached_tokens_are_reported() {
        let body = json!({"model": "gemini-2.0-flash", "messages": [{"role": "user", "content": "a b c"}],
            "mock": {"cached_tokens": 2}});
        let uri = "/v1beta/openai/chat/completions";
        let reply = send(
            MockConfig::default(),
            post(uri, &body, &[("authorization", "Bearer g")]),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.json()["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
        let refused = send(MockConfig::default(), post(uri, &body, &[("x-api-key", "g")])).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.json()[0]["error"]["status"], "UNAUTHENTICATED");
    }
}
