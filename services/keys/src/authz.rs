//! Authorization rules of docs/security.md §6. Tenant scoping comes first: a
//! caller asking about another tenant gets 404, before any role check, so
//! ids of other tenants cannot even be probed.

use keyway_auth::{Caller, Role};

use crate::error::KeysError;

/// 404 unless the caller may see `tenant_id` at all.
pub(crate) fn scope(caller: &Caller, tenant_id: &str, what: &'static str) -> Result<(), KeysError> {
    if caller.role == Role::PlatformAdmin || caller.tenant_id == tenant_id {
        Ok(())
    } else {
        Err(KeysError::NotFound(what))
    }
}

pub(crate) fn require(caller: &Caller, min: Role, action: &str) -> Result<(), KeysError> {
    if caller.role >= min {
        Ok(())
    } else {
        Err(KeysError::Forbidden(format!(
            "the role {} may not {action}",
            caller.role.as_str()
        )))
    }
}

/// Nobody grants a role above their own.
pub(crate) fn may_grant(caller: &Caller, role: Role) -> Result<(), KeysError> {
    if role == Role::PlatformAdmin {
        return Err(KeysError::Forbidden("platform-admin is not a tenant role".into()));
    }
    if role > caller.role {
        return Err(KeysError::Forbidden(format!(
            "the role {} may not grant {}",
            caller.role.as_str(),
            role.as_str()
        )));
    }
    Ok(())
}

pub(crate) fn parse_tenant_role(role: &str) -> Result<Role, KeysError> {
    match Role::parse(role) {
        Some(r) if r != Role::PlatformAdmin => Ok(r),
        _ => Err(KeysError::Invalid(format!(
            "role must be tenant-admin, member or viewer, got {role:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(tenant: &str, role: Role) -> Caller {
        Caller::in_tenant(tenant, role)
    }

    #[test]
    fn another_tenants_data_is_not_found_before_any_role_check() {
        let admin_of_a = caller("a", Role::TenantAdmin);
        assert!(matches!(
            scope(&admin_of_a, "b", "user"),
            Err(KeysError::NotFound("user"))
        ));
        assert!(scope(&admin_of_a, "a", "user").is_ok());
        assert!(scope(&caller("platform", Role::PlatformAdmin), "b", "user").is_ok());
    }

    #[test]
    fn nobody_grants_a_role_above_their_own() {
        let member = caller("a", Role::Member);
        assert!(may_grant(&member, Role::Member).is_ok());
        assert!(may_grant(&member, Role::Viewer).is_ok());
        assert!(matches!(
            may_grant(&member, Role::TenantAdmin),
            Err(KeysError::Forbidden(_))
        ));
        let admin = caller("a", Role::TenantAdmin);
        assert!(may_grant(&admin, Role::TenantAdmin).is_ok());
        assert!(may_grant(&caller("p", Role::PlatformAdmin), Role::PlatformAdmin).is_err());
    }
}
