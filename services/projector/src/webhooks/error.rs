//! What registering, reading, deleting or rotating a webhook can fail with.
//! The usage API maps it to its HTTP errors (`http::UsageError`); the
//! webhook domain does not know about HTTP.

use super::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The tenant already has the most webhooks allowed.
    #[error("{0}")]
    LimitReached(String),
    #[error("webhook not found")]
    NotFound,
    /// A concurrent change won; the caller may retry.
    #[error("{0}")]
    Conflict(String),
    /// Sealing the signing secret failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("database error")]
    Db(#[from] sqlx::Error),
}
