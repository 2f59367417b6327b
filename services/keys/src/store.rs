//! The append-only event store. `append` writes the event, applies it to the
//! read models and queues it in the outbox — all in the caller's transaction,
//! so the three can never disagree. A concurrent writer of the same stream
//! version loses with `StoreError::Conflict` (HTTP 409).

use prost::Message;
use sqlx::{PgConnection, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    events::{KeyEvent, Recorded},
    projection,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the record was changed concurrently; reload and retry")]
    Conflict,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("event encoding error: {0}")]
    Encoding(String),
}

/// Who made a change and in which request, recorded with every event.
#[derive(Debug, Clone)]
pub struct Meta {
    pub actor: String,
    pub request_id: Option<String>,
}

/// Appends one event at `expected_version + 1` of its stream.
pub async fn append(
    conn: &mut PgConnection,
    nats_prefix: &str,
    meta: &Meta,
    stream_id: String,
    expected_version: i64,
    tenant_id: &str,
    event: KeyEvent,
) -> Result<Recorded, StoreError> {
    let event_id = Uuid::now_v7();
    // Microsecond precision, as Postgres stores it, so a rebuild reproduces
    // the read models exactly.
    let now = OffsetDateTime::now_utc();
    let occurred_at = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);
    let payload = serde_json::to_value(&event).map_err(|e| StoreError::Encoding(e.to_string()))?;
    let version = expected_version + 1;
    let inserted = sqlx::query(
        "INSERT INTO key_events (event_id, stream_id, version, tenant_id, event_type, payload, actor, request_id, occurred_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING position",
    )
    .bind(event_id)
    .bind(&stream_id)
    .bind(version)
    .bind(tenant_id)
    .bind(event.kind())
    .bind(&payload)
    .bind(&meta.actor)
    .bind(&meta.request_id)
    .bind(occurred_at)
    .fetch_one(&mut *conn)
    .await;
    let position: i64 = match inserted {
        Ok(row) => row.get(0),
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("key_events_stream_version") => {
            return Err(StoreError::Conflict);
        }
        Err(e) => return Err(e.into()),
    };
    let recorded = Recorded {
        position,
        event_id,
        stream_id,
        version,
        tenant_id: tenant_id.to_owned(),
        actor: meta.actor.clone(),
        occurred_at,
        event,
    };
    projection::apply(conn, &recorded).await?;
    enqueue(conn, nats_prefix, &recorded).await?;
    Ok(recorded)
}

async fn enqueue(conn: &mut PgConnection, nats_prefix: &str, r: &Recorded) -> Result<(), StoreError> {
    let change = keyway_proto::v1::KeyChanged {
        event_id: r.event_id.to_string(),
        tenant_id: r.tenant_id.clone(),
        stream_id: r.stream_id.clone(),
        version: r.version as u64,
        kind: r.event.kind().to_owned(),
        subject_id: r.event.subject_id().to_owned(),
        actor: r.actor.clone(),
        occurred_at_unix_ms: (r.occurred_at.unix_timestamp_nanos() / 1_000_000) as i64,
    };
    sqlx::query(
        "INSERT INTO key_outbox (position, event_id, subject, payload, occurred_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(r.position)
    .bind(r.event_id)
    .bind(keyway_proto::subjects::keys(nats_prefix, &r.tenant_id))
    .bind(change.encode_to_vec())
    .bind(r.occurred_at)
    .execute(&mut *conn)
    .await?;
    sqlx::query("SELECT pg_notify('keyway_key_outbox', '')")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Reads events after `position` that can no longer be overtaken: only rows
/// from transactions older than every transaction still in flight, so a
/// follower never skips a row that commits late with a smaller position.
pub async fn read_committed_after(
    conn: &mut PgConnection,
    after: i64,
    tenant_id: Option<&str>,
    limit: i64,
) -> Result<Vec<Recorded>, StoreError> {
    let rows = sqlx::query(
        "SELECT position, event_id, stream_id, version, tenant_id, payload, actor, occurred_at
         FROM key_events
         WHERE position > $1
           AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
           AND ($2::text IS NULL OR tenant_id = $2)
         ORDER BY position
         LIMIT $3",
    )
    .bind(after)
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(decode).collect()
}

fn decode(row: sqlx::postgres::PgRow) -> Result<Recorded, StoreError> {
    let payload: serde_json::Value = row.get("payload");
    Ok(Recorded {
        position: row.get("position"),
        event_id: row.get("event_id"),
        stream_id: row.get("stream_id"),
        version: row.get("version"),
        tenant_id: row.get("tenant_id"),
        actor: row.get("actor"),
        occurred_at: row.get("occurred_at"),
        event: serde_json::from_value(payload).map_err(|e| StoreError::Encoding(e.to_string()))?,
    })
}

/// Recomputes every read model from the event store, in one transaction.
pub async fn rebuild(conn: &mut PgConnection) -> Result<u64, StoreError> {
    sqlx::query("TRUNCATE tenants, users, api_keys, byok_keys")
        .execute(&mut *conn)
        .await?;
    let rows = sqlx::query(
        "SELECT position, event_id, stream_id, version, tenant_id, payload, actor, occurred_at
         FROM key_events ORDER BY position",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut applied = 0;
    for row in rows {
        projection::apply(conn, &decode(row)?).await?;
        applied += 1;
    }
    Ok(applied)
}
