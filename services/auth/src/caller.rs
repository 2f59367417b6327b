//! The authenticated caller and its role.

use serde::{Deserialize, Serialize};

use crate::CallerLimits;

/// The reserved tenant that the platform admin key's traffic is billed to.
pub const PLATFORM_TENANT: &str = "platform";

/// Roles, highest first. `platform-admin` is global; the others are scoped to
/// one tenant. Nobody may grant a role above their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Viewer,
    Member,
    TenantAdmin,
    PlatformAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::TenantAdmin => "tenant-admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "platform-admin" => Some(Role::PlatformAdmin),
            "tenant-admin" => Some(Role::TenantAdmin),
            "member" => Some(Role::Member),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Viewers read; they never spend.
    pub fn may_send_llm_traffic(self) -> bool {
        self >= Role::Member
    }
}

/// Who a request acts as, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    pub tenant_id: String,
    pub user_id: Option<String>,
    /// The public id of the gateway API key used, if any.
    pub api_key_id: Option<String>,
    pub role: Role,
    /// The models this caller may use; `None` means every model.
    pub scopes: Option<Vec<String>>,
    /// When the credential stops being valid (Unix seconds), so a cache
    /// never serves it past its expiry.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The rate limits and budgets the gateway enforces for this caller.
    #[serde(default)]
    pub limits: CallerLimits,
}

impl Caller {
    pub fn platform_admin() -> Self {
        Self::in_tenant(PLATFORM_TENANT, Role::PlatformAdmin)
    }

    /// A caller of `tenant_id` with `role`: no user, no API key, every
    /// model, no expiry and no limits. Set the other fields on top.
    pub fn in_tenant(tenant_id: &str, role: Role) -> Self {
        Self {
            tenant_id: tenant_id.to_owned(),
            user_id: None,
            api_key_id: None,
            role,
            scopes: None,
            expires_at: None,
            limits: CallerLimits::default(),
        }
    }

    pub fn is_expired_at(&self, unix_now: i64) -> bool {
        self.expires_at.is_some_and(|t| t <= unix_now)
    }

    pub fn may_use_model(&self, model: &str) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.iter().any(|m| m == model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_order_by_power() {
        for role in [Role::PlatformAdmin, Role::TenantAdmin, Role::Member, Role::Viewer] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert!(Role::PlatformAdmin > Role::TenantAdmin);
        assert!(Role::TenantAdmin > Role::Member);
        assert!(Role::Member > Role::Viewer);
        assert!(!Role::Viewer.may_send_llm_traffic());
        assert!(Role::Member.may_send_llm_traffic());
    }
}
