//! The identity gate: before a user-bound API key or a user's own BYOK key
//! is honoured, the user must be active in Keyway, not disabled in
//! Keycloak, and — when following is on — confirmed by Keycloak recently
//! enough. A follower that cannot reach Keycloak therefore fails closed
//! once `KEYWAY_KEYCLOAK_STALE_AFTER_MS` has passed, instead of letting a
//! deleted identity's credentials work forever.

use keyway_auth::AuthError;
use sqlx::Row;

use crate::{
    error::{IdentityRefusal, KeysError},
    service::KeyService,
};

impl From<IdentityRefusal> for AuthError {
    fn from(r: IdentityRefusal) -> Self {
        match r {
            IdentityRefusal::Inactive => AuthError::Invalid,
            IdentityRefusal::Unconfirmed => AuthError::IdentityUnconfirmed,
        }
    }
}

impl KeyService {
    /// Checks that `user_id`'s credentials may be used now. Staleness is
    /// judged by the database's clock, which also stamped the confirmation.
    pub(crate) async fn identity_gate(&self, user_id: &str) -> Result<(), KeysError> {
        // A user never confirmed yet counts from its creation, so a user
        // added a moment ago works until the follower's first look at it.
        let row = sqlx::query(
            "SELECT u.status, u.identity_status,
                    u.external_subject IS NOT NULL
                      AND now() - COALESCE(s.confirmed_at, u.created_at) > make_interval(secs => $2) AS stale
             FROM users u LEFT JOIN identity_subjects s ON s.subject = u.external_subject
             WHERE u.id = $1",
        )
        .bind(user_id)
        .bind(self.identity_stale_after.map(|d| d.as_secs_f64()))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Err(KeysError::Identity(IdentityRefusal::Inactive));
        };
        if row.get::<&str, _>("status") != "active" || row.get::<&str, _>("identity_status") != "active" {
            return Err(KeysError::Identity(IdentityRefusal::Inactive));
        }
        // NULL when following is off: nothing is ever stale then.
        if row.get::<Option<bool>, _>("stale") == Some(true) {
            return Err(KeysError::Identity(IdentityRefusal::Unconfirmed));
        }
        Ok(())
    }

    /// As `identity_gate`, for the authentication path's error type.
    pub(crate) async fn identity_gate_auth(&self, user_id: &str) -> Result<(), AuthError> {
        self.identity_gate(user_id).await.map_err(|e| match e {
            KeysError::Identity(r) => r.into(),
            other => {
                tracing::error!(error = %other, "identity gate lookup failed");
                AuthError::Unavailable
            }
        })
    }
}
