//! Turns the presented key into a `Caller` before any handler runs. The key
//! is read from `Authorization: Bearer` or, for Anthropic clients,
//! `x-api-key`; it is passed to the authenticator and never logged.

use std::sync::Arc;

use axum::{extract::FromRequestParts, http::HeaderMap, http::request::Parts};
use keyway_auth::{AuthError, Authenticator, Caller};

use crate::{
    Gateway,
    error::{Failure, Flavor, GatewayError},
};

/// The key the client presented, if any.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    keyway_auth::presented_key(header("authorization"), header("x-api-key"))
}

/// An authenticated caller allowed to send LLM traffic.
pub(crate) struct Authed(pub Caller);

impl FromRequestParts<Arc<Gateway>> for Authed {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, gw: &Arc<Gateway>) -> Result<Self, Self::Rejection> {
        let flavor = Flavor::of(parts.uri.path(), &parts.headers);
        let fail = |e| Failure(flavor, e);
        let key = presented_key(&parts.headers)
            .filter(|k| !k.is_empty())
            .ok_or(fail(GatewayError::MissingApiKey))?;
        let caller = gw.authenticator.authenticate(key).await.map_err(|e| {
            fail(match e {
                AuthError::Missing => GatewayError::MissingApiKey,
                AuthError::Invalid => GatewayError::InvalidApiKey,
                AuthError::Unavailable => GatewayError::AuthUnavailable,
            })
        })?;
        if !caller.role.may_send_llm_traffic() {
            return Err(fail(GatewayError::Forbidden(format!(
                "The role {} may not send LLM traffic.",
                caller.role.as_str()
            ))));
        }
        Ok(Authed(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_and_x_api_key_are_both_accepted() {
        assert_eq!(
            presented_key(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            presented_key(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(presented_key(&headers(&[("x-api-key", "xyz")])), Some("xyz"));
        assert_eq!(presented_key(&headers(&[("authorization", "Basic abc")])), None);
        assert_eq!(presented_key(&headers(&[])), None);
    }
}
