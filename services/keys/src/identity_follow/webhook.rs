//! `POST /api/v1/identity/keycloak/events`: Keycloak (an event-listener
//! extension, or any relay) pushes admin events here so a change applies at
//! once rather than at the next poll. Mounted only when
//! `KEYWAY_KEYCLOAK_WEBHOOK_SECRET` is set.
//!
//! The request is signed: `X-Keyway-Timestamp` holds the Unix time in
//! seconds, and `X-Keyway-Signature` is `v1=` and the hex of
//! HMAC-SHA256(secret, "<timestamp>.<raw body>"), checked in constant time.
//! A timestamp more than five minutes away from Keyway's clock is refused,
//! which bounds replays; and a replay within that window does no harm,
//! because the body is only a trigger: the follower asks Keycloak about
//! each user it names and applies Keycloak's answer, never the body's.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use keyway_common::{
    api::{ApiError, MAX_BODY_BYTES},
    codes,
};
use serde::{Deserialize, Serialize};

use super::{FollowError, Follower, Source, keycloak::AdminEvent};
use crate::http::examples::Examples;

pub const PATH: &str = "/api/v1/identity/keycloak/events";
pub const TIMESTAMP_HEADER: &str = "x-keyway-timestamp";
pub const SIGNATURE_HEADER: &str = "x-keyway-signature";
/// How far a signed timestamp may be from Keyway's clock, either way.
pub const TOLERANCE: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Hook {
    follower: Arc<Follower>,
    secret: Arc<str>,
}

/// The webhook's route, when a webhook secret is configured.
pub fn router(follower: Arc<Follower>) -> Option<Router> {
    let secret: Arc<str> = follower.settings().webhook_secret.as_deref()?.into();
    Some(
        Router::new()
            .route(PATH, post(receive))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(Hook { follower, secret }),
    )
}

/// One admin event, or a list of them; only `resourcePath` (`users/<id>`)
/// and `resourceType` matter.
#[derive(Deserialize)]
#[serde(untagged)]
enum Events {
    One(AdminEvent),
    Many(Vec<AdminEvent>),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// How many of the named users Keyway follows, each re-read from Keycloak.
    pub checked: usize,
}

/// Receives Keycloak admin events (an `AdminEventRepresentation` or an array
/// of them) signed with the webhook secret; see docs/identity.md.
#[utoipa::path(post, path = "/api/v1/identity/keycloak/events", tag = "identity", operation_id = "receive_keycloak_events",
    params(
        ("x-keyway-timestamp" = String, Header, description = "Unix time in seconds when the request was signed"),
        ("x-keyway-signature" = String, Header, description = "`v1=` + hex HMAC-SHA256(secret, \"<timestamp>.<raw body>\")"),
    ),
    request_body(content = Object, description = "An AdminEventRepresentation, or an array of them",
        example = json!({"time": 1_796_097_800_000_i64, "realmId": "keyway", "operationType": "UPDATE",
            "resourceType": "USER", "resourcePath": "users/8f14e45f-ceea-467a-9af7-2b1c3e5d6a70"})),
    responses((status = 200, body = WebhookReceipt), (status = 401), (status = 503)),
    security(("keycloak_signature" = [])))]
async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = verify(&headers, &body, hook.secret.as_bytes(), now_secs()) {
        return e.into_response();
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            codes::REQ_NOT_JSON,
            "send the events as application/json",
        )
        .into_response();
    }
    let events = match serde_json::from_slice::<Events>(&body) {
        Ok(Events::One(e)) => vec![e],
        Ok(Events::Many(es)) => es,
        Err(_) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::REQ_BAD_JSON,
                "the body is not an admin event or a list of them",
            )
            .into_response();
        }
    };
    let mut named: Vec<String> = events
        .iter()
        .filter_map(|e| e.user_id())
        .map(str::to_owned)
        .collect();
    named.sort();
    named.dedup();
    match hook.follower.check_followed(named, Source::Webhook).await {
        Ok(checked) => Json(WebhookReceipt { checked }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "identity webhook could not be applied");
            let message = match e {
                FollowError::Keycloak(_) => "Keycloak cannot be reached to confirm the change; retry",
                FollowError::Keys(_) | FollowError::Db(_) => {
                    "the key service cannot apply the change now; retry"
                }
            };
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::ADM_UNAVAILABLE, message).into_response()
        }
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Checks the timestamp window and the signature. The answer never says
/// which of the two failed, so it cannot guide a forger.
fn verify(headers: &HeaderMap, body: &[u8], secret: &[u8], now: i64) -> Result<(), ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            codes::AUTH_INVALID,
            "missing, stale or invalid webhook signature",
        )
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let stamp = header(TIMESTAMP_HEADER).ok_or_else(refused)?;
    let at: i64 = stamp.parse().map_err(|_| refused())?;
    if at.abs_diff(now) > TOLERANCE.as_secs() {
        return Err(refused());
    }
    let tag = header(SIGNATURE_HEADER)
        .and_then(|s| s.strip_prefix("v1="))
        .and_then(decode_hex)
        .ok_or_else(refused)?;
    let mut message = Vec::with_capacity(stamp.len() + 1 + body.len());
    message.extend_from_slice(stamp.as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    if crate::crypto::verify_hmac_sha256(secret, &message, &tag) {
        Ok(())
    } else {
        Err(refused())
    }
}

/// The signature a sender puts in `X-Keyway-Signature` (tests, relays).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let tag = crate::crypto::hmac_sha256(secret, &message);
    format!("v1={}", hex::encode(tag))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() != 64 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The webhook's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(receive),
    tags((name = "identity", description = "Following Keycloak identities: the signed change webhook")),
    modifiers(&Examples)
)]
pub struct IdentityApi;

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(stamp: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIMESTAMP_HEADER, stamp.parse().unwrap());
        h.insert(SIGNATURE_HEADER, signature.parse().unwrap());
        h
    }

    #[test]
    fn a_good_signature_within_the_window_passes() {
        let body = br#"{"resourcePath":"users/u1"}"#;
        let signature = sign(b"secret", 1000, body);
        assert!(verify(&headers("1000", &signature), body, b"secret", 1100).is_ok());
    }

    #[test]
    fn a_wrong_secret_a_changed_body_or_an_old_stamp_is_refused() {
        let body = br#"{"resourcePath":"users/u1"}"#;
        let signature = sign(b"secret", 1000, body);
        let refused = |h: &HeaderMap, b: &[u8], now| verify(h, b, b"secret", now).unwrap_err().code;
        assert_eq!(
            refused(&headers("1000", &sign(b"other", 1000, body)), body, 1000),
            codes::AUTH_INVALID
        );
        assert_eq!(
            refused(&headers("1000", &signature), b"{}", 1000),
            codes::AUTH_INVALID
        );
        assert_eq!(
            refused(&headers("1000", &signature), body, 1000 + 301),
            codes::AUTH_INVALID
        );
        assert_eq!(
            refused(&headers("1001", &signature), body, 1000),
            codes::AUTH_INVALID
        );
        assert_eq!(refused(&HeaderMap::new(), body, 1000), codes::AUTH_INVALID);
    }
}
