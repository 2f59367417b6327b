//! Following Keycloak identities (docs/identity.md). Keyway users carry the
//! Keycloak user id as `external_subject`; the follower keeps their status
//! in step with Keycloak's, from three sources that all end in the same
//! place — a fresh `GET /admin/realms/{realm}/users/{id}`, whose answer is
//! applied by `apply.rs`:
//!
//! * admin events (`GET …/admin-events`, USER updates and deletions), polled
//!   every `KEYWAY_KEYCLOAK_POLL_MS` from a position kept in the database;
//! * a reconciliation of every followed user every
//!   `KEYWAY_KEYCLOAK_RECONCILE_MS` (and of new users at each poll), which
//!   also catches what admin events miss (events off, or expired);
//! * an HMAC-signed webhook (`webhook.rs`), for pushing changes at once.
//!
//! Events and webhooks are only triggers: what is applied is what Keycloak
//! answers when asked, so a replayed or reordered trigger changes nothing.
//! One key-service instance follows at a time (a lease in the database).

mod apply;
pub(crate) mod gate;
mod keycloak;
mod settings;
mod state;
pub mod webhook;

pub use crate::error::IdentityRefusal;
pub use apply::Source;
pub use keycloak::{Identity, KeycloakError};
pub use settings::FollowSettings;

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{error::KeysError, service::KeyService};
use keycloak::{Keycloak, PAGE};
use state::Cursor;

/// Pages of admin events one poll reads at most; the rest wait a poll.
const MAX_PAGES: usize = 10;
/// New (never confirmed) users checked per poll.
const NEW_PER_POLL: i64 = 100;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Keycloak(#[from] KeycloakError),
    #[error("key service: {0}")]
    Keys(#[from] KeysError),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub struct Follower {
    service: Arc<KeyService>,
    keycloak: Keycloak,
    settings: FollowSettings,
    /// This instance's id in the lease.
    holder: Uuid,
}

impl Follower {
    pub fn new(service: Arc<KeyService>, settings: FollowSettings) -> Result<Arc<Self>, KeycloakError> {
        Ok(Arc::new(Self {
            keycloak: Keycloak::new(&settings)?,
            service,
            settings,
            holder: Uuid::now_v7(),
        }))
    }

    pub fn settings(&self) -> &FollowSettings {
        &self.settings
    }

    /// Asks Keycloak about `subject` and applies the answer; returns how
    /// many Keyway users changed.
    pub async fn check(&self, subject: &str, source: Source) -> Result<usize, FollowError> {
        let identity = self.keycloak.user(subject).await?;
        Ok(self.service.observe_identity(subject, identity, source).await?)
    }

    /// Checks each of `subjects` that some Keyway user follows (the others
    /// are not asked about); returns how many were checked.
    pub async fn check_followed(&self, subjects: Vec<String>, source: Source) -> Result<usize, FollowError> {
        let followed = self.service.followed_among(&subjects).await?;
        for subject in &followed {
            self.check(subject, source).await?;
        }
        Ok(followed.len())
    }

    /// Follows until `shutdown`, then gives the lease up.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(self.settings.poll_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // At once on start: statuses may have changed while Keyway was down.
        let mut next_reconcile = Instant::now();
        let lease_ttl = (self.settings.poll_interval * 3).max(Duration::from_secs(30));
        let (pool, realm) = (self.service.pool().clone(), self.settings.realm.clone());
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let cursor = match state::lease(&pool, &realm, self.holder, lease_ttl).await {
                Ok(Some(cursor)) => cursor,
                // Another instance follows this realm.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "identity follower cannot take its lease");
                    continue;
                }
            };
            self.tick(cursor, &mut next_reconcile).await;
        }
        if let Err(e) = state::release(&pool, &realm, self.holder).await {
            tracing::warn!(error = %e, "identity follower could not give its lease up");
        }
    }

    async fn tick(&self, mut cursor: Cursor, next_reconcile: &mut Instant) {
        if let Err(e) = self.poll_admin_events(&mut cursor).await {
            tracing::warn!(error = %e, "polling Keycloak admin events failed; retrying next poll");
        }
        match self.service.followed_subjects(true, NEW_PER_POLL).await {
            Ok(new) => self.check_each(new, Source::Reconcile).await,
            Err(e) => tracing::warn!(error = %e, "cannot list new followed users"),
        }
        if Instant::now() >= *next_reconcile {
            *next_reconcile = Instant::now() + self.settings.reconcile_interval;
            match self.service.followed_subjects(false, i64::MAX).await {
                Ok(all) => self.check_each(all, Source::Reconcile).await,
                Err(e) => tracing::warn!(error = %e, "cannot list followed users"),
            }
            // Shredding left over by a crash between a deletion and its
            // data key rotation.
            let meta = crate::store::Meta {
                actor: "keycloak:reconcile".into(),
                request_id: None,
            };
            if let Err(e) = self.service.shred_pending(&meta).await {
                tracing::warn!(error = %e, "shredding deleted identities' keys failed; retrying");
            }
        }
    }

    /// Checks every subject; one failure does not hold the others back
    /// (an unconfirmed user simply goes stale if it keeps failing).
    async fn check_each(&self, subjects: Vec<String>, source: Source) {
        let mut failed = 0usize;
        for subject in &subjects {
            if let Err(e) = self.check(subject, source).await {
                failed += 1;
                tracing::warn!(error = %e, subject = %subject, "checking a followed identity failed");
            }
        }
        if failed > 0 {
            tracing::warn!(
                failed,
                checked = subjects.len(),
                "some followed identities could not be confirmed"
            );
        }
    }

    /// Reads admin events from the cursor on, checks the followed users they
    /// name, and moves the cursor past them. A failed check leaves the
    /// cursor where it was, so the events are read again next poll.
    async fn poll_admin_events(&self, cursor: &mut Cursor) -> Result<(), FollowError> {
        let (pool, realm) = (self.service.pool(), self.settings.realm.as_str());
        let from = cursor.time_ms;
        for page in 0..MAX_PAGES {
            let events = self.keycloak.admin_events(from, page * PAGE).await?;
            let fresh: Vec<_> = events.iter().filter(|e| !cursor.covers(e)).collect();
            let named: BTreeSet<String> = fresh
                .iter()
                .filter_map(|e| e.user_id())
                .map(str::to_owned)
                .collect();
            if !named.is_empty() {
                self.check_followed(named.into_iter().collect(), Source::AdminEvents)
                    .await?;
            }
            for event in &fresh {
                cursor.advance(event);
            }
            state::save(pool, realm, self.holder, cursor).await?;
            if events.len() < PAGE {
                break;
            }
        }
        Ok(())
    }
}
