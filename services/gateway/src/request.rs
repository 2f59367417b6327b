//! Reading an LLM request body: size-limited, JSON, with the few fields the
//! gateway acts on checked up front so a malformed request is a clear 400
//! here rather than an opaque upstream error.

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::{catalog::Endpoint, error::GatewayError, limits::demand::OUTPUT_FIELDS};

#[derive(Clone)]
pub(crate) struct LlmRequest {
    pub(crate) body: Map<String, Value>,
    /// The body as the client sent it: what goes upstream, but for the
    /// members the gateway changes (`crate::splice`).
    pub(crate) raw: Bytes,
    pub(crate) model: String,
    pub(crate) stream: bool,
}

pub(crate) fn parse(
    raw: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
    limit: usize,
) -> Result<LlmRequest, GatewayError> {
    let bytes = raw.map_err(|rejection| match rejection.status().as_u16() {
        413 => GatewayError::BodyTooLarge { limit },
        _ => GatewayError::InvalidRequest(format!(
            "Could not read the request body: {}",
            rejection.body_text()
        )),
    })?;
    let body: Map<String, Value> = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => map,
        Ok(_) => {
            return Err(GatewayError::InvalidRequest(
                "The request body must be a JSON object.".into(),
            ));
        }
        Err(e) => return Err(GatewayError::InvalidJson(e.to_string())),
    };
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => return Err(missing("model", "a non-empty string")),
        None => return Err(missing("model", "a non-empty string")),
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(GatewayError::InvalidRequest("`stream` must be a boolean.".into()));
        }
    };
    match endpoint {
        Endpoint::ChatCompletions => {
            require_array(&body, "messages")?;
            require_whole_output_fields(&body)?;
        }
        Endpoint::Messages | Endpoint::CountTokens => {
            require_array(&body, "messages")?;
            if endpoint == Endpoint::Messages && !body.get("max_tokens").is_some_and(Value::is_u64) {
                return Err(missing("max_tokens", "a positive integer"));
            }
        }
        Endpoint::Embeddings => {
            let ok = matches!(body.get("input"), Some(Value::String(_) | Value::Array(_)));
            if !ok {
                return Err(missing("input", "a string or an array"));
            }
            if stream {
                return Err(GatewayError::InvalidRequest(
                    "Embeddings cannot be streamed.".into(),
                ));
            }
        }
        // `input` may be absent (a stored prompt, or a previous response
        // continued), but when present it is a string or a list of items.
        Endpoint::Responses | Endpoint::ResponsesInputTokens => {
            if !matches!(body.get("input"), None | Some(Value::String(_) | Value::Array(_))) {
                return Err(GatewayError::InvalidRequest(
                    "`input` must be a string or an array of input items.".into(),
                ));
            }
            require_whole_output_fields(&body)?;
        }
        Endpoint::Completions => {
            if !matches!(body.get("prompt"), Some(Value::String(_) | Value::Array(_))) {
                return Err(missing("prompt", "a string or an array"));
            }
            require_whole_output_fields(&body)?;
        }
    }
    Ok(LlmRequest {
        body,
        raw: bytes,
        model,
        stream,
    })
}

/// A length that is not a whole number in range (a float, a negative, 2^64
/// or more) would be reserved as the default one while the upstream may read
/// it otherwise: refuse it.
fn require_whole_output_fields(body: &Map<String, Value>) -> Result<(), GatewayError> {
    for field in OUTPUT_FIELDS {
        if !body.get(field).is_none_or(|v| v.is_null() || v.is_u64()) {
            return Err(GatewayError::InvalidRequest(format!(
                "`{field}` must be a non-negative integer."
            )));
        }
    }
    Ok(())
}

fn missing(field: &str, what: &str) -> GatewayError {
    GatewayError::InvalidRequest(format!("`{field}` is required and must be {what}."))
}

fn require_array(body: &Map<String, Value>, field: &str) -> Result<(), GatewayError> {
    match body.get(field) {
        Some(Value::Array(items)) if !items.is_empty() => Ok(()),
        _ => Err(missing(field, "a non-empty array")),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_str(s: &'static str, endpoint: Endpoint) -> Result<LlmRequest, GatewayError> {
        parse(Ok(Bytes::from_static(s.as_bytes())), endpoint, 1024)
    }

    #[test]
    fn a_valid_chat_request_is_read() {
        let r = parse_str(
            r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
            Endpoint::ChatCompletions,
        )
        .unwrap();
        assert_eq!(r.model, "m");
        assert!(r.stream);
        let r = parse_str(
            r#"{"model":"m","messages":[{}],"max_tokens":18446744073709551615,"max_completion_tokens":null}"#,
            Endpoint::ChatCompletions,
        );
        assert!(
            r.is_ok(),
            "the largest u64 is read, then lowered to the model's cap"
        );
    }

    #[test]
    fn malformed_requests_name_what_is_wrong() {
        let cases = [
            ("{", Endpoint::ChatCompletions, "not valid JSON"),
            ("[]", Endpoint::ChatCompletions, "JSON object"),
            (r#"{"messages":[{}]}"#, Endpoint::ChatCompletions, "`model`"),
            (r#"{"model":"m"}"#, Endpoint::ChatCompletions, "`messages`"),
            (
                r#"{"model":"m","messages":[]}"#,
                Endpoint::ChatCompletions,
                "`messages`",
            ),
            (
                r#"{"model":"m","messages":[{}],"stream":"yes"}"#,
                Endpoint::ChatCompletions,
                "`stream`",
            ),
            (
                r#"{"model":"m","messages":[{}]}"#,
                Endpoint::Messages,
                "`max_tokens`",
            ),
            (r#"{"model":"m"}"#, Endpoint::Embeddings, "`input`"),
            (
                r#"{"model":"m","messages":[{}],"max_tokens":18446744073709551616}"#,
                Endpoint::ChatCompletions,
                "`max_tokens`",
            ),
            (
                r#"{"model":"m","messages":[{}],"max_completion_tokens":-1}"#,
                Endpoint::ChatCompletions,
                "`max_completion_tokens`",
            ),
            (
                r#"{"model":"m","messages":[{}],"max_tokens":1.5}"#,
                Endpoint::ChatCompletions,
                "`max_tokens`",
            ),
        ];
        for (body, endpoint, needle) in cases {
            let err = parse_str(body, endpoint).err().unwrap().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
