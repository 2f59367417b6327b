//! AWS Bedrock, Anthropic models: the Messages request becomes
//! `InvokeModel` (`POST /model/{id}/invoke`) or, streamed,
//! `InvokeModelWithResponseStream` (`/model/{id}/invoke-with-response-stream`),
//! signed with SigV4 for the `bedrock` service. The body is Anthropic's
//! without `model` and `stream` and with Bedrock's `anthropic_version`;
//! the answer is Anthropic's JSON, or an AWS event stream that
//! `eventstream` turns back into Anthropic SSE.
//!
//! The key is `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]`, or a bare
//! access key id with `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) in
//! the environment, as the AWS SDKs read them.

use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use bytes::Bytes;
use keyway_common::sigv4::{self, AwsCredentials, Scope};
use reqwest::Url;
use serde_json::{Map, Value};

use super::{Answer, Outbound};
use crate::{catalog::Deployment, error::GatewayError};

/// The `anthropic_version` Bedrock's Anthropic models take in the body.
pub(super) const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";
const SERVICE: &str = "bedrock";
pub(super) const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

pub(super) fn prepare(
    deployment: &Deployment,
    method: &reqwest::Method,
    url: Url,
    body: &Bytes,
    key: &str,
    inbound: &HeaderMap,
    headers: HeaderMap,
) -> Result<Outbound, GatewayError> {
    let Some(base) = url.path().strip_suffix("/messages").map(str::to_owned) else {
        // Count tokens and the like: a 404 lets the caller count locally.
        return Err(GatewayError::UpstreamRefused {
            status: StatusCode::NOT_FOUND,
            message: "Bedrock serves only the Messages API for this model".into(),
            retry_after: None,
        });
    };
    let (body, stream) = invoke_body(body, inbound)?;
    let url = invoke_url(url, &base, &deployment.upstream_model, stream);
    let accept = if stream { EVENT_STREAM } else { "application/json" };
    let headers = sign(deployment, method, &url, &body, key, accept, headers)?;
    Ok(Outbound {
        url,
        body: Bytes::from(body),
        headers,
        answer: if stream { Answer::EventStream } else { Answer::AsIs },
    })
}

/// Signs a Bedrock runtime call with SigV4 for the region of the URL's
/// host, else the deployment's; `key` as the module doc says. Shared with
/// Converse (`converse`).
pub(super) fn sign(
    deployment: &Deployment,
    method: &reqwest::Method,
    url: &Url,
    body: &[u8],
    key: &str,
    accept: &'static str,
    mut headers: HeaderMap,
) -> Result<HeaderMap, GatewayError> {
    let region = region_of(url)
        .or(deployment.options.region.clone())
        .ok_or_else(|| GatewayError::UpstreamFailed("the Bedrock model has no region".into()))?;
    let credentials = AwsCredentials::from_key(key, |name| std::env::var(name).ok())
        .map_err(|e| GatewayError::UpstreamFailed(e.to_string()))?;
    headers.insert(header::ACCEPT, HeaderValue::from_static(accept));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let signed = sigv4::sign(
        method.as_str(),
        url.as_str(),
        &[("content-type", "application/json"), ("accept", accept)],
        body,
        &Scope {
            credentials: &credentials,
            region: &region,
            service: SERVICE,
            time: SystemTime::now(),
        },
    )
    .map_err(|e| GatewayError::UpstreamFailed(e.to_string()))?;
    for (name, value) in signed {
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| GatewayError::UpstreamFailed("the SigV4 signature is not a header value".into()))?;
        value.set_sensitive(true);
        headers.insert(HeaderName::from_static(name), value);
    }
    Ok(headers)
}

/// Anthropic's Messages body as `InvokeModel` takes it, and whether it
/// asked for a stream.
fn invoke_body(body: &[u8], inbound: &HeaderMap) -> Result<(Vec<u8>, bool), GatewayError> {
    let mut json: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    json.remove("model");
    let stream = json.remove("stream").and_then(|s| s.as_bool()) == Some(true);
    json.entry("anthropic_version")
        .or_insert_with(|| Value::from(BEDROCK_ANTHROPIC_VERSION));
    if let Some(beta) = inbound.get("anthropic-beta").and_then(|v| v.to_str().ok()) {
        let betas: Vec<Value> = beta.split(',').map(|b| Value::from(b.trim())).collect();
        json.insert("anthropic_beta".into(), Value::Array(betas));
    }
    let bytes = serde_json::to_vec(&json)
        .map_err(|e| GatewayError::InvalidRequest(format!("cannot re-encode the request: {e}")))?;
    Ok((bytes, stream))
}

/// `{base}/model/{id}/invoke[-with-response-stream]`, the model id
/// percent-encoded as the AWS SDKs send it (`:` and `/` of versions and
/// inference-profile ARNs included).
fn invoke_url(url: Url, base: &str, model_id: &str, stream: bool) -> Url {
    let action = if stream {
        "invoke-with-response-stream"
    } else {
        "invoke"
    };
    model_url(url, base, model_id, action)
}

/// `{base}/model/{id}/{action}`, the model id percent-encoded.
pub(super) fn model_url(mut url: Url, base: &str, model_id: &str, action: &str) -> Url {
    url.set_path(&format!("{base}/model/{}/{action}", encode(model_id)));
    url.set_query(None);
    url
}

fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The region of an AWS endpoint host (`bedrock-runtime.<region>.amazonaws.com`),
/// so a BYOK key's own base URL signs for its own region.
fn region_of(url: &Url) -> Option<String> {
    url.host_str()?
        .strip_prefix("bedrock-runtime.")?
        .split('.')
        .next()
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn invoke_urls_encode_the_model_id_and_pick_the_streaming_action() {
        let u = Url::parse("https://bedrock-runtime.eu-west-1.amazonaws.com/messages").unwrap();
        let plain = invoke_url(u.clone(), "", "anthropic.claude-3-5-sonnet-20240620-v1:0", false);
        assert_eq!(
            plain.as_str(),
            "https://bedrock-runtime.eu-west-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/invoke"
        );
        let streamed = invoke_url(u, "/proxy", "arn:aws:bedrock:x/y", true);
        assert_eq!(
            streamed.path(),
            "/proxy/model/arn%3Aaws%3Abedrock%3Ax%2Fy/invoke-with-response-stream"
        );
        assert_eq!(region_of(&plain).as_deref(), Some("eu-west-1"));
        assert_eq!(region_of(&Url::parse("http://127.0.0.1:9/").unwrap()), None);
    }

    #[test]
    fn the_body_drops_model_and_stream_and_names_the_bedrock_version() {
        let mut inbound = HeaderMap::new();
        inbound.insert("anthropic-beta", HeaderValue::from_static("a-1, b-2"));
        let (body, stream) = invoke_body(
            br#"{"model":"m","stream":true,"max_tokens":5,"messages":[]}"#,
            &inbound,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert!(stream);
        assert_eq!(
            v,
            serde_json::json!({"max_tokens": 5, "messages": [], "anthropic_version": BEDROCK_ANTHROPIC_VERSION,
                "anthropic_beta": ["a-1", "b-2"]})
        );
    }
}
