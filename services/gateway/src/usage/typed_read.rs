//! Usage and reply text read with typed, borrowing deserializers: only the
//! fields that carry them are decoded (the reply's strings borrowed, the
//! counts of `usage` as numbers), the rest is skipped. Used for a whole JSON answer,
//! where a `Value` of the body cost about 15,000 instructions per request
//! (6% of the proxy path, callgrind), and for the content frames the tap
//! folds, which is cheap enough that it keeps only a few raw frames (a
//! small, fixed amount of memory per open stream).
//!
//! Each function returns `false`, having read nothing, for a format it does
//! not read or a shape it does not expect: the caller then reads it the
//! general way.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{
    fields::{AnthropicUsage, OpenAiUsage, Reported, object},
    format::Format,
};

/// Appends the text one SSE frame's `data:` JSON carries for `format`,
/// while `text` is under `max_text`.
pub(crate) fn frame_text(format: Format, data: &str, text: &mut String, max_text: usize) -> bool {
    let mut keep = keeper(text, max_text);
    match format {
        Format::AnthropicSse => serde_json::from_str::<AnthropicFrame<'_>>(data).is_ok_and(|f| {
            if f.kind == "content_block_delta" {
                keep(f.delta.and_then(|d| d.text));
            }
            true
        }),
        Format::ResponsesSse => serde_json::from_str::<ResponsesFrame<'_>>(data).is_ok_and(|f| {
            let kind = f.kind.as_ref();
            if kind == "response.output_text.delta" || kind == "response.function_call_arguments.delta" {
                keep(f.delta.and_then(|d| serde_json::from_str(d.get()).ok()));
            }
            true
        }),
        _ => serde_json::from_str::<Chat<'_>>(data).is_ok_and(|f| {
            for choice in f.choices.into_iter().flatten() {
                // Chat deltas, or legacy completions' text.
                keep(choice.delta.and_then(|d| d.content).or(choice.text));
            }
            true
        }),
    }
}

/// Reads a whole JSON answer (OpenAI chat or legacy completions, Anthropic
/// messages) into `reported`, and appends its text while `text` is under
/// `max_text`.
pub(crate) fn body(
    format: Format,
    body: &[u8],
    reported: &mut Reported,
    text: &mut String,
    max_text: usize,
) -> bool {
    let mut keep = keeper(text, max_text);
    match format {
        Format::OpenAiJson => serde_json::from_slice::<Chat<'_>>(body).is_ok_and(|b| {
            if let Some(usage) = &b.usage {
                reported.take_openai(usage);
            }
            for choice in b.choices.into_iter().flatten() {
                keep(choice.message.and_then(|m| m.content).or(choice.text));
            }
            true
        }),
        Format::AnthropicJson => serde_json::from_slice::<AnthropicBody<'_>>(body).is_ok_and(|b| {
            if let Some(usage) = &b.usage {
                reported.take_anthropic(usage, true);
            }
            for block in b.content {
                keep(block.text);
            }
            true
        }),
        _ => false,
    }
}

/// An OpenAI stream chunk that may carry usage (chat or legacy
/// completions): its counts into `reported` and its text appended while
/// `text` is under `max_text`. `Some(true)` for the usage-only chunk (usage
/// and an empty `choices`), `None`, having read nothing, for a shape it
/// does not expect. A `Value` of the chunk cost about 10,000 instructions
/// (callgrind), once a stream.
pub(crate) fn openai_chunk(
    data: &str,
    reported: &mut Reported,
    text: &mut String,
    max_text: usize,
) -> Option<bool> {
    let chunk = serde_json::from_str::<Chat<'_>>(data).ok()?;
    let usage_only = chunk.usage.is_some() && chunk.choices.as_ref().is_some_and(Vec::is_empty);
    if let Some(usage) = &chunk.usage {
        reported.take_openai(usage);
    }
    let mut keep = keeper(text, max_text);
    for choice in chunk.choices.into_iter().flatten() {
        keep(choice.delta.and_then(|d| d.content).or(choice.text));
    }
    Some(usage_only)
}

fn keeper(text: &mut String, max_text: usize) -> impl FnMut(Option<Cow<'_, str>>) + '_ {
    move |piece| {
        if let Some(piece) = piece.filter(|_| text.len() < max_text) {
            text.push_str(&piece);
        }
    }
}

/// A chat completion, a chunk of one, or a legacy completion.
#[derive(Deserialize)]
struct Chat<'a> {
    #[serde(default, deserialize_with = "object")]
    usage: Option<OpenAiUsage>,
    /// `None` when absent or `null`.
    #[serde(borrow, default)]
    choices: Option<Vec<Choice<'a>>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    /// On a stream.
    #[serde(borrow, default)]
    delta: Option<Content<'a>>,
    /// On a whole answer.
    #[serde(borrow, default)]
    message: Option<Content<'a>>,
    /// Legacy completions.
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// An Anthropic text delta or content block.
#[derive(Deserialize)]
struct Text<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AnthropicFrame<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    delta: Option<Text<'a>>,
}

#[derive(Deserialize)]
struct AnthropicBody<'a> {
    #[serde(default, deserialize_with = "object")]
    usage: Option<AnthropicUsage>,
    #[serde(borrow, default)]
    content: Vec<Text<'a>>,
}

/// `delta` is a string on the text events, and may be anything on others.
#[derive(Deserialize)]
struct ResponsesFrame<'a> {
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    delta: Option<&'a RawValue>,
}

#[cfg(test)]
mod tests;
