//! `ConverseStream`'s events re-framed as OpenAI chat completion chunks:
//! `messageStart` opens the assistant's turn, each `contentBlockDelta`'s
//! text is a content delta, `messageStop` carries the finish reason and
//! `metadata` the usage (one chunk with empty `choices`, as OpenAI sends
//! with `stream_options.include_usage`); `[DONE]` ends a stream that ended
//! well. An exception ends it with an OpenAI-shaped `{"error": …}` event.

use serde_json::{Value, json};

use super::{
    converse::{completion_id, finish_reason, unix_now, usage},
    eventstream::Framing,
};

pub(super) struct OpenAiChunks {
    id: String,
    created: u64,
    model: String,
}

impl OpenAiChunks {
    pub(super) fn new(model: String) -> Self {
        Self {
            id: completion_id(),
            created: unix_now(),
            model,
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> Vec<u8> {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        format!("data: {chunk}\n\n").into_bytes()
    }

    fn delta(&self, delta: Value, finish: Option<&str>) -> Vec<u8> {
        self.chunk(
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
            None,
        )
    }
}

impl Framing for OpenAiChunks {
    fn event(&mut self, event_type: &str, payload: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
        let Ok(event) = serde_json::from_slice::<Value>(payload) else {
            return Err(self.error(
                "api_error",
                &format!("Bedrock sent a {event_type} event that is not JSON."),
            ));
        };
        Ok(match event_type {
            "messageStart" => self.delta(json!({"role": "assistant", "content": ""}), None),
            "contentBlockDelta" => match event.pointer("/delta/text").and_then(Value::as_str) {
                Some(text) => self.delta(json!({"content": text}), None),
                // Tool-use and reasoning deltas: not requested, not relayed.
                None => Vec::new(),
            },
            "messageStop" => {
                let stop = event
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                self.delta(json!({}), Some(finish_reason(stop)))
            }
            "metadata" => self.chunk(json!([]), Some(usage(event.get("usage").unwrap_or(&Value::Null)))),
            _ => Vec::new(),
        })
    }

    fn error(&self, error_type: &str, message: &str) -> Vec<u8> {
        let kind = match error_type {
            "rate_limit_error" => "rate_limit_exceeded",
            "invalid_request_error" => "invalid_request_error",
            _ => "server_error",
        };
        let data = json!({"error": {"message": message, "type": kind, "code": kind}});
        format!("data: {data}\n\n").into_bytes()
    }

    fn end(&mut self) -> Vec<u8> {
        b"data: [DONE]\n\n".to_vec()
    }
}
