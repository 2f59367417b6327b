#![expect(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::MockConfig;
use crate::test_support::{post, send};

fn weather_tools_openai() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}}}},
    ])
}

#[tokio::test]
async fn chat_offered_tools_gets_parallel_calls_then_an_answer_to_their_results() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "Paris"}], "tools": weather_tools_openai()});
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[]))
        .await
        .json();
    let choice = &reply["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[0]["function"]["arguments"], "{\"city\":\"Paris\"}");
    // "get_weather" + "{"city":"Paris"}" + "get_time" + "{"zone":"Paris"}": one word each.
    assert_eq!(reply["usage"]["completion_tokens"], 4);

    let results = json!({"model": "m", "tools": weather_tools_openai(), "messages": [
        {"role": "user", "content": "Paris"},
        {"role": "assistant", "content": null, "tool_calls": calls},
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"},
    ]});
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &results, &[]))
        .await
        .json();
    assert_eq!(
        reply["choices"][0]["message"]["content"],
        "Hello from mock-llm! You said: sunny noon"
    );
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn a_streamed_chat_tool_call_sends_its_arguments_in_pieces() {
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Rome"}], "tools": weather_tools_openai(), "tool_choice": "auto"});
    let reply = send(MockConfig::default(), post("/v1/chat/completions", &body, &[])).await;
    let text = reply.text().to_owned();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .take(3)
        .collect();
    assert_eq!(args, "{\"city\":\"Rome\"}");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 4);
}

#[tokio::test]
async fn messages_offered_tools_get_tool_use_blocks_streamed_as_input_json_deltas() {
    let tools = json!([{"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let body = json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "Oslo"}], "tools": tools});
    let reply = send(MockConfig::default(), post("/v1/messages", &body, &[]))
        .await
        .json();
    assert_eq!(reply["stop_reason"], "tool_use");
    assert_eq!(reply["content"][0]["input"], json!({"city": "Oslo"}));
    assert_eq!(reply["usage"]["output_tokens"], 2);

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let events = send(MockConfig::default(), post("/v1/messages", &streamed, &[]))
        .await
        .events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(events[1].1["content_block"]["type"], "tool_use");
    assert_eq!(events[2].1["delta"]["type"], "input_json_delta");
    assert_eq!(events[5].1["usage"]["output_tokens"], 2);

    let id = reply["content"][0]["id"].clone();
    let answered = json!({"model": "m", "max_tokens": 64, "tools": tools, "messages": [
        {"role": "user", "content": "Oslo"},
        {"role": "assistant", "content": reply["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "snow"}]},
    ]});
    let reply = send(MockConfig::default(), post("/v1/messages", &answered, &[]))
        .await
        .json();
    assert_eq!(reply["content"][0]["text"], "Hello from mock-llm! You said: snow");
}
