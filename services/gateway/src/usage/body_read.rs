//! Usage and reply text out of a whole JSON answer (OpenAI chat or legacy
//! completions, Anthropic messages), read with typed, borrowing
//! deserializers: only `usage` becomes a `Value`, the reply's strings are
//! borrowed, the rest is skipped. A `Value` of the whole body cost about
//! 15,000 instructions per request, 6% of the proxy path (callgrind).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{fields::Reported, format::Format};

/// Reads `body` into `reported` and appends its text (bounded by
/// `max_text`). `false` when this format is not read here or the body has
/// an unexpected shape, and nothing was read: the caller reads it the
/// general way.
pub(crate) fn read(
    format: Format,
    body: &[u8],
    reported: &mut Reported,
    text: &mut String,
    max_text: usize,
) -> bool {
    let mut keep = |piece: Option<Cow<'_, str>>| {
        if let Some(piece) = piece.filter(|_| text.len() < max_text) {
            text.push_str(&piece);
        }
    };
    match format {
        Format::OpenAiJson => serde_json::from_slice::<ChatBody<'_>>(body).is_ok_and(|b| {
            reported.read_openai(b.usage.as_ref().unwrap_or(&Value::Null));
            for choice in b.choices {
                keep(choice.message.and_then(|m| m.content).or(choice.text));
            }
            true
        }),
        Format::AnthropicJson => serde_json::from_slice::<MessageBody<'_>>(body).is_ok_and(|b| {
            reported.read_anthropic(b.usage.as_ref().unwrap_or(&Value::Null), true);
            for block in b.content {
                keep(block.text);
            }
            true
        }),
        _ => false,
    }
}

#[derive(Deserialize)]
struct ChatBody<'a> {
    #[serde(default)]
    usage: Option<Value>,
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageBody<'a> {
    #[serde(default)]
    usage: Option<Value>,
    #[serde(borrow, default)]
    content: Vec<Block<'a>>,
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used)]

    use super::*;

    fn read_all(format: Format, body: &str) -> Option<(Reported, String)> {
        let (mut reported, mut text) = (Reported::default(), String::new());
        read(format, body.as_bytes(), &mut reported, &mut text, 1 << 20).then_some((reported, text))
    }

    #[test]
    fn chat_and_messages_bodies_give_usage_and_text() {
        let (reported, text) = read_all(
            Format::OpenAiJson,
            r#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\""},"finish_reason":"stop"}],
                "usage":{"prompt_tokens":7,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}}"#,
        )
        .unwrap();
        assert_eq!(
            (reported.input, reported.output, reported.cached),
            (Some(7), Some(3), Some(2))
        );
        assert_eq!(text, "Hi \"there\"");
        let (_, text) = read_all(Format::OpenAiJson, r#"{"choices":[{"text":"legacy"}]}"#).unwrap();
        assert_eq!(text, "legacy");
        let (reported, text) = read_all(
            Format::AnthropicJson,
            r#"{"content":[{"type":"text","text":"Hé"},{"type":"tool_use","input":{"a":1}}],
                "usage":{"input_tokens":5,"output_tokens":4}}"#,
        )
        .unwrap();
        assert_eq!((reported.input, reported.output), (Some(5), Some(4)));
        assert_eq!(text, "Hé");
    }

    #[test]
    fn other_shapes_are_left_to_the_general_reader() {
        assert!(
            read_all(
                Format::OpenAiJson,
                r#"{"choices":[{"message":{"content":[{"type":"text"}]}}]}"#
            )
            .is_none()
        );
        assert!(read_all(Format::OpenAiJson, "not json").is_none());
        assert!(read_all(Format::ResponsesJson, r#"{"output":[]}"#).is_none());
    }

    #[test]
    fn the_text_stops_at_its_bound() {
        let (mut reported, mut text) = (Reported::default(), "x".repeat(10));
        let body = br#"{"choices":[{"message":{"content":"more"}}]}"#;
        assert!(read(Format::OpenAiJson, body, &mut reported, &mut text, 10));
        assert_eq!(text.len(), 10);
    }
}
