//! The key service: tenants, users, gateway API keys and BYOK provider
//! secrets, kept as an event store in Postgres. This crate owns its schema
//! (`migrations/keys`).

pub mod api_keys;
mod attenuation;
mod authz;
pub mod byok;
pub use keyway_crypto as crypto;
mod deks;
pub mod error;
pub mod events;
pub mod http;
pub mod identity_follow;
pub mod key_format;
pub mod last_used;
mod oidc_callers;
pub mod outbox;
mod projection;
pub mod providers;
mod schema_names;
pub mod service;
pub mod store;
pub mod tenants;
pub mod users;

pub use service::{KeyService, KeyServiceSettings};

use sqlx::PgPool;

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    keyway_common::db::migrate(pool, sqlx::migrate!("../../migrations/keys")).await
}
