//! Keeping a Keycloak session alive: its access token is short-lived
//! (Keycloak's default is five minutes), so before it runs out the console
//! renews it with the refresh token, server-side, on the next request. The
//! new token is read by the API's authenticator like the first one and must
//! still name the same tenant, user and role; otherwise, or when the
//! provider refuses the refresh token (revoked, expired, the user disabled),
//! the session ends and the person signs in again.

use std::time::{Duration, Instant};

use crate::{
    Console,
    oidc::{OidcError, Tokens},
    session::{Renewal, Session},
};

/// Renewal starts this long before expiry at most (a quarter of a short
/// lifetime), so a request never goes out with a token about to lapse.
const AHEAD: Duration = Duration::from_secs(30);

/// Why a session cannot go on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The provider refused the refresh token, or the new token names
    /// someone else (another tenant, user or role).
    Refused,
    /// The token expired and the provider could not be reached to renew it.
    Expired,
}

/// Renews the session's access token when it is close to expiry. A
/// provider that is briefly down is no reason to end a session whose token
/// is still valid: it is tried again on the next request.
pub(crate) async fn renew_if_due(console: &Console, session: &Session) -> Result<(), Ended> {
    let Some(renewal) = &session.renewal else {
        return Ok(());
    };
    let mut renewal = renewal.lock().await;
    let now = Instant::now();
    if now + ahead(renewal.lifetime) < renewal.expires_at {
        return Ok(());
    }
    let Some(oidc) = console.oidc.as_ref() else {
        return Err(Ended::Refused);
    };
    match oidc.refresh(&renewal.refresh_token).await {
        Ok(tokens) => adopt(console, session, &mut renewal, tokens, now).await,
        Err(OidcError::Unavailable) if now < renewal.expires_at => {
            tracing::warn!(
                "console: the identity provider is unreachable; the session keeps its token until it expires"
            );
            Ok(())
        }
        Err(OidcError::Unavailable) => Err(Ended::Expired),
        Err(_) => Err(Ended::Refused),
    }
}

async fn adopt(
    console: &Console,
    session: &Session,
    renewal: &mut Renewal,
    tokens: Tokens,
    asked_at: Instant,
) -> Result<(), Ended> {
    let caller = console
        .authenticator
        .authenticate(&tokens.access_token)
        .await
        .map_err(|_| Ended::Refused)?;
    if caller.tenant_id != session.tenant_id
        || caller.user_id != session.user_id
        || caller.role != session.role
    {
        tracing::info!("console: a renewed token names another tenant, user or role; the session ends");
        return Err(Ended::Refused);
    }
    if let Some(rotated) = tokens.refresh_token {
        renewal.refresh_token = rotated;
    }
    renewal.lifetime = tokens.expires_in.unwrap_or(renewal.lifetime);
    renewal.expires_at = asked_at + renewal.lifetime;
    session.replace_credential(tokens.access_token);
    Ok(())
}

/// How long before expiry renewal starts: [`AHEAD`], or a quarter of a
/// lifetime shorter than two minutes.
fn ahead(lifetime: Duration) -> Duration {
    AHEAD.min(lifetime / 4)
}

/// The renewal state a sign-in starts with; `None` when the provider gave
/// no refresh token or no lifetime (the session then ends with its token).
pub(crate) fn renewal(tokens: &mut Tokens) -> Option<Renewal> {
    let lifetime = tokens.expires_in?;
    let refresh_token = tokens.refresh_token.take()?;
    Some(Renewal {
        refresh_token,
        expires_at: Instant::now() + lifetime,
        lifetime,
    })
}

#[cfg(test)]
mod tests {
    use zeroize::Zeroizing;

    use super::*;

    #[test]
    fn renewal_starts_a_quarter_before_a_short_lifetime_and_30_s_before_a_long_one() {
        assert_eq!(ahead(Duration::from_secs(8)), Duration::from_secs(2));
        assert_eq!(ahead(Duration::from_secs(300)), AHEAD);
    }

    #[test]
    fn no_refresh_token_or_no_lifetime_means_no_renewal() {
        let mut tokens = Tokens {
            access_token: Zeroizing::new("a".into()),
            refresh_token: None,
            expires_in: Some(Duration::from_secs(60)),
        };
        assert!(renewal(&mut tokens).is_none());
        tokens.refresh_token = Some(Zeroizing::new("r".into()));
        tokens.expires_in = None;
        assert!(renewal(&mut tokens).is_none());
        tokens.expires_in = Some(Duration::from_secs(60));
        let started = renewal(&mut tokens).map(|r| r.lifetime);
        assert_eq!(started, Some(Duration::from_secs(60)));
        assert!(
            tokens.refresh_token.is_none(),
            "the refresh token moved into the session"
        );
    }
}
