//! AWS Bedrock, every model but Anthropic's: the OpenAI chat completion
//! becomes `Converse` (`POST /model/{id}/converse`) or, streamed,
//! `ConverseStream` (`/model/{id}/converse-stream`, an AWS event stream),
//! SigV4-signed like `InvokeModel` (`bedrock`). The answer comes back as an
//! OpenAI chat completion, or OpenAI chunks (`converse_stream`), so the
//! client wire, the usage tap and the translation layer (Anthropic clients)
//! see an OpenAI-wire model.
//!
//! Text conversations only: system and developer messages become
//! `system`, `max_tokens`/`max_completion_tokens`, `temperature`, `top_p`
//! and `stop` become `inferenceConfig`. Any other parameter (tools, images,
//! `response_format`, …) is a 400 naming it, as with translation.

use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use reqwest::Url;
use serde_json::{Map, Value, json};

use super::{Answer, Outbound, bedrock};
use crate::{catalog::Deployment, error::GatewayError};

/// Parameters the OpenAI SDKs or the gateway send that mean nothing to a
/// Converse call (`stream_options`: usage always comes in `metadata`).
const IGNORED: [&str; 5] = ["model", "stream", "stream_options", "user", "store"];

pub(super) fn prepare(
    deployment: &Deployment,
    method: &reqwest::Method,
    url: Url,
    body: &Bytes,
    key: &str,
    headers: HeaderMap,
) -> Result<Outbound, GatewayError> {
    let Some(base) = url.path().strip_suffix("/chat/completions").map(str::to_owned) else {
        return Err(GatewayError::UpstreamRefused {
            status: StatusCode::NOT_FOUND,
            message: "Bedrock Converse serves only chat completions for this model".into(),
            retry_after: None,
        });
    };
    let (body, stream) = converse_body(body)?;
    let action = if stream { "converse-stream" } else { "converse" };
    let url = bedrock::model_url(url, &base, &deployment.upstream_model, action);
    let accept = if stream {
        bedrock::EVENT_STREAM
    } else {
        "application/json"
    };
    let headers = bedrock::sign(deployment, method, &url, &body, key, accept, headers)?;
    let answer = Answer::Converse {
        stream,
        model: deployment.upstream_model.clone(),
    };
    Ok(Outbound {
        url,
        body: Bytes::from(body),
        headers,
        answer,
    })
}

fn unsupported(what: &str) -> GatewayError {
    GatewayError::InvalidRequest(format!(
        "{what} is not supported by Bedrock Converse models (text conversations only)"
    ))
}

/// The OpenAI chat body as a Converse request, and whether it streams.
pub(super) fn converse_body(body: &[u8]) -> Result<(Vec<u8>, bool), GatewayError> {
    let request: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    let mut config = Map::new();
    let (mut system, mut messages) = (Vec::new(), Vec::<Value>::new());
    for (name, value) in &request {
        match name.as_str() {
            "messages" => {
                for m in value
                    .as_array()
                    .ok_or_else(|| unsupported("non-array messages"))?
                {
                    message(m, &mut system, &mut messages)?;
                }
            }
            "max_tokens" | "max_completion_tokens" if value.is_u64() => {
                config.insert("maxTokens".into(), value.clone());
            }
            "temperature" if value.is_number() => {
                config.insert("temperature".into(), value.clone());
            }
            "top_p" if value.is_number() => {
                config.insert("topP".into(), value.clone());
            }
            "stop" => {
                let stops = match value {
                    Value::String(s) => vec![Value::from(s.as_str())],
                    Value::Array(list) => list.clone(),
                    _ => Vec::new(),
                };
                config.insert("stopSequences".into(), Value::Array(stops));
            }
            "n" if value.as_u64() == Some(1) => {}
            name if IGNORED.contains(&name) || value.is_null() => {}
            other => return Err(unsupported(&format!("the parameter `{other}`"))),
        }
    }
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    let mut out = json!({"messages": messages});
    if !system.is_empty() {
        out["system"] = Value::Array(system);
    }
    if !config.is_empty() {
        out["inferenceConfig"] = Value::Object(config);
    }
    let bytes = serde_json::to_vec(&out)
        .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    Ok((bytes, stream))
}

/// One OpenAI message: system text, or a turn; consecutive turns of one
/// role are merged (Converse wants them alternating).
fn message(m: &Value, system: &mut Vec<Value>, messages: &mut Vec<Value>) -> Result<(), GatewayError> {
    let role = m.get("role").and_then(Value::as_str).unwrap_or_default();
    let blocks = text_blocks(m.get("content").unwrap_or(&Value::Null))?;
    match role {
        "system" | "developer" => system.extend(blocks),
        "user" | "assistant" => {
            if m.get("tool_calls").is_some_and(|c| !c.is_null()) {
                return Err(unsupported("tool calls"));
            }
            match messages.last_mut() {
                Some(last) if last["role"] == role => {
                    if let Some(content) = last["content"].as_array_mut() {
                        content.extend(blocks);
                    }
                }
                _ => messages.push(json!({"role": role, "content": blocks})),
            }
        }
        other => return Err(unsupported(&format!("a `{other}` message"))),
    }
    Ok(())
}

fn text_blocks(content: &Value) -> Result<Vec<Value>, GatewayError> {
    match content {
        Value::String(text) => Ok(vec![json!({"text": text})]),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                (Some("text"), Some(Value::String(text))) => Ok(json!({"text": text})),
                (kind, _) => Err(unsupported(&format!(
                    "a `{}` content part",
                    kind.unwrap_or("untyped")
                ))),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        _ => Err(unsupported("this message content")),
    }
}

/// An OpenAI `finish_reason` for a Converse `stopReason`.
pub(super) fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "content_filtered" | "guardrail_intervened" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's usage object for Converse's: OpenAI counts cached prompt
/// tokens inside `prompt_tokens`, Converse beside `inputTokens`.
pub(super) fn usage(converse: &Value) -> Value {
    let n = |k: &str| converse.get(k).and_then(Value::as_u64).unwrap_or(0);
    let cached = n("cacheReadInputTokens");
    let prompt = n("inputTokens") + cached + n("cacheWriteInputTokens");
    let completion = n("outputTokens");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// An id for the answer: Converse gives none.
pub(super) fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::now_v7().simple())
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A Converse answer as an OpenAI chat completion.
pub(super) fn completion(converse: &Value, model: &str) -> Value {
    let text: String = converse
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let stop = converse
        .get("stopReason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason(stop),
        }],
        "usage": usage(converse.get("usage").unwrap_or(&Value::Null)),
    })
}

/// The 2xx Converse answer with its body read whole and re-encoded as an
/// OpenAI chat completion (a body that is not JSON fails the read).
pub(super) fn into_completion_response(upstream: reqwest::Response, model: String) -> reqwest::Response {
    let status = upstream.status();
    let body = futures::stream::once(async move {
        let raw = upstream
            .bytes()
            .await
            .map_err(|e| std::io::Error::other(e.without_url()))?;
        let converse: Value = serde_json::from_slice(&raw)
            .map_err(|_| std::io::Error::other("Bedrock's Converse answer is not JSON"))?;
        Ok::<_, std::io::Error>(Bytes::from(completion(&converse, &model).to_string()))
    });
    let mut response = http::Response::new(reqwest::Body::wrap_stream(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    reqwest::Response::from(response)
}

#[cfg(test)]
#[path = "converse_tests.rs"]
mod tests;
