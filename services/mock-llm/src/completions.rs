//! `POST /v1/completions`: OpenAI's legacy text completions, as JSON or SSE
//! (with the usage chunk when `stream_options.include_usage` asks for it).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::errors::{Api, json_response};
use crate::pipeline::{self, MODEL_REQUIRED, invalid};
use crate::state::{AppState, unix_now};
use crate::usage;
use crate::{sse, text};

const ROUTE: &str = "/v1/completions";

/// The prompt's text: a string, or a list of strings joined by a space.
fn prompt_text(prompt: &Value) -> Option<String> {
    match prompt {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

pub(crate) async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request = match pipeline::prepare(&state, &headers, Some(&body), Api::OpenAi, ROUTE).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let body = &request.body;
    let Some(model) = pipeline::model(body) else {
        return invalid(Api::OpenAi, MODEL_REQUIRED);
    };
    let Some(prompt) = body.get("prompt").and_then(prompt_text) else {
        return invalid(Api::OpenAi, "prompt: a string or an array of strings is required");
    };
    let reply = text::build_reply(&prompt, request.identity.as_deref());
    let controls = &request.controls;
    let usage = usage::reported(text::count_words(&prompt), text::count_words(&reply), controls)
        .map(|usage| json!(usage.openai()));
    let id = format!("cmpl-mock-{}", state.next_id());
    let created = unix_now();
    let chunk = move |text: &str, finish: Option<&str>| {
        json!({"id": id, "object": "text_completion", "created": created, "model": model,
               "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]})
    };
    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        let mut completion = chunk(&reply, Some("stop"));
        if let Some(usage) = usage {
            completion["usage"] = usage;
        }
        return json_response(StatusCode::OK, &completion);
    }
    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let mut last = chunk("", Some("stop"));
    let mut tail = vec![];
    match sse::frame(None, &last) {
        Ok(frame) => tail.push(frame),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    if let Some(usage) = usage.filter(|_| include_usage) {
        last["choices"] = json!([]);
        last["usage"] = usage;
        match sse::frame(None, &last) {
            Ok(frame) => tail.push(frame),
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
    tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
    sse::response(sse::Plan {
        head: Vec::new(),
        pieces: text::split_reply(&reply, controls.chunks),
        reply,
        tail,
        delay: controls.chunk_delay,
        faults: sse::Faults::of(controls),
        shutdown: state.shutdown().clone(),
        delta: move |piece: &str| {
            let mut frame = last.clone();
            frame["choices"] = json!([{"text": piece, "index": 0, "logprobs": null, "finish_reason": null}]);
            frame.as_object_mut().map(|f| f.remove("usage"));
            sse::frame(None, &frame)
        },
    })
}

/// `POST /v1/messages/count_tokens`: Anthropic's prompt count (system and
/// messages, cache-agnostic), uncharged.
pub(crate) async fn count_message_tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let api = Api::Anthropic;
    let request =
        match pipeline::prepare(&state, &headers, Some(&body), api, "/v1/messages/count_tokens").await {
            Ok(request) => request,
            Err(response) => return response,
        };
    let Some(messages) = request.body.get("messages").and_then(Value::as_array) else {
        return invalid(api, "messages: Field required (an array)");
    };
    let system = request.body.get("system").map_or(0, text::content_words);
    let count = text::messages_words(messages) + system;
    json_response(StatusCode::OK, &json!({"input_tokens": count}))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use crate::MockConfig;
    use crate::test_support::{post, send};

    #[tokio::test]
    async fn a_completion_echoes_the_prompt_with_usage_as_json_and_sse() {
        let body = json!({"model": "instruct", "prompt": "say this"});
        let reply = send(MockConfig::default(), post("/v1/completions", &body, &[])).await;
        let json = reply.json();
        assert_eq!(json["object"], "text_completion");
        assert_eq!(
            json["choices"][0]["text"],
            "Hello from mock-llm! You said: say this"
        );
        assert_eq!(json["usage"]["prompt_tokens"], 2);
        assert_eq!(json["usage"]["completion_tokens"], 7);

        let body = json!({"model": "instruct", "prompt": ["say", "this"], "stream": true,
                          "stream_options": {"include_usage": true}});
        let reply = send(MockConfig::default(), post("/v1/completions", &body, &[])).await;
        let events = reply.events();
        let text: String = events
            .iter()
            .filter_map(|(_, d)| d.pointer("/choices/0/text")?.as_str())
            .collect();
        assert_eq!(text, "Hello from mock-llm! You said: say this");
        let usage = &events[events.len() - 2].1;
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 7);
        assert_eq!(events.last().unwrap().1, json!("[DONE]"));
        assert!(events[0].1.get("usage").is_none());
    }

    #[tokio::test]
    async fn count_tokens_counts_system_and_messages() {
        let body = json!({"model": "m", "system": "be terse", "messages": [{"role": "user", "content": "one two three"}]});
        let reply = send(
            MockConfig::default(),
            post("/v1/messages/count_tokens", &body, &[]),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), json!({"input_tokens": 5}));
        let reply = send(
            MockConfig::default(),
            post("/v1/messages/count_tokens", &json!({"model": "m"}), &[]),
        )
        .await;
        assert_eq!(reply.json()["type"], "error");
    }
}
