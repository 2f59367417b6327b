//! Postgres: create the configured database when it is missing (first start
//! of `keyway up`), then hand out a pool.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("KEYWAY_DATABASE_URL is invalid: {0}")]
    BadUrl(String),
    #[error("database name {0:?} must be 1-63 characters of [A-Za-z0-9_]")]
    BadName(String),
    #[error("cannot reach Postgres: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot create database {name:?}: {source}")]
    Create { name: String, source: sqlx::Error },
}

/// Creates the database named in `url` if it does not exist. Safe to race:
/// a concurrent creator's "already exists" counts as success.
pub async fn ensure_database(url: &str) -> Result<(), DbError> {
    let options = PgConnectOptions::from_str(url).map_err(|e| DbError::BadUrl(e.to_string()))?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.is_empty() || name.len() > 63 {
        return Err(DbError::BadName(name));
    }
    let mut admin = options
        .clone()
        .database("postgres")
        .log_statements(log::LevelFilter::Off)
        .connect()
        .await
        .map_err(DbError::Connect)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&name)
        .fetch_optional(&mut admin)
        .await
        .map_err(DbError::Connect)?;
    if exists.is_none() {
        // The name was validated above; identifiers cannot be bound as parameters.
        let created = sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await;
        match created {
            Ok(_) => tracing::info!(database = %name, "created database"),
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(source) => return Err(DbError::Create { name, source }),
        }
    }
    let _ = admin.close().await;
    Ok(())
}

pub async fn connect(url: &str) -> Result<PgPool, DbError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| DbError::BadUrl(e.to_string()))?
        .log_statements(log::LevelFilter::Debug)
        .log_slow_statements(log::LevelFilter::Warn, Duration::from_secs(1));
    PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// A cheap liveness probe with a short deadline, for `/readyz`.
pub async fn ping(pool: &PgPool) -> bool {
    let probe = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Ok(1))
    )
}

/// Runs one service's migrations. Services share the database and sqlx's
/// migrations table, so another service's applied rows are not "missing";
/// version ranges keep them apart (keys 1xxx, projector 2xxx).
pub async fn migrate(
    pool: &PgPool,
    mut migrator: sqlx::migrate::Migrator,
) -> Result<(), sqlx::migrate::MigrateError> {
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}
