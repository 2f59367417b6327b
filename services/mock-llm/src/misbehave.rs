//! Upstream misbehaviour for the fault scenarios, per request, beside the
//! controls of `controls.rs` and read the same way (the body's `"mock"`
//! object, or an `x-mock-*` header):
//!
//! - `error_body_bytes` / `x-mock-error-body-bytes: N`: with an injected
//!   `error`, its message is padded to N bytes (a 10 MB error body);
//! - `garbage_sse` / `x-mock-garbage-sse: true`: a stream request gets
//!   `text/event-stream` frames whose data is not JSON, and no end;
//! - `reset` / `x-mock-reset: true`: the response head goes out, then the
//!   connection is aborted before any body byte.

use std::io;

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde_json::Value;

use crate::{
    controls::InjectedError,
    errors::{Api, error_response},
};

/// Frames that are framed as SSE but carry no JSON.
const GARBAGE: &[&[u8]] = &[
    b"data: \xff\xfe not json {{{\n\n",
    b"event: \x01weird\ndata: [[[[\n\n",
    b"data: {\"truncated\": \n\n",
];

/// The misbehaviour asked for, if any; `Err` is a message for a 400.
pub(crate) fn respond(
    api: Api,
    headers: &HeaderMap,
    body: &Value,
    error: Option<InjectedError>,
) -> Result<Option<Response>, String> {
    let read = |field: &str, header: &str| -> Option<String> {
        match body.get("mock").and_then(|m| m.get(field)) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => headers
                .get(header)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            Some(other) => Some(other.to_string()),
        }
    };
    let flag = |field: &str, header: &str| -> Result<bool, String> {
        match read(field, header).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(format!("mock.{field} must be true or false")),
        }
    };
    if flag("reset", "x-mock-reset")? {
        let broken = futures::stream::once(async {
            Err::<Bytes, _>(io::Error::other("mock-llm: connection reset on purpose (reset)"))
        });
        return Ok(Some(Body::from_stream(broken).into_response()));
    }
    let streamed = body.get("stream") == Some(&Value::Bool(true));
    if streamed && flag("garbage_sse", "x-mock-garbage-sse")? {
        let frames = GARBAGE.iter().map(|f| Ok::<_, io::Error>(Bytes::from_static(f)));
        let mut response = Body::from_stream(futures::stream::iter(frames)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        return Ok(Some(response));
    }
    if let Some(bytes) = read("error_body_bytes", "x-mock-error-body-bytes") {
        let bytes: usize = bytes
            .parse()
            .map_err(|_| "mock.error_body_bytes must be an integer".to_owned())?;
        let Some(InjectedError::Status(kind)) = error else {
            return Err("mock.error_body_bytes needs mock.error (a status)".into());
        };
        let message = "x".repeat(bytes);
        return Ok(Some(error_response(api, kind, &message)));
    }
    Ok(None)
}
