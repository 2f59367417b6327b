//! CSRF protection for every state-changing request under `/console`.
//! Each session has its own random token; forms carry it in a hidden
//! `csrf` field and the playground's script in an `x-csrf-token` header.
//! The sign-in form, before any session exists, uses a double-submit
//! token: a random cookie that the form must repeat. Tokens are compared
//! in constant time. `SameSite=Strict` cookies are a second line.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body_util::BodyExt;

use crate::{
    Console,
    session::{self, COOKIE},
};

/// The pre-session cookie of the sign-in form.
pub(crate) const SIGN_IN_COOKIE: &str = "keyway_console_csrf";
/// Largest body a console form or playground request may have.
const MAX_BODY_BYTES: usize = 1 << 20;

pub(crate) async fn verify(State(console): State<Arc<Console>>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map(|c| c.to_bytes())
    else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request too large").into_response();
    };
    let presented = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| form_field(&parts.headers, &bytes, "csrf"));
    let expected = if parts.uri.path() == "/console/sign-in" {
        session::cookie(&parts.headers, SIGN_IN_COOKIE).map(str::to_owned)
    } else {
        session::cookie(&parts.headers, COOKIE)
            .and_then(|id| console.sessions.get(id))
            .map(|s| s.csrf.clone())
    };
    match (presented, expected) {
        (Some(presented), Some(expected))
            if keyway_auth::secrets_equal(presented.as_bytes(), expected.as_bytes()) =>
        {
            next.run(Request::from_parts(parts, Body::from(bytes))).await
        }
        _ => refused(),
    }
}

fn form_field(headers: &axum::http::HeaderMap, body: &Bytes, name: &str) -> Option<String> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return None;
    }
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// 403 with a short page: the form is stale or forged.
fn refused() -> Response {
    let body = "<!doctype html><title>Refused</title><p>This form has expired or did not come from \
                the console. Go back, reload the page and try again.</p>";
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
