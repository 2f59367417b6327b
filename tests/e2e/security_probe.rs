//! Regression tests for the outside security probe (docs/security.md,
//! "Findings of the outside probe"): each failed on the main of 2026-11-30.

use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    helpers::{TestStack, eventually},
    keys_api::{admin, call, chat_status, new_api_key, new_tenant, new_user},
};

fn in_an_hour() -> String {
    (OffsetDateTime::now_utc() + time::Duration::hours(1))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn a_restricted_key_cannot_mint_a_broader_key_and_its_keys_die_with_it() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let user = new_user(&stack, &tenant, "member").await;
    let expiry = in_an_hour();
    let (k_id, k) = new_api_key(
        &stack,
        &tenant,
        json!({"name": "k", "user_id": user, "scopes": ["mock-gpt"], "expires_at": expiry,
               "limits": {"requests_per_minute": 1}}),
    )
    .await;
    let keys = format!("/api/v1/tenants/{tenant}/api-keys");

    // The probe's exact request: nothing said means "as restricted as K".
    let (status, escape) = call(
        &stack,
        &k,
        "POST",
        &keys,
        Some(json!({"name": "escape", "user_id": user})),
    )
    .await;
    assert_eq!(status, 201, "{escape}");
    assert_eq!(escape["scopes"], json!(["mock-gpt"]));
    assert_eq!(escape["expires_at"], json!(expiry));
    assert_eq!(escape["limits"], json!({"requests_per_minute": 1}));
    let derived = escape["key"].as_str().unwrap().to_owned();
    assert_eq!(chat_status(&stack, &derived, "mock-claude").await.0, 404);

    let broader = [
        json!({"name": "s", "user_id": user, "scopes": ["mock-gpt", "mock-claude"]}),
        json!({"name": "e", "user_id": user, "expires_at": "2999-01-01T00:00:00Z"}),
        json!({"name": "l", "user_id": user, "limits": {"requests_per_minute": 2}}),
    ];
    for body in broader {
        let (status, answer) = call(&stack, &k, "POST", &keys, Some(body.clone())).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (403, Some("KW-AUTH-003")),
            "{body}: {answer}"
        );
    }

    // Revoking K revokes what K created.
    assert_eq!(chat_status(&stack, &derived, "mock-gpt").await.0, 200);
    let (status, _) = admin(&stack, "DELETE", &format!("{keys}/{k_id}"), None).await;
    assert_eq!(status, 204);
    let (_, listed) = admin(&stack, "GET", &keys, None).await;
    let revoked = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|key| !key["revoked_at"].is_null());
    assert!(revoked, "every key is revoked: {listed}");
    eventually("the derived key is refused", || async {
        chat_status(&stack, &derived, "mock-gpt").await.0 == 401
    })
    .await;
}

#[tokio::test]
async fn a_limited_admin_key_cannot_loosen_limits_even_its_own() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let (id, key) = new_api_key(
        &stack,
        &tenant,
        json!({"name": "ops", "role": "tenant-admin", "limits": {"tokens_per_minute": 100}}),
    )
    .await;
    let path = format!("/api/v1/tenants/{tenant}/api-keys/{id}/limits");
    let (status, body) = call(&stack, &key, "PUT", &path, Some(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["limits"],
        json!({"tokens_per_minute": 100}),
        "{{}} keeps the caller's own cap"
    );
    let (status, body) = call(
        &stack,
        &key,
        "PUT",
        &path,
        Some(json!({"tokens_per_minute": 101})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(&stack, &key, "PUT", &path, Some(json!({"tokens_per_minute": 50}))).await;
    assert_eq!(
        (status, &body["limits"]),
        (200, &json!({"tokens_per_minute": 50}))
    );
}

#[tokio::test]
async fn lists_of_a_tenant_that_does_not_exist_are_404() {
    let stack = TestStack::spawn().await;
    for path in ["/api/v1/tenants/nope/users", "/api/v1/tenants/nope/api-keys"] {
        let (status, body) = admin(&stack, "GET", path, None).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("KW-ADM-001")),
            "{path}"
        );
    }
}

/// Sends a raw request so bodies and headers can be malformed on purpose.
async fn raw(
    stack: &TestStack,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> (u16, String, Value) {
    let mut request = stack
        .http
        .request(method.parse().unwrap(), stack.url(path))
        .bearer_auth(&stack.admin_key)
        .body(body.to_owned());
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, response.json().await.unwrap_or(Value::Null))
}

/// method, path, content-type, body, expected status, expected code.
type Case<'a> = (&'a str, String, Option<&'a str>, String, u16, &'a str);

#[tokio::test]
async fn every_bad_request_on_api_v1_gets_the_json_envelope() {
    let stack = TestStack::spawn().await;
    let tenant = new_tenant(&stack, "starter").await;
    let json_ct = Some("application/json");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let keys = format!("/api/v1/tenants/{tenant}/api-keys");
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/tenants".into(),
            json_ct,
            "{".into(),
            400,
            "KW-REQ-001",
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            Some("text/plain"),
            "{}".into(),
            415,
            "KW-REQ-006",
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            None,
            "{}".into(),
            415,
            "KW-REQ-006",
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            json_ct,
            r#"{"name":"a","rpm":1}"#.into(),
            400,
            "KW-REQ-002",
        ),
        (
            "POST",
            "/api/v1/tenants".into(),
            json_ct,
            r#"{"name":5}"#.into(),
            400,
            "KW-REQ-002",
        ),
        ("POST", "/api/v1/tenants".into(), json_ct, huge, 413, "KW-REQ-003"),
        (
            "GET",
            "/api/v1/tenants?limit=1&limit=2".into(),
            None,
            String::new(),
            400,
            "KW-REQ-002",
        ),
        (
            "GET",
            "/api/v1/tenants?limit=99999999999999999999999".into(),
            None,
            String::new(),
            400,
            "KW-REQ-002",
        ),
        (
            "PUT",
            "/api/v1/tenants".into(),
            json_ct,
            "{}".into(),
            405,
            "KW-REQ-004",
        ),
        ("PATCH", keys.clone(), json_ct, "{}".into(), 405, "KW-REQ-004"),
        (
            "GET",
            "/api/v1/no-such-route".into(),
            None,
            String::new(),
            404,
            "KW-REQ-004",
        ),
        // NUL characters are the client's mistake, never a database outage.
        (
            "GET",
            format!("/api/v1/tenants/{tenant}/users/%00"),
            None,
            String::new(),
            400,
            "KW-REQ-002",
        ),
        (
            "GET",
            format!("/api/v1/tenants/{tenant}/users?cursor=%00"),
            None,
            String::new(),
            400,
            "KW-REQ-002",
        ),
        (
            "GET",
            "/api/v1/audit/events?tenant_id=%00".into(),
            None,
            String::new(),
            400,
            "KW-REQ-002",
        ),
        (
            "POST",
            format!("/api/v1/tenants/{tenant}/users"),
            json_ct,
            r#"{"email":"a\u0000@b.c"}"#.into(),
            400,
            "KW-REQ-002",
        ),
        (
            "PATCH",
            format!("/api/v1/tenants/{tenant}"),
            json_ct,
            r#"{"external_id":"x\u0000"}"#.into(),
            400,
            "KW-REQ-002",
        ),
        (
            "POST",
            keys,
            json_ct,
            r#"{"name":"k","scopes":["a\u0000"]}"#.into(),
            400,
            "KW-REQ-002",
        ),
        (
            "PUT",
            "/api/v1/byok/keys/openai".into(),
            json_ct,
            r#"{"key":"sk-x","label":"\u0000"}"#.into(),
            400,
            "KW-REQ-002",
        ),
    ];
    for (method, path, ct, body, want_status, want_code) in cases {
        let (status, content_type, answer) = raw(&stack, method, &path, ct, &body).await;
        let what = format!("{method} {path} ({ct:?}) -> {status} {content_type} {answer}");
        assert_eq!(status, want_status, "{what}");
        assert!(content_type.starts_with("application/json"), "{what}");
        assert_eq!(answer["error"]["code"], want_code, "{what}");
        assert!(
            answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
}

/// An answer given before the body was read (a body over the limit)
/// reaches the client, which is still sending that body, rather than a
/// reset, and says the connection closes: hyper closes it, and a pooling
/// client told nothing would send its next request down it. An answer to a
/// body read whole keeps the connection.
#[tokio::test]
async fn an_answer_that_leaves_the_body_unread_closes_the_connection() {
    let stack = TestStack::spawn().await;
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 20));
    let post = |body: String| {
        stack
            .http
            .post(stack.url("/api/v1/tenants"))
            .bearer_auth(&stack.admin_key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let connection = |response: &reqwest::Response| {
        response
            .headers()
            .get("connection")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for _ in 0..5 {
        let response = post(huge.clone()).await.expect("the 413, not a broken pipe");
        assert_eq!(response.status().as_u16(), 413);
        assert_eq!(connection(&response).as_deref(), Some("close"));
        // The client's next request goes through, on a new connection.
        let (status, _) = admin(&stack, "GET", "/api/v1/tenants", None).await;
        assert_eq!(status, 200);
    }
    let response = post(r#"{"name":5}"#.into()).await.unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        connection(&response),
        None,
        "a body read whole keeps the connection"
    );
}

#[tokio::test]
async fn a_mistyped_value_is_not_echoed_back() {
    let stack = TestStack::spawn().await;
    let (status, _, answer) = raw(
        &stack,
        "POST",
        "/api/v1/tenants",
        Some("application/json"),
        r#"{"name": "a", "plan": 5, "limits": {"requests_per_minute": "sk-live-secret"}}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(!answer.to_string().contains("sk-live-secret"), "{answer}");
}

/// Behind the edge check: should a NUL ever reach Postgres, the key service
/// still calls it bad input (400), not a database outage (503).
#[tokio::test]
async fn a_nul_that_reaches_the_database_is_bad_input_not_an_outage() {
    use keyway_keys::{error::KeysError, events::KeyEvent, store};
    use sqlx::Connection;

    let stack = TestStack::spawn().await;
    let url = crate::helpers::pg_url(&stack.isolation.db_name);
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let meta = store::Meta {
        actor: "test".into(),
        request_id: None,
    };
    let event = KeyEvent::TenantCreated {
        tenant_id: "t_nul".into(),
        name: "a\0b".into(),
        plan: "starter".into(),
        external_id: None,
        limits: Default::default(),
        oidc_issuer: None,
    };
    let err = store::append(
        &mut conn,
        &stack.isolation.nats_prefix,
        &meta,
        "tenant-t_nul".into(),
        0,
        "t_nul",
        event,
    )
    .await
    .unwrap_err();
    let err = KeysError::from(err);
    assert_eq!(err.status().as_u16(), 400, "{err:?}");
}
