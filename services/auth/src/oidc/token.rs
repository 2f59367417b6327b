//! Reading and checking a JWT access token before anyone trusts a claim in
//! it: its shape, algorithm, type, issuer, signature, lifetime and
//! audience, in that order.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::{JsonWebKey, core::CoreJwsSigningAlgorithm};
use serde::Deserialize;
use serde_json::Value;

use super::TokenError;

/// Asymmetric algorithms only: `none` and the HMAC family are refused, so
/// neither an unsigned token nor one "signed" with the public key as an
/// HMAC secret can pass. EdDSA is left out until an IdP we follow uses it.
const ALLOWED: [&str; 8] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

/// Keycloak sends `JWT`; RFC 9068 access tokens say `at+jwt`.
const ALLOWED_TYPES: [&str; 3] = ["jwt", "at+jwt", "application/at+jwt"];

#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
}

/// A token split and decoded, its signature not yet checked.
pub(crate) struct Unverified<'a> {
    pub(crate) alg: CoreJwsSigningAlgorithm,
    pub(crate) kid: Option<String>,
    pub(crate) issuer: String,
    pub(crate) claims: Value,
    signing_input: &'a str,
    signature: Vec<u8>,
}

/// Whether a presented credential is a JWT rather than a Keyway API key:
/// three base64url parts, the first a JSON object (`eyJ` is `{"`).
pub fn looks_like_jwt(presented: &str) -> bool {
    presented.starts_with("eyJ") && presented.split('.').count() == 3
}

impl<'a> Unverified<'a> {
    pub(crate) fn parse(token: &'a str) -> Result<Self, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_json(header)?;
        if !ALLOWED.contains(&header.alg.as_str()) {
            return Err(TokenError::Algorithm(header.alg));
        }
        if header
            .typ
            .as_deref()
            .is_some_and(|t| !ALLOWED_TYPES.contains(&t.to_ascii_lowercase().as_str()))
        {
            return Err(TokenError::Type);
        }
        let alg = serde_json::from_value(Value::String(header.alg.clone()))
            .map_err(|_| TokenError::Algorithm(header.alg))?;
        let claims: Value = decode_json(payload)?;
        if !claims.is_object() {
            return Err(TokenError::Malformed);
        }
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(TokenError::MissingClaim("iss"))?;
        Ok(Self {
            alg,
            kid: header.kid,
            issuer: issuer.to_owned(),
            signing_input: &token[..header_and_payload_len(token)],
            signature: URL_SAFE_NO_PAD
                .decode(signature)
                .map_err(|_| TokenError::Malformed)?,
            claims,
        })
    }

    /// Whether any of `keys` signed the token.
    pub(crate) fn signed_by_any(&self, keys: &[openidconnect::core::CoreJsonWebKey]) -> bool {
        keys.iter().any(|key| {
            key.verify_signature(&self.alg, self.signing_input.as_bytes(), &self.signature)
                .is_ok()
        })
    }

    /// `exp` (required) and `nbf` (optional), each with `leeway` seconds of
    /// skew; returns `exp`.
    pub(crate) fn check_lifetime(&self, now: i64, leeway: i64) -> Result<i64, TokenError> {
        let seconds = |name| {
            self.claims
                .get(name)
                .and_then(Value::as_f64)
                .map(|t| t.floor() as i64)
        };
        let exp = seconds("exp").ok_or(TokenError::MissingClaim("exp"))?;
        if now > exp.saturating_add(leeway) {
            return Err(TokenError::Expired);
        }
        if seconds("nbf").is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return Err(TokenError::NotYetValid);
        }
        Ok(exp)
    }

    /// The token is for Keyway: `aud` (a string or a list) holds the
    /// audience, or — Keycloak's access tokens often carry only
    /// `aud: account` — the authorized party `azp` is it.
    pub(crate) fn check_audience(&self, audience: &str) -> Result<(), TokenError> {
        let in_aud = match self.claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        let is_azp = self.claims.get("azp").and_then(Value::as_str) == Some(audience);
        if in_aud || is_azp {
            Ok(())
        } else {
            Err(TokenError::Audience)
        }
    }
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn token(header: Value, claims: Value) -> String {
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            part(header),
            part(claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    fn parsed(header: Value, claims: Value) -> Result<(), TokenError> {
        Unverified::parse(&token(header, claims)).map(|_| ())
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused_before_any_key_is_looked_up() {
        let claims = json!({"iss": "https://sso/realms/a"});
        for alg in ["none", "HS256", "HS512", "EdDSA", "RS1"] {
            assert_eq!(
                parsed(json!({"alg": alg}), claims.clone()),
                Err(TokenError::Algorithm(alg.into()))
            );
        }
        assert!(parsed(json!({"alg": "RS256"}), claims.clone()).is_ok());
        assert!(parsed(json!({"alg": "ES256", "typ": "JWT"}), claims.clone()).is_ok());
        assert!(parsed(json!({"alg": "PS256", "typ": "at+jwt"}), claims.clone()).is_ok());
        assert_eq!(
            parsed(json!({"alg": "RS256", "typ": "logout+jwt"}), claims),
            Err(TokenError::Type)
        );
    }

    #[test]
    fn malformed_tokens_and_missing_issuers_are_refused() {
        for bad in ["", "a.b", "a.b.c.d", "eyJ.e30.x", "!!.!!.!!"] {
            assert!(Unverified::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parsed(json!({"alg": "RS256"}), json!([1])),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            parsed(json!({"alg": "RS256"}), json!({})),
            Err(TokenError::MissingClaim("iss"))
        );
        assert!(looks_like_jwt(&token(json!({"alg": "RS256"}), json!({}))));
        assert!(!looks_like_jwt("kw_dev_abc_def"));
    }

    #[test]
    fn lifetime_and_audience_rules() -> Result<(), TokenError> {
        let t = token(
            json!({"alg": "RS256"}),
            json!({"iss": "i", "exp": 1000, "nbf": 900, "aud": ["account", "keyway"]}),
        );
        let token = Unverified::parse(&t)?;
        assert_eq!(token.check_lifetime(1000, 30), Ok(1000));
        assert_eq!(token.check_lifetime(1030, 30), Ok(1000), "within the leeway");
        assert_eq!(token.check_lifetime(1031, 30), Err(TokenError::Expired));
        assert_eq!(token.check_lifetime(869, 30), Err(TokenError::NotYetValid));
        assert_eq!(token.check_audience("keyway"), Ok(()));
        assert_eq!(token.check_audience("other"), Err(TokenError::Audience));
        let azp = token_with(json!({"iss": "i", "aud": "account", "azp": "keyway"}));
        assert_eq!(Unverified::parse(&azp)?.check_audience("keyway"), Ok(()));
        let no_exp = token_with(json!({"iss": "i"}));
        assert_eq!(
            Unverified::parse(&no_exp)?.check_lifetime(0, 0),
            Err(TokenError::MissingClaim("exp"))
        );
        Ok(())
    }

    fn token_with(claims: Value) -> String {
        token(json!({"alg": "RS256"}), claims)
    }
}
