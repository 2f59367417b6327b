//! The registry of Keyway's stable error codes: every code any service
//! answers with is one of these constants, and `docs/errors.md` documents
//! exactly this set (a test in the keyway crate fails when they differ).
//! Statuses and client-facing shapes stay with each API's error type; a code
//! means the same thing on every route that uses it.

/// No API key was sent.
pub const AUTH_MISSING: &str = "KW-AUTH-001";
/// The key (or admin key) is invalid, revoked or expired.
pub const AUTH_INVALID: &str = "KW-AUTH-002";
/// The caller's role or credential may not do this.
pub const AUTH_FORBIDDEN: &str = "KW-AUTH-003";
/// The credential store cannot be reached.
pub const AUTH_UNAVAILABLE: &str = "KW-AUTH-004";
/// The credential's user was not confirmed by Keycloak recently enough
/// (identity following fails closed when it goes stale).
pub const AUTH_IDENTITY_UNCONFIRMED: &str = "KW-AUTH-005";
/// Too many failed authentications from the client's address; retry after
/// `Retry-After` seconds.
pub const AUTH_BLOCKED: &str = "KW-AUTH-006";

/// The body is not valid JSON.
pub const REQ_BAD_JSON: &str = "KW-REQ-001";
/// A field, query or path parameter is unknown, missing or mistyped.
pub const REQ_BAD_FIELD: &str = "KW-REQ-002";
/// The body is over the limit.
pub const REQ_TOO_LARGE: &str = "KW-REQ-003";
/// No such route, or a method the route does not have.
pub const REQ_NO_ROUTE: &str = "KW-REQ-004";
/// The request headers are over the limit.
pub const REQ_HEADERS_TOO_LARGE: &str = "KW-REQ-005";
/// The body was not sent as JSON.
pub const REQ_NOT_JSON: &str = "KW-REQ-006";
/// A pagination cursor is malformed, altered, or from another list.
pub const REQ_BAD_CURSOR: &str = "KW-REQ-007";

/// The model is not in the catalog, or not available to the caller.
pub const MODEL_NOT_FOUND: &str = "KW-MODEL-001";
/// The model is served on another route.
pub const MODEL_WRONG_ROUTE: &str = "KW-MODEL-002";
/// A parameter the model's wire cannot express (a translated request);
/// the message names it.
pub const TRANSLATE_UNSUPPORTED: &str = "KW-TRANSLATE-001";
/// No key source has a key for this caller.
pub const KEY_REQUIRED: &str = "KW-KEY-001";
/// No response with this id was created by the caller's tenant (or it expired).
pub const RESPONSE_NOT_FOUND: &str = "KW-RESP-001";

/// The upstream refused (4xx).
pub const UP_REFUSED: &str = "KW-UP-001";
/// The upstream failed, could not be reached, or broke the connection.
pub const UP_FAILED: &str = "KW-UP-002";
/// The upstream did not answer in time.
pub const UP_TIMEOUT: &str = "KW-UP-003";
/// The upstream streamed an event larger than `KEYWAY_SSE_MAX_EVENT_BYTES`
/// (it never framed one); the stream was ended with an error event.
pub const UP_EVENT_TOO_LARGE: &str = "KW-UP-004";
/// The provider's content filter refused the prompt (Azure OpenAI's
/// `content_filter`); the message names the categories.
pub const UP_CONTENT_FILTER: &str = "KW-UP-005";

/// A requests- or tokens-per-minute limit is reached.
pub const LIMIT_RATE: &str = "KW-LIMIT-001";
/// The monthly budget is reached.
pub const LIMIT_BUDGET: &str = "KW-LIMIT-002";
/// The shared limit counters cannot be reached (fail-closed mode).
pub const LIMIT_UNAVAILABLE: &str = "KW-LIMIT-003";

/// Admin API: not found (also another tenant's ids).
pub const ADM_NOT_FOUND: &str = "KW-ADM-001";
/// Admin API: invalid input.
pub const ADM_INVALID: &str = "KW-ADM-002";
/// Admin API: a concurrent change won, or a unique value is taken.
pub const ADM_CONFLICT: &str = "KW-ADM-003";
/// Admin API: temporarily unable to answer.
pub const ADM_UNAVAILABLE: &str = "KW-ADM-004";
/// The tenant's plan lacks the feature.
pub const PLAN_REQUIRED: &str = "KW-PLAN-001";
/// The key management service failed.
pub const KMS_FAILED: &str = "KW-KMS-001";
/// The database is unavailable.
pub const DB_UNAVAILABLE: &str = "KW-DB-001";

/// Usage API: an invalid parameter or body field.
pub const USAGE_INVALID: &str = "KW-USAGE-001";
/// Usage API: not found (also another tenant's).
pub const USAGE_NOT_FOUND: &str = "KW-USAGE-002";
/// Usage API: a concurrent change won.
pub const USAGE_CONFLICT: &str = "KW-USAGE-003";
/// Usage API: a webhook URL is refused.
pub const USAGE_URL_REFUSED: &str = "KW-USAGE-004";
/// Usage API: the tenant has the most webhooks allowed.
pub const USAGE_LIMIT_REACHED: &str = "KW-USAGE-005";

/// Every code, for the documentation check.
pub const ALL: &[&str] = &[
    AUTH_MISSING,
    AUTH_INVALID,
    AUTH_FORBIDDEN,
    AUTH_UNAVAILABLE,
    AUTH_IDENTITY_UNCONFIRMED,
    AUTH_BLOCKED,
    REQ_BAD_JSON,
    REQ_BAD_FIELD,
    REQ_TOO_LARGE,
    REQ_NO_ROUTE,
    REQ_HEADERS_TOO_LARGE,
    REQ_NOT_JSON,
    REQ_BAD_CURSOR,
    MODEL_NOT_FOUND,
    MODEL_WRONG_ROUTE,
    TRANSLATE_UNSUPPORTED,
    KEY_REQUIRED,
    RESPONSE_NOT_FOUND,
    UP_REFUSED,
    UP_FAILED,
    UP_TIMEOUT,
    UP_EVENT_TOO_LARGE,
    UP_CONTENT_FILTER,
    LIMIT_RATE,
    LIMIT_BUDGET,
    LIMIT_UNAVAILABLE,
    ADM_NOT_FOUND,
    ADM_INVALID,
    ADM_CONFLICT,
    ADM_UNAVAILABLE,
    PLAN_REQUIRED,
    KMS_FAILED,
    DB_UNAVAILABLE,
    USAGE_INVALID,
    USAGE_NOT_FOUND,
    USAGE_CONFLICT,
    USAGE_URL_REFUSED,
    USAGE_LIMIT_REACHED,
];

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique() {
        let mut all = super::ALL.to_vec();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), super::ALL.len());
    }
}
