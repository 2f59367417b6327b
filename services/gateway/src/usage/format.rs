//! Which wire an upstream answer is in, as far as reading its usage goes.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    OpenAiJson,
    OpenAiSse {
        strip_usage_chunk: bool,
    },
    AnthropicJson,
    AnthropicSse,
    /// The Responses API: usage in `response.usage`, on a stream in the
    /// `response.completed` (or `.incomplete`/`.failed`) event.
    ResponsesJson,
    ResponsesSse,
}

impl Format {
    pub(crate) fn is_json(self) -> bool {
        matches!(
            self,
            Format::OpenAiJson | Format::AnthropicJson | Format::ResponsesJson
        )
    }
}
