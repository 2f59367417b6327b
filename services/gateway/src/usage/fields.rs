//! Every usage field of the three APIs Keyway serves, read into one
//! [`Reported`]. Keyway's totals follow OpenAI's convention: input includes
//! cache reads and writes, output includes reasoning. What is billed and
//! what is only recorded is listed in `docs/billing.md`.

use std::{fmt, marker::PhantomData};

use serde::{
    Deserialize, Deserializer,
    de::{MapAccess, Visitor, value::MapAccessDeserializer},
};
use serde_json::Value;

/// Token counts as the upstream reported them; `None` where it did not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Reported {
    /// Includes cached input tokens and cache writes.
    pub(crate) input: Option<u64>,
    /// Includes reasoning tokens.
    pub(crate) output: Option<u64>,
    /// Input tokens read from the prompt cache.
    pub(crate) cached: Option<u64>,
    /// OpenAI `reasoning_tokens` (already inside `output`).
    pub(crate) reasoning: Option<u64>,
    /// Anthropic `cache_creation_input_tokens`, every TTL.
    pub(crate) cache_write: Option<u64>,
    /// Anthropic `cache_creation.ephemeral_1h_input_tokens`.
    pub(crate) cache_write_1h: Option<u64>,
    /// Anthropic `server_tool_use.web_search_requests`.
    pub(crate) web_search_requests: Option<u64>,
    /// Anthropic `server_tool_use.web_fetch_requests`.
    pub(crate) web_fetch_requests: Option<u64>,
}

/// `T`, from a JSON object only, or `null`. A derived struct also takes
/// an array (its fields in order), where `Value` indexing finds nothing:
/// the typed read refuses it and leaves the answer to the general read.
pub(crate) fn object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Object<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for Object<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object or null")
        }

        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(Some)
        }
    }

    deserializer.deserialize_any(Object(PhantomData))
}

fn set(slot: &mut Option<u64>, value: Option<u64>) {
    if value.is_some() {
        *slot = value;
    }
}

/// The `usage` of an OpenAI chat or legacy completion, with the counts
/// Keyway reads. The typed reader of a whole answer (`typed_read`) decodes
/// it straight from the body, about 3,000 instructions a request cheaper
/// than a `Value` (callgrind); a count that is not a `u64` or details that
/// are not an object fail that read, and the answer is read the general
/// way, through [`OpenAiUsage::of`], which takes what it can.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OpenAiUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "object")]
    prompt_tokens_details: Option<CachedTokens>,
    #[serde(default, deserialize_with = "object")]
    completion_tokens_details: Option<ReasoningTokens>,
}

#[derive(Debug, Default, Deserialize)]
struct CachedTokens {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ReasoningTokens {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl OpenAiUsage {
    /// The counts of a `usage` read the general way: whatever is not a
    /// `u64` where a count belongs is left out.
    fn of(usage: &Value) -> Self {
        Self {
            prompt_tokens: usage["prompt_tokens"].as_u64(),
            completion_tokens: usage["completion_tokens"].as_u64(),
            prompt_tokens_details: Some(CachedTokens {
                cached_tokens: usage["prompt_tokens_details"]["cached_tokens"].as_u64(),
            }),
            completion_tokens_details: Some(ReasoningTokens {
                reasoning_tokens: usage["completion_tokens_details"]["reasoning_tokens"].as_u64(),
            }),
        }
    }
}

/// An Anthropic message's `usage` (or a stream event's), as [`OpenAiUsage`]
/// is OpenAI's.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AnthropicUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default, deserialize_with = "object")]
    cache_creation: Option<CacheCreation>,
    #[serde(default, deserialize_with = "object")]
    server_tool_use: Option<ServerToolUse>,
}

#[derive(Debug, Default, Deserialize)]
struct CacheCreation {
    #[serde(default)]
    ephemeral_1h_input_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ServerToolUse {
    #[serde(default)]
    web_search_requests: Option<u64>,
    #[serde(default)]
    web_fetch_requests: Option<u64>,
}

impl AnthropicUsage {
    /// As [`OpenAiUsage::of`].
    fn of(usage: &Value) -> Self {
        let tools = &usage["server_tool_use"];
        Self {
            input_tokens: usage["input_tokens"].as_u64(),
            output_tokens: usage["output_tokens"].as_u64(),
            cache_read_input_tokens: usage["cache_read_input_tokens"].as_u64(),
            cache_creation_input_tokens: usage["cache_creation_input_tokens"].as_u64(),
            cache_creation: Some(CacheCreation {
                ephemeral_1h_input_tokens: usage["cache_creation"]["ephemeral_1h_input_tokens"].as_u64(),
            }),
            server_tool_use: Some(ServerToolUse {
                web_search_requests: tools["web_search_requests"].as_u64(),
                web_fetch_requests: tools["web_fetch_requests"].as_u64(),
            }),
        }
    }
}

impl Reported {
    /// Chat completions and legacy completions: `prompt_tokens` includes
    /// cached tokens, `completion_tokens` reasoning tokens. Audio and
    /// predicted-output tokens are inside the two totals and billed with them.
    pub(crate) fn read_openai(&mut self, usage: &Value) {
        self.take_openai(&OpenAiUsage::of(usage));
    }

    /// [`read_openai`](Self::read_openai), already decoded.
    pub(crate) fn take_openai(&mut self, usage: &OpenAiUsage) {
        set(&mut self.input, usage.prompt_tokens);
        set(&mut self.output, usage.completion_tokens);
        set(
            &mut self.cached,
            usage.prompt_tokens_details.as_ref().and_then(|d| d.cached_tokens),
        );
        set(
            &mut self.reasoning,
            usage
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens),
        );
    }

    /// The Responses API: the same totals under other names.
    pub(crate) fn read_responses(&mut self, usage: &Value) {
        set(&mut self.input, usage["input_tokens"].as_u64());
        set(&mut self.output, usage["output_tokens"].as_u64());
        set(
            &mut self.cached,
            usage["input_tokens_details"]["cached_tokens"].as_u64(),
        );
        set(
            &mut self.reasoning,
            usage["output_tokens_details"]["reasoning_tokens"].as_u64(),
        );
    }

    /// Anthropic's `input_tokens` excludes cache reads and writes; Keyway's
    /// input includes them. Fields may come in `message_start` and again
    /// (cumulative) in `message_delta`: the latest wins, and only a final
    /// event's output count is taken (`message_start`'s is a placeholder).
    pub(crate) fn read_anthropic(&mut self, usage: &Value, final_output: bool) {
        self.take_anthropic(&AnthropicUsage::of(usage), final_output);
    }

    /// [`read_anthropic`](Self::read_anthropic), already decoded.
    pub(crate) fn take_anthropic(&mut self, usage: &AnthropicUsage, final_output: bool) {
        set(&mut self.cached, usage.cache_read_input_tokens);
        set(&mut self.cache_write, usage.cache_creation_input_tokens);
        set(
            &mut self.cache_write_1h,
            usage
                .cache_creation
                .as_ref()
                .and_then(|c| c.ephemeral_1h_input_tokens),
        );
        let tools = usage.server_tool_use.as_ref();
        set(
            &mut self.web_search_requests,
            tools.and_then(|t| t.web_search_requests),
        );
        set(
            &mut self.web_fetch_requests,
            tools.and_then(|t| t.web_fetch_requests),
        );
        if let Some(input) = usage.input_tokens {
            let cache = self
                .cached
                .unwrap_or(0)
                .saturating_add(self.cache_write.unwrap_or(0));
            self.input = Some(input.saturating_add(cache));
        }
        if final_output {
            set(&mut self.output, usage.output_tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn openai_and_responses_details_are_read() {
        let mut r = Reported::default();
        r.read_openai(&json!({"prompt_tokens": 9, "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 5}}));
        assert_eq!(
            (r.input, r.output, r.cached, r.reasoning),
            (Some(9), Some(7), Some(2), Some(5))
        );
        let mut r = Reported::default();
        r.read_responses(&json!({"input_tokens": 4, "output_tokens": 3,
            "input_tokens_details": {"cached_tokens": 1}, "output_tokens_details": {"reasoning_tokens": 2}}));
        assert_eq!(
            (r.input, r.output, r.cached, r.reasoning),
            (Some(4), Some(3), Some(1), Some(2))
        );
    }

    #[test]
    fn anthropic_cache_writes_join_the_input_and_server_tools_are_kept() {
        let mut r = Reported::default();
        r.read_anthropic(
            &json!({"input_tokens": 5, "output_tokens": 1, "cache_read_input_tokens": 4,
                "cache_creation_input_tokens": 6, "cache_creation": {"ephemeral_5m_input_tokens": 2,
                "ephemeral_1h_input_tokens": 4}}),
            false,
        );
        assert_eq!(
            (r.input, r.output, r.cache_write, r.cache_write_1h),
            (Some(15), None, Some(6), Some(4))
        );
        r.read_anthropic(
            &json!({"output_tokens": 9, "server_tool_use": {"web_search_requests": 2}}),
            true,
        );
        assert_eq!(
            (r.input, r.output, r.web_search_requests),
            (Some(15), Some(9), Some(2))
        );
    }
}
