#![expect(clippy::unwrap_used)]

use super::*;

fn read(format: Format, data: &str) -> Option<String> {
    let mut text = String::new();
    frame_text(format, data, &mut text, 1 << 20).then_some(text)
}

#[test]
fn each_wire_gives_its_text_and_nothing_else() {
    let chat = Format::OpenAiSse {
        strip_usage_chunk: false,
    };
    assert_eq!(
        read(
            chat,
            r#"{"id":"x","choices":[{"index":0,"delta":{"role":"assistant","content":"Hi \"you\""}}]}"#
        )
        .as_deref(),
        Some("Hi \"you\"")
    );
    assert_eq!(
        read(chat, r#"{"choices":[{"text":"legacy"}]}"#).as_deref(),
        Some("legacy")
    );
    assert_eq!(
        read(chat, r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#).as_deref(),
        Some("")
    );
    assert_eq!(
        read(
            Format::AnthropicSse,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hé"}}"#
        )
        .as_deref(),
        Some("Hé")
    );
    assert_eq!(
        read(
            Format::AnthropicSse,
            r#"{"type":"content_block_start","content_block":{"text":"no"}}"#
        )
        .as_deref(),
        Some("")
    );
    assert_eq!(
        read(
            Format::ResponsesSse,
            r#"{"type":"response.output_text.delta","delta":"A\nB"}"#
        )
        .as_deref(),
        Some("A\nB")
    );
    assert_eq!(
        read(
            Format::ResponsesSse,
            r#"{"type":"response.reasoning.delta","delta":{"x":1}}"#
        )
        .as_deref(),
        Some("")
    );
}

#[test]
fn an_unexpected_shape_is_left_to_the_general_reader() {
    assert_eq!(
        read(Format::AnthropicSse, r#"{"delta":{"text":"no type"}}"#),
        None
    );
    assert_eq!(read(Format::ResponsesSse, "[1,2]"), None);
    let chat = Format::OpenAiSse {
        strip_usage_chunk: false,
    };
    assert_eq!(read(chat, r#"{"choices":{"not":"a list"}}"#), None);
}

fn read_all(format: Format, answer: &str) -> Option<(Reported, String)> {
    let (mut reported, mut text) = (Reported::default(), String::new());
    body(format, answer.as_bytes(), &mut reported, &mut text, 1 << 20).then_some((reported, text))
}

#[test]
fn chat_and_messages_bodies_give_usage_and_text() {
    let (reported, text) = read_all(
        Format::OpenAiJson,
        r#"{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\""},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":7,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}}"#,
    )
    .unwrap();
    assert_eq!(
        (reported.input, reported.output, reported.cached),
        (Some(7), Some(3), Some(2))
    );
    assert_eq!(text, "Hi \"there\"");
    let (_, text) = read_all(Format::OpenAiJson, r#"{"choices":[{"text":"legacy"}]}"#).unwrap();
    assert_eq!(text, "legacy");
    let (reported, text) = read_all(
        Format::AnthropicJson,
        r#"{"content":[{"type":"text","text":"Hé"},{"type":"tool_use","input":{"a":1}}],
            "usage":{"input_tokens":5,"output_tokens":4}}"#,
    )
    .unwrap();
    assert_eq!((reported.input, reported.output), (Some(5), Some(4)));
    assert_eq!(text, "Hé");
}

#[test]
fn other_shapes_are_left_to_the_general_reader() {
    assert!(
        read_all(
            Format::OpenAiJson,
            r#"{"choices":[{"message":{"content":[{"type":"text"}]}}]}"#
        )
        .is_none()
    );
    assert!(read_all(Format::OpenAiJson, "not json").is_none());
    assert!(read_all(Format::ResponsesJson, r#"{"output":[]}"#).is_none());
}

#[test]
fn a_stream_usage_chunk_is_read_typed() {
    let (mut reported, mut text) = (Reported::default(), String::new());
    let usage_only = openai_chunk(
        r#"{"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}"#,
        &mut reported,
        &mut text,
        1 << 20,
    );
    assert_eq!(usage_only, Some(true));
    assert_eq!((reported.input, reported.output), (Some(3), Some(2)));
    let last = r#"{"choices":[{"delta":{"content":"end"}}],"usage":{"prompt_tokens":1}}"#;
    assert_eq!(openai_chunk(last, &mut reported, &mut text, 1 << 20), Some(false));
    assert_eq!((reported.input, text.as_str()), (Some(1), "end"));
}

#[test]
fn the_text_stops_at_its_bound() {
    let (mut reported, mut text) = (Reported::default(), "x".repeat(10));
    let body = br#"{"choices":[{"message":{"content":"more"}}]}"#;
    assert!(super::body(
        Format::OpenAiJson,
        body,
        &mut reported,
        &mut text,
        10
    ));
    assert_eq!(text.len(), 10);
}

/// The typed read of a whole answer gives the counts the general read
/// gives, whatever shape `usage` has; where it cannot, it reads nothing
/// and leaves the answer to the general read.
mod same_counts {
    use proptest::{prelude::*, test_runner::TestCaseError};
    use serde_json::{Map, Value, json};

    use super::{Format, Reported, read_all};
    use crate::usage::fields::{AnthropicUsage, OpenAiUsage};

    /// An answer's `usage` alone, read as the typed read reads it.
    #[derive(serde::Deserialize)]
    #[serde(bound = "T: serde::Deserialize<'de>")]
    struct Usage<T> {
        #[serde(deserialize_with = "crate::usage::fields::object")]
        #[expect(dead_code, reason = "only whether it reads matters")]
        usage: Option<T>,
    }

    /// A value where a count belongs: mostly counts, sometimes not.
    fn count() -> impl Strategy<Value = Value> {
        prop_oneof![
            4 => (0..u64::MAX).prop_map(Value::from),
            1 => (i64::MIN..0).prop_map(Value::from),
            1 => any::<f64>().prop_filter("JSON has no NaN", |f| f.is_finite()).prop_map(|f| json!(f)),
            1 => Just(json!("7")),
            1 => Just(Value::Null),
            1 => Just(json!({"n": 1})),
            1 => (0..u64::MAX).prop_map(|n| json!([n, n])),
            1 => Just(json!(true)),
        ]
    }

    /// An object with some of `names` as counts, or now and then not an object.
    fn object(
        names: &'static [&'static str],
        nested: Vec<(&'static str, BoxedStrategy<Value>)>,
    ) -> BoxedStrategy<Value> {
        let flat = proptest::collection::vec(proptest::option::of(count()), names.len());
        let inner = nested
            .into_iter()
            .map(|(name, value)| proptest::option::of(value).prop_map(move |v| (name, v)))
            .collect::<Vec<_>>();
        let object = (flat, inner).prop_map(move |(values, inner)| {
            let mut map = Map::new();
            for (name, value) in names.iter().zip(values) {
                if let Some(value) = value {
                    map.insert((*name).to_owned(), value);
                }
            }
            for (name, value) in inner.into_iter().filter_map(|(n, v)| v.map(|v| (n, v))) {
                map.insert(name.to_owned(), value);
            }
            Value::Object(map)
        });
        // Now and then the counts in order, as an array.
        let array = proptest::collection::vec(0..u64::MAX, 0..6).prop_map(|v| json!(v));
        prop_oneof![8 => object, 1 => count(), 1 => array].boxed()
    }

    fn openai_usage() -> BoxedStrategy<Value> {
        object(
            &["prompt_tokens", "completion_tokens", "total_tokens"],
            vec![
                (
                    "prompt_tokens_details",
                    object(&["cached_tokens", "audio_tokens"], vec![]),
                ),
                ("completion_tokens_details", object(&["reasoning_tokens"], vec![])),
            ],
        )
    }

    fn anthropic_usage() -> BoxedStrategy<Value> {
        object(
            &[
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            ],
            vec![
                (
                    "cache_creation",
                    object(
                        &["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"],
                        vec![],
                    ),
                ),
                (
                    "server_tool_use",
                    object(&["web_search_requests", "web_fetch_requests"], vec![]),
                ),
            ],
        )
    }

    /// A stream chunk's `choices`: absent, `null`, empty, a few, or not a list.
    fn choices() -> impl Strategy<Value = Option<Value>> {
        let text = prop_oneof![
            Just(Value::Null),
            "[a-z\"\\\\ ]{0,8}".prop_map(Value::from),
            Just(json!(3)),
        ];
        let choice =
            (proptest::option::of(text.clone()), proptest::option::of(text)).prop_map(|(delta, text)| {
                let mut choice = json!({"index": 0});
                if let Some(content) = delta {
                    choice["delta"] = json!({"content": content});
                }
                if let Some(text) = text {
                    choice["text"] = text;
                }
                choice
            });
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            proptest::collection::vec(choice, 0..3).prop_map(|c| Some(json!(c))),
            Just(Some(json!({"0": {}}))),
        ]
    }

    /// The general read of a chunk, as `Tap::parse_event` makes it from a `Value`.
    fn general_chunk(json: &Value) -> (Reported, String, bool) {
        let (mut reported, mut text) = (Reported::default(), String::new());
        for choice in json["choices"].as_array().into_iter().flatten() {
            text.push_str(
                choice["delta"]["content"]
                    .as_str()
                    .or(choice["text"].as_str())
                    .unwrap_or(""),
            );
        }
        let usage = &json["usage"];
        if usage.is_object() {
            reported.read_openai(usage);
        }
        let usage_only = usage.is_object() && json["choices"].as_array().is_some_and(Vec::is_empty);
        (reported, text, usage_only)
    }

    /// The typed read of `answer` (whose text is "Hi") gives the general
    /// read's counts, or reads nothing because its `usage` is a shape
    /// the typed read does not expect.
    fn same_or_refused<T: serde::de::DeserializeOwned>(
        format: Format,
        answer: &Value,
        general: Reported,
    ) -> Result<(), TestCaseError> {
        if let Some((typed, text)) = read_all(format, &answer.to_string()) {
            prop_assert_eq!(typed, general);
            prop_assert_eq!(text, "Hi");
        } else {
            let alone = json!({"usage": answer["usage"]});
            prop_assert!(serde_json::from_value::<Usage<T>>(alone).is_err());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn openai(usage in openai_usage()) {
            let answer = json!({"choices": [{"message": {"content": "Hi"}}], "usage": usage});
            let mut general = Reported::default();
            general.read_openai(&usage);
            same_or_refused::<OpenAiUsage>(Format::OpenAiJson, &answer, general)?;
        }

        #[test]
        fn openai_stream_chunk(choices in choices(), usage in proptest::option::of(openai_usage())) {
            let mut chunk = json!({"id": "c", "object": "chat.completion.chunk"});
            if let Some(choices) = choices {
                chunk["choices"] = choices;
            }
            if let Some(usage) = usage {
                chunk["usage"] = usage;
            }
            let (mut reported, mut text) = (Reported::default(), String::new());
            let typed = super::super::openai_chunk(&chunk.to_string(), &mut reported, &mut text, 1 << 20);
            if let Some(usage_only) = typed {
                prop_assert_eq!((reported, text, usage_only), general_chunk(&chunk));
            }
        }

        #[test]
        fn anthropic(usage in anthropic_usage()) {
            let answer = json!({"content": [{"type": "text", "text": "Hi"}], "usage": usage});
            let mut general = Reported::default();
            general.read_anthropic(&usage, true);
            same_or_refused::<AnthropicUsage>(Format::AnthropicJson, &answer, general)?;
        }
    }
}
