//! OIDC bearer tokens (Keycloak access tokens): verified against each
//! trusted issuer's keys, then read as an [`Identity`]. Turning that
//! identity into a Keyway tenant and user is the key service's job, since it
//! owns both.

mod claims;
mod jwks;
mod settings;
mod token;

use std::{collections::HashMap, sync::Arc, time::Duration};

pub use claims::Identity;
pub use settings::{OidcSettings, RoleMap};
pub use token::looks_like_jwt;

use jwks::IssuerKeys;
use token::Unverified;

use crate::AuthError;

/// Why a token was refused. Only [`TokenError::NoKeys`] is the IdP's fault
/// (503); every other reason is the token's (401). None carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm {0:?} is not allowed (RS*, PS* and ES256/ES384 are)")]
    Algorithm(String),
    #[error("the token's type is not JWT or at+jwt")]
    Type,
    #[error("the token's issuer is not trusted")]
    UnknownIssuer,
    #[error("the token was signed with a key its issuer does not publish")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not for this audience")]
    Audience,
    #[error("the token has no {0:?} claim")]
    MissingClaim(&'static str),
    #[error("the issuer's signing keys could not be fetched")]
    NoKeys,
}

impl From<TokenError> for AuthError {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::NoKeys => AuthError::Unavailable,
            _ => AuthError::Invalid,
        }
    }
}

/// Verifies access tokens from the configured issuers, each with its own
/// key cache.
pub struct OidcVerifier {
    settings: OidcSettings,
    issuers: HashMap<String, Arc<IssuerKeys>>,
}

impl OidcVerifier {
    /// Starts fetching every issuer's keys in the background.
    pub fn start(settings: OidcSettings) -> Result<Self, openidconnect::reqwest::Error> {
        let http = openidconnect::reqwest::Client::builder()
            // Discovery must not follow redirects: an open redirect at the
            // IdP would otherwise let someone else's keys in.
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()?;
        let issuers = settings
            .issuers
            .iter()
            .map(|issuer| {
                let keys =
                    IssuerKeys::start(issuer, http.clone(), settings.jwks_refresh, settings.kid_cooldown);
                (issuer.clone(), keys)
            })
            .collect();
        Ok(Self { settings, issuers })
    }

    pub fn settings(&self) -> &OidcSettings {
        &self.settings
    }

    /// Verifies `token` at `now` (Unix seconds) and reads its holder.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Identity, TokenError> {
        let token = Unverified::parse(token)?;
        // The issuer picks the keys, so a token can only be checked against
        // keys of the issuer it claims — never another trusted issuer's.
        let keys = self.issuers.get(&token.issuer).ok_or(TokenError::UnknownIssuer)?;
        let candidates = keys.candidates(token.kid.as_deref(), &token.alg).await?;
        if !token.signed_by_any(&candidates) {
            return Err(TokenError::BadSignature);
        }
        let leeway = i64::try_from(self.settings.leeway.as_secs()).unwrap_or(i64::MAX);
        let expires_at = token.check_lifetime(now, leeway)?;
        token.check_audience(&self.settings.audience)?;
        Identity::from_claims(&token.claims, &token.issuer, expires_at, &self.settings)
    }
}
