//! Token accounting for one completion and its OpenAI / Anthropic wire forms.
//! The two APIs disagree on whether cached tokens are part of the input count.
//! The detail fields (reasoning, cache writes, server tools) are reported
//! only when a control asks for them, so the default bodies stay minimal.

use serde::Serialize;

use crate::controls::Controls;

/// Token counts for one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// All prompt tokens, cached ones and cache writes included.
    pub(crate) input: u64,
    /// Prompt tokens served from cache.
    pub(crate) cached: u64,
    /// Output tokens, reasoning included (as OpenAI counts them).
    pub(crate) output: u64,
    pub(crate) extra: Extra,
}

/// The usage details a control may ask for (`mock.reasoning_tokens`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Extra {
    pub(crate) reasoning: u64,
    /// Anthropic prompt-cache writes with the 5-minute TTL.
    pub(crate) cache_write_5m: u64,
    /// Anthropic prompt-cache writes with the 1-hour TTL.
    pub(crate) cache_write_1h: u64,
    /// Anthropic `server_tool_use.web_search_requests`.
    pub(crate) web_searches: u64,
}

impl Extra {
    pub(crate) fn from_controls(controls: &Controls) -> Self {
        Self {
            reasoning: controls.reasoning_tokens,
            cache_write_5m: controls.cache_write_tokens,
            cache_write_1h: controls.cache_write_1h_tokens,
            web_searches: controls.web_search_requests,
        }
    }

    fn cache_writes(self) -> u64 {
        self.cache_write_5m + self.cache_write_1h
    }
}

/// The usage to report for a request: the prompt's and answer's words, the
/// details the controls ask for; `None` when `omit_usage` asks for none.
pub(crate) fn reported(prompt_words: u64, output_words: u64, controls: &Controls) -> Option<Usage> {
    let usage =
        Usage::new(prompt_words, controls.cached_tokens, output_words).with(Extra::from_controls(controls));
    (!controls.omit_usage).then_some(usage)
}

impl Usage {
    /// A requested cache hit larger than the prompt grows the prompt rather
    /// than being clamped, so callers always see the cached count they asked
    /// for and `cached <= input` still holds.
    pub(crate) fn new(prompt_words: u64, cached: u64, output: u64) -> Self {
        Self {
            input: prompt_words.max(cached),
            cached,
            output,
            extra: Extra::default(),
        }
    }

    /// Adds the requested details: reasoning tokens are part of the output
    /// and cache writes part of the prompt (which grows to hold them).
    pub(crate) fn with(mut self, extra: Extra) -> Self {
        self.output += extra.reasoning;
        self.input = self.input.max(self.cached + extra.cache_writes());
        self.extra = extra;
        self
    }

    /// The Responses API: `input_tokens` includes cached tokens and
    /// `output_tokens` includes reasoning tokens.
    pub(crate) fn responses(self) -> ResponsesUsage {
        ResponsesUsage {
            input_tokens: self.input,
            input_tokens_details: PromptTokensDetails {
                cached_tokens: self.cached,
            },
            output_tokens: self.output,
            output_tokens_details: ReasoningDetails {
                reasoning_tokens: self.extra.reasoning,
            },
            total_tokens: self.input + self.output,
        }
    }

    /// OpenAI: `prompt_tokens` includes cached tokens.
    pub(crate) fn openai(self) -> OpenAiUsage {
        OpenAiUsage {
            prompt_tokens: self.input,
            completion_tokens: self.output,
            total_tokens: self.input + self.output,
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: self.cached,
            },
            completion_tokens_details: (self.extra.reasoning > 0).then_some(ReasoningDetails {
                reasoning_tokens: self.extra.reasoning,
            }),
        }
    }

    /// Anthropic: `input_tokens` excludes tokens read from and written to
    /// the cache.
    pub(crate) fn anthropic(self) -> AnthropicUsage {
        let e = self.extra;
        AnthropicUsage {
            input_tokens: self.input - self.cached - e.cache_writes(),
            output_tokens: self.output,
            cache_read_input_tokens: self.cached,
            cache_creation_input_tokens: (e.cache_writes() > 0).then_some(e.cache_writes()),
            cache_creation: (e.cache_writes() > 0).then_some(CacheCreation {
                ephemeral_5m_input_tokens: e.cache_write_5m,
                ephemeral_1h_input_tokens: e.cache_write_1h,
            }),
            server_tool_use: (e.web_searches > 0).then_some(ServerToolUse {
                web_search_requests: e.web_searches,
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct OpenAiUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptTokensDetails,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<ReasoningDetails>,
}

#[derive(Debug, Serialize)]
struct PromptTokensDetails {
    cached_tokens: u64,
}

#[derive(Debug, Serialize)]
struct ReasoningDetails {
    reasoning_tokens: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ResponsesUsage {
    input_tokens: u64,
    input_tokens_details: PromptTokensDetails,
    output_tokens: u64,
    output_tokens_details: ReasoningDetails,
    total_tokens: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct AnthropicUsage {
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cache_read_input_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cache_creation: Option<CacheCreation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_tool_use: Option<ServerToolUse>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct CacheCreation {
    ephemeral_5m_input_tokens: u64,
    ephemeral_1h_input_tokens: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ServerToolUse {
    web_search_requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_prompt_tokens_include_cached_and_anthropic_input_excludes_them() {
        let usage = Usage::new(10, 4, 7);
        let openai = usage.openai();
        assert_eq!(openai.prompt_tokens, 10);
        assert_eq!(openai.total_tokens, 17);
        assert_eq!(openai.prompt_tokens_details.cached_tokens, 4);
        let anthropic = usage.anthropic();
        assert_eq!(anthropic.input_tokens, 6);
        assert_eq!(anthropic.cache_read_input_tokens, 4);
        assert_eq!(anthropic.output_tokens, 7);
    }

    #[test]
    fn a_cache_hit_larger_than_the_prompt_grows_the_prompt() {
        let usage = Usage::new(3, 50, 1);
        assert_eq!(usage.input, 50);
        assert_eq!(usage.anthropic().input_tokens, 0);
    }

    #[test]
    fn extras_add_reasoning_to_output_and_cache_writes_to_the_prompt() {
        let extra = Extra {
            reasoning: 5,
            cache_write_5m: 4,
            cache_write_1h: 2,
            web_searches: 1,
        };
        let usage = Usage::new(10, 3, 7).with(extra);
        assert_eq!((usage.input, usage.output), (10, 12));
        let anthropic = usage.anthropic();
        assert_eq!(anthropic.input_tokens, 1);
        assert_eq!(anthropic.cache_creation_input_tokens, Some(6));
        let json = serde_json::to_value(&anthropic).unwrap_or_default();
        assert_eq!(json["cache_creation"]["ephemeral_1h_input_tokens"], 2);
        assert_eq!(json["server_tool_use"]["web_search_requests"], 1);
        let responses = serde_json::to_value(usage.responses()).unwrap_or_default();
        assert_eq!(responses["output_tokens_details"]["reasoning_tokens"], 5);
        assert_eq!(responses["input_tokens_details"]["cached_tokens"], 3);
        assert_eq!(responses["total_tokens"], 22);
        // Writes larger than the prompt grow it.
        assert_eq!(Usage::new(1, 0, 1).with(extra).input, 6);
    }
}
