//! One error of each code the gateway answers with, rendered by the real
//! error type, so the OpenAPI document's examples are the bodies a client
//! gets (see `keyway::openapi_errors`).

use axum::http::StatusCode;

use crate::{error::GatewayError, limits::Refusal};

/// Every code's sample, in the order of `docs/errors.md`.
pub fn samples() -> Vec<GatewayError> {
    use GatewayError::*;
    vec![
        MissingApiKey,
        InvalidApiKey,
        Forbidden("The viewer role may not send LLM requests.".into()),
        AuthUnavailable,
        IdentityUnconfirmed,
        TooManyFailures {
            retry_after_secs: 900,
        },
        InvalidJson("expected value at line 1 column 1".into()),
        InvalidRequest("`messages` is required and must be an array.".into()),
        BodyTooLarge { limit: 10_485_760 },
        NotJson,
        RouteNotFound("/v1/unknown".into()),
        HeadersTooLarge { limit: 65_536 },
        ModelNotFound("gpt-unknown".into()),
        WrongRoute {
            model: "text-embedding-3-small".into(),
            route: "/v1/embeddings",
        },
        Untranslatable {
            param: "logprobs".into(),
            reason: "Anthropic returns no log probabilities",
        },
        KeyRequired {
            model: "gpt-4o".into(),
            provider: "openai".into(),
            tried: "user".into(),
        },
        ResponseNotFound("resp_123".into()),
        UpstreamRefused {
            status: StatusCode::BAD_REQUEST,
            message: "This response cannot be cancelled.".into(),
            retry_after: None,
        },
        UpstreamFailed("status 500: The server had an error".into()),
        UpstreamTimeout,
        ContentFiltered {
            categories: vec!["violence".into()],
        },
        Limited(Refusal::sample(false)),
        Limited(Refusal::sample(true)),
        LimitsUnavailable,
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A new code without a sample would leave the document without its
    /// example: every `/v1` code of the registry has one (KW-UP-004 is an
    /// event inside a 200 stream, not an error response).
    #[test]
    fn every_gateway_code_has_a_sample() {
        let sampled: BTreeSet<&str> = samples().iter().map(GatewayError::code).collect();
        let gateway = keyway_common::codes::ALL.iter().copied().filter(|c| {
            [
                "KW-AUTH",
                "KW-REQ",
                "KW-MODEL",
                "KW-TRANSLATE",
                "KW-KEY",
                "KW-RESP",
                "KW-UP",
                "KW-LIMIT",
            ]
            .iter()
            .any(|p| c.starts_with(p))
        });
        for code in gateway {
            if !["KW-UP-004", "KW-REQ-007"].contains(&code) {
                assert!(sampled.contains(code), "{code} has no sample");
            }
        }
    }
}
