//! Every usage field of the three APIs Keyway serves, read into one
//! [`Reported`]. Keyway's totals follow OpenAI's convention: input includes
//! cache reads and writes, output includes reasoning. What is billed and
//! what is only recorded is listed in `docs/billing.md`.

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

fn set(slot: &mut Option<u64>, value: &Value) {
    if let Some(n) = value.as_u64() {
        *slot = Some(n);
    }
}

impl Reported {
    /// Chat completions and legacy completions: `prompt_tokens` includes
    /// cached tokens, `completion_tokens` reasoning tokens. Audio and
    /// predicted-output tokens are inside the two totals and billed with them.
    pub(crate) fn read_openai(&mut self, usage: &Value) {
        set(&mut self.input, &usage["prompt_tokens"]);
        set(&mut self.output, &usage["completion_tokens"]);
        set(&mut self.cached, &usage["prompt_tokens_details"]["cached_tokens"]);
        set(
            &mut self.reasoning,
            &usage["completion_tokens_details"]["reasoning_tokens"],
        );
    }

    /// The Responses API: the same totals under other names.
    pub(crate) fn read_responses(&mut self, usage: &Value) {
        set(&mut self.input, &usage["input_tokens"]);
        set(&mut self.output, &usage["output_tokens"]);
        set(&mut self.cached, &usage["input_tokens_details"]["cached_tokens"]);
        set(
            &mut self.reasoning,
            &usage["output_tokens_details"]["reasoning_tokens"],
        );
    }

    /// Anthropic's `input_tokens` excludes cache reads and writes; Keyway's
    /// input includes them. Fields may come in `message_start` and again
    /// (cumulative) in `message_delta`: the latest wins, and only a final
    /// event's output count is taken (`message_start`'s is a placeholder).
    pub(crate) fn read_anthropic(&mut self, usage: &Value, final_output: bool) {
        set(&mut self.cached, &usage["cache_read_input_tokens"]);
        set(&mut self.cache_write, &usage["cache_creation_input_tokens"]);
        set(
            &mut self.cache_write_1h,
            &usage["cache_creation"]["ephemeral_1h_input_tokens"],
        );
        set(
            &mut self.web_search_requests,
            &usage["server_tool_use"]["web_search_requests"],
        );
        set(
            &mut self.web_fetch_requests,
            &usage["server_tool_use"]["web_fetch_requests"],
        );
        if let Some(input) = usage["input_tokens"].as_u64() {
            let cache = self
                .cached
                .unwrap_or(0)
                .saturating_add(self.cache_write.unwrap_or(0));
            self.input = Some(input.saturating_add(cache));
        }
        if final_output {
            set(&mut self.output, &usage["output_tokens"]);
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
