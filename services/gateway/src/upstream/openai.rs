//! OpenAI and the OpenAI-compatible family (groq, together, mistral,
//! deepseek, fireworks, openrouter, perplexity, xai, cohere's compatibility
//! API, the Hugging Face router, vLLM, Ollama, LM Studio, custom
//! endpoints): the route under the base URL, and `Authorization: Bearer`.

use axum::http::HeaderMap;

use crate::error::GatewayError;

pub(super) fn headers(headers: HeaderMap, key: &str) -> Result<HeaderMap, GatewayError> {
    super::bearer(headers, key)
}
