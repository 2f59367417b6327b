//! Issue 11's hardening, end to end: brute-force protection on every edge
//! (shared through NATS KV, counted locally without it, by client address
//! behind trusted proxies), authentication by default on every documented
//! route, one answer for an unknown key id and a wrong secret, CORS off
//! unless configured, production refusing insecure settings, and
//! `KEYWAY_AUTH=off` in dev.

mod brute_force;
mod cors;
mod production;
mod routes;

use reqwest::Response;
use serde_json::Value;

use crate::helpers::{TestStack, chat};

/// A chat call to `stack` presenting `key` as a bearer (nothing for `None`),
/// from `forwarded_for` when given.
pub(crate) async fn chat_as(stack: &TestStack, key: Option<&str>, forwarded_for: Option<&str>) -> Response {
    let mut request = stack
        .http
        .post(stack.url("/v1/chat/completions"))
        .json(&chat("mock-gpt", "hi"));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if let Some(xff) = forwarded_for {
        request = request.header("x-forwarded-for", xff);
    }
    request.send().await.unwrap()
}

/// The status, `Retry-After` and JSON body of an answer.
pub(crate) async fn answer(response: Response) -> (u16, Option<u64>, Value) {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry_after, response.json().await.unwrap_or(Value::Null))
}
