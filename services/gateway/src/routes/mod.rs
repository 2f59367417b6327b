//! The OpenAI- and Anthropic-compatible `/v1/*` routes.

pub(crate) mod llm;
mod llm_handle;
pub(crate) mod models;
mod schemas;
