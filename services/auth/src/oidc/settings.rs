//! The OIDC section of the configuration (`KEYWAY_OIDC_*`): which issuers
//! Keyway trusts, for which audience, and how their claims map to Keyway's
//! tenants and roles.

use std::{collections::BTreeMap, time::Duration};

use keyway_common::{ConfigError, Vars};

use crate::Role;

/// How long a token's `exp`/`nbf` may be off, for clock skew between the
/// IdP and Keyway.
const DEFAULT_LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// `KEYWAY_OIDC_ISSUER`, comma-separated: one realm with organizations,
    /// or one realm per tenant. Compared exactly with a token's `iss`.
    pub issuers: Vec<String>,
    /// `KEYWAY_OIDC_AUDIENCE`: a token must carry it in `aud`, or as `azp`.
    pub audience: String,
    /// `KEYWAY_OIDC_TENANT_CLAIM`: a claim name or dotted path (default
    /// Keycloak 26's `organization`), matched against `external_id`.
    pub tenant_claim: String,
    pub role_map: RoleMap,
    /// `KEYWAY_OIDC_AUTO_PROVISION`: create the tenant of an unknown
    /// organization on first sight instead of refusing the token.
    pub auto_provision: bool,
    /// `KEYWAY_OIDC_LEEWAY_SECS`: allowed clock skew for `exp` and `nbf`.
    pub leeway: Duration,
    /// `KEYWAY_OIDC_JWKS_REFRESH_MS`: how often each issuer's keys are
    /// fetched again, so a key the IdP retires stops being trusted.
    pub jwks_refresh: Duration,
    /// `KEYWAY_OIDC_KID_COOLDOWN_MS`: the least time between two fetches
    /// caused by unknown `kid`s, so made-up kids cannot hammer the IdP.
    pub kid_cooldown: Duration,
}

impl OidcSettings {
    /// `None` when `KEYWAY_OIDC_ISSUER` is unset: OIDC is off and only API
    /// keys are accepted.
    pub fn from_vars(vars: &Vars) -> Result<Option<Self>, ConfigError> {
        let Some(raw_issuers) = vars.get("KEYWAY_OIDC_ISSUER") else {
            return Ok(None);
        };
        let issuers = parse_issuers(&raw_issuers)?;
        let audience = vars.get("KEYWAY_OIDC_AUDIENCE").ok_or(ConfigError::Requires {
            var: "KEYWAY_OIDC_ISSUER",
            needs: "KEYWAY_OIDC_AUDIENCE",
        })?;
        let role_map = match vars.get("KEYWAY_OIDC_ROLE_MAP") {
            Some(raw) => RoleMap::parse(&raw)?,
            None => RoleMap::default(),
        };
        let minute = 60_000;
        Ok(Some(Self {
            issuers,
            audience,
            tenant_claim: vars.string("KEYWAY_OIDC_TENANT_CLAIM", "organization"),
            role_map,
            auto_provision: vars.flag("KEYWAY_OIDC_AUTO_PROVISION", false)?,
            leeway: Duration::from_secs(vars.number(
                "KEYWAY_OIDC_LEEWAY_SECS",
                DEFAULT_LEEWAY_SECS,
                0..=300,
            )?),
            jwks_refresh: vars.millis(
                "KEYWAY_OIDC_JWKS_REFRESH_MS",
                5 * minute,
                1_000..=24 * 60 * minute,
            )?,
            kid_cooldown: vars.millis("KEYWAY_OIDC_KID_COOLDOWN_MS", 10_000, 0..=60 * minute)?,
        }))
    }

    /// The effective settings, for `keyway config` (nothing here is secret).
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KEYWAY_OIDC_ISSUER", self.issuers.join(",")),
            ("KEYWAY_OIDC_AUDIENCE", self.audience.clone()),
            ("KEYWAY_OIDC_TENANT_CLAIM", self.tenant_claim.clone()),
            ("KEYWAY_OIDC_ROLE_MAP", self.role_map.to_string()),
            ("KEYWAY_OIDC_AUTO_PROVISION", self.auto_provision.to_string()),
            ("KEYWAY_OIDC_LEEWAY_SECS", self.leeway.as_secs().to_string()),
            (
                "KEYWAY_OIDC_JWKS_REFRESH_MS",
                self.jwks_refresh.as_millis().to_string(),
            ),
            (
                "KEYWAY_OIDC_KID_COOLDOWN_MS",
                self.kid_cooldown.as_millis().to_string(),
            ),
        ]
    }
}

fn parse_issuers(raw: &str) -> Result<Vec<String>, ConfigError> {
    let expected = "comma-separated absolute http(s) URLs, e.g. https://sso.example.com/realms/acme";
    let mut issuers = Vec::new();
    for issuer in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match url::Url::parse(issuer) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                issuers.push(issuer.to_owned());
            }
            _ => return Err(ConfigError::invalid("KEYWAY_OIDC_ISSUER", expected, issuer)),
        }
    }
    if issuers.is_empty() {
        return Err(ConfigError::invalid("KEYWAY_OIDC_ISSUER", expected, raw));
    }
    Ok(issuers)
}

/// IdP role names to Keyway roles (`KEYWAY_OIDC_ROLE_MAP`, for example
/// `admin=tenant-admin,llm-user=member`). A role named like a Keyway role
/// maps to itself unless the map says otherwise.
#[derive(Debug, Clone, Default)]
pub struct RoleMap(BTreeMap<String, Role>);

impl RoleMap {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let expected = "comma-separated idp-role=keyway-role pairs; keyway roles are \
                        platform-admin, tenant-admin, member, viewer";
        let mut map = BTreeMap::new();
        for pair in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (idp, keyway) = pair
                .split_once('=')
                .ok_or_else(|| ConfigError::invalid("KEYWAY_OIDC_ROLE_MAP", expected, pair))?;
            let role = Role::parse(keyway.trim())
                .ok_or_else(|| ConfigError::invalid("KEYWAY_OIDC_ROLE_MAP", expected, pair))?;
            let idp = idp.trim();
            if idp.is_empty() {
                return Err(ConfigError::invalid("KEYWAY_OIDC_ROLE_MAP", expected, pair));
            }
            map.insert(idp.to_owned(), role);
        }
        Ok(Self(map))
    }

    /// The Keyway role an IdP role name grants, if any.
    pub fn role_of(&self, idp_role: &str) -> Option<Role> {
        self.0.get(idp_role).copied().or_else(|| Role::parse(idp_role))
    }
}

impl std::fmt::Display for RoleMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pairs: Vec<String> = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str()))
            .collect();
        f.write_str(&pairs.join(","))
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        Vars::from_pairs(pairs)
    }

    #[test]
    fn oidc_is_off_without_an_issuer_and_needs_an_audience_with_one() {
        assert!(matches!(OidcSettings::from_vars(&vars(&[])), Ok(None)));
        let err = OidcSettings::from_vars(&vars(&[("KEYWAY_OIDC_ISSUER", "https://sso/realms/a")]));
        assert!(err.is_err_and(|e| e.to_string().contains("KEYWAY_OIDC_AUDIENCE")));
    }

    #[test]
    fn several_issuers_and_a_role_map_parse() -> Result<(), ConfigError> {
        let settings = OidcSettings::from_vars(&vars(&[
            (
                "KEYWAY_OIDC_ISSUER",
                "https://sso/realms/a, http://127.0.0.1:8081/realms/b",
            ),
            ("KEYWAY_OIDC_AUDIENCE", "keyway"),
            ("KEYWAY_OIDC_ROLE_MAP", "admin=tenant-admin, llm-user=member"),
        ]))?
        .ok_or(ConfigError::Requires {
            var: "test",
            needs: "settings",
        })?;
        assert_eq!(settings.issuers.len(), 2);
        assert_eq!(settings.role_map.role_of("admin"), Some(Role::TenantAdmin));
        assert_eq!(settings.role_map.role_of("viewer"), Some(Role::Viewer));
        assert_eq!(settings.role_map.role_of("offline_access"), None);
        Ok(())
    }

    #[test]
    fn bad_values_name_the_variable_and_what_is_allowed() {
        for (name, value) in [
            ("KEYWAY_OIDC_ISSUER", "not a url"),
            ("KEYWAY_OIDC_ROLE_MAP", "admin=superuser"),
            ("KEYWAY_OIDC_ROLE_MAP", "admin"),
        ] {
            let mut pairs = vec![
                ("KEYWAY_OIDC_ISSUER", "https://sso/realms/a"),
                ("KEYWAY_OIDC_AUDIENCE", "k"),
            ];
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            let err = OidcSettings::from_vars(&vars(&pairs))
                .err()
                .map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(name)),
                "{name}: {err:?}"
            );
        }
    }
}
