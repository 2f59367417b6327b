//! The reply text of one SSE content frame, read with typed, borrowing
//! deserializers: only the fields that carry text are decoded, nothing else
//! is allocated. The tap folds its kept frames this way, which is several
//! times cheaper than a `serde_json::Value` per frame and lets it keep few
//! raw frames (a small, fixed amount of memory per open stream).

use std::borrow::Cow;

use serde::Deserialize;

use super::format::Format;

/// Appends the text `data` (one frame's `data:` JSON) carries for `format`.
/// `false` when the frame does not have the expected shape; the caller then
/// reads it the general way.
pub(crate) fn append(format: Format, data: &str, text: &mut String) -> bool {
    match format {
        Format::AnthropicSse => serde_json::from_str::<AnthropicFrame<'_>>(data).is_ok_and(|f| {
            if f.kind == "content_block_delta" {
                push(text, f.delta.and_then(|d| d.text));
            }
            true
        }),
        Format::ResponsesSse => serde_json::from_str::<ResponsesFrame<'_>>(data).is_ok_and(|f| {
            let kind = f.kind.as_ref();
            if kind == "response.output_text.delta" || kind == "response.function_call_arguments.delta" {
                push(text, f.delta.and_then(|d| serde_json::from_str(d.get()).ok()));
            }
            true
        }),
        _ => serde_json::from_str::<ChatFrame<'_>>(data).is_ok_and(|f| {
            for choice in f.choices {
                // Chat deltas, or legacy completions' text.
                push(text, choice.delta.and_then(|d| d.content).or(choice.text));
            }
            true
        }),
    }
}

fn push(text: &mut String, piece: Option<Cow<'_, str>>) {
    if let Some(piece) = piece {
        text.push_str(&piece);
    }
}

#[derive(Deserialize)]
struct ChatFrame<'a> {
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<ChatDelta<'a>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChatDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AnthropicFrame<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    delta: Option<AnthropicDelta<'a>>,
}

#[derive(Deserialize)]
struct AnthropicDelta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// `delta` is a string on the text events, and may be anything on others.
#[derive(Deserialize)]
struct ResponsesFrame<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    delta: Option<&'a serde_json::value::RawValue>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(format: Format, data: &str) -> Option<String> {
        let mut text = String::new();
        append(format, data, &mut text).then_some(text)
    }

    #[test]
    fn each_wire_gives_its_text_and_nothing_else() {
        let chat = Format::OpenAiSse {
            strip_usage_chunk: false,
        };
        assert_eq!(
            read(
                chat,
                r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi \"you\""}}]}"#
            )
            .as_deref(),
            Some("Hi \"you\"")
        );
        assert_eq!(
            read(chat, r#"{"choices":[{"text":"legacy"}]}"#).as_deref(),
            Some("legacy")
        );
        assert_eq!(
            read(chat, r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#).as_deref(),
            Some("")
        );
        assert_eq!(
            read(
                Format::AnthropicSse,
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hé"}}"#
            )
            .as_deref(),
            Some("Hé")
        );
        assert_eq!(
            read(
                Format::AnthropicSse,
                r#"{"type":"content_block_start","content_block":{"text":"no"}}"#
            )
            .as_deref(),
            Some("")
        );
        assert_eq!(
            read(
                Format::ResponsesSse,
                r#"{"type":"response.output_text.delta","delta":"A\nB"}"#
            )
            .as_deref(),
            Some("A\nB")
        );
        assert_eq!(
            read(
                Format::ResponsesSse,
                r#"{"type":"response.reasoning.delta","delta":{"x":1}}"#
            )
            .as_deref(),
            Some("")
        );
    }

    #[test]
    fn an_unexpected_shape_is_left_to_the_general_reader() {
        assert_eq!(
            read(Format::AnthropicSse, r#"{"delta":{"text":"no type"}}"#),
            None
        );
        assert_eq!(read(Format::ResponsesSse, "[1,2]"), None);
        let chat = Format::OpenAiSse {
            strip_usage_chunk: false,
        };
        assert_eq!(read(chat, r#"{"choices":{"not":"a list"}}"#), None);
    }
}
