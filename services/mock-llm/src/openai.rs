//! `POST /v1/chat/completions`: the OpenAI chat API, as JSON or SSE.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

use crate::errors::{Api, json_response};
use crate::pipeline::{self, MODEL_REQUIRED, invalid};
use crate::state::{AppState, unix_now};
use crate::usage::{self, OpenAiUsage};
use crate::{sse, text, tools};

const ROUTE: &str = "/v1/chat/completions";

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<OpenAiUsage>,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    finish_reason: &'static str,
    logprobs: Option<()>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: &'a [ChunkChoice<'a>],
    /// `Some(None)`, written as `null`, on every chunk but the usage chunk
    /// when the client asked for usage, as OpenAI sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<OpenAiUsage>>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
}

/// Identity of one streamed completion; every chunk repeats it.
struct ChunkHeader {
    id: String,
    created: u64,
    model: String,
    /// The client asked for usage (`stream_options.include_usage`).
    include_usage: bool,
}

impl ChunkHeader {
    fn frame(&self, choices: &[ChunkChoice<'_>], usage: Option<OpenAiUsage>) -> std::io::Result<Bytes> {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage: (self.include_usage || usage.is_some()).then_some(usage),
        };
        sse::frame(None, &chunk)
    }

    fn delta(&self, delta: Delta<'_>, finish_reason: Option<&'static str>) -> std::io::Result<Bytes> {
        self.frame(
            &[ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
            None,
        )
    }
}

pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match pipeline::prepare(&state, &headers, Some(&body), Api::OpenAi, ROUTE).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let body = &request.body;
    let Some(model) = pipeline::model(body) else {
        return invalid(Api::OpenAi, MODEL_REQUIRED);
    };
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return invalid(Api::OpenAi, "messages: an array is required");
    };

    let controls = &request.controls;
    let seed = state.next_id();
    let calls = tools::calls(body, Api::OpenAi, seed);
    if !calls.is_empty() {
        return tools::openai::respond(body, model, controls, &calls, seed);
    }
    let said = tools::result_text(messages, Api::OpenAi).unwrap_or_else(|| text::last_user_text(messages));
    let reply = text::build_reply(&said, request.identity.as_deref());
    let usage = usage::reported(
        text::messages_words(messages),
        text::count_words(&reply),
        controls,
    )
    .map(|usage| usage.openai());
    let id = format!("chatcmpl-mock-{seed}");
    let created = unix_now();

    if body.get("stream").and_then(Value::as_bool) != Some(true) {
        return completion(&id, created, model, &reply, usage);
    }

    let include_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let header = ChunkHeader {
        id,
        created,
        model: model.to_owned(),
        // A provider that reports no usage sends no `usage` at all.
        include_usage: include_usage && usage.is_some(),
    };
    let (head, tail) = match stream_frames(&header, usage.filter(|_| include_usage)) {
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
        delta: move |content: &str| {
            header.delta(
                Delta {
                    role: None,
                    content: Some(content),
                },
                None,
            )
        },
    })
}

/// The whole (non-stream) completion.
fn completion(id: &str, created: u64, model: &str, reply: &str, usage: Option<OpenAiUsage>) -> Response {
    let completion = Completion {
        id,
        object: "chat.completion",
        created,
        model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: reply,
            },
            finish_reason: "stop",
            logprobs: None,
        }],
        usage,
    };
    json_response(StatusCode::OK, &completion)
}

/// The frames around the content deltas of a streamed completion: the
/// assistant role first; then the stop, the usage chunk when the client
/// asked for it (`stream_options.include_usage`), and `[DONE]`.
fn stream_frames(
    header: &ChunkHeader,
    usage: Option<OpenAiUsage>,
) -> std::io::Result<(Vec<Bytes>, Vec<Bytes>)> {
    let role = Delta {
        role: Some("assistant"),
        content: Some(""),
    };
    let head = vec![header.delta(role, None)?];
    let mut tail = vec![header.delta(Delta::default(), Some("stop"))?];
    if let Some(usage) = usage {
        tail.push(header.frame(&[], Some(usage))?);
    }
    tail.push(Bytes::from_static(b"data: [DONE]\n\n"));
    Ok((head, tail))
}

#[cfg(test)]
mod tests;
