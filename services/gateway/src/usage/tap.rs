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

use bytes::{Bytes, BytesMut};
use serde_json::Value;

use super::sse::{self, EventBuffer};

/// The largest JSON body or reply text kept for usage and estimation.
const MAX_KEPT: usize = 8 * 1024 * 1024;

/// Raw content frames kept before they are parsed into the reply text:
/// most replies are never parsed, and a long one costs this much at most.
const MAX_RAW_FRAMES: usize = 64 * 1024;

/// The upstream sent an unfinished event over the cap; the stream ends with
/// `error_frame`, in the client's wire shape.
#[derive(Debug)]
pub(crate) struct EventTooLarge {
    pub(crate) error_frame: Bytes,
}

pub(crate) use super::fields::Reported;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenAiJson,
    OpenAiSse {
        strip_usage_chunk: bool,
    },
    AnthropicJson,
    AnthropicSse,
    /// The Responses API: usage in `response.usage`, on a stream in the
    /// `response.completed` (or `.incomplete`/`.failed`) event.
    ResponsesJson,
    ResponsesSse,
}

impl Format {
    fn is_json(self) -> bool {
        matches!(
            self,
            Format::OpenAiJson | Format::AnthropicJson | Format::ResponsesJson
        )
    }
}

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
    pub(crate) fn feed(&mut self, chunk: Bytes) -> Result<Bytes, EventTooLarge> {
        if self.format.is_json() {
            if self.body.len() + chunk.len() <= MAX_KEPT {
                self.body.extend_from_slice(&chunk);
            }
            return Ok(chunk);
        }
        self.events.push(&chunk);
        let mut out = BytesMut::new();
        while let Some(event) = self.events.next_event() {
            if !self.observe_event(&event) {
                if out.is_empty() {
                    out = event;
                } else {
                    out.extend_from_slice(&event);
                }
            }
        }
        if self.events.over_limit() {
            self.events.discard();
            let anthropic = self.format == Format::AnthropicSse;
            let mut last = out;
            last.extend_from_slice(&sse::too_large_error(anthropic, self.max_event_bytes));
            return Err(EventTooLarge {
                error_frame: last.freeze(),
            });
        }
        Ok(out.freeze())
    }

    /// Whatever is still held back when the stream ends.
    pub(crate) fn finish(&mut self) -> Bytes {
        if self.format.is_json() {
            if let Ok(body) = serde_json::from_slice::<Value>(&self.body) {
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

    /// Parses the kept content frames into the reply text.
    fn fold_frames(&mut self) {
        let mut frames = std::mem::take(&mut self.content_frames);
        for event in sse::split_events(&mut frames) {
            self.parse_event(&event);
        }
    }

    /// Returns true when the event is the injected usage-only chunk.
    fn observe_event(&mut self, event: &[u8]) -> bool {
        if !may_carry_usage(event) {
            if self.content_frames.len() + event.len() > MAX_RAW_FRAMES {
                self.fold_frames();
            }
            if event.len() <= MAX_RAW_FRAMES {
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

/// Usage travels in OpenAI's `usage` field and in Anthropic's
/// `message_start`/`message_delta`, all of which contain `usage`.
fn may_carry_usage(event: &[u8]) -> bool {
    event.windows(7).any(|w| w == b"\"usage\"")
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    const CAP: usize = 1 << 20;

    fn feed_all(tap: &mut Tap, parts: &[&str]) -> String {
        let mut out = Vec::new();
        for p in parts {
            out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(p.as_bytes())).unwrap());
        }
        out.extend_from_slice(&tap.finish());
        String::from_utf8(out).unwrap_or_default()
    }

    const OPENAI_STREAM: &[&str] = &[
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi",
        "ces\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n",
        "data: [DONE]\n\n",
    ];

    #[test]
    fn an_injected_usage_chunk_is_read_and_removed() {
        let mut tap = Tap::new(
            Format::OpenAiSse {
                strip_usage_chunk: true,
            },
            CAP,
        );
        let out = feed_all(&mut tap, OPENAI_STREAM);
        assert_eq!(
            tap.reported,
            Reported {
                input: Some(7),
                output: Some(2),
                cached: Some(3),
                ..Reported::default()
            }
        );
        assert_eq!(tap.text(), "Hello");
        assert!(!out.contains("usage"), "{out}");
        assert!(out.contains("\"lo\"") && out.ends_with("data: [DONE]\n\n"));
    }

    #[test]
    fn a_usage_chunk_the_client_asked_for_is_kept() {
        let mut tap = Tap::new(
            Format::OpenAiSse {
                strip_usage_chunk: false,
            },
            CAP,
        );
        let out = feed_all(&mut tap, OPENAI_STREAM);
        assert_eq!(out, OPENAI_STREAM.concat());
        assert_eq!(tap.reported.output, Some(2));
    }

    #[test]
    fn anthropic_usage_is_merged_from_message_start_and_message_delta() {
        let mut tap = Tap::new(Format::AnthropicSse, CAP);
        feed_all(
            &mut tap,
            &[
                "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1,\"cache_read_input_tokens\":4}}}\r\n\r\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
                "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n",
            ],
        );
        assert_eq!(
            tap.reported,
            Reported {
                input: Some(9),
                output: Some(9),
                cached: Some(4),
                ..Reported::default()
            }
        );
        assert_eq!(tap.text(), "Hi");
    }

    #[test]
    fn json_bodies_are_read_at_the_end() {
        let mut tap = Tap::new(Format::OpenAiJson, CAP);
        let body =
            r#"{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":4,"completion_tokens":1}}"#;
        let out = feed_all(&mut tap, &[&body[..10], &body[10..]]);
        assert_eq!(out, body);
        assert_eq!(
            (tap.reported.input, tap.reported.output, tap.text.as_str()),
            (Some(4), Some(1), "ok")
        );
        let mut none = Tap::new(Format::AnthropicJson, CAP);
        feed_all(&mut none, &[r#"{"content":[{"type":"text","text":"x y"}]}"#]);
        assert_eq!(none.reported, Reported::default());
    }

    #[test]
    fn an_upstream_that_never_frames_an_event_is_cut_with_an_error_and_its_text_is_kept() {
        let mut tap = Tap::new(Format::AnthropicSse, 1024);
        let start = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi there\"}}\n\n";
        assert_eq!(tap.feed(Bytes::from_static(start.as_bytes())).unwrap(), start);
        let filler = Bytes::from(vec![b'x'; 600]);
        assert!(tap.feed(filler.clone()).unwrap().is_empty());
        let cut = tap.feed(filler).unwrap_err().error_frame;
        let cut = String::from_utf8(cut.to_vec()).unwrap();
        assert!(
            cut.starts_with("\n\nevent: error\n") && !cut.contains("xxx"),
            "{cut}"
        );
        assert_eq!(tap.text(), "Hi there");
        assert!(tap.finish().is_empty(), "nothing of the oversized event is kept");
    }

    #[test]
    fn long_replies_keep_raw_frames_bounded_and_the_whole_text() {
        let mut tap = Tap::new(
            Format::OpenAiSse {
                strip_usage_chunk: false,
            },
            CAP,
        );
        for _ in 0..10_000 {
            let _ = tap.feed(Bytes::from_static(
                b"data: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}\n\n",
            ));
            assert!(tap.content_frames.len() <= MAX_RAW_FRAMES);
        }
        assert_eq!(tap.text().len(), 20_000);
    }

    #[test]
    fn a_responses_stream_is_read_from_response_completed() {
        let mut tap = Tap::new(Format::ResponsesSse, CAP);
        let stream = [
            "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi there\"}\n\n",
            "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":6,\"output_tokens\":5,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens_details\":{\"reasoning_tokens\":3}}}}\n\n",
        ];
        let out = feed_all(&mut tap, &stream);
        assert_eq!(out, stream.concat(), "forwarded unchanged");
        let r = &tap.reported;
        assert_eq!(
            (r.input, r.output, r.cached, r.reasoning),
            (Some(6), Some(5), Some(2), Some(3))
        );
        let mut cut = Tap::new(Format::ResponsesSse, CAP);
        feed_all(&mut cut, &stream[..2]);
        assert_eq!((cut.reported.output, cut.text()), (None, "Hi there"));
    }
}
