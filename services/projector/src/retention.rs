//! Retention: deletes ledger rows older than N days, but never a row that a
//! registered export cursor covering it (its tenant's, or an all-tenant one)
//! or a webhook of its tenant has not passed yet. The views are never pruned; they are the billing
//! record once the raw events are gone.

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::ProjectorError;

/// Rows deleted per statement, so pruning a large backlog never holds one
/// huge transaction (and its locks, and its WAL) open.
const CHUNK: i64 = 5_000;

const INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes prunable ledger rows whose event occurred more than `days` days
/// ago; returns how many were deleted.
pub async fn prune(pool: &PgPool, days: u32) -> Result<u64, ProjectorError> {
    let cutoff = OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
    let mut deleted = 0u64;
    // Walking forward in ledger order means rows a cursor still holds back
    // are skipped once, not rescanned by every chunk.
    let mut after = 0i64;
    loop {
        let chunk: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM usage_ledger WHERE ledger_seq = ANY(ARRAY(
                 SELECT l.ledger_seq FROM usage_ledger l
                 WHERE l.occurred_at < $1 AND l.ledger_seq > $2
                   AND NOT EXISTS (
                       SELECT 1 FROM usage_export_cursors c
                       WHERE (c.tenant_id IS NULL OR c.tenant_id = l.tenant_id)
                         AND c.ledger_seq < l.ledger_seq)
                   AND NOT EXISTS (
                       SELECT 1 FROM usage_webhooks w
                       WHERE w.tenant_id = l.tenant_id AND w.ledger_seq < l.ledger_seq)
                 ORDER BY l.ledger_seq LIMIT $3))
             RETURNING ledger_seq",
        )
        .bind(cutoff)
        .bind(after)
        .bind(CHUNK)
        .fetch_all(pool)
        .await?;
        deleted += chunk.len() as u64;
        match chunk.iter().max() {
            Some(&last) if chunk.len() as i64 == CHUNK => after = last,
            _ => break,
        }
    }
    if deleted > 0 {
        tracing::info!(deleted, days, "pruned usage ledger rows past retention");
    }
    Ok(deleted)
}

/// Prunes once now and then every hour until shutdown.
pub(crate) async fn run_hourly(pool: &PgPool, days: u32, shutdown: &CancellationToken) {
    loop {
        if let Err(e) = prune(pool, days).await {
            tracing::warn!(error = %e, "usage retention pruning failed; will retry");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}
