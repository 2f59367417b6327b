//! The Responses API bridge: requests onto chat and messages, answers and
//! streams back into response objects and Responses events.

use serde_json::json;

use super::{streams::anthropic_stream, streams::run, *};
use crate::translate::{Reply, transducer};

const RESPONSES_TO_ANTHROPIC: Bridge = Bridge {
    client: Wire::OpenAi,
    upstream: Wire::Anthropic,
    responses: true,
};
const RESPONSES_TO_CHAT: Bridge = Bridge {
    client: Wire::OpenAi,
    upstream: Wire::OpenAi,
    responses: true,
};

fn reply(bridge: Bridge, echo: Value) -> Reply {
    Reply {
        bridge,
        stream: true,
        include_usage: false,
        dropped: Vec::new(),
        echo,
    }
}

#[test]
fn instructions_and_a_string_input_become_a_system_prompt_and_a_user_turn() {
    let body = json!({"model": "m", "instructions": "Be brief.", "input": "Hi", "max_output_tokens": 50, "temperature": 0.2, "store": true, "metadata": {"a": "b"}});
    let out = Value::Object(translate(RESPONSES_TO_ANTHROPIC, body).unwrap().body);
    assert_eq!(out["system"], "Be brief.");
    assert_eq!(out["messages"], json!([{"role": "user", "content": "Hi"}]));
    assert_eq!(out["max_tokens"], 50);
    assert_eq!(out["temperature"], 0.2);
    assert!(out.get("store").is_none() && out.get("metadata").is_none());
}

#[test]
fn function_calls_and_their_outputs_become_parallel_tool_use_and_tool_results() {
    let body = json!({"model": "m", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}, {"type": "input_image", "image_url": "https://x/y.png"}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{\"city\":\"Rome\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        {"type": "function_call_output", "call_id": "c2", "output": "rain"},
    ], "tools": [{"type": "function", "name": "w", "description": "weather", "parameters": {"type": "object"}}],
       "tool_choice": {"type": "function", "name": "w"}});
    let out = Value::Object(translate(RESPONSES_TO_ANTHROPIC, body).unwrap().body);
    let turns = out["messages"].as_array().unwrap();
    assert_eq!(turns.len(), 3, "{out}");
    assert_eq!(turns[0]["content"][1]["source"]["url"], "https://x/y.png");
    let calls = turns[1]["content"].as_array().unwrap();
    assert_eq!(
        (calls.len(), &calls[1]["id"], &calls[1]["input"]["city"]),
        (2, &json!("c2"), &json!("Rome"))
    );
    assert_eq!(turns[2]["content"][0]["tool_use_id"], "c1");
    assert_eq!(turns[2]["content"][1]["tool_use_id"], "c2");
    assert_eq!(out["tools"][0]["name"], "w");
    assert_eq!(out["tool_choice"], json!({"type": "tool", "name": "w"}));
}

#[test]
fn state_kept_upstream_is_refused_by_name_or_dropped_and_listed() {
    let body = json!({"model": "m", "input": "Hi", "previous_response_id": "resp_1"});
    let refused = translate(RESPONSES_TO_CHAT, body.clone()).unwrap_err();
    assert_eq!(refused.param, "previous_response_id");
    let hosted = json!({"model": "m", "input": "Hi", "tools": [{"type": "web_search"}]});
    assert_eq!(
        translate(RESPONSES_TO_CHAT, hosted).unwrap_err().param,
        "tools[0].type=web_search"
    );
    let dropped = super::super::request(RESPONSES_TO_CHAT, object(body), target(true)).unwrap();
    assert_eq!(dropped.dropped, vec!["previous_response_id".to_owned()]);
    assert_eq!(
        dropped.body["messages"],
        json!([{"role": "user", "content": "Hi"}])
    );
}

#[test]
fn a_json_schema_format_and_reasoning_effort_reach_chat() {
    let body = json!({"model": "m", "input": "Hi", "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "p", "schema": {"type": "object"}, "strict": true}}});
    let out = translate(RESPONSES_TO_CHAT, body).unwrap().body;
    assert_eq!(out["reasoning_effort"], "low");
    assert_eq!(out["response_format"]["json_schema"]["name"], "p");
    assert_eq!(out["response_format"]["json_schema"]["strict"], true);
}

#[test]
fn an_anthropic_answer_becomes_a_response_object_with_items_and_usage() {
    let message = json!({"id": "msg_1", "type": "message", "model": "claude", "role": "assistant",
        "content": [{"type": "text", "text": "On it."}, {"type": "tool_use", "id": "toolu_1", "name": "w", "input": {"city": "Paris"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 8, "output_tokens": 12, "cache_read_input_tokens": 2}});
    let echo = crate::translate::responses::echo(&object(json!({"instructions": "Be brief."})));
    let out = super::super::response(RESPONSES_TO_ANTHROPIC, message.to_string().as_bytes(), &echo);
    let r: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (r["object"].as_str(), r["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    assert!(r["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(r["instructions"], "Be brief.");
    assert_eq!(r["output"][0]["content"][0]["text"], "On it.");
    assert_eq!(r["output"][1]["type"], "function_call");
    assert_eq!(r["output"][1]["call_id"], "toolu_1");
    assert_eq!(r["output"][1]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(r["usage"]["input_tokens"], 10);
    assert_eq!(r["usage"]["input_tokens_details"]["cached_tokens"], 2);
    assert_eq!(r["usage"]["output_tokens"], 12);
    assert_eq!(r["usage"]["total_tokens"], 22);
}

#[test]
fn an_anthropic_stream_becomes_the_responses_event_sequence() {
    let mut t = transducer(&reply(RESPONSES_TO_ANTHROPIC, Value::Null));
    let events = run(t.as_mut(), &anthropic_stream());
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_deref().unwrap_or("")).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    for (i, event) in data.iter().enumerate() {
        assert_eq!(event["sequence_number"], i as u64);
        assert_eq!(event["type"], names[i]);
    }
    assert_eq!(data[11]["arguments"], "{\"city\":\"Paris\"}");
    let done = &data[13]["response"];
    assert_eq!(done["output"][0]["content"][0]["text"], "On it.");
    assert_eq!(done["output"][1]["name"], "w");
    assert_eq!(done["usage"]["input_tokens"], 10);
    assert_eq!(done["usage"]["output_tokens"], 12);
    assert_eq!(done["id"], data[0]["response"]["id"]);
}

#[test]
fn a_chat_stream_cut_by_length_ends_incomplete_and_an_error_fails_the_response() {
    let chunk = |delta: Value, finish: Value| json!({"id": "c", "model": "g", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    let stream = [
        chunk(json!({"role": "assistant", "content": "a"}), Value::Null),
        chunk(json!({}), json!("length")),
        json!({"id": "c", "model": "g", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
    ];
    let mut t = transducer(&reply(RESPONSES_TO_CHAT, Value::Null));
    let mut out = Vec::new();
    for event in &stream {
        t.event(&event.to_string(), &mut out);
    }
    t.event("[DONE]", &mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("event: response.incomplete"), "{text}");
    assert!(text.contains("\"max_output_tokens\""));
    assert!(text.contains("\"input_tokens\":3"));

    let mut t = transducer(&reply(RESPONSES_TO_CHAT, Value::Null));
    let mut out = Vec::new();
    t.event(&chunk(json!({"content": "a"}), Value::Null).to_string(), &mut out);
    t.event(
        &json!({"error": {"message": "overloaded", "type": "server_error"}}).to_string(),
        &mut out,
    );
    t.end(&mut out);
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("event: error") && text.contains("event: response.failed"),
        "{text}"
    );
    assert!(!text.contains("response.completed"));
}
