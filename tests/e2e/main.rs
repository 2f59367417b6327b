#![expect(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

//! Keyway's end-to-end tests: one binary that starts real stacks (in-process
//! on port 0, or the `keyway` binary as a subprocess) against the real local
//! Postgres and NATS, each with its own database, NATS prefix and data dir.
//! Set `TEST_LOG=1` to see the in-process stacks' logs.

mod helpers;

mod admin_cli;
mod agents;
mod api_fuzz;
mod billing_exact;
mod bola;
mod bounded;
mod browser_docs;
mod byok_flow;
mod byok_outbound;
mod connections;
mod console;
mod console_browser;
mod console_keys;
mod console_oidc;
mod deletion;
mod errors;
mod faults;
mod hardening;
mod health_and_docs;
mod identity_follow;
mod keys_api;
mod keys_store;
mod limits;
mod llm_proxy;
mod malformed;
mod metrics;
mod nats_cluster;
mod oidc;
mod openapi_coverage;
mod openapi_responses;
mod ports;
mod process;
mod projector;
mod providers;
mod routing;
mod sdk_clients;
mod secret_scan;
mod security_probe;
mod traces;
mod usage_events;
