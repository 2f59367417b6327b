//! The Responses API bridged onto chat completions: a Responses client
//! served by a model whose upstream has no Responses API — an Anthropic
//! model (through chat, then the Anthropic bridge) or an OpenAI-compatible
//! provider's chat model. Only the stateless subset maps: nothing is
//! stored upstream, so the stored-response routes do not know a bridged
//! response's id (`docs/responses.md`).

mod answer;
mod request;
mod shape;
mod stream;

pub(crate) use answer::from_chat;
pub(crate) use request::to_chat;
pub(crate) use shape::echo;
pub(crate) use stream::{Chain, ToResponses};
