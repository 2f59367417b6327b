//! An OpenAI chat completions request as an Anthropic messages request.

use serde_json::{Map, Value, json};

use super::{
    DEFAULT_ANTHROPIC_MAX_TOKENS, Target, content,
    unsupported::{Policy, Unsupported, is_openai_default, take_unmapped},
};

/// The OpenAI parameters that have an Anthropic counterpart.
const MAPPED: &[&str] = &[
    "model",
    "messages",
    "stream",
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
];

pub(crate) fn translate(
    mut body: Map<String, Value>,
    target: &Target<'_>,
    policy: &mut Policy,
) -> Result<Map<String, Value>, Unsupported> {
    for (key, value) in take_unmapped(&mut body, MAPPED) {
        if !is_openai_default(&key, &value) {
            policy.refuse(key.as_str(), reason(&key))?;
        }
    }
    let mut out = Map::new();
    if let Some(model) = body.remove("model") {
        out.insert("model".into(), model);
    }
    let messages = match body.remove("messages") {
        Some(Value::Array(list)) => list,
        _ => Vec::new(),
    };
    let (system, turns) = self::messages(messages, policy)?;
    if let Some(system) = system {
        out.insert("system".into(), system);
    }
    out.insert("messages".into(), Value::Array(turns));
    let asked = body.get("max_completion_tokens").and_then(Value::as_u64);
    let asked = asked.or_else(|| body.get("max_tokens").and_then(Value::as_u64));
    let max_tokens = asked.unwrap_or(DEFAULT_ANTHROPIC_MAX_TOKENS.min(target.max_output_tokens));
    out.insert("max_tokens".into(), Value::from(max_tokens));
    for key in ["temperature", "top_p", "stream"] {
        if let Some(v) = body.remove(key).filter(|v| !v.is_null()) {
            out.insert(key.into(), v);
        }
    }
    match body.remove("stop") {
        Some(Value::String(s)) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(list)) => {
            out.insert("stop_sequences".into(), Value::Array(list));
        }
        _ => {}
    }
    if let Some(user) = body.remove("user").filter(|v| !v.is_null()) {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    tools(&mut body, &mut out, policy)?;
    Ok(out)
}

/// Why an OpenAI parameter has no Anthropic counterpart.
fn reason(key: &str) -> &'static str {
    match key {
        "n" => "Anthropic returns one choice per request",
        "logprobs" | "top_logprobs" => "Anthropic returns no log probabilities",
        "logit_bias" | "presence_penalty" | "frequency_penalty" | "seed" => {
            "Anthropic has no such sampling control"
        }
        "response_format" => "Anthropic has no JSON mode; describe the format in the prompt or use a tool",
        "reasoning_effort" => "extended thinking is not translated",
        "functions" | "function_call" => "use `tools` and `tool_choice`",
        _ => "the Anthropic Messages API has no such parameter",
    }
}

/// The system prompt (from every system or developer message) and the turns.
fn messages(list: Vec<Value>, policy: &mut Policy) -> Result<(Option<Value>, Vec<Value>), Unsupported> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Value> = Vec::new();
    for (i, m) in list.into_iter().enumerate() {
        let at = format!("messages[{i}]");
        if m.get("name").is_some_and(|n| !n.is_null()) {
            policy.refuse("messages[].name", "Anthropic messages carry no participant name")?;
        }
        match m["role"].as_str().unwrap_or("") {
            "system" | "developer" => system.push(m["content"].clone()),
            "user" => {
                let content = content::openai_to_anthropic(&m["content"], &format!("{at}.content"), policy)?;
                turns.push(json!({"role": "user", "content": content}));
            }
            "assistant" => turns.push(assistant(&m, &at, policy)?),
            "tool" => push_tool_result(&mut turns, &m, &at, policy)?,
            other => policy.refuse(
                format!("{at}.role={other}"),
                "only system, developer, user, assistant and tool roles map",
            )?,
        }
    }
    Ok((system_prompt(system), turns))
}

/// One system message keeps its form (a string stays a string); several
/// become one list of text blocks.
fn system_prompt(parts: Vec<Value>) -> Option<Value> {
    let to_blocks = |c: &Value| -> Vec<Value> {
        match c {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(parts) => parts
                .iter()
                .filter(|p| p["type"] == "text")
                .map(|p| json!({"type": "text", "text": p["text"]}))
                .collect(),
            _ => Vec::new(),
        }
    };
    match parts.as_slice() {
        [] => None,
        [Value::String(s)] => Some(Value::String(s.clone())),
        many => Some(Value::Array(many.iter().flat_map(to_blocks).collect())),
    }
}

fn assistant(m: &Value, at: &str, policy: &mut Policy) -> Result<Value, Unsupported> {
    let calls = m["tool_calls"].as_array().filter(|c| !c.is_empty());
    let Some(calls) = calls else {
        let text = match &m["content"] {
            Value::Array(_) => content::openai_to_anthropic(&m["content"], &format!("{at}.content"), policy)?,
            other => Value::String(content::openai_text(other)),
        };
        return Ok(json!({"role": "assistant", "content": text}));
    };
    let mut blocks = Vec::new();
    let text = content::openai_text(&m["content"]);
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    for (j, call) in calls.iter().enumerate() {
        let arguments = call["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = match serde_json::from_str(if arguments.is_empty() { "{}" } else { arguments }) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return Err(Unsupported {
                    param: format!("{at}.tool_calls[{j}].function.arguments"),
                    reason: "tool call arguments must be a JSON object",
                });
            }
        };
        blocks.push(json!({
            "type": "tool_use",
            "id": call["id"],
            "name": call["function"]["name"],
            "input": input,
        }));
    }
    Ok(json!({"role": "assistant", "content": blocks}))
}

/// A `tool` message is a `tool_result` block in a user turn; the results of
/// parallel calls share one turn, as Anthropic requires.
fn push_tool_result(
    turns: &mut Vec<Value>,
    m: &Value,
    at: &str,
    policy: &mut Policy,
) -> Result<(), Unsupported> {
    let result_content = match &m["content"] {
        Value::Array(_) => content::openai_to_anthropic(&m["content"], &format!("{at}.content"), policy)?,
        other => Value::String(content::openai_text(other)),
    };
    let block = json!({
        "type": "tool_result",
        "tool_use_id": m["tool_call_id"],
        "content": result_content,
    });
    let last_holds_results = turns.last().is_some_and(|t| {
        t["role"] == "user"
            && t["content"]
                .as_array()
                .is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"))
    });
    match turns.last_mut().and_then(|t| t["content"].as_array_mut()) {
        Some(blocks) if last_holds_results => blocks.push(block),
        _ => turns.push(json!({"role": "user", "content": [block]})),
    }
    Ok(())
}

fn tools(
    body: &mut Map<String, Value>,
    out: &mut Map<String, Value>,
    policy: &mut Policy,
) -> Result<(), Unsupported> {
    if let Some(Value::Array(list)) = body.remove("tools") {
        let mut tools = Vec::with_capacity(list.len());
        for tool in list {
            if tool["type"] != "function" {
                policy.refuse("tools[].type", "only function tools map")?;
                continue;
            }
            let f = &tool["function"];
            if f["strict"] == true {
                policy.refuse("tools[].function.strict", "Anthropic tools have no strict mode")?;
            }
            let mut t = Map::new();
            t.insert("name".into(), f["name"].clone());
            if let Some(d) = f.get("description").filter(|d| !d.is_null()) {
                t.insert("description".into(), d.clone());
            }
            let schema = f.get("parameters").filter(|p| !p.is_null()).cloned();
            t.insert(
                "input_schema".into(),
                schema.unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            );
            tools.push(Value::Object(t));
        }
        out.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = match body.remove("tool_choice") {
        Some(Value::String(s)) => match s.as_str() {
            "required" => Some(json!({"type": "any"})),
            "none" => Some(json!({"type": "none"})),
            _ => Some(json!({"type": "auto"})),
        },
        Some(c @ Value::Object(_)) => Some(json!({"type": "tool", "name": c["function"]["name"]})),
        _ => None,
    };
    if body.remove("parallel_tool_calls") == Some(Value::Bool(false)) {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        c["disable_parallel_tool_use"] = Value::Bool(true);
    }
    if let Some(choice) = choice {
        out.insert("tool_choice".into(), choice);
    }
    Ok(())
}
