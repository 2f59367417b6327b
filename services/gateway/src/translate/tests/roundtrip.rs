//! OpenAI → Anthropic → OpenAI gives back the request, for every field that
//! maps both ways (generated requests hold only such fields, in the forms
//! the translation keeps: a stop list, `parallel_tool_calls` only beside a
//! `tool_choice`, assistant text absent rather than empty beside tool calls).

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,.?]{1,24}"
}

fn user_content() -> impl Strategy<Value = Value> {
    let part = prop_oneof![
        text().prop_map(|t| json!({"type": "text", "text": t})),
        ("(png|jpeg|gif)", "[A-Za-z0-9+/]{4,20}").prop_map(|(kind, data)| {
            json!({"type": "image_url", "image_url": {"url": format!("data:image/{kind};base64,{data}")}})
        }),
        "[a-z]{3,10}".prop_map(
            |host| json!({"type": "image_url", "image_url": {"url": format!("https://{host}.test/i.png")}})
        ),
    ];
    prop_oneof![
        text().prop_map(Value::String),
        proptest::collection::vec(part, 1..4).prop_map(Value::Array),
    ]
}

/// An assistant turn with parallel tool calls, then one result per call.
fn tool_round(round: usize) -> impl Strategy<Value = Vec<Value>> {
    let call = (
        "[a-z_]{1,10}",
        proptest::collection::btree_map("[a-z]{1,6}", text(), 0..3),
        text(),
    );
    (
        proptest::option::of(text()),
        proptest::collection::vec(call, 1..4),
    )
        .prop_map(move |(said, calls)| {
            let mut turn = json!({"role": "assistant", "content": said});
            let mut results = Vec::new();
            let mut tool_calls = Vec::new();
            for (i, (name, args, result)) in calls.into_iter().enumerate() {
                let id = format!("call_{round}_{i}");
                let arguments = serde_json::to_string(&args).unwrap();
                tool_calls.push(
                    json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}),
                );
                results.push(json!({"role": "tool", "tool_call_id": id, "content": result}));
            }
            turn["tool_calls"] = Value::Array(tool_calls);
            let mut all = vec![turn];
            all.extend(results);
            all
        })
}

fn conversation() -> impl Strategy<Value = Vec<Value>> {
    let step = prop_oneof![
        user_content().prop_map(|c| vec![json!({"role": "user", "content": c})]),
        text().prop_map(|t| vec![json!({"role": "assistant", "content": t})]),
        (0usize..1000).prop_flat_map(tool_round),
    ];
    proptest::collection::vec(step, 1..6).prop_map(|steps| steps.into_iter().flatten().collect())
}

fn tools() -> impl Strategy<Value = Value> {
    let tool = ("[a-z_]{1,10}", proptest::option::of(text())).prop_map(|(name, description)| {
        let mut f =
            json!({"name": name, "parameters": {"type": "object", "properties": {"x": {"type": "string"}}}});
        if let Some(d) = description {
            f["description"] = Value::String(d);
        }
        json!({"type": "function", "function": f})
    });
    proptest::collection::vec(tool, 1..3).prop_map(Value::Array)
}

fn tool_choice() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("auto")),
        Just(json!("none")),
        Just(json!("required")),
        "[a-z_]{1,10}".prop_map(|n| json!({"type": "function", "function": {"name": n}})),
    ]
}

prop_compose! {
    fn openai_request()(
        system in proptest::option::of(text()),
        messages in conversation(),
        tools in proptest::option::of((tools(), tool_choice(), any::<bool>())),
        stop in proptest::option::of(proptest::collection::vec(text(), 1..4)),
        temperature in proptest::option::of((0u32..=20).prop_map(|t| f64::from(t) / 10.0)),
        top_p in proptest::option::of((0u32..=10).prop_map(|t| f64::from(t) / 10.0)),
        max in 1u64..=8192,
        user in proptest::option::of("[a-z0-9-]{1,16}"),
        stream in any::<bool>(),
    ) -> Value {
        let mut all = Vec::new();
        if let Some(s) = system {
            all.push(json!({"role": "system", "content": s}));
        }
        all.extend(messages);
        let mut body = json!({"model": "m", "messages": all, "max_completion_tokens": max, "stream": stream});
        if let Some((tools, choice, serial)) = tools {
            body["tools"] = tools;
            body["tool_choice"] = choice;
            if serial {
                body["parallel_tool_calls"] = Value::Bool(false);
            }
        }
        for (key, value) in [("stop", stop.map(|s| json!(s))), ("temperature", temperature.map(|t| json!(t))), ("top_p", top_p.map(|t| json!(t))), ("user", user.map(Value::String))] {
            if let Some(v) = value {
                body[key] = v;
            }
        }
        body
    }
}

proptest! {
    #[test]
    fn openai_to_anthropic_and_back_gives_the_request_back(request in openai_request()) {
        let anthropic = to_anthropic(request.clone());
        let back = to_openai(anthropic);
        prop_assert_eq!(back, request);
    }
}
