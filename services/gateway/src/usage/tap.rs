//! Reads usage out of an upstream response as it streams past, without
//! delaying it: JSON bodies are copied aside (bounded) and parsed at the end;
//! SSE events are parsed one by one. For OpenAI streams where Keyway itself
//! asked for `include_usage`, the extra usage-only chunk is removed so the
//! client sees exactly the stream it asked for.
//!
//! Every buffer is bounded: a JSON body and the reply text by [`MAX_KEPT`],
//! raw content frames by [`MAX_RAW_FRAMES`] (then folded into the text), and
//! an unfinished SSE event by `KEYWAY_SSE_MAX_EVENT_BYTES`; an upstream that
//! goes past that without framing an event ends the stream with an error.

use std::sync::LazyLock;

use bytes::{Bytes, BytesMut};
use memchr::memmem;
use serde_json::Value;

use super::{
    sse::{self, EventBuffer},
    typed_read,
};

/// The largest JSON body or reply text kept for usage and estimation.
const MAX_KEPT: usize = 8 * 1024 * 1024;

/// Raw content frames kept before they are parsed into the reply text: a
/// short reply (a few dozen frames) is never parsed, and an open stream
/// holds this much at most, allocated once at this size (grown by doubling
/// it held 6.1 KiB per open stream in heaptrack). At 1,000 open streams
/// every KiB here is a MiB of RSS, but a smaller bound parses short replies
/// too: at 2 KiB, a 13-frame reply cost 12% more instructions
/// (docs/benchmarks.md). A long reply is parsed with either bound.
const MAX_RAW_FRAMES: usize = 4 * 1024;

/// The stream must end: the upstream sent an unfinished event over the cap
/// (`KW-UP-004`), or an event whose data is not JSON (`KW-UP-002`). It ends
/// with `error_frame`, in the client's wire shape.
#[derive(Debug)]
pub(crate) struct StreamCut {
    pub(crate) error_frame: Bytes,
    pub(crate) code: &'static str,
}

pub(crate) use super::fields::Reported;

pub(crate) use super::format::Format;

pub(crate) struct Tap {
    format: Format,
    /// A JSON body, kept (bounded) to be parsed at the end.
    body: BytesMut,
    events: EventBuffer,
    max_event_bytes: usize,
    pub(crate) reported: Reported,
    /// The reply text, for estimating output tokens when none are reported.
    text: String,
    /// SSE frames that cannot carry usage, kept raw (bounded) and parsed for
    /// their text only if an estimate is needed: the hot path never parses
    /// a content frame.
    content_frames: BytesMut,
}

impl Tap {
    pub(crate) fn new(format: Format, max_event_bytes: usize) -> Self {
        Self {
            format,
            body: BytesMut::new(),
            events: EventBuffer::new(max_event_bytes),
            max_event_bytes,
            reported: Reported::default(),
            text: String::new(),
            content_frames: BytesMut::new(),
        }
    }

    /// Observes a chunk and returns what to forward to the client. SSE is
    /// forwarded whole events at a time, so one can be left out (the
    /// injected usage chunk) and a stream cut for an oversized event never
    /// leaves the client half an event.
    pub(crate) fn feed(&mut self, chunk: Bytes) -> Result<Bytes, StreamCut> {
        if self.format.is_json() {
            if self.body.len() + chunk.len() <= MAX_KEPT {
                self.body.extend_from_slice(&chunk);
            }
            return Ok(chunk);
        }
        self.events.push(chunk);
        let mut out = Forward::default();
        while let Some(event) = self.events.next_event() {
            if !sse::well_formed(&event) {
                // Garbage from the upstream is never forwarded: the SDKs
                // would fail on it with a parse error, not an API error.
                self.events.discard();
                return Err(StreamCut {
                    error_frame: out.ending_with(&sse::garbage_error(self.format == Format::AnthropicSse)),
                    code: keyway_common::codes::UP_FAILED,
                });
            }
            if !self.observe_event(&event) {
                out.add(event);
            }
        }
        if self.events.over_limit() {
            self.events.discard();
            let anthropic = self.format == Format::AnthropicSse;
            return Err(StreamCut {
                code: keyway_common::codes::UP_EVENT_TOO_LARGE,
                error_frame: out.ending_with(&sse::too_large_error(anthropic, self.max_event_bytes)),
            });
        }
        Ok(out.into_bytes())
    }

    /// The upstream broke off: for a stream, the last chunk the client gets
    /// is an error event in its wire's shape (an unfinished event is
    /// dropped, never half-forwarded); `None` for a JSON body.
    pub(crate) fn broken_off(&mut self) -> Option<Bytes> {
        if self.format.is_json() {
            return None;
        }
        self.events.discard();
        Some(sse::broken_off_error(self.format == Format::AnthropicSse))
    }

    /// Whatever is still held back when the stream ends.
    pub(crate) fn finish(&mut self) -> Bytes {
        if self.format.is_json() {
            let read = typed_read::body(
                self.format,
                &self.body,
                &mut self.reported,
                &mut self.text,
                MAX_KEPT,
            );
            if !read && let Ok(body) = serde_json::from_slice::<Value>(&self.body) {
                self.observe_json(&body);
            }
            self.body = BytesMut::new();
            return Bytes::new();
        }
        self.events.take_rest()
    }

    /// The reply's text (for estimates), parsed from kept frames on demand.
    pub(crate) fn text(&mut self) -> &str {
        self.fold_frames();
        &self.text
    }

    /// Parses the kept content frames into the reply text. The buffer is
    /// kept (cleared) for the next frames: it never grows past the bound.
    fn fold_frames(&mut self) {
        let mut frames = self.content_frames.split();
        for event in sse::split_events(&mut frames) {
            let read = sse::data(&event)
                .is_some_and(|data| typed_read::frame_text(self.format, &data, &mut self.text, MAX_KEPT));
            if !read {
                self.parse_event(&event);
            }
        }
    }

    /// Returns true when the event is the injected usage-only chunk.
    fn observe_event(&mut self, event: &[u8]) -> bool {
        if !may_carry_usage(event) {
            if self.content_frames.len() + event.len() > MAX_RAW_FRAMES {
                self.fold_frames();
            }
            if event.len() <= MAX_RAW_FRAMES {
                if self.content_frames.is_empty() {
                    // The whole bound at once: grown by doubling it would
                    // overshoot. After a fold the same allocation is reused.
                    self.content_frames.reserve(MAX_RAW_FRAMES);
                }
                self.content_frames.extend_from_slice(event);
            } else {
                self.parse_event(event);
            }
            return false;
        }
        self.parse_event(event)
    }

    fn parse_event(&mut self, event: &[u8]) -> bool {
        let Some(data) = sse::data(event) else {
            return false;
        };
        if let Format::OpenAiSse { strip_usage_chunk } = self.format
            && let Some(usage_only) =
                typed_read::openai_chunk(&data, &mut self.reported, &mut self.text, MAX_KEPT)
        {
            return usage_only && strip_usage_chunk;
        }
        let Ok(json) = serde_json::from_str::<Value>(&data) else {
            return false;
        };
        match self.format {
            Format::AnthropicSse => {
                match json["type"].as_str() {
                    // message_start's output count is a placeholder; only
                    // message_delta's is final (a stream cut before it is
                    // estimated instead).
                    Some("message_start") => self.reported.read_anthropic(&json["message"]["usage"], false),
                    Some("message_delta") => self.reported.read_anthropic(&json["usage"], true),
                    Some("content_block_delta") => self.keep_text(json["delta"]["text"].as_str()),
                    _ => {}
                }
                false
            }
            Format::ResponsesSse => {
                match json["type"].as_str() {
                    Some("response.completed" | "response.incomplete" | "response.failed") => {
                        self.reported.read_responses(&json["response"]["usage"]);
                    }
                    Some("response.output_text.delta" | "response.function_call_arguments.delta") => {
                        self.keep_text(json["delta"].as_str());
                    }
                    _ => {}
                }
                false
            }
            _ => {
                if let Some(choices) = json["choices"].as_array() {
                    for choice in choices {
                        // Chat deltas, or legacy completions' text.
                        self.keep_text(choice["delta"]["content"].as_str().or(choice["text"].as_str()));
                    }
                }
                let usage = &json["usage"];
                if usage.is_object() {
                    self.reported.read_openai(usage);
                }
                let usage_only = usage.is_object() && json["choices"].as_array().is_some_and(Vec::is_empty);
                usage_only
                    && matches!(
                        self.format,
                        Format::OpenAiSse {
                            strip_usage_chunk: true
                        }
                    )
            }
        }
    }

    fn observe_json(&mut self, body: &Value) {
        match self.format {
            Format::AnthropicJson => {
                self.reported.read_anthropic(&body["usage"], true);
                for block in body["content"].as_array().into_iter().flatten() {
                    self.keep_text(block["text"].as_str());
                }
            }
            Format::ResponsesJson => {
                self.reported.read_responses(&body["usage"]);
                for item in body["output"].as_array().into_iter().flatten() {
                    for part in item["content"].as_array().into_iter().flatten() {
                        self.keep_text(part["text"].as_str());
                    }
                    self.keep_text(item["arguments"].as_str());
                }
            }
            _ => {
                self.reported.read_openai(&body["usage"]);
                for choice in body["choices"].as_array().into_iter().flatten() {
                    self.keep_text(choice["message"]["content"].as_str().or(choice["text"].as_str()));
                }
            }
        }
    }

    fn keep_text(&mut self, text: Option<&str>) {
        if let Some(t) = text.filter(|_| self.text.len() < MAX_KEPT) {
            self.text.push_str(t);
        }
    }
}

/// The events of one chunk to forward: the first as it is (nearly every
/// chunk holds one event, sent on without a copy), joined into one buffer
/// when there are more.
#[derive(Default)]
struct Forward {
    first: Bytes,
    joined: BytesMut,
}

impl Forward {
    fn add(&mut self, event: Bytes) {
        if self.first.is_empty() {
            self.first = event;
        } else {
            if self.joined.is_empty() {
                self.joined.extend_from_slice(&self.first);
            }
            self.joined.extend_from_slice(&event);
        }
    }

    fn into_bytes(self) -> Bytes {
        if self.joined.is_empty() {
            self.first
        } else {
            self.joined.freeze()
        }
    }

    /// The events, then the error event that ends the stream.
    fn ending_with(self, error: &[u8]) -> Bytes {
        let mut last = BytesMut::from(self.into_bytes());
        last.extend_from_slice(error);
        last.freeze()
    }
}

/// Usage travels in OpenAI's `usage` field and in Anthropic's
/// `message_start`/`message_delta`, all of which contain `usage`.
/// Whether an event names `usage` with a value other than `null`. OpenAI
/// sends `"usage":null` in every chunk of a stream that asked for usage:
/// reading those as usage would parse every content chunk.
fn may_carry_usage(event: &[u8]) -> bool {
    const NAME: &[u8] = b"\"usage\"";
    // Built once: building a searcher for each event cost about 570
    // instructions, a third of the check.
    static FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(NAME));
    FINDER.find_iter(event).any(|at| {
        let after = event[at + NAME.len()..].trim_ascii_start();
        // Not a member's name (a string value): let the parse decide.
        after
            .strip_prefix(b":")
            .is_none_or(|value| !value.trim_ascii_start().starts_with(b"null"))
    })
}

#[cfg(test)]
mod tests;
