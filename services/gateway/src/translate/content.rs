//! Content parts, both ways: text, and images (an OpenAI `image_url` data URL
//! is an Anthropic base64 source; an http(s) URL is an Anthropic `url` source).

use serde_json::{Value, json};

use super::unsupported::{Policy, Unsupported};

/// OpenAI content (a string or parts) as Anthropic content blocks; a plain
/// string stays a string. `at` names the field for a refusal.
pub(crate) fn openai_to_anthropic(
    content: &Value,
    at: &str,
    policy: &mut Policy,
) -> Result<Value, Unsupported> {
    let Value::Array(parts) = content else {
        return Ok(match content {
            Value::Null => Value::String(String::new()),
            other => other.clone(),
        });
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for part in parts {
        match part["type"].as_str() {
            Some("text") => blocks.push(json!({"type": "text", "text": part["text"]})),
            Some("image_url") => match image_source(&part["image_url"]["url"]) {
                Some(source) => blocks.push(json!({"type": "image", "source": source})),
                None => policy.refuse(format!("{at}.image_url"), "only data: and http(s) image URLs map")?,
            },
            Some(other) => policy.refuse(format!("{at}.{other}"), "Anthropic has no such content part")?,
            None => policy.refuse(format!("{at}[].type"), "a content part needs a type")?,
        }
    }
    Ok(Value::Array(blocks))
}

/// The Anthropic image source for an OpenAI image URL.
fn image_source(url: &Value) -> Option<Value> {
    let url = url.as_str()?;
    if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = rest.split_once(";base64,")?;
        return Some(json!({"type": "base64", "media_type": media_type, "data": data}));
    }
    (url.starts_with("https://") || url.starts_with("http://")).then(|| json!({"type": "url", "url": url}))
}

/// One Anthropic text or image block as an OpenAI content part; `None` for
/// other block types (the caller handles or refuses them).
pub(crate) fn anthropic_block_to_part(block: &Value) -> Option<Value> {
    match block["type"].as_str()? {
        "text" => Some(json!({"type": "text", "text": block["text"]})),
        "image" => {
            let source = &block["source"];
            let url = match source["type"].as_str()? {
                "base64" => format!(
                    "data:{};base64,{}",
                    source["media_type"].as_str()?,
                    source["data"].as_str()?
                ),
                "url" => source["url"].as_str()?.to_owned(),
                _ => return None,
            };
            Some(json!({"type": "image_url", "image_url": {"url": url}}))
        }
        _ => None,
    }
}

/// The joined text of OpenAI content (a string, or text parts).
pub(crate) fn openai_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}
