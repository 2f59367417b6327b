#![expect(clippy::unwrap_used)]

use proptest::{collection::vec, prelude::*};
use serde_json::{Value, json};

use super::*;
use crate::{request::serde_reading::serde_reads, usage::estimate};

/// The text the request's reading (`request::read`) counts in a body.
fn scanned(body: &str) -> Result<usize, crate::error::GatewayError> {
    let (_, _, text) = super::super::read(body.as_bytes())?;
    Ok(text.len())
}

#[test]
fn text_is_counted_as_the_estimate_counts_a_parsed_body() {
    let bodies = [
        json!({"model": "m", "messages": [{"role": "user", "content": "hi \"there\"\n"}]}),
        json!({"system": "be brief", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "caf\u{e9} \u{1F600}"}, {"type": "image"}]},
            {"role": "assistant", "content": [{"type": "tool_result", "content": [{"type": "text", "text": "ok"}]}]},
            {"role": "tool", "content": [{"output": "sunny", "text": 5}]},
            "not a message",
            {"content": null}
        ]}),
        json!({"instructions": "x", "input": ["a", {"content": "b"}, {"content": [{"text": "c"}, {"text": 1}]}]}),
        json!({"prompt": ["once", "upon"], "messages": "not an array"}),
        json!({}),
    ];
    for body in bodies {
        let text = body.to_string();
        assert_eq!(
            scanned(&text).unwrap(),
            estimate::request_text_len(&body),
            "{text}"
        );
    }
}

#[test]
fn the_last_of_a_repeated_name_counts() {
    let body = r#"{"messages":[{"content":"a long first prompt"}],"messages":[{"content":"hi","content":"hey"}],
        "input":[{"text":"ab","text":7,"output":"xyz"}]}"#;
    let parsed: Value = serde_json::from_str(body).unwrap();
    assert_eq!(scanned(body).unwrap(), estimate::request_text_len(&parsed));
    assert_eq!(scanned(body).unwrap(), "hey\nxyz".len());
}

fn unescaped_len(raw: &str) -> usize {
    let quoted = format!("\"{raw}\" ");
    let (at, len) = Scan {
        b: quoted.as_bytes(),
        i: 0,
    }
    .text()
    .unwrap();
    assert_eq!(at, 0..quoted.len() - 1);
    len
}

#[test]
fn escapes_count_as_the_text_they_stand_for() {
    for raw in [
        r#"plain"#,
        r#"eight by eight: \"01234567\"\n0123456789abcdef"#,
        r#"a\nb\t\"c\"\\ \/"#,
        r#"caf\u00e9 \u20ac \u0041"#,
        r#"\ud83d\ude00 and \uD83D\uDE00"#,
        r#"\\u0041 is not an escape"#,
        "",
    ] {
        let text: String = serde_json::from_str(&format!("\"{raw}\"")).unwrap();
        assert_eq!(unescaped_len(raw), text.len(), "{raw}");
    }
    // A lone surrogate, which a parse refuses, counts as U+FFFD.
    assert_eq!(unescaped_len(r"\ud800x"), 4);
    assert_eq!(unescaped_len(r"\ud800\u0041"), 4);
}

#[test]
fn control_bytes_and_unknown_escapes_are_refused_wherever_they_fall() {
    for raw in ["\x01", "\x1f", "\n", "\\x", "\\u12g4", "\\u12", "\\"] {
        for at in [0, 1, 7, 8, 9, 15, 16] {
            let text = format!("{}{raw}", "a".repeat(at));
            for body in [
                format!("{{\"messages\":[{{\"content\":\"{text}\"}}]}}"),
                format!("{{\"m\":\"{text}\"}}"),
            ] {
                assert!(scanned(&body).is_err(), "{body:?}");
                assert!(!serde_reads(body.as_bytes()), "{body:?}");
            }
        }
    }
}

#[test]
fn a_name_with_a_lone_surrogate_is_refused_only_at_the_top_level() {
    // serde_json reads a top-level name as a string, and skips a nested one.
    for (body, read) in [
        (
            r#"{"messages":[{"role":"user","a\ud83f\u0e50":1,"content":"hi"}]}"#,
            true,
        ),
        (r#"{"input":[{"\udc00":[{"\ud800":"x"}],"text":"hi"}]}"#, true),
        (r#"{"tools":[{"\ud800":1}],"messages":[]}"#, true),
        (r#"{"\ud800":1,"messages":[]}"#, false),
    ] {
        assert_eq!(scanned(body).is_ok(), read, "{body}");
        assert_eq!(serde_reads(body.as_bytes()), read, "{body}");
    }
    let body = r#"{"messages":[{"\ud800x":"no","content":"hi"}]}"#;
    assert_eq!(scanned(body).unwrap(), 2);
}

#[test]
fn nesting_is_refused_where_serde_json_refuses_it() {
    for depth in [1, 125, 126, 127, 128, 400] {
        let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for name in ["tools", "messages", "input"] {
            let body = format!(r#"{{"{name}":{deep}}}"#);
            let parses = serde_json::from_str::<Value>(&body).is_ok();
            assert_eq!(scanned(&body).is_ok(), parses, "{name} nested {depth} deep");
        }
        let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        let body = format!(r#"{{"messages":[{{"content":[{{"content":{objects}}}]}}]}}"#);
        let parses = serde_json::from_str::<Value>(&body).is_ok();
        assert_eq!(scanned(&body).is_ok(), parses, "objects nested {depth} deep");
    }
}

fn text() -> impl Strategy<Value = Value> {
    "[a-z \"\\\\\n\t\u{e9}\u{1F600}{}\\[\\],:]{0,8}".prop_map(Value::from)
}

/// Values shaped like prompts: strings, parts with `text`, `output` and
/// `content` members (sometimes not strings), and anything else.
fn prompt() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        text(),
        Just(Value::Null),
        any::<i32>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        let name = prop_oneof![
            Just("text".to_owned()),
            Just("output".to_owned()),
            Just("content".to_owned()),
            Just("type".to_owned()),
        ];
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            vec((name, inner), 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A member of a request body, its name maybe repeated.
fn member() -> impl Strategy<Value = (&'static str, Value)> {
    let name = prop_oneof![
        Just("messages"),
        Just("input"),
        Just("system"),
        Just("tools"),
        Just("model"),
        Just("max_tokens"),
        Just("stream_options"),
        Just("temperature"),
    ];
    let value = prop_oneof![
        4 => prompt(),
        1 => any::<f64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => "\\PC{0,12}".prop_map(Value::from),
    ];
    (name, value)
}

/// Bytes that steer a JSON scan, and bytes that break UTF-8.
const SIGNIFICANT: &[u8] = b"{}[]\",:\\/ \n\t0123456789-+.eEtrufalsnuDd\x01\x1f\x7f\xff\xc3\x80";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// A body, maybe broken by a few edits, is read exactly when serde_json
    /// reads it.
    #[test]
    fn a_body_is_read_exactly_when_serde_json_reads_it(
        members in vec(member(), 0..6),
        pretty in any::<bool>(),
        edits in vec((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(SIGNIFICANT)), 0..4),
    ) {
        let text: Vec<String> = members
            .iter()
            .map(|(name, value)| match pretty {
                true => format!("\"{name}\" : {}", serde_json::to_string_pretty(value).unwrap()),
                false => format!("\"{name}\":{value}"),
            })
            .collect();
        let mut body = format!("{{{}}}", text.join(if pretty { ",\n " } else { "," })).into_bytes();
        prop_assert!(super::super::read(&body).is_ok());
        for (at, kind, byte) in edits {
            if body.is_empty() {
                break;
            }
            let at = at.index(body.len());
            match kind {
                0 => body[at] = byte,
                1 => body.insert(at, byte),
                _ => {
                    body.remove(at);
                }
            }
        }
        prop_assert_eq!(
            super::super::read(&body).is_ok(),
            serde_reads(&body),
            "{:?}", String::from_utf8_lossy(&body)
        );
    }
}

proptest! {
    /// Any string as serde_json writes it (control characters as `\u00XX`)
    /// is read to its closing quote, with its text's length.
    #[test]
    fn any_string_is_read_to_its_end(s in any::<String>()) {
        let quoted = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(unescaped_len(&quoted[1..quoted.len() - 1]), s.len());
    }

    /// For any body of such members, the scan counts what the estimate
    /// counts on the parsed body.
    #[test]
    fn the_scan_agrees_with_the_estimate(
        members in vec((prop_oneof![
            Just("messages"), Just("system"), Just("input"), Just("prompt"),
            Just("instructions"), Just("tools"),
        ], prompt()), 0..6),
    ) {
        let text: Vec<String> = members
            .iter()
            .map(|(name, value)| format!("\"{name}\" : {value}"))
            .collect();
        let body = format!("{{ {} }}", text.join(",\n "));
        let parsed: Value = serde_json::from_str(&body).unwrap();
        prop_assert_eq!(scanned(&body).unwrap(), estimate::request_text_len(&parsed));
    }
}
