//! Keycloak sign-in's two steps (docs/console.md#keycloak-sign-in): the
//! start sends the browser to the provider with a PKCE challenge; the
//! callback exchanges the code and signs in whoever the access token names,
//! read by the API's own authenticator, so the console session has exactly
//! the tenant, user and role a bearer token from that issuer would.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use keyway_auth::{AuthError, Rejection, authenticate_request};

use super::auth::form;
use crate::{
    Console,
    csrf::SIGN_IN_COOKIE,
    oidc::{CALLBACK_PATH, OidcError, PENDING_COOKIE, pending_cookie, provider_error},
    session::{self, COOKIE, Session, set_cookie},
};

/// `GET /console/oidc/start`: a link rather than a form, since the CSP's
/// `form-action 'self'` would stop a form's redirect to the provider.
pub(crate) async fn start(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let Some(oidc) = console.oidc.as_ref() else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let Some(redirect) = redirect_uri(oidc.public_url(), &headers) else {
        return failed(&console, &headers, &OidcError::Unavailable);
    };
    match oidc.start(&redirect).await {
        Ok((url, id)) => {
            let mut response = Redirect::to(&url).into_response();
            let secure = console.settings.cookie_secure(&headers);
            append_cookie(&mut response, &pending_cookie(Some(&id), secure));
            response
        }
        Err(error) => failed(&console, &headers, &error),
    }
}

/// `GET /console/oidc/callback?code=…&state=…` (or `?error=…`).
pub(crate) async fn callback(State(console): State<Arc<Console>>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let headers = parts.headers.clone();
    let Some(oidc) = console.oidc.as_ref() else {
        return Redirect::to("/console/sign-in").into_response();
    };
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let pending = session::cookie(&headers, PENDING_COOKIE);
    let result = match (query.get("error"), query.get("code"), query.get("state")) {
        (Some(code), _, _) => {
            // The record is spent all the same: a new attempt starts over.
            let _ = oidc.finish(pending, "", "").await;
            Err(provider_error(code))
        }
        (None, Some(code), Some(state)) => oidc.finish(pending, state, code).await,
        _ => Err(OidcError::NoPending),
    };
    let signed_in = match result {
        Ok(signed_in) => signed_in,
        Err(error) => return failed(&console, &headers, &error),
    };
    // The access token is read where and how the API reads a bearer token
    // (with the same brute-force guard), so tenant, user and role match.
    let Ok(bearer) = format!("Bearer {}", signed_in.access_token.as_str()).parse() else {
        return failed(&console, &headers, &OidcError::Unverified);
    };
    parts.headers.remove(header::COOKIE);
    parts.headers.insert(header::AUTHORIZATION, bearer);
    let caller = match authenticate_request(&parts, console.authenticator.as_ref()).await {
        Ok(caller) => caller,
        Err(rejection) => {
            let (status, message) = refusal(&rejection);
            return with_pending_cleared(
                form(&console, &headers, status, Some(message)),
                &console,
                &headers,
            );
        }
    };
    let session = Session::new(signed_in.access_token.to_string(), &caller, signed_in.label);
    let id = console.sessions.insert(session);
    let secure = console.settings.cookie_secure(&headers);
    // A page, not a redirect: the browser arrived here from the provider
    // (cross-site), and a redirect in that chain would not carry the new
    // `SameSite=Strict` cookie; the refresh is a same-site navigation.
    let body = "<!doctype html><meta http-equiv=\"refresh\" content=\"0;url=/console/models\">\
                <title>Signed in</title><p>Signed in. <a href=\"/console/models\">Continue to the console</a>.</p>";
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response();
    append_cookie(&mut response, &set_cookie(COOKIE, Some(&id), secure));
    append_cookie(&mut response, &set_cookie(SIGN_IN_COOKIE, None, secure));
    with_pending_cleared(response, &console, &headers)
}

/// The redirect URI: `KEYWAY_CONSOLE_PUBLIC_URL` + the callback path, or
/// the request's own origin (`Host`, `https` when the proxy says so).
fn redirect_uri(public_url: Option<&str>, headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = public_url {
        return Some(format!("{origin}{CALLBACK_PATH}"));
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    if host.is_empty() || host.contains(|c: char| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace()) {
        return None;
    }
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let scheme = if https { "https" } else { "http" };
    Some(format!("{scheme}://{host}{CALLBACK_PATH}"))
}

fn failed(console: &Console, headers: &HeaderMap, error: &OidcError) -> Response {
    let status = match error {
        OidcError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::NoPending | OidcError::StateMismatch => StatusCode::BAD_REQUEST,
        OidcError::Refused(_) | OidcError::Unverified => StatusCode::UNAUTHORIZED,
    };
    let message = error.to_string();
    with_pending_cleared(form(console, headers, status, Some(&message)), console, headers)
}

fn refusal(rejection: &Rejection) -> (StatusCode, &'static str) {
    match rejection {
        Rejection::TooManyFailures { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts from this address; wait a moment and try again.",
        ),
        Rejection::Credential(AuthError::Unavailable) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Your sign-in cannot be checked right now; try again shortly.",
        ),
        Rejection::Credential(_) => (
            StatusCode::FORBIDDEN,
            "You signed in, but your account has no access to Keyway (no known tenant or role).",
        ),
    }
}

fn with_pending_cleared(mut response: Response, console: &Console, headers: &HeaderMap) -> Response {
    append_cookie(
        &mut response,
        &pending_cookie(None, console.settings.cookie_secure(headers)),
    );
    response
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
