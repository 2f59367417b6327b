//! The key service: tenants, users, gateway API keys and BYOK provider
//! secrets, kept as an event store in Postgres. This crate owns its schema
//! (`migrations/keys`).

use sqlx::PgPool;

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    keyway_common::db::migrate(pool, sqlx::migrate!("../../migrations/keys")).await
}
