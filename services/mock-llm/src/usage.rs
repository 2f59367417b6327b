//! Token accounting for one completion and its OpenAI / Anthropic wire forms.
//! The two APIs disagree on whether cached tokens are part of the input count.

use serde::Serialize;

/// Token counts for one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// All prompt tokens, cached ones included.
    pub(crate) input: u64,
    /// Prompt tokens served from cache.
    pub(crate) cached: u64,
    pub(crate) output: u64,
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
        }
    }

    /// Anthropic: `input_tokens` excludes tokens read from cache.
    pub(crate) fn anthropic(self) -> AnthropicUsage {
        AnthropicUsage {
            input_tokens: self.input - self.cached,
            output_tokens: self.output,
            cache_read_input_tokens: self.cached,
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct OpenAiUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: PromptTokensDetails,
}

#[derive(Debug, Serialize)]
struct PromptTokensDetails {
    cached_tokens: u64,
}

#[derive(Debug, Serialize)]
pub(crate) struct AnthropicUsage {
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cache_read_input_tokens: u64,
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
}
