//! Turns the presented key into a `Caller` before any handler runs. The key
//! is read from `Authorization: Bearer` or, for Anthropic clients,
//! `x-api-key`; it is passed to the authenticator and never logged.
//!
//! Both extractors take the whole request, not just its head, so that a
//! refused caller's body can be drained before the answer (see `drain`).

use std::sync::Arc;

use axum::{
    extract::{FromRequest, Request, rejection::BytesRejection},
    http::{HeaderMap, request::Parts},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use keyway_auth::{AuthError, Caller, Rejection};

use crate::{
    Gateway, drain,
    error::{Failure, Flavor, GatewayError},
};

/// The most header bytes (names, values and their separators) a `/v1`
/// request may carry; more is refused with a JSON 431. hyper's own limit
/// (set by the server loop) is larger, so this one answers first.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// An authenticated caller allowed to send LLM traffic; its request body,
/// if any, is read and discarded.
pub(crate) struct Authed(pub Caller);

/// An authenticated caller, its request's headers, and its body, read
/// within the body limit. The headers are moved here rather than cloned by
/// a `HeaderMap` extractor beside it.
pub(crate) struct AuthedBody {
    pub(crate) caller: Caller,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Result<Bytes, BytesRejection>,
}

impl FromRequest<Arc<Gateway>> for Authed {
    type Rejection = Response;

    async fn from_request(request: Request, gw: &Arc<Gateway>) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        let outcome = authenticate(&parts, gw).await;
        drain::discard(&parts.headers, body, gw.max_body_bytes).await;
        outcome.map(Authed).map_err(IntoResponse::into_response)
    }
}

impl FromRequest<Arc<Gateway>> for AuthedBody {
    type Rejection = Response;

    async fn from_request(request: Request, gw: &Arc<Gateway>) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        match authenticate(&parts, gw).await {
            Ok(_) if !json_or_unsaid(&parts.headers) => {
                drain::discard(&parts.headers, body, gw.max_body_bytes).await;
                let failure = Failure(
                    Flavor::of(parts.uri.path(), &parts.headers),
                    GatewayError::NotJson,
                );
                Err(failure.into_response())
            }
            Ok(caller) => {
                // Reading the body needs the extensions (the body limit),
                // not the headers.
                let headers = std::mem::take(&mut parts.headers);
                let body = Bytes::from_request(Request::from_parts(parts, body), gw).await;
                Ok(AuthedBody {
                    caller,
                    headers,
                    body,
                })
            }
            Err(failure) => {
                drain::discard(&parts.headers, body, gw.max_body_bytes).await;
                Err(failure.into_response())
            }
        }
    }
}

async fn authenticate(parts: &Parts, gw: &Gateway) -> Result<Caller, Failure> {
    let flavor = Flavor::of(parts.uri.path(), &parts.headers);
    let fail = |e| Failure(flavor, e);
    if header_bytes(&parts.headers) > MAX_HEADER_BYTES {
        return Err(fail(GatewayError::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        }));
    }
    let caller = keyway_auth::authenticate_request(parts, &gw.authenticator)
        .await
        .map_err(|e| {
            fail(match e {
                Rejection::TooManyFailures { retry_after_secs } => {
                    GatewayError::TooManyFailures { retry_after_secs }
                }
                Rejection::Credential(AuthError::Missing) => GatewayError::MissingApiKey,
                Rejection::Credential(AuthError::Invalid) => GatewayError::InvalidApiKey,
                Rejection::Credential(AuthError::Unavailable) => GatewayError::AuthUnavailable,
                Rejection::Credential(AuthError::IdentityUnconfirmed) => GatewayError::IdentityUnconfirmed,
            })
        })?;
    if !caller.role.may_send_llm_traffic() {
        return Err(fail(GatewayError::Forbidden(format!(
            "The role {} may not send LLM traffic.",
            caller.role.as_str()
        ))));
    }
    Ok(caller)
}

/// The body is declared JSON (`application/json`, or a `+json` type), or
/// its type is not said at all: every LLM API on `/v1` takes JSON, and a
/// body declared as something else (a form, plain text) is the client's
/// mistake, refused with 415 rather than parsed as JSON anyway.
fn json_or_unsaid(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE) else {
        return true;
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    let suffix = essence.get(essence.len().saturating_sub(5)..).unwrap_or_default();
    essence.eq_ignore_ascii_case("application/json") || suffix.eq_ignore_ascii_case("+json")
}

/// Header bytes as on the wire: `name: value\r\n` for each.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn json_bodies_and_unsaid_types_are_taken_and_others_refused() {
        assert!(json_or_unsaid(&headers(&[])));
        assert!(json_or_unsaid(&headers(&[("content-type", "application/json")])));
        assert!(json_or_unsaid(&headers(&[(
            "content-type",
            "Application/JSON; charset=utf-8"
        )])));
        assert!(json_or_unsaid(&headers(&[(
            "content-type",
            "application/vnd.api+json"
        )])));
        assert!(json_or_unsaid(&headers(&[(
            "content-type",
            "application/problem+JSON"
        )])));
        assert!(!json_or_unsaid(&headers(&[("content-type", "json")])));
        assert!(!json_or_unsaid(&headers(&[("content-type", "text/plain")])));
        assert!(!json_or_unsaid(&headers(&[(
            "content-type",
            "application/x-www-form-urlencoded"
        )])));
    }

    #[test]
    fn header_bytes_count_names_values_and_separators() {
        assert_eq!(header_bytes(&headers(&[("ab", "xyz")])), 9);
        assert_eq!(header_bytes(&headers(&[])), 0);
    }
}
