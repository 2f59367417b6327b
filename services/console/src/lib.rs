//! The tenant console: server-rendered pages at `/console`, served by
//! Keyway itself. Every page is drawn from Keyway's own REST API, called
//! in-process with the signed-in person's credential, so the console can
//! never see or do more than that credential could with curl (tenant
//! isolation, roles and plans are the API's, not re-implemented here).
//!
//! Templates and the one small script are embedded in the binary; nothing
//! is fetched from elsewhere (see docs/console.md).

mod api;
mod assets;
mod charts;
mod csrf;
mod error;
mod oidc;
mod pages;
mod render;
mod security;
mod session;
mod settings;

use std::sync::Arc;

use axum::Router;
use keyway_auth::Authenticator;

pub use openidconnect::ClientSecret;
pub use settings::{ConsoleSettings, OidcSignInSettings, SecureCookie};

use crate::{api::Api, oidc::OidcSignIn, render::Templates, session::Sessions};

/// What the console needs from the process that mounts it.
pub struct ConsoleDeps {
    /// The API's routes (`/v1`, `/api/v1`), called in-process.
    pub api: Router,
    /// Resolves a credential presented at sign-in to a caller.
    pub authenticator: Arc<dyn Authenticator>,
    pub settings: ConsoleSettings,
}

/// The console's shared state.
pub(crate) struct Console {
    pub(crate) api: Api,
    pub(crate) authenticator: Arc<dyn Authenticator>,
    pub(crate) sessions: Sessions,
    pub(crate) templates: Templates,
    pub(crate) settings: ConsoleSettings,
    /// Keycloak sign-in, when configured.
    pub(crate) oidc: Option<OidcSignIn>,
}

/// The console's routes, all under `/console`.
pub fn router(deps: ConsoleDeps) -> Router {
    let oidc = deps.settings.oidc.clone().and_then(|settings| {
        OidcSignIn::new(settings)
            .inspect_err(|error| {
                tracing::error!(error = %error, "console: Keycloak sign-in is off (no HTTP client)");
            })
            .ok()
    });
    let console = Arc::new(Console {
        api: Api::new(deps.api),
        authenticator: deps.authenticator,
        sessions: Sessions::new(deps.settings.session_idle, deps.settings.max_sessions),
        templates: Templates::new(),
        settings: deps.settings,
        oidc,
    });
    pages::routes()
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            csrf::verify,
        ))
        .merge(assets::routes())
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            security::headers,
        ))
        .with_state(console)
}
