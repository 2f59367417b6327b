//! The OpenAI- and Anthropic-compatible `/v1/*` routes.

pub(crate) mod llm;
pub(crate) mod models;
