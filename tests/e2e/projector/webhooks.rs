//! Signed webhooks end to end: registrations through the stack's real HTTP
//! API, deliveries by the stack's own worker (plus extra instances) to a
//! real receiver that verifies every signature, retries after failures,
//! retention held back by undelivered cursors, and no signing secret in the
//! database dump or the process logs.

mod api;
mod delivery;
mod failures;
mod receiver;
mod secrets;

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::support::Harness;
use crate::keys_api::call;

/// Registers a webhook for `url` as `key` (with `?tenant_id=` when given);
/// returns the answer (201) with its `signing_secret`.
pub(crate) async fn register(h: &Harness, key: &str, tenant: Option<&str>, url: &str) -> Value {
    let path = match tenant {
        Some(t) => format!("/api/v1/usage/webhooks?tenant_id={t}"),
        None => "/api/v1/usage/webhooks".to_owned(),
    };
    let (status, body) = call(&h.stack, key, "POST", &path, Some(json!({"url": url}))).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["signing_secret"].as_str().unwrap().starts_with("whsec_"),
        "{body}"
    );
    body
}

/// The webhook as its tenant's admin (or the platform admin) sees it.
pub(crate) async fn webhook(h: &Harness, key: &str, id: &str) -> Value {
    let (status, body) = call(
        &h.stack,
        key,
        "GET",
        &format!("/api/v1/usage/webhooks/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("signing_secret").is_none(), "{body}");
    body
}

/// The ledger's event ids of `tenant`, in ledger order, and the last position.
pub(crate) async fn ledger(h: &Harness, tenant: &str) -> (Vec<String>, i64) {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_id::text, ledger_seq FROM usage_ledger WHERE tenant_id = $1 ORDER BY ledger_seq",
    )
    .bind(tenant)
    .fetch_all(&h.pool)
    .await
    .unwrap();
    let last = rows.last().map_or(0, |r| r.1);
    (rows.into_iter().map(|r| r.0).collect(), last)
}

pub(crate) fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}
