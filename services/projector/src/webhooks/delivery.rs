//! The delivery worker. Every poll it claims due webhooks that have events
//! past their cursor — one statement, `FOR UPDATE SKIP LOCKED`, that also
//! sets a lease, so no transaction stays open during the HTTP call and a
//! crashed instance's claim lapses on its own — then POSTs one signed batch
//! per webhook. Only a 2xx moves the cursor (at-least-once); anything else
//! schedules a retry with exponential backoff and jitter.

use std::{sync::Arc, time::Duration};

use axum::http::header::CONTENT_TYPE;
use rand::Rng;
use sqlx::{FromRow, PgPool};
use time::OffsetDateTime;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Webhooks, secret::Binding, signature};
use crate::{export, scope::Scope};

/// The media type of a CloudEvents JSON batch (a JSON array of events).
pub(crate) const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// A claimed webhook: what one attempt needs.
#[derive(FromRow)]
struct Job {
    id: Uuid,
    tenant_id: String,
    url: String,
    secret_version: i32,
    wrapped_dek: Vec<u8>,
    sealed_secret: Vec<u8>,
    ledger_seq: i64,
    consecutive_failures: i32,
    claim_token: Uuid,
}

enum Outcome {
    /// The receiver answered 2xx: the cursor moves to `cursor`.
    Delivered { cursor: i64, events: usize },
    /// Counted against the webhook and retried after a backoff; `kind` is
    /// what `last_error` shows (`http_503`, `timeout`, …).
    Failed { kind: String },
    /// Not the receiver's fault (the database hiccuped, or the events were
    /// not visible after all): give the claim back and try again next poll.
    Released,
}

/// Delivers webhooks until `shutdown`. Deliveries in flight at shutdown are
/// abandoned and their claims released, so another instance (or this one
/// after a restart) picks them up at once; the receiver may then see that
/// batch twice, which dedupe by event id absorbs.
pub async fn run(pool: PgPool, webhooks: Webhooks, shutdown: CancellationToken) {
    let webhooks = Arc::new(webhooks);
    let mut in_flight = JoinSet::new();
    tracing::info!("webhook delivery running");
    loop {
        while in_flight.len() < webhooks.settings.concurrency {
            match claim(&pool, &webhooks).await {
                Ok(Some(job)) => {
                    let (pool, webhooks, shutdown) = (pool.clone(), webhooks.clone(), shutdown.clone());
                    in_flight.spawn(async move { deliver(&pool, &webhooks, job, &shutdown).await });
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim due webhooks; will retry");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            // A slot came free: more may be due right away (a backlog).
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            _ = tokio::time::sleep(webhooks.settings.poll_interval) => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
}

/// Claims the most overdue webhook that has events visible past its cursor.
async fn claim(pool: &PgPool, webhooks: &Webhooks) -> Result<Option<Job>, sqlx::Error> {
    // Long enough for the request plus the database and KMS work around it;
    // `record` only counts if the claim is still ours.
    let lease = (webhooks.settings.timeout + Duration::from_secs(30)).as_secs_f64();
    sqlx::query_as(
        "UPDATE usage_webhooks w SET claim_token = $1, claimed_until = now() + make_interval(secs => $2)
         WHERE w.id = (
             SELECT c.id FROM usage_webhooks c
             WHERE c.next_attempt_at <= now()
               AND (c.claimed_until IS NULL OR c.claimed_until < now())
               AND EXISTS (
                   SELECT 1 FROM usage_ledger l
                   WHERE l.tenant_id = c.tenant_id AND l.ledger_seq > c.ledger_seq
                     AND l.transaction_id < pg_snapshot_xmin(pg_current_snapshot()))
             ORDER BY c.next_attempt_at
             LIMIT 1
             FOR UPDATE SKIP LOCKED)
         RETURNING w.id, w.tenant_id, w.url, w.secret_version, w.wrapped_dek, w.sealed_secret, w.ledger_seq,
             w.consecutive_failures, w.claim_token",
    )
    .bind(Uuid::new_v4())
    .bind(lease)
    .fetch_optional(pool)
    .await
}

async fn deliver(pool: &PgPool, webhooks: &Webhooks, job: Job, shutdown: &CancellationToken) {
    let outcome = tokio::select! {
        outcome = attempt(pool, webhooks, &job) => outcome,
        _ = shutdown.cancelled() => Outcome::Released,
    };
    if let Err(e) = record(pool, webhooks, &job, &outcome).await {
        // The claim lapses on its own; the batch is then delivered again.
        tracing::warn!(webhook_id = %job.id, error = %e, "cannot record a webhook delivery");
    }
}

async fn attempt(pool: &PgPool, webhooks: &Webhooks, job: &Job) -> Outcome {
    let scope = Scope::tenant(job.tenant_id.clone());
    let page = match export::read_page(pool, &scope, job.ledger_seq, webhooks.settings.batch_size).await {
        Ok(page) => page,
        Err(e) => {
            tracing::warn!(webhook_id = %job.id, error = %e, "cannot read the ledger for a webhook");
            return Outcome::Released;
        }
    };
    let Some(cursor) = page.last_seq else {
        return Outcome::Released;
    };
    let events = page.events.len();
    let body = match serde_json::to_vec(&page.events) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(webhook_id = %job.id, error = %e, "cannot encode a webhook batch");
            return Outcome::Released;
        }
    };
    let at = Binding {
        tenant_id: &job.tenant_id,
        webhook_id: job.id,
        version: u32::try_from(job.secret_version).unwrap_or(0),
    };
    let secret = match webhooks
        .secrets
        .open(at, &job.wrapped_dek, &job.sealed_secret)
        .await
    {
        Ok(secret) => secret,
        Err(e) => {
            tracing::error!(webhook_id = %job.id, error = %e, "cannot open a webhook signing secret");
            return Outcome::Failed {
                kind: "signing_key_unavailable".into(),
            };
        }
    };
    let timestamp = OffsetDateTime::now_utc().unix_timestamp();
    let sent = webhooks
        .client
        .post(&job.url)
        .header(CONTENT_TYPE, BATCH_CONTENT_TYPE)
        .header(signature::HEADER, signature::sign(&secret, timestamp, &body))
        .header("Keyway-Webhook-Id", job.id.to_string())
        .header("Keyway-Delivery-Id", Uuid::now_v7().to_string())
        .body(body)
        .send()
        .await;
    drop(secret);
    match sent {
        Ok(response) if response.status().is_success() => Outcome::Delivered { cursor, events },
        Ok(response) => Outcome::Failed {
            kind: format!("http_{}", response.status().as_u16()),
        },
        Err(e) => Outcome::Failed {
            kind: error_kind(&e).into(),
        },
    }
}

/// The stable name of a transport failure; reqwest's own message names the
/// URL, which may carry a receiver's token, so it is never shown or logged.
fn error_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "request"
    }
}

async fn record(pool: &PgPool, webhooks: &Webhooks, job: &Job, outcome: &Outcome) -> Result<(), sqlx::Error> {
    // Each statement only counts while the claim is still this attempt's.
    let query = match outcome {
        Outcome::Delivered { cursor, events } => {
            tracing::debug!(webhook_id = %job.id, events, cursor, "webhook batch delivered");
            sqlx::query(
                "UPDATE usage_webhooks SET ledger_seq = GREATEST(ledger_seq, $3), last_attempt_at = now(),
                     last_delivered_at = now(), last_error = NULL, consecutive_failures = 0,
                     next_attempt_at = now(), claim_token = NULL, claimed_until = NULL
                 WHERE id = $1 AND claim_token = $2",
            )
            .bind(job.id)
            .bind(job.claim_token)
            .bind(*cursor)
        }
        Outcome::Failed { kind } => {
            let failures = u32::try_from(job.consecutive_failures).unwrap_or(0).saturating_add(1);
            let delay = backoff(failures, webhooks.settings.retry_base, webhooks.settings.max_backoff);
            tracing::warn!(
                webhook_id = %job.id, error = %kind, failures, retry_in_ms = delay.as_millis() as u64,
                "webhook delivery failed; will retry"
            );
            metrics::counter!(keyway_common::metrics::WEBHOOK_FAILURES, "reason" => kind.to_string()).increment(1);
            sqlx::query(
                "UPDATE usage_webhooks SET last_attempt_at = now(), last_error = $3,
                     consecutive_failures = consecutive_failures + 1,
                     next_attempt_at = now() + make_interval(secs => $4), claim_token = NULL, claimed_until = NULL
                 WHERE id = $1 AND claim_token = $2",
            )
            .bind(job.id)
            .bind(job.claim_token)
            .bind(kind)
            .bind(delay.as_secs_f64())
        }
        Outcome::Released => sqlx::query(
            "UPDATE usage_webhooks SET claim_token = NULL, claimed_until = NULL WHERE id = $1 AND claim_token = $2",
        )
        .bind(job.id)
        .bind(job.claim_token),
    };
    query.execute(pool).await.map(drop)
}

/// The delay before retry number `failures` (1 for the first): `base`
/// doubled per failure up to `cap`, then "equal jitter" — half of it fixed,
/// half random — so receivers that fail together do not retry in lockstep.
pub(crate) fn backoff(failures: u32, base: Duration, cap: Duration) -> Duration {
    let doubled = base.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(30)));
    let delay = doubled.min(cap);
    let half = delay / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_with_jitter_and_stops_at_the_cap() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(300));
        for _ in 0..200 {
            for (failures, full) in [(1u32, 1u64), (2, 2), (3, 4), (9, 256), (10, 300), (1_000, 300)] {
                let d = backoff(failures, base, cap);
                let full = Duration::from_secs(full);
                assert!(d >= full / 2 && d <= full, "{failures}: {d:?}");
            }
        }
        assert_eq!(backoff(1, Duration::ZERO, cap), Duration::ZERO);
    }
}
