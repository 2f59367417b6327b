//! A chat completion chunk stream as the Responses API's event stream:
//! `response.created`, `response.in_progress`, then for each output item
//! `output_item.added` … deltas … `output_item.done`, and last
//! `response.completed` (or `response.incomplete`) carrying the whole
//! response and its usage. Every event has its `event:` line and a
//! `sequence_number`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::shape::{self, Generated};
use crate::{
    translate::{Transducer, unix_now},
    usage::sse,
};

struct Call {
    output_index: usize,
    id: String,
    call_id: Value,
    name: Value,
    arguments: String,
}

struct Text {
    output_index: usize,
    id: String,
    text: String,
}

pub(crate) struct ToResponses {
    echo: Value,
    id: String,
    created_at: u64,
    model: Value,
    sequence: u64,
    started: bool,
    done: bool,
    /// Items already closed, in output order.
    output: Vec<Value>,
    text: Option<Text>,
    /// Chat tool call index → the open function call item.
    calls: BTreeMap<u64, Call>,
    finish_reason: Option<String>,
    usage: Value,
}

impl ToResponses {
    pub(crate) fn new(echo: Value) -> Self {
        Self {
            echo,
            id: shape::response_id(),
            created_at: unix_now(),
            model: Value::Null,
            sequence: 0,
            started: false,
            done: false,
            output: Vec::new(),
            text: None,
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: Value::Null,
        }
    }

    fn emit(&mut self, kind: &str, mut event: Value, out: &mut Vec<u8>) {
        event["type"] = json!(kind);
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(event.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn next_index(&self) -> usize {
        self.output.len() + usize::from(self.text.is_some()) + self.calls.len()
    }

    fn snapshot(&self, status: &str, incomplete_details: Value, output: Vec<Value>, usage: Value) -> Value {
        shape::response(
            &self.echo,
            Generated {
                id: &self.id,
                created_at: self.created_at,
                model: &self.model,
                status,
                incomplete_details,
                output,
                usage,
            },
        )
    }

    fn start(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        self.started = true;
        self.model = chunk["model"].clone();
        let response = self.snapshot("in_progress", Value::Null, Vec::new(), Value::Null);
        self.emit("response.created", json!({"response": response}), out);
        self.emit("response.in_progress", json!({"response": response}), out);
    }

    fn text_delta(&mut self, delta: &str, out: &mut Vec<u8>) {
        if self.text.is_none() {
            let text = Text {
                output_index: self.next_index(),
                id: format!("msg_{}_{}", &self.id[5..], self.next_index()),
                text: String::new(),
            };
            let (index, id) = (text.output_index, text.id.clone());
            self.text = Some(text);
            let item = shape::message_item(&id, "", "in_progress");
            self.emit(
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
                out,
            );
            let part = shape::text_part("");
            let added = json!({"item_id": id, "output_index": index, "content_index": 0, "part": part});
            self.emit("response.content_part.added", added, out);
        }
        let Some(text) = self.text.as_mut() else { return };
        text.text.push_str(delta);
        let event = json!({"item_id": text.id, "output_index": text.output_index, "content_index": 0, "delta": delta, "logprobs": []});
        self.emit("response.output_text.delta", event, out);
    }

    fn close_text(&mut self, out: &mut Vec<u8>) {
        let Some(text) = self.text.take() else { return };
        let (id, index) = (text.id.as_str(), text.output_index);
        let at = json!({"item_id": id, "output_index": index, "content_index": 0});
        let mut done = at.clone();
        done["text"] = json!(text.text);
        done["logprobs"] = json!([]);
        self.emit("response.output_text.done", done, out);
        let mut part = at;
        part["part"] = shape::text_part(&text.text);
        self.emit("response.content_part.done", part, out);
        let item = shape::message_item(id, &text.text, "completed");
        self.emit(
            "response.output_item.done",
            json!({"output_index": index, "item": item.clone()}),
            out,
        );
        self.output.push(item);
    }

    fn call_delta(&mut self, call: &Value, out: &mut Vec<u8>) {
        let index = call["index"].as_u64().unwrap_or(0);
        if !self.calls.contains_key(&index) {
            self.close_text(out);
            let output_index = self.next_index();
            let open = Call {
                output_index,
                id: format!("fc_{}_{output_index}", &self.id[5..]),
                call_id: call["id"].clone(),
                name: call["function"]["name"].clone(),
                arguments: String::new(),
            };
            let item = shape::function_call_item(&open.id, &open.call_id, &open.name, "", "in_progress");
            self.calls.insert(index, open);
            self.emit(
                "response.output_item.added",
                json!({"output_index": output_index, "item": item}),
                out,
            );
        }
        let Some(delta) = call["function"]["arguments"].as_str().filter(|d| !d.is_empty()) else {
            return;
        };
        let Some(open) = self.calls.get_mut(&index) else {
            return;
        };
        open.arguments.push_str(delta);
        let event = json!({"item_id": open.id, "output_index": open.output_index, "delta": delta});
        self.emit("response.function_call_arguments.delta", event, out);
    }

    fn close_calls(&mut self, out: &mut Vec<u8>) {
        for (_, call) in std::mem::take(&mut self.calls) {
            let at =
                json!({"item_id": call.id, "output_index": call.output_index, "arguments": call.arguments});
            self.emit("response.function_call_arguments.done", at, out);
            let item =
                shape::function_call_item(&call.id, &call.call_id, &call.name, &call.arguments, "completed");
            self.emit(
                "response.output_item.done",
                json!({"output_index": call.output_index, "item": item.clone()}),
                out,
            );
            self.output.push(item);
        }
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        self.close_text(out);
        self.close_calls(out);
        self.output
            .sort_by_key(|item| item["id"].as_str().map(item_order).unwrap_or(0));
        let (status, incomplete) = shape::status(self.finish_reason.as_deref());
        let output = std::mem::take(&mut self.output);
        let response = self.snapshot(status, incomplete, output, shape::usage(&self.usage));
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(kind, json!({"response": response}), out);
        self.done = true;
    }

    fn fail(&mut self, error: &Value, out: &mut Vec<u8>) {
        let message = error["message"]
            .as_str()
            .unwrap_or("the upstream provider failed");
        let code = error["code"]
            .as_str()
            .or(error["type"].as_str())
            .unwrap_or("server_error");
        self.emit(
            "error",
            json!({"code": code, "message": message, "param": null}),
            out,
        );
        let output = std::mem::take(&mut self.output);
        let mut response = self.snapshot("failed", Value::Null, output, Value::Null);
        response["error"] = json!({"code": code, "message": message});
        self.emit("response.failed", json!({"response": response}), out);
        self.done = true;
    }
}

/// Items get ids ending in their output index; closing order can differ
/// (a text item closes when a call opens), the output's order must not.
fn item_order(id: &str) -> usize {
    id.rsplit('_').next().and_then(|n| n.parse().ok()).unwrap_or(0)
}

impl Transducer for ToResponses {
    fn event(&mut self, data: &str, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if data.trim() == "[DONE]" {
            if self.started {
                self.finish(out);
            }
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if !self.started {
            self.start(&chunk, out);
        }
        if chunk.get("error").is_some() {
            self.fail(&chunk["error"], out);
            return;
        }
        if chunk["usage"].is_object() {
            self.usage = chunk["usage"].clone();
        }
        let choice = &chunk["choices"][0];
        let delta = &choice["delta"];
        if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
            self.text_delta(text, out);
        }
        for call in delta["tool_calls"].as_array().into_iter().flatten() {
            self.call_delta(call, out);
        }
        if let Some(reason) = choice["finish_reason"].as_str() {
            self.finish_reason = Some(reason.to_owned());
        }
    }

    /// A stream cut before `[DONE]` is left cut: `response.completed` would
    /// tell the client the answer was whole.
    fn end(&mut self, _out: &mut Vec<u8>) {}
}

/// Two transducers in a row: the first's frames are the second's events
/// (an Anthropic stream → chat chunks → Responses events).
pub(crate) struct Chain {
    first: Box<dyn Transducer>,
    second: Box<dyn Transducer>,
    between: Vec<u8>,
}

impl Chain {
    pub(crate) fn new(first: Box<dyn Transducer>, second: Box<dyn Transducer>) -> Self {
        Self {
            first,
            second,
            between: Vec::new(),
        }
    }

    fn pass(&mut self, out: &mut Vec<u8>) {
        let mut pending = bytes::BytesMut::from(&self.between[..]);
        self.between.clear();
        for event in sse::split_events(&mut pending) {
            if let Some(data) = sse::data(&event) {
                self.second.event(&data, out);
            }
        }
    }
}

impl Transducer for Chain {
    fn event(&mut self, data: &str, out: &mut Vec<u8>) {
        self.first.event(data, &mut self.between);
        self.pass(out);
    }

    fn end(&mut self, out: &mut Vec<u8>) {
        self.first.end(&mut self.between);
        self.pass(out);
        self.second.end(out);
    }
}
