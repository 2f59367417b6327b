//! Webhook registrations in `usage_webhooks`: create, list, read, delete and
//! rotate. The signing secret is sealed before it is written and returned
//! to the caller only from `create` and `rotate`.

use serde::Serialize;
use sqlx::{FromRow, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{
    WebhookError, Webhooks,
    secret::{Binding, SigningSecret},
};

/// How many webhooks one tenant may register: each holds retention back and
/// takes a share of every instance's delivery capacity.
pub(crate) const MAX_PER_TENANT: i64 = 20;

const COLUMNS: &str = "id, tenant_id, url, description, ledger_seq, created_at, secret_rotated_at,
    last_attempt_at, last_delivered_at, last_error, consecutive_failures, next_attempt_at";

/// A webhook registration and its delivery state. The signing secret is
/// never part of it.
#[derive(Debug, Serialize, ToSchema, FromRow)]
pub(crate) struct Webhook {
    /// The webhook id (UUIDv7), also sent as `Keyway-Webhook-Id`.
    pub(crate) id: Uuid,
    /// The tenant whose usage events it receives.
    pub(crate) tenant_id: String,
    /// Where the batches are POSTed.
    url: String,
    description: Option<String>,
    /// The delivery cursor: an export cursor (as `/api/v1/usage/events`
    /// hands out) just past the last event the receiver acknowledged.
    #[sqlx(rename = "ledger_seq")]
    #[schema(value_type = String)]
    #[serde(serialize_with = "crate::export::as_cursor")]
    cursor: i64,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    secret_rotated_at: OffsetDateTime,
    /// When the last delivery was tried, successful or not.
    #[serde(with = "time::serde::rfc3339::option")]
    last_attempt_at: Option<OffsetDateTime>,
    /// When the receiver last answered 2xx.
    #[serde(with = "time::serde::rfc3339::option")]
    last_delivered_at: Option<OffsetDateTime>,
    /// Why the last attempt failed: `http_<status>`, `timeout`, `connect`,
    /// `request` or `signing_key_unavailable`; null after a success.
    last_error: Option<String>,
    /// Failed attempts since the last success; retries back off with it.
    consecutive_failures: i32,
    /// When the next attempt may start: with events pending, the next
    /// delivery (or retry) happens at or soon after this time.
    #[serde(with = "time::serde::rfc3339")]
    next_attempt_at: OffsetDateTime,
}

/// Registers a webhook for `tenant`; the caller has checked the URL.
pub(crate) async fn create(
    pool: &PgPool,
    webhooks: &Webhooks,
    tenant: &str,
    url: &str,
    description: Option<&str>,
) -> Result<(Webhook, SigningSecret), WebhookError> {
    let id = Uuid::now_v7();
    let secret = SigningSecret::generate();
    let at = Binding {
        tenant_id: tenant,
        webhook_id: id,
        version: 1,
    };
    // Seal before the transaction: a KMS call must not hold it open.
    let sealed = webhooks.secrets.seal(at, &secret).await?;
    let mut tx = pool.begin().await?;
    // Serializes registrations per tenant, so the limit holds under races.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('usage_webhooks:' || $1, 0))")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_webhooks WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_PER_TENANT {
        return Err(WebhookError::LimitReached(format!(
            "the tenant already has {count} webhooks, the most allowed; delete one first"
        )));
    }
    let webhook = sqlx::query_as(&format!(
        "INSERT INTO usage_webhooks (id, tenant_id, url, description, kms_key_ref, wrapped_dek, sealed_secret)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(tenant)
    .bind(url)
    .bind(description)
    .bind(&sealed.kms_key_ref)
    .bind(&sealed.wrapped_dek)
    .bind(&sealed.sealed_secret)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((webhook, secret))
}

/// Up to `limit` webhooks after id `after`, in id (creation) order;
/// `tenant` None is all.
pub(crate) async fn list(
    pool: &PgPool,
    tenant: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Webhook>, WebhookError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM usage_webhooks
         WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::uuid IS NULL OR id > $2)
         ORDER BY id LIMIT $3"
    ))
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub(crate) async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Webhook>, WebhookError> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM usage_webhooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Drops the row, and with it the only copy of the wrapped data key: the
/// secret can never be opened again.
pub(crate) async fn delete(
    pool: &PgPool,
    webhooks: &Webhooks,
    webhook: &Webhook,
) -> Result<(), WebhookError> {
    sqlx::query("DELETE FROM usage_webhooks WHERE id = $1 AND tenant_id = $2")
        .bind(webhook.id)
        .bind(&webhook.tenant_id)
        .execute(pool)
        .await?;
    webhooks.secrets.forget(webhook.id);
    Ok(())
}

/// Replaces the signing secret under a fresh data key. A concurrent
/// rotation of the same webhook makes this one a conflict.
pub(crate) async fn rotate(
    pool: &PgPool,
    webhooks: &Webhooks,
    webhook: &Webhook,
) -> Result<(Webhook, SigningSecret), WebhookError> {
    let current: Option<i32> =
        sqlx::query_scalar("SELECT secret_version FROM usage_webhooks WHERE id = $1 AND tenant_id = $2")
            .bind(webhook.id)
            .bind(&webhook.tenant_id)
            .fetch_optional(pool)
            .await?;
    let current = current.ok_or(WebhookError::NotFound)?;
    let version = current.saturating_add(1);
    let secret = SigningSecret::generate();
    let at = Binding {
        tenant_id: &webhook.tenant_id,
        webhook_id: webhook.id,
        version: u32::try_from(version).unwrap_or(u32::MAX),
    };
    let sealed = webhooks.secrets.seal(at, &secret).await?;
    let rotated: Option<Webhook> = sqlx::query_as(&format!(
        "UPDATE usage_webhooks SET kms_key_ref = $4, wrapped_dek = $5, sealed_secret = $6,
             secret_version = $3 + 1, secret_rotated_at = now()
         WHERE id = $1 AND tenant_id = $2 AND secret_version = $3 RETURNING {COLUMNS}"
    ))
    .bind(webhook.id)
    .bind(&webhook.tenant_id)
    .bind(current)
    .bind(&sealed.kms_key_ref)
    .bind(&sealed.wrapped_dek)
    .bind(&sealed.sealed_secret)
    .fetch_optional(pool)
    .await?;
    let rotated = rotated.ok_or_else(|| {
        WebhookError::Conflict("the webhook's secret was rotated or deleted concurrently; retry".into())
    })?;
    webhooks.secrets.forget(webhook.id);
    Ok((rotated, secret))
}
