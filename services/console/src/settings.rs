//! The console's configuration (`KEYWAY_CONSOLE_*`, see docs/console.md).

use std::time::Duration;

/// When the session cookie carries `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureCookie {
    /// In production mode, or when the request reached Keyway over TLS (a
    /// TLS-terminating proxy says so with `X-Forwarded-Proto: https`).
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// At most this many sessions are kept; the least recently used go first.
    pub max_sessions: usize,
    pub secure_cookie: SecureCookie,
    /// `KEYWAY_ENV=prod`: the cookie is always `Secure`.
    pub production: bool,
    /// Sign-in with the OIDC provider (authorization code + PKCE), when
    /// `KEYWAY_OIDC_ISSUER` and `KEYWAY_CONSOLE_OIDC_CLIENT_ID` are set.
    pub oidc: Option<OidcSignInSettings>,
}

/// The console's client at the OIDC provider (docs/console.md#keycloak).
#[derive(Debug, Clone)]
pub struct OidcSignInSettings {
    /// The issuer people sign in at: the first of `KEYWAY_OIDC_ISSUER`.
    pub issuer: String,
    /// `KEYWAY_CONSOLE_OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `KEYWAY_CONSOLE_OIDC_CLIENT_SECRET`: a confidential client's secret;
    /// `None` for a public client (PKCE protects the code either way). Its
    /// `Debug` is redacted.
    pub client_secret: Option<openidconnect::ClientSecret>,
    /// `KEYWAY_CONSOLE_PUBLIC_URL`: the console's external origin (e.g.
    /// `https://keyway.example.com`); the redirect URI is
    /// `<it>/console/oidc/callback`. `None`: taken from the request's `Host`
    /// (and `X-Forwarded-Proto`); the provider accepts only the redirect
    /// URIs registered for the client, so a forged `Host` gets nowhere.
    pub public_url: Option<String>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_idle: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            secure_cookie: SecureCookie::Auto,
            production: false,
            oidc: None,
        }
    }
}

impl ConsoleSettings {
    /// Whether a response to a request with these headers sets `Secure`.
    pub(crate) fn cookie_secure(&self, headers: &axum::http::HeaderMap) -> bool {
        match self.secure_cookie {
            SecureCookie::Always => true,
            SecureCookie::Never => false,
            SecureCookie::Auto => {
                // A spoofed header only makes the cookie stricter, so it
                // need not come from a trusted proxy.
                self.production
                    || headers
                        .get("x-forwarded-proto")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
            }
        }
    }
}
