//! Anthropic's own API: `x-api-key`, the client's `anthropic-version` (or
//! Keyway's default) and any `anthropic-beta` passed on.

use axum::http::{HeaderMap, HeaderValue};
use keyway_common::providers::ANTHROPIC_VERSION;

use crate::error::GatewayError;

pub(super) fn headers(headers: HeaderMap, key: &str, inbound: &HeaderMap) -> Result<HeaderMap, GatewayError> {
    let mut headers = super::named(headers, "x-api-key", key)?;
    let version = inbound
        .get("anthropic-version")
        .cloned()
        .unwrap_or(HeaderValue::from_static(ANTHROPIC_VERSION));
    headers.insert("anthropic-version", version);
    if let Some(beta) = inbound.get("anthropic-beta") {
        headers.insert("anthropic-beta", beta.clone());
    }
    Ok(headers)
}
