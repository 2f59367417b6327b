//! Token estimates for when an upstream reports no usage: a real BPE
//! tokenizer (cl100k_base) over the request's and reply's text. Events built
//! from estimates carry `estimated: true`.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

fn tokenizer() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().ok()).as_ref()
}

pub(crate) fn count(text: &str) -> u64 {
    match tokenizer() {
        Some(bpe) => bpe.encode_with_special_tokens(text).len() as u64,
        // Only if the embedded vocabulary failed to load: ~4 bytes a token.
        None => text.len().div_ceil(4) as u64,
    }
}

/// The text of a request: chat/Anthropic messages (string or text parts),
/// an Anthropic `system`, the Responses API's `instructions` and `input`
/// items, a legacy `prompt`, or embeddings `input`.
pub(crate) fn request_text(body: &Value) -> String {
    texts(body).join("\n")
}

/// The length of [`request_text`], without copying the text: the limits
/// reserve by it before every request.
pub(crate) fn request_text_len(body: &Value) -> usize {
    let texts = texts(body);
    texts.iter().map(|t| t.len()).sum::<usize>() + texts.len().saturating_sub(1)
}

fn texts(body: &Value) -> Vec<&str> {
    let mut texts: Vec<&str> = Vec::new();
    for v in [
        &body["system"],
        &body["instructions"],
        &body["prompt"],
        &body["input"],
    ] {
        collect(v, &mut texts);
    }
    for message in body["messages"].as_array().into_iter().flatten() {
        collect(&message["content"], &mut texts);
    }
    texts
}

/// A string, text parts, or Responses input items (whose `content` or tool
/// `output` holds the text), one level deep.
fn collect<'a>(v: &'a Value, texts: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => texts.push(s),
        Value::Array(parts) => {
            for p in parts {
                match (
                    p.as_str(),
                    p["text"].as_str(),
                    &p["content"],
                    p["output"].as_str(),
                ) {
                    (Some(s), ..) | (_, Some(s), ..) | (.., Some(s)) => texts.push(s),
                    (_, _, content, _) => collect_parts(content, texts),
                }
            }
        }
        _ => {}
    }
}

fn collect_parts<'a>(content: &'a Value, texts: &mut Vec<&'a str>) {
    match content {
        Value::String(s) => texts.push(s),
        Value::Array(parts) => texts.extend(parts.iter().filter_map(|p| p["text"].as_str())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_counted_with_a_real_tokenizer() {
        assert_eq!(count("hello world"), 2);
        assert_eq!(count(""), 0);
    }

    #[test]
    fn request_text_covers_messages_parts_system_and_input() {
        let body = serde_json::json!({
            "system": "be brief",
            "messages": [{"content": "hi"}, {"content": [{"type": "text", "text": "there"}]}],
        });
        assert_eq!(request_text(&body), "be brief\nhi\nthere");
        assert_eq!(request_text(&serde_json::json!({"input": ["a", "b"]})), "a\nb");
        let responses = serde_json::json!({"instructions": "be brief", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"role": "user", "content": "there"},
            {"type": "function_call_output", "call_id": "c", "output": "sunny"}]});
        assert_eq!(request_text(&responses), "be brief\nhi\nthere\nsunny");
        assert_eq!(request_text(&serde_json::json!({"prompt": "once"})), "once");
        for body in [
            body,
            responses,
            serde_json::json!({}),
            serde_json::json!({"prompt": "once"}),
        ] {
            assert_eq!(request_text_len(&body), request_text(&body).len());
        }
    }
}
