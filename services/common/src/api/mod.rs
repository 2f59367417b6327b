//! The `/api/v1` error envelope, `{"error": {"code": "KW-…", "message": "…"}}`,
//! and the extractors whose rejections use it. axum's own `Json`, `Query`
//! and `Path` reject in `text/plain` (and unknown fields with an undocumented
//! 422); every admin, tenant and usage route uses `ApiJson`, `Query` and
//! `Path` from here instead, so a client only ever parses one error shape.
//! The last two keep axum's names because utoipa infers a handler's
//! parameters from them.
//!
//! `refuse_nul` (in `nul.rs`) is the layer both APIs put in front of their
//! handlers: Postgres cannot store NUL in text, and without it the
//! database's refusal would be reported as an outage (503) instead of the
//! client's mistake (400).
//!
//! `page` (with `cursor`) is the one pagination contract of every list.

pub mod cursor;
pub mod examples;
mod nul;
pub mod page;

pub use nul::{MAX_BODY_BYTES, refuse_nul};
pub use page::{LogPage, LogParams, LogRequest, Page, PageError, PageParams, PageRequest};

use std::borrow::Cow;

use axum::{
    Json,
    extract::{
        FromRequest, FromRequestParts, Request,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::codes;

/// One `/api/v1` error: a status, a stable code and a message that never
/// holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: Cow<'static, str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// An unknown `/api/v1` route.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::REQ_NO_ROUTE, "no such route")
    }

    pub(crate) fn bad_field(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::REQ_BAD_FIELD, message)
    }
}

/// The documented body of every `/api/v1` error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable code from docs/errors.md, such as `KW-ADM-002`.
    #[schema(schema_with = registered_code)]
    pub code: String,
    /// What went wrong, for a human; never contains a secret.
    pub message: String,
}

/// The `code` field's schema: one of the registry's codes, so a client
/// generated from the document knows every value it can meet.
fn registered_code() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("A stable code from docs/errors.md, such as `KW-ADM-002`."))
        .enum_values(Some(codes::ALL.iter().copied()))
        .build()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message.into_owned(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body; malformed, mistyped or oversized bodies are refused in the
/// envelope (400, 413 or 415), never as axum's plain text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Parsed to a value first so integral floats can become integers.
        let Json(mut value) = Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        integral_floats_as_integers(&mut value);
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|e| ApiError::bad_field(format!("invalid body: {}", redact_values(&e.to_string()))))
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::REQ_NOT_JSON,
            "send the body as JSON with content-type: application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::REQ_BAD_JSON,
            format!("the body is not valid JSON: {}", redact_values(&e.body_text())),
        ),
        JsonRejection::JsonDataError(e) => {
            ApiError::bad_field(format!("invalid body: {}", redact_values(&e.body_text())))
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::REQ_TOO_LARGE,
            "the body is larger than this API accepts",
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::REQ_BAD_JSON,
            "the body could not be read",
        ),
    }
}

/// Query parameters; a repeated, unknown or out-of-range parameter is a 400
/// in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e: QueryRejection| {
                let text = e.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                ApiError::bad_field(format!("invalid query: {}", redact_values(detail)))
            })
    }
}

/// Path parameters; bad percent-encoding is a 400 in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| ApiError::bad_field(format!("invalid path: {}", e.body_text())))
    }
}

/// The answer for a known `/api/v1` route called with a method it lacks.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        codes::REQ_NO_ROUTE,
        "this method is not allowed on this route",
    )
}

/// The answer for an unknown `/api/v1` route.
pub async fn not_found() -> ApiError {
    ApiError::no_route()
}

/// The answer to a client refused for too many failed authentications
/// (`keyway_auth::guard`): 429 in the envelope, with `Retry-After`.
pub fn too_many_failures(retry_after_secs: u64) -> Response {
    let message =
        format!("too many failed authentications from this address; retry after {retry_after_secs} seconds");
    let mut response =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, codes::AUTH_BLOCKED, message).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// JSON Schema counts `162.0` as an integer, and so do many JSON encoders;
/// serde's integer fields would refuse it, so it becomes `162` first.
fn integral_floats_as_integers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64() else { return };
            let whole = f.fract() == 0.0;
            // `as` saturates; the range checks keep the conversion exact.
            if whole && f >= 0.0 && f < u64::MAX as f64 {
                *value = serde_json::Value::from(f as u64);
            } else if whole && f < 0.0 && f >= i64::MIN as f64 {
                *value = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral_floats_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integral_floats_as_integers),
        _ => {}
    }
}

/// serde quotes the offending value (`invalid type: string "sk-…"`); a
/// client may have put a secret in the wrong field, so values never come
/// back. Field names, which serde puts in backticks, stay.
fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut quoted = false;
    for c in message.chars() {
        match (c, quoted) {
            ('"', false) => {
                quoted = true;
                out.push_str("\"…");
            }
            ('"', true) => {
                quoted = false;
                out.push('"');
            }
            (_, true) => {}
            (c, false) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_redacted_and_field_names_kept() {
        assert_eq!(
            redact_values(r#"invalid type: string "sk-live-123", expected u64 at `limit`"#),
            r#"invalid type: string "…", expected u64 at `limit`"#
        );
        assert_eq!(redact_values("unknown field `rpm`"), "unknown field `rpm`");
    }

    #[test]
    fn integral_floats_become_integers_and_others_stay() {
        let mut v = serde_json::json!({"a": 162.0, "b": [1.5, -3.0], "c": 1e300});
        integral_floats_as_integers(&mut v);
        assert_eq!(v, serde_json::json!({"a": 162, "b": [1.5, -3], "c": 1e300}));
    }
}
