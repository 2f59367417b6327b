//! `KEYWAY_KEYCLOAK_*`: whether and how the key service follows Keycloak
//! identities. Following is on when a service-account client id is set;
//! everything else has a default or is derived from `KEYWAY_OIDC_ISSUER`.

use std::time::Duration;

use keyway_common::{ConfigError, Vars, config::MASK};

/// The webhook secret must be long enough that guessing it is hopeless.
const MIN_WEBHOOK_SECRET: usize = 32;

#[derive(Clone)]
pub struct FollowSettings {
    /// Keycloak's base URL, without `/realms/…`, e.g. `https://sso.example.com`.
    pub base_url: String,
    pub realm: String,
    pub client_id: String,
    /// Held only to hand to the token request; never shown or logged.
    pub client_secret: String,
    /// How often admin events are polled (and new users first checked).
    pub poll_interval: Duration,
    /// How often every followed user is re-read from Keycloak.
    pub reconcile_interval: Duration,
    /// A followed user's credentials fail closed once their status was last
    /// confirmed longer ago than this.
    pub stale_after: Duration,
    /// The HMAC-SHA256 key of the webhook; the route exists only when set.
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for FollowSettings {
    // Hand-written so the client and webhook secrets never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowSettings")
            .field("base_url", &self.base_url)
            .field("realm", &self.realm)
            .field("client_id", &self.client_id)
            .field("poll_interval", &self.poll_interval)
            .field("reconcile_interval", &self.reconcile_interval)
            .field("stale_after", &self.stale_after)
            .finish_non_exhaustive()
    }
}

impl FollowSettings {
    /// `None` when following is off (no `KEYWAY_KEYCLOAK_CLIENT_ID`).
    /// `production` refuses a plain-http Keycloak: the client secret and the
    /// admin tokens cross that connection.
    pub fn from_config(vars: &Vars, production: bool) -> Result<Option<Self>, ConfigError> {
        let Some(client_id) = vars.get("KEYWAY_KEYCLOAK_CLIENT_ID") else {
            return Ok(None);
        };
        let client_secret = vars
            .get("KEYWAY_KEYCLOAK_CLIENT_SECRET")
            .ok_or(ConfigError::Requires {
                var: "KEYWAY_KEYCLOAK_CLIENT_ID",
                needs: "KEYWAY_KEYCLOAK_CLIENT_SECRET",
            })?;
        let (base_url, realm) = locate(vars)?;
        if production && !base_url.starts_with("https://") {
            return Err(ConfigError::InsecureInProduction(vec![
                "KEYWAY_KEYCLOAK_URL must be https (the client secret and admin tokens cross it)",
            ]));
        }
        let interval = 100..=86_400_000;
        let settings = Self {
            base_url,
            realm,
            client_id,
            client_secret,
            poll_interval: vars.millis("KEYWAY_KEYCLOAK_POLL_MS", 5_000, interval.clone())?,
            reconcile_interval: vars.millis("KEYWAY_KEYCLOAK_RECONCILE_MS", 300_000, interval.clone())?,
            stale_after: vars.millis("KEYWAY_KEYCLOAK_STALE_AFTER_MS", 900_000, interval)?,
            webhook_secret: webhook_secret(vars)?,
        };
        if settings.stale_after <= settings.reconcile_interval {
            return Err(ConfigError::invalid(
                "KEYWAY_KEYCLOAK_STALE_AFTER_MS",
                "more than KEYWAY_KEYCLOAK_RECONCILE_MS (or every user would go stale between two reconciliations)",
                &settings.stale_after.as_millis().to_string(),
            ));
        }
        Ok(Some(settings))
    }

    /// `<base>/realms/<realm>/protocol/openid-connect/token`.
    pub fn token_url(&self) -> String {
        format!(
            "{}/realms/{}/protocol/openid-connect/token",
            self.base_url, self.realm
        )
    }

    /// `<base>/admin/realms/<realm>`, under which the admin API lives.
    pub fn admin_url(&self) -> String {
        format!("{}/admin/realms/{}", self.base_url, self.realm)
    }

    /// The section as `keyway config` prints it, secrets masked; with
    /// following off, only that fact.
    pub fn effective(settings: Option<&Self>) -> Vec<(&'static str, String)> {
        let Some(s) = settings else {
            return vec![(
                "KEYWAY_KEYCLOAK_CLIENT_ID",
                "(unset: identities are not followed)".to_owned(),
            )];
        };
        let ms = |d: Duration| d.as_millis().to_string();
        vec![
            (
                "KEYWAY_KEYCLOAK_URL",
                keyway_common::config::redact_url(&s.base_url),
            ),
            ("KEYWAY_KEYCLOAK_REALM", s.realm.clone()),
            ("KEYWAY_KEYCLOAK_CLIENT_ID", s.client_id.clone()),
            ("KEYWAY_KEYCLOAK_CLIENT_SECRET", MASK.to_owned()),
            ("KEYWAY_KEYCLOAK_POLL_MS", ms(s.poll_interval)),
            ("KEYWAY_KEYCLOAK_RECONCILE_MS", ms(s.reconcile_interval)),
            ("KEYWAY_KEYCLOAK_STALE_AFTER_MS", ms(s.stale_after)),
            (
                "KEYWAY_KEYCLOAK_WEBHOOK_SECRET",
                s.webhook_secret
                    .as_ref()
                    .map_or_else(|| "(unset: no webhook route)".to_owned(), |_| MASK.to_owned()),
            ),
        ]
    }
}

/// Keycloak's base URL and realm: given outright, or taken from an issuer
/// of the Keycloak form `<base>/realms/<realm>` (the first, if several).
fn locate(vars: &Vars) -> Result<(String, String), ConfigError> {
    let issuer = vars.get("KEYWAY_OIDC_ISSUER").and_then(|list| {
        list.split(',')
            .map(str::trim)
            .find(|i| !i.is_empty())
            .map(str::to_owned)
    });
    let from_issuer = issuer.as_deref().and_then(|i| {
        let (base, realm) = i.trim_end_matches('/').rsplit_once("/realms/")?;
        (!realm.is_empty() && !realm.contains('/')).then(|| (base.to_owned(), realm.to_owned()))
    });
    let base_url = match vars.get("KEYWAY_KEYCLOAK_URL") {
        Some(url) => url.trim().trim_end_matches('/').to_owned(),
        None => from_issuer
            .as_ref()
            .map(|(b, _)| b.clone())
            .ok_or(ConfigError::Requires {
                var: "KEYWAY_KEYCLOAK_CLIENT_ID",
                needs: "KEYWAY_KEYCLOAK_URL (or a KEYWAY_OIDC_ISSUER of the form <base>/realms/<realm>)",
            })?,
    };
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(ConfigError::invalid(
            "KEYWAY_KEYCLOAK_URL",
            "an http(s) URL such as https://sso.example.com",
            &base_url,
        ));
    }
    let realm = match vars.get("KEYWAY_KEYCLOAK_REALM") {
        Some(realm) => realm.trim().to_owned(),
        None => from_issuer.map(|(_, r)| r).ok_or(ConfigError::Requires {
            var: "KEYWAY_KEYCLOAK_CLIENT_ID",
            needs: "KEYWAY_KEYCLOAK_REALM (or a KEYWAY_OIDC_ISSUER of the form <base>/realms/<realm>)",
        })?,
    };
    if realm.is_empty() || realm.contains('/') || realm.contains('?') || realm.contains('#') {
        return Err(ConfigError::invalid(
            "KEYWAY_KEYCLOAK_REALM",
            "a realm name without '/', '?' or '#'",
            &realm,
        ));
    }
    Ok((base_url, realm))
}

fn webhook_secret(vars: &Vars) -> Result<Option<String>, ConfigError> {
    match vars.get("KEYWAY_KEYCLOAK_WEBHOOK_SECRET") {
        Some(secret) if secret.len() < MIN_WEBHOOK_SECRET => Err(ConfigError::Invalid {
            var: "KEYWAY_KEYCLOAK_WEBHOOK_SECRET".to_owned(),
            expected: format!("at least {MIN_WEBHOOK_SECRET} characters"),
            // The value is a secret: only its length is shown.
            got: format!("{} characters", secret.len()),
        }),
        other => Ok(other),
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<FollowSettings>, ConfigError> {
        let vars = Vars::from_pairs(pairs);
        FollowSettings::from_config(&vars, false)
    }

    const ON: (&str, &str) = ("KEYWAY_KEYCLOAK_CLIENT_ID", "keyway-follower");
    const SECRET: (&str, &str) = ("KEYWAY_KEYCLOAK_CLIENT_SECRET", "s3cret-value");

    #[test]
    fn following_is_off_without_a_client_id() {
        assert!(
            settings(&[("KEYWAY_KEYCLOAK_URL", "http://kc")])
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn the_realm_and_base_url_come_from_the_issuer() {
        let s = settings(&[
            ON,
            SECRET,
            ("KEYWAY_OIDC_ISSUER", "https://sso.example.com/realms/acme/"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (s.base_url.as_str(), s.realm.as_str()),
            ("https://sso.example.com", "acme")
        );
        assert_eq!(
            s.token_url(),
            "https://sso.example.com/realms/acme/protocol/openid-connect/token"
        );
        assert_eq!(s.admin_url(), "https://sso.example.com/admin/realms/acme");
        assert_eq!(s.stale_after, Duration::from_secs(900));
    }

    #[test]
    fn a_client_id_without_its_secret_or_location_names_what_is_missing() {
        let err = settings(&[ON]).err().unwrap().to_string();
        assert!(err.contains("KEYWAY_KEYCLOAK_CLIENT_SECRET"), "{err}");
        let err = settings(&[ON, SECRET]).err().unwrap().to_string();
        assert!(err.contains("KEYWAY_KEYCLOAK_URL"), "{err}");
    }

    #[test]
    fn a_stale_limit_below_the_reconcile_interval_is_refused() {
        let err = settings(&[
            ON,
            SECRET,
            ("KEYWAY_KEYCLOAK_URL", "http://kc"),
            ("KEYWAY_KEYCLOAK_REALM", "r"),
            ("KEYWAY_KEYCLOAK_RECONCILE_MS", "60000"),
            ("KEYWAY_KEYCLOAK_STALE_AFTER_MS", "30000"),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("KEYWAY_KEYCLOAK_STALE_AFTER_MS"), "{err}");
    }

    #[test]
    fn secrets_are_masked_and_never_echoed_in_errors() {
        let base = [
            ON,
            SECRET,
            ("KEYWAY_KEYCLOAK_URL", "http://kc"),
            ("KEYWAY_KEYCLOAK_REALM", "r"),
        ];
        let mut short = base.to_vec();
        short.push(("KEYWAY_KEYCLOAK_WEBHOOK_SECRET", "tooshort-secret"));
        let err = settings(&short).err().unwrap().to_string();
        assert!(
            err.contains("KEYWAY_KEYCLOAK_WEBHOOK_SECRET") && !err.contains("tooshort-secret"),
            "{err}"
        );
        let s = settings(&base).unwrap().unwrap();
        let shown = format!("{:?} {s:?}", FollowSettings::effective(Some(&s)));
        assert!(!shown.contains("s3cret-value"), "{shown}");
    }

    #[test]
    fn production_refuses_plain_http() {
        let vars = Vars::new(
            [ON, SECRET, ("KEYWAY_OIDC_ISSUER", "http://kc/realms/r")]
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        let err = FollowSettings::from_config(&vars, true)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("KEYWAY_KEYCLOAK_URL"), "{err}");
    }
}
