//! `GET /v1/models`: the model list, in OpenAI shape or, when the request
//! carries `anthropic-version`, in Anthropic shape. BYOK "test key" calls this.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;

use crate::errors::{Api, json_response};
use crate::pipeline;
use crate::state::AppState;

const ROUTE: &str = "/v1/models";

/// `(id, display name)` of every model the mock serves.
const MODELS: [(&str, &str); 3] = [
    ("mock-model", "Mock Model"),
    ("mock-claude-model", "Mock Claude Model"),
    ("mock-embed-model", "Mock Embed Model"),
];

#[derive(Serialize)]
struct OpenAiList {
    object: &'static str,
    data: [OpenAiModel; 3],
}

#[derive(Serialize)]
struct OpenAiModel {
    id: &'static str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct AnthropicList {
    data: [AnthropicModel; 3],
    has_more: bool,
    first_id: &'static str,
    last_id: &'static str,
}

#[derive(Serialize)]
struct AnthropicModel {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'static str,
    display_name: &'static str,
    created_at: &'static str,
}

pub(crate) async fn list(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let api = if headers.contains_key("anthropic-version") {
        Api::Anthropic
    } else {
        Api::OpenAi
    };
    if let Err(response) = pipeline::prepare(&state, &headers, None, api, ROUTE).await {
        return response;
    }
    match api {
        Api::OpenAi => json_response(
            StatusCode::OK,
            &OpenAiList {
                object: "list",
                data: MODELS.map(|(id, _)| OpenAiModel {
                    id,
                    object: "model",
                    created: 1_700_000_000,
                    owned_by: "mock-llm",
                }),
            },
        ),
        Api::Anthropic => json_response(
            StatusCode::OK,
            &AnthropicList {
                data: MODELS.map(|(id, display_name)| AnthropicModel {
                    kind: "model",
                    id,
                    display_name,
                    created_at: "2024-01-01T00:00:00Z",
                }),
                has_more: false,
                first_id: MODELS[0].0,
                last_id: MODELS[2].0,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use serde_json::json;

    use crate::MockConfig;
    use crate::test_support::{auth_config, send};

    fn get(headers: &[(&str, &str)]) -> Request<Body> {
        let mut builder = Request::get("/v1/models");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::empty()).unwrap_or_default()
    }

    #[tokio::test]
    async fn models_are_listed_in_openai_shape_by_default() {
        let reply = send(MockConfig::default(), get(&[])).await;
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert_eq!(body["object"], "list");
        assert_eq!(
            body["data"][0],
            json!({"id": "mock-model", "object": "model", "created": 1_700_000_000, "owned_by": "mock-llm"})
        );
        let ids: Vec<&str> = body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str())
            .collect();
        assert_eq!(ids, ["mock-model", "mock-claude-model", "mock-embed-model"]);
    }

    #[tokio::test]
    async fn an_anthropic_version_header_switches_to_anthropic_shape() {
        let reply = send(MockConfig::default(), get(&[("anthropic-version", "2023-06-01")])).await;
        let body = reply.json();
        assert_eq!(
            body["data"][1],
            json!({"type": "model", "id": "mock-claude-model", "display_name": "Mock Claude Model",
                   "created_at": "2024-01-01T00:00:00Z"})
        );
        assert_eq!(body["has_more"], false);
        assert_eq!(body["first_id"], "mock-model");
        assert_eq!(body["last_id"], "mock-embed-model");
    }

    #[tokio::test]
    async fn listing_models_requires_a_key_in_auth_mode() {
        let reply = send(auth_config(), get(&[("anthropic-version", "2023-06-01")])).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.json()["error"]["type"], "authentication_error");
        let reply = send(auth_config(), get(&[("x-api-key", "sk-some-other-key")])).await;
        assert_eq!(reply.status, 200);
    }
}
