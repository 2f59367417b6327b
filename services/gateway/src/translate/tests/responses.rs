use serde_json::json;

use super::*;
use crate::translate::stop;

fn answer(bridge: Bridge, body: Value) -> Value {
    serde_json::from_slice(&super::super::response(
        bridge,
        body.to_string().as_bytes(),
        &serde_json::Value::Null,
    ))
    .unwrap()
}

#[test]
fn an_anthropic_message_becomes_a_chat_completion_with_tool_calls_and_usage() {
    let c = answer(
        TO_ANTHROPIC,
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 2},
        }),
    );
    assert_eq!(c["object"], "chat.completion");
    assert_eq!(
        (c["id"].clone(), c["model"].clone()),
        (json!("msg_1"), json!("claude"))
    );
    let choice = &c["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Let me check.");
    assert_eq!(
        choice["message"]["tool_calls"],
        json!([{"id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}}])
    );
    assert_eq!(
        c["usage"],
        json!({"prompt_tokens": 16, "completion_tokens": 5, "total_tokens": 21, "prompt_tokens_details": {"cached_tokens": 4}})
    );
}

#[test]
fn a_chat_completion_becomes_an_anthropic_message() {
    let m = answer(
        TO_OPENAI,
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}}]}}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 2}},
        }),
    );
    assert_eq!(
        (m["type"].clone(), m["role"].clone()),
        (json!("message"), json!("assistant"))
    );
    assert_eq!(m["stop_reason"], "tool_use");
    assert_eq!(
        m["content"],
        json!([{"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Rome"}}])
    );
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 7, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 2})
    );
}

#[test]
fn finish_and_stop_reasons_map_both_ways() {
    for (finish, stop_reason) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
    ] {
        assert_eq!(stop::stop_reason(finish), stop_reason);
        assert_eq!(stop::finish_reason(stop_reason), finish);
    }
    assert_eq!(stop::finish_reason("stop_sequence"), "stop");
}

#[test]
fn errors_inside_an_answer_take_the_client_shape_and_garbage_passes_unchanged() {
    let e = answer(
        TO_ANTHROPIC,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
    );
    assert_eq!(e["error"]["message"], "busy");
    let e = answer(
        TO_OPENAI,
        json!({"error": {"type": "server_error", "message": "boom"}}),
    );
    assert_eq!(
        e,
        json!({"type": "error", "error": {"type": "server_error", "message": "boom"}})
    );
    assert_eq!(
        super::super::response(TO_OPENAI, b"not json", &serde_json::Value::Null),
        b"not json"
    );
}
