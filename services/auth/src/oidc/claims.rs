//! What a verified access token says about its holder, read through the
//! configured claim layout. Keycloak's layouts vary by version and mapper:
//! the organization claim is a list of names or a map of name to `{id}`,
//! and roles sit in `realm_access`, `resource_access.<client>` or groups.

use serde_json::Value;

use super::{OidcSettings, TokenError};
use crate::Role;

/// The holder of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `iss` the token was verified against.
    pub issuer: String,
    /// The IdP's id of the holder (`sub`; Keycloak's user id).
    pub subject: String,
    /// What the tenant claim names: organization names and ids, in the
    /// token's order. Matched against tenants' `external_id`.
    pub tenant_refs: Vec<String>,
    /// The highest Keyway role the token's roles map to.
    pub role: Option<Role>,
    pub email: Option<String>,
    pub name: Option<String>,
    /// `exp`, Unix seconds.
    pub expires_at: i64,
}

impl Identity {
    pub(crate) fn from_claims(
        claims: &Value,
        issuer: &str,
        expires_at: i64,
        settings: &OidcSettings,
    ) -> Result<Self, TokenError> {
        let subject = text(claims.get("sub")).ok_or(TokenError::MissingClaim("sub"))?;
        Ok(Self {
            issuer: issuer.to_owned(),
            subject,
            tenant_refs: tenant_refs(claim_at(claims, &settings.tenant_claim)),
            role: role_names(claims, &settings.audience)
                .filter_map(|name| settings.role_map.role_of(name))
                .max(),
            email: text(claims.get("email")),
            name: text(claims.get("preferred_username")).or_else(|| text(claims.get("name"))),
            expires_at,
        })
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    value
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A claim by name, or by dotted path into nested objects when no claim
/// has the whole name (`tenant.id`).
fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    claims
        .get(path)
        .or_else(|| path.split('.').try_fold(claims, |value, part| value.get(part)))
}

/// Organization names and ids: a string, a list of names (Keycloak's
/// default), or a map of name to `{"id": …}` (with "Add organization id").
fn tenant_refs(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(name)) => vec![name.clone()],
        Some(Value::Array(names)) => names.iter().filter_map(|n| text(Some(n))).collect(),
        Some(Value::Object(map)) => map
            .iter()
            .flat_map(|(name, details)| std::iter::once(name.clone()).chain(text(details.get("id"))))
            .collect(),
        _ => Vec::new(),
    }
}

/// Role names from `realm_access.roles`, from `resource_access.<client>.roles`
/// of the audience client, and from `groups` (the last path segment, so
/// `/acme/tenant-admin` counts as `tenant-admin`).
fn role_names<'a>(claims: &'a Value, audience: &str) -> impl Iterator<Item = &'a str> {
    let list = |v: Option<&'a Value>| {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    };
    let realm = list(claims.pointer("/realm_access/roles"));
    let client = list(
        claims
            .get("resource_access")
            .and_then(|r| r.get(audience))
            .and_then(|c| c.get("roles")),
    );
    let groups = list(claims.get("groups")).filter_map(|g| g.rsplit('/').find(|s| !s.is_empty()));
    realm.chain(client).chain(groups)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oidc::RoleMap;

    fn settings() -> Result<OidcSettings, keyway_common::ConfigError> {
        Ok(OidcSettings {
            issuers: vec!["https://sso/realms/a".into()],
            audience: "keyway".into(),
            tenant_claim: "organization".into(),
            role_map: RoleMap::parse("admin=tenant-admin,llm-user=member,ops=platform-admin")?,
            auto_provision: false,
            leeway: std::time::Duration::from_secs(30),
            jwks_refresh: std::time::Duration::from_secs(300),
            kid_cooldown: std::time::Duration::from_secs(10),
        })
    }

    fn identity(claims: Value) -> Result<Identity, TokenError> {
        let settings = settings().map_err(|_| TokenError::MissingClaim("settings"))?;
        Identity::from_claims(&claims, "https://sso/realms/a", 1, &settings)
    }

    #[test]
    fn organization_as_a_list_and_as_a_map() -> Result<(), TokenError> {
        let list = identity(json!({"sub": "u1", "organization": ["acme", "globex"]}))?;
        assert_eq!(list.tenant_refs, ["acme", "globex"]);
        let map = identity(json!({"sub": "u1", "organization": {"acme": {"id": "42"}}}))?;
        assert_eq!(map.tenant_refs, ["acme", "42"]);
        assert!(identity(json!({"sub": "u1"}))?.tenant_refs.is_empty());
        Ok(())
    }

    #[test]
    fn roles_come_from_realm_client_and_groups_and_the_highest_wins() -> Result<(), TokenError> {
        let realm = identity(json!({"sub": "u", "realm_access": {"roles": ["offline_access", "llm-user"]}}))?;
        assert_eq!(realm.role, Some(Role::Member));
        let client = identity(
            json!({"sub": "u", "resource_access": {"keyway": {"roles": ["admin"]}, "other": {"roles": ["ops"]}}}),
        )?;
        assert_eq!(
            client.role,
            Some(Role::TenantAdmin),
            "only the audience client's roles count"
        );
        let groups =
            identity(json!({"sub": "u", "groups": ["/acme/viewer"], "realm_access": {"roles": ["ops"]}}))?;
        assert_eq!(groups.role, Some(Role::PlatformAdmin));
        assert_eq!(
            identity(json!({"sub": "u", "groups": ["/acme/viewer"]}))?.role,
            Some(Role::Viewer)
        );
        assert_eq!(identity(json!({"sub": "u"}))?.role, None);
        Ok(())
    }

    #[test]
    fn a_token_without_a_subject_is_refused_and_profile_claims_are_read() -> Result<(), TokenError> {
        assert_eq!(
            identity(json!({"organization": ["acme"]})),
            Err(TokenError::MissingClaim("sub"))
        );
        let who = identity(json!({"sub": "u", "email": "a@b.c", "preferred_username": "ann"}))?;
        assert_eq!(
            (who.email.as_deref(), who.name.as_deref()),
            (Some("a@b.c"), Some("ann"))
        );
        Ok(())
    }

    #[test]
    fn a_custom_tenant_claim_may_be_a_dotted_path() -> Result<(), TokenError> {
        let mut settings = settings().map_err(|_| TokenError::MissingClaim("settings"))?;
        settings.tenant_claim = "tenant.id".into();
        let who = Identity::from_claims(&json!({"sub": "u", "tenant": {"id": "t-9"}}), "i", 1, &settings)?;
        assert_eq!(who.tenant_refs, ["t-9"]);
        Ok(())
    }
}
