//! Route tests for `POST /v1/chat/completions`.
#![expect(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::MockConfig;
use crate::test_support::{post, send, send_until_error};

fn chat(extra: Value) -> Value {
    let mut body = json!({
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "tell me"}, {"type": "text", "text": "a joke"}]}
        ]
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
    }
    body
}

/// Concatenated `delta.content` of every chunk, and how many content deltas there were.
fn deltas(events: &[(Option<String>, Value)]) -> (String, usize) {
    let contents: Vec<&str> = events
        .iter()
        .filter_map(|(_, data)| data.pointer("/choices/0/delta/content")?.as_str())
        .filter(|content| !content.is_empty()) // the role chunk's ""
        .collect();
    (contents.concat(), contents.len())
}

#[tokio::test]
async fn a_json_chat_echoes_the_last_user_message_with_word_counted_usage() {
    let reply = send(
        MockConfig::default(),
        post("/v1/chat/completions", &chat(json!({})), &[]),
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-test");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-mock-"));
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from mock-llm! You said: tell me a joke"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["choices"][0]["logprobs"], Value::Null);
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 6, "completion_tokens": 9, "total_tokens": 15,
               "prompt_tokens_details": {"cached_tokens": 0}})
    );
}

#[tokio::test]
async fn requested_cached_tokens_are_reported_inside_prompt_tokens() {
    let body = chat(json!({"mock": {"cached_tokens": 2}}));
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    let usage = &reply.json()["usage"];
    assert_eq!(usage["prompt_tokens"], 6);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 2);
}

#[tokio::test]
async fn omit_usage_drops_the_usage_object() {
    let headers = [("x-mock-omit-usage", "true")];
    let reply = send(
        MockConfig::default(),
        post("/v1/chat/completions", &chat(json!({})), &headers),
    )
    .await;
    let body = reply.json();
    assert!(body.get("usage").is_none());
    assert!(body.get("choices").is_some());
}

#[tokio::test]
async fn streamed_deltas_concatenate_to_the_json_reply() {
    let body = chat(json!({"stream": true}));
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "text/event-stream");
    let events = reply.events();
    let (text, _) = deltas(&events);
    assert_eq!(text, "Hello from mock-llm! You said: tell me a joke");

    let first = &events[0].1;
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["model"], "gpt-test");
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    // role chunk + one delta per word (9) + finish chunk + [DONE]; no usage chunk.
    assert_eq!(events.len(), 12);
    assert_eq!(events[1].1["choices"][0]["delta"], json!({"content": "Hello"}));
    assert_eq!(events[2].1["choices"][0]["delta"], json!({"content": " from"}));
    let finish = &events[10].1;
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[11].1, "[DONE]");
    assert!(events.iter().all(|(_, data)| data.get("usage").is_none()));
}

#[tokio::test]
async fn the_usage_chunk_is_sent_only_when_include_usage_is_set() {
    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    let events = reply.events();
    let usage_chunk = &events[events.len() - 2].1;
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 6);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 9);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 15);
    assert_eq!(events[events.len() - 1].1, "[DONE]");
    // As OpenAI does: every other chunk carries `"usage": null`.
    for (_, chunk) in &events[..events.len() - 2] {
        assert_eq!(chunk.get("usage"), Some(&Value::Null), "{chunk}");
    }

    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true},
                           "mock": {"omit_usage": true}}));
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    assert!(reply.events().iter().all(|(_, data)| data.get("usage").is_none()));
}

#[tokio::test]
async fn the_chunks_control_splits_the_reply_into_that_many_deltas() {
    let body = chat(json!({"stream": true, "mock": {"chunks": 3}}));
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    let (text, count) = deltas(&reply.events());
    assert_eq!(count, 3);
    assert_eq!(text, "Hello from mock-llm! You said: tell me a joke");
}

#[tokio::test]
async fn error_after_chunks_breaks_the_stream_before_the_finish_chunk() {
    let body = chat(json!({"stream": true, "mock": {"error_after_chunks": 2}}));
    let (bytes, failed) =
        send_until_error(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    assert!(failed, "the body must end in an error");
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.matches("data: ").count(), 3, "role chunk + 2 deltas: {text}");
    assert!(text.contains("\"content\":\" from\""));
    assert!(!text.contains("finish_reason\":\"stop"));
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn a_chat_without_messages_is_a_400_in_openai_shape() {
    let body = json!({"model": "gpt-test"});
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    assert_eq!(reply.status, 400);
    let error = &reply.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["message"], "messages: an array is required");
    assert_eq!(error["param"], Value::Null);
    assert_eq!(error["code"], Value::Null);

    let body = json!({"model": 7, "messages": []});
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["message"], "model: a string is required");
}
