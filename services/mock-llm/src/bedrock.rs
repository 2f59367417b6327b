//! AWS Bedrock's runtime shape for Anthropic models: `POST /model/{id}/invoke`
//! answers Anthropic's JSON, `POST /model/{id}/invoke-with-response-stream`
//! answers an AWS event stream (`application/vnd.amazon.eventstream`) of
//! `chunk` events, each carrying one Anthropic stream event base64-encoded in
//! `{"bytes": …}`, framed with `aws-smithy-eventstream`. Every request must
//! carry a valid SigV4 signature (see `bedrock_sigv4`), and the body must be
//! Bedrock's: `anthropic_version: bedrock-2023-05-31`, no `model`, no
//! `stream`. `GET /foundation-models` answers the BYOK key test.

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue, Message};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::anthropic;
use crate::bedrock_sigv4::{bedrock_error, verify};
use crate::errors::json_response;
use crate::state::AppState;

pub use crate::bedrock_sigv4::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};

const VERSION: &str = "bedrock-2023-05-31";

pub(crate) async fn invoke(
    state: State<AppState>,
    Path(model): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(state, model, &method, &uri, headers, body, false).await
}

pub(crate) async fn invoke_stream(
    state: State<AppState>,
    Path(model): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    run(state, model, &method, &uri, headers, body, true).await
}

pub(crate) async fn foundation_models(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if let Err(refused) = verify(&method, &uri, &headers, b"", "bedrock") {
        return *refused;
    }
    json_response(
        StatusCode::OK,
        &json!({"modelSummaries": [{"modelId": "anthropic.claude-3-haiku-20240307-v1:0", "providerName": "Anthropic"}]}),
    )
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
    let mut request = match bedrock_body(&body) {
        Ok(request) => request,
        Err(message) => return bedrock_error(StatusCode::BAD_REQUEST, "ValidationException", &message),
    };
    request.insert("model".into(), Value::String(model));
    request.insert("stream".into(), Value::Bool(stream));
    // The Anthropic route authenticates from `x-api-key`: the verified key id.
    headers.remove(header::AUTHORIZATION);
    headers.insert("x-api-key", HeaderValue::from_static(TEST_ACCESS_KEY_ID));
    let answer = anthropic::messages(state, headers, Bytes::from(Value::Object(request).to_string())).await;
    if !answer.status().is_success() {
        return answer;
    }
    if stream { to_event_stream(answer) } else { answer }
}

/// The body as `InvokeModel` takes it for Anthropic models.
fn bedrock_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, String> {
    let Ok(Value::Object(request)) = serde_json::from_slice::<Value>(body) else {
        return Err("Malformed input request: the body must be a JSON object".into());
    };
    for key in ["model", "stream"] {
        if request.contains_key(key) {
            return Err(format!(
                "Malformed input request: extraneous key [{key}] is not permitted"
            ));
        }
    }
    match request.get("anthropic_version").and_then(Value::as_str) {
        Some(VERSION) => Ok(request),
        _ => Err(format!(
            "Malformed input request: anthropic_version must be {VERSION}"
        )),
    }
}

/// Re-frames the Anthropic route's SSE as Bedrock's event stream.
fn to_event_stream(answer: Response) -> Response {
    let mut pending = Vec::new();
    let frames = answer.into_body().into_data_stream().flat_map(move |chunk| {
        let out: Vec<Result<Bytes, std::io::Error>> = match chunk {
            Ok(bytes) => {
                pending.extend_from_slice(&bytes);
                let mut out = Vec::new();
                while let Some(end) = find(&pending, b"\n\n") {
                    let event: Vec<u8> = pending.drain(..end + 2).collect();
                    if let Some(frame) = frame_of(&event) {
                        out.push(Ok(frame));
                    }
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// One SSE event as one event-stream message: a `chunk` event, or an
/// exception for an SSE `error` event.
fn frame_of(event: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(event).ok()?;
    let data = text.lines().find_map(|l| l.strip_prefix("data: "))?;
    let parsed: Value = serde_json::from_str(data).ok()?;
    let message = if parsed.get("type").and_then(Value::as_str) == Some("error") {
        let text = parsed
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("error");
        Message::new(json!({"message": text}).to_string())
            .add_header(Header::new(":message-type", EsValue::String("exception".into())))
            .add_header(Header::new(
                ":exception-type",
                EsValue::String("internalServerException".into()),
            ))
            .add_header(Header::new(
                ":content-type",
                EsValue::String("application/json".into()),
            ))
    } else {
        let bytes = base64::engine::general_purpose::STANDARD.encode(data);
        Message::new(json!({"bytes": bytes, "p": "abcdefghijklmnopqrstuvwxyz"}).to_string())
            .add_header(Header::new(":message-type", EsValue::String("event".into())))
            .add_header(Header::new(":event-type", EsValue::String("chunk".into())))
            .add_header(Header::new(
                ":content-type",
                EsValue::String("application/json".into()),
            ))
    };
    let mut out = Vec::new();
    write_message_to(&message, &mut out).ok()?;
    Some(Bytes::from(out))
}

#[cfg(test)]
mod tests;
