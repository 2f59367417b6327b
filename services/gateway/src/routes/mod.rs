//! The OpenAI- and Anthropic-compatible `/v1/*` routes.

mod counted;
pub(crate) mod llm;
mod llm_forward;
pub(crate) mod llm_handle;
pub(crate) mod models;
pub(crate) mod responses;
mod schemas;
mod stored;
