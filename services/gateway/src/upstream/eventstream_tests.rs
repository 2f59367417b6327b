use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue, Message};
use base64::Engine;
use serde_json::json;

use super::*;

fn frame(headers: &[(&'static str, &'static str)], payload: Vec<u8>) -> Vec<u8> {
    let message = headers.iter().fold(Message::new(payload), |m, (k, v)| {
        m.add_header(Header::new(*k, EsValue::String((*v).into())))
    });
    let mut out = Vec::new();
    write_message_to(&message, &mut out).unwrap_or_else(|e| panic!("{e}"));
    out
}

fn chunk(event: &Value) -> Vec<u8> {
    let bytes = base64::engine::general_purpose::STANDARD.encode(event.to_string());
    frame(
        &[
            (":message-type", "event"),
            (":event-type", "chunk"),
            (":content-type", "application/json"),
        ],
        json!({"bytes": bytes, "p": "abcd"}).to_string().into_bytes(),
    )
}

#[test]
fn chunks_split_at_every_byte_become_the_same_anthropic_sse() {
    let start =
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 7, "output_tokens": 1}}});
    let stop = json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 7}});
    let mut wire = chunk(&start);
    wire.extend(chunk(&stop));
    let mut reframer = Reframer::new(AnthropicChunks);
    let mut out = Vec::new();
    for byte in &wire {
        out.extend(reframer.push(std::slice::from_ref(byte)));
    }
    out.extend(reframer.finish());
    assert_eq!(
        String::from_utf8(out).unwrap_or_default(),
        format!("event: message_start\ndata: {start}\n\nevent: message_stop\ndata: {stop}\n\n")
    );
}

#[test]
fn an_exception_frame_ends_the_stream_with_an_anthropic_error_event() {
    let mut wire = frame(
        &[
            (":message-type", "exception"),
            (":exception-type", "throttlingException"),
        ],
        br#"{"message":"slow down"}"#.to_vec(),
    );
    wire.extend(chunk(&json!({"type": "message_stop"})));
    let out = String::from_utf8(Reframer::new(AnthropicChunks).push(&wire)).unwrap_or_default();
    assert!(out.starts_with("event: error\ndata: "), "{out}");
    assert!(
        out.contains("rate_limit_error") && out.contains("slow down"),
        "{out}"
    );
    assert!(!out.contains("message_stop"), "{out}");
}

#[test]
fn a_corrupt_or_truncated_frame_is_an_error_event_not_silence() {
    let mut wire = chunk(&json!({"type": "ping"}));
    let last = wire.len() - 1;
    wire[last] ^= 0xff; // the message CRC
    let out = String::from_utf8(Reframer::new(AnthropicChunks).push(&wire)).unwrap_or_default();
    assert!(
        out.starts_with("event: error") && out.contains("malformed"),
        "{out}"
    );

    let whole = chunk(&json!({"type": "ping"}));
    let mut reframer = Reframer::new(AnthropicChunks);
    assert!(reframer.push(&whole[..whole.len() / 2]).is_empty());
    let out = String::from_utf8(reframer.finish()).unwrap_or_default();
    assert!(out.contains("ended inside a frame"), "{out}");
}

#[test]
fn an_event_name_that_could_break_the_framing_is_not_used() {
    let out = Reframer::new(AnthropicChunks).push(&chunk(&json!({"type": "x\ndata: injected"})));
    let out = String::from_utf8(out).unwrap_or_default();
    assert!(out.starts_with("event: message\ndata: {"), "{out}");
    assert_eq!(out.matches('\n').count(), 3, "{out}");
}
