//! Refusals in each API's own shape, with stable codes, and never a 500.

use serde_json::{Value, json};

use crate::helpers::{TestStack, chat};

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn missing_or_wrong_keys_get_401_in_the_routes_own_shape() {
    let stack = TestStack::spawn().await;
    let (status, body) = error_of(
        stack
            .http
            .post(stack.url("/v1/chat/completions"))
            .json(&chat("mock-gpt", "x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-001");

    let (status, body) = error_of(
        stack
            .http
            .post(stack.url("/v1/chat/completions"))
            .bearer_auth("kw_wrong")
            .json(&chat("mock-gpt", "x"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["keyway_code"], "KW-AUTH-002");

    let (status, body) = error_of(
        stack
            .http
            .post(stack.url("/v1/messages"))
            .header("x-api-key", "kw_wrong")
            .json(&json!({}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
}

#[tokio::test]
async fn bad_requests_are_400_and_name_the_problem() {
    let stack = TestStack::spawn().await;
    let raw = stack
        .http
        .post(stack.url("/v1/chat/completions"))
        .bearer_auth(&stack.admin_key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(raw).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["keyway_code"], "KW-REQ-001");

    let (status, body) = error_of(
        stack
            .post("/v1/chat/completions", json!({"model": "mock-gpt"}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("`messages`"));

    let (status, body) = error_of(
        stack
            .post(
                "/v1/messages",
                json!({"model": "mock-claude", "messages": [{"role": "user", "content": "x"}]}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`max_tokens`")
    );
}

#[tokio::test]
async fn unknown_models_wrong_routes_and_missing_provider_keys_are_explained() {
    let stack = TestStack::spawn().await;
    let (status, body) = error_of(stack.post("/v1/chat/completions", chat("gpt-nope", "x")).await).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );

    // Chat models are served on both chat routes (translated); an
    // embedding model is served on its own route only.
    let (status, body) = error_of(stack.post("/v1/chat/completions", chat("mock-embed", "x")).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["keyway_code"], "KW-MODEL-002");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/embeddings")
    );

    let (status, body) = error_of(
        stack
            .post("/v1/chat/completions", chat("mock-gpt-byok", "x"))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "key_required");
    assert_eq!(body["error"]["keyway_code"], "KW-KEY-001");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let stack = TestStack::spawn_with(&[("KEYWAY_MAX_BODY_BYTES", "2048")]).await;
    let (status, body) = error_of(
        stack
            .post("/v1/chat/completions", chat("mock-gpt", &"word ".repeat(1000)))
            .await,
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["keyway_code"], "KW-REQ-003");
    let anthropic = json!({"model": "mock-claude", "max_tokens": 5, "messages": [{"role": "user", "content": "word ".repeat(1000)}]});
    let (status, body) = error_of(stack.post("/v1/messages", anthropic).await).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (413, Some("request_too_large"))
    );
}

#[tokio::test]
async fn upstream_refusals_pass_through_and_upstream_failures_become_502() {
    let stack = TestStack::spawn().await;
    let mut limited = chat("mock-gpt", "x");
    limited["mock"] = json!({"error": "429"});
    let response = stack.post("/v1/chat/completions", limited).await;
    assert_eq!(response.headers().get("retry-after").unwrap(), "1");
    let (status, body) = error_of(response).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["keyway_code"], "KW-UP-001");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream provider refused")
    );

    let mut refused =
        json!({"model": "mock-claude", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
    refused["mock"] = json!({"error": "400"});
    let (status, body) = error_of(stack.post("/v1/messages", refused).await).await;
    assert_eq!((status, body["type"].as_str()), (400, Some("error")));
    assert_eq!(body["error"]["keyway_code"], "KW-UP-001");

    for injected in ["500", "503"] {
        let mut broken = chat("mock-gpt", "x");
        broken["mock"] = json!({"error": injected});
        let (status, body) = error_of(stack.post("/v1/chat/completions", broken).await).await;
        assert_eq!(status, 502, "upstream {injected}");
        assert_eq!(body["error"]["keyway_code"], "KW-UP-002");
    }
}

#[tokio::test]
async fn a_slow_upstream_is_504_and_an_unreachable_one_is_502() {
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("models.yaml");
    std::fs::write(
        &catalog,
        format!(
            "models:\n  slow:\n    provider: openai\n    upstream_model: mock-model\n    base_url: ${{KEYWAY_MOCK_URL}}/v1\n    key_source: [system]\n    api_key_env: KEYWAY_MOCK_SYSTEM_KEY\n  gone:\n    provider: openai\n    upstream_model: m\n    base_url: http://127.0.0.1:{closed_port}/v1\n    key_source: [system]\n    api_key_env: KEYWAY_MOCK_SYSTEM_KEY\n"
        ),
    )
    .unwrap();
    let stack = TestStack::spawn_with(&[
        ("KEYWAY_MODELS", catalog.to_str().unwrap()),
        ("KEYWAY_UPSTREAM_TIMEOUT_MS", "1000"),
    ])
    .await;
    let mut slow = chat("slow", "x");
    slow["mock"] = json!({"error": "timeout"});
    let (status, body) = error_of(stack.post("/v1/chat/completions", slow).await).await;
    assert_eq!(
        (status, body["error"]["keyway_code"].as_str()),
        (504, Some("KW-UP-003"))
    );

    let (status, body) = error_of(stack.post("/v1/chat/completions", chat("gone", "x")).await).await;
    assert_eq!(
        (status, body["error"]["keyway_code"].as_str()),
        (502, Some("KW-UP-002"))
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_not_an_empty_body() {
    let stack = TestStack::spawn().await;
    let (status, body) = error_of(stack.http.get(stack.url("/v1/nothing")).send().await.unwrap()).await;
    assert_eq!(
        (status, body["error"]["keyway_code"].as_str()),
        (404, Some("KW-REQ-004"))
    );
    let (status, body) = error_of(
        stack
            .http
            .get(stack.url("/v1/chat/completions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 405);
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn no_malformed_input_produces_a_500() {
    let stack = TestStack::spawn().await;
    let bodies = [
        "",
        "null",
        "1",
        "\"s\"",
        "[]",
        "{}",
        "{\"model\":1}",
        "{\"model\":\"mock-gpt\",\"messages\":\"x\"}",
        "{\"model\":\"mock-gpt\",\"messages\":[1,2]}",
        "{\"model\":\"mock-gpt\",\"messages\":[{}],\"stream\":1}",
        "{\"model\":\"mock-embed\",\"input\":{}}",
        "\u{0}\u{1}",
        "{\"model\":\"mock-claude\",\"max_tokens\":-1,\"messages\":[{}]}",
    ];
    for path in ["/v1/chat/completions", "/v1/embeddings", "/v1/messages"] {
        for body in bodies {
            let response = stack
                .http
                .post(stack.url(path))
                .bearer_auth(&stack.admin_key)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            assert!(status < 500, "{path} {body:?} gave {status}");
            let json: Value = response.json().await.unwrap_or(Value::Null);
            assert!(!json.is_null(), "{path} {body:?} answered without a JSON error");
        }
    }
}
