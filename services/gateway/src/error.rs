//! Every refusal the gateway makes, with a stable code, rendered in the
//! caller's own API shape: OpenAI JSON for OpenAI routes, Anthropic JSON for
//! `/v1/messages`. Nothing here is ever a 500: upstream trouble is 502/504.
//!
//! Codes are listed in `docs/errors.md`; keep the two in step.

use axum::{
    Json,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use keyway_common::codes;
use serde_json::json;

/// The API shape an error is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    OpenAi,
    Anthropic,
}

impl Flavor {
    /// `/v1/messages` is Anthropic's; `/v1/models` is too when an Anthropic
    /// client asks (it always sends `anthropic-version`).
    pub fn of(path: &str, headers: &HeaderMap) -> Self {
        if path.ends_with("/messages")
            || path.ends_with("/messages/count_tokens")
            || (path.ends_with("/models") && headers.contains_key("anthropic-version"))
        {
            Flavor::Anthropic
        } else {
            Flavor::OpenAi
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "No API key provided. Send it as `Authorization: Bearer <key>` (or `x-api-key` for Anthropic clients)."
    )]
    MissingApiKey,
    #[error("The API key is invalid, revoked or expired.")]
    InvalidApiKey,
    #[error("{0}")]
    Forbidden(String),
    #[error("The credential store is temporarily unavailable; retry shortly.")]
    AuthUnavailable,
    #[error(
        "The identity behind this key has not been confirmed by the identity provider recently enough; it is refused until it is. Retry later or ask your administrator."
    )]
    IdentityUnconfirmed,
    #[error("Too many failed authentications from this address; retry after {retry_after_secs} seconds.")]
    TooManyFailures { retry_after_secs: u64 },
    #[error("The request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("The request body is larger than the {limit}-byte limit.")]
    BodyTooLarge { limit: usize },
    #[error("The request headers are larger than the {limit}-byte limit.")]
    HeadersTooLarge { limit: usize },
    #[error("The request body must be sent as `content-type: application/json`.")]
    NotJson,
    #[error("Unknown route {0}.")]
    RouteNotFound(String),
    #[error("The model `{0}` does not exist or you do not have access to it.")]
    ModelNotFound(String),
    #[error("No response found with id '{0}'.")]
    ResponseNotFound(String),
    #[error("The model `{model}` is served on {route}, not on this route.")]
    WrongRoute { model: String, route: &'static str },
    #[error(
        "The parameter `{param}` cannot be translated for this model ({reason}). Remove it, or ask the operator to set `drop_unsupported: true` on the model."
    )]
    Untranslatable { param: String, reason: &'static str },
    #[error(
        "The model `{model}` requires a provider key and none is configured (tried: {tried}). Add one with PUT /api/v1/byok/keys/{provider}."
    )]
    KeyRequired {
        model: String,
        provider: String,
        tried: String,
    },
    #[error("The upstream provider refused the request ({status}): {message}")]
    UpstreamRefused {
        status: StatusCode,
        message: String,
        retry_after: Option<HeaderValue>,
    },
    #[error(
        "The upstream provider's content filter refused the request (categories: {}). Rephrase the prompt.",
        if categories.is_empty() { "not given".to_owned() } else { categories.join(", ") }
    )]
    ContentFiltered { categories: Vec<String> },
    #[error("The upstream provider failed: {0}")]
    UpstreamFailed(String),
    #[error("The upstream provider did not answer in time.")]
    UpstreamTimeout,
    #[error("{0}")]
    Limited(crate::limits::Refusal),
    #[error("Rate limits cannot be checked right now; retry shortly.")]
    LimitsUnavailable,
}

impl From<crate::limits::LimitError> for GatewayError {
    fn from(e: crate::limits::LimitError) -> Self {
        match e {
            crate::limits::LimitError::Refused(r) => GatewayError::Limited(r),
            crate::limits::LimitError::Unavailable => GatewayError::LimitsUnavailable,
        }
    }
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        use GatewayError::*;
        match self {
            MissingApiKey | InvalidApiKey | IdentityUnconfirmed => StatusCode::UNAUTHORIZED,
            Forbidden(_) => StatusCode::FORBIDDEN,
            AuthUnavailable | LimitsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Limited(_) | TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            InvalidJson(_)
            | InvalidRequest(_)
            | WrongRoute { .. }
            | KeyRequired { .. }
            | ContentFiltered { .. }
            | Untranslatable { .. } => StatusCode::BAD_REQUEST,
            BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RouteNotFound(_) | ModelNotFound(_) | ResponseNotFound(_) => StatusCode::NOT_FOUND,
            UpstreamRefused { status, .. } => *status,
            UpstreamFailed(_) => StatusCode::BAD_GATEWAY,
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Stable, documented Keyway code.
    pub fn code(&self) -> &'static str {
        use GatewayError::*;
        match self {
            MissingApiKey => codes::AUTH_MISSING,
            InvalidApiKey => codes::AUTH_INVALID,
            Forbidden(_) => codes::AUTH_FORBIDDEN,
            AuthUnavailable => codes::AUTH_UNAVAILABLE,
            IdentityUnconfirmed => codes::AUTH_IDENTITY_UNCONFIRMED,
            TooManyFailures { .. } => codes::AUTH_BLOCKED,
            InvalidJson(_) => codes::REQ_BAD_JSON,
            InvalidRequest(_) => codes::REQ_BAD_FIELD,
            BodyTooLarge { .. } => codes::REQ_TOO_LARGE,
            RouteNotFound(_) => codes::REQ_NO_ROUTE,
            HeadersTooLarge { .. } => codes::REQ_HEADERS_TOO_LARGE,
            NotJson => codes::REQ_NOT_JSON,
            ModelNotFound(_) => codes::MODEL_NOT_FOUND,
            WrongRoute { .. } => codes::MODEL_WRONG_ROUTE,
            ResponseNotFound(_) => codes::RESPONSE_NOT_FOUND,
            Untranslatable { .. } => codes::TRANSLATE_UNSUPPORTED,
            KeyRequired { .. } => codes::KEY_REQUIRED,
            UpstreamRefused { .. } => codes::UP_REFUSED,
            ContentFiltered { .. } => codes::UP_CONTENT_FILTER,
            UpstreamFailed(_) => codes::UP_FAILED,
            UpstreamTimeout => codes::UP_TIMEOUT,
            Limited(r) if r.is_budget() => codes::LIMIT_BUDGET,
            Limited(_) => codes::LIMIT_RATE,
            LimitsUnavailable => codes::LIMIT_UNAVAILABLE,
        }
    }

    /// OpenAI's `code` field: its own well-known values where one exists.
    fn openai_code(&self) -> &'static str {
        use GatewayError::*;
        match self {
            MissingApiKey | InvalidApiKey => "invalid_api_key",
            IdentityUnconfirmed => "identity_unconfirmed",
            ModelNotFound(_) => "model_not_found",
            KeyRequired { .. } => "key_required",
            Untranslatable { .. } => "unsupported_parameter",
            BodyTooLarge { .. } | HeadersTooLarge { .. } => "request_too_large",
            UpstreamRefused { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                "rate_limit_exceeded"
            }
            UpstreamRefused { .. } => "upstream_refused",
            ContentFiltered { .. } => "content_filter",
            UpstreamFailed(_) => "upstream_error",
            UpstreamTimeout => "upstream_timeout",
            Forbidden(_) => "permission_denied",
            TooManyFailures { .. } => "too_many_failed_authentications",
            AuthUnavailable | LimitsUnavailable => "service_unavailable",
            Limited(r) if r.is_budget() => "insufficient_quota",
            Limited(_) => "rate_limit_exceeded",
            _ => "invalid_request",
        }
    }

    fn openai_type(&self) -> &'static str {
        if let GatewayError::Limited(r) = self
            && r.is_budget()
        {
            return "insufficient_quota";
        }
        match self.status().as_u16() {
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            500..=599 => "api_error",
            _ => "invalid_request_error",
        }
    }

    fn anthropic_type(&self) -> &'static str {
        match self.status().as_u16() {
            400 | 415 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            413 | 431 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            _ => "api_error",
        }
    }

    /// The JSON body of this error in `flavor`'s shape.
    pub fn body(&self, flavor: Flavor) -> serde_json::Value {
        let message = self.to_string();
        // OpenAI names the offending parameter where there is one.
        let param = match self {
            GatewayError::Untranslatable { param, .. } => Some(param.as_str()),
            _ => None,
        };
        match flavor {
            Flavor::OpenAi => json!({"error": {
                "message": message,
                "type": self.openai_type(),
                "param": param,
                "code": self.openai_code(),
                "keyway_code": self.code(),
            }}),
            Flavor::Anthropic => json!({"type": "error", "error": {
                "type": self.anthropic_type(),
                "message": message,
                "keyway_code": self.code(),
            }}),
        }
    }

    pub fn into_response_as(self, flavor: Flavor) -> Response {
        let status = self.status();
        let body = self.body(flavor);
        let mut response = (status, Json(body)).into_response();
        // What is left of an oversized request is never read, and hyper
        // closes such a connection after the answer: say so up front.
        if let GatewayError::BodyTooLarge { .. } | GatewayError::HeadersTooLarge { .. } = self {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        let retry_after = match self {
            GatewayError::UpstreamRefused {
                retry_after: Some(v), ..
            } => Some(v),
            GatewayError::Limited(r) => Some(HeaderValue::from(r.retry_after())),
            GatewayError::LimitsUnavailable => Some(HeaderValue::from_static("1")),
            GatewayError::TooManyFailures { retry_after_secs } => Some(HeaderValue::from(retry_after_secs)),
            _ => None,
        };
        if let Some(v) = retry_after {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}

/// A gateway error bound to the shape it must be rendered in, so handlers
/// can use `?` and still answer in their API's own dialect.
#[derive(Debug)]
pub struct Failure(pub Flavor, pub GatewayError);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let Failure(flavor, error) = self;
        if error.status().is_server_error() {
            tracing::warn!(code = error.code(), error = %error, "request failed");
        }
        error.into_response_as(flavor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_a_non_500_status_and_a_stable_code() {
        let all = [
            GatewayError::MissingApiKey,
            GatewayError::InvalidApiKey,
            GatewayError::Forbidden("x".into()),
            GatewayError::AuthUnavailable,
            GatewayError::IdentityUnconfirmed,
            GatewayError::InvalidJson("x".into()),
            GatewayError::InvalidRequest("x".into()),
            GatewayError::BodyTooLarge { limit: 1 },
            GatewayError::HeadersTooLarge { limit: 1 },
            GatewayError::NotJson,
            GatewayError::RouteNotFound("x".into()),
            GatewayError::ModelNotFound("x".into()),
            GatewayError::WrongRoute {
                model: "m".into(),
                route: "/v1/messages",
            },
            GatewayError::KeyRequired {
                model: "m".into(),
                provider: "openai".into(),
                tried: "user".into(),
            },
            GatewayError::UpstreamFailed("x".into()),
            GatewayError::UpstreamTimeout,
            GatewayError::Untranslatable {
                param: "n".into(),
                reason: "x",
            },
            GatewayError::Limited(crate::limits::Refusal::sample(false)),
            GatewayError::Limited(crate::limits::Refusal::sample(true)),
            GatewayError::LimitsUnavailable,
            GatewayError::TooManyFailures { retry_after_secs: 9 },
        ];
        let mut codes = std::collections::HashSet::new();
        for e in all {
            assert_ne!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert!(e.code().starts_with("KW-"));
            assert!(codes.insert(e.code()), "duplicate code {}", e.code());
        }
    }

    #[test]
    fn a_blocked_client_gets_429_with_retry_after_in_either_shape() {
        for flavor in [Flavor::OpenAi, Flavor::Anthropic] {
            let response = GatewayError::TooManyFailures { retry_after_secs: 42 }.into_response_as(flavor);
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()["retry-after"], "42");
        }
    }

    #[test]
    fn anthropic_routes_get_anthropic_errors() {
        let mut h = HeaderMap::new();
        assert_eq!(Flavor::of("/v1/messages", &h), Flavor::Anthropic);
        assert_eq!(Flavor::of("/v1/models", &h), Flavor::OpenAi);
        h.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(Flavor::of("/v1/models", &h), Flavor::Anthropic);
        assert_eq!(Flavor::of("/v1/chat/completions", &h), Flavor::OpenAi);
    }
}
