//! Reading an LLM request body: size-limited, JSON, with the few fields the
//! gateway acts on checked up front so a malformed request is a clear 400
//! here rather than an opaque upstream error.
//!
//! The body is checked whole as JSON but parsed only where the gateway reads
//! it: the members it acts on (`model`, `stream`, the output caps,
//! `stream_options`) and every top-level number, boolean and null. The rest
//! (`messages`, `tools`, `input` …) stays the client's bytes, which go
//! upstream as sent (`crate::splice`); the prompt's text is counted from them
//! (`sent`). A translated request is parsed whole (`LlmRequest::whole`).

mod members;
mod sent;

use std::ops::Range;

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use serde::{Deserialize, de::IgnoredAny};
use serde_json::{Map, Value};

use self::{
    members::Members,
    sent::{Role, Text},
};
use crate::{catalog::Endpoint, error::GatewayError, limits::demand::OUTPUT_FIELDS};

#[derive(Clone)]
pub(crate) struct LlmRequest {
    /// The members the gateway reads or changes, parsed; every member once
    /// [`LlmRequest::whole`] ran.
    pub(crate) body: Map<String, Value>,
    /// The body as the client sent it: what goes upstream, but for the
    /// members the gateway changes (`crate::splice`).
    pub(crate) raw: Bytes,
    /// Every member in the order sent: its name and its value's place in `raw`.
    members: Vec<(Box<str>, Range<usize>)>,
    /// The prompt's text as `usage::estimate::request_text_len` counts it.
    text: Text,
    pub(crate) model: String,
    pub(crate) stream: bool,
}

impl LlmRequest {
    /// Parses every member into `body`, for a translation, which reads and
    /// rewrites them all.
    pub(crate) fn whole(&mut self) -> Result<(), GatewayError> {
        self.body =
            serde_json::from_slice(&self.raw).map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
        Ok(())
    }

    /// Each member as sent: its name and its value's bytes.
    pub(crate) fn sent(&self) -> Vec<(&str, &[u8])> {
        let sent = self.members.iter();
        sent.map(|(name, at)| (name.as_ref(), self.raw.get(at.clone()).unwrap_or_default()))
            .collect()
    }

    /// The length of the prompt's text, for the limits' estimate.
    pub(crate) fn text_len(&self) -> usize {
        self.text.len()
    }

    /// The value of the last member named `name` (the one a parser keeps),
    /// as sent.
    fn sent_value(&self, name: &str) -> Option<&[u8]> {
        let (_, at) = self.members.iter().rev().find(|(n, _)| n.as_ref() == name)?;
        self.raw.get(at.clone())
    }
}

/// Whether a member is parsed whatever its type: the gateway reads or
/// changes these.
fn parsed(name: &str) -> bool {
    matches!(name, "model" | "stream" | "stream_options") || OUTPUT_FIELDS.contains(&name)
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
    let (body, members, text) = read(&bytes)?;
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
    let request = LlmRequest {
        body,
        raw: bytes,
        members,
        text,
        model,
        stream,
    };
    check(&request, endpoint)?;
    Ok(request)
}

/// The members with their values' places, the members the gateway reads
/// parsed, and the prompt's text; or why the body is not a JSON object.
type Read = (Map<String, Value>, Vec<(Box<str>, Range<usize>)>, Text);

fn read(bytes: &[u8]) -> Result<Read, GatewayError> {
    let invalid = |e: serde_json::Error| GatewayError::InvalidJson(e.to_string());
    if bytes.iter().find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r')) != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => GatewayError::InvalidRequest("The request body must be a JSON object.".into()),
            Err(e) => invalid(e),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let Members(sent) = Members::deserialize(&mut de).map_err(invalid)?;
    de.end().map_err(invalid)?;
    let mut body = Map::new();
    let mut members = Vec::with_capacity(sent.len());
    let mut text = Text::default();
    for (i, (name, value)) in sent.iter().enumerate() {
        let value = value.get();
        // Borrowed from `bytes`, so its place is where its bytes are.
        let start = value.as_ptr() as usize - bytes.as_ptr() as usize;
        let first = value.as_bytes().first().copied();
        // Only the last of a repeated name counts, as in a parse.
        let last = !sent[i + 1..].iter().any(|(later, _)| later == name);
        match Role::of(name) {
            role @ (Role::Messages | Role::Text) if last => {
                text.add(sent::member(bytes, start, role).map_err(invalid)?)
            }
            _ if matches!(first, Some(b'[' | b'{')) => {
                sent::member(bytes, start, Role::None).map_err(invalid)?;
            }
            _ => {}
        }
        if parsed(name) || !matches!(first, Some(b'[' | b'{' | b'"')) {
            body.insert(name.to_string(), serde_json::from_str(value).map_err(invalid)?);
        }
        members.push((Box::from(name.as_ref()), start..start + value.len()));
    }
    Ok((body, members, text))
}

/// What each route requires of the members it reads.
fn check(request: &LlmRequest, endpoint: Endpoint) -> Result<(), GatewayError> {
    let body = &request.body;
    // A value's first byte tells its type.
    let kind = |name| request.sent_value(name).and_then(|v| v.first().copied());
    match endpoint {
        Endpoint::ChatCompletions => {
            require_array(request, "messages")?;
            require_whole_output_fields(body)?;
        }
        Endpoint::Messages | Endpoint::CountTokens => {
            require_array(request, "messages")?;
            if endpoint == Endpoint::Messages && !body.get("max_tokens").is_some_and(Value::is_u64) {
                return Err(missing("max_tokens", "a positive integer"));
            }
        }
        Endpoint::Embeddings => {
            if !matches!(kind("input"), Some(b'"' | b'[')) {
                return Err(missing("input", "a string or an array"));
            }
            if request.stream {
                return Err(GatewayError::InvalidRequest(
                    "Embeddings cannot be streamed.".into(),
                ));
            }
        }
        // `input` may be absent (a stored prompt, or a previous response
        // continued), but when present it is a string or a list of items.
        Endpoint::Responses | Endpoint::ResponsesInputTokens => {
            if !matches!(kind("input"), None | Some(b'"' | b'[')) {
                return Err(GatewayError::InvalidRequest(
                    "`input` must be a string or an array of input items.".into(),
                ));
            }
            require_whole_output_fields(body)?;
        }
        Endpoint::Completions => {
            if !matches!(kind("prompt"), Some(b'"' | b'[')) {
                return Err(missing("prompt", "a string or an array"));
            }
            require_whole_output_fields(body)?;
        }
    }
    Ok(())
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

/// A non-empty array: `[` then anything but `]`.
fn require_array(request: &LlmRequest, field: &str) -> Result<(), GatewayError> {
    let value = request.sent_value(field).unwrap_or_default();
    let mut bytes = value.iter().filter(|c| !c.is_ascii_whitespace());
    match (bytes.next(), bytes.next()) {
        (Some(b'['), Some(c)) if *c != b']' => Ok(()),
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
    fn only_the_members_the_gateway_reads_are_parsed_and_all_are_kept_as_sent() {
        let sent = r#"{"model":"m", "messages": [{"role":"user","content":"hi\n"}],
            "tools":[{"name":"t"}],"temperature":0.5,"max_tokens":5,"system":"be brief","stream_options":{"x":1}}"#;
        let mut r = parse_str(sent, Endpoint::ChatCompletions).unwrap();
        let parsed: Vec<&str> = r.body.keys().map(String::as_str).collect();
        assert_eq!(parsed, ["max_tokens", "model", "stream_options", "temperature"]);
        let names: Vec<&str> = r.sent().iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "model",
                "messages",
                "tools",
                "temperature",
                "max_tokens",
                "system",
                "stream_options"
            ]
        );
        assert_eq!(r.sent()[1].1, br#"[{"role":"user","content":"hi\n"}]"#);
        assert_eq!(r.text_len(), "be brief\nhi\n".len());
        r.whole().unwrap();
        assert_eq!(
            Value::Object(r.body),
            serde_json::from_str::<Value>(sent).unwrap()
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
            (
                r#"{"model":"m","messages":[{}],"temperature":1e400}"#,
                Endpoint::ChatCompletions,
                "number out of range",
            ),
            (
                r#"{"model":"m","messages":[{}]} x"#,
                Endpoint::ChatCompletions,
                "trailing",
            ),
            (
                r#"{"model":"m","messages":[{}"#,
                Endpoint::ChatCompletions,
                "not valid JSON",
            ),
            (
                r#"{"model":"m","messages":  [ ] }"#,
                Endpoint::ChatCompletions,
                "`messages`",
            ),
            (r#"{"model":"m","input":{}}"#, Endpoint::Embeddings, "`input`"),
            (r#"{"model":"m","prompt":1}"#, Endpoint::Completions, "`prompt`"),
        ];
        for (body, endpoint, needle) in cases {
            let err = parse_str(body, endpoint).err().unwrap().to_string();
            assert!(err.contains(needle), "{body}: {err}");
        }
    }
}
