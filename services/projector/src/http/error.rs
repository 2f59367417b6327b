//! Errors of the usage API and their HTTP form: a status, a stable code
//! (listed in docs/errors.md) and a message. Database failures are logged
//! here, once, and shown only as 503.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use keyway_common::{api::PageError, codes};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("authentication required: send the admin key or an API key as a bearer token")]
    Unauthenticated,
    #[error("the credential store is unavailable; retry shortly")]
    AuthUnavailable,
    #[error("the user's identity has not been confirmed by the identity provider recently enough")]
    IdentityUnconfirmed,
    /// The client's address failed to authenticate too often.
    #[error("too many failed authentications from this address; retry after {retry_after_secs} seconds")]
    TooManyFailures { retry_after_secs: u64 },
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A bad query parameter or body field; the message names it.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    /// A webhook URL the SSRF guard refused; the message says why.
    #[error("url {0}")]
    UrlRefused(String),
    #[error("{0}")]
    LimitReached(String),
    /// Sealing or opening a signing secret failed; details are logged only.
    #[error("the key management service is unavailable; retry shortly")]
    Kms(#[from] crate::webhooks::SecretError),
    #[error("database error")]
    Db(sqlx::Error),
    /// A list's `limit` or `cursor`, refused by the shared contract.
    #[error(transparent)]
    Page(#[from] PageError),
}

impl From<sqlx::Error> for UsageError {
    fn from(e: sqlx::Error) -> Self {
        // Postgres refusing a value's characters (NUL, or bytes that are not
        // UTF-8) is bad input, not an outage. The edge refuses NUL before any
        // query (`nul.rs`); this is the net under it.
        if let sqlx::Error::Database(db) = &e
            && matches!(db.code().as_deref(), Some("22021" | "22P05"))
        {
            tracing::warn!(error = %db, "the database refused a value of a request");
            return UsageError::invalid(
                "request",
                "a value contains a character that cannot be stored, such as NUL (U+0000)",
            );
        }
        UsageError::Db(e)
    }
}

impl From<crate::webhooks::WebhookError> for UsageError {
    fn from(e: crate::webhooks::WebhookError) -> Self {
        use crate::webhooks::WebhookError;
        match e {
            WebhookError::LimitReached(m) => UsageError::LimitReached(m),
            WebhookError::NotFound => UsageError::NotFound("webhook"),
            WebhookError::Conflict(m) => UsageError::Conflict(m),
            WebhookError::Secret(e) => UsageError::Kms(e),
            // Through the sqlx conversion, which tells bad input from an outage.
            WebhookError::Db(e) => UsageError::from(e),
        }
    }
}

impl UsageError {
    pub fn status(&self) -> StatusCode {
        match self {
            UsageError::Unauthenticated | UsageError::IdentityUnconfirmed => StatusCode::UNAUTHORIZED,
            UsageError::Forbidden(_) => StatusCode::FORBIDDEN,
            UsageError::NotFound(_) => StatusCode::NOT_FOUND,
            UsageError::Invalid(_) | UsageError::UrlRefused(_) | UsageError::Page(_) => {
                StatusCode::BAD_REQUEST
            }
            UsageError::Conflict(_) | UsageError::LimitReached(_) => StatusCode::CONFLICT,
            UsageError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            UsageError::AuthUnavailable | UsageError::Kms(_) | UsageError::Db(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            UsageError::Unauthenticated => codes::AUTH_INVALID,
            UsageError::Forbidden(_) => codes::AUTH_FORBIDDEN,
            UsageError::AuthUnavailable => codes::AUTH_UNAVAILABLE,
            UsageError::IdentityUnconfirmed => codes::AUTH_IDENTITY_UNCONFIRMED,
            UsageError::TooManyFailures { .. } => codes::AUTH_BLOCKED,
            UsageError::Invalid(_) => codes::USAGE_INVALID,
            UsageError::NotFound(_) => codes::USAGE_NOT_FOUND,
            UsageError::Conflict(_) => codes::USAGE_CONFLICT,
            UsageError::UrlRefused(_) => codes::USAGE_URL_REFUSED,
            UsageError::LimitReached(_) => codes::USAGE_LIMIT_REACHED,
            UsageError::Kms(_) => codes::KMS_FAILED,
            UsageError::Db(_) => codes::DB_UNAVAILABLE,
            UsageError::Page(e) => e.code(),
        }
    }

    pub(crate) fn invalid(param: &str, reason: impl std::fmt::Display) -> Self {
        UsageError::Invalid(format!("{param}: {reason}"))
    }
}

impl IntoResponse for UsageError {
    fn into_response(self) -> Response {
        let message = match &self {
            UsageError::Db(e) => {
                tracing::error!(error = %e, "database error");
                "the database is unavailable; retry shortly".to_owned()
            }
            UsageError::Kms(e) => {
                tracing::error!(error = %e, "cannot seal or open a webhook signing secret");
                self.to_string()
            }
            UsageError::TooManyFailures { retry_after_secs } => {
                return keyway_common::api::too_many_failures(*retry_after_secs);
            }
            other => other.to_string(),
        };
        (
            self.status(),
            Json(json!({"error": {"code": self.code(), "message": message}})),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_own_code_and_no_500() {
        let all = [
            UsageError::Unauthenticated,
            UsageError::AuthUnavailable,
            UsageError::IdentityUnconfirmed,
            UsageError::TooManyFailures { retry_after_secs: 1 },
            UsageError::Forbidden(String::new()),
            UsageError::NotFound("x"),
            UsageError::Invalid(String::new()),
            UsageError::Conflict(String::new()),
            UsageError::UrlRefused(String::new()),
            UsageError::LimitReached(String::new()),
            UsageError::Kms(crate::webhooks::SecretError::Seal(
                keyway_crypto::SealError::Invalid,
            )),
            UsageError::Db(sqlx::Error::PoolTimedOut),
            UsageError::Page(PageError::Renamed),
        ];
        let mut codes: Vec<_> = all.iter().map(UsageError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert!(
            all.iter()
                .all(|e| !e.status().is_server_error() || e.status() == StatusCode::SERVICE_UNAVAILABLE)
        );
    }
}
