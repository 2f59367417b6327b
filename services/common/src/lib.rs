//! Shared infrastructure for every Keyway service: configuration from the
//! environment, telemetry, shutdown, and the Postgres and NATS clients.
//! Domain logic never lives here.

pub mod config;
pub mod db;
pub mod nats;
pub mod shutdown;
pub mod telemetry;

pub use config::{Config, ConfigError, Environment};
