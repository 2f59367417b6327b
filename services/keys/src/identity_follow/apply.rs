//! What an observation of a Keycloak identity does to the Keyway users that
//! follow it (every user whose `external_subject` is that Keycloak id, in
//! any tenant):
//!
//! * enabled or disabled: a `user.identity_changed` event when the status
//!   differs, so the user's API keys and own BYOK keys stop (or resume)
//!   working; Keyway's own `status` is left alone, so a user an admin
//!   disabled in Keyway stays disabled whatever Keycloak says;
//! * deleted: the user's API keys (and the keys they created) are revoked,
//!   their user-scoped BYOK keys deleted and the user deleted, in one
//!   transaction; then the tenant's data key is rotated, which
//!   crypto-shreds the deleted keys' sealed copies left in the event store.
//!
//! Every observation, whatever it changed, confirms the subject: the gate
//! counts staleness from that confirmation.

use sqlx::{Postgres, Row, Transaction};

use super::keycloak::Identity;
use crate::{
    error::KeysError,
    events::{KeyEvent, streams},
    service::KeyService,
    store::Meta,
};

/// Where an observation came from; recorded in the event and its actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    AdminEvents,
    Reconcile,
    Webhook,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::AdminEvents => "admin_events",
            Source::Reconcile => "reconcile",
            Source::Webhook => "webhook",
        }
    }

    fn meta(self) -> Meta {
        Meta {
            actor: format!("keycloak:{}", self.as_str()),
            request_id: None,
        }
    }
}

/// A Keyway user following a Keycloak identity.
#[derive(Debug, sqlx::FromRow)]
struct Follower {
    id: String,
    tenant_id: String,
    identity_status: String,
    version: i64,
}

impl KeyService {
    /// Applies what Keycloak says about `subject`; returns how many Keyway
    /// users changed.
    pub async fn observe_identity(
        &self,
        subject: &str,
        identity: Identity,
        source: Source,
    ) -> Result<usize, KeysError> {
        let users: Vec<Follower> = sqlx::query_as(
            "SELECT id, tenant_id, identity_status, version FROM users WHERE external_subject = $1 ORDER BY id",
        )
        .bind(subject)
        .fetch_all(&self.pool)
        .await?;
        let meta = source.meta();
        let mut changed = 0;
        for user in &users {
            let did = match identity {
                Identity::Enabled => self.set_identity_status(&meta, user, "active", source).await?,
                Identity::Disabled => self.set_identity_status(&meta, user, "disabled", source).await?,
                Identity::Deleted => self.forget_user(&meta, user).await?,
            };
            changed += usize::from(did);
        }
        match identity {
            Identity::Deleted => {
                sqlx::query("DELETE FROM identity_subjects WHERE subject = $1")
                    .bind(subject)
                    .execute(&self.pool)
                    .await?;
                self.shred_pending(&meta).await?;
            }
            Identity::Enabled | Identity::Disabled => {
                sqlx::query(
                    "INSERT INTO identity_subjects (subject, confirmed_at) VALUES ($1, now())
                     ON CONFLICT (subject) DO UPDATE SET confirmed_at = now()",
                )
                .bind(subject)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(changed)
    }

    async fn set_identity_status(
        &self,
        meta: &Meta,
        user: &Follower,
        status: &str,
        source: Source,
    ) -> Result<bool, KeysError> {
        if user.identity_status == status {
            return Ok(false);
        }
        let event = KeyEvent::UserIdentityChanged {
            user_id: user.id.clone(),
            identity_status: status.to_owned(),
            source: source.as_str().to_owned(),
        };
        self.append_one(
            meta,
            streams::user(&user.id),
            user.version,
            &user.tenant_id,
            event,
        )
        .await?;
        tracing::info!(user_id = %user.id, tenant_id = %user.tenant_id, status, source = source.as_str(), "identity status followed");
        Ok(true)
    }

    /// Revokes, deletes and queues the shredding of everything `user` held;
    /// the queue entry commits with the deletion, so a crash before the
    /// rotation still leaves it to `shred_pending`.
    async fn forget_user(&self, meta: &Meta, user: &Follower) -> Result<bool, KeysError> {
        let tenant = user.tenant_id.as_str();
        let mut tx = self.pool.begin().await?;
        // Serializes with sealing and DEK rotation of the same tenant.
        Self::lock_tenant_secrets(&mut tx, tenant).await?;
        let version: Option<i64> = sqlx::query_scalar("SELECT version FROM users WHERE id = $1 FOR UPDATE")
            .bind(&user.id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(version) = version else {
            return Ok(false);
        };
        self.revoke_keys_of(&mut tx, meta, user).await?;
        let sealed = self.delete_user_byok(&mut tx, meta, user).await?;
        let event = KeyEvent::UserDeleted {
            user_id: user.id.clone(),
        };
        self.append(&mut tx, meta, streams::user(&user.id), version, tenant, event)
            .await?;
        if sealed > 0 {
            // A fresh stamp even when already queued: a rotation running now
            // (and so blind to this deletion) then leaves the entry queued.
            sqlx::query(
                "INSERT INTO identity_shreds (tenant_id, queued_at) VALUES ($1, clock_timestamp())
                 ON CONFLICT (tenant_id) DO UPDATE SET queued_at = clock_timestamp()",
            )
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.committed(tenant);
        tracing::info!(user_id = %user.id, tenant_id = tenant, byok_keys = sealed, "identity deleted in Keycloak; user removed");
        Ok(true)
    }

    /// Revokes the user's keys and every key they created, transitively.
    async fn revoke_keys_of(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        meta: &Meta,
        user: &Follower,
    ) -> Result<(), KeysError> {
        let keys = sqlx::query(
            "WITH RECURSIVE owned AS (
                 SELECT id FROM api_keys WHERE tenant_id = $1 AND user_id = $2
                 UNION
                 SELECT k.id FROM api_keys k JOIN owned o ON k.parent_key_id = o.id WHERE k.tenant_id = $1
             )
             SELECT k.id, k.version FROM api_keys k JOIN owned USING (id)
             WHERE k.revoked_at IS NULL ORDER BY k.id FOR UPDATE OF k",
        )
        .bind(&user.tenant_id)
        .bind(&user.id)
        .fetch_all(&mut **tx)
        .await?;
        for key in keys {
            let key_id: String = key.get("id");
            let event = KeyEvent::ApiKeyRevoked {
                key_id: key_id.clone(),
            };
            self.append(
                tx,
                meta,
                streams::api_key(&key_id),
                key.get("version"),
                &user.tenant_id,
                event,
            )
            .await?;
        }
        Ok(())
    }

    /// Deletes the user's own BYOK keys; returns how many there were.
    async fn delete_user_byok(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        meta: &Meta,
        user: &Follower,
    ) -> Result<usize, KeysError> {
        let records = sqlx::query(
            "SELECT id, version FROM byok_keys WHERE tenant_id = $1 AND user_id = $2 ORDER BY id FOR UPDATE",
        )
        .bind(&user.tenant_id)
        .bind(&user.id)
        .fetch_all(&mut **tx)
        .await?;
        for record in &records {
            let record_id: String = record.get("id");
            let event = KeyEvent::ByokKeyDeleted {
                record_id: record_id.clone(),
            };
            self.append(
                tx,
                meta,
                streams::byok(&record_id),
                record.get("version"),
                &user.tenant_id,
                event,
            )
            .await?;
        }
        Ok(records.len())
    }

    /// Rotates the data key of every tenant queued for shredding. Old DEKs
    /// are destroyed by the rotation, so the deleted keys' ciphertexts in
    /// the append-only event store can never be opened again.
    pub(crate) async fn shred_pending(&self, meta: &Meta) -> Result<(), KeysError> {
        let queued: Vec<(String, time::OffsetDateTime)> =
            sqlx::query_as("SELECT tenant_id, queued_at FROM identity_shreds ORDER BY queued_at")
                .fetch_all(&self.pool)
                .await?;
        for (tenant, queued_at) in queued {
            match self.rotate_dek(meta, &tenant).await {
                // A tenant deleted meanwhile was shredded whole.
                Ok(_) | Err(KeysError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            // Unless queued again meanwhile (see `forget_user`).
            sqlx::query("DELETE FROM identity_shreds WHERE tenant_id = $1 AND queued_at = $2")
                .bind(&tenant)
                .bind(queued_at)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// Of `candidates`, the Keycloak ids some Keyway user follows.
    pub(crate) async fn followed_among(&self, candidates: &[String]) -> Result<Vec<String>, KeysError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT external_subject FROM users WHERE external_subject = ANY($1) ORDER BY 1",
        )
        .bind(candidates)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Every followed Keycloak id, least recently confirmed first.
    pub(crate) async fn followed_subjects(
        &self,
        only_unconfirmed: bool,
        limit: i64,
    ) -> Result<Vec<String>, KeysError> {
        Ok(sqlx::query_scalar(
            "SELECT u.external_subject FROM users u
             LEFT JOIN identity_subjects s ON s.subject = u.external_subject
             WHERE u.external_subject IS NOT NULL AND (NOT $1 OR s.subject IS NULL)
             GROUP BY u.external_subject, s.confirmed_at
             ORDER BY s.confirmed_at NULLS FIRST, u.external_subject LIMIT $2",
        )
        .bind(only_unconfirmed)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
