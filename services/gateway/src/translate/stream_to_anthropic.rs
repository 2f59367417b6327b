//! An OpenAI chat completion chunk stream as an Anthropic event stream:
//! `message_start`, then per content block `content_block_start`,
//! `content_block_delta` (`text_delta`, or `input_json_delta` for tool
//! arguments) and `content_block_stop`, then `message_delta` with the stop
//! reason and usage, and `message_stop`. OpenAI reports usage in a chunk
//! after the finish reason, so the closing events wait for `[DONE]`.

use serde_json::{Value, json};

use super::{Transducer, resp_to_anthropic, stop};

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    None,
    Text,
    /// The OpenAI tool call index it streams.
    Tool(u64),
}

pub(crate) struct ToAnthropic {
    started: bool,
    open: Open,
    /// The index of the next (or the open) content block.
    next_block: u64,
    finish_reason: Option<String>,
    usage: Value,
    done: bool,
}

impl ToAnthropic {
    pub(crate) fn new() -> Self {
        Self {
            started: false,
            open: Open::None,
            next_block: 0,
            finish_reason: None,
            usage: Value::Null,
            done: false,
        }
    }

    fn start(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({
            "id": chunk["id"],
            "type": "message",
            "role": "assistant",
            "model": chunk["model"],
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            // OpenAI reports usage only at the end: message_delta has it.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        });
        event(
            "message_start",
            &json!({"type": "message_start", "message": message}),
            out,
        );
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if self.open != Open::None {
            let index = self.next_block;
            event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
                out,
            );
            self.next_block += 1;
            self.open = Open::None;
        }
    }

    fn open_block(&mut self, open: Open, block: Value, out: &mut Vec<u8>) {
        self.close_block(out);
        self.open = open;
        let start = json!({"type": "content_block_start", "index": self.next_block, "content_block": block});
        event("content_block_start", &start, out);
    }

    fn delta(&self, delta: Value, out: &mut Vec<u8>) {
        let body = json!({"type": "content_block_delta", "index": self.next_block, "delta": delta});
        event("content_block_delta", &body, out);
    }

    fn text(&mut self, text: &str, out: &mut Vec<u8>) {
        if self.open != Open::Text {
            self.open_block(Open::Text, json!({"type": "text", "text": ""}), out);
        }
        self.delta(json!({"type": "text_delta", "text": text}), out);
    }

    fn tool_call(&mut self, call: &Value, out: &mut Vec<u8>) {
        let index = call["index"].as_u64().unwrap_or(0);
        if self.open != Open::Tool(index) || call["id"].is_string() {
            let block =
                json!({"type": "tool_use", "id": call["id"], "name": call["function"]["name"], "input": {}});
            self.open_block(Open::Tool(index), block, out);
        }
        if let Some(partial) = call["function"]["arguments"].as_str().filter(|a| !a.is_empty()) {
            self.delta(json!({"type": "input_json_delta", "partial_json": partial}), out);
        }
    }

    fn chunk(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        if chunk.get("error").is_some_and(Value::is_object) {
            event("error", &resp_to_anthropic::error(&chunk["error"]), out);
            self.done = true;
            return;
        }
        self.start(chunk, out);
        if chunk["usage"].is_object() {
            self.usage = chunk["usage"].clone();
        }
        let Some(choice) = chunk["choices"].get(0) else {
            return;
        };
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.text(text, out);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.tool_call(call, out);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_owned());
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done || !self.started {
            return;
        }
        self.done = true;
        self.close_block(out);
        let reason = stop::stop_reason(self.finish_reason.as_deref().unwrap_or("stop"));
        let usage = stop::anthropic_usage(&self.usage);
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": reason, "stop_sequence": null},
            "usage": usage,
        });
        event("message_delta", &delta, out);
        event("message_stop", &json!({"type": "message_stop"}), out);
    }
}

impl Transducer for ToAnthropic {
    fn event(&mut self, data: &str, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if data.trim() == "[DONE]" {
            self.finish(out);
            return;
        }
        if let Ok(chunk) = serde_json::from_str::<Value>(data) {
            self.chunk(&chunk, out);
        }
    }

    /// Some OpenAI-wire providers end without `[DONE]`: a stream that
    /// reached its finish reason is still closed properly; one cut before
    /// it is left cut, so the client does not take it for whole.
    fn end(&mut self, out: &mut Vec<u8>) {
        if self.finish_reason.is_some() {
            self.finish(out);
        }
    }
}

fn event(name: &str, body: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(body.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}
