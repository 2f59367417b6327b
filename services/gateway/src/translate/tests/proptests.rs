//! Properties of the translation layer beyond the request round trip
//! (`roundtrip.rs`): any JSON a client or an upstream sends is translated
//! or refused without a panic, in both directions, whole or streamed; and
//! tool-call ids, names and arguments survive the answer's translation,
//! whole and streamed, whatever their values.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::translate::{Transducer, stream_to_anthropic::ToAnthropic, stream_to_openai::ToOpenAi};

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("user"),
            Just("assistant"),
            Just("tool"),
            Just("system"),
            Just("text"),
            Just("tool_use"),
            Just("function")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            Just("role".to_owned()),
            Just("content".to_owned()),
            Just("type".to_owned()),
            Just("text".to_owned()),
            Just("tool_calls".to_owned()),
            Just("id".to_owned()),
            Just("function".to_owned()),
            Just("name".to_owned()),
            Just("arguments".to_owned()),
            Just("input".to_owned()),
            Just("tool_use_id".to_owned()),
            Just("tool_call_id".to_owned()),
            "[a-z_]{1,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request body whose known fields hold anything at all.
fn any_request() -> impl Strategy<Value = Map<String, Value>> {
    let field = prop_oneof![
        Just("model"),
        Just("messages"),
        Just("system"),
        Just("tools"),
        Just("tool_choice"),
        Just("max_tokens"),
        Just("max_completion_tokens"),
        Just("stop"),
        Just("stop_sequences"),
        Just("temperature"),
        Just("top_p"),
        Just("stream"),
        Just("stream_options"),
        Just("metadata"),
        Just("response_format"),
        Just("thinking"),
        Just("n"),
        Just("user"),
        Just("parallel_tool_calls"),
    ];
    proptest::collection::btree_map(field.prop_map(str::to_owned), any_json(), 0..8)
        .prop_map(|m| m.into_iter().collect())
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,40}"
}

/// Tool calls: `(id, name, arguments)`, ids distinct.
fn calls() -> impl Strategy<Value = Vec<(String, String, Value)>> {
    let args =
        proptest::collection::btree_map("[a-z]{1,6}", "[a-zA-Z0-9 ]{0,12}", 0..3).prop_map(|m| json!(m));
    proptest::collection::vec((id(), "[a-z_]{1,12}", args), 1..5).prop_map(|calls| {
        calls
            .into_iter()
            .enumerate()
            .map(|(i, (id, name, args))| (format!("{id}{i}"), name, args))
            .collect()
    })
}

fn feed(t: &mut dyn Transducer, events: &[String]) -> String {
    let mut out = Vec::new();
    for e in events {
        t.event(e, &mut out);
    }
    t.end(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The `data:` payloads of a translated stream that are JSON.
fn payloads(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

proptest! {
    #[test]
    fn any_request_translates_or_is_refused_without_panicking(body in any_request(), drop in any::<bool>()) {
        for bridge in [TO_ANTHROPIC, TO_OPENAI] {
            let _ = super::super::request(bridge, body.clone(), target(drop));
        }
    }

    #[test]
    fn any_upstream_answer_translates_without_panicking(answer in any_json(), bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        for bridge in [TO_ANTHROPIC, TO_OPENAI] {
            let _ = super::super::response(bridge, answer.to_string().as_bytes(), &Value::Null);
            let _ = super::super::response(bridge, &bytes, &Value::Null);
        }
    }

    #[test]
    fn any_stream_translates_without_panicking(events in proptest::collection::vec(prop_oneof![any_json().prop_map(|v| v.to_string()), ".{0,16}"], 0..10)) {
        let _ = feed(&mut ToOpenAi::new(true), &events);
        let _ = feed(&mut ToAnthropic::new(), &events);
    }

    #[test]
    fn tool_call_ids_names_and_arguments_survive_a_whole_answer(calls in calls()) {
        let content: Vec<Value> = calls.iter().map(|(id, name, args)| json!({"type": "tool_use", "id": id, "name": name, "input": args})).collect();
        let anthropic = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": content,
            "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}});
        let openai: Value = serde_json::from_slice(&super::super::response(TO_ANTHROPIC, anthropic.to_string().as_bytes(), &Value::Null)).unwrap();
        let tool_calls = openai["choices"][0]["message"]["tool_calls"].as_array().cloned().unwrap_or_default();
        prop_assert_eq!(tool_calls.len(), calls.len());
        for (call, (id, name, args)) in tool_calls.iter().zip(&calls) {
            prop_assert_eq!(&call["id"], &json!(id));
            prop_assert_eq!(&call["function"]["name"], &json!(name));
            let parsed: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or("null")).unwrap();
            prop_assert_eq!(&parsed, args);
        }
        // And back: the Anthropic client sees the OpenAI answer's calls.
        let back: Value = serde_json::from_slice(&super::super::response(TO_OPENAI, openai.to_string().as_bytes(), &Value::Null)).unwrap();
        prop_assert_eq!(&back["content"], &anthropic["content"]);
    }

    #[test]
    fn tool_call_ids_and_arguments_survive_a_stream(calls in calls(), split in 1usize..8) {
        let mut events = vec![json!({"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 1, "output_tokens": 1}}})];
        for (i, (id, name, args)) in calls.iter().enumerate() {
            events.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
            let text = args.to_string();
            let chars: Vec<char> = text.chars().collect();
            for piece in chars.chunks(split) {
                events.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece.iter().collect::<String>()}}));
            }
            events.push(json!({"type": "content_block_stop", "index": i}));
        }
        events.push(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 3}}));
        events.push(json!({"type": "message_stop"}));
        let events: Vec<String> = events.iter().map(Value::to_string).collect();
        let chunks = payloads(&feed(&mut ToOpenAi::new(false), &events));
        let mut ids = Vec::new();
        let mut arguments: Vec<String> = vec![String::new(); calls.len()];
        for chunk in &chunks {
            for call in chunk["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
                let index = call["index"].as_u64().unwrap() as usize;
                if let Some(id) = call["id"].as_str() {
                    ids.push(id.to_owned());
                }
                arguments[index].push_str(call["function"]["arguments"].as_str().unwrap_or_default());
            }
        }
        let want: Vec<String> = calls.iter().map(|(id, ..)| id.clone()).collect();
        prop_assert_eq!(ids, want);
        for (got, (_, _, args)) in arguments.iter().zip(&calls) {
            prop_assert_eq!(&serde_json::from_str::<Value>(got).unwrap(), args);
        }
    }
}
