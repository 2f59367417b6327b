//! Publishes the transactional outbox to JetStream. Each row is published
//! with `Nats-Msg-Id` = its event id and deleted only after JetStream acks,
//! so a crash between the two republishes the same id, which JetStream
//! dedupes. It retries until NATS accepts; nothing is dropped.

use std::time::Duration;

use async_nats::{HeaderMap, jetstream};
use keyway_common::retry::Backoff;
use keyway_proto::cloudevents as ce;
use sqlx::{PgPool, Row, postgres::PgListener};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BATCH: i64 = 100;
/// The longest a row waits if a NOTIFY is missed (e.g. across a reconnect).
const POLL: Duration = Duration::from_secs(1);

pub async fn run(pool: PgPool, nats: async_nats::Client, shutdown: CancellationToken) {
    let js = jetstream::new(nats);
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen("keyway_key_outbox").await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "outbox cannot LISTEN; polling instead");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "outbox cannot LISTEN; polling instead");
            None
        }
    };
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match publish_batch(&pool, &js).await {
            Ok(n) if n as i64 == BATCH => continue,
            Ok(_) => backoff.reset(),
            Err(e) => {
                tracing::warn!(error = %e, "outbox publish failed; retrying");
                if !backoff.wait(&shutdown).await {
                    return;
                }
                continue;
            }
        }
        let wake = async {
            match listener.as_mut() {
                Some(l) => {
                    let _ = tokio::time::timeout(POLL, l.recv()).await;
                }
                None => tokio::time::sleep(POLL).await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum PublishError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("NATS: {0}")]
    Nats(String),
}

/// Publishes up to one batch in position order; returns how many went out.
async fn publish_batch(pool: &PgPool, js: &jetstream::Context) -> Result<usize, PublishError> {
    let mut tx = pool.begin().await?;
    // SKIP LOCKED lets several key-service instances share the outbox.
    let rows = sqlx::query(
        "SELECT position, event_id, subject, payload, occurred_at FROM key_outbox
         ORDER BY position LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let mut published = Vec::with_capacity(rows.len());
    for row in &rows {
        let event_id: Uuid = row.get("event_id");
        let subject: String = row.get("subject");
        let payload: Vec<u8> = row.get("payload");
        let occurred_at: OffsetDateTime = row.get("occurred_at");
        let tenant = subject.rsplit('.').next().unwrap_or_default().to_owned();
        let headers = headers(&event_id, &tenant, occurred_at);
        let ack = js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| PublishError::Nats(e.to_string()));
        let result = match ack {
            Ok(future) => future.await.map_err(|e| PublishError::Nats(e.to_string())),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // Keep what was acknowledged so far; retry the rest later.
            delete(&mut tx, &published).await?;
            tx.commit().await?;
            return Err(e);
        }
        published.push(row.get::<i64, _>("position"));
    }
    delete(&mut tx, &published).await?;
    tx.commit().await?;
    Ok(published.len())
}

async fn delete(tx: &mut sqlx::PgConnection, positions: &[i64]) -> Result<(), sqlx::Error> {
    if !positions.is_empty() {
        sqlx::query("DELETE FROM key_outbox WHERE position = ANY($1)")
            .bind(positions)
            .execute(tx)
            .await?;
    }
    Ok(())
}

/// CloudEvents NATS binding headers, plus JetStream's dedupe id.
pub(crate) fn headers(event_id: &Uuid, tenant: &str, at: OffsetDateTime) -> HeaderMap {
    ce::Event {
        id: &event_id.to_string(),
        source: "keyway/keys",
        kind: ce::KEY_CHANGED_TYPE,
        subject: tenant,
        time: &at.format(&Rfc3339).unwrap_or_default(),
    }
    .headers()
}
