//! Malformed input (issue 16) against the real binary, on the OpenAI and
//! Anthropic routes of `/v1` and on `/api/v1`: huge bodies (sized and
//! chunked), invalid UTF-8, deeply nested JSON, duplicate keys, `1e400`,
//! absurd `max_tokens`, wrong content types, bare CRs and folded lines in
//! headers, a 64 KiB header, and two different keys in `Authorization` and
//! `x-api-key`. Each must get a 4xx in the route's own error shape (a
//! head the HTTP parser itself refuses gets its bare 400/431, before any
//! route runs), never a 5xx, a panic in the server's stderr, or a hang.
//! Run it alone with `cargo test -p keyway --test e2e malformed:: -- --nocapture`.

mod cases;
mod raw;

use serde_json::Value;

/// The three error shapes a route may answer in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Wire {
    /// `{"error": {"message", "type", "keyway_code", …}}`
    OpenAi,
    /// `{"type": "error", "error": {"type", "message", "keyway_code"}}`
    Anthropic,
    /// `{"error": {"code", "message"}}`
    Keyway,
}

impl Wire {
    /// The stable code, when `body` is an error in this wire's shape.
    pub(super) fn code(self, body: &str) -> Option<String> {
        let body: Value = serde_json::from_str(body).ok()?;
        let error = &body["error"];
        let message = error["message"].as_str().is_some_and(|m| !m.is_empty());
        let (code, shaped) = match self {
            Wire::OpenAi => (&error["keyway_code"], error["type"].is_string()),
            Wire::Anthropic => (
                &error["keyway_code"],
                body["type"] == "error" && error["type"].is_string(),
            ),
            Wire::Keyway => (&error["code"], true),
        };
        (message && shaped)
            .then(|| code.as_str().map(str::to_owned))
            .flatten()
            .filter(|c| c.starts_with("KW-"))
    }
}

/// One route the suite sends its cases to.
pub(super) struct Route {
    pub(super) path: &'static str,
    pub(super) wire: Wire,
    /// A valid body to spoil.
    pub(super) body: fn() -> Value,
}

pub(super) const ROUTES: [Route; 3] = [
    Route {
        path: "/v1/chat/completions",
        wire: Wire::OpenAi,
        body: || serde_json::json!({"model": "mock-gpt", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    },
    Route {
        path: "/v1/messages",
        wire: Wire::Anthropic,
        body: || serde_json::json!({"model": "mock-claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    },
    Route {
        path: "/api/v1/tenants",
        wire: Wire::Keyway,
        body: || serde_json::json!({"name": "Malformed", "plan": "pro"}),
    },
];

#[test]
fn the_shapes_are_told_apart() {
    let openai =
        r#"{"error": {"message": "m", "type": "invalid_request_error", "keyway_code": "KW-REQ-001"}}"#;
    let anthropic = r#"{"type": "error", "error": {"type": "invalid_request_error", "message": "m", "keyway_code": "KW-REQ-001"}}"#;
    let keyway = r#"{"error": {"code": "KW-REQ-001", "message": "m"}}"#;
    assert_eq!(Wire::OpenAi.code(openai).as_deref(), Some("KW-REQ-001"));
    assert_eq!(Wire::Anthropic.code(openai), None);
    assert_eq!(Wire::Anthropic.code(anthropic).as_deref(), Some("KW-REQ-001"));
    assert_eq!(Wire::Keyway.code(keyway).as_deref(), Some("KW-REQ-001"));
    assert_eq!(Wire::Keyway.code("<html>"), None);
}
