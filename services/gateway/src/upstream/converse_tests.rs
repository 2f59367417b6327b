#![expect(clippy::unwrap_used)]

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue, Message};

use super::*;
use crate::upstream::{converse_stream::OpenAiChunks, eventstream::Reframer};

#[test]
fn an_openai_chat_body_becomes_a_converse_request() {
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
        "max_tokens": 64, "temperature": 0.5, "top_p": 0.9, "stop": "END",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "again"}]});
    let (out, stream) = converse_body(body.to_string().as_bytes()).unwrap();
    assert!(stream);
    assert_eq!(
        serde_json::from_slice::<Value>(&out).unwrap(),
        json!({
            "system": [{"text": "be brief"}],
            "messages": [
                {"role": "user", "content": [{"text": "hi"}, {"text": "there"}]},
                {"role": "assistant", "content": [{"text": "hello"}]},
                {"role": "user", "content": [{"text": "again"}]}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]}})
    );
}

#[test]
fn what_converse_cannot_take_is_a_400_naming_it() {
    for (body, named) in [
        (json!({"messages": [], "tools": []}), "`tools`"),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            "`tool` message",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
            "`image_url`",
        ),
    ] {
        let err = converse_body(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains(named), "{err}");
    }
}

#[test]
fn a_converse_answer_becomes_an_openai_completion_with_cached_tokens_inside_the_prompt() {
    let converse = json!({"output": {"message": {"role": "assistant", "content": [{"text": "Hel"}, {"text": "lo"}]}},
        "stopReason": "max_tokens",
        "usage": {"inputTokens": 5, "outputTokens": 2, "totalTokens": 10, "cacheReadInputTokens": 3}});
    let c = completion(&converse, "meta.llama");
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(c["model"], "meta.llama");
    assert_eq!(
        c["choices"][0],
        json!({"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "length"})
    );
    assert_eq!(
        c["usage"],
        json!({"prompt_tokens": 8, "completion_tokens": 2, "total_tokens": 10,
            "prompt_tokens_details": {"cached_tokens": 3}})
    );
}

fn frame(kind: (&'static str, &'static str), payload: Value) -> Vec<u8> {
    let message = Message::new(payload.to_string())
        .add_header(Header::new(":message-type", EsValue::String(kind.0.into())));
    let message = match kind.0 {
        "event" => message.add_header(Header::new(":event-type", EsValue::String(kind.1.into()))),
        _ => message.add_header(Header::new(":exception-type", EsValue::String(kind.1.into()))),
    };
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap();
    out
}

fn data_lines(sse: &[u8]) -> Vec<Value> {
    std::str::from_utf8(sse)
        .unwrap()
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())))
        .collect()
}

#[test]
fn a_converse_stream_becomes_openai_chunks_with_usage_then_done() {
    let mut wire = frame(("event", "messageStart"), json!({"role": "assistant"}));
    for text in ["Hel", "lo"] {
        wire.extend(frame(
            ("event", "contentBlockDelta"),
            json!({"contentBlockIndex": 0, "delta": {"text": text}}),
        ));
    }
    wire.extend(frame(
        ("event", "contentBlockStop"),
        json!({"contentBlockIndex": 0}),
    ));
    wire.extend(frame(("event", "messageStop"), json!({"stopReason": "end_turn"})));
    wire.extend(frame(
        ("event", "metadata"),
        json!({"usage": {"inputTokens": 4, "outputTokens": 2, "totalTokens": 6}, "metrics": {"latencyMs": 1}}),
    ));
    let mut reframer = Reframer::new(OpenAiChunks::new("meta.llama".into()));
    let mut out = Vec::new();
    for piece in wire.chunks(7) {
        out.extend(reframer.push(piece));
    }
    out.extend(reframer.finish());
    let events = data_lines(&out);
    let deltas: Vec<&Value> = events.iter().map(|e| &e["choices"][0]["delta"]).collect();
    assert_eq!(deltas[0], &json!({"role": "assistant", "content": ""}));
    assert_eq!(
        (deltas[1], deltas[2]),
        (&json!({"content": "Hel"}), &json!({"content": "lo"}))
    );
    assert_eq!(events[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(events[4]["choices"], json!([]));
    assert_eq!(events[4]["usage"]["prompt_tokens"], 4);
    assert_eq!(events[4]["usage"]["completion_tokens"], 2);
    assert_eq!(events[5], Value::String("[DONE]".into()));
    assert_eq!(events.len(), 6);
    assert!(
        events[..5]
            .iter()
            .all(|e| e["object"] == "chat.completion.chunk" && e["id"] == events[0]["id"])
    );
}

#[test]
fn a_converse_exception_ends_the_stream_with_an_openai_error_and_no_done() {
    let mut wire = frame(("event", "messageStart"), json!({"role": "assistant"}));
    wire.extend(frame(
        ("exception", "throttlingException"),
        json!({"message": "slow down"}),
    ));
    let mut reframer = Reframer::new(OpenAiChunks::new("m".into()));
    let mut out = reframer.push(&wire);
    out.extend(reframer.finish());
    let events = data_lines(&out);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["error"]["code"], "rate_limit_exceeded");
    assert!(
        events[1]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("slow down")
    );
}
