//! Error responses in the shape of the API a route imitates (OpenAI or
//! Anthropic), plus the shared JSON response writer.

use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Which upstream API a route imitates; decides the error body shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    OpenAi,
    Anthropic,
}

/// The error categories the mock can produce, mapped to each API's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    InvalidRequest,
    MissingKey,
    Unauthorized,
    NotFound,
    RateLimited,
    Internal,
    Unavailable,
}

impl ErrorKind {
    fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::MissingKey | Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// OpenAI `(type, code)`, as the real API reports them.
    fn openai(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::InvalidRequest | Self::NotFound => ("invalid_request_error", None),
            Self::MissingKey | Self::Unauthorized => ("invalid_request_error", Some("invalid_api_key")),
            Self::RateLimited => ("requests", Some("rate_limit_exceeded")),
            Self::Internal | Self::Unavailable => ("server_error", None),
        }
    }

    fn anthropic(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::MissingKey | Self::Unauthorized => "authentication_error",
            Self::NotFound => "not_found_error",
            Self::RateLimited => "rate_limit_error",
            Self::Internal => "api_error",
            Self::Unavailable => "overloaded_error",
        }
    }
}

#[derive(Serialize)]
struct OpenAiError<'a> {
    error: OpenAiErrorBody<'a>,
}

#[derive(Serialize)]
struct OpenAiErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'static str>,
    code: Option<&'static str>,
}

#[derive(Serialize)]
struct AnthropicError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: AnthropicErrorBody<'a>,
}

#[derive(Serialize)]
struct AnthropicErrorBody<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}

/// Builds an error response in `api`'s shape. Rate limits carry `retry-after: 1`
/// so clients and gateways exercise their retry path quickly.
pub(crate) fn error_response(api: Api, kind: ErrorKind, message: &str) -> Response {
    let status = kind.status();
    let mut response = match api {
        Api::OpenAi => {
            let (kind, code) = kind.openai();
            let body = OpenAiError {
                error: OpenAiErrorBody {
                    message,
                    kind,
                    param: None,
                    code,
                },
            };
            json_response(status, &body)
        }
        Api::Anthropic => {
            let body = AnthropicError {
                kind: "error",
                error: AnthropicErrorBody {
                    kind: kind.anthropic(),
                    message,
                },
            };
            json_response(status, &body)
        }
    };
    if kind == ErrorKind::RateLimited {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Serialises `body` straight into the response bytes (no intermediate `Value`).
pub(crate) fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            bytes,
        )
            .into_response(),
        // Our bodies are plain structs, so this is unreachable in practice; still, never panic.
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Fallback for unknown routes: the OpenAI "Invalid URL" error.
pub(crate) async fn not_found(method: Method, uri: Uri) -> Response {
    let message = format!("Invalid URL ({method} {})", uri.path());
    error_response(Api::OpenAi, ErrorKind::NotFound, &message)
}

/// Fallback for known routes called with the wrong method, so the body is JSON too.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!("Method {method} not allowed on {}", uri.path());
    let mut response = error_response(Api::OpenAi, ErrorKind::InvalidRequest, &message);
    *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    response
}

/// A failure the caller asked the mock to simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InjectedError {
    /// Answer with this error (status and body in the route's API shape).
    Status(ErrorKind),
    /// Hang for [`TIMEOUT`] before answering, to exercise client/gateway timeouts.
    Timeout,
}

/// An `error` control's value (`400`, `401`, `429`, `500`, `503`, `timeout`).
pub(crate) fn parse_error(text: &str) -> Option<InjectedError> {
    let kind = match text {
        "400" => ErrorKind::InvalidRequest,
        "401" => ErrorKind::Unauthorized,
        "429" => ErrorKind::RateLimited,
        "500" => ErrorKind::Internal,
        "503" => ErrorKind::Unavailable,
        "timeout" => return Some(InjectedError::Timeout),
        _ => return None,
    };
    Some(InjectedError::Status(kind))
}
