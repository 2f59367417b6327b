//! Signing in and out. Sign-in with an API key (or the platform admin
//! key): the key is checked by the same authenticator and brute-force
//! guard as every API request, and kept only in the server-side session.

use std::sync::Arc;

use axum::{
    Form,
    extract::{FromRequest, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use keyway_auth::{AuthError, Rejection, authenticate_request};
use serde::Deserialize;
use serde_json::json;

use crate::{
    Console,
    csrf::SIGN_IN_COOKIE,
    session::{self, COOKIE, Session, random_token, set_cookie},
};

pub(crate) async fn home(State(console): State<Arc<Console>>, headers: HeaderMap) -> Redirect {
    let signed_in = session::cookie(&headers, COOKIE).is_some_and(|id| console.sessions.get(id).is_some());
    Redirect::to(if signed_in {
        "/console/models"
    } else {
        "/console/sign-in"
    })
}

pub(crate) async fn sign_in_page(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    form(&console, &headers, StatusCode::OK, None)
}

/// The sign-in form with a fresh double-submit token.
pub(super) fn form(
    console: &Console,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let token = random_token();
    let secure = console.settings.cookie_secure(headers);
    let mut response = console.templates.page_with_status(
        status,
        "sign_in.html",
        None,
        json!({"csrf": token, "error": error, "oidc": console.oidc.is_some()}),
    );
    if let Ok(value) = set_cookie(SIGN_IN_COOKIE, Some(&token), secure).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub(crate) struct SignIn {
    key: String,
}

pub(crate) async fn sign_in(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let headers = parts.headers.clone();
    let request = Request::from_parts(parts.clone(), body);
    let Ok(Form(SignIn { key })) = Form::<SignIn>::from_request(request, &()).await else {
        return form(
            &console,
            &headers,
            StatusCode::BAD_REQUEST,
            Some("Enter an API key."),
        );
    };
    let key = key.trim().to_owned();
    // The guard and authenticator read the key where the API does.
    let Ok(bearer) = format!("Bearer {key}").parse() else {
        return form(
            &console,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That key is not valid."),
        );
    };
    parts.headers.remove(header::COOKIE);
    parts.headers.insert(header::AUTHORIZATION, bearer);
    let caller = match authenticate_request(&parts, console.authenticator.as_ref()).await {
        Ok(caller) => caller,
        Err(rejection) => {
            let (status, message) = refusal(&rejection);
            return form(&console, &headers, status, Some(message));
        }
    };
    let label = match &caller.api_key_id {
        Some(id) => format!("key {id}"),
        None => caller.role.as_str().to_owned(),
    };
    let id = console.sessions.insert(Session::new(key, &caller, label));
    let secure = console.settings.cookie_secure(&headers);
    let mut response = Redirect::to("/console/models").into_response();
    for cookie in [
        set_cookie(COOKIE, Some(&id), secure),
        set_cookie(SIGN_IN_COOKIE, None, secure),
    ] {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

fn refusal(rejection: &Rejection) -> (StatusCode, &'static str) {
    match rejection {
        Rejection::TooManyFailures { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts from this address; wait a moment and try again.",
        ),
        Rejection::Credential(AuthError::Unavailable) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Keys cannot be checked right now; try again shortly.",
        ),
        Rejection::Credential(AuthError::IdentityUnconfirmed) => (
            StatusCode::UNAUTHORIZED,
            "Your identity could not be confirmed with the identity provider.",
        ),
        Rejection::Credential(_) => (StatusCode::UNAUTHORIZED, "That key is not valid."),
    }
}

pub(crate) async fn sign_out(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Some(id) = session::cookie(&headers, COOKIE) {
        console.sessions.remove(id);
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(value) = set_cookie(COOKIE, None, console.settings.cookie_secure(&headers)).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
