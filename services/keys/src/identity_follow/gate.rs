//! The identity gate: before a user-bound API key or a user's own BYOK key
//! is honoured, the user must be active in Keyway, not disabled in
//! Keycloak, and — when following is on — confirmed by Keycloak recently
//! enough. A follower that cannot reach Keycloak therefore fails closed
//! once `KEYWAY_KEYCLOAK_STALE_AFTER_MS` has passed, instead of letting a
//! deleted identity's credentials work forever.
//!
//! The gate's columns can be joined into a query that already reads the
//! user (`gate_columns!` and `gate_join!`), so that a key's verification is
//! one query, not two.

use keyway_auth::AuthError;
use sqlx::{Row, postgres::PgRow};

use crate::{
    error::{IdentityRefusal, KeysError},
    service::KeyService,
};

/// What the gate reads of the user `u`, for a query that also has
/// `gate_join!()` and binds `KeyService::gate_stale_after_secs` as `$2`.
/// Staleness is judged by the database's clock, which also stamped the
/// confirmation. A user never confirmed yet counts from its creation, so a
/// user added a moment ago works until the follower's first look at it.
macro_rules! gate_columns {
    () => {
        "u.status AS gate_status, u.identity_status AS gate_identity_status,
         u.external_subject IS NOT NULL
           AND now() - COALESCE(gate_s.confirmed_at, u.created_at) > make_interval(secs => $2) AS gate_stale"
    };
}
macro_rules! gate_join {
    () => {
        "LEFT JOIN identity_subjects gate_s ON gate_s.subject = u.external_subject"
    };
}
pub(crate) use {gate_columns, gate_join};

/// The gate's answer for a row with `gate_columns!()`. A missing user
/// (NULL status) is inactive.
pub(crate) fn gate_verdict(row: &PgRow) -> Result<(), IdentityRefusal> {
    let active = |column| row.get::<Option<&str>, _>(column) == Some("active");
    if !active("gate_status") || !active("gate_identity_status") {
        return Err(IdentityRefusal::Inactive);
    }
    // NULL when following is off: nothing is ever stale then.
    if row.get::<Option<bool>, _>("gate_stale") == Some(true) {
        return Err(IdentityRefusal::Unconfirmed);
    }
    Ok(())
}

impl From<IdentityRefusal> for AuthError {
    fn from(r: IdentityRefusal) -> Self {
        match r {
            IdentityRefusal::Inactive => AuthError::Invalid,
            IdentityRefusal::Unconfirmed => AuthError::IdentityUnconfirmed,
        }
    }
}

impl KeyService {
    /// The staleness limit the gate's queries bind as `$2`: NULL when
    /// following is off.
    pub(crate) fn gate_stale_after_secs(&self) -> Option<f64> {
        self.identity_stale_after.map(|d| d.as_secs_f64())
    }

    /// Checks that `user_id`'s credentials may be used now.
    pub(crate) async fn identity_gate(&self, user_id: &str) -> Result<(), KeysError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            gate_columns!(),
            " FROM users u ",
            gate_join!(),
            " WHERE u.id = $1"
        ))
        .bind(user_id)
        .bind(self.gate_stale_after_secs())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => gate_verdict(&row).map_err(KeysError::Identity),
            None => Err(KeysError::Identity(IdentityRefusal::Inactive)),
        }
    }
}
