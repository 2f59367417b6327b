//! The `keyway` stack: composes gateway, keys and projector into one process
//! on one port (`keyway up`), or runs one of them alone (`keyway run …`).
//! In-process calls replace HTTP between services when they share a process.

mod accept;
pub mod admin;
mod admin_key;
mod app;
mod console;
pub mod effective_config;
mod error;
mod front;
mod fronts;
mod gateway_setup;
mod health;
pub mod maintenance;
mod mock;
mod observability;
pub mod openapi;
mod openapi_errors;
mod openapi_examples;
mod phases;
mod serve;
mod services;
pub mod stack;
mod start;
mod unread_body;

pub use error::StartError;
pub use services::Services;
pub use stack::Stack;
