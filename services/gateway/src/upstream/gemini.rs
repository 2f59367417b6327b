//! Google Gemini through its OpenAI-compatible endpoint
//! (`https://generativelanguage.googleapis.com/v1beta/openai`, then
//! `/chat/completions` or `/embeddings`), with the API key as a bearer
//! token. Its usage is OpenAI-shaped, cached prompt tokens included at
//! `usage.prompt_tokens_details.cached_tokens`, so the usage tap reads it as
//! it is; a stream reports usage only when asked, which Keyway always does.

use axum::http::HeaderMap;

use crate::error::GatewayError;

pub(super) fn headers(headers: HeaderMap, key: &str) -> Result<HeaderMap, GatewayError> {
    super::bearer(headers, key)
}
