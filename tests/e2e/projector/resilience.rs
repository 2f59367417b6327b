//! Failure semantics: an instance killed mid-batch, retention held back by
//! registered export cursors, and poison messages that must not block the
//! stream.

use serde_json::json;

use super::support::{
    Harness, WIDE, aged_events, event, events, expected, export, export_cursor, totals, view_sums, wait_for,
};
use crate::keys_api::{new_api_key, new_tenant};

async fn ledger_rows(h: &Harness) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_ledger")
        .fetch_one(&h.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_projector_killed_mid_batch_double_counts_nothing() {
    let h = Harness::start().await;
    let distinct = events(&["t-a", "t-b"], 20_000);
    h.publish(&distinct).await;
    // Kill three instances at different points of the backlog.
    for progress in [0, 5_000, 10_000] {
        let (instance, _) = h.projector(500);
        wait_for("more committed batches", 60, || async {
            ledger_rows(&h).await > progress
        })
        .await;
        // The nearest in-process analog of SIGKILL: the task stops at
        // whatever await it is in — collecting, inside the transaction, or
        // between the commit and the acks.
        instance.abort();
        assert!(instance.await.unwrap_err().is_cancelled());
    }
    let _survivor = h.projector(500);
    // What the killed instance held unacked is redelivered (at the latest
    // after ack_wait, 30 s) and must not be counted twice.
    h.settle(20_000, 180).await;
    assert_eq!(view_sums(&h.pool, "usage_daily").await, expected(&distinct));
    assert_eq!(view_sums(&h.pool, "usage_monthly").await, expected(&distinct));
}

#[tokio::test]
async fn retention_prunes_only_rows_every_registered_cursor_has_passed() {
    let h = Harness::start().await;
    let _projector = h.projector(7);
    let (a, b) = (
        new_tenant(&h.stack, "pro").await,
        new_tenant(&h.stack, "pro").await,
    );
    let (_, admin_a) = new_api_key(&h.stack, &a, json!({"name": "billing", "role": "tenant-admin"})).await;
    let published = aged_events(&a, &b, 26, 20);
    h.publish(&published).await;
    h.settle(26, 30).await;
    // Cursors may only name positions the export has handed out.
    assert_eq!(
        export(&h, &h.stack.admin_key, String::new(), 26).await.0.len(),
        26
    );
    let old = |tenant: &str| {
        let (pool, tenant) = (h.pool.clone(), tenant.to_owned());
        async move {
            let seqs: Vec<i64> = sqlx::query_scalar(
                "SELECT ledger_seq FROM usage_ledger WHERE tenant_id = $1 AND occurred_at < now() - interval '30 days' ORDER BY ledger_seq",
            )
            .bind(tenant)
            .fetch_all(&pool)
            .await
            .unwrap();
            seqs
        }
    };
    let (old_a, old_b) = (old(&a).await, old(&b).await);
    assert_eq!((old_a.len(), old_b.len()), (10, 10));
    let admin = h.stack.admin_key.clone();
    let put = |key: String, name: &str, body: serde_json::Value| {
        let (h, path) = (&h, format!("/api/v1/usage/cursors/{name}"));
        async move { h.send(&key, "PUT", &path, Some(body)).await }
    };
    // A bare ledger position, as consumers saved them before cursors were
    // opaque, still registers exactly that position.
    let (status, body) = put(
        admin_a.clone(),
        "a-billing",
        json!({"cursor": old_a[4].to_string()}),
    )
    .await;
    assert_eq!(
        (status, body["tenant_id"].as_str()),
        (200, Some(a.as_str())),
        "{body}"
    );
    let (status, _) = put(admin.clone(), "b-slow", json!({"cursor": "0", "tenant_id": b})).await;
    assert_eq!(status, 200);
    let last_old = export_cursor(*old_a.iter().chain(&old_b).max().unwrap());
    let (status, body) = put(admin.clone(), "warehouse", json!({"cursor": last_old})).await;
    assert_eq!(
        (status, &body["tenant_id"]),
        (200, &serde_json::Value::Null),
        "{body}"
    );
    // Scoping first, then the role; cursors never move back or past the export.
    // (Names are per tenant: see cursors::cursor_names_are_per_tenant….)
    assert_eq!(
        put(admin_a.clone(), "x", json!({"cursor": "1", "tenant_id": b}))
            .await
            .0,
        404
    );
    let (status, body) = put(admin_a.clone(), "a-billing", json!({"cursor": "1"})).await;
    assert_eq!(
        (status, body["cursor"].as_str()),
        (200, Some(export_cursor(old_a[4]).as_str()))
    );
    let (status, body) = put(admin.clone(), "far", json!({"cursor": "999999999"})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("KW-USAGE-001"))
    );
    // The retired body field is refused by name, not ignored; a cursor of
    // another list is not an export position.
    for (body, code) in [
        (json!({"after": "1"}), "KW-REQ-002"),
        (json!({"cursor": "not-a-cursor"}), "KW-REQ-007"),
        (
            json!({"cursor": keyway_common::api::cursor::encode_seq("audit-events", 1)}),
            "KW-REQ-007",
        ),
    ] {
        let (status, answer) = put(admin.clone(), "odd", body.clone()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some(code)),
            "{body}: {answer}"
        );
    }
    let summaries = || async {
        let mut all = Vec::new();
        for t in [&a, &b] {
            let path = format!("/api/v1/usage/summary?{WIDE}&tenant_id={t}");
            all.push(totals(&h.get(&h.stack.admin_key, &path).await.1));
        }
        all
    };
    let before = summaries().await;
    assert_eq!(before[0][0] + before[1][0], 26);
    // a-billing has passed A's first 5 old rows; b-slow none of B's.
    assert_eq!(keyway_projector::prune(&h.pool, 30).await.unwrap(), 5);
    assert_eq!(old(&a).await, old_a[5..]);
    assert_eq!(old(&b).await, old_b);
    let (status, _) = put(
        admin.clone(),
        "b-slow",
        json!({"cursor": export_cursor(old_b[2]), "tenant_id": b}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(keyway_projector::prune(&h.pool, 30).await.unwrap(), 3);
    assert_eq!(old(&b).await, old_b[3..]);
    // Unregistering b-slow leaves the all-tenant warehouse cursor, which has
    // passed every old row.
    assert_eq!(
        h.send(
            &admin,
            "DELETE",
            &format!("/api/v1/usage/cursors/b-slow?tenant_id={b}"),
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(keyway_projector::prune(&h.pool, 30).await.unwrap(), 7);
    assert_eq!(old(&a).await, old_a[5..], "a-billing still holds A's rows back");
    assert_eq!(ledger_rows(&h).await, 26 - 15, "recent rows are never pruned");
    assert_eq!(summaries().await, before, "the views are never pruned");
}

#[tokio::test]
async fn a_poison_message_is_dead_lettered_and_the_stream_keeps_flowing() {
    let h = Harness::start().await;
    // Stands in for any event the database itself refuses: it must not block
    // the rest of its batch either.
    sqlx::query("ALTER TABLE usage_ledger ADD CONSTRAINT test_refuses_evil CHECK (model <> 'evil')")
        .execute(&h.pool)
        .await
        .unwrap();
    let _projector = h.projector(10);
    let garbage = b"\x08\xff\xff definitely not protobuf".to_vec();
    h.publish_raw("t-a", garbage.clone(), "poison-1")
        .await
        .await
        .unwrap();
    let mut no_id = event("t-a", "", "", "mock-gpt");
    no_id.event_id = "not-a-uuid".into();
    h.publish(&[(no_id, "poison-2".into())]).await;
    let mut valid = events(&["t-a"], 25);
    let evil = event("t-a", "", "", "evil");
    valid.insert(12, (evil.clone(), evil.event_id.clone()));
    h.publish(&valid).await;
    valid.remove(12);
    h.settle(25, 30).await;
    assert_eq!(view_sums(&h.pool, "usage_daily").await, expected(&valid));
    let dead: Vec<(Option<String>, String, Vec<u8>)> =
        sqlx::query_as("SELECT msg_id, error, payload FROM usage_dead_letters ORDER BY stream_sequence")
            .fetch_all(&h.pool)
            .await
            .unwrap();
    assert_eq!(dead.len(), 3, "{dead:?}");
    let ids: Vec<_> = dead.iter().map(|d| d.0.as_deref()).collect();
    assert_eq!(
        ids,
        [Some("poison-1"), Some("poison-2"), Some(evil.event_id.as_str())]
    );
    assert!(dead[0].1.contains("UsageEvent"), "{dead:?}");
    assert!(dead[1].1.contains("event_id"), "{dead:?}");
    assert!(dead[2].1.contains("refused by the database"), "{dead:?}");
    assert_eq!(dead[0].2, garbage);
}
