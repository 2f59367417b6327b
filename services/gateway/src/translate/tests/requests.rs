use serde_json::json;

use super::*;

#[test]
fn system_messages_become_the_system_prompt_and_back() {
    let a = to_anthropic(json!({"model": "m", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]}));
    assert_eq!(a["system"], "be brief");
    assert_eq!(a["messages"], json!([{"role": "user", "content": "hi"}]));
    let two = to_anthropic(json!({"model": "m", "messages": [
        {"role": "system", "content": "a"},
        {"role": "developer", "content": [{"type": "text", "text": "b"}]},
        {"role": "user", "content": "hi"},
    ]}));
    assert_eq!(
        two["system"],
        json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    );
    let o = to_openai(
        json!({"model": "m", "max_tokens": 5, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}]}),
    );
    assert_eq!(
        o["messages"][0],
        json!({"role": "system", "content": [{"type": "text", "text": "s"}]})
    );
}

#[test]
fn images_map_between_data_urls_and_base64_sources_and_between_urls() {
    let a = to_anthropic(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
        {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg", "detail": "low"}},
    ]}]}));
    assert_eq!(
        a["messages"][0]["content"],
        json!([
            {"type": "text", "text": "what is this"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.jpg"}},
        ])
    );
    let back = to_openai(
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": a["messages"][0]["content"]}]}),
    );
    assert_eq!(
        back["messages"][0]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBOR"
    );
    assert_eq!(
        back["messages"][0]["content"][2]["image_url"]["url"],
        "https://example.test/cat.jpg"
    );
}

#[test]
fn tools_choices_and_parallel_calls_map_both_ways() {
    let a = to_anthropic(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "d", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required", "parallel_tool_calls": false}),
    );
    assert_eq!(
        a["tools"],
        json!([{"name": "get_weather", "description": "d", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
    );
    assert_eq!(
        a["tool_choice"],
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    let named = to_anthropic(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}}),
    );
    assert_eq!(named["tool_choice"], json!({"type": "tool", "name": "f"}));
    let o = to_openai(
        json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "any", "disable_parallel_tool_use": true}}),
    );
    assert_eq!(
        o["tools"],
        json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    );
    assert_eq!(
        (o["tool_choice"].clone(), o["parallel_tool_calls"].clone()),
        (json!("required"), json!(false))
    );
}

#[test]
fn parallel_tool_calls_and_their_results_share_one_turn() {
    let a = to_anthropic(json!({"model": "m", "messages": [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Rome\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
    ]}));
    let turns = a["messages"].as_array().unwrap();
    assert_eq!(turns.len(), 3);
    assert_eq!(
        turns[1]["content"],
        json!([
            {"type": "tool_use", "id": "call_1", "name": "w", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "w", "input": {"city": "Rome"}},
        ])
    );
    assert_eq!(
        turns[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "rain"},
        ]})
    );
    let back = to_openai(json!({"model": "m", "max_tokens": 9, "messages": turns}));
    let back = back["messages"].as_array().unwrap();
    assert_eq!(back.len(), 4);
    assert_eq!(
        back[1]["tool_calls"][1]["function"]["arguments"],
        "{\"city\":\"Rome\"}"
    );
    assert_eq!(
        back[3],
        json!({"role": "tool", "tool_call_id": "call_2", "content": "rain"})
    );
}

#[test]
fn stops_sampling_user_and_lengths_map() {
    let a = to_anthropic(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "stop": "END", "temperature": 0.5, "top_p": 0.9, "user": "u-1", "max_completion_tokens": 100, "stream": true,
        "stream_options": {"include_usage": true}, "n": 1}),
    );
    assert_eq!(a["stop_sequences"], json!(["END"]));
    assert_eq!(
        (a["temperature"].clone(), a["top_p"].clone()),
        (json!(0.5), json!(0.9))
    );
    assert_eq!(a["metadata"], json!({"user_id": "u-1"}));
    assert_eq!(
        (a["max_tokens"].clone(), a["stream"].clone()),
        (json!(100), json!(true))
    );
    assert!(a.get("stream_options").is_none() && a.get("n").is_none());
    let o = to_openai(
        json!({"model": "m", "max_tokens": 7, "messages": [{"role": "user", "content": "x"}],
        "stop_sequences": ["a", "b"], "metadata": {"user_id": "u-2"}}),
    );
    assert_eq!(
        (o["stop"].clone(), o["user"].clone()),
        (json!(["a", "b"]), json!("u-2"))
    );
    assert_eq!(
        o["max_completion_tokens"], 7,
        "OpenAI's own models get the newer name"
    );
    let other = super::super::request(
        TO_OPENAI,
        object(json!({"model": "m", "max_tokens": 7, "messages": []})),
        Target {
            provider: "groq",
            ..target(false)
        },
    );
    assert_eq!(other.unwrap().body["max_tokens"], 7);
}

#[test]
fn anthropic_gets_a_default_max_tokens_within_the_model_cap() {
    let a = to_anthropic(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(a["max_tokens"], super::super::DEFAULT_ANTHROPIC_MAX_TOKENS);
    let small = Target {
        max_output_tokens: 100,
        ..target(false)
    };
    let a =
        super::super::request(TO_ANTHROPIC, object(json!({"model": "m", "messages": []})), small).unwrap();
    assert_eq!(a.body["max_tokens"], 100);
}

#[test]
fn what_does_not_map_is_refused_by_name_or_dropped_and_listed() {
    let cases = [
        (TO_ANTHROPIC, json!({"model": "m", "messages": [], "n": 2}), "n"),
        (
            TO_ANTHROPIC,
            json!({"model": "m", "messages": [], "logprobs": true}),
            "logprobs",
        ),
        (
            TO_ANTHROPIC,
            json!({"model": "m", "messages": [], "seed": 3}),
            "seed",
        ),
        (
            TO_ANTHROPIC,
            json!({"model": "m", "messages": [], "response_format": {"type": "json_object"}}),
            "response_format",
        ),
        (
            TO_OPENAI,
            json!({"model": "m", "max_tokens": 1, "messages": [], "thinking": {"type": "enabled", "budget_tokens": 1024}}),
            "thinking",
        ),
        (
            TO_OPENAI,
            json!({"model": "m", "max_tokens": 1, "messages": [], "top_k": 5}),
            "top_k",
        ),
        (
            TO_OPENAI,
            json!({"model": "m", "max_tokens": 1, "messages": [], "some_future_param": 1}),
            "some_future_param",
        ),
        (
            TO_OPENAI,
            json!({"model": "m", "max_tokens": 1, "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools[].type=web_search_20250305",
        ),
    ];
    for (bridge, body, param) in cases {
        let refused = translate(bridge, body.clone()).unwrap_err();
        assert_eq!(refused.param, param);
        let dropped = super::super::request(bridge, object(body), target(true)).unwrap();
        assert_eq!(dropped.dropped, vec![param.to_owned()]);
        assert!(!dropped.body.contains_key(param));
    }
}

#[test]
fn malformed_tool_call_arguments_are_refused_even_when_dropping() {
    let body = json!({"model": "m", "messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "not json"}}]}]});
    let err = super::super::request(TO_ANTHROPIC, object(body), target(true)).unwrap_err();
    assert_eq!(err.param, "messages[0].tool_calls[0].function.arguments");
}

#[test]
fn claude_codes_tuning_parameters_are_dropped_and_listed_and_a_tool_error_is_said_in_text() {
    let body = json!({"model": "m", "max_tokens": 10,
    "thinking": {"type": "adaptive", "display": "omitted"},
    "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    "output_config": {"effort": "high"},
    "messages": [
        {"role": "user", "content": "run it"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": true, "content": "exit 1"}]},
    ]});
    let out = translate(TO_OPENAI, body).unwrap();
    assert_eq!(
        out.dropped,
        ["context_management", "output_config", "thinking"].map(String::from)
    );
    assert_eq!(out.body["messages"][2]["content"], "Error: exit 1");
    assert!(out.body.get("thinking").is_none());

    let budget = json!({"model": "m", "max_tokens": 10, "messages": [], "thinking": {"type": "enabled", "budget_tokens": 2000}});
    assert_eq!(translate(TO_OPENAI, budget).unwrap_err().param, "thinking");
    let format = json!({"model": "m", "max_tokens": 10, "messages": [], "output_config": {"format": {"type": "json_schema"}}});
    assert_eq!(translate(TO_OPENAI, format).unwrap_err().param, "output_config");
}
