//! The webhook routes: tenant scoping before roles (another tenant's id is
//! 404, members and viewers 403), clear 400s for bad URLs (and, with the
//! production policy, for http and internal addresses), pagination, the
//! per-tenant limit, and deletion.

use std::sync::Arc;

use serde_json::{Value, json};

use super::register;
use crate::{
    keys_api::{call, new_api_key, new_tenant, new_user},
    projector::support::{Harness, kms},
};

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

#[tokio::test]
async fn webhook_routes_scope_by_tenant_refuse_members_and_explain_bad_urls() {
    let h = Harness::start().await;
    let s = &h.stack;
    let admin = s.admin_key.clone();
    let (a, b) = (new_tenant(s, "pro").await, new_tenant(s, "pro").await);
    let (_, admin_a) = new_api_key(s, &a, json!({"name": "adm", "role": "tenant-admin"})).await;
    let (_, admin_b) = new_api_key(s, &b, json!({"name": "adm", "role": "tenant-admin"})).await;
    let member = new_user(s, &a, "member").await;
    let (_, member_a) = new_api_key(s, &a, json!({"name": "m", "user_id": member})).await;
    let viewer = new_user(s, &a, "viewer").await;
    let (_, viewer_a) = new_api_key(s, &a, json!({"name": "v", "user_id": viewer, "role": "viewer"})).await;
    let url = "http://127.0.0.1:9/hooks/usage";

    let created = register(&h, &admin_a, None, url).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["tenant_id"], a.as_str());
    assert_eq!(created["url"], url);
    assert_eq!(
        (
            created["consecutive_failures"].as_i64(),
            &created["last_error"],
            &created["last_delivered_at"]
        ),
        (Some(0), &Value::Null, &Value::Null)
    );
    let one = format!("/api/v1/usage/webhooks/{id}");
    let rotate = format!("{one}/rotate-secret");
    let with_url = Some(json!({"url": url}));

    // Another tenant's webhook is a 404 for every route, before any role check.
    for (method, path) in [("GET", &one), ("DELETE", &one), ("POST", &rotate)] {
        let (status, body) = call(s, &admin_b, method, path, None).await;
        assert_eq!(
            (status, code(&body)),
            (404, Some("KW-USAGE-002")),
            "{method} {path}"
        );
    }
    let other_tenant = format!("/api/v1/usage/webhooks?tenant_id={a}");
    let (status, body) = call(s, &admin_b, "POST", &other_tenant, with_url.clone()).await;
    assert_eq!((status, code(&body)), (404, Some("KW-USAGE-002")));
    for (method, path) in [
        ("GET", &format!("{one}?tenant_id={b}")),
        ("POST", &format!("{rotate}?tenant_id={b}")),
    ] {
        let (status, _) = call(s, &admin, method, path, None).await;
        assert_eq!(
            status, 404,
            "a platform admin naming another tenant: {method} {path}"
        );
    }
    for garbage in [
        "/api/v1/usage/webhooks/nope",
        "/api/v1/usage/webhooks/0190a000-0000-7000-8000-000000000000",
    ] {
        assert_eq!(call(s, &admin, "GET", garbage, None).await.0, 404);
    }
    // Members and viewers of the tenant: 403.
    for key in [&member_a, &viewer_a] {
        for (method, path, body) in [
            ("POST", "/api/v1/usage/webhooks", with_url.clone()),
            ("GET", "/api/v1/usage/webhooks", None),
            ("GET", one.as_str(), None),
            ("POST", rotate.as_str(), None),
            ("DELETE", one.as_str(), None),
        ] {
            let (status, answer) = call(s, key, method, path, body).await;
            assert_eq!(
                (status, code(&answer)),
                (403, Some("KW-AUTH-003")),
                "{method} {path}"
            );
        }
    }

    // Bad bodies and URLs: 400 with the field named.
    for (body, want) in [
        (json!({"url": "ftp://example.com/x"}), "KW-USAGE-004"),
        (json!({"url": "not a url"}), "KW-USAGE-004"),
        (json!({"url": "/relative/path"}), "KW-USAGE-004"),
        (json!({"url": "http://user:pw@127.0.0.1:9/h"}), "KW-USAGE-004"),
        (json!({}), "KW-USAGE-001"),
        (json!({"url": url, "secret": "mine"}), "KW-USAGE-001"),
        (
            json!({"url": url, "description": "x".repeat(501)}),
            "KW-USAGE-001",
        ),
    ] {
        let (status, answer) = call(s, &admin_a, "POST", "/api/v1/usage/webhooks", Some(body.clone())).await;
        assert_eq!((status, code(&answer)), (400, Some(want)), "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("url") || message.starts_with("body") || message.starts_with("description")
        );
    }

    // Platform admins name the tenant; lists are scoped and paginated.
    let of_b = register(&h, &admin, Some(&b), url).await;
    assert_eq!(of_b["tenant_id"], b.as_str());
    assert_eq!(call(s, &admin, "GET", &one, None).await.0, 200);
    register(&h, &admin_a, None, url).await;
    let list = |key: String, query: &'static str| {
        let h = &h;
        async move {
            let (status, body) = call(
                &h.stack,
                &key,
                "GET",
                &format!("/api/v1/usage/webhooks{query}"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert!(
                !body.to_string().contains("whsec_"),
                "a list never shows a secret"
            );
            body
        }
    };
    assert_eq!(
        list(admin_a.clone(), "").await["data"].as_array().unwrap().len(),
        2
    );
    assert_eq!(list(admin.clone(), "").await["data"].as_array().unwrap().len(), 3);
    let first = list(admin_a.clone(), "?limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(first["data"][0]["id"].as_str(), Some(id.as_str()));
    let (_, rest) = call(
        s,
        &admin_a,
        "GET",
        &format!("/api/v1/usage/webhooks?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(
        (rest["data"].as_array().unwrap().len(), &rest["next_cursor"]),
        (1, &Value::Null)
    );

    // A tenant's webhooks are bounded.
    for _ in 2..20 {
        register(&h, &admin_a, None, url).await;
    }
    let (status, body) = call(s, &admin_a, "POST", "/api/v1/usage/webhooks", with_url.clone()).await;
    assert_eq!((status, code(&body)), (409, Some("KW-USAGE-005")), "{body}");

    // Deleting is final.
    assert_eq!(call(s, &admin_a, "DELETE", &one, None).await.0, 204);
    assert_eq!(call(s, &admin_a, "GET", &one, None).await.0, 404);
    assert_eq!(call(s, &admin_a, "DELETE", &one, None).await.0, 404);
    assert_eq!(call(s, &admin_a, "POST", &rotate, None).await.0, 404);
    let wrapped: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_webhooks WHERE id::text = $1")
        .bind(&id)
        .fetch_one(&h.pool)
        .await
        .unwrap();
    assert_eq!(wrapped, 0, "the sealed secret and its wrapped key are gone");
}

#[tokio::test]
async fn in_production_webhook_urls_must_be_https_and_public() {
    let h = Harness::start().await;
    let a = new_tenant(&h.stack, "pro").await;
    // The usage API as `KEYWAY_ENV=prod` configures it, on the same database.
    let settings = keyway_projector::webhooks::WebhookSettings::default();
    assert!(settings.policy.require_https && !settings.policy.allow_private);
    let webhooks = keyway_projector::webhooks::Webhooks::new(kms(&h.stack).await, settings).unwrap();
    let authenticator = Arc::new(keyway_auth::AdminKeyAuthenticator::new(&h.stack.admin_key));
    let app = keyway_projector::http::router(h.pool.clone(), authenticator, webhooks);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    for (url, why) in [
        ("http://example.com/hooks", "https"),
        ("https://127.0.0.1/hooks", "private, loopback or link-local"),
        ("https://localhost/hooks", "private, loopback or link-local"),
        ("https://10.0.0.7/hooks", "private, loopback or link-local"),
        (
            "https://169.254.169.254/latest",
            "private, loopback or link-local",
        ),
        ("https://[::1]/hooks", "private, loopback or link-local"),
    ] {
        let response = h
            .stack
            .http
            .post(format!("{base}/api/v1/usage/webhooks?tenant_id={a}"))
            .bearer_auth(&h.stack.admin_key)
            .json(&json!({"url": url}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            (status, code(&body)),
            (400, Some("KW-USAGE-004")),
            "{url}: {body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{url}: {body}"
        );
    }
}

#[tokio::test]
async fn deleting_a_tenant_shreds_its_webhooks_and_export_cursors_but_keeps_the_others() {
    let h = Harness::start().await;
    let s = &h.stack;
    let admin = s.admin_key.clone();
    let (doomed, kept) = (new_tenant(s, "pro").await, new_tenant(s, "pro").await);
    let url = "http://127.0.0.1:9/hooks/usage";
    register(&h, &admin, Some(&doomed), url).await;
    register(&h, &admin, Some(&kept), url).await;
    // One name in both tenants: shredding goes by tenant, not by name.
    for (name, tenant) in [("billing", &doomed), ("billing", &kept)] {
        sqlx::query("INSERT INTO usage_export_cursors (name, tenant_id, ledger_seq) VALUES ($1, $2, 0)")
            .bind(name)
            .bind(tenant)
            .execute(&h.pool)
            .await
            .unwrap();
    }
    let held = |tenant: String| {
        let pool = h.pool.clone();
        async move {
            let (webhooks, cursors): (i64, i64) = sqlx::query_as(
                "SELECT (SELECT count(*) FROM usage_webhooks WHERE tenant_id = $1),
                        (SELECT count(*) FROM usage_export_cursors WHERE tenant_id = $1)",
            )
            .bind(tenant)
            .fetch_one(&pool)
            .await
            .unwrap();
            (webhooks, cursors)
        }
    };
    assert_eq!(held(doomed.clone()).await, (1, 1));
    let (status, _) = call(s, &admin, "DELETE", &format!("/api/v1/tenants/{doomed}"), None).await;
    assert_eq!(status, 204);
    crate::helpers::eventually("the deleted tenant's webhooks and cursors are gone", || async {
        held(doomed.clone()).await == (0, 0)
    })
    .await;
    assert_eq!(held(kept.clone()).await, (1, 1), "another tenant's are untouched");
}
