//! Maintenance commands that act on the database directly, through the
//! same service code as the HTTP endpoints: `keyway keys rebuild` and
//! `keyway keys rotate kek|dek`, `keyway projector rebuild`.

use keyway_common::Config;
use keyway_keys::store::{self, Meta};

use crate::{
    error::StartError,
    start::{build_kms, start_key_service},
};

fn meta() -> Meta {
    Meta {
        actor: "cli".to_owned(),
        request_id: None,
    }
}

async fn pool(config: &Config) -> Result<sqlx::PgPool, StartError> {
    keyway_common::db::ensure_database(&config.database_url).await?;
    let pool = keyway_common::db::connect(&config.database_url).await?;
    keyway_keys::migrate(&pool).await?;
    Ok(pool)
}

/// Recomputes the key service's read models from its event store.
pub async fn rebuild_keys(config: &Config) -> Result<String, StartError> {
    let pool = pool(config).await?;
    let mut tx = pool.begin().await.map_err(keyway_common::db::DbError::Connect)?;
    let applied = store::rebuild(&mut tx).await?;
    tx.commit().await.map_err(keyway_common::db::DbError::Connect)?;
    Ok(format!("rebuilt the key read models from {applied} events"))
}

pub async fn rotate_kek(config: &Config) -> Result<String, StartError> {
    let kms = build_kms(config).await?;
    let service = start_key_service(config, pool(config).await?, &maintenance_admin_key(), kms, None).await?;
    let (kek, rewrapped) = service.rotate_kek().await?;
    Ok(format!("rewrapped {rewrapped} data keys under {kek}"))
}

pub async fn rotate_dek(config: &Config, tenant: &str) -> Result<String, StartError> {
    let kms = build_kms(config).await?;
    let service = start_key_service(config, pool(config).await?, &maintenance_admin_key(), kms, None).await?;
    let version = service.rotate_dek(&meta(), tenant).await?;
    Ok(format!(
        "tenant {tenant}: secrets re-sealed under data key version {version}"
    ))
}

/// Maintenance serves no requests, so no caller can present this key.
fn maintenance_admin_key() -> String {
    keyway_keys::key_format::random_base62(48)
}

/// Recomputes the billing views from the usage ledger.
pub async fn rebuild_projector(config: &Config) -> Result<String, StartError> {
    keyway_common::db::ensure_database(&config.database_url).await?;
    let pool = keyway_common::db::connect(&config.database_url).await?;
    keyway_projector::migrate(&pool).await?;
    let folded = keyway_projector::rebuild(&pool).await?;
    Ok(format!("rebuilt the billing views from {folded} ledger rows"))
}
