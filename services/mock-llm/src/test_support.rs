//! Test helpers: drive `router(...)` in-process and pick responses apart.
#![expect(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::{MockConfig, router};

/// A finished response.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("response body is JSON")
    }

    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    /// SSE frames as `(event name, data)`; `data` is JSON, or `Value::String("[DONE]")`.
    pub(crate) fn events(&self) -> Vec<(Option<String>, Value)> {
        self.text()
            .split("\n\n")
            .filter(|frame| !frame.is_empty())
            .map(|frame| {
                let mut event = None;
                let mut data = Value::Null;
                for line in frame.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_owned());
                    } else if let Some(raw) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()));
                    }
                }
                (event, data)
            })
            .collect()
    }
}

/// Sends `request` and collects the whole body.
pub(crate) async fn send(config: MockConfig, request: Request<Body>) -> Reply {
    let response = router(config).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

/// Sends `request` and collects body bytes until the stream ends or fails;
/// returns the bytes and whether it failed.
pub(crate) async fn send_until_error(config: MockConfig, request: Request<Body>) -> (Vec<u8>, bool) {
    let response = router(config).oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => bytes.extend_from_slice(frame.data_ref().map_or(&[][..], |d| d)),
            Err(_) => return (bytes, true),
        }
    }
    (bytes, false)
}

/// A `POST` with a JSON body and extra headers.
pub(crate) fn post(uri: &str, body: &Value, headers: &[(&str, &str)]) -> Request<Body> {
    post_raw(uri, body.to_string(), headers)
}

pub(crate) fn post_raw(uri: &str, body: String, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post(uri).header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body)).unwrap()
}

/// An auth-mode config knowing one key.
pub(crate) fn auth_config() -> MockConfig {
    MockConfig {
        require_auth: true,
        keys: [("sk-alice-known-key".to_owned(), "alice".to_owned())].into(),
        ..MockConfig::default()
    }
}
