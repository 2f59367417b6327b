//! Mounts the tenant console (`keyway-console`) at `/console` when this
//! process runs the whole stack (`keyway up`): the console calls the
//! gateway, key and usage APIs in-process, so it needs all three here.
//! `KEYWAY_CONSOLE=off` leaves it out.

use std::{sync::Arc, time::Duration};

use axum::Router;
use keyway_auth::oidc::OidcSettings;
use keyway_common::{Config, ConfigError, Environment};
use keyway_console::{ClientSecret, ConsoleDeps, ConsoleSettings, OidcSignInSettings, SecureCookie};
use keyway_keys::service::KeyService;

use crate::{Services, error::StartError};

/// The console's settings, or `None` when `KEYWAY_CONSOLE=off`; read the
/// same way by `keyway config`.
pub(crate) fn settings(config: &Config) -> Result<Option<ConsoleSettings>, ConfigError> {
    let vars = config.vars();
    if !vars.flag("KEYWAY_CONSOLE", true)? {
        return Ok(None);
    }
    Ok(Some(ConsoleSettings {
        session_idle: Duration::from_secs(vars.number(
            "KEYWAY_CONSOLE_SESSION_IDLE_SECS",
            1800,
            60..=86_400,
        )?),
        max_sessions: vars.number("KEYWAY_CONSOLE_MAX_SESSIONS", 10_000, 1..=1_000_000)? as usize,
        secure_cookie: vars.choice(
            "KEYWAY_CONSOLE_SECURE_COOKIE",
            SecureCookie::Auto,
            &[
                ("auto", SecureCookie::Auto),
                ("always", SecureCookie::Always),
                ("never", SecureCookie::Never),
            ],
        )?,
        production: config.env == Environment::Prod,
        oidc: oidc_sign_in(config)?,
    }))
}

/// Keycloak sign-in, when OIDC is on and the console has a client there.
/// People sign in at the first trusted issuer; their tokens are then read
/// exactly as the API reads a bearer token from it.
fn oidc_sign_in(config: &Config) -> Result<Option<OidcSignInSettings>, ConfigError> {
    let vars = config.vars();
    let client_id = vars.get("KEYWAY_CONSOLE_OIDC_CLIENT_ID");
    let Some(oidc) = OidcSettings::from_vars(vars)? else {
        return match client_id {
            Some(_) => Err(ConfigError::Requires {
                var: "KEYWAY_CONSOLE_OIDC_CLIENT_ID",
                needs: "KEYWAY_OIDC_ISSUER",
            }),
            None => Ok(None),
        };
    };
    let (Some(client_id), Some(issuer)) = (client_id, oidc.issuers.first()) else {
        return Ok(None);
    };
    let public_url = vars
        .get("KEYWAY_CONSOLE_PUBLIC_URL")
        .map(|raw| {
            let origin = raw.trim_end_matches('/');
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"))
                .unwrap_or_default();
            let is_origin = !host.is_empty()
                && !host.contains(|c: char| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace());
            match is_origin {
                true => Ok(origin.to_owned()),
                false => Err(ConfigError::invalid(
                    "KEYWAY_CONSOLE_PUBLIC_URL",
                    "an origin such as https://keyway.example.com",
                    &raw,
                )),
            }
        })
        .transpose()?;
    Ok(Some(OidcSignInSettings {
        issuer: issuer.clone(),
        client_id,
        client_secret: vars
            .get("KEYWAY_CONSOLE_OIDC_CLIENT_SECRET")
            .filter(|s| !s.is_empty())
            .map(ClientSecret::new),
        public_url,
    }))
}

/// The console's rows of `keyway config`, secrets masked.
pub(crate) fn effective(config: &Config) -> Result<Vec<(&'static str, String)>, ConfigError> {
    Ok(match settings(config)? {
        None => vec![("KEYWAY_CONSOLE", "off".to_owned())],
        Some(c) => vec![
            ("KEYWAY_CONSOLE", "on (with `keyway up`)".to_owned()),
            (
                "KEYWAY_CONSOLE_SESSION_IDLE_SECS",
                c.session_idle.as_secs().to_string(),
            ),
            ("KEYWAY_CONSOLE_MAX_SESSIONS", c.max_sessions.to_string()),
            (
                "KEYWAY_CONSOLE_SECURE_COOKIE",
                match c.secure_cookie {
                    keyway_console::SecureCookie::Auto => "auto",
                    keyway_console::SecureCookie::Always => "always",
                    keyway_console::SecureCookie::Never => "never",
                }
                .to_owned(),
            ),
            (
                "KEYWAY_CONSOLE_OIDC_CLIENT_ID",
                c.oidc.as_ref().map_or_else(
                    || "(unset: API-key sign-in only)".to_owned(),
                    |o| o.client_id.clone(),
                ),
            ),
            (
                "KEYWAY_CONSOLE_OIDC_CLIENT_SECRET",
                match c.oidc.as_ref().map(|o| o.client_secret.is_some()) {
                    Some(true) => "********",
                    _ => "(unset: a public client)",
                }
                .to_owned(),
            ),
            (
                "KEYWAY_CONSOLE_PUBLIC_URL",
                c.oidc
                    .as_ref()
                    .and_then(|o| o.public_url.clone())
                    .unwrap_or_else(|| "(from the request's Host)".to_owned()),
            ),
        ],
    })
}

/// The console's router, or `None` when it is off or this process runs
/// only some services. `api` are the routes it calls in-process.
pub(crate) fn mount(
    config: &Config,
    services: Services,
    keys: Arc<KeyService>,
    api: &[Router],
) -> Result<Option<Router>, StartError> {
    if services != Services::ALL {
        return Ok(None);
    }
    let Some(settings) = settings(config)? else {
        return Ok(None);
    };
    let api = api.iter().cloned().fold(Router::new(), Router::merge);
    Ok(Some(keyway_console::router(ConsoleDeps {
        api,
        authenticator: keys,
        settings,
    })))
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn oidc(pairs: &[(&str, &str)]) -> Result<Option<OidcSignInSettings>, ConfigError> {
        let config = Config::from_source(keyway_common::Vars::from_pairs(pairs))?;
        Ok(settings(&config)?.and_then(|s| s.oidc))
    }

    const ISSUER: (&str, &str) = ("KEYWAY_OIDC_ISSUER", "https://sso/realms/a,https://sso/realms/b");
    const AUDIENCE: (&str, &str) = ("KEYWAY_OIDC_AUDIENCE", "keyway");
    const CLIENT: (&str, &str) = ("KEYWAY_CONSOLE_OIDC_CLIENT_ID", "keyway-console");

    #[test]
    fn keycloak_sign_in_needs_oidc_and_a_client_and_uses_the_first_issuer() {
        assert!(oidc(&[]).unwrap().is_none());
        assert!(
            oidc(&[ISSUER, AUDIENCE]).unwrap().is_none(),
            "no client: API keys only"
        );
        assert!(matches!(oidc(&[CLIENT]), Err(ConfigError::Requires { .. })));
        let on = oidc(&[ISSUER, AUDIENCE, CLIENT]).unwrap().unwrap();
        assert_eq!(
            (on.issuer.as_str(), on.client_id.as_str()),
            ("https://sso/realms/a", "keyway-console")
        );
        assert!(on.client_secret.is_none() && on.public_url.is_none());
    }

    #[test]
    fn the_public_url_is_an_origin_and_the_secret_never_shows() {
        let secret = ("KEYWAY_CONSOLE_OIDC_CLIENT_SECRET", "s3cret-value");
        let public = ("KEYWAY_CONSOLE_PUBLIC_URL", "https://keyway.example.com/");
        let on = oidc(&[ISSUER, AUDIENCE, CLIENT, secret, public])
            .unwrap()
            .unwrap();
        assert_eq!(on.public_url.as_deref(), Some("https://keyway.example.com"));
        assert!(!format!("{on:?}").contains("s3cret-value"));
        for bad in [
            "keyway.example.com",
            "https://k.example.com/console",
            "https://",
            "ftp://k",
        ] {
            let public = ("KEYWAY_CONSOLE_PUBLIC_URL", bad);
            assert!(oidc(&[ISSUER, AUDIENCE, CLIENT, public]).is_err(), "{bad}");
        }
    }
}
