//! NUL (U+0000) anywhere in a request is refused at the edge of the
//! `/api/v1` routes, naming where it was. Postgres cannot store NUL in text, so such a
//! value would otherwise fail deep inside, at the database, where it looks
//! like an outage (503) instead of the caller's mistake (400).

use axum::{
    body::Body,
    extract::Request,
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde_json::Value;

use super::ApiError;
use crate::codes;

/// The largest body an `/api/v1` route reads. Its bodies are a tenant, a
/// user, a key's settings, a cursor or a webhook: a few hundred bytes. This
/// bounds what is buffered for the check before anyone is authenticated.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub async fn refuse_nul(request: Request, next: Next) -> Response {
    match check(request).await {
        Ok(request) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

fn refused(place: &str) -> ApiError {
    ApiError::bad_field(format!("{place}: must not contain NUL (U+0000) characters"))
}

/// Returns the request, with its body buffered, when no part holds a NUL.
async fn check(request: Request) -> Result<Request, ApiError> {
    let uri = request.uri();
    // Only the escape `%00` decodes to NUL: a raw NUL byte is not valid in
    // a request target, and no other escape overlaps it.
    if uri.path().contains("%00") {
        return Err(refused("path"));
    }
    for (name, value) in url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        if name.contains('\0') {
            return Err(refused("query"));
        }
        if value.contains('\0') {
            return Err(refused(&name));
        }
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            codes::REQ_TOO_LARGE,
            "the body is larger than this API accepts (64 KiB)",
        )
    })?;
    // A body that is not JSON is left to the handler, which says why. A raw
    // NUL inside a JSON string is not JSON; only the escape `\u0000` is.
    if let Ok(json) = serde_json::from_slice::<Value>(&bytes)
        && let Some(field) = nul_in(&json, "body")
    {
        return Err(refused(&field));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Where in `value` a NUL is, as a field path (`description`, `a.b[2]`).
fn nul_in(value: &Value, here: &str) -> Option<String> {
    let child = |key: &str| match here {
        "body" => key.to_owned(),
        _ => format!("{here}.{key}"),
    };
    match value {
        Value::String(s) => s.contains('\0').then(|| here.to_owned()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(v, &format!("{here}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(here.to_owned())
            } else {
                nul_in(v, &child(k))
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::nul_in;

    #[test]
    fn the_field_holding_a_nul_is_named() {
        let at = |v| nul_in(&v, "body");
        assert_eq!(
            at(json!({"url": "x", "description": "a\u{0}b"})).as_deref(),
            Some("description")
        );
        assert_eq!(
            at(json!({"a": {"b": ["ok", "\u{0}"]}})).as_deref(),
            Some("a.b[1]")
        );
        assert_eq!(at(json!({"\u{0}": 1})).as_deref(), Some("body"));
        assert_eq!(at(json!("\u{0}")).as_deref(), Some("body"));
        assert_eq!(at(json!({"after": "0", "tenant_id": null, "n": 0})), None);
    }
}
