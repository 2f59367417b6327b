//! A Responses API request as a chat completions request: the stateless
//! subset. Input items become chat messages, `instructions` the system
//! message, function tools chat tools. What needs state kept by the
//! upstream (`previous_response_id`, `conversation`, `background`, stored
//! prompts, item references) is refused: a bridged model keeps none.

use serde_json::{Map, Value, json};

use crate::translate::unsupported::{Policy, Unsupported, take_unmapped};

/// Parameters read here; every other one is refused (or dropped) unless it
/// asks for nothing beyond the default.
const MAPPED: &[&str] = &[
    "model",
    "input",
    "instructions",
    "stream",
    "stream_options",
    "max_output_tokens",
    "temperature",
    "top_p",
    "user",
    "safety_identifier",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "text",
    "reasoning",
    "service_tier",
    // Read by no one upstream: a bridged response is not stored, so neither
    // `store` nor the metadata changes what is generated; a cache key is a
    // hint; `include` asks for extra output (encrypted reasoning, sources)
    // that a bridged model does not produce.
    "store",
    "metadata",
    "client_metadata",
    "prompt_cache_key",
    "include",
];

pub(crate) fn to_chat(
    mut body: Map<String, Value>,
    policy: &mut Policy,
) -> Result<Map<String, Value>, Unsupported> {
    for (key, value) in take_unmapped(&mut body, MAPPED) {
        if !is_default(&key, &value) {
            policy.refuse(key.as_str(), reason(&key))?;
        }
    }
    let mut out = Map::new();
    if let Some(model) = body.remove("model") {
        out.insert("model".into(), model);
    }
    let mut messages = Vec::new();
    if let Some(instructions) = body.remove("instructions").filter(|v| !v.is_null()) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match body.remove("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => input_items(items, &mut messages, policy)?,
        _ => {}
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = body.remove("max_output_tokens").filter(|v| !v.is_null()) {
        out.insert("max_tokens".into(), max);
    }
    for key in [
        "stream",
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "service_tier",
    ] {
        if let Some(v) = body.remove(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v);
        }
    }
    if let Some(user) = body
        .remove("user")
        .or_else(|| body.remove("safety_identifier"))
        .filter(|v| !v.is_null())
    {
        out.insert("user".into(), user);
    }
    tools(&mut body, &mut out, policy)?;
    text_format(body.remove("text"), &mut out, policy)?;
    reasoning(body.remove("reasoning"), &mut out);
    Ok(out)
}

fn is_default(key: &str, value: &Value) -> bool {
    match key {
        "truncation" => value.is_null() || value == "disabled",
        "background" => value.is_null() || value == false,
        _ => value.is_null(),
    }
}

fn reason(key: &str) -> &'static str {
    match key {
        "previous_response_id" | "conversation" => {
            "this model is served through a stateless bridge: send the whole conversation in `input`"
        }
        "background" => "background responses need the upstream to keep them; this model is bridged",
        "prompt" => "stored prompts live on OpenAI; this model is bridged",
        _ => "the Responses API bridge does not translate this parameter",
    }
}

/// Input items, in order, as chat messages. Consecutive function calls
/// join one assistant message (parallel calls); reasoning items, which a
/// client echoes back from an earlier turn, carry nothing a bridged model
/// can read and are skipped.
fn input_items(items: Vec<Value>, messages: &mut Vec<Value>, policy: &mut Policy) -> Result<(), Unsupported> {
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        match item["type"].as_str().unwrap_or("message") {
            "message" => messages.push(message(&item, &at, policy)?),
            "function_call" => {
                let call = json!({
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]},
                });
                match messages.last_mut() {
                    Some(last) if last["role"] == "assistant" => {
                        if !last["tool_calls"].is_array() {
                            last["tool_calls"] = json!([]);
                        }
                        if let Some(calls) = last["tool_calls"].as_array_mut() {
                            calls.push(call);
                        }
                    }
                    _ => messages.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => messages.push(json!({
                "role": "tool",
                "tool_call_id": item["call_id"],
                "content": output_text(&item["output"]),
            })),
            "reasoning" => {}
            other => policy.refuse(
                format!("{at}.type={other}"),
                "the Responses API bridge maps messages and function calls only",
            )?,
        }
    }
    Ok(())
}

fn message(item: &Value, at: &str, policy: &mut Policy) -> Result<Value, Unsupported> {
    let role = match item["role"].as_str() {
        Some("developer") | Some("system") => "system",
        Some("assistant") => "assistant",
        _ => "user",
    };
    let content = match &item["content"] {
        Value::Array(parts) if role == "assistant" || role == "system" => {
            Value::String(output_text(&Value::Array(parts.clone())))
        }
        Value::Array(parts) => Value::Array(input_parts(parts, at, policy)?),
        other => other.clone(),
    };
    Ok(json!({"role": role, "content": content}))
}

/// Input content parts as chat content parts.
fn input_parts(parts: &[Value], at: &str, policy: &mut Policy) -> Result<Vec<Value>, Unsupported> {
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        match part["type"].as_str() {
            Some("input_text" | "output_text" | "text") => {
                out.push(json!({"type": "text", "text": part["text"]}))
            }
            Some("input_image") if part["image_url"].is_string() => {
                let mut image = json!({"url": part["image_url"]});
                if let Some(detail) = part["detail"].as_str() {
                    image["detail"] = json!(detail);
                }
                out.push(json!({"type": "image_url", "image_url": image}));
            }
            Some("input_image") => policy.refuse(
                format!("{at}.content[{j}].file_id"),
                "only images given by URL map; file ids live on OpenAI",
            )?,
            Some(other) => policy.refuse(
                format!("{at}.content[{j}].type={other}"),
                "the Responses API bridge maps text and image parts only",
            )?,
            None => policy.refuse(format!("{at}.content[{j}].type"), "a content part needs a type")?,
        }
    }
    Ok(out)
}

/// The text of an output (a string, or a list of text parts).
fn output_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Function tools and the tool choice; other tool types (hosted search,
/// computer use, …) exist only on OpenAI.
fn tools(
    body: &mut Map<String, Value>,
    out: &mut Map<String, Value>,
    policy: &mut Policy,
) -> Result<(), Unsupported> {
    if let Some(Value::Array(list)) = body.remove("tools") {
        let mut tools = Vec::with_capacity(list.len());
        for (i, tool) in list.into_iter().enumerate() {
            if tool["type"] != "function" {
                let kind = tool["type"].as_str().unwrap_or("?");
                policy.refuse(
                    format!("tools[{i}].type={kind}"),
                    "only function tools map onto another provider",
                )?;
                continue;
            }
            let mut function = json!({"name": tool["name"], "parameters": tool["parameters"]});
            for key in ["description", "strict"] {
                if !tool[key].is_null() {
                    function[key] = tool[key].clone();
                }
            }
            tools.push(json!({"type": "function", "function": function}));
        }
        if !tools.is_empty() {
            out.insert("tools".into(), Value::Array(tools));
        }
    }
    match body.remove("tool_choice") {
        None | Some(Value::Null) => {}
        Some(choice @ Value::String(_)) => {
            out.insert("tool_choice".into(), choice);
        }
        Some(choice) if choice["type"] == "function" => {
            out.insert(
                "tool_choice".into(),
                json!({"type": "function", "function": {"name": choice["name"]}}),
            );
        }
        Some(_) => policy.refuse("tool_choice", "only auto, none, required or one function map")?,
    }
    Ok(())
}

/// `text.format` as `response_format`.
fn text_format(
    text: Option<Value>,
    out: &mut Map<String, Value>,
    policy: &mut Policy,
) -> Result<(), Unsupported> {
    let format = text.as_ref().map(|t| &t["format"]).unwrap_or(&Value::Null);
    match format["type"].as_str() {
        None | Some("text") => {}
        Some("json_object") => {
            out.insert("response_format".into(), json!({"type": "json_object"}));
        }
        Some("json_schema") => {
            let mut schema = json!({"name": format["name"], "schema": format["schema"]});
            for key in ["description", "strict"] {
                if !format[key].is_null() {
                    schema[key] = format[key].clone();
                }
            }
            out.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": schema}),
            );
        }
        Some(_) => policy.refuse("text.format", "the format type is unknown")?,
    }
    if text
        .as_ref()
        .is_some_and(|t| !t["verbosity"].is_null() && t["verbosity"] != "medium")
    {
        policy.refuse("text.verbosity", "chat completions have no verbosity")?;
    }
    Ok(())
}

/// `reasoning.effort` as `reasoning_effort`. A summary is asked for "when
/// available"; a bridged model has none to give, so asking is not refused.
fn reasoning(reasoning: Option<Value>, out: &mut Map<String, Value>) {
    if let Some(effort) = reasoning.as_ref().and_then(|r| r["effort"].as_str()) {
        out.insert("reasoning_effort".into(), json!(effort));
    }
}
