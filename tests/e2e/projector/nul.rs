//! A NUL (U+0000) in a path, a query value or a JSON string is the
//! caller's mistake: 400 `KW-REQ-002` naming where it was, never the
//! database's "unavailable" (Postgres cannot store NUL in text).

use serde_json::{Value, json};

use super::support::Harness;
use crate::keys_api::{new_api_key, new_tenant};

const HOOK: &str = "http://127.0.0.1:9/hooks/usage";

#[tokio::test]
async fn a_nul_anywhere_in_a_usage_api_request_is_a_400_naming_where() {
    let h = Harness::start().await;
    let a = new_tenant(&h.stack, "pro").await;
    let (_, admin_a) = new_api_key(&h.stack, &a, json!({"name": "ops", "role": "tenant-admin"})).await;
    let admin = h.stack.admin_key.clone();
    let hook = uuid::Uuid::now_v7();
    // (who, method, path, body, the place the message must name)
    let cases: Vec<(&str, &str, String, Option<Value>, &str)> = vec![
        (
            &admin,
            "GET",
            "/api/v1/usage/summary?tenant_id=%00".into(),
            None,
            "tenant_id",
        ),
        (
            &admin,
            "GET",
            "/api/v1/usage/summary?tenant_id=t%00x".into(),
            None,
            "tenant_id",
        ),
        (
            &admin_a,
            "GET",
            "/api/v1/usage/summary?from=2025-01-01%00".into(),
            None,
            "from",
        ),
        (
            &admin,
            "GET",
            "/api/v1/usage/events?tenant_id=%00".into(),
            None,
            "tenant_id",
        ),
        (
            &admin,
            "GET",
            "/api/v1/usage/events?cursor=%00".into(),
            None,
            "cursor",
        ),
        (
            &admin,
            "GET",
            "/api/v1/usage/cursors?x%00=1".into(),
            None,
            "query",
        ),
        (
            &admin,
            "PUT",
            "/api/v1/usage/cursors/billing".into(),
            Some(json!({"cursor": "0", "tenant_id": "t\u{0}"})),
            "tenant_id",
        ),
        (
            &admin_a,
            "PUT",
            "/api/v1/usage/cursors/bil%00ling".into(),
            Some(json!({"cursor": "0"})),
            "path",
        ),
        (
            &admin,
            "DELETE",
            "/api/v1/usage/cursors/billing?tenant_id=%00".into(),
            None,
            "tenant_id",
        ),
        (
            &admin_a,
            "POST",
            "/api/v1/usage/webhooks".into(),
            Some(json!({"url": HOOK, "description": "billing\u{0}"})),
            "description",
        ),
        (
            &admin_a,
            "POST",
            "/api/v1/usage/webhooks".into(),
            Some(json!({"url": format!("{HOOK}\u{0}")})),
            "url",
        ),
        (
            &admin,
            "POST",
            "/api/v1/usage/webhooks?tenant_id=%00".into(),
            Some(json!({"url": HOOK})),
            "tenant_id",
        ),
        (
            &admin,
            "GET",
            "/api/v1/usage/webhooks?tenant_id=%00".into(),
            None,
            "tenant_id",
        ),
        (
            &admin,
            "GET",
            "/api/v1/usage/webhooks?cursor=%00".into(),
            None,
            "cursor",
        ),
        (&admin, "GET", "/api/v1/usage/webhooks/%00".into(), None, "path"),
        (
            &admin,
            "DELETE",
            format!("/api/v1/usage/webhooks/{hook}?tenant_id=%00"),
            None,
            "tenant_id",
        ),
        (
            &admin,
            "POST",
            format!("/api/v1/usage/webhooks/{hook}/rotate-secret?tenant_id=a%00"),
            None,
            "tenant_id",
        ),
    ];
    for (key, method, path, body, place) in cases {
        let (status, answer) = h.send(key, method, &path, body).await;
        let what = format!("{method} {path}: {answer}");
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("KW-REQ-002")),
            "{what}"
        );
        let message = answer["error"]["message"].as_str().unwrap();
        assert_eq!(
            message,
            format!("{place}: must not contain NUL (U+0000) characters"),
            "{what}"
        );
    }
    // Nothing was stored on the way.
    let (webhooks, cursors): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM usage_webhooks), (SELECT count(*) FROM usage_export_cursors)",
    )
    .fetch_one(&h.pool)
    .await
    .unwrap();
    assert_eq!((webhooks, cursors), (0, 0));
}

#[tokio::test]
async fn a_value_postgres_cannot_store_is_bad_input_not_an_outage() {
    let h = Harness::start().await;
    // The real error Postgres gives for a NUL in text (SQLSTATE 22021), in
    // case one ever gets past the edge.
    let refused = sqlx::query("SELECT $1::text")
        .bind("a\u{0}b")
        .execute(&h.pool)
        .await
        .unwrap_err();
    let error = keyway_projector::http::UsageError::from(refused);
    assert_eq!(
        (error.status().as_u16(), error.code()),
        (400, "KW-USAGE-001"),
        "{error}"
    );
    assert!(error.to_string().contains("NUL"), "{error}");
    // A real outage stays one.
    let closed = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/none")
        .unwrap();
    let down = sqlx::query("SELECT 1").execute(&closed).await.unwrap_err();
    let error = keyway_projector::http::UsageError::from(down);
    assert_eq!((error.status().as_u16(), error.code()), (503, "KW-DB-001"));
}
