//! Keyway's own REST API, called in-process (`tower::ServiceExt::oneshot`
//! on the API's router) with the signed-in person's credential. The
//! client's address and the brute-force guard that the HTTP front put on
//! the console request are carried over, so the API sees the same client.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
    response::Response,
};
use http_body_util::BodyExt;
use keyway_auth::{AuthGuard, ClientIp};
use serde_json::Value;
use tower::ServiceExt;
use zeroize::Zeroizing;

/// Largest API answer the console reads into memory (a page of a list).
const MAX_BODY_BYTES: usize = 8 << 20;

#[derive(Clone)]
pub(crate) struct Api {
    router: Router,
}

/// The API's refusal, in its own error shape (`{"error": {code, message}}`).
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    pub(crate) message: String,
}

/// One console request's view of the API: the credential it acts with and
/// what the front learnt about the client.
#[derive(Clone)]
pub(crate) struct Caller {
    api: Api,
    credential: Arc<Zeroizing<String>>,
    guard: Option<Arc<AuthGuard>>,
    client: Option<ClientIp>,
}

impl Api {
    pub(crate) fn new(router: Router) -> Self {
        Self { router }
    }

    pub(crate) fn as_caller(
        &self,
        credential: Arc<Zeroizing<String>>,
        extensions: &axum::http::Extensions,
    ) -> Caller {
        Caller {
            api: self.clone(),
            credential,
            guard: extensions.get::<Arc<AuthGuard>>().cloned(),
            client: extensions.get::<ClientIp>().copied(),
        }
    }
}

impl Caller {
    /// Sends one request; the answer comes back as it is (for streams).
    pub(crate) async fn raw(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Response {
        let mut builder = Request::builder().method(method).uri(path).header(
            header::AUTHORIZATION,
            format!("Bearer {}", self.credential.as_str()),
        );
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let mut request = match builder.body(body.map(Body::from).unwrap_or_else(Body::empty)) {
            Ok(request) => request,
            // Only a path with characters a URI refuses gets here.
            Err(_) => return bad_path(),
        };
        if let Some(guard) = &self.guard {
            request.extensions_mut().insert(guard.clone());
        }
        if let Some(client) = &self.client {
            request.extensions_mut().insert(*client);
        }
        match self.api.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }

    /// Sends a JSON request and reads the JSON answer; a status of 400 or
    /// more becomes `ApiError`. An empty answer (204) is `Value::Null`.
    pub(crate) async fn json(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let body = body.map(|b| b.to_string().into_bytes());
        let response = self.raw(method, path, body).await;
        let status = response.status();
        let bytes = http_body_util::Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        if status.is_client_error() || status.is_server_error() {
            return Err(ApiError::from_body(status, &value));
        }
        Ok(value)
    }

    pub(crate) async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.json(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.json(Method::POST, path, Some(body)).await
    }
}

fn bad_path() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NOT_FOUND;
    response
}

impl ApiError {
    fn from_body(status: StatusCode, body: &Value) -> Self {
        // OpenAI-shaped (`/v1`) and Keyway-shaped (`/api/v1`) errors both
        // have `error.message`; `/v1`'s code may sit in `code` or `type`.
        let error = &body["error"];
        let text = |v: &Value| v.as_str().map(str::to_owned);
        Self {
            status,
            code: text(&error["code"])
                .or_else(|| text(&error["type"]))
                .unwrap_or_default(),
            message: text(&error["message"]).unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("the request failed")
                    .to_owned()
            }),
        }
    }
}

/// Percent-encodes one path segment or query value taken from a form or
/// the URL, so it cannot change which API route is called.
pub(crate) fn segment(raw: &str) -> String {
    url::form_urlencoded::byte_serialize(raw.as_bytes()).collect()
}
