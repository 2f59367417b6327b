//! The projector: consumes usage events and builds per-tenant billing views.
//! This crate owns its schema (`migrations/projector`).

use sqlx::PgPool;

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    keyway_common::db::migrate(pool, sqlx::migrate!("../../migrations/projector")).await
}
