//! Reading an LLM request body: size-limited, JSON, with the few fields the
//! gateway acts on checked up front so a malformed request is a clear 400
//! here rather than an opaque upstream error.
//!
//! The body is checked whole as JSON but parsed only where the gateway reads
//! it: the members it acts on (`model`, `stream`, the output caps,
//! `stream_options`) and every top-level number, boolean and null. The rest
//! (`messages`, `tools`, `input` …) stays the client's bytes, which go
//! upstream as sent (`crate::splice`). One scan (`sent`) checks the body,
//! finds its members and counts the prompt's text in them. A body for a model whose requests are translated is parsed
//! whole, at once when the model it names is found first (`model_hint`),
//! else when it comes to be translated (`LlmRequest::whole`).

mod sent;
pub(crate) mod serde_reading;

use std::{ops::Range, sync::LazyLock};

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use memchr::memmem;
use serde::de::IgnoredAny;
use serde_json::{Map, Value};

pub(crate) use self::sent::MAX_DEPTH;
use self::sent::Text;
use crate::{catalog::Endpoint, error::GatewayError, limits::demand::OUTPUT_FIELDS, splice};

#[derive(Clone)]
pub(crate) struct LlmRequest {
    /// The members the gateway reads or changes, parsed; every member when
    /// the body was parsed whole.
    pub(crate) body: Map<String, Value>,
    /// The body as the client sent it: what goes upstream, but for the
    /// members the gateway changes (`crate::splice`).
    pub(crate) raw: Bytes,
    /// The members as sent, unless the body was parsed whole.
    sent: Option<Sent>,
    pub(crate) model: String,
    pub(crate) stream: bool,
}

#[derive(Clone)]
struct Sent {
    /// Every member in the order sent: its name and its value's place in `raw`.
    members: Vec<(Box<str>, Range<usize>)>,
    /// The prompt's text as `usage::estimate::request_text_len` counts it.
    text: Text,
}

impl LlmRequest {
    /// Parses every member into `body`, for a translation, which reads and
    /// rewrites them all.
    pub(crate) fn whole(&mut self) -> Result<(), GatewayError> {
        if self.sent.take().is_some() {
            self.body =
                serde_json::from_slice(&self.raw).map_err(|e| GatewayError::InvalidJson(e.to_string()))?;
        }
        Ok(())
    }

    /// The client's body with each member of `changed` written from its
    /// value there (or left out when `None`).
    pub(crate) fn spliced(&self, changed: &[(&str, Option<&Value>)]) -> serde_json::Result<Vec<u8>> {
        let Some(sent) = &self.sent else {
            return splice::splice(&self.raw, changed);
        };
        let members = sent.members.iter();
        let members: Vec<(&str, &[u8])> = members
            .map(|(name, at)| (name.as_ref(), self.raw.get(at.clone()).unwrap_or_default()))
            .collect();
        splice::with_members(&members, changed)
    }

    /// The length of the prompt's text, unless the body was parsed whole
    /// (then `usage::estimate::request_text_len` counts it on `body`).
    pub(crate) fn sent_text_len(&self) -> Option<usize> {
        self.sent.as_ref().map(|sent| sent.text.len())
    }

    /// The first byte of the last member named `name` (the one a parser
    /// keeps), which tells its type.
    fn first_byte(&self, name: &str) -> Option<u8> {
        match self.sent {
            Some(_) => self.sent_value(name)?.first().copied(),
            None => Some(match self.body.get(name)? {
                Value::String(_) => b'"',
                Value::Array(_) => b'[',
                Value::Object(_) => b'{',
                _ => b'0',
            }),
        }
    }

    fn sent_value(&self, name: &str) -> Option<&[u8]> {
        let members = &self.sent.as_ref()?.members;
        let (_, at) = members.iter().rev().find(|(n, _)| n.as_ref() == name)?;
        self.raw.get(at.clone())
    }
}

/// Whether a member is parsed whatever its type: the gateway reads or
/// changes these.
pub(crate) fn parsed(name: &str) -> bool {
    matches!(name, "model" | "stream" | "stream_options") || OUTPUT_FIELDS.contains(&name)
}

/// Reads a request body. `translated` says whether a model's requests on
/// this route are translated: such a body is parsed whole, as translating
/// reads every member; any other is read as its members.
pub(crate) fn parse(
    raw: Result<Bytes, BytesRejection>,
    endpoint: Endpoint,
    limit: usize,
    translated: impl Fn(&str) -> bool,
) -> Result<LlmRequest, GatewayError> {
    let bytes = raw.map_err(|rejection| match rejection.status().as_u16() {
        413 => GatewayError::BodyTooLarge { limit },
        _ => GatewayError::InvalidRequest(format!(
            "Could not read the request body: {}",
            rejection.body_text()
        )),
    })?;
    let (body, sent) = match model_hint(&bytes).is_some_and(translated) {
        true => (read_whole(&bytes)?, None),
        false => {
            let (body, members, text) = read(&bytes)?;
            (body, Some(Sent { members, text }))
        }
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
    let request = LlmRequest {
        body,
        raw: bytes,
        sent,
        model,
        stream,
    };
    check(&request, endpoint)?;
    Ok(request)
}

/// The model a body names in its first `"model": "…"`, found without
/// reading the body: which way to read it depends on the model, and reading
/// it twice cost a translated request of 70 KB 44% more. A wrong hint (a
/// nested member named `model` first) costs only time: the model read is
/// the one that counts.
fn model_hint(b: &[u8]) -> Option<&str> {
    let ws = |b: &[u8]| -> usize {
        b.iter()
            .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
            .count()
    };
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"\"model\""));
    FINDER.find_iter(b).find_map(|at| {
        let rest = b.get(at + 7..)?;
        let rest = rest.get(ws(rest)..)?.strip_prefix(b":")?;
        let rest = rest.get(ws(rest)..)?.strip_prefix(b"\"")?;
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        match rest.get(end) {
            Some(b'"') => std::str::from_utf8(&rest[..end]).ok(),
            _ => None,
        }
    })
}

/// The whole body parsed, as a translation needs it.
fn read_whole(bytes: &[u8]) -> Result<Map<String, Value>, GatewayError> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(not_an_object()),
        Err(e) => Err(GatewayError::InvalidJson(e.to_string())),
    }
}

fn not_an_object() -> GatewayError {
    GatewayError::InvalidRequest("The request body must be a JSON object.".into())
}

/// The members with their values' places, the members the gateway reads
/// parsed, and the prompt's text; or why the body is not a JSON object.
pub(crate) type Read = (Map<String, Value>, Vec<(Box<str>, Range<usize>)>, Text);

pub(crate) fn read(bytes: &[u8]) -> Result<Read, GatewayError> {
    let invalid = |e: serde_json::Error| GatewayError::InvalidJson(e.to_string());
    if bytes.iter().find(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r')) != Some(&b'{') {
        return Err(match serde_json::from_slice::<IgnoredAny>(bytes) {
            Ok(_) => not_an_object(),
            Err(e) => invalid(e),
        });
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| GatewayError::InvalidJson("The request body is not valid UTF-8.".into()))?;
    let sent = sent::body(bytes).map_err(|ours| match serde_json::from_slice::<IgnoredAny>(bytes) {
        // Refused by serde_json too, whose words say where.
        Err(e) => invalid(e),
        // Else nested deeper than a parse allows: serde_json's skip has no limit.
        Ok(_) => invalid(ours),
    })?;
    let mut body = Map::new();
    let mut prompt = Text::default();
    for (i, (name, at, held)) in sent.iter().enumerate() {
        let value = text.get(at.clone()).unwrap_or_default();
        // Only the last of a repeated name counts, as in a parse.
        if !sent[i + 1..].iter().any(|(later, ..)| later == name) {
            prompt.add(*held);
        }
        if parsed(name) || !matches!(value.as_bytes().first(), Some(b'[' | b'{' | b'"')) {
            body.insert(name.to_string(), serde_json::from_str(value).map_err(invalid)?);
        }
    }
    let members = sent.into_iter().map(|(name, at, _)| (name, at)).collect();
    Ok((body, members, prompt))
}

/// What each route requires of the members it reads.
fn check(request: &LlmRequest, endpoint: Endpoint) -> Result<(), GatewayError> {
    let body = &request.body;
    let kind = |name| request.first_byte(name);
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

/// A non-empty array (as sent: `[` then anything but `]`).
fn require_array(request: &LlmRequest, field: &str) -> Result<(), GatewayError> {
    let non_empty = match &request.sent {
        None => matches!(request.body.get(field), Some(Value::Array(items)) if !items.is_empty()),
        Some(_) => {
            let value = request.sent_value(field).unwrap_or_default();
            let mut bytes = value.iter().filter(|c| !c.is_ascii_whitespace());
            matches!((bytes.next(), bytes.next()), (Some(b'['), Some(c)) if *c != b']')
        }
    };
    match non_empty {
        true => Ok(()),
        false => Err(missing(field, "a non-empty array")),
    }
}

#[cfg(test)]
mod tests;
