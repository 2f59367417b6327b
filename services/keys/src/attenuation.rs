//! A credential never creates one broader than itself.
//!
//! An API key may create keys (a tenant's backend minting per-user keys is
//! the common case), but only attenuated ones, as with macaroons: the new
//! key's scopes are a subset of the creator's, its expiry no later, and each
//! of its limits no looser. What the request leaves out is inherited from
//! the creator rather than meaning "unrestricted". Such a key records its
//! parent and is revoked with it (see `revoke_api_key`).
//!
//! The admin key and interactive identities are not API keys and are not
//! attenuated: their authority comes from their role alone.

use keyway_auth::{Caller, Limits};
use time::OffsetDateTime;

use crate::error::KeysError;

/// What the caller asked the new key to be allowed.
pub(crate) struct Requested {
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) expires_at: Option<OffsetDateTime>,
    pub(crate) limits: Limits,
}

/// Narrows `requested` to what `creator` may hand out, or refuses what it
/// may not. Callers that are not API keys get `requested` unchanged.
pub(crate) fn attenuate(creator: &Caller, requested: Requested) -> Result<Requested, KeysError> {
    if creator.api_key_id.is_none() {
        return Ok(requested);
    }
    Ok(Requested {
        scopes: narrow_scopes(creator.scopes.as_deref(), requested.scopes)?,
        expires_at: narrow_expiry(creator.expires_at, requested.expires_at)?,
        limits: no_looser(&creator.limits.api_key, requested.limits)?,
    })
}

fn narrow_scopes(
    own: Option<&[String]>,
    asked: Option<Vec<String>>,
) -> Result<Option<Vec<String>>, KeysError> {
    let Some(own) = own else { return Ok(asked) };
    match asked {
        None => Ok(Some(own.to_vec())),
        Some(asked) => match asked.iter().find(|m| !own.contains(m)) {
            Some(model) => Err(KeysError::Forbidden(format!(
                "scopes: the creating key may not use {model:?}, so it cannot grant it"
            ))),
            None => Ok(Some(asked)),
        },
    }
}

fn narrow_expiry(
    own: Option<i64>,
    asked: Option<OffsetDateTime>,
) -> Result<Option<OffsetDateTime>, KeysError> {
    let Some(own) = own else { return Ok(asked) };
    let own = OffsetDateTime::from_unix_timestamp(own)
        .map_err(|_| KeysError::Invalid("the creating key's expiry is out of range".into()))?;
    match asked {
        None => Ok(Some(own)),
        Some(t) if t > own => Err(KeysError::Forbidden(
            "expires_at: a key cannot outlive the key that creates it".into(),
        )),
        Some(t) => Ok(Some(t)),
    }
}

/// Each of `asked`'s limits capped by the caller's own API-key limits: an
/// absent field inherits the caller's, a larger one is refused.
pub(crate) fn no_looser(own: &Limits, asked: Limits) -> Result<Limits, KeysError> {
    let field = |name: &str, own: Option<u64>, asked: Option<u64>| match (own, asked) {
        (Some(o), None) => Ok(Some(o)),
        (Some(o), Some(a)) if a > o => Err(KeysError::Forbidden(format!(
            "limits.{name}: {a} is looser than the caller's own limit of {o}"
        ))),
        (_, a) => Ok(a),
    };
    Ok(Limits {
        requests_per_minute: field(
            "requests_per_minute",
            own.requests_per_minute,
            asked.requests_per_minute,
        )?,
        tokens_per_minute: field(
            "tokens_per_minute",
            own.tokens_per_minute,
            asked.tokens_per_minute,
        )?,
        monthly_budget_micros: field(
            "monthly_budget_micros",
            own.monthly_budget_micros,
            asked.monthly_budget_micros,
        )?,
    })
}

#[cfg(test)]
#[expect(clippy::unwrap_used)]
mod tests {
    use keyway_auth::Role;

    use super::*;

    fn restricted_key() -> Caller {
        let mut k = Caller::in_tenant("t", Role::Member);
        k.api_key_id = Some("k1".into());
        k.scopes = Some(vec!["mock-gpt".into()]);
        k.expires_at = Some(2_000_000_000);
        k.limits.api_key.requests_per_minute = Some(1);
        k
    }

    fn nothing_asked() -> Requested {
        Requested {
            scopes: None,
            expires_at: None,
            limits: Limits::default(),
        }
    }

    #[test]
    fn what_is_left_out_is_inherited_not_unrestricted() {
        let got = attenuate(&restricted_key(), nothing_asked()).unwrap();
        assert_eq!(got.scopes, Some(vec!["mock-gpt".to_owned()]));
        assert_eq!(
            got.expires_at.map(OffsetDateTime::unix_timestamp),
            Some(2_000_000_000)
        );
        assert_eq!(got.limits.requests_per_minute, Some(1));
    }

    #[test]
    fn anything_broader_is_refused() {
        let k = restricted_key();
        let wider_scope = Requested {
            scopes: Some(vec!["mock-gpt".into(), "mock-claude".into()]),
            ..nothing_asked()
        };
        assert!(matches!(attenuate(&k, wider_scope), Err(KeysError::Forbidden(_))));
        let later = Requested {
            expires_at: OffsetDateTime::from_unix_timestamp(2_000_000_001).ok(),
            ..nothing_asked()
        };
        assert!(matches!(attenuate(&k, later), Err(KeysError::Forbidden(_))));
        let looser = Requested {
            limits: Limits {
                requests_per_minute: Some(2),
                ..Limits::default()
            },
            ..nothing_asked()
        };
        assert!(matches!(attenuate(&k, looser), Err(KeysError::Forbidden(_))));
    }

    #[test]
    fn narrower_is_kept_and_non_key_callers_are_untouched() {
        let tighter = Requested {
            scopes: Some(vec!["mock-gpt".into()]),
            expires_at: OffsetDateTime::from_unix_timestamp(1_900_000_000).ok(),
            limits: Limits {
                tokens_per_minute: Some(10),
                ..Limits::default()
            },
        };
        let got = attenuate(&restricted_key(), tighter).unwrap();
        assert_eq!(got.limits.tokens_per_minute, Some(10));
        assert_eq!(got.limits.requests_per_minute, Some(1));
        let admin = Caller::platform_admin();
        let got = attenuate(&admin, nothing_asked()).unwrap();
        assert!(got.scopes.is_none() && got.expires_at.is_none() && got.limits.is_unlimited());
    }
}
