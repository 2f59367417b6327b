//! The key service's domain events: what is appended to `key_events`. They
//! never hold a plaintext secret — API keys appear only as a peppered HMAC,
//! BYOK keys only sealed under the tenant's DEK, plus a masked hint.

use keyway_auth::Limits;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// One event as stored in `key_events`, with its position in the log and
/// its stream version; what the projection and the outbox read.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub position: i64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub version: i64,
    pub tenant_id: String,
    pub actor: String,
    pub occurred_at: OffsetDateTime,
    pub event: KeyEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KeyEvent {
    TenantCreated {
        tenant_id: String,
        name: String,
        plan: String,
        external_id: Option<String>,
        /// Absent in events recorded before limits existed: no limits.
        #[serde(default)]
        limits: Limits,
        /// The one OIDC issuer the tenant trusts; absent: any configured one.
        #[serde(default)]
        oidc_issuer: Option<String>,
    },
    TenantUpdated {
        tenant_id: String,
        name: String,
        plan: String,
        external_id: Option<String>,
        #[serde(default)]
        limits: Limits,
        /// The one OIDC issuer the tenant trusts; absent: any configured one.
        #[serde(default)]
        oidc_issuer: Option<String>,
    },
    TenantDeleted {
        tenant_id: String,
    },
    UserCreated {
        user_id: String,
        tenant_id: String,
        email: Option<String>,
        display_name: Option<String>,
        role: String,
        external_subject: Option<String>,
    },
    UserUpdated {
        user_id: String,
        email: Option<String>,
        display_name: Option<String>,
        role: String,
        status: String,
    },
    UserDeleted {
        user_id: String,
    },
    /// The user's status in Keycloak, as the identity follower saw it
    /// (`active` or `disabled`); `source` is `admin_events`, `reconcile` or
    /// `webhook`. Separate from `status`, which only Keyway admins set.
    UserIdentityChanged {
        user_id: String,
        identity_status: String,
        source: String,
    },
    ApiKeyCreated {
        key_id: String,
        tenant_id: String,
        user_id: Option<String>,
        name: String,
        role: String,
        scopes: Option<Vec<String>>,
        #[serde(with = "time::serde::rfc3339::option")]
        expires_at: Option<OffsetDateTime>,
        /// Hex HMAC-SHA256(pepper, secret).
        secret_hash: String,
        #[serde(default)]
        limits: Limits,
        /// The API key that created this one, if a key did; revoking it
        /// revokes this one too. Absent in older events.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent_key_id: Option<String>,
    },
    ApiKeyLimitsSet {
        key_id: String,
        limits: Limits,
    },
    ApiKeyRotated {
        key_id: String,
        secret_hash: String,
    },
    ApiKeyRevoked {
        key_id: String,
    },
    ByokKeySet {
        record_id: String,
        tenant_id: String,
        scope: String,
        user_id: Option<String>,
        provider: String,
        label: Option<String>,
        base_url: Option<String>,
        masked: String,
        /// Base64 of the AES-256-GCM ciphertext; opens only with the
        /// tenant's DEK of `dek_version` and this record's AAD.
        sealed: String,
        dek_version: i32,
    },
    ByokKeyResealed {
        record_id: String,
        sealed: String,
        dek_version: i32,
    },
    ByokKeyDeleted {
        record_id: String,
    },
    TenantDekRotated {
        tenant_id: String,
        dek_version: i32,
    },
}

impl KeyEvent {
    /// The stable name stored in `event_type` and sent as the change kind.
    pub fn kind(&self) -> &'static str {
        match self {
            KeyEvent::TenantCreated { .. } => "tenant.created",
            KeyEvent::TenantUpdated { .. } => "tenant.updated",
            KeyEvent::TenantDeleted { .. } => "tenant.deleted",
            KeyEvent::UserCreated { .. } => "user.created",
            KeyEvent::UserUpdated { .. } => "user.updated",
            KeyEvent::UserDeleted { .. } => "user.deleted",
            KeyEvent::UserIdentityChanged { .. } => "user.identity_changed",
            KeyEvent::ApiKeyCreated { .. } => "api_key.created",
            KeyEvent::ApiKeyRotated { .. } => "api_key.rotated",
            KeyEvent::ApiKeyRevoked { .. } => "api_key.revoked",
            KeyEvent::ApiKeyLimitsSet { .. } => "api_key.limits_set",
            KeyEvent::ByokKeySet { .. } => "byok_key.set",
            KeyEvent::ByokKeyResealed { .. } => "byok_key.resealed",
            KeyEvent::ByokKeyDeleted { .. } => "byok_key.deleted",
            KeyEvent::TenantDekRotated { .. } => "tenant.dek_rotated",
        }
    }

    /// The id of what changed (key id, user id, record id or tenant id).
    pub fn subject_id(&self) -> &str {
        match self {
            KeyEvent::TenantCreated { tenant_id, .. }
            | KeyEvent::TenantUpdated { tenant_id, .. }
            | KeyEvent::TenantDeleted { tenant_id }
            | KeyEvent::TenantDekRotated { tenant_id, .. } => tenant_id,
            KeyEvent::UserCreated { user_id, .. }
            | KeyEvent::UserUpdated { user_id, .. }
            | KeyEvent::UserDeleted { user_id }
            | KeyEvent::UserIdentityChanged { user_id, .. } => user_id,
            KeyEvent::ApiKeyCreated { key_id, .. }
            | KeyEvent::ApiKeyRotated { key_id, .. }
            | KeyEvent::ApiKeyRevoked { key_id }
            | KeyEvent::ApiKeyLimitsSet { key_id, .. } => key_id,
            KeyEvent::ByokKeySet { record_id, .. }
            | KeyEvent::ByokKeyResealed { record_id, .. }
            | KeyEvent::ByokKeyDeleted { record_id } => record_id,
        }
    }
}

/// Stream ids: one event stream per aggregate.
pub mod streams {
    pub fn tenant(id: &str) -> String {
        format!("tenant:{id}")
    }
    pub fn user(id: &str) -> String {
        format!("user:{id}")
    }
    pub fn api_key(id: &str) -> String {
        format!("api_key:{id}")
    }
    pub fn byok(id: &str) -> String {
        format!("byok:{id}")
    }
}
