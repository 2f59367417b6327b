//! An Anthropic event stream as an OpenAI chat completion chunk stream:
//! a role chunk, content and tool-call deltas, a finish chunk, the usage
//! chunk when the client asked for it (`stream_options.include_usage`),
//! then `data: [DONE]`.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Transducer, resp_to_openai, stop, unix_now};

pub(crate) struct ToOpenAi {
    include_usage: bool,
    id: Value,
    model: Value,
    created: u64,
    /// Anthropic content block index → OpenAI tool call index.
    tool_index: HashMap<u64, usize>,
    usage: Value,
    done: bool,
}

impl ToOpenAi {
    pub(crate) fn new(include_usage: bool) -> Self {
        Self {
            include_usage,
            id: Value::Null,
            model: Value::Null,
            created: unix_now(),
            tool_index: HashMap::new(),
            usage: json!({}),
            done: false,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>, out: &mut Vec<u8>) {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        });
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        data(&chunk, out);
    }

    /// Anthropic usage arrives in parts: input in `message_start`, the
    /// final output (and sometimes input again) in `message_delta`.
    fn merge_usage(&mut self, usage: &Value) {
        if let (Value::Object(into), Value::Object(from)) = (&mut self.usage, usage) {
            for (k, v) in from.iter().filter(|(_, v)| v.is_u64()) {
                into.insert(k.clone(), v.clone());
            }
        }
    }

    fn block_start(&mut self, event: &Value, out: &mut Vec<u8>) {
        let block = &event["content_block"];
        match block["type"].as_str() {
            Some("tool_use") => {
                let index = self.tool_index.len();
                self.tool_index
                    .insert(event["index"].as_u64().unwrap_or(0), index);
                let call = json!({
                    "index": index,
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": ""},
                });
                self.chunk(json!({"tool_calls": [call]}), None, out);
            }
            Some("text") if block["text"].as_str().is_some_and(|t| !t.is_empty()) => {
                self.chunk(json!({"content": block["text"]}), None, out);
            }
            _ => {}
        }
    }

    fn block_delta(&mut self, event: &Value, out: &mut Vec<u8>) {
        let delta = &event["delta"];
        match delta["type"].as_str() {
            Some("text_delta") => self.chunk(json!({"content": delta["text"]}), None, out),
            Some("input_json_delta") => {
                let block = event["index"].as_u64().unwrap_or(0);
                let index = self.tool_index.get(&block).copied().unwrap_or(0);
                let call = json!({"index": index, "function": {"arguments": delta["partial_json"]}});
                self.chunk(json!({"tool_calls": [call]}), None, out);
            }
            _ => {}
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.done = true;
        if self.include_usage {
            let chunk = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": stop::openai_usage(&self.usage),
            });
            data(&chunk, out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

impl Transducer for ToOpenAi {
    fn event(&mut self, data_text: &str, out: &mut Vec<u8>) {
        let Ok(event) = serde_json::from_str::<Value>(data_text) else {
            return;
        };
        match event["type"].as_str() {
            Some("message_start") => {
                let message = &event["message"];
                self.id = message["id"].clone();
                self.model = message["model"].clone();
                self.merge_usage(&message["usage"]);
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
            Some("content_block_start") => self.block_start(&event, out),
            Some("content_block_delta") => self.block_delta(&event, out),
            Some("message_delta") => {
                self.merge_usage(&event["usage"]);
                let reason =
                    stop::finish_reason(event["delta"]["stop_reason"].as_str().unwrap_or("end_turn"));
                self.chunk(json!({}), Some(reason), out);
            }
            Some("message_stop") => self.finish(out),
            Some("error") => {
                data(&resp_to_openai::error(&event["error"]), out);
                self.done = true;
            }
            // ping, content_block_stop, and event types added later
            _ => {}
        }
    }

    /// A stream cut before `message_stop` is left cut: a `[DONE]` would
    /// tell the client the answer was whole.
    fn end(&mut self, _out: &mut Vec<u8>) {}
}

fn data(value: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(value.to_string().as_bytes());
    out.extend_from_slice(b"\n\n");
}
