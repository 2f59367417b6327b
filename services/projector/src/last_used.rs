//! The last use of API keys, as folded by the ledger into
//! `api_key_last_used`. The key service shows it as `last_used_at`; it asks
//! through this function (wired by the process that runs both) rather than
//! reading the projector's table itself.

use std::collections::HashMap;

use sqlx::PgPool;
use time::OffsetDateTime;

/// The last use of each of `key_ids` that has one. A database without the
/// projector's tables (a key service deployed apart from the projector) has
/// no last-use signal: that is an empty answer, not an error.
pub async fn last_used(
    pool: &PgPool,
    key_ids: &[String],
) -> Result<HashMap<String, OffsetDateTime>, sqlx::Error> {
    const UNDEFINED_TABLE: &str = "42P01";
    let rows: Result<Vec<(String, OffsetDateTime)>, sqlx::Error> =
        sqlx::query_as("SELECT api_key_id, last_used_at FROM api_key_last_used WHERE api_key_id = ANY($1)")
            .bind(key_ids)
            .fetch_all(pool)
            .await;
    match rows {
        Ok(rows) => Ok(rows.into_iter().collect()),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNDEFINED_TABLE) => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}
