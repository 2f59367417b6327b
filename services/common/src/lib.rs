//! Shared infrastructure for every Keyway service: configuration from the
//! environment, telemetry, shutdown, the Postgres and NATS clients, shared
//! NATS KV counters, and the SSRF guard for URLs Keyway calls on a tenant's
//! behalf.
//! Domain logic never lives here.

pub mod api;
pub mod codes;
pub mod config;
pub mod db;
mod json_log;
pub mod json_scan;
pub mod kv;
pub mod metrics;
pub mod nats;
pub mod outbound;
pub mod providers;
pub mod retry;
pub mod shutdown;
pub mod sigv4;
pub mod telemetry;

pub use config::{Config, ConfigError, Environment, KmsProvider, Vars};
