//! Follows the key service's `tenant.deleted` events and forgets what the
//! projector holds on the deleted tenant's behalf: its webhooks — whose
//! sealed signing secrets go with the rows, crypto-shredded like the
//! tenant's other secrets — and its registered export cursors. The ledger
//! and the views stay: they are the billing record.
//!
//! It reads the durable KEYS stream through a durable consumer of its own,
//! so a deletion made while the projector was down is applied when it
//! returns; deleting twice is harmless.

use std::time::Duration;

use async_nats::jetstream::{
    self, AckKind,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
};
use futures::StreamExt;
use keyway_common::retry::Backoff;
use keyway_proto::v1::KeyChanged;
use prost::Message;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::ProjectorSettings;

const TENANT_DELETED: &str = "tenant.deleted";

pub(crate) async fn follow(
    pool: &PgPool,
    nats: async_nats::Client,
    settings: &ProjectorSettings,
    shutdown: &CancellationToken,
) {
    let js = jetstream::new(nats);
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        match bind(&js, settings).await {
            Ok(consumer) => {
                backoff.reset();
                if let Err(e) = consume(pool, &consumer, shutdown).await {
                    tracing::warn!(error = %e, "following tenant deletions failed; resubscribing");
                }
            }
            Err(e) => tracing::debug!(error = %e, "key-change stream not ready; retrying"),
        }
        if !backoff.wait(shutdown).await {
            return;
        }
    }
}

async fn bind(js: &jetstream::Context, settings: &ProjectorSettings) -> Result<PullConsumer, String> {
    let name = format!("{}_projector_tenants", settings.nats_prefix);
    js.get_stream(settings.keys_stream_name())
        .await
        .map_err(|e| e.to_string())?
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: settings.keys_filter_subject(),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())
}

/// Returns on shutdown (`Ok`) or when the subscription breaks.
async fn consume(pool: &PgPool, consumer: &PullConsumer, shutdown: &CancellationToken) -> Result<(), String> {
    let mut messages = consumer
        .stream()
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = messages.next() => match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("the subscription ended".to_owned()),
            },
        };
        let change = KeyChanged::decode(message.payload.as_ref());
        let applied = match change {
            Ok(change) if change.kind == TENANT_DELETED => forget_tenant(pool, &change.tenant_id).await,
            // Other changes, and undecodable ones, are not the projector's concern.
            _ => Ok(()),
        };
        let ack = match applied {
            Ok(()) => message.ack().await,
            Err(e) => {
                tracing::warn!(error = %e, "cannot apply a tenant deletion; it will be redelivered");
                message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await
            }
        };
        if let Err(e) = ack {
            tracing::debug!(error = %e, "cannot ack a key change; it will be redelivered");
        }
    }
}

async fn forget_tenant(pool: &PgPool, tenant_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let webhooks = sqlx::query("DELETE FROM usage_webhooks WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let cursors = sqlx::query("DELETE FROM usage_export_cursors WHERE tenant_id = $1")
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    if webhooks + cursors > 0 {
        tracing::info!(
            tenant_id,
            webhooks,
            cursors,
            "tenant deleted: its webhooks and export cursors are gone"
        );
    }
    Ok(())
}
