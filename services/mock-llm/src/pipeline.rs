//! The steps every `/v1` request goes through before a route builds its reply:
//! auth, body parsing, controls, latency and error injection.

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use crate::auth::{self, Auth};
use crate::controls::{Controls, InjectedError, TIMEOUT};
use crate::errors::{Api, ErrorKind, error_response};
use crate::state::AppState;

/// A request that passed the shared steps.
pub(crate) struct Prepared {
    /// The parsed body (`Null` for routes without one).
    pub(crate) body: Value,
    pub(crate) controls: Controls,
    /// `Some` only in auth mode: the identity appended to replies.
    pub(crate) identity: Option<String>,
}

/// Runs the shared steps; `Err` is the response to send instead.
/// Order matters: auth first (a gateway test of an injected 429 still proves
/// the key arrived), then the body (controls may live in it), then latency,
/// then any injected error.
pub(crate) async fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    api: Api,
    route: &str,
) -> Result<Prepared, Response> {
    let identity = match auth::authenticate(state.config(), headers, route) {
        Auth::Off => None,
        Auth::Identified(identity) => Some(identity),
        Auth::Missing => {
            return Err(error_response(
                api,
                ErrorKind::MissingKey,
                "Missing API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`",
            ));
        }
    };

    let body = match body {
        None => Value::Null,
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(body @ Value::Object(_)) => body,
            Ok(_) => return Err(invalid(api, "Request body must be a JSON object")),
            Err(e) => {
                return Err(invalid(api, &format!("Request body is not valid JSON: {e}")));
            }
        },
    };

    let controls = Controls::resolve(state.config(), headers, body.get("mock"))
        .map_err(|message| invalid(api, &message))?;

    if !state.sleep(controls.latency).await {
        return Err(shutting_down(api));
    }
    if let Some(misbehaving) = crate::misbehave::respond(api, headers, &body, controls.error)
        .map_err(|message| invalid(api, &message))?
    {
        return Err(misbehaving);
    }
    if let Some(InjectedError::Status(kind)) = controls.error {
        return Err(error_response(api, kind, injected_message(kind)));
    }
    // Hang, then answer normally; the client (or shutdown) usually gives up first.
    if controls.error == Some(InjectedError::Timeout) && !state.sleep(TIMEOUT).await {
        return Err(shutting_down(api));
    }
    Ok(Prepared {
        body,
        controls,
        identity,
    })
}

/// A 400 in `api`'s shape.
pub(crate) fn invalid(api: Api, message: &str) -> Response {
    error_response(api, ErrorKind::InvalidRequest, message)
}

/// The request's `model`, which every generation route must echo.
pub(crate) fn model(body: &Value) -> Option<&str> {
    body.get("model").and_then(Value::as_str)
}

/// The 400 message for a missing or non-string `model`.
pub(crate) const MODEL_REQUIRED: &str = "model: a string is required";

fn shutting_down(api: Api) -> Response {
    error_response(api, ErrorKind::Unavailable, "mock-llm is shutting down")
}

fn injected_message(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "Injected bad request (mock-llm)",
        ErrorKind::MissingKey | ErrorKind::Unauthorized => "Injected invalid API key (mock-llm)",
        ErrorKind::NotFound => "Injected not found (mock-llm)",
        ErrorKind::RateLimited => "Injected rate limit: please retry after 1 second (mock-llm)",
        ErrorKind::Internal => "Injected internal server error (mock-llm)",
        ErrorKind::Unavailable => "Injected service unavailable (mock-llm)",
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    use crate::MockConfig;
    use crate::test_support::{auth_config, post, post_raw, send};

    fn chat() -> Value {
        json!({"model": "m", "messages": [{"role": "user", "content": "ping"}]})
    }

    fn anthropic() -> Value {
        json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "ping"}]})
    }

    #[tokio::test]
    async fn a_missing_key_is_a_401_in_each_api_shape() {
        let reply = send(auth_config(), post("/v1/chat/completions", &chat(), &[])).await;
        assert_eq!(reply.status, 401);
        let error = &reply.json()["error"];
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["code"], "invalid_api_key");

        let reply = send(auth_config(), post("/v1/messages", &anthropic(), &[])).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.json()["type"], "error");
        assert_eq!(reply.json()["error"]["type"], "authentication_error");
    }

    #[tokio::test]
    async fn a_known_key_appends_its_identity_to_the_reply() {
        let headers = [("authorization", "Bearer sk-alice-known-key")];
        let reply = send(auth_config(), post("/v1/chat/completions", &chat(), &headers)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.json()["choices"][0]["message"]["content"],
            "Hello from mock-llm! You said: ping [Authenticated as alice]"
        );
        // 6 reply words + "[Authenticated", "as", "alice]".
        assert_eq!(reply.json()["usage"]["completion_tokens"], 9);
    }

    #[tokio::test]
    async fn an_unknown_key_is_identified_by_its_masked_form() {
        let headers = [("x-api-key", "sk-unknown-12345678")];
        let reply = send(auth_config(), post("/v1/messages", &anthropic(), &headers)).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.json()["content"][0]["text"],
            "Hello from mock-llm! You said: ping [Authenticated as sk-u…5678]"
        );
    }

    #[tokio::test]
    async fn without_auth_mode_keys_are_ignored_and_nothing_is_appended() {
        let headers = [("authorization", "Bearer sk-alice-known-key")];
        let reply = send(
            MockConfig::default(),
            post("/v1/chat/completions", &chat(), &headers),
        )
        .await;
        assert_eq!(
            reply.json()["choices"][0]["message"]["content"],
            "Hello from mock-llm! You said: ping"
        );
    }

    #[tokio::test]
    async fn an_injected_429_carries_retry_after_in_each_api_shape() {
        let headers = [("x-mock-error", "429")];
        let reply = send(
            MockConfig::default(),
            post("/v1/chat/completions", &chat(), &headers),
        )
        .await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.headers["retry-after"], "1");
        assert_eq!(reply.json()["error"]["code"], "rate_limit_exceeded");

        let mut body = anthropic();
        body["mock"] = json!({"error": 429});
        let reply = send(MockConfig::default(), post("/v1/messages", &body, &[])).await;
        assert_eq!(reply.status, 429);
        assert_eq!(reply.headers["retry-after"], "1");
        assert_eq!(reply.json()["error"]["type"], "rate_limit_error");
    }

    #[tokio::test]
    async fn injected_server_errors_use_the_requested_status() {
        let mut body = chat();
        body["mock"] = json!({"error": "500"});
        let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
        assert_eq!(reply.status, 500);
        assert_eq!(reply.json()["error"]["type"], "server_error");

        let mut body = anthropic();
        body["mock"] = json!({"error": 503});
        let reply = send(MockConfig::default(), post("/v1/messages", &body, &[])).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.json()["error"]["type"], "overloaded_error");
        assert!(reply.headers.get("retry-after").is_none());
    }

    #[tokio::test]
    async fn the_body_control_wins_over_the_header() {
        let mut body = chat();
        body["mock"] = json!({"error": 400});
        let headers = [("x-mock-error", "500")];
        let reply = send(
            MockConfig::default(),
            post("/v1/chat/completions", &body, &headers),
        )
        .await;
        assert_eq!(reply.status, 400);
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_a_400_in_the_route_shape() {
        let request = post_raw("/v1/chat/completions", "{nope".to_owned(), &[]);
        let reply = send(MockConfig::default(), request).await;
        assert_eq!(reply.status, 400);
        let message = reply.json()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with("Request body is not valid JSON"), "{message}");

        let reply = send(
            MockConfig::default(),
            post_raw("/v1/messages", "[]".to_owned(), &[]),
        )
        .await;
        assert_eq!(reply.status, 400);
        assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
        assert_eq!(
            reply.json()["error"]["message"],
            "Request body must be a JSON object"
        );
    }

    #[tokio::test]
    async fn latency_delays_the_response() {
        let headers = [("x-mock-latency-ms", "60")];
        let started = Instant::now();
        let reply = send(
            MockConfig::default(),
            post("/v1/chat/completions", &chat(), &headers),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(60));
    }
}
