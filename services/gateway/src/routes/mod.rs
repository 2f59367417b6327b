//! The OpenAI- and Anthropic-compatible `/v1/*` routes.

mod counted;
pub(crate) mod llm;
mod llm_forward;
pub(crate) mod llm_handle;
pub(crate) mod models;
pub(crate) mod responses;
mod schemas;
mod schemas_anthropic;
mod schemas_openai;
mod schemas_responses;
mod stored;
