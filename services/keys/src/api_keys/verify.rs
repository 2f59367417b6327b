//! Verification: a presented key to a `Caller`, on every gateway request
//! whose credentials are not cached, so it is one indexed lookup.

use keyway_auth::{AuthError, Caller, CallerLimits, Limits, Role, secrets_equal};
use sqlx::Row;
use time::OffsetDateTime;

use super::ApiKeys;
use crate::{
    identity_follow::gate::{gate_columns, gate_join, gate_verdict},
    key_format,
    service::KeyService,
};

impl ApiKeys<'_> {
    /// Resolves a presented gateway API key (or the admin key) to a caller.
    pub async fn verify(&self, presented: &str) -> Result<Caller, AuthError> {
        if presented.is_empty() {
            return Err(AuthError::Missing);
        }
        if self.service.admin.is_admin_key(presented) {
            return Ok(Caller::platform_admin());
        }
        if keyway_auth::oidc::looks_like_jwt(presented) {
            return self.service.verify_token(presented).await;
        }
        let parsed = key_format::parse(presented).ok_or(AuthError::Invalid)?;
        if parsed.env != self.service.settings.key_env {
            return Err(AuthError::Invalid);
        }
        // Hashed before the lookup and compared even when the id is unknown,
        // so a known id with a wrong secret costs the same as an unknown id.
        let presented_hash = self.hash_secret(parsed.secret);
        // The identity gate's columns come in the same query: one round trip.
        let row = sqlx::query(concat!(
            "SELECT k.tenant_id, k.user_id, k.role, k.scopes, k.expires_at, k.secret_hash, k.revoked_at,
                    k.limits AS key_limits, t.limits AS tenant_limits, u.role AS user_role, ",
            gate_columns!(),
            " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
             LEFT JOIN users u ON u.id = k.user_id ",
            gate_join!(),
            " WHERE k.id = $1"
        ))
        .bind(parsed.id)
        .bind(self.service.gate_stale_after_secs())
        .fetch_optional(&self.service.pool)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "api key lookup failed");
            AuthError::Unavailable
        })?;
        let stored: Option<Vec<u8>> = row.as_ref().map(|r| r.get("secret_hash"));
        let (Some(row), true) = (row, secret_matches(&presented_hash, stored.as_deref())) else {
            return Err(AuthError::Invalid);
        };
        let revoked: Option<OffsetDateTime> = row.get("revoked_at");
        let expires: Option<OffsetDateTime> = row.get("expires_at");
        if revoked.is_some() || expires.is_some_and(|t| t <= OffsetDateTime::now_utc()) {
            return Err(AuthError::Invalid);
        }
        let user_id: Option<String> = row.get("user_id");
        let mut role = Role::parse(row.get::<&str, _>("role")).ok_or(AuthError::Invalid)?;
        if user_id.is_some() {
            // Disabled in Keyway or in Keycloak, or not confirmed by it
            // recently enough: the key stops working.
            gate_verdict(&row)?;
            // A demoted user's keys are demoted too.
            if let Some(user_role) = row.get::<Option<&str>, _>("user_role").and_then(Role::parse) {
                role = role.min(user_role);
            }
        }
        Ok(Caller {
            tenant_id: row.get("tenant_id"),
            user_id,
            api_key_id: Some(parsed.id.to_owned()),
            role,
            scopes: row.get("scopes"),
            expires_at: expires.map(OffsetDateTime::unix_timestamp),
            limits: CallerLimits {
                tenant: row.get::<sqlx::types::Json<Limits>, _>("tenant_limits").0,
                api_key: row.get::<sqlx::types::Json<Limits>, _>("key_limits").0,
            },
        })
    }
}

/// Compares against a dummy hash when the id is unknown, doing the same
/// work as for a known id, so the answer's timing does not reveal which ids
/// exist.
fn secret_matches(presented_hash: &[u8; 32], stored: Option<&[u8]>) -> bool {
    const UNKNOWN_ID: [u8; 32] = [0; 32];
    let equal = secrets_equal(presented_hash, stored.unwrap_or(&UNKNOWN_ID));
    equal & stored.is_some()
}

#[async_trait::async_trait]
impl keyway_auth::Authenticator for KeyService {
    async fn authenticate(&self, presented: &str) -> Result<Caller, AuthError> {
        self.api_keys().verify(presented).await
    }
}

#[cfg(test)]
mod tests {
    use super::secret_matches;

    #[test]
    fn an_unknown_id_is_compared_against_a_dummy_and_never_matches() {
        let zero = [0u8; 32];
        // Even a presented hash equal to the dummy cannot pass for an unknown id.
        assert!(!secret_matches(&zero, None));
        assert!(secret_matches(&zero, Some(&zero)));
        assert!(!secret_matches(&[1; 32], Some(&zero)));
    }
}
