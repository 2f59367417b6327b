//! Errors of the key service and their HTTP form: a status, a stable code
//! (listed in docs/errors.md) and a message that never contains a secret.
//! Database and KMS failures are logged here, once, and shown only as 503.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use keyway_common::api::{ApiError, PageError};
use keyway_common::codes;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("authentication required: send the admin key or an API key as a bearer token")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PlanRequired(String),
    #[error("key management service error: {0}")]
    Kms(String),
    #[error("database error")]
    Db(sqlx::Error),
    #[error("{0}")]
    Unavailable(String),
    /// The credential could not be checked: the database, or the OIDC
    /// issuer's keys, are out of reach.
    #[error("the credential store is unavailable; retry shortly")]
    AuthUnavailable,
    /// A user's credentials refused by the identity gate.
    #[error("{0}")]
    Identity(IdentityRefusal),
    /// A list's `limit` or `cursor`, refused by the shared contract.
    #[error(transparent)]
    Page(#[from] PageError),
    /// The client's address failed to authenticate too often.
    #[error("too many failed authentications from this address; retry after {retry_after_secs} seconds")]
    TooManyFailures { retry_after_secs: u64 },
}

/// Why the identity gate (`identity_follow`) refuses a user's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefusal {
    /// Disabled in Keyway or in Keycloak, or gone.
    #[error("the user is disabled or deleted")]
    Inactive,
    /// Following is on and the user's status was last confirmed too long ago.
    #[error(
        "the user's identity has not been confirmed by the identity provider recently enough; \
         their credentials are refused until it is"
    )]
    Unconfirmed,
}

impl From<sqlx::Error> for KeysError {
    /// Text Postgres cannot store (a NUL character that slipped past the
    /// edge checks) is the client's mistake, not an outage.
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // 22021: NUL in a text value; 22P05: `\u0000` in a JSONB value.
            sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("22021" | "22P05")) => {
                KeysError::Invalid("text must not contain NUL (\\u0000) characters".into())
            }
            _ => KeysError::Db(e),
        }
    }
}

impl From<StoreError> for KeysError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => {
                KeysError::Conflict("the record was changed concurrently; reload and retry".into())
            }
            StoreError::Db(e) => e.into(),
            StoreError::Encoding(e) => KeysError::Unavailable(format!("event encoding: {e}")),
        }
    }
}

impl KeysError {
    pub fn status(&self) -> StatusCode {
        match self {
            KeysError::Unauthenticated | KeysError::Identity(_) => StatusCode::UNAUTHORIZED,
            KeysError::Forbidden(_) | KeysError::PlanRequired(_) => StatusCode::FORBIDDEN,
            KeysError::NotFound(_) => StatusCode::NOT_FOUND,
            KeysError::Invalid(_) | KeysError::Page(_) => StatusCode::BAD_REQUEST,
            KeysError::Conflict(_) => StatusCode::CONFLICT,
            KeysError::TooManyFailures { .. } => StatusCode::TOO_MANY_REQUESTS,
            KeysError::Kms(_) | KeysError::Db(_) | KeysError::Unavailable(_) | KeysError::AuthUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            KeysError::Unauthenticated => codes::AUTH_INVALID,
            KeysError::Forbidden(_) => codes::AUTH_FORBIDDEN,
            KeysError::NotFound(_) => codes::ADM_NOT_FOUND,
            KeysError::Invalid(_) => codes::ADM_INVALID,
            KeysError::Conflict(_) => codes::ADM_CONFLICT,
            KeysError::PlanRequired(_) => codes::PLAN_REQUIRED,
            KeysError::Kms(_) => codes::KMS_FAILED,
            KeysError::Db(_) => codes::DB_UNAVAILABLE,
            KeysError::Unavailable(_) => codes::ADM_UNAVAILABLE,
            KeysError::AuthUnavailable => codes::AUTH_UNAVAILABLE,
            KeysError::Identity(IdentityRefusal::Inactive) => codes::AUTH_INVALID,
            KeysError::Identity(IdentityRefusal::Unconfirmed) => codes::AUTH_IDENTITY_UNCONFIRMED,
            KeysError::Page(e) => e.code(),
            KeysError::TooManyFailures { .. } => codes::AUTH_BLOCKED,
        }
    }
}

impl IntoResponse for KeysError {
    fn into_response(self) -> Response {
        let message = match &self {
            KeysError::Db(e) => {
                tracing::error!(error = %e, "database error");
                "the database is unavailable; retry shortly".to_owned()
            }
            KeysError::Kms(e) => {
                tracing::error!(error = %e, "KMS error");
                "the key management service is unavailable; retry shortly".to_owned()
            }
            KeysError::TooManyFailures { retry_after_secs } => {
                return keyway_common::api::too_many_failures(*retry_after_secs);
            }
            other => other.to_string(),
        };
        ApiError::new(self.status(), self.code(), message).into_response()
    }
}

/// Maps a unique-constraint violation to a clear 409 instead of a 503.
pub(crate) fn on_unique(e: sqlx::Error, message: &str) -> KeysError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => KeysError::Conflict(message.to_owned()),
        _ => e.into(),
    }
}
