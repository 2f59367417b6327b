//! The mock's "model": extracting prompt text, the deterministic reply, word
//! counting (one word = one token) and splitting the reply into stream deltas.

use std::ops::Range;

use serde_json::Value;

/// Counts tokens the mock way: whitespace-separated words.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Text parts of a message `content` (or Anthropic `system`): a string, or an
/// array of `{"type":"text","text":..}` parts. Other parts (images, tools) carry no text.
fn text_parts(content: &Value) -> impl Iterator<Item = &str> {
    let (single, parts) = match content {
        Value::String(s) => (Some(s.as_str()), None),
        Value::Array(parts) => (None, Some(parts.iter().filter_map(part_text))),
        _ => (None, None),
    };
    single.into_iter().chain(parts.into_iter().flatten())
}

fn part_text(part: &Value) -> Option<&str> {
    let kind = part.get("type").and_then(Value::as_str);
    if kind.is_some_and(|k| k != "text") {
        return None;
    }
    part.get("text").and_then(Value::as_str)
}

/// Words in a content value; parts joined by a space never merge words, so
/// summing per part needs no allocation.
pub(crate) fn content_words(content: &Value) -> u64 {
    text_parts(content).map(count_words).sum()
}

/// The text of a content value, parts joined with a space.
pub(crate) fn content_text(content: &Value) -> String {
    let mut text = String::new();
    for (i, part) in text_parts(content).enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(part);
    }
    text
}

/// Total words over every message's `content`.
pub(crate) fn messages_words(messages: &[Value]) -> u64 {
    messages
        .iter()
        .filter_map(|m| m.get("content"))
        .map(content_words)
        .sum()
}

/// Text of the last message with `role: "user"`, empty if there is none.
pub(crate) fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content"))
        .map(content_text)
        .unwrap_or_default()
}

/// The deterministic reply; the identity suffix lets tests see which key
/// reached the upstream.
pub(crate) fn build_reply(user_text: &str, identity: Option<&str>) -> String {
    const PREFIX: &str = "Hello from mock-llm! You said: ";
    let mut reply = String::with_capacity(PREFIX.len() + user_text.len() + 48);
    reply.push_str(PREFIX);
    reply.push_str(user_text);
    if let Some(identity) = identity {
        reply.push_str(" [Authenticated as ");
        reply.push_str(identity);
        reply.push(']');
    }
    reply
}

/// Byte ranges of the stream deltas; together they cover `reply` exactly, so
/// concatenated deltas equal the non-streamed text.
/// `None`: one word per delta, each carrying the whitespace before it.
/// `Some(n)`: `n` pieces of roughly equal character length.
pub(crate) fn split_reply(reply: &str, chunks: Option<usize>) -> Vec<Range<usize>> {
    let starts: Vec<usize> = match chunks {
        None => word_starts(reply),
        Some(n) => even_starts(reply, n),
    };
    let ends = starts.iter().skip(1).copied().chain([reply.len()]);
    starts.iter().zip(ends).map(|(&s, e)| s..e).collect()
}

/// Byte offsets where a piece begins: 0, then each whitespace run that
/// precedes a word. Trailing whitespace stays with the last word.
fn word_starts(reply: &str) -> Vec<usize> {
    let mut starts = Vec::with_capacity(16);
    starts.push(0);
    let mut prev_ws = true;
    for (i, c) in reply.trim_end().char_indices() {
        let ws = c.is_whitespace();
        if i > 0 && ws && !prev_ws {
            starts.push(i);
        }
        prev_ws = ws;
    }
    starts
}

fn even_starts(reply: &str, pieces: usize) -> Vec<usize> {
    let chars = reply.chars().count();
    let pieces = pieces.clamp(1, chars.max(1));
    let mut starts = Vec::with_capacity(pieces);
    let mut next = 0; // index (in chars) of the next piece's first char
    for (char_index, (byte, _)) in reply.char_indices().enumerate() {
        if char_index == next * chars / pieces {
            starts.push(byte);
            next += 1;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pieces(reply: &str, chunks: Option<usize>) -> Vec<&str> {
        split_reply(reply, chunks)
            .into_iter()
            .filter_map(|r| reply.get(r))
            .collect()
    }

    #[test]
    fn content_may_be_a_string_or_text_parts() {
        let parts = json!([
            {"type": "text", "text": "look at"},
            {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "this"}
        ]);
        assert_eq!(content_text(&parts), "look at this");
        assert_eq!(content_words(&parts), 3);
        assert_eq!(content_text(&json!("plain words")), "plain words");
        assert_eq!(content_words(&json!(null)), 0);
    }

    #[test]
    fn the_last_user_message_is_echoed() {
        let messages = json!([
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": "second one"},
            {"role": "assistant", "content": null}
        ]);
        let messages = messages.as_array().map(Vec::as_slice).unwrap_or_default();
        assert_eq!(last_user_text(messages), "second one");
        assert_eq!(messages_words(messages), 4);
    }

    #[test]
    fn the_reply_appends_the_identity_only_when_given() {
        assert_eq!(build_reply("hi", None), "Hello from mock-llm! You said: hi");
        assert_eq!(
            build_reply("hi", Some("alice")),
            "Hello from mock-llm! You said: hi [Authenticated as alice]"
        );
    }

    #[test]
    fn word_deltas_carry_their_leading_whitespace() {
        assert_eq!(pieces("Hello  big\nworld ", None), ["Hello", "  big", "\nworld "]);
    }

    #[test]
    fn fixed_chunks_cover_the_reply_in_roughly_equal_pieces() {
        let reply = "abcdéfghij";
        let split = pieces(reply, Some(3));
        assert_eq!(split, ["abc", "déf", "ghij"]);
        assert_eq!(pieces("ab", Some(10)), ["a", "b"]);
        assert_eq!(pieces(reply, Some(1)), [reply]);
    }
}
