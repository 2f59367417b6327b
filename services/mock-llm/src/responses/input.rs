//! Reading a Responses API request: its input items (a string or a list of
//! messages and tool items), the text the mock echoes, word counts, and the
//! function tool it answers with a call.

use serde_json::{Value, json};

use crate::text;

/// The input as a list of items, a bare string becoming one user message.
pub(crate) fn items(body: &Value) -> Vec<Value> {
    match body.get("input") {
        Some(Value::String(s)) => vec![json!({"role": "user", "content": s})],
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

/// Text parts of a content value: a string, or parts of type `input_text`,
/// `output_text` or `text`.
fn content_texts(content: &Value) -> Vec<&str> {
    match content {
        Value::String(s) => vec![s.as_str()],
        Value::Array(parts) => parts
            .iter()
            .filter(|p| {
                matches!(
                    p.get("type").and_then(Value::as_str),
                    None | Some("input_text" | "output_text" | "text")
                )
            })
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    }
}

/// Prompt words: the instructions, every message's text and every tool
/// output (one word = one token, as everywhere in the mock).
pub(crate) fn prompt_words(body: &Value, items: &[Value]) -> u64 {
    let instructions = body
        .get("instructions")
        .and_then(Value::as_str)
        .map_or(0, text::count_words);
    let items: u64 = items
        .iter()
        .map(|item| {
            let output = item
                .get("output")
                .and_then(Value::as_str)
                .map_or(0, text::count_words);
            let content = item
                .get("content")
                .map_or(0, |c| content_texts(c).into_iter().map(text::count_words).sum());
            output + content
        })
        .sum();
    instructions + items
}

/// The text of the last user message, parts joined with a space.
pub(crate) fn last_user_text(items: &[Value]) -> String {
    items
        .iter()
        .rev()
        .find(|i| i.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|i| i.get("content"))
        .map(|c| content_texts(c).join(" "))
        .unwrap_or_default()
}

/// The function the mock calls: the first function tool offered, unless the
/// input already carries a tool's output (then the round trip is over and
/// the mock answers in text).
pub(crate) fn tool_to_call(body: &Value, items: &[Value]) -> Option<(String, String)> {
    let answered = items
        .iter()
        .any(|i| i.get("type").and_then(Value::as_str) == Some("function_call_output"));
    if answered {
        return None;
    }
    let tool = body
        .get("tools")?
        .as_array()?
        .iter()
        .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))?;
    let name = tool.get("name")?.as_str()?.to_owned();
    let arguments = sample(tool.get("parameters").unwrap_or(&Value::Null));
    Some((name, arguments.to_string()))
}

/// A value that fits a JSON schema: each required property (all of them
/// when none is marked required) filled with a sample of its type.
pub(crate) fn sample(schema: &Value) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => json!("mock"),
        Some("integer" | "number") => json!(1),
        Some("boolean") => json!(true),
        Some("array") => json!([sample(schema.get("items").unwrap_or(&json!({"type": "string"})))]),
        Some("null") => Value::Null,
        _ => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let required: Option<Vec<&str>> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect());
            let mut object = serde_json::Map::new();
            for (name, property) in properties.into_iter().flatten() {
                if required.as_ref().is_none_or(|r| r.contains(&name.as_str())) {
                    object.insert(name.clone(), sample(property));
                }
            }
            Value::Object(object)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_and_item_inputs_are_read_alike() {
        let body = json!({"instructions": "be brief", "input": "hello there"});
        let list = items(&body);
        assert_eq!(prompt_words(&body, &list), 4);
        assert_eq!(last_user_text(&list), "hello there");
        let body = json!({"input": [
            {"role": "user", "content": [{"type": "input_text", "text": "one two"}, {"type": "input_image", "image_url": "x"}]},
            {"type": "function_call_output", "call_id": "c", "output": "three"}
        ]});
        let list = items(&body);
        assert_eq!(prompt_words(&body, &list), 3);
        assert_eq!(last_user_text(&list), "one two");
    }

    #[test]
    fn the_first_function_tool_is_called_with_arguments_fitting_its_schema() {
        let tools = json!([{"type": "web_search"}, {"type": "function", "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"},
            "days": {"type": "integer"}, "units": {"type": "string"}}, "required": ["city", "days"]}}]);
        let body = json!({"input": "hi", "tools": tools});
        let (name, arguments) = tool_to_call(&body, &items(&body)).unwrap_or_default();
        assert_eq!(name, "get_weather");
        assert_eq!(
            serde_json::from_str::<Value>(&arguments).ok(),
            Some(json!({"city": "mock", "days": 1}))
        );
        let answered = json!({"tools": tools, "input": [{"type": "function_call_output", "call_id": "c", "output": "sunny"}]});
        assert_eq!(tool_to_call(&answered, &items(&answered)), None);
    }
}
