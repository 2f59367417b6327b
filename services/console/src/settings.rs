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
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_idle: Duration::from_secs(30 * 60),
            max_sessions: 10_000,
            secure_cookie: SecureCookie::Auto,
            production: false,
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
