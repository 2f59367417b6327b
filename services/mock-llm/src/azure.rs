//! Azure OpenAI's shape: the resource's `api-key` header (a bearer token is
//! refused, so a test proves the gateway sent the Azure header), both URL
//! styles — `/openai/deployments/{deployment}/…?api-version=…` and
//! `/openai/v1/…` — and the content filter, tripped by a prompt holding
//! [`CONTENT_FILTER_TRIGGER`] with Azure's 400 `content_filter` error.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::json;

use crate::errors::json_response;
use crate::state::AppState;
use crate::{embeddings, models, openai};

/// A prompt containing this is refused by the mock's content filter.
pub const CONTENT_FILTER_TRIGGER: &str = "[azure-content-filter]";

pub(crate) async fn deployment_chat(
    State(state): State<AppState>,
    Path(_deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = require_api_version(&query) {
        return *refused;
    }
    v1_chat(State(state), headers, body).await
}

pub(crate) async fn deployment_embeddings(
    State(state): State<AppState>,
    Path(_deployment): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = require_api_version(&query) {
        return *refused;
    }
    v1_embeddings(State(state), headers, body).await
}

pub(crate) async fn v1_chat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let headers = match api_key(headers) {
        Ok(h) => h,
        Err(refused) => return *refused,
    };
    if std::str::from_utf8(&body).is_ok_and(|b| b.contains(CONTENT_FILTER_TRIGGER)) {
        return content_filter();
    }
    openai::chat_completions(State(state), headers, body).await
}

pub(crate) async fn v1_embeddings(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match api_key(headers) {
        Ok(headers) => embeddings::create(State(state), headers, body).await,
        Err(refused) => *refused,
    }
}

/// `GET /openai/v1/models`, the BYOK key test's call.
pub(crate) async fn v1_models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match api_key(headers) {
        Ok(headers) => models::list(State(state), headers).await,
        Err(refused) => *refused,
    }
}

/// Azure authenticates the resource key from `api-key`; the shared
/// pipeline reads keys from `x-api-key`, so the key moves there.
/// The refusal is boxed: a `Response` is large beside a `HeaderMap`.
fn api_key(mut headers: HeaderMap) -> Result<HeaderMap, Box<Response>> {
    let key = headers
        .get("api-key")
        .filter(|k| !k.is_empty())
        .cloned()
        .ok_or_else(|| {
            Box::new(error(
                StatusCode::UNAUTHORIZED,
                "401",
                "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.",
            ))
        })?;
    headers.remove(axum::http::header::AUTHORIZATION);
    headers.insert("x-api-key", key);
    Ok(headers)
}

fn require_api_version(query: &HashMap<String, String>) -> Result<(), Box<Response>> {
    match query.get("api-version") {
        Some(v) if !v.is_empty() => Ok(()),
        _ => Err(Box::new(error(
            StatusCode::NOT_FOUND,
            "404",
            "Resource not found: the deployment URL style needs ?api-version=",
        ))),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, &json!({"error": {"code": code, "message": message}}))
}

fn content_filter() -> Response {
    let filtered = |severity: &str| json!({"filtered": severity != "safe", "severity": severity});
    let mut response = json_response(
        StatusCode::BAD_REQUEST,
        &json!({"error": {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            "type": null,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": filtered("safe"),
                    "jailbreak": {"filtered": false, "detected": false},
                    "self_harm": filtered("safe"),
                    "sexual": filtered("safe"),
                    "violence": filtered("high"),
                }
            }
        }}),
    );
    response
        .headers_mut()
        .insert("x-ms-region", HeaderValue::from_static("mock"));
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::MockConfig;
    use crate::test_support::{post, send};

    fn chat(text: &str) -> serde_json::Value {
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]})
    }

    #[tokio::test]
    async fn both_url_styles_answer_with_the_api_key_header() {
        for uri in [
            "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
            "/openai/v1/chat/completions",
        ] {
            let reply = send(MockConfig::default(), post(uri, &chat("hi"), &[("api-key", "k")])).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {}", reply.text());
            assert_eq!(reply.json()["object"], "chat.completion");
        }
    }

    #[tokio::test]
    async fn a_bearer_token_or_a_missing_api_version_is_refused() {
        let bearer = post(
            "/openai/v1/chat/completions",
            &chat("hi"),
            &[("authorization", "Bearer k")],
        );
        assert_eq!(
            send(MockConfig::default(), bearer).await.status,
            StatusCode::UNAUTHORIZED
        );
        let unversioned = post(
            "/openai/deployments/d/chat/completions",
            &chat("hi"),
            &[("api-key", "k")],
        );
        assert_eq!(
            send(MockConfig::default(), unversioned).await.status,
            StatusCode::NOT_FOUND
        );
    }

    #[tokio::test]
    async fn the_trigger_trips_azures_content_filter_error() {
        let request = post(
            "/openai/v1/chat/completions",
            &chat(CONTENT_FILTER_TRIGGER),
            &[("api-key", "k")],
        );
        let reply = send(MockConfig::default(), request).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let error = &reply.json()["error"];
        assert_eq!(error["code"], "content_filter");
        assert_eq!(
            error["innererror"]["content_filter_result"]["violence"]["filtered"],
            true
        );
    }
}
