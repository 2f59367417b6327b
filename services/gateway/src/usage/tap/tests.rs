#![expect(clippy::unwrap_used)]
use super::*;

const CAP: usize = 1 << 20;

fn feed_all(tap: &mut Tap, parts: &[&str]) -> String {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(p.as_bytes())).unwrap());
    }
    out.extend_from_slice(&tap.finish());
    String::from_utf8(out).unwrap_or_default()
}

const OPENAI_STREAM: &[&str] = &[
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi",
    "ces\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2,\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n",
    "data: [DONE]\n\n",
];

#[test]
fn an_injected_usage_chunk_is_read_and_removed() {
    let mut tap = Tap::new(
        Format::OpenAiSse {
            strip_usage_chunk: true,
        },
        CAP,
    );
    let out = feed_all(&mut tap, OPENAI_STREAM);
    assert_eq!(
        tap.reported,
        Reported {
            input: Some(7),
            output: Some(2),
            cached: Some(3),
            ..Reported::default()
        }
    );
    assert_eq!(tap.text(), "Hello");
    assert!(!out.contains("usage"), "{out}");
    assert!(out.contains("\"lo\"") && out.ends_with("data: [DONE]\n\n"));
}

#[test]
fn a_usage_chunk_the_client_asked_for_is_kept() {
    let mut tap = Tap::new(
        Format::OpenAiSse {
            strip_usage_chunk: false,
        },
        CAP,
    );
    let out = feed_all(&mut tap, OPENAI_STREAM);
    assert_eq!(out, OPENAI_STREAM.concat());
    assert_eq!(tap.reported.output, Some(2));
}

#[test]
fn anthropic_usage_is_merged_from_message_start_and_message_delta() {
    let mut tap = Tap::new(Format::AnthropicSse, CAP);
    feed_all(
        &mut tap,
        &[
            "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1,\"cache_read_input_tokens\":4}}}\r\n\r\n",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n",
            "event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":9}}\n\n",
        ],
    );
    assert_eq!(
        tap.reported,
        Reported {
            input: Some(9),
            output: Some(9),
            cached: Some(4),
            ..Reported::default()
        }
    );
    assert_eq!(tap.text(), "Hi");
}

#[test]
fn json_bodies_are_read_at_the_end() {
    let mut tap = Tap::new(Format::OpenAiJson, CAP);
    let body =
        r#"{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":4,"completion_tokens":1}}"#;
    let out = feed_all(&mut tap, &[&body[..10], &body[10..]]);
    assert_eq!(out, body);
    assert_eq!(
        (tap.reported.input, tap.reported.output, tap.text.as_str()),
        (Some(4), Some(1), "ok")
    );
    let mut none = Tap::new(Format::AnthropicJson, CAP);
    feed_all(&mut none, &[r#"{"content":[{"type":"text","text":"x y"}]}"#]);
    assert_eq!(none.reported, Reported::default());
}

#[test]
fn an_upstream_that_never_frames_an_event_is_cut_with_an_error_and_its_text_is_kept() {
    let mut tap = Tap::new(Format::AnthropicSse, 1024);
    let start = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi there\"}}\n\n";
    assert_eq!(tap.feed(Bytes::from_static(start.as_bytes())).unwrap(), start);
    let filler = Bytes::from(vec![b'x'; 600]);
    assert!(tap.feed(filler.clone()).unwrap().is_empty());
    let cut = tap.feed(filler).unwrap_err().error_frame;
    let cut = String::from_utf8(cut.to_vec()).unwrap();
    assert!(
        cut.starts_with("\n\nevent: error\n") && !cut.contains("xxx"),
        "{cut}"
    );
    assert_eq!(tap.text(), "Hi there");
    assert!(tap.finish().is_empty(), "nothing of the oversized event is kept");
}

#[test]
fn long_replies_keep_raw_frames_bounded_and_the_whole_text() {
    let mut tap = Tap::new(
        Format::OpenAiSse {
            strip_usage_chunk: false,
        },
        CAP,
    );
    for _ in 0..10_000 {
        let _ = tap.feed(Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"ab\"}}]}\n\n",
        ));
        assert!(tap.content_frames.len() <= MAX_RAW_FRAMES);
        // One allocation of the bound, reused after each fold.
        assert!(tap.content_frames.capacity() <= MAX_RAW_FRAMES);
    }
    assert_eq!(tap.text().len(), 20_000);
}

#[test]
fn a_responses_stream_is_read_from_response_completed() {
    let mut tap = Tap::new(Format::ResponsesSse, CAP);
    let stream = [
        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"Hi there\"}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":6,\"output_tokens\":5,\"input_tokens_details\":{\"cached_tokens\":2},\"output_tokens_details\":{\"reasoning_tokens\":3}}}}\n\n",
    ];
    let out = feed_all(&mut tap, &stream);
    assert_eq!(out, stream.concat(), "forwarded unchanged");
    let r = &tap.reported;
    assert_eq!(
        (r.input, r.output, r.cached, r.reasoning),
        (Some(6), Some(5), Some(2), Some(3))
    );
    let mut cut = Tap::new(Format::ResponsesSse, CAP);
    feed_all(&mut cut, &stream[..2]);
    assert_eq!((cut.reported.output, cut.text()), (None, "Hi there"));
}

#[test]
fn a_null_usage_is_no_usage_and_its_chunk_stays_raw() {
    assert!(!may_carry_usage(b"data: {\"choices\":[],\"usage\":null}\n\n"));
    assert!(!may_carry_usage(b"data: {\"usage\" : \n null}\n\n"));
    assert!(may_carry_usage(b"data: {\"usage\":{\"prompt_tokens\":1}}\n\n"));
    assert!(
        may_carry_usage(b"data: {\"usage\":null,\"x\":{\"usage\":{}}}\n\n"),
        "any non-null one"
    );
    assert!(
        may_carry_usage(b"data: {\"type\":\"usage\"}\n\n"),
        "not a name: parsed"
    );
    // OpenAI's chunks when usage is asked for: the content ones are kept raw,
    // and the stream reads as it did without the nulls.
    let with_nulls: Vec<String> = OPENAI_STREAM
        .iter()
        .map(|p| p.replace("}}]}", "}}],\"usage\":null}"))
        .collect();
    let parts: Vec<&str> = with_nulls.iter().map(String::as_str).collect();
    let mut tap = Tap::new(
        Format::OpenAiSse {
            strip_usage_chunk: true,
        },
        CAP,
    );
    tap.feed(Bytes::copy_from_slice(parts[0].as_bytes())).unwrap();
    tap.feed(Bytes::copy_from_slice(parts[1].as_bytes())).unwrap();
    assert!(
        tap.text.is_empty() && !tap.content_frames.is_empty(),
        "kept raw, not parsed"
    );
    let out = feed_all(&mut tap, &parts[2..]);
    assert_eq!(tap.reported.output, Some(2));
    assert_eq!(tap.text(), "Hello");
    assert!(
        !out.contains("prompt_tokens"),
        "the injected usage chunk is removed: {out}"
    );
}

#[test]
fn events_of_one_chunk_are_forwarded_in_order_around_a_removed_usage_chunk() {
    let mut tap = Tap::new(
        Format::OpenAiSse {
            strip_usage_chunk: true,
        },
        CAP,
    );
    let whole = OPENAI_STREAM.concat();
    // All four events in one chunk, and again split inside the usage chunk.
    let out = feed_all(&mut tap, &[&whole]);
    let expected = "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
                    data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\ndata: [DONE]\n\n";
    assert_eq!(out, expected);
    let mut tap = Tap::new(
        Format::OpenAiSse {
            strip_usage_chunk: true,
        },
        CAP,
    );
    let cut = whole.find("usage").unwrap();
    assert_eq!(feed_all(&mut tap, &[&whole[..cut], &whole[cut..]]), expected);
    assert_eq!(tap.reported.input, Some(7));
}

#[test]
fn garbage_after_good_events_of_one_chunk_ends_the_stream_after_them() {
    let mut tap = Tap::new(
        Format::OpenAiSse {
            strip_usage_chunk: true,
        },
        CAP,
    );
    let good = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
    let chunk = format!("{good}{good}data: {{not json\n\n{good}");
    let cut = tap.feed(Bytes::from(chunk)).unwrap_err();
    let frame = String::from_utf8(cut.error_frame.to_vec()).unwrap();
    assert!(
        frame.starts_with(&format!("{good}{good}\n\ndata: {{\"error\"")),
        "{frame}"
    );
    assert_eq!(cut.code, keyway_common::codes::UP_FAILED);
}
