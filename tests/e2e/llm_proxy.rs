//! The proxy path: OpenAI and Anthropic routes, JSON and SSE, through the
//! gateway to the in-process mock upstream (auth mode on).

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{TestStack, chat};

#[tokio::test]
async fn a_chat_completion_reaches_the_mock_with_the_system_key_and_returns_its_usage() {
    let stack = TestStack::spawn().await;
    let response = stack
        .post("/v1/chat/completions", chat("mock-gpt", "hello keyway"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from mock-llm! You said: hello keyway [Authenticated as keyway-system]"
    );
    assert_eq!(body["usage"]["prompt_tokens"], 2);
    assert_eq!(body["usage"]["completion_tokens"], 10);
}

#[tokio::test]
async fn a_streamed_chat_is_passed_through_chunk_by_chunk_as_it_is_produced() {
    let stack = TestStack::spawn().await;
    let mut body = chat("mock-gpt", "stream please");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    // Six deltas 250 ms apart: a buffering proxy would deliver everything at the end.
    body["mock"] = json!({"chunks": 6, "chunk_delay_ms": 250});
    let started = Instant::now();
    let response = stack.post("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let mut first_chunk_at = None;
    while let Some(chunk) = stream.next().await {
        first_chunk_at.get_or_insert_with(|| started.elapsed());
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    let total = started.elapsed();
    let first = first_chunk_at.unwrap();
    assert!(
        total - first >= Duration::from_millis(750),
        "the first bytes arrived only {:?} before the end ({first:?} of {total:?}): the stream was buffered",
        total - first
    );
    let events: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        content,
        "Hello from mock-llm! You said: stream please [Authenticated as keyway-system]"
    );
    let usage: Vec<&Value> = events
        .iter()
        .filter(|e| !e["usage"].is_null())
        .map(|e| &e["usage"])
        .collect();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["completion_tokens"], 10);
    assert!(text.trim_end().ends_with("data: [DONE]"));
}

#[tokio::test]
async fn an_anthropic_message_and_its_stream_come_back_in_anthropic_shape() {
    let stack = TestStack::spawn().await;
    let request = json!({"model": "mock-claude", "max_tokens": 64, "messages": [{"role": "user", "content": "hi claude"}]});
    let response = stack
        .http
        .post(stack.url("/v1/messages"))
        .header("x-api-key", &stack.admin_key)
        .header("anthropic-version", "2023-06-01")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(
        body["content"][0]["text"],
        "Hello from mock-llm! You said: hi claude [Authenticated as keyway-system]"
    );
    assert_eq!(body["usage"]["input_tokens"], 2);

    let mut streaming = request.clone();
    streaming["stream"] = json!(true);
    let text = stack
        .http
        .post(stack.url("/v1/messages"))
        .header("x-api-key", &stack.admin_key)
        .json(&streaming)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("event: ")).collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert!(events.contains(&"content_block_delta"));
    assert!(events.contains(&"message_delta"));
    assert_eq!(events.last(), Some(&"message_stop"));
}

#[tokio::test]
async fn embeddings_are_proxied() {
    let stack = TestStack::spawn().await;
    let response = stack
        .post(
            "/v1/embeddings",
            json!({"model": "mock-embed", "input": ["one two", "three"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(body["usage"]["prompt_tokens"], 3);
}

#[tokio::test]
async fn models_are_listed_in_the_shape_the_client_speaks() {
    let stack = TestStack::spawn().await;
    let openai: Value = stack
        .http
        .get(stack.url("/v1/models"))
        .bearer_auth(&stack.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openai["object"], "list");
    let ids: Vec<&str> = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "mock-claude",
            "mock-claude-lenient",
            "mock-compat",
            "mock-embed",
            "mock-gpt",
            "mock-gpt-byok",
            "mock-instruct"
        ]
    );
    let byok = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock-gpt-byok")
        .unwrap();
    assert_eq!(
        byok["keyway"],
        json!({"key_source": ["user"], "key_required": true})
    );
    let gpt = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "mock-gpt")
        .unwrap();
    assert_eq!(
        gpt["keyway"],
        json!({"key_source": ["system"], "key_required": false})
    );

    let anthropic: Value = stack
        .http
        .get(stack.url("/v1/models"))
        .header("x-api-key", &stack.admin_key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["first_id"], "mock-claude");
    assert_eq!(anthropic["has_more"], false);
}

/// An upstream of the test's own that streams forever and records when the
/// gateway hangs up on it.
async fn endless_upstream() -> (String, tokio::sync::oneshot::Receiver<()>) {
    use axum::{Router, body::Body, routing::post};
    struct SignalOnDrop(Option<tokio::sync::oneshot::Sender<()>>);
    impl Drop for SignalOnDrop {
        fn drop(&mut self) {
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
        }
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let guard = std::sync::Arc::new(std::sync::Mutex::new(Some(SignalOnDrop(Some(tx)))));
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let guard = guard.lock().unwrap().take();
            async move {
                let ticks = futures::stream::unfold(guard, |guard| async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    let chunk = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"}}]}\n\n";
                    Some((Ok::<_, std::io::Error>(chunk), guard))
                });
                axum::response::Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from_stream(ticks))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), rx)
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_upstream_call() {
    let (upstream, hung_up) = endless_upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("models.yaml");
    std::fs::write(
        &catalog,
        format!(
            "models:\n  endless:\n    provider: openai\n    upstream_model: e\n    base_url: {upstream}\n    key_source: [system]\n    api_key_env: ENDLESS_KEY\n"
        ),
    )
    .unwrap();
    let stack = TestStack::spawn_with(&[
        ("KEYWAY_MODELS", catalog.to_str().unwrap()),
        ("ENDLESS_KEY", "sk-endless"),
    ])
    .await;
    let mut body = chat("endless", "go");
    body["stream"] = json!(true);
    let response = stack.post("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    assert!(stream.next().await.unwrap().is_ok());
    drop(stream);
    tokio::time::timeout(Duration::from_secs(10), hung_up)
        .await
        .expect("the upstream stream was not dropped within 10 s of the client leaving")
        .unwrap();
}
