//! Per-provider upstream adapters: where a call goes, how the provider key
//! travels, and what is done to the answer before the usage tap reads it.
//! `proxy::send` calls [`authorize`] for every request and [`adapt`] on
//! every 2xx answer; [`refusal`] names the provider errors that deserve a
//! clearer client error than a generic pass-through.
//!
//! One file per provider; the choice is the serving deployment's
//! [`Adapter`], resolved from the provider registry when the catalog loads,
//! so one model may mix deployments called differently (OpenAI and Azure,
//! Anthropic and Bedrock).

mod anthropic;
mod azure;
mod bedrock;
mod converse;
mod converse_stream;
mod eventstream;
mod gemini;
mod openai;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use bytes::Bytes;
use reqwest::Url;
use serde_json::Value;

use crate::{
    catalog::{Adapter, Deployment},
    error::GatewayError,
};

/// A request ready to send: its final URL, body and headers (auth included).
pub(crate) struct Outbound {
    pub url: Url,
    pub body: Bytes,
    pub headers: HeaderMap,
    /// What [`adapt`] must do to a 2xx answer.
    pub answer: Answer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The provider answers in its wire's own shape.
    AsIs,
    /// Bedrock's AWS event stream, re-framed as Anthropic SSE.
    EventStream,
    /// Bedrock Converse's JSON, or its event stream, as OpenAI's chat
    /// completion or chunks naming `model`.
    Converse { stream: bool, model: String },
}

/// Shapes the call for the deployment's provider: URL style, body rewrites
/// and the key's header or signature. `url` is the route under the
/// deployment's (or the BYOK key's) base URL.
pub(crate) fn authorize(
    deployment: &Deployment,
    method: &reqwest::Method,
    url: Url,
    body: Bytes,
    key: &str,
    inbound: &HeaderMap,
) -> Result<Outbound, GatewayError> {
    let mut headers = HeaderMap::new();
    if !body.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let simple = |url, headers| Outbound {
        url,
        body: body.clone(),
        headers,
        answer: Answer::AsIs,
    };
    let options = &deployment.options;
    Ok(match options.adapter {
        Adapter::Gemini => simple(url, gemini::headers(headers, key)?),
        Adapter::Bearer => simple(url, openai::headers(headers, key)?),
        Adapter::Anthropic => simple(url, anthropic::headers(headers, key, inbound)?),
        Adapter::Azure => simple(azure::url(url, options), azure::headers(headers, key)?),
        Adapter::Bedrock => bedrock::prepare(deployment, method, url, &body, key, inbound, headers)?,
        Adapter::Converse => converse::prepare(deployment, method, url, &body, key, headers)?,
    })
}

/// Turns a 2xx answer into the shape the client wire and the usage tap
/// expect.
pub(crate) fn adapt(answer: Answer, upstream: reqwest::Response) -> reqwest::Response {
    match answer {
        Answer::AsIs => upstream,
        Answer::EventStream => eventstream::into_sse_response(upstream, eventstream::AnthropicChunks),
        Answer::Converse { stream: true, model } => {
            eventstream::into_sse_response(upstream, converse_stream::OpenAiChunks::new(model))
        }
        Answer::Converse { stream: false, model } => converse::into_completion_response(upstream, model),
    }
}

/// A provider error that maps to its own Keyway error rather than a plain
/// pass-through (Azure's content filter).
pub(crate) fn refusal(deployment: &Deployment, status: StatusCode, body: &Value) -> Option<GatewayError> {
    match deployment.options.adapter {
        Adapter::Azure => azure::content_filter(status, body),
        _ => None,
    }
}

/// The error text of an upstream answer: OpenAI, Anthropic, Azure and
/// Gemini put it at `error.message`, Bedrock at `message` (or `Message`).
pub(crate) fn error_message(body: &Value) -> Option<&str> {
    ["/error/message", "/message", "/Message"]
        .iter()
        .find_map(|p| body.pointer(p).and_then(Value::as_str))
        .filter(|m| !m.is_empty())
}

/// A provider key as a header value, marked sensitive so it never shows in
/// a debug dump of the request.
fn secret_header(value: &str) -> Result<HeaderValue, GatewayError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        GatewayError::UpstreamFailed("the provider key holds characters a header cannot carry".into())
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn bearer(mut headers: HeaderMap, key: &str) -> Result<HeaderMap, GatewayError> {
    headers.insert(header::AUTHORIZATION, secret_header(&format!("Bearer {key}"))?);
    Ok(headers)
}

fn named(mut headers: HeaderMap, name: &'static str, key: &str) -> Result<HeaderMap, GatewayError> {
    headers.insert(HeaderName::from_static(name), secret_header(key)?);
    Ok(headers)
}

#[cfg(test)]
mod tests;
