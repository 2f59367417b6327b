//! `POST /v1/responses/input_tokens` and `POST /v1/messages/count_tokens`:
//! passed through where the upstream has them, counted here (cl100k, the
//! same tokenizer as usage estimates) where it answers 404 or 405. Either
//! way they are recorded as requests with no tokens and no cost.

use axum::{
    body::Body,
    http::{StatusCode, header},
    response::Response,
};
use serde_json::{Value, json};

use crate::{
    catalog::Endpoint,
    error::GatewayError,
    usage::{estimate, meter::Meter},
};

pub(crate) fn is_count(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::ResponsesInputTokens | Endpoint::CountTokens)
}

/// The upstream has no such route (older or OpenAI-compatible providers).
pub(crate) fn upstream_lacks_route(e: &GatewayError) -> bool {
    matches!(e, GatewayError::UpstreamRefused { status, .. }
        if *status == StatusCode::NOT_FOUND || *status == StatusCode::METHOD_NOT_ALLOWED)
}

/// The count made here, in the shape of the API asked.
pub(crate) fn local(
    endpoint: Endpoint,
    body: Option<&[u8]>,
    meter: Option<Meter>,
) -> Result<Response, GatewayError> {
    let request: Value = body
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null);
    let mut text = estimate::request_text(&request);
    // Tool definitions are part of the prompt too.
    if let Some(tools) = request.get("tools").filter(|t| !t.is_null()) {
        text.push('\n');
        text.push_str(&tools.to_string());
    }
    let count = estimate::count(&text);
    let answer = match endpoint {
        Endpoint::ResponsesInputTokens => json!({"object": "response.input_tokens", "input_tokens": count}),
        _ => json!({"input_tokens": count}),
    };
    if let Some(meter) = meter {
        meter.finish_without_tokens(200, "");
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-keyway-counted", "local")
        .body(Body::from(answer.to_string()))
        .map_err(|e| GatewayError::UpstreamFailed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_missing_upstream_route_falls_back_to_a_local_count() {
        let refused = |status| GatewayError::UpstreamRefused {
            status,
            message: String::new(),
            retry_after: None,
        };
        assert!(upstream_lacks_route(&refused(StatusCode::NOT_FOUND)));
        assert!(!upstream_lacks_route(&refused(StatusCode::TOO_MANY_REQUESTS)));
        assert!(!upstream_lacks_route(&GatewayError::UpstreamTimeout));
    }
}
