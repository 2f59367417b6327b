use serde_json::json;

use super::*;
use crate::translate::{Transducer, stream_to_anthropic::ToAnthropic, stream_to_openai::ToOpenAi};

/// Feeds `data` payloads and returns the `(event name, data)` pairs written.
pub(super) fn run(t: &mut dyn Transducer, data: &[Value]) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    for d in data {
        t.event(&d.to_string(), &mut out);
    }
    t.end(&mut out);
    let text = String::from_utf8(out).unwrap();
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .map(str::to_owned);
            let data = e
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("")
                .to_owned();
            (name, data)
        })
        .collect()
}

pub(super) fn anthropic_stream() -> Vec<Value> {
    vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "model": "claude", "usage": {"input_tokens": 8, "output_tokens": 1, "cache_read_input_tokens": 2}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "ping"}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "On it."}}),
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {}}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"city\":"}}),
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "\"Paris\"}"}}),
        json!({"type": "content_block_stop", "index": 1}),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 12}}),
        json!({"type": "message_stop"}),
    ]
}

#[test]
fn an_anthropic_stream_becomes_openai_chunks_with_tool_call_deltas_usage_and_done() {
    let events = run(&mut ToOpenAi::new(true), &anthropic_stream());
    let (last, chunks) = events.split_last().unwrap();
    assert_eq!(last.1, "[DONE]");
    let chunks: Vec<Value> = chunks
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == "msg_1")
    );
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(chunks[1]["choices"][0]["delta"], json!({"content": "On it."}));
    assert_eq!(
        chunks[2]["choices"][0]["delta"]["tool_calls"],
        json!([{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "w", "arguments": ""}}])
    );
    let args: String = chunks[3..5]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(args, "{\"city\":\"Paris\"}");
    assert_eq!(chunks[5]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[6]["choices"], json!([]));
    assert_eq!(chunks[6]["usage"]["prompt_tokens"], 10);
    assert_eq!(chunks[6]["usage"]["completion_tokens"], 12);
    let without_usage = run(&mut ToOpenAi::new(false), &anthropic_stream());
    assert!(without_usage.iter().all(|(_, d)| !d.contains("usage")));
}

fn openai_stream() -> Vec<Value> {
    let chunk = |delta: Value, finish: Value| json!({"id": "chatcmpl-1", "model": "gpt", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Checking"}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "w", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":\"Rome\"}"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function", "function": {"name": "w", "arguments": "{}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4, "prompt_tokens_details": {"cached_tokens": 3}}}),
    ]
}

#[test]
fn an_openai_stream_becomes_the_anthropic_event_sequence() {
    let mut t = ToAnthropic::new();
    let mut out = Vec::new();
    for d in &openai_stream() {
        t.event(&d.to_string(), &mut out);
    }
    t.event("[DONE]", &mut out);
    let text = String::from_utf8(out).unwrap();
    let events: Vec<(String, Value)> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let name = e
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap()
                .to_owned();
            let data =
                serde_json::from_str(e.lines().find_map(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
            (name, data)
        })
        .collect();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert!(events.iter().all(|(n, d)| d["type"] == n.as_str()));
    assert_eq!(events[0].1["message"]["id"], "chatcmpl-1");
    assert_eq!(
        events[2].1["delta"],
        json!({"type": "text_delta", "text": "Checking"})
    );
    assert_eq!(
        events[4].1["content_block"],
        json!({"type": "tool_use", "id": "call_1", "name": "w", "input": {}})
    );
    assert_eq!(
        events[5].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "{\"city\":\"Rome\"}"})
    );
    assert_eq!(
        (events[7].1["index"].clone(), events[8].1["index"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(events[10].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(events[10].1["usage"]["input_tokens"], 6);
    assert_eq!(events[10].1["usage"]["cache_read_input_tokens"], 3);
    assert_eq!(events[10].1["usage"]["output_tokens"], 4);
}

#[test]
fn a_stream_cut_before_its_end_is_not_closed_as_if_whole() {
    let mut cut = openai_stream();
    cut.truncate(3);
    let events = run(&mut ToAnthropic::new(), &cut);
    assert!(events.iter().all(|(n, _)| n.as_deref() != Some("message_stop")));
    let mut cut = anthropic_stream();
    cut.truncate(4);
    let events = run(&mut ToOpenAi::new(false), &cut);
    assert!(events.iter().all(|(_, d)| d != "[DONE]"));
}

#[test]
fn errors_mid_stream_take_the_client_shape() {
    let events = run(
        &mut ToOpenAi::new(false),
        &[json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})],
    );
    let error: Value = serde_json::from_str(&events[0].1).unwrap();
    assert_eq!(error["error"]["message"], "busy");
    let events = run(
        &mut ToAnthropic::new(),
        &[json!({"error": {"message": "boom", "type": "server_error"}})],
    );
    assert_eq!(events[0].0.as_deref(), Some("error"));
}
