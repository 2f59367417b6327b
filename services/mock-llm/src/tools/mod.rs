//! Tool calls: when a request offers tools and its last turn is the user's
//! own (not tool results), the mock calls every offered tool at once (a
//! parallel call), each with every string property of its schema set to the
//! user's last text. When the last turn carries tool results, the reply
//! echoes them: "Hello from mock-llm! You said: <results>". Output tokens of
//! a call are the words of its name and arguments.

pub(crate) mod anthropic;
pub(crate) mod openai;

use serde_json::{Map, Value};

use crate::errors::Api;
use crate::text;

/// One call the mock makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    pub(crate) name: String,
    /// A JSON object, as text.
    pub(crate) arguments: String,
}

/// The calls to make for this request; empty when it offers no tools, when
/// `tool_choice` is none, or when it answers earlier calls.
pub(crate) fn calls(body: &Value, api: Api, seed: u64) -> Vec<ToolCall> {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return Vec::new();
    };
    let none = match api {
        Api::OpenAi => body["tool_choice"] == "none",
        Api::Anthropic => body["tool_choice"]["type"] == "none",
    };
    if none || result_text(messages, api).is_some() {
        return Vec::new();
    }
    let user_text = text::last_user_text(messages);
    let tools = body.get("tools").and_then(Value::as_array).into_iter().flatten();
    tools
        .filter_map(|tool| match api {
            Api::OpenAi => (tool["type"] == "function")
                .then(|| (&tool["function"]["name"], &tool["function"]["parameters"])),
            Api::Anthropic => tool.get("input_schema").map(|schema| (&tool["name"], schema)),
        })
        .filter_map(|(name, schema)| Some((name.as_str()?, schema)))
        .enumerate()
        .map(|(i, (name, schema))| ToolCall {
            id: match api {
                Api::OpenAi => format!("call_mock_{seed}_{i}"),
                Api::Anthropic => format!("toolu_mock_{seed}_{i}"),
            },
            name: name.to_owned(),
            arguments: arguments(schema, &user_text),
        })
        .collect()
}

fn arguments(schema: &Value, user_text: &str) -> String {
    let mut args = Map::new();
    for (key, property) in schema["properties"].as_object().into_iter().flatten() {
        if property["type"] == "string" {
            args.insert(key.clone(), Value::String(user_text.to_owned()));
        }
    }
    Value::Object(args).to_string()
}

/// The text of the tool results the last turn carries, if it carries any:
/// OpenAI's trailing `tool` messages, or Anthropic's `tool_result` blocks.
pub(crate) fn result_text(messages: &[Value], api: Api) -> Option<String> {
    let texts: Vec<String> = match api {
        Api::OpenAi => messages
            .iter()
            .rev()
            .take_while(|m| m["role"] == "tool")
            .map(|m| text::content_text(&m["content"]))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect(),
        Api::Anthropic => messages
            .last()
            .filter(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_array())
            .into_iter()
            .flatten()
            .filter(|b| b["type"] == "tool_result")
            .map(|b| text::content_text(&b["content"]))
            .collect(),
    };
    (!texts.is_empty()).then(|| texts.join(" "))
}

/// Output tokens of the calls: the words of each name and arguments.
pub(crate) fn output_words(calls: &[ToolCall]) -> u64 {
    calls
        .iter()
        .map(|c| text::count_words(&c.name) + text::count_words(&c.arguments))
        .sum()
}

/// The halves a call's arguments are streamed in.
pub(crate) fn argument_pieces(arguments: &str) -> [&str; 2] {
    let mut middle = arguments.len() / 2;
    while !arguments.is_char_boundary(middle) {
        middle += 1;
    }
    [&arguments[..middle], &arguments[middle..]]
}

#[cfg(test)]
mod tests;
