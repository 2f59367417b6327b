//! Keycloak sign-in: OIDC authorization code with PKCE (S256), state and
//! nonce. Starting a sign-in keeps a pending record **on the server** (the
//! PKCE verifier, state, nonce and redirect URI), found again by a random
//! id in a short-lived cookie; the callback consumes the record once, so a
//! replayed or forged callback finds nothing. Tokens are never logged,
//! rendered or put in a cookie: the access token becomes the session's
//! credential, read by the same authenticator as an API bearer token.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata},
    reqwest,
};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{session::random_token, settings::OidcSignInSettings};

/// The cookie naming a pending sign-in. `SameSite=Lax`, unlike the session
/// cookie: it must come back on the provider's redirect, a cross-site
/// top-level navigation. It holds only a random id.
pub(crate) const PENDING_COOKIE: &str = "keyway_console_oidc";
/// How long a started sign-in may take at the provider.
pub(crate) const PENDING_TTL: Duration = Duration::from_secs(600);
/// Pending sign-ins kept at most; the oldest go first.
const MAX_PENDING: usize = 10_000;
/// The callback's path; the redirect URI is the console's origin + this.
pub(crate) const CALLBACK_PATH: &str = "/console/oidc/callback";

/// Why a sign-in failed. The text is what the sign-in page shows: never a
/// token, a code or the provider's free-form description.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OidcError {
    #[error("The identity provider cannot be reached right now; try again shortly.")]
    Unavailable,
    #[error("This sign-in has expired or was not started in this browser; start again.")]
    NoPending,
    #[error("The answer did not match the sign-in that was started; start again.")]
    StateMismatch,
    #[error("The identity provider refused the sign-in ({0}).")]
    Refused(String),
    #[error("The identity provider's answer could not be verified; start again.")]
    Unverified,
}

struct Pending {
    verifier: PkceCodeVerifier,
    state: CsrfToken,
    nonce: Nonce,
    redirect: RedirectUrl,
    started: Instant,
}

/// A verified sign-in: the access token to act with, and who it is.
pub(crate) struct SignedIn {
    pub(crate) access_token: Zeroizing<String>,
    pub(crate) label: String,
}

pub(crate) struct OidcSignIn {
    settings: OidcSignInSettings,
    http: reqwest::Client,
    /// Discovered on first use and kept; dropped again when an exchange
    /// cannot reach the provider, so a moved endpoint is found again.
    metadata: tokio::sync::Mutex<Option<CoreProviderMetadata>>,
    pending: Mutex<HashMap<[u8; 32], Pending>>,
}

impl OidcSignIn {
    pub(crate) fn new(settings: OidcSignInSettings) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            // Following redirects from the provider's endpoints would open
            // the token request up to SSRF (openidconnect's own advice).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            settings,
            http,
            metadata: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn public_url(&self) -> Option<&str> {
        self.settings.public_url.as_deref()
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some(metadata) = cached.as_ref() {
            return Ok(metadata.clone());
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|_| OidcError::Unavailable)?;
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|error| {
                tracing::warn!(error = %error, "console sign-in: OIDC discovery failed");
                OidcError::Unavailable
            })?;
        *cached = Some(metadata.clone());
        Ok(metadata)
    }

    fn client(&self, metadata: CoreProviderMetadata, redirect: RedirectUrl) -> ClientFor {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            self.settings.client_secret.clone(),
        )
        .set_redirect_uri(redirect)
    }

    /// Starts a sign-in: the provider URL to send the browser to, and the
    /// pending record's id for the cookie.
    pub(crate) async fn start(&self, redirect: &str) -> Result<(String, String), OidcError> {
        let redirect = RedirectUrl::new(redirect.to_owned()).map_err(|_| OidcError::Unavailable)?;
        let metadata = self.metadata().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = self
            .client(metadata, redirect.clone())
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("openid".into()))
            .set_pkce_challenge(challenge)
            .url();
        let id = random_token();
        let now = Instant::now();
        let mut pending = lock(&self.pending);
        pending.retain(|_, p| now.duration_since(p.started) < PENDING_TTL);
        if pending.len() >= MAX_PENDING
            && let Some(oldest) = pending.iter().min_by_key(|(_, p)| p.started).map(|(k, _)| *k)
        {
            pending.remove(&oldest);
        }
        pending.insert(
            digest(&id),
            Pending {
                verifier,
                state,
                nonce,
                redirect,
                started: now,
            },
        );
        Ok((url.to_string(), id))
    }

    /// Ends a sign-in: consumes the pending record `id` names (whatever the
    /// outcome, so nothing can be tried twice), checks `state`, exchanges
    /// `code` with the PKCE verifier and verifies the ID token and nonce.
    pub(crate) async fn finish(
        &self,
        id: Option<&str>,
        state: &str,
        code: &str,
    ) -> Result<SignedIn, OidcError> {
        let pending = id
            .and_then(|id| lock(&self.pending).remove(&digest(id)))
            .filter(|p| p.started.elapsed() < PENDING_TTL)
            .ok_or(OidcError::NoPending)?;
        if !keyway_auth::secrets_equal(state.as_bytes(), pending.state.secret().as_bytes()) {
            return Err(OidcError::StateMismatch);
        }
        let metadata = self.metadata().await?;
        let client = self.client(metadata, pending.redirect);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|_| OidcError::Unavailable)?
            .set_pkce_verifier(pending.verifier)
            .request_async(&self.http)
            .await
            .map_err(|error| self.exchange_failed(error))?;
        let id_token = response.id_token().ok_or(OidcError::Unverified)?;
        let verifier = client.id_token_verifier();
        let claims = id_token.claims(&verifier, &pending.nonce).map_err(|error| {
            tracing::warn!(error = %error, "console sign-in: ID token refused");
            OidcError::Unverified
        })?;
        // The access token must be the one the ID token was issued with.
        if let Some(expected) = claims.access_token_hash() {
            let actual = id_token
                .signing_alg()
                .and_then(|alg| Ok((alg, id_token.signing_key(&verifier)?)))
                .ok()
                .and_then(|(alg, key)| AccessTokenHash::from_token(response.access_token(), alg, key).ok());
            if actual.as_ref() != Some(expected) {
                return Err(OidcError::Unverified);
            }
        }
        let label = claims
            .email()
            .map(|e| e.as_str().to_owned())
            .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
            .unwrap_or_else(|| claims.subject().as_str().to_owned());
        Ok(SignedIn {
            access_token: Zeroizing::new(response.access_token().secret().clone()),
            label,
        })
    }

    /// Logs why the exchange failed (the error code, never a token) and
    /// says what the page should.
    fn exchange_failed<RE: std::error::Error + 'static>(
        &self,
        error: openidconnect::RequestTokenError<
            RE,
            openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
        >,
    ) -> OidcError {
        match error {
            openidconnect::RequestTokenError::ServerResponse(response) => {
                let code = response.error().to_string();
                tracing::info!(error = %code, "console sign-in: code exchange refused");
                OidcError::Refused(code)
            }
            other => {
                tracing::warn!(error = %other, "console sign-in: code exchange failed");
                if let Ok(mut cached) = self.metadata.try_lock() {
                    *cached = None;
                }
                OidcError::Unavailable
            }
        }
    }
}

type ClientFor = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// An error code from the provider's redirect (`?error=`), shown only when
/// it is a plain OAuth error code.
pub(crate) fn provider_error(code: &str) -> OidcError {
    let plain =
        !code.is_empty() && code.len() <= 40 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    OidcError::Refused(if plain {
        code.to_owned()
    } else {
        "error".to_owned()
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

/// The pending cookie: `HttpOnly`, `SameSite=Lax`, only sent to the
/// callback's path, gone after [`PENDING_TTL`]. `None` clears it.
pub(crate) fn pending_cookie(value: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let (value, age) = match value {
        Some(value) => (value, PENDING_TTL.as_secs()),
        None => ("", 0),
    };
    format!("{PENDING_COOKIE}={value}; Path=/console/oidc; Max-Age={age}; HttpOnly; SameSite=Lax{secure}")
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_cookie_is_lax_http_only_and_short_lived() {
        let set = pending_cookie(Some("abc"), true);
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.ends_with("; Secure"));
        assert!(set.contains("Max-Age=600") && set.contains("Path=/console/oidc"));
        assert!(pending_cookie(None, false).contains("Max-Age=0"));
    }

    #[test]
    fn only_plain_error_codes_from_the_provider_are_shown() {
        assert_eq!(
            provider_error("access_denied").to_string(),
            "The identity provider refused the sign-in (access_denied)."
        );
        assert_eq!(
            provider_error("<script>").to_string(),
            "The identity provider refused the sign-in (error)."
        );
    }

    #[tokio::test]
    async fn a_callback_without_a_pending_sign_in_or_with_another_state_is_refused() {
        let oidc = OidcSignIn::new(OidcSignInSettings {
            issuer: "http://127.0.0.1:9/realms/none".into(),
            client_id: "c".into(),
            client_secret: None,
            public_url: None,
        })
        .unwrap();
        assert!(matches!(
            oidc.finish(None, "s", "c").await,
            Err(OidcError::NoPending)
        ));
        // A pending record made by hand: start() would need the provider.
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        lock(&oidc.pending).insert(
            digest("id"),
            Pending {
                verifier,
                state: CsrfToken::new("right".into()),
                nonce: Nonce::new("n".into()),
                redirect: RedirectUrl::new("http://127.0.0.1/console/oidc/callback".into()).unwrap(),
                started: Instant::now(),
            },
        );
        assert!(matches!(
            oidc.finish(Some("id"), "wrong", "c").await,
            Err(OidcError::StateMismatch)
        ));
        assert!(
            matches!(
                oidc.finish(Some("id"), "right", "c").await,
                Err(OidcError::NoPending)
            ),
            "the record was used up by the failed attempt"
        );
    }
}
