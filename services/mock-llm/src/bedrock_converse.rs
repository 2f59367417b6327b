//! AWS Bedrock's Converse API, for every model: `POST /model/{id}/converse`
//! answers Converse JSON, `POST /model/{id}/converse-stream` an AWS event
//! stream of `messageStart`, `contentBlockDelta`, `contentBlockStop`,
//! `messageStop` and `metadata` events (the usage). Every request must carry
//! a valid SigV4 signature (`bedrock_sigv4`), and the body must be
//! Converse's: `messages` of `{role, content: [{text}]}`, optional `system`
//! and `inferenceConfig`, nothing else (no `model`, no `stream`). The text
//! and token counts are the mock's Anthropic route's, re-shaped.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue, Message};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Map, Value, json};

use crate::anthropic;
use crate::bedrock_sigv4::{TEST_ACCESS_KEY_ID, bedrock_error, verify};
use crate::errors::json_response;
use crate::state::AppState;

/// The top-level fields Converse takes (the mock serves the first three).
const FIELDS: [&str; 6] = [
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
];

pub(crate) async fn converse(
    state: State<AppState>,
    Path(model): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(state, model, &method, &uri, headers, body, false).await
}

pub(crate) async fn converse_stream(
    state: State<AppState>,
    Path(model): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(state, model, &method, &uri, headers, body, true).await
}

async fn run(
    state: State<AppState>,
    model: String,
    method: &Method,
    uri: &Uri,
    mut headers: HeaderMap,
    body: Bytes,
    stream: bool,
) -> Response {
    if let Err(refused) = verify(method, uri, &headers, &body, "bedrock") {
        return *refused;
    }
    let request = match messages_body(&body, &model, stream) {
        Ok(request) => request,
        Err(message) => return bedrock_error(StatusCode::BAD_REQUEST, "ValidationException", &message),
    };
    // The Anthropic route authenticates from `x-api-key`: the verified key id.
    headers.remove(header::AUTHORIZATION);
    headers.insert("x-api-key", HeaderValue::from_static(TEST_ACCESS_KEY_ID));
    let answer = anthropic::messages(state, headers, Bytes::from(request.to_string())).await;
    if !answer.status().is_success() {
        return answer;
    }
    if stream {
        to_event_stream(answer)
    } else {
        to_converse_json(answer).await
    }
}

/// A Converse body checked and turned into the Anthropic route's request.
fn messages_body(body: &[u8], model: &str, stream: bool) -> Result<Value, String> {
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Err("Malformed input request: the body must be a JSON object".into());
    };
    if let Some(extra) = request.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "Malformed input request: extraneous key [{extra}] is not permitted"
        ));
    }
    let texts = |blocks: Option<&Value>, what: &str| -> Result<Vec<Value>, String> {
        let blocks = blocks
            .and_then(Value::as_array)
            .ok_or(format!("{what} must be a list"))?;
        blocks
            .iter()
            .map(|b| match b.as_object().map(|o| (o.len(), o.get("text"))) {
                Some((1, Some(Value::String(text)))) => Ok(json!({"type": "text", "text": text})),
                _ => Err(format!("{what}: each content block must be {{\"text\": …}}")),
            })
            .collect()
    };
    let mut messages = Vec::new();
    for m in request
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages must be a list")?
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
        if !matches!(role, "user" | "assistant") {
            return Err(format!("role {role:?} is not user or assistant"));
        }
        messages.push(json!({"role": role, "content": texts(m.get("content"), "content")?}));
    }
    let config = request.get("inferenceConfig").and_then(Value::as_object);
    let max_tokens = config
        .and_then(|c| c.get("maxTokens"))
        .and_then(Value::as_u64)
        .unwrap_or(1024);
    let mut out = Map::new();
    out.insert("model".into(), Value::from(model));
    out.insert("max_tokens".into(), Value::from(max_tokens));
    out.insert("messages".into(), Value::Array(messages));
    out.insert("stream".into(), Value::Bool(stream));
    if request.contains_key("system") {
        out.insert(
            "system".into(),
            Value::Array(texts(request.get("system"), "system")?),
        );
    }
    Ok(Value::Object(out))
}

/// Converse's usage from Anthropic's.
fn usage(input: u64, output: u64) -> Value {
    json!({"inputTokens": input, "outputTokens": output, "totalTokens": input + output})
}

async fn to_converse_json(answer: Response) -> Response {
    let Ok(raw) = axum::body::to_bytes(answer.into_body(), usize::MAX).await else {
        return bedrock_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "body",
        );
    };
    let message: Value = serde_json::from_slice(&raw).unwrap_or_default();
    let text: String = message["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["text"].as_str())
        .collect();
    let n = |k: &str| message["usage"][k].as_u64().unwrap_or(0);
    json_response(
        StatusCode::OK,
        &json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": message["stop_reason"].as_str().unwrap_or("end_turn"),
            "usage": usage(n("input_tokens"), n("output_tokens")),
            "metrics": {"latencyMs": 1},
        }),
    )
}

/// Re-frames the Anthropic route's SSE as ConverseStream's event stream.
fn to_event_stream(answer: Response) -> Response {
    let (mut pending, mut state) = (Vec::new(), Stream::default());
    let frames = answer.into_body().into_data_stream().flat_map(move |chunk| {
        let out: Vec<Result<Bytes, std::io::Error>> = match chunk {
            Ok(bytes) => {
                pending.extend_from_slice(&bytes);
                let mut out = Vec::new();
                while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                    let event: Vec<u8> = pending.drain(..end + 2).collect();
                    out.extend(state.frames(&event).into_iter().map(Ok));
                }
                out
            }
            Err(e) => vec![Err(std::io::Error::other(e))],
        };
        futures::stream::iter(out)
    });
    let mut response = Response::new(Body::from_stream(frames));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    response
}

/// What the stream has said so far: Converse reports usage at the end.
#[derive(Default)]
struct Stream {
    input: u64,
    output: u64,
    stop: String,
}

impl Stream {
    fn frames(&mut self, sse: &[u8]) -> Vec<Bytes> {
        let Some(data) = std::str::from_utf8(sse)
            .ok()
            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("data: ")))
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
        else {
            return Vec::new();
        };
        let index = data["index"].as_u64().unwrap_or(0);
        let events = match data["type"].as_str().unwrap_or_default() {
            "message_start" => {
                self.input = data["message"]["usage"]["input_tokens"].as_u64().unwrap_or(0);
                vec![event("messageStart", json!({"role": "assistant"}))]
            }
            "content_block_delta" => match data["delta"]["text"].as_str() {
                Some(text) => vec![event(
                    "contentBlockDelta",
                    json!({"contentBlockIndex": index, "delta": {"text": text}}),
                )],
                None => Vec::new(),
            },
            "content_block_stop" => vec![event("contentBlockStop", json!({"contentBlockIndex": index}))],
            "message_delta" => {
                self.output = data["usage"]["output_tokens"].as_u64().unwrap_or(0);
                self.stop = data["delta"]["stop_reason"]
                    .as_str()
                    .unwrap_or("end_turn")
                    .to_owned();
                Vec::new()
            }
            "message_stop" => vec![
                event("messageStop", json!({"stopReason": self.stop})),
                event(
                    "metadata",
                    json!({"usage": usage(self.input, self.output), "metrics": {"latencyMs": 1}}),
                ),
            ],
            "error" => vec![exception(data["error"]["message"].as_str().unwrap_or("error"))],
            _ => Vec::new(),
        };
        events.into_iter().filter_map(encode).collect()
    }
}

fn event(kind: &str, payload: Value) -> Message {
    Message::new(payload.to_string())
        .add_header(Header::new(":message-type", EsValue::String("event".into())))
        .add_header(Header::new(
            ":event-type",
            EsValue::String(kind.to_owned().into()),
        ))
        .add_header(Header::new(
            ":content-type",
            EsValue::String("application/json".into()),
        ))
}

fn exception(message: &str) -> Message {
    Message::new(json!({"message": message}).to_string())
        .add_header(Header::new(":message-type", EsValue::String("exception".into())))
        .add_header(Header::new(
            ":exception-type",
            EsValue::String("internalServerException".into()),
        ))
}

fn encode(message: Message) -> Option<Bytes> {
    let mut out = Vec::new();
    write_message_to(&message, &mut out).ok()?;
    Some(Bytes::from(out))
}

#[cfg(test)]
#[path = "bedrock_converse_tests.rs"]
mod tests;
