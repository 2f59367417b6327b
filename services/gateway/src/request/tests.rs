#![expect(clippy::unwrap_used)]
use super::*;

fn parse_str(s: &'static str, endpoint: Endpoint) -> Result<LlmRequest, GatewayError> {
    parse_as(s, endpoint, false)
}

/// As read for a model whose requests are translated (`whole`) or not.
fn parse_as(s: &'static str, endpoint: Endpoint, whole: bool) -> Result<LlmRequest, GatewayError> {
    parse(Ok(Bytes::from_static(s.as_bytes())), endpoint, 1024, |_| whole)
}

#[test]
fn a_valid_chat_request_is_read() {
    let r = parse_str(
        r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#,
        Endpoint::ChatCompletions,
    )
    .unwrap();
    assert_eq!(r.model, "m");
    assert!(r.stream);
    let r = parse_str(
        r#"{"model":"m","messages":[{}],"max_tokens":18446744073709551615,"max_completion_tokens":null}"#,
        Endpoint::ChatCompletions,
    );
    assert!(
        r.is_ok(),
        "the largest u64 is read, then lowered to the model's cap"
    );
}

#[test]
fn only_the_members_the_gateway_reads_are_parsed_and_all_are_sent_as_they_came() {
    let sent = r#"{"model":"m", "messages": [{"role":"user","content":"hi\n"}],
        "tools":[{"name":"t"}],"temperature":0.5,"max_tokens":5,"system":"be brief","stream_options":{"x":1}}"#;
    let mut r = parse_str(sent, Endpoint::ChatCompletions).unwrap();
    let parsed: Vec<&str> = r.body.keys().map(String::as_str).collect();
    assert_eq!(parsed, ["max_tokens", "model", "stream_options", "temperature"]);
    assert_eq!(r.sent_text_len(), Some("be brief\nhi\n".len()));
    let out = String::from_utf8(r.spliced(&[("max_tokens", Some(&Value::from(3)))]).unwrap()).unwrap();
    assert_eq!(
        out,
        r#"{"model":"m","messages":[{"role":"user","content":"hi\n"}],"tools":[{"name":"t"}],"temperature":0.5,"max_tokens":3,"system":"be brief","stream_options":{"x":1}}"#
    );
    r.whole().unwrap();
    assert_eq!(
        Value::Object(r.body.clone()),
        serde_json::from_str::<Value>(sent).unwrap()
    );
    assert_eq!(r.sent_text_len(), None);
}

#[test]
fn a_body_for_a_translated_model_is_parsed_whole() {
    let sent = r#"{"messages":[{"role":"user","content":"hi"}],"model":"m","tools":[]}"#;
    let r = parse(
        Ok(Bytes::from_static(sent.as_bytes())),
        Endpoint::ChatCompletions,
        1024,
        |m| m == "m",
    )
    .unwrap();
    assert_eq!(
        Value::Object(r.body.clone()),
        serde_json::from_str::<Value>(sent).unwrap()
    );
    assert_eq!(r.sent_text_len(), None);
    let r = parse(
        Ok(Bytes::from_static(sent.as_bytes())),
        Endpoint::ChatCompletions,
        1024,
        |m| m == "other",
    )
    .unwrap();
    assert!(r.sent_text_len().is_some());
}

#[test]
fn the_model_is_hinted_by_the_first_member_so_named_with_a_string() {
    assert_eq!(
        model_hint(br#"{"messages":[],"model" :  "gpt-4o"}"#),
        Some("gpt-4o")
    );
    assert_eq!(
        model_hint(br#"{"tools":[{"model":{"type":"string"}}],"model":"a"}"#),
        Some("a")
    );
    assert_eq!(
        model_hint(br#"{"content":"say \"model\": \"b\"","model":"a"}"#),
        Some("a")
    );
    assert_eq!(model_hint(br#"{"model":"a\u0062"}"#), None);
    assert_eq!(model_hint(br#"{"model":5}"#), None);
}

#[test]
fn malformed_requests_name_what_is_wrong() {
    let cases = [
        ("{", Endpoint::ChatCompletions, "not valid JSON"),
        ("[]", Endpoint::ChatCompletions, "JSON object"),
        (r#"{"messages":[{}]}"#, Endpoint::ChatCompletions, "`model`"),
        (r#"{"model":"m"}"#, Endpoint::ChatCompletions, "`messages`"),
        (
            r#"{"model":"m","messages":[]}"#,
            Endpoint::ChatCompletions,
            "`messages`",
        ),
        (
            r#"{"model":"m","messages":[{}],"stream":"yes"}"#,
            Endpoint::ChatCompletions,
            "`stream`",
        ),
        (
            r#"{"model":"m","messages":[{}]}"#,
            Endpoint::Messages,
            "`max_tokens`",
        ),
        (r#"{"model":"m"}"#, Endpoint::Embeddings, "`input`"),
        (
            r#"{"model":"m","messages":[{}],"max_tokens":18446744073709551616}"#,
            Endpoint::ChatCompletions,
            "`max_tokens`",
        ),
        (
            r#"{"model":"m","messages":[{}],"max_completion_tokens":-1}"#,
            Endpoint::ChatCompletions,
            "`max_completion_tokens`",
        ),
        (
            r#"{"model":"m","messages":[{}],"max_tokens":1.5}"#,
            Endpoint::ChatCompletions,
            "`max_tokens`",
        ),
        (
            r#"{"model":"m","messages":[{}],"temperature":1e400}"#,
            Endpoint::ChatCompletions,
            "number out of range",
        ),
        (
            r#"{"model":"m","messages":[{}]} x"#,
            Endpoint::ChatCompletions,
            "trailing",
        ),
        (
            r#"{"model":"m","messages":[{}"#,
            Endpoint::ChatCompletions,
            "not valid JSON",
        ),
        (
            r#"{"model":"m","messages":  [ ] }"#,
            Endpoint::ChatCompletions,
            "`messages`",
        ),
        (r#"{"model":"m","input":{}}"#, Endpoint::Embeddings, "`input`"),
        (r#"{"model":"m","prompt":1}"#, Endpoint::Completions, "`prompt`"),
    ];
    for (body, endpoint, needle) in cases {
        for whole in [false, true] {
            let err = parse_as(body, endpoint, whole).err().unwrap().to_string();
            assert!(err.contains(needle), "{body} (whole: {whole}): {err}");
        }
    }
}
