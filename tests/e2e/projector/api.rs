//! The usage API over the projected data: the CloudEvents export and its
//! cursor, and the summary's tenant and role scoping.

use serde_json::json;

use super::support::{DAY_MS, Harness, WIDE, event, events, export};
use crate::keys_api::{new_api_key, new_tenant, new_user};

#[tokio::test]
async fn the_export_pages_through_every_event_in_ledger_order_and_resumes_from_a_cursor() {
    let h = Harness::start().await;
    let _projector = h.projector(40);
    let (a, b) = (
        new_tenant(&h.stack, "pro").await,
        new_tenant(&h.stack, "pro").await,
    );
    let (_, admin_a) = new_api_key(&h.stack, &a, json!({"name": "billing", "role": "tenant-admin"})).await;
    let published = events(&[a.as_str(), a.as_str(), b.as_str()], 250);
    h.publish(&published).await;
    h.settle(250, 60).await;
    let ledger: Vec<String> =
        sqlx::query_scalar("SELECT event_id::text FROM usage_ledger ORDER BY ledger_seq")
            .fetch_all(&h.pool)
            .await
            .unwrap();
    let (all, end) = export(&h, &h.stack.admin_key, String::new(), 250).await;
    let ids: Vec<&str> = all.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ledger, "every event once, in ledger order");
    let first = &all[0];
    assert_eq!(
        (first["specversion"].as_str(), first["type"].as_str()),
        (Some("1.0"), Some("dev.keyway.usage.v1"))
    );
    assert_eq!(first["source"], "keyway/gateway");
    assert_eq!(first["subject"], first["data"]["tenant_id"]);
    let original = published
        .iter()
        .find(|(e, _)| e.event_id == ids[0])
        .unwrap()
        .0
        .clone();
    assert_eq!(first["data"]["cost_micros"].as_i64(), Some(original.cost_micros));
    assert_eq!(first["data"]["latency_ms"].as_u64(), Some(original.latency_ms));
    assert_eq!(first["data"]["route"], "/v1/chat/completions");
    // Resuming from the cursor after the first page gives exactly the rest,
    // and so does the bare ledger position a consumer saved before cursors
    // were opaque.
    let (_, page) = h.get(&h.stack.admin_key, "/api/v1/usage/events?limit=100").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(page["resume_cursor"].as_str(), Some(cursor.as_str()));
    let (rest, _) = export(&h, &h.stack.admin_key, cursor, 150).await;
    assert_eq!(rest.len(), 150);
    assert_eq!(rest[0]["id"], all[100]["id"]);
    let hundredth: i64 =
        sqlx::query_scalar("SELECT ledger_seq FROM usage_ledger ORDER BY ledger_seq OFFSET 99 LIMIT 1")
            .fetch_one(&h.pool)
            .await
            .unwrap();
    let (legacy, _) = export(&h, &h.stack.admin_key, hundredth.to_string(), 150).await;
    assert_eq!(legacy[0]["id"], all[100]["id"]);
    assert_eq!(legacy.len(), 150);
    // The last page has no successor, and says where to resume.
    let (_, last) = h
        .get(&h.stack.admin_key, &format!("/api/v1/usage/events?cursor={end}"))
        .await;
    assert_eq!(
        (last["events"].as_array().unwrap().len(), &last["next_cursor"]),
        (0, &serde_json::Value::Null)
    );
    assert_eq!(last["resume_cursor"].as_str(), Some(end.as_str()));
    // A tenant admin sees its own tenant only; another tenant is a 404.
    let of_a = published.iter().filter(|(e, _)| e.tenant_id == a).count();
    let (own, _) = export(&h, &admin_a, String::new(), of_a).await;
    assert_eq!(own.len(), of_a);
    assert!(own.iter().all(|e| e["subject"] == a.as_str()));
    let (status, body) = h
        .get(&admin_a, &format!("/api/v1/usage/events?tenant_id={b}"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("KW-USAGE-002"))
    );
    // An event replayed late from a spool (old occurred_at) comes after the cursor.
    let mut late = event(&b, "", "", "mock-gpt");
    late.occurred_at_unix_ms -= 10 * DAY_MS;
    h.publish(&[(late.clone(), late.event_id.clone())]).await;
    h.settle(251, 30).await;
    let (tail, _) = export(&h, &h.stack.admin_key, end.clone(), 1).await;
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0]["id"].as_str(), Some(late.event_id.as_str()));
    let mut tampered = end.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let tenants_cursor = keyway_common::api::cursor::encode("tenants", &a);
    for (bad, code) in [
        ("limit=0".to_owned(), "KW-REQ-002"),
        ("limit=1001".to_owned(), "KW-REQ-002"),
        ("after=3".to_owned(), "KW-REQ-002"),
        ("cursor=abc".to_owned(), "KW-REQ-007"),
        ("cursor=-1".to_owned(), "KW-REQ-007"),
        (format!("cursor={tampered}"), "KW-REQ-007"),
        (format!("cursor={tenants_cursor}"), "KW-REQ-007"),
    ] {
        let (status, body) = h
            .get(&h.stack.admin_key, &format!("/api/v1/usage/events?{bad}"))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some(code)),
            "{bad}: {body}"
        );
    }
}

#[tokio::test]
async fn usage_summary_is_scoped_by_tenant_and_members_see_only_their_own() {
    let h = Harness::start().await;
    let _projector = h.projector(100);
    let s = &h.stack;
    let (a, b) = (new_tenant(s, "pro").await, new_tenant(s, "pro").await);
    let (m1, m2, v) = (
        new_user(s, &a, "member").await,
        new_user(s, &a, "member").await,
        new_user(s, &a, "viewer").await,
    );
    let (k1, key_m1) = new_api_key(s, &a, json!({"name": "m1", "user_id": m1})).await;
    let (k2, key_m2) = new_api_key(s, &a, json!({"name": "m2", "user_id": m2})).await;
    let (_, key_v) = new_api_key(s, &a, json!({"name": "v", "user_id": v, "role": "viewer"})).await;
    let (_, key_admin_a) = new_api_key(s, &a, json!({"name": "adm", "role": "tenant-admin"})).await;
    let (ks, key_service) = new_api_key(s, &a, json!({"name": "svc", "role": "member"})).await;
    let (kb, key_b) = new_api_key(s, &b, json!({"name": "b", "role": "tenant-admin"})).await;
    let mut published = Vec::new();
    for (tenant, user, key, n) in [
        (&a, &m1, &k1, 10),
        (&a, &m2, &k2, 7),
        (&a, &String::new(), &ks, 5),
        (&b, &String::new(), &kb, 4),
    ] {
        for _ in 0..n {
            let e = event(tenant, user, key, "mock-gpt");
            published.push((e.clone(), e.event_id));
        }
    }
    h.publish(&published).await;
    h.settle(26, 30).await;
    let requests = |key: String, query: String| {
        let h = &h;
        async move {
            let (status, body) = h.get(&key, &format!("/api/v1/usage/summary?{WIDE}{query}")).await;
            assert_eq!(status, 200, "{body}");
            body["totals"]["requests"].as_i64().unwrap()
        }
    };
    let admin = h.stack.admin_key.clone();
    assert_eq!(requests(admin.clone(), format!("&tenant_id={a}")).await, 22);
    assert_eq!(requests(admin.clone(), format!("&tenant_id={b}")).await, 4);
    assert_eq!(
        requests(admin.clone(), String::new()).await,
        0,
        "the admin's own tenant is `platform`"
    );
    assert_eq!(requests(key_admin_a.clone(), String::new()).await, 22);
    assert_eq!(requests(key_admin_a.clone(), format!("&tenant_id={a}")).await, 22);
    assert_eq!(
        requests(key_v.clone(), String::new()).await,
        22,
        "viewers read the whole tenant"
    );
    assert_eq!(
        requests(key_m1.clone(), String::new()).await,
        10,
        "members read only their own"
    );
    assert_eq!(requests(key_m2.clone(), String::new()).await, 7);
    assert_eq!(
        requests(key_service.clone(), String::new()).await,
        5,
        "a member service key: its own key"
    );
    assert_eq!(requests(key_b.clone(), String::new()).await, 4);
    let (_, by_user) = h
        .get(&key_m1, &format!("/api/v1/usage/summary?{WIDE}&group_by=user"))
        .await;
    assert_eq!(by_user["rows"].as_array().unwrap().len(), 1);
    assert_eq!(by_user["rows"][0]["key"].as_str(), Some(m1.as_str()));
    let (mine, _) = export(&h, &key_m1, String::new(), 10).await;
    assert!(mine.len() == 10 && mine.iter().all(|e| e["data"]["user_id"] == m1.as_str()));
    for (key, tenant) in [(&key_admin_a, &b), (&key_m1, &b), (&key_b, &a)] {
        let (status, body) = h
            .get(key, &format!("/api/v1/usage/summary?tenant_id={tenant}"))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("KW-USAGE-002")),
            "{body}"
        );
    }
    let (status, body) = h.get("kw_dev_nope_nope", "/api/v1/usage/summary").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("KW-AUTH-002"))
    );
    for (bad, param) in [
        ("group_by=week", "group_by"),
        ("from=2025-02-01&to=2025-01-01", "from"),
        ("to=soon", "to"),
    ] {
        let (status, body) = h.get(&key_admin_a, &format!("/api/v1/usage/summary?{bad}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("KW-USAGE-001")),
            "{body}"
        );
        assert!(
            body["error"]["message"].as_str().unwrap().starts_with(param),
            "{body}"
        );
    }
    let (status, _) = h
        .send(
            &key_m1,
            "PUT",
            "/api/v1/usage/cursors/m1",
            Some(json!({"cursor": "0"})),
        )
        .await;
    assert_eq!(status, 403, "members cannot register export cursors");
}
