//! Registered export cursors are named per tenant: no answer may depend on
//! whether another tenant uses a name, and no tenant can take a name away
//! from another.

use serde_json::{Value, json};

use super::support::Harness;
use crate::keys_api::{new_api_key, new_tenant};

async fn key(h: &Harness, tenant: &str, role: &str) -> String {
    new_api_key(&h.stack, tenant, json!({"name": role, "role": role}))
        .await
        .1
}

/// The names in `GET /api/v1/usage/cursors` as `key` sees them, with tenants.
async fn listed(h: &Harness, key: &str) -> Vec<(String, Value)> {
    let (status, body) = h.get(key, "/api/v1/usage/cursors").await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c["tenant_id"].clone()))
        .collect()
}

#[tokio::test]
async fn cursor_names_are_per_tenant_and_another_tenants_name_is_like_a_free_one() {
    let h = Harness::start().await;
    let (a, b) = (
        new_tenant(&h.stack, "pro").await,
        new_tenant(&h.stack, "pro").await,
    );
    let (admin_a, admin_b, viewer_b) = (
        key(&h, &a, "tenant-admin").await,
        key(&h, &b, "tenant-admin").await,
        key(&h, &b, "viewer").await,
    );
    let at_start = json!({"cursor": "0"});
    let (status, body) = h
        .send(
            &admin_a,
            "PUT",
            "/api/v1/usage/cursors/cur-A",
            Some(at_start.clone()),
        )
        .await;
    assert_eq!(
        (status, body["tenant_id"].as_str()),
        (200, Some(a.as_str())),
        "{body}"
    );

    // B's viewer and admin get the same answers for A's name as for a free one.
    for (who, key) in [("viewer", &viewer_b), ("admin", &admin_b)] {
        for (method, body) in [
            ("PUT", Some(json!({"cursor": "0", "tenant_id": b}))),
            ("DELETE", None),
        ] {
            let taken = h
                .send(key, method, "/api/v1/usage/cursors/cur-A", body.clone())
                .await;
            let free = h
                .send(key, method, "/api/v1/usage/cursors/cur-free", body.clone())
                .await;
            let strip = |(status, body): (u16, Value)| (status, body["error"].clone());
            assert_eq!(strip(taken.clone()), strip(free), "{who} {method}: {taken:?}");
            if who == "viewer" {
                assert_eq!(taken.0, 403, "{who} {method}: {taken:?}");
            }
        }
    }
    // B's admin created and deleted its own cursors of both names above.
    // Taking A's name again gives B a cursor of its own; A's is untouched.
    assert!(listed(&h, &admin_b).await.is_empty());
    let (status, body) = h
        .send(
            &admin_b,
            "PUT",
            "/api/v1/usage/cursors/cur-A",
            Some(at_start.clone()),
        )
        .await;
    assert_eq!(
        (status, body["tenant_id"].as_str()),
        (200, Some(b.as_str())),
        "{body}"
    );
    assert_eq!(listed(&h, &admin_b).await, [("cur-A".to_owned(), json!(b))]);
    assert_eq!(listed(&h, &admin_a).await, [("cur-A".to_owned(), json!(a))]);

    // Deleting B's cur-A leaves A's; a second delete finds nothing in B.
    let delete = |key: String| {
        let h = &h;
        async move {
            h.send(&key, "DELETE", "/api/v1/usage/cursors/cur-A", None)
                .await
                .0
        }
    };
    assert_eq!(delete(admin_b.clone()).await, 204);
    assert_eq!(delete(admin_b.clone()).await, 404);
    assert_eq!(listed(&h, &admin_a).await, [("cur-A".to_owned(), json!(a))]);

    // A platform admin's all-tenant cur-A is a third cursor of that name,
    // addressed without tenant_id; A's is addressed with it.
    let admin = h.stack.admin_key.clone();
    let (status, body) = h
        .send(&admin, "PUT", "/api/v1/usage/cursors/cur-A", Some(at_start))
        .await;
    assert_eq!((status, &body["tenant_id"]), (200, &Value::Null), "{body}");
    let all = listed(&h, &admin).await;
    assert!(all.contains(&("cur-A".to_owned(), Value::Null)), "{all:?}");
    assert!(all.contains(&("cur-A".to_owned(), json!(a))), "{all:?}");
    // The list pages by (name, tenant): the two cur-A come one per page.
    let (_, first) = h.get(&admin, "/api/v1/usage/cursors?limit=1").await;
    let next = first["next_cursor"].as_str().unwrap();
    let (_, second) = h
        .get(&admin, &format!("/api/v1/usage/cursors?limit=1&cursor={next}"))
        .await;
    let pages: Vec<&Value> = [&first, &second].map(|p| &p["data"][0]["tenant_id"]).to_vec();
    assert_eq!(pages, [&Value::Null, &json!(a)], "{first} {second}");
    assert_eq!(second["next_cursor"], Value::Null);
    let path = format!("/api/v1/usage/cursors/cur-A?tenant_id={a}");
    assert_eq!(h.send(&admin, "DELETE", &path, None).await.0, 204);
    assert!(listed(&h, &admin_a).await.is_empty());
    assert_eq!(
        h.send(&admin, "DELETE", "/api/v1/usage/cursors/cur-A", None)
            .await
            .0,
        204,
        "the all-tenant cursor"
    );
}
