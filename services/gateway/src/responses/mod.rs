//! Who created each Responses API response id: the tenant (and user), the
//! model and the key source, so the routes on a stored response
//! (`GET`/`DELETE /v1/responses/{id}`, its input items, cancel) reach the
//! same upstream with the same credential, and another tenant's id is 404.
//!
//! The owners live in a NATS KV bucket (`<prefix>_responses`, entries expire
//! `KEYWAY_RESPONSES_TTL_DAYS` after creation, 30 by default, as OpenAI
//! keeps stored responses 30 days), written before the client sees the id.

mod owners;
mod peek;

pub(crate) use owners::Owner;
pub use owners::{DEFAULT_TTL_DAYS, ResponseOwners, TTL_VAR};
pub(crate) use peek::remember;
