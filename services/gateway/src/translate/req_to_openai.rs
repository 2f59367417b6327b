//! An Anthropic messages request as an OpenAI chat completions request.

use serde_json::{Map, Value, json};

use super::{
    Target, content,
    unsupported::{Policy, Unsupported, take_unmapped},
};

/// The Anthropic parameters that have an OpenAI counterpart.
const MAPPED: &[&str] = &[
    "model",
    "messages",
    "system",
    "max_tokens",
    "stream",
    "temperature",
    "top_p",
    "stop_sequences",
    "metadata",
    "tools",
    "tool_choice",
];

/// Anthropic parameters that tune how hard or how the provider works, not
/// what the answer is, so an OpenAI model can do without them (Claude Code
/// sends all three): `context_management` clears old tool results or
/// thinking server-side near the context limit (without it the whole
/// context is sent, as below that limit); adaptive (or disabled) `thinking`
/// leaves thinking to the model, as OpenAI models do anyway; an
/// `output_config` with only an `effort` level. Extended thinking with a
/// budget, or an output format, asks for something and is refused.
fn is_hint(key: &str, value: &Value) -> bool {
    match key {
        "context_management" => true,
        "thinking" => matches!(value["type"].as_str(), Some("adaptive" | "disabled")),
        "output_config" => value.as_object().is_some_and(|o| o.keys().all(|k| k == "effort")),
        _ => false,
    }
}

pub(crate) fn translate(
    mut body: Map<String, Value>,
    target: &Target<'_>,
    policy: &mut Policy,
) -> Result<Map<String, Value>, Unsupported> {
    for (key, value) in take_unmapped(&mut body, MAPPED) {
        match value {
            Value::Null => {}
            value if is_hint(&key, &value) => policy.drop_hint(key),
            _ => policy.refuse(key.as_str(), reason(&key))?,
        }
    }
    let mut out = Map::new();
    if let Some(model) = body.remove("model") {
        out.insert("model".into(), model);
    }
    let mut messages = Vec::new();
    if let Some(system) = body.remove("system").filter(|s| !s.is_null()) {
        messages.push(json!({"role": "system", "content": system_content(&system)}));
    }
    if let Some(Value::Array(turns)) = body.remove("messages") {
        for (i, turn) in turns.iter().enumerate() {
            push_turn(&mut messages, turn, &format!("messages[{i}]"), policy)?;
        }
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(max) = body.remove("max_tokens") {
        // OpenAI's own models want the newer name; other OpenAI-wire
        // providers mostly know only the older one.
        let key = if target.provider == "openai" {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        out.insert(key.into(), max);
    }
    for key in ["temperature", "top_p", "stream"] {
        if let Some(v) = body.remove(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v);
        }
    }
    if let Some(stops) = body.remove("stop_sequences").filter(|v| !v.is_null()) {
        out.insert("stop".into(), stops);
    }
    if let Some(Value::Object(metadata)) = body.remove("metadata") {
        for (key, value) in metadata {
            match key.as_str() {
                "user_id" if !value.is_null() => {
                    out.insert("user".into(), value);
                }
                "user_id" => {}
                _ => policy.refuse(format!("metadata.{key}"), "OpenAI has only `user`")?,
            }
        }
    }
    tools(&mut body, &mut out, policy)?;
    Ok(out)
}

/// Why an Anthropic parameter has no OpenAI counterpart.
fn reason(key: &str) -> &'static str {
    match key {
        "thinking" => "the model has no extended thinking",
        "top_k" => "OpenAI has no top_k sampling",
        "container" | "mcp_servers" | "context_management" => {
            "OpenAI chat completions run no Anthropic tools"
        }
        _ => "the OpenAI chat completions API has no such parameter",
    }
}

/// A string stays a string; text blocks become text parts (a cache hint
/// is dropped: OpenAI caches prompts by itself).
fn system_content(system: &Value) -> Value {
    match system {
        Value::Array(blocks) => Value::Array(
            blocks
                .iter()
                .filter_map(content::anthropic_block_to_part)
                .collect(),
        ),
        other => other.clone(),
    }
}

fn push_turn(
    messages: &mut Vec<Value>,
    turn: &Value,
    at: &str,
    policy: &mut Policy,
) -> Result<(), Unsupported> {
    let role = turn["role"].as_str().unwrap_or("");
    let blocks = match &turn["content"] {
        Value::Array(blocks) => blocks,
        text => {
            messages.push(json!({"role": role, "content": text}));
            return Ok(());
        }
    };
    match role {
        "assistant" => messages.push(assistant(blocks, at, policy)?),
        _ => user(messages, blocks, at, policy)?,
    }
    Ok(())
}

/// Tool results become `tool` messages, ahead of the turn's other content.
fn user(
    messages: &mut Vec<Value>,
    blocks: &[Value],
    at: &str,
    policy: &mut Policy,
) -> Result<(), Unsupported> {
    let mut parts = Vec::new();
    for block in blocks {
        if block["type"] == "tool_result" {
            messages.push(tool_message(block, at, policy)?);
        } else if let Some(part) = content::anthropic_block_to_part(block) {
            parts.push(part);
        } else {
            let kind = block["type"].as_str().unwrap_or("?");
            policy.refuse(
                format!("{at}.content[].type={kind}"),
                "OpenAI has no such content part",
            )?;
        }
    }
    if !parts.is_empty() {
        messages.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

/// OpenAI tool results carry no error flag: a failed tool's result says so
/// in its text instead (`Error: …`), which is what the flag tells the model.
fn tool_message(block: &Value, at: &str, policy: &mut Policy) -> Result<Value, Unsupported> {
    let mut content = match &block["content"] {
        Value::Array(inner) => {
            let mut parts = Vec::new();
            for b in inner {
                match b["type"].as_str() {
                    Some("text") => parts.push(json!({"type": "text", "text": b["text"]})),
                    _ => policy.refuse(
                        format!("{at}.content[].content[].type"),
                        "OpenAI tool results are text only",
                    )?,
                }
            }
            Value::Array(parts)
        }
        Value::Null => Value::String(String::new()),
        text => text.clone(),
    };
    if block["is_error"] == true {
        match &mut content {
            Value::Array(parts) => parts.insert(0, json!({"type": "text", "text": "Error: "})),
            other => *other = Value::String(format!("Error: {}", other.as_str().unwrap_or_default())),
        }
    }
    Ok(json!({"role": "tool", "tool_call_id": block["tool_use_id"], "content": content}))
}

fn assistant(blocks: &[Value], at: &str, policy: &mut Policy) -> Result<Value, Unsupported> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => parts.push(json!({"type": "text", "text": block["text"]})),
            Some("tool_use") => calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            other => {
                let kind = other.unwrap_or("?");
                policy.refuse(
                    format!("{at}.content[].type={kind}"),
                    "OpenAI has no such assistant content",
                )?;
            }
        }
    }
    if calls.is_empty() {
        return Ok(json!({"role": "assistant", "content": parts}));
    }
    let text = content::openai_text(&Value::Array(parts));
    let text = if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    Ok(json!({"role": "assistant", "content": text, "tool_calls": calls}))
}

fn tools(
    body: &mut Map<String, Value>,
    out: &mut Map<String, Value>,
    policy: &mut Policy,
) -> Result<(), Unsupported> {
    if let Some(Value::Array(list)) = body.remove("tools") {
        let mut tools = Vec::with_capacity(list.len());
        for tool in list {
            if let Some(kind) = tool["type"].as_str().filter(|t| *t != "custom") {
                policy.refuse(
                    format!("tools[].type={kind}"),
                    "Anthropic server tools do not run on OpenAI models",
                )?;
                continue;
            }
            let mut f = Map::new();
            f.insert("name".into(), tool["name"].clone());
            if let Some(d) = tool.get("description").filter(|d| !d.is_null()) {
                f.insert("description".into(), d.clone());
            }
            f.insert("parameters".into(), tool["input_schema"].clone());
            tools.push(json!({"type": "function", "function": f}));
        }
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = body.remove("tool_choice").filter(Value::is_object) {
        let mapped = match choice["type"].as_str() {
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": choice["name"]}}),
            _ => json!("auto"),
        };
        out.insert("tool_choice".into(), mapped);
        if choice["disable_parallel_tool_use"] == true {
            out.insert("parallel_tool_calls".into(), Value::Bool(false));
        }
    }
    Ok(())
}
