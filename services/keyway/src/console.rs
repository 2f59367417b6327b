//! Mounts the tenant console (`keyway-console`) at `/console` when this
//! process runs the whole stack (`keyway up`): the console calls the
//! gateway, key and usage APIs in-process, so it needs all three here.
//! `KEYWAY_CONSOLE=off` leaves it out.

use std::{sync::Arc, time::Duration};

use axum::Router;
use keyway_common::{Config, ConfigError, Environment};
use keyway_console::{ConsoleDeps, ConsoleSettings, SecureCookie};
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
    }))
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
