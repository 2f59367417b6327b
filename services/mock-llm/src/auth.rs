//! API-key handling: pulling the key out of a request, resolving it to an
//! identity, masking it for logs and replies.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use crate::config::MockConfig;

/// Masks a key for logs and replies: first 4 chars + `…` + last 4 chars.
/// Keys of 8 chars or fewer would be fully revealed that way, so they become `****`.
pub fn mask_key(key: &str) -> String {
    let len = key.chars().count();
    if len <= 8 {
        return "****".to_owned();
    }
    let head: String = key.chars().take(4).collect();
    let tail: String = key.chars().skip(len - 4).collect();
    format!("{head}…{tail}")
}

/// The key sent as `Authorization: Bearer <k>` or `x-api-key: <k>`.
/// Both are accepted on every route because gateways and SDKs differ in which they send.
pub(crate) fn request_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let x_api_key = || {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    bearer
        .filter(|k| !k.is_empty())
        .or_else(|| x_api_key().filter(|k| !k.is_empty()))
}

/// Outcome of the auth check for one request.
pub(crate) enum Auth {
    /// Auth mode is off: nothing is required and nothing is appended.
    Off,
    /// Auth mode is on and a key was presented.
    Identified(String),
    /// Auth mode is on and no key was presented.
    Missing,
}

/// Resolves the caller. Known keys map to their configured identity; unknown
/// keys are accepted and identified by their masked form, so tests can tell
/// which key reached the upstream without the mock needing to know it.
pub(crate) fn authenticate(config: &MockConfig, headers: &HeaderMap, route: &str) -> Auth {
    if !config.require_auth {
        return Auth::Off;
    }
    let Some(key) = request_key(headers) else {
        return Auth::Missing;
    };
    let masked = mask_key(key);
    let identity = config.keys.get(key).cloned().unwrap_or_else(|| masked.clone());
    // The one log line per request; the raw key never appears in it.
    tracing::info!("[AUTH] {route} authenticated as {identity} key: {masked}");
    Auth::Identified(identity)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn mask_key_keeps_four_chars_on_each_side() {
        assert_eq!(mask_key("sk-alice-0000e001"), "sk-a…e001");
        assert_eq!(mask_key("123456789"), "1234…6789");
    }

    #[test]
    fn mask_key_hides_short_keys_entirely() {
        assert_eq!(mask_key(""), "****");
        assert_eq!(mask_key("sk-short"), "****");
    }

    #[test]
    fn mask_key_counts_characters_not_bytes() {
        assert_eq!(mask_key("ééééxéééé"), "éééé…éééé");
    }

    #[test]
    fn bearer_token_wins_over_x_api_key() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer sk-one"));
        headers.insert("x-api-key", HeaderValue::from_static("sk-two"));
        assert_eq!(request_key(&headers), Some("sk-one"));
        headers.remove(AUTHORIZATION);
        assert_eq!(request_key(&headers), Some("sk-two"));
    }

    #[test]
    fn an_empty_bearer_falls_back_to_x_api_key() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(request_key(&headers), None);
        headers.insert("x-api-key", HeaderValue::from_str("sk-two").unwrap());
        assert_eq!(request_key(&headers), Some("sk-two"));
    }
}
