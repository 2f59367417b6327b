//! `POST /v1/messages`: the Anthropic Messages API, as JSON or SSE events in
//! the order the official SDKs' stream accumulators expect.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::errors::{Api, json_response};
use crate::pipeline::{self, MODEL_REQUIRED, invalid};
use crate::state::AppState;
use crate::usage::{self, AnthropicUsage, Usage};
use crate::{sse, text, tools};

const ROUTE: &str = "/v1/messages";

#[derive(Serialize)]
struct MessageBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: &'a [TextBlock<'a>],
    stop_reason: Option<&'static str>,
    stop_sequence: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<AnthropicUsage>,
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// One streaming event body; `type` duplicates the SSE event name, as the API does.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Event<'a> {
    MessageStart {
        message: MessageBody<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: TextBlock<'a>,
    },
    Ping,
    ContentBlockDelta {
        index: u32,
        delta: TextDelta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: StopDelta,
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<OutputUsage>,
    },
    MessageStop,
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::Ping => "ping",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
        }
    }

    fn frame(&self) -> std::io::Result<Bytes> {
        sse::frame(Some(self.name()), self)
    }
}

#[derive(Serialize)]
struct TextDelta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
struct StopDelta {
    stop_reason: &'static str,
    stop_sequence: Option<()>,
}

#[derive(Serialize)]
struct OutputUsage {
    output_tokens: u64,
    /// The real API reports server tool use in the final delta.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_tool_use: Option<crate::usage::ServerToolUse>,
}

pub(crate) async fn messages(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let api = Api::Anthropic;
    let request = match pipeline::prepare(&state, &headers, Some(&body), api, ROUTE).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let body = &request.body;
    let Some(model) = pipeline::model(body) else {
        return invalid(api, MODEL_REQUIRED);
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return invalid(api, "messages: Field required (an array)");
    };
    if body.get("max_tokens").and_then(Value::as_u64).is_none() {
        return invalid(api, "max_tokens: Field required (a non-negative integer)");
    }

    let controls = &request.controls;
    let seed = state.next_id();
    let calls = tools::calls(body, api, seed);
    if !calls.is_empty() {
        return tools::anthropic::respond(body, model, controls, &calls, seed);
    }
    let said = tools::result_text(messages, api).unwrap_or_else(|| text::last_user_text(messages));
    let reply = text::build_reply(&said, request.identity.as_deref());
    let system_words = body.get("system").map_or(0, text::content_words);
    let usage = usage::reported(
        text::messages_words(messages) + system_words,
        text::count_words(&reply),
        controls,
    );
    let id = format!("msg_mock_{seed}");
    let streaming = body.get("stream").and_then(Value::as_bool) == Some(true);

    if !streaming {
        let message = MessageBody {
            id: &id,
            kind: "message",
            role: "assistant",
            model,
            content: &[TextBlock {
                kind: "text",
                text: &reply,
            }],
            stop_reason: Some("end_turn"),
            stop_sequence: None,
            usage: usage.map(Usage::anthropic),
        };
        return json_response(StatusCode::OK, &message);
    }

    let (head, tail) = match stream_frames(&id, model, usage) {
        Ok(frames) => frames,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    sse::response(sse::Plan {
        head,
        pieces: text::split_reply(&reply, controls.chunks),
        reply,
        tail,
        delay: controls.chunk_delay,
        faults: sse::Faults::of(controls),
        shutdown: state.shutdown().clone(),
        delta: |text: &str| {
            let delta = TextDelta {
                kind: "text_delta",
                text,
            };
            Event::ContentBlockDelta { index: 0, delta }.frame()
        },
    })
}

/// The frames around the text deltas of a streamed message: before them
/// `message_start`, `content_block_start` and a ping; after them the block's
/// stop, `message_delta` with the stop reason and usage, and `message_stop`.
fn stream_frames(id: &str, model: &str, usage: Option<Usage>) -> std::io::Result<(Vec<Bytes>, Vec<Bytes>)> {
    // Like the real API: message_start reports the prompt and a placeholder
    // output of 1; message_delta carries the final output count.
    let start_usage = usage.map(|u| AnthropicUsage {
        output_tokens: 1,
        ..u.anthropic()
    });
    let start = Event::MessageStart {
        message: MessageBody {
            id,
            kind: "message",
            role: "assistant",
            model,
            content: &[],
            stop_reason: None,
            stop_sequence: None,
            usage: start_usage,
        },
    };
    let block_start = Event::ContentBlockStart {
        index: 0,
        content_block: TextBlock {
            kind: "text",
            text: "",
        },
    };
    let head = vec![start.frame()?, block_start.frame()?, Event::Ping.frame()?];
    let message_delta = Event::MessageDelta {
        delta: StopDelta {
            stop_reason: "end_turn",
            stop_sequence: None,
        },
        usage: usage.map(|u| OutputUsage {
            output_tokens: u.output,
            server_tool_use: u.anthropic().server_tool_use,
        }),
    };
    let tail = vec![
        Event::ContentBlockStop { index: 0 }.frame()?,
        message_delta.frame()?,
        Event::MessageStop.frame()?,
    ];
    Ok((head, tail))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};

    use crate::MockConfig;
    use crate::test_support::{post, send};

    fn request(extra: Value) -> Value {
        let mut body = json!({
            "model": "claude-test",
            "max_tokens": 64,
            "system": [{"type": "text", "text": "you are terse"}],
            "messages": [{"role": "user", "content": "hi there"}]
        });
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    }

    const REPLY: &str = "Hello from mock-llm! You said: hi there";

    #[tokio::test]
    async fn a_json_message_counts_system_words_and_excludes_cached_from_input() {
        let body = request(json!({"mock": {"cached_tokens": 2}}));
        let reply = send(MockConfig::default(), post("/v1/messages", &body, &[])).await;
        assert_eq!(reply.status, 200);
        let body = reply.json();
        assert!(body["id"].as_str().unwrap().starts_with("msg_mock_"));
        assert_eq!(body["type"], "message");
        assert_eq!(body["role"], "assistant");
        assert_eq!(body["model"], "claude-test");
        assert_eq!(body["content"], json!([{"type": "text", "text": REPLY}]));
        assert_eq!(body["stop_reason"], "end_turn");
        assert_eq!(body["stop_sequence"], Value::Null);
        // 3 system words + 2 message words = 5, of which 2 cached.
        assert_eq!(
            body["usage"],
            json!({"input_tokens": 3, "output_tokens": 7, "cache_read_input_tokens": 2})
        );
    }

    #[tokio::test]
    async fn the_stream_sends_events_in_sdk_order_with_usage() {
        let reply = send(
            MockConfig::default(),
            post("/v1/messages", &request(json!({"stream": true})), &[]),
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers["content-type"], "text/event-stream");
        let events = reply.events();
        let names: Vec<&str> = events.iter().map(|(name, _)| name.as_deref().unwrap()).collect();
        let mut expected = vec!["message_start", "content_block_start", "ping"];
        expected.extend(["content_block_delta"; 7]);
        expected.extend(["content_block_stop", "message_delta", "message_stop"]);
        assert_eq!(names, expected);
        for (name, data) in &events {
            assert_eq!(
                data["type"],
                name.as_deref().unwrap(),
                "type mirrors the event name"
            );
        }

        let start = &events[0].1["message"];
        assert_eq!(start["model"], "claude-test");
        assert_eq!(start["content"], json!([]));
        assert_eq!(start["stop_reason"], Value::Null);
        assert_eq!(
            start["usage"],
            json!({"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 0})
        );
        assert_eq!(events[1].1["content_block"], json!({"type": "text", "text": ""}));
        let text: String = events
            .iter()
            .filter_map(|(_, data)| data.pointer("/delta/text")?.as_str())
            .collect();
        assert_eq!(text, REPLY);
        assert_eq!(
            events[3].1["delta"],
            json!({"type": "text_delta", "text": "Hello"})
        );
        let message_delta = &events[11].1;
        assert_eq!(
            message_delta["delta"],
            json!({"stop_reason": "end_turn", "stop_sequence": null})
        );
        assert_eq!(message_delta["usage"], json!({"output_tokens": 7}));
    }

    #[tokio::test]
    async fn omit_usage_removes_usage_keys_from_the_stream() {
        let body = request(json!({"stream": true, "mock": {"omit_usage": true}}));
        let reply = send(MockConfig::default(), post("/v1/messages", &body, &[])).await;
        let events = reply.events();
        assert_eq!(events.len(), 13);
        assert!(events[0].1["message"].get("usage").is_none());
        assert!(events[0].1["message"].get("id").is_some());
        assert!(events[11].1.get("usage").is_none());
        assert_eq!(events[11].1["delta"]["stop_reason"], "end_turn");
    }

    #[tokio::test]
    async fn a_message_without_max_tokens_is_a_400_in_anthropic_shape() {
        let body = json!({"model": "claude-test", "messages": []});
        let reply = send(MockConfig::default(), post("/v1/messages", &body, &[])).await;
        assert_eq!(reply.status, 400);
        assert_eq!(
            reply.json(),
            json!({"type": "error", "error": {"type": "invalid_request_error",
                   "message": "max_tokens: Field required (a non-negative integer)"}})
        );
    }
}
