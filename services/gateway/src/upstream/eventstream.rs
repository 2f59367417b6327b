//! Bedrock's streamed answers: AWS event-stream frames (decoded with
//! `aws-smithy-eventstream`, CRCs checked), re-framed as SSE by a
//! [`Framing`]. `InvokeModelWithResponseStream`'s `chunk` events carry an
//! Anthropic stream event, base64-encoded, in `{"bytes": …}`: they become
//! the Anthropic SSE the client wire, the translator and the usage tap
//! already read ([`AnthropicChunks`]). `ConverseStream`'s events become
//! OpenAI chunks (`converse_stream`). An exception frame, or a frame that
//! does not decode, ends the stream with the framing's error event.

use aws_smithy_eventstream::frame::{DecodedFrame, MessageFrameDecoder};
use aws_smithy_types::event_stream::Message;
use axum::http::{HeaderValue, header};
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use serde_json::{Value, json};

/// A frame larger than this is refused rather than buffered: Bedrock's
/// chunks are a few kilobytes.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// How decoded frames become SSE events of one client-facing wire.
pub(super) trait Framing: Send + 'static {
    /// One event frame as SSE: `Ok` for events (possibly none), `Err`
    /// with the error event that ends the stream.
    fn event(&mut self, event_type: &str, payload: &[u8]) -> Result<Vec<u8>, Vec<u8>>;
    /// The error event that ends a stream, with an Anthropic-style error
    /// type (`rate_limit_error`, `overloaded_error`, …).
    fn error(&self, error_type: &str, message: &str) -> Vec<u8>;
    /// What follows the last frame of a stream that ended well.
    fn end(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

/// The answer with its body re-framed as SSE and its content type to match.
pub(super) fn into_sse_response(upstream: reqwest::Response, framing: impl Framing) -> reqwest::Response {
    let status = upstream.status();
    let body = reqwest::Body::wrap_stream(to_sse(upstream.bytes_stream(), framing));
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reqwest::Response::from(response)
}

/// The decoder's state between chunks.
pub(super) struct Reframer<F> {
    decoder: MessageFrameDecoder,
    buffer: BytesMut,
    ended: bool,
    framing: F,
}

impl<F: Framing> Reframer<F> {
    pub(super) fn new(framing: F) -> Self {
        Self {
            decoder: MessageFrameDecoder::default(),
            buffer: BytesMut::new(),
            ended: false,
            framing,
        }
    }

    /// Feeds one chunk; returns the SSE of every frame it completed.
    pub(super) fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.ended {
            return out;
        }
        self.buffer.extend_from_slice(chunk);
        loop {
            if self.buffer.len() > MAX_FRAME {
                return self.fail(out, "an event-stream frame exceeds 16 MiB");
            }
            match self.decoder.decode_frame(&mut self.buffer) {
                Ok(DecodedFrame::Complete(message)) => match sse_of(&message, &mut self.framing) {
                    Ok(event) => out.extend_from_slice(&event),
                    Err(error) => {
                        out.extend_from_slice(&error);
                        self.ended = true;
                        return out;
                    }
                },
                Ok(DecodedFrame::Incomplete) => return out,
                Err(e) => return self.fail(out, &format!("a malformed event-stream frame ({e})")),
            }
        }
    }

    /// The end of the upstream body: a partial frame left over is an error.
    pub(super) fn finish(&mut self) -> Vec<u8> {
        if self.ended {
            return Vec::new();
        }
        if self.buffer.is_empty() {
            self.ended = true;
            return self.framing.end();
        }
        self.fail(Vec::new(), "the event stream ended inside a frame")
    }

    fn fail(&mut self, mut out: Vec<u8>, why: &str) -> Vec<u8> {
        tracing::warn!(why, "Bedrock event stream could not be decoded");
        out.extend_from_slice(&self.framing.error("api_error", &format!("Bedrock sent {why}.")));
        self.ended = true;
        out
    }
}

fn to_sse(
    upstream: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    framing: impl Framing,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let upstream = upstream.map(Some).chain(futures::stream::once(async { None }));
    upstream
        .scan(Reframer::new(framing), |reframer, item| {
            let next = match item {
                Some(Ok(chunk)) => Ok(reframer.push(&chunk)),
                Some(Err(e)) => Err(std::io::Error::other(e.without_url())),
                None => Ok(reframer.finish()),
            };
            futures::future::ready(Some(next))
        })
        .filter_map(|r| {
            futures::future::ready(match r {
                Ok(bytes) if bytes.is_empty() => None,
                other => Some(other.map(Bytes::from)),
            })
        })
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .and_then(|h| h.value().as_string().ok())
        .map(|s| s.as_str())
}

/// One frame as SSE: `Ok` for an event, `Err` with the error event that
/// ends the stream.
fn sse_of(message: &Message, framing: &mut impl Framing) -> Result<Vec<u8>, Vec<u8>> {
    match header(message, ":message-type") {
        Some("event") => {}
        Some("exception") => {
            let kind = header(message, ":exception-type").unwrap_or("exception");
            let text = serde_json::from_slice::<Value>(message.payload())
                .ok()
                .and_then(|v| super::error_message(&v).map(str::to_owned))
                .unwrap_or_else(|| "no error message was given".into());
            let error_type = match kind {
                "throttlingException" => "rate_limit_error",
                "serviceUnavailableException" | "modelNotReadyException" => "overloaded_error",
                "validationException" => "invalid_request_error",
                _ => "api_error",
            };
            return Err(framing.error(error_type, &format!("Bedrock: {kind}: {text}")));
        }
        other => {
            let code = header(message, ":error-code").or(other).unwrap_or("unknown");
            return Err(framing.error("api_error", &format!("Bedrock stream error: {code}")));
        }
    }
    framing.event(
        header(message, ":event-type").unwrap_or_default(),
        message.payload(),
    )
}

/// `InvokeModelWithResponseStream`: each `chunk` event's Anthropic event as
/// Anthropic SSE.
#[derive(Default)]
pub(super) struct AnthropicChunks;

impl Framing for AnthropicChunks {
    fn event(&mut self, event_type: &str, payload: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        if event_type != "chunk" {
            return Ok(Vec::new());
        }
        chunk_sse(payload)
    }

    fn error(&self, error_type: &str, message: &str) -> Vec<u8> {
        error_event(error_type, message)
    }
}

fn chunk_sse(payload: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let decoded = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("bytes").and_then(Value::as_str).map(str::to_owned))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok());
    let Some(event) = decoded else {
        return Err(error_event(
            "api_error",
            "Bedrock sent a chunk that is not an Anthropic event.",
        ));
    };
    // The event name goes into the SSE framing as it is: only a plain name may.
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .unwrap_or("message");
    Ok(format!("event: {kind}\ndata: {event}\n\n").into_bytes())
}

fn error_event(error_type: &str, message: &str) -> Vec<u8> {
    let data = json!({"type": "error", "error": {"type": error_type, "message": message}});
    format!("event: error\ndata: {data}\n\n").into_bytes()
}

#[cfg(test)]
#[path = "eventstream_tests.rs"]
mod tests;
